//! The ESP packet format (RFC 4303 section 2): header view, header `Repr`, the
//! trailer (padding, pad length, next header) and the registry newtypes.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |               Security Parameters Index (SPI)                 |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                      Sequence Number                          |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     IV (optional) + Payload Data (variable)                   |
//! ~               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |               |     Padding (0-255 bytes)                     |
//! +-+-+-+-+-+-+-+-+               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                               |  Pad Length   | Next Header   |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |         Integrity Check Value-ICV   (variable)                |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use core::fmt;

use crate::error::{EmitError, ParseError, ProtocolError};

/// Length of the fixed ESP header (SPI and sequence number).
pub const HEADER_LEN: usize = 8;

/// IP protocol number of ESP (IANA "Assigned Internet Protocol Numbers").
pub const IP_PROTO_ESP: u8 = 50;

/// Security Parameters Index (RFC 4303 section 2.1). Values 1..=255 are reserved
/// by IANA; 0 is reserved for local use and, on UDP port 4500, is the non-ESP
/// marker of RFC 3948 section 2.2.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[repr(transparent)]
pub struct Spi(pub u32);

impl fmt::Debug for Spi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Spi({:#010x})", self.0)
    }
}

/// The Next Header field (RFC 4303 section 2.6): an IP protocol number from the
/// IANA "Assigned Internet Protocol Numbers" registry.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(transparent)]
pub struct NextHeader(pub u8);

impl NextHeader {
    /// ICMP.
    pub const ICMP: Self = Self(1);
    /// IPv4 (IP-in-IP): tunnel mode with an IPv4 inner packet.
    pub const IPV4: Self = Self(4);
    /// TCP.
    pub const TCP: Self = Self(6);
    /// UDP.
    pub const UDP: Self = Self(17);
    /// IPv6: tunnel mode with an IPv6 inner packet.
    pub const IPV6: Self = Self(41);
    /// ESP itself (nested SAs).
    pub const ESP: Self = Self(50);
    /// ICMPv6.
    pub const ICMPV6: Self = Self(58);
    /// "No Next Header": a dummy packet for traffic flow confidentiality, which
    /// the receiver discards (RFC 4303 section 2.6).
    pub const NO_NEXT_HEADER: Self = Self(59);

    const fn name(self) -> Option<&'static str> {
        Some(match self {
            Self::ICMP => "ICMP",
            Self::IPV4 => "IPv4",
            Self::TCP => "TCP",
            Self::UDP => "UDP",
            Self::IPV6 => "IPv6",
            Self::ESP => "ESP",
            Self::ICMPV6 => "ICMPv6",
            Self::NO_NEXT_HEADER => "NoNextHeader",
            _ => return None,
        })
    }
}

impl fmt::Debug for NextHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "NextHeader({})", self.0),
        }
    }
}

/// A checked view of an ESP packet: the fixed header and what follows it
/// (RFC 4303 section 2). Only the header is readable without keys.
#[derive(Debug, Clone, Copy)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

mod field {
    pub(super) const SPI: usize = 0;
    pub(super) const SEQ: usize = 4;
}

fn be32(b: &[u8], at: usize) -> u32 {
    b.get(at..)
        .and_then(<[u8]>::first_chunk::<4>)
        .map_or(0, |c| u32::from_be_bytes(*c))
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps `buffer`, checking that it holds at least the 8-byte header.
    ///
    /// # Errors
    /// [`ParseError::Truncated`] when shorter than [`HEADER_LEN`].
    pub fn new_checked(buffer: T) -> Result<Self, ParseError> {
        let len = buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(ParseError::Truncated {
                needed: HEADER_LEN,
                available: len,
            });
        }
        Ok(Self { buffer })
    }

    /// The SPI (RFC 4303 section 2.1).
    #[must_use]
    pub fn spi(&self) -> Spi {
        Spi(be32(self.buffer.as_ref(), field::SPI))
    }

    /// The (low 32 bits of the) sequence number (RFC 4303 section 2.2).
    #[must_use]
    pub fn seq(&self) -> u32 {
        be32(self.buffer.as_ref(), field::SEQ)
    }

    /// Everything after the fixed header: IV, ciphertext, ICV.
    #[must_use]
    pub fn payload(&self) -> &[u8] {
        self.buffer.as_ref().get(HEADER_LEN..).unwrap_or_default()
    }

    /// The whole packet.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// Unwraps the buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }
}

/// The cleartext ESP header (RFC 4303 section 2.1, 2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr {
    /// Security Parameters Index.
    pub spi: Spi,
    /// Low 32 bits of the sequence number (the high 32 bits of an extended
    /// sequence number never appear on the wire, RFC 4303 section 2.2.1).
    pub seq: u32,
}

impl Repr {
    /// Reads the header from a checked view.
    ///
    /// # Errors
    /// None today; the `Result` leaves room for semantic checks.
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Result<Self, ParseError> {
        Ok(Self {
            spi: p.spi(),
            seq: p.seq(),
        })
    }

    /// Bytes [`Repr::emit`] writes.
    #[must_use]
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the 8-byte header at the start of `out`.
    ///
    /// # Errors
    /// [`EmitError::BufferTooSmall`] when `out` is shorter than 8 bytes.
    #[inline]
    pub fn emit(&self, out: &mut [u8]) -> Result<usize, EmitError> {
        let available = out.len();
        let h = out
            .first_chunk_mut::<HEADER_LEN>()
            .ok_or(EmitError::BufferTooSmall {
                needed: HEADER_LEN,
                available,
            })?;
        let (spi, seq) = h.split_at_mut(4);
        spi.copy_from_slice(&self.spi.0.to_be_bytes());
        seq.copy_from_slice(&self.seq.to_be_bytes());
        Ok(HEADER_LEN)
    }
}

/// The ESP trailer of a decrypted payload (RFC 4303 section 2.4-2.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trailer {
    /// Number of padding bytes before the pad length byte.
    pub pad_len: u8,
    /// The protocol of the payload.
    pub next_header: NextHeader,
}

impl Trailer {
    /// Bytes the trailer occupies at the end of `plaintext` (padding + 2).
    #[must_use]
    #[inline]
    pub const fn len(&self) -> usize {
        self.pad_len as usize + 2
    }

    /// Never empty (pad length and next header are always present).
    #[must_use]
    pub const fn is_empty(&self) -> bool {
        false
    }

    /// Splits a decrypted payload into the payload length and the trailer.
    /// With `check_padding`, the padding must be the default series 1, 2, 3, ...
    /// (RFC 4303 section 2.4: the receiver SHOULD inspect it).
    ///
    /// # Errors
    /// [`ProtocolError::BadPadding`] when the pad length overruns the payload or
    /// the padding bytes are not the default series.
    #[inline]
    pub fn parse(plaintext: &[u8], check_padding: bool) -> Result<(usize, Self), ProtocolError> {
        let (rest, [pad_len, nh]) = plaintext
            .split_last_chunk::<2>()
            .ok_or(ProtocolError::BadPadding)?;
        let inner = rest
            .len()
            .checked_sub(usize::from(*pad_len))
            .ok_or(ProtocolError::BadPadding)?;
        let t = Self {
            pad_len: *pad_len,
            next_header: NextHeader(*nh),
        };
        if check_padding {
            match plaintext.last_chunk::<8>() {
                // Common case: the whole trailer in the last 8 bytes, compared
                // as one word against the expected series.
                Some(last) if *pad_len <= 6 => {
                    let got = u64::from_le_bytes(*last) >> (8 * (6 - u32::from(*pad_len)));
                    if got != u64::from_le_bytes(t.word()) {
                        return Err(ProtocolError::BadPadding);
                    }
                }
                _ => {
                    let pad = rest.get(inner..).unwrap_or_default();
                    if !pad.iter().zip(1u8..).all(|(b, want)| *b == want) {
                        return Err(ProtocolError::BadPadding);
                    }
                }
            }
        }
        Ok((inner, t))
    }

    /// The trailer that aligns `content_len` bytes (payload plus any TFC padding)
    /// to `block_len` (at least 4, RFC 4303 section 2.4) with minimal padding.
    #[must_use]
    #[inline]
    pub fn for_len(content_len: usize, block_len: usize, next_header: NextHeader) -> Self {
        let block = block_len.max(4);
        let end = content_len.wrapping_add(2);
        let rem = if block.is_power_of_two() {
            end & (block - 1)
        } else {
            end % block
        };
        let pad = if rem == 0 { 0 } else { block - rem };
        Self {
            pad_len: u8::try_from(pad).unwrap_or(0),
            next_header,
        }
    }

    /// Padding (1, 2, 3, ...), pad length and next header as the first
    /// [`Trailer::len`] bytes of one 8-byte word (the rest zero), for a pad
    /// length of at most 6: lets the encapsulation write the trailer with a
    /// single store (RFC 4303 section 2.4).
    #[must_use]
    #[inline]
    pub(crate) fn word(self) -> [u8; 8] {
        let p = u32::from(self.pad_len.min(6)) * 8;
        let series = 0x0000_0605_0403_0201_u64 & ((1u64 << p) - 1);
        (series | (u64::from(self.pad_len) << p) | (u64::from(self.next_header.0) << (p + 8)))
            .to_le_bytes()
    }

    /// Writes padding (1, 2, 3, ...), pad length and next header into `out`,
    /// which must be exactly [`Trailer::len`] bytes.
    ///
    /// # Errors
    /// [`EmitError::BufferTooSmall`] when `out` has the wrong length.
    #[inline]
    pub fn emit(&self, out: &mut [u8]) -> Result<usize, EmitError> {
        let available = out.len();
        if available != self.len() {
            return Err(EmitError::BufferTooSmall {
                needed: self.len(),
                available,
            });
        }
        let (pad, tail) = out.split_at_mut(usize::from(self.pad_len));
        for (b, v) in pad.iter_mut().zip(1u8..) {
            *b = v;
        }
        if let Some([pl, nh]) = tail.first_chunk_mut::<2>() {
            *pl = self.pad_len;
            *nh = self.next_header.0;
        }
        Ok(available)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests")]
    use super::*;

    #[test]
    fn header_roundtrip_and_truncation() {
        let bytes = [0x12, 0x34, 0x56, 0x78, 0, 0, 0, 9, 0xaa];
        let p = Packet::new_checked(&bytes[..]).unwrap();
        let r = Repr::parse(&p).unwrap();
        assert_eq!(r.spi, Spi(0x1234_5678));
        assert_eq!(r.seq, 9);
        assert_eq!(p.payload(), &[0xaa]);
        let mut out = [0u8; 8];
        assert_eq!(r.emit(&mut out), Ok(8));
        assert_eq!(&out, &bytes[..8]);
        for n in 0..8 {
            assert!(Packet::new_checked(&bytes[..n]).is_err());
        }
        assert!(r.emit(&mut out[..7]).is_err());
    }

    /// The one-word padding check agrees with the byte-wise definition for every
    /// length, pad length and single corrupted byte.
    #[test]
    fn trailer_parse_word_path_matches_bytewise() {
        fn reference(p: &[u8]) -> Result<(usize, Trailer), ProtocolError> {
            let (rest, [pl, nh]) = p.split_last_chunk::<2>().ok_or(ProtocolError::BadPadding)?;
            let inner = rest
                .len()
                .checked_sub(usize::from(*pl))
                .ok_or(ProtocolError::BadPadding)?;
            if !rest[inner..].iter().zip(1u8..).all(|(b, w)| *b == w) {
                return Err(ProtocolError::BadPadding);
            }
            Ok((
                inner,
                Trailer {
                    pad_len: *pl,
                    next_header: NextHeader(*nh),
                },
            ))
        }
        for len in 0..=14usize {
            for pad in 0..=9u8 {
                let mut p = [0xeeu8; 14];
                let p = &mut p[..len];
                if len >= 2 {
                    p[len - 2] = pad;
                    p[len - 1] = 4;
                    for i in 0..usize::from(pad).min(len - 2) {
                        p[len - 2 - usize::from(pad).min(len - 2) + i] =
                            u8::try_from(i + 1).unwrap();
                    }
                }
                assert_eq!(Trailer::parse(p, true), reference(p), "len {len} pad {pad}");
                for at in 0..len {
                    let mut q = [0u8; 14];
                    q[..len].copy_from_slice(p);
                    q[at] ^= 0x10;
                    let q = &q[..len];
                    assert_eq!(
                        Trailer::parse(q, true),
                        reference(q),
                        "len {len} pad {pad} at {at}"
                    );
                }
            }
        }
    }

    #[test]
    fn trailer_word_matches_emit() {
        for pad in 0..=6u8 {
            let t = Trailer {
                pad_len: pad,
                next_header: NextHeader::IPV6,
            };
            let mut want = [0u8; 8];
            t.emit(&mut want[..t.len()]).unwrap();
            assert_eq!(t.word(), want, "pad {pad}");
        }
    }

    #[test]
    fn trailer_padding() {
        let t = Trailer::for_len(5, 4, NextHeader::IPV4);
        assert_eq!(t.pad_len, 1);
        let t = Trailer::for_len(14, 16, NextHeader::IPV4);
        assert_eq!(t.pad_len, 0);
        let mut buf = [0u8; 5 + 3];
        buf[..5].copy_from_slice(b"hello");
        t.emit(&mut buf[5..5]).unwrap_err();
        let t = Trailer::for_len(5, 8, NextHeader::UDP);
        assert_eq!(t.len(), 3);
        t.emit(&mut buf[5..]).unwrap();
        assert_eq!(&buf[5..], &[1, 1, 17]);
        assert_eq!(Trailer::parse(&buf, true), Ok((5, t)));
        buf[5] = 7;
        assert_eq!(Trailer::parse(&buf, true), Err(ProtocolError::BadPadding));
        assert!(Trailer::parse(&buf, false).is_ok());
        assert_eq!(
            Trailer::parse(&[9, 1], true),
            Err(ProtocolError::BadPadding)
        );
        assert_eq!(Trailer::parse(&[1], true), Err(ProtocolError::BadPadding));
    }
}
