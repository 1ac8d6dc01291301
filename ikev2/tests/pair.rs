//! Peer-pair simulations (STYLE.md section 10): our initiator against our responder
//! on a virtual clock, with loss, duplication, INVALID_KE_PAYLOAD, COOKIE, a wrong
//! PSK, Delete and a dead peer (RFC 7296 sections 1.2, 1.4, 2.4, 2.6, 2.15).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::doc_markdown,
    clippy::too_many_lines,
    reason = "tests"
)]

mod common;

use core::net::SocketAddr;
use core::time::Duration;

use bng_ikev2::ProtocolError;
use bng_ikev2::exchange::{Action, ChildSuite, Config, IkeSa, IkeSuite, InitOutcome, Responder};
use bng_ikev2::payload::{AddrRange, TrafficSelector};
use bng_ikev2::types::DhGroup;
use common::{
    PUMP_NOW, Wire, advance, assert_mirror, child, children, establish, established, failed,
    poll_into, pump, ts,
};
use rand::SeedableRng;
use rand::rngs::StdRng;

/// `ts_i` is the initiator's 10.0.0.0/24, `ts_r` anything.
fn cfg<'a>(
    ike: &'a [IkeSuite],
    child: &'a [ChildSuite],
    psk: &'a [u8],
    me: &'a [u8],
) -> Config<'a> {
    Config {
        ts_i: ts([10, 0, 0, 0], [10, 0, 0, 255]),
        ..common::cfg(ike, child, psk, me)
    }
}

/// West (initiator) and east (responder) with the same suites and PSK.
fn west_east(ike: &'static [IkeSuite]) -> (Config<'static>, Config<'static>) {
    (
        cfg(ike, &ESP, b"secret", b"west"),
        cfg(ike, &ESP, b"secret", b"east"),
    )
}

#[derive(Default, Debug)]
struct Outcome {
    i_events: Vec<Action>,
    r_events: Vec<Action>,
    sent: usize,
    dropped: usize,
    stateless_replies: usize,
}

/// What the simulated network does with a datagram that is not dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    /// Delivered once.
    Once,
    /// Delivered twice.
    Twice,
    /// Delivered with one bit flipped at this index (modulo the length).
    Mutated(usize),
    /// Delivered after the datagrams sent after it (reordered).
    Late,
}

/// Runs the pair; `drop(n)` says whether the n-th datagram on the wire is lost
/// and `fate(n)` what happens to it otherwise. `then` runs whenever both are
/// established and idle, until it returns false.
fn run_via(
    icfg: &Config<'_>,
    seen_from: SocketAddr,
    rcfg: &Config<'_>,
    cookie_threshold: usize,
    drop: impl Fn(usize) -> bool,
    fate: impl Fn(usize) -> Fate,
    mut then: impl FnMut(&mut IkeSa<'_>, &mut IkeSa<'_>, Duration, &mut StdRng) -> bool,
) -> Outcome {
    let mut rng = StdRng::seed_from_u64(7);
    let (ia, ra) = common::addrs();
    let mut now = Duration::from_secs(1000);
    let mut ini = IkeSa::initiate(icfg, now, ia, ra, &mut rng).unwrap();
    let mut front = Responder::new(rcfg, &mut rng).unwrap();
    front.cookie_threshold = cookie_threshold;
    let mut resp: Option<IkeSa<'_>> = None;
    let mut out = Outcome::default();
    let mut tx = [0u8; 4096];
    let mut wire = Wire::new();
    let mut late = Wire::new();
    for _step in 0..10_000 {
        let mut progressed = poll_into(&mut ini, now, &mut tx, true, &mut wire, &mut out.i_events);
        if let Some(r) = resp.as_mut() {
            progressed |= poll_into(r, now, &mut tx, false, &mut wire, &mut out.r_events);
        }
        if !wire.is_empty() || !late.is_empty() {
            let mut batch = core::mem::take(&mut wire);
            let held = core::mem::take(&mut late);
            let fresh = batch.len();
            batch.extend(held);
            for (k, (to_r, mut bytes)) in batch.into_iter().enumerate() {
                let f = if k < fresh {
                    let n = out.sent;
                    out.sent += 1;
                    if drop(n) {
                        out.dropped += 1;
                        continue;
                    }
                    fate(n)
                } else {
                    Fate::Once
                };
                if f == Fate::Late {
                    late.push((to_r, bytes));
                    continue;
                }
                if let Fate::Mutated(at) = f {
                    let i = at % bytes.len();
                    bytes[i] ^= 0x40;
                }
                let copies = if f == Fate::Twice { 2 } else { 1 };
                for _ in 0..copies {
                    if to_r {
                        match resp.as_mut() {
                            Some(r) if r.spis().0 == bytes[..8] => {
                                let _ = r.handle_packet(now, &bytes, &mut rng);
                            }
                            _ => match front
                                .handle_init(now, 0, ra, seen_from, &bytes, &mut rng, &mut tx)
                            {
                                Ok(InitOutcome::Reply(len)) => {
                                    out.stateless_replies += 1;
                                    wire.push((false, tx[..len].to_vec()));
                                }
                                Ok(InitOutcome::NewSa(sa)) => resp = Some(sa),
                                Err(_) => {}
                            },
                        }
                    } else {
                        let _ = ini.handle_packet(now, &bytes, &mut rng);
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
                && then(&mut ini, r, now, &mut rng)
            {
                continue;
            }
        }
        if !advance(&mut ini, resp.as_mut(), &mut now) {
            break;
        }
        if failed(&out.i_events).is_some() && resp.is_none() {
            break;
        }
    }
    // Drain the last events; their datagrams are not delivered.
    poll_into(&mut ini, now, &mut tx, true, &mut wire, &mut out.i_events);
    if let Some(r) = resp.as_mut() {
        poll_into(r, now, &mut tx, false, &mut wire, &mut out.r_events);
    }
    out
}

/// [`run_via`] with the initiator seen from its own address (no NAT) and no cookies.
fn run(
    icfg: &Config<'_>,
    rcfg: &Config<'_>,
    drop: impl Fn(usize) -> bool,
    fate: impl Fn(usize) -> Fate,
    then: impl FnMut(&mut IkeSa<'_>, &mut IkeSa<'_>, Duration, &mut StdRng) -> bool,
) -> Outcome {
    run_via(icfg, common::addrs().0, rcfg, usize::MAX, drop, fate, then)
}

/// A run on a clean wire, nothing started after IKE_AUTH.
fn run_clean(icfg: &Config<'_>, rcfg: &Config<'_>) -> Outcome {
    run(icfg, rcfg, |_| false, |_| Fate::Once, |_, _, _, _| false)
}

fn assert_matching_children(o: &Outcome) {
    assert!(established(&o.i_events), "{o:?}");
    assert!(established(&o.r_events), "{o:?}");
    let ci = child(&o.i_events).expect("initiator child");
    let cr = child(&o.r_events).expect("responder child");
    assert_mirror(ci, cr);
}

const GCM: [IkeSuite; 1] = [IkeSuite::AES128GCM_SHA256_X25519];
const CBC: [IkeSuite; 1] = [IkeSuite::AES256_SHA256_ECP384];
const ESP: [ChildSuite; 2] = [ChildSuite::AES128GCM, ChildSuite::AES256_SHA256];

/// `base` with Diffie-Hellman group `dh`, as a one-suite list.
fn with_dh(base: IkeSuite, dh: DhGroup) -> [IkeSuite; 1] {
    [IkeSuite { dh, ..base }]
}

#[test]
fn establishes_with_both_suites() {
    let modp = with_dh(IkeSuite::AES128GCM_SHA256_X25519, DhGroup::MODP2048);
    let p521 = with_dh(IkeSuite::AES256_SHA256_ECP384, DhGroup::ECP521);
    // RFC 3526 groups 17 and 18: 768- and 1024-byte KE payloads in IKE_SA_INIT.
    let modp6144 = with_dh(IkeSuite::AES256_SHA256_ECP384, DhGroup::MODP6144);
    let modp8192 = with_dh(IkeSuite::AES128GCM_SHA256_X25519, DhGroup::MODP8192);
    for (ike, child) in [
        (&GCM, &ESP[..1]),
        (&CBC, &ESP[1..]),
        (&modp, &ESP[..1]),
        (&p521, &ESP[1..]),
        (&modp6144, &ESP[1..]),
        (&modp8192, &ESP[..1]),
    ] {
        let i = cfg(ike, child, b"secret", b"west");
        let r = cfg(ike, &ESP, b"secret", b"east");
        let o = run_clean(&i, &r);
        assert_matching_children(&o);
        assert_eq!(o.sent, 4, "IKE_SA_INIT and IKE_AUTH, no retransmission");
        let c = common::child(&o.i_events).unwrap();
        assert_eq!(c.suite, child[0]);
        // Narrowed: the initiator's 10.0.0.0/24 within the responder's "any".
        assert_eq!(c.local_ts, i.ts_i);
        assert!(o.i_events.iter().chain(&o.r_events).any(|a| matches!(
            a,
            Action::IkeSaEstablished {
                peer_behind_nat: false,
                local_behind_nat: false,
                ..
            }
        )));
    }
}

#[test]
fn nat_detection() {
    // The responder sees the initiator from a translated address (section 2.23).
    let (i, r) = west_east(&GCM);
    let o = run_via(
        &i,
        "203.0.113.9:4500".parse().unwrap(),
        &r,
        usize::MAX,
        |_| false,
        |_| Fate::Once,
        |_, _, _, _| false,
    );
    assert_matching_children(&o);
    assert!(o.r_events.iter().any(|a| matches!(
        a,
        Action::IkeSaEstablished {
            peer_behind_nat: true,
            local_behind_nat: false,
            ..
        }
    )));
}

#[test]
fn survives_loss_and_duplication() {
    for lost in [&[0usize][..], &[1], &[2], &[3], &[0, 1, 2], &[1, 3, 5]] {
        let (i, r) = west_east(&GCM);
        let o = run(
            &i,
            &r,
            |n| lost.contains(&n),
            |n| if n == 2 { Fate::Twice } else { Fate::Once },
            |_, _, _, _| false,
        );
        assert_matching_children(&o);
        assert!(o.dropped == lost.len(), "{lost:?} {o:?}");
    }
}

#[test]
fn invalid_ke_payload_retry() {
    let ike = [
        IkeSuite {
            dh: DhGroup::ECP256,
            ..IkeSuite::AES128GCM_SHA256_X25519
        },
        IkeSuite::AES128GCM_SHA256_X25519,
    ];
    let i = cfg(&ike, &ESP, b"secret", b"west");
    let r = cfg(&GCM, &ESP, b"secret", b"east");
    let o = run_clean(&i, &r);
    assert_matching_children(&o);
    assert_eq!(o.stateless_replies, 1, "one INVALID_KE_PAYLOAD");
}

#[test]
fn cookie_when_half_open_threshold_is_passed() {
    let (i, r) = west_east(&GCM);
    let o = run_via(
        &i,
        common::addrs().0,
        &r,
        0,
        |_| false,
        |_| Fate::Once,
        |_, _, _, _| false,
    );
    assert_matching_children(&o);
    assert_eq!(o.stateless_replies, 1, "one COOKIE, then state");
}

#[test]
fn wrong_psk_fails_both_ends() {
    let i = cfg(&GCM, &ESP, b"secret", b"west");
    let r = cfg(&GCM, &ESP, b"other", b"east");
    let o = run_clean(&i, &r);
    assert_eq!(
        failed(&o.r_events),
        Some(ProtocolError::AuthenticationFailed)
    );
    assert!(failed(&o.i_events).is_some(), "{o:?}");
    assert!(child(&o.i_events).is_none());
}

#[test]
fn no_common_proposal() {
    let i = cfg(&GCM, &ESP, b"secret", b"west");
    let r = cfg(&CBC, &ESP, b"secret", b"east");
    let o = run_clean(&i, &r);
    assert_eq!(failed(&o.i_events), Some(ProtocolError::PeerError(14)));
}

#[test]
fn delete_and_liveness() {
    let (i, r) = west_east(&GCM);
    let mut done = false;
    let o = run(
        &i,
        &r,
        |n| n == 4,
        |_| Fate::Once,
        |sa, _, now, rng| {
            if done {
                return false;
            }
            done = true;
            sa.delete(now, rng).unwrap();
            true
        },
    );
    assert_matching_children(&o);
    assert!(o.i_events.contains(&Action::Closed), "{o:?}");
    assert!(o.r_events.contains(&Action::Closed), "{o:?}");
}

#[test]
fn dead_peer_times_out() {
    let (i, r) = west_east(&GCM);
    let o = run(&i, &r, |_| true, |_| Fate::Once, |_, _, _, _| false);
    assert_eq!(failed(&o.i_events), Some(ProtocolError::Timeout));
    assert_eq!(o.sent, 5, "one send and four retransmissions");
}

#[test]
fn create_and_rekey_child_sas_both_ways() {
    let (i, r) = west_east(&GCM);
    let mut stage = 0;
    let o = run(
        &i,
        &r,
        |n| n == 5,
        |n| if n == 6 { Fate::Twice } else { Fate::Once },
        |ini, resp, now, rng| {
            stage += 1;
            match stage {
                // A new Child SA from the initiator with PFS (section 1.3.1), response
                // lost once.
                1 => ini
                    .create_child(now, None, Some(DhGroup::CURVE25519), rng)
                    .unwrap(),
                // The responder rekeys it, PFS with ECP-256 (section 1.3.3): requests go
                // both ways.
                2 => resp
                    .create_child(now, Some([1, 2, 3, 4]), Some(DhGroup::ECP256), rng)
                    .unwrap(),
                3 => ini.liveness_check(now, rng).unwrap(),
                _ => return false,
            }
            true
        },
    );
    let ci = children(&o.i_events);
    let cr = children(&o.r_events);
    assert_eq!(ci.len(), 3, "{o:?}");
    assert_eq!(cr.len(), 3, "{o:?}");
    for (a, b) in ci.iter().zip(&cr) {
        assert_mirror(a, b);
    }
    assert_eq!(ci[2].replaces, Some([1, 2, 3, 4]));
    assert_ne!(ci[0].inbound, ci[1].inbound, "fresh nonces give fresh keys");
    assert!(failed(&o.i_events).is_none() && failed(&o.r_events).is_none());
}

#[test]
fn ike_sa_rekey_both_directions() {
    let (i, r) = west_east(&CBC);
    let mut rng = StdRng::seed_from_u64(9);
    let now = PUMP_NOW;
    let (mut ini, mut resp) = establish(&i, &r, &mut rng);

    // Initiator rekeys (section 1.3.2): both ends derive the same new SA.
    ini.rekey_ike(now, &mut rng).unwrap();
    let (ei, er) = pump(&mut ini, &mut resp, &mut rng);
    assert!(
        ei.iter().any(|a| matches!(a, Action::IkeSaRekeyed { .. })),
        "{ei:?}"
    );
    assert!(
        er.iter().any(|a| matches!(a, Action::IkeSaRekeyed { .. })),
        "{er:?}"
    );
    let mut ini2 = ini.take_rekeyed().unwrap();
    let mut resp2 = resp.take_rekeyed().unwrap();
    assert_eq!(ini2.spis(), resp2.spis());
    assert_ne!(ini2.spis(), ini.spis());
    assert_eq!(ini2.keys(), resp2.keys());
    assert_ne!(ini2.keys(), ini.keys());
    // The old SA is deleted; the new one carries Child SAs, message IDs from 0.
    ini.delete(now, &mut rng).unwrap();
    let (ei, er) = pump(&mut ini, &mut resp, &mut rng);
    assert!(ei.contains(&Action::Closed) && er.contains(&Action::Closed));
    ini2.create_child(now, None, None, &mut rng).unwrap();
    let (ei, er) = pump(&mut ini2, &mut resp2, &mut rng);
    let (ci, cr) = (children(&ei), children(&er));
    assert_eq!((ci.len(), cr.len()), (1, 1), "{ei:?} {er:?}");
    assert_mirror(ci[0], cr[0]);

    // Now the other end (the new SA's responder) rekeys it.
    resp2.rekey_ike(now, &mut rng).unwrap();
    let _ = pump(&mut resp2, &mut ini2, &mut rng);
    let ini3 = ini2.take_rekeyed().unwrap();
    let resp3 = resp2.take_rekeyed().unwrap();
    assert_eq!(ini3.keys(), resp3.keys());
    assert_eq!(ini3.spis(), resp3.spis());
}

#[test]
fn narrowing() {
    use bng_ikev2::exchange::narrow;
    let any = TrafficSelector::ANY_V4;
    let lan = ts([10, 0, 0, 0], [10, 0, 0, 255]);
    assert_eq!(narrow(&any, &lan), Some(lan));
    assert_eq!(narrow(&lan, &any), Some(lan));
    let other = ts([10, 0, 1, 0], [10, 0, 1, 255]);
    assert_eq!(narrow(&lan, &other), None);
    let udp = TrafficSelector {
        ip_protocol: 17,
        start_port: 500,
        end_port: 4500,
        ..any
    };
    let tcp = TrafficSelector {
        ip_protocol: 6,
        ..any
    };
    assert_eq!(narrow(&udp, &any), Some(udp));
    assert_eq!(narrow(&udp, &tcp), None);
    let high = TrafficSelector {
        start_port: 5000,
        ..any
    };
    assert_eq!(narrow(&udp, &high), None);
    let v6 = TrafficSelector {
        range: AddrRange::V6 {
            start: [0; 16],
            end: [0xff; 16],
        },
        ..any
    };
    assert_eq!(narrow(&any, &v6), None);
}

#[test]
fn message_id_window_and_spoofs() {
    let (i, r) = west_east(&GCM);
    let mut rng = StdRng::seed_from_u64(11);
    let (ia, ra) = common::addrs();
    let now = Duration::from_secs(5);
    let mut ini = IkeSa::initiate(&i, now, ia, ra, &mut rng).unwrap();
    let front = Responder::new(&r, &mut rng).unwrap();
    let mut tx = [0u8; 4096];
    let Some(Action::Send { len }) = ini.poll_action(now, &mut tx) else {
        panic!()
    };
    let req1 = tx[..len].to_vec();
    let InitOutcome::NewSa(mut resp) = front
        .handle_init(now, 0, ra, ia, &req1, &mut rng, &mut [0u8; 4096])
        .unwrap()
    else {
        panic!()
    };
    let Some(Action::Send { len }) = resp.poll_action(now, &mut tx) else {
        panic!()
    };
    let resp1 = tx[..len].to_vec();
    // A retransmitted IKE_SA_INIT gets the same response, byte for byte.
    resp.handle_packet(now, &req1, &mut rng).unwrap();
    let Some(Action::Send { len }) = resp.poll_action(now, &mut tx) else {
        panic!()
    };
    assert_eq!(&tx[..len], &resp1[..]);
    ini.handle_packet(now, &resp1, &mut rng).unwrap();
    // The same response again is outside the window: dropped, no state change.
    assert!(ini.handle_packet(now, &resp1, &mut rng).is_err());
    let Some(Action::Send { len }) = ini.poll_action(now, &mut tx) else {
        panic!()
    };
    let req2 = tx[..len].to_vec();
    // A request with a message ID ahead of the window is dropped.
    let mut ahead = req2.clone();
    ahead[20..24].copy_from_slice(&7u32.to_be_bytes());
    assert!(resp.handle_packet(now, &ahead, &mut rng).is_err());
    // A tampered IKE_AUTH fails integrity and changes nothing.
    let mut bad = req2.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    assert!(resp.handle_packet(now, &bad, &mut rng).is_err());
    assert!(!resp.is_established());
    // A message claiming to come from the responder (I flag clear) is refused.
    let mut spoof = req2.clone();
    spoof[19] &= !0x08;
    assert!(resp.handle_packet(now, &spoof, &mut rng).is_err());
    // The genuine one establishes.
    resp.handle_packet(now, &req2, &mut rng).unwrap();
    assert!(resp.is_established());
    // Unknown SPI.
    let mut other = req2;
    other[0] ^= 0xff;
    assert_eq!(
        resp.handle_packet(now, &other, &mut rng),
        Err(ProtocolError::Unexpected)
    );
}

#[test]
fn simultaneous_requests_keep_their_own_retransmissions() {
    let (i, r) = west_east(&GCM);
    let mut rng = StdRng::seed_from_u64(12);
    let now = PUMP_NOW;
    let (mut ini, mut resp) = establish(&i, &r, &mut rng);
    let mut tx = [0u8; 4096];

    // Both ends start a request at once (section 2.3: each has its own window).
    ini.liveness_check(now, &mut rng).unwrap();
    resp.create_child(now, None, None, &mut rng).unwrap();
    let Some(Action::Send { .. }) = ini.poll_action(now, &mut tx) else {
        panic!()
    }; // lost
    let Some(Action::Send { len }) = resp.poll_action(now, &mut tx) else {
        panic!()
    };
    ini.handle_packet(now, &tx[..len], &mut rng).unwrap();
    let (ei, er) = pump(&mut ini, &mut resp, &mut rng);
    assert_eq!(children(&ei).len(), 1, "{ei:?}");
    assert_eq!(children(&er).len(), 1, "{er:?}");
    assert!(
        ini.poll_timeout().is_some(),
        "the liveness check is still outstanding"
    );
    // Its retransmission is the request itself, not the response sent meanwhile.
    ini.handle_timeout(now + Duration::from_secs(1));
    let Some(Action::Send { len }) = ini.poll_action(now, &mut tx) else {
        panic!()
    };
    let retx = tx[..len].to_vec();
    let p = bng_ikev2::header::Packet::new_checked(&retx[..]).unwrap();
    assert!(!p.flags().response());
    resp.handle_packet(now, &retx, &mut rng).unwrap();
    let _ = pump(&mut resp, &mut ini, &mut rng);
    assert_eq!(ini.poll_timeout(), None, "answered");
}

#[test]
fn survives_mutation_and_reordering() {
    // IKE_SA_INIT is unauthenticated (UDP's checksum guards it on a real network),
    // so the damage starts with IKE_AUTH: flipped bits fail the ICV and are dropped,
    // a late datagram arrives after the ones sent after it; retransmissions recover.
    for (mutated, delayed) in [(2usize, 3usize), (3, 2), (4, 5), (5, 4)] {
        let (i, r) = west_east(&CBC);
        let mut stage = 0;
        let o = run(
            &i,
            &r,
            |_| false,
            |n| {
                if n == mutated {
                    Fate::Mutated(n * 37)
                } else if n == delayed {
                    Fate::Late
                } else {
                    Fate::Once
                }
            },
            |ini, _, now, rng| {
                stage += 1;
                if stage == 1 {
                    ini.create_child(now, None, None, rng).unwrap();
                    return true;
                }
                false
            },
        );
        assert_matching_children(&o);
        let (ci, cr) = (children(&o.i_events), children(&o.r_events));
        assert_eq!((ci.len(), cr.len()), (2, 2), "{mutated} {delayed}: {o:?}");
        assert_mirror(ci[1], cr[1]);
    }
}
