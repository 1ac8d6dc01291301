//! Deterministic NAT (RFC 7422): every inside address gets a computed outside address
//! and port range, so the operator answers "who had this address and port" by
//! arithmetic, with no per-session or per-block log (RFC 7422 section 1).
//!
//! The algorithm (RFC 7422 section 2 leaves it to the implementation; we publish ours
//! here as the section asks): with `n` inside addresses and `m` outside addresses,
//! `k = ceil(n / m)` subscribers share one outside address and each gets
//! `p = floor(64512 / k)` ports. Inside address number `i` (counted from the first)
//! maps to outside address number `i / k` and ports
//! `1024 + (i % k) * p ..= 1024 + (i % k) * p + p - 1`. Ports below 1024 are never
//! used (the "port range >= 1024"; RFC 4787 section 4.2.1 on port ranges).

use core::net::Ipv4Addr;

use crate::error::UsageError;

/// First port handed out by this crate: ports 0-1023 are never mapped (RFC 4787
/// section 4.2.1).
pub const FIRST_PORT: u16 = 1024;
/// Number of usable ports per outside address (1024..=65535).
pub const PORTS_PER_ADDRESS: u32 = 65536 - FIRST_PORT as u32;

/// An inclusive port range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PortRange {
    /// First port.
    pub first: u16,
    /// Last port (inclusive).
    pub last: u16,
}

impl PortRange {
    /// True when `port` lies in the range.
    #[must_use]
    pub const fn contains(self, port: u16) -> bool {
        port >= self.first && port <= self.last
    }

    /// Number of ports in the range.
    #[must_use]
    pub const fn len(self) -> u32 {
        (self.last as u32 + 1).saturating_sub(self.first as u32)
    }

    /// True for an empty range (never produced by this crate).
    #[must_use]
    pub const fn is_empty(self) -> bool {
        self.len() == 0
    }
}

/// The deterministic mapping of RFC 7422 over an inside range and an outside range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deterministic {
    inside_first: u32,
    inside_len: u32,
    outside_first: u32,
    outside_len: u32,
    per_address: u32,
    ports: u16,
}

impl Deterministic {
    /// Builds the mapping of `inside_len` consecutive inside addresses from
    /// `inside_first` onto `outside_len` consecutive outside addresses.
    ///
    /// # Errors
    /// [`UsageError::InvalidConfig`] for an empty or wrapping range, or more than
    /// 64512 subscribers per outside address.
    pub fn new(
        inside_first: Ipv4Addr,
        inside_len: u32,
        outside_first: Ipv4Addr,
        outside_len: u32,
    ) -> Result<Self, UsageError> {
        let (i0, o0) = (u32::from(inside_first), u32::from(outside_first));
        if inside_len == 0 || outside_len == 0 {
            return Err(UsageError::InvalidConfig("empty deterministic range"));
        }
        if i0.checked_add(inside_len - 1).is_none() || o0.checked_add(outside_len - 1).is_none() {
            return Err(UsageError::InvalidConfig("deterministic range wraps"));
        }
        let per_address = inside_len.div_ceil(outside_len);
        let ports = u16::try_from(PORTS_PER_ADDRESS / per_address)
            .map_err(|_| UsageError::InvalidConfig("port range"))?;
        if ports == 0 {
            return Err(UsageError::InvalidConfig(
                "more than 64512 subscribers per outside address",
            ));
        }
        Ok(Self {
            inside_first: i0,
            inside_len,
            outside_first: o0,
            outside_len,
            per_address,
            ports,
        })
    }

    /// Ports each subscriber gets.
    #[must_use]
    pub const fn ports_per_subscriber(&self) -> u16 {
        self.ports
    }

    /// First outside address and number of outside addresses.
    #[must_use]
    pub fn outside(&self) -> (Ipv4Addr, u32) {
        (Ipv4Addr::from(self.outside_first), self.outside_len)
    }

    /// RFC 7422 section 2: the outside address and port range of `inside`, or `None`
    /// when `inside` is outside the configured range.
    #[must_use]
    pub fn forward(&self, inside: Ipv4Addr) -> Option<(Ipv4Addr, PortRange)> {
        let i = u32::from(inside).checked_sub(self.inside_first)?;
        if i >= self.inside_len {
            return None;
        }
        let addr = self.outside_first.checked_add(i / self.per_address)?;
        let first = u32::from(FIRST_PORT) + (i % self.per_address) * u32::from(self.ports);
        let first = u16::try_from(first).ok()?;
        let last = first.checked_add(self.ports - 1)?;
        Some((Ipv4Addr::from(addr), PortRange { first, last }))
    }

    /// RFC 7422 section 2, the reverse lookup: the inside address that owns
    /// `outside`:`port`, or `None` when no subscriber does.
    #[must_use]
    pub fn reverse(&self, outside: Ipv4Addr, port: u16) -> Option<Ipv4Addr> {
        let a = u32::from(outside).checked_sub(self.outside_first)?;
        if a >= self.outside_len {
            return None;
        }
        let off = u32::from(port.checked_sub(FIRST_PORT)?);
        let slot = off / u32::from(self.ports);
        if slot >= self.per_address {
            return None;
        }
        let i = a.checked_mul(self.per_address)?.checked_add(slot)?;
        if i >= self.inside_len {
            return None;
        }
        Some(Ipv4Addr::from(self.inside_first.checked_add(i)?))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn forward_reverse_cover_every_subscriber() {
        // 1000 subscribers on 3 addresses: 334 per address, 193 ports each.
        let d = Deterministic::new(
            Ipv4Addr::new(100, 64, 0, 0),
            1000,
            Ipv4Addr::new(198, 51, 100, 1),
            3,
        )
        .unwrap();
        assert_eq!(d.ports_per_subscriber(), 193);
        for i in 0..1000u32 {
            let inside = Ipv4Addr::from(0x6440_0000 + i);
            let (o, r) = d.forward(inside).unwrap();
            assert!(r.first >= 1024 && r.len() == 193);
            assert_eq!(d.reverse(o, r.first), Some(inside));
            assert_eq!(d.reverse(o, r.last), Some(inside));
        }
        assert_eq!(d.forward(Ipv4Addr::from(0x6440_0000 + 1000)), None);
        assert_eq!(d.reverse(Ipv4Addr::new(198, 51, 100, 1), 80), None);
        assert_eq!(d.reverse(Ipv4Addr::new(198, 51, 100, 4), 2000), None);
        // the last address holds 1000 - 2 * 334 = 332 subscribers
        let top = 1024 + 332 * 193;
        assert!(d.reverse(Ipv4Addr::new(198, 51, 100, 3), top).is_none());
        assert!(
            Deterministic::new(
                Ipv4Addr::new(10, 0, 0, 0),
                70_000,
                Ipv4Addr::new(1, 1, 1, 1),
                1
            )
            .is_err()
        );
    }
}
