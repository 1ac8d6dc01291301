//! DHCPv4 (RFC 2131, RFC 2132): the message, its options, option 82, and the sans-IO
//! server and client machines.

pub mod client;
pub mod options;
pub mod packet;
pub mod relay;
pub mod server;

pub use options::{DhcpOption, Known, MessageType, OptionCode, OptionWriter, Options};
pub use packet::{Op, OptionList, Packet, Repr};
pub use relay::RelayAgentInfo;
