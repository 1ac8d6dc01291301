//! `lab`: the README's main job. Builds a complete access network in memory — N PPPoE
//! subscribers with our own PPPoE and PPP client machines and M IPoE subscribers with our
//! own DHCPv4 client machine, the BNG with local authentication, a DHCPv4 server, local
//! pools, IPoE anti-spoofing and NAT44 toward a simulated upstream host — shows a live
//! progress line, then a final report (rates only: sessions/s and Mpps, no RSS). No root
//! and no external server needed.
//!
//! `lab [--subscribers N] [--ipoe M] [--packets K] [--seed S]`; exits 1 if any subscriber
//! failed.

#![allow(
    clippy::std_instead_of_core,
    clippy::cast_precision_loss,
    reason = "a std binary printing rates"
)]

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use bng_examples::lab::{Options, run};
use clap::Parser;

#[derive(Parser, Debug)]
#[command(about = "A complete PPPoE + IPoE access network with NAT44, in memory")]
struct Args {
    /// Simulated PPPoE subscribers.
    #[arg(long, default_value_t = 1000)]
    subscribers: usize,
    /// Simulated IPoE (DHCPv4) subscribers.
    #[arg(long, default_value_t = 1000)]
    ipoe: usize,
    /// UDP packets each subscriber sends upstream (each is answered).
    #[arg(long, default_value_t = 16)]
    packets: usize,
    /// Seed of the deterministic randomness.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Over veth namespaces against the real `bng` process instead of in memory (root;
    /// `bng_examples::lab_netns`).
    #[arg(long)]
    netns: bool,
    /// With `--netns`: the gateway's backend, `afpacket` or `afxdp`.
    #[arg(long, default_value = "afpacket")]
    backend: String,
}

#[allow(
    clippy::too_many_lines,
    reason = "arguments, the run (in memory or over namespaces) and the report, in order"
)]
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
    let tty = std::io::stderr().is_terminal();
    let mut last = 0usize;
    let mut progress = |up: usize, n: usize, t: Duration| {
        if tty {
            let w = 40 * up / n.max(1);
            eprint!(
                "\r[{}{}] {up}/{n} sessions up (virtual t={:.1}s)",
                "#".repeat(w),
                ".".repeat(40 - w),
                t.as_secs_f64()
            );
            let _ = std::io::stderr().flush();
        } else if up >= last + n.div_ceil(4) || (up == n && last != n) {
            eprintln!(
                "lab: {up}/{n} sessions up (virtual t={:.1}s)",
                t.as_secs_f64()
            );
            last = up;
        }
    };
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
                reference: true,
            },
            &mut progress,
        )
    };
    if tty {
        eprintln!();
    }
    println!("lab report");
    println!(
        "  subscribers        {} PPPoE, {} IPoE",
        r.subscribers, r.ipoe_subscribers
    );
    println!(
        "  PPPoE sessions up  {} (PPPoE discovery, LCP, CHAP-MD5, IPCP)",
        r.sessions_up
    );
    println!(
        "  PPPoE setup        {:.0} sessions/s wall clock ({:.3} s), {:.1} s virtual",
        r.setup_rate(),
        r.setup_wall.as_secs_f64(),
        r.setup_virtual.as_secs_f64()
    );
    println!(
        "  IPoE sessions up   {} (DHCPv4 DISCOVER, OFFER, REQUEST, ACK)",
        r.ipoe_up
    );
    println!(
        "  DHCP setup         {:.0} sessions/s wall clock ({:.3} s), {:.1} s virtual (arrivals spread)",
        r.ipoe_setup_rate(),
        r.ipoe_setup_wall.as_secs_f64(),
        r.ipoe_setup_virtual.as_secs_f64()
    );
    println!(
        "  DHCP lifecycle     {} renewed at T1, {} released",
        r.ipoe_renewed, r.ipoe_released
    );
    println!(
        "  packets            {} sent upstream, {} replies delivered ({} / {} IPoE)",
        r.sent, r.received, r.ipoe_sent, r.ipoe_received
    );
    println!(
        "  anti-spoofing      {} spoofed sent, {} dropped; {} sent after RELEASE, {} dropped as unknown",
        r.spoofed_sent, r.spoofed_dropped, r.after_release_sent, r.unknown_dropped
    );
    println!(
        "  forwarding         {:.2} Mpps through the BNG plane with NAT44, both ways ({} packets in {:.3} s)",
        r.mpps(),
        r.forwarded,
        r.forward_wall.as_secs_f64()
    );
    let (cpu, cpu_ref) = r.mpps_cpu();
    println!(
        "  forwarding (CPU)   {cpu:.2} Mpps per CPU second of the plane ({:.3} s CPU){}",
        r.forward_cpu.as_secs_f64(),
        if cpu_ref > 0.0 {
            format!(
                "; reference {cpu_ref:.2} Mpps ({:.3} s CPU), ratio {:.2}",
                r.reference_cpu.as_secs_f64(),
                cpu / cpu_ref
            )
        } else {
            String::new()
        }
    );
    if r.reference_forwarded > 0 {
        println!(
            "  reference          {:.2} Mpps, same traffic through the same plane without NAT44 ({} packets in {:.3} s, {} answers); NAT44 plane / reference = {:.2}",
            r.reference_mpps(),
            r.reference_forwarded,
            r.reference_wall.as_secs_f64(),
            r.reference_received,
            r.mpps() / r.reference_mpps().max(1e-9)
        );
    }
    println!(
        "  NAT port blocks    {} allocated (compliance events)",
        r.nat_blocks
    );
    println!("  counters");
    for (node, k, v) in &r.counters {
        println!("    {node:<22} {k:<28} {v}");
    }
    println!("  failures           {}", r.failures);
    if r.failures > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
