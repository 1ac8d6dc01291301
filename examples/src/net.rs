//! Ethernet + IPv4/IPv6 + UDP framing for the example binaries that speak a UDP protocol
//! over an AF_PACKET socket (`dhcp-client`, `dhcp-server`, `dhcp6-client`), and the
//! receive step of their event loops.
//!
//! The protocol crates are sans-IO and produce only the UDP payload; these helpers wrap
//! it in the headers the kernel would have added, and take it back out of received frames.
//! They build and read simple frames only: no IP options on output, no IPv6 extension
//! headers, no VLAN tags.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use bng_dataplane::backend::afpacket::Socket;

/// Ethernet type of IPv4.
pub const ETHERTYPE_IPV4: [u8; 2] = [0x08, 0x00];
/// Ethernet type of IPv6.
pub const ETHERTYPE_IPV6: [u8; 2] = [0x86, 0xdd];
/// IP protocol / next header number of UDP.
pub const IPPROTO_UDP: u8 = 17;

/// The longest an event loop sleeps in [`recv_until`], so that it notices the stop flag
/// and its own deadline.
pub const MAX_WAIT: Duration = Duration::from_millis(200);

/// Internet checksum (RFC 1071): the one's complement of the one's-complement sum of the
/// 16-bit words of `parts`, each part padded with a zero byte to an even length (so only
/// the last part may have an odd length for the result to be the checksum of the
/// concatenation).
#[must_use]
pub fn checksum(parts: &[&[u8]]) -> u16 {
    let mut sum: u32 = 0;
    for p in parts {
        let mut chunks = p.chunks_exact(2);
        for c in &mut chunks {
            if let [hi, lo] = *c {
                sum += u32::from(u16::from_be_bytes([hi, lo]));
            }
        }
        if let [b] = chunks.remainder() {
            sum += u32::from(u16::from_be_bytes([*b, 0]));
        }
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    #[allow(clippy::cast_possible_truncation, reason = "folded to 16 bits above")]
    let folded = sum as u16;
    !folded
}

/// A UDP checksum as sent: 0 is transmitted as 0xffff (RFC 768; RFC 8200 section 8.1).
fn udp_checksum(pseudo: &[u8], udp: &[u8], payload: &[u8]) -> u16 {
    match checksum(&[pseudo, udp, payload]) {
        0 => 0xffff,
        c => c,
    }
}

/// `len` as a 16-bit length field (the frames built here are far below 64 KiB).
#[allow(
    clippy::cast_possible_truncation,
    reason = "payloads fit an Ethernet frame"
)]
fn len16(len: usize) -> [u8; 2] {
    (len as u16).to_be_bytes()
}

/// The addresses of an Ethernet + IPv4 + UDP frame to build with [`Udp4::frame`].
#[derive(Debug, Clone, Copy)]
pub struct Udp4 {
    /// Ethernet source.
    pub src_mac: [u8; 6],
    /// Ethernet destination.
    pub dst_mac: [u8; 6],
    /// IPv4 source.
    pub src: Ipv4Addr,
    /// IPv4 destination.
    pub dst: Ipv4Addr,
    /// UDP source port.
    pub src_port: u16,
    /// UDP destination port.
    pub dst_port: u16,
}

impl Udp4 {
    /// Ethernet + IPv4 (20-byte header, TOS 0x10, TTL 64, ID 0, no fragmentation flags) +
    /// UDP around `payload`, with both checksums.
    #[must_use]
    #[allow(
        clippy::indexing_slicing,
        reason = "fixed offsets in fixed-size headers"
    )]
    pub fn frame(&self, payload: &[u8]) -> Vec<u8> {
        let udp_len = 8 + payload.len();
        let ip_len = 20 + udp_len;
        let mut f = Vec::with_capacity(14 + ip_len);
        f.extend_from_slice(&self.dst_mac);
        f.extend_from_slice(&self.src_mac);
        f.extend_from_slice(&ETHERTYPE_IPV4);
        let mut ip = [0u8; 20];
        ip[0] = 0x45;
        ip[1] = 0x10;
        ip[2..4].copy_from_slice(&len16(ip_len));
        ip[8] = 64;
        ip[9] = IPPROTO_UDP;
        ip[12..16].copy_from_slice(&self.src.octets());
        ip[16..20].copy_from_slice(&self.dst.octets());
        let c = checksum(&[&ip]);
        ip[10..12].copy_from_slice(&c.to_be_bytes());
        f.extend_from_slice(&ip);
        let mut udp = [0u8; 8];
        udp[0..2].copy_from_slice(&self.src_port.to_be_bytes());
        udp[2..4].copy_from_slice(&self.dst_port.to_be_bytes());
        udp[4..6].copy_from_slice(&len16(udp_len));
        // RFC 768 pseudo header
        let mut pseudo = [0u8; 12];
        pseudo[0..4].copy_from_slice(&self.src.octets());
        pseudo[4..8].copy_from_slice(&self.dst.octets());
        pseudo[9] = IPPROTO_UDP;
        pseudo[10..12].copy_from_slice(&len16(udp_len));
        let uc = udp_checksum(&pseudo, &udp, payload);
        udp[6..8].copy_from_slice(&uc.to_be_bytes());
        f.extend_from_slice(&udp);
        f.extend_from_slice(payload);
        f
    }
}

/// The addresses of an Ethernet + IPv6 + UDP frame to build with [`Udp6::frame`].
#[derive(Debug, Clone, Copy)]
pub struct Udp6 {
    /// Ethernet source.
    pub src_mac: [u8; 6],
    /// Ethernet destination.
    pub dst_mac: [u8; 6],
    /// IPv6 source.
    pub src: Ipv6Addr,
    /// IPv6 destination.
    pub dst: Ipv6Addr,
    /// UDP source port.
    pub src_port: u16,
    /// UDP destination port.
    pub dst_port: u16,
    /// IPv6 hop limit.
    pub hop_limit: u8,
}

impl Udp6 {
    /// Ethernet + IPv6 (traffic class and flow label 0, UDP as the next header) + UDP
    /// around `payload`, with the UDP checksum (mandatory over IPv6, RFC 8200 section 8.1).
    #[must_use]
    #[allow(
        clippy::indexing_slicing,
        reason = "fixed offsets in fixed-size headers"
    )]
    pub fn frame(&self, payload: &[u8]) -> Vec<u8> {
        let udp_len = 8 + payload.len();
        let mut f = Vec::with_capacity(14 + 40 + udp_len);
        f.extend_from_slice(&self.dst_mac);
        f.extend_from_slice(&self.src_mac);
        f.extend_from_slice(&ETHERTYPE_IPV6);
        let mut ip = [0u8; 40];
        ip[0] = 0x60;
        ip[4..6].copy_from_slice(&len16(udp_len));
        ip[6] = IPPROTO_UDP;
        ip[7] = self.hop_limit;
        ip[8..24].copy_from_slice(&self.src.octets());
        ip[24..40].copy_from_slice(&self.dst.octets());
        f.extend_from_slice(&ip);
        let mut udp = [0u8; 8];
        udp[0..2].copy_from_slice(&self.src_port.to_be_bytes());
        udp[2..4].copy_from_slice(&self.dst_port.to_be_bytes());
        udp[4..6].copy_from_slice(&len16(udp_len));
        // RFC 8200 section 8.1 pseudo header
        let mut pseudo = [0u8; 40];
        pseudo[0..16].copy_from_slice(&self.src.octets());
        pseudo[16..32].copy_from_slice(&self.dst.octets());
        #[allow(
            clippy::cast_possible_truncation,
            reason = "payloads fit an Ethernet frame"
        )]
        pseudo[32..36].copy_from_slice(&(udp_len as u32).to_be_bytes());
        pseudo[39] = IPPROTO_UDP;
        let uc = udp_checksum(&pseudo, &udp, payload);
        udp[6..8].copy_from_slice(&uc.to_be_bytes());
        f.extend_from_slice(&udp);
        f.extend_from_slice(payload);
        f
    }
}

/// A UDP datagram taken out of an Ethernet + IPv4 frame by [`parse_udp4`].
#[derive(Debug, Clone, Copy)]
pub struct Udp4In<'a> {
    /// Ethernet source.
    pub src_mac: [u8; 6],
    /// IPv4 source.
    pub src: Ipv4Addr,
    /// UDP source port.
    pub src_port: u16,
    /// The IPv4 fragment offset (non-zero: a later fragment, whose "UDP header" is data).
    pub fragment_offset: u16,
    /// The UDP payload, cut at the UDP length (itself cut at the IPv4 total length).
    pub payload: &'a [u8],
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    let w: [u8; 2] = b.get(at..at + 2)?.try_into().ok()?;
    Some(u16::from_be_bytes(w))
}

/// The UDP datagram of an untagged Ethernet + IPv4 + UDP frame to `dst_port`, or `None`
/// for anything else (too short, another Ethernet type or protocol, a bad IHL, another port).
#[must_use]
pub fn parse_udp4(frame: &[u8], dst_port: u16) -> Option<Udp4In<'_>> {
    if frame.len() < 14 + 20 + 8 || frame.get(12..14)? != ETHERTYPE_IPV4 {
        return None;
    }
    let ip = frame.get(14..)?;
    let vihl = *ip.first()?;
    let ihl = usize::from(vihl & 0x0f) * 4;
    if vihl >> 4 != 4 || ihl < 20 || *ip.get(9)? != IPPROTO_UDP {
        return None;
    }
    let total = usize::from(be16(ip, 2)?).min(ip.len());
    let udp = ip.get(ihl..total)?;
    if udp.len() < 8 || be16(udp, 2)? != dst_port {
        return None;
    }
    let ulen = usize::from(be16(udp, 4)?).clamp(8, udp.len());
    let src: [u8; 4] = ip.get(12..16)?.try_into().ok()?;
    Some(Udp4In {
        src_mac: frame.get(6..12)?.try_into().ok()?,
        src: Ipv4Addr::from(src),
        src_port: be16(udp, 0)?,
        fragment_offset: be16(ip, 6)? & 0x1fff,
        payload: udp.get(8..ulen)?,
    })
}

/// A UDP datagram taken out of an Ethernet + IPv6 frame by [`parse_udp6`].
#[derive(Debug, Clone, Copy)]
pub struct Udp6In<'a> {
    /// Ethernet source.
    pub src_mac: [u8; 6],
    /// IPv6 source.
    pub src: Ipv6Addr,
    /// UDP source port.
    pub src_port: u16,
    /// Everything after the UDP header, up to the IPv6 payload length.
    pub payload: &'a [u8],
}

/// The UDP datagram of an untagged Ethernet + IPv6 frame whose first next header is UDP,
/// to `dst_port`; `None` for anything else.
#[must_use]
pub fn parse_udp6(frame: &[u8], dst_port: u16) -> Option<Udp6In<'_>> {
    if frame.len() < 14 + 40 + 8
        || frame.get(12..14)? != ETHERTYPE_IPV6
        || *frame.get(14 + 6)? != IPPROTO_UDP
    {
        return None;
    }
    let ip = frame.get(14..)?;
    let plen = usize::from(be16(ip, 4)?).min(ip.len() - 40);
    let udp = ip.get(40..40 + plen)?;
    if udp.len() < 8 || be16(udp, 2)? != dst_port {
        return None;
    }
    let src: [u8; 16] = ip.get(8..24)?.try_into().ok()?;
    Some(Udp6In {
        src_mac: frame.get(6..12)?.try_into().ok()?,
        src: Ipv6Addr::from(src),
        src_port: be16(udp, 0)?,
        payload: udp.get(8..)?,
    })
}

/// A signal interrupted [`recv_until`]: the caller checks its stop flag and loops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interrupted;

/// One receive step of a sans-IO event loop whose clock is `t0.elapsed()`: waits for a
/// frame until the machine's next timer `next` (from its `poll_timeout`), but at most
/// [`MAX_WAIT`]. `Ok(Some(len))`: a frame in `buf[..len]`; `Ok(None)`: the wait ran out.
///
/// # Errors
///
/// [`Interrupted`] when a signal (EINTR) cut the wait short.
///
/// # Panics
///
/// On any other socket error: these are test tools, and the test reads the message.
#[allow(
    clippy::panic,
    reason = "a test tool ends on a socket error with a message"
)]
pub fn recv_until(
    sock: &Socket,
    buf: &mut [u8],
    next: Option<Duration>,
    t0: Instant,
) -> Result<Option<usize>, Interrupted> {
    let wait = next
        .map_or(MAX_WAIT, |t| t.saturating_sub(t0.elapsed()))
        .min(MAX_WAIT);
    match sock.recv(buf, wait) {
        Ok(g) => Ok(g),
        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => Err(Interrupted),
        Err(e) => panic!("recv: {e}"),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests")]

    use super::*;

    #[test]
    fn rfc1071_example() {
        // RFC 1071 section 3: the sum of 00 01 f2 03 f4 f5 f6 f7 is ddf2
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(checksum(&[&data]), !0xddf2);
        assert_eq!(checksum(&[&data[..4], &data[4..]]), !0xddf2);
    }

    #[test]
    fn udp4_round_trip() {
        let out = Udp4 {
            src_mac: [2, 0, 0, 0, 0, 1],
            dst_mac: [0xff; 6],
            src: Ipv4Addr::new(10, 0, 0, 1),
            dst: Ipv4Addr::BROADCAST,
            src_port: 67,
            dst_port: 68,
        };
        let f = out.frame(b"hello");
        assert_eq!(checksum(&[&f[14..34]]), 0, "IPv4 header checksum");
        let got = parse_udp4(&f, 68).unwrap();
        assert_eq!(got.payload, b"hello");
        assert_eq!(
            (got.src_mac, got.src, got.src_port),
            (out.src_mac, out.src, 67)
        );
        assert_eq!(got.fragment_offset, 0);
        assert!(parse_udp4(&f, 67).is_none());
        assert!(parse_udp4(&f[..40], 68).is_none());
    }

    #[test]
    fn udp6_round_trip() {
        let out = Udp6 {
            src_mac: [2, 0, 0, 0, 0, 1],
            dst_mac: [0x33, 0x33, 0, 1, 0, 2],
            src: "fe80::1".parse().unwrap(),
            dst: "ff02::1:2".parse().unwrap(),
            src_port: 546,
            dst_port: 547,
            hop_limit: 1,
        };
        let f = out.frame(b"abc");
        let got = parse_udp6(&f, 547).unwrap();
        assert_eq!(got.payload, b"abc");
        assert_eq!(
            (got.src_mac, got.src, got.src_port),
            (out.src_mac, out.src, 546)
        );
        assert!(parse_udp6(&f, 546).is_none());
        // the UDP checksum verifies over the pseudo header
        let mut pseudo = [0u8; 40];
        pseudo[..16].copy_from_slice(&out.src.octets());
        pseudo[16..32].copy_from_slice(&out.dst.octets());
        pseudo[35] = 11;
        pseudo[39] = 17;
        assert_eq!(checksum(&[&pseudo, &f[54..]]), 0);
    }
}
