//! EAP in IKE_AUTH (RFC 7296 section 2.16): our initiator against our responder,
//! the EAP messages passed through to the test as they would be to an EAP method
//! (initiator) and to a RADIUS server (responder), with a dummy challenge-response
//! method whose MSK both ends derive. The final AUTH payloads use the MSK. Also
//! with loss, and an EAP-Failure.

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

use core::time::Duration;

use bng_ikev2::ProtocolError;
use bng_ikev2::exchange::{Action, ChildSuite, Config, IkeSa, IkeSuite, InitOutcome, Responder};
use common::{advance, children, established, failed};
use rand::SeedableRng;
use rand::rngs::StdRng;
use sha2::{Digest as _, Sha256};

const IKE: [IkeSuite; 1] = [IkeSuite::AES128GCM_SHA256_X25519];
const ESP: [ChildSuite; 1] = [ChildSuite::AES128GCM];
/// The dummy method's EAP Type (experimental range, RFC 3748 section 5).
const DUMMY: u8 = 254;

/// The PSK authenticates the responder only; the initiator uses EAP.
fn cfg(me: &'static [u8]) -> Config<'static> {
    Config {
        max_retransmits: 6,
        ..common::cfg(&IKE, &ESP, b"gateway key", me)
    }
}

fn eap(code: u8, id: u8, typ: Option<u8>, data: &[u8]) -> Vec<u8> {
    let len = 4 + usize::from(typ.is_some()) + data.len();
    let mut m = vec![code, id, 0, u8::try_from(len).unwrap()];
    m.extend(typ);
    m.extend_from_slice(data);
    m
}

fn answer(secret: &[u8], challenge: &[u8]) -> Vec<u8> {
    Sha256::new()
        .chain_update(secret)
        .chain_update(challenge)
        .finalize()
        .to_vec()
}

fn msk(secret: &[u8], challenge: &[u8]) -> Vec<u8> {
    let a = Sha256::new()
        .chain_update(b"msk1")
        .chain_update(secret)
        .chain_update(challenge)
        .finalize();
    let b = Sha256::new()
        .chain_update(b"msk2")
        .chain_update(secret)
        .chain_update(challenge)
        .finalize();
    [a.as_slice(), b.as_slice()].concat()
}

#[derive(Default, Debug)]
struct Outcome {
    i_events: Vec<Action>,
    r_events: Vec<Action>,
    eap_rounds: usize,
    dropped: usize,
}

/// Runs the pair; the client knows `client_secret`, the "RADIUS server" expects
/// `server_secret`; `drop(n)` loses the n-th datagram.
fn run(client_secret: &[u8], server_secret: &[u8], drop: impl Fn(usize) -> bool) -> Outcome {
    let icfg = cfg(b"alice@example");
    let rcfg = cfg(b"gw.example");
    let mut rng = StdRng::seed_from_u64(8);
    let (ia, ra) = common::addrs();
    let mut now = Duration::from_secs(1);
    let mut ini = IkeSa::initiate(&icfg, now, ia, ra, &mut rng).unwrap();
    ini.set_eap();
    let mut front = Responder::new(&rcfg, &mut rng).unwrap();
    front.set_eap();
    let mut resp: Option<IkeSa<'_>> = None;
    let challenge = [0x5a; 16];
    let mut out = Outcome::default();
    let mut tx = [0u8; 4096];
    let mut sent = 0;
    for _ in 0..500 {
        let mut wire: Vec<(bool, Vec<u8>)> = Vec::new();
        while let Some(a) = ini.poll_action(now, &mut tx) {
            match a {
                Action::Send { len } => wire.push((true, tx[..len].to_vec())),
                Action::Eap => {
                    // The EAP peer (client method).
                    let m = ini.eap_message().to_vec();
                    match m[0] {
                        1 => {
                            assert_eq!(m[4], DUMMY);
                            let r = eap(2, m[1], Some(DUMMY), &answer(client_secret, &m[5..]));
                            ini.eap_reply(now, &r, &mut rng).unwrap();
                        }
                        3 => {
                            ini.set_msk(&msk(client_secret, &challenge)).unwrap();
                            ini.eap_complete(now, &mut rng).unwrap();
                        }
                        c => panic!("EAP code {c}"),
                    }
                    out.i_events.push(Action::Eap);
                }
                a => out.i_events.push(a),
            }
        }
        if let Some(r) = resp.as_mut() {
            while let Some(a) = r.poll_action(now, &mut tx) {
                match a {
                    Action::Send { len } => wire.push((false, tx[..len].to_vec())),
                    Action::Eap => {
                        // The EAP server (what RADIUS would answer).
                        out.eap_rounds += 1;
                        let m = r.eap_message().to_vec();
                        let reply = if m.is_empty() {
                            eap(1, 1, Some(DUMMY), &challenge)
                        } else if m[0] == 2 && m[5..] == answer(server_secret, &challenge)[..] {
                            r.set_msk(&msk(server_secret, &challenge)).unwrap();
                            eap(3, m[1], None, &[])
                        } else {
                            eap(4, m[1], None, &[])
                        };
                        r.eap_reply(now, &reply, &mut rng).unwrap();
                        out.r_events.push(Action::Eap);
                    }
                    a => out.r_events.push(a),
                }
            }
        }
        if wire.is_empty() {
            if !advance(&mut ini, resp.as_mut(), &mut now) {
                break;
            }
            continue;
        }
        for (to_r, bytes) in wire {
            sent += 1;
            if drop(sent) {
                out.dropped += 1;
                continue;
            }
            if to_r {
                match resp.as_mut() {
                    Some(r) => {
                        let _ = r.handle_packet(now, &bytes, &mut rng);
                    }
                    None => {
                        if let Ok(InitOutcome::NewSa(sa)) =
                            front.handle_init(now, 0, ra, ia, &bytes, &mut rng, &mut tx)
                        {
                            resp = Some(sa);
                        }
                    }
                }
            } else {
                let _ = ini.handle_packet(now, &bytes, &mut rng);
            }
        }
    }
    out
}

#[test]
fn eap_challenge_response_with_msk_auth() {
    let o = run(b"alice's secret", b"alice's secret", |_| false);
    assert!(established(&o.i_events), "{o:?}");
    assert!(established(&o.r_events), "{o:?}");
    // Start, the client's response: two EAP rounds on the server side.
    assert_eq!(o.eap_rounds, 2, "{o:?}");
    let (ci, cr) = (children(&o.i_events), children(&o.r_events));
    assert_eq!((ci.len(), cr.len()), (1, 1));
    assert_eq!(ci[0].inbound, cr[0].outbound);
    assert_eq!(ci[0].outbound, cr[0].inbound);
    assert_eq!(ci[0].inbound_spi, cr[0].outbound_spi);
}

/// Every k-th datagram lost: retransmitted requests whose answer still waits for
/// the EAP server are ignored, answered ones are answered again.
#[test]
fn eap_survives_loss() {
    for k in [3, 4, 5, 7] {
        let o = run(b"s", b"s", |n| n % k == 0);
        assert!(o.dropped > 0);
        assert!(
            established(&o.i_events) && established(&o.r_events),
            "k={k} {o:?}"
        );
        assert_eq!(children(&o.i_events).len(), 1);
    }
}

#[test]
fn eap_failure_ends_both() {
    let o = run(b"wrong", b"right", |_| false);
    assert!(
        !established(&o.i_events) && !established(&o.r_events),
        "{o:?}"
    );
    assert_eq!(
        failed(&o.i_events),
        Some(ProtocolError::AuthenticationFailed)
    );
    assert_eq!(
        failed(&o.r_events),
        Some(ProtocolError::AuthenticationFailed)
    );
}
