//! Whole-process forwarding rates, next to the Linux kernel, on the same namespaces in the
//! same run (`#[ignore]`d: a measurement, not a check; run it on a quiet machine with a
//! release build):
//!
//! ```text
//! cargo test --release -p bng-examples --test dataplane_kfwd --no-run
//! target/release/deps/dataplane_kfwd-<hash> --ignored --nocapture
//! ```
//!
//! A client namespace sends `BNG_KFWD_COUNT` (default 500 000) 64-byte UDP frames with
//! `trafgen` (1024 source ports, one CPU) to a server namespace through a middle
//! namespace, which forwards them with: the kernel (`ip_forward=1`), the kernel with an
//! nftables masquerade rule (conntrack + SNAT, as `../shared/lab/kfwd.sh`), and `bng-fwd`
//! over AF_PACKET (plain and TPACKET_V3) and AF_XDP (copy mode; native and skb). The
//! server drops the frames at nftables ingress. "Forwarded" is the server's RX counter;
//! the rate is over trafgen's run; the forwarder's CPU time is `bng-fwd`'s user + system
//! time (the kernel's forwarding runs in softirq and is not attributed to a process), and
//! the last column adds the softirq time of all CPUs (`/proc/stat`; the kernel's
//! forwarding, XDP and the veth hops: other processes' builds add little there) to get a
//! per-packet cost comparable between the kernel and us, and its inverse, a per-core rate.
//! `BNG_KFWD_RUNS` (default 2) runs per case, `BNG_KFWD_CASES` (comma list) picks cases,
//! `BNG_KFWD_EXTRA` adds bng-fwd arguments to every case.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::std_instead_of_core,
    clippy::cast_precision_loss,
    clippy::too_many_lines,
    reason = "tests"
)]

mod common;

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use bng_testkit::netns::{Netns, Peer, require, veth, wait_for, workdir};
use common::text;

/// The server's (or any device's) RX packet counter from `ip -s -j link show`.
fn rx_packets(ns: &Netns, dev: &str) -> u64 {
    let out = ns.ip(&["-s", "-j", "link", "show", dev]);
    let s = String::from_utf8_lossy(&out.stdout);
    let rx = &s[s.find("\"rx\":{").expect("rx stats")..];
    let p = &rx[rx.find("\"packets\":").unwrap() + 10..];
    p[..p.find(|c: char| !c.is_ascii_digit()).unwrap()]
        .parse()
        .unwrap()
}

/// user + system CPU time of a process, from `/proc/PID/stat` (clock ticks of 10 ms).
fn cpu_ticks(pid: u32) -> u64 {
    let (u, s) = cpu_split(pid);
    u + s
}

/// (user, system) CPU ticks of a process and its threads.
fn cpu_split(pid: u32) -> (u64, u64) {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = s.rsplit_once(')').map_or("", |x| x.1);
    let f: Vec<&str> = after.split_whitespace().collect();
    (
        f.get(11).and_then(|u| u.parse::<u64>().ok()).unwrap_or(0),
        f.get(12).and_then(|u| u.parse::<u64>().ok()).unwrap_or(0),
    )
}

/// Ticks (10 ms) of all CPUs from `/proc/stat`: (softirq, user+system).
fn cpu_stat() -> (u64, u64) {
    let s = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let f: Vec<u64> = s
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq
    let g = |i: usize| f.get(i).copied().unwrap_or(0);
    (g(6), g(0) + g(2))
}

struct Lab {
    client: Netns,
    gw: Netns,
    server: Netns,
    gw_mac: String,
}

impl Lab {
    fn new() -> Self {
        let (client, gw, server) = (Netns::new("kc"), Netns::new("kg"), Netns::new("ks"));
        veth(&client, "eth0", &gw, "p0");
        veth(&gw, "p1", &server, "eth0");
        client.ip(&["link", "set", "eth0", "address", "02:00:00:00:01:02"]);
        server.ip(&["link", "set", "eth0", "address", "02:00:00:00:02:02"]);
        client.ip(&["addr", "add", "10.0.1.2/24", "dev", "eth0"]);
        client.ip(&["route", "add", "default", "via", "10.0.1.1"]);
        server.ip(&["addr", "add", "10.0.2.2/24", "dev", "eth0"]);
        server.ip(&["route", "add", "default", "via", "10.0.2.1"]);
        for ns in [&client, &gw, &server] {
            ns.exec(&["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"]);
        }
        let nft = "table netdev sink {\n chain in { type filter hook ingress device \"eth0\" priority 0; udp dport 9 drop; }\n}\n";
        let mut c = server.command(&["nft", "-f", "-"]);
        c.stdin(std::process::Stdio::piped());
        let mut child = c.spawn().unwrap();
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), nft.as_bytes()).unwrap();
        assert!(child.wait().unwrap().success(), "nft sink");
        let link =
            String::from_utf8_lossy(&gw.ip(&["-br", "link", "show", "p0"]).stdout).into_owned();
        let gw_mac = link.split_whitespace().nth(2).unwrap().to_owned();
        Self {
            client,
            gw,
            server,
            gw_mac,
        }
    }

    /// The middle namespace as a Linux router (addresses, forwarding), or bare.
    fn kernel(&self, on: bool, masquerade: bool) {
        self.gw.ip(&["addr", "flush", "dev", "p0"]);
        self.gw.ip(&["addr", "flush", "dev", "p1"]);
        let _ = self.gw.command(&["nft", "flush", "ruleset"]).status();
        if on {
            self.gw.ip(&["addr", "add", "10.0.1.1/24", "dev", "p0"]);
            self.gw.ip(&["addr", "add", "10.0.2.1/24", "dev", "p1"]);
            self.gw.exec(&["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
            if masquerade {
                self.gw.exec(&[
                    "nft",
                    "add table ip nat; add chain ip nat post { type nat hook postrouting priority srcnat; }; add rule ip nat post oifname p1 masquerade",
                ]);
            }
        } else {
            self.gw.ip(&["addr", "flush", "dev", "p0"]);
            self.gw.ip(&["addr", "flush", "dev", "p1"]);
            self.gw.exec(&["sysctl", "-qw", "net.ipv4.ip_forward=0"]);
            let _ = self.gw.command(&["nft", "flush", "ruleset"]).status();
        }
    }

    fn ping(&self) -> bool {
        self.client
            .command(&["ping", "-c", "3", "-i", "0.2", "-W", "2", "10.0.2.2"])
            .output()
            .is_ok_and(|o| o.status.success())
    }

    /// One trafgen run; returns (forwarded, seconds).
    fn trafgen(&self, dir: &Path, count: u64) -> (u64, f64) {
        let conf = dir.join("udp64.trafgen");
        std::fs::write(
            &conf,
            format!(
                "{{ eth(da={}, sa=02:00:00:00:01:02), ipv4(sa=10.0.1.2, da=10.0.2.2, ttl=64), udp(sp=dinc(1024, 2047), dp=9), fill(0x00, 18) }}\n",
                self.gw_mac
            ),
        )
        .unwrap();
        let before = rx_packets(&self.server, "eth0");
        let t0 = Instant::now();
        let out = self
            .client
            .command(&[
                "timeout",
                "120",
                "trafgen",
                "-o",
                "eth0",
                "-i",
                conf.to_str().unwrap(),
                "-n",
                &count.to_string(),
                "--cpus",
                "1",
                "--no-sock-mem",
            ])
            .output()
            .unwrap();
        let secs = t0.elapsed().as_secs_f64();
        assert!(out.status.success(), "trafgen: {}", text(&out));
        // let the forwarder drain what it holds
        let mut last = rx_packets(&self.server, "eth0");
        let _ = wait_for(Duration::from_secs(3), "forwarder to drain", || {
            let now = rx_packets(&self.server, "eth0");
            let settled = now == last;
            last = now;
            settled
        });
        (last - before, secs)
    }
}

#[test]
#[ignore = "a measurement: run by hand with --ignored on a quiet machine (release build)"]
fn forwarding_rates_next_to_the_kernel() {
    const T: &str = "forwarding_rates_next_to_the_kernel";
    if !require(T, &["ip", "ping", "trafgen", "nft", "sysctl"]) {
        return;
    }
    let count: u64 = std::env::var("BNG_KFWD_COUNT")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(500_000);
    let runs: u32 = std::env::var("BNG_KFWD_RUNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(2);
    let only = std::env::var("BNG_KFWD_CASES").unwrap_or_default();
    let dir = workdir(T);
    let lab = Lab::new();
    let cases: [(&str, &[&str]); 8] = [
        ("kernel", &[]),
        ("kernel+masquerade", &[]),
        ("bng-fwd af_packet plain", &["--afpacket-io", "plain"]),
        ("bng-fwd af_packet tpacket_v3", &["--afpacket-io", "ring"]),
        (
            "bng-fwd af_xdp native",
            &[
                "--backend",
                "afxdp",
                "--xdp-mode",
                "native",
                "--xsk-ring",
                "4096",
            ],
        ),
        (
            "bng-fwd af_xdp native spin",
            &[
                "--backend",
                "afxdp",
                "--xdp-mode",
                "native",
                "--xsk-ring",
                "4096",
                "--idle-spins",
                "2000",
            ],
        ),
        (
            "bng-fwd af_packet tpacket_v3 spin",
            &["--afpacket-io", "ring", "--idle-spins", "2000"],
        ),
        (
            "bng-fwd af_xdp skb",
            &[
                "--backend",
                "afxdp",
                "--xdp-mode",
                "skb",
                "--xsk-ring",
                "4096",
            ],
        ),
    ];
    let dpdk_eal = |pmd: &str| {
        format!(
            "--no-huge -m 512 --no-pci --file-prefix={} --log-level=lib.eal:warning --vdev={pmd}0,iface=p0 --vdev={pmd}1,iface=p1",
            lab.gw.name()
        )
    };
    let (eal_packet, eal_xdp) = (dpdk_eal("net_af_packet"), dpdk_eal("net_af_xdp"));
    let dpdk_cases: [(&str, [&str; 10]); 2] = [
        (
            "bng-fwd dpdk net_af_packet",
            [
                "--backend",
                "dpdk",
                "--dpdk-eal",
                &eal_packet,
                "--port",
                "net_af_packet0=10.0.1.1",
                "--port",
                "net_af_packet1=10.0.2.1",
                "--idle-spins",
                "0",
            ],
        ),
        (
            "bng-fwd dpdk net_af_xdp",
            [
                "--backend",
                "dpdk",
                "--dpdk-eal",
                &eal_xdp,
                "--port",
                "net_af_xdp0=10.0.1.1",
                "--port",
                "net_af_xdp1=10.0.2.1",
                "--idle-spins",
                "0",
            ],
        ),
    ];
    let with_dpdk = cfg!(feature = "dpdk");
    let mut table = String::from(
        "| forwarder | offered pps | forwarded pps | lost | bng-fwd CPU per forwarded packet | softirq + bng-fwd CPU per packet |\n|---|---|---|---|---|---|\n",
    );
    let mut kernel_best = 0.0f64;
    let all = cases.iter().map(|(n, e)| (*n, e.to_vec())).chain(
        dpdk_cases
            .iter()
            .filter(|_| with_dpdk)
            .map(|(n, e)| (*n, e.to_vec())),
    );
    for (name, extra) in all {
        if !only.is_empty() && !only.split(',').any(|c| name.contains(c.trim())) {
            continue;
        }
        let mut fwd: Option<Peer> = None;
        if name.starts_with("kernel") {
            lab.kernel(true, name.contains("masquerade"));
        } else {
            lab.kernel(false, false);
            let mut args = vec![env!("CARGO_BIN_EXE_bng-fwd")];
            if !name.contains("dpdk") {
                args.extend(["--port", "p0=10.0.1.1", "--port", "p1=10.0.2.1"]);
            }
            args.extend([
                "--route",
                "10.0.1.0/24=0,02:00:00:00:01:02",
                "--route",
                "10.0.2.0/24=1,02:00:00:00:02:02",
                "--seconds",
                "600",
            ]);
            args.extend_from_slice(&extra);
            // more bng-fwd arguments for every case, e.g. BNG_KFWD_EXTRA="--dpdk-idle-us 0"
            let more = std::env::var("BNG_KFWD_EXTRA").unwrap_or_default();
            args.extend(more.split_whitespace());
            let log = dir.join(format!("{}.log", name.replace(' ', "_")));
            let p = lab.gw.spawn("bng-fwd", &args, &log);
            assert!(
                wait_for(Duration::from_secs(10), "bng-fwd to start", || p
                    .log()
                    .contains("forwarding on 2 ports")),
                "{}",
                p.log()
            );
            fwd = Some(p);
        }
        assert!(lab.ping(), "{name}: ping through the middle namespace");
        for r in 1..=runs {
            let cpu0 = fwd.as_ref().map_or(0, |p| cpu_ticks(p.pid()));
            let split0 = fwd.as_ref().map_or((0, 0), |p| cpu_split(p.pid()));
            let (si0, _) = cpu_stat();
            let (n, secs) = lab.trafgen(&dir, count);
            let (si1, _) = cpu_stat();
            let cpu = fwd.as_ref().map(|p| cpu_ticks(p.pid()) - cpu0);
            if let Some(p) = &fwd {
                let (u, s) = cpu_split(p.pid());
                eprintln!(
                    "{T}: {name} run {r}: bng-fwd user {} ms, system {} ms",
                    (u - split0.0) * 10,
                    (s - split0.1) * 10
                );
            }
            // the forwarding cost per packet: softirq time of all CPUs (the kernel's
            // forwarding, the XDP redirect and copy into the XSK, the veth hops and the
            // sink, common to every case) plus bng-fwd's own CPU time
            let cost_us = (si1 - si0 + cpu.unwrap_or(0)) as f64 * 10_000.0 / n.max(1) as f64;
            let pps = n as f64 / secs;
            if name.starts_with("kernel") {
                kernel_best = kernel_best.max(pps);
            }
            let per = cpu.map_or("-".to_owned(), |t| {
                format!("{:.2} us", t as f64 * 10_000.0 / n.max(1) as f64)
            });
            let line = format!(
                "| {name} (run {r}) | {:.0}k | {:.0}k | {:.1}% | {per} | {cost_us:.2} us ({:.0}k pps per core) |",
                count as f64 / secs / 1000.0,
                pps / 1000.0,
                100.0 * (count.saturating_sub(n)) as f64 / count as f64,
                1000.0 / cost_us.max(1e-9)
            );
            eprintln!("{T}: {line}");
            writeln!(table, "{line}").unwrap();
        }
        if let Some(mut p) = fwd {
            p.stop();
            let log = p.log();
            let stats: Vec<&str> = log
                .lines()
                .filter(|l| l.starts_with("xsk") || l.starts_with("ring"))
                .collect();
            eprintln!("{T}: {name}: {stats:?}");
        }
    }
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    eprintln!(
        "{T}: {count} frames per run; best kernel run {:.0}k pps; load average {}\n{table}",
        kernel_best / 1000.0,
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
}
