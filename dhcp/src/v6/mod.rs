//! DHCPv6 (RFC 8415): messages, relay nesting, options with `IA_NA`/`IA_PD`, DUIDs and
//! status codes, and the sans-IO server.

pub mod client;
pub mod message;
pub mod options;
pub mod server;

pub use message::{Header, MessageType, OptionList, Packet, Repr};
pub use options::{
    Dhcp6Option, Duid, Ia, IaAddr, IaPrefix, OptionCode, OptionWriter, Options, Status, StatusCode,
};
