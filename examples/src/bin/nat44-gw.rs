//! `nat44-gw --inside IF --outside IF --pool ADDR --outside-peer-mac MAC`: a minimal
//! CGNAT gateway over two AF_PACKET sockets, for interop tests in network
//! namespaces. Frames from the inside are translated with `bng_nat44::Nat44::in2out`
//! and sent to the outside next hop (`--outside-peer-mac`); frames from the outside
//! with `out2in`, and sent to the inside host whose MAC was learnt from its own
//! frames. Hairpinned packets go back inside. No ARP: the test installs static
//! neighbours.
//!
//! Stdout, one line each: `ready`, the compliance log (`nat44 block-alloc ...` /
//! `nat44 block-release ...`, the fields of an RFC 8158 NAT event), and a `summary`
//! with the counters at the end.

#![allow(clippy::std_instead_of_core, reason = "a std binary")]

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use bng_dataplane::backend::afpacket::Socket;
use bng_examples::cli::parse_mac;
use bng_nat44::{
    Config, DropReason, Event, Filtering, Mapping, Mode, Nat44, PortBlock, Session, Storage,
    Subscriber, Verdict,
};
use clap::Parser;

#[derive(Parser, Debug)]
#[command(about = "Minimal CGNAT gateway (bng-nat44) over AF_PACKET, for interop tests")]
struct Args {
    /// Subscriber-side interface.
    #[arg(long)]
    inside: String,
    /// Internet-side interface.
    #[arg(long)]
    outside: String,
    /// First outside (pool) address.
    #[arg(long)]
    pool: Ipv4Addr,
    /// Number of pool addresses.
    #[arg(long, default_value_t = 1)]
    pool_len: u32,
    /// MAC of the next hop on the outside, `aa:bb:cc:dd:ee:ff`.
    #[arg(long)]
    outside_peer_mac: String,
    /// Address-dependent filtering instead of endpoint-independent.
    #[arg(long)]
    adf: bool,
    /// Session capacity.
    #[arg(long, default_value_t = 4096)]
    sessions: usize,
    /// Exit after this many seconds.
    #[arg(long, default_value_t = 120)]
    seconds: u64,
}

fn fmt_event(e: &Event) -> String {
    let (what, b) = match e {
        Event::BlockAllocated(b) => ("block-alloc", b),
        Event::BlockReleased(b) => ("block-release", b),
        _ => return format!("nat44 {e:?}"),
    };
    format!(
        "nat44 {what} subscriber={} outside={} ports={}-{} t={}.{:03}",
        b.subscriber,
        b.outside,
        b.ports.first,
        b.ports.last,
        b.at.as_secs(),
        b.at.subsec_millis()
    )
}

/// The destination IPv4 address of an Ethernet + IPv4 frame.
fn ip_dst(frame: &[u8]) -> Option<Ipv4Addr> {
    let b: [u8; 4] = frame.get(30..34)?.try_into().ok()?;
    Some(Ipv4Addr::from(b))
}

fn ip_src(frame: &[u8]) -> Option<Ipv4Addr> {
    let b: [u8; 4] = frame.get(26..30)?.try_into().ok()?;
    Some(Ipv4Addr::from(b))
}

fn set_macs(frame: &mut [u8], dst: [u8; 6], src: [u8; 6]) {
    if let Some(h) = frame.get_mut(..12) {
        let (d, s) = h.split_at_mut(6);
        d.copy_from_slice(&dst);
        s.copy_from_slice(&src);
    }
}

#[allow(clippy::too_many_lines, reason = "one straight event loop")]
fn main() -> ExitCode {
    let args = Args::parse();
    let Some(peer_mac) = parse_mac(&args.outside_peer_mac) else {
        eprintln!("bad --outside-peer-mac");
        return ExitCode::FAILURE;
    };
    let (ins, outs) = match (Socket::open(&args.inside), Socket::open(&args.outside)) {
        (Ok(i), Ok(o)) => (i, o),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let cfg = Config {
        mode: Mode::PortBlock(PortBlock {
            pool_first: args.pool,
            pool_len: args.pool_len,
            block_size: 512,
            max_blocks: 4,
        }),
        filtering: if args.adf {
            Filtering::AddressDependent
        } else {
            Filtering::EndpointIndependent
        },
        ..Config::port_block(args.pool, args.pool_len)
    };
    let n = args.sessions.max(16);
    let mut sessions = vec![Session::EMPTY; n];
    let mut sidx = vec![0u64; Storage::index_len(n, 2)];
    let mut maps = vec![Mapping::EMPTY; n];
    let mut midx = vec![0u64; Storage::index_len(n, 2)];
    let mut subs = vec![Subscriber::EMPTY; n];
    let mut subidx = vec![0u64; Storage::index_len(n, 1)];
    let mut bitmap = vec![0u64; cfg.bitmap_words()];
    let mut events = vec![None; 1024];
    let mut nat = match Nat44::new(
        cfg,
        Storage {
            sessions: &mut sessions,
            session_index: &mut sidx,
            mappings: &mut maps,
            mapping_index: &mut midx,
            subscribers: &mut subs,
            subscriber_index: &mut subidx,
            block_bitmap: &mut bitmap,
            events: &mut events,
        },
    ) {
        Ok(n) => n,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let mut inside_macs: HashMap<Ipv4Addr, [u8; 6]> = HashMap::new();
    let start = Instant::now();
    let end = Duration::from_secs(args.seconds);
    let mut buf = vec![0u8; 9216];
    let mut drops: HashMap<String, u64> = HashMap::new();
    println!("ready");
    while start.elapsed() < end {
        for inside in [true, false] {
            let sock = if inside { &ins } else { &outs };
            for _ in 0..64 {
                let len = match sock.recv(&mut buf, Duration::from_millis(1)) {
                    Ok(Some(len)) => len,
                    Ok(None) => break,
                    Err(e) => {
                        eprintln!("recv: {e}");
                        return ExitCode::FAILURE;
                    }
                };
                let Some(frame) = buf.get_mut(..len) else {
                    continue;
                };
                if frame.get(12..14) != Some(&[0x08, 0x00]) {
                    continue; // IPv4 only (no VLAN, no ARP: static neighbours)
                }
                let now = start.elapsed();
                let v = if inside {
                    if let (Some(src), Some(Ok(mac))) =
                        (ip_src(frame), frame.get(6..12).map(<[u8; 6]>::try_from))
                    {
                        inside_macs.insert(src, mac);
                    }
                    frame
                        .get_mut(14..)
                        .map_or(Verdict::Drop(DropReason::Malformed), |p| nat.in2out(now, p))
                } else {
                    frame
                        .get_mut(14..)
                        .map_or(Verdict::Drop(DropReason::Malformed), |p| nat.out2in(now, p))
                };
                let to_inside = match v {
                    Verdict::Forward => !inside,
                    Verdict::Hairpin => true,
                    Verdict::Drop(r) => {
                        *drops.entry(format!("{r:?}")).or_default() += 1;
                        continue;
                    }
                };
                let sent = if to_inside {
                    let Some(&mac) = ip_dst(frame).and_then(|d| inside_macs.get(&d)) else {
                        *drops.entry("UnknownInsideMac".into()).or_default() += 1;
                        continue;
                    };
                    set_macs(frame, mac, ins.mac());
                    ins.send(frame)
                } else {
                    set_macs(frame, peer_mac, outs.mac());
                    outs.send(frame)
                };
                if let Err(e) = sent {
                    eprintln!("send: {e}");
                }
            }
        }
        let now = start.elapsed();
        if nat.poll_timeout().is_some_and(|t| t <= now) {
            nat.handle_timeout(now);
        }
        while let Some(e) = nat.poll_event() {
            println!("{}", fmt_event(&e));
        }
    }
    let s = nat.stats();
    println!(
        "summary in2out={} out2in={} hairpin={} icmp_errors={} sessions={} blocks={} drops={drops:?}",
        s.in2out, s.out2in, s.hairpin, s.icmp_errors, s.sessions_created, s.blocks_allocated
    );
    ExitCode::SUCCESS
}
