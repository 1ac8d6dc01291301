//! `bng-fwd`: the dataplane's IPv4 forwarding graph over AF_PACKET or AF_XDP ports — a first
//! runnable composition (ethernet-input, arp-input, ip4-lookup with DIR-24-8, ip4-rewrite)
//! used by the interop test with real Linux hosts in namespaces.
//!
//! ```text
//! bng-fwd --port veth0=10.0.1.1 --port veth1=10.0.2.1 \
//!         --route 10.0.1.0/24=0,02:00:00:00:01:02 --route 10.0.2.0/24=1,02:00:00:00:02:02
//! ```
//! AF_PACKET ports use TPACKET_V3 rings unless `--afpacket-io plain` (or ring setup
//! fails: the fallback and its reason are printed).
//! `--backend afxdp [--xdp-mode native|skb]` uses AF_XDP sockets (copy mode) with the XDP
//! redirect program instead of AF_PACKET (needs `CAP_NET_ADMIN` and `CAP_BPF` too).
//! Needs `CAP_NET_RAW`. Runs until SIGINT/SIGTERM or `--seconds`, then prints the
//! per-node counters.

#![allow(clippy::std_instead_of_core, reason = "a std binary")]

use std::net::Ipv4Addr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use bng_dataplane::backend::Backend;
use bng_dataplane::backend::afpacket::stop_flag;
use bng_dataplane::backend::afxdp;
use bng_dataplane::backend::tpacket::{self, Port as PacketPort, RingConfig};
use bng_dataplane::buffer::Arena;
use bng_dataplane::graph::new_frame;
use bng_dataplane::router::{Port, Router};
use clap::Parser;

#[derive(Parser, Debug)]
#[command(about = "IPv4 forwarding through the bngkit node graph over AF_PACKET or AF_XDP")]
struct Args {
    /// A port: `IFNAME=IPV4` (our address on it, answered for ARP). Repeat; order = port number.
    #[arg(long = "port", required = true)]
    ports: Vec<String>,
    /// A route: `PREFIX/LEN=PORT,NEXTHOP_MAC`. Repeat.
    #[arg(long = "route")]
    routes: Vec<String>,
    /// Stop after this many seconds.
    #[arg(long, default_value_t = 3600)]
    seconds: u64,
    /// The packet I/O backend.
    #[arg(long, value_enum, default_value_t = BackendKind::Afpacket)]
    backend: BackendKind,
    /// Where the XDP redirect program runs (`--backend afxdp`).
    #[arg(long, value_enum, default_value_t = XdpModeArg::Native)]
    xdp_mode: XdpModeArg,
    /// AF_PACKET I/O: TPACKET_V3 rings (falling back to the plain socket if ring setup
    /// fails) or the plain socket (one system call per frame).
    #[arg(long, value_enum, default_value_t = AfPacketIo::Ring)]
    afpacket_io: AfPacketIo,
    /// Entries of each AF_XDP ring (a power of two; the UMEM has twice as many frames).
    #[arg(long, default_value_t = 2048)]
    xsk_ring: u32,
    /// EAL arguments for `--backend dpdk`, one string split at spaces, e.g.
    /// `--no-huge -m 512 --no-pci --file-prefix=x --vdev=net_af_packet0,iface=p0`.
    #[arg(long, default_value = "", allow_hyphen_values = true)]
    dpdk_eal: String,
    /// Microseconds an idle `--backend dpdk` worker sleeps (0: busy polling).
    #[arg(long, default_value_t = 100)]
    dpdk_idle_us: u64,
    /// Empty polls of every port before an idle worker sleeps in `poll(2)` (busy-polling
    /// the rings a little saves a wakeup per small burst at the cost of some idle CPU).
    #[arg(long, default_value_t = 0)]
    idle_spins: u32,
    /// AF_XDP busy polling: `SO_BUSY_POLL` microseconds (0: off, the default). Each
    /// RX burst then runs the veth/NIC queue's NAPI poll in the worker thread.
    #[arg(long, default_value_t = 0)]
    xsk_busy_poll_us: u32,
    /// AF_XDP busy polling: `SO_BUSY_POLL_BUDGET` (packets per NAPI poll).
    #[arg(long, default_value_t = 64)]
    xsk_busy_poll_budget: u16,
    /// AF_XDP busy polling: also set `SO_PREFER_BUSY_POLL` (pair it with the
    /// interface's `napi_defer_hard_irqs` and `gro_flush_timeout`).
    #[arg(long)]
    xsk_prefer_busy_poll: bool,
    /// AF_XDP: bind without `XDP_USE_NEED_WAKEUP` (kick TX on every burst).
    #[arg(long)]
    xsk_no_need_wakeup: bool,
    /// AF_XDP: most packets taken off an RX ring per burst (1-256).
    #[arg(long, default_value_t = 256)]
    xsk_rx_batch: u32,
    /// AF_XDP queues per port: one socket per queue, one worker thread per queue
    /// (each owning that queue's socket on every port).
    #[arg(long, default_value_t = 1)]
    queues: u32,
}

fn parse_mac(s: &str) -> Result<[u8; 6], String> {
    bng_examples::cli::parse_mac(s)
        .ok_or_else(|| format!("MAC {s}: expected six hex octets separated by ':'"))
}

fn parse_route(s: &str) -> Result<(Ipv4Addr, u8, u16, [u8; 6]), String> {
    let (net, via) = s
        .split_once('=')
        .ok_or_else(|| format!("--route {s}: expected PREFIX/LEN=PORT,MAC"))?;
    let (addr, len) = net
        .split_once('/')
        .ok_or_else(|| format!("--route {s}: prefix needs /LEN"))?;
    let (port, mac) = via
        .split_once(',')
        .ok_or_else(|| format!("--route {s}: expected PORT,MAC after ="))?;
    Ok((
        addr.parse().map_err(|e| format!("--route {s}: {e}"))?,
        len.parse()
            .map_err(|e| format!("--route {s}: length: {e}"))?,
        port.parse()
            .map_err(|e| format!("--route {s}: port: {e}"))?,
        parse_mac(mac)?,
    ))
}

/// Which packet I/O backend to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum BackendKind {
    /// AF_PACKET raw sockets.
    Afpacket,
    /// AF_XDP sockets (copy mode) with the XDP redirect program.
    Afxdp,
    /// DPDK ethdevs (build with `--features dpdk`); `--port` names the DPDK device
    /// (e.g. `net_af_packet0=10.0.1.1`) and `--dpdk-eal` gives the EAL arguments.
    Dpdk,
}

/// How the AF_PACKET backend moves frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum AfPacketIo {
    /// TPACKET_V3 RX ring and TX ring (`sendto` per burst).
    Ring,
    /// One `recvfrom`/`send` per frame.
    Plain,
}

/// Where the XDP program runs (AF_XDP only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum XdpModeArg {
    /// Native (driver) mode.
    Native,
    /// Generic (skb) mode.
    Skb,
}

/// Opens every port with `open`, returning the sockets and the router's port table.
fn open_ports<S>(
    args: &Args,
    open: impl Fn(&str) -> std::io::Result<S>,
    mac: impl Fn(&S) -> [u8; 6],
) -> Result<(Vec<S>, Vec<Port>), ExitCode> {
    let mut sockets = Vec::new();
    let mut ports = Vec::new();
    for p in &args.ports {
        let Some((ifname, addr)) = p.split_once('=') else {
            eprintln!("bng-fwd: --port {p}: expected IFNAME=IPV4");
            return Err(ExitCode::from(2));
        };
        let Ok(addr) = addr.parse::<Ipv4Addr>() else {
            eprintln!("bng-fwd: --port {p}: {addr} is not an IPv4 address");
            return Err(ExitCode::from(2));
        };
        match open(ifname) {
            Ok(s) => {
                ports.push(Port { mac: mac(&s), addr });
                sockets.push(s);
            }
            Err(e) => {
                eprintln!("bng-fwd: {ifname}: {e} (run as root)");
                return Err(ExitCode::from(1));
            }
        }
    }
    Ok((sockets, ports))
}

#[cfg(feature = "dpdk")]
fn run_dpdk(args: &Args) -> ExitCode {
    use bng_dataplane::backend::dpdk;
    let eal: Vec<&str> = args.dpdk_eal.split_whitespace().collect();
    if let Err(e) = dpdk::init(&eal) {
        eprintln!("bng-fwd: DPDK EAL: {e}");
        return ExitCode::from(1);
    }
    println!("bng-fwd: {}", dpdk::version());
    match open_ports(args, dpdk::DpdkPort::open, dpdk::DpdkPort::mac) {
        Ok((sockets, ports)) => {
            // net_af_xdp ports: every RX mbuf must lie inside the UMEM the PMD registers
            for (i, p) in sockets.iter().enumerate() {
                if let Some(l) = p.rx_pool_layout() {
                    println!("dpdk{i} rx pool {l:?} fits {}", l.fits());
                }
            }
            run(
                args,
                sockets,
                &ports,
                // DPDK ports have no descriptor to sleep on: an idle worker naps briefly
                // instead of spinning a shared core (`--dpdk-idle-us 0`: busy polling)
                |_| {
                    if args.dpdk_idle_us > 0 {
                        std::thread::sleep(Duration::from_micros(args.dpdk_idle_us));
                    }
                },
                |s| {
                    for (i, p) in s.iter().enumerate() {
                        println!("dpdk{i} {:?}", p.stats());
                    }
                    // the kernel's side of net_af_xdp ports (none for other vdevs)
                    for x in dpdk::xdp_socket_stats() {
                        println!("dpdk xsk {x:?}");
                    }
                },
            )
        }
        Err(code) => code,
    }
}

#[cfg(not(feature = "dpdk"))]
fn run_dpdk(_: &Args) -> ExitCode {
    eprintln!("bng-fwd: built without the `dpdk` feature (cargo build --features dpdk)");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args = Args::parse();
    match args.backend {
        BackendKind::Dpdk => run_dpdk(&args),
        BackendKind::Afpacket => {
            let ring = RingConfig::default();
            let cfg = (args.afpacket_io == AfPacketIo::Ring).then_some(&ring);
            match open_ports(&args, |i| PacketPort::open(i, cfg), PacketPort::mac) {
                Ok((sockets, ports)) => {
                    for (p, s) in args.ports.iter().zip(&sockets) {
                        match s {
                            PacketPort::Plain(_, why) if !why.is_empty() => {
                                println!(
                                    "bng-fwd: {p}: plain AF_PACKET (ring setup failed: {why})"
                                );
                            }
                            PacketPort::Plain(..) => println!("bng-fwd: {p}: plain AF_PACKET"),
                            _ => println!("bng-fwd: {p}: AF_PACKET TPACKET_V3 rings"),
                        }
                    }
                    run(
                        &args,
                        sockets,
                        &ports,
                        |s| {
                            let _ = tpacket::wait_any(s, Duration::from_millis(10));
                        },
                        |s| {
                            for (i, p) in s.iter_mut().enumerate() {
                                if let PacketPort::Ring(r) = p {
                                    println!("ring{i} {:?}", r.stats());
                                }
                            }
                        },
                    )
                }
                Err(code) => code,
            }
        }
        BackendKind::Afxdp => run_afxdp(&args),
    }
}

/// `--backend afxdp`: one socket per queue per port, one worker per queue.
fn run_afxdp(args: &Args) -> ExitCode {
    let cfg = afxdp::Config {
        mode: match args.xdp_mode {
            XdpModeArg::Native => afxdp::XdpMode::Native,
            XdpModeArg::Skb => afxdp::XdpMode::Generic,
        },
        ring_size: args.xsk_ring,
        frames: args.xsk_ring.saturating_mul(2),
        need_wakeup: !args.xsk_no_need_wakeup,
        busy_poll: (args.xsk_busy_poll_us > 0).then_some(afxdp::BusyPoll {
            usecs: args.xsk_busy_poll_us,
            budget: args.xsk_busy_poll_budget,
            prefer: args.xsk_prefer_busy_poll,
        }),
        rx_batch: args.xsk_rx_batch,
        ..afxdp::Config::default()
    };
    let queues: Vec<u32> = (0..args.queues.max(1)).collect();
    let opened = open_ports(
        args,
        |i| afxdp::Xsk::open_queues(i, &queues, cfg),
        |v: &Vec<afxdp::Xsk>| v.first().map_or([0; 6], afxdp::Xsk::mac),
    );
    let (per_port, ports) = match opened {
        Ok(x) => x,
        Err(code) => return code,
    };
    for (p, v) in args.ports.iter().zip(&per_port) {
        let why = v.first().and_then(afxdp::Xsk::copy_reason);
        println!(
            "bng-fwd: {p}: AF_XDP, {} queue(s), {}",
            v.len(),
            why.map_or_else(|| "zero-copy".to_owned(), |w| format!("copy mode ({w})"))
        );
    }
    // one worker per queue, owning that queue's socket on every port
    let mut workers: Vec<Vec<afxdp::Xsk>> = queues.iter().map(|_| Vec::new()).collect();
    for v in per_port {
        for (w, x) in workers.iter_mut().zip(v) {
            w.push(x);
        }
    }
    let codes: Vec<ExitCode> = std::thread::scope(|sc| {
        let handles: Vec<_> = workers
            .into_iter()
            .map(|sockets| {
                let (args, ports) = (args, &ports);
                sc.spawn(move || {
                    run(
                        args,
                        sockets,
                        ports,
                        |s| {
                            let _ = afxdp::wait_any(s, Duration::from_millis(10));
                        },
                        |s| {
                            for (i, x) in s.iter().enumerate() {
                                println!("xsk{i} queue {} {:?}", x.queue(), x.stats());
                            }
                        },
                    )
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or(ExitCode::FAILURE))
            .collect()
    });
    codes.into_iter().next().unwrap_or(ExitCode::FAILURE)
}

/// The worker loop over any backend: receive a burst per port, run the graph, transmit.
fn run<B: Backend>(
    args: &Args,
    mut sockets: Vec<B>,
    ports: &[Port],
    wait: impl Fn(&[B]),
    report: impl Fn(&mut [B]),
) -> ExitCode {
    let mut arena = Arena::new(4096);
    let mut pool = arena.pool();
    let mut router = Router::new(ports, 0);
    for r in &args.routes {
        let route = parse_route(r).and_then(|(a, l, p, m)| {
            router
                .add_route(a, l, p, m)
                .map_err(|e| format!("--route {r}: {e}"))
        });
        if let Err(e) = route {
            eprintln!("bng-fwd: {e}");
            return ExitCode::from(2);
        }
    }
    let stop = stop_flag();
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let mut rx = new_frame();
    let mut tx: Vec<_> = sockets.iter().map(|_| new_frame()).collect();
    println!(
        "bng-fwd: forwarding on {} ports ({:?})",
        sockets.len(),
        args.backend
    );
    let mut idle = 0u32;
    let mut loops = 0u32;
    loop {
        // the clock is read every 64 loops, not per burst (an idle loop sleeps at most
        // 10 ms, so `--seconds` overruns by well under a second)
        loops = loops.wrapping_add(1);
        if stop.load(std::sync::atomic::Ordering::Relaxed)
            || (loops % 64 == 0 && Instant::now() >= deadline)
        {
            break;
        }
        let mut got = 0;
        for (i, s) in sockets.iter_mut().enumerate() {
            let n = s.rx_burst(&mut pool, &mut rx);
            for p in &mut rx {
                p.meta.rx_if = u16::try_from(i).unwrap_or(u16::MAX);
            }
            got += n;
            router.process(&mut rx, &mut pool, &mut tx);
        }
        for (s, f) in sockets.iter_mut().zip(tx.iter_mut()) {
            s.tx_burst(&mut pool, f);
        }
        if got == 0 {
            idle += 1;
            if idle > args.idle_spins {
                wait(&sockets);
                idle = 0;
            }
        } else {
            idle = 0;
        }
    }
    for (node, counter, value) in router.counter_rows() {
        println!("{node} {counter} {value}");
    }
    report(&mut sockets);
    ExitCode::SUCCESS
}
