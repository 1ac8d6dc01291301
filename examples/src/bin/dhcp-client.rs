//! `dhcp-client`: the `bng-dhcp` DHCPv4 client machine over an AF_PACKET socket, for the
//! interop test against Kea (`examples/tests/dhcp_interop.rs`).
//!
//! It broadcasts from 0.0.0.0:68 while it has no address, unicasts renewals to the
//! server's MAC (learned from its replies), prints one line per message and lease event,
//! and exits after `--renewals` renewals (then releasing with `--release`), or after
//! `--max-seconds`.

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
    clippy::many_single_char_names,
    reason = "a test tool: setup errors end the process with a message"
)]

use std::io::Write as _;
use std::net::Ipv4Addr;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bng_dataplane::backend::afpacket::{Socket, stop_flag};
use bng_dhcp::v4::client::{Client, ClientAction, ClientConfig, ClientDestination, ClientEvent};
use bng_dhcp::v4::{Known, Packet};
use clap::Parser;

/// Command line.
#[derive(Debug, Parser)]
#[command(about = "bng-dhcp DHCPv4 client over AF_PACKET")]
struct Args {
    /// Interface.
    #[arg(long)]
    iface: String,
    /// Renewals to see before exiting (0: exit once bound).
    #[arg(long, default_value_t = 0)]
    renewals: u32,
    /// Send a RELEASE before exiting.
    #[arg(long)]
    release: bool,
    /// Ask for broadcast replies.
    #[arg(long)]
    broadcast: bool,
    /// Configure the leased address on the interface (`ip addr replace`), so that
    /// unicast renewals and their replies route.
    #[arg(long)]
    configure: bool,
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

/// Ethernet + IPv4 + UDP 68 -> 67 around `payload`.
fn frame(
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    src: Ipv4Addr,
    dst: Ipv4Addr,
    payload: &[u8],
) -> Vec<u8> {
    let udp_len = 8 + payload.len();
    let ip_len = 20 + udp_len;
    let mut f = Vec::with_capacity(14 + ip_len);
    f.extend_from_slice(&dst_mac);
    f.extend_from_slice(&src_mac);
    f.extend_from_slice(&0x0800u16.to_be_bytes());
    let mut ip = [0u8; 20];
    ip[0] = 0x45;
    ip[1] = 0x10;
    ip[2..4].copy_from_slice(&(ip_len as u16).to_be_bytes());
    ip[8] = 64;
    ip[9] = 17;
    ip[12..16].copy_from_slice(&src.octets());
    ip[16..20].copy_from_slice(&dst.octets());
    let c = csum(&[&ip]);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&ip);
    let mut udp = [0u8; 8];
    udp[0..2].copy_from_slice(&68u16.to_be_bytes());
    udp[2..4].copy_from_slice(&67u16.to_be_bytes());
    udp[4..6].copy_from_slice(&(udp_len as u16).to_be_bytes());
    let mut pseudo = [0u8; 12];
    pseudo[0..4].copy_from_slice(&src.octets());
    pseudo[4..8].copy_from_slice(&dst.octets());
    pseudo[9] = 17;
    pseudo[10..12].copy_from_slice(&(udp_len as u16).to_be_bytes());
    let mut uc = csum(&[&pseudo, &udp, payload]);
    if uc == 0 {
        uc = 0xffff;
    }
    udp[6..8].copy_from_slice(&uc.to_be_bytes());
    f.extend_from_slice(&udp);
    f.extend_from_slice(payload);
    f
}

/// The UDP payload of an IPv4/UDP frame to port 68, and the Ethernet source.
fn dhcp_payload(f: &[u8]) -> Option<(&[u8], [u8; 6])> {
    if f.len() < 14 + 20 + 8 || f[12..14] != [0x08, 0x00] {
        return None;
    }
    let ip = &f[14..];
    let ihl = usize::from(ip[0] & 0x0f) * 4;
    if ip[0] >> 4 != 4 || ihl < 20 || ip[9] != 17 {
        return None;
    }
    let total = usize::from(u16::from_be_bytes([ip[2], ip[3]])).min(ip.len());
    let udp = ip.get(ihl..total)?;
    if udp.len() < 8 || u16::from_be_bytes([udp[2], udp[3]]) != 68 {
        return None;
    }
    let ulen = usize::from(u16::from_be_bytes([udp[4], udp[5]])).clamp(8, udp.len());
    Some((&udp[8..ulen], f[6..12].try_into().ok()?))
}

fn main() {
    let a = Args::parse();
    let sock = Socket::open(&a.iface).expect("AF_PACKET socket");
    let mac = sock.mac();
    let mut cfg = ClientConfig::new(mac);
    cfg.broadcast = a.broadcast;
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64);
    let mut client = Client::new(cfg, seed ^ u64::from(std::process::id()));
    let stop = stop_flag();
    let t0 = Instant::now();
    println!("ready iface={} mac={mac:02x?}", a.iface);
    let mut buf = [0u8; 2048];
    let mut tx = [0u8; 1500];
    let mut server_mac = [0xff; 6];
    let mut bound = 0u32;
    let mut done = false;
    while !stop.load(Ordering::Relaxed) && t0.elapsed() < Duration::from_secs(a.max_seconds) {
        let now = t0.elapsed();
        client.handle_timeout(now);
        while let Some(act) = client.poll_action(now, &mut tx) {
            match act {
                ClientAction::Transmit { len, dst } => {
                    let msg = &tx[..len];
                    let p = Packet::new_checked(msg).expect("our message parses");
                    let k = Known::collect(p.all_options()).unwrap_or_default();
                    let (dmac, dip) = match dst {
                        ClientDestination::Broadcast => ([0xff; 6], Ipv4Addr::BROADCAST),
                        ClientDestination::Server(ip) => (server_mac, ip),
                    };
                    let src = if p.ciaddr().is_unspecified() {
                        Ipv4Addr::UNSPECIFIED
                    } else {
                        p.ciaddr()
                    };
                    let f = frame(mac, dmac, src, dip, msg);
                    match sock.send(&f) {
                        Ok(()) => println!(
                            "tx type={:?} xid={:#010x} dst={dst:?}",
                            k.message_type.unwrap_or(bng_dhcp::v4::MessageType(0)),
                            p.xid()
                        ),
                        Err(e) => println!("tx-error {e}"),
                    }
                }
                ClientAction::Event(ClientEvent::Bound(l)) => {
                    println!(
                        "bound addr={} server={} mask={:?} router={:?} lease={}",
                        l.addr, l.server_id, l.subnet_mask, l.router, l.lease_secs
                    );
                    if a.configure {
                        let plen = l.subnet_mask.map_or(32, |m| u32::from(m).leading_ones());
                        let _ = std::process::Command::new("ip")
                            .args([
                                "addr",
                                "replace",
                                &format!("{}/{plen}", l.addr),
                                "dev",
                                &a.iface,
                            ])
                            .status();
                    }
                    bound += 1;
                    if bound > a.renewals {
                        done = true;
                    }
                }
                ClientAction::Event(e) => println!("event {e:?}"),
                _ => {}
            }
        }
        let _ = std::io::stdout().flush();
        if done {
            if a.release {
                client.release(now);
                // drain the RELEASE on the next turn, then stop
                let now = t0.elapsed();
                while let Some(act) = client.poll_action(now, &mut tx) {
                    if let ClientAction::Transmit { len, dst } = act {
                        let ClientDestination::Server(ip) = dst else {
                            continue;
                        };
                        let ci = Packet::new_checked(&tx[..len])
                            .map_or(Ipv4Addr::UNSPECIFIED, |p| p.ciaddr());
                        let f = frame(mac, server_mac, ci, ip, &tx[..len]);
                        if sock.send(&f).is_ok() {
                            println!("tx type=RELEASE dst={dst:?}");
                        }
                    }
                }
            }
            break;
        }
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
        if let Some(n) = got {
            if let Some((payload, smac)) = dhcp_payload(&buf[..n]) {
                let now = t0.elapsed();
                match client.handle_packet(now, payload) {
                    Ok(()) => {
                        server_mac = smac;
                        let p = Packet::new_checked(payload).expect("parsed");
                        let k = Known::collect(p.all_options()).unwrap_or_default();
                        println!(
                            "rx type={:?} yiaddr={} server={:?}",
                            k.message_type.unwrap_or(bng_dhcp::v4::MessageType(0)),
                            p.yiaddr(),
                            k.server_id
                        );
                    }
                    Err(e) => println!("rx-ignored {e}"),
                }
            }
        }
    }
    println!("exit state={:?}", client.state());
    let _ = std::io::stdout().flush();
}
