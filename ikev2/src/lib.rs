#![doc = include_str!("../README.md")]
#![no_std]
#![forbid(unsafe_code)]
#![allow(
    clippy::doc_markdown,
    reason = "RFC 7296 names (SK_d, IKE_SA_INIT, prf+, g^ir) are prose here, as in the RFC"
)]

pub mod crypto;
pub mod error;
pub mod exchange;
pub mod header;
pub mod message;
pub mod payload;
pub mod sa;
pub mod sk;
pub mod types;
mod wire;

pub use error::{CryptoError, EmitError, ParseError, ProtocolError, UsageError};
/// The `rand_core` this crate takes its `CryptoRng` from (so callers match versions).
pub use rand_core;
