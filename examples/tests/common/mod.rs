//! Fixtures shared by the interop tests (`mod common;` in each): process output, waiting
//! for a peer's log line, the final tshark check, IPv6 lab links, and the PPPoE access
//! concentrator on the VM's TAP. Candidates for `bng_testkit::netns` once its owner
//! takes them; each test uses a part, hence `dead_code` is allowed.

#![allow(
    dead_code,
    unreachable_pub,
    reason = "each test binary uses a part of the fixtures"
)]

pub mod bng;
pub mod dhcp_clients;
pub mod freeradius;
pub mod iperf;
pub mod strongswan;

use core::time::Duration;
use std::path::Path;
use std::process::Output;

use bng_dataplane::backend::afpacket::Socket;
use bng_pppoe::ac::{Ac, AcConfig, AnyService, CookieSecret, SessionAllocator, SessionId};
use bng_pppoe::ethernet::Mac;
use bng_testkit::netns::{Capture, Decode, Netns, Peer, tshark_decode, wait_for};

/// A finished process's stdout followed by its stderr, as text.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Lines of `text` that contain `needle`.
pub fn grep_count(text: &str, needle: &str) -> usize {
    text.lines().filter(|l| l.contains(needle)).count()
}

/// Writes an executable (mode 755) script.
pub fn write_exec(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    bng_testkit::netns::run(&["chmod", "755", path.to_str().unwrap()]);
}

/// Waits (at most `secs` seconds) until `peer`'s log contains `needle`; fails the test
/// with the log otherwise. `what` names the wait in the harness's messages.
pub fn wait_log(peer: &Peer, secs: u64, what: &str, needle: &str) {
    assert!(
        wait_for(Duration::from_secs(secs), what, || peer
            .log()
            .contains(needle)),
        "{what}: {}",
        peer.log()
    );
}

/// Decodes a finished capture with tshark, prints the counts, and fails the test if
/// tshark flags any frame as malformed.
pub fn assert_clean_capture(file: &Path) -> Decode {
    let d = tshark_decode(file);
    eprintln!("tshark: {} frames, {} malformed", d.frames, d.malformed);
    assert_eq!(
        d.malformed,
        0,
        "tshark flags frames in {}: {:?}",
        file.display(),
        d.protocols
    );
    d
}

/// Turns IPv6 off on `dev` in `ns` (no router solicitations or MLD reports among the
/// frames a test counts or decodes).
pub fn no_ipv6(ns: &Netns, dev: &str) {
    ns.exec(&[
        "sysctl",
        "-qw",
        &format!("net.ipv6.conf.{dev}.disable_ipv6=1"),
    ]);
}

/// Two namespaces `a`/`b` joined by a veth pair `da`/`db`, IPv6 off on both ends (no
/// solicitations among the counted frames), and a plain AF_PACKET socket on `db`: the
/// peer a backend under test in `a` exchanges frames with.
pub fn veth_with_peer(a: &str, da: &str, b: &str, db: &str) -> (Netns, Netns, Socket) {
    let (na, nb) = (Netns::new(a), Netns::new(b));
    bng_testkit::netns::veth(&na, da, &nb, db);
    for (ns, dev) in [(&na, da), (&nb, db)] {
        no_ipv6(ns, dev);
    }
    let dev = db.to_owned();
    let peer = nb.run_in(move || Socket::open(&dev).expect("AF_PACKET on the peer's end"));
    (na, nb, peer)
}

/// The RX packet counter of `dev` in `ns` (`ip -s -j link show`).
pub fn rx_packets(ns: &Netns, dev: &str) -> u64 {
    let out = ns.ip(&["-s", "-j", "link", "show", dev]);
    let s = String::from_utf8_lossy(&out.stdout);
    let rx = &s[s.find("\"rx\":{").expect("rx stats")..];
    let p = &rx[rx.find("\"packets\":").unwrap() + 10..];
    p[..p.find(|c: char| !c.is_ascii_digit()).unwrap()]
        .parse()
        .unwrap()
}

/// Turns off duplicate address detection in `ns`, so lab addresses are usable at once.
pub fn no_dad(ns: &Netns) {
    ns.exec(&[
        "sysctl",
        "-qw",
        "net.ipv6.conf.default.accept_dad=0",
        "net.ipv6.conf.all.accept_dad=0",
    ]);
}

/// A PPPoE session-id allocator for one test: one id per peer MAC, numbered from
/// `first` (a different range per test makes captures easy to tell apart).
#[derive(Debug)]
pub struct SessionTable {
    /// Live sessions: peer MAC and session id.
    pub sessions: Vec<(Mac, u16)>,
    first: u16,
}

impl SessionTable {
    /// An empty table numbering from `first`.
    pub fn new(first: u16) -> Self {
        Self {
            sessions: Vec::new(),
            first,
        }
    }
}

impl SessionAllocator for SessionTable {
    fn allocate(&mut self, peer: &Mac, _: Option<&[u8]>) -> Option<SessionId> {
        if let Some(s) = self.sessions.iter().find(|s| s.0 == *peer) {
            return SessionId::new(s.1);
        }
        let id = self.first + u16::try_from(self.sessions.len()).unwrap();
        self.sessions.push((*peer, id));
        SessionId::new(id)
    }

    fn release(&mut self, peer: &Mac, id: SessionId) -> bool {
        let before = self.sessions.len();
        self.sessions.retain(|s| *s != (*peer, id.get()));
        before != self.sessions.len()
    }
}

/// Our access concentrator on the VM's side of the link: a namespace `ns_tag` with a
/// TAP `tap0` for QEMU, a capture of it into `dir/tap0.pcapng`, an AF_PACKET socket
/// on it, and an `Ac` (name `bngkit-test-ac`, 30 s cookie window) keyed with `secret`.
pub fn ac_on_tap(
    ns_tag: &str,
    dir: &Path,
    secret: [u8; 32],
) -> (Netns, Capture, Socket, Ac<'static, AnyService>) {
    let ns = Netns::new(ns_tag);
    ns.tap("tap0");
    let cap = Capture::start(&ns, "tap0", &dir.join("tap0.pcapng"));
    let sock = ns
        .run_in(|| Socket::open("tap0"))
        .expect("AF_PACKET on tap0");
    let ac = Ac::new(
        AcConfig {
            mac: sock.mac(),
            ac_name: b"bngkit-test-ac",
            cookie_window: Duration::from_secs(30),
            max_payload: None,
        },
        AnyService,
        CookieSecret::new(secret),
    )
    .unwrap();
    (ns, cap, sock, ac)
}

/// Two real Linux hosts — a client (10.0.1.2/24, MAC 02:00:00:00:01:02) and a server
/// (10.0.2.2/24, MAC 02:00:00:00:02:02) — joined through a middle namespace `gw` whose
/// kernel has no addresses and no IPv6 on its ports `p0` and `p1`: only a forwarder we
/// start there (`bng-fwd`) answers ARP and moves packets.
pub struct Routed {
    /// The client host.
    pub client: Netns,
    /// The middle namespace for our forwarder.
    pub gw: Netns,
    /// The server host.
    pub server: Netns,
}

impl Routed {
    /// Builds the three namespaces and their links.
    #[must_use]
    pub fn new() -> Self {
        let (client, gw, server) = (Netns::new("cl"), Netns::new("gw"), Netns::new("sv"));
        bng_testkit::netns::veth(&client, "eth0", &gw, "p0");
        bng_testkit::netns::veth(&gw, "p1", &server, "eth0");
        Self::from_linked(client, gw, server)
    }

    /// The hosts' addresses and routes, and no IPv6 on `p0` and `p1`, on namespaces the
    /// caller has already linked (client `eth0` -- `p0` gw `p1` -- `eth0` server).
    #[must_use]
    pub fn from_linked(client: Netns, gw: Netns, server: Netns) -> Self {
        client.ip(&["link", "set", "eth0", "address", "02:00:00:00:01:02"]);
        server.ip(&["link", "set", "eth0", "address", "02:00:00:00:02:02"]);
        client.ip(&["addr", "add", "10.0.1.2/24", "dev", "eth0"]);
        client.ip(&["route", "add", "default", "via", "10.0.1.1"]);
        server.ip(&["addr", "add", "10.0.2.2/24", "dev", "eth0"]);
        server.ip(&["route", "add", "default", "via", "10.0.2.1"]);
        for dev in ["p0", "p1"] {
            no_ipv6(&gw, dev);
        }
        Self { client, gw, server }
    }

    /// Starts `bng-fwd` in `gw` with the two ports and routes, plus `extra` arguments,
    /// and waits (bounded) until it forwards.
    #[must_use]
    pub fn start_fwd(&self, log: &Path, extra: &[&str]) -> Peer {
        let mut args = vec![
            env!("CARGO_BIN_EXE_bng-fwd"),
            "--port",
            "p0=10.0.1.1",
            "--port",
            "p1=10.0.2.1",
            "--route",
            "10.0.1.0/24=0,02:00:00:00:01:02",
            "--route",
            "10.0.2.0/24=1,02:00:00:00:02:02",
            "--seconds",
            "60",
        ];
        args.extend_from_slice(extra);
        let fwd = self.gw.spawn("bng-fwd", &args, log);
        wait_log(&fwd, 10, "bng-fwd to start", "forwarding on 2 ports");
        fwd
    }

    /// Five pings from the client to the server; asserts none was lost and returns
    /// ping's output.
    #[must_use]
    pub fn ping(&self, fwd: &Peer) -> String {
        let ping = self
            .client
            .command(&["ping", "-c", "5", "-i", "0.2", "-W", "2", "10.0.2.2"])
            .output()
            .expect("run ping");
        let out = String::from_utf8_lossy(&ping.stdout).into_owned();
        assert!(
            ping.status.success() && out.contains(" 0% packet loss"),
            "ping through bng-fwd failed:\n{out}\nbng-fwd:\n{}",
            fwd.log()
        );
        out
    }
}

/// A counter `bng-fwd` printed at exit (`<node> <counter> <value>` lines), 0 if absent.
#[must_use]
pub fn fwd_counter(log: &str, node_and_counter: &str) -> u64 {
    log.lines()
        .find_map(|l| {
            l.strip_prefix(node_and_counter)
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(0)
}

/// After [`Routed::ping`] and `bng-fwd`'s exit: its counters show the 5 requests and 5
/// replies forwarded and ARP answered on both sides (`log`), and tshark decodes the
/// capture `file` cleanly with at least 10 frames whose protocol stack `is_icmp` accepts.
pub fn assert_pings_forwarded(log: &str, file: &Path, is_icmp: fn(&str) -> bool) {
    assert!(
        fwd_counter(log, "ip4-rewrite next.interface-output") >= 10,
        "5 requests + 5 replies forwarded:\n{log}"
    );
    assert!(
        fwd_counter(log, "arp-input next.interface-output") >= 2,
        "ARP answered on both sides:\n{log}"
    );
    let d = assert_clean_capture(file);
    let icmp = d.protocols.iter().filter(|p| is_icmp(p)).count();
    assert!(
        icmp >= 10,
        "tshark saw {icmp} ICMP frames: {:?}",
        d.protocols
    );
}

/// Subscriber `i`'s 64-byte frame to `dst` from MAC 02:aa:00:07:i, numbered `(i, tag)`
/// in its payload. By `i % kinds` (`kinds` up to 5): a PPPoE session frame (session id
/// 0x100 + i) untagged, 802.1Q, QinQ (0x88a8 outside, 0x8100 inside), then PPPoE
/// discovery, then IPoE.
pub fn subscriber_frame(dst: [u8; 6], i: u16, kinds: u16, tag: u8) -> Vec<u8> {
    let [hi, lo] = i.to_be_bytes();
    let kind = i % kinds.clamp(1, 5);
    let mut f = dst.to_vec();
    f.extend_from_slice(&[2, 0xaa, 0, 7, hi, lo]);
    match kind {
        1 => f.extend_from_slice(&[0x81, 0x00, 0x00, 100]),
        2 => f.extend_from_slice(&[0x88, 0xa8, 0x00, 10, 0x81, 0x00, 0x00, 20]),
        _ => {}
    }
    match kind {
        3 => f.extend_from_slice(&[0x88, 0x63, 0x11, 0x09, 0, 0]),
        4 => f.extend_from_slice(&[0x08, 0x00, 0x45, 0]),
        _ => {
            f.extend_from_slice(&[0x88, 0x64, 0x11, 0x00]);
            f.extend_from_slice(&(0x100 + i).to_be_bytes());
        }
    }
    f.extend_from_slice(&[0, 8, 0, 0x21, 0xfe, 0xed, hi, lo, tag]);
    f.resize(64, 0x5a);
    f
}
