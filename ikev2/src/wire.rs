//! Panic-free byte reader and writer used by every payload (STYLE.md section 2).

use crate::error::{EmitError, ParseError};

/// What every TLV iterator keeps (STYLE.md section 3): how many items it counted
/// against its cap, and whether it is fused (after its one `Err`, or at the end).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fuse {
    count: usize,
    pub(crate) done: bool,
}

impl Fuse {
    /// Nothing counted, not fused.
    pub(crate) const NEW: Self = Self {
        count: 0,
        done: false,
    };

    /// Counts one more item; past `cap` items, the `TooManyTlvs` error.
    pub(crate) const fn count(&mut self, cap: usize) -> Result<(), ParseError> {
        if self.count >= cap {
            return Err(ParseError::TooManyTlvs { cap });
        }
        self.count += 1;
        Ok(())
    }

    /// For an iterator counting down the items its header announced, `left` of them:
    /// `Some(Ok(()))` for one more; at zero the end, `None`, or `BadLength` when
    /// bytes are `trailing`; `TooManyTlvs` above `cap`. Fused but for `Ok`.
    pub(crate) fn countdown(
        &mut self,
        left: usize,
        trailing: bool,
        cap: usize,
    ) -> Option<Result<(), ParseError>> {
        let r = match left {
            0 => trailing.then_some(Err(ParseError::BadLength)),
            n if n > cap => Some(Err(ParseError::TooManyTlvs { cap })),
            _ => return Some(Ok(())),
        };
        self.end(r)
    }

    /// Yields `r`, fusing after an error.
    #[allow(
        clippy::unnecessary_wraps,
        reason = "the value of Iterator::next for the caller to return"
    )]
    pub(crate) fn pass<T>(&mut self, r: Result<T, ParseError>) -> Option<Result<T, ParseError>> {
        self.done = r.is_err();
        Some(r)
    }

    /// Fuses with `r` as the last item.
    pub(crate) fn end<T>(
        &mut self,
        r: Option<Result<T, ParseError>>,
    ) -> Option<Result<T, ParseError>> {
        self.done = true;
        r
    }
}

/// Reads big-endian fields from untrusted bytes; every read is checked.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    total: usize,
}

impl<'a> Reader<'a> {
    pub(crate) const fn new(buf: &'a [u8]) -> Self {
        Self {
            buf,
            total: buf.len(),
        }
    }

    fn short(&self, n: usize) -> ParseError {
        ParseError::Truncated {
            needed: self.total.saturating_sub(self.buf.len()).saturating_add(n),
            available: self.total,
        }
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], ParseError> {
        let (a, b) = self.buf.split_at_checked(n).ok_or_else(|| self.short(n))?;
        self.buf = b;
        Ok(a)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, ParseError> {
        let (a, b) = self.buf.split_first().ok_or_else(|| self.short(1))?;
        self.buf = b;
        Ok(*a)
    }

    pub(crate) fn u16(&mut self) -> Result<u16, ParseError> {
        let (a, b) = self
            .buf
            .split_first_chunk::<2>()
            .ok_or_else(|| self.short(2))?;
        self.buf = b;
        Ok(u16::from_be_bytes(*a))
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], ParseError> {
        let (a, b) = self
            .buf
            .split_first_chunk::<N>()
            .ok_or_else(|| self.short(N))?;
        self.buf = b;
        Ok(*a)
    }

    pub(crate) const fn rest(&self) -> &'a [u8] {
        self.buf
    }
}

/// Writes into a caller buffer; every write is checked.
#[derive(Debug)]
pub(crate) struct Writer<'b> {
    buf: &'b mut [u8],
    pos: usize,
}

impl<'b> Writer<'b> {
    pub(crate) fn new(buf: &'b mut [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    pub(crate) fn put(&mut self, b: &[u8]) -> Result<(), EmitError> {
        let end = self
            .pos
            .checked_add(b.len())
            .ok_or(EmitError::ValueTooLarge("length overflow"))?;
        let available = self.buf.len();
        self.buf
            .get_mut(self.pos..end)
            .ok_or(EmitError::BufferTooSmall {
                needed: end,
                available,
            })?
            .copy_from_slice(b);
        self.pos = end;
        Ok(())
    }

    pub(crate) fn u8(&mut self, v: u8) -> Result<(), EmitError> {
        self.put(&[v])
    }

    pub(crate) fn u16(&mut self, v: u16) -> Result<(), EmitError> {
        self.put(&v.to_be_bytes())
    }

    /// The unwritten tail of the buffer.
    pub(crate) fn tail(&mut self) -> &mut [u8] {
        self.buf.get_mut(self.pos..).unwrap_or_default()
    }

    pub(crate) fn advance(&mut self, n: usize) -> Result<(), EmitError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|e| *e <= self.buf.len())
            .ok_or(EmitError::BufferTooSmall {
                needed: self.pos.saturating_add(n),
                available: self.buf.len(),
            })?;
        self.pos = end;
        Ok(())
    }

    pub(crate) const fn pos(&self) -> usize {
        self.pos
    }
}

/// `BufferTooSmall` unless `out` holds `needed` bytes.
pub(crate) fn check_room(out: &[u8], needed: usize) -> Result<(), EmitError> {
    if out.len() < needed {
        return Err(EmitError::BufferTooSmall {
            needed,
            available: out.len(),
        });
    }
    Ok(())
}

/// A length as a 16-bit wire value.
pub(crate) fn len16(n: usize, what: &'static str) -> Result<u16, EmitError> {
    u16::try_from(n).map_err(|_| EmitError::ValueTooLarge(what))
}
