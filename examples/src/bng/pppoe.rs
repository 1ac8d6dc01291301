//! The PPPoE control plane of `bng`, shared by the gateway and `lab`: the discovery
//! access concentrator (`bng_pppoe::ac::Ac`, RFC 2516 section 5) and one PPP server
//! session per client (`bng_pppoe::ppp::session::Session`: LCP, PAP/CHAP, IPCP,
//! IPv6CP; RFC 1661, 1334, 1994, 1332, 5072), authenticated through [`Aaa`] and
//! addressed from AAA (Framed-IP-Address, Framed-Pool) or the configured pool.
//!
//! It sees the world through [`Ctx`]: punted frames in ([`Service::handle_punt`]),
//! frames out and sessions installed through [`Forwarding`], accounting through the
//! [`Sessions`] registry.
//!
//! [`Forwarding`]: super::session::Forwarding
//! [`Sessions`]: super::session::Sessions

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::time::Duration;

use bng_pppoe::ac::{
    Ac, AcConfig, CookieSecret, Outcome, ServicePolicy, SessionAllocator, SessionId,
};
use bng_pppoe::ethernet::{Header, Mac};
use bng_pppoe::ppp::session::{Config as PppConfig, DownCause, Event as PppEvent, Session};
use bng_radius::rand_core::RngCore;

use super::aaa::{AuthRequest, AuthResult};
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

/// The next deadline of a session: its LCP start, else its own timers.
fn deadline(s: &Sess<'_>) -> Option<Duration> {
    s.start_at.or_else(|| s.ppp.poll_timeout())
}

struct Sess<'c> {
    ppp: Session<'c>,
    /// LCP not started yet: until the client's first PPP frame or this deadline.
    start_at: Option<Duration>,
    link: Header,
    handle: Handle,
    /// Why we are ending it (set by [`PppoeCp::disconnect`]).
    ending: Option<EndCause>,
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
    /// No address could be given (pool empty).
    pub no_address: u64,
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
            port_name: port_name.into(),
            tx: vec![0; 2048],
            frame: vec![0; 2048],
            stats: Stats::default(),
        })
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
        while let Some(e) = s.ppp.poll_event() {
            match e {
                PppEvent::Ipv4Up { .. } => {
                    self.stats.ipcp_up += 1;
                    cx.sessions.up(s.handle, now, cx.plane, cx.aaa);
                }
                PppEvent::Down { cause } => down = Some(cause),
                _ => {}
            }
        }
        if let Some(cause) = down {
            let end = s.ending.unwrap_or(match cause {
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
        cx.sessions
            .down(s.handle, cx.now, cause, cx.plane, cx.aaa, cx.pools);
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
}

impl<R: RngCore> Service for PppoeCp<'_, R> {
    fn handle_punt(&mut self, punt: &Punt<'_>, cx: &mut Ctx<'_>) {
        match punt.kind {
            PuntKind::PppoeDiscovery => self.discovery(punt, cx),
            PuntKind::PppControl => self.control(punt, cx),
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
                let got = self.address(&a, cx);
                if got.is_none() {
                    self.stats.no_address += 1;
                    tracing::warn!(
                        handle,
                        "no IPv4 address for the session (pool empty or address taken)"
                    );
                }
                got.map(|(ip, pool)| (a, ip, pool))
            }
            AuthResult::Reject(why) => {
                tracing::info!(handle, reason = %why, "authentication rejected");
                None
            }
        };
        let Some(s) = self.by_sid.get_mut(&sid) else {
            return;
        };
        if let Some((a, ip, pool)) = granted {
            self.stats.auth_accepted += 1;
            let user = cx
                .sessions
                .get(handle)
                .map(|x| x.user.clone())
                .unwrap_or_default();
            cx.sessions.authorize(handle, &user, &a, cx.config);
            if let Some(sub) = cx.sessions.get_mut(handle) {
                sub.ipv4 = Some(ip);
                sub.v4_pool = pool;
                sub.state = State::Starting;
                if let Some(p) = a.delegated_prefix {
                    sub.pd = Some(p);
                } else if let Some(name) = &self.pd_pool
                    && let Some(p) = cx.pools.alloc_v6(name)
                {
                    sub.pd = Some(p);
                    sub.pd_pool = Some(name.clone());
                }
            }
            s.ppp.set_peer_ipv4(ip.octets());
            let _ = s.ppp.auth_accept(now);
        } else {
            self.stats.auth_rejected += 1;
            let _ = s.ppp.auth_reject(now);
        }
        self.flush(sid, cx);
    }

    fn handle_timeout(&mut self, cx: &mut Ctx<'_>) {
        let now = cx.now;
        let due: Vec<u16> = self
            .by_sid
            .iter()
            .filter(|(_, s)| deadline(s).is_some_and(|t| t <= now))
            .map(|(k, _)| *k)
            .collect();
        for sid in due {
            if let Some(s) = self.by_sid.get_mut(&sid) {
                if s.start_at.is_some_and(|t| t <= now) {
                    s.start_at = None;
                    s.ppp.start(now);
                } else {
                    s.ppp.handle_timeout(now);
                }
            }
            self.flush(sid, cx);
        }
    }

    fn poll_timeout(&self) -> Option<Duration> {
        self.by_sid.values().filter_map(deadline).min()
    }

    fn disconnect(&mut self, handle: Handle, cause: EndCause, cx: &mut Ctx<'_>) -> bool {
        let Some(&sid) = self.by_handle.get(&handle) else {
            return false;
        };
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
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

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
