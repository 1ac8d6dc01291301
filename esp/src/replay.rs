//! Anti-replay window (RFC 4303 section 3.4.3) with the bitmap technique of
//! RFC 6479 and extended sequence number inference (RFC 4303 Appendix A).
//!
//! The bitmap is a ring of 64-bit blocks. Advancing the window clears whole
//! blocks instead of shifting bits, so a jump costs at most one pass over the
//! blocks and an in-window packet costs one bit test. With `n` blocks the window
//! covers `(n - 1) * 64` sequence numbers (RFC 6479 section 2: one block is kept
//! spare so that advancing never clears a bit still inside the window).
//!
//! The caller picks the storage: `[u64; N]` inside the SA, or a `&mut [u64]` it
//! owns. `check` is a pure test for the fast reject before the ICV; `update` is
//! called only after the ICV verified (RFC 4303 section 3.4.3).

use crate::error::{ProtocolError, UsageError};

/// Blocks of the default window: 65 blocks = 4096 packets.
pub const DEFAULT_BLOCKS: usize = 65;

/// An RFC 6479 anti-replay window over caller-chosen storage.
#[derive(Debug, Clone)]
pub struct ReplayWindow<S = [u64; DEFAULT_BLOCKS]> {
    bitmap: S,
    /// Highest sequence number that passed the ICV (0 before the first packet).
    top: u64,
    /// `(top >> 6) % blocks`: the block holding `top`, kept up to date as the
    /// window slides so the per-packet path never divides (the default 65
    /// blocks is not a power of two).
    top_block: usize,
}

impl Default for ReplayWindow {
    fn default() -> Self {
        Self {
            bitmap: [0; DEFAULT_BLOCKS],
            top: 0,
            top_block: 0,
        }
    }
}

impl<S: AsRef<[u64]> + AsMut<[u64]>> ReplayWindow<S> {
    /// A window over `storage` (cleared here). The window size is
    /// `(storage.len() - 1) * 64`.
    ///
    /// # Errors
    /// [`UsageError::InvalidConfig`] with fewer than 2 blocks.
    pub fn new(mut storage: S) -> Result<Self, UsageError> {
        if storage.as_ref().len() < 2 {
            return Err(UsageError::InvalidConfig("replay window needs >= 2 blocks"));
        }
        storage.as_mut().fill(0);
        Ok(Self {
            bitmap: storage,
            top: 0,
            top_block: 0,
        })
    }

    fn blocks(&self) -> u64 {
        self.bitmap.as_ref().len() as u64
    }

    /// Number of sequence numbers the window accepts below [`ReplayWindow::top`]
    /// (including it).
    #[must_use]
    pub fn size(&self) -> u64 {
        (self.blocks() - 1).saturating_mul(64)
    }

    /// The highest authenticated sequence number so far (0: none yet).
    #[must_use]
    pub fn top(&self) -> u64 {
        self.top
    }

    /// Block index of `seq` (by division: only for rare, whole-window moves).
    fn block_of(&self, seq: u64) -> usize {
        usize::try_from((seq >> 6) % self.blocks()).unwrap_or(0)
    }

    /// Block index and bit of a `seq` inside the window (`seq <= top` and
    /// `top - seq < size`, so at most `blocks - 1` blocks behind `top`'s):
    /// counted back from `top_block` without a division.
    #[inline]
    fn locate(&self, seq: u64) -> (usize, u64) {
        let n = self.bitmap.as_ref().len();
        let back = usize::try_from((self.top >> 6).wrapping_sub(seq >> 6))
            .unwrap_or(usize::MAX)
            .min(n.saturating_sub(1));
        let block = if self.top_block >= back {
            self.top_block - back
        } else {
            self.top_block + n - back
        };
        (block, 1u64 << (seq & 63))
    }

    /// Moves the right edge of an empty window to `top` (state restored from a
    /// peer or a checkpoint, e.g. high-availability sync): every number up to
    /// `top` is then treated as received. Never moves the window backwards.
    pub fn set_top(&mut self, top: u64) {
        if top > self.top {
            self.bitmap.as_mut().fill(u64::MAX);
            self.top = top;
            self.top_block = self.block_of(top);
            // Numbers above `top` in its own block are still to come.
            let (block, bit) = self.locate(top);
            if let Some(b) = self.bitmap.as_mut().get_mut(block) {
                *b = bit | (bit - 1);
            }
        }
    }

    /// Would `seq` be accepted? Does not change the window (RFC 4303 section
    /// 3.4.3: the cheap check done before the ICV).
    ///
    /// # Errors
    /// [`ProtocolError::Replayed`] for 0, duplicates and numbers left of the window.
    pub fn check(&self, seq: u64) -> Result<(), ProtocolError> {
        if seq == 0 {
            return Err(ProtocolError::Replayed);
        }
        if seq > self.top {
            return Ok(());
        }
        if self.top - seq >= self.size() {
            return Err(ProtocolError::Replayed);
        }
        let (block, bit) = self.locate(seq);
        match self.bitmap.as_ref().get(block) {
            Some(b) if b & bit == 0 => Ok(()),
            _ => Err(ProtocolError::Replayed),
        }
    }

    /// Records `seq` as received; call only after its ICV verified. Checks again,
    /// so a duplicate can never be recorded twice.
    ///
    /// # Errors
    /// [`ProtocolError::Replayed`] as [`ReplayWindow::check`].
    pub fn update(&mut self, seq: u64) -> Result<(), ProtocolError> {
        self.check(seq)?;
        self.advance(seq);
        Ok(())
    }

    /// Slides the window to `seq` if it is new and sets its bit.
    #[inline]
    fn advance(&mut self, seq: u64) {
        if seq > self.top {
            // RFC 6479 section 2: clear the blocks the window slides over.
            let n = self.bitmap.as_ref().len();
            let slide = (seq >> 6) - (self.top >> 6);
            match usize::try_from(slide) {
                Ok(k) if k < n => {
                    let bm = self.bitmap.as_mut();
                    let mut idx = self.top_block;
                    for _ in 0..k {
                        idx += 1;
                        if idx == n {
                            idx = 0;
                        }
                        if let Some(b) = bm.get_mut(idx) {
                            *b = 0;
                        }
                    }
                    self.top_block = idx;
                }
                // A jump of a whole window or more: everything is left of it.
                _ => {
                    self.bitmap.as_mut().fill(0);
                    self.top_block = self.block_of(seq);
                }
            }
            self.top = seq;
        }
        let (block, bit) = self.locate(seq);
        if let Some(b) = self.bitmap.as_mut().get_mut(block) {
            *b |= bit;
        }
    }

    /// [`ReplayWindow::update`] for a `seq` that [`ReplayWindow::check`] just
    /// accepted with no window change since (the SA's decapsulation, which
    /// holds the window exclusively between the two).
    #[inline]
    pub(crate) fn mark_checked(&mut self, seq: u64) {
        self.advance(seq);
    }

    /// Infers the full 64-bit extended sequence number from its low 32 bits,
    /// RFC 4303 Appendix A2.2. `None` when the number would precede the start of
    /// the sequence space (it cannot be valid).
    #[must_use]
    pub fn infer_esn(&self, seq_low: u32) -> Option<u64> {
        let w = u32::try_from(self.size()).unwrap_or(u32::MAX);
        // `top` splits into Th (high) and Tl (low); truncations are the intent.
        #[allow(clippy::cast_possible_truncation, reason = "split into 32-bit halves")]
        let (th, tl) = ((self.top >> 32) as u32, self.top as u32);
        let bottom = tl.wrapping_sub(w.wrapping_sub(1));
        let high = if tl >= w.wrapping_sub(1) {
            // Case A: the window lies within one sequence-number subspace.
            if seq_low >= bottom {
                th
            } else {
                th.checked_add(1)?
            }
        } else if seq_low >= bottom {
            // Case B: the window spans two subspaces; this is the old one.
            th.checked_sub(1)?
        } else {
            th
        };
        Some((u64::from(high) << 32) | u64::from(seq_low))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn basic_window() {
        let mut w = ReplayWindow::default();
        assert_eq!(w.size(), 4096);
        assert!(w.check(0).is_err());
        w.update(1).unwrap();
        assert!(w.update(1).is_err());
        w.update(5000).unwrap();
        assert!(w.check(5000 - 4096).is_err());
        w.check(5000 - 4095).unwrap();
        w.update(4000).unwrap();
        assert!(w.check(4000).is_err());
        w.update(u64::MAX).unwrap();
        assert!(w.check(u64::MAX).is_err());
        assert!(w.check(5000).is_err());
    }

    #[test]
    fn caller_storage() {
        let mut st = [7u64; 3];
        let mut w = ReplayWindow::new(&mut st[..]).unwrap();
        assert_eq!(w.size(), 128);
        w.update(200).unwrap();
        w.update(73).unwrap();
        assert!(w.check(72).is_err());
        assert!(ReplayWindow::new([0u64; 1]).is_err());
    }

    #[test]
    fn esn_inference() {
        let mut w = ReplayWindow::default();
        // Before any packet: Case B with Th = 0.
        assert_eq!(w.infer_esn(1), Some(1));
        assert_eq!(w.infer_esn(u32::MAX), None);
        w.update(0x1_0000_0010).unwrap();
        assert_eq!(w.infer_esn(0x20), Some(0x1_0000_0020));
        assert_eq!(w.infer_esn(0xffff_fff0), Some(0xffff_fff0));
        w.update(0x1_8000_0000).unwrap();
        assert_eq!(w.infer_esn(0x10), Some(0x2_0000_0010));
        assert_eq!(w.infer_esn(0x8000_0001), Some(0x1_8000_0001));
    }
}
