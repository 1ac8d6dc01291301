#![doc = include_str!("../README.md")]
#![allow(
    clippy::std_instead_of_core,
    clippy::std_instead_of_alloc,
    reason = "a std crate"
)]

pub mod backend;
pub mod buffer;
pub mod fib;
pub mod graph;
pub mod nodes;
pub mod router;
pub mod bng;
pub mod control;
