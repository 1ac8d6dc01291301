//! Our discovery client against our AC on a virtual clock (STYLE.md section 10), with
//! loss, duplication and reordering hooks: every run either agrees on one SESSION_ID
//! on both sides or fails cleanly. Plus the client's own rules (RFC 2516 sections 5
//! and 7).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::many_single_char_names,
    clippy::unchecked_time_subtraction,
    clippy::cast_possible_truncation,
    reason = "tests"
)]

use core::time::Duration;

use bng_pppoe::ac::{Ac, AcConfig, AnyService, CookieSecret, Outcome, SessionAllocator, SessionId};
use bng_pppoe::client::{Action, Client, ClientConfig, Event, Failure};
use bng_pppoe::discovery::{Code, Tag, TagType};
use bng_pppoe::ethernet::{Header, Mac, Vlan};

mod common;
use common::{parse_discovery as parse, tag};

const AC_MAC: Mac = [0x02, 0, 0, 0, 0, 0xac];
const HOST: Mac = [0x02, 0, 0, 0, 0, 0x01];
const VLANS: [Vlan; 1] = [Vlan {
    tpid: 0x8100,
    tci: 42,
}];

#[derive(Default)]
struct Table {
    sessions: Vec<(Mac, Option<Vec<u8>>, u16)>,
    next: u16,
}

impl SessionAllocator for Table {
    fn allocate(&mut self, peer: &Mac, host_uniq: Option<&[u8]>) -> Option<SessionId> {
        if let Some(s) = self
            .sessions
            .iter()
            .find(|s| s.0 == *peer && s.1.as_deref() == host_uniq)
        {
            return SessionId::new(s.2);
        }
        self.next += 1;
        self.sessions
            .push((*peer, host_uniq.map(<[u8]>::to_vec), self.next));
        SessionId::new(self.next)
    }

    fn release(&mut self, peer: &Mac, id: SessionId) -> bool {
        let before = self.sessions.len();
        self.sessions.retain(|s| !(s.0 == *peer && s.2 == id.get()));
        self.sessions.len() != before
    }
}

/// xorshift64*: a seeded, deterministic PRNG for the network hooks.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// True with probability `per_mille`/1000.
    fn chance(&mut self, per_mille: u64) -> bool {
        self.next() % 1000 < per_mille
    }
}

/// Network impairments, per frame.
#[derive(Clone, Copy)]
struct Net {
    loss: u64,
    dup: u64,
    /// Maximum extra delay in ms (reordering when frames are close together).
    jitter_ms: u64,
}

struct InFlight {
    at: Duration,
    to_ac: bool,
    bytes: Vec<u8>,
}

#[derive(Debug, PartialEq, Eq)]
enum End {
    Up(u16),
    Failed(Failure),
}

fn ac() -> Ac<'static, AnyService> {
    Ac::new(
        AcConfig {
            mac: AC_MAC,
            ac_name: b"sim-ac",
            cookie_window: Duration::from_secs(20),
            max_payload: Some(1500),
        },
        AnyService,
        CookieSecret::new([0x5a; 32]),
    )
    .unwrap()
}

fn client_config() -> ClientConfig<'static> {
    ClientConfig {
        vlans: &VLANS,
        host_uniq: Some(&[0xde, 0xad, 0xbe, 0xef]),
        max_payload: Some(1500),
        ..ClientConfig::new(HOST)
    }
}

fn send(rng: &mut Rng, net: Net, q: &mut Vec<InFlight>, now: Duration, to_ac: bool, bytes: &[u8]) {
    if rng.chance(net.loss) {
        return;
    }
    let copies = if rng.chance(net.dup) { 2 } else { 1 };
    for _ in 0..copies {
        let delay = 1 + rng.next() % (net.jitter_ms + 1);
        q.push(InFlight {
            at: now + Duration::from_millis(delay),
            to_ac,
            bytes: bytes.to_vec(),
        });
    }
}

/// Runs one discovery; returns the end, the AC's table, and how many frames flew.
fn run(seed: u64, net: Net) -> (End, Table, usize) {
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let mut ac = ac();
    let mut table = Table::default();
    let mut client = Client::new(client_config()).unwrap();
    let mut now = Duration::from_secs(500);
    let mut q: Vec<InFlight> = Vec::new();
    let mut tx = [0u8; 1600];
    let mut end = None;
    let mut frames = 0;
    client.start(now);
    for _ in 0..10_000 {
        while let Some(a) = client.poll_action(now, &mut tx) {
            match a {
                Action::Transmit(n) => {
                    frames += 1;
                    send(&mut rng, net, &mut q, now, true, &tx[..n]);
                }
                Action::Event(Event::SessionUp(up)) => {
                    assert!(end.is_none(), "two ends");
                    assert_eq!(up.link.dst, AC_MAC);
                    assert_eq!(up.link.ethertype, 0x8864);
                    assert_eq!(up.link.vlans(), &VLANS);
                    assert_eq!(up.max_payload, Some(1500));
                    end = Some(End::Up(up.session_id.get()));
                }
                Action::Event(Event::Failed(f)) => {
                    assert!(end.is_none(), "two ends");
                    end = Some(End::Failed(f));
                }
                Action::Event(e) => panic!("unexpected {e:?}"),
            }
        }
        // Deliver the earliest frame, or jump the clock to the client's deadline.
        let next_frame = q
            .iter()
            .enumerate()
            .min_by_key(|(_, f)| f.at)
            .map(|(i, f)| (i, f.at));
        let deadline = client.poll_timeout();
        match (next_frame, deadline) {
            (Some((i, at)), d) if d.is_none_or(|d| at <= d) => {
                let f = q.swap_remove(i);
                now = now.max(f.at);
                if f.to_ac {
                    match ac.handle_frame(now, &f.bytes, &mut tx, &mut table) {
                        Outcome::Reply { len, .. } | Outcome::SessionStarted { len, .. } => {
                            frames += 1;
                            send(&mut rng, net, &mut q, now, false, &tx[..len]);
                        }
                        Outcome::Dropped(r) => panic!("AC dropped a client frame: {r:?}"),
                        o => panic!("unexpected {o:?}"),
                    }
                } else {
                    // Duplicates and late frames are refused, never fatal.
                    let _ = client.handle_frame(now, &f.bytes);
                }
            }
            (_, Some(d)) => {
                now = now.max(d);
                client.handle_timeout(now);
            }
            (None, None) => break,
            (Some(_), None) => unreachable!(),
        }
    }
    (
        end.expect("discovery neither succeeded nor failed"),
        table,
        frames,
    )
}

fn check(seed: u64, net: Net) -> End {
    let (end, table, frames) = run(seed, net);
    assert!(frames <= 40, "seed {seed}: {frames} frames");
    match end {
        End::Up(id) => {
            assert_eq!(
                table.sessions.len(),
                1,
                "seed {seed}: one session on the AC"
            );
            assert_eq!(table.sessions[0].0, HOST);
            assert_eq!(table.sessions[0].2, id, "seed {seed}: both agree");
        }
        End::Failed(f) => {
            assert!(
                matches!(f, Failure::NoOffer | Failure::NoConfirmation),
                "{f:?}"
            );
            // A lost PADS may leave one session the AC's PPP timers will reap.
            assert!(table.sessions.len() <= 1, "seed {seed}");
        }
    }
    end
}

#[test]
fn perfect_network_agrees_in_four_frames() {
    let net = Net {
        loss: 0,
        dup: 0,
        jitter_ms: 0,
    };
    let (end, _, frames) = run(1, net);
    assert_eq!(end, End::Up(1));
    assert_eq!(frames, 4);
}

#[test]
fn lossy_duplicating_reordering_network() {
    let net = Net {
        loss: 300,
        dup: 200,
        jitter_ms: 30,
    };
    let (mut up, mut failed) = (0, 0);
    for seed in 0..400 {
        match check(seed, net) {
            End::Up(_) => up += 1,
            End::Failed(_) => failed += 1,
        }
    }
    eprintln!("lossy network: {up} up, {failed} failed cleanly");
    assert!(up > 300, "{up} up of 400");
}

#[test]
fn duplicating_network_never_creates_two_sessions() {
    let net = Net {
        loss: 0,
        dup: 900,
        jitter_ms: 5,
    };
    for seed in 0..100 {
        assert_eq!(check(seed, net), End::Up(1));
    }
}

#[test]
fn dead_network_fails_after_doubling_backoff() {
    let mut client = Client::new(client_config()).unwrap();
    let mut tx = [0u8; 1600];
    let t0 = Duration::from_secs(10);
    client.start(t0);
    let mut sent = Vec::new();
    let mut now = t0;
    let failure = loop {
        match client.poll_action(now, &mut tx) {
            Some(Action::Transmit(_)) => sent.push(now - t0),
            Some(Action::Event(Event::Failed(f))) => break f,
            Some(a) => panic!("{a:?}"),
            None => {
                now = client.poll_timeout().expect("a deadline while discovering");
                client.handle_timeout(now);
            }
        }
    };
    assert_eq!(failure, Failure::NoOffer);
    let secs: Vec<u64> = sent.iter().map(Duration::as_secs).collect();
    assert_eq!(secs, [0, 1, 3, 7, 15], "1 s doubling, capped at 8 s");
    assert_eq!(now - t0, Duration::from_secs(23));
    assert!(client.is_closed());
    assert_eq!(client.poll_timeout(), None);
}

fn build(src: Mac, code: Code, sid: u16, tags: &[Tag<'_>]) -> Vec<u8> {
    let mut h = Header::new(HOST, src, 0x8863);
    h.vlans[0] = VLANS[0];
    h.vlan_count = 1;
    common::discovery_frame(&h, code, sid, tags)
}

const HU: &[u8] = &[0xde, 0xad, 0xbe, 0xef];

fn pado(src: Mac, ac_name: &[u8], cookie: &[u8]) -> Vec<u8> {
    build(
        src,
        Code::PADO,
        0,
        &[
            tag(TagType::AC_NAME, ac_name),
            tag(TagType::SERVICE_NAME, b""),
            tag(TagType::HOST_UNIQ, HU),
            tag(TagType::AC_COOKIE, cookie),
            tag(TagType::RELAY_SESSION_ID, b"r1"),
        ],
    )
}

#[test]
fn client_padi_padr_contents_and_ac_name_filter() {
    let cfg = ClientConfig {
        ac_name: Some(b"wanted"),
        ..client_config()
    };
    let mut c = Client::new(cfg).unwrap();
    let mut tx = [0u8; 1600];
    let now = Duration::from_secs(1);
    c.start(now);
    let Some(Action::Transmit(n)) = c.poll_action(now, &mut tx) else {
        panic!()
    };
    let (h, code, sid, tags) = parse(&tx[..n]);
    assert_eq!((h.dst, h.src, code, sid), ([0xff; 6], HOST, Code::PADI, 0));
    assert_eq!(h.vlans(), &VLANS);
    assert_eq!((tags.service_names, tags.host_uniq), (1, Some(HU)));
    assert_eq!(tags.ppp_max_payload, Some(1500));
    // An offer from another AC-Name, and one with the wrong Host-Uniq, are ignored.
    let other = [0x02, 0, 0, 0, 0, 0x0b];
    assert!(c.handle_frame(now, &pado(other, b"other", b"c0")).is_err());
    let mut wrong = pado(AC_MAC, b"wanted", b"c1");
    let pos = wrong.windows(4).position(|w| w == HU).unwrap();
    wrong[pos] ^= 0xff;
    assert!(c.handle_frame(now, &wrong).is_err());
    assert_eq!(c.ignored(), 2);
    assert!(c.poll_action(now, &mut tx).is_none());
    c.handle_frame(now, &pado(AC_MAC, b"wanted", b"cookie!"))
        .unwrap();
    let Some(Action::Transmit(n)) = c.poll_action(now, &mut tx) else {
        panic!()
    };
    let (h, code, _, tags) = parse(&tx[..n]);
    assert_eq!((h.dst, code), (AC_MAC, Code::PADR));
    assert_eq!(tags.ac_cookie, Some(&b"cookie!"[..]));
    assert_eq!(tags.relay_session_id, Some(&b"r1"[..]));
    assert_eq!(tags.host_uniq, Some(HU));
    // A second PADO after choosing is not taken.
    assert!(c.handle_frame(now, &pado(other, b"wanted", b"x")).is_err());
    // A PADS from someone else is ignored; ours starts the session.
    let pads = |src| {
        build(
            src,
            Code::PADS,
            7,
            &[tag(TagType::SERVICE_NAME, b""), tag(TagType::HOST_UNIQ, HU)],
        )
    };
    assert!(c.handle_frame(now, &pads(other)).is_err());
    c.handle_frame(now, &pads(AC_MAC)).unwrap();
    let Some(Action::Event(Event::SessionUp(up))) = c.poll_action(now, &mut tx) else {
        panic!()
    };
    assert_eq!(up.session_id.get(), 7);
    assert_eq!(up.max_payload, None, "the AC did not echo PPP-Max-Payload");
    assert_eq!(c.session_id(), up.session_id.into());
    // PADT from the AC for our session ends it.
    assert!(
        c.handle_frame(now, &build(AC_MAC, Code::PADT, 8, &[]))
            .is_err()
    );
    c.handle_frame(now, &build(AC_MAC, Code::PADT, 7, &[]))
        .unwrap();
    assert_eq!(
        c.poll_action(now, &mut tx),
        Some(Action::Event(Event::Terminated))
    );
    assert!(c.is_closed());
}

#[test]
fn client_pads_errors_and_close() {
    let errs = [
        (TagType::SERVICE_NAME_ERROR, Failure::ServiceNameError),
        (TagType::AC_SYSTEM_ERROR, Failure::AcSystemError),
        (TagType::GENERIC_ERROR, Failure::GenericError),
    ];
    let now = Duration::from_secs(1);
    let mut tx = [0u8; 1600];
    for (kind, failure) in errs {
        let mut c = Client::new(client_config()).unwrap();
        c.start(now);
        let _ = c.poll_action(now, &mut tx);
        c.handle_frame(now, &pado(AC_MAC, b"ac", b"c")).unwrap();
        let _ = c.poll_action(now, &mut tx);
        let pads = build(
            AC_MAC,
            Code::PADS,
            0,
            &[tag(TagType::HOST_UNIQ, HU), tag(kind, b"no")],
        );
        c.handle_frame(now, &pads).unwrap();
        assert_eq!(
            c.poll_action(now, &mut tx),
            Some(Action::Event(Event::Failed(failure)))
        );
        assert!(c.is_closed());
    }
    // close() with a session sends PADT with its SESSION_ID.
    let mut c = Client::new(client_config()).unwrap();
    c.start(now);
    let _ = c.poll_action(now, &mut tx);
    c.handle_frame(now, &pado(AC_MAC, b"ac", b"c")).unwrap();
    let _ = c.poll_action(now, &mut tx);
    c.handle_frame(
        now,
        &build(AC_MAC, Code::PADS, 9, &[tag(TagType::HOST_UNIQ, HU)]),
    )
    .unwrap();
    let _ = c.poll_action(now, &mut tx);
    c.close();
    let Some(Action::Transmit(n)) = c.poll_action(now, &mut tx) else {
        panic!()
    };
    let (h, code, sid, _) = parse(&tx[..n]);
    assert_eq!((h.dst, code, sid), (AC_MAC, Code::PADT, 9));
    assert!(c.poll_action(now, &mut tx).is_none());
    // Bad configurations.
    assert!(
        Client::new(ClientConfig {
            max_attempts: 0,
            ..client_config()
        })
        .is_err()
    );
    assert!(Client::new(ClientConfig::new([0xff; 6])).is_err());
}
