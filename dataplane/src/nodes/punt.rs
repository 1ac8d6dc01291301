//! `punt`: classifies control frames and admits them into a bounded queue toward the
//! control plane, with a token-bucket rate limit and a queue share per type, so that a
//! flood of one type (PADI, DHCPDISCOVER) can neither starve forwarding nor the other
//! control types.
//!
//! Frames reach this node with their data starting at the Ethernet header and
//! `meta.l3_offset` pointing at the header after the ethertype (as `ethernet-input`
//! leaves them), or decapsulated to the IP header (`l3_offset` 0, as after
//! `pppoe-session-input`). Types:
//!
//! | type | what |
//! |---|---|
//! | `pppoe-discovery` | ethertype 0x8863 (RFC 2516 section 5) |
//! | `ppp-lcp` | PPP 0xc021 in a PPPoE session (RFC 1661 section 5) |
//! | `ppp-auth` | PAP 0xc023 (RFC 1334), CHAP 0xc223 (RFC 1994), EAP 0xc227 (RFC 3748) |
//! | `ppp-ncp` | IPCP 0x8021 (RFC 1332), IPv6CP 0x8057 (RFC 5072) |
//! | `ppp-other` | any other PPP control protocol (>= 0x8000), for Protocol-Reject |
//! | `dhcp4` | UDP to port 67 or 68 (RFC 2131 section 4.1) |
//! | `dhcp6` | UDP to port 546 or 547 (RFC 8415 section 7.2) |
//! | `ike` | UDP to port 500, or to 4500 with the non-ESP marker or a NAT-keepalive (RFC 3948 sections 2.2, 2.3) |
//! | `arp` | ethertype 0x0806 (the requests `arp-input` did not answer) |
//! | `icmp` | ICMP to a gateway address; ICMPv6 to a gateway address or link-local multicast (ND, RFC 4861) |
//!
//! Everything else (including ESP in UDP 4500) leaves on the `pass` edge untouched.
//!
//! The node decides per packet (`punt` edge, or a drop for `rate-limited` or
//! `queue-full`); the worker then moves the `punt` edge's frame into the queue with
//! [`Punt::enqueue`], and the control plane takes frames out with [`Punt::drain`] on
//! the worker's thread (the buffers belong to the worker's arena).

use core::time::Duration;
use std::collections::VecDeque;
use std::net::Ipv4Addr;

use crate::buffer::{Pkt, Pool};
use crate::graph::{Frame, Label, Node, Verdict};
use crate::nodes::qos::TokenBucket;

crate::label! {
    /// The control frame types, each with its own rate limit, queue share and counters.
    pub enum PuntType {
        /// PPPoE discovery (PADI, PADR, PADT, ...).
        PppoeDiscovery => "pppoe-discovery",
        /// PPP LCP in a session.
        Lcp => "ppp-lcp",
        /// PPP authentication (PAP, CHAP, EAP).
        Auth => "ppp-auth",
        /// PPP network control (IPCP, IPv6CP).
        Ncp => "ppp-ncp",
        /// Other PPP control protocols.
        OtherPpp => "ppp-other",
        /// DHCPv4.
        Dhcp4 => "dhcp4",
        /// DHCPv6.
        Dhcp6 => "dhcp6",
        /// IKE (500, and 4500 non-ESP).
        Ike => "ike",
        /// ARP.
        Arp => "arp",
        /// ICMP / ICMPv6 to the gateway.
        Icmp => "icmp",
    }
}

crate::label! {
    /// Edges of `punt`.
    pub enum Next {
        /// A control frame admitted: to [`Punt::enqueue`].
        Punt => "punt",
        /// Not a control frame: on along the forwarding path, untouched.
        Pass => "pass",
    }
}

crate::label! {
    /// Drop reasons of `punt` (per type in [`PuntStats`]).
    pub enum Drop {
        /// Over its type's rate limit.
        RateLimited => "rate-limited",
        /// Its type's share of the queue is full (the control plane is behind).
        QueueFull => "queue-full",
    }
}

/// The limit of one control type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TypeLimit {
    /// Sustained frames per second.
    pub rate: u64,
    /// Frames admitted back to back.
    pub burst: u64,
    /// Frames of this type the queue holds at most.
    pub depth: usize,
}

impl TypeLimit {
    /// `rate` frames per second, a burst of `burst`, a queue share of `depth`.
    #[must_use]
    pub const fn new(rate: u64, burst: u64, depth: usize) -> Self {
        Self { rate, burst, depth }
    }
}

/// Configuration of `punt`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PuntConfig {
    /// Limits by [`PuntType`] index.
    pub limits: [TypeLimit; PuntType::COUNT],
    /// The gateway's IPv4 addresses (ICMP to them is punted).
    pub gateway4: Vec<Ipv4Addr>,
    /// The gateway's IPv6 addresses (ICMPv6 to them is punted, as is ICMPv6 to `ff02::/16`).
    pub gateway6: Vec<[u8; 16]>,
}

impl Default for PuntConfig {
    /// Limits sized for a few thousand subscribers (re)connecting: discovery and DHCP
    /// 1000/s, the rest less; queue shares of 64-256 frames.
    fn default() -> Self {
        let limits = TYPES.map(|t| match t {
            PuntType::PppoeDiscovery | PuntType::Dhcp4 | PuntType::Dhcp6 => {
                TypeLimit::new(1000, 100, 256)
            }
            PuntType::Icmp | PuntType::OtherPpp => TypeLimit::new(100, 20, 64),
            _ => TypeLimit::new(500, 64, 128),
        });
        Self {
            limits,
            gateway4: Vec::new(),
            gateway6: Vec::new(),
        }
    }
}

/// Per-type counters of `punt`, by [`PuntType`] index.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PuntStats {
    /// Frames admitted into the queue.
    pub punted: [u64; PuntType::COUNT],
    /// Frames dropped over the rate limit.
    pub rate_limited: [u64; PuntType::COUNT],
    /// Frames dropped because the type's queue share was full.
    pub queue_full: [u64; PuntType::COUNT],
    /// Frames handed to the control plane by [`Punt::drain`].
    pub drained: [u64; PuntType::COUNT],
}

#[derive(Debug, Clone, Copy)]
struct TypeState {
    limit: TypeLimit,
    bucket: TokenBucket,
    /// In the queue.
    queued: usize,
    /// Admitted by `packet`, not yet moved into the queue by `enqueue`.
    pending: usize,
}

/// The `punt` node and its queue.
#[derive(Debug)]
pub struct Punt<'p> {
    /// The time of the frame being processed (set by the worker per frame).
    pub now: Duration,
    /// Per-type counters.
    pub stats: PuntStats,
    gateway4: Vec<u32>,
    gateway6: Vec<[u8; 16]>,
    types: [TypeState; PuntType::COUNT],
    queue: VecDeque<(PuntType, Pkt<'p>)>,
}

const TYPES: [PuntType; PuntType::COUNT] = [
    PuntType::PppoeDiscovery,
    PuntType::Lcp,
    PuntType::Auth,
    PuntType::Ncp,
    PuntType::OtherPpp,
    PuntType::Dhcp4,
    PuntType::Dhcp6,
    PuntType::Ike,
    PuntType::Arp,
    PuntType::Icmp,
];

impl<'p> Punt<'p> {
    /// A punt node with `cfg`, its buckets full as of `now`. The queue is allocated
    /// here (the sum of the depths), never per packet.
    #[must_use]
    pub fn new(cfg: &PuntConfig, now: Duration) -> Self {
        let types = cfg.limits.map(|l| TypeState {
            limit: l,
            bucket: TokenBucket::new(l.rate, l.burst, now),
            queued: 0,
            pending: 0,
        });
        let total = cfg.limits.iter().map(|l| l.depth).sum();
        Self {
            now,
            stats: PuntStats::default(),
            gateway4: cfg.gateway4.iter().map(|a| u32::from(*a)).collect(),
            gateway6: cfg.gateway6.clone(),
            types,
            queue: VecDeque::with_capacity(total),
        }
    }

    /// Changes one type's limit (its bucket starts full).
    pub fn set_limit(&mut self, t: PuntType, limit: TypeLimit) {
        if let Some(s) = self.types.get_mut(t.index()) {
            s.limit = limit;
            s.bucket = TokenBucket::new(limit.rate, limit.burst, self.now);
            let total: usize = self.types.iter().map(|s| s.limit.depth).sum();
            self.queue.reserve(total.saturating_sub(self.queue.len()));
        }
    }

    /// Frames waiting for the control plane.
    #[must_use]
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Moves the admitted frames (the `punt` edge's output frame) into the queue,
    /// leaving `frame` empty. A frame that no longer classifies, or whose type's share
    /// is full, goes back to `pool` (counted as `queue_full`).
    pub fn enqueue(&mut self, frame: &mut Frame<'p>, pool: &mut Pool<'p>) {
        for p in frame.drain(..) {
            let Some(t) = self.classify(&p) else {
                pool.free(p);
                continue;
            };
            let i = t.index();
            match self.types.get_mut(i) {
                Some(s) if s.queued < s.limit.depth => {
                    s.queued += 1;
                    self.queue.push_back((t, p));
                }
                _ => {
                    if let Some(c) = self.stats.queue_full.get_mut(i) {
                        *c += 1;
                    }
                    pool.free(p);
                }
            }
        }
        for s in &mut self.types {
            s.pending = 0;
        }
    }

    /// Hands up to `max` queued frames, oldest first, to `f` (on the worker's thread:
    /// copy what the control plane needs) and returns their buffers to `pool`. Returns
    /// how many were handed over.
    pub fn drain(
        &mut self,
        pool: &mut Pool<'p>,
        max: usize,
        mut handler: impl FnMut(PuntType, &Pkt<'p>),
    ) -> usize {
        let mut done = 0;
        while done < max {
            let Some((ty, pkt)) = self.queue.pop_front() else {
                break;
            };
            let i = ty.index();
            if let Some(s) = self.types.get_mut(i) {
                s.queued = s.queued.saturating_sub(1);
            }
            if let Some(c) = self.stats.drained.get_mut(i) {
                *c += 1;
            }
            handler(ty, &pkt);
            pool.free(pkt);
            done += 1;
        }
        done
    }

    /// Returns every queued frame to `pool` (on shutdown).
    pub fn clear(&mut self, pool: &mut Pool<'p>) {
        for (_, p) in self.queue.drain(..) {
            pool.free(p);
        }
        for s in &mut self.types {
            s.queued = 0;
        }
    }

    /// The control type of a frame, `None` for a frame to forward.
    #[must_use]
    pub fn classify(&self, pkt: &Pkt<'_>) -> Option<PuntType> {
        let d = pkt.data();
        let l3 = usize::from(pkt.meta.l3_offset);
        let et = if l3 >= 2 {
            let e = d.get(l3 - 2..l3)?;
            u16::from_be_bytes([*e.first()?, *e.get(1)?])
        } else {
            match d.get(l3)? >> 4 {
                4 => 0x0800,
                6 => 0x86dd,
                _ => return None,
            }
        };
        let net = d.get(l3..)?;
        match et {
            0x8863 => Some(PuntType::PppoeDiscovery),
            0x0806 => Some(PuntType::Arp),
            0x0800 => self.classify_ip4(net),
            0x86dd => self.classify_ip6(net),
            0x8864 => {
                // RFC 2516 section 6: 6-byte PPPoE header, then the PPP protocol
                let h = net.first_chunk::<8>()?;
                match u16::from_be_bytes([h[6], h[7]]) {
                    0xc021 => Some(PuntType::Lcp),
                    0xc023 | 0xc223 | 0xc227 => Some(PuntType::Auth),
                    0x8021 | 0x8057 => Some(PuntType::Ncp),
                    0x0021 => self.classify_ip4(net.get(8..)?),
                    0x0057 => self.classify_ip6(net.get(8..)?),
                    p if p >= 0x8000 => Some(PuntType::OtherPpp),
                    _ => None,
                }
            }
            _ => None,
        }
    }

    fn classify_ip4(&self, ip: &[u8]) -> Option<PuntType> {
        // RFC 791 section 3.1; only first fragments carry the transport header
        let h = ip.first_chunk::<20>()?;
        let ihl = usize::from(h[0] & 0x0f) * 4;
        if h[0] >> 4 != 4 || ihl < 20 || u16::from_be_bytes([h[6], h[7]]) & 0x1fff != 0 {
            return None;
        }
        let l4 = ip.get(ihl..)?;
        match h[9] {
            1 => {
                let dst = u32::from_be_bytes([h[16], h[17], h[18], h[19]]);
                self.gateway4.contains(&dst).then_some(PuntType::Icmp)
            }
            17 => udp(l4, false),
            _ => None,
        }
    }

    fn classify_ip6(&self, ip: &[u8]) -> Option<PuntType> {
        // RFC 8200 section 3; extension headers are not walked (control traffic has none)
        let h = ip.first_chunk::<40>()?;
        if h[0] >> 4 != 6 {
            return None;
        }
        let l4 = ip.get(40..)?;
        match h[6] {
            58 => {
                let dst = ip.get(24..40)?;
                let multicast = dst.first_chunk::<2>() == Some(&[0xff, 0x02]);
                (multicast || self.gateway6.iter().any(|a| a[..] == *dst)).then_some(PuntType::Icmp)
            }
            17 => udp(l4, true),
            _ => None,
        }
    }
}

/// The control type of a UDP datagram by destination port.
fn udp(l4: &[u8], v6: bool) -> Option<PuntType> {
    let h = l4.first_chunk::<8>()?;
    // the UDP length bounds the payload (Ethernet padding follows it)
    let ulen = usize::from(u16::from_be_bytes([h[4], h[5]]));
    let payload = l4.get(8..ulen.min(l4.len())).unwrap_or_default();
    match (u16::from_be_bytes([h[2], h[3]]), v6) {
        (67 | 68, false) => Some(PuntType::Dhcp4),
        (546 | 547, true) => Some(PuntType::Dhcp6),
        (500, _) => Some(PuntType::Ike),
        // RFC 3948 section 2.2: a zero "non-ESP marker" means IKE; section 2.3: a
        // single 0xff octet is a NAT-keepalive; anything else is ESP
        (4500, _) => {
            let ike = payload.first_chunk::<4>() == Some(&[0; 4]) || payload == [0xff];
            ike.then_some(PuntType::Ike)
        }
        _ => None,
    }
}

impl Node for Punt<'_> {
    type Next = Next;
    type Drop = Drop;
    const NAME: &'static str = "punt";

    #[inline]
    fn packet(&mut self, pkt: &mut Pkt<'_>) -> Verdict<Next, Drop> {
        let Some(t) = self.classify(pkt) else {
            return Verdict::Next(Next::Pass);
        };
        let i = t.index();
        let Some(s) = self.types.get_mut(i) else {
            return Verdict::Next(Next::Pass);
        };
        if s.queued + s.pending >= s.limit.depth {
            if let Some(c) = self.stats.queue_full.get_mut(i) {
                *c += 1;
            }
            return Verdict::Drop(Drop::QueueFull);
        }
        if !s.bucket.take(self.now, 1) {
            if let Some(c) = self.stats.rate_limited.get_mut(i) {
                *c += 1;
            }
            return Verdict::Drop(Drop::RateLimited);
        }
        s.pending += 1;
        if let Some(c) = self.stats.punted.get_mut(i) {
            *c += 1;
        }
        Verdict::Next(Next::Punt)
    }
}

impl PuntType {
    /// Every type, in index order.
    pub const ALL: [PuntType; PuntType::COUNT] = TYPES;
}
