//! `lab`: the README's main job. Builds a complete access network in memory — N PPPoE
//! subscribers with our own PPPoE and PPP client machines and M IPoE subscribers with our
//! own DHCPv4 client machine, the BNG with local authentication, a DHCPv4 server, local
//! pools, IPoE anti-spoofing and NAT44 toward a simulated upstream host — shows a live
//! summary (progress bar on a terminal: sessions up, setup rate, forwarded Mpps, drops;
//! a few plain lines otherwise), then a final report. No root and no external server
//! needed. `--netns` runs the same subscribers over veth namespaces against the real
//! `bng` process (root).
//!
//! `lab --help` lists every flag; exits 1 if any subscriber failed, 2 on bad arguments.

#![allow(
    clippy::std_instead_of_core,
    clippy::cast_precision_loss,
    reason = "a std binary printing rates"
)]

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use bng_examples::lab::{Options, Report, Status, run};
use clap::Parser;

#[derive(Parser, Debug)]
#[command(
    about = "A complete PPPoE + IPoE access network with NAT44, in memory (or over veth with --netns)",
    long_about = "A complete PPPoE + IPoE access network with NAT44, in memory: our own PPPoE/PPP \
                  and DHCPv4 client machines against the bng gateway's control planes and \
                  forwarding plane, on one core, no root. With --netns: the same clients over \
                  veth namespaces against the real bng binary (root).\n\n\
                  On a terminal a progress bar shows sessions up, the setup rate, forwarded \
                  Mpps and drops; otherwise (CI logs) a few plain lines. Exit status: 0 no \
                  failures, 1 failures, 2 bad arguments or the namespaces could not be set up."
)]
#[allow(
    clippy::struct_excessive_bools,
    reason = "independent command-line switches"
)]
struct Args {
    /// Simulated PPPoE subscribers (1..=60000: one PPPoE session id each).
    #[arg(long, default_value_t = 1000)]
    subscribers: usize,
    /// Simulated IPoE (DHCPv4) subscribers (0..=60000).
    #[arg(long, default_value_t = 1000)]
    ipoe: usize,
    /// UDP datagrams each subscriber sends upstream once up (each is answered).
    #[arg(long, default_value_t = 16)]
    packets: usize,
    /// Seed of the deterministic randomness (in memory only).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// In memory: skip the reference pass (the same traffic through the same plane
    /// without NAT44, timed for the ratio in the report).
    #[arg(long)]
    no_reference: bool,
    /// No progress bar or progress lines, only the final report.
    #[arg(long, short)]
    quiet: bool,
    /// Over veth namespaces against the real `bng` process instead of in memory (root;
    /// `bng_examples::lab_netns`). The `bng` binary is taken from beside this one.
    #[arg(long)]
    netns: bool,
    /// With `--netns`: the gateway's backend, `afpacket` or `afxdp`.
    #[arg(long, default_value = "afpacket")]
    backend: String,
    /// With `--netns`: datagrams of the forwarding-load phase (from the IPoE
    /// subscribers, through bng and NAT44, counted at the server); 0 skips the phase.
    #[arg(long, default_value_t = 1_000_000)]
    load_packets: u64,
    /// With `--netns`: time limit of the forwarding-load phase, seconds.
    #[arg(long, default_value_t = 5)]
    load_secs: u64,
    /// With `--netns`: after bng, the same load through the Linux kernel (IPv4
    /// forwarding + nftables masquerade) on the same namespaces, for the ratio.
    #[arg(long)]
    kernel: bool,
}

/// The live summary: a progress bar on a terminal (redrawn at most 10 times a second);
/// otherwise one line per quarter of the setup and one per second of forwarding, so CI
/// logs get no control characters and no flood.
struct Live {
    tty: bool,
    quiet: bool,
    start: Instant,
    drawn: Option<Instant>,
    quarter: usize,
    /// Subscribers of the phase being shown.
    total: usize,
    fwd_line: Option<Instant>,
    setup_rate: Option<f64>,
}

impl Live {
    fn new(tty: bool, quiet: bool) -> Self {
        Self {
            tty,
            quiet,
            start: Instant::now(),
            drawn: None,
            quarter: 0,
            total: 0,
            fwd_line: None,
            setup_rate: None,
        }
    }

    fn update(&mut self, s: &Status) {
        if let Some(text) = self.render(s, Instant::now()) {
            eprint!("{text}");
            let _ = std::io::stderr().flush();
        }
    }

    /// What to write to stderr for `s` at `now`, if anything: on a terminal the bar,
    /// redrawn in place (`\r`, erase to end of line); otherwise whole plain lines.
    fn render(&mut self, s: &Status, now: Instant) -> Option<String> {
        if self.quiet {
            return None;
        }
        if s.total != self.total {
            // a new phase (`--netns` sets PPPoE up, then IPoE)
            self.total = s.total;
            self.quarter = 0;
        }
        // the setup rate so far; frozen once every subscriber is up
        let start = self.start;
        let rate = *self
            .setup_rate
            .get_or_insert_with(|| s.up as f64 / now.duration_since(start).as_secs_f64().max(1e-9));
        if s.up < s.total {
            self.setup_rate = None;
        }
        let done = s.up == s.total && s.forwarded == 0;
        if self.tty {
            if !done
                && self
                    .drawn
                    .is_some_and(|t| now.duration_since(t) < Duration::from_millis(100))
            {
                return None;
            }
            self.drawn = Some(now);
            let w = 30 * s.up.min(s.total) / s.total.max(1);
            let fwd = if s.forwarded > 0 {
                format!("  fwd {:.2} Mpps  drops {}", s.mpps(), s.drops)
            } else {
                String::new()
            };
            Some(format!(
                "\r[{}{}] {}/{} up  {:.0}/s{fwd}\x1b[K",
                "#".repeat(w),
                ".".repeat(30 - w),
                s.up,
                s.total,
                rate
            ))
        } else if s.forwarded == 0 {
            let q = 4 * s.up / s.total.max(1);
            if q <= self.quarter {
                return None;
            }
            self.quarter = q;
            Some(format!(
                "lab: {}/{} sessions up ({:.0}/s, t={:.1}s)\n",
                s.up,
                s.total,
                rate,
                s.time.as_secs_f64()
            ))
        } else if self
            .fwd_line
            .is_none_or(|t| now.duration_since(t) >= Duration::from_secs(1))
        {
            self.fwd_line = Some(now);
            Some(format!(
                "lab: forwarding {} packets, {:.2} Mpps, {} dropped\n",
                s.forwarded,
                s.mpps(),
                s.drops
            ))
        } else {
            None
        }
    }
}

fn main() -> ExitCode {
    let a = Args::parse();
    if a.subscribers == 0 || a.subscribers > 60_000 {
        eprintln!("lab: --subscribers must be 1..=60000 (one PPPoE session id each)");
        return ExitCode::from(2);
    }
    if a.ipoe > 60_000 {
        eprintln!("lab: --ipoe must be 0..=60000 (one address each from a /16 pool)");
        return ExitCode::from(2);
    }
    let mut live = Live::new(std::io::stderr().is_terminal(), a.quiet);
    let mut progress = |s: &Status| live.update(s);
    let r = if a.netns {
        let bng = std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(|d| d.join("bng")))
            .unwrap_or_else(|| "bng".into());
        let opt = bng_examples::lab_netns::NetnsOptions {
            pppoe: a.subscribers,
            ipoe: a.ipoe,
            packets: a.packets,
            bng,
            backend: a.backend.clone(),
            dir: std::env::temp_dir().join("bngkit-lab-netns"),
            load_packets: a.load_packets,
            load_time: Duration::from_secs(a.load_secs),
            kernel: a.kernel,
        };
        match bng_examples::lab_netns::run(&opt, &mut progress) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::from(2);
            }
        }
    } else {
        run(
            &Options {
                subscribers: a.subscribers,
                ipoe: a.ipoe,
                packets: a.packets,
                seed: a.seed,
                progress_every: 8,
                reference: !a.no_reference,
            },
            &mut progress,
        )
    };
    if live.tty && !a.quiet {
        eprintln!();
    }
    print_report(&r, a.netns);
    if r.failures > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn print_report(r: &Report, netns: bool) {
    let clock = if netns { "real" } else { "virtual" };
    println!("lab report");
    println!(
        "  subscribers        {} PPPoE, {} IPoE",
        r.subscribers, r.ipoe_subscribers
    );
    println!(
        "  PPPoE sessions up  {} (PADI to IPCP up: discovery, LCP, CHAP-MD5, IPCP)",
        r.sessions_up
    );
    println!(
        "  PPPoE setup        {:.0} sessions/s wall clock ({:.3} s, our client machines included), {:.1} s {clock}",
        r.setup_rate(),
        r.setup_wall.as_secs_f64(),
        r.setup_virtual.as_secs_f64()
    );
    println!(
        "  IPoE sessions up   {} (DHCPv4 DISCOVER, OFFER, REQUEST, ACK)",
        r.ipoe_up
    );
    println!(
        "  DHCP setup         {:.0} sessions/s wall clock ({:.3} s, our client machines included), {:.1} s {clock} (arrivals spread)",
        r.ipoe_setup_rate(),
        r.ipoe_setup_wall.as_secs_f64(),
        r.ipoe_setup_virtual.as_secs_f64()
    );
    if !netns {
        println!(
            "  DHCP lifecycle     {} renewed at T1, {} released",
            r.ipoe_renewed, r.ipoe_released
        );
    }
    println!(
        "  packets            {} sent upstream, {} replies delivered ({} / {} IPoE)",
        r.sent, r.received, r.ipoe_sent, r.ipoe_received
    );
    if netns {
        print_netns(r);
    } else {
        print_memory(r);
    }
    if !r.counters.is_empty() {
        println!("  counters");
    }
    for (node, k, v) in &r.counters {
        println!("    {node:<22} {k:<28} {v}");
    }
    println!("  failures           {}", r.failures);
}

/// The in-memory lab's forwarding figures.
fn print_memory(r: &Report) {
    println!(
        "  anti-spoofing      {} spoofed sent, {} dropped; {} sent after RELEASE, {} dropped as unknown",
        r.spoofed_sent, r.spoofed_dropped, r.after_release_sent, r.unknown_dropped
    );
    println!(
        "  forwarding         {:.2} Mpps wall clock through the BNG plane with NAT44, both ways ({} packets in {:.3} s)",
        r.mpps(),
        r.forwarded,
        r.forward_wall.as_secs_f64()
    );
    let (cpu, cpu_ref) = r.mpps_cpu();
    println!(
        "  forwarding (CPU)   {cpu:.2} Mpps per CPU second of the plane ({:.3} s CPU)",
        r.forward_cpu.as_secs_f64()
    );
    if r.reference_forwarded > 0 {
        println!(
            "  reference          same traffic, same plane, no NAT44: {:.2} Mpps wall, {cpu_ref:.2} Mpps CPU ({} packets, {} answers); NAT44 / reference = {:.2} wall, {:.2} CPU",
            r.reference_mpps(),
            r.reference_forwarded,
            r.reference_received,
            r.mpps() / r.reference_mpps().max(1e-9),
            cpu / cpu_ref.max(1e-9)
        );
    }
    println!(
        "  NAT port blocks    {} allocated (compliance events)",
        r.nat_blocks
    );
}

/// `lab --netns`: the echo phase and the forwarding-load figures.
fn print_netns(r: &Report) {
    println!(
        "  echo phase         {} datagrams and echoes through bng + NAT44 in {:.3} s",
        r.forwarded,
        r.forward_wall.as_secs_f64()
    );
    for l in &r.load {
        let cpu = l.cpu.map_or(String::new(), |c| {
            format!(
                ", {:.2} µs CPU per forwarded packet ({:.2} s CPU)",
                c.as_secs_f64() * 1e6 / (l.forwarded.max(1) as f64),
                c.as_secs_f64()
            )
        });
        println!(
            "  load               {}: {} sent in {:.2} s ({:.0} pps offered), {} at the server by {:.2} s ({:.0} pps forwarded){cpu}",
            l.path,
            l.offered,
            l.wall.as_secs_f64(),
            l.offered_pps(),
            l.forwarded,
            l.forward_time.as_secs_f64(),
            l.forwarded_pps()
        );
    }
    if let [ours, kernel, ..] = &r.load[..] {
        println!(
            "  load ratio         {} / {} = {:.2} (forwarded pps)",
            ours.path,
            kernel.path,
            ours.forwarded_pps() / kernel.forwarded_pps().max(1e-9)
        );
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests"
)]
mod tests {
    use super::*;

    fn feed(live: &mut Live, now: Instant) -> Vec<String> {
        let mut out = Vec::new();
        // 2000 setup updates, then 500 forwarding updates, all within 50 ms
        for up in 0..=2000usize {
            out.extend(live.render(&Status::setup(up, 2000, Duration::ZERO), now));
        }
        for k in 1..=500u64 {
            let s = Status {
                up: 2000,
                total: 2000,
                forwarded: k * 256,
                forward_wall: Duration::from_micros(k * 50),
                drops: 3,
                ..Status::default()
            };
            out.extend(live.render(&s, now + Duration::from_millis(k / 10)));
        }
        out
    }

    #[test]
    fn without_a_terminal_a_few_plain_lines_and_no_control_characters() {
        let mut live = Live::new(false, false);
        let out = feed(&mut live, Instant::now());
        assert_eq!(out.len(), 4 + 1, "{out:?}");
        assert!(
            out.iter()
                .all(|l| l.ends_with('\n') && !l.trim_end().chars().any(char::is_control))
        );
        assert!(out[3].starts_with("lab: 2000/2000 sessions up"));
        assert!(out[4].contains("Mpps, 3 dropped"));
    }

    #[test]
    fn on_a_terminal_the_bar_is_redrawn_in_place_at_most_ten_times_a_second() {
        let mut live = Live::new(true, false);
        let out = feed(&mut live, Instant::now());
        // the first draw, the completed setup, nothing more within 100 ms
        assert_eq!(out.len(), 2, "{out:?}");
        assert!(out.iter().all(|l| l.starts_with('\r') && !l.contains('\n')));
        assert!(out[1].contains("[##############################] 2000/2000 up"));
    }

    #[test]
    fn quiet_prints_nothing() {
        let mut live = Live::new(true, true);
        assert!(feed(&mut live, Instant::now()).is_empty());
    }

    #[test]
    fn every_flag_is_documented() {
        use clap::CommandFactory;
        let cmd = Args::command();
        for arg in cmd.get_arguments() {
            assert!(
                arg.get_help().is_some() || arg.get_id() == "help",
                "--{} has no help",
                arg.get_id()
            );
        }
    }
}
