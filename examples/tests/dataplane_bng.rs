//! The `Bng` subscriber graph forwards real traffic: `bng-dp` (one worker, the IPoE
//! subscriber provisioned through the control API, NAT44 into 203.0.113.0/30) in a
//! middle namespace between a client namespace (the subscriber, 100.64.0.2) and a server
//! namespace (198.51.100.2), over AF_PACKET (TPACKET_V3) and over AF_XDP. ping and
//! iperf3 (`-t 3`) pass; `ping -t 1` gets bng-dp's ICMP time exceeded from 100.64.0.1;
//! the server sees only the pool address; tshark flags nothing on the client's and the
//! server's links.
//!
//! With `--workers 2`, two subscribers in two client namespaces (bridged onto the access
//! interface: one queue, as a NIC that cannot RSS them gives) whose MACs the placement
//! puts on different workers: each worker forwards and translates its own subscriber
//! (over AF_XDP both claim from one socket's RX ring, over AF_PACKET the kernel's fanout
//! program picks the socket), and the downstream replies reach each worker the same way
//! (by the pool slice of their destination): nothing passes through the steering mesh.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::too_many_lines,
    clippy::std_instead_of_core,
    reason = "tests"
)]

mod common;

use std::time::Duration;

use bng_testkit::netns::{Capture, Netns, require, veth, workdir};
use common::{assert_clean_capture, fwd_counter, iperf, no_ipv6, text, wait_log};

const SERVER_MAC: &str = "02:00:00:00:02:02";

#[test]
fn ipoe_nat44_ping_and_iperf3_over_af_packet() {
    run("ipoe_nat44_ping_and_iperf3_over_af_packet", "afpacket", 1);
}

#[test]
fn ipoe_nat44_ping_and_iperf3_over_af_xdp() {
    run("ipoe_nat44_ping_and_iperf3_over_af_xdp", "afxdp", 1);
}

#[test]
fn two_workers_one_queue_over_af_packet_fanout() {
    run("two_workers_one_queue_over_af_packet_fanout", "afpacket", 2);
}

#[test]
fn two_workers_one_queue_over_af_xdp_claims() {
    run("two_workers_one_queue_over_af_xdp_claims", "afxdp", 2);
}

/// The MAC of subscriber `k` of `workers`: the first of 02:00:00:00:01:02 on that the
/// placement puts on worker `k`.
fn client_mac(k: usize, workers: usize) -> String {
    use bng_dataplane::bng::{steer_hash, worker_of};
    (2u8..=255)
        .map(|last| [2, 0, 0, 0, 1, last])
        .find(|m| workers == 1 || worker_of(steer_hash(*m, 0), workers) == k)
        .map(|m| {
            m.iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(":")
        })
        .unwrap()
}

fn run(t: &'static str, backend: &str, workers: usize) {
    if !require(t, &["ip", "ping", "tshark", "iperf3", "ethtool", "sysctl"]) {
        return;
    }
    let dir = workdir(t);
    let (gw, server) = (Netns::new("dbg"), Netns::new("dbs"));
    let clients: Vec<Netns> = (0..workers).map(|_| Netns::new("dbc")).collect();
    let macs: Vec<String> = (0..workers).map(|k| client_mac(k, workers)).collect();
    let addr = |k: usize| format!("100.64.0.{}", k + 2);
    if workers == 1 {
        veth(&clients[0], "eth0", &gw, "p0");
    } else {
        // the clients on a bridge, and the bridge on p0 through a veth pair
        gw.ip(&["link", "add", "br0", "type", "bridge"]);
        gw.ip(&["link", "add", "p0", "type", "veth", "peer", "name", "pb"]);
        for (k, c) in clients.iter().enumerate() {
            let port = format!("c{k}");
            veth(c, "eth0", &gw, &port);
            gw.ip(&["link", "set", &port, "master", "br0"]);
        }
        gw.ip(&["link", "set", "pb", "master", "br0"]);
        for dev in ["br0", "p0", "pb"] {
            gw.ip(&["link", "set", dev, "up"]);
            no_ipv6(&gw, dev);
        }
    }
    for (k, c) in clients.iter().enumerate() {
        c.ip(&["link", "set", "eth0", "address", &macs[k]]);
        c.ip(&["addr", "add", &format!("{}/24", addr(k)), "dev", "eth0"]);
        c.ip(&["route", "add", "default", "via", "100.64.0.1"]);
    }
    let client = &clients[0];
    veth(&gw, "p1", &server, "eth0");
    server.ip(&["link", "set", "eth0", "address", SERVER_MAC]);
    server.ip(&["addr", "add", "198.51.100.2/24", "dev", "eth0"]);
    server.ip(&["route", "add", "203.0.113.0/30", "via", "198.51.100.1"]);
    // full checksums and no offload segments: the graph sees what the wire would carry
    for (ns, dev) in
        clients
            .iter()
            .map(|c| (c, "eth0"))
            .chain([(&server, "eth0"), (&gw, "p0"), (&gw, "p1")])
    {
        ns.exec(&[
            "ethtool", "-K", dev, "tx", "off", "tso", "off", "gso", "off", "gro", "off",
        ]);
        no_ipv6(ns, dev);
    }
    let cap_c = Capture::start(client, "eth0", &dir.join("client-eth0.pcapng"));
    let cap_s = Capture::start(&server, "eth0", &dir.join("server-eth0.pcapng"));
    let route = format!("0.0.0.0/0={SERVER_MAC}");
    let n = workers.to_string();
    let ipoe: Vec<String> = (0..workers)
        .map(|k| format!("{},{}", macs[k], addr(k)))
        .collect();
    let mut argv = vec![
        env!("CARGO_BIN_EXE_bng-dp"),
        "--backend",
        backend,
        "--workers",
        &n,
        "--access",
        "p0=100.64.0.1",
        "--upstream",
        "p1=198.51.100.1",
        "--route",
        &route,
        "--nat",
        "203.0.113.0/4",
        "--seconds",
        "60",
    ];
    for i in &ipoe {
        argv.extend(["--ipoe", i]);
    }
    let mut dp = gw.spawn("bng-dp", &argv, &dir.join("bng-dp.log"));
    wait_log(&dp, 15, "bng-dp to start", "bng-dp: forwarding");
    let mut out = String::new();
    for c in &clients {
        let ping = c
            .command(&["ping", "-c", "5", "-i", "0.2", "-W", "2", "198.51.100.2"])
            .output()
            .unwrap();
        out = text(&ping);
        assert!(
            ping.status.success() && out.contains(" 0% packet loss"),
            "ping through bng-dp: {out}\n{}",
            dp.log()
        );
    }
    // TTL 1: bng-dp answers with ICMP time exceeded (RFC 1812 section 5.3.1) from its
    // access address, which Linux ping reports
    let o = client
        .command(&["ping", "-c", "1", "-t", "1", "-W", "2", "198.51.100.2"])
        .output()
        .unwrap();
    let ttl1 = text(&o);
    assert!(
        ttl1.contains("From 100.64.0.1") && ttl1.contains("Time to live exceeded"),
        "ping -t 1 through bng-dp: {ttl1}\n{}",
        dp.log()
    );
    let mut srv = iperf::server(&server, "198.51.100.2", &dir.join("iperf3-server.log"));
    // random payload sometimes looks like TPKT/Q.931 to tshark's heuristic dissectors,
    // which then flag the kernel's own segments as malformed
    let o = iperf::client(client, "198.51.100.2", &["--repeating-payload"]);
    let it = text(&o);
    assert!(o.status.success(), "iperf3: {it}\nbng-dp: {}", dp.log());
    let rate = iperf::receiver_mbits(&it);
    std::thread::sleep(Duration::from_millis(300));
    let srv_log = srv.log();
    srv.stop();
    assert!(
        srv_log.contains("connected") && srv_log.contains("203.0.113."),
        "the server sees the pool address: {srv_log}"
    );
    assert!(
        !srv_log.contains("100.64.0."),
        "no inside address upstream: {srv_log}"
    );
    let (fc, fs) = (cap_c.finish(), cap_s.finish());
    dp.stop();
    let log = dp.log();
    assert!(
        fwd_counter(&log, "nat44-in2out next.forward") >= 5,
        "translated upstream:\n{log}"
    );
    assert!(
        fwd_counter(&log, "subscriber-output next.interface-output") >= 5,
        "encapsulated downstream:\n{log}"
    );
    assert!(
        fwd_counter(&log, "icmp-error next.subscriber-output") >= 1,
        "time exceeded sent:\n{log}"
    );
    assert!(
        fwd_counter(&log, "arp-input next.interface-output") >= 2,
        "ARP answered on both sides:\n{log}"
    );
    if workers > 1 {
        // both directions reached their worker at the queue (claims) or from the kernel
        // (fanout): nothing went through the mesh
        for w in 0..workers {
            let line = log
                .lines()
                .find(|l| l.starts_with(&format!("bng-dp: worker {w} rx")))
                .unwrap_or_else(|| panic!("worker {w}'s stats:\n{log}"));
            assert!(line.ends_with("steered_out 0 steered_in 0"), "{line}");
        }
        // each worker translated its own subscriber's traffic and sent the replies
        for w in 0..workers {
            for counter in [
                "nat44-in2out next.forward",
                "subscriber-output next.interface-output",
            ] {
                assert!(
                    fwd_counter(&log, &format!("worker {w} {counter}")) >= 5,
                    "worker {w} {counter}:\n{log}"
                );
            }
        }
    }
    let dc = assert_clean_capture(&fc);
    let ds = assert_clean_capture(&fs);
    assert!(dc.frames > 100 && ds.frames > 100);
    eprintln!("{t}: iperf3 through bng-dp ({backend}, IPoE, NAT44): {rate} Mbit/s\n{out}\n{log}");
}
