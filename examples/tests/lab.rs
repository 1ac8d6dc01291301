//! The README's main job: the in-memory access network comes up for 1000 subscribers
//! (PPPoE discovery, LCP, CHAP-MD5, IPCP against the BNG's local users and pool) and
//! every UDP datagram they send through NAT44 is answered back to the right session.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::std_instead_of_core,
    reason = "tests"
)]

use bng_examples::lab::{FLOWS, Options, run};

#[test]
fn lab_with_1000_subscribers_reports_no_failures() {
    let opt = Options {
        subscribers: 1000,
        packets: 8,
        seed: 7,
        progress_every: 0,
    };
    let r = run(&opt, &mut |_, _, _| {});
    assert_eq!(r.sessions_up, 1000);
    assert_eq!(r.failures, 0);
    assert_eq!(r.sent, 8000);
    assert_eq!(
        r.received, 8000,
        "every datagram answered to its subscriber"
    );
    assert_eq!(
        r.nat_blocks, 1000,
        "one port block per subscriber, each logged"
    );
    let count = |node: &str, k: &str| {
        r.counters
            .iter()
            .find(|(n, c, _)| *n == node && c == k)
            .map_or(0, |x| x.2)
    };
    assert_eq!(count("pppoe-ac", "pads"), 1000);
    assert_eq!(count("nat44", "next.forward"), 16_000);
    assert!(
        r.counters
            .iter()
            .any(|(n, c, v)| *n == "nat44" && c == "packets" && *v == 16_000)
    );
    assert_eq!(FLOWS, 4, "the port count the NAT assertions assume");
    assert_eq!(count("pppoe-encap", "next.interface-output"), 8000);
}

#[test]
fn lab_is_deterministic_for_a_seed() {
    let opt = Options {
        subscribers: 50,
        packets: 2,
        seed: 3,
        progress_every: 0,
    };
    let a = run(&opt, &mut |_, _, _| {});
    let b = run(&opt, &mut |_, _, _| {});
    assert_eq!(a.counters, b.counters);
    assert_eq!(a.setup_virtual, b.setup_virtual);
}
