//! QoS: the policer's colours against literal models of RFC 2697 and RFC 2698 over
//! virtual time, the long-run rate bound (never more than rate x t + burst), profile
//! changes on the next packet, DSCP re-marking, and the shaper's rate and bounded queue.

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
use bng_dataplane::nodes::qos::{
    self, Action, Color, Meter, MeterState, Policer, Profile, Shaper, ShaperProfile,
};
use proptest::prelude::*;

fn profile(meter: Meter) -> Profile {
    Profile {
        meter,
        green: Action::Transmit,
        yellow: Action::Remark(10),
        red: Action::Drop,
    }
}

/// RFC 2697 section 3, literally: byte tokens, Tc incremented CIR times per second
/// (here once per `tick_ns`), overflow into Te; colour-blind marking.
struct SrTcmModel {
    tc: u64,
    te: u64,
    cbs: u64,
    ebs: u64,
    tick: u64,
}

impl SrTcmModel {
    fn advance(&mut self, ticks: u64) {
        for _ in 0..ticks {
            if self.tc < self.cbs {
                self.tc += 1;
            } else if self.te < self.ebs {
                self.te += 1;
            }
        }
    }

    fn mark(&mut self, b: u64) -> Color {
        if self.tc >= b {
            self.tc -= b;
            Color::Green
        } else if self.te >= b {
            self.te -= b;
            Color::Yellow
        } else {
            Color::Red
        }
    }
}

/// RFC 2698 section 3, literally: Tp incremented PIR times per second, Tc CIR times.
struct TrTcmModel {
    tp: u64,
    tc: u64,
    pbs: u64,
    cbs: u64,
}

impl TrTcmModel {
    fn mark(&mut self, b: u64) -> Color {
        if self.tp < b {
            Color::Red
        } else if self.tc < b {
            self.tp -= b;
            Color::Yellow
        } else {
            self.tp -= b;
            self.tc -= b;
            Color::Green
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// srTCM at 1 MB/s (8 Mbit/s: one byte token per microsecond), packets arriving on
    /// microsecond boundaries: the same colour as the RFC's discrete definition, packet
    /// by packet.
    #[test]
    fn srtcm_matches_rfc_2697(
        cbs in 0u64..4000, ebs in 0u64..6000,
        pkts in proptest::collection::vec((0u64..3000, 20u64..1600), 1..64),
    ) {
        let mut ours = MeterState::new(profile(Meter::SrTcm { cir: 8_000_000, cbs, ebs }), Duration::ZERO);
        let mut model = SrTcmModel { tc: cbs, te: ebs, cbs, ebs, tick: 1000 };
        let mut t_us = 0u64;
        for (gap_us, bytes) in pkts {
            t_us += gap_us;
            model.advance(gap_us * 1000 / model.tick);
            let want = model.mark(bytes);
            prop_assert_eq!(ours.color(Duration::from_micros(t_us), bytes), want);
        }
    }

    /// trTCM with CIR 1 MB/s and PIR 2 MB/s: as RFC 2698's discrete definition.
    #[test]
    fn trtcm_matches_rfc_2698(
        cbs in 0u64..4000, extra in 0u64..6000,
        pkts in proptest::collection::vec((0u64..3000, 20u64..1600), 1..64),
    ) {
        let pbs = cbs + extra;
        let m = Meter::TrTcm { cir: 8_000_000, cbs, pir: 16_000_000, pbs };
        let mut ours = MeterState::new(profile(m), Duration::ZERO);
        let mut model = TrTcmModel { tp: pbs, tc: cbs, pbs, cbs };
        let mut t_us = 0u64;
        for (gap_us, bytes) in pkts {
            t_us += gap_us;
            for _ in 0..gap_us * 2 {
                if model.tp < model.pbs {
                    model.tp += 1;
                }
            }
            for _ in 0..gap_us {
                if model.tc < model.cbs {
                    model.tc += 1;
                }
            }
            let want = model.mark(bytes);
            prop_assert_eq!(ours.color(Duration::from_micros(t_us), bytes), want);
        }
    }

    /// Any rates, bursts and arrival times (nanosecond resolution): over the run, green
    /// bytes <= CIR x t + CBS and green + yellow <= CIR x t + CBS + EBS (srTCM), or
    /// green + yellow <= PIR x t + PBS and green <= CIR x t + CBS (trTCM).
    #[test]
    fn long_run_rate_never_exceeds_rate_t_plus_burst(
        two_rate in any::<bool>(),
        cir in 1_000u64..1_000_000_000, pir_extra in 0u64..1_000_000_000,
        cbs in 0u64..100_000, xbs in 0u64..100_000,
        pkts in proptest::collection::vec((0u64..2_000_000, 20u64..9000), 1..300),
    ) {
        let pir = cir + pir_extra;
        let meter = if two_rate {
            Meter::TrTcm { cir, cbs, pir, pbs: xbs }
        } else {
            Meter::SrTcm { cir, cbs, ebs: xbs }
        };
        let start = Duration::from_secs(1000);
        let mut m = MeterState::new(profile(meter), start);
        let (mut g, mut gy) = (0u128, 0u128);
        let mut t = 0u64;
        for (gap, bytes) in pkts {
            t += gap;
            match m.color(start + Duration::from_nanos(t), bytes) {
                Color::Green => { g += u128::from(bytes) * 8; gy += u128::from(bytes) * 8; }
                Color::Yellow => gy += u128::from(bytes) * 8,
                Color::Red => {}
            }
            // in bits x 1e9, to stay in integers
            let secs = |rate: u64| u128::from(rate) * u128::from(t);
            let b = |bytes: u64| u128::from(bytes) * 8 * 1_000_000_000;
            if two_rate {
                prop_assert!(g * 1_000_000_000 <= secs(cir) + b(cbs));
                prop_assert!(gy * 1_000_000_000 <= secs(pir) + b(xbs));
            } else {
                prop_assert!(g * 1_000_000_000 <= secs(cir) + b(cbs));
                prop_assert!(gy * 1_000_000_000 <= secs(cir) + b(cbs) + b(xbs));
            }
        }
    }
}

/// An IPv4 packet of `len` bytes (header checksum valid) after a 14-byte Ethernet header.
fn ip4_frame(len: usize, tos: u8) -> Vec<u8> {
    let mut f = vec![0u8; 14];
    let mut h = vec![
        0x45, tos, 0, 0, 0, 1, 0, 0, 64, 17, 0, 0, 10, 0, 0, 2, 198, 51, 100, 7,
    ];
    h[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    let c = !fold(
        h.chunks(2)
            .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
            .sum(),
    );
    h[10..12].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&h);
    f.resize(14 + len, 0);
    f
}

fn fold(mut s: u32) -> u16 {
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    s as u16
}

fn ip_checksum_ok(ip: &[u8]) -> bool {
    fold(
        ip[..20]
            .chunks(2)
            .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
            .sum(),
    ) == 0xffff
}

fn push<'p>(pool: &mut Pool<'p>, rx: &mut Frame<'p>, f: &[u8], sub: u32) {
    let mut p = pool.alloc_from(f).unwrap();
    p.meta.l3_offset = 14;
    p.meta.subscriber = sub;
    rx.push(p);
}

#[test]
fn profile_change_takes_effect_on_the_next_packet() {
    let mut arena = Arena::new(16);
    let mut pool = arena.pool();
    let mut policer = Policer::new();
    let mut outs: Vec<_> = (0..qos::Next::COUNT).map(|_| new_frame()).collect();
    let mut c = Counters::for_node::<Policer>();
    let mut tr = Trace::new(0);
    let f = ip4_frame(1000, 0);
    // subscriber 7: 8 kbit/s with a 1000-byte burst; subscriber 8: no profile
    policer.set_profile(7, Profile::police(8_000, 1000));
    let mut rx = new_frame();
    for _ in 0..3 {
        push(&mut pool, &mut rx, &f, 7);
    }
    push(&mut pool, &mut rx, &f, 8);
    run(&mut policer, &mut rx, &mut outs, &mut pool, &mut c, &mut tr);
    assert_eq!(
        c.next[qos::Next::Forward as usize],
        2,
        "one in the burst, plus the unpoliced one"
    );
    assert_eq!(c.drops[qos::Drop::Red as usize], 2);
    assert_eq!(policer.stats.unpoliced, 1);
    // a faster profile: the very next packet (same virtual time) is metered by it
    policer.set_profile(7, Profile::police(100_000_000, 10_000));
    push(&mut pool, &mut rx, &f, 7);
    run(&mut policer, &mut rx, &mut outs, &mut pool, &mut c, &mut tr);
    assert_eq!(c.next[qos::Next::Forward as usize], 3);
    // a drop-everything profile
    policer.set_profile(7, Profile::police(0, 0));
    push(&mut pool, &mut rx, &f, 7);
    run(&mut policer, &mut rx, &mut outs, &mut pool, &mut c, &mut tr);
    assert_eq!(c.drops[qos::Drop::Red as usize], 3);
    // cleared: unpoliced again
    policer.clear(7);
    push(&mut pool, &mut rx, &f, 7);
    run(&mut policer, &mut rx, &mut outs, &mut pool, &mut c, &mut tr);
    assert_eq!(c.next[qos::Next::Forward as usize], 4);
    // one virtual second later, 8 kbit/s has refilled 1000 bytes
    policer.set_profile(9, Profile::police(8_000, 1000));
    for (t, want) in [(0, 1), (500, 1), (1000, 2)] {
        policer.now = Duration::from_millis(t);
        push(&mut pool, &mut rx, &f, 9);
        run(&mut policer, &mut rx, &mut outs, &mut pool, &mut c, &mut tr);
        assert_eq!(
            policer.stats.colored[Color::Green as usize],
            2 + want,
            "at {t} ms"
        );
    }
    for o in &mut outs {
        pool.free_all(o);
    }
    assert_eq!(pool.available(), pool.capacity());
}

#[test]
fn yellow_remarked_dscp_v4_and_v6() {
    let mut arena = Arena::new(8);
    let mut pool = arena.pool();
    let mut policer = Policer::new();
    // srTCM: committed burst 1000 bytes, excess 2000: 1st green, 2nd and 3rd yellow
    // (re-marked to DSCP 10 = AF11), 4th red
    policer.set_profile(
        3,
        profile(Meter::SrTcm {
            cir: 0,
            cbs: 1000,
            ebs: 2000,
        }),
    );
    let mut rx = new_frame();
    for _ in 0..4 {
        push(&mut pool, &mut rx, &ip4_frame(1000, 0xb9), 3); // DSCP 46, ECN 01
    }
    let mut outs: Vec<_> = (0..qos::Next::COUNT).map(|_| new_frame()).collect();
    let mut c = Counters::for_node::<Policer>();
    run(
        &mut policer,
        &mut rx,
        &mut outs,
        &mut pool,
        &mut c,
        &mut Trace::new(0),
    );
    let out = &outs[0];
    assert_eq!(out.len(), 3);
    assert_eq!(out[0].data()[15], 0xb9, "green untouched");
    for p in &out[1..] {
        assert_eq!(p.data()[15], (10 << 2) | 1, "DSCP AF11, ECN kept");
        assert!(ip_checksum_ok(&p.data()[14..]));
    }
    assert_eq!(policer.stats.remarked, 2);
    assert_eq!(policer.stats.colored, [1, 2, 1]);
    // IPv6: traffic class 0xb9 (DSCP 46, ECN 01), flow label 0x12345
    let mut f6 = vec![0u8; 14];
    f6.extend_from_slice(&[0x6b, 0x91, 0x23, 0x45, 0, 0, 17, 64]);
    f6.resize(14 + 1000, 0);
    policer.set_profile(
        4,
        profile(Meter::SrTcm {
            cir: 0,
            cbs: 0,
            ebs: 2000,
        }),
    );
    push(&mut pool, &mut rx, &f6, 4);
    let mut o2: Vec<_> = (0..qos::Next::COUNT).map(|_| new_frame()).collect();
    run(
        &mut policer,
        &mut rx,
        &mut o2,
        &mut pool,
        &mut c,
        &mut Trace::new(0),
    );
    let d = o2[0][0].data();
    let tc = ((d[14] & 0x0f) << 4) | (d[15] >> 4);
    assert_eq!(tc, (10 << 2) | 1);
    assert_eq!(d[14] >> 4, 6);
    assert_eq!(
        u32::from_be_bytes([0, d[15] & 0x0f, d[16], d[17]]),
        0x12345,
        "flow label kept"
    );
    for o in outs.iter_mut().chain(o2.iter_mut()) {
        pool.free_all(o);
    }
}

/// A subscriber shaped to 1 Mbit/s (burst 2048 bytes, queue 16) offered 4 Mbit/s of
/// 500-byte packets for 2 virtual seconds: what leaves never exceeds rate x t + burst
/// and tracks the rate; the queue stays bounded and the excess is tail-dropped.
#[test]
fn shaper_releases_at_the_rate_with_a_bounded_queue() {
    let mut arena = Arena::new(64);
    let mut pool = arena.pool();
    let mut sh = Shaper::new(1024);
    let prof = ShaperProfile {
        rate: 1_000_000,
        burst: 2048,
        queue: 16,
    };
    sh.set_profile(5, prof, Duration::ZERO, &mut pool);
    let f = ip4_frame(500, 0);
    let (mut rx, mut out) = (new_frame(), new_frame());
    let mut sent_bits = 0u64;
    let mut offered = 0u64;
    for ms in 0..2000u64 {
        let now = Duration::from_millis(ms);
        sh.poll(now, &mut out);
        push(&mut pool, &mut rx, &f, 5);
        push(&mut pool, &mut rx, &f, 6); // unshaped subscriber
        offered += 1;
        sh.enqueue(now, &mut rx, &mut out, &mut pool);
        assert!(sh.queued() <= 16);
        for p in out.drain(..) {
            if p.meta.subscriber == 5 {
                sent_bits += 500 * 8;
                assert!(
                    u128::from(sent_bits)
                        <= u128::from(prof.rate) * u128::from(ms) / 1000 + 2048 * 8,
                    "at {ms} ms"
                );
            }
            pool.free(p);
        }
        if let Some(t) = sh.poll_timeout() {
            assert!(t >= now, "deadline not in the past");
        }
    }
    // 2 s at 1 Mbit/s = 250 kB = 500 packets (+ the burst)
    let sent = sent_bits / 4000;
    assert!((495..=505).contains(&sent), "{sent}");
    assert_eq!(sh.stats.unshaped, 2000);
    assert_eq!(
        sh.stats.direct + sh.stats.queued + sh.stats.tail_drops,
        offered
    );
    assert!(sh.stats.tail_drops > 1000);
    // poll_timeout says when the head packet can go; polling then releases it
    let t = sh.poll_timeout().unwrap();
    sh.poll(t, &mut out);
    assert_eq!(out.len(), 1);
    pool.free_all(&mut out);
    sh.clear(5, &mut pool);
    assert_eq!(sh.queued(), 0);
    assert_eq!(pool.available(), pool.capacity(), "no buffer leaked");
}

proptest! {
    /// Arbitrary bytes, offsets, subscribers and times through the policer (re-marking
    /// every colour) and the shaper: no panic, every packet accounted for once, no
    /// buffer leaked, the packet length unchanged.
    #[test]
    fn arbitrary_packets_through_policer_and_shaper(
        pkts in proptest::collection::vec(
            (proptest::collection::vec(any::<u8>(), 0..80), 0u16..60, 0u32..6, 0u64..10_000_000),
            1..64,
        ),
    ) {
        let mut arena = Arena::new(80);
        let mut pool = arena.pool();
        let mut policer = Policer::new();
        let mut shaper = Shaper::new(1024);
        for s in 1..4 {
            policer.set_profile(s, Profile {
                meter: Meter::TrTcm { cir: 80_000, cbs: 100, pir: 160_000, pbs: 300 },
                green: Action::Remark(46),
                yellow: Action::Remark(10),
                red: Action::Remark(0),
            });
            let p = ShaperProfile { rate: 80_000, burst: 0, queue: 4 };
            shaper.set_profile(s, p, Duration::ZERO, &mut pool);
        }
        let mut outs: Vec<_> = (0..qos::Next::COUNT).map(|_| new_frame()).collect();
        let mut c = Counters::for_node::<Policer>();
        let mut t = 0u64;
        let mut total = 0usize;
        let mut released = 0usize;
        for (bytes, l3, sub, gap) in &pkts {
            t += gap;
            policer.now = Duration::from_nanos(t);
            let mut rx = new_frame();
            let mut p = pool.alloc_from(bytes).unwrap();
            p.meta.l3_offset = *l3;
            p.meta.subscriber = *sub;
            rx.push(p);
            run(&mut policer, &mut rx, &mut outs, &mut pool, &mut c, &mut Trace::new(0));
            let out = &mut outs[0];
            prop_assert!(out.iter().all(|p| p.len() == bytes.len()));
            let mut sent = new_frame();
            shaper.enqueue(policer.now, out, &mut sent, &mut pool);
            shaper.poll(policer.now, &mut sent);
            released += sent.len();
            pool.free_all(&mut sent);
            total += 1;
        }
        prop_assert_eq!(c.packets as usize, total);
        prop_assert_eq!(
            released + shaper.queued() + shaper.stats.tail_drops as usize,
            total
        );
        shaper.flush(&mut pool);
        prop_assert_eq!(pool.available(), pool.capacity());
    }
}

/// Two subscribers with long queues and plenty of tokens: one poll fills a frame with
/// half of each (round robin); the shaper's global bound tail-drops beyond it.
#[test]
fn shaper_round_robin_and_global_bound() {
    let mut arena = Arena::new(600);
    let mut pool = arena.pool();
    let mut sh = Shaper::new(400);
    // 1 kbit/s: nothing goes at once beyond the burst of one buffer (2048 bytes)
    let slow = ShaperProfile {
        rate: 1000,
        burst: 0,
        queue: 300,
    };
    sh.set_profile(1, slow, Duration::ZERO, &mut pool);
    sh.set_profile(2, slow, Duration::ZERO, &mut pool);
    let f = ip4_frame(100, 0);
    let (mut rx, mut out) = (new_frame(), new_frame());
    for round in 0..250 {
        push(&mut pool, &mut rx, &f, 1);
        push(&mut pool, &mut rx, &f, 2);
        if rx.len() >= 200 || round == 249 {
            sh.enqueue(Duration::ZERO, &mut rx, &mut out, &mut pool);
        }
    }
    // the burst let 20 packets of 100 bytes of each go at once
    assert_eq!(out.len(), 40);
    pool.free_all(&mut out);
    assert_eq!(sh.queued(), 400, "global bound");
    assert_eq!(sh.stats.tail_drops, 500 - 40 - 400);
    // a profile with plenty of tokens for both: one poll, one frame, half each
    let fast = ShaperProfile {
        rate: 1_000_000_000,
        burst: 1_000_000,
        queue: 300,
    };
    sh.set_profile(1, fast, Duration::ZERO, &mut pool);
    sh.set_profile(2, fast, Duration::ZERO, &mut pool);
    sh.poll(Duration::ZERO, &mut out);
    assert_eq!(out.len(), 256);
    let ones = out.iter().filter(|p| p.meta.subscriber == 1).count();
    assert_eq!(ones, 128, "round robin");
    pool.free_all(&mut out);
    sh.poll(Duration::ZERO, &mut out);
    assert_eq!(out.len(), 400 - 256);
    assert_eq!(sh.queued(), 0);
    assert_eq!(sh.poll_timeout(), None);
    pool.free_all(&mut out);
    assert_eq!(pool.available(), pool.capacity());
}
