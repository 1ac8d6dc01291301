//! The translator: session table, mappings, subscribers and port blocks over caller
//! storage, and in-place translation of TCP, UDP and ICMP packets.
//!
//! # Model
//!
//! - A **subscriber** is an inside address. It always gets the same outside address
//!   (paired pooling, RFC 4787 REQ-2): in port-block mode a fixed function of the
//!   inside address picks it, in deterministic mode RFC 7422 does.
//! - A **mapping** binds an inside endpoint (protocol, address, port or ICMP
//!   identifier) to an outside endpoint, independently of the destination
//!   (endpoint-independent mapping, RFC 4787 REQ-1, RFC 5382 REQ-1, RFC 5508 REQ-2).
//!   It lives as long as one of its sessions does.
//! - A **session** is one (mapping, remote endpoint) pair; it carries the TCP state
//!   and the idle deadline. Inbound filtering (RFC 4787 section 5) looks at the
//!   sessions of a mapping.
//! - Outside ports come from **port blocks** (port-block mode): a subscriber gets a
//!   block on first use and up to `max_blocks`; a block is released when its last
//!   mapping goes. Both produce an [`Event`] the caller drains for compliance logs.
//!
//! # Storage and cost
//!
//! All tables live in the caller's [`Storage`]. Lookups are open addressing
//! (`table` module) over a seeded hash: O(1) expected in both directions. Expiry is
//! lazy: a lookup that finds an expired session removes it, and
//! [`Nat44::handle_timeout`] examines at most `sweep_budget` session slots per call, so
//! no packet ever waits for a full scan. Unlinking a session from its mapping walks
//! that mapping's session list, which the per-subscriber session limit bounds.
//!
//! # Fragments
//!
//! A bounded fragment table ([`FRAG_SLOTS`] datagrams) applies the first fragment's
//! translation to the later fragments of the same datagram (RFC 4787 REQ-14 asks a
//! NAT to handle fragments; the transport checksum is updated incrementally in the
//! first fragment, which is valid for the whole datagram). Later fragments are
//! matched on (source, destination, protocol, identification) for
//! [`FRAG_TIMEOUT`] seconds. A later fragment that arrives before its first
//! fragment, or after the entry was evicted, is **dropped and counted**
//! ([`DropReason::Fragment`]), as are fragmented ICMP errors and fragments that would
//! hairpin. When the table is full, the entry closest to expiry is replaced.
//!
//! # What is not done
//!
//! No ALG (FTP PORT/PASV/EPRT/EPSV are not rewritten). Hairpinning covers TCP and UDP;
//! ICMP queries and errors between two inside hosts are dropped.

use core::net::{Ipv4Addr, SocketAddrV4};
use core::time::Duration;

use crate::checksum::{apply, delta16, delta32, fold, sum, update16, update32};
use crate::config::{Config, Filtering, MAX_BLOCKS, Mode};
use crate::det::{FIRST_PORT, PortRange};
use crate::error::UsageError;
use crate::table::{Index, NIL, Slab, Slot, hash};
use crate::wire::{IcmpType, rd16, rd32, wr16, wr32};

/// Datagrams whose fragments can be in flight at once.
pub const FRAG_SLOTS: usize = 64;
/// Seconds a first fragment's translation is kept for the later fragments (RFC 791
/// section 3.2 suggests a reassembly timer of 15 seconds).
pub const FRAG_TIMEOUT: u32 = 15;

/// One entry of the fragment table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Frag {
    src: u32,
    dst: u32,
    new_addr: u32,
    expires: u32,
    ident: u16,
    proto: u8,
    /// 1: in2out, 2: out2in, 0: free.
    dir: u8,
}

impl Frag {
    const EMPTY: Self = Self {
        src: 0,
        dst: 0,
        new_addr: 0,
        expires: 0,
        ident: 0,
        proto: 0,
        dir: 0,
    };
}

/// Packets per prefetch round of [`Nat44::translate_batch`].
pub const BATCH_CHUNK: usize = 32;

const TCP: u8 = 6;
const UDP: u8 = 17;
const ICMP: u8 = 1;

/// TCP tracking bits of a session.
mod tcp {
    /// A non-RST packet went out (in2out).
    pub(super) const OUT: u8 = 0x01;
    /// A non-RST packet came in (out2in).
    pub(super) const IN: u8 = 0x02;
    /// FIN went out.
    pub(super) const FIN_OUT: u8 = 0x04;
    /// FIN came in.
    pub(super) const FIN_IN: u8 = 0x08;
    /// RST seen in either direction.
    pub(super) const RST: u8 = 0x10;
}

/// One session: 32 bytes, aligned to 32 so that no entry straddles two cache lines
/// (the budget is 64; checked at compile time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C, align(32))]
pub struct Session {
    in_addr: u32,
    out_addr: u32,
    rem_addr: u32,
    in_port: u16,
    out_port: u16,
    rem_port: u16,
    proto: u8,
    tcp: u8,
    /// Idle deadline, seconds since the caller's epoch.
    expires: u32,
    mapping: u32,
    /// Next session of the same mapping, or the free list.
    next: u32,
}

const _: () = assert!(core::mem::size_of::<Session>() == 32);

impl Session {
    /// An unused entry, for initialising caller storage.
    pub const EMPTY: Self = Self {
        in_addr: 0,
        out_addr: 0,
        rem_addr: 0,
        in_port: 0,
        out_port: 0,
        rem_port: 0,
        proto: 0,
        tcp: 0,
        expires: 0,
        mapping: NIL,
        next: NIL,
    };
}

impl Session {
    /// The inside address (what out2in translates the destination to), for a
    /// caller's own look-ahead ([`Nat44::ahead_session`]).
    #[must_use]
    pub const fn inside_addr(&self) -> u32 {
        self.in_addr
    }
}

impl Default for Session {
    fn default() -> Self {
        Self::EMPTY
    }
}

impl Slot for Session {
    const EMPTY: Self = Self::EMPTY;
    fn in_use(&self) -> bool {
        self.proto != 0
    }
    fn link(&self) -> u32 {
        self.next
    }
    fn set_link(&mut self, next: u32) {
        self.next = next;
    }
}

/// One endpoint-independent mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mapping {
    in_addr: u32,
    out_addr: u32,
    in_port: u16,
    out_port: u16,
    proto: u8,
    subscriber: u32,
    sessions: u32,
    /// First session, or the free list.
    head: u32,
}

impl Mapping {
    /// An unused entry, for initialising caller storage.
    pub const EMPTY: Self = Self {
        in_addr: 0,
        out_addr: 0,
        in_port: 0,
        out_port: 0,
        proto: 0,
        subscriber: NIL,
        sessions: 0,
        head: NIL,
    };
}

impl Default for Mapping {
    fn default() -> Self {
        Self::EMPTY
    }
}

impl Slot for Mapping {
    const EMPTY: Self = Self::EMPTY;
    fn in_use(&self) -> bool {
        self.proto != 0
    }
    fn link(&self) -> u32 {
        self.head
    }
    fn set_link(&mut self, next: u32) {
        self.head = next;
    }
}

/// One subscriber (inside address) with its port blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subscriber {
    in_addr: u32,
    out_addr: u32,
    sessions: u32,
    live: bool,
    n_blocks: u8,
    /// First port of each block.
    blocks: [u16; MAX_BLOCKS],
    /// Mappings per block and protocol (TCP, UDP, ICMP).
    counts: [[u16; 3]; MAX_BLOCKS],
    link: u32,
}

impl Subscriber {
    /// An unused entry, for initialising caller storage.
    pub const EMPTY: Self = Self {
        in_addr: 0,
        out_addr: 0,
        sessions: 0,
        live: false,
        n_blocks: 0,
        blocks: [0; MAX_BLOCKS],
        counts: [[0; 3]; MAX_BLOCKS],
        link: NIL,
    };
}

impl Default for Subscriber {
    fn default() -> Self {
        Self::EMPTY
    }
}

impl Slot for Subscriber {
    const EMPTY: Self = Self::EMPTY;
    fn in_use(&self) -> bool {
        self.live
    }
    fn link(&self) -> u32 {
        self.link
    }
    fn set_link(&mut self, next: u32) {
        self.link = next;
    }
}

/// A port block allocation or release, for the compliance log (the fields of the
/// RFC 8158 NAT event "NAT44 BIB/port block" records).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockEvent {
    /// The inside address.
    pub subscriber: Ipv4Addr,
    /// The outside address.
    pub outside: Ipv4Addr,
    /// The block's ports.
    pub ports: PortRange,
    /// When (the `now` of the call that caused it).
    pub at: Duration,
}

/// Compliance events the caller drains with [`Nat44::poll_event`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A port block was allocated to a subscriber.
    BlockAllocated(BlockEvent),
    /// A port block was released (its last mapping expired).
    BlockReleased(BlockEvent),
}

/// Why a packet was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DropReason {
    /// Not a well-formed IPv4 TCP/UDP/ICMP datagram.
    Malformed,
    /// The IPv4 header checksum does not verify.
    BadChecksum,
    /// A fragment (dropped by design, see the module docs).
    Fragment,
    /// Another protocol or ICMP type, or an unsupported hairpin.
    Unsupported,
    /// Inbound packet without a mapping or session (RFC 4787 section 5).
    NoMapping,
    /// Inbound packet refused by address-dependent filtering (RFC 4787 REQ-8).
    Filtered,
    /// The subscriber holds `max_sessions_per_subscriber` sessions.
    SessionLimit,
    /// No free outside port (blocks exhausted or `max_blocks` reached).
    PortsExhausted,
    /// A caller-sized table is full.
    TableFull,
    /// A block would be allocated but the event queue is full: drain it
    /// (fail closed: no unlogged allocation).
    LogBackpressure,
    /// The inside address is not a subscriber of the deterministic range.
    NotSubscriber,
}

impl DropReason {
    /// Number of variants, for per-reason counters.
    pub const COUNT: usize = 11;

    /// A dense index `< COUNT`.
    #[must_use]
    pub const fn index(self) -> usize {
        self as usize
    }
}

/// What to do with a translated packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum Verdict {
    /// Translated in place; send it on in the direction it was going.
    Forward,
    /// Translated in place twice (hairpinning, RFC 4787 REQ-9): send it back to the
    /// inside.
    Hairpin,
    /// Dropped; the packet bytes are unchanged.
    Drop(DropReason),
}

/// Packet direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// From the subscriber side to the internet.
    InToOut,
    /// From the internet to the subscriber side.
    OutToIn,
}

/// Counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    /// Packets translated inside to outside.
    pub in2out: u64,
    /// Packets translated outside to inside.
    pub out2in: u64,
    /// Packets hairpinned.
    pub hairpin: u64,
    /// ICMP errors translated (both directions).
    pub icmp_errors: u64,
    /// Drops per [`DropReason::index`].
    pub drops: [u64; DropReason::COUNT],
    /// Sessions created.
    pub sessions_created: u64,
    /// Sessions removed (expired).
    pub sessions_removed: u64,
    /// Blocks allocated.
    pub blocks_allocated: u64,
    /// Blocks released.
    pub blocks_released: u64,
    /// Release events lost because the queue was full.
    pub events_dropped: u64,
    /// Later fragments translated through the fragment table.
    pub fragments: u64,
    /// Fragment table entries replaced before they expired (table full).
    pub fragments_evicted: u64,
}

/// Caller-provided storage. Every index must have a power-of-two length larger than
/// the keys it holds: `session_index` two per session, `mapping_index` two per
/// mapping, `subscriber_index` one per subscriber. [`Storage::index_len`] gives a
/// length at load one half.
#[derive(Debug)]
pub struct Storage<'a> {
    /// Session entries (32 bytes each).
    pub sessions: &'a mut [Session],
    /// Session index (in2out and out2in keys).
    pub session_index: &'a mut [u64],
    /// Mapping entries.
    pub mappings: &'a mut [Mapping],
    /// Mapping index (inside and outside endpoint keys).
    pub mapping_index: &'a mut [u64],
    /// Subscriber entries.
    pub subscribers: &'a mut [Subscriber],
    /// Subscriber index.
    pub subscriber_index: &'a mut [u64],
    /// Block bitmap, [`Config::bitmap_words`] words (empty in deterministic mode).
    pub block_bitmap: &'a mut [u64],
    /// Event queue.
    pub events: &'a mut [Option<Event>],
}

impl Storage<'_> {
    /// Index length for `entries` entries with `keys` keys each at load <= 1/2.
    #[must_use]
    pub const fn index_len(entries: usize, keys: usize) -> usize {
        (entries.saturating_mul(keys).saturating_mul(2)).next_power_of_two()
    }
}

/// A parsed packet's flow, with the offsets the rewrite needs.
#[derive(Debug, Clone, Copy)]
struct Flow {
    proto: u8,
    src: u32,
    dst: u32,
    /// Source port; for ICMP queries the identifier on requests, 0 on replies.
    sport: u16,
    /// Destination port; for ICMP queries 0 on requests, the identifier on replies.
    dport: u16,
    l4: usize,
    end: usize,
    tcp_flags: u8,
    kind: Kind,
    ident: u16,
    /// A first fragment (MF set, offset zero).
    first_frag: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Transport,
    IcmpRequest,
    IcmpReply,
    IcmpError,
    /// A fragment with a non-zero offset: addresses only.
    LaterFragment,
}

/// Parses the IPv4 and transport headers (RFC 791 section 3.1, RFC 793 section 3.1,
/// RFC 768, RFC 792). No checksum is checked here.
#[allow(
    clippy::inline_always,
    reason = "hot path: the Flow stays in the caller's frame"
)]
#[inline(always)]
fn parse_flow(pkt: &[u8]) -> Result<Flow, DropReason> {
    let m = DropReason::Malformed;
    let vi = *pkt.first().ok_or(m)?;
    let ihl = usize::from(vi & 0x0f) * 4;
    let end = usize::from(rd16(pkt, 2).ok_or(m)?);
    if vi >> 4 != 4 || ihl < 20 || end < ihl || end > pkt.len() {
        return Err(m);
    }
    let frag = rd16(pkt, 6).ok_or(m)? & 0x3fff;
    let proto = *pkt.get(9).ok_or(m)?;
    let src = rd32(pkt, 12).ok_or(m)?;
    let dst = rd32(pkt, 16).ok_or(m)?;
    let l4 = ihl;
    let l4len = end - l4;
    let mut f = Flow {
        proto,
        src,
        dst,
        sport: 0,
        dport: 0,
        l4,
        end,
        tcp_flags: 0,
        kind: Kind::Transport,
        ident: rd16(pkt, 4).ok_or(m)?,
        first_frag: frag != 0,
    };
    if frag & 0x1fff != 0 {
        f.first_frag = false;
        f.kind = Kind::LaterFragment;
        return if matches!(proto, TCP | UDP | ICMP) {
            Ok(f)
        } else {
            Err(DropReason::Unsupported)
        };
    }
    match proto {
        TCP => {
            let off = usize::from(pkt.get(l4 + 12).ok_or(m)? >> 4) * 4;
            if l4len < 20 || off < 20 || off > l4len {
                return Err(m);
            }
            f.sport = rd16(pkt, l4).ok_or(m)?;
            f.dport = rd16(pkt, l4 + 2).ok_or(m)?;
            f.tcp_flags = *pkt.get(l4 + 13).ok_or(m)?;
        }
        UDP => {
            let ulen = usize::from(rd16(pkt, l4 + 4).ok_or(m)?);
            // A first fragment carries only part of the datagram UDP Length covers.
            if l4len < 8 || ulen < 8 || (ulen > l4len && !f.first_frag) {
                return Err(m);
            }
            f.sport = rd16(pkt, l4).ok_or(m)?;
            f.dport = rd16(pkt, l4 + 2).ok_or(m)?;
        }
        ICMP => {
            if l4len < 8 {
                return Err(m);
            }
            let ty = IcmpType(*pkt.get(l4).ok_or(m)?);
            let id = rd16(pkt, l4 + 4).ok_or(m)?;
            match ty.query_request() {
                Some(true) => {
                    f.kind = Kind::IcmpRequest;
                    f.sport = id;
                }
                Some(false) => {
                    f.kind = Kind::IcmpReply;
                    f.dport = id;
                }
                None if ty.is_error() && f.first_frag => return Err(DropReason::Fragment),
                None if ty.is_error() => f.kind = Kind::IcmpError,
                None => return Err(DropReason::Unsupported),
            }
        }
        _ => return Err(DropReason::Unsupported),
    }
    Ok(f)
}

/// The flow of the common packet, read through one fixed-size view: IPv4 without
/// options (IHL 5, RFC 791 section 3.1), not a fragment (MF clear, offset zero), UDP
/// (RFC 768) or TCP (RFC 793 section 3.1) whose lengths [`parse_flow`] accepts. `None`
/// for anything else, which [`parse_flow`] then handles; for the packets it accepts
/// the result equals [`parse_flow`]'s.
#[allow(
    clippy::inline_always,
    reason = "hot path: the Flow stays in the caller's frame"
)]
#[inline(always)]
fn fast_flow(pkt: &[u8]) -> Option<Flow> {
    let h = pkt.first_chunk::<28>()?;
    let end = usize::from(u16::from_be_bytes([h[2], h[3]]));
    // version 4, IHL 5; the fragment field (offset and MF) zero
    if h[0] != 0x45 || end > pkt.len() || (h[6] & 0x3f) | h[7] != 0 {
        return None;
    }
    let l4len = end.checked_sub(20)?;
    let proto = h[9];
    let tcp_flags = match proto {
        UDP => {
            let ulen = usize::from(u16::from_be_bytes([h[24], h[25]]));
            if l4len < 8 || ulen < 8 || ulen > l4len {
                return None;
            }
            0
        }
        TCP => {
            let t = pkt.get(20..)?.first_chunk::<20>()?;
            let off = usize::from(t[12] >> 4) * 4;
            if l4len < 20 || off < 20 || off > l4len {
                return None;
            }
            t[13]
        }
        _ => return None,
    };
    Some(Flow {
        proto,
        src: u32::from_be_bytes([h[12], h[13], h[14], h[15]]),
        dst: u32::from_be_bytes([h[16], h[17], h[18], h[19]]),
        sport: u16::from_be_bytes([h[20], h[21]]),
        dport: u16::from_be_bytes([h[22], h[23]]),
        l4: 20,
        end,
        tcp_flags,
        kind: Kind::Transport,
        ident: u16::from_be_bytes([h[4], h[5]]),
        first_frag: false,
    })
}

/// Rewrites the source (`src_side`) or destination endpoint of a parsed packet and
/// updates the IPv4, TCP, UDP or ICMP checksum incrementally (RFC 1624 equation 3;
/// RFC 768: a UDP checksum of zero stays zero, a computed zero is sent as all ones).
#[allow(
    clippy::inline_always,
    reason = "hot path: the Flow stays in the caller's frame"
)]
#[inline(always)]
fn rewrite(pkt: &mut [u8], f: &Flow, src_side: bool, addr: u32, port: u16) {
    let (aoff, old_a, old_p, poff) = if src_side {
        (12, f.src, f.sport, f.l4)
    } else {
        (16, f.dst, f.dport, f.l4 + 2)
    };
    // The address terms are shared by the IPv4 and the pseudo-header checksums; the
    // port terms join them in the transport checksum, folded once.
    let da = delta32(old_a, addr);
    let ipc = rd16(pkt, 10).unwrap_or(0);
    wr16(pkt, 10, apply(ipc, da));
    wr32(pkt, aoff, addr);
    match f.proto {
        TCP => {
            let c = rd16(pkt, f.l4 + 16).unwrap_or(0);
            wr16(pkt, f.l4 + 16, apply(c, da + delta16(old_p, port)));
            wr16(pkt, poff, port);
        }
        UDP => {
            let c = rd16(pkt, f.l4 + 6).unwrap_or(0);
            if c != 0 {
                let n = apply(c, da + delta16(old_p, port));
                wr16(pkt, f.l4 + 6, if n == 0 { 0xffff } else { n });
            }
            wr16(pkt, poff, port);
        }
        _ => {
            // ICMP query: only the identifier is part of the checksum (RFC 792;
            // RFC 5508 section 3.1 translates the identifier like a port).
            let c = rd16(pkt, f.l4 + 2).unwrap_or(0);
            wr16(pkt, f.l4 + 2, update16(c, old_p, port));
            wr16(pkt, f.l4 + 4, port);
        }
    }
}

#[inline]
const fn proto_slot(proto: u8) -> usize {
    match proto {
        TCP => 0,
        UDP => 1,
        _ => 2,
    }
}

#[inline]
fn secs(now: Duration) -> u32 {
    u32::try_from(now.as_secs()).unwrap_or(u32::MAX)
}

/// The NAT44 translator over caller storage (sans-IO: the caller passes `now`,
/// feeds packets, calls [`Nat44::handle_timeout`] at [`Nat44::poll_timeout`], and
/// drains [`Nat44::poll_event`]).
#[derive(Debug)]
pub struct Nat44<'a> {
    cfg: Config,
    pool_first: u32,
    pool_len: u32,
    block_len: u16,
    max_blocks: u8,
    blocks_per_addr: u32,
    sessions: Slab<'a, Session>,
    sidx: Index<'a>,
    mappings: Slab<'a, Mapping>,
    midx: Index<'a>,
    subs: Slab<'a, Subscriber>,
    subidx: Index<'a>,
    bitmap: &'a mut [u64],
    block_cursor: u32,
    events: &'a mut [Option<Event>],
    ev_head: usize,
    ev_len: usize,
    sweep_cursor: u32,
    next_sweep: Duration,
    frags: [Frag; FRAG_SLOTS],
    stats: Stats,
}

impl<'a> Nat44<'a> {
    /// Validates `cfg` and the storage sizes, clears the storage, and builds the
    /// translator.
    ///
    /// # Errors
    /// [`UsageError::InvalidConfig`] for a bad configuration (see
    /// [`Config::validate`]), an index whose length is not a power of two larger than
    /// the keys it must hold, a short block bitmap, or an empty event queue in
    /// port-block mode.
    pub fn new(cfg: Config, st: Storage<'a>) -> Result<Self, UsageError> {
        cfg.validate()?;
        let Storage {
            sessions,
            session_index,
            mappings,
            mapping_index,
            subscribers,
            subscriber_index,
            block_bitmap,
            events,
        } = st;
        let bad = UsageError::InvalidConfig;
        let (pool_first, pool_len) = cfg.pool();
        let (block_len, max_blocks) = match cfg.mode {
            Mode::PortBlock(p) => (p.block_size, p.max_blocks),
            Mode::Deterministic(d) => (d.ports_per_subscriber(), 1),
        };
        if session_index.len() <= sessions.len().saturating_mul(2)
            || mapping_index.len() <= mappings.len().saturating_mul(2)
            || subscriber_index.len() <= subscribers.len()
        {
            return Err(bad("an index is not larger than the keys it must hold"));
        }
        if block_bitmap.len() < cfg.bitmap_words() {
            return Err(bad("block bitmap shorter than Config::bitmap_words()"));
        }
        if matches!(cfg.mode, Mode::PortBlock(_)) && events.is_empty() {
            return Err(bad("port-block mode needs an event queue"));
        }
        let idx = |s| Index::new(s).ok_or(bad("index length is not a power of two"));
        let slab_err = bad("more than 2^32 - 1 entries");
        block_bitmap.fill(0);
        events.fill(None);
        Ok(Self {
            pool_first: u32::from(pool_first),
            pool_len,
            block_len,
            max_blocks,
            blocks_per_addr: cfg.blocks_per_address(),
            sessions: Slab::new(sessions).ok_or(slab_err)?,
            sidx: idx(session_index)?,
            mappings: Slab::new(mappings).ok_or(slab_err)?,
            midx: idx(mapping_index)?,
            subs: Slab::new(subscribers).ok_or(slab_err)?,
            subidx: idx(subscriber_index)?,
            bitmap: block_bitmap,
            block_cursor: 0,
            events,
            ev_head: 0,
            ev_len: 0,
            sweep_cursor: 0,
            next_sweep: Duration::ZERO,
            frags: [Frag::EMPTY; FRAG_SLOTS],
            stats: Stats::default(),
            cfg,
        })
    }

    /// The configuration.
    #[must_use]
    pub const fn config(&self) -> &Config {
        &self.cfg
    }

    /// Counters.
    #[must_use]
    pub const fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Sessions in the table (including expired ones not yet swept).
    #[must_use]
    pub const fn session_count(&self) -> u32 {
        self.sessions.used
    }

    /// Mappings in the table.
    #[must_use]
    pub const fn mapping_count(&self) -> u32 {
        self.mappings.used
    }

    /// Subscribers holding at least one block.
    #[must_use]
    pub const fn subscriber_count(&self) -> u32 {
        self.subs.used
    }

    /// Capacity of the session index (for sizing reports).
    #[must_use]
    pub const fn session_index_len(&self) -> usize {
        self.sidx.capacity()
    }

    // ---- hashing ------------------------------------------------------------

    #[inline(always)]
    #[allow(
        clippy::inline_always,
        reason = "hot path: inlined into the caller's per-packet loop"
    )]
    fn h_sess(&self, dir: u64, proto: u8, a: u32, p: u16, ra: u32, rp: u16) -> u64 {
        let lo = (u64::from(a) << 32) | u64::from(ra);
        let hi = (u64::from(p) << 32) | (u64::from(rp) << 16) | (u64::from(proto) << 8) | dir;
        hash(self.cfg.hash_seed, lo, hi)
    }

    fn h_map(&self, dir: u64, proto: u8, a: u32, p: u16) -> u64 {
        let hi = (u64::from(p) << 16) | (u64::from(proto) << 8) | dir;
        hash(self.cfg.hash_seed, u64::from(a), hi)
    }

    fn h_sub(&self, a: u32) -> u64 {
        hash(self.cfg.hash_seed, u64::from(a), 5)
    }

    #[inline(always)]
    #[allow(
        clippy::inline_always,
        reason = "hot path: inlined into the caller's per-packet loop"
    )]
    fn find_session_in(&self, proto: u8, a: u32, p: u16, ra: u32, rp: u16) -> Option<u32> {
        let h = self.h_sess(1, proto, a, p, ra, rp);
        let s = &self.sessions;
        self.sidx.find(
            h,
            #[inline(always)]
            |i| {
                s.get(i).is_some_and(
                    #[inline(always)]
                    |e| {
                        e.proto == proto
                            && e.in_addr == a
                            && e.in_port == p
                            && e.rem_addr == ra
                            && e.rem_port == rp
                    },
                )
            },
        )
    }

    #[inline(always)]
    #[allow(
        clippy::inline_always,
        reason = "hot path: inlined into the caller's per-packet loop"
    )]
    fn find_session_out(&self, proto: u8, a: u32, p: u16, ra: u32, rp: u16) -> Option<u32> {
        let h = self.h_sess(2, proto, a, p, ra, rp);
        let s = &self.sessions;
        self.sidx.find(
            h,
            #[inline(always)]
            |i| {
                s.get(i).is_some_and(
                    #[inline(always)]
                    |e| {
                        e.proto == proto
                            && e.out_addr == a
                            && e.out_port == p
                            && e.rem_addr == ra
                            && e.rem_port == rp
                    },
                )
            },
        )
    }

    fn find_mapping_in(&self, proto: u8, a: u32, p: u16) -> Option<u32> {
        let h = self.h_map(3, proto, a, p);
        let m = &self.mappings;
        self.midx.find(h, |i| {
            m.get(i)
                .is_some_and(|e| e.proto == proto && e.in_addr == a && e.in_port == p)
        })
    }

    fn find_mapping_out(&self, proto: u8, a: u32, p: u16) -> Option<u32> {
        let h = self.h_map(4, proto, a, p);
        let m = &self.mappings;
        self.midx.find(h, |i| {
            m.get(i)
                .is_some_and(|e| e.proto == proto && e.out_addr == a && e.out_port == p)
        })
    }

    fn find_sub(&self, a: u32) -> Option<u32> {
        let h = self.h_sub(a);
        let s = &self.subs;
        self.subidx
            .find(h, |i| s.get(i).is_some_and(|e| e.live && e.in_addr == a))
    }

    // ---- public lookups -------------------------------------------------------

    /// The live outside endpoint of an inside endpoint (`proto` 6, 17 or 1 with the
    /// ICMP identifier as port), if it has a mapping.
    #[must_use]
    pub fn outside_of(&self, proto: u8, inside: SocketAddrV4) -> Option<SocketAddrV4> {
        let m = self.find_mapping_in(proto, u32::from(*inside.ip()), inside.port())?;
        let e = self.mappings.get(m)?;
        Some(SocketAddrV4::new(Ipv4Addr::from(e.out_addr), e.out_port))
    }

    /// The inside endpoint that holds an outside endpoint now (the live half of the
    /// compliance question; the block events answer it for the past).
    #[must_use]
    pub fn inside_of(&self, proto: u8, outside: SocketAddrV4) -> Option<SocketAddrV4> {
        let m = self.find_mapping_out(proto, u32::from(*outside.ip()), outside.port())?;
        let e = self.mappings.get(m)?;
        Some(SocketAddrV4::new(Ipv4Addr::from(e.in_addr), e.in_port))
    }

    /// The blocks a subscriber holds now, written to `out`; returns how many.
    pub fn blocks_of(&self, inside: Ipv4Addr, out: &mut [PortRange]) -> usize {
        let Some(s) = self
            .find_sub(u32::from(inside))
            .and_then(|i| self.subs.get(i))
        else {
            return 0;
        };
        let mut n = 0;
        for (&first, o) in s
            .blocks
            .iter()
            .take(usize::from(s.n_blocks))
            .zip(out.iter_mut())
        {
            *o = self.range(first);
            n += 1;
        }
        n
    }

    fn range(&self, first: u16) -> PortRange {
        PortRange {
            first,
            last: first.saturating_add(self.block_len.saturating_sub(1)),
        }
    }

    #[inline(always)]
    #[allow(
        clippy::inline_always,
        reason = "hot path: inlined into the caller's per-packet loop"
    )]
    fn in_pool(&self, a: u32) -> bool {
        a.wrapping_sub(self.pool_first) < self.pool_len
    }

    // ---- events and timers ----------------------------------------------------

    /// The next compliance event, oldest first.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        if self.ev_len == 0 {
            return None;
        }
        let e = self.events.get_mut(self.ev_head).and_then(Option::take);
        self.ev_head = (self.ev_head + 1) % self.events.len().max(1);
        self.ev_len -= 1;
        e
    }

    fn event_room(&self) -> bool {
        self.ev_len < self.events.len()
    }

    fn push_event(&mut self, e: Event) -> bool {
        if !self.event_room() {
            self.stats.events_dropped += 1;
            return false;
        }
        let at = (self.ev_head + self.ev_len) % self.events.len().max(1);
        if let Some(slot) = self.events.get_mut(at) {
            *slot = Some(e);
            self.ev_len += 1;
        }
        true
    }

    /// When [`Nat44::handle_timeout`] wants to run next (`None` with no sessions).
    #[must_use]
    pub const fn poll_timeout(&self) -> Option<Duration> {
        if self.sessions.used == 0 {
            None
        } else {
            Some(self.next_sweep)
        }
    }

    /// Lazy sweep: examines up to `sweep_budget` session slots from a rotating
    /// cursor and removes the expired ones (releasing mappings and blocks).
    pub fn handle_timeout(&mut self, now: Duration) {
        let t = secs(now);
        let hw = self.sessions.high_water();
        if hw > 0 {
            for _ in 0..self.cfg.sweep_budget.min(hw) {
                let i = self.sweep_cursor % hw;
                self.sweep_cursor = (i + 1) % hw;
                if self
                    .sessions
                    .get(i)
                    .is_some_and(|s| s.in_use() && s.expires <= t)
                {
                    self.remove_session(i, now);
                }
            }
        }
        self.next_sweep = now.saturating_add(self.cfg.sweep_interval);
    }

    // ---- removal --------------------------------------------------------------

    fn remove_session(&mut self, idx: u32, now: Duration) {
        let Some(&s) = self.sessions.get(idx) else {
            return;
        };
        if !s.in_use() {
            return;
        }
        let h1 = self.h_sess(1, s.proto, s.in_addr, s.in_port, s.rem_addr, s.rem_port);
        let h2 = self.h_sess(2, s.proto, s.out_addr, s.out_port, s.rem_addr, s.rem_port);
        self.sidx.remove(h1, idx);
        self.sidx.remove(h2, idx);
        // Unlink from the mapping's list (bounded by the per-subscriber limit).
        let m_idx = s.mapping;
        let mut remaining = 0;
        let mut sub_idx = NIL;
        if let Some(m) = self.mappings.get(m_idx).copied() {
            let mut prev = NIL;
            let mut cur = m.head;
            let mut guard = self.sessions.items.len();
            while cur != NIL && cur != idx && guard > 0 {
                prev = cur;
                cur = self.sessions.get(cur).map_or(NIL, |e| e.next);
                guard -= 1;
            }
            if cur == idx {
                if prev == NIL {
                    if let Some(mm) = self.mappings.get_mut(m_idx) {
                        mm.head = s.next;
                    }
                } else if let Some(p) = self.sessions.get_mut(prev) {
                    p.next = s.next;
                }
            }
            if let Some(mm) = self.mappings.get_mut(m_idx) {
                mm.sessions = mm.sessions.saturating_sub(1);
                remaining = mm.sessions;
            }
            sub_idx = m.subscriber;
        }
        if let Some(sub) = self.subs.get_mut(sub_idx) {
            sub.sessions = sub.sessions.saturating_sub(1);
        }
        self.sessions.free(idx);
        self.stats.sessions_removed += 1;
        if remaining == 0 {
            self.remove_mapping(m_idx, now);
        }
    }

    fn remove_mapping(&mut self, m_idx: u32, now: Duration) {
        let Some(&m) = self.mappings.get(m_idx) else {
            return;
        };
        if !m.in_use() {
            return;
        }
        let h3 = self.h_map(3, m.proto, m.in_addr, m.in_port);
        let h4 = self.h_map(4, m.proto, m.out_addr, m.out_port);
        self.midx.remove(h3, m_idx);
        self.midx.remove(h4, m_idx);
        self.mappings.free(m_idx);
        let block_len = self.block_len;
        let Some(sub) = self.subs.get_mut(m.subscriber) else {
            return;
        };
        let n = usize::from(sub.n_blocks).min(MAX_BLOCKS);
        let Some(b) = sub
            .blocks
            .iter()
            .take(n)
            .position(|&f| m.out_port >= f && m.out_port - f < block_len)
        else {
            return;
        };
        let mut empty = false;
        if let Some(c) = sub.counts.get_mut(b) {
            if let Some(x) = c.get_mut(proto_slot(m.proto)) {
                *x = x.saturating_sub(1);
            }
            empty = c.iter().all(|&x| x == 0);
        }
        if !empty {
            return;
        }
        let first = sub.blocks.get(b).copied().unwrap_or(0);
        let last = n - 1;
        sub.blocks.swap(b, last);
        sub.counts.swap(b, last);
        sub.n_blocks -= 1;
        let (in_addr, out_addr, no_blocks) = (sub.in_addr, sub.out_addr, sub.n_blocks == 0);
        if matches!(self.cfg.mode, Mode::PortBlock(_)) {
            self.set_block_bit(out_addr, first, false);
            self.stats.blocks_released += 1;
            self.push_event(Event::BlockReleased(BlockEvent {
                subscriber: Ipv4Addr::from(in_addr),
                outside: Ipv4Addr::from(out_addr),
                ports: self.range(first),
                at: now,
            }));
        }
        if no_blocks {
            let h = self.h_sub(in_addr);
            self.subidx.remove(h, m.subscriber);
            self.subs.free(m.subscriber);
        }
    }

    // ---- allocation -----------------------------------------------------------

    fn block_bit(&self, out_addr: u32, first: u16) -> Option<usize> {
        let a = out_addr.wrapping_sub(self.pool_first);
        let b = u32::from(first.checked_sub(FIRST_PORT)?) / u32::from(self.block_len.max(1));
        let bit = u64::from(a) * u64::from(self.blocks_per_addr) + u64::from(b);
        usize::try_from(bit).ok()
    }

    fn set_block_bit(&mut self, out_addr: u32, first: u16, on: bool) {
        if let Some(bit) = self.block_bit(out_addr, first) {
            if let Some(w) = self.bitmap.get_mut(bit / 64) {
                if on {
                    *w |= 1 << (bit % 64);
                } else {
                    *w &= !(1 << (bit % 64));
                }
            }
        }
    }

    /// Paired pooling (RFC 4787 REQ-2): a fixed function of the inside address, so a
    /// subscriber gets the same outside address every time, across restarts too.
    fn paired_address(&self, in_addr: u32) -> u32 {
        let x = u64::from(in_addr).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32;
        let off = x % u64::from(self.pool_len.max(1));
        self.pool_first
            .wrapping_add(u32::try_from(off).unwrap_or(0))
    }

    /// A free block for `out_addr` (port-block mode) or the subscriber's RFC 7422
    /// range (deterministic mode).
    fn find_block(&self, in_addr: u32, out_addr: u32) -> Option<u16> {
        match self.cfg.mode {
            Mode::Deterministic(d) => d.forward(Ipv4Addr::from(in_addr)).map(|(_, r)| r.first),
            Mode::PortBlock(_) => {
                let n = self.blocks_per_addr;
                for k in 0..n {
                    let b = (self.block_cursor.wrapping_add(k)) % n;
                    let first = u32::from(FIRST_PORT) + b * u32::from(self.block_len);
                    let first = u16::try_from(first).ok()?;
                    let bit = self.block_bit(out_addr, first)?;
                    let used = self
                        .bitmap
                        .get(bit / 64)
                        .is_none_or(|w| w & (1 << (bit % 64)) != 0);
                    if !used {
                        return Some(first);
                    }
                }
                None
            }
        }
    }

    /// A free outside port in the subscriber's existing blocks.
    fn free_port(&self, sub: &Subscriber, proto: u8, hint: u16) -> Option<u16> {
        let len = self.block_len;
        let n = usize::from(sub.n_blocks).min(MAX_BLOCKS);
        for (first, counts) in sub.blocks.iter().zip(sub.counts.iter()).take(n) {
            if counts.get(proto_slot(proto)).copied().unwrap_or(len) >= len {
                continue;
            }
            for k in 0..len {
                let port = first.wrapping_add(hint.wrapping_add(k) % len);
                if self.find_mapping_out(proto, sub.out_addr, port).is_none() {
                    return Some(port);
                }
            }
        }
        None
    }

    /// Finds or creates the session of an outbound flow (RFC 4787 REQ-1: the mapping
    /// of the inside endpoint is reused whatever the destination).
    #[allow(
        clippy::too_many_lines,
        reason = "plan then commit, kept in one place so no drop leaves a trace"
    )]
    fn outbound(&mut self, now: Duration, f: &Flow) -> Result<u32, DropReason> {
        let t = secs(now);
        if let Some(i) = self.find_session_in(f.proto, f.src, f.sport, f.dst, f.dport) {
            if self.sessions.get(i).is_some_and(|s| s.expires > t) {
                return Ok(i);
            }
            self.remove_session(i, now);
        }
        if self.sessions.is_full() {
            return Err(DropReason::TableFull);
        }
        let sub = self.find_sub(f.src);
        let out_addr = match (sub.and_then(|i| self.subs.get(i)), self.cfg.mode) {
            (Some(s), _) => {
                if s.sessions >= self.cfg.max_sessions_per_subscriber {
                    return Err(DropReason::SessionLimit);
                }
                s.out_addr
            }
            (None, Mode::Deterministic(d)) => {
                let (a, _) = d
                    .forward(Ipv4Addr::from(f.src))
                    .ok_or(DropReason::NotSubscriber)?;
                if self.subs.is_full() {
                    return Err(DropReason::TableFull);
                }
                u32::from(a)
            }
            (None, _) => {
                if self.subs.is_full() {
                    return Err(DropReason::TableFull);
                }
                self.paired_address(f.src)
            }
        };
        let mapping = self.find_mapping_in(f.proto, f.src, f.sport);
        // Plan everything before changing anything, so a drop leaves no trace.
        let mut new_block = None;
        let port = if let Some(m) = mapping {
            self.mappings.get(m).map_or(0, |e| e.out_port)
        } else {
            if self.mappings.is_full() {
                return Err(DropReason::TableFull);
            }
            let existing = sub
                .and_then(|i| self.subs.get(i))
                .and_then(|s| self.free_port(s, f.proto, f.sport));
            if let Some(p) = existing {
                p
            } else {
                let held = sub.and_then(|i| self.subs.get(i)).map_or(0, |s| s.n_blocks);
                if held >= self.max_blocks {
                    return Err(DropReason::PortsExhausted);
                }
                let first = self
                    .find_block(f.src, out_addr)
                    .ok_or(DropReason::PortsExhausted)?;
                if matches!(self.cfg.mode, Mode::PortBlock(_)) && !self.event_room() {
                    return Err(DropReason::LogBackpressure);
                }
                new_block = Some(first);
                first.wrapping_add(f.sport % self.block_len.max(1))
            }
        };
        // Commit.
        let sub_idx = if let Some(i) = sub {
            i
        } else {
            let i = self
                .subs
                .alloc(Subscriber {
                    in_addr: f.src,
                    out_addr,
                    live: true,
                    ..Subscriber::EMPTY
                })
                .ok_or(DropReason::TableFull)?;
            let h = self.h_sub(f.src);
            self.subidx.insert(h, i);
            i
        };
        if let Some(first) = new_block {
            if let Some(s) = self.subs.get_mut(sub_idx) {
                let n = usize::from(s.n_blocks);
                if let (Some(b), Some(c)) = (s.blocks.get_mut(n), s.counts.get_mut(n)) {
                    *b = first;
                    *c = [0; 3];
                    s.n_blocks += 1;
                }
            }
            if matches!(self.cfg.mode, Mode::PortBlock(_)) {
                self.set_block_bit(out_addr, first, true);
                self.block_cursor = self.block_cursor.wrapping_add(1);
                self.stats.blocks_allocated += 1;
                self.push_event(Event::BlockAllocated(BlockEvent {
                    subscriber: Ipv4Addr::from(f.src),
                    outside: Ipv4Addr::from(out_addr),
                    ports: self.range(first),
                    at: now,
                }));
            }
        }
        let m_idx = if let Some(m) = mapping {
            m
        } else {
            let m = self
                .mappings
                .alloc(Mapping {
                    in_addr: f.src,
                    out_addr,
                    in_port: f.sport,
                    out_port: port,
                    proto: f.proto,
                    subscriber: sub_idx,
                    sessions: 0,
                    head: NIL,
                })
                .ok_or(DropReason::TableFull)?;
            let (h3, h4) = (
                self.h_map(3, f.proto, f.src, f.sport),
                self.h_map(4, f.proto, out_addr, port),
            );
            self.midx.insert(h3, m);
            self.midx.insert(h4, m);
            let block_len = self.block_len;
            if let Some(s) = self.subs.get_mut(sub_idx) {
                let n = usize::from(s.n_blocks).min(MAX_BLOCKS);
                if let Some(b) = s
                    .blocks
                    .iter()
                    .take(n)
                    .position(|&first| port >= first && port - first < block_len)
                {
                    if let Some(x) = s
                        .counts
                        .get_mut(b)
                        .and_then(|c| c.get_mut(proto_slot(f.proto)))
                    {
                        *x += 1;
                    }
                }
            }
            m
        };
        self.add_session(m_idx, f.dst, f.dport, t)
    }

    /// Adds a session (remote `ra`:`rp`) to mapping `m_idx`.
    fn add_session(&mut self, m_idx: u32, ra: u32, rp: u16, t: u32) -> Result<u32, DropReason> {
        let m = *self.mappings.get(m_idx).ok_or(DropReason::TableFull)?;
        let s = self
            .sessions
            .alloc(Session {
                in_addr: m.in_addr,
                out_addr: m.out_addr,
                rem_addr: ra,
                in_port: m.in_port,
                out_port: m.out_port,
                rem_port: rp,
                proto: m.proto,
                tcp: 0,
                expires: t,
                mapping: m_idx,
                next: m.head,
            })
            .ok_or(DropReason::TableFull)?;
        let h1 = self.h_sess(1, m.proto, m.in_addr, m.in_port, ra, rp);
        let h2 = self.h_sess(2, m.proto, m.out_addr, m.out_port, ra, rp);
        self.sidx.insert(h1, s);
        self.sidx.insert(h2, s);
        if let Some(mm) = self.mappings.get_mut(m_idx) {
            mm.head = s;
            mm.sessions += 1;
        }
        if let Some(sub) = self.subs.get_mut(m.subscriber) {
            sub.sessions += 1;
        }
        self.stats.sessions_created += 1;
        Ok(s)
    }

    /// Finds the session of an inbound flow, or creates one when filtering allows
    /// (RFC 4787 section 5 and REQ-8, RFC 5382 REQ-2 and REQ-3).
    fn inbound(&mut self, now: Duration, f: &Flow) -> Result<u32, DropReason> {
        let t = secs(now);
        if let Some(i) = self.find_session_out(f.proto, f.dst, f.dport, f.src, f.sport) {
            if self.sessions.get(i).is_some_and(|s| s.expires > t) {
                return Ok(i);
            }
            self.remove_session(i, now);
        }
        if f.proto == ICMP {
            return Err(DropReason::NoMapping);
        }
        let m_idx = self
            .find_mapping_out(f.proto, f.dst, f.dport)
            .ok_or(DropReason::NoMapping)?;
        let m = *self.mappings.get(m_idx).ok_or(DropReason::NoMapping)?;
        if self.cfg.filtering == Filtering::AddressDependent {
            let mut cur = m.head;
            let mut guard = self.sessions.items.len();
            let mut ok = false;
            while let Some(s) = self.sessions.get(cur) {
                if guard == 0 {
                    break;
                }
                guard -= 1;
                if s.rem_addr == f.src && s.expires > t {
                    ok = true;
                    break;
                }
                cur = s.next;
            }
            if !ok {
                return Err(DropReason::Filtered);
            }
        }
        if self
            .subs
            .get(m.subscriber)
            .is_some_and(|s| s.sessions >= self.cfg.max_sessions_per_subscriber)
        {
            return Err(DropReason::SessionLimit);
        }
        self.add_session(m_idx, f.src, f.sport, t)
    }

    /// Refreshes a session: TCP state (RFC 5382 section 5, RFC 7857 section 2.2 for
    /// RST) and the idle deadline.
    #[allow(clippy::inline_always, reason = "hot path, once per translated packet")]
    #[inline(always)]
    fn refresh(&mut self, i: u32, f: &Flow, outbound: bool, t: u32) {
        let to = self.cfg.timeouts;
        let Some(s) = self.sessions.get_mut(i) else {
            return;
        };
        let timeout = if s.proto == TCP {
            let fl = f.tcp_flags;
            let (syn, fin, rst) = (fl & 0x02 != 0, fl & 0x01 != 0, fl & 0x04 != 0);
            let closed = s.tcp & tcp::RST != 0
                || s.tcp & (tcp::FIN_IN | tcp::FIN_OUT) == (tcp::FIN_IN | tcp::FIN_OUT);
            if syn && closed {
                s.tcp = 0; // a new connection reuses the 5-tuple
            }
            if rst {
                s.tcp |= tcp::RST;
            } else {
                s.tcp |= if outbound { tcp::OUT } else { tcp::IN };
            }
            if fin {
                s.tcp |= if outbound { tcp::FIN_OUT } else { tcp::FIN_IN };
            }
            let st = s.tcp;
            let closing = st & tcp::RST != 0
                || st & (tcp::FIN_IN | tcp::FIN_OUT) == (tcp::FIN_IN | tcp::FIN_OUT);
            if !closing && st & (tcp::IN | tcp::OUT) == (tcp::IN | tcp::OUT) {
                to.tcp_established
            } else {
                to.tcp_transitory
            }
        } else if s.proto == UDP {
            to.udp
        } else {
            to.icmp
        };
        s.expires = t.saturating_add(u32::try_from(timeout.as_secs()).unwrap_or(u32::MAX));
    }

    // ---- translation ----------------------------------------------------------

    /// Translates a packet from the inside in place (`pkt` starts at the IPv4
    /// header; bytes after Total Length are ignored).
    pub fn in2out(&mut self, now: Duration, pkt: &mut [u8]) -> Verdict {
        let v = self.in2out_inner(now, pkt, false);
        self.count(v, Direction::InToOut);
        v
    }

    /// [`Nat44::in2out`] for a packet whose IPv4 header checksum the caller has
    /// already verified (a router's forwarding path does, RFC 1812 section 5.2.2):
    /// the header checksum is not checked a second time. Everything else is as
    /// `in2out`; a packet whose checksum was not verified must use `in2out`.
    pub fn in2out_verified(&mut self, now: Duration, pkt: &mut [u8]) -> Verdict {
        let v = self.in2out_inner(now, pkt, true);
        self.count(v, Direction::InToOut);
        v
    }

    /// [`Nat44::in2out_verified`] with a fast path for the common packet of an
    /// established flow: IPv4 without options, not a fragment, UDP or TCP, neither
    /// address in the pool (no hairpin), a live session. Those are read through
    /// fixed-size views (one bounds check), looked up, refreshed and rewritten; every
    /// other packet, and a miss, takes [`Nat44::in2out_verified`]. Verdicts, tables
    /// and [`Stats`] are exactly as with [`Nat44::in2out_verified`] (the caller must
    /// have verified the IPv4 header checksum, RFC 1812 section 5.2.2).
    #[inline(always)]
    #[allow(
        clippy::inline_always,
        reason = "hot path: inlined into the caller's per-packet loop"
    )]
    pub fn in2out_fast(&mut self, now: Duration, pkt: &mut [u8]) -> Verdict {
        if let Some(f) = fast_flow(pkt)
            && !self.in_pool(f.src)
            && !self.in_pool(f.dst)
        {
            let t = secs(now);
            if let Some(i) = self.find_session_in(f.proto, f.src, f.sport, f.dst, f.dport)
                && let Some(&se) = self.sessions.get(i)
                && se.expires > t
            {
                // outbound()'s hit, then in2out_inner's non-hairpin tail (RFC 4787
                // section 4.3 / RFC 5382 section 5 refresh)
                self.refresh(i, &f, true, t);
                rewrite(pkt, &f, true, se.out_addr, se.out_port);
                self.stats.in2out += 1;
                return Verdict::Forward;
            }
        }
        self.in2out_verified(now, pkt)
    }

    /// [`Nat44::out2in`] with a fast path for the common reply of an established
    /// flow: IPv4 without options whose header checksum verifies (RFC 1071), not a
    /// fragment, UDP or TCP to a pool address, a live session. Every other packet,
    /// and a miss, takes [`Nat44::out2in`]; verdicts, tables and [`Stats`] are
    /// exactly as with it.
    #[inline(always)]
    #[allow(
        clippy::inline_always,
        reason = "hot path: inlined into the caller's per-packet loop"
    )]
    pub fn out2in_fast(&mut self, now: Duration, pkt: &mut [u8]) -> Verdict {
        if let Some(f) = fast_flow(pkt)
            && self.in_pool(f.dst)
            // RFC 791 section 3.1 / RFC 1071: the 20-byte header verifies
            && pkt
                .first_chunk::<20>()
                .is_some_and(|h| crate::checksum::verifies(h, 0))
        {
            let t = secs(now);
            if let Some(i) = self.find_session_out(f.proto, f.dst, f.dport, f.src, f.sport)
                && let Some(&se) = self.sessions.get(i)
                && se.expires > t
            {
                // inbound()'s hit, then out2in_inner's tail
                self.refresh(i, &f, false, t);
                rewrite(pkt, &f, false, se.in_addr, se.in_port);
                self.stats.out2in += 1;
                return Verdict::Forward;
            }
        }
        self.out2in(now, pkt)
    }

    /// Translates a packet from the outside in place.
    pub fn out2in(&mut self, now: Duration, pkt: &mut [u8]) -> Verdict {
        let v = self.out2in_inner(now, pkt);
        self.count(v, Direction::OutToIn);
        v
    }

    /// Translates one packet in `dir`.
    pub fn translate(&mut self, now: Duration, dir: Direction, pkt: &mut [u8]) -> Verdict {
        match dir {
            Direction::InToOut => self.in2out(now, pkt),
            Direction::OutToIn => self.out2in(now, pkt),
        }
    }

    /// Translates a batch in `dir`, writing one verdict per packet.
    ///
    /// The batch is handled in chunks of [`BATCH_CHUNK`]: a first pass reads each
    /// packet's key and loads its home index slot, a second loads the session entry
    /// that slot names, a third translates. The loads of one pass are independent of
    /// each other, so their cache misses overlap instead of queueing (the software
    /// prefetch of a vector dataplane, without `unsafe`).
    pub fn translate_batch(
        &mut self,
        now: Duration,
        dir: Direction,
        pkts: &mut [&mut [u8]],
        verdicts: &mut [Verdict],
    ) {
        for (chunk, vchunk) in pkts
            .chunks_mut(BATCH_CHUNK)
            .zip(verdicts.chunks_mut(BATCH_CHUNK))
        {
            let mut slots = [0u64; BATCH_CHUNK];
            for (p, slot) in chunk.iter().zip(slots.iter_mut()) {
                if let Some(h) = self.quick_hash(dir, p) {
                    *slot = self.sidx.touch(h);
                }
            }
            let mut acc = 0u32;
            for &slot in &slots {
                #[allow(clippy::cast_possible_truncation, reason = "slot low half")]
                let i = (slot as u32).wrapping_sub(1);
                acc ^= self.sessions.get(i).map_or(0, |s| s.expires);
            }
            core::hint::black_box(acc);
            for (p, v) in chunk.iter_mut().zip(vchunk.iter_mut()) {
                *v = self.translate(now, dir, p);
            }
        }
    }

    /// [`Nat44::warm`] for callers that can prefetch (this crate cannot: no `unsafe`):
    /// hands `index` a reference to each index slot translating `pkts` in `dir` will
    /// read first (pass 1), then, reading those slots (by then on their way), hands
    /// `session` a reference into each session entry they name (pass 2), in chunks of
    /// [`BATCH_CHUNK`]. The callbacks should prefetch the reference's cache line; the
    /// referenced values are opaque. Changes nothing.
    pub fn warm_refs<'p>(
        &self,
        dir: Direction,
        pkts: impl Iterator<Item = &'p [u8]>,
        mut index: impl FnMut(&u64),
        mut session: impl FnMut(&u32),
    ) {
        let mut it = pkts;
        loop {
            let mut hashes = [None; BATCH_CHUNK];
            let mut n = 0usize;
            for (h, p) in hashes.iter_mut().zip(it.by_ref()) {
                *h = self.quick_hash(dir, p);
                if let Some(r) = h.and_then(|h| self.sidx.home_ref(h)) {
                    index(r);
                }
                n += 1;
            }
            for &h in hashes.iter().take(n).flatten() {
                #[allow(clippy::cast_possible_truncation, reason = "slot low half")]
                let i = (self.sidx.touch(h) as u32).wrapping_sub(1);
                if let Some(s) = self.sessions.get(i) {
                    session(&s.expires);
                }
            }
            if n < BATCH_CHUNK {
                break;
            }
        }
    }

    /// Look-ahead for one packet (software pipelining across packets, as a vector
    /// dataplane prefetches the packets a few ahead), first stage: the key of the
    /// session lookup that translating `pkt` (from its IPv4 header) in `dir` will
    /// do, read with minimal checks (a wrong key only costs a useless prefetch);
    /// `None` for a packet without a flow key. Hand it to [`Nat44::ahead_index`]
    /// now and to [`Nat44::ahead_session`] a few packets later.
    #[inline(always)]
    #[allow(
        clippy::inline_always,
        reason = "hot path: inlined into the caller's per-packet loop"
    )]
    #[must_use]
    pub fn ahead_key(&self, dir: Direction, pkt: &[u8]) -> Option<u64> {
        self.quick_hash(dir, pkt)
    }

    /// The index slot the lookup of `key` ([`Nat44::ahead_key`]) reads first, for
    /// the caller to prefetch. Changes nothing.
    #[inline(always)]
    #[allow(
        clippy::inline_always,
        reason = "hot path: inlined into the caller's per-packet loop"
    )]
    #[must_use]
    pub fn ahead_index(&self, key: u64) -> Option<&u64> {
        self.sidx.home_ref(key)
    }

    /// The session entry that the index slot of [`Nat44::ahead_index`] names (it
    /// reads that slot: call it a few packets later, when the slot's line has
    /// arrived), for the caller to prefetch. The home slot's entry, not checked
    /// against the key: a guess, good for prefetching only. Changes nothing.
    #[inline(always)]
    #[allow(
        clippy::inline_always,
        reason = "hot path: inlined into the caller's per-packet loop"
    )]
    #[must_use]
    pub fn ahead_session(&self, key: u64) -> Option<&Session> {
        #[allow(clippy::cast_possible_truncation, reason = "slot low half")]
        let i = (self.sidx.touch(key) as u32).wrapping_sub(1);
        self.sessions.get(i)
    }

    /// Loads the index slots and session entries that translating `pkts` in `dir`
    /// will read, in chunks of [`BATCH_CHUNK`]: one pass of independent index loads,
    /// then one of independent session loads, so their cache misses overlap. Changes
    /// nothing; for callers that translate packet by packet (a graph node) but see
    /// a whole frame first. Worth it when the tables outgrow the caches.
    pub fn warm<'p>(&self, dir: Direction, pkts: impl Iterator<Item = &'p [u8]>) {
        let mut it = pkts;
        let mut acc = 0u32;
        loop {
            let mut slots = [0u64; BATCH_CHUNK];
            let mut n = 0usize;
            // `slots` first: zip stops before taking a packet it has no room for
            for (slot, p) in slots.iter_mut().zip(it.by_ref()) {
                if let Some(h) = self.quick_hash(dir, p) {
                    *slot = self.sidx.touch(h);
                }
                n += 1;
            }
            for &slot in slots.iter().take(n) {
                #[allow(clippy::cast_possible_truncation, reason = "slot low half")]
                let i = (slot as u32).wrapping_sub(1);
                acc ^= self.sessions.get(i).map_or(0, |s| s.expires);
            }
            if n < BATCH_CHUNK {
                break;
            }
        }
        core::hint::black_box(acc);
    }

    /// The session hash of a TCP/UDP/ICMP-query packet, read with minimal checks
    /// (a wrong hash only costs a useless load).
    #[inline]
    fn quick_hash(&self, dir: Direction, p: &[u8]) -> Option<u64> {
        let ihl = usize::from(p.first()? & 0x0f) * 4;
        let proto = *p.get(9)?;
        let (src, dst) = (rd32(p, 12)?, rd32(p, 16)?);
        let (sport, dport) = match proto {
            TCP | UDP => (rd16(p, ihl)?, rd16(p, ihl + 2)?),
            _ => {
                let id = rd16(p, ihl + 4)?;
                match dir {
                    Direction::InToOut => (id, 0),
                    Direction::OutToIn => (0, id),
                }
            }
        };
        Some(match dir {
            Direction::InToOut => self.h_sess(1, proto, src, sport, dst, dport),
            Direction::OutToIn => self.h_sess(2, proto, dst, dport, src, sport),
        })
    }

    #[inline]
    fn count(&mut self, v: Verdict, dir: Direction) {
        match (v, dir) {
            (Verdict::Drop(r), _) => {
                if let Some(c) = self.stats.drops.get_mut(r.index()) {
                    *c += 1;
                }
            }
            (Verdict::Hairpin, _) => self.stats.hairpin += 1,
            (Verdict::Forward, Direction::InToOut) => self.stats.in2out += 1,
            (Verdict::Forward, Direction::OutToIn) => self.stats.out2in += 1,
        }
    }

    #[allow(
        clippy::inline_always,
        reason = "hot path: the Flow is built in the caller's frame, not copied out"
    )]
    #[inline(always)]
    fn checked_flow(pkt: &[u8]) -> Result<Flow, DropReason> {
        let f = parse_flow(pkt)?;
        let hdr = pkt.get(..f.l4).ok_or(DropReason::Malformed)?;
        // The common 20-byte header as five 32-bit words (congruent to their 16-bit
        // halves modulo 65535, RFC 1071 section 2 (B)); options take the general sum.
        let acc = match hdr.first_chunk::<20>() {
            Some(h) if hdr.len() == 20 => h
                .chunks_exact(4)
                .filter_map(|w| w.first_chunk::<4>())
                .map(|w| u64::from(u32::from_be_bytes(*w)))
                .sum(),
            _ => sum(hdr, 0),
        };
        if fold(acc) != 0xffff {
            return Err(DropReason::BadChecksum);
        }
        Ok(f)
    }

    #[inline]
    fn in2out_inner(&mut self, now: Duration, pkt: &mut [u8], verified: bool) -> Verdict {
        let f = if verified {
            parse_flow(pkt)
        } else {
            Self::checked_flow(pkt)
        };
        let f = match f {
            Ok(f) => f,
            Err(r) => return Verdict::Drop(r),
        };
        let t = secs(now);
        if self.in_pool(f.src) {
            // A pool address is never a subscriber: such a packet is looped or spoofed.
            return Verdict::Drop(DropReason::Unsupported);
        }
        if f.first_frag && self.in_pool(f.dst) {
            return Verdict::Drop(DropReason::Fragment);
        }
        match f.kind {
            Kind::LaterFragment => return self.later_fragment(t, pkt, &f, Direction::InToOut),
            Kind::IcmpError => return self.icmp_error(now, pkt, &f, Direction::InToOut),
            Kind::IcmpReply => return Verdict::Drop(DropReason::Unsupported),
            Kind::IcmpRequest if self.in_pool(f.dst) => {
                return Verdict::Drop(DropReason::Unsupported);
            }
            _ => {}
        }
        let s = match self.outbound(now, &f) {
            Ok(s) => s,
            Err(r) => return Verdict::Drop(r),
        };
        let Some(&se) = self.sessions.get(s) else {
            return Verdict::Drop(DropReason::TableFull);
        };
        if self.in_pool(f.dst) {
            // Hairpinning (RFC 4787 REQ-9, RFC 5382 REQ-8): the packet continues as if
            // it arrived from outside with the mapped source (external address and
            // port, RFC 4787 section 6).
            let f2 = Flow {
                src: se.out_addr,
                sport: se.out_port,
                ..f
            };
            let s2 = match self.inbound(now, &f2) {
                Ok(s2) => s2,
                Err(r) => return Verdict::Drop(r),
            };
            let Some(&se2) = self.sessions.get(s2) else {
                return Verdict::Drop(DropReason::TableFull);
            };
            self.refresh(s, &f, true, t);
            self.refresh(s2, &f, false, t);
            rewrite(pkt, &f, true, se.out_addr, se.out_port);
            rewrite(pkt, &f2, false, se2.in_addr, se2.in_port);
            return Verdict::Hairpin;
        }
        self.refresh(s, &f, true, t);
        rewrite(pkt, &f, true, se.out_addr, se.out_port);
        if f.first_frag {
            self.record_fragment(t, &f, Direction::InToOut, se.out_addr);
        }
        Verdict::Forward
    }

    #[inline]
    fn out2in_inner(&mut self, now: Duration, pkt: &mut [u8]) -> Verdict {
        let f = match Self::checked_flow(pkt) {
            Ok(f) => f,
            Err(r) => return Verdict::Drop(r),
        };
        match f.kind {
            Kind::LaterFragment => {
                return self.later_fragment(secs(now), pkt, &f, Direction::OutToIn);
            }
            Kind::IcmpError => return self.icmp_error(now, pkt, &f, Direction::OutToIn),
            Kind::IcmpRequest => return Verdict::Drop(DropReason::Unsupported),
            _ => {}
        }
        if !self.in_pool(f.dst) {
            return Verdict::Drop(DropReason::NoMapping);
        }
        let s = match self.inbound(now, &f) {
            Ok(s) => s,
            Err(r) => return Verdict::Drop(r),
        };
        let Some(&se) = self.sessions.get(s) else {
            return Verdict::Drop(DropReason::TableFull);
        };
        self.refresh(s, &f, false, secs(now));
        rewrite(pkt, &f, false, se.in_addr, se.in_port);
        if f.first_frag {
            self.record_fragment(secs(now), &f, Direction::OutToIn, se.in_addr);
        }
        Verdict::Forward
    }

    /// Remembers the translation of a first fragment for the later ones.
    fn record_fragment(&mut self, t: u32, f: &Flow, dir: Direction, new_addr: u32) {
        let d = if dir == Direction::InToOut { 1 } else { 2 };
        let e = Frag {
            src: f.src,
            dst: f.dst,
            new_addr,
            expires: t.saturating_add(FRAG_TIMEOUT),
            ident: f.ident,
            proto: f.proto,
            dir: d,
        };
        let same = |x: &Frag| {
            x.dir == d
                && x.src == f.src
                && x.dst == f.dst
                && x.ident == f.ident
                && x.proto == f.proto
        };
        let slot = self
            .frags
            .iter()
            .position(|x| same(x) || x.dir == 0 || x.expires <= t);
        let slot = slot.unwrap_or_else(|| {
            self.stats.fragments_evicted += 1;
            self.frags
                .iter()
                .enumerate()
                .min_by_key(|(_, x)| x.expires)
                .map_or(0, |(i, _)| i)
        });
        if let Some(x) = self.frags.get_mut(slot) {
            *x = e;
        }
    }

    /// A fragment with a non-zero offset: rewrite the address its first fragment's
    /// translation rewrote (source for in2out, destination for out2in).
    #[allow(clippy::many_single_char_names, reason = "short-lived locals")]
    fn later_fragment(&mut self, t: u32, pkt: &mut [u8], f: &Flow, dir: Direction) -> Verdict {
        let d = if dir == Direction::InToOut { 1 } else { 2 };
        let Some(e) = self.frags.iter().find(|x| {
            x.dir == d
                && x.expires > t
                && x.src == f.src
                && x.dst == f.dst
                && x.ident == f.ident
                && x.proto == f.proto
        }) else {
            return Verdict::Drop(DropReason::Fragment);
        };
        let (off, old) = if d == 1 { (12, f.src) } else { (16, f.dst) };
        let c = rd16(pkt, 10).unwrap_or(0);
        wr16(pkt, 10, update32(c, old, e.new_addr));
        wr32(pkt, off, e.new_addr);
        self.stats.fragments += 1;
        Verdict::Forward
    }

    /// ICMP error translation (RFC 5508 section 4.2, RFC 792): the session is found
    /// from the embedded datagram, which is translated (address, port or identifier,
    /// its IPv4 header checksum and, when present in the quoted bytes, its transport
    /// checksum), then the outer header and the ICMP checksum. An error whose ICMP
    /// checksum fails is dropped (RFC 5508 section 4.2); errors never create,
    /// refresh or delete a session (RFC 5508 section 4.2).
    #[allow(
        clippy::many_single_char_names,
        clippy::similar_names,
        clippy::too_many_lines,
        reason = "offsets named as in RFC 5508 figures; one straight-line rewrite"
    )]
    fn icmp_error(&mut self, now: Duration, pkt: &mut [u8], f: &Flow, dir: Direction) -> Verdict {
        let m = Verdict::Drop(DropReason::Malformed);
        let e = f.l4 + 8;
        if pkt
            .get(f.l4..f.end)
            .is_none_or(|icmp| fold(sum(icmp, 0)) != 0xffff)
        {
            return Verdict::Drop(DropReason::BadChecksum);
        }
        let Some(&evi) = pkt.get(e) else { return m };
        let eihl = usize::from(evi & 0x0f) * 4;
        if evi >> 4 != 4 || eihl < 20 {
            return m;
        }
        let el4 = e + eihl;
        if el4 + 8 > f.end {
            return m;
        }
        let (Some(&eproto), Some(esrc), Some(edst)) =
            (pkt.get(e + 9), rd32(pkt, e + 12), rd32(pkt, e + 16))
        else {
            return m;
        };
        let (Some(w0), Some(w1), Some(id)) =
            (rd16(pkt, el4), rd16(pkt, el4 + 2), rd16(pkt, el4 + 4))
        else {
            return m;
        };
        // The NATed endpoint of the embedded datagram: its source when it went out
        // (out2in error), its destination when it came in (in2out error).
        let (esport, edport) = match eproto {
            TCP | UDP => (w0, w1),
            ICMP => {
                let ty = IcmpType(pkt.get(el4).copied().unwrap_or(0));
                if ty.query_request().is_none() {
                    return Verdict::Drop(DropReason::Unsupported);
                }
                match dir {
                    Direction::OutToIn => (id, 0),
                    Direction::InToOut => (0, id),
                }
            }
            _ => return Verdict::Drop(DropReason::Unsupported),
        };
        let t = secs(now);
        let found = match dir {
            Direction::OutToIn => self.find_session_out(eproto, esrc, esport, edst, edport),
            Direction::InToOut => self.find_session_in(eproto, edst, edport, esrc, esport),
        };
        let Some(se) = found
            .and_then(|i| self.sessions.get(i))
            .copied()
            .filter(|s| s.expires > t)
        else {
            return Verdict::Drop(DropReason::NoMapping);
        };
        let (new_a, new_p, a_off, p_off, old_a, old_p, outer_off) = match dir {
            Direction::OutToIn => {
                if f.dst != se.out_addr {
                    return Verdict::Drop(DropReason::NoMapping);
                }
                let p_off = if eproto == ICMP { el4 + 4 } else { el4 };
                (se.in_addr, se.in_port, e + 12, p_off, esrc, esport, 16)
            }
            Direction::InToOut => {
                let p_off = if eproto == ICMP { el4 + 4 } else { el4 + 2 };
                (se.out_addr, se.out_port, e + 16, p_off, edst, edport, 12)
            }
        };
        let Some(region) = pkt.get(e..f.end) else {
            return m;
        };
        let old_sum = fold(sum(region, 0));
        // Embedded IPv4 header.
        let c = rd16(pkt, e + 10).unwrap_or(0);
        wr16(pkt, e + 10, update32(c, old_a, new_a));
        wr32(pkt, a_off, new_a);
        // Embedded transport checksum, when quoted.
        match eproto {
            TCP if el4 + 18 <= f.end => {
                let c = rd16(pkt, el4 + 16).unwrap_or(0);
                wr16(
                    pkt,
                    el4 + 16,
                    update16(update32(c, old_a, new_a), old_p, new_p),
                );
            }
            UDP => {
                let c = rd16(pkt, el4 + 6).unwrap_or(0);
                if c != 0 {
                    let n = update16(update32(c, old_a, new_a), old_p, new_p);
                    wr16(pkt, el4 + 6, if n == 0 { 0xffff } else { n });
                }
            }
            ICMP => {
                let c = rd16(pkt, el4 + 2).unwrap_or(0);
                wr16(pkt, el4 + 2, update16(c, old_p, new_p));
            }
            _ => {}
        }
        wr16(pkt, p_off, new_p);
        let new_sum = pkt.get(e..f.end).map_or(old_sum, |r| fold(sum(r, 0)));
        let c = rd16(pkt, f.l4 + 2).unwrap_or(0);
        wr16(pkt, f.l4 + 2, update16(c, old_sum, new_sum));
        // Outer header: the destination (out2in) or source (in2out).
        let (outer_old, outer_new) = match dir {
            Direction::OutToIn => (f.dst, se.in_addr),
            Direction::InToOut => (f.src, se.out_addr),
        };
        let c = rd16(pkt, 10).unwrap_or(0);
        wr16(pkt, 10, update32(c, outer_old, outer_new));
        wr32(pkt, outer_off, outer_new);
        self.stats.icmp_errors += 1;
        Verdict::Forward
    }
}
