//! Zero-allocation proof: building the translator over caller storage and
//! translating TCP, UDP, ICMP query and ICMP error packets in both directions, with
//! expiry and event draining, allocates nothing (STYLE.md section 16 item 5).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::many_single_char_names,
    reason = "tests"
)]

mod common;

use core::time::Duration;

use bng_nat44::wire::{IcmpType, TcpFlags};
use bng_nat44::{Direction, Nat44, Storage, Verdict};
use bng_testkit::alloc::{CountingAlloc, count_allocations};
use common::*;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

#[test]
fn translation_allocates_nothing() {
    let c = cfg();
    let mut o = Owned::new(&c, 256, 64);
    let mut u = udp("10.0.0.1:5000", "203.0.113.1:53", b"query");
    let mut s = tcp("10.0.0.2:40000", "203.0.113.1:443", TcpFlags::SYN);
    let mut e = echo("10.0.0.3:0", "203.0.113.9:0", 7, true);
    let mut err = [0u8; 128];
    let mut r = [0u8; 128];
    let n = count_allocations(|| {
        let mut nat = Nat44::new(
            c,
            Storage {
                sessions: &mut o.sessions,
                session_index: &mut o.sidx,
                mappings: &mut o.maps,
                mapping_index: &mut o.midx,
                subscribers: &mut o.subs,
                subscriber_index: &mut o.subidx,
                block_bitmap: &mut o.bitmap,
                events: &mut o.events,
            },
        )
        .unwrap();
        let t = Duration::from_secs(1);
        assert_eq!(nat.in2out(t, &mut u), Verdict::Forward);
        assert_eq!(nat.in2out(t, &mut s), Verdict::Forward);
        assert_eq!(nat.in2out(t, &mut e), Verdict::Forward);
        // Reply to the UDP datagram, built in place.
        r[..u.len()].copy_from_slice(&u);
        let r = &mut r[..u.len()];
        for i in 0..4 {
            r.swap(12 + i, 16 + i);
        }
        r.swap(20, 22);
        r.swap(21, 23);
        assert_eq!(nat.translate(t, Direction::OutToIn, r), Verdict::Forward);
        // Port unreachable about the translated UDP datagram.
        let quote = 28;
        err[..20].copy_from_slice(&u[..20]);
        err[2..4].copy_from_slice(&56u16.to_be_bytes());
        err[9] = 1;
        err[12..16].copy_from_slice(&[192, 0, 2, 254]);
        err[16..20].copy_from_slice(&u[12..16]);
        err[10..12].copy_from_slice(&[0, 0]);
        let ck = bng_nat44::checksum::checksum(&err[..20]);
        err[10..12].copy_from_slice(&ck.to_be_bytes());
        err[20] = IcmpType::DEST_UNREACHABLE.0;
        err[21] = 3;
        err[28..28 + quote].copy_from_slice(&u[..quote]);
        let ck = bng_nat44::checksum::checksum(&err[20..56]);
        err[22..24].copy_from_slice(&ck.to_be_bytes());
        assert_eq!(nat.out2in(t, &mut err[..56]), Verdict::Forward);
        while nat.poll_event().is_some() {}
        nat.handle_timeout(Duration::from_secs(100_000));
        while nat.poll_event().is_some() {}
        nat.session_count()
    });
    assert_eq!(n, 0, "translation allocated");
}
