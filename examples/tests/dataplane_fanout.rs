//! Steering by the kernel for AF_PACKET (`backend::fanout`): one TPACKET_V3 socket per
//! worker on one access interface, joined to a `PACKET_FANOUT_EBPF` group whose program
//! computes each frame's worker. Frames of 300 subscribers (PPPoE session frames
//! untagged, 802.1Q and QinQ, PPPoE discovery and IPoE) sent by a raw socket across a
//! veth pair arrive each at exactly one socket: the one of the worker the control plane
//! places the subscriber on (`access_owner`, the function the user-space steering and
//! `SessionConfig::worker` use), byte for byte, for equal and weighted placements. The
//! Linux kernel runs the program; our code only loads it and reads the rings.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::std_instead_of_core,
    reason = "tests"
)]

mod common;

use std::time::{Duration, Instant};

use bng_dataplane::backend::Backend;
use bng_dataplane::backend::claim::{access_owner, upstream_owner};
use bng_dataplane::backend::fanout::Fanout;
use bng_dataplane::backend::tpacket::{self, Port, RingConfig};
use bng_dataplane::buffer::Arena;
use bng_dataplane::graph::new_frame;
use bng_testkit::netns::require;
use common::veth_with_peer;

/// Receives from `ports` (one per worker) until `want` frames whose source MAC starts
/// with `src` have arrived (20 s at most), by worker.
fn receive(ports: &mut [Port], want: usize, src: &[u8]) -> Vec<Vec<Vec<u8>>> {
    let mut arena = Arena::new(1024);
    let mut pool = arena.pool();
    let mut rx = new_frame();
    let mut got: Vec<Vec<Vec<u8>>> = vec![Vec::new(); ports.len()];
    let deadline = Instant::now() + Duration::from_secs(20);
    while got.iter().map(Vec::len).sum::<usize>() < want && Instant::now() < deadline {
        let mut n = 0;
        for (w, p) in ports.iter_mut().enumerate() {
            n += p.rx_burst(&mut pool, &mut rx);
            got[w].extend(
                rx.iter()
                    .map(|p| p.data().to_vec())
                    .filter(|f| f.get(6..6 + src.len()) == Some(src)),
            );
            pool.free_all(&mut rx);
        }
        if n == 0 {
            let _ = tpacket::wait_any(ports, Duration::from_millis(50));
        }
    }
    assert_eq!(pool.available(), pool.capacity(), "buffers leaked");
    got
}

/// Ports of `workers` ring sockets on `dev`, joined in worker order to `fanout`'s group.
fn group(dev: &str, workers: usize, fanout: &Fanout, id: u16) -> Vec<Port> {
    let cfg = RingConfig::default();
    let ports: Vec<Port> = (0..workers)
        .map(|_| {
            let p = Port::open(dev, Some(&cfg)).expect("AF_PACKET ring");
            assert!(p.is_ring(), "{p:?}");
            p
        })
        .collect();
    for p in &ports {
        fanout
            .join(std::os::fd::AsFd::as_fd(p), id)
            .expect("join the fanout group");
    }
    ports
}

/// An IPv4 UDP packet from the router to `dst` (untagged, 802.1Q or QinQ by `i % 3`).
fn downstream(dst_mac: [u8; 6], dst: [u8; 4], i: u8) -> Vec<u8> {
    let mut f = dst_mac.to_vec();
    f.extend_from_slice(&[2, 0xcc, 0, 0, 0, i]);
    match i % 3 {
        1 => f.extend_from_slice(&[0x81, 0x00, 0x00, 100]),
        2 => f.extend_from_slice(&[0x88, 0xa8, 0x00, 10, 0x81, 0x00, 0x00, 20]),
        _ => {}
    }
    f.extend_from_slice(&[0x08, 0x00, 0x45, 0, 0, 28, 0, i, 0, 0, 64, 17, 0, 0]);
    f.extend_from_slice(&[198, 51, 100, 2]);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&[0, 53, 0x13, 0x88, 0, 8, 0, 0]);
    f.resize(64, 0x5a);
    f
}

/// The upstream port's program (`Fanout::upstream`): IPv4 frames to the NAT44 pool
/// (203.0.113.0, 11 addresses) reach the worker whose pool slice holds the
/// destination, untagged or tagged; frames outside the pool, and ARP, reach worker 0.
#[test]
fn af_packet_fanout_steers_downstream_by_pool_slice() {
    let t = "af_packet_fanout_steers_downstream_by_pool_slice";
    if !require(t, &["ip", "sysctl"]) {
        return;
    }
    let (a, _b, peer) = veth_with_peer("fua", "fu0", "fub", "fv0");
    a.run_in(move || {
        let first = std::net::Ipv4Addr::new(203, 0, 113, 0);
        for (id, workers) in [(0x4c1_u16, 2usize), (0x4c2, 3)] {
            let fanout = Fanout::upstream(workers, first, 11).expect("load the program");
            let mut ports = group("fu0", workers, &fanout, id);
            let us = ports[0].mac();
            let mut sent: Vec<Vec<u8>> = (0..33u8)
                .map(|i| downstream(us, [203, 0, 113, i % 12], i))
                .collect();
            sent.push(downstream(us, [198, 51, 100, 9], 40));
            let mut arp = downstream(us, [203, 0, 113, 1], 41);
            arp[12..14].copy_from_slice(&[0x08, 0x06]);
            sent.push(arp);
            for f in &sent {
                peer.send(f).unwrap();
            }
            let got = receive(&mut ports, sent.len(), &[2, 0xcc]);
            assert_eq!(got.iter().map(Vec::len).sum::<usize>(), sent.len());
            for (w, frames) in got.iter().enumerate() {
                for f in frames {
                    let want = upstream_owner(f, workers, u32::from(first), 11).unwrap_or(0);
                    assert_eq!(want, w, "frame {f:02x?} at worker {w} of {workers}");
                    assert!(sent.contains(f), "frame changed: {f:02x?}");
                }
            }
            eprintln!(
                "{workers} workers: frames per worker {:?}",
                got.iter().map(Vec::len).collect::<Vec<_>>()
            );
        }
    });
}

#[test]
fn af_packet_fanout_steers_each_subscriber_to_its_worker() {
    let t = "af_packet_fanout_steers_each_subscriber_to_its_worker";
    if !require(t, &["ip", "sysctl"]) {
        return;
    }
    let (a, _b, peer) = veth_with_peer("foa", "fo0", "fob", "fm0");
    a.run_in(move || {
        for (group_id, workers, shares) in [(0x4b1_u16, 2usize, &[][..]), (0x4b2, 3, &[1, 3, 2])] {
            let fanout = Fanout::new(workers, shares).expect("load the fanout program");
            let mut ports = group("fo0", workers, &fanout, group_id);
            let us = ports[0].mac();
            let sent: Vec<Vec<u8>> = (0..300)
                .map(|i| common::subscriber_frame(us, i, 5, 0))
                .collect();
            for f in &sent {
                peer.send(f).unwrap();
            }
            let got = receive(&mut ports, sent.len(), &[2, 0xaa]);
            let total: usize = got.iter().map(Vec::len).sum();
            assert_eq!(total, sent.len(), "every frame once ({workers} workers)");
            for (w, frames) in got.iter().enumerate() {
                assert!(!frames.is_empty(), "worker {w} of {workers} got nothing");
                for f in frames {
                    assert_eq!(
                        access_owner(f, workers, shares),
                        Some(w),
                        "frame {f:02x?} at worker {w} of {workers} (shares {shares:?})"
                    );
                    assert!(sent.contains(f), "frame changed: {f:02x?}");
                }
            }
            eprintln!(
                "{workers} workers, shares {shares:?}: frames per worker {:?}",
                got.iter().map(Vec::len).collect::<Vec<_>>()
            );
        }
    });
}
