//! The real DHCP clients of the interop tests — ISC dhclient (v4 and v6), busybox
//! udhcpc and dhcpcd — run on `veth0` of a client namespace with private lease, pid and
//! run files (recipe and pitfalls: `../shared/lab/dhcp.sh`), each calling a hook script
//! the test writes.

use core::time::Duration;
use std::path::Path;

use bng_testkit::netns::{Netns, Peer, wait_for};

use super::text;

/// A dhcpcd configuration for a one-shot DHCPv4 lease: no router solicitation, no ARP
/// probe, none of the system hooks.
pub const DHCPCD_CONF: &str =
    "noipv6rs\nnoarp\nnohook resolv.conf, timesyncd, ntp.conf, wpa_supplicant, hostname\n";

/// busybox udhcpc's hook script for a routed lease: the leased address as a /32, the
/// router on-link and the default route through it.
pub const UDHCPC_ROUTED_HOOK: &str = r#"#!/bin/sh
case "$1" in
  bound|renew) ip addr replace "$ip/32" dev "$interface"
    G="${router%% *}"
    [ -n "$G" ] && ip route replace "$G" dev "$interface" && ip route replace default via "$G"
    echo "hook: $1 configured" ;;
esac
exit 0
"#;

/// Waits up to `secs` for udhcpc's lease to be in place: [`UDHCPC_ROUTED_HOOK`] has
/// configured the address and routes (`hook: bound configured` in udhcpc's log; its
/// `obtained` line comes before the hook runs, and a ping right after it could find no
/// route), else panics with its log and the gateway's.
pub fn wait_udhcpc_lease(ud: &Peer, secs: u64, what: &str, gateway: &Peer) {
    assert!(
        wait_for(Duration::from_secs(secs), what, || ud
            .log()
            .contains("hook: bound configured")),
        "udhcpc: {}\nbng: {}",
        ud.log(),
        gateway.log()
    );
}

/// dhclient's private lease and pid files (`dir/<stem>.{leases,pid}`), with `conf` its
/// config file `dir/<stem>.conf` (else the system's), and the hook script, as its
/// `-lf -pf [-cf] -sf` arguments.
pub fn dhclient_files(dir: &Path, stem: &str, conf: Option<&str>, hook: &Path) -> Vec<String> {
    let path = |p: &Path| p.to_str().unwrap().to_owned();
    let mut v = vec![
        "-lf".into(),
        path(&dir.join(format!("{stem}.leases"))),
        "-pf".into(),
        path(&dir.join(format!("{stem}.pid"))),
    ];
    if let Some(conf) = conf {
        let cf = dir.join(format!("{stem}.conf"));
        std::fs::write(&cf, conf).unwrap();
        v.extend(["-cf".into(), path(&cf)]);
    }
    v.extend(["-sf".into(), path(hook)]);
    v
}

/// A dhclient command line: `head`, the files from [`dhclient_files`], `veth0`.
pub fn dhclient_cmd<'a>(head: &[&'a str], files: &'a [String]) -> Vec<&'a str> {
    let mut cmd = head.to_vec();
    cmd.extend(files.iter().map(String::as_str));
    cmd.push("veth0");
    cmd
}

/// Starts busybox udhcpc in the foreground on `veth0` of `c` with the hook script
/// (5 discovers `retry_secs` apart, 1 s after a failure), plus `extra` arguments; its
/// output goes to `log`.
pub fn spawn_udhcpc(c: &Netns, log: &Path, hook: &Path, retry_secs: &str, extra: &[&str]) -> Peer {
    let mut args = vec![
        "udhcpc",
        "-i",
        "veth0",
        "-f",
        "-t",
        "5",
        "-T",
        retry_secs,
        "-A",
        "1",
        "-s",
        hook.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    c.spawn("udhcpc", &args, log)
}

/// What [`dhcpcd`] runs: `family` (`-4` or `-6`), how long it waits for a lease
/// (`-t`), and its configuration `conf`, written to `dir/<conf_name>`.
#[derive(Debug, Clone, Copy)]
pub struct Dhcpcd<'a> {
    /// `-4` or `-6`.
    pub family: &'a str,
    /// Seconds to wait for a lease (`-t`).
    pub wait_secs: &'a str,
    /// File name of the configuration in the work directory.
    pub conf_name: &'a str,
    /// The configuration.
    pub conf: &'a str,
}

/// Runs dhcpcd once (`-B -1 -d`, 40 s at most) on `veth0` in `c` with the hook; its run
/// and DB dirs are bind-mounted from `dir` in a private mount namespace. Returns its
/// output.
pub fn dhcpcd(c: &Netns, dir: &Path, run: Dhcpcd<'_>, hook: &Path) -> String {
    let run_dir = dir.join("dhcpcd-run");
    let db_dir = dir.join("dhcpcd-db");
    std::fs::create_dir_all(&run_dir).unwrap();
    std::fs::create_dir_all(&db_dir).unwrap();
    std::fs::create_dir_all("/var/lib/dhcpcd").unwrap();
    let conf_file = dir.join(run.conf_name);
    std::fs::write(&conf_file, run.conf).unwrap();
    let script = format!(
        "mount --bind {} /run && mount --bind {} /var/lib/dhcpcd && exec timeout 40 dhcpcd {} -B -1 -d -t {} -f {} -c {} veth0",
        run_dir.display(),
        db_dir.display(),
        run.family,
        run.wait_secs,
        conf_file.display(),
        hook.display()
    );
    let out = c
        .command(&["unshare", "-m", "sh", "-c", &script])
        .output()
        .unwrap();
    text(&out)
}

/// Waits (10 s at most) until `dev` in `ns` has its IPv6 link-local address (dhclient -6
/// and dhcrelay -6 exit at once without one); fails the test otherwise.
pub fn wait_link_local(ns: &Netns, dev: &str) {
    assert!(
        wait_for(Duration::from_secs(10), "link-local address", || {
            let o = ns.exec(&[
                "ip", "-6", "-o", "addr", "show", "dev", dev, "scope", "link",
            ]);
            String::from_utf8_lossy(&o.stdout).contains("fe80::")
        }),
        "no link-local address on {dev}"
    );
}
