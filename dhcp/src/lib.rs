#![doc = include_str!("../README.md")]
#![no_std]
#![forbid(unsafe_code)]

#[macro_use]
mod macros;

pub mod error;
pub mod pool;
mod table;
pub mod v4;
pub mod v6;
mod xorshift;

pub use error::{EmitError, ParseError, ProtocolError, UsageError};
