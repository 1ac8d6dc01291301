#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::cast_possible_truncation,
    clippy::std_instead_of_core,
    clippy::cast_precision_loss,
    clippy::too_many_lines,
    missing_docs,
    reason = "tests"
)]
//! The `Bng` subscriber graph over crafted frames: PPPoE (QinQ) and IPoE subscribers
//! through NAT44 to an upstream host and back, anti-spoofing, punts, ARP, the control
//! commands and per-session counters.

use core::time::Duration;
use std::net::Ipv4Addr;

use bng_dataplane::bng::{
    Access, Bng, BngConfig, DownQos, NatTables, PortConfig, PuntReason, QosProfile, SessionConfig,
    SessionId,
};
use bng_dataplane::buffer::{Arena, Pool};
use bng_dataplane::control::{ControlError, Route};
use bng_dataplane::graph::new_frame;
use bng_dataplane::nodes::qos::{Action, Meter, Profile, ShaperProfile};
use bng_nat44::Config as NatConfig;

mod support;

const GW_MAC: [u8; 6] = [2, 0xbb, 0, 0, 0, 1];
const UP_MAC: [u8; 6] = [2, 0xbb, 0, 0, 0, 2];
const ROUTER_MAC: [u8; 6] = [2, 0xcc, 0, 0, 0, 1];
const GW: [u8; 4] = [100, 64, 0, 1];
const UP: [u8; 4] = [198, 51, 100, 1];
const HOST: [u8; 4] = [198, 51, 100, 10];
const POOL: [u8; 4] = [203, 0, 113, 1];

fn csum(b: &[u8]) -> u16 {
    let mut s = 0u32;
    for c in b.chunks(2) {
        s += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

/// An IPv4/UDP packet with valid checksums.
fn udp(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let ulen = 8 + payload.len();
    let tot = 20 + ulen;
    let mut p = vec![
        0x45,
        0,
        (tot >> 8) as u8,
        tot as u8,
        0,
        1,
        0,
        0,
        64,
        17,
        0,
        0,
    ];
    p.extend_from_slice(&src);
    p.extend_from_slice(&dst);
    let c = csum(&p);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    let mut u = Vec::new();
    u.extend_from_slice(&sport.to_be_bytes());
    u.extend_from_slice(&dport.to_be_bytes());
    u.extend_from_slice(&(ulen as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    let mut ph = Vec::new();
    ph.extend_from_slice(&src);
    ph.extend_from_slice(&dst);
    ph.extend_from_slice(&[0, 17]);
    ph.extend_from_slice(&(ulen as u16).to_be_bytes());
    ph.extend_from_slice(&u);
    let c = csum(&ph);
    u[6..8].copy_from_slice(&c.to_be_bytes());
    p.extend_from_slice(&u);
    p
}

fn eth(dst: [u8; 6], src: [u8; 6], vlans: &[u16], et: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = dst.to_vec();
    f.extend_from_slice(&src);
    for (i, v) in vlans.iter().enumerate() {
        let tpid: u16 = if i == 0 && vlans.len() == 2 {
            0x88a8
        } else {
            0x8100
        };
        f.extend_from_slice(&tpid.to_be_bytes());
        f.extend_from_slice(&v.to_be_bytes());
    }
    f.extend_from_slice(&et.to_be_bytes());
    f.extend_from_slice(payload);
    while f.len() < 60 {
        f.push(0);
    }
    f
}

fn pppoe(sid: u16, proto: u16, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x11, 0x00];
    p.extend_from_slice(&sid.to_be_bytes());
    p.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
    p.extend_from_slice(&proto.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

fn sub_mac(i: u32) -> [u8; 6] {
    [
        2,
        0xaa,
        (i >> 24) as u8,
        (i >> 16) as u8,
        (i >> 8) as u8,
        i as u8,
    ]
}

fn cfg() -> BngConfig {
    cfg_for(1024)
}

/// [`cfg`] with room for `sessions`.
fn cfg_for(sessions: usize) -> BngConfig {
    BngConfig::two_ports(
        PortConfig {
            mac: GW_MAC,
            addr: GW.into(),
        },
        PortConfig {
            mac: UP_MAC,
            addr: UP.into(),
        },
        sessions,
    )
}

fn nat_tables() -> NatTables {
    NatTables::new(NatConfig::port_block(POOL.into(), 1), 4096, 1024)
}

fn pppoe_session(id: u32, sid: u16, vlans: [u16; 2], addr: [u8; 4], nat: bool) -> SessionConfig {
    SessionConfig {
        id: SessionId(id),
        port: 0,
        mac: sub_mac(id),
        vlans,
        access: Access::Pppoe { session_id: sid },
        addr: addr.into(),
        nat,
        qos: None,
    }
}

fn ipoe_session(id: u32, vlans: [u16; 2], addr: [u8; 4], nat: bool) -> SessionConfig {
    SessionConfig {
        id: SessionId(id),
        port: 0,
        mac: sub_mac(id),
        vlans,
        access: Access::Ipoe {
            circuit_id: Some(b"eth0/1:100".to_vec()),
        },
        addr: addr.into(),
        nat,
        qos: None,
    }
}

fn default_route() -> Route {
    Route {
        prefix: Ipv4Addr::UNSPECIFIED,
        len: 0,
        port: 1,
        next_hop_mac: ROUTER_MAC,
    }
}

/// Runs `frames` (port, bytes) through `bng` as one frame; returns what each port sent.
fn step<'p>(
    bng: &mut Bng<'p>,
    pool: &mut Pool<'p>,
    frames: &[(u16, Vec<u8>)],
) -> [Vec<Vec<u8>>; 2] {
    step_at(bng, pool, Duration::from_secs(1), frames)
}

/// [`step`] at time `now`.
fn step_at<'p>(
    bng: &mut Bng<'p>,
    pool: &mut Pool<'p>,
    now: Duration,
    frames: &[(u16, Vec<u8>)],
) -> [Vec<Vec<u8>>; 2] {
    let mut rx = new_frame();
    for (port, f) in frames {
        let mut p = pool.alloc_from(f).unwrap();
        p.meta.rx_if = *port;
        rx.push(p);
    }
    let mut tx = [new_frame(), new_frame()];
    bng.process(now, &mut rx, pool, &mut tx);
    tx.map(|mut f| {
        let v = f.iter().map(|p| p.data().to_vec()).collect();
        pool.free_all(&mut f);
        v
    })
}

#[test]
fn pppoe_qinq_with_nat_round_trip() {
    let mut nt = nat_tables();
    let mut bng = Bng::new(cfg(), Some(&mut nt)).unwrap();
    let mut arena = Arena::new(256);
    let mut pool = arena.pool();
    bng.add_route(default_route()).unwrap();
    bng.add_session(pppoe_session(7, 0x1234, [100, 200], [100, 64, 1, 7], true))
        .unwrap();
    let up = udp([100, 64, 1, 7], HOST, 5000, 53, b"query");
    let f = eth(
        GW_MAC,
        sub_mac(7),
        &[100, 200],
        0x8864,
        &pppoe(0x1234, 0x0021, &up),
    );
    let [to_access, to_up] = step(&mut bng, &mut pool, &[(0, f)]);
    assert!(to_access.is_empty());
    assert_eq!(to_up.len(), 1, "{:?}", bng.counter_rows());
    let out = &to_up[0];
    assert_eq!(&out[..6], &ROUTER_MAC);
    assert_eq!(&out[6..12], &UP_MAC);
    assert_eq!(&out[12..14], &[8, 0]);
    let ip = &out[14..];
    assert_eq!(ip.len(), up.len(), "PPPoE header and padding gone");
    assert_eq!(&ip[12..16], &POOL, "source translated to the pool");
    assert_eq!(ip[8], 63, "TTL decremented");
    assert_eq!(csum(&ip[..20]), 0, "header checksum verifies");
    let port = u16::from_be_bytes([ip[20], ip[21]]);

    // the reply comes back to the pool address and is encapsulated toward the session
    let back = udp(HOST, POOL, 53, port, b"answer");
    let f = eth(UP_MAC, ROUTER_MAC, &[], 0x0800, &back);
    let [to_access, to_up] = step(&mut bng, &mut pool, &[(1, f)]);
    assert!(to_up.is_empty());
    assert_eq!(to_access.len(), 1, "{:?}", bng.counter_rows());
    let out = &to_access[0];
    assert_eq!(&out[..6], &sub_mac(7));
    assert_eq!(&out[6..12], &GW_MAC);
    assert_eq!(
        &out[12..22],
        &[0x88, 0xa8, 0, 100, 0x81, 0x00, 0, 200, 0x88, 0x64]
    );
    assert_eq!(&out[22..24], &[0x11, 0x00]);
    assert_eq!(&out[24..26], &0x1234u16.to_be_bytes());
    let ip = &out[30..];
    assert_eq!(
        u16::from_be_bytes([out[26], out[27]]) as usize,
        ip.len() + 2,
        "PPPoE LENGTH"
    );
    assert_eq!(&out[28..30], &[0x00, 0x21]);
    assert_eq!(&ip[16..20], &[100, 64, 1, 7], "destination translated back");
    assert_eq!(ip[8], 63);
    assert_eq!(csum(&ip[..20]), 0);
    let c = bng.session_counters(SessionId(7)).unwrap();
    assert_eq!((c.up_packets, c.down_packets), (1, 1));
    assert_eq!(c.up_bytes, up.len() as u64);
    assert_eq!(c.down_bytes, back.len() as u64);
    assert!(matches!(
        bng.poll_nat_event(),
        Some(bng_nat44::Event::BlockAllocated(_))
    ));
    assert_eq!(pool.available(), pool.capacity(), "no buffer leaked");
}

#[test]
fn ipoe_without_nat_and_anti_spoofing() {
    let mut bng = Bng::new(cfg(), None).unwrap();
    let mut arena = Arena::new(64);
    let mut pool = arena.pool();
    bng.add_route(default_route()).unwrap();
    bng.add_session(ipoe_session(3, [42, 0], [198, 18, 0, 3], false))
        .unwrap();
    assert_eq!(
        bng.add_session(ipoe_session(4, [42, 0], [198, 18, 0, 4], true)),
        Err(ControlError::BadSession("NAT44 is not configured"))
    );
    let good = eth(
        GW_MAC,
        sub_mac(3),
        &[42],
        0x0800,
        &udp([198, 18, 0, 3], HOST, 1, 2, b"x"),
    );
    let spoofed = eth(
        GW_MAC,
        sub_mac(3),
        &[42],
        0x0800,
        &udp([198, 18, 0, 9], HOST, 1, 2, b"x"),
    );
    let wrong_vlan = eth(
        GW_MAC,
        sub_mac(3),
        &[43],
        0x0800,
        &udp([198, 18, 0, 3], HOST, 1, 2, b"x"),
    );
    let [a, u] = step(
        &mut bng,
        &mut pool,
        &[(0, good), (0, spoofed), (0, wrong_vlan)],
    );
    assert!(a.is_empty());
    assert_eq!(u.len(), 1);
    assert_eq!(&u[0][14 + 12..14 + 16], &[198, 18, 0, 3], "not translated");
    let rows = bng.counter_rows();
    let get = |node: &str, k: &str| {
        rows.iter()
            .find(|r| r.0 == node && r.1 == k)
            .map_or(0, |r| r.2)
    };
    assert_eq!(get("ipoe-input", "drop.spoofed-source"), 1);
    assert_eq!(get("ipoe-input", "drop.unknown-subscriber"), 1);

    // downstream to a public subscriber address: straight to subscriber-output, one tag
    let down = eth(
        UP_MAC,
        ROUTER_MAC,
        &[],
        0x0800,
        &udp(HOST, [198, 18, 0, 3], 2, 1, b"y"),
    );
    let nobody = eth(
        UP_MAC,
        ROUTER_MAC,
        &[],
        0x0800,
        &udp(HOST, [198, 18, 0, 99], 2, 1, b"y"),
    );
    let [a, u] = step(&mut bng, &mut pool, &[(1, down), (1, nobody)]);
    assert!(u.is_empty());
    assert_eq!(a.len(), 1);
    assert_eq!(&a[0][..6], &sub_mac(3));
    assert_eq!(&a[0][12..18], &[0x81, 0x00, 0, 42, 0x08, 0x00]);
    assert_eq!(
        a[0].len(),
        18 + 29,
        "padding removed, VLAN + Ethernet added"
    );
    let rows = bng.counter_rows();
    assert!(
        rows.iter()
            .any(|r| r.0 == "subscriber-output" && r.1 == "drop.no-session" && r.2 == 1)
    );
    assert_eq!(pool.available(), pool.capacity());
}

#[test]
fn control_frames_are_punted_and_arp_is_answered() {
    let mut bng = Bng::new(cfg(), None).unwrap();
    let mut arena = Arena::new(64);
    let mut pool = arena.pool();
    bng.add_session(pppoe_session(1, 9, [0, 0], [100, 64, 0, 9], false))
        .unwrap();
    let padi = eth(
        [0xff; 6],
        sub_mac(5),
        &[],
        0x8863,
        &[0x11, 0x09, 0, 0, 0, 0],
    );
    let lcp = eth(
        GW_MAC,
        sub_mac(1),
        &[],
        0x8864,
        &pppoe(9, 0xc021, &[9, 1, 0, 8, 0, 0, 0, 0]),
    );
    let mut dhcp = udp([0, 0, 0, 0], [255; 4], 68, 67, &[1; 20]);
    dhcp[10..12].copy_from_slice(&[0, 0]);
    let c = csum(&dhcp[..20]);
    dhcp[10..12].copy_from_slice(&c.to_be_bytes());
    let dhcp = eth([0xff; 6], sub_mac(6), &[], 0x0800, &dhcp);
    let mut icmp = udp(HOST, UP, 1, 2, b"");
    icmp[9] = 1; // ICMP echo request (type 8), identifier/sequence/checksum below
    icmp[10..12].copy_from_slice(&[0, 0]);
    let hc = csum(&icmp[..20]);
    icmp[10..12].copy_from_slice(&hc.to_be_bytes());
    icmp[20..28].copy_from_slice(&[8, 0, 0, 0, 0, 1, 0, 1]);
    let ic = csum(&icmp[20..]);
    icmp[22..24].copy_from_slice(&ic.to_be_bytes());
    let ping_gw = eth(UP_MAC, ROUTER_MAC, &[], 0x0800, &icmp);
    let mut arp = vec![0, 1, 8, 0, 6, 4, 0, 1];
    arp.extend_from_slice(&sub_mac(6));
    arp.extend_from_slice(&[100, 64, 0, 50]);
    arp.extend_from_slice(&[0; 6]);
    arp.extend_from_slice(&GW);
    let arp = eth([0xff; 6], sub_mac(6), &[], 0x0806, &arp);
    let [a, u] = step(
        &mut bng,
        &mut pool,
        &[
            (0, padi.clone()),
            (0, lcp),
            (0, dhcp),
            (1, ping_gw),
            (0, arp),
        ],
    );
    assert!(u.is_empty());
    assert_eq!(a.len(), 1, "the ARP reply");
    assert_eq!(&a[0][..6], &sub_mac(6));
    assert_eq!(&a[0][6..12], &GW_MAC);
    assert_eq!(&a[0][12..14], &[8, 6]);
    assert_eq!(a[0][14 + 7], 2, "a reply");
    let punts: Vec<_> = std::iter::from_fn(|| bng.poll_punt()).collect();
    let reasons: Vec<_> = punts.iter().map(|p| p.reason).collect();
    assert_eq!(
        reasons,
        [
            PuntReason::PppoeDiscovery,
            PuntReason::PppControl,
            PuntReason::Local,
            PuntReason::Dhcp
        ]
    );
    assert_eq!(punts[0].data, padi);
    assert_eq!(punts[1].session, Some(SessionId(1)));
    assert_eq!(pool.available(), pool.capacity());
}

#[test]
fn punt_queue_is_bounded() {
    // a PADI flood: the punt node admits its burst (100) and refuses the rest; the
    // control plane's queue holds 3, the rest wait in the node's PPPoE discovery share
    let mut c = cfg();
    c.punt_queue = 3;
    let mut bng = Bng::new(c, None).unwrap();
    let mut arena = Arena::new(512);
    let mut pool = arena.pool();
    let padi = eth(
        [0xff; 6],
        sub_mac(5),
        &[],
        0x8863,
        &[0x11, 0x09, 0, 0, 0, 0],
    );
    let frames: Vec<_> = (0..250).map(|_| (0, padi.clone())).collect();
    for chunk in frames.chunks(125) {
        let _ = step(&mut bng, &mut pool, chunk);
    }
    let d = PuntReason::PppoeDiscovery as usize;
    assert_eq!(bng.counters.punted[d], 3);
    assert_eq!(bng.counters.punt_dropped[d], 150, "over the burst of 100");
    let mut got = 0;
    for _ in 0..40 {
        while bng.poll_punt().is_some() {
            got += 1;
        }
        let _ = step(&mut bng, &mut pool, &[]);
    }
    assert_eq!(got, 100);
    assert_eq!(pool.available(), pool.capacity());
}

#[test]
fn session_table_rules() {
    let mut nt = nat_tables();
    let mut c = cfg();
    c.max_sessions = 2;
    let mut bng = Bng::new(c, Some(&mut nt)).unwrap();
    bng.add_session(pppoe_session(1, 1, [0, 0], [100, 64, 0, 1 + 1], true))
        .unwrap();
    // same address, another id
    let mut s = pppoe_session(2, 2, [0, 0], [100, 64, 0, 2], true);
    assert_eq!(bng.add_session(s.clone()), Err(ControlError::AddressInUse));
    // same key, another id
    s.addr = [100, 64, 0, 3].into();
    s.mac = sub_mac(1);
    s.access = Access::Pppoe { session_id: 1 };
    assert_eq!(bng.add_session(s.clone()), Err(ControlError::KeyInUse));
    s.mac = sub_mac(2);
    bng.add_session(s.clone()).unwrap();
    let third = pppoe_session(3, 3, [0, 0], [100, 64, 0, 4], true);
    assert_eq!(bng.add_session(third.clone()), Err(ControlError::TableFull));
    // modify: new address, same id
    s.addr = [100, 64, 0, 5].into();
    bng.add_session(s).unwrap();
    assert_eq!(bng.session_count(), 2);
    assert_eq!(
        bng.session(SessionId(2)).unwrap().addr,
        Ipv4Addr::new(100, 64, 0, 5)
    );
    assert!(bng.remove_session(SessionId(1)).is_ok());
    assert_eq!(
        bng.remove_session(SessionId(1)),
        Err(ControlError::UnknownSession)
    );
    bng.add_session(third).unwrap();
    let mut up = pppoe_session(9, 9, [0, 0], UP, false);
    up.id = SessionId(9);
    assert!(bng.remove_session(SessionId(3)).is_ok());
    assert_eq!(
        bng.add_session(up),
        Err(ControlError::BadSession("one of our addresses"))
    );
}

fn status_kib(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = s.lines().find(|l| l.starts_with(field)).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// 1M PPPoE sessions with NAT44 tables for them (2M NAT sessions, 1M subscribers) and
/// a default route held by one `Bng`: the process's peak RSS stays under 1 GiB.
/// `cargo test --release -p bng-dataplane --test bng -- --ignored --nocapture rss`
#[test]
#[ignore = "builds 1M sessions (seconds in release); run by hand for BENCHMARKS.md"]
fn rss_of_1m_sessions() {
    const N: u32 = 1_000_000;
    let before = status_kib("VmRSS:");
    let mut nt = NatTables::new(
        NatConfig::port_block([203, 0, 112, 0].into(), 1024),
        2 * N as usize,
        N as usize,
    );
    let mut config = cfg();
    config.max_sessions = N as usize;
    let mut bng = Bng::new(config, Some(&mut nt)).unwrap();
    bng.add_route(default_route()).unwrap();
    let start = std::time::Instant::now();
    for i in 0..N {
        let a = u32::from_be_bytes([100, 64, 0, 0]) + 2 + i;
        bng.add_session(SessionConfig {
            id: SessionId(i),
            port: 0,
            mac: sub_mac(i),
            vlans: [(i % 4000) as u16 + 1, (i / 4000 % 4000) as u16 + 1],
            access: Access::Pppoe {
                session_id: (i % 65_000) as u16 + 1,
            },
            addr: Ipv4Addr::from(a),
            nat: true,
            qos: None,
        })
        .unwrap();
    }
    let added = start.elapsed();
    // traffic through a few sessions, so the NAT tables are in use
    let mut arena = Arena::new(1024);
    let mut pool = arena.pool();
    let frames: Vec<_> = (0..256u32)
        .map(|k| {
            let i = k * 3901 % N;
            let a = (u32::from_be_bytes([100, 64, 0, 0]) + 2 + i).to_be_bytes();
            let v = [(i % 4000) as u16 + 1, (i / 4000 % 4000) as u16 + 1];
            let f = eth(
                GW_MAC,
                sub_mac(i),
                &v,
                0x8864,
                &pppoe((i % 65_000) as u16 + 1, 0x21, &udp(a, HOST, 1, 2, b"x")),
            );
            (0u16, f)
        })
        .collect();
    let [_, up] = step(&mut bng, &mut pool, &frames);
    assert_eq!(up.len(), 256, "{:?}", bng.counter_rows());
    let rss = status_kib("VmRSS:");
    let hwm = status_kib("VmHWM:");
    eprintln!(
        "1M sessions: added in {added:?} ({:.0} sessions/s); VmRSS {} MiB (before {} MiB), VmHWM {} MiB",
        f64::from(N) / added.as_secs_f64(),
        rss / 1024,
        before / 1024,
        hwm / 1024
    );
    assert_eq!(bng.session_count(), N as usize);
    assert!(hwm < 1024 * 1024, "peak RSS {hwm} KiB over 1 GiB");
}

/// A TCP SYN with an MSS option of `mss`, valid checksums.
fn tcp_syn(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, mss: u16, ack: bool) -> Vec<u8> {
    let mut t = Vec::new();
    t.extend_from_slice(&sport.to_be_bytes());
    t.extend_from_slice(&dport.to_be_bytes());
    t.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, u8::from(ack)]);
    t.extend_from_slice(&[0x60, if ack { 0x12 } else { 0x02 }, 0xff, 0xff, 0, 0, 0, 0]);
    t.extend_from_slice(&[2, 4]);
    t.extend_from_slice(&mss.to_be_bytes());
    let mut ip = vec![0x45, 0, 0, 44, 0, 1, 0x40, 0, 64, 6, 0, 0];
    ip.extend_from_slice(&src);
    ip.extend_from_slice(&dst);
    let c = csum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    let c = tcp_csum(src, dst, &t);
    t[16..18].copy_from_slice(&c.to_be_bytes());
    ip.extend_from_slice(&t);
    ip
}

fn tcp_csum(src: [u8; 4], dst: [u8; 4], tcp: &[u8]) -> u16 {
    let mut ph = Vec::new();
    ph.extend_from_slice(&src);
    ph.extend_from_slice(&dst);
    ph.extend_from_slice(&[0, 6]);
    ph.extend_from_slice(&(tcp.len() as u16).to_be_bytes());
    ph.extend_from_slice(tcp);
    csum(&ph)
}

#[test]
fn pppoe_tcp_mss_is_clamped_both_ways() {
    let mut nt = nat_tables();
    let mut bng = Bng::new(cfg(), Some(&mut nt)).unwrap();
    let mut arena = Arena::new(64);
    let mut pool = arena.pool();
    bng.add_route(default_route()).unwrap();
    bng.add_session(pppoe_session(5, 0x55, [7, 0], [100, 64, 1, 5], true))
        .unwrap();
    bng.add_session(ipoe_session(6, [8, 0], [100, 64, 1, 6], true))
        .unwrap();
    let syn = tcp_syn([100, 64, 1, 5], HOST, 40000, 80, 1460, false);
    let pppoe_syn = eth(GW_MAC, sub_mac(5), &[7], 0x8864, &pppoe(0x55, 0x21, &syn));
    let ipoe_syn = eth(
        GW_MAC,
        sub_mac(6),
        &[8],
        0x0800,
        &tcp_syn([100, 64, 1, 6], HOST, 40001, 80, 1460, false),
    );
    let [_, up] = step(&mut bng, &mut pool, &[(0, pppoe_syn), (0, ipoe_syn)]);
    assert_eq!(up.len(), 2, "{:?}", bng.counter_rows());
    let mss_of = |ip: &[u8]| u16::from_be_bytes([ip[42], ip[43]]);
    let (pp, ipo) = (&up[0][14..], &up[1][14..]);
    assert_eq!(mss_of(pp), 1452, "PPPoE SYN clamped to 1492 - 40");
    assert_eq!(mss_of(ipo), 1460, "IPoE SYN untouched");
    for ip in [pp, ipo] {
        let (s, d) = (
            ip[12..16].try_into().unwrap(),
            ip[16..20].try_into().unwrap(),
        );
        assert_eq!(tcp_csum(s, d, &ip[20..44]), 0, "TCP checksum verifies");
    }
    // the SYN-ACK back to the PPPoE session's pool address and port
    let (out_addr, out_port) = (
        <[u8; 4]>::try_from(&pp[12..16]).unwrap(),
        u16::from_be_bytes([pp[20], pp[21]]),
    );
    let synack = tcp_syn(HOST, out_addr, 80, out_port, 1460, true);
    let [down, _] = step(
        &mut bng,
        &mut pool,
        &[(1, eth(UP_MAC, ROUTER_MAC, &[], 0x0800, &synack))],
    );
    assert_eq!(down.len(), 1, "{:?}", bng.counter_rows());
    let ip = &down[0][14 + 4 + 8..];
    assert_eq!(mss_of(ip), 1452, "PPPoE SYN-ACK clamped");
    assert_eq!(tcp_csum(HOST, [100, 64, 1, 5], &ip[20..44]), 0);
    assert_eq!(pool.available(), pool.capacity());
}

#[test]
fn downstream_ipv4_longer_than_its_frame_is_dropped() {
    let mut bng = Bng::new(cfg(), None).unwrap();
    let mut arena = Arena::new(16);
    let mut pool = arena.pool();
    bng.add_session(ipoe_session(3, [0, 0], [198, 18, 0, 3], false))
        .unwrap();
    let mut ip = udp(
        HOST,
        [198, 18, 0, 3],
        2,
        1,
        b"0123456789012345678901234567890123456789",
    );
    ip[2..4].copy_from_slice(&200u16.to_be_bytes());
    ip[10..12].copy_from_slice(&[0, 0]);
    let c = csum(&ip[..20]);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    let [a, _] = step(
        &mut bng,
        &mut pool,
        &[(1, eth(UP_MAC, ROUTER_MAC, &[], 0x0800, &ip))],
    );
    assert!(
        a.is_empty(),
        "total length 200 in a {}-byte packet",
        ip.len()
    );
    assert_eq!(pool.available(), pool.capacity());
}

// ------------------------------------------------------------------ QoS

fn row(bng: &Bng<'_>, node: &str, name: &str) -> u64 {
    bng.counter_rows()
        .into_iter()
        .find(|(n, k, _)| *n == node && k == name)
        .map_or(0, |(_, _, v)| v)
}

/// Runs `frames` every 10 ms for `steps` steps from `from_ms`; counts the upstream
/// packets of session 1 (translated to the pool) and session 2 (its own address).
fn run_updown<'p>(
    bng: &mut Bng<'p>,
    pool: &mut Pool<'p>,
    frames: &[(u16, Vec<u8>)],
    from_ms: u64,
    steps: u64,
) -> (u64, u64) {
    let (mut na, mut nb) = (0u64, 0u64);
    for i in 0..steps {
        let now = Duration::from_millis(from_ms + i * 10);
        let [_, up] = step_at(bng, pool, now, frames);
        for f in &up {
            if f[26..30] == POOL {
                na += 1;
            } else {
                assert_eq!(f[26..30], [100, 64, 2, 2]);
                nb += 1;
            }
        }
    }
    (na, nb)
}

/// Upstream policer over virtual time: a flow offered at 8x its rate gets at most
/// rate x t + burst through (and close to it), an unpoliced session beside it loses
/// nothing, and a modify (a `CoA` rate change) under traffic changes the rate from the
/// next frame on.
#[test]
fn upstream_policer_cuts_to_rate_and_modify_changes_it() {
    let mut nt = nat_tables();
    let mut bng = Bng::new(cfg(), Some(&mut nt)).unwrap();
    let mut arena = Arena::new(512);
    let mut pool = arena.pool();
    bng.add_route(default_route()).unwrap();
    let rate = 100_000u64; // bits/s
    let burst = 1_000u64; // bytes
    let mut a = pppoe_session(1, 0x11, [10, 0], [100, 64, 2, 1], true);
    a.qos = Some(QosProfile {
        up: Some(Profile::police(rate, burst)),
        down: None,
    });
    bng.add_session(a.clone()).unwrap();
    bng.add_session(pppoe_session(2, 0x22, [10, 0], [100, 64, 2, 2], false))
        .unwrap();
    let payload = [0u8; 72]; // 100-byte IPv4 packets
    let fa = eth(
        GW_MAC,
        sub_mac(1),
        &[10],
        0x8864,
        &pppoe(
            0x11,
            0x0021,
            &udp([100, 64, 2, 1], HOST, 5000, 53, &payload),
        ),
    );
    let fb = eth(
        GW_MAC,
        sub_mac(2),
        &[10],
        0x8864,
        &pppoe(
            0x22,
            0x0021,
            &udp([100, 64, 2, 2], HOST, 5000, 53, &payload),
        ),
    );
    let mut frames = Vec::new();
    for _ in 0..10 {
        frames.push((0u16, fa.clone()));
        frames.push((0u16, fb.clone()));
    }
    // 10 packets of each session every 10 ms: A offers 800 kbit/s
    let (na, nb) = run_updown(&mut bng, &mut pool, &frames, 1_000, 100);
    assert_eq!(nb, 1_000, "the unpoliced session loses nothing");
    // 100 steps span 0.99 s after the (full) first one: at most rate x t + burst
    let bound = (rate / 8 * 99 / 100 + burst) / 100;
    assert!(na <= bound, "{na} > {bound}");
    assert!(na + 2 >= bound, "{na} far below {bound}");
    let c = bng.session_counters(SessionId(1)).unwrap();
    assert_eq!(
        c.up_packets, na,
        "only what passed the policer is accounted"
    );
    assert_eq!(row(&bng, "qos-police-up", "qos-police-drop"), 1_000 - na);

    // a CoA: 4x the rate, applied from the next frame on
    a.qos = Some(QosProfile {
        up: Some(Profile::police(4 * rate, burst)),
        down: None,
    });
    bng.add_session(a).unwrap();
    let (na2, nb2) = run_updown(&mut bng, &mut pool, &frames, 2_000, 100);
    assert_eq!(nb2, 1_000);
    let bound = (4 * rate / 8 * 99 / 100 + burst) / 100;
    assert!(na2 <= bound && na2 + 2 >= bound, "{na2} vs {bound}");
    assert_eq!(
        bng.session_counters(SessionId(1)).unwrap().up_packets,
        na + na2,
        "counters carry over the modify"
    );

    // the profile removed: everything passes
    let mut plain = pppoe_session(1, 0x11, [10, 0], [100, 64, 2, 1], true);
    plain.qos = None;
    bng.add_session(plain).unwrap();
    let (na3, _) = run_updown(&mut bng, &mut pool, &frames, 3_000, 10);
    assert_eq!(na3, 100);
    assert_eq!(pool.available(), pool.capacity(), "no buffer leaked");
}

/// Downstream shaper: a burst within the queue is delayed, not dropped, and leaves at
/// the rate; beyond the queue it is tail-dropped and counted; a session without a
/// profile beside it is not delayed.
#[test]
fn downstream_shaper_delays_within_its_queue() {
    let mut bng = Bng::new(cfg(), None).unwrap();
    let mut arena = Arena::new(512);
    let mut pool = arena.pool();
    let rate = 80_000u64; // 10 000 bytes/s
    let mut c = ipoe_session(3, [0, 0], [192, 0, 2, 3], false);
    c.qos = Some(QosProfile {
        up: None,
        down: Some(DownQos::Shape(ShaperProfile {
            rate,
            burst: 0, // at least one buffer (2048 bytes)
            queue: 32,
        })),
    });
    bng.add_session(c).unwrap();
    bng.add_session(ipoe_session(4, [0, 0], [192, 0, 2, 4], false))
        .unwrap();
    let payload = [0u8; 472]; // 500-byte IPv4 packets
    let to = |last: u8| {
        eth(
            UP_MAC,
            ROUTER_MAC,
            &[],
            0x0800,
            &udp(HOST, [192, 0, 2, last], 53, 5000, &payload),
        )
    };
    let mut frames: Vec<(u16, Vec<u8>)> = (0..20).map(|_| (1u16, to(3))).collect();
    frames.extend((0..20).map(|_| (1u16, to(4))));
    let t0 = Duration::from_secs(1);
    let [access, _] = step_at(&mut bng, &mut pool, t0, &frames);
    let direct_c = access.iter().filter(|f| f[0..6] == sub_mac(3)).count();
    let direct_d = access.iter().filter(|f| f[0..6] == sub_mac(4)).count();
    assert_eq!(direct_d, 20, "the unshaped session is not delayed");
    assert_eq!(direct_c, 4, "the 2048-byte burst: four 500-byte packets");
    // 48 bytes left of the burst: the fifth packet needs 452 more, 45.2 ms
    assert_eq!(
        bng.shaper_timeout(),
        Some(t0 + Duration::from_micros(45_200))
    );
    // 16 queued: one per 50 ms (500 bytes at 10 000 bytes/s), none dropped
    let mut got = direct_c;
    let mut tx = [new_frame(), new_frame()];
    for ms in (10..=800).step_by(10) {
        bng.poll_shaper(t0 + Duration::from_millis(ms), &mut pool, &mut tx);
        got += tx[0].len();
        for p in &tx[0] {
            assert_eq!(p.data()[0..6], sub_mac(3));
        }
        pool.free_all(&mut tx[0]);
        let expected = (4 + (ms * 10_000 / 1000 + 48) / 500).min(20);
        assert_eq!(got as u64, expected, "at {ms} ms");
    }
    assert_eq!(got, 20, "delayed, not dropped");
    assert_eq!(bng.shaper_timeout(), None);
    assert_eq!(row(&bng, "qos-shaper", "qos-shape-drop"), 0);
    let cc = bng.session_counters(SessionId(3)).unwrap();
    assert_eq!((cc.down_packets, cc.down_bytes), (20, 20 * 500));

    // beyond the queue: tail drop
    let t1 = Duration::from_secs(10);
    let frames: Vec<(u16, Vec<u8>)> = (0..60).map(|_| (1u16, to(3))).collect();
    let [access, _] = step_at(&mut bng, &mut pool, t1, &frames);
    assert_eq!(access.len(), 4);
    assert_eq!(row(&bng, "qos-shaper", "qos-shape-drop"), 60 - 4 - 32);
    // removing the session frees its queued packets at the next frame
    bng.remove_session(SessionId(3)).unwrap();
    let _ = step_at(&mut bng, &mut pool, t1, &[]);
    assert_eq!(bng.shaper_timeout(), None);
    assert_eq!(pool.available(), pool.capacity(), "no buffer leaked");
}

/// Downstream policer with DSCP re-marking of the packets over the committed rate
/// (RFC 2697 yellow), counted as re-marked; red ones dropped.
#[test]
fn downstream_policer_remarks_and_drops() {
    let mut bng = Bng::new(cfg(), None).unwrap();
    let mut arena = Arena::new(256);
    let mut pool = arena.pool();
    let mut c = pppoe_session(5, 0x55, [0, 0], [192, 0, 2, 5], false);
    c.qos = Some(QosProfile {
        up: None,
        down: Some(DownQos::Police(Profile {
            meter: Meter::SrTcm {
                cir: 8_000,
                cbs: 1_000,
                ebs: 1_000,
            },
            green: Action::Transmit,
            yellow: Action::Remark(10),
            red: Action::Drop,
        })),
    });
    bng.add_session(c).unwrap();
    let payload = [0u8; 472];
    let f = eth(
        UP_MAC,
        ROUTER_MAC,
        &[],
        0x0800,
        &udp(HOST, [192, 0, 2, 5], 53, 5000, &payload),
    );
    let frames: Vec<(u16, Vec<u8>)> = (0..6).map(|_| (1u16, f.clone())).collect();
    let [access, _] = step(&mut bng, &mut pool, &frames);
    // 2 green (1000 bytes), 2 yellow re-marked (AF11, DSCP 10), 2 red dropped
    assert_eq!(access.len(), 4);
    let ip = |f: &Vec<u8>| f[22..].to_vec();
    assert_eq!(ip(&access[0])[1] >> 2, 0);
    assert_eq!(ip(&access[3])[1] >> 2, 10);
    assert_eq!(csum(&ip(&access[3])[..20]), 0, "checksum updated");
    assert_eq!(row(&bng, "qos-police-down", "remarked"), 2);
    assert_eq!(row(&bng, "qos-police-down", "qos-police-drop"), 2);
    assert_eq!(bng.session_counters(SessionId(5)).unwrap().down_packets, 4);
    assert_eq!(pool.available(), pool.capacity(), "no buffer leaked");
}

/// PPPoE IPv4 data takes `pppoe-fast-input` (decap, anti-spoofing, counters in one
/// pass); what it does not handle goes unchanged to the general path and is handled
/// and counted there: a spoofed source, an unknown session, a header with options.
#[test]
fn pppoe_fast_path_and_its_fallbacks() {
    let mut bng = Bng::new(cfg(), None).unwrap();
    let mut arena = Arena::new(64);
    let mut pool = arena.pool();
    bng.add_route(default_route()).unwrap();
    bng.add_session(pppoe_session(9, 0x99, [7, 0], [192, 0, 2, 9], false))
        .unwrap();
    let frame = |sid: u16, src: [u8; 4], ip: Option<Vec<u8>>| {
        let ip = ip.unwrap_or_else(|| udp(src, HOST, 5000, 53, b"data"));
        eth(GW_MAC, sub_mac(9), &[7], 0x8864, &pppoe(sid, 0x0021, &ip))
    };
    // a 24-byte header (one NOP option word): the general path forwards it
    let mut opt = udp([192, 0, 2, 9], HOST, 5000, 53, b"data");
    opt[0] = 0x46;
    opt.splice(20..20, [1u8, 1, 1, 0]);
    let tl = (opt.len() as u16).to_be_bytes();
    opt[2..4].copy_from_slice(&tl);
    opt[10..12].copy_from_slice(&[0, 0]);
    let c = csum(&opt[..24]);
    opt[10..12].copy_from_slice(&c.to_be_bytes());
    let [_, up] = step(
        &mut bng,
        &mut pool,
        &[
            (0, frame(0x99, [192, 0, 2, 9], None)),
            (0, frame(0x99, [192, 0, 2, 66], None)),
            (0, frame(0x98, [192, 0, 2, 9], None)),
            (0, frame(0x99, [192, 0, 2, 9], Some(opt))),
        ],
    );
    assert_eq!(up.len(), 2, "{:?}", bng.counter_rows());
    assert_eq!(up[0][14], 0x46, "the general path's packet first");
    assert_eq!(up[1][14], 0x45);
    assert_eq!(row(&bng, "pppoe-fast-input", "next.ip4-rewrite"), 1);
    assert_eq!(row(&bng, "pppoe-fast-input", "next.pppoe-session-input"), 3);
    assert_eq!(row(&bng, "subscriber-input", "drop.spoofed-source"), 1);
    assert_eq!(row(&bng, "pppoe-session-input", "drop.unknown-session"), 1);
    let c = bng.session_counters(SessionId(9)).unwrap();
    assert_eq!(c.up_packets, 2);
    assert_eq!(pool.available(), pool.capacity(), "no buffer leaked");
}

/// The fused passes (upstream `pppoe-fast-input` with nat44 in2out and ip4-rewrite in
/// one loop, downstream `ip4-input` with nat44 out2in and subscriber-output: small
/// tables, no trace) against the node-by-node path (the same `Bng` with the trace on):
/// the same bytes out of both ports, in the same order, the same counters (but for
/// the fusing nodes' own and the frame counts), session counters and NAT44 stats, over
/// NAT'd and routed sessions, a spoofed source, an expiring TTL, a TCP segment, an
/// options header, a hairpin to another session's mapping, and the replies (to a
/// public address, an unmapped port and with a bad checksum among them).
/// The downstream replies to what went upstream (addresses and ports swapped: the
/// checksums stay valid), then one to an unmapped pool port.
fn replies(sent: &[Vec<u8>]) -> Vec<(u16, Vec<u8>)> {
    let mut v: Vec<(u16, Vec<u8>)> = sent
        .iter()
        .map(|f| {
            let mut ip = f[14..].to_vec();
            for i in 0..4 {
                ip.swap(12 + i, 16 + i);
            }
            ip.swap(20, 22);
            ip.swap(21, 23);
            (1u16, eth(UP_MAC, ROUTER_MAC, &[], 0x0800, &ip))
        })
        .collect();
    let nomap = udp(HOST, POOL, 53, 1, b"nomap");
    v.push((1, eth(UP_MAC, ROUTER_MAC, &[], 0x0800, &nomap)));
    v
}

/// What a fused and a node-by-node run must agree on: the counter rows (but the
/// fused nodes' own and frame counts), sessions `1..=n`'s counters, NAT44's
/// statistics; and the packets the fused passes sent on (upstream, downstream).
#[allow(clippy::type_complexity, reason = "a test's tuple of outcomes")]
fn outcome(
    bng: &Bng<'_>,
    n: u32,
) -> (
    Vec<(&'static str, String, u64)>,
    Vec<bng_dataplane::bng::SessionCounters>,
    Option<bng_nat44::Stats>,
    (u64, u64),
) {
    let rows: Vec<_> = bng
        .counter_rows()
        .into_iter()
        .filter(|(n, k, _)| !matches!(*n, "pppoe-fast-input" | "ip4-input") && k != "frames")
        .collect();
    let sessions: Vec<_> = (1..=n)
        .filter_map(|i| bng.session_counters(SessionId(i)).ok())
        .collect();
    let fused = (
        row(bng, "pppoe-fast-input", "next.interface-output"),
        row(bng, "ip4-input", "next.interface-output"),
    );
    (rows, sessions, bng.nat_stats(), fused)
}

#[test]
fn fused_passes_equal_the_node_by_node_path() {
    let run = |trace: usize| {
        let mut nt = nat_tables();
        let mut c = cfg();
        c.trace = trace;
        let mut bng = Bng::new(c, Some(&mut nt)).unwrap();
        let mut arena = Arena::new(64);
        let mut pool = arena.pool();
        bng.add_route(default_route()).unwrap();
        bng.add_session(pppoe_session(1, 1, [10, 0], [100, 64, 1, 1], true))
            .unwrap();
        bng.add_session(pppoe_session(2, 2, [10, 0], [100, 64, 1, 2], true))
            .unwrap();
        bng.add_session(pppoe_session(3, 3, [10, 0], [192, 0, 2, 3], false))
            .unwrap();
        let pf = |id: u32, ip: &[u8]| {
            (
                0u16,
                eth(
                    GW_MAC,
                    sub_mac(id),
                    &[10],
                    0x8864,
                    &pppoe(id as u16, 0x0021, ip),
                ),
            )
        };
        let mut ttl1 = udp([100, 64, 1, 1], HOST, 5001, 53, b"ttl");
        ttl1[8] = 1;
        ttl1[10..12].copy_from_slice(&[0, 0]);
        let c1 = csum(&ttl1[..20]);
        ttl1[10..12].copy_from_slice(&c1.to_be_bytes());
        let mut opt = udp([100, 64, 1, 1], HOST, 5002, 53, b"opt");
        opt[0] = 0x46;
        opt.splice(20..20, [1u8, 1, 1, 0]);
        let tl = (opt.len() as u16).to_be_bytes();
        opt[2..4].copy_from_slice(&tl);
        opt[10..12].copy_from_slice(&[0, 0]);
        let c2 = csum(&opt[..24]);
        opt[10..12].copy_from_slice(&c2.to_be_bytes());
        let first = [
            pf(1, &udp([100, 64, 1, 1], HOST, 5000, 53, b"one")),
            pf(2, &udp([100, 64, 1, 2], HOST, 6000, 53, b"two")),
            pf(3, &udp([192, 0, 2, 3], HOST, 7000, 53, b"three")),
            pf(1, &udp([100, 64, 1, 9], HOST, 5000, 53, b"spoofed")),
            pf(1, &ttl1),
            pf(1, &opt),
            pf(1, &tcp_syn([100, 64, 1, 1], HOST, 5003, 80, 1460, true)),
        ];
        let mut out = vec![step(&mut bng, &mut pool, &first)];
        // session 2's mapped port, then session 1 to it (hairpin) and more
        let two = out[0][1]
            .iter()
            .find(|f| f.ends_with(b"two"))
            .unwrap()
            .clone();
        let port = u16::from_be_bytes([two[34], two[35]]);
        let second = [
            pf(1, &udp([100, 64, 1, 1], POOL, 5004, port, b"hairpin")),
            pf(1, &udp([100, 64, 1, 1], HOST, 5000, 53, b"one again")),
            pf(3, &udp([192, 0, 2, 3], HOST, 7000, 53, b"three again")),
        ];
        out.push(step(&mut bng, &mut pool, &second));
        // downstream: the replies to what went out (addresses and ports swapped: the
        // checksums stay valid), one to an unmapped port, one with a bad checksum
        let mut third = replies(&out[0][1]);
        let mut bad = third[0].1.clone();
        bad[14 + 10] ^= 0x40;
        third.push((1, bad));
        out.push(step(&mut bng, &mut pool, &third));
        assert_eq!(pool.available(), pool.capacity(), "no buffer leaked");
        let (rows, sessions, nat, fused) = outcome(&bng, 3);
        (out, rows, sessions, nat, fused)
    };
    let (fused, node_by_node) = (run(0), run(64));
    assert_eq!(fused.0[0][1].len(), 5, "{:?}", fused.1);
    assert_eq!(fused.0[1][0].len(), 1, "the hairpin goes back to session 2");
    assert_eq!(fused.0, node_by_node.0);
    assert_eq!(fused.1, node_by_node.1);
    assert_eq!(fused.2, node_by_node.2);
    assert_eq!(fused.3, node_by_node.3);
    assert_eq!(fused.0[2][0].len(), 4, "{:?}", fused.1);
    assert_eq!(
        (fused.4, node_by_node.4),
        ((5, 2), (0, 0)),
        "which run fused"
    );
}

/// Two PPPoE sessions with the same session id (different MACs, or the same MAC on
/// another VLAN): the first two are found by id (the by-id entry's two ways), the third
/// through the hash map; each packet reaches its own session, removing the first leaves
/// the others working, and a fourth takes the freed way.
/// Past 8192 sessions the fused passes prefetch each packet's table entries a few
/// packets ahead (`Node::ahead`, from the raw bytes, before `ethernet-input`): what
/// goes out, the counters, the session counters and the NAT statistics are exactly
/// those of the node-by-node path (tracing on), for PPPoE sessions sharing ids (up to
/// three on one id: by-id ways and the hash map), with and without NAT, spoofed
/// sources, runts, QinQ, and downstream replies, unmapped ports and garbage.
#[test]
fn look_ahead_with_large_tables_changes_nothing() {
    const N: u32 = 9000;
    let addr = |i: u32| [100, 65, (i >> 8) as u8, i as u8];
    let session = |i: u32| {
        let mut s = pppoe_session(
            i + 1,
            (i % 4000) as u16 + 1,
            [(i % 7) as u16 + 1, 0],
            addr(i),
            i % 5 != 0,
        );
        if i % 11 == 0 {
            s.vlans = [(i % 7) as u16 + 1, 30];
        }
        s
    };
    let run = |trace: usize| {
        let mut nt = NatTables::new(
            NatConfig::port_block(POOL.into(), 256),
            4 * N as usize,
            N as usize,
        );
        let mut c = cfg_for(N as usize);
        c.trace = trace;
        let mut bng = Bng::new(c, Some(&mut nt)).unwrap();
        let mut arena = Arena::new(1024);
        let mut pool = arena.pool();
        bng.add_route(default_route()).unwrap();
        for i in 0..N {
            bng.add_session(session(i)).unwrap();
        }
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut ups = Vec::new();
        let mut picked = Vec::new();
        for k in 0..250u32 {
            let i = (next() % u64::from(N)) as u32;
            picked.push(i);
            let s = session(i);
            let mut src = addr(i);
            if k % 37 == 0 {
                src[3] ^= 0x80; // spoofed
            }
            let ip = udp(src, HOST, 5000 + (k % 3) as u16, 53, b"look-ahead");
            let vlans: Vec<u16> = s.vlans.iter().copied().filter(|&v| v != 0).collect();
            let Access::Pppoe { session_id } = s.access else {
                unreachable!()
            };
            ups.push((
                0u16,
                eth(
                    GW_MAC,
                    sub_mac(i + 1),
                    &vlans,
                    0x8864,
                    &pppoe(session_id, 0x0021, &ip),
                ),
            ));
        }
        ups.push((0, vec![0x02; 20])); // a runt
        ups.push((
            0,
            eth(GW_MAC, sub_mac(7), &[1, 2, 3], 0x8864, &[0x11, 0, 0, 1]),
        ));
        let mut out = vec![step(&mut bng, &mut pool, &ups)];
        let mut downs = replies(&out[0][1]);
        downs.push((1, eth(UP_MAC, ROUTER_MAC, &[], 0x0800, &POOL)));
        downs.push((
            1,
            eth(
                UP_MAC,
                ROUTER_MAC,
                &[],
                0x0800,
                &udp(HOST, addr(3), 53, 5000, b"public"),
            ),
        ));
        out.push(step(&mut bng, &mut pool, &downs));
        // sessions replaced by others in their slots (another address): the replies to
        // the old ones' NAT44 ports find a live slot through the port block's owner
        // that no longer holds the address, and are dropped as node by node
        let mut gone: Vec<u32> = picked
            .iter()
            .copied()
            .filter(|i| i % 5 != 0)
            .take(20)
            .collect();
        gone.sort_unstable();
        gone.dedup();
        for (k, &i) in gone.iter().enumerate() {
            bng.remove_session(SessionId(i + 1)).unwrap();
            let mut s = pppoe_session(
                N + 1 + k as u32,
                4000 + k as u16,
                [9, 0],
                [100, 66, 0, k as u8 + 1],
                true,
            );
            s.mac = sub_mac(N + 1 + k as u32);
            bng.add_session(s).unwrap();
        }
        out.push(step(&mut bng, &mut pool, &downs));
        assert_eq!(pool.available(), pool.capacity(), "no buffer leaked");
        let (rows, sessions, nat, fused) = outcome(&bng, N + 20);
        (out, rows, sessions, nat, fused)
    };
    let (fused, node_by_node) = (run(0), run(64));
    assert!(fused.0[0][1].len() > 200, "{:?}", fused.1);
    assert!(fused.0[1][0].len() > 190, "{:?}", fused.1);
    // the same frames; their order across paths differs (the fused pass sends NAT
    // and routed sessions' packets in arrival order, node by node ip4-rewrite's frame
    // of routed ones goes first), each flow's is kept (one packet per flow per step)
    for (step, (a, b)) in fused.0.iter().zip(&node_by_node.0).enumerate() {
        for port in 0..2 {
            let (mut x, mut y) = (a[port].clone(), b[port].clone());
            x.sort();
            y.sort();
            assert_eq!(x.len(), y.len(), "step {step} port {port}");
            for (k, (x, y)) in x.iter().zip(&y).enumerate() {
                assert_eq!(x, y, "step {step} port {port} frame {k}");
            }
        }
    }
    assert_eq!(fused.1, node_by_node.1);
    assert_eq!(fused.2, node_by_node.2);
    assert_eq!(fused.3, node_by_node.3);
    assert!(
        fused.4.0 > 150 && fused.4.1 > 150,
        "the fused passes ran: {:?}",
        fused.4
    );
    assert_eq!(node_by_node.4, (0, 0));
}

#[test]
fn pppoe_sessions_sharing_an_id() {
    let mut bng = Bng::new(cfg(), None).unwrap();
    let mut arena = Arena::new(64);
    let mut pool = arena.pool();
    bng.add_route(default_route()).unwrap();
    let mut s3 = pppoe_session(3, 0x42, [6, 0], [192, 0, 2, 33], false);
    s3.mac = sub_mac(1);
    for s in [
        pppoe_session(1, 0x42, [5, 0], [192, 0, 2, 31], false),
        pppoe_session(2, 0x42, [5, 0], [192, 0, 2, 32], false),
        s3,
    ] {
        bng.add_session(s).unwrap();
    }
    let f = |mac: u32, vlan: u16, src: [u8; 4]| {
        let ip = udp(src, HOST, 5000, 53, b"data");
        eth(
            GW_MAC,
            sub_mac(mac),
            &[vlan],
            0x8864,
            &pppoe(0x42, 0x0021, &ip),
        )
    };
    let frames = [
        (0, f(1, 5, [192, 0, 2, 31])),
        (0, f(2, 5, [192, 0, 2, 32])),
        (0, f(1, 6, [192, 0, 2, 33])),
        (0, f(2, 5, [192, 0, 2, 31])), // session 1's address on session 2's key
        (0, f(1, 6, [192, 0, 2, 31])), // session 1's address on session 3's key
    ];
    let [_, up] = step(&mut bng, &mut pool, &frames);
    assert_eq!(up.len(), 3, "{:?}", bng.counter_rows());
    assert_eq!(row(&bng, "subscriber-input", "drop.spoofed-source"), 2);
    for id in [1, 2, 3] {
        assert_eq!(bng.session_counters(SessionId(id)).unwrap().up_packets, 1);
    }
    bng.remove_session(SessionId(1)).unwrap();
    let [_, up] = step(&mut bng, &mut pool, &[(0, f(2, 5, [192, 0, 2, 32]))]);
    assert_eq!(up.len(), 1);
    assert_eq!(bng.session_counters(SessionId(2)).unwrap().up_packets, 2);
    let mut s4 = pppoe_session(4, 0x42, [5, 0], [192, 0, 2, 34], false);
    s4.mac = sub_mac(4);
    bng.add_session(s4).unwrap();
    let frames = [
        (0, f(2, 5, [192, 0, 2, 32])),
        (0, f(1, 6, [192, 0, 2, 33])),
        (0, f(4, 5, [192, 0, 2, 34])),
        (0, f(1, 5, [192, 0, 2, 31])), // the removed session
    ];
    let [_, up] = step(&mut bng, &mut pool, &frames);
    assert_eq!(up.len(), 3, "{:?}", bng.counter_rows());
    assert_eq!(bng.session_counters(SessionId(2)).unwrap().up_packets, 3);
    assert_eq!(bng.session_counters(SessionId(3)).unwrap().up_packets, 2);
    assert_eq!(bng.session_counters(SessionId(4)).unwrap().up_packets, 1);
    assert_eq!(pool.available(), pool.capacity(), "no buffer leaked");
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(40))]
    /// Valid PPPoE / IPv4 frames of live sessions (with and without NAT and QoS) with
    /// arbitrary bytes overwritten anywhere: the fast and general paths never panic,
    /// every buffer comes back, and what goes upstream has a verifying IPv4 checksum.
    /// (40 cases: each builds a `Bng`, whose DIR-24-8 FIB is 64 MiB.)
    #[test]
    fn mutated_session_frames_never_panic(
        muts in proptest::collection::vec(
            (0usize..8, 0usize..80, proptest::prelude::any::<u8>()),
            1..8,
        ),
    ) {
        let mut nt = nat_tables();
        let mut bng = Bng::new(cfg(), Some(&mut nt)).unwrap();
        let mut arena = Arena::new(64);
        let mut pool = arena.pool();
        bng.add_route(default_route()).unwrap();
        let mut frames = Vec::new();
        for i in 0..8u32 {
            let mut s = pppoe_session(i, 0x100 + i as u16, [i as u16 % 3, 0], [100, 64, 3, i as u8 + 1], i % 2 == 0);
            if i % 4 == 1 {
                s.qos = Some(QosProfile::rates(64_000, 64_000, 1_500));
            }
            let vl: &[u16] = if i % 3 == 0 { &[] } else { &s.vlans[..1] };
            let payload = if i % 3 == 2 {
                tcp_syn([100, 64, 3, i as u8 + 1], HOST, 4000, 80, 1460, false)
            } else {
                udp([100, 64, 3, i as u8 + 1], HOST, 5000, 53, b"data")
            };
            frames.push((0u16, eth(GW_MAC, sub_mac(i), vl, 0x8864, &pppoe(0x100 + i as u16, 0x0021, &payload))));
            bng.add_session(s).unwrap();
        }
        for (i, at, b) in muts {
            let f = &mut frames[i].1;
            if let Some(x) = f.get_mut(at) {
                *x = b;
            }
        }
        let [_, up] = step(&mut bng, &mut pool, &frames);
        for f in &up {
            assert_eq!(csum(&f[14..34]), 0, "upstream IPv4 checksum verifies");
        }
        for s in 0..8 {
            let _ = bng.remove_session(SessionId(s));
        }
        let mut tx = [new_frame(), new_frame()];
        bng.poll_shaper(Duration::from_secs(2), &mut pool, &mut tx);
        for f in &mut tx {
            pool.free_all(f);
        }
        assert_eq!(pool.available(), pool.capacity(), "no buffer leaked");
    }
}

// ------------------------------------------------------------------ ESP tunnels

mod tunnels {
    use super::*;
    use bng_dataplane::bng::{TunnelConfig, TunnelTransform};
    use bng_dataplane::control::Command;
    use bng_esp::ring::Aes128GcmEsp;
    use bng_esp::sa::{Config, Inbound, Mode, Outbound, Tunnel, UdpEncap};
    use bng_esp::wire::Spi;

    use crate::support::TestRng;

    /// The remote site's gateway (the tunnel's peer) and a host behind it.
    const PEER: [u8; 4] = [192, 0, 2, 77];
    const SITE_HOST: [u8; 4] = [10, 9, 0, 5];
    const SUB: [u8; 4] = [100, 64, 0, 10];
    /// Keys of the two directions (both ends hold both).
    const K_OUT: [u8; 20] = [0x11; 20];
    const K_IN: [u8; 20] = [0x22; 20];
    const SPI_TO_PEER: u32 = 0x0000_1001;
    const SPI_TO_US: u32 = 0x0000_2002;

    fn sa_cfg(spi: u32, src: [u8; 4], dst: [u8; 4], udp: bool) -> Config {
        let mut c = Config::new(Spi(spi), Mode::Tunnel(Tunnel::V4 { src, dst }));
        if udp {
            c.udp_encap = Some(UdpEncap::default());
        }
        c
    }

    fn t(k: &[u8; 20]) -> Aes128GcmEsp {
        Aes128GcmEsp::from_keymat(k).unwrap()
    }

    /// Our end of tunnel 3.
    fn our_tunnel(udp: bool) -> TunnelConfig {
        TunnelConfig {
            id: 3,
            outbound: Outbound::new(
                sa_cfg(SPI_TO_PEER, UP, PEER, udp),
                TunnelTransform::new(t(&K_OUT)),
                Duration::ZERO,
            )
            .unwrap(),
            inbound: Inbound::new(
                sa_cfg(SPI_TO_US, PEER, UP, udp),
                TunnelTransform::new(t(&K_IN)),
                Duration::ZERO,
            )
            .unwrap(),
            rng: None,
        }
    }

    /// The peer's end: a second SA pair (bng-esp directly).
    fn peer(udp: bool) -> (Outbound<Aes128GcmEsp>, Inbound<Aes128GcmEsp>) {
        (
            Outbound::new(sa_cfg(SPI_TO_US, PEER, UP, udp), t(&K_IN), Duration::ZERO).unwrap(),
            Inbound::new(
                sa_cfg(SPI_TO_PEER, UP, PEER, udp),
                t(&K_OUT),
                Duration::ZERO,
            )
            .unwrap(),
        )
    }

    /// `ip` with TTL - 1 and its header checksum recomputed.
    fn forwarded(ip: &[u8]) -> Vec<u8> {
        let mut v = ip.to_vec();
        v[8] -= 1;
        v[10..12].copy_from_slice(&[0, 0]);
        let c = csum(&v[..20]);
        v[10..12].copy_from_slice(&c.to_be_bytes());
        v
    }

    /// The peer protects `inner` and sends it to us from the upstream router.
    fn from_peer(out: &mut Outbound<Aes128GcmEsp>, inner: &[u8]) -> Vec<u8> {
        let mut buf = vec![0u8; 128 + inner.len() + 64];
        buf[128..128 + inner.len()].copy_from_slice(inner);
        let r = out
            .encap(
                Duration::from_secs(1),
                &mut buf,
                128..128 + inner.len(),
                &mut TestRng(1),
            )
            .unwrap();
        eth(UP_MAC, ROUTER_MAC, &[], 0x0800, &buf[r])
    }

    fn setup(bng: &mut Bng<'_>, udp: bool) {
        bng.add_route(default_route()).unwrap();
        bng.add_session(pppoe_session(10, 0x0a0a, [0, 0], SUB, true))
            .unwrap();
        // through the control API, as a worker applies it
        let (tx, rx) = std::sync::mpsc::channel();
        bng.apply(Command::AddTunnel(Box::new(our_tunnel(udp)), Some(tx)));
        rx.recv().unwrap().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        bng.apply(Command::AddTunnelRoute(
            [10, 9, 0, 0].into(),
            16,
            3,
            Some(tx),
        ));
        rx.recv().unwrap().unwrap();
    }

    fn from_sub(ip: &[u8]) -> (u16, Vec<u8>) {
        (
            0,
            eth(GW_MAC, sub_mac(10), &[], 0x8864, &pppoe(0x0a0a, 0x0021, ip)),
        )
    }

    fn round_trip(encap: bool) {
        let mut nt = nat_tables();
        let mut bng = Bng::new(cfg(), Some(&mut nt)).unwrap();
        let mut arena = Arena::new(256);
        let mut pool = arena.pool();
        setup(&mut bng, encap);
        let (mut p_out, mut p_in) = peer(encap);

        // upstream: subscriber -> site host leaves as ESP to the peer, not translated
        let up = udp(SUB, SITE_HOST, 5000, 7, b"to the remote site");
        let [to_access, to_up] = step(&mut bng, &mut pool, &[from_sub(&up)]);
        assert!(to_access.is_empty());
        assert_eq!(to_up.len(), 1, "{:?}", bng.counter_rows());
        let out = &to_up[0];
        assert_eq!(&out[..6], &ROUTER_MAC);
        assert_eq!(&out[6..12], &UP_MAC);
        assert_eq!(&out[12..14], &[8, 0]);
        let outer = &out[14..];
        assert_eq!(outer[9], if encap { 17 } else { 50 });
        assert_eq!(&outer[12..16], &UP);
        assert_eq!(&outer[16..20], &PEER);
        assert_eq!(csum(&outer[..20]), 0, "outer header checksum");
        if encap {
            assert_eq!(&outer[20..24], &[0x11, 0x94, 0x11, 0x94], "ports 4500");
        }
        let mut buf = outer.to_vec();
        let whole = 0..buf.len();
        let dec = p_in.decap(Duration::from_secs(1), &mut buf, whole).unwrap();
        assert_eq!(
            &buf[dec.packet],
            &forwarded(&up)[..],
            "the peer decrypts the original packet (TTL - 1, source not translated)"
        );
        assert_eq!(row(&bng, "esp-encrypt", "next.ip4-lookup"), 1);
        assert_eq!(bng.nat_stats().unwrap().in2out, 0, "NAT44 skipped");

        // downstream: the peer's reply reaches the subscriber PPPoE-encapsulated
        let back = udp(SITE_HOST, SUB, 7, 5000, b"from the remote site");
        let reply = from_peer(&mut p_out, &back);
        let [to_access, to_up] = step(&mut bng, &mut pool, &[(1, reply.clone())]);
        assert!(to_up.is_empty());
        assert_eq!(to_access.len(), 1, "{:?}", bng.counter_rows());
        let down = &to_access[0];
        assert_eq!(&down[..6], &sub_mac(10));
        assert_eq!(&down[6..12], &GW_MAC);
        assert_eq!(&down[12..14], &[0x88, 0x64]);
        assert_eq!(&down[16..18], &0x0a0au16.to_be_bytes());
        assert_eq!(&down[20..22], &[0x00, 0x21]);
        assert_eq!(&down[22..], &forwarded(&back)[..]);
        let c = bng.session_counters(SessionId(10)).unwrap();
        assert_eq!((c.up_packets, c.down_packets), (1, 1));

        // a replay, a tampered packet, an inner source not behind the tunnel, and
        // IKE / a NAT-keepalive to our address (punted, not decrypted)
        let mut tampered = from_peer(&mut p_out, &back);
        let last = tampered.len() - 1;
        tampered[last] ^= 0x80;
        let spoofed = from_peer(&mut p_out, &udp([8, 8, 8, 8], SUB, 7, 5000, b"x"));
        let mut frames = vec![(1, reply), (1, tampered), (1, spoofed)];
        if encap {
            let ike = udp_raw(PEER, UP, 4500, 4500, &[0, 0, 0, 0, 1, 2, 3, 4]);
            frames.push((1, eth(UP_MAC, ROUTER_MAC, &[], 0x0800, &ike)));
        }
        let [to_access, to_up] = step(&mut bng, &mut pool, &frames);
        assert!(to_access.is_empty() && to_up.is_empty());
        assert_eq!(row(&bng, "esp-decrypt", "drop.replayed"), 1);
        assert_eq!(row(&bng, "esp-decrypt", "drop.icv-mismatch"), 1);
        assert_eq!(row(&bng, "esp-inner-check", "drop.not-via-tunnel"), 1);
        if encap {
            let p = bng.poll_punt().expect("IKE punted");
            assert_eq!(p.reason, PuntReason::Local);
        }
        let (o, i) = bng.tunnel_stats(3).unwrap();
        assert_eq!(o.packets, 1);
        assert_eq!(i.packets, 2, "the reply and the spoofed one verified");

        // other traffic of the same subscriber still goes through NAT44
        let web = udp(SUB, HOST, 5001, 53, b"q");
        let [_, to_up] = step(&mut bng, &mut pool, &[from_sub(&web)]);
        assert_eq!(to_up.len(), 1);
        assert_eq!(to_up[0][14 + 9], 17);
        assert_eq!(&to_up[0][14 + 12..14 + 16], &POOL, "translated");
        assert_eq!(&to_up[0][14 + 16..14 + 20], &HOST);

        // removing the tunnel: its route's packets are dropped as no-sa, ESP is
        // punted as local again
        bng.remove_tunnel(3).unwrap();
        let [_, to_up] = step(&mut bng, &mut pool, &[from_sub(&up)]);
        assert!(to_up.is_empty());
        assert_eq!(row(&bng, "esp-encrypt", "drop.no-sa"), 1);
        assert!(bng.remove_route([10, 9, 0, 0].into(), 16));
        assert_eq!(pool.available(), pool.capacity(), "no buffer leaked");
    }

    /// [`udp`] without the UDP checksum (IKE on 4500 need not have one).
    fn udp_raw(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
        let mut p = udp(src, dst, sport, dport, payload);
        p[26..28].copy_from_slice(&[0, 0]);
        p
    }

    #[test]
    fn pppoe_subscriber_through_an_esp_tunnel() {
        round_trip(false);
    }

    #[test]
    fn pppoe_subscriber_through_an_esp_in_udp_tunnel() {
        round_trip(true);
    }

    #[test]
    fn tunnel_configuration_rules() {
        let mut bng = Bng::new(cfg(), None).unwrap();
        let mut bad = our_tunnel(false);
        bad.outbound = Outbound::new(
            sa_cfg(SPI_TO_PEER, [1, 2, 3, 4], PEER, false),
            TunnelTransform::new(t(&K_OUT)),
            Duration::ZERO,
        )
        .unwrap();
        assert!(matches!(
            bng.add_tunnel(bad),
            Err(ControlError::BadConfig(_))
        ));
        let mut cbc = our_tunnel(false);
        cbc.outbound = Outbound::new(
            sa_cfg(SPI_TO_PEER, UP, PEER, false),
            TunnelTransform::new(
                bng_esp::crypto::Aes128CbcHmacSha256::new(&[1; 16], &[2; 32]).unwrap(),
            ),
            Duration::ZERO,
        )
        .unwrap();
        assert!(
            matches!(bng.add_tunnel(cbc), Err(ControlError::BadConfig(_))),
            "random IVs without a CryptoRng"
        );
        bng.add_tunnel(our_tunnel(false)).unwrap();
        let mut other = our_tunnel(false);
        other.id = 4;
        assert!(
            matches!(bng.add_tunnel(other), Err(ControlError::BadConfig(_))),
            "inbound SPI of tunnel 3"
        );
        assert!(
            bng.add_tunnel_route([10, 0, 0, 0].into(), 8, 1 << 20)
                .is_err()
        );
        assert!(bng.remove_tunnel(9).is_err());
        bng.remove_tunnel(3).unwrap();
    }
}

// ------------------------------------------------------------------ ICMP errors

/// ICMP errors the gateway originates (RFC 792, RFC 1812 section 4.3) and
/// fragmentation toward PPPoE sessions (RFC 791 section 3.2, RFC 1191).
mod icmp_errors {
    use super::*;
    use bng_dataplane::nodes::icmp::IcmpLimit;

    /// `p` with its TTL and DF bit set, the header checksum recomputed.
    fn ttl_df(mut p: Vec<u8>, ttl: u8, df: bool) -> Vec<u8> {
        p[8] = ttl;
        p[6] = if df { 0x40 } else { 0 };
        p[10..12].copy_from_slice(&[0, 0]);
        let c = csum(&p[..20]);
        p[10..12].copy_from_slice(&c.to_be_bytes());
        p
    }

    /// The IPv4 packet of a PPPoE session frame with QinQ tags [100, 200].
    fn pppoe_ip(f: &[u8]) -> &[u8] {
        assert_eq!(&f[20..22], &[0x88, 0x64], "PPPoE session");
        assert_eq!(&f[28..30], &[0x00, 0x21], "PPP IPv4");
        let len = usize::from(u16::from_be_bytes([f[26], f[27]]));
        let ip = &f[30..];
        assert_eq!(
            len,
            usize::from(u16::from_be_bytes([ip[2], ip[3]])) + 2,
            "PPPoE LENGTH = IPv4 total + 2"
        );
        &ip[..len - 2]
    }

    /// Checks an ICMP error datagram (checksums, addresses, type, code) and returns
    /// its second word and the quoted bytes.
    fn error(ip: &[u8], src: [u8; 4], dst: [u8; 4], ty: u8, code: u8) -> ([u8; 4], &[u8]) {
        assert_eq!(ip[0], 0x45);
        assert_eq!(usize::from(u16::from_be_bytes([ip[2], ip[3]])), ip.len());
        assert!(ip.len() <= 576, "RFC 1812 section 4.3.2.3");
        assert_eq!(ip[9], 1, "ICMP");
        assert_eq!(csum(&ip[..20]), 0, "IPv4 header checksum");
        assert_eq!(&ip[12..16], &src, "source");
        assert_eq!(&ip[16..20], &dst, "destination");
        let icmp = &ip[20..];
        assert_eq!(csum(icmp), 0, "ICMP checksum");
        assert_eq!((icmp[0], icmp[1]), (ty, code));
        (icmp[4..8].try_into().unwrap(), &icmp[8..])
    }

    fn up_frame(p: &[u8]) -> Vec<u8> {
        eth(
            GW_MAC,
            sub_mac(7),
            &[100, 200],
            0x8864,
            &pppoe(0x1234, 0x0021, p),
        )
    }

    /// A PPPoE session (QinQ, NAT44) that has sent one packet to HOST:53; returns
    /// the outside port of its mapping.
    fn setup<'p>(bng: &mut Bng<'p>, pool: &mut Pool<'p>) -> u16 {
        bng.add_route(default_route()).unwrap();
        bng.add_session(pppoe_session(7, 0x1234, [100, 200], [100, 64, 1, 7], true))
            .unwrap();
        let up = udp([100, 64, 1, 7], HOST, 5000, 53, b"query");
        let [_, to_up] = step(bng, pool, &[(0, up_frame(&up))]);
        assert_eq!(to_up.len(), 1);
        u16::from_be_bytes([to_up[0][34], to_up[0][35]])
    }

    #[test]
    fn upstream_ttl_expiry_gets_time_exceeded_back_over_pppoe() {
        let mut nt = nat_tables();
        let mut bng = Bng::new(cfg(), Some(&mut nt)).unwrap();
        let mut arena = Arena::new(256);
        let mut pool = arena.pool();
        setup(&mut bng, &mut pool);
        let sent = ttl_df(udp([100, 64, 1, 7], HOST, 5000, 53, b"query"), 1, false);
        let [to_access, to_up] = step(&mut bng, &mut pool, &[(0, up_frame(&sent))]);
        assert!(to_up.is_empty(), "not forwarded");
        assert_eq!(to_access.len(), 1, "{:?}", bng.counter_rows());
        let f = &to_access[0];
        assert_eq!(&f[..6], &sub_mac(7));
        assert_eq!(&f[6..12], &GW_MAC);
        assert_eq!(&f[12..14], &[0x88, 0xa8]);
        let ip = pppoe_ip(f);
        // from our access address to the subscriber, quoting its packet as sent
        let (word, quoted) = error(ip, GW, [100, 64, 1, 7], 11, 0);
        assert_eq!(word, [0; 4]);
        assert_eq!(quoted, &sent[..]);
        assert_eq!(row(&bng, "icmp-error", "next.subscriber-output"), 1);
        assert_eq!(pool.available(), pool.capacity());
    }

    #[test]
    fn downstream_ttl_expiry_through_nat_gets_time_exceeded_quoting_the_outside_view() {
        for trace in [false, true] {
            downstream_expiry(trace);
        }
    }

    fn downstream_expiry(trace: bool) {
        let mut nt = nat_tables();
        let mut bng = Bng::new(cfg_trace(trace), Some(&mut nt)).unwrap();
        let mut arena = Arena::new(256);
        let mut pool = arena.pool();
        let port = setup(&mut bng, &mut pool);
        let back = ttl_df(udp(HOST, POOL, 53, port, b"answer"), 1, false);
        let f = eth(UP_MAC, ROUTER_MAC, &[], 0x0800, &back);
        let [to_access, to_up] = step(&mut bng, &mut pool, &[(1, f)]);
        assert!(to_access.is_empty(), "not forwarded");
        assert_eq!(to_up.len(), 1, "{:?}", bng.counter_rows());
        let f = &to_up[0];
        assert_eq!(&f[..6], &ROUTER_MAC);
        assert_eq!(&f[12..14], &[8, 0]);
        // RFC 5508 section 4.2: translated back, so the host sees its own packet to
        // the pool address quoted, from the pool address
        let (_, quoted) = error(&f[14..], POOL, HOST, 11, 0);
        assert_eq!(quoted, &back[..]);
        assert_eq!(row(&bng, "icmp-error", "next.ip4-lookup"), 1);
        assert_eq!(pool.available(), pool.capacity());
    }

    /// [`cfg`] with the trace on (`on`): the node-by-node path instead of the fused
    /// passes.
    fn cfg_trace(on: bool) -> BngConfig {
        let mut c = cfg();
        c.trace = if on { 64 } else { 0 };
        c
    }

    #[test]
    fn df_packet_over_the_pppoe_mtu_gets_fragmentation_needed() {
        for trace in [false, true] {
            df_over_mtu(trace);
        }
    }

    fn df_over_mtu(trace: bool) {
        let mut nt = nat_tables();
        let mut bng = Bng::new(cfg_trace(trace), Some(&mut nt)).unwrap();
        let mut arena = Arena::new(256);
        let mut pool = arena.pool();
        let port = setup(&mut bng, &mut pool);
        let big = ttl_df(udp(HOST, POOL, 53, port, &[0x5a; 1472]), 64, true);
        assert_eq!(big.len(), 1500);
        let f = eth(UP_MAC, ROUTER_MAC, &[], 0x0800, &big);
        let [to_access, to_up] = step(&mut bng, &mut pool, &[(1, f)]);
        assert!(to_access.is_empty());
        assert_eq!(to_up.len(), 1, "{:?}", bng.counter_rows());
        let (word, quoted) = error(&to_up[0][14..], POOL, HOST, 3, 4);
        assert_eq!(
            word,
            [0, 0, 0x05, 0xd4],
            "next-hop MTU 1492 (RFC 1191 section 4)"
        );
        assert_eq!(quoted, &big[..548], "as much as fits 576 bytes");
        // at the MTU it passes whole
        let fits = ttl_df(udp(HOST, POOL, 53, port, &[0x5a; 1464]), 64, true);
        let f = eth(UP_MAC, ROUTER_MAC, &[], 0x0800, &fits);
        let [to_access, _] = step(&mut bng, &mut pool, &[(1, f)]);
        assert_eq!(to_access.len(), 1);
        assert_eq!(pppoe_ip(&to_access[0]).len(), 1492);
        assert_eq!(pool.available(), pool.capacity());
    }

    #[test]
    fn packet_over_the_pppoe_mtu_without_df_is_fragmented() {
        for trace in [false, true] {
            fragmented(trace);
        }
    }

    fn fragmented(trace: bool) {
        let mut nt = nat_tables();
        let mut bng = Bng::new(cfg_trace(trace), Some(&mut nt)).unwrap();
        let mut arena = Arena::new(256);
        let mut pool = arena.pool();
        let port = setup(&mut bng, &mut pool);
        let payload: Vec<u8> = (0..1472u32).map(|i| (i * 7) as u8).collect();
        let one = udp(HOST, POOL, 53, port, &payload[..1472]);
        let f = eth(UP_MAC, ROUTER_MAC, &[], 0x0800, &one);
        let [to_access, to_up] = step(&mut bng, &mut pool, &[(1, f)]);
        assert!(to_up.is_empty());
        assert_eq!(to_access.len(), 2, "{:?}", bng.counter_rows());
        let (a, b) = (pppoe_ip(&to_access[0]), pppoe_ip(&to_access[1]));
        for ip in [a, b] {
            assert!(ip.len() <= 1492);
            assert_eq!(csum(&ip[..20]), 0);
            assert_eq!(&ip[16..20], &[100, 64, 1, 7], "translated");
            assert_eq!(ip[8], 63, "TTL decremented once");
        }
        // RFC 791 section 3.2: first MF set at offset 0, the rest at 1472/8
        assert_eq!(u16::from_be_bytes([a[6], a[7]]), 0x2000);
        assert_eq!(a.len(), 20 + 1472);
        assert_eq!(u16::from_be_bytes([b[6], b[7]]), 1472 / 8);
        // reassembled: the translated datagram's payload
        let mut whole = a[20..].to_vec();
        whole.extend_from_slice(&b[20..]);
        assert_eq!(whole.len(), 8 + 1472);
        assert_eq!(&whole[8..], &payload[..1472]);
        assert_eq!(
            u16::from_be_bytes([whole[2], whole[3]]),
            5000,
            "inside port"
        );
        assert_eq!(row(&bng, "ip4-fragment", "fragmented"), 1);
        assert_eq!(row(&bng, "ip4-fragment", "fragments"), 2);
        // no free buffer for the second fragment: the packet is dropped and counted,
        // every buffer comes back
        let held: Vec<_> = (1..pool.available())
            .map(|_| pool.alloc().unwrap())
            .collect();
        let f = eth(UP_MAC, ROUTER_MAC, &[], 0x0800, &one);
        let [to_access, to_up] = step(&mut bng, &mut pool, &[(1, f)]);
        assert!(to_access.is_empty() && to_up.is_empty());
        assert_eq!(row(&bng, "ip4-fragment", "dropped"), 1);
        for p in held {
            pool.free(p);
        }
        // an IPoE subscriber's link takes 1500 bytes: not fragmented
        bng.add_session(ipoe_session(8, [0, 0], [100, 64, 2, 8], false))
            .unwrap();
        let p = udp(HOST, [100, 64, 2, 8], 53, 5000, &payload[..1472]);
        let f = eth(UP_MAC, ROUTER_MAC, &[], 0x0800, &p);
        let [to_access, _] = step(&mut bng, &mut pool, &[(1, f)]);
        assert_eq!(to_access.len(), 1);
        assert_eq!(to_access[0].len(), 14 + 1500);
        assert_eq!(pool.available(), pool.capacity());
    }

    #[test]
    fn no_error_about_errors_fragments_or_broadcast_and_within_the_rate_limit() {
        let mut nt = nat_tables();
        let mut c = cfg();
        c.icmp = IcmpLimit {
            per_sec: 10,
            burst: 2,
        };
        let mut bng = Bng::new(c, Some(&mut nt)).unwrap();
        let mut arena = Arena::new(256);
        let mut pool = arena.pool();
        setup(&mut bng, &mut pool);
        let expired = |p: Vec<u8>| up_frame(&ttl_df(p, 1, false));
        // an ICMP error (destination unreachable) with TTL 1: no error about it
        let mut unreach = udp([100, 64, 1, 7], HOST, 5000, 53, b"xxxxxxxx");
        unreach[9] = 1;
        unreach[20] = 3;
        // a non-first fragment
        let mut frag = udp([100, 64, 1, 7], HOST, 5000, 53, b"query");
        frag[7] = 1;
        // to a multicast group
        let group = udp([100, 64, 1, 7], [224, 0, 0, 251], 5353, 5353, b"mdns");
        let [to_access, _] = step(
            &mut bng,
            &mut pool,
            &[
                (0, expired(unreach)),
                (0, expired(frag)),
                (0, expired(group)),
            ],
        );
        assert!(to_access.is_empty());
        assert_eq!(row(&bng, "icmp-error", "drop.about-icmp-error"), 1);
        assert_eq!(row(&bng, "icmp-error", "drop.not-first-fragment"), 1);
        assert_eq!(row(&bng, "icmp-error", "drop.bad-address"), 1);
        // five expired packets at once: the burst of 2 answered, 3 over the limit
        let five: Vec<_> = (0..5)
            .map(|i| (0, expired(udp([100, 64, 1, 7], HOST, 5000 + i, 53, b"q"))))
            .collect();
        let [to_access, _] = step(&mut bng, &mut pool, &five);
        assert_eq!(to_access.len(), 2);
        assert_eq!(row(&bng, "icmp-error", "drop.rate-limited"), 3);
        // 100 ms later one more token (10 a second)
        let at = Duration::from_millis(1100);
        let [to_access, _] = step_at(&mut bng, &mut pool, at, &five);
        assert_eq!(to_access.len(), 1);
        assert_eq!(pool.available(), pool.capacity());
    }

    #[test]
    fn with_icmp_off_expired_and_too_big_packets_are_dropped_as_before() {
        let mut nt = nat_tables();
        let mut c = cfg();
        c.icmp.per_sec = 0;
        let mut bng = Bng::new(c, Some(&mut nt)).unwrap();
        let mut arena = Arena::new(256);
        let mut pool = arena.pool();
        let port = setup(&mut bng, &mut pool);
        let sent = ttl_df(udp([100, 64, 1, 7], HOST, 5000, 53, b"query"), 1, false);
        let big = ttl_df(udp(HOST, POOL, 53, port, &[0; 1472]), 64, true);
        let [a, u] = step(&mut bng, &mut pool, &[(0, up_frame(&sent))]);
        assert!(a.is_empty() && u.is_empty());
        let [a, u] = step(
            &mut bng,
            &mut pool,
            &[(1, eth(UP_MAC, ROUTER_MAC, &[], 0x0800, &big))],
        );
        assert!(a.is_empty() && u.is_empty());
        assert_eq!(row(&bng, "ip4-lookup", "drop.ttl-expired"), 1);
        assert_eq!(row(&bng, "subscriber-output", "drop.too-big"), 1);
        assert_eq!(pool.available(), pool.capacity());
    }
}
