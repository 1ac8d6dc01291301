//! `dhcp-server`: the `bng-dhcp` DHCPv4 server over an AF_PACKET socket
//! (`bng_dataplane::backend::afpacket::Socket`), for the interop tests against real
//! clients (`examples/tests/dhcp_interop.rs`).
//!
//! It reads Ethernet frames, hands UDP port 67 payloads to the sans-IO server, and
//! frames each reply (Ethernet + IPv4 + UDP, with checksums) for the destination the
//! server chose (RFC 2131 section 4.1). Output is one line per message and per lease
//! event, `key=value` style, so a test can grep it. It exits on SIGTERM/SIGINT or after
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
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bng_dataplane::backend::afpacket::{Socket, stop_flag};
use bng_dhcp::v4::server::{Action, Config, Destination, KeyBy, LeaseSlot, Pool, Server};
use bng_dhcp::v4::{Known, Packet};
use bng_dhcp::v6::server::{Action6, BindingSlot, Config6, Pool6, Server6};
use bng_examples::net::{Udp4, Udp6, parse_udp4, parse_udp6, recv_until};
use clap::Parser;

/// Command line.
#[derive(Debug, Parser)]
#[command(about = "bng-dhcp DHCPv4 server over AF_PACKET")]
struct Args {
    /// Interface to serve.
    #[arg(long)]
    iface: String,
    /// Server identifier and source address.
    #[arg(long)]
    server_ip: Ipv4Addr,
    /// First address of the pool.
    #[arg(long)]
    pool_start: Ipv4Addr,
    /// Addresses in the pool.
    #[arg(long, default_value_t = 1000)]
    pool_size: u32,
    /// Lease time, seconds.
    #[arg(long, default_value_t = 3600)]
    lease: u32,
    /// Subnet mask (option 1).
    #[arg(long, default_value = "255.255.0.0")]
    mask: Ipv4Addr,
    /// Router (option 3).
    #[arg(long)]
    router: Option<Ipv4Addr>,
    /// DNS server (option 6).
    #[arg(long)]
    dns: Option<Ipv4Addr>,
    /// Binding key: chaddr, client-id or circuit-id.
    #[arg(long, default_value = "chaddr")]
    key: String,
    /// Answer rapid-commit DISCOVERs with an ACK (RFC 4039).
    #[arg(long)]
    rapid_commit: bool,
    /// Also serve DHCPv6 (RFC 8415) from this source address: IA_NA from
    /// `--na-start`, IA_PD from `--pd-base`.
    #[arg(long)]
    v6_src: Option<Ipv6Addr>,
    /// First IA_NA address.
    #[arg(long, default_value = "2001:db8:1::1000")]
    na_start: Ipv6Addr,
    /// Base of the delegated prefixes.
    #[arg(long, default_value = "2001:db8:100::")]
    pd_base: Ipv6Addr,
    /// Delegated prefix length.
    #[arg(long, default_value_t = 56)]
    pd_len: u8,
    /// Print only lease events and the final counters, not a line per message.
    #[arg(long)]
    quiet: bool,
    /// Exit after this many seconds.
    #[arg(long, default_value_t = 600)]
    max_seconds: u64,
}

fn main() {
    let a = Args::parse();
    let mut cfg = Config::new(a.server_ip);
    cfg.lease_secs = a.lease;
    cfg.subnet_mask = Some(a.mask);
    cfg.router = a.router;
    cfg.dns = [
        a.dns.unwrap_or(Ipv4Addr::UNSPECIFIED),
        Ipv4Addr::UNSPECIFIED,
    ];
    cfg.rapid_commit = a.rapid_commit;
    cfg.key_by = match a.key.as_str() {
        "client-id" => KeyBy::ClientId,
        "circuit-id" => KeyBy::CircuitId,
        _ => KeyBy::Chaddr,
    };
    let bits: &'static mut [u64] =
        Box::leak(vec![0u64; a.pool_size.div_ceil(64) as usize].into_boxed_slice());
    let slots: &'static mut [LeaseSlot] =
        Box::leak(vec![LeaseSlot::Empty; (a.pool_size as usize * 2).max(64)].into_boxed_slice());
    let pool = Pool::new(a.pool_start, a.pool_size, bits).expect("pool");
    let mut server = Server::new(cfg, pool, slots).expect("server config");
    let sock = Socket::open(&a.iface).expect("AF_PACKET socket");
    let mac = sock.mac();
    let duid: &'static [u8] = Box::leak(Box::new([
        0, 3, 0, 1, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5],
    ]));
    let mut server6 = a.v6_src.map(|_| {
        let nb: &'static mut [u64] = Box::leak(vec![0u64; 16].into_boxed_slice());
        let pb: &'static mut [u64] = Box::leak(vec![0u64; 4].into_boxed_slice());
        let pool = Pool6::new()
            .with_addresses(a.na_start, 1000, nb)
            .and_then(|p| p.with_prefixes(a.pd_base, a.pd_len, 256, pb))
            .expect("v6 pool");
        let slots: &'static mut [BindingSlot] =
            Box::leak(vec![BindingSlot::Empty; 2048].into_boxed_slice());
        let mut c6 = Config6::new(duid);
        c6.preferred_secs = a.lease;
        c6.valid_secs = a.lease.saturating_mul(2);
        c6.rapid_commit = a.rapid_commit;
        Server6::new(c6, pool, slots).expect("v6 server config")
    });
    let stop = stop_flag();
    let t0 = Instant::now();
    println!(
        "ready iface={} mac={:02x?} server={}",
        a.iface, mac, a.server_ip
    );
    let _ = std::io::stdout().flush();
    let mut buf = [0u8; 2048];
    let mut tx = [0u8; 1500];
    while !stop.load(Ordering::Relaxed) && t0.elapsed() < Duration::from_secs(a.max_seconds) {
        let Ok(got) = recv_until(&sock, &mut buf, server.poll_timeout(), t0) else {
            continue;
        };
        let now = t0.elapsed();
        server.handle_timeout(now);
        let mut peer_mac = [0xff; 6];
        if let (Some(n), Some(s6), Some(src6)) = (got, server6.as_mut(), a.v6_src) {
            if let Some(udp) = parse_udp6(&buf[..n], 547) {
                let (payload, smac, sip, sport) = (udp.payload, udp.src_mac, udp.src, udp.src_port);
                let t = bng_dhcp::v6::Packet::new_checked(payload).map(|p| p.msg_type());
                println!("rx6 type={t:?} from={sip}");
                if let Err(e) = s6.handle_packet(now, payload) {
                    println!("rx6-error {e}");
                }
                s6.handle_timeout(now);
                while let Some(act) = s6.poll_action(now, &mut tx) {
                    match act {
                        Action6::Transmit { len, .. } => {
                            let reply = &tx[..len];
                            let t = bng_dhcp::v6::Packet::new_checked(reply).map(|p| p.msg_type());
                            // RFC 8415 section 18.3: back to the source address and port
                            let f = Udp6 {
                                src_mac: mac,
                                dst_mac: smac,
                                src: src6,
                                dst: sip,
                                src_port: 547,
                                dst_port: sport,
                                hop_limit: 64,
                            }
                            .frame(reply);
                            match sock.send(&f) {
                                Ok(()) => println!("tx6 type={t:?} to={sip}"),
                                Err(e) => println!("tx6-error {e}"),
                            }
                        }
                        Action6::Event(e) => println!("event6 {e:?}"),
                        _ => {}
                    }
                }
            }
        }
        if let Some(n) = got {
            // not a later IPv4 fragment, whose "UDP header" is data
            if let Some(udp) = parse_udp4(&buf[..n], 67).filter(|u| u.fragment_offset == 0) {
                let payload = udp.payload;
                peer_mac = udp.src_mac;
                if let Ok(p) = Packet::new_checked(payload)
                    .map_err(drop)
                    .and_then(|p| if a.quiet { Err(()) } else { Ok(p) })
                {
                    let k = Known::collect(p.all_options()).unwrap_or_default();
                    println!(
                        "rx type={:?} xid={:#010x} chaddr={:02x?} ciaddr={} requested={:?}",
                        k.message_type.unwrap_or(bng_dhcp::v4::MessageType(0)),
                        p.xid(),
                        p.chaddr(),
                        p.ciaddr(),
                        k.requested_ip
                    );
                }
                if let Err(e) = server.handle_packet(now, payload) {
                    println!("rx-error {e}");
                }
            }
        }
        while let Some(act) = server.poll_action(now, &mut tx) {
            match act {
                Action::Transmit { len, dst } => {
                    let reply = &tx[..len];
                    let p = Packet::new_checked(reply).expect("our reply parses");
                    let k = Known::collect(p.all_options()).unwrap_or_default();
                    let (dmac, dip) = match dst {
                        Destination::Broadcast => ([0xff; 6], Ipv4Addr::BROADCAST),
                        Destination::ClientHw { ip, mac } => (mac, ip),
                        // the peer is on this link: answer its MAC (no ARP here)
                        Destination::Unicast(ip) | Destination::Relay(ip) => (peer_mac, ip),
                    };
                    let f = Udp4 {
                        src_mac: mac,
                        dst_mac: dmac,
                        src: a.server_ip,
                        dst: dip,
                        src_port: 67,
                        dst_port: dst.port(),
                    }
                    .frame(reply);
                    match sock.send(&f) {
                        Ok(()) if a.quiet => {}
                        Ok(()) => println!(
                            "tx type={:?} xid={:#010x} yiaddr={} dst={dst:?}",
                            k.message_type.unwrap_or(bng_dhcp::v4::MessageType(0)),
                            p.xid(),
                            p.yiaddr()
                        ),
                        Err(e) => println!("tx-error {e}"),
                    }
                }
                Action::Event(e) if !a.quiet => println!("event {e:?}"),
                _ => {}
            }
        }
        let _ = std::io::stdout().flush();
    }
    println!("stats {:?}", server.stats());
}
