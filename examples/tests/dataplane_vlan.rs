//! The Linux kernel strips the outer 802.1Q/802.1ad tag of every received frame into
//! skb metadata before packet sockets see it (`skb_vlan_untag`, even without the 8021q
//! module). Our AF_PACKET backends put it back: frames tagged 802.1Q (VID 100), QinQ
//! (0x88a8 VID 10 outside, 0x8100 VID 20 inside) and priority-tagged (VID 0, PCP 3),
//! sent by a raw socket across a veth pair, arrive byte for byte as they were sent,
//! through `rx_burst` and `recv`, with the TPACKET_V3 ring and with the plain socket.

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
use bng_dataplane::backend::tpacket::{self, Port, RingConfig};
use bng_dataplane::buffer::Arena;
use bng_dataplane::graph::new_frame;
use bng_testkit::netns::require;
use common::veth_with_peer;

/// Frames from `src` to `dst`: untagged, 802.1Q VID 100, QinQ 10/20, priority-tagged.
fn tagged_frames(dst: [u8; 6], src: [u8; 6]) -> Vec<Vec<u8>> {
    let tags: [&[u8]; 4] = [
        &[],
        &[0x81, 0x00, 0x00, 100],
        &[0x88, 0xa8, 0x00, 10, 0x81, 0x00, 0x00, 20],
        &[0x81, 0x00, 3 << 5, 0x00],
    ];
    tags.iter()
        .enumerate()
        .map(|(i, tag)| {
            let mut f = Vec::new();
            f.extend_from_slice(&dst);
            f.extend_from_slice(&src);
            f.extend_from_slice(tag);
            // a local experimental ethertype, the frame's number, padding
            f.extend_from_slice(&[0x88, 0xb5, 0, u8::try_from(i).unwrap()]);
            f.resize(64, 0x5a);
            f
        })
        .collect()
}

#[test]
fn af_packet_ring_keeps_vlan_tags() {
    vlan_tags_survive("af_packet_ring_keeps_vlan_tags", true);
}

#[test]
fn af_packet_plain_keeps_vlan_tags() {
    vlan_tags_survive("af_packet_plain_keeps_vlan_tags", false);
}

fn vlan_tags_survive(t: &'static str, ring: bool) {
    if !require(t, &["ip", "sysctl"]) {
        return;
    }
    let (a, _b, peer) = veth_with_peer("vla", "vl0", "vlb", "vm0");
    a.run_in(move || {
        let cfg = RingConfig::default();
        let mut port = Port::open("vl0", ring.then_some(&cfg)).expect("AF_PACKET on vl0");
        assert_eq!(port.is_ring(), ring, "{port:?}");
        let (us, them) = (port.mac(), peer.mac());
        let sent = tagged_frames(us, them);

        // the graph's path: rx_burst into pool buffers
        let mut arena = Arena::new(64);
        let mut pool = arena.pool();
        for f in &sent {
            peer.send(f).unwrap();
        }
        let mut got = Vec::new();
        let mut rx = new_frame();
        let deadline = Instant::now() + Duration::from_secs(20);
        while got.len() < sent.len() && Instant::now() < deadline {
            if port.rx_burst(&mut pool, &mut rx) == 0 {
                let _ = tpacket::wait_any(std::slice::from_ref(&port), Duration::from_millis(50));
            }
            got.extend(
                rx.iter()
                    .map(|p| p.data().to_vec())
                    .filter(|f| f.get(6..12) == Some(&them[..])),
            );
            pool.free_all(&mut rx);
        }
        assert_eq!(pool.available(), pool.capacity(), "buffers leaked");
        assert_eq!(got, sent, "rx_burst (ring: {ring})");

        // the one-frame API: recv into a caller's buffer
        for f in &sent {
            peer.send(f).unwrap();
        }
        let mut got = Vec::new();
        let mut buf = [0u8; 2048];
        let deadline = Instant::now() + Duration::from_secs(20);
        while got.len() < sent.len() && Instant::now() < deadline {
            let n = match &mut port {
                Port::Ring(r) => r.recv(&mut buf, Duration::from_millis(200)),
                Port::Plain(s, _) => s.recv(&mut buf, Duration::from_millis(200)),
                other => panic!("unknown port {other:?}"),
            };
            if let Some(n) = n.unwrap() {
                if buf.get(6..12) == Some(&them[..]) {
                    got.push(buf[..n].to_vec());
                }
            }
        }
        assert_eq!(got, sent, "recv (ring: {ring})");
    });
}
