//! iperf3 between two lab namespaces: a one-shot server, a 3 s TCP client, and the
//! receiver's rate from the client's summary.

use core::time::Duration;
use std::path::Path;
use std::process::Output;

use bng_testkit::netns::{Netns, Peer};

/// Starts a one-shot `iperf3 -s -1` bound to `addr` in `ns` (output to `log`) and gives
/// it 500 ms to listen.
pub fn server(ns: &Netns, addr: &str, log: &Path) -> Peer {
    let srv = ns.spawn("iperf3 -s", &["iperf3", "-s", "-1", "-B", addr], log);
    std::thread::sleep(Duration::from_millis(500));
    srv
}

/// Runs `iperf3 -c to -t 3 -f m` (20 s at most) in `ns`, plus `extra` arguments.
pub fn client(ns: &Netns, to: &str, extra: &[&str]) -> Output {
    let mut args = vec!["timeout", "20", "iperf3", "-c", to, "-t", "3", "-f", "m"];
    args.extend_from_slice(extra);
    ns.command(&args).output().expect("run iperf3")
}

/// The receiver's rate (Mbit/s) from iperf3's summary, empty if there is none.
pub fn receiver_mbits(out: &str) -> String {
    out.lines()
        .filter(|l| l.contains("receiver"))
        .find_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            w.iter()
                .position(|x| *x == "Mbits/sec")
                .and_then(|p| w.get(p - 1))
                .map(|x| (*x).to_owned())
        })
        .unwrap_or_default()
}
