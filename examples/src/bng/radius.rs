//! RADIUS AAA for `bng`: the `bng-radius` client (RFC 2865 authentication, RFC 2866
//! accounting, RFC 5080 retransmission and failover) over non-blocking UDP sockets,
//! driven from the gateway's loop ([`Aaa::poll`]).
//!
//! Access-Request: User-Name, User-Password (PAP) or CHAP-Password + CHAP-Challenge,
//! NAS-Identifier, NAS-IP-Address, NAS-Port-Type (Virtual, 5), NAS-Port-Id,
//! Calling-Station-Id, Service-Type Framed, Framed-Protocol PPP (RFC 2865 section 5).
//! Access-Accept is read for Framed-IP-Address (5.8), Framed-Pool (RFC 2869 5.18),
//! Session-Timeout (5.27), Idle-Timeout (5.28), Acct-Interim-Interval (RFC 2869 5.16),
//! Delegated-IPv6-Prefix (RFC 4818), Class (5.25), Filter-Id (5.11, a QoS profile name)
//! and rate limits "standard first": the RFC 4679 section 4.5 DSL-Forum VSAs
//! Actual-Data-Rate-Upstream/Downstream (vendor 3561, types 129/130) — and, as
//! fallback, the widely deployed Mikrotik-Rate-Limit (vendor 14988, type 8) text.

use std::collections::{HashMap, VecDeque};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use bng_radius::Secret;
use bng_radius::client::{
    AcctRecord, Client, Config as ClientConfig, Event, Handle, ServerConfig, ServerKind, Slot,
};
use bng_radius::dict::Code;
use bng_radius::dict::{AcctStatusType, AttrType, TerminateCause};
use bng_radius::packet::Packet;

use super::aaa::{Aaa, AcctKind, AuthRequest, AuthResult, Authorization, Method};
use super::config::Config;
use super::session::{Counters, EndCause, Qos, Subscriber};
use crate::rng::UrandomRng;

/// DSL-Forum vendor id (RFC 4679 section 4).
const VENDOR_DSL_FORUM: u32 = 3561;
/// Mikrotik vendor id.
const VENDOR_MIKROTIK: u32 = 14988;

/// RADIUS AAA.
pub struct RadiusAaa {
    client: Client<'static>,
    servers: Vec<SocketAddr>,
    sockets: Vec<UdpSocket>,
    rng: UrandomRng,
    pending: HashMap<Handle, (u64, Duration)>,
    ready: VecDeque<(u64, AuthResult)>,
    nas_id: String,
    nas_ip: Ipv4Addr,
    start: Instant,
    tx: Vec<u8>,
    rx: Vec<u8>,
    latencies: Vec<Duration>,
    /// Accounting records submitted.
    pub acct_sent: u64,
    /// Accounting records answered.
    pub acct_answered: u64,
}

impl RadiusAaa {
    /// A client for `cfg.radius.servers`; `nas_ip` is the default NAS-IP-Address.
    ///
    /// # Errors
    /// A secret file cannot be read or a socket not opened.
    pub fn new(cfg: &Config, nas_ip: Ipv4Addr) -> Result<Self, String> {
        let first = cfg.radius.servers.first().ok_or("radius.servers: none")?;
        let slots: &'static mut [Slot] = Box::leak(vec![Slot::EMPTY; 1024].into_boxed_slice());
        let per_try = Duration::from_millis(first.timeout_ms);
        let client_cfg = ClientConfig {
            initial_rt: per_try,
            max_rt: per_try * 4,
            max_retransmits: first.retries,
            auth_deadline: per_try
                * (u32::from(first.retries) + 1)
                * u32::try_from(cfg.radius.servers.len()).unwrap_or(1)
                + per_try,
            max_ports: 2,
            ..ClientConfig::default()
        };
        let mut client = Client::new(client_cfg, slots).map_err(|e| format!("radius: {e:?}"))?;
        let mut servers = Vec::new();
        for (i, s) in cfg.radius.servers.iter().enumerate() {
            let secret = cfg
                .read_secret(&format!("radius.servers[{i}].secret_file"), &s.secret_file)
                .map_err(|e| e.to_string())?;
            let acct = s
                .acct
                .unwrap_or_else(|| SocketAddr::new(s.auth.ip(), s.auth.port().wrapping_add(1)));
            for (kind, addr) in [(ServerKind::Auth, s.auth), (ServerKind::Acct, acct)] {
                if kind == ServerKind::Acct && !cfg.radius.accounting {
                    continue;
                }
                client
                    .add_server(ServerConfig {
                        kind,
                        secret: Secret::new(&secret)
                            .map_err(|e| format!("radius.servers[{i}].secret_file: {e:?}"))?,
                        rate_per_sec: 0,
                        burst: 0,
                    })
                    .map_err(|e| format!("radius.servers[{i}]: {e:?}"))?;
                servers.push(addr);
            }
        }
        let bind = if first.auth.is_ipv4() {
            "0.0.0.0:0"
        } else {
            "[::]:0"
        };
        let sockets = (0..2)
            .map(|_| {
                let s = UdpSocket::bind(bind)?;
                s.set_nonblocking(true)?;
                Ok(s)
            })
            .collect::<std::io::Result<Vec<_>>>()
            .map_err(|e| format!("radius socket: {e}"))?;
        Ok(Self {
            client,
            servers,
            sockets,
            rng: UrandomRng::new(),
            pending: HashMap::new(),
            ready: VecDeque::new(),
            nas_id: cfg.nas.identifier.clone(),
            nas_ip: cfg.nas.ip.unwrap_or(nas_ip),
            start: Instant::now(),
            tx: vec![0; 4096],
            rx: vec![0; 4096],
            latencies: Vec::new(),
            acct_sent: 0,
            acct_answered: 0,
        })
    }

    fn io(&mut self) {
        let now = self.start.elapsed();
        self.client.handle_timeout(now, &mut self.rng);
        while let Some(Event::TimedOut(h)) = self.client.poll_event() {
            if let Some((tag, _)) = self.pending.remove(&h) {
                tracing::warn!("RADIUS: no server answered the Access-Request");
                self.ready
                    .push_back((tag, AuthResult::Reject("RADIUS timeout".into())));
            }
        }
        while let Some(t) = self.client.poll_action(now, &mut self.tx) {
            if let (Some(s), Some(a), Some(b)) = (
                self.sockets.get(usize::from(t.port)),
                self.servers.get(t.server),
                self.tx.get(..t.len),
            ) {
                let _ = s.send_to(b, a);
            }
        }
        for pi in 0..self.sockets.len() {
            while let Some(Ok((n, from))) = self.sockets.get(pi).map(|s| s.recv_from(&mut self.rx))
            {
                let Some(si) = self.servers.iter().position(|a| *a == from) else {
                    continue;
                };
                let Some(bytes) = self.rx.get(..n) else {
                    continue;
                };
                let port = u8::try_from(pi).unwrap_or(0);
                match self
                    .client
                    .handle_packet(self.start.elapsed(), si, port, bytes)
                {
                    Ok(Some(r)) => {
                        if r.code == Code::ACCOUNTING_RESPONSE {
                            self.acct_answered += 1;
                            continue;
                        }
                        let Some((tag, sent)) = self.pending.remove(&r.handle) else {
                            continue;
                        };
                        self.latencies
                            .push(self.start.elapsed().saturating_sub(sent));
                        let res = if r.code == Code::ACCESS_ACCEPT {
                            AuthResult::Accept(authorization(&r.packet))
                        } else {
                            AuthResult::Reject(format!("{:?}", r.code))
                        };
                        self.ready.push_back((tag, res));
                    }
                    Ok(None) => {}
                    Err(e) => tracing::warn!(server = %from, error = %e, "RADIUS reply dropped"),
                }
            }
        }
    }
}

/// Reads what an Access-Accept grants.
#[must_use]
pub fn authorization(p: &Packet<&[u8]>) -> Authorization {
    let mut a = Authorization::default();
    let (mut up, mut down, mut mikrotik) = (None, None, None);
    for attr in p.attributes().map_while(Result::ok) {
        match attr.kind {
            AttrType::FRAMED_IP_ADDRESS => {
                a.framed_ip = attr
                    .as_ipv4()
                    .filter(|ip| !ip.is_broadcast() && !ip.is_unspecified());
            }
            AttrType::FRAMED_POOL => a.framed_pool = attr.as_text().map(str::to_string),
            AttrType::SESSION_TIMEOUT => {
                a.session_timeout = attr
                    .as_u32()
                    .filter(|v| *v > 0)
                    .map(|v| Duration::from_secs(v.into()));
            }
            AttrType::IDLE_TIMEOUT => {
                a.idle_timeout = attr
                    .as_u32()
                    .filter(|v| *v > 0)
                    .map(|v| Duration::from_secs(v.into()));
            }
            AttrType::ACCT_INTERIM_INTERVAL => {
                // RFC 2869 section 5.16: not less than 60 s
                a.interim = attr
                    .as_u32()
                    .filter(|v| *v > 0)
                    .map(|v| Duration::from_secs(u64::from(v.max(60))));
            }
            AttrType::CLASS => a.class = Some(attr.value.to_vec()),
            AttrType::FILTER_ID => a.profile = attr.as_text().map(str::to_string),
            AttrType::DELEGATED_IPV6_PREFIX => {
                // RFC 4818 section 3: Reserved, Prefix-Length, Prefix (0..16 bytes)
                let v = attr.value;
                if let (Some(&len), Some(pfx)) = (v.get(1), v.get(2..)) {
                    let mut b = [0u8; 16];
                    for (d, s) in b.iter_mut().zip(pfx) {
                        *d = *s;
                    }
                    if len <= 128 {
                        a.delegated_prefix = Some((Ipv6Addr::from(b), len));
                    }
                }
            }
            AttrType::FRAMED_IPV6_PREFIX => {
                // RFC 3162 section 2.3: same layout as Delegated-IPv6-Prefix
                a.framed_ipv6_prefix = attr.as_ipv6_prefix().map(|p| (p.addr, p.len));
            }
            AttrType::VENDOR_SPECIFIC => {
                let v = attr.value;
                let vendor = v.first_chunk::<4>().map(|b| u32::from_be_bytes(*b));
                let (Some(&t), Some(&l)) = (v.get(4), v.get(5)) else {
                    continue;
                };
                let Some(val) = v.get(6..usize::from(l).saturating_add(4)) else {
                    continue;
                };
                let as_u32 = || val.first_chunk::<4>().map(|b| u32::from_be_bytes(*b));
                match (vendor, t) {
                    (Some(VENDOR_DSL_FORUM), 129) => up = as_u32().map(u64::from),
                    (Some(VENDOR_DSL_FORUM), 130) => down = as_u32().map(u64::from),
                    (Some(VENDOR_MIKROTIK), 8) => {
                        mikrotik = std::str::from_utf8(val).ok().and_then(parse_mikrotik);
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }
    let rates = match (up, down) {
        (Some(u), Some(d)) => Some((u, d)),
        (Some(u), None) => Some((u, u)),
        (None, Some(d)) => Some((d, d)),
        (None, None) => mikrotik,
    };
    if let Some((u, d)) = rates {
        a.qos = Some((
            "radius".into(),
            Qos {
                down_bps: d,
                up_bps: u,
                burst_bytes: d / 80,
            },
        ));
    }
    a
}

/// `rx/tx` rates of a Mikrotik-Rate-Limit ("10M/20M", "512k/1M"), as (up, down) from the
/// subscriber's view (rx = upload).
fn parse_mikrotik(s: &str) -> Option<(u64, u64)> {
    let first = s.split_whitespace().next()?;
    let (rx, tx) = first.split_once('/')?;
    let rate = |r: &str| -> Option<u64> {
        let (num, mul) = match r.chars().last()? {
            'k' | 'K' => (r.get(..r.len() - 1)?, 1_000),
            'm' | 'M' => (r.get(..r.len() - 1)?, 1_000_000),
            'g' | 'G' => (r.get(..r.len() - 1)?, 1_000_000_000),
            _ => (r, 1),
        };
        num.parse::<u64>().ok()?.checked_mul(mul)
    };
    Some((rate(rx)?, rate(tx)?))
}

impl Aaa for RadiusAaa {
    fn submit(&mut self, _now: Duration, tag: u64, req: AuthRequest) {
        let now = self.start.elapsed();
        let (ident, our_ip) = (self.nas_id.clone(), self.nas_ip);
        let station = {
            let m = req.mac;
            format!(
                "{:02x}-{:02x}-{:02x}-{:02x}-{:02x}-{:02x}",
                m[0], m[1], m[2], m[3], m[4], m[5]
            )
        };
        let r = self.client.submit_access(now, &mut self.rng, |t| {
            t.attribute(AttrType::USER_NAME, req.user.as_bytes())?;
            match &req.method {
                Method::Pap { password } => t.user_password(password)?,
                Method::Chap {
                    id,
                    challenge,
                    response,
                } => {
                    // RFC 2865 section 5.3: CHAP Ident || 16-octet response
                    let mut v = [0u8; 17];
                    v[0] = *id;
                    for (d, s) in v.iter_mut().skip(1).zip(response) {
                        *d = *s;
                    }
                    t.attribute(AttrType::CHAP_PASSWORD, &v)?;
                    t.attribute(AttrType::CHAP_CHALLENGE, challenge)?;
                }
                Method::Unauthenticated => {}
            }
            t.attribute(AttrType::NAS_IDENTIFIER, ident.as_bytes())?;
            t.ipv4(AttrType::NAS_IP_ADDRESS, our_ip)?;
            t.u32(AttrType::NAS_PORT_TYPE, 5)?;
            t.attribute(AttrType::NAS_PORT_ID, req.nas_port_id.as_bytes())?;
            t.attribute(AttrType::CALLING_STATION_ID, station.as_bytes())?;
            t.u32(AttrType::SERVICE_TYPE, 2)?;
            if req.ppp {
                t.u32(AttrType::FRAMED_PROTOCOL, 1)?;
            }
            Ok(())
        });
        match r {
            Ok(h) => {
                self.pending.insert(h, (tag, now));
            }
            Err(e) => self
                .ready
                .push_back((tag, AuthResult::Reject(format!("RADIUS: {e}")))),
        }
        self.io();
    }

    fn poll_result(&mut self) -> Option<(u64, AuthResult)> {
        self.ready.pop_front()
    }

    fn account(
        &mut self,
        at: Duration,
        kind: AcctKind,
        s: &Subscriber,
        c: &Counters,
        cause: Option<EndCause>,
    ) {
        let now = self.start.elapsed();
        let status = match kind {
            AcctKind::Start => AcctStatusType::START,
            AcctKind::Interim => AcctStatusType::INTERIM_UPDATE,
            AcctKind::Stop => AcctStatusType::STOP,
        };
        let mut rec = AcctRecord::new(status, s.acct_session_id.as_bytes());
        rec.input_octets = c.in_bytes;
        rec.output_octets = c.out_bytes;
        rec.input_packets = c.in_packets;
        rec.output_packets = c.out_packets;
        rec.session_time =
            u32::try_from(at.saturating_sub(s.started).as_secs()).unwrap_or(u32::MAX);
        rec.terminate_cause = cause.map(|c| TerminateCause(c.radius()));
        let (ident, our_ip) = (self.nas_id.clone(), self.nas_ip);
        let station = s.key.calling_station();
        let r = self.client.submit_accounting(now, &rec, |t| {
            t.attribute(AttrType::USER_NAME, s.user.as_bytes())?;
            t.attribute(AttrType::NAS_IDENTIFIER, ident.as_bytes())?;
            t.ipv4(AttrType::NAS_IP_ADDRESS, our_ip)?;
            t.attribute(AttrType::CALLING_STATION_ID, station.as_bytes())?;
            if let Some(ip) = s.ipv4 {
                t.ipv4(AttrType::FRAMED_IP_ADDRESS, ip)?;
            }
            if let Some(class) = &s.class {
                t.attribute(AttrType::CLASS, class)?;
            }
            Ok(())
        });
        match r {
            Ok(_) => self.acct_sent += 1,
            Err(e) => tracing::warn!(error = %e, "accounting record not queued"),
        }
        tracing::info!(target: "bng::accounting", kind = ?kind, user = %s.user, acct_session_id = %s.acct_session_id, in_octets = c.in_bytes, out_octets = c.out_bytes, "accounting");
        self.io();
    }

    fn flush(&mut self, bound: Duration) {
        let t = Instant::now();
        while self.client.pending() > 0 && t.elapsed() < bound {
            self.io();
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn poll(&mut self, _now: Duration) {
        if self.client.pending() > 0 {
            self.io();
        }
    }

    fn take_latencies(&mut self) -> Vec<Duration> {
        std::mem::take(&mut self.latencies)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests")]
mod tests {
    use super::*;

    #[test]
    fn framed_and_delegated_ipv6_prefixes() {
        // Access-Accept (RFC 2865 section 3) with Framed-IPv6-Prefix 2001:db8:1:1::/64
        // (RFC 3162 section 2.3) and Delegated-IPv6-Prefix 2001:db8:2:100::/56 (RFC 4818)
        let mut b = vec![2, 1, 0, 0];
        b.extend_from_slice(&[0; 16]);
        b.extend_from_slice(&[97, 12, 0, 64, 0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 1]);
        b.extend_from_slice(&[123, 11, 0, 56, 0x20, 0x01, 0x0d, 0xb8, 0, 2, 1]);
        let len = u16::try_from(b.len()).unwrap().to_be_bytes();
        b[2..4].copy_from_slice(&len);
        let a = authorization(&Packet::new_checked(&b[..]).unwrap());
        assert_eq!(
            a.framed_ipv6_prefix,
            Some(("2001:db8:1:1::".parse().unwrap(), 64))
        );
        assert_eq!(
            a.delegated_prefix,
            Some(("2001:db8:2:100::".parse().unwrap(), 56))
        );
    }

    #[test]
    fn mikrotik_rates() {
        assert_eq!(parse_mikrotik("10M/20M"), Some((10_000_000, 20_000_000)));
        assert_eq!(parse_mikrotik("512k/1M 2M/4M"), Some((512_000, 1_000_000)));
        assert_eq!(parse_mikrotik("x"), None);
    }
}
