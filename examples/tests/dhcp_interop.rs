//! Interop: our DHCPv4 server (`dhcp-server`, `bng-dhcp` over AF_PACKET) in one
//! namespace gives leases to real clients in another — ISC dhclient (lease, renewal,
//! release), busybox udhcpc (lease, release) and dhcpcd (lease) — and tshark decodes
//! every frame we send without a malformed flag. Recipe and pitfalls:
//! `../shared/lab/dhcp.sh` (private lease/pid files, a hook script that configures the
//! address so unicast renewals work, dhcpcd's run and DB dirs bind-mounted).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::too_many_lines,
    clippy::many_single_char_names,
    reason = "tests"
)]

use core::time::Duration;
use std::path::Path;

use bng_testkit::netns::{Capture, Netns, Peer, require, veth, wait_for, workdir};

mod common;
use common::dhcp_clients::{
    DHCPCD_CONF, Dhcpcd, dhclient_cmd, dhclient_files, dhcpcd, spawn_udhcpc, wait_link_local,
};
use common::{assert_clean_capture, grep_count, no_dad, text, wait_log, write_exec};

const HOOK: &str = r#"#!/bin/sh
LOG="$(dirname "$0")/hook.log"
echo "reason=${reason:-$1} ip=${new_ip_address:-${ip:-}} lease=${new_dhcp_lease_time:-${lease:-}}" >> "$LOG"
case "${reason:-$1}" in
  BOUND|RENEW|REBIND|REBOOT) [ -n "${new_ip_address:-}" ] && ip addr replace "$new_ip_address/${new_subnet_mask:-32}" dev "$interface" ;;
  bound|renew) [ -n "${ip:-}" ] && ip addr replace "$ip/${mask:-32}" dev "$interface" ;;
esac
exit 0
"#;

/// A server namespace and a client namespace joined by `veth0`; the server side has
/// `100.64.0.1/16`.
fn v4_link(server_tag: &str, client_tag: &str) -> (Netns, Netns) {
    let s = Netns::new(server_tag);
    let c = Netns::new(client_tag);
    veth(&s, "veth0", &c, "veth0");
    s.ip(&["addr", "add", "100.64.0.1/16", "dev", "veth0"]);
    (s, c)
}

/// As [`v4_link`] for IPv6: no duplicate address detection delay on the lab link,
/// `2001:db8:1::1/64` on the server side, and both link-local addresses up on return.
fn v6_link(server_tag: &str, client_tag: &str) -> (Netns, Netns) {
    let s = Netns::new(server_tag);
    let c = Netns::new(client_tag);
    for ns in [&s, &c] {
        no_dad(ns);
    }
    veth(&s, "veth0", &c, "veth0");
    s.ip(&[
        "-6",
        "addr",
        "add",
        "2001:db8:1::1/64",
        "dev",
        "veth0",
        "nodad",
    ]);
    // wait (bounded) for both link-local addresses: dhclient -6 exits at once without
    // one ("no link-local IPv6 address for veth0")
    for ns in [&s, &c] {
        wait_link_local(ns, "veth0");
    }
    (s, c)
}

/// Starts our `dhcp-server` on `veth0` in `s` with `args` (log `dir/server.log`) and
/// waits (10 s) until it is ready.
fn start_server(s: &Netns, dir: &Path, args: &[&str]) -> Peer {
    let mut cmd = vec![env!("CARGO_BIN_EXE_dhcp-server"), "--iface", "veth0"];
    cmd.extend_from_slice(args);
    let server = s.spawn("dhcp-server", &cmd, &dir.join("server.log"));
    wait_log(&server, 10, "server ready", "ready");
    server
}

/// Kea's own log file (`dir/kea<v>.log`, named in its config's logger).
fn kea_log(dir: &Path, v: char) -> String {
    std::fs::read_to_string(dir.join(format!("kea{v}.log"))).unwrap_or_default()
}

/// Starts `kea-dhcp<v>` (`v` is `4` or `6`) in `s` with the config `conf` (written to
/// `dir/kea<v>.json`), its PID file in `dir/run`, and waits (15 s) for `DHCP<v>_STARTED`.
fn start_kea(s: &Netns, dir: &Path, v: char, conf: &str) -> Peer {
    let conf_file = dir.join(format!("kea{v}.json"));
    std::fs::write(&conf_file, conf).unwrap();
    let run_dir = dir.join("run");
    std::fs::create_dir_all(&run_dir).unwrap();
    let pid_env = format!("KEA_PIDFILE_DIR={}", run_dir.display());
    let name = format!("kea-dhcp{v}");
    let kea = s.spawn(
        &name,
        &[
            "env",
            &pid_env,
            "KEA_LOCKFILE_DIR=none",
            &name,
            "-c",
            conf_file.to_str().unwrap(),
        ],
        &dir.join(format!("kea{v}.stdout")),
    );
    let started = format!("DHCP{v}_STARTED");
    assert!(
        wait_for(Duration::from_secs(15), "kea started", || kea_log(dir, v)
            .contains(&started)),
        "kea: {}\n{}",
        kea.log(),
        kea_log(dir, v)
    );
    kea
}

#[test]
fn real_clients_get_leases_from_our_server() {
    const T: &str = "real_clients_get_leases_from_our_server";
    if !require(
        T,
        &[
            "ip", "tshark", "dhclient", "udhcpc", "dhcpcd", "mount", "timeout",
        ],
    ) {
        return;
    }
    let dir = workdir(T);
    let hook = dir.join("hook.sh");
    write_exec(&hook, HOOK);
    let (s, c) = v4_link("dhs", "dhc");
    let cap = Capture::start(&s, "veth0", &dir.join("veth0.pcapng"));
    let mut server = start_server(
        &s,
        &dir,
        &[
            "--server-ip",
            "100.64.0.1",
            "--pool-start",
            "100.64.1.10",
            "--pool-size",
            "100",
            "--router",
            "100.64.0.1",
            "--dns",
            "100.64.0.1",
            "--lease",
            "12",
            "--max-seconds",
            "150",
        ],
    );
    let flush = || {
        c.ip(&["addr", "flush", "dev", "veth0", "scope", "global"]);
    };

    // ---- ISC dhclient: lease, a renewal at T1 (lease 12 s -> T1 6 s), release ----
    let files = dhclient_files(
        &dir,
        "dhclient",
        Some(
            "send dhcp-client-identifier = hardware;\nrequest subnet-mask, routers, domain-name-servers;\n",
        ),
        &hook,
    );
    let cmd = dhclient_cmd(
        &["timeout", "40", "dhclient", "-4", "-d", "-v", "-1"],
        &files,
    );
    let dh = c.spawn("dhclient", &cmd, &dir.join("dhclient.log"));
    assert!(
        wait_for(Duration::from_secs(30), "dhclient bound", || dh
            .log()
            .contains("bound to 100.64.1.")),
        "dhclient: {}\nserver: {}",
        dh.log(),
        server.log()
    );
    // a renewal: dhclient unicasts a REQUEST at T1 and logs a second "bound to"
    assert!(
        wait_for(Duration::from_secs(20), "dhclient renewal", || grep_count(
            &dh.log(),
            "bound to"
        ) >= 2),
        "dhclient did not renew: {}\nserver: {}",
        dh.log(),
        server.log()
    );
    assert!(
        server.log().contains("Unicast("),
        "the renewal ACK is unicast to ciaddr"
    );
    let rel = dhclient_cmd(&["timeout", "20", "dhclient", "-4", "-r", "-v"], &files);
    let rel_log = text(&c.command(&rel).output().unwrap());
    assert!(rel_log.contains("DHCPRELEASE"), "dhclient -r: {rel_log}");
    assert!(
        wait_for(Duration::from_secs(10), "server saw RELEASE", || server
            .log()
            .contains("Released")),
        "server: {}",
        server.log()
    );
    drop(dh);
    flush();

    // ---- busybox udhcpc: lease, then SIGUSR2 makes it release (busybox udhcpc(8)) ----
    let ud = spawn_udhcpc(
        &c,
        &dir.join("udhcpc.log"),
        &hook,
        "1",
        &["-V", "bngkit-udhcpc"],
    );
    assert!(
        wait_for(Duration::from_secs(20), "udhcpc lease", || ud
            .log()
            .contains("obtained")),
        "udhcpc: {}\nserver: {}",
        ud.log(),
        server.log()
    );
    bng_testkit::netns::run(&["kill", "-USR2", &ud.pid().to_string()]);
    assert!(
        wait_for(
            Duration::from_secs(10),
            "server saw udhcpc's RELEASE",
            || { grep_count(&server.log(), "Released") >= 2 }
        ),
        "udhcpc: {}\nserver: {}",
        ud.log(),
        server.log()
    );
    drop(ud);
    flush();

    // ---- dhcpcd: lease (its run and DB dirs bind-mounted in the netns mount namespace) ----
    let dlog = dhcpcd(
        &c,
        &dir,
        Dhcpcd {
            family: "-4",
            wait_secs: "15",
            conf_name: "dhcpcd.conf",
            conf: DHCPCD_CONF,
        },
        &hook,
    );
    assert!(
        dlog.contains("leased 100.64.1."),
        "dhcpcd: {dlog}\nserver: {}",
        server.log()
    );
    flush();

    // ---- every frame we sent decodes cleanly ----
    let file = cap.finish();
    server.stop();
    let slog = server.log();
    eprintln!("server log:\n{slog}");
    assert!(
        grep_count(&slog, "tx type=OFFER") >= 3,
        "offers to the three clients"
    );
    assert!(
        grep_count(&slog, "tx type=ACK") >= 4,
        "ACKs incl. the renewal"
    );
    let d = assert_clean_capture(&file);
    let dhcp_frames = d.protocols.iter().filter(|p| p.contains("dhcp")).count();
    eprintln!("tshark: {dhcp_frames} DHCP frames");
    assert!(dhcp_frames >= 10, "{:?}", d.protocols);
}

/// DHCPv6 (RFC 8415): ISC dhclient -6 and dhcpcd -6 get an address (IA_NA) and a
/// delegated prefix (IA_PD) from our server; dhclient renews at T1 and releases.
#[test]
fn real_clients_get_v6_address_and_prefix_from_our_server() {
    const T: &str = "real_clients_get_v6_address_and_prefix_from_our_server";
    if !require(
        T,
        &[
            "ip", "tshark", "dhclient", "dhcpcd", "mount", "unshare", "timeout", "sysctl",
        ],
    ) {
        return;
    }
    let dir = workdir(T);
    let hook = dir.join("hook.sh");
    write_exec(&hook, HOOK);
    let (s, c) = v6_link("d6s", "d6c");
    let cap = Capture::start(&s, "veth0", &dir.join("veth0.pcapng"));
    let mut server = start_server(
        &s,
        &dir,
        &[
            "--server-ip",
            "100.64.0.1",
            "--pool-start",
            "100.64.1.10",
            "--v6-src",
            "2001:db8:1::1",
            "--na-start",
            "2001:db8:1::1000",
            "--pd-base",
            "2001:db8:100::",
            "--pd-len",
            "56",
            "--lease",
            "10",
            "--max-seconds",
            "120",
        ],
    );

    // ---- dhclient -6 -N -P: IA_NA + IA_PD, a renewal at T1 (5 s), release ----
    let files = dhclient_files(&dir, "d6", Some("request dhcp6.name-servers;\n"), &hook);
    let cmd = dhclient_cmd(
        &[
            "timeout", "40", "dhclient", "-6", "-d", "-v", "-1", "-N", "-P",
        ],
        &files,
    );
    let dh = c.spawn("dhclient -6", &cmd, &dir.join("dhclient6.log"));
    assert!(
        wait_for(Duration::from_secs(30), "dhclient -6 bound", || dh
            .log()
            .contains("Bound to lease")),
        "dhclient -6: {}\nserver: {}",
        dh.log(),
        server.log()
    );
    let log = dh.log();
    assert!(log.contains("IAADDR 2001:db8:1::"), "IA_NA address: {log}");
    assert!(
        log.contains("IAPREFIX 2001:db8:100::/56"),
        "IA_PD prefix: {log}"
    );
    assert!(
        wait_for(Duration::from_secs(20), "dhclient -6 renewal", || {
            server.log().contains("rx6 type=Ok(RENEW)")
        }),
        "no RENEW: {}\nserver: {}",
        dh.log(),
        server.log()
    );
    // dhclient -r reads and rewrites the lease file: start it only once the running
    // dhclient has processed the renewal's Reply and written its lease (under load, a
    // release started at the server's RENEW raced that write and found no lease)
    let leases = dir.join("d6.leases");
    assert!(
        wait_for(
            Duration::from_secs(20),
            "dhclient -6 renewed and wrote its lease",
            || {
                dh.log().matches("Bound to lease").count() >= 2
                    && std::fs::read_to_string(&leases).is_ok_and(|l| l.contains("lease6"))
            }
        ),
        "dhclient -6: {}",
        dh.log()
    );
    let rel = dhclient_cmd(&["timeout", "20", "dhclient", "-6", "-r", "-v"], &files);
    let _ = c.command(&rel).output().unwrap();
    assert!(
        wait_for(Duration::from_secs(10), "server saw RELEASE", || server
            .log()
            .contains("Released")),
        "server: {}",
        server.log()
    );
    drop(dh);
    c.ip(&["-6", "addr", "flush", "dev", "veth0", "scope", "global"]);

    // ---- dhcpcd -6 with ia_na and ia_pd ----
    let conf6 = format!("{DHCPCD_CONF}interface veth0\n  ia_na 1\n  ia_pd 2\n");
    let dlog = dhcpcd(
        &c,
        &dir,
        Dhcpcd {
            family: "-6",
            wait_secs: "15",
            conf_name: "dhcpcd6.conf",
            conf: &conf6,
        },
        &hook,
    );
    assert!(
        dlog.contains("adding address 2001:db8:1::"),
        "dhcpcd -6: {dlog}\nserver: {}",
        server.log()
    );
    assert!(
        dlog.contains("delegated prefix 2001:db8:100:"),
        "dhcpcd -6: {dlog}"
    );

    let file = cap.finish();
    server.stop();
    eprintln!("server log:\n{}", server.log());
    let d = assert_clean_capture(&file);
    let dhcp6 = d.protocols.iter().filter(|p| p.contains("dhcpv6")).count();
    eprintln!("tshark: {dhcp6} DHCPv6 frames");
    assert!(dhcp6 >= 8, "{:?}", d.protocols);
}

/// Our DHCPv4 client (`dhcp-client`, the `bng-dhcp` client machine over AF_PACKET)
/// gets a lease from Kea 2.2 (`kea-dhcp4`, raw sockets), renews it twice and releases it.
#[test]
fn our_client_gets_a_lease_from_kea() {
    const T: &str = "our_client_gets_a_lease_from_kea";
    if !require(T, &["ip", "tshark", "kea-dhcp4"]) {
        return;
    }
    let dir = workdir(T);
    let (s, c) = v4_link("kes", "kec");
    let leases = dir.join("kea-leases4.csv");
    let conf = format!(
        r#"{{ "Dhcp4": {{
  "interfaces-config": {{ "interfaces": [ "veth0" ], "dhcp-socket-type": "raw" }},
  "lease-database": {{ "type": "memfile", "persist": true, "name": "{}", "lfc-interval": 0 }},
  "valid-lifetime": 10, "renew-timer": 3, "rebind-timer": 8,
  "subnet4": [ {{ "id": 1, "subnet": "100.64.0.0/16",
      "pools": [ {{ "pool": "100.64.1.10 - 100.64.1.250" }} ],
      "option-data": [ {{ "name": "routers", "data": "100.64.0.1" }} ] }} ],
  "loggers": [ {{ "name": "kea-dhcp4", "output_options": [ {{ "output": "{}" }} ], "severity": "INFO" }} ]
}} }}"#,
        leases.display(),
        dir.join("kea4.log").display()
    );
    let cap = Capture::start(&s, "veth0", &dir.join("veth0.pcapng"));
    let kea = start_kea(&s, &dir, '4', &conf);
    let kea_log = || kea_log(&dir, '4');
    let out = c
        .command(&[
            env!("CARGO_BIN_EXE_dhcp-client"),
            "--iface",
            "veth0",
            "--renewals",
            "2",
            "--release",
            "--configure",
            "--max-seconds",
            "40",
        ])
        .output()
        .unwrap();
    let log = text(&out);
    eprintln!("client:\n{log}");
    assert_eq!(
        grep_count(&log, "bound addr=100.64.1."),
        3,
        "a lease and two renewals: {log}\nkea: {}",
        kea_log()
    );
    assert!(log.contains("router=Some(100.64.0.1)"), "{log}");
    assert!(
        log.contains("dst=Server(100.64.0.1)"),
        "renewals are unicast to the server: {log}"
    );
    assert!(log.contains("tx type=RELEASE"), "{log}");
    assert!(
        wait_for(Duration::from_secs(20), "kea logged the release", || {
            kea_log().contains("DHCP4_RELEASE")
        }),
        "kea: {}",
        kea_log()
    );
    let file = cap.finish();
    drop(kea);
    assert_clean_capture(&file);
}

/// Our DHCPv6 client (`dhcp6-client`, IA_NA + IA_PD over AF_PACKET) gets an address and
/// a delegated prefix from Kea 2.2 (`kea-dhcp6`) and renews them.
#[test]
fn our_v6_client_gets_address_and_prefix_from_kea() {
    const T: &str = "our_v6_client_gets_address_and_prefix_from_kea";
    if !require(T, &["ip", "tshark", "kea-dhcp6", "sysctl"]) {
        return;
    }
    let dir = workdir(T);
    let (s, c) = v6_link("k6s", "k6c");
    let conf = format!(
        r#"{{ "Dhcp6": {{
  "interfaces-config": {{ "interfaces": [ "veth0" ] }},
  "server-id": {{ "type": "LL", "persist": false }},
  "lease-database": {{ "type": "memfile", "persist": false }},
  "preferred-lifetime": 4, "valid-lifetime": 10, "renew-timer": 2, "rebind-timer": 3,
  "subnet6": [ {{ "id": 1, "subnet": "2001:db8:1::/64", "interface": "veth0",
      "pools": [ {{ "pool": "2001:db8:1::1000 - 2001:db8:1::ffff" }} ],
      "pd-pools": [ {{ "prefix": "2001:db8:100::", "prefix-len": 40, "delegated-len": 56 }} ] }} ],
  "loggers": [ {{ "name": "kea-dhcp6", "output_options": [ {{ "output": "{}" }} ], "severity": "INFO" }} ]
}} }}"#,
        dir.join("kea6.log").display()
    );
    let cap = Capture::start(&s, "veth0", &dir.join("veth0.pcapng"));
    let kea = start_kea(&s, &dir, '6', &conf);
    let kea_log = || kea_log(&dir, '6');
    let out = c
        .command(&[
            env!("CARGO_BIN_EXE_dhcp6-client"),
            "--iface",
            "veth0",
            "--renewals",
            "2",
            "--max-seconds",
            "40",
        ])
        .output()
        .unwrap();
    let log = text(&out);
    eprintln!("client:\n{log}");
    assert_eq!(
        grep_count(&log, "bound address=Some((2001:db8:1::"),
        3,
        "a lease and two renewals: {log}\nkea: {}",
        kea_log()
    );
    assert!(
        log.contains("prefix=Some((2001:db8:1"),
        "a delegated prefix: {log}"
    );
    assert!(log.contains("tx type=Ok(RENEW)"), "{log}");
    let file = cap.finish();
    drop(kea);
    assert_clean_capture(&file);
}
