//! The DPDK backend forwards real traffic between real Linux hosts (built with
//! `--features dpdk`): a client namespace and a server namespace (the kernel's own IP
//! stacks, ping) joined through `bng-fwd --backend dpdk` in a middle namespace whose
//! kernel has no addresses. DPDK's EAL runs without hugepages (`--no-huge`) and reaches
//! the veth ports through its `net_af_packet` vdevs (and, in the second test,
//! `net_af_xdp`), as in `../shared/lab/dpdk.sh`. tshark decodes what we sent (captured
//! at the server) without a malformed flag.
//!
//! Run by `.ci/test-all`: `cargo test -p bng-examples --features dpdk --test dataplane_dpdk`.

#![cfg(feature = "dpdk")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::std_instead_of_core,
    reason = "tests"
)]

mod common;

use bng_testkit::netns::{Capture, require, workdir};
use common::{Routed, assert_pings_forwarded};

fn ping_over_dpdk(t: &'static str, vdev: &str) {
    if !require(t, &["ip", "ping", "tshark"]) {
        return;
    }
    let dir = workdir(t);
    let net = Routed::new();
    let cap = Capture::start(&net.server, "eth0", &dir.join("server-eth0.pcapng"));
    // a file prefix of our own: EAL runtime files of concurrent DPDK processes differ
    let eal = format!(
        "--no-huge -m 512 --no-pci --file-prefix={} --log-level=lib.eal:warning \
         --vdev={vdev}0,iface=p0 --vdev={vdev}1,iface=p1",
        net.gw.name()
    );
    let p0 = format!("{vdev}0=10.0.1.1");
    let p1 = format!("{vdev}1=10.0.2.1");
    let args = [
        env!("CARGO_BIN_EXE_bng-fwd"),
        "--backend",
        "dpdk",
        "--dpdk-eal",
        &eal,
        "--port",
        &p0,
        "--port",
        &p1,
        "--route",
        "10.0.1.0/24=0,02:00:00:00:01:02",
        "--route",
        "10.0.2.0/24=1,02:00:00:00:02:02",
        "--seconds",
        "60",
    ];
    let log = dir.join("bng-fwd.log");
    let mut fwd = net.gw.spawn("bng-fwd", &args, &log);
    common::wait_log(&fwd, 30, "bng-fwd (DPDK) to start", "forwarding on 2 ports");
    let ping_out = net.ping(&fwd);
    let file = cap.finish();
    fwd.stop();
    let log = fwd.log();
    assert!(log.contains("DPDK 22."), "DPDK version printed:\n{log}");
    assert_pings_forwarded(&log, &file, |p| p.ends_with(":ip:icmp:data"));
    eprintln!("{t}: {ping_out}\n{log}");
}

#[test]
fn ping_through_the_graph_over_dpdk_af_packet() {
    ping_over_dpdk(
        "ping_through_the_graph_over_dpdk_af_packet",
        "net_af_packet",
    );
}

#[test]
fn ping_through_the_graph_over_dpdk_af_xdp() {
    ping_over_dpdk("ping_through_the_graph_over_dpdk_af_xdp", "net_af_xdp");
}
