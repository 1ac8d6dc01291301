//! Interop: real DHCP clients behind a real relay agent against the `bng` IPoE control
//! plane (`bng_examples::bng::ipoe::Ipoe` over an AF_PACKET socket, local
//! authorisation): ISC dhclient, busybox udhcpc and dhcpcd (DHCPv4) each on its own
//! port of ISC dhcrelay, which adds option 82 with the port name as circuit-id (RFC
//! 3046); dhclient -6 (IA_NA + IA_PD) behind dhcrelay -6 with Interface-Id (RFC 8415
//! section 19). Each client gets a lease, the gateway keys the session by the
//! circuit-id it saw, relayed replies go back to the relay (port 67 / Relay-reply on
//! 547), a RELEASE ends a session, and tshark decodes every frame on the gateway's link
//! without a malformed flag. Recipe: `../shared/lab/dhcp-relay.sh`.
//!
//! The `bng_ipoe_*` tests run the `bng` binary: NAT44 with direct and relayed clients,
//! IPv6 of a directly attached client (`bng_ipoe_ipv6_forwarding`) and of a client
//! behind dhcrelay -6 (`bng_ipoe_ipv6_relayed`: bng routes its IA_NA address and
//! delegated prefix to the relay it learnt from the Relay-forward).
//!
//! ```text
//! c0 [veth0] -- [d0 10.0.0.1/24]  \
//! c1 [veth0] -- [d1 10.0.1.1/24]   relay [upl 100.65.0.2/24, 2001:db8:ff::2] -- [acc 100.65.0.1/24] gateway
//! c2 [veth0] -- [d2 10.0.2.1/24]  /   dhcrelay -4 (option 82), dhcrelay -6 (Interface-Id)
//! c3 [veth0] -- [d3 2001:db8:10::1/64]
//! ```

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::too_many_lines,
    reason = "tests"
)]

use core::net::Ipv4Addr;
use core::sync::atomic::{AtomicBool, Ordering};
use core::time::Duration;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bng_dataplane::backend::afpacket::Socket;
use bng_examples::bng::ipoe::{Authorization, Ipoe, IpoeConfig, Ipv6Config, Output, Storage};
use bng_examples::net::recv_until;
use bng_testkit::netns::{Capture, Netns, Peer, require, veth, wait_for, workdir};

mod common;
use common::bng::{NAT_ADDR, SERVER};
use common::dhcp_clients::{
    DHCPCD_CONF, Dhcpcd, dhclient_cmd, dhclient_files, dhcpcd, spawn_udhcpc, wait_link_local,
};
use common::{assert_clean_capture, iperf, no_dad, text, write_exec};

/// Client hook (dhclient, udhcpc, dhcpcd): logs, and configures the leased address
/// as a /32 with an on-link default route (the relay answers ARP for the gateway by
/// proxy), so unicast RENEW and RELEASE reach the gateway through the relay.
const HOOK: &str = r#"#!/bin/sh
LOG="$(dirname "$0")/hook.log"
R="${reason:-$1}"
echo "reason=$R ip=${new_ip_address:-${ip:-}}" >> "$LOG"
case "$R" in
  BOUND|RENEW|REBIND|REBOOT) A="${new_ip_address:-}" ;;
  bound|renew) A="${ip:-}" ;;
  *) exit 0 ;;
esac
[ -n "$A" ] && ip addr replace "$A/32" dev "$interface" && ip route replace default dev "$interface"
exit 0
"#;

/// The gateway's control plane on `acc` in its namespace, in a thread, until `stop`.
/// Every output line (session events, frames out) goes to `log`.
fn run_gateway(
    sock: Socket,
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<Vec<String>>>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut cfg = IpoeConfig::new(
            sock.mac(),
            Ipv4Addr::new(100, 65, 0, 1),
            Ipv4Addr::new(100, 64, 0, 10),
            1000,
        );
        cfg.subnet_mask = Ipv4Addr::new(255, 255, 0, 0);
        // T1 at 10 s: dhclient renews (unicast, without option 82) during the test
        cfg.lease_secs = 20;
        cfg.key_by_circuit = true;
        cfg.v6 = Some(Ipv6Config {
            na_first: "2001:db8:10::1000".parse().unwrap(),
            na_count: 1000,
            pd_base: "2001:db8:100::".parse().unwrap(),
            pd_len: 56,
            pd_count: 256,
            preferred_secs: 120,
            valid_secs: 240,
            dns: vec![],
        });
        let storage: &'static mut Storage = Box::leak(Box::new(Storage::new(&cfg)));
        let mut ipoe = Ipoe::new(cfg, storage).unwrap();
        let t0 = Instant::now();
        let mut buf = vec![0u8; 2048];
        let say = |l: String| log.lock().unwrap().push(l);
        while !stop.load(Ordering::Relaxed) {
            let Ok(got) = recv_until(&sock, &mut buf, ipoe.poll_timeout(), t0) else {
                continue;
            };
            let now = t0.elapsed();
            if let Some(n) = got {
                let f = &buf[..n];
                // DHCP only: UDP to 67 (IPv4) or 547 (IPv6); the rest is the kernel's
                let dhcp = match f.get(12..14) {
                    Some([0x08, 0x00]) => f.get(23) == Some(&17) && f.get(36..38) == Some(&[0, 67]),
                    Some([0x86, 0xdd]) => {
                        f.get(20) == Some(&17) && f.get(56..58) == Some(&[2, 0x23])
                    }
                    _ => false,
                };
                if dhcp {
                    ipoe.handle_frame(now, f);
                }
            }
            ipoe.handle_timeout(now);
            while let Some(o) = ipoe.poll_output() {
                match o {
                    Output::Frame(f) => {
                        if let Err(e) = sock.send(&f) {
                            say(format!("tx-error {e}"));
                        }
                    }
                    // local authorisation: everyone, from the local pools
                    Output::Authorize(r) => {
                        say(format!(
                            "authorize user={} circuit={:?}",
                            r.username,
                            r.circuit_id.as_deref().map(String::from_utf8_lossy)
                        ));
                        ipoe.authorized(now, r.token, Some(Authorization::default()));
                    }
                    Output::Up(s) => say(format!(
                        "up id={} user={} circuit={:?} relay={:?} ipv4={:?} ipv6={:?} pd={:?}",
                        s.id,
                        s.username,
                        s.circuit_id.as_deref().map(String::from_utf8_lossy),
                        s.relay,
                        s.ipv4,
                        s.ipv6,
                        s.delegated
                    )),
                    Output::Changed(s) => say(format!(
                        "changed id={} user={} ipv4={:?} ipv6={:?} pd={:?}",
                        s.id, s.username, s.ipv4, s.ipv6, s.delegated
                    )),
                    Output::Down(s, why) => {
                        say(format!("down id={} user={} why={why:?}", s.id, s.username));
                    }
                }
            }
        }
        say(format!(
            "stats {:?} dhcp4 {:?} dhcp6 {:?}",
            ipoe.stats(),
            ipoe.dhcp4_stats(),
            ipoe.dhcp6_stats()
        ));
    })
}

fn lines(log: &Mutex<Vec<String>>, needle: &str) -> Vec<String> {
    log.lock()
        .unwrap()
        .iter()
        .filter(|l| l.contains(needle))
        .cloned()
        .collect()
}

fn dump(log: &Mutex<Vec<String>>) -> String {
    log.lock().unwrap().join("\n")
}

/// dhcpcd once on `veth0` of `c` for a DHCPv4 lease (20 s at most).
fn dhcpcd4(c: &Netns, dir: &Path, hook: &Path) -> String {
    let run = Dhcpcd {
        family: "-4",
        wait_secs: "20",
        conf_name: "dhcpcd.conf",
        conf: DHCPCD_CONF,
    };
    dhcpcd(c, dir, run, hook)
}

/// busybox udhcpc in the foreground on `veth0` of `c` (discovers 2 s apart).
fn udhcpc(c: &Netns, dir: &Path, hook: &Path) -> Peer {
    spawn_udhcpc(c, &dir.join("udhcpc.log"), hook, "2", &[])
}

/// ISC dhclient (`-d -v -1` after `timeout secs`, `-6 -N -P` with `v6`) on `veth0` of
/// `c` with its lease and pid files `dir/<stem>.*`; its output goes to
/// `dir/dhclient.log` (`dhclient6.log`).
fn dhclient(c: &Netns, dir: &Path, hook: &Path, stem: &str, secs: &str, v6: bool) -> Peer {
    let files = dhclient_files(dir, stem, None, hook);
    let head: &[&str] = if v6 {
        &[
            "timeout", secs, "dhclient", "-6", "-d", "-v", "-1", "-N", "-P",
        ]
    } else {
        &["timeout", secs, "dhclient", "-4", "-d", "-v", "-1"]
    };
    let (what, log) = if v6 {
        ("dhclient -6", "dhclient6.log")
    } else {
        ("dhclient", "dhclient.log")
    };
    c.spawn(what, &dhclient_cmd(head, &files), &dir.join(log))
}

/// The relay's client ports d0..d2 answer ARP for the gateway (proxy ARP) and accept
/// client addresses from a pool they have no route for (no reverse-path filter).
fn relay_ports_proxy_arp(r: &Netns) {
    for i in 0..3 {
        r.exec(&["sysctl", "-qw", &format!("net.ipv4.conf.d{i}.proxy_arp=1")]);
        r.exec(&["sysctl", "-qw", &format!("net.ipv4.conf.d{i}.rp_filter=0")]);
    }
}

/// ISC `dhcrelay -4` in `r` from the client ports d0..d2 to `server` over `upl`,
/// adding option 82 with the downstream port as circuit-id (`-a -m replace`, RFC 3046).
fn dhcrelay4(r: &Netns, dir: &Path, server: &str) -> Peer {
    r.spawn(
        "dhcrelay -4",
        &[
            "dhcrelay",
            "-d",
            "-4",
            "-a",
            "-m",
            "replace",
            "-id",
            "d0",
            "-id",
            "d1",
            "-id",
            "d2",
            "-iu",
            "upl",
            "-pf",
            dir.join("relay4.pid").to_str().unwrap(),
            server,
        ],
        &dir.join("relay4.log"),
    )
}

#[test]
fn real_clients_behind_a_relay_with_option_82_get_leases_from_the_bng_ipoe_control_plane() {
    if !require(
        "bng_ipoe",
        &[
            "ip", "tshark", "dhclient", "udhcpc", "dhcpcd", "dhcrelay", "mount", "timeout",
            "unshare",
        ],
    ) {
        return;
    }
    let dir = workdir(&format!("bng_ipoe-{}", std::process::id()));
    let hook = dir.join("hook.sh");
    write_exec(&hook, HOOK);
    let g = Netns::new("bipg");
    let r = Netns::new("bipr");
    let cs: Vec<Netns> = (0..4).map(|i| Netns::new(&format!("bipc{i}"))).collect();
    for ns in [&g, &r].into_iter().chain(&cs) {
        no_dad(ns);
    }
    veth(&g, "acc", &r, "upl");
    g.ip(&["addr", "add", "100.65.0.1/24", "dev", "acc"]);
    g.ip(&[
        "-6",
        "addr",
        "add",
        "2001:db8:ff::1/64",
        "dev",
        "acc",
        "nodad",
    ]);
    r.ip(&["addr", "add", "100.65.0.2/24", "dev", "upl"]);
    r.ip(&[
        "-6",
        "addr",
        "add",
        "2001:db8:ff::2/64",
        "dev",
        "upl",
        "nodad",
    ]);
    for (i, c) in cs.iter().enumerate() {
        let d = format!("d{i}");
        veth(&r, &d, c, "veth0");
        if i < 3 {
            r.ip(&["addr", "add", &format!("10.0.{i}.1/24"), "dev", &d]);
        } else {
            r.ip(&["-6", "addr", "add", "2001:db8:10::1/64", "dev", &d, "nodad"]);
        }
    }
    // the relay routes (clients' unicast RENEW/RELEASE to the gateway) and answers
    // ARP for the gateway on its ports; client addresses come from a pool it has no
    // route for, so no reverse-path filter
    r.exec(&[
        "sysctl",
        "-qw",
        "net.ipv4.ip_forward=1",
        "net.ipv4.conf.all.proxy_arp=1",
        "net.ipv4.conf.default.proxy_arp=1",
        "net.ipv4.conf.all.rp_filter=0",
        "net.ipv4.conf.default.rp_filter=0",
    ]);
    relay_ports_proxy_arp(&r);
    // link-local addresses for DHCPv6 (dhclient -6 and dhcrelay -6 need them)
    for (ns, dev) in [(&cs[3], "veth0"), (&r, "d3"), (&r, "upl"), (&g, "acc")] {
        wait_link_local(ns, dev);
    }
    // our control plane on acc; the kernel keeps the addresses (ARP for 100.65.0.1)
    let sock = g.run_in(|| Socket::open("acc").expect("AF_PACKET on acc"));
    let stop = Arc::new(AtomicBool::new(false));
    let log = Arc::new(Mutex::new(Vec::new()));
    let cap = Capture::start(&g, "acc", &dir.join("acc.pcapng"));
    let gw = run_gateway(sock, Arc::clone(&stop), Arc::clone(&log));

    // ISC dhcrelay: option 82 with the downstream port as circuit-id (-a), v4 and v6
    let relay4 = dhcrelay4(&r, &dir, "100.65.0.1");
    let relay6 = dhcrelay6(&r, &dir, "d3");
    std::thread::sleep(Duration::from_millis(500));

    // ---- dhclient on d0 ----
    let dh = dhclient(&cs[0], &dir, &hook, "c0", "30", false);
    assert!(
        wait_for(Duration::from_secs(25), "dhclient bound", || dh
            .log()
            .contains("bound to")),
        "dhclient: {}\nrelay: {}\ngateway:\n{}",
        dh.log(),
        relay4.log(),
        dump(&log)
    );
    let up = lines(&log, "up id=");
    assert!(
        up.iter()
            .any(|l| l.contains("circuit=Some(\"d0\")") && l.contains("relay=Some(10.0.0.1)")),
        "gateway:\n{}",
        dump(&log)
    );
    // it renews at T1 by unicast through the relay (no option 82): ACKed, same session
    assert!(
        wait_for(Duration::from_secs(20), "dhclient renewal", || dh
            .log()
            .matches("bound to")
            .count()
            >= 2),
        "dhclient: {}\ngateway:\n{}",
        dh.log(),
        dump(&log)
    );
    assert_eq!(lines(&log, "user=d0").len(), 2, "{}", dump(&log));
    drop(dh);

    // ---- udhcpc on d1 ----
    let ud = udhcpc(&cs[1], &dir, &hook);
    assert!(
        wait_for(Duration::from_secs(25), "udhcpc lease", || ud
            .log()
            .contains("obtained")),
        "udhcpc: {}\nrelay: {}\ngateway:\n{}",
        ud.log(),
        relay4.log(),
        dump(&log)
    );
    assert!(
        lines(&log, "up id=")
            .iter()
            .any(|l| l.contains("circuit=Some(\"d1\")")),
        "gateway:\n{}",
        dump(&log)
    );
    // SIGUSR2: udhcpc releases (busybox udhcpc(8)); relayed, it ends the session
    bng_testkit::netns::run(&["kill", "-USR2", &ud.pid().to_string()]);
    assert!(
        wait_for(
            Duration::from_secs(10),
            "RELEASE ends the d1 session",
            || { !lines(&log, "user=d1 why=Released").is_empty() }
        ),
        "udhcpc: {}\ngateway:\n{}",
        ud.log(),
        dump(&log)
    );
    drop(ud);

    // ---- dhcpcd on d2 ----
    let dl = dhcpcd4(&cs[2], &dir, &hook);
    assert!(
        dl.contains("leased 100.64."),
        "dhcpcd: {dl}\ngateway:\n{}",
        dump(&log)
    );
    assert!(
        lines(&log, "up id=")
            .iter()
            .any(|l| l.contains("circuit=Some(\"d2\")")),
        "gateway:\n{}",
        dump(&log)
    );

    // ---- dhclient -6 -N -P on d3, relayed with Interface-Id ----
    let dh6 = dhclient(&cs[3], &dir, &hook, "c3", "30", true);
    wait_dhclient6_bound(&dh6, &|| {
        format!("relay6: {}\ngateway:\n{}", relay6.log(), dump(&log))
    });
    let l6 = dh6.log();
    assert!(l6.contains("IAADDR 2001:db8:10::"), "IA_NA: {l6}");
    assert!(l6.contains("IAPREFIX 2001:db8:100:"), "IA_PD: {l6}");
    drop(dh6);
    // dhcrelay's Interface-Id is the port's ifindex (4 bytes): the v6 session is keyed
    // by it, and holds the IA_NA address and the delegated prefix
    let v6 = lines(&log, "ipv6=Some(2001:db8:10::");
    assert!(
        v6.iter().any(|l| l.contains("pd=Some((2001:db8:100:")),
        "gateway:\n{}",
        dump(&log)
    );
    assert!(
        lines(&log, "authorize ")
            .iter()
            .any(|l| l.contains("circuit=Some(") && !l.contains("\"d")),
        "gateway:\n{}",
        dump(&log)
    );

    stop.store(true, Ordering::Relaxed);
    gw.join().unwrap();
    drop(relay4);
    drop(relay6);
    let all = dump(&log);
    eprintln!("gateway:\n{all}");
    // one session per relay port: four circuits authorised, four up
    assert_eq!(lines(&log, "authorize ").len(), 4, "{all}");
    assert!(lines(&log, "tx-error").is_empty(), "{all}");
    let file = cap.finish();
    let d = assert_clean_capture(&file);
    assert!(
        d.protocols.iter().any(|p| p.contains("dhcp")),
        "{:?}",
        d.protocols
    );
    assert!(
        d.protocols.iter().any(|p| p.contains("dhcpv6")),
        "{:?}",
        d.protocols
    );
}

/// ISC `dhcrelay -6` in `r` from the client port `lower` to the servers' multicast
/// address on `upl`, with Interface-Id (`-I`, RFC 8415 section 21.18).
fn dhcrelay6(r: &Netns, dir: &Path, lower: &str) -> Peer {
    r.spawn(
        "dhcrelay -6",
        &[
            "dhcrelay",
            "-d",
            "-6",
            "-I",
            "-l",
            lower,
            "-u",
            "upl",
            "-pf",
            dir.join("relay6.pid").to_str().unwrap(),
        ],
        &dir.join("relay6.log"),
    )
}

/// dhclient on client 0 and udhcpc on client 1 (both still running on return) and
/// dhcpcd on client 2 (one-shot) get a lease from the IPoE pool 100.65.0.0/24; a
/// failure shows the clients' logs and `context()`.
fn v4_leases(cs: &[Netns], dir: &Path, hook: &Path, context: &dyn Fn() -> String) -> (Peer, Peer) {
    let dh = dhclient(&cs[0], dir, hook, "c0", "60", false);
    let ud = udhcpc(&cs[1], dir, hook);
    assert!(
        wait_for(
            Duration::from_secs(25),
            "dhclient and udhcpc leases",
            || { dh.log().contains("bound to") && ud.log().contains("obtained") }
        ),
        "dhclient: {}\nudhcpc: {}\n{}",
        dh.log(),
        ud.log(),
        context()
    );
    let dl = dhcpcd4(&cs[2], dir, hook);
    assert!(
        dl.contains("leased 100.65.0."),
        "dhcpcd: {dl}\n{}",
        context()
    );
    (dh, ud)
}

/// Waits up to 25 s for dhclient -6 to be bound; a failure shows its log and
/// `context()`.
fn wait_dhclient6_bound(dh6: &Peer, context: &dyn Fn() -> String) {
    assert!(
        wait_for(Duration::from_secs(25), "dhclient -6 bound", || dh6
            .log()
            .contains("Bound to lease")),
        "dhclient -6: {}\n{}",
        dh6.log(),
        context()
    );
}

/// Client `i` (`c`) pings the server 3 times through the gateway `bng`.
fn ping_server(c: &Netns, i: usize, bng: &Peer) {
    let o = c
        .command(&["ping", "-c", "3", "-i", "0.2", "-W", "2", SERVER])
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "client {i} ping: {}\nbng: {}",
        text(&o),
        bng.log()
    );
}

/// Client hook for the gateway test: the leased address as a /32, the router as an
/// on-link host route and the default route through it.
const HOOK_ROUTED: &str = r#"#!/bin/sh
LOG="$(dirname "$0")/hook.log"
R="${reason:-$1}"
case "$R" in
  BOUND|RENEW|REBIND|REBOOT) A="${new_ip_address:-}"; G="${new_routers%% *}" ;;
  bound|renew) A="${ip:-}"; G="${router%% *}" ;;
  *) exit 0 ;;
esac
echo "reason=$R ip=$A router=$G if=$interface" >> "$LOG"
[ -n "$A" ] || exit 0
ip addr replace "$A/32" dev "$interface"
[ -n "$G" ] && ip route replace "$G" dev "$interface" && ip route replace default via "$G"
exit 0
"#;

/// The server's capture `up`: at least `pings` echo requests from [`NAT_ADDR`], and no
/// frame from a subscriber address (100.65.0.0/24).
fn server_saw_only_nat(up: &Path, pings: usize) {
    let n = common::bng::count(up, &format!("icmp.type == 8 && ip.src == {NAT_ADDR}"));
    assert!(n >= pings, "server saw {n} echo requests from {NAT_ADDR}");
    let leaked = common::bng::count(up, "ip.src == 100.65.0.0/24");
    assert_eq!(leaked, 0, "subscriber addresses leaked upstream");
}

/// The `bng` configuration of the IPoE gateway tests over AF_PACKET on `acc` and `up0`
/// (see [`common::bng::ipoe_config`]).
fn bng_config(dir: &Path, access: &str, gateway: &str) -> std::path::PathBuf {
    common::bng::ipoe_config(dir, ["acc", "up0"], "afpacket", access, gateway, "")
}

/// The `bng` gateway (IPoE only, local authorisation, NAT44) on `acc` behind a switch
/// namespace with dhclient, udhcpc and dhcpcd (DHCPv4, no relay): each gets a lease
/// from the IPoE pool, pings the server through NAT44 (the server sees the NAT pool
/// address), and iperf3 runs through the gateway for 3 s; tshark flags nothing on the
/// access or upstream link.
#[test]
fn bng_ipoe_real_clients_through_nat44() {
    if !require(
        "bng_ipoe_real_clients_through_nat44",
        &[
            "ip", "tshark", "dhclient", "udhcpc", "dhcpcd", "mount", "timeout", "unshare",
            "iperf3", "ping", "ethtool", "nft",
        ],
    ) {
        return;
    }
    let dir = workdir(&format!("bng_ipoe_gw-{}", std::process::id()));
    let hook = dir.join("hook.sh");
    write_exec(&hook, HOOK_ROUTED);
    let g = Netns::new("bigg");
    let sw = Netns::new("bigw");
    let srv = Netns::new("bigs");
    let cs: Vec<Netns> = (0..3).map(|i| Netns::new(&format!("bigc{i}"))).collect();
    veth(&g, "acc", &sw, "p9");
    veth(&g, "up0", &srv, "up1");
    sw.ip(&["link", "add", "br0", "type", "bridge"]);
    sw.ip(&["link", "set", "br0", "up"]);
    sw.ip(&["link", "set", "p9", "master", "br0"]);
    for (i, c) in cs.iter().enumerate() {
        let p = format!("p{i}");
        veth(&sw, &p, c, "veth0");
        sw.ip(&["link", "set", &p, "master", "br0"]);
    }
    for ns in [&g, &sw] {
        ns.exec(&["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"]);
    }
    // complete checksums and MTU-sized frames on every link (a gateway on a raw socket
    // sees what a real link would carry), as in `nat44_gateway.rs`
    let mut devs = vec![
        (&g, "acc".to_owned()),
        (&g, "up0".to_owned()),
        (&srv, "up1".to_owned()),
        (&sw, "p9".to_owned()),
    ];
    for (i, c) in cs.iter().enumerate() {
        devs.push((c, "veth0".to_owned()));
        devs.push((&sw, format!("p{i}")));
    }
    for (ns, dev) in devs {
        common::bng::offloads_off(ns, &dev);
    }
    srv.ip(&["addr", "add", &format!("{SERVER}/24"), "dev", "up1"]);
    srv.ip(&["route", "add", "203.0.113.0/24", "via", "192.0.2.1"]);
    let cfg = bng_config(&dir, "", "100.65.0.1");
    // iperf3's bulk stream (port 5201) is kept out of the captures: its random payload
    // trips tshark's heuristic Thrift dissector now and then (a false "malformed"), and
    // decoding ~100 MB of it took minutes
    let no_iperf = Some("not tcp port 5201");
    let acc_cap = Capture::start_filtered(&g, "acc", &dir.join("acc.pcapng"), no_iperf);
    let up_cap = Capture::start_filtered(&srv, "up1", &dir.join("up1.pcapng"), no_iperf);
    let mut bng = common::bng::start(&g, &cfg, &dir, &[]);

    // ---- leases: dhclient, udhcpc, dhcpcd ----
    let (dh, ud) = v4_leases(&cs, &dir, &hook, &|| format!("bng: {}", bng.log()));

    // ---- ping through NAT44 from each ----
    for (i, c) in cs.iter().enumerate() {
        ping_server(c, i, &bng);
    }

    // ---- iperf3 -t 3 through bng and NAT44 ----
    let mut iperf_srv = iperf::server(&srv, SERVER, &dir.join("iperf3-server.log"));
    let o = iperf::client(&cs[0], SERVER, &[]);
    let it = text(&o);
    assert!(o.status.success(), "iperf3: {it}\nbng: {}", bng.log());
    let rate = iperf::receiver_mbits(&it);
    eprintln!("iperf3 through bng (IPoE, NAT44): {rate} Mbit/s");
    iperf_srv.stop();
    drop(dh);
    drop(ud);

    // ---- DHCPv6: dhclient -6 -N -P (IA_NA + IA_PD) from client 0 ----
    wait_link_local(&cs[0], "veth0");
    let dh6 = dhclient(&cs[0], &dir, &hook, "c0v6", "30", true);
    wait_dhclient6_bound(&dh6, &|| format!("bng: {}", bng.log()));
    let l6 = dh6.log();
    assert!(l6.contains("IAADDR 2001:db8:10::"), "IA_NA: {l6}");
    assert!(l6.contains("IAPREFIX 2001:db8:100:"), "IA_PD: {l6}");
    drop(dh6);

    // ---- the server saw the NAT pool address, not the subscribers' ----
    bng.stop();
    let blog = bng.log();
    eprintln!("bng:\n{blog}");
    let up = up_cap.finish();
    let acc = acc_cap.finish();
    server_saw_only_nat(&up, 9);
    for f in [&acc, &up] {
        assert_clean_capture(f);
    }

    // ---- the peer: the kernel forwarding with nftables masquerade on the same links ----
    common::bng::kernel_masquerade(&g, ["acc", "up0"], "100.65.0.1/24");
    let mut iperf_srv = iperf::server(&srv, SERVER, &dir.join("iperf3-server-kernel.log"));
    let kt = text(&iperf::client(&cs[0], SERVER, &[]));
    iperf_srv.stop();
    let kernel = iperf::receiver_mbits(&kt);
    eprintln!("iperf3 through the kernel (forwarding + masquerade): {kernel} Mbit/s");
    if let (Ok(b), Ok(k)) = (rate.parse::<f64>(), kernel.parse::<f64>()) {
        eprintln!("ratio kernel/bng: {:.2}", k / b);
    }
}

/// The `bng` gateway (IPoE, NAT44) behind ISC dhcrelay with option 82: dhclient,
/// udhcpc and dhcpcd each on their own relay port get a lease from bng through the
/// relay, then ping and iperf3 through the relay, bng and NAT44 to the server. Behind a
/// relay every subscriber's frames come from the relay's MAC: bng binds them by source
/// address and sends their downstream to the relay's MAC. The relay routes each lease
/// to its port with a host route, as a relay-router installs one per lease; it answers
/// the clients' ARP for their router (bng's address) by proxy. The server sees only the
/// NAT address; tshark flags nothing on bng's two links.
///
/// ```text
/// c0 [veth0] -- [d0 10.0.0.1/24]  \
/// c1 [veth0] -- [d1 10.0.1.1/24]   relay [upl 100.66.0.2/24] -- [acc] bng 100.66.0.1 [up0 192.0.2.1] -- [up1 192.0.2.254] server
/// c2 [veth0] -- [d2 10.0.2.1/24]  /   dhcrelay -4 -a (circuit-id = port)
/// ```
#[test]
fn bng_ipoe_relayed_clients_forward_through_nat44() {
    if !require(
        "bng_ipoe_relayed_clients_forward_through_nat44",
        &[
            "ip", "tshark", "dhclient", "udhcpc", "dhcpcd", "dhcrelay", "mount", "timeout",
            "unshare", "iperf3", "ping", "ethtool",
        ],
    ) {
        return;
    }
    let dir = workdir(&format!("bng_ipoe_relay-{}", std::process::id()));
    let hook = dir.join("hook.sh");
    write_exec(&hook, HOOK_ROUTED);
    let g = Netns::new("birg");
    let r = Netns::new("birr");
    let srv = Netns::new("birs");
    let cs: Vec<Netns> = (0..3).map(|i| Netns::new(&format!("birc{i}"))).collect();
    veth(&g, "acc", &r, "upl");
    veth(&g, "up0", &srv, "up1");
    let mut devs = vec![
        (&g, "acc".to_owned()),
        (&g, "up0".to_owned()),
        (&srv, "up1".to_owned()),
        (&r, "upl".to_owned()),
    ];
    for (i, c) in cs.iter().enumerate() {
        let d = format!("d{i}");
        veth(&r, &d, c, "veth0");
        r.ip(&["addr", "add", &format!("10.0.{i}.1/24"), "dev", &d]);
        devs.push((c, "veth0".to_owned()));
        devs.push((&r, d));
    }
    for ns in [&g, &r, &srv].into_iter().chain(&cs) {
        ns.exec(&["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"]);
        ns.exec(&["sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1"]);
    }
    for (ns, dev) in devs {
        common::bng::offloads_off(ns, &dev);
    }
    r.ip(&["addr", "add", "100.66.0.2/24", "dev", "upl"]);
    r.ip(&["route", "add", "default", "via", "100.66.0.1"]);
    r.exec(&[
        "sysctl",
        "-qw",
        "net.ipv4.ip_forward=1",
        "net.ipv4.conf.all.rp_filter=0",
        "net.ipv4.conf.default.rp_filter=0",
    ]);
    relay_ports_proxy_arp(&r);
    srv.ip(&["addr", "add", &format!("{SERVER}/24"), "dev", "up1"]);
    srv.ip(&["route", "add", "203.0.113.0/24", "via", "192.0.2.1"]);
    let cfg = bng_config(&dir, "", "100.66.0.1");
    let no_iperf = Some("not tcp port 5201");
    let acc_cap = Capture::start_filtered(&g, "acc", &dir.join("acc.pcapng"), no_iperf);
    let up_cap = Capture::start_filtered(&srv, "up1", &dir.join("up1.pcapng"), no_iperf);
    let mut bng = common::bng::start(&g, &cfg, &dir, &[]);
    let relay = dhcrelay4(&r, &dir, "100.66.0.1");
    std::thread::sleep(Duration::from_millis(500));

    // ---- leases through the relay ----
    let (dh, ud) = v4_leases(&cs, &dir, &hook, &|| {
        format!("relay: {}\nbng: {}", relay.log(), bng.log())
    });
    // the relay-router's host route to each lease, on the client's port
    let mut leased = Vec::new();
    for (i, c) in cs.iter().enumerate() {
        let o = c.ip(&["-4", "-o", "addr", "show", "dev", "veth0"]);
        let a = String::from_utf8_lossy(&o.stdout)
            .split_whitespace()
            .skip_while(|w| *w != "inet")
            .nth(1)
            .and_then(|a| a.split('/').next())
            .map_or_else(
                || panic!("client {i} has no address: {}", text(&o)),
                str::to_owned,
            );
        assert!(a.starts_with("100.65.0."), "client {i}: {a}");
        r.ip(&[
            "route",
            "replace",
            &format!("{a}/32"),
            "dev",
            &format!("d{i}"),
        ]);
        leased.push(a);
    }
    eprintln!("relayed leases: {leased:?}");

    // ---- ping and iperf3 from each relayed client through bng and NAT44 ----
    // one iperf3 server for the three clients, listening before the first one
    let mut iperf_srv = srv.spawn(
        "iperf3 -s",
        &["iperf3", "-s", "--forceflush", "-B", SERVER],
        &dir.join("iperf3-server.log"),
    );
    common::wait_log(
        &iperf_srv,
        10,
        "iperf3 server listening",
        "Server listening",
    );
    let mut rates = Vec::new();
    for (i, c) in cs.iter().enumerate() {
        ping_server(c, i, &bng);
        let o = iperf::client(c, SERVER, &[]);
        let it = text(&o);
        assert!(
            o.status.success(),
            "client {i} iperf3: {it}\nbng: {}",
            bng.log()
        );
        rates.push(iperf::receiver_mbits(&it));
    }
    iperf_srv.stop();
    eprintln!("iperf3 through the relay and bng (IPoE, NAT44), Mbit/s: {rates:?}");
    drop(dh);
    drop(ud);
    drop(relay);
    bng.stop();
    let blog = bng.log();
    eprintln!("bng:\n{blog}");
    // bng bound each by source address, behind the relay's MAC
    assert_eq!(blog.matches("session up").count(), 3, "{blog}");
    let up = up_cap.finish();
    let acc = acc_cap.finish();
    server_saw_only_nat(&up, 9);
    for f in [&acc, &up] {
        assert_clean_capture(f);
    }
    // the relayed DHCP and the subscribers' traffic both crossed bng's access link
    assert!(common::bng::count(&acc, "dhcp.option.type == 82") > 0);
    assert!(common::bng::count(&acc, &format!("icmp && ip.dst == {SERVER}")) >= 9);
}

/// The word after `key` on the first line of `log` that has it (`IAADDR 2001:db8:...`).
fn word_after(log: &str, key: &str) -> Option<String> {
    log.lines().find_map(|l| {
        let mut w = l.split_whitespace().skip_while(|w| *w != key);
        w.next()?;
        w.next().map(str::to_owned)
    })
}

/// IPv6 through the `bng` gateway (IPoE): dhclient -6 -N -P gets an IA_NA address and
/// a /56 from bng, the client puts the address on its link and the prefix's first
/// address on its loopback, with a default route via bng (`fe80::1`, answered by bng's
/// Neighbor Discovery); pings from both reach the server through bng, which routes the
/// address and the prefix (no NAT for IPv6) and resolves the server as its IPv6 next
/// hop. The server sees the subscriber's own addresses; tshark flags nothing.
#[test]
fn bng_ipoe_ipv6_forwarding() {
    if !require(
        "bng_ipoe_ipv6_forwarding",
        &["ip", "tshark", "dhclient", "ping", "timeout", "ethtool"],
    ) {
        return;
    }
    let dir = workdir(&format!("bng_ipoe_v6-{}", std::process::id()));
    let hook = dir.join("hook.sh");
    write_exec(&hook, HOOK_ROUTED);
    let g = Netns::new("bi6g");
    let c = Netns::new("bi6c");
    let srv = Netns::new("bi6s");
    // before the links exist: they inherit no DAD (a tentative link-local address
    // makes dhclient -6 fail to bind), and the gateway's kernel stays out of IPv6 (bng
    // answers Neighbor Discovery itself)
    for ns in [&c, &srv] {
        no_dad(ns);
    }
    g.exec(&["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"]);
    g.exec(&["sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1"]);
    veth(&g, "acc", &c, "veth0");
    veth(&g, "up0", &srv, "up1");
    for (ns, dev) in [(&g, "acc"), (&g, "up0"), (&c, "veth0"), (&srv, "up1")] {
        common::bng::offloads_off(ns, dev);
    }
    v6_server(&srv);
    let cfg = v6_bng_config(&dir);
    let acc_cap = Capture::start(&g, "acc", &dir.join("acc.pcapng"));
    let up_cap = Capture::start(&srv, "up1", &dir.join("up1.pcapng"));
    let mut bng = common::bng::start(&g, &cfg, &dir, &[]);
    wait_link_local(&c, "veth0");
    let dh6 = dhclient(&c, &dir, &hook, "c6", "40", true);
    wait_dhclient6_bound(&dh6, &|| format!("bng: {}", bng.log()));
    let (addr, pd_host) = v6_client_pings(&c, &dh6, &bng, |_, _| {});
    drop(dh6);
    bng.stop();
    eprintln!("bng:\n{}", bng.log());
    let up = up_cap.finish();
    let acc = acc_cap.finish();
    server_saw_v6(&up, &[&addr, &pd_host]);
    for f in [&acc, &up] {
        assert_clean_capture(f);
    }
}

/// The server of the IPv6 tests: `2001:db8:ff00::2/64` on `up1`, routes to the IA_NA
/// and delegated-prefix pools through bng (`2001:db8:ff00::1`).
fn v6_server(srv: &Netns) {
    srv.ip(&[
        "-6",
        "addr",
        "add",
        "2001:db8:ff00::2/64",
        "dev",
        "up1",
        "nodad",
    ]);
    for net in ["2001:db8:10::/64", "2001:db8:100::/40"] {
        srv.ip(&["-6", "route", "add", net, "via", "2001:db8:ff00::1"]);
    }
}

/// [`bng_config`] with IPv6 routed (upstream `address6`/`gateway6`) and `fe80::1` as
/// the subscribers' IPv6 router (answered by bng's Neighbor Discovery).
fn v6_bng_config(dir: &Path) -> std::path::PathBuf {
    let cfg = bng_config(dir, "", "100.65.0.1");
    let toml = std::fs::read_to_string(&cfg).unwrap();
    let toml = toml
        .replacen(
            &format!("gateway = \"{SERVER}\"\n"),
            &format!(
                "gateway = \"{SERVER}\"\naddress6 = \"2001:db8:ff00::1\"\ngateway6 = \"2001:db8:ff00::2\"\n"
            ),
            1,
        )
        .replacen("[ipoe]\n", "[ipoe]\ngateway6 = \"fe80::1\"\n", 1);
    std::fs::write(&cfg, toml).unwrap();
    cfg
}

/// After dhclient -6 -N -P (`dh6`) is bound in `c`: its IA_NA address on `veth0`, the
/// delegated prefix's `::1` on `lo`, the default route via `fe80::1`; `routes(addr,
/// prefix)` runs before the pings (a relay's routes), then 3 pings from each to the
/// server. Returns the two source addresses.
fn v6_client_pings(
    c: &Netns,
    dh6: &Peer,
    bng: &Peer,
    routes: impl FnOnce(&str, &str),
) -> (String, String) {
    let l6 = dh6.log();
    let addr = word_after(&l6, "IAADDR").expect("IA_NA address");
    let prefix = word_after(&l6, "IAPREFIX").expect("delegated prefix");
    let pd_host = format!("{}1", prefix.split('/').next().unwrap());
    eprintln!("IA_NA {addr}, IA_PD {prefix}: pinging from {addr} and {pd_host}");
    c.ip(&[
        "-6",
        "addr",
        "add",
        &format!("{addr}/128"),
        "dev",
        "veth0",
        "nodad",
    ]);
    c.ip(&["-6", "addr", "add", &format!("{pd_host}/128"), "dev", "lo"]);
    c.ip(&[
        "-6", "route", "add", "default", "via", "fe80::1", "dev", "veth0",
    ]);
    routes(&addr, &prefix);
    for from in [&addr, &pd_host] {
        let o = c
            .command(&[
                "ping",
                "-6",
                "-c",
                "3",
                "-i",
                "0.2",
                "-W",
                "2",
                "-I",
                from,
                "2001:db8:ff00::2",
            ])
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "ping -6 from {from}: {}\nbng: {}",
            text(&o),
            bng.log()
        );
    }
    (addr, pd_host)
}

/// The server's capture `up` holds at least 3 echo requests from each of `froms` (no
/// NAT for IPv6).
fn server_saw_v6(up: &Path, froms: &[&str]) {
    for from in froms {
        let n = common::bng::count(up, &format!("icmpv6.type == 128 && ipv6.src == {from}"));
        assert!(n >= 3, "the server saw {n} echo requests from {from}");
    }
}

/// IPv6 of a relayed IPoE subscriber: dhclient -6 -N -P behind ISC dhcrelay -6
/// (Interface-Id) in a router namespace gets an IA_NA address and a /56 from bng; bng
/// learns the relay (the Relay-forward's source and MAC, RFC 8415 section 19) as the
/// next hop of both, binds them by source address from the relay's MAC and routes them
/// back to it. The relay routes the address and the prefix to the client (as a
/// delegating router would), the client pings the server from both, the server sees
/// them (no NAT), tshark flags nothing.
#[test]
fn bng_ipoe_ipv6_relayed() {
    if !require(
        "bng_ipoe_ipv6_relayed",
        &[
            "ip", "tshark", "dhclient", "dhcrelay", "ping", "timeout", "ethtool",
        ],
    ) {
        return;
    }
    let dir = workdir(&format!("bng_ipoe_v6r-{}", std::process::id()));
    let hook = dir.join("hook.sh");
    write_exec(&hook, HOOK_ROUTED);
    let g = Netns::new("bi6rg");
    let r = Netns::new("bi6rr");
    let c = Netns::new("bi6rc");
    let srv = Netns::new("bi6rs");
    for ns in [&c, &r, &srv] {
        no_dad(ns);
    }
    g.exec(&["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"]);
    g.exec(&["sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1"]);
    veth(&g, "acc", &r, "upl");
    veth(&r, "d0", &c, "veth0");
    veth(&g, "up0", &srv, "up1");
    for (ns, dev) in [
        (&g, "acc"),
        (&g, "up0"),
        (&r, "upl"),
        (&r, "d0"),
        (&c, "veth0"),
        (&srv, "up1"),
    ] {
        common::bng::offloads_off(ns, dev);
    }
    v6_server(&srv);
    // the relay is the client's router (fe80::1 on its port) and routes the rest to
    // bng (fe80::1 on the access link, answered by bng)
    r.exec(&["sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"]);
    r.ip(&["-6", "addr", "add", "fe80::1/64", "dev", "d0", "nodad"]);
    r.ip(&[
        "-6",
        "addr",
        "add",
        "2001:db8:c0::1/64",
        "dev",
        "d0",
        "nodad",
    ]);
    r.ip(&[
        "-6", "route", "add", "default", "via", "fe80::1", "dev", "upl",
    ]);
    let cfg = v6_bng_config(&dir);
    let acc_cap = Capture::start(&g, "acc", &dir.join("acc.pcapng"));
    let up_cap = Capture::start(&srv, "up1", &dir.join("up1.pcapng"));
    let mut bng = common::bng::start(&g, &cfg, &dir, &[]);
    for (ns, dev) in [(&c, "veth0"), (&r, "d0"), (&r, "upl")] {
        wait_link_local(ns, dev);
    }
    let relay6 = dhcrelay6(&r, &dir, "d0");
    std::thread::sleep(Duration::from_millis(500));
    let dh6 = dhclient(&c, &dir, &hook, "c6", "40", true);
    wait_dhclient6_bound(&dh6, &|| {
        format!("relay: {}\nbng: {}", relay6.log(), bng.log())
    });
    let o = c.ip(&["-6", "-o", "addr", "show", "dev", "veth0", "scope", "link"]);
    let client_ll = String::from_utf8_lossy(&o.stdout)
        .split_whitespace()
        .skip_while(|w| *w != "inet6")
        .nth(1)
        .and_then(|a| a.split('/').next().map(str::to_owned))
        .expect("the client's link-local address");
    let (addr, pd_host) = v6_client_pings(&c, &dh6, &bng, |addr, prefix| {
        r.ip(&["-6", "route", "add", &format!("{addr}/128"), "dev", "d0"]);
        r.ip(&["-6", "route", "add", prefix, "via", &client_ll, "dev", "d0"]);
    });
    drop(dh6);
    drop(relay6);
    bng.stop();
    let blog = bng.log();
    eprintln!("bng:\n{blog}");
    assert!(blog.contains("session up"), "{blog}");
    assert!(blog.contains("IPv6 routed via the DHCPv6 relay"), "{blog}");
    let up = up_cap.finish();
    let acc = acc_cap.finish();
    server_saw_v6(&up, &[&addr, &pd_host]);
    for f in [&acc, &up] {
        assert_clean_capture(f);
    }
    // relayed: DHCPv6 crossed bng's access link as Relay-forward/Relay-reply
    assert!(common::bng::count(&acc, "dhcpv6.msgtype == 12") > 0);
    assert!(common::bng::count(&acc, "dhcpv6.msgtype == 13") > 0);
}
