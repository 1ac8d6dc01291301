//! `../shared/corpus/esp` (and the ESP frames of `../shared/corpus/ikev2`):
//! every ESP frame parses without panic and its header re-emits identically;
//! decapsulation of arbitrary captured ESP under a foreign key fails cleanly; and
//! the keyed tcpdump captures (KEYS-esp.tsv: 3DES-CBC, HMAC-SHA1-96 with no
//! published integrity key) decrypt through `Inbound::decap` to the inner
//! packets tcpdump's `.out` files show, including the nested SA of esp2.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::many_single_char_names,
    clippy::std_instead_of_core,
    reason = "tests"
)]

use core::time::Duration;

use aes::cipher::{BlockDecryptMut, KeyIvInit};
use bng_esp::crypto::{Aes128GcmEsp, CryptoError, Transform};
use bng_esp::natt;
use bng_esp::sa::{Config, Inbound, Mode, Tunnel};
use bng_esp::wire::{NextHeader, Packet, Repr, Spi};
use bng_testkit::corpus;

/// 3DES-CBC (RFC 2451) decryption only. The corpus publishes no HMAC-SHA1-96
/// key for these SAs (KEYS-esp.tsv: "(not given)"), so the 12-byte ICV is
/// skipped here, exactly as tcpdump does; this transform exists only in this
/// test and cannot encrypt.
#[derive(Clone)]
struct TdesCbcNoIcv([u8; 24]);

impl Transform for TdesCbcNoIcv {
    fn iv_len(&self) -> usize {
        8
    }
    fn icv_len(&self) -> usize {
        12
    }
    fn block_len(&self) -> usize {
        8
    }
    fn random_iv(&self) -> bool {
        true
    }
    fn seal(
        &self,
        _: &[u8; 8],
        _: Option<u32>,
        _: &[u8],
        _: &mut [u8],
        _: &mut [u8],
    ) -> Result<(), CryptoError> {
        Err(CryptoError::BadLength)
    }
    fn open(
        &self,
        _: &[u8; 8],
        _: Option<u32>,
        iv: &[u8],
        payload_icv: &mut [u8],
    ) -> Result<(), CryptoError> {
        let n = payload_icv.len() - 12;
        let mut d = cbc::Decryptor::<des::TdesEde3>::new_from_slices(&self.0, iv).unwrap();
        for b in payload_icv[..n].chunks_exact_mut(8) {
            d.decrypt_block_mut(b.into());
        }
        Ok(())
    }
}

fn unhex(s: &str) -> Vec<u8> {
    let s = s.trim_start_matches("0x");
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

fn sa(spi: u32, key: &str) -> Inbound<TdesCbcNoIcv> {
    let mode = Mode::Tunnel(Tunnel::V4 {
        src: [0; 4],
        dst: [0; 4],
    });
    Inbound::new(
        Config::new(Spi(spi), mode),
        TdesCbcNoIcv(unhex(key).try_into().unwrap()),
        Duration::ZERO,
    )
    .unwrap()
}

/// The ESP part of an IP packet (protocol 50, or UDP/4500 carrying ESP).
fn esp_of(l3: &[u8]) -> Option<&[u8]> {
    let (proto, l4) = match l3.first()? >> 4 {
        4 => {
            let hl = usize::from(l3[0] & 0x0f) * 4;
            (*l3.get(9)?, l3.get(hl..)?)
        }
        6 => (*l3.get(6)?, l3.get(40..)?),
        _ => return None,
    };
    match proto {
        50 => Some(l4),
        17 => {
            let ports = [
                u16::from_be_bytes([*l4.first()?, *l4.get(1)?]),
                u16::from_be_bytes([*l4.get(2)?, *l4.get(3)?]),
            ];
            if !ports.contains(&natt::PORT) {
                return None;
            }
            match natt::classify(l4.get(8..)?) {
                Ok(natt::Payload::Esp(e)) => Some(e),
                _ => None,
            }
        }
        _ => None,
    }
}

#[test]
fn every_esp_frame_parses_without_panic() {
    let mut esp = 0;
    for proto in ["esp", "ikev2"] {
        let s = corpus::walk("esp corpus", proto, |f| {
            let Some((0x0800 | 0x86dd, l3)) = f.ethertype_payload() else {
                return;
            };
            let Some(bytes) = esp_of(l3) else { return };
            let Ok(p) = Packet::new_checked(bytes) else {
                return;
            };
            esp += 1;
            let r = Repr::parse(&p).unwrap();
            let mut out = [0u8; 8];
            r.emit(&mut out).unwrap();
            assert_eq!(&out[..], &bytes[..8]);
            // Decapsulation under a foreign key never panics and never succeeds.
            let t = Aes128GcmEsp::from_keymat(&[0u8; 20]).unwrap();
            let mut rx =
                Inbound::new(Config::new(p.spi(), Mode::Transport), t, Duration::ZERO).unwrap();
            let mut buf = l3.to_vec();
            let n = buf.len();
            assert!(rx.decap(Duration::ZERO, &mut buf, 0..n).is_err());
        });
        if s.is_none() {
            return;
        }
    }
    eprintln!("{esp} ESP frames");
    assert!(
        esp >= 400,
        "expected the ESP frames of the corpus, saw {esp}"
    );
}

/// `IP a > b: ICMP echo request, id I, seq S, length L` after the last `: ` hop.
fn expected_inner(line: &str) -> String {
    let at = line.rfind(": IP ").unwrap();
    line[at + 2..].to_string()
}

fn describe_icmp(p: &[u8]) -> String {
    assert_eq!(p[0] >> 4, 4);
    assert_eq!(p[9], 1, "ICMP");
    let hl = usize::from(p[0] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([p[2], p[3]]));
    let ip = |a: &[u8]| format!("{}.{}.{}.{}", a[0], a[1], a[2], a[3]);
    let icmp = &p[hl..];
    assert_eq!(icmp[0], 8, "echo request");
    format!(
        "IP {} > {}: ICMP echo request, id {}, seq {}, length {}",
        ip(&p[12..16]),
        ip(&p[16..20]),
        u16::from_be_bytes([icmp[4], icmp[5]]),
        u16::from_be_bytes([icmp[6], icmp[7]]),
        total - hl
    )
}

fn keyed(capture: &str, out: &str, outer: (u32, &str), inner: Option<(u32, &str)>) -> usize {
    let Some(dir) = corpus::dir() else {
        bng_testkit::skip_or_fail("esp keyed captures", "no ../shared/corpus");
        return 0;
    };
    let lines: Vec<String> = std::fs::read_to_string(dir.join("esp").join(out))
        .unwrap()
        .lines()
        .map(expected_inner)
        .collect();
    let mut rx = sa(outer.0, outer.1);
    let mut rx2 = inner.map(|(spi, k)| sa(spi, k));
    let mut n = 0;
    corpus::read_capture(&dir.join("esp").join(capture), |f| {
        let (_, l3) = f.ethertype_payload().unwrap();
        let mut buf = l3.to_vec();
        let len = buf.len();
        let d = rx.decap(Duration::ZERO, &mut buf, 0..len).unwrap();
        assert_eq!(d.next_header, NextHeader::IPV4);
        let mut pkt = buf[d.packet].to_vec();
        if let Some(rx2) = rx2.as_mut() {
            assert_eq!(pkt[9], 50, "nested ESP");
            let len = pkt.len();
            let d2 = rx2.decap(Duration::ZERO, &mut pkt, 0..len).unwrap();
            pkt = pkt[d2.packet].to_vec();
        }
        assert_eq!(describe_icmp(&pkt), lines[n], "{capture} #{}", f.number);
        n += 1;
    });
    assert_eq!(n, lines.len());
    n
}

#[test]
fn keyed_captures_decrypt_to_tcpdump_inner_packets() {
    // KEYS-esp.tsv rows (tcpdump TESTrun esp1 and esp2).
    let a = keyed(
        "tcpdump__02-sunrise-sunset-esp.pcap",
        "tcpdump__esp1.out",
        (
            0x1234_5678,
            "0x4043434545464649494a4a4c4c4f4f515152525454575758",
        ),
        None,
    );
    let b = keyed(
        "tcpdump__08-sunrise-sunset-esp2.pcap",
        "tcpdump__esp2.out",
        (
            0x1234_5678,
            "0x43434545464649494a4a4c4c4f4f51515252545457575840",
        ),
        Some((
            0xabcd_abcd,
            "0x434545464649494a4a4c4c4f4f5151525254545757584043",
        )),
    );
    if corpus::dir().is_some() {
        assert_eq!((a, b), (8, 8));
    }
}
