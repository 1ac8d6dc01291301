//! A sans-IO DHCPv6 client (RFC 8415 section 18.2) for one IA_NA and/or one IA_PD:
//! Solicit → Request → bound → Renew at T1 → Rebind at T2, with the retransmission
//! algorithm of section 15 and rapid commit (section 18.2.1). Messages go to
//! `All_DHCP_Relay_Agents_and_Servers` (`ff02::1:2`) port 547.
//!
//! Transaction ids and the retransmission jitter come from a small PRNG the caller
//! seeds (they are not secrets).

use core::net::Ipv6Addr;
use core::time::Duration;

use super::message::{MessageType, Packet, Repr};
use super::options::{Duid, Ia, OptionCode, OptionWriter, Options, ia_head};
use crate::error::ProtocolError;

const DUID_MAX: usize = 130;

/// Section 7.6 timing parameters (initial, maximum retransmission time).
const SOL: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(3600));
const REQ: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(30));
const REN: (Duration, Duration) = (Duration::from_secs(10), Duration::from_secs(600));
/// `REQ_MAX_RC` (section 7.6).
const REQ_MAX_RC: u8 = 10;

/// Client configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Client6Config<'c> {
    /// The client DUID (option 1).
    pub duid: &'c [u8],
    /// IAID of the IA_NA to ask for, if any.
    pub ia_na: Option<u32>,
    /// IAID of the IA_PD to ask for, if any.
    pub ia_pd: Option<u32>,
    /// Send option 14 in Solicit (section 18.2.1).
    pub rapid_commit: bool,
}

/// Client state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Client6State {
    /// Solicit sent, waiting for an Advertise (or a rapid-commit Reply).
    Soliciting,
    /// Request sent.
    Requesting,
    /// Bindings held.
    Bound,
    /// T1 passed: Renew to the server.
    Renewing,
    /// T2 passed: Rebind to any server.
    Rebinding,
}

/// What the client holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease6 {
    /// The IA_NA address, preferred and valid lifetimes.
    pub address: Option<(Ipv6Addr, u32, u32)>,
    /// The delegated prefix, its length, preferred and valid lifetimes.
    pub prefix: Option<(Ipv6Addr, u8, u32, u32)>,
    /// T1 deadline.
    pub t1: Duration,
    /// T2 deadline.
    pub t2: Duration,
    /// End of the longest valid lifetime.
    pub expires: Duration,
}

/// A lease event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Client6Event {
    /// Bindings acquired or extended.
    Bound(Lease6),
    /// Bindings gone (expired, or the server said `NoBinding`).
    Lost,
}

/// What [`Client6::poll_action`] hands out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Client6Action {
    /// Send the first `len` bytes of `tx` to `ff02::1:2` port 547 from port 546.
    Transmit {
        /// Bytes written.
        len: usize,
    },
    /// A lease event.
    Event(Client6Event),
}

/// The DHCPv6 client.
#[derive(Debug, Clone)]
pub struct Client6<'c> {
    cfg: Client6Config<'c>,
    state: Client6State,
    rng: u64,
    xid: u32,
    started: Duration,
    server: [u8; DUID_MAX],
    server_len: u8,
    lease: Option<Lease6>,
    rt: Duration,
    retransmit_at: Option<Duration>,
    attempts: u8,
    send: bool,
    event: Option<Client6Event>,
}

impl<'c> Client6<'c> {
    /// A client that sends its Solicit on the first [`Client6::poll_action`].
    #[must_use]
    pub fn new(cfg: Client6Config<'c>, seed: u64) -> Self {
        let mut c = Self {
            cfg,
            state: Client6State::Soliciting,
            rng: seed | 1,
            xid: 0,
            started: Duration::ZERO,
            server: [0; DUID_MAX],
            server_len: 0,
            lease: None,
            rt: Duration::ZERO,
            retransmit_at: None,
            attempts: 0,
            send: false,
            event: None,
        };
        c.begin(Client6State::Soliciting, Duration::ZERO);
        c
    }

    /// The state.
    #[must_use]
    pub const fn state(&self) -> Client6State {
        self.state
    }

    /// The bindings held.
    #[must_use]
    pub const fn lease(&self) -> Option<&Lease6> {
        self.lease.as_ref()
    }

    fn next_rand(&mut self) -> u64 {
        crate::xorshift::next(&mut self.rng)
    }

    /// Section 15: RT = base + RAND * base, RAND in [-0.1, +0.1].
    fn jitter(&mut self, base: Duration) -> Duration {
        let r = self.next_rand() % 201; // 0..=200 -> -0.1..=+0.1
        let ms = base.as_millis().saturating_mul(u128::from(r)) / 1000;
        let ms = u64::try_from(ms).unwrap_or(u64::MAX);
        (base + Duration::from_millis(ms)).saturating_sub(base / 10)
    }

    fn params(&self) -> (Duration, Duration) {
        match self.state {
            Client6State::Soliciting => SOL,
            Client6State::Requesting => REQ,
            _ => REN,
        }
    }

    fn begin(&mut self, state: Client6State, now: Duration) {
        self.state = state;
        self.xid = u32::try_from(self.next_rand() >> 40).unwrap_or(0);
        self.started = now;
        self.attempts = 0;
        self.rt = Duration::ZERO;
        self.send = true;
        self.retransmit_at = None;
    }

    fn lose(&mut self, now: Duration) {
        if self.lease.take().is_some() {
            self.event = Some(Client6Event::Lost);
        }
        self.server_len = 0;
        self.begin(Client6State::Soliciting, now);
    }

    fn server_duid(&self) -> &[u8] {
        self.server
            .get(..usize::from(self.server_len))
            .unwrap_or(&[])
    }

    /// Handles a datagram received on port 546.
    ///
    /// # Errors
    /// [`ProtocolError::Malformed`] for bytes that do not parse;
    /// [`ProtocolError::Unexpected`] for a message not for this transaction.
    pub fn handle_packet(&mut self, now: Duration, bytes: &[u8]) -> Result<(), ProtocolError> {
        let p = Packet::new_checked(bytes).map_err(ProtocolError::Malformed)?;
        let r = Repr::parse(&p).map_err(ProtocolError::Malformed)?;
        if r.transaction_id() != self.xid || r.find(OptionCode::CLIENT_ID) != Some(self.cfg.duid) {
            return Err(ProtocolError::Unexpected);
        }
        let Some(sid) = r.find(OptionCode::SERVER_ID) else {
            return Err(ProtocolError::PeerMisbehaved("no server identifier"));
        };
        Duid::parse(sid).map_err(ProtocolError::Malformed)?;
        let opts = p.options_raw();
        match (self.state, r.msg_type) {
            (Client6State::Soliciting, MessageType::ADVERTISE) => {
                // Section 18.2.1 lets the client wait for better offers; take the first
                // one that grants something.
                if grant(opts, now, self.cfg).is_none() {
                    return Err(ProtocolError::PeerMisbehaved("Advertise grants nothing"));
                }
                self.keep_server(sid);
                self.begin(Client6State::Requesting, now);
                Ok(())
            }
            (Client6State::Soliciting, MessageType::REPLY)
                if self.cfg.rapid_commit && r.find(OptionCode::RAPID_COMMIT).is_some() =>
            {
                self.keep_server(sid);
                self.bound(now, opts);
                Ok(())
            }
            (
                Client6State::Requesting | Client6State::Renewing | Client6State::Rebinding,
                MessageType::REPLY,
            ) => {
                self.keep_server(sid);
                self.bound(now, opts);
                Ok(())
            }
            _ => Err(ProtocolError::Unexpected),
        }
    }

    fn keep_server(&mut self, sid: &[u8]) {
        let n = sid.len().min(DUID_MAX);
        if let (Some(d), Some(s)) = (self.server.get_mut(..n), sid.get(..n)) {
            d.copy_from_slice(s);
        }
        self.server_len = u8::try_from(n).unwrap_or(0);
    }

    fn bound(&mut self, now: Duration, opts: &[u8]) {
        let Some(l) = grant(opts, now, self.cfg) else {
            // Section 18.2.10.1: NoBinding / nothing granted: start over.
            self.lose(now);
            return;
        };
        self.lease = Some(l);
        self.state = Client6State::Bound;
        self.send = false;
        self.retransmit_at = None;
        self.event = Some(Client6Event::Bound(l));
    }

    /// Runs retransmissions, T1, T2 and expiry.
    pub fn handle_timeout(&mut self, now: Duration) {
        if let Some(l) = self.lease {
            if now >= l.expires {
                self.lose(now);
                return;
            }
            if self.state == Client6State::Bound && now >= l.t1 {
                self.begin(Client6State::Renewing, now);
                return;
            }
            if self.state == Client6State::Renewing && now >= l.t2 {
                self.begin(Client6State::Rebinding, now);
                return;
            }
        }
        if self.retransmit_at.is_some_and(|t| now >= t) {
            self.retransmit_at = None;
            if self.state == Client6State::Requesting && self.attempts >= REQ_MAX_RC {
                self.lose(now);
            } else {
                self.send = true;
            }
        }
    }

    /// The next deadline.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Duration> {
        if self.send || self.event.is_some() {
            return Some(Duration::ZERO);
        }
        let lease = self.lease.map(|l| match self.state {
            Client6State::Bound => l.t1,
            Client6State::Renewing => l.t2,
            _ => l.expires,
        });
        match (self.retransmit_at, lease) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The next message (written into `tx`) or event.
    #[must_use]
    pub fn poll_action(&mut self, now: Duration, tx: &mut [u8]) -> Option<Client6Action> {
        if let Some(e) = self.event.take() {
            return Some(Client6Action::Event(e));
        }
        if !self.send {
            return None;
        }
        let len = self.write(now, tx)?;
        self.send = false;
        self.attempts = self.attempts.saturating_add(1);
        let (irt, mrt) = self.params();
        let next = if self.rt.is_zero() {
            irt
        } else {
            (self.rt * 2).min(mrt)
        };
        self.rt = self.jitter(next);
        self.retransmit_at = Some(now + self.rt);
        Some(Client6Action::Transmit { len })
    }

    fn write(&self, now: Duration, tx: &mut [u8]) -> Option<usize> {
        let t = match self.state {
            Client6State::Soliciting => MessageType::SOLICIT,
            Client6State::Requesting => MessageType::REQUEST,
            Client6State::Renewing | Client6State::Bound => MessageType::RENEW,
            Client6State::Rebinding => MessageType::REBIND,
        };
        let mut w = OptionWriter::new(tx);
        let [_, x0, x1, x2] = self.xid.to_be_bytes();
        w.raw(&[t.0, x0, x1, x2]).ok()?;
        w.option(OptionCode::CLIENT_ID, self.cfg.duid).ok()?;
        if matches!(t, MessageType::REQUEST | MessageType::RENEW) {
            w.option(OptionCode::SERVER_ID, self.server_duid()).ok()?;
        }
        // Section 21.9: hundredths of a second since the exchange began.
        let cs =
            u16::try_from(now.saturating_sub(self.started).as_millis() / 10).unwrap_or(u16::MAX);
        w.option(OptionCode::ELAPSED_TIME, &cs.to_be_bytes()).ok()?;
        w.option(OptionCode::ORO, &OptionCode::DNS_SERVERS.0.to_be_bytes())
            .ok()?;
        if t == MessageType::SOLICIT && self.cfg.rapid_commit {
            w.option(OptionCode::RAPID_COMMIT, &[]).ok()?;
        }
        let held = self.lease.filter(|_| t != MessageType::SOLICIT);
        if let Some(iaid) = self.cfg.ia_na {
            w.nested(OptionCode::IA_NA, &ia_head(iaid, 0, 0), |w| {
                if let Some((a, _, _)) = held.and_then(|l| l.address) {
                    w.ia_addr(a, 0, 0)?;
                }
                Ok(())
            })
            .ok()?;
        }
        if let Some(iaid) = self.cfg.ia_pd {
            w.nested(OptionCode::IA_PD, &ia_head(iaid, 0, 0), |w| {
                if let Some((p, l, _, _)) = held.and_then(|l| l.prefix) {
                    w.ia_prefix(p, l, 0, 0)?;
                }
                Ok(())
            })
            .ok()?;
        }
        Some(w.len())
    }
}

/// What a Reply or Advertise grants for our IAs (statuses inside an IA void it).
fn grant(opts: &[u8], now: Duration, cfg: Client6Config<'_>) -> Option<Lease6> {
    let mut address = None;
    let mut prefix = None;
    let mut t1t2: Option<(u32, u32)> = None;
    for o in Options::new(opts).map_while(Result::ok) {
        let Ok(ia) = Ia::parse(o.data) else { continue };
        if ia.status().is_some_and(|s| s.code.0 != 0) {
            continue;
        }
        if o.code == OptionCode::IA_NA && Some(ia.iaid) == cfg.ia_na {
            address = ia
                .addresses()
                .find(|a| a.valid > 0)
                .map(|a| (a.addr, a.preferred, a.valid));
        } else if o.code == OptionCode::IA_PD && Some(ia.iaid) == cfg.ia_pd {
            prefix = ia
                .prefixes()
                .find(|p| p.valid > 0)
                .map(|p| (p.prefix, p.prefix_len, p.preferred, p.valid));
        } else {
            continue;
        }
        if ia.t1 > 0 {
            t1t2 = Some(t1t2.map_or((ia.t1, ia.t2), |(a, b)| (a.min(ia.t1), b.min(ia.t2))));
        }
    }
    let preferred = address
        .map(|a| a.1)
        .into_iter()
        .chain(prefix.map(|p| p.2))
        .min()?;
    let valid = address
        .map(|a| a.2)
        .into_iter()
        .chain(prefix.map(|p| p.3))
        .max()?;
    // Section 21.4: T1/T2 of 0 leave the times to the client (0.5 and 0.8 of preferred).
    let (t1, t2) = t1t2.unwrap_or((preferred / 2, preferred / 5 * 4));
    let secs = |s: u32| now + Duration::from_secs(u64::from(s));
    Some(Lease6 {
        address,
        prefix,
        t1: secs(t1),
        t2: secs(t2.max(t1)),
        expires: secs(valid),
    })
}
