#![doc = include_str!("../README.md")]
#![no_std]
#![forbid(unsafe_code)]

pub mod checksum;
pub mod config;
pub mod det;
pub mod error;
pub mod nat;
mod table;
pub mod wire;

pub use config::{Config, Filtering, Mode, PortBlock, Timeouts};
pub use det::{Deterministic, PortRange};
pub use error::{EmitError, ParseError, ProtocolError, UsageError};
pub use nat::{
    BlockEvent, Direction, DropReason, Event, Mapping, Nat44, Session, Stats, Storage, Subscriber,
    Verdict,
};
