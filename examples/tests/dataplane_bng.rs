//! The `Bng` subscriber graph forwards real traffic: `bng-dp` (one worker, the IPoE
//! subscriber provisioned through the control API, NAT44 into 203.0.113.0/30) in a
//! middle namespace between a client namespace (the subscriber, 100.64.0.2) and a server
//! namespace (198.51.100.2), over AF_PACKET (TPACKET_V3) and over AF_XDP. ping and
//! iperf3 (`-t 3`) pass; the server sees only the pool address; tshark flags nothing on
//! the client's and the server's links.

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

const CLIENT_MAC: &str = "02:00:00:00:01:02";
const SERVER_MAC: &str = "02:00:00:00:02:02";

#[test]
fn ipoe_nat44_ping_and_iperf3_over_af_packet() {
    run("ipoe_nat44_ping_and_iperf3_over_af_packet", "afpacket");
}

#[test]
fn ipoe_nat44_ping_and_iperf3_over_af_xdp() {
    run("ipoe_nat44_ping_and_iperf3_over_af_xdp", "afxdp");
}

fn run(t: &'static str, backend: &str) {
    if !require(t, &["ip", "ping", "tshark", "iperf3", "ethtool", "sysctl"]) {
        return;
    }
    let dir = workdir(t);
    let (client, gw, server) = (Netns::new("dbc"), Netns::new("dbg"), Netns::new("dbs"));
    veth(&client, "eth0", &gw, "p0");
    veth(&gw, "p1", &server, "eth0");
    client.ip(&["link", "set", "eth0", "address", CLIENT_MAC]);
    server.ip(&["link", "set", "eth0", "address", SERVER_MAC]);
    client.ip(&["addr", "add", "100.64.0.2/24", "dev", "eth0"]);
    client.ip(&["route", "add", "default", "via", "100.64.0.1"]);
    server.ip(&["addr", "add", "198.51.100.2/24", "dev", "eth0"]);
    server.ip(&["route", "add", "203.0.113.0/30", "via", "198.51.100.1"]);
    // full checksums and no offload segments: the graph sees what the wire would carry
    for (ns, dev) in [
        (&client, "eth0"),
        (&server, "eth0"),
        (&gw, "p0"),
        (&gw, "p1"),
    ] {
        ns.exec(&[
            "ethtool", "-K", dev, "tx", "off", "tso", "off", "gso", "off", "gro", "off",
        ]);
        no_ipv6(ns, dev);
    }
    let cap_c = Capture::start(&client, "eth0", &dir.join("client-eth0.pcapng"));
    let cap_s = Capture::start(&server, "eth0", &dir.join("server-eth0.pcapng"));
    let mut dp = gw.spawn(
        "bng-dp",
        &[
            env!("CARGO_BIN_EXE_bng-dp"),
            "--backend",
            backend,
            "--access",
            "p0=100.64.0.1",
            "--upstream",
            "p1=198.51.100.1",
            "--route",
            &format!("0.0.0.0/0={SERVER_MAC}"),
            "--nat",
            "203.0.113.0/4",
            "--ipoe",
            &format!("{CLIENT_MAC},100.64.0.2"),
            "--seconds",
            "60",
        ],
        &dir.join("bng-dp.log"),
    );
    wait_log(&dp, 15, "bng-dp to start", "bng-dp: forwarding");
    let ping = client
        .command(&["ping", "-c", "5", "-i", "0.2", "-W", "2", "198.51.100.2"])
        .output()
        .unwrap();
    let out = text(&ping);
    assert!(
        ping.status.success() && out.contains(" 0% packet loss"),
        "ping through bng-dp: {out}\n{}",
        dp.log()
    );
    let mut srv = iperf::server(&server, "198.51.100.2", &dir.join("iperf3-server.log"));
    // random payload sometimes looks like TPKT/Q.931 to tshark's heuristic dissectors,
    // which then flag the kernel's own segments as malformed
    let o = iperf::client(&client, "198.51.100.2", &["--repeating-payload"]);
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
        !srv_log.contains("100.64.0.2"),
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
        fwd_counter(&log, "arp-input next.interface-output") >= 2,
        "ARP answered on both sides:\n{log}"
    );
    let dc = assert_clean_capture(&fc);
    let ds = assert_clean_capture(&fs);
    assert!(dc.frames > 100 && ds.frames > 100);
    eprintln!("{t}: iperf3 through bng-dp ({backend}, IPoE, NAT44): {rate} Mbit/s\n{out}\n{log}");
}
