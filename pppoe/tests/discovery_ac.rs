//! The access-concentrator discovery logic (RFC 2516 section 5): PADI -> PADO with a
//! stateless cookie, PADR -> PADS, PADT both ways, and every drop reason.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::too_many_lines,
    clippy::many_single_char_names,
    clippy::unchecked_time_subtraction,
    reason = "tests"
)]

use core::time::Duration;

use bng_pppoe::ac::{
    Ac, AcConfig, AnyService, CookieSecret, DropReason, Outcome, ServiceList, SessionAllocator,
    SessionId,
};
use bng_pppoe::discovery::{Code, TagType};
use bng_pppoe::ethernet::{BROADCAST, Header, Mac, Vlan};
use bng_pppoe::tags::{BBF_VENDOR_ID, SubOption, SubOptionType, VendorSpecific};

mod common;
use common::{discovery_frame as frame, parse_discovery as parse_reply, tag};

const AC_MAC: Mac = [0x02, 0, 0, 0, 0, 0xac];
const HOST: Mac = [0x02, 0, 0, 0, 0, 0x01];
const T0: Duration = Duration::from_secs(1_000);

/// A session table: sequential ids, idempotent per (peer, Host-Uniq), optional cap.
#[derive(Default)]
struct Table {
    sessions: Vec<(Mac, Option<Vec<u8>>, u16)>,
    next: u16,
    cap: Option<usize>,
    calls: usize,
}

impl SessionAllocator for Table {
    fn allocate(&mut self, peer: &Mac, host_uniq: Option<&[u8]>) -> Option<SessionId> {
        self.calls += 1;
        if let Some(s) = self
            .sessions
            .iter()
            .find(|s| s.0 == *peer && s.1.as_deref() == host_uniq)
        {
            return SessionId::new(s.2);
        }
        if self.cap.is_some_and(|c| self.sessions.len() >= c) {
            return None;
        }
        self.next += 1;
        self.sessions
            .push((*peer, host_uniq.map(<[u8]>::to_vec), self.next));
        SessionId::new(self.next)
    }

    fn release(&mut self, peer: &Mac, id: SessionId) -> bool {
        self.calls += 1;
        let before = self.sessions.len();
        self.sessions.retain(|s| !(s.0 == *peer && s.2 == id.get()));
        self.sessions.len() != before
    }
}

fn config() -> AcConfig<'static> {
    AcConfig {
        mac: AC_MAC,
        ac_name: b"bng-test",
        cookie_window: Duration::from_secs(30),
        max_payload: Some(1500),
    }
}

fn ac() -> Ac<'static, AnyService> {
    Ac::new(config(), AnyService, CookieSecret::new([7; 32])).unwrap()
}

fn header(dst: Mac, src: Mac, vlans: &[Vlan]) -> Header {
    let mut h = Header::new(dst, src, 0x8863);
    for (i, v) in vlans.iter().enumerate() {
        h.vlans[i] = *v;
    }
    h.vlan_count = u8::try_from(vlans.len()).unwrap();
    h
}

const SVLAN: Vlan = Vlan {
    tpid: 0x88a8,
    tci: 100,
};

fn padi(host_uniq: &[u8]) -> Vec<u8> {
    let mut vs = [0u8; 64];
    let n = VendorSpecific::emit(
        BBF_VENDOR_ID,
        &[SubOption {
            kind: SubOptionType::AGENT_CIRCUIT_ID,
            value: b"dslam1 atm 1/1:8.35",
        }],
        &mut vs,
    )
    .unwrap();
    frame(
        &header(BROADCAST, HOST, &[SVLAN, Vlan::dot1q(7)]),
        Code::PADI,
        0,
        &[
            tag(TagType::SERVICE_NAME, b""),
            tag(TagType::HOST_UNIQ, host_uniq),
            tag(TagType::RELAY_SESSION_ID, b"relay-1"),
            tag(TagType::PPP_MAX_PAYLOAD, &1500u16.to_be_bytes()),
            tag(TagType::VENDOR_SPECIFIC, &vs[..n]),
        ],
    )
}

/// Runs PADI through `ac` and returns the cookie of its PADO.
fn cookie_for(
    ac: &mut Ac<'_, impl bng_pppoe::ac::ServicePolicy>,
    now: Duration,
    padi: &[u8],
) -> Vec<u8> {
    let mut tx = [0u8; 1600];
    let mut t = Table::default();
    let Outcome::Reply {
        code: Code::PADO,
        len,
    } = ac.handle_frame(now, padi, &mut tx, &mut t)
    else {
        panic!("no PADO");
    };
    assert_eq!(t.calls, 0, "PADI must not touch the session table");
    parse_reply(&tx[..len]).3.ac_cookie.unwrap().to_vec()
}

fn padr(host_uniq: &[u8], cookie: &[u8], vlans: &[Vlan], src: Mac, service: &[u8]) -> Vec<u8> {
    frame(
        &header(AC_MAC, src, vlans),
        Code::PADR,
        0,
        &[
            tag(TagType::SERVICE_NAME, service),
            tag(TagType::HOST_UNIQ, host_uniq),
            tag(TagType::AC_COOKIE, cookie),
            tag(TagType::RELAY_SESSION_ID, b"relay-1"),
            tag(TagType::PPP_MAX_PAYLOAD, &1500u16.to_be_bytes()),
        ],
    )
}

#[test]
fn padi_gets_pado_on_the_same_vlans_with_echoed_tags() {
    let mut ac = ac();
    let mut tx = [0u8; 1600];
    let mut t = Table::default();
    let rx = padi(&[1, 2, 3, 4]);
    let Outcome::Reply { code, len } = ac.handle_frame(T0, &rx, &mut tx, &mut t) else {
        panic!()
    };
    assert_eq!(code, Code::PADO);
    let (h, code, sid, tags) = parse_reply(&tx[..len]);
    assert_eq!((code, sid), (Code::PADO, 0));
    assert_eq!((h.dst, h.src), (HOST, AC_MAC));
    assert_eq!(h.vlans(), &[SVLAN, Vlan::dot1q(7)]);
    assert_eq!(tags.ac_name, Some(&b"bng-test"[..]));
    assert_eq!(tags.service_name, Some(&b""[..]));
    assert_eq!(tags.host_uniq, Some(&[1u8, 2, 3, 4][..]));
    assert_eq!(tags.relay_session_id, Some(&b"relay-1"[..]));
    assert_eq!(tags.ppp_max_payload, Some(1500));
    assert_eq!(tags.ac_cookie.unwrap().len(), 16);
    assert_eq!(t.calls, 0);
    assert_eq!(ac.counters().pado_sent, 1);
    // Same input, same window: the same cookie (it is a function, not state).
    let c1 = cookie_for(&mut ac, T0, &rx);
    let c2 = cookie_for(&mut ac, T0 + Duration::from_secs(1), &rx);
    assert_eq!(c1, c2);
}

#[test]
fn valid_padr_gets_pads_and_a_session() {
    let mut ac = ac();
    let hu = [9, 9];
    let cookie = cookie_for(&mut ac, T0, &padi(&hu));
    let mut t = Table::default();
    let mut tx = [0u8; 1600];
    let rx = padr(&hu, &cookie, &[SVLAN, Vlan::dot1q(7)], HOST, b"");
    let Outcome::SessionStarted { len, session } = ac.handle_frame(T0, &rx, &mut tx, &mut t) else {
        panic!()
    };
    assert_eq!(session.session_id.get(), 1);
    assert_eq!(session.link.dst, HOST);
    assert_eq!(session.max_payload, Some(1500));
    let (h, code, sid, tags) = parse_reply(&tx[..len]);
    assert_eq!((code, sid), (Code::PADS, 1));
    assert_eq!(h.vlans(), &[SVLAN, Vlan::dot1q(7)]);
    assert_eq!(tags.host_uniq, Some(&hu[..]));
    assert_eq!(tags.relay_session_id, Some(&b"relay-1"[..]));
    assert_eq!(tags.service_name, Some(&b""[..]));
    // A repeated PADR (PADS lost) gets the same session from this allocator.
    let Outcome::SessionStarted { session: again, .. } = ac.handle_frame(T0, &rx, &mut tx, &mut t)
    else {
        panic!()
    };
    assert_eq!(again.session_id, session.session_id);
    assert_eq!(session.tags.host_uniq, Some(&hu[..]));
    assert_eq!(t.sessions.len(), 1);
    assert_eq!(ac.counters().pads_sent, 2);
}

#[test]
fn cookie_binds_mac_vlans_host_uniq_and_time() {
    let mut ac = ac();
    let hu = [5u8; 4];
    let vl = [SVLAN, Vlan::dot1q(7)];
    let cookie = cookie_for(&mut ac, T0, &padi(&hu));
    let mut tx = [0u8; 1600];
    let mut t = Table::default();
    let expect_drop = |ac: &mut Ac<'_, AnyService>, now, rx: &[u8], reason| {
        let mut tx = [0u8; 1600];
        let mut t = Table::default();
        assert_eq!(
            ac.handle_frame(now, rx, &mut tx, &mut t),
            Outcome::Dropped(reason)
        );
    };
    let other = [0x02, 0, 0, 0, 0, 0x02];
    expect_drop(
        &mut ac,
        T0,
        &padr(&hu, &cookie, &vl, other, b""),
        DropReason::BadCookie,
    );
    expect_drop(
        &mut ac,
        T0,
        &padr(&[6; 4], &cookie, &vl, HOST, b""),
        DropReason::BadCookie,
    );
    expect_drop(
        &mut ac,
        T0,
        &padr(&hu, &cookie, &vl[..1], HOST, b""),
        DropReason::BadCookie,
    );
    let mut forged = cookie.clone();
    forged[15] ^= 1;
    expect_drop(
        &mut ac,
        T0,
        &padr(&hu, &forged, &vl, HOST, b""),
        DropReason::BadCookie,
    );
    expect_drop(
        &mut ac,
        T0,
        &padr(&hu, &cookie[..8], &vl, HOST, b""),
        DropReason::BadCookie,
    );
    // Window 30 s: issued at 1000 s (window 33), valid through window 34, not 35.
    let late = Duration::from_secs(34 * 30 + 29);
    assert!(matches!(
        ac.handle_frame(late, &padr(&hu, &cookie, &vl, HOST, b""), &mut tx, &mut t),
        Outcome::SessionStarted { .. }
    ));
    let expired = Duration::from_secs(35 * 30);
    expect_drop(
        &mut ac,
        expired,
        &padr(&hu, &cookie, &vl, HOST, b""),
        DropReason::BadCookie,
    );
    let no_cookie = frame(
        &header(AC_MAC, HOST, &vl),
        Code::PADR,
        0,
        &[tag(TagType::SERVICE_NAME, b"")],
    );
    expect_drop(&mut ac, T0, &no_cookie, DropReason::MissingCookie);
    assert_eq!(ac.counters().drops(DropReason::BadCookie), 6);
    assert_eq!(ac.counters().drops(DropReason::MissingCookie), 1);
}

#[test]
fn secret_rotation_keeps_one_previous_secret() {
    let mut ac = ac();
    let hu = [1u8];
    let vl = [SVLAN, Vlan::dot1q(7)];
    let cookie = cookie_for(&mut ac, T0, &padi(&hu));
    let mut tx = [0u8; 1600];
    let mut t = Table::default();
    ac.rotate_secret(CookieSecret::new([8; 32]));
    assert!(matches!(
        ac.handle_frame(T0, &padr(&hu, &cookie, &vl, HOST, b""), &mut tx, &mut t),
        Outcome::SessionStarted { .. }
    ));
    let fresh = cookie_for(&mut ac, T0, &padi(&hu));
    assert_ne!(fresh, cookie);
    ac.rotate_secret(CookieSecret::new([9; 32]));
    assert_eq!(
        ac.handle_frame(T0, &padr(&hu, &cookie, &vl, HOST, b""), &mut tx, &mut t),
        Outcome::Dropped(DropReason::BadCookie)
    );
    assert!(matches!(
        ac.handle_frame(T0, &padr(&hu, &fresh, &vl, HOST, b""), &mut tx, &mut t),
        Outcome::SessionStarted { .. }
    ));
}

#[test]
fn service_policy_and_exhaustion_answer_pads_with_error() {
    let list: &[&[u8]] = &[b"internet", b"voip"];
    let mut strict = Ac::new(config(), ServiceList(list), CookieSecret::new([7; 32])).unwrap();
    let mut tx = [0u8; 1600];
    let mut t = Table::default();
    let vl = [SVLAN, Vlan::dot1q(7)];
    // PADI for an unknown service: no PADO at all (section 5.2).
    let iptv = frame(
        &header(BROADCAST, HOST, &vl),
        Code::PADI,
        0,
        &[tag(TagType::SERVICE_NAME, b"iptv")],
    );
    assert_eq!(
        strict.handle_frame(T0, &iptv, &mut tx, &mut t),
        Outcome::Dropped(DropReason::ServiceNotOffered)
    );
    // PADI for any service: PADO lists the offered ones after the echoed one.
    let Outcome::Reply { len, .. } = strict.handle_frame(T0, &padi(&[1]), &mut tx, &mut t) else {
        panic!()
    };
    assert_eq!(parse_reply(&tx[..len]).3.service_names, 3);
    // A PADR with a valid cookie (issued by the same secret) for a refused service.
    let mut any = ac();
    let cookie = cookie_for(&mut any, T0, &padi(&[1]));
    let rx = padr(&[1], &cookie, &vl, HOST, b"iptv");
    let Outcome::Reply {
        code: Code::PADS,
        len,
    } = strict.handle_frame(T0, &rx, &mut tx, &mut t)
    else {
        panic!()
    };
    let (_, _, sid, tags) = parse_reply(&tx[..len]);
    assert_eq!(sid, 0);
    assert_eq!(tags.error().unwrap().0, TagType::SERVICE_NAME_ERROR);
    assert_eq!(t.calls, 0);
    // No session ids left: PADS with AC-System-Error, SESSION_ID 0.
    let mut full = Table {
        cap: Some(0),
        ..Table::default()
    };
    let rx = padr(&[1], &cookie, &vl, HOST, b"");
    let Outcome::Reply {
        code: Code::PADS,
        len,
    } = any.handle_frame(T0, &rx, &mut tx, &mut full)
    else {
        panic!()
    };
    let (_, _, sid, tags) = parse_reply(&tx[..len]);
    assert_eq!(sid, 0);
    assert_eq!(tags.error().unwrap().0, TagType::AC_SYSTEM_ERROR);
    assert_eq!(any.counters().pads_error_sent, 1);
}

#[test]
fn padt_both_directions() {
    let mut ac = ac();
    let mut t = Table::default();
    let mut tx = [0u8; 1600];
    let cookie = cookie_for(&mut ac, T0, &padi(&[3]));
    let vl = [SVLAN, Vlan::dot1q(7)];
    let rx = padr(&[3], &cookie, &vl, HOST, b"");
    let Outcome::SessionStarted { session, .. } = ac.handle_frame(T0, &rx, &mut tx, &mut t) else {
        panic!()
    };
    // Client -> AC.
    let padt = frame(
        &header(AC_MAC, HOST, &vl),
        Code::PADT,
        session.session_id.get(),
        &[],
    );
    assert_eq!(
        ac.handle_frame(T0, &padt, &mut tx, &mut t),
        Outcome::SessionTerminated {
            peer: HOST,
            session_id: session.session_id
        }
    );
    assert!(t.sessions.is_empty());
    assert_eq!(
        ac.handle_frame(T0, &padt, &mut tx, &mut t),
        Outcome::Dropped(DropReason::UnknownSession)
    );
    let padt0 = frame(&header(AC_MAC, HOST, &vl), Code::PADT, 0, &[]);
    assert_eq!(
        ac.handle_frame(T0, &padt0, &mut tx, &mut t),
        Outcome::Dropped(DropReason::UnknownSession)
    );
    // AC -> client, with Generic-Error.
    let rx = padr(&[3], &cookie, &vl, HOST, b"");
    let Outcome::SessionStarted { session, .. } = ac.handle_frame(T0, &rx, &mut tx, &mut t) else {
        panic!()
    };
    let n = ac
        .terminate(
            &session.link,
            session.session_id,
            Some(b"admin reset"),
            &mut tx,
            &mut t,
        )
        .unwrap();
    let (h, code, sid, tags) = parse_reply(&tx[..n]);
    assert_eq!((code, sid), (Code::PADT, session.session_id.get()));
    assert_eq!((h.dst, h.ethertype), (HOST, 0x8863));
    assert_eq!(h.vlans(), &vl);
    assert_eq!(tags.generic_error, Some(&b"admin reset"[..]));
    assert!(t.sessions.is_empty());
    assert_eq!(ac.counters().padt_sent, 1);
    assert_eq!(ac.counters().padt_received, 1);
}

#[test]
fn every_drop_reason() {
    let mut ac = ac();
    let mut t = Table::default();
    let mut tx = [0u8; 1600];
    let mut check = |rx: &[u8], want: DropReason| {
        assert_eq!(
            ac.handle_frame(T0, rx, &mut tx, &mut t),
            Outcome::Dropped(want),
            "{want:?}"
        );
    };
    let sn = [tag(TagType::SERVICE_NAME, b"")];
    check(&[0u8; 10], DropReason::Malformed);
    let mut bad_ver = frame(&header(BROADCAST, HOST, &[]), Code::PADI, 0, &sn);
    bad_ver[14] = 0x21;
    check(&bad_ver, DropReason::Malformed);
    check(
        &frame(
            &header(BROADCAST, HOST, &[]),
            Code::PADI,
            0,
            &[tag(TagType::PPP_MAX_PAYLOAD, &[1])],
        ),
        DropReason::Malformed,
    );
    check(
        &frame(&header(HOST, HOST, &[]), Code::PADI, 0, &sn),
        DropReason::NotForUs,
    );
    check(
        &frame(&header(BROADCAST, HOST, &[]), Code::PADR, 0, &sn),
        DropReason::NotForUs,
    );
    check(
        &frame(&header(BROADCAST, BROADCAST, &[]), Code::PADI, 0, &sn),
        DropReason::BadSource,
    );
    check(
        &frame(&header(BROADCAST, HOST, &[]), Code::PADI, 0, &[]),
        DropReason::NoServiceName,
    );
    check(
        &frame(
            &header(BROADCAST, HOST, &[]),
            Code::PADI,
            0,
            &[sn[0], sn[0]],
        ),
        DropReason::NoServiceName,
    );
    check(
        &frame(&header(AC_MAC, HOST, &[]), Code::PADR, 0, &[]),
        DropReason::NoServiceName,
    );
    let big = vec![0u8; 1480];
    check(
        &frame(
            &header(BROADCAST, HOST, &[]),
            Code::PADI,
            0,
            &[sn[0], tag(TagType(0x7777), &big)],
        ),
        DropReason::TooLarge,
    );
    check(
        &frame(&header(AC_MAC, HOST, &[]), Code::PADO, 0, &sn),
        DropReason::UnexpectedCode,
    );
    check(
        &frame(&header(AC_MAC, HOST, &[]), Code::PADS, 1, &sn),
        DropReason::UnexpectedCode,
    );
    // A 1480-byte Host-Uniq with a relay tag passes the PADI size rule, but the PADO
    // echoing it would exceed 1500 bytes.
    let long = vec![7u8; 1480];
    check(
        &frame(
            &header(BROADCAST, HOST, &[]),
            Code::PADI,
            0,
            &[
                sn[0],
                tag(TagType::HOST_UNIQ, &long),
                tag(TagType::RELAY_SESSION_ID, b"r"),
            ],
        ),
        DropReason::ReplyTooLarge,
    );
    let mut small = [0u8; 20];
    assert_eq!(
        ac.handle_frame(T0, &padi(&[1]), &mut small, &mut t),
        Outcome::Dropped(DropReason::TxBufferTooSmall)
    );
    let mut session = frame(&header(AC_MAC, HOST, &[]), Code::SESSION, 1, &[]);
    session[13] = 0x64;
    assert_eq!(
        ac.handle_frame(T0, &session, &mut tx, &mut t),
        Outcome::NotDiscovery
    );
    let c = ac.counters();
    // ServiceNotOffered, MissingCookie, BadCookie, UnknownSession: tests above.
    let elsewhere = [
        DropReason::ServiceNotOffered,
        DropReason::MissingCookie,
        DropReason::BadCookie,
        DropReason::UnknownSession,
    ];
    for r in DropReason::ALL
        .into_iter()
        .filter(|r| !elsewhere.contains(r))
    {
        assert!(c.drops(r) > 0, "{r:?} never counted");
    }
    assert_eq!(c.total_drops(), 14);
    assert_eq!(t.calls, 0);
}

#[test]
fn ppp_max_payload_rules() {
    let mut tx = [0u8; 1600];
    let mut t = Table::default();
    let sent = |mp: u16| {
        frame(
            &header(BROADCAST, HOST, &[]),
            Code::PADI,
            0,
            &[
                tag(TagType::SERVICE_NAME, b""),
                tag(TagType::PPP_MAX_PAYLOAD, &mp.to_be_bytes()),
            ],
        )
    };
    let mut ac = ac();
    for (req, echoed) in [
        (1500, Some(1500)),
        (1492, Some(1492)),
        (9000, None),
        (1000, None),
    ] {
        let Outcome::Reply { len, .. } = ac.handle_frame(T0, &sent(req), &mut tx, &mut t) else {
            panic!()
        };
        assert_eq!(parse_reply(&tx[..len]).3.ppp_max_payload, echoed, "{req}");
    }
    let mut plain = Ac::new(
        AcConfig {
            max_payload: None,
            ..config()
        },
        AnyService,
        CookieSecret::new([1; 32]),
    )
    .unwrap();
    let Outcome::Reply { len, .. } = plain.handle_frame(T0, &sent(1500), &mut tx, &mut t) else {
        panic!()
    };
    assert_eq!(parse_reply(&tx[..len]).3.ppp_max_payload, None);
}

#[test]
fn bad_configs_are_usage_errors() {
    let mk = |c: AcConfig<'static>| Ac::new(c, AnyService, CookieSecret::new([0; 32])).is_err();
    assert!(mk(AcConfig {
        cookie_window: Duration::ZERO,
        ..config()
    }));
    assert!(mk(AcConfig {
        mac: BROADCAST,
        ..config()
    }));
    assert!(mk(AcConfig {
        max_payload: Some(1000),
        ..config()
    }));
    assert_eq!(
        format!("{:?}", CookieSecret::new([1; 32])),
        "CookieSecret(..)"
    );
    assert!(SessionId::new(0).is_none());
    assert!(SessionId::new(0xffff).is_none());
    assert_eq!(SessionId::new(0xfffe).unwrap().get(), 0xfffe);
}

#[test]
fn padr_line_info_reaches_the_caller() {
    let mut ac = ac();
    let mut vs = [0u8; 64];
    let n = VendorSpecific::emit(
        BBF_VENDOR_ID,
        &[
            SubOption {
                kind: SubOptionType::AGENT_CIRCUIT_ID,
                value: b"olt7 pon 0/1/3:12",
            },
            SubOption {
                kind: SubOptionType::ACTUAL_DATA_RATE_UP,
                value: &2_000_000u32.to_be_bytes(),
            },
        ],
        &mut vs,
    )
    .unwrap();
    let hu = [4u8; 4];
    let cookie = cookie_for(&mut ac, T0, &padi(&hu));
    let vl = [SVLAN, Vlan::dot1q(7)];
    let rx = frame(
        &header(AC_MAC, HOST, &vl),
        Code::PADR,
        0,
        &[
            tag(TagType::SERVICE_NAME, b""),
            tag(TagType::HOST_UNIQ, &hu),
            tag(TagType::AC_COOKIE, &cookie),
            tag(TagType::VENDOR_SPECIFIC, &vs[..n]),
        ],
    );
    let mut tx = [0u8; 1600];
    let Outcome::SessionStarted { session, .. } =
        ac.handle_frame(T0, &rx, &mut tx, &mut Table::default())
    else {
        panic!()
    };
    let line = session.tags.line_info().unwrap().unwrap();
    assert_eq!(line.agent_circuit_id, Some(&b"olt7 pon 0/1/3:12"[..]));
    assert_eq!(line.actual_rate_up, Some(2_000_000));
    // The AC did not ask for PPP-Max-Payload here, so none is agreed.
    assert_eq!(session.max_payload, None);
}

#[test]
fn ethernet_padding_is_ignored() {
    let mut ac = ac();
    let mut rx = frame(
        &header(BROADCAST, HOST, &[]),
        Code::PADI,
        0,
        &[tag(TagType::SERVICE_NAME, b"")],
    );
    assert!(rx.len() < 60);
    rx.resize(60, 0); // the minimum Ethernet frame, zero padded
    let mut tx = [0u8; 1600];
    let Outcome::Reply { len, .. } = ac.handle_frame(T0, &rx, &mut tx, &mut Table::default())
    else {
        panic!()
    };
    let (_, code, _, tags) = parse_reply(&tx[..len]);
    assert_eq!(code, Code::PADO);
    assert_eq!(tags.service_name, Some(&b""[..]));
    assert_eq!(tags.host_uniq, None);
}
