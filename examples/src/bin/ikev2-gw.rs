//! `ikev2-gw`: a minimal IKEv2 endpoint on UDP 500/4500 built on `bng-ikev2`, for the
//! strongSwan interop test (`examples/tests/ikev2_interop.rs`). It negotiates IKE
//! and Child SAs with a pre-shared key and prints one line per event; it installs
//! no ESP state (that is `bng-esp`'s job).
//!
//! Responder: `ikev2-gw --local 192.0.2.2 --psk S --id me@lab`.
//! Initiator: add `--initiate 192.0.2.1 --ts-local 10.2.0.0/24 --ts-remote 10.1.0.0/24`.

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
    clippy::too_many_lines,
    clippy::doc_markdown,
    clippy::similar_names,
    clippy::struct_excessive_bools,
    reason = "a test tool: setup errors end the process with a message; CLI switches"
)]

use std::collections::HashMap;
use std::fs::File;
use std::io::Read as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use bng_ikev2::exchange::{
    Action, ChildSuite, Config, Identity, IkeSa, IkeSuite, InitOutcome, Responder, Role,
};
use bng_ikev2::header::{NON_ESP_MARKER, Packet, strip_non_esp_marker};
use bng_ikev2::payload::{AddrRange, TrafficSelector};
use bng_ikev2::rand_core::{CryptoRng, Error, RngCore};
use bng_ikev2::types::{DhGroup, IdType};
use clap::Parser;

/// The operating system's CSPRNG (`/dev/urandom`).
struct OsRandom(File);

impl RngCore for OsRandom {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        self.fill_bytes(&mut b);
        u32::from_le_bytes(b)
    }
    fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.fill_bytes(&mut b);
        u64::from_le_bytes(b)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        self.0.read_exact(dest).expect("read /dev/urandom");
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl CryptoRng for OsRandom {}

#[derive(Parser, Debug)]
#[command(about = "Minimal IKEv2 PSK endpoint (bng-ikev2) for interop tests")]
struct Args {
    /// Local IPv4 address (UDP 500 and 4500 are bound on it).
    #[arg(long)]
    local: Ipv4Addr,
    /// Pre-shared key.
    #[arg(long)]
    psk: String,
    /// Our identity (ID_RFC822_ADDR if it has an `@`, else ID_FQDN).
    #[arg(long)]
    id: String,
    /// The peer identity we require.
    #[arg(long)]
    remote_id: Option<String>,
    /// Initiate to this peer instead of only responding.
    #[arg(long)]
    initiate: Option<Ipv4Addr>,
    /// Our traffic selector (CIDR).
    #[arg(long, default_value = "0.0.0.0/0")]
    ts_local: String,
    /// The peer's traffic selector (CIDR).
    #[arg(long, default_value = "0.0.0.0/0")]
    ts_remote: String,
    /// IKE suite: gcm-x25519, cbc-ecp384, gcm-modp2048, gcm-modp3072 or cbc-modp4096.
    #[arg(long, default_value = "gcm-x25519")]
    suite: String,
    /// As initiator: create one more Child SA (CREATE_CHILD_SA) once established.
    #[arg(long)]
    create_child: bool,
    /// With `--create-child`: PFS with an X25519 key exchange.
    #[arg(long)]
    pfs: bool,
    /// As initiator: rekey the IKE SA (section 1.3.2) once the Child SAs are up, then
    /// delete the old one.
    #[arg(long)]
    rekey_ike: bool,
    /// As initiator: delete the IKE SA once done, and exit when it is closed.
    #[arg(long)]
    delete: bool,
    /// As responder: the virtual IPv4 address for remote-access initiators (CP).
    #[arg(long)]
    virtual_ip: Option<Ipv4Addr>,
    /// As responder: a DNS server for remote-access initiators.
    #[arg(long)]
    dns: Vec<Ipv4Addr>,
    /// Exit after this many seconds.
    #[arg(long, default_value_t = 30)]
    timeout: u64,
}

fn cidr(s: &str) -> TrafficSelector {
    let (a, len) = s.split_once('/').expect("CIDR a.b.c.d/len");
    let a: Ipv4Addr = a.parse().expect("IPv4 address");
    let len: u32 = len.parse().expect("prefix length");
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    let start = u32::from(a) & mask;
    let end = start | !mask;
    TrafficSelector {
        ip_protocol: 0,
        start_port: 0,
        end_port: 0xffff,
        range: AddrRange::V4 {
            start: start.to_be_bytes(),
            end: end.to_be_bytes(),
        },
    }
}

/// `user@domain` is an ID_RFC822_ADDR, anything else an ID_FQDN (as strongSwan reads
/// identities, RFC 7296 section 3.5).
fn id_type(id: &str) -> IdType {
    if id.contains('@') {
        IdType::RFC822_ADDR
    } else {
        IdType::FQDN
    }
}

fn hex(b: &[u8]) -> String {
    use std::fmt::Write as _;
    b.iter().fold(String::new(), |mut s, x| {
        let _ = write!(s, "{x:02x}");
        s
    })
}

struct Peer<'c> {
    sa: IkeSa<'c>,
    addr: SocketAddr,
    natt: bool,
    /// Not closed or failed yet.
    alive: bool,
    /// Replaced by a rekey: only its Delete is left to do.
    retired: bool,
}

fn main() {
    let args = Args::parse();
    let ike: [IkeSuite; 1] = [match args.suite.as_str() {
        "cbc-ecp384" => IkeSuite::AES256_SHA256_ECP384,
        "gcm-modp2048" => IkeSuite {
            dh: DhGroup::MODP2048,
            ..IkeSuite::AES128GCM_SHA256_X25519
        },
        "gcm-modp3072" => IkeSuite {
            dh: DhGroup::MODP3072,
            ..IkeSuite::AES128GCM_SHA256_X25519
        },
        "cbc-modp4096" => IkeSuite {
            dh: DhGroup::MODP4096,
            ..IkeSuite::AES256_SHA256_ECP384
        },
        _ => IkeSuite::AES128GCM_SHA256_X25519,
    }];
    let esp = [ChildSuite::AES128GCM, ChildSuite::AES256_SHA256];
    let remote_id = args.remote_id.clone();
    let (ts_l, ts_r) = (cidr(&args.ts_local), cidr(&args.ts_remote));
    let initiating = args.initiate.is_some();
    let cfg = Config {
        ike_suites: &ike,
        child_suites: &esp,
        psk: args.psk.as_bytes(),
        local_id: Identity {
            id_type: id_type(&args.id),
            data: args.id.as_bytes(),
        },
        remote_id: remote_id.as_deref().map(|r| Identity {
            id_type: id_type(r),
            data: r.as_bytes(),
        }),
        // ts_i is the IKE initiator's side.
        ts_i: if initiating { ts_l } else { ts_r },
        ts_r: if initiating { ts_r } else { ts_l },
        retransmit: Duration::from_millis(500),
        max_retransmits: 4,
    };
    let mut rng = OsRandom(File::open("/dev/urandom").expect("/dev/urandom"));
    let s500 = UdpSocket::bind((args.local, 500)).expect("bind UDP 500");
    let s4500 = UdpSocket::bind((args.local, 4500)).expect("bind UDP 4500");
    for s in [&s500, &s4500] {
        s.set_read_timeout(Some(Duration::from_millis(20)))
            .expect("timeout");
    }
    let local = SocketAddr::new(IpAddr::V4(args.local), 500);
    let start = Instant::now();
    let now = || start.elapsed();
    let front = Responder::new(&cfg, &mut rng).expect("config");
    let mut peers: HashMap<[u8; 8], Peer<'_>> = HashMap::new();
    if let Some(to) = args.initiate {
        let addr = SocketAddr::new(IpAddr::V4(to), 500);
        let sa = IkeSa::initiate(&cfg, now(), local, addr, &mut rng).expect("initiate");
        peers.insert(
            sa.spis().0,
            Peer {
                sa,
                addr,
                natt: false,
                alive: true,
                retired: false,
            },
        );
    }
    let mut tx = vec![0u8; 4096];
    let mut buf = vec![0u8; 65536];
    let mut stage = 0;
    while start.elapsed() < Duration::from_secs(args.timeout) {
        for (sock, natt) in [(&s500, false), (&s4500, true)] {
            let Ok((n, from)) = sock.recv_from(&mut buf) else {
                continue;
            };
            let dgram = &buf[..n];
            let msg = if natt {
                match strip_non_esp_marker(dgram) {
                    Some(m) => m,
                    None => continue, // ESP: not ours here
                }
            } else {
                dgram
            };
            let Ok(p) = Packet::new_checked(msg) else {
                println!("drop: not IKEv2 from {from}");
                continue;
            };
            if let Some(peer) = peers.get_mut(&p.spi_i()) {
                peer.addr = from;
                peer.natt |= natt;
                if let Err(e) = peer.sa.handle_packet(now(), msg, &mut rng) {
                    println!("drop: {e}");
                }
            } else {
                match front.handle_init(now(), 0, local, from, msg, &mut rng, &mut tx) {
                    Ok(InitOutcome::Reply(len)) => {
                        let _ = sock.send_to(&tx[..len], from);
                    }
                    Ok(InitOutcome::NewSa(mut sa)) => {
                        if let Some(v) = args.virtual_ip {
                            sa.set_virtual_ip(v, &args.dns);
                        }
                        peers.insert(
                            sa.spis().0,
                            Peer {
                                sa,
                                addr: from,
                                natt,
                                alive: true,
                                retired: false,
                            },
                        );
                    }
                    Err(e) => println!("drop IKE_SA_INIT: {e}"),
                }
            }
        }
        let mut rekeyed = Vec::new();
        for peer in peers.values_mut() {
            peer.sa.handle_timeout(now());
            // RFC 7296 section 2.23: after IKE_SA_INIT the initiator moves to 4500 if
            // NAT was found; a responder answers where the request came from.
            if peer.sa.role() == Role::Initiator && peer.sa.use_nat_t() && !peer.natt {
                peer.natt = true;
                peer.addr.set_port(4500);
            }
            while let Some(a) = peer.sa.poll_action(now(), &mut tx) {
                match a {
                    Action::Send { len } => {
                        if peer.natt {
                            let mut d = NON_ESP_MARKER.to_vec();
                            d.extend_from_slice(&tx[..len]);
                            let _ = s4500.send_to(&d, peer.addr);
                        } else {
                            let _ = s500.send_to(&tx[..len], peer.addr);
                        }
                    }
                    Action::IkeSaEstablished {
                        spi_i,
                        spi_r,
                        peer_behind_nat,
                        local_behind_nat,
                    } => println!(
                        "IKE_SA established spi_i={} spi_r={} suite={:?} peer_behind_nat={peer_behind_nat} local_behind_nat={local_behind_nat}",
                        hex(&spi_i),
                        hex(&spi_r),
                        peer.sa.suite()
                    ),
                    Action::ChildSa(c) => {
                        println!(
                            "CHILD_SA established inbound_spi={} outbound_spi={} replaces={:?} encr={:?}/{} local_ts={:?} remote_ts={:?}",
                            hex(&c.inbound_spi),
                            hex(&c.outbound_spi),
                            c.replaces.map(|r| hex(&r)),
                            c.suite.encr,
                            c.suite.key_bits,
                            c.local_ts.range,
                            c.remote_ts.range
                        );
                        // Test tool only: the keys, to compare with charon's log.
                        println!(
                            "CHILD_SA keys inbound_encr={} outbound_encr={}",
                            hex(c.inbound.encr.as_bytes()),
                            hex(c.outbound.encr.as_bytes())
                        );
                        stage += 1;
                    }
                    Action::ChildSaRefused(n) => println!("CHILD_SA refused: {n:?}"),
                    Action::IkeSaRekeyed { spi_i, spi_r } => {
                        println!("IKE_SA rekeyed spi_i={} spi_r={}", hex(&spi_i), hex(&spi_r));
                        if peer.sa.role() == Role::Initiator && stage == 4 {
                            // We started the rekey: the old SA is ours to delete.
                            peer.retired = true;
                            stage = 5;
                        }
                        if let Some(sa) = peer.sa.take_rekeyed() {
                            rekeyed.push(Peer {
                                sa,
                                addr: peer.addr,
                                natt: peer.natt,
                                alive: true,
                                retired: false,
                            });
                        }
                    }
                    Action::Closed => {
                        println!("IKE_SA closed");
                        peer.alive = false;
                    }
                    Action::Failed(e) => {
                        println!("IKE_SA failed: {e}");
                        peer.alive = false;
                    }
                    other => println!("{other:?}"),
                }
            }
            let idle = peer.alive && peer.sa.is_established() && peer.sa.poll_timeout().is_none();
            if initiating && idle && peer.retired {
                peer.retired = false;
                peer.sa.delete(now(), &mut rng).expect("delete old IKE SA");
            } else if initiating && idle && stage < 100 {
                let children_done = stage >= 1 && (!args.create_child || stage >= 3);
                if args.create_child && stage == 1 {
                    stage = 2;
                    peer.sa
                        .create_child(
                            now(),
                            None,
                            args.pfs.then_some(DhGroup::CURVE25519),
                            &mut rng,
                        )
                        .expect("create_child");
                } else if args.rekey_ike && children_done && stage < 4 {
                    stage = 4;
                    peer.sa.rekey_ike(now(), &mut rng).expect("rekey_ike");
                } else if args.delete && children_done && (!args.rekey_ike || stage == 5) {
                    stage = 100;
                    peer.sa.delete(now(), &mut rng).expect("delete");
                }
            }
        }
        for p in rekeyed {
            peers.insert(p.sa.spis().0, p);
        }
        if initiating && stage == 100 && peers.values().all(|p| !p.alive) {
            return;
        }
    }
    println!("timeout");
}
