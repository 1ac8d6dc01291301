//! draft-mcgrew-gcm-test-01 ESP packets (`../shared/corpus/vectors`): every
//! AES-GCM case decrypts byte-exactly through an inbound SA (incl. ESN) and
//! re-encrypts through an outbound SA to the same bytes.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::many_single_char_names,
    clippy::std_instead_of_core,
    clippy::format_collect,
    reason = "tests"
)]

use std::collections::HashMap;
use std::time::Duration;

use bng_esp::crypto::{AeadTransform, RcAes128Gcm, RcAes192Gcm, RcAes256Gcm, Transform};
use bng_esp::sa::{Config, Inbound, Mode, Outbound};
use bng_esp::wire::{NextHeader, Spi, Trailer};
use bng_esp::{Error, ProtocolError};

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

fn cases() -> Option<Vec<HashMap<String, String>>> {
    let dir = bng_testkit::corpus::dir();
    let Some(dir) = dir else {
        bng_testkit::skip_or_fail("esp vectors", "no ../shared/corpus");
        return None;
    };
    let text =
        std::fs::read_to_string(dir.join("vectors/esp-aes-gcm-draft-mcgrew-gcm-test-01.txt"))
            .unwrap();
    let mut out = Vec::new();
    let mut cur: Option<HashMap<String, String>> = None;
    for line in text.lines() {
        if line.starts_with('[') {
            out.extend(cur.take());
            let mut m = HashMap::new();
            m.insert("name".into(), line.to_string());
            cur = Some(m);
        } else if let (Some(m), Some((k, v))) = (cur.as_mut(), line.split_once(" = ")) {
            m.insert(k.trim().into(), v.trim().into());
        }
    }
    out.extend(cur);
    Some(out)
}

const HEAD: usize = 64;

fn run<T: Transform + Clone>(c: &HashMap<String, String>, t: T) {
    let name = &c["name"];
    let esn = c["esn"] == "yes";
    let spi = u32::from_str_radix(&c["spi"], 16).unwrap();
    let seq = u64::from_str_radix(&c["seq"], 16).unwrap();
    let iv = u64::from_str_radix(&c["iv"], 16).unwrap();
    let wire = unhex(&c["esp_packet"]);
    let plain = unhex(&c["plaintext"]);
    let mut cfg = Config::new(Spi(spi), Mode::Transport);
    cfg.esn = esn;
    cfg.iv_mask = iv ^ seq;

    // Inbound: decrypt in place.
    let mut rx = Inbound::new(cfg, t.clone(), Duration::ZERO).unwrap();
    if seq > 1 {
        rx.window_mut().set_top(seq - 1);
    }
    let mut buf = wire.clone();
    let mut tampered = wire.clone();
    *tampered.last_mut().unwrap() ^= 1;
    let n = tampered.len();
    assert_eq!(
        rx.decap_esp(Duration::ZERO, &mut tampered, 0..n),
        Err(Error::Protocol(ProtocolError::IcvMismatch)),
        "{name}"
    );
    let n = buf.len();
    let p = rx.decap_esp(Duration::ZERO, &mut buf, 0..n).unwrap();
    assert_eq!(p.seq, seq, "{name}");
    let (inner_len, trailer) = Trailer::parse(&plain, true).unwrap();
    assert_eq!(&buf[p.payload.clone()], &plain[..inner_len], "{name}");
    assert_eq!(p.next_header, trailer.next_header, "{name}");
    // A replay of the same packet is rejected.
    let mut again = wire.clone();
    assert_eq!(
        rx.decap_esp(Duration::ZERO, &mut again, 0..n),
        Err(Error::Protocol(ProtocolError::Replayed)),
        "{name}"
    );

    // Outbound: the same plaintext re-encrypts to the same bytes.
    let mut tx = Outbound::starting_at(cfg, t, Duration::ZERO, seq).unwrap();
    let mut out = vec![0u8; HEAD + plain.len() + 64];
    out[HEAD..HEAD + inner_len].copy_from_slice(&plain[..inner_len]);
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(0);
    let r = tx
        .encap_esp(
            Duration::ZERO,
            &mut out,
            HEAD..HEAD + inner_len,
            NextHeader(trailer.next_header.0),
            0,
            &mut rng,
        )
        .unwrap();
    assert_eq!(hex(&out[r]), hex(&wire), "{name}");
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn draft_mcgrew_gcm_test_01() {
    let Some(cases) = cases() else { return };
    let mut done = 0;
    for c in &cases {
        let key = unhex(&c["key"]);
        let salt: [u8; 4] = unhex(&c["salt"]).try_into().unwrap();
        let cipher = c["cipher"].as_str();
        if cipher.contains("GMAC") {
            eprintln!("{}: GMAC (RFC 4543) not implemented, skipped", c["name"]);
            continue;
        }
        let keymat = [key.as_slice(), &salt].concat();
        match cipher {
            "AES-128-GCM-16" => run(
                c,
                AeadTransform::<RcAes128Gcm>::from_keymat(&keymat).unwrap(),
            ),
            "AES-192-GCM-16" => run(
                c,
                AeadTransform::<RcAes192Gcm>::from_keymat(&keymat).unwrap(),
            ),
            "AES-256-GCM-16" => run(
                c,
                AeadTransform::<RcAes256Gcm>::from_keymat(&keymat).unwrap(),
            ),
            other => panic!("unknown cipher {other}"),
        }
        done += 1;
    }
    assert!(done >= 10, "ran {done} vectors");
}

#[cfg(feature = "ring")]
#[test]
fn draft_mcgrew_gcm_test_01_ring() {
    use bng_esp::ring::{RingAes128Gcm, RingAes256Gcm};
    let Some(cases) = cases() else { return };
    for c in &cases {
        let keymat = [unhex(&c["key"]), unhex(&c["salt"])].concat();
        match c["cipher"].as_str() {
            "AES-128-GCM-16" => run(
                c,
                AeadTransform::<RingAes128Gcm>::from_keymat(&keymat).unwrap(),
            ),
            "AES-256-GCM-16" => run(
                c,
                AeadTransform::<RingAes256Gcm>::from_keymat(&keymat).unwrap(),
            ),
            _ => {}
        }
    }
}
