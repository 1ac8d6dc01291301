//! Fuzz bodies for `bng-pppoe`.

/// The targets of this module, by name (each has `fuzz_targets/<name>.rs` and
/// `corpus/<name>/`).
pub const TARGETS: &[(&str, crate::Body)] = &[
    ("pppoe_discovery", pppoe_discovery),
    ("pppoe_ac", pppoe_ac),
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
            assert!(subs.iter().filter(|s| s.is_err()).count() <= 1, "one Err, then fused");
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
