//! Codec tests (RFC 7296 section 3): a built IKE_SA_INIT round trip, every truncated
//! prefix rejected, version checks, caps, SK protection round trips (RFC 5282,
//! RFC 7296 section 3.14) and tamper detection.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::many_single_char_names,
    clippy::doc_markdown,
    reason = "tests"
)]

use bng_ikev2::header::{Flags, HeaderRepr, Packet};
use bng_ikev2::message::Repr;
use bng_ikev2::payload::{
    AddrRange, Id, Ke, Notify, Payload, PayloadList, Payloads, SelectorList, TrafficSelector, Ts,
};
use bng_ikev2::sa::{ProposalList, ProposalRepr, Proposals, Sa, TransformRepr};
use bng_ikev2::sk::{SkSuite, open, seal};
use bng_ikev2::types::{
    DhGroup, EncrId, ExchangeType, IdType, IntegId, NotifyType, PayloadType, PrfId, ProtocolId,
    TransformType,
};
use bng_ikev2::{ParseError, ProtocolError};

const TRANSFORMS: [TransformRepr; 4] = [
    TransformRepr {
        kind: TransformType::ENCR,
        id: EncrId::AES_GCM_16.0,
        key_length: Some(128),
    },
    TransformRepr {
        kind: TransformType::PRF,
        id: PrfId::HMAC_SHA2_256.0,
        key_length: None,
    },
    TransformRepr {
        kind: TransformType::DH,
        id: DhGroup::CURVE25519.0,
        key_length: None,
    },
    TransformRepr {
        kind: TransformType::DH,
        id: DhGroup::ECP256.0,
        key_length: None,
    },
];

fn header(exchange: ExchangeType) -> HeaderRepr {
    HeaderRepr {
        spi_i: [1, 2, 3, 4, 5, 6, 7, 8],
        spi_r: [0; 8],
        version: 0x20,
        exchange,
        flags: Flags::INITIATOR,
        message_id: 0,
    }
}

fn sa_init(out: &mut [u8]) -> usize {
    let props = [ProposalRepr {
        num: 1,
        protocol: ProtocolId::IKE,
        spi: &[],
        transforms: &TRANSFORMS,
    }];
    let payloads = [
        Payload::Sa(Sa {
            proposals: ProposalList::List(&props),
        }),
        Payload::Ke(Ke {
            group: DhGroup::CURVE25519,
            data: &[0x55; 32],
        }),
        Payload::Nonce(&[0x66; 32]),
        Payload::Notify(Notify {
            protocol: ProtocolId::NONE,
            notify_type: NotifyType::NAT_DETECTION_SOURCE_IP,
            spi: &[],
            data: &[0x77; 20],
        }),
        Payload::VendorId(b"bngkit"),
    ];
    Repr {
        header: header(ExchangeType::IKE_SA_INIT),
        payloads: PayloadList::List(&payloads),
    }
    .emit(out)
    .unwrap()
}

#[test]
fn ike_sa_init_round_trip_and_walk() {
    let mut buf = [0u8; 512];
    let n = sa_init(&mut buf);
    let p = Packet::new_checked(&buf[..n]).unwrap();
    assert_eq!(p.exchange(), ExchangeType::IKE_SA_INIT);
    assert_eq!(p.next_payload(), PayloadType::SA);
    assert!(p.flags().initiator() && !p.flags().response());
    let r = Repr::parse(&p).unwrap();
    let mut again = [0u8; 512];
    assert_eq!(r.emit(&mut again).unwrap(), n);
    assert_eq!(&again[..n], &buf[..n]);
    let kinds: Vec<_> = p.payloads().map(|x| x.unwrap().kind).collect();
    assert_eq!(
        kinds,
        [
            PayloadType::SA,
            PayloadType::KE,
            PayloadType::NONCE,
            PayloadType::NOTIFY,
            PayloadType::VENDOR_ID
        ]
    );
    let sa = p.payloads().next().unwrap().unwrap();
    let props: Vec<_> = Proposals::new(sa.body).map(Result::unwrap).collect();
    assert_eq!(props.len(), 1);
    let ts: Vec<_> = props[0].transforms().map(Result::unwrap).collect();
    assert_eq!(ts.len(), 4);
    assert_eq!(ts[0].key_length(), Some(128));
    assert_eq!(ts[1].key_length(), None);
    // Emitting into a short buffer fails cleanly for every length.
    for short in 0..n {
        assert!(r.emit(&mut again[..short]).is_err());
    }
}

#[test]
fn every_truncated_prefix_is_rejected() {
    let mut buf = [0u8; 512];
    let n = sa_init(&mut buf);
    for cut in 0..n {
        let b = &buf[..cut];
        assert!(Packet::new_checked(b).is_err(), "prefix {cut}");
        // With the Length field patched to the prefix, the chain is what breaks.
        if cut >= 28 {
            let mut m = b.to_vec();
            m[24..28].copy_from_slice(&u32::try_from(cut).unwrap().to_be_bytes());
            let p = Packet::new_checked(&m[..]).unwrap();
            assert!(Repr::parse(&p).is_err(), "prefix {cut}");
        }
    }
}

#[test]
fn versions() {
    let mut buf = [0u8; 512];
    let n = sa_init(&mut buf);
    buf[17] = 0x10;
    assert_eq!(
        Packet::new_checked(&buf[..n]).unwrap_err(),
        ParseError::Ikev1 { minor: 0 }
    );
    buf[17] = 0x30;
    assert_eq!(
        Packet::new_checked(&buf[..n]).unwrap_err(),
        ParseError::BadVersion { version: 3 }
    );
    buf[17] = 0x21; // minor versions are accepted (section 2.5)
    assert!(Packet::new_checked(&buf[..n]).is_ok());
}

#[test]
fn payload_chain_cap_and_fuse() {
    // 100 empty Vendor ID payloads: the walk stops with one error at the cap.
    let mut chain = Vec::new();
    for i in 0..100 {
        chain.extend_from_slice(&[if i == 99 { 0 } else { 43 }, 0, 0, 4]);
    }
    let items: Vec<_> = Payloads::new(PayloadType::VENDOR_ID, &chain).collect();
    assert_eq!(items.len(), 65);
    assert!(matches!(
        items[64],
        Err(ParseError::TooManyTlvs { cap: 64 })
    ));
    // A payload length below 4 is an error, then the iterator fuses.
    let bad = [43u8, 0, 0, 3, 0, 0, 0, 0];
    let mut it = Payloads::new(PayloadType::VENDOR_ID, &bad);
    assert_eq!(it.next(), Some(Err(ParseError::BadLength)));
    assert_eq!(it.next(), None);
}

#[test]
fn ts_id_delete_cp_round_trip() {
    let sels = [
        TrafficSelector::ANY_V4,
        TrafficSelector {
            ip_protocol: 17,
            start_port: 500,
            end_port: 4500,
            range: AddrRange::V6 {
                start: [0; 16],
                end: [0xff; 16],
            },
        },
    ];
    let payloads = [
        Payload::Idi(Id {
            id_type: IdType::FQDN,
            data: b"west",
        }),
        Payload::Tsi(Ts {
            selectors: SelectorList::List(&sels),
        }),
        Payload::Delete(bng_ikev2::payload::Delete {
            protocol: ProtocolId::ESP,
            spi_size: 4,
            spis: &[1, 2, 3, 4, 5, 6, 7, 8],
        }),
        Payload::Cp(bng_ikev2::payload::Cp {
            cfg_type: bng_ikev2::types::CfgType::REQUEST,
            attributes: bng_ikev2::payload::ConfigList::List(&[
                bng_ikev2::payload::ConfigAttribute {
                    kind: bng_ikev2::types::ConfigAttr::INTERNAL_IP4_ADDRESS,
                    value: &[],
                },
            ]),
        }),
    ];
    let m = Repr {
        header: header(ExchangeType::INFORMATIONAL),
        payloads: PayloadList::List(&payloads),
    };
    let mut buf = [0u8; 512];
    let n = m.emit(&mut buf).unwrap();
    let p = Packet::new_checked(&buf[..n]).unwrap();
    Repr::parse(&p).unwrap();
    let parsed: Vec<_> = p
        .payloads()
        .map(|r| Payload::parse(&r.unwrap()).unwrap())
        .collect();
    let Payload::Tsi(ts) = parsed[1] else {
        panic!()
    };
    let got: Vec<_> = ts.iter().map(Result::unwrap).collect();
    assert_eq!(got, sels);
    let Payload::Delete(d) = parsed[2] else {
        panic!()
    };
    assert_eq!(d.spis().count(), 2);
    let Payload::Cp(cp) = parsed[3] else { panic!() };
    assert_eq!(cp.attributes().count(), 1);
}

fn sk_round_trip(suite: SkSuite) {
    let ek: Vec<u8> = (0..u8::try_from(suite.encr_key_len()).unwrap()).collect();
    let ak: Vec<u8> = (100..100 + u8::try_from(suite.integ_key_len()).unwrap()).collect();
    let iv = vec![9u8; suite.iv_len()];
    let inner = [
        Payload::Idi(Id {
            id_type: IdType::FQDN,
            data: b"west",
        }),
        Payload::Nonce(&[1; 17]),
    ];
    let h = header(ExchangeType::IKE_AUTH);
    let mut buf = [0u8; 512];
    let n = seal(
        &suite,
        &ek,
        &ak,
        &iv,
        &h,
        &PayloadList::List(&inner),
        &mut buf,
    )
    .unwrap();
    assert_eq!(
        n,
        suite.message_len(inner.iter().map(Payload::wire_len).sum())
    );
    let p = Packet::new_checked(&buf[..n]).unwrap();
    assert_eq!(p.next_payload(), PayloadType::SK);
    Repr::parse(&p).unwrap();
    let mut m = buf[..n].to_vec();
    let d = open(&suite, &ek, &ak, &mut m).unwrap();
    assert_eq!(d.first, PayloadType::IDI);
    let got: Vec<_> = d
        .payloads()
        .map(|r| Payload::parse(&r.unwrap()).unwrap())
        .collect();
    assert_eq!(got, inner);
    let (off, plain) = (d.offset, d.bytes.to_vec());
    assert_eq!(&m[off..off + plain.len()], &plain[..]);
    // Any flipped bit (header, IV, ciphertext or ICV) is detected.
    for i in 0..n {
        let mut t = buf[..n].to_vec();
        t[i] ^= 0x01;
        let r = open(&suite, &ek, &ak, &mut t);
        assert!(r.is_err(), "{suite:?} byte {i}");
    }
    // Wrong key.
    let mut t = buf[..n].to_vec();
    let mut ek2 = ek.clone();
    ek2[0] ^= 1;
    if suite.encr == EncrId::AES_GCM_16 {
        assert!(matches!(
            open(&suite, &ek2, &ak, &mut t),
            Err(ProtocolError::Crypto(_))
        ));
    }
}

#[test]
fn sk_gcm_and_cbc_round_trips() {
    for bits in [128, 192, 256] {
        sk_round_trip(SkSuite {
            encr: EncrId::AES_GCM_16,
            key_bits: bits,
            integ: IntegId::NONE,
        });
        for integ in [
            IntegId::HMAC_SHA1_96,
            IntegId::HMAC_SHA2_256_128,
            IntegId::HMAC_SHA2_384_192,
            IntegId::HMAC_SHA2_512_256,
        ] {
            sk_round_trip(SkSuite {
                encr: EncrId::AES_CBC,
                key_bits: bits,
                integ,
            });
        }
    }
    assert!(
        SkSuite {
            encr: EncrId::TRIPLE_DES,
            key_bits: 128,
            integ: IntegId::HMAC_SHA1_96
        }
        .check()
        .is_err()
    );
}
