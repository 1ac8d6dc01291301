//! Buffers that can move between workers without a copy.
//!
//! A [`Pkt<'p>`](crate::buffer::Pkt) borrows its buffer for `'p`, so it cannot be sent
//! to another thread whose pool has another lifetime. A [`SharedArena`] is a worker's
//! buffer memory behind an [`Arc`]: each of its buffers is owned by exactly one
//! [`BufToken`] (created once, when the arena is made, and never cloned) or by exactly
//! one `&mut [u8]` made from that token. A packet leaves a worker as a [`Handoff`] (its
//! buffer's token, data range and input port: 16 bytes, not the packet's bytes), and the
//! receiving worker turns the token back into a buffer through the arena
//! ([`SharedArena::take`]); freed buffers go back the same way
//! (`SharedArena::give_buffer`, crate-private). Ownership moves with the token, so no buffer is
//! ever reachable from two workers at once, and no lock is taken.
//!
//! Every worker's arena stays allocated while any worker holds its `Arc`; a token whose
//! arena is gone is an inert number (turning it into a buffer needs a reference to the
//! arena with the same id).

#![allow(
    unsafe_code,
    reason = "buffers made from tokens; each block has a SAFETY comment"
)]

use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::buffer::{BUF_SIZE, BUF_STRIDE, Meta, Pkt, Pool};

/// Ids of arenas, so a token is only ever turned into a buffer of its own arena.
static NEXT_ID: AtomicU32 = AtomicU32::new(1);

/// One worker's buffers, shareable with the other workers (see the module docs).
#[derive(Debug)]
pub struct SharedArena {
    id: u32,
    base: NonNull<u8>,
    buffers: u32,
}

// SAFETY: the arena is a raw allocation; the only access to its bytes is through
// `&mut [u8]` made from unique tokens (`take`) or given back as tokens (`give_buffer`),
// so no two threads ever reach the same buffer, whichever thread holds the arena.
unsafe impl Send for SharedArena {}
// SAFETY: as for `Send`: `&SharedArena` only lets a thread turn tokens it owns into
// buffers, and a token exists once.
unsafe impl Sync for SharedArena {}

/// The ownership of one buffer of a [`SharedArena`]: neither `Clone` nor `Copy`, made
/// only by [`SharedArena::new`] and the crate-private `SharedArena::give_buffer`.
#[derive(Debug, PartialEq, Eq)]
pub struct BufToken {
    arena: u32,
    index: u32,
}

impl BufToken {
    /// The id of the arena the buffer belongs to ([`SharedArena::id`]).
    #[must_use]
    pub fn arena(&self) -> u32 {
        self.arena
    }
}

/// A packet on its way to another worker: its buffer's token, where its data lies in
/// the buffer, and the port it came in on (16 bytes). The bytes stay where they are.
///
/// Steering happens right after reception, before any node wrote metadata, so the
/// rest of [`Meta`] is not carried: the receiver's packet has the default metadata
/// with `rx_if` set.
#[derive(Debug)]
pub struct Handoff {
    token: BufToken,
    start: u16,
    len: u16,
    rx_if: u16,
}

impl Handoff {
    /// The id of the arena holding the packet.
    #[must_use]
    pub fn arena(&self) -> u32 {
        self.token.arena
    }
}

impl SharedArena {
    /// An arena of `buffers` buffers of [`BUF_SIZE`] bytes (zeroed, [`BUF_STRIDE`]
    /// apart), and the one token
    /// of each buffer. `buffers` is capped so that every offset fits a `u32` index.
    #[must_use]
    pub fn new(buffers: usize) -> (Arc<Self>, Vec<BufToken>) {
        let buffers = u32::try_from(buffers.max(1)).unwrap_or(u32::MAX) / 2 * 2;
        let buffers = buffers.clamp(2, 1 << 20);
        let bytes = buffers as usize * BUF_STRIDE;
        let mem: Box<[u8]> = vec![0u8; bytes].into_boxed_slice();
        let raw: *mut [u8] = Box::into_raw(mem);
        let base = NonNull::new(raw.cast::<u8>()).unwrap_or(NonNull::dangling());
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let tokens = (0..buffers)
            .map(|index| BufToken { arena: id, index })
            .collect();
        (Arc::new(Self { id, base, buffers }), tokens)
    }

    /// The arena's id (unique in the process), as its tokens carry it.
    #[must_use]
    pub fn id(&self) -> u32 {
        self.id
    }

    /// Buffers in the arena.
    #[must_use]
    pub fn buffers(&self) -> usize {
        self.buffers as usize
    }

    /// The buffer a token owns, for as long as the arena is borrowed; the token back if
    /// it belongs to another arena.
    ///
    /// # Errors
    /// The token is not one of this arena's.
    #[inline]
    #[allow(
        clippy::mut_from_ref,
        reason = "the token, consumed here, is the buffer's one owner: see SAFETY"
    )]
    pub fn take(&self, t: BufToken) -> Result<&mut [u8], BufToken> {
        if t.arena != self.id || t.index >= self.buffers {
            return Err(t);
        }
        let off = t.index as usize * BUF_STRIDE;
        // SAFETY: `off + BUF_SIZE <= buffers * BUF_STRIDE`, the allocation's length, so
        // the range is inside the allocation `base` points to (alive while `self` is
        // borrowed: it is freed only by `Drop`). The token is consumed here and is the
        // only owner of buffer `index` (tokens are made once per buffer by `new`, or by
        // `give_buffer` from the one `&mut` that owned the buffer, and are not `Clone`),
        // so no other reference to these bytes exists while the returned one lives.
        Ok(unsafe { std::slice::from_raw_parts_mut(self.base.as_ptr().add(off), BUF_SIZE) })
    }

    /// The token of a buffer of this arena (the buffer is given up); the buffer back if
    /// it is not one of this arena's buffers.
    ///
    /// Only buffers that own their bytes may come here: the whole `&mut` a token or
    /// a [`Pool`] handed out, never a reborrow of one that is used again, or the token
    /// would alias it. Crate-private so that only [`Pkt`] and [`Pool`] buffers, which
    /// are never reborrowed into another owner, are given.
    ///
    /// # Errors
    /// `buf` is not a whole buffer of this arena.
    #[inline]
    pub(crate) fn give_buffer<'a>(&self, buf: &'a mut [u8]) -> Result<BufToken, &'a mut [u8]> {
        let off = (buf.as_ptr() as usize).wrapping_sub(self.base.as_ptr() as usize);
        if buf.len() != BUF_SIZE
            || off % BUF_STRIDE != 0
            || off / BUF_STRIDE >= self.buffers as usize
        {
            return Err(buf);
        }
        Ok(BufToken {
            arena: self.id,
            index: u32::try_from(off / BUF_STRIDE).unwrap_or(u32::MAX),
        })
    }

    /// A packet of this arena as a [`Handoff`] for another worker; the packet back if
    /// its buffer is not one of this arena's (e.g. a private [`Arena`](crate::buffer::Arena)'s).
    ///
    /// # Errors
    /// The packet's buffer is not this arena's.
    #[inline]
    pub fn hand_off<'p>(&self, p: Pkt<'p>) -> Result<Handoff, Pkt<'p>> {
        let (buf, start, len, meta) = p.into_parts();
        match self.give_buffer(buf) {
            Ok(token) => Ok(Handoff {
                token,
                start,
                len,
                rx_if: meta.rx_if,
            }),
            Err(buf) => Err(Pkt::from_parts(buf, start, len, meta)),
        }
    }

    /// The packet of a [`Handoff`] of this arena; the handoff back if it is another
    /// arena's.
    ///
    /// # Errors
    /// The handoff's buffer is not this arena's.
    #[inline]
    pub fn receive(&self, h: Handoff) -> Result<Pkt<'_>, Handoff> {
        let Handoff {
            token,
            start,
            len,
            rx_if,
        } = h;
        match self.take(token) {
            Ok(buf) => Ok(Pkt::from_parts(
                buf,
                start,
                len,
                Meta {
                    rx_if,
                    ..Meta::default()
                },
            )),
            Err(token) => Err(Handoff {
                token,
                start,
                len,
                rx_if,
            }),
        }
    }

    /// A pool of the buffers of `tokens` (those of this arena; the others are
    /// returned).
    #[must_use]
    pub fn pool(&self, tokens: Vec<BufToken>) -> (Pool<'_>, Vec<BufToken>) {
        let mut bufs = Vec::with_capacity(tokens.len());
        let mut other = Vec::new();
        for t in tokens {
            match self.take(t) {
                Ok(b) => bufs.push(b),
                Err(t) => other.push(t),
            }
        }
        (Pool::from_buffers(bufs), other)
    }

    /// Puts the buffer a token owns into `pool` (free); the token back if it is
    /// another arena's.
    ///
    /// # Errors
    /// The token is not one of this arena's.
    #[inline]
    pub fn put_free<'p>(&'p self, pool: &mut Pool<'p>, t: BufToken) -> Result<(), BufToken> {
        pool.push_buffer(self.take(t)?);
        Ok(())
    }

    /// A free buffer of `pool` as a token of this arena, if the one on top of the
    /// pool is one of this arena's (else it stays in the pool).
    #[inline]
    pub fn take_free(&self, pool: &mut Pool<'_>) -> Option<BufToken> {
        let b = pool.pop_buffer()?;
        match self.give_buffer(b) {
            Ok(t) => Some(t),
            Err(b) => {
                pool.push_buffer(b);
                None
            }
        }
    }
}

impl Drop for SharedArena {
    fn drop(&mut self) {
        let raw = std::ptr::slice_from_raw_parts_mut(
            self.base.as_ptr(),
            self.buffers as usize * BUF_STRIDE,
        );
        // SAFETY: `raw` is the pointer and length `Box::into_raw` gave in `new` (the
        // length is recomputed from the same `buffers`); `drop` runs once, when no
        // borrow of the arena (so no buffer made by `take`) is left.
        drop(unsafe { Box::from_raw(raw) });
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::panic,
        clippy::many_single_char_names,
        reason = "tests"
    )]
    use super::*;

    #[test]
    fn tokens_move_buffers_between_pools_and_stay_unique() {
        let (a, tokens) = SharedArena::new(8);
        let (b, other_tokens) = SharedArena::new(4);
        assert_ne!(a.id(), b.id());
        assert_eq!(tokens.len(), 8);
        let (mut pa, rest) = a.pool(tokens);
        assert!(rest.is_empty());
        // another arena's tokens are refused, and come back unchanged
        let (pb0, rest) = a.pool(other_tokens);
        assert_eq!(pb0.available(), 0);
        assert_eq!(rest.len(), 4);
        let (mut pb, none) = b.pool(rest);
        assert!(none.is_empty());
        // a packet of `a` handed to `b`'s worker: `b` cannot take it, `a` can
        let p = pa.alloc_from(&[1, 2, 3]).unwrap();
        let h = a.hand_off(p).unwrap();
        let h = b.receive(h).map(|_| ()).unwrap_err();
        let q = a.receive(h).unwrap();
        assert_eq!(q.data(), &[1, 2, 3]);
        // freed into `b`'s pool, and paid back with one of `b`'s buffers
        pb.free(q);
        assert_eq!((pa.available(), pb.available()), (7, 5));
        assert!(b.take_free(&mut pb).is_none(), "the top buffer is a's");
        let t = a.take_free(&mut pb).unwrap();
        a.put_free(&mut pa, t).unwrap();
        let t = b.take_free(&mut pb).unwrap();
        let t = a.put_free(&mut pa, t).unwrap_err();
        b.put_free(&mut pa, t).unwrap();
        assert_eq!((pa.available(), pb.available()), (9, 3));
        assert_eq!(pa.capacity() + pb.capacity(), 12);
        // a private arena's packet is not handed off
        let mut private = crate::buffer::Arena::new(1);
        let mut pp = private.pool();
        let p = pp.alloc().unwrap();
        let p = a.hand_off(p).unwrap_err();
        assert!(a.take_free(&mut pp).is_none());
        pp.free(p);
        assert_eq!(pp.available(), 1);
    }
}
