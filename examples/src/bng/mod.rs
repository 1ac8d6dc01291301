//! The `bng` gateway: PPPoE and IPoE subscriber termination over the dataplane, with
//! AAA (local users file or RADIUS), accounting, CoA/Disconnect, NAT44 and metrics.
//!
//! Layout:
//! - [`config`]: the TOML configuration and its validation;
//! - [`session`]: the session-manager interface the control planes share (subscriber
//!   records, the [`session::Forwarding`] plane interface, pools, the registry that
//!   runs accounting and timeouts, the [`session::Service`] trait);
//! - [`aaa`]: the [`aaa::Aaa`] trait and the local users file;
//! - [`pppoe`]: the PPPoE control plane (access concentrator + PPP server sessions);
//! - `ipoe`: the IPoE control plane (DHCPv4 with option 82, DHCPv6 IA_NA/IA_PD);
//! - [`caps`]: capability checks with the fix spelled out.

pub mod aaa;
pub mod caps;
pub mod coa;
pub mod config;
pub mod gateway;
pub mod ipoe;
pub mod metrics;
pub mod plane;
pub mod pppoe;
pub mod radius;
pub mod session;
