//! The README's main job: the in-memory access network comes up for 1000 PPPoE
//! subscribers (PPPoE discovery, LCP, CHAP-MD5, IPCP against the BNG's local users and
//! pool) and 1000 IPoE subscribers (DHCPv4 DORA through `ipoe-input` to the BNG's DHCP
//! server and its own pool, RENEW at T1 for some, RELEASE at the end for a few), and
//! every UDP datagram they send through NAT44 is answered back to the right subscriber,
//! while spoofed sources and released subscribers are dropped by `ipoe-input`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::std_instead_of_core,
    reason = "tests"
)]

use bng_examples::lab::{
    FLOWS, IPOE_ARRIVAL_GROUPS, Options, RELEASE_EVERY, Report, SPOOF_EVERY, run,
};

fn count(r: &Report, node: &str, k: &str) -> u64 {
    r.counters
        .iter()
        .find(|(n, c, _)| *n == node && c == k)
        .map_or(0, |x| x.2)
}

#[test]
fn lab_with_1000_pppoe_and_1000_ipoe_subscribers_reports_no_failures() {
    let opt = Options {
        subscribers: 1000,
        ipoe: 1000,
        packets: 8,
        seed: 7,
        progress_every: 0,
        reference: true,
    };
    let r = run(&opt, &mut |_| {});
    assert_eq!(r.sessions_up, 1000);
    assert_eq!(r.ipoe_up, 1000);
    assert_eq!(r.failures, 0);
    assert_eq!(r.sent, 16_000);
    assert_eq!(r.ipoe_sent, 8000);
    assert_eq!(
        r.received, 16_000,
        "every datagram answered to its subscriber"
    );
    assert_eq!(r.ipoe_received, 8000);
    assert_eq!(
        r.nat_blocks, 2000,
        "one port block per subscriber, each logged"
    );
    assert_eq!(count(&r, "pppoe-ac", "pads"), 1000);
    assert_eq!(FLOWS, 4, "the port count the NAT assertions assume");
    assert_eq!(count(&r, "nat44", "next.forward"), 32_000);
    assert_eq!(count(&r, "nat44", "packets"), 32_000);
    assert_eq!(count(&r, "pppoe-encap", "next.interface-output"), 8000);
    assert_eq!(count(&r, "ipoe-encap", "next.interface-output"), 8000);
    assert_eq!(
        count(&r, "ipoe-encap", "next.other"),
        8000,
        "PPPoE's, passed on"
    );
    assert_eq!(count(&r, "ipoe-input", "next.ip4"), 8000);

    // DHCP: one DORA each, a RENEW for the first three arrival groups (they reach T1
    // first), a RELEASE for a few
    assert_eq!(IPOE_ARRIVAL_GROUPS, 8);
    assert_eq!(r.ipoe_renewed, 1000 * 3 / 8);
    assert_eq!(count(&r, "dhcp-server", "offers"), 1000);
    assert_eq!(count(&r, "dhcp-server", "acks"), 1000 + 375);
    assert_eq!(count(&r, "dhcp-server", "naks"), 0);
    assert_eq!(count(&r, "dhcp-server", "dropped"), 0);
    assert_eq!(r.ipoe_released, 1000 / RELEASE_EVERY);
    // DISCOVER + REQUEST each, the renewals' REQUESTs and the RELEASEs were punted
    assert_eq!(
        count(&r, "ipoe-input", "next.dhcp"),
        2000 + 375 + (1000 / RELEASE_EVERY) as u64
    );

    // anti-spoofing: every spoofed packet dropped with its reason, none forwarded
    assert_eq!(r.spoofed_sent, (1000 / SPOOF_EVERY) as u64);
    assert_eq!(r.spoofed_dropped, r.spoofed_sent);
    assert_eq!(
        count(&r, "ipoe-input", "drop.spoofed-source"),
        r.spoofed_sent
    );
    // a released subscriber is forgotten by the dataplane
    assert_eq!(r.after_release_sent, 10);
    assert_eq!(r.unknown_dropped, 10);
    assert_eq!(count(&r, "ipoe-input", "drop.unknown-subscriber"), 10);
    assert!(r.ipoe_setup_rate() > 0.0 && r.mpps() > 0.0);
}

#[test]
fn lab_with_pppoe_only_still_works() {
    let opt = Options {
        subscribers: 20,
        ipoe: 0,
        packets: 2,
        seed: 5,
        progress_every: 0,
        reference: true,
    };
    let r = run(&opt, &mut |_| {});
    assert_eq!((r.sessions_up, r.ipoe_up, r.failures), (20, 0, 0));
    assert_eq!(r.received, 40);
}

#[test]
fn lab_is_deterministic_for_a_seed() {
    let opt = Options {
        subscribers: 50,
        ipoe: 50,
        packets: 2,
        seed: 3,
        progress_every: 0,
        reference: true,
    };
    let a = run(&opt, &mut |_| {});
    let b = run(&opt, &mut |_| {});
    assert_eq!(a.counters, b.counters);
    assert_eq!(a.setup_virtual, b.setup_virtual);
    assert_eq!(a.ipoe_setup_virtual, b.ipoe_setup_virtual);
    assert_eq!(
        (a.ipoe_renewed, a.ipoe_released, a.spoofed_dropped),
        (b.ipoe_renewed, b.ipoe_released, b.spoofed_dropped)
    );
}
