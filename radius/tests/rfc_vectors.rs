//! RFC 2865 section 7 examples (`../shared/corpus/vectors/radius-rfc2865-sec7-examples.txt`,
//! transcribed here as constants so the test runs without the corpus): decode and
//! encode byte-exact, User-Password recovers "arctangent", the Access-Accept's
//! Response Authenticator verifies. Plus RFC 2868 / RFC 3579 / RFC 6929 round trips.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::many_single_char_names,
    reason = "tests"
)]

use core::net::Ipv4Addr;

use bng_radius::VerifyError;
use bng_radius::crypto::{self, Secret};
use bng_radius::dict::{AttrType, Code};
use bng_radius::packet::{Attr, AttrList, Packet, Repr, Writer};

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

const REQ_71: &str = "010000380f403f9473978057bd83d5cb98f4227a01066e656d6f02120dbe708d93d413ce3196e43f782a0aee0406c0a80110050600000003";
const ACC_71: &str = "0200002686fe220e7624ba2a1005f6bf9b55e0b20606000000010f06000000000e06c0a80103";
const REQ_72: &str = "010100472aee86f08d0d55969ca5978e0d3367a20108666c6f707379031316e97557c316185895f293ff63440772750406c0a80110050600000014060600000002070600000001";
const CHAL_73: &str = "0b02004e36f3c8764ae8c71157403c0c71ff9c4512304368616c6c656e67652033323736393433302e2020456e74657220726573706f6e73652061742070726f6d70742e180a3332373639343330";

/// Reads the shared vector file when present and checks it matches the constants.
#[test]
fn shared_vector_file_matches_constants() {
    let Some(dir) = bng_testkit::corpus::dir() else {
        bng_testkit::skip_or_fail("rfc_vectors", "no ../shared/corpus");
        return;
    };
    let text =
        std::fs::read_to_string(dir.join("vectors/radius-rfc2865-sec7-examples.txt")).unwrap();
    let hexes: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("hex = "))
        .collect();
    assert_eq!(hexes, [REQ_71, ACC_71, REQ_72, CHAL_73]);
}

#[test]
fn rfc2865_7_1_access_request_decodes_and_password_is_arctangent() {
    let secret = Secret::new(b"xyzzy5461").unwrap();
    let bytes = unhex(REQ_71);
    let p = Packet::new_checked(&bytes[..]).unwrap();
    assert_eq!(p.code(), Code::ACCESS_REQUEST);
    assert_eq!(p.identifier(), 0);
    assert_eq!(p.length(), 56);
    assert_eq!(
        p.attribute(AttrType::USER_NAME).unwrap().as_text(),
        Some("nemo")
    );
    assert_eq!(
        p.attribute(AttrType::NAS_IP_ADDRESS).unwrap().as_ipv4(),
        Some(Ipv4Addr::new(192, 168, 1, 16))
    );
    assert_eq!(p.attribute(AttrType::NAS_PORT).unwrap().as_u32(), Some(3));
    let mut out = [0u8; 128];
    assert_eq!(p.user_password(&secret, &mut out).unwrap(), b"arctangent");
    // No Message-Authenticator in 1997: accepted only when not required.
    assert_eq!(crypto::verify_request(&p, &secret, false), Ok(()));
    assert_eq!(
        crypto::verify_request(&p, &secret, true),
        Err(VerifyError::MissingMessageAuthenticator)
    );

    // Encode it back from the same parts, byte-exact (the Repr path, no M-A).
    let mut hidden = [0u8; 16];
    let n = crypto::hide_user_password(&secret, &p.authenticator(), b"arctangent", &mut hidden)
        .unwrap();
    assert_eq!(n, 16);
    let attrs = [
        Attr {
            kind: AttrType::USER_NAME,
            value: b"nemo",
        },
        Attr {
            kind: AttrType::USER_PASSWORD,
            value: &hidden,
        },
        Attr {
            kind: AttrType::NAS_IP_ADDRESS,
            value: &[192, 168, 1, 16],
        },
        Attr {
            kind: AttrType::NAS_PORT,
            value: &3u32.to_be_bytes(),
        },
    ];
    let r = Repr {
        code: Code::ACCESS_REQUEST,
        identifier: 0,
        authenticator: p.authenticator(),
        attributes: AttrList::List(&attrs),
    };
    let mut buf = [0u8; 128];
    let n = r.emit(&mut buf).unwrap();
    assert_eq!(&buf[..n], &bytes[..]);
    // and the parsed Repr re-emits byte-identically
    let r2 = Repr::parse(&p).unwrap();
    let n = r2.emit(&mut buf).unwrap();
    assert_eq!(&buf[..n], &bytes[..]);
}

#[test]
fn rfc2865_7_1_access_accept_verifies_and_encodes_byte_exact() {
    let secret = Secret::new(b"xyzzy5461").unwrap();
    let req = unhex(REQ_71);
    let req = Packet::new_checked(&req[..]).unwrap();
    let bytes = unhex(ACC_71);
    let p = Packet::new_checked(&bytes[..]).unwrap();
    assert_eq!(p.code(), Code::ACCESS_ACCEPT);
    assert_eq!(
        crypto::verify_response(&p, &secret, &req.authenticator(), false),
        Ok(())
    );
    // BlastRADIUS-safe default: a reply without Message-Authenticator is refused.
    assert_eq!(
        crypto::verify_response(&p, &secret, &req.authenticator(), true),
        Err(VerifyError::MissingMessageAuthenticator)
    );
    // A wrong request authenticator or secret fails the MD5 check.
    assert_eq!(
        crypto::verify_response(&p, &secret, &[0; 16], false),
        Err(VerifyError::BadAuthenticator)
    );
    let other = Secret::new(b"xyzzy5462").unwrap();
    assert_eq!(
        crypto::verify_response(&p, &other, &req.authenticator(), false),
        Err(VerifyError::BadAuthenticator)
    );

    // Encode: attributes + request authenticator, then sign => identical bytes.
    let attrs = [
        Attr {
            kind: AttrType::SERVICE_TYPE,
            value: &1u32.to_be_bytes(),
        },
        Attr {
            kind: AttrType::LOGIN_SERVICE,
            value: &0u32.to_be_bytes(),
        },
        Attr {
            kind: AttrType::LOGIN_IP_HOST,
            value: &[192, 168, 1, 3],
        },
    ];
    let r = Repr {
        code: Code::ACCESS_ACCEPT,
        identifier: 0,
        authenticator: req.authenticator(),
        attributes: AttrList::List(&attrs),
    };
    let mut buf = [0u8; 64];
    let n = r.emit(&mut buf).unwrap();
    crypto::sign(&mut buf[..n], &secret).unwrap();
    assert_eq!(&buf[..n], &bytes[..]);
}

#[test]
fn rfc2865_7_2_and_7_3_parse_and_reemit() {
    for h in [REQ_72, CHAL_73] {
        let bytes = unhex(h);
        let p = Packet::new_checked(&bytes[..]).unwrap();
        let r = Repr::parse(&p).unwrap();
        let mut buf = [0u8; 128];
        let n = r.emit(&mut buf).unwrap();
        assert_eq!(&buf[..n], &bytes[..]);
    }
    let bytes = unhex(REQ_72);
    let p = Packet::new_checked(&bytes[..]).unwrap();
    let chap = p.attribute(AttrType::CHAP_PASSWORD).unwrap();
    assert_eq!(chap.value.len(), 17);
    assert_eq!(chap.value[0], 0x16);
    assert_eq!(
        p.attribute(AttrType::USER_NAME).unwrap().as_text(),
        Some("flopsy")
    );
    let bytes = unhex(CHAL_73);
    let p = Packet::new_checked(&bytes[..]).unwrap();
    assert_eq!(p.code(), Code::ACCESS_CHALLENGE);
    assert_eq!(p.attribute(AttrType::STATE).unwrap().value, b"32769430");
}

#[test]
fn every_truncated_prefix_is_rejected() {
    for h in [REQ_71, ACC_71, REQ_72, CHAL_73] {
        let bytes = unhex(h);
        for n in 0..bytes.len() {
            assert!(Packet::new_checked(&bytes[..n]).is_err(), "{h} prefix {n}");
        }
        // trailing padding is ignored
        let mut padded = bytes.clone();
        padded.extend_from_slice(&[0; 7]);
        let p = Packet::new_checked(&padded[..]).unwrap();
        assert_eq!(p.as_bytes(), &bytes[..]);
    }
}

#[test]
fn writer_puts_message_authenticator_first_and_signs_every_kind() {
    let secret = Secret::new(b"testing123").unwrap();
    let ra = [7u8; 16];
    // Access-Request with PAP
    let mut buf = [0u8; 256];
    let mut w = Writer::new(&mut buf, Code::ACCESS_REQUEST, 9, ra).unwrap();
    w.attribute(AttrType::USER_NAME, b"alice").unwrap();
    w.user_password(&secret, b"alicepw").unwrap();
    w.ipv4(AttrType::NAS_IP_ADDRESS, Ipv4Addr::LOCALHOST)
        .unwrap();
    let n = w.finish(&secret).unwrap();
    let p = Packet::new_checked(&buf[..n]).unwrap();
    assert_eq!(
        p.attributes().next().unwrap().unwrap().kind,
        AttrType::MESSAGE_AUTHENTICATOR
    );
    assert_eq!(p.authenticator(), ra);
    assert_eq!(crypto::verify_request(&p, &secret, true), Ok(()));
    let mut out = [0u8; 128];
    assert_eq!(p.user_password(&secret, &mut out).unwrap(), b"alicepw");
    // a flipped bit anywhere breaks the Message-Authenticator
    for i in 20..n {
        let mut m = buf;
        m[i] ^= 1;
        if let Ok(q) = Packet::new_checked(&m[..n]) {
            assert!(
                crypto::verify_request(&q, &secret, true).is_err(),
                "byte {i}"
            );
        }
    }

    // Access-Accept answering it, with Tunnel-Password
    let mut rb = [0u8; 256];
    let mut w = Writer::new(&mut rb, Code::ACCESS_ACCEPT, 9, ra).unwrap();
    w.tunnel_password(&secret, 1, [0x12, 0x34], b"tunnel-secret")
        .unwrap();
    let rn = w.finish(&secret).unwrap();
    let rp = Packet::new_checked(&rb[..rn]).unwrap();
    assert_eq!(crypto::verify_response(&rp, &secret, &ra, true), Ok(()));
    let tp = rp.attribute(AttrType::TUNNEL_PASSWORD).unwrap();
    assert_eq!(tp.value[0], 1);
    assert_eq!(tp.value[1] & 0x80, 0x80);
    let mut out = [0u8; 256];
    assert_eq!(
        crypto::recover_tunnel_password(&secret, &ra, &tp.value[1..], &mut out).unwrap(),
        b"tunnel-secret"
    );

    // Accounting-Request and CoA-Request: request hash + M-A with zero authenticator
    for code in [
        Code::ACCOUNTING_REQUEST,
        Code::COA_REQUEST,
        Code::DISCONNECT_REQUEST,
    ] {
        let mut b = [0u8; 128];
        let mut w = Writer::new(&mut b, code, 3, [0xee; 16]).unwrap();
        w.u32(AttrType::ACCT_STATUS_TYPE, 1).unwrap();
        w.attribute(AttrType::ACCT_SESSION_ID, b"s1").unwrap();
        let n = w.finish(&secret).unwrap();
        let p = Packet::new_checked(&b[..n]).unwrap();
        assert_eq!(
            crypto::verify_request(&p, &secret, true),
            Ok(()),
            "{code:?}"
        );
        let other = Secret::new(b"nope").unwrap();
        assert_eq!(
            crypto::verify_request(&p, &other, true),
            Err(VerifyError::BadAuthenticator)
        );
    }
}

#[test]
fn chap_and_extended_and_vsa() {
    let v = crypto::chap_password(0x16, b"secret", &[1, 2, 3]);
    assert!(crypto::verify_chap_password(&v, b"secret", &[1, 2, 3]));
    assert!(!crypto::verify_chap_password(&v, b"secreT", &[1, 2, 3]));

    let secret = Secret::new(b"s").unwrap();
    let mut buf = [0u8; 1024];
    let mut w = Writer::new(&mut buf, Code::ACCESS_ACCEPT, 1, [0; 16]).unwrap();
    w.vendor_specific(9, 1, b"cisco-avpair=x").unwrap();
    w.extended(AttrType::EXTENDED_TYPE_1, 7, b"short").unwrap();
    let long = [0xabu8; 400];
    w.extended(AttrType::LONG_EXTENDED_TYPE_1, 9, &long)
        .unwrap();
    let n = w.finish(&secret).unwrap();
    let p = Packet::new_checked(&buf[..n]).unwrap();
    let (vid, mut subs) = p
        .attribute(AttrType::VENDOR_SPECIFIC)
        .unwrap()
        .as_vendor_specific()
        .unwrap();
    assert_eq!(vid, 9);
    let s = subs.next().unwrap().unwrap();
    assert_eq!((s.vendor_type, s.value), (1, &b"cisco-avpair=x"[..]));
    assert!(subs.next().is_none());
    let ext: Vec<_> = p
        .attributes()
        .filter_map(|a| a.unwrap().as_extended())
        .collect();
    assert_eq!(ext.len(), 3);
    assert_eq!((ext[0].ext_type, ext[0].value), (7, &b"short"[..]));
    assert!(ext[1].more && !ext[2].more);
    let joined: Vec<u8> = ext[1..]
        .iter()
        .flat_map(|e| e.value.iter().copied())
        .collect();
    assert_eq!(joined, long);
}

/// Accounting-Response: we sign the Message-Authenticator over a zero Authenticator field
/// (FreeRADIUS' form); CoA/Disconnect ACK/NAK over the request authenticator (what
/// radclient 3.2 verifies). Both forms are accepted on receipt for all of them.
#[test]
fn reply_message_authenticator_forms() {
    use hmac::{Hmac, Mac};
    let secret = Secret::new(b"coasecret").unwrap();
    let ra = [0x42u8; 16];
    for code in [
        Code::COA_ACK,
        Code::DISCONNECT_NAK,
        Code::ACCOUNTING_RESPONSE,
    ] {
        // our form
        let mut b = [0u8; 64];
        let w = Writer::new(&mut b, code, 1, ra).unwrap();
        let n = w.finish(&secret).unwrap();
        let mut z = b[..n].to_vec();
        if code == Code::ACCOUNTING_RESPONSE {
            z[4..20].fill(0);
        } else {
            z[4..20].copy_from_slice(&ra);
        }
        z[22..38].fill(0);
        let mut mac = <Hmac<md5::Md5> as Mac>::new_from_slice(b"coasecret").unwrap();
        mac.update(&z);
        assert_eq!(&b[22..38], &mac.finalize().into_bytes()[..], "{code:?}");
        let p = Packet::new_checked(&b[..n]).unwrap();
        assert_eq!(crypto::verify_response(&p, &secret, &ra, true), Ok(()));
        // the other form
        let mut o = b[..n].to_vec();
        if code == Code::ACCOUNTING_RESPONSE {
            o[4..20].copy_from_slice(&ra);
        } else {
            o[4..20].fill(0);
        }
        o[22..38].fill(0);
        let mut mac = <Hmac<md5::Md5> as Mac>::new_from_slice(b"coasecret").unwrap();
        mac.update(&o);
        let tag = mac.finalize().into_bytes();
        o[22..38].copy_from_slice(&tag);
        let a = crypto::authenticator_hash(&secret, &o, &ra);
        o[4..20].copy_from_slice(&a);
        let p = Packet::new_checked(&o[..]).unwrap();
        assert_eq!(
            crypto::verify_response(&p, &secret, &ra, true),
            Ok(()),
            "{code:?}"
        );
    }
}
