#![doc = include_str!("../README.md")]
#![no_std]
#![forbid(unsafe_code)]
#![allow(
    clippy::doc_markdown,
    reason = "RADIUS names (CoA, PPPoEoA, AppleTalk) read as words, not identifiers"
)]

#[cfg(any(feature = "alloc", test))]
extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod client;
pub mod crypto;
pub mod dae;
pub mod dict;
#[cfg(any(feature = "alloc", test))]
pub mod dictionary;
pub mod error;
pub mod packet;

pub use crypto::Secret;
pub use dict::{AttrType, Code};
pub use error::{EmitError, ParseError, ProtocolError, UsageError, VerifyError};
pub use packet::{Attr, Attributes, Packet, Repr, Writer};
/// The `rand_core` version whose `RngCore + CryptoRng` the machines take.
pub use rand_core;
