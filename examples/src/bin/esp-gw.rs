//! `esp-gw IFACE --spi-in .. --key-in .. --spi-out .. --key-out .. [--transport]`:
//! a minimal ESP gateway over an AF_PACKET socket, for interop with a real peer
//! (the Linux kernel in the test VM). It answers ARP for `--local`, decapsulates
//! the peer's ESP (AES-GCM-16, RFC 4106) with `bng_esp::sa::Inbound`, answers
//! ICMP echo requests found inside, and encapsulates the replies with
//! `bng_esp::sa::Outbound` (tunnel or transport mode). One line per event on
//! stdout: `decap ...`, `reply ...`, `drop ...`, and a `summary` at the end.

#![allow(clippy::std_instead_of_core, reason = "a std binary")]
#![allow(
    clippy::indexing_slicing,
    reason = "example: every offset is checked against the frame length first"
)]

use std::net::Ipv4Addr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use bng_dataplane::backend::afpacket::Socket;
use bng_esp::crypto::Aes128GcmEsp;
use bng_esp::sa::{Config, Inbound, Mode, Outbound, Tunnel};
use bng_esp::wire::Spi;
use bng_examples::net::checksum;
use clap::Parser;

#[derive(Parser, Debug)]
#[command(about = "Minimal ESP gateway (AES-128-GCM) for interop tests")]
struct Args {
    /// Interface (a TAP or veth) to serve on.
    iface: String,
    /// Our tunnel endpoint address.
    #[arg(long, default_value = "192.0.2.1")]
    local: Ipv4Addr,
    /// The peer's tunnel endpoint address.
    #[arg(long, default_value = "192.0.2.2")]
    peer: Ipv4Addr,
    /// SPI of the peer's outbound SA (what we receive).
    #[arg(long, value_parser = parse_u32, default_value = "0x100")]
    spi_in: u32,
    /// Key material (AES-128 key || salt, 0x + 40 hex) of what we receive.
    #[arg(long)]
    key_in: String,
    /// SPI of what we send.
    #[arg(long, value_parser = parse_u32, default_value = "0x200")]
    spi_out: u32,
    /// Key material of what we send.
    #[arg(long)]
    key_out: String,
    /// Transport mode instead of tunnel mode.
    #[arg(long)]
    transport: bool,
    /// Exit after this many seconds.
    #[arg(long, default_value_t = 120)]
    seconds: u64,
}

fn parse_u32(s: &str) -> Result<u32, String> {
    let r = match s.strip_prefix("0x") {
        Some(h) => u32::from_str_radix(h, 16),
        None => s.parse(),
    };
    r.map_err(|e| e.to_string())
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    let s = s.strip_prefix("0x").unwrap_or(s);
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok())
        .collect()
}

/// Turns the IPv4 ICMP echo request in `p` into its echo reply, in place.
fn echo_reply(p: &mut [u8]) -> bool {
    if p.len() < 28 || p[0] >> 4 != 4 || p[9] != 1 {
        return false;
    }
    let hl = usize::from(p[0] & 0x0f) * 4;
    if p.len() < hl + 8 || p[hl] != 8 {
        return false;
    }
    let (src, dst) = ([p[12], p[13], p[14], p[15]], [p[16], p[17], p[18], p[19]]);
    p[12..16].copy_from_slice(&dst);
    p[16..20].copy_from_slice(&src);
    p[8] = 64;
    p[10..12].fill(0);
    let c = checksum(&[&p[..hl]]);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p[hl] = 0;
    p[hl + 2..hl + 4].fill(0);
    let c = checksum(&[&p[hl..]]);
    p[hl + 2..hl + 4].copy_from_slice(&c.to_be_bytes());
    true
}

/// An ARP reply to `req` if it asks for `ip`.
fn arp_reply(req: &[u8], mac: [u8; 6], ip: Ipv4Addr) -> Option<[u8; 42]> {
    if req.len() < 42 || req[12..14] != [0x08, 0x06] || req[20..22] != [0, 1] {
        return None;
    }
    if req[38..42] != ip.octets() {
        return None;
    }
    let mut r = [0u8; 42];
    r[0..6].copy_from_slice(&req[6..12]);
    r[6..12].copy_from_slice(&mac);
    r[12..14].copy_from_slice(&[0x08, 0x06]);
    r[14..22].copy_from_slice(&[0, 1, 0x08, 0, 6, 4, 0, 2]);
    r[22..28].copy_from_slice(&mac);
    r[28..32].copy_from_slice(&ip.octets());
    r[32..42].copy_from_slice(&req[22..32]);
    Some(r)
}

#[allow(
    clippy::too_many_lines,
    reason = "one linear receive loop, easier to read whole"
)]
fn main() -> ExitCode {
    let args = Args::parse();
    let (Some(key_in), Some(key_out)) = (unhex(&args.key_in), unhex(&args.key_out)) else {
        eprintln!("esp-gw: keys must be hex");
        return ExitCode::from(2);
    };
    let mode = if args.transport {
        Mode::Transport
    } else {
        Mode::Tunnel(Tunnel::V4 {
            src: args.local.octets(),
            dst: args.peer.octets(),
        })
    };
    let (Ok(t_in), Ok(t_out)) = (
        Aes128GcmEsp::from_keymat(&key_in),
        Aes128GcmEsp::from_keymat(&key_out),
    ) else {
        eprintln!("esp-gw: AES-128-GCM key material is 20 bytes");
        return ExitCode::from(2);
    };
    let t0 = Instant::now();
    let (Ok(mut rx), Ok(mut tx)) = (
        Inbound::new(Config::new(Spi(args.spi_in), mode), t_in, Duration::ZERO),
        Outbound::new(Config::new(Spi(args.spi_out), mode), t_out, Duration::ZERO),
    ) else {
        eprintln!("esp-gw: cannot set up the SAs");
        return ExitCode::from(2);
    };
    // CBC IVs come from the kernel's CSPRNG; AES-GCM IVs come from the sequence number
    let mut rng = bng_examples::rng::UrandomRng::new();
    let sock = match Socket::open(&args.iface) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("esp-gw: {e}");
            return ExitCode::from(2);
        }
    };
    let mac = sock.mac();
    println!("esp-gw: listening on {} as {}", args.iface, args.local);
    let (mut decapped, mut replies, mut dropped) = (0u64, 0u64, 0u64);
    let mut frame = [0u8; 2048];
    let mut out = [0u8; 2048];
    while t0.elapsed() < Duration::from_secs(args.seconds) {
        let Ok(Some(n)) = sock.recv(&mut frame, Duration::from_millis(200)) else {
            continue;
        };
        let f = &mut frame[..n];
        if f.len() < 34 || f[6..12] == mac {
            continue;
        }
        if let Some(r) = arp_reply(f, mac, args.local) {
            let _ = sock.send(&r);
            println!("arp reply {} is-at {mac:02x?}", args.local);
            continue;
        }
        if f[12..14] != [0x08, 0x00] || (f[23] != 50 && f[23] != 17) {
            continue;
        }
        let peer_mac: [u8; 6] = f[6..12].try_into().unwrap_or_default();
        let now = t0.elapsed();
        let d = match rx.decap(now, f, 14..n) {
            Ok(d) => d,
            Err(e) => {
                dropped += 1;
                println!("drop {e}");
                continue;
            }
        };
        decapped += 1;
        let inner = &f[d.packet.clone()];
        println!(
            "decap seq={} next_header={:?} inner {} bytes {}.{}.{}.{} > {}.{}.{}.{}",
            d.seq,
            d.next_header,
            inner.len(),
            inner[12],
            inner[13],
            inner[14],
            inner[15],
            inner[16],
            inner[17],
            inner[18],
            inner[19]
        );
        // Build the reply at offset 128 of `out` (headroom for outer IP + ESP + Ethernet).
        let len = inner.len();
        if 128 + len + 64 > out.len() {
            continue;
        }
        out[128..128 + len].copy_from_slice(inner);
        if !echo_reply(&mut out[128..128 + len]) {
            continue;
        }
        match tx.encap(now, &mut out, 128..128 + len, &mut rng) {
            Ok(r) => {
                let start = r.start - 14;
                out[start..start + 6].copy_from_slice(&peer_mac);
                out[start + 6..start + 12].copy_from_slice(&mac);
                out[start + 12..start + 14].copy_from_slice(&[0x08, 0x00]);
                if let Err(e) = sock.send(&out[start..r.end]) {
                    println!("send failed: {e}");
                    continue;
                }
                replies += 1;
                println!("reply seq={} {} bytes", tx.next_seq() - 1, r.end - start);
            }
            Err(e) => println!("encap failed: {e}"),
        }
    }
    println!("summary decapped={decapped} replies={replies} dropped={dropped}");
    ExitCode::SUCCESS
}
