//! `bng-dp`: the dataplane's subscriber-gateway graph (`bng_dataplane::bng::Bng`) in a
//! worker thread over AF_PACKET or AF_XDP ports, with IPoE subscribers provisioned
//! through the control API (`bng_dataplane::control::Control`) from the command line,
//! and NAT44 into a pool.
//!
//! ```text
//! bng-dp --access p0=100.64.0.1 --upstream p1=198.51.100.1 \
//!        --route 0.0.0.0/0=02:00:00:00:02:02 --nat 203.0.113.0/30 \
//!        --ipoe 02:00:00:00:01:02,100.64.0.2[,VLAN[,VLAN]]
//! ```
//! Needs `CAP_NET_RAW` (and `CAP_NET_ADMIN` + `CAP_BPF` for `--backend afxdp`). Runs
//! until SIGINT/SIGTERM or `--seconds`, then prints the per-node counters
//! (`<node> <counter> <value>`) and each session's counters.

#![allow(clippy::std_instead_of_core, reason = "a std binary")]

use std::net::Ipv4Addr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use bng_dataplane::backend::Backend;
use bng_dataplane::backend::afpacket::stop_flag;
use bng_dataplane::backend::afxdp;
use bng_dataplane::backend::tpacket::{Port as PacketPort, RingConfig};
use bng_dataplane::bng::{Access, BngConfig, PortConfig, SessionConfig, SessionId};
use bng_dataplane::control::{Control, Route};
use bng_dataplane::worker::{Worker, WorkerConfig};
use bng_nat44::Config as NatConfig;
use clap::Parser;

#[derive(Parser, Debug)]
#[command(about = "The bngkit subscriber graph (IPoE + NAT44) over AF_PACKET or AF_XDP")]
struct Args {
    /// The access port: `IFNAME=IPV4` (the subscribers' gateway address).
    #[arg(long)]
    access: String,
    /// The upstream port: `IFNAME=IPV4` (our address toward the Internet).
    #[arg(long)]
    upstream: String,
    /// A route out of the upstream port: `PREFIX/LEN=NEXTHOP_MAC`. Repeat.
    #[arg(long = "route")]
    routes: Vec<String>,
    /// NAT44 pool `FIRST/LEN` (LEN = number of addresses); its subscribers are
    /// translated into it. Without it, subscribers are routed with their own address.
    #[arg(long)]
    nat: Option<String>,
    /// An IPoE subscriber: `MAC,IPV4[,VLAN[,VLAN]]`. Repeat.
    #[arg(long = "ipoe")]
    ipoe: Vec<String>,
    /// Stop after this many seconds.
    #[arg(long, default_value_t = 3600)]
    seconds: u64,
    /// The packet I/O backend.
    #[arg(long, value_enum, default_value_t = BackendKind::Afpacket)]
    backend: BackendKind,
}

/// Which packet I/O backend to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum BackendKind {
    /// AF_PACKET with TPACKET_V3 rings.
    Afpacket,
    /// AF_XDP sockets (copy mode), XDP program in native mode.
    Afxdp,
}

fn port_arg(s: &str) -> Result<(&str, Ipv4Addr), String> {
    let (i, a) = s
        .split_once('=')
        .ok_or_else(|| format!("{s}: expected IFNAME=IPV4"))?;
    Ok((i, a.parse().map_err(|e| format!("{s}: {e}"))?))
}

fn mac(s: &str) -> Result<[u8; 6], String> {
    bng_examples::cli::parse_mac(s).ok_or_else(|| format!("{s}: not a MAC address"))
}

fn prefix(s: &str) -> Result<(Ipv4Addr, u32), String> {
    let (a, l) = s
        .split_once('/')
        .ok_or_else(|| format!("{s}: expected ADDR/LEN"))?;
    Ok((
        a.parse().map_err(|e| format!("{s}: {e}"))?,
        l.parse().map_err(|e| format!("{s}: {e}"))?,
    ))
}

fn sessions(args: &Args) -> Result<Vec<SessionConfig>, String> {
    args.ipoe
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let f: Vec<&str> = s.split(',').collect();
            let (Some(m), Some(a)) = (f.first(), f.get(1)) else {
                return Err(format!("--ipoe {s}: expected MAC,IPV4[,VLAN[,VLAN]]"));
            };
            let vlan = |k: usize| -> Result<u16, String> {
                f.get(k)
                    .map_or(Ok(0), |v| v.parse().map_err(|e| format!("--ipoe {s}: {e}")))
            };
            Ok(SessionConfig {
                id: SessionId(u32::try_from(i).unwrap_or(u32::MAX)),
                port: 0,
                mac: mac(m)?,
                vlans: [vlan(2)?, vlan(3)?],
                access: Access::Ipoe { circuit_id: None },
                addr: a.parse().map_err(|e| format!("--ipoe {s}: {e}"))?,
                nat: args.nat.is_some(),
                qos: None,
            })
        })
        .collect()
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run_args(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bng-dp: {e}");
            ExitCode::from(2)
        }
    }
}

fn run_args(args: &Args) -> Result<(), String> {
    let (acc_if, acc_addr) = port_arg(&args.access)?;
    let (up_if, up_addr) = port_arg(&args.upstream)?;
    let subs = sessions(args)?;
    match args.backend {
        BackendKind::Afpacket => {
            let ring = RingConfig::default();
            let open = |i: &str| {
                PacketPort::open(i, Some(&ring)).map_err(|e| format!("{i}: {e} (run as root)"))
            };
            let (acc, up) = (open(acc_if)?, open(up_if)?);
            let macs = [acc.mac(), up.mac()];
            run(args, vec![acc, up], macs, (acc_addr, up_addr), &subs)
        }
        BackendKind::Afxdp => {
            let cfg = afxdp::Config::default();
            let open =
                |i: &str| afxdp::Xsk::open(i, cfg).map_err(|e| format!("{i}: {e} (run as root)"));
            let (acc, up) = (open(acc_if)?, open(up_if)?);
            let macs = [acc.mac(), up.mac()];
            run(args, vec![acc, up], macs, (acc_addr, up_addr), &subs)
        }
    }
}

fn run<B: Backend + Send + 'static>(
    args: &Args,
    ports: Vec<B>,
    macs: [[u8; 6]; 2],
    (acc_addr, up_addr): (Ipv4Addr, Ipv4Addr),
    subs: &[SessionConfig],
) -> Result<(), String> {
    let nat = args
        .nat
        .as_deref()
        .map(prefix)
        .transpose()?
        .map(|(first, len)| (NatConfig::port_block(first, len), 1 << 16, 4096));
    let cfg = WorkerConfig {
        bng: BngConfig::two_ports(
            PortConfig {
                mac: macs[0],
                addr: acc_addr,
            },
            PortConfig {
                mac: macs[1],
                addr: up_addr,
            },
            4096,
        ),
        buffers: 4096,
        nat,
    };
    let (ctl, mut queues) = Control::new(1, 1024);
    let q = queues.pop().ok_or("no queue")?;
    let (ev_tx, ev_rx) = std::sync::mpsc::sync_channel(1024);
    let worker = Worker::spawn(0, cfg, ports, q, None, Some(ev_tx));
    for r in &args.routes {
        let (net, via) = r
            .split_once('=')
            .ok_or_else(|| format!("--route {r}: expected PREFIX/LEN=MAC"))?;
        let (p, l) = prefix(net)?;
        ctl.add_route(Route {
            prefix: p,
            len: u8::try_from(l).map_err(|e| format!("--route {r}: {e}"))?,
            port: 1,
            next_hop_mac: mac(via)?,
        })
        .map_err(|e| format!("--route {r}: {e}"))?;
    }
    for s in subs {
        ctl.add_session_wait(s.clone())
            .map_err(|e| format!("--ipoe {}: {e}", s.addr))?;
    }
    println!(
        "bng-dp: forwarding, {} subscriber(s), NAT44 {}",
        subs.len(),
        args.nat.as_deref().unwrap_or("off")
    );
    let stop = stop_flag();
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let (mut punts, mut nat_events) = (0u64, 0u64);
    while !stop.load(std::sync::atomic::Ordering::Relaxed) && Instant::now() < deadline {
        // the control plane's side: punted frames and NAT44 log events
        match ev_rx.recv_timeout(Duration::from_millis(50)) {
            Ok(bng_dataplane::worker::WorkerEvent::Punt(..)) => punts += 1,
            Ok(bng_dataplane::worker::WorkerEvent::Nat(_, e)) => {
                nat_events += 1;
                println!("bng-dp: nat44 {e:?}");
            }
            Err(_) => {}
        }
    }
    for (node, counter, value) in ctl.node_counters(0).map_err(|e| e.to_string())? {
        if value > 0 {
            println!("{node} {counter} {value}");
        }
    }
    for (id, c) in ctl.all_counters().map_err(|e| e.to_string())? {
        println!(
            "session {} up {} packets {} bytes, down {} packets {} bytes",
            id.0, c.up_packets, c.up_bytes, c.down_packets, c.down_bytes
        );
    }
    println!("bng-dp: punted {punts}, nat44 events {nat_events}");
    worker.join().map_err(|e| e.to_string())?;
    Ok(())
}
