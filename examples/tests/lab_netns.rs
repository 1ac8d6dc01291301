//! `lab --netns` with a small N: 50 simulated PPPoE subscribers (our discovery client and
//! PPP host machines, CHAP-MD5) and 50 IPoE subscribers (our DHCPv4 client machine), all
//! on one AF_PACKET socket in a veth namespace, against the real `bng` binary (AF_PACKET
//! backend, local users file, NAT44) and a UDP echo server: every subscriber comes up,
//! every datagram is echoed back through NAT44, no failures.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::cast_precision_loss,
    reason = "tests"
)]

use core::time::Duration;

use bng_examples::lab::Status;
use bng_examples::lab_netns::{NetnsOptions, run};
use bng_testkit::netns::{require, workdir};

#[test]
fn lab_netns_50_ipoe_subscribers_through_bng_and_nat44() {
    if !require("lab_netns", &["ip", "sysctl"]) {
        return;
    }
    let opt = NetnsOptions {
        pppoe: 50,
        ipoe: 50,
        packets: 4,
        bng: env!("CARGO_BIN_EXE_bng").into(),
        backend: "afpacket".into(),
        dir: workdir(&format!("lab_netns-{}", std::process::id())),
        load_packets: 20_000,
        load_time: Duration::from_secs(2),
        kernel: false,
    };
    let mut last = 0;
    let r = run(&opt, &mut |st: &Status| {
        if st.up != last {
            eprintln!(
                "lab --netns: {}/{} up at {:.2} s",
                st.up,
                st.total,
                st.time.as_secs_f64()
            );
            last = st.up;
        }
    })
    .unwrap();
    let log = std::fs::read_to_string(opt.dir.join("bng.log")).unwrap_or_default();
    eprintln!(
        "lab --netns: {} PPPoE up in {:.3} s ({:.0} sessions/s over veth)",
        r.sessions_up,
        r.setup_wall.as_secs_f64(),
        r.setup_rate()
    );
    eprintln!(
        "lab --netns: {} IPoE up in {:.3} s ({:.0} sessions/s over veth), {} sent, {} echoed in {:.3} s",
        r.ipoe_up,
        r.ipoe_setup_wall.as_secs_f64(),
        r.ipoe_setup_rate(),
        r.sent,
        r.received,
        r.forward_wall.as_secs_f64()
    );
    assert_eq!(r.sessions_up, 50, "bng:\n{log}");
    assert_eq!(r.ipoe_up, 50, "bng:\n{log}");
    assert_eq!(r.sent, 400);
    assert_eq!(r.ipoe_sent, 200);
    assert_eq!(r.received, 400, "bng:\n{log}");
    assert_eq!(r.failures, 0);
    assert!(r.setup_wall < Duration::from_secs(30));
    assert!(r.ipoe_setup_wall < Duration::from_secs(30));
    // the bounded forwarding-load phase: most of it reaches the server through bng
    let l = &r.load[0];
    eprintln!(
        "lab --netns: load {}: offered {} in {:.2} s, {} at the server ({:.0} pps)",
        l.path,
        l.offered,
        l.wall.as_secs_f64(),
        l.forwarded,
        l.forwarded_pps()
    );
    assert!(l.offered > 0 && l.offered <= 20_000);
    assert!(l.forwarded > 0, "bng:\n{log}");
}
