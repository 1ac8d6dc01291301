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
//! (`<node> <counter> <value>`, of every worker added up, then `worker <w> <node>
//! <counter> <value>` with more than one) and each session's counters.
//!
//! `--workers N` runs N worker threads, each with its subscribers (placed by
//! `SessionConfig::worker`) and its slice of the NAT44 pool, on one queue per interface
//! (what a NIC that cannot RSS PPPoE gives): over AF_XDP every worker claims its own
//! frames from the one socket's RX ring (`Xsk::into_claims`); over AF_PACKET each worker
//! has its own socket per interface and the kernel hands each frame to its worker
//! (`backend::fanout`). Frames from the upstream port go straight to the worker whose
//! slice of the NAT44 pool holds their destination (claimed, or by the kernel's program,
//! the same way); anything else there (ARP, public subscriber addresses) to worker 0,
//! which passes it on through the `Steering` mesh where needed.

#![allow(clippy::std_instead_of_core, reason = "a std binary")]

use std::net::Ipv4Addr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use bng_dataplane::backend::Backend;
use bng_dataplane::backend::afpacket::stop_flag;
use bng_dataplane::backend::afxdp;
use bng_dataplane::backend::claim::Claim;
use bng_dataplane::backend::fanout::Fanout;
use bng_dataplane::backend::tpacket::{Port as PacketPort, RingConfig};
use bng_dataplane::bng::{Access, BngConfig, PortConfig, SessionConfig, SessionId};
use bng_dataplane::control::{Control, Route};
use bng_dataplane::worker::{Steering, Worker, WorkerConfig, pool_slice};
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
    /// Worker threads (see the module docs).
    #[arg(long, default_value_t = 1)]
    workers: usize,
    /// Pin worker `w` to CPU `w`.
    #[arg(long)]
    pin: bool,
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
    let n = args.workers;
    if n == 0 || n > 64 {
        return Err(format!("--workers {n}: 1 to 64"));
    }
    // the NAT44 pool, which places downstream frames on the upstream port
    let (pool_first, pool_len) = args
        .nat
        .as_deref()
        .map(prefix)
        .transpose()?
        .unwrap_or((Ipv4Addr::UNSPECIFIED, 0));
    match args.backend {
        BackendKind::Afpacket => {
            let ring = RingConfig::default();
            let open = |i: &str| {
                PacketPort::open(i, Some(&ring)).map_err(|e| format!("{i}: {e} (run as root)"))
            };
            // one socket per worker and interface; with more than one worker each
            // interface's sockets form a fanout group that steers by subscriber
            let (acc, up) = (open(acc_if)?, open(up_if)?);
            let macs = [acc.mac(), up.mac()];
            let mut ports: Vec<Vec<PacketPort>> = vec![vec![acc, up]];
            for _ in 1..n {
                ports.push(vec![open(acc_if)?, open(up_if)?]);
            }
            if n > 1 {
                let fe = |e: std::io::Error| format!("fanout: {e}");
                let programs = [
                    Fanout::new(n, &[]).map_err(fe)?,
                    Fanout::upstream(n, pool_first, pool_len).map_err(fe)?,
                ];
                let base = u16::try_from(std::process::id() % 30_000).unwrap_or(0);
                for (k, (group, fanout)) in
                    [base, base + 30_000].into_iter().zip(&programs).enumerate()
                {
                    for w in &ports {
                        if let Some(p) = w.get(k) {
                            fanout
                                .join(std::os::fd::AsFd::as_fd(p), group)
                                .map_err(fe)?;
                        }
                    }
                }
            }
            run(args, ports, macs, (acc_addr, up_addr), &subs)
        }
        BackendKind::Afxdp => {
            let cfg = afxdp::Config::default();
            let open =
                |i: &str| afxdp::Xsk::open(i, cfg).map_err(|e| format!("{i}: {e} (run as root)"));
            let (acc, up) = (open(acc_if)?, open(up_if)?);
            let macs = [acc.mac(), up.mac()];
            if n == 1 {
                return run(args, vec![vec![acc, up]], macs, (acc_addr, up_addr), &subs);
            }
            // every worker claims its own frames from each interface's one socket
            let access = (0..n).map(|w| Claim::new(w, n, &[])).collect();
            let upstream = (0..n)
                .map(|w| Claim::upstream(w, n, pool_first, pool_len))
                .collect();
            let e = |e: std::io::Error| format!("claims: {e}");
            let ports = acc
                .into_claims(access)
                .map_err(e)?
                .into_iter()
                .zip(up.into_claims(upstream).map_err(e)?)
                .map(|(a, u)| vec![a, u])
                .collect();
            run(args, ports, macs, (acc_addr, up_addr), &subs)
        }
    }
}

fn run<B: Backend + Send + 'static>(
    args: &Args,
    ports: Vec<Vec<B>>,
    macs: [[u8; 6]; 2],
    (acc_addr, up_addr): (Ipv4Addr, Ipv4Addr),
    subs: &[SessionConfig],
) -> Result<(), String> {
    let n = ports.len();
    let nat = args.nat.as_deref().map(prefix).transpose()?;
    let cfg = |w: usize| WorkerConfig {
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
        nat: nat.map(|(first, len)| {
            let (first, len) = pool_slice(first, len, w, n);
            (NatConfig::port_block(first, len), 1 << 16, 4096)
        }),
        cpu: args.pin.then_some(w),
    };
    let (ctl, queues) = Control::new(n, 1024);
    let (ev_tx, ev_rx) = std::sync::mpsc::sync_channel(1024);
    // more than one worker: the mesh passes upstream frames to their pool slice's worker
    let mut mesh: Vec<Option<Steering>> = if n > 1 {
        let (first, len) = nat.unwrap_or((Ipv4Addr::UNSPECIFIED, 0));
        Steering::mesh(n, 1, first, len, 64)
            .into_iter()
            .map(|mut st| {
                // the access port delivers only the worker's own subscribers; the
                // upstream port's unplaced frames (ARP, public addresses) land on
                // worker 0 and still go through the mesh
                st.set_claimed(0, true);
                Some(st)
            })
            .collect()
    } else {
        vec![None]
    };
    let workers: Vec<Worker<B>> = ports
        .into_iter()
        .zip(queues)
        .enumerate()
        .map(|(w, (p, q))| {
            let st = mesh.get_mut(w).and_then(Option::take);
            Worker::spawn(w, cfg(w), p, q, st, Some(ev_tx.clone()))
        })
        .collect();
    drop(ev_tx);
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
        "bng-dp: forwarding, {} subscriber(s), NAT44 {}, {n} worker(s)",
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
    print_node_counters(&ctl, n)?;
    for (id, c) in ctl.all_counters().map_err(|e| e.to_string())? {
        println!(
            "session {} up {} packets {} bytes, down {} packets {} bytes",
            id.0, c.up_packets, c.up_bytes, c.down_packets, c.down_bytes
        );
    }
    println!("bng-dp: punted {punts}, nat44 events {nat_events}");
    join_all(workers)
}

/// Every worker's node counters that are not zero (each worker's own too, with more than
/// one), added up per node and counter.
fn print_node_counters(ctl: &Control, n: usize) -> Result<(), String> {
    let mut total: Vec<(&'static str, String, u64)> = Vec::new();
    for w in 0..n {
        for (node, counter, value) in ctl.node_counters(w).map_err(|e| e.to_string())? {
            if value == 0 {
                continue;
            }
            if n > 1 {
                println!("worker {w} {node} {counter} {value}");
            }
            match total.iter_mut().find(|t| t.0 == node && t.1 == counter) {
                Some(t) => t.2 += value,
                None => total.push((node, counter, value)),
            }
        }
    }
    for (node, counter, value) in total {
        println!("{node} {counter} {value}");
    }
    Ok(())
}

/// Joins the workers, printing each one's packet counters (`steered_out` /
/// `steered_in`: packets that crossed to another worker through the mesh).
fn join_all<B: Backend + Send + 'static>(workers: Vec<Worker<B>>) -> Result<(), String> {
    for (i, w) in workers.into_iter().enumerate() {
        let st = std::sync::Arc::clone(&w.stats);
        w.join().map_err(|e| e.to_string())?;
        let get = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
        println!(
            "bng-dp: worker {i} rx {} tx {} steered_out {} steered_in {}",
            get(&st.rx),
            get(&st.tx),
            get(&st.steered_out),
            get(&st.steered_in)
        );
    }
    Ok(())
}
