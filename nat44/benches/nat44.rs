//! NAT44 translation rate at 16k, 1M and 4M sessions, session creation rate, and the
//! peer reference measured in the same run: a `hashbrown::HashMap` (foldhash) 5-tuple
//! lookup, and `std::collections::HashMap` (SipHash) for the 2.5-3x the issue quotes.
//!
//! One "cycle" is: in2out of a datagram, turn it into the reply (swap addresses and
//! ports), out2in, swap back: two translations that leave the packet as it was, so a
//! fixed packet set can be replayed forever. Packets are visited in a shuffled order,
//! so at 1M+ sessions every lookup misses the caches as real traffic would.
//!
//! Run: `cargo bench -p bng-nat44 --bench nat44 -- --warm-up-time 1 --measurement-time 3`.
//! `NAT44_BENCH_SIZES=16384,1048576` picks the sizes (default 16k, 1M, 4M).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::cast_possible_truncation,
    clippy::many_single_char_names,
    clippy::doc_markdown,
    clippy::needless_for_each,
    clippy::too_many_lines,
    missing_docs,
    reason = "bench"
)]

use core::hint::black_box;
use core::net::Ipv4Addr;
use core::time::Duration;
use std::collections::HashMap as StdHashMap;
use std::time::Instant;

use bng_nat44::wire::{L4Repr, PacketRepr};
use bng_nat44::{Config, Direction, Mode, PortBlock, Session, Verdict};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

/// Sessions per subscriber in the synthetic population.
const PER_SUB: u32 = 256;
/// Packets replayed per measured iteration.
const BATCH: usize = 256;
const T: Duration = Duration::from_secs(100);

#[path = "../tests/common/mod.rs"]
mod common;
use common::Owned;

fn config(n: usize) -> Config {
    let subs = (n as u32).div_ceil(PER_SUB);
    // 252 blocks of 256 ports per address; one block per subscriber.
    let pool_len = subs.div_ceil(150).max(1);
    Config {
        mode: Mode::PortBlock(PortBlock {
            pool_first: Ipv4Addr::new(100, 100, 0, 0),
            pool_len,
            block_size: 256,
            max_blocks: 2,
        }),
        max_sessions_per_subscriber: 1024,
        ..Config::port_block(Ipv4Addr::UNSPECIFIED, 1)
    }
}

/// Storage for `n` sessions: one subscriber per `PER_SUB` flows, 64k events.
fn owned(cfg: &Config, n: usize) -> Owned {
    Owned::sized(cfg, n, n.div_ceil(PER_SUB as usize) + 1, 1 << 16)
}

/// Flow `i`: subscriber `i / PER_SUB` (10.x.y.z), inside port 20000 + i % PER_SUB, to
/// one of 250 servers on port 443.
fn flow_packet(i: u32) -> Vec<u8> {
    let sub = i / PER_SUB;
    let src = Ipv4Addr::from(0x0a00_0000 + sub + 1);
    let dst = Ipv4Addr::new(203, 0, 113, (i % 250) as u8 + 1);
    let r = PacketRepr {
        tos: 0,
        ident: 0,
        dont_frag: true,
        ttl: 64,
        src_addr: src,
        dst_addr: dst,
        ip_options: &[],
        l4: L4Repr::Udp {
            src_port: 20_000 + (i % PER_SUB) as u16,
            dst_port: 443,
            checksum: true,
        },
        payload: &[0x5a; 32],
    };
    let mut v = vec![0u8; r.buffer_len()];
    r.emit(&mut v).unwrap();
    v
}

/// Swaps addresses and ports in place (the reply of a UDP datagram).
#[inline]
fn swap(v: &mut [u8]) {
    for i in 0..4 {
        v.swap(12 + i, 16 + i);
    }
    v.swap(20, 22);
    v.swap(21, 23);
}

/// A xorshift permutation-ish sample of `k` flow numbers below `n`.
fn sample(n: usize, k: usize, seed: u64) -> Vec<u32> {
    let mut x = seed | 1;
    (0..k)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % n as u64) as u32
        })
        .collect()
}

fn key(v: &[u8]) -> (u64, u64) {
    let a = u64::from(u32::from_be_bytes(v[12..16].try_into().unwrap()));
    let b = u64::from(u32::from_be_bytes(v[16..20].try_into().unwrap()));
    let p = u64::from(u16::from_be_bytes([v[20], v[21]]));
    let q = u64::from(u16::from_be_bytes([v[22], v[23]]));
    ((a << 32) | b, (p << 32) | (q << 16) | u64::from(v[9]))
}

/// Batches of distinct packets replayed (`NAT44_BENCH_ROUNDS`, default 64: 16k
/// packets, more than the caches hold, like traffic from many flows; 4 keeps the
/// packet buffers cache-resident and shows the translation cost alone).
fn rounds() -> usize {
    std::env::var("NAT44_BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|&r| r > 0)
        .unwrap_or(64)
}

fn sizes() -> Vec<usize> {
    std::env::var("NAT44_BENCH_SIZES").map_or_else(
        |_| vec![16 << 10, 1 << 20, 4 << 20],
        |s| s.split(',').filter_map(|x| x.trim().parse().ok()).collect(),
    )
}

fn translate(c: &mut Criterion) {
    for n in sizes() {
        let cfg = config(n);
        let mut o = owned(&cfg, n);
        let mut nat = o.nat(cfg);
        let t0 = Instant::now();
        let mut pristine: Vec<Vec<u8>> = Vec::with_capacity(BATCH * rounds());
        for i in 0..n as u32 {
            let mut p = flow_packet(i);
            assert_eq!(nat.in2out(T, &mut p), Verdict::Forward, "populate flow {i}");
        }
        while nat.poll_event().is_some() {}
        eprintln!(
            "populated {n} sessions in {:?}; size_of::<Session>() = {} bytes, session index {} slots",
            t0.elapsed(),
            size_of::<Session>(),
            nat.session_index_len()
        );
        for i in sample(n, BATCH * rounds(), 0x9e37_79b9 ^ n as u64) {
            pristine.push(flow_packet(i));
        }
        for p in &mut pristine {
            assert_eq!(nat.in2out(T, p), Verdict::Forward);
            swap(p);
            assert_eq!(nat.out2in(T, p), Verdict::Forward);
            swap(p);
        }
        let mut g = c.benchmark_group(format!("nat44/{n}"));
        g.throughput(Throughput::Elements(2 * BATCH as u64));
        let mut round = 0usize;
        g.bench_function("in2out+out2in", |b| {
            b.iter(|| {
                let start = (round % rounds()) * BATCH;
                round += 1;
                for p in &mut pristine[start..start + BATCH] {
                    let v1 = nat.in2out(T, p);
                    swap(p);
                    let v2 = nat.out2in(T, p);
                    swap(p);
                    let _ = black_box((v1, v2));
                }
            });
        });
        let mut verdicts = vec![Verdict::Forward; BATCH];
        g.bench_function("in2out+out2in batched", |b| {
            b.iter(|| {
                let start = (round % rounds()) * BATCH;
                round += 1;
                let mut refs: Vec<&mut [u8]> = pristine[start..start + BATCH]
                    .iter_mut()
                    .map(|p| &mut p[..])
                    .collect();
                nat.translate_batch(T, Direction::InToOut, &mut refs, &mut verdicts);
                refs.iter_mut().for_each(|p| swap(p));
                nat.translate_batch(T, Direction::OutToIn, &mut refs, &mut verdicts);
                refs.iter_mut().for_each(|p| swap(p));
                black_box(&verdicts);
            });
        });
        // Everything still translates to the same thing.
        assert!(pristine.iter().all(|p| p[12] == 10));

        drop(o);

        // Peers: the 5-tuple lookup alone (two per cycle: in2out key and out2in key
        // are both present, as a NAT keeps both directions).
        g.throughput(Throughput::Elements(BATCH as u64));
        {
            let mut hb: hashbrown::HashMap<(u64, u64), u32> =
                hashbrown::HashMap::with_capacity(2 * n);
            for i in 0..n as u32 {
                hb.insert(key(&flow_packet(i)), i);
            }
            g.bench_function(BenchmarkId::new("peer hashbrown+foldhash lookup", n), |b| {
                b.iter(|| {
                    let start = (round % rounds()) * BATCH;
                    round += 1;
                    let mut acc = 0u32;
                    for p in &pristine[start..start + BATCH] {
                        acc ^= hb.get(&key(p)).copied().unwrap_or(0);
                    }
                    black_box(acc)
                });
            });
        }
        {
            let mut sm: StdHashMap<(u64, u64), u32> = StdHashMap::with_capacity(2 * n);
            for i in 0..n as u32 {
                sm.insert(key(&flow_packet(i)), i);
            }
            g.bench_function(
                BenchmarkId::new("peer std HashMap SipHash lookup", n),
                |b| {
                    b.iter(|| {
                        let start = (round % rounds()) * BATCH;
                        round += 1;
                        let mut acc = 0u32;
                        for p in &pristine[start..start + BATCH] {
                            acc ^= sm.get(&key(p)).copied().unwrap_or(0);
                        }
                        black_box(acc)
                    });
                },
            );
        }
        g.finish();
    }
}

/// New flows per second: 16k flows into an empty 16k/1M table (the table is rebuilt
/// outside the timed part), against hashbrown inserts of the same keys.
fn create(c: &mut Criterion) {
    const K: usize = 16 << 10;
    let packets: Vec<Vec<u8>> = (0..K as u32).map(flow_packet).collect();
    let mut g = c.benchmark_group("nat44/create");
    g.throughput(Throughput::Elements(K as u64));
    for n in [16 << 10, 1 << 20] {
        let cfg = config(n);
        let mut o = owned(&cfg, n);
        g.bench_function(BenchmarkId::new("session creation", n), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let mut work = packets.clone();
                    let mut nat = o.nat(cfg);
                    let t0 = Instant::now();
                    for p in &mut work {
                        let _ = black_box(nat.in2out(T, p));
                        if nat.poll_event().is_some() {
                            while nat.poll_event().is_some() {}
                        }
                    }
                    total += t0.elapsed();
                }
                total
            });
        });
    }
    g.bench_function(BenchmarkId::new("peer hashbrown insert", K), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let mut hb: hashbrown::HashMap<(u64, u64), u32> =
                    hashbrown::HashMap::with_capacity(2 * K);
                let t0 = Instant::now();
                for (i, p) in packets.iter().enumerate() {
                    hb.insert(key(p), i as u32);
                }
                total += t0.elapsed();
                black_box(&hb);
            }
            total
        });
    });
    g.finish();
}

criterion_group!(benches, translate, create);
criterion_main!(benches);
