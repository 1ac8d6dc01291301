//! IKE fragmentation (RFC 7383): peer-pair simulations on a virtual clock where
//! IKE_AUTH, CREATE_CHILD_SA and INFORMATIONAL go as Encrypted Fragment messages,
//! with loss, duplication and reordering of fragments; negotiation (section 2.3);
//! the reassembly bounds of section 2.6 driven fragment by fragment.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::doc_markdown,
    clippy::too_many_lines,
    clippy::cast_possible_truncation,
    clippy::similar_names,
    clippy::naive_bytecount,
    reason = "tests"
)]

mod common;

use core::time::Duration;

use bng_ikev2::ProtocolError;
use bng_ikev2::exchange::{
    Action, ChildSuite, Config, IkeSa, IkeSuite, InitOutcome, Options, Reassembly, Responder,
    fragment_len_for_mtu,
};
use bng_ikev2::header::Packet;
use bng_ikev2::payload::Payload;
use bng_ikev2::types::PayloadType;
use common::{Wire, advance, assert_mirror, children, established, failed, poll_into, ts};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const GCM: [IkeSuite; 1] = [IkeSuite::AES128GCM_SHA256_X25519];
const CBC: [IkeSuite; 1] = [IkeSuite::AES256_SHA256_ECP384];
const ESP: [ChildSuite; 2] = [ChildSuite::AES128GCM, ChildSuite::AES256_SHA256];

/// Identities long enough (as a certificate chain would be) that IKE_AUTH needs
/// several 256-byte fragments.
static WEST: [u8; 250] = [b'w'; 250];
static EAST: [u8; 250] = [b'e'; 250];

fn cfg<'a>(ike: &'a [IkeSuite], me: &'a [u8]) -> Config<'a> {
    Config {
        ts_i: ts([10, 0, 0, 0], [10, 0, 0, 255]),
        max_retransmits: 12,
        ..common::cfg(ike, &ESP, b"fragmented secret", me)
    }
}

/// What the simulated network does.
#[derive(Debug, Clone, Copy)]
struct Net {
    /// Probability that a datagram is lost.
    loss: f64,
    /// Probability that a datagram is delivered twice.
    dup: f64,
    /// Shuffle every batch of datagrams in flight.
    reorder: bool,
}

const CLEAN: Net = Net {
    loss: 0.0,
    dup: 0.0,
    reorder: false,
};

#[derive(Default, Debug)]
struct Outcome {
    i_events: Vec<Action>,
    r_events: Vec<Action>,
    /// Datagrams put on the wire, fragments among them, largest size.
    sent: usize,
    fragments: usize,
    largest: usize,
    /// Datagrams carrying an SKF payload, by exchange type.
    fragmented_exchanges: Vec<u8>,
    dropped: usize,
    initiator_fragmentation: bool,
    responder_fragmentation: bool,
}

/// Runs our initiator against our responder. `then(step, ini, resp, now, rng)` runs
/// whenever both are established and idle; it returns false when it has nothing
/// more to start.
fn run(
    ike: &[IkeSuite],
    i_opts: Options,
    r_opts: Options,
    net: Net,
    seed: u64,
    mut then: impl FnMut(usize, &mut IkeSa<'_>, &mut IkeSa<'_>, Duration, &mut StdRng) -> bool,
) -> Outcome {
    let icfg = cfg(ike, &WEST);
    let rcfg = cfg(ike, &EAST);
    let mut rng = StdRng::seed_from_u64(seed);
    let mut wire_rng = StdRng::seed_from_u64(seed ^ 0x5eed);
    let (ia, ra) = common::addrs();
    let mut now = Duration::from_secs(1000);
    let mut ini = IkeSa::initiate_with(&icfg, i_opts, now, ia, ra, &mut rng).unwrap();
    let mut front = Responder::new(&rcfg, &mut rng).unwrap();
    front.options = r_opts;
    let mut resp: Option<IkeSa<'_>> = None;
    let (mut ibuf, mut rbuf) = ([0u8; 8192], [0u8; 8192]);
    let mut i_store = Reassembly::new(&mut ibuf);
    let mut r_store = Reassembly::new(&mut rbuf);
    let mut out = Outcome::default();
    let mut tx = [0u8; 4096];
    let mut wire = Wire::new();
    let mut step = 0;
    for _ in 0..20_000 {
        let mut progressed = poll_into(&mut ini, now, &mut tx, true, &mut wire, &mut out.i_events);
        if let Some(r) = resp.as_mut() {
            progressed |= poll_into(r, now, &mut tx, false, &mut wire, &mut out.r_events);
        }
        if !wire.is_empty() {
            let mut batch = core::mem::take(&mut wire);
            if net.reorder {
                // Fisher-Yates with the wire's own generator.
                for i in (1..batch.len()).rev() {
                    let j = wire_rng.gen_range(0..=i);
                    batch.swap(i, j);
                }
            }
            for (to_r, bytes) in batch {
                out.sent += 1;
                out.largest = out.largest.max(bytes.len());
                let p = Packet::new_checked(&bytes[..]).unwrap();
                if p.next_payload() == PayloadType::SKF {
                    out.fragments += 1;
                    out.fragmented_exchanges.push(p.exchange().0);
                }
                if wire_rng.gen_bool(net.loss) {
                    out.dropped += 1;
                    continue;
                }
                let copies = if wire_rng.gen_bool(net.dup) { 2 } else { 1 };
                for _ in 0..copies {
                    if to_r {
                        match resp.as_mut() {
                            Some(r) if r.spis().0 == bytes[..8] => {
                                let _ = r.handle_packet_with(now, &bytes, &mut r_store, &mut rng);
                            }
                            _ => match front.handle_init(now, 0, ra, ia, &bytes, &mut rng, &mut tx)
                            {
                                Ok(InitOutcome::Reply(len)) => {
                                    wire.push((false, tx[..len].to_vec()));
                                }
                                Ok(InitOutcome::NewSa(sa)) => resp = Some(sa),
                                Err(_) => {}
                            },
                        }
                    } else {
                        let _ = ini.handle_packet_with(now, &bytes, &mut i_store, &mut rng);
                    }
                }
            }
            continue;
        }
        if progressed {
            continue;
        }
        if let Some(r) = resp.as_mut() {
            if ini.is_established()
                && r.is_established()
                && ini.poll_timeout().is_none()
                && r.poll_timeout().is_none()
                && then(step, &mut ini, r, now, &mut rng)
            {
                step += 1;
                continue;
            }
        }
        if !advance(&mut ini, resp.as_mut(), &mut now) {
            break;
        }
    }
    out.initiator_fragmentation = ini.fragmentation();
    out.responder_fragmentation = resp.as_ref().is_some_and(IkeSa::fragmentation);
    out
}

fn frag(len: u16) -> Options {
    Options::default().with_fragmentation(len)
}

/// Section 2.5: with a 256-byte limit, IKE_AUTH (both directions) leaves as several
/// Encrypted Fragment messages, none above the limit, and the SA comes up as if
/// unfragmented — for the AEAD suite and for AES-CBC + HMAC (padding per fragment).
#[test]
fn ike_auth_fragmented_both_suites() {
    // The largest per-fragment overhead: AES-256-CBC with HMAC-SHA2-512-256.
    let sha512 = [IkeSuite {
        integ: bng_ikev2::types::IntegId::HMAC_SHA2_512_256,
        prf: bng_ikev2::types::PrfId::HMAC_SHA2_512,
        ..IkeSuite::AES256_SHA256_ECP384
    }];
    for ike in [&GCM[..], &CBC[..], &sha512[..]] {
        let o = run(ike, frag(256), frag(256), CLEAN, 1, |_, _, _, _, _| false);
        assert!(established(&o.i_events), "{ike:?} {o:?}");
        assert!(established(&o.r_events), "{ike:?} {o:?}");
        assert!(o.initiator_fragmentation && o.responder_fragmentation);
        let (ci, cr) = (children(&o.i_events), children(&o.r_events));
        assert_eq!((ci.len(), cr.len()), (1, 1));
        assert_mirror(ci[0], cr[0]);
        // IKE_SA_INIT (2, never fragmented) + at least 2 fragments each way.
        let auth = o.fragmented_exchanges.iter().filter(|e| **e == 35).count();
        assert!(auth >= 4, "{o:?}");
        assert_eq!(o.fragments, auth);
        assert_eq!(o.sent, 2 + o.fragments, "no retransmission on a clean wire");
        // Every fragment fits; IKE_SA_INIT is larger for ECP-384 and not fragmented.
        assert!(o.largest <= 256 || ike != &GCM[..], "{}", o.largest);
    }
}

/// Section 2.3: fragmentation only when both ends announce it; otherwise large
/// messages go whole.
#[test]
fn negotiation_needs_both_ends() {
    for (i, r) in [
        (frag(256), Options::default()),
        (Options::default(), frag(256)),
        (Options::default(), Options::default()),
    ] {
        let o = run(&GCM, i, r, CLEAN, 2, |_, _, _, _, _| false);
        assert!(established(&o.i_events) && established(&o.r_events));
        assert_eq!(o.fragments, 0, "{i:?} {r:?}");
        assert!(o.largest > 256);
        assert!(!o.initiator_fragmentation && !o.responder_fragmentation);
    }
}

/// After IKE_AUTH: CREATE_CHILD_SA (a new Child SA with PFS, so with a KE payload),
/// an IKE SA rekey and a liveness check, all fragmented, then Delete.
#[test]
fn later_exchanges_are_fragmented_too() {
    let o = run(
        &GCM,
        frag(256),
        frag(300),
        CLEAN,
        3,
        |step, ini, r, now, rng| {
            match step {
                0 => ini
                    .create_child(now, None, Some(bng_ikev2::types::DhGroup::ECP256), rng)
                    .unwrap(),
                1 => r.create_child(now, None, None, rng).unwrap(),
                2 => ini.rekey_ike(now, rng).unwrap(),
                3 => ini.liveness_check(now, rng).unwrap(),
                4 => ini.delete(now, rng).unwrap(),
                _ => return false,
            }
            true
        },
    );
    assert_eq!(failed(&o.i_events), None, "{o:?}");
    let (ci, cr) = (children(&o.i_events), children(&o.r_events));
    assert_eq!((ci.len(), cr.len()), (3, 3), "{o:?}");
    for (a, b) in ci.iter().zip(&cr) {
        assert_mirror(a, b);
    }
    assert!(
        o.i_events
            .iter()
            .any(|a| matches!(a, Action::IkeSaRekeyed { .. }))
    );
    assert!(o.i_events.iter().any(|a| matches!(a, Action::Closed)));
    assert!(o.r_events.iter().any(|a| matches!(a, Action::Closed)));
    // CREATE_CHILD_SA (36) went as fragments.
    assert!(o.fragmented_exchanges.contains(&36), "{o:?}");
}

/// Sections 2.5 and 2.6.1 under a bad network: fragments lost, duplicated and
/// reordered. Retransmissions resend every fragment, the responder answers a
/// retransmitted request (fragment 1) with its whole response, and every seed ends
/// with the same Child SA on both sides.
#[test]
fn survives_loss_duplication_and_reordering_of_fragments() {
    let net = Net {
        loss: 0.2,
        dup: 0.1,
        reorder: true,
    };
    let mut lost = 0;
    for seed in 0..24 {
        let o = run(
            &GCM,
            frag(256),
            frag(256),
            net,
            seed,
            |step, ini, _, now, rng| {
                if step == 0 {
                    ini.create_child(now, None, None, rng).unwrap();
                    true
                } else {
                    false
                }
            },
        );
        assert!(
            established(&o.i_events) && established(&o.r_events),
            "seed {seed}: {o:?}"
        );
        let (ci, cr) = (children(&o.i_events), children(&o.r_events));
        assert_eq!((ci.len(), cr.len()), (2, 2), "seed {seed}: {o:?}");
        for (a, b) in ci.iter().zip(&cr) {
            assert_mirror(a, b);
        }
        lost += o.dropped;
    }
    assert!(lost > 20, "the wire really lost fragments ({lost})");
}

/// The fragments of an IKE_AUTH request, captured from a clean run, for the
/// reassembly tests below: (responder before IKE_AUTH, fragments).
fn captured_auth_fragments<'c>(
    icfg: &'c Config<'c>,
    rcfg: &'c Config<'c>,
    rng: &mut StdRng,
) -> (IkeSa<'c>, IkeSa<'c>, Vec<Vec<u8>>) {
    let (ia, ra) = common::addrs();
    let now = Duration::ZERO;
    let mut ini = IkeSa::initiate_with(icfg, frag(256), now, ia, ra, rng).unwrap();
    let mut front = Responder::new(rcfg, rng).unwrap();
    front.options = frag(256);
    let mut tx = [0u8; 4096];
    let Some(Action::Send { len }) = ini.poll_action(now, &mut tx) else {
        panic!()
    };
    let init = tx[..len].to_vec();
    let Ok(InitOutcome::NewSa(mut resp)) = front.handle_init(now, 0, ra, ia, &init, rng, &mut tx)
    else {
        panic!()
    };
    let Some(Action::Send { len }) = resp.poll_action(now, &mut tx) else {
        panic!()
    };
    ini.handle_packet(now, &tx[..len], rng).unwrap();
    let mut frags = Vec::new();
    while let Some(Action::Send { len }) = ini.poll_action(now, &mut tx) {
        frags.push(tx[..len].to_vec());
    }
    (ini, resp, frags)
}

fn skf_fields(m: &[u8]) -> (u16, u16) {
    let p = Packet::new_checked(m).unwrap();
    let raw = p.payloads().next().unwrap().unwrap();
    match Payload::parse(&raw).unwrap() {
        Payload::Skf(f) => (f.number, f.total),
        other => panic!("{other:?}"),
    }
}

/// Section 2.6 step by step: a tampered fragment is refused before it is stored,
/// duplicates are ignored, nothing is processed before the last fragment, fragments
/// may come in any order, and `handle_packet` without storage drops fragments.
#[test]
fn reassembly_rules() {
    let icfg = cfg(&GCM, &WEST);
    let rcfg = cfg(&GCM, &EAST);
    let mut rng = StdRng::seed_from_u64(9);
    let (_ini, mut resp, frags) = captured_auth_fragments(&icfg, &rcfg, &mut rng);
    assert!(frags.len() >= 2, "{}", frags.len());
    for (k, f) in frags.iter().enumerate() {
        assert!(f.len() <= 256);
        assert_eq!(skf_fields(f), (k as u16 + 1, frags.len() as u16));
    }
    let now = Duration::ZERO;
    // Without storage: dropped, no effect.
    assert!(resp.handle_packet(now, &frags[0], &mut rng).is_err());
    let mut buf = [0u8; 4096];
    let mut store = Reassembly::new(&mut buf);
    // A flipped bit in the ciphertext: integrity fails, nothing stored.
    let mut bad = frags[0].clone();
    let n = bad.len();
    bad[n - 20] ^= 1;
    assert!(matches!(
        resp.handle_packet_with(now, &bad, &mut store, &mut rng),
        Err(ProtocolError::Crypto(_))
    ));
    assert_eq!(store.held(), (0, 0));
    // Last fragment first, then a duplicate of it: one held.
    let last = frags.last().unwrap();
    resp.handle_packet_with(now, last, &mut store, &mut rng)
        .unwrap();
    resp.handle_packet_with(now, last, &mut store, &mut rng)
        .unwrap();
    assert_eq!(store.held(), (1, 0));
    let mut tx = [0u8; 4096];
    assert!(
        resp.poll_action(now, &mut tx).is_none(),
        "nothing before all"
    );
    for f in frags.iter().rev().skip(1) {
        resp.handle_packet_with(now, f, &mut store, &mut rng)
            .unwrap();
    }
    assert_eq!(store.held(), (0, 0));
    assert!(resp.is_established());
    // The response goes out in fragments, and fragment 1 of a retransmitted request
    // (only fragment 1, section 2.6.1) brings all of them again.
    let mut first = Vec::new();
    while let Some(a) = resp.poll_action(now, &mut tx) {
        if let Action::Send { len } = a {
            first.push(tx[..len].to_vec());
        }
    }
    assert!(first.len() >= 2);
    resp.handle_packet_with(now, &frags[1], &mut store, &mut rng)
        .unwrap();
    assert!(resp.poll_action(now, &mut tx).is_none());
    resp.handle_packet_with(now, &frags[0], &mut store, &mut rng)
        .unwrap();
    let mut again = Vec::new();
    while let Some(Action::Send { len }) = resp.poll_action(now, &mut tx) {
        again.push(tx[..len].to_vec());
    }
    assert_eq!(again, first);
}

/// Section 2.6 bounds: more fragments than the cap, or more bytes than the storage,
/// are refused and leave nothing behind.
#[test]
fn reassembly_bounds() {
    let icfg = cfg(&GCM, &WEST);
    let rcfg = cfg(&GCM, &EAST);
    let mut rng = StdRng::seed_from_u64(10);
    let (_ini, mut resp, frags) = captured_auth_fragments(&icfg, &rcfg, &mut rng);
    let now = Duration::ZERO;
    // Cap of one fragment per message.
    let mut buf = [0u8; 4096];
    let mut store = Reassembly::new(&mut buf).with_max_fragments(1);
    assert!(
        resp.handle_packet_with(now, &frags[0], &mut store, &mut rng)
            .is_err()
    );
    assert_eq!(store.held(), (0, 0));
    // Storage smaller than the message (half of 300 bytes per direction).
    let mut small = [0u8; 300];
    let mut store = Reassembly::new(&mut small);
    let mut errors = 0;
    for f in &frags {
        errors += usize::from(
            resp.handle_packet_with(now, f, &mut store, &mut rng)
                .is_err(),
        );
    }
    assert!(errors >= 1);
    assert!(!resp.is_established());
    // With room, the same fragments complete the exchange.
    let mut buf = [0u8; 4096];
    let mut store = Reassembly::new(&mut buf);
    for f in &frags {
        resp.handle_packet_with(now, f, &mut store, &mut rng)
            .unwrap();
    }
    assert!(resp.is_established());
}

#[test]
fn fragment_len_for_common_mtus() {
    assert_eq!(fragment_len_for_mtu(1500, false), 1468);
    assert_eq!(fragment_len_for_mtu(1280, true), 1228);
    assert_eq!(fragment_len_for_mtu(10, false), 0);
    let icfg = cfg(&GCM, &WEST);
    let mut rng = StdRng::seed_from_u64(11);
    let (ia, ra) = common::addrs();
    assert!(IkeSa::initiate_with(&icfg, frag(255), Duration::ZERO, ia, ra, &mut rng).is_err());
}
