//! A sans-IO DHCPv6 server (RFC 8415 section 18.3) for IA_NA and IA_PD, with rapid
//! commit (section 18.3.1), relayed messages (section 19.3) and the same trait design as
//! the DHCPv4 server: addresses and prefixes come from an [`Assigner6`] (the shipped
//! bitmap [`Pool6`], RADIUS Framed-IPv6-Prefix / Delegated-IPv6-Prefix, anything), and
//! bindings live in caller-provided [`BindingSlot`]s.
//!
//! A reply goes back to the source address and port of the request it answers (the
//! client's link-local address on port 546, or the relay agent on port 547).

use core::net::Ipv6Addr;
use core::time::Duration;

use super::message::{MessageType, OptionList, Packet, Repr};
use super::options::{Duid, Ia, OptionCode, OptionWriter, Options, StatusCode, ia_head};
use crate::error::{EmitError, ProtocolError, UsageError};
use crate::pool::IndexPool;

/// IAs answered per message; more are ignored.
pub const MAX_IA: usize = 4;
/// Relay layers a reply can be wrapped in; deeper requests are refused.
pub const MAX_HOPS: usize = 4;
/// Replies queued between `handle_packet` and `poll_action`.
pub const QUEUE_CAP: usize = 2;
/// Events queued; more are counted and dropped.
pub const EVENT_CAP: usize = 16;
const DUID_MAX: usize = 130;
const IFACE_MAX: usize = 64;

/// IA kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IaKind {
    /// IA_NA: one address (RFC 8415 section 21.4).
    Na,
    /// IA_PD: one prefix (RFC 8415 section 21.21).
    Pd,
}

/// What the server knows when it asks for an address or prefix.
#[derive(Debug, Clone, Copy)]
pub struct Assign6<'a> {
    /// Address or prefix.
    pub kind: IaKind,
    /// Client DUID.
    pub duid: &'a [u8],
    /// IAID.
    pub iaid: u32,
    /// The address or prefix the client hinted at.
    pub hint: Option<(Ipv6Addr, u8)>,
    /// link-address of the innermost relay (unspecified when not relayed).
    pub link: Ipv6Addr,
    /// Interface-ID of the innermost relay (RFC 8415 section 21.18).
    pub interface_id: Option<&'a [u8]>,
}

/// Where addresses and prefixes come from.
pub trait Assigner6 {
    /// An address (length 128) or prefix for a new binding.
    fn assign(&mut self, req: &Assign6<'_>) -> Option<(Ipv6Addr, u8)>;
    /// The binding holding `value` ended.
    fn release(&mut self, kind: IaKind, value: (Ipv6Addr, u8));
    /// Whether `addr` is appropriate for the link (CONFIRM, RFC 8415 section 18.3.3).
    fn on_link(&self, addr: Ipv6Addr) -> bool;
}

#[derive(Debug)]
struct Range6<'s> {
    base: u128,
    shift: u32,
    len: u8,
    idx: IndexPool<'s>,
}

impl Range6<'_> {
    fn value(&self, i: u32) -> (Ipv6Addr, u8) {
        let off = u128::from(i).checked_shl(self.shift).unwrap_or(0);
        (Ipv6Addr::from(self.base.wrapping_add(off)), self.len)
    }

    fn index(&self, v: Ipv6Addr, len: u8) -> Option<u32> {
        if len != self.len {
            return None;
        }
        let off = u128::from(v).checked_sub(self.base)?;
        if off.checked_shr(self.shift)?.checked_shl(self.shift)? != off {
            return None;
        }
        let i = u32::try_from(off.checked_shr(self.shift)?).ok()?;
        (i < self.idx.size()).then_some(i)
    }
}

/// The shipped pool: a range of addresses for IA_NA and a range of equal-size
/// prefixes for IA_PD, each over caller-provided bitmap storage.
#[derive(Debug, Default)]
pub struct Pool6<'s> {
    na: Option<Range6<'s>>,
    pd: Option<Range6<'s>>,
}

impl<'s> Pool6<'s> {
    /// An empty pool (assigns nothing).
    #[must_use]
    pub const fn new() -> Self {
        Self { na: None, pd: None }
    }

    /// Adds addresses `first .. first + size` (bits: `size.div_ceil(64)` words).
    ///
    /// # Errors
    /// [`UsageError::InvalidConfig`] for short storage or a zero size.
    pub fn with_addresses(
        mut self,
        first: Ipv6Addr,
        size: u32,
        bits: &'s mut [u64],
    ) -> Result<Self, UsageError> {
        self.na = Some(Range6 {
            base: u128::from(first),
            shift: 0,
            len: 128,
            idx: IndexPool::new(bits, size)?,
        });
        Ok(self)
    }

    /// Adds `size` prefixes of length `delegated_len` starting at `base`.
    ///
    /// # Errors
    /// [`UsageError::InvalidConfig`] for short storage, a zero size, or
    /// `delegated_len` not in 1..=128.
    pub fn with_prefixes(
        mut self,
        base: Ipv6Addr,
        delegated_len: u8,
        size: u32,
        bits: &'s mut [u64],
    ) -> Result<Self, UsageError> {
        if delegated_len == 0 || delegated_len > 128 {
            return Err(UsageError::InvalidConfig("delegated length out of 1..=128"));
        }
        self.pd = Some(Range6 {
            base: u128::from(base),
            shift: 128 - u32::from(delegated_len),
            len: delegated_len,
            idx: IndexPool::new(bits, size)?,
        });
        Ok(self)
    }

    /// Values in use (addresses, prefixes).
    #[must_use]
    pub fn used(&self) -> (u32, u32) {
        (
            self.na.as_ref().map_or(0, |r| r.idx.used()),
            self.pd.as_ref().map_or(0, |r| r.idx.used()),
        )
    }

    fn range(&mut self, kind: IaKind) -> Option<&mut Range6<'s>> {
        match kind {
            IaKind::Na => self.na.as_mut(),
            IaKind::Pd => self.pd.as_mut(),
        }
    }
}

impl Assigner6 for Pool6<'_> {
    fn assign(&mut self, req: &Assign6<'_>) -> Option<(Ipv6Addr, u8)> {
        let r = self.range(req.kind)?;
        if let Some(i) = req.hint.and_then(|(a, l)| r.index(a, l)) {
            if r.idx.take(i) {
                return Some(r.value(i));
            }
        }
        let i = r.idx.take_any()?;
        Some(r.value(i))
    }

    fn release(&mut self, kind: IaKind, value: (Ipv6Addr, u8)) {
        if let Some(r) = self.range(kind) {
            if let Some(i) = r.index(value.0, value.1) {
                r.idx.free(i);
            }
        }
    }

    fn on_link(&self, addr: Ipv6Addr) -> bool {
        self.na
            .as_ref()
            .is_some_and(|r| r.index(addr, 128).is_some())
    }
}

/// Server configuration (RFC 8415 section 7.6 defaults where it has them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config6<'c> {
    /// The server DUID (option 2).
    pub server_duid: &'c [u8],
    /// Preferred lifetime, seconds.
    pub preferred_secs: u32,
    /// Valid lifetime, seconds.
    pub valid_secs: u32,
    /// T1, seconds; 0 = half the preferred lifetime (section 21.4).
    pub t1_secs: u32,
    /// T2, seconds; 0 = 0.8 of the preferred lifetime.
    pub t2_secs: u32,
    /// How long an advertised binding is held for the REQUEST.
    pub advertise_hold: Duration,
    /// DNS recursive name servers, option 23 (unspecified entries skipped).
    pub dns: [Ipv6Addr; 2],
    /// Honour option 14 in SOLICIT (section 18.3.1).
    pub rapid_commit: bool,
}

impl<'c> Config6<'c> {
    /// Defaults: preferred 1 h, valid 2 h, 30 s advertise hold.
    #[must_use]
    pub const fn new(server_duid: &'c [u8]) -> Self {
        Self {
            server_duid,
            preferred_secs: 3600,
            valid_secs: 7200,
            t1_secs: 0,
            t2_secs: 0,
            advertise_hold: Duration::from_secs(30),
            dns: [Ipv6Addr::UNSPECIFIED; 2],
            rapid_commit: false,
        }
    }

    fn t1(&self) -> u32 {
        if self.t1_secs == 0 {
            self.preferred_secs / 2
        } else {
            self.t1_secs
        }
    }

    fn t2(&self) -> u32 {
        if self.t2_secs == 0 {
            self.preferred_secs / 5 * 4
        } else {
            self.t2_secs
        }
    }
}

/// Binding key: client DUID, IA kind and IAID (RFC 8415 section 12).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Key6 {
    kind: IaKind,
    iaid: u32,
    len: u8,
    duid: [u8; DUID_MAX],
}

impl core::fmt::Debug for Key6 {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "Key6({:?}, {}, {:02x?})",
            self.kind,
            self.iaid,
            self.duid()
        )
    }
}

impl crate::table::Slot for BindingSlot {
    const EMPTY: Self = Self::Empty;
    fn home(&self, n: usize) -> Option<usize> {
        match self {
            Self::Used(b) => usize::try_from(b.key.hash() % (n as u64)).ok(),
            Self::Empty => None,
        }
    }
}

impl Key6 {
    fn new(kind: IaKind, iaid: u32, duid: &[u8]) -> Self {
        let mut k = Self {
            kind,
            iaid,
            len: 0,
            duid: [0; DUID_MAX],
        };
        let n = duid.len().min(DUID_MAX);
        if let (Some(d), Some(s)) = (k.duid.get_mut(..n), duid.get(..n)) {
            d.copy_from_slice(s);
        }
        k.len = u8::try_from(n).unwrap_or(0);
        k
    }

    /// The client DUID.
    #[must_use]
    pub fn duid(&self) -> &[u8] {
        self.duid.get(..usize::from(self.len)).unwrap_or(&[])
    }

    /// IA kind.
    #[must_use]
    pub const fn kind(&self) -> IaKind {
        self.kind
    }

    /// IAID.
    #[must_use]
    pub const fn iaid(&self) -> u32 {
        self.iaid
    }

    fn hash(&self) -> u64 {
        let h = self.duid().iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
        });
        (h ^ u64::from(self.iaid) ^ u64::from(self.kind == IaKind::Pd))
            .wrapping_mul(0x0100_0000_01b3)
    }
}

/// Binding state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindingState {
    /// Advertised, waiting for the REQUEST.
    Advertised,
    /// Bound by a REPLY.
    Bound,
    /// Declined (addresses only), held out of use.
    Declined,
}

/// One binding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Binding {
    /// Key.
    pub key: Key6,
    /// Address (length 128) or prefix.
    pub value: (Ipv6Addr, u8),
    /// State.
    pub state: BindingState,
    /// End of the valid lifetime (or of the advertise/decline hold).
    pub expires: Duration,
}

/// One entry of the caller-provided binding table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BindingSlot {
    /// Never used.
    #[default]
    Empty,
    /// A binding.
    Used(Binding),
}

/// A binding event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event6 {
    /// Bound or extended.
    Bound {
        /// Kind.
        kind: IaKind,
        /// Address or prefix.
        value: (Ipv6Addr, u8),
        /// End of the valid lifetime.
        expires: Duration,
    },
    /// Released by the client.
    Released {
        /// Kind.
        kind: IaKind,
        /// Address or prefix.
        value: (Ipv6Addr, u8),
    },
    /// Declined by the client.
    Declined {
        /// The address.
        addr: Ipv6Addr,
    },
    /// Valid lifetime ran out.
    Expired {
        /// Kind.
        kind: IaKind,
        /// Address or prefix.
        value: (Ipv6Addr, u8),
    },
}

/// What [`Server6::poll_action`] hands out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Action6 {
    /// Send the first `len` bytes of `tx` back to the source of the request (from
    /// port 547); `relayed` says it is a Relay-reply for a relay agent.
    Transmit {
        /// Bytes written.
        len: usize,
        /// A Relay-reply (to the relay agent, port 547) rather than a client reply
        /// (port 546).
        relayed: bool,
    },
    /// A binding event.
    Event(Event6),
}

/// Counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats6 {
    /// Did not parse.
    pub malformed: u64,
    /// Discarded per section 16 (server id rules, missing client id) or unexpected.
    pub discarded: u64,
    /// Advertise messages.
    pub advertises: u64,
    /// Reply messages.
    pub replies: u64,
    /// IAs answered with `NoAddrsAvail` / `NoPrefixAvail`, or table full.
    pub exhausted: u64,
    /// Dropped replies or events.
    pub dropped: u64,
}

#[derive(Debug, Clone, Copy)]
struct IaOut {
    kind: IaKind,
    iaid: u32,
    value: Option<(Ipv6Addr, u8)>,
    lifetimes: (u32, u32),
    status: Option<StatusCode>,
}

#[derive(Debug, Clone, Copy)]
struct Hop {
    count: u8,
    link: Ipv6Addr,
    peer: Ipv6Addr,
    iface_len: u8,
    iface: [u8; IFACE_MAX],
}

#[derive(Debug, Clone, Copy)]
struct Pending6 {
    msg_type: MessageType,
    xid: u32,
    duid_len: u8,
    duid: [u8; DUID_MAX],
    ias: [Option<IaOut>; MAX_IA],
    status: Option<StatusCode>,
    rapid: bool,
    dns: bool,
    hops: [Option<Hop>; MAX_HOPS],
}

/// The DHCPv6 server (RFC 8415 section 18.3).
#[derive(Debug)]
pub struct Server6<'s, A: Assigner6> {
    cfg: Config6<'s>,
    assigner: A,
    table: &'s mut [BindingSlot],
    queue: [Option<Pending6>; QUEUE_CAP],
    events: [Option<Event6>; EVENT_CAP],
    next_expiry: Option<Duration>,
    stats: Stats6,
}

struct In6<'b> {
    msg_type: MessageType,
    xid: u32,
    opts: &'b [u8],
    duid: Option<&'b [u8]>,
    hops: [Option<Hop>; MAX_HOPS],
    link: Ipv6Addr,
    iface: Option<&'b [u8]>,
}

impl<'s, A: Assigner6> Server6<'s, A> {
    /// A server over `table` (cleared).
    ///
    /// # Errors
    /// [`UsageError::InvalidConfig`] for an empty table, a malformed server DUID or
    /// lifetimes out of order (T1 <= T2 <= preferred <= valid).
    pub fn new(
        cfg: Config6<'s>,
        assigner: A,
        table: &'s mut [BindingSlot],
    ) -> Result<Self, UsageError> {
        if table.is_empty() {
            return Err(UsageError::InvalidConfig("no binding storage"));
        }
        if Duid::parse(cfg.server_duid).is_err() {
            return Err(UsageError::InvalidConfig("server DUID malformed"));
        }
        if cfg.t1() > cfg.t2()
            || cfg.t2() > cfg.preferred_secs
            || cfg.preferred_secs > cfg.valid_secs
        {
            return Err(UsageError::InvalidConfig(
                "need T1 <= T2 <= preferred <= valid",
            ));
        }
        table.fill(BindingSlot::Empty);
        Ok(Self {
            cfg,
            assigner,
            table,
            queue: [None; QUEUE_CAP],
            events: [None; EVENT_CAP],
            next_expiry: None,
            stats: Stats6::default(),
        })
    }

    /// Counters.
    #[must_use]
    pub const fn stats(&self) -> &Stats6 {
        &self.stats
    }

    /// The assigner.
    #[must_use]
    pub const fn assigner(&self) -> &A {
        &self.assigner
    }

    /// All bindings.
    pub fn bindings(&self) -> impl Iterator<Item = &Binding> {
        self.table.iter().filter_map(|s| match s {
            BindingSlot::Used(b) => Some(b),
            BindingSlot::Empty => None,
        })
    }

    fn find(&self, key: &Key6) -> Option<usize> {
        let n = self.table.len();
        let s = usize::try_from(key.hash() % n as u64).unwrap_or(0);
        for k in 0..n {
            let i = (s + k) % n;
            match self.table.get(i)? {
                BindingSlot::Empty => return None,
                BindingSlot::Used(b) if b.key == *key => return Some(i),
                BindingSlot::Used(_) => {}
            }
        }
        None
    }

    fn get(&self, key: &Key6) -> Option<Binding> {
        match self.table.get(self.find(key)?)? {
            BindingSlot::Used(b) => Some(*b),
            BindingSlot::Empty => None,
        }
    }

    fn put(&mut self, b: Binding) -> bool {
        self.next_expiry = Some(self.next_expiry.map_or(b.expires, |e| e.min(b.expires)));
        let n = self.table.len();
        let at = self.find(&b.key).or_else(|| {
            let s = usize::try_from(b.key.hash() % n as u64).unwrap_or(0);
            (0..n)
                .map(|k| (s + k) % n)
                .find(|i| !matches!(self.table.get(*i), Some(BindingSlot::Used(_))))
        });
        match at.and_then(|i| self.table.get_mut(i)) {
            Some(slot) => {
                *slot = BindingSlot::Used(b);
                true
            }
            None => false,
        }
    }

    fn remove(&mut self, key: &Key6) -> Option<Binding> {
        let i = self.find(key)?;
        let BindingSlot::Used(b) = *self.table.get(i)? else {
            return None;
        };
        crate::table::remove(self.table, i);
        Some(b)
    }

    fn event(&mut self, e: Event6) {
        if let Some(s) = self.events.iter_mut().find(|s| s.is_none()) {
            *s = Some(e);
        } else {
            self.stats.dropped += 1;
        }
    }

    /// Handles one datagram received on port 547.
    ///
    /// # Errors
    /// [`ProtocolError::Malformed`] for bytes that do not parse,
    /// [`ProtocolError::Unexpected`] for server-to-client types, and
    /// [`ProtocolError::PeerMisbehaved`] for messages RFC 8415 section 16 says to
    /// discard (counted in [`Stats6::discarded`]).
    pub fn handle_packet(&mut self, now: Duration, bytes: &[u8]) -> Result<(), ProtocolError> {
        let r = self.handle_inner(now, bytes);
        match r {
            Err(ProtocolError::Malformed(_)) => self.stats.malformed += 1,
            Err(_) => self.stats.discarded += 1,
            Ok(()) => {}
        }
        r
    }

    fn unwrap_relays(bytes: &[u8]) -> Result<In6<'_>, ProtocolError> {
        let mut hops = [None; MAX_HOPS];
        let mut cur = bytes;
        let mut link = Ipv6Addr::UNSPECIFIED;
        let mut iface = None;
        let mut depth = 0;
        loop {
            let p = Packet::new_checked(cur).map_err(ProtocolError::Malformed)?;
            let r = Repr::parse(&p).map_err(ProtocolError::Malformed)?;
            let opts: &[u8] = match r.options {
                OptionList::Wire(b) => b,
                OptionList::List(_) => &[],
            };
            if r.msg_type != MessageType::RELAY_FORW {
                return Ok(In6 {
                    msg_type: r.msg_type,
                    xid: r.transaction_id(),
                    opts,
                    duid: Options::new(opts).find(OptionCode::CLIENT_ID),
                    hops,
                    link,
                    iface,
                });
            }
            let slot = hops
                .get_mut(depth)
                .ok_or(ProtocolError::PeerMisbehaved("too many relay hops"))?;
            let id = r.find(OptionCode::INTERFACE_ID);
            let mut h = Hop {
                count: p.hop_count(),
                link: p.link_address(),
                peer: p.peer_address(),
                iface_len: 0,
                iface: [0; IFACE_MAX],
            };
            if let Some(id) = id.filter(|i| i.len() <= IFACE_MAX) {
                if let Some(d) = h.iface.get_mut(..id.len()) {
                    d.copy_from_slice(id);
                }
                h.iface_len = u8::try_from(id.len()).unwrap_or(0);
            }
            *slot = Some(h);
            link = h.link;
            iface = id;
            depth += 1;
            cur =
                Options::new(opts)
                    .find(OptionCode::RELAY_MSG)
                    .ok_or(ProtocolError::Malformed(crate::ParseError::InvalidField(
                        "no relay message",
                    )))?;
        }
    }

    fn handle_inner(&mut self, now: Duration, bytes: &[u8]) -> Result<(), ProtocolError> {
        let m = Self::unwrap_relays(bytes)?;
        let sid = Options::new(m.opts).find(OptionCode::SERVER_ID);
        let ours = sid == Some(self.cfg.server_duid);
        // RFC 8415 section 16: which messages carry which identifiers.
        let (need_cid, sid_rule) = match m.msg_type {
            MessageType::SOLICIT | MessageType::CONFIRM | MessageType::REBIND => {
                (true, sid.is_none())
            }
            MessageType::REQUEST
            | MessageType::RENEW
            | MessageType::RELEASE
            | MessageType::DECLINE => (true, ours),
            MessageType::INFORMATION_REQUEST => (false, sid.is_none() || ours),
            _ => return Err(ProtocolError::Unexpected),
        };
        if !sid_rule {
            return Err(ProtocolError::PeerMisbehaved(
                "server identifier rule (section 16)",
            ));
        }
        let duid = match m.duid {
            Some(d) => Some(Duid::parse(d).map_err(ProtocolError::Malformed)?.as_bytes()),
            None if need_cid => return Err(ProtocolError::PeerMisbehaved("no client identifier")),
            None => None,
        };
        let rapid = m.msg_type == MessageType::SOLICIT
            && self.cfg.rapid_commit
            && Options::new(m.opts)
                .find(OptionCode::RAPID_COMMIT)
                .is_some();
        let mut out = Pending6 {
            msg_type: if m.msg_type == MessageType::SOLICIT && !rapid {
                MessageType::ADVERTISE
            } else {
                MessageType::REPLY
            },
            xid: m.xid,
            duid_len: 0,
            duid: [0; DUID_MAX],
            ias: [None; MAX_IA],
            status: None,
            rapid,
            dns: Options::new(m.opts)
                .find(OptionCode::ORO)
                .is_some_and(|o| o.chunks(2).any(|c| c == [0, 23])),
            hops: m.hops,
        };
        if let Some(d) = duid {
            let n = d.len().min(DUID_MAX);
            if let (Some(dst), Some(src)) = (out.duid.get_mut(..n), d.get(..n)) {
                dst.copy_from_slice(src);
            }
            out.duid_len = u8::try_from(n).unwrap_or(0);
        }
        if m.msg_type == MessageType::CONFIRM {
            // Section 18.3.3: Success if every address is on link, else NotOnLink;
            // no reply without addresses.
            let mut any = false;
            let mut all = true;
            for ia in ias(m.opts).filter(|(k, _)| *k == IaKind::Na) {
                for a in ia.1.addresses() {
                    any = true;
                    all &= self.assigner.on_link(a.addr);
                }
            }
            if !any {
                return Err(ProtocolError::PeerMisbehaved("CONFIRM without addresses"));
            }
            out.status = Some(if all {
                StatusCode::SUCCESS
            } else {
                StatusCode::NOT_ON_LINK
            });
        } else if let Some(duid) = duid.filter(|_| m.msg_type != MessageType::INFORMATION_REQUEST) {
            for (n, (kind, ia)) in ias(m.opts).take(MAX_IA).enumerate() {
                let r = self.one_ia(now, &m, duid, kind, &ia, rapid);
                if let Some(s) = out.ias.get_mut(n) {
                    *s = Some(r);
                }
            }
            if matches!(m.msg_type, MessageType::RELEASE | MessageType::DECLINE) {
                out.status = Some(StatusCode::SUCCESS);
            }
        }
        match out.msg_type {
            MessageType::ADVERTISE => self.stats.advertises += 1,
            _ => self.stats.replies += 1,
        }
        if let Some(s) = self.queue.iter_mut().find(|s| s.is_none()) {
            *s = Some(out);
        } else {
            self.stats.dropped += 1;
        }
        Ok(())
    }

    #[allow(
        clippy::too_many_lines,
        reason = "one match over the message types of RFC 8415 section 18.3"
    )]
    /// One IA of a SOLICIT, REQUEST, RENEW, REBIND, RELEASE or DECLINE
    /// (sections 18.3.1 to 18.3.8).
    fn one_ia(
        &mut self,
        now: Duration,
        m: &In6<'_>,
        duid: &[u8],
        kind: IaKind,
        ia: &Ia<'_>,
        rapid: bool,
    ) -> IaOut {
        let key = Key6::new(kind, ia.iaid, duid);
        let cur = self.get(&key).filter(|b| b.state != BindingState::Declined);
        let mut o = IaOut {
            kind,
            iaid: ia.iaid,
            value: None,
            lifetimes: (self.cfg.preferred_secs, self.cfg.valid_secs),
            status: None,
        };
        let valid_end = now + Duration::from_secs(u64::from(self.cfg.valid_secs));
        match m.msg_type {
            MessageType::SOLICIT | MessageType::REQUEST => {
                let value = if let Some(b) = cur {
                    Some(b.value)
                } else {
                    let hint = match kind {
                        IaKind::Na => ia.addresses().next().map(|a| (a.addr, 128)),
                        IaKind::Pd => ia.prefixes().next().map(|p| (p.prefix, p.prefix_len)),
                    };
                    let req = Assign6 {
                        kind,
                        duid,
                        iaid: ia.iaid,
                        hint,
                        link: m.link,
                        interface_id: m.iface,
                    };
                    self.assigner.assign(&req)
                };
                let Some(value) = value else {
                    self.stats.exhausted += 1;
                    o.status = Some(match kind {
                        IaKind::Na => StatusCode::NO_ADDRS_AVAIL,
                        IaKind::Pd => StatusCode::NO_PREFIX_AVAIL,
                    });
                    return o;
                };
                let bind = m.msg_type == MessageType::REQUEST || rapid;
                let (state, expires) = match cur {
                    _ if bind => (BindingState::Bound, valid_end),
                    Some(c) if c.state == BindingState::Bound => (c.state, c.expires),
                    _ => (BindingState::Advertised, now + self.cfg.advertise_hold),
                };
                let b = Binding {
                    key,
                    value,
                    state,
                    expires,
                };
                if !self.put(b) {
                    if cur.is_none() {
                        self.assigner.release(kind, value);
                    }
                    self.stats.exhausted += 1;
                    o.status = Some(StatusCode::NO_ADDRS_AVAIL);
                    return o;
                }
                if bind {
                    self.event(Event6::Bound {
                        kind,
                        value,
                        expires: b.expires,
                    });
                }
                o.value = Some(value);
            }
            MessageType::RENEW | MessageType::REBIND => {
                let Some(mut b) = cur.filter(|b| b.state == BindingState::Bound) else {
                    o.status = Some(StatusCode::NO_BINDING);
                    return o;
                };
                b.expires = valid_end;
                self.put(b);
                self.event(Event6::Bound {
                    kind,
                    value: b.value,
                    expires: b.expires,
                });
                o.value = Some(b.value);
            }
            MessageType::RELEASE => match self.remove(&key) {
                Some(b) => {
                    self.assigner.release(kind, b.value);
                    self.event(Event6::Released {
                        kind,
                        value: b.value,
                    });
                    o.lifetimes = (0, 0);
                }
                None => o.status = Some(StatusCode::NO_BINDING),
            },
            MessageType::DECLINE => match cur {
                Some(b) if kind == IaKind::Na => {
                    // the hold belongs to the address: re-key it (section 18.3.8)
                    self.remove(&key);
                    let mut marker = [0xffu8; 18];
                    if let Some(d) = marker.get_mut(2..) {
                        d.copy_from_slice(&b.value.0.octets());
                    }
                    let held = Binding {
                        key: Key6::new(IaKind::Na, u32::MAX, &marker),
                        value: b.value,
                        state: BindingState::Declined,
                        expires: valid_end,
                    };
                    if !self.put(held) {
                        self.assigner.release(kind, b.value);
                    }
                    self.event(Event6::Declined { addr: b.value.0 });
                }
                _ => o.status = Some(StatusCode::NO_BINDING),
            },
            _ => {}
        }
        o
    }

    /// Ends advertise holds, decline holds and bindings due at `now`.
    pub fn handle_timeout(&mut self, now: Duration) {
        if self.next_expiry.is_none_or(|t| t > now) {
            return;
        }
        let mut next: Option<Duration> = None;
        let mut i = 0;
        while i < self.table.len() {
            let Some(BindingSlot::Used(b)) = self.table.get(i).copied() else {
                i += 1;
                continue;
            };
            if b.expires <= now {
                // a removal shifts a later entry into slot i: look at i again
                crate::table::remove(self.table, i);
                self.assigner.release(b.key.kind, b.value);
                if b.state == BindingState::Bound {
                    self.event(Event6::Expired {
                        kind: b.key.kind,
                        value: b.value,
                    });
                }
            } else {
                next = Some(next.map_or(b.expires, |t| t.min(b.expires)));
                i += 1;
            }
        }
        self.next_expiry = next;
    }

    /// When [`Server6::handle_timeout`] should next run.
    #[must_use]
    pub const fn poll_timeout(&self) -> Option<Duration> {
        self.next_expiry
    }

    /// The next reply (written into `tx`) or event.
    #[must_use]
    pub fn poll_action(&mut self, _now: Duration, tx: &mut [u8]) -> Option<Action6> {
        while let Some(p) = self.queue.iter_mut().find_map(Option::take) {
            let mut w = OptionWriter::new(tx);
            if self.layer(&p, 0, &mut w).is_ok() {
                return Some(Action6::Transmit {
                    len: w.len(),
                    relayed: p.hops.first().is_some_and(Option::is_some),
                });
            }
            self.stats.dropped += 1;
        }
        self.events
            .iter_mut()
            .find_map(Option::take)
            .map(Action6::Event)
    }

    /// Writes relay layer `depth` (outermost first, section 19.3), then the reply.
    fn layer(&self, p: &Pending6, depth: usize, w: &mut OptionWriter<'_>) -> Result<(), EmitError> {
        if let Some(Some(h)) = p.hops.get(depth) {
            w.raw(&[MessageType::RELAY_REPL.0, h.count])?
                .raw(&h.link.octets())?
                .raw(&h.peer.octets())?;
            if h.iface_len > 0 {
                w.option(
                    OptionCode::INTERFACE_ID,
                    h.iface.get(..usize::from(h.iface_len)).unwrap_or(&[]),
                )?;
            }
            w.nested(OptionCode::RELAY_MSG, &[], |w| self.layer(p, depth + 1, w))?;
            return Ok(());
        }
        let [_, x0, x1, x2] = p.xid.to_be_bytes();
        w.raw(&[p.msg_type.0, x0, x1, x2])?;
        if p.duid_len > 0 {
            w.option(
                OptionCode::CLIENT_ID,
                p.duid.get(..usize::from(p.duid_len)).unwrap_or(&[]),
            )?;
        }
        w.option(OptionCode::SERVER_ID, self.cfg.server_duid)?;
        if let Some(s) = p.status {
            w.status(s, "")?;
        }
        for ia in p.ias.iter().flatten() {
            let (code, t1, t2) = match (ia.kind, ia.value.is_some() && ia.lifetimes.1 > 0) {
                (IaKind::Na, true) => (OptionCode::IA_NA, self.cfg.t1(), self.cfg.t2()),
                (IaKind::Pd, true) => (OptionCode::IA_PD, self.cfg.t1(), self.cfg.t2()),
                (IaKind::Na, false) => (OptionCode::IA_NA, 0, 0),
                (IaKind::Pd, false) => (OptionCode::IA_PD, 0, 0),
            };
            w.nested(code, &ia_head(ia.iaid, t1, t2), |w| {
                if let Some((v, len)) = ia.value {
                    let (pl, vl) = ia.lifetimes;
                    match ia.kind {
                        IaKind::Na => w.ia_addr(v, pl, vl)?,
                        IaKind::Pd => w.ia_prefix(v, len, pl, vl)?,
                    };
                }
                if let Some(s) = ia.status {
                    w.status(s, "")?;
                }
                Ok(())
            })?;
        }
        if p.rapid {
            w.option(OptionCode::RAPID_COMMIT, &[])?;
        }
        if p.dns {
            let mut d = [0u8; 32];
            let mut n = 0;
            for a in self.cfg.dns.iter().filter(|a| !a.is_unspecified()) {
                if let Some(s) = d.get_mut(n..n + 16) {
                    s.copy_from_slice(&a.octets());
                    n += 16;
                }
            }
            if n > 0 {
                w.option(OptionCode::DNS_SERVERS, d.get(..n).unwrap_or(&[]))?;
            }
        }
        Ok(())
    }
}

/// The IA_NA and IA_PD options of an option area, parsed.
fn ias(opts: &[u8]) -> impl Iterator<Item = (IaKind, Ia<'_>)> {
    Options::new(opts).map_while(Result::ok).filter_map(|o| {
        let kind = match o.code {
            OptionCode::IA_NA => IaKind::Na,
            OptionCode::IA_PD => IaKind::Pd,
            _ => return None,
        };
        Some((kind, Ia::parse(o.data).ok()?))
    })
}
