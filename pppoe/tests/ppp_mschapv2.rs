//! MS-CHAPv2 against the worked example of RFC 2759 section 9.2 (also in
//! `../shared/corpus/vectors/mschapv2-rfc2759-sec9.2.txt`, checked when present).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests"
)]

use bng_pppoe::ppp::mschapv2::{
    challenge_hash, generate_authenticator_response, generate_nt_response, hash_nt_password_hash,
    nt_password_hash, verify_nt_response,
};

fn hex<const N: usize>(s: &str) -> [u8; N] {
    let v: Vec<u8> = (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect();
    v.try_into().unwrap()
}

struct Vector {
    user: Vec<u8>,
    password: Vec<u8>,
    auth_challenge: [u8; 16],
    peer_challenge: [u8; 16],
    challenge: [u8; 8],
    password_hash: [u8; 16],
    password_hash_hash: [u8; 16],
    nt_response: [u8; 24],
    authenticator_response: String,
}

/// RFC 2759 section 9.2.
fn rfc_vector() -> Vector {
    Vector {
        user: b"User".to_vec(),
        password: b"clientPass".to_vec(),
        auth_challenge: hex("5b5d7c7d7b3f2f3e3c2c602132262628"),
        peer_challenge: hex("21402324255e262a28295f2b3a337c7e"),
        challenge: hex("d02e4386bce91226"),
        password_hash: hex("44ebba8d5312b8d611474411f56989ae"),
        password_hash_hash: hex("41c00c584bd2d91c4017a2a12fa59f3f"),
        nt_response: hex("82309ecd8d708b5ea08faa3981cd83544233114a3d85d6df"),
        authenticator_response: "S=407A5589115FD0D6209F510FE9C04566932CDA56".into(),
    }
}

/// The same vector read from the shared corpus file, if it is there.
fn corpus_vector() -> Option<Vector> {
    let path = bng_testkit::corpus::dir()?.join("vectors/mschapv2-rfc2759-sec9.2.txt");
    let text = std::fs::read_to_string(path).ok()?;
    let get = |k: &str| -> String {
        text.lines()
            .find_map(|l| {
                let (key, v) = l.split_once('=')?;
                (key.trim() == k).then(|| v.split('#').next().unwrap().trim().to_string())
            })
            .unwrap_or_else(|| panic!("{k} missing"))
    };
    let user: [u8; 4] = hex(&get("username"));
    Some(Vector {
        user: user.to_vec(),
        password: get("password").into_bytes(),
        auth_challenge: hex(&get("authenticator_challenge")),
        peer_challenge: hex(&get("peer_challenge")),
        challenge: hex(&get("challenge")),
        password_hash: hex(&get("password_hash")),
        password_hash_hash: hex(&get("password_hash_hash")),
        nt_response: hex(&get("nt_response")),
        authenticator_response: get("authenticator_response"),
    })
}

fn check(v: &Vector) {
    assert_eq!(
        challenge_hash(&v.peer_challenge, &v.auth_challenge, &v.user),
        v.challenge
    );
    assert_eq!(nt_password_hash(&v.password).unwrap(), v.password_hash);
    assert_eq!(
        hash_nt_password_hash(&v.password_hash),
        v.password_hash_hash
    );
    let nt =
        generate_nt_response(&v.auth_challenge, &v.peer_challenge, &v.user, &v.password).unwrap();
    assert_eq!(nt, v.nt_response);
    let s = generate_authenticator_response(
        &v.password,
        &nt,
        &v.peer_challenge,
        &v.auth_challenge,
        &v.user,
    )
    .unwrap();
    assert_eq!(core::str::from_utf8(&s).unwrap(), v.authenticator_response);
    assert!(
        verify_nt_response(
            &v.auth_challenge,
            &v.peer_challenge,
            &v.user,
            &v.password,
            &nt
        )
        .unwrap()
    );
    assert!(
        !verify_nt_response(&v.auth_challenge, &v.peer_challenge, &v.user, b"wrong", &nt).unwrap()
    );
}

#[test]
fn rfc2759_section_9_2() {
    check(&rfc_vector());
}

#[test]
fn corpus_vector_agrees() {
    if let Some(v) = corpus_vector() {
        check(&v);
    }
}

#[test]
fn non_utf8_or_overlong_password_is_a_usage_error() {
    assert!(nt_password_hash(&[0xff, 0xfe]).is_err());
    assert!(nt_password_hash(&[b'a'; 257]).is_err());
    assert!(nt_password_hash(&[b'a'; 256]).is_ok());
}

/// The AC side of MS-CHAPv2 in a `Session`, driven with the RFC 2759 section 9.2
/// values: our challenge is the RFC's Authenticator-Challenge, the host answers
/// with the RFC's Peer-Challenge and NT-Response, and the Success message carries
/// the RFC's authenticator response.
#[test]
fn ac_session_runs_mschapv2_with_the_rfc_values() {
    use bng_pppoe::ppp::lcp::AuthProto;
    use bng_pppoe::ppp::packet::{Code, ControlPacket, ControlRepr};
    use bng_pppoe::ppp::session::{AuthRequest, Config, Session};
    use core::time::Duration;

    let v = rfc_vector();
    let mut cfg = Config::server(AuthProto::MsChapV2, b"bng", [10, 0, 0, 1]);
    cfg.ipv6 = false;
    let mut ac = Session::from_parts(&cfg, 5, 1, v.auth_challenge);
    ac.set_peer_ipv4([10, 0, 0, 2]);
    let now = Duration::ZERO;
    ac.start(now);
    let frame = |proto: u16, code: u8, id: u8, data: &[u8]| {
        let mut f = vec![0x11, 0, 0, 5];
        f.extend_from_slice(&u16::try_from(data.len() + 6).unwrap().to_be_bytes());
        f.extend_from_slice(&proto.to_be_bytes());
        f.extend_from_slice(&[code, id]);
        f.extend_from_slice(&u16::try_from(data.len() + 4).unwrap().to_be_bytes());
        f.extend_from_slice(data);
        f
    };
    let mut buf = [0u8; 1500];
    // The AC's LCP Configure-Request asks for CHAP algorithm 0x81; ack it.
    let a = ac.poll_action(now, &mut buf).unwrap();
    let cr = ControlRepr::parse_bytes(&buf[8..a.len()]).unwrap();
    assert!(cr.data.windows(5).any(|w| w == [3, 5, 0xc2, 0x23, 0x81]));
    let ack = frame(0xc021, 2, cr.identifier, cr.data);
    ac.handle_packet(now, &ack).unwrap();
    // Our own request (magic only) gets acknowledged: LCP opens, challenge out.
    let req = frame(0xc021, 1, 1, &[5, 6, 1, 2, 3, 4]);
    ac.handle_packet(now, &req).unwrap();
    let mut challenge = None;
    while let Some(a) = ac.poll_action(now, &mut buf) {
        if buf[6..8] == [0xc2, 0x23] {
            let p = ControlPacket::new_checked(&buf[8..a.len()]).unwrap();
            assert_eq!(p.code(), Code(1));
            assert_eq!(p.data()[0], 16);
            assert_eq!(p.data()[1..17], v.auth_challenge);
            challenge = Some(p.identifier());
        }
    }
    let id = challenge.expect("MS-CHAPv2 challenge");
    // The host's Response: Value-Size 49, Peer-Challenge, 8 zero, NT-Response, flags.
    let mut value = vec![49u8];
    value.extend_from_slice(&v.peer_challenge);
    value.extend_from_slice(&[0; 8]);
    value.extend_from_slice(&v.nt_response);
    value.push(0);
    value.extend_from_slice(&v.user);
    let resp = frame(0xc223, 2, id, &value);
    let req = ac
        .handle_packet(now, &resp)
        .unwrap()
        .expect("credentials for the caller");
    assert!(matches!(req, AuthRequest::MsChapV2 { .. }));
    assert!(req.check_password(&v.user, &v.password));
    assert!(!req.check_password(&v.user, b"nope"));
    let s = req.mschapv2_authenticator_response(&v.password).unwrap();
    assert!(
        ac.auth_accept(now).is_err(),
        "MS-CHAPv2 needs the S= string"
    );
    ac.auth_accept_mschapv2(now, &s).unwrap();
    let a = ac.poll_action(now, &mut buf).unwrap();
    assert_eq!(&buf[6..8], &[0xc2, 0x23]);
    let p = ControlPacket::new_checked(&buf[8..a.len()]).unwrap();
    assert_eq!((p.code(), p.identifier()), (Code(3), id));
    assert_eq!(
        core::str::from_utf8(p.data()).unwrap(),
        format!("{} M=Access granted", v.authenticator_response)
    );
    // IPCP starts.
    let a = ac.poll_action(now, &mut buf).unwrap();
    assert_eq!(&buf[6..8], &[0x80, 0x21]);
    let _ = a;
}
