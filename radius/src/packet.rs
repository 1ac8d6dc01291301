//! RADIUS packets (RFC 2865 section 3) and attributes (section 5): a checked view,
//! a zero-copy attribute iterator with a hard cap, typed value helpers, Vendor-Specific
//! (section 5.26) and Extended attributes (RFC 6929), a `Repr` that re-emits
//! byte-identically, and a [`Writer`] that builds signed packets with
//! Message-Authenticator first.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     Code      |  Identifier   |            Length             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                         Authenticator (16)                    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Attributes ...
//! +-+-+-+-+-+-+-+-+-+-+-+-+-
//! ```

use core::net::{Ipv4Addr, Ipv6Addr};

use crate::crypto::{self, Secret};
use crate::dict::{AttrType, Code};
use crate::error::{EmitError, ParseError};

mod field {
    pub(super) const CODE: usize = 0;
    pub(super) const IDENTIFIER: usize = 1;
    pub(super) const LENGTH: usize = 2;
    pub(super) const AUTHENTICATOR: usize = 4;
    pub(super) const ATTRIBUTES: usize = 20;
}

/// Length of the fixed header (RFC 2865 section 3).
pub const HEADER_LEN: usize = field::ATTRIBUTES;

/// Largest packet (RFC 2865 section 3: "maximum length is 4096").
pub const MAX_PACKET_LEN: usize = 4096;

/// Largest attribute value (255 minus the 2-byte header, RFC 2865 section 5).
pub const MAX_VALUE_LEN: usize = 253;

/// Hard cap on attributes walked in one packet (STYLE.md section 2). A 4096-byte packet
/// could hold 2038 empty attributes; FreeRADIUS refuses more than 200 by default.
pub const MAX_ATTRIBUTES: usize = 256;

/// Hard cap on sub-attributes walked in one Vendor-Specific value.
pub const MAX_VENDOR_ATTRIBUTES: usize = 64;

/// Length of the Message-Authenticator attribute (RFC 3579 section 3.2).
pub const MESSAGE_AUTHENTICATOR_LEN: usize = 18;

/// One attribute, borrowed from the packet (RFC 2865 section 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attr<'a> {
    /// Type.
    pub kind: AttrType,
    /// Value (Length - 2 bytes).
    pub value: &'a [u8],
}

/// An IPv6 prefix value (RFC 3162 section 2.3, RFC 4818 section 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6Prefix {
    /// Prefix length in bits (0..=128).
    pub len: u8,
    /// The prefix; bits beyond `len` are zero.
    pub addr: Ipv6Addr,
}

/// An extended attribute (RFC 6929 section 2.1 and 2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extended<'a> {
    /// The base type (241..=246).
    pub base: AttrType,
    /// The Extended-Type octet.
    pub ext_type: u8,
    /// The "More" flag of a Long Extended Type fragment (section 2.2); always false
    /// for the short form.
    pub more: bool,
    /// The value (this fragment's part for a long extended attribute).
    pub value: &'a [u8],
}

impl<'a> Attr<'a> {
    /// Bytes this attribute takes on the wire.
    #[must_use]
    pub const fn wire_len(&self) -> usize {
        2 + self.value.len()
    }

    /// Writes the attribute at the start of `out`.
    ///
    /// # Errors
    /// [`EmitError::ValueTooLarge`] if the value exceeds [`MAX_VALUE_LEN`];
    /// [`EmitError::BufferTooSmall`] if `out` is too short.
    pub fn emit(&self, out: &mut [u8]) -> Result<usize, EmitError> {
        put_attr(out, self.kind, self.value)
    }

    /// An `integer` value (RFC 2865 section 5: 32-bit big-endian).
    #[must_use]
    pub fn as_u32(&self) -> Option<u32> {
        <[u8; 4]>::try_from(self.value).ok().map(u32::from_be_bytes)
    }

    /// A `time` value: seconds since 1970-01-01 UTC (RFC 2865 section 5).
    #[must_use]
    pub fn as_time(&self) -> Option<u32> {
        self.as_u32()
    }

    /// An `address` value (RFC 2865 section 5).
    #[must_use]
    pub fn as_ipv4(&self) -> Option<Ipv4Addr> {
        <[u8; 4]>::try_from(self.value).ok().map(Ipv4Addr::from)
    }

    /// An IPv6 address value (RFC 3162 section 2.1, RFC 6911 section 3.1).
    #[must_use]
    pub fn as_ipv6(&self) -> Option<Ipv6Addr> {
        <[u8; 16]>::try_from(self.value).ok().map(Ipv6Addr::from)
    }

    /// An IPv6 prefix value: Reserved (1), Prefix-Length (1), Prefix (0..=16 bytes)
    /// (RFC 3162 section 2.3, RFC 4818 section 3). Rejects a prefix length over 128
    /// or a prefix field too short for it.
    #[must_use]
    pub fn as_ipv6_prefix(&self) -> Option<Ipv6Prefix> {
        let (&[_, len], prefix) = self.value.split_first_chunk::<2>()?;
        if len > 128 || prefix.len() > 16 || prefix.len() * 8 < usize::from(len) {
            return None;
        }
        let mut a = [0u8; 16];
        a.get_mut(..prefix.len())?.copy_from_slice(prefix);
        Some(Ipv6Prefix {
            len,
            addr: Ipv6Addr::from(mask_v6(a, len)),
        })
    }

    /// A `text` value that is valid UTF-8 (RFC 2865 section 5).
    #[must_use]
    pub fn as_text(&self) -> Option<&'a str> {
        core::str::from_utf8(self.value).ok()
    }

    /// The vendor id and sub-attribute area of a Vendor-Specific attribute (RFC 2865
    /// section 5.26).
    #[must_use]
    pub fn as_vendor_specific(&self) -> Option<(u32, VendorAttributes<'a>)> {
        if self.kind != AttrType::VENDOR_SPECIFIC {
            return None;
        }
        let (id, rest) = self.value.split_first_chunk::<4>()?;
        Some((u32::from_be_bytes(*id), VendorAttributes::new(rest)))
    }

    /// This attribute as an RFC 6929 extended attribute.
    #[must_use]
    pub fn as_extended(&self) -> Option<Extended<'a>> {
        if self.kind.is_extended() {
            let (&et, value) = self.value.split_first()?;
            Some(Extended {
                base: self.kind,
                ext_type: et,
                more: false,
                value,
            })
        } else if self.kind.is_long_extended() {
            let (&[et, flags], value) = self.value.split_first_chunk::<2>()?;
            Some(Extended {
                base: self.kind,
                ext_type: et,
                more: flags & 0x80 != 0,
                value,
            })
        } else {
            None
        }
    }
}

fn mask_v6(mut a: [u8; 16], len: u8) -> [u8; 16] {
    let len = usize::from(len);
    for (i, b) in a.iter_mut().enumerate() {
        let bit = i * 8;
        if bit >= len {
            *b = 0;
        } else if bit + 8 > len {
            *b &= 0xffu8 << (8 - (len - bit));
        }
    }
    a
}

/// Writes one TLV at the start of `out` (RFC 2865 section 5).
fn put_attr(out: &mut [u8], kind: AttrType, value: &[u8]) -> Result<usize, EmitError> {
    if value.len() > MAX_VALUE_LEN {
        return Err(EmitError::ValueTooLarge("attribute value over 253 bytes"));
    }
    let needed = 2 + value.len();
    let available = out.len();
    let (hdr, rest) = out
        .split_first_chunk_mut::<2>()
        .ok_or(EmitError::BufferTooSmall { needed, available })?;
    let dst = rest
        .get_mut(..value.len())
        .ok_or(EmitError::BufferTooSmall { needed, available })?;
    *hdr = [kind.0, u8::try_from(needed).unwrap_or(u8::MAX)];
    dst.copy_from_slice(value);
    Ok(needed)
}

/// Zero-copy iterator over an attribute area (STYLE.md section 4).
///
/// Yields `Err` once for a malformed attribute (Length below 2 or past the end, or
/// more than [`MAX_ATTRIBUTES`]), then ends. Unknown types are yielded.
#[derive(Debug, Clone)]
pub struct Attributes<'a> {
    rest: &'a [u8],
    seen: usize,
    failed: bool,
}

impl<'a> Attributes<'a> {
    /// Iterates over `bytes` (the attribute area after the 20-byte header).
    #[must_use]
    pub const fn new(bytes: &'a [u8]) -> Self {
        Self {
            rest: bytes,
            seen: 0,
            failed: false,
        }
    }

    /// Checks the whole area once.
    ///
    /// # Errors
    /// The first error the iterator would yield.
    pub fn validate(bytes: &'a [u8]) -> Result<(), ParseError> {
        Self::new(bytes).try_for_each(|a| a.map(drop))
    }
}

impl<'a> Iterator for Attributes<'a> {
    type Item = Result<Attr<'a>, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.rest.is_empty() {
            return None;
        }
        let r = (|| {
            if self.seen >= MAX_ATTRIBUTES {
                return Err(ParseError::TooManyTlvs {
                    cap: MAX_ATTRIBUTES,
                });
            }
            let (&[t, l], _) = self
                .rest
                .split_first_chunk::<2>()
                .ok_or(ParseError::Truncated {
                    needed: 2,
                    available: self.rest.len(),
                })?;
            let l = usize::from(l);
            if l < 2 {
                return Err(ParseError::BadLength);
            }
            let (this, rest) = self.rest.split_at_checked(l).ok_or(ParseError::Truncated {
                needed: l,
                available: self.rest.len(),
            })?;
            self.rest = rest;
            self.seen += 1;
            Ok(Attr {
                kind: AttrType(t),
                value: this.get(2..).unwrap_or_default(),
            })
        })();
        if r.is_err() {
            self.failed = true;
        }
        Some(r)
    }
}

impl core::iter::FusedIterator for Attributes<'_> {}

/// One sub-attribute of a Vendor-Specific attribute in the RFC 2865 section 5.26
/// recommended format: Vendor type (1), Vendor length (1), value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VendorAttr<'a> {
    /// Vendor type.
    pub vendor_type: u8,
    /// Value.
    pub value: &'a [u8],
}

/// Iterator over the sub-attributes of a Vendor-Specific value (after the vendor
/// id). Vendors that do not follow the recommended format yield one `Err`; the raw
/// value stays available in [`Attr::value`].
#[derive(Debug, Clone)]
pub struct VendorAttributes<'a> {
    inner: Attributes<'a>,
    seen: usize,
}

impl<'a> VendorAttributes<'a> {
    /// Iterates over `bytes` (the Vendor-Specific value after its 4-byte vendor id).
    #[must_use]
    pub const fn new(bytes: &'a [u8]) -> Self {
        Self {
            inner: Attributes::new(bytes),
            seen: 0,
        }
    }
}

impl<'a> Iterator for VendorAttributes<'a> {
    type Item = Result<VendorAttr<'a>, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.seen >= MAX_VENDOR_ATTRIBUTES && !self.inner.failed {
            if self.inner.rest.is_empty() {
                return None;
            }
            self.inner.failed = true;
            return Some(Err(ParseError::TooManyTlvs {
                cap: MAX_VENDOR_ATTRIBUTES,
            }));
        }
        let r = self.inner.next()?;
        self.seen += 1;
        Some(r.map(|a| VendorAttr {
            vendor_type: a.kind.0,
            value: a.value,
        }))
    }
}

impl core::iter::FusedIterator for VendorAttributes<'_> {}

/// A checked view of a RADIUS packet (RFC 2865 section 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Checks `buffer`: at least 20 bytes; `20 <= Length <= 4096`; `Length` bytes present
    /// (octets past `Length` are padding and ignored, RFC 2865 section 3); every
    /// attribute well formed and at most [`MAX_ATTRIBUTES`] of them.
    ///
    /// # Errors
    /// [`ParseError::Truncated`], [`ParseError::BadLength`] or an attribute error.
    pub fn new_checked(buffer: T) -> Result<Self, ParseError> {
        let b = buffer.as_ref();
        let hdr = b.first_chunk::<HEADER_LEN>().ok_or(ParseError::Truncated {
            needed: HEADER_LEN,
            available: b.len(),
        })?;
        let len = usize::from(u16::from_be_bytes([
            hdr[field::LENGTH],
            hdr[field::LENGTH + 1],
        ]));
        if !(HEADER_LEN..=MAX_PACKET_LEN).contains(&len) {
            return Err(ParseError::BadLength);
        }
        let body = b.get(HEADER_LEN..len).ok_or(ParseError::Truncated {
            needed: len,
            available: b.len(),
        })?;
        Attributes::validate(body)?;
        Ok(Self { buffer })
    }

    /// The bytes of the packet (`Length` bytes, without any padding after it).
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        let b = self.buffer.as_ref();
        b.get(..usize::from(self.length())).unwrap_or(b)
    }

    fn header(&self) -> [u8; HEADER_LEN] {
        self.buffer
            .as_ref()
            .first_chunk::<HEADER_LEN>()
            .copied()
            .unwrap_or([0; HEADER_LEN])
    }

    /// Code (RFC 2865 section 3).
    #[must_use]
    pub fn code(&self) -> Code {
        Code(self.header()[field::CODE])
    }

    /// Identifier (RFC 2865 section 3).
    #[must_use]
    pub fn identifier(&self) -> u8 {
        self.header()[field::IDENTIFIER]
    }

    /// Length (RFC 2865 section 3).
    #[must_use]
    pub fn length(&self) -> u16 {
        let h = self.header();
        u16::from_be_bytes([h[field::LENGTH], h[field::LENGTH + 1]])
    }

    /// Authenticator (RFC 2865 section 3).
    #[must_use]
    pub fn authenticator(&self) -> [u8; 16] {
        let mut a = [0u8; 16];
        if let Some(s) = self.buffer.as_ref().get(field::AUTHENTICATOR..HEADER_LEN) {
            a.copy_from_slice(s);
        }
        a
    }

    /// The attribute area.
    #[must_use]
    pub fn attribute_bytes(&self) -> &[u8] {
        self.as_bytes().get(HEADER_LEN..).unwrap_or_default()
    }

    /// The attributes, in order (already validated by [`Packet::new_checked`]).
    #[must_use]
    pub fn attributes(&self) -> Attributes<'_> {
        Attributes::new(self.attribute_bytes())
    }

    /// The first attribute of type `kind`.
    #[must_use]
    pub fn attribute(&self, kind: AttrType) -> Option<Attr<'_>> {
        self.attributes()
            .map_while(Result::ok)
            .find(|a| a.kind == kind)
    }

    /// Recovers the User-Password of an Access-Request (RFC 2865 section 5.2).
    ///
    /// # Errors
    /// [`ParseError::InvalidField`] if absent or of a bad length.
    pub fn user_password<'o>(
        &self,
        secret: &Secret,
        out: &'o mut [u8; crypto::MAX_PASSWORD_LEN],
    ) -> Result<&'o [u8], ParseError> {
        let a = self
            .attribute(AttrType::USER_PASSWORD)
            .ok_or(ParseError::InvalidField("no User-Password"))?;
        crypto::recover_user_password(secret, &self.authenticator(), a.value, out)
    }
}

impl<'a> Packet<&'a [u8]> {
    /// The attribute area, borrowed for the buffer's lifetime rather than the view's.
    #[must_use]
    pub fn attribute_slice(&self) -> &'a [u8] {
        let b: &'a [u8] = self.buffer;
        b.get(HEADER_LEN..usize::from(self.length()))
            .unwrap_or_default()
    }
}

/// The attributes of a [`Repr`]: either the checked wire bytes of a parsed packet
/// (re-emitted verbatim) or a list to emit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrList<'a> {
    /// An attribute area already checked by [`Attributes::validate`].
    Wire(&'a [u8]),
    /// Attributes to emit, in order.
    List(&'a [Attr<'a>]),
}

impl<'a> AttrList<'a> {
    /// Bytes the attributes take on the wire.
    #[must_use]
    pub fn wire_len(&self) -> usize {
        match self {
            Self::Wire(b) => b.len(),
            Self::List(l) => l.iter().map(Attr::wire_len).sum(),
        }
    }

    /// The first attribute of type `kind`.
    #[must_use]
    pub fn find(&self, kind: AttrType) -> Option<&'a [u8]> {
        match *self {
            Self::Wire(b) => Attributes::new(b)
                .map_while(Result::ok)
                .find(|a| a.kind == kind)
                .map(|a| a.value),
            Self::List(l) => l.iter().find(|a| a.kind == kind).map(|a| a.value),
        }
    }
}

/// A RADIUS packet as data (RFC 2865 section 3): parse from a [`Packet`], emit into a
/// caller buffer. `emit` writes the Authenticator as given; use [`crypto::sign`] or
/// [`Writer`] to sign.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr<'a> {
    /// Code.
    pub code: Code,
    /// Identifier.
    pub identifier: u8,
    /// Authenticator.
    pub authenticator: [u8; 16],
    /// Attributes.
    pub attributes: AttrList<'a>,
}

impl<'a> Repr<'a> {
    /// Parses a checked packet.
    ///
    /// # Errors
    /// None today beyond what [`Packet::new_checked`] checks; the `Result` keeps room
    /// for semantic checks.
    pub fn parse(p: &Packet<&'a [u8]>) -> Result<Self, ParseError> {
        let bytes: &'a [u8] = p.buffer;
        let len = usize::from(p.length());
        let attrs = bytes.get(HEADER_LEN..len).ok_or(ParseError::BadLength)?;
        Ok(Self {
            code: p.code(),
            identifier: p.identifier(),
            authenticator: p.authenticator(),
            attributes: AttrList::Wire(attrs),
        })
    }

    /// Bytes [`Repr::emit`] writes.
    #[must_use]
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + self.attributes.wire_len()
    }

    /// Writes the packet at the start of `out`.
    ///
    /// # Errors
    /// [`EmitError::ValueTooLarge`] if the packet would exceed 4096 bytes or an
    /// attribute 253 bytes; [`EmitError::BufferTooSmall`] if `out` is too short.
    pub fn emit(&self, out: &mut [u8]) -> Result<usize, EmitError> {
        let needed = self.buffer_len();
        if needed > MAX_PACKET_LEN {
            return Err(EmitError::ValueTooLarge("packet over 4096 bytes"));
        }
        let available = out.len();
        let dst = out
            .get_mut(..needed)
            .ok_or(EmitError::BufferTooSmall { needed, available })?;
        let (hdr, mut rest) = dst
            .split_first_chunk_mut::<HEADER_LEN>()
            .ok_or(EmitError::BufferTooSmall { needed, available })?;
        hdr[field::CODE] = self.code.0;
        hdr[field::IDENTIFIER] = self.identifier;
        let l = u16::try_from(needed).unwrap_or(u16::MAX).to_be_bytes();
        hdr[field::LENGTH] = l[0];
        hdr[field::LENGTH + 1] = l[1];
        hdr[field::AUTHENTICATOR..].copy_from_slice(&self.authenticator);
        match self.attributes {
            AttrList::Wire(b) => rest.copy_from_slice(b),
            AttrList::List(l) => {
                for a in l {
                    let n = a.emit(rest)?;
                    rest = rest.get_mut(n..).unwrap_or_default();
                }
            }
        }
        Ok(needed)
    }
}

/// Builds a packet into a caller buffer with Message-Authenticator as the FIRST
/// attribute (RFC 3579 section 3.2; BlastRADIUS mitigation, CVE-2024-3596), then
/// signs it on [`Writer::finish`].
///
/// The authenticator given to [`Writer::new`] is the random Request Authenticator for
/// Access-Request and Status-Server, the request's authenticator for a reply (it keys
/// User-Password and Tunnel-Password hiding and the Response Authenticator), and is
/// ignored for Accounting/CoA/Disconnect requests.
#[derive(Debug)]
pub struct Writer<'b> {
    buf: &'b mut [u8],
    len: usize,
    count: usize,
}

impl<'b> Writer<'b> {
    /// Starts a packet in `buf`: header and a zeroed Message-Authenticator.
    ///
    /// # Errors
    /// [`EmitError::BufferTooSmall`] if `buf` cannot hold 38 bytes.
    pub fn new(
        buf: &'b mut [u8],
        code: Code,
        identifier: u8,
        authenticator: [u8; 16],
    ) -> Result<Self, EmitError> {
        let needed = HEADER_LEN + MESSAGE_AUTHENTICATOR_LEN;
        let available = buf.len();
        let head = buf
            .get_mut(..needed)
            .and_then(|b| b.first_chunk_mut::<38>())
            .ok_or(EmitError::BufferTooSmall { needed, available })?;
        head[field::CODE] = code.0;
        head[field::IDENTIFIER] = identifier;
        head[field::AUTHENTICATOR..HEADER_LEN].copy_from_slice(&authenticator);
        head[HEADER_LEN] = AttrType::MESSAGE_AUTHENTICATOR.0;
        head[HEADER_LEN + 1] = 18;
        head[HEADER_LEN + 2..].fill(0);
        Ok(Self {
            buf,
            len: needed,
            count: 1,
        })
    }

    /// Bytes written so far.
    #[must_use]
    pub const fn len(&self) -> usize {
        self.len
    }

    /// Always false: a writer holds at least the header.
    #[must_use]
    pub const fn is_empty(&self) -> bool {
        false
    }

    /// The authenticator given to [`Writer::new`].
    #[must_use]
    pub fn authenticator(&self) -> [u8; 16] {
        let mut a = [0u8; 16];
        if let Some(s) = self.buf.get(field::AUTHENTICATOR..HEADER_LEN) {
            a.copy_from_slice(s);
        }
        a
    }

    fn tail(&mut self) -> &mut [u8] {
        let room = MAX_PACKET_LEN.min(self.buf.len());
        self.buf.get_mut(self.len..room).unwrap_or_default()
    }

    /// Appends an attribute.
    ///
    /// # Errors
    /// [`EmitError::ValueTooLarge`] for a value over 253 bytes or beyond
    /// [`MAX_ATTRIBUTES`] attributes; [`EmitError::BufferTooSmall`] when the buffer (or the
    /// 4096-byte packet limit) is exhausted.
    pub fn attribute(&mut self, kind: AttrType, value: &[u8]) -> Result<(), EmitError> {
        if self.count >= MAX_ATTRIBUTES {
            return Err(EmitError::ValueTooLarge("more than 256 attributes"));
        }
        let n = put_attr(self.tail(), kind, value)?;
        self.len += n;
        self.count += 1;
        Ok(())
    }

    /// Appends an `integer` attribute (RFC 2865 section 5).
    ///
    /// # Errors
    /// As [`Writer::attribute`].
    pub fn u32(&mut self, kind: AttrType, value: u32) -> Result<(), EmitError> {
        self.attribute(kind, &value.to_be_bytes())
    }

    /// Appends an `address` attribute (RFC 2865 section 5).
    ///
    /// # Errors
    /// As [`Writer::attribute`].
    pub fn ipv4(&mut self, kind: AttrType, value: Ipv4Addr) -> Result<(), EmitError> {
        self.attribute(kind, &value.octets())
    }

    /// Appends an IPv6 address attribute (RFC 3162 section 2.1, RFC 6911 section 3.1).
    ///
    /// # Errors
    /// As [`Writer::attribute`].
    pub fn ipv6(&mut self, kind: AttrType, value: Ipv6Addr) -> Result<(), EmitError> {
        self.attribute(kind, &value.octets())
    }

    /// Appends an IPv6 prefix attribute in its shortest form (RFC 3162 section 2.3,
    /// RFC 4818 section 3).
    ///
    /// # Errors
    /// [`EmitError::ValueTooLarge`] if `prefix.len > 128`; as [`Writer::attribute`].
    pub fn ipv6_prefix(&mut self, kind: AttrType, prefix: Ipv6Prefix) -> Result<(), EmitError> {
        if prefix.len > 128 {
            return Err(EmitError::ValueTooLarge("IPv6 prefix length over 128"));
        }
        let bytes = usize::from(prefix.len).div_ceil(8);
        let a = mask_v6(prefix.addr.octets(), prefix.len);
        let mut v = [0u8; 18];
        v[1] = prefix.len;
        v[2..].copy_from_slice(&a);
        self.attribute(kind, v.get(..2 + bytes).unwrap_or_default())
    }

    /// Appends a hidden User-Password (RFC 2865 section 5.2), keyed by the
    /// authenticator given to [`Writer::new`].
    ///
    /// # Errors
    /// As [`crypto::hide_user_password`] and [`Writer::attribute`].
    pub fn user_password(&mut self, secret: &Secret, password: &[u8]) -> Result<(), EmitError> {
        let mut v = [0u8; crypto::MAX_PASSWORD_LEN];
        let n = crypto::hide_user_password(secret, &self.authenticator(), password, &mut v)?;
        self.attribute(AttrType::USER_PASSWORD, v.get(..n).unwrap_or_default())
    }

    /// Appends a salted Tunnel-Password with `tag` (RFC 2868 section 3.5), keyed by the
    /// request authenticator given to [`Writer::new`]. `salt` comes from the caller's
    /// `CryptoRng`.
    ///
    /// # Errors
    /// As [`crypto::hide_tunnel_password`] and [`Writer::attribute`].
    pub fn tunnel_password(
        &mut self,
        secret: &Secret,
        tag: u8,
        salt: [u8; 2],
        password: &[u8],
    ) -> Result<(), EmitError> {
        let mut v = [0u8; MAX_VALUE_LEN];
        v[0] = tag;
        let n = crypto::hide_tunnel_password(
            secret,
            &self.authenticator(),
            salt,
            password,
            v.get_mut(1..).unwrap_or_default(),
        )?;
        self.attribute(AttrType::TUNNEL_PASSWORD, v.get(..=n).unwrap_or_default())
    }

    /// Appends CHAP-Password and CHAP-Challenge (RFC 2865 sections 5.3 and 5.40); the
    /// `challenge` comes from the caller's `CryptoRng`.
    ///
    /// # Errors
    /// As [`Writer::attribute`].
    pub fn chap(&mut self, ident: u8, password: &[u8], challenge: &[u8]) -> Result<(), EmitError> {
        self.attribute(
            AttrType::CHAP_PASSWORD,
            &crypto::chap_password(ident, password, challenge),
        )?;
        self.attribute(AttrType::CHAP_CHALLENGE, challenge)
    }

    /// Appends a Vendor-Specific attribute with one sub-attribute in the recommended
    /// format (RFC 2865 section 5.26).
    ///
    /// # Errors
    /// [`EmitError::ValueTooLarge`] if `value` exceeds 247 bytes; as
    /// [`Writer::attribute`].
    pub fn vendor_specific(
        &mut self,
        vendor_id: u32,
        vendor_type: u8,
        value: &[u8],
    ) -> Result<(), EmitError> {
        let mut v = [0u8; MAX_VALUE_LEN];
        let n = 6 + value.len();
        let sub = u8::try_from(2 + value.len())
            .ok()
            .filter(|_| n <= MAX_VALUE_LEN)
            .ok_or(EmitError::ValueTooLarge("vendor value over 247 bytes"))?;
        v[..4].copy_from_slice(&vendor_id.to_be_bytes());
        v[4] = vendor_type;
        v[5] = sub;
        v.get_mut(6..n)
            .ok_or(EmitError::ValueTooLarge("vendor value over 247 bytes"))?
            .copy_from_slice(value);
        self.attribute(AttrType::VENDOR_SPECIFIC, v.get(..n).unwrap_or_default())
    }

    /// Appends an RFC 6929 extended attribute. For the long forms (245, 246) a value
    /// over 251 bytes is split into fragments with the More flag (section 2.2); the
    /// short forms (241..=244) take at most 252 bytes.
    ///
    /// # Errors
    /// [`EmitError::ValueTooLarge`] if `base` is not an extended type or the value does
    /// not fit; as [`Writer::attribute`].
    pub fn extended(
        &mut self,
        base: AttrType,
        ext_type: u8,
        value: &[u8],
    ) -> Result<(), EmitError> {
        let mut v = [0u8; MAX_VALUE_LEN];
        if base.is_extended() {
            let n = 1 + value.len();
            v[0] = ext_type;
            v.get_mut(1..n)
                .ok_or(EmitError::ValueTooLarge("extended value over 252 bytes"))?
                .copy_from_slice(value);
            return self.attribute(base, v.get(..n).unwrap_or_default());
        }
        if !base.is_long_extended() {
            return Err(EmitError::ValueTooLarge("not an RFC 6929 extended type"));
        }
        let mut chunks = value.chunks(MAX_VALUE_LEN - 2).peekable();
        if value.is_empty() {
            return self.attribute(base, &[ext_type, 0]);
        }
        while let Some(c) = chunks.next() {
            let more = chunks.peek().is_some();
            v[0] = ext_type;
            v[1] = if more { 0x80 } else { 0 };
            let n = 2 + c.len();
            v.get_mut(2..n).unwrap_or_default().copy_from_slice(c);
            self.attribute(base, v.get(..n).unwrap_or_default())?;
        }
        Ok(())
    }

    /// Appends attributes already encoded as TLVs (e.g. a Proxy-State or State copied
    /// from a request).
    ///
    /// # Errors
    /// [`EmitError::ValueTooLarge`] if `tlvs` is not a well-formed attribute area or the
    /// packet would exceed [`MAX_ATTRIBUTES`]; [`EmitError::BufferTooSmall`] when they do
    /// not fit.
    pub fn raw(&mut self, tlvs: &[u8]) -> Result<(), EmitError> {
        let mut n = 0;
        for a in Attributes::new(tlvs) {
            a.map_err(|_| EmitError::ValueTooLarge("malformed attributes"))?;
            n += 1;
        }
        if self.count + n > MAX_ATTRIBUTES {
            return Err(EmitError::ValueTooLarge("more than 256 attributes"));
        }
        let needed = self.len + tlvs.len();
        let available = self.buf.len().min(MAX_PACKET_LEN);
        self.tail()
            .get_mut(..tlvs.len())
            .ok_or(EmitError::BufferTooSmall { needed, available })?
            .copy_from_slice(tlvs);
        self.len = needed;
        self.count += n;
        Ok(())
    }

    /// Sets Length and signs: Message-Authenticator, then the Authenticator field as the
    /// code requires ([`crypto::sign`]). Returns the packet length.
    ///
    /// # Errors
    /// As [`crypto::sign`].
    pub fn finish(self, secret: &Secret) -> Result<usize, EmitError> {
        let len = self.len;
        let l = u16::try_from(len)
            .map_err(|_| EmitError::ValueTooLarge("packet over 4096 bytes"))?
            .to_be_bytes();
        let pkt = self
            .buf
            .get_mut(..len)
            .ok_or(EmitError::ValueTooLarge("packet length"))?;
        if let Some(d) = pkt.get_mut(field::LENGTH..field::LENGTH + 2) {
            d.copy_from_slice(&l);
        }
        crypto::sign(pkt, secret)?;
        Ok(len)
    }
}
