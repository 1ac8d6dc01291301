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

use bng_testkit::netns::{Capture, Netns, require, tshark_decode, veth, wait_for, workdir};

const HOOK: &str = r#"#!/bin/sh
LOG="$(dirname "$0")/hook.log"
echo "reason=${reason:-$1} ip=${new_ip_address:-${ip:-}} lease=${new_dhcp_lease_time:-${lease:-}}" >> "$LOG"
case "${reason:-$1}" in
  BOUND|RENEW|REBIND|REBOOT) [ -n "${new_ip_address:-}" ] && ip addr replace "$new_ip_address/${new_subnet_mask:-32}" dev "$interface" ;;
  bound|renew) [ -n "${ip:-}" ] && ip addr replace "$ip/${mask:-32}" dev "$interface" ;;
esac
exit 0
"#;

fn grep_count(text: &str, needle: &str) -> usize {
    text.lines().filter(|l| l.contains(needle)).count()
}

fn write_exec(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    bng_testkit::netns::run(&["chmod", "755", path.to_str().unwrap()]);
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
    let s = Netns::new("dhs");
    let c = Netns::new("dhc");
    veth(&s, "veth0", &c, "veth0");
    s.ip(&["addr", "add", "100.64.0.1/16", "dev", "veth0"]);
    let cap = Capture::start(&s, "veth0", &dir.join("veth0.pcapng"));
    let mut server = s.spawn(
        "dhcp-server",
        &[
            env!("CARGO_BIN_EXE_dhcp-server"),
            "--iface",
            "veth0",
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
        &dir.join("server.log"),
    );
    assert!(
        wait_for(Duration::from_secs(10), "server ready", || server
            .log()
            .contains("ready")),
        "server did not start: {}",
        server.log()
    );
    let flush = || {
        c.ip(&["addr", "flush", "dev", "veth0", "scope", "global"]);
    };

    // ---- ISC dhclient: lease, a renewal at T1 (lease 12 s -> T1 6 s), release ----
    let (lf, pf, cf) = (
        dir.join("dhclient.leases"),
        dir.join("dhclient.pid"),
        dir.join("dhclient.conf"),
    );
    std::fs::write(&cf, "send dhcp-client-identifier = hardware;\nrequest subnet-mask, routers, domain-name-servers;\n").unwrap();
    let (lf, pf, cf, hk) = (
        lf.to_str().unwrap().to_owned(),
        pf.to_str().unwrap().to_owned(),
        cf.to_str().unwrap().to_owned(),
        hook.to_str().unwrap().to_owned(),
    );
    let dargs = [
        "-lf",
        lf.as_str(),
        "-pf",
        pf.as_str(),
        "-cf",
        cf.as_str(),
        "-sf",
        hk.as_str(),
    ];
    let mut cmd = vec!["timeout", "40", "dhclient", "-4", "-d", "-v", "-1"];
    cmd.extend_from_slice(&dargs);
    cmd.push("veth0");
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
    let mut rel = vec!["timeout", "20", "dhclient", "-4", "-r", "-v"];
    rel.extend_from_slice(&dargs);
    rel.push("veth0");
    let out = c.command(&rel).output().unwrap();
    let rel_log =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
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
    let ud = c.spawn(
        "udhcpc",
        &[
            "udhcpc",
            "-i",
            "veth0",
            "-f",
            "-t",
            "5",
            "-T",
            "1",
            "-A",
            "1",
            "-s",
            hook.to_str().unwrap(),
            "-V",
            "bngkit-udhcpc",
        ],
        &dir.join("udhcpc.log"),
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
    let run_dir = dir.join("dhcpcd-run");
    let db_dir = dir.join("dhcpcd-db");
    std::fs::create_dir_all(&run_dir).unwrap();
    std::fs::create_dir_all(&db_dir).unwrap();
    std::fs::create_dir_all("/var/lib/dhcpcd").unwrap();
    let conf = dir.join("dhcpcd.conf");
    std::fs::write(
        &conf,
        "noipv6rs\nnoarp\nnohook resolv.conf, timesyncd, ntp.conf, wpa_supplicant, hostname\n",
    )
    .unwrap();
    let script = format!(
        "mount --bind {} /run && mount --bind {} /var/lib/dhcpcd && exec timeout 40 dhcpcd -4 -B -1 -d -t 15 -f {} -c {} veth0",
        run_dir.display(),
        db_dir.display(),
        conf.display(),
        hook.display()
    );
    let out = c
        .command(&["unshare", "-m", "sh", "-c", &script])
        .output()
        .unwrap();
    let dlog =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
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
    let d = tshark_decode(&file);
    let dhcp_frames = d.protocols.iter().filter(|p| p.contains("dhcp")).count();
    eprintln!(
        "tshark: {} frames, {dhcp_frames} DHCP, {} malformed",
        d.frames, d.malformed
    );
    assert!(dhcp_frames >= 10, "{:?}", d.protocols);
    assert_eq!(d.malformed, 0, "tshark flags frames in {}", file.display());
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
    let s = Netns::new("d6s");
    let c = Netns::new("d6c");
    for ns in [&s, &c] {
        // no duplicate address detection delay on the lab link
        ns.exec(&[
            "sysctl",
            "-qw",
            "net.ipv6.conf.default.accept_dad=0",
            "net.ipv6.conf.all.accept_dad=0",
        ]);
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
    let cap = Capture::start(&s, "veth0", &dir.join("veth0.pcapng"));
    let mut server = s.spawn(
        "dhcp-server",
        &[
            env!("CARGO_BIN_EXE_dhcp-server"),
            "--iface",
            "veth0",
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
        &dir.join("server.log"),
    );
    assert!(
        wait_for(Duration::from_secs(10), "server ready", || server
            .log()
            .contains("ready")),
        "server did not start: {}",
        server.log()
    );

    // ---- dhclient -6 -N -P: IA_NA + IA_PD, a renewal at T1 (5 s), release ----
    let (lf, pf, cf) = (
        dir.join("d6.leases"),
        dir.join("d6.pid"),
        dir.join("d6.conf"),
    );
    std::fs::write(&cf, "request dhcp6.name-servers;\n").unwrap();
    let (lf, pf, cf, hk) = (
        lf.to_str().unwrap().to_owned(),
        pf.to_str().unwrap().to_owned(),
        cf.to_str().unwrap().to_owned(),
        hook.to_str().unwrap().to_owned(),
    );
    let dargs = [
        "-lf",
        lf.as_str(),
        "-pf",
        pf.as_str(),
        "-cf",
        cf.as_str(),
        "-sf",
        hk.as_str(),
    ];
    let mut cmd = vec![
        "timeout", "40", "dhclient", "-6", "-d", "-v", "-1", "-N", "-P",
    ];
    cmd.extend_from_slice(&dargs);
    cmd.push("veth0");
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
    let mut rel = vec!["timeout", "20", "dhclient", "-6", "-r", "-v"];
    rel.extend_from_slice(&dargs);
    rel.push("veth0");
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
    let run_dir = dir.join("dhcpcd-run");
    let db_dir = dir.join("dhcpcd-db");
    std::fs::create_dir_all(&run_dir).unwrap();
    std::fs::create_dir_all(&db_dir).unwrap();
    std::fs::create_dir_all("/var/lib/dhcpcd").unwrap();
    let conf = dir.join("dhcpcd6.conf");
    std::fs::write(
        &conf,
        "noipv6rs\nnoarp\nnohook resolv.conf, timesyncd, ntp.conf, wpa_supplicant, hostname\ninterface veth0\n  ia_na 1\n  ia_pd 2\n",
    )
    .unwrap();
    let script = format!(
        "mount --bind {} /run && mount --bind {} /var/lib/dhcpcd && exec timeout 40 dhcpcd -6 -B -1 -d -t 15 -f {} -c {} veth0",
        run_dir.display(),
        db_dir.display(),
        conf.display(),
        hook.display()
    );
    let out = c
        .command(&["unshare", "-m", "sh", "-c", &script])
        .output()
        .unwrap();
    let dlog =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
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
    let d = tshark_decode(&file);
    let dhcp6 = d.protocols.iter().filter(|p| p.contains("dhcpv6")).count();
    eprintln!(
        "tshark: {} frames, {dhcp6} DHCPv6, {} malformed",
        d.frames, d.malformed
    );
    assert!(dhcp6 >= 8, "{:?}", d.protocols);
    assert_eq!(d.malformed, 0, "tshark flags frames in {}", file.display());
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
    let s = Netns::new("kes");
    let c = Netns::new("kec");
    veth(&s, "veth0", &c, "veth0");
    s.ip(&["addr", "add", "100.64.0.1/16", "dev", "veth0"]);
    let leases = dir.join("kea-leases4.csv");
    let conf = dir.join("kea4.json");
    std::fs::write(
        &conf,
        format!(
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
        ),
    )
    .unwrap();
    let run_dir = dir.join("run");
    std::fs::create_dir_all(&run_dir).unwrap();
    let pid_env = format!("KEA_PIDFILE_DIR={}", run_dir.display());
    let cap = Capture::start(&s, "veth0", &dir.join("veth0.pcapng"));
    let kea = s.spawn(
        "kea-dhcp4",
        &[
            "env",
            &pid_env,
            "KEA_LOCKFILE_DIR=none",
            "kea-dhcp4",
            "-c",
            conf.to_str().unwrap(),
        ],
        &dir.join("kea4.stdout"),
    );
    let kea_log = || std::fs::read_to_string(dir.join("kea4.log")).unwrap_or_default();
    assert!(
        wait_for(Duration::from_secs(15), "kea started", || kea_log()
            .contains("DHCP4_STARTED")),
        "kea: {}\n{}",
        kea.log(),
        kea_log()
    );
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
    let log =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
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
        wait_for(Duration::from_secs(5), "kea logged the release", || {
            kea_log().contains("DHCP4_RELEASE")
        }),
        "kea: {}",
        kea_log()
    );
    let file = cap.finish();
    drop(kea);
    let d = tshark_decode(&file);
    eprintln!("tshark: {} frames, {} malformed", d.frames, d.malformed);
    assert_eq!(d.malformed, 0, "tshark flags frames in {}", file.display());
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
    let s = Netns::new("k6s");
    let c = Netns::new("k6c");
    for ns in [&s, &c] {
        ns.exec(&[
            "sysctl",
            "-qw",
            "net.ipv6.conf.default.accept_dad=0",
            "net.ipv6.conf.all.accept_dad=0",
        ]);
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
    // wait (bounded) for both link-local addresses
    for ns in [&s, &c] {
        assert!(wait_for(
            Duration::from_secs(10),
            "link-local address",
            || {
                let o = ns.exec(&[
                    "ip", "-6", "-o", "addr", "show", "dev", "veth0", "scope", "link",
                ]);
                String::from_utf8_lossy(&o.stdout).contains("fe80::")
            }
        ));
    }
    let conf = dir.join("kea6.json");
    std::fs::write(
        &conf,
        format!(
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
        ),
    )
    .unwrap();
    let run_dir = dir.join("run");
    std::fs::create_dir_all(&run_dir).unwrap();
    let pid_env = format!("KEA_PIDFILE_DIR={}", run_dir.display());
    let cap = Capture::start(&s, "veth0", &dir.join("veth0.pcapng"));
    let kea = s.spawn(
        "kea-dhcp6",
        &[
            "env",
            &pid_env,
            "KEA_LOCKFILE_DIR=none",
            "kea-dhcp6",
            "-c",
            conf.to_str().unwrap(),
        ],
        &dir.join("kea6.stdout"),
    );
    let kea_log = || std::fs::read_to_string(dir.join("kea6.log")).unwrap_or_default();
    assert!(
        wait_for(Duration::from_secs(15), "kea6 started", || kea_log()
            .contains("DHCP6_STARTED")),
        "kea6: {}\n{}",
        kea.log(),
        kea_log()
    );
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
    let log =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
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
    let d = tshark_decode(&file);
    eprintln!("tshark: {} frames, {} malformed", d.frames, d.malformed);
    assert_eq!(d.malformed, 0, "tshark flags frames in {}", file.display());
}
