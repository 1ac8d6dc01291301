//! Control packets of LCP and the NCPs: Code, Identifier, Length, data
//! (RFC 1661 section 5) and the Configuration Options format (section 6).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     Code      |  Identifier   |            Length             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |    Data ...
//! +-+-+-+-+
//! ```
//!
//! PAP and CHAP share this header (RFC 1334 section 2.2, RFC 1994 section 4) and
//! use [`ControlPacket`] as well; their data is decoded in [`super::auth`].

use crate::error::{EmitError, ParseError};

use super::ppp_newtype;

mod field {
    pub(super) const CODE: usize = 0;
    pub(super) const IDENTIFIER: usize = 1;
    pub(super) const LENGTH: usize = 2;
    pub(super) const DATA: usize = 4;
}

/// Length of the control packet header (RFC 1661 section 5).
pub const HEADER_LEN: usize = field::DATA;

/// Hard cap on options walked in one packet (STYLE.md section 2). A 1492-byte
/// packet holds at most 746 empty options; real ones carry fewer than ten.
pub const MAX_OPTIONS: usize = 64;

ppp_newtype! {
    /// Control packet Code: IANA "PPP LCP and IPCP Codes" (RFC 1661 section 5).
    /// Codes 1-7 are shared by every control protocol; 8-11 are LCP only.
    Code(u8) {
        /// Configure-Request (section 5.1).
        CONFIGURE_REQUEST = 1, "Configure-Request";
        /// Configure-Ack (section 5.2).
        CONFIGURE_ACK = 2, "Configure-Ack";
        /// Configure-Nak (section 5.3).
        CONFIGURE_NAK = 3, "Configure-Nak";
        /// Configure-Reject (section 5.4).
        CONFIGURE_REJECT = 4, "Configure-Reject";
        /// Terminate-Request (section 5.5).
        TERMINATE_REQUEST = 5, "Terminate-Request";
        /// Terminate-Ack (section 5.5).
        TERMINATE_ACK = 6, "Terminate-Ack";
        /// Code-Reject (section 5.6).
        CODE_REJECT = 7, "Code-Reject";
        /// Protocol-Reject (section 5.7), LCP only.
        PROTOCOL_REJECT = 8, "Protocol-Reject";
        /// Echo-Request (section 5.8), LCP only.
        ECHO_REQUEST = 9, "Echo-Request";
        /// Echo-Reply (section 5.8), LCP only.
        ECHO_REPLY = 10, "Echo-Reply";
        /// Discard-Request (section 5.9), LCP only.
        DISCARD_REQUEST = 11, "Discard-Request";
    }
}

impl Code {
    /// Whether the data of this code is a list of Configuration Options (section 6).
    #[must_use]
    pub const fn has_options(self) -> bool {
        matches!(self.0, 1..=4)
    }
}

/// A checked view of a control packet (RFC 1661 section 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ControlPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> ControlPacket<T> {
    /// Checks `Length >= 4` and `Length <= buffer.len()`. Octets after `Length` are
    /// padding and are ignored (section 5: "Octets outside the range of the Length
    /// field should be treated as Data Link Layer padding").
    ///
    /// # Errors
    /// [`ParseError::Truncated`] or [`ParseError::BadLength`].
    pub fn new_checked(buffer: T) -> Result<Self, ParseError> {
        let b = buffer.as_ref();
        let Some(hdr) = b.first_chunk::<HEADER_LEN>() else {
            return Err(ParseError::Truncated {
                needed: HEADER_LEN,
                available: b.len(),
            });
        };
        let len = usize::from(u16::from_be_bytes([hdr[2], hdr[3]]));
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
    pub const fn inner(&self) -> &T {
        &self.buffer
    }

    /// The Code field.
    #[must_use]
    pub fn code(&self) -> Code {
        Code(self.buffer.as_ref().get(field::CODE).copied().unwrap_or(0))
    }

    /// The Identifier field.
    #[must_use]
    pub fn identifier(&self) -> u8 {
        self.buffer
            .as_ref()
            .get(field::IDENTIFIER)
            .copied()
            .unwrap_or(0)
    }

    /// The Length field.
    #[must_use]
    pub fn length(&self) -> u16 {
        self.buffer
            .as_ref()
            .get(field::LENGTH..field::DATA)
            .and_then(|s| s.first_chunk::<2>())
            .map_or(0, |c| u16::from_be_bytes(*c))
    }

    /// The packet up to `Length` (without padding).
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        let b = self.buffer.as_ref();
        b.get(..usize::from(self.length())).unwrap_or(b)
    }

    /// The data field, up to `Length`.
    #[must_use]
    pub fn data(&self) -> &[u8] {
        self.as_bytes().get(field::DATA..).unwrap_or_default()
    }

    /// The data as Configuration Options (meaningful for codes 1-4).
    #[must_use]
    pub fn options(&self) -> Options<'_> {
        Options::new(self.data())
    }
}

/// One Configuration Option, borrowed from the packet (RFC 1661 section 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Opt<'a> {
    /// The Type octet (registry depends on the control protocol).
    pub kind: u8,
    /// The Data octets (Length - 2 of them).
    pub data: &'a [u8],
}

impl<'a> Opt<'a> {
    /// Bytes this option takes on the wire.
    #[must_use]
    pub const fn wire_len(&self) -> usize {
        2 + self.data.len()
    }

    /// The data as a big-endian `u16`, if it is exactly two octets.
    #[must_use]
    pub fn data_u16(&self) -> Option<u16> {
        let b: &[u8; 2] = self.data.try_into().ok()?;
        Some(u16::from_be_bytes(*b))
    }

    /// The data as a big-endian `u32`, if it is exactly four octets.
    #[must_use]
    pub fn data_u32(&self) -> Option<u32> {
        let b: &[u8; 4] = self.data.try_into().ok()?;
        Some(u32::from_be_bytes(*b))
    }

    /// The first two data octets as a big-endian `u16` and the rest (for
    /// Authentication-Protocol, whose data is a protocol followed by more data).
    #[must_use]
    pub fn split_u16(&self) -> Option<(u16, &'a [u8])> {
        let (h, rest) = self.data.split_first_chunk::<2>()?;
        Some((u16::from_be_bytes(*h), rest))
    }

    /// Writes the option at the start of `out`.
    ///
    /// # Errors
    /// [`EmitError::BufferTooSmall`]; [`EmitError::ValueTooLarge`] if the data is
    /// longer than 253 octets.
    pub fn emit(&self, out: &mut [u8]) -> Result<usize, EmitError> {
        let len = u8::try_from(self.wire_len())
            .map_err(|_| EmitError::ValueTooLarge("option longer than 255"))?;
        let n = self.wire_len();
        let available = out.len();
        let dst = out.get_mut(..n).ok_or(EmitError::BufferTooSmall {
            needed: n,
            available,
        })?;
        let (h, rest) = dst.split_at_mut(2);
        h.copy_from_slice(&[self.kind, len]);
        rest.copy_from_slice(self.data);
        Ok(n)
    }
}

/// Zero-copy iterator over Configuration Options (RFC 1661 section 6). Yields one
/// `Err` on a malformed option (Length < 2 or past the end) or past
/// [`MAX_OPTIONS`], then fuses.
#[derive(Debug, Clone)]
pub struct Options<'a> {
    rest: &'a [u8],
    seen: usize,
    done: bool,
}

impl<'a> Options<'a> {
    /// Walks `data`, the data field of a Configure-* packet.
    #[must_use]
    pub const fn new(data: &'a [u8]) -> Self {
        Self {
            rest: data,
            seen: 0,
            done: false,
        }
    }

    /// Checks the whole list without keeping anything.
    ///
    /// # Errors
    /// The first error the walk meets.
    pub fn validate(data: &'a [u8]) -> Result<usize, ParseError> {
        let mut n = 0;
        for o in Self::new(data) {
            o?;
            n += 1;
        }
        Ok(n)
    }
}

impl<'a> Iterator for Options<'a> {
    type Item = Result<Opt<'a>, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.rest.is_empty() {
            return None;
        }
        if self.seen >= MAX_OPTIONS {
            self.done = true;
            return Some(Err(ParseError::TooManyTags { cap: MAX_OPTIONS }));
        }
        let Some((&[kind, len], after)) = self.rest.split_first_chunk::<2>() else {
            self.done = true;
            return Some(Err(ParseError::Truncated {
                needed: 2,
                available: self.rest.len(),
            }));
        };
        let Some(dlen) = usize::from(len).checked_sub(2) else {
            self.done = true;
            return Some(Err(ParseError::BadLength));
        };
        let Some((data, rest)) = after.split_at_checked(dlen) else {
            self.done = true;
            return Some(Err(ParseError::BadLength));
        };
        self.rest = rest;
        self.seen += 1;
        Some(Ok(Opt { kind, data }))
    }
}

impl core::iter::FusedIterator for Options<'_> {}

/// A control packet, borrowed (RFC 1661 section 5). For codes 1-4 the data is a
/// validated option list; [`ControlRepr::options`] walks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ControlRepr<'a> {
    /// Code.
    pub code: Code,
    /// Identifier.
    pub identifier: u8,
    /// Data (options, magic number and data, rejected packet, ...).
    pub data: &'a [u8],
}

impl<'a> ControlRepr<'a> {
    /// Parses a control packet; for Configure-* codes the options must be well
    /// formed (section 6).
    ///
    /// # Errors
    /// The option walk's error.
    pub fn parse(p: &ControlPacket<&'a [u8]>) -> Result<Self, ParseError> {
        let b: &'a [u8] = p.buffer;
        let len = usize::from(p.length());
        let data = b.get(HEADER_LEN..len).ok_or(ParseError::BadLength)?;
        let code = p.code();
        if code.has_options() {
            Options::validate(data)?;
        }
        Ok(Self {
            code,
            identifier: p.identifier(),
            data,
        })
    }

    /// Parses from bytes (view + [`ControlRepr::parse`]).
    ///
    /// # Errors
    /// As [`ControlPacket::new_checked`] and [`ControlRepr::parse`].
    pub fn parse_bytes(b: &'a [u8]) -> Result<Self, ParseError> {
        Self::parse(&ControlPacket::new_checked(b)?)
    }

    /// The options of a Configure-* packet.
    #[must_use]
    pub fn options(&self) -> Options<'a> {
        Options::new(self.data)
    }

    /// Bytes [`ControlRepr::emit`] writes.
    #[must_use]
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN + self.data.len()
    }

    /// Writes the packet at the start of `out`.
    ///
    /// # Errors
    /// [`EmitError::BufferTooSmall`]; [`EmitError::ValueTooLarge`] if longer than
    /// 65535 bytes.
    pub fn emit(&self, out: &mut [u8]) -> Result<usize, EmitError> {
        let n = self.buffer_len();
        let len = u16::try_from(n).map_err(|_| EmitError::ValueTooLarge("Length"))?;
        let available = out.len();
        let dst = out.get_mut(..n).ok_or(EmitError::BufferTooSmall {
            needed: n,
            available,
        })?;
        let (h, d) = dst.split_at_mut(HEADER_LEN);
        let [l0, l1] = len.to_be_bytes();
        h.copy_from_slice(&[self.code.0, self.identifier, l0, l1]);
        d.copy_from_slice(self.data);
        Ok(n)
    }
}

/// Writes a control packet header at `out[..4]` for a packet of `total` bytes
/// (header included) whose data the caller has already written at `out[4..]`.
///
/// # Errors
/// [`EmitError::BufferTooSmall`] or [`EmitError::ValueTooLarge`].
pub fn emit_header(
    code: Code,
    identifier: u8,
    total: usize,
    out: &mut [u8],
) -> Result<usize, EmitError> {
    let len = u16::try_from(total).map_err(|_| EmitError::ValueTooLarge("Length"))?;
    let available = out.len();
    let h = out
        .first_chunk_mut::<HEADER_LEN>()
        .ok_or(EmitError::BufferTooSmall {
            needed: HEADER_LEN,
            available,
        })?;
    let [l0, l1] = len.to_be_bytes();
    *h = [code.0, identifier, l0, l1];
    Ok(HEADER_LEN)
}

/// A cursor that writes into a caller buffer and remembers the first failure
/// (so option builders can chain writes and check once).
#[derive(Debug)]
pub struct Writer<'b> {
    buf: &'b mut [u8],
    pos: usize,
    err: Option<EmitError>,
}

impl<'b> Writer<'b> {
    /// A writer at the start of `buf`.
    #[must_use]
    pub fn new(buf: &'b mut [u8]) -> Self {
        Self {
            buf,
            pos: 0,
            err: None,
        }
    }

    /// Appends raw bytes.
    pub fn bytes(&mut self, b: &[u8]) {
        if self.err.is_some() {
            return;
        }
        let end = self.pos.saturating_add(b.len());
        let available = self.buf.len();
        match self.buf.get_mut(self.pos..end) {
            Some(d) => {
                d.copy_from_slice(b);
                self.pos = end;
            }
            None => {
                self.err = Some(EmitError::BufferTooSmall {
                    needed: end,
                    available,
                });
            }
        }
    }

    /// Appends one option.
    pub fn opt(&mut self, kind: u8, data: &[u8]) {
        match u8::try_from(data.len() + 2) {
            Ok(l) => {
                self.bytes(&[kind, l]);
                self.bytes(data);
            }
            Err(_) => {
                if self.err.is_none() {
                    self.err = Some(EmitError::ValueTooLarge("option longer than 255"));
                }
            }
        }
    }

    /// Bytes written so far.
    #[must_use]
    pub const fn len(&self) -> usize {
        self.pos
    }

    /// Whether nothing was written.
    #[must_use]
    pub const fn is_empty(&self) -> bool {
        self.pos == 0
    }

    /// The length written, or the first error.
    ///
    /// # Errors
    /// The first write that did not fit.
    pub fn finish(self) -> Result<usize, EmitError> {
        match self.err {
            Some(e) => Err(e),
            None => Ok(self.pos),
        }
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::many_single_char_names,
    reason = "tests"
)]
mod tests {
    use super::*;

    #[test]
    fn options_walk_reports_one_error_then_fuses() {
        let data = [1, 4, 5, 0xd4, 7, 2, 9];
        let mut it = Options::new(&data);
        assert_eq!(
            it.next(),
            Some(Ok(Opt {
                kind: 1,
                data: &[5, 0xd4]
            }))
        );
        assert_eq!(it.next(), Some(Ok(Opt { kind: 7, data: &[] })));
        assert!(matches!(it.next(), Some(Err(_))));
        assert_eq!(it.next(), None);
        assert_eq!(it.next(), None);
    }

    #[test]
    fn padding_is_ignored_and_truncation_rejected() {
        let pkt = [9, 7, 0, 8, 1, 2, 3, 4, 0, 0, 0];
        let p = ControlPacket::new_checked(&pkt[..]).unwrap();
        assert_eq!(p.as_bytes().len(), 8);
        let r = ControlRepr::parse(&p).unwrap();
        assert_eq!(r.data, &[1, 2, 3, 4]);
        for i in 0..8 {
            assert!(ControlPacket::new_checked(&pkt[..i]).is_err());
        }
        assert!(ControlPacket::new_checked(&[1, 1, 0, 3][..]).is_err());
    }

    #[test]
    fn configure_request_with_bad_option_is_rejected() {
        let pkt = [1, 1, 0, 6, 1, 1];
        assert!(ControlRepr::parse_bytes(&pkt).is_err());
        let pkt = [1, 1, 0, 6, 1, 3];
        assert!(ControlRepr::parse_bytes(&pkt).is_err());
    }
}
