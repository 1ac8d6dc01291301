//! Fuzz bodies for `bng-radius`.

use core::net::{IpAddr, Ipv4Addr};
use core::time::Duration;

use bng_radius::client::{
    AcctOverflow, AcctRecord, Client, Config, ServerConfig, ServerKind, Slot,
};
use bng_radius::crypto::{self, Secret};
use bng_radius::dae::{DaeClient, DaeConfig, DaeServer};
use bng_radius::dict::{AcctStatusType, AttrType, Code};
use bng_radius::packet::{Attributes, Packet, Repr, Writer};
use bng_radius::rand_core::{self, CryptoRng, RngCore};

/// The targets of this module, by name (each has `fuzz_targets/<name>.rs` and
/// `corpus/<name>/`).
pub const TARGETS: &[(&str, crate::Body)] = &[
    ("radius_packet", radius_packet),
    ("radius_client", radius_client),
    ("radius_dae", radius_dae),
];

/// RADIUS packet (RFC 2865): view, attribute walk and helpers, verification;
/// parse -> emit -> parse, byte-identical.
pub fn radius_packet(data: &[u8]) {
    let Ok(p) = Packet::new_checked(data) else {
        return;
    };
    for a in p.attributes() {
        let a = a.expect("validated attributes iterate without error");
        let _ = (
            a.as_u32(),
            a.as_ipv4(),
            a.as_ipv6(),
            a.as_ipv6_prefix(),
            a.as_text(),
        );
        if let Some((_, subs)) = a.as_vendor_specific() {
            assert!(subs.count() <= 64);
        }
        let _ = a.as_extended();
    }
    let s = Secret::new(b"fuzz").expect("secret");
    let _ = crypto::verify_request(&p, &s, true);
    let _ = crypto::verify_response(&p, &s, &[0; 16], false);
    let mut pw = [0u8; 128];
    let _ = p.user_password(&s, &mut pw);
    if let Some(tp) = p.attribute(AttrType::TUNNEL_PASSWORD) {
        let mut out = [0u8; 256];
        let _ = crypto::recover_tunnel_password(
            &s,
            &[0; 16],
            tp.value.get(1..).unwrap_or_default(),
            &mut out,
        );
    }
    let r = Repr::parse(&p).expect("a checked packet parses");
    let mut out = [0u8; 4096];
    let n = r.emit(&mut out).expect("a parsed packet must emit");
    assert_eq!(
        out.get(..n),
        Some(p.as_bytes()),
        "re-emit must be byte-identical"
    );
    let p2 = Packet::new_checked(out.get(..n).unwrap_or_default()).expect("re-parse view");
    let r2 = Repr::parse(&p2).expect("re-parse repr");
    assert_eq!(r, r2);
    // Signing a copy then verifying must succeed for any well-formed packet with at
    // most one Message-Authenticator.
    let mut c = [0u8; 4096];
    if let Some(dst) = c.get_mut(..n) {
        dst.copy_from_slice(p.as_bytes());
        if crypto::sign(dst, &s).is_ok() && !p.code().is_response() {
            let q = Packet::new_checked(&*dst).expect("signed packet parses");
            // EAP-Message without Message-Authenticator is refused (RFC 3579 3.3)
            let r = crypto::verify_request(&q, &s, false);
            assert!(
                matches!(
                    r,
                    Ok(()) | Err(bng_radius::VerifyError::MissingMessageAuthenticator)
                ),
                "{r:?}"
            );
        }
    }
}

/// Fuzz-only RNG (NOT cryptographic): fed from the input.
struct FuzzRng(u64);
impl RngCore for FuzzRng {
    fn next_u32(&mut self) -> u32 {
        u32::try_from(self.next_u64() >> 32).unwrap_or(0)
    }
    fn next_u64(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1);
        self.0
    }
    fn fill_bytes(&mut self, d: &mut [u8]) {
        for b in d {
            *b = self.next_u64().to_be_bytes()[0];
        }
    }
    fn try_fill_bytes(&mut self, d: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(d);
        Ok(())
    }
}
impl CryptoRng for FuzzRng {}

/// The client machine driven by an arbitrary script of (op, args): submissions, time
/// steps, arbitrary datagrams, genuine replies to what it sent. Invariants: no panic,
/// pending work bounded by the slots, replies only for genuine answers.
pub fn radius_client(data: &[u8]) {
    let secret = Secret::new(b"testing123").expect("secret");
    let mut slots = vec![Slot::EMPTY; 6];
    let cfg = Config {
        max_ports: 2,
        dead_after_failures: 1,
        acct_overflow: if data.first().is_some_and(|b| b & 1 == 1) {
            AcctOverflow::RejectNew
        } else {
            AcctOverflow::DropOldestInterim
        },
        ..Config::default()
    };
    let mut c = Client::new(cfg, &mut slots).expect("config");
    for (kind, rate) in [
        (ServerKind::Auth, 0),
        (ServerKind::Auth, 5),
        (ServerKind::Acct, 0),
    ] {
        c.add_server(ServerConfig {
            kind,
            secret: secret.clone(),
            rate_per_sec: rate,
            burst: 2,
        })
        .expect("server");
    }
    let mut rng = FuzzRng(0x5eed);
    let mut now = Duration::from_secs(1);
    let mut tx = [0u8; 4096];
    let mut last: Option<(usize, u8, Vec<u8>)> = None;
    let mut it = data.iter().copied();
    while let Some(op) = it.next() {
        let arg = it.next().unwrap_or(0);
        match op % 7 {
            0 => {
                let pw: &[u8] = if arg & 1 == 0 { b"pw" } else { b"bad" };
                let _ = c.submit_access(now, &mut rng, |t| {
                    t.attribute(AttrType::USER_NAME, &[arg; 3])?;
                    t.user_password(pw)
                });
            }
            1 => {
                let status = AcctStatusType(u32::from(arg % 4));
                let sid = [arg];
                let rec = AcctRecord::new(status, &sid);
                let _ = c.submit_accounting(now, &rec, |_| Ok(()));
            }
            2 => {
                now += Duration::from_millis(u64::from(arg) * 97);
                c.handle_timeout(now, &mut rng);
                while c.poll_event().is_some() {}
            }
            3 => {
                let n = usize::from(arg);
                let bytes: Vec<u8> = it.by_ref().take(n).collect();
                let _ = c.handle_packet(now, usize::from(arg % 4), arg % 3, &bytes);
            }
            4 => {
                if let Some((server, port, req)) = last.take() {
                    let p = Packet::new_checked(&req[..]).expect("our own request parses");
                    let code = match p.code() {
                        Code::ACCOUNTING_REQUEST => Code::ACCOUNTING_RESPONSE,
                        _ if arg & 1 == 1 => Code::ACCESS_REJECT,
                        _ => Code::ACCESS_ACCEPT,
                    };
                    let mut rep = [0u8; 64];
                    let w = Writer::new(&mut rep, code, p.identifier(), p.authenticator())
                        .expect("fits");
                    let n = w.finish(&secret).expect("sign");
                    let _ = c.handle_packet(now, server, port, rep.get(..n).unwrap_or_default());
                }
            }
            _ => {
                let mut sent = 0;
                while let Some(t) = c.poll_action(now, &mut tx) {
                    let req = tx.get(..t.len).expect("len within tx").to_vec();
                    let p = Packet::new_checked(&req[..]).expect("client emits valid packets");
                    assert!(
                        crypto::verify_request(&p, &secret, true).is_ok(),
                        "client signs"
                    );
                    last = Some((t.server, t.port, req));
                    sent += 1;
                    assert!(sent <= 6 + 3, "bounded outbox");
                }
            }
        }
        assert!(c.pending() <= 6);
        if let Some(d) = c.poll_timeout() {
            assert!(d < now + Duration::from_secs(3600), "deadlines stay near");
        }
    }
}

/// The DAE server: arbitrary datagrams from allowed and unknown sources, plus a
/// genuinely signed request carrying the input's attributes; every accepted request
/// gets an answer that parses and verifies.
pub fn radius_dae(data: &[u8]) {
    let secret = Secret::new(b"coasecret").expect("secret");
    let nas = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    let clients = [DaeClient {
        addr: nas,
        secret: secret.clone(),
    }];
    let mut srv = DaeServer::new(
        DaeConfig {
            require_event_timestamp: data.first().is_some_and(|b| b & 1 == 1),
            ..DaeConfig::default()
        },
        &clients,
    );
    let now = Duration::from_secs(1_700_000_000);
    let mut tx = [0u8; 4096];
    let check = |srv: &DaeServer<'_>, r: &bng_radius::dae::DaeRequest<'_>, tx: &mut [u8]| {
        for outcome in [Ok(()), Err(bng_radius::dict::ErrorCause::MISSING_ATTRIBUTE)] {
            let n = srv.respond(r, outcome, tx).expect("answer fits");
            let p = Packet::new_checked(tx.get(..n).unwrap_or_default()).expect("answer parses");
            assert!(crypto::verify_response(&p, &secret, &r.packet.authenticator(), true).is_ok());
        }
    };
    for (i, chunk) in data.chunks(64).enumerate() {
        let src = if i % 3 == 2 {
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        } else {
            nas
        };
        if let Ok(r) = srv.handle_packet(now, src, chunk) {
            check(&srv, &r, &mut tx);
        }
    }
    // A genuine request with the input as attributes (when they are well formed).
    let attrs = data.get(1..).unwrap_or_default();
    if Attributes::validate(attrs).is_ok() {
        let mut req = [0u8; 4096];
        let code = if data.first().is_some_and(|b| b & 2 == 2) {
            Code::COA_REQUEST
        } else {
            Code::DISCONNECT_REQUEST
        };
        let Ok(mut w) = Writer::new(&mut req, code, 1, [0; 16]) else {
            return;
        };
        if w.raw(attrs).is_err() {
            return;
        }
        if w.u32(AttrType::EVENT_TIMESTAMP, 1_700_000_000).is_err() {
            return;
        }
        let Ok(n) = w.finish(&secret) else { return };
        let bytes = req.get(..n).unwrap_or_default();
        match srv.handle_packet(now, nas, bytes) {
            Ok(r) => check(&srv, &r, &mut tx),
            Err(e) => {
                let p = Packet::new_checked(bytes).expect("signed request parses");
                // only a duplicate Message-Authenticator, a stale Event-Timestamp that
                // the input carried first, or a replay can refuse a genuine request
                let _ = (e, p);
            }
        }
    }
}
