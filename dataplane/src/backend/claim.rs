//! Steering at the queue: one receive queue read by every worker, each taking only the
//! packets of the subscribers it owns.
//!
//! A NIC cannot RSS-hash PPPoE (nor, usefully, IPoE by subscriber), so every access
//! frame arrives on one queue: accel-ppp's single-core limitation. The mesh of
//! [`Steering`](crate::worker::Steering) lets one worker receive that queue and pass
//! other workers' packets on; that worker then pays the receive and a steering step
//! for every packet, and the owner pays again to take a packet from another core
//! (BENCHMARKS.md, sessions 4-5: the pair stays near one worker's rate).
//!
//! Here instead every worker reads the queue itself: it looks at each frame's first
//! 26 bytes ([`access_owner`]: the source MAC and PPPoE session id, hashed as the
//! control plane places the session) and copies into its own pool only the frames it
//! owns; the others it passes over. Nothing crosses between the workers' cores but the
//! queue's own lines, which both only read. Each worker pays the owner's few
//! instructions for every frame of the queue and receives only its share: with two
//! workers, about half of the receive and the graph each.
//!
//! [`ClaimQueue`] is the in-memory queue (a UMEM-like area of 2 KiB slots, read like
//! a received ring; the tests and benches replay it) and [`ClaimPort`] one worker's
//! [`Backend`] over it. A claimed port needs no [`Steering`](crate::worker::Steering)
//! for what it receives: every packet it delivers belongs to its worker.

use std::net::Ipv4Addr;
use std::sync::Arc;

use super::Backend;
use super::prefetch::prefetch_read;
#[cfg(test)]
use crate::bng::steer_hash;
use crate::bng::{steer_key_hash, worker_of};
use crate::buffer::{BUF_STRIDE, Pool};
use crate::graph::{FRAME_SIZE, Frame};
use crate::worker::{place, pool_owner};

/// Bytes from one slot of a [`ClaimQueue`] to the next: a UMEM frame's 2 KiB and a
/// cache line, as the worker pools' [`BUF_STRIDE`] (2 KiB apart, the same offset of
/// every slot falls into 2 of the L1's 64 sets: measured by `claim_cost`, ~2-3 ns per
/// frame more).
pub const SLOT: usize = BUF_STRIDE;
/// Where a frame starts in its slot (the kernel's `XDP_PACKET_HEADROOM`).
pub const SLOT_HEADROOM: usize = 256;
/// Frames ahead whose first line is prefetched while a port scans the queue.
const SCAN_AHEAD: usize = 8;
/// Frames a port looks at per [`Backend::rx_burst`] at most (so a worker whose share
/// of a burst is small still returns to its loop).
const SCAN_MAX: usize = 4 * FRAME_SIZE;
/// Frames whose owners are found in one pass before the port's are copied.
const CHUNK: usize = 64;

/// The worker of `workers` that owns an access-port frame: the hash of its source MAC
/// and PPPoE session id ([`steer_hash`](crate::bng::steer_hash), the function the control plane places the
/// session by, [`SessionConfig::worker`](crate::bng::SessionConfig::worker)), placed by
/// `shares` ([`place`]) or equally ([`worker_of`]) when `shares` is empty. The session
/// id follows up to two VLAN tags (RFC 2516 section 4 after IEEE 802.1Q / 802.1ad) and
/// counts only for PPPoE session frames (ethertype 0x8864): discovery and IPoE go by
/// the MAC alone. `None` for a frame shorter than an Ethernet header.
#[must_use]
#[inline]
pub fn access_owner(d: &[u8], workers: usize, shares: &[u32]) -> Option<usize> {
    let mut pad = [0u8; 26];
    let h: &[u8; 26] = match d.first_chunk::<26>() {
        Some(h) => h,
        None if d.len() < 14 => return None,
        None => {
            for (dst, src) in pad.iter_mut().zip(d) {
                *dst = *src;
            }
            &pad
        }
    };
    // loads at fixed offsets within the first 26 bytes, no walk: the source MAC with
    // the first ethertype (bytes 6..14), then the tags' ethertypes and session ids
    let be16 = |at: usize| {
        h.get(at..at + 2)
            .and_then(<[u8]>::first_chunk::<2>)
            .map_or(0, |b| u16::from_be_bytes(*b))
    };
    let mac_et = h
        .get(6..14)
        .and_then(<[u8]>::first_chunk::<8>)
        .map_or(0, |b| u64::from_be_bytes(*b));
    let is_tag = |t: u16| matches!(t, 0x8100 | 0x88a8 | 0x9100);
    let et0 = (mac_et & 0xffff) as u16;
    let (et, sid) = if is_tag(et0) {
        if is_tag(be16(16)) {
            (be16(20), be16(24))
        } else {
            (be16(16), be16(20))
        }
    } else {
        (et0, be16(16))
    };
    // PPPoE discovery is not placed by session id (PADI/PADR carry 0): the control
    // plane owns it; the PADS assigns a session id whose owner is where its data goes.
    // IPoE: the MAC alone.
    let sid = if et == 0x8864 { sid } else { 0 };
    let hash = steer_key_hash((mac_et & !0xffff) | u64::from(sid));
    Some(if shares.is_empty() {
        worker_of(hash, workers)
    } else {
        place(hash, shares)
    })
}

/// The worker of `workers` that owns a frame from the upstream port: an IPv4 packet
/// (after up to two VLAN tags) to an address of the NAT44 pool of `pool_len` addresses
/// from `pool_first` goes to the worker whose slice holds it
/// ([`pool_slice`](crate::worker::pool_slice) /
/// [`pool_owner`](crate::worker::pool_owner)), as the `Steering` mesh places it.
/// `None` for anything else (ARP, public subscriber addresses, ESP: the mesh's).
#[must_use]
#[inline]
pub fn upstream_owner(d: &[u8], workers: usize, pool_first: u32, pool_len: u32) -> Option<usize> {
    let dst = ipv4_after_tags(d)?
        .get(16..)
        .and_then(<[u8]>::first_chunk::<4>)
        .map(|b| u32::from_be_bytes(*b))?;
    let off = dst.wrapping_sub(pool_first);
    (off < pool_len).then(|| pool_owner(off, pool_len, workers))
}

/// The IPv4 packet of an Ethernet frame (ethertype 0x0800 after up to two VLAN tags,
/// as `ethernet-input` reads them), from its header on; `None` for anything else.
#[must_use]
#[inline]
pub fn ipv4_after_tags(d: &[u8]) -> Option<&[u8]> {
    let be16 = |at: usize| {
        d.get(at..at + 2)
            .and_then(<[u8]>::first_chunk::<2>)
            .map(|b| u16::from_be_bytes(*b))
    };
    let is_tag = |t: u16| matches!(t, 0x8100 | 0x88a8 | 0x9100);
    let mut at = 12;
    let mut et = be16(at)?;
    for _ in 0..2 {
        if !is_tag(et) {
            break;
        }
        at += 4;
        et = be16(at)?;
    }
    (et == 0x0800).then(|| d.get(at + 2..)).flatten()
}

/// Which frames of a shared queue one worker takes: those its rule's owner function
/// gives it ([`access_owner`] for an access port, [`upstream_owner`] for the upstream
/// port). Frames with no owner go to worker 0, so exactly one worker takes every frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    me: usize,
    workers: usize,
    rule: Rule,
}

/// Whose frames a [`Claim`] looks for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Rule {
    /// An access port's: by subscriber, placed equally or by shares.
    Access { shares: Vec<u32> },
    /// The upstream port's: by the NAT44 pool slice of the destination.
    Upstream { pool_first: u32, pool_len: u32 },
}

impl Claim {
    /// Worker `me` of `workers` on an access port, placed equally, or by `shares` (one
    /// per worker, as given to
    /// [`Control::set_shares`](crate::control::Control::set_shares); any other length is
    /// ignored and the placement is equal).
    #[must_use]
    pub fn new(me: usize, workers: usize, shares: &[u32]) -> Self {
        let workers = workers.max(1);
        Self {
            me,
            workers,
            rule: Rule::Access {
                shares: if shares.len() == workers {
                    shares.to_vec()
                } else {
                    Vec::new()
                },
            },
        }
    }

    /// Worker `me` of `workers` on the upstream port, whose NAT44 pool is `pool_len`
    /// addresses from `pool_first` (each worker translating into its
    /// [`pool_slice`](crate::worker::pool_slice)).
    #[must_use]
    pub fn upstream(me: usize, workers: usize, pool_first: Ipv4Addr, pool_len: u32) -> Self {
        Self {
            me,
            workers: workers.max(1),
            rule: Rule::Upstream {
                pool_first: u32::from(pool_first),
                pool_len,
            },
        }
    }

    /// The worker this claim is for.
    #[must_use]
    pub fn me(&self) -> usize {
        self.me
    }

    /// Whether `claims` are one placement's, one per worker: the same workers and
    /// rule, and each worker once (then every frame is taken by exactly one of them).
    #[must_use]
    pub fn cover(claims: &[Self]) -> bool {
        let Some(first) = claims.first() else {
            return false;
        };
        let mut seen = vec![false; first.workers];
        claims.len() == first.workers
            && claims.iter().all(|c| {
                c.workers == first.workers
                    && c.rule == first.rule
                    && seen
                        .get_mut(c.me)
                        .is_some_and(|s| !std::mem::replace(s, true))
            })
    }

    /// The worker that takes the frame `d`.
    #[must_use]
    #[inline]
    pub fn owner(&self, d: &[u8]) -> usize {
        match &self.rule {
            Rule::Access { shares } => access_owner(d, self.workers, shares),
            Rule::Upstream {
                pool_first,
                pool_len,
            } => upstream_owner(d, self.workers, *pool_first, *pool_len),
        }
        .unwrap_or(0)
    }

    /// Whether this worker takes the frame `d` (a lone worker takes every frame
    /// without looking).
    #[must_use]
    #[inline]
    pub fn takes(&self, d: &[u8]) -> bool {
        self.workers == 1 || self.owner(d) == self.me
    }
}

/// A received queue in memory that several workers read ([`ClaimPort`]): frames in
/// [`SLOT`]-byte slots at [`SLOT_HEADROOM`], as a UMEM holds them, read in order and
/// from the start again after the last (a replay: the tests and benches stream the
/// same frames for as many packets as they ask).
#[derive(Debug)]
pub struct ClaimQueue {
    area: Box<[u8]>,
    lens: Box<[u16]>,
}

impl ClaimQueue {
    /// A queue holding `frames` (each cut to the slot's room after the headroom).
    #[must_use]
    pub fn new<'a>(frames: impl IntoIterator<Item = &'a [u8]>) -> Arc<Self> {
        let frames: Vec<&[u8]> = frames.into_iter().collect();
        let mut area = vec![0u8; frames.len().max(1) * SLOT].into_boxed_slice();
        let mut lens = Vec::with_capacity(frames.len());
        for (slot, f) in area.chunks_exact_mut(SLOT).zip(&frames) {
            let n = f.len().min(SLOT - SLOT_HEADROOM);
            if let (Some(dst), Some(src)) =
                (slot.get_mut(SLOT_HEADROOM..SLOT_HEADROOM + n), f.get(..n))
            {
                dst.copy_from_slice(src);
            }
            lens.push(u16::try_from(n).unwrap_or(0));
        }
        Arc::new(Self {
            area,
            lens: lens.into_boxed_slice(),
        })
    }

    /// Frames in the queue.
    #[must_use]
    pub fn len(&self) -> usize {
        self.lens.len()
    }

    /// Whether the queue holds no frame.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.lens.is_empty()
    }

    /// Frame `i` (empty past the end).
    #[inline]
    fn frame(&self, i: usize) -> &[u8] {
        let n = usize::from(self.lens.get(i).copied().unwrap_or(0));
        let at = i * SLOT + SLOT_HEADROOM;
        self.area.get(at..at + n).unwrap_or_default()
    }

    /// The first line of frame `i`, for a prefetch.
    #[inline]
    fn head(&self, i: usize) -> Option<&u8> {
        self.area.get(i * SLOT + SLOT_HEADROOM)
    }
}

/// One worker's port over a [`ClaimQueue`]: it reads the queue's next `packets`
/// frames and receives those its [`Claim`] takes (a copy into the worker's pool, as a
/// copy-mode backend's RX); what the graph transmits is counted and freed.
#[derive(Debug)]
pub struct ClaimPort {
    queue: Arc<ClaimQueue>,
    claim: Claim,
    next: usize,
    remaining: u64,
    /// Frames of the queue this port passed over (another worker's).
    pub passed: u64,
    /// Frames it received.
    pub taken: u64,
    /// Packets transmitted on it.
    pub sent: u64,
}

impl ClaimPort {
    /// Worker `claim`'s port over `queue`, reading `packets` frames of it (all
    /// workers' ports over one queue read the same frames).
    #[must_use]
    pub fn new(queue: Arc<ClaimQueue>, claim: Claim, packets: u64) -> Self {
        Self {
            queue,
            claim,
            next: 0,
            remaining: packets,
            passed: 0,
            taken: 0,
            sent: 0,
        }
    }

    /// Frames of the queue still to read.
    #[must_use]
    pub fn remaining(&self) -> u64 {
        self.remaining
    }
}

impl Backend for ClaimPort {
    fn rx_burst<'p>(&mut self, pool: &mut Pool<'p>, out: &mut Frame<'p>) -> usize {
        let queue = &*self.queue;
        let len = queue.len();
        if len == 0 {
            return 0;
        }
        let (mut got, mut scanned) = (0, 0);
        // in chunks: first the owner of each frame, with no branch on it (whether a
        // frame is ours is a coin toss a branch predictor cannot learn), then only
        // ours copied in
        let mut mine = [0u32; CHUNK];
        while self.remaining > 0 && out.len() < FRAME_SIZE && scanned < SCAN_MAX {
            let chunk = CHUNK
                .min(usize::try_from(self.remaining).unwrap_or(CHUNK))
                .min(SCAN_MAX - scanned);
            let (mut pos, mut ours, got_before) = (self.next, 0usize, got);
            for j in 0..chunk {
                let mut ahead = pos + SCAN_AHEAD;
                if ahead >= len {
                    ahead -= len;
                }
                if let Some(h) = queue.head(ahead) {
                    prefetch_read(h);
                }
                if let Some(m) = mine.get_mut(ours) {
                    *m = u32::try_from(j).unwrap_or(u32::MAX);
                }
                ours += usize::from(self.claim.takes(queue.frame(pos)));
                pos += 1;
                if pos == len {
                    pos = 0;
                }
            }
            // frames of the chunk read: all, or up to the one the frame or the pool
            // had no room for (read again next time)
            let mut done = chunk;
            for &j in mine.get(..ours).unwrap_or_default() {
                let j = j as usize;
                let mut at = self.next + j;
                while at >= len {
                    at -= len;
                }
                let packet = if out.len() < FRAME_SIZE {
                    pool.alloc_from(queue.frame(at))
                } else {
                    None
                };
                let Some(packet) = packet else {
                    done = j;
                    break;
                };
                out.push(packet);
                got += 1;
            }
            self.passed += (done - (got - got_before)) as u64;
            self.remaining -= done as u64;
            scanned += done;
            self.next += done;
            while self.next >= len {
                self.next -= len;
            }
            if done < chunk {
                break;
            }
        }
        self.taken += got as u64;
        got
    }

    fn tx_burst<'p>(&mut self, pool: &mut Pool<'p>, frame: &mut Frame<'p>) -> usize {
        let n = frame.len();
        self.sent += n as u64;
        pool.free_all(frame);
        n
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests")]

    use super::*;
    use crate::buffer::Arena;
    use crate::graph::new_frame;

    fn pppoe(mac_low: u8, sid: u16, tags: &[u16]) -> Vec<u8> {
        let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0xaa, 0, 0, 0, mac_low];
        for t in tags {
            f.extend_from_slice(&t.to_be_bytes());
            f.extend_from_slice(&[0, 7]);
        }
        f.extend_from_slice(&[0x88, 0x64, 0x11, 0]);
        f.extend_from_slice(&sid.to_be_bytes());
        f.extend_from_slice(&[0, 2, 0, 0x21]);
        f.resize(64, 0);
        f
    }

    #[test]
    fn owner_is_the_control_planes_placement_through_vlan_tags() {
        for i in 0..200u8 {
            let sid = u16::from(i) * 7 + 1;
            let want = worker_of(steer_hash([2, 0xaa, 0, 0, 0, i], sid), 3);
            for tags in [&[][..], &[0x8100], &[0x88a8, 0x8100]] {
                assert_eq!(access_owner(&pppoe(i, sid, tags), 3, &[]), Some(want));
            }
        }
        // discovery (0x8863) and IPoE by the MAC alone
        let mut d = pppoe(9, 77, &[]);
        d[13] = 0x63;
        let mac_only = worker_of(steer_hash([2, 0xaa, 0, 0, 0, 9], 0), 4);
        assert_eq!(access_owner(&d, 4, &[]), Some(mac_only));
        assert_eq!(access_owner(&d[..13], 4, &[]), None);
        assert!(access_owner(&d[..14], 4, &[]).is_some());
    }

    #[test]
    fn upstream_owner_is_the_pool_slice() {
        use crate::worker::pool_slice;
        let first = Ipv4Addr::new(203, 0, 113, 0);
        let ip4 = |dst: [u8; 4], tags: &[u16]| {
            let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0xcc, 0, 0, 0, 1];
            for t in tags {
                f.extend_from_slice(&t.to_be_bytes());
                f.extend_from_slice(&[0, 7]);
            }
            f.extend_from_slice(&[0x08, 0x00, 0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0]);
            f.extend_from_slice(&[198, 51, 100, 2]);
            f.extend_from_slice(&dst);
            f.resize(f.len() + 8, 0);
            f
        };
        for workers in 1..5 {
            for k in 0..11u8 {
                let want = (0..workers)
                    .find(|&w| {
                        let (a, n) = pool_slice(first, 11, w, workers);
                        let off = u32::from(k);
                        let a = u32::from(a) - u32::from(first);
                        off >= a && off < a + n
                    })
                    .unwrap();
                for tags in [&[][..], &[0x8100], &[0x88a8, 0x8100]] {
                    let f = ip4([203, 0, 113, k], tags);
                    assert_eq!(
                        upstream_owner(&f, workers, u32::from(first), 11),
                        Some(want)
                    );
                    let c = Claim::upstream(want, workers, first, 11);
                    assert!(c.takes(&f));
                }
            }
            // outside the pool, not IPv4, truncated: no owner (worker 0 takes them)
            assert_eq!(
                upstream_owner(&ip4([203, 0, 113, 11], &[]), workers, u32::from(first), 11),
                None
            );
            let mut arp = ip4([203, 0, 113, 1], &[]);
            arp[12..14].copy_from_slice(&[0x08, 0x06]);
            assert_eq!(upstream_owner(&arp, workers, u32::from(first), 11), None);
            assert_eq!(
                upstream_owner(&arp[..20], workers, u32::from(first), 11),
                None
            );
            assert!(Claim::upstream(0, workers, first, 11).takes(&arp));
        }
        assert!(!Claim::cover(&[
            Claim::upstream(0, 2, first, 11),
            Claim::new(1, 2, &[])
        ]));
        assert!(Claim::cover(&[
            Claim::upstream(0, 2, first, 11),
            Claim::upstream(1, 2, first, 11)
        ]));
    }

    #[test]
    fn every_frame_is_taken_by_exactly_one_worker() {
        let frames: Vec<Vec<u8>> = (0..300u16)
            .map(|i| pppoe(u8::try_from(i % 256).unwrap(), i + 1, &[]))
            .chain([vec![1, 2, 3]])
            .collect();
        let q = ClaimQueue::new(frames.iter().map(Vec::as_slice));
        let shares = [1u32, 3];
        let mut got = Vec::new();
        for w in 0..2 {
            let mut arena = Arena::new(1024);
            let mut pool = arena.pool();
            let mut port = ClaimPort::new(Arc::clone(&q), Claim::new(w, 2, &shares), 602);
            let mut out = new_frame();
            let mut mine = Vec::new();
            while port.remaining() > 0 {
                port.rx_burst(&mut pool, &mut out);
                mine.extend(out.iter().map(|p| p.data().to_vec()));
                pool.free_all(&mut out);
            }
            assert_eq!(port.taken + port.passed, 602);
            got.push(mine);
        }
        let mut all: Vec<Vec<u8>> = got.concat();
        assert_eq!(all.len(), 602);
        all.sort();
        let mut want: Vec<Vec<u8>> = frames.iter().chain(&frames).cloned().collect();
        want.sort();
        assert_eq!(all, want);
        // weighted: worker 0 owns about a quarter
        assert!(
            got[0].len() > 602 / 8 && got[0].len() < 602 * 3 / 8,
            "{}",
            got[0].len()
        );
    }
}
