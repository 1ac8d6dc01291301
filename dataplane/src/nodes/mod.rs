//! The graph's nodes. Each has its edges (`Next`) and drop reasons (`Drop`) as enums and
//! one per-packet function that [`crate::graph::run`] inlines into the frame loop.

pub mod arp;
pub mod esp;
pub mod ethernet;
pub mod icmp;
pub mod ip4;
pub mod ipoe;
pub mod mss;
pub mod nat44;
pub mod pppoe;
pub mod punt;
pub mod qos;
