//! `punt`: classification of every control type, and a flood of one type at 100x its
//! limit over virtual time that leaves the other types at their limits and forwarding
//! untouched.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::cast_possible_truncation,
    clippy::many_single_char_names,
    reason = "tests"
)]

use core::net::Ipv4Addr;
use core::time::Duration;

use bng_dataplane::buffer::{Arena, Pool};
use bng_dataplane::graph::{Counters, Frame, Label, Trace, new_frame, run};
use bng_dataplane::nodes::punt::{self, Punt, PuntConfig, PuntType, TypeLimit};
use proptest::prelude::*;

const GW: [u8; 4] = [192, 0, 2, 1];
const CLIENT: [u8; 6] = [2, 0, 0, 0, 0, 0x42];

fn eth(dst: [u8; 6], et: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = dst.to_vec();
    f.extend_from_slice(&CLIENT);
    f.extend_from_slice(&et.to_be_bytes());
    f.extend_from_slice(payload);
    f.resize(f.len().max(60), 0);
    f
}

fn ip4(proto: u8, dst: [u8; 4], l4: &[u8]) -> Vec<u8> {
    let mut h = vec![0x45, 0, 0, 0, 0, 1, 0, 0, 64, proto, 0, 0, 10, 0, 0, 2];
    h[2..4].copy_from_slice(&((20 + l4.len()) as u16).to_be_bytes());
    h.extend_from_slice(&dst);
    h.extend_from_slice(l4);
    h
}

fn ip6(nh: u8, dst: [u8; 16], l4: &[u8]) -> Vec<u8> {
    let mut h = vec![0x60, 0, 0, 0];
    h.extend_from_slice(&(l4.len() as u16).to_be_bytes());
    h.extend_from_slice(&[nh, 64]);
    h.extend_from_slice(&[0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    h.extend_from_slice(&dst);
    h.extend_from_slice(l4);
    h
}

fn udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut u = sport.to_be_bytes().to_vec();
    u.extend_from_slice(&dport.to_be_bytes());
    u.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    u
}

fn padi() -> Vec<u8> {
    eth(
        [0xff; 6],
        0x8863,
        &[0x11, 0x09, 0, 0, 0, 4, 0x01, 0x01, 0, 0],
    )
}

fn ppp(proto: u16, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x11, 0x00, 0x00, 0x07];
    p.extend_from_slice(&((2 + payload.len()) as u16).to_be_bytes());
    p.extend_from_slice(&proto.to_be_bytes());
    p.extend_from_slice(payload);
    eth([2, 0, 0, 0, 0, 1], 0x8864, &p)
}

fn dhcp_discover() -> Vec<u8> {
    eth(
        [0xff; 6],
        0x0800,
        &ip4(17, [255; 4], &udp(68, 67, &[1, 1, 6, 0])),
    )
}

/// A forwarding packet: UDP between subscribers and the Internet.
fn data(i: u16) -> Vec<u8> {
    eth(
        [2, 0, 0, 0, 0, 1],
        0x0800,
        &ip4(17, [198, 51, 100, 7], &udp(1024 + i, 443, &[0; 18])),
    )
}

fn pkt<'p>(pool: &mut Pool<'p>, f: &[u8]) -> bng_dataplane::buffer::Pkt<'p> {
    let mut p = pool.alloc_from(f).unwrap();
    p.meta.l3_offset = 14;
    p
}

fn node<'p>(limits: &[(PuntType, TypeLimit)]) -> Punt<'p> {
    let mut cfg = PuntConfig {
        gateway4: vec![Ipv4Addr::from(GW)],
        gateway6: vec![[0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]],
        ..PuntConfig::default()
    };
    for (t, l) in limits {
        cfg.limits[*t as usize] = *l;
    }
    Punt::new(&cfg, Duration::ZERO)
}

#[test]
fn classifies_every_type() {
    let gw6 = [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    let mut ff02 = [0; 16];
    ff02[..2].copy_from_slice(&[0xff, 0x02]);
    ff02[15] = 2;
    let cases: Vec<(Vec<u8>, Option<PuntType>)> = vec![
        (padi(), Some(PuntType::PppoeDiscovery)),
        (ppp(0xc021, &[9, 1, 0, 8, 0, 0, 0, 0]), Some(PuntType::Lcp)),
        (ppp(0xc023, &[1, 1, 0, 4]), Some(PuntType::Auth)),
        (ppp(0xc223, &[2, 1, 0, 4]), Some(PuntType::Auth)),
        (ppp(0x8021, &[1, 1, 0, 4]), Some(PuntType::Ncp)),
        (ppp(0x8057, &[1, 1, 0, 4]), Some(PuntType::Ncp)),
        (ppp(0x80fd, &[1, 1, 0, 4]), Some(PuntType::OtherPpp)),
        (
            ppp(0x0021, &ip4(1, GW, &[8, 0, 0, 0])),
            Some(PuntType::Icmp),
        ),
        (ppp(0x0021, &ip4(17, [8, 8, 8, 8], &udp(1, 53, &[]))), None),
        (ppp(0x003d, &[0; 8]), None),
        (dhcp_discover(), Some(PuntType::Dhcp4)),
        (
            eth([0xff; 6], 0x86dd, &ip6(17, ff02, &udp(546, 547, &[1]))),
            Some(PuntType::Dhcp6),
        ),
        (
            eth([0xff; 6], 0x86dd, &ip6(58, ff02, &[133, 0, 0, 0])),
            Some(PuntType::Icmp),
        ),
        (
            eth([0xff; 6], 0x86dd, &ip6(58, gw6, &[128, 0, 0, 0])),
            Some(PuntType::Icmp),
        ),
        (
            eth([0xff; 6], 0x86dd, &ip6(58, [0x20; 16], &[128, 0, 0, 0])),
            None,
        ),
        (
            eth([0xff; 6], 0x0800, &ip4(17, GW, &udp(500, 500, &[0; 28]))),
            Some(PuntType::Ike),
        ),
        (
            eth([0xff; 6], 0x0800, &ip4(17, GW, &udp(4500, 4500, &[0; 32]))),
            Some(PuntType::Ike),
        ),
        (
            eth([0xff; 6], 0x0800, &ip4(17, GW, &udp(4500, 4500, &[0xff]))),
            Some(PuntType::Ike),
        ),
        (
            eth(
                [0xff; 6],
                0x0800,
                &ip4(17, GW, &udp(4500, 4500, &[0, 0, 0x10, 1, 0, 0, 0, 1])),
            ),
            None,
        ),
        (
            eth([0xff; 6], 0x0806, &[0, 1, 8, 0, 6, 4, 0, 1]),
            Some(PuntType::Arp),
        ),
        (
            eth([0xff; 6], 0x0800, &ip4(1, GW, &[8, 0, 0, 0])),
            Some(PuntType::Icmp),
        ),
        (
            eth([0xff; 6], 0x0800, &ip4(1, [192, 0, 2, 2], &[8, 0, 0, 0])),
            None,
        ),
        (data(1), None),
        (vec![0; 10], None),
    ];
    let mut arena = Arena::new(4);
    let mut pool = arena.pool();
    let n = node(&[]);
    for (i, (f, want)) in cases.iter().enumerate() {
        let p = pkt(&mut pool, f);
        assert_eq!(n.classify(&p), *want, "case {i}");
        pool.free(p);
    }
    // a fragment of a DHCP datagram is not classified by ports
    let mut frag = dhcp_discover();
    frag[14 + 7] = 0x10;
    let p = pkt(&mut pool, &frag);
    assert_eq!(n.classify(&p), None);
    pool.free(p);
    // decapsulated IP (l3_offset 0) is classified by the version nibble
    let mut p = pool.alloc_from(&ip4(1, GW, &[8, 0, 0, 0])).unwrap();
    p.meta.l3_offset = 0;
    assert_eq!(n.classify(&p), Some(PuntType::Icmp));
    pool.free(p);
}

struct Graph<'p> {
    outs: Vec<Frame<'p>>,
    counters: Counters,
    forwarded: u64,
}

impl<'p> Graph<'p> {
    fn new() -> Self {
        Self {
            outs: (0..punt::Next::COUNT).map(|_| new_frame()).collect(),
            counters: Counters::for_node::<Punt<'p>>(),
            forwarded: 0,
        }
    }

    fn step(&mut self, node: &mut Punt<'p>, pool: &mut Pool<'p>, rx: &mut Frame<'p>) {
        run(
            node,
            rx,
            &mut self.outs,
            pool,
            &mut self.counters,
            &mut Trace::new(0),
        );
        node.enqueue(&mut self.outs[punt::Next::Punt as usize], pool);
        let pass = &mut self.outs[punt::Next::Pass as usize];
        self.forwarded += pass.len() as u64;
        pool.free_all(pass);
    }
}

/// Ten virtual seconds in 1 ms frames: PADI at 10 000/s against a limit of 100/s
/// (100x), DHCPDISCOVER at 100/s and LCP at 50/s (their limits), 20 forwarding packets
/// per frame. The control plane drains up to 32 frames per loop.
#[test]
fn padi_flood_at_100x_does_not_starve_others_or_forwarding() {
    let mut arena = Arena::new(512);
    let mut pool = arena.pool();
    let mut n = node(&[
        (PuntType::PppoeDiscovery, TypeLimit::new(100, 10, 64)),
        (PuntType::Dhcp4, TypeLimit::new(100, 10, 64)),
        (PuntType::Lcp, TypeLimit::new(50, 5, 64)),
    ]);
    let mut g = Graph::new();
    let (padi, dhcp, lcp) = (
        padi(),
        dhcp_discover(),
        ppp(0xc021, &[9, 1, 0, 8, 0, 0, 0, 0]),
    );
    let mut sent = [0u64; PuntType::COUNT];
    let mut got = [0u64; PuntType::COUNT];
    let mut data_sent = 0u64;
    let mut rx = new_frame();
    for ms in 0..10_000u64 {
        n.now = Duration::from_millis(ms);
        for _ in 0..10 {
            rx.push(pkt(&mut pool, &padi));
            sent[PuntType::PppoeDiscovery as usize] += 1;
        }
        if ms % 10 == 0 {
            rx.push(pkt(&mut pool, &dhcp));
            sent[PuntType::Dhcp4 as usize] += 1;
        }
        if ms % 20 == 0 {
            rx.push(pkt(&mut pool, &lcp));
            sent[PuntType::Lcp as usize] += 1;
        }
        for i in 0..20 {
            rx.push(pkt(&mut pool, &data(i)));
            data_sent += 1;
        }
        g.step(&mut n, &mut pool, &mut rx);
        n.drain(&mut pool, 32, |t, p| {
            assert!(!p.data().is_empty());
            got[t as usize] += 1;
        });
    }
    let t = PuntType::PppoeDiscovery as usize;
    let (d, l) = (PuntType::Dhcp4 as usize, PuntType::Lcp as usize);
    assert_eq!(g.forwarded, data_sent, "forwarding unaffected");
    assert_eq!(got[d], sent[d], "DHCP at its limit: all through");
    assert_eq!(got[l], sent[l], "LCP at its limit: all through");
    // PADI: at most rate * t + burst, and the limiter does not under-admit
    assert!(got[t] <= 100 * 10 + 10, "{}", got[t]);
    assert!(got[t] >= 100 * 10 - 1, "{}", got[t]);
    assert_eq!(
        n.stats.rate_limited[t],
        sent[t] - n.stats.punted[t] - n.stats.queue_full[t]
    );
    assert_eq!(n.stats.rate_limited[d] + n.stats.rate_limited[l], 0);
    assert_eq!(
        g.counters.drops[punt::Drop::RateLimited as usize],
        n.stats.rate_limited[t]
    );
    n.clear(&mut pool);
    assert_eq!(pool.available(), pool.capacity(), "no buffer leaked");
}

/// The control plane stops draining: the flooded type fills its own share of the queue
/// and no more; the other types keep theirs.
#[test]
fn stalled_control_plane_bounds_each_type() {
    let mut arena = Arena::new(512);
    let mut pool = arena.pool();
    let mut n = node(&[
        (PuntType::PppoeDiscovery, TypeLimit::new(100_000, 1000, 32)),
        (PuntType::Dhcp4, TypeLimit::new(100, 10, 8)),
    ]);
    let mut g = Graph::new();
    let (padi, dhcp) = (padi(), dhcp_discover());
    let mut rx = new_frame();
    for ms in 0..100u64 {
        n.now = Duration::from_millis(ms);
        for _ in 0..50 {
            rx.push(pkt(&mut pool, &padi));
        }
        if ms % 10 == 0 {
            rx.push(pkt(&mut pool, &dhcp));
        }
        g.step(&mut n, &mut pool, &mut rx);
    }
    assert_eq!(n.queued(), 32 + 8);
    let t = PuntType::PppoeDiscovery as usize;
    assert_eq!(n.stats.queue_full[t], 50 * 100 - 32);
    let mut seen = [0usize; PuntType::COUNT];
    assert_eq!(
        n.drain(&mut pool, usize::MAX, |t, _| seen[t as usize] += 1),
        40
    );
    assert_eq!(seen[PuntType::Dhcp4 as usize], 8);
    assert_eq!(pool.available(), pool.capacity());
}

proptest! {
    /// Arbitrary frames never panic; every packet is accounted for once.
    #[test]
    fn arbitrary_frames(frames in proptest::collection::vec(
        (proptest::collection::vec(any::<u8>(), 0..100), 0u16..40), 1..64)) {
        let mut arena = Arena::new(80);
        let mut pool = arena.pool();
        let mut n = node(&[]);
        let mut g = Graph::new();
        let mut rx = new_frame();
        for (f, l3) in &frames {
            let mut p = pool.alloc_from(f).unwrap();
            p.meta.l3_offset = *l3;
            rx.push(p);
        }
        g.step(&mut n, &mut pool, &mut rx);
        let drops: u64 = g.counters.drops.iter().sum();
        prop_assert_eq!(g.forwarded + n.queued() as u64 + drops, frames.len() as u64);
        n.clear(&mut pool);
        prop_assert_eq!(pool.available(), pool.capacity());
    }
}

/// The oracle for a captured frame, from the test kit's own parsing.
fn oracle(f: &bng_testkit::corpus::Frame<'_>) -> Option<PuntType> {
    let (et, l3) = f.ethertype_payload()?;
    match et {
        0x8863 => return Some(PuntType::PppoeDiscovery),
        0x0806 => return Some(PuntType::Arp),
        0x8864 => {
            return match l3.get(6..8).map(|p| u16::from_be_bytes([p[0], p[1]]))? {
                0xc021 => Some(PuntType::Lcp),
                0xc023 | 0xc223 | 0xc227 => Some(PuntType::Auth),
                0x8021 | 0x8057 => Some(PuntType::Ncp),
                _ => None,
            };
        }
        _ => {}
    }
    let u = f.udp()?;
    match (u.dport, u.dst.is_ipv4()) {
        (67 | 68, true) => Some(PuntType::Dhcp4),
        (546 | 547, false) => Some(PuntType::Dhcp6),
        (500, _) => Some(PuntType::Ike),
        (4500, _) if u.payload.starts_with(&[0; 4]) || u.payload == [0xff] => Some(PuntType::Ike),
        _ => None,
    }
}

/// Every Ethernet frame of the PPPoE, PPP, DHCP, IKE and VLAN captures through
/// `ethernet-input`, then classified: each control frame the test kit's own parser
/// identifies gets the same type from `punt`, and no frame panics.
#[test]
fn corpus_control_frames_classified_like_the_oracle() {
    use bng_dataplane::nodes::ethernet::EthernetInput;
    let Some(root) = bng_testkit::corpus::dir() else {
        bng_testkit::skip_or_fail("corpus_control_frames_classified", "no ../shared/corpus");
        return;
    };
    let mut arena = Arena::new(64);
    let mut pool = arena.pool();
    let mut eth = EthernetInput {
        macs: vec![],
        promiscuous: true,
    };
    let n = node(&[]);
    let mut ce = Counters::for_node::<EthernetInput>();
    let mut matched = [0u64; PuntType::COUNT];
    let mut checked = 0u64;
    for proto in ["pppoe", "ppp", "dhcp4", "dhcp6", "ikev2", "vlan", "esp"] {
        if !root.join(proto).is_dir() {
            continue;
        }
        bng_testkit::corpus::walk("punt corpus", proto, |f| {
            if f.link != bng_testkit::corpus::Link::Ethernet {
                return;
            }
            let mut rx = new_frame();
            rx.push(pool.alloc_from(&f.data[..f.data.len().min(1900)]).unwrap());
            let mut eo: Vec<_> = (0..bng_dataplane::nodes::ethernet::Next::COUNT)
                .map(|_| new_frame())
                .collect();
            run(
                &mut eth,
                &mut rx,
                &mut eo,
                &mut pool,
                &mut ce,
                &mut Trace::new(0),
            );
            for fr in &mut eo {
                for p in fr.drain(..) {
                    let got = n.classify(&p);
                    // frames with more than 2 VLAN tags never reach here
                    if let Some(want) = oracle(f) {
                        assert_eq!(got, Some(want), "{} #{}", f.file.display(), f.number);
                        matched[want as usize] += 1;
                        checked += 1;
                    }
                    pool.free(p);
                }
            }
        });
    }
    eprintln!("punt corpus: {checked} control frames, by type {matched:?}");
    for t in [
        PuntType::PppoeDiscovery,
        PuntType::Lcp,
        PuntType::Dhcp4,
        PuntType::Dhcp6,
        PuntType::Ike,
    ] {
        assert!(matched[t as usize] > 0, "{t:?} seen in the corpus");
    }
    assert_eq!(pool.available(), pool.capacity());
}
