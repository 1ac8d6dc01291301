//! A fixed-capacity allocator of indices `0..size` as a bitmap over caller storage, the
//! core of the address pools of both servers ([`crate::v4::server::Pool`],
//! [`crate::v6::server::Pool6`]). No heap: the caller gives `&mut [u64]`.

use crate::error::UsageError;

/// A bitmap allocator over `&mut [u64]`, next-fit, O(size/64) worst case per allocation.
#[derive(Debug)]
pub struct IndexPool<'s> {
    bits: &'s mut [u64],
    size: u32,
    next: u32,
    used: u32,
}

impl<'s> IndexPool<'s> {
    /// An empty pool of `size` indices over `bits` (needs `size.div_ceil(64)` words,
    /// which are cleared).
    ///
    /// # Errors
    /// [`UsageError::InvalidConfig`] when `bits` is too small or `size` is zero.
    pub fn new(bits: &'s mut [u64], size: u32) -> Result<Self, UsageError> {
        let words = usize::try_from(size.div_ceil(64)).unwrap_or(usize::MAX);
        if size == 0 || bits.len() < words {
            return Err(UsageError::InvalidConfig(
                "pool storage smaller than the pool",
            ));
        }
        bits.fill(0);
        Ok(Self {
            bits,
            size,
            next: 0,
            used: 0,
        })
    }

    /// Number of indices.
    #[must_use]
    pub const fn size(&self) -> u32 {
        self.size
    }

    /// Indices in use.
    #[must_use]
    pub const fn used(&self) -> u32 {
        self.used
    }

    fn word(&mut self, i: u32) -> Option<(&mut u64, u64)> {
        if i >= self.size {
            return None;
        }
        let w = self.bits.get_mut(usize::try_from(i / 64).ok()?)?;
        Some((w, 1u64 << (i % 64)))
    }

    /// Whether `i` is allocated (out of range reads as allocated).
    #[must_use]
    pub fn is_used(&self, i: u32) -> bool {
        if i >= self.size {
            return true;
        }
        let w = usize::try_from(i / 64)
            .ok()
            .and_then(|w| self.bits.get(w))
            .copied()
            .unwrap_or(u64::MAX);
        w & (1u64 << (i % 64)) != 0
    }

    /// Takes index `i` if it is free; returns whether it was taken.
    pub fn take(&mut self, i: u32) -> bool {
        let Some((w, m)) = self.word(i) else {
            return false;
        };
        if *w & m != 0 {
            return false;
        }
        *w |= m;
        self.used += 1;
        true
    }

    /// Takes the next free index after the last one handed out (next-fit, so a
    /// released address is not reused at once).
    pub fn take_any(&mut self) -> Option<u32> {
        if self.used >= self.size {
            return None;
        }
        let words = self.size.div_ceil(64);
        let start = self.next / 64;
        for k in 0..=words {
            let wi = (start + k) % words;
            let w = *self.bits.get(usize::try_from(wi).ok()?)?;
            // bits past `size` in the last word are never free
            let valid = if wi == words - 1 && self.size % 64 != 0 {
                (1u64 << (self.size % 64)) - 1
            } else {
                u64::MAX
            };
            let mut free = !w & valid;
            if k == 0 {
                // in the first word, prefer bits at or after `next`
                let from = free & (u64::MAX << (self.next % 64));
                if from != 0 {
                    free = from;
                }
            }
            if free != 0 {
                let i = wi * 64 + free.trailing_zeros();
                if self.take(i) {
                    self.next = (i + 1) % self.size;
                    return Some(i);
                }
            }
        }
        None
    }

    /// Frees index `i` (no effect when it is free or out of range).
    pub fn free(&mut self, i: u32) {
        if let Some((w, m)) = self.word(i) {
            if *w & m != 0 {
                *w &= !m;
                self.used -= 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn fill_and_free() {
        let mut bits = [0u64; 2];
        let mut p = IndexPool::new(&mut bits, 70).unwrap();
        let mut n = 0;
        while p.take_any().is_some() {
            n += 1;
        }
        assert_eq!(n, 70);
        assert_eq!(p.used(), 70);
        assert!(!p.take(70));
        p.free(33);
        p.free(33);
        assert_eq!(p.used(), 69);
        assert_eq!(p.take_any(), Some(33));
        assert!(IndexPool::new(&mut [0u64; 1], 65).is_err());
    }

    #[test]
    fn next_fit() {
        let mut bits = [0u64; 1];
        let mut p = IndexPool::new(&mut bits, 10).unwrap();
        assert_eq!(p.take_any(), Some(0));
        assert_eq!(p.take_any(), Some(1));
        p.free(0);
        assert_eq!(p.take_any(), Some(2));
        assert!(p.take(5));
        assert_eq!(p.take_any(), Some(3));
        assert_eq!(p.take_any(), Some(4));
        assert_eq!(p.take_any(), Some(6));
    }
}
