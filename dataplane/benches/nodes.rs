//! Per-packet cost of the QoS, MSS, punt and ESP nodes over frames of 256 packets
//! (64-byte packets; 1400-byte inner packets for ESP), each next to a baseline in the
//! same run: the frame fill/free alone (what every node bench also pays), etherparse
//! slicing the same 64-byte frames, and for ESP `bng-esp`'s own `Outbound::encap` of a
//! 1400-byte packet in a plain buffer (ring AES-128-GCM).
//!
//! `cargo bench -p bng-dataplane --bench nodes -- --warm-up-time 1 --measurement-time 3`

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation,
    clippy::missing_docs_in_private_items,
    clippy::too_many_lines,
    missing_docs,
    reason = "bench"
)]

use core::hint::black_box;
use core::time::Duration;

use bng_dataplane::buffer::{Arena, Pool};
use bng_dataplane::graph::{Counters, FRAME_SIZE, Frame, Label, Node, Trace, new_frame, run};
use bng_dataplane::nodes::esp::{EspDecrypt, EspEncrypt};
use bng_dataplane::nodes::mss::MssClamp;
use bng_dataplane::nodes::punt::{Punt, PuntConfig};
use bng_dataplane::nodes::qos::{Policer, Profile, Shaper, ShaperProfile};
use bng_esp::ring::Aes128GcmEsp;
use bng_esp::sa::{Config, Inbound, Mode, Outbound, Tunnel};
use bng_esp::wire::Spi;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};

#[path = "../tests/support/mod.rs"]
mod support;
use support::TestRng as Rng;

bng_dataplane::label! {
    enum NoopNext { Out => "out", }
}
bng_dataplane::label! {
    enum NoopDrop { Never => "never", }
}

/// A node that forwards every packet untouched: the graph's own per-packet cost.
struct Noop;
impl Node for Noop {
    type Next = NoopNext;
    type Drop = NoopDrop;
    const NAME: &'static str = "noop";
    fn packet(
        &mut self,
        pkt: &mut bng_dataplane::buffer::Pkt<'_>,
    ) -> bng_dataplane::graph::Verdict<NoopNext, NoopDrop> {
        black_box(pkt.len());
        bng_dataplane::graph::Verdict::Next(NoopNext::Out)
    }
}

fn csum(b: &[u8]) -> u16 {
    let mut s: u32 = b
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c.get(1).copied().unwrap_or(0)])))
        .sum();
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

/// A 64-byte Ethernet frame: IPv4 + TCP (flags, MSS option 1460) or UDP.
fn frame64(i: u16, proto: u8, tcp_flags: u8) -> Vec<u8> {
    let mut f = vec![
        2,
        0,
        0,
        0,
        0,
        1,
        2,
        0,
        0,
        0,
        (i >> 8) as u8,
        i as u8,
        0x08,
        0x00,
    ];
    let mut ip = vec![
        0x45,
        0,
        0,
        50,
        0,
        1,
        0x40,
        0,
        64,
        proto,
        0,
        0,
        10,
        0,
        (i >> 8) as u8,
        i as u8,
        198,
        51,
        100,
        7,
    ];
    let c = csum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&ip);
    if proto == 6 {
        let mut t = vec![
            0x30, 0x39, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x60, tcp_flags, 0xff, 0xff, 0, 0, 0, 0,
        ];
        t.extend_from_slice(&[2, 4, 0x05, 0xb4]);
        t.resize(30, 0);
        f.extend_from_slice(&t);
    } else {
        f.extend_from_slice(&[0x30, 0x39, 0x01, 0xbb, 0, 30]);
        f.resize(64, 0);
    }
    f.truncate(64);
    f
}

fn fill<'p>(pool: &mut Pool<'p>, rx: &mut Frame<'p>, frames: &[Vec<u8>], l3: u16) {
    for (i, f) in frames.iter().enumerate() {
        let mut p = pool.alloc_from(f).unwrap();
        p.meta.l3_offset = l3;
        p.meta.subscriber = i as u32 + 1;
        p.meta.adjacency = 1;
        rx.push(p);
    }
}

fn outs<'p, N: Node>() -> Vec<Frame<'p>> {
    (0..N::Next::COUNT).map(|_| new_frame()).collect()
}

fn bench_node<N: Node>(
    c: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    node: &mut N,
    pool: &mut Pool<'_>,
    frames: &[Vec<u8>],
    l3: u16,
    mut between: impl FnMut(&mut N),
) {
    let mut rx = new_frame();
    let mut out = outs::<N>();
    let mut counters = Counters::for_node::<N>();
    let mut trace = Trace::new(0);
    c.bench_function(name, |b| {
        b.iter(|| {
            between(node);
            fill(pool, &mut rx, frames, l3);
            run(node, &mut rx, &mut out, pool, &mut counters, &mut trace);
            for o in &mut out {
                pool.free_all(o);
            }
        });
    });
}

fn esp_cfg() -> Config {
    Config::new(
        Spi(0x1000),
        Mode::Tunnel(Tunnel::V4 {
            src: [192, 0, 2, 1],
            dst: [192, 0, 2, 2],
        }),
    )
}

const KEYMAT: [u8; 20] = [0x11; 20];

fn inner1400() -> Vec<u8> {
    let mut ip = vec![0u8; 1400];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&1400u16.to_be_bytes());
    ip[9] = 17;
    ip
}

fn bench(c: &mut Criterion) {
    let mut arena = Arena::new(4 * FRAME_SIZE);
    let mut pool = arena.pool();
    let syn: Vec<Vec<u8>> = (0..FRAME_SIZE as u16)
        .map(|i| frame64(i, 6, 0x02))
        .collect();
    let ack: Vec<Vec<u8>> = (0..FRAME_SIZE as u16)
        .map(|i| frame64(i, 6, 0x10))
        .collect();
    let udp: Vec<Vec<u8>> = (0..FRAME_SIZE as u16).map(|i| frame64(i, 17, 0)).collect();

    let mut g = c.benchmark_group("nodes");
    g.throughput(Throughput::Elements(FRAME_SIZE as u64));

    // baseline: fill the frame from 64-byte frames and free it (every node bench pays it)
    {
        let mut rx = new_frame();
        g.bench_function("baseline-fill-free/64B", |b| {
            b.iter(|| {
                fill(&mut pool, &mut rx, &udp, 14);
                pool.free_all(black_box(&mut rx));
            });
        });
    }
    g.bench_function("etherparse-slice/64B", |b| {
        b.iter(|| {
            let mut n = 0usize;
            for f in &udp {
                let s = etherparse::SlicedPacket::from_ethernet(black_box(f)).unwrap();
                n += usize::from(s.net.is_some());
            }
            n
        });
    });

    bench_node(
        &mut g,
        "noop-node/64B",
        &mut Noop,
        &mut pool,
        &udp,
        14,
        |_| {},
    );

    let mut mss = MssClamp::for_mtu(1492);
    bench_node(
        &mut g,
        "tcp-mss-clamp/syn-clamped/64B",
        &mut mss,
        &mut pool,
        &syn,
        14,
        |_| {},
    );
    bench_node(
        &mut g,
        "tcp-mss-clamp/non-syn/64B",
        &mut mss,
        &mut pool,
        &ack,
        14,
        |_| {},
    );

    let mut punt = Punt::new(&PuntConfig::default(), Duration::ZERO);
    bench_node(
        &mut g,
        "punt/forwarding-pass/64B",
        &mut punt,
        &mut pool,
        &udp,
        14,
        |_| {},
    );

    // 256 subscribers, 1 Gbit/s each: every packet green; time advances 1 us per frame
    let mut policer = Policer::new();
    for s in 1..=FRAME_SIZE as u32 {
        policer.set_profile(s, Profile::police(1_000_000_000, 100_000));
    }
    let mut t = 0u64;
    bench_node(
        &mut g,
        "qos-policer/srtcm-green/64B",
        &mut policer,
        &mut pool,
        &udp,
        14,
        |n| {
            t += 1000;
            n.now = Duration::from_nanos(t);
        },
    );

    // shaper, tokens available: enqueue sends directly, poll finds nothing queued
    {
        let mut sh = Shaper::new(1024);
        for s in 1..=FRAME_SIZE as u32 {
            let p = ShaperProfile {
                rate: 1_000_000_000,
                burst: 100_000,
                queue: 64,
            };
            sh.set_profile(s, p, Duration::ZERO, &mut pool);
        }
        let (mut rx, mut out) = (new_frame(), new_frame());
        let mut t = 0u64;
        g.bench_function("qos-shaper/direct/64B", |b| {
            b.iter(|| {
                t += 1000;
                let now = Duration::from_nanos(t);
                fill(&mut pool, &mut rx, &udp, 14);
                sh.enqueue(now, &mut rx, &mut out, &mut pool);
                sh.poll(now, &mut out);
                pool.free_all(&mut out);
            });
        });
        sh.flush(&mut pool);
    }

    // ESP, 1400-byte inner packets (ring AES-128-GCM)
    g.throughput(Throughput::Elements(FRAME_SIZE as u64));
    let inner = inner1400();
    let mut eth_inner = vec![0u8; 14];
    eth_inner.extend_from_slice(&inner);
    let inners: Vec<Vec<u8>> = (0..FRAME_SIZE).map(|_| eth_inner.clone()).collect();
    {
        let t = Aes128GcmEsp::from_keymat(&KEYMAT).unwrap();
        let mut tx = Outbound::new(esp_cfg(), t, Duration::ZERO).unwrap();
        let mut rng = Rng(1);
        let mut bufs: Vec<Vec<u8>> = (0..FRAME_SIZE).map(|_| vec![0u8; 64 + 1400 + 64]).collect();
        g.bench_function("bng-esp-encap-direct/1400B", |b| {
            b.iter(|| {
                for buf in &mut bufs {
                    buf[64..64 + 1400].copy_from_slice(&inner);
                    black_box(
                        tx.encap(Duration::ZERO, buf, 64..64 + 1400, &mut rng)
                            .unwrap(),
                    );
                }
            });
        });
    }
    let mut enc = EspEncrypt::new(Rng(2));
    enc.set_sa(
        0,
        Outbound::new(
            esp_cfg(),
            Aes128GcmEsp::from_keymat(&KEYMAT).unwrap(),
            Duration::ZERO,
        )
        .unwrap(),
    );
    enc.bind(1, 0);
    bench_node(
        &mut g,
        "esp-encrypt/1400B",
        &mut enc,
        &mut pool,
        &inners,
        14,
        |_| {},
    );
    {
        // decrypt needs fresh sequence numbers: a frame of ciphertext is made per
        // iteration outside the timing
        let mut dec = EspDecrypt::new();
        dec.insert(
            Inbound::new(
                esp_cfg(),
                Aes128GcmEsp::from_keymat(&KEYMAT).unwrap(),
                Duration::ZERO,
            )
            .unwrap(),
        );
        let mut tx = Outbound::new(
            esp_cfg(),
            Aes128GcmEsp::from_keymat(&KEYMAT).unwrap(),
            Duration::ZERO,
        )
        .unwrap();
        let mut rng = Rng(3);
        {
            // bng-esp's own decap of the same packets, for the ratio
            let mut rx_sa = Inbound::new(
                esp_cfg(),
                Aes128GcmEsp::from_keymat(&KEYMAT).unwrap(),
                Duration::ZERO,
            )
            .unwrap();
            let mut tx2 = Outbound::new(
                esp_cfg(),
                Aes128GcmEsp::from_keymat(&KEYMAT).unwrap(),
                Duration::ZERO,
            )
            .unwrap();
            let mut rng2 = Rng(4);
            // the ciphertext is copied into a buffer inside the timing, as the node's
            // bench copies it into a pool buffer
            let mut scratch = vec![0u8; 2048];
            g.bench_function("bng-esp-decap-direct/1400B", |b| {
                b.iter_batched(
                    || {
                        (0..FRAME_SIZE)
                            .map(|_| {
                                let mut buf = vec![0u8; 64 + 1400 + 64];
                                buf[64..64 + 1400].copy_from_slice(&inner);
                                let r = tx2
                                    .encap(Duration::ZERO, &mut buf, 64..64 + 1400, &mut rng2)
                                    .unwrap();
                                buf[r].to_vec()
                            })
                            .collect::<Vec<_>>()
                    },
                    |wire| {
                        for w in &wire {
                            scratch[128..128 + w.len()].copy_from_slice(w);
                            let r = 128..128 + w.len();
                            black_box(rx_sa.decap(Duration::ZERO, &mut scratch, r).unwrap());
                        }
                    },
                    BatchSize::LargeInput,
                );
            });
        }
        let mut out = outs::<EspDecrypt<Aes128GcmEsp>>();
        let mut counters = Counters::for_node::<EspDecrypt<Aes128GcmEsp>>();
        let mut trace = Trace::new(0);
        g.bench_function("esp-decrypt/1400B", |b| {
            b.iter_batched(
                || {
                    let mut wire = Vec::with_capacity(FRAME_SIZE);
                    for _ in 0..FRAME_SIZE {
                        let mut buf = vec![0u8; 64 + 1400 + 64];
                        buf[64..64 + 1400].copy_from_slice(&inner);
                        let r = tx
                            .encap(Duration::ZERO, &mut buf, 64..64 + 1400, &mut rng)
                            .unwrap();
                        wire.push(buf[r].to_vec());
                    }
                    wire
                },
                |wire| {
                    let mut rx = new_frame();
                    fill(&mut pool, &mut rx, &wire, 0);
                    run(
                        &mut dec,
                        &mut rx,
                        &mut out,
                        &mut pool,
                        &mut counters,
                        &mut trace,
                    );
                    for o in &mut out {
                        pool.free_all(o);
                    }
                },
                BatchSize::LargeInput,
            );
        });
        assert_eq!(
            counters.drops.iter().sum::<u64>(),
            0,
            "every packet decrypted"
        );
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
