//! Per-packet cost of `ethernet-input` + `pppoe-session-input` (QinQ PPPoE to IPv4
//! decap) over frames of 256 packets, next to etherparse slicing the same frames
//! (Ethernet, VLANs) in the same run.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation,
    clippy::missing_docs_in_private_items,
    missing_docs,
    reason = "bench"
)]

use bng_dataplane::buffer::Arena;
use bng_dataplane::graph::{Counters, FRAME_SIZE, Label, Trace, new_frame, run};
use bng_dataplane::nodes::ethernet::{self, EthernetInput};
use bng_dataplane::nodes::pppoe::{self, PppoeSessionInput, SessionKey};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];

fn frame(i: u16) -> Vec<u8> {
    let mut f = MAC.to_vec();
    f.extend_from_slice(&[2, 0, 0, 0, (i >> 8) as u8, i as u8]);
    f.extend_from_slice(&[0x88, 0xa8, 0, 100, 0x81, 0x00]);
    f.extend_from_slice(&(i & 0x0fff).to_be_bytes());
    f.extend_from_slice(&[0x88, 0x64, 0x11, 0x00]);
    f.extend_from_slice(&(i + 1).to_be_bytes());
    f.extend_from_slice(&[0, 22, 0x00, 0x21]);
    f.extend_from_slice(&[0x45; 20]);
    f
}

fn bench(c: &mut Criterion) {
    let frames: Vec<Vec<u8>> = (0..FRAME_SIZE as u16).map(frame).collect();
    let mut g = c.benchmark_group("dataplane");
    g.throughput(Throughput::Elements(FRAME_SIZE as u64));

    for sessions in [1_000u32, 100_000] {
        let mut arena = Arena::new(4 * FRAME_SIZE);
        let mut pool = arena.pool();
        let mut eth = EthernetInput {
            macs: vec![MAC],
            promiscuous: false,
        };
        let mut decap = PppoeSessionInput::default();
        for s in 0..sessions {
            let i = (s % 65_535) as u16;
            let key = SessionKey {
                mac: [2, 0, 0, 0, (i >> 8) as u8, i as u8],
                session_id: i + 1,
                vlans: [100, i & 0x0fff],
            };
            decap.insert(key, s + 1);
        }
        let (mut ce, mut cp) = (
            Counters::for_node::<EthernetInput>(),
            Counters::for_node::<PppoeSessionInput>(),
        );
        let mut trace = Trace::new(0);
        let mut rx = new_frame();
        let mut eth_out: Vec<_> = (0..ethernet::Next::COUNT).map(|_| new_frame()).collect();
        let mut out: Vec<_> = (0..pppoe::Next::COUNT).map(|_| new_frame()).collect();
        g.bench_function(
            format!("ethernet+pppoe-decap/256-frame/{sessions}-sessions"),
            |b| {
                b.iter(|| {
                    for f in &frames {
                        rx.push(pool.alloc_from(f).unwrap());
                    }
                    run(
                        &mut eth,
                        &mut rx,
                        &mut eth_out,
                        &mut pool,
                        &mut ce,
                        &mut trace,
                    );
                    run(
                        &mut decap,
                        &mut eth_out[ethernet::Next::PppoeSession as usize],
                        &mut out,
                        &mut pool,
                        &mut cp,
                        &mut trace,
                    );
                    for o in &mut out {
                        pool.free_all(o);
                    }
                });
            },
        );
    }

    g.bench_function("etherparse-slice/256-frame", |b| {
        b.iter(|| {
            let mut n = 0usize;
            for f in &frames {
                let s = etherparse::SlicedPacket::from_ethernet(core::hint::black_box(f)).unwrap();
                n += usize::from(s.vlan.is_some());
            }
            n
        });
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
