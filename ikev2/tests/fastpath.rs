//! The single-pass validators behind `Payloads::validate` and `Sa::parse` (used by
//! `message::Repr::parse`) accept exactly what the iterator walks accept, and give
//! the same error: checked against the public iterators on mutated real messages and
//! on arbitrary bytes (RFC 7296 sections 3.2, 3.3).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests"
)]

use core::time::Duration;

use bng_ikev2::ParseError;
use bng_ikev2::exchange::{Action, ChildSuite, Config, Identity, IkeSa, IkeSuite};
use bng_ikev2::payload::{Payload, Payloads, TrafficSelector};
use bng_ikev2::sa::{Proposals, Sa};
use bng_ikev2::types::{IdType, PayloadType};
use proptest::prelude::*;
use rand::SeedableRng as _;

/// The reference: the iterator walk plus a typed parse of every payload.
fn slow_chain(first: PayloadType, bytes: &[u8]) -> Result<(), ParseError> {
    for p in Payloads::new(first, bytes) {
        Payload::parse(&p?)?;
    }
    Ok(())
}

/// The reference for an SA body: the nested iterator walk, at least one proposal.
fn slow_sa(body: &[u8]) -> Result<(), ParseError> {
    let mut n = 0;
    for p in Proposals::new(body) {
        n += 1;
        for t in p?.transforms() {
            for a in t?.attributes() {
                a?;
            }
        }
    }
    if n == 0 {
        return Err(ParseError::InvalidField("SA payload without proposals"));
    }
    Ok(())
}

/// An `IKE_SA_INIT` request as our initiator sends it (the bench message): 244 bytes.
fn init_message() -> Vec<u8> {
    const IKE: [IkeSuite; 2] = [
        IkeSuite::AES128GCM_SHA256_X25519,
        IkeSuite::AES256_SHA256_ECP384,
    ];
    const ESP: [ChildSuite; 1] = [ChildSuite::AES128GCM];
    let cfg = Config {
        ike_suites: &IKE,
        child_suites: &ESP,
        psk: b"k",
        local_id: Identity {
            id_type: IdType::FQDN,
            data: b"i",
        },
        remote_id: None,
        ts_i: TrafficSelector::ANY_V4,
        ts_r: TrafficSelector::ANY_V4,
        retransmit: Duration::from_secs(1),
        max_retransmits: 1,
    };
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let mut sa = IkeSa::initiate(
        &cfg,
        Duration::ZERO,
        "192.0.2.1:500".parse().unwrap(),
        "192.0.2.2:500".parse().unwrap(),
        &mut rng,
    )
    .unwrap();
    let mut tx = [0u8; 2048];
    let Some(Action::Send { len }) = sa.poll_action(Duration::ZERO, &mut tx) else {
        panic!()
    };
    tx[..len].to_vec()
}

fn check_chain(first: PayloadType, bytes: &[u8]) {
    assert_eq!(
        Payloads::validate(first, bytes),
        slow_chain(first, bytes),
        "{first:?} {bytes:02x?}"
    );
}

fn check_sa(body: &[u8]) {
    assert_eq!(Sa::parse(body).map(|_| ()), slow_sa(body), "{body:02x?}");
}

#[test]
fn the_real_message_and_every_prefix() {
    let m = init_message();
    let first = PayloadType(m[16]);
    check_chain(first, &m[28..]);
    assert!(Payloads::validate(first, &m[28..]).is_ok());
    for n in 28..m.len() {
        check_chain(first, &m[28..n]);
    }
    let sa_body = &m[32..28 + usize::from(u16::from_be_bytes([m[30], m[31]]))];
    check_sa(sa_body);
    for n in 0..sa_body.len() {
        check_sa(&sa_body[..n]);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn mutated_real_messages(flips in proptest::collection::vec((0usize..244, any::<u8>()), 1..4),
                             cut in 0usize..64) {
        let mut m = init_message();
        for (at, x) in flips {
            let i = at % m.len();
            m[i] ^= x;
        }
        let end = m.len() - cut.min(m.len() - 28);
        let first = PayloadType(m[16]);
        check_chain(first, &m[28..end]);
        // The SA body as the length field claims it (if it fits).
        let l = usize::from(u16::from_be_bytes([m[30], m[31]]));
        if let Some(body) = m.get(32..28 + l.max(4)) {
            check_sa(body);
        }
    }

    #[test]
    fn arbitrary_bytes(b in proptest::collection::vec(any::<u8>(), 0..200), first in any::<u8>()) {
        check_chain(PayloadType(first), &b);
        check_sa(&b);
    }
}
