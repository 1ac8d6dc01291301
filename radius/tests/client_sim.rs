//! Client transaction machine: peer-pair simulations on a virtual clock (STYLE.md
//! section 10) with loss, a dead server, forged replies, identifier exhaustion, rate
//! limiting and the accounting queue.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::too_many_lines,
    clippy::cast_possible_truncation,
    clippy::many_single_char_names,
    clippy::unchecked_time_subtraction,
    clippy::range_plus_one,
    clippy::cast_sign_loss,
    reason = "tests"
)]

use core::time::Duration;

use bng_radius::VerifyError;
use bng_radius::client::{
    AcctOverflow, AcctRecord, Client, Config, DropReason, Event, ServerConfig, ServerKind, Slot,
    SubmitError,
};
use bng_radius::crypto::{self, Secret};
use bng_radius::dict::{AcctStatusType, AttrType, Code, TerminateCause};
use bng_radius::packet::{Packet, Repr, Writer};
use rand_core::{CryptoRng, RngCore};

/// Deterministic xorshift for simulations. Marked `CryptoRng` ONLY for tests.
struct TestRng(u64);
impl RngCore for TestRng {
    fn next_u32(&mut self) -> u32 {
        self.next_u64() as u32
    }
    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn fill_bytes(&mut self, d: &mut [u8]) {
        for b in d {
            *b = self.next_u64() as u8;
        }
    }
    fn try_fill_bytes(&mut self, d: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(d);
        Ok(())
    }
}
impl CryptoRng for TestRng {}

const SECRET: &[u8] = b"testing123";

fn secret() -> Secret {
    Secret::new(SECRET).unwrap()
}

fn server(kind: ServerKind) -> ServerConfig {
    ServerConfig {
        kind,
        secret: secret(),
        rate_per_sec: 0,
        burst: 0,
    }
}

fn slots(n: usize) -> Vec<Slot> {
    vec![Slot::EMPTY; n]
}

/// A RADIUS server: verifies the request (Message-Authenticator required), answers
/// Access-Accept if the password is "pw" else Access-Reject; Accounting-Response to
/// accounting; Access-Accept to Status-Server. `with_ma` = false imitates a server
/// that does not sign replies.
fn answer(req: &[u8], secret: &Secret, with_ma: bool) -> Vec<u8> {
    let p = Packet::new_checked(req).unwrap();
    crypto::verify_request(&p, secret, true).expect("server: request verifies");
    reply(req, secret, with_ma)
}

/// The reply half of [`answer`], without checking the request (a forger's view).
fn reply(req: &[u8], secret: &Secret, with_ma: bool) -> Vec<u8> {
    let p = Packet::new_checked(req).unwrap();
    assert_eq!(
        p.attributes().next().unwrap().unwrap().kind,
        AttrType::MESSAGE_AUTHENTICATOR,
        "Message-Authenticator first"
    );
    let code = match p.code() {
        Code::ACCESS_REQUEST => {
            let mut out = [0u8; 128];
            if p.user_password(secret, &mut out).ok() == Some(&b"pw"[..]) {
                Code::ACCESS_ACCEPT
            } else {
                Code::ACCESS_REJECT
            }
        }
        Code::ACCOUNTING_REQUEST => Code::ACCOUNTING_RESPONSE,
        Code::STATUS_SERVER => Code::ACCESS_ACCEPT,
        c => panic!("unexpected {c:?}"),
    };
    let mut buf = vec![0u8; 512];
    let n = if with_ma {
        let mut w = Writer::new(&mut buf, code, p.identifier(), p.authenticator()).unwrap();
        w.u32(AttrType::SESSION_TIMEOUT, 3600).unwrap();
        w.finish(secret).unwrap()
    } else {
        let attrs = [bng_radius::Attr {
            kind: AttrType::SESSION_TIMEOUT,
            value: &3600u32.to_be_bytes(),
        }];
        let r = Repr {
            code,
            identifier: p.identifier(),
            authenticator: p.authenticator(),
            attributes: bng_radius::packet::AttrList::List(&attrs),
        };
        let n = r.emit(&mut buf).unwrap();
        crypto::sign(&mut buf[..n], secret).unwrap();
        n
    };
    buf.truncate(n);
    buf
}

fn pap(
    c: &mut Client<'_>,
    now: Duration,
    rng: &mut TestRng,
    pw: &'static [u8],
) -> bng_radius::client::Handle {
    c.submit_access(now, rng, |t| {
        t.attribute(AttrType::USER_NAME, b"alice")?;
        t.user_password(pw)?;
        t.u32(AttrType::NAS_PORT, 7)?;
        Ok(())
    })
    .unwrap()
}

#[test]
fn pap_accept_and_reject() {
    let mut st = slots(4);
    let mut c = Client::new(Config::default(), &mut st).unwrap();
    c.add_server(server(ServerKind::Auth)).unwrap();
    let mut rng = TestRng(7);
    let now = Duration::from_secs(100);
    let h1 = pap(&mut c, now, &mut rng, b"pw");
    let h2 = pap(&mut c, now, &mut rng, b"bad");
    let mut tx = [0u8; 4096];
    let mut replies = vec![];
    while let Some(t) = c.poll_action(now, &mut tx) {
        assert_eq!((t.server, t.port), (0, 0));
        replies.push(answer(&tx[..t.len], &secret(), true));
    }
    assert_eq!(replies.len(), 2);
    let r1 = c.handle_packet(now, 0, 0, &replies[0]).unwrap().unwrap();
    assert_eq!((r1.handle, r1.code), (h1, Code::ACCESS_ACCEPT));
    assert_eq!(
        r1.packet
            .attribute(AttrType::SESSION_TIMEOUT)
            .unwrap()
            .as_u32(),
        Some(3600)
    );
    let r2 = c.handle_packet(now, 0, 0, &replies[1]).unwrap().unwrap();
    assert_eq!((r2.handle, r2.code), (h2, Code::ACCESS_REJECT));
    // A duplicate of an answered reply is unmatched.
    assert_eq!(
        c.handle_packet(now, 0, 0, &replies[0]).unwrap_err(),
        DropReason::Unmatched
    );
    assert_eq!(c.stats().replies, 2);
    assert_eq!(c.stats().drop_unmatched, 1);
    assert_eq!(c.pending(), 0);
    assert_eq!(c.poll_timeout(), None);
}

#[test]
fn forged_and_unsigned_replies_are_dropped_and_counted() {
    let mut st = slots(4);
    let mut c = Client::new(Config::default(), &mut st).unwrap();
    c.add_server(server(ServerKind::Auth)).unwrap();
    let mut rng = TestRng(9);
    let now = Duration::ZERO;
    let h = pap(&mut c, now, &mut rng, b"pw");
    let mut tx = [0u8; 4096];
    let t = c.poll_action(now, &mut tx).unwrap();
    let req = tx[..t.len].to_vec();

    // 1. No Message-Authenticator, Response Authenticator correct (what a BlastRADIUS
    //    attacker produces): refused by default.
    let unsigned = answer(&req, &secret(), false);
    assert_eq!(
        c.handle_packet(now, 0, 0, &unsigned).unwrap_err(),
        DropReason::Verify(VerifyError::MissingMessageAuthenticator)
    );
    // 2. Wrong secret.
    let forged = reply(&req, &Secret::new(b"attacker").unwrap(), true);
    assert_eq!(
        c.handle_packet(now, 0, 0, &forged).unwrap_err(),
        DropReason::Verify(VerifyError::BadAuthenticator)
    );
    // 3. Correct reply with its Message-Authenticator tampered and the Response
    //    Authenticator recomputed (attacker knows neither, but test the MA check).
    let mut bad_ma = answer(&req, &secret(), true);
    bad_ma[22] ^= 0xff;
    let ra: [u8; 16] = req[4..20].try_into().unwrap();
    let a = crypto::authenticator_hash(&secret(), &bad_ma, &ra);
    bad_ma[4..20].copy_from_slice(&a);
    assert_eq!(
        c.handle_packet(now, 0, 0, &bad_ma).unwrap_err(),
        DropReason::Verify(VerifyError::BadMessageAuthenticator)
    );
    // 4. Wrong code for the request.
    let mut coa_ack = [0u8; 64];
    let w = Writer::new(&mut coa_ack, Code::COA_ACK, req[1], ra).unwrap();
    let n = w.finish(&secret()).unwrap();
    assert_eq!(
        c.handle_packet(now, 0, 0, &coa_ack[..n]).unwrap_err(),
        DropReason::UnexpectedCode
    );
    // 5. Garbage and wrong port / server index.
    assert!(matches!(
        c.handle_packet(now, 0, 0, &[1, 2, 3]).unwrap_err(),
        DropReason::Malformed(_)
    ));
    let good = answer(&req, &secret(), true);
    assert_eq!(
        c.handle_packet(now, 0, 1, &good).unwrap_err(),
        DropReason::Unmatched
    );
    assert_eq!(
        c.handle_packet(now, 5, 0, &good).unwrap_err(),
        DropReason::Unmatched
    );
    let s = *c.stats();
    assert_eq!(s.drop_missing_message_authenticator, 1);
    assert_eq!(s.drop_bad_authenticator, 1);
    assert_eq!(s.drop_bad_message_authenticator, 1);
    assert_eq!(s.drop_unexpected_code, 1);
    assert_eq!(s.drop_malformed, 1);
    assert_eq!(s.drop_unmatched, 2);
    // The transaction survived all of that: the genuine reply is accepted.
    let r = c.handle_packet(now, 0, 0, &good).unwrap().unwrap();
    assert_eq!(r.handle, h);
}

#[test]
fn insecure_option_accepts_unsigned_replies() {
    let mut st = slots(2);
    let cfg = Config {
        insecure_accept_responses_without_message_authenticator: true,
        ..Config::default()
    };
    let mut c = Client::new(cfg, &mut st).unwrap();
    c.add_server(server(ServerKind::Auth)).unwrap();
    let mut rng = TestRng(3);
    let h = pap(&mut c, Duration::ZERO, &mut rng, b"pw");
    let mut tx = [0u8; 4096];
    let t = c.poll_action(Duration::ZERO, &mut tx).unwrap();
    let unsigned = answer(&tx[..t.len], &secret(), false);
    let r = c
        .handle_packet(Duration::ZERO, 0, 0, &unsigned)
        .unwrap()
        .unwrap();
    assert_eq!(r.handle, h);
}

#[test]
fn access_request_retransmits_identically_with_backoff_then_times_out() {
    let mut st = slots(2);
    let mut c = Client::new(Config::default(), &mut st).unwrap();
    c.add_server(server(ServerKind::Auth)).unwrap();
    let mut rng = TestRng(11);
    let mut now = Duration::ZERO;
    let h = pap(&mut c, now, &mut rng, b"pw");
    let mut tx = [0u8; 4096];
    let t = c.poll_action(now, &mut tx).unwrap();
    let first = tx[..t.len].to_vec();
    let mut gaps = vec![];
    let mut sends = 1;
    let mut last = now;
    let timed_out = loop {
        let next = c.poll_timeout().expect("a deadline while pending");
        assert!(next >= now, "deadlines never go back");
        now = next;
        c.handle_timeout(now, &mut rng);
        if let Some(Event::TimedOut(x)) = c.poll_event() {
            break x;
        }
        while let Some(t) = c.poll_action(now, &mut tx) {
            sends += 1;
            gaps.push(now - last);
            last = now;
            if sends <= 3 {
                // same server: byte-identical retransmission
                assert_eq!(&tx[..t.len], &first[..]);
            }
        }
        assert!(now < Duration::from_secs(120), "no timeout after 120 s");
    };
    assert_eq!(timed_out, h);
    // 2 s, ~4 s, ~8 s, ~16 s: each gap within +-10 % of double the previous
    assert!(
        gaps[0] >= Duration::from_millis(1800) && gaps[0] <= Duration::from_millis(2200),
        "{gaps:?}"
    );
    for w in gaps.windows(2).take(2) {
        let ratio = w[1].as_secs_f64() / w[0].as_secs_f64();
        assert!((1.6..=2.5).contains(&ratio), "{gaps:?}");
    }
    assert!(
        now <= Duration::from_secs(40),
        "MRD 30 s respected: {now:?}"
    );
    assert_eq!(c.stats().timeouts, 1);
    assert_eq!(c.pending(), 0);
}

#[test]
fn accounting_retransmit_changes_identifier_and_delay_time() {
    let mut st = slots(2);
    let mut c = Client::new(Config::default(), &mut st).unwrap();
    c.add_server(server(ServerKind::Acct)).unwrap();
    let mut rng = TestRng(5);
    let mut now = Duration::from_secs(1000);
    let rec = AcctRecord {
        input_octets: (5u64 << 32) + 77,
        output_octets: 1234,
        input_packets: 1 << 40,
        output_packets: 9,
        session_time: 60,
        ..AcctRecord::new(AcctStatusType::INTERIM_UPDATE, b"sess-1")
    };
    c.submit_accounting(now, &rec, |t| t.u32(AttrType::ACCT_DELAY_TIME, 3))
        .unwrap();
    let mut tx = [0u8; 4096];
    let t = c.poll_action(now, &mut tx).unwrap();
    let p1 = tx[..t.len].to_vec();
    let p = Packet::new_checked(&p1[..]).unwrap();
    crypto::verify_request(&p, &secret(), true).unwrap();
    let get = |p: &Packet<&[u8]>, a| p.attribute(a).unwrap().as_u32().unwrap();
    assert_eq!(get(&p, AttrType::ACCT_DELAY_TIME), 3);
    assert_eq!(get(&p, AttrType::ACCT_INPUT_OCTETS), 77);
    assert_eq!(get(&p, AttrType::ACCT_INPUT_GIGAWORDS), 5);
    assert_eq!(get(&p, AttrType::ACCT_OUTPUT_OCTETS), 1234);
    assert_eq!(get(&p, AttrType::ACCT_OUTPUT_GIGAWORDS), 0);
    assert_eq!(get(&p, AttrType::ACCT_INPUT_PACKETS), u32::MAX);
    assert_eq!(get(&p, AttrType::ACCT_SESSION_TIME), 60);
    assert_eq!(
        p.attribute(AttrType::ACCT_SESSION_ID).unwrap().value,
        b"sess-1"
    );
    now = c.poll_timeout().unwrap();
    c.handle_timeout(now, &mut rng);
    let t = c.poll_action(now, &mut tx).unwrap();
    let p2 = Packet::new_checked(&tx[..t.len]).unwrap();
    crypto::verify_request(&p2, &secret(), true).unwrap();
    assert_ne!(p2.identifier(), p.identifier());
    assert_eq!(get(&p2, AttrType::ACCT_DELAY_TIME), 3 + 2);
    // the late reply to the first transmission is unmatched; the reply to the second
    // is accepted
    let late = answer(&p1, &secret(), true);
    assert_eq!(
        c.handle_packet(now, 0, t.port, &late).unwrap_err(),
        DropReason::Unmatched
    );
    let ok = answer(&tx[..t.len], &secret(), true);
    let r = c.handle_packet(now, 0, t.port, &ok).unwrap().unwrap();
    assert_eq!(r.code, Code::ACCOUNTING_RESPONSE);
}

#[test]
fn failover_dead_server_and_revival_by_status_server() {
    let mut st = slots(8);
    let cfg = Config {
        dead_after_failures: 1,
        ..Config::default()
    };
    let mut c = Client::new(cfg, &mut st).unwrap();
    c.add_server(server(ServerKind::Auth)).unwrap();
    c.add_server(server(ServerKind::Auth)).unwrap();
    let mut rng = TestRng(13);
    let mut now = Duration::ZERO;
    let h = pap(&mut c, now, &mut rng, b"pw");
    let mut tx = [0u8; 4096];
    let mut server0_up = false;
    let mut got = None;
    let mut probes = 0;
    let mut to_1 = 0;
    for _ in 0..200 {
        while let Some(t) = c.poll_action(now, &mut tx) {
            let pkt = tx[..t.len].to_vec();
            if t.server == 0 && Packet::new_checked(&pkt[..]).unwrap().code() == Code::STATUS_SERVER
            {
                probes += 1;
            }
            if t.server == 0 && !server0_up {
                continue; // server 0 is down: lost
            }
            if t.server == 1 {
                to_1 += 1;
            }
            let rep = answer(&pkt, &secret(), true);
            if let Ok(Some(r)) = c.handle_packet(now, t.server, t.port, &rep) {
                got = Some((r.handle, r.server));
            }
        }
        if got.is_some() && !server0_up {
            assert!(!c.server_alive(0), "server 0 marked dead");
            assert!(c.server_alive(1));
            server0_up = true; // bring it back
        }
        if server0_up && c.server_alive(0) {
            break;
        }
        let Some(t) = c.poll_timeout() else { break };
        now = t;
        c.handle_timeout(now, &mut rng);
    }
    assert_eq!(got, Some((h, 1)), "answered by the second server");
    assert_eq!(to_1, 1);
    assert!(probes >= 1, "Status-Server probes went to the dead server");
    assert!(c.server_alive(0), "revived");
    let s = *c.stats();
    assert_eq!((s.servers_dead, s.servers_revived), (1, 1));
    // new requests go to server 0 again
    let _ = pap(&mut c, now, &mut rng, b"pw");
    let t = c.poll_action(now, &mut tx).unwrap();
    assert_eq!(t.server, 0);
}

#[test]
fn identifier_space_per_port_grows_to_more_ports() {
    let mut st = slots(600);
    let cfg = Config {
        max_ports: 2,
        ..Config::default()
    };
    let mut c = Client::new(cfg, &mut st).unwrap();
    c.add_server(server(ServerKind::Auth)).unwrap();
    let mut rng = TestRng(17);
    let now = Duration::ZERO;
    for _ in 0..600 {
        pap(&mut c, now, &mut rng, b"pw");
    }
    let mut tx = [0u8; 4096];
    let mut per_port = [
        std::collections::HashSet::new(),
        std::collections::HashSet::new(),
    ];
    while let Some(t) = c.poll_action(now, &mut tx) {
        assert!(
            per_port[usize::from(t.port)].insert(tx[1]),
            "id reused in flight"
        );
    }
    assert_eq!(per_port[0].len(), 256);
    assert_eq!(per_port[1].len(), 256);
    assert_eq!(c.pending(), 600, "88 wait for a free Identifier");
}

#[test]
fn token_bucket_limits_per_server() {
    let mut st = slots(8);
    let mut c = Client::new(Config::default(), &mut st).unwrap();
    c.add_server(ServerConfig {
        rate_per_sec: 10,
        burst: 2,
        ..server(ServerKind::Auth)
    })
    .unwrap();
    let mut rng = TestRng(19);
    let now = Duration::from_secs(5);
    for _ in 0..5 {
        pap(&mut c, now, &mut rng, b"pw");
    }
    let mut tx = [0u8; 4096];
    let mut n = 0;
    while c.poll_action(now, &mut tx).is_some() {
        n += 1;
    }
    assert_eq!(n, 2, "burst of 2");
    let wake = c.poll_timeout().unwrap();
    assert_eq!(wake, now + Duration::from_millis(100));
    assert!(c.poll_action(wake, &mut tx).is_some());
    assert!(c.poll_action(wake, &mut tx).is_none());
    assert!(c.stats().rate_limited > 0);
}

#[test]
fn accounting_overflow_policies_are_explicit_and_counted() {
    for policy in [AcctOverflow::DropOldestInterim, AcctOverflow::RejectNew] {
        let mut st = slots(3);
        let cfg = Config {
            acct_overflow: policy,
            ..Config::default()
        };
        let mut c = Client::new(cfg, &mut st).unwrap();
        c.add_server(server(ServerKind::Acct)).unwrap();
        let mut t = Duration::ZERO;
        let start = AcctRecord::new(AcctStatusType::START, b"s");
        let interim = AcctRecord::new(AcctStatusType::INTERIM_UPDATE, b"s");
        c.submit_accounting(t, &start, |_| Ok(())).unwrap();
        for _ in 0..2 {
            t += Duration::from_secs(1);
            c.submit_accounting(t, &interim, |_| Ok(())).unwrap();
        }
        let stop = AcctRecord {
            terminate_cause: Some(TerminateCause::USER_REQUEST),
            ..AcctRecord::new(AcctStatusType::STOP, b"s")
        };
        let r = c.submit_accounting(t, &stop, |_| Ok(()));
        match policy {
            AcctOverflow::DropOldestInterim => {
                r.unwrap();
                assert_eq!(c.stats().acct_dropped_interim, 1);
            }
            AcctOverflow::RejectNew => {
                assert_eq!(r.unwrap_err(), SubmitError::Full);
                assert_eq!(c.stats().acct_rejected, 1);
            }
        }
        assert_eq!(c.pending(), 3);
    }
}

#[test]
fn accounting_waits_for_a_dead_server_and_nothing_is_lost() {
    let mut st = slots(16);
    let cfg = Config {
        dead_after_failures: 1,
        probe_interval: Duration::from_secs(5),
        ..Config::default()
    };
    let mut c = Client::new(cfg, &mut st).unwrap();
    c.add_server(server(ServerKind::Acct)).unwrap();
    let mut rng = TestRng(23);
    let mut now = Duration::ZERO;
    let mut handles = vec![];
    let mut tx = [0u8; 4096];
    let mut delivered = vec![];
    let up_at = Duration::from_secs(300);
    for step in 0..2000 {
        if step % 50 == 0 && handles.len() < 10 {
            let id = format!("sess-{}", handles.len());
            let rec = AcctRecord::new(AcctStatusType::START, id.as_bytes());
            handles.push(c.submit_accounting(now, &rec, |_| Ok(())).unwrap());
        }
        while let Some(t) = c.poll_action(now, &mut tx) {
            if now < up_at {
                continue;
            }
            let rep = answer(&tx[..t.len], &secret(), true);
            if let Ok(Some(r)) = c.handle_packet(now, t.server, t.port, &rep) {
                delivered.push(r.handle);
                let p = Packet::new_checked(&tx[..t.len]).unwrap();
                let delay = p
                    .attribute(AttrType::ACCT_DELAY_TIME)
                    .unwrap()
                    .as_u32()
                    .unwrap();
                assert!(delay <= u32::try_from(now.as_secs()).unwrap());
            }
        }
        if handles.len() == 10 && delivered.len() == 10 {
            break;
        }
        now = c.poll_timeout().map_or(now + Duration::from_secs(1), |t| {
            t.min(now + Duration::from_secs(1))
        });
        c.handle_timeout(now, &mut rng);
        assert_eq!(c.poll_event(), None, "accounting never times out");
    }
    delivered.sort_by_key(|h| h.0);
    assert_eq!(
        delivered, handles,
        "every record delivered once the server is back"
    );
    assert!(c.stats().servers_dead >= 1 && c.stats().servers_revived >= 1);
}

#[test]
fn lossy_peer_pair_simulation() {
    // 30 % loss each way, duplicated replies, 64 requests on a 16-slot client.
    let mut st = slots(16);
    let mut c = Client::new(
        Config {
            dead_after_failures: 255,
            ..Config::default()
        },
        &mut st,
    )
    .unwrap();
    c.add_server(server(ServerKind::Auth)).unwrap();
    let mut rng = TestRng(29);
    let mut loss = TestRng(31);
    let mut now = Duration::ZERO;
    let mut tx = [0u8; 4096];
    let (mut submitted, mut answered, mut timed_out) = (0, 0, 0);
    let mut last_deadline = Duration::ZERO;
    for _ in 0..100_000 {
        while submitted < 64 && c.pending() < 16 {
            pap(&mut c, now, &mut rng, b"pw");
            submitted += 1;
        }
        while let Some(t) = c.poll_action(now, &mut tx) {
            if loss.next_u32() % 10 < 3 {
                continue;
            }
            let rep = answer(&tx[..t.len], &secret(), true);
            if loss.next_u32() % 10 < 3 {
                continue;
            }
            for _ in 0..(1 + loss.next_u32() % 2) {
                if let Ok(Some(_)) = c.handle_packet(now, t.server, t.port, &rep) {
                    answered += 1;
                }
            }
        }
        while let Some(Event::TimedOut(_)) = c.poll_event() {
            timed_out += 1;
        }
        if submitted == 64 && c.pending() == 0 {
            break;
        }
        let d = c.poll_timeout().expect("pending work has a deadline");
        assert!(d >= last_deadline.min(now), "monotonic");
        last_deadline = d;
        now = now.max(d);
        c.handle_timeout(now, &mut rng);
    }
    assert_eq!(answered + timed_out, 64, "every request ends exactly once");
    assert!(answered >= 60, "few time out: {answered}");
    assert_eq!(c.stats().replies, answered as u64);
}

#[test]
fn requests_that_cannot_fit_one_packet_are_refused_at_submit() {
    let mut st = slots(2);
    let mut c = Client::new(Config::default(), &mut st).unwrap();
    c.add_server(server(ServerKind::Auth)).unwrap();
    let mut rng = TestRng(37);
    let r = c.submit_access(Duration::ZERO, &mut rng, |t| {
        for _ in 0..300 {
            t.attribute(AttrType::CLASS, b"")?;
        }
        Ok(())
    });
    assert!(matches!(r, Err(SubmitError::Emit(_))), "{r:?}");
    assert_eq!(c.pending(), 0, "the slot stays free");
    let mut tx = [0u8; 4096];
    assert!(c.poll_action(Duration::ZERO, &mut tx).is_none());
}

#[test]
fn mutated_replies_never_verify_and_cancel_forgets() {
    let mut st = slots(8);
    let mut c = Client::new(Config::default(), &mut st).unwrap();
    c.add_server(server(ServerKind::Auth)).unwrap();
    let mut rng = TestRng(41);
    let mut flip = TestRng(43);
    let now = Duration::ZERO;
    let mut tx = [0u8; 4096];
    let mut accepted_mutants = 0;
    for round in 0..200 {
        let h = pap(&mut c, now, &mut rng, b"pw");
        let t = c.poll_action(now, &mut tx).unwrap();
        let good = answer(&tx[..t.len], &secret(), true);
        for _ in 0..3 {
            let mut m = good.clone();
            let i = usize::try_from(flip.next_u32()).unwrap() % m.len();
            let bit = 1u8 << (flip.next_u32() % 8);
            m[i] ^= bit;
            if let Ok(Some(_)) = c.handle_packet(now, 0, t.port, &m) {
                accepted_mutants += 1;
            }
        }
        if round % 2 == 0 {
            let r = c.handle_packet(now, 0, t.port, &good).unwrap().unwrap();
            assert_eq!(r.handle, h);
        } else {
            c.cancel(h);
            assert_eq!(
                c.handle_packet(now, 0, t.port, &good).unwrap_err(),
                DropReason::Unmatched
            );
        }
    }
    assert_eq!(accepted_mutants, 0, "a bit flip must never verify");
    assert_eq!(c.pending(), 0);
    let s = *c.stats();
    assert_eq!(s.replies, 100);
    assert!(
        s.drop_bad_authenticator
            + s.drop_bad_message_authenticator
            + s.drop_malformed
            + s.drop_unmatched
            + s.drop_unexpected_code
            >= 600
    );
}

#[test]
fn no_server_of_the_kind() {
    let mut st = slots(2);
    let mut c = Client::new(Config::default(), &mut st).unwrap();
    c.add_server(server(ServerKind::Acct)).unwrap();
    let mut rng = TestRng(47);
    let r = c.submit_access(Duration::ZERO, &mut rng, |t| {
        t.attribute(AttrType::USER_NAME, b"x")
    });
    assert_eq!(r.unwrap_err(), SubmitError::NoServer);
    assert!(
        Client::new(
            Config {
                max_ports: 0,
                ..Config::default()
            },
            &mut slots(1)
        )
        .is_err()
    );
}

#[test]
fn extreme_clock_values_do_not_panic() {
    let mut st = slots(4);
    let cfg = Config {
        max_rt: Duration::MAX,
        dead_after_failures: 1,
        ..Config::default()
    };
    let mut c = Client::new(cfg, &mut st).unwrap();
    c.add_server(ServerConfig {
        rate_per_sec: 1,
        burst: 1,
        ..server(ServerKind::Auth)
    })
    .unwrap();
    c.add_server(server(ServerKind::Acct)).unwrap();
    let mut rng = TestRng(53);
    let mut tx = [0u8; 4096];
    let big = Duration::MAX - Duration::from_secs(1);
    pap(&mut c, big, &mut rng, b"pw");
    c.submit_accounting(big, &AcctRecord::new(AcctStatusType::START, b"x"), |_| {
        Ok(())
    })
    .unwrap();
    for now in [big, Duration::MAX, Duration::ZERO, Duration::MAX] {
        while c.poll_action(now, &mut tx).is_some() {}
        c.handle_timeout(now, &mut rng);
        let _ = c.poll_timeout();
        while c.poll_event().is_some() {}
    }
}

#[test]
fn in_flight_requests_leave_a_server_as_soon_as_it_is_dead() {
    let mut st = slots(8);
    let cfg = Config {
        dead_after_failures: 1,
        ..Config::default()
    };
    let mut c = Client::new(cfg, &mut st).unwrap();
    c.add_server(server(ServerKind::Auth)).unwrap();
    c.add_server(server(ServerKind::Auth)).unwrap();
    let mut rng = TestRng(59);
    let mut tx = [0u8; 4096];
    pap(&mut c, Duration::ZERO, &mut rng, b"pw");
    assert_eq!(c.poll_action(Duration::ZERO, &mut tx).unwrap().server, 0);
    let t1 = Duration::from_secs(1);
    for _ in 0..4 {
        pap(&mut c, t1, &mut rng, b"pw");
    }
    while let Some(t) = c.poll_action(t1, &mut tx) {
        assert_eq!(t.server, 0);
    }
    // server 0 never answers: run until the first transaction gives up on it
    let (moved, now) = loop {
        let now = c.poll_timeout().unwrap();
        c.handle_timeout(now, &mut rng);
        let mut to_1 = 0;
        while let Some(t) = c.poll_action(now, &mut tx) {
            if t.server == 1 {
                to_1 += 1;
            }
        }
        if to_1 > 0 {
            break (to_1, now);
        }
        assert!(now < Duration::from_secs(30));
    };
    assert!(!c.server_alive(0));
    assert_eq!(moved, 5, "all five moved to server 1 together at {now:?}");
    assert_eq!(c.stats().failovers, 5);
}
