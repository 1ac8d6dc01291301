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
use bng_examples::net::{Udp4, parse_udp4, recv_until};
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
                    let f = Udp4 {
                        src_mac: mac,
                        dst_mac: dmac,
                        src,
                        dst: dip,
                        src_port: 68,
                        dst_port: 67,
                    }
                    .frame(msg);
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
                        let f = Udp4 {
                            src_mac: mac,
                            dst_mac: server_mac,
                            src: ci,
                            dst: ip,
                            src_port: 68,
                            dst_port: 67,
                        }
                        .frame(&tx[..len]);
                        if sock.send(&f).is_ok() {
                            println!("tx type=RELEASE dst={dst:?}");
                        }
                    }
                }
            }
            break;
        }
        let Ok(got) = recv_until(&sock, &mut buf, client.poll_timeout(), t0) else {
            continue;
        };
        if let Some(n) = got {
            if let Some(udp) = parse_udp4(&buf[..n], 68) {
                let (payload, smac) = (udp.payload, udp.src_mac);
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
