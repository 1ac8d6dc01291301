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

use std::time::Duration;

use bng_testkit::netns::{Capture, Netns, require, tshark_decode, veth, wait_for, workdir};

#[test]
fn ping_through_the_graph_over_af_packet() {
    const T: &str = "ping_through_the_graph_over_af_packet";
    if !require(T, &["ip", "ping", "tshark"]) {
        return;
    }
    let dir = workdir(T);
    let (client, gw, server) = (Netns::new("cl"), Netns::new("gw"), Netns::new("sv"));
    veth(&client, "eth0", &gw, "p0");
    veth(&gw, "p1", &server, "eth0");
    client.ip(&["link", "set", "eth0", "address", "02:00:00:00:01:02"]);
    server.ip(&["link", "set", "eth0", "address", "02:00:00:00:02:02"]);
    client.ip(&["addr", "add", "10.0.1.2/24", "dev", "eth0"]);
    client.ip(&["route", "add", "default", "via", "10.0.1.1"]);
    server.ip(&["addr", "add", "10.0.2.2/24", "dev", "eth0"]);
    server.ip(&["route", "add", "default", "via", "10.0.2.1"]);
    for (ns, dev) in [(&gw, "p0"), (&gw, "p1")] {
        ns.exec(&[
            "sysctl",
            "-qw",
            &format!("net.ipv6.conf.{dev}.disable_ipv6=1"),
        ]);
    }

    let cap = Capture::start(&gw, "p1", &dir.join("p1.pcapng"));
    let mut fwd = gw.spawn(
        "bng-fwd",
        &[
            env!("CARGO_BIN_EXE_bng-fwd"),
            "--port",
            "p0=10.0.1.1",
            "--port",
            "p1=10.0.2.1",
            "--route",
            "10.0.1.0/24=0,02:00:00:00:01:02",
            "--route",
            "10.0.2.0/24=1,02:00:00:00:02:02",
            "--seconds",
            "60",
        ],
        &dir.join("bng-fwd.log"),
    );
    assert!(
        wait_for(Duration::from_secs(10), "bng-fwd to start", || fwd
            .log()
            .contains("forwarding on 2 ports")),
        "{}",
        fwd.log()
    );

    let ping = client
        .command(&["ping", "-c", "5", "-i", "0.2", "-W", "2", "10.0.2.2"])
        .output()
        .unwrap();
    let ping_out = String::from_utf8_lossy(&ping.stdout).into_owned();
    let file = cap.finish();
    fwd.stop();
    let log = fwd.log();
    assert!(
        ping.status.success(),
        "ping through bng-fwd failed:\n{ping_out}\nbng-fwd:\n{log}"
    );
    assert!(ping_out.contains(" 0% packet loss"), "{ping_out}");
    let count = |name: &str| -> u64 {
        log.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok()))
            .unwrap_or(0)
    };
    assert!(
        count("ip4-rewrite next.interface-output") >= 10,
        "5 requests + 5 replies forwarded:\n{log}"
    );
    assert!(
        count("arp-input next.interface-output") >= 2,
        "ARP answered on both sides:\n{log}"
    );

    let d = tshark_decode(&file);
    let icmp = d.protocols.iter().filter(|p| p.contains("icmp")).count();
    assert!(
        icmp >= 10,
        "tshark saw {icmp} ICMP frames: {:?}",
        d.protocols
    );
    assert_eq!(
        d.malformed,
        0,
        "tshark flags malformed frames in {}",
        file.display()
    );
    eprintln!("{T}: {ping_out}\n{log}");
}
