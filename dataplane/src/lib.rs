#![doc = include_str!("../README.md")]

pub use bng_pppoe as pppoe;
