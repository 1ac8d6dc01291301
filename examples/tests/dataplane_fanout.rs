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
use bng_dataplane::backend::claim::access_owner;
use bng_dataplane::backend::fanout::Fanout;
use bng_dataplane::backend::tpacket::{self, Port, RingConfig};
use bng_dataplane::buffer::Arena;
use bng_dataplane::graph::new_frame;
use bng_testkit::netns::require;
use common::veth_with_peer;

/// Subscriber `i`'s frame to `dst`: PPPoE session (untagged, 802.1Q, QinQ), PPPoE
/// discovery or IPoE by `i % 5`, numbered `i` in its payload.
fn frame(dst: [u8; 6], i: u16) -> Vec<u8> {
    let [hi, lo] = i.to_be_bytes();
    let mut f = dst.to_vec();
    f.extend_from_slice(&[2, 0xaa, 0, 7, hi, lo]);
    match i % 5 {
        1 => f.extend_from_slice(&[0x81, 0x00, 0x00, 100]),
        2 => f.extend_from_slice(&[0x88, 0xa8, 0x00, 10, 0x81, 0x00, 0x00, 20]),
        _ => {}
    }
    let sid = 0x100 + i;
    match i % 5 {
        3 => f.extend_from_slice(&[0x88, 0x63, 0x11, 0x09, 0, 0]),
        4 => f.extend_from_slice(&[0x08, 0x00, 0x45, 0]),
        _ => {
            f.extend_from_slice(&[0x88, 0x64, 0x11, 0x00]);
            f.extend_from_slice(&sid.to_be_bytes());
        }
    }
    f.extend_from_slice(&[0, 8, 0, 0x21, 0xfe, 0xed, hi, lo]);
    f.resize(64, 0x5a);
    f
}

#[test]
fn af_packet_fanout_steers_each_subscriber_to_its_worker() {
    let t = "af_packet_fanout_steers_each_subscriber_to_its_worker";
    if !require(t, &["ip", "sysctl"]) {
        return;
    }
    let (a, _b, peer) = veth_with_peer("foa", "fo0", "fob", "fm0");
    a.run_in(move || {
        for (group, workers, shares) in [(0x4b1_u16, 2usize, &[][..]), (0x4b2, 3, &[1, 3, 2])] {
            let fanout = Fanout::new(workers, shares).expect("load the fanout program");
            let cfg = RingConfig::default();
            let mut ports: Vec<Port> = (0..workers)
                .map(|_| {
                    let p = Port::open("fo0", Some(&cfg)).expect("AF_PACKET ring on fo0");
                    assert!(p.is_ring(), "{p:?}");
                    p
                })
                .collect();
            // members in worker order
            for p in &ports {
                fanout
                    .join(std::os::fd::AsFd::as_fd(p), group)
                    .expect("join the fanout group");
            }
            let us = ports[0].mac();
            let sent: Vec<Vec<u8>> = (0..300).map(|i| frame(us, i)).collect();
            for f in &sent {
                peer.send(f).unwrap();
            }
            let mut arena = Arena::new(1024);
            let mut pool = arena.pool();
            let mut rx = new_frame();
            let mut got: Vec<Vec<Vec<u8>>> = vec![Vec::new(); workers];
            let deadline = Instant::now() + Duration::from_secs(20);
            while got.iter().map(Vec::len).sum::<usize>() < sent.len() && Instant::now() < deadline
            {
                let mut n = 0;
                for (w, p) in ports.iter_mut().enumerate() {
                    n += p.rx_burst(&mut pool, &mut rx);
                    got[w].extend(
                        rx.iter()
                            .map(|p| p.data().to_vec())
                            .filter(|f| f.get(6..8) == Some(&[2, 0xaa][..])),
                    );
                    pool.free_all(&mut rx);
                }
                if n == 0 {
                    let _ = tpacket::wait_any(&ports, Duration::from_millis(50));
                }
            }
            assert_eq!(pool.available(), pool.capacity(), "buffers leaked");
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
