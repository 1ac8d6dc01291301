//! The node graph: VPP's model in Rust (STYLE.md section 9).
//!
//! A node takes a frame (a vector of up to [`FRAME_SIZE`] packets), decides one next
//! edge per packet in one tight loop, and the graph then moves the packets to the
//! frames of their next nodes ("enqueue by next"). Edges are enums named per node;
//! every node has per-worker counters (packets, frames, one counter per drop reason)
//! that are added once per frame, not once per packet. A bounded trace records what a
//! packet did, for debugging, when enabled.

use std::collections::VecDeque;

use crate::buffer::{Pkt, Pool};

/// Packets in one frame at most, as in VPP.
pub const FRAME_SIZE: usize = 256;

/// A frame: the packets a node processes in one call. Allocated once with capacity
/// [`FRAME_SIZE`] and reused, so processing allocates nothing.
pub type Frame<'p> = Vec<Pkt<'p>>;

/// A new, empty frame with room for [`FRAME_SIZE`] packets.
#[must_use]
pub fn new_frame<'p>() -> Frame<'p> {
    Vec::with_capacity(FRAME_SIZE)
}

/// An edge or drop reason of a node: a small enum with a dense `u16` index and a name.
pub trait Label: Copy + Eq {
    /// Number of values; indexes are `0..COUNT`.
    const COUNT: usize;
    /// Names, by index.
    const NAMES: &'static [&'static str];
    /// The dense index of this value.
    fn index(self) -> usize;
}

/// Declares a `#[repr(u16)]` enum that implements [`Label`].
#[macro_export]
macro_rules! label {
    ($(#[$m:meta])* $vis:vis enum $name:ident { $($(#[$vm:meta])* $v:ident => $s:literal,)* }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u16)]
        $vis enum $name { $($(#[$vm])* $v,)* }
        impl $crate::graph::Label for $name {
            const COUNT: usize = [$($s),*].len();
            const NAMES: &'static [&'static str] = &[$($s),*];
            fn index(self) -> usize { self as usize }
        }
    };
}

/// What a node decides for one packet: go on along an edge, or be dropped for a reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict<N, D> {
    /// Enqueue to the next node on this edge.
    Next(N),
    /// Drop, counting this reason.
    Drop(D),
}

/// A graph node.
pub trait Node {
    /// The node's outgoing edges.
    type Next: Label;
    /// The node's drop reasons (one counter each).
    type Drop: Label;
    /// The node's name, for counters and traces.
    const NAME: &'static str;

    /// Decides one packet: the per-packet function, inlined into the frame loop of
    /// [`run`]. It may rewrite the packet in place.
    fn packet(&mut self, pkt: &mut Pkt<'_>) -> Verdict<Self::Next, Self::Drop>;

    /// Look-ahead stages of the node (software pipelining, VPP's prefetch of the
    /// packets a few ahead): [`run2`] calls [`Node::ahead`] with each stage `s` in
    /// `1..=AHEAD` on the packet `s * AHEAD_STRIDE` places ahead of the one it
    /// decides. 0 (the default): none.
    const AHEAD: usize = 0;

    /// Whether the look-ahead runs for this frame (a node may keep it for tables that
    /// outgrow the caches: below that it only costs instructions).
    #[inline]
    fn ahead_on(&self) -> bool {
        false
    }

    /// Stage `stage` of the look-ahead for the packet at `pos` in the frame, before any
    /// node of the pass has seen it: stage `s` prefetches what stage `s - 1` (called
    /// [`AHEAD_STRIDE`] packets later, when those lines have arrived) reads, and stage
    /// 1 what the packet's decision reads; stage 0 comes right before the decision
    /// (the node may note `pos` to use what its stages found). It must not change what
    /// the decision depends on.
    #[inline]
    fn ahead(&mut self, _pkt: &Pkt<'_>, _pos: usize, _stage: usize) {}
}

/// Packets between two look-ahead stages ([`Node::ahead`]): far enough that a stage's
/// cache misses (DRAM, ~150-200 ns on the dev VM) arrive while the packets between are
/// decided, near enough that the lines are still in L1 when they are read. Measured on
/// a gather of four random 64-byte lines per packet over 6.4 MB tables: prefetching 4
/// ahead 30 ns/packet, 8 ahead 33, 32 ahead 42, a whole 256-packet frame first 82.
pub const AHEAD_STRIDE: usize = 4;

/// Per-worker counters of one node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    /// Frames processed.
    pub frames: u64,
    /// Packets processed.
    pub packets: u64,
    /// Packets sent along each edge, by edge index.
    pub next: Vec<u64>,
    /// Packets dropped, by reason index.
    pub drops: Vec<u64>,
}

impl Counters {
    /// Zeroed counters sized for node `N`.
    #[must_use]
    pub fn for_node<N: Node>() -> Self {
        Self {
            frames: 0,
            packets: 0,
            next: vec![0; N::Next::COUNT],
            drops: vec![0; N::Drop::COUNT],
        }
    }

    /// The counters as `(name, value)` rows for node `N`: `packets`, `frames`, then
    /// `next.<edge>` and `drop.<reason>` rows with non-zero values.
    #[must_use]
    pub fn rows<N: Node>(&self) -> Vec<(String, u64)> {
        let mut v = vec![
            ("packets".to_owned(), self.packets),
            ("frames".to_owned(), self.frames),
        ];
        for (i, n) in N::Next::NAMES.iter().enumerate() {
            let c = self.next.get(i).copied().unwrap_or(0);
            if c > 0 {
                v.push((format!("next.{n}"), c));
            }
        }
        for (i, n) in N::Drop::NAMES.iter().enumerate() {
            let c = self.drops.get(i).copied().unwrap_or(0);
            if c > 0 {
                v.push((format!("drop.{n}"), c));
            }
        }
        v
    }
}

/// One trace record: which node sent which packet where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceEntry {
    /// The node.
    pub node: &'static str,
    /// The edge or drop reason name.
    pub verdict: &'static str,
    /// Whether it was a drop.
    pub dropped: bool,
    /// The packet's length then.
    pub len: usize,
    /// Its first bytes (up to 64).
    pub head: Vec<u8>,
}

/// A bounded packet trace: off by default; when on, keeps the last `capacity` records.
#[derive(Debug, Default)]
pub struct Trace {
    capacity: usize,
    entries: VecDeque<TraceEntry>,
}

impl Trace {
    /// A trace keeping the last `capacity` records (0 turns it off).
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            entries: VecDeque::with_capacity(capacity),
        }
    }

    /// Whether records are kept (a capacity above 0).
    #[must_use]
    pub fn is_on(&self) -> bool {
        self.capacity > 0
    }

    /// The records, oldest first.
    pub fn entries(&self) -> impl Iterator<Item = &TraceEntry> {
        self.entries.iter()
    }

    fn record(&mut self, e: TraceEntry) {
        if self.entries.len() == self.capacity {
            self.entries.pop_front();
        }
        self.entries.push_back(e);
    }
}

/// A packet's destination decided by the first loop of [`run`] / [`run2`]: an edge
/// index of the first node's outputs, with [`SECOND`] set one of the second node's, or
/// [`DROPPED`].
type Code = u16;
const SECOND: Code = 0x8000;
const DROPPED: Code = 0xffff;

/// Moves each packet of `frame` to the output its code names (or back to `pool`), in
/// order. The common case, every packet to one edge whose frame is empty, swaps the
/// frames: no packet moves at all. `codes` has one entry per packet of `frame`.
fn distribute<'p>(
    frame: &mut Frame<'p>,
    codes: &[Code],
    a_outs: &mut [Frame<'p>],
    b_outs: &mut [Frame<'p>],
    pool: &mut Pool<'p>,
) {
    debug_assert_eq!(codes.len(), frame.len());
    if let Some((&first, rest)) = codes.split_first()
        && first != DROPPED
        && rest.iter().all(|&c| c == first)
    {
        let outs = if first & SECOND == 0 {
            &mut *a_outs
        } else {
            &mut *b_outs
        };
        if let Some(out) = outs.get_mut(usize::from(first & !SECOND))
            && out.is_empty()
        {
            core::mem::swap(frame, out);
            return;
        }
    }
    for (pkt, &c) in frame.drain(..).zip(codes) {
        let outs = if c & SECOND == 0 {
            &mut *a_outs
        } else {
            &mut *b_outs
        };
        match outs.get_mut(usize::from(c & !SECOND)) {
            Some(out) if c != DROPPED => out.push(pkt),
            _ => pool.free(pkt),
        }
    }
}

/// The code of a verdict (`second`: of the second node of [`run2`]).
#[inline(always)]
#[allow(
    clippy::inline_always,
    clippy::cast_possible_truncation,
    reason = "per packet; edge indexes are below 32"
)]
fn code<E: Label, D: Label>(v: Verdict<E, D>, second: bool) -> Code {
    match v {
        Verdict::Next(e) => e.index() as Code | if second { SECOND } else { 0 },
        Verdict::Drop(_) => DROPPED,
    }
}

/// Runs `node` over `frame`: one verdict per packet in a single loop, then each packet
/// is moved to `outs[edge]` or, when dropped, back to `pool` (a whole frame to one
/// empty edge is handed over without moving its packets). Counters are added once
/// per frame. `outs` must have one frame per edge of the node.
pub fn run<'p, N: Node>(
    node: &mut N,
    frame: &mut Frame<'p>,
    outs: &mut [Frame<'p>],
    pool: &mut Pool<'p>,
    counters: &mut Counters,
    trace: &mut Trace,
) {
    let n = frame.len();
    if n == 0 {
        return;
    }
    if n > FRAME_SIZE {
        run_moving(node, frame, outs, pool, counters, trace);
        return;
    }
    let mut codes = [0 as Code; FRAME_SIZE];
    let mut tally = Tally::new();
    for (pkt, c) in frame.iter_mut().zip(codes.iter_mut()) {
        let v = node.packet(pkt);
        if trace.capacity > 0 {
            record::<N>(trace, v, pkt);
        }
        *c = code(tally.count(v), false);
    }
    tally.add_counted(counters);
    distribute(
        frame,
        codes.get(..n).unwrap_or_default(),
        outs,
        &mut [],
        pool,
    );
}

/// [`run`] for a frame longer than [`FRAME_SIZE`]: each packet moved as it is decided.
fn run_moving<'p, N: Node>(
    node: &mut N,
    frame: &mut Frame<'p>,
    outs: &mut [Frame<'p>],
    pool: &mut Pool<'p>,
    counters: &mut Counters,
    trace: &mut Trace,
) {
    debug_assert_eq!(
        outs.len(),
        N::Next::COUNT,
        "{}: one output frame per edge",
        N::NAME
    );
    debug_assert!(
        N::Next::COUNT <= 32 && N::Drop::COUNT <= 32,
        "{}: at most 32 edges and reasons",
        N::NAME
    );
    if frame.is_empty() {
        return;
    }
    let mut next_tally = [0u32; 32];
    let mut drop_tally = [0u32; 32];
    let n = frame.len();
    for mut pkt in frame.drain(..) {
        let v = node.packet(&mut pkt);
        if trace.capacity > 0 {
            record::<N>(trace, v, &pkt);
        }
        match v {
            Verdict::Next(e) => {
                let i = e.index();
                if let Some(t) = next_tally.get_mut(i) {
                    *t += 1;
                }
                match outs.get_mut(i) {
                    Some(out) => out.push(pkt),
                    None => pool.free(pkt),
                }
            }
            Verdict::Drop(d) => {
                if let Some(t) = drop_tally.get_mut(d.index()) {
                    *t += 1;
                }
                pool.free(pkt);
            }
        }
    }
    counters.frames += 1;
    counters.packets += n as u64;
    for (c, t) in counters.next.iter_mut().zip(next_tally) {
        *c += u64::from(t);
    }
    for (c, t) in counters.drops.iter_mut().zip(drop_tally) {
        *c += u64::from(t);
    }
}

/// Tallies of one node over one frame, added to its [`Counters`] once per frame (for
/// a node whose per-packet function another node's loop calls: a fused pass).
#[derive(Debug)]
pub struct Tally {
    packets: u32,
    next: [u32; 32],
    drops: [u32; 32],
}

impl Default for Tally {
    fn default() -> Self {
        Self::new()
    }
}

impl Tally {
    /// Nothing counted yet.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            packets: 0,
            next: [0; 32],
            drops: [0; 32],
        }
    }

    /// Counts one packet and its verdict `v`; returns `v`.
    #[inline]
    pub fn count<E: Label, D: Label>(&mut self, v: Verdict<E, D>) -> Verdict<E, D> {
        self.packets += 1;
        let t = match v {
            Verdict::Next(e) => self.next.get_mut(e.index()),
            Verdict::Drop(d) => self.drops.get_mut(d.index()),
        };
        if let Some(t) = t {
            *t += 1;
        }
        v
    }

    /// Adds what [`Tally::count`] counted to `c` as one frame, if it counted any packet.
    pub fn add_counted(&self, c: &mut Counters) {
        if self.packets > 0 {
            self.add_to(c, self.packets);
        }
    }

    fn add_to(&self, c: &mut Counters, packets: u32) {
        c.frames += 1;
        c.packets += u64::from(packets);
        for (c, t) in c.next.iter_mut().zip(self.next) {
            *c += u64::from(t);
        }
        for (c, t) in c.drops.iter_mut().zip(self.drops) {
            *c += u64::from(t);
        }
    }
}

fn record<N: Node>(trace: &mut Trace, v: Verdict<N::Next, N::Drop>, pkt: &Pkt<'_>) {
    let (verdict, dropped) = match v {
        Verdict::Next(e) => (N::Next::NAMES.get(e.index()).copied().unwrap_or("?"), false),
        Verdict::Drop(d) => (N::Drop::NAMES.get(d.index()).copied().unwrap_or("?"), true),
    };
    let head = pkt
        .data()
        .get(..pkt.len().min(64))
        .unwrap_or_default()
        .to_vec();
    trace.record(TraceEntry {
        node: N::NAME,
        verdict,
        dropped,
        len: pkt.len(),
        head,
    });
}

/// Runs `first` over `frame` and, in the same loop, `second` over each packet `first`
/// sends along its edge `via`: two nodes fused into one pass over the frame (the packet is not
/// moved between them). Everything else is as with [`run`] for each node: `first`'s
/// other edges go to `a_outs`, `second`'s edges to `b_outs` (`a_outs[via]` stays untouched),
/// drops back to `pool`, each node's counters added once per frame, both traced.
#[allow(
    clippy::too_many_arguments,
    reason = "two nodes' outputs and counters, as run() has for one"
)]
pub fn run2<'p, A: Node, B: Node>(
    first: &mut A,
    via: A::Next,
    second: &mut B,
    frame: &mut Frame<'p>,
    a_outs: &mut [Frame<'p>],
    b_outs: &mut [Frame<'p>],
    pool: &mut Pool<'p>,
    (ca, cb): (&mut Counters, &mut Counters),
    trace: &mut Trace,
) {
    let n = frame.len();
    if n == 0 {
        return;
    }
    if n > FRAME_SIZE {
        run2_moving(
            first,
            via,
            second,
            frame,
            a_outs,
            b_outs,
            pool,
            (ca, cb),
            trace,
        );
        return;
    }
    let mut codes = [0 as Code; FRAME_SIZE];
    let (mut ta, mut tb) = (Tally::new(), Tally::new());
    if B::AHEAD > 0 && second.ahead_on() {
        // the pipeline's prologue: each stage for the packets the loop starts past
        for s in (1..=B::AHEAD).rev() {
            for (pos, p) in frame.iter().enumerate().take(s * AHEAD_STRIDE) {
                second.ahead(p, pos, s);
            }
        }
        for j in 0..n {
            for s in 1..=B::AHEAD {
                let pos = j + s * AHEAD_STRIDE;
                if let Some(p) = frame.get(pos) {
                    second.ahead(p, pos, s);
                }
            }
            if let Some(p) = frame.get(j) {
                second.ahead(p, j, 0);
            }
            if let (Some(pkt), Some(c)) = (frame.get_mut(j), codes.get_mut(j)) {
                *c = decide2(first, via, second, pkt, (&mut ta, &mut tb), trace);
            }
        }
    } else {
        for (pkt, c) in frame.iter_mut().zip(codes.iter_mut()) {
            *c = decide2(first, via, second, pkt, (&mut ta, &mut tb), trace);
        }
    }
    ta.add_counted(ca);
    tb.add_counted(cb);
    distribute(
        frame,
        codes.get(..n).unwrap_or_default(),
        a_outs,
        b_outs,
        pool,
    );
}

/// [`run2`]'s per-packet step: `first`, then `second` if `first` sends the packet
/// along `via`; the code of where it goes.
#[inline(always)]
#[allow(
    clippy::inline_always,
    reason = "the step of run2's two loops: as a closure it stayed a call per packet (callgrind)"
)]
fn decide2<A: Node, B: Node>(
    first: &mut A,
    via: A::Next,
    second: &mut B,
    pkt: &mut Pkt<'_>,
    (ta, tb): (&mut Tally, &mut Tally),
    trace: &mut Trace,
) -> Code {
    let v = ta.count(first.packet(pkt));
    if trace.capacity > 0 {
        record::<A>(trace, v, pkt);
    }
    if v == Verdict::Next(via) {
        let vb = tb.count(second.packet(pkt));
        if trace.capacity > 0 {
            record::<B>(trace, vb, pkt);
        }
        code(vb, true)
    } else {
        code(v, false)
    }
}

/// [`run2`] for a frame longer than [`FRAME_SIZE`]: each packet moved as it is decided.
#[allow(
    clippy::too_many_arguments,
    reason = "two nodes' outputs and counters, as run() has for one"
)]
fn run2_moving<'p, A: Node, B: Node>(
    first: &mut A,
    via: A::Next,
    second: &mut B,
    frame: &mut Frame<'p>,
    a_outs: &mut [Frame<'p>],
    b_outs: &mut [Frame<'p>],
    pool: &mut Pool<'p>,
    (ca, cb): (&mut Counters, &mut Counters),
    trace: &mut Trace,
) {
    let (mut ta, mut tb) = (Tally::new(), Tally::new());
    let (mut na, mut nb) = (0u32, 0u32);
    for mut pkt in frame.drain(..) {
        na += 1;
        let v = first.packet(&mut pkt);
        if trace.capacity > 0 {
            record::<A>(trace, v, &pkt);
        }
        let (v, outs, tally) = match v {
            Verdict::Next(e) if e == via => {
                if let Some(t) = ta.next.get_mut(e.index()) {
                    *t += 1;
                }
                nb += 1;
                let vb = second.packet(&mut pkt);
                if trace.capacity > 0 {
                    record::<B>(trace, vb, &pkt);
                }
                let vb = match vb {
                    Verdict::Next(e) => Verdict::Next(e.index()),
                    Verdict::Drop(d) => Verdict::Drop(d.index()),
                };
                (vb, &mut *b_outs, &mut tb)
            }
            Verdict::Next(e) => (Verdict::Next(e.index()), &mut *a_outs, &mut ta),
            Verdict::Drop(d) => (Verdict::Drop(d.index()), &mut *a_outs, &mut ta),
        };
        match v {
            Verdict::Next(i) => {
                if let Some(t) = tally.next.get_mut(i) {
                    *t += 1;
                }
                match outs.get_mut(i) {
                    Some(out) => out.push(pkt),
                    None => pool.free(pkt),
                }
            }
            Verdict::Drop(i) => {
                if let Some(t) = tally.drops.get_mut(i) {
                    *t += 1;
                }
                pool.free(pkt);
            }
        }
    }
    ta.add_to(ca, na);
    if nb > 0 {
        tb.add_to(cb, nb);
    }
}
