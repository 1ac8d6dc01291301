//! A whole IKE message: header plus payload chain (RFC 7296 sections 3.1 and 3.2).

use crate::error::{EmitError, ParseError};
use crate::header::{HEADER_LEN, HeaderRepr, Packet};
use crate::payload::{PayloadList, Payloads};

/// An IKE message as parsed (payloads in wire form) or to emit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr<'a> {
    /// The header fields (Next Payload and Length are derived on emit).
    pub header: HeaderRepr,
    /// The payload chain.
    pub payloads: PayloadList<'a>,
}

impl<'a> Repr<'a> {
    /// Checks every payload of the message (a protected SK payload is checked only
    /// as a generic payload: its contents need the keys).
    ///
    /// # Errors
    /// [`ParseError`] for the first malformed payload.
    pub fn parse(p: &Packet<&'a [u8]>) -> Result<Self, ParseError> {
        let bytes: &'a [u8] = {
            let b: &'a [u8] = p.into_inner();
            let len = p.length();
            b.get(HEADER_LEN..len).ok_or(ParseError::BadLength)?
        };
        let first = p.next_payload();
        Payloads::validate(first, bytes)?;
        Ok(Self {
            header: HeaderRepr::parse(p),
            payloads: PayloadList::Wire { first, bytes },
        })
    }

    /// Bytes [`Repr::emit`] writes.
    #[must_use]
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + self.payloads.wire_len()
    }

    /// Writes the message at the start of `out`.
    ///
    /// # Errors
    /// [`EmitError::BufferTooSmall`] (checked before writing) and the errors of
    /// [`PayloadList::emit`].
    pub fn emit(&self, out: &mut [u8]) -> Result<usize, EmitError> {
        let needed = self.buffer_len();
        crate::wire::check_room(out, needed)?;
        let (h, rest) = out.split_at_mut(HEADER_LEN);
        self.header.emit(self.payloads.first(), needed, h)?;
        self.payloads.emit(rest)?;
        Ok(needed)
    }
}
