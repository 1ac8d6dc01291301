//! The pieces of the `ipsec-gw` example (`src/bin/ipsec-gw.rs`): an IKEv2 + ESP
//! site-to-site / road-warrior gateway built on `bng-ikev2` (key management) and
//! `bng-esp` (the data plane), route-based through a TUN device.
//!
//! - [`config`]: the swanctl-like TOML configuration, checked before anything starts;
//! - [`esp`]: Child SAs installed as `bng-esp` SAs, selector checks, make-before-break
//!   rekeying;
//! - [`outer`]: IKE and ESP-in-UDP over kernel UDP sockets or `AF_PACKET`;
//! - [`tun`]: the TUN device and `poll(2)`.

pub mod config;
pub mod esp;
pub mod outer;
pub mod tun;
