//! The subscriber chain of `Bng`, 64-byte frames in frames of 256 packets, 1k and 100k
//! PPPoE sessions with NAT44: upstream (ethernet-input, pppoe-session-input,
//! subscriber-input anti-spoofing, ip4-lookup DIR-24-8, nat44 in2out, ip4-rewrite) and
//! downstream (ethernet-input, ip4-input, nat44 out2in, subscriber-output: lookup by
//! address, TTL, PPPoE + VLAN encapsulation). Every iteration copies the 256 frames
//! into pool buffers first (as a backend's RX does) and frees what the graph sends.
//!
//! The reference in the same run: `touch`, the same copy-in and free around the least
//! a forwarder does to each packet (swap the MACs, decrement the TTL, update the
//! checksum incrementally): the chain's cost above it is lookups and branches.
//!
//! The peer in the same run: `etherparse` slicing the same frames (Ethernet and the
//! VLAN tag; it does not decode PPPoE), with the same copy-in and free.
//!
//! The memory floor in the same run: `gather-up` / `gather-down`, the same copy-in,
//! `touch` and free, plus the table reads of the chain and nothing else of it: tables
//! of the chain's sizes read through the same dependent steps (upstream two chains of
//! two: by-id entry then session slot, NAT44 index then session; downstream NAT44
//! index then session, port-block owner then slot) with the same look-ahead
//! (`AHEAD_STRIDE`). Above it, the chain's cost is instructions.
//!
//! After the criterion groups, a profiled pass prints each node's ns/packet, and a
//! CPU-time pass prints ns/packet of thread CPU time (`/proc/thread-self/schedstat`, median
//! of 5 blocks of 6000 frames; the clock advances in scheduler ticks, 4 ms here, so a block is ~100 ms): time the thread was descheduled is not in it, so it is
//! steadier than criterion's wall time on a loaded machine. `CHAIN_CPU_ONLY=1` skips
//! the criterion groups (quick A/B runs); `CHAIN_SESSIONS=<n>` runs one table size.
//!
//! Instructions per packet, the noise-free metric (no hardware counters needed):
//! `CHAIN_COUNT=<frames>` pushes that many frames each way (`CHAIN_DIR=up` or `down`:
//! one way) through `Bng::process` after the warm-up and does nothing else, for
//! `valgrind --tool=callgrind --collect-atstart=no --toggle-collect='*Bng*process*'`;
//! subtract the `CHAIN_COUNT=0` run (the warm-up frames) and divide by 256 x frames
//! (BENCHMARKS.md has the command).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation,
    clippy::cast_precision_loss,
    clippy::missing_docs_in_private_items,
    clippy::std_instead_of_core,
    clippy::too_many_lines,
    clippy::inline_always,
    missing_docs,
    reason = "bench"
)]

use core::time::Duration;
use std::net::Ipv4Addr;

use bng_dataplane::bng::{
    Access, Bng, BngConfig, BngCounters, NatTables, PortConfig, SessionConfig, SessionId,
};
use bng_dataplane::buffer::{Arena, Pkt, Pool};
use bng_dataplane::control::Route;
use bng_dataplane::graph::{FRAME_SIZE, Frame, new_frame};
use bng_nat44::Config as NatConfig;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const GW_MAC: [u8; 6] = [2, 0xbb, 0, 0, 0, 1];
const UP_MAC: [u8; 6] = [2, 0xbb, 0, 0, 0, 2];
const ROUTER_MAC: [u8; 6] = [2, 0xcc, 0, 0, 0, 1];
const HOST: [u8; 4] = [198, 51, 100, 10];
const POOL: [u8; 4] = [203, 0, 112, 0];
const NOW: Duration = Duration::from_secs(1);

fn csum(b: &[u8]) -> u16 {
    let mut s = 0u32;
    for c in b.chunks(2) {
        s += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

fn mac(i: u32) -> [u8; 6] {
    [
        2,
        0xaa,
        (i >> 24) as u8,
        (i >> 16) as u8,
        (i >> 8) as u8,
        i as u8,
    ]
}
/// Session ids as an access concentrator assigns them (RFC 2516 §5.4, PADS: a
/// SESSION_ID unique to the session; §4: 0 is discovery's and 0xffff reserved, so 65 534
/// ids per port): distinct for every session up to 65 534 sessions (the 1k case: ids
/// 1..=1000, all found through the by-id table), and necessarily repeating beyond (the
/// 100k case: 34 466 sessions share an id with another MAC, told apart by the keyed
/// hash map, as on a real port with that many subscribers).
fn sid(i: u32) -> u16 {
    (i % 65_534) as u16 + 1
}
fn vlan(i: u32) -> u16 {
    (i % 4000) as u16 + 1
}
fn addr(i: u32) -> [u8; 4] {
    (u32::from_be_bytes([100, 64, 0, 0]) + i + 2).to_be_bytes()
}

fn ip_udp(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16) -> Vec<u8> {
    let mut ip = vec![0x45, 0, 0, 34, 0, 1, 0, 0, 64, 17, 0, 0];
    ip.extend_from_slice(&src);
    ip.extend_from_slice(&dst);
    let c = csum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    ip.extend_from_slice(&sport.to_be_bytes());
    ip.extend_from_slice(&dport.to_be_bytes());
    ip.extend_from_slice(&[0, 14, 0, 0, 1, 2, 3, 4, 5, 6]);
    ip
}

/// A 60-byte (64 with FCS) PPPoE session frame with one 802.1Q tag.
fn up_frame(i: u32) -> Vec<u8> {
    let ip = ip_udp(addr(i), HOST, 5000, 53);
    let mut f = GW_MAC.to_vec();
    f.extend_from_slice(&mac(i));
    f.extend_from_slice(&[0x81, 0x00]);
    f.extend_from_slice(&vlan(i).to_be_bytes());
    f.extend_from_slice(&[0x88, 0x64, 0x11, 0x00]);
    f.extend_from_slice(&sid(i).to_be_bytes());
    f.extend_from_slice(&((ip.len() + 2) as u16).to_be_bytes());
    f.extend_from_slice(&[0x00, 0x21]);
    f.extend_from_slice(&ip);
    assert_eq!(f.len(), 60);
    f
}

fn session(i: u32) -> SessionConfig {
    SessionConfig {
        id: SessionId(i),
        port: 0,
        mac: mac(i),
        vlans: [vlan(i), 0],
        access: Access::Pppoe { session_id: sid(i) },
        addr: addr(i).into(),
        nat: true,
        qos: None,
    }
}

fn cfg(n: usize) -> BngConfig {
    BngConfig::two_ports(
        PortConfig {
            mac: GW_MAC,
            addr: [100, 64, 0, 1].into(),
        },
        PortConfig {
            mac: UP_MAC,
            addr: [198, 51, 100, 1].into(),
        },
        n,
    )
}

/// A fixed pseudo-random order of `count` sessions out of `n`.
fn picks(n: u32, count: usize) -> Vec<u32> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut v: Vec<u32> = (0..n).collect();
    for i in (1..v.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.swap(i, (x % (i as u64 + 1)) as usize);
    }
    v.into_iter().cycle().take(count).collect()
}

fn touch(f: &mut [u8]) {
    let (a, b) = f.split_at_mut(6);
    a.swap_with_slice(&mut b[..6]);
    let ip = &mut f[14..34];
    let old = u16::from_be_bytes([ip[8], ip[9]]);
    ip[8] -= 1;
    let new = u16::from_be_bytes([ip[8], ip[9]]);
    let s = u32::from(!u16::from_be_bytes([ip[10], ip[11]])) + u32::from(!old) + u32::from(new);
    let s = (s & 0xffff) + (s >> 16);
    let s = (s & 0xffff) + (s >> 16);
    ip[10..12].copy_from_slice(&(!(s as u16)).to_be_bytes());
}

/// The copy-in of one frame as a backend's RX does it (`CHAIN_COUNT` runs: not inlined,
/// so that callgrind can count it alone with `--toggle-collect='*rx_frame*'`); returns
/// the next index into `frames`.
#[inline(never)]
fn rx_frame<'p>(
    pool: &mut Pool<'p>,
    frames: &[Vec<u8>],
    mut k: usize,
    port: u16,
    rx: &mut Frame<'p>,
) -> usize {
    // `frames` holds at least FRAME_SIZE frames: the batch is its tail from `k` and
    // then its head
    let tail = &frames[k..frames.len().min(k + FRAME_SIZE)];
    let head = &frames[..FRAME_SIZE - tail.len()];
    let got = pool.alloc_from_each(tail.iter().chain(head).map(Vec::as_slice), port, rx);
    assert_eq!(got, FRAME_SIZE);
    k = (k + FRAME_SIZE) % frames.len();
    k
}

/// The free of everything sent (`CHAIN_COUNT` runs: not inlined, for
/// `--toggle-collect='*free_tx*'`).
#[inline(never)]
fn free_tx<'p>(pool: &mut Pool<'p>, tx: &mut [Frame<'p>; 2]) {
    for f in tx {
        pool.free_all(f);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Up,
    Down,
    Touch,
    Etherparse,
    GatherUp,
    GatherDown,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Self::Up => "up",
            Self::Down => "down",
            Self::Touch => "touch",
            Self::Etherparse => "etherparse",
            Self::GatherUp => "gather-up",
            Self::GatherDown => "gather-down",
        }
    }
}

/// This thread's CPU time so far, in nanoseconds (`/proc/thread-self/schedstat`'s
/// first field: time spent on the CPU).
fn cpu_now() -> u64 {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap();
    s.split_whitespace().next().unwrap().parse().unwrap()
}

/// Median over 5 blocks of 6000 calls of `frame` (one 256-packet frame each) of thread
/// CPU ns per packet.
fn cpu_ns_per_packet(mut frame: impl FnMut()) -> f64 {
    let mut v: Vec<f64> = (0..5)
        .map(|_| {
            let t0 = cpu_now();
            for _ in 0..6000 {
                frame();
            }
            (cpu_now() - t0) as f64 / (6000.0 * FRAME_SIZE as f64)
        })
        .collect();
    v.sort_by(f64::total_cmp);
    v[2]
}

/// The memory floor of the chain at `n` sessions: tables of the sizes `Bng` and
/// NAT44 hold (a by-id table of 65 536 u32, `n` 64-byte session slots, a NAT44 index
/// of 4n u64 and 2n 32-byte NAT44 sessions, a port-block owner table of 256 x 1008
/// u32), read the way the chain reads them (each entry found through the one before
/// it) with the same look-ahead (`AHEAD_STRIDE` packets per dependent stage), and
/// nothing else of the chain: per packet `touch` plus a counter written in the slot
/// and the session. Upstream: by-id entry then slot, NAT44 index then session;
/// downstream: NAT44 index then session, port-block owner then slot (two chains of
/// two each way). What is left between this and the chain is instructions, not
/// memory.
struct Gather {
    by_sid: Vec<u32>,
    slots: Vec<[u64; 8]>,
    nidx: Vec<u64>,
    sess: Vec<[u32; 8]>,
    owner: Vec<u32>,
}

fn mix(x: u32) -> usize {
    (u64::from(x).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32) as usize
}

impl Gather {
    /// `order[j]` is the session of `ups[j]`, whose reply is `downs[j]`.
    fn new(n: u32, order: &[u32], downs: &[Vec<u8>]) -> Self {
        let ni = (4 * n as usize).next_power_of_two();
        let mut g = Self {
            by_sid: vec![0; 1 << 16],
            slots: vec![[0; 8]; n as usize],
            nidx: vec![0; ni],
            sess: vec![[0; 8]; 2 * n as usize],
            owner: vec![0; 256 * 1008],
        };
        let scatter = picks(n, n as usize);
        for (j, &i) in order.iter().enumerate() {
            let a = u32::from_be_bytes(addr(i));
            // the session entries in a scattered order, as NAT44 allocates them
            let se = scatter[i as usize] * 2;
            g.by_sid[usize::from(sid(i))] = i;
            g.nidx[mix(a) & (ni - 1)] = u64::from(se);
            let (block, out) = Self::key(&downs[j], true);
            g.nidx[mix(out) & (ni - 1)] = u64::from(se);
            g.sess[se as usize][0] = a;
            g.owner[block] = i;
        }
        g
    }

    #[inline(always)]
    fn key(d: &[u8], down: bool) -> (usize, u32) {
        if down {
            // the outside address and port: NAT44's out2in key, and the port block
            // (the bench's pool: 256 addresses of 1008 blocks of 64 ports from 1024)
            let dst = u32::from_be_bytes(d[30..34].try_into().unwrap());
            let port = u16::from_be_bytes([d[36], d[37]]);
            (
                (dst & 0xff) as usize * 1008
                    + usize::from(port.saturating_sub(1024) / 64).min(1007),
                dst ^ u32::from(port).rotate_left(16),
            )
        } else {
            (
                usize::from(u16::from_be_bytes([d[20], d[21]])),
                u32::from_be_bytes(d[34..38].try_into().unwrap()),
            )
        }
    }

    #[inline(always)]
    fn ahead(&self, d: &[u8], stage: usize, down: bool) {
        use bng_dataplane::backend::prefetch::prefetch_read as pf;
        let (s, a) = Self::key(d, down);
        let ni = self.nidx.len() - 1;
        if down {
            if stage == 2 {
                pf(&self.nidx[mix(a) & ni]);
                pf(&self.owner[s]);
            } else {
                pf(&self.sess[self.nidx[mix(a) & ni] as usize]);
                pf(&self.slots[self.owner[s] as usize]);
            }
        } else if stage == 2 {
            pf(&self.by_sid[s]);
            pf(&self.nidx[mix(a) & ni]);
        } else {
            pf(&self.slots[self.by_sid[s] as usize]);
            pf(&self.sess[self.nidx[mix(a) & ni] as usize]);
        }
    }

    #[inline(always)]
    fn packet(&mut self, d: &mut [u8], down: bool) {
        let (s, a) = Self::key(d, down);
        let ni = self.nidx.len() - 1;
        let se = self.nidx[mix(a) & ni] as usize;
        self.sess[se][1] = self.sess[se][1].wrapping_add(1);
        let slot = if down {
            self.owner[s] as usize
        } else {
            self.by_sid[s] as usize
        };
        self.slots[slot][1] += 1;
        touch(d);
    }

    fn frame(&mut self, f: &mut Frame<'_>, down: bool) {
        use bng_dataplane::graph::AHEAD_STRIDE;
        let stages = 2;
        for st in (1..=stages).rev() {
            for p in f.iter().take(st * AHEAD_STRIDE) {
                self.ahead(p.data(), st, down);
            }
        }
        for j in 0..f.len() {
            for st in 1..=stages {
                if let Some(p) = f.get(j + st * AHEAD_STRIDE) {
                    self.ahead(p.data(), st, down);
                }
            }
            self.packet(f[j].data_mut(), down);
        }
    }
}

fn bench(c: &mut Criterion) {
    let cpu_only = std::env::var_os("CHAIN_CPU_ONLY").is_some();
    let mut g = c.benchmark_group("chain");
    g.throughput(Throughput::Elements(FRAME_SIZE as u64));
    // `CHAIN_SESSIONS=1000` runs one table size only (profiling)
    let sizes: Vec<u32> = std::env::var("CHAIN_SESSIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or_else(|| vec![1_000, 100_000], |n| vec![n]);
    for n in sizes {
        let distinct = (n as usize).min(32_768);
        let order = picks(n, distinct);
        let ups: Vec<Vec<u8>> = order.iter().map(|&i| up_frame(i)).collect();

        let mut nat = NatTables::new(
            NatConfig::port_block(POOL.into(), 256),
            2 * n as usize,
            n as usize,
        );
        let mut bng = Bng::new(cfg(n as usize), Some(&mut nat)).unwrap();
        bng.add_route(Route {
            prefix: Ipv4Addr::UNSPECIFIED,
            len: 0,
            port: 1,
            next_hop_mac: ROUTER_MAC,
        })
        .unwrap();
        for i in 0..n {
            bng.add_session(session(i)).unwrap();
        }
        let mut arena = Arena::new(4 * FRAME_SIZE);
        let mut pool = arena.pool();
        let mut rx: Frame<'_> = new_frame();
        let mut tx = [new_frame(), new_frame()];

        // warm-up: every distinct frame once (creates the NAT sessions); the replies
        // are built from what went out
        let mut downs = Vec::with_capacity(distinct);
        for chunk in ups.chunks(FRAME_SIZE) {
            for f in chunk {
                rx.push(pool.alloc_from(f).unwrap());
            }
            bng.process(NOW, &mut rx, &mut pool, &mut tx);
            assert_eq!(tx[1].len(), chunk.len(), "{:?}", bng.counter_rows());
            for p in &tx[1] {
                let ip = &p.data()[14..];
                let mut f = UP_MAC.to_vec();
                f.extend_from_slice(&ROUTER_MAC);
                f.extend_from_slice(&[0x08, 0x00]);
                let sport = u16::from_be_bytes([ip[20], ip[21]]);
                let out: [u8; 4] = ip[12..16].try_into().unwrap();
                f.extend_from_slice(&ip_udp(HOST, out, 53, sport));
                downs.push(f);
            }
            for f in &mut tx {
                pool.free_all(f);
            }
        }

        // `CHAIN_COUNT=<frames>`: that many frames each way through `Bng::process`
        // and nothing else (for `valgrind --tool=callgrind --toggle-collect='*Bng*process*'`:
        // instructions per packet without the copy-in and free)
        if let Some(count) = std::env::var("CHAIN_COUNT")
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
        {
            eprintln!("size_of::<Pkt>() = {}", size_of::<Pkt<'_>>());
            // `CHAIN_DIR=up` or `down`: one direction only
            let dir = std::env::var("CHAIN_DIR").unwrap_or_default();
            for (port, frames) in [(0u16, &ups), (1, &downs)] {
                if (port == 0 && dir == "down") || (port == 1 && dir == "up") {
                    continue;
                }
                let mut k = 0usize;
                for _ in 0..count {
                    k = rx_frame(&mut pool, frames, k, port, &mut rx);
                    bng.process(NOW, &mut rx, &mut pool, &mut tx);
                    assert_eq!(tx[usize::from(port == 0)].len(), FRAME_SIZE);
                    free_tx(&mut pool, &mut tx);
                }
            }
            continue;
        }

        let mut k = 0usize;
        let mut cpu = Vec::new();
        let mut gather = Gather::new(n, &order, &downs);
        for kind in [
            Kind::Up,
            Kind::Down,
            Kind::Touch,
            Kind::Etherparse,
            Kind::GatherUp,
            Kind::GatherDown,
        ] {
            let down = matches!(kind, Kind::Down | Kind::GatherDown);
            let frames = if down { &downs } else { &ups };
            let mut frame = || {
                k = rx_frame(&mut pool, frames, k, u16::from(down), &mut rx);
                match kind {
                    Kind::Up | Kind::Down => {
                        bng.process(NOW, &mut rx, &mut pool, &mut tx);
                        debug_assert_eq!(tx[usize::from(kind == Kind::Up)].len(), FRAME_SIZE);
                        for f in &mut tx {
                            pool.free_all(f);
                        }
                        0
                    }
                    Kind::Touch => {
                        for p in &mut rx {
                            touch(p.data_mut());
                        }
                        pool.free_all(&mut rx);
                        0
                    }
                    Kind::GatherUp | Kind::GatherDown => {
                        gather.frame(&mut rx, down);
                        pool.free_all(&mut rx);
                        0
                    }
                    // the peer: etherparse slicing the same frames (Ethernet, VLAN; it
                    // stops at the PPPoE ethertype), with the same copy-in and free
                    Kind::Etherparse => {
                        let mut tagged = 0usize;
                        for p in &rx {
                            let sliced = etherparse::SlicedPacket::from_ethernet(p.data()).unwrap();
                            tagged += usize::from(sliced.vlan.is_some());
                        }
                        pool.free_all(&mut rx);
                        tagged
                    }
                }
            };
            if !cpu_only {
                g.bench_function(format!("{}/{n}-sessions", kind.name()), |b| {
                    b.iter(&mut frame);
                });
            }
            cpu.push((
                kind.name(),
                cpu_ns_per_packet(|| {
                    core::hint::black_box(frame());
                }),
            ));
        }
        eprintln!(
            "cpu time, {n} sessions, ns/packet (thread CPU time, median of 5 x 6000 frames):"
        );
        for (name, v) in &cpu {
            eprintln!("  {name:12} {v:6.2}");
        }

        // per-node profile: 2000 frames each way
        for (dir, port, frames) in [("up", 0u16, &ups), ("down", 1, &downs)] {
            bng.counters.nanos = [0; 12];
            bng.set_profile(true);
            let mut k = 0usize;
            for _ in 0..2000 {
                for _ in 0..FRAME_SIZE {
                    let mut p = pool.alloc_from(&frames[k]).unwrap();
                    p.meta.rx_if = port;
                    rx.push(p);
                    k = (k + 1) % frames.len();
                }
                bng.process(NOW, &mut rx, &mut pool, &mut tx);
                for f in &mut tx {
                    pool.free_all(f);
                }
            }
            bng.set_profile(false);
            let packets = 2000.0 * FRAME_SIZE as f64;
            eprintln!("profile {dir}, {n} sessions, ns/packet (copy-in and free not included):");
            if n < 8192 {
                eprintln!(
                    "  (small tables: the ethernet-input row is the fused pass, up: ethernet-input, pppoe-fast-input, \
                     nat44 in2out, ip4-rewrite; down: ethernet-input, ip4-input, nat44 out2in, subscriber-output)"
                );
            }
            let mut total = 0.0;
            for (name, ns) in BngCounters::NODES.iter().zip(bng.counters.nanos) {
                if ns > 0 {
                    let v = ns as f64 / packets;
                    total += v;
                    eprintln!("  {name:22} {v:6.2}");
                }
            }
            eprintln!("  {:22} {total:6.2}", "total");
        }
        let _ = bng.session_counters(SessionId(0));
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
