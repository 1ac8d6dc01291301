//! The dataplane forwards real traffic between real Linux hosts: a client namespace and
//! a server namespace (the kernel's own IP stacks, ping) joined through `bng-fwd` (the
//! node graph over AF_PACKET, with TPACKET_V3 rings and with the plain socket) in a
//! middle namespace whose kernel has no addresses, so only our graph answers ARP and
//! forwards. tshark decodes what we sent without a malformed flag. The ring backend
//! alone moves bursts of frames in order, byte for byte, none lost.

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
use bng_dataplane::backend::tpacket::{self, Port, RingConfig, RingSocket};
use bng_dataplane::buffer::Arena;
use bng_dataplane::graph::new_frame;
use bng_testkit::netns::{Capture, Netns, require, workdir};
use common::{Routed, assert_pings_forwarded, fwd_counter, rx_packets, veth_with_peer};

#[test]
fn ping_through_the_graph_over_af_packet() {
    ping_over_af_packet("ping_through_the_graph_over_af_packet", "ring");
}

#[test]
fn ping_through_the_graph_over_af_packet_plain() {
    ping_over_af_packet("ping_through_the_graph_over_af_packet_plain", "plain");
}

fn ping_over_af_packet(t: &'static str, io: &str) {
    if !require(t, &["ip", "ping", "tshark"]) {
        return;
    }
    let dir = workdir(t);
    let net = Routed::new();
    // Captured at the server: frames the ring sends with PACKET_QDISC_BYPASS bypass the
    // packet taps of the gateway's own interfaces (as AF_XDP's do).
    let cap = Capture::start(&net.server, "eth0", &dir.join("server-eth0.pcapng"));
    let mut fwd = net.start_fwd(&dir.join("bng-fwd.log"), &["--afpacket-io", io]);
    let ping_out = net.ping(&fwd);
    let file = cap.finish();
    fwd.stop();
    let log = fwd.log();
    let want = if io == "ring" {
        "AF_PACKET TPACKET_V3 rings"
    } else {
        "plain AF_PACKET"
    };
    assert_eq!(
        log.lines().filter(|l| l.ends_with(want)).count(),
        2,
        "both ports on the {io} path:\n{log}"
    );
    assert_pings_forwarded(&log, &file, |p| p.contains("icmp"));
    eprintln!("{t}: {ping_out}\n{log}");
}

/// A 60-byte frame of the local experimental ethertype 0x88b5 numbered `i`.
fn numbered(dst: [u8; 6], src: [u8; 6], i: u16) -> Vec<u8> {
    let mut f = vec![0x5a; 60];
    f[..6].copy_from_slice(&dst);
    f[6..12].copy_from_slice(&src);
    f[12..14].copy_from_slice(&[0x88, 0xb5]);
    f[14..16].copy_from_slice(&i.to_be_bytes());
    f
}

/// The TPACKET_V3 backend alone: 2000 frames from a plain AF_PACKET peer arrive through
/// `rx_burst` (several RX blocks) in order and intact; 2000 frames given to `tx_burst`
/// in frames of 100 (what the peer's socket buffer holds) arrive at the peer in order and intact (the TX ring of 1024 frames
/// wraps around); nothing is dropped anywhere and every buffer returns to the pool.
#[test]
fn tpacket_v3_backend_bursts_on_veth() {
    const T: &str = "tpacket_v3_backend_bursts_on_veth";
    const N: u16 = 2000;
    if !require(T, &["ip", "sysctl"]) {
        return;
    }
    let (a, _b, peer) = veth_with_peer("ta", "t0", "tb", "u0");
    let stats = a.run_in(move || {
        // small blocks so that 2000 frames span many of them
        let cfg = RingConfig {
            rx_block_size: 1 << 14,
            rx_blocks: 64,
            ..RingConfig::default()
        };
        let mut ring = RingSocket::open("t0", &cfg).expect("TPACKET_V3 rings on t0");
        let (us, them) = (ring.mac(), peer.mac());
        let mut arena = Arena::new(512);
        let mut pool = arena.pool();

        let sent: Vec<Vec<u8>> = (0..N).map(|i| numbered(us, them, i)).collect();
        for f in &sent {
            peer.send(f).unwrap();
        }
        let mut got = Vec::new();
        let mut rx = new_frame();
        let deadline = Instant::now() + Duration::from_secs(20);
        while got.len() < sent.len() && Instant::now() < deadline {
            if ring.rx_burst(&mut pool, &mut rx) == 0 {
                let _ = tpacket::wait_fds(
                    &[std::os::fd::AsFd::as_fd(&ring)],
                    Duration::from_millis(50),
                );
            }
            got.extend(rx.iter().map(|p| p.data().to_vec()));
            pool.free_all(&mut rx);
        }
        assert_eq!(got.len(), sent.len(), "ring RX count");
        assert!(got == sent, "ring RX frames differ");

        let out: Vec<Vec<u8>> = (0..N).map(|i| numbered(them, us, i)).collect();
        let mut seen = Vec::new();
        let mut buf = [0u8; 2048];
        for chunk in out.chunks(100) {
            let mut tx = new_frame();
            for f in chunk {
                tx.push(pool.alloc_from(f).unwrap());
            }
            assert_eq!(ring.tx_burst(&mut pool, &mut tx), chunk.len(), "TX");
            assert!(tx.is_empty());
            let want = seen.len() + chunk.len();
            while seen.len() < want {
                match peer.recv(&mut buf, Duration::from_secs(5)).unwrap() {
                    Some(n) => seen.push(buf[..n].to_vec()),
                    None => break,
                }
            }
        }
        assert_eq!(seen.len(), out.len(), "peer RX count");
        assert!(seen == out, "frames at the peer differ");
        assert_eq!(pool.available(), pool.capacity(), "buffers leaked");
        ring.stats()
    });
    assert_eq!(
        (stats.rx, stats.tx, stats.tx_dropped, stats.rx_dropped),
        (u64::from(N), u64::from(N), 0, 0),
        "{stats:?}"
    );
    assert_eq!(stats.kernel_drops, 0, "{stats:?}");
    assert!(stats.rx_blocks >= 2, "several RX blocks: {stats:?}");
    eprintln!("{T}: {stats:?}");
}

/// A port asked for rings on an interface that cannot have them falls back to the plain
/// socket and says why; asked for the plain path, it says nothing.
#[test]
fn af_packet_port_falls_back_to_the_plain_socket() {
    const T: &str = "af_packet_port_falls_back_to_the_plain_socket";
    if !require(T, &["ip"]) {
        return;
    }
    let ns = Netns::new("tf");
    ns.ip(&["link", "set", "lo", "up"]);
    let (ring, plain, forced) = ns.run_in(|| {
        let ok = Port::open("lo", Some(&RingConfig::default())).unwrap();
        // 6 KiB blocks pass our checks but are not page-aligned: the kernel refuses
        // PACKET_RX_RING with EINVAL
        let huge = RingConfig {
            rx_block_size: 6144,
            ..RingConfig::default()
        };
        let fb = Port::open("lo", Some(&huge)).unwrap();
        let forced = Port::open("lo", None).unwrap();
        (ok.is_ring(), fb, forced)
    });
    assert!(ring, "rings on lo");
    match plain {
        Port::Plain(_, why) => assert!(why.contains("PACKET_RX_RING"), "{why}"),
        other => panic!("expected the fallback, got {other:?}"),
    }
    match forced {
        Port::Plain(_, why) => assert!(why.is_empty(), "{why}"),
        other => panic!("expected the plain socket, got {other:?}"),
    }
}

/// Frames in = frames out through `bng-fwd` over the TPACKET_V3 rings: trafgen in the
/// client sends 20 000 64-byte UDP frames (1024 flows, paced at ~50k pps, a bounded
/// count) to the server through the graph; the server (dropping them at nftables
/// ingress) counts exactly 20 000 more frames, and bng-fwd's ring counters agree.
#[test]
fn tpacket_v3_forwards_a_trafgen_burst_without_loss() {
    const T: &str = "tpacket_v3_forwards_a_trafgen_burst_without_loss";
    const N: u64 = 20_000;
    if !require(T, &["ip", "ping", "trafgen", "nft"]) {
        return;
    }
    let dir = workdir(T);
    let net = Routed::new();
    let mut fwd = net.start_fwd(&dir.join("bng-fwd.log"), &["--afpacket-io", "ring"]);
    let _ = net.ping(&fwd);
    let nft = dir.join("sink.nft");
    std::fs::write(
        &nft,
        "table netdev sink {\n chain in { type filter hook ingress device \"eth0\" priority 0; udp dport 9 counter drop; }\n}\n",
    )
    .unwrap();
    net.server.exec(&["nft", "-f", nft.to_str().unwrap()]);
    let gw_mac = String::from_utf8_lossy(&net.gw.ip(&["-br", "link", "show", "p0"]).stdout)
        .split_whitespace()
        .nth(2)
        .unwrap()
        .to_owned();
    let conf = dir.join("udp64.trafgen");
    std::fs::write(
        &conf,
        format!(
            "{{ eth(da={gw_mac}, sa=02:00:00:00:01:02), ipv4(sa=10.0.1.2, da=10.0.2.2, ttl=64), udp(sp=dinc(1024, 2047), dp=9), fill(0x00, 18) }}\n"
        ),
    )
    .unwrap();
    let before = rx_packets(&net.server, "eth0");
    let tg = net
        .client
        .command(&[
            "timeout",
            "60",
            "trafgen",
            "-o",
            "eth0",
            "-i",
            conf.to_str().unwrap(),
            "-n",
            &N.to_string(),
            "-t",
            "20us",
            "--cpus",
            "1",
            "--no-sock-mem",
        ])
        .output()
        .unwrap();
    assert!(tg.status.success(), "trafgen: {}", common::text(&tg));
    // the sink's nftables counter sees exactly the trafgen frames
    let sink = || {
        let o = net.server.exec(&["nft", "list", "table", "netdev", "sink"]);
        let t = String::from_utf8_lossy(&o.stdout).into_owned();
        t.split_once("counter packets ")
            .and_then(|(_, r)| r.split_whitespace().next()?.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let mut got = 0;
    let _ = bng_testkit::netns::wait_for(Duration::from_secs(20), "the burst to arrive", || {
        got = sink();
        got >= N
    });
    let seen = rx_packets(&net.server, "eth0") - before;
    assert!(seen >= N, "server eth0 RX {seen}");
    fwd.stop();
    let log = fwd.log();
    assert_eq!(got, N, "frames at the server\n{log}");
    let rewritten = fwd_counter(&log, "ip4-rewrite next.interface-output");
    assert!(rewritten >= N, "ip4-rewrite {rewritten}\n{log}");
    let ring1 = log.lines().find(|l| l.starts_with("ring1 ")).unwrap_or("");
    assert!(ring1.contains("tx_dropped: 0,"), "{ring1}");
    eprintln!(
        "{T}: {N} in, {got} out\n{}",
        log.lines()
            .filter(|l| l.starts_with("ring"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}
