#![doc = include_str!("../README.md")]
#![no_std]
#![forbid(unsafe_code)]

pub mod ac;
pub mod client;
pub mod discovery;
pub mod error;
pub mod ethernet;
pub mod ppp;
pub mod tags;

pub use error::{EmitError, ParseError, ProtocolError, UsageError};
