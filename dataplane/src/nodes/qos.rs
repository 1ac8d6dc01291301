//! Per-subscriber QoS: a token-bucket policer node (`qos-policer`, RFC 2697 single-rate
//! or RFC 2698 two-rate three-colour marking) and a downstream shaper ([`Shaper`]), both
//! with the subscriber's profile looked up by `meta.subscriber` in a table the control
//! plane fills (`set_profile(handle, profile)`, `clear(handle)`).
//!
//! Time is passed in (`now`, a [`Duration`] since the caller's epoch); nothing here reads
//! a clock. Token arithmetic is in integers: a bucket's credit is kept in
//! units x 10^9 (units: bits for QoS, packets for the punt limiter) and grows by
//! `rate x elapsed nanoseconds`, so no rounding is lost between packets.

use core::time::Duration;
use std::collections::VecDeque;

use crate::buffer::{BUF_SIZE, Pkt, Pool};
use crate::graph::{FRAME_SIZE, Frame, Node, Verdict};

/// Largest burst a [`TokenBucket`] holds, in its units (larger values are clamped).
pub const MAX_BURST: u64 = 10_000_000_000;

const NANOS: u128 = 1_000_000_000;

/// A token bucket: fills at `rate` units per second up to `burst` units, starts full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenBucket {
    rate: u64,
    cap: u128,
    credit: u128,
    last: Duration,
}

impl TokenBucket {
    /// A full bucket of `burst` units (at most [`MAX_BURST`]) filling at `rate` units
    /// per second, as of `now`.
    #[must_use]
    pub fn new(rate: u64, burst: u64, now: Duration) -> Self {
        let cap = u128::from(burst.min(MAX_BURST)) * NANOS;
        Self {
            rate,
            cap,
            credit: cap,
            last: now,
        }
    }

    /// Adds the tokens accrued since the last call (time going backwards adds none).
    #[inline]
    pub fn refill(&mut self, now: Duration) {
        if let Some(d) = now.checked_sub(self.last) {
            let add = d.as_nanos().saturating_mul(u128::from(self.rate));
            self.credit = self.credit.saturating_add(add).min(self.cap);
            self.last = now;
        }
    }

    /// Takes `units` tokens if the bucket (refilled to `now`) holds them.
    #[inline]
    pub fn take(&mut self, now: Duration, units: u64) -> bool {
        self.refill(now);
        let need = u128::from(units) * NANOS;
        if self.credit >= need {
            self.credit -= need;
            true
        } else {
            false
        }
    }

    /// Whole tokens in the bucket (as of the last refill).
    #[must_use]
    pub fn tokens(&self) -> u64 {
        u64::try_from(self.credit / NANOS).unwrap_or(u64::MAX)
    }

    /// When the bucket will hold `units` tokens (`None`: never, it is larger than the
    /// burst or the rate is 0).
    #[must_use]
    pub fn ready_at(&self, units: u64) -> Option<Duration> {
        let need = u128::from(units) * NANOS;
        if need > self.cap {
            return None;
        }
        if self.credit >= need {
            return Some(self.last);
        }
        if self.rate == 0 {
            return None;
        }
        let ns = (need - self.credit).div_ceil(u128::from(self.rate));
        let ns = u64::try_from(ns).ok()?;
        self.last.checked_add(Duration::from_nanos(ns))
    }
}

// ---------------------------------------------------------------------------------------
// The policer
// ---------------------------------------------------------------------------------------

/// A meter's parameters: rates in bits per second, bursts in bytes (of IP packets,
/// RFC 2697 section 2). Bursts are clamped to `MAX_BURST / 8` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Meter {
    /// RFC 2697 single-rate three-colour marker: committed rate `cir`, committed
    /// burst `cbs`, excess burst `ebs` (tokens overflowing the committed bucket fill
    /// the excess bucket).
    SrTcm {
        /// Committed Information Rate, bits/s.
        cir: u64,
        /// Committed Burst Size, bytes.
        cbs: u64,
        /// Excess Burst Size, bytes.
        ebs: u64,
    },
    /// RFC 2698 two-rate three-colour marker: peak rate `pir` with peak burst `pbs`,
    /// committed rate `cir` with committed burst `cbs`.
    TrTcm {
        /// Committed Information Rate, bits/s.
        cir: u64,
        /// Committed Burst Size, bytes.
        cbs: u64,
        /// Peak Information Rate, bits/s (>= `cir`).
        pir: u64,
        /// Peak Burst Size, bytes.
        pbs: u64,
    },
}

/// The colour a meter gives a packet (RFC 2697 section 1, RFC 2698 section 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Color {
    /// Within the committed rate and burst.
    Green,
    /// Over the committed, within the excess (srTCM) or peak (trTCM) limits.
    Yellow,
    /// Over every limit.
    Red,
}

/// What the policer does with a packet of one colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Forward unchanged.
    Transmit,
    /// Forward with this DSCP (RFC 2474 section 3) written into the IPv4 TOS / IPv6
    /// Traffic Class (the ECN bits are kept; the IPv4 checksum is updated, RFC 1624).
    Remark(u8),
    /// Drop.
    Drop,
}

/// A subscriber's policing profile for one direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Profile {
    /// The meter.
    pub meter: Meter,
    /// Action on green packets.
    pub green: Action,
    /// Action on yellow packets.
    pub yellow: Action,
    /// Action on red packets.
    pub red: Action,
}

impl Profile {
    /// A plain policer: `rate` bits/s with a `burst` of bytes, everything over it
    /// dropped (srTCM with no excess burst: yellow never happens).
    #[must_use]
    pub fn police(rate: u64, burst: u64) -> Self {
        Self {
            meter: Meter::SrTcm {
                cir: rate,
                cbs: burst,
                ebs: 0,
            },
            green: Action::Transmit,
            yellow: Action::Drop,
            red: Action::Drop,
        }
    }
}

/// The state of one meter: two buckets in bits x 10^9 (committed and excess/peak).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MeterState {
    profile: Profile,
    two_rate: bool,
    /// Committed bucket: rate (bits/s), cap and credit.
    c_rate: u64,
    c_cap: u128,
    c: u128,
    /// Excess (srTCM) or peak (trTCM) bucket.
    x_rate: u64,
    x_cap: u128,
    x: u128,
    last: Duration,
}

/// Bits x 10^9 in `bytes` bytes.
fn bits(bytes: u64) -> u128 {
    u128::from(bytes.min(MAX_BURST / 8)) * 8 * NANOS
}

impl MeterState {
    /// A meter for `profile`, both buckets full (RFC 2697 section 3, RFC 2698 section 3)
    /// as of `now`.
    #[must_use]
    pub fn new(profile: Profile, now: Duration) -> Self {
        let (two_rate, c_rate, c_cap, x_rate, x_cap) = match profile.meter {
            Meter::SrTcm { cir, cbs, ebs } => (false, cir, bits(cbs), 0, bits(ebs)),
            Meter::TrTcm { cir, cbs, pir, pbs } => (true, cir, bits(cbs), pir, bits(pbs)),
        };
        Self {
            profile,
            two_rate,
            c_rate,
            c_cap,
            c: c_cap,
            x_rate,
            x_cap,
            x: x_cap,
            last: now,
        }
    }

    /// The profile.
    #[must_use]
    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    /// Colours a packet of `bytes` bytes arriving at `now` (colour-blind mode) and takes
    /// its tokens.
    #[inline]
    pub fn color(&mut self, now: Duration, bytes: u64) -> Color {
        if let Some(d) = now.checked_sub(self.last) {
            let ns = d.as_nanos();
            let add = ns.saturating_mul(u128::from(self.c_rate));
            if self.two_rate {
                // RFC 2698 section 3: Tc grows by CIR up to CBS, Tp by PIR up to PBS
                self.c = self.c.saturating_add(add).min(self.c_cap);
                let addp = ns.saturating_mul(u128::from(self.x_rate));
                self.x = self.x.saturating_add(addp).min(self.x_cap);
            } else {
                // RFC 2697 section 3: Tc grows up to CBS, what overflows goes to Te
                let c = self.c.saturating_add(add);
                if c > self.c_cap {
                    self.x = self.x.saturating_add(c - self.c_cap).min(self.x_cap);
                    self.c = self.c_cap;
                } else {
                    self.c = c;
                }
            }
            self.last = now;
        }
        let need = u128::from(bytes) * 8 * NANOS;
        if self.two_rate {
            // RFC 2698 section 3, colour-blind: red if Tp < B, yellow if Tc < B
            if self.x < need {
                Color::Red
            } else if self.c < need {
                self.x -= need;
                Color::Yellow
            } else {
                self.x -= need;
                self.c -= need;
                Color::Green
            }
        } else if self.c >= need {
            // RFC 2697 section 3, colour-blind
            self.c -= need;
            Color::Green
        } else if self.x >= need {
            self.x -= need;
            Color::Yellow
        } else {
            Color::Red
        }
    }
}

crate::label! {
    /// Edges of `qos-policer`.
    pub enum Next {
        /// Transmitted (possibly re-marked), or no profile.
        Forward => "forward",
    }
}

crate::label! {
    /// Drop reasons of `qos-policer`.
    pub enum Drop {
        /// A green packet whose action is drop.
        Green => "green",
        /// A yellow packet (over the committed rate) whose action is drop.
        Yellow => "yellow",
        /// A red packet whose action is drop.
        Red => "red",
    }
}

/// Counters of `qos-policer` beyond the graph's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PolicerStats {
    /// Packets coloured, by colour (green, yellow, red).
    pub colored: [u64; 3],
    /// Packets re-marked.
    pub remarked: u64,
    /// Packets of subscribers without a profile (forwarded unpoliced).
    pub unpoliced: u64,
    /// Packets not IPv4/IPv6 that a re-mark action could not mark (forwarded).
    pub unmarkable: u64,
}

/// The `qos-policer` node: one per direction (upstream, downstream), each with its
/// table of per-subscriber meters indexed by `meta.subscriber`. Packet sizes are the
/// network-layer bytes (from `meta.l3_offset` to the end).
#[derive(Debug, Default)]
pub struct Policer {
    /// The time of the frame being processed (set by the worker per frame).
    pub now: Duration,
    /// Counters.
    pub stats: PolicerStats,
    table: Vec<Option<MeterState>>,
}

impl Policer {
    /// An empty policer.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets subscriber `handle`'s profile. Its buckets start full; the next packet of
    /// the subscriber is metered by it. Grows the table (control plane, not per packet).
    pub fn set_profile(&mut self, handle: u32, profile: Profile) {
        let i = handle as usize;
        if self.table.len() <= i {
            self.table.resize(i + 1, None);
        }
        if let Some(slot) = self.table.get_mut(i) {
            *slot = Some(MeterState::new(profile, self.now));
        }
    }

    /// Removes subscriber `handle`'s profile (its packets then pass unpoliced).
    pub fn clear(&mut self, handle: u32) {
        if let Some(slot) = self.table.get_mut(handle as usize) {
            *slot = None;
        }
    }

    /// The meter of `handle`, if it has a profile.
    #[must_use]
    pub fn meter(&self, handle: u32) -> Option<&MeterState> {
        self.table.get(handle as usize)?.as_ref()
    }
}

/// Writes `dscp` into the IP header at the start of `ip`; `false` if not IPv4/IPv6.
fn remark(ip: &mut [u8], dscp: u8) -> bool {
    let Some(h) = ip.first_chunk_mut::<12>() else {
        return false;
    };
    match h[0] >> 4 {
        4 => {
            // RFC 791 TOS byte = DSCP << 2 | ECN; checksum by RFC 1624 equation 3
            let old = u16::from_be_bytes([h[0], h[1]]);
            h[1] = (dscp << 2) | (h[1] & 0x03);
            let new = u16::from_be_bytes([h[0], h[1]]);
            let hc = u16::from_be_bytes([h[10], h[11]]);
            let ck = crate::nodes::mss::update(hc, old, new);
            h[10..12].copy_from_slice(&ck.to_be_bytes());
            true
        }
        6 => {
            // RFC 8200 section 3: Traffic Class spans the low nibble of byte 0 and the
            // high nibble of byte 1; DSCP is its top six bits
            h[0] = (h[0] & 0xf0) | ((dscp >> 2) & 0x0f);
            h[1] = ((dscp & 0x03) << 6) | (h[1] & 0x3f);
            true
        }
        _ => false,
    }
}

impl Node for Policer {
    type Next = Next;
    type Drop = Drop;
    const NAME: &'static str = "qos-policer";

    #[inline]
    fn packet(&mut self, pkt: &mut Pkt<'_>) -> Verdict<Next, Drop> {
        let Some(Some(m)) = self.table.get_mut(pkt.meta.subscriber as usize) else {
            self.stats.unpoliced += 1;
            return Verdict::Next(Next::Forward);
        };
        let l3 = usize::from(pkt.meta.l3_offset);
        let bytes = pkt.len().saturating_sub(l3) as u64;
        let color = m.color(self.now, bytes);
        let (action, reason) = match color {
            Color::Green => (m.profile.green, Drop::Green),
            Color::Yellow => (m.profile.yellow, Drop::Yellow),
            Color::Red => (m.profile.red, Drop::Red),
        };
        if let Some(c) = self.stats.colored.get_mut(color as usize) {
            *c += 1;
        }
        match action {
            Action::Transmit => Verdict::Next(Next::Forward),
            Action::Drop => Verdict::Drop(reason),
            Action::Remark(dscp) => {
                let marked = pkt
                    .data_mut()
                    .get_mut(l3..)
                    .is_some_and(|ip| remark(ip, dscp));
                if marked {
                    self.stats.remarked += 1;
                } else {
                    self.stats.unmarkable += 1;
                }
                Verdict::Next(Next::Forward)
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// The downstream shaper
// ---------------------------------------------------------------------------------------

/// A subscriber's downstream shaping profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShaperProfile {
    /// Rate, bits/s.
    pub rate: u64,
    /// Burst, bytes (at least one buffer, [`BUF_SIZE`], so that any packet can go).
    pub burst: u64,
    /// Packets queued at most; beyond, tail drop.
    pub queue: usize,
}

/// Counters of the [`Shaper`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShaperStats {
    /// Packets sent at once (tokens available, empty queue).
    pub direct: u64,
    /// Packets queued.
    pub queued: u64,
    /// Queued packets released by [`Shaper::poll`].
    pub released: u64,
    /// Packets dropped because the subscriber's queue was full.
    pub tail_drops: u64,
    /// Packets of subscribers without a shaping profile (sent unshaped).
    pub unshaped: u64,
}

#[derive(Debug)]
struct Shaped<'p> {
    bucket: TokenBucket,
    queue: VecDeque<Pkt<'p>>,
    limit: usize,
}

/// The downstream shaper: per subscriber, a token bucket (bits) and a bounded FIFO of
/// packets waiting for tokens, filled by [`Shaper::enqueue`] and drained by
/// [`Shaper::poll`] each loop. Queues are allocated by `set_profile`, never per packet;
/// a packet is dropped (tail drop, counted) when its subscriber's queue is full or when
/// the shaper already holds `max_queued` packets in all, so queued packets never take
/// more than that many of the worker's buffers. Packet sizes are the network-layer bytes.
#[derive(Debug)]
pub struct Shaper<'p> {
    /// Counters.
    pub stats: ShaperStats,
    table: Vec<Option<Shaped<'p>>>,
    /// Subscribers with queued packets (each once).
    active: Vec<u32>,
    /// Packets queued in all.
    total: usize,
    /// Packets queued in all at most.
    max_total: usize,
}

fn l3_bytes(p: &Pkt<'_>) -> u64 {
    p.len().saturating_sub(usize::from(p.meta.l3_offset)) as u64
}

impl<'p> Shaper<'p> {
    /// An empty shaper holding at most `max_queued` packets in all its queues (size the
    /// worker's arena for it).
    #[must_use]
    pub fn new(max_queued: usize) -> Self {
        Self {
            stats: ShaperStats::default(),
            table: Vec::new(),
            active: Vec::new(),
            total: 0,
            max_total: max_queued,
        }
    }

    /// Sets `handle`'s shaping profile as of `now` (its bucket starts full). Packets
    /// already queued stay queued (beyond a smaller queue limit they go back to `pool`,
    /// counted as tail drops).
    pub fn set_profile(
        &mut self,
        handle: u32,
        p: ShaperProfile,
        now: Duration,
        pool: &mut Pool<'p>,
    ) {
        let i = handle as usize;
        if self.table.len() <= i {
            self.table.resize_with(i + 1, || None);
        }
        let Some(slot) = self.table.get_mut(i) else {
            return;
        };
        let bucket = TokenBucket::new(p.rate, p.burst.max(BUF_SIZE as u64).saturating_mul(8), now);
        if let Some(s) = slot {
            s.bucket = bucket;
            s.limit = p.queue;
            while s.queue.len() > p.queue {
                if let Some(x) = s.queue.pop_back() {
                    pool.free(x);
                    self.stats.tail_drops += 1;
                    self.total = self.total.saturating_sub(1);
                }
            }
            s.queue.reserve(p.queue.saturating_sub(s.queue.len()));
        } else {
            *slot = Some(Shaped {
                bucket,
                queue: VecDeque::with_capacity(p.queue),
                limit: p.queue,
            });
            if self.active.capacity() < self.table.len() {
                self.active.reserve(self.table.len() - self.active.len());
            }
        }
    }

    /// Removes `handle`'s profile, returning its queued packets to `pool`.
    pub fn clear(&mut self, handle: u32, pool: &mut Pool<'p>) {
        if let Some(slot) = self.table.get_mut(handle as usize)
            && let Some(mut s) = slot.take()
        {
            self.total = self.total.saturating_sub(s.queue.len());
            for p in s.queue.drain(..) {
                pool.free(p);
            }
            self.active.retain(|&h| h != handle);
        }
    }

    /// Whether `handle` has a shaping profile.
    #[must_use]
    pub fn is_shaped(&self, handle: u32) -> bool {
        self.table.get(handle as usize).is_some_and(Option::is_some)
    }

    /// Changes the most packets held in all queues (packets already queued stay).
    pub fn set_max_queued(&mut self, max_queued: usize) {
        self.max_total = max_queued;
    }

    /// Packets waiting in all queues.
    #[must_use]
    pub fn queued(&self) -> usize {
        self.total
    }

    /// Takes every packet of `frame` at `now`: packets that may go now (no profile, or
    /// tokens available and nothing queued before them) are appended to `out`, others
    /// are queued or, when their subscriber's queue is full, returned to `pool`.
    pub fn enqueue(
        &mut self,
        now: Duration,
        frame: &mut Frame<'p>,
        out: &mut Frame<'p>,
        pool: &mut Pool<'p>,
    ) {
        for p in frame.drain(..) {
            let h = p.meta.subscriber;
            let Some(Some(s)) = self.table.get_mut(h as usize) else {
                self.stats.unshaped += 1;
                out.push(p);
                continue;
            };
            if s.queue.is_empty() && s.bucket.take(now, l3_bytes(&p) * 8) {
                self.stats.direct += 1;
                out.push(p);
            } else if s.queue.len() < s.limit && self.total < self.max_total {
                if s.queue.is_empty() {
                    self.active.push(h);
                }
                s.queue.push_back(p);
                self.total += 1;
                self.stats.queued += 1;
            } else {
                self.stats.tail_drops += 1;
                pool.free(p);
            }
        }
    }

    /// Releases queued packets whose tokens have accrued by `now` into `out`, up to a
    /// full frame ([`FRAME_SIZE`]): round robin over the subscribers with queued packets,
    /// one packet each per round, so a full frame does not always favour the same ones.
    pub fn poll(&mut self, now: Duration, out: &mut Frame<'p>) {
        loop {
            let mut progress = false;
            for &h in &self.active {
                if out.len() >= FRAME_SIZE {
                    break;
                }
                let Some(Some(s)) = self.table.get_mut(h as usize) else {
                    continue;
                };
                let Some(front) = s.queue.front() else {
                    continue;
                };
                if s.bucket.take(now, l3_bytes(front) * 8)
                    && let Some(p) = s.queue.pop_front()
                {
                    out.push(p);
                    self.total = self.total.saturating_sub(1);
                    self.stats.released += 1;
                    progress = true;
                }
            }
            if !progress || out.len() >= FRAME_SIZE {
                break;
            }
        }
        let table = &self.table;
        self.active.retain(|&h| {
            table
                .get(h as usize)
                .and_then(Option::as_ref)
                .is_some_and(|s| !s.queue.is_empty())
        });
        // start the next poll after the subscribers served first this time
        if !self.active.is_empty() {
            let n = self.active.len();
            self.active.rotate_left(1 % n);
        }
    }

    /// The earliest time a queued packet can be released (`None`: nothing queued).
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Duration> {
        self.active
            .iter()
            .filter_map(|&h| {
                let s = self.table.get(h as usize)?.as_ref()?;
                s.bucket.ready_at(l3_bytes(s.queue.front()?) * 8)
            })
            .min()
    }

    /// Returns every queued packet to `pool` (on shutdown).
    pub fn flush(&mut self, pool: &mut Pool<'p>) {
        self.total = 0;
        for h in self.active.drain(..) {
            if let Some(Some(s)) = self.table.get_mut(h as usize) {
                for p in s.queue.drain(..) {
                    pool.free(p);
                }
            }
        }
    }
}
