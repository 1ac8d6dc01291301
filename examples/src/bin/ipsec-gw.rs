//! `ipsec-gw --config site.toml`: an IKEv2 + ESP site-to-site / road-warrior gateway.
//!
//! - Key management: `bng-ikev2` (`Responder` + `IkeSa`, PSK or certificates), one
//!   responder front end per connection (new IKE SAs matched by the peer's address),
//!   IKE on UDP 500 and,
//!   once NAT detection says so (RFC 7296 section 2.23), on UDP 4500 behind the
//!   non-ESP marker.
//! - Data plane: `bng-esp`, ESP always UDP-encapsulated on 4500 (RFC 3948; what
//!   strongSwan's kernel-libipsec speaks; plain ESP, IP protocol 50, is not served).
//!   The outer side is an `AF_PACKET` socket (`bng-dataplane`) with our own ARP,
//!   IPv4 and UDP (`outer = "af_packet"`: ESP leaves as whole frames built in place
//!   by `Outbound::encap`), or the kernel's UDP sockets (`outer = "udp"`). The inner
//!   side is route-based: a TUN device with routes to the remote selectors. Plaintext read from the TUN device is matched
//!   against the Child SA selectors and encapsulated; ESP received is decapsulated,
//!   checked against the selectors and written to the TUN device.
//! - Child SA rekeys (either side) are make-before-break; the IKE SA is rekeyed after
//!   `rekey_time`; DPD after `dpd_delay` of silence; SIGTERM/SIGINT delete the IKE SA
//!   (and with it the Child SAs) before exiting.
//!
//! One line per event on stdout, counters at exit.

#![allow(
    clippy::std_instead_of_core,
    clippy::std_instead_of_alloc,
    reason = "a std binary"
)]
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::too_many_lines,
    clippy::cognitive_complexity,
    clippy::many_single_char_names,
    clippy::struct_excessive_bools,
    reason = "one event loop, easier to read whole; events go to stdout; per-SA flags"
)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::fd::AsRawFd as _;
use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bng_dataplane::backend::afpacket::stop_flag;
use bng_esp::natt::{self, Payload as NattPayload};
use bng_esp::sa::UdpEncap;
use bng_esp::wire::NextHeader;
use bng_examples::ipsec::cert::{CaVerifier, SignerSet};
use bng_examples::ipsec::config::{self, GwConfig, OuterMode, StartAction};
use bng_examples::ipsec::esp::{Flow, InstallParams, Sas, ip_len, selector_matches, ts_text};
use bng_examples::ipsec::outer::{IKE_PORT, NATT_PORT, Outer};
use bng_examples::ipsec::tun::{Tun, poll_readable};
use bng_examples::rng::UrandomRng;
use bng_ikev2::exchange::{
    Action, CertAuth, Config, Identity, IkeSa, InitOutcome, Options, Reassembly, Responder, Role,
};
use bng_ikev2::header::{NON_ESP_MARKER, Packet};
use clap::Parser;

#[derive(Parser, Debug)]
#[command(about = "IKEv2 + ESP gateway (bng-ikev2 + bng-esp), route-based over TUN")]
struct Args {
    /// The TOML configuration (see examples/ipsec-gw/site.toml).
    #[arg(long)]
    config: PathBuf,
    /// Check the configuration and exit.
    #[arg(long)]
    check: bool,
    /// Exit after this many seconds (0: run until SIGTERM/SIGINT).
    #[arg(long, default_value_t = 0)]
    seconds: u64,
}

/// Headroom before a plaintext packet read from the TUN device (ESP header and IV).
const HEAD: usize = 128;

fn hex(b: &[u8]) -> String {
    use std::fmt::Write as _;
    b.iter().fold(String::new(), |mut s, x| {
        let _ = write!(s, "{x:02x}");
        s
    })
}

/// One IKE SA and what the gateway keeps about it.
struct Ike<'c> {
    sa: IkeSa<'c>,
    /// Its connection (index into the configuration's connections).
    conn: usize,
    /// Where the peer talks from (port 4500 once NAT-T is in use).
    peer: SocketAddr,
    natt: bool,
    /// The IKE SA family: a rekeyed SA hands its Child SAs to its successor.
    lineage: u64,
    alive: bool,
    /// Replaced by a rekey: it only waits for its Delete.
    superseded: bool,
    /// We started its rekey: we delete it once the new SA is up.
    rekeying: bool,
    delete_when_idle: bool,
    rekey_at: Option<Duration>,
    last_heard: Duration,
    dpd_pending: bool,
    local_behind_nat: bool,
    keepalive_at: Duration,
}

#[derive(Debug, Default)]
struct Counters {
    ike_in: u64,
    ike_out: u64,
    tun_in: u64,
    encap: u64,
    decap: u64,
    to_tun: u64,
    no_sa_out: u64,
    no_sa_in: u64,
    esp_errors: u64,
    selector_drops: u64,
    keepalives: u64,
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip {}: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn v4(a: SocketAddr) -> Ipv4Addr {
    match a.ip() {
        IpAddr::V4(a) => a,
        IpAddr::V6(_) => Ipv4Addr::UNSPECIFIED,
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let cfg = match config::load(&args.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ipsec-gw: config: {e}");
            return ExitCode::from(2);
        }
    };
    if args.check {
        let names: Vec<&str> = cfg.conns.iter().map(|c| c.name.as_str()).collect();
        println!("config ok: connection {}", names.join(", "));
        return ExitCode::SUCCESS;
    }
    match run(&cfg, &args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ipsec-gw: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(g: &GwConfig, args: &Args) -> Result<(), String> {
    let Some(first) = g.conns.first() else {
        return Err("no connection".to_owned());
    };
    // One outer address for all connections (checked with the configuration).
    let local_ip = first.local;
    // Certificate authentication (RFC 7427): each such connection's signer and
    // verifier (the files were checked with the configuration).
    let certs: Vec<Option<(SignerSet, CaVerifier)>> = g
        .conns
        .iter()
        .map(|c| {
            c.cert
                .as_ref()
                .map(bng_examples::ipsec::config::CertFiles::build)
                .transpose()
                .map_err(|e| format!("connection {}: {e}", c.name))
        })
        .collect::<Result<_, _>>()?;
    let cert_auth = |k: usize| {
        certs
            .get(k)
            .and_then(Option::as_ref)
            .map(|(s, v)| CertAuth {
                signer: s,
                verifier: v,
            })
    };
    // The crate's Config names the selectors by IKE role; the initiator proposes its
    // own first. A responder config serves initiators; an initiating one our own
    // exchange. As responder with a pool, the peer's selector is the pool (narrowed
    // to its address).
    let cfgs: Vec<(Config<'_>, Config<'_>)> = g
        .conns
        .iter()
        .map(|c| {
            let (ts_l, ts_r) = (c.child.local_ts.selector(), c.child.remote_ts.selector());
            let ike_cfg = Config {
                ike_suites: &c.ike,
                child_suites: &c.child.esp,
                psk: &c.psk,
                local_id: Identity {
                    id_type: c.local_id.id_type,
                    data: &c.local_id.data,
                },
                remote_id: c.remote_id.as_ref().map(|r| Identity {
                    id_type: r.id_type,
                    data: &r.data,
                }),
                ts_i: ts_l,
                ts_r,
                retransmit: g.retransmit_timeout,
                max_retransmits: g.retransmit_tries,
            };
            let resp_cfg = Config {
                ts_i: c.pool.map_or(ts_r, |p| p.selector()),
                ts_r: ts_l,
                ..ike_cfg
            };
            (ike_cfg, resp_cfg)
        })
        .collect();
    // RFC 7383: fragmentation options of each connection.
    let options: Vec<Options> = g
        .conns
        .iter()
        .map(|c| {
            let o = c.fragment_size.map_or_else(Options::default, |f| {
                Options::default().with_fragmentation(f)
            });
            // RFC 7427 section 4: certificate auth announces SIGNATURE_HASH_ALGORITHMS.
            if c.cert.is_some() {
                o.with_signature_auth()
            } else {
                o
            }
        })
        .collect();
    let mut rng = UrandomRng::new();
    let mut outer = match &g.outer {
        OuterMode::Udp => Outer::udp(local_ip)?,
        OuterMode::Packet {
            interface,
            next_hop,
        } => {
            let IpAddr::V4(l) = local_ip else {
                return Err("AF_PACKET serves IPv4 only (checked with the configuration)".into());
            };
            Outer::packet(interface, l, *next_hop)?
        }
    };
    let tun = Tun::open(&g.tun)
        .map_err(|e| format!("TUN {}: {e} (needs /dev/net/tun and CAP_NET_ADMIN)", g.tun))?;
    let mtu = g.tun_mtu.to_string();
    ip(&["link", "set", tun.name(), "mtu", &mtu, "up"])?;
    if g.install_routes {
        // Route-based: each connection's remote selector (and pool) into the tunnel.
        for c in &g.conns {
            let mut nets = vec![c.child.remote_ts.to_string()];
            if let Some(p) = c.pool.filter(|p| *p != c.child.remote_ts) {
                nets.push(p.to_string());
            }
            for n in &nets {
                ip(&["route", "replace", n, "dev", tun.name()])?;
                println!("route {n} dev {} connection {}", tun.name(), c.name);
            }
        }
    }
    for c in &g.conns {
        println!(
            "ipsec-gw: connection {} on {} ({}), tun {} mtu {}, {}",
            c.name,
            c.local,
            match &g.outer {
                OuterMode::Udp => "UDP sockets 500/4500".to_owned(),
                OuterMode::Packet { interface, .. } =>
                    format!("AF_PACKET on {interface}, UDP 500/4500"),
            },
            tun.name(),
            g.tun_mtu,
            if c.start_action == StartAction::Initiate {
                "initiating"
            } else {
                "waiting"
            }
        );
    }
    let stop = stop_flag();
    let t0 = Instant::now();
    let now = || t0.elapsed();
    let local = SocketAddr::new(local_ip, 500);
    // RFC 7383: fragments of the peers' messages are reassembled here (one store: a
    // window of one message per direction).
    let mut reasm_buf = vec![0u8; 2 * 16 * 1500];
    let mut reasm = Reassembly::new(&mut reasm_buf);
    // One responder front end per connection; new IKE_SA_INIT requests go to the
    // connection of their source address (else to the one with `%any`).
    let mut fronts = Vec::with_capacity(cfgs.len());
    for ((_, resp_cfg), o) in cfgs.iter().zip(&options) {
        let mut front =
            Responder::new(resp_cfg, &mut rng).map_err(|e| format!("IKE config: {e}"))?;
        front.options = *o;
        if let Some(a) = cert_auth(fronts.len()) {
            front.set_cert_auth(a);
        }
        fronts.push(front);
    }
    let mut ikes: Vec<Ike<'_>> = Vec::new();
    let mut sas = Sas::default();
    let mut n = Counters::default();
    let mut next_lineage = 1u64;
    let mut initiate_at: Vec<Option<Duration>> = g
        .conns
        .iter()
        .map(|c| (c.start_action == StartAction::Initiate).then_some(Duration::ZERO))
        .collect();
    let mut pool_next = vec![1u32; g.conns.len()];
    let mut stopping_since: Option<Duration> = None;
    let mut tx = vec![0u8; 4096];
    let mut buf = vec![0u8; 65536];
    let mut obuf = vec![0u8; 65536];
    loop {
        let t = now();
        if stopping_since.is_none()
            && (stop.load(Ordering::Relaxed)
                || (args.seconds > 0 && t >= Duration::from_secs(args.seconds)))
        {
            println!(
                "shutdown: deleting {} IKE SA(s)",
                ikes.iter().filter(|i| i.alive && !i.superseded).count()
            );
            stopping_since = Some(t);
            initiate_at.fill(None);
            for i in &mut ikes {
                if i.alive && i.sa.is_established() {
                    i.delete_when_idle = true;
                } else {
                    i.alive = false;
                }
            }
        }
        if let Some(s) = stopping_since {
            if ikes.iter().all(|i| !i.alive) || t >= s + Duration::from_secs(3) {
                break;
            }
        }
        // Start (or restart) our IKE SAs.
        for (k, c) in g.conns.iter().enumerate() {
            let (Some(Some(at)), Some(remote)) = (initiate_at.get(k), c.remote) else {
                continue;
            };
            let (Some((ike_cfg, _)), Some(o)) = (cfgs.get(k), options.get(k)) else {
                continue;
            };
            if t >= *at {
                if let Some(a) = initiate_at.get_mut(k) {
                    *a = None;
                }
                let peer = SocketAddr::new(remote, 500);
                match IkeSa::initiate_with(ike_cfg, *o, t, local, peer, &mut rng) {
                    Ok(mut sa) => {
                        if let Some(a) = cert_auth(k) {
                            sa.set_cert_auth(a);
                        }
                        println!(
                            "IKE_SA initiate to {peer} connection {} spi_i={}",
                            c.name,
                            hex(&sa.spis().0)
                        );
                        let mut i = new_ike(sa, k, peer, false, next_lineage, t);
                        i.rekey_at = c.rekey_time.map(|r| t + r);
                        ikes.push(i);
                        next_lineage += 1;
                    }
                    Err(e) => return Err(format!("initiate {}: {e}", c.name)),
                }
            }
        }
        // Wait for a datagram, a packet from the TUN device, or the next timer.
        let wait = Duration::from_millis(if stopping_since.is_some() { 20 } else { 100 });
        let ready = poll_readable(
            {
                let [a, b] = outer.fds();
                [a, b, tun.as_raw_fd()]
            },
            wait,
        )
        .or_else(|e| {
            if e.kind() == std::io::ErrorKind::Interrupted {
                Ok([false; 3])
            } else {
                Err(format!("poll: {e}"))
            }
        })?;
        // UDP 500 and 4500: IKE, and ESP on 4500.
        if ready.get(..2).is_some_and(|r| r.contains(&true)) {
            for _ in 0..64 {
                let t = now();
                let Some(d) = outer.recv(t, &mut buf) else {
                    break;
                };
                let (from, on_4500) = (d.from, d.port == NATT_PORT);
                let len = d.payload.len();
                let Some(dgram) = buf.get_mut(d.payload) else {
                    break;
                };
                let ike_msg = if on_4500 {
                    match natt::classify(dgram) {
                        Ok(NattPayload::Ike(_)) => true,
                        Ok(NattPayload::Keepalive) => continue,
                        Ok(NattPayload::Esp(_)) => false,
                        Err(_) => {
                            n.esp_errors += 1;
                            continue;
                        }
                    }
                } else {
                    true
                };
                if ike_msg {
                    n.ike_in += 1;
                    let msg = if on_4500 {
                        dgram.get(NON_ESP_MARKER.len()..).unwrap_or_default()
                    } else {
                        &*dgram
                    };
                    let Ok(p) = Packet::new_checked(msg) else {
                        println!("drop: not IKEv2 from {from}");
                        continue;
                    };
                    if let Some(i) = ikes
                        .iter_mut()
                        .find(|i| i.sa.spis().0 == p.spi_i() && i.alive)
                    {
                        i.peer = from;
                        i.natt |= on_4500;
                        i.last_heard = t;
                        if let Err(e) = i.sa.handle_packet_with(t, msg, &mut reasm, &mut rng) {
                            println!("IKE drop from {from}: {e}");
                        }
                    } else if stopping_since.is_none() {
                        // The connection of this peer: by its address, else `%any`
                        // (also for a peer whose NAT moved it to 4500).
                        let by_addr = g.conns.iter().position(|c| c.remote == Some(from.ip()));
                        let Some(k) = by_addr
                            .or_else(|| g.conns.iter().position(|c| c.remote.is_none()))
                            .or_else(|| on_4500.then_some(0).filter(|_| g.conns.len() == 1))
                        else {
                            println!("IKE drop: {from} is the peer of no connection");
                            continue;
                        };
                        let (Some(c), Some(front)) = (g.conns.get(k), fronts.get_mut(k)) else {
                            continue;
                        };
                        match front.handle_init(t, 0, local, from, msg, &mut rng, &mut tx) {
                            Ok(InitOutcome::Reply(l)) => {
                                if let Some(r) = tx.get(..l) {
                                    send_ike(&mut outer, t, on_4500, r, from, &mut n);
                                }
                            }
                            Ok(InitOutcome::NewSa(mut sa)) => {
                                if let (Some(pool), Some(next)) = (c.pool, pool_next.get_mut(k)) {
                                    let (start, end) = pool.bounds();
                                    let a = start.saturating_add(*next).min(end.saturating_sub(1));
                                    *next += 1;
                                    sa.set_virtual_ip(Ipv4Addr::from(a), &c.dns);
                                }
                                println!(
                                    "IKE_SA_INIT from {from} connection {} spi_i={}",
                                    c.name,
                                    hex(&sa.spis().0)
                                );
                                let mut i = new_ike(sa, k, from, on_4500, next_lineage, t);
                                next_lineage += 1;
                                i.rekey_at = c.rekey_time.map(|r| t + r);
                                ikes.push(i);
                            }
                            Err(e) => println!("IKE drop IKE_SA_INIT from {from}: {e}"),
                        }
                    }
                    continue;
                }
                // ESP in UDP (RFC 3948 section 2.1): the datagram is the ESP packet.
                let spi = dgram
                    .first_chunk::<4>()
                    .map_or(0, |s| u32::from_be_bytes(*s));
                let Some(pair) = sas.inbound(spi) else {
                    n.no_sa_in += 1;
                    continue;
                };
                let lineage = pair.lineage;
                match pair.inbound.decap_esp(t, dgram, 0..len) {
                    Ok(d)
                        if d.next_header == NextHeader::IPV4
                            || d.next_header == NextHeader::IPV6 =>
                    {
                        let Some(inner) = dgram.get(d.payload) else {
                            continue;
                        };
                        let inner = inner.get(..ip_len(inner)).unwrap_or(inner);
                        n.decap += 1;
                        // RFC 4301 section 5.2: the inner packet must fit the SA's selectors.
                        let ok = Flow::parse(inner).is_some_and(|f| {
                            let (sp, dp) = f.ports.unzip();
                            selector_matches(&pair.remote_ts, f.src, f.proto, sp)
                                && selector_matches(&pair.local_ts, f.dst, f.proto, dp)
                        });
                        if !ok {
                            n.selector_drops += 1;
                            continue;
                        }
                        if tun.send(inner).is_ok() {
                            n.to_tun += 1;
                        }
                        if let Some(i) = ikes
                            .iter_mut()
                            .find(|i| i.lineage == lineage && !i.superseded)
                        {
                            i.last_heard = t;
                            // Follow the peer's NAT mapping (RFC 3948 section 2.2).
                            if i.natt && from.port() != 500 {
                                i.peer = from;
                            }
                        }
                    }
                    Ok(_) => {} // TFC dummy packets (next header 59), anything but IP inside
                    Err(e) => {
                        n.esp_errors += 1;
                        if n.esp_errors <= 20 {
                            println!("ESP drop spi={spi:08x}: {e}");
                        }
                    }
                }
            }
        }
        // The TUN device: plaintext to protect.
        if ready.get(2) == Some(&true) {
            for _ in 0..64 {
                let cap = obuf.len() - 256;
                let Some(slot) = obuf.get_mut(HEAD..cap) else {
                    break;
                };
                let len = match tun.recv(slot) {
                    Ok(Some(l)) => l,
                    Ok(None) => break,
                    Err(e) => return Err(format!("TUN read: {e}")),
                };
                n.tun_in += 1;
                let t = now();
                let Some(flow) = obuf.get(HEAD..HEAD + len).and_then(Flow::parse) else {
                    continue;
                };
                let Some(pair) = sas.outbound_for(t, &flow) else {
                    n.no_sa_out += 1;
                    continue;
                };
                let lineage = pair.lineage;
                let Some(peer) = ikes
                    .iter()
                    .find(|i| i.lineage == lineage && !i.superseded && i.alive)
                    .or_else(|| ikes.iter().find(|i| i.lineage == lineage))
                    .map(|i| {
                        if i.natt {
                            i.peer
                        } else {
                            SocketAddr::new(i.peer.ip(), NATT_PORT)
                        }
                    })
                else {
                    n.no_sa_out += 1;
                    continue;
                };
                let r = if outer.is_packet() {
                    // The whole outer packet (IPv4 + UDP 4500 + ESP) in place.
                    pair.outbound
                        .encap(t, &mut obuf, HEAD..HEAD + len, &mut rng)
                } else {
                    pair.outbound.encap_esp(
                        t,
                        &mut obuf,
                        HEAD..HEAD + len,
                        if flow.is_v6() {
                            NextHeader::IPV6
                        } else {
                            NextHeader::IPV4
                        },
                        0,
                        &mut rng,
                    )
                };
                match r {
                    Ok(r) if outer.is_packet() => {
                        if outer.send_ip_in_place(t, v4(peer), &mut obuf, r) {
                            n.encap += 1;
                        }
                    }
                    Ok(r) => {
                        if let Some(esp) = obuf.get(r) {
                            outer.send_udp(t, NATT_PORT, peer, esp);
                            n.encap += 1;
                        }
                    }
                    Err(e) => {
                        n.esp_errors += 1;
                        println!("ESP encap drop: {e}");
                    }
                }
            }
        }
        // Timers and actions of every IKE SA.
        let t = now();
        let mut born: Vec<Ike<'_>> = Vec::new();
        for i in &mut ikes {
            if !i.alive {
                continue;
            }
            let Some(c) = g.conns.get(i.conn) else {
                continue;
            };
            i.sa.handle_timeout(t);
            // Section 2.23: the initiator moves to 4500 once NAT is detected.
            if i.sa.role() == Role::Initiator && i.sa.use_nat_t() && !i.natt {
                i.natt = true;
                i.peer.set_port(NATT_PORT);
            }
            while let Some(a) = i.sa.poll_action(t, &mut tx) {
                match a {
                    Action::Send { len } => {
                        if let Some(m) = tx.get(..len) {
                            send_ike(&mut outer, t, i.natt, m, i.peer, &mut n);
                        }
                    }
                    Action::IkeSaEstablished {
                        spi_i,
                        spi_r,
                        peer_behind_nat,
                        local_behind_nat,
                    } => {
                        i.local_behind_nat = local_behind_nat;
                        println!(
                            "IKE_SA established connection {} spi_i={} spi_r={} suite={:?} peer={} natt={} peer_behind_nat={peer_behind_nat} local_behind_nat={local_behind_nat}",
                            c.name,
                            hex(&spi_i),
                            hex(&spi_r),
                            i.sa.suite(),
                            i.peer,
                            i.sa.use_nat_t(),
                        );
                    }
                    Action::ChildSa(ch) => {
                        // REKEY_SA names the rekey initiator's inbound SPI (section 1.3.3).
                        let we_initiated = ch
                            .replaces
                            .is_some_and(|r| sas.inbound(u32::from_be_bytes(r)).is_some());
                        let params = InstallParams {
                            lineage: i.lineage,
                            local: c.local,
                            remote: i.peer.ip(),
                            now: t,
                            life_time: c.child.life_time,
                            rekey_time: c.child.rekey_time,
                            udp_encap: Some(UdpEncap {
                                src_port: NATT_PORT,
                                dst_port: if i.natt { i.peer.port() } else { NATT_PORT },
                            }),
                            we_initiated,
                        };
                        match sas.install(&ch, params) {
                            Ok(replaced) => println!(
                                "CHILD_SA installed connection {} inbound_spi={} outbound_spi={} encr={:?}/{} local_ts={} remote_ts={}{}",
                                c.name,
                                hex(&ch.inbound_spi),
                                hex(&ch.outbound_spi),
                                ch.suite.encr,
                                ch.suite.key_bits,
                                ts_text(&ch.local_ts),
                                ts_text(&ch.remote_ts),
                                replaced.map_or(String::new(), |r| format!(" rekeys={r:08x}"))
                            ),
                            Err(e) => println!("CHILD_SA not installed: {e}"),
                        }
                    }
                    Action::ChildSaRefused(nt) => println!("CHILD_SA refused: {nt:?}"),
                    Action::IkeSaRekeyed { spi_i, spi_r } => {
                        println!(
                            "IKE_SA rekeyed new spi_i={} spi_r={}",
                            hex(&spi_i),
                            hex(&spi_r)
                        );
                        i.superseded = true;
                        if i.rekeying {
                            // We started it: the old SA is ours to delete (section 1.3.2).
                            i.delete_when_idle = true;
                        }
                        if let Some(sa) = i.sa.take_rekeyed() {
                            let mut k = new_ike(sa, i.conn, i.peer, i.natt, i.lineage, t);
                            k.local_behind_nat = i.local_behind_nat;
                            k.rekey_at = c.rekey_time.map(|r| t + r);
                            born.push(k);
                        }
                    }
                    Action::Closed => {
                        println!("IKE_SA closed spi_i={}", hex(&i.sa.spis().0));
                        i.alive = false;
                    }
                    Action::Failed(e) => {
                        println!("IKE_SA failed spi_i={}: {e}", hex(&i.sa.spis().0));
                        i.alive = false;
                    }
                    other => println!("IKE event {other:?}"),
                }
            }
            let idle = i.alive && i.sa.is_established() && i.sa.poll_timeout().is_none();
            if !idle {
                continue;
            }
            i.dpd_pending = false;
            if i.delete_when_idle {
                i.delete_when_idle = false;
                match i.sa.delete(t, &mut rng) {
                    Ok(()) => println!("IKE_SA delete spi_i={}", hex(&i.sa.spis().0)),
                    Err(e) => println!("IKE_SA delete failed: {e}"),
                }
            } else if i.superseded || stopping_since.is_some() {
                // nothing more to start on it
            } else if i.rekey_at.is_some_and(|r| t >= r) {
                i.rekey_at = None;
                match i.sa.rekey_ike(t, &mut rng) {
                    Ok(()) => {
                        i.rekeying = true;
                        println!("IKE_SA rekey started spi_i={}", hex(&i.sa.spis().0));
                    }
                    Err(e) => println!("IKE_SA rekey not started: {e}"),
                }
            } else if let Some(p) = sas.pairs.iter_mut().find(|p| {
                p.lineage == i.lineage
                    && p.retire_at.is_none()
                    && p.rekey_at.is_some_and(|r| t >= r)
            }) {
                p.rekey_at = None;
                let spi = p.inbound_spi.to_be_bytes();
                match i.sa.create_child(t, Some(spi), c.child.pfs, &mut rng) {
                    Ok(()) => println!("CHILD_SA rekey started for inbound_spi={}", hex(&spi)),
                    Err(e) => println!("CHILD_SA rekey not started: {e}"),
                }
            } else if c.dpd_delay.is_some_and(|d| t >= i.last_heard + d)
                && i.sa.liveness_check(t, &mut rng).is_ok()
            {
                i.dpd_pending = true;
                i.last_heard = t;
                println!("DPD liveness check spi_i={}", hex(&i.sa.spis().0));
            }
            // RFC 3948 section 2.3: NAT keepalives from behind a NAT.
            if i.natt && i.local_behind_nat && t >= i.keepalive_at {
                i.keepalive_at = t + Duration::from_secs(20);
                outer.send_udp(t, NATT_PORT, i.peer, &natt::KEEPALIVE);
                n.keepalives += 1;
            }
        }
        ikes.extend(born);
        // Dead IKE SAs take their Child SAs along, unless a successor carries them on.
        let mut lost = Vec::new();
        ikes.retain(|i| {
            if i.alive {
                return true;
            }
            if !i.superseded {
                lost.push((i.lineage, i.conn));
            }
            false
        });
        for (l, k) in lost {
            if ikes.iter().any(|i| i.lineage == l) {
                continue;
            }
            for spi in sas.remove_lineage(l) {
                println!("CHILD_SA removed inbound_spi={spi:08x}");
            }
            let Some(c) = g.conns.get(k) else { continue };
            if stopping_since.is_none() && c.start_action == StartAction::Initiate {
                println!("connection down: {} initiating again in 2 s", c.name);
                if let Some(a) = initiate_at.get_mut(k) {
                    *a = Some(now() + Duration::from_secs(2));
                }
            }
        }
        for spi in sas.expire(now()) {
            println!("CHILD_SA retired inbound_spi={spi:08x}");
        }
    }
    for p in &sas.pairs {
        let (i, o) = (p.inbound.stats(), p.outbound.stats());
        println!(
            "sa inbound_spi={:08x} in_packets={} in_bytes={} outbound_spi={:08x} out_packets={} out_bytes={}",
            p.inbound_spi, i.packets, i.bytes, p.outbound_spi, o.packets, o.bytes
        );
    }
    println!(
        "counters ike_in={} ike_out={} tun_in={} encap={} decap={} to_tun={} no_sa_out={} no_sa_in={} esp_errors={} selector_drops={} keepalives={}",
        n.ike_in,
        n.ike_out,
        n.tun_in,
        n.encap,
        n.decap,
        n.to_tun,
        n.no_sa_out,
        n.no_sa_in,
        n.esp_errors,
        n.selector_drops,
        n.keepalives
    );
    if let Some((frags, arp)) = outer.packet_counters() {
        println!("af_packet fragments_dropped={frags} arp_replies={arp}");
    }
    Ok(())
}

fn new_ike(
    sa: IkeSa<'_>,
    conn: usize,
    peer: SocketAddr,
    natt: bool,
    lineage: u64,
    t: Duration,
) -> Ike<'_> {
    Ike {
        sa,
        conn,
        peer,
        natt,
        lineage,
        alive: true,
        superseded: false,
        rekeying: false,
        delete_when_idle: false,
        rekey_at: None,
        last_heard: t,
        dpd_pending: false,
        local_behind_nat: false,
        keepalive_at: t,
    }
}

/// Sends an IKE message: on 4500 behind the non-ESP marker (RFC 3948 section 2.2)
/// once NAT-T is in use, else on 500.
fn send_ike(
    outer: &mut Outer,
    t: Duration,
    natt: bool,
    msg: &[u8],
    to: SocketAddr,
    n: &mut Counters,
) {
    n.ike_out += 1;
    if natt {
        let mut d = Vec::with_capacity(msg.len() + NON_ESP_MARKER.len());
        d.extend_from_slice(&NON_ESP_MARKER);
        d.extend_from_slice(msg);
        outer.send_udp(t, NATT_PORT, to, &d);
    } else {
        outer.send_udp(t, IKE_PORT, to, msg);
    }
}
