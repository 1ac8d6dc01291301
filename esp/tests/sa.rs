//! SA round trips through every transform, mode, address family and NAT-T;
//! lifetimes, sequence exhaustion, ECN, batch API.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::many_single_char_names,
    clippy::similar_names,
    clippy::cast_possible_truncation,
    clippy::reversed_empty_ranges,
    clippy::std_instead_of_core,
    reason = "tests"
)]

use core::time::Duration;

use bng_esp::crypto::{
    Aes128CbcHmacSha256, Aes128GcmEsp, Aes256CbcHmacSha256, Aes256GcmEsp, ChaCha20Poly1305Esp,
    NullHmacSha256, Transform,
};
use bng_esp::sa::{
    Config, DfPolicy, Event, Inbound, Item, Limit, Limits, Mode, Outbound, Tunnel, UdpEncap,
};
use bng_esp::wire::{NextHeader, Packet, Spi};
use bng_esp::{EmitError, Error, ProtocolError};
use rand::SeedableRng;
use rand::rngs::StdRng;

const T0: Duration = Duration::ZERO;
const HEAD: usize = 128;

fn v4_sum_ok(h: &[u8]) -> bool {
    let mut s: u32 = h
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    s == 0xffff
}

/// An IPv4 ICMP echo request of `len` bytes total, with `tos` and DF.
fn icmp4(len: usize, tos: u8) -> Vec<u8> {
    let mut p = vec![0u8; len];
    p[..20].copy_from_slice(&[
        0x45, tos, 0, 0, 0x12, 0x34, 0x40, 0, 64, 1, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ]);
    p[2..4].copy_from_slice(&u16::try_from(len).unwrap().to_be_bytes());
    let mut s: u32 = p[..20]
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
        .sum();
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    p[10..12].copy_from_slice(&(!(s as u16)).to_be_bytes());
    p[20] = 8;
    for (i, b) in p[28..].iter_mut().enumerate() {
        *b = i as u8;
    }
    p
}

/// An IPv6 UDP packet with `payload` bytes of payload.
fn udp6(payload: usize) -> Vec<u8> {
    let mut p = vec![0u8; 48 + payload];
    p[0] = 0x60;
    p[4..6].copy_from_slice(&u16::try_from(8 + payload).unwrap().to_be_bytes());
    p[6] = 17;
    p[7] = 64;
    p[8..24].copy_from_slice(&[0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    p[24..40].copy_from_slice(&[0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    p[40..42].copy_from_slice(&1000u16.to_be_bytes());
    p[42..44].copy_from_slice(&2000u16.to_be_bytes());
    p[44..46].copy_from_slice(&u16::try_from(8 + payload).unwrap().to_be_bytes());
    p
}

fn frame(pkt: &[u8]) -> (Vec<u8>, core::ops::Range<usize>) {
    let mut buf = vec![0u8; HEAD + pkt.len() + 512];
    buf[HEAD..HEAD + pkt.len()].copy_from_slice(pkt);
    (buf, HEAD..HEAD + pkt.len())
}

fn tunnel4() -> Mode {
    Mode::Tunnel(Tunnel::V4 {
        src: [192, 0, 2, 1],
        dst: [192, 0, 2, 2],
    })
}

fn tunnel6() -> Mode {
    Mode::Tunnel(Tunnel::V6 {
        src: [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xa],
        dst: [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xb],
    })
}

fn roundtrip<T: Transform + Clone>(cfg: Config, t: T, pkt: &[u8]) -> Vec<u8> {
    let mut rng = StdRng::seed_from_u64(1);
    let mut tx = Outbound::new(cfg, t.clone(), T0).unwrap();
    let mut rx = Inbound::new(cfg, t, T0).unwrap();
    let mut last = Vec::new();
    for i in 1..=3u64 {
        let (mut buf, r) = frame(pkt);
        let out = tx.encap(T0, &mut buf, r, &mut rng).unwrap();
        let wire = buf[out.clone()].to_vec();
        // Outer header is valid.
        match wire[0] >> 4 {
            4 => {
                assert!(v4_sum_ok(&wire[..20]), "outer IPv4 checksum");
                assert_eq!(
                    usize::from(u16::from_be_bytes([wire[2], wire[3]])),
                    wire.len()
                );
            }
            6 => assert_eq!(
                usize::from(u16::from_be_bytes([wire[4], wire[5]])) + 40,
                wire.len()
            ),
            _ => panic!("not IP"),
        }
        let (mut rbuf, rr) = frame(&wire);
        let d = rx.decap(T0, &mut rbuf, rr.clone()).unwrap();
        assert_eq!(d.seq, i);
        assert_eq!(&rbuf[d.packet.clone()], pkt, "round trip");
        // Replay of the same wire packet is rejected.
        let (mut rbuf, rr) = frame(&wire);
        assert_eq!(
            rx.decap(T0, &mut rbuf, rr),
            Err(Error::Protocol(ProtocolError::Replayed))
        );
        last = wire;
    }
    assert_eq!(tx.stats().packets, 3);
    assert_eq!(rx.stats().packets, 3);
    assert_eq!(
        rx.stats().protocol_errors[ProtocolError::Replayed.index()],
        3
    );
    last
}

fn gcm128() -> Aes128GcmEsp {
    Aes128GcmEsp::from_keymat(&[7u8; 20]).unwrap()
}

#[test]
fn tunnel_v4_every_transform() {
    let cfg = Config::new(Spi(0x1000), tunnel4());
    let p = icmp4(84, 0);
    let w = roundtrip(cfg, gcm128(), &p);
    assert_eq!(w[9], 50, "outer protocol ESP");
    assert_eq!(w[6] & 0x40, 0x40, "DF copied from inner");
    let esp = Packet::new_checked(&w[20..]).unwrap();
    assert_eq!(esp.spi(), Spi(0x1000));
    assert_eq!(esp.seq(), 3);
    // AES-GCM IV = sequence number (RFC 4106 section 3.1).
    assert_eq!(&w[28..36], &3u64.to_be_bytes());
    roundtrip(cfg, Aes256GcmEsp::from_keymat(&[8u8; 36]).unwrap(), &p);
    roundtrip(
        cfg,
        ChaCha20Poly1305Esp::from_keymat(&[9u8; 36]).unwrap(),
        &p,
    );
    roundtrip(
        cfg,
        Aes128CbcHmacSha256::new(&[1; 16], &[2; 32]).unwrap(),
        &p,
    );
    let w = roundtrip(
        cfg,
        Aes256CbcHmacSha256::new(&[1; 32], &[2; 32]).unwrap(),
        &p,
    );
    assert_eq!((w.len() - 20 - 8 - 16 - 16) % 16, 0, "CBC block aligned");
    let w = roundtrip(cfg, NullHmacSha256::new(&[3; 32]).unwrap(), &p);
    assert_eq!(
        &w[28..28 + p.len()],
        &p[..],
        "NULL encryption leaves plaintext"
    );
}

#[test]
fn tunnel_v6_and_6in4_and_4in6() {
    roundtrip(Config::new(Spi(0x2000), tunnel6()), gcm128(), &udp6(100));
    roundtrip(Config::new(Spi(0x2000), tunnel6()), gcm128(), &icmp4(60, 0));
    roundtrip(Config::new(Spi(0x2000), tunnel4()), gcm128(), &udp6(3));
}

#[test]
fn transport_v4_and_v6() {
    let cfg = Config::new(Spi(0x3000), Mode::Transport);
    let p = icmp4(64, 0);
    let w = roundtrip(cfg, gcm128(), &p);
    assert_eq!(&w[12..20], &p[12..20], "addresses kept");
    assert_eq!(w[9], 50);
    assert!(v4_sum_ok(&w[..20]));
    let p6 = udp6(33);
    let w = roundtrip(cfg, gcm128(), &p6);
    assert_eq!(w[6], 50);
}

#[test]
fn nat_t_udp_encapsulation() {
    let mut cfg = Config::new(Spi(0x4000), tunnel4());
    cfg.udp_encap = Some(UdpEncap::default());
    let w = roundtrip(cfg, gcm128(), &icmp4(100, 0));
    assert_eq!(w[9], 17);
    assert_eq!(&w[20..24], &[0x11, 0x94, 0x11, 0x94]);
    assert_eq!(&w[26..28], &[0, 0], "IPv4 UDP checksum zero (RFC 3948 2.1)");
    assert_eq!(
        usize::from(u16::from_be_bytes([w[24], w[25]])),
        w.len() - 20
    );
    let mut cfg6 = Config::new(Spi(0x4000), tunnel6());
    cfg6.udp_encap = Some(UdpEncap::default());
    let w = roundtrip(cfg6, gcm128(), &icmp4(100, 0));
    assert_ne!(&w[46..48], &[0, 0], "IPv6 UDP checksum present");
    let mut cfgt = Config::new(Spi(0x4000), Mode::Transport);
    cfgt.udp_encap = Some(UdpEncap::default());
    roundtrip(cfgt, gcm128(), &icmp4(100, 0));

    // A keepalive and an IKE message on the same port are not ESP.
    let mut rx = Inbound::new(cfg, gcm128(), T0).unwrap();
    for payload in [&[0xffu8][..], &[0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8][..]] {
        let mut pkt = icmp4(28 + payload.len(), 0);
        pkt[9] = 17;
        pkt[20..22].copy_from_slice(&4500u16.to_be_bytes());
        pkt[22..24].copy_from_slice(&4500u16.to_be_bytes());
        pkt[24..26].copy_from_slice(&u16::try_from(8 + payload.len()).unwrap().to_be_bytes());
        pkt[28..].copy_from_slice(payload);
        let (mut buf, r) = frame(&pkt);
        assert!(matches!(rx.decap(T0, &mut buf, r), Err(Error::Parse(_))));
    }
}

#[test]
fn esn_high_bits_and_exhaustion() {
    let mut cfg = Config::new(Spi(0x5000), tunnel4());
    cfg.esn = true;
    let mut rng = StdRng::seed_from_u64(2);
    let start = 0xffff_ffff_ffff_fffe;
    let mut tx = Outbound::starting_at(cfg, gcm128(), T0, start).unwrap();
    let mut rx = Inbound::new(cfg, gcm128(), T0).unwrap();
    rx.window_mut().set_top(start - 1);
    for seq in [start, u64::MAX] {
        let (mut buf, r) = frame(&icmp4(40, 0));
        let out = tx.encap(T0, &mut buf, r, &mut rng).unwrap();
        // Only the low 32 bits are on the wire.
        assert_eq!(
            &buf[out.start + 24..out.start + 28],
            &(seq as u32).to_be_bytes()
        );
        let d = rx.decap(T0, &mut buf, out).unwrap();
        assert_eq!(d.seq, seq);
    }
    let (mut buf, r) = frame(&icmp4(40, 0));
    assert_eq!(
        tx.encap(T0, &mut buf, r, &mut rng),
        Err(Error::Protocol(ProtocolError::SequenceExhausted))
    );
    assert_eq!(tx.poll_event(), Some(Event::SequenceExhausted));

    // Without ESN the counter stops at 2^32 - 1.
    let cfg = Config::new(Spi(0x5001), tunnel4());
    let mut tx = Outbound::starting_at(cfg, gcm128(), T0, u64::from(u32::MAX)).unwrap();
    let (mut buf, r) = frame(&icmp4(40, 0));
    tx.encap(T0, &mut buf, r, &mut rng).unwrap();
    let (mut buf, r) = frame(&icmp4(40, 0));
    assert!(tx.encap(T0, &mut buf, r, &mut rng).is_err());
    assert!(Outbound::starting_at(cfg, gcm128(), T0, 1 << 32).is_err());
}

#[test]
fn esn_crosses_the_32_bit_boundary() {
    let mut cfg = Config::new(Spi(0x5100), tunnel4());
    cfg.esn = true;
    let mut rng = StdRng::seed_from_u64(3);
    let start = 0xffff_fff0;
    let mut tx = Outbound::starting_at(cfg, gcm128(), T0, start).unwrap();
    let mut rx = Inbound::new(cfg, gcm128(), T0).unwrap();
    rx.window_mut().set_top(start - 1);
    let mut held = Vec::new();
    for i in 0..40u64 {
        let (mut buf, r) = frame(&icmp4(40, 0));
        let out = tx.encap(T0, &mut buf, r, &mut rng).unwrap();
        if i % 5 == 0 {
            held.push((buf, out)); // delivered late, across the boundary
            continue;
        }
        assert_eq!(rx.decap(T0, &mut buf, out).unwrap().seq, start + i);
    }
    for (mut buf, out) in held {
        rx.decap(T0, &mut buf, out).unwrap();
    }
    assert_eq!(rx.window().top(), start + 39);
}

#[test]
fn headroom_tailroom_errors_consume_nothing() {
    let cfg = Config::new(Spi(0x6000), tunnel4());
    let mut tx = Outbound::new(cfg, gcm128(), T0).unwrap();
    let mut rng = StdRng::seed_from_u64(4);
    let p = icmp4(64, 0);
    let mut buf = p.clone();
    buf.extend([0u8; 64]);
    assert!(matches!(
        tx.encap(T0, &mut buf, 0..64, &mut rng),
        Err(Error::Emit(EmitError::BufferTooSmall { .. }))
    ));
    let mut buf = vec![0u8; 100];
    buf.extend(&p);
    let n = buf.len();
    assert!(matches!(
        tx.encap(T0, &mut buf, 100..n, &mut rng),
        Err(Error::Emit(EmitError::BufferTooSmall { .. }))
    ));
    assert_eq!(tx.next_seq(), 1);
    assert!(tx.encap(T0, &mut buf, 5..1, &mut rng).is_err());
    assert!(tx.encap(T0, &mut buf, 0..n + 1, &mut rng).is_err());
    assert_eq!(tx.headroom(), 20 + 8 + 8);
    assert_eq!(tx.tailroom(64), 2 + 2 + 16);
}

#[test]
fn lifetimes_raise_events() {
    let mut cfg = Config::new(Spi(0x7000), tunnel4());
    cfg.lifetime.soft = Limits {
        bytes: None,
        packets: Some(2),
        time: Some(Duration::from_secs(10)),
    };
    cfg.lifetime.hard = Limits {
        bytes: Some(10_000),
        packets: Some(3),
        time: Some(Duration::from_secs(20)),
    };
    let mut tx = Outbound::new(cfg, gcm128(), Duration::from_secs(100)).unwrap();
    let mut rng = StdRng::seed_from_u64(5);
    assert_eq!(tx.poll_timeout(), Some(Duration::from_secs(110)));
    let now = Duration::from_secs(101);
    for _ in 0..3 {
        let (mut buf, r) = frame(&icmp4(40, 0));
        tx.encap(now, &mut buf, r, &mut rng).unwrap();
    }
    assert_eq!(tx.poll_event(), Some(Event::SoftExpired(Limit::Packets)));
    assert_eq!(tx.poll_event(), Some(Event::HardExpired(Limit::Packets)));
    assert_eq!(tx.poll_event(), None);
    let (mut buf, r) = frame(&icmp4(40, 0));
    assert_eq!(
        tx.encap(now, &mut buf, r, &mut rng),
        Err(Error::Protocol(ProtocolError::Expired))
    );
    // Time lifetimes fire from handle_timeout.
    let mut rx = Inbound::new(cfg, gcm128(), Duration::from_secs(100)).unwrap();
    rx.handle_timeout(Duration::from_secs(110));
    assert_eq!(rx.poll_event(), Some(Event::SoftExpired(Limit::Time)));
    assert_eq!(rx.poll_timeout(), Some(Duration::from_secs(120)));
    rx.handle_timeout(Duration::from_secs(120));
    assert_eq!(rx.poll_event(), Some(Event::HardExpired(Limit::Time)));
    assert_eq!(rx.poll_timeout(), None);
}

#[test]
fn ecn_and_dscp_rfc6040() {
    let mut cfg = Config::new(Spi(0x8000), tunnel4());
    cfg.df = DfPolicy::Clear;
    let mut tx = Outbound::new(cfg, gcm128(), T0).unwrap();
    let mut rx = Inbound::new(cfg, gcm128(), T0).unwrap();
    let mut rng = StdRng::seed_from_u64(6);
    // Inner DSCP 46 (EF), ECT(0).
    let p = icmp4(60, (46 << 2) | 2);
    let (mut buf, r) = frame(&p);
    let out = tx.encap(T0, &mut buf, r, &mut rng).unwrap();
    assert_eq!(buf[out.start + 1], (46 << 2) | 2, "DSCP and ECN copied");
    assert_eq!(buf[out.start + 6] & 0x40, 0, "DF cleared");
    // A router marks CE on the outer header: the inner becomes CE.
    buf[out.start + 1] |= 3;
    let d = rx.decap(T0, &mut buf, out).unwrap();
    assert_eq!(buf[d.packet.start + 1] & 3, 3);
    assert!(v4_sum_ok(&buf[d.packet.start..d.packet.start + 20]));
    // CE on the outer of a Not-ECT inner packet is dropped.
    let (mut buf, r) = frame(&icmp4(60, 0));
    let out = tx.encap(T0, &mut buf, r, &mut rng).unwrap();
    buf[out.start + 1] |= 3;
    assert!(matches!(
        rx.decap(T0, &mut buf, out),
        Err(Error::Protocol(ProtocolError::PeerMisbehaved(_)))
    ));
}

#[test]
fn pad_align_16_keeps_gcm_on_whole_blocks() {
    let mut cfg = Config::new(Spi(0x9100), tunnel4());
    cfg.pad_align = 16;
    for len in [40, 64, 100, 1400] {
        let w = roundtrip(cfg, gcm128(), &icmp4(len, 0));
        // outer 20 + ESP header 8 + IV 8 + ciphertext + ICV 16
        assert_eq!((w.len() - 20 - 8 - 8 - 16) % 16, 0, "len {len}");
    }
    cfg.pad_align = 12;
    assert!(Outbound::new(cfg, gcm128(), T0).is_err());
    cfg.pad_align = 4;
    let cbc = Aes128CbcHmacSha256::new(&[1; 16], &[2; 32]).unwrap();
    assert!(Outbound::new(cfg, cbc, T0).is_ok(), "CBC block wins over 4");
}

#[test]
fn tfc_padding_is_removed() {
    let mut cfg = Config::new(Spi(0x9000), tunnel4());
    cfg.tfc_pad_to = 256;
    let w = roundtrip(cfg, gcm128(), &icmp4(60, 0));
    assert!(w.len() >= 20 + 8 + 8 + 256 + 2 + 16);
}

#[test]
fn icv_failure_is_counted_and_window_untouched() {
    let cfg = Config::new(Spi(0xa000), tunnel4());
    let mut tx = Outbound::new(cfg, gcm128(), T0).unwrap();
    let mut rx = Inbound::new(cfg, gcm128(), T0).unwrap();
    let mut rng = StdRng::seed_from_u64(7);
    let (mut buf, r) = frame(&icmp4(60, 0));
    let out = tx.encap(T0, &mut buf, r, &mut rng).unwrap();
    let good = buf.clone();
    buf[out.end - 1] ^= 0x80;
    assert_eq!(
        rx.decap(T0, &mut buf, out.clone()),
        Err(Error::Protocol(ProtocolError::IcvMismatch))
    );
    assert_eq!(rx.window().top(), 0);
    let mut buf = good;
    rx.decap(T0, &mut buf, out).unwrap();
    assert_eq!(
        rx.stats().protocol_errors[ProtocolError::IcvMismatch.index()],
        1
    );
    // Wrong SPI.
    let mut other = Inbound::new(Config::new(Spi(1), tunnel4()), gcm128(), T0).unwrap();
    let (mut buf, r) = frame(&icmp4(60, 0));
    let out = tx.encap(T0, &mut buf, r, &mut rng).unwrap();
    assert_eq!(
        other.decap(T0, &mut buf, out),
        Err(Error::Protocol(ProtocolError::WrongSpi))
    );
}

#[test]
fn batch_api() {
    let cfg = Config::new(Spi(0xb000), tunnel4());
    let mut tx = Outbound::new(cfg, gcm128(), T0).unwrap();
    let mut rx = Inbound::new(cfg, gcm128(), T0).unwrap();
    let mut rng = StdRng::seed_from_u64(8);
    let pkts: Vec<Vec<u8>> = (0..8).map(|i| icmp4(40 + 8 * i, 0)).collect();
    let mut bufs: Vec<(Vec<u8>, core::ops::Range<usize>)> = pkts.iter().map(|p| frame(p)).collect();
    // One buffer without headroom fails alone.
    bufs[3].1 = 0..pkts[3].len();
    let mut items: Vec<Item<'_>> = bufs
        .iter_mut()
        .map(|(b, r)| Item {
            buf: b,
            range: r.clone(),
            result: Ok(()),
        })
        .collect();
    assert_eq!(tx.encap_batch(T0, &mut items, &mut rng), 7);
    assert!(items[3].result.is_err());
    items.remove(3);
    assert_eq!(rx.decap_batch(T0, &mut items), 7);
    for (it, p) in items
        .iter()
        .zip(pkts.iter().enumerate().filter(|(i, _)| *i != 3))
    {
        assert_eq!(&it.buf[it.range.clone()], &p.1[..]);
    }
    let _ = NextHeader::IPV4;
}

mod prop {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Any inner packet length, mode, ESN, NAT-T and TFC setting round-trips,
        /// and the ESP payload is always aligned (RFC 4303 section 2.4).
        #[test]
        fn encap_decap_roundtrip(
            len in 28usize..1500,
            tunnel in any::<bool>(),
            v6 in any::<bool>(),
            esn in any::<bool>(),
            natt in any::<bool>(),
            tfc in prop_oneof![Just(0u16), Just(512), Just(1400)],
            align in prop_oneof![Just(4u16), Just(16), Just(64)],
            which in 0u8..4,
        ) {
            let mode = match (tunnel, v6) {
                (false, _) => Mode::Transport,
                (true, false) => tunnel4(),
                (true, true) => tunnel6(),
            };
            let mut cfg = Config::new(Spi(0x77), mode);
            cfg.esn = esn;
            cfg.tfc_pad_to = tfc;
            cfg.pad_align = align;
            if natt {
                cfg.udp_encap = Some(UdpEncap::default());
            }
            let p = icmp4(len, 0);
            let mut buf = vec![0u8; 2048 + 1024];
            buf[128..128 + len].copy_from_slice(&p);
            let mut rng = StdRng::seed_from_u64(len as u64);
            macro_rules! go {
                ($t:expr) => {{
                    let t = $t;
                    let mut tx = Outbound::new(cfg, t.clone(), T0).unwrap();
                    let mut rx = Inbound::new(cfg, t, T0).unwrap();
                    let out = tx.encap(T0, &mut buf, 128..128 + len, &mut rng).unwrap();
                    let d = rx.decap(T0, &mut buf, out).unwrap();
                    prop_assert_eq!(&buf[d.packet.clone()], &p[..]);
                }};
            }
            match which {
                0 => go!(gcm128()),
                1 => go!(ChaCha20Poly1305Esp::from_keymat(&[9u8; 36]).unwrap()),
                2 => go!(Aes128CbcHmacSha256::new(&[1; 16], &[2; 32]).unwrap()),
                _ => go!(NullHmacSha256::new(&[3; 32]).unwrap()),
            }
        }
    }
}

#[test]
fn tfc_dummy_packet_is_reported_empty() {
    // RFC 4303 section 2.6: next header 59 marks a dummy packet the receiver drops.
    let cfg = Config::new(Spi(0xc000), tunnel4());
    let mut tx = Outbound::new(cfg, gcm128(), T0).unwrap();
    let mut rx = Inbound::new(cfg, gcm128(), T0).unwrap();
    let mut rng = StdRng::seed_from_u64(10);
    let mut buf = vec![0u8; 256];
    let esp = tx
        .encap_esp(
            T0,
            &mut buf,
            64..96,
            NextHeader::NO_NEXT_HEADER,
            0,
            &mut rng,
        )
        .unwrap();
    // Put an outer IPv4 header (protocol 50) in front by hand.
    let start = esp.start - 20;
    let total = u16::try_from(esp.end - start).unwrap();
    buf[start..start + 20].copy_from_slice(&[
        0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 50, 0, 0, 192, 0, 2, 2, 192, 0, 2, 1,
    ]);
    buf[start + 2..start + 4].copy_from_slice(&total.to_be_bytes());
    let d = rx.decap(T0, &mut buf, start..esp.end).unwrap();
    assert_eq!(d.next_header, NextHeader::NO_NEXT_HEADER);
    assert!(d.packet.is_empty());
    assert_eq!(tx.stats().bytes, 32);
    assert_eq!(rx.stats().bytes, 32);
}

#[test]
fn natt_transport_fixes_inner_udp_checksum() {
    // An IPv4/UDP packet whose checksum was computed for a private source
    // address; it arrives behind a NAT with the public one (RFC 3948 3.1.2).
    let mut cfg = Config::new(Spi(0xd000), Mode::Transport);
    cfg.udp_encap = Some(UdpEncap::default());
    let mut tx = Outbound::new(cfg, gcm128(), T0).unwrap();
    let mut rx = Inbound::new(cfg, gcm128(), T0).unwrap();
    let mut rng = StdRng::seed_from_u64(11);
    let mut p = icmp4(20 + 8 + 5, 0);
    p[9] = 17;
    p[20..28].copy_from_slice(&[0x06, 0xa5, 0x06, 0xa5, 0, 13, 0xde, 0xad]); // L2TP ports, bogus checksum
    p[28..].copy_from_slice(b"hello");
    let (mut buf, r) = frame(&p);
    let out = tx.encap(T0, &mut buf, r, &mut rng).unwrap();
    // The NAT rewrites the outer source address (and fixes only the outer checksum).
    buf[out.start + 12..out.start + 16].copy_from_slice(&[203, 0, 113, 7]);
    let d = rx.decap(T0, &mut buf, out).unwrap();
    let q = &buf[d.packet];
    assert_eq!(q[9], 17);
    assert_eq!(&q[12..16], &[203, 0, 113, 7]);
    assert!(v4_sum_ok(&q[..20]));
    // The UDP checksum verifies over the pseudo-header with the new address.
    let mut pseudo = q[12..20].to_vec();
    pseudo.extend([0, 17, 0, 13]);
    pseudo.extend(&q[20..]);
    assert!(v4_sum_ok(&pseudo), "UDP checksum recomputed");
}

/// Every failed encapsulation is counted exactly once, in tunnel and transport
/// mode (the ESP step inside `encap` does not count it a second time).
#[test]
fn encap_errors_counted_once() {
    let key = [7u8; 20];
    for mode in [
        Mode::Tunnel(Tunnel::V4 {
            src: [192, 0, 2, 1],
            dst: [192, 0, 2, 2],
        }),
        Mode::Transport,
    ] {
        let mut cfg = Config::new(Spi(0x4242), mode);
        cfg.lifetime.hard = Limits {
            packets: Some(1),
            ..Limits::default()
        };
        let mut tx = Outbound::new(cfg, Aes128GcmEsp::from_keymat(&key).unwrap(), T0).unwrap();
        let mut rng = StdRng::seed_from_u64(9);
        let pkt = icmp4(64, 0);
        // Too little tailroom.
        let mut buf = vec![0u8; HEAD + pkt.len()];
        buf[HEAD..].copy_from_slice(&pkt);
        let e = tx.encap(T0, &mut buf, HEAD..HEAD + pkt.len(), &mut rng);
        assert!(matches!(
            e,
            Err(Error::Emit(EmitError::BufferTooSmall { .. }))
        ));
        assert_eq!(tx.stats().emit_errors, 1, "{mode:?}");
        // One packet, then the hard packet limit refuses the next.
        let mut buf = vec![0u8; HEAD + pkt.len() + 64];
        buf[HEAD..HEAD + pkt.len()].copy_from_slice(&pkt);
        tx.encap(T0, &mut buf, HEAD..HEAD + pkt.len(), &mut rng)
            .unwrap();
        assert_eq!(tx.stats().packets, 1);
        buf[HEAD..HEAD + pkt.len()].copy_from_slice(&pkt);
        let e = tx.encap(T0, &mut buf, HEAD..HEAD + pkt.len(), &mut rng);
        assert_eq!(e, Err(Error::Protocol(ProtocolError::Expired)));
        assert_eq!(
            tx.stats().protocol_errors[ProtocolError::Expired.index()],
            1,
            "{mode:?}"
        );
        assert_eq!(tx.stats().packets, 1);
    }
}
