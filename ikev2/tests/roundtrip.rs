//! Property tests: any message built from arbitrary payload values emits, parses
//! and re-emits byte-identically; arbitrary bytes never panic the parser.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::type_complexity,
    reason = "tests"
)]

use bng_ikev2::header::{Flags, HeaderRepr, Packet};
use bng_ikev2::message::Repr;
use bng_ikev2::payload::{
    AddrRange, Auth, Id, Ke, Notify, Payload, PayloadList, SelectorList, TrafficSelector, Ts,
};
use bng_ikev2::sa::{ProposalList, ProposalRepr, Sa, TransformRepr};
use bng_ikev2::types::{
    AuthMethod, DhGroup, ExchangeType, IdType, NotifyType, PayloadType, ProtocolId, TransformType,
};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum P {
    Ke(u16, Vec<u8>),
    Nonce(Vec<u8>),
    Id(bool, u8, Vec<u8>),
    Auth(u8, Vec<u8>),
    Notify(u8, u16, Vec<u8>, Vec<u8>),
    Vid(Vec<u8>),
    Ts(Vec<(u8, u16, u16, [u8; 4], [u8; 4])>),
    Sa(Vec<(u8, Vec<(u8, u16, Option<u16>)>)>),
}

fn p() -> impl Strategy<Value = P> {
    let bytes = || proptest::collection::vec(any::<u8>(), 0..40);
    prop_oneof![
        (any::<u16>(), bytes()).prop_map(|(g, d)| P::Ke(g, d)),
        bytes().prop_map(P::Nonce),
        (any::<bool>(), any::<u8>(), bytes()).prop_map(|(a, b, c)| P::Id(a, b, c)),
        (any::<u8>(), bytes()).prop_map(|(a, b)| P::Auth(a, b)),
        (
            any::<u8>(),
            any::<u16>(),
            proptest::collection::vec(any::<u8>(), 0..9),
            bytes()
        )
            .prop_map(|(a, b, c, d)| P::Notify(a, b, c, d)),
        bytes().prop_map(P::Vid),
        proptest::collection::vec(any::<(u8, u16, u16, [u8; 4], [u8; 4])>(), 0..5).prop_map(P::Ts),
        proptest::collection::vec(
            (
                1u8..4,
                proptest::collection::vec((1u8..6, any::<u16>(), any::<Option<u16>>()), 0..6)
            ),
            1..4
        )
        .prop_map(P::Sa),
    ]
}

proptest! {
    #[test]
    fn build_parse_reemit(ps in proptest::collection::vec(p(), 0..8), mid in any::<u32>(), x in 33u8..38) {
        let tss: Vec<Vec<TrafficSelector>> = ps.iter().map(|q| match q {
            P::Ts(v) => v.iter().map(|&(proto, a, b, s, e)| TrafficSelector {
                ip_protocol: proto, start_port: a, end_port: b, range: AddrRange::V4 { start: s, end: e },
            }).collect(),
            _ => Vec::new(),
        }).collect();
        let trs: Vec<Vec<Vec<TransformRepr>>> = ps.iter().map(|q| match q {
            P::Sa(v) => v.iter().map(|(_, ts)| ts.iter().map(|&(k, id, kl)| TransformRepr {
                kind: TransformType(k), id, key_length: kl,
            }).collect()).collect(),
            _ => Vec::new(),
        }).collect();
        let props: Vec<Vec<ProposalRepr<'_>>> = ps.iter().zip(&trs).map(|(q, t)| match q {
            P::Sa(v) => v.iter().zip(t).enumerate().map(|(i, ((proto, _), ts))| ProposalRepr {
                num: u8::try_from(i + 1).unwrap(), protocol: ProtocolId(*proto), spi: &[], transforms: ts,
            }).collect(),
            _ => Vec::new(),
        }).collect();
        let payloads: Vec<Payload<'_>> = ps.iter().enumerate().map(|(i, q)| match q {
            P::Ke(g, d) => Payload::Ke(Ke { group: DhGroup(*g), data: d }),
            P::Nonce(d) => Payload::Nonce(d),
            P::Id(r, t, d) => {
                let id = Id { id_type: IdType(*t), data: d };
                if *r { Payload::Idr(id) } else { Payload::Idi(id) }
            }
            P::Auth(m, d) => Payload::Auth(Auth { method: AuthMethod(*m), data: d }),
            P::Notify(pr, t, spi, d) => Payload::Notify(Notify {
                protocol: ProtocolId(*pr), notify_type: NotifyType(*t), spi, data: d,
            }),
            P::Vid(d) => Payload::VendorId(d),
            P::Ts(_) => Payload::Tsr(Ts { selectors: SelectorList::List(&tss[i]) }),
            P::Sa(_) => Payload::Sa(Sa { proposals: ProposalList::List(&props[i]) }),
        }).collect();
        let m = Repr {
            header: HeaderRepr {
                spi_i: [3; 8], spi_r: [4; 8], version: 0x20,
                exchange: ExchangeType(x), flags: Flags::RESPONSE, message_id: mid,
            },
            payloads: PayloadList::List(&payloads),
        };
        let mut buf = vec![0u8; m.buffer_len()];
        let n = m.emit(&mut buf).unwrap();
        let pk = Packet::new_checked(&buf[..n]).unwrap();
        let r = Repr::parse(&pk).unwrap();
        prop_assert_eq!(r.header, m.header);
        let back: Vec<Payload<'_>> = pk.payloads().map(|x| Payload::parse(&x.unwrap()).unwrap()).collect();
        prop_assert_eq!(back.len(), payloads.len());
        for (a, b) in back.iter().zip(&payloads) {
            prop_assert_eq!(a.kind(), b.kind());
            prop_assert_eq!(a.wire_len(), b.wire_len());
        }
        let again = Repr { header: r.header, payloads: PayloadList::List(&back) };
        let mut buf2 = vec![0u8; again.buffer_len()];
        again.emit(&mut buf2).unwrap();
        prop_assert_eq!(&buf2[..], &buf[..n]);
    }

    #[test]
    fn arbitrary_bytes_never_panic(mut b in proptest::collection::vec(any::<u8>(), 0..300), first in any::<u8>()) {
        if b.len() >= 28 {
            b[17] = 0x20;
            let l = u32::try_from(b.len()).unwrap();
            b[24..28].copy_from_slice(&l.to_be_bytes());
            b[16] = first;
        }
        if let Ok(p) = Packet::new_checked(&b[..]) {
            for x in p.payloads().flatten() {
                let _ = Payload::parse(&x);
            }
            if let Ok(r) = Repr::parse(&p) {
                let mut out = vec![0u8; r.buffer_len()];
                let n = r.emit(&mut out).unwrap();
                prop_assert_eq!(&out[..n], p.as_bytes());
            }
        }
        let _ = PayloadType(first);
    }
}
