#![doc = include_str!("../README.md")]
#![no_std]
#![forbid(unsafe_code)]

pub mod error;
pub mod header;
pub mod message;
pub mod payload;
pub mod sa;
pub mod types;
pub mod crypto;
pub mod sk;
mod wire;

pub use error::{CryptoError, EmitError, ParseError, ProtocolError, UsageError};
