//! `tcp-mss-clamp`: lowers the Maximum Segment Size option (RFC 9293 section 3.7.1) of
//! TCP SYN and SYN-ACK segments to what fits the subscriber's link, in both directions,
//! so that TCP never relies on path-MTU discovery across a PPPoE link (MTU 1492: IPv4
//! MSS 1452, IPv6 MSS 1432; RFC 4638 section 1, RFC 2923 section 2.3).
//!
//! The packet's IP header starts at `meta.l3_offset` (IPv4 or IPv6, by the version
//! nibble). Only SYN segments are touched; everything else, including non-TCP packets,
//! non-first fragments and packets this node cannot parse, passes unchanged. The option
//! walk is bounded by the TCP header (at most 40 option bytes) and stops at a malformed
//! option without changing anything. The TCP checksum is updated incrementally
//! (RFC 1624 equation 3); an MSS option at an odd offset is handled by the byte-order
//! independence of the ones'-complement sum (RFC 1071 section 2(B)).

use crate::buffer::Pkt;
use crate::graph::{Node, Verdict};

crate::label! {
    /// Edges of `tcp-mss-clamp`.
    pub enum Next {
        /// On along the path (clamped or untouched).
        Forward => "forward",
    }
}

crate::label! {
    /// Drop reasons of `tcp-mss-clamp`.
    pub enum Drop {
        /// A TCP SYN whose header is malformed (data offset < 5, or longer than the
        /// packet): as the Linux `TCPMSS` target does, it is dropped rather than forwarded
        /// unclamped.
        MalformedSyn => "malformed-syn",
    }
}

/// What `tcp-mss-clamp` did, beyond the graph's edge and drop counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MssStats {
    /// SYN or SYN-ACK segments seen.
    pub syn: u64,
    /// SYN segments whose MSS option was lowered.
    pub clamped: u64,
    /// SYN segments with a malformed option list (left unchanged).
    pub bad_options: u64,
    /// SYN segments without an MSS option (left unchanged: the default MSS, 536 for IPv4
    /// and 1220 for IPv6, is below any clamp).
    pub no_mss: u64,
}

/// The `tcp-mss-clamp` node.
#[derive(Debug, Clone, Default)]
pub struct MssClamp {
    /// The largest MSS let through in IPv4 SYNs.
    pub mss4: u16,
    /// The largest MSS let through in IPv6 SYNs.
    pub mss6: u16,
    /// What the node did.
    pub stats: MssStats,
}

/// Largest number of IPv6 extension headers walked before the TCP header.
const MAX_EXT_HEADERS: usize = 4;

impl MssClamp {
    /// A clamp for a link of `mtu` bytes: MSS = MTU - 40 for IPv4 (20 IPv4 + 20 TCP) and
    /// MTU - 60 for IPv6 (40 IPv6 + 20 TCP). `for_mtu(1492)` (PPPoE) gives 1452 and 1432.
    #[must_use]
    pub fn for_mtu(mtu: u16) -> Self {
        Self {
            mss4: mtu.saturating_sub(40),
            mss6: mtu.saturating_sub(60),
            stats: MssStats::default(),
        }
    }

    /// Finds the TCP header of a SYN: `(offset of the TCP header in ip, the limit)`,
    /// `None` if this is not a TCP first fragment.
    fn tcp_offset(&self, ip: &[u8]) -> Option<(usize, u16)> {
        let v = ip.first()? >> 4;
        if v == 4 {
            // RFC 791 section 3.1
            let h = ip.first_chunk::<20>()?;
            let ihl = usize::from(h[0] & 0x0f) * 4;
            let frag_off = u16::from_be_bytes([h[6], h[7]]) & 0x1fff;
            if ihl < 20 || h[9] != 6 || frag_off != 0 {
                return None;
            }
            Some((ihl, self.mss4))
        } else if v == 6 {
            // RFC 8200 section 4: walk Hop-by-Hop (0), Routing (43) and Destination
            // Options (60) headers; a Fragment header (44) ends the walk (not clamped).
            let h = ip.first_chunk::<40>()?;
            let mut nh = h[6];
            let mut at = 40usize;
            for _ in 0..=MAX_EXT_HEADERS {
                match nh {
                    6 => return Some((at, self.mss6)),
                    0 | 43 | 60 => {
                        let e = ip.get(at..)?.first_chunk::<2>()?;
                        nh = e[0];
                        at = at.checked_add((usize::from(e[1]) + 1) * 8)?;
                    }
                    _ => return None,
                }
            }
            None
        } else {
            None
        }
    }

    /// Clamps one packet's IP datagram in place.
    fn clamp(&mut self, ip: &mut [u8]) -> Verdict<Next, Drop> {
        let Some((t, limit)) = self.tcp_offset(ip) else {
            return Verdict::Next(Next::Forward);
        };
        let Some(tcp) = ip.get_mut(t..) else {
            return Verdict::Next(Next::Forward);
        };
        let Some(fixed) = tcp.first_chunk::<20>() else {
            return Verdict::Next(Next::Forward);
        };
        // RFC 9293 section 3.1: SYN is bit 1 of the flags byte
        if fixed[13] & 0x02 == 0 {
            return Verdict::Next(Next::Forward);
        }
        self.stats.syn += 1;
        let hlen = usize::from(fixed[12] >> 4) * 4;
        if hlen < 20 || hlen > tcp.len() {
            return Verdict::Drop(Drop::MalformedSyn);
        }
        match find_mss(tcp.get(20..hlen).unwrap_or_default()) {
            Err(()) => self.stats.bad_options += 1,
            Ok(None) => self.stats.no_mss += 1,
            Ok(Some(at)) => {
                // `at` is the offset of the MSS value within the options
                let off = 20 + at;
                let (Some(old), Some(hc)) = (get16(tcp, off), get16(tcp, 16)) else {
                    return Verdict::Next(Next::Forward);
                };
                if old > limit {
                    // an odd offset puts the value's bytes in the low byte of one word
                    // and the high byte of the next: its contribution is the swapped value
                    let (m, m2) = if off % 2 == 0 {
                        (old, limit)
                    } else {
                        (old.swap_bytes(), limit.swap_bytes())
                    };
                    put16(tcp, off, limit);
                    put16(tcp, 16, update(hc, m, m2));
                    self.stats.clamped += 1;
                }
            }
        }
        Verdict::Next(Next::Forward)
    }
}

fn get16(b: &[u8], at: usize) -> Option<u16> {
    b.get(at..)?
        .first_chunk::<2>()
        .map(|v| u16::from_be_bytes(*v))
}

fn put16(b: &mut [u8], at: usize, v: u16) {
    if let Some(d) = b.get_mut(at..).and_then(<[u8]>::first_chunk_mut::<2>) {
        *d = v.to_be_bytes();
    }
}

/// The checksum after one 16-bit word changes from `m` to `m2`: RFC 1624 equation 3,
/// `HC' = ~(~HC + ~m + m')`.
#[must_use]
#[inline(always)]
#[allow(
    clippy::inline_always,
    reason = "hot path: a few instructions, called per packet by fused passes"
)]
pub fn update(hc: u16, m: u16, m2: u16) -> u16 {
    let mut sum = u32::from(!hc) + u32::from(!m) + u32::from(m2);
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    !u16::try_from(sum).unwrap_or(0xffff)
}

/// Walks TCP options (RFC 9293 section 3.1, "Options"): the offset of the MSS value
/// (kind 2, length 4) in `opts`, `Ok(None)` without one, `Err` on a malformed list
/// (a length below 2 or beyond the header, or an MSS option of the wrong length). The
/// walk ends at End of Option List and never looks past `opts` (at most 40 bytes).
fn find_mss(opts: &[u8]) -> Result<Option<usize>, ()> {
    let mut at = 0usize;
    while let Some(&kind) = opts.get(at) {
        match kind {
            0 => return Ok(None),
            1 => at += 1,
            _ => {
                let len = usize::from(*opts.get(at + 1).ok_or(())?);
                if len < 2 || at + len > opts.len() {
                    return Err(());
                }
                if kind == 2 {
                    return if len == 4 { Ok(Some(at + 2)) } else { Err(()) };
                }
                at += len;
            }
        }
    }
    Ok(None)
}

impl Node for MssClamp {
    type Next = Next;
    type Drop = Drop;
    const NAME: &'static str = "tcp-mss-clamp";

    #[inline]
    fn packet(&mut self, pkt: &mut Pkt<'_>) -> Verdict<Next, Drop> {
        let l3 = usize::from(pkt.meta.l3_offset);
        match pkt.data_mut().get_mut(l3..) {
            Some(ip) => self.clamp(ip),
            None => Verdict::Next(Next::Forward),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn option_walk_is_bounded_and_safe() {
        assert_eq!(find_mss(&[]), Ok(None));
        assert_eq!(find_mss(&[1, 1, 2, 4, 5, 0xb4]), Ok(Some(4)));
        assert_eq!(find_mss(&[0, 2, 4, 5, 0xb4]), Ok(None), "after EOL");
        assert_eq!(find_mss(&[3, 0]), Err(()), "length 0 would loop");
        assert_eq!(find_mss(&[3, 1]), Err(()));
        assert_eq!(find_mss(&[3]), Err(()), "no length byte");
        assert_eq!(find_mss(&[3, 9, 0, 0]), Err(()), "past the header");
        assert_eq!(find_mss(&[2, 3, 5]), Err(()), "MSS of length 3");
        assert_eq!(find_mss(&[4, 2, 8, 10, 0, 0, 0, 0, 0, 0, 0, 0]), Ok(None));
    }

    #[test]
    fn pppoe_defaults() {
        let c = MssClamp::for_mtu(1492);
        assert_eq!((c.mss4, c.mss6), (1452, 1432));
    }
}
