//! Measurements of the `bng` gateway against real clients, `#[ignore]`d (not CI tests;
//! figures in BENCHMARKS.md). Build in release for the figures:
//!
//! ```text
//! cargo test --release -p bng-examples --test bng_scale -- --ignored --nocapture --test-threads 1
//! ```
//!
//! - `bng_ipoe_sessions_per_second_real_clients`: N busybox udhcpc clients (env
//!   `BNG_SCALE_CLIENTS`, default 100; each in its own namespace on a bridge in front of
//!   bng's access port) started together; the time until every one holds a lease, and
//!   bng's own rate from its first to its last `session up`.
//! - `bng_ipoe_forwarding_vs_kernel`: iperf3 (3 s TCP, client to server) through bng
//!   IPoE + NAT44, then through the kernel of the same namespace (forwarding + nftables
//!   masquerade) on the same links, in the same run.
//!
//! ```text
//! c0..cN [veth0] -- [pI] bridge [upl] -- [acc] bng [up0] -- [up1 192.0.2.254] server
//! ```

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::too_many_lines,
    clippy::cast_precision_loss,
    reason = "tests"
)]

use core::time::Duration;
use std::time::Instant;

use bng_testkit::netns::{Netns, Peer, require, veth, wait_for, workdir};

mod common;
use common::bng::SERVER;
use common::dhcp_clients::{UDHCPC_ROUTED_HOOK, spawn_udhcpc, wait_udhcpc_lease};
use common::{iperf, text, write_exec};

/// udhcpc's hook: nothing (the lease alone is counted).
const NOOP_HOOK: &str = "#!/bin/sh\nexit 0\n";

/// The gateway and server namespaces: `acc` (to be linked by the caller) and
/// `up0` -- `up1` with the server's address and its route to the NAT pool.
fn gateway_and_server(tag: &str) -> (Netns, Netns) {
    let g = Netns::new(&format!("{tag}g"));
    let srv = Netns::new(&format!("{tag}s"));
    veth(&g, "up0", &srv, "up1");
    srv.ip(&["addr", "add", &format!("{SERVER}/24"), "dev", "up1"]);
    srv.ip(&["route", "add", "203.0.113.0/24", "via", "192.0.2.1"]);
    (g, srv)
}

/// CPU time `pid` has run so far (`/proc/<pid>/schedstat`, nanoseconds on CPU).
fn cpu(pid: u32) -> Duration {
    std::fs::read_to_string(format!("/proc/{pid}/schedstat"))
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .map_or(Duration::ZERO, Duration::from_nanos)
}

#[test]
#[ignore = "measurement: run by hand (release build), figures in BENCHMARKS.md"]
fn bng_ipoe_sessions_per_second_real_clients() {
    let test = "bng_ipoe_sessions_per_second_real_clients";
    if !require(test, &["ip", "udhcpc"]) {
        return;
    }
    let n: usize = std::env::var("BNG_SCALE_CLIENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100)
        .clamp(1, 1000);
    let dir = workdir(test);
    let hook = dir.join("hook.sh");
    write_exec(&hook, NOOP_HOOK);
    let (g, _srv) = gateway_and_server("bss");
    let sw = Netns::new("bssw");
    veth(&g, "acc", &sw, "upl");
    sw.ip(&["link", "add", "br0", "type", "bridge"]);
    sw.ip(&["link", "set", "br0", "up"]);
    sw.ip(&["link", "set", "upl", "master", "br0"]);
    for ns in [&g, &sw] {
        ns.exec(&["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"]);
        ns.exec(&["sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1"]);
    }
    let t_setup = Instant::now();
    let cs: Vec<Netns> = (0..n)
        .map(|i| {
            let c = Netns::new(&format!("bss{i}"));
            c.exec(&["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"]);
            c.exec(&["sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1"]);
            let p = format!("p{i}");
            veth(&sw, &p, &c, "veth0");
            sw.ip(&["link", "set", &p, "master", "br0"]);
            c
        })
        .collect();
    eprintln!(
        "{n} client namespaces in {:.1} s",
        t_setup.elapsed().as_secs_f64()
    );
    let cfg = common::bng::ipoe_config(&dir, ["acc", "up0"], "afpacket", "", "100.65.0.1", "");
    let mut bng = common::bng::start(&g, &cfg, &dir, &[]);
    let cpu0 = cpu(bng.pid());
    let t0 = Instant::now();
    let clients: Vec<Peer> = cs
        .iter()
        .enumerate()
        .map(|(i, c)| spawn_udhcpc(c, &dir.join(format!("udhcpc{i}.log")), &hook, "2", &[]))
        .collect();
    let spawned = t0.elapsed();
    let all = wait_for(Duration::from_secs(90), "every client leased", || {
        clients.iter().all(|c| c.log().contains("obtained"))
    });
    let elapsed = t0.elapsed();
    let bng_cpu = cpu(bng.pid()).saturating_sub(cpu0);
    let leased = clients
        .iter()
        .filter(|c| c.log().contains("obtained"))
        .count();
    drop(clients);
    bng.stop();
    let log = bng.log();
    let ups = common::bng::session_up_times(&log);
    let span = ups.last().zip(ups.first()).map_or(0.0, |(l, f)| l - f);
    let release = common::bng::PROFILE;
    // bng's loop naps in poll(2) when idle, so its CPU time is the work of the sessions
    // (DISCOVER/OFFER/REQUEST/ACK, the registry, accounting log, plane binding, ARP)
    eprintln!(
        "bng ({release}) IPoE: {leased}/{n} udhcpc leased in {:.2} s from the first start \
         (spawning took {:.2} s): {:.0} sessions/s; bng: {} sessions up, first to last in \
         {span:.2} s = {:.0} sessions/s; bng CPU {:.1} ms = {:.0} µs per session ({:.0} \
         sessions per CPU second)",
        elapsed.as_secs_f64(),
        spawned.as_secs_f64(),
        leased as f64 / elapsed.as_secs_f64(),
        ups.len(),
        if span > 0.0 {
            (ups.len().saturating_sub(1)) as f64 / span
        } else {
            f64::NAN
        },
        bng_cpu.as_secs_f64() * 1e3,
        bng_cpu.as_secs_f64() * 1e6 / n as f64,
        n as f64 / bng_cpu.as_secs_f64()
    );
    assert!(all, "{leased}/{n} leased\nbng: {log}");
    assert_eq!(ups.len(), n, "{log}");
}

#[test]
#[ignore = "measurement: run by hand (release build), figures in BENCHMARKS.md"]
fn bng_ipoe_forwarding_vs_kernel() {
    let test = "bng_ipoe_forwarding_vs_kernel";
    if !require(test, &["ip", "udhcpc", "iperf3", "nft", "ethtool"]) {
        return;
    }
    let dir = workdir(test);
    let hook = dir.join("hook.sh");
    write_exec(&hook, UDHCPC_ROUTED_HOOK);
    let (g, srv) = gateway_and_server("bsf");
    let client = Netns::new("bsfc");
    veth(&g, "acc", &client, "veth0");
    for ns in [&g, &client, &srv] {
        ns.exec(&["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"]);
        ns.exec(&["sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1"]);
    }
    for (ns, dev) in [(&g, "acc"), (&g, "up0"), (&client, "veth0"), (&srv, "up1")] {
        common::bng::offloads_off(ns, dev);
    }
    let cfg = common::bng::ipoe_config(&dir, ["acc", "up0"], "afpacket", "", "100.65.0.1", "");
    let mut bng = common::bng::start(&g, &cfg, &dir, &[]);
    let ud = spawn_udhcpc(&client, &dir.join("udhcpc.log"), &hook, "2", &[]);
    wait_udhcpc_lease(&ud, 30, "udhcpc lease", &bng);
    let mut server = iperf::server(&srv, SERVER, &dir.join("iperf3-bng.log"));
    let through_bng = text(&iperf::client(&client, SERVER, &[]));
    server.stop();
    drop(ud);
    bng.stop();
    common::bng::kernel_masquerade(&g, ["acc", "up0"], "100.65.0.1/16");
    let mut server = iperf::server(&srv, SERVER, &dir.join("iperf3-kernel.log"));
    let through_kernel = text(&iperf::client(&client, SERVER, &[]));
    server.stop();
    let bm = iperf::receiver_mbits(&through_bng);
    let km = iperf::receiver_mbits(&through_kernel);
    let release = common::bng::PROFILE;
    eprintln!("iperf3 through bng ({release}, IPoE + NAT44, AF_PACKET): {bm} Mbit/s");
    eprintln!("iperf3 through the kernel (forwarding + nftables masquerade): {km} Mbit/s");
    if let (Ok(ours), Ok(peer)) = (bm.parse::<f64>(), km.parse::<f64>()) {
        eprintln!("bng/kernel: {:.2}", ours / peer);
    }
    assert!(!bm.is_empty(), "iperf3 through bng: {through_bng}");
    assert!(
        !km.is_empty(),
        "iperf3 through the kernel: {through_kernel}"
    );
}
