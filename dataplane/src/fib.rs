//! An IPv4 forwarding table with one memory lookup per packet for prefixes up to /24
//! and two beyond: DIR-24-8 (Gupta, Lin and `McKeown`: "Routing lookups in hardware at memory
//! access speeds", 1998), as DPDK's `rte_lpm` does it.
//!
//! `tbl24` has one entry per /24 (2^24 entries, 64 MiB); an entry is empty, a leaf
//! (next-hop index), or a pointer to a group of 256 `tbl8` entries for the /25../32
//! routes inside that /24. Changes rebuild the tables from the route list (about 10 ms),
//! then the dataplane swaps the new table in; lookups never see a half-built table.

#![allow(
    clippy::inline_always,
    reason = "per-packet functions of the fused passes: inlined into the frame loop (callgrind: the calls cost more instructions than the work)"
)]

use std::net::Ipv4Addr;

const EMPTY: u32 = 0;
const TBL8: u32 = 1 << 31;
const NH_MASK: u32 = (1 << 24) - 1;

/// A route's target: an index into the caller's adjacency table.
pub type NextHop = u32;

/// The DIR-24-8 table.
#[derive(Debug, Clone)]
pub struct Fib {
    tbl24: Vec<u32>,
    tbl8: Vec<u32>,
    routes: Vec<(u32, u8, NextHop)>,
}

impl Default for Fib {
    fn default() -> Self {
        Self::new()
    }
}

impl Fib {
    /// An empty table.
    #[must_use]
    pub fn new() -> Self {
        Self {
            tbl24: vec![EMPTY; 1 << 24],
            tbl8: Vec::new(),
            routes: Vec::new(),
        }
    }

    /// A table with all of `routes` (later duplicates of a prefix replace earlier ones),
    /// built once.
    ///
    /// # Errors
    /// As [`Fib::insert`].
    pub fn build(routes: &[(Ipv4Addr, u8, NextHop)]) -> Result<Self, &'static str> {
        let mut f = Self::new();
        for &(prefix, len, nh) in routes {
            if len > 32 {
                return Err("prefix length over 32");
            }
            if nh >= NH_MASK {
                return Err("next-hop index over 2^24 - 2");
            }
            let p = mask(u32::from(prefix), len);
            f.routes.retain(|&(q, l, _)| (q, l) != (p, len));
            f.routes.push((p, len, nh));
        }
        f.rebuild();
        Ok(f)
    }

    /// Adds or replaces the route `prefix/len` → `nh` (`nh` < 2^24) and rebuilds.
    ///
    /// # Errors
    /// `len > 32` or `nh` too large.
    pub fn insert(&mut self, prefix: Ipv4Addr, len: u8, nh: NextHop) -> Result<(), &'static str> {
        if len > 32 {
            return Err("prefix length over 32");
        }
        if nh >= NH_MASK {
            return Err("next-hop index over 2^24 - 2");
        }
        let p = mask(u32::from(prefix), len);
        self.routes.retain(|&(q, l, _)| (q, l) != (p, len));
        self.routes.push((p, len, nh));
        self.rebuild();
        Ok(())
    }

    /// Removes the route `prefix/len`; returns whether it existed.
    pub fn remove(&mut self, prefix: Ipv4Addr, len: u8) -> bool {
        let p = mask(u32::from(prefix), len);
        let before = self.routes.len();
        self.routes.retain(|&(q, l, _)| (q, l) != (p, len));
        let removed = self.routes.len() != before;
        if removed {
            self.rebuild();
        }
        removed
    }

    fn rebuild(&mut self) {
        self.tbl24.fill(EMPTY);
        self.tbl8.clear();
        let mut routes = self.routes.clone();
        routes.sort_by_key(|r| r.1);
        for (p, len, nh) in routes {
            let leaf = nh + 1;
            if len <= 24 {
                let start = (p >> 8) as usize;
                let count = 1usize << (24 - len);
                if let Some(s) = self.tbl24.get_mut(start..start + count) {
                    s.fill(leaf);
                }
            } else {
                let i24 = (p >> 8) as usize;
                let Some(&e) = self.tbl24.get(i24) else {
                    continue;
                };
                let group = if e & TBL8 == 0 {
                    let g = self.tbl8.len() / 256;
                    self.tbl8.extend(std::iter::repeat_n(e, 256));
                    if let Some(slot) = self.tbl24.get_mut(i24) {
                        *slot = TBL8 | u32::try_from(g).unwrap_or(0);
                    }
                    g
                } else {
                    (e & !TBL8) as usize
                };
                let start = group * 256 + (p & 0xff) as usize;
                let count = 1usize << (32 - len);
                if let Some(s) = self.tbl8.get_mut(start..start + count) {
                    s.fill(leaf);
                }
            }
        }
    }

    /// The next hop of the longest prefix that contains `addr`.
    #[inline(always)]
    #[must_use]
    pub fn lookup(&self, addr: u32) -> Option<NextHop> {
        let e = *self.tbl24.get((addr >> 8) as usize)?;
        let e = if e & TBL8 == 0 {
            e
        } else {
            *self
                .tbl8
                .get(((e & !TBL8) as usize) * 256 + (addr & 0xff) as usize)?
        };
        e.checked_sub(1)
    }

    /// The routes, as inserted.
    #[must_use]
    pub fn routes(&self) -> &[(u32, u8, NextHop)] {
        &self.routes
    }
}

fn mask(a: u32, len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        a & (u32::MAX << (32 - u32::from(len)))
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::cast_possible_truncation,
        reason = "tests"
    )]
    use super::*;

    #[test]
    fn longest_prefix_wins() {
        let mut f = Fib::new();
        f.insert(Ipv4Addr::UNSPECIFIED, 0, 1).unwrap();
        f.insert(Ipv4Addr::new(10, 0, 0, 0), 8, 2).unwrap();
        f.insert(Ipv4Addr::new(10, 1, 2, 0), 24, 3).unwrap();
        f.insert(Ipv4Addr::new(10, 1, 2, 128), 25, 4).unwrap();
        f.insert(Ipv4Addr::new(10, 1, 2, 200), 32, 5).unwrap();
        let l = |a: [u8; 4]| f.lookup(u32::from(Ipv4Addr::from(a)));
        assert_eq!(l([8, 8, 8, 8]), Some(1));
        assert_eq!(l([10, 9, 9, 9]), Some(2));
        assert_eq!(l([10, 1, 2, 1]), Some(3));
        assert_eq!(l([10, 1, 2, 129]), Some(4));
        assert_eq!(l([10, 1, 2, 200]), Some(5));
        assert_eq!(l([10, 1, 2, 201]), Some(4));
        assert!(f.remove(Ipv4Addr::UNSPECIFIED, 0));
        assert_eq!(f.lookup(u32::from(Ipv4Addr::new(8, 8, 8, 8))), None);
        assert!(f.insert(Ipv4Addr::new(1, 2, 3, 4), 33, 0).is_err());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(16))]
        #[test]
        fn agrees_with_a_linear_scan(routes in proptest::collection::vec((proptest::prelude::any::<u32>(), 0u8..=32), 1..12),
                                     probes in proptest::collection::vec(proptest::prelude::any::<u32>(), 64)) {
            let list: Vec<_> = routes.iter().enumerate().map(|(i, (p, l))| (Ipv4Addr::from(*p), *l, i as u32)).collect();
            let f = Fib::build(&list).unwrap();
            // probe the route addresses themselves too
            let all: Vec<u32> = probes.iter().copied().chain(routes.iter().map(|r| r.0)).collect();
            for a in all {
                let best = f.routes().iter().filter(|(p, l, _)| mask(a, *l) == *p).max_by_key(|r| r.1).map(|r| r.2);
                proptest::prop_assert_eq!(f.lookup(a), best);
            }
        }
    }
}
