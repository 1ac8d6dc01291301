//! Building blocks of the session table over caller storage: a seeded
//! non-cryptographic hash, an open-addressing index (linear probing with
//! backward-shift deletion, so no tombstones accumulate), and a slab with a free list.
//!
//! An index slot is a `u64`: the high 32 bits are a hash of the key (they pick the
//! home slot and act as a tag, so most probes never touch the entry), the low 32 bits
//! are the entry number plus one (0 means empty). The caller sizes every index as a
//! power of two larger than the number of keys it can hold, so a probe always ends
//! on an empty slot; at a load of one half a lookup reads about 1.5 slots.

#![allow(
    clippy::cast_possible_truncation,
    reason = "hash bits and slot fields are truncated on purpose"
)]

/// The multiplier of the folded multiply (the 64-bit golden ratio).
const K1: u64 = 0x9e37_79b9_7f4a_7c15;
const K2: u64 = 0xc2b2_ae3d_27d4_eb4f;

/// Folded multiply: the xor of the high and low halves of the 128-bit product (the
/// core of foldhash and wyhash).
#[inline]
const fn fold_mul(a: u64, b: u64) -> u64 {
    let p = (a as u128) * (b as u128);
    (p as u64) ^ ((p >> 64) as u64)
}

/// Hashes a key of up to 128 bits (`lo`, `hi`) with the caller's seed.
#[inline]
#[must_use]
pub(crate) const fn hash(seed: u64, lo: u64, hi: u64) -> u64 {
    fold_mul(lo ^ seed ^ K2, hi ^ K1 ^ seed.rotate_left(29)).wrapping_mul(K1)
}

/// An open-addressing index over a caller slice of `u64` slots.
#[derive(Debug)]
pub(crate) struct Index<'a> {
    slots: &'a mut [u64],
    mask: usize,
}

#[inline]
const fn tag(h: u64) -> u64 {
    h >> 32
}

impl<'a> Index<'a> {
    /// Takes (and clears) the slots; `slots.len()` must be a power of two.
    pub(crate) fn new(slots: &'a mut [u64]) -> Option<Self> {
        if !slots.len().is_power_of_two() || slots.len() > (1 << 32) {
            return None;
        }
        slots.fill(0);
        let mask = slots.len() - 1;
        Some(Self { slots, mask })
    }

    pub(crate) const fn capacity(&self) -> usize {
        self.slots.len()
    }

    #[inline]
    const fn home(&self, t: u64) -> usize {
        (t as usize) & self.mask
    }

    /// The home slot of `h` itself (for a caller's prefetch).
    #[inline]
    pub(crate) fn home_ref(&self, h: u64) -> Option<&u64> {
        self.slots.get(self.home(tag(h)))
    }

    /// Reads the home slot of `h` (for the batch path, to start the cache miss early).
    #[inline]
    pub(crate) fn touch(&self, h: u64) -> u64 {
        self.slots.get(self.home(tag(h))).copied().unwrap_or(0)
    }

    /// The entry whose key hashes to `h` and satisfies `eq`.
    #[inline(always)]
    #[allow(
        clippy::inline_always,
        reason = "hot path: inlined into the caller's per-packet loop"
    )]
    pub(crate) fn find(&self, h: u64, mut eq: impl FnMut(u32) -> bool) -> Option<u32> {
        let t = tag(h);
        let mut i = self.home(t);
        for _ in 0..self.slots.len() {
            let s = *self.slots.get(i)?;
            if s == 0 {
                return None;
            }
            if s >> 32 == t {
                let idx = (s as u32).wrapping_sub(1);
                if eq(idx) {
                    return Some(idx);
                }
            }
            i = (i + 1) & self.mask;
        }
        None
    }

    /// Adds entry `idx` under hash `h`. The caller guarantees room (fewer keys than
    /// slots); returns false if, against that, the index is full.
    pub(crate) fn insert(&mut self, h: u64, idx: u32) -> bool {
        let t = tag(h);
        let mut i = self.home(t);
        for _ in 0..self.slots.len() {
            let Some(s) = self.slots.get_mut(i) else {
                return false;
            };
            if *s == 0 {
                *s = (t << 32) | u64::from(idx.wrapping_add(1));
                return true;
            }
            i = (i + 1) & self.mask;
        }
        false
    }

    /// Removes the slot of entry `idx` under hash `h`, shifting later slots of the
    /// same probe run back (Knuth's algorithm R), so lookups stay short.
    pub(crate) fn remove(&mut self, h: u64, idx: u32) -> bool {
        let want = (tag(h) << 32) | u64::from(idx.wrapping_add(1));
        let mut i = self.home(tag(h));
        let mut found = false;
        for _ in 0..self.slots.len() {
            match self.slots.get(i) {
                Some(&s) if s == want => {
                    found = true;
                    break;
                }
                Some(&0) | None => return false,
                Some(_) => i = (i + 1) & self.mask,
            }
        }
        if !found {
            return false;
        }
        let mut j = i;
        loop {
            j = (j + 1) & self.mask;
            let s = self.slots.get(j).copied().unwrap_or(0);
            if s == 0 || j == i {
                break;
            }
            let home = self.home(s >> 32);
            // The entry at j may move to the hole at i unless its home lies
            // cyclically in (i, j].
            if (j.wrapping_sub(home) & self.mask) >= (j.wrapping_sub(i) & self.mask) {
                if let Some(d) = self.slots.get_mut(i) {
                    *d = s;
                }
                i = j;
            }
        }
        if let Some(d) = self.slots.get_mut(i) {
            *d = 0;
        }
        true
    }
}

/// Marker for "no entry" in the `u32` links of the slabs.
pub(crate) const NIL: u32 = u32::MAX;

/// An entry of a [`Slab`]: it knows whether it is in use and carries the link the
/// free list uses.
pub(crate) trait Slot: Copy {
    const EMPTY: Self;
    fn in_use(&self) -> bool;
    fn link(&self) -> u32;
    fn set_link(&mut self, next: u32);
}

/// Fixed-capacity storage of entries over a caller slice, with a free list.
#[derive(Debug)]
pub(crate) struct Slab<'a, T> {
    pub(crate) items: &'a mut [T],
    free: u32,
    /// Entries never used yet start here (so `new` does not build a list).
    fresh: u32,
    pub(crate) used: u32,
}

impl<'a, T: Slot> Slab<'a, T> {
    pub(crate) fn new(items: &'a mut [T]) -> Option<Self> {
        if items.len() >= NIL as usize {
            return None;
        }
        items.fill(T::EMPTY);
        Some(Self {
            items,
            free: NIL,
            fresh: 0,
            used: 0,
        })
    }

    pub(crate) fn is_full(&self) -> bool {
        self.free == NIL && self.fresh as usize >= self.items.len()
    }

    /// Takes a free entry and writes `v` there.
    pub(crate) fn alloc(&mut self, v: T) -> Option<u32> {
        let idx = if self.free == NIL {
            if self.fresh as usize >= self.items.len() {
                return None;
            }
            self.fresh += 1;
            self.fresh - 1
        } else {
            let i = self.free;
            self.free = self.items.get(i as usize).map_or(NIL, Slot::link);
            i
        };
        *self.items.get_mut(idx as usize)? = v;
        self.used += 1;
        Some(idx)
    }

    pub(crate) fn free(&mut self, idx: u32) {
        if let Some(e) = self.items.get_mut(idx as usize) {
            if e.in_use() {
                *e = T::EMPTY;
                e.set_link(self.free);
                self.free = idx;
                self.used -= 1;
            }
        }
    }

    pub(crate) fn get(&self, idx: u32) -> Option<&T> {
        self.items.get(idx as usize)
    }

    pub(crate) fn get_mut(&mut self, idx: u32) -> Option<&mut T> {
        self.items.get_mut(idx as usize)
    }

    /// Entries ever handed out (the sweep walks `0..high_water`).
    pub(crate) const fn high_water(&self) -> u32 {
        self.fresh
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::indexing_slicing, clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn index_insert_find_remove_under_collisions() {
        let mut slots = [0u64; 16];
        let mut ix = Index::new(&mut slots).unwrap();
        // Hashes chosen so that several share a home slot and runs wrap around.
        let hs: [u64; 12] = [
            15 << 32,
            (15 << 32) | 1,
            (16 + 15) << 32,
            14 << 32,
            0,
            1 << 32,
            (15 + 32) << 32,
            3 << 32,
            2 << 32,
            (2 + 16) << 32,
            7 << 32,
            (7 + 64) << 32,
        ];
        for (i, &h) in hs.iter().enumerate() {
            assert!(ix.insert(h, i as u32));
        }
        for (i, &h) in hs.iter().enumerate() {
            assert_eq!(ix.find(h, |x| x == i as u32), Some(i as u32));
        }
        for k in [0usize, 3, 6, 1, 9] {
            assert!(ix.remove(hs[k], k as u32));
            assert!(!ix.remove(hs[k], k as u32));
            for (i, &h) in hs.iter().enumerate() {
                let present = ![0usize, 3, 6, 1, 9]
                    [..=[0usize, 3, 6, 1, 9].iter().position(|&x| x == k).unwrap()]
                    .contains(&i);
                assert_eq!(ix.find(h, |x| x == i as u32).is_some(), present, "{k} {i}");
            }
        }
    }
}
