//! Properties: out2in(in2out(p)) restores p (for the reply direction), every
//! translated packet verifies by full checksum recomputation, and no two inside
//! endpoints ever hold the same outside endpoint at the same time.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::many_single_char_names,
    reason = "tests"
)]

mod common;

use core::net::{Ipv4Addr, SocketAddrV4};
use core::time::Duration;
use std::collections::HashMap;

use bng_nat44::checksum::update16;
use bng_nat44::wire::{IcmpType, L4Repr, PacketRepr, TcpFlags};
use bng_nat44::{Config, Filtering, Mode, PortBlock, Verdict};
use common::*;
use proptest::prelude::*;

#[derive(Debug, Clone)]
struct Pkt {
    proto: u8,
    host: u8,
    port: u16,
    remote: [u8; 4],
    rport: u16,
    flags: u8,
    udp_csum: bool,
    payload: Vec<u8>,
    options: Vec<u8>,
}

fn pkt() -> impl Strategy<Value = Pkt> {
    (
        prop_oneof![Just(6u8), Just(17u8), Just(1u8)],
        1u8..=254,
        any::<u16>(),
        any::<[u8; 4]>(),
        1u16..,
        any::<u8>(),
        any::<bool>(),
        proptest::collection::vec(any::<u8>(), 0..64),
        prop_oneof![
            Just(vec![]),
            Just(vec![2, 4, 5, 0xb4]),
            Just(vec![1, 1, 1, 0, 8, 10, 1, 2, 3, 4, 5, 6, 7, 8, 1, 0])
        ],
    )
        .prop_map(
            |(proto, host, port, remote, rport, flags, udp_csum, payload, options)| Pkt {
                proto,
                host,
                port,
                remote: [203, remote[1], remote[2], remote[3]],
                rport,
                flags: flags & !0x04, // RST cannot open a flow here
                udp_csum,
                payload,
                options,
            },
        )
}

fn build(p: &Pkt) -> Vec<u8> {
    let l4 = match p.proto {
        6 => L4Repr::Tcp {
            src_port: p.port,
            dst_port: p.rport,
            seq: 1,
            ack: 2,
            flags: TcpFlags(p.flags),
            window: 1000,
            urgent: 0,
            options: &p.options,
        },
        17 => L4Repr::Udp {
            src_port: p.port,
            dst_port: p.rport,
            checksum: p.udp_csum,
        },
        _ => {
            let [a, b] = p.port.to_be_bytes();
            L4Repr::Icmp {
                kind: IcmpType::ECHO_REQUEST,
                code: 0,
                rest: [a, b, 0, 1],
            }
        }
    };
    let r = PacketRepr {
        tos: 0,
        ident: 99,
        dont_frag: false,
        ttl: 63,
        src_addr: Ipv4Addr::new(10, 0, 0, p.host),
        dst_addr: Ipv4Addr::from(p.remote),
        ip_options: &[],
        l4,
        payload: &p.payload,
    };
    let mut v = vec![0u8; r.buffer_len()];
    r.emit(&mut v).unwrap();
    v
}

/// Turns a datagram into its reply: addresses and ports swapped (checksums stay
/// valid: the sums commute), an echo request becomes a reply and back.
fn reply(v: &mut [u8]) {
    let ihl = usize::from(v[0] & 0x0f) * 4;
    for i in 0..4 {
        v.swap(12 + i, 16 + i);
    }
    match v[9] {
        6 | 17 => {
            v.swap(ihl, ihl + 2);
            v.swap(ihl + 1, ihl + 3);
        }
        _ => {
            let old = u16::from_be_bytes([v[ihl], v[ihl + 1]]);
            let new_type = if v[ihl] == 8 { 0 } else { 8 };
            v[ihl] = new_type;
            let new = u16::from_be_bytes([v[ihl], v[ihl + 1]]);
            let c = u16::from_be_bytes([v[ihl + 2], v[ihl + 3]]);
            v[ihl + 2..ihl + 4].copy_from_slice(&update16(c, old, new).to_be_bytes());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn out2in_of_the_reply_restores_the_packet(ps in proptest::collection::vec(pkt(), 1..12)) {
        let c = cfg();
        let mut o = Owned::new(&c, 64, 64);
        let mut nat = o.nat(c);
        let t = Duration::from_secs(5);
        for p in &ps {
            let orig = build(p);
            let mut v = orig.clone();
            prop_assert_eq!(nat.in2out(t, &mut v), Verdict::Forward);
            assert_checksums(&v);
            let (x, _) = ends(&v);
            prop_assert!(x.port() >= 1024);
            prop_assert_eq!(v.len(), orig.len());
            reply(&mut v);
            prop_assert_eq!(nat.out2in(t, &mut v), Verdict::Forward);
            assert_checksums(&v);
            reply(&mut v);
            prop_assert_eq!(&v, &orig);
        }
    }

    #[test]
    fn no_two_inside_endpoints_share_an_outside_endpoint(
        ops in proptest::collection::vec((0u8..8, 0u16..4, 0u8..3, prop_oneof![Just(6u8), Just(17u8)], 0u64..400, any::<bool>()), 1..120),
        adf in any::<bool>(),
    ) {
        // Few big blocks on one address: subscribers compete and ports get reused.
        let c = Config {
            mode: Mode::PortBlock(PortBlock { pool_first: POOL, pool_len: 1, block_size: 16_128, max_blocks: 2 }),
            filtering: if adf { Filtering::AddressDependent } else { Filtering::EndpointIndependent },
            ..cfg()
        };
        let mut o = Owned::new(&c, 256, 1024);
        let mut nat = o.nat(c);
        let mut t = Duration::from_secs(10);
        let mut holders: HashMap<(u8, SocketAddrV4), SocketAddrV4> = HashMap::new();
        let mut known: Vec<(u8, SocketAddrV4)> = Vec::new();
        for (host, port, remote, proto, dt, sweep) in ops {
            t += Duration::from_secs(dt);
            if sweep {
                nat.handle_timeout(t);
            }
            while nat.poll_event().is_some() {}
            let inside = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, host + 1), 1000 + port);
            let dst = format!("203.0.113.{}:80", remote + 1);
            let mut v = if proto == 6 { tcp(&inside.to_string(), &dst, TcpFlags::SYN) } else { udp(&inside.to_string(), &dst, b"x") };
            if nat.in2out(t, &mut v) == Verdict::Forward {
                let x = ends(&v).0;
                if let Some(prev) = holders.insert((proto, x), inside) {
                    if prev != inside {
                        prop_assert_ne!(nat.outside_of(proto, prev), Some(x), "{} and {} share {}", prev, inside, x);
                    }
                }
                if !known.contains(&(proto, inside)) {
                    known.push((proto, inside));
                }
            }
            // Live mappings are a bijection.
            let mut seen: HashMap<(u8, SocketAddrV4), SocketAddrV4> = HashMap::new();
            for &(p, i) in &known {
                if let Some(x) = nat.outside_of(p, i) {
                    prop_assert_eq!(nat.inside_of(p, x), Some(i));
                    if let Some(other) = seen.insert((p, x), i) {
                        prop_assert!(false, "{} and {} both hold {}", other, i, x);
                    }
                }
            }
        }
    }

    #[test]
    fn every_allocated_block_is_released_and_logged(
        ops in proptest::collection::vec((0u8..6, 0u16..40, prop_oneof![Just(6u8), Just(17u8), Just(1u8)], 0u64..900, any::<bool>()), 1..150),
    ) {
        let c = Config {
            mode: Mode::PortBlock(PortBlock { pool_first: POOL, pool_len: 2, block_size: 8, max_blocks: 3 }),
            ..cfg()
        };
        let mut o = Owned::new(&c, 512, 4096);
        let mut nat = o.nat(c);
        let mut t = Duration::from_secs(1);
        let mut log = Vec::new();
        let mut live: HashMap<(Ipv4Addr, Ipv4Addr, u16), Duration> = HashMap::new();
        let drain = |nat: &mut bng_nat44::Nat44<'_>, log: &mut Vec<bng_nat44::Event>| {
            while let Some(e) = nat.poll_event() {
                log.push(e);
            }
        };
        for (host, port, proto, dt, sweep) in ops {
            t += Duration::from_secs(dt);
            let src = format!("10.0.0.{}:{}", host + 1, 2000 + port);
            let mut v = match proto {
                6 => tcp(&src, "203.0.113.1:80", TcpFlags::SYN),
                17 => udp(&src, "203.0.113.1:53", b"q"),
                _ => echo(&src, "203.0.113.1:0", 2000 + port, true),
            };
            let _ = nat.in2out(t, &mut v);
            if sweep {
                nat.handle_timeout(t);
            }
            drain(&mut nat, &mut log);
        }
        // Far in the future everything expires; sweeping releases every block.
        let end = t + Duration::from_secs(10_000);
        for _ in 0..8 {
            nat.handle_timeout(end);
        }
        drain(&mut nat, &mut log);
        prop_assert_eq!(nat.session_count(), 0);
        prop_assert_eq!(nat.mapping_count(), 0);
        prop_assert_eq!(nat.subscriber_count(), 0);
        prop_assert_eq!(nat.stats().events_dropped, 0);
        let mut last = Duration::ZERO;
        for e in &log {
            match e {
                bng_nat44::Event::BlockAllocated(b) => {
                    prop_assert!(b.at >= last);
                    last = b.at;
                    prop_assert!(b.ports.first >= 1024 && b.ports.len() == 8);
                    let prev = live.insert((b.subscriber, b.outside, b.ports.first), b.at);
                    prop_assert!(prev.is_none(), "block allocated twice: {:?}", b);
                    // no two live blocks overlap on one outside address
                    for &(s2, o2, f2) in live.keys() {
                        if o2 == b.outside && (s2, f2) != (b.subscriber, b.ports.first) {
                            prop_assert!(f2 != b.ports.first, "{:?} overlaps {}", b, s2);
                        }
                    }
                }
                bng_nat44::Event::BlockReleased(b) => {
                    prop_assert!(b.at >= last);
                    last = b.at;
                    let since = live.remove(&(b.subscriber, b.outside, b.ports.first));
                    prop_assert!(since.is_some_and(|s| s <= b.at), "release without allocation: {:?}", b);
                }
                _ => {}
            }
        }
        prop_assert!(live.is_empty(), "blocks never released: {:?}", live);
        prop_assert_eq!(nat.stats().blocks_allocated, nat.stats().blocks_released);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200), out in any::<bool>()) {
        let c = cfg();
        let mut o = Owned::new(&c, 16, 16);
        let mut nat = o.nat(c);
        let mut seed = udp("10.0.0.1:5000", "203.0.113.1:53", b"q");
        let _ = nat.in2out(Duration::ZERO, &mut seed);
        let mut v = bytes.clone();
        let verdict = if out { nat.out2in(Duration::ZERO, &mut v) } else { nat.in2out(Duration::ZERO, &mut v) };
        if let Verdict::Drop(_) = verdict {
            prop_assert_eq!(v, bytes);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// `in2out_fast` / `out2in_fast` against `in2out_verified` / `out2in`: the same
    /// verdicts, bytes and stats for flows, their replies, and packets with one byte
    /// changed (options, fragments, lengths, other protocols, bad checksums), over
    /// times that let sessions expire.
    #[test]
    fn fast_paths_agree_with_the_general_ones(
        steps in proptest::collection::vec(
            (pkt(), any::<bool>(), proptest::option::of((any::<usize>(), any::<u8>())), 0u64..400),
            1..24,
        )
    ) {
        let c = cfg();
        let (mut oa, mut ob) = (Owned::new(&c, 64, 64), Owned::new(&c, 64, 64));
        let (mut a, mut b) = (oa.nat(c), ob.nat(c));
        let mut t = 5u64;
        let mut last_out: Option<Vec<u8>> = None;
        for (p, answer, poke, dt) in &steps {
            t += dt;
            let now = Duration::from_secs(t);
            let mut v = if *answer && let Some(o) = &last_out {
                let mut r = o.clone();
                reply(&mut r);
                r
            } else {
                build(p)
            };
            if let Some((at, val)) = poke {
                let i = at % v.len();
                v[i] = *val;
            }
            let mut w = v.clone();
            let out = *answer && last_out.is_some();
            let (va, vb) = if out {
                (a.out2in(now, &mut v), b.out2in_fast(now, &mut w))
            } else {
                (a.in2out_verified(now, &mut v), b.in2out_fast(now, &mut w))
            };
            prop_assert_eq!(va, vb);
            prop_assert_eq!(&v, &w);
            prop_assert_eq!(a.stats(), b.stats());
            if !out && va == Verdict::Forward {
                last_out = Some(v);
            }
        }
    }
}
