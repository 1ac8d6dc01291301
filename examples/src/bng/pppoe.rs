//! The PPPoE control plane of `bng`, shared by the gateway and `lab`: the discovery
//! access concentrator (`bng_pppoe::ac::Ac`, RFC 2516 section 5) and one PPP server
//! session per client (`bng_pppoe::ppp::session::Session`: LCP, PAP/CHAP, IPCP,
//! IPv6CP; RFC 1661, 1334, 1994, 1332, 5072), authenticated through [`Aaa`](super::aaa::Aaa) and
//! addressed from AAA (Framed-IP-Address, Framed-Pool) or the configured pool.
//! A session is up once either NCP opens (RFC 1661 section 3.7); its IPv4 address is
//! installed only when IPCP opens, so IPv6-only sessions have no IPv4 state.
//!
//! It sees the world through [`Ctx`]: punted frames in ([`Service::handle_punt`]),
//! frames out and sessions installed through [`Forwarding`], accounting through the
//! [`Sessions`] registry.
//!
//! [`Forwarding`]: super::session::Forwarding
//! [`Sessions`]: super::session::Sessions

use std::cell::Cell;
use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::rc::Rc;
use std::time::Duration;

use bng_dhcp::v6::server::{Action6, BindingSlot, Config6, Event6, IaKind, Server6};

use bng_pppoe::ac::{
    Ac, AcConfig, CookieSecret, Outcome, ServicePolicy, SessionAllocator, SessionId,
};
use bng_pppoe::ethernet::{Header, Mac};
use bng_pppoe::ppp::session::{Config as PppConfig, DownCause, Event as PppEvent, Session};
use bng_radius::rand_core::RngCore;

use super::aaa::{AuthRequest, AuthResult};
use super::ipoe::{Addrs6, udp6_packet};
use super::session::{AccessKey, Ctx, EndCause, Handle, Port, Punt, PuntKind, Service, State};

/// The Service-Name policy of the configuration: any, or one name (RFC 2516 section 5.1).
#[derive(Debug, Clone, Copy)]
pub struct Policy<'c> {
    names: [&'c [u8]; 1],
    any: bool,
}

impl<'c> Policy<'c> {
    /// Any service when `name` is empty, else `name` (and the empty name).
    #[must_use]
    pub fn new(name: &'c [u8]) -> Self {
        Self {
            names: [name],
            any: name.is_empty(),
        }
    }
}

impl ServicePolicy for Policy<'_> {
    fn accepts(&self, _: &Mac, name: &[u8]) -> bool {
        self.any || name.is_empty() || self.names.contains(&name)
    }
    fn offered(&self) -> &[&[u8]] {
        if self.any { &[] } else { &self.names }
    }
}

/// Sessions one client MAC may hold at once (several PPPoE clients behind one MAC, e.g.
/// several pppd on one host; RFC 2516 tells them apart by Host-Uniq).
pub const MAX_SESSIONS_PER_MAC: u16 = 64;

/// Session ids, unique on the port: one per client (MAC and Host-Uniq) while it holds a
/// session, so a retransmitted PADR gets its session again (RFC 2516 section 5.4), and
/// clients sharing a MAC with their own Host-Uniq get their own sessions.
#[derive(Debug, Default)]
struct SidAlloc {
    next: u16,
    by_client: HashMap<(Mac, Vec<u8>), u16>,
    owner: HashMap<u16, (Mac, Vec<u8>)>,
    per_mac: HashMap<Mac, u16>,
}

impl SidAlloc {
    /// Whether `peer` holds session `id`.
    fn holds(&self, peer: Mac, id: u16) -> bool {
        self.owner.get(&id).is_some_and(|(m, _)| *m == peer)
    }
}

impl SessionAllocator for SidAlloc {
    fn allocate(&mut self, peer: &Mac, host_uniq: Option<&[u8]>) -> Option<SessionId> {
        let client = (*peer, host_uniq.unwrap_or_default().to_vec());
        if let Some(id) = self.by_client.get(&client) {
            return SessionId::new(*id);
        }
        if self.per_mac.get(peer).copied().unwrap_or(0) >= MAX_SESSIONS_PER_MAC {
            return None;
        }
        for _ in 0..0xfffe {
            self.next = if self.next >= 0xfffe {
                1
            } else {
                self.next + 1
            };
            if !self.owner.contains_key(&self.next) {
                self.owner.insert(self.next, client.clone());
                self.by_client.insert(client, self.next);
                *self.per_mac.entry(*peer).or_insert(0) += 1;
                return SessionId::new(self.next);
            }
        }
        None
    }
    fn release(&mut self, peer: &Mac, id: SessionId) -> bool {
        if !self.holds(*peer, id.get()) {
            return false;
        }
        if let Some(client) = self.owner.remove(&id.get()) {
            self.by_client.remove(&client);
        }
        if let Some(n) = self.per_mac.get_mut(peer) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.per_mac.remove(peer);
            }
        }
        true
    }
}

/// How long after the PADS the AC waits for the client's first PPP frame before it
/// starts LCP itself. Starting at once loses the first Configure-Request to a client whose
/// kernel PPPoE channel is not ready yet (pppd), which then costs a 3 s restart timer.
pub const LCP_START_DELAY: Duration = Duration::from_millis(500);

/// The next deadline of a session: its LCP start, else its own timers, and its next
/// unsolicited Router Advertisement.
fn deadline(s: &Sess<'_>) -> Option<Duration> {
    let ppp = s.start_at.or_else(|| s.ppp.poll_timeout());
    match (ppp, s.v6.as_ref().map(|v| v.next_ra)) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// An NCP opened on `s`'s link. IPCP and IPv6CP are independent (RFC 1661 section
/// 3.7), so the first to open brings the session up (installed in the plane,
/// Accounting-Start once); IPCP opening on a session already up installs it again
/// with its IPv4 address (`reinstall`).
fn ncp_up(s: &Sess<'_>, reinstall: bool, cx: &mut Ctx<'_>) {
    match cx.sessions.get(s.handle).map(|x| x.state) {
        Some(State::Up) if reinstall => install(s, cx),
        Some(State::Up) | None => {}
        Some(_) => cx.sessions.up(s.handle, cx.now, cx.plane, cx.aaa),
    }
}

/// Installs the up session `s` in the plane again (an NCP opened, its delegated
/// prefix released or bound again): the delegated prefix only while not released.
fn install(s: &Sess<'_>, cx: &mut Ctx<'_>) {
    let Some(sub) = cx.sessions.get(s.handle).filter(|x| x.state == State::Up) else {
        return;
    };
    if s.pd_released {
        let mut view = sub.clone();
        view.pd = None;
        cx.plane.session_up(&view);
    } else {
        cx.plane.session_up(sub);
    }
}

/// What a DHCPv6 server event means for a delegated prefix's route: bound (routed),
/// released or expired (not routed).
fn pd_route(a: &Action6) -> Option<((Ipv6Addr, u8), bool)> {
    match *a {
        Action6::Event(Event6::Bound {
            kind: IaKind::Pd,
            value,
            ..
        }) => Some((value, true)),
        Action6::Event(
            Event6::Released {
                kind: IaKind::Pd,
                value,
            }
            | Event6::Expired {
                kind: IaKind::Pd,
                value,
            },
        ) => Some((value, false)),
        _ => None,
    }
}

/// Router Advertisements on the PPP links (RFC 4861 section 6.2.1 router variables;
/// RFC 5072 section 5: after IPv6CP, the link-local addresses are `fe80::` and the
/// interface identifier, and a router advertises the link's prefix for stateless
/// autoconfiguration, RFC 4862).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RaConfig {
    /// M flag: addresses by DHCPv6 (RFC 4861 section 4.2).
    pub managed: bool,
    /// O flag: other configuration (DNS) by DHCPv6.
    pub other: bool,
    /// `MaxRtrAdvInterval`: between unsolicited advertisements; the router lifetime
    /// is three times this (`AdvDefaultLifetime`'s default), at most 9000 s.
    pub interval: Duration,
    /// The link MTU advertised (MTU option, RFC 4861 section 4.6.4).
    pub mtu: u16,
    /// DNS servers (RDNSS option, RFC 8106 section 5.1).
    pub dns: Vec<Ipv6Addr>,
    /// The `pools.v6_pd` pool of /64s for sessions without a Framed-IPv6-Prefix.
    pub pool: Option<String>,
}

impl Default for RaConfig {
    fn default() -> Self {
        Self {
            managed: false,
            other: false,
            interval: Duration::from_secs(200),
            mtu: 1492,
            dns: Vec::new(),
            pool: None,
        }
    }
}

/// RFC 4861 section 10: `MAX_INITIAL_RTR_ADVERTISEMENTS` and
/// `MAX_INITIAL_RTR_ADVERT_INTERVAL`.
const INITIAL_RAS: u8 = 3;
const INITIAL_RA_INTERVAL: Duration = Duration::from_secs(16);

/// Storage of the DHCPv6 server over PPP ([`PppoeCp::with_dhcp6`]): its bindings
/// (IA_PD, one per session and client IAID) and its DUID.
#[derive(Debug)]
pub struct Dhcp6Storage {
    bindings: Vec<BindingSlot>,
    duid: Vec<u8>,
}

impl Dhcp6Storage {
    /// Room for `bindings` bindings; the server DUID is DUID-LL (RFC 8415 section
    /// 11.4) of the access port's `mac`.
    #[must_use]
    pub fn new(mac: Mac, bindings: usize) -> Self {
        Self {
            bindings: vec![BindingSlot::Empty; bindings.max(16)],
            duid: vec![0, 3, 0, 1, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]],
        }
    }
}

/// DHCPv6 over PPP (RFC 8415): `bng-dhcp`'s server with the IPoE service's assigner
/// ([`Addrs6::framed_only`]), which hands each session the delegated prefix it got
/// at authentication (RADIUS Delegated-IPv6-Prefix, RFC 4818, or `pppoe.pd_pool`):
/// `framed` holds it while the session's message is handled.
struct PppDhcp6<'c> {
    server: Server6<'c, Addrs6<'c>>,
    framed: Rc<Cell<Option<(Ipv6Addr, u8)>>>,
}

/// IPv6 on one PPP link, once IPv6CP is open.
#[derive(Debug, Clone, Copy)]
struct Link6 {
    /// Our link-local address, `fe80::` and our interface identifier (RFC 5072 section 5).
    local: Ipv6Addr,
    /// The next unsolicited Router Advertisement.
    next_ra: Duration,
    /// Initial advertisements still to send at the short interval.
    initial: u8,
    /// The last solicited advertisement (at most one per second per link).
    last_solicited: Option<Duration>,
}

/// The link-local address `fe80::<iid>` (RFC 5072 section 5, RFC 4291 section 2.5.6).
fn link_local6(iid: [u8; 8]) -> Ipv6Addr {
    let mut a = [0u8; 16];
    a[0] = 0xfe;
    a[1] = 0x80;
    a[8..].copy_from_slice(&iid);
    Ipv6Addr::from(a)
}

/// A Router Advertisement (RFC 4861 section 4.2) as an ICMPv6 message: hop limit 64,
/// M/O flags, router lifetime, the MTU option, the prefix of the link for SLAAC
/// (section 4.6.2: on-link and autonomous; preferred lifetime 0 when `leaving`,
/// RFC 8978 section 3) and RDNSS (RFC 8106). When `leaving`, router lifetime 0
/// (section 6.2.5: the router ceases to advertise).
fn router_advertisement(c: &RaConfig, prefix: Option<(Ipv6Addr, u8)>, leaving: bool) -> Vec<u8> {
    let lifetime = if leaving {
        0
    } else {
        u16::try_from((c.interval.as_secs() * 3).min(9000)).unwrap_or(9000)
    };
    let flags = (u8::from(c.managed) << 7) | (u8::from(c.other) << 6);
    let mut m = vec![134, 0, 0, 0, 64, flags];
    m.extend_from_slice(&lifetime.to_be_bytes());
    m.extend_from_slice(&[0; 8]); // reachable time, retrans timer: unspecified
    m.extend_from_slice(&[5, 1, 0, 0]);
    m.extend_from_slice(&u32::from(c.mtu).to_be_bytes());
    if let Some((p, len)) = prefix {
        let (valid, preferred): (u32, u32) = (86_400, if leaving { 0 } else { 14_400 });
        m.extend_from_slice(&[3, 4, len, 0xc0]);
        m.extend_from_slice(&valid.to_be_bytes());
        m.extend_from_slice(&preferred.to_be_bytes());
        m.extend_from_slice(&[0; 4]);
        m.extend_from_slice(&p.octets());
    }
    if !c.dns.is_empty() {
        let n = c.dns.len().min(8);
        m.extend_from_slice(&[25, u8::try_from(1 + 2 * n).unwrap_or(17), 0, 0]);
        m.extend_from_slice(&u32::from(lifetime).to_be_bytes());
        for d in c.dns.iter().take(n) {
            m.extend_from_slice(&d.octets());
        }
    }
    m
}

/// A PPPoE session frame (RFC 2516 section 4) carrying the IPv6 packet `ip` as PPP
/// protocol 0x0057 (RFC 5072 section 3) behind `link`'s Ethernet header.
fn ppp6_frame(link: &Header, sid: u16, ip: &[u8]) -> Option<Vec<u8>> {
    let l2 = link.wire_len();
    let mut f = vec![0u8; l2 + 8 + ip.len()];
    link.emit(&mut f).ok()?;
    let len = u16::try_from(ip.len() + 2).ok()?;
    let h = f.get_mut(l2..)?.first_chunk_mut::<8>()?;
    h[..2].copy_from_slice(&[0x11, 0x00]);
    h[2..4].copy_from_slice(&sid.to_be_bytes());
    h[4..6].copy_from_slice(&len.to_be_bytes());
    h[6..].copy_from_slice(&[0x00, 0x57]);
    f.get_mut(l2 + 8..)?.copy_from_slice(ip);
    Some(f)
}

struct Sess<'c> {
    ppp: Session<'c>,
    /// LCP not started yet: until the client's first PPP frame or this deadline.
    start_at: Option<Duration>,
    link: Header,
    handle: Handle,
    /// Why we are ending it (set by [`PppoeCp::disconnect`]).
    ending: Option<EndCause>,
    /// IPv6 on the link, once IPv6CP is open (Router Advertisements).
    v6: Option<Link6>,
    /// The IPv4 address reserved at authentication: the subscriber's (installed in the
    /// plane) only once IPCP opens, given back at the end if it never did.
    v4: Option<Ipv4Addr>,
    /// The delegated prefix was released by the client (DHCPv6 Release) or its binding
    /// expired: not routed until a new binding (RFC 8415 section 18.3.7).
    pd_released: bool,
}

/// Counters of the PPPoE control plane (metrics).
#[derive(Debug, Clone, Copy, Default)]
pub struct Stats {
    /// Sessions started by PADS.
    pub pads: u64,
    /// Authentications accepted.
    pub auth_accepted: u64,
    /// Authentications rejected.
    pub auth_rejected: u64,
    /// Sessions that reached IPCP Opened.
    pub ipcp_up: u64,
    /// PADTs we sent.
    pub padt_sent: u64,
    /// Accepted users refused for want of an address: no IPv4 address (pool empty or
    /// address taken) and no IPv6 prefix.
    pub no_address: u64,
    /// Router Advertisements sent on PPP links.
    pub ra_sent: u64,
    /// Router Solicitations answered.
    pub rs_answered: u64,
    /// DHCPv6 bindings made or extended over PPP.
    pub dhcp6_bound: u64,
}

/// The PPPoE control plane.
pub struct PppoeCp<'c, R: RngCore> {
    ac: Ac<'c, Policy<'c>>,
    ppp_cfg: &'c PppConfig<'c>,
    alloc: SidAlloc,
    by_sid: HashMap<u16, Sess<'c>>,
    by_handle: HashMap<Handle, u16>,
    pending: HashMap<u64, u16>,
    next_tag: u64,
    rng: R,
    /// The v4 pool when AAA names none.
    pool: String,
    /// The delegated-prefix pool, if any.
    pd_pool: Option<String>,
    /// Router Advertisements on IPv6CP links.
    ra: RaConfig,
    /// DHCPv6 in the sessions, if served.
    dhcp6: Option<PppDhcp6<'c>>,
    /// NAS-Port-Id prefix (the access interface).
    port_name: String,
    tx: Vec<u8>,
    frame: Vec<u8>,
    /// Counters.
    pub stats: Stats,
}

impl<'c, R: RngCore> PppoeCp<'c, R> {
    /// A control plane answering as `ac` with PPP settings `ppp_cfg`, cookie key and
    /// magic numbers / challenges from `rng`.
    ///
    /// # Errors
    /// The AC refuses the configuration.
    pub fn new(
        ac: AcConfig<'c>,
        policy: Policy<'c>,
        ppp_cfg: &'c PppConfig<'c>,
        mut rng: R,
        pool: &str,
        pd_pool: Option<&str>,
        port_name: &str,
    ) -> Result<Self, String> {
        let mut key = [0u8; 32];
        rng.fill_bytes(&mut key);
        let ac = Ac::new(ac, policy, CookieSecret::new(key)).map_err(|e| format!("{e:?}"))?;
        Ok(Self {
            ac,
            ppp_cfg,
            alloc: SidAlloc::default(),
            by_sid: HashMap::new(),
            by_handle: HashMap::new(),
            pending: HashMap::new(),
            next_tag: 1,
            rng,
            pool: pool.into(),
            pd_pool: pd_pool.map(str::to_string),
            ra: RaConfig::default(),
            dhcp6: None,
            port_name: port_name.into(),
            tx: vec![0; 2048],
            frame: vec![0; 2048],
            stats: Stats::default(),
        })
    }

    /// Sets the Router Advertisements sent on links whose IPv6CP opens.
    #[must_use]
    pub fn with_ra(mut self, ra: RaConfig) -> Self {
        self.ra = ra;
        self
    }

    /// Serves DHCPv6 in the sessions (RFC 8415: Solicit/Advertise, Request/Renew/
    /// Rebind/Reply, Release, Information-request; IA_PD with the session's delegated
    /// prefix, IA_NA answered `NoAddrsAvail`; DNS, option 23, from `dns`).
    ///
    /// # Errors
    /// The DHCPv6 server refuses the storage.
    pub fn with_dhcp6(
        mut self,
        storage: &'c mut Dhcp6Storage,
        dns: &[Ipv6Addr],
    ) -> Result<Self, String> {
        let framed = Rc::new(Cell::new(None));
        let mut c6 = Config6::new(&storage.duid);
        for (d, s) in c6.dns.iter_mut().zip(dns) {
            *d = *s;
        }
        let server = Server6::new(
            c6,
            Addrs6::framed_only(Rc::clone(&framed)),
            &mut storage.bindings,
        )
        .map_err(|e| format!("DHCPv6 over PPP: {e:?}"))?;
        self.dhcp6 = Some(PppDhcp6 { server, framed });
        Ok(self)
    }

    /// The access concentrator's counters.
    #[must_use]
    pub fn ac_counters(&self) -> bng_pppoe::ac::Counters {
        *self.ac.counters()
    }

    /// PPP sessions held.
    #[must_use]
    pub fn len(&self) -> usize {
        self.by_sid.len()
    }

    /// Whether none are held.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.by_sid.is_empty()
    }

    fn discovery(&mut self, punt: &Punt<'_>, cx: &mut Ctx<'_>) {
        let now = cx.now;
        match self
            .ac
            .handle_frame(now, punt.frame, &mut self.tx, &mut self.alloc)
        {
            Outcome::Reply { len, .. } => {
                if let Some(f) = self.tx.get(..len) {
                    cx.plane.transmit(Port::Access, f);
                }
            }
            Outcome::SessionStarted { len, session } => {
                let sid = session.session_id.get();
                let link = Header {
                    ethertype: 0x8864,
                    ..session.link
                };
                let mut vlans = [0u16; 2];
                for (v, t) in vlans.iter_mut().zip(link.vlans()) {
                    *v = t.tci & 0x0fff;
                }
                if let Some(f) = self.tx.get(..len) {
                    cx.plane.transmit(Port::Access, f);
                }
                if self.by_sid.contains_key(&sid) {
                    return; // a repeated PADR (RFC 2516 section 7): same session
                }
                self.stats.pads += 1;
                let key = AccessKey::Pppoe {
                    mac: link.dst,
                    session_id: sid,
                    vlans,
                };
                let handle = cx.sessions.create(now, key);
                if let Some(s) = cx.sessions.get(handle) {
                    cx.plane.session_created(s);
                }
                let mut challenge = [0u8; 16];
                self.rng.fill_bytes(&mut challenge);
                let ppp = Session::from_parts(self.ppp_cfg, sid, self.rng.next_u64(), challenge);
                self.by_sid.insert(
                    sid,
                    Sess {
                        ppp,
                        start_at: Some(now + LCP_START_DELAY),
                        link,
                        handle,
                        ending: None,
                        v6: None,
                        v4: None,
                        pd_released: false,
                    },
                );
                self.by_handle.insert(handle, sid);
                self.flush(sid, cx);
            }
            Outcome::SessionTerminated { session_id, .. } => {
                // PADT from the client (RFC 2516 section 5.5): the session is over
                let sid = session_id.get();
                if let Some(s) = self.by_sid.get_mut(&sid) {
                    s.ending.get_or_insert(EndCause::UserRequest);
                    s.ppp.lower_down(now);
                }
                self.flush(sid, cx);
            }
            Outcome::Dropped(r) => tracing::debug!(reason = ?r, "pppoe discovery dropped"),
            Outcome::NotDiscovery => {}
        }
    }

    fn control(&mut self, punt: &Punt<'_>, cx: &mut Ctx<'_>) {
        let now = cx.now;
        let Some(hdr) = punt.frame.get(punt.l3_offset..) else {
            return;
        };
        let Some(sid) = hdr
            .get(2..4)
            .and_then(|b| <[u8; 2]>::try_from(b).ok())
            .map(u16::from_be_bytes)
        else {
            return;
        };
        let len = hdr
            .get(4..6)
            .and_then(|b| <[u8; 2]>::try_from(b).ok())
            .map_or(0, |b| usize::from(u16::from_be_bytes(b)));
        let Some(pppoe) = hdr.get(..6 + len) else {
            return;
        };
        let Some(s) = self.by_sid.get_mut(&sid) else {
            return;
        };
        if punt.frame.get(6..12) != Some(&s.link.dst[..]) {
            return;
        }
        if s.start_at.take().is_some() {
            // the client speaks: its channel is up, start LCP (RFC 1661 section 3.2)
            s.ppp.start(now);
        }
        if let Ok(Some(req)) = s.ppp.handle_packet(now, pppoe) {
            let owned =
                AuthRequest::from_ppp(&req, s.link.dst, format!("{}:{sid}", self.port_name));
            let tag = self.next_tag;
            self.next_tag += 1;
            self.pending.insert(tag, sid);
            if let Some(sub) = cx.sessions.get_mut(s.handle) {
                sub.state = State::Authenticating;
                sub.user.clone_from(&owned.user);
            }
            cx.aaa.submit(now, tag, owned);
        }
        self.flush(sid, cx);
    }

    /// Sends what session `sid` wants to send and acts on its events.
    fn flush(&mut self, sid: u16, cx: &mut Ctx<'_>) {
        let now = cx.now;
        let Some(s) = self.by_sid.get_mut(&sid) else {
            return;
        };
        let l2 = s.link.wire_len();
        while let Some(a) = self
            .frame
            .get_mut(l2..)
            .and_then(|out| s.ppp.poll_action(now, out))
        {
            if s.link.emit(&mut self.frame).is_ok()
                && let Some(f) = self.frame.get(..l2 + a.len())
            {
                cx.plane.transmit(Port::Access, f);
            }
        }
        let mut down = None;
        let mut v6_up = false;
        while let Some(e) = s.ppp.poll_event() {
            match e {
                PppEvent::Ipv4Up { .. } => {
                    self.stats.ipcp_up += 1;
                    if let Some(sub) = cx.sessions.get_mut(s.handle) {
                        sub.ipv4 = s.v4;
                    }
                    ncp_up(s, true, cx);
                }
                PppEvent::Ipv6Up { local, .. } => {
                    // RFC 4861 section 6.2.4: advertise at once, then the initial ones
                    s.v6 = Some(Link6 {
                        local: link_local6(local),
                        next_ra: now,
                        initial: INITIAL_RAS,
                        last_solicited: None,
                    });
                    v6_up = true;
                    ncp_up(s, false, cx);
                }
                PppEvent::Down { cause } => down = Some(cause),
                _ => {}
            }
        }
        let ending = s.ending;
        if v6_up && down.is_none() {
            self.advertise(sid, None, false, cx);
        }
        if let Some(cause) = down {
            let end = ending.unwrap_or(match cause {
                DownCause::PeerTerminated => EndCause::UserRequest,
                DownCause::LowerDown | DownCause::DeadPeer => EndCause::LostCarrier,
                DownCause::AdminClose => EndCause::AdminReset,
                _ => EndCause::NasError,
            });
            self.end(sid, end, cx);
        }
    }

    /// Removes session `sid`: PADT (unless the client sent one), registry down.
    fn end(&mut self, sid: u16, cause: EndCause, cx: &mut Ctx<'_>) {
        let Some(s) = self.by_sid.remove(&sid) else {
            return;
        };
        self.by_handle.remove(&s.handle);
        self.pending.retain(|_, v| *v != sid);
        let Some(id) = SessionId::new(sid) else {
            return;
        };
        if cause == EndCause::UserRequest && !self.alloc.holds(s.link.dst, sid) {
            // the client's PADT already released it
        } else if let Ok(n) = self
            .ac
            .terminate(&s.link, id, None, &mut self.tx, &mut self.alloc)
        {
            self.stats.padt_sent += 1;
            if let Some(f) = self.tx.get(..n) {
                cx.plane.transmit(Port::Access, f);
            }
        }
        let _ = self.alloc.release(&s.link.dst, id);
        if let Some(a) = s.v4
            && cx.sessions.get(s.handle).is_some_and(|x| x.ipv4.is_none())
        {
            // reserved, but IPCP never opened: not the registry's to give back
            cx.pools.release_v4(a);
        }
        cx.sessions
            .down(s.handle, cx.now, cause, cx.plane, cx.aaa, cx.pools);
    }

    /// Sends a Router Advertisement on session `sid`'s link: to `to` (a solicitation's
    /// source, RFC 4861 section 6.2.6) or to all nodes (`ff02::1`, unsolicited, which
    /// schedules the next one: section 6.2.4), with router lifetime 0 when `leaving`.
    fn advertise(&mut self, sid: u16, to: Option<Ipv6Addr>, leaving: bool, cx: &mut Ctx<'_>) {
        let now = cx.now;
        let Some(s) = self.by_sid.get_mut(&sid) else {
            return;
        };
        let Some(v6) = &mut s.v6 else { return };
        if to.is_none() {
            let gap = if v6.initial > 0 {
                v6.initial -= 1;
                self.ra.interval.min(INITIAL_RA_INTERVAL)
            } else {
                self.ra.interval
            };
            v6.next_ra = now + gap;
        }
        let prefix = cx.sessions.get(s.handle).and_then(|x| x.prefix64);
        let ra = router_advertisement(&self.ra, prefix, leaving);
        let dst = to.unwrap_or(Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1));
        let ip = super::plane::icmp6_packet(v6.local, dst, ra);
        if let Some(f) = ppp6_frame(&s.link, sid, &ip) {
            self.stats.ra_sent += 1;
            cx.plane.transmit(Port::Access, &f);
        }
    }

    /// IPv6 for us in a PPP session: Router Solicitations (RFC 4861 section 6.2.6,
    /// answered to their source at most once a second) and echo requests to our
    /// link-local address (RFC 4443 section 4.2).
    fn ipv6(&mut self, punt: &Punt<'_>, cx: &mut Ctx<'_>) {
        let now = cx.now;
        let Some(&sid) = punt.handle.and_then(|h| self.by_handle.get(&h)) else {
            return;
        };
        let Some(s) = self.by_sid.get_mut(&sid) else {
            return;
        };
        let (link, handle) = (s.link, s.handle);
        let Some(v6) = &mut s.v6 else { return };
        let ip = punt.frame;
        let field = |r: core::ops::Range<usize>| {
            ip.get(r)
                .and_then(|b| <[u8; 16]>::try_from(b).ok())
                .map(Ipv6Addr::from)
        };
        let (Some(src), Some(dst)) = (field(8..24), field(24..40)) else {
            return;
        };
        match (ip.get(6), ip.get(40)) {
            // RFC 4861 section 6.1.1: hop limit 255, code 0
            (Some(58), Some(133)) if ip.get(7) == Some(&255) && ip.get(41) == Some(&0) => {
                if v6
                    .last_solicited
                    .is_some_and(|t| now.saturating_sub(t) < Duration::from_secs(1))
                {
                    return;
                }
                v6.last_solicited = Some(now);
                let to = (!src.is_unspecified()).then_some(src);
                self.stats.rs_answered += 1;
                self.advertise(sid, to, false, cx);
            }
            // RFC 8415 section 7.2: to port 547, from the client's link-local address
            (Some(17), _) if ip.get(42..44) == Some(&[2, 0x23][..]) => {
                let local = v6.local;
                let be16 = |at: usize| {
                    ip.get(at..at + 2)
                        .and_then(|b| <[u8; 2]>::try_from(b).ok())
                        .map(u16::from_be_bytes)
                };
                let sport = be16(40).unwrap_or(546);
                let plen = usize::from(be16(4).unwrap_or(0));
                if let Some(msg) = ip.get(48..40 + plen) {
                    self.dhcp6(sid, handle, &link, (local, src, sport), msg, cx);
                }
            }
            (Some(58), Some(128)) if dst == v6.local => {
                let mut reply = ip.to_vec();
                if super::plane::echo6_reply(&mut reply)
                    && let Some(f) = ppp6_frame(&s.link, sid, &reply)
                {
                    cx.plane.transmit(Port::Access, &f);
                }
            }
            _ => {}
        }
    }

    /// One DHCPv6 message of session `sid` (`handle`) from `(our address, its address,
    /// its port)`: answered over the session, bindings logged and counted.
    fn dhcp6(
        &mut self,
        sid: u16,
        handle: Handle,
        link: &Header,
        (local, peer, port): (Ipv6Addr, Ipv6Addr, u16),
        msg: &[u8],
        cx: &mut Ctx<'_>,
    ) {
        let now = cx.now;
        let Some(d) = &mut self.dhcp6 else { return };
        d.framed.set(cx.sessions.get(handle).and_then(|s| s.pd));
        let _ = d.server.handle_packet(now, msg);
        d.framed.set(None);
        let mut routes = Vec::new();
        while let Some(a) = d.server.poll_action(now, &mut self.tx) {
            if let Some(r) = pd_route(&a) {
                routes.push(r);
            }
            match a {
                Action6::Transmit { len, .. } => {
                    let Some(reply) = self.tx.get(..len) else {
                        continue;
                    };
                    let ip = udp6_packet(local, peer, port, reply);
                    if let Some(f) = ppp6_frame(link, sid, &ip) {
                        cx.plane.transmit(Port::Access, &f);
                    }
                }
                Action6::Event(Event6::Bound { kind, value, .. }) => {
                    self.stats.dhcp6_bound += 1;
                    tracing::info!(handle, kind = ?kind, prefix = %value.0, len = value.1, "DHCPv6 bound over PPP");
                }
                _ => {}
            }
        }
        for (value, routed) in routes {
            self.route_pd(value, routed, cx);
        }
    }

    /// Routes the delegated prefix `value` into its session again (`routed`: bound
    /// again) or stops (released by the client, RFC 8415 section 18.3.7, or expired,
    /// section 7.7: the server may hand it out again, so traffic to it must stop).
    fn route_pd(&mut self, value: (Ipv6Addr, u8), routed: bool, cx: &mut Ctx<'_>) {
        let Some(s) = self.by_sid.values_mut().find(|s| {
            cx.sessions
                .get(s.handle)
                .is_some_and(|x| x.pd == Some(value))
        }) else {
            return;
        };
        if s.pd_released != routed {
            return;
        }
        s.pd_released = !routed;
        tracing::info!(handle = s.handle, prefix = %value.0, len = value.1, routed, "delegated prefix");
        install(s, cx);
    }

    fn address(
        &mut self,
        a: &super::aaa::Authorization,
        cx: &mut Ctx<'_>,
    ) -> Option<(Ipv4Addr, Option<String>)> {
        if let Some(ip) = a.framed_ip {
            return cx.pools.reserve_v4(ip).then_some((ip, None));
        }
        let pool = a.framed_pool.clone().unwrap_or_else(|| self.pool.clone());
        let ip = cx.pools.alloc_v4(&pool)?;
        Some((ip, Some(pool)))
    }

    /// The IPv6 prefixes of session `handle`: the delegated prefix (RADIUS
    /// Delegated-IPv6-Prefix, RFC 4818, else `pppoe.pd_pool`) and the link's prefix for
    /// SLAAC (Framed-IPv6-Prefix, RFC 3162 section 2.3, else `pppoe.ra_pool`). Whether
    /// the session has one with IPv6CP on.
    fn address6(
        &mut self,
        handle: Handle,
        a: &super::aaa::Authorization,
        cx: &mut Ctx<'_>,
    ) -> bool {
        let Some(sub) = cx.sessions.get_mut(handle) else {
            return false;
        };
        if let Some(p) = a.delegated_prefix {
            sub.pd = Some(p);
        } else if let Some(name) = &self.pd_pool
            && let Some(p) = cx.pools.alloc_v6(name)
        {
            sub.pd = Some(p);
            sub.pd_pool = Some(name.clone());
        }
        if let Some(p) = a.framed_ipv6_prefix {
            sub.prefix64 = Some(p);
        } else if self.ppp_cfg.ipv6
            && let Some(name) = &self.ra.pool
            && let Some(p) = cx.pools.alloc_v6(name)
        {
            sub.prefix64 = Some(p);
            sub.prefix64_pool = Some(name.clone());
        }
        self.ppp_cfg.ipv6 && (sub.pd.is_some() || sub.prefix64.is_some())
    }
}

impl<R: RngCore> Service for PppoeCp<'_, R> {
    fn handle_punt(&mut self, punt: &Punt<'_>, cx: &mut Ctx<'_>) {
        match punt.kind {
            PuntKind::PppoeDiscovery => self.discovery(punt, cx),
            PuntKind::PppControl => self.control(punt, cx),
            PuntKind::PppIpv6 => self.ipv6(punt, cx),
            _ => {}
        }
    }

    fn handle_auth(&mut self, tag: u64, result: AuthResult, cx: &mut Ctx<'_>) {
        let now = cx.now;
        let Some(sid) = self.pending.remove(&tag) else {
            return;
        };
        let Some(handle) = self.by_sid.get(&sid).map(|s| s.handle) else {
            return;
        };
        let granted = match result {
            AuthResult::Accept(a) => {
                let v4 = self.address(&a, cx);
                // IPv6 only (RFC 1661 section 3.7: the NCPs are independent) when no
                // IPv4 address can be given but the session has an IPv6 prefix
                let v6 = self.address6(handle, &a, cx);
                if v4.is_none() && !v6 {
                    self.stats.no_address += 1;
                    tracing::warn!(
                        handle,
                        "no address for the session (IPv4 pool empty or address taken, no IPv6 prefix)"
                    );
                    None
                } else {
                    if v4.is_none() {
                        tracing::info!(handle, "no IPv4 address: IPv6-only session");
                    }
                    Some((a, v4))
                }
            }
            AuthResult::Reject(why) => {
                tracing::info!(handle, reason = %why, "authentication rejected");
                None
            }
        };
        let Some(s) = self.by_sid.get_mut(&sid) else {
            return;
        };
        if let Some((a, v4)) = granted {
            self.stats.auth_accepted += 1;
            let user = cx
                .sessions
                .get(handle)
                .map(|x| x.user.clone())
                .unwrap_or_default();
            cx.sessions.authorize(handle, &user, &a, cx.config);
            if let Some(sub) = cx.sessions.get_mut(handle) {
                sub.state = State::Starting;
                sub.v4_pool = v4.as_ref().and_then(|(_, pool)| pool.clone());
            }
            // the address is the subscriber's once IPCP opens (without one, IPCP
            // requests wait: RFC 1332 section 3.3 has the peer Nak'd to a valid one)
            s.v4 = v4.map(|(ip, _)| ip);
            if let Some(ip) = s.v4 {
                s.ppp.set_peer_ipv4(ip.octets());
            }
            let _ = s.ppp.auth_accept(now);
        } else {
            self.stats.auth_rejected += 1;
            let _ = s.ppp.auth_reject(now);
        }
        self.flush(sid, cx);
    }

    fn handle_timeout(&mut self, cx: &mut Ctx<'_>) {
        let now = cx.now;
        if let Some(d) = &mut self.dhcp6
            && d.server.poll_timeout().is_some_and(|t| t <= now)
        {
            // advertised offers not requested, bindings not renewed: forgotten
            d.server.handle_timeout(now);
            let mut routes = Vec::new();
            while let Some(a) = d.server.poll_action(now, &mut self.tx) {
                routes.extend(pd_route(&a));
            }
            for (value, routed) in routes {
                self.route_pd(value, routed, cx);
            }
        }
        let due: Vec<u16> = self
            .by_sid
            .iter()
            .filter(|(_, s)| deadline(s).is_some_and(|t| t <= now))
            .map(|(k, _)| *k)
            .collect();
        for sid in due {
            let mut ra_due = false;
            if let Some(s) = self.by_sid.get_mut(&sid) {
                if s.start_at.is_some_and(|t| t <= now) {
                    s.start_at = None;
                    s.ppp.start(now);
                } else if s.ppp.poll_timeout().is_some_and(|t| t <= now) {
                    s.ppp.handle_timeout(now);
                }
                ra_due = s.v6.is_some_and(|v| v.next_ra <= now);
            }
            if ra_due {
                self.advertise(sid, None, false, cx);
            }
            self.flush(sid, cx);
        }
    }

    fn poll_timeout(&self) -> Option<Duration> {
        let dhcp6 = self.dhcp6.as_ref().and_then(|d| d.server.poll_timeout());
        self.by_sid.values().filter_map(deadline).chain(dhcp6).min()
    }

    fn disconnect(&mut self, handle: Handle, cause: EndCause, cx: &mut Ctx<'_>) -> bool {
        let Some(&sid) = self.by_handle.get(&handle) else {
            return false;
        };
        if self.by_sid.get(&sid).is_some_and(|s| s.v6.is_some()) {
            // RFC 4861 section 6.2.5: router lifetime 0 before the link goes
            self.advertise(sid, None, true, cx);
        }
        if let Some(s) = self.by_sid.get_mut(&sid) {
            // LCP Terminate-Request (RFC 1661 section 5.5), then PADT at once
            // (RFC 2516 section 5.5) rather than waiting for the Terminate-Ack
            s.ending = Some(cause);
            s.ppp.close(cx.now);
        }
        self.flush(sid, cx);
        if self.by_sid.contains_key(&sid) {
            self.end(sid, cause, cx);
        }
        true
    }

    fn name(&self) -> &'static str {
        "pppoe"
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::too_many_lines,
    reason = "tests"
)]
mod tests {
    use super::*;

    use crate::bng::aaa::{Aaa, AcctKind, AuthRequest as Req};
    use crate::bng::config::Config;
    use crate::bng::session::{AddressPools, Counters, Forwarding, Sessions, Subscriber};
    use bng_pppoe::ppp::lcp::AuthProto;

    /// What a session was installed in the plane with: its IPv4 address and its
    /// delegated prefix.
    type Installed = (Option<Ipv4Addr>, Option<(Ipv6Addr, u8)>);

    /// A plane that keeps the frames sent and the sessions installed (shared with the
    /// test).
    #[derive(Default, Clone)]
    struct Rec {
        frames: Rc<std::cell::RefCell<Vec<Vec<u8>>>>,
        installs: Rc<std::cell::RefCell<Vec<Installed>>>,
    }
    impl Rec {
        fn take(&self) -> Vec<Vec<u8>> {
            std::mem::take(&mut *self.frames.borrow_mut())
        }
        fn installs(&self) -> Vec<Installed> {
            std::mem::take(&mut *self.installs.borrow_mut())
        }
    }
    impl Forwarding for Rec {
        fn session_up(&mut self, s: &Subscriber) {
            self.installs.borrow_mut().push((s.ipv4, s.pd));
        }
        fn session_down(&mut self, _: &Subscriber) {}
        fn set_qos(&mut self, _: &Subscriber) {}
        fn counters(&self, _: Handle) -> Counters {
            Counters::default()
        }
        fn transmit(&mut self, _: Port, frame: &[u8]) {
            self.frames.borrow_mut().push(frame.to_vec());
        }
    }
    /// AAA that answers nothing and keeps the accounting records sent.
    #[derive(Default, Clone)]
    struct NoAaa(Rc<std::cell::RefCell<Vec<AcctKind>>>);
    impl Aaa for NoAaa {
        fn submit(&mut self, _: Duration, _: u64, _: Req) {}
        fn poll_result(&mut self) -> Option<(u64, AuthResult)> {
            None
        }
        fn account(
            &mut self,
            _: Duration,
            kind: AcctKind,
            _: &Subscriber,
            _: &Counters,
            _: Option<EndCause>,
        ) {
            self.0.borrow_mut().push(kind);
        }
        fn flush(&mut self, _: Duration) {}
    }

    const AC_MAC: Mac = [2, 0xaa, 0, 0, 0, 1];

    /// What the control plane's [`Ctx`] borrows in the tests.
    struct World {
        config: Config,
        plane: Rec,
        sessions: Sessions,
        pools: AddressPools,
        aaa: NoAaa,
    }
    impl World {
        fn new(pools: AddressPools) -> Self {
            Self {
                config: Config::embedded_default(),
                plane: Rec::default(),
                sessions: Sessions::new("t-"),
                pools,
                aaa: NoAaa::default(),
            }
        }
        fn cx(&mut self, now: Duration) -> Ctx<'_> {
            Ctx {
                now,
                config: &self.config,
                plane: &mut self.plane,
                sessions: &mut self.sessions,
                aaa: &mut self.aaa,
                pools: &mut self.pools,
            }
        }
    }

    /// PPPoE session 9 with IPv6CP open (our link-local `fe80::42`) and delegated
    /// prefix `pd`.
    fn v6_session(
        cp: &mut PppoeCp<'_, crate::rng::UrandomRng>,
        w: &mut World,
        pd: (Ipv6Addr, u8),
    ) -> Handle {
        let local = link_local6([0, 0, 0, 0, 0, 0, 0, 0x42]);
        let h = add_session(cp, &mut w.sessions, ([2, 0x5b, 0, 0, 0, 1], 9), Some(local));
        w.sessions.get_mut(h).unwrap().pd = Some(pd);
        h
    }

    /// A control plane as the gateway builds it with `pppoe.ipv6`: RAs, DHCPv6 over PPP
    /// with `dns`.
    fn cp_v6<'c>(
        ppp_cfg: &'c PppConfig<'c>,
        storage: &'c mut Dhcp6Storage,
        dns: Ipv6Addr,
    ) -> PppoeCp<'c, crate::rng::UrandomRng> {
        PppoeCp::new(
            AcConfig {
                mac: AC_MAC,
                ac_name: b"ac",
                cookie_window: Duration::from_secs(30),
                max_payload: None,
            },
            Policy::new(b""),
            ppp_cfg,
            crate::rng::UrandomRng::new(),
            "default",
            None,
            "eth0",
        )
        .unwrap()
        .with_ra(RaConfig::default())
        .with_dhcp6(storage, &[dns])
        .unwrap()
    }

    /// PPPoE session `sid` of `mac` as after PADS (registry entry, PPP server session
    /// not started), with IPv6CP open on link-local `local` if given.
    fn add_session(
        cp: &mut PppoeCp<'_, crate::rng::UrandomRng>,
        sessions: &mut Sessions,
        (mac, sid): (Mac, u16),
        local: Option<Ipv6Addr>,
    ) -> Handle {
        let h = sessions.create(
            Duration::ZERO,
            AccessKey::Pppoe {
                mac,
                session_id: sid,
                vlans: [0, 0],
            },
        );
        cp.by_sid.insert(
            sid,
            Sess {
                ppp: Session::from_parts(cp.ppp_cfg, sid, 1, [0; 16]),
                // started by the client's first frame, unless IPv6CP is open already
                start_at: local.is_none().then_some(Duration::from_secs(100)),
                link: Header::new(mac, AC_MAC, 0x8864),
                handle: h,
                ending: None,
                v6: local.map(|local| Link6 {
                    local,
                    next_ra: Duration::from_secs(100_000),
                    initial: 0,
                    last_solicited: None,
                }),
                v4: None,
                pd_released: false,
            },
        );
        cp.by_handle.insert(h, sid);
        h
    }

    /// IPv6 packet `ip` from the client of session `h` to us (punted by the plane).
    fn punt6(cp: &mut PppoeCp<'_, crate::rng::UrandomRng>, cx: &mut Ctx<'_>, h: Handle, ip: &[u8]) {
        cp.handle_punt(
            &Punt {
                kind: PuntKind::PppIpv6,
                frame: ip,
                l3_offset: 0,
                vlans: [0, 0],
                handle: Some(h),
            },
            cx,
        );
    }

    /// An IPv6 packet from `src` to `dst` with `next` header and `payload`, hop limit 255.
    fn ip6(src: &str, dst: &str, next: u8, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![0x60, 0, 0, 0];
        p.extend_from_slice(&u16::try_from(payload.len()).unwrap().to_be_bytes());
        p.extend_from_slice(&[next, 255]);
        p.extend_from_slice(&src.parse::<Ipv6Addr>().unwrap().octets());
        p.extend_from_slice(&dst.parse::<Ipv6Addr>().unwrap().octets());
        p.extend_from_slice(payload);
        p
    }

    /// A DHCPv6 client message (RFC 8415 section 8) in UDP from port 546 to 547:
    /// Client Identifier, IA_PD (IAID 1), Elapsed Time, ORO (DNS), `extra` options.
    fn dhcp6(kind: u8, extra: &[u8]) -> Vec<u8> {
        let mut m = vec![kind, 0, 0, 7];
        m.extend_from_slice(&[0, 1, 0, 10, 0, 3, 0, 1, 2, 0x5b, 0, 0, 0, 1]);
        m.extend_from_slice(&[0, 25, 0, 12, 0, 0, 0, 1]);
        m.extend_from_slice(&[0; 8]);
        m.extend_from_slice(&[0, 8, 0, 2, 0, 0]);
        m.extend_from_slice(&[0, 6, 0, 2, 0, 23]); // ORO: DNS
        m.extend_from_slice(extra);
        let mut u = 546u16.to_be_bytes().to_vec();
        u.extend_from_slice(&547u16.to_be_bytes());
        u.extend_from_slice(&u16::try_from(8 + m.len()).unwrap().to_be_bytes());
        u.extend_from_slice(&[0, 0]);
        u.extend_from_slice(&m);
        ip6("fe80::1234", "ff02::1:2", 17, &u)
    }

    /// The options of a DHCPv6 reply (RFC 8415 section 21.1) by code.
    fn option(msg: &[u8], code: u16) -> Option<Vec<u8>> {
        let mut rest = &msg[4..];
        while rest.len() >= 4 {
            let c = u16::from_be_bytes([rest[0], rest[1]]);
            let l = usize::from(u16::from_be_bytes([rest[2], rest[3]]));
            if c == code {
                return Some(rest[4..4 + l].to_vec());
            }
            rest = &rest[4 + l..];
        }
        None
    }

    #[test]
    fn ipv6_over_ppp_rs_dhcpv6_prefix_delegation_and_the_last_ra() {
        let ppp_cfg = PppConfig::server(AuthProto::Pap, b"ac", [100, 64, 0, 1]);
        let mut storage = Dhcp6Storage::new(AC_MAC, 16);
        let dns: Ipv6Addr = "2001:db8::53".parse().unwrap();
        let mut cp = cp_v6(&ppp_cfg, &mut storage, dns);
        let mut w = World::new(AddressPools::default());
        let local = link_local6([0, 0, 0, 0, 0, 0, 0, 0x42]);
        let pd: Ipv6Addr = "2001:db8:2:100::".parse().unwrap();
        let h = v6_session(&mut cp, &mut w, (pd, 56));
        let sent = w.plane.clone();
        let mut cx = w.cx(Duration::from_secs(1));
        let punt = |cp: &mut PppoeCp<'_, _>, cx: &mut Ctx<'_>, ip: &[u8]| punt6(cp, cx, h, ip);
        // RFC 4861 section 6.2.6: a solicitation is answered to its source
        let rs = ip6("fe80::1234", "ff02::2", 58, &[133, 0, 0, 0, 0, 0, 0, 0]);
        punt(&mut cp, &mut cx, &rs);
        punt(&mut cp, &mut cx, &rs); // within a second: not again
        let ra = sent.take();
        assert_eq!(ra.len(), 1);
        assert_eq!(&ra[0][12..14], &[0x88, 0x64]);
        assert_eq!(&ra[0][20..22], &[0x00, 0x57]);
        let ip = &ra[0][22..];
        assert_eq!(&ip[8..24], &local.octets());
        assert_eq!(
            &ip[24..40],
            &"fe80::1234".parse::<Ipv6Addr>().unwrap().octets()
        );
        assert_eq!((ip[7], ip[40], &ip[46..48]), (255, 134, &[2, 0x58][..]));
        // an echo request to our link-local address is answered (RFC 4443 section 4.2)
        let mut echo = vec![128, 0, 0, 0, 0, 7, 0, 1, 0xab];
        let c = crate::net::checksum(&[
            &"fe80::1234".parse::<Ipv6Addr>().unwrap().octets(),
            &local.octets(),
            &[0, 0, 0, 9, 0, 0, 0, 58],
            &echo,
        ]);
        echo[2..4].copy_from_slice(&c.to_be_bytes());
        punt(
            &mut cp,
            &mut cx,
            &ip6("fe80::1234", &local.to_string(), 58, &echo),
        );
        let reply = sent.take();
        assert_eq!(reply.len(), 1);
        let ip = &reply[0][22..];
        assert_eq!((ip[40], &ip[8..24]), (129, &local.octets()[..]));
        assert_eq!(
            crate::net::checksum(&[
                &ip[8..24],
                &ip[24..40],
                &[0, 0, 0, 9, 0, 0, 0, 58],
                &ip[40..]
            ]),
            0
        );
        // DHCPv6: Solicit -> Advertise with the session's delegated prefix
        punt(&mut cp, &mut cx, &dhcp6(1, &[]));
        let adv = sent.take();
        assert_eq!(adv.len(), 1);
        let ip = &adv[0][22..];
        assert_eq!((ip[6], &ip[40..44]), (17, &[2, 0x23, 2, 0x22][..]));
        let msg = &ip[48..];
        assert_eq!(msg[0], 2, "Advertise");
        let ia_pd = option(msg, 25).unwrap();
        let iaprefix = &ia_pd[12..];
        assert_eq!(&iaprefix[..2], &[0, 26]);
        assert_eq!(iaprefix[12], 56);
        assert_eq!(&iaprefix[13..29], &pd.octets());
        assert_eq!(option(msg, 23).unwrap(), dns.octets());
        // Request (with the server's identifier) -> Reply, bound
        let sid = option(msg, 2).unwrap();
        let mut server_id = vec![0, 2, 0, u8::try_from(sid.len()).unwrap()];
        server_id.extend_from_slice(&sid);
        punt(&mut cp, &mut cx, &dhcp6(3, &server_id));
        let reply = sent.take();
        assert_eq!(reply[0][22 + 48], 7, "Reply");
        assert_eq!(cp.stats.dhcp6_bound, 1);
        // disconnect: a last RA with router lifetime 0 (RFC 4861 section 6.2.5)
        assert!(cp.disconnect(h, EndCause::AdminReboot, &mut cx));
        let out = sent.take();
        let last = out
            .iter()
            .find(|f| f[12..14] == [0x88, 0x64] && f.get(20..22) == Some(&[0, 0x57][..]))
            .unwrap();
        assert_eq!((last[22 + 40], &last[22 + 46..22 + 48]), (134, &[0, 0][..]));
    }

    /// The DHCPv6 message in the first DHCPv6 frame of `frames` (over PPP).
    fn dhcp6_reply(frames: &[Vec<u8>]) -> Vec<u8> {
        let f = frames
            .iter()
            .find(|f| f.get(22 + 40..22 + 42) == Some(&[2, 0x23][..]))
            .unwrap();
        f[22 + 48..].to_vec()
    }

    /// The delegated prefix and valid lifetime of a reply's IA_PD (RFC 8415 section
    /// 21.21/21.22), if it holds one.
    fn ia_prefix(msg: &[u8]) -> Option<((Ipv6Addr, u8), u32)> {
        let ia_pd = option(msg, 25)?;
        let p = ia_pd.get(12..)?;
        if p[..2] != [0, 26] {
            return None;
        }
        let prefix = Ipv6Addr::from(<[u8; 16]>::try_from(&p[13..29]).unwrap());
        Some((
            (prefix, p[12]),
            u32::from_be_bytes(p[8..12].try_into().unwrap()),
        ))
    }

    #[test]
    fn dhcpv6_over_ppp_renew_rebind_release_expiry_and_the_route_of_the_prefix() {
        let ppp_cfg = PppConfig::server(AuthProto::Pap, b"ac", [100, 64, 0, 1]);
        let mut storage = Dhcp6Storage::new(AC_MAC, 16);
        let mut cp = cp_v6(&ppp_cfg, &mut storage, "2001:db8::53".parse().unwrap());
        let mut w = World::new(AddressPools::default());
        let pd: (Ipv6Addr, u8) = ("2001:db8:2:100::".parse().unwrap(), 56);
        let h = v6_session(&mut cp, &mut w, pd);
        let sent = w.plane.clone();
        let mut cx = w.cx(Duration::from_secs(1));
        cx.sessions.up(h, cx.now, cx.plane, cx.aaa);
        // routed from the start (RADIUS Delegated-IPv6-Prefix or pppoe.pd_pool)
        assert_eq!(sent.installs(), vec![(None, Some(pd))]);
        let ask = |cp: &mut PppoeCp<'_, _>, cx: &mut Ctx<'_>, kind: u8, extra: &[u8]| {
            punt6(cp, cx, h, &dhcp6(kind, extra));
            dhcp6_reply(&sent.take())
        };
        // Solicit/Advertise, Request/Reply (RFC 8415 section 18.3.1, 18.3.2)
        let adv = ask(&mut cp, &mut cx, 1, &[]);
        let sid = option(&adv, 2).unwrap();
        let mut server_id = vec![0, 2, 0, u8::try_from(sid.len()).unwrap()];
        server_id.extend_from_slice(&sid);
        let reply = ask(&mut cp, &mut cx, 3, &server_id);
        assert_eq!((reply[0], ia_prefix(&reply)), (7, Some((pd, 7200))));
        assert!(sent.installs().is_empty(), "already routed");
        // Renew at T1 (section 18.3.4): the same prefix, lifetimes from now
        cx.now = Duration::from_secs(3000);
        let reply = ask(&mut cp, &mut cx, 5, &server_id);
        assert_eq!((reply[0], ia_prefix(&reply)), (7, Some((pd, 7200))));
        // past the Request's valid lifetime (7201 s), not the Renew's (10200 s)
        cx.now = Duration::from_secs(7300);
        cp.handle_timeout(&mut cx);
        assert!(sent.installs().is_empty(), "renewed: still routed");
        // Rebind (section 18.3.5: no Server Identifier): the same prefix again
        cx.now = Duration::from_secs(9000);
        let reply = ask(&mut cp, &mut cx, 6, &[]);
        assert_eq!((reply[0], ia_prefix(&reply)), (7, Some((pd, 7200))));
        assert!(sent.installs().is_empty());
        // Release (section 18.3.7): Reply, and the prefix is no longer routed to the
        // session, which stays up
        let reply = ask(&mut cp, &mut cx, 8, &server_id);
        assert_eq!(reply[0], 7);
        assert_eq!(sent.installs(), vec![(None, None)]);
        assert!(cp.by_sid[&9].pd_released);
        assert_eq!(cx.sessions.get(h).unwrap().pd, Some(pd));
        // a Renew of the released binding gets NoBinding, no route
        let reply = ask(&mut cp, &mut cx, 5, &server_id);
        assert_eq!(ia_prefix(&reply), None);
        assert!(sent.installs().is_empty());
        // a new Solicit/Request gets it back, routed again
        cx.now = Duration::from_secs(9200);
        let adv = ask(&mut cp, &mut cx, 1, &[]);
        assert_eq!(ia_prefix(&adv).map(|p| p.0), Some(pd));
        assert!(sent.installs().is_empty(), "advertised, not bound");
        let reply = ask(&mut cp, &mut cx, 3, &server_id);
        assert_eq!(ia_prefix(&reply), Some((pd, 7200)));
        assert_eq!(sent.installs(), vec![(None, Some(pd))]);
        assert!(!cp.by_sid[&9].pd_released);
        // not renewed: the binding expires (section 7.7 / 18.3.4), the route goes
        cx.now = Duration::from_secs(9200 + 7200 + 1);
        cp.handle_timeout(&mut cx);
        assert_eq!(sent.installs(), vec![(None, None)]);
    }

    /// Runs PPP between `client` and session `h` (`mac`) of `cp` over the punt path and
    /// the frames sent, until neither side sends; the client's events.
    fn ppp_pump(
        cp: &mut PppoeCp<'_, crate::rng::UrandomRng>,
        cx: &mut Ctx<'_>,
        sent: &Rec,
        client: &mut Session<'_>,
        (mac, h): (Mac, Handle),
    ) -> Vec<PppEvent> {
        let now = cx.now;
        let mut events = Vec::new();
        for _ in 0..64 {
            let mut moved = false;
            let mut buf = [0u8; 1500];
            while let Some(bng_pppoe::ppp::session::Action::Send { len }) =
                client.poll_action(now, &mut buf)
            {
                let mut f = AC_MAC.to_vec();
                f.extend_from_slice(&mac);
                f.extend_from_slice(&[0x88, 0x64]);
                f.extend_from_slice(&buf[..len]);
                let punt = Punt {
                    kind: PuntKind::PppControl,
                    frame: &f,
                    l3_offset: 14,
                    vlans: [0, 0],
                    handle: Some(h),
                };
                cp.handle_punt(&punt, cx);
                moved = true;
            }
            for f in sent.take() {
                // PPP control to the client; IPv6 (RAs) is not for its PPP session
                if f[..6] == mac && f[12..14] == [0x88, 0x64] && f[20..22] != [0, 0x57] {
                    let _ = client.handle_packet(now, &f[14..]);
                    moved = true;
                }
            }
            events.extend(core::iter::from_fn(|| client.poll_event()));
            if !moved {
                break;
            }
        }
        events
    }

    #[test]
    #[allow(clippy::similar_names, reason = "one client per case")]
    fn the_first_ncp_to_open_brings_the_session_up_ipv6_only_without_ipv4_state() {
        use crate::bng::aaa::Authorization;
        use crate::bng::config::{V4Pool, V6Pool};
        use bng_pppoe::ppp::session::Credentials;

        let ppp_cfg = PppConfig::server(AuthProto::Pap, b"ac", [100, 64, 0, 1]);
        let mut storage = Dhcp6Storage::new(AC_MAC, 16);
        let mut cp = cp_v6(&ppp_cfg, &mut storage, "2001:db8::53".parse().unwrap());
        let dual = PppConfig::client(Credentials {
            user: b"u",
            password: b"p",
        });
        // pppd noip +ipv6: Protocol-Reject for IPCP (RFC 1661 section 5.7)
        let noip = PppConfig {
            ipv4: false,
            ..dual
        };
        let v4 = V4Pool {
            name: "default".into(),
            first: Ipv4Addr::new(100, 64, 0, 10),
            last: Ipv4Addr::new(100, 64, 0, 19),
        };
        let pd_pool = V6Pool {
            name: "pd".into(),
            prefix: "2001:db8:2000::/40".into(),
            length: 56,
        };
        let mut w = World::new(AddressPools::new(&[v4], &[], &[pd_pool]));
        let (sent, acct) = (w.plane.clone(), w.aaa.0.clone());
        let mut cx = w.cx(Duration::from_secs(1));
        let net64: (Ipv6Addr, u8) = ("2001:db8:1:1::".parse().unwrap(), 64);
        let pd: (Ipv6Addr, u8) = ("2001:db8:2:100::".parse().unwrap(), 56);
        // one client through LCP, PAP (answered with `auth`) and the NCPs
        // client `n` (its MAC and session id) through LCP, PAP (accepted with `a`) and
        // the NCPs
        let run = |cp: &mut PppoeCp<'_, _>,
                   cx: &mut Ctx<'_>,
                   cfg: &PppConfig<'_>,
                   n: u8,
                   a: Authorization| {
            let (mac, sid) = ([2, 0x5b, 0, 0, 0, n], 10 + u16::from(n));
            let auth = AuthResult::Accept(a);
            let h = add_session(cp, cx.sessions, (mac, sid), None);
            let mut client = Session::from_parts(cfg, sid, 7, [0; 16]);
            client.start(cx.now);
            ppp_pump(cp, cx, &sent, &mut client, (mac, h));
            let tag = *cp.pending.keys().next().unwrap();
            cp.handle_auth(tag, auth, cx);
            let events = ppp_pump(cp, cx, &sent, &mut client, (mac, h));
            (h, events)
        };
        let ipv6_only = |e: &[PppEvent]| {
            e.iter().any(|e| matches!(e, PppEvent::Ipv6Up { .. }))
                && !e.iter().any(|e| matches!(e, PppEvent::Ipv4Up { .. }))
        };

        // pppd noip: an address is reserved, but IPCP never opens: up on IPv6CP alone
        let accept = Authorization {
            framed_ipv6_prefix: Some(net64),
            ..Authorization::default()
        };
        let (h, events) = run(&mut cp, &mut cx, &noip, 1, accept);
        assert!(ipv6_only(&events), "{events:?}");
        let sub = cx.sessions.get(h).unwrap();
        assert_eq!(
            (sub.state, sub.ipv4, sub.prefix64),
            (State::Up, None, Some(net64))
        );
        // installed without IPv4: no anti-spoofing entry, nothing for NAT44 to bind
        assert_eq!(sent.installs(), vec![(None, None)]);
        assert_eq!(*acct.borrow(), vec![AcctKind::Start]);
        assert_eq!(cx.pools.usage_v4("default"), Some((1, 10)));
        assert!(cp.disconnect(h, EndCause::AdminReset, &mut cx));
        assert_eq!(*acct.borrow(), vec![AcctKind::Start, AcctKind::Stop]);
        // the reserved address went back to the pool
        assert_eq!(cx.pools.usage_v4("default"), Some((0, 10)));
        acct.borrow_mut().clear();

        // RADIUS: no Framed-IP-Address, a pool that gives nothing, only IPv6 prefixes:
        // accepted IPv6-only; the client's IPCP requests wait
        let accept = Authorization {
            framed_pool: Some("none".into()),
            framed_ipv6_prefix: Some(net64),
            delegated_prefix: Some(pd),
            ..Authorization::default()
        };
        let (h, events) = run(&mut cp, &mut cx, &dual, 2, accept);
        assert!(ipv6_only(&events), "{events:?}");
        let sub = cx.sessions.get(h).unwrap();
        assert_eq!((sub.state, sub.ipv4, sub.pd), (State::Up, None, Some(pd)));
        assert_eq!(sent.installs(), vec![(None, Some(pd))]);
        assert_eq!(*acct.borrow(), vec![AcctKind::Start]);
        assert_eq!((cp.stats.no_address, cp.stats.ipcp_up), (0, 0));
        assert!(cp.disconnect(h, EndCause::AdminReset, &mut cx));
        acct.borrow_mut().clear();

        // dual stack: both NCPs open, Accounting-Start once, installed with IPv4
        let accept = Authorization {
            framed_ipv6_prefix: Some(net64),
            ..Authorization::default()
        };
        let (h, events) = run(&mut cp, &mut cx, &dual, 3, accept);
        assert_eq!(events.len(), 2, "{events:?}");
        let sub = cx.sessions.get(h).unwrap();
        assert_eq!(sub.state, State::Up);
        let ip = sub.ipv4.unwrap();
        assert_eq!(sent.installs().last(), Some(&(Some(ip), None)));
        assert_eq!(*acct.borrow(), vec![AcctKind::Start]);
        assert_eq!(cp.stats.ipcp_up, 1);
        assert!(cp.disconnect(h, EndCause::AdminReset, &mut cx));
        assert_eq!(cx.pools.usage_v4("default"), Some((0, 10)));
        acct.borrow_mut().clear();

        // neither an IPv4 address nor an IPv6 prefix: refused
        let accept = Authorization {
            framed_pool: Some("none".into()),
            ..Authorization::default()
        };
        let (h, _) = run(&mut cp, &mut cx, &dual, 4, accept);
        assert_eq!((cp.stats.no_address, cp.stats.auth_rejected), (1, 1));
        assert!(cx.sessions.get(h).is_none_or(|s| s.state != State::Up));
        assert!(acct.borrow().is_empty());
    }

    #[test]
    fn router_advertisement_carries_flags_mtu_prefix_and_dns() {
        let c = RaConfig {
            managed: true,
            other: true,
            interval: Duration::from_secs(200),
            mtu: 1492,
            dns: vec!["2001:db8::53".parse().unwrap()],
            pool: None,
        };
        let p: Ipv6Addr = "2001:db8:1:1::".parse().unwrap();
        let ra = router_advertisement(&c, Some((p, 64)), false);
        assert_eq!(&ra[..8], &[134, 0, 0, 0, 64, 0xc0, 0x02, 0x58]); // 600 s
        assert_eq!(&ra[16..24], &[5, 1, 0, 0, 0, 0, 0x05, 0xd4]);
        assert_eq!(&ra[24..28], &[3, 4, 64, 0xc0]);
        assert_eq!(&ra[32..36], &14_400u32.to_be_bytes());
        assert_eq!(&ra[40..56], &p.octets());
        assert_eq!(&ra[56..60], &[25, 3, 0, 0]);
        assert_eq!(ra.len(), 56 + 24);
        // leaving: router lifetime 0, the prefix deprecated, the DNS withdrawn
        let bye = router_advertisement(&c, Some((p, 64)), true);
        assert_eq!(&bye[6..8], &[0, 0]);
        assert_eq!(&bye[32..36], &[0; 4]);
        assert_eq!(&bye[60..64], &[0; 4]);
        let link = Header::new([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2], 0x8864);
        let f = ppp6_frame(&link, 7, &[0x60; 40]).unwrap();
        assert_eq!(&f[12..22], &[0x88, 0x64, 0x11, 0, 0, 7, 0, 42, 0, 0x57]);
        assert_eq!(f.len(), 22 + 40);
        assert_eq!(
            link_local6([0, 0, 0, 0, 0, 0, 0, 1]),
            "fe80::1".parse::<Ipv6Addr>().unwrap()
        );
    }

    #[test]
    fn session_ids_per_client_mac_and_host_uniq() {
        let mut a = SidAlloc::default();
        let m = [2, 0, 0, 0, 0, 1];
        let one = a.allocate(&m, Some(b"pid-1")).unwrap();
        // a retransmitted PADR (same Host-Uniq) gets its session again
        assert_eq!(a.allocate(&m, Some(b"pid-1")), Some(one));
        // another client behind the same MAC gets its own
        let two = a.allocate(&m, Some(b"pid-2")).unwrap();
        assert_ne!(one, two);
        assert!(a.holds(m, one.get()) && a.holds(m, two.get()));
        assert!(!a.release(&[2, 0, 0, 0, 0, 2], one));
        assert!(a.release(&m, one));
        assert!(!a.holds(m, one.get()));
        assert!(a.holds(m, two.get()));
        // at most MAX_SESSIONS_PER_MAC per MAC
        for i in 0..MAX_SESSIONS_PER_MAC {
            let _ = a.allocate(&m, Some(&i.to_be_bytes()));
        }
        assert_eq!(a.allocate(&m, Some(b"one more")), None);
        assert!(a.allocate(&[2, 0, 0, 0, 0, 3], None).is_some());
    }
}
