//! Workers: N threads, each running one [`Bng`] to completion over its own arena,
//! buffer pool, tables and backend ports, with software steering of subscribers to
//! workers when the NIC cannot spread them (RSS does not hash PPPoE: accel-ppp's
//! single-core limitation).
//!
//! Steering: every packet a worker receives is given an owner
//! ([`Steering::owner`], a few loads at fixed offsets): from an access port, the hash
//! of (source MAC, PPPoE session id) ([`steer_hash`](crate::bng::steer_hash), the same function the control
//! plane uses to place the session,
//! [`SessionConfig::worker`](crate::bng::SessionConfig::worker)); from the upstream
//! port, the worker whose slice of the NAT44 pool holds the destination (each worker
//! translates into its own pool slice, [`pool_slice`]) or, for a public subscriber
//! address, the owner the control plane announced ([`Command::SteerAddress`], kept
//! per worker, [`Steering::set_address`]); downstream ESP (IP protocol 50, or UDP 4500
//! with a non-zero SPI) to the worker holding its inbound SA, which that worker
//! announces in the mesh as it applies [`Command::AddTunnel`] (and withdraws on
//! [`Command::RemoveTunnel`] or a rekey), [`SPI_SLOTS`] SPIs at most.
//!
//! Packets of another worker cross in a [`Batch`], one bounded-queue push per received
//! frame per destination: copied (the default, [`Steering::set_copy`]; the receiver
//! copies them into its own buffers), or handed over without a copy: a steering
//! worker's buffers live in a [`SharedArena`] (registered in the mesh, so every worker
//! can reach every arena), and a packet crosses as a [`Handoff`] (its buffer's token,
//! data range and input port). The receiver turns the tokens back into packets of its own pool
//! (`Pkt`s stay branded by the lifetime of the worker's borrow of the arenas) and at
//! once pays back as many free buffers of its pool, as tokens in the same batch, which
//! returns to the sender for reuse; so every worker's pool keeps its size, and
//! buffers, not bytes, move. A full queue holds the batch (backpressure: the worker
//! stops receiving) up to [`STEER_HOLD`] packets, then drops and counts.
//!
//! Two ways avoid the receiving worker altogether, for the access direction: every
//! worker reads the one queue and takes its own subscribers' frames
//! ([`backend::claim`](crate::backend::claim), and over AF_XDP
//! [`Xsk::into_claims`](crate::backend::afxdp::Xsk::into_claims)), or, over AF_PACKET,
//! the kernel delivers each frame to its worker's socket
//! ([`backend::fanout`](crate::backend::fanout)). A worker whose ports deliver only its
//! own packets needs no `Steering` for them.
//!
//! Commands from [`Control`](crate::control::Control) are drained at frame boundaries,
//! at most [`DRAIN_BUDGET`] per loop.
//!
//! A loop that received nothing releases the shaper's due packets
//! ([`Bng::poll_shaper`] when [`Bng::shaper_timeout`] has passed), so a shaped burst
//! leaves at its rate on an otherwise idle port.

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering, fence};
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError, TrySendError};
use std::sync::{Arc, OnceLock};
use std::thread::{JoinHandle, Thread};
use std::time::{Duration, Instant};

use bng_nat44::Config as NatConfig;
use hashbrown::HashMap;

use crate::backend::Backend;
use crate::backend::claim::{access_owner, ipv4_after_tags};
use crate::backend::prefetch::{prefetch_read, prefetch_write};
use crate::backend::shared::{BufToken, Handoff, SharedArena};
use crate::backend::sys::{pin_to_cpu, thread_cpu_ns};
use crate::bng::{Bng, BngConfig, NatTables, Punt};
use crate::buffer::{Arena, Pkt, Pool};
use crate::control::{Command, ControlError, DRAIN_BUDGET};
use crate::graph::{FRAME_SIZE, Frame, new_frame};
use crate::nodes::esp::spi_of;

/// Packets a steering batch may hold while its worker's queue is full before it is
/// dropped.
pub const STEER_HOLD: usize = 4096;

/// Packets handed from one worker to another (their buffers' tokens, not their
/// bytes), and on the way back the free buffers the receiver pays for them.
#[derive(Debug, Default)]
pub struct Batch {
    origin: usize,
    pkts: Vec<Handoff>,
    free: Vec<BufToken>,
    /// Copy mode ([`Steering::set_copy`]): the packets' bytes back to back, and per
    /// packet its port and length.
    data: Vec<u8>,
    copies: Vec<(u16, u16)>,
}

impl Batch {
    /// An empty batch with room for a frame, so a fresh batch does not grow
    /// (reallocate) while the first frames are steered into it.
    fn sized() -> Self {
        Self {
            origin: 0,
            pkts: Vec::with_capacity(FRAME_SIZE),
            free: Vec::with_capacity(FRAME_SIZE),
            data: Vec::new(),
            copies: Vec::new(),
        }
    }

    /// A copy of `p`'s bytes (copy mode).
    fn push_copy(&mut self, p: &Pkt<'_>) {
        let d = p.data();
        if let Ok(len) = u16::try_from(d.len()) {
            self.data.extend_from_slice(d);
            self.copies.push((p.meta.rx_if, len));
        }
    }

    fn clear(&mut self) {
        self.pkts.clear();
        self.data.clear();
        self.copies.clear();
    }

    /// Packets in the batch.
    #[must_use]
    pub fn len(&self) -> usize {
        self.pkts.len() + self.copies.len()
    }

    /// True when empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.pkts.is_empty() && self.copies.is_empty()
    }
}

/// The arenas of a steering mesh, one per worker, set when the worker starts, and
/// each worker's [`Bell`].
#[derive(Debug)]
struct Registry {
    arenas: Vec<OnceLock<Arc<SharedArena>>>,
    bells: Vec<Bell>,
    /// Which worker holds the inbound SA of each ESP SPI ([`SpiTable`]).
    spis: SpiTable,
}

/// SPIs of inbound ESP SAs a steering mesh can steer by: tunnels live on one worker
/// (their sequence numbers and replay windows are its), so downstream ESP received by
/// another worker goes to the tunnel's. Written by the worker that installs or removes
/// a tunnel (as it applies [`Command::AddTunnel`] / [`Command::RemoveTunnel`]), read by
/// every worker's [`Steering::owner`]: open addressing over atomics (no lock on the
/// packet path), each slot `spi << 32 | (worker + 1)`, `worker + 1 == 0` a removed
/// entry (reused by the next new SPI). Up to [`SPI_SLOTS`] SPIs; one that finds no
/// free slot among its probes is not steered (its packets stay on the receiving
/// worker, as before this table).
#[derive(Debug)]
struct SpiTable {
    slots: Vec<AtomicU64>,
}

/// Slots of a mesh's [`SpiTable`] (a power of two).
pub const SPI_SLOTS: usize = 4096;
/// Slots an SPI may be found in from its hash: the most a lookup reads.
const SPI_PROBES: usize = 32;

impl SpiTable {
    fn new() -> Self {
        Self {
            slots: (0..SPI_SLOTS).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// The slots an SPI may be in, in probe order: at most [`SPI_PROBES`] from its
    /// hash (so a lookup is bounded whatever the table holds).
    fn probe(&self, spi: u32) -> impl Iterator<Item = &AtomicU64> {
        // Fibonacci hashing of the SPI onto the slots
        let h = u64::from(spi).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 52;
        let at = usize::try_from(h).unwrap_or(0);
        (0..SPI_PROBES).filter_map(move |k| self.slots.get((at + k) & (SPI_SLOTS - 1)))
    }

    fn spi(v: u64) -> u32 {
        u32::try_from(v >> 32).unwrap_or(0)
    }

    /// The worker holding `spi`'s SA, if announced.
    #[inline]
    fn get(&self, spi: u32) -> Option<usize> {
        for slot in self.probe(spi) {
            let v = slot.load(Ordering::Acquire);
            if v == 0 {
                return None;
            }
            if Self::spi(v) == spi {
                return usize::try_from(v & 0xffff_ffff).ok()?.checked_sub(1);
            }
        }
        None
    }

    /// Announces (`Some(worker)`) or withdraws (`None`) `spi`; a new SPI takes the
    /// first withdrawn or empty slot of its probe sequence. False if there is none.
    fn set(&self, spi: u32, w: Option<usize>) -> bool {
        if spi == 0 {
            // reserved (RFC 4303 section 2.1), and its withdrawn entry would read as empty
            return false;
        }
        let owner = w.map_or(0, |w| u64::try_from(w).map_or(0, |w| (w + 1) & 0xffff_ffff));
        let v = u64::from(spi) << 32 | owner;
        // a few rounds: another worker may take the free slot this one chose
        for _ in 0..4 {
            let mut free: Option<(&AtomicU64, u64)> = None;
            for slot in self.probe(spi) {
                let cur = slot.load(Ordering::Acquire);
                if cur != 0 && Self::spi(cur) == spi {
                    slot.store(v, Ordering::Release);
                    return true;
                }
                if free.is_none() && cur.trailing_zeros() >= 32 {
                    free = Some((slot, cur));
                }
                if cur == 0 {
                    break;
                }
            }
            if owner == 0 {
                return true;
            }
            let Some((slot, cur)) = free else {
                return false;
            };
            if slot
                .compare_exchange(cur, v, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                return true;
            }
        }
        false
    }
}

/// A worker's doorbell: an idle steering worker first polls for [`SPIN`], then
/// raises `sleeping` and parks (bounded by [`NAP`], its ports still need polling); a
/// worker that hands it a batch or pays it back rings only when `sleeping` is up, so
/// in a saturated steady state neither side makes a system call (session 4 napped
/// with a plain sleep per idle loop: ~10 ns of kernel time per packet on each side).
#[derive(Debug, Default)]
struct Bell {
    sleeping: AtomicBool,
    thread: OnceLock<Thread>,
}

impl Bell {
    /// Wakes the worker if it is parked (or about to: the fence orders the caller's
    /// queue push before the load, as [`Steering::nap`] orders its flag before its
    /// last look at the queues).
    #[inline]
    fn ring(&self) {
        fence(Ordering::SeqCst);
        if self.sleeping.load(Ordering::Relaxed) && self.sleeping.swap(false, Ordering::AcqRel) {
            if let Some(t) = self.thread.get() {
                t.unpark();
            }
        }
    }
}

/// A worker's view of the mesh's arenas for its lifetime `'p`: its own first.
struct Arenas<'p> {
    reg: &'p Registry,
    known: Vec<&'p SharedArena>,
}

impl<'p> Arenas<'p> {
    fn new(reg: &'p Registry, own: &'p SharedArena) -> Self {
        Self {
            reg,
            known: vec![own],
        }
    }

    /// The arena with id `id`, looking again at the registry if it is not known yet
    /// (a worker that started after this one).
    #[inline]
    fn find(&mut self, id: u32) -> Option<&'p SharedArena> {
        if let Some(a) = self.known.first().filter(|a| a.id() == id) {
            return Some(a);
        }
        if let Some(a) = self.known.iter().find(|a| a.id() == id) {
            return Some(a);
        }
        for slot in &self.reg.arenas {
            if let Some(a) = slot.get()
                && !self.known.iter().any(|k| k.id() == a.id())
            {
                self.known.push(a);
            }
        }
        self.known.iter().find(|a| a.id() == id).copied()
    }

    /// A packet as a handoff (its buffer is one of the mesh's arenas').
    #[inline]
    fn hand_off(&self, mut p: Pkt<'p>) -> Result<Handoff, Pkt<'p>> {
        for a in &self.known {
            match a.hand_off(p) {
                Ok(h) => return Ok(h),
                Err(back) => p = back,
            }
        }
        Err(p)
    }

    #[inline]
    fn receive(&mut self, h: Handoff) -> Result<Pkt<'p>, Handoff> {
        match self.find(h.arena()) {
            Some(a) => a.receive(h),
            None => Err(h),
        }
    }

    /// Up to `n` free buffers of `pool` as tokens into `out`; how many.
    fn pay(&self, pool: &mut Pool<'p>, n: usize, out: &mut Vec<BufToken>) -> usize {
        let mut paid = 0;
        'next: while paid < n {
            let Some(mut b) = pool.pop_buffer() else {
                break;
            };
            for a in &self.known {
                match a.give_buffer(b) {
                    Ok(t) => {
                        out.push(t);
                        paid += 1;
                        continue 'next;
                    }
                    Err(back) => b = back,
                }
            }
            pool.push_buffer(b);
            break;
        }
        paid
    }

    /// Takes the buffers of `tokens` into `pool`; how many (a token of no known arena
    /// is dropped: its buffer is lost to the mesh, which cannot happen between workers
    /// of one mesh).
    fn take_paid(&mut self, pool: &mut Pool<'p>, tokens: &mut Vec<BufToken>) -> usize {
        let mut n = 0;
        for t in tokens.drain(..) {
            if let Some(a) = self.find(t.arena())
                && a.put_free(pool, t).is_ok()
            {
                n += 1;
            }
        }
        n
    }
}

/// The worker of a steering hash when worker `w` owns `shares[w]` parts of the hash
/// space (weighted placement: the worker that receives every frame and steers can own a
/// smaller share, since steering costs it per packet). Equal shares give
/// [`worker_of`](crate::bng::worker_of)'s answer; all-zero or no shares give worker 0.
#[must_use]
#[inline]
pub fn place(hash: u64, shares: &[u32]) -> usize {
    let total: u64 = shares.iter().map(|&s| u64::from(s)).sum();
    let x = ((hash >> 32) * total) >> 32;
    let mut acc = 0u64;
    for (w, &s) in shares.iter().enumerate() {
        acc += u64::from(s);
        if x < acc {
            return w;
        }
    }
    0
}

/// Per-packet costs (ns) that decide how many sessions the receiving worker of a
/// steering mesh should own ([`balanced_shares`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StageCosts {
    /// Receiving a packet and steering it (RX, [`Steering::owner`], into a batch or
    /// the local frame): paid by the receiving worker for every packet.
    pub receive_and_steer: f64,
    /// The graph, per packet, on the worker that owns the packet's session.
    pub graph: f64,
    /// What a steered packet costs its owner on top of the graph (taking it from the
    /// batch: the copy into its pool, or the handed-over lines crossing cores).
    pub steered_in: f64,
}

impl StageCosts {
    /// Measured on the shared 2-core dev VM, session 5 (BENCHMARKS.md, "Session 5"),
    /// copy mode, the 64-byte PPPoE -> NAT44 chain of `tests/worker.rs::scaling`:
    /// 34 ns receive + steer, 53 ns graph, 15 ns steered in.
    pub const MEASURED: Self = Self {
        receive_and_steer: 34.0,
        graph: 53.0,
        steered_in: 15.0,
    };
}

/// Shares (parts of 1000, for [`Control::set_shares`](crate::control::Control::set_shares)
/// and [`Steering::set_shares`]) that balance a mesh of `workers` where worker
/// `receiver` receives every packet and steers it: the receiver's cost per received
/// packet, `receive_and_steer + s * graph`, equals each other worker's, `(1 - s) /
/// (workers - 1) * (graph + steered_in)`, so
/// `s = (g' / (n - 1) - r) / (graph + g' / (n - 1))` with `g' = graph + steered_in`
/// (clamped to 0..=1; 0 when receiving and steering alone cost as much as a peer's
/// share). With [`StageCosts::MEASURED`] and 2 workers the receiver owns 28%:
/// per packet both pay ~49 ns against one worker's 66 (~1.35x at best).
#[must_use]
pub fn balanced_shares(workers: usize, receiver: usize, costs: StageCosts) -> Vec<u32> {
    let n = workers.max(1);
    if n == 1 {
        return vec![1000];
    }
    let peers = f64::from(u32::try_from(n - 1).unwrap_or(u32::MAX));
    let g2 = (costs.graph + costs.steered_in) / peers;
    let s = ((g2 - costs.receive_and_steer) / (costs.graph + g2)).clamp(0.0, 1.0);
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "s is in 0..=1, so both parts are in 0..=1000"
    )]
    let (mine, each) = (
        (s * 1000.0).round() as u32,
        ((1.0 - s) * 1000.0 / peers).round() as u32,
    );
    (0..n)
        .map(|w| if w == receiver { mine } else { each })
        .collect()
}

/// The slice of a NAT44 pool of `pool_len` addresses from `pool_first` that worker `w`
/// of `workers` translates into: `(first, len)`.
#[must_use]
pub fn pool_slice(
    pool_first: Ipv4Addr,
    pool_len: u32,
    w: usize,
    workers: usize,
) -> (Ipv4Addr, u32) {
    let n = u64::try_from(workers.max(1)).unwrap_or(1);
    let w = u64::try_from(w).unwrap_or(0);
    let len = u64::from(pool_len);
    let a = len * w / n;
    let b = len * (w + 1) / n;
    let first = u64::from(u32::from(pool_first)) + a;
    (
        Ipv4Addr::from(u32::try_from(first).unwrap_or(0)),
        u32::try_from(b - a).unwrap_or(0),
    )
}

/// The inverse of [`pool_slice`]: the worker `w` of `workers` whose slice of a pool of
/// `pool_len` addresses holds offset `off` (`start(w) <= off < start(w + 1)`,
/// `start(w) = pool_len * w / workers`).
#[must_use]
pub fn pool_owner(off: u32, pool_len: u32, workers: usize) -> usize {
    let n = u64::try_from(workers.max(1)).unwrap_or(1);
    let len = u64::from(pool_len);
    let off = u64::from(off);
    let start = |w: u64| len * w / n;
    let mut w = (off * n / len.max(1)).min(n - 1);
    while w > 0 && off < start(w) {
        w -= 1;
    }
    while w + 1 < n && off >= start(w + 1) {
        w += 1;
    }
    usize::try_from(w).unwrap_or(0)
}

/// One worker's steering stage (see the module docs).
#[derive(Debug)]
pub struct Steering {
    me: usize,
    workers: usize,
    upstream: u16,
    pool_first: u32,
    pool_len: u32,
    addrs: HashMap<u32, u16>,
    registry: Arc<Registry>,
    to: Vec<SyncSender<Batch>>,
    from: Receiver<Batch>,
    returns_to: Vec<mpsc::Sender<Batch>>,
    returned: Receiver<Batch>,
    out: Vec<Batch>,
    spare: Vec<Batch>,
    /// Buffers handed to other workers and not paid back yet.
    lent: usize,
    /// The most `lent` may reach ([`LEND_MAX`], at most half the pool).
    lend_max: usize,
    /// Copy the packets into the batches instead of handing their buffers over.
    copy: bool,
    /// Weighted placement ([`place`]); empty: equal ([`worker_of`](crate::bng::worker_of)).
    shares: Vec<u32>,
    /// Buffers this worker still owes each worker (received packets it could not pay
    /// for at once: its pool was empty).
    owed: Vec<usize>,
    /// Batches taken from the queue by [`Steering::nap`]'s last look before parking.
    early: Vec<Batch>,
    /// This worker's tunnels: id -> inbound SPI, as announced in the mesh.
    tunnels: HashMap<u32, u32>,
    /// Ports (by number) that deliver only this worker's packets ([`Steering::set_claimed`]).
    claimed: Vec<bool>,
}

impl Steering {
    /// The steering stages of `workers` workers: `upstream` port, the whole NAT44
    /// pool (each worker owns [`pool_slice`] of it), `depth` batches in flight per
    /// worker.
    #[must_use]
    pub fn mesh(
        workers: usize,
        upstream: u16,
        pool_first: Ipv4Addr,
        pool_len: u32,
        depth: usize,
    ) -> Vec<Self> {
        let workers = workers.max(1);
        let (to, from): (Vec<_>, Vec<_>) = (0..workers)
            .map(|_| mpsc::sync_channel(depth.max(1)))
            .unzip();
        let (ret_to, ret_from): (Vec<_>, Vec<_>) = (0..workers).map(|_| mpsc::channel()).unzip();
        let registry = Arc::new(Registry {
            arenas: (0..workers).map(|_| OnceLock::new()).collect(),
            bells: (0..workers).map(|_| Bell::default()).collect(),
            spis: SpiTable::new(),
        });
        from.into_iter()
            .zip(ret_from)
            .enumerate()
            .map(|(me, (from, returned))| Self {
                me,
                workers,
                upstream,
                pool_first: u32::from(pool_first),
                pool_len,
                addrs: HashMap::new(),
                registry: Arc::clone(&registry),
                to: to.clone(),
                from,
                returns_to: ret_to.clone(),
                returned,
                out: (0..workers).map(|_| Batch::sized()).collect(),
                spare: Vec::new(),
                lent: 0,
                lend_max: LEND_MAX,
                copy: true,
                shares: Vec::new(),
                owed: vec![0; workers],
                early: Vec::new(),
                tunnels: HashMap::new(),
                claimed: Vec::new(),
            })
            .collect()
    }

    /// Copy mode (the default): other workers' packets are copied into the batches
    /// (and by the receiver into its own buffers), so each buffer stays on its worker's
    /// core. `false`: their buffers are handed over (tokens, no copy) and paid back.
    /// Both are measured by `tests/worker.rs::scaling`: on the shared 2-core VM the
    /// copy was 0.1x faster per core in every run (a hand-over moves each steered
    /// buffer's lines to the other core and back, and the sender's RX then writes into
    /// a line the other core holds; a copy moves a sequential stream). The hand-over
    /// is for backends that receive into the pool without a copy (zero-copy UMEM or
    /// mbufs, not done yet), where that RX write is the NIC's.
    pub fn set_copy(&mut self, copy: bool) {
        self.copy = copy;
    }

    /// Places subscribers by weighted shares ([`place`]), as
    /// [`Control::set_shares`](crate::control::Control::set_shares) does: both must
    /// get the same shares. `false` (and nothing changes) unless there is one share
    /// per worker.
    pub fn set_shares(&mut self, shares: &[u32]) -> bool {
        if shares.len() != self.workers {
            return false;
        }
        self.shares = shares.to_vec();
        true
    }

    /// Marks port `port` as delivering only this worker's packets: a claim of a shared
    /// queue ([`backend::claim`](crate::backend::claim),
    /// [`Xsk::into_claims`](crate::backend::afxdp::Xsk::into_claims)) or a fanout
    /// socket ([`backend::fanout`](crate::backend::fanout)) whose rule is the one this
    /// mesh places by. Its packets skip the owner step and go to this worker's graph.
    /// Where a claim gives worker 0 what has no owner under its rule (ARP, public
    /// addresses and ESP on the upstream port), leave that port unmarked, so the mesh
    /// still passes those on.
    pub fn set_claimed(&mut self, port: usize, claimed: bool) {
        if self.claimed.len() <= port {
            self.claimed.resize(port + 1, false);
        }
        if let Some(c) = self.claimed.get_mut(port) {
            *c = claimed;
        }
    }

    /// Announces that the public (not translated) subscriber address `addr` lives on
    /// worker `w`, or forgets it (`None`).
    pub fn set_address(&mut self, addr: Ipv4Addr, w: Option<usize>) {
        match w.and_then(|w| u16::try_from(w).ok()) {
            Some(w) => self.addrs.insert(u32::from(addr), w),
            None => self.addrs.remove(&u32::from(addr)),
        };
    }

    /// Rings worker `w`'s [`Bell`] (after handing it a batch or paying it back).
    #[inline]
    fn ring(&self, w: usize) {
        if let Some(b) = self.registry.bells.get(w) {
            b.ring();
        }
    }

    /// An idle steering worker's nap of at most `nap`, after [`SPIN`] of idle
    /// polls: raises its bell's flag, looks at its queues once more (a batch or a
    /// payment pushed before the flag was seen is taken now, not after the nap), and
    /// parks; a worker that hands it a batch or pays it back while the flag is up
    /// unparks it. Returns whether it parked.
    fn nap<'p>(&mut self, ar: &mut Arenas<'p>, pool: &mut Pool<'p>, nap: Duration) -> bool {
        let Some(bell) = self.registry.bells.get(self.me) else {
            std::thread::sleep(nap);
            return true;
        };
        bell.sleeping.store(true, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        let mut found = false;
        while let Ok(mut b) = self.returned.try_recv() {
            let k = ar.take_paid(pool, &mut b.free);
            self.lent = self.lent.saturating_sub(k);
            b.clear();
            self.spare.push(b);
            found = true;
        }
        if let Ok(b) = self.from.try_recv() {
            self.early.push(b);
            found = true;
        }
        if !found {
            std::thread::park_timeout(nap);
        }
        bell.sleeping.store(false, Ordering::Relaxed);
        !found
    }

    /// This worker installs tunnel `id` with inbound SPI `spi` (or replaces its SAs):
    /// ESP with that SPI is steered here; a rekey's old SPI is withdrawn.
    fn tunnel_added(&mut self, id: u32, spi: u32) {
        if let Some(old) = self.tunnels.insert(id, spi)
            && old != spi
        {
            self.registry.spis.set(old, None);
        }
        self.registry.spis.set(spi, Some(self.me));
    }

    /// This worker removes tunnel `id`: its SPI is withdrawn.
    fn tunnel_removed(&mut self, id: u32) {
        if let Some(spi) = self.tunnels.remove(&id) {
            self.registry.spis.set(spi, None);
        }
    }

    /// The worker that owns a received packet (its data starting at the Ethernet
    /// header, `meta.rx_if` set). Unparsable packets stay where they are.
    #[must_use]
    #[inline]
    pub fn owner(&self, p: &Pkt<'_>) -> usize {
        let d = p.data();
        if p.meta.rx_if == self.upstream {
            return self.owner_upstream(d);
        }
        // an access port: the source MAC and PPPoE session id, as the control plane
        // places the session
        access_owner(d, self.workers, &self.shares).unwrap_or(self.me)
    }

    /// The owner of a packet from the upstream port: by its IPv4 destination.
    fn owner_upstream(&self, d: &[u8]) -> usize {
        let Some(ip) = ipv4_after_tags(d) else {
            return self.me;
        };
        let Some(dst) = ip.get(16..).and_then(<[u8]>::first_chunk::<4>) else {
            return self.me;
        };
        let dst = u32::from_be_bytes(*dst);
        let off = dst.wrapping_sub(self.pool_first);
        if off < self.pool_len {
            return pool_owner(off, self.pool_len, self.workers);
        }
        if let Some(&w) = self.addrs.get(&dst) {
            return usize::from(w);
        }
        // ESP (IP protocol 50, or UDP 4500 with a non-zero SPI, RFC 3948 section 2.2)
        // to the worker holding its SA
        spi_of(ip)
            .and_then(|spi| self.registry.spis.get(spi))
            .filter(|&w| w < self.workers)
            .unwrap_or(self.me)
    }
}

/// Counters of one worker, readable from other threads.
#[derive(Debug, Default)]
pub struct WorkerStats {
    /// Packets received from the worker's ports.
    pub rx: AtomicU64,
    /// Packets transmitted.
    pub tx: AtomicU64,
    /// Packets run through the graph (own and steered in).
    pub processed: AtomicU64,
    /// Packets handed to other workers.
    pub steered_out: AtomicU64,
    /// Packets received from other workers.
    pub steered_in: AtomicU64,
    /// Packets dropped because another worker's queue was full.
    pub steer_dropped: AtomicU64,
    /// Packets of steered batches that found no free buffer.
    pub steer_no_buffer: AtomicU64,
    /// Punted frames dropped because the punt channel was full.
    pub punt_dropped: AtomicU64,
    /// Loops that found nothing to do.
    pub idle_loops: AtomicU64,
    /// Naps (a sleep, or a steering worker's park after [`SPIN`] of idle loops).
    pub naps: AtomicU64,
    /// Loops of a steering worker that stopped receiving: a batch held (its owner's
    /// queue full) or [`LEND_MAX`] buffers lent and not paid back yet. Many of them
    /// mean the other workers are the bottleneck.
    pub held_loops: AtomicU64,
    /// CPU time (ns) the worker spent in idle periods (its spins and naps, from the
    /// first idle loop to the next loop that found work): its CPU time less this is
    /// what forwarding cost it, on a core shared or not.
    pub idle_cpu_ns: AtomicU64,
    /// Buffers in the worker's pool when it started (set once the pool exists).
    pub pool_capacity: AtomicU64,
    /// Buffers free in its pool when it stopped (set as it stops): with every packet
    /// sent and every buffer handed over paid back, equal to `pool_capacity`.
    pub pool_available: AtomicU64,
}

/// What a worker hands to the control plane.
#[derive(Debug)]
pub enum WorkerEvent {
    /// A punted control frame, from worker `.0`.
    Punt(usize, Punt),
    /// A NAT44 compliance event, from worker `.0`.
    Nat(usize, bng_nat44::Event),
}

/// How to build one worker.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// The graph.
    pub bng: BngConfig,
    /// Buffers in the worker's arena (2 KiB each).
    pub buffers: usize,
    /// NAT44: this worker's configuration (its pool slice) and table sizes
    /// (sessions, subscribers).
    pub nat: Option<(NatConfig, usize, usize)>,
    /// The CPU to pin the worker's thread to (`sched_setaffinity`), as a run-to-
    /// completion worker wants (VPP's `corelist-workers`); `None`: the OS places it. A
    /// CPU that does not exist or is not allowed is a `ControlError::BadConfig` from
    /// [`Worker::join`].
    pub cpu: Option<usize>,
}

/// A running worker thread.
#[derive(Debug)]
pub struct Worker<B> {
    handle: JoinHandle<Result<Vec<B>, ControlError>>,
    stop: Arc<AtomicBool>,
    /// Its counters.
    pub stats: Arc<WorkerStats>,
}

impl<B: Backend + Send + 'static> Worker<B> {
    /// Starts worker `index` over `ports` (by port number), taking commands from
    /// `commands` (a receiver of [`Control::new`](crate::control::Control::new)),
    /// steering with `steering` (`None`: one worker, or RSS already spreads the
    /// subscribers), and sending punted frames and NAT44 events to `events` (dropped
    /// and counted when it is full; `None`: discarded).
    #[must_use]
    pub fn spawn(
        index: usize,
        cfg: WorkerConfig,
        ports: Vec<B>,
        commands: Receiver<Command>,
        steering: Option<Steering>,
        events: Option<SyncSender<WorkerEvent>>,
    ) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(WorkerStats::default());
        let (s2, st2) = (Arc::clone(&stop), Arc::clone(&stats));
        let handle = std::thread::Builder::new()
            .name(format!("bng-worker-{index}"))
            .spawn(move || {
                run(
                    index,
                    cfg,
                    ports,
                    &commands,
                    steering,
                    events.as_ref(),
                    &s2,
                    &st2,
                )
            })
            .unwrap_or_else(|_| std::thread::spawn(|| Err(ControlError::WorkerGone)));
        Self {
            handle,
            stop,
            stats,
        }
    }

    /// Asks the worker to stop once it finds nothing to do (its ports and steering
    /// queue empty), and waits for it; returns its ports.
    ///
    /// # Errors
    /// The worker's graph could not be built, or the thread panicked.
    pub fn join(self) -> Result<Vec<B>, ControlError> {
        self.stop.store(true, Ordering::Release);
        self.handle.join().unwrap_or(Err(ControlError::WorkerGone))
    }
}

/// Frames a steering worker receives from one port per loop (each split into its own
/// packets and the others' handoffs) before it moves on.
const RX_BURSTS: usize = 4;
/// Packets ahead whose first cache line is prefetched while steering.
const PREFETCH_AHEAD: usize = 4;
/// Idle loops (a 20 µs nap each after the spin, so about 1 s) a stopping worker waits
/// for buffers it lent to be paid back, or for room to pay its own debts, before it
/// stops anyway.
const SETTLE_LOOPS: u32 = 50_000;
/// How long a steering worker polls in idle loops (with a spin hint between) before it
/// parks: longer than the gap between two batches of a saturated peer (a frame of 256
/// packets every 10-15 µs), so a steady stream never parks, and short enough that a
/// worker sharing a core with its peer gives the core up soon.
pub const SPIN: Duration = Duration::from_micros(30);
/// How long an idle worker naps before it looks at its ports again.
const NAP: Duration = Duration::from_micros(20);
/// Buffers a steering worker may have lent to the others (handed over and not paid
/// back yet) before it stops receiving until they are paid: bounds the buffers in
/// flight, so the pools' working set stays in the caches and TLB instead of every
/// buffer of both pools circulating when the receiver lags.
const LEND_MAX: usize = 16 * FRAME_SIZE;

#[allow(
    clippy::too_many_arguments,
    clippy::too_many_lines,
    clippy::needless_pass_by_value,
    reason = "the worker's main loop, owning what it was given"
)]
fn run<B: Backend>(
    index: usize,
    cfg: WorkerConfig,
    mut ports: Vec<B>,
    commands: &Receiver<Command>,
    mut steering: Option<Steering>,
    events: Option<&SyncSender<WorkerEvent>>,
    stop: &AtomicBool,
    stats: &WorkerStats,
) -> Result<Vec<B>, ControlError> {
    if let Some(cpu) = cfg.cpu {
        pin_to_cpu(cpu).map_err(|_| ControlError::BadConfig("the worker's CPU cannot be used"))?;
    }
    let buffers = cfg.buffers.max(4 * FRAME_SIZE);
    let registry = steering.as_ref().map(|s| Arc::clone(&s.registry));
    let mut private: Option<Arena> = None;
    let mut nat = cfg.nat.map(|(c, s, u)| NatTables::new(c, s, u));
    // a steering worker's buffers are in a shared arena, registered in the mesh so
    // the other workers can take its packets without a copy; otherwise a private one
    let (mut pool, mut arenas) = match (&registry, &steering) {
        (Some(reg), Some(st)) => {
            let (own, tokens) = SharedArena::new(buffers);
            let slot = reg
                .arenas
                .get(st.me)
                .ok_or(ControlError::BadConfig("steering stage of no worker"))?;
            slot.set(own)
                .map_err(|_| ControlError::BadConfig("steering stage used twice"))?;
            if let Some(bell) = reg.bells.get(st.me) {
                let _ = bell.thread.set(std::thread::current());
            }
            let own: &SharedArena = slot
                .get()
                .ok_or(ControlError::BadConfig("steering stage of no worker"))?;
            let (pool, _) = own.pool(tokens);
            (pool, Some(Arenas::new(reg, own)))
        }
        _ => (
            private.get_or_insert_with(|| Arena::new(buffers)).pool(),
            None,
        ),
    };
    stats
        .pool_capacity
        .store(pool.capacity() as u64, Ordering::Relaxed);
    if let Some(st) = &mut steering {
        st.lend_max = LEND_MAX.min(pool.capacity() / 2);
    }
    let mut bng = Bng::new(cfg.bng, nat.as_mut())?;
    let nports = ports.len();
    let mut rx: Frame<'_> = new_frame();
    let mut local: Frame<'_> = new_frame();
    let mut tx: Vec<Frame<'_>> = (0..nports).map(|_| new_frame()).collect();
    let start = Instant::now();
    let mut commands_open = true;
    let mut held = false;
    let mut settle = 0u32;
    let mut idle = 0u32;
    let mut idle_since = 0u64;
    let mut idle_start = Duration::ZERO;
    loop {
        if commands_open {
            commands_open = drain_worker(commands, &mut bng, steering.as_mut());
        }
        let now = start.elapsed();
        if bng.poll_timeout().is_some_and(|t| t <= now) {
            bng.handle_timeout(now);
        }
        let mut work = 0usize;
        if let (Some(st), Some(ar)) = (&mut steering, &mut arenas) {
            let mut io = Io {
                ports: &mut ports,
                pool: &mut pool,
                tx: &mut tx,
                bng: &mut bng,
                now,
                stats,
            };
            // take back what other workers paid for the packets this one handed over
            settle_debts(st, ar, io.pool);
            // batches held back last loop first
            held = send_batches(st, ar, io.pool, stats);
            for i in 0..nports {
                if held {
                    break;
                }
                let (n, h) = steer_port(&mut io, i, st, ar, &mut rx, &mut local);
                work += n;
                held = h;
            }
            work += receive_steered(&mut io, st, ar, &mut rx);
        } else {
            for (i, port) in ports.iter_mut().enumerate() {
                let n = port.rx_burst(&mut pool, &mut rx);
                if n == 0 {
                    continue;
                }
                work += n;
                stats.rx.fetch_add(n as u64, Ordering::Relaxed);
                let rx_if = u16::try_from(i).unwrap_or(u16::MAX);
                for p in &mut rx {
                    p.meta.rx_if = rx_if;
                }
                stats
                    .processed
                    .fetch_add(rx.len() as u64, Ordering::Relaxed);
                bng.process(now, &mut rx, &mut pool, &mut tx);
            }
        }
        if work == 0 && bng.shaper_timeout().is_some_and(|t| t <= now) {
            // an idle port: shaped packets are otherwise released only by the next
            // frame's `process`, so a burst with nothing after it would wait forever
            bng.poll_shaper(now, &mut pool, &mut tx);
        }
        flush(&mut ports, &mut pool, &mut tx, stats);
        while let Some(p) = bng.poll_punt() {
            if let Some(ev) = events
                && ev.try_send(WorkerEvent::Punt(index, p)).is_err()
            {
                stats.punt_dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
        while let Some(e) = bng.poll_nat_event() {
            if let Some(ev) = events {
                let _ = ev.try_send(WorkerEvent::Nat(index, e));
            }
        }
        if held {
            stats.held_loops.fetch_add(1, Ordering::Relaxed);
        }
        if work > 0 {
            idle = 0;
        } else {
            stats.idle_loops.fetch_add(1, Ordering::Relaxed);
            if idle == 0 {
                idle_start = now;
            }
            idle = idle.saturating_add(1);
            if stop.load(Ordering::Acquire) && !held {
                // buffers lent to other workers come back as they are paid for; a
                // stopping worker waits for them (and pays what it owes) for a while
                let settled = steering
                    .as_ref()
                    .is_none_or(|st| st.lent == 0 && st.owed.iter().all(|&o| o == 0));
                if settled || settle >= SETTLE_LOOPS {
                    break;
                }
                settle += 1;
            }
            // a steering worker (idle, or held: its owner's queue full or its lent
            // buffers at the bound) polls for SPIN, then parks until a batch or a
            // payment rings its bell or the nap ends; so a saturated steady state makes
            // no system call, and a worker sharing a core with its peer still gives the
            // core up after a few tens of µs
            let napped = match (&mut steering, &mut arenas) {
                (Some(_), Some(_)) if now.saturating_sub(idle_start) < SPIN => {
                    std::hint::spin_loop();
                    false
                }
                (Some(st), Some(ar)) => st.nap(ar, &mut pool, NAP),
                _ => {
                    std::thread::sleep(NAP);
                    true
                }
            };
            if napped {
                stats.naps.fetch_add(1, Ordering::Relaxed);
            }
            // idle CPU: from the end of an idle period's first loop to the end of its
            // last (a system call per idle loop: idle time only, never per packet)
            let t = thread_cpu_ns();
            if idle > 1 {
                stats
                    .idle_cpu_ns
                    .fetch_add(t.saturating_sub(idle_since), Ordering::Relaxed);
            }
            idle_since = t;
        }
    }
    stats
        .pool_available
        .store(pool.available() as u64, Ordering::Relaxed);
    drop(bng);
    Ok(ports)
}

/// What the steering steps of a worker's loop share.
struct Io<'a, 'p, B> {
    ports: &'a mut [B],
    pool: &'a mut Pool<'p>,
    tx: &'a mut [Frame<'p>],
    bng: &'a mut Bng<'p>,
    now: Duration,
    stats: &'a WorkerStats,
}

impl<'p, B: Backend> Io<'_, 'p, B> {
    /// Runs a frame through the graph and sends what it produced.
    fn process(&mut self, frame: &mut Frame<'p>) {
        self.stats
            .processed
            .fetch_add(frame.len() as u64, Ordering::Relaxed);
        self.bng.process(self.now, frame, self.pool, self.tx);
        flush(self.ports, self.pool, self.tx, self.stats);
    }
}

/// Receives up to [`RX_BURSTS`] frames from port `i`: this worker's packets go through
/// the graph in full frames, the others' into their owners' batches (pushed after each
/// frame). Returns the packets received, and whether a batch is held (its queue full:
/// stop receiving).
fn steer_port<'p, B: Backend>(
    io: &mut Io<'_, 'p, B>,
    i: usize,
    st: &mut Steering,
    ar: &mut Arenas<'p>,
    rx: &mut Frame<'p>,
    local: &mut Frame<'p>,
) -> (usize, bool) {
    let mut held = false;
    let rx_if = u16::try_from(i).unwrap_or(u16::MAX);
    let mut total = 0;
    for _ in 0..RX_BURSTS {
        if st.lent >= st.lend_max {
            held = true;
            break;
        }
        let Some(port) = io.ports.get_mut(i) else {
            break;
        };
        let n = port.rx_burst(io.pool, rx);
        if n == 0 {
            break;
        }
        total += n;
        io.stats.rx.fetch_add(n as u64, Ordering::Relaxed);
        if st.claimed.get(i).copied().unwrap_or(false) {
            // a claimed port delivers only this worker's packets
            for mut p in rx.drain(..) {
                p.meta.rx_if = rx_if;
                local.push(p);
                if local.len() == FRAME_SIZE {
                    io.process(local);
                }
            }
            if n < FRAME_SIZE {
                break;
            }
            continue;
        }
        // the owners first, in a tight pass over the first bytes (the packet a few
        // ahead prefetched: a backend's RX may leave it cold), then each packet to its
        // place
        let mut owners = [0u16; FRAME_SIZE];
        for k in 0..rx.len() {
            if let Some(b) = rx.get(k + PREFETCH_AHEAD).and_then(|p| p.data().first()) {
                prefetch_read(b);
            }
            if let (Some(p), Some(o)) = (rx.get_mut(k), owners.get_mut(k)) {
                p.meta.rx_if = rx_if;
                *o = u16::try_from(st.owner(p)).unwrap_or(u16::MAX);
            }
        }
        for (p, &w) in rx.drain(..).zip(owners.iter()) {
            let w = usize::from(w);
            if w == st.me {
                local.push(p);
                if local.len() == FRAME_SIZE {
                    io.process(local);
                }
            } else if let Some(b) = st.out.get_mut(w) {
                if st.copy {
                    b.push_copy(&p);
                    io.pool.free(p);
                    continue;
                }
                match ar.hand_off(p) {
                    Ok(h) => b.pkts.push(h),
                    Err(p) => {
                        // not a buffer of the mesh (cannot happen: this worker's pool
                        // holds only the mesh's buffers)
                        io.pool.free(p);
                        io.stats.steer_dropped.fetch_add(1, Ordering::Relaxed);
                    }
                }
            } else {
                io.pool.free(p);
            }
        }
        // one push per received frame per destination, so the owners start at once
        held = send_batches(st, ar, io.pool, io.stats);
        if held || n < FRAME_SIZE {
            break;
        }
    }
    if !local.is_empty() {
        io.process(local);
    }
    (total, held)
}

/// Hands the non-empty batches to their workers, one channel operation each; a batch
/// whose queue is full is kept and retried (and this worker stops receiving until it
/// goes: backpressure to its RX ring) unless it has grown past [`STEER_HOLD`] packets,
/// then it is dropped and counted. Returns true if a batch is held.
fn send_batches<'p>(
    st: &mut Steering,
    ar: &mut Arenas<'p>,
    pool: &mut Pool<'p>,
    stats: &WorkerStats,
) -> bool {
    let mut held = false;
    for w in 0..st.workers {
        if st.out.get(w).is_none_or(Batch::is_empty) {
            continue;
        }
        let fresh = st.spare.pop().unwrap_or_else(Batch::sized);
        let Some(slot) = st.out.get_mut(w) else {
            continue;
        };
        let mut b = core::mem::replace(slot, fresh);
        b.origin = st.me;
        let n = b.len();
        let handed = b.pkts.len();
        let dropped = match st.to.get(w).map(|q| q.try_send(b)) {
            Some(Ok(())) => {
                st.ring(w);
                st.lent += handed;
                stats.steered_out.fetch_add(n as u64, Ordering::Relaxed);
                continue;
            }
            Some(Err(TrySendError::Full(b))) if n < STEER_HOLD => {
                // back in its slot (the fresh batch there is empty)
                if let Some(slot) = st.out.get_mut(w) {
                    st.spare.push(core::mem::replace(slot, b));
                }
                held = true;
                continue;
            }
            Some(Err(TrySendError::Full(b) | TrySendError::Disconnected(b))) => b,
            None => continue,
        };
        // dropped: the buffers come back to this worker's pool
        let mut dropped = dropped;
        for h in dropped.pkts.drain(..) {
            if let Ok(p) = ar.receive(h) {
                pool.free(p);
            }
        }
        dropped.clear();
        stats.steer_dropped.fetch_add(n as u64, Ordering::Relaxed);
        st.spare.push(dropped);
    }
    held
}

/// Takes what other workers handed over, pays each at once with as many free buffers
/// (in the same batch, which goes back to it), and runs the packets through the graph
/// in full frames. Returns the packets taken.
fn receive_steered<'p, B: Backend>(
    io: &mut Io<'_, 'p, B>,
    st: &mut Steering,
    ar: &mut Arenas<'p>,
    rx: &mut Frame<'p>,
) -> usize {
    let mut work = 0;
    while let Some(mut b) = st.early.pop().or_else(|| st.from.try_recv().ok()) {
        let n = b.len();
        work += n;
        io.stats.steered_in.fetch_add(n as u64, Ordering::Relaxed);
        let handed = b.pkts.len();
        let paid = ar.pay(io.pool, handed, &mut b.free);
        if let Some(o) = st.owed.get_mut(b.origin) {
            *o += handed - paid;
        }
        for h in b.pkts.drain(..) {
            match ar.receive(h) {
                Ok(mut p) => {
                    // the line the sender's core wrote last and the graph rewrites
                    // (Ethernet, PPPoE and IPv4 headers): fetched for writing, so the
                    // rewrite does not pay a second transfer
                    if let Some(first) = p.data_mut().first_mut() {
                        prefetch_write(first);
                    }
                    rx.push(p);
                    if rx.len() == FRAME_SIZE {
                        io.process(rx);
                    }
                }
                Err(_) => {
                    io.stats.steer_no_buffer.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        // copy mode: into this worker's own buffers
        let mut at = 0usize;
        for &(rx_if, len) in &b.copies {
            let end = at + usize::from(len);
            match b.data.get(at..end).and_then(|d| io.pool.alloc_from(d)) {
                Some(mut p) => {
                    p.meta.rx_if = rx_if;
                    rx.push(p);
                    if rx.len() == FRAME_SIZE {
                        io.process(rx);
                    }
                }
                None => {
                    io.stats.steer_no_buffer.fetch_add(1, Ordering::Relaxed);
                }
            }
            at = end;
        }
        b.clear();
        // back to the worker that filled it, with the payment, for reuse
        let origin = b.origin;
        if let Some(r) = st.returns_to.get(origin) {
            match r.send(b) {
                Ok(()) => st.ring(origin),
                Err(mpsc::SendError(mut b)) => {
                    // that worker is gone: keep the buffers
                    ar.take_paid(io.pool, &mut b.free);
                    if let Some(o) = st.owed.get_mut(origin) {
                        *o = 0;
                    }
                }
            }
        }
    }
    // the rest of the batches as one frame (batches are often half a frame: running
    // the graph per batch doubled its per-frame cost per packet)
    if !rx.is_empty() {
        io.process(rx);
    }
    work
}

/// Takes the buffers other workers paid back (their batches come back for reuse), and
/// pays what this worker still owes when its pool has buffers again.
fn settle_debts<'p>(st: &mut Steering, ar: &mut Arenas<'p>, pool: &mut Pool<'p>) {
    while let Ok(mut b) = st.returned.try_recv() {
        let k = ar.take_paid(pool, &mut b.free);
        st.lent = st.lent.saturating_sub(k);
        b.clear();
        st.spare.push(b);
    }
    for w in 0..st.workers {
        let owed = st.owed.get(w).copied().unwrap_or(0);
        if owed == 0 || pool.available() == 0 {
            continue;
        }
        let mut b = st.spare.pop().unwrap_or_else(Batch::sized);
        b.origin = st.me;
        let paid = ar.pay(pool, owed, &mut b.free);
        if let Some(o) = st.owed.get_mut(w) {
            *o -= paid;
        }
        if let Some(r) = st.returns_to.get(w) {
            match r.send(b) {
                Ok(()) => st.ring(w),
                Err(mpsc::SendError(mut b)) => {
                    ar.take_paid(pool, &mut b.free);
                    if let Some(o) = st.owed.get_mut(w) {
                        *o = 0;
                    }
                }
            }
        }
    }
}

/// [`drain`] with the steering commands applied to the worker's steering stage.
fn drain_worker(rx: &Receiver<Command>, bng: &mut Bng<'_>, mut st: Option<&mut Steering>) -> bool {
    for _ in 0..DRAIN_BUDGET {
        match rx.try_recv() {
            Ok(Command::SteerAddress(a, w)) => {
                if let Some(s) = st.as_deref_mut() {
                    s.set_address(a, w);
                }
            }
            Ok(Command::AddTunnel(t, reply)) => {
                if let Some(s) = st.as_deref_mut() {
                    s.tunnel_added(t.id, t.inbound.config().spi.0);
                }
                bng.apply(Command::AddTunnel(t, reply));
            }
            Ok(Command::RemoveTunnel(id, reply)) => {
                if let Some(s) = st.as_deref_mut() {
                    s.tunnel_removed(id);
                }
                bng.apply(Command::RemoveTunnel(id, reply));
            }
            Ok(c) => bng.apply(c),
            Err(TryRecvError::Empty) => return true,
            Err(TryRecvError::Disconnected) => return false,
        }
    }
    true
}

fn flush<'p, B: Backend>(
    ports: &mut [B],
    pool: &mut crate::buffer::Pool<'p>,
    tx: &mut [Frame<'p>],
    stats: &WorkerStats,
) {
    for (port, f) in ports.iter_mut().zip(tx.iter_mut()) {
        if !f.is_empty() {
            let n = port.tx_burst(pool, f);
            stats.tx.fetch_add(n as u64, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::{SPI_SLOTS, SpiTable};

    #[test]
    fn spi_table_announces_withdraws_and_fills() {
        let t = SpiTable::new();
        assert_eq!(t.get(0x2002), None);
        assert!(t.set(0x2002, Some(1)));
        assert!(t.set(0x3003, Some(0)));
        assert_eq!((t.get(0x2002), t.get(0x3003)), (Some(1), Some(0)));
        // moved (a tunnel re-installed on another worker), withdrawn, announced again
        assert!(t.set(0x2002, Some(0)));
        assert_eq!(t.get(0x2002), Some(0));
        assert!(t.set(0x2002, None));
        assert_eq!(t.get(0x2002), None);
        assert_eq!(
            t.get(0x3003),
            Some(0),
            "a withdrawn entry keeps the probe chain"
        );
        assert!(t.set(0x2002, Some(1)));
        assert_eq!(t.get(0x2002), Some(1));
        // SPI 0 is reserved; withdrawing an unknown SPI is a no-op
        assert!(!t.set(0, Some(1)));
        assert!(t.set(0x4004, None));
        // full: new SPIs are refused (and not found), the known ones still answer
        let mut refused = 0;
        for spi in 1..=2 * u32::try_from(SPI_SLOTS).unwrap() {
            if !t.set(spi + 0x10_0000, Some(1)) {
                assert_eq!(t.get(spi + 0x10_0000), None);
                refused += 1;
            }
        }
        assert!(refused >= SPI_SLOTS, "{refused}");
        assert_eq!(t.get(0x2002), Some(1));
        // withdrawn slots are reused: rekeys do not fill the table
        let t = SpiTable::new();
        for spi in 1..=u32::try_from(4 * SPI_SLOTS).unwrap() {
            assert!(t.set(spi, Some(0)), "rekey {spi}");
            assert_eq!(t.get(spi), Some(0));
            assert!(t.set(spi, None));
        }
    }
}
