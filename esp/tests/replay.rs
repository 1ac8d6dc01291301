//! Anti-replay property tests (RFC 4303 section 3.4.3, RFC 6479): the bitmap
//! window agrees with a set-based model, duplicates are always rejected,
//! in-window reordering is always accepted, and an ICV failure leaves the
//! window untouched.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::many_single_char_names,
    clippy::std_instead_of_core,
    reason = "tests"
)]

use core::time::Duration;
use std::collections::HashSet;

use bng_esp::crypto::Aes128GcmEsp;
use bng_esp::replay::ReplayWindow;
use bng_esp::sa::{Config, Inbound, Mode, Outbound, Tunnel};
use bng_esp::wire::Spi;
use bng_esp::{Error, ProtocolError};
use proptest::prelude::*;
use rand::SeedableRng;

/// The window as a set: accept iff new and not left of the window.
struct Model {
    seen: HashSet<u64>,
    top: u64,
    size: u64,
}

impl Model {
    fn accept(&mut self, s: u64) -> bool {
        let ok = s != 0 && !self.seen.contains(&s) && (s > self.top || self.top - s < self.size);
        if ok {
            self.seen.insert(s);
            self.top = self.top.max(s);
        }
        ok
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn bitmap_matches_model(
        blocks in prop_oneof![2usize..8, Just(65usize), Just(129usize)],
        seqs in prop::collection::vec(0u64..20_000, 1..400),
    ) {
        let mut w = ReplayWindow::new(vec![0u64; blocks]).unwrap();
        let mut m = Model { seen: HashSet::new(), top: 0, size: w.size() };
        for s in seqs {
            let check = w.check(s).is_ok();
            let got = w.update(s).is_ok();
            prop_assert_eq!(check, got);
            prop_assert_eq!(got, m.accept(s), "seq {}", s);
            // A duplicate is always rejected, right after and later.
            prop_assert!(w.check(s).is_err());
        }
    }

    /// After a state sync (`set_top`) everything up to the synced top counts as
    /// received, and the window then agrees with the model as it slides (also
    /// across whole-window jumps, which clear the bitmap).
    #[test]
    fn set_top_then_matches_model(
        blocks in prop_oneof![2usize..8, Just(65usize)],
        t0 in 0u64..30_000,
        seqs in prop::collection::vec(0u64..60_000, 1..300),
    ) {
        let mut w = ReplayWindow::new(vec![0u64; blocks]).unwrap();
        w.set_top(t0);
        let mut m = Model { seen: HashSet::new(), top: t0, size: w.size() };
        for s in seqs {
            let got = w.update(s).is_ok();
            let want = s > t0 && m.accept(s);
            prop_assert_eq!(got, want, "seq {} after set_top({})", s, t0);
            prop_assert!(w.check(s).is_err());
        }
    }

    #[test]
    fn in_window_reordering_accepted(n in 1usize..3000, swaps in prop::collection::vec((0usize..3000, 0usize..4000), 0..500)) {
        // A permutation of 1..=n where no packet is displaced by more than the window.
        let mut w = ReplayWindow::default();
        let size = usize::try_from(w.size()).unwrap();
        let mut order: Vec<u64> = (1..=n as u64).collect();
        for (a, d) in swaps {
            let a = a % n;
            let b = (a + d % (size / 2)).min(n - 1);
            order.swap(a, b);
        }
        // Swaps may chain; keep only orders within the window.
        let mut top = 0u64;
        let within = order.iter().all(|&s| { top = top.max(s); top - s < w.size() });
        prop_assume!(within);
        for &s in &order {
            prop_assert!(w.update(s).is_ok(), "seq {} rejected", s);
        }
        for &s in &order {
            prop_assert!(w.check(s).is_err());
        }
    }

    #[test]
    fn icv_failure_leaves_window_untouched(
        esn in any::<bool>(),
        start in prop_oneof![Just(1u64), Just(0xffff_ff00u64), Just(0x7_ffff_ffc0u64)],
        plan in prop::collection::vec((any::<bool>(), 0usize..40), 1..60),
    ) {
        let mode = Mode::Tunnel(Tunnel::V4 { src: [1, 1, 1, 1], dst: [2, 2, 2, 2] });
        let mut cfg = Config::new(Spi(0x100), mode);
        cfg.esn = esn;
        let start = if esn { start } else { start.min(0xffff_ff00) };
        let t = Aes128GcmEsp::from_keymat(&[5u8; 20]).unwrap();
        let mut tx = Outbound::starting_at(cfg, t.clone(), Duration::ZERO, start).unwrap();
        let mut rx = Inbound::new(cfg, t, Duration::ZERO).unwrap();
        rx.window_mut().set_top(start - 1);
        let mut rng = rand::rngs::StdRng::seed_from_u64(9);
        let mut pkts = Vec::new();
        for _ in 0..plan.len() {
            let mut buf = vec![0u8; 200];
            buf[64] = 0x45;
            buf[66..68].copy_from_slice(&40u16.to_be_bytes());
            let out = tx.encap(Duration::ZERO, &mut buf, 64..104, &mut rng).unwrap();
            pkts.push((buf, out));
        }
        let mut delivered = HashSet::new();
        for (corrupt, pick) in plan {
            let i = pick % pkts.len();
            let (buf, out) = &pkts[i];
            let mut b = buf.clone();
            let top_before = rx.window().top();
            if corrupt {
                b[out.end - 3] ^= 0x10;
                let r = rx.decap(Duration::ZERO, &mut b, out.clone());
                prop_assert!(matches!(r, Err(Error::Protocol(ProtocolError::IcvMismatch | ProtocolError::Replayed))));
                prop_assert_eq!(rx.window().top(), top_before);
            } else {
                let r = rx.decap(Duration::ZERO, &mut b, out.clone());
                if delivered.insert(i) {
                    prop_assert!(r.is_ok(), "first delivery of {} failed: {:?}", i, r);
                } else {
                    prop_assert_eq!(r, Err(Error::Protocol(ProtocolError::Replayed)));
                }
            }
        }
        // Every packet only ever seen corrupted is still accepted.
        for (i, (buf, out)) in pkts.iter().enumerate() {
            let mut b = buf.clone();
            let r = rx.decap(Duration::ZERO, &mut b, out.clone());
            prop_assert_eq!(r.is_ok(), !delivered.contains(&i));
        }
    }
}
