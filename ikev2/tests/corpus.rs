//! Every IKE frame of `../shared/corpus/ikev2` parses without panic; IKEv1 captures
//! are rejected cleanly by the version check; every well-formed IKEv2 message
//! re-emits byte-identically, payload by payload; and the IKE_AUTH of
//! `tcpdump__ikev2pI2.pcap` decrypts with `KEYS-ikev2.tsv` to IDi "west".

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::doc_markdown,
    reason = "tests"
)]

use bng_ikev2::ParseError;
use bng_ikev2::header::{Packet, strip_non_esp_marker};
use bng_ikev2::message::Repr;
use bng_ikev2::payload::{Payload, PayloadList};
use bng_ikev2::sk::{SkSuite, open_unverified};
use bng_ikev2::types::{EncrId, ExchangeType, IdType, IntegId, PayloadType};
use bng_testkit::corpus;

/// The IKE message of a UDP 500 / 4500 datagram.
fn ike_bytes<'a>(u: &corpus::Udp<'a>) -> Option<&'a [u8]> {
    if u.sport == 500 || u.dport == 500 {
        Some(u.payload)
    } else if u.sport == 4500 || u.dport == 4500 {
        strip_non_esp_marker(u.payload)
    } else {
        None
    }
}

#[derive(Default, Debug)]
struct Stats {
    v2: usize,
    v2_ok: usize,
    v1: usize,
    other_err: usize,
    payloads_same: usize,
    known_bad: usize,
}

/// IKEv2 captures that are deliberately malformed (tcpdump tests): rejected, not
/// re-emitted. `ikev2-id-normal`: an IDi payload of length 9 followed by 60 bytes of
/// `0xdeadbeef` inside the message Length, after Next Payload NONE.
const MALFORMED: &[&str] = &["tcpdump__ikev2-id-normal.pcap"];

fn check_message(bytes: &[u8], st: &mut Stats, where_: &str) {
    match Packet::new_checked(bytes) {
        Err(ParseError::Ikev1 { .. }) => st.v1 += 1,
        Err(_) => st.other_err += 1,
        Ok(p) => {
            st.v2 += 1;
            for x in p.payloads() {
                let _ = x;
            }
            let r = match Repr::parse(&p) {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("{where_}: {e:?}");
                    assert!(
                        MALFORMED.iter().any(|m| where_.contains(m)),
                        "{where_}: unexpected rejection {e:?}"
                    );
                    st.known_bad += 1;
                    return;
                }
            };
            st.v2_ok += 1;
            // Whole message, wire form.
            let mut out = vec![0u8; r.buffer_len()];
            let n = r.emit(&mut out).unwrap();
            assert_eq!(&out[..n], p.as_bytes(), "{where_}");
            // Typed: every payload parsed and re-emitted from its Repr.
            let typed: Vec<Payload<'_>> = p
                .payloads()
                .map(|x| Payload::parse(&x.unwrap()).unwrap())
                .collect();
            let list = Repr {
                header: r.header,
                payloads: PayloadList::List(&typed),
            };
            let mut out2 = vec![0u8; list.buffer_len()];
            let n2 = list.emit(&mut out2).unwrap();
            assert_eq!(n2, n, "{where_}");
            // Critical bits are not kept in typed form: compare with them masked.
            let raw: Vec<_> = p.payloads().map(Result::unwrap).collect();
            let mut at = 28;
            for (rp, tp) in raw.iter().zip(&typed) {
                let len = 4 + rp.body.len();
                assert_eq!(out2[at], out[at], "{where_} next payload");
                assert_eq!(
                    &out2[at + 2..at + len],
                    &out[at + 2..at + len],
                    "{where_} {:?}",
                    tp.kind()
                );
                at += len;
                st.payloads_same += 1;
            }
        }
    }
}

#[test]
fn ikev2_corpus_parses_rejects_v1_and_reemits() {
    let mut st = Stats::default();
    let s = corpus::walk("ikev2 corpus", "ikev2", |f| {
        let Some(u) = f.udp() else { return };
        let Some(b) = ike_bytes(&u) else { return };
        let w = format!("{}#{}", f.file.display(), f.number);
        let v1 = f.file.to_string_lossy().contains("ikev1")
            || f.file.to_string_lossy().contains("isakmp")
            || f.file.to_string_lossy().contains("IKEv1");
        let before = st.v2;
        check_message(b, &mut st, &w);
        if v1 && st.v2 != before {
            // A v1 capture must never be taken for IKEv2 unless it really says 2.x.
            assert_eq!(b.get(17).map(|v| v >> 4), Some(2), "{w}");
        }
    });
    let _ = corpus::walk("esp corpus (NAT-T IKE)", "esp", |f| {
        let Some(u) = f.udp() else { return };
        let Some(b) = ike_bytes(&u) else { return };
        check_message(b, &mut st, "esp");
    });
    eprintln!("{st:?}");
    if let Some(s) = s {
        eprintln!("corpus/ikev2: {} files, {} frames", s.files, s.frames);
        assert!(st.v2 >= 50, "IKEv2 messages seen: {st:?}");
        assert!(st.v1 >= 50, "IKEv1 messages rejected: {st:?}");
        assert_eq!(
            st.v2,
            st.v2_ok + st.known_bad,
            "every IKEv2 message but the known-malformed ones is well formed: {st:?}"
        );
        assert_eq!(st.known_bad, 1);
    }
}

fn hex(s: &str) -> Vec<u8> {
    let s = s.trim().trim_start_matches("0x");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn ikev2pi2_ike_auth_decrypts_to_idi_west() {
    let Some(dir) = corpus::dir() else {
        return;
    };
    let keys = std::fs::read_to_string(dir.join("ikev2/KEYS-ikev2.tsv")).unwrap();
    let row: Vec<&str> = keys
        .lines()
        .find(|l| l.starts_with("tcpdump__ikev2pI2.pcap"))
        .unwrap()
        .split('\t')
        .collect();
    assert_eq!(row[3], "aes128-cbc");
    let sk_ei = hex(row[4]);
    let spi_i = hex(row[1]);
    let mut frames = Vec::new();
    corpus::read_capture(&dir.join("ikev2/tcpdump__ikev2pI2.pcap"), |f| {
        frames.push(f.udp().unwrap().payload.to_vec());
    });
    assert_eq!(frames.len(), 2);
    let mut msg = frames[1].clone();
    let p = Packet::new_checked(&msg[..]).unwrap();
    assert_eq!(p.exchange(), ExchangeType::IKE_AUTH);
    assert_eq!(&p.spi_i()[..], &spi_i[..]);
    let suite = SkSuite {
        encr: EncrId::AES_CBC,
        key_bits: 128,
        integ: IntegId::HMAC_SHA1_96,
    };
    // The published integrity keys do not verify (corpus README): decrypt only.
    let d = open_unverified(&suite, &sk_ei, &mut msg).unwrap();
    assert_eq!(d.first, PayloadType::IDI);
    let inner: Vec<_> = d
        .payloads()
        .map(|r| Payload::parse(&r.unwrap()).unwrap())
        .collect();
    match inner[0] {
        Payload::Idi(id) => {
            assert_eq!(id.id_type, IdType::FQDN);
            assert_eq!(id.data, b"west");
        }
        ref other => panic!("first inner payload {other:?}"),
    }
    assert!(matches!(inner[1], Payload::Auth(_)), "{inner:?}");
    // And with verification on, the ICV is rejected (the keys are known bad).
    let mut msg2 = frames[1].clone();
    let ak = hex(row[7]);
    assert!(bng_ikev2::sk::open(&suite, &sk_ei, &ak, &mut msg2).is_err());
}

/// tcpdump's decode as an oracle: for every IKEv2 frame tcpdump printed, our header
/// view agrees on the message ID, the exchange type, the I and R flags and (where
/// tcpdump prints them) the SPIs.
#[test]
fn ikev2_headers_match_tcpdump() {
    let Some(dir) = corpus::dir() else {
        return;
    };
    let mut checked = 0;
    for (pcap, out) in [
        ("tcpdump__ikev2four.pcap", "tcpdump__ikev2four.out"),
        ("tcpdump__ikev2pI2.pcap", "tcpdump__ikev2pI2.out"),
        (
            "tcpdump__ikev2-id-normal.pcap",
            "tcpdump__ikev2-id-normal.out",
        ),
    ] {
        let text = std::fs::read_to_string(dir.join("ikev2").join(out)).unwrap();
        // Frame number from "    N  2007-08-06 ..." lines, then its "isakmp 2.0" line.
        let mut want = std::collections::HashMap::new();
        let mut frame = 0usize;
        for line in text.lines() {
            let t = line.trim_start();
            let mut words = t.split_whitespace();
            if let (Some(n), Some(date)) = (words.next(), words.next()) {
                if date.len() == 10 && date.as_bytes()[4] == b'-' {
                    if let Ok(n) = n.parse() {
                        frame = n;
                        continue;
                    }
                }
            }
            if let Some(rest) = t.split_once("isakmp 2.0 msgid ").map(|x| x.1) {
                want.insert(frame, rest.to_owned());
            }
        }
        let mut frames = Vec::new();
        corpus::read_capture(&dir.join("ikev2").join(pcap), |f| {
            frames.push(f.udp().map(|u| u.payload.to_vec()));
        });
        for (i, payload) in frames.iter().enumerate() {
            let Some(w) = want.get(&(i + 1)) else {
                continue;
            };
            let p = Packet::new_checked(&payload.as_ref().unwrap()[..]).unwrap();
            let (msgid, rest) = w.split_once([':', ' ']).unwrap();
            assert_eq!(
                u32::from_str_radix(msgid, 16).unwrap(),
                p.message_id(),
                "{pcap}#{}",
                i + 1
            );
            if let Some(c) = rest.trim_start().strip_prefix("cookie ") {
                let (a, b) = c.split_once("->").unwrap();
                let b = &b[..16];
                assert_eq!(hex(a), p.spi_i(), "{pcap}#{}", i + 1);
                assert_eq!(hex(b), p.spi_r(), "{pcap}#{}", i + 1);
            }
            let name = match p.exchange() {
                ExchangeType::IKE_SA_INIT => "ikev2_init",
                ExchangeType::IKE_AUTH => "ikev2_auth",
                ExchangeType::CREATE_CHILD_SA => "child_sa[",
                ExchangeType::INFORMATIONAL => "inf2",
                other => panic!("{other:?}"),
            };
            let name = name.trim_end_matches('[');
            let flags = format!(
                "[{}{}]",
                if p.flags().initiator() { "I" } else { "" },
                if p.flags().response() { "R" } else { "" }
            );
            assert!(
                w.contains(&format!("{name}{flags}")),
                "{pcap}#{}: tcpdump '{w}', ours {name}{flags}",
                i + 1
            );
            checked += 1;
        }
    }
    eprintln!("tcpdump oracle: {checked} IKEv2 headers agree");
    assert!(checked >= 20, "checked {checked}");
}
