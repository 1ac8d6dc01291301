//! RFC behaviour as packet sequences on a virtual clock: EIM (RFC 4787 REQ-1), EIF /
//! ADF (REQ-8), paired pooling (REQ-2), hairpinning (REQ-9), ICMP error translation
//! (RFC 5508 section 4.2), timeouts (RFC 5382 REQ-5, RFC 7857 section 2, RFC 4787
//! REQ-5, RFC 5508 REQ-1), port blocks and their events, deterministic NAT (RFC 7422).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::many_single_char_names,
    clippy::similar_names,
    clippy::cast_possible_truncation,
    reason = "tests"
)]

mod common;

use core::net::Ipv4Addr;
use core::time::Duration;

use bng_nat44::wire::{IcmpType, Ipv4Packet, TcpFlags};
use bng_nat44::{
    Config, Deterministic, DropReason, Event, Filtering, Mode, PortBlock, PortRange, Verdict,
};
use common::*;

const T0: Duration = Duration::from_secs(1000);

fn at(s: u64) -> Duration {
    T0 + Duration::from_secs(s)
}

#[test]
fn endpoint_independent_mapping_and_paired_pooling() {
    let c = cfg();
    let mut o = Owned::new(&c, 64, 16);
    let mut nat = o.nat(c);
    let mut p1 = udp("10.0.0.1:5000", "203.0.113.1:53", b"q1");
    assert_eq!(nat.in2out(T0, &mut p1), Verdict::Forward);
    assert_checksums(&p1);
    let (x1, _) = ends(&p1);
    assert!(x1.port() >= 1024);
    let (pool, n) = c.pool();
    assert!((u32::from(*x1.ip()) - u32::from(pool)) < n);
    // Same inside endpoint, other destination: same outside endpoint (REQ-1).
    let mut p2 = udp("10.0.0.1:5000", "203.0.113.2:123", b"q2");
    assert_eq!(nat.in2out(T0, &mut p2), Verdict::Forward);
    assert_eq!(ends(&p2).0, x1);
    // Other port of the same subscriber: same outside address (REQ-2), other port.
    let mut p3 = tcp("10.0.0.1:40000", "203.0.113.1:443", TcpFlags::SYN);
    assert_eq!(nat.in2out(T0, &mut p3), Verdict::Forward);
    assert_checksums(&p3);
    let (x3, _) = ends(&p3);
    assert_eq!(x3.ip(), x1.ip());
    assert_eq!(nat.outside_of(17, ep("10.0.0.1:5000")), Some(x1));
    assert_eq!(nat.inside_of(17, x1), Some(ep("10.0.0.1:5000")));
    assert_eq!(nat.session_count(), 3);
    assert_eq!(nat.mapping_count(), 2);
}

#[test]
fn endpoint_independent_filtering_accepts_any_remote() {
    let c = cfg();
    let mut o = Owned::new(&c, 64, 16);
    let mut nat = o.nat(c);
    let mut p = udp("10.0.0.1:5000", "203.0.113.1:3478", b"stun");
    assert_eq!(nat.in2out(T0, &mut p), Verdict::Forward);
    let (x, _) = ends(&p);
    // A host the subscriber never talked to reaches the mapping (EIF).
    let mut r = udp("192.0.2.77:9999", &x.to_string(), b"hello");
    assert_eq!(nat.out2in(at(1), &mut r), Verdict::Forward);
    assert_checksums(&r);
    assert_eq!(ends(&r), (ep("192.0.2.77:9999"), ep("10.0.0.1:5000")));
    // No mapping at all: dropped.
    let mut r = udp(
        "192.0.2.77:9999",
        &format!("{}:{}", x.ip(), x.port() ^ 1),
        b"x",
    );
    let before = r.clone();
    assert_eq!(
        nat.out2in(at(1), &mut r),
        Verdict::Drop(DropReason::NoMapping)
    );
    assert_eq!(r, before, "a dropped packet is left unchanged");
    assert_eq!(nat.stats().drops[DropReason::NoMapping.index()], 1);
}

#[test]
fn address_dependent_filtering_denies_unknown_addresses() {
    let c = Config {
        filtering: Filtering::AddressDependent,
        ..cfg()
    };
    let mut o = Owned::new(&c, 64, 16);
    let mut nat = o.nat(c);
    let mut p = udp("10.0.0.1:5000", "203.0.113.1:3478", b"stun");
    assert_eq!(nat.in2out(T0, &mut p), Verdict::Forward);
    let x = ends(&p).0.to_string();
    let mut r = udp("192.0.2.77:9999", &x, b"hello");
    assert_eq!(
        nat.out2in(at(1), &mut r),
        Verdict::Drop(DropReason::Filtered)
    );
    // Same address, other port: allowed (address-dependent, not port-dependent).
    let mut r = udp("203.0.113.1:3479", &x, b"change-port");
    assert_eq!(nat.out2in(at(1), &mut r), Verdict::Forward);
    assert_eq!(ends(&r).1, ep("10.0.0.1:5000"));
}

#[test]
fn hairpinning_between_two_subscribers() {
    let c = cfg();
    let mut o = Owned::new(&c, 64, 16);
    let mut nat = o.nat(c);
    // A opens a mapping by talking to a server.
    let mut p = udp("10.0.0.1:5000", "203.0.113.1:3478", b"stun");
    assert_eq!(nat.in2out(T0, &mut p), Verdict::Forward);
    let xa = ends(&p).0;
    // B sends to A's outside endpoint: hairpinned back inside, source is B's
    // outside endpoint (RFC 4787 REQ-9 "external source IP address and port").
    let mut h = udp("10.0.0.2:6000", &xa.to_string(), b"hi A");
    assert_eq!(nat.in2out(at(1), &mut h), Verdict::Hairpin);
    assert_checksums(&h);
    let (xb, dst) = ends(&h);
    assert_eq!(dst, ep("10.0.0.1:5000"));
    assert_eq!(Some(xb), nat.outside_of(17, ep("10.0.0.2:6000")));
    // A answers to B's outside endpoint: hairpinned to B, source A's outside endpoint.
    let mut r = udp("10.0.0.1:5000", &xb.to_string(), b"hi B");
    assert_eq!(nat.in2out(at(2), &mut r), Verdict::Hairpin);
    assert_checksums(&r);
    assert_eq!(ends(&r), (xa, ep("10.0.0.2:6000")));
    assert_eq!(nat.stats().hairpin, 2);
}

#[test]
fn icmp_error_out2in_translates_the_embedded_datagram() {
    let c = cfg();
    let mut o = Owned::new(&c, 64, 16);
    let mut nat = o.nat(c);
    let orig = udp("10.0.0.1:5000", "203.0.113.1:53", b"query");
    let mut p = orig.clone();
    assert_eq!(nat.in2out(T0, &mut p), Verdict::Forward);
    let x = ends(&p).0;
    // A router on the way reports port unreachable, quoting the whole datagram.
    for quote in [p.len(), 28] {
        let mut e = icmp_error(
            "192.0.2.254:0",
            &format!("{}:0", x.ip()),
            IcmpType::DEST_UNREACHABLE,
            3,
            &p,
            quote,
        );
        assert_eq!(nat.out2in(at(1), &mut e), Verdict::Forward);
        assert_checksums(&e);
        let v = Ipv4Packet::new_checked(&e[..]).unwrap();
        assert_eq!(v.dst_addr(), Ipv4Addr::new(10, 0, 0, 1));
        // The embedded datagram is the original one again (up to the quote).
        let inner = &e[28..];
        assert_eq!(inner, &orig[..quote], "quote {quote}");
        let iv = Ipv4Packet::new_checked(inner).unwrap_or_else(|_| {
            // a truncated quote: check the header alone
            Ipv4Packet::new_checked(&orig[..]).unwrap()
        });
        assert!(iv.verify_checksum());
    }
    assert_eq!(nat.stats().icmp_errors, 2);
    // An echo request that dies on the way: time exceeded quoting the ICMP query.
    let mut q = echo("10.0.0.1:0", "203.0.113.9:0", 0x4242, true);
    let q0 = q.clone();
    assert_eq!(nat.in2out(at(2), &mut q), Verdict::Forward);
    assert_checksums(&q);
    let xq = ends(&q).0;
    assert_eq!(xq.ip(), x.ip());
    let mut e = icmp_error(
        "192.0.2.254:0",
        &format!("{}:0", x.ip()),
        IcmpType::TIME_EXCEEDED,
        0,
        &q,
        q.len(),
    );
    assert_eq!(nat.out2in(at(3), &mut e), Verdict::Forward);
    assert_checksums(&e);
    assert_eq!(&e[28..], &q0[..]);
    // An error about a flow the NAT never saw is dropped.
    let stray = udp(&format!("{}:7777", x.ip()), "203.0.113.1:53", b"?");
    let mut e = icmp_error(
        "192.0.2.254:0",
        &format!("{}:0", x.ip()),
        IcmpType::DEST_UNREACHABLE,
        3,
        &stray,
        28,
    );
    assert_eq!(
        nat.out2in(at(3), &mut e),
        Verdict::Drop(DropReason::NoMapping)
    );
}

#[test]
fn icmp_error_in2out_translates_the_embedded_datagram() {
    let c = cfg();
    let mut o = Owned::new(&c, 64, 16);
    let mut nat = o.nat(c);
    let mut p = udp("10.0.0.1:5000", "203.0.113.1:53", b"query");
    assert_eq!(nat.in2out(T0, &mut p), Verdict::Forward);
    let x = ends(&p).0;
    let mut r = udp("203.0.113.1:53", &x.to_string(), b"answer");
    let on_wire = r.clone();
    assert_eq!(nat.out2in(at(1), &mut r), Verdict::Forward);
    // The subscriber reports the answer's port as unreachable.
    let mut e = icmp_error(
        "10.0.0.1:0",
        "203.0.113.1:0",
        IcmpType::DEST_UNREACHABLE,
        3,
        &r,
        r.len(),
    );
    assert_eq!(nat.in2out(at(2), &mut e), Verdict::Forward);
    assert_checksums(&e);
    assert_eq!(ends(&e).0.ip(), x.ip());
    assert_eq!(
        &e[28..],
        &on_wire[..],
        "the quote shows the datagram as it was outside"
    );
}

#[test]
fn icmp_echo_round_trip_and_timeout() {
    let c = cfg();
    let mut o = Owned::new(&c, 64, 16);
    let mut nat = o.nat(c);
    let mut q = echo("10.0.0.1:0", "203.0.113.9:0", 77, true);
    assert_eq!(nat.in2out(T0, &mut q), Verdict::Forward);
    assert_checksums(&q);
    let x = ends(&q).0;
    let mut r = echo(
        &format!("203.0.113.9:{}", x.port()),
        &x.to_string(),
        x.port(),
        false,
    );
    assert_eq!(nat.out2in(at(59), &mut r), Verdict::Forward);
    assert_checksums(&r);
    assert_eq!(ends(&r).1, ep("10.0.0.1:77"));
    // 60 s after the last packet (RFC 5508 REQ-1) the session is gone.
    let mut r = echo(
        &format!("203.0.113.9:{}", x.port()),
        &x.to_string(),
        x.port(),
        false,
    );
    assert_eq!(
        nat.out2in(at(59 + 60), &mut r),
        Verdict::Drop(DropReason::NoMapping)
    );
}

#[test]
fn udp_timeout_and_zero_checksum() {
    let c = cfg();
    let mut o = Owned::new(&c, 64, 16);
    let mut nat = o.nat(c);
    let mut p = udp_nocsum("10.0.0.1:5000", "203.0.113.1:53", b"no checksum");
    assert_eq!(nat.in2out(T0, &mut p), Verdict::Forward);
    assert_eq!(
        &p[26..28],
        &[0, 0],
        "RFC 768: a zero UDP checksum stays zero"
    );
    let x = ends(&p).0.to_string();
    let mut r = udp("203.0.113.1:53", &x, b"a");
    assert_eq!(nat.out2in(at(299), &mut r), Verdict::Forward);
    // Inbound refreshed it at 299: alive until 599.
    let mut r = udp("203.0.113.1:53", &x, b"b");
    assert_eq!(nat.out2in(at(598), &mut r), Verdict::Forward);
    let mut r = udp("203.0.113.1:53", &x, b"c");
    assert_eq!(
        nat.out2in(at(598 + 300), &mut r),
        Verdict::Drop(DropReason::NoMapping)
    );
    assert_eq!(nat.session_count(), 0, "lazy expiry removed it");
    assert!(c.validate().is_ok());
    let short = Config {
        timeouts: bng_nat44::Timeouts {
            udp: Duration::from_secs(119),
            ..Default::default()
        },
        ..c
    };
    assert!(
        short.validate().is_err(),
        "UDP under 2 min (RFC 4787 REQ-5)"
    );
}

#[test]
fn tcp_established_transitory_and_rst() {
    let c = cfg();
    let mut o = Owned::new(&c, 64, 16);
    let mut nat = o.nat(c);
    let syn_ack = TcpFlags::SYN | TcpFlags::ACK;
    // Established: 2 h 4 min idle.
    let mut s = tcp("10.0.0.1:40000", "203.0.113.1:443", TcpFlags::SYN);
    assert_eq!(nat.in2out(T0, &mut s), Verdict::Forward);
    let x = ends(&s).0.to_string();
    let mut sa = tcp("203.0.113.1:443", &x, syn_ack);
    assert_eq!(nat.out2in(at(1), &mut sa), Verdict::Forward);
    assert_checksums(&sa);
    let mut a = tcp("10.0.0.1:40000", "203.0.113.1:443", TcpFlags::ACK);
    assert_eq!(nat.in2out(at(2), &mut a), Verdict::Forward);
    let mut d = tcp("203.0.113.1:443", &x, TcpFlags::ACK);
    assert_eq!(nat.out2in(at(2 + 7439), &mut d), Verdict::Forward);
    let mut d = tcp("203.0.113.1:443", &x, TcpFlags::ACK);
    assert_eq!(
        nat.out2in(at(2 + 7439 + 7440), &mut d),
        Verdict::Drop(DropReason::NoMapping)
    );

    // Transitory: a SYN never answered lives 4 minutes.
    let mut s = tcp("10.0.0.1:40001", "203.0.113.1:443", TcpFlags::SYN);
    assert_eq!(nat.in2out(T0, &mut s), Verdict::Forward);
    let x = ends(&s).0.to_string();
    let mut sa = tcp("203.0.113.1:443", &x, syn_ack);
    assert_eq!(
        nat.out2in(at(240), &mut sa),
        Verdict::Drop(DropReason::NoMapping)
    );

    // RST: translated, then the session waits 4 minutes (RFC 7857 section 2.2).
    let mut s = tcp("10.0.0.1:40002", "203.0.113.1:443", TcpFlags::SYN);
    assert_eq!(nat.in2out(T0, &mut s), Verdict::Forward);
    let x = ends(&s).0.to_string();
    let mut sa = tcp("203.0.113.1:443", &x, syn_ack);
    assert_eq!(nat.out2in(at(1), &mut sa), Verdict::Forward);
    let mut rst = tcp("203.0.113.1:443", &x, TcpFlags::RST);
    assert_eq!(nat.out2in(at(2), &mut rst), Verdict::Forward);
    assert_checksums(&rst);
    let mut late = tcp("203.0.113.1:443", &x, TcpFlags::ACK);
    assert_eq!(nat.out2in(at(200), &mut late), Verdict::Forward);
    let mut late = tcp("203.0.113.1:443", &x, TcpFlags::ACK);
    assert_eq!(
        nat.out2in(at(200 + 240), &mut late),
        Verdict::Drop(DropReason::NoMapping)
    );

    // Both FINs: transitory.
    let mut s = tcp("10.0.0.1:40003", "203.0.113.1:443", TcpFlags::SYN);
    assert_eq!(nat.in2out(T0, &mut s), Verdict::Forward);
    let x = ends(&s).0.to_string();
    for (out, f) in [
        (false, syn_ack),
        (true, TcpFlags::FIN | TcpFlags::ACK),
        (false, TcpFlags::FIN | TcpFlags::ACK),
    ] {
        let mut p = if out {
            tcp("10.0.0.1:40003", "203.0.113.1:443", f)
        } else {
            tcp("203.0.113.1:443", &x, f)
        };
        let v = if out {
            nat.in2out(at(1), &mut p)
        } else {
            nat.out2in(at(1), &mut p)
        };
        assert_eq!(v, Verdict::Forward);
    }
    let mut a = tcp("10.0.0.1:40003", "203.0.113.1:443", TcpFlags::ACK);
    assert_eq!(
        nat.in2out(at(1 + 240), &mut a),
        Verdict::Forward,
        "a new session after expiry"
    );
}

#[test]
fn port_blocks_allocated_on_first_use_and_released_with_events() {
    let c = Config {
        mode: Mode::PortBlock(PortBlock {
            pool_first: POOL,
            pool_len: 2,
            block_size: 16,
            max_blocks: 2,
        }),
        ..cfg()
    };
    let mut o = Owned::new(&c, 256, 8);
    let mut nat = o.nat(c);
    let mut outs = Vec::new();
    for i in 0..32u16 {
        let mut p = udp(&format!("10.0.0.1:{}", 2000 + i), "203.0.113.1:53", b"q");
        assert_eq!(
            nat.in2out(T0 + Duration::from_secs(u64::from(i)), &mut p),
            Verdict::Forward
        );
        outs.push(ends(&p).0);
    }
    let mut p = udp("10.0.0.1:3000", "203.0.113.1:53", b"q");
    assert_eq!(
        nat.in2out(at(40), &mut p),
        Verdict::Drop(DropReason::PortsExhausted)
    );
    // Two blocks, two events, every outside port distinct and inside the blocks.
    let mut blocks = [PortRange { first: 0, last: 0 }; 4];
    assert_eq!(nat.blocks_of(Ipv4Addr::new(10, 0, 0, 1), &mut blocks), 2);
    let evs: Vec<_> = core::iter::from_fn(|| nat.poll_event()).collect();
    assert_eq!(evs.len(), 2);
    for (e, b) in evs.iter().zip(&blocks) {
        let Event::BlockAllocated(e) = e else {
            panic!("{e:?}")
        };
        assert_eq!(e.subscriber, Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(e.ports, *b);
        assert!(e.ports.first >= 1024 && e.ports.len() == 16);
    }
    let mut ports: Vec<_> = outs.iter().map(core::net::SocketAddrV4::port).collect();
    ports.sort_unstable();
    ports.dedup();
    assert_eq!(ports.len(), 32);
    assert!(
        outs.iter()
            .all(|x| blocks[..2].iter().any(|b| b.contains(x.port())))
    );
    // Everything expires: the sweep releases both blocks, with events.
    let t = at(31 + 300);
    let mut deadline = nat.poll_timeout().unwrap();
    while nat.session_count() > 0 {
        deadline = deadline.max(t);
        nat.handle_timeout(deadline);
        deadline = nat.poll_timeout().unwrap_or(deadline);
    }
    let evs: Vec<_> = core::iter::from_fn(|| nat.poll_event()).collect();
    assert_eq!(evs.len(), 2);
    assert!(
        evs.iter()
            .all(|e| matches!(e, Event::BlockReleased(b) if b.at >= t))
    );
    assert_eq!(nat.subscriber_count(), 0);
    assert_eq!(nat.mapping_count(), 0);
    assert_eq!(nat.stats().blocks_released, 2);
}

#[test]
fn block_lives_while_any_session_of_it_does() {
    let c = Config {
        mode: Mode::PortBlock(PortBlock {
            pool_first: POOL,
            pool_len: 1,
            block_size: 64,
            max_blocks: 1,
        }),
        ..cfg()
    };
    let mut o = Owned::new(&c, 64, 8);
    let mut nat = o.nat(c);
    let mut u = udp("10.0.0.1:2000", "203.0.113.1:53", b"q");
    assert_eq!(nat.in2out(T0, &mut u), Verdict::Forward);
    let mut s = tcp("10.0.0.1:2001", "203.0.113.1:443", TcpFlags::SYN);
    assert_eq!(nat.in2out(T0, &mut s), Verdict::Forward);
    let x = ends(&s).0.to_string();
    let mut sa = tcp("203.0.113.1:443", &x, TcpFlags::SYN | TcpFlags::ACK);
    assert_eq!(nat.out2in(at(1), &mut sa), Verdict::Forward);
    assert!(matches!(nat.poll_event(), Some(Event::BlockAllocated(_))));
    nat.handle_timeout(at(1000)); // UDP gone, TCP established stays
    assert_eq!(nat.session_count(), 1);
    assert_eq!(nat.poll_event(), None);
    nat.handle_timeout(at(1 + 7440));
    assert_eq!(nat.session_count(), 0);
    assert!(matches!(nat.poll_event(), Some(Event::BlockReleased(_))));
}

#[test]
fn session_limit_and_log_backpressure() {
    let c = Config {
        max_sessions_per_subscriber: 3,
        ..cfg()
    };
    let mut o = Owned::new(&c, 64, 1);
    let mut nat = o.nat(c);
    for i in 0..3 {
        let mut p = udp("10.0.0.1:5000", &format!("203.0.113.{}:53", i + 1), b"q");
        assert_eq!(nat.in2out(T0, &mut p), Verdict::Forward);
    }
    let mut p = udp("10.0.0.1:5000", "203.0.113.9:53", b"q");
    assert_eq!(
        nat.in2out(T0, &mut p),
        Verdict::Drop(DropReason::SessionLimit)
    );
    // The event queue (one slot) holds the first allocation; a second subscriber's
    // allocation is refused rather than left unlogged.
    let mut p = udp("10.0.0.2:5000", "203.0.113.1:53", b"q");
    assert_eq!(
        nat.in2out(T0, &mut p),
        Verdict::Drop(DropReason::LogBackpressure)
    );
    assert!(nat.poll_event().is_some());
    let mut p = udp("10.0.0.2:5000", "203.0.113.1:53", b"q");
    assert_eq!(nat.in2out(T0, &mut p), Verdict::Forward);
}

#[test]
fn deterministic_nat_uses_the_computed_range() {
    let det = Deterministic::new(
        Ipv4Addr::new(100, 64, 0, 0),
        256,
        Ipv4Addr::new(198, 51, 100, 8),
        2,
    )
    .unwrap();
    let c = Config::deterministic(det);
    let mut o = Owned::new(&c, 64, 4);
    let mut nat = o.nat(c);
    for host in [1u8, 200] {
        let inside = Ipv4Addr::new(100, 64, 0, host);
        let (addr, range) = det.forward(inside).unwrap();
        for port in [1000u16, 1001, 55555] {
            let mut p = udp(&format!("{inside}:{port}"), "203.0.113.1:53", b"q");
            assert_eq!(nat.in2out(T0, &mut p), Verdict::Forward);
            let x = ends(&p).0;
            assert_eq!(*x.ip(), addr);
            assert!(range.contains(x.port()));
            assert_eq!(det.reverse(*x.ip(), x.port()), Some(inside));
        }
    }
    assert_eq!(
        nat.poll_event(),
        None,
        "no per-session or per-block log (RFC 7422)"
    );
    let mut p = udp("100.64.1.0:1000", "203.0.113.1:53", b"q");
    assert_eq!(
        nat.in2out(T0, &mut p),
        Verdict::Drop(DropReason::NotSubscriber)
    );
}

/// Splits an unfragmented datagram into two fragments at `cut` payload bytes (a
/// multiple of 8), with correct IPv4 header checksums (RFC 791 section 3.2).
fn split(p: &[u8], cut: usize) -> (Vec<u8>, Vec<u8>) {
    let fix = |mut v: Vec<u8>, len: usize, frag: u16| {
        v[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        v[6..8].copy_from_slice(&frag.to_be_bytes());
        v[10..12].copy_from_slice(&[0, 0]);
        let c = bng_nat44::checksum::checksum(&v[..20]);
        v[10..12].copy_from_slice(&c.to_be_bytes());
        v
    };
    let mut a = p[..20 + cut].to_vec();
    a = fix(a, 20 + cut, 0x2000);
    let mut b = p[..20].to_vec();
    b.extend_from_slice(&p[20 + cut..]);
    let n = b.len();
    (a, fix(b, n, (cut / 8) as u16))
}

fn reassemble(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut v = a.to_vec();
    v.extend_from_slice(&b[20..]);
    let n = v.len() as u16;
    v[2..4].copy_from_slice(&n.to_be_bytes());
    v[6..8].copy_from_slice(&[0, 0]);
    v[10..12].copy_from_slice(&[0, 0]);
    let c = bng_nat44::checksum::checksum(&v[..20]);
    v[10..12].copy_from_slice(&c.to_be_bytes());
    v
}

#[test]
fn fragments_follow_the_first_fragment() {
    let c = cfg();
    let mut o = Owned::new(&c, 16, 4);
    let mut nat = o.nat(c);
    let payload = [0xa5u8; 100];
    let whole = udp("10.0.0.1:5000", "203.0.113.1:53", &payload);
    let (mut f1, mut f2) = split(&whole, 48);
    // A later fragment before its first one: dropped and counted.
    let mut early = f2.clone();
    assert_eq!(
        nat.in2out(T0, &mut early),
        Verdict::Drop(DropReason::Fragment)
    );
    assert_eq!(nat.in2out(T0, &mut f1), Verdict::Forward);
    assert_eq!(nat.in2out(T0, &mut f2), Verdict::Forward);
    assert_eq!(nat.stats().fragments, 1);
    let out = reassemble(&f1, &f2);
    assert_checksums(&out);
    let x = ends(&out).0;
    assert_eq!(Some(x), nat.outside_of(17, ep("10.0.0.1:5000")));
    // The reply, fragmented too, comes back to the subscriber.
    let reply = udp("203.0.113.1:53", &x.to_string(), &payload);
    let (mut r1, mut r2) = split(&reply, 8);
    assert_eq!(nat.out2in(at(1), &mut r1), Verdict::Forward);
    assert_eq!(nat.out2in(at(1), &mut r2), Verdict::Forward);
    let back = reassemble(&r1, &r2);
    assert_checksums(&back);
    assert_eq!(ends(&back).1, ep("10.0.0.1:5000"));
    // After FRAG_TIMEOUT the entry no longer applies.
    let (_, mut r2b) = split(&reply, 8);
    assert_eq!(
        nat.out2in(at(1 + u64::from(bng_nat44::nat::FRAG_TIMEOUT)), &mut r2b),
        Verdict::Drop(DropReason::Fragment)
    );
    let mut bad = udp("10.0.0.1:5000", "203.0.113.1:53", b"q");
    bad[10] ^= 1;
    assert_eq!(
        nat.in2out(T0, &mut bad),
        Verdict::Drop(DropReason::BadChecksum)
    );
}

#[test]
fn batch_translation_matches_single() {
    let c = cfg();
    let mut o = Owned::new(&c, 64, 16);
    let mut nat = o.nat(c);
    let mut bufs: Vec<Vec<u8>> = (0..8)
        .map(|i| udp(&format!("10.0.0.{}:5000", i + 1), "203.0.113.1:53", b"q"))
        .collect();
    let mut refs: Vec<&mut [u8]> = bufs.iter_mut().map(|b| &mut b[..]).collect();
    let mut v = vec![Verdict::Forward; 8];
    nat.translate_batch(T0, bng_nat44::Direction::InToOut, &mut refs, &mut v);
    assert!(v.iter().all(|v| *v == Verdict::Forward));
    for (i, b) in bufs.iter().enumerate() {
        assert_checksums(b);
        let inside = ep(&format!("10.0.0.{}:5000", i + 1));
        assert_eq!(Some(ends(b).0), nat.outside_of(17, inside));
    }
}

/// `warm_refs` hands out one index slot per packet and one session per packet that
/// has one (40 packets: more than a `BATCH_CHUNK`), and changes nothing.
#[test]
fn warm_refs_names_each_packets_slot_and_session() {
    let c = cfg();
    let mut o = Owned::new(&c, 64, 16);
    let mut nat = o.nat(c);
    let mut known: Vec<Vec<u8>> = (0..20)
        .map(|i| udp(&format!("10.0.0.{}:5000", i + 1), "203.0.113.1:53", b"q"))
        .collect();
    for b in &mut known {
        assert_eq!(nat.in2out(T0, b), Verdict::Forward);
        while nat.poll_event().is_some() {}
    }
    let pkts: Vec<Vec<u8>> = (0..20)
        .map(|i| udp(&format!("10.0.0.{}:5000", i + 1), "203.0.113.1:53", b"q"))
        .chain((0..20).map(|i| udp(&format!("10.0.1.{}:5000", i + 1), "203.0.113.1:53", b"q")))
        .collect();
    let (mut slots, mut sessions) = (0usize, 0usize);
    nat.warm_refs(
        bng_nat44::Direction::InToOut,
        pkts.iter().map(|p| &p[..]),
        |_| slots += 1,
        |_| sessions += 1,
    );
    assert_eq!(slots, 40);
    // a new flow's home slot may hold another flow's session: at least the 20 known
    assert!(sessions >= 20, "{sessions}");
    let inside = ep("10.0.1.1:5000");
    assert_eq!(nat.outside_of(17, inside), None, "nothing created");
}

/// `in2out_verified` translates exactly as `in2out` (same bytes out, same binding), and
/// does not check the IPv4 header checksum the caller verified: a packet whose header
/// checksum is wrong is refused by `in2out` and translated by `in2out_verified`.
#[test]
fn in2out_verified_skips_only_the_header_checksum_check() {
    let c = cfg();
    let (mut oa, mut ob) = (Owned::new(&c, 64, 16), Owned::new(&c, 64, 16));
    let (mut a, mut b) = (oa.nat(c), ob.nat(c));
    for i in 0..20 {
        let p = udp(&format!("10.0.0.{}:5000", i + 1), "203.0.113.1:53", b"q");
        let (mut x, mut y) = (p.clone(), p);
        assert_eq!(a.in2out(T0, &mut x), Verdict::Forward);
        assert_eq!(b.in2out_verified(T0, &mut y), Verdict::Forward);
        assert_eq!(x, y);
        while a.poll_event().is_some() {}
        while b.poll_event().is_some() {}
    }
    let mut bad = udp("10.0.0.1:5001", "203.0.113.1:53", b"q");
    bad[10] ^= 0xff;
    let mut bad2 = bad.clone();
    assert_eq!(
        a.in2out(T0, &mut bad),
        Verdict::Drop(bng_nat44::DropReason::BadChecksum)
    );
    assert_eq!(b.in2out_verified(T0, &mut bad2), Verdict::Forward);
    assert_eq!(a.stats().in2out, 20);
    assert_eq!(b.stats().in2out, 21);
}
