//! [`IpoeCp`]: the IPoE control plane ([`super::Ipoe`]) as one of the gateway's
//! [`Service`]s. Punted DHCP frames go in; replies leave through
//! [`Forwarding::transmit`](super::super::session::Forwarding::transmit); subscribers
//! are authorised through the gateway's [`Aaa`](super::super::aaa::Aaa) (user name =
//! circuit-id or MAC, no credentials) unless `ipoe.authenticate` is off; session
//! events drive the registry ([`Sessions`]: accounting Start/Stop, timeouts) and the
//! forwarding plane.
//!
//! AAA tags of this service have [`TAG_BIT`] set, so the gateway can route
//! [`Aaa::poll_result`](super::super::aaa::Aaa::poll_result) answers between services.

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use super::super::aaa::{AuthRequest as AaaRequest, AuthResult, Authorization as AaaAuth, Method};
use super::super::config::Config;
use super::super::session::{
    AccessKey, Ctx, EndCause, Handle, NextHop, Port, Punt, PuntKind, Service, Sessions, State,
};
use super::{
    AuthRequest, Authorization, DownReason, Ipoe, IpoeConfig, Ipv6Config, Output, Session, Storage,
    SubscriberKey,
};

/// Set in the AAA tags this service submits.
pub const TAG_BIT: u64 = 1 << 62;
/// Most addresses or prefixes one local DHCPv6 range tracks (a /64 of addresses is
/// cut to its first 64k).
const MAX_POOL: u128 = 1 << 16;

/// Counters of [`IpoeCp`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CpStats {
    /// Subscribers rejected by AAA.
    pub rejected: u64,
    /// Sessions up.
    pub up: u64,
    /// Sessions down.
    pub down: u64,
}

/// The IPoE service of `bng`.
#[derive(Debug)]
pub struct IpoeCp {
    core: Ipoe<'static>,
    authenticate: bool,
    nas_port: String,
    /// core session id -> registry handle (the current life of that subscriber).
    handles: HashMap<u32, Handle>,
    /// AAA tag -> (core token, registry handle, user name).
    pending: HashMap<u64, (u64, Handle, String)>,
    next_tag: u64,
    /// Counters.
    pub stats: CpStats,
}

/// The smallest prefix length holding `a` and `b`.
fn common_len(a: u32, b: u32) -> u32 {
    (a ^ b).leading_zeros()
}

/// The IPoE settings of `cfg` as an [`IpoeConfig`]: the `ipoe.pool` range becomes the
/// DHCP server's local pool (it must not be shared with PPPoE, whose pool the
/// registry allocates from), `ipoe.v6_pool` / `ipoe.pd_pool` the IA_NA and IA_PD ranges.
///
/// # Errors
/// Which key is wrong and what was expected.
pub fn ipoe_config(cfg: &Config, access_mac: [u8; 6]) -> Result<IpoeConfig, String> {
    let i = &cfg.ipoe;
    let gw = i
        .gateway
        .ok_or("ipoe.gateway: expected our IPv4 address toward IPoE subscribers")?;
    let name = i
        .pool
        .as_deref()
        .ok_or("ipoe.pool: expected the name of a pools.v4 entry")?;
    if name == cfg.pppoe.pool {
        return Err(format!(
            "ipoe.pool: \"{name}\" is also pppoe.pool; IPoE leases from its own pool, give it another"
        ));
    }
    let p = cfg
        .pools
        .v4
        .iter()
        .find(|p| p.name == name)
        .ok_or_else(|| format!("ipoe.pool: no pools.v4 entry named \"{name}\""))?;
    let (first, last) = (u32::from(p.first), u32::from(p.last));
    let size = last
        .checked_sub(first)
        .and_then(|d| d.checked_add(1))
        .ok_or_else(|| format!("pools.v4 \"{name}\": last before first"))?;
    let mut c = IpoeConfig::new(access_mac, gw, p.first, size);
    let len = common_len(u32::from(gw), first).min(common_len(first, last));
    c.subnet_mask = Ipv4Addr::from(u32::MAX.checked_shl(32 - len).unwrap_or(0));
    c.dns = cfg.dns.v4.iter().copied().take(2).collect();
    if let Some(l) = i.lease_secs {
        c.lease_secs = l;
    }
    c.key_by_circuit = i.option82;
    let v6_range = |key: &str, pools: &[super::super::config::V6Pool], n: &str| {
        let q = pools
            .iter()
            .find(|q| q.name == n)
            .ok_or_else(|| format!("{key}: no pool named \"{n}\""))?;
        let (base, l) = q
            .parsed()
            .ok_or_else(|| format!("{key}: pool \"{n}\" has no valid prefix"))?;
        let bits = u32::from(q.length.saturating_sub(l));
        let count = 1u128.checked_shl(bits).unwrap_or(MAX_POOL).min(MAX_POOL);
        Ok::<_, String>((base, q.length, u32::try_from(count).unwrap_or(u32::MAX)))
    };
    let na = match &i.v6_pool {
        Some(n) => Some(v6_range("ipoe.v6_pool", &cfg.pools.v6, n)?),
        None => None,
    };
    let pd = match &i.pd_pool {
        Some(n) => Some(v6_range("ipoe.pd_pool", &cfg.pools.v6_pd, n)?),
        None => None,
    };
    if na.is_some() || pd.is_some() {
        let preferred = c.lease_secs;
        c.v6 = Some(Ipv6Config {
            // skip the subnet-router anycast address (RFC 4291 section 2.6.1)
            na_first: na.map_or(Ipv6Addr::UNSPECIFIED, |(b, ..)| {
                Ipv6Addr::from(u128::from(b) | 1)
            }),
            na_count: na.map_or(0, |(.., n)| n.saturating_sub(1)),
            pd_base: pd.map_or(Ipv6Addr::UNSPECIFIED, |(b, ..)| b),
            pd_len: pd.map_or(64, |(_, l, _)| l),
            pd_count: pd.map_or(0, |(.., n)| n),
            preferred_secs: preferred,
            valid_secs: preferred.saturating_mul(2),
            dns: cfg.dns.v6.iter().copied().take(2).collect(),
        });
    }
    Ok(c)
}

fn end_cause(r: DownReason) -> EndCause {
    match r {
        DownReason::Released | DownReason::Declined => EndCause::UserRequest,
        DownReason::Expired => EndCause::LostCarrier,
        DownReason::Admin => EndCause::AdminReset,
        DownReason::SessionTimeout => EndCause::SessionTimeout,
    }
}

fn access_key(s: &Session) -> AccessKey {
    AccessKey::Ipoe {
        mac: s.mac,
        vlans: s.vlans,
        circuit: s.circuit_id.clone(),
    }
}

impl IpoeCp {
    /// The service for `cfg` (see [`ipoe_config`]); `access_mac` is the access port's.
    ///
    /// # Errors
    /// A message naming the configuration key that is wrong.
    pub fn from_config(cfg: &Config, access_mac: [u8; 6]) -> Result<Self, String> {
        let c = ipoe_config(cfg, access_mac)?;
        Self::new(c, cfg.ipoe.authenticate, &cfg.access.interface)
    }

    /// The service for `c`; `authenticate` sends every new subscriber to AAA (else
    /// each is accepted with the local pool); `nas_port` names the access port in
    /// NAS-Port-Id.
    ///
    /// # Errors
    /// The DHCP servers refuse `c` (the message names the setting).
    pub fn new(c: IpoeConfig, authenticate: bool, nas_port: &str) -> Result<Self, String> {
        // one control plane per process: its tables live as long as it
        let storage: &'static mut Storage = Box::leak(Box::new(Storage::new(&c)));
        let core = Ipoe::new(c, storage).map_err(|e| e.to_string())?;
        Ok(Self {
            core,
            authenticate,
            nas_port: nas_port.into(),
            handles: HashMap::new(),
            pending: HashMap::new(),
            next_tag: 0,
            stats: CpStats::default(),
        })
    }

    /// The control plane inside.
    #[must_use]
    pub const fn core(&self) -> &Ipoe<'static> {
        &self.core
    }

    fn nas_port_id(&self, r: &AuthRequest) -> String {
        match (&r.circuit_id, &r.key) {
            (Some(_), _) => format!("{}:{}", self.nas_port, r.username),
            (None, SubscriberKey::Mac { vlans, .. }) if vlans != &[0, 0] => {
                format!("{}:{}.{}", self.nas_port, vlans[0], vlans[1])
            }
            _ => self.nas_port.clone(),
        }
    }

    /// Drains the core's outputs into the registry, the plane and AAA.
    fn drain(&mut self, cx: &mut Ctx<'_>) {
        while let Some(o) = self.core.poll_output() {
            match o {
                Output::Frame(f) => cx.plane.transmit(Port::Access, &f),
                Output::Authorize(r) => self.authorize(r, cx),
                Output::Up(s) => self.up(&s, cx),
                Output::Changed(s) => self.changed(&s, cx),
                Output::Down(s, why) => self.down(&s, end_cause(why), cx),
            }
        }
    }

    fn authorize(&mut self, r: AuthRequest, cx: &mut Ctx<'_>) {
        // a new life of this subscriber: a new registry session
        let h = cx.sessions.create(cx.now, access_key_of(&r));
        if let Some(s) = cx.sessions.get_mut(h) {
            s.state = State::Authenticating;
        }
        self.handles.insert(r.session, h);
        tracing::info!(
            handle = h,
            user = %r.username,
            circuit_id = ?r.circuit_id.as_deref().map(String::from_utf8_lossy),
            remote_id = ?r.remote_id.as_deref().map(String::from_utf8_lossy),
            mac = %crate::bng::ipoe::mac_text(&r.mac),
            "ipoe subscriber"
        );
        if !self.authenticate {
            cx.sessions
                .authorize(h, &r.username, &AaaAuth::default(), cx.config);
            self.core
                .authorized(cx.now, r.token, Some(Authorization::default()));
            return;
        }
        self.next_tag = self.next_tag.wrapping_add(1);
        let tag = self.next_tag | TAG_BIT;
        let req = AaaRequest {
            user: r.username.clone(),
            method: Method::Unauthenticated,
            mac: r.mac,
            nas_port_id: self.nas_port_id(&r),
            ppp: false,
        };
        self.pending.insert(tag, (r.token, h, r.username));
        cx.aaa.submit(cx.now, tag, req);
    }

    fn fill(s: &Session, h: Handle, sessions: &mut Sessions) {
        if let Some(sub) = sessions.get_mut(h) {
            sub.ipv4 = s.ipv4;
            sub.ipv6 = s.ipv6;
            sub.pd = s.delegated;
            sub.key = access_key(s);
            // behind a relay: routed, its frames come from the relay (RFC 2131 4.1 giaddr)
            sub.next_hop = s.relay.map(|addr| NextHop {
                mac: s.next_hop_mac,
                addr,
            });
            // behind a DHCPv6 relay: its IA_NA and prefix are routed to the relay
            sub.next_hop6 = s.relay6.map(|a| (s.next_hop_mac, a));
        }
    }

    fn up(&mut self, s: &Session, cx: &mut Ctx<'_>) {
        let Some(&h) = self.handles.get(&s.id) else {
            return;
        };
        Self::fill(s, h, cx.sessions);
        cx.sessions.up(h, cx.now, cx.plane, cx.aaa);
        self.stats.up += 1;
    }

    fn changed(&mut self, s: &Session, cx: &mut Ctx<'_>) {
        let Some(&h) = self.handles.get(&s.id) else {
            return;
        };
        // the plane has no update: out with the old addresses, in with the new
        if let Some(old) = cx.sessions.get(h).cloned() {
            cx.plane.session_down(&old);
        }
        Self::fill(s, h, cx.sessions);
        if let Some(new) = cx.sessions.get(h) {
            cx.plane.session_up(new);
        }
    }

    fn down(&mut self, s: &Session, cause: EndCause, cx: &mut Ctx<'_>) {
        let Some(h) = self.handles.remove(&s.id) else {
            return;
        };
        cx.sessions
            .down(h, cx.now, cause, cx.plane, cx.aaa, cx.pools);
        self.stats.down += 1;
    }
}

fn access_key_of(r: &AuthRequest) -> AccessKey {
    let vlans = match &r.key {
        SubscriberKey::Mac { vlans, .. } => *vlans,
        _ => [0, 0],
    };
    AccessKey::Ipoe {
        mac: r.mac,
        vlans,
        circuit: r.circuit_id.clone(),
    }
}

impl Service for IpoeCp {
    fn handle_punt(&mut self, punt: &Punt<'_>, cx: &mut Ctx<'_>) {
        if matches!(punt.kind, PuntKind::Dhcp4 | PuntKind::Dhcp6) {
            self.core.handle_frame(cx.now, punt.frame);
            self.drain(cx);
        }
    }

    fn handle_auth(&mut self, tag: u64, result: AuthResult, cx: &mut Ctx<'_>) {
        let Some((token, h, user)) = self.pending.remove(&tag) else {
            return;
        };
        match result {
            AuthResult::Accept(a) => {
                cx.sessions.authorize(h, &user, &a, cx.config);
                let z = Authorization {
                    framed_ip: a.framed_ip,
                    delegated_prefix: a.delegated_prefix,
                    // the registry enforces Session-Timeout (and Idle-Timeout)
                    session_timeout: None,
                };
                self.core.authorized(cx.now, token, Some(z));
            }
            AuthResult::Reject(why) => {
                tracing::info!(handle = h, user = %user, reason = %why, "ipoe subscriber rejected");
                self.stats.rejected += 1;
                self.core.authorized(cx.now, token, None);
                self.handles.retain(|_, v| *v != h);
                cx.sessions
                    .down(h, cx.now, EndCause::NasError, cx.plane, cx.aaa, cx.pools);
            }
        }
        self.drain(cx);
    }

    fn handle_timeout(&mut self, cx: &mut Ctx<'_>) {
        self.core.handle_timeout(cx.now);
        self.drain(cx);
    }

    fn poll_timeout(&self) -> Option<Duration> {
        self.core.poll_timeout()
    }

    fn disconnect(&mut self, handle: Handle, cause: EndCause, cx: &mut Ctx<'_>) -> bool {
        let Some(id) = self
            .handles
            .iter()
            .find_map(|(id, h)| (*h == handle).then_some(*id))
        else {
            return false;
        };
        if !self.core.disconnect(cx.now, id) {
            // authorised but not bound yet: only the registry knows it
            self.handles.remove(&id);
            cx.sessions
                .down(handle, cx.now, cause, cx.plane, cx.aaa, cx.pools);
            return true;
        }
        // the core reports Down(Admin); the cause the gateway gave wins
        while let Some(o) = self.core.poll_output() {
            match o {
                Output::Down(s, _) => self.down(&s, cause, cx),
                Output::Frame(f) => cx.plane.transmit(Port::Access, &f),
                Output::Up(s) => self.up(&s, cx),
                Output::Changed(s) => self.changed(&s, cx),
                Output::Authorize(r) => self.authorize(r, cx),
            }
        }
        true
    }

    fn name(&self) -> &'static str {
        "ipoe"
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests"
)]
mod tests {
    use super::*;
    use crate::bng::aaa::LocalAaa;
    use crate::bng::session::{AddressPools, Counters, Forwarding, Subscriber};
    use crate::net::Udp4;
    use bng_dhcp::v4::client::{Client, ClientAction, ClientConfig, ClientState};

    const TOML: &str = r#"
[access]
interface = "acc0"
[upstream]
interface = "up0"
address = "192.0.2.1/24"
gateway = "192.0.2.254"
[pppoe]
enabled = false
pool = "ppp"
[ipoe]
enabled = true
gateway = "100.65.0.1"
pool = "ipoe"
lease_secs = 600
option82 = true
authenticate = true
pd_pool = "pd"
[[pools.v4]]
name = "ppp"
first = "100.64.0.10"
last = "100.64.0.200"
[[pools.v4]]
name = "ipoe"
first = "100.65.0.10"
last = "100.65.0.200"
[[pools.v6_pd]]
name = "pd"
prefix = "2001:db8:100::/40"
length = 56
"#;

    /// `text` parsed next to an (empty) users file of its own.
    fn parse(text: &str) -> Config {
        let dir = std::env::temp_dir().join(format!(
            "bng-ipoe-service-{}-{}",
            std::process::id(),
            std::thread::current()
                .name()
                .unwrap_or("t")
                .replace("::", "-")
        ));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("users"), "").unwrap();
        let c = Config::parse(text, &dir).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        c
    }

    /// The forwarding plane as a log.
    #[derive(Default)]
    struct Plane {
        up: Vec<Subscriber>,
        down: Vec<Subscriber>,
        tx: Vec<Vec<u8>>,
    }

    impl Forwarding for Plane {
        fn session_up(&mut self, s: &Subscriber) {
            self.up.push(s.clone());
        }
        fn session_down(&mut self, s: &Subscriber) {
            self.down.push(s.clone());
        }
        fn set_qos(&mut self, _s: &Subscriber) {}
        fn counters(&self, _h: Handle) -> Counters {
            Counters::default()
        }
        fn transmit(&mut self, _port: Port, frame: &[u8]) {
            self.tx.push(frame.to_vec());
        }
    }

    #[test]
    fn config_is_mapped_and_bad_keys_are_named() {
        let cfg = parse(TOML);
        let c = ipoe_config(&cfg, [2, 0, 0, 0, 0, 9]).unwrap();
        assert_eq!(c.pool_first, Ipv4Addr::new(100, 65, 0, 10));
        assert_eq!(c.pool_size, 191);
        assert_eq!(c.subnet_mask, Ipv4Addr::new(255, 255, 255, 0));
        assert!(c.key_by_circuit);
        let v6 = c.v6.unwrap();
        assert_eq!((v6.pd_len, v6.pd_count, v6.na_count), (56, 65536, 0));
        assert_eq!(v6.na_first, Ipv6Addr::UNSPECIFIED);
        let shared = TOML.replace("pool = \"ipoe\"", "pool = \"ppp\"");
        let cfg = parse(&shared);
        let e = ipoe_config(&cfg, [0; 6]).unwrap_err();
        assert!(e.starts_with("ipoe.pool"), "{e}");
    }

    /// A relayed client through the service: AAA (the local users file) with the
    /// circuit-id as user name, the registry session up with the leased address,
    /// accounting, then a Disconnect-Request ends it.
    #[test]
    fn relayed_client_through_the_service_and_the_registry() {
        let cfg = parse(TOML);
        let mut cp = IpoeCp::from_config(&cfg, [2, 0xbb, 0, 0, 0, 1]).unwrap();
        let mut plane = Plane::default();
        let mut sessions = Sessions::new("t-");
        let mut aaa = LocalAaa::new([("port-3".to_string(), vec![], None)]);
        let mut pools = AddressPools::new(&cfg.pools.v4, &cfg.pools.v6, &cfg.pools.v6_pd);
        let mac = [2, 0, 0, 0, 0, 3];
        let mut client = Client::new(ClientConfig::new(mac), 3);
        let mut now = Duration::ZERO;
        for _ in 0..6 {
            let mut tx = [0u8; 600];
            let mut frames = vec![];
            while let Some(a) = client.poll_action(now, &mut tx) {
                if let ClientAction::Transmit { len, .. } = a {
                    frames.push(super::super::tests_support::relayed(
                        &tx[..len],
                        b"port-3",
                        Ipv4Addr::new(100, 65, 0, 1),
                    ));
                }
            }
            let mut cx = Ctx {
                now,
                config: &cfg,
                plane: &mut plane,
                sessions: &mut sessions,
                aaa: &mut aaa,
                pools: &mut pools,
            };
            for f in &frames {
                let frame = Udp4 {
                    src_mac: [2, 0xaa, 0, 0, 0, 1],
                    dst_mac: [2, 0xbb, 0, 0, 0, 1],
                    src: Ipv4Addr::new(100, 65, 0, 2),
                    dst: Ipv4Addr::new(100, 65, 0, 1),
                    src_port: 67,
                    dst_port: 67,
                }
                .frame(f);
                let punt = Punt {
                    kind: PuntKind::Dhcp4,
                    frame: &frame,
                    l3_offset: 14,
                    vlans: [0, 0],
                    handle: None,
                };
                cp.handle_punt(&punt, &mut cx);
            }
            while let Some((tag, r)) = cx.aaa.poll_result() {
                assert_ne!(tag & TAG_BIT, 0);
                cp.handle_auth(tag, r, &mut cx);
            }
            for f in plane.tx.drain(..) {
                let (_, _, l3) = super::super::parse_eth(&f).unwrap();
                let (_, _, p) = super::super::parse_udp4(l3).unwrap();
                let _ = client.handle_packet(now, p);
            }
            now += Duration::from_millis(10);
        }
        assert_eq!(client.state(), ClientState::Bound);
        let addr = client.lease().unwrap().addr;
        assert_eq!(plane.up.len(), 1);
        let s = &plane.up[0];
        assert_eq!(s.ipv4, Some(addr));
        assert_eq!(s.user, "port-3");
        assert_eq!(s.state, State::Up);
        assert_eq!(
            s.key,
            AccessKey::Ipoe {
                mac,
                vlans: [0, 0],
                circuit: Some(b"port-3".to_vec())
            }
        );
        assert_eq!(aaa.records, 1, "Accounting-Start");
        let h = s.handle;
        let mut cx = Ctx {
            now,
            config: &cfg,
            plane: &mut plane,
            sessions: &mut sessions,
            aaa: &mut aaa,
            pools: &mut pools,
        };
        assert!(cp.disconnect(h, EndCause::AdminReset, &mut cx));
        assert!(sessions.get(h).is_none());
        assert_eq!(plane.down.len(), 1);
        assert_eq!(aaa.records, 2, "Accounting-Stop");
        assert_eq!(sessions.ended.get("admin_reset"), Some(&1));
        assert_eq!(cp.core().sessions().count(), 0);
    }

    #[test]
    fn unknown_user_is_rejected_and_nothing_is_sent() {
        let cfg = parse(TOML);
        let mut cp = IpoeCp::from_config(&cfg, [2, 0xbb, 0, 0, 0, 1]).unwrap();
        let mut plane = Plane::default();
        let mut sessions = Sessions::new("t-");
        let mut aaa = LocalAaa::new([]);
        let mut pools = AddressPools::new(&cfg.pools.v4, &cfg.pools.v6, &cfg.pools.v6_pd);
        let mut client = Client::new(ClientConfig::new([2, 0, 0, 0, 0, 4]), 4);
        let mut tx = [0u8; 600];
        let Some(ClientAction::Transmit { len, .. }) = client.poll_action(Duration::ZERO, &mut tx)
        else {
            panic!()
        };
        let f = Udp4 {
            src_mac: [2, 0, 0, 0, 0, 4],
            dst_mac: [0xff; 6],
            src: Ipv4Addr::UNSPECIFIED,
            dst: Ipv4Addr::BROADCAST,
            src_port: 68,
            dst_port: 67,
        }
        .frame(&tx[..len]);
        let mut cx = Ctx {
            now: Duration::ZERO,
            config: &cfg,
            plane: &mut plane,
            sessions: &mut sessions,
            aaa: &mut aaa,
            pools: &mut pools,
        };
        let punt = Punt {
            kind: PuntKind::Dhcp4,
            frame: &f,
            l3_offset: 14,
            vlans: [0, 0],
            handle: None,
        };
        cp.handle_punt(&punt, &mut cx);
        assert_eq!(cx.sessions.len(), 1);
        let (tag, r) = cx.aaa.poll_result().unwrap();
        cp.handle_auth(tag, r, &mut cx);
        assert!(cx.sessions.is_empty());
        assert!(plane.tx.is_empty());
        assert_eq!(cp.stats.rejected, 1);
    }
}
