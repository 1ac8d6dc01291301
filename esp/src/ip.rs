//! The little IPv4/IPv6 header handling ESP needs: finding where ESP goes or
//! starts (RFC 4303 section 3.1), building a tunnel's outer header (RFC 4301
//! section 5.1.2) and the ECN rules of RFC 6040.

use crate::error::{ParseError, ProtocolError};

/// IPv4 header length without options.
pub(crate) const V4_LEN: usize = 20;
/// IPv6 fixed header length.
pub(crate) const V6_LEN: usize = 40;
/// Extension headers walked before ESP in IPv6 transport mode (hop-by-hop,
/// routing, destination options; RFC 4303 section 3.1.1).
const V6_EXT_CAP: usize = 8;

/// Where the upper-layer header starts in an IP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct L3 {
    /// 4 or 6.
    pub version: u8,
    /// Bytes of IP header (incl. IPv4 options or walked IPv6 extension headers).
    pub header_len: usize,
    /// Offset of the byte holding the protocol / next header to patch.
    pub proto_at: usize,
    /// The upper-layer protocol.
    pub proto: u8,
    /// The packet length the IP header claims (total length, or 40 + payload length).
    pub total_len: usize,
}

#[inline]
fn be16(b: &[u8], at: usize) -> Option<u16> {
    b.get(at..)?
        .first_chunk::<2>()
        .map(|c| u16::from_be_bytes(*c))
}

/// Parses the IP header at the start of `p`. With `walk_ext`, IPv6 hop-by-hop,
/// routing and destination options headers are skipped (transport mode).
#[inline]
pub(crate) fn parse(p: &[u8], walk_ext: bool) -> Result<L3, ParseError> {
    let b0 = *p.first().ok_or(ParseError::Truncated {
        needed: 1,
        available: 0,
    })?;
    match b0 >> 4 {
        4 => {
            let hl = usize::from(b0 & 0x0f) * 4;
            if hl < V4_LEN {
                return Err(ParseError::BadLength);
            }
            if p.len() < hl {
                return Err(ParseError::Truncated {
                    needed: hl,
                    available: p.len(),
                });
            }
            let total = usize::from(be16(p, 2).unwrap_or(0));
            if total < hl {
                return Err(ParseError::BadLength);
            }
            Ok(L3 {
                version: 4,
                header_len: hl,
                proto_at: 9,
                proto: p.get(9).copied().unwrap_or(0),
                total_len: total,
            })
        }
        6 => {
            if p.len() < V6_LEN {
                return Err(ParseError::Truncated {
                    needed: V6_LEN,
                    available: p.len(),
                });
            }
            let total = V6_LEN + usize::from(be16(p, 4).unwrap_or(0));
            let (mut at, mut proto_at) = (V6_LEN, 6);
            let mut proto = p.get(6).copied().unwrap_or(0);
            if walk_ext {
                let mut n = 0;
                while matches!(proto, 0 | 43 | 60) {
                    n += 1;
                    if n > V6_EXT_CAP {
                        return Err(ParseError::TooManyTlvs { cap: V6_EXT_CAP });
                    }
                    let len = p
                        .get(at + 1)
                        .map(|l| (usize::from(*l) + 1) * 8)
                        .ok_or(ParseError::BadLength)?;
                    proto_at = at;
                    proto = *p.get(at).ok_or(ParseError::BadLength)?;
                    at = at.checked_add(len).ok_or(ParseError::BadLength)?;
                    if at > p.len() {
                        return Err(ParseError::BadLength);
                    }
                }
            }
            Ok(L3 {
                version: 6,
                header_len: at,
                proto_at,
                proto,
                total_len: total,
            })
        }
        v => Err(ParseError::BadVersion { version: v }),
    }
}

/// [`parse`] with the common case inline: an IPv4 header without options
/// (RFC 791 section 3.1, first byte 0x45) is read from one fixed 20-byte
/// array; anything else goes through [`parse`].
#[allow(clippy::inline_always, reason = "per-packet hot path, measured")]
#[inline(always)]
pub(crate) fn parse_fast(p: &[u8], walk_ext: bool) -> Result<L3, ParseError> {
    if let Some(&[0x45, _, l0, l1, _, _, _, _, _, proto, ..]) = p.first_chunk::<V4_LEN>() {
        let total = usize::from(u16::from_be_bytes([l0, l1]));
        if total < V4_LEN {
            return Err(ParseError::BadLength);
        }
        return Ok(L3 {
            version: 4,
            header_len: V4_LEN,
            proto_at: 9,
            proto,
            total_len: total,
        });
    }
    parse(p, walk_ext)
}

/// One's-complement sum (RFC 1071) over `data`, added to `sum`. Every slice but
/// the last in a chain must have even length.
#[inline]
pub(crate) fn sum(mut sum: u32, data: &[u8]) -> u32 {
    let mut it = data.chunks_exact(2);
    for c in &mut it {
        if let Some(w) = c.first_chunk::<2>() {
            sum = sum.wrapping_add(u32::from(u16::from_be_bytes(*w)));
        }
    }
    if let Some(b) = it.remainder().first() {
        sum = sum.wrapping_add(u32::from(*b) << 8);
    }
    sum
}

/// Folds a sum into the 16-bit checksum value.
#[inline]
pub(crate) fn fold(mut s: u32) -> u16 {
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    #[allow(clippy::cast_possible_truncation, reason = "folded to 16 bits above")]
    let v = !(s as u16);
    v
}

/// Recomputes the IPv4 header checksum in place.
#[inline]
pub(crate) fn v4_fix_checksum(h: &mut [u8]) {
    if let Some(c) = h.get_mut(10..12) {
        c.fill(0);
    }
    let c = fold(sum(0, h));
    if let Some(d) = h.get_mut(10..12) {
        d.copy_from_slice(&c.to_be_bytes());
    }
}

/// The traffic class byte (DSCP << 2 | ECN) of an IP header.
#[allow(clippy::inline_always, reason = "per-packet hot path, measured")]
#[inline(always)]
pub(crate) fn tos(p: &[u8]) -> u8 {
    match p.first().map(|b| b >> 4) {
        Some(4) => p.get(1).copied().unwrap_or(0),
        Some(6) => {
            let a = p.first().copied().unwrap_or(0);
            let b = p.get(1).copied().unwrap_or(0);
            (a << 4) | (b >> 4)
        }
        _ => 0,
    }
}

/// Sets the traffic class byte of an IP header (fixing the IPv4 checksum).
pub(crate) fn set_tos(p: &mut [u8], tos: u8) {
    match p.first().map(|b| b >> 4) {
        Some(4) => {
            if let Some(b) = p.get_mut(1) {
                *b = tos;
            }
            let hl = usize::from(p.first().copied().unwrap_or(0) & 0x0f) * 4;
            if let Some(h) = p.get_mut(..hl) {
                v4_fix_checksum(h);
            }
        }
        Some(6) => {
            if let Some([a, b]) = p.first_chunk_mut::<2>() {
                *a = (*a & 0xf0) | (tos >> 4);
                *b = (*b & 0x0f) | (tos << 4);
            }
        }
        _ => {}
    }
}

/// The ECN field values (RFC 3168 section 5).
const NOT_ECT: u8 = 0;
const CE: u8 = 3;

/// RFC 6040 section 4.2: the inner ECN after decapsulation, or an error when the
/// packet must be dropped (CE on the outer header of a Not-ECT inner packet).
pub(crate) fn ecn_decap(inner: u8, outer: u8) -> Result<u8, ProtocolError> {
    let (i, o) = (inner & 3, outer & 3);
    Ok(match (i, o) {
        (NOT_ECT, CE) => {
            return Err(ProtocolError::PeerMisbehaved(
                "CE outer on a Not-ECT inner packet (RFC 6040 4.2)",
            ));
        }
        (NOT_ECT | CE, _) => i,
        (_, CE) => CE,
        // ECT(0) inner with ECT(1) outer becomes ECT(1); otherwise keep inner.
        (2, 1) => 1,
        _ => i,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn ecn_table() {
        assert!(ecn_decap(0, 3).is_err());
        assert_eq!(ecn_decap(0, 2), Ok(0));
        assert_eq!(ecn_decap(2, 3), Ok(3));
        assert_eq!(ecn_decap(1, 3), Ok(3));
        assert_eq!(ecn_decap(2, 1), Ok(1));
        assert_eq!(ecn_decap(1, 2), Ok(1));
        assert_eq!(ecn_decap(3, 0), Ok(3));
    }

    #[test]
    fn checksum_known_header() {
        // RFC 1071 style check on a known IPv4 header (checksum 0xb861).
        let mut h = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0, 0, 0xc0, 0xa8, 0x00,
            0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        v4_fix_checksum(&mut h);
        assert_eq!(&h[10..12], &[0xb8, 0x61]);
        let l = parse(&h, false).unwrap();
        assert_eq!((l.header_len, l.proto, l.total_len), (20, 17, 0x73));
    }
}
