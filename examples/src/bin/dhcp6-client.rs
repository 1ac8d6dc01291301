//! `dhcp6-client`: the `bng-dhcp` DHCPv6 client machine (IA_NA + IA_PD) over an
//! AF_PACKET socket, for the interop test against Kea (`examples/tests/dhcp_interop.rs`).
//!
//! It sends from the interface's link-local address to `ff02::1:2` port 547, reads
//! replies to port 546, prints one line per message and lease event, and exits after
//! `--renewals` renewals or `--max-seconds`.

#![allow(
    clippy::std_instead_of_core,
    clippy::std_instead_of_alloc,
    reason = "a std binary"
)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::print_stdout,
    clippy::cast_possible_truncation,
    clippy::panic,
    clippy::too_many_lines,
    reason = "a test tool: setup errors end the process with a message"
)]

use std::io::Write as _;
use std::net::Ipv6Addr;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bng_dataplane::backend::afpacket::{Socket, stop_flag};
use bng_dhcp::v6::client::{Client6, Client6Action, Client6Config, Client6Event};
use bng_dhcp::v6::message::ALL_RELAYS_AND_SERVERS;
use clap::Parser;

/// Command line.
#[derive(Debug, Parser)]
#[command(about = "bng-dhcp DHCPv6 client over AF_PACKET")]
struct Args {
    /// Interface.
    #[arg(long)]
    iface: String,
    /// Renewals to see before exiting (0: exit once bound).
    #[arg(long, default_value_t = 0)]
    renewals: u32,
    /// Exit after this many seconds.
    #[arg(long, default_value_t = 60)]
    max_seconds: u64,
}

fn csum(parts: &[&[u8]]) -> u16 {
    let mut sum: u32 = 0;
    for p in parts {
        let mut chunks = p.chunks_exact(2);
        for c in &mut chunks {
            sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
        }
        if let [b] = chunks.remainder() {
            sum += u32::from(u16::from_be_bytes([*b, 0]));
        }
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Ethernet + IPv6 + UDP 546 -> 547 to `ff02::1:2`.
fn frame6(src_mac: [u8; 6], src: Ipv6Addr, payload: &[u8]) -> Vec<u8> {
    let dst = ALL_RELAYS_AND_SERVERS;
    let udp_len = 8 + payload.len();
    let mut f = Vec::with_capacity(14 + 40 + udp_len);
    f.extend_from_slice(&[0x33, 0x33, 0, 1, 0, 2]);
    f.extend_from_slice(&src_mac);
    f.extend_from_slice(&0x86ddu16.to_be_bytes());
    let mut ip = [0u8; 40];
    ip[0] = 0x60;
    ip[4..6].copy_from_slice(&(udp_len as u16).to_be_bytes());
    ip[6] = 17;
    ip[7] = 1;
    ip[8..24].copy_from_slice(&src.octets());
    ip[24..40].copy_from_slice(&dst.octets());
    f.extend_from_slice(&ip);
    let mut udp = [0u8; 8];
    udp[0..2].copy_from_slice(&546u16.to_be_bytes());
    udp[2..4].copy_from_slice(&547u16.to_be_bytes());
    udp[4..6].copy_from_slice(&(udp_len as u16).to_be_bytes());
    let mut pseudo = [0u8; 40];
    pseudo[0..16].copy_from_slice(&src.octets());
    pseudo[16..32].copy_from_slice(&dst.octets());
    pseudo[32..36].copy_from_slice(&(udp_len as u32).to_be_bytes());
    pseudo[39] = 17;
    let mut uc = csum(&[&pseudo, &udp, payload]);
    if uc == 0 {
        uc = 0xffff;
    }
    udp[6..8].copy_from_slice(&uc.to_be_bytes());
    f.extend_from_slice(&udp);
    f.extend_from_slice(payload);
    f
}

/// The UDP payload of an IPv6/UDP frame to port 546.
fn dhcp6_payload(f: &[u8]) -> Option<&[u8]> {
    if f.len() < 14 + 40 + 8 || f[12..14] != [0x86, 0xdd] || f[14 + 6] != 17 {
        return None;
    }
    let ip = &f[14..];
    let plen = usize::from(u16::from_be_bytes([ip[4], ip[5]])).min(ip.len() - 40);
    let udp = &ip[40..40 + plen];
    if udp.len() < 8 || u16::from_be_bytes([udp[2], udp[3]]) != 546 {
        return None;
    }
    Some(&udp[8..])
}

/// The interface's link-local address, as the kernel configured it.
fn link_local(iface: &str) -> Ipv6Addr {
    let out = std::process::Command::new("ip")
        .args(["-6", "-o", "addr", "show", "dev", iface, "scope", "link"])
        .output()
        .expect("ip -6 addr");
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace()
        .skip_while(|w| *w != "inet6")
        .nth(1)
        .and_then(|a| a.split('/').next())
        .and_then(|a| a.parse().ok())
        .expect("a link-local address on the interface")
}

fn main() {
    let a = Args::parse();
    let sock = Socket::open(&a.iface).expect("AF_PACKET socket");
    let mac = sock.mac();
    let src = link_local(&a.iface);
    let duid: &'static [u8] = Box::leak(Box::new([
        0, 3, 0, 1, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5],
    ]));
    let cfg = Client6Config {
        duid,
        ia_na: Some(1),
        ia_pd: Some(2),
        rapid_commit: false,
    };
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64);
    let mut client = Client6::new(cfg, seed);
    let stop = stop_flag();
    let t0 = Instant::now();
    println!("ready iface={} src={src}", a.iface);
    let mut buf = [0u8; 2048];
    let mut tx = [0u8; 1500];
    let mut bound = 0u32;
    'run: while !stop.load(Ordering::Relaxed) && t0.elapsed() < Duration::from_secs(a.max_seconds) {
        let now = t0.elapsed();
        client.handle_timeout(now);
        while let Some(act) = client.poll_action(now, &mut tx) {
            match act {
                Client6Action::Transmit { len } => {
                    let t = bng_dhcp::v6::Packet::new_checked(&tx[..len]).map(|p| p.msg_type());
                    match sock.send(&frame6(mac, src, &tx[..len])) {
                        Ok(()) => println!("tx type={t:?}"),
                        Err(e) => println!("tx-error {e}"),
                    }
                }
                Client6Action::Event(Client6Event::Bound(l)) => {
                    println!("bound address={:?} prefix={:?}", l.address, l.prefix);
                    bound += 1;
                    if bound > a.renewals {
                        break 'run;
                    }
                }
                Client6Action::Event(e) => println!("event {e:?}"),
                _ => {}
            }
        }
        let _ = std::io::stdout().flush();
        let wait = client
            .poll_timeout()
            .map_or(Duration::from_millis(200), |t| {
                t.saturating_sub(t0.elapsed())
            })
            .min(Duration::from_millis(200));
        let got = match sock.recv(&mut buf, wait) {
            Ok(g) => g,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => panic!("recv: {e}"),
        };
        if let Some(payload) = got.and_then(|n| dhcp6_payload(&buf[..n])) {
            let t = bng_dhcp::v6::Packet::new_checked(payload).map(|p| p.msg_type());
            match client.handle_packet(t0.elapsed(), payload) {
                Ok(()) => println!("rx type={t:?}"),
                Err(e) => println!("rx-ignored {t:?} {e}"),
            }
        }
    }
    println!("exit state={:?}", client.state());
    let _ = std::io::stdout().flush();
}
