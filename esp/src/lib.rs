#![doc = include_str!("../README.md")]
#![no_std]
#![forbid(unsafe_code)]

pub mod crypto;
pub mod error;
mod ip;
pub mod natt;
pub mod replay;
pub mod sa;
pub mod wire;

#[cfg(feature = "ring")]
pub mod ring;

pub use error::{EmitError, Error, ParseError, ProtocolError, UsageError};
/// The `rand_core` this crate takes `CryptoRng`s from (re-exported so callers match versions).
pub use rand_core;
