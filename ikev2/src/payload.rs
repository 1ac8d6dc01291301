//! The generic payload header, the payload chain, and every payload body of
//! RFC 7296 section 3 as a view + Repr with emit.
//!
//! ```text
//!                      1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Next Payload  |C|  RESERVED   |         Payload Length        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use crate::error::{EmitError, ParseError};
use crate::sa::Sa;
use crate::types::{
    AuthMethod, CertEncoding, CfgType, ConfigAttr, DhGroup, IdType, NotifyType, PayloadType,
    ProtocolId, TsType,
};
use crate::wire::{Fuse, Reader, Writer, len16};

/// Length of the generic payload header (section 3.2).
pub const GENERIC_HDR_LEN: usize = 4;
/// Hard cap on payloads in one message (or one decrypted SK payload).
pub const MAX_PAYLOADS: usize = 64;
/// Hard cap on traffic selectors in one TS payload.
pub const MAX_SELECTORS: usize = 64;
/// Hard cap on attributes in one Configuration payload.
pub const MAX_CONFIG_ATTRS: usize = 64;

/// One payload of a chain, as found on the wire (section 3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawPayload<'a> {
    /// The type of this payload (from the previous header's Next Payload).
    pub kind: PayloadType,
    /// This header's Next Payload field (for SK/SKF: the first inner payload).
    pub next: PayloadType,
    /// The octet holding the C (critical) bit and the 7 reserved bits.
    pub flags: u8,
    /// The payload body, after the 4-byte generic header.
    pub body: &'a [u8],
}

impl RawPayload<'_> {
    /// The C bit: the sender wants the whole message rejected if the payload type is
    /// not understood (section 2.5).
    #[must_use]
    pub const fn critical(&self) -> bool {
        self.flags & 0x80 != 0
    }
}

/// The accepting walk of [`Payloads::validate`] in one pass, without building
/// [`RawPayload`]s or [`Payload`]s for the simple bodies: true exactly when the
/// iterator walk plus [`Payload::parse`] of every payload finds no error (same caps,
/// same rule that SK/SKF ends the chain, section 3.2).
fn chain_ok(first: PayloadType, bytes: &[u8]) -> bool {
    let mut next = first;
    let mut rest = bytes;
    let mut count = 0;
    loop {
        if next == PayloadType::NONE {
            return rest.is_empty();
        }
        if count >= MAX_PAYLOADS {
            return false;
        }
        count += 1;
        let Some((&[np, flags, l0, l1], r)) = rest.split_first_chunk::<4>() else {
            return false;
        };
        let Some(body_len) = usize::from(u16::from_be_bytes([l0, l1])).checked_sub(GENERIC_HDR_LEN)
        else {
            return false;
        };
        let Some((body, r)) = r.split_at_checked(body_len) else {
            return false;
        };
        let kind = next;
        rest = r;
        if kind == PayloadType::SK || kind == PayloadType::SKF {
            if !rest.is_empty() {
                return false;
            }
            next = PayloadType::NONE;
        } else {
            next = PayloadType(np);
        }
        let ok = match kind {
            PayloadType::SA => crate::sa::Proposals::validate(body).is_ok(),
            // Fixed 4-byte head (sections 3.4, 3.5, 3.8).
            PayloadType::KE | PayloadType::IDI | PayloadType::IDR | PayloadType::AUTH => {
                body.len() >= 4
            }
            // Section 3.10: Protocol ID, SPI Size, Notify Type, then the SPI.
            PayloadType::NOTIFY => body
                .first_chunk::<4>()
                .is_some_and(|h| usize::from(h[1]) <= body.len() - 4),
            PayloadType::NONCE | PayloadType::VENDOR_ID | PayloadType::EAP | PayloadType::SK => {
                true
            }
            PayloadType::CERT | PayloadType::CERTREQ => !body.is_empty(),
            _ => Payload::parse(&RawPayload {
                kind,
                next: PayloadType(np),
                flags,
                body,
            })
            .is_ok(),
        };
        if !ok {
            return false;
        }
    }
}

/// Iterator over a payload chain (section 3.2). Yields one `Err`, then fuses. An SK
/// or SKF payload ends the chain (its Next Payload names the first encrypted payload,
/// section 3.14) and must be the last bytes.
#[derive(Debug, Clone)]
pub struct Payloads<'a> {
    next: PayloadType,
    rest: &'a [u8],
    fuse: Fuse,
}

impl<'a> Payloads<'a> {
    /// Walks `bytes`, whose first payload has type `first`.
    #[must_use]
    pub const fn new(first: PayloadType, bytes: &'a [u8]) -> Self {
        Self {
            next: first,
            rest: bytes,
            fuse: Fuse::NEW,
        }
    }

    /// Walks every payload and parses each known one; `Ok` when all are well formed.
    ///
    /// # Errors
    /// The first [`ParseError`] found.
    pub fn validate(first: PayloadType, bytes: &'a [u8]) -> Result<(), ParseError> {
        if chain_ok(first, bytes) {
            return Ok(());
        }
        // The iterator walk is the authority and gives the error.
        for p in Self::new(first, bytes) {
            Payload::parse(&p?)?;
        }
        Ok(())
    }

    fn step(&mut self) -> Result<RawPayload<'a>, ParseError> {
        let mut r = Reader::new(self.rest);
        let next = PayloadType(r.u8()?);
        let flags = r.u8()?;
        let len = usize::from(r.u16()?);
        let body_len = len
            .checked_sub(GENERIC_HDR_LEN)
            .ok_or(ParseError::BadLength)?;
        let body = r.take(body_len)?;
        let kind = self.next;
        self.rest = r.rest();
        if kind == PayloadType::SK || kind == PayloadType::SKF {
            if !self.rest.is_empty() {
                return Err(ParseError::InvalidField("bytes after the SK payload"));
            }
            self.next = PayloadType::NONE;
        } else {
            self.next = next;
        }
        Ok(RawPayload {
            kind,
            next,
            flags,
            body,
        })
    }
}

impl<'a> Iterator for Payloads<'a> {
    type Item = Result<RawPayload<'a>, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.fuse.done {
            return None;
        }
        if self.next == PayloadType::NONE {
            let trailing = Err(ParseError::InvalidField("bytes after the last payload"));
            return self.fuse.end((!self.rest.is_empty()).then_some(trailing));
        }
        let r = self.fuse.count(MAX_PAYLOADS).and_then(|()| self.step());
        self.fuse.pass(r)
    }
}

/// Key Exchange payload body (section 3.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ke<'a> {
    /// Diffie-Hellman Group Num / Key Exchange Method.
    pub group: DhGroup,
    /// Key Exchange Data (the public value).
    pub data: &'a [u8],
}

/// Identification payload body, IDi or IDr (section 3.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Id<'a> {
    /// ID Type.
    pub id_type: IdType,
    /// Identification Data.
    pub data: &'a [u8],
}

/// Certificate or Certificate Request payload body (sections 3.6 and 3.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cert<'a> {
    /// Certificate Encoding.
    pub encoding: CertEncoding,
    /// Certificate Data, or Certification Authority for CERTREQ.
    pub data: &'a [u8],
}

/// Authentication payload body (section 3.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Auth<'a> {
    /// Auth Method.
    pub method: AuthMethod,
    /// Authentication Data.
    pub data: &'a [u8],
}

/// Notify payload body (section 3.10).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Notify<'a> {
    /// Protocol ID (0 when about the IKE SA or no SA).
    pub protocol: ProtocolId,
    /// Notify Message Type.
    pub notify_type: NotifyType,
    /// SPI (empty when SPI Size is 0).
    pub spi: &'a [u8],
    /// Notification Data.
    pub data: &'a [u8],
}

/// Delete payload body (section 3.11).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delete<'a> {
    /// Protocol ID.
    pub protocol: ProtocolId,
    /// SPI Size (0 for IKE, 4 for ESP/AH).
    pub spi_size: u8,
    /// The concatenated SPIs (`Num of SPIs * SPI Size` bytes).
    pub spis: &'a [u8],
}

impl<'a> Delete<'a> {
    /// The SPIs, one slice each.
    pub fn spis(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        let size = usize::from(self.spi_size).max(1);
        let spis = if self.spi_size == 0 {
            &[][..]
        } else {
            self.spis
        };
        spis.chunks_exact(size)
    }
}

/// Traffic selector address range (section 3.13.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddrRange {
    /// TS_IPV4_ADDR_RANGE.
    V4 {
        /// Starting Address.
        start: [u8; 4],
        /// Ending Address.
        end: [u8; 4],
    },
    /// TS_IPV6_ADDR_RANGE.
    V6 {
        /// Starting Address.
        start: [u8; 16],
        /// Ending Address.
        end: [u8; 16],
    },
}

/// One traffic selector (section 3.13.1), plain data for the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TrafficSelector {
    /// IP Protocol ID (0 = any).
    pub ip_protocol: u8,
    /// Start Port.
    pub start_port: u16,
    /// End Port.
    pub end_port: u16,
    /// The address range.
    pub range: AddrRange,
}

impl TrafficSelector {
    /// All IPv4 addresses, protocols and ports.
    pub const ANY_V4: Self = Self {
        ip_protocol: 0,
        start_port: 0,
        end_port: 0xffff,
        range: AddrRange::V4 {
            start: [0; 4],
            end: [0xff; 4],
        },
    };

    /// Bytes on the wire.
    #[must_use]
    pub const fn wire_len(&self) -> usize {
        match self.range {
            AddrRange::V4 { .. } => 16,
            AddrRange::V6 { .. } => 40,
        }
    }

    fn emit(&self, w: &mut Writer<'_>) -> Result<(), EmitError> {
        let t = match self.range {
            AddrRange::V4 { .. } => TsType::IPV4_ADDR_RANGE,
            AddrRange::V6 { .. } => TsType::IPV6_ADDR_RANGE,
        };
        w.u8(t.0)?;
        w.u8(self.ip_protocol)?;
        w.u16(len16(self.wire_len(), "selector")?)?;
        w.u16(self.start_port)?;
        w.u16(self.end_port)?;
        match &self.range {
            AddrRange::V4 { start, end } => {
                w.put(start)?;
                w.put(end)
            }
            AddrRange::V6 { start, end } => {
                w.put(start)?;
                w.put(end)
            }
        }
    }
}

/// Iterator over traffic selectors (section 3.13.1).
#[derive(Debug, Clone)]
pub struct Selectors<'a> {
    rest: &'a [u8],
    left: usize,
    fuse: Fuse,
}

impl Selectors<'_> {
    fn step(&mut self) -> Result<TrafficSelector, ParseError> {
        let mut r = Reader::new(self.rest);
        let kind = TsType(r.u8()?);
        let ip_protocol = r.u8()?;
        let len = usize::from(r.u16()?);
        let start_port = r.u16()?;
        let end_port = r.u16()?;
        let range = match (kind, len) {
            (TsType::IPV4_ADDR_RANGE, 16) => AddrRange::V4 {
                start: r.array()?,
                end: r.array()?,
            },
            (TsType::IPV6_ADDR_RANGE, 40) => AddrRange::V6 {
                start: r.array()?,
                end: r.array()?,
            },
            (TsType::IPV4_ADDR_RANGE | TsType::IPV6_ADDR_RANGE, _) => {
                return Err(ParseError::BadLength);
            }
            _ => return Err(ParseError::InvalidField("unknown TS Type")),
        };
        self.rest = r.rest();
        self.left -= 1;
        Ok(TrafficSelector {
            ip_protocol,
            start_port,
            end_port,
            range,
        })
    }
}

impl Iterator for Selectors<'_> {
    type Item = Result<TrafficSelector, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.fuse.done {
            return None;
        }
        let go = self
            .fuse
            .countdown(self.left, !self.rest.is_empty(), MAX_SELECTORS)?;
        let r = go.and_then(|()| self.step());
        self.fuse.pass(r)
    }
}

/// The selectors of a TS payload: checked wire bytes or a list to emit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SelectorList<'a> {
    /// Number of TSs and the selector bytes, already checked.
    Wire(u8, &'a [u8]),
    /// Selectors to emit.
    List(&'a [TrafficSelector]),
}

/// Traffic Selector payload body, TSi or TSr (section 3.13).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ts<'a> {
    /// The selectors.
    pub selectors: SelectorList<'a>,
}

impl<'a> Ts<'a> {
    /// Iterates the selectors (wire form; a list yields its items).
    #[must_use]
    pub fn iter(&self) -> TsIter<'a> {
        match self.selectors {
            SelectorList::Wire(n, b) => TsIter::Wire(Selectors {
                rest: b,
                left: usize::from(n),
                fuse: Fuse::NEW,
            }),
            SelectorList::List(l) => TsIter::List(l.iter()),
        }
    }
}

impl<'a> IntoIterator for &Ts<'a> {
    type Item = Result<TrafficSelector, ParseError>;
    type IntoIter = TsIter<'a>;
    fn into_iter(self) -> TsIter<'a> {
        self.iter()
    }
}

/// Iterator over the selectors of a [`Ts`] in either form.
#[derive(Debug, Clone)]
pub enum TsIter<'a> {
    /// Wire form.
    Wire(Selectors<'a>),
    /// List form.
    List(core::slice::Iter<'a, TrafficSelector>),
}

impl Iterator for TsIter<'_> {
    type Item = Result<TrafficSelector, ParseError>;
    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Self::Wire(s) => s.next(),
            Self::List(l) => l.next().copied().map(Ok),
        }
    }
}

/// One Configuration attribute (section 3.15.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfigAttribute<'a> {
    /// Attribute Type (15 bits).
    pub kind: ConfigAttr,
    /// Value (empty in a request for any value).
    pub value: &'a [u8],
}

/// Iterator over Configuration attributes (section 3.15.1).
#[derive(Debug, Clone)]
pub struct ConfigAttributes<'a> {
    rest: &'a [u8],
    fuse: Fuse,
}

impl<'a> Iterator for ConfigAttributes<'a> {
    type Item = Result<ConfigAttribute<'a>, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.fuse.done || self.rest.is_empty() {
            return None;
        }
        if let Err(e) = self.fuse.count(MAX_CONFIG_ATTRS) {
            return self.fuse.pass(Err(e));
        }
        let mut r = Reader::new(self.rest);
        let res = (|| {
            let t = r.u16()?;
            let len = usize::from(r.u16()?);
            let value = r.take(len)?;
            Ok(ConfigAttribute {
                kind: ConfigAttr(t & 0x7fff),
                value,
            })
        })();
        self.rest = r.rest();
        self.fuse.pass(res)
    }
}

/// The attributes of a CP payload: checked wire bytes or a list to emit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigList<'a> {
    /// Attribute bytes, already checked.
    Wire(&'a [u8]),
    /// Attributes to emit.
    List(&'a [ConfigAttribute<'a>]),
}

/// Configuration payload body (section 3.15).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cp<'a> {
    /// CFG Type.
    pub cfg_type: CfgType,
    /// Configuration attributes.
    pub attributes: ConfigList<'a>,
}

impl<'a> Cp<'a> {
    /// Iterates the attributes of the wire form (a list form yields nothing).
    #[must_use]
    pub const fn attributes(&self) -> ConfigAttributes<'a> {
        let rest = match self.attributes {
            ConfigList::Wire(b) => b,
            ConfigList::List(_) => &[],
        };
        ConfigAttributes {
            rest,
            fuse: Fuse::NEW,
        }
    }
}

/// Encrypted and Authenticated payload (section 3.14), still protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sk<'a> {
    /// Next Payload of the SK header: the type of the first encrypted payload.
    pub first_inner: PayloadType,
    /// IV, ciphertext and ICV.
    pub body: &'a [u8],
}

/// Encrypted and Authenticated Fragment payload (RFC 7383 section 2.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Skf<'a> {
    /// Next Payload: the first inner payload type in fragment 1, else 0.
    pub first_inner: PayloadType,
    /// Fragment Number (1-based).
    pub number: u16,
    /// Total Fragments.
    pub total: u16,
    /// IV, ciphertext and ICV.
    pub body: &'a [u8],
}

/// Any payload body (RFC 7296 section 3), as parsed or to emit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Payload<'a> {
    /// Security Association (section 3.3).
    Sa(Sa<'a>),
    /// Key Exchange (section 3.4).
    Ke(Ke<'a>),
    /// Identification - Initiator (section 3.5).
    Idi(Id<'a>),
    /// Identification - Responder (section 3.5).
    Idr(Id<'a>),
    /// Certificate (section 3.6).
    Cert(Cert<'a>),
    /// Certificate Request (section 3.7).
    CertReq(Cert<'a>),
    /// Authentication (section 3.8).
    Auth(Auth<'a>),
    /// Nonce (section 3.9).
    Nonce(&'a [u8]),
    /// Notify (section 3.10).
    Notify(Notify<'a>),
    /// Delete (section 3.11).
    Delete(Delete<'a>),
    /// Vendor ID (section 3.12).
    VendorId(&'a [u8]),
    /// Traffic Selector - Initiator (section 3.13).
    Tsi(Ts<'a>),
    /// Traffic Selector - Responder (section 3.13).
    Tsr(Ts<'a>),
    /// Encrypted and Authenticated (section 3.14), still protected.
    Sk(Sk<'a>),
    /// Configuration (section 3.15).
    Cp(Cp<'a>),
    /// Extensible Authentication (section 3.16): the EAP message.
    Eap(&'a [u8]),
    /// Encrypted and Authenticated Fragment (RFC 7383).
    Skf(Skf<'a>),
    /// A payload type this crate does not interpret, kept for forwarding.
    Other {
        /// Payload type.
        kind: PayloadType,
        /// The C bit.
        critical: bool,
        /// Body.
        body: &'a [u8],
    },
}

fn id_like(body: &[u8]) -> Result<(u8, &[u8]), ParseError> {
    let mut r = Reader::new(body);
    let t = r.u8()?;
    let _reserved: [u8; 3] = r.array()?;
    Ok((t, r.rest()))
}

impl<'a> Payload<'a> {
    /// Parses the body of `raw` by its type.
    ///
    /// # Errors
    /// [`ParseError`] when the body is malformed for its type.
    #[allow(
        clippy::too_many_lines,
        reason = "one arm per payload type of section 3"
    )]
    pub fn parse(raw: &RawPayload<'a>) -> Result<Self, ParseError> {
        let body = raw.body;
        Ok(match raw.kind {
            PayloadType::SA => Self::Sa(Sa::parse(body)?),
            PayloadType::KE => {
                let mut r = Reader::new(body);
                let group = DhGroup(r.u16()?);
                let _reserved = r.u16()?;
                Self::Ke(Ke {
                    group,
                    data: r.rest(),
                })
            }
            PayloadType::IDI | PayloadType::IDR => {
                let (t, data) = id_like(body)?;
                let id = Id {
                    id_type: IdType(t),
                    data,
                };
                if raw.kind == PayloadType::IDI {
                    Self::Idi(id)
                } else {
                    Self::Idr(id)
                }
            }
            PayloadType::CERT | PayloadType::CERTREQ => {
                let (e, data) = body.split_first().ok_or(ParseError::Truncated {
                    needed: 1,
                    available: 0,
                })?;
                let c = Cert {
                    encoding: CertEncoding(*e),
                    data,
                };
                if raw.kind == PayloadType::CERT {
                    Self::Cert(c)
                } else {
                    Self::CertReq(c)
                }
            }
            PayloadType::AUTH => {
                let (m, data) = id_like(body)?;
                Self::Auth(Auth {
                    method: AuthMethod(m),
                    data,
                })
            }
            PayloadType::NONCE => Self::Nonce(body),
            PayloadType::NOTIFY => {
                let mut r = Reader::new(body);
                let protocol = ProtocolId(r.u8()?);
                let spi_size = usize::from(r.u8()?);
                let notify_type = NotifyType(r.u16()?);
                let spi = r.take(spi_size)?;
                Self::Notify(Notify {
                    protocol,
                    notify_type,
                    spi,
                    data: r.rest(),
                })
            }
            PayloadType::DELETE => {
                let mut r = Reader::new(body);
                let protocol = ProtocolId(r.u8()?);
                let spi_size = r.u8()?;
                let num = usize::from(r.u16()?);
                let spis = r.rest();
                if num
                    .checked_mul(usize::from(spi_size))
                    .is_none_or(|n| n != spis.len())
                    || (spi_size == 0 && num != 0)
                {
                    return Err(ParseError::BadLength);
                }
                Self::Delete(Delete {
                    protocol,
                    spi_size,
                    spis,
                })
            }
            PayloadType::VENDOR_ID => Self::VendorId(body),
            PayloadType::TSI | PayloadType::TSR => {
                let mut r = Reader::new(body);
                let n = r.u8()?;
                let _reserved: [u8; 3] = r.array()?;
                let ts = Ts {
                    selectors: SelectorList::Wire(n, r.rest()),
                };
                for s in &ts {
                    s?;
                }
                if raw.kind == PayloadType::TSI {
                    Self::Tsi(ts)
                } else {
                    Self::Tsr(ts)
                }
            }
            PayloadType::SK => Self::Sk(Sk {
                first_inner: raw.next,
                body,
            }),
            PayloadType::CP => {
                let (t, attrs) = id_like(body)?;
                let cp = Cp {
                    cfg_type: CfgType(t),
                    attributes: ConfigList::Wire(attrs),
                };
                for a in cp.attributes() {
                    a?;
                }
                Self::Cp(cp)
            }
            PayloadType::EAP => Self::Eap(body),
            PayloadType::SKF => {
                let mut r = Reader::new(body);
                let number = r.u16()?;
                let total = r.u16()?;
                if number == 0 || number > total {
                    return Err(ParseError::InvalidField("SKF fragment number"));
                }
                Self::Skf(Skf {
                    first_inner: raw.next,
                    number,
                    total,
                    body: r.rest(),
                })
            }
            kind => Self::Other {
                kind,
                critical: raw.critical(),
                body,
            },
        })
    }

    /// The payload type.
    #[must_use]
    pub const fn kind(&self) -> PayloadType {
        match self {
            Self::Sa(_) => PayloadType::SA,
            Self::Ke(_) => PayloadType::KE,
            Self::Idi(_) => PayloadType::IDI,
            Self::Idr(_) => PayloadType::IDR,
            Self::Cert(_) => PayloadType::CERT,
            Self::CertReq(_) => PayloadType::CERTREQ,
            Self::Auth(_) => PayloadType::AUTH,
            Self::Nonce(_) => PayloadType::NONCE,
            Self::Notify(_) => PayloadType::NOTIFY,
            Self::Delete(_) => PayloadType::DELETE,
            Self::VendorId(_) => PayloadType::VENDOR_ID,
            Self::Tsi(_) => PayloadType::TSI,
            Self::Tsr(_) => PayloadType::TSR,
            Self::Sk(_) => PayloadType::SK,
            Self::Cp(_) => PayloadType::CP,
            Self::Eap(_) => PayloadType::EAP,
            Self::Skf(_) => PayloadType::SKF,
            Self::Other { kind, .. } => *kind,
        }
    }

    /// Bytes of the body (without the generic header).
    #[must_use]
    pub fn body_len(&self) -> usize {
        match self {
            Self::Sa(s) => s.body_len(),
            Self::Ke(k) => 4 + k.data.len(),
            Self::Idi(i) | Self::Idr(i) => 4 + i.data.len(),
            Self::Cert(c) | Self::CertReq(c) => 1 + c.data.len(),
            Self::Auth(a) => 4 + a.data.len(),
            Self::Nonce(b) | Self::VendorId(b) | Self::Eap(b) | Self::Other { body: b, .. } => {
                b.len()
            }
            Self::Notify(n) => 4 + n.spi.len() + n.data.len(),
            Self::Delete(d) => 4 + d.spis.len(),
            Self::Tsi(t) | Self::Tsr(t) => {
                4 + match t.selectors {
                    SelectorList::Wire(_, b) => b.len(),
                    SelectorList::List(l) => l.iter().map(TrafficSelector::wire_len).sum(),
                }
            }
            Self::Sk(s) => s.body.len(),
            Self::Cp(c) => {
                4 + match c.attributes {
                    ConfigList::Wire(b) => b.len(),
                    ConfigList::List(l) => l.iter().map(|a| 4 + a.value.len()).sum(),
                }
            }
            Self::Skf(s) => 4 + s.body.len(),
        }
    }

    /// Bytes on the wire, generic header included.
    #[must_use]
    pub fn wire_len(&self) -> usize {
        GENERIC_HDR_LEN + self.body_len()
    }

    /// The Next Payload value this payload's own header carries when followed by
    /// `following` (SK and SKF carry their first inner payload instead).
    #[must_use]
    pub const fn header_next(&self, following: PayloadType) -> PayloadType {
        match self {
            Self::Sk(s) => s.first_inner,
            Self::Skf(s) => s.first_inner,
            _ => following,
        }
    }

    /// Writes the generic header (with `following` as Next Payload) and the body.
    ///
    /// # Errors
    /// [`EmitError`] for a short buffer or a field too large for its width.
    pub fn emit(&self, following: PayloadType, out: &mut [u8]) -> Result<usize, EmitError> {
        let len = self.wire_len();
        crate::wire::check_room(out, len)?;
        let mut w = Writer::new(out);
        w.u8(self.header_next(following).0)?;
        w.u8(match self {
            Self::Other { critical: true, .. } => 0x80,
            _ => 0,
        })?;
        w.u16(len16(len, "payload length")?)?;
        self.emit_body(&mut w)?;
        Ok(w.pos())
    }

    fn emit_body(&self, w: &mut Writer<'_>) -> Result<(), EmitError> {
        match self {
            Self::Sa(s) => s.emit_body(w),
            Self::Ke(k) => {
                w.u16(k.group.0)?;
                w.u16(0)?;
                w.put(k.data)
            }
            Self::Idi(i) | Self::Idr(i) => {
                w.put(&[i.id_type.0, 0, 0, 0])?;
                w.put(i.data)
            }
            Self::Cert(c) | Self::CertReq(c) => {
                w.u8(c.encoding.0)?;
                w.put(c.data)
            }
            Self::Auth(a) => {
                w.put(&[a.method.0, 0, 0, 0])?;
                w.put(a.data)
            }
            Self::Nonce(b) | Self::VendorId(b) | Self::Eap(b) | Self::Other { body: b, .. } => {
                w.put(b)
            }
            Self::Notify(n) => {
                w.u8(n.protocol.0)?;
                w.u8(u8::try_from(n.spi.len()).map_err(|_| EmitError::ValueTooLarge("SPI"))?)?;
                w.u16(n.notify_type.0)?;
                w.put(n.spi)?;
                w.put(n.data)
            }
            Self::Delete(d) => {
                let num = if d.spi_size == 0 {
                    0
                } else {
                    d.spis.len() / usize::from(d.spi_size)
                };
                w.u8(d.protocol.0)?;
                w.u8(d.spi_size)?;
                w.u16(len16(num, "number of SPIs")?)?;
                w.put(d.spis)
            }
            Self::Tsi(t) | Self::Tsr(t) => match t.selectors {
                SelectorList::Wire(n, b) => {
                    w.put(&[n, 0, 0, 0])?;
                    w.put(b)
                }
                SelectorList::List(l) => {
                    let n = u8::try_from(l.len())
                        .map_err(|_| EmitError::ValueTooLarge("number of TSs"))?;
                    w.put(&[n, 0, 0, 0])?;
                    l.iter().try_for_each(|s| s.emit(w))
                }
            },
            Self::Sk(s) => w.put(s.body),
            Self::Cp(c) => {
                w.put(&[c.cfg_type.0, 0, 0, 0])?;
                match c.attributes {
                    ConfigList::Wire(b) => w.put(b),
                    ConfigList::List(l) => l.iter().try_for_each(|a| {
                        w.u16(a.kind.0 & 0x7fff)?;
                        w.u16(len16(a.value.len(), "attribute")?)?;
                        w.put(a.value)
                    }),
                }
            }
            Self::Skf(s) => {
                w.u16(s.number)?;
                w.u16(s.total)?;
                w.put(s.body)
            }
        }
    }
}

/// A payload chain: checked wire bytes, or a list of payloads to emit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadList<'a> {
    /// The chain as received, already checked by [`Payloads::validate`].
    Wire {
        /// Type of the first payload.
        first: PayloadType,
        /// The chain bytes.
        bytes: &'a [u8],
    },
    /// Payloads to emit, in order; an SK payload must be last.
    List(&'a [Payload<'a>]),
}

impl<'a> PayloadList<'a> {
    /// The type of the first payload (NONE for an empty chain).
    #[must_use]
    pub fn first(&self) -> PayloadType {
        match self {
            Self::Wire { first, .. } => *first,
            Self::List(l) => l.first().map_or(PayloadType::NONE, Payload::kind),
        }
    }

    /// Bytes of the chain.
    #[must_use]
    pub fn wire_len(&self) -> usize {
        match self {
            Self::Wire { bytes, .. } => bytes.len(),
            Self::List(l) => l.iter().map(Payload::wire_len).sum(),
        }
    }

    /// Writes the chain at the start of `out`.
    ///
    /// # Errors
    /// [`EmitError`] for a short buffer, an oversize payload, or an SK payload that is
    /// not last.
    pub fn emit(&self, out: &mut [u8]) -> Result<usize, EmitError> {
        let needed = self.wire_len();
        crate::wire::check_room(out, needed)?;
        match self {
            Self::Wire { bytes, .. } => {
                let mut w = Writer::new(out);
                w.put(bytes)?;
            }
            Self::List(l) => {
                let mut w = Writer::new(out);
                let mut it = l.iter().peekable();
                while let Some(p) = it.next() {
                    let following = it.peek().map_or(PayloadType::NONE, |n| n.kind());
                    if matches!(p, Payload::Sk(_) | Payload::Skf(_))
                        && following != PayloadType::NONE
                    {
                        return Err(EmitError::ValueTooLarge("SK payload must be last"));
                    }
                    let n = p.emit(following, w.tail())?;
                    w.advance(n)?;
                }
            }
        }
        Ok(needed)
    }

    /// Iterates the payloads of the wire form.
    #[must_use]
    pub fn iter(&self) -> Payloads<'a> {
        match *self {
            Self::Wire { first, bytes } => Payloads::new(first, bytes),
            Self::List(_) => Payloads::new(PayloadType::NONE, &[]),
        }
    }
}

impl<'a> IntoIterator for &PayloadList<'a> {
    type Item = Result<RawPayload<'a>, ParseError>;
    type IntoIter = Payloads<'a>;
    fn into_iter(self) -> Payloads<'a> {
        self.iter()
    }
}
