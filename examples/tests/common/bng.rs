//! The `bng` gateway binary in the interop tests: start it and wait until it is ready,
//! take the offloads off the links it forwards over, and count what the server saw.

use core::time::Duration;
use std::path::{Path, PathBuf};

use bng_testkit::netns::{Netns, Peer, wait_for};

/// The server's address in the gateway tests (the upstream next hop).
pub const SERVER: &str = "192.0.2.254";
/// The NAT44 pool address of the gateway tests.
pub const NAT_ADDR: &str = "203.0.113.1";

/// The build profile of this test (and of [`BNG`]): `debug` or `release`.
pub const PROFILE: &str = if cfg!(debug_assertions) {
    "debug"
} else {
    "release"
};

/// The `bng` binary of this build.
pub const BNG: &str = env!("CARGO_BIN_EXE_bng");

/// Starts `bng --config cfg` (plus `extra` arguments) in `ns`, its log `dir/bng.log`, and
/// waits (10 s at most) for `bng: ready`; fails the test with the log otherwise.
pub fn start(ns: &Netns, cfg: &Path, dir: &Path, extra: &[&str]) -> Peer {
    let log = dir.join("bng.log");
    let mut args = vec![BNG, "--config", cfg.to_str().unwrap()];
    args.extend_from_slice(extra);
    let mut p = ns.spawn("bng", &args, &log);
    let ok = wait_for(Duration::from_secs(10), "bng ready", || {
        p.log().contains("bng: ready") || p.exited().is_some()
    });
    assert!(
        ok && p.exited().is_none(),
        "bng did not start:\n{}",
        p.log()
    );
    p
}

/// Complete checksums and MTU-sized frames on `dev` in `ns` (a gateway on a raw socket
/// sees what a real link would carry), as in `nat44_gateway.rs`.
pub fn offloads_off(ns: &Netns, dev: &str) {
    ns.exec(&[
        "ethtool", "-K", dev, "tx", "off", "tso", "off", "gso", "off", "gro", "off",
    ]);
}

/// Frames of a finished capture matching the tshark display `filter`.
pub fn count(file: &Path, filter: &str) -> usize {
    let o = bng_testkit::netns::run(&[
        "tshark",
        "-r",
        file.to_str().unwrap(),
        "-Y",
        filter,
        "-T",
        "fields",
        "-e",
        "frame.number",
    ]);
    String::from_utf8_lossy(&o.stdout).lines().count()
}

/// A `bng` configuration for the IPoE gateway tests, written to `dir/bng.toml` (with an
/// empty users file): IPoE only, local authorisation, NAT44 to [`NAT_ADDR`], leases from
/// 100.65.0.10-100.65.3.254, DHCPv6 IA_NA and IA_PD; the server [`SERVER`] is the next hop.
/// `ports` are the access and upstream interfaces on `backend`, `access` adds lines to
/// `[access]` (VLANs), `gateway` is our IPoE address (server identifier, router),
/// `extra` ends the file (e.g. a `[dpdk]` section).
pub fn ipoe_config(
    dir: &Path,
    ports: [&str; 2],
    backend: &str,
    access: &str,
    gateway: &str,
    extra: &str,
) -> PathBuf {
    let [acc, up] = ports;
    let cfg = dir.join("bng.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"[access]
interface = "{acc}"
backend = "{backend}"
{access}
[upstream]
interface = "{up}"
backend = "{backend}"
address = "192.0.2.1/24"
gateway = "{SERVER}"

[pppoe]
enabled = false
pool = "default"

[ipoe]
enabled = true
gateway = "{gateway}"
pool = "ipoe"
lease_secs = 60
v6_pool = "na"
pd_pool = "pd"

[auth]
mode = "local"
users_file = "users"

[[pools.v4]]
name = "default"
first = "100.64.0.10"
last = "100.64.0.200"

[[pools.v4]]
name = "ipoe"
first = "100.65.0.10"
last = "100.65.3.254"

[[pools.v6]]
name = "na"
prefix = "2001:db8:10::/64"
length = 128

[[pools.v6_pd]]
name = "pd"
prefix = "2001:db8:100::/40"
length = 56

[nat]
pool = "{NAT_ADDR}"
block_size = 512
log = "nat44.log"
{extra}"#
        ),
    )
    .unwrap();
    std::fs::write(dir.join("users"), "").unwrap();
    cfg
}

/// The peer of the forwarding figures: the kernel of `g` itself forwarding between
/// `ports` (access, upstream) with an nftables masquerade on the upstream port, our
/// address `access_addr` (prefix) toward the subscribers and 192.0.2.1/24 upstream, on
/// the same links bng used (stop bng first).
pub fn kernel_masquerade(g: &Netns, ports: [&str; 2], access_addr: &str) {
    bng_examples::lab_netns::kernel_masquerade(g, ports, access_addr).unwrap();
}

/// Seconds within the day of a tracing line's RFC 3339 timestamp
/// (`2026-11-22T02:45:39.331688Z ...`, as bng logs).
pub fn log_secs(line: &str) -> Option<f64> {
    let stamp = line.split_whitespace().next()?.split('T').nth(1)?;
    let mut hms = stamp.strip_suffix('Z')?.split(':');
    let hours: f64 = hms.next()?.parse().ok()?;
    let minutes: f64 = hms.next()?.parse().ok()?;
    let secs: f64 = hms.next()?.parse().ok()?;
    Some(hours * 3600.0 + minutes * 60.0 + secs)
}

/// The times (see [`log_secs`]) of bng's `session up` lines in `log`.
pub fn session_up_times(log: &str) -> Vec<f64> {
    log.lines()
        .filter(|l| l.contains("session up"))
        .filter_map(log_secs)
        .collect()
}
