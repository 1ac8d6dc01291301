//! Fuzz bodies for `bng-pppoe`.

/// The targets of this module, by name (each has `fuzz_targets/<name>.rs` and
/// `corpus/<name>/`).
pub const TARGETS: &[(&str, crate::Body)] = &[
    ("pppoe_discovery", pppoe_discovery),
    ("pppoe_ac", pppoe_ac),
    ("pppoe_client", pppoe_client),
    ("pppoe_ppp", pppoe_ppp),
    ("pppoe_ppp_session", pppoe_ppp_session),
];

/// PPPoE discovery (RFC 2516): view, Repr, tag walk; parse -> emit -> parse.
pub fn pppoe_discovery(data: &[u8]) {
    use bng_pppoe::discovery::{Packet, Repr};
    let Ok(p) = Packet::new_checked(data) else {
        return;
    };
    for t in p.tags() {
        let _ = t;
    }
    // Typed tags and TR-101 sub-options: never panic; agree with the raw walk.
    let typed = bng_pppoe::tags::DiscoveryTags::parse(p.payload());
    if let Ok(t) = typed {
        let _ = t.line_info();
        if let Some(vs) = t.vendor_specific {
            let subs: Vec<_> = vs.sub_options().collect();
            assert!(subs.len() <= bng_pppoe::tags::MAX_SUB_OPTIONS + 1);
            assert!(
                subs.iter().filter(|s| s.is_err()).count() <= 1,
                "one Err, then fused"
            );
        }
    }
    let Ok(r) = Repr::parse(&p) else { return };
    assert!(
        typed.is_ok() || typed.is_err_and(|e| matches!(e, bng_pppoe::ParseError::InvalidField(_))),
        "typed tags fail only on value rules once the walk succeeded"
    );
    let mut out = [0u8; 65_600];
    let n = r.emit(&mut out).expect("a parsed packet must emit");
    assert_eq!(
        out.get(..n),
        Some(p.as_bytes()),
        "re-emit must be byte-identical"
    );
    let p2 = Packet::new_checked(out.get(..n).unwrap_or_default()).expect("re-parse view");
    let r2 = Repr::parse(&p2).expect("re-parse repr");
    assert_eq!(r, r2);
}

/// The AC discovery machine (RFC 2516 section 5) driven by a script of steps:
/// arbitrary frames, clock jumps, secret rotations, and an honest client's PADR/PADT
/// built from the last PADO/PADS (so the fuzzer reaches the session paths without
/// forging HMACs). Checks: no state on PADI (the session table is not touched), every
/// reply fits the buffer and parses back as a discovery frame from our MAC to the
/// sender, one outcome per frame (counters add up), sessions only from PADR.
pub fn pppoe_ac(data: &[u8]) {
    use core::time::Duration;

    use bng_pppoe::ac::{
        Ac, AcConfig, CookieSecret, Outcome, ServiceList, SessionAllocator, SessionId,
    };
    use bng_pppoe::discovery::{Code, Packet, Repr, Tag, TagList, TagType};
    use bng_pppoe::ethernet::{Frame, Header, Mac};
    use bng_pppoe::tags::DiscoveryTags;

    struct Table {
        sessions: Vec<(Mac, u16)>,
        next: u16,
        calls: usize,
    }
    impl SessionAllocator for Table {
        fn allocate(&mut self, peer: &Mac, _: Option<&[u8]>) -> Option<SessionId> {
            self.calls += 1;
            if self.sessions.len() >= 16 {
                return None;
            }
            self.next = self.next % 0xfffe + 1;
            self.sessions.push((*peer, self.next));
            SessionId::new(self.next)
        }
        fn release(&mut self, peer: &Mac, id: SessionId) -> bool {
            self.calls += 1;
            let before = self.sessions.len();
            self.sessions.retain(|s| *s != (*peer, id.get()));
            before != self.sessions.len()
        }
    }

    const AC_MAC: Mac = [2, 0, 0, 0, 0, 0xac];
    let services: &[&[u8]] = &[b"internet", b"voip"];
    let Ok(mut ac) = Ac::new(
        AcConfig {
            mac: AC_MAC,
            ac_name: b"fuzz-ac",
            cookie_window: Duration::from_secs(30),
            max_payload: Some(1500),
        },
        ServiceList(services),
        CookieSecret::new([0x42; 32]),
    ) else {
        return;
    };
    let mut table = Table {
        sessions: Vec::new(),
        next: 0,
        calls: 0,
    };
    let mut now = Duration::from_secs(1_000);
    let mut tx = vec![0u8; 1600];
    let mut last_pado: Option<Vec<u8>> = None;
    let mut last_pads: Option<(Header, u16)> = None;
    let (mut handled, mut not_discovery) = (0u64, 0u64);
    let mut rest = data;
    let mut step = 0;
    while let Some((&op, r)) = rest.split_first() {
        rest = r;
        step += 1;
        if step > 64 {
            break;
        }
        let frame: Vec<u8> = match op % 5 {
            0 => {
                let (&n, r) = rest.split_first().unwrap_or((&0, &[]));
                rest = r;
                now += Duration::from_secs(u64::from(n));
                continue;
            }
            1 => {
                let Some((len, r)) = rest.split_first_chunk::<2>() else {
                    break;
                };
                let len = usize::from(u16::from_be_bytes(*len)).min(r.len()).min(1600);
                let (f, r) = r.split_at(len);
                rest = r;
                f.to_vec()
            }
            2 => {
                // An honest client answers the last PADO (section 5.3), maybe tampered.
                let Some(pado) = last_pado.clone() else {
                    continue;
                };
                let (&flip, r) = rest.split_first().unwrap_or((&0, &[]));
                rest = r;
                let Ok(f) = Frame::new_checked(&pado) else {
                    panic!("our PADO re-parses")
                };
                let Ok(p) = Packet::new_checked(f.payload) else {
                    panic!("our PADO re-parses")
                };
                let t = DiscoveryTags::parse(p.payload()).expect("our PADO tags");
                let mut cookie = t.ac_cookie.expect("PADO carries a cookie").to_vec();
                if flip != 0 {
                    let i = usize::from(flip) % cookie.len();
                    cookie[i] ^= flip;
                }
                let mut tags = vec![Tag {
                    kind: TagType::SERVICE_NAME,
                    value: t.service_name.unwrap_or_default(),
                }];
                for (kind, v) in [
                    (TagType::HOST_UNIQ, t.host_uniq),
                    (TagType::AC_COOKIE, Some(&cookie[..])),
                    (TagType::RELAY_SESSION_ID, t.relay_session_id),
                ] {
                    if let Some(value) = v {
                        tags.push(Tag { kind, value });
                    }
                }
                let hdr = f.header.reply(f.header.dst, 0x8863);
                let mut out = vec![0u8; 1600];
                let l2 = hdr.emit(&mut out).expect("header");
                let n = Repr {
                    code: Code::PADR,
                    session_id: 0,
                    tags: TagList::List(&tags),
                }
                .emit(&mut out[l2..])
                .expect("PADR");
                out.truncate(l2 + n);
                out
            }
            3 => {
                let (&b, r) = rest.split_first().unwrap_or((&0, &[]));
                rest = r;
                ac.rotate_secret(CookieSecret::new([b; 32]));
                continue;
            }
            _ => {
                // The client of the last PADS terminates (section 5.5).
                let Some((hdr, sid)) = last_pads else {
                    continue;
                };
                let hdr = hdr.reply(hdr.dst, 0x8863);
                let mut out = vec![0u8; 64];
                let l2 = hdr.emit(&mut out).expect("header");
                let n = Repr {
                    code: Code::PADT,
                    session_id: sid,
                    tags: TagList::List(&[]),
                }
                .emit(&mut out[l2..])
                .expect("PADT");
                out.truncate(l2 + n);
                out
            }
        };
        let is_padi = Frame::new_checked(&frame).ok().and_then(|f| {
            (f.header.ethertype == 0x8863)
                .then(|| f.payload.get(1).copied())
                .flatten()
        }) == Some(Code::PADI.0);
        let calls = table.calls;
        let sessions = table.sessions.len();
        let outcome = ac.handle_frame(now, &frame, &mut tx, &mut table);
        handled += 1;
        if is_padi {
            assert_eq!(table.calls, calls, "PADI touched the session table");
        }
        let check_reply = |len: usize, code: Code| -> (Header, u16) {
            assert!(len <= tx.len());
            let f = Frame::new_checked(&tx[..len]).expect("reply frame");
            assert_eq!(f.header.src, AC_MAC);
            let rx = Frame::new_checked(&frame).expect("rx frame");
            assert_eq!(f.header.dst, rx.header.src);
            assert_eq!(f.header.vlans(), rx.header.vlans());
            let p = Packet::new_checked(f.payload).expect("reply packet");
            let r = Repr::parse(&p).expect("reply repr");
            assert_eq!(r.code, code);
            DiscoveryTags::parse(p.payload()).expect("reply tags");
            (f.header, r.session_id)
        };
        match outcome {
            Outcome::Reply { code, len } => {
                check_reply(len, code);
                assert_eq!(table.sessions.len(), sessions);
                if code == Code::PADO {
                    last_pado = Some(tx[..len].to_vec());
                }
            }
            Outcome::SessionStarted { len, session } => {
                let (h, sid) = check_reply(len, Code::PADS);
                assert_eq!(sid, session.session_id.get());
                assert!(!is_padi);
                last_pads = Some((h, sid));
            }
            Outcome::SessionTerminated { .. } => {
                assert_eq!(table.sessions.len() + 1, sessions);
            }
            Outcome::Dropped(_) => assert_eq!(table.sessions.len(), sessions),
            Outcome::NotDiscovery => not_discovery += 1,
        }
    }
    let c = ac.counters();
    assert_eq!(
        c.total_drops()
            + c.pado_sent
            + c.pads_sent
            + c.pads_error_sent
            + c.padt_received
            + not_discovery,
        handled,
        "one outcome per frame"
    );
}

/// PPP frame (RFC 1661 section 2) and its control packet: LCP/IPCP/IPv6CP
/// (sections 5, 6), PAP (RFC 1334), CHAP (RFC 1994); parse -> emit -> parse,
/// byte-identical up to Length. Input: a PPP frame (protocol first).
pub fn pppoe_ppp(data: &[u8]) {
    use bng_pppoe::ppp::auth::{ChapRepr, PapRepr};
    use bng_pppoe::ppp::packet::{ControlPacket, ControlRepr, MAX_OPTIONS};
    use bng_pppoe::ppp::{Frame, Protocol};
    let Ok(f) = Frame::new_checked(data) else {
        return;
    };
    let Ok(p) = ControlPacket::new_checked(f.information()) else {
        return;
    };
    let walked = p.options().take(MAX_OPTIONS + 10).collect::<Vec<_>>();
    assert!(walked.len() <= MAX_OPTIONS + 1, "option walk is capped");
    assert!(
        walked.iter().filter(|o| o.is_err()).count() <= 1,
        "one Err, then fused"
    );
    let mut out = vec![0u8; 70_000];
    let n = match f.protocol() {
        Protocol::PAP => {
            let Ok(r) = PapRepr::parse(&p) else { return };
            let n = r.emit(&mut out).expect("a parsed PAP packet must emit");
            let again = ControlPacket::new_checked(out.get(..n).unwrap_or_default()).unwrap();
            assert_eq!(PapRepr::parse(&again).expect("re-parse PAP"), r);
            n
        }
        Protocol::CHAP => {
            let Ok(r) = ChapRepr::parse(&p) else { return };
            let n = r.emit(&mut out).expect("a parsed CHAP packet must emit");
            let again = ControlPacket::new_checked(out.get(..n).unwrap_or_default()).unwrap();
            assert_eq!(ChapRepr::parse(&again).expect("re-parse CHAP"), r);
            n
        }
        _ => {
            let Ok(r) = ControlRepr::parse(&p) else {
                return;
            };
            let n = r.emit(&mut out).expect("a parsed control packet must emit");
            let again = ControlRepr::parse_bytes(out.get(..n).unwrap_or_default());
            assert_eq!(again.expect("re-parse control packet"), r);
            n
        }
    };
    assert_eq!(
        out.get(..n),
        Some(p.as_bytes()),
        "re-emit must be byte-identical"
    );
}

/// A PPP `Session` (LCP, PAP/CHAP, IPCP, IPv6CP) driven by arbitrary frames,
/// timeouts and caller decisions. Input: byte 0 picks role and authentication,
/// then records `[op, len, bytes...]`: op 0-5 a frame of LCP/PAP/CHAP/IPCP/IPv6CP/
/// CCP with `len` bytes of body, 6 a time step of `len` x 100 ms, 7 accept, 8
/// reject, 9 close, 10 lower down. Checks: bounded output, every frame sent is a
/// well-formed PPPoE session packet, deadlines never in the past, Down at most
/// once, and the AC never brings IPCP up for a peer the caller did not accept.
pub fn pppoe_ppp_session(data: &[u8]) {
    use bng_pppoe::ppp::lcp::AuthProto;
    use bng_pppoe::ppp::packet::ControlPacket;
    use bng_pppoe::ppp::session::{Config, Credentials, Event, Role, Session};
    use bng_pppoe::ppp::{Frame, split_session};
    use core::time::Duration;

    let Some((&mode, mut rest)) = data.split_first() else {
        return;
    };
    let auth = match mode & 3 {
        0 => AuthProto::None,
        1 => AuthProto::Pap,
        2 => AuthProto::ChapMd5,
        _ => AuthProto::MsChapV2,
    };
    let mut cfg = if mode & 4 == 0 {
        Config::server(auth, b"ac", [10, 0, 0, 1])
    } else {
        Config::client(Credentials {
            user: b"user",
            password: b"pw",
        })
    };
    cfg.dns = [[10, 0, 0, 53], [0; 4]];
    let sid = 0x0101;
    let mut s = Session::from_parts(&cfg, sid, u64::from(mode), [7; 16]);
    s.set_peer_ipv4([10, 0, 0, 2]);
    let mut now = Duration::from_secs(10);
    s.start(now);
    let protos: [u16; 6] = [0xc021, 0xc023, 0xc223, 0x8021, 0x8057, 0x80fd];
    let (mut accepted, mut downs) = (false, 0);
    let mut ms_success: Option<[u8; 42]> = None;
    let mut tx = [0u8; 1600];
    let mut frame = Vec::with_capacity(300);
    let mut steps = 0;
    while let Some((&[op, len], after)) = rest.split_first_chunk::<2>() {
        steps += 1;
        if steps > 400 {
            break;
        }
        let len = usize::from(len);
        match op % 11 {
            p @ 0..=5 => {
                let body = after.get(..len.min(after.len())).unwrap_or_default();
                rest = after.get(body.len()..).unwrap_or_default();
                frame.clear();
                frame.extend_from_slice(&[0x11, 0, 0x01, 0x01]);
                frame.extend_from_slice(&u16::try_from(body.len() + 2).unwrap().to_be_bytes());
                frame.extend_from_slice(&protos[usize::from(p)].to_be_bytes());
                frame.extend_from_slice(body);
                let r = s.handle_packet(now, &frame);
                if let Ok(Some(req)) = r {
                    assert_eq!(cfg.role, Role::Server, "only the AC asks the caller");
                    // What a RADIUS server would return for MS-CHAPv2 (password "pw").
                    ms_success = req.mschapv2_authenticator_response(b"pw");
                }
            }
            6 => {
                rest = after;
                now += Duration::from_millis(100 * len as u64);
                s.handle_timeout(now);
                if let Some(t) = s.poll_timeout() {
                    assert!(
                        t > now,
                        "deadline {t:?} not after now {now:?} after handle_timeout"
                    );
                }
            }
            7 => {
                rest = after;
                let s_eq = ms_success.unwrap_or(*b"S=0000000000000000000000000000000000000000");
                if s.auth_accept(now).is_ok() || s.auth_accept_mschapv2(now, &s_eq).is_ok() {
                    accepted = true;
                }
            }
            8 => {
                rest = after;
                let _ = s.auth_reject(now);
            }
            9 => {
                rest = after;
                s.close(now);
            }
            _ => {
                rest = after;
                s.lower_down(now);
            }
        }
        let mut sent = 0;
        while let Some(a) = s.poll_action(now, &mut tx) {
            sent += 1;
            assert!(sent <= 16, "unbounded output");
            let out = tx.get(..a.len()).expect("action within tx");
            let (id, ppp) = split_session(out).expect("we emit PPPoE session packets");
            assert_eq!(id, sid);
            let f = Frame::new_checked(ppp).expect("we emit valid PPP frames");
            ControlPacket::new_checked(f.information()).expect("we emit control packets");
        }
        while let Some(e) = s.poll_event() {
            match e {
                Event::Down { .. } => {
                    downs += 1;
                    assert_eq!(downs, 1, "Down at most once");
                }
                Event::Ipv4Up { .. } | Event::Ipv6Up { .. } => {
                    if cfg.role == Role::Server && auth != AuthProto::None {
                        assert!(accepted, "network up without the caller's accept");
                    }
                }
                _ => {}
            }
        }
        if s.is_finished() {
            assert_eq!(s.poll_timeout(), None);
        }
    }
}

/// The host-side discovery machine (RFC 2516 sections 5 and 7) driven by a script:
/// arbitrary frames addressed to it, clock jumps with timeouts, answers from a real AC
/// to whatever it sent, close/restart. Checks: every transmitted frame is a discovery
/// frame from our MAC, deadlines are in the future after `handle_timeout`, PADI/PADR
/// retransmissions are bounded by `max_attempts` per phase, events fit the queue, and
/// the reported state matches the events.
pub fn pppoe_client(data: &[u8]) {
    use core::time::Duration;

    use bng_pppoe::ac::{
        Ac, AcConfig, AnyService, CookieSecret, Outcome, SessionAllocator, SessionId,
    };
    use bng_pppoe::client::{Action, Client, ClientConfig, Event};
    use bng_pppoe::discovery::{Code, Packet, Repr};
    use bng_pppoe::ethernet::{Frame, Mac};

    struct One;
    impl SessionAllocator for One {
        fn allocate(&mut self, _: &Mac, _: Option<&[u8]>) -> Option<SessionId> {
            SessionId::new(7)
        }
        fn release(&mut self, _: &Mac, _: SessionId) -> bool {
            true
        }
    }

    const HOST: Mac = [2, 0, 0, 0, 0, 1];
    const AC_MAC: Mac = [2, 0, 0, 0, 0, 0xac];
    let cfg = ClientConfig {
        host_uniq: Some(&[1, 2, 3, 4]),
        max_payload: Some(1500),
        ..ClientConfig::new(HOST)
    };
    let max_attempts = usize::from(cfg.max_attempts);
    let mut client = Client::new(cfg).expect("valid config");
    let mut ac = Ac::new(
        AcConfig {
            mac: AC_MAC,
            ac_name: b"fuzz-ac",
            cookie_window: Duration::from_secs(30),
            max_payload: Some(1500),
        },
        AnyService,
        CookieSecret::new([1; 32]),
    )
    .expect("valid AC");
    let mut now = Duration::from_secs(100);
    let mut tx = vec![0u8; 1600];
    let mut last_sent: Option<Vec<u8>> = None;
    let mut sent_in_phase = [0usize; 2]; // PADI, PADR since the last (re)start/PADO
    client.start(now);
    let mut rest = data;
    for _ in 0..64 {
        // Drain the machine.
        let mut actions = 0;
        while let Some(a) = client.poll_action(now, &mut tx) {
            actions += 1;
            assert!(actions <= 8, "unbounded actions");
            match a {
                Action::Transmit(n) => {
                    let f = Frame::new_checked(&tx[..n]).expect("our frame");
                    assert_eq!(f.header.src, HOST);
                    assert_eq!(f.header.ethertype, 0x8863);
                    let p = Packet::new_checked(f.payload).expect("our packet");
                    let r = Repr::parse(&p).expect("our repr");
                    match r.code {
                        Code::PADI => sent_in_phase[0] += 1,
                        Code::PADR => sent_in_phase[1] += 1,
                        Code::PADT => assert!(client.is_closed()),
                        c => panic!("client sent {c:?}"),
                    }
                    assert!(sent_in_phase[0] <= max_attempts, "too many PADI");
                    assert!(sent_in_phase[1] <= max_attempts, "too many PADR");
                    last_sent = Some(tx[..n].to_vec());
                }
                Action::Event(Event::SessionUp(up)) => {
                    assert_eq!(client.session_id(), Some(up.session_id));
                }
                Action::Event(Event::Failed(_) | Event::Terminated) => assert!(client.is_closed()),
                Action::Event(e) => panic!("{e:?}"),
            }
        }
        assert_eq!(client.events_dropped(), 0);
        let Some((&op, r)) = rest.split_first() else {
            break;
        };
        rest = r;
        match op % 4 {
            0 => {
                let (&n, r) = rest.split_first().unwrap_or((&0, &[]));
                rest = r;
                now += Duration::from_millis(u64::from(n) * 100);
                client.handle_timeout(now);
                if let Some(d) = client.poll_timeout() {
                    assert!(d > now, "a deadline in the past after handle_timeout");
                }
            }
            1 => {
                let Some((len, r)) = rest.split_first_chunk::<2>() else {
                    break;
                };
                let len = usize::from(u16::from_be_bytes(*len)).min(r.len()).min(1600);
                let (f, r) = r.split_at(len);
                rest = r;
                // Aim the fuzzer's frame at us half of the time.
                let mut f = f.to_vec();
                if op & 0x80 != 0 && f.len() >= 14 {
                    f[..6].copy_from_slice(&HOST);
                    f[12..14].copy_from_slice(&0x8863u16.to_be_bytes());
                }
                let _ = client.handle_frame(now, &f);
            }
            2 => {
                // A real AC answers the last frame we sent.
                let Some(sent) = last_sent.take() else {
                    continue;
                };
                let mut reply = vec![0u8; 1600];
                if let Outcome::Reply { len, .. } | Outcome::SessionStarted { len, .. } =
                    ac.handle_frame(now, &sent, &mut reply, &mut One)
                {
                    let code = Frame::new_checked(&reply[..len])
                        .ok()
                        .and_then(|f| f.payload.get(1).copied());
                    if client.handle_frame(now, &reply[..len]).is_ok() && code == Some(Code::PADO.0)
                    {
                        sent_in_phase[1] = 0;
                    }
                }
            }
            _ => {
                if op & 0x40 != 0 {
                    client.close();
                } else {
                    client.start(now);
                    sent_in_phase = [0, 0];
                }
            }
        }
    }
}
