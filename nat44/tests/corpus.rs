//! Every frame of `../shared/corpus/nat-relevant-tcp-udp` (fragments, ICMP errors,
//! malformed headers, truncated captures) goes through translation in both
//! directions without panic; every translated packet verifies by full checksum
//! recomputation when the original did, and the reply of every translated packet
//! finds its session.

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
use std::collections::BTreeMap;

use bng_nat44::wire::{Ipv4Packet, transport_checksum_ok};
use bng_nat44::{Direction, Verdict};
use bng_testkit::corpus;
use common::{Owned, cfg};

fn checks_ok(p: &[u8]) -> Option<bool> {
    let v = Ipv4Packet::new_checked(p).ok()?;
    Some(v.verify_checksum() && (v.is_fragment() || transport_checksum_ok(&v)))
}

#[test]
fn nat_corpus_translates_without_panic() {
    let c = cfg();
    let mut o = Owned::new(&c, 4096, 4096);
    let mut nat = o.nat(c);
    let mut verdicts: BTreeMap<String, usize> = BTreeMap::new();
    let (mut ipv4, mut forwarded, mut replies) = (0usize, 0usize, 0usize);
    let t = Duration::from_secs(100);
    let s = corpus::walk("nat44 corpus", "nat-relevant-tcp-udp", |f| {
        let Some((0x0800, l3)) = f.ethertype_payload() else {
            return;
        };
        ipv4 += 1;
        for dir in [Direction::InToOut, Direction::OutToIn] {
            let mut v = l3.to_vec();
            let before = checks_ok(&v);
            let verdict = nat.translate(t, dir, &mut v);
            *verdicts.entry(format!("{dir:?} {verdict:?}")).or_default() += 1;
            match verdict {
                Verdict::Drop(_) => assert_eq!(v, l3, "a drop leaves the bytes alone"),
                Verdict::Forward | Verdict::Hairpin => {
                    forwarded += 1;
                    if before == Some(true) {
                        assert_eq!(
                            checks_ok(&v),
                            Some(true),
                            "{}#{} {dir:?}",
                            f.file.display(),
                            f.number
                        );
                    }
                }
            }
        }
    });
    // Replies to what went out find their session.
    let s2 = corpus::walk("nat44 corpus", "nat-relevant-tcp-udp", |f| {
        let Some((0x0800, l3)) = f.ethertype_payload() else {
            return;
        };
        let mut v = l3.to_vec();
        if nat.in2out(t, &mut v) != Verdict::Forward {
            return;
        }
        let Ok(p) = Ipv4Packet::new_checked(&v[..]) else {
            return;
        };
        let ihl = p.header_len();
        if !matches!(v[9], 6 | 17) {
            return;
        }
        for i in 0..4 {
            v.swap(12 + i, 16 + i);
        }
        v.swap(ihl, ihl + 2);
        v.swap(ihl + 1, ihl + 3);
        assert_eq!(
            nat.out2in(t, &mut v),
            Verdict::Forward,
            "{}#{}",
            f.file.display(),
            f.number
        );
        replies += 1;
    });
    if let (Some(s), Some(_)) = (s, s2) {
        eprintln!(
            "corpus/nat-relevant-tcp-udp: {} files, {} frames, {ipv4} IPv4, {forwarded} translated, {replies} replies matched",
            s.files, s.frames
        );
        for (k, n) in &verdicts {
            eprintln!("  {k}: {n}");
        }
        assert!(ipv4 > 50 && forwarded > 10 && replies > 10);
    }
}
