//! The bodies of the fuzz targets, as plain functions.
//!
//! Each `fuzz_targets/<name>.rs` is one line that calls the function of the same
//! name here; `examples/tests/fuzz_replay.rs` calls the same functions on every file
//! of `fuzz/corpus/<name>/` and on the real captures, so `cargo test` checks the
//! corpora without libFuzzer (STYLE.md section 11).
//!
//! Every body asserts: no panic, and if a parse succeeds, the emit succeeds and
//! re-parses to an equal value with identical bytes.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a fuzz body reports by panicking"
)]

/// All targets, by name, for the replay test.
pub const TARGETS: &[(&str, fn(&[u8]))] = &[("pppoe_discovery", pppoe_discovery)];

/// PPPoE discovery (RFC 2516): view, Repr, tag walk; parse -> emit -> parse.
pub fn pppoe_discovery(data: &[u8]) {
    use bng_pppoe::discovery::{Packet, Repr};
    let Ok(p) = Packet::new_checked(data) else {
        return;
    };
    for t in p.tags() {
        let _ = t;
    }
    let Ok(r) = Repr::parse(&p) else { return };
    let mut out = [0u8; 65_600];
    let n = r.emit(&mut out).expect("a parsed packet must emit");
    assert_eq!(
        out.get(..n),
        Some(p.as_bytes()),
        "re-emit must be byte-identical"
    );
    let p2 = Packet::new_checked(out.get(..n).unwrap_or_default()).expect("re-parse view");
    let r2 = Repr::parse(&p2).expect("re-parse repr");
    assert_eq!(r, r2);
}
