//! IPv4 forwarding: `ip4-lookup` checks the header (RFC 791 section 3.1, RFC 1812
//! section 5.2.2) and finds the next hop in the [`Fib`]; `ip4-rewrite` decrements the
//! TTL with an incremental checksum update (RFC 1624 equation 3) and writes the
//! Ethernet header of the chosen adjacency.

#![allow(
    clippy::inline_always,
    reason = "per-packet functions of the fused passes: inlined into the frame loop (callgrind: the calls cost more instructions than the work)"
)]

use std::net::Ipv4Addr;

use crate::buffer::Pkt;
use crate::fib::Fib;
use crate::graph::{Node, Verdict};

crate::label! {
    /// Edges of `ip4-lookup`.
    pub enum LookupNext {
        /// A route was found: to `ip4-rewrite`.
        Rewrite => "ip4-rewrite",
        /// Addressed to one of our own addresses: to the control plane.
        Local => "local",
        /// TTL would reach zero (RFC 1812 section 5.3.1) and `Ip4Lookup::icmp` is on:
        /// to `icmp-error` (time exceeded) with the packet unchanged.
        TimeExceeded => "icmp-error",
    }
}

crate::label! {
    /// Drop reasons of `ip4-lookup`.
    pub enum LookupDrop {
        /// Shorter than its header or total length, or not version 4 / IHL < 5.
        BadHeader => "bad-header",
        /// Header checksum does not verify.
        BadChecksum => "bad-checksum",
        /// TTL would reach zero (RFC 1812 section 5.3.1) and no ICMP error is sent
        /// from here (`Ip4Lookup::icmp` off).
        TtlExpired => "ttl-expired",
        /// No route.
        NoRoute => "no-route",
    }
}

/// A next hop: the interface to send on and the Ethernet addresses to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Adjacency {
    /// Outgoing interface.
    pub tx_if: u16,
    /// Destination MAC (the neighbour's).
    pub dst_mac: [u8; 6],
    /// Source MAC (ours on `tx_if`).
    pub src_mac: [u8; 6],
}

/// The `ip4-lookup` node: the FIB and our own addresses.
#[derive(Debug, Default)]
pub struct Ip4Lookup {
    /// The forwarding table; next hops index `Ip4Rewrite::adjacencies`.
    pub fib: Fib,
    /// Our own addresses (packets to them go to `Local`).
    pub local: Vec<Ipv4Addr>,
    /// Packets whose TTL would reach zero go to `TimeExceeded` (else they are
    /// dropped as `TtlExpired`).
    pub icmp: bool,
}

/// Ones'-complement sum of 16-bit words (RFC 1071), folded.
pub(crate) fn csum(bytes: &[u8]) -> u16 {
    let sum = bytes
        .chunks(2)
        .map(|c| {
            u32::from(u16::from_be_bytes([
                c.first().copied().unwrap_or(0),
                c.get(1).copied().unwrap_or(0),
            ]))
        })
        .sum();
    fold(sum)
}

/// Folds a 32-bit ones'-complement sum to 16 bits.
/// RFC 1071 sum over a 20-byte header (no options) as five 32-bit words: the common
/// case, without the byte-pair loop of [`csum`].
#[inline(always)]
#[must_use]
pub fn header_checksum_ok(h: &[u8; 20]) -> bool {
    // RFC 1071 section 2 (B): the one's complement sum does not depend on byte order
    // (all ones is all ones either way), and 2^16 = 1 modulo 0xffff, so the header is
    // summed as two native 64-bit words and one 32-bit word, then folded
    let [
        a0,
        a1,
        a2,
        a3,
        a4,
        a5,
        a6,
        a7,
        b0,
        b1,
        b2,
        b3,
        b4,
        b5,
        b6,
        b7,
        c0,
        c1,
        c2,
        c3,
    ] = *h;
    let s = u128::from(u64::from_ne_bytes([a0, a1, a2, a3, a4, a5, a6, a7]))
        + u128::from(u64::from_ne_bytes([b0, b1, b2, b3, b4, b5, b6, b7]))
        + u128::from(u32::from_ne_bytes([c0, c1, c2, c3]));
    #[allow(
        clippy::cast_possible_truncation,
        reason = "the 32-bit pieces of a sum below 2^66"
    )]
    let mut t = u64::from(s as u32) + u64::from((s >> 32) as u32) + u64::from((s >> 64) as u32);
    t = (t & 0xffff) + (t >> 16);
    t = (t & 0xffff) + (t >> 16);
    t = (t & 0xffff) + (t >> 16);
    t == 0xffff
}

/// TTL - 1 and the checksum update of RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m').
#[inline(always)]
pub fn decrement_ttl(h: &mut [u8; 20]) {
    let old = u16::from_be_bytes([h[8], h[9]]);
    h[8] = h[8].wrapping_sub(1);
    let new = u16::from_be_bytes([h[8], h[9]]);
    let hc = u16::from_be_bytes([h[10], h[11]]);
    let ck = crate::nodes::mss::update(hc, old, new);
    h[10..12].copy_from_slice(&ck.to_be_bytes());
}

fn fold(mut sum: u32) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    u16::try_from(sum).unwrap_or(0xffff)
}

impl Node for Ip4Lookup {
    type Next = LookupNext;
    type Drop = LookupDrop;
    const NAME: &'static str = "ip4-lookup";

    #[inline(always)]
    fn packet(&mut self, pkt: &mut Pkt<'_>) -> Verdict<LookupNext, LookupDrop> {
        let l3 = usize::from(pkt.meta.l3_offset);
        let Some(ip) = pkt.data().get(l3..) else {
            return Verdict::Drop(LookupDrop::BadHeader);
        };
        let Some(h) = ip.first_chunk::<20>() else {
            return Verdict::Drop(LookupDrop::BadHeader);
        };
        let ihl = usize::from(h[0] & 0x0f) * 4;
        let total = usize::from(u16::from_be_bytes([h[2], h[3]]));
        if h[0] >> 4 != 4 || ihl < 20 || total < ihl || total > ip.len() {
            return Verdict::Drop(LookupDrop::BadHeader);
        }
        let ok = if ihl == 20 {
            header_checksum_ok(h)
        } else {
            ip.get(..ihl).is_some_and(|hdr| csum(hdr) == 0xffff)
        };
        if !ok {
            return Verdict::Drop(LookupDrop::BadChecksum);
        }
        let dst = u32::from_be_bytes([h[16], h[17], h[18], h[19]]);
        if self.local.iter().any(|a| u32::from(*a) == dst) {
            return Verdict::Next(LookupNext::Local);
        }
        if h[8] <= 1 {
            if self.icmp {
                pkt.meta.adjacency = crate::nodes::icmp::time_exceeded();
                return Verdict::Next(LookupNext::TimeExceeded);
            }
            return Verdict::Drop(LookupDrop::TtlExpired);
        }
        let Some(adj) = self.fib.lookup(dst) else {
            return Verdict::Drop(LookupDrop::NoRoute);
        };
        // drop Ethernet padding beyond the IP total length
        let _ = pkt.set_len(l3 + total);
        pkt.meta.adjacency = adj;
        Verdict::Next(LookupNext::Rewrite)
    }
}

crate::label! {
    /// Edges of `ip4-rewrite`.
    pub enum RewriteNext {
        /// To `interface-output` (the adjacency's `tx_if` is in the metadata).
        Output => "interface-output",
    }
}

crate::label! {
    /// Drop reasons of `ip4-rewrite`.
    pub enum RewriteDrop {
        /// The adjacency index is not in the table.
        NoAdjacency => "no-adjacency",
        /// No headroom for the Ethernet header.
        NoHeadroom => "no-headroom",
    }
}

/// The `ip4-rewrite` node and its adjacency table.
#[derive(Debug, Default)]
pub struct Ip4Rewrite {
    /// Adjacencies, indexed by the FIB's next hops.
    pub adjacencies: Vec<Adjacency>,
}

impl Node for Ip4Rewrite {
    type Next = RewriteNext;
    type Drop = RewriteDrop;
    const NAME: &'static str = "ip4-rewrite";

    #[inline(always)]
    fn packet(&mut self, pkt: &mut Pkt<'_>) -> Verdict<RewriteNext, RewriteDrop> {
        let Some(adj) = self.adjacencies.get(pkt.meta.adjacency as usize).copied() else {
            return Verdict::Drop(RewriteDrop::NoAdjacency);
        };
        let l3 = usize::from(pkt.meta.l3_offset);
        if !pkt.pull_front(l3) {
            return Verdict::Drop(RewriteDrop::NoHeadroom);
        }
        if let Some(h) = pkt.data_mut().first_chunk_mut::<20>() {
            decrement_ttl(h);
        }
        let Some(eth) = pkt.push_front(14).and_then(<[u8]>::first_chunk_mut::<14>) else {
            return Verdict::Drop(RewriteDrop::NoHeadroom);
        };
        eth[..6].copy_from_slice(&adj.dst_mac);
        eth[6..12].copy_from_slice(&adj.src_mac);
        eth[12..14].copy_from_slice(&[0x08, 0x00]);
        pkt.meta.l3_offset = 14;
        pkt.meta.vlan_count = 0;
        pkt.meta.tx_if = adj.tx_if;
        Verdict::Next(RewriteNext::Output)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests")]
    use super::*;

    proptest::proptest! {
        #[test]
        fn header_checksum_ok_agrees_with_the_word_sum(mut hdr in proptest::prelude::any::<[u8; 20]>(), fix in proptest::prelude::any::<bool>()) {
            if fix {
                hdr[10] = 0;
                hdr[11] = 0;
                let c = !csum(&hdr);
                hdr[10..12].copy_from_slice(&c.to_be_bytes());
            }
            proptest::prop_assert_eq!(header_checksum_ok(&hdr), csum(&hdr) == 0xffff);
            if fix {
                proptest::prop_assert!(header_checksum_ok(&hdr));
            }
        }

        #[test]
        fn incremental_ttl_update_matches_full_recompute(mut hdr in proptest::collection::vec(proptest::prelude::any::<u8>(), 20), ttl in 2u8..=255) {
            hdr[0] = 0x45;
            hdr[8] = ttl;
            hdr[10] = 0;
            hdr[11] = 0;
            let c = !csum(&hdr);
            hdr[10..12].copy_from_slice(&c.to_be_bytes());
            let mut arena = crate::buffer::Arena::new(1);
            let mut pool = arena.pool();
            let mut p = pool.alloc_from(&hdr).unwrap();
            let mut rw = Ip4Rewrite { adjacencies: vec![Adjacency { tx_if: 1, dst_mac: [1; 6], src_mac: [2; 6] }] };
            proptest::prop_assert_eq!(rw.packet(&mut p), Verdict::Next(RewriteNext::Output));
            let ip = &p.data()[14..];
            proptest::prop_assert_eq!(ip[8], ttl - 1);
            proptest::prop_assert_eq!(csum(ip), 0xffff, "checksum verifies after the update");
        }
    }
}
