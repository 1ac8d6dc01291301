//! `lab --netns`: the lab's simulated subscribers over veth namespaces against the real
//! `bng` process (its AF_PACKET or AF_XDP backend, IPoE with local authorisation, NAT44)
//! and a server namespace that echoes UDP. Root only.
//!
//! ```text
//! [lab-sub: sub0]  --veth--  [acc  bng  up0]  --veth--  [up1 192.0.2.254: UDP echo]
//!  N DHCPv4 client machines    (the `bng` binary)           (a std UdpSocket)
//! ```
//!
//! Each subscriber is our own client machine with its own MAC, all on one AF_PACKET
//! socket in the subscriber namespace: PPPoE subscribers run `bng_pppoe`'s discovery
//! client and PPP host session (LCP, CHAP-MD5 against bng's local users file, IPCP),
//! IPoE subscribers `bng_dhcp`'s DHCPv4 client. Once up, each sends UDP datagrams to the
//! server through bng and NAT44 and counts the echoes. The report has the in-memory
//! lab's shape ([`crate::lab::Report`]): sessions up, setup rates (wall clock: real
//! time here, nothing is virtual), packets sent and answered, failures.
//!
//! Then a bounded forwarding-load phase ([`crate::lab::Load`]): one datagram per IPoE
//! subscriber round robin to a sink on the server, as fast as the socket sends, at most
//! `load_packets` or `load_time`, counted at the server's veth; and with `kernel`, after
//! bng has stopped, the same frames through the gateway namespace turned into a Linux
//! router (IPv4 forwarding + nftables masquerade) on the same veths, for the ratio.

#![allow(
    clippy::cast_possible_truncation,
    clippy::indexing_slicing,
    reason = "subscriber indices fit u16/u32; fixed offsets in frames this module parsed the length of"
)]

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::{Ipv4Addr, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bng_dataplane::backend::afpacket::Socket;
use bng_dhcp::v4::client::{Client, ClientAction, ClientConfig, ClientDestination};
use bng_pppoe::client::{
    Action as DiscAction, Client as DiscClient, ClientConfig as DiscConfig, Event as DiscEvent,
};
use bng_pppoe::ppp::session::{Config as PppConfig, Event as PppEvent, Session};
use bng_testkit::netns::{Netns, Peer, veth, wait_for};

use crate::lab::{Load, Progress, Report, Status};
use crate::net::{Udp4, parse_udp4};

/// The server's address (upstream side).
pub const SERVER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 254);
/// UDP echo port on the server.
pub const ECHO_PORT: u16 = 7;
/// How long subscribers get to come up.
pub const SETUP_BOUND: Duration = Duration::from_secs(40);
/// Subscribers in DHCP at once: more start as these bind, so a burst of thousands of
/// DISCOVERs does not overflow the sockets' buffers (real subscribers do not all
/// arrive in the same millisecond either).
pub const WINDOW: usize = 64;
/// Datagrams unanswered at most while sending.
pub const IN_FLIGHT: u64 = 64;

/// What to run.
#[derive(Debug, Clone)]
pub struct NetnsOptions {
    /// PPPoE subscribers.
    pub pppoe: usize,
    /// IPoE (DHCPv4) subscribers.
    pub ipoe: usize,
    /// UDP datagrams each subscriber sends (each is echoed).
    pub packets: usize,
    /// The `bng` binary.
    pub bng: PathBuf,
    /// `afpacket` or `afxdp`.
    pub backend: String,
    /// Work directory (config, users file, bng log).
    pub dir: PathBuf,
    /// Datagrams of the forwarding-load phase (0: no load phase).
    pub load_packets: u64,
    /// Time limit of the forwarding-load phase.
    pub load_time: Duration,
    /// Also measure the Linux kernel (IPv4 forwarding + nftables masquerade) with the same
    /// load on the same namespaces, after bng has stopped.
    pub kernel: bool,
}

/// UDP port of the load phase's sink on the server (a bound socket nobody reads, so the
/// server sends no ICMP port unreachable back).
pub const SINK_PORT: u16 = 9;

/// Whether this process may create namespaces: the error says what to do otherwise.
///
/// # Errors
/// Not root.
pub fn check_root() -> Result<(), String> {
    // SAFETY: geteuid(2) has no preconditions and cannot fail.
    #[allow(unsafe_code, reason = "geteuid has no safe wrapper in std")]
    let uid = unsafe { libc::geteuid() };
    if uid == 0 {
        Ok(())
    } else {
        Err(
            "lab --netns: needs root (it creates network namespaces and veth pairs and opens \
             AF_PACKET sockets): run it with sudo, or drop --netns for the in-memory lab"
                .into(),
        )
    }
}

/// Datagram `k` of the load phase from subscriber `i` (MAC `src_mac`, address `src`) to
/// the echo server, as an Ethernet frame to `dst_mac`; its port tells the subscribers apart.
fn load_frame(src_mac: [u8; 6], dst_mac: [u8; 6], src: Ipv4Addr, i: usize, k: usize) -> Vec<u8> {
    Udp4 {
        src_mac,
        dst_mac,
        src,
        dst: SERVER,
        src_port: 20_000 + (i % 40_000) as u16,
        dst_port: ECHO_PORT,
    }
    .frame(&(k as u32).to_be_bytes())
}

fn config(dir: &Path, backend: &str, n: usize, m: usize) -> PathBuf {
    let last = 10 + n.max(1) as u32 + 50;
    let ppp_last = 10 + m.max(1) as u32 + 50;
    let text = format!(
        r#"[access]
interface = "acc"
backend = "{backend}"

[upstream]
interface = "up0"
backend = "{backend}"
address = "192.0.2.1/24"
gateway = "{SERVER}"

[pppoe]
enabled = {}
auth = "chap"
gateway = "100.64.0.1"
pool = "default"

[ipoe]
enabled = true
gateway = "100.65.0.1"
pool = "ipoe"
lease_secs = 600

[auth]
mode = "local"
users_file = "users"

[[pools.v4]]
name = "default"
first = "100.64.0.10"
last = "{}"

[[pools.v4]]
name = "ipoe"
first = "100.65.0.10"
last = "{}"

[nat]
pool = "203.0.113.1"
pool_len = {}
block_size = 512
"#,
        m > 0,
        Ipv4Addr::from(u32::from(Ipv4Addr::new(100, 64, 0, 0)) + ppp_last),
        Ipv4Addr::from(u32::from(Ipv4Addr::new(100, 65, 0, 0)) + last),
        // one 512-port block per subscriber, 126 blocks per address; subscribers are
        // paired to addresses by hash, so an address per 50 keeps the fullest address
        // below its 126 blocks (an address per 100 left 10 of 4000 without a block)
        (n + m).div_ceil(50) + 1
    );
    let p = dir.join("bng.toml");
    let _ = std::fs::write(&p, text);
    let users = (0..m).fold(String::new(), |mut t, i| {
        let _ = writeln!(t, "sub{i}@lab pw{i}");
        t
    });
    let _ = std::fs::write(dir.join("users"), users);
    p
}

fn sub_mac(i: usize) -> [u8; 6] {
    let b = (i as u32).to_be_bytes();
    [0x02, 0x1a, b[0], b[1], b[2], b[3]]
}

/// A PPPoE subscriber: discovery client, then the PPP host session.
struct PppSub<'c> {
    mac: [u8; 6],
    disc: DiscClient<'c>,
    ppp: Option<Session<'c>>,
    sid: u16,
    addr: Option<Ipv4Addr>,
}

fn ppp_mac(i: usize) -> [u8; 6] {
    let b = (i as u32).to_be_bytes();
    [0x02, 0x1b, b[0], b[1], b[2], b[3]]
}

/// Ethernet + PPPoE session header (RFC 2516 section 5) around `ppp` (protocol first).
fn eth_session(dst: [u8; 6], src: [u8; 6], sid: u16, ppp: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(20 + ppp.len());
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&[0x88, 0x64, 0x11, 0x00]);
    f.extend_from_slice(&sid.to_be_bytes());
    f.extend_from_slice(&(ppp.len() as u16).to_be_bytes());
    f.extend_from_slice(ppp);
    f
}

/// PPPoE subscribers until every one has IPCP up (or [`SETUP_BOUND`]); returns the
/// access concentrator's MAC.
fn pppoe_setup<'c>(
    sock: &Socket,
    subs: &mut [PppSub<'c>],
    cfgs: &'c [PppConfig<'c>],
    by_mac: &HashMap<[u8; 6], usize>,
    progress: Progress<'_>,
) -> [u8; 6] {
    let m = subs.len();
    let t0 = Instant::now();
    let mut ac_mac = [0xff; 6];
    let mut tx = [0u8; 1600];
    let mut buf = vec![0u8; 2048];
    let mut started = 0usize;
    let mut last_progress = Duration::ZERO;
    while t0.elapsed() < SETUP_BOUND {
        let now = t0.elapsed();
        let up = subs.iter().filter(|s| s.addr.is_some()).count();
        if now >= last_progress + Duration::from_millis(200) || up == m {
            progress(&Status::setup(up, m, now));
            last_progress = now;
        }
        if up == m {
            break;
        }
        while started < m && started < up + WINDOW {
            subs[started].disc.start(now);
            started += 1;
        }
        for (i, s) in subs[..started].iter_mut().enumerate() {
            s.disc.handle_timeout(now);
            while let Some(a) = s.disc.poll_action(now, &mut tx) {
                match a {
                    DiscAction::Transmit(len) => {
                        let _ = sock.send(&tx[..len]);
                    }
                    DiscAction::Event(DiscEvent::SessionUp(u)) => {
                        s.sid = u.session_id.get();
                        let mut p = Session::from_parts(&cfgs[i], s.sid, i as u64 + 7, [0; 16]);
                        p.start(now);
                        s.ppp = Some(p);
                    }
                    DiscAction::Event(_) => {}
                }
            }
            if let Some(p) = &mut s.ppp {
                p.handle_timeout(now);
                while let Some(a) = p.poll_action(now, &mut tx) {
                    // tx holds the PPPoE header and the PPP frame
                    let mut f = Vec::with_capacity(14 + a.len());
                    f.extend_from_slice(&ac_mac);
                    f.extend_from_slice(&s.mac);
                    f.extend_from_slice(&[0x88, 0x64]);
                    f.extend_from_slice(&tx[..a.len()]);
                    let _ = sock.send(&f);
                }
                while let Some(e) = p.poll_event() {
                    if let PppEvent::Ipv4Up { local, .. } = e {
                        s.addr = Some(Ipv4Addr::from(local));
                    }
                }
            }
        }
        while let Ok(Some(k)) = sock.recv(&mut buf, Duration::from_millis(2)) {
            let f = &buf[..k];
            let Some(&i) = f
                .get(..6)
                .and_then(|d| <[u8; 6]>::try_from(d).ok())
                .and_then(|d| by_mac.get(&d))
            else {
                continue;
            };
            let now = t0.elapsed();
            match f.get(12..14) {
                Some([0x88, 0x63]) => {
                    if let Some(src) = f.get(6..12).and_then(|m| <[u8; 6]>::try_from(m).ok()) {
                        ac_mac = src;
                    }
                    let _ = subs[i].disc.handle_frame(now, f);
                }
                Some([0x88, 0x64]) => {
                    if let Some(p) = &mut subs[i].ppp {
                        let _ = p.handle_packet(now, &f[14..]);
                    }
                }
                _ => {}
            }
        }
    }
    ac_mac
}

struct Sub {
    c: Client,
    mac: [u8; 6],
    addr: Option<Ipv4Addr>,
    echoes: u64,
}

/// Runs the namespace lab; `progress(up, n, elapsed)` is called while subscribers come
/// up.
///
/// # Errors
/// Not root, or the gateway did not start (its log is in the message).
#[allow(
    clippy::too_many_lines,
    reason = "setup, the two phases and the report, in order"
)]
pub fn run(opt: &NetnsOptions, progress: Progress<'_>) -> Result<Report, String> {
    check_root()?;
    let n = opt.ipoe;
    std::fs::create_dir_all(&opt.dir).map_err(|e| format!("{}: {e}", opt.dir.display()))?;
    let g = Netns::new("labg");
    let c = Netns::new("labc");
    let s = Netns::new("labs");
    veth(&g, "acc", &c, "sub0");
    veth(&g, "up0", &s, "up1");
    for (ns, dev) in [(&g, "acc"), (&g, "up0"), (&c, "sub0"), (&s, "up1")] {
        ns.exec(&[
            "sysctl",
            "-qw",
            &format!("net.ipv6.conf.{dev}.disable_ipv6=1"),
        ]);
    }
    s.ip(&["addr", "add", &format!("{SERVER}/24"), "dev", "up1"]);
    // the NAT pool starts at 203.0.113.1 and may pass the /24 (one address per 50)
    s.ip(&["route", "add", "203.0.0.0/16", "via", "192.0.2.1"]);
    // the server: a UDP echo responder
    let echo = s.run_in(|| UdpSocket::bind((SERVER, ECHO_PORT)));
    let echo = echo.map_err(|e| format!("echo socket: {e}"))?;
    let _ = echo.set_read_timeout(Some(Duration::from_millis(100)));
    let stop = Arc::new(AtomicBool::new(false));
    let echo_stop = Arc::clone(&stop);
    let echo_thread = std::thread::spawn(move || {
        let mut b = [0u8; 2048];
        while !echo_stop.load(Ordering::Relaxed) {
            if let Ok((k, from)) = echo.recv_from(&mut b) {
                let _ = echo.send_to(&b[..k], from);
            }
        }
    });
    let m = opt.pppoe;
    let cfg = config(&opt.dir, &opt.backend, n, m);
    let bng_path = opt.bng.to_str().ok_or("bng path is not UTF-8")?;
    let cfg_path = cfg.to_str().ok_or("config path is not UTF-8")?;
    let mut bng: Peer = g.spawn(
        "bng",
        &[bng_path, "--config", cfg_path],
        &opt.dir.join("bng.log"),
    );
    let ready = wait_for(Duration::from_secs(10), "bng ready", || {
        bng.log().contains("bng: ready") || bng.exited().is_some()
    });
    if !ready || bng.exited().is_some() {
        stop.store(true, Ordering::Relaxed);
        let _ = echo_thread.join();
        return Err(format!("bng did not start:\n{}", bng.log()));
    }
    let sock = c
        .run_in(|| Socket::open("sub0"))
        .map_err(|e| format!("AF_PACKET on sub0: {e}"))?;

    // ---- phase 0: PPPoE subscribers (discovery, LCP, CHAP-MD5, IPCP) ----
    let creds = crate::lab::lab_users(m);
    let ppp_cfgs = crate::lab::client_configs(&creds);
    let mut psubs: Vec<PppSub<'_>> = (0..m)
        .map(|i| {
            Ok(PppSub {
                mac: ppp_mac(i),
                disc: DiscClient::new(DiscConfig::new(ppp_mac(i)))
                    .map_err(|e| format!("PPPoE client: {e}"))?,
                ppp: None,
                sid: 0,
                addr: None,
            })
        })
        .collect::<Result<_, String>>()?;
    let ppp_by_mac: HashMap<[u8; 6], usize> =
        psubs.iter().enumerate().map(|(i, s)| (s.mac, i)).collect();
    let tp = Instant::now();
    let ac_mac = if m > 0 {
        pppoe_setup(&sock, &mut psubs, &ppp_cfgs, &ppp_by_mac, progress)
    } else {
        [0xff; 6]
    };
    let ppp_setup = tp.elapsed();
    let ppp_up = psubs.iter().filter(|s| s.addr.is_some()).count();

    let mut subs: Vec<Sub> = (0..n)
        .map(|i| Sub {
            c: Client::new(ClientConfig::new(sub_mac(i)), i as u64 + 1),
            mac: sub_mac(i),
            addr: None,
            echoes: 0,
        })
        .collect();
    let by_mac: HashMap<[u8; 6], usize> =
        subs.iter().enumerate().map(|(i, s)| (s.mac, i)).collect();
    let mut bng_mac = [0xff; 6];
    let mut buf = vec![0u8; 2048];
    let mut tx = [0u8; 600];
    let t0 = Instant::now();

    // ---- phase 1: every subscriber runs DHCP until bound ----
    let mut last_progress = Duration::ZERO;
    let mut started = 0usize;
    while t0.elapsed() < SETUP_BOUND {
        let now = t0.elapsed();
        let bound = subs.iter().filter(|s| s.addr.is_some()).count();
        while started < n && started < bound + WINDOW {
            // it sends its DISCOVER on its first poll, now
            started += 1;
        }
        for s in &mut subs[..started] {
            s.c.handle_timeout(now);
            while let Some(a) = s.c.poll_action(now, &mut tx) {
                match a {
                    ClientAction::Transmit { len, dst } => {
                        let held = s.c.lease().map_or(Ipv4Addr::UNSPECIFIED, |l| l.addr);
                        let (dmac, dip) = match dst {
                            ClientDestination::Broadcast => ([0xff; 6], Ipv4Addr::BROADCAST),
                            ClientDestination::Server(ip) => (bng_mac, ip),
                        };
                        let f = Udp4 {
                            src_mac: s.mac,
                            dst_mac: dmac,
                            src: held,
                            dst: dip,
                            src_port: 68,
                            dst_port: 67,
                        }
                        .frame(&tx[..len]);
                        let _ = sock.send(&f);
                    }
                    ClientAction::Event(bng_dhcp::v4::client::ClientEvent::Bound(l)) => {
                        s.addr = Some(l.addr);
                    }
                    _ => {}
                }
            }
        }
        while let Ok(Some(k)) = sock.recv(&mut buf, Duration::from_millis(2)) {
            let f = &buf[..k];
            let Some(dst) = f.get(..6).and_then(|d| <[u8; 6]>::try_from(d).ok()) else {
                continue;
            };
            let Some(&i) = by_mac.get(&dst) else { continue };
            if let Some(u) = parse_udp4(f, 68) {
                bng_mac = u.src_mac;
                let _ = subs[i].c.handle_packet(t0.elapsed(), u.payload);
            }
        }
        let up = subs.iter().filter(|s| s.addr.is_some()).count();
        if now >= last_progress + Duration::from_millis(200) || up == n {
            progress(&Status::setup(up, n, now));
            last_progress = now;
        }
        if up == n {
            break;
        }
    }
    let setup = t0.elapsed();
    let up = subs.iter().filter(|s| s.addr.is_some()).count();

    // ---- phase 2: UDP through bng and NAT44, echoed by the server ----
    let t1 = Instant::now();
    let mut sent = 0u64;
    let mut echoes = vec![0u64; n];
    for (i, s) in subs.iter().enumerate() {
        let Some(a) = s.addr else { continue };
        for k in 0..opt.packets {
            let f = load_frame(s.mac, bng_mac, a, i, k);
            if sock.send(&f).is_ok() {
                sent += 1;
            }
        }
        // at most IN_FLIGHT datagrams unanswered: the sockets' buffers are bounded
        let t = Instant::now();
        while sent.saturating_sub(echoes.iter().sum::<u64>()) > IN_FLIGHT
            && t.elapsed() < Duration::from_millis(500)
        {
            drain_echoes(
                &sock,
                &mut buf,
                &by_mac,
                &mut echoes,
                Duration::from_millis(5),
            );
        }
    }
    let mut ppp_echoes = vec![0u64; m];
    let mut ppp_sent = 0u64;
    for (i, s) in psubs.iter().enumerate() {
        let Some(a) = s.addr else { continue };
        for k in 0..opt.packets {
            let ip = load_frame(s.mac, ac_mac, a, i, k);
            let mut ppp = vec![0x00, 0x21];
            ppp.extend_from_slice(&ip[14..]);
            if sock.send(&eth_session(ac_mac, s.mac, s.sid, &ppp)).is_ok() {
                ppp_sent += 1;
            }
        }
        let t = Instant::now();
        while (sent + ppp_sent)
            .saturating_sub(echoes.iter().sum::<u64>() + ppp_echoes.iter().sum::<u64>())
            > IN_FLIGHT
            && t.elapsed() < Duration::from_millis(500)
        {
            drain_both(
                &sock,
                &mut buf,
                &by_mac,
                &mut echoes,
                &ppp_by_mac,
                &mut ppp_echoes,
            );
        }
    }
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline
        && echoes.iter().sum::<u64>() + ppp_echoes.iter().sum::<u64>() < sent + ppp_sent
    {
        drain_both(
            &sock,
            &mut buf,
            &by_mac,
            &mut echoes,
            &ppp_by_mac,
            &mut ppp_echoes,
        );
    }
    for (s, e) in subs.iter_mut().zip(&echoes) {
        s.echoes = *e;
    }
    let fwd = t1.elapsed();

    // ---- phase 3: forwarding load (IPoE subscribers → server), bounded ----
    let mut load = Vec::new();
    let sink = s.run_in(|| UdpSocket::bind((SERVER, SINK_PORT)));
    let up_subs: Vec<(usize, [u8; 6], Ipv4Addr)> = subs
        .iter()
        .enumerate()
        .filter_map(|(i, x)| x.addr.map(|a| (i, x.mac, a)))
        .collect();
    if opt.load_packets > 0 && !up_subs.is_empty() && sink.is_ok() {
        let frames = load_frames(&up_subs, bng_mac);
        let cpu0 = process_cpu(bng.pid());
        let mut l = blast(&sock, &frames, opt, || rx_packets(&s, "up1"));
        l.cpu = cpu0.and_then(|c0| process_cpu(bng.pid()).map(|c1| c1.saturating_sub(c0)));
        l.path = format!("bng ({})", opt.backend);
        progress(&Status {
            up: up + ppp_up,
            total: n + m,
            time: t0.elapsed(),
            forwarded: l.forwarded,
            forward_wall: l.wall,
            drops: l.offered.saturating_sub(l.forwarded),
        });
        load.push(l);
    }
    bng.stop();
    if opt.kernel && opt.load_packets > 0 && !up_subs.is_empty() && sink.is_ok() {
        match kernel_forwarding(&g) {
            Ok(router_mac) => {
                let frames = load_frames(&up_subs, router_mac);
                let mut l = blast(&sock, &frames, opt, || rx_packets(&s, "up1"));
                l.path = "kernel forwarding + nftables masquerade".into();
                load.push(l);
            }
            Err(e) => eprintln!("lab --netns: no kernel comparison: {e}"),
        }
    }
    drop(sink);
    stop.store(true, Ordering::Relaxed);
    let _ = echo_thread.join();
    let received: u64 = echoes.iter().sum();
    let ppp_received: u64 = ppp_echoes.iter().sum();
    let ppp_lossy = ppp_echoes
        .iter()
        .zip(&psubs)
        .filter(|(e, s)| s.addr.is_some() && **e < opt.packets as u64)
        .count();
    let lossy = subs
        .iter()
        .enumerate()
        .filter(|(_, s)| s.addr.is_some() && s.echoes < opt.packets as u64)
        .inspect(|(i, s)| {
            eprintln!(
                "lab --netns: subscriber {i} ({:?}) got {} of {} echoes",
                s.addr, s.echoes, opt.packets
            );
        })
        .count();
    Ok(Report {
        subscribers: m,
        sessions_up: ppp_up,
        setup_virtual: ppp_setup,
        setup_wall: ppp_setup,
        ipoe_subscribers: n,
        ipoe_up: up,
        failures: (n - up) + lossy + (m - ppp_up) + ppp_lossy,
        ipoe_setup_virtual: setup,
        ipoe_setup_wall: setup,
        sent: sent + ppp_sent,
        received: received + ppp_received,
        ipoe_sent: sent,
        ipoe_received: received,
        forwarded: sent + ppp_sent + received + ppp_received,
        forward_wall: fwd,
        load,
        ..Report::default()
    })
}

/// Counts UDP echoes (from the server's echo port) per subscriber, for up to `wait`.
fn drain_echoes(
    sock: &Socket,
    buf: &mut [u8],
    by_mac: &HashMap<[u8; 6], usize>,
    echoes: &mut [u64],
    wait: Duration,
) -> usize {
    let mut got = 0;
    while let Ok(Some(k)) = sock.recv(buf, wait) {
        let f = &buf[..k];
        let Some(&i) = f
            .get(..6)
            .and_then(|d| <[u8; 6]>::try_from(d).ok())
            .and_then(|d| by_mac.get(&d))
        else {
            continue;
        };
        // IPv4 UDP from the echo port: ethertype, protocol, source port
        if f.get(12..14) == Some(&[0x08, 0x00])
            && f.get(23) == Some(&17)
            && f.get(34..36) == Some(&ECHO_PORT.to_be_bytes())
        {
            if let Some(e) = echoes.get_mut(i) {
                *e += 1;
                got += 1;
            }
        }
    }
    got
}

/// [`drain_echoes`] for IPoE and PPPoE subscribers at once, for up to 20 ms.
fn drain_both(
    sock: &Socket,
    buf: &mut [u8],
    ipoe: &HashMap<[u8; 6], usize>,
    ipoe_echoes: &mut [u64],
    pppoe: &HashMap<[u8; 6], usize>,
    pppoe_echoes: &mut [u64],
) {
    let port = ECHO_PORT.to_be_bytes();
    while let Ok(Some(k)) = sock.recv(buf, Duration::from_millis(20)) {
        let f = &buf[..k];
        let Some(dst) = f.get(..6).and_then(|d| <[u8; 6]>::try_from(d).ok()) else {
            continue;
        };
        if let Some(&i) = ipoe.get(&dst) {
            if f.get(12..14) == Some(&[0x08, 0x00])
                && f.get(23) == Some(&17)
                && f.get(34..36) == Some(&port)
            {
                if let Some(e) = ipoe_echoes.get_mut(i) {
                    *e += 1;
                }
            }
        } else if let Some(&i) = pppoe.get(&dst) {
            // PPPoE session, PPP IPv4, UDP from the echo port
            if f.get(12..14) == Some(&[0x88, 0x64])
                && f.get(20..22) == Some(&[0x00, 0x21])
                && f.get(31) == Some(&17)
                && f.get(42..44) == Some(&port)
            {
                if let Some(e) = pppoe_echoes.get_mut(i) {
                    *e += 1;
                }
            }
        }
    }
}

/// One datagram per IPoE subscriber up, to the server's sink port, each its own flow
/// (source port) and so its own NAT44 session.
fn load_frames(subs: &[(usize, [u8; 6], Ipv4Addr)], gw_mac: [u8; 6]) -> Vec<Vec<u8>> {
    subs.iter()
        .map(|&(i, mac, a)| {
            Udp4 {
                src_mac: mac,
                dst_mac: gw_mac,
                src: a,
                dst: SERVER,
                src_port: 30_000 + (i % 30_000) as u16,
                dst_port: SINK_PORT,
            }
            .frame(&[0u8; 18])
        })
        .collect()
}

/// Sends `frames` round robin as fast as the socket takes them, until
/// `opt.load_packets` are sent or `opt.load_time` has passed; then reads what reached
/// the server (`rx()`) every 50 ms until it stops growing, so the gateway's backlog
/// drained after the last send counts, and over the time it took.
fn blast(sock: &Socket, frames: &[Vec<u8>], opt: &NetnsOptions, rx: impl Fn() -> u64) -> Load {
    let before = rx();
    let t = Instant::now();
    let mut sent = 0u64;
    'send: loop {
        for f in frames {
            if sent >= opt.load_packets || (sent % 256 == 0 && t.elapsed() >= opt.load_time) {
                break 'send;
            }
            if sock.send(f).is_ok() {
                sent += 1;
            }
        }
    }
    let wall = t.elapsed();
    let (mut last, mut last_change) = (rx(), t.elapsed());
    // bounded: at most 3 s of draining
    while t.elapsed() < wall + Duration::from_secs(3) {
        std::thread::sleep(Duration::from_millis(50));
        let now = rx();
        if now == last {
            break;
        }
        (last, last_change) = (now, t.elapsed());
    }
    Load {
        offered: sent,
        forwarded: last.saturating_sub(before),
        wall,
        forward_time: last_change,
        ..Load::default()
    }
}

/// Packets received by `dev` in `ns` (its sysfs counter).
fn rx_packets(ns: &Netns, dev: &str) -> u64 {
    let out = ns.exec(&[
        "cat",
        &format!("/sys/class/net/{dev}/statistics/rx_packets"),
    ]);
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0)
}

/// User + system CPU time of process `pid` (`/proc/<pid>/stat`, clock ticks of 10 ms).
fn process_cpu(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // fields after the command name in parentheses; utime and stime are fields 14, 15
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// `g` as a Linux router between `ports` (access, upstream): RFC 1812 forwarding
/// without reverse-path filter, an nftables masquerade on the upstream port, the
/// address `access_addr` (with its prefix) toward the subscribers and 192.0.2.1/24
/// upstream (like `../shared/lab/kfwd.sh`).
///
/// # Errors
/// nft missing or refusing the rules.
pub fn kernel_masquerade(g: &Netns, ports: [&str; 2], access_addr: &str) -> Result<(), String> {
    let [acc, up] = ports;
    if !bng_testkit::netns::have_tool("nft") {
        return Err("nft not installed".into());
    }
    g.ip(&["addr", "add", access_addr, "dev", acc]);
    g.ip(&["addr", "add", "192.0.2.1/24", "dev", up]);
    for k in [
        "net.ipv4.ip_forward=1".to_owned(),
        "net.ipv4.conf.all.rp_filter=0".to_owned(),
        format!("net.ipv4.conf.{acc}.rp_filter=0"),
    ] {
        g.exec(&["sysctl", "-qw", &k]);
    }
    let nft = g.exec(&[
        "nft",
        &format!(
            "add table ip labnat; add chain ip labnat post {{ type nat hook postrouting priority srcnat; }}; add rule ip labnat post oifname {up} masquerade"
        ),
    ]);
    if !nft.status.success() {
        return Err(format!(
            "nft: {}",
            String::from_utf8_lossy(&nft.stderr).trim()
        ));
    }
    Ok(())
}

/// The gateway namespace as a Linux router (RFC 1812 forwarding, nftables masquerade
/// toward the server, like `../shared/lab/kfwd.sh`) on the same veths bng used; returns
/// the access interface's MAC, the subscribers' next hop.
fn kernel_forwarding(g: &Netns) -> Result<[u8; 6], String> {
    kernel_masquerade(g, ["acc", "up0"], "100.65.0.1/16")?;
    let out = g.exec(&["cat", "/sys/class/net/acc/address"]);
    let text = String::from_utf8_lossy(&out.stdout);
    let mut mac = [0u8; 6];
    let mut parts = text.trim().split(':');
    for b in &mut mac {
        *b = parts
            .next()
            .and_then(|h| u8::from_str_radix(h, 16).ok())
            .ok_or_else(|| format!("MAC of acc: {text:?}"))?;
    }
    Ok(mac)
}
