//! Every PPPoE frame of `../shared/corpus/pppoe` and `../shared/corpus/ppp` parses
//! without panic; every well-formed discovery packet re-emits byte-identically; and
//! our decode agrees with tcpdump's (the `.out` files of the corpus, and tcpdump run on
//! every capture when it is installed) on codes, session ids, tag names and values.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::single_match_else,
    reason = "tests"
)]

use core::fmt::Write as _;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bng_pppoe::discovery::{Code, Packet, Repr, TagType};
use bng_pppoe::ethernet::Frame;
use bng_pppoe::tags::DiscoveryTags;
use bng_testkit::corpus;

fn check(proto: &str) -> (usize, usize) {
    let (mut discovery, mut same) = (0, 0);
    let s = corpus::walk("pppoe corpus", proto, |f| {
        let Some((et, payload)) = f.ethertype_payload() else {
            return;
        };
        if et != 0x8863 && et != 0x8864 {
            return;
        }
        let Ok(p) = Packet::new_checked(payload) else {
            return;
        };
        if p.code() == Code::SESSION {
            return;
        }
        discovery += 1;
        // The typed view accepts every frame the raw walk accepts.
        let typed = DiscoveryTags::parse(p.payload());
        if Repr::parse(&p).is_ok() {
            let t = typed.expect("typed tags of a valid packet");
            let _ = t.line_info();
        }
        if let Ok(r) = Repr::parse(&p) {
            let mut out = vec![0u8; r.buffer_len()];
            let n = r.emit(&mut out).expect("emit a parsed packet");
            assert_eq!(&out[..n], p.as_bytes(), "{}#{}", f.file.display(), f.number);
            same += 1;
        }
    });
    if let Some(s) = s {
        eprintln!(
            "corpus/{proto}: {} files, {} frames, {discovery} discovery, {same} re-emitted",
            s.files, s.frames
        );
    }
    (discovery, same)
}

#[test]
fn pppoe_corpus_parses_and_reemits() {
    let (d, same) = check("pppoe");
    if bng_testkit::corpus::dir().is_some() {
        assert!(d >= 10, "expected discovery frames in the corpus, saw {d}");
        assert_eq!(
            d, same,
            "every discovery frame of the corpus is well formed"
        );
    }
    let _ = check("ppp");
}

/// One PPPoE frame as tcpdump prints it: code name (empty for session data), the
/// session id (tcpdump omits 0 on discovery), and the tags as `Name value`.
#[derive(Debug, PartialEq, Eq)]
struct Decoded {
    code: String,
    session: u16,
    tags: Vec<String>,
}

/// tcpdump's spelling of the tags we name differently (print-pppoe.c).
fn tcpdump_tag_name(t: TagType) -> String {
    match t {
        TagType::RELAY_SESSION_ID => "Relay-Session-ID".into(),
        TagType::END_OF_LIST => "EOL".into(),
        t => t
            .name()
            .map_or_else(|| format!("TAG-0x{:x}", t.0), str::to_owned),
    }
}

/// Our decode, rendered the way tcpdump renders a tag value: text in quotes when
/// every byte is printable ASCII, else `0x` and upper-case hex; nothing when empty.
fn ours(payload: &[u8]) -> Option<Decoded> {
    let p = Packet::new_checked(payload).ok()?;
    if p.code() == Code::SESSION {
        return Some(Decoded {
            code: String::new(),
            session: p.session_id(),
            tags: Vec::new(),
        });
    }
    let r = Repr::parse(&p).ok()?;
    let mut tags = Vec::new();
    for t in p.tags() {
        let t = t.ok()?;
        let mut s = tcpdump_tag_name(t.kind);
        if !t.value.is_empty() {
            if t.value.iter().all(|b| (0x20..0x7f).contains(b)) {
                let _ = write!(s, " \"{}\"", String::from_utf8_lossy(t.value));
            } else {
                s.push_str(" 0x");
                for b in t.value {
                    let _ = write!(s, "{b:02X}");
                }
            }
        }
        tags.push(s);
    }
    Some(Decoded {
        code: format!("{:?}", r.code),
        session: r.session_id,
        tags,
    })
}

/// Parses the PPPoE part of a tcpdump line (`PPPoE PADI [ses 0x1] [Service-Name] ...`).
fn theirs(line: &str) -> Option<(usize, Decoded)> {
    let number: usize = line.split_whitespace().next()?.parse().ok()?;
    let rest = &line[line.find("PPPoE ")? + 6..];
    let (code, mut rest) = match rest.strip_prefix(' ') {
        Some(r) => (String::new(), r),
        None => {
            let end = rest.find(' ').unwrap_or(rest.len());
            (rest[..end].to_owned(), rest[end..].trim_start())
        }
    };
    let mut session = 0;
    let mut tags = Vec::new();
    while let Some(r) = rest.strip_prefix('[') {
        // Values are quoted text or hex; a ']' inside quotes does not end the tag.
        let mut in_quotes = false;
        let end = r.char_indices().find(|&(_, c)| {
            if c == '"' {
                in_quotes = !in_quotes;
            }
            c == ']' && !in_quotes
        })?;
        let body = &r[..end.0];
        if let Some(hex) = body.strip_prefix("ses 0x") {
            session = u16::from_str_radix(hex, 16).ok()?;
        } else {
            tags.push(body.to_owned());
        }
        rest = r[end.0 + 1..].trim_start();
        if code.is_empty() {
            break; // session frames: the PPP decode follows
        }
    }
    Some((
        number,
        Decoded {
            code,
            session,
            tags,
        },
    ))
}

/// Our decode of every PPPoE frame of corpus/pppoe, by capture file and number.
fn our_decodes() -> Option<BTreeMap<(PathBuf, usize), Decoded>> {
    let mut m = BTreeMap::new();
    corpus::walk("pppoe tcpdump oracle", "pppoe", |f| {
        if f.link != corpus::Link::Ethernet {
            return;
        }
        let Ok(fr) = Frame::new_checked(f.data) else {
            return;
        };
        if matches!(fr.header.ethertype, 0x8863 | 0x8864) {
            if let Some(d) = ours(fr.payload) {
                m.insert((f.file.to_path_buf(), f.number), d);
            }
        }
    })?;
    Some(m)
}

fn compare(ours: &BTreeMap<(PathBuf, usize), Decoded>, pcap: &Path, text: &str) -> usize {
    let mut n = 0;
    for line in text.lines().filter(|l| l.contains("PPPoE ")) {
        let Some((number, d)) = theirs(line) else {
            continue;
        };
        let mine = ours
            .get(&(pcap.to_path_buf(), number))
            .unwrap_or_else(|| panic!("{}#{number}: tcpdump decodes, we do not", pcap.display()));
        assert_eq!(mine.code, d.code, "{}#{number}: {line}", pcap.display());
        assert_eq!(
            mine.session,
            d.session,
            "{}#{number}: {line}",
            pcap.display()
        );
        if !d.code.is_empty() {
            assert_eq!(mine.tags, d.tags, "{}#{number}: {line}", pcap.display());
        }
        n += 1;
    }
    n
}

#[test]
fn tcpdump_out_files_agree() {
    let Some(ours) = our_decodes() else { return };
    let dir = corpus::dir().unwrap().join("pppoe");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let out = entry.unwrap().path();
        if out.extension().is_none_or(|e| e != "out") {
            continue;
        }
        // tcpdump__pppoes_id.out decodes tcpdump__pppoes.pcap with a filter.
        let stem = out
            .file_stem()
            .unwrap()
            .to_string_lossy()
            .replace("_id", "");
        let pcap = dir.join(format!("{stem}.pcap"));
        let text = std::fs::read_to_string(&out).unwrap();
        if stem.ends_with("pppoes") && out.to_string_lossy().contains("_id") {
            // Filtered output renumbers frames; compare codes and ids only.
            for line in text.lines() {
                let (_, d) = theirs(line).unwrap();
                assert!(
                    ours.values()
                        .any(|o| o.session == d.session && o.code == d.code)
                );
                n += 1;
            }
            continue;
        }
        n += compare(&ours, &pcap, &text);
    }
    eprintln!("tcpdump .out oracle: {n} lines agree");
    assert!(n >= 3, "{n}");
}

#[test]
fn tcpdump_live_decode_agrees() {
    let test = "pppoe tcpdump live oracle";
    let Some(ours) = our_decodes() else { return };
    let Some(files) = corpus::files(test, "pppoe", &[".pcap", ".pcapng"]) else {
        return;
    };
    let mut n = 0;
    for pcap in files {
        let out = match std::process::Command::new("tcpdump")
            .args(["-#", "-nn", "-r"])
            .arg(&pcap)
            .output()
        {
            Ok(o) if o.status.success() => o,
            Ok(o) => panic!(
                "tcpdump on {}: {}",
                pcap.display(),
                String::from_utf8_lossy(&o.stderr)
            ),
            Err(e) => {
                bng_testkit::skip_or_fail(test, &format!("tcpdump not runnable: {e}"));
                return;
            }
        };
        n += compare(&ours, &pcap, &String::from_utf8_lossy(&out.stdout));
    }
    eprintln!("tcpdump live oracle: {n} PPPoE frames agree");
    assert!(n >= 10, "{n}");
}
