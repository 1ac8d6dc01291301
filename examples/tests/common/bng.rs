//! The `bng` gateway binary in the interop tests: start it and wait until it is ready,
//! take the offloads off the links it forwards over, and count what the server saw.

use core::time::Duration;
use std::path::Path;

use bng_testkit::netns::{Netns, Peer, wait_for};

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
