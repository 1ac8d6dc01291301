//! PPPoE packets: the 6-byte header of RFC 2516 section 4 and the discovery tags of
//! section 5 and Appendix A.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  VER  | TYPE  |      CODE     |          SESSION_ID           |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |            LENGTH             |           payload             ~
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! The view starts at the PPPoE header (after the Ethernet header and any VLAN tags).
//! Bytes after `6 + LENGTH` are Ethernet padding and are ignored.

use core::fmt;
use core::num::NonZeroU16;

use crate::error::{EmitError, ParseError};

mod field {
    pub(super) const VER_TYPE: usize = 0;
    pub(super) const CODE: usize = 1;
    pub(super) const SESSION_ID: usize = 2;
    pub(super) const LENGTH: usize = 4;
    pub(super) const PAYLOAD: usize = 6;
}

/// Length of the PPPoE header (RFC 2516 section 4).
pub const HEADER_LEN: usize = field::PAYLOAD;

/// Ethertype of the PPPoE discovery stage (RFC 2516 section 4).
pub const ETHERTYPE_DISCOVERY: u16 = 0x8863;
/// Ethertype of the PPPoE session stage (RFC 2516 section 4).
pub const ETHERTYPE_SESSION: u16 = 0x8864;

/// Hard cap on tags walked in one packet (STYLE.md section 2). A 1500-byte payload
/// holds at most 373 empty tags; no real packet carries more than a dozen.
pub const MAX_TAGS: usize = 128;

macro_rules! open_newtype {
    ($(#[$m:meta])* $name:ident($t:ty) { $($(#[$cm:meta])* $c:ident = $v:expr, $s:literal;)* }) => {
        $(#[$m])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(transparent)]
        pub struct $name(pub $t);
        impl $name {
            $($(#[$cm])* pub const $c: Self = Self($v);)*
            /// The registry name of this value, if it is one this crate knows.
            #[must_use]
            pub const fn name(self) -> Option<&'static str> {
                match self.0 { $($v => Some($s),)* _ => None }
            }
        }
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self.name() {
                    Some(n) => f.write_str(n),
                    None => write!(f, "{}({:#x})", stringify!($name), self.0),
                }
            }
        }
    };
}

open_newtype! {
    /// PPPoE CODE field: IANA "PPP Over Ethernet (PPPoE) Parameters", Active Discovery Codes
    /// (RFC 2516 section 5).
    Code(u8) {
        /// Session data (RFC 2516 section 6).
        SESSION = 0x00, "SESSION";
        /// PPPoE Active Discovery Offer (section 5.2).
        PADO = 0x07, "PADO";
        /// PPPoE Active Discovery Initiation (section 5.1).
        PADI = 0x09, "PADI";
        /// PPPoE Active Discovery Request (section 5.3).
        PADR = 0x19, "PADR";
        /// PPPoE Active Discovery Session-confirmation (section 5.4).
        PADS = 0x65, "PADS";
        /// PPPoE Active Discovery Terminate (section 5.5).
        PADT = 0xa7, "PADT";
    }
}

open_newtype! {
    /// PPPoE TAG_TYPE: IANA "PPP Over Ethernet (PPPoE) Parameters", TAG Types
    /// (RFC 2516 Appendix A, RFC 4638, RFC 5578).
    TagType(u16) {
        /// End-Of-List (Appendix A); length must be zero.
        END_OF_LIST = 0x0000, "End-Of-List";
        /// Service-Name (Appendix A).
        SERVICE_NAME = 0x0101, "Service-Name";
        /// AC-Name (Appendix A).
        AC_NAME = 0x0102, "AC-Name";
        /// Host-Uniq (Appendix A).
        HOST_UNIQ = 0x0103, "Host-Uniq";
        /// AC-Cookie (Appendix A).
        AC_COOKIE = 0x0104, "AC-Cookie";
        /// Vendor-Specific (Appendix A); first four bytes are the vendor id.
        VENDOR_SPECIFIC = 0x0105, "Vendor-Specific";
        /// Credits (RFC 5578).
        CREDITS = 0x0106, "Credits";
        /// Metrics (RFC 5578).
        METRICS = 0x0107, "Metrics";
        /// Sequence Number (RFC 5578).
        SEQUENCE_NUMBER = 0x0108, "Sequence Number";
        /// Credit Scale Factor (RFC 5578).
        CREDIT_SCALE_FACTOR = 0x0109, "Credit Scale Factor";
        /// Relay-Session-Id (Appendix A).
        RELAY_SESSION_ID = 0x0110, "Relay-Session-Id";
        /// HURL (RFC 4937).
        HURL = 0x0111, "HURL";
        /// MOTM (RFC 4937).
        MOTM = 0x0112, "MOTM";
        /// PPP-Max-Payload (RFC 4638 section 4).
        PPP_MAX_PAYLOAD = 0x0120, "PPP-Max-Payload";
        /// IP_Route_Add (RFC 4937).
        IP_ROUTE_ADD = 0x0121, "IP_Route_Add";
        /// Service-Name-Error (Appendix A).
        SERVICE_NAME_ERROR = 0x0201, "Service-Name-Error";
        /// AC-System-Error (Appendix A).
        AC_SYSTEM_ERROR = 0x0202, "AC-System-Error";
        /// Generic-Error (Appendix A).
        GENERIC_ERROR = 0x0203, "Generic-Error";
    }
}

/// A PPPoE SESSION_ID as assigned by an AC: never 0 (discovery) and never 0xffff
/// (reserved, RFC 2516 section 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(NonZeroU16);

impl SessionId {
    /// `Some` for 1..=0xfffe.
    #[must_use]
    pub const fn new(id: u16) -> Option<Self> {
        if id == 0xffff {
            return None;
        }
        match NonZeroU16::new(id) {
            Some(n) => Some(Self(n)),
            None => None,
        }
    }

    /// The wire value.
    #[must_use]
    pub const fn get(self) -> u16 {
        self.0.get()
    }
}

/// One discovery tag, borrowed from the packet (RFC 2516 Appendix A).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tag<'a> {
    /// TAG_TYPE.
    pub kind: TagType,
    /// TAG_VALUE, `TAG_LENGTH` bytes.
    pub value: &'a [u8],
}

impl Tag<'_> {
    /// Bytes this tag takes on the wire (4-byte TLV header plus value).
    #[must_use]
    pub const fn wire_len(&self) -> usize {
        4 + self.value.len()
    }

    /// Writes the tag at the start of `out`.
    ///
    /// # Errors
    /// [`EmitError::BufferTooSmall`] if `out` is shorter than [`Tag::wire_len`];
    /// [`EmitError::ValueTooLarge`] if the value exceeds 65535 bytes.
    pub fn emit(&self, out: &mut [u8]) -> Result<usize, EmitError> {
        let len = u16::try_from(self.value.len())
            .map_err(|_| EmitError::ValueTooLarge("tag value over 65535 bytes"))?;
        let needed = self.wire_len();
        let available = out.len();
        let (hdr, rest) = out
            .split_first_chunk_mut::<4>()
            .ok_or(EmitError::BufferTooSmall { needed, available })?;
        let dst = rest
            .get_mut(..self.value.len())
            .ok_or(EmitError::BufferTooSmall { needed, available })?;
        hdr[..2].copy_from_slice(&self.kind.0.to_be_bytes());
        hdr[2..].copy_from_slice(&len.to_be_bytes());
        dst.copy_from_slice(self.value);
        Ok(needed)
    }
}

/// Zero-copy iterator over the tags of a discovery payload (STYLE.md section 4).
///
/// Yields `Err` once for a malformed tag (truncated header or value, or more than
/// [`MAX_TAGS`] tags), then ends. Unknown tag types are yielded, not skipped, so a
/// relay can forward them.
#[derive(Debug, Clone)]
pub struct Tags<'a> {
    rest: &'a [u8],
    seen: usize,
    failed: bool,
}

impl<'a> Tags<'a> {
    /// Iterates over the tag area `bytes` (the discovery payload).
    #[must_use]
    pub const fn new(bytes: &'a [u8]) -> Self {
        Self {
            rest: bytes,
            seen: 0,
            failed: false,
        }
    }

    /// Checks the whole tag area once, so later walks cannot fail.
    ///
    /// # Errors
    /// The first error the iterator would yield.
    pub fn validate(bytes: &'a [u8]) -> Result<(), ParseError> {
        Self::new(bytes).try_for_each(|t| t.map(drop))
    }

    /// The first tag of type `kind`, if any (malformed tails are ignored here; use
    /// [`Tags::validate`] or [`Packet::new_checked`] first).
    #[must_use]
    pub fn find(self, kind: TagType) -> Option<&'a [u8]> {
        self.map_while(Result::ok)
            .find(|t| t.kind == kind)
            .map(|t| t.value)
    }

    fn fail(&mut self, e: ParseError) -> Result<Tag<'a>, ParseError> {
        self.failed = true;
        self.rest = &[];
        Err(e)
    }
}

impl<'a> Iterator for Tags<'a> {
    type Item = Result<Tag<'a>, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.rest.is_empty() {
            return None;
        }
        if self.seen == MAX_TAGS {
            return Some(self.fail(ParseError::TooManyTags { cap: MAX_TAGS }));
        }
        let Some((hdr, body)) = self.rest.split_first_chunk::<4>() else {
            return Some(self.fail(ParseError::Truncated {
                needed: 4,
                available: self.rest.len(),
            }));
        };
        let kind = TagType(u16::from_be_bytes([hdr[0], hdr[1]]));
        let len = usize::from(u16::from_be_bytes([hdr[2], hdr[3]]));
        let Some((value, rest)) = body.split_at_checked(len) else {
            return Some(self.fail(ParseError::Truncated {
                needed: 4 + len,
                available: self.rest.len(),
            }));
        };
        self.rest = rest;
        self.seen += 1;
        Some(Ok(Tag { kind, value }))
    }
}

impl core::iter::FusedIterator for Tags<'_> {}

/// A checked view of a PPPoE packet (RFC 2516 section 4), header and payload.
#[derive(Debug, Clone, Copy)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps `buffer` after checking `len >= 6`, VER = 1, TYPE = 1 and
    /// `6 + LENGTH <= len` (RFC 2516 section 4). Trailing Ethernet padding is allowed.
    ///
    /// # Errors
    /// [`ParseError::Truncated`] or [`ParseError::BadVersion`].
    pub fn new_checked(buffer: T) -> Result<Self, ParseError> {
        let b = buffer.as_ref();
        let Some(hdr) = b.first_chunk::<HEADER_LEN>() else {
            return Err(ParseError::Truncated {
                needed: HEADER_LEN,
                available: b.len(),
            });
        };
        let (version, kind) = (hdr[field::VER_TYPE] >> 4, hdr[field::VER_TYPE] & 0x0f);
        if version != 1 || kind != 1 {
            return Err(ParseError::BadVersion { version, kind });
        }
        let len = usize::from(u16::from_be_bytes([
            hdr[field::LENGTH],
            hdr[field::LENGTH + 1],
        ]));
        let needed = HEADER_LEN + len;
        if b.len() < needed {
            return Err(ParseError::Truncated {
                needed,
                available: b.len(),
            });
        }
        Ok(Self { buffer })
    }

    fn header(&self) -> &[u8; HEADER_LEN] {
        // new_checked guaranteed the header; an empty fallback keeps this panic-free.
        self.buffer
            .as_ref()
            .first_chunk::<HEADER_LEN>()
            .unwrap_or(&[0; HEADER_LEN])
    }

    /// The CODE field.
    #[must_use]
    pub fn code(&self) -> Code {
        Code(self.header()[field::CODE])
    }

    /// The SESSION_ID field (zero during discovery until PADS).
    #[must_use]
    pub fn session_id(&self) -> u16 {
        let h = self.header();
        u16::from_be_bytes([h[field::SESSION_ID], h[field::SESSION_ID + 1]])
    }

    /// The LENGTH field: payload bytes, not counting the header or Ethernet padding.
    #[must_use]
    pub fn payload_len(&self) -> u16 {
        let h = self.header();
        u16::from_be_bytes([h[field::LENGTH], h[field::LENGTH + 1]])
    }

    /// The payload: `LENGTH` bytes after the header (padding excluded).
    #[must_use]
    pub fn payload(&self) -> &[u8] {
        let end = HEADER_LEN + usize::from(self.payload_len());
        self.buffer.as_ref().get(HEADER_LEN..end).unwrap_or(&[])
    }

    /// The tags of a discovery packet (the payload read as TLVs).
    #[must_use]
    pub fn tags(&self) -> Tags<'_> {
        Tags::new(self.payload())
    }

    /// Header plus payload, without Ethernet padding.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        let end = HEADER_LEN + usize::from(self.payload_len());
        self.buffer.as_ref().get(..end).unwrap_or(&[])
    }
}

/// The tags of a [`Repr`]: either the validated bytes of a parsed packet (so a
/// re-emit is byte-identical and unknown tags survive) or a list to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagList<'a> {
    /// Tag bytes already checked by [`Tags::validate`].
    Wire(&'a [u8]),
    /// Tags to emit, in order.
    List(&'a [Tag<'a>]),
}

impl<'a> TagList<'a> {
    /// Bytes the tags take on the wire.
    #[must_use]
    pub fn wire_len(&self) -> usize {
        match self {
            Self::Wire(b) => b.len(),
            Self::List(l) => l.iter().map(Tag::wire_len).sum(),
        }
    }

    /// The first tag of type `kind`.
    #[must_use]
    pub fn find(&self, kind: TagType) -> Option<&'a [u8]> {
        match *self {
            Self::Wire(b) => Tags::new(b).find(kind),
            Self::List(l) => l.iter().find(|t| t.kind == kind).map(|t| t.value),
        }
    }
}

/// A discovery packet as data (RFC 2516 section 5): parse from a [`Packet`], emit into
/// a caller buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr<'a> {
    /// CODE.
    pub code: Code,
    /// SESSION_ID.
    pub session_id: u16,
    /// The tags, in wire order.
    pub tags: TagList<'a>,
}

impl<'a> Repr<'a> {
    /// Reads a discovery packet, checking every tag (section 4) and the session-id
    /// rules of section 5: PADI, PADO and PADR carry SESSION_ID 0; PADS and PADT do
    /// not have to (a PADS with SESSION_ID 0 reports an error in its tags).
    ///
    /// # Errors
    /// [`ParseError`] for a malformed tag list, a session packet (`CODE` 0), or a
    /// non-zero SESSION_ID on PADI/PADO/PADR.
    pub fn parse(p: &'a Packet<&'a [u8]>) -> Result<Self, ParseError> {
        let code = p.code();
        if code == Code::SESSION {
            return Err(ParseError::InvalidField(
                "session-stage packet, not discovery",
            ));
        }
        let session_id = p.session_id();
        if matches!(code, Code::PADI | Code::PADO | Code::PADR) && session_id != 0 {
            return Err(ParseError::InvalidField("SESSION_ID must be 0 before PADS"));
        }
        let payload = p.payload();
        Tags::validate(payload)?;
        Ok(Self {
            code,
            session_id,
            tags: TagList::Wire(payload),
        })
    }

    /// Bytes [`Repr::emit`] writes: header plus tags.
    #[must_use]
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + self.tags.wire_len()
    }

    /// Writes header and tags at the start of `out`; returns the bytes written.
    ///
    /// # Errors
    /// [`EmitError::BufferTooSmall`] (checked once, before anything is written) or
    /// [`EmitError::ValueTooLarge`] if the tags exceed the 16-bit LENGTH.
    pub fn emit(&self, out: &mut [u8]) -> Result<usize, EmitError> {
        let needed = self.buffer_len();
        let available = out.len();
        let len = u16::try_from(needed - HEADER_LEN)
            .map_err(|_| EmitError::ValueTooLarge("tags exceed 65535 bytes"))?;
        let out = out
            .get_mut(..needed)
            .ok_or(EmitError::BufferTooSmall { needed, available })?;
        let (hdr, mut rest) = out
            .split_first_chunk_mut::<HEADER_LEN>()
            .ok_or(EmitError::BufferTooSmall { needed, available })?;
        hdr[field::VER_TYPE] = 0x11;
        hdr[field::CODE] = self.code.0;
        hdr[field::SESSION_ID..field::LENGTH].copy_from_slice(&self.session_id.to_be_bytes());
        hdr[field::LENGTH..].copy_from_slice(&len.to_be_bytes());
        match self.tags {
            TagList::Wire(b) => rest.copy_from_slice(b),
            TagList::List(l) => {
                for t in l {
                    let n = t.emit(rest)?;
                    rest = rest.get_mut(n..).unwrap_or_default();
                }
            }
        }
        Ok(needed)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests")]
    use super::*;

    /// A PADI with Service-Name "" and Host-Uniq 0xdeadbeef, plus 2 bytes of padding.
    const PADI: [u8; 24] = [
        0x11, 0x09, 0x00, 0x00, 0x00, 0x0c, // header, LENGTH 12
        0x01, 0x01, 0x00, 0x00, // Service-Name, empty
        0x01, 0x03, 0x00, 0x04, 0xde, 0xad, 0xbe, 0xef, // Host-Uniq
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // Ethernet padding
    ];

    #[test]
    fn parse_emit_padi() {
        let p = Packet::new_checked(&PADI[..]).unwrap();
        assert_eq!(p.code(), Code::PADI);
        assert_eq!(p.payload_len(), 12);
        let r = Repr::parse(&p).unwrap();
        assert_eq!(
            r.tags.find(TagType::HOST_UNIQ),
            Some(&[0xde, 0xad, 0xbe, 0xef][..])
        );
        assert_eq!(r.tags.find(TagType::SERVICE_NAME), Some(&[][..]));
        let mut out = [0u8; 64];
        let n = r.emit(&mut out).unwrap();
        assert_eq!(&out[..n], &PADI[..18]);
        // the same packet built from a list emits the same bytes
        let list = [
            Tag {
                kind: TagType::SERVICE_NAME,
                value: &[],
            },
            Tag {
                kind: TagType::HOST_UNIQ,
                value: &[0xde, 0xad, 0xbe, 0xef],
            },
        ];
        let built = Repr {
            code: Code::PADI,
            session_id: 0,
            tags: TagList::List(&list),
        };
        let mut out2 = [0u8; 64];
        assert_eq!(built.emit(&mut out2).unwrap(), 18);
        assert_eq!(out, out2);
    }

    #[test]
    fn every_truncated_prefix_is_rejected() {
        for cut in 0..18 {
            assert!(Packet::new_checked(&PADI[..cut]).is_err(), "prefix {cut}");
        }
    }

    #[test]
    fn short_emit_buffer() {
        let p = Packet::new_checked(&PADI[..]).unwrap();
        let r = Repr::parse(&p).unwrap();
        let mut out = [0u8; 17];
        assert_eq!(
            r.emit(&mut out),
            Err(EmitError::BufferTooSmall {
                needed: 18,
                available: 17
            })
        );
    }

    #[test]
    fn bad_tag_length_yields_one_error_then_ends() {
        let bad = [0x11, 0x09, 0, 0, 0, 6, 0x01, 0x01, 0x00, 0x09, 0xaa, 0xbb];
        let p = Packet::new_checked(&bad[..]).unwrap();
        let mut t = p.tags();
        assert!(matches!(t.next(), Some(Err(ParseError::Truncated { .. }))));
        assert!(t.next().is_none());
        assert!(Repr::parse(&p).is_err());
    }

    #[test]
    fn debug_names() {
        extern crate std;
        assert_eq!(std::format!("{:?}", Code::PADS), "PADS");
        assert_eq!(std::format!("{:?}", TagType(0x7777)), "TagType(0x7777)");
    }

    proptest::proptest! {
        #[test]
        fn roundtrip(code in proptest::prelude::any::<u8>(),
                     sid in proptest::prelude::any::<u16>(),
                     tags in proptest::collection::vec((proptest::prelude::any::<u16>(),
                              proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40)), 0..8)) {
            extern crate std;
            let list: std::vec::Vec<Tag<'_>> =
                tags.iter().map(|(k, v)| Tag { kind: TagType(*k), value: v }).collect();
            let code = if code == 0 { Code::PADT } else { Code(code) };
            let sid = if matches!(code, Code::PADI | Code::PADO | Code::PADR) { 0 } else { sid };
            let r = Repr { code, session_id: sid, tags: TagList::List(&list) };
            let mut buf = [0u8; 512];
            let n = r.emit(&mut buf).unwrap();
            let p = Packet::new_checked(&buf[..n]).unwrap();
            let back = Repr::parse(&p).unwrap();
            let mut buf2 = [0u8; 512];
            let n2 = back.emit(&mut buf2).unwrap();
            proptest::prop_assert_eq!(&buf[..n], &buf2[..n2]);
            proptest::prop_assert_eq!(back.tags.wire_len(), r.tags.wire_len());
        }
    }
}
