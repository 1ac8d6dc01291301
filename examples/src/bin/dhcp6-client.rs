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
use bng_examples::net::{Udp6, parse_udp6, recv_until};
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
                    // to All_DHCP_Relay_Agents_and_Servers (RFC 8415 section 7.1), link scope
                    let f = Udp6 {
                        src_mac: mac,
                        dst_mac: [0x33, 0x33, 0, 1, 0, 2],
                        src,
                        dst: ALL_RELAYS_AND_SERVERS,
                        src_port: 546,
                        dst_port: 547,
                        hop_limit: 1,
                    }
                    .frame(&tx[..len]);
                    match sock.send(&f) {
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
        let Ok(got) = recv_until(&sock, &mut buf, client.poll_timeout(), t0) else {
            continue;
        };
        if let Some(payload) = got.and_then(|n| parse_udp6(&buf[..n], 546).map(|u| u.payload)) {
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
