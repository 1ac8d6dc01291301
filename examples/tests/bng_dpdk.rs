//! Interop, whole gateway over DPDK (built with `--features dpdk`): busybox udhcpc in a
//! client namespace gets a lease from the `bng` binary running `backend = "dpdk"` (EAL
//! without hugepages, `net_af_packet` vdevs on its two veths, as in
//! `dataplane_dpdk.rs`), and pings the server through bng and NAT44; the server sees
//! only the NAT address and tshark flags nothing on either link.
//!
//! Run by `.ci/test-all`: `cargo test -p bng-examples --features dpdk --test bng_dpdk`.
//!
//! ```text
//! client [veth0] -- [acc] bng (DPDK: net_af_packet0/1) [up0] -- [up1 192.0.2.254] server
//! ```

#![cfg(feature = "dpdk")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::std_instead_of_core,
    reason = "tests"
)]

use bng_testkit::netns::{Capture, Netns, require, veth, workdir};

mod common;
use common::bng::{NAT_ADDR, SERVER};
use common::dhcp_clients::{UDHCPC_ROUTED_HOOK, spawn_udhcpc, wait_udhcpc_lease};
use common::{assert_clean_capture, text, write_exec};

#[test]
fn bng_ipoe_lease_and_ping_over_dpdk() {
    let test = "bng_ipoe_lease_and_ping_over_dpdk";
    if !require(test, &["ip", "ping", "tshark", "udhcpc", "ethtool"]) {
        return;
    }
    let dir = workdir(test);
    let hook = dir.join("hook.sh");
    write_exec(&hook, UDHCPC_ROUTED_HOOK);
    let g = Netns::new("bdpg");
    let c = Netns::new("bdpc");
    let srv = Netns::new("bdps");
    veth(&g, "acc", &c, "veth0");
    veth(&g, "up0", &srv, "up1");
    for ns in [&g, &c, &srv] {
        ns.exec(&["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"]);
        ns.exec(&["sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1"]);
    }
    for (ns, dev) in [(&g, "acc"), (&g, "up0"), (&c, "veth0"), (&srv, "up1")] {
        common::bng::offloads_off(ns, dev);
    }
    srv.ip(&["addr", "add", &format!("{SERVER}/24"), "dev", "up1"]);
    srv.ip(&["route", "add", "203.0.113.0/24", "via", "192.0.2.1"]);
    // a file prefix of our own: EAL runtime files of concurrent DPDK processes differ
    let eal = format!(
        "[dpdk]\neal = \"--no-huge -m 512 --no-pci --file-prefix={} --log-level=lib.eal:warning \
         --vdev=net_af_packet0,iface=acc --vdev=net_af_packet1,iface=up0\"\nidle_us = 50\n",
        g.name()
    );
    let cfg = common::bng::ipoe_config(
        &dir,
        ["net_af_packet0", "net_af_packet1"],
        "dpdk",
        "",
        "100.65.0.1",
        &eal,
    );
    let acc_cap = Capture::start(&c, "veth0", &dir.join("client.pcapng"));
    let up_cap = Capture::start(&srv, "up1", &dir.join("up1.pcapng"));
    let mut bng = common::bng::start(&g, &cfg, &dir, &[]);
    let ud = spawn_udhcpc(&c, &dir.join("udhcpc.log"), &hook, "2", &[]);
    wait_udhcpc_lease(&ud, 30, "udhcpc lease over DPDK", &bng);
    let o = c
        .command(&["ping", "-c", "5", "-i", "0.2", "-W", "2", SERVER])
        .output()
        .unwrap();
    let ping = text(&o);
    drop(ud);
    bng.stop();
    let log = bng.log();
    eprintln!("{ping}\nbng:\n{log}");
    assert!(log.contains("ports open (dpdk, DPDK 22."), "{log}");
    // the DPDK vdevs drop now and then under load (a functional path): most echoes back
    let got: usize = ping
        .lines()
        .find_map(|l| {
            l.split(", ")
                .find_map(|f| f.strip_suffix(" received"))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0);
    assert!(got >= 3, "ping over DPDK: {ping}");
    let up = up_cap.finish();
    let n = common::bng::count(&up, &format!("icmp.type == 8 && ip.src == {NAT_ADDR}"));
    assert!(n >= 3, "the server saw {n} echo requests from {NAT_ADDR}");
    assert_eq!(common::bng::count(&up, "ip.src == 100.65.0.0/24"), 0);
    for f in [&acc_cap.finish(), &up] {
        assert_clean_capture(f);
    }
}
