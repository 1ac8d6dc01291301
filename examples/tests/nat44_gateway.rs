//! Interop: real Linux hosts talk through `nat44-gw` (bng-nat44 over AF_PACKET) in a
//! middle namespace: ping, a 1 MiB TCP transfer and UDP from a client namespace to a
//! server namespace, where the server must see the pool address; and hairpinning
//! between two inside addresses (RFC 4787 REQ-9). The gateway's compliance log must
//! show the block allocation.
//!
//! ```text
//! client ns (10.0.0.2, .3) --veth-- gw ns (nat44-gw, no addresses) --veth-- server ns (203.0.113.1)
//! ```

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::std_instead_of_core,
    clippy::too_many_lines,
    reason = "tests"
)]

use std::time::{Duration, Instant};

use bng_testkit::netns::{self, Netns, Peer, unique_name, veth, wait_for, workdir};

mod common;
use common::{text, wait_log};

const PY: &str = "/usr/bin/python3";
const POOL: &str = "198.51.100.1";

/// TCP server: accepts one connection, reads until EOF, answers with the peer
/// address and the byte count.
const TCP_SERVER: &str = r#"
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 8080)); s.listen(1); s.settimeout(20)
c, a = s.accept(); c.settimeout(20); n = 0
while True:
    d = c.recv(65536)
    if not d: break
    n += len(d)
c.sendall(("%s:%d %d" % (a[0], a[1], n)).encode()); c.close()
"#;

const TCP_CLIENT: &str = r#"
import socket
c = socket.create_connection(("203.0.113.1", 8080), timeout=20)
c.sendall(b"x" * (1 << 20)); c.shutdown(socket.SHUT_WR)
print(c.recv(200).decode())
"#;

/// UDP server: answers every datagram with the sender's address, 20 s.
const UDP_SERVER: &str = r#"
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("0.0.0.0", 5353)); s.settimeout(20)
while True:
    d, a = s.recvfrom(2048)
    s.sendto(("%s:%d" % a).encode(), a)
"#;

/// Hairpin: A (10.0.0.2:4000) learns its outside endpoint from the UDP server, B
/// (10.0.0.3) sends to that endpoint, A reports who it heard from.
const HAIRPIN: &str = r#"
import socket
a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); a.bind(("10.0.0.2", 4000)); a.settimeout(5)
a.sendto(b"who am i", ("203.0.113.1", 5353)); mine = a.recvfrom(100)[0].decode()
ip, port = mine.split(":")
b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); b.bind(("10.0.0.3", 4001)); b.settimeout(5)
b.sendto(b"hello neighbour", (ip, int(port)))
d, src = a.recvfrom(100)
print("mapped", mine, "heard", d.decode(), "from", "%s:%d" % src)
"#;

fn mac(ns: &Netns, dev: &str) -> String {
    let o = ns.exec(&["cat", &format!("/sys/class/net/{dev}/address")]);
    String::from_utf8_lossy(&o.stdout).trim().to_owned()
}

#[test]
fn nat44_gateway_between_namespaces() {
    if !netns::require(
        "nat44_gateway_between_namespaces",
        &["ip", "ping", "ethtool", PY],
    ) {
        return;
    }
    let dir = workdir("nat44_gateway");
    let (client, _gw, server, gateway) = rig(
        Middle::Nat44Gw {
            seconds: "60",
            log: "nat44-gw.log",
        },
        &dir,
    );
    let mut gateway = gateway.expect("nat44-gw runs");
    // a second inside host for the hairpin check
    client.ip(&["addr", "add", "10.0.0.3/24", "dev", "c0"]);

    // ICMP echo through the NAT.
    let ping = client
        .command(&["ping", "-c", "3", "-i", "0.2", "-W", "2", "203.0.113.1"])
        .output()
        .unwrap();
    assert!(
        ping.status.success(),
        "ping: {}\n{}",
        text(&ping),
        gateway.log()
    );

    // UDP: the server sees the pool address.
    let udp_log = dir.join("udp-server.log");
    let _udp = server.spawn("udp server", &[PY, "-c", UDP_SERVER], &udp_log);
    let probe = r#"
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(1)
for _ in range(10):
    try:
        s.sendto(b"hi", ("203.0.113.1", 5353)); print(s.recvfrom(100)[0].decode()); break
    except socket.timeout:
        time.sleep(0.2)
"#;
    let o = client.command(&[PY, "-c", probe]).output().unwrap();
    let seen = text(&o);
    assert!(
        seen.starts_with(&format!("{POOL}:")),
        "UDP: {seen}\n{}",
        gateway.log()
    );

    // TCP: 1 MiB upload, the server sees the pool address and every byte.
    let tcp_log = dir.join("tcp-server.log");
    let _tcp = server.spawn("tcp server", &[PY, "-c", TCP_SERVER], &tcp_log);
    let mut out = String::new();
    let ok = wait_for(Duration::from_secs(30), "TCP transfer", || {
        let o = client.command(&[PY, "-c", TCP_CLIENT]).output().unwrap();
        out = text(&o);
        o.status.success()
    });
    assert!(ok, "TCP: {out}\n{}", gateway.log());
    assert!(out.starts_with(&format!("{POOL}:")), "TCP peer: {out}");
    assert!(out.trim_end().ends_with(" 1048576"), "TCP bytes: {out}");

    // Hairpinning between two inside addresses.
    let o = client.command(&[PY, "-c", HAIRPIN]).output().unwrap();
    let h = text(&o);
    assert!(o.status.success(), "hairpin: {h}\n{}", gateway.log());
    assert!(
        h.contains("heard hello neighbour from 198.51.100.1:"),
        "hairpin: {h}"
    );

    gateway.stop();
    let glog = gateway.log();
    assert!(
        glog.contains("nat44 block-alloc subscriber=10.0.0.2 outside=198.51.100.1"),
        "compliance log: {glog}"
    );
}

/// Sends 64 MiB over TCP (the server counts them) and 20000 64-byte UDP datagrams
/// (the server counts what arrives in 3 s), printing the rates.
const LOAD_SERVER: &str = r#"
import socket, threading, time
def tcp():
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", 8081)); s.listen(1); c, a = s.accept(); n = 0
    while True:
        d = c.recv(1 << 20)
        if not d: break
        n += len(d)
    c.sendall(str(n).encode()); c.close()
threading.Thread(target=tcp, daemon=True).start()
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("0.0.0.0", 5454)); u.settimeout(60)
n = 0
while True:
    d, a = u.recvfrom(2048)
    if d == b"count?":
        u.sendto(str(n).encode(), a)
        break
    n += 1
"#;

const LOAD_CLIENT: &str = r#"
import socket, time
for i in range(50):
    try:
        c = socket.create_connection(("203.0.113.1", 8081), timeout=2); break
    except OSError:
        time.sleep(0.2)
t = time.time(); c.settimeout(30)
buf = b"x" * 65536
for _ in range(1024):
    c.sendall(buf)
c.shutdown(socket.SHUT_WR); n = int(c.recv(100)); dt = time.time() - t
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.settimeout(3)
p = b"y" * 36
t = time.time()
for _ in range(20000):
    u.sendto(p, ("203.0.113.1", 5454))
ut = time.time() - t
time.sleep(0.5)
u.sendto(b"count?", ("203.0.113.1", 5454)); got = int(u.recvfrom(100)[0])
print("tcp_mbit %.0f bytes %d udp_sent_pps %.0f udp_received %d" % (n * 8 / dt / 1e6, n, 20000 / ut, got))
"#;

/// What forwards between the client and the server namespace.
#[derive(Clone, Copy)]
enum Middle<'a> {
    /// `nat44-gw` with `--seconds seconds`, logging to `dir/log`.
    Nat44Gw { seconds: &'a str, log: &'a str },
    /// Linux forwarding with an nftables masquerade rule.
    Kernel,
}

/// Builds client (10.0.0.2) / middle / server (203.0.113.1) namespaces; the middle is
/// `middle`. With `nat44-gw`, the hosts' neighbour entries point at the gateway's MACs
/// (it answers no ARP) and the gateway is ready on return.
fn rig(middle: Middle<'_>, dir: &std::path::Path) -> (Netns, Netns, Netns, Option<Peer>) {
    let client = Netns::new("nc");
    let gw = Netns::new("ng");
    let server = Netns::new("ns");
    let (gi, go) = (unique_name("gi"), unique_name("go"));
    veth(&client, "c0", &gw, &gi);
    veth(&gw, &go, &server, "s0");
    // The hosts' kernels must put complete checksums and MTU-sized frames on the wire:
    // a gateway on a raw socket sees what a real link would carry.
    for (ns, dev) in [
        (&client, "c0"),
        (&gw, gi.as_str()),
        (&gw, go.as_str()),
        (&server, "s0"),
    ] {
        ns.exec(&[
            "ethtool", "-K", dev, "tx", "off", "tso", "off", "gso", "off", "gro", "off",
        ]);
    }
    client.ip(&["addr", "add", "10.0.0.2/24", "dev", "c0"]);
    client.ip(&["route", "add", "default", "via", "10.0.0.1"]);
    server.ip(&["addr", "add", "203.0.113.1/24", "dev", "s0"]);
    server.ip(&["route", "add", "198.51.100.0/24", "dev", "s0"]);
    let peer = if let Middle::Nat44Gw { seconds, log } = middle {
        client.ip(&[
            "neigh",
            "replace",
            "10.0.0.1",
            "lladdr",
            &mac(&gw, &gi),
            "dev",
            "c0",
        ]);
        server.ip(&[
            "neigh",
            "replace",
            POOL,
            "lladdr",
            &mac(&gw, &go),
            "dev",
            "s0",
        ]);
        let peer = gw.spawn(
            "nat44-gw",
            &[
                env!("CARGO_BIN_EXE_nat44-gw"),
                "--inside",
                &gi,
                "--outside",
                &go,
                "--pool",
                POOL,
                "--outside-peer-mac",
                &mac(&server, "s0"),
                "--seconds",
                seconds,
            ],
            &dir.join(log),
        );
        wait_log(&peer, 10, "nat44-gw ready", "ready");
        Some(peer)
    } else {
        gw.ip(&["addr", "add", "10.0.0.1/24", "dev", &gi]);
        gw.ip(&["addr", "add", "198.51.100.1/24", "dev", &go]);
        gw.ip(&["route", "add", "203.0.113.0/24", "dev", &go]);
        gw.exec(&["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
        gw.exec(&["nft", "add", "table", "ip", "nat"]);
        gw.exec(&[
            "nft",
            "add chain ip nat post { type nat hook postrouting priority 100 ; }",
        ]);
        gw.exec(&[
            "nft",
            "add",
            "rule",
            "ip",
            "nat",
            "post",
            "oifname",
            &go,
            "masquerade",
        ]);
        None
    };
    (client, gw, server, peer)
}

/// Whole-process reference for BENCHMARKS.md (not a CI gate: `--ignored`): the same
/// TCP upload and UDP burst through `nat44-gw` (one frame per system call on
/// AF_PACKET) and through Linux nftables masquerade, in the same run.
#[test]
#[ignore = "measurement, run by hand: cargo test -p bng-examples --test nat44_gateway -- --ignored --nocapture"]
fn nat44_gateway_vs_nftables_masquerade() {
    if !netns::require(
        "nat44_gateway_vs_nftables_masquerade",
        &["ip", "ethtool", "nft", PY],
    ) {
        return;
    }
    let dir = workdir("nat44_gateway_load");
    for kernel in [false, true] {
        let middle = if kernel {
            Middle::Kernel
        } else {
            Middle::Nat44Gw {
                seconds: "120",
                log: "nat44-gw-load.log",
            }
        };
        let (client, _gw, server, _peer) = rig(middle, &dir);
        let _srv = server.spawn(
            "load server",
            &[PY, "-c", LOAD_SERVER],
            &dir.join("load-server.log"),
        );
        std::thread::sleep(Duration::from_millis(300));
        let t = Instant::now();
        let o = client.command(&[PY, "-c", LOAD_CLIENT]).output().unwrap();
        let name = if kernel {
            "nftables masquerade"
        } else {
            "nat44-gw (AF_PACKET)"
        };
        eprintln!("{name}: {} ({:?})", text(&o).trim(), t.elapsed());
        assert!(o.status.success(), "{name}: {}", text(&o));
    }
}
