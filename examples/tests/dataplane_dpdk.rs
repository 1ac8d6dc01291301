//! The DPDK backend forwards real traffic between real Linux hosts (built with
//! `--features dpdk`): a client namespace and a server namespace (the kernel's own IP
//! stacks, ping) joined through `bng-fwd --backend dpdk` in a middle namespace whose
//! kernel has no addresses. DPDK's EAL runs without hugepages (`--no-huge`) and reaches
//! the veth ports through its `net_af_packet` vdevs (and, in the second test,
//! `net_af_xdp`), as in `../shared/lab/dpdk.sh`. tshark decodes what we sent (captured
//! at the server) without a malformed flag, and a burst of 1000 flood pings all come
//! back. Over `net_af_xdp`, the RX mbuf pool must lie inside the UMEM the PMD registers
//! for it and the kernel must reject no descriptor (the session-5 TX loss).
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
    // a burst: 1000 echo requests as fast as replies come (ping -f), bounded by -w
    let flood = net
        .client
        .command(&["ping", "-f", "-c", "1000", "-w", "30", "10.0.2.2"])
        .output()
        .expect("run ping -f");
    let flood = String::from_utf8_lossy(&flood.stdout).into_owned();
    fwd.stop();
    let log = fwd.log();
    assert!(log.contains("DPDK 22."), "DPDK version printed:\n{log}");
    assert_pings_forwarded(&log, &file, |p| p.ends_with(":ip:icmp:data"));
    assert!(
        flood.contains("1000 received"),
        "every request and reply of the burst forwarded:\n{flood}\n{log}"
    );
    if vdev == "net_af_xdp" {
        // the PMD registers the RX pool as the UMEM over populated_size * object size:
        // mbufs past that end were invalid TX descriptors / fill entries to the kernel
        // (session 3's 74-97% TX loss under load); the pool must fit it, and the kernel
        // must have rejected no TX descriptor
        let layouts: Vec<&str> = log.lines().filter(|l| l.contains(" rx pool ")).collect();
        assert_eq!(layouts.len(), 2, "both ports' pool layouts printed:\n{log}");
        for l in layouts {
            assert!(l.ends_with("fits true"), "RX pool inside the UMEM: {l}");
        }
        let xsks: Vec<&str> = log.lines().filter(|l| l.starts_with("dpdk xsk ")).collect();
        assert_eq!(xsks.len(), 2, "one AF_XDP socket per port:\n{log}");
        for l in xsks {
            assert!(
                l.contains("tx_invalid_descs: 0,") && l.contains("rx_invalid_descs: 0,"),
                "no descriptor rejected by the kernel: {l}"
            );
        }
    }
    eprintln!("{t}: {ping_out}\n{flood}\n{log}");
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
