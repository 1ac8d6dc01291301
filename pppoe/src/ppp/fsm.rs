//! The option-negotiation automaton of RFC 1661 section 4, shared by LCP, IPCP and
//! IPv6CP: states (section 4.2), events (4.3), actions (4.4), the state transition
//! table (4.1), and the Restart timer and counters (4.6).
//!
//! [`transition`] is the table itself, a pure function of (state, event) that
//! returns the next state and the actions; every cell is tested in
//! `tests/lcp_state_table.rs`. [`Fsm`] adds the Restart timer and counters
//! (`irc`, `zrc`, Max-Terminate, Max-Configure, Max-Failure) on a caller clock.
//! What the actions *send* is decided by [`super::cp`].

use core::time::Duration;

/// Automaton states (RFC 1661 section 4.2), numbered as in the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum State {
    /// 0: lower layer down, no Open.
    Initial = 0,
    /// 1: Open issued, lower layer down.
    Starting = 1,
    /// 2: lower layer up, no Open.
    Closed = 2,
    /// 3: Open, waiting for a Down after This-Layer-Finished or a peer request.
    Stopped = 3,
    /// 4: Terminate-Request sent after a Close.
    Closing = 4,
    /// 5: Terminate-Request sent, Open still in force.
    Stopping = 5,
    /// 6: Configure-Request sent.
    ReqSent = 6,
    /// 7: Configure-Request sent and Configure-Ack received.
    AckRcvd = 7,
    /// 8: Configure-Request sent and Configure-Ack sent.
    AckSent = 8,
    /// 9: both sides acknowledged; the layer is up.
    Opened = 9,
}

impl State {
    /// All states in table order.
    pub const ALL: [Self; 10] = [
        Self::Initial,
        Self::Starting,
        Self::Closed,
        Self::Stopped,
        Self::Closing,
        Self::Stopping,
        Self::ReqSent,
        Self::AckRcvd,
        Self::AckSent,
        Self::Opened,
    ];

    /// Whether the Restart timer runs in this state (section 4.2: it runs in
    /// Closing, Stopping, Req-Sent, Ack-Rcvd and Ack-Sent).
    #[must_use]
    pub const fn timer_runs(self) -> bool {
        matches!(
            self,
            Self::Closing | Self::Stopping | Self::ReqSent | Self::AckRcvd | Self::AckSent
        )
    }
}

/// Automaton events (RFC 1661 section 4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Event {
    /// Lower layer is Up.
    Up = 0,
    /// Lower layer is Down.
    Down = 1,
    /// Administrative Open.
    Open = 2,
    /// Administrative Close.
    Close = 3,
    /// TO+: timeout with counter > 0.
    TimeoutPlus = 4,
    /// TO-: timeout with counter expired.
    TimeoutMinus = 5,
    /// RCR+: Receive-Configure-Request (good).
    RcrPlus = 6,
    /// RCR-: Receive-Configure-Request (bad).
    RcrMinus = 7,
    /// RCA: Receive-Configure-Ack.
    Rca = 8,
    /// RCN: Receive-Configure-Nak/Rej.
    Rcn = 9,
    /// RTR: Receive-Terminate-Request.
    Rtr = 10,
    /// RTA: Receive-Terminate-Ack.
    Rta = 11,
    /// RUC: Receive-Unknown-Code.
    Ruc = 12,
    /// RXJ+: Receive-Code-Reject (permitted) or Receive-Protocol-Reject.
    RxjPlus = 13,
    /// RXJ-: Receive-Code-Reject (catastrophic) or Receive-Protocol-Reject.
    RxjMinus = 14,
    /// RXR: Receive-Echo-Request, Receive-Echo-Reply or Receive-Discard-Request.
    Rxr = 15,
}

impl Event {
    /// All events in table order.
    pub const ALL: [Self; 16] = [
        Self::Up,
        Self::Down,
        Self::Open,
        Self::Close,
        Self::TimeoutPlus,
        Self::TimeoutMinus,
        Self::RcrPlus,
        Self::RcrMinus,
        Self::Rca,
        Self::Rcn,
        Self::Rtr,
        Self::Rta,
        Self::Ruc,
        Self::RxjPlus,
        Self::RxjMinus,
        Self::Rxr,
    ];
}

/// A set of actions (RFC 1661 section 4.4), as bits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Actions(pub u16);

impl Actions {
    /// No action.
    pub const NONE: Self = Self(0);
    /// tlu: This-Layer-Up.
    pub const TLU: Self = Self(1 << 0);
    /// tld: This-Layer-Down.
    pub const TLD: Self = Self(1 << 1);
    /// tls: This-Layer-Started.
    pub const TLS: Self = Self(1 << 2);
    /// tlf: This-Layer-Finished.
    pub const TLF: Self = Self(1 << 3);
    /// irc: Initialize-Restart-Count.
    pub const IRC: Self = Self(1 << 4);
    /// zrc: Zero-Restart-Count.
    pub const ZRC: Self = Self(1 << 5);
    /// scr: Send-Configure-Request.
    pub const SCR: Self = Self(1 << 6);
    /// sca: Send-Configure-Ack.
    pub const SCA: Self = Self(1 << 7);
    /// scn: Send-Configure-Nak/Rej.
    pub const SCN: Self = Self(1 << 8);
    /// str: Send-Terminate-Request.
    pub const STR: Self = Self(1 << 9);
    /// sta: Send-Terminate-Ack.
    pub const STA: Self = Self(1 << 10);
    /// scj: Send-Code-Reject.
    pub const SCJ: Self = Self(1 << 11);
    /// ser: Send-Echo-Reply.
    pub const SER: Self = Self(1 << 12);

    const NAMES: [&'static str; 13] = [
        "tlu", "tld", "tls", "tlf", "irc", "zrc", "scr", "sca", "scn", "str", "sta", "scj", "ser",
    ];

    /// Whether every action of `other` is in `self`.
    #[must_use]
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether no action is set.
    #[must_use]
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl core::ops::BitOr for Actions {
    type Output = Self;
    fn bitor(self, rhs: Self) -> Self {
        Self(self.0 | rhs.0)
    }
}

impl core::ops::BitOrAssign for Actions {
    fn bitor_assign(&mut self, rhs: Self) {
        self.0 |= rhs.0;
    }
}

impl core::fmt::Debug for Actions {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let mut first = true;
        for (i, n) in Self::NAMES.iter().enumerate() {
            if self.0 & (1 << i) != 0 {
                if !first {
                    f.write_str(",")?;
                }
                f.write_str(n)?;
                first = false;
            }
        }
        if first {
            f.write_str("-")?;
        }
        Ok(())
    }
}

/// The state transition table of RFC 1661 section 4.1: the next state and the
/// actions for `event` in `state`, or `None` for a dash (an illegal event, which
/// the caller ignores). The optional behaviours of the footnotes (`r` restart,
/// `p` passive, `x` crossed connection) are the plain transitions here.
#[must_use]
#[allow(
    clippy::too_many_lines,
    clippy::match_same_arms,
    reason = "a literal transcription of the RFC table, event by event"
)]
pub const fn transition(state: State, event: Event) -> Option<(State, Actions)> {
    use Event as E;
    use State as S;
    const fn a(bits: u16) -> Actions {
        Actions(bits)
    }
    const TLU: u16 = Actions::TLU.0;
    const TLD: u16 = Actions::TLD.0;
    const TLS: u16 = Actions::TLS.0;
    const TLF: u16 = Actions::TLF.0;
    const IRC: u16 = Actions::IRC.0;
    const ZRC: u16 = Actions::ZRC.0;
    const SCR: u16 = Actions::SCR.0;
    const SCA: u16 = Actions::SCA.0;
    const SCN: u16 = Actions::SCN.0;
    const STR: u16 = Actions::STR.0;
    const STA: u16 = Actions::STA.0;
    const SCJ: u16 = Actions::SCJ.0;
    const SER: u16 = Actions::SER.0;
    let r = match (state, event) {
        // Up
        (S::Initial, E::Up) => (S::Closed, 0),
        (S::Starting, E::Up) => (S::ReqSent, IRC | SCR),
        // Down
        (S::Closed | S::Closing, E::Down) => (S::Initial, 0),
        (S::Stopped, E::Down) => (S::Starting, TLS),
        (S::Stopping | S::ReqSent | S::AckRcvd | S::AckSent, E::Down) => (S::Starting, 0),
        (S::Opened, E::Down) => (S::Starting, TLD),
        // Open
        (S::Initial, E::Open) => (S::Starting, TLS),
        (S::Starting, E::Open) => (S::Starting, 0),
        (S::Closed, E::Open) => (S::ReqSent, IRC | SCR),
        (S::Stopped, E::Open) => (S::Stopped, 0),
        (S::Closing | S::Stopping, E::Open) => (S::Stopping, 0),
        (S::ReqSent | S::AckRcvd | S::AckSent | S::Opened, E::Open) => (state, 0),
        // Close
        (S::Initial, E::Close) => (S::Initial, 0),
        (S::Starting, E::Close) => (S::Initial, TLF),
        (S::Closed | S::Stopped, E::Close) => (S::Closed, 0),
        (S::Closing | S::Stopping, E::Close) => (S::Closing, 0),
        (S::ReqSent | S::AckRcvd | S::AckSent, E::Close) => (S::Closing, IRC | STR),
        (S::Opened, E::Close) => (S::Closing, TLD | IRC | STR),
        // TO+
        (S::Closing | S::Stopping, E::TimeoutPlus) => (state, STR),
        (S::ReqSent | S::AckRcvd, E::TimeoutPlus) => (S::ReqSent, SCR),
        (S::AckSent, E::TimeoutPlus) => (S::AckSent, SCR),
        // TO-
        (S::Closing, E::TimeoutMinus) => (S::Closed, TLF),
        (S::Stopping | S::ReqSent | S::AckRcvd | S::AckSent, E::TimeoutMinus) => (S::Stopped, TLF),
        // RCR+
        (S::Closed, E::RcrPlus | E::RcrMinus | E::Rca | E::Rcn) => (S::Closed, STA),
        (S::Stopped, E::RcrPlus) => (S::AckSent, IRC | SCR | SCA),
        (S::Closing | S::Stopping, E::RcrPlus | E::RcrMinus | E::Rca | E::Rcn) => (state, 0),
        (S::ReqSent | S::AckSent, E::RcrPlus) => (S::AckSent, SCA),
        (S::AckRcvd, E::RcrPlus) => (S::Opened, SCA | TLU),
        (S::Opened, E::RcrPlus) => (S::AckSent, TLD | SCR | SCA),
        // RCR-
        (S::Stopped, E::RcrMinus) => (S::ReqSent, IRC | SCR | SCN),
        (S::ReqSent | S::AckSent, E::RcrMinus) => (S::ReqSent, SCN),
        (S::AckRcvd, E::RcrMinus) => (S::AckRcvd, SCN),
        (S::Opened, E::RcrMinus) => (S::ReqSent, TLD | SCR | SCN),
        // RCA
        (S::Stopped, E::Rca | E::Rcn) => (S::Stopped, STA),
        (S::ReqSent, E::Rca) => (S::AckRcvd, IRC),
        (S::AckRcvd | S::Opened, E::Rca | E::Rcn) => (
            S::ReqSent,
            if matches!(state, S::Opened) {
                TLD | SCR
            } else {
                SCR
            },
        ),
        (S::AckSent, E::Rca) => (S::Opened, IRC | TLU),
        // RCN
        (S::ReqSent, E::Rcn) => (S::ReqSent, IRC | SCR),
        (S::AckSent, E::Rcn) => (S::AckSent, IRC | SCR),
        // RTR
        (S::Closed | S::Stopped | S::Closing | S::Stopping, E::Rtr) => (state, STA),
        (S::ReqSent | S::AckRcvd | S::AckSent, E::Rtr) => (S::ReqSent, STA),
        (S::Opened, E::Rtr) => (S::Stopping, TLD | ZRC | STA),
        // RTA
        (S::Closed | S::Stopped, E::Rta) => (state, 0),
        (S::Closing, E::Rta) => (S::Closed, TLF),
        (S::Stopping, E::Rta) => (S::Stopped, TLF),
        (S::ReqSent | S::AckRcvd, E::Rta) => (S::ReqSent, 0),
        (S::AckSent, E::Rta) => (S::AckSent, 0),
        (S::Opened, E::Rta) => (S::ReqSent, TLD | SCR),
        // RUC
        (
            S::Closed
            | S::Stopped
            | S::Closing
            | S::Stopping
            | S::ReqSent
            | S::AckRcvd
            | S::AckSent
            | S::Opened,
            E::Ruc,
        ) => (state, SCJ),
        // RXJ+
        (
            S::Closed | S::Stopped | S::Closing | S::Stopping | S::AckSent | S::Opened,
            E::RxjPlus,
        ) => (state, 0),
        (S::ReqSent | S::AckRcvd, E::RxjPlus) => (S::ReqSent, 0),
        // RXJ-
        (S::Closed | S::Closing, E::RxjMinus) => (S::Closed, TLF),
        (S::Stopped | S::Stopping | S::ReqSent | S::AckRcvd | S::AckSent, E::RxjMinus) => {
            (S::Stopped, TLF)
        }
        (S::Opened, E::RxjMinus) => (S::Stopping, TLD | IRC | STR),
        // RXR
        (
            S::Closed
            | S::Stopped
            | S::Closing
            | S::Stopping
            | S::ReqSent
            | S::AckRcvd
            | S::AckSent,
            E::Rxr,
        ) => (state, 0),
        (S::Opened, E::Rxr) => (S::Opened, SER),
        _ => return None,
    };
    Some((r.0, a(r.1)))
}

/// Restart timer and counter limits (RFC 1661 section 4.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timers {
    /// Restart timer interval (default 3 seconds).
    pub restart: Duration,
    /// Max-Terminate: Terminate-Requests sent without an Ack (default 2).
    pub max_terminate: u8,
    /// Max-Configure: Configure-Requests sent without an Ack/Nak/Reject (default 10).
    pub max_configure: u8,
    /// Max-Failure: Configure-Naks sent before Nak becomes Reject (default 5).
    pub max_failure: u8,
}

impl Default for Timers {
    fn default() -> Self {
        Self {
            restart: Duration::from_secs(3),
            max_terminate: 2,
            max_configure: 10,
            max_failure: 5,
        }
    }
}

/// The automaton with its Restart timer and counters (RFC 1661 sections 4.1, 4.6).
///
/// [`Fsm::event`] applies the table and performs the counter and timer parts of the
/// actions (`irc`, `zrc`, and the restart of the timer on `scr`/`str`); it returns
/// the actions so the owner can send packets and signal the layer above.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fsm {
    state: State,
    /// Restart counter.
    restart_count: u8,
    /// Configure-Naks left before Nak turns into Reject.
    failure_count: u8,
    /// Restart timer deadline, in nanoseconds of the caller's clock, 0 = stopped.
    deadline_ns: u64,
}

impl Default for Fsm {
    fn default() -> Self {
        Self::new()
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl Fsm {
    /// A new automaton in the Initial state.
    #[must_use]
    pub const fn new() -> Self {
        Self::in_state(State::Initial)
    }

    /// An automaton put directly in `state` with zero counters and the timer
    /// stopped (for state-table tests and for restoring a machine).
    #[must_use]
    pub const fn in_state(state: State) -> Self {
        Self {
            state,
            restart_count: 0,
            failure_count: 0,
            deadline_ns: 0,
        }
    }

    /// The current state.
    #[must_use]
    pub const fn state(&self) -> State {
        self.state
    }

    /// The Restart counter.
    #[must_use]
    pub const fn restart_count(&self) -> u8 {
        self.restart_count
    }

    /// Sets the Restart counter (tests; the table drives it otherwise).
    pub fn set_restart_count(&mut self, n: u8) {
        self.restart_count = n;
    }

    /// The Restart timer deadline, if it runs.
    #[must_use]
    pub fn deadline(&self) -> Option<Duration> {
        (self.deadline_ns != 0).then(|| Duration::from_nanos(self.deadline_ns))
    }

    /// Which timeout event fires now: TO+ while the counter is positive, TO-
    /// when it is exhausted (section 4.3), or `None` if the timer is not due.
    #[must_use]
    pub fn due(&self, now: Duration) -> Option<Event> {
        if self.deadline_ns == 0 || nanos(now) < self.deadline_ns {
            return None;
        }
        Some(if self.restart_count > 0 {
            Event::TimeoutPlus
        } else {
            Event::TimeoutMinus
        })
    }

    /// Counts one Configure-Nak against Max-Failure (section 4.6); returns `true`
    /// while Naks are still allowed, `false` once they must become Rejects.
    pub fn nak_allowed(&mut self) -> bool {
        if self.failure_count == 0 {
            return false;
        }
        self.failure_count -= 1;
        true
    }

    /// Applies `event` at `now`: table transition plus counter and timer upkeep.
    /// Returns `None` (and changes nothing) for an illegal event.
    pub fn event(&mut self, now: Duration, event: Event, t: &Timers) -> Option<Actions> {
        let (next, act) = transition(self.state, event)?;
        if act.contains(Actions::IRC) {
            // Section 4.6: Max-Configure for Configure-Request, Max-Terminate for
            // Terminate-Request; irc alone (RCA) prepares the next Configure-Request.
            self.restart_count = if act.contains(Actions::STR) {
                t.max_terminate
            } else {
                t.max_configure
            };
            if !act.contains(Actions::STR) {
                self.failure_count = t.max_failure;
            }
        }
        if act.contains(Actions::ZRC) {
            self.restart_count = 0;
            self.arm(now, t);
        }
        if act.contains(Actions::SCR) || act.contains(Actions::STR) {
            // Section 4.6: the counter is decremented each time a request is sent
            // (the timer expiring with a positive counter is TO+).
            self.restart_count = self.restart_count.saturating_sub(1);
            self.arm(now, t);
        }
        if matches!(event, Event::TimeoutPlus | Event::TimeoutMinus)
            && !act.contains(Actions::SCR)
            && !act.contains(Actions::STR)
        {
            self.deadline_ns = 0;
        }
        if !next.timer_runs() {
            self.deadline_ns = 0;
        } else if self.deadline_ns == 0 {
            self.arm(now, t);
        }
        self.state = next;
        Some(act)
    }

    fn arm(&mut self, now: Duration, t: &Timers) {
        self.deadline_ns = nanos(now.saturating_add(t.restart)).max(1);
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::many_single_char_names,
    reason = "tests"
)]
mod tests {
    use super::*;

    #[test]
    fn ten_configure_requests_then_to_minus() {
        let t = Timers::default();
        let mut f = Fsm::new();
        let mut now = Duration::ZERO;
        f.event(now, Event::Open, &t).unwrap();
        let a = f.event(now, Event::Up, &t).unwrap();
        assert!(a.contains(Actions::SCR));
        let mut sent = 1;
        loop {
            now = f.deadline().unwrap();
            let ev = f.due(now).unwrap();
            let a = f.event(now, ev, &t).unwrap();
            if ev == Event::TimeoutMinus {
                assert!(a.contains(Actions::TLF));
                break;
            }
            sent += 1;
        }
        assert_eq!(sent, 10);
        assert_eq!(f.state(), State::Stopped);
        assert_eq!(f.deadline(), None);
    }
}
