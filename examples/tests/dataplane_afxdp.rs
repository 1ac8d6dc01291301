//! The dataplane forwards real traffic between real Linux hosts over AF_XDP: a client
//! namespace and a server namespace (the kernel's own IP stacks, ping) joined through
//! `bng-fwd --backend afxdp` (the node graph over AF_XDP sockets in copy mode on veth,
//! the XDP redirect program loaded with libbpf-rs) in a middle namespace whose kernel
//! has no addresses, so only our graph answers ARP and forwards. Run once with the
//! program in native (driver) mode and once in generic (skb) mode. tshark decodes what
//! we sent without a malformed flag.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::std_instead_of_core,
    clippy::too_many_lines,
    reason = "tests"
)]

use std::time::Duration;

use std::time::Instant;

use bng_dataplane::backend::Backend;
use bng_dataplane::backend::afpacket::Socket;
use bng_dataplane::backend::afxdp::{self, Config, XdpMode, Xsk};
use bng_dataplane::buffer::Arena;
use bng_dataplane::graph::new_frame;
mod common;

use bng_testkit::netns::{Capture, Netns, require, workdir};
use common::{Routed, assert_pings_forwarded, no_ipv6, rx_packets, veth_with_peer};

/// Whether this kernel and build can open an AF_XDP socket with our redirect program:
/// tried on the loopback of a fresh namespace in generic mode. Prints why not (the test
/// then skips: a kernel without `CONFIG_XDP_SOCKETS`/BPF, or a build without the `afxdp`
/// feature).
fn af_xdp_available(test: &str) -> bool {
    let ns = Netns::new("xp");
    let r = ns.run_in(|| {
        let cfg = Config {
            mode: XdpMode::Generic,
            frames: 64,
            ring_size: 32,
            ..Config::default()
        };
        Xsk::open("lo", cfg).map(|_| ()).map_err(|e| e.to_string())
    });
    if let Err(e) = &r {
        bng_testkit::skip_or_fail(test, &format!("no AF_XDP here: {e}"));
    }
    r.is_ok()
}

/// A 60-byte frame of the local experimental ethertype 0x88b5 numbered `i`.
fn numbered(dst: [u8; 6], src: [u8; 6], i: u8) -> Vec<u8> {
    let mut f = vec![i; 60];
    f[..6].copy_from_slice(&dst);
    f[6..12].copy_from_slice(&src);
    f[12..14].copy_from_slice(&[0x88, 0xb5]);
    f
}

/// The backend alone, byte for byte, in both XDP modes: 200 frames from an AF_PACKET peer
/// arrive through `rx_burst` in order and intact, 200 frames given to `tx_burst` arrive at
/// the peer in order and intact, and every buffer returns to the pool. Native mode also
/// with busy polling (`Config::busy_poll`: every `rx_burst` drives the NAPI poll).
#[test]
fn xsk_backend_round_trip_on_veth() {
    const T: &str = "xsk_backend_round_trip_on_veth";
    if !require(T, &["ip", "sysctl"]) || !af_xdp_available(T) {
        return;
    }
    let busy = afxdp::BusyPoll {
        usecs: 20,
        budget: 64,
        prefer: true,
    };
    for (mode, busy_poll) in [
        (XdpMode::Native, None),
        (XdpMode::Generic, None),
        (XdpMode::Native, Some(busy)),
    ] {
        let (a, _b, peer) = veth_with_peer("xa", "x0", "xb", "y0");
        let stats = a.run_in(move || {
            let cfg = Config {
                mode,
                busy_poll,
                ..Config::default()
            };
            let mut xsk = Xsk::open("x0", cfg).unwrap_or_else(|e| panic!("{mode:?}: {e}"));
            assert_eq!(xsk.mode(), mode);
            let (us, them) = (xsk.mac(), peer.mac());
            let mut arena = Arena::new(512);
            let mut pool = arena.pool();

            let sent: Vec<Vec<u8>> = (0..200u8).map(|i| numbered(us, them, i)).collect();
            for f in &sent {
                peer.send(f).unwrap();
            }
            let mut got = Vec::new();
            let mut rx = new_frame();
            let deadline = Instant::now() + Duration::from_secs(20);
            while got.len() < sent.len() && Instant::now() < deadline {
                if xsk.rx_burst(&mut pool, &mut rx) == 0 {
                    let _ = afxdp::wait_any(std::slice::from_ref(&xsk), Duration::from_millis(50));
                }
                got.extend(rx.iter().map(|p| p.data().to_vec()));
                pool.free_all(&mut rx);
            }
            assert_eq!(got.len(), sent.len(), "{mode:?}: XSK RX count");
            assert!(got == sent, "{mode:?}: XSK RX frames differ");

            let out: Vec<Vec<u8>> = (0..200u8).map(|i| numbered(them, us, i)).collect();
            let mut tx = new_frame();
            for f in &out {
                tx.push(pool.alloc_from(f).unwrap());
            }
            assert_eq!(xsk.tx_burst(&mut pool, &mut tx), out.len(), "{mode:?}: TX");
            assert!(tx.is_empty());
            let mut seen = Vec::new();
            let mut buf = [0u8; 2048];
            while seen.len() < out.len() {
                match peer.recv(&mut buf, Duration::from_secs(5)).unwrap() {
                    Some(n) => seen.push(buf[..n].to_vec()),
                    None => break,
                }
            }
            assert_eq!(seen.len(), out.len(), "{mode:?}: peer RX count");
            assert!(seen == out, "{mode:?}: frames at the peer differ");
            assert_eq!(
                pool.available(),
                pool.capacity(),
                "{mode:?}: buffers leaked"
            );
            xsk.stats()
        });
        assert_eq!(
            (stats.rx, stats.tx, stats.tx_dropped),
            (200, 200, 0),
            "{stats:?}"
        );
        // with busy polling every RX burst starts with the recvfrom that polls the NAPI
        assert_eq!(busy_poll.is_some(), stats.rx_wakeups > 0, "{stats:?}");
        assert_eq!(
            stats.rx_dropped + stats.rx_ring_full + stats.tx_invalid,
            0,
            "{stats:?}"
        );
        eprintln!("{T}: {mode:?}: {stats:?}");
    }
}

#[test]
fn ping_through_the_graph_over_af_xdp_native() {
    ping_over_af_xdp("ping_through_the_graph_over_af_xdp_native", "native");
}

#[test]
fn ping_through_the_graph_over_af_xdp_skb() {
    ping_over_af_xdp("ping_through_the_graph_over_af_xdp_skb", "skb");
}

fn ping_over_af_xdp(t: &'static str, mode: &str) {
    if !require(t, &["ip", "ping", "tshark"]) {
        return;
    }
    if !af_xdp_available(t) {
        return;
    }
    let dir = workdir(t);
    let net = Routed::new();
    // Captured at the server: frames an XSK redirects or sends in copy mode bypass the
    // packet taps of the gateway's own interfaces, so tcpdump on p1 sees nothing.
    let cap = Capture::start(&net.server, "eth0", &dir.join("server-eth0.pcapng"));
    let mut fwd = net.start_fwd(
        &dir.join("bng-fwd.log"),
        &["--backend", "afxdp", "--xdp-mode", mode],
    );

    // the redirect program is attached in the requested mode on both ports
    let want = if mode == "skb" {
        " xdpgeneric"
    } else {
        " xdp "
    };
    for dev in ["p0", "p1"] {
        let link =
            String::from_utf8_lossy(&net.gw.ip(&["-d", "link", "show", dev]).stdout).into_owned();
        assert!(link.contains(want), "{dev}: no{want}program:\n{link}");
    }

    let ping_out = net.ping(&fwd);
    let file = cap.finish();
    fwd.stop();
    let log = fwd.log();
    assert_pings_forwarded(&log, &file, |p| p.contains("icmp"));
    eprintln!("{t}: {ping_out}\n{log}");
}

/// A 60-byte IPv4/UDP frame from source port `sport` (different flows hash to different
/// queues of a multi-queue veth).
fn udp_flow(dst: [u8; 6], src: [u8; 6], sport: u16) -> Vec<u8> {
    let mut f = vec![0u8; 60];
    f[..6].copy_from_slice(&dst);
    f[6..12].copy_from_slice(&src);
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    f[14..34].copy_from_slice(&[
        0x45, 0, 0, 46, 0, 0, 0, 0, 64, 17, 0, 0, 10, 9, 0, 2, 10, 9, 0, 1,
    ]);
    f[34..36].copy_from_slice(&sport.to_be_bytes());
    f[36..38].copy_from_slice(&9u16.to_be_bytes());
    f[38..40].copy_from_slice(&26u16.to_be_bytes());
    f
}

/// Multi-queue: a veth with 4 RX queues, one socket per queue behind one redirect
/// program (its XSKMAP keyed by queue id), zero-copy tried first and refused by veth
/// (the reason kept). 512 frames of 512 UDP flows from the peer all arrive, spread over
/// more than one queue's socket, each socket reporting its own queue.
#[test]
fn xsk_one_socket_per_queue_on_multiqueue_veth() {
    const T: &str = "xsk_one_socket_per_queue_on_multiqueue_veth";
    const N: usize = 512;
    if !require(T, &["ip", "sysctl"]) || !af_xdp_available(T) {
        return;
    }
    for mode in [XdpMode::Native, XdpMode::Generic] {
        let (a, b) = (Netns::new("qa"), Netns::new("qb"));
        bng_testkit::netns::run(&[
            "ip",
            "link",
            "add",
            "q0",
            "numtxqueues",
            "4",
            "numrxqueues",
            "4",
            "netns",
            a.name(),
            "type",
            "veth",
            "peer",
            "name",
            "r0",
            "numtxqueues",
            "4",
            "numrxqueues",
            "4",
            "netns",
            b.name(),
        ]);
        for (ns, dev) in [(&a, "q0"), (&b, "r0")] {
            no_ipv6(ns, dev);
            ns.ip(&["link", "set", dev, "up"]);
        }
        let peer = b.run_in(|| Socket::open("r0").expect("AF_PACKET on r0"));
        let per_queue = a.run_in(move || {
            let cfg = Config {
                mode,
                frames: 1024,
                ring_size: 512,
                ..Config::default()
            };
            let mut xsks = Xsk::open_queues("q0", &[0, 1, 2, 3], cfg)
                .unwrap_or_else(|e| panic!("{mode:?}: {e}"));
            for (q, x) in xsks.iter().enumerate() {
                assert_eq!(x.queue() as usize, q);
                let why = x.copy_reason().expect("veth refuses zero-copy");
                assert!(why.contains("XDP_ZEROCOPY"), "{why}");
            }
            eprintln!(
                "{T}: {mode:?}: copy mode because: {:?}",
                xsks[0].copy_reason()
            );
            let (us, them) = (xsks[0].mac(), peer.mac());
            let mut arena = Arena::new(1024);
            let mut pool = arena.pool();
            for i in 0..N {
                peer.send(&udp_flow(us, them, 1024 + u16::try_from(i).unwrap()))
                    .unwrap();
            }
            let mut got = [0usize; 4];
            let mut rx = new_frame();
            let deadline = Instant::now() + Duration::from_secs(20);
            while got.iter().sum::<usize>() < N && Instant::now() < deadline {
                let mut any = 0;
                for (q, x) in xsks.iter_mut().enumerate() {
                    let n = x.rx_burst(&mut pool, &mut rx);
                    got[q] += n;
                    any += n;
                    pool.free_all(&mut rx);
                }
                if any == 0 {
                    let _ = afxdp::wait_any(&xsks, Duration::from_millis(50));
                }
            }
            got
        });
        eprintln!("{T}: {mode:?}: frames per queue {per_queue:?}");
        assert_eq!(
            per_queue.iter().sum::<usize>(),
            N,
            "{mode:?}: {per_queue:?}"
        );
        assert!(
            per_queue.iter().filter(|&&n| n > 0).count() >= 2,
            "{mode:?}: flows spread over queues: {per_queue:?}"
        );
    }
}

/// `bng-fwd --backend afxdp --queues 2` on veths with two queues each way: one worker per
/// queue, each owning that queue's socket on both ports. Ping passes, and 64 UDP flows
/// from the client (hashed over both queues by the client's veth) are forwarded by both
/// workers (each prints its own counters).
#[test]
fn forwarding_with_one_worker_per_af_xdp_queue() {
    const T: &str = "forwarding_with_one_worker_per_af_xdp_queue";
    if !require(T, &["ip", "ping", "bash", "sysctl"]) || !af_xdp_available(T) {
        return;
    }
    let dir = workdir(T);
    let (client, gw, server) = (Netns::new("mc"), Netns::new("mg"), Netns::new("ms"));
    for (na, a, nb, b) in [(&client, "eth0", &gw, "p0"), (&gw, "p1", &server, "eth0")] {
        bng_testkit::netns::run(&[
            "ip",
            "link",
            "add",
            a,
            "numtxqueues",
            "2",
            "numrxqueues",
            "2",
            "netns",
            na.name(),
            "type",
            "veth",
            "peer",
            "name",
            b,
            "numtxqueues",
            "2",
            "numrxqueues",
            "2",
            "netns",
            nb.name(),
        ]);
        na.ip(&["link", "set", a, "up"]);
        nb.ip(&["link", "set", b, "up"]);
    }
    let net = Routed::from_linked(client, gw, server);
    let mut fwd = net.start_fwd(
        &dir.join("bng-fwd.log"),
        &["--backend", "afxdp", "--queues", "2"],
    );
    // one line per worker
    assert!(
        bng_testkit::netns::wait_for(Duration::from_secs(10), "bng-fwd to start", || fwd
            .log()
            .matches("forwarding on 2 ports")
            .count()
            == 2),
        "{}",
        fwd.log()
    );
    let ping = net
        .client
        .command(&["ping", "-c", "3", "-i", "0.2", "-W", "2", "10.0.2.2"])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&ping.stdout).into_owned();
    assert!(out.contains(" 0% packet loss"), "{out}\n{}", fwd.log());
    // 64 UDP flows (the server answers each with an ICMP port unreachable)
    let udp = net
        .client
        .command(&[
            "bash",
            "-c",
            "for p in $(seq 2000 2063); do echo x > /dev/udp/10.0.2.2/$p; done",
        ])
        .output()
        .unwrap();
    assert!(udp.status.success(), "{}", common::text(&udp));
    // bounded wait until the server has seen the 64 datagrams (and the pings)
    let _ = bng_testkit::netns::wait_for(Duration::from_secs(20), "64 datagrams", || {
        rx_packets(&net.server, "eth0") >= 64 + 3
    });
    fwd.stop();
    let log = fwd.log();
    assert_eq!(
        log.matches("AF_XDP, 2 queue(s), copy mode").count(),
        2,
        "{log}"
    );
    for q in ["queue 0", "queue 1"] {
        assert!(log.contains(&format!("xsk0 {q} ")), "worker of {q}:\n{log}");
    }
    let per_worker: Vec<u64> = log
        .lines()
        .filter_map(|l| l.strip_prefix("ip4-rewrite next.interface-output "))
        .map(|v| v.trim().parse().unwrap())
        .collect();
    eprintln!("{T}: ip4-rewrite per worker {per_worker:?}");
    assert_eq!(per_worker.len(), 2, "{log}");
    assert!(
        per_worker.iter().all(|&n| n > 0),
        "both workers forward: {per_worker:?}\n{log}"
    );
    assert!(per_worker.iter().sum::<u64>() >= 6 + 64, "{per_worker:?}");
}

/// Steering at the queue over AF_XDP (`Xsk::into_claims`): a veth has one queue, so
/// every subscriber frame reaches one socket; two workers (threads, each with its own
/// pool) read its RX ring together. Of 2000 PPPoE frames of 400 subscribers each
/// arrives at exactly the worker `access_owner` names (the control plane's
/// placement), intact, none lost, through a 256-entry ring (so every UMEM frame goes
/// back to the kernel several times, once both workers have passed it); both workers
/// then send every frame back through the shared TX ring at the same time, and the
/// peer's interface receives all of them.
#[test]
fn xsk_claims_split_one_queue_between_workers() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use bng_dataplane::backend::claim::{Claim, access_owner};

    const T: &str = "xsk_claims_split_one_queue_between_workers";
    const SUBSCRIBERS: u16 = 400;
    const ROUNDS: u8 = 5;
    if !require(T, &["ip", "sysctl"]) || !af_xdp_available(T) {
        return;
    }
    let total = usize::from(SUBSCRIBERS) * usize::from(ROUNDS);
    let (a, b, peer) = veth_with_peer("xca", "xc0", "xcb", "xd0");
    let peer_rx_before = rx_packets(&b, "xd0");
    let (us, members) = a.run_in(|| {
        // a small ring, so the 2000 frames go round it (and back through the fill
        // ring) about eight times
        let cfg = Config {
            mode: XdpMode::Native,
            frames: 512,
            ring_size: 256,
            ..Config::default()
        };
        let xsk = Xsk::open("xc0", cfg).expect("AF_XDP on xc0");
        let us = xsk.mac();
        (
            us,
            xsk.into_claims(vec![Claim::new(0, 2, &[]), Claim::new(1, 2, &[])])
                .expect("one placement's claims"),
        )
    });
    let them = peer.mac();
    let received = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = members
        .into_iter()
        .enumerate()
        .map(|(w, mut m)| {
            let received = Arc::clone(&received);
            std::thread::spawn(move || {
                let mut arena = Arena::new(4096);
                let mut pool = arena.pool();
                let mut rx = new_frame();
                let mut got = Vec::new();
                let deadline = Instant::now() + Duration::from_secs(20);
                while received.load(Ordering::Acquire) < total && Instant::now() < deadline {
                    let n = m.rx_burst(&mut pool, &mut rx);
                    got.extend(rx.iter().map(|p| p.data().to_vec()));
                    pool.free_all(&mut rx);
                    received.fetch_add(n, Ordering::AcqRel);
                    if n == 0 {
                        std::thread::sleep(Duration::from_micros(200));
                    }
                }
                // every frame back to the peer, both workers at once, a frame at a time
                let mut sent = 0;
                for f in &got {
                    let mut back = f.clone();
                    back[..6].copy_from_slice(&them);
                    back[6..12].copy_from_slice(&us);
                    let mut tx = new_frame();
                    tx.push(pool.alloc_from(&back).unwrap());
                    sent += m.tx_burst(&mut pool, &mut tx);
                }
                assert_eq!(
                    pool.available(),
                    pool.capacity(),
                    "worker {w}: buffers leaked"
                );
                (got, sent, m.stats())
            })
        })
        .collect();
    let frames: Vec<Vec<u8>> = (0..ROUNDS)
        .flat_map(|r| (0..SUBSCRIBERS).map(move |i| common::subscriber_frame(us, i, 3, r)))
        .collect();
    // in steps of 100 (well within the ring), each once the workers have taken the last
    for (k, chunk) in frames.chunks(100).enumerate() {
        for f in chunk {
            peer.send(f).unwrap();
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while received.load(Ordering::Acquire) < (k * 100 + chunk.len()).min(total)
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    let mut all = Vec::new();
    for (w, h) in workers.into_iter().enumerate() {
        let (got, sent, stats) = h.join().unwrap();
        eprintln!(
            "{T}: worker {w}: {} frames, {sent} sent back; {stats:?}",
            got.len()
        );
        assert!(!got.is_empty(), "worker {w} got nothing");
        for f in &got {
            assert_eq!(
                access_owner(f, 2, &[]),
                Some(w),
                "frame {f:02x?} at worker {w}"
            );
        }
        assert_eq!(sent, got.len(), "worker {w}: TX");
        assert_eq!(stats.rx_ring_full + stats.tx_invalid, 0, "{stats:?}");
        all.extend(got);
    }
    assert_eq!(all.len(), total, "every frame once");
    all.sort();
    let mut want = frames.clone();
    want.sort();
    assert!(all == want, "frames differ");
    // the echoes, counted by the peer's interface (its packet socket, not read, may
    // drop some of a burst of 2000)
    let mut echoed = 0;
    let deadline = Instant::now() + Duration::from_secs(10);
    while echoed < total as u64 && Instant::now() < deadline {
        echoed = rx_packets(&b, "xd0") - peer_rx_before;
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(echoed, total as u64, "frames the peer's interface got back");
}
