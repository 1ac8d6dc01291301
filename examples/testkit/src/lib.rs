//! Test support shared by every bngkit crate. A dev-dependency only: nothing here
//! reaches a library build.
//!
//! - [`corpus`]: walk the real captures of `../shared/corpus/<proto>/` and hand every
//!   frame (with its link layer decoded down to the protocol payload) to a callback.
//! - [`alloc`]: a counting global allocator, to prove that parse/emit/state-machine
//!   paths allocate nothing.
//! - [`netns`]: the interop harness: network namespaces, veth pairs, TAP devices,
//!   peer processes, bounded waits, tshark captures, all torn down on drop.
//! - [`skip`]: the one rule for tests that need something from outside the repo: on a
//!   developer's machine they print why they skip; with `BNG_NO_SKIP=1` (set by
//!   `.ci/run`) the skip is a failure, so CI never passes by skipping.

#![allow(
    clippy::missing_panics_doc,
    reason = "test support: panics are test failures"
)]
#![allow(clippy::panic, reason = "test support: panics are test failures")]
#![allow(clippy::expect_used, reason = "test support: panics are test failures")]
#![allow(
    clippy::std_instead_of_core,
    reason = "std test support, never in a no_std build"
)]
#![allow(
    clippy::indexing_slicing,
    reason = "test support: an out-of-range index is a test failure"
)]
#![allow(
    clippy::many_single_char_names,
    clippy::must_use_candidate,
    clippy::doc_markdown,
    reason = "test support"
)]

pub mod alloc;
pub mod corpus;
pub mod netns;
pub mod skip;
pub mod vm;

pub use skip::skip_or_fail;
