//! A control protocol: the automaton of [`super::fsm`] plus the packets its actions
//! send, generic over the protocol's option handling ([`Handler`]: LCP, IPCP,
//! IPv6CP). Implements the Configure-Request processing of RFC 1661 section 5.1-5.4
//! (Ack / Nak / Reject, Max-Failure of section 4.6), Terminate (5.5) and
//! Code-Reject (5.6).

use core::time::Duration;

use crate::error::EmitError;

use super::fsm::{Actions, Event, Fsm, State, Timers};
use super::packet::{Code, ControlRepr, HEADER_LEN, Opt, Options, Writer, emit_header};
use super::{PROTOCOL_LEN, Prng, Protocol, emit_protocol};

/// Capacity of one reply slot: a PPP frame built from a received packet
/// (Configure-Ack/Nak/Reject, Code-Reject, Protocol-Reject, Echo-Reply). Rejected
/// packets copied into Code-Reject / Protocol-Reject and Echo-Reply data are
/// truncated to fit, as RFC 1661 sections 5.6-5.8 allow; a Configure-Request whose
/// options exceed 122 bytes cannot be answered (real ones carry under 60).
pub const REPLY_CAP: usize = 128;

/// Reply slots: two, so that back-to-back requests (IPCP and IPv6CP) are both
/// answered even if the caller polls only after a burst.
pub const REPLY_SLOTS: usize = 2;

/// Largest option list we build in one Configure-* packet.
const SCRATCH: usize = 256;

/// How a control protocol judges one option of the peer's Configure-Request
/// (RFC 1661 sections 5.2-5.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Acceptable as is.
    Ack,
    /// Recognised, value unacceptable: the handler wrote the option with the value
    /// it wants into the Nak writer.
    Nak,
    /// Not recognised or not negotiable.
    Reject,
}

/// What a control protocol needs to say about its options: LCP (RFC 1661 section
/// 6), IPCP (RFC 1332 section 3, RFC 1877), IPv6CP (RFC 5072 section 4).
pub trait Handler {
    /// The PPP protocol number of this control protocol.
    const PROTOCOL: Protocol;

    /// Writes the options of our next Configure-Request (section 5.1).
    fn request(&self, w: &mut Writer<'_>);

    /// Judges one option of the peer's Configure-Request. A `Nak` must write the
    /// option with the suggested value into `nak`. The handler records acceptable
    /// values as the peer's (the last Configure-Ack we send is what counts).
    fn check(&mut self, opt: Opt<'_>, nak: &mut Writer<'_>, rng: &mut Prng) -> Verdict;

    /// The peer's Configure-Nak of our request (section 5.3): adopt its hints.
    fn nak_received(&mut self, opts: Options<'_>, rng: &mut Prng);

    /// The peer's Configure-Reject (section 5.4): stop sending these options.
    fn reject_received(&mut self, opts: Options<'_>);

    /// Negotiation starts afresh (This-Layer-Started / This-Layer-Down): restore
    /// the options we request.
    fn reset(&mut self);

    /// A new Configure-Request from the peer is about to be judged: forget the
    /// values of its previous one (options it omits take their defaults, RFC 1661
    /// section 6).
    fn peer_reset(&mut self) {}

    /// Whether the handler can judge requests yet (e.g. the AC's IPCP has no
    /// address for the peer yet); if not, requests are silently discarded and the
    /// peer retransmits.
    fn ready(&self) -> bool {
        true
    }
}

/// Frames built from received packets, waiting for `poll_action` (a bounded FIFO
/// of [`REPLY_SLOTS`]; when full, new replies are counted and dropped).
#[derive(Clone)]
pub struct Reply {
    buf: [[u8; REPLY_CAP]; REPLY_SLOTS],
    len: [u8; REPLY_SLOTS],
    /// Index of the oldest frame.
    head: u8,
    /// Replies dropped because the slots were full or a frame too large.
    pub dropped: u16,
}

impl Default for Reply {
    fn default() -> Self {
        Self {
            buf: [[0; REPLY_CAP]; REPLY_SLOTS],
            len: [0; REPLY_SLOTS],
            head: 0,
            dropped: 0,
        }
    }
}

impl core::fmt::Debug for Reply {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Reply")
            .field("len", &self.len)
            .field("dropped", &self.dropped)
            .finish_non_exhaustive()
    }
}

impl Reply {
    fn idx(&self, k: usize) -> usize {
        (usize::from(self.head) + k) % REPLY_SLOTS
    }

    fn count(&self) -> usize {
        self.len.iter().filter(|l| **l != 0).count()
    }

    /// Whether a frame waits.
    #[must_use]
    pub fn is_pending(&self) -> bool {
        self.count() != 0
    }

    /// Builds a control packet `protocol / code / id / prefix / data` in a free
    /// slot, with `data` truncated to fit when `truncate` is set (Code-Reject,
    /// Protocol-Reject, Echo-Reply). Returns `false` (and counts a drop) if the
    /// slots are full or the packet does not fit.
    pub fn set(
        &mut self,
        protocol: Protocol,
        code: Code,
        id: u8,
        prefix: &[u8],
        data: &[u8],
        truncate: bool,
    ) -> bool {
        let n = self.count();
        if n >= REPLY_SLOTS {
            self.dropped = self.dropped.saturating_add(1);
            return false;
        }
        let slot = self.idx(n);
        let room = REPLY_CAP.saturating_sub(PROTOCOL_LEN + HEADER_LEN + prefix.len());
        let data = if truncate {
            data.get(..data.len().min(room)).unwrap_or_default()
        } else {
            data
        };
        let total = HEADER_LEN + prefix.len() + data.len();
        let Some(buf) = self.buf.get_mut(slot) else {
            return false;
        };
        let mut w = Writer::new(buf);
        w.bytes(&protocol.0.to_be_bytes());
        w.bytes(&[code.0, id]);
        w.bytes(&u16::try_from(total).unwrap_or(u16::MAX).to_be_bytes());
        w.bytes(prefix);
        w.bytes(data);
        if let (Ok(len), Some(l)) = (w.finish(), self.len.get_mut(slot)) {
            *l = u8::try_from(len).unwrap_or(0);
            true
        } else {
            self.dropped = self.dropped.saturating_add(1);
            false
        }
    }

    /// The PPP protocol of the oldest waiting frame.
    #[must_use]
    pub fn protocol(&self) -> Option<Protocol> {
        let slot = self.idx(0);
        if self.len.get(slot).copied().unwrap_or(0) == 0 {
            return None;
        }
        self.buf
            .get(slot)?
            .first_chunk::<2>()
            .map(|b| Protocol(u16::from_be_bytes(*b)))
    }

    /// Discards the newest waiting frame (a prepared reply whose action did not
    /// happen).
    pub fn clear_last(&mut self) {
        let n = self.count();
        if n > 0 {
            let slot = self.idx(n - 1);
            if let Some(l) = self.len.get_mut(slot) {
                *l = 0;
            }
        }
    }

    /// Moves the oldest waiting frame into `out`.
    ///
    /// # Errors
    /// [`EmitError::BufferTooSmall`] (the frame stays queued).
    pub fn take(&mut self, out: &mut [u8]) -> Result<Option<usize>, EmitError> {
        let slot = self.idx(0);
        let n = usize::from(self.len.get(slot).copied().unwrap_or(0));
        if n == 0 {
            return Ok(None);
        }
        let available = out.len();
        let dst = out.get_mut(..n).ok_or(EmitError::BufferTooSmall {
            needed: n,
            available,
        })?;
        let src = self
            .buf
            .get(slot)
            .and_then(|b| b.get(..n))
            .unwrap_or_default();
        dst.copy_from_slice(src);
        if let Some(l) = self.len.get_mut(slot) {
            *l = 0;
        }
        self.head = u8::try_from((slot + 1) % REPLY_SLOTS).unwrap_or(0);
        Ok(Some(n))
    }
}

const PEND_SCR: u8 = 1;
const PEND_STR: u8 = 2;
const PEND_STA: u8 = 4;

/// One control protocol instance: automaton, option handler and the packets it
/// still has to send.
#[derive(Debug, Clone)]
pub struct Cp<H> {
    /// The automaton.
    pub fsm: Fsm,
    /// The option handler.
    pub handler: H,
    /// Identifier of our last Configure-Request (Acks/Naks must echo it, 5.2).
    req_id: u8,
    /// Next identifier for other packets we originate.
    next_id: u8,
    /// Identifier of the Terminate-Request to acknowledge.
    sta_id: u8,
    /// Pending PEND_* bits.
    pending: u8,
}

impl<H: Handler> Cp<H> {
    /// A control protocol in the Initial state.
    pub const fn new(handler: H, first_id: u8) -> Self {
        Self {
            fsm: Fsm::new(),
            handler,
            req_id: first_id,
            next_id: first_id,
            sta_id: 0,
            pending: 0,
        }
    }

    /// The automaton state.
    #[must_use]
    pub const fn state(&self) -> State {
        self.fsm.state()
    }

    /// Identifier of our last Configure-Request (a Configure-Ack/Nak/Reject must
    /// carry it, RFC 1661 section 5.2).
    #[must_use]
    pub const fn request_id(&self) -> u8 {
        self.req_id
    }

    /// Whether a Configure-Request waits to be sent.
    #[must_use]
    pub const fn has_request_pending(&self) -> bool {
        self.pending & PEND_SCR != 0
    }

    /// Whether packets wait to be sent.
    #[must_use]
    pub const fn has_pending(&self) -> bool {
        self.pending != 0
    }

    /// An identifier for a packet we originate.
    pub fn take_id(&mut self) -> u8 {
        self.next_id = self.next_id.wrapping_add(1);
        self.next_id
    }

    /// Applies an event and queues the packets of its `scr`/`str`/`sta` actions.
    /// The reply slot's content (a prepared `sca`/`scn`/`scj`/`ser`) is kept only if
    /// the actions include it. Returns the actions (the owner handles
    /// `tlu`/`tld`/`tls`/`tlf`), or `None` for an illegal event.
    pub fn event(
        &mut self,
        now: Duration,
        ev: Event,
        t: &Timers,
        reply: &mut Reply,
        prepared: bool,
    ) -> Option<Actions> {
        let Some(act) = self.fsm.event(now, ev, t) else {
            if prepared {
                reply.clear_last();
            }
            return None;
        };
        if prepared
            && !(act.contains(Actions::SCA)
                || act.contains(Actions::SCN)
                || act.contains(Actions::SCJ)
                || act.contains(Actions::SER))
        {
            reply.clear_last();
        }
        if act.contains(Actions::TLS) || act.contains(Actions::TLD) {
            self.handler.reset();
        }
        if act.contains(Actions::SCR) {
            self.req_id = self.take_id();
            self.pending |= PEND_SCR;
        }
        if act.contains(Actions::STR) {
            self.pending |= PEND_STR;
        }
        if act.contains(Actions::STA) {
            self.pending |= PEND_STA;
        }
        if !self.fsm.state().timer_runs() {
            // Nothing of ours is retransmitted outside the timer states except
            // a Terminate-Ack.
            self.pending &= PEND_STA;
        }
        Some(act)
    }

    /// Handles the restart timer if due.
    pub fn handle_timeout(
        &mut self,
        now: Duration,
        t: &Timers,
        reply: &mut Reply,
    ) -> Option<Actions> {
        let ev = self.fsm.due(now)?;
        self.event(now, ev, t, reply, false)
    }

    /// Processes a received packet with one of the codes 1-7 or an unknown code
    /// (RFC 1661 section 5). Codes 8-11 are LCP's and are not passed here by LCP;
    /// for an NCP they are unknown codes.
    pub fn receive(
        &mut self,
        now: Duration,
        pkt: &ControlRepr<'_>,
        t: &Timers,
        reply: &mut Reply,
        rng: &mut Prng,
    ) -> Option<Actions> {
        let mut prepared = false;
        let ev = match pkt.code {
            Code::CONFIGURE_REQUEST => {
                if !self.handler.ready() {
                    return None;
                }
                let (good, ok) = self.judge(pkt, reply, rng);
                prepared = ok;
                if good {
                    Event::RcrPlus
                } else {
                    Event::RcrMinus
                }
            }
            Code::CONFIGURE_ACK => {
                if pkt.identifier != self.req_id || !self.ack_matches(pkt.data) {
                    return None; // section 5.2: silently discarded
                }
                Event::Rca
            }
            Code::CONFIGURE_NAK | Code::CONFIGURE_REJECT => {
                if pkt.identifier != self.req_id {
                    return None;
                }
                if matches!(
                    self.fsm.state(),
                    State::ReqSent | State::AckRcvd | State::AckSent | State::Opened
                ) {
                    if pkt.code == Code::CONFIGURE_NAK {
                        self.handler.nak_received(pkt.options(), rng);
                    } else {
                        self.handler.reject_received(pkt.options());
                    }
                }
                Event::Rcn
            }
            Code::TERMINATE_REQUEST => {
                self.sta_id = pkt.identifier;
                Event::Rtr
            }
            Code::TERMINATE_ACK => Event::Rta,
            Code::CODE_REJECT => {
                // Section 5.6: rejecting a code we need (1-7) is catastrophic.
                match pkt.data.first() {
                    Some(1..=7) => Event::RxjMinus,
                    _ => Event::RxjPlus,
                }
            }
            _ => {
                // Section 5.6: unknown code; reply with Code-Reject carrying it.
                let full_len = HEADER_LEN + pkt.data.len();
                let mut head = [pkt.code.0, pkt.identifier, 0, 0];
                if let Ok(l) = u16::try_from(full_len) {
                    let [a, b] = l.to_be_bytes();
                    head[2] = a;
                    head[3] = b;
                }
                let mut tmp = [0u8; REPLY_CAP];
                let mut w = Writer::new(&mut tmp);
                w.bytes(&head);
                let room = REPLY_CAP - PROTOCOL_LEN - 2 * HEADER_LEN;
                w.bytes(pkt.data.get(..pkt.data.len().min(room)).unwrap_or_default());
                let n = w.len();
                let id = self.take_id();
                let ok = reply.set(
                    H::PROTOCOL,
                    Code::CODE_REJECT,
                    id,
                    &[],
                    tmp.get(..n).unwrap_or_default(),
                    true,
                );
                return self.event(now, Event::Ruc, t, reply, ok);
            }
        };
        if matches!(ev, Event::Rtr | Event::Rta | Event::Rca | Event::Rcn)
            && matches!(self.fsm.state(), State::Initial | State::Starting)
        {
            return None;
        }
        self.event(now, ev, t, reply, prepared)
    }

    /// Applies a Receive-Protocol-Reject of this protocol (RFC 1661 section 5.7),
    /// a catastrophic RXJ- for an NCP.
    pub fn protocol_rejected(
        &mut self,
        now: Duration,
        t: &Timers,
        reply: &mut Reply,
    ) -> Option<Actions> {
        self.event(now, Event::RxjMinus, t, reply, false)
    }

    /// Judges a Configure-Request and prepares the Ack, Nak or Reject in the reply
    /// slot (sections 5.1-5.4). Returns `true` for RCR+.
    fn judge(&mut self, pkt: &ControlRepr<'_>, reply: &mut Reply, rng: &mut Prng) -> (bool, bool) {
        let mut rej_buf = [0u8; SCRATCH];
        let mut nak_buf = [0u8; SCRATCH];
        let mut naked_buf = [0u8; SCRATCH];
        let mut rej = Writer::new(&mut rej_buf);
        let mut nak = Writer::new(&mut nak_buf);
        let mut naked = Writer::new(&mut naked_buf);
        self.handler.peer_reset();
        for opt in pkt.options() {
            let Ok(opt) = opt else { break }; // validated by ControlRepr::parse
            match self.handler.check(opt, &mut nak, rng) {
                Verdict::Ack => {}
                Verdict::Nak => naked.opt(opt.kind, opt.data),
                Verdict::Reject => rej.opt(opt.kind, opt.data),
            }
        }
        let (rl, nl, kl) = (rej.len(), nak.len(), naked.len());
        let id = pkt.identifier;
        let (code, data): (Code, &[u8]) = if rl == 0 && kl == 0 {
            (Code::CONFIGURE_ACK, pkt.data)
        } else if rl > 0 {
            (
                Code::CONFIGURE_REJECT,
                rej_buf.get(..rl).unwrap_or_default(),
            )
        } else if self.fsm.nak_allowed() {
            (Code::CONFIGURE_NAK, nak_buf.get(..nl).unwrap_or_default())
        } else {
            // Section 4.6 Max-Failure: further Naks become Rejects.
            (
                Code::CONFIGURE_REJECT,
                naked_buf.get(..kl).unwrap_or_default(),
            )
        };
        let ok = reply.set(H::PROTOCOL, code, id, &[], data, false);
        (code == Code::CONFIGURE_ACK, ok)
    }

    fn ack_matches(&self, data: &[u8]) -> bool {
        let mut buf = [0u8; SCRATCH];
        let mut w = Writer::new(&mut buf);
        self.handler.request(&mut w);
        match w.finish() {
            Ok(n) => buf.get(..n) == Some(data),
            Err(_) => false,
        }
    }

    /// Writes the next packet this protocol originates (Configure-Request,
    /// Terminate-Request, Terminate-Ack) as a PPP frame into `out`.
    ///
    /// # Errors
    /// [`EmitError::BufferTooSmall`] (the packet stays queued).
    pub fn poll(&mut self, out: &mut [u8]) -> Result<Option<usize>, EmitError> {
        let (bit, code, id) = if self.pending & PEND_STA != 0 {
            (PEND_STA, Code::TERMINATE_ACK, self.sta_id)
        } else if self.pending & PEND_STR != 0 {
            (
                PEND_STR,
                Code::TERMINATE_REQUEST,
                self.next_id.wrapping_add(1),
            )
        } else if self.pending & PEND_SCR != 0 {
            (PEND_SCR, Code::CONFIGURE_REQUEST, self.req_id)
        } else {
            return Ok(None);
        };
        let p = emit_protocol(H::PROTOCOL, out)?;
        let body = out.get_mut(p..).unwrap_or_default();
        let mut opts_len = 0;
        if code == Code::CONFIGURE_REQUEST {
            let mut w = Writer::new(body.get_mut(HEADER_LEN..).unwrap_or_default());
            self.handler.request(&mut w);
            opts_len = w.finish()?;
        }
        let total = HEADER_LEN + opts_len;
        emit_header(code, id, total, body)?;
        if code == Code::TERMINATE_REQUEST {
            self.next_id = id;
        }
        self.pending &= !bit;
        Ok(Some(p + total))
    }
}
