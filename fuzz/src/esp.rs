//! Fuzz bodies for `bng-esp`.

use core::time::Duration;

use bng_esp::crypto::{Aes128GcmEsp, Aes256CbcHmacSha256, NullHmacSha256};
use bng_esp::natt;
use bng_esp::sa::{Config, Inbound, Mode, Outbound, Tunnel, UdpEncap};
use bng_esp::wire::{Packet, Repr, Spi, Trailer};

/// The targets of this module, by name (each has `fuzz_targets/<name>.rs` and
/// `corpus/<name>/`).
pub const TARGETS: &[(&str, crate::Body)] = &[
    ("esp_header", esp_header),
    ("esp_decap", esp_decap),
    ("esp_roundtrip", esp_roundtrip),
];

/// A deterministic "CryptoRng" for fuzzing only (no security needed here).
struct FuzzRng(u64);

impl bng_esp::rand_core::RngCore for FuzzRng {
    fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }
    fn next_u64(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1);
        self.0
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for b in dest {
            *b = self.next_u64() as u8;
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), bng_esp::rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}
impl bng_esp::rand_core::CryptoRng for FuzzRng {}

const SPI: Spi = Spi(0x0000_1234);

fn tunnel() -> Mode {
    Mode::Tunnel(Tunnel::V4 {
        src: [10, 0, 0, 1],
        dst: [10, 0, 0, 2],
    })
}

/// ESP header view and `Repr` (RFC 4303 section 2), trailer parser and the
/// RFC 3948 classifier: parse -> emit -> parse.
pub fn esp_header(data: &[u8]) {
    let _ = natt::classify(data);
    let _ = Trailer::parse(data, true);
    let Ok(p) = Packet::new_checked(data) else {
        return;
    };
    let _ = p.payload();
    let r = Repr::parse(&p).expect("a checked view parses");
    let mut out = [0u8; 8];
    let n = r.emit(&mut out).expect("a parsed header emits");
    assert_eq!(
        out.get(..n),
        data.get(..8),
        "re-emit must be byte-identical"
    );
    let r2 = Repr::parse(&Packet::new_checked(&out[..]).expect("re-parse view")).expect("re-parse");
    assert_eq!(r, r2);
}

/// Inbound decapsulation of arbitrary bytes (an IP packet, or a bare ESP packet)
/// under fixed SAs: never panics; a failure leaves the replay window unchanged.
pub fn esp_decap(data: &[u8]) {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let mut cfg = Config::new(
        SPI,
        if sel & 1 == 0 {
            tunnel()
        } else {
            Mode::Transport
        },
    );
    cfg.esn = sel & 2 != 0;
    if sel & 4 != 0 {
        cfg.udp_encap = Some(UdpEncap::default());
    }
    let mut buf = [0u8; 4096];
    let n = rest.len().min(buf.len());
    buf[..n].copy_from_slice(&rest[..n]);
    let now = Duration::ZERO;
    match sel >> 6 {
        0 => {
            let mut rx =
                Inbound::new(cfg, Aes128GcmEsp::from_keymat(&[7; 20]).unwrap(), now).unwrap();
            let _ = rx.decap(now, &mut buf, 0..n);
            let top = rx.window().top();
            if rx.decap_esp(now, &mut buf, 0..n).is_err() {
                assert_eq!(rx.window().top(), top);
            }
        }
        1 => {
            let t = Aes256CbcHmacSha256::new(&[1; 32], &[2; 32]).unwrap();
            let mut rx = Inbound::new(cfg, t, now).unwrap();
            let _ = rx.decap(now, &mut buf, 0..n);
            let _ = rx.decap_esp(now, &mut buf, 0..n);
        }
        _ => {
            // NULL encryption: the fuzzer can reach the trailer and inner parsing
            // only with a valid ICV, so compute one over its bytes first.
            let t = NullHmacSha256::new(&[3; 32]).unwrap();
            let mut tx = Outbound::new(cfg, t.clone(), now).unwrap();
            let mut rx = Inbound::new(cfg, t, now).unwrap();
            let mut rng = FuzzRng(1);
            let head = tx.headroom();
            let mut frame = [0u8; 4096 + 512];
            let m = n.min(4096 - head);
            frame[head..head + m].copy_from_slice(&buf[..m]);
            if let Ok(out) = tx.encap(now, &mut frame, head..head + m, &mut rng) {
                let _ = rx.decap(now, &mut frame, out);
            }
        }
    }
}

/// Arbitrary inner packets through encap then decap in every mode: the inner
/// packet comes back byte-identical whenever encapsulation accepts it.
pub fn esp_roundtrip(data: &[u8]) {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let mut cfg = Config::new(
        SPI,
        if sel & 1 == 0 {
            tunnel()
        } else {
            Mode::Transport
        },
    );
    cfg.esn = sel & 2 != 0;
    if sel & 4 != 0 {
        cfg.udp_encap = Some(UdpEncap::default());
    }
    cfg.tfc_pad_to = u16::from(sel & 0x30) * 8;
    let now = Duration::ZERO;
    let t = Aes128GcmEsp::from_keymat(&[9; 20]).unwrap();
    let mut tx = Outbound::new(cfg, t.clone(), now).unwrap();
    let mut rx = Inbound::new(cfg, t, now).unwrap();
    let mut rng = FuzzRng(2);
    let mut frame = [0u8; 2048 + 1024];
    let n = rest.len().min(2048);
    frame[128..128 + n].copy_from_slice(&rest[..n]);
    let Ok(out) = tx.encap(now, &mut frame, 128..128 + n, &mut rng) else {
        return;
    };
    let d = rx.decap(now, &mut frame, out);
    if let Ok(d) = d {
        let got = frame.get(d.packet.clone()).unwrap_or_default();
        let want = rest.get(..got.len()).unwrap_or_default();
        if sel & 1 == 0 {
            assert_eq!(got, want, "tunnel mode returns the inner packet");
        } else {
            // Transport mode restores the IP header; an IPv4 checksum is recomputed,
            // and behind NAT-T the TCP/UDP checksum too (RFC 3948 section 3.1.2).
            assert_eq!(got.len(), n);
            if sel & 4 != 0 {
                return;
            }
            let skip = if got.first().map(|b| b >> 4) == Some(4) {
                10..12
            } else {
                0..0
            };
            for (i, (a, b)) in got.iter().zip(want).enumerate() {
                assert!(skip.contains(&i) || a == b, "transport byte {i} differs");
            }
        }
    } else if sel & 1 == 0 {
        // Tunnel mode only fails back when the inner IP length is inconsistent.
        assert!(matches!(
            d,
            Err(bng_esp::Error::Parse(_) | bng_esp::Error::Protocol(_))
        ));
    }
}
