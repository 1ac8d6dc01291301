//! `nat44`: carrier-grade NAT44 (the `bng-nat44` translator) as a graph node. The same
//! node instance translates subscriber traffic inside→outside and replies
//! outside→inside: set [`Nat44Node::direction`] before running a frame. The packet's
//! network header starts at `meta.l3_offset`; translation is in place. The translator's
//! own counters (per drop reason, per direction) are in [`Nat44Node::nat`].

#![allow(
    clippy::inline_always,
    reason = "per-packet functions of the fused passes: inlined into the frame loop (callgrind: the calls cost more instructions than the work)"
)]

use core::time::Duration;

use bng_nat44::{Nat44, Verdict as NatVerdict};

use crate::buffer::Pkt;
use crate::graph::{Node, Verdict};

/// Which way a frame goes through the translator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// From a subscriber toward the Internet (RFC 4787 "outbound").
    InToOut,
    /// From the Internet toward a subscriber.
    OutToIn,
}

crate::label! {
    /// Edges of `nat44`.
    pub enum Next {
        /// Translated: on in the direction it was going.
        Forward => "forward",
        /// Hairpinned (RFC 4787 REQ-9): back toward the inside.
        Hairpin => "hairpin",
    }
}

crate::label! {
    /// Drop reasons of `nat44` (the translator keeps finer ones).
    pub enum Drop {
        /// The translator refused the packet (see `nat.stats()` for why).
        Refused => "refused",
    }
}

/// The `nat44` node.
#[derive(Debug)]
pub struct Nat44Node<'s> {
    /// The translator and its tables (over the caller's storage).
    pub nat: Nat44<'s>,
    /// The time of the frame being processed (set by the worker per frame).
    pub now: Duration,
    /// The direction of the frame being processed.
    pub direction: Direction,
}

impl Node for Nat44Node<'_> {
    type Next = Next;
    type Drop = Drop;
    const NAME: &'static str = "nat44";

    #[inline(always)]
    fn packet(&mut self, pkt: &mut Pkt<'_>) -> Verdict<Next, Drop> {
        let l3 = usize::from(pkt.meta.l3_offset);
        let Some(ip) = pkt.data_mut().get_mut(l3..) else {
            return Verdict::Drop(Drop::Refused);
        };
        let v = match self.direction {
            Direction::InToOut => self.nat.in2out(self.now, ip),
            // the same verdicts as `out2in`, established flows through fixed-size views
            Direction::OutToIn => self.nat.out2in_fast(self.now, ip),
        };
        match v {
            NatVerdict::Forward => Verdict::Next(Next::Forward),
            NatVerdict::Hairpin => Verdict::Next(Next::Hairpin),
            NatVerdict::Drop(_) => Verdict::Drop(Drop::Refused),
        }
    }
}
