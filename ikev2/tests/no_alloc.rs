//! Zero-allocation proof: IKE message parse and emit, the nested SA walk, SK seal
//! and open, prf+ and the key schedule run under a counting global allocator
//! (STYLE.md section 16 item 5).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests"
)]

use bng_ikev2::crypto::{HmacPrf, KeyLengths, derive_ike_keys, skeyseed};
use bng_ikev2::header::{Flags, HeaderRepr, Packet};
use bng_ikev2::message::Repr;
use bng_ikev2::payload::{Id, Ke, Payload, PayloadList};
use bng_ikev2::sa::{ProposalList, ProposalRepr, Sa, TransformRepr};
use bng_ikev2::sk::{SkSuite, open, seal};
use bng_ikev2::types::{
    DhGroup, EncrId, ExchangeType, IdType, IntegId, PrfId, ProtocolId, TransformType,
};
use bng_testkit::alloc::{CountingAlloc, count_allocations};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

const H: HeaderRepr = HeaderRepr {
    spi_i: [1; 8],
    spi_r: [2; 8],
    version: 0x20,
    exchange: ExchangeType::IKE_SA_INIT,
    flags: Flags::INITIATOR,
    message_id: 0,
};

#[test]
fn parse_and_emit_allocate_nothing() {
    let n = count_allocations(|| {
        let t = [TransformRepr {
            kind: TransformType::ENCR,
            id: EncrId::AES_GCM_16.0,
            key_length: Some(256),
        }];
        let props = [ProposalRepr {
            num: 1,
            protocol: ProtocolId::IKE,
            spi: &[],
            transforms: &t,
        }];
        let pl = [
            Payload::Sa(Sa {
                proposals: ProposalList::List(&props),
            }),
            Payload::Ke(Ke {
                group: DhGroup::CURVE25519,
                data: &[5; 32],
            }),
            Payload::Nonce(&[6; 32]),
        ];
        let mut buf = [0u8; 256];
        let len = Repr {
            header: H,
            payloads: PayloadList::List(&pl),
        }
        .emit(&mut buf)
        .unwrap_or(0);
        let p = Packet::new_checked(&buf[..len]).ok();
        let r = p.as_ref().and_then(|p| Repr::parse(p).ok());
        let mut walked = 0;
        if let Some(p) = &p {
            for raw in p.payloads().flatten() {
                if let Ok(Payload::Sa(sa)) = Payload::parse(&raw) {
                    for pr in sa.proposals().flatten() {
                        walked += pr.transforms().flatten().count();
                    }
                }
            }
        }
        let mut again = [0u8; 256];
        (r.map(|r| r.emit(&mut again)), walked)
    });
    assert_eq!(n, 0, "IKE parse/emit allocated");
}

#[test]
fn sk_and_key_schedule_allocate_nothing() {
    let n = count_allocations(|| {
        let prf = HmacPrf::new(PrfId::HMAC_SHA2_256).unwrap();
        let seed = skeyseed(&prf, &[1; 32], &[2; 32], &[3; 32]).unwrap();
        let keys = derive_ike_keys(
            &prf,
            seed.as_bytes(),
            &[1; 32],
            &[2; 32],
            &[1; 8],
            &[2; 8],
            KeyLengths {
                prf: 32,
                integ: 0,
                encr: 20,
            },
        )
        .unwrap();
        let suite = SkSuite {
            encr: EncrId::AES_GCM_16,
            key_bits: 128,
            integ: IntegId::NONE,
        };
        let inner = [Payload::Idi(Id {
            id_type: IdType::FQDN,
            data: b"west",
        })];
        let mut buf = [0u8; 256];
        let h = HeaderRepr {
            exchange: ExchangeType::IKE_AUTH,
            message_id: 1,
            ..H
        };
        let len = seal(
            &suite,
            keys.ei.as_bytes(),
            &[],
            &[7; 8],
            &h,
            &PayloadList::List(&inner),
            &mut buf,
        )
        .unwrap();
        let d = open(&suite, keys.ei.as_bytes(), &[], &mut buf[..len]).unwrap();
        d.payloads().count()
    });
    assert_eq!(n, 0, "SK seal/open or key schedule allocated");
}
