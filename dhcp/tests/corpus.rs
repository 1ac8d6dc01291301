//! Every frame of `../shared/corpus/dhcp4` and `../shared/corpus/dhcp6` parses without
//! panic; every well-formed message re-emits byte-identically; the fields tcpdump prints
//! in the `.out` decodes (xid, message type, requested IP, server ID, lease time) match
//! ours, and option 82 / option 52 captures decode to what tcpdump -vv prints for them.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::many_single_char_names,
    clippy::std_instead_of_core,
    clippy::doc_markdown,
    reason = "tests"
)]

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::path::Path;

use bng_dhcp::v4::{MessageType, Packet, RelayAgentInfo, Repr};
use bng_testkit::corpus;

/// What tcpdump printed for one frame.
#[derive(Debug, Default, Clone)]
struct Oracle {
    xid: Option<u32>,
    kind: Option<String>,
    requested: Option<Ipv4Addr>,
    server_id: Option<Ipv4Addr>,
    lease: Option<u32>,
}

fn after<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.find(key).map(|i| line[i + key.len()..].trim())
}

/// Reads a tcpdump `-#` `.out`: frame number -> the fields we compare.
fn read_out(path: &Path) -> HashMap<usize, Oracle> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut m = HashMap::new();
    let mut cur: Option<(usize, Oracle)> = None;
    for line in text.lines() {
        let first = line.split_whitespace().next().unwrap_or("");
        if !line.starts_with('\t')
            && line.len() > 6
            && line[..6].trim().parse::<usize>().is_ok()
            && first.parse::<usize>().is_ok()
        {
            if let Some((n, o)) = cur.take() {
                m.insert(n, o);
            }
            cur = Some((first.parse().unwrap(), Oracle::default()));
            continue;
        }
        let Some((_, o)) = cur.as_mut() else { continue };
        if let Some(x) = after(line, "xid 0x") {
            let hex: String = x.chars().take_while(char::is_ascii_hexdigit).collect();
            o.xid = u32::from_str_radix(&hex, 16).ok();
        }
        if let Some(v) = after(line, "DHCP-Message (53), length 1: ") {
            o.kind.get_or_insert(v.to_string());
        }
        if let Some(v) = after(line, "Requested-IP (50), length 4: ") {
            o.requested = o.requested.or(v.parse().ok());
        }
        if let Some(v) = after(line, "Server-ID (54), length 4: ") {
            o.server_id = o.server_id.or(v.parse().ok());
        }
        if let Some(v) = after(line, "Lease-Time (51), length 4: ") {
            o.lease = o
                .lease
                .or(v.split_whitespace().next().and_then(|s| s.parse().ok()));
        }
    }
    if let Some((n, o)) = cur {
        m.insert(n, o);
    }
    m
}

fn tcpdump_name(t: MessageType) -> &'static str {
    match t {
        MessageType::DISCOVER => "Discover",
        MessageType::OFFER => "Offer",
        MessageType::REQUEST => "Request",
        MessageType::DECLINE => "Decline",
        MessageType::ACK => "ACK",
        MessageType::NAK => "NACK",
        MessageType::RELEASE => "Release",
        MessageType::INFORM => "Inform",
        _ => "?",
    }
}

/// The `.out` beside a capture (tcpdump's `-v` variants drop the `-v` in the capture name).
fn oracle_for(file: &Path) -> Option<HashMap<usize, Oracle>> {
    let stem = file.file_stem()?.to_str()?;
    let dir = file.parent()?;
    for cand in [format!("{stem}.out"), format!("{stem}-v.out")] {
        let p = dir.join(cand);
        if p.exists() {
            return Some(read_out(&p));
        }
    }
    None
}

#[test]
fn dhcp4_corpus_parses_reemits_and_matches_tcpdump() {
    let (mut seen, mut same, mut compared) = (0, 0, 0);
    let mut oracles: HashMap<std::path::PathBuf, Option<HashMap<usize, Oracle>>> = HashMap::new();
    let s = corpus::walk("dhcp4 corpus", "dhcp4", |f| {
        let Some(u) = f.udp() else { return };
        if ![67, 68].contains(&u.sport) && ![67, 68].contains(&u.dport) {
            return;
        }
        seen += 1;
        let Ok(p) = Packet::new_checked(u.payload) else {
            return;
        };
        let _ = p.all_options().count();
        let Ok(r) = Repr::parse(&p) else { return };
        let mut out = vec![0u8; r.buffer_len()];
        let n = r.emit(&mut out).expect("emit a parsed message");
        assert_eq!(&out[..n], u.payload, "{}#{}", f.file.display(), f.number);
        same += 1;
        let k = r.known().unwrap();
        let o = oracles
            .entry(f.file.to_path_buf())
            .or_insert_with(|| oracle_for(f.file));
        if let Some(o) = o.as_ref().and_then(|m| m.get(&f.number)) {
            compared += 1;
            let at = format!("{}#{}", f.file.display(), f.number);
            assert_eq!(o.xid, Some(r.xid), "{at}");
            assert_eq!(o.kind.as_deref(), k.message_type.map(tcpdump_name), "{at}");
            assert_eq!(o.requested, k.requested_ip, "{at}");
            assert_eq!(o.server_id, k.server_id, "{at}");
            assert_eq!(o.lease, k.lease_time, "{at}");
        }
    });
    if let Some(s) = s {
        eprintln!(
            "corpus/dhcp4: {} files, {} frames, {seen} DHCP, {same} re-emitted, {compared} checked against tcpdump",
            s.files, s.frames
        );
        assert!(seen >= 20, "expected DHCP frames, saw {seen}");
        assert!(
            compared >= 10,
            "expected tcpdump oracles, compared {compared}"
        );
    }
}

/// Option 82 of pcapplusplus Dhcp1.pcap frame 1, as `tcpdump -vv -n` prints it:
/// "Agent-Information (82), length 22: Circuit-ID SubOption 1, length 20:  PON 1/1/07/01:1.0.1".
/// Option 52 of suricata's overload capture, frame 4: "OO (52), length 1: sname", with
/// the DNS server in `sname`.
#[test]
fn option_82_and_overload_match_tcpdump() {
    let Some(dir) = corpus::dir() else { return };
    let mut hit = 0;
    corpus::read_capture(&dir.join("dhcp4/pcapplusplus__Dhcp1.pcap"), |f| {
        if f.number != 1 {
            return;
        }
        let u = f.udp().unwrap();
        let p = Packet::new_checked(u.payload).unwrap();
        let r = Repr::parse(&p).unwrap();
        let k = r.known().unwrap();
        let info = k.relay_agent_info.unwrap();
        assert_eq!(info.len(), 22);
        let ra = RelayAgentInfo::new_checked(info).unwrap();
        assert_eq!(ra.circuit_id(), Some(&b" PON 1/1/07/01:1.0.1"[..]));
        assert_eq!(ra.remote_id(), None);
        assert_eq!(r.xid, 0x7771_cf85);
        assert_eq!(r.giaddr, Ipv4Addr::new(10, 10, 8, 240));
        assert_eq!(r.hops, 1);
        assert_eq!(k.dns, Some(&[143, 209, 4, 1, 143, 209, 5, 1][..]));
        hit += 1;
    });
    corpus::read_capture(
        &dir.join("dhcp4/suricata-verify__dhcp-option-52-overload__input.pcap"),
        |f| {
            if f.number != 4 {
                return;
            }
            let u = f.udp().unwrap();
            let r = Repr::parse(&Packet::new_checked(u.payload).unwrap()).unwrap();
            let k = r.known().unwrap();
            assert_eq!(k.message_type, Some(MessageType::OFFER));
            assert_eq!(k.overload.map(|o| (o.file, o.sname)), Some((false, true)));
            assert_eq!(k.dns.map(<[u8]>::len), Some(4));
            assert_eq!(&k.dns.unwrap()[..2], &[10, 100]);
            hit += 1;
        },
    );
    assert_eq!(hit, 2);
}

/// What tcpdump printed for one DHCPv6 frame (first IA and its first address/prefix).
#[derive(Debug, Default)]
struct Oracle6 {
    kind: String,
    xid: Option<u32>,
    ia: Option<(u32, u32, u32)>,
    addr: Option<(String, u32, u32)>,
    prefix: Option<(String, u32, u32)>,
}

fn num(s: &str) -> u32 {
    s.chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap()
}

fn read_out6(path: &Path) -> HashMap<usize, Oracle6> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut m = HashMap::new();
    for line in text.lines() {
        let Some(n) = line.split_whitespace().next().and_then(|s| s.parse().ok()) else {
            continue;
        };
        let Some(rest) = after(line, "dhcp6 ") else {
            continue;
        };
        let mut o = Oracle6 {
            kind: rest.split([' ', '(']).next().unwrap().to_string(),
            ..Oracle6::default()
        };
        o.xid = after(rest, "xid=").map(|x| {
            u32::from_str_radix(
                &x.chars()
                    .take_while(char::is_ascii_hexdigit)
                    .collect::<String>(),
                16,
            )
            .unwrap()
        });
        if let Some(x) = after(rest, "IAID:") {
            let t1 = after(x, "T1:").map_or(0, num);
            let t2 = after(x, "T2:").map_or(0, num);
            o.ia = Some((num(x), t1, t2));
        }
        for (key, slot) in [("IA_ADDR ", &mut o.addr), ("IA_PD-prefix ", &mut o.prefix)] {
            if let Some(x) = after(rest, key) {
                let a = x.split(' ').next().unwrap().to_string();
                *slot = Some((
                    a,
                    num(after(x, "pltime:").unwrap()),
                    num(after(x, "vltime:").unwrap()),
                ));
            }
        }
        m.insert(n, o);
    }
    m
}

#[test]
fn dhcp6_corpus_parses_reemits_and_matches_tcpdump() {
    use bng_dhcp::v6::{Ia, OptionCode, Packet as P6, Repr as R6};
    let (mut seen, mut same, mut compared) = (0, 0, 0);
    let mut oracles: HashMap<std::path::PathBuf, Option<HashMap<usize, Oracle6>>> = HashMap::new();
    let s = corpus::walk("dhcp6 corpus", "dhcp6", |f| {
        let Some(u) = f.udp() else { return };
        if ![546, 547].contains(&u.sport) && ![546, 547].contains(&u.dport) {
            return;
        }
        seen += 1;
        let Ok(p) = P6::new_checked(u.payload) else {
            return;
        };
        let Ok(r) = R6::parse(&p) else { return };
        let mut out = vec![0u8; r.buffer_len()];
        let n = r.emit(&mut out).unwrap();
        assert_eq!(&out[..n], u.payload, "{}#{}", f.file.display(), f.number);
        same += 1;
        let o = oracles.entry(f.file.to_path_buf()).or_insert_with(|| {
            let stem = f.file.file_stem()?.to_str()?;
            let p = f.file.parent()?.join(format!("{stem}.out"));
            p.exists().then(|| read_out6(&p))
        });
        let Some(o) = o.as_ref().and_then(|m| m.get(&f.number)) else {
            return;
        };
        if r.msg_type.is_relay() {
            return;
        }
        compared += 1;
        let at = format!("{}#{}", f.file.display(), f.number);
        let name = match r.msg_type.name().unwrap_or("?") {
            "INFORMATION-REQUEST" => "inf-req".to_string(),
            n => n.to_lowercase(),
        };
        assert_eq!(o.kind, name, "{at}");
        assert_eq!(o.xid, Some(r.transaction_id()), "{at}");
        let ia = r.options().map(Result::unwrap).find(|x| {
            x.code == OptionCode::IA_NA
                || x.code == OptionCode::IA_PD
                || x.code == OptionCode::IA_TA
        });
        if let Some(x) = ia.filter(|x| x.code != OptionCode::IA_TA) {
            let ia = Ia::parse(x.data).unwrap();
            assert_eq!(o.ia, Some((ia.iaid, ia.t1, ia.t2)), "{at}");
            let a = ia
                .addresses()
                .next()
                .map(|a| (a.addr.to_string(), a.preferred, a.valid));
            assert_eq!(o.addr, a, "{at}");
            let pf = ia.prefixes().next().map(|p| {
                (
                    format!("{}/{}", p.prefix, p.prefix_len),
                    p.preferred,
                    p.valid,
                )
            });
            assert_eq!(o.prefix, pf, "{at}");
        }
    });
    if let Some(s) = s {
        eprintln!(
            "corpus/dhcp6: {} files, {} frames, {seen} DHCPv6, {same} re-emitted, {compared} checked against tcpdump",
            s.files, s.frames
        );
        assert!(seen >= 20, "expected DHCPv6 frames, saw {seen}");
        assert_eq!(
            seen, same,
            "every DHCPv6 frame of the corpus is well formed"
        );
        assert!(
            compared >= 15,
            "expected tcpdump oracles, compared {compared}"
        );
    }
}
