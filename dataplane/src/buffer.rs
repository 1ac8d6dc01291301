//! Packet buffers: one arena per worker, cut into fixed-size buffers with headroom, and
//! the [`Pkt`] handle that the nodes pass along.
//!
//! A [`Pkt<'p>`] borrows its buffer from the worker's [`Arena`] for `'p`, so a packet
//! cannot outlive the memory it lives in, nor cross into another worker's arena: the
//! borrow checker brands it (STYLE.md section 9). Buffers are recycled through the
//! [`Pool`]'s free list; nothing is allocated per packet.
//!
//! Workers that steer packets to each other use
//! [`SharedArena`](crate::backend::shared::SharedArena)s instead of [`Arena`]s: a packet
//! then crosses to another worker as its buffer's token, not as a copy. For that, a
//! buffer held by a [`Pkt`] or a [`Pool`] is always the one `&mut` that owns those
//! bytes, never a reborrow of another (nothing in this module makes one), which the
//! shared arena's token conversion relies on.

#![allow(
    clippy::cast_possible_truncation,
    reason = "BUF_SIZE (2048) bounds every offset and length, so u16 holds them"
)]

/// Bytes of one buffer (packet data plus headroom).
pub const BUF_SIZE: usize = 2048;
/// Distance between two buffers of an arena: [`BUF_SIZE`] and one cache line. With a
/// stride of 2 KiB the same offset of every buffer (the Ethernet header, the metadata
/// the nodes read) falls into 2 of the 64 sets of a 32 KiB 8-way L1: a pass over a
/// frame of 256 packets kept 16 of their header lines in L1 and missed on the rest, in
/// every node and in the steering owner read. The extra line moves each buffer one set
/// over.
pub const BUF_STRIDE: usize = BUF_SIZE + 64;
/// Bytes kept free in front of received data, for encapsulations (PPPoE 8, VLAN 8,
/// outer IPv4 + ESP 40+, Ethernet 14).
pub const HEADROOM: usize = 128;

/// Allocations ahead whose buffer [`Pool`] prefetches.
const ALLOC_PREFETCH: usize = 8;

/// Per-packet metadata, filled in by the nodes as the packet moves along.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Meta {
    /// The interface (backend port) the packet came in on.
    pub rx_if: u16,
    /// The interface it is to leave on.
    pub tx_if: u16,
    /// VLAN IDs, outermost first; `vlan_count` of them are valid.
    pub vlans: [u16; 2],
    /// How many VLAN tags were found (0..=2).
    pub vlan_count: u8,
    /// Offset of the network-layer header from the start of the packet data.
    pub l3_offset: u16,
    /// The ethertype after the VLAN tags.
    pub ethertype: u16,
    /// The subscriber session this packet belongs to (0: none yet).
    pub subscriber: u32,
    /// The adjacency (next hop) chosen by the FIB lookup.
    pub adjacency: u32,
}

impl Meta {
    /// The metadata of a packet just received: every field 0 (the same as
    /// `Meta::default()`, as one constant).
    pub const EMPTY: Self = Self {
        rx_if: 0,
        tx_if: 0,
        vlans: [0; 2],
        vlan_count: 0,
        l3_offset: 0,
        ethertype: 0,
        subscriber: 0,
        adjacency: 0,
    };
}

/// Copies `src` into `dst` (the same length): a frame of 32 to 64 bytes (a minimum-size
/// Ethernet frame) as two overlapping 32-byte copies inlined here, anything else by
/// `copy_from_slice` (a call to `memcpy`).
#[expect(
    clippy::inline_always,
    reason = "once per received packet: inlined, the copy is four loads and stores"
)]
#[inline(always)]
fn copy_short(dst: &mut [u8], src: &[u8]) {
    let n = src.len();
    if (32..=64).contains(&n) && dst.len() == n {
        if let (Some(d), Some(s)) = (dst.first_chunk_mut::<32>(), src.first_chunk::<32>()) {
            *d = *s;
        }
        if let (Some(d), Some(s)) = (dst.last_chunk_mut::<32>(), src.last_chunk::<32>()) {
            *d = *s;
        }
    } else if dst.len() == n {
        dst.copy_from_slice(src);
    }
}

/// The memory of one worker's buffers.
#[derive(Debug)]
pub struct Arena {
    mem: Vec<u8>,
}

impl Arena {
    /// An arena of `count` buffers of [`BUF_SIZE`] bytes, [`BUF_STRIDE`] apart.
    #[must_use]
    pub fn new(count: usize) -> Self {
        Self {
            mem: vec![0; count * BUF_STRIDE],
        }
    }

    /// Cuts the arena into a [`Pool`] of buffers borrowed for `'p`.
    pub fn pool(&mut self) -> Pool<'_> {
        let free: Vec<&mut [u8]> = self
            .mem
            .chunks_exact_mut(BUF_STRIDE)
            .map(|c| c.split_at_mut(BUF_SIZE).0)
            .collect();
        let capacity = free.len();
        Pool { free, capacity }
    }
}

/// The free list of a worker's buffers.
#[derive(Debug)]
pub struct Pool<'p> {
    free: Vec<&'p mut [u8]>,
    capacity: usize,
}

impl<'p> Pool<'p> {
    /// A packet holding a copy of `data` after [`HEADROOM`] bytes, or `None` if the
    /// pool is empty or `data` does not fit.
    #[inline]
    pub fn alloc_from(&mut self, data: &[u8]) -> Option<Pkt<'p>> {
        self.prefetch_ahead();
        let buf = self.free.pop()?;
        let Some(dst) = buf.get_mut(HEADROOM..HEADROOM + data.len()) else {
            self.free.push(buf);
            return None;
        };
        copy_short(dst, data);
        Some(Pkt {
            buf,
            start: HEADROOM as u16,
            len: data.len() as u16,
            meta: Meta::EMPTY,
        })
    }

    /// Receives a batch: appends to `rx` one packet per item of `frames` (a copy of
    /// it after [`HEADROOM`] bytes, as [`Pool::alloc_from`]), with `rx_if` set, and
    /// returns how many it appended: it stops at the first frame that does not fit or
    /// when the pool runs empty (the caller drops or retries the rest).
    #[inline]
    pub fn alloc_from_each<'d>(
        &mut self,
        frames: impl IntoIterator<Item = &'d [u8]>,
        rx_if: u16,
        rx: &mut Vec<Pkt<'p>>,
    ) -> usize {
        let before = rx.len();
        for data in frames {
            let Some(mut p) = self.alloc_from(data) else {
                break;
            };
            p.meta.rx_if = rx_if;
            rx.push(p);
        }
        rx.len() - before
    }

    /// An empty packet (length 0, start after the headroom), or `None` if the pool is empty.
    #[inline]
    pub fn alloc(&mut self) -> Option<Pkt<'p>> {
        self.prefetch_ahead();
        let buf = self.free.pop()?;
        Some(Pkt {
            buf,
            start: HEADROOM as u16,
            len: 0,
            meta: Meta::EMPTY,
        })
    }

    /// Returns a packet's buffer to the pool.
    #[inline]
    pub fn free(&mut self, p: Pkt<'p>) {
        let Pkt { buf, .. } = p;
        self.free.push(buf);
    }

    /// Returns every packet of `frame` to the pool, leaving it empty.
    #[inline]
    pub fn free_all(&mut self, frame: &mut Vec<Pkt<'p>>) {
        self.free.extend(frame.drain(..).map(|p| p.buf));
    }

    /// Prefetches, for writing, the first data line of the buffer that the
    /// [`ALLOC_PREFETCH`]th allocation from now takes: a received packet is written
    /// there, and under steering that buffer was last written by another worker's core
    /// (it paid it back), so without the hint each allocation waited for the transfer.
    #[inline]
    fn prefetch_ahead(&mut self) {
        // fewer than ALLOC_PREFETCH free: the index wraps past the end, no prefetch
        let i = self.free.len().wrapping_sub(ALLOC_PREFETCH);
        if let Some(b) = self.free.get_mut(i).and_then(|b| b.get_mut(HEADROOM)) {
            crate::backend::prefetch::prefetch_write(b);
        }
    }

    /// A pool of the given buffers (each the whole `&mut` that owns its bytes, see the
    /// module docs), all free.
    pub(crate) fn from_buffers(free: Vec<&'p mut [u8]>) -> Self {
        let capacity = free.len();
        Self { free, capacity }
    }

    /// Takes a free buffer out of the pool (it leaves the pool's ownership).
    #[inline]
    pub(crate) fn pop_buffer(&mut self) -> Option<&'p mut [u8]> {
        self.free.pop()
    }

    /// Puts a free buffer (the whole `&mut` that owns it) into the pool.
    #[inline]
    pub(crate) fn push_buffer(&mut self, buf: &'p mut [u8]) {
        self.free.push(buf);
    }

    /// Buffers available.
    #[must_use]
    pub fn available(&self) -> usize {
        self.free.len()
    }

    /// Buffers in the pool when full.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

/// One packet: a buffer from the worker's arena, the range of it that holds data, and
/// its metadata.
#[derive(Debug)]
pub struct Pkt<'p> {
    buf: &'p mut [u8],
    start: u16,
    len: u16,
    /// Metadata the nodes read and write.
    pub meta: Meta,
}

impl<'p> Pkt<'p> {
    /// The packet's parts: its buffer (the `&mut` that owns it), data start, length and
    /// metadata.
    #[inline]
    pub(crate) fn into_parts(self) -> (&'p mut [u8], u16, u16, Meta) {
        (self.buf, self.start, self.len, self.meta)
    }

    /// A packet from [`Pkt::into_parts`]'s parts (`buf` the whole `&mut` that owns the
    /// buffer). A start or length past the buffer gives an empty packet after the
    /// headroom.
    #[inline]
    pub(crate) fn from_parts(buf: &'p mut [u8], start: u16, len: u16, meta: Meta) -> Self {
        let fits = usize::from(start) + usize::from(len) <= buf.len();
        let (start, len) = if fits {
            (start, len)
        } else {
            (HEADROOM as u16, 0)
        };
        Self {
            buf,
            start,
            len,
            meta,
        }
    }

    /// The packet's bytes.
    #[must_use]
    #[inline]
    pub fn data(&self) -> &[u8] {
        let s = usize::from(self.start);
        self.buf.get(s..s + usize::from(self.len)).unwrap_or(&[])
    }

    /// The packet's bytes, writable.
    #[inline]
    pub fn data_mut(&mut self) -> &mut [u8] {
        let s = usize::from(self.start);
        self.buf
            .get_mut(s..s + usize::from(self.len))
            .unwrap_or(&mut [])
    }

    /// The first `N` bytes of the packet's data as a fixed-size view (a header read in
    /// place, bounds-checked once: every index into it is then checked at compile
    /// time), or `None` if the packet is shorter.
    #[must_use]
    #[inline]
    pub fn head<const N: usize>(&self) -> Option<&[u8; N]> {
        if N > usize::from(self.len) {
            return None;
        }
        self.buf.get(usize::from(self.start)..)?.first_chunk::<N>()
    }

    /// [`Pkt::head`], writable.
    #[inline]
    pub fn head_mut<const N: usize>(&mut self) -> Option<&mut [u8; N]> {
        if N > usize::from(self.len) {
            return None;
        }
        self.buf
            .get_mut(usize::from(self.start)..)?
            .first_chunk_mut::<N>()
    }

    /// [`Pkt::head_mut`] of the data from `off` bytes in (a header behind others that
    /// stay): `None` if the packet is shorter than `off + N`.
    #[inline]
    pub fn head_at_mut<const N: usize>(&mut self, off: usize) -> Option<&mut [u8; N]> {
        if off.checked_add(N)? > usize::from(self.len) {
            return None;
        }
        self.buf
            .get_mut(usize::from(self.start) + off..)?
            .first_chunk_mut::<N>()
    }

    /// Length in bytes.
    #[must_use]
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// True if the packet holds no bytes.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes free in front of the data.
    #[must_use]
    pub fn headroom(&self) -> usize {
        usize::from(self.start)
    }

    /// Bytes free after the data.
    #[must_use]
    pub fn tailroom(&self) -> usize {
        self.buf.len() - usize::from(self.start) - usize::from(self.len)
    }

    /// Grows the packet by `n` bytes at the front (into the headroom) and returns them
    /// for the caller to fill; `None` if the headroom is too small.
    pub fn push_front(&mut self, n: usize) -> Option<&mut [u8]> {
        let n16 = u16::try_from(n).ok().filter(|&n| n <= self.start)?;
        self.start -= n16;
        self.len += n16;
        let s = usize::from(self.start);
        self.buf.get_mut(s..s + n)
    }

    /// Removes `n` bytes from the front; `false` if the packet is shorter.
    pub fn pull_front(&mut self, n: usize) -> bool {
        match u16::try_from(n) {
            Ok(n) if n <= self.len => {
                self.start += n;
                self.len -= n;
                true
            }
            _ => false,
        }
    }

    /// Keeps the `len` bytes of the data that start `off` bytes in (a decapsulation:
    /// the outer headers and the trailing padding go at once); `false`, the packet
    /// unchanged, if they are not all within the data. One check where
    /// [`Pkt::pull_front`] then [`Pkt::set_len`] make two.
    #[inline]
    pub fn narrow(&mut self, off: usize, len: usize) -> bool {
        match off.checked_add(len) {
            Some(end) if end <= usize::from(self.len) => {
                // both below self.len, a u16
                self.start += off as u16;
                self.len = len as u16;
                true
            }
            _ => false,
        }
    }

    /// Sets the length (growing into the tailroom or truncating); `false` if it does
    /// not fit.
    pub fn set_len(&mut self, len: usize) -> bool {
        if len > self.buf.len() - usize::from(self.start) {
            return false;
        }
        self.len = len as u16;
        true
    }

    /// Replaces the data with `data` (after the default headroom); `false` if too long.
    pub fn set_data(&mut self, data: &[u8]) -> bool {
        let Some(dst) = self.buf.get_mut(HEADROOM..HEADROOM + data.len()) else {
            return false;
        };
        dst.copy_from_slice(data);
        self.start = HEADROOM as u16;
        self.len = data.len() as u16;
        true
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests")]
    use super::*;

    #[test]
    fn headroom_push_pull_and_recycling() {
        let mut arena = Arena::new(2);
        let mut pool = arena.pool();
        let mut p = pool.alloc_from(&[1, 2, 3]).unwrap();
        assert_eq!(p.data(), &[1, 2, 3]);
        assert_eq!(p.headroom(), HEADROOM);
        p.push_front(2).unwrap().copy_from_slice(&[8, 9]);
        assert_eq!(p.data(), &[8, 9, 1, 2, 3]);
        assert!(p.pull_front(4));
        assert_eq!(p.data(), &[3]);
        assert!(!p.pull_front(2));
        assert!(p.push_front(HEADROOM + 10).is_none());
        let q = pool.alloc().unwrap();
        assert!(pool.alloc().is_none(), "two buffers only");
        pool.free(p);
        pool.free(q);
        assert_eq!(pool.available(), 2);
        assert!(
            pool.alloc_from(&[0; BUF_SIZE]).is_none(),
            "too large for one buffer"
        );
    }

    #[test]
    fn alloc_from_copies_every_length_and_alloc_from_each_stops_when_empty() {
        let mut arena = Arena::new(4);
        let mut pool = arena.pool();
        let src: Vec<u8> = (0..=255).collect();
        for n in 0..=src.len() {
            let p = pool.alloc_from(&src[..n]).unwrap();
            assert_eq!(p.data(), &src[..n], "length {n}");
            assert_eq!(p.meta, Meta::default());
            pool.free(p);
        }
        assert!(pool.alloc_from(&[0; BUF_SIZE - HEADROOM + 1]).is_none());
        assert_eq!(
            pool.available(),
            4,
            "a frame that does not fit keeps its buffer"
        );
        let mut rx = Vec::new();
        let frames = [&src[..60], &src[..1], &src[3..40]];
        assert_eq!(pool.alloc_from_each(frames, 7, &mut rx), 3);
        assert_eq!(pool.alloc_from_each(frames, 8, &mut rx), 1, "pool empty");
        let got: Vec<(&[u8], u16)> = rx.iter().map(|p| (p.data(), p.meta.rx_if)).collect();
        assert_eq!(
            got,
            [
                (&src[..60], 7),
                (&src[..1], 7),
                (&src[3..40], 7),
                (&src[..60], 8)
            ]
        );
        let mut p = rx.pop().unwrap();
        assert_eq!(p.head::<60>(), src.first_chunk::<60>());
        assert!(p.head::<61>().is_none(), "past the data");
        assert!(p.pull_front(10));
        p.head_mut::<2>().unwrap().copy_from_slice(&[0xaa, 0xbb]);
        assert_eq!(&p.data()[..3], &[0xaa, 0xbb, 12]);
        assert_eq!(p.head::<50>().map(|h| h.len()), Some(50));
        assert!(p.head::<51>().is_none());
        assert_eq!(p.head_at_mut::<3>(47).map(|h| *h), Some([57, 58, 59]));
        assert!(p.head_at_mut::<3>(48).is_none(), "past the data");
        assert!(p.head_at_mut::<3>(usize::MAX).is_none(), "overflow");
        assert!(!p.narrow(40, 11), "past the data");
        assert!(!p.narrow(usize::MAX, 2), "overflow");
        assert_eq!(p.len(), 50);
        assert!(p.narrow(2, 3));
        assert_eq!(p.data(), &[12, 13, 14]);
        assert!(p.narrow(3, 0));
        assert!(p.is_empty());
        pool.free(p);
        pool.free_all(&mut rx);
        assert_eq!(pool.available(), 4);
    }
}
