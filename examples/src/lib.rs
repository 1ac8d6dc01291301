//! Runnable bngkit gateways and tools (`src/bin/`), the code they share, and the
//! interop tests against real peers (`tests/`).

#![allow(
    clippy::std_instead_of_core,
    clippy::std_instead_of_alloc,
    reason = "a std crate"
)]

pub mod dump;
