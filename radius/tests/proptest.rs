//! Property tests: emit -> parse -> emit round trips, signing/verification, password
//! hiding, and no panic on arbitrary bytes.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::many_single_char_names,
    clippy::map_unwrap_or,
    reason = "tests"
)]

use core::net::Ipv6Addr;

use bng_radius::Attr;
use bng_radius::crypto::{self, Secret};
use bng_radius::dict::{AttrType, Code};
use bng_radius::packet::{AttrList, Ipv6Prefix, Packet, Repr, Writer};
use proptest::prelude::*;

fn attrs() -> impl Strategy<Value = Vec<(u8, Vec<u8>)>> {
    prop::collection::vec(
        (any::<u8>(), prop::collection::vec(any::<u8>(), 0..=253)),
        0..12,
    )
}

proptest! {
    #[test]
    fn repr_round_trip(code in any::<u8>(), id in any::<u8>(), auth in any::<[u8; 16]>(), a in attrs()) {
        let list: Vec<Attr<'_>> = a.iter().map(|(t, v)| Attr { kind: AttrType(*t), value: v }).collect();
        let r = Repr { code: Code(code), identifier: id, authenticator: auth, attributes: AttrList::List(&list) };
        let mut buf = vec![0u8; r.buffer_len()];
        let n = r.emit(&mut buf).unwrap();
        prop_assert_eq!(n, r.buffer_len());
        let p = Packet::new_checked(&buf[..n]).unwrap();
        let back = Repr::parse(&p).unwrap();
        prop_assert_eq!((back.code, back.identifier, back.authenticator), (Code(code), id, auth));
        let got: Vec<Attr<'_>> = p.attributes().map(Result::unwrap).collect();
        prop_assert_eq!(&got, &list);
        let mut again = vec![0u8; n];
        prop_assert_eq!(back.emit(&mut again).unwrap(), n);
        prop_assert_eq!(&again, &buf);
        // every short buffer is an error, never a panic
        for k in 0..n {
            prop_assert!(r.emit(&mut buf[..k]).is_err());
        }
    }

    #[test]
    fn writer_signs_and_verifies(code in prop::sample::select(vec![1u8, 2, 3, 4, 5, 11, 12, 40, 41, 42, 43, 44, 45]),
                                 id in any::<u8>(), auth in any::<[u8; 16]>(), a in attrs(),
                                 secret in prop::collection::vec(any::<u8>(), 1..64)) {
        let s = Secret::new(&secret).unwrap();
        let mut buf = vec![0u8; 4096];
        let mut w = Writer::new(&mut buf, Code(code), id, auth).unwrap();
        for (t, v) in &a {
            if *t == 80 { continue; }
            if w.attribute(AttrType(*t), v).is_err() { break; }
        }
        let n = w.finish(&s).unwrap();
        let p = Packet::new_checked(&buf[..n]).unwrap();
        if Code(code).is_response() {
            prop_assert_eq!(crypto::verify_response(&p, &s, &auth, true), Ok(()));
        } else {
            prop_assert_eq!(crypto::verify_request(&p, &s, true), Ok(()));
        }
    }

    #[test]
    fn user_password_round_trip(pw in prop::collection::vec(1u8..=255, 0..=128), ra in any::<[u8; 16]>(),
                                secret in prop::collection::vec(any::<u8>(), 1..64)) {
        let s = Secret::new(&secret).unwrap();
        let mut hidden = [0u8; 128];
        let n = crypto::hide_user_password(&s, &ra, &pw, &mut hidden).unwrap();
        prop_assert_eq!(n % 16, 0);
        let mut out = [0u8; 128];
        prop_assert_eq!(crypto::recover_user_password(&s, &ra, &hidden[..n], &mut out).unwrap(), &pw[..]);
    }

    #[test]
    fn tunnel_password_round_trip(pw in prop::collection::vec(any::<u8>(), 0..=239), ra in any::<[u8; 16]>(),
                                  salt in any::<[u8; 2]>()) {
        let s = Secret::new(b"tunnel").unwrap();
        let mut v = [0u8; 256];
        let n = crypto::hide_tunnel_password(&s, &ra, salt, &pw, &mut v).unwrap();
        prop_assert!(n <= 252);
        let mut out = [0u8; 256];
        prop_assert_eq!(crypto::recover_tunnel_password(&s, &ra, &v[..n], &mut out).unwrap(), &pw[..]);
    }

    #[test]
    fn ipv6_prefix_round_trip(len in 0u8..=128, addr in any::<[u8; 16]>()) {
        let s = Secret::new(b"x").unwrap();
        let mut buf = [0u8; 128];
        let mut w = Writer::new(&mut buf, Code::ACCESS_ACCEPT, 0, [0; 16]).unwrap();
        let pre = Ipv6Prefix { len, addr: Ipv6Addr::from(addr) };
        w.ipv6_prefix(AttrType::DELEGATED_IPV6_PREFIX, pre).unwrap();
        let n = w.finish(&s).unwrap();
        let p = Packet::new_checked(&buf[..n]).unwrap();
        let got = p.attribute(AttrType::DELEGATED_IPV6_PREFIX).unwrap().as_ipv6_prefix().unwrap();
        prop_assert_eq!(got.len, len);
        let bits = u128::from_be_bytes(addr);
        let mask = if len == 0 { 0 } else { u128::MAX << (128 - u32::from(len)) };
        prop_assert_eq!(u128::from_be_bytes(got.addr.octets()), bits & mask);
    }

    #[test]
    fn arbitrary_bytes_never_panic(b in prop::collection::vec(any::<u8>(), 0..600)) {
        if let Ok(p) = Packet::new_checked(&b[..]) {
            for a in p.attributes() {
                let a = a.unwrap();
                let _ = (a.as_ipv6_prefix(), a.as_extended());
                if let Some((_, v)) = a.as_vendor_specific() { v.for_each(drop); }
            }
            let s = Secret::new(b"s").unwrap();
            let _ = crypto::verify_request(&p, &s, true);
            let _ = crypto::verify_response(&p, &s, &[0; 16], true);
            let mut out = [0u8; 128];
            let _ = p.user_password(&s, &mut out);
        }
    }
}
