//! Runnable bngkit gateways and tools (`src/bin/`), the code they share, and the
//! interop tests against real peers (`tests/`).

#![allow(
    clippy::std_instead_of_core,
    clippy::std_instead_of_alloc,
    reason = "a std crate"
)]
#![allow(
    clippy::many_single_char_names,
    reason = "decoders name packet, repr, bytes tersely"
)]

pub mod bng;
pub mod cli;
pub mod dump;
pub mod ipsec;
pub mod lab;
pub mod lab_netns;
pub mod net;
pub mod rng;
