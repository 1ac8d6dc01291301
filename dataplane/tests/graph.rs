//! The graph over the memory backend: crafted frames and every frame of the real
//! captures go through `ethernet-input` and `pppoe-session-input` without a panic, with
//! counters that add up.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests"
)]

use bng_dataplane::backend::Backend;
use bng_dataplane::backend::memory::Memory;
use bng_dataplane::buffer::Arena;
use bng_dataplane::graph::{Counters, Label, Trace, new_frame, run, run2};
use bng_dataplane::nodes::ethernet::{self, EthernetInput};
use bng_dataplane::nodes::pppoe::{self, PppoeSessionInput, SessionKey};

const MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
const CLIENT: [u8; 6] = [2, 0, 0, 0, 0, 0x42];

/// Ethernet (optionally QinQ) + PPPoE session + PPP IPv4 + a 20-byte "IPv4 packet", padded
/// to 60 bytes.
fn pppoe_ip4(vlans: &[u16], session: u16) -> Vec<u8> {
    let mut f = MAC.to_vec();
    f.extend_from_slice(&CLIENT);
    let tpids = [0x88a8u16, 0x8100];
    for (i, v) in vlans.iter().enumerate() {
        f.extend_from_slice(&tpids[i + 2 - vlans.len()].to_be_bytes());
        f.extend_from_slice(&v.to_be_bytes());
    }
    f.extend_from_slice(&[0x88, 0x64, 0x11, 0x00]);
    f.extend_from_slice(&session.to_be_bytes());
    f.extend_from_slice(&22u16.to_be_bytes());
    f.extend_from_slice(&[0x00, 0x21]);
    f.extend_from_slice(&[0x45; 20]);
    f.resize(f.len().max(60), 0);
    f
}

#[test]
fn qinq_pppoe_session_decap() {
    let mut arena = Arena::new(64);
    let mut pool = arena.pool();
    let mut be = Memory::new();
    be.push_rx(&pppoe_ip4(&[100, 200], 7)); // known session
    be.push_rx(&pppoe_ip4(&[100, 201], 7)); // same id, other C-VLAN: unknown
    be.push_rx(&pppoe_ip4(&[], 7)); // untagged: unknown
    be.push_rx(&[0u8; 10]); // runt

    let mut eth = EthernetInput {
        macs: vec![MAC],
        promiscuous: false,
    };
    let mut decap = PppoeSessionInput::default();
    decap.insert(
        SessionKey {
            mac: CLIENT,
            session_id: 7,
            vlans: [100, 200],
        },
        99,
    );
    let (mut ce, mut cp) = (
        Counters::for_node::<EthernetInput>(),
        Counters::for_node::<PppoeSessionInput>(),
    );
    let mut trace = Trace::new(16);

    let mut rx = new_frame();
    assert_eq!(be.rx_burst(&mut pool, &mut rx), 4);
    let mut eth_out: Vec<_> = (0..ethernet::Next::COUNT).map(|_| new_frame()).collect();
    run(
        &mut eth,
        &mut rx,
        &mut eth_out,
        &mut pool,
        &mut ce,
        &mut trace,
    );
    let mut pppoe_out: Vec<_> = (0..pppoe::Next::COUNT).map(|_| new_frame()).collect();
    run(
        &mut decap,
        &mut eth_out[ethernet::Next::PppoeSession as usize],
        &mut pppoe_out,
        &mut pool,
        &mut cp,
        &mut trace,
    );

    let ip4 = &pppoe_out[pppoe::Next::Ip4 as usize];
    assert_eq!(ip4.len(), 1);
    assert_eq!(
        ip4[0].data(),
        &[0x45; 20],
        "decapsulated to the IPv4 header, padding gone"
    );
    assert_eq!(ip4[0].meta.subscriber, 99);
    assert_eq!(ce.drops[ethernet::Drop::Truncated as usize], 1);
    assert_eq!(cp.drops[pppoe::Drop::UnknownSession as usize], 2);
    assert_eq!(cp.packets, 3);
    assert_eq!(trace.entries().count(), 7);
    // every buffer is either in an output frame or back in the pool
    let held: usize = pppoe_out.iter().map(Vec::len).sum();
    assert_eq!(pool.available() + held, pool.capacity());
    let mut tx = core::mem::take(&mut pppoe_out[pppoe::Next::Ip4 as usize]);
    assert_eq!(be.tx_burst(&mut pool, &mut tx), 1);
    assert_eq!(pool.available(), pool.capacity());
}

#[test]
fn every_corpus_frame_goes_through_without_panic() {
    let mut arena = Arena::new(512);
    let mut pool = arena.pool();
    let mut eth = EthernetInput {
        macs: vec![MAC],
        promiscuous: true,
    };
    let mut decap = PppoeSessionInput::default();
    let (mut ce, mut cp) = (
        Counters::for_node::<EthernetInput>(),
        Counters::for_node::<PppoeSessionInput>(),
    );
    let mut trace = Trace::new(0);
    let mut total = 0u64;
    let Some(root) = bng_testkit::corpus::dir() else {
        bng_testkit::skip_or_fail(
            "every_corpus_frame_goes_through_without_panic",
            "no ../shared/corpus",
        );
        return;
    };
    for proto in [
        "pppoe",
        "ppp",
        "vlan",
        "dhcp4",
        "dhcp6",
        "radius",
        "ikev2",
        "esp",
        "nat-relevant-tcp-udp",
    ] {
        if !root.join(proto).is_dir() {
            continue;
        }
        bng_testkit::corpus::walk("graph corpus", proto, |f| {
            if f.link != bng_testkit::corpus::Link::Ethernet {
                return;
            }
            // the session table learns every session it sees, so decap runs to the end
            if let Some((0x8864, p)) = f.ethertype_payload()
                && let (Some(mac), Some(id)) = (f.src_mac(), p.get(2..4))
            {
                let vlans = [0, 0];
                decap.insert(
                    SessionKey {
                        mac,
                        session_id: u16::from_be_bytes([id[0], id[1]]),
                        vlans,
                    },
                    1,
                );
            }
            let mut rx = new_frame();
            rx.push(
                pool.alloc_from(&f.data[..f.data.len().min(2048 - 128)])
                    .unwrap(),
            );
            let mut eth_out: Vec<_> = (0..ethernet::Next::COUNT).map(|_| new_frame()).collect();
            run(
                &mut eth,
                &mut rx,
                &mut eth_out,
                &mut pool,
                &mut ce,
                &mut trace,
            );
            let mut out: Vec<_> = (0..pppoe::Next::COUNT).map(|_| new_frame()).collect();
            run(
                &mut decap,
                &mut eth_out[ethernet::Next::PppoeSession as usize],
                &mut out,
                &mut pool,
                &mut cp,
                &mut trace,
            );
            for mut fr in eth_out.into_iter().chain(out) {
                pool.free_all(&mut fr);
            }
            total += 1;
        });
    }
    assert_eq!(pool.available(), pool.capacity(), "no buffer leaked");
    assert_eq!(ce.packets, total);
    eprintln!("ethernet-input: {:?}", ce.rows::<EthernetInput>());
    eprintln!("pppoe-session-input: {:?}", cp.rows::<PppoeSessionInput>());
    assert!(
        cp.next[pppoe::Next::Ip4 as usize] > 0,
        "PPPoE sessions in the corpus carry IPv4"
    );
}

/// `run2` (two nodes fused into one pass) gives the same outputs, counters and trace as
/// `run` twice.
#[test]
fn run2_equals_run_then_run() {
    let frames = [
        pppoe_ip4(&[100, 200], 7),
        pppoe_ip4(&[100, 201], 7),
        pppoe_ip4(&[], 7),
        vec![0u8; 10],
        pppoe_ip4(&[100, 200], 7),
    ];
    let setup = || {
        let mut decap = PppoeSessionInput::default();
        decap.insert(
            SessionKey {
                mac: CLIENT,
                session_id: 7,
                vlans: [100, 200],
            },
            99,
        );
        let eth = EthernetInput {
            macs: vec![MAC],
            promiscuous: false,
        };
        (eth, decap)
    };
    let mut results = Vec::new();
    for fused in [false, true] {
        let mut arena = Arena::new(16);
        let mut pool = arena.pool();
        let (mut eth, mut decap) = setup();
        let (mut ce, mut cp) = (
            Counters::for_node::<EthernetInput>(),
            Counters::for_node::<PppoeSessionInput>(),
        );
        let mut trace = Trace::new(32);
        let mut rx = new_frame();
        for f in &frames {
            rx.push(pool.alloc_from(f).unwrap());
        }
        let mut eth_out: Vec<_> = (0..ethernet::Next::COUNT).map(|_| new_frame()).collect();
        let mut pppoe_out: Vec<_> = (0..pppoe::Next::COUNT).map(|_| new_frame()).collect();
        if fused {
            run2(
                &mut eth,
                ethernet::Next::PppoeSession,
                &mut decap,
                &mut rx,
                &mut eth_out,
                &mut pppoe_out,
                &mut pool,
                (&mut ce, &mut cp),
                &mut trace,
            );
        } else {
            run(
                &mut eth,
                &mut rx,
                &mut eth_out,
                &mut pool,
                &mut ce,
                &mut trace,
            );
            let mut f = core::mem::take(&mut eth_out[ethernet::Next::PppoeSession as usize]);
            run(
                &mut decap,
                &mut f,
                &mut pppoe_out,
                &mut pool,
                &mut cp,
                &mut trace,
            );
        }
        assert!(eth_out[ethernet::Next::PppoeSession as usize].is_empty());
        let data: Vec<Vec<Vec<u8>>> = pppoe_out
            .iter()
            .map(|f| f.iter().map(|p| p.data().to_vec()).collect())
            .collect();
        let mut names: Vec<_> = trace.entries().map(|e| (e.node, e.verdict)).collect();
        names.sort_unstable();
        for f in &mut pppoe_out {
            pool.free_all(f);
        }
        assert_eq!(pool.available(), pool.capacity());
        results.push((data, ce, cp, names));
    }
    assert_eq!(results[0], results[1]);
    assert_eq!(results[0].2.packets, 4);
    assert_eq!(results[0].0[pppoe::Next::Ip4 as usize].len(), 2);
}
