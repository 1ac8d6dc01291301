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
//! `trafgen` (1024 source ports) to a server namespace through a middle namespace, which
//! forwards them with: the kernel (`ip_forward=1`), the kernel with an nftables masquerade
//! rule (conntrack + SNAT, as `../shared/lab/kfwd.sh`), and `bng-fwd` over AF_PACKET
//! (plain and TPACKET_V3) and AF_XDP (copy mode; native and skb, with and without busy
//! polling). The server drops the frames at nftables ingress. "Forwarded" is the server's
//! RX counter.
//!
//! **Per core.** The two CPUs are split: `trafgen` runs on CPU 0, the forwarding on CPU 1,
//! the sink on CPU 0 (RPS on the server's interface). For the kernel, RPS on the middle
//! namespace's ingress veth moves its forwarding (and the veth hop out) to CPU 1; for
//! `bng-fwd`, the process is pinned to CPU 1 and the ingress veth's NAPI (where native XDP
//! runs the redirect and the copy into the socket) runs threaded, its kthread pinned to
//! CPU 1 too (with busy polling, also inside `bng-fwd`'s own system calls); RPS sends
//! the rest of the ingress path (generic XDP in skb mode) to CPU 1 as well. The forwarding
//! cost per packet is the CPU time of CPU 1 spent on it: CPU 1's softirq and irq time
//! (`/proc/stat`) plus the user + system time of `bng-fwd`, of our NAPI kthreads and of
//! `ksoftirqd/1` — other processes that happen to run on CPU 1 are not counted (CPU 1's
//! whole busy time is printed too). Its inverse is the per-core rate; the same run also
//! prints the rate at saturation (forwarded packets over trafgen's run).
//!
//! `BNG_KFWD_TRAFGEN` replaces trafgen's extra arguments (default `--rate 1000000pps`:
//! its blocking one-`sendto`-per-frame path; see `Lab::trafgen`).
//! `BNG_KFWD_BIN` runs another `bng-fwd` binary.
//! `BNG_KFWD_RUNS` (default 2) runs per case, `BNG_KFWD_CASES` (comma list of name parts)
//! picks cases, `BNG_KFWD_EXTRA` adds bng-fwd arguments to every case, `BNG_KFWD_PERF=1`
//! records CPU 1 with `perf` during the first run of each case and prints the top symbols.
//! DPDK cases (built with `--features dpdk`, `BNG_KFWD_BIN` a `bng-fwd` with the feature;
//! `BNG_KFWD_AF_PACKET` / `BNG_KFWD_AF_XDP` replace the vdev options) also print both ends
//! of the egress veth (`ip -s -s link`, `ethtool -S`), the server's `softnet_stat` and
//! `bng-fwd`'s port, pool-layout and AF_XDP socket counters: where lost packets went.

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

use std::collections::HashSet;
use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use bng_testkit::netns::{Netns, Peer, require, veth, wait_for, workdir};
use common::{rx_packets, text};

/// The ingress (client side) and egress (server side) interfaces of the middle namespace.
const IN: &str = "kf0";
const OUT: &str = "kf1";

/// (user, system) CPU ticks (10 ms) of a process and its threads, from `/proc/PID/stat`.
fn cpu_split(pid: u32) -> (u64, u64) {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = s.rsplit_once(')').map_or("", |x| x.1);
    let f: Vec<&str> = after.split_whitespace().collect();
    (
        f.get(11).and_then(|u| u.parse::<u64>().ok()).unwrap_or(0),
        f.get(12).and_then(|u| u.parse::<u64>().ok()).unwrap_or(0),
    )
}

fn cpu_ticks(pid: u32) -> u64 {
    let (u, s) = cpu_split(pid);
    u + s
}

/// Ticks of one CPU from `/proc/stat`: (softirq + irq, all busy time).
fn cpu_stat(cpu: usize) -> (u64, u64) {
    let s = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let tag = format!("cpu{cpu} ");
    let f: Vec<u64> = s
        .lines()
        .find(|l| l.starts_with(&tag))
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal
    let g = |i: usize| f.get(i).copied().unwrap_or(0);
    (g(5) + g(6), g(0) + g(1) + g(2) + g(5) + g(6))
}

/// PIDs of kernel threads whose name starts with `prefix`.
fn kthreads(prefix: &str) -> HashSet<u32> {
    let mut out = HashSet::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let comm = std::fs::read_to_string(e.path().join("comm")).unwrap_or_default();
        if comm.starts_with(prefix) {
            out.insert(pid);
        }
    }
    out
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
        veth(&client, "eth0", &gw, IN);
        veth(&gw, OUT, &server, "eth0");
        client.ip(&["link", "set", "eth0", "address", "02:00:00:00:01:02"]);
        server.ip(&["link", "set", "eth0", "address", "02:00:00:00:02:02"]);
        client.ip(&["addr", "add", "10.0.1.2/24", "dev", "eth0"]);
        client.ip(&["route", "add", "default", "via", "10.0.1.1"]);
        server.ip(&["addr", "add", "10.0.2.2/24", "dev", "eth0"]);
        server.ip(&["route", "add", "default", "via", "10.0.2.1"]);
        for ns in [&client, &gw, &server] {
            ns.exec(&["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"]);
        }
        // the sink runs on CPU 0 (with the generator), never on the forwarding CPU
        server.exec(&[
            "sh",
            "-c",
            "echo 1 > /sys/class/net/eth0/queues/rx-0/rps_cpus",
        ]);
        let nft = "table netdev sink {\n chain in { type filter hook ingress device \"eth0\" priority 0; udp dport 9 drop; }\n}\n";
        let mut c = server.command(&["nft", "-f", "-"]);
        c.stdin(std::process::Stdio::piped());
        let mut child = c.spawn().unwrap();
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), nft.as_bytes()).unwrap();
        assert!(child.wait().unwrap().success(), "nft sink");
        let link =
            String::from_utf8_lossy(&gw.ip(&["-br", "link", "show", IN]).stdout).into_owned();
        let gw_mac = link.split_whitespace().nth(2).unwrap().to_owned();
        Self {
            client,
            gw,
            server,
            gw_mac,
        }
    }

    /// Writes `value` to `/sys/class/net/DEV/FILE` in the middle namespace; false if
    /// the kernel refused (e.g. `threaded` on a veth without NAPI).
    fn sys(&self, dev: &str, file: &str, value: &str) -> bool {
        self.gw
            .command(&[
                "sh",
                "-c",
                &format!("echo {value} > /sys/class/net/{dev}/{file}"),
            ])
            .output()
            .is_ok_and(|o| o.status.success())
    }

    /// The middle namespace as a Linux router (addresses, forwarding, its ingress
    /// processing on CPU 1 through RPS), or bare.
    fn kernel(&self, on: bool, masquerade: bool) {
        self.gw.ip(&["addr", "flush", "dev", IN]);
        self.gw.ip(&["addr", "flush", "dev", OUT]);
        let _ = self.gw.command(&["nft", "flush", "ruleset"]).status();
        // every case: what the kernel does past the ingress veth's RX (its forwarding,
        // generic XDP in skb mode) runs on CPU 1
        assert!(self.sys(IN, "queues/rx-0/rps_cpus", "2"));
        let _ = self.sys(IN, "threaded", "0");
        self.gw.exec(&["ethtool", "-K", IN, "gro", "off"]);
        if on {
            self.gw.ip(&["addr", "add", "10.0.1.1/24", "dev", IN]);
            self.gw.ip(&["addr", "add", "10.0.2.1/24", "dev", OUT]);
            self.gw.exec(&["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
            if masquerade {
                self.gw.exec(&[
                    "nft",
                    "add table ip nat; add chain ip nat post { type nat hook postrouting priority srcnat; }; add rule ip nat post oifname kf1 masquerade",
                ]);
            }
        } else {
            self.gw.exec(&["sysctl", "-qw", "net.ipv4.ip_forward=0"]);
        }
    }

    fn ping(&self) -> bool {
        self.client
            .command(&["ping", "-c", "3", "-i", "0.2", "-W", "2", "10.0.2.2"])
            .output()
            .is_ok_and(|o| o.status.success())
    }

    /// One trafgen run on CPU 0; returns (forwarded, seconds).
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
        // trafgen's fast path (TX ring, non-blocking flush) dies with EAGAIN as soon as
        // the frames queued for the other CPU fill its send buffer (it cannot raise the
        // limits inside a namespace); with a rate it sends with one blocking `sendto`
        // per frame, which waits instead. 1 Mpps is above what one CPU of it offers here.
        let extra =
            std::env::var("BNG_KFWD_TRAFGEN").unwrap_or_else(|_| "--rate 1000000pps".to_owned());
        let out = self
            .client
            .command(&[
                "timeout",
                "120",
                "taskset",
                "-c",
                "0",
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
            .args(extra.split_whitespace())
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

/// The cases: name and bng-fwd arguments (none: the kernel). `napi` cases run the
/// ingress veth's NAPI threaded on CPU 1; the busy-poll cases also defer its softirq.
fn cases() -> Vec<(&'static str, Vec<&'static str>)> {
    let xdp = |mode: &'static str, more: &[&'static str]| {
        let mut v = vec![
            "--backend",
            "afxdp",
            "--xdp-mode",
            mode,
            "--xsk-ring",
            "2048",
        ];
        v.extend_from_slice(more);
        v
    };
    vec![
        ("kernel", vec![]),
        ("kernel+masquerade", vec![]),
        ("bng-fwd af_packet plain", vec!["--afpacket-io", "plain"]),
        (
            "bng-fwd af_packet tpacket_v3",
            vec!["--afpacket-io", "ring"],
        ),
        ("bng-fwd af_xdp native napi", xdp("native", &[])),
        (
            "bng-fwd af_xdp native napi batch64",
            xdp("native", &["--xsk-rx-batch", "64"]),
        ),
        (
            "bng-fwd af_xdp native napi no-need-wakeup",
            xdp("native", &["--xsk-no-need-wakeup"]),
        ),
        (
            "bng-fwd af_xdp native busy-poll",
            xdp(
                "native",
                &[
                    "--xsk-busy-poll-us",
                    "20",
                    "--xsk-busy-poll-budget",
                    "64",
                    "--xsk-prefer-busy-poll",
                    "--idle-spins",
                    "1000",
                ],
            ),
        ),
        ("bng-fwd af_xdp skb", xdp("skb", &[])),
    ]
}

#[test]
#[ignore = "a measurement: run by hand with --ignored on a quiet machine (release build)"]
fn forwarding_rates_next_to_the_kernel() {
    const T: &str = "forwarding_rates_next_to_the_kernel";
    if !require(T, &["ip", "ping", "trafgen", "nft", "sysctl", "taskset"]) {
        return;
    }
    if std::thread::available_parallelism().map_or(1, usize::from) < 2 {
        eprintln!("{T}: needs two CPUs (generator on 0, forwarding on 1)");
        return;
    }
    let env_num = |k: &str, d: u64| {
        std::env::var(k)
            .ok()
            .and_then(|c| c.parse().ok())
            .unwrap_or(d)
    };
    let count = env_num("BNG_KFWD_COUNT", 500_000);
    let runs = env_num("BNG_KFWD_RUNS", 2);
    let perf = std::env::var("BNG_KFWD_PERF").is_ok_and(|v| v == "1");
    let only = std::env::var("BNG_KFWD_CASES").unwrap_or_default();
    let dir = workdir(T);
    let lab = Lab::new();
    let dpdk_eal = |pmd: &str| {
        format!(
            "--no-huge -m 512 --no-pci --file-prefix={} --log-level=lib.eal:warning --vdev={pmd}0,iface={IN} --vdev={pmd}1,iface={OUT}",
            lab.gw.name()
        )
    };
    // the vdevs' own knobs: BNG_KFWD_AF_PACKET / BNG_KFWD_AF_XDP (appended to each --vdev)
    let vdev = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.to_owned());
    let (pk, xk) = (
        vdev("BNG_KFWD_AF_PACKET", ",framecnt=4096"),
        vdev("BNG_KFWD_AF_XDP", ",busy_budget=0"),
    );
    let (eal_packet, eal_xdp) = (
        dpdk_eal("net_af_packet").replace(",iface=", &format!("{pk},iface=")),
        dpdk_eal("net_af_xdp").replace(",iface=", &format!("{xk},iface=")),
    );
    // BNG_KFWD_BIN: another bng-fwd build (the shared target dir's may be rebuilt
    // without the `dpdk` feature by another build while this runs)
    let bin =
        std::env::var("BNG_KFWD_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_bng-fwd").to_owned());
    let mut all = cases();
    if cfg!(feature = "dpdk") {
        for (name, eal, pmd) in [
            ("bng-fwd dpdk net_af_packet", &eal_packet, "net_af_packet"),
            ("bng-fwd dpdk net_af_xdp", &eal_xdp, "net_af_xdp"),
        ] {
            let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
            all.push((
                name,
                vec![
                    "--backend",
                    "dpdk",
                    "--dpdk-eal",
                    leak(eal.clone()),
                    "--port",
                    leak(format!("{pmd}0=10.0.1.1")),
                    "--port",
                    leak(format!("{pmd}1=10.0.2.1")),
                ],
            ));
        }
    }
    let mut table = String::from(
        "| forwarder | forwarded pps (saturation) | lost | CPU 1 per forwarded packet (softirq+irq, bng-fwd, napi kthread) | per core | vs kernel | vs kernel+masq | CPU 1 busy (all) per packet |\n|---|---|---|---|---|---|---|---|\n",
    );
    let (mut kernel_cost, mut masq_cost) = (Vec::new(), Vec::new());
    for (name, extra) in all {
        if !only.is_empty() && !only.split(',').any(|c| name.contains(c.trim())) {
            continue;
        }
        let mut fwd: Option<Peer> = None;
        let mut napi: HashSet<u32> = HashSet::new();
        let busy_poll = name.contains("busy-poll");
        if name.starts_with("kernel") {
            lab.kernel(true, name.contains("masquerade"));
        } else {
            lab.kernel(false, false);
            // veth GRO gives the ingress its NAPI before XDP is attached
            lab.gw.exec(&["ethtool", "-K", IN, "gro", "on"]);
            // busy polling: the NAPI stays with the socket's system calls; its softirq
            // comes back only after gro_flush_timeout of no polling
            assert!(lab.sys(
                IN,
                "napi_defer_hard_irqs",
                if busy_poll { "2" } else { "0" },
            ));
            assert!(lab.sys(
                IN,
                "gro_flush_timeout",
                if busy_poll { "200000" } else { "0" },
            ));
            let before = kthreads(&format!("napi/{IN}-"));
            let _ = lab.sys(IN, "threaded", "1");
            let mut args = vec!["taskset", "-c", "1", bin.as_str()];
            if !name.contains("dpdk") {
                args.extend(["--port", "kf0=10.0.1.1", "--port", "kf1=10.0.2.1"]);
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
            // the threaded NAPI of our ingress veth (created with XDP or GRO) on CPU 1
            let _ = lab.sys(IN, "threaded", "1");
            napi = kthreads(&format!("napi/{IN}-"))
                .difference(&before)
                .copied()
                .collect();
            for pid in &napi {
                let _ = std::process::Command::new("taskset")
                    .args(["-pc", "1", &pid.to_string()])
                    .output();
            }
            eprintln!("{T}: {name}: napi kthreads {napi:?}");
            fwd = Some(p);
        }
        assert!(lab.ping(), "{name}: ping through the middle namespace");
        let ksoftirqd: Vec<u32> = kthreads("ksoftirqd/1").into_iter().collect();
        let ours = |fwd: &Option<Peer>| {
            fwd.iter()
                .map(Peer::pid)
                .chain(napi.iter().copied())
                .chain(ksoftirqd.iter().copied())
                .map(cpu_ticks)
                .sum::<u64>()
        };
        for r in 1..=runs {
            let p0 = ours(&fwd);
            let split0 = fwd.as_ref().map_or((0, 0), |p| cpu_split(p.pid()));
            let (si0, busy0) = cpu_stat(1);
            let rec = (perf && r == 1).then(|| {
                let data = dir.join(format!("{}.perf", name.replace(' ', "_")));
                let log = dir.join(format!("{}.perf.log", name.replace(' ', "_")));
                let p = Peer::start(
                    "perf",
                    std::process::Command::new("perf").args([
                        "record",
                        "-C",
                        "1",
                        "-F",
                        "2999",
                        "-o",
                        data.to_str().unwrap(),
                    ]),
                    &log,
                );
                (p, data)
            });
            let (n, secs) = lab.trafgen(&dir, count);
            let (si1, busy1) = cpu_stat(1);
            let p1 = ours(&fwd);
            if let Some((mut p, data)) = rec {
                // SIGINT lets perf write its file; stop() then reaps it
                let _ = std::process::Command::new("kill")
                    .args(["-INT", &p.pid().to_string()])
                    .status();
                let _ = p.wait(Duration::from_secs(10));
                p.stop();
                // only the forwarding's own threads (other work shares CPU 1)
                let mut comms = String::from("bng-fwd,ksoftirqd/1,swapper/1");
                for pid in &napi {
                    let c =
                        std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
                    write!(comms, ",{}", c.trim()).unwrap();
                }
                let rep = std::process::Command::new("perf")
                    .args([
                        "report",
                        "-i",
                        data.to_str().unwrap(),
                        "--no-children",
                        "--comms",
                        &comms,
                        "--sort",
                        "sym",
                        "--stdio",
                    ])
                    .output()
                    .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                    .unwrap_or_default();
                let top: Vec<&str> = rep
                    .lines()
                    .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
                    .take(25)
                    .collect();
                eprintln!("{T}: {name}: perf on CPU 1:\n{}", top.join("\n"));
            }
            if let Some(p) = &fwd {
                let (u, s) = cpu_split(p.pid());
                eprintln!(
                    "{T}: {name} run {r}: bng-fwd user {} ms, system {} ms",
                    (u - split0.0) * 10,
                    (s - split0.1) * 10
                );
            }
            let per = |ticks: u64| ticks as f64 * 10_000.0 / n.max(1) as f64;
            let cost = per(si1 - si0 + p1 - p0);
            let busy = per(busy1 - busy0);
            if name == "kernel" {
                kernel_cost.push(cost);
            } else if name == "kernel+masquerade" {
                masq_cost.push(cost);
            }
            let vs = |k: &[f64]| {
                if k.is_empty() {
                    "-".to_owned()
                } else {
                    let best = k.iter().copied().fold(f64::INFINITY, f64::min);
                    format!("{:.2}", best / cost.max(1e-9))
                }
            };
            let line = format!(
                "| {name} (run {r}) | {:.0}k | {:.1}% | {cost:.2} us | {:.0}k pps | {} | {} | {busy:.2} us |",
                n as f64 / secs / 1000.0,
                100.0 * (count.saturating_sub(n)) as f64 / count as f64,
                1000.0 / cost.max(1e-9),
                vs(&kernel_cost),
                vs(&masq_cost),
            );
            eprintln!("{T}: {line}");
            writeln!(table, "{line}").unwrap();
        }
        if name.contains("dpdk") {
            // where the DPDK cases' packets went: both ends of the egress veth (TX drops
            // of kf1 are the peer's full ring), the server's backlog
            let show = |ns: &Netns, args: &[&str]| {
                String::from_utf8_lossy(&ns.exec(args).stdout).into_owned()
            };
            eprintln!(
                "{T}: {name}: counters\n{}{}{}{}{}",
                show(&lab.gw, &["ss", "--xdp", "-a", "-e", "-m"]),
                show(&lab.gw, &["ip", "-s", "-s", "link", "show", OUT]),
                show(&lab.gw, &["ethtool", "-S", OUT]),
                show(&lab.server, &["ip", "-s", "-s", "link", "show", "eth0"]),
                show(&lab.server, &["cat", "/proc/net/softnet_stat"]),
            );
        }
        if let Some(mut p) = fwd {
            p.stop();
            let log = p.log();
            let stats: Vec<&str> = log
                .lines()
                .filter(|l| l.starts_with("xsk") || l.starts_with("ring") || l.starts_with("dpdk"))
                .collect();
            eprintln!("{T}: {name}: {stats:?}");
        }
    }
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    eprintln!(
        "{T}: {count} frames per run; ratios against the kernel's best run; load average {}\n{table}",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
}
