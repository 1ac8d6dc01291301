//! The IPoE control plane of `bng`: DHCPv4 (RFC 2131) and DHCPv6 (RFC 8415) servers of
//! `bng-dhcp` behind one subscriber table, fed with the Ethernet frames the dataplane
//! punts (UDP 67 and 547), answering with Ethernet frames for the access port.
//!
//! - A subscriber is keyed by the relay agent's circuit-id (option 82 sub-option 1,
//!   RFC 3046 section 2.0; or the DHCPv6 Interface-Id of the innermost Relay-forward,
//!   RFC 8415 section 21.18) when relayed, else by its MAC and VLANs, so that the DHCPv4
//!   lease and the DHCPv6 bindings of one access port make one session. DHCPv4 leases
//!   themselves are keyed by `chaddr`: a relayed client RENEWs and RELEASEs by unicast,
//!   without the relay and so without option 82, and is found again by its `chaddr`. A
//!   second client on the same circuit gets its own lease and joins the session
//!   ([`Output::Changed`]).
//! - Before a subscriber's first DISCOVER/REQUEST (or Solicit/Request/Renew/Rebind/
//!   Confirm) reaches a server, it is authorized: [`Output::Authorize`] goes to the
//!   gateway's AAA (local users or RADIUS), the message is parked, and
//!   [`Ipoe::authorized`] brings the answer back (Framed-IP-Address, a delegated prefix,
//!   Session-Timeout). A rejected subscriber is ignored for [`REJECT_HOLD`].
//! - Requests through a relay (`giaddr` set) are answered to the relay on port 67
//!   (RFC 2131 section 4.1) with option 82 echoed (RFC 3046 section 2.2); relayed DHCPv6
//!   is answered with a Relay-reply to the relay on port 547 carrying the Interface-Id
//!   back (RFC 8415 sections 19.3 and 21.18).
//! - Lease events become session events: [`Output::Up`] when the first address or
//!   prefix is bound, [`Output::Changed`] when the set changes, [`Output::Down`] on the
//!   release, expiry, decline of the last one, on [`Ipoe::disconnect`] (CoA/Disconnect)
//!   and at Session-Timeout. The gateway installs and removes dataplane bindings from
//!   these.
//!
//! No clock, no socket: `now` comes in, frames and events go out, and
//! [`Ipoe::poll_timeout`] says when to call [`Ipoe::handle_timeout`].

use std::cell::Cell;
use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::rc::Rc;
use std::time::Duration;

use bng_dhcp::v4::server::{
    Action as Action4, AddressSource, AllocRequest, Config as Config4, Destination,
    Event as Event4, KeyBy, LeaseSlot, Pool as Pool4, Server as Server4,
};
use bng_dhcp::v4::{
    DhcpOption, Known, MessageType as Type4, OptionCode as Code4, Packet as Packet4,
};
use bng_dhcp::v4::{RelayAgentInfo, Repr as Repr4};
use bng_dhcp::v6::MessageType as Type6;
use bng_dhcp::v6::message::{
    Header as Header6, OptionList as List6, Packet as Packet6, Repr as Repr6,
};
use bng_dhcp::v6::options::{Dhcp6Option, Ia, OptionCode as Code6, Options as Options6, ia_head};
use bng_dhcp::v6::server::{
    Action6, Assign6, Assigner6, BindingSlot, Config6, Event6, IaKind, Pool6, Server6,
};

use crate::net::checksum;

pub mod service;
pub use service::IpoeCp;

/// How long a rejected subscriber's requests are ignored.
pub const REJECT_HOLD: Duration = Duration::from_secs(30);
/// How long an authorized subscriber without any binding is remembered.
pub const IDLE_HOLD: Duration = Duration::from_secs(120);
/// Longest a parked request waits for its authorization.
pub const AUTH_WAIT: Duration = Duration::from_secs(10);
/// Outputs queued for [`Ipoe::poll_output`]; more are counted and dropped.
pub const OUTPUT_CAP: usize = 4096;

const ETH_IPV4: u16 = 0x0800;
const ETH_IPV6: u16 = 0x86dd;
const UDP: u8 = 17;

/// IPv6 part of the IPoE configuration (RFC 8415 IA_NA and IA_PD).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ipv6Config {
    /// First IA_NA address.
    pub na_first: Ipv6Addr,
    /// IA_NA addresses (0: no IA_NA).
    pub na_count: u32,
    /// Base of the delegated prefixes.
    pub pd_base: Ipv6Addr,
    /// Delegated prefix length.
    pub pd_len: u8,
    /// Delegated prefixes (0: no IA_PD).
    pub pd_count: u32,
    /// Preferred lifetime, seconds.
    pub preferred_secs: u32,
    /// Valid lifetime, seconds.
    pub valid_secs: u32,
    /// DNS servers (option 23), up to two.
    pub dns: Vec<Ipv6Addr>,
}

/// The IPoE configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpoeConfig {
    /// The gateway's MAC on the access port (source of every reply).
    pub access_mac: [u8; 6],
    /// DHCPv4 server identifier (option 54) and source address of replies.
    pub server_id: Ipv4Addr,
    /// First address of the local pool.
    pub pool_first: Ipv4Addr,
    /// Addresses in the local pool.
    pub pool_size: u32,
    /// Subnet mask (option 1).
    pub subnet_mask: Ipv4Addr,
    /// Router (option 3); `None`: the server identifier. Behind a relay, the relay's
    /// address on the subscriber side.
    pub router: Option<Ipv4Addr>,
    /// DNS servers (option 6), up to two.
    pub dns: Vec<Ipv4Addr>,
    /// Lease time, seconds.
    pub lease_secs: u32,
    /// Key subscribers by option 82 circuit-id when relayed (else by MAC and VLANs).
    pub key_by_circuit: bool,
    /// Answer DISCOVERs with option 80 by an ACK (RFC 4039).
    pub rapid_commit: bool,
    /// Subscribers at most (more are refused, counted in [`Stats::refused`]).
    pub max_subscribers: usize,
    /// DHCPv6, when served.
    pub v6: Option<Ipv6Config>,
}

impl IpoeConfig {
    /// A configuration with a one-hour lease, circuit-id keys, up to 64k subscribers and
    /// no DHCPv6.
    #[must_use]
    pub fn new(
        access_mac: [u8; 6],
        server_id: Ipv4Addr,
        pool_first: Ipv4Addr,
        pool_size: u32,
    ) -> Self {
        Self {
            access_mac,
            server_id,
            pool_first,
            pool_size,
            subnet_mask: Ipv4Addr::new(255, 255, 0, 0),
            router: None,
            dns: Vec::new(),
            lease_secs: 3600,
            key_by_circuit: true,
            rapid_commit: false,
            max_subscribers: 65536,
            v6: None,
        }
    }
}

/// Who a subscriber is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SubscriberKey {
    /// The relay's circuit-id (DHCPv4 option 82) or Interface-Id (DHCPv6).
    Circuit(Vec<u8>),
    /// MAC and VLAN IDs (outer first, 0 where absent) of a directly attached client.
    Mac {
        /// The client MAC (`chaddr`, or the source of a DHCPv6 frame).
        mac: [u8; 6],
        /// VLAN IDs.
        vlans: [u16; 2],
    },
    /// The DHCPv6 DUID of a client relayed without Interface-Id.
    Duid(Vec<u8>),
}

/// What AAA answered for a subscriber.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Authorization {
    /// Framed-IP-Address (RFC 2865 section 5.8) instead of the local pool.
    pub framed_ip: Option<Ipv4Addr>,
    /// Delegated-IPv6-Prefix (RFC 4818) instead of the local prefixes.
    pub delegated_prefix: Option<(Ipv6Addr, u8)>,
    /// Session-Timeout (RFC 2865 section 5.27): the session ends this long after it
    /// comes up.
    pub session_timeout: Option<Duration>,
}

/// A request for [`Ipoe::authorized`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthRequest {
    /// Pass back to [`Ipoe::authorized`].
    pub token: u64,
    /// The session handle (also in [`Session::id`]).
    pub session: u32,
    /// The subscriber.
    pub key: SubscriberKey,
    /// A user name for AAA: the circuit-id when printable, else its hex, else the MAC
    /// (`aa:bb:cc:dd:ee:ff`).
    pub username: String,
    /// Client MAC.
    pub mac: [u8; 6],
    /// Option 82 circuit-id.
    pub circuit_id: Option<Vec<u8>>,
    /// Option 82 remote-id (RFC 3046 section 2.0, sub-option 2).
    pub remote_id: Option<Vec<u8>>,
}

/// A subscriber session as the rest of the gateway sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Handle, unique while the gateway runs (non-zero).
    pub id: u32,
    /// Key.
    pub key: SubscriberKey,
    /// Client MAC (`chaddr`; the relay's MAC for a DHCPv6-only relayed subscriber).
    pub mac: [u8; 6],
    /// VLAN IDs of its frames, outer first (0: none).
    pub vlans: [u16; 2],
    /// The MAC its frames come from and go to: its own, or the relay's.
    pub next_hop_mac: [u8; 6],
    /// The relay's `giaddr`, when relayed.
    pub relay: Option<Ipv4Addr>,
    /// The DHCPv6 relay's address (the source of its Relay-forward, RFC 8415 section
    /// 19.1), when DHCPv6 came through a relay: the next hop of the IA_NA address and
    /// the delegated prefix, reached at `next_hop_mac`.
    pub relay6: Option<Ipv6Addr>,
    /// Option 82 circuit-id.
    pub circuit_id: Option<Vec<u8>>,
    /// Option 82 remote-id.
    pub remote_id: Option<Vec<u8>>,
    /// The AAA user name.
    pub username: String,
    /// DHCPv4 address.
    pub ipv4: Option<Ipv4Addr>,
    /// DHCPv6 IA_NA address.
    pub ipv6: Option<Ipv6Addr>,
    /// DHCPv6 delegated prefix.
    pub delegated: Option<(Ipv6Addr, u8)>,
}

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DownReason {
    /// The client released its last binding.
    Released,
    /// The client declined its address.
    Declined,
    /// The last lease ran out.
    Expired,
    /// [`Ipoe::disconnect`] (`CoA` Disconnect-Request, operator).
    Admin,
    /// Session-Timeout reached.
    SessionTimeout,
}

/// What [`Ipoe::poll_output`] hands out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Send this Ethernet frame out of the access port.
    Frame(Vec<u8>),
    /// Ask AAA, answer with [`Ipoe::authorized`].
    Authorize(AuthRequest),
    /// The session's first address or prefix is bound: install it in the dataplane.
    Up(Session),
    /// Its addresses changed (one more bound, or one gone while others remain).
    Changed(Session),
    /// The session ended: remove it from the dataplane, send accounting Stop.
    Down(Session, DownReason),
}

/// Counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Frames that were not DHCP over UDP/IPv4 or IPv6 to our ports, or did not parse.
    pub malformed: u64,
    /// Requests parked for authorization.
    pub auth_requests: u64,
    /// Requests dropped: rejected subscribers, a parked request replaced, or no answer
    /// within [`AUTH_WAIT`].
    pub auth_dropped: u64,
    /// New subscribers refused ([`IpoeConfig::max_subscribers`]).
    pub refused: u64,
    /// Outputs dropped ([`OUTPUT_CAP`]).
    pub dropped: u64,
    /// Sessions that came up.
    pub up: u64,
    /// Sessions that went down.
    pub down: u64,
}

/// Where the server's bitmaps and lease tables live (caller-owned, so an [`Ipoe`]
/// borrows them for its lifetime).
#[derive(Debug)]
pub struct Storage {
    bits4: Vec<u64>,
    leases4: Vec<LeaseSlot>,
    na_bits: Vec<u64>,
    pd_bits: Vec<u64>,
    bindings6: Vec<BindingSlot>,
    duid: Vec<u8>,
}

impl Storage {
    /// Storage sized for `cfg`.
    #[must_use]
    pub fn new(cfg: &IpoeConfig) -> Self {
        let words = |n: u32| usize::try_from(n.div_ceil(64)).unwrap_or(0).max(1);
        let slots = usize::try_from(cfg.pool_size)
            .unwrap_or(usize::MAX)
            .saturating_mul(2)
            .clamp(64, 1 << 20);
        let (na, pd, b6) = cfg.v6.as_ref().map_or((1, 1, 1), |v| {
            let n = usize::try_from(v.na_count.saturating_add(v.pd_count)).unwrap_or(usize::MAX);
            (
                words(v.na_count),
                words(v.pd_count),
                n.saturating_mul(2).clamp(64, 1 << 18),
            )
        });
        let m = cfg.access_mac;
        Self {
            bits4: vec![0; words(cfg.pool_size)],
            leases4: vec![LeaseSlot::Empty; slots],
            na_bits: vec![0; na],
            pd_bits: vec![0; pd],
            bindings6: vec![BindingSlot::Empty; b6],
            // DUID-LL (RFC 8415 section 11.4) from the access MAC
            duid: vec![0, 3, 0, 1, m[0], m[1], m[2], m[3], m[4], m[5]],
        }
    }
}

/// Errors of [`Ipoe::new`]: which setting is wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfigError(pub &'static str);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ipoe: {}", self.0)
    }
}

impl std::error::Error for ConfigError {}

/// The local pool, or the address AAA gave the subscriber being served.
#[derive(Debug)]
struct Addrs4<'s> {
    pool: Pool4<'s>,
    /// Framed-IP-Address of the request being handled (set around
    /// `Server::handle_packet`, which owns this source).
    framed: Rc<Cell<Option<Ipv4Addr>>>,
    /// Framed addresses outside the pool in use.
    outside: HashSet<Ipv4Addr>,
}

impl AddressSource for Addrs4<'_> {
    fn allocate(&mut self, req: &AllocRequest<'_>) -> Option<Ipv4Addr> {
        match self.framed.get() {
            Some(f) if self.pool.contains(f) => {
                let r = AllocRequest {
                    requested: Some(f),
                    ..*req
                };
                let got = self.pool.allocate(&r)?;
                if got == f {
                    Some(f)
                } else {
                    self.pool.release(got);
                    None
                }
            }
            Some(f) => self.outside.insert(f).then_some(f),
            None => self.pool.allocate(req),
        }
    }

    fn release(&mut self, addr: Ipv4Addr) {
        if !self.outside.remove(&addr) {
            self.pool.release(addr);
        }
    }
}

/// The local prefixes, or the one AAA delegated (`framed_pd`, set around each request).
/// Also the PPPoE control plane's assigner for DHCPv6 over PPP ([`Addrs6::framed_only`]).
#[derive(Debug)]
pub(crate) struct Addrs6<'s> {
    pool: Pool6<'s>,
    framed_pd: Rc<Cell<Option<(Ipv6Addr, u8)>>>,
    outside: HashSet<(Ipv6Addr, u8)>,
}

impl Addrs6<'_> {
    /// No local pool: only the prefix in `framed_pd` is handed out (IA_PD); IA_NA gets
    /// `NoAddrsAvail`.
    pub(crate) fn framed_only(framed_pd: Rc<Cell<Option<(Ipv6Addr, u8)>>>) -> Self {
        Self {
            pool: Pool6::new(),
            framed_pd,
            outside: HashSet::new(),
        }
    }
}

impl Assigner6 for Addrs6<'_> {
    fn assign(&mut self, req: &Assign6<'_>) -> Option<(Ipv6Addr, u8)> {
        match (req.kind, self.framed_pd.get()) {
            (IaKind::Pd, Some(p)) => self.outside.insert(p).then_some(p),
            _ => self.pool.assign(req),
        }
    }

    fn release(&mut self, kind: IaKind, value: (Ipv6Addr, u8)) {
        if !self.outside.remove(&value) {
            self.pool.release(kind, value);
        }
    }

    fn on_link(&self, addr: Ipv6Addr) -> bool {
        self.pool.on_link(addr)
    }
}

/// A DHCPv6 message's subscriber key, its client message and the client DUID.
type Keyed6<'b> = (SubscriberKey, Packet6<&'b [u8]>, Option<&'b [u8]>);

/// What a received frame's layers said.
#[derive(Debug, Clone, Copy)]
struct L2 {
    src: [u8; 6],
    /// (TPID, TCI) of up to two tags, outer first; TPID 0 = none.
    tags: [(u16, u16); 2],
}

impl L2 {
    fn vlans(&self) -> [u16; 2] {
        self.tags
            .map(|(tpid, tci)| if tpid == 0 { 0 } else { tci & 0x0fff })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Auth {
    Pending { token: u64, since: Duration },
    Accepted,
    Rejected { until: Duration },
}

/// A request parked until its subscriber is authorized.
#[derive(Debug, Clone)]
enum Parked {
    V4 {
        l2: L2,
        payload: Vec<u8>,
    },
    V6 {
        l2: L2,
        src: Ipv6Addr,
        port: u16,
        payload: Vec<u8>,
    },
}

#[derive(Debug, Clone)]
struct Sub {
    s: Session,
    auth: Auth,
    authz: Authorization,
    tags: [(u16, u16); 2],
    parked: Option<Parked>,
    /// When it was created or last lost its bindings (for [`IDLE_HOLD`]).
    idle_since: Duration,
    /// Session-Timeout deadline.
    deadline: Option<Duration>,
    /// What is needed to release its bindings for it ([`Ipoe::disconnect`]).
    chaddr: [u8; 16],
    relay_info: Option<Vec<u8>>,
    duid: Option<Vec<u8>>,
    iaid_na: Option<u32>,
    iaid_pd: Option<u32>,
}

impl Sub {
    fn bound(&self) -> bool {
        self.s.ipv4.is_some() || self.s.ipv6.is_some() || self.s.delegated.is_some()
    }
}

/// The IPoE control plane.
#[derive(Debug)]
pub struct Ipoe<'s> {
    cfg: IpoeConfig,
    v4: Server4<'s, Addrs4<'s>>,
    v6: Option<Server6<'s, Addrs6<'s>>>,
    server_ll: Ipv6Addr,
    server_duid: Vec<u8>,
    framed4: Rc<Cell<Option<Ipv4Addr>>>,
    framed6: Rc<Cell<Option<(Ipv6Addr, u8)>>>,
    subs: HashMap<SubscriberKey, Sub>,
    by_id: HashMap<u32, SubscriberKey>,
    by_token: HashMap<u64, SubscriberKey>,
    by_v4: HashMap<Ipv4Addr, SubscriberKey>,
    by_v6: HashMap<(Ipv6Addr, u8), SubscriberKey>,
    /// chaddr -> circuit-keyed subscriber, for requests that come without option 82.
    by_chaddr: HashMap<[u8; 6], SubscriberKey>,
    next_id: u32,
    next_token: u64,
    out: VecDeque<Output>,
    tx: Vec<u8>,
    stats: Stats,
}

/// An IPv6 link-local address from a MAC (modified EUI-64, RFC 4291 appendix A).
#[must_use]
pub fn link_local(mac: [u8; 6]) -> Ipv6Addr {
    let [a, b, c, d, e, f] = mac;
    Ipv6Addr::new(
        0xfe80,
        0,
        0,
        0,
        u16::from_be_bytes([a ^ 2, b]),
        u16::from_be_bytes([c, 0xff]),
        u16::from_be_bytes([0xfe, d]),
        u16::from_be_bytes([e, f]),
    )
}

pub(crate) fn mac_text(m: &[u8]) -> String {
    let mut s = String::new();
    for (i, b) in m.iter().enumerate() {
        if i > 0 {
            s.push(':');
        }
        let _ = write!(s, "{b:02x}");
    }
    s
}

fn username(circuit: Option<&[u8]>, mac: [u8; 6]) -> String {
    match circuit {
        Some(c) if !c.is_empty() && c.iter().all(u8::is_ascii_graphic) => {
            String::from_utf8_lossy(c).into_owned()
        }
        Some(c) if !c.is_empty() => c.iter().fold(String::new(), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        }),
        _ => mac_text(&mac),
    }
}

impl<'s> Ipoe<'s> {
    /// The control plane for `cfg` over `storage` (see [`Storage::new`]).
    ///
    /// # Errors
    /// [`ConfigError`] naming the setting the DHCP servers refuse.
    pub fn new(cfg: IpoeConfig, storage: &'s mut Storage) -> Result<Self, ConfigError> {
        let mut c4 = Config4::new(cfg.server_id);
        c4.lease_secs = cfg.lease_secs;
        c4.subnet_mask = Some(cfg.subnet_mask);
        c4.router = Some(cfg.router.unwrap_or(cfg.server_id));
        for (d, s) in c4.dns.iter_mut().zip(&cfg.dns) {
            *d = *s;
        }
        // Leases are keyed by chaddr even when sessions are keyed by circuit-id: a
        // RENEWING client unicasts to us without the relay, so without option 82
        // (RFC 3046 section 2.1 covers what the relay forwards only); the session
        // table maps its chaddr back to the circuit.
        c4.key_by = KeyBy::Chaddr;
        c4.rapid_commit = cfg.rapid_commit;
        let Storage {
            bits4,
            leases4,
            na_bits,
            pd_bits,
            bindings6,
            duid,
        } = storage;
        let pool = Pool4::new(cfg.pool_first, cfg.pool_size, bits4).map_err(|_| {
            ConfigError("pool_first/pool_size: an empty pool or one past 255.255.255.255")
        })?;
        let server_duid = duid.clone();
        let framed4 = Rc::new(Cell::new(None));
        let framed6 = Rc::new(Cell::new(None));
        let addrs = Addrs4 {
            pool,
            framed: Rc::clone(&framed4),
            outside: HashSet::new(),
        };
        let v4 = Server4::new(c4, addrs, leases4)
            .map_err(|_| ConfigError("lease_secs: must be above 0"))?;
        let v6 = match &cfg.v6 {
            None => None,
            Some(v) => {
                let mut pool = Pool6::new();
                if v.na_count > 0 {
                    pool = pool
                        .with_addresses(v.na_first, v.na_count, na_bits)
                        .map_err(|_| ConfigError("v6.na_count: too large"))?;
                }
                if v.pd_count > 0 {
                    pool = pool
                        .with_prefixes(v.pd_base, v.pd_len, v.pd_count, pd_bits)
                        .map_err(|_| ConfigError("v6.pd_len: must be in 1..=128"))?;
                }
                let mut c6 = Config6::new(duid);
                c6.preferred_secs = v.preferred_secs;
                c6.valid_secs = v.valid_secs;
                c6.rapid_commit = cfg.rapid_commit;
                for (d, s) in c6.dns.iter_mut().zip(&v.dns) {
                    *d = *s;
                }
                let a = Addrs6 {
                    pool,
                    framed_pd: Rc::clone(&framed6),
                    outside: HashSet::new(),
                };
                Some(Server6::new(c6, a, bindings6).map_err(|_| {
                    ConfigError("v6.preferred_secs/valid_secs: need preferred <= valid")
                })?)
            }
        };
        Ok(Self {
            server_ll: link_local(cfg.access_mac),
            server_duid,
            framed4,
            framed6,
            cfg,
            v4,
            v6,
            subs: HashMap::new(),
            by_id: HashMap::new(),
            by_token: HashMap::new(),
            by_v4: HashMap::new(),
            by_v6: HashMap::new(),
            by_chaddr: HashMap::new(),
            next_id: 1,
            next_token: 1,
            out: VecDeque::new(),
            tx: vec![0; 1500],
            stats: Stats::default(),
        })
    }

    /// The counters.
    #[must_use]
    pub const fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The DHCPv4 server's counters.
    #[must_use]
    pub const fn dhcp4_stats(&self) -> &bng_dhcp::v4::server::Stats {
        self.v4.stats()
    }

    /// The DHCPv6 server's counters, when served.
    #[must_use]
    pub fn dhcp6_stats(&self) -> Option<&bng_dhcp::v6::server::Stats6> {
        self.v6.as_ref().map(Server6::stats)
    }

    /// The configuration.
    #[must_use]
    pub const fn config(&self) -> &IpoeConfig {
        &self.cfg
    }

    /// Sessions with at least one binding.
    pub fn sessions(&self) -> impl Iterator<Item = &Session> {
        self.subs.values().filter(|s| s.bound()).map(|s| &s.s)
    }

    /// The session of handle `id`.
    #[must_use]
    pub fn session(&self, id: u32) -> Option<&Session> {
        self.by_id
            .get(&id)
            .and_then(|k| self.subs.get(k))
            .map(|s| &s.s)
    }

    /// The next frame to send or event for the gateway.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    fn push(&mut self, o: Output) {
        if self.out.len() >= OUTPUT_CAP {
            self.stats.dropped += 1;
        } else {
            if matches!(o, Output::Up(_)) {
                self.stats.up += 1;
            }
            if matches!(o, Output::Down(..)) {
                self.stats.down += 1;
            }
            self.out.push_back(o);
        }
    }

    /// Handles one Ethernet frame punted from the access port: DHCPv4 to UDP port 67
    /// or DHCPv6 to UDP port 547 (other frames are counted as malformed).
    pub fn handle_frame(&mut self, now: Duration, frame: &[u8]) {
        let Some((l2, ethertype, l3)) = parse_eth(frame) else {
            self.stats.malformed += 1;
            return;
        };
        match ethertype {
            ETH_IPV4 => match parse_udp4(l3) {
                Some((67, _, payload)) => self.dhcp4(now, l2, payload),
                _ => self.stats.malformed += 1,
            },
            ETH_IPV6 => match parse_udp6(l3) {
                Some((547, src, sport, payload)) if self.v6.is_some() => {
                    self.dhcp6(now, l2, src, sport, payload);
                }
                _ => self.stats.malformed += 1,
            },
            _ => self.stats.malformed += 1,
        }
    }

    /// The subscriber key and what AAA is told about a DHCPv4 request.
    fn key4(
        &self,
        l2: &L2,
        p: &Packet4<&[u8]>,
        ra: Option<&RelayAgentInfo<'_>>,
    ) -> (SubscriberKey, [u8; 6]) {
        let mac = p.chaddr().first_chunk::<6>().copied().unwrap_or_default();
        let circuit = ra.and_then(RelayAgentInfo::circuit_id);
        let key = match circuit {
            Some(c) if self.cfg.key_by_circuit => SubscriberKey::Circuit(c.to_vec()),
            // a unicast RENEW/RELEASE of a relayed client comes without option 82
            None if p.giaddr().is_unspecified() && self.by_chaddr.contains_key(&mac) => self
                .by_chaddr
                .get(&mac)
                .cloned()
                .unwrap_or(SubscriberKey::Mac {
                    mac,
                    vlans: l2.vlans(),
                }),
            _ => SubscriberKey::Mac {
                mac,
                vlans: l2.vlans(),
            },
        };
        (key, mac)
    }

    /// RFC 2131 section 4.3 via the `bng-dhcp` server, after authorization.
    fn dhcp4(&mut self, now: Duration, l2: L2, payload: &[u8]) {
        let Ok(p) = Packet4::new_checked(payload) else {
            self.stats.malformed += 1;
            return;
        };
        let Ok(k) = Known::collect(p.all_options()) else {
            self.stats.malformed += 1;
            return;
        };
        let ra = match k.relay_agent_info.map(RelayAgentInfo::new_checked) {
            Some(Ok(r)) => Some(r),
            Some(Err(_)) => {
                self.stats.malformed += 1;
                return;
            }
            None => None,
        };
        let (key, mac) = self.key4(&l2, &p, ra.as_ref());
        let needs_auth = matches!(k.message_type, Some(Type4::DISCOVER | Type4::REQUEST));
        if needs_auth {
            let giaddr = p.giaddr();
            let Some(sub) = self.sub_for(now, &key, mac, &l2) else {
                return;
            };
            // what a relay said is refreshed with every relayed request (a unicast
            // renewal of a relayed client keeps it)
            let relayed = !giaddr.is_unspecified() || ra.is_some();
            if relayed || matches!(key, SubscriberKey::Mac { .. }) {
                sub.s.relay = (!giaddr.is_unspecified()).then_some(giaddr);
                sub.s.next_hop_mac = l2.src;
                sub.relay_info = k.relay_agent_info.map(<[u8]>::to_vec);
                sub.s.circuit_id = ra
                    .as_ref()
                    .and_then(RelayAgentInfo::circuit_id)
                    .map(<[u8]>::to_vec);
                sub.s.remote_id = ra
                    .as_ref()
                    .and_then(RelayAgentInfo::remote_id)
                    .map(<[u8]>::to_vec);
            }
            sub.s.mac = mac;
            sub.chaddr = p.chaddr_raw();
            if matches!(key, SubscriberKey::Circuit(_)) {
                self.by_chaddr.insert(mac, key.clone());
            }
            let Some(sub) = self.subs.get_mut(&key) else {
                return;
            };
            if sub.s.username.is_empty() {
                sub.s.username = username(sub.s.circuit_id.as_deref(), mac);
            }
            if !self.gate(
                now,
                &key,
                Parked::V4 {
                    l2,
                    payload: payload.to_vec(),
                },
            ) {
                return;
            }
        }
        self.serve4(now, &key, l2, payload);
    }

    /// Finds or creates the subscriber of `key` (`None`: refused, table full).
    fn sub_for(
        &mut self,
        now: Duration,
        key: &SubscriberKey,
        mac: [u8; 6],
        l2: &L2,
    ) -> Option<&mut Sub> {
        if !self.subs.contains_key(key) {
            if self.subs.len() >= self.cfg.max_subscribers {
                self.stats.refused += 1;
                return None;
            }
            let id = self.next_id;
            self.next_id = self.next_id.wrapping_add(1).max(1);
            let s = Session {
                id,
                key: key.clone(),
                mac,
                vlans: l2.vlans(),
                next_hop_mac: l2.src,
                relay: None,
                relay6: None,
                circuit_id: None,
                remote_id: None,
                username: String::new(),
                ipv4: None,
                ipv6: None,
                delegated: None,
            };
            self.by_id.insert(id, key.clone());
            self.subs.insert(
                key.clone(),
                Sub {
                    s,
                    auth: Auth::Pending {
                        token: 0,
                        since: now,
                    },
                    authz: Authorization::default(),
                    tags: l2.tags,
                    parked: None,
                    idle_since: now,
                    deadline: None,
                    chaddr: [0; 16],
                    relay_info: None,
                    duid: None,
                    iaid_na: None,
                    iaid_pd: None,
                },
            );
        }
        let sub = self.subs.get_mut(key)?;
        sub.tags = l2.tags;
        sub.s.vlans = l2.vlans();
        Some(sub)
    }

    /// Whether the request may go to a server now; otherwise parks it (and asks AAA
    /// once) or drops it (rejected).
    fn gate(&mut self, now: Duration, key: &SubscriberKey, parked: Parked) -> bool {
        let Some(sub) = self.subs.get_mut(key) else {
            return false;
        };
        match sub.auth {
            Auth::Accepted => true,
            Auth::Rejected { until } if now < until => {
                self.stats.auth_dropped += 1;
                false
            }
            Auth::Pending { token, .. } if token != 0 => {
                // one request waits; a retransmission replaces it
                if sub.parked.replace(parked).is_some() {
                    self.stats.auth_dropped += 1;
                }
                false
            }
            Auth::Pending { .. } | Auth::Rejected { .. } => {
                let token = self.next_token;
                self.next_token = self.next_token.wrapping_add(1).max(1);
                sub.auth = Auth::Pending { token, since: now };
                sub.parked = Some(parked);
                let req = AuthRequest {
                    token,
                    session: sub.s.id,
                    key: key.clone(),
                    username: sub.s.username.clone(),
                    mac: sub.s.mac,
                    circuit_id: sub.s.circuit_id.clone(),
                    remote_id: sub.s.remote_id.clone(),
                };
                self.by_token.insert(token, key.clone());
                self.stats.auth_requests += 1;
                self.push(Output::Authorize(req));
                false
            }
        }
    }

    /// AAA's answer to [`Output::Authorize`] `token`: `Some` accepts (and serves the
    /// parked request), `None` rejects. An unknown or stale token is ignored.
    pub fn authorized(&mut self, now: Duration, token: u64, answer: Option<Authorization>) {
        let Some(key) = self.by_token.remove(&token) else {
            return;
        };
        let Some(sub) = self.subs.get_mut(&key) else {
            return;
        };
        if !matches!(sub.auth, Auth::Pending { token: t, .. } if t == token) {
            return;
        }
        let parked = sub.parked.take();
        if let Some(a) = answer {
            sub.auth = Auth::Accepted;
            sub.authz = a;
            match parked {
                Some(Parked::V4 { l2, payload }) => self.serve4(now, &key, l2, &payload),
                Some(Parked::V6 {
                    l2,
                    src,
                    port,
                    payload,
                }) => self.serve6(now, &key, l2, src, port, &payload),
                None => {}
            }
        } else {
            sub.auth = Auth::Rejected {
                until: now + REJECT_HOLD,
            };
            if parked.is_some() {
                self.stats.auth_dropped += 1;
            }
        }
    }

    fn serve4(&mut self, now: Duration, key: &SubscriberKey, l2: L2, payload: &[u8]) {
        let framed = self.subs.get(key).and_then(|s| s.authz.framed_ip);
        self.framed4.set(framed);
        let _ = self.v4.handle_packet(now, payload);
        self.framed4.set(None);
        self.drain4(now, Some((key, l2)));
    }

    /// Replies of the DHCPv4 server become frames; lease events session events.
    fn drain4(&mut self, now: Duration, req: Option<(&SubscriberKey, L2)>) {
        let mut tx = std::mem::take(&mut self.tx);
        while let Some(a) = self.v4.poll_action(now, &mut tx) {
            match a {
                Action4::Transmit { len, dst } => {
                    let Some((_, l2)) = req else { continue };
                    if let Some(reply) = tx.get(..len) {
                        let f = self.frame4(&l2, dst, reply);
                        self.push(Output::Frame(f));
                    }
                }
                Action4::Event(Event4::Bound { addr, .. }) => {
                    if let Some((key, _)) = req {
                        self.bind4(now, key, addr);
                    }
                }
                Action4::Event(Event4::Released { addr }) => {
                    self.unbind4(now, addr, DownReason::Released);
                }
                Action4::Event(Event4::Declined { addr }) => {
                    self.unbind4(now, addr, DownReason::Declined);
                }
                Action4::Event(Event4::Expired { addr }) => {
                    self.unbind4(now, addr, DownReason::Expired);
                }
                _ => {}
            }
        }
        self.tx = tx;
    }

    fn bind4(&mut self, now: Duration, key: &SubscriberKey, addr: Ipv4Addr) {
        let Some(sub) = self.subs.get_mut(key) else {
            return;
        };
        if sub.s.ipv4 == Some(addr) {
            return; // a renewal
        }
        let was_up = sub.bound();
        if let Some(o) = sub.s.ipv4.replace(addr) {
            self.by_v4.remove(&o);
        }
        self.by_v4.insert(addr, key.clone());
        self.after_bind(now, key, was_up);
    }

    /// Subscriber `key` got an address or prefix: up with its first one (its
    /// Session-Timeout starts), changed with the others.
    fn after_bind(&mut self, now: Duration, key: &SubscriberKey, was_up: bool) {
        let Some(sub) = self.subs.get_mut(key) else {
            return;
        };
        if !was_up {
            sub.deadline = sub.authz.session_timeout.map(|t| now + t);
        }
        let snap = sub.s.clone();
        self.push(if was_up {
            Output::Changed(snap)
        } else {
            Output::Up(snap)
        });
    }

    fn unbind4(&mut self, now: Duration, addr: Ipv4Addr, why: DownReason) {
        let Some(key) = self.by_v4.remove(&addr) else {
            return;
        };
        if let Some(sub) = self.subs.get_mut(&key) {
            sub.s.ipv4 = None;
        }
        self.after_unbind(now, &key, why);
    }

    fn after_unbind(&mut self, now: Duration, key: &SubscriberKey, why: DownReason) {
        let Some(sub) = self.subs.get_mut(key) else {
            return;
        };
        let snap = sub.s.clone();
        if sub.bound() {
            self.push(Output::Changed(snap));
        } else {
            sub.idle_since = now;
            sub.deadline = None;
            // the next session of this subscriber is authorized afresh
            sub.auth = Auth::Pending {
                token: 0,
                since: now,
            };
            self.push(Output::Down(snap, why));
        }
    }

    /// Frames a DHCPv4 reply for `dst` (RFC 2131 section 4.1), tagged like the request.
    fn frame4(&self, l2: &L2, dst: Destination, reply: &[u8]) -> Vec<u8> {
        let (dmac, dip) = match dst {
            Destination::Broadcast => ([0xff; 6], Ipv4Addr::BROADCAST),
            Destination::ClientHw { ip, mac } => (mac, ip),
            // the relay or the renewing client is the frame's sender
            Destination::Relay(ip) | Destination::Unicast(ip) => (l2.src, ip),
        };
        let src = self.cfg.server_id;
        let mut f = eth_head(dmac, self.cfg.access_mac, l2.tags, ETH_IPV4);
        let udp_len = 8 + reply.len();
        let mut ip = [0u8; 20];
        ip[0] = 0x45;
        ip[1] = 0x10;
        ip[2..4].copy_from_slice(&len16(20 + udp_len));
        ip[8] = 64;
        ip[9] = UDP;
        ip[12..16].copy_from_slice(&src.octets());
        ip[16..20].copy_from_slice(&dip.octets());
        let c = checksum(&[&ip]);
        ip[10..12].copy_from_slice(&c.to_be_bytes());
        f.extend_from_slice(&ip);
        let mut udp = [0u8; 8];
        udp[0..2].copy_from_slice(&67u16.to_be_bytes());
        udp[2..4].copy_from_slice(&dst.port().to_be_bytes());
        udp[4..6].copy_from_slice(&len16(udp_len));
        let mut pseudo = [0u8; 12];
        pseudo[0..4].copy_from_slice(&src.octets());
        pseudo[4..8].copy_from_slice(&dip.octets());
        pseudo[9] = UDP;
        pseudo[10..12].copy_from_slice(&len16(udp_len));
        let c = match checksum(&[&pseudo, &udp, reply]) {
            0 => 0xffff,
            c => c,
        };
        udp[6..8].copy_from_slice(&c.to_be_bytes());
        f.extend_from_slice(&udp);
        f.extend_from_slice(reply);
        f
    }

    /// The subscriber key of a DHCPv6 message (RFC 8415 sections 9 and 21.18), the
    /// client message inside any relay layers, and the client DUID.
    fn key6<'b>(&self, l2: &L2, payload: &'b [u8]) -> Option<Keyed6<'b>> {
        let mut p = Packet6::new_checked(payload).ok()?;
        Repr6::parse(&p).ok()?;
        let mut iface: Option<&'b [u8]> = None;
        let mut relayed = false;
        let mut bytes: &'b [u8] = payload;
        // Repr6::parse checked the depth; walk it again to reach the client message
        while p.msg_type().is_relay() {
            relayed = true;
            let opts = Options6::new(bytes.get(bng_dhcp::v6::message::RELAY_HEADER_LEN..)?);
            if let Some(i) = opts.clone().find(Code6::INTERFACE_ID) {
                iface = Some(i); // the innermost relay's wins
            }
            bytes = opts.find(Code6::RELAY_MSG)?;
            p = Packet6::new_checked(bytes).ok()?;
        }
        let duid = Options6::new(bytes.get(4..)?).find(Code6::CLIENT_ID);
        let key = match (iface, relayed) {
            (Some(i), _) if self.cfg.key_by_circuit => SubscriberKey::Circuit(i.to_vec()),
            (_, true) => SubscriberKey::Duid(duid?.to_vec()),
            (_, false) => SubscriberKey::Mac {
                mac: l2.src,
                vlans: l2.vlans(),
            },
        };
        Some((key, p, duid))
    }

    /// RFC 8415 section 18.3 via the `bng-dhcp` server, after authorization.
    fn dhcp6(&mut self, now: Duration, l2: L2, src: Ipv6Addr, sport: u16, payload: &[u8]) {
        let Some((key, inner, duid)) = self.key6(&l2, payload) else {
            self.stats.malformed += 1;
            return;
        };
        let t = inner.msg_type();
        let needs_auth = matches!(
            t,
            Type6::SOLICIT | Type6::REQUEST | Type6::RENEW | Type6::REBIND | Type6::CONFIRM
        );
        let (iaid_na, iaid_pd) = iaids(inner.options_raw());
        if needs_auth {
            let Some(sub) = self.sub_for(now, &key, l2.src, &l2) else {
                return;
            };
            sub.s.next_hop_mac = l2.src;
            if Packet6::new_checked(payload).is_ok_and(|p| p.msg_type().is_relay()) {
                sub.s.relay6 = Some(src);
            }
            if sub.duid.is_none() {
                sub.duid = duid.map(<[u8]>::to_vec);
            }
            sub.iaid_na = iaid_na.or(sub.iaid_na);
            sub.iaid_pd = iaid_pd.or(sub.iaid_pd);
            if sub.s.username.is_empty() {
                let c = match &key {
                    SubscriberKey::Circuit(c) => Some(c.as_slice()),
                    _ => None,
                };
                sub.s.username = username(c, l2.src);
                sub.s.circuit_id = c.map(<[u8]>::to_vec);
            }
            if !self.gate(
                now,
                &key,
                Parked::V6 {
                    l2,
                    src,
                    port: sport,
                    payload: payload.to_vec(),
                },
            ) {
                return;
            }
        }
        self.serve6(now, &key, l2, src, sport, payload);
    }

    fn serve6(
        &mut self,
        now: Duration,
        key: &SubscriberKey,
        l2: L2,
        src: Ipv6Addr,
        sport: u16,
        payload: &[u8],
    ) {
        let framed = self.subs.get(key).and_then(|s| s.authz.delegated_prefix);
        let Some(v6) = self.v6.as_mut() else { return };
        self.framed6.set(framed);
        let _ = v6.handle_packet(now, payload);
        self.framed6.set(None);
        self.drain6(now, Some((key, l2, src, sport)));
    }

    fn drain6(&mut self, now: Duration, req: Option<(&SubscriberKey, L2, Ipv6Addr, u16)>) {
        let mut tx = std::mem::take(&mut self.tx);
        while let Some(a) = self.v6.as_mut().and_then(|v| v.poll_action(now, &mut tx)) {
            match a {
                Action6::Transmit { len, .. } => {
                    let Some((_, l2, src, sport)) = req else {
                        continue;
                    };
                    if let Some(reply) = tx.get(..len) {
                        // RFC 8415 section 18.3: back to the source address and port
                        let f = self.frame6(&l2, src, sport, reply);
                        self.push(Output::Frame(f));
                    }
                }
                Action6::Event(Event6::Bound { kind, value, .. }) => {
                    if let Some((key, ..)) = req {
                        self.bind6(now, key, kind, value);
                    }
                }
                Action6::Event(Event6::Released { value, .. }) => {
                    self.unbind6(now, value, DownReason::Released);
                }
                Action6::Event(Event6::Expired { value, .. }) => {
                    self.unbind6(now, value, DownReason::Expired);
                }
                Action6::Event(Event6::Declined { addr }) => {
                    self.unbind6(now, (addr, 128), DownReason::Declined);
                }
                _ => {}
            }
        }
        self.tx = tx;
    }

    fn bind6(&mut self, now: Duration, key: &SubscriberKey, kind: IaKind, value: (Ipv6Addr, u8)) {
        let Some(sub) = self.subs.get_mut(key) else {
            return;
        };
        let slot_old = match kind {
            IaKind::Na => sub.s.ipv6.map(|a| (a, 128)),
            IaKind::Pd => sub.s.delegated,
        };
        if slot_old == Some(value) {
            return;
        }
        let was_up = sub.bound();
        match kind {
            IaKind::Na => sub.s.ipv6 = Some(value.0),
            IaKind::Pd => sub.s.delegated = Some(value),
        }
        if let Some(o) = slot_old {
            self.by_v6.remove(&o);
        }
        self.by_v6.insert(value, key.clone());
        self.after_bind(now, key, was_up);
    }

    fn unbind6(&mut self, now: Duration, value: (Ipv6Addr, u8), why: DownReason) {
        let Some(key) = self.by_v6.remove(&value) else {
            return;
        };
        if let Some(sub) = self.subs.get_mut(&key) {
            if sub.s.ipv6.map(|a| (a, 128)) == Some(value) {
                sub.s.ipv6 = None;
            }
            if sub.s.delegated == Some(value) {
                sub.s.delegated = None;
            }
        }
        self.after_unbind(now, &key, why);
    }

    fn frame6(&self, l2: &L2, dst: Ipv6Addr, dport: u16, reply: &[u8]) -> Vec<u8> {
        let mut f = eth_head(l2.src, self.cfg.access_mac, l2.tags, ETH_IPV6);
        f.extend_from_slice(&udp6_packet(self.server_ll, dst, dport, reply));
        f
    }

    /// Ends session `id` (`CoA` Disconnect-Request, RFC 5176; operator): its bindings
    /// are released in the servers as if the client had sent RELEASE (RFC 2131
    /// section 4.3.4) and Release (RFC 8415 section 18.3.7), and [`Output::Down`]
    /// follows with [`DownReason::Admin`]. The client learns it when it renews (NAK,
    /// or `NoBinding`). Whether the session existed.
    pub fn disconnect(&mut self, now: Duration, id: u32) -> bool {
        self.end(now, id, DownReason::Admin)
    }

    fn end(&mut self, now: Duration, id: u32, why: DownReason) -> bool {
        let Some(key) = self.by_id.get(&id).cloned() else {
            return false;
        };
        let Some(sub) = self.subs.get(&key).cloned() else {
            return false;
        };
        if !sub.bound() {
            return false;
        }
        if let Some(addr) = sub.s.ipv4 {
            let mut buf = [0u8; 600];
            let sid = self.cfg.server_id.octets();
            let mut opts = vec![
                DhcpOption {
                    code: Code4::MESSAGE_TYPE,
                    data: &[Type4::RELEASE.0],
                },
                DhcpOption {
                    code: Code4::SERVER_ID,
                    data: &sid,
                },
            ];
            if let Some(ri) = &sub.relay_info {
                opts.push(DhcpOption {
                    code: Code4::RELAY_AGENT_INFO,
                    data: ri,
                });
            }
            let mut r = Repr4::request(0, [0; 6], &opts);
            r.chaddr = sub.chaddr;
            r.ciaddr = addr;
            r.giaddr = sub.s.relay.unwrap_or(Ipv4Addr::UNSPECIFIED);
            if let Ok(n) = r.emit(&mut buf) {
                let _ = self.v4.handle_packet(now, buf.get(..n).unwrap_or(&[]));
            }
        }
        if let (Some(duid), Some(v6)) = (&sub.duid, self.v6.as_mut()) {
            if let Some(msg) = release6(duid, &sub, &self.server_duid) {
                let _ = v6.handle_packet(now, &msg);
            }
        }
        // the servers' events name the reason Released; this one is ours
        let mut tx = std::mem::take(&mut self.tx);
        while let Some(a) = self.v4.poll_action(now, &mut tx) {
            if let Action4::Event(Event4::Released { addr }) = a {
                if let Some(k) = self.by_v4.remove(&addr) {
                    if let Some(s) = self.subs.get_mut(&k) {
                        s.s.ipv4 = None;
                    }
                }
            }
        }
        while let Some(a) = self.v6.as_mut().and_then(|v| v.poll_action(now, &mut tx)) {
            if let Action6::Event(Event6::Released { value, .. }) = a {
                self.by_v6.remove(&value);
            }
        }
        self.tx = tx;
        // whatever a server did not hold any more goes too
        if let Some(s) = self.subs.get_mut(&key) {
            if let Some(a) = s.s.ipv4.take() {
                self.by_v4.remove(&a);
            }
            if let Some(a) = s.s.ipv6.take() {
                self.by_v6.remove(&(a, 128));
            }
            if let Some(p) = s.s.delegated.take() {
                self.by_v6.remove(&p);
            }
        }
        self.after_unbind(now, &key, why);
        true
    }

    /// Expires leases, bindings, parked requests, idle subscribers and
    /// Session-Timeouts due at `now`.
    pub fn handle_timeout(&mut self, now: Duration) {
        self.v4.handle_timeout(now);
        self.drain4(now, None);
        if let Some(v6) = self.v6.as_mut() {
            v6.handle_timeout(now);
        }
        self.drain6(now, None);
        let timed_out: Vec<u32> = self
            .subs
            .values()
            .filter(|s| s.deadline.is_some_and(|d| d <= now) && s.bound())
            .map(|s| s.s.id)
            .collect();
        for id in timed_out {
            self.end(now, id, DownReason::SessionTimeout);
        }
        let mut gone = Vec::new();
        for (k, s) in &mut self.subs {
            if let Auth::Pending { token, since } = s.auth {
                if token != 0 && since + AUTH_WAIT <= now {
                    // AAA never answered: the client retransmits, we ask again
                    self.by_token.remove(&token);
                    s.auth = Auth::Pending { token: 0, since };
                    if s.parked.take().is_some() {
                        self.stats.auth_dropped += 1;
                    }
                }
            }
            let waiting = matches!(s.auth, Auth::Pending { token, .. } if token != 0);
            if !s.bound() && !waiting && s.idle_since + IDLE_HOLD <= now {
                gone.push((k.clone(), s.s.id));
            }
        }
        for (k, id) in gone {
            self.subs.remove(&k);
            self.by_id.remove(&id);
            self.by_chaddr.retain(|_, v| *v != k);
        }
    }

    /// When [`Ipoe::handle_timeout`] should run next.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Duration> {
        let subs = self.subs.values().filter_map(|s| {
            let d = s.deadline.filter(|_| s.bound());
            let w = match s.auth {
                Auth::Pending { token, since } if token != 0 => Some(since + AUTH_WAIT),
                _ => None,
            };
            let i = (!s.bound()).then_some(s.idle_since + IDLE_HOLD);
            [d, w, i].into_iter().flatten().min()
        });
        [
            self.v4.poll_timeout(),
            self.v6.as_ref().and_then(Server6::poll_timeout),
        ]
        .into_iter()
        .flatten()
        .chain(subs)
        .min()
    }
}

/// IAIDs of the first IA_NA and IA_PD of a client message's options.
fn iaids(opts_raw: &[u8]) -> (Option<u32>, Option<u32>) {
    let o = Options6::new(opts_raw);
    let id = |c| {
        o.clone()
            .find(c)
            .and_then(|d| Ia::parse(d).ok())
            .map(|ia| ia.iaid)
    };
    (id(Code6::IA_NA), id(Code6::IA_PD))
}

/// A Release (RFC 8415 section 18.2.7) of everything `sub` holds, as its client would
/// send it, to end the bindings from our side.
fn release6(duid: &[u8], sub: &Sub, server_duid: &[u8]) -> Option<Vec<u8>> {
    let mut na = Vec::new();
    if let (Some(iaid), Some(a)) = (sub.iaid_na, sub.s.ipv6) {
        na.extend_from_slice(&ia_head(iaid, 0, 0));
        na.extend_from_slice(&5u16.to_be_bytes());
        na.extend_from_slice(&24u16.to_be_bytes());
        na.extend_from_slice(&a.octets());
        na.extend_from_slice(&[0; 8]);
    }
    let mut pd = Vec::new();
    if let (Some(iaid), Some((p, l))) = (sub.iaid_pd, sub.s.delegated) {
        pd.extend_from_slice(&ia_head(iaid, 0, 0));
        pd.extend_from_slice(&26u16.to_be_bytes());
        pd.extend_from_slice(&25u16.to_be_bytes());
        pd.extend_from_slice(&[0; 8]);
        pd.push(l);
        pd.extend_from_slice(&p.octets());
    }
    let mut opts = vec![
        Dhcp6Option {
            code: Code6::CLIENT_ID,
            data: duid,
        },
        Dhcp6Option {
            code: Code6::SERVER_ID,
            data: server_duid,
        },
    ];
    if !na.is_empty() {
        opts.push(Dhcp6Option {
            code: Code6::IA_NA,
            data: &na,
        });
    }
    if !pd.is_empty() {
        opts.push(Dhcp6Option {
            code: Code6::IA_PD,
            data: &pd,
        });
    }
    let r = Repr6 {
        msg_type: Type6::RELEASE,
        header: Header6::Client { transaction_id: 0 },
        options: List6::List(&opts),
    };
    let mut buf = vec![0u8; r.buffer_len()];
    let n = r.emit(&mut buf).ok()?;
    buf.truncate(n);
    Some(buf)
}

/// Ethernet (+ 802.1Q/802.1ad tags) of a received frame: its link info, the ethertype
/// and the layer 3 bytes.
fn parse_eth(f: &[u8]) -> Option<(L2, u16, &[u8])> {
    let (_dst, rest) = f.split_first_chunk::<6>()?;
    let (src, mut rest) = rest.split_first_chunk::<6>()?;
    let mut tags = [(0u16, 0u16); 2];
    let mut n = 0;
    loop {
        let (t, r) = rest.split_first_chunk::<2>()?;
        let t = u16::from_be_bytes(*t);
        if matches!(t, 0x8100 | 0x88a8 | 0x9100) {
            let (tci, r) = r.split_first_chunk::<2>()?;
            *tags.get_mut(n)? = (t, u16::from_be_bytes(*tci));
            n += 1;
            rest = r;
        } else {
            return Some((L2 { src: *src, tags }, t, r));
        }
    }
}

/// IPv4 + UDP: (destination port, source port, payload). Fragments and bad lengths
/// are refused.
fn parse_udp4(l3: &[u8]) -> Option<(u16, u16, &[u8])> {
    let vihl = *l3.first()?;
    if vihl >> 4 != 4 {
        return None;
    }
    let ihl = usize::from(vihl & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes(*l3.get(2..4)?.first_chunk::<2>()?));
    let frag = u16::from_be_bytes(*l3.get(6..8)?.first_chunk::<2>()?);
    if *l3.get(9)? != UDP || frag & 0x3fff != 0 || ihl < 20 || total < ihl {
        return None;
    }
    let udp = l3.get(ihl..total)?;
    udp4_6(udp)
}

fn udp4_6(udp: &[u8]) -> Option<(u16, u16, &[u8])> {
    let (h, _) = udp.split_first_chunk::<8>()?;
    let sport = u16::from_be_bytes([h[0], h[1]]);
    let dport = u16::from_be_bytes([h[2], h[3]]);
    let len = usize::from(u16::from_be_bytes([h[4], h[5]]));
    Some((dport, sport, udp.get(8..len)?))
}

/// IPv6 + UDP (no extension headers): (destination port, source, source port, payload).
fn parse_udp6(l3: &[u8]) -> Option<(u16, Ipv6Addr, u16, &[u8])> {
    let (h, rest) = l3.split_first_chunk::<40>()?;
    if h[0] >> 4 != 6 || h[6] != UDP {
        return None;
    }
    let plen = usize::from(u16::from_be_bytes([h[4], h[5]]));
    let src = Ipv6Addr::from(*h.get(8..24)?.first_chunk::<16>()?);
    let (dport, sport, payload) = udp4_6(rest.get(..plen)?)?;
    Some((dport, src, sport, payload))
}

/// A DHCPv6 server's UDP reply (RFC 8415 section 18.3, from port 547 to `dport`) as an
/// IPv6 packet from `src` to `dst`, hop limit 64, UDP checksum over the pseudo-header.
pub(crate) fn udp6_packet(src: Ipv6Addr, dst: Ipv6Addr, dport: u16, reply: &[u8]) -> Vec<u8> {
    let udp_len = 8 + reply.len();
    let mut ip = [0u8; 40];
    ip[0] = 0x60;
    ip[4..6].copy_from_slice(&len16(udp_len));
    ip[6] = UDP;
    ip[7] = 64;
    ip[8..24].copy_from_slice(&src.octets());
    ip[24..40].copy_from_slice(&dst.octets());
    let mut f = ip.to_vec();
    let mut udp = [0u8; 8];
    udp[0..2].copy_from_slice(&547u16.to_be_bytes());
    udp[2..4].copy_from_slice(&dport.to_be_bytes());
    udp[4..6].copy_from_slice(&len16(udp_len));
    // RFC 8200 section 8.1 pseudo header
    let mut pseudo = [0u8; 40];
    pseudo[0..16].copy_from_slice(&src.octets());
    pseudo[16..32].copy_from_slice(&dst.octets());
    pseudo[32..36].copy_from_slice(&u32::try_from(udp_len).unwrap_or(0).to_be_bytes());
    pseudo[39] = UDP;
    let c = match checksum(&[&pseudo, &udp, reply]) {
        0 => 0xffff,
        c => c,
    };
    udp[6..8].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&udp);
    f.extend_from_slice(reply);
    f
}

fn eth_head(dst: [u8; 6], src: [u8; 6], tags: [(u16, u16); 2], ethertype: u16) -> Vec<u8> {
    let mut f = Vec::with_capacity(600);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    for (tpid, tci) in tags.into_iter().filter(|t| t.0 != 0) {
        f.extend_from_slice(&tpid.to_be_bytes());
        f.extend_from_slice(&tci.to_be_bytes());
    }
    f.extend_from_slice(&ethertype.to_be_bytes());
    f
}

#[allow(clippy::cast_possible_truncation, reason = "frames below 64 KiB")]
fn len16(n: usize) -> [u8; 2] {
    (n as u16).to_be_bytes()
}

/// Helpers shared by this module's tests and the service's.
#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests_support {
    use super::{Code4, DhcpOption, Ipv4Addr, Packet4, Repr4};

    /// `payload` as a relay agent forwards it: option 82 with `circuit` (and remote-id
    /// `remote-1`) appended, `giaddr` set, one hop (RFC 3046 section 2.1).
    pub(super) fn relayed(payload: &[u8], circuit: &[u8], giaddr: Ipv4Addr) -> Vec<u8> {
        let p = Packet4::new_checked(payload).unwrap();
        let r = Repr4::parse(&p).unwrap();
        let mut opts: Vec<DhcpOption<'_>> = r.options.iter().map(Result::unwrap).collect();
        let mut ri = vec![1, u8::try_from(circuit.len()).unwrap()];
        ri.extend_from_slice(circuit);
        ri.extend_from_slice(&[2, 8]);
        ri.extend_from_slice(b"remote-1");
        opts.push(DhcpOption {
            code: Code4::RELAY_AGENT_INFO,
            data: &ri,
        });
        let mut out = r;
        out.options = bng_dhcp::v4::OptionList::List(&opts);
        out.giaddr = giaddr;
        out.hops = 1;
        let mut buf = vec![0u8; out.buffer_len()];
        let n = out.emit(&mut buf).unwrap();
        buf.truncate(n);
        buf
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::cast_possible_truncation,
    reason = "tests"
)]
mod tests {
    use super::*;
    use crate::net::{Udp4, Udp6};
    use bng_dhcp::v4::client::{
        Client, ClientAction, ClientConfig, ClientDestination, ClientState,
    };
    use bng_dhcp::v6::client::{Client6, Client6Action, Client6Config, Client6State};

    const GW_MAC: [u8; 6] = [0x02, 0xbb, 0, 0, 0, 1];
    const RELAY_MAC: [u8; 6] = [0x02, 0xaa, 0, 0, 0, 1];
    const GIADDR: Ipv4Addr = Ipv4Addr::new(100, 64, 0, 1);

    fn cfg() -> IpoeConfig {
        let mut c = IpoeConfig::new(
            GW_MAC,
            Ipv4Addr::new(100, 64, 0, 254),
            Ipv4Addr::new(100, 64, 1, 10),
            100,
        );
        c.lease_secs = 600;
        c.v6 = Some(Ipv6Config {
            na_first: "2001:db8:1::100".parse().unwrap(),
            na_count: 100,
            pd_base: "2001:db8:100::".parse().unwrap(),
            pd_len: 56,
            pd_count: 16,
            preferred_secs: 600,
            valid_secs: 1200,
            dns: vec![],
        });
        c
    }

    type Aaa = Box<dyn FnMut(&AuthRequest) -> Option<Authorization>>;

    /// One access link: the gateway's control plane, AAA answering at once, and what
    /// came out.
    struct Net<'s> {
        ipoe: Ipoe<'s>,
        aaa: Aaa,
        frames: Vec<Vec<u8>>,
        events: Vec<Output>,
        auths: Vec<AuthRequest>,
    }

    impl Net<'_> {
        fn pump(&mut self, now: Duration) {
            while let Some(o) = self.ipoe.poll_output() {
                match o {
                    Output::Frame(f) => self.frames.push(f),
                    Output::Authorize(r) => {
                        let a = (self.aaa)(&r);
                        self.auths.push(r.clone());
                        self.ipoe.authorized(now, r.token, a);
                    }
                    e => self.events.push(e),
                }
            }
        }

        fn ups(&self) -> Vec<&Session> {
            self.events
                .iter()
                .filter_map(|e| match e {
                    Output::Up(s) => Some(s),
                    _ => None,
                })
                .collect()
        }

        fn downs(&self) -> Vec<(&Session, DownReason)> {
            self.events
                .iter()
                .filter_map(|e| match e {
                    Output::Down(s, r) => Some((s, *r)),
                    _ => None,
                })
                .collect()
        }
    }

    impl Net<'_> {
        /// AAA grants `a` from now on.
        fn grant(&mut self, a: Authorization) {
            self.aaa = Box::new(move |_| Some(a.clone()));
        }
    }

    fn net(st: &mut Storage, c: IpoeConfig) -> Net<'_> {
        Net {
            ipoe: Ipoe::new(c, st).unwrap(),
            aaa: Box::new(|_| Some(Authorization::default())),
            frames: vec![],
            events: vec![],
            auths: vec![],
        }
    }

    /// A parsed frame from the gateway: L2 destination, VLANs, IP destination, UDP
    /// destination port and payload.
    struct Rx {
        dst_mac: [u8; 6],
        vlans: [u16; 2],
        dst4: Option<Ipv4Addr>,
        dst6: Option<Ipv6Addr>,
        dport: u16,
        payload: Vec<u8>,
    }

    fn rx(f: &[u8]) -> Rx {
        let (l2, et, l3) = parse_eth(f).unwrap();
        let dst_mac = f[..6].try_into().unwrap();
        if et == ETH_IPV4 {
            assert_eq!(checksum(&[&l3[..20]]), 0, "IPv4 header checksum");
            let (dport, sport, p) = parse_udp4(l3).unwrap();
            assert_eq!(sport, 67);
            Rx {
                dst_mac,
                vlans: l2.vlans(),
                dst4: Some(Ipv4Addr::from(<[u8; 4]>::try_from(&l3[16..20]).unwrap())),
                dst6: None,
                dport,
                payload: p.to_vec(),
            }
        } else {
            let (dport, _, sport, p) = parse_udp6(l3).unwrap();
            assert_eq!(sport, 547);
            Rx {
                dst_mac,
                vlans: l2.vlans(),
                dst4: None,
                dst6: Some(Ipv6Addr::from(<[u8; 16]>::try_from(&l3[24..40]).unwrap())),
                dport,
                payload: p.to_vec(),
            }
        }
    }

    fn tag(f: &[u8], vid: u16) -> Vec<u8> {
        let mut t = f[..12].to_vec();
        t.extend_from_slice(&[0x81, 0x00]);
        t.extend_from_slice(&vid.to_be_bytes());
        t.extend_from_slice(&f[12..]);
        t
    }

    /// Adds option 82 (circuit-id, remote-id) and giaddr, as a relay agent does
    /// (RFC 3046 section 2.1).
    fn relay4(payload: &[u8], circuit: &[u8]) -> Vec<u8> {
        super::tests_support::relayed(payload, circuit, GIADDR)
    }

    struct Sub4 {
        c: Client,
        mac: [u8; 6],
        vlan: Option<u16>,
        relay: Option<Vec<u8>>,
    }

    impl Sub4 {
        fn new(i: u8) -> Self {
            let mac = [0x02, 0, 0, 0, 0, i];
            Self {
                c: Client::new(ClientConfig::new(mac), u64::from(i)),
                mac,
                vlan: None,
                relay: None,
            }
        }

        /// The client speaks: frames as the gateway receives them.
        fn send(&mut self, now: Duration) -> Vec<Vec<u8>> {
            let mut out = vec![];
            let mut tx = [0u8; 600];
            while let Some(a) = self.c.poll_action(now, &mut tx) {
                if let ClientAction::Transmit { len, dst } = a {
                    let payload = &tx[..len];
                    let held = self.c.lease().map_or(Ipv4Addr::UNSPECIFIED, |l| l.addr);
                    let routed = matches!(dst, ClientDestination::Server(_));
                    let f = if let (Some(circuit), false) = (&self.relay, routed) {
                        let relayed = relay4(payload, circuit);
                        Udp4 {
                            src_mac: RELAY_MAC,
                            dst_mac: GW_MAC,
                            src: GIADDR,
                            dst: Ipv4Addr::new(100, 64, 0, 254),
                            src_port: 67,
                            dst_port: 67,
                        }
                        .frame(&relayed)
                    } else {
                        let (dmac, dip) = match dst {
                            ClientDestination::Broadcast => ([0xff; 6], Ipv4Addr::BROADCAST),
                            ClientDestination::Server(ip) => (GW_MAC, ip),
                        };
                        // a relayed client's unicast is routed by the relay: its MAC,
                        // no option 82
                        Udp4 {
                            src_mac: if self.relay.is_some() {
                                RELAY_MAC
                            } else {
                                self.mac
                            },
                            dst_mac: dmac,
                            src: held,
                            dst: dip,
                            src_port: 68,
                            dst_port: 67,
                        }
                        .frame(payload)
                    };
                    out.push(match self.vlan {
                        Some(v) => tag(&f, v),
                        None => f,
                    });
                }
            }
            out
        }
    }

    /// A simulated DHCP client (v4 or v6) on the access port.
    trait Sim {
        /// The frames it sends at `now`.
        fn send(&mut self, now: Duration) -> Vec<Vec<u8>>;
        /// A frame from the gateway.
        fn receive(&mut self, now: Duration, r: &Rx);
    }

    impl Sim for Sub4 {
        fn send(&mut self, now: Duration) -> Vec<Vec<u8>> {
            Sub4::send(self, now)
        }
        fn receive(&mut self, now: Duration, r: &Rx) {
            let _ = self.c.handle_packet(now, &r.payload);
        }
    }

    /// Runs client and gateway until nothing moves at `now`; returns the frames the
    /// gateway sent.
    fn exchange<C: Sim>(n: &mut Net<'_>, s: &mut C, now: Duration) -> Vec<Rx> {
        let mut seen = vec![];
        for _ in 0..10 {
            let fs = s.send(now);
            for f in &fs {
                n.ipoe.handle_frame(now, f);
            }
            n.pump(now);
            let out: Vec<_> = n.frames.drain(..).collect();
            if fs.is_empty() && out.is_empty() {
                break;
            }
            for f in out {
                let r = rx(&f);
                s.receive(now, &r);
                seen.push(r);
            }
        }
        seen
    }

    #[test]
    fn direct_client_binds_renews_and_releases() {
        let c = cfg();
        let mut st = Storage::new(&c);
        let mut n = net(&mut st, c);
        let mut s = Sub4::new(1);
        s.vlan = Some(100);
        let seen = exchange(&mut n, &mut s, Duration::ZERO);
        assert_eq!(s.c.state(), ClientState::Bound);
        // OFFER and ACK to the client at its MAC, tagged like its frames, port 68
        assert_eq!(seen.len(), 2);
        assert!(seen.iter().all(|r| r.dport == 68 && r.vlans == [100, 0]));
        assert!(
            seen.iter()
                .all(|r| r.dst_mac == s.mac || r.dst_mac == [0xff; 6])
        );
        let addr = s.c.lease().unwrap().addr;
        let ups = n.ups();
        assert_eq!(ups.len(), 1);
        assert_eq!(ups[0].ipv4, Some(addr));
        assert_eq!(ups[0].mac, s.mac);
        assert_eq!(ups[0].vlans, [100, 0]);
        assert_eq!(ups[0].next_hop_mac, s.mac);
        assert_eq!(
            ups[0].key,
            SubscriberKey::Mac {
                mac: s.mac,
                vlans: [100, 0]
            }
        );
        assert_eq!(n.auths.len(), 1);
        assert_eq!(n.auths[0].username, "02:00:00:00:00:01");
        // RENEW at T1: unicast ACK, no new session event, no new authorization
        let t1 = Duration::from_secs(300);
        s.c.handle_timeout(t1);
        n.ipoe.handle_timeout(t1);
        let seen = exchange(&mut n, &mut s, t1);
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].dst4, Some(addr));
        assert_eq!(n.events.len(), 1);
        assert_eq!(n.auths.len(), 1);
        // RELEASE: Down(Released)
        s.c.release(t1);
        exchange(&mut n, &mut s, t1);
        let downs = n.downs();
        assert_eq!(downs.len(), 1);
        assert_eq!(downs[0].1, DownReason::Released);
        assert_eq!(downs[0].0.ipv4, None);
        assert_eq!(n.ipoe.sessions().count(), 0);
        assert_eq!(n.ipoe.stats().up, 1);
        assert_eq!(n.ipoe.stats().down, 1);
    }

    #[test]
    fn relayed_request_is_answered_to_the_relay_with_option_82_and_keyed_by_circuit() {
        let c = cfg();
        let mut st = Storage::new(&c);
        let mut n = net(&mut st, c);
        let mut s = Sub4::new(2);
        s.relay = Some(b"eth0/1:100".to_vec());
        let seen = exchange(&mut n, &mut s, Duration::ZERO);
        assert_eq!(s.c.state(), ClientState::Bound);
        for r in &seen {
            // RFC 2131 section 4.1: to the relay at giaddr, port 67
            assert_eq!(r.dst_mac, RELAY_MAC);
            assert_eq!(r.dst4, Some(GIADDR));
            assert_eq!(r.dport, 67);
            // RFC 3046 section 2.2: option 82 echoed
            let p = Packet4::new_checked(&r.payload[..]).unwrap();
            let k = Known::collect(p.all_options()).unwrap();
            let ra = RelayAgentInfo::new_checked(k.relay_agent_info.unwrap()).unwrap();
            assert_eq!(ra.circuit_id(), Some(&b"eth0/1:100"[..]));
            assert_eq!(ra.remote_id(), Some(&b"remote-1"[..]));
            assert_eq!(p.giaddr(), GIADDR);
        }
        let ups = n.ups();
        assert_eq!(ups.len(), 1);
        let u = ups[0];
        assert_eq!(u.key, SubscriberKey::Circuit(b"eth0/1:100".to_vec()));
        assert_eq!(u.circuit_id.as_deref(), Some(&b"eth0/1:100"[..]));
        assert_eq!(u.remote_id.as_deref(), Some(&b"remote-1"[..]));
        assert_eq!(u.relay, Some(GIADDR));
        assert_eq!(u.next_hop_mac, RELAY_MAC);
        assert_eq!(u.mac, s.mac);
        assert_eq!(n.auths[0].username, "eth0/1:100");
        assert_eq!(n.auths[0].circuit_id.as_deref(), Some(&b"eth0/1:100"[..]));
    }

    #[test]
    fn a_second_mac_on_the_same_circuit_joins_the_session() {
        let c = cfg();
        let mut st = Storage::new(&c);
        let mut n = net(&mut st, c);
        let mut a = Sub4::new(3);
        a.relay = Some(b"port-7".to_vec());
        exchange(&mut n, &mut a, Duration::ZERO);
        let mut b = Sub4::new(4);
        b.relay = Some(b"port-7".to_vec());
        exchange(&mut n, &mut b, Duration::from_secs(1));
        // leases are per client; the session is per access port: one Up, one Changed
        assert_eq!(b.c.state(), ClientState::Bound);
        assert_eq!(n.ups().len(), 1);
        assert_eq!(n.ipoe.sessions().count(), 1);
        let Some(Output::Changed(s)) = n.events.last() else {
            panic!("{:?}", n.events)
        };
        assert_eq!(s.ipv4, Some(b.c.lease().unwrap().addr));
        assert_eq!(s.mac, b.mac);
    }

    #[test]
    fn relayed_client_renews_by_unicast_without_option_82() {
        let c = cfg();
        let mut st = Storage::new(&c);
        let mut n = net(&mut st, c);
        let mut s = Sub4::new(13);
        s.relay = Some(b"port-13".to_vec());
        exchange(&mut n, &mut s, Duration::ZERO);
        let addr = s.c.lease().unwrap().addr;
        let t1 = Duration::from_secs(300);
        s.c.handle_timeout(t1);
        let seen = exchange(&mut n, &mut s, t1);
        // RFC 2131 section 4.1: the ACK goes to ciaddr, through the relay's MAC
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].dst4, Some(addr));
        assert_eq!(seen[0].dst_mac, RELAY_MAC);
        assert_eq!(s.c.state(), ClientState::Bound);
        assert_eq!(s.c.lease().unwrap().expires, t1 + Duration::from_secs(600));
        // still one session, keyed by the circuit, relay details kept
        assert_eq!(n.events.len(), 1);
        let x = n.ipoe.sessions().next().unwrap();
        assert_eq!(x.key, SubscriberKey::Circuit(b"port-13".to_vec()));
        assert_eq!(x.relay, Some(GIADDR));
        // and a unicast RELEASE ends it
        s.c.release(t1);
        exchange(&mut n, &mut s, t1);
        assert_eq!(n.downs()[0].1, DownReason::Released);
    }

    #[test]
    fn framed_ip_address_from_aaa_is_leased() {
        let c = cfg();
        let mut st = Storage::new(&c);
        let mut n = net(&mut st, c);
        let framed = Ipv4Addr::new(198, 18, 0, 7);
        n.grant(Authorization {
            framed_ip: Some(framed),
            ..Authorization::default()
        });
        let mut s = Sub4::new(5);
        exchange(&mut n, &mut s, Duration::ZERO);
        assert_eq!(s.c.lease().unwrap().addr, framed);
        assert_eq!(n.ups()[0].ipv4, Some(framed));
        // an in-pool Framed-IP-Address for a second subscriber is taken from the pool
        let inpool = Ipv4Addr::new(100, 64, 1, 50);
        n.grant(Authorization {
            framed_ip: Some(inpool),
            ..Authorization::default()
        });
        let mut s2 = Sub4::new(6);
        exchange(&mut n, &mut s2, Duration::ZERO);
        assert_eq!(s2.c.lease().unwrap().addr, inpool);
        // and is not handed to a third with no Framed-IP
        n.aaa = Box::new(|_| Some(Authorization::default()));
        for i in 7..20 {
            let mut s3 = Sub4::new(i);
            exchange(&mut n, &mut s3, Duration::ZERO);
            assert_ne!(s3.c.lease().unwrap().addr, inpool);
        }
    }

    #[test]
    fn rejected_subscriber_gets_no_answer_until_the_hold_ends() {
        let c = cfg();
        let mut st = Storage::new(&c);
        let mut n = net(&mut st, c);
        n.aaa = Box::new(|_| None);
        let mut s = Sub4::new(8);
        let seen = exchange(&mut n, &mut s, Duration::ZERO);
        assert!(seen.is_empty());
        assert_eq!(n.auths.len(), 1);
        // retransmissions during the hold are dropped without asking again
        let t = Duration::from_secs(8);
        s.c.handle_timeout(t);
        n.ipoe.handle_timeout(t);
        assert!(exchange(&mut n, &mut s, t).is_empty());
        assert_eq!(n.auths.len(), 1);
        assert!(n.ipoe.stats().auth_dropped >= 1);
        // after it, accepted
        n.aaa = Box::new(|_| Some(Authorization::default()));
        let t = REJECT_HOLD + Duration::from_secs(40);
        s.c.handle_timeout(t);
        n.ipoe.handle_timeout(t);
        exchange(&mut n, &mut s, t);
        assert_eq!(s.c.state(), ClientState::Bound);
        assert_eq!(n.auths.len(), 2);
    }

    #[test]
    fn parked_request_waits_for_a_late_answer() {
        let c = cfg();
        let mut st = Storage::new(&c);
        let mut ipoe = Ipoe::new(c, &mut st).unwrap();
        let mut s = Sub4::new(9);
        let now = Duration::ZERO;
        for f in s.send(now) {
            ipoe.handle_frame(now, &f);
        }
        let Some(Output::Authorize(r)) = ipoe.poll_output() else {
            panic!("no Authorize")
        };
        assert!(
            ipoe.poll_output().is_none(),
            "nothing sent before AAA answers"
        );
        let later = Duration::from_millis(300);
        ipoe.authorized(later, r.token, Some(Authorization::default()));
        let Some(Output::Frame(f)) = ipoe.poll_output() else {
            panic!("no OFFER")
        };
        let p = rx(&f).payload;
        let pk = Packet4::new_checked(&p[..]).unwrap();
        let k = Known::collect(pk.all_options()).unwrap();
        assert_eq!(k.message_type, Some(Type4::OFFER));
        // a stale token is ignored
        ipoe.authorized(later, r.token, None);
        assert!(ipoe.poll_output().is_none());
    }

    #[test]
    fn lease_expiry_ends_the_session() {
        let c = cfg();
        let mut st = Storage::new(&c);
        let mut n = net(&mut st, c);
        let mut s = Sub4::new(10);
        exchange(&mut n, &mut s, Duration::ZERO);
        assert_eq!(n.ups().len(), 1);
        // the client goes silent; the gateway's deadline is the lease end
        let mut now = Duration::ZERO;
        for _ in 0..10 {
            let Some(t) = n.ipoe.poll_timeout() else {
                break;
            };
            now = t;
            n.ipoe.handle_timeout(now);
            n.pump(now);
            if !n.downs().is_empty() {
                break;
            }
        }
        assert_eq!(now, Duration::from_secs(600));
        assert_eq!(n.downs()[0].1, DownReason::Expired);
        // and the idle subscriber is forgotten later
        n.ipoe.handle_timeout(now + IDLE_HOLD);
        assert!(n.ipoe.subs.is_empty());
        assert!(n.ipoe.poll_timeout().is_none());
    }

    #[test]
    fn disconnect_releases_and_the_next_renew_is_refused_then_reauthorized() {
        let c = cfg();
        let mut st = Storage::new(&c);
        let mut n = net(&mut st, c);
        let mut s = Sub4::new(11);
        s.relay = Some(b"p11".to_vec());
        exchange(&mut n, &mut s, Duration::ZERO);
        let id = n.ups()[0].id;
        assert!(n.ipoe.disconnect(Duration::from_secs(10), id));
        n.pump(Duration::from_secs(10));
        assert_eq!(n.downs()[0].1, DownReason::Admin);
        assert_eq!(n.ipoe.dhcp4_stats().acks, 1);
        assert_eq!(n.ipoe.sessions().count(), 0);
        assert!(!n.ipoe.disconnect(Duration::from_secs(10), id));
        // the pool has the address back
        assert_eq!(n.ipoe.v4.addresses().pool.used(), 0);
        // at T1 the client renews: AAA is asked again before the server answers
        let t1 = Duration::from_secs(300);
        s.c.handle_timeout(t1);
        exchange(&mut n, &mut s, t1);
        assert_eq!(n.auths.len(), 2);
        assert_eq!(n.ups().len(), 2);
    }

    #[test]
    fn session_timeout_ends_the_session() {
        let c = cfg();
        let mut st = Storage::new(&c);
        let mut n = net(&mut st, c);
        n.grant(Authorization {
            session_timeout: Some(Duration::from_secs(90)),
            ..Authorization::default()
        });
        let mut s = Sub4::new(12);
        exchange(&mut n, &mut s, Duration::from_secs(5));
        let mut now = Duration::ZERO;
        while n.downs().is_empty() {
            now = n.ipoe.poll_timeout().unwrap();
            n.ipoe.handle_timeout(now);
            n.pump(now);
        }
        assert_eq!(now, Duration::from_secs(95));
        assert_eq!(n.downs()[0].1, DownReason::SessionTimeout);
    }

    struct Sub6 {
        c: Client6<'static>,
        mac: [u8; 6],
        relay: Option<Vec<u8>>,
    }

    impl Sub6 {
        fn new(i: u8, relay: Option<&[u8]>) -> Self {
            let mac = [0x02, 0, 0, 0, 6, i];
            let duid: &'static [u8] = Box::leak(Box::new([
                0, 3, 0, 1, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5],
            ]));
            let cfg = Client6Config {
                duid,
                ia_na: Some(1),
                ia_pd: Some(2),
                rapid_commit: false,
            };
            Self {
                c: Client6::new(cfg, u64::from(i)),
                mac,
                relay: relay.map(<[u8]>::to_vec),
            }
        }

        fn send(&mut self, now: Duration) -> Vec<Vec<u8>> {
            let mut out = vec![];
            let mut tx = [0u8; 1000];
            while let Some(a) = self.c.poll_action(now, &mut tx) {
                if let Client6Action::Transmit { len } = a {
                    let msg = &tx[..len];
                    let f = if let Some(iface) = &self.relay {
                        // RFC 8415 section 19.1.1: Relay-forward with Interface-Id
                        let opts = [
                            Dhcp6Option {
                                code: Code6::INTERFACE_ID,
                                data: iface,
                            },
                            Dhcp6Option {
                                code: Code6::RELAY_MSG,
                                data: msg,
                            },
                        ];
                        let r = Repr6 {
                            msg_type: Type6::RELAY_FORW,
                            header: Header6::Relay {
                                hop_count: 0,
                                link: "2001:db8:1::1".parse().unwrap(),
                                peer: link_local(self.mac),
                            },
                            options: List6::List(&opts),
                        };
                        let mut b = vec![0u8; r.buffer_len()];
                        let n = r.emit(&mut b).unwrap();
                        Udp6 {
                            src_mac: RELAY_MAC,
                            dst_mac: GW_MAC,
                            src: link_local(RELAY_MAC),
                            dst: link_local(GW_MAC),
                            src_port: 547,
                            dst_port: 547,
                            hop_limit: 64,
                        }
                        .frame(&b[..n])
                    } else {
                        Udp6 {
                            src_mac: self.mac,
                            dst_mac: [0x33, 0x33, 0, 1, 0, 2],
                            src: link_local(self.mac),
                            dst: bng_dhcp::v6::message::ALL_RELAYS_AND_SERVERS,
                            src_port: 546,
                            dst_port: 547,
                            hop_limit: 1,
                        }
                        .frame(msg)
                    };
                    out.push(f);
                }
            }
            out
        }
    }

    impl Sim for Sub6 {
        fn send(&mut self, now: Duration) -> Vec<Vec<u8>> {
            Sub6::send(self, now)
        }
        /// Behind the relay: the Relay-reply (RFC 8415 section 9.2) carries the
        /// Interface-Id it sent and the reply.
        fn receive(&mut self, now: Duration, r: &Rx) {
            let msg = if self.relay.is_some() {
                let p = Packet6::new_checked(&r.payload[..]).unwrap();
                assert_eq!(p.msg_type(), Type6::RELAY_REPL);
                let o = Options6::new(&r.payload[34..]);
                assert_eq!(o.clone().find(Code6::INTERFACE_ID), self.relay.as_deref());
                o.find(Code6::RELAY_MSG).unwrap().to_vec()
            } else {
                r.payload.clone()
            };
            let _ = self.c.handle_packet(now, &msg);
        }
    }

    #[test]
    fn dhcpv6_ia_na_and_ia_pd_direct_make_one_session_with_the_v4_lease() {
        let c = cfg();
        let mut st = Storage::new(&c);
        let mut n = net(&mut st, c);
        let mut s6 = Sub6::new(1, None);
        let seen = exchange(&mut n, &mut s6, Duration::ZERO);
        assert_eq!(s6.c.state(), Client6State::Bound);
        for r in &seen {
            assert_eq!(r.dst_mac, s6.mac);
            assert_eq!(r.dst6, Some(link_local(s6.mac)));
            assert_eq!(r.dport, 546);
        }
        let lease = s6.c.lease().unwrap();
        let (a, ..) = lease.address.unwrap();
        let (p, l, ..) = lease.prefix.unwrap();
        assert_eq!(l, 56);
        let ups = n.ups();
        assert_eq!(ups.len(), 1);
        // the second binding of the same REPLY is a change
        let last = match n.events.last().unwrap() {
            Output::Changed(s) | Output::Up(s) => s.clone(),
            e => panic!("{e:?}"),
        };
        assert_eq!(last.ipv6, Some(a));
        assert_eq!(last.delegated, Some((p, 56)));
        assert_eq!(last.relay6, None, "not relayed");
        // DHCPv4 from the same MAC joins the session
        let mut s4 = Sub4::new(1);
        s4.mac = s6.mac;
        s4.c = Client::new(ClientConfig::new(s6.mac), 99);
        exchange(&mut n, &mut s4, Duration::ZERO);
        assert_eq!(n.ups().len(), 1);
        assert_eq!(n.ipoe.sessions().count(), 1);
        let s = n.ipoe.sessions().next().unwrap();
        assert!(s.ipv4.is_some() && s.ipv6.is_some() && s.delegated.is_some());
        assert_eq!(n.auths.len(), 1);
        // disconnect ends all three and frees the v6 pool too
        assert!(n.ipoe.disconnect(Duration::from_secs(1), s.id));
        n.pump(Duration::from_secs(1));
        assert_eq!(n.downs().len(), 1);
        assert_eq!(n.ipoe.v6.as_ref().unwrap().assigner().pool.used(), (0, 0));
    }

    #[test]
    fn dhcpv6_relayed_is_answered_with_relay_reply_and_keyed_by_interface_id() {
        let c = cfg();
        let mut st = Storage::new(&c);
        let mut n = net(&mut st, c);
        n.grant(Authorization {
            delegated_prefix: Some(("2001:db8:ff00::".parse().unwrap(), 48)),
            ..Authorization::default()
        });
        let mut s6 = Sub6::new(2, Some(b"dn0"));
        let seen = exchange(&mut n, &mut s6, Duration::ZERO);
        assert_eq!(s6.c.state(), Client6State::Bound);
        for r in &seen {
            assert_eq!(r.dst_mac, RELAY_MAC);
            assert_eq!(r.dst6, Some(link_local(RELAY_MAC)));
            assert_eq!(r.dport, 547);
        }
        let (p, l, ..) = s6.c.lease().unwrap().prefix.unwrap();
        assert_eq!((p, l), ("2001:db8:ff00::".parse().unwrap(), 48));
        let s = n.ipoe.sessions().next().unwrap();
        assert_eq!(s.key, SubscriberKey::Circuit(b"dn0".to_vec()));
        // the relay is the next hop of the binding (RFC 8415 section 19)
        assert_eq!(s.relay6, Some(link_local(RELAY_MAC)));
        assert_eq!(s.next_hop_mac, RELAY_MAC);
        assert_eq!(n.auths[0].username, "dn0");
        // DHCPv4 relayed with circuit-id "dn0" joins it
        let mut s4 = Sub4::new(20);
        s4.relay = Some(b"dn0".to_vec());
        exchange(&mut n, &mut s4, Duration::ZERO);
        assert_eq!(n.ups().len(), 1);
        assert!(n.ipoe.sessions().next().unwrap().ipv4.is_some());
        // the v6 bindings expire (the client is silent): Changed, the v4 lease stays
        let t = Duration::from_secs(1200);
        for renew in [300, 600, 900] {
            let at = Duration::from_secs(renew);
            s4.c.handle_timeout(at);
            exchange(&mut n, &mut s4, at);
        }
        n.ipoe.handle_timeout(t);
        n.pump(t);
        assert!(n.downs().is_empty());
        let s = n.ipoe.sessions().next().unwrap();
        assert!(s.ipv4.is_some() && s.ipv6.is_none() && s.delegated.is_none());
        assert!(matches!(n.events.last(), Some(Output::Changed(_))));
        // and the delegated prefix from AAA is not in the local pool's accounting
        assert_eq!(n.ipoe.v6.as_ref().unwrap().assigner().outside.len(), 0);
    }

    #[test]
    fn garbage_and_truncated_frames_do_not_panic_and_are_counted() {
        let c = cfg();
        let mut st = Storage::new(&c);
        let mut n = net(&mut st, c);
        let mut s = Sub4::new(30);
        s.vlan = Some(7);
        s.relay = Some(b"x".to_vec());
        let f = s.send(Duration::ZERO).remove(0);
        let mut s6 = Sub6::new(30, Some(b"y"));
        let f6 = s6.send(Duration::ZERO).remove(0);
        for whole in [&f, &f6] {
            for cut in 0..whole.len() {
                n.ipoe.handle_frame(Duration::ZERO, &whole[..cut]);
            }
            let mut x = 0x1234_5678_u32;
            for _ in 0..2000 {
                let mut m = whole.clone();
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                let i = x as usize % m.len();
                m[i] ^= (x >> 8) as u8 | 1;
                n.ipoe.handle_frame(Duration::ZERO, &m);
                n.pump(Duration::ZERO);
            }
        }
        assert!(n.ipoe.stats().malformed > 0);
    }
}
