//! `icmp-error`: ICMP error messages the gateway originates (RFC 792, RFC 1812 section
//! 4.3), built in place from the packet that caused them, and IPv4 fragmentation
//! toward links with a smaller MTU (RFC 791 section 3.2, RFC 1812 section 5.2.6).
//!
//! A node that cannot forward a packet for one of these reasons sends it on an edge to
//! `icmp-error` with the error in `meta.adjacency` ([`time_exceeded`],
//! [`frag_needed`]) and `meta.l3_offset` at its IPv4 header, unchanged (TTL not yet
//! decremented). `icmp-error` then:
//!
//! - refuses what RFC 1812 section 4.3.2.7 forbids an error about: an ICMP error, a
//!   fragment other than the first, a packet to or from a broadcast, multicast,
//!   loopback, zero or class E address;
//! - takes a token from its rate limit (section 4.3.2.8; `IcmpLimit`, per worker);
//! - turns the packet into the error: a new IPv4 header (source: our address on the
//!   port the packet came in on, section 4.3.2.4; destination: the packet's source),
//!   the ICMP header, and as much of the packet as keeps the error within 576 bytes
//!   (section 4.3.2.3);
//! - sends it on `access` (it goes back to a host on an access port) or `upstream`.

use core::time::Duration;
use std::net::Ipv4Addr;

use crate::buffer::{Pkt, Pool};
use crate::graph::{Node, Verdict};

/// ICMP type 11, code 0: time to live exceeded in transit (RFC 792).
pub const TIME_EXCEEDED: u8 = 11;
/// ICMP type 3: destination unreachable (RFC 792).
pub const DEST_UNREACHABLE: u8 = 3;
/// Code 4 of type 3: fragmentation needed and DF set (RFC 792; RFC 1191 section 4
/// puts the next-hop MTU in the low 16 bits of the header's second word).
pub const FRAG_NEEDED: u8 = 4;

/// The largest error datagram (RFC 1812 section 4.3.2.3: no more than 576 bytes).
pub const MAX_ERROR: usize = 576;

/// TTL of the errors we originate.
const TTL: u8 = 64;

/// One error in the rate limit's units.
const NANO: u128 = 1_000_000_000;

/// The error of a packet whose TTL would reach zero (RFC 1812 section 5.3.1), as
/// `meta.adjacency` of a packet sent to `icmp-error`.
#[must_use]
pub const fn time_exceeded() -> u32 {
    (TIME_EXCEEDED as u32) << 24
}

/// The error of a packet with DF set that is larger than the next link's `mtu` (RFC
/// 1191 section 4), as `meta.adjacency` of a packet sent to `icmp-error`.
#[must_use]
pub const fn frag_needed(mtu: u16) -> u32 {
    ((DEST_UNREACHABLE as u32) << 24) | ((FRAG_NEEDED as u32) << 16) | mtu as u32
}

/// RFC 1812 section 4.3.2.8 rate limit: a token bucket of `per_sec` errors a second
/// and `burst` at once (the defaults are Linux's `icmp_msgs_per_sec` and
/// `icmp_msgs_burst`); `per_sec` 0 turns ICMP errors off (such packets are dropped
/// and counted as before).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IcmpLimit {
    /// Errors per second, on average.
    pub per_sec: u32,
    /// Errors at once (the bucket's depth).
    pub burst: u32,
}

impl Default for IcmpLimit {
    fn default() -> Self {
        Self {
            per_sec: 1000,
            burst: 50,
        }
    }
}

crate::label! {
    /// Edges of `icmp-error`.
    pub enum Next {
        /// To a host on an access port (a subscriber): to `subscriber-output`.
        Access => "subscriber-output",
        /// To a host beyond the upstream port: to `ip4-lookup` (and `nat44` in2out
        /// where the quoted packet was translated).
        Upstream => "ip4-lookup",
    }
}

crate::label! {
    /// Drop reasons of `icmp-error` (no error is sent for these).
    pub enum Drop {
        /// Not an IPv4 header, or shorter than its lengths.
        BadHeader => "bad-header",
        /// The packet is itself an ICMP error (RFC 1812 section 4.3.2.7).
        AboutError => "about-icmp-error",
        /// A fragment other than the first (RFC 1812 section 4.3.2.7).
        NotFirstFragment => "not-first-fragment",
        /// A source or destination that must not get an error: broadcast, multicast,
        /// loopback, 0.0.0.0 or class E (RFC 1812 section 4.3.2.7).
        BadAddress => "bad-address",
        /// Over the rate limit (RFC 1812 section 4.3.2.8).
        RateLimited => "rate-limited",
        /// ICMP errors are off (`IcmpLimit::per_sec` 0).
        Off => "off",
        /// No headroom for the new headers.
        NoHeadroom => "no-headroom",
    }
}

/// The `icmp-error` node: one per worker.
#[derive(Debug)]
pub struct IcmpError {
    /// Our address on each port (by port number): the errors' source.
    pub addrs: Vec<Ipv4Addr>,
    /// The upstream port's number: packets that came in elsewhere get their error on
    /// [`Next::Access`].
    pub upstream: u16,
    limit: IcmpLimit,
    /// Tokens in billionths of an error (a nanosecond at one error a second: nothing
    /// is lost to rounding however often the bucket is filled).
    tokens: u128,
    last: Duration,
    /// The frame's time (set by the caller before a run).
    pub now: Duration,
}

impl IcmpError {
    /// A node sending errors from `addrs` (by port), within `limit`.
    #[must_use]
    pub fn new(addrs: Vec<Ipv4Addr>, upstream: u16, limit: IcmpLimit) -> Self {
        Self {
            addrs,
            upstream,
            limit,
            tokens: u128::from(limit.burst) * NANO,
            last: Duration::ZERO,
            now: Duration::ZERO,
        }
    }

    /// Takes one token at `self.now`; false when the bucket is empty.
    fn take_token(&mut self) -> bool {
        let cap = u128::from(self.limit.burst) * NANO;
        let dt = self.now.saturating_sub(self.last);
        self.last = self.last.max(self.now);
        // per_sec errors a second: per_sec billionths a nanosecond
        let add = dt.as_nanos().saturating_mul(u128::from(self.limit.per_sec));
        self.tokens = self.tokens.saturating_add(add).min(cap);
        if self.tokens >= NANO {
            self.tokens -= NANO;
            true
        } else {
            false
        }
    }
}

/// Whether `a` may be the source or destination of a packet that gets an ICMP error
/// (RFC 1812 section 4.3.2.7): not 0.0.0.0, loopback, multicast, limited broadcast or
/// class E.
fn unicast(a: u32) -> bool {
    let first = a >> 24;
    a != 0 && first != 127 && first < 224
}

/// The Internet checksum of `data` (RFC 1071).
fn checksum(data: &[u8]) -> u16 {
    !crate::nodes::ip4::csum(data)
}

impl Node for IcmpError {
    type Next = Next;
    type Drop = Drop;
    const NAME: &'static str = "icmp-error";

    fn packet(&mut self, pkt: &mut Pkt<'_>) -> Verdict<Next, Drop> {
        let l3 = usize::from(pkt.meta.l3_offset);
        let kind = pkt.meta.adjacency;
        let Some(ip) = pkt.data().get(l3..) else {
            return Verdict::Drop(Drop::BadHeader);
        };
        let Some(h) = ip.first_chunk::<20>() else {
            return Verdict::Drop(Drop::BadHeader);
        };
        let ihl = usize::from(h[0] & 0x0f) * 4;
        let total = usize::from(u16::from_be_bytes([h[2], h[3]]));
        if h[0] >> 4 != 4 || ihl < 20 || total < ihl || total > ip.len() {
            return Verdict::Drop(Drop::BadHeader);
        }
        // RFC 1812 section 4.3.2.7: not about a non-first fragment ...
        if (u16::from_be_bytes([h[6], h[7]]) & 0x1fff) != 0 {
            return Verdict::Drop(Drop::NotFirstFragment);
        }
        // ... nor about an ICMP error (types other than the queries: echo 0/8,
        // timestamp 13/14, information 15/16, address mask 17/18, router 9/10)
        if h[9] == 1 {
            let ty = ip.get(ihl).copied();
            if !matches!(ty, Some(0 | 8 | 9 | 10 | 13..=18)) {
                return Verdict::Drop(Drop::AboutError);
            }
        }
        let src = u32::from_be_bytes([h[12], h[13], h[14], h[15]]);
        let dst = u32::from_be_bytes([h[16], h[17], h[18], h[19]]);
        if !unicast(src) || !unicast(dst) {
            return Verdict::Drop(Drop::BadAddress);
        }
        if self.limit.per_sec == 0 {
            return Verdict::Drop(Drop::Off);
        }
        if !self.take_token() {
            return Verdict::Drop(Drop::RateLimited);
        }
        let from = self
            .addrs
            .get(usize::from(pkt.meta.rx_if))
            .map_or(0, |a| u32::from(*a));
        let quote = total.min(MAX_ERROR - 28);
        if !pkt.narrow(l3, quote) {
            return Verdict::Drop(Drop::BadHeader);
        }
        #[expect(
            clippy::cast_possible_truncation,
            reason = "quote + 28 <= MAX_ERROR (576)"
        )]
        let [l0, l1] = ((quote + 28) as u16).to_be_bytes();
        let [s0, s1, s2, s3] = from.to_be_bytes();
        let [d0, d1, d2, d3] = src.to_be_bytes();
        // RFC 791 section 3.1 header; TOS: internetwork control precedence, as routers
        // send their own control traffic (RFC 1812 section 5.3.3.2)
        let mut ip = [
            0x45, 0xc0, l0, l1, 0, 0, 0, 0, TTL, 1, 0, 0, s0, s1, s2, s3, d0, d1, d2, d3,
        ];
        let [c0, c1] = checksum(&ip).to_be_bytes();
        ip[10] = c0;
        ip[11] = c1;
        // RFC 792: type, code, checksum, then the second word (unused, or the next-hop
        // MTU in its low half for "fragmentation needed", RFC 1191 section 4)
        let [ty, code, m0, m1] = kind.to_be_bytes();
        let Some(hdr) = pkt.push_front(28).and_then(<[u8]>::first_chunk_mut::<28>) else {
            return Verdict::Drop(Drop::NoHeadroom);
        };
        if let Some((a, b)) = hdr.split_first_chunk_mut::<20>() {
            *a = ip;
            b.copy_from_slice(&[ty, code, 0, 0, 0, 0, m0, m1]);
        }
        if let Some(icmp) = pkt.data_mut().get_mut(20..) {
            let [c0, c1] = checksum(icmp).to_be_bytes();
            if let Some(c) = icmp.get_mut(2..4) {
                c.copy_from_slice(&[c0, c1]);
            }
        }
        pkt.meta.l3_offset = 0;
        pkt.meta.adjacency = 0;
        if pkt.meta.rx_if == self.upstream {
            Verdict::Next(Next::Upstream)
        } else {
            Verdict::Next(Next::Access)
        }
    }
}

/// Splits the IPv4 datagram of `p` (at `meta.l3_offset`, a 20-byte header, DF clear)
/// into fragments of at most `mtu` bytes (RFC 791 section 3.2 "An Example
/// Fragmentation Procedure"; RFC 1812 section 5.2.6), bare IPv4 packets
/// (`l3_offset` 0) with `p`'s metadata, appended to `out` in order; false (and `p`
/// freed) when it cannot be split (options, a bad length, `mtu` under 28, or no free
/// buffer).
pub fn fragment<'p>(
    mut p: Pkt<'p>,
    mtu: usize,
    pool: &mut Pool<'p>,
    out: &mut Vec<Pkt<'p>>,
) -> bool {
    let start = out.len();
    if !split(&mut p, mtu, pool, out) {
        for q in out.drain(start..) {
            pool.free(q);
        }
        pool.free(p);
        return false;
    }
    out.insert(start, p);
    true
}

/// [`fragment`]'s work: `p` narrowed to its datagram, the second and later fragments
/// into `out`, then `p` cut to the first; false (the caller frees what was made) when
/// it cannot.
fn split<'p>(p: &mut Pkt<'p>, mtu: usize, pool: &mut Pool<'p>, out: &mut Vec<Pkt<'p>>) -> bool {
    let l3 = usize::from(p.meta.l3_offset);
    let Some(h) = p
        .data()
        .get(l3..)
        .and_then(<[u8]>::first_chunk::<20>)
        .copied()
    else {
        return false;
    };
    let total = usize::from(u16::from_be_bytes([h[2], h[3]]));
    let per = mtu.saturating_sub(20) & !7;
    if h[0] != 0x45 || total <= 20 || per == 0 || !p.narrow(l3, total) {
        return false;
    }
    p.meta.l3_offset = 0;
    let flags_off = u16::from_be_bytes([h[6], h[7]]);
    let base = flags_off & 0x1fff;
    let more = flags_off & 0x2000;
    let payload = total - 20;
    let n = payload.div_ceil(per);
    for k in 1..n {
        let from = k * per;
        let len = per.min(payload - from);
        let Some(body) = p.data().get(20 + from..20 + from + len) else {
            return false;
        };
        let Some(mut q) = pool.alloc() else {
            return false;
        };
        if !q.set_len(20 + len) {
            pool.free(q);
            return false;
        }
        q.meta = p.meta;
        if let Some((a, b)) = q.data_mut().split_first_chunk_mut::<20>() {
            *a = h;
            b.copy_from_slice(body);
            #[expect(
                clippy::cast_possible_truncation,
                reason = "offsets and lengths of a < 64 KiB datagram"
            )]
            let (off, flen) = (base + (from / 8) as u16, (len + 20) as u16);
            let mf = if k + 1 == n { more } else { 0x2000 };
            fix(a, flen, off | mf);
        }
        out.push(q);
    }
    // the first fragment: p itself, cut to `per` bytes of payload with MF set
    if !p.set_len(20 + per) {
        return false;
    }
    if let Some(a) = p.data_mut().first_chunk_mut::<20>() {
        #[expect(clippy::cast_possible_truncation, reason = "per + 20 <= mtu < 64 KiB")]
        fix(a, (per + 20) as u16, base | 0x2000);
    }
    true
}

/// Sets a fragment's total length, flags and offset, and its header checksum.
fn fix(h: &mut [u8; 20], total: u16, flags_off: u16) {
    h[2..4].copy_from_slice(&total.to_be_bytes());
    h[6..8].copy_from_slice(&flags_off.to_be_bytes());
    h[10..12].copy_from_slice(&[0, 0]);
    let c = checksum(h);
    h[10..12].copy_from_slice(&c.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_limit_refills_however_often_it_is_asked() {
        // 10 a second, asked every microsecond for a second: the burst of 1 at 0,
        // then one at each 100 ms (nothing lost to rounding tiny refills)
        let mut n = IcmpError::new(
            Vec::new(),
            0,
            IcmpLimit {
                per_sec: 10,
                burst: 1,
            },
        );
        let mut sent = 0;
        for us in 0..1_000_000u64 {
            n.now = Duration::from_micros(us);
            if n.take_token() {
                sent += 1;
            }
        }
        assert_eq!(sent, 10);
    }
}
