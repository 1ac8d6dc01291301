//! bng-ikev2 benches (BENCHMARKS.md, bng-ikev2 section): parse an IKE_SA_INIT side
//! by side with `ipsec-parser` on the same bytes in the same run (with allocation
//! counts), the responder's in-memory handshake (IKE_SA_INIT + IKE_AUTH, X25519,
//! PSK, AES-GCM) and the X25519 key exchange alone, to give its share.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::similar_names,
    clippy::many_single_char_names,
    clippy::doc_markdown,
    clippy::too_many_lines,
    reason = "bench"
)]

use core::hint::black_box;
use core::net::SocketAddr;
use core::time::Duration;

use bng_ikev2::crypto::{EphemeralKey, KeyExchange as _};
use bng_ikev2::exchange::{
    Action, ChildSuite, Config, Identity, IkeSa, IkeSuite, InitOutcome, Responder,
};
use bng_ikev2::header::Packet;
use bng_ikev2::message::Repr;
use bng_ikev2::payload::{Payload, TrafficSelector};
use bng_ikev2::types::{DhGroup, IdType, PayloadType};
use bng_testkit::alloc::{CountingAlloc, count_allocations};
use criterion::{Criterion, criterion_main};
use rand::SeedableRng as _;
use rand::rngs::StdRng;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

const IKE: [IkeSuite; 2] = [
    IkeSuite::AES128GCM_SHA256_X25519,
    IkeSuite::AES256_SHA256_ECP384,
];
const ESP: [ChildSuite; 1] = [ChildSuite::AES128GCM];

fn config(me: &'static [u8]) -> Config<'static> {
    Config {
        ike_suites: &IKE,
        child_suites: &ESP,
        psk: b"bench secret",
        local_id: Identity {
            id_type: IdType::FQDN,
            data: me,
        },
        remote_id: None,
        ts_i: TrafficSelector::ANY_V4,
        ts_r: TrafficSelector::ANY_V4,
        retransmit: Duration::from_secs(1),
        max_retransmits: 3,
    }
}

fn send(sa: &mut IkeSa<'_>, tx: &mut [u8]) -> Vec<u8> {
    loop {
        match sa.poll_action(Duration::ZERO, tx) {
            Some(Action::Send { len }) => return tx[..len].to_vec(),
            Some(_) => {}
            None => panic!("nothing to send"),
        }
    }
}

/// Our parse: header view, payload chain, every payload typed, the nested SA walk.
fn ours(b: &[u8]) -> usize {
    let Ok(p) = Packet::new_checked(b) else {
        return 0;
    };
    let mut n = 0;
    for raw in p.payloads().flatten() {
        match Payload::parse(&raw) {
            Ok(Payload::Sa(sa)) => {
                for prop in sa.proposals().flatten() {
                    for t in prop.transforms().flatten() {
                        n += usize::from(t.id);
                    }
                }
            }
            Ok(Payload::Ke(k)) => n += k.data.len(),
            _ => n += 1,
        }
    }
    n
}

/// ipsec-parser: the same message into its Vec-based representation.
fn peer(b: &[u8]) -> usize {
    let (_, (_, payloads)) = ipsec_parser::parse_ikev2_message(b).unwrap();
    let payloads = payloads.unwrap();
    let mut n = 0;
    for p in &payloads {
        match &p.content {
            ipsec_parser::IkeV2PayloadContent::SA(props) => {
                for prop in props {
                    for t in &prop.transforms {
                        n += usize::from(t.transform_id);
                    }
                }
            }
            ipsec_parser::IkeV2PayloadContent::KE(k) => n += k.kex_data.len(),
            _ => n += 1,
        }
    }
    n
}

fn benches(c: &mut Criterion) {
    let (ia, ra): (SocketAddr, SocketAddr) = (
        "192.0.2.1:500".parse().unwrap(),
        "198.51.100.1:500".parse().unwrap(),
    );
    let icfg = config(b"initiator.example");
    let rcfg = config(b"responder.example");
    let mut tx = vec![0u8; 4096];

    // Precompute an initiator transcript against a responder with a fixed seed; the
    // responder replays the same seed each iteration, so the messages stay valid.
    let mut irng = StdRng::seed_from_u64(1);
    let mut rrng = StdRng::seed_from_u64(2);
    let front = Responder::new(&rcfg, &mut rrng).unwrap();
    let rsnap = rrng.clone();
    let mut ini = IkeSa::initiate(&icfg, Duration::ZERO, ia, ra, &mut irng).unwrap();
    let req1 = send(&mut ini, &mut tx);
    let InitOutcome::NewSa(mut rsa) = front
        .handle_init(Duration::ZERO, 0, ra, ia, &req1, &mut rrng, &mut tx)
        .unwrap()
    else {
        panic!()
    };
    let resp1 = send(&mut rsa, &mut tx);
    ini.handle_packet(Duration::ZERO, &resp1, &mut irng)
        .unwrap();
    let req2 = send(&mut ini, &mut tx);

    // IKE_SA_INIT parse, ours vs ipsec-parser, on the same bytes.
    let msg = req1.clone();
    assert_eq!(
        Packet::new_checked(&msg[..]).unwrap().next_payload(),
        PayloadType::SA
    );
    assert_eq!(ours(&msg) > 0, peer(&msg) > 0);
    let a_ours = count_allocations(|| ours(black_box(&msg)));
    let a_peer = count_allocations(|| peer(black_box(&msg)));
    let a_repr = count_allocations(|| Repr::parse(&Packet::new_checked(&msg[..]).unwrap()).is_ok());
    eprintln!(
        "IKE_SA_INIT ({} bytes) allocations per parse: bng-ikev2 {a_ours} (Repr::parse {a_repr}), ipsec-parser {a_peer}",
        msg.len()
    );
    let mut g = c.benchmark_group("ike_sa_init_parse");
    g.bench_function("bng_ikev2_walk", |b| b.iter(|| ours(black_box(&msg))));
    g.bench_function("bng_ikev2_repr_parse", |b| {
        b.iter(|| Repr::parse(&Packet::new_checked(black_box(&msg[..])).unwrap()).is_ok());
    });
    g.bench_function("ipsec_parser", |b| b.iter(|| peer(black_box(&msg))));
    g.finish();

    // The responder's whole handshake.
    let mut g = c.benchmark_group("responder_handshake");
    g.bench_function("x25519_psk_aes128gcm", |b| {
        b.iter(|| {
            let mut rng = rsnap.clone();
            let InitOutcome::NewSa(mut sa) = front
                .handle_init(
                    Duration::ZERO,
                    0,
                    ra,
                    ia,
                    black_box(&req1),
                    &mut rng,
                    &mut tx,
                )
                .unwrap()
            else {
                panic!()
            };
            while sa.poll_action(Duration::ZERO, &mut tx).is_some() {}
            sa.handle_packet(Duration::ZERO, black_box(&req2), &mut rng)
                .unwrap();
            let mut n = 0;
            while let Some(a) = sa.poll_action(Duration::ZERO, &mut tx) {
                n += usize::from(matches!(a, Action::ChildSa(_)));
            }
            assert_eq!(n, 1);
        });
    });
    // The key exchange alone: one keygen and one agreement (the responder's share).
    let peer_pub = {
        let k = EphemeralKey::generate(DhGroup::CURVE25519, &mut irng).unwrap();
        let mut p = [0u8; 32];
        k.public_key(&mut p).unwrap();
        p
    };
    g.bench_function("x25519_keygen_agree_only", |b| {
        let mut rng = StdRng::seed_from_u64(3);
        b.iter(|| {
            let k = EphemeralKey::generate(DhGroup::CURVE25519, &mut rng).unwrap();
            let mut p = [0u8; 32];
            k.public_key(&mut p).unwrap();
            let mut s = [0u8; 32];
            k.agree(black_box(&peer_pub), &mut s).unwrap();
            s
        });
    });
    // The other groups alone, for choosing proposals.
    for (name, group) in [
        ("ecp256_keygen_agree_only", DhGroup::ECP256),
        ("modp2048_keygen_agree_only", DhGroup::MODP2048),
    ] {
        let peer = {
            let k = EphemeralKey::generate(group, &mut irng).unwrap();
            let mut p = vec![0u8; EphemeralKey::public_len(group).unwrap()];
            k.public_key(&mut p).unwrap();
            p
        };
        g.bench_function(name, |b| {
            let mut rng = StdRng::seed_from_u64(4);
            b.iter(|| {
                let k = EphemeralKey::generate(group, &mut rng).unwrap();
                let mut p = [0u8; 256];
                k.public_key(&mut p).unwrap();
                let mut s = [0u8; 256];
                k.agree(black_box(&peer), &mut s).unwrap();
                s[0]
            });
        });
    }
    g.finish();
}

fn main_benches() {
    let mut c = Criterion::default().configure_from_args();
    benches(&mut c);
    c.final_summary();
}

criterion_main!(main_benches);
