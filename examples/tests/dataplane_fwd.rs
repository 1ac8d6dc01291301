//! The dataplane forwards real traffic between real Linux hosts: a client namespace and
//! a server namespace (the kernel's own IP stacks, ping) joined through `bng-fwd` (the
//! node graph over AF_PACKET) in a middle namespace whose kernel has no addresses, so
//! only our graph answers ARP and forwards. tshark decodes what we sent without a
//! malformed flag.

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
use common::{Routed, assert_clean_capture, fwd_counter};

#[test]
fn ping_through_the_graph_over_af_packet() {
    const T: &str = "ping_through_the_graph_over_af_packet";
    if !require(T, &["ip", "ping", "tshark"]) {
        return;
    }
    let dir = workdir(T);
    let net = Routed::new();
    let cap = Capture::start(&net.gw, "p1", &dir.join("p1.pcapng"));
    let mut fwd = net.start_fwd(&dir.join("bng-fwd.log"), &[]);
    let ping_out = net.ping(&fwd);
    let file = cap.finish();
    fwd.stop();
    let log = fwd.log();
    assert!(
        fwd_counter(&log, "ip4-rewrite next.interface-output") >= 10,
        "5 requests + 5 replies forwarded:\n{log}"
    );
    assert!(
        fwd_counter(&log, "arp-input next.interface-output") >= 2,
        "ARP answered on both sides:\n{log}"
    );
    let d = assert_clean_capture(&file);
    let icmp = d.protocols.iter().filter(|p| p.contains("icmp")).count();
    assert!(
        icmp >= 10,
        "tshark saw {icmp} ICMP frames: {:?}",
        d.protocols
    );
    eprintln!("{T}: {ping_out}\n{log}");
}
