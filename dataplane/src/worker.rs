//! Workers: N threads, each running one [`Bng`] to completion over its own arena,
//! buffer pool, tables and backend ports, with software steering of subscribers to
//! workers when the NIC cannot spread them (RSS does not hash PPPoE: accel-ppp's
//! single-core limitation).
//!
//! Steering: every packet a worker receives is given an owner
//! ([`Steering::owner`]): from an access port, the hash of (source MAC, PPPoE session
//! id) ([`steer_hash`], the same function the control plane uses to place the session,
//! [`SessionConfig::worker`](crate::bng::SessionConfig::worker)); from the upstream
//! port, the worker whose slice of the NAT44 pool holds the destination (each worker
//! translates into its own pool slice, [`pool_slice`]) or, for a public subscriber
//! address, the owner the control plane announced ([`Command::SteerAddress`], kept
//! per worker, [`Steering::set_address`]). Packets of another worker
//! are copied into a [`Batch`] and handed over through that worker's bounded queue
//! (one channel operation per batch, batches recycled, so no per-packet allocation);
//! a full queue drops and counts. Packets cannot move between workers as `Pkt`s: a
//! `Pkt<'p>` is branded with its worker's arena.
//!
//! Commands from [`Control`](crate::control::Control) are drained at frame boundaries,
//! at most [`DRAIN_BUDGET`] per loop.
//!
//! A loop that received nothing releases the shaper's due packets
//! ([`Bng::poll_shaper`] when [`Bng::shaper_timeout`] has passed), so a shaped burst
//! leaves at its rate on an otherwise idle port.

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError, TrySendError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bng_nat44::Config as NatConfig;
use hashbrown::HashMap;

use crate::backend::Backend;
use crate::bng::{Bng, BngConfig, NatTables, Punt, steer_hash, worker_of};
use crate::buffer::{Arena, Pkt};
use crate::control::{Command, ControlError, DRAIN_BUDGET};
use crate::graph::{FRAME_SIZE, Frame, new_frame};

/// Packets a steering batch may hold while its worker's queue is full before it is
/// dropped.
pub const STEER_HOLD: usize = 4096;

/// Packets copied from one worker to another: their bytes back to back, and per
/// packet its port and length.
#[derive(Debug, Default)]
pub struct Batch {
    origin: usize,
    data: Vec<u8>,
    pkts: Vec<(u16, u16)>,
}

impl Batch {
    /// An empty batch with room for a frame of 64-byte packets, so a fresh batch does
    /// not grow (reallocate) while the first frames are steered into it.
    fn sized() -> Self {
        Self {
            origin: 0,
            data: Vec::with_capacity(FRAME_SIZE * 128),
            pkts: Vec::with_capacity(FRAME_SIZE),
        }
    }

    fn clear(&mut self) {
        self.data.clear();
        self.pkts.clear();
    }

    fn push(&mut self, p: &Pkt<'_>) {
        let d = p.data();
        if let Ok(len) = u16::try_from(d.len()) {
            self.data.extend_from_slice(d);
            self.pkts.push((p.meta.rx_if, len));
        }
    }

    /// Packets in the batch.
    #[must_use]
    pub fn len(&self) -> usize {
        self.pkts.len()
    }

    /// True when empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.pkts.is_empty()
    }
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

/// One worker's steering stage (see the module docs).
#[derive(Debug)]
pub struct Steering {
    me: usize,
    workers: usize,
    upstream: u16,
    pool_first: u32,
    pool_len: u32,
    addrs: HashMap<u32, u16>,
    to: Vec<SyncSender<Batch>>,
    from: Receiver<Batch>,
    returns_to: Vec<mpsc::Sender<Batch>>,
    returned: Receiver<Batch>,
    out: Vec<Batch>,
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
                to: to.clone(),
                from,
                returns_to: ret_to.clone(),
                returned,
                out: (0..workers).map(|_| Batch::sized()).collect(),
            })
            .collect()
    }

    /// Announces that the public (not translated) subscriber address `addr` lives on
    /// worker `w`, or forgets it (`None`).
    pub fn set_address(&mut self, addr: Ipv4Addr, w: Option<usize>) {
        match w.and_then(|w| u16::try_from(w).ok()) {
            Some(w) => self.addrs.insert(u32::from(addr), w),
            None => self.addrs.remove(&u32::from(addr)),
        };
    }

    /// The inverse of [`pool_slice`]: the worker `w` with `start(w) <= off <
    /// start(w + 1)`, `start(w) = len * w / workers`.
    fn pool_owner(&self, off: u32) -> usize {
        let n = self.workers as u64;
        let len = u64::from(self.pool_len);
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

    /// The worker that owns a received packet (its data starting at the Ethernet
    /// header, `meta.rx_if` set). Unparsable packets stay where they are.
    #[must_use]
    #[inline]
    pub fn owner(&self, p: &Pkt<'_>) -> usize {
        let d = p.data();
        let mut at = 12usize;
        let mut et = 0u16;
        // up to two VLAN tags, as ethernet-input reads them
        for _ in 0..3 {
            let Some(e) = d.get(at..).and_then(<[u8]>::first_chunk::<2>) else {
                return self.me;
            };
            et = u16::from_be_bytes(*e);
            if matches!(et, 0x8100 | 0x88a8 | 0x9100) {
                at += 4;
            } else {
                break;
            }
        }
        let l3 = at + 2;
        if p.meta.rx_if == self.upstream {
            if et != 0x0800 {
                return self.me;
            }
            let Some(dst) = d.get(l3 + 16..).and_then(<[u8]>::first_chunk::<4>) else {
                return self.me;
            };
            let dst = u32::from_be_bytes(*dst);
            let off = dst.wrapping_sub(self.pool_first);
            if off < self.pool_len {
                return self.pool_owner(off);
            }
            return self.addrs.get(&dst).map_or(self.me, |&w| usize::from(w));
        }
        let Some(&mac) = d.get(6..).and_then(<[u8]>::first_chunk::<6>) else {
            return self.me;
        };
        let sid = if et == 0x8864 || et == 0x8863 {
            d.get(l3 + 2..)
                .and_then(<[u8]>::first_chunk::<2>)
                .map_or(0, |s| u16::from_be_bytes(*s))
        } else {
            0
        };
        // PPPoE discovery is not steered by session id (PADI/PADR carry 0): the control
        // plane owns it; the PADS assigns a session id whose owner is where its data goes
        worker_of(
            steer_hash(mac, if et == 0x8863 { 0 } else { sid }),
            self.workers,
        )
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
    let mut arena = Arena::new(cfg.buffers.max(4 * FRAME_SIZE));
    let mut nat = cfg.nat.map(|(c, s, u)| NatTables::new(c, s, u));
    let mut pool = arena.pool();
    let mut bng = Bng::new(cfg.bng, nat.as_mut())?;
    let nports = ports.len();
    let mut rx: Frame<'_> = new_frame();
    let mut local: Frame<'_> = new_frame();
    let mut tx: Vec<Frame<'_>> = (0..nports).map(|_| new_frame()).collect();
    let start = Instant::now();
    let mut commands_open = true;
    let mut held = false;
    loop {
        if commands_open {
            commands_open = drain_worker(commands, &mut bng, steering.as_mut());
        }
        let now = start.elapsed();
        if bng.poll_timeout().is_some_and(|t| t <= now) {
            bng.handle_timeout(now);
        }
        let mut work = 0usize;
        for (i, port) in ports.iter_mut().enumerate() {
            if held {
                break;
            }
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
            if let Some(st) = &mut steering {
                for p in rx.drain(..) {
                    let w = st.owner(&p);
                    if w == st.me {
                        local.push(p);
                    } else {
                        if let Some(b) = st.out.get_mut(w) {
                            b.push(&p);
                        }
                        pool.free(p);
                    }
                }
                core::mem::swap(&mut rx, &mut local);
            }
            stats
                .processed
                .fetch_add(rx.len() as u64, Ordering::Relaxed);
            bng.process(now, &mut rx, &mut pool, &mut tx);
        }
        if let Some(st) = &mut steering {
            // hand the batches over, one channel operation each; a batch whose queue
            // is full is kept and retried (and this worker stops receiving until it
            // goes: backpressure to its RX ring) unless it has grown past
            // STEER_HOLD packets, then it is dropped and counted
            held = false;
            for w in 0..st.workers {
                if st.out.get(w).is_none_or(Batch::is_empty) {
                    continue;
                }
                let fresh = st.returned.try_recv().unwrap_or_else(|_| Batch::sized());
                let Some(slot) = st.out.get_mut(w) else {
                    continue;
                };
                let mut b = core::mem::replace(slot, fresh);
                b.origin = st.me;
                let n = b.len() as u64;
                match st.to.get(w).map(|q| q.try_send(b)) {
                    Some(Ok(())) => {
                        stats.steered_out.fetch_add(n, Ordering::Relaxed);
                    }
                    Some(Err(TrySendError::Full(mut b))) if b.len() < STEER_HOLD => {
                        // put it back in front of what was batched since
                        if let Some(slot) = st.out.get_mut(w) {
                            core::mem::swap(slot, &mut b);
                            slot.data.extend_from_slice(&b.data);
                            slot.pkts.extend_from_slice(&b.pkts);
                        }
                        held = true;
                    }
                    _ => {
                        stats.steer_dropped.fetch_add(n, Ordering::Relaxed);
                    }
                }
            }
            // take what other workers handed us
            while let Ok(b) = st.from.try_recv() {
                work += b.len();
                stats
                    .steered_in
                    .fetch_add(b.len() as u64, Ordering::Relaxed);
                let mut at = 0usize;
                for &(rx_if, len) in &b.pkts {
                    let end = at + usize::from(len);
                    if let Some(p) = b.data.get(at..end).and_then(|d| pool.alloc_from(d)) {
                        let mut p = p;
                        p.meta.rx_if = rx_if;
                        rx.push(p);
                    } else {
                        stats.steer_no_buffer.fetch_add(1, Ordering::Relaxed);
                    }
                    at = end;
                    if rx.len() == FRAME_SIZE {
                        stats
                            .processed
                            .fetch_add(rx.len() as u64, Ordering::Relaxed);
                        bng.process(now, &mut rx, &mut pool, &mut tx);
                        flush(&mut ports, &mut pool, &mut tx, stats);
                    }
                }
                // back to the worker that filled it, for reuse
                let mut b = b;
                b.clear();
                if let Some(r) = st.returns_to.get(b.origin) {
                    let _ = r.send(b);
                }
            }
            // the rest of the batches as one frame (batches are often half a frame:
            // running the graph per batch doubled its per-frame cost per packet)
            if !rx.is_empty() {
                stats
                    .processed
                    .fetch_add(rx.len() as u64, Ordering::Relaxed);
                bng.process(now, &mut rx, &mut pool, &mut tx);
                flush(&mut ports, &mut pool, &mut tx, stats);
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
        if work == 0 {
            stats.idle_loops.fetch_add(1, Ordering::Relaxed);
            if stop.load(Ordering::Acquire) && !held {
                break;
            }
            // held (the owner's queue full) as idle: a nap, not a yield loop; the full
            // queue holds far more than a nap's worth of work for its worker, and spinning
            // took the CPU that worker needed when they share one (the steered rate on
            // the loaded 2-core VM fell below one worker's)
            std::thread::sleep(Duration::from_micros(20));
        }
    }
    drop(bng);
    Ok(ports)
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
