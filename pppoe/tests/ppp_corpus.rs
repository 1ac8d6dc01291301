//! PPP in the captured corpus: every PPPoE session frame (CODE 0) of
//! `../shared/corpus/pppoe` and every PPP-link frame of `../shared/corpus/ppp`
//! parses without panic, and every well-formed LCP / PAP / CHAP / IPCP / IPv6CP
//! packet re-emits byte-identically (up to its Length; padding is not part of it).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests"
)]

use bng_pppoe::ppp::auth::{ChapRepr, PapRepr};
use bng_pppoe::ppp::packet::{ControlPacket, ControlRepr};
use bng_pppoe::ppp::{Frame, Protocol, split_session};
use bng_testkit::corpus::{self, Link};

#[derive(Debug, Default)]
struct Count {
    frames: usize,
    control: usize,
    same: usize,
    malformed: usize,
    by_proto: std::collections::BTreeMap<String, usize>,
}

/// Parses one PPP frame (protocol + information); returns whether it was a control
/// packet and whether it re-emitted identically.
fn check_ppp(ppp: &[u8], what: &str, c: &mut Count) {
    let Ok(frame) = Frame::new_checked(ppp) else {
        return;
    };
    let proto = frame.protocol();
    let info = frame.information();
    let known = [
        Protocol::LCP,
        Protocol::PAP,
        Protocol::CHAP,
        Protocol::IPCP,
        Protocol::IPV6CP,
        Protocol::CCP,
    ];
    if !known.contains(&proto) {
        return;
    }
    c.control += 1;
    *c.by_proto.entry(format!("{proto:?}")).or_default() += 1;
    let Ok(view) = ControlPacket::new_checked(info) else {
        c.malformed += 1;
        return;
    };
    let original = view.as_bytes();
    let mut out = vec![0u8; 70_000];
    let n = match proto {
        Protocol::PAP => PapRepr::parse(&view).ok().map(|r| {
            let n = r.emit(&mut out).expect("emit parsed PAP");
            let back = PapRepr::parse(&ControlPacket::new_checked(&out[..n]).unwrap()).unwrap();
            assert_eq!(back, r, "{what}");
            n
        }),
        Protocol::CHAP => ChapRepr::parse(&view).ok().map(|r| {
            let n = r.emit(&mut out).expect("emit parsed CHAP");
            let back = ChapRepr::parse(&ControlPacket::new_checked(&out[..n]).unwrap()).unwrap();
            assert_eq!(back, r, "{what}");
            n
        }),
        _ => ControlRepr::parse(&view).ok().map(|r| {
            for o in r.options() {
                let _ = o;
            }
            let n = r.emit(&mut out).expect("emit parsed control packet");
            assert_eq!(ControlRepr::parse_bytes(&out[..n]).unwrap(), r, "{what}");
            n
        }),
    };
    match n {
        Some(n) => {
            assert_eq!(&out[..n], original, "{what}: re-emit differs");
            c.same += 1;
        }
        None => c.malformed += 1,
    }
}

/// The PPP frame in an IPv4 packet carrying enhanced GRE with protocol 0x880b.
fn gre_ppp(ip: &[u8]) -> Option<&[u8]> {
    let ihl = usize::from(ip.first()? & 0x0f) * 4;
    if *ip.get(9)? != 47 {
        return None;
    }
    let gre = ip.get(ihl..)?;
    let flags = u16::from_be_bytes([*gre.first()?, *gre.get(1)?]);
    if u16::from_be_bytes([*gre.get(2)?, *gre.get(3)?]) != 0x880b || flags & 7 != 1 {
        return None;
    }
    let plen = usize::from(u16::from_be_bytes([*gre.get(4)?, *gre.get(5)?]));
    let mut at = 8;
    if flags & 0x1000 != 0 {
        at += 4; // sequence number
    }
    if flags & 0x0080 != 0 {
        at += 4; // acknowledgment number
    }
    gre.get(at..at + plen)
}

fn walk(proto: &str) -> Option<Count> {
    let mut c = Count::default();
    let s = corpus::walk("ppp corpus", proto, |f| {
        let what = format!("{}#{}", f.file.display(), f.number);
        if f.link == Link::Ppp {
            // LINKTYPE_PPP: optional ff 03, then protocol and information.
            let d = f.data.strip_prefix(&[0xff, 0x03]).unwrap_or(f.data);
            c.frames += 1;
            check_ppp(d, &what, &mut c);
            return;
        }
        let Some((et, payload)) = f.ethertype_payload() else {
            return;
        };
        if et == 0x0800 {
            // PPTP: PPP in enhanced GRE (RFC 2637 section 4.1) inside IPv4.
            if let Some(ppp) = gre_ppp(payload) {
                c.frames += 1;
                let ppp = ppp.strip_prefix(&[0xff, 0x03]).unwrap_or(ppp);
                check_ppp(ppp, &what, &mut c);
            }
            return;
        }
        if et != 0x8864 {
            return;
        }
        c.frames += 1;
        if let Ok((_sid, ppp)) = split_session(payload) {
            check_ppp(ppp, &what, &mut c);
        }
    })?;
    eprintln!(
        "corpus/{proto}: {} files, {} frames walked, {} PPP frames, {} control packets \
         ({:?}), {} re-emitted identically, {} malformed",
        s.files, s.frames, c.frames, c.control, c.by_proto, c.same, c.malformed
    );
    Some(c)
}

#[test]
fn pppoe_session_frames_parse_and_reemit() {
    if let Some(c) = walk("pppoe") {
        assert!(c.frames > 0, "expected PPPoE session frames");
        assert!(
            c.control > 0,
            "expected PPP control packets in the session frames"
        );
        assert!(c.same > 0);
    }
}

#[test]
fn ppp_link_frames_parse_and_reemit() {
    if let Some(c) = walk("ppp") {
        // PPP links and PPTP's GRE carry LCP, PAP and IPCP; only tcpdump's
        // deliberately broken "ppp-invalid-lengths" packet fails to parse.
        assert!(c.control >= 10, "{c:?}");
        assert!(c.malformed <= 1, "{c:?}");
    }
}

/// tcpdump's decode of the PPPoE session captures agrees with ours on session id,
/// PPP protocol, control code, identifier and length.
#[test]
fn tcpdump_out_agrees_on_session_lcp_frames() {
    let Some(root) = corpus::dir() else {
        return;
    };
    let mut checked = 0;
    for name in ["tcpdump__pppoes", "tcpdump__pppoe"] {
        let pcap = root.join("pppoe").join(format!("{name}.pcap"));
        let out = root.join("pppoe").join(format!("{name}.out"));
        let (Ok(text), true) = (std::fs::read_to_string(&out), pcap.exists()) else {
            continue;
        };
        let lines: Vec<&str> = text.lines().collect();
        corpus::read_capture(&pcap, |f| {
            let Some(line) = lines.get(f.number - 1) else {
                return;
            };
            let Some(rest) = line.split("[ses 0x").nth(1) else {
                return;
            };
            let Some((sid_hex, rest)) = rest.split_once(']') else {
                return;
            };
            let Some((proto_name, rest)) = rest.trim().split_once(", ") else {
                return;
            };
            let Some((code_name, rest)) = rest.split_once(" (0x") else {
                return;
            };
            let id: u8 = rest
                .split("id ")
                .nth(1)
                .unwrap()
                .split(',')
                .next()
                .unwrap()
                .parse()
                .unwrap();
            let len: usize = rest
                .split("length ")
                .nth(1)
                .unwrap()
                .trim()
                .parse()
                .unwrap();
            let (_et, payload) = f.ethertype_payload().unwrap();
            let (sid, ppp) = split_session(payload).unwrap();
            assert_eq!(sid, u16::from_str_radix(sid_hex, 16).unwrap(), "{line}");
            let frame = Frame::new_checked(ppp).unwrap();
            assert_eq!(format!("{:?}", frame.protocol()), proto_name, "{line}");
            let r = ControlRepr::parse_bytes(frame.information()).unwrap();
            assert_eq!(format!("{:?}", r.code), code_name, "{line}");
            assert_eq!(r.identifier, id, "{line}");
            assert_eq!(
                r.buffer_len() + 2,
                len,
                "{line}: tcpdump counts the PPP frame"
            );
            checked += 1;
        });
    }
    eprintln!("{checked} session frames agree with tcpdump");
    assert!(checked >= 2);
}

/// A real Windows LCP Configure-Request (PPTP capture) fed to our AC: the answer
/// is a Configure-Reject of exactly the options we do not negotiate over PPPoE
/// (ACCM, PFC, ACFC, Callback, ...), never MRU or Magic-Number.
#[test]
fn captured_windows_lcp_request_gets_a_precise_reject() {
    use bng_pppoe::ppp::lcp::AuthProto;
    use bng_pppoe::ppp::session::{Config, Session};
    use core::time::Duration;

    let mut reqs = Vec::new();
    let _ = corpus::walk("ppp corpus", "ppp", |f| {
        let Some((0x0800, ip)) = f.ethertype_payload() else {
            return;
        };
        let Some(ppp) = gre_ppp(ip) else { return };
        let ppp = ppp.strip_prefix(&[0xff, 0x03]).unwrap_or(ppp);
        if ppp.starts_with(&[0xc0, 0x21, 1]) {
            reqs.push(ppp.to_vec());
        }
    });
    if reqs.is_empty() {
        return;
    }
    let cfg = Config::server(AuthProto::ChapMd5, b"bng", [10, 0, 0, 1]);
    for ppp in reqs {
        let mut ac = Session::from_parts(&cfg, 9, 1, [1; 16]);
        let now = Duration::ZERO;
        ac.start(now);
        let mut buf = [0u8; 1500];
        while ac.poll_action(now, &mut buf).is_some() {}
        let mut frame = vec![0x11, 0, 0, 9];
        frame.extend_from_slice(&u16::try_from(ppp.len()).unwrap().to_be_bytes());
        frame.extend_from_slice(&ppp);
        ac.handle_packet(now, &frame).unwrap();
        let a = ac.poll_action(now, &mut buf).expect("a reply");
        let r = ControlRepr::parse_bytes(&buf[8..a.len()]).unwrap();
        let asked = ControlRepr::parse_bytes(&ppp[2..]).unwrap();
        assert_eq!(r.identifier, asked.identifier);
        let kinds: Vec<u8> = r.options().map(|o| o.unwrap().kind).collect();
        let asked_kinds: Vec<u8> = asked.options().map(|o| o.unwrap().kind).collect();
        eprintln!("asked {asked_kinds:?} -> {:?} {kinds:?}", r.code);
        if asked_kinds.iter().any(|k| ![1, 5].contains(k)) {
            assert_eq!(r.code, bng_pppoe::ppp::packet::Code::CONFIGURE_REJECT);
            let want: Vec<u8> = asked_kinds
                .into_iter()
                .filter(|k| ![1, 5].contains(k))
                .collect();
            assert_eq!(kinds, want);
        }
    }
}
