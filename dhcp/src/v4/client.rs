//! A sans-IO DHCPv4 client (RFC 2131 section 4.4): INIT → SELECTING → REQUESTING →
//! BOUND → RENEWING → REBINDING, with the retransmission backoff of section 4.1 and the
//! renewal timers of section 4.4.5, and rapid commit (RFC 4039).
//!
//! Transaction ids are not secret: they come from a small PRNG the caller seeds.

use core::net::Ipv4Addr;
use core::time::Duration;

use super::options::{DhcpOption, Known, MessageType, OptionCode};
use super::packet::{FLAG_BROADCAST, Op, Packet, Repr};
use crate::error::ProtocolError;

/// Client configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientConfig {
    /// The client's Ethernet address (chaddr).
    pub mac: [u8; 6],
    /// Ask for broadcast replies (a client that cannot receive unicast before it has
    /// an address, RFC 2131 section 4.1).
    pub broadcast: bool,
    /// Send option 80 in DISCOVER (RFC 4039 section 3).
    pub rapid_commit: bool,
    /// First retransmission delay; doubled up to [`ClientConfig::max_backoff`]
    /// (RFC 2131 section 4.1: 4 s, then 8, 16, 32, 64).
    pub initial_backoff: Duration,
    /// Ceiling of the backoff.
    pub max_backoff: Duration,
    /// REQUESTs sent in REQUESTING before starting over from INIT.
    pub request_attempts: u8,
}

impl ClientConfig {
    /// RFC 2131 defaults for `mac`.
    #[must_use]
    pub const fn new(mac: [u8; 6]) -> Self {
        Self {
            mac,
            broadcast: false,
            rapid_commit: false,
            initial_backoff: Duration::from_secs(4),
            max_backoff: Duration::from_secs(64),
            request_attempts: 4,
        }
    }
}

/// Client state (RFC 2131 figure 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientState {
    /// Not started, or starting over.
    Init,
    /// DISCOVER sent, collecting an OFFER.
    Selecting,
    /// REQUEST sent for an OFFER.
    Requesting,
    /// Lease held.
    Bound,
    /// T1 passed: REQUEST unicast to the server.
    Renewing,
    /// T2 passed: REQUEST broadcast to any server.
    Rebinding,
}

/// A lease as the client holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientLease {
    /// The address (yiaddr).
    pub addr: Ipv4Addr,
    /// The server identifier.
    pub server_id: Ipv4Addr,
    /// Subnet mask, option 1.
    pub subnet_mask: Option<Ipv4Addr>,
    /// First router, option 3.
    pub router: Option<Ipv4Addr>,
    /// Lease time, seconds.
    pub lease_secs: u32,
    /// When the lease was (re)acknowledged; timers count from here.
    pub acquired: Duration,
    /// T1 deadline.
    pub t1: Duration,
    /// T2 deadline.
    pub t2: Duration,
    /// End of the lease.
    pub expires: Duration,
}

/// Where a client message goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientDestination {
    /// 255.255.255.255:67 from 0.0.0.0:68 (or from the leased address when rebinding).
    Broadcast,
    /// Unicast to the server (RENEWING, RELEASE), from the leased address.
    Server(Ipv4Addr),
}

/// What happened to the lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientEvent {
    /// A lease was acquired or extended: configure the address.
    Bound(ClientLease),
    /// The lease is gone (NAK or expiry): deconfigure the address.
    Lost {
        /// The address that was held.
        addr: Ipv4Addr,
    },
}

/// What [`Client::poll_action`] hands out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientAction {
    /// Send the first `len` bytes of `tx` to UDP port 67 at `dst`.
    Transmit {
        /// Bytes written.
        len: usize,
        /// Where to.
        dst: ClientDestination,
    },
    /// A lease event.
    Event(ClientEvent),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Send {
    Discover,
    Request,
    Release(ClientLease),
}

/// The DHCPv4 client.
#[derive(Debug, Clone)]
pub struct Client {
    cfg: ClientConfig,
    state: ClientState,
    rng: u64,
    xid: u32,
    started: Duration,
    offer: Option<(Ipv4Addr, Ipv4Addr)>,
    lease: Option<ClientLease>,
    retransmit_at: Option<Duration>,
    backoff: Duration,
    attempts: u8,
    send: Option<Send>,
    events: [Option<ClientEvent>; 2],
}

impl Client {
    /// A client in INIT; it sends its DISCOVER on the first [`Client::poll_action`].
    /// `seed` seeds the transaction-id PRNG (not a secret).
    #[must_use]
    pub fn new(cfg: ClientConfig, seed: u64) -> Self {
        let mut c = Self {
            cfg,
            state: ClientState::Init,
            rng: seed | 1,
            xid: 0,
            started: Duration::ZERO,
            offer: None,
            lease: None,
            retransmit_at: None,
            backoff: cfg.initial_backoff,
            attempts: 0,
            send: None,
            events: [None; 2],
        };
        c.restart(Duration::ZERO);
        c
    }

    /// The state.
    #[must_use]
    pub const fn state(&self) -> ClientState {
        self.state
    }

    /// The lease held, if any.
    #[must_use]
    pub const fn lease(&self) -> Option<&ClientLease> {
        self.lease.as_ref()
    }

    fn next_rand(&mut self) -> u64 {
        crate::xorshift::next(&mut self.rng)
    }

    /// RFC 2131 section 4.1: randomised by ±1 s.
    fn jitter(&mut self, d: Duration) -> Duration {
        let ms = self.next_rand() % 2001;
        (d + Duration::from_millis(ms)).saturating_sub(Duration::from_secs(1))
    }

    fn restart(&mut self, now: Duration) {
        self.state = ClientState::Selecting;
        self.xid = u32::try_from(self.next_rand() >> 32).unwrap_or(0);
        self.started = now;
        self.offer = None;
        self.backoff = self.cfg.initial_backoff;
        self.attempts = 0;
        self.send = Some(Send::Discover);
        self.retransmit_at = None;
    }

    fn event(&mut self, e: ClientEvent) {
        if let Some(s) = self.events.iter_mut().find(|s| s.is_none()) {
            *s = Some(e);
        }
    }

    fn lose(&mut self, now: Duration) {
        if let Some(l) = self.lease.take() {
            self.event(ClientEvent::Lost { addr: l.addr });
        }
        self.restart(now);
    }

    /// Gives up the lease (RFC 2131 section 4.4.6): a RELEASE is sent and the client
    /// stays in INIT until [`Client::start`].
    pub fn release(&mut self, _now: Duration) {
        if let Some(l) = self.lease.take() {
            self.send = Some(Send::Release(l));
            self.event(ClientEvent::Lost { addr: l.addr });
        }
        self.state = ClientState::Init;
        self.retransmit_at = None;
    }

    /// Starts over from INIT (after [`Client::release`]).
    pub fn start(&mut self, now: Duration) {
        if self.state == ClientState::Init {
            self.restart(now);
        }
    }

    /// Handles a datagram received on port 68.
    ///
    /// # Errors
    /// [`ProtocolError::Malformed`] for bytes that do not parse;
    /// [`ProtocolError::Unexpected`] for a message that is not for this client or not
    /// expected in this state (the state does not change).
    pub fn handle_packet(&mut self, now: Duration, bytes: &[u8]) -> Result<(), ProtocolError> {
        let p = Packet::new_checked(bytes).map_err(ProtocolError::Malformed)?;
        if p.op() != Op::REPLY || p.xid() != self.xid || p.chaddr() != self.cfg.mac {
            return Err(ProtocolError::Unexpected);
        }
        let k = Known::collect(p.all_options()).map_err(ProtocolError::Malformed)?;
        let Some(sid) = k.server_id else {
            return Err(ProtocolError::PeerMisbehaved(
                "reply without server identifier",
            ));
        };
        match (self.state, k.message_type) {
            (ClientState::Selecting, Some(MessageType::OFFER)) => {
                // RFC 2131 section 4.4.1: take the first offer.
                self.offer = Some((p.yiaddr(), sid));
                self.state = ClientState::Requesting;
                self.backoff = self.cfg.initial_backoff;
                self.attempts = 0;
                self.send = Some(Send::Request);
                Ok(())
            }
            (ClientState::Selecting, Some(MessageType::ACK))
                if self.cfg.rapid_commit && k.rapid_commit =>
            {
                self.bind(now, p.yiaddr(), sid, &k);
                Ok(())
            }
            (
                ClientState::Requesting | ClientState::Renewing | ClientState::Rebinding,
                Some(MessageType::ACK),
            ) => {
                let addr = match (self.state, self.offer, self.lease) {
                    (ClientState::Requesting, Some((a, s)), _) if s == sid => a,
                    (ClientState::Renewing | ClientState::Rebinding, _, Some(l)) => l.addr,
                    _ => return Err(ProtocolError::Unexpected),
                };
                if p.yiaddr() != addr {
                    return Err(ProtocolError::PeerMisbehaved("ACK for another address"));
                }
                self.bind(now, addr, sid, &k);
                Ok(())
            }
            (
                ClientState::Requesting | ClientState::Renewing | ClientState::Rebinding,
                Some(MessageType::NAK),
            ) => {
                // RFC 2131 section 4.4.1/4.4.5: back to INIT.
                self.lose(now);
                Ok(())
            }
            _ => Err(ProtocolError::Unexpected),
        }
    }

    fn bind(&mut self, now: Duration, addr: Ipv4Addr, sid: Ipv4Addr, k: &Known<'_>) {
        let lease_secs = k.lease_time.unwrap_or(3600).max(1);
        let secs = |s: u32| now + Duration::from_secs(u64::from(s));
        let t1 = k.t1.unwrap_or(lease_secs / 2).min(lease_secs);
        let t2 =
            k.t2.unwrap_or(lease_secs - lease_secs / 8)
                .clamp(t1, lease_secs);
        let l = ClientLease {
            addr,
            server_id: sid,
            subnet_mask: k.subnet_mask,
            router: k.router(),
            lease_secs,
            acquired: now,
            t1: secs(t1),
            t2: secs(t2),
            expires: secs(lease_secs),
        };
        self.lease = Some(l);
        self.offer = None;
        self.state = ClientState::Bound;
        self.retransmit_at = None;
        self.send = None;
        self.event(ClientEvent::Bound(l));
    }

    /// Runs timers: retransmissions, T1, T2 and lease expiry.
    pub fn handle_timeout(&mut self, now: Duration) {
        if let Some(l) = self.lease {
            if now >= l.expires {
                self.lose(now);
                return;
            }
            if self.state == ClientState::Bound && now >= l.t1 {
                self.state = ClientState::Renewing;
                self.xid = u32::try_from(self.next_rand() >> 32).unwrap_or(0);
                self.send = Some(Send::Request);
                return;
            }
            if self.state == ClientState::Renewing && now >= l.t2 {
                self.state = ClientState::Rebinding;
                self.send = Some(Send::Request);
                return;
            }
        }
        if self.retransmit_at.is_some_and(|t| now >= t) {
            self.retransmit_at = None;
            match self.state {
                ClientState::Selecting => self.send = Some(Send::Discover),
                ClientState::Requesting => {
                    if self.attempts >= self.cfg.request_attempts {
                        self.restart(now);
                    } else {
                        self.send = Some(Send::Request);
                    }
                }
                ClientState::Renewing | ClientState::Rebinding => self.send = Some(Send::Request),
                ClientState::Init | ClientState::Bound => {}
            }
        }
    }

    /// The next deadline.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Duration> {
        if self.send.is_some() {
            return Some(Duration::ZERO);
        }
        let lease = self.lease.map(|l| match self.state {
            ClientState::Bound => l.t1,
            ClientState::Renewing => l.t2,
            _ => l.expires,
        });
        match (self.retransmit_at, lease) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The next message (written into `tx`) or event.
    #[must_use]
    pub fn poll_action(&mut self, now: Duration, tx: &mut [u8]) -> Option<ClientAction> {
        if let Some(e) = self.events.iter_mut().find_map(Option::take) {
            return Some(ClientAction::Event(e));
        }
        let what = self.send.take()?;
        let r = self.write(now, what, tx);
        if r.is_none() {
            self.send = Some(what);
        }
        r
    }

    fn schedule(&mut self, now: Duration) {
        let wait = match (self.state, self.lease) {
            // RFC 2131 section 4.4.5: half the time to T2 (or to expiry), at least 60 s.
            (ClientState::Renewing, Some(l)) => half_or_60(now, l.t2),
            (ClientState::Rebinding, Some(l)) => half_or_60(now, l.expires),
            _ => {
                let b = self.backoff;
                self.backoff = (b * 2).min(self.cfg.max_backoff);
                self.jitter(b)
            }
        };
        self.retransmit_at = Some(now + wait);
    }

    fn write(&mut self, now: Duration, what: Send, tx: &mut [u8]) -> Option<ClientAction> {
        let (kind, requested, server, ciaddr, dst) = match what {
            Send::Discover => (
                MessageType::DISCOVER,
                None,
                None,
                None,
                ClientDestination::Broadcast,
            ),
            Send::Request => match (self.state, self.offer, self.lease) {
                (ClientState::Requesting, Some((a, s)), _) => (
                    MessageType::REQUEST,
                    Some(a),
                    Some(s),
                    None,
                    ClientDestination::Broadcast,
                ),
                (ClientState::Renewing, _, Some(l)) => (
                    MessageType::REQUEST,
                    None,
                    None,
                    Some(l.addr),
                    ClientDestination::Server(l.server_id),
                ),
                (ClientState::Rebinding, _, Some(l)) => (
                    MessageType::REQUEST,
                    None,
                    None,
                    Some(l.addr),
                    ClientDestination::Broadcast,
                ),
                _ => return None,
            },
            Send::Release(l) => (
                MessageType::RELEASE,
                None,
                Some(l.server_id),
                Some(l.addr),
                ClientDestination::Server(l.server_id),
            ),
        };
        let t = [kind.0];
        let rq = requested.map(|a| a.octets());
        let sid = server.map(|a| a.octets());
        let mut cid = [1u8; 7];
        if let Some(d) = cid.get_mut(1..) {
            d.copy_from_slice(&self.cfg.mac);
        }
        let empty = DhcpOption {
            code: OptionCode::PAD,
            data: &[],
        };
        let mut opts = [empty; 6];
        let mut n = 0;
        let mut push = |code, data| {
            if let Some(s) = opts.get_mut(n) {
                *s = DhcpOption { code, data };
                n += 1;
            }
        };
        push(OptionCode::MESSAGE_TYPE, &t[..]);
        push(OptionCode::CLIENT_ID, &cid[..]);
        if let Some(r) = rq.as_ref() {
            push(OptionCode::REQUESTED_IP, &r[..]);
        }
        if let Some(s) = sid.as_ref() {
            push(OptionCode::SERVER_ID, &s[..]);
        }
        if kind != MessageType::RELEASE {
            push(OptionCode::PARAMETER_LIST, &[1, 3, 6, 51, 58, 59]);
        }
        if kind == MessageType::DISCOVER && self.cfg.rapid_commit {
            push(OptionCode::RAPID_COMMIT, &[]);
        }
        let mut r = Repr::request(self.xid, self.cfg.mac, opts.get(..n).unwrap_or(&[]));
        r.ciaddr = ciaddr.unwrap_or(Ipv4Addr::UNSPECIFIED);
        r.secs = u16::try_from(now.saturating_sub(self.started).as_secs()).unwrap_or(u16::MAX);
        if self.cfg.broadcast && ciaddr.is_none() {
            r.flags = FLAG_BROADCAST;
        }
        let len = r.emit(tx).ok()?;
        if kind != MessageType::RELEASE {
            if self.state == ClientState::Requesting {
                self.attempts = self.attempts.saturating_add(1);
            }
            self.schedule(now);
        }
        Some(ClientAction::Transmit { len, dst })
    }
}

fn half_or_60(now: Duration, until: Duration) -> Duration {
    (until.saturating_sub(now) / 2).max(Duration::from_secs(60))
}
