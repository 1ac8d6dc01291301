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

pub mod dataplane;
pub mod dhcp;
pub mod esp;
pub mod ikev2;
pub mod nat44;
pub mod pppoe;
pub mod radius;

/// A fuzz target body.
pub type Body = fn(&[u8]);

/// All targets of all crates, by name, for the replay test.
pub fn targets() -> impl Iterator<Item = &'static (&'static str, Body)> {
    [
        pppoe::TARGETS,
        dhcp::TARGETS,
        radius::TARGETS,
        ikev2::TARGETS,
        esp::TARGETS,
        nat44::TARGETS,
        dataplane::TARGETS,
    ]
    .into_iter()
    .flatten()
}
