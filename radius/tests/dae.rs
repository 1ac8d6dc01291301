//! RFC 5176 Dynamic Authorization server: allow-list, authenticators,
//! Message-Authenticator, Event-Timestamp window, duplicates, session identification,
//! ACK/NAK with Error-Cause and Proxy-State.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::many_single_char_names,
    clippy::map_unwrap_or,
    reason = "tests"
)]

use core::net::{IpAddr, Ipv4Addr};
use core::time::Duration;

use bng_radius::crypto::{self, Secret};
use bng_radius::dae::{DaeClient, DaeConfig, DaeDrop, DaeKind, DaeServer};
use bng_radius::dict::{AttrType, Code, ErrorCause};
use bng_radius::packet::{AttrList, Packet, Repr, Writer};
use bng_radius::{Attr, VerifyError};

const NOW: u64 = 1_700_000_000;
const RADIUS: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));

fn clients() -> Vec<DaeClient> {
    vec![DaeClient {
        addr: RADIUS,
        secret: Secret::new(b"coasecret").unwrap(),
    }]
}

fn request(code: Code, id: u8, ts: Option<u32>, secret: &[u8]) -> Vec<u8> {
    let s = Secret::new(secret).unwrap();
    let mut b = vec![0u8; 256];
    let mut w = Writer::new(&mut b, code, id, [0; 16]).unwrap();
    w.attribute(AttrType::USER_NAME, b"alice").unwrap();
    w.attribute(AttrType::ACCT_SESSION_ID, b"sess-0001")
        .unwrap();
    w.ipv4(AttrType::FRAMED_IP_ADDRESS, Ipv4Addr::new(100, 64, 0, 10))
        .unwrap();
    w.attribute(AttrType::NAS_PORT_ID, b"eth0.100").unwrap();
    w.attribute(AttrType::CALLING_STATION_ID, b"02-00-00-00-00-01")
        .unwrap();
    if let Some(t) = ts {
        w.u32(AttrType::EVENT_TIMESTAMP, t).unwrap();
    }
    w.attribute(AttrType::PROXY_STATE, b"ps1").unwrap();
    w.u32(AttrType::SESSION_TIMEOUT, 600).unwrap();
    let n = w.finish(&s).unwrap();
    b.truncate(n);
    b
}

#[test]
fn coa_and_disconnect_ack_nak() {
    let cl = clients();
    let mut srv = DaeServer::new(DaeConfig::default(), &cl);
    let now = Duration::from_secs(NOW);
    let ts = u32::try_from(NOW).unwrap();
    for (i, (code, kind, ack, nak)) in [
        (
            Code::COA_REQUEST,
            DaeKind::Coa,
            Code::COA_ACK,
            Code::COA_NAK,
        ),
        (
            Code::DISCONNECT_REQUEST,
            DaeKind::Disconnect,
            Code::DISCONNECT_ACK,
            Code::DISCONNECT_NAK,
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let req = request(code, u8::try_from(i).unwrap(), Some(ts), b"coasecret");
        let r = srv.handle_packet(now, RADIUS, &req).unwrap();
        assert_eq!(r.kind, kind);
        assert_eq!(r.session.user_name, Some(&b"alice"[..]));
        assert_eq!(r.session.acct_session_id, Some(&b"sess-0001"[..]));
        assert_eq!(
            r.session.framed_ip_address,
            Some(Ipv4Addr::new(100, 64, 0, 10))
        );
        assert_eq!(r.session.nas_port_id, Some(&b"eth0.100"[..]));
        assert_eq!(
            r.session.calling_station_id,
            Some(&b"02-00-00-00-00-01"[..])
        );
        assert!(!r.session.is_empty());
        let reqp = Packet::new_checked(&req[..]).unwrap();
        let secret = Secret::new(b"coasecret").unwrap();
        for (outcome, want) in [
            (Ok(()), ack),
            (Err(ErrorCause::SESSION_CONTEXT_NOT_FOUND), nak),
        ] {
            let mut tx = [0u8; 256];
            let n = srv.respond(&r, outcome, &mut tx).unwrap();
            let p = Packet::new_checked(&tx[..n]).unwrap();
            assert_eq!(p.code(), want);
            assert_eq!(p.identifier(), reqp.identifier());
            assert_eq!(
                crypto::verify_response(&p, &secret, &reqp.authenticator(), true),
                Ok(())
            );
            assert_eq!(
                p.attributes().next().unwrap().unwrap().kind,
                AttrType::MESSAGE_AUTHENTICATOR
            );
            assert_eq!(p.attribute(AttrType::PROXY_STATE).unwrap().value, b"ps1");
            assert_eq!(
                p.attribute(AttrType::ERROR_CAUSE).and_then(|a| a.as_u32()),
                outcome.err().map(|c| c.0)
            );
        }
    }
    assert_eq!(srv.stats().accepted, 2);
}

#[test]
fn invalid_requests_are_silently_discarded_and_counted() {
    let cl = clients();
    let mut srv = DaeServer::new(DaeConfig::default(), &cl);
    let now = Duration::from_secs(NOW);
    let ts = u32::try_from(NOW).unwrap();
    let good = request(Code::COA_REQUEST, 9, Some(ts), b"coasecret");
    // unknown source
    let other = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7));
    assert_eq!(
        srv.handle_packet(now, other, &good).unwrap_err(),
        DaeDrop::UnknownClient
    );
    // wrong secret
    let bad = request(Code::COA_REQUEST, 9, Some(ts), b"wrong");
    assert_eq!(
        srv.handle_packet(now, RADIUS, &bad).unwrap_err(),
        DaeDrop::Verify(VerifyError::BadAuthenticator)
    );
    // no Message-Authenticator (a radclient without Message-Authenticator=0x00)
    let attrs = [
        Attr {
            kind: AttrType::USER_NAME,
            value: b"alice",
        },
        Attr {
            kind: AttrType::EVENT_TIMESTAMP,
            value: &ts.to_be_bytes(),
        },
    ];
    let r = Repr {
        code: Code::DISCONNECT_REQUEST,
        identifier: 1,
        authenticator: [0; 16],
        attributes: AttrList::List(&attrs),
    };
    let mut b = [0u8; 64];
    let n = r.emit(&mut b).unwrap();
    crypto::sign(&mut b[..n], &Secret::new(b"coasecret").unwrap()).unwrap();
    assert_eq!(
        srv.handle_packet(now, RADIUS, &b[..n]).unwrap_err(),
        DaeDrop::Verify(VerifyError::MissingMessageAuthenticator)
    );
    // ... accepted when the operator allows it
    let relaxed = DaeConfig {
        require_message_authenticator: false,
        ..DaeConfig::default()
    };
    let mut srv2 = DaeServer::new(relaxed, &cl);
    assert!(srv2.handle_packet(now, RADIUS, &b[..n]).is_ok());
    // Event-Timestamp missing / stale / future
    let none = request(Code::COA_REQUEST, 2, None, b"coasecret");
    assert_eq!(
        srv.handle_packet(now, RADIUS, &none).unwrap_err(),
        DaeDrop::MissingEventTimestamp
    );
    let old = request(Code::COA_REQUEST, 3, Some(ts - 301), b"coasecret");
    assert_eq!(
        srv.handle_packet(now, RADIUS, &old).unwrap_err(),
        DaeDrop::StaleEventTimestamp
    );
    let fut = request(Code::COA_REQUEST, 4, Some(ts + 301), b"coasecret");
    assert_eq!(
        srv.handle_packet(now, RADIUS, &fut).unwrap_err(),
        DaeDrop::StaleEventTimestamp
    );
    // wrong code: an Access-Request on 3799
    let mut ar = [0u8; 64];
    let w = Writer::new(&mut ar, Code::ACCESS_REQUEST, 5, [1; 16]).unwrap();
    let n = w.finish(&Secret::new(b"coasecret").unwrap()).unwrap();
    assert_eq!(
        srv.handle_packet(now, RADIUS, &ar[..n]).unwrap_err(),
        DaeDrop::UnexpectedCode
    );
    // malformed
    assert!(matches!(
        srv.handle_packet(now, RADIUS, &[43, 0, 0]).unwrap_err(),
        DaeDrop::Malformed(_)
    ));
    // replay: accepted once, then a duplicate
    assert!(srv.handle_packet(now, RADIUS, &good).is_ok());
    assert_eq!(
        srv.handle_packet(now, RADIUS, &good).unwrap_err(),
        DaeDrop::Duplicate
    );
    let s = *srv.stats();
    assert_eq!(
        (
            s.unknown_client,
            s.verify_failed,
            s.timestamp,
            s.unexpected_code,
            s.malformed,
            s.duplicate,
            s.accepted
        ),
        (1, 2, 3, 1, 1, 1, 1)
    );
}

#[test]
fn corpus_rfc5176_requests_have_valid_shape() {
    // The tcpdump RFC 5176 capture has no published secret: check it parses and the
    // server drops it (unknown client), never panics.
    let Some(dir) = bng_testkit::corpus::dir() else {
        return;
    };
    let cl = clients();
    let mut srv = DaeServer::new(DaeConfig::default(), &cl);
    bng_testkit::corpus::read_capture(&dir.join("radius/tcpdump__RADIUS-RFC5176.pcap"), |f| {
        if let Some(u) = f.udp() {
            let r = srv.handle_packet(Duration::from_secs(NOW), u.src, u.payload);
            assert!(r.is_err());
            let r = srv.handle_packet(Duration::from_secs(NOW), RADIUS, u.payload);
            assert!(r.is_err());
        }
    });
}

#[test]
fn nas_identification_mismatch() {
    let cl = clients();
    let mut srv = DaeServer::new(DaeConfig::default(), &cl);
    let s = Secret::new(b"coasecret").unwrap();
    let mut b = [0u8; 128];
    let mut w = Writer::new(&mut b, Code::DISCONNECT_REQUEST, 1, [0; 16]).unwrap();
    w.attribute(AttrType::ACCT_SESSION_ID, b"s").unwrap();
    w.ipv4(AttrType::NAS_IP_ADDRESS, Ipv4Addr::new(192, 0, 2, 99))
        .unwrap();
    w.u32(AttrType::EVENT_TIMESTAMP, u32::try_from(NOW).unwrap())
        .unwrap();
    let n = w.finish(&s).unwrap();
    let r = srv
        .handle_packet(Duration::from_secs(NOW), RADIUS, &b[..n])
        .unwrap();
    assert!(!r.session.is_empty());
    assert_eq!(
        r.session
            .check_nas(Some(Ipv4Addr::new(192, 0, 2, 99)), None),
        Ok(())
    );
    let e = r
        .session
        .check_nas(Some(Ipv4Addr::new(192, 0, 2, 2)), Some(b"bng1"));
    assert_eq!(e, Err(ErrorCause::NAS_IDENTIFICATION_MISMATCH));
    let mut tx = [0u8; 128];
    let m = srv.respond(&r, e, &mut tx).unwrap();
    let p = Packet::new_checked(&tx[..m]).unwrap();
    assert_eq!(p.code(), Code::DISCONNECT_NAK);
    assert_eq!(
        p.attribute(AttrType::ERROR_CAUSE).unwrap().as_u32(),
        Some(403)
    );
}
