//! Configuration of the translator: address pool and allocation mode, filtering,
//! limits, and the timeouts with the floors the RFCs set.

use core::net::Ipv4Addr;
use core::time::Duration;

use crate::det::{Deterministic, PORTS_PER_ADDRESS};
use crate::error::UsageError;

/// Most port blocks one subscriber can hold (the cap of [`PortBlock::max_blocks`]).
pub const MAX_BLOCKS: usize = 8;

/// Inbound filtering (RFC 4787 section 5, RFC 5382 section 4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Filtering {
    /// Endpoint-independent filtering: any remote may reach an existing mapping
    /// (RFC 4787 section 5, recommended by REQ-8 for transparency).
    EndpointIndependent,
    /// Address-dependent filtering: only remote addresses the inside endpoint has
    /// sent to may reach the mapping (RFC 4787 section 5, REQ-8 alternative).
    AddressDependent,
}

/// Port-block allocation: outside ports are handed to subscribers in blocks, so
/// only block allocation and release need logging (RFC 6888 section 3 REQ-14
/// discusses the log volume).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortBlock {
    /// First outside address of the pool.
    pub pool_first: Ipv4Addr,
    /// Number of consecutive outside addresses.
    pub pool_len: u32,
    /// Ports per block (ports 1024-65535 are cut into `64512 / block_size` blocks).
    pub block_size: u16,
    /// Most blocks one subscriber may hold (1..=[`MAX_BLOCKS`]).
    pub max_blocks: u8,
}

/// How outside addresses and ports are assigned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Mode {
    /// Dynamic port-block allocation with compliance events.
    PortBlock(PortBlock),
    /// Deterministic NAT (RFC 7422): one computed range per subscriber, no events.
    Deterministic(Deterministic),
}

/// Idle timeouts. `Default` gives the RFC values; [`Config::validate`] refuses
/// values under the RFC floors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Established TCP: at least 2 h 4 min (RFC 5382 REQ-5, RFC 7857 section 2.1).
    pub tcp_established: Duration,
    /// Transitory TCP (SYN only, after both FINs or a RST): at least 4 min
    /// (RFC 5382 REQ-5, RFC 7857 section 2.2).
    pub tcp_transitory: Duration,
    /// UDP: at least 2 min, 5 min recommended (RFC 4787 REQ-5).
    pub udp: Duration,
    /// ICMP query: at least 60 s (RFC 5508 REQ-1).
    pub icmp: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            tcp_established: Duration::from_secs(7440),
            tcp_transitory: Duration::from_secs(240),
            udp: Duration::from_secs(300),
            icmp: Duration::from_secs(60),
        }
    }
}

/// The translator's configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// Address/port assignment.
    pub mode: Mode,
    /// Inbound filtering.
    pub filtering: Filtering,
    /// Most sessions one subscriber (inside address) may hold at a time.
    pub max_sessions_per_subscriber: u32,
    /// Idle timeouts.
    pub timeouts: Timeouts,
    /// Seed of the table hash (not a secret; choose it per process so that remote
    /// hosts cannot aim at one probe run).
    pub hash_seed: u64,
    /// Session slots examined per [`crate::Nat44::handle_timeout`] call.
    pub sweep_budget: u32,
    /// Interval between sweeps that [`crate::Nat44::poll_timeout`] asks for.
    pub sweep_interval: Duration,
}

impl Config {
    /// A port-block configuration with the RFC default timeouts, EIF filtering, a
    /// 64-port block, 4 blocks and 256 sessions per subscriber.
    #[must_use]
    pub fn port_block(pool_first: Ipv4Addr, pool_len: u32) -> Self {
        Self {
            mode: Mode::PortBlock(PortBlock {
                pool_first,
                pool_len,
                block_size: 64,
                max_blocks: 4,
            }),
            filtering: Filtering::EndpointIndependent,
            max_sessions_per_subscriber: 256,
            timeouts: Timeouts::default(),
            hash_seed: 0x005e_ed0f_6a7e,
            sweep_budget: 1024,
            sweep_interval: Duration::from_secs(1),
        }
    }

    /// A deterministic configuration (RFC 7422) with the same defaults.
    #[must_use]
    pub fn deterministic(det: Deterministic) -> Self {
        Self {
            mode: Mode::Deterministic(det),
            ..Self::port_block(Ipv4Addr::UNSPECIFIED, 1)
        }
    }

    /// Checks ranges and the RFC timeout floors.
    ///
    /// # Errors
    /// [`UsageError::InvalidConfig`] naming the offending value.
    pub fn validate(&self) -> Result<(), UsageError> {
        let t = &self.timeouts;
        if t.tcp_established < Duration::from_secs(7440) {
            return Err(UsageError::InvalidConfig(
                "TCP established timeout under 2 h 4 min (RFC 5382 REQ-5)",
            ));
        }
        if t.tcp_transitory < Duration::from_secs(240) {
            return Err(UsageError::InvalidConfig(
                "TCP transitory timeout under 4 min (RFC 5382 REQ-5)",
            ));
        }
        if t.udp < Duration::from_secs(120) {
            return Err(UsageError::InvalidConfig(
                "UDP timeout under 2 min (RFC 4787 REQ-5)",
            ));
        }
        if t.icmp < Duration::from_secs(60) {
            return Err(UsageError::InvalidConfig(
                "ICMP timeout under 60 s (RFC 5508 REQ-1)",
            ));
        }
        if self.max_sessions_per_subscriber == 0 {
            return Err(UsageError::InvalidConfig(
                "max_sessions_per_subscriber is 0",
            ));
        }
        if let Mode::PortBlock(p) = self.mode {
            if p.pool_len == 0
                || u32::from(p.pool_first)
                    .checked_add(p.pool_len - 1)
                    .is_none()
            {
                return Err(UsageError::InvalidConfig("empty or wrapping pool"));
            }
            if p.block_size == 0 || u32::from(p.block_size) > PORTS_PER_ADDRESS {
                return Err(UsageError::InvalidConfig("block_size"));
            }
            if p.max_blocks == 0 || usize::from(p.max_blocks) > MAX_BLOCKS {
                return Err(UsageError::InvalidConfig("max_blocks"));
            }
        }
        Ok(())
    }

    /// First outside address and number of outside addresses.
    #[must_use]
    pub fn pool(&self) -> (Ipv4Addr, u32) {
        match self.mode {
            Mode::PortBlock(p) => (p.pool_first, p.pool_len),
            Mode::Deterministic(d) => d.outside(),
        }
    }

    /// Blocks per outside address (port-block mode), else 0.
    #[must_use]
    pub fn blocks_per_address(&self) -> u32 {
        match self.mode {
            Mode::PortBlock(p) if p.block_size > 0 => PORTS_PER_ADDRESS / u32::from(p.block_size),
            _ => 0,
        }
    }

    /// `u64` words of block bitmap the storage needs (port-block mode), else 0.
    #[must_use]
    pub fn bitmap_words(&self) -> usize {
        let (_, n) = self.pool();
        let bits = u64::from(self.blocks_per_address()) * u64::from(n);
        usize::try_from(bits.div_ceil(64)).unwrap_or(usize::MAX)
    }
}
