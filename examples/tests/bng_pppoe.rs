//! Interop, whole gateway: Linux pppd 2.4.9 (kernel PPPoE) in the test VM against the
//! `bng` binary on the VM's TAP, with an upstream veth to a server namespace.
//!
//! - `bng_pppoe_local_pap`: the embedded-default style config (local users file, local
//!   pool, NAT44 with a compliance log), PAP; the VM pings the server through NAT44 and
//!   the server sees the pool address; SIGTERM to `bng` ends the session (pppd sees
//!   LCP Terminate-Request / PADT).
//!   Dual stack: pppd `+ipv6`, bng's Router Advertisements give ppp0 a SLAAC address
//!   from `pppoe.ra_pool`, dhcpcd gets a delegated prefix by DHCPv6 over PPP, the VM
//!   pings the server's IPv6 address from both (routed, no NAT); the RAs, the DHCPv6
//!   Reply and the final router-lifetime-0 RA are checked in tshark.
//! - `bng_pppoe_local_chap_auto_backend`: the same with CHAP and `backend = "auto"`, which
//!   opens AF_XDP sockets (XDP redirect program) on the TAP and the veth when run as root.
//! - `bng_pppoe_radius_chap` and `bng_pppoe_radius_pap`: CHAP (PAP) against FreeRADIUS (in the namespace, generated config
//!   dir), Framed-IP-Address and Filter-Id from the Access-Accept; a `radclient` `CoA`
//!   changes the rate (bng's log and `/metrics`); a Disconnect-Request ends the session
//!   (the VM reports the termination); Accounting Start and Stop reach FreeRADIUS's
//!   detail file.
//!   The CHAP run is dual stack with alice's Framed-IPv6-Prefix (RFC 3162) and
//!   Delegated-IPv6-Prefix (RFC 4818) from FreeRADIUS: SLAAC on ppp0 from bng's RA and
//!   IA_PD by dhcpcd over PPP, pings from both reach the server.
//! - `bng_pppoe_dot1q_vlan` and `bng_pppoe_qinq_vlan`: pppd on a VLAN interface in the VM
//!   (802.1Q 100; QinQ 802.1ad 200 + 802.1Q 10) against bng with only that range
//!   configured, over AF_XDP; discovery, session and ping through NAT44 all tagged, seen
//!   in QEMU's dump of the VM's NIC.
//! - `bng_ipoe_dot1q_vlan_udhcpc` and `bng_ipoe_qinq_vlan_udhcpc`: the same with busybox
//!   udhcpc in the VM (IPoE: DORA, lease and ping through NAT44, all tagged).
//!
//! All check that tshark flags no frame on the TAP (or the VM's NIC) as malformed.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::too_many_lines,
    reason = "tests"
)]

use core::time::Duration;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use bng_testkit::netns::{Capture, Netns, require, veth, wait_for, workdir};
use bng_testkit::vm;

mod common;
use common::assert_clean_capture;
use common::bng::{NAT_ADDR, SERVER};
use common::freeradius::{self, radclient};

/// The gateway's namespace (TAP for the VM, `up0` toward the server) and the server's.
struct Lab {
    ns: Netns,
    server: Netns,
    tap_cap: Capture,
    up_cap: Capture,
}

fn lab(tag: &str, dir: &Path) -> Lab {
    let ns = Netns::new(tag);
    let server = Netns::new(&format!("{tag}s"));
    ns.tap("tap0");
    veth(&ns, "up0", &server, "up1");
    for dev in ["tap0", "up0"] {
        ns.exec(&[
            "sysctl",
            "-qw",
            &format!("net.ipv6.conf.{dev}.disable_ipv6=1"),
        ]);
    }
    server.ip(&["addr", "add", &format!("{SERVER}/24"), "dev", "up1"]);
    server.ip(&["route", "add", "203.0.113.0/24", "via", "192.0.2.1"]);
    let tap_cap = Capture::start(&ns, "tap0", &dir.join("tap0.pcapng"));
    let up_cap = Capture::start(&server, "up1", &dir.join("up1.pcapng"));
    Lab {
        ns,
        server,
        tap_cap,
        up_cap,
    }
}

fn config(dir: &Path, auth: &str, ppp_auth: &str, backend: &str, extra: &str) -> PathBuf {
    let text = format!(
        r#"[nas]
identifier = "bngkit-test"
ip = "192.0.2.1"

[access]
interface = "tap0"
backend = "{backend}"

[upstream]
interface = "up0"
backend = "{backend}"
address = "192.0.2.1/24"
gateway = "{SERVER}"

[pppoe]
ac_name = "bngkit-test"
auth = "{ppp_auth}"
gateway = "100.64.0.1"
pool = "default"
echo_interval = 10

[auth]
mode = "{auth}"
users_file = "users"

[[pools.v4]]
name = "default"
first = "100.64.0.10"
last = "100.64.0.200"

[dns]
v4 = ["198.51.100.53"]

[qos]
default_profile = "silver"

[qos.profiles.silver]
down = 10_000_000
up = 2_000_000

[qos.profiles.gold]
down = 50_000_000
up = 10_000_000

[nat]
pool = "{NAT_ADDR}"
block_size = 512
log = "nat44.log"

[metrics]
listen = "127.0.0.1:9187"
{extra}"#
    );
    let p = dir.join("bng.toml");
    std::fs::write(&p, text).unwrap();
    std::fs::write(dir.join("users"), "bob bobpw silver\n").unwrap();
    p
}

fn metrics(ns: &Netns) -> String {
    ns.run_in(|| {
        let mut s = std::net::TcpStream::connect("127.0.0.1:9187").expect("metrics connect");
        s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    })
}

/// Waits (bounded) until the VM's runner reports `check` as passed or the run ends.
fn wait_vm(run: &vm::Vm, secs: u64, check: &str) -> bool {
    wait_for(Duration::from_secs(secs), check, || {
        let r = run.report();
        r.passed(check) || r.done
    }) && run.report().passed(check)
}

/// The VM's uptime at `PASS <check> t=...`.
fn vm_t(console: &str, check: &str) -> Option<f64> {
    let l = console
        .lines()
        .find(|l| l.contains(&format!("BNG-VM: PASS {check} t=")))?;
    l.split("t=")
        .nth(1)?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// ICMP from the NAT pool address seen by the server (its capture, decoded by tshark).
fn server_saw_pool_address(file: &Path) -> usize {
    common::bng::count(file, &format!("icmp.type == 8 && ip.src == {NAT_ADDR}"))
}

/// Dual stack: besides IPv4 through NAT44, pppd runs IPv6CP (`+ipv6`), bng advertises
/// a /64 from `pppoe.ra_pool` on the PPP link, the VM kernel forms a SLAAC address and
/// pings the server's IPv6 address through bng (routed, no NAT); at shutdown bng sends a
/// Router Advertisement with router lifetime 0.
#[test]
fn bng_pppoe_local_pap() {
    local("bng_pppoe_local_pap", "bnglp", "pap", "afpacket", false);
}

/// An IPv6-only PPP subscriber: pppd `noip +ipv6` never opens IPCP, so the session
/// comes up on IPv6CP alone (RFC 1661 section 3.7): SLAAC on ppp0 and ping6 to the
/// server, DHCPv6 IA_PD and a ping from the prefix, no IPv4 (nothing in the NAT44 log,
/// no echo request from the NAT address at the server), Stop at shutdown.
#[test]
fn bng_pppoe_ipv6_only_noip() {
    local("bng_pppoe_ipv6_only_noip", "bng6o", "pap", "afpacket", true);
}

/// `backend = "auto"`: AF_XDP (the XDP redirect program on the TAP and the veth) where
/// it opens. The XDP program takes the TAP's frames before the kernel's capture point, so
/// this run's TAP capture is empty; the AF_PACKET run checks the frames.
#[test]
fn bng_pppoe_local_chap_auto_backend() {
    local(
        "bng_pppoe_local_chap_auto_backend",
        "bnglx",
        "chap",
        "auto",
        false,
    );
}

/// One pppd in the VM against `bng` with local users; dual stack on AF_PACKET, and
/// IPv6 only (pppd `noip +ipv6`) with `ip6only`.
fn local(test: &str, tag: &str, ppp_auth: &str, backend_cfg: &str, ip6only: bool) {
    if !require(test, &["ip", "tshark"]) {
        return;
    }
    let Some(image) = vm::image(test) else { return };
    let dir = workdir(test);
    let lab = lab(tag, &dir);
    // dual stack on the AF_PACKET run (its TAP capture shows the PPP link)
    let v6 = backend_cfg == "afpacket" || ip6only;
    let cfg = config(
        &dir,
        "local",
        ppp_auth,
        backend_cfg,
        if v6 { V6_POOLS } else { "" },
    );
    if v6 {
        dual_stack(&lab, &cfg);
    }
    let mut bng = common::bng::start(&lab.ns, &cfg, &dir, &[]);
    let t0 = Instant::now();
    let mut params = vec![
        ("scenario", "pppoe"),
        ("expect", "ip"),
        ("hold", "1"),
        ("timeout", "90"),
        ("user", "bob"),
        ("password", "bobpw"),
    ];
    if ip6only {
        params.extend([("pppdopts", "noip,+ipv6"), ("ip6only", "1")]);
    } else {
        params.extend([("ping", "1"), ("ping_to", SERVER)]);
    }
    if v6 {
        if !ip6only {
            params.push(("pppdopts", "+ipv6"));
        }
        params.extend([("ping6_to", SERVER6), ("pd", "1")]);
    }
    let run = image.boot(&lab.ns, "tap0", &params, &dir);
    let ncp = if ip6only { "ipv6cp" } else { "ipcp" };
    let up = wait_vm(&run, 150, ncp);
    let setup = t0.elapsed();
    let pinged = ip6only || (up && wait_vm(&run, 30, "pingto"));
    let pinged6 = !v6 || (up && wait_vm(&run, 40, "ping6"));
    let pinged_pd = !v6 || (pinged6 && wait_vm(&run, 40, "pingpd"));
    let m = metrics(&lab.ns);
    // graceful shutdown: bng ends the session (LCP Terminate-Request + PADT)
    bng.stop();
    let report = run.finish(Duration::from_secs(60));
    let console = &report.console;
    let log = bng.log();
    let backend = if log.contains("ports open (afxdp)") {
        "AF_XDP"
    } else {
        "AF_PACKET"
    };
    assert!(up, "{test}: pppd did not reach {ncp}.\n{console}\n{log}");
    assert!(
        pinged,
        "{test}: ping through NAT44 failed.\n{console}\n{log}"
    );
    assert!(
        pinged6,
        "{test}: IPv6 (SLAAC on ppp0, ping6 to {SERVER6}) failed.\n{console}\n{log}"
    );
    assert!(
        pinged_pd,
        "{test}: DHCPv6 IA_PD over ppp0 (dhcpcd) or the ping from the prefix failed.\n{console}\n{log}"
    );
    assert!(
        report.passed("terminated"),
        "{test}: pppd did not see the session end at shutdown.\n{console}\n{log}"
    );
    assert!(
        report.failed.is_empty(),
        "{test}: {:?}\n{console}",
        report.failed
    );
    assert!(m.contains("bng_sessions{state=\"up\"} 1"), "{m}");
    assert!(log.contains("session up"), "{log}");
    assert!(log.contains("session down"), "{log}");
    assert!(log.contains("kind=Stop") || log.contains("Stop"), "{log}");
    let nat_log = std::fs::read_to_string(dir.join("nat44.log")).unwrap_or_default();
    assert_eq!(
        nat_log.contains("NAT44_PORT_BLOCK_ALLOC") && nat_log.contains(NAT_ADDR),
        !ip6only,
        "compliance log: {nat_log}"
    );
    let up_file = lab.up_cap.finish();
    let seen = server_saw_pool_address(&up_file);
    if ip6only {
        // up on IPv6CP alone, installed without IPv4 (RFC 1661 section 3.7)
        assert_eq!(seen, 0, "echo requests from {NAT_ADDR} with no IPv4");
        assert!(log.contains("ipv4=None"), "{log}");
        assert_eq!(log.matches("session up").count(), 1, "{log}");
    } else {
        assert!(seen >= 1, "the server saw no echo request from {NAT_ADDR}");
    }
    let seen6 = if v6 {
        common::bng::count(
            &up_file,
            &format!("icmpv6.type == 128 && ipv6.src == {SLAAC_NET} && ipv6.dst == {SERVER6}"),
        )
    } else {
        0
    };
    let seen_pd = if v6 {
        common::bng::count(
            &up_file,
            &format!("icmpv6.type == 128 && ipv6.src == {PD_NET} && ipv6.dst == {SERVER6}"),
        )
    } else {
        0
    };
    assert!(
        !v6 || (seen6 >= 1 && seen_pd >= 1),
        "the server saw {seen6} echo requests from {SLAAC_NET}, {seen_pd} from {PD_NET}"
    );
    let tap_file = lab.tap_cap.finish();
    let d = assert_clean_capture(&tap_file);
    if backend_cfg == "afpacket" {
        assert!(d.frames > 10, "the TAP capture holds {} frames", d.frames);
    }
    if v6 {
        // RFC 4861: RAs in the PPP session with the /64, and router lifetime 0 at the end
        let ra = common::bng::count(
            &tap_file,
            &format!("pppoes && icmpv6.type == 134 && icmpv6.opt.prefix == {SLAAC_NET}"),
        );
        let bye = common::bng::count(
            &tap_file,
            "pppoes && icmpv6.type == 134 && icmpv6.nd.ra.router_lifetime == 0",
        );
        assert!(
            ra >= 1 && bye >= 1,
            "RAs on the TAP: {ra} with the prefix, {bye} with lifetime 0"
        );
        let dhcp6 = common::bng::count(&tap_file, "pppoes && dhcpv6.msgtype == 7");
        assert!(dhcp6 >= 1, "no DHCPv6 Reply in the PPP session on the TAP");
        eprintln!(
            "{test}: IPv6 over PPP: {ra} RAs, {bye} with lifetime 0 at shutdown, {dhcp6} DHCPv6 Replies, {seen6} echo requests from {SLAAC_NET} and {seen_pd} from {PD_NET} at the server"
        );
    }
    drop(lab.server);
    let padi_to_ipcp = vm_t(console, ncp).zip(vm_t(console, "discovery"));
    eprintln!(
        "{test}: pppd up ({ppp_auth}, local users, {backend}) in {:.2} s from boot, PADS->{ncp} {:.2} s (VM clock), \
         {seen} pings from {NAT_ADDR} at the server, session ended at SIGTERM; tshark: {} frames on \
         the TAP, 0 malformed",
        setup.as_secs_f64(),
        padi_to_ipcp.map_or(f64::NAN, |(i, d)| i - d),
        d.frames
    );
}

/// The server's IPv6 address (bng's IPv6 next hop) and the pool of /64s bng
/// advertises on PPP links.
const SERVER6: &str = "2001:db8:ff00::2";
const SLAAC_NET: &str = "2001:db8:1000::/48";

/// The `pools.v6_pd` entry for `pppoe.ra_pool` (appended to the config).
const V6_POOLS: &str = "\n[[pools.v6_pd]]\nname = \"slaac\"\nprefix = \"2001:db8:1000::/48\"\nlength = 64\n\n[[pools.v6_pd]]\nname = \"pd\"\nprefix = \"2001:db8:2000::/40\"\nlength = 56\n";
/// The delegated prefixes (DHCPv6 IA_PD over PPP).
const PD_NET: &str = "2001:db8:2000::/40";

/// Dual stack in `cfg` and the lab: bng routes IPv6 (upstream `address6`/`gateway6`),
/// runs IPv6CP and advertises a /64 from the `slaac` pool with an IPv6 DNS server; the
/// server has its IPv6 address and the route back to the pool.
fn dual_stack(lab: &Lab, cfg: &Path) {
    let toml = std::fs::read_to_string(cfg).unwrap();
    let toml = toml
        .replacen(
            &format!("gateway = \"{SERVER}\"\n"),
            &format!(
                "gateway = \"{SERVER}\"\naddress6 = \"2001:db8:ff00::1\"\ngateway6 = \"{SERVER6}\"\n"
            ),
            1,
        )
        .replacen(
            "echo_interval = 10\n",
            "echo_interval = 10\nipv6 = true\nra_pool = \"slaac\"\npd_pool = \"pd\"\n",
            1,
        )
        .replacen(
            "v4 = [\"198.51.100.53\"]\n",
            "v4 = [\"198.51.100.53\"]\nv6 = [\"2001:db8:ff00::53\"]\n",
            1,
        );
    std::fs::write(cfg, toml).unwrap();
    lab.server.ip(&[
        "-6",
        "addr",
        "add",
        &format!("{SERVER6}/64"),
        "dev",
        "up1",
        "nodad",
    ]);
    for net in [SLAAC_NET, PD_NET] {
        lab.server
            .ip(&["-6", "route", "add", net, "via", "2001:db8:ff00::1"]);
    }
}

/// The virtual server's sections for the gateway's requests: users from `users`,
/// Message-Authenticator on every reply.
const RADIUS_POLICY: &str = r"	authorize {
		chap
		files
		pap
	}
	authenticate {
		Auth-Type PAP {
			pap
		}
		Auth-Type CHAP {
			chap
		}
	}
	preacct {
	}
	accounting {
		detail
		update reply {
			&Message-Authenticator := 0x00
		}
		ok
	}
	post-auth {
		update reply {
			&Message-Authenticator := 0x00
		}
		Post-Auth-Type REJECT {
			update reply {
				&Message-Authenticator := 0x00
			}
		}
	}
";

const RADIUS_USERS: &str = "alice\tCleartext-Password := \"alicepw\"\n\tService-Type = Framed-User,\n\tFramed-Protocol = PPP,\n\tFramed-IP-Address = 100.64.0.77,\n\tFilter-Id = \"silver\",\n\tSession-Timeout = 3600,\n\tAcct-Interim-Interval = 60,\n\tFramed-IPv6-Prefix = 2001:db8:1000:77::/64,\n\tDelegated-IPv6-Prefix = 2001:db8:2000:7700::/56\n";
/// alice's prefixes from RADIUS (RFC 3162 section 2.3, RFC 4818), inside [`SLAAC_NET`]
/// and [`PD_NET`] (the pools would give other ones).
const ALICE_SLAAC: &str = "2001:db8:1000:77::/64";
const ALICE_PD: &str = "2001:db8:2000:7700::/56";

#[test]
fn bng_pppoe_radius_chap() {
    radius_case("bng_pppoe_radius_chap", "bngrc", "chap");
}

#[test]
fn bng_pppoe_radius_pap() {
    radius_case("bng_pppoe_radius_pap", "bngrp", "pap");
}

fn radius_case(test: &str, tag: &str, ppp_auth: &str) {
    if !require(test, &["ip", "tshark", "freeradius", "radclient"]) {
        return;
    }
    let Some(image) = vm::image(test) else { return };
    let dir = workdir(test);
    let lab = lab(tag, &dir);
    // FreeRADIUS on the gateway namespace's loopback
    let rd = dir.join("raddb");
    freeradius::raddb(&rd, 1812, 1813, RADIUS_POLICY, RADIUS_USERS);
    let mut fr = freeradius::start(&lab.ns, &rd, &dir.join("freeradius.log"));
    std::fs::write(dir.join("radius.secret"), "testing123\n").unwrap();
    std::fs::write(dir.join("coa.secret"), "coasecret\n").unwrap();
    let cfg = config(
        &dir,
        "radius",
        ppp_auth,
        "afpacket",
        r#"
[radius]
interim_interval = 300

[[radius.servers]]
auth = "127.0.0.1:1812"
acct = "127.0.0.1:1813"
secret_file = "radius.secret"
timeout_ms = 1000
retries = 2

[coa]
listen = "127.0.0.1:3799"
clients = [{ address = "127.0.0.1", secret_file = "coa.secret" }]
"#,
    );
    // dual stack on the CHAP run: alice's /64 and delegated prefix come from RADIUS
    let v6 = ppp_auth == "chap";
    if v6 {
        std::fs::write(&cfg, std::fs::read_to_string(&cfg).unwrap() + V6_POOLS).unwrap();
        dual_stack(&lab, &cfg);
    }
    let mut bng = common::bng::start(&lab.ns, &cfg, &dir, &[]);
    let mut params = vec![
        ("scenario", "pppoe"),
        ("expect", "ip"),
        ("ping_to", SERVER),
        ("hold", "1"),
        ("timeout", "100"),
        ("user", "alice"),
        ("password", "alicepw"),
    ];
    if v6 {
        params.extend([("pppdopts", "+ipv6"), ("ping6_to", SERVER6), ("pd", "1")]);
    }
    let run = image.boot(&lab.ns, "tap0", &params, &dir);
    let up = wait_vm(&run, 150, "ipcp");
    let pinged = up && wait_vm(&run, 30, "pingto");
    // IPv6 before the CoA and the Disconnect end the session
    let pinged6 = !v6 || (pinged && wait_vm(&run, 40, "ping6") && wait_vm(&run, 40, "pingpd"));
    let before = metrics(&lab.ns);
    let ts = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    // CoA: Filter-Id names the gold profile (RFC 5176 section 3.2)
    let coa = radclient(
        &lab.ns,
        "coa",
        &format!("User-Name=alice,Filter-Id=gold,Event-Timestamp={ts},Message-Authenticator=0x00"),
    );
    let changed = wait_for(Duration::from_secs(20), "CoA in the log", || {
        bng.log().contains("CoA: rate changed")
    });
    // the metrics snapshot is rendered every 500 ms
    let mut after = String::new();
    wait_for(Duration::from_secs(20), "gold rate in /metrics", || {
        after = metrics(&lab.ns);
        after.contains("direction=\"down\"} 50000000")
    });
    // Disconnect-Request: LCP Terminate-Request + PADT
    let disc = radclient(
        &lab.ns,
        "disconnect",
        &format!("User-Name=alice,Event-Timestamp={ts},Message-Authenticator=0x00"),
    );
    let report = run.finish(Duration::from_secs(60));
    bng.stop();
    let console = &report.console;
    let log = bng.log();
    assert!(
        up,
        "{test}: pppd did not reach IPCP.\n{console}\n{log}\n{}",
        fr.log()
    );
    assert!(
        pinged,
        "{test}: ping through NAT44 failed.\n{console}\n{log}"
    );
    assert!(
        console.contains("100.64.0.77"),
        "Framed-IP-Address not used:\n{console}"
    );
    assert!(
        pinged6,
        "{test}: IPv6 (SLAAC from Framed-IPv6-Prefix, IA_PD of Delegated-IPv6-Prefix) failed.\n{console}\n{log}"
    );
    assert!(coa.contains("Received CoA-ACK"), "{coa}\n{log}");
    assert!(changed, "no rate change in the log:\n{log}");
    assert!(
        before.contains("direction=\"down\"} 10000000"),
        "silver rate before CoA:\n{before}"
    );
    assert!(
        after.contains("direction=\"down\"} 50000000"),
        "gold rate after CoA:\n{after}"
    );
    assert!(
        after.contains("bng_radius_request_seconds_count 1"),
        "{after}"
    );
    assert!(disc.contains("Received Disconnect-ACK"), "{disc}\n{log}");
    assert!(
        report.passed("terminated"),
        "{test}: pppd did not see the Disconnect.\n{console}\n{log}"
    );
    let detail = rd.join("log/radacct/detail");
    let ok = wait_for(Duration::from_secs(20), "detail Stop", || {
        std::fs::read_to_string(&detail).is_ok_and(|d| d.contains("Acct-Status-Type = Stop"))
    });
    let d = std::fs::read_to_string(&detail).unwrap_or_default();
    assert!(ok, "no Stop in the detail file:\n{d}\n{log}");
    for want in [
        "Acct-Status-Type = Start",
        "User-Name = \"alice\"",
        "Framed-IP-Address = 100.64.0.77",
        "Acct-Terminate-Cause = Admin-Reset",
        "NAS-Identifier = \"bngkit-test\"",
    ] {
        assert!(d.contains(want), "detail lacks {want}:\n{d}");
    }
    let up_file = lab.up_cap.finish();
    let seen = server_saw_pool_address(&up_file);
    assert!(seen >= 1, "the server saw no echo request from {NAT_ADDR}");
    if v6 {
        for net in [ALICE_SLAAC, ALICE_PD] {
            let n = common::bng::count(
                &up_file,
                &format!("icmpv6.type == 128 && ipv6.src == {net}"),
            );
            assert!(n >= 1, "the server saw no echo request from {net} (RADIUS)");
        }
    }
    let cap = assert_clean_capture(&lab.tap_cap.finish());
    fr.stop();
    drop(lab.server);
    let padi_to_ipcp = vm_t(console, "ipcp").zip(vm_t(console, "discovery"));
    eprintln!(
        "{test}: PADS->IPCP {:.2} s (VM clock)",
        padi_to_ipcp.map_or(f64::NAN, |(i, d)| i - d)
    );
    eprintln!(
        "{test}: {ppp_auth} via FreeRADIUS, Framed-IP-Address used, ping through NAT44 ({seen} at the server), \
         CoA silver->gold, Disconnect ended the session, Start/Stop in the detail file; tshark: {} frames, 0 malformed",
        cap.frames
    );
}

/// pppd in the VM on a VLAN interface (`bng.vlan`: 802.1Q `eth0.100`, or QinQ
/// `eth0.200.10` with an 802.1ad S-tag) against bng with only that VLAN range
/// configured (`untagged = false`): PPPoE discovery, the session and the ping through
/// NAT44 all run tagged; tshark finds the tags in QEMU's dump of the VM's NIC (`tagged`
/// filter) and no malformed frame; the server sees the pool address.
/// The IPoE part `vlan_case` adds for busybox udhcpc in the VM (the `dhcp` scenario).
const IPOE_EXTRA: &str = r#"
[ipoe]
enabled = true
gateway = "100.65.0.1"
pool = "ipoe"

[[pools.v4]]
name = "ipoe"
first = "100.65.0.10"
last = "100.65.0.200"
"#;

fn vlan_case(test: &str, tag: &str, access: &str, vlan: &str, tagged: &str, ipoe: bool) {
    if !require(test, &["ip", "tshark"]) {
        return;
    }
    let Some(image) = vm::image(test) else { return };
    let dir = workdir(test);
    let lab = lab(tag, &dir);
    // AF_XDP: the kernel moves a received VLAN tag out of the frame before AF_PACKET
    // sees it (`tp_vlan_tci`, which our TPACKET_V3 ring does not put back yet); XDP
    // runs before that and keeps the tags in the frame
    let extra = if ipoe { IPOE_EXTRA } else { "" };
    let cfg = config(&dir, "local", "chap", "afxdp", extra);
    let toml = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(
        &cfg,
        toml.replacen("[access]\n", &format!("[access]\n{access}"), 1),
    )
    .unwrap();
    let mut bng = common::bng::start(&lab.ns, &cfg, &dir, &[]);
    let dump = dir.join("vm-nic.pcap");
    let (scenario, up_check) = if ipoe {
        ("dhcp", "lease")
    } else {
        ("pppoe", "ipcp")
    };
    let run = image.boot_dump(
        &lab.ns,
        "tap0",
        &[
            ("scenario", scenario),
            ("vlan", vlan),
            ("expect", "ip"),
            ("ping_to", SERVER),
            ("timeout", "60"),
            ("user", "bob"),
            ("password", "bobpw"),
        ],
        &dir,
        Some(&dump),
    );
    let up = wait_vm(&run, 150, up_check);
    let pinged = up && wait_vm(&run, 30, "pingto");
    bng.stop();
    let report = run.finish(Duration::from_secs(60));
    let console = &report.console;
    let log = bng.log();
    assert!(up, "{test}: no {up_check} in the VM.\n{console}\n{log}");
    assert!(pinged, "{test}: no ping through NAT44.\n{console}\n{log}");
    assert!(log.contains("session up"), "{log}");
    let seen = server_saw_pool_address(&lab.up_cap.finish());
    assert!(seen >= 1, "the server saw no echo request from {NAT_ADDR}");
    // the TAP capture misses what AF_XDP moves: QEMU's dump of the VM's NIC has it all
    drop(lab.tap_cap.finish());
    let tap = dump;
    assert_clean_capture(&tap);
    let control = if ipoe { "dhcp" } else { "pppoed" };
    let setup = common::bng::count(&tap, &format!("{control} && {tagged}"));
    let data = common::bng::count(&tap, &format!("icmp && {tagged}"));
    let untagged = common::bng::count(&tap, "(pppoed || pppoes || dhcp || icmp) && !vlan");
    eprintln!("{test}: tagged {control} {setup}, tagged ICMP {data}, untagged {untagged}");
    assert!(setup >= 4, "PADI/PADO/PADR/PADS or DORA tagged: {setup}");
    assert!(data >= 6, "tagged ICMP both ways: {data}");
    assert_eq!(untagged, 0);
    drop(lab.server);
}

#[test]
fn bng_pppoe_dot1q_vlan() {
    vlan_case(
        "bng_pppoe_dot1q_vlan",
        "bpvq",
        "untagged = false\nvlans = [\"100-199\"]\n",
        "100",
        "vlan.id == 100 && !ieee8021ad",
        false,
    );
}

#[test]
fn bng_pppoe_qinq_vlan() {
    vlan_case(
        "bng_pppoe_qinq_vlan",
        "bpvd",
        "untagged = false\nvlans = [\"200-299\"]\ninner_vlans = [\"1-100\"]\n",
        "200.10",
        "ieee8021ad.id == 200 && vlan.id == 10",
        false,
    );
}

/// busybox udhcpc in the VM on a VLAN interface: IPoE over 802.1Q.
#[test]
fn bng_ipoe_dot1q_vlan_udhcpc() {
    vlan_case(
        "bng_ipoe_dot1q_vlan_udhcpc",
        "bivq",
        "untagged = false\nvlans = [\"100-199\"]\n",
        "150",
        "vlan.id == 150 && !ieee8021ad",
        true,
    );
}

/// busybox udhcpc in the VM on QinQ (802.1ad 300, 802.1Q 20): IPoE over QinQ.
#[test]
fn bng_ipoe_qinq_vlan_udhcpc() {
    vlan_case(
        "bng_ipoe_qinq_vlan_udhcpc",
        "bivd",
        "untagged = false\nvlans = [\"300-399\"]\ninner_vlans = [\"1-100\"]\n",
        "300.20",
        "ieee8021ad.id == 300 && vlan.id == 20",
        true,
    );
}

/// Measurement (`#[ignore]`d): `BNG_PPPD_SESSIONS` (default 20) pppd processes started
/// together in the VM on its one NIC (same MAC, one PPPoE session each) against bng
/// (local users, CHAP): the VM's clock from the start to every `ppp` interface
/// having its address, and bng's first to last `session up`. Run in release:
/// `cargo test --release -p bng-examples --test bng_pppoe -- --ignored --nocapture`.
#[test]
#[ignore = "measurement: run by hand (release build), figures in BENCHMARKS.md"]
fn bng_pppoe_sessions_per_second_pppd() {
    let test = "bng_pppoe_sessions_per_second_pppd";
    if !require(test, &["ip"]) {
        return;
    }
    let Some(image) = vm::image(test) else { return };
    let n: usize = std::env::var("BNG_PPPD_SESSIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20)
        .clamp(1, 150);
    let count = n.to_string();
    let dir = workdir(test);
    let lab = lab("bpsm", &dir);
    let cfg = config(&dir, "local", "chap", "afpacket", "");
    let mut bng = common::bng::start(&lab.ns, &cfg, &dir, &[]);
    let run = image.boot(
        &lab.ns,
        "tap0",
        &[
            ("scenario", "pppoe-many"),
            ("count", &count),
            ("timeout", "90"),
            ("user", "bob"),
            ("password", "bobpw"),
        ],
        &dir,
    );
    let all = wait_vm(&run, 180, "all-up");
    let report = run.finish(Duration::from_secs(30));
    bng.stop();
    let console = &report.console;
    let log = bng.log();
    let ups = common::bng::session_up_times(&log);
    assert!(all, "{test}: not all {n} sessions up.\n{console}\n{log}");
    let vm_secs = vm_t(console, "all-up").zip(vm_t(console, "started"));
    let span = ups.last().zip(ups.first()).map_or(0.0, |(l, f)| l - f);
    let release = common::bng::PROFILE;
    #[allow(clippy::cast_precision_loss, reason = "counts")]
    let rate = |secs: f64| n as f64 / secs;
    eprintln!(
        "{test}: bng ({release}) {n} pppd sessions (CHAP, IPCP) in the VM: all up {:.2} s after \
         the start (VM clock) = {:.1} sessions/s; bng first to last session up {span:.2} s",
        vm_secs.map_or(f64::NAN, |(a, s)| a - s),
        vm_secs.map_or(f64::NAN, |(a, s)| rate(a - s)),
    );
    assert_eq!(ups.len(), n, "{log}");
    drop(lab.server);
}
