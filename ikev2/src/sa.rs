//! Security Association payload: proposals, transforms and attributes
//! (RFC 7296 section 3.3).
//!
//! The nested walk is zero-copy: [`Proposals`] yields [`Proposal`]s, each of which
//! yields [`Transform`]s, each of which yields [`Attribute`]s. Every level has a hard
//! cap and yields one `Err`, then fuses (STYLE.md section 4).

use crate::error::{EmitError, ParseError};
use crate::types::{AttributeType, ProtocolId, TransformType};
use crate::wire::{Fuse, Reader, Writer, len16};

/// Hard cap on proposals in one SA payload.
pub const MAX_PROPOSALS: usize = 64;
/// Hard cap on transforms in one proposal.
pub const MAX_TRANSFORMS: usize = 64;
/// Hard cap on attributes in one transform.
pub const MAX_ATTRIBUTES: usize = 16;

const PROPOSAL_HDR: usize = 8;

/// The accepting walk of [`Proposals::validate`] in one pass without iterator
/// state or error values (the IKE_SA_INIT parse is dominated by it): true exactly
/// when the iterator walk finds no error. Same checks, same caps (section 3.3).
fn sa_body_ok(body: &[u8]) -> bool {
    let mut rest = body;
    let mut n = 0;
    if rest.is_empty() {
        return false;
    }
    while !rest.is_empty() {
        if n >= MAX_PROPOSALS {
            return false;
        }
        n += 1;
        // Proposal substructure header (section 3.3.1).
        let Some((&[last, _, l0, l1, _, _, spi_size, nt], r)) = rest.split_first_chunk::<8>()
        else {
            return false;
        };
        let Some(body_len) = usize::from(u16::from_be_bytes([l0, l1])).checked_sub(PROPOSAL_HDR)
        else {
            return false;
        };
        let Some((pbody, r)) = r.split_at_checked(body_len) else {
            return false;
        };
        let Some((_, mut tr)) = pbody.split_at_checked(usize::from(spi_size)) else {
            return false;
        };
        rest = r;
        if !matches!((last, rest.is_empty()), (0, true) | (2, false)) {
            return false;
        }
        let mut left = usize::from(nt);
        if left == 0 {
            if !tr.is_empty() {
                return false;
            }
            continue;
        }
        if left > MAX_TRANSFORMS {
            return false;
        }
        while left > 0 {
            // Transform substructure (section 3.3.2).
            let Some((&[tlast, _, l0, l1, _, _, _, _], r)) = tr.split_first_chunk::<8>() else {
                return false;
            };
            let Some(attr_len) =
                usize::from(u16::from_be_bytes([l0, l1])).checked_sub(TRANSFORM_HDR)
            else {
                return false;
            };
            let Some((attrs, r)) = r.split_at_checked(attr_len) else {
                return false;
            };
            tr = r;
            left -= 1;
            if !matches!((tlast, left == 0), (0, true) | (3, false)) {
                return false;
            }
            if !attributes_ok(attrs) {
                return false;
            }
        }
        if !tr.is_empty() {
            return false;
        }
    }
    true
}

/// The accepting walk of [`Attributes`] (section 3.3.5): TV and TLV forms, cap.
fn attributes_ok(mut a: &[u8]) -> bool {
    let mut count = 0;
    while !a.is_empty() {
        if count >= MAX_ATTRIBUTES {
            return false;
        }
        count += 1;
        let Some((&[t0, _, l0, l1], r)) = a.split_first_chunk::<4>() else {
            return false;
        };
        if t0 & 0x80 != 0 {
            a = r;
        } else {
            let Some((_, r)) = r.split_at_checked(usize::from(u16::from_be_bytes([l0, l1]))) else {
                return false;
            };
            a = r;
        }
    }
    true
}
const TRANSFORM_HDR: usize = 8;

/// One proposal substructure (RFC 7296 section 3.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Proposal<'a> {
    /// Proposal Num (1 for the first proposal, then consecutive).
    pub num: u8,
    /// Protocol ID (IKE, AH, ESP).
    pub protocol: ProtocolId,
    /// The SPI (empty in IKE_SA_INIT; 4 bytes for ESP/AH, 8 for an IKE rekey).
    pub spi: &'a [u8],
    num_transforms: u8,
    transforms: &'a [u8],
}

impl<'a> Proposal<'a> {
    /// The transforms of this proposal (section 3.3.2).
    #[must_use]
    pub fn transforms(&self) -> Transforms<'a> {
        Transforms {
            rest: self.transforms,
            left: usize::from(self.num_transforms),
            fuse: Fuse::NEW,
        }
    }

    /// The value of the Num Transforms field.
    #[must_use]
    pub const fn num_transforms(&self) -> u8 {
        self.num_transforms
    }
}

/// Iterator over the proposals of an SA payload body (section 3.3.1).
#[derive(Debug, Clone)]
pub struct Proposals<'a> {
    rest: &'a [u8],
    fuse: Fuse,
}

impl<'a> Proposals<'a> {
    /// Walks the SA payload body `body`.
    #[must_use]
    pub const fn new(body: &'a [u8]) -> Self {
        Self {
            rest: body,
            fuse: Fuse::NEW,
        }
    }

    /// Walks every proposal, transform and attribute; `Ok` when the whole SA payload
    /// is well formed.
    ///
    /// # Errors
    /// The first [`ParseError`] found at any level.
    pub fn validate(body: &'a [u8]) -> Result<(), ParseError> {
        if sa_body_ok(body) {
            return Ok(());
        }
        Self::validate_slow(body)
    }

    /// The iterator walk of [`Proposals::validate`]: the authority on which bodies
    /// are valid, and where the error of an invalid one comes from.
    fn validate_slow(body: &'a [u8]) -> Result<(), ParseError> {
        let mut n = 0usize;
        for p in Self::new(body) {
            n += 1;
            for t in p?.transforms() {
                for a in t?.attributes() {
                    a?;
                }
            }
        }
        if n == 0 {
            return Err(ParseError::InvalidField("SA payload without proposals"));
        }
        Ok(())
    }

    fn step(&mut self) -> Result<Proposal<'a>, ParseError> {
        let mut r = Reader::new(self.rest);
        let last = r.u8()?;
        let _reserved = r.u8()?;
        let len = usize::from(r.u16()?);
        let body_len = len.checked_sub(PROPOSAL_HDR).ok_or(ParseError::BadLength)?;
        let num = r.u8()?;
        let protocol = ProtocolId(r.u8()?);
        let spi_size = usize::from(r.u8()?);
        let num_transforms = r.u8()?;
        let body = r.take(body_len)?;
        let (spi, transforms) = body
            .split_at_checked(spi_size)
            .ok_or(ParseError::BadLength)?;
        self.rest = r.rest();
        match (last, self.rest.is_empty()) {
            (0, true) | (2, false) => {}
            _ => return Err(ParseError::InvalidField("proposal Last Substruc")),
        }
        Ok(Proposal {
            num,
            protocol,
            spi,
            num_transforms,
            transforms,
        })
    }
}

impl<'a> Iterator for Proposals<'a> {
    type Item = Result<Proposal<'a>, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.fuse.done || self.rest.is_empty() {
            return None;
        }
        let r = self.fuse.count(MAX_PROPOSALS).and_then(|()| self.step());
        self.fuse.pass(r)
    }
}

/// One transform substructure (RFC 7296 section 3.3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transform<'a> {
    /// Transform Type.
    pub kind: TransformType,
    /// Transform ID (interpret with the type's registry, e.g. [`crate::types::EncrId`]).
    pub id: u16,
    attributes: &'a [u8],
}

impl<'a> Transform<'a> {
    /// The attributes of this transform (section 3.3.5).
    #[must_use]
    pub const fn attributes(&self) -> Attributes<'a> {
        Attributes {
            rest: self.attributes,
            fuse: Fuse::NEW,
        }
    }

    /// The Key Length attribute, if present and well formed (section 3.3.5).
    #[must_use]
    pub fn key_length(&self) -> Option<u16> {
        self.attributes().find_map(|a| match a {
            Ok(Attribute {
                kind: AttributeType::KEY_LENGTH,
                value: AttrValue::Short(v),
            }) => Some(v),
            _ => None,
        })
    }
}

/// Iterator over the transforms of a proposal.
#[derive(Debug, Clone)]
pub struct Transforms<'a> {
    rest: &'a [u8],
    left: usize,
    fuse: Fuse,
}

impl<'a> Transforms<'a> {
    fn step(&mut self) -> Result<Transform<'a>, ParseError> {
        let mut r = Reader::new(self.rest);
        let last = r.u8()?;
        let _reserved = r.u8()?;
        let len = usize::from(r.u16()?);
        let attr_len = len
            .checked_sub(TRANSFORM_HDR)
            .ok_or(ParseError::BadLength)?;
        let kind = TransformType(r.u8()?);
        let _reserved2 = r.u8()?;
        let id = r.u16()?;
        let attributes = r.take(attr_len)?;
        self.rest = r.rest();
        self.left -= 1;
        match (last, self.left == 0) {
            (0, true) | (3, false) => {}
            _ => return Err(ParseError::InvalidField("transform Last Substruc")),
        }
        if self.left == 0 && !self.rest.is_empty() {
            return Err(ParseError::BadLength);
        }
        Ok(Transform {
            kind,
            id,
            attributes,
        })
    }
}

impl<'a> Iterator for Transforms<'a> {
    type Item = Result<Transform<'a>, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.fuse.done {
            return None;
        }
        let go = self
            .fuse
            .countdown(self.left, !self.rest.is_empty(), MAX_TRANSFORMS)?;
        let r = go.and_then(|()| self.step());
        self.fuse.pass(r)
    }
}

/// The value of a transform attribute (section 3.3.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrValue<'a> {
    /// TV format (AF = 1): a 16-bit value.
    Short(u16),
    /// TLV format (AF = 0): a variable-length value.
    Long(&'a [u8]),
}

/// One transform attribute (section 3.3.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attribute<'a> {
    /// Attribute Type (without the AF bit).
    pub kind: AttributeType,
    /// The value.
    pub value: AttrValue<'a>,
}

impl Attribute<'_> {
    /// Bytes on the wire.
    #[must_use]
    pub const fn wire_len(&self) -> usize {
        match self.value {
            AttrValue::Short(_) => 4,
            AttrValue::Long(v) => 4 + v.len(),
        }
    }
}

/// Iterator over transform attributes.
#[derive(Debug, Clone)]
pub struct Attributes<'a> {
    rest: &'a [u8],
    fuse: Fuse,
}

impl<'a> Attributes<'a> {
    fn step(&mut self) -> Result<Attribute<'a>, ParseError> {
        let mut r = Reader::new(self.rest);
        let t = r.u16()?;
        let kind = AttributeType(t & 0x7fff);
        let value = if t & 0x8000 != 0 {
            AttrValue::Short(r.u16()?)
        } else {
            let len = usize::from(r.u16()?);
            AttrValue::Long(r.take(len)?)
        };
        self.rest = r.rest();
        Ok(Attribute { kind, value })
    }
}

impl<'a> Iterator for Attributes<'a> {
    type Item = Result<Attribute<'a>, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.fuse.done || self.rest.is_empty() {
            return None;
        }
        let r = self.fuse.count(MAX_ATTRIBUTES).and_then(|()| self.step());
        self.fuse.pass(r)
    }
}

/// A transform to emit (section 3.3.2); the only attribute this crate writes is
/// Key Length (section 3.3.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TransformRepr {
    /// Transform Type.
    pub kind: TransformType,
    /// Transform ID.
    pub id: u16,
    /// Key Length in bits (for AES-CBC, AES-GCM, ...).
    pub key_length: Option<u16>,
}

impl TransformRepr {
    /// Bytes on the wire.
    #[must_use]
    pub const fn wire_len(&self) -> usize {
        TRANSFORM_HDR + if self.key_length.is_some() { 4 } else { 0 }
    }

    fn emit(self, last: bool, w: &mut Writer<'_>) -> Result<(), EmitError> {
        w.u8(if last { 0 } else { 3 })?;
        w.u8(0)?;
        w.u16(len16(self.wire_len(), "transform")?)?;
        w.u8(self.kind.0)?;
        w.u8(0)?;
        w.u16(self.id)?;
        if let Some(k) = self.key_length {
            w.u16(0x8000 | AttributeType::KEY_LENGTH.0)?;
            w.u16(k)?;
        }
        Ok(())
    }
}

/// A proposal to emit (section 3.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProposalRepr<'a> {
    /// Proposal Num.
    pub num: u8,
    /// Protocol ID.
    pub protocol: ProtocolId,
    /// SPI (empty, 4 or 8 bytes).
    pub spi: &'a [u8],
    /// Transforms, in order.
    pub transforms: &'a [TransformRepr],
}

impl ProposalRepr<'_> {
    /// Bytes on the wire.
    #[must_use]
    pub fn wire_len(&self) -> usize {
        PROPOSAL_HDR
            + self.spi.len()
            + self
                .transforms
                .iter()
                .map(TransformRepr::wire_len)
                .sum::<usize>()
    }

    fn emit(&self, last: bool, w: &mut Writer<'_>) -> Result<(), EmitError> {
        w.u8(if last { 0 } else { 2 })?;
        w.u8(0)?;
        w.u16(len16(self.wire_len(), "proposal")?)?;
        w.u8(self.num)?;
        w.u8(self.protocol.0)?;
        w.u8(u8::try_from(self.spi.len()).map_err(|_| EmitError::ValueTooLarge("SPI"))?)?;
        w.u8(u8::try_from(self.transforms.len())
            .map_err(|_| EmitError::ValueTooLarge("transform count"))?)?;
        w.put(self.spi)?;
        let n = self.transforms.len();
        for (i, t) in self.transforms.iter().enumerate() {
            t.emit(i + 1 == n, w)?;
        }
        Ok(())
    }
}

/// The proposals of an SA payload: checked wire bytes or a list to emit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProposalList<'a> {
    /// Bytes already checked by [`Proposals::validate`].
    Wire(&'a [u8]),
    /// Proposals to emit, in order.
    List(&'a [ProposalRepr<'a>]),
}

/// The SA payload body (section 3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sa<'a> {
    /// The proposals.
    pub proposals: ProposalList<'a>,
}

impl<'a> Sa<'a> {
    /// Checks the whole nested structure of an SA payload body.
    ///
    /// # Errors
    /// [`ParseError`] from any level of the walk.
    pub fn parse(body: &'a [u8]) -> Result<Self, ParseError> {
        Proposals::validate(body)?;
        Ok(Self {
            proposals: ProposalList::Wire(body),
        })
    }

    /// Bytes of the body.
    #[must_use]
    pub fn body_len(&self) -> usize {
        match self.proposals {
            ProposalList::Wire(b) => b.len(),
            ProposalList::List(l) => l.iter().map(ProposalRepr::wire_len).sum(),
        }
    }

    pub(crate) fn emit_body(&self, w: &mut Writer<'_>) -> Result<(), EmitError> {
        match self.proposals {
            ProposalList::Wire(b) => w.put(b),
            ProposalList::List(l) => {
                let n = l.len();
                for (i, p) in l.iter().enumerate() {
                    p.emit(i + 1 == n, w)?;
                }
                Ok(())
            }
        }
    }

    /// Iterates the proposals of the wire form (a `List` yields nothing: use its
    /// slice).
    #[must_use]
    pub fn proposals(&self) -> Proposals<'a> {
        match self.proposals {
            ProposalList::Wire(b) => Proposals::new(b),
            ProposalList::List(_) => Proposals::new(&[]),
        }
    }
}
