//! `esp-encrypt` -> `esp-decrypt` through two graphs (two gateways): one frame of 256
//! packets round-trips byte-identical (plain ESP and UDP-encapsulated), per-SA stats
//! from `bng-esp` add up, a replayed packet is rejected, a wrong SPI and a tampered
//! packet are dropped with their reasons, an unbound adjacency is `no-sa`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::cast_possible_truncation,
    reason = "tests"
)]

use core::time::Duration;

use bng_dataplane::buffer::{Arena, Pool};
use bng_dataplane::graph::{Counters, Frame, Label, Trace, new_frame, run};
use bng_dataplane::nodes::esp::{self, EspDecrypt, EspEncrypt};
use bng_esp::ring::Aes128GcmEsp;
use bng_esp::sa::{Config, Inbound, Mode, Outbound, Tunnel, UdpEncap};
use bng_esp::wire::Spi;

mod support;
use bng_esp::rand_core::RngCore as _;
use support::TestRng;

const KEYMAT: [u8; 20] = [0x42; 20];
const SPI: u32 = 0x0c00_ffee;
const ADJ: u32 = 3;

fn cfg(udp: bool) -> Config {
    let mut c = Config::new(
        Spi(SPI),
        Mode::Tunnel(Tunnel::V4 {
            src: [203, 0, 113, 1],
            dst: [198, 51, 100, 1],
        }),
    );
    if udp {
        c.udp_encap = Some(UdpEncap::default());
    }
    c
}

fn pair(udp: bool) -> (EspEncrypt<Aes128GcmEsp, TestRng>, EspDecrypt<Aes128GcmEsp>) {
    let mut enc = EspEncrypt::new(TestRng(7));
    let out = Outbound::new(
        cfg(udp),
        Aes128GcmEsp::from_keymat(&KEYMAT).unwrap(),
        Duration::ZERO,
    );
    enc.set_sa(0, out.unwrap());
    enc.bind(ADJ, 0);
    let mut dec = EspDecrypt::new();
    let inb = Inbound::new(
        cfg(udp),
        Aes128GcmEsp::from_keymat(&KEYMAT).unwrap(),
        Duration::ZERO,
    );
    dec.insert(inb.unwrap());
    (enc, dec)
}

/// Inner IPv4 packet `i`: UDP from a subscriber to the remote site, 20..=1400 bytes.
fn inner(i: usize) -> Vec<u8> {
    let len = 28 + (i * 37) % 1373;
    let mut h = vec![
        0x45, 0, 0, 0, 0, i as u8, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 2, 10, 9, 0, 1,
    ];
    h[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    h.resize(len, i as u8);
    h
}

/// After `ip4-lookup`: Ethernet header still in front, adjacency chosen; padded like a
/// short Ethernet frame would be.
fn routed<'p>(pool: &mut Pool<'p>, ip: &[u8], adj: u32) -> bng_dataplane::buffer::Pkt<'p> {
    let mut f = vec![0u8; 14];
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    f.extend_from_slice(ip);
    f.resize(f.len().max(60), 0);
    let mut p = pool.alloc_from(&f).unwrap();
    p.meta.l3_offset = 14;
    p.meta.adjacency = adj;
    p
}

fn outs<'p, N: bng_dataplane::graph::Node>() -> Vec<Frame<'p>> {
    (0..N::Next::COUNT).map(|_| new_frame()).collect()
}

fn round_trip(udp: bool) {
    let (mut enc, mut dec) = pair(udp);
    // two gateways, each with its own arena (the wire copies between them)
    let mut arena_a = Arena::new(300);
    let mut pool_a = arena_a.pool();
    let mut arena_b = Arena::new(300);
    let mut pool_b = arena_b.pool();
    let inners: Vec<Vec<u8>> = (0..256).map(inner).collect();
    let mut rx = new_frame();
    for ip in &inners {
        rx.push(routed(&mut pool_a, ip, ADJ));
    }
    let mut eo = outs::<EspEncrypt<Aes128GcmEsp, TestRng>>();
    let mut ce = Counters::for_node::<EspEncrypt<Aes128GcmEsp, TestRng>>();
    enc.now = Duration::from_secs(1);
    run(
        &mut enc,
        &mut rx,
        &mut eo,
        &mut pool_a,
        &mut ce,
        &mut Trace::new(0),
    );
    assert_eq!(ce.next[esp::EncryptNext::Ip4 as usize], 256);
    let wire: Vec<Vec<u8>> = eo[0].iter().map(|p| p.data().to_vec()).collect();
    pool_a.free_all(&mut eo[0]);
    for w in &wire {
        assert_eq!(w[0], 0x45);
        assert_eq!(w[9], if udp { 17 } else { 50 });
        assert_eq!(&w[16..20], &[198, 51, 100, 1]);
    }
    let sa = enc.sa_mut(0).unwrap();
    assert_eq!(sa.stats().packets, 256);
    assert_eq!(sa.next_seq(), 257);

    // gateway B: the outer packets arrive (ip4-lookup sent them to `local`)
    let mut rx = new_frame();
    for w in &wire {
        let mut p = pool_b.alloc_from(w).unwrap();
        p.meta.l3_offset = 0;
        rx.push(p);
    }
    let mut dout = outs::<EspDecrypt<Aes128GcmEsp>>();
    let mut cd = Counters::for_node::<EspDecrypt<Aes128GcmEsp>>();
    dec.now = Duration::from_secs(1);
    run(
        &mut dec,
        &mut rx,
        &mut dout,
        &mut pool_b,
        &mut cd,
        &mut Trace::new(0),
    );
    let got: Vec<Vec<u8>> = dout[esp::DecryptNext::Ip4 as usize]
        .iter()
        .map(|p| p.data().to_vec())
        .collect();
    assert_eq!(got, inners, "256 inner packets, byte-identical, in order");
    assert!(
        dout[esp::DecryptNext::Ip4 as usize]
            .iter()
            .all(|p| p.meta.l3_offset == 0)
    );
    for f in &mut dout {
        pool_b.free_all(f);
    }
    let st = *dec.sa_mut(SPI).unwrap().stats();
    assert_eq!(st.packets, 256);
    assert_eq!(st.bytes, inners.iter().map(|v| v.len() as u64).sum::<u64>());

    // replay packet 5, a wrong SPI, a flipped ciphertext bit, something not ESP
    let esp_at = if udp { 28 } else { 20 };
    let mut wrong_spi = wire[6].clone();
    wrong_spi[esp_at + 3] ^= 1;
    let mut tampered = wire[7].clone();
    *tampered.last_mut().unwrap() ^= 0x80;
    let mut not_esp = wire[8].clone();
    not_esp[9] = 6;
    let mut rx = new_frame();
    for w in [&wire[5], &wrong_spi, &tampered, &not_esp] {
        rx.push(pool_b.alloc_from(w).unwrap());
    }
    run(
        &mut dec,
        &mut rx,
        &mut dout,
        &mut pool_b,
        &mut cd,
        &mut Trace::new(0),
    );
    assert_eq!(cd.drops[esp::DecryptDrop::UnknownSpi as usize], 1);
    assert_eq!(cd.drops[esp::DecryptDrop::NotEsp as usize], 1);
    // packet 7 was already accepted: a tampered copy is stopped by the window first
    assert_eq!(cd.drops[esp::DecryptDrop::Replayed as usize], 2);
    assert_eq!(cd.drops[esp::DecryptDrop::IcvMismatch as usize], 0);
    assert_eq!(pool_b.available(), pool_b.capacity(), "no buffer leaked");
    assert_eq!(pool_a.available(), pool_a.capacity(), "no buffer leaked");
}

#[test]
fn frame_of_256_round_trips_esp() {
    round_trip(false);
}

#[test]
fn frame_of_256_round_trips_udp_encapsulated() {
    round_trip(true);
}

#[test]
fn tampered_fresh_packet_fails_icv_and_leaves_the_window() {
    let (mut enc, mut dec) = pair(false);
    let mut arena = Arena::new(8);
    let mut pool = arena.pool();
    let mut rx = new_frame();
    rx.push(routed(&mut pool, &inner(1), ADJ));
    rx.push(routed(&mut pool, &inner(2), ADJ + 1)); // not bound
    let mut eo = outs::<EspEncrypt<Aes128GcmEsp, TestRng>>();
    let mut ce = Counters::for_node::<EspEncrypt<Aes128GcmEsp, TestRng>>();
    run(
        &mut enc,
        &mut rx,
        &mut eo,
        &mut pool,
        &mut ce,
        &mut Trace::new(0),
    );
    assert_eq!(ce.drops[esp::EncryptDrop::NoSa as usize], 1);
    let good = eo[0][0].data().to_vec();
    pool.free_all(&mut eo[0]);
    let mut bad = good.clone();
    bad[40] ^= 1;
    let mut dout = outs::<EspDecrypt<Aes128GcmEsp>>();
    let mut cd = Counters::for_node::<EspDecrypt<Aes128GcmEsp>>();
    for w in [&bad, &good] {
        rx.push(pool.alloc_from(w).unwrap());
    }
    run(
        &mut dec,
        &mut rx,
        &mut dout,
        &mut pool,
        &mut cd,
        &mut Trace::new(0),
    );
    assert_eq!(cd.drops[esp::DecryptDrop::IcvMismatch as usize], 1);
    assert_eq!(
        cd.next[esp::DecryptNext::Ip4 as usize],
        1,
        "the genuine packet with the same sequence number still passes"
    );
    assert_eq!(dout[0][0].data(), &inner(1)[..]);
    for f in &mut dout {
        pool.free_all(f);
    }
    assert_eq!(pool.available(), pool.capacity());
}

#[test]
fn arbitrary_bytes_never_panic() {
    let (_, mut dec) = pair(true);
    let mut arena = Arena::new(4);
    let mut pool = arena.pool();
    let mut dout = outs::<EspDecrypt<Aes128GcmEsp>>();
    let mut cd = Counters::for_node::<EspDecrypt<Aes128GcmEsp>>();
    let mut rng = TestRng(1);
    for n in 0..2000usize {
        let mut f = vec![0u8; n % 200];
        rng.fill_bytes(&mut f);
        if f.len() > 32 {
            f[0] = 0x45;
            f[9] = if n % 2 == 0 { 50 } else { 17 };
            f[22..24].copy_from_slice(&4500u16.to_be_bytes());
            f[28..32].copy_from_slice(&SPI.to_be_bytes());
            f[20..24].copy_from_slice(&SPI.to_be_bytes());
        }
        let mut rx = new_frame();
        let mut p = pool.alloc_from(&f).unwrap();
        p.meta.l3_offset = (n % 3) as u16;
        rx.push(p);
        run(
            &mut dec,
            &mut rx,
            &mut dout,
            &mut pool,
            &mut cd,
            &mut Trace::new(0),
        );
        for o in &mut dout {
            pool.free_all(o);
        }
    }
    assert_eq!(cd.packets, 2000);
    assert_eq!(pool.available(), pool.capacity());
}

#[test]
fn ipv6_outer_leaves_on_the_ip6_edge() {
    let mut c = cfg(false);
    c.mode = Mode::Tunnel(Tunnel::V6 {
        src: [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
        dst: [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
    });
    let mut enc = EspEncrypt::new(TestRng(9));
    let sa = Outbound::new(
        c,
        Aes128GcmEsp::from_keymat(&KEYMAT).unwrap(),
        Duration::ZERO,
    );
    enc.set_sa(4, sa.unwrap());
    enc.bind(ADJ, 4);
    let mut arena = Arena::new(4);
    let mut pool = arena.pool();
    let mut rx = new_frame();
    rx.push(routed(&mut pool, &inner(3), ADJ));
    let mut eo = outs::<EspEncrypt<Aes128GcmEsp, TestRng>>();
    let mut ce = Counters::for_node::<EspEncrypt<Aes128GcmEsp, TestRng>>();
    run(
        &mut enc,
        &mut rx,
        &mut eo,
        &mut pool,
        &mut ce,
        &mut Trace::new(0),
    );
    let v6 = &eo[esp::EncryptNext::Ip6 as usize];
    assert_eq!(v6.len(), 1);
    assert_eq!(v6[0].data()[0] >> 4, 6);
    assert_eq!(v6[0].data()[6], 50, "next header ESP");
    assert_eq!(enc.sa_mut(4).unwrap().stats().packets, 1);
    pool.free_all(&mut eo[esp::EncryptNext::Ip6 as usize]);
    assert!(enc.remove_sa(4).is_some());
    rx.push(routed(&mut pool, &inner(3), ADJ));
    run(
        &mut enc,
        &mut rx,
        &mut eo,
        &mut pool,
        &mut ce,
        &mut Trace::new(0),
    );
    assert_eq!(ce.drops[esp::EncryptDrop::NoSa as usize], 1, "SA removed");
    assert_eq!(pool.available(), pool.capacity());
}
