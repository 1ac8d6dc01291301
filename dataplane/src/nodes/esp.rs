//! Route-based IPsec with `bng-esp`: `esp-encrypt` protects IPv4/IPv6 packets routed into
//! a tunnel (tunnel mode, RFC 4303 section 3.1.2; IPv4 outer header; optional UDP
//! encapsulation, RFC 3948) and `esp-decrypt` verifies, decrypts and decapsulates ESP
//! addressed to us (RFC 4303 section 3.4), after which the inner packet continues to
//! `ip4-lookup`.
//!
//! Route-based: the FIB routes a remote subnet to an adjacency; [`EspEncrypt::bind`]
//! ties that adjacency (`meta.adjacency`, set by `ip4-lookup`) to an outbound SA, so
//! policy is the routing table (as an `xfrm` interface or VPP's `ipsec` tunnel
//! interface). Inbound, the SA is found by SPI ([`EspDecrypt::insert`]).
//!
//! The SAs are `bng-esp`'s [`Outbound`]/[`Inbound`] (any [`Transform`]: the `ring`
//! AES-GCM provider is enabled for the dataplane); per-SA counters and lifetime events
//! are theirs ([`Outbound::stats`], [`Outbound::poll_event`]), read through
//! [`EspEncrypt::sa_mut`] and [`EspDecrypt::sa_mut`] by the worker that owns them.
//!
//! Batching: `bng-esp`'s `encap_batch`/`decap_batch` are loops of `encap`/`decap` with
//! one result per item; the node calls `encap`/`decap` once per packet from the graph's
//! frame loop ([`crate::graph::run`]), which is that same loop with the graph's verdict
//! per packet, so there is one loop per frame and no second copy of it (STYLE.md
//! section 9). Each packet is encrypted in place in its own buffer, growing into the
//! headroom (outer IPv4 + UDP + ESP header + IV) and tailroom (trailer + ICV).

use core::ops::Range;
use core::time::Duration;

use bng_esp::crypto::Transform;
use bng_esp::rand_core::{CryptoRng, RngCore};
use bng_esp::sa::{Inbound, Outbound};
use bng_esp::{Error, ProtocolError};
use hashbrown::HashMap;

use crate::buffer::Pkt;
use crate::graph::{Node, Verdict};

/// Runs `f` over the packet's whole buffer with the packet's range inside it, then
/// sets the packet to the range `f` returns (or back to what it was on error).
fn in_buffer<E>(
    pkt: &mut Pkt<'_>,
    f: impl FnOnce(&mut [u8], Range<usize>) -> Result<Range<usize>, E>,
) -> Result<(), E> {
    let (head, len) = (pkt.headroom(), pkt.len());
    let tail = pkt.tailroom();
    // grow the data over the whole buffer: headroom in front, tailroom behind
    let _ = pkt.push_front(head);
    let _ = pkt.set_len(head + len + tail);
    let r = f(pkt.data_mut(), head..head + len);
    let (start, n) = match &r {
        Ok(out) => (out.start, out.len()),
        Err(_) => (head, len),
    };
    let _ = pkt.pull_front(start);
    let _ = pkt.set_len(n);
    r.map(|_| ())
}

crate::label! {
    /// Edges of `esp-encrypt`.
    pub enum EncryptNext {
        /// The ESP packet (outer IPv4 at offset 0, `meta.l3_offset` 0): to `ip4-lookup`
        /// toward the tunnel's peer.
        Ip4 => "ip4-lookup",
        /// The same with an IPv6 outer header (an SA with `Tunnel::V6`; `esp-decrypt`
        /// takes IPv4 outer headers only).
        Ip6 => "ip6-lookup",
    }
}

crate::label! {
    /// Drop reasons of `esp-encrypt`.
    pub enum EncryptDrop {
        /// No SA is bound to the packet's adjacency.
        NoSa => "no-sa",
        /// Not an IP packet, or its length field does not match (RFC 791, RFC 8200).
        BadPacket => "bad-packet",
        /// Not enough headroom or tailroom in the buffer.
        NoRoom => "no-room",
        /// The SA reached a hard lifetime or its last sequence number (RFC 4303
        /// section 3.3.3): the key manager must rekey.
        SaExpired => "sa-expired",
    }
}

/// The `esp-encrypt` node: outbound SAs by tunnel index, adjacencies bound to tunnels.
#[derive(Debug)]
pub struct EspEncrypt<T, R> {
    /// The time of the frame being processed (set by the worker per frame).
    pub now: Duration,
    /// Randomness for transforms that need it (CBC IVs; AES-GCM IVs come from the
    /// sequence number). A `CryptoRng` the caller owns (STYLE.md section 8).
    pub rng: R,
    sas: Vec<Option<Outbound<T>>>,
    by_adjacency: Vec<Option<u32>>,
}

impl<T: Transform, R: RngCore + CryptoRng> EspEncrypt<T, R> {
    /// An empty node.
    #[must_use]
    pub fn new(rng: R) -> Self {
        Self {
            now: Duration::ZERO,
            rng,
            sas: Vec::new(),
            by_adjacency: Vec::new(),
        }
    }

    /// Installs (or, on rekey, replaces) the outbound SA of tunnel `tunnel`.
    pub fn set_sa(&mut self, tunnel: u32, sa: Outbound<T>) {
        let i = tunnel as usize;
        if self.sas.len() <= i {
            self.sas.resize_with(i + 1, || None);
        }
        if let Some(s) = self.sas.get_mut(i) {
            *s = Some(sa);
        }
    }

    /// Removes tunnel `tunnel`'s SA (its packets are then dropped as `no-sa`).
    pub fn remove_sa(&mut self, tunnel: u32) -> Option<Outbound<T>> {
        self.sas.get_mut(tunnel as usize)?.take()
    }

    /// Routes packets whose `meta.adjacency` is `adjacency` into tunnel `tunnel`.
    pub fn bind(&mut self, adjacency: u32, tunnel: u32) {
        let i = adjacency as usize;
        if self.by_adjacency.len() <= i {
            self.by_adjacency.resize(i + 1, None);
        }
        if let Some(s) = self.by_adjacency.get_mut(i) {
            *s = Some(tunnel);
        }
    }

    /// The SA of tunnel `tunnel`: its stats, events and lifetimes.
    pub fn sa_mut(&mut self, tunnel: u32) -> Option<&mut Outbound<T>> {
        self.sas.get_mut(tunnel as usize)?.as_mut()
    }

    /// The SA of tunnel `tunnel`, read-only.
    #[must_use]
    pub fn sa(&self, tunnel: u32) -> Option<&Outbound<T>> {
        self.sas.get(tunnel as usize)?.as_ref()
    }
}

impl<T: Transform, R: RngCore + CryptoRng> Node for EspEncrypt<T, R> {
    type Next = EncryptNext;
    type Drop = EncryptDrop;
    const NAME: &'static str = "esp-encrypt";

    #[inline]
    fn packet(&mut self, pkt: &mut Pkt<'_>) -> Verdict<EncryptNext, EncryptDrop> {
        let Some(Some(tunnel)) = self.by_adjacency.get(pkt.meta.adjacency as usize) else {
            return Verdict::Drop(EncryptDrop::NoSa);
        };
        let Some(Some(sa)) = self.sas.get_mut(*tunnel as usize) else {
            return Verdict::Drop(EncryptDrop::NoSa);
        };
        // to the inner IP header, trimmed to its length (Ethernet padding goes)
        if !pkt.pull_front(usize::from(pkt.meta.l3_offset)) {
            return Verdict::Drop(EncryptDrop::BadPacket);
        }
        let ip_len = match pkt.data().first_chunk::<6>() {
            Some(h) if h[0] >> 4 == 4 => usize::from(u16::from_be_bytes([h[2], h[3]])),
            Some(h) if h[0] >> 4 == 6 => usize::from(u16::from_be_bytes([h[4], h[5]])) + 40,
            _ => return Verdict::Drop(EncryptDrop::BadPacket),
        };
        if ip_len > pkt.len() || !pkt.set_len(ip_len) {
            return Verdict::Drop(EncryptDrop::BadPacket);
        }
        pkt.meta.l3_offset = 0;
        let (now, rng) = (self.now, &mut self.rng);
        match in_buffer(pkt, |buf, range| sa.encap(now, buf, range, rng)) {
            Ok(()) if pkt.data().first().is_some_and(|b| b >> 4 == 6) => {
                Verdict::Next(EncryptNext::Ip6)
            }
            Ok(()) => Verdict::Next(EncryptNext::Ip4),
            Err(Error::Emit(_)) => Verdict::Drop(EncryptDrop::NoRoom),
            Err(Error::Protocol(_)) => Verdict::Drop(EncryptDrop::SaExpired),
            Err(_) => Verdict::Drop(EncryptDrop::BadPacket),
        }
    }
}

crate::label! {
    /// Edges of `esp-decrypt`.
    pub enum DecryptNext {
        /// An inner IPv4 packet (at offset 0): to `ip4-lookup`.
        Ip4 => "ip4-lookup",
        /// An inner IPv6 packet (at offset 0).
        Ip6 => "ip6-lookup",
    }
}

crate::label! {
    /// Drop reasons of `esp-decrypt`.
    pub enum DecryptDrop {
        /// Not ESP (RFC 4303 section 2) or ESP-in-UDP (RFC 3948 section 2.2) over IPv4,
        /// or an IKE message / NAT-keepalive on port 4500 (those are punted earlier).
        NotEsp => "not-esp",
        /// No inbound SA has this SPI.
        UnknownSpi => "unknown-spi",
        /// Replayed or left of the anti-replay window (RFC 4303 section 3.4.3).
        Replayed => "replayed",
        /// The ICV did not verify (RFC 4303 section 3.4.4).
        IcvMismatch => "icv-mismatch",
        /// Malformed ESP, bad padding, or an IPv4 fragment (reassembly first).
        Malformed => "malformed",
        /// The SA reached a hard lifetime.
        SaExpired => "sa-expired",
        /// A TFC dummy packet (next header 59, RFC 4303 section 2.6): dropped as the RFC
        /// says.
        Dummy => "dummy",
    }
}

/// The `esp-decrypt` node: inbound SAs by SPI.
#[derive(Debug)]
pub struct EspDecrypt<T> {
    /// The time of the frame being processed (set by the worker per frame).
    pub now: Duration,
    /// Inbound SAs by SPI, each with its tag ([`EspDecrypt::insert_tagged`]).
    by_spi: HashMap<u32, (Inbound<T>, u32)>,
}

impl<T: Transform> Default for EspDecrypt<T> {
    fn default() -> Self {
        Self {
            now: Duration::ZERO,
            by_spi: HashMap::new(),
        }
    }
}

impl<T: Transform> EspDecrypt<T> {
    /// An empty node.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Installs (or replaces) the inbound SA of its SPI (tag [`EspDecrypt::UNTAGGED`]).
    pub fn insert(&mut self, sa: Inbound<T>) {
        self.insert_tagged(sa, Self::UNTAGGED);
    }

    /// The tag of SAs installed with [`EspDecrypt::insert`].
    pub const UNTAGGED: u32 = u32::MAX;

    /// Installs (or replaces) the inbound SA of its SPI with a tag (a route-based
    /// tunnel's index), which the node writes to `meta.adjacency` of each packet the SA
    /// decrypts, so later nodes know which tunnel the inner packet came through.
    pub fn insert_tagged(&mut self, sa: Inbound<T>, tag: u32) {
        self.by_spi.insert(sa.config().spi.0, (sa, tag));
    }

    /// Removes the inbound SA of `spi`.
    pub fn remove(&mut self, spi: u32) -> Option<Inbound<T>> {
        self.by_spi.remove(&spi).map(|(sa, _)| sa)
    }

    /// The SA of `spi`: its stats, events, window and lifetimes.
    pub fn sa_mut(&mut self, spi: u32) -> Option<&mut Inbound<T>> {
        self.by_spi.get_mut(&spi).map(|(sa, _)| sa)
    }

    /// The SA of `spi`, read-only.
    #[must_use]
    pub fn sa(&self, spi: u32) -> Option<&Inbound<T>> {
        self.by_spi.get(&spi).map(|(sa, _)| sa)
    }
}

/// The SPI of an IPv4 ESP or ESP-in-UDP (port 4500) packet (`None` for anything
/// else, including IKE on port 4500 and NAT-keepalives, RFC 3948 sections 2.2-2.3).
#[must_use]
pub fn spi_of(ip: &[u8]) -> Option<u32> {
    let h = ip.first_chunk::<20>()?;
    let ihl = usize::from(h[0] & 0x0f) * 4;
    if h[0] >> 4 != 4 || ihl < 20 {
        return None;
    }
    let l4 = ip.get(ihl..)?;
    let esp = match h[9] {
        50 => l4,
        17 => {
            let u = l4.first_chunk::<8>()?;
            if u16::from_be_bytes([u[2], u[3]]) != 4500 {
                return None;
            }
            l4.get(8..)?
        }
        _ => return None,
    };
    // RFC 3948 section 2.2: SPI 0 is the non-ESP marker (IKE)
    let spi = u32::from_be_bytes(*esp.first_chunk::<4>()?);
    (spi != 0).then_some(spi)
}

impl<T: Transform> Node for EspDecrypt<T> {
    type Next = DecryptNext;
    type Drop = DecryptDrop;
    const NAME: &'static str = "esp-decrypt";

    #[inline]
    fn packet(&mut self, pkt: &mut Pkt<'_>) -> Verdict<DecryptNext, DecryptDrop> {
        let l3 = usize::from(pkt.meta.l3_offset);
        let Some(spi) = pkt.data().get(l3..).and_then(spi_of) else {
            return Verdict::Drop(DecryptDrop::NotEsp);
        };
        let Some((sa, tag)) = self.by_spi.get_mut(&spi) else {
            return Verdict::Drop(DecryptDrop::UnknownSpi);
        };
        if !pkt.pull_front(l3) {
            return Verdict::Drop(DecryptDrop::Malformed);
        }
        pkt.meta.l3_offset = 0;
        let now = self.now;
        pkt.meta.adjacency = *tag;
        let r = in_buffer(pkt, |buf, range| {
            sa.decap(now, buf, range).map(|d| d.packet)
        });
        match r {
            Ok(()) => match pkt.data().first().map(|b| b >> 4) {
                Some(4) => Verdict::Next(DecryptNext::Ip4),
                Some(6) => Verdict::Next(DecryptNext::Ip6),
                _ => Verdict::Drop(DecryptDrop::Dummy),
            },
            Err(Error::Protocol(ProtocolError::Replayed)) => Verdict::Drop(DecryptDrop::Replayed),
            Err(Error::Protocol(ProtocolError::IcvMismatch)) => {
                Verdict::Drop(DecryptDrop::IcvMismatch)
            }
            Err(Error::Protocol(ProtocolError::Expired)) => Verdict::Drop(DecryptDrop::SaExpired),
            Err(_) => Verdict::Drop(DecryptDrop::Malformed),
        }
    }
}
