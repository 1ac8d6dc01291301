//! A sans-IO DHCPv4 server (RFC 2131 section 4.3), with rapid commit (RFC 4039),
//! relay agent information echo (RFC 3046 section 2.2), link selection (RFC 3527) and
//! server identifier override (RFC 5107).
//!
//! The server owns no socket, clock or heap: the caller hands it datagrams with
//! [`Server::handle_packet`], drains replies and lease events with
//! [`Server::poll_action`], and calls [`Server::handle_timeout`] at
//! [`Server::poll_timeout`]. Addresses come from an [`AddressSource`] (the shipped
//! bitmap [`Pool`], a RADIUS Framed-IP-Address, anything); leases live in
//! caller-provided [`LeaseSlot`]s, hashed by a binding key the caller chooses
//! ([`KeyBy`]).

use core::net::Ipv4Addr;
use core::time::Duration;

use super::options::{DhcpOption, Known, MessageType, OptionCode};
use super::packet::{FLAG_BROADCAST, Op, OptionList, Packet, Repr};
use super::relay::RelayAgentInfo;
use crate::error::{ProtocolError, UsageError};
use crate::pool::IndexPool;

/// Longest binding key kept (bytes, after a one-byte kind prefix). Longer client
/// identifiers or circuit IDs are truncated for the key (not on the wire).
pub const KEY_MAX: usize = 47;
/// Replies queued between [`Server::handle_packet`] and [`Server::poll_action`].
pub const QUEUE_CAP: usize = 4;
/// Lease events queued for [`Server::poll_action`]; more are counted and dropped.
pub const EVENT_CAP: usize = 16;
/// Key kind of the entries holding declined addresses (not a [`KeyBy`] kind).
const DECLINED_KIND: u8 = 0xff;
/// Longest client identifier echoed back (RFC 6842); longer ones are not echoed.
const CLIENT_ID_MAX: usize = 64;

/// Which request field identifies a subscriber (the binding key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyBy {
    /// `chaddr` (the client MAC).
    Chaddr,
    /// Option 61 when present, else `chaddr` (RFC 2131 section 4.2).
    ClientId,
    /// Option 82 circuit ID when relayed, else `chaddr`: one lease per access port
    /// (RFC 3046 section 3.1).
    CircuitId,
    /// Option 82 circuit ID and remote ID together, else `chaddr`.
    CircuitAndRemoteId,
}

/// A binding key: kind prefix and up to [`KEY_MAX`] bytes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Key {
    len: u8,
    bytes: [u8; KEY_MAX + 1],
}

impl core::fmt::Debug for Key {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Key({:02x?})", self.as_bytes())
    }
}

impl crate::table::Slot for LeaseSlot {
    const EMPTY: Self = Self::Empty;
    fn home(&self, n: usize) -> Option<usize> {
        match self {
            Self::Used(l) => usize::try_from(l.key.hash() % (n as u64)).ok(),
            Self::Empty => None,
        }
    }
}

impl Key {
    /// A key of `kind` (a caller-chosen tag) and `parts` concatenated. Material longer
    /// than [`KEY_MAX`] keeps its first `KEY_MAX - 8` bytes followed by a 64-bit FNV-1a
    /// digest of all of it, so long circuit IDs that share a prefix stay distinct.
    #[must_use]
    pub fn new(kind: u8, parts: &[&[u8]]) -> Self {
        let mut k = Self {
            len: 1,
            bytes: [0; KEY_MAX + 1],
        };
        k.bytes[0] = kind;
        let total: usize = parts.iter().map(|p| p.len()).sum();
        let keep = if total > KEY_MAX {
            KEY_MAX - 8
        } else {
            KEY_MAX
        };
        let mut at = 1usize;
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in parts.iter().flat_map(|p| p.iter()) {
            h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
            if at <= keep {
                if let Some(d) = k.bytes.get_mut(at) {
                    *d = *b;
                    at += 1;
                }
            }
        }
        if total > KEY_MAX {
            if let Some(d) = k.bytes.get_mut(at..at + 8) {
                d.copy_from_slice(&h.to_be_bytes());
                at += 8;
            }
        }
        k.len = u8::try_from(at).unwrap_or(u8::MAX);
        k
    }

    /// The key bytes (kind prefix first).
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or(&[])
    }

    fn hash(&self) -> u64 {
        // FNV-1a: not adversary-proof, but probing is bounded by the table size.
        self.as_bytes().iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
            (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
        })
    }
}

/// What the server knows about a request when it asks for an address.
#[derive(Debug, Clone, Copy)]
pub struct AllocRequest<'a> {
    /// The binding key.
    pub key: &'a Key,
    /// `chaddr` (first `hlen` bytes).
    pub chaddr: &'a [u8],
    /// The address the client asked for (option 50 or `ciaddr`).
    pub requested: Option<Ipv4Addr>,
    /// `giaddr`, or the link selection sub-option when present (RFC 3527 section 4).
    pub link: Ipv4Addr,
    /// Option 82, when relayed.
    pub relay: Option<RelayAgentInfo<'a>>,
}

/// Where addresses come from (a local pool, RADIUS Framed-IP-Address, ...).
pub trait AddressSource {
    /// An address for a new binding, honouring `req.requested` when it can; `None`
    /// when there is none (the request is then not answered, or refused).
    fn allocate(&mut self, req: &AllocRequest<'_>) -> Option<Ipv4Addr>;
    /// The binding holding `addr` ended (release, expiry, decline hold over).
    fn release(&mut self, addr: Ipv4Addr);
}

/// The shipped address pool: a contiguous range over a caller-provided bitmap.
#[derive(Debug)]
pub struct Pool<'s> {
    first: u32,
    idx: IndexPool<'s>,
}

impl<'s> Pool<'s> {
    /// Addresses `first ..= first + size - 1`, tracked in `bits` (`size.div_ceil(64)`
    /// words).
    ///
    /// # Errors
    /// [`UsageError::InvalidConfig`] for short storage, a zero size or a range past
    /// 255.255.255.255.
    pub fn new(first: Ipv4Addr, size: u32, bits: &'s mut [u64]) -> Result<Self, UsageError> {
        let f = u32::from(first);
        if f.checked_add(size.saturating_sub(1)).is_none() {
            return Err(UsageError::InvalidConfig("pool runs past 255.255.255.255"));
        }
        Ok(Self {
            first: f,
            idx: IndexPool::new(bits, size)?,
        })
    }

    fn index(&self, a: Ipv4Addr) -> Option<u32> {
        let i = u32::from(a).checked_sub(self.first)?;
        (i < self.idx.size()).then_some(i)
    }

    /// Whether `a` is in the range.
    #[must_use]
    pub fn contains(&self, a: Ipv4Addr) -> bool {
        self.index(a).is_some()
    }

    /// Addresses in use.
    #[must_use]
    pub const fn used(&self) -> u32 {
        self.idx.used()
    }
}

impl AddressSource for Pool<'_> {
    fn allocate(&mut self, req: &AllocRequest<'_>) -> Option<Ipv4Addr> {
        if let Some(i) = req.requested.and_then(|a| self.index(a)) {
            if self.idx.take(i) {
                return Some(Ipv4Addr::from(self.first.wrapping_add(i)));
            }
        }
        let i = self.idx.take_any()?;
        Some(Ipv4Addr::from(self.first.wrapping_add(i)))
    }

    fn release(&mut self, addr: Ipv4Addr) {
        if let Some(i) = self.index(addr) {
            self.idx.free(i);
        }
    }
}

/// Server configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// Server identifier, option 54 (RFC 2131 section 4.3.1); also the source address.
    pub server_id: Ipv4Addr,
    /// Lease time in seconds, option 51.
    pub lease_secs: u32,
    /// T1 in seconds, option 58; 0 = half the lease (RFC 2131 section 4.4.5).
    pub t1_secs: u32,
    /// T2 in seconds, option 59; 0 = 7/8 of the lease.
    pub t2_secs: u32,
    /// How long an offered address is held for the REQUEST.
    pub offer_hold: Duration,
    /// How long a declined address is kept out of use (RFC 2131 section 4.3.3).
    pub decline_hold: Duration,
    /// Subnet mask, option 1.
    pub subnet_mask: Option<Ipv4Addr>,
    /// Router, option 3.
    pub router: Option<Ipv4Addr>,
    /// DNS servers, option 6 (unspecified entries are skipped).
    pub dns: [Ipv4Addr; 2],
    /// The binding key.
    pub key_by: KeyBy,
    /// Answer a DISCOVER carrying option 80 with an ACK (RFC 4039 section 3).
    pub rapid_commit: bool,
}

impl Config {
    /// A configuration with an hour's lease, 10 s offer hold and defaults elsewhere.
    #[must_use]
    pub const fn new(server_id: Ipv4Addr) -> Self {
        Self {
            server_id,
            lease_secs: 3600,
            t1_secs: 0,
            t2_secs: 0,
            offer_hold: Duration::from_secs(10),
            decline_hold: Duration::from_secs(600),
            subnet_mask: None,
            router: None,
            dns: [Ipv4Addr::UNSPECIFIED; 2],
            key_by: KeyBy::Chaddr,
            rapid_commit: false,
        }
    }

    fn t1(&self) -> u32 {
        if self.t1_secs == 0 {
            self.lease_secs / 2
        } else {
            self.t1_secs
        }
    }

    fn t2(&self) -> u32 {
        if self.t2_secs == 0 {
            // 7/8 of the lease, without overflow
            self.lease_secs - self.lease_secs / 8
        } else {
            self.t2_secs
        }
    }
}

/// State of a lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseState {
    /// Offered, waiting for the REQUEST.
    Offered,
    /// Acknowledged.
    Bound,
    /// Declined by the client; held out of use until it expires.
    Declined,
}

/// One lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    /// Binding key.
    pub key: Key,
    /// Address.
    pub addr: Ipv4Addr,
    /// State.
    pub state: LeaseState,
    /// When the lease (or offer, or decline hold) ends.
    pub expires: Duration,
}

/// One entry of the caller-provided lease table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LeaseSlot {
    /// Never used.
    #[default]
    Empty,
    /// A lease.
    Used(Lease),
}

/// Where a reply goes (RFC 2131 section 4.1, "the server ... sends").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    /// To the relay agent at `giaddr`, UDP port 67.
    Relay(Ipv4Addr),
    /// Unicast to `ciaddr`, UDP port 68 (normal ARP/routing).
    Unicast(Ipv4Addr),
    /// Broadcast 255.255.255.255 (and Ethernet broadcast), port 68.
    Broadcast,
    /// Unicast to `yiaddr` at link address `mac` without ARP, port 68: the client
    /// has no address yet.
    ClientHw {
        /// `yiaddr`.
        ip: Ipv4Addr,
        /// `chaddr`.
        mac: [u8; 6],
    },
}

impl Destination {
    /// Destination IP address.
    #[must_use]
    pub const fn ip(&self) -> Ipv4Addr {
        match *self {
            Self::Relay(a) | Self::Unicast(a) | Self::ClientHw { ip: a, .. } => a,
            Self::Broadcast => Ipv4Addr::BROADCAST,
        }
    }

    /// Destination UDP port.
    #[must_use]
    pub const fn port(&self) -> u16 {
        match self {
            Self::Relay(_) => super::packet::SERVER_PORT,
            _ => super::packet::CLIENT_PORT,
        }
    }
}

/// A lease event for the integrator (accounting, routes, RADIUS).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A binding was acknowledged or extended until `expires`.
    Bound {
        /// The address.
        addr: Ipv4Addr,
        /// Lease end.
        expires: Duration,
    },
    /// The client released the address (RFC 2131 section 4.3.4).
    Released {
        /// The address.
        addr: Ipv4Addr,
    },
    /// The client declined the address (RFC 2131 section 4.3.3).
    Declined {
        /// The address.
        addr: Ipv4Addr,
    },
    /// A bound lease ran out.
    Expired {
        /// The address.
        addr: Ipv4Addr,
    },
}

/// What [`Server::poll_action`] hands out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Action {
    /// Send the first `len` bytes of `tx` from port 67 of `server_id` to `dst`.
    Transmit {
        /// Bytes written to `tx`.
        len: usize,
        /// Where to.
        dst: Destination,
    },
    /// A lease event.
    Event(Event),
}

/// Counters, one per outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    /// Requests that did not parse.
    pub malformed: u64,
    /// Requests ignored (wrong op, unexpected type, other server selected, no record).
    pub ignored: u64,
    /// OFFERs sent.
    pub offers: u64,
    /// ACKs sent.
    pub acks: u64,
    /// NAKs sent.
    pub naks: u64,
    /// No address available, or the lease table is full.
    pub exhausted: u64,
    /// Replies or events dropped because a queue was full or `tx` too small.
    pub dropped: u64,
}

#[derive(Debug, Clone, Copy)]
struct Pending {
    kind: MessageType,
    xid: u32,
    flags: u16,
    htype: u8,
    hlen: u8,
    chaddr: [u8; 16],
    ciaddr: Ipv4Addr,
    yiaddr: Ipv4Addr,
    giaddr: Ipv4Addr,
    server_id: Ipv4Addr,
    lease: bool,
    rapid: bool,
    client_id_len: u8,
    client_id: [u8; CLIENT_ID_MAX],
    relay_len: u8,
    relay: [u8; 255],
}

impl Pending {
    const EMPTY: Self = Self {
        kind: MessageType(0),
        xid: 0,
        flags: 0,
        htype: 0,
        hlen: 0,
        chaddr: [0; 16],
        ciaddr: Ipv4Addr::UNSPECIFIED,
        yiaddr: Ipv4Addr::UNSPECIFIED,
        giaddr: Ipv4Addr::UNSPECIFIED,
        server_id: Ipv4Addr::UNSPECIFIED,
        lease: false,
        rapid: false,
        client_id_len: 0,
        client_id: [0; CLIENT_ID_MAX],
        relay_len: 0,
        relay: [0; 255],
    };
}

/// The DHCPv4 server (RFC 2131 section 4.3).
#[derive(Debug)]
pub struct Server<'s, A: AddressSource> {
    cfg: Config,
    addrs: A,
    leases: &'s mut [LeaseSlot],
    /// Ring of pending replies, written and read in place (no moves of ~400 bytes).
    queue: [Pending; QUEUE_CAP],
    q_head: usize,
    q_len: usize,
    events: [Option<Event>; EVENT_CAP],
    next_expiry: Option<Duration>,
    stats: Stats,
}

impl<'s, A: AddressSource> Server<'s, A> {
    /// A server with configuration `cfg`, addresses from `addrs` and leases in
    /// `leases` (cleared).
    ///
    /// # Errors
    /// [`UsageError::InvalidConfig`] for an empty lease table, a zero lease time or
    /// T1 > T2 > lease out of order.
    pub fn new(cfg: Config, addrs: A, leases: &'s mut [LeaseSlot]) -> Result<Self, UsageError> {
        if leases.is_empty() {
            return Err(UsageError::InvalidConfig("no lease storage"));
        }
        if cfg.lease_secs == 0 || cfg.t1() > cfg.t2() || cfg.t2() > cfg.lease_secs {
            return Err(UsageError::InvalidConfig("need 0 < T1 <= T2 <= lease"));
        }
        leases.fill(LeaseSlot::Empty);
        Ok(Self {
            cfg,
            addrs,
            leases,
            queue: [Pending::EMPTY; QUEUE_CAP],
            q_head: 0,
            q_len: 0,
            events: [None; EVENT_CAP],
            next_expiry: None,
            stats: Stats::default(),
        })
    }

    /// The counters.
    #[must_use]
    pub const fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The address source (to inspect a pool).
    #[must_use]
    pub const fn addresses(&self) -> &A {
        &self.addrs
    }

    /// The configuration.
    #[must_use]
    pub const fn config(&self) -> &Config {
        &self.cfg
    }

    /// The lease of `key`, if any.
    #[must_use]
    pub fn lease(&self, key: &Key) -> Option<&Lease> {
        let i = self.find(key)?;
        match self.leases.get(i) {
            Some(LeaseSlot::Used(l)) => Some(l),
            _ => None,
        }
    }

    /// All leases.
    pub fn leases(&self) -> impl Iterator<Item = &Lease> {
        self.leases.iter().filter_map(|s| match s {
            LeaseSlot::Used(l) => Some(l),
            LeaseSlot::Empty => None,
        })
    }

    fn slot0(&self, key: &Key) -> usize {
        let n = self.leases.len() as u64;
        usize::try_from(key.hash() % n).unwrap_or(0)
    }

    fn find(&self, key: &Key) -> Option<usize> {
        let n = self.leases.len();
        let s = self.slot0(key);
        for k in 0..n {
            let i = (s + k) % n;
            match self.leases.get(i)? {
                LeaseSlot::Empty => return None,
                LeaseSlot::Used(l) if l.key == *key => return Some(i),
                LeaseSlot::Used(_) => {}
            }
        }
        None
    }

    fn insert(&mut self, lease: Lease) -> Option<usize> {
        if let Some(i) = self.find(&lease.key) {
            *self.leases.get_mut(i)? = LeaseSlot::Used(lease);
            self.note_expiry(lease.expires);
            return Some(i);
        }
        let n = self.leases.len();
        let s = self.slot0(&lease.key);
        for k in 0..n {
            let i = (s + k) % n;
            let slot = self.leases.get_mut(i)?;
            if !matches!(slot, LeaseSlot::Used(_)) {
                *slot = LeaseSlot::Used(lease);
                self.note_expiry(lease.expires);
                return Some(i);
            }
        }
        None
    }

    fn note_expiry(&mut self, t: Duration) {
        self.next_expiry = Some(self.next_expiry.map_or(t, |e| e.min(t)));
    }

    fn remove(&mut self, i: usize) -> Option<Lease> {
        let slot = self.leases.get_mut(i)?;
        let LeaseSlot::Used(l) = *slot else {
            return None;
        };
        crate::table::remove(self.leases, i);
        Some(l)
    }

    fn event(&mut self, e: Event) {
        if let Some(s) = self.events.iter_mut().find(|s| s.is_none()) {
            *s = Some(e);
        } else {
            self.stats.dropped += 1;
        }
    }

    fn key_of(&self, p: &Packet<&[u8]>, k: &Known<'_>, relay: Option<&RelayAgentInfo<'_>>) -> Key {
        let hw = p.chaddr();
        let ch = Key::new(0, &[hw]);
        match self.cfg.key_by {
            KeyBy::Chaddr => ch,
            KeyBy::ClientId => k.client_id.map_or(ch, |c| Key::new(1, &[c])),
            KeyBy::CircuitId => relay
                .and_then(RelayAgentInfo::circuit_id)
                .map_or(ch, |c| Key::new(2, &[c])),
            KeyBy::CircuitAndRemoteId => relay
                .and_then(|r| r.circuit_id().map(|c| (c, r.remote_id().unwrap_or(&[]))))
                .map_or(ch, |(c, r)| {
                    let l = [u8::try_from(c.len()).unwrap_or(0)];
                    Key::new(3, &[&l, c, r])
                }),
        }
    }

    /// Handles one datagram received on port 67 (RFC 2131 section 4.3). Replies and
    /// events are queued for [`Server::poll_action`].
    ///
    /// # Errors
    /// [`ProtocolError::Malformed`] for bytes that do not parse,
    /// [`ProtocolError::Unexpected`] for a BOOTREPLY or a server-to-client type.
    /// Requests the RFC says to ignore (another server selected, no record) return
    /// `Ok` and are counted in [`Stats::ignored`].
    pub fn handle_packet(&mut self, now: Duration, bytes: &[u8]) -> Result<(), ProtocolError> {
        let r = self.handle_inner(now, bytes);
        if let Err(e) = r {
            match e {
                ProtocolError::Malformed(_) => self.stats.malformed += 1,
                _ => self.stats.ignored += 1,
            }
        }
        r
    }

    fn handle_inner(&mut self, now: Duration, bytes: &[u8]) -> Result<(), ProtocolError> {
        let p = Packet::new_checked(bytes).map_err(ProtocolError::Malformed)?;
        if p.op() != Op::REQUEST {
            return Err(ProtocolError::Unexpected);
        }
        let k = Known::collect(p.all_options()).map_err(ProtocolError::Malformed)?;
        let relay = match k.relay_agent_info {
            Some(d) => Some(RelayAgentInfo::new_checked(d).map_err(ProtocolError::Malformed)?),
            None => None,
        };
        let key = self.key_of(&p, &k, relay.as_ref());
        // RFC 5107 section 4: the relay's override stands in for our identifier.
        let server_id = relay
            .as_ref()
            .and_then(RelayAgentInfo::server_id_override)
            .unwrap_or(self.cfg.server_id);
        let giaddr = p.giaddr();
        let req = Req {
            p: &p,
            k: &k,
            relay,
            key,
            server_id,
            link: relay
                .as_ref()
                .and_then(RelayAgentInfo::link_selection)
                .unwrap_or(giaddr),
        };
        match k.message_type {
            Some(MessageType::DISCOVER) => {
                self.discover(now, &req);
                Ok(())
            }
            Some(MessageType::REQUEST) => self.request(now, &req),
            Some(MessageType::DECLINE) => {
                self.decline(now, &req);
                Ok(())
            }
            Some(MessageType::RELEASE) => {
                self.release(&req);
                Ok(())
            }
            Some(MessageType::INFORM) => {
                // RFC 2131 section 4.3.5: ACK without lease time or yiaddr.
                self.reply(&req, MessageType::ACK, Ipv4Addr::UNSPECIFIED, false, false);
                Ok(())
            }
            None => Err(ProtocolError::PeerMisbehaved("no message type (BOOTP)")),
            Some(_) => Err(ProtocolError::Unexpected),
        }
    }

    fn alloc(&mut self, req: &Req<'_, '_>, requested: Option<Ipv4Addr>) -> Option<Ipv4Addr> {
        let a = AllocRequest {
            key: &req.key,
            chaddr: req.p.chaddr(),
            requested,
            link: req.link,
            relay: req.relay,
        };
        self.addrs.allocate(&a)
    }

    /// RFC 2131 section 4.3.1 (and RFC 4039 section 3 for rapid commit).
    fn discover(&mut self, now: Duration, req: &Req<'_, '_>) {
        let rapid = self.cfg.rapid_commit && req.k.rapid_commit;
        let existing = self.find(&req.key).and_then(|i| match self.leases.get(i) {
            Some(LeaseSlot::Used(l)) if l.state != LeaseState::Declined => Some(*l),
            _ => None,
        });
        let lease = if let Some(mut l) = existing {
            if rapid {
                l.state = LeaseState::Bound;
                l.expires = now + secs(self.cfg.lease_secs);
            } else if l.state == LeaseState::Offered {
                l.expires = now + self.cfg.offer_hold;
            }
            l
        } else {
            let Some(addr) = self.alloc(req, req.k.requested_ip) else {
                self.stats.exhausted += 1;
                return;
            };
            let (state, expires) = if rapid {
                (LeaseState::Bound, now + secs(self.cfg.lease_secs))
            } else {
                (LeaseState::Offered, now + self.cfg.offer_hold)
            };
            Lease {
                key: req.key,
                addr,
                state,
                expires,
            }
        };
        if self.insert(lease).is_none() {
            if existing.is_none() {
                self.addrs.release(lease.addr);
            }
            self.stats.exhausted += 1;
            return;
        }
        if rapid {
            self.event(Event::Bound {
                addr: lease.addr,
                expires: lease.expires,
            });
            self.reply(req, MessageType::ACK, lease.addr, true, true);
        } else {
            self.reply(req, MessageType::OFFER, lease.addr, true, false);
        }
    }

    /// RFC 2131 section 4.3.2: SELECTING, INIT-REBOOT, RENEWING/REBINDING.
    fn request(&mut self, now: Duration, req: &Req<'_, '_>) -> Result<(), ProtocolError> {
        let ciaddr = req.p.ciaddr();
        let slot = self.find(&req.key);
        let current = slot.and_then(|i| match self.leases.get(i) {
            Some(LeaseSlot::Used(l)) if l.state != LeaseState::Declined => Some(*l),
            _ => None,
        });
        let wanted = if let Some(sid) = req.k.server_id {
            // SELECTING: the client chose a server.
            if sid != req.server_id {
                // another server: our offer is void
                if let (Some(i), Some(l)) = (slot, current) {
                    if l.state == LeaseState::Offered {
                        self.remove(i);
                        self.addrs.release(l.addr);
                    }
                }
                self.stats.ignored += 1;
                return Ok(());
            }
            let Some(w) = req.k.requested_ip else {
                return Err(ProtocolError::PeerMisbehaved(
                    "REQUEST in SELECTING without requested IP",
                ));
            };
            w
        } else if let Some(w) = req.k.requested_ip {
            // INIT-REBOOT: ciaddr must be zero.
            if !ciaddr.is_unspecified() {
                return Err(ProtocolError::PeerMisbehaved(
                    "INIT-REBOOT REQUEST with ciaddr",
                ));
            }
            w
        } else if !ciaddr.is_unspecified() {
            // RENEWING (unicast) or REBINDING (broadcast)
            ciaddr
        } else {
            return Err(ProtocolError::PeerMisbehaved(
                "REQUEST without server id, requested IP or ciaddr",
            ));
        };
        let addr = match current {
            Some(l) if l.addr == wanted => wanted,
            Some(_) => {
                // the client asks for an address that is not its binding
                self.reply(req, MessageType::NAK, Ipv4Addr::UNSPECIFIED, false, false);
                return Ok(());
            }
            None => match self.alloc(req, Some(wanted)) {
                Some(a) if a == wanted => a,
                Some(other) => {
                    self.addrs.release(other);
                    self.reply(req, MessageType::NAK, Ipv4Addr::UNSPECIFIED, false, false);
                    return Ok(());
                }
                None => {
                    self.stats.exhausted += 1;
                    self.reply(req, MessageType::NAK, Ipv4Addr::UNSPECIFIED, false, false);
                    return Ok(());
                }
            },
        };
        let lease = Lease {
            key: req.key,
            addr,
            state: LeaseState::Bound,
            expires: now + secs(self.cfg.lease_secs),
        };
        if self.insert(lease).is_none() {
            if current.is_none() {
                self.addrs.release(addr);
            }
            self.stats.exhausted += 1;
            return Ok(());
        }
        self.event(Event::Bound {
            addr,
            expires: lease.expires,
        });
        self.reply(req, MessageType::ACK, addr, true, false);
        Ok(())
    }

    /// RFC 2131 section 4.3.3: the address is in use elsewhere; hold it out.
    fn decline(&mut self, now: Duration, req: &Req<'_, '_>) {
        if req.k.server_id != Some(req.server_id) {
            self.stats.ignored += 1;
            return;
        }
        let Some(i) = self.find(&req.key) else {
            self.stats.ignored += 1;
            return;
        };
        let Some(LeaseSlot::Used(l)) = self.leases.get(i).copied() else {
            return;
        };
        if Some(l.addr) != req.k.requested_ip || l.state == LeaseState::Declined {
            self.stats.ignored += 1;
            return;
        }
        // The hold belongs to the address, not to the client: re-key it so the
        // client's next DISCOVER gets a new lease without losing the hold.
        self.remove(i);
        let held = Lease {
            key: Key::new(DECLINED_KIND, &[&l.addr.octets()]),
            addr: l.addr,
            state: LeaseState::Declined,
            expires: now + self.cfg.decline_hold,
        };
        if self.insert(held).is_none() {
            // no room to hold it: better to hand it out again than to leak it
            self.addrs.release(l.addr);
        }
        self.event(Event::Declined { addr: l.addr });
    }

    /// RFC 2131 section 4.3.4.
    fn release(&mut self, req: &Req<'_, '_>) {
        if req.k.server_id != Some(req.server_id) {
            self.stats.ignored += 1;
            return;
        }
        let found = self.find(&req.key).and_then(|i| match self.leases.get(i) {
            Some(LeaseSlot::Used(l))
                if l.addr == req.p.ciaddr() && l.state == LeaseState::Bound =>
            {
                Some(i)
            }
            _ => None,
        });
        let Some(l) = found.and_then(|i| self.remove(i)) else {
            self.stats.ignored += 1;
            return;
        };
        self.addrs.release(l.addr);
        self.event(Event::Released { addr: l.addr });
    }

    fn reply(
        &mut self,
        req: &Req<'_, '_>,
        kind: MessageType,
        yiaddr: Ipv4Addr,
        lease: bool,
        rapid: bool,
    ) {
        if self.q_len >= QUEUE_CAP {
            self.stats.dropped += 1;
            return;
        }
        let at = (self.q_head + self.q_len) % QUEUE_CAP;
        let Some(slot) = self.queue.get_mut(at) else {
            return;
        };
        self.q_len += 1;
        let cid = req
            .k
            .client_id
            .filter(|c| c.len() <= CLIENT_ID_MAX)
            .unwrap_or(&[]);
        if let Some(d) = slot.client_id.get_mut(..cid.len()) {
            d.copy_from_slice(cid);
        }
        let rel = req.relay.map_or(&[][..], |r| r.as_bytes());
        if let Some(d) = slot.relay.get_mut(..rel.len()) {
            d.copy_from_slice(rel);
        }
        let p = req.p;
        slot.kind = kind;
        slot.xid = p.xid();
        slot.flags = p.flags();
        slot.htype = p.htype();
        slot.hlen = p.hlen();
        slot.chaddr = p.chaddr_raw();
        // RFC 2131 table 3: ciaddr is copied into ACKs to RENEWING/INFORM clients only
        slot.ciaddr = if kind == MessageType::ACK {
            p.ciaddr()
        } else {
            Ipv4Addr::UNSPECIFIED
        };
        slot.yiaddr = yiaddr;
        slot.giaddr = p.giaddr();
        slot.server_id = req.server_id;
        slot.lease = lease;
        slot.rapid = rapid;
        slot.client_id_len = u8::try_from(cid.len()).unwrap_or(0);
        slot.relay_len = u8::try_from(rel.len()).unwrap_or(0);
        match kind {
            MessageType::OFFER => self.stats.offers += 1,
            MessageType::NAK => self.stats.naks += 1,
            _ => self.stats.acks += 1,
        }
    }

    /// Expires offers, decline holds and bound leases due at `now`.
    pub fn handle_timeout(&mut self, now: Duration) {
        if self.next_expiry.is_none_or(|t| t > now) {
            return;
        }
        let mut next: Option<Duration> = None;
        let mut i = 0;
        while i < self.leases.len() {
            let Some(LeaseSlot::Used(l)) = self.leases.get(i).copied() else {
                i += 1;
                continue;
            };
            if l.expires <= now {
                // a removal shifts a later entry into slot i: look at i again
                self.remove(i);
                self.addrs.release(l.addr);
                if l.state == LeaseState::Bound {
                    self.event(Event::Expired { addr: l.addr });
                }
            } else {
                next = Some(next.map_or(l.expires, |t| t.min(l.expires)));
                i += 1;
            }
        }
        self.next_expiry = next;
    }

    /// When [`Server::handle_timeout`] should next run.
    #[must_use]
    pub const fn poll_timeout(&self) -> Option<Duration> {
        self.next_expiry
    }

    /// The next reply (written into `tx`) or lease event. A reply that does not fit
    /// `tx` is dropped and counted.
    #[must_use]
    pub fn poll_action(&mut self, _now: Duration, tx: &mut [u8]) -> Option<Action> {
        while self.q_len > 0 {
            let at = self.q_head;
            self.q_head = (self.q_head + 1) % QUEUE_CAP;
            self.q_len -= 1;
            if let Some(a) = self.queue.get(at).and_then(|p| self.write(p, tx)) {
                return Some(a);
            }
            self.stats.dropped += 1;
        }
        self.events
            .iter_mut()
            .find_map(Option::take)
            .map(Action::Event)
    }

    fn write(&self, p: &Pending, tx: &mut [u8]) -> Option<Action> {
        let c = &self.cfg;
        let sid = p.server_id.octets();
        let lease = c.lease_secs.to_be_bytes();
        let t1 = c.t1().to_be_bytes();
        let t2 = c.t2().to_be_bytes();
        let mask = c.subnet_mask.map(|a| a.octets());
        let router = c.router.map(|a| a.octets());
        let mut dns = [0u8; 8];
        let mut ndns = 0;
        for a in c.dns.iter().filter(|a| !a.is_unspecified()) {
            if let Some(d) = dns.get_mut(ndns..ndns + 4) {
                d.copy_from_slice(&a.octets());
                ndns += 4;
            }
        }
        let empty = DhcpOption {
            code: OptionCode::PAD,
            data: &[],
        };
        let mut opts = [empty; 12];
        let mut n = 0;
        let mut push = |code, data| {
            if let Some(s) = opts.get_mut(n) {
                *s = DhcpOption { code, data };
                n += 1;
            }
        };
        let kind = [p.kind.0];
        push(OptionCode::MESSAGE_TYPE, &kind[..]);
        push(OptionCode::SERVER_ID, &sid[..]);
        if p.kind != MessageType::NAK {
            if p.lease {
                push(OptionCode::LEASE_TIME, &lease[..]);
                push(OptionCode::RENEWAL_TIME, &t1[..]);
                push(OptionCode::REBINDING_TIME, &t2[..]);
            }
            if let Some(m) = mask.as_ref() {
                push(OptionCode::SUBNET_MASK, &m[..]);
            }
            if let Some(r) = router.as_ref() {
                push(OptionCode::ROUTER, &r[..]);
            }
            if ndns > 0 {
                push(OptionCode::DNS, dns.get(..ndns).unwrap_or(&[]));
            }
            if p.rapid {
                push(OptionCode::RAPID_COMMIT, &[]);
            }
        }
        if p.client_id_len > 0 {
            // RFC 6842 section 3: echo the client identifier.
            push(
                OptionCode::CLIENT_ID,
                p.client_id
                    .get(..usize::from(p.client_id_len))
                    .unwrap_or(&[]),
            );
        }
        if p.relay_len > 0 {
            // RFC 3046 section 2.2: echo option 82 last, unchanged.
            push(
                OptionCode::RELAY_AGENT_INFO,
                p.relay.get(..usize::from(p.relay_len)).unwrap_or(&[]),
            );
        }
        let relayed = !p.giaddr.is_unspecified();
        let nak = p.kind == MessageType::NAK;
        let flags = if nak && relayed {
            // RFC 2131 section 4.3.2: a relayed NAK asks the relay to broadcast.
            p.flags | FLAG_BROADCAST
        } else {
            p.flags
        };
        let r = Repr {
            op: Op::REPLY,
            htype: p.htype,
            hlen: p.hlen,
            hops: 0,
            xid: p.xid,
            secs: 0,
            flags,
            ciaddr: p.ciaddr,
            yiaddr: p.yiaddr,
            siaddr: Ipv4Addr::UNSPECIFIED,
            giaddr: p.giaddr,
            chaddr: p.chaddr,
            sname: &[],
            file: &[],
            options: OptionList::List(opts.get(..n).unwrap_or(&[])),
        };
        let len = r.emit(tx).ok()?;
        let dst = destination(p, flags);
        Some(Action::Transmit { len, dst })
    }
}

/// RFC 2131 section 4.1: where a reply goes.
fn destination(p: &Pending, flags: u16) -> Destination {
    // RFC 2131 section 4.1, the four cases in order.
    if !p.giaddr.is_unspecified() {
        Destination::Relay(p.giaddr)
    } else if p.kind == MessageType::NAK {
        Destination::Broadcast
    } else if !p.ciaddr.is_unspecified() {
        Destination::Unicast(p.ciaddr)
    } else if flags & FLAG_BROADCAST != 0 || p.htype != 1 || p.hlen != 6 {
        Destination::Broadcast
    } else {
        let mac = p.chaddr.first_chunk::<6>().copied().unwrap_or([0xff; 6]);
        Destination::ClientHw { ip: p.yiaddr, mac }
    }
}

struct Req<'p, 'b> {
    p: &'p Packet<&'b [u8]>,
    k: &'p Known<'b>,
    relay: Option<RelayAgentInfo<'b>>,
    key: Key,
    server_id: Ipv4Addr,
    link: Ipv4Addr,
}

fn secs(s: u32) -> Duration {
    Duration::from_secs(u64::from(s))
}
