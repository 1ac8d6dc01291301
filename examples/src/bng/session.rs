//! The session-manager interface shared by the PPPoE ([`super::pppoe`]) and IPoE
//! ([`super::ipoe`]) control planes: subscriber records, the forwarding-plane
//! interface ([`Forwarding`]), address pools, and the registry ([`Sessions`]) that
//! runs accounting (Start / Interim-Update / Stop, RFC 2866) and enforces
//! Session-Timeout and Idle-Timeout (RFC 2865 sections 5.27, 5.28).
//!
//! A control plane owns its protocol machines; when a subscriber is authorised and
//! addressed it calls [`Sessions::up`] (which installs it in the forwarding plane and
//! sends Accounting-Start), and [`Sessions::down`] when it ends (Stop, removal).
//! [`Sessions::handle_timeout`] returns the handles whose timeouts expired and
//! [`Service::disconnect`] ends them protocol-wise.

use std::collections::{BTreeMap, HashMap};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use super::aaa::{Aaa, AcctKind, Authorization};
use super::config::{Config, QosProfile, V4Pool, V6Pool};

/// A subscriber session's handle (also `meta.subscriber` in the dataplane).
pub type Handle = u32;

/// An Ethernet MAC address.
pub type Mac = [u8; 6];

/// How a subscriber is reached on the access port.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AccessKey {
    /// A PPPoE session (RFC 2516).
    Pppoe {
        /// Client MAC.
        mac: Mac,
        /// PPPoE session id.
        session_id: u16,
        /// Outer and inner VLAN ids (0: none).
        vlans: [u16; 2],
    },
    /// An IPoE subscriber.
    Ipoe {
        /// Client MAC.
        mac: Mac,
        /// Outer and inner VLAN ids (0: none).
        vlans: [u16; 2],
        /// DHCP option 82 circuit-id, when keyed by it.
        circuit: Option<Vec<u8>>,
    },
}

impl AccessKey {
    /// The client's MAC.
    #[must_use]
    pub fn mac(&self) -> Mac {
        match self {
            Self::Pppoe { mac, .. } | Self::Ipoe { mac, .. } => *mac,
        }
    }

    /// Calling-Station-Id (RFC 3580 style `aa-bb-cc-dd-ee-ff`).
    #[must_use]
    pub fn calling_station(&self) -> String {
        let m = self.mac();
        format!(
            "{:02x}-{:02x}-{:02x}-{:02x}-{:02x}-{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}

/// A rate limit in the forwarding plane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Qos {
    /// Downstream bits/s.
    pub down_bps: u64,
    /// Upstream bits/s.
    pub up_bps: u64,
    /// Burst, bytes.
    pub burst_bytes: u64,
}

impl From<&QosProfile> for Qos {
    fn from(p: &QosProfile) -> Self {
        Self {
            down_bps: p.down,
            up_bps: p.up.unwrap_or(p.down),
            burst_bytes: p.burst_bytes(),
        }
    }
}

/// Where a session is in its life (the metrics' `state` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum State {
    /// Discovery done / DHCP in progress, not yet authenticated.
    Starting,
    /// Waiting for AAA.
    Authenticating,
    /// Forwarding.
    Up,
    /// Tearing down.
    Closing,
}

impl State {
    /// The label value.
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Self::Starting => "starting",
            Self::Authenticating => "authenticating",
            Self::Up => "up",
            Self::Closing => "closing",
        }
    }
}

/// Why a session ended (RADIUS Acct-Terminate-Cause, RFC 2866 section 5.10).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndCause {
    /// The subscriber ended it (LCP Terminate, PADT, DHCP RELEASE).
    UserRequest,
    /// The lower layer or keepalives failed.
    LostCarrier,
    /// Session-Timeout reached.
    SessionTimeout,
    /// Idle-Timeout reached.
    IdleTimeout,
    /// Disconnect-Request (RFC 5176) or operator.
    AdminReset,
    /// The gateway is shutting down.
    AdminReboot,
    /// Anything else (NAS-Error).
    NasError,
}

impl EndCause {
    /// The Acct-Terminate-Cause value.
    #[must_use]
    pub fn radius(self) -> u32 {
        match self {
            Self::UserRequest => 1,
            Self::LostCarrier => 2,
            Self::IdleTimeout => 4,
            Self::SessionTimeout => 5,
            Self::AdminReset => 6,
            Self::AdminReboot => 7,
            Self::NasError => 9,
        }
    }
}

/// Per-session traffic counters from the forwarding plane.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counters {
    /// From the subscriber: packets.
    pub in_packets: u64,
    /// From the subscriber: bytes (IP).
    pub in_bytes: u64,
    /// To the subscriber: packets.
    pub out_packets: u64,
    /// To the subscriber: bytes (IP).
    pub out_bytes: u64,
}

/// One subscriber session.
#[derive(Debug, Clone)]
pub struct Subscriber {
    /// Its handle.
    pub handle: Handle,
    /// How it is reached.
    pub key: AccessKey,
    /// User-Name.
    pub user: String,
    /// Acct-Session-Id (RFC 2866 section 5.5), unique per gateway run.
    pub acct_session_id: String,
    /// The IPv4 address.
    pub ipv4: Option<Ipv4Addr>,
    /// The delegated IPv6 prefix.
    pub pd: Option<(Ipv6Addr, u8)>,
    /// The IPv6 address (DHCPv6 IA_NA).
    pub ipv6: Option<Ipv6Addr>,
    /// The prefix of the subscriber's link (PPP: the /64 advertised for SLAAC, from
    /// Framed-IPv6-Prefix or `pppoe.ra_pool`).
    pub prefix64: Option<(Ipv6Addr, u8)>,
    /// The pool `prefix64` came from, if any.
    pub prefix64_pool: Option<String>,
    /// The rate limit and the profile name it came from.
    pub qos: Option<(String, Qos)>,
    /// Class (RFC 2865 section 5.25), echoed in accounting.
    pub class: Option<Vec<u8>>,
    /// State.
    pub state: State,
    /// When it came up.
    pub started: Duration,
    /// Session-Timeout.
    pub session_timeout: Option<Duration>,
    /// Idle-Timeout.
    pub idle_timeout: Option<Duration>,
    /// Acct-Interim-Interval.
    pub interim: Option<Duration>,
    /// Next Interim-Update due.
    pub next_interim: Option<Duration>,
    /// Last time traffic was seen (idle timeout), and the packet count then.
    pub last_active: (Duration, u64),
    /// The pool the v4 address came from (to give it back), if any.
    pub v4_pool: Option<String>,
    /// The pool the prefix came from, if any.
    pub pd_pool: Option<String>,
    /// A routed subscriber (IPoE behind a DHCP relay, at L3): the router its frames
    /// come from and go to. Bound by source address instead of by MAC.
    pub next_hop: Option<NextHop>,
    /// The same for IPv6 (behind a DHCPv6 relay): the relay's MAC and its address
    /// (RFC 8415 section 19); the IA_NA address and delegated prefix are routed to it
    /// and bound by source address.
    pub next_hop6: Option<(Mac, Ipv6Addr)>,
}

/// The router in front of a routed (relayed) subscriber.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NextHop {
    /// Its MAC on the access port (learnt from the relay's frames).
    pub mac: Mac,
    /// Its address (the relay's `giaddr`).
    pub addr: Ipv4Addr,
}

/// Which port a control frame leaves by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Port {
    /// Subscriber side.
    Access,
    /// Internet side.
    Upstream,
}

/// The forwarding plane as the control planes see it: install and remove sessions,
/// change their rate, read their counters, send control frames. The dataplane's
/// `Bng` control API implements it in the gateway; the lab's in-memory graph too.
pub trait Forwarding {
    /// A session exists (PPPoE: after PADS) but is not up: its control frames must
    /// reach the control plane; data is not forwarded yet.
    fn session_created(&mut self, _s: &Subscriber) {}
    /// Installs an up session (its addresses, QoS, NAT subscriber). Called again for
    /// a session already up when what is routed to it changes (a PPP session's IPCP
    /// opening after IPv6CP, a delegated prefix released or bound again): the new
    /// `s` replaces what was installed.
    fn session_up(&mut self, s: &Subscriber);
    /// Removes a session.
    fn session_down(&mut self, s: &Subscriber);
    /// Applies `s.qos` (`CoA`).
    fn set_qos(&mut self, s: &Subscriber);
    /// The session's counters so far.
    fn counters(&self, handle: Handle) -> Counters;
    /// Sends a control frame (complete Ethernet frame) out of `port`.
    fn transmit(&mut self, port: Port, frame: &[u8]);
}

/// A frame the forwarding plane punted to the control plane.
#[derive(Debug, Clone, Copy)]
pub struct Punt<'a> {
    /// What it is.
    pub kind: PuntKind,
    /// The whole Ethernet frame (VLAN tags included).
    pub frame: &'a [u8],
    /// Offset of the Ethernet payload (after the VLAN tags).
    pub l3_offset: usize,
    /// VLAN ids (0: none).
    pub vlans: [u16; 2],
    /// For PPP control: the session's handle, if the session is known.
    pub handle: Option<Handle>,
}

/// Kinds of punted frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PuntKind {
    /// PPPoE discovery (0x8863).
    PppoeDiscovery,
    /// PPP control in a PPPoE session (LCP, auth, NCPs).
    PppControl,
    /// DHCPv4 to port 67.
    Dhcp4,
    /// DHCPv6 to port 547.
    Dhcp6,
    /// ARP for our addresses / unknown.
    Arp,
    /// IPv6 for the gateway inside a PPP session (Router Solicitations, echo requests
    /// to our link-local, DHCPv6): `frame` is the IPv6 packet (`l3_offset` 0), `handle`
    /// the session.
    PppIpv6,
}

/// What the control planes share, lent to them on each call.
pub struct Ctx<'a> {
    /// Virtual or monotonic time.
    pub now: Duration,
    /// The configuration.
    pub config: &'a Config,
    /// The forwarding plane.
    pub plane: &'a mut dyn Forwarding,
    /// The session registry.
    pub sessions: &'a mut Sessions,
    /// Authentication and accounting.
    pub aaa: &'a mut dyn Aaa,
    /// Address pools.
    pub pools: &'a mut AddressPools,
}

/// A control plane (PPPoE, IPoE) driven by the gateway's loop.
pub trait Service {
    /// A punted frame of a kind this service handles.
    fn handle_punt(&mut self, punt: &Punt<'_>, cx: &mut Ctx<'_>);
    /// An AAA result for a request this service submitted (`tag` as submitted).
    fn handle_auth(&mut self, tag: u64, result: super::aaa::AuthResult, cx: &mut Ctx<'_>);
    /// Timers.
    fn handle_timeout(&mut self, cx: &mut Ctx<'_>);
    /// The next deadline.
    fn poll_timeout(&self) -> Option<Duration>;
    /// Ends session `handle` (Session-Timeout, Disconnect-Request, shutdown) if it is
    /// this service's. Whether it was.
    fn disconnect(&mut self, handle: Handle, cause: EndCause, cx: &mut Ctx<'_>) -> bool;
    /// A short name for logs and metrics.
    fn name(&self) -> &'static str;
}

/// IPv4 and IPv6 pools by name.
#[derive(Debug, Default)]
pub struct AddressPools {
    v4: BTreeMap<String, V4Alloc>,
    v6: BTreeMap<String, V6Alloc>,
}

#[derive(Debug)]
struct V4Alloc {
    first: u32,
    last: u32,
    next: u32,
    used: std::collections::HashSet<u32>,
}

#[derive(Debug)]
struct V6Alloc {
    base: u128,
    step_bits: u32,
    count: u128,
    length: u8,
    next: u128,
    used: std::collections::HashSet<u128>,
}

impl AddressPools {
    /// The pools of `cfg`.
    #[must_use]
    pub fn new(v4: &[V4Pool], v6: &[V6Pool], v6_pd: &[V6Pool]) -> Self {
        let mut p = Self::default();
        for q in v4 {
            p.v4.insert(
                q.name.clone(),
                V4Alloc {
                    first: q.first.into(),
                    last: q.last.into(),
                    next: q.first.into(),
                    used: std::collections::HashSet::new(),
                },
            );
        }
        for q in v6.iter().chain(v6_pd) {
            let Some((a, l)) = q.parsed() else { continue };
            let step_bits = 128 - u32::from(q.length);
            let pieces_bits = u32::from(q.length.saturating_sub(l));
            p.v6.insert(
                q.name.clone(),
                V6Alloc {
                    base: u128::from(a),
                    step_bits,
                    count: if pieces_bits >= 64 {
                        1 << 64
                    } else {
                        1 << pieces_bits
                    },
                    length: q.length,
                    next: 0,
                    used: std::collections::HashSet::new(),
                },
            );
        }
        p
    }

    /// Allocates an address from the v4 pool `name`.
    pub fn alloc_v4(&mut self, name: &str) -> Option<Ipv4Addr> {
        let p = self.v4.get_mut(name)?;
        let size = u64::from(p.last - p.first) + 1;
        for _ in 0..size {
            let a = p.next;
            p.next = if p.next >= p.last {
                p.first
            } else {
                p.next + 1
            };
            if p.used.insert(a) {
                return Some(a.into());
            }
        }
        None
    }

    /// Marks `addr` used (a Framed-IP-Address inside a pool). Whether it was free.
    pub fn reserve_v4(&mut self, addr: Ipv4Addr) -> bool {
        let a = u32::from(addr);
        self.v4
            .values_mut()
            .find(|p| (p.first..=p.last).contains(&a))
            .is_none_or(|p| p.used.insert(a))
    }

    /// Returns `addr` to its pool.
    pub fn release_v4(&mut self, addr: Ipv4Addr) {
        let a = u32::from(addr);
        for p in self.v4.values_mut() {
            p.used.remove(&a);
        }
    }

    /// Addresses in use in pool `name` and its size.
    #[must_use]
    pub fn usage_v4(&self, name: &str) -> Option<(u64, u64)> {
        self.v4
            .get(name)
            .map(|p| (p.used.len() as u64, u64::from(p.last - p.first) + 1))
    }

    /// Names of the v4 pools.
    pub fn v4_names(&self) -> impl Iterator<Item = &str> {
        self.v4.keys().map(String::as_str)
    }

    /// Allocates a prefix (or address, for /128 pools) from the v6 pool `name`.
    pub fn alloc_v6(&mut self, name: &str) -> Option<(Ipv6Addr, u8)> {
        let p = self.v6.get_mut(name)?;
        let tries = p.count.min(1 << 20);
        for _ in 0..tries {
            let i = p.next;
            p.next = (p.next + 1) % p.count;
            if p.used.insert(i) {
                let off = i.checked_shl(p.step_bits).unwrap_or(0);
                return Some((Ipv6Addr::from(p.base | off), p.length));
            }
        }
        None
    }

    /// Returns a prefix to pool `name`.
    pub fn release_v6(&mut self, name: &str, prefix: Ipv6Addr) {
        if let Some(p) = self.v6.get_mut(name) {
            let idx = u128::from(prefix)
                .wrapping_sub(p.base)
                .checked_shr(p.step_bits)
                .unwrap_or(0);
            p.used.remove(&idx);
        }
    }
}

/// The registry of sessions: handles, accounting, timeouts.
#[derive(Debug, Default)]
pub struct Sessions {
    by_handle: HashMap<Handle, Subscriber>,
    next_handle: Handle,
    /// Prefix of Acct-Session-Ids (the gateway's start time), so ids are unique across
    /// restarts.
    pub acct_prefix: String,
    /// Sessions that ever came up.
    pub total_up: u64,
    /// Sessions ended, by cause.
    pub ended: BTreeMap<&'static str, u64>,
    /// The earliest timer deadline of the Up sessions as of the last scan, lowered by
    /// [`Sessions::up`] (`None`: no timers). Zero after a change to an Up session that
    /// may move a deadline ([`Sessions::authorize`], [`Sessions::get_mut`]): rescan at the next tick.
    earliest: Option<Duration>,
    /// When [`Sessions::handle_timeout`] last scanned the sessions.
    last_scan: Duration,
}

/// The timers' resolution: [`Sessions::poll_timeout`] is never sooner than this after
/// the last scan, so the scan over every session (and the plane's counters for those
/// with an Idle-Timeout) runs at most once per `TICK`, not once per main-loop
/// iteration. Idle-Timeout, Session-Timeout and interim updates therefore fire at
/// most 1 s late, and the idle clock (the last time traffic was seen) has 1 s
/// resolution.
pub const TICK: Duration = Duration::from_secs(1);

impl Sessions {
    /// An empty registry whose Acct-Session-Ids start with `acct_prefix`.
    #[must_use]
    pub fn new(acct_prefix: &str) -> Self {
        Self {
            acct_prefix: acct_prefix.into(),
            next_handle: 1,
            ..Self::default()
        }
    }

    /// An empty registry whose handles start at `first` (non-zero), for a second
    /// registry feeding the same forwarding plane.
    #[must_use]
    pub fn starting_at(acct_prefix: &str, first: Handle) -> Self {
        Self {
            next_handle: first.max(1),
            ..Self::new(acct_prefix)
        }
    }

    /// A new session in state [`State::Starting`]; returns its handle.
    pub fn create(&mut self, now: Duration, key: AccessKey) -> Handle {
        let h = self.next_handle;
        self.next_handle = self.next_handle.wrapping_add(1).max(1);
        self.by_handle.insert(
            h,
            Subscriber {
                handle: h,
                key,
                user: String::new(),
                acct_session_id: format!("{}{h:08x}", self.acct_prefix),
                ipv4: None,
                pd: None,
                ipv6: None,
                prefix64: None,
                prefix64_pool: None,
                qos: None,
                class: None,
                state: State::Starting,
                started: now,
                session_timeout: None,
                idle_timeout: None,
                interim: None,
                next_interim: None,
                last_active: (now, 0),
                v4_pool: None,
                pd_pool: None,
                next_hop: None,
                next_hop6: None,
            },
        );
        h
    }

    /// The session `h`.
    #[must_use]
    pub fn get(&self, h: Handle) -> Option<&Subscriber> {
        self.by_handle.get(&h)
    }

    /// The session `h`, mutably (if it is up, the timers are rescanned at the next
    /// [`TICK`]).
    pub fn get_mut(&mut self, h: Handle) -> Option<&mut Subscriber> {
        let s = self.by_handle.get_mut(&h)?;
        if s.state == State::Up {
            self.earliest = Some(Duration::ZERO);
        }
        Some(s)
    }

    /// Every session.
    pub fn iter(&self) -> impl Iterator<Item = &Subscriber> {
        self.by_handle.values()
    }

    /// The session with this Acct-Session-Id, User-Name or Framed-IP-Address (for
    /// CoA/Disconnect, RFC 5176 section 3).
    #[must_use]
    pub fn find(
        &self,
        acct_session_id: Option<&[u8]>,
        user: Option<&[u8]>,
        ipv4: Option<Ipv4Addr>,
    ) -> Option<Handle> {
        self.by_handle
            .values()
            .find(|s| {
                acct_session_id.is_none_or(|a| a == s.acct_session_id.as_bytes())
                    && user.is_none_or(|u| u == s.user.as_bytes())
                    && ipv4.is_none_or(|a| s.ipv4 == Some(a))
                    && (acct_session_id.is_some() || user.is_some() || ipv4.is_some())
            })
            .map(|s| s.handle)
    }

    /// Sessions per state.
    #[must_use]
    pub fn by_state(&self) -> BTreeMap<State, u64> {
        let mut m = BTreeMap::new();
        for s in self.by_handle.values() {
            *m.entry(s.state).or_insert(0) += 1;
        }
        m
    }

    /// Applies an authorisation to session `h` (timeouts, interim, QoS, class, user).
    pub fn authorize(&mut self, h: Handle, user: &str, a: &Authorization, cfg: &Config) {
        let Some(s) = self.by_handle.get_mut(&h) else {
            return;
        };
        if s.state == State::Up {
            self.earliest = Some(Duration::ZERO);
        }
        s.user = user.into();
        s.session_timeout = a.session_timeout;
        s.idle_timeout = a.idle_timeout;
        s.interim = a.interim.or_else(|| {
            (cfg.radius.interim_interval > 0)
                .then(|| Duration::from_secs(cfg.radius.interim_interval))
        });
        s.class.clone_from(&a.class);
        s.qos = a.qos.clone().or_else(|| {
            let name = a
                .profile
                .clone()
                .or_else(|| cfg.qos.default_profile.clone())?;
            let p = cfg.qos.profiles.get(&name)?;
            Some((name, Qos::from(p)))
        });
    }

    /// Session `h` is up: installs it in the forwarding plane, sends Accounting-Start.
    pub fn up(
        &mut self,
        h: Handle,
        cx_now: Duration,
        plane: &mut dyn Forwarding,
        aaa: &mut dyn Aaa,
    ) {
        let Some(s) = self.by_handle.get_mut(&h) else {
            return;
        };
        if s.state == State::Up {
            return;
        }
        s.state = State::Up;
        s.started = cx_now;
        s.last_active = (cx_now, 0);
        s.next_interim = s.interim.map(|i| cx_now + i);
        let first = deadline(s, cx_now);
        self.earliest = self.earliest.into_iter().chain(first).min();
        self.total_up += 1;
        plane.session_up(s);
        aaa.account(cx_now, AcctKind::Start, s, &Counters::default(), None);
        tracing::info!(
            handle = h,
            user = %s.user,
            ipv4 = ?s.ipv4,
            pd = ?s.pd,
            qos = ?s.qos,
            acct_session_id = %s.acct_session_id,
            "session up"
        );
    }

    /// Session `h` ended: removes it from the plane (if it was up), sends
    /// Accounting-Stop with its counters, frees its addresses, forgets it.
    pub fn down(
        &mut self,
        h: Handle,
        now: Duration,
        cause: EndCause,
        plane: &mut dyn Forwarding,
        aaa: &mut dyn Aaa,
        pools: &mut AddressPools,
    ) {
        let Some(s) = self.by_handle.remove(&h) else {
            return;
        };
        let c = plane.counters(h);
        plane.session_down(&s);
        if s.state == State::Up {
            aaa.account(now, AcctKind::Stop, &s, &c, Some(cause));
            tracing::info!(
                handle = h,
                user = %s.user,
                cause = ?cause,
                in_bytes = c.in_bytes,
                out_bytes = c.out_bytes,
                secs = now.saturating_sub(s.started).as_secs(),
                "session down"
            );
            *self.ended.entry(cause_label(cause)).or_insert(0) += 1;
        }
        // a pool address, or a Framed-IP-Address reserved inside a pool's range
        if let Some(a) = s.ipv4 {
            pools.release_v4(a);
        }
        if let (Some((p, _)), Some(name)) = (s.pd, &s.pd_pool) {
            pools.release_v6(name, p);
        }
        if let (Some((p, _)), Some(name)) = (s.prefix64, &s.prefix64_pool) {
            pools.release_v6(name, p);
        }
    }

    /// Interim updates due and expired timeouts: sends the Interim-Updates itself and
    /// returns the sessions to end (Session-Timeout / Idle-Timeout). Scans every session:
    /// call it when [`Sessions::poll_timeout`] is due, not on every loop. Reads the
    /// plane's counters only for sessions with an Idle-Timeout or an interim update due.
    pub fn handle_timeout(
        &mut self,
        now: Duration,
        plane: &dyn Forwarding,
        aaa: &mut dyn Aaa,
    ) -> Vec<(Handle, EndCause)> {
        let mut end = Vec::new();
        let mut earliest = None;
        for s in self.by_handle.values_mut().filter(|s| s.state == State::Up) {
            if s.session_timeout.is_some_and(|t| now >= s.started + t) {
                end.push((s.handle, EndCause::SessionTimeout));
                continue;
            }
            let interim_due = s.next_interim.is_some_and(|at| now >= at);
            if s.idle_timeout.is_none() && !interim_due {
                earliest = earliest.into_iter().chain(deadline(s, now)).min();
                continue;
            }
            let c = plane.counters(s.handle);
            let pk = c.in_packets + c.out_packets;
            if pk != s.last_active.1 {
                s.last_active = (now, pk);
            }
            if s.idle_timeout.is_some_and(|t| now >= s.last_active.0 + t) {
                end.push((s.handle, EndCause::IdleTimeout));
                continue;
            }
            if let (true, Some(i)) = (interim_due, s.interim) {
                aaa.account(now, AcctKind::Interim, s, &c, None);
                s.next_interim = Some(now + i);
            }
            earliest = earliest.into_iter().chain(deadline(s, now)).min();
        }
        self.earliest = earliest;
        self.last_scan = now;
        end
    }

    /// The next deadline of [`Sessions::handle_timeout`]: the earliest interim update or
    /// Session-Timeout, or the next idle check while sessions have an Idle-Timeout
    /// (which depends on traffic), but never sooner than [`TICK`] after the last scan.
    /// Constant time (kept up to date by the scan and [`Sessions::up`]).
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Duration> {
        self.earliest.map(|t| t.max(self.last_scan + TICK))
    }

    /// Sessions registered.
    #[must_use]
    pub fn len(&self) -> usize {
        self.by_handle.len()
    }

    /// Whether none are registered.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.by_handle.is_empty()
    }
}

/// The earliest timer of Up session `s` as seen at `now`: its next interim update, its
/// Session-Timeout, or the next idle check ([`TICK`] away) if it has an Idle-Timeout.
fn deadline(s: &Subscriber, now: Duration) -> Option<Duration> {
    [
        s.next_interim,
        s.session_timeout.map(|t| s.started + t),
        s.idle_timeout.map(|_| now + TICK),
    ]
    .into_iter()
    .flatten()
    .min()
}

/// The metrics label of an end cause.
#[must_use]
pub fn cause_label(c: EndCause) -> &'static str {
    match c {
        EndCause::UserRequest => "user_request",
        EndCause::LostCarrier => "lost_carrier",
        EndCause::SessionTimeout => "session_timeout",
        EndCause::IdleTimeout => "idle_timeout",
        EndCause::AdminReset => "admin_reset",
        EndCause::AdminReboot => "admin_reboot",
        EndCause::NasError => "nas_error",
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    #[test]
    fn v4_pool_allocates_and_reuses() {
        let mut p = AddressPools::new(
            &[V4Pool {
                name: "a".into(),
                first: Ipv4Addr::new(10, 0, 0, 1),
                last: Ipv4Addr::new(10, 0, 0, 2),
            }],
            &[],
            &[],
        );
        let a = p.alloc_v4("a").unwrap();
        let b = p.alloc_v4("a").unwrap();
        assert_ne!(a, b);
        assert!(p.alloc_v4("a").is_none());
        p.release_v4(a);
        assert_eq!(p.alloc_v4("a"), Some(a));
        assert!(!p.reserve_v4(b));
        assert!(p.reserve_v4(Ipv4Addr::new(192, 0, 2, 1)));
    }

    #[test]
    fn v6_pd_pool_steps_by_length() {
        let mut p = AddressPools::new(
            &[],
            &[],
            &[V6Pool {
                name: "pd".into(),
                prefix: "2001:db8:100::/40".into(),
                length: 56,
            }],
        );
        let (a, l) = p.alloc_v6("pd").unwrap();
        let (b, _) = p.alloc_v6("pd").unwrap();
        assert_eq!(l, 56);
        assert_eq!(a, "2001:db8:100::".parse::<Ipv6Addr>().unwrap());
        assert_eq!(b, "2001:db8:100:100::".parse::<Ipv6Addr>().unwrap());
        p.release_v6("pd", a);
        assert!(p.alloc_v6("pd").is_some());
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod registry_tests {
    use super::*;
    use crate::bng::aaa::{AuthRequest, AuthResult};

    #[derive(Default)]
    struct Plane {
        installed: Vec<Handle>,
        counters: Counters,
        reads: std::cell::Cell<u32>,
    }

    impl Forwarding for Plane {
        fn session_up(&mut self, s: &Subscriber) {
            self.installed.push(s.handle);
        }
        fn session_down(&mut self, s: &Subscriber) {
            self.installed.retain(|h| *h != s.handle);
        }
        fn set_qos(&mut self, _s: &Subscriber) {}
        fn counters(&self, _h: Handle) -> Counters {
            self.reads.set(self.reads.get() + 1);
            self.counters
        }
        fn transmit(&mut self, _p: Port, _f: &[u8]) {}
    }

    #[derive(Default)]
    struct Log(Vec<(AcctKind, u64, Option<EndCause>)>);

    impl Aaa for Log {
        fn submit(&mut self, _: Duration, _: u64, _: AuthRequest) {}
        fn poll_result(&mut self) -> Option<(u64, AuthResult)> {
            None
        }
        fn account(
            &mut self,
            _: Duration,
            k: AcctKind,
            _: &Subscriber,
            c: &Counters,
            cause: Option<EndCause>,
        ) {
            self.0.push((k, c.in_bytes, cause));
        }
        fn flush(&mut self, _: Duration) {}
    }

    fn cfg() -> Config {
        let mut c = Config::embedded_default();
        c.radius.interim_interval = 0;
        c
    }

    #[test]
    fn start_interim_and_session_timeout_stop() {
        let (mut plane, mut aaa, mut pools) =
            (Plane::default(), Log::default(), AddressPools::default());
        let mut reg = Sessions::new("t-");
        let key = AccessKey::Pppoe {
            mac: [2, 0, 0, 0, 0, 1],
            session_id: 7,
            vlans: [0, 0],
        };
        let h = reg.create(Duration::ZERO, key);
        let a = Authorization {
            session_timeout: Some(Duration::from_secs(100)),
            interim: Some(Duration::from_secs(60)),
            profile: Some("default".into()),
            ..Authorization::default()
        };
        reg.authorize(h, "alice", &a, &cfg());
        assert_eq!(
            reg.get(h).unwrap().qos.as_ref().unwrap().1.down_bps,
            100_000_000
        );
        reg.up(h, Duration::from_secs(1), &mut plane, &mut aaa);
        assert_eq!(plane.installed, vec![h]);
        assert_eq!(reg.poll_timeout(), Some(Duration::from_secs(61)));
        plane.counters.in_bytes = 1000;
        assert!(
            reg.handle_timeout(Duration::from_secs(61), &plane, &mut aaa)
                .is_empty()
        );
        let end = reg.handle_timeout(Duration::from_secs(101), &plane, &mut aaa);
        assert_eq!(end, vec![(h, EndCause::SessionTimeout)]);
        reg.down(
            h,
            Duration::from_secs(101),
            EndCause::SessionTimeout,
            &mut plane,
            &mut aaa,
            &mut pools,
        );
        assert!(plane.installed.is_empty() && reg.is_empty());
        assert_eq!(
            aaa.0,
            vec![
                (AcctKind::Start, 0, None),
                (AcctKind::Interim, 1000, None),
                (AcctKind::Stop, 1000, Some(EndCause::SessionTimeout)),
            ]
        );
        assert_eq!(reg.ended.get("session_timeout"), Some(&1));
    }

    #[test]
    fn idle_timeout_follows_traffic_and_find_by_identity() {
        let (mut plane, mut aaa) = (Plane::default(), Log::default());
        let mut reg = Sessions::new("t-");
        let h = reg.create(
            Duration::ZERO,
            AccessKey::Pppoe {
                mac: [2, 0, 0, 0, 0, 2],
                session_id: 8,
                vlans: [0, 0],
            },
        );
        let a = Authorization {
            idle_timeout: Some(Duration::from_secs(30)),
            ..Authorization::default()
        };
        reg.authorize(h, "bob", &a, &cfg());
        reg.get_mut(h).unwrap().ipv4 = Some(Ipv4Addr::new(100, 64, 0, 9));
        reg.up(h, Duration::ZERO, &mut plane, &mut aaa);
        plane.counters.in_packets = 5;
        assert!(
            reg.handle_timeout(Duration::from_secs(20), &plane, &mut aaa)
                .is_empty()
        );
        // active at 20 s: idle until 50 s
        assert!(
            reg.handle_timeout(Duration::from_secs(45), &plane, &mut aaa)
                .is_empty()
        );
        let end = reg.handle_timeout(Duration::from_secs(51), &plane, &mut aaa);
        assert_eq!(end, vec![(h, EndCause::IdleTimeout)]);
        let id = reg.get(h).unwrap().acct_session_id.clone();
        assert_eq!(reg.find(Some(id.as_bytes()), None, None), Some(h));
        assert_eq!(reg.find(None, Some(b"bob"), None), Some(h));
        assert_eq!(
            reg.find(None, None, Some(Ipv4Addr::new(100, 64, 0, 9))),
            Some(h)
        );
        assert_eq!(reg.find(None, Some(b"eve"), None), None);
        assert_eq!(reg.find(None, None, None), None);
    }

    #[test]
    fn timers_tick_and_counters_read_only_when_needed() {
        let (mut plane, mut aaa) = (Plane::default(), Log::default());
        let mut reg = Sessions::new("t-");
        assert_eq!(reg.poll_timeout(), None);
        let key = |n| AccessKey::Pppoe {
            mac: [2, 0, 0, 0, 0, n],
            session_id: u16::from(n),
            vlans: [0, 0],
        };
        let interim = Authorization {
            interim: Some(Duration::from_secs(60)),
            ..Authorization::default()
        };
        let idle = Authorization {
            idle_timeout: Some(Duration::from_secs(30)),
            ..Authorization::default()
        };
        let (a, b) = (
            reg.create(Duration::ZERO, key(1)),
            reg.create(Duration::ZERO, key(2)),
        );
        reg.authorize(a, "a", &interim, &cfg());
        reg.up(a, Duration::ZERO, &mut plane, &mut aaa);
        assert_eq!(reg.poll_timeout(), Some(Duration::from_secs(60)));
        reg.authorize(b, "b", &idle, &cfg());
        reg.up(b, Duration::from_millis(300), &mut plane, &mut aaa);
        // the idle check of b, a tick after it came up
        assert_eq!(reg.poll_timeout(), Some(Duration::from_millis(1300)));
        assert!(
            reg.handle_timeout(Duration::from_millis(1300), &plane, &mut aaa)
                .is_empty()
        );
        // only b (idle timeout) was read; a has no timer due
        assert_eq!(plane.reads.get(), 1);
        assert_eq!(reg.poll_timeout(), Some(Duration::from_millis(2300)));
        // a change to an up session: rescanned at the next tick, not sooner
        reg.get_mut(a).unwrap().session_timeout = Some(Duration::from_secs(2));
        assert_eq!(reg.poll_timeout(), Some(Duration::from_millis(2300)));
        let end = reg.handle_timeout(Duration::from_millis(2300), &plane, &mut aaa);
        assert_eq!(end, vec![(a, EndCause::SessionTimeout)]);
        assert_eq!(plane.reads.get(), 2);
    }
}
