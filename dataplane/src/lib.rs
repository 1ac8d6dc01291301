#![doc = include_str!("../README.md")]
#![allow(
    clippy::std_instead_of_core,
    clippy::std_instead_of_alloc,
    reason = "a std crate"
)]

pub mod backend;
pub mod bng;
pub mod buffer;
pub mod control;
pub mod fib;
pub mod graph;
pub mod nodes;
pub mod router;
pub mod worker;
