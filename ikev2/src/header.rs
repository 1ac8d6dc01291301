//! The IKE header (RFC 7296 section 3.1).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                       IKE SA Initiator's SPI                  |
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                       IKE SA Responder's SPI                  |
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Next Payload | MjVer | MnVer | Exchange Type |     Flags     |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                          Message ID                           |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                            Length                             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use crate::error::{EmitError, ParseError};
use crate::payload::Payloads;
use crate::types::{ExchangeType, PayloadType};

/// Length of the IKE header.
pub const HEADER_LEN: usize = 28;

/// The non-ESP marker that precedes IKE messages on UDP port 4500 (RFC 3948
/// section 2.2, RFC 7296 section 2.23).
pub const NON_ESP_MARKER: [u8; 4] = [0; 4];

/// Strips the 4-byte non-ESP marker of a UDP-4500 datagram; `None` when the datagram
/// is ESP (or too short), RFC 3948 section 2.2.
#[must_use]
pub fn strip_non_esp_marker(datagram: &[u8]) -> Option<&[u8]> {
    let (marker, rest) = datagram.split_first_chunk::<4>()?;
    (*marker == NON_ESP_MARKER).then_some(rest)
}

mod field {
    use core::ops::Range;
    pub(super) const SPI_I: Range<usize> = 0..8;
    pub(super) const SPI_R: Range<usize> = 8..16;
    pub(super) const NEXT: usize = 16;
    pub(super) const VERSION: usize = 17;
    pub(super) const EXCHANGE: usize = 18;
    pub(super) const FLAGS: usize = 19;
    pub(super) const MSG_ID: Range<usize> = 20..24;
    pub(super) const LENGTH: Range<usize> = 24..28;
}

/// Header flags (RFC 7296 section 3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Flags(pub u8);

impl Flags {
    /// I (Initiator): set in messages sent by the original initiator of the IKE SA.
    pub const INITIATOR: Self = Self(0x08);
    /// V (Version): the sender can speak a higher major version.
    pub const VERSION: Self = Self(0x10);
    /// R (Response): this message is a response.
    pub const RESPONSE: Self = Self(0x20);

    /// Is the I bit set?
    #[must_use]
    pub const fn initiator(self) -> bool {
        self.0 & 0x08 != 0
    }
    /// Is the R bit set?
    #[must_use]
    pub const fn response(self) -> bool {
        self.0 & 0x20 != 0
    }
    /// Is the V bit set?
    #[must_use]
    pub const fn version(self) -> bool {
        self.0 & 0x10 != 0
    }
    /// The union of two flag sets.
    #[must_use]
    pub const fn with(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }
}

fn be32(b: &[u8], r: core::ops::Range<usize>) -> u32 {
    b.get(r)
        .and_then(|s| s.first_chunk::<4>())
        .map_or(0, |c| u32::from_be_bytes(*c))
}

fn spi(b: &[u8], r: core::ops::Range<usize>) -> [u8; 8] {
    b.get(r)
        .and_then(|s| s.first_chunk::<8>())
        .copied()
        .unwrap_or_default()
}

/// A checked view of an IKE message: the header and the payload chain after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Checks the header: at least 28 bytes, major version 2 (a major version 1
    /// message is [`ParseError::Ikev1`], others [`ParseError::BadVersion`]), and
    /// `28 <= Length <= buffer length`. Bytes after `Length` are ignored.
    ///
    /// # Errors
    /// [`ParseError::Truncated`], [`ParseError::Ikev1`], [`ParseError::BadVersion`],
    /// [`ParseError::BadLength`].
    pub fn new_checked(buffer: T) -> Result<Self, ParseError> {
        let b = buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(ParseError::Truncated {
                needed: HEADER_LEN,
                available: b.len(),
            });
        }
        let version = b.get(field::VERSION).copied().unwrap_or(0);
        match version >> 4 {
            2 => {}
            1 => {
                return Err(ParseError::Ikev1 {
                    minor: version & 0x0f,
                });
            }
            v => return Err(ParseError::BadVersion { version: v }),
        }
        let len = usize::try_from(be32(b, field::LENGTH)).map_err(|_| ParseError::BadLength)?;
        if len < HEADER_LEN {
            return Err(ParseError::BadLength);
        }
        if len > b.len() {
            return Err(ParseError::Truncated {
                needed: len,
                available: b.len(),
            });
        }
        Ok(Self { buffer })
    }

    /// The underlying buffer.
    #[must_use]
    pub fn into_inner(self) -> T
    where
        T: Copy,
    {
        self.buffer
    }

    fn raw(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// The initiator's SPI.
    #[must_use]
    pub fn spi_i(&self) -> [u8; 8] {
        spi(self.raw(), field::SPI_I)
    }
    /// The responder's SPI (zero in the first IKE_SA_INIT request).
    #[must_use]
    pub fn spi_r(&self) -> [u8; 8] {
        spi(self.raw(), field::SPI_R)
    }
    /// The type of the first payload.
    #[must_use]
    pub fn next_payload(&self) -> PayloadType {
        PayloadType(self.raw().get(field::NEXT).copied().unwrap_or(0))
    }
    /// The version octet (major in the high nibble).
    #[must_use]
    pub fn version(&self) -> u8 {
        self.raw().get(field::VERSION).copied().unwrap_or(0)
    }
    /// The exchange type.
    #[must_use]
    pub fn exchange(&self) -> ExchangeType {
        ExchangeType(self.raw().get(field::EXCHANGE).copied().unwrap_or(0))
    }
    /// The flags octet.
    #[must_use]
    pub fn flags(&self) -> Flags {
        Flags(self.raw().get(field::FLAGS).copied().unwrap_or(0))
    }
    /// The message ID.
    #[must_use]
    pub fn message_id(&self) -> u32 {
        be32(self.raw(), field::MSG_ID)
    }
    /// The Length field (whole message, header included).
    #[must_use]
    pub fn length(&self) -> usize {
        usize::try_from(be32(self.raw(), field::LENGTH)).unwrap_or(0)
    }
    /// The message bytes, header included, bounded by `Length`.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        let b = self.raw();
        b.get(..self.length()).unwrap_or(b)
    }
    /// The bytes after the header, bounded by `Length`.
    #[must_use]
    pub fn payload_bytes(&self) -> &[u8] {
        self.as_bytes().get(HEADER_LEN..).unwrap_or_default()
    }
    /// The payload chain (section 3.2).
    #[must_use]
    pub fn payloads(&self) -> Payloads<'_> {
        Payloads::new(self.next_payload(), self.payload_bytes())
    }
}

/// The IKE header fields, for building a message (RFC 7296 section 3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HeaderRepr {
    /// IKE SA initiator's SPI.
    pub spi_i: [u8; 8],
    /// IKE SA responder's SPI.
    pub spi_r: [u8; 8],
    /// Major and minor version octet; `0x20` for IKEv2.
    pub version: u8,
    /// Exchange type.
    pub exchange: ExchangeType,
    /// Flags.
    pub flags: Flags,
    /// Message ID.
    pub message_id: u32,
}

impl HeaderRepr {
    /// Reads the header fields of a checked packet.
    #[must_use]
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Self {
        Self {
            spi_i: p.spi_i(),
            spi_r: p.spi_r(),
            version: p.version(),
            exchange: p.exchange(),
            flags: p.flags(),
            message_id: p.message_id(),
        }
    }

    /// Writes the 28-byte header with `next` and `length`.
    ///
    /// # Errors
    /// [`EmitError::BufferTooSmall`], [`EmitError::ValueTooLarge`] when `length`
    /// exceeds 32 bits.
    pub fn emit(
        &self,
        next: PayloadType,
        length: usize,
        out: &mut [u8],
    ) -> Result<usize, EmitError> {
        let available = out.len();
        let h = out
            .first_chunk_mut::<HEADER_LEN>()
            .ok_or(EmitError::BufferTooSmall {
                needed: HEADER_LEN,
                available,
            })?;
        let len = u32::try_from(length).map_err(|_| EmitError::ValueTooLarge("message length"))?;
        let (spis, rest) = h.split_at_mut(16);
        let (a, b) = spis.split_at_mut(8);
        a.copy_from_slice(&self.spi_i);
        b.copy_from_slice(&self.spi_r);
        let (fixed, tail) = rest.split_at_mut(4);
        fixed.copy_from_slice(&[next.0, self.version, self.exchange.0, self.flags.0]);
        let (id, l) = tail.split_at_mut(4);
        id.copy_from_slice(&self.message_id.to_be_bytes());
        l.copy_from_slice(&len.to_be_bytes());
        Ok(HEADER_LEN)
    }
}
