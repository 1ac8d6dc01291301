//! The client transaction machine (sans-IO, STYLE.md section 7): Access-Request and
//! Accounting-Request transactions to several servers, with
//!
//! - an Identifier space per (server, source port): 256 in flight per port, more ports
//!   (up to [`MAX_PORTS`]) when one is full (RFC 2865 section 3 "Identifier");
//! - retransmission with exponential backoff and jitter (RFC 5080 section 2.2.1);
//!   Access-Requests are retransmitted byte-identically, Accounting-Requests get a
//!   new Identifier and an updated Acct-Delay-Time (RFC 2866 section 5.2);
//! - failover in configuration order, dead-server detection after a number of
//!   unanswered transactions and revival by Status-Server probes (RFC 5080 section
//!   2.2, RFC 5997);
//! - a token-bucket rate limit per server;
//! - reply validation: Response Authenticator AND Message-Authenticator are required
//!   on every reply (BlastRADIUS, CVE-2024-3596) unless the caller sets
//!   [`Config::insecure_accept_responses_without_message_authenticator`]; unmatched
//!   and forged replies are dropped and counted;
//! - accounting records held in the caller's bounded slot storage while no server
//!   answers, with an explicit, counted overflow policy ([`AcctOverflow`]).
//!
//! Requests are kept as attribute templates (User-Password in clear inside the
//! caller's slot memory) and encoded per transmission, because hiding depends on the
//! server's secret and the Request Authenticator. The machine never reads a clock: every
//! call takes `now`; randomness (Request Authenticators, jitter) comes from the
//! caller's `CryptoRng`.

use core::net::{Ipv4Addr, Ipv6Addr};
use core::time::Duration;

use rand_core::{CryptoRng, RngCore};

use crate::crypto::{self, Secret};
use crate::dict::{AcctStatusType, AttrType, Code, TerminateCause};
use crate::error::{EmitError, ParseError, UsageError, VerifyError};
use crate::packet::{Attributes, HEADER_LEN, MAX_PACKET_LEN, Packet, Writer};

/// Most servers one client handles.
pub const MAX_SERVERS: usize = 4;
/// Most source ports per server (256 Identifiers each).
pub const MAX_PORTS: usize = 8;
/// Largest request template (the packet minus header, Message-Authenticator and
/// Acct-Delay-Time).
pub const MAX_TEMPLATE_LEN: usize = MAX_PACKET_LEN - HEADER_LEN - 18 - 6;

/// Which service a server offers (RFC 2865 port 1812, RFC 2866 port 1813).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerKind {
    /// Authentication (Access-Request).
    Auth,
    /// Accounting (Accounting-Request).
    Acct,
}

/// One server: its service, shared secret and rate limit.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Service.
    pub kind: ServerKind,
    /// Shared secret.
    pub secret: Secret,
    /// Token-bucket rate, transmissions per second (0: unlimited).
    pub rate_per_sec: u32,
    /// Token-bucket depth (burst), at least 1 when `rate_per_sec` is set.
    pub burst: u32,
}

/// What happens to a new accounting record when every slot is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcctOverflow {
    /// Refuse the new record ([`SubmitError::Full`], counted in
    /// [`Stats::acct_rejected`]).
    RejectNew,
    /// Drop the oldest pending Interim-Update (a later Interim or Stop supersedes it;
    /// counted in [`Stats::acct_dropped_interim`]); refuse if there is none.
    DropOldestInterim,
}

/// Client configuration. [`Config::default`] follows RFC 5080 section 2.2.1 (IRT 2 s,
/// MRT 16 s, MRC 2 per server (so a request fails over within MRD), MRD 30 s for authentication).
#[derive(Debug, Clone, Copy)]
#[allow(
    clippy::struct_excessive_bools,
    reason = "one explicitly named safety override"
)]
pub struct Config {
    /// Initial retransmission timeout.
    pub initial_rt: Duration,
    /// Largest retransmission timeout.
    pub max_rt: Duration,
    /// Retransmissions to one server before the transaction counts as a failure of
    /// that server and fails over.
    pub max_retransmits: u8,
    /// Total time an Access-Request may take before it is reported as timed out.
    /// Accounting records never expire: they wait for a server.
    pub auth_deadline: Duration,
    /// Consecutive failed transactions after which a server is marked dead.
    pub dead_after_failures: u8,
    /// Interval between Status-Server probes to a dead server.
    pub probe_interval: Duration,
    /// Source ports to use per server (1..=[`MAX_PORTS`]).
    pub max_ports: u8,
    /// Policy when the slots are full and an accounting record arrives.
    pub acct_overflow: AcctOverflow,
    /// Accept replies that lack a Message-Authenticator. UNSAFE: exposes the client to
    /// BlastRADIUS (CVE-2024-3596) response forgery. Off by default.
    pub insecure_accept_responses_without_message_authenticator: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            initial_rt: Duration::from_secs(2),
            max_rt: Duration::from_secs(16),
            max_retransmits: 2,
            auth_deadline: Duration::from_secs(30),
            dead_after_failures: 2,
            probe_interval: Duration::from_secs(10),
            max_ports: 8,
            acct_overflow: AcctOverflow::DropOldestInterim,
            insecure_accept_responses_without_message_authenticator: false,
        }
    }
}

/// Names one submitted transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Handle(pub u32);

/// Why a request could not be queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SubmitError {
    /// Every slot is in use (and the overflow policy found nothing to drop).
    #[error("no free transaction slot")]
    Full,
    /// No server of the needed kind is configured.
    #[error("no server configured for this request")]
    NoServer,
    /// The attributes do not fit.
    #[error("request does not fit: {0}")]
    Emit(#[from] EmitError),
}

/// Why a received datagram was dropped (each is counted in [`Stats`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DropReason {
    /// Not a well-formed RADIUS packet.
    #[error("malformed: {0}")]
    Malformed(ParseError),
    /// No request in flight with this (server, port, Identifier), or a bad server index.
    #[error("no matching request")]
    Unmatched,
    /// The code does not answer the request (e.g. CoA-ACK to an Access-Request).
    #[error("reply code does not match the request")]
    UnexpectedCode,
    /// Authenticator or Message-Authenticator check failed: forged or wrong secret.
    #[error("failed verification: {0}")]
    Verify(VerifyError),
}

/// Counters, for the integrator's metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// First transmissions.
    pub sent: u64,
    /// Retransmissions.
    pub retransmits: u64,
    /// Replies accepted.
    pub replies: u64,
    /// Access-Requests given up ([`Event::TimedOut`]).
    pub timeouts: u64,
    /// Transactions moved to another server (or requeued) after a server failed.
    pub failovers: u64,
    /// Servers marked dead.
    pub servers_dead: u64,
    /// Servers revived by a Status-Server probe.
    pub servers_revived: u64,
    /// Status-Server probes sent.
    pub probes: u64,
    /// Dropped: malformed datagrams.
    pub drop_malformed: u64,
    /// Dropped: no matching request.
    pub drop_unmatched: u64,
    /// Dropped: reply code does not answer the request.
    pub drop_unexpected_code: u64,
    /// Dropped: Response Authenticator mismatch (forged or wrong secret).
    pub drop_bad_authenticator: u64,
    /// Dropped: Message-Authenticator missing (BlastRADIUS protection).
    pub drop_missing_message_authenticator: u64,
    /// Dropped: Message-Authenticator wrong or duplicated.
    pub drop_bad_message_authenticator: u64,
    /// Accounting records refused because the slots were full.
    pub acct_rejected: u64,
    /// Pending Interim-Updates dropped to make room.
    pub acct_dropped_interim: u64,
    /// Transmissions delayed by a server's token bucket.
    pub rate_limited: u64,
}

/// An output of [`Client::poll_event`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The Access-Request got no valid reply before [`Config::auth_deadline`].
    TimedOut(Handle),
}

/// A datagram to send: `len` bytes of the `tx` buffer, to `server` from the source
/// port with index `port` (the caller maps indices to sockets).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transmit {
    /// Server index (order of [`Client::add_server`]).
    pub server: usize,
    /// Source-port index (0..[`Config::max_ports`]).
    pub port: u8,
    /// Bytes written to `tx`.
    pub len: usize,
}

/// A validated reply, borrowing the received bytes.
#[derive(Debug, Clone, Copy)]
pub struct Reply<'b> {
    /// The transaction it answers.
    pub handle: Handle,
    /// Its code (Access-Accept, Access-Reject, Access-Challenge, Accounting-Response).
    pub code: Code,
    /// The Request Authenticator of the request it answers (to recover a
    /// Tunnel-Password, RFC 2868 section 3.5).
    pub request_authenticator: [u8; 16],
    /// The server that answered.
    pub server: usize,
    /// The checked, verified packet.
    pub packet: Packet<&'b [u8]>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SlotState {
    Free,
    /// Waiting for a server, an Identifier or a token.
    Queued,
    InFlight {
        server: u8,
        port: u8,
        id: u8,
        attempt: u8,
        rt: Duration,
        next_rt: Duration,
        /// Needs (re)transmission at the next `poll_action`.
        tx_pending: bool,
    },
    Expired,
}

/// Storage for one transaction; the caller provides a slice of these (a `static`, a
/// stack array or a `Box<[Slot]>`), which bounds the in-flight and queued requests.
#[derive(Debug, Clone)]
pub struct Slot {
    state: SlotState,
    handle: Handle,
    code: Code,
    submitted: Duration,
    base_delay: u32,
    authenticator: [u8; 16],
    interim: bool,
    tlen: usize,
    template: [u8; MAX_TEMPLATE_LEN],
}

impl Slot {
    /// An empty slot.
    pub const EMPTY: Self = Self {
        state: SlotState::Free,
        handle: Handle(0),
        code: Code(0),
        submitted: Duration::ZERO,
        base_delay: 0,
        authenticator: [0; 16],
        interim: false,
        tlen: 0,
        template: [0; MAX_TEMPLATE_LEN],
    };

    fn kind(&self) -> ServerKind {
        if self.code == Code::ACCOUNTING_REQUEST {
            ServerKind::Acct
        } else {
            ServerKind::Auth
        }
    }
}

impl Default for Slot {
    fn default() -> Self {
        Self::EMPTY
    }
}

/// Builds the attributes of a request into a slot. User-Password is stored in clear
/// here and hidden per transmission (RFC 2865 section 5.2); Acct-Delay-Time is managed
/// by the client.
#[derive(Debug)]
pub struct Template<'t> {
    buf: &'t mut [u8],
    len: usize,
}

impl Template<'_> {
    /// Appends an attribute.
    ///
    /// # Errors
    /// [`EmitError::ValueTooLarge`] for a value over 253 bytes;
    /// [`EmitError::BufferTooSmall`] when the template is full.
    pub fn attribute(&mut self, kind: AttrType, value: &[u8]) -> Result<(), EmitError> {
        if kind == AttrType::MESSAGE_AUTHENTICATOR {
            return Ok(()); // always added, first, by the client
        }
        let a = crate::packet::Attr { kind, value };
        let n = a.emit(self.buf.get_mut(self.len..).unwrap_or_default())?;
        self.len += n;
        Ok(())
    }

    /// Appends an `integer` attribute.
    ///
    /// # Errors
    /// As [`Template::attribute`].
    pub fn u32(&mut self, kind: AttrType, value: u32) -> Result<(), EmitError> {
        self.attribute(kind, &value.to_be_bytes())
    }

    /// Appends an `address` attribute.
    ///
    /// # Errors
    /// As [`Template::attribute`].
    pub fn ipv4(&mut self, kind: AttrType, value: Ipv4Addr) -> Result<(), EmitError> {
        self.attribute(kind, &value.octets())
    }

    /// Appends an IPv6 address attribute.
    ///
    /// # Errors
    /// As [`Template::attribute`].
    pub fn ipv6(&mut self, kind: AttrType, value: Ipv6Addr) -> Result<(), EmitError> {
        self.attribute(kind, &value.octets())
    }

    /// Appends a User-Password, hidden at each transmission (RFC 2865 section 5.2).
    ///
    /// # Errors
    /// [`EmitError::ValueTooLarge`] over 128 bytes; as [`Template::attribute`].
    pub fn user_password(&mut self, password: &[u8]) -> Result<(), EmitError> {
        if password.len() > crypto::MAX_PASSWORD_LEN {
            return Err(EmitError::ValueTooLarge("User-Password over 128 bytes"));
        }
        self.attribute(AttrType::USER_PASSWORD, password)
    }

    /// Appends CHAP-Password and CHAP-Challenge (RFC 2865 sections 5.3, 5.40); the
    /// `challenge` comes from the caller's `CryptoRng` (or the peer's CHAP exchange).
    ///
    /// # Errors
    /// As [`Template::attribute`].
    pub fn chap(&mut self, ident: u8, password: &[u8], challenge: &[u8]) -> Result<(), EmitError> {
        self.attribute(
            AttrType::CHAP_PASSWORD,
            &crypto::chap_password(ident, password, challenge),
        )?;
        self.attribute(AttrType::CHAP_CHALLENGE, challenge)
    }

    /// Appends a CHAP-Password and CHAP-Challenge received from the peer as they are.
    ///
    /// # Errors
    /// As [`Template::attribute`].
    pub fn chap_response(
        &mut self,
        chap_password: &[u8; 17],
        challenge: &[u8],
    ) -> Result<(), EmitError> {
        self.attribute(AttrType::CHAP_PASSWORD, chap_password)?;
        self.attribute(AttrType::CHAP_CHALLENGE, challenge)
    }

    /// Appends a Vendor-Specific attribute with one sub-attribute (RFC 2865 section
    /// 5.26).
    ///
    /// # Errors
    /// As [`Template::attribute`].
    pub fn vendor_specific(
        &mut self,
        vendor_id: u32,
        vendor_type: u8,
        value: &[u8],
    ) -> Result<(), EmitError> {
        let mut v = [0u8; crate::packet::MAX_VALUE_LEN];
        let n = 6 + value.len();
        let sub = u8::try_from(2 + value.len())
            .ok()
            .filter(|_| n <= v.len())
            .ok_or(EmitError::ValueTooLarge("vendor value over 247 bytes"))?;
        v[..4].copy_from_slice(&vendor_id.to_be_bytes());
        v[4] = vendor_type;
        v[5] = sub;
        v.get_mut(6..n).unwrap_or_default().copy_from_slice(value);
        self.attribute(AttrType::VENDOR_SPECIFIC, v.get(..n).unwrap_or_default())
    }
}

/// One accounting record (RFC 2866 section 5, RFC 2869 section 5.1-5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AcctRecord<'a> {
    /// Start, Interim-Update or Stop (or Accounting-On/Off).
    pub status: AcctStatusType,
    /// Acct-Session-Id.
    pub session_id: &'a [u8],
    /// Octets from the subscriber: sent as Acct-Input-Octets (low 32 bits) and
    /// Acct-Input-Gigawords (high 32 bits) on Interim-Update and Stop.
    pub input_octets: u64,
    /// Octets to the subscriber (Acct-Output-Octets / -Gigawords).
    pub output_octets: u64,
    /// Packets from the subscriber (Acct-Input-Packets; RADIUS has no packet
    /// gigawords, so this saturates at 2^32-1).
    pub input_packets: u64,
    /// Packets to the subscriber (Acct-Output-Packets, saturating).
    pub output_packets: u64,
    /// Acct-Session-Time in seconds (Interim-Update and Stop).
    pub session_time: u32,
    /// Acct-Terminate-Cause (Stop only).
    pub terminate_cause: Option<TerminateCause>,
}

impl<'a> AcctRecord<'a> {
    /// A record with all counters zero.
    #[must_use]
    pub const fn new(status: AcctStatusType, session_id: &'a [u8]) -> Self {
        Self {
            status,
            session_id,
            input_octets: 0,
            output_octets: 0,
            input_packets: 0,
            output_packets: 0,
            session_time: 0,
            terminate_cause: None,
        }
    }

    /// Writes the record's attributes.
    ///
    /// # Errors
    /// As [`Template::attribute`].
    pub fn write(&self, t: &mut Template<'_>) -> Result<(), EmitError> {
        t.u32(AttrType::ACCT_STATUS_TYPE, self.status.0)?;
        t.attribute(AttrType::ACCT_SESSION_ID, self.session_id)?;
        if matches!(
            self.status,
            AcctStatusType::INTERIM_UPDATE | AcctStatusType::STOP
        ) {
            let sat = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
            let (ih, il) = split64(self.input_octets);
            let (oh, ol) = split64(self.output_octets);
            t.u32(AttrType::ACCT_INPUT_OCTETS, il)?;
            t.u32(AttrType::ACCT_OUTPUT_OCTETS, ol)?;
            t.u32(AttrType::ACCT_INPUT_GIGAWORDS, ih)?;
            t.u32(AttrType::ACCT_OUTPUT_GIGAWORDS, oh)?;
            t.u32(AttrType::ACCT_INPUT_PACKETS, sat(self.input_packets))?;
            t.u32(AttrType::ACCT_OUTPUT_PACKETS, sat(self.output_packets))?;
            t.u32(AttrType::ACCT_SESSION_TIME, self.session_time)?;
        }
        if self.status == AcctStatusType::STOP {
            if let Some(c) = self.terminate_cause {
                t.u32(AttrType::ACCT_TERMINATE_CAUSE, c.0)?;
            }
        }
        Ok(())
    }
}

fn split64(v: u64) -> (u32, u32) {
    let hi = u32::try_from(v >> 32).unwrap_or(u32::MAX);
    let lo = u32::try_from(v & 0xffff_ffff).unwrap_or(u32::MAX);
    (hi, lo)
}

#[derive(Debug, Clone, Copy)]
struct Probe {
    port: u8,
    id: u8,
    authenticator: [u8; 16],
    deadline: Duration,
    tx_pending: bool,
}

#[derive(Debug, Clone)]
struct Server {
    cfg: ServerConfig,
    ids: [[u64; 4]; MAX_PORTS],
    cursor: [u8; MAX_PORTS],
    alive: bool,
    failures: u8,
    next_probe: Duration,
    probe: Option<Probe>,
    /// Token-bucket credit in nanoseconds of "rate time".
    credit: u128,
    last_refill: Duration,
}

impl Server {
    fn cost(&self) -> u128 {
        if self.cfg.rate_per_sec == 0 {
            0
        } else {
            1_000_000_000 / u128::from(self.cfg.rate_per_sec)
        }
    }

    fn cap(&self) -> u128 {
        self.cost() * u128::from(self.cfg.burst.max(1))
    }

    fn refill(&mut self, now: Duration) {
        let dt = now.saturating_sub(self.last_refill).as_nanos();
        self.credit = self.credit.saturating_add(dt).min(self.cap());
        self.last_refill = self.last_refill.max(now);
    }

    /// When a token is available (now if one is).
    fn token_at(&self, now: Duration) -> Duration {
        let missing = self.cost().saturating_sub(self.credit);
        now.saturating_add(Duration::from_nanos(
            u64::try_from(missing).unwrap_or(u64::MAX),
        ))
    }

    fn take_token(&mut self, now: Duration) -> bool {
        self.refill(now);
        let c = self.cost();
        if self.credit >= c {
            self.credit -= c;
            true
        } else {
            false
        }
    }

    fn alloc_id(&mut self, ports: u8) -> Option<(u8, u8)> {
        for p in 0..usize::from(ports).min(MAX_PORTS) {
            let (Some(bits), Some(cur)) = (self.ids.get_mut(p), self.cursor.get_mut(p)) else {
                continue;
            };
            for k in 0..=255u8 {
                let id = cur.wrapping_add(k);
                let (w, b) = (usize::from(id / 64), id % 64);
                if let Some(word) = bits.get_mut(w) {
                    if *word & (1 << b) == 0 {
                        *word |= 1 << b;
                        *cur = id.wrapping_add(1);
                        return Some((u8::try_from(p).ok()?, id));
                    }
                }
            }
        }
        None
    }

    fn free_id(&mut self, port: u8, id: u8) {
        if let Some(word) = self
            .ids
            .get_mut(usize::from(port))
            .and_then(|b| b.get_mut(usize::from(id / 64)))
        {
            *word &= !(1u64 << (id % 64));
        }
    }
}

/// The client transaction machine. `'s` is the lifetime of the caller's slot storage.
#[derive(Debug)]
pub struct Client<'s> {
    cfg: Config,
    servers: heapless::Vec<Server, MAX_SERVERS>,
    slots: &'s mut [Slot],
    next_handle: u32,
    stats: Stats,
}

fn random16<R: RngCore + CryptoRng>(rng: &mut R) -> [u8; 16] {
    let mut a = [0u8; 16];
    rng.fill_bytes(&mut a);
    a
}

impl<'s> Client<'s> {
    /// A client over the caller's `slots`.
    ///
    /// # Errors
    /// [`UsageError::InvalidConfig`] if `max_ports` is 0 or over [`MAX_PORTS`], or a
    /// timer is zero.
    pub fn new(cfg: Config, slots: &'s mut [Slot]) -> Result<Self, UsageError> {
        if cfg.max_ports == 0 || usize::from(cfg.max_ports) > MAX_PORTS {
            return Err(UsageError::InvalidConfig("max_ports must be 1..=8"));
        }
        if cfg.initial_rt.is_zero() || cfg.max_rt < cfg.initial_rt || cfg.probe_interval.is_zero() {
            return Err(UsageError::InvalidConfig("RADIUS client timers"));
        }
        for s in slots.iter_mut() {
            s.state = SlotState::Free;
        }
        Ok(Self {
            cfg,
            servers: heapless::Vec::new(),
            slots,
            next_handle: 1,
            stats: Stats::default(),
        })
    }

    /// Adds a server; earlier servers of a kind are preferred (failover order).
    /// Returns its index.
    ///
    /// # Errors
    /// [`UsageError::InvalidConfig`] beyond [`MAX_SERVERS`].
    pub fn add_server(&mut self, cfg: ServerConfig) -> Result<usize, UsageError> {
        let mut s = Server {
            cfg,
            ids: [[0; 4]; MAX_PORTS],
            cursor: [0; MAX_PORTS],
            alive: true,
            failures: 0,
            next_probe: Duration::ZERO,
            probe: None,
            credit: 0,
            last_refill: Duration::ZERO,
        };
        s.credit = s.cap();
        self.servers
            .push(s)
            .map_err(|_| UsageError::InvalidConfig("more than 4 RADIUS servers"))?;
        Ok(self.servers.len() - 1)
    }

    /// Counters.
    #[must_use]
    pub const fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Whether server `i` is considered alive.
    #[must_use]
    pub fn server_alive(&self, i: usize) -> bool {
        self.servers.get(i).is_some_and(|s| s.alive)
    }

    /// Transactions not yet answered (queued or in flight).
    #[must_use]
    pub fn pending(&self) -> usize {
        self.slots
            .iter()
            .filter(|s| matches!(s.state, SlotState::Queued | SlotState::InFlight { .. }))
            .count()
    }

    fn take_slot(&mut self, acct: bool) -> Result<usize, SubmitError> {
        if let Some(i) = self.slots.iter().position(|s| s.state == SlotState::Free) {
            return Ok(i);
        }
        if !acct {
            return Err(SubmitError::Full);
        }
        if self.cfg.acct_overflow == AcctOverflow::DropOldestInterim {
            let victim = self
                .slots
                .iter()
                .enumerate()
                .filter(|(_, s)| {
                    s.interim && matches!(s.state, SlotState::Queued | SlotState::InFlight { .. })
                })
                .min_by_key(|(_, s)| s.submitted)
                .map(|(i, _)| i);
            if let Some(i) = victim {
                self.release(i);
                self.stats.acct_dropped_interim += 1;
                return Ok(i);
            }
        }
        self.stats.acct_rejected += 1;
        Err(SubmitError::Full)
    }

    /// Frees slot `i` and its Identifier.
    fn release(&mut self, i: usize) {
        let Some(slot) = self.slots.get_mut(i) else {
            return;
        };
        if let SlotState::InFlight {
            server, port, id, ..
        } = slot.state
        {
            if let Some(s) = self.servers.get_mut(usize::from(server)) {
                s.free_id(port, id);
            }
        }
        slot.state = SlotState::Free;
    }

    fn submit(
        &mut self,
        now: Duration,
        code: Code,
        authenticator: [u8; 16],
        interim: bool,
        build: impl FnOnce(&mut Template<'_>) -> Result<(), EmitError>,
    ) -> Result<Handle, SubmitError> {
        let kind = if code == Code::ACCOUNTING_REQUEST {
            ServerKind::Acct
        } else {
            ServerKind::Auth
        };
        if !self.servers.iter().any(|s| s.cfg.kind == kind) {
            return Err(SubmitError::NoServer);
        }
        let i = self.take_slot(kind == ServerKind::Acct)?;
        let handle = Handle(self.next_handle);
        self.next_handle = self.next_handle.wrapping_add(1).max(1);
        let slot = self.slots.get_mut(i).ok_or(SubmitError::Full)?;
        let mut t = Template {
            buf: &mut slot.template,
            len: 0,
        };
        build(&mut t)?;
        let tlen = t.len;
        // The encoded request must fit one packet: header, Message-Authenticator,
        // Acct-Delay-Time, User-Password padding; at most MAX_ATTRIBUTES attributes.
        let (mut count, mut grow) = (2usize, HEADER_LEN + 18 + 6);
        for a in Attributes::new(slot.template.get(..tlen).unwrap_or_default()) {
            let a = a.map_err(|_| EmitError::ValueTooLarge("template"))?;
            count += 1;
            if a.kind == AttrType::USER_PASSWORD {
                grow += a.value.len().div_ceil(16).max(1) * 16 - a.value.len();
            }
        }
        if count > crate::packet::MAX_ATTRIBUTES || tlen + grow > MAX_PACKET_LEN {
            return Err(SubmitError::Emit(EmitError::ValueTooLarge(
                "request does not fit one RADIUS packet",
            )));
        }
        // Acct-Delay-Time given by the caller is the base the client adds to
        // (RFC 2866 section 5.2).
        let base_delay = Attributes::new(slot.template.get(..tlen).unwrap_or_default())
            .map_while(Result::ok)
            .find(|a| a.kind == AttrType::ACCT_DELAY_TIME)
            .and_then(|a| a.as_u32())
            .unwrap_or(0);
        slot.tlen = tlen;
        slot.code = code;
        slot.handle = handle;
        slot.submitted = now;
        slot.base_delay = base_delay;
        slot.authenticator = authenticator;
        slot.interim = interim;
        slot.state = SlotState::Queued;
        Ok(handle)
    }

    /// Queues an Access-Request whose attributes `build` writes (RFC 2865 section
    /// 4.1). The Request Authenticator is drawn from `rng`.
    ///
    /// # Errors
    /// [`SubmitError::Full`], [`SubmitError::NoServer`], or the builder's error.
    pub fn submit_access<R: RngCore + CryptoRng>(
        &mut self,
        now: Duration,
        rng: &mut R,
        build: impl FnOnce(&mut Template<'_>) -> Result<(), EmitError>,
    ) -> Result<Handle, SubmitError> {
        let a = random16(rng);
        self.submit(now, Code::ACCESS_REQUEST, a, false, build)
    }

    /// Queues an Accounting-Request for `record` plus the attributes `extra` writes
    /// (RFC 2866 section 4.1). When the slots are full, [`Config::acct_overflow`]
    /// decides.
    ///
    /// # Errors
    /// [`SubmitError::Full`], [`SubmitError::NoServer`], or a builder error.
    pub fn submit_accounting(
        &mut self,
        now: Duration,
        record: &AcctRecord<'_>,
        extra: impl FnOnce(&mut Template<'_>) -> Result<(), EmitError>,
    ) -> Result<Handle, SubmitError> {
        let interim = record.status == AcctStatusType::INTERIM_UPDATE;
        self.submit(now, Code::ACCOUNTING_REQUEST, [0; 16], interim, |t| {
            record.write(t)?;
            extra(t)
        })
    }

    /// Forgets a transaction (e.g. the subscriber went away); a late reply is then
    /// counted as unmatched.
    pub fn cancel(&mut self, handle: Handle) {
        if let Some(i) = self
            .slots
            .iter()
            .position(|s| s.state != SlotState::Free && s.handle == handle)
        {
            self.release(i);
        }
    }

    /// Picks the first alive server of `kind` (configuration order).
    fn pick_server(&self, kind: ServerKind) -> Option<usize> {
        self.servers
            .iter()
            .position(|s| s.cfg.kind == kind && s.alive)
    }

    /// Writes the next datagram to send into `tx`, if any.
    #[must_use]
    pub fn poll_action(&mut self, now: Duration, tx: &mut [u8]) -> Option<Transmit> {
        // Status-Server probes first (RFC 5997): they revive dead servers.
        for (si, s) in self.servers.iter_mut().enumerate() {
            let Some(p) = s.probe.as_mut().filter(|p| p.tx_pending) else {
                continue;
            };
            p.tx_pending = false;
            let (port, id, auth) = (p.port, p.id, p.authenticator);
            let len = Writer::new(tx, Code::STATUS_SERVER, id, auth)
                .and_then(|w| w.finish(&s.cfg.secret))
                .ok()?;
            self.stats.probes += 1;
            return Some(Transmit {
                server: si,
                port,
                len,
            });
        }
        for i in 0..self.slots.len() {
            if let Some(t) = self.try_transmit(i, now, tx) {
                return Some(t);
            }
        }
        None
    }

    fn try_transmit(&mut self, i: usize, now: Duration, tx: &mut [u8]) -> Option<Transmit> {
        let slot = self.slots.get(i)?;
        let kind = slot.kind();
        let (server, port, id, attempt, rt, next_rt, fresh) = match slot.state {
            SlotState::Queued => {
                let si = self.pick_server(kind)?;
                let s = self.servers.get_mut(si)?;
                if !s.take_token(now) {
                    self.stats.rate_limited += 1;
                    return None;
                }
                let Some((port, id)) = s.alloc_id(self.cfg.max_ports) else {
                    // all Identifiers of all ports in flight: give the token back
                    s.credit = s.credit.saturating_add(s.cost());
                    return None;
                };
                let si = u8::try_from(si).ok()?;
                let rt = self.cfg.initial_rt;
                (si, port, id, 0, rt, now.saturating_add(rt), true)
            }
            SlotState::InFlight {
                server,
                port,
                id,
                attempt,
                rt,
                next_rt,
                tx_pending: true,
            } => {
                let s = self.servers.get_mut(usize::from(server))?;
                if !s.take_token(now) {
                    self.stats.rate_limited += 1;
                    return None;
                }
                if kind == ServerKind::Acct {
                    // New Identifier: the Acct-Delay-Time changes (RFC 2866 5.2). If
                    // none is free, the old one is reused.
                    if let Some((p2, id2)) = s.alloc_id(self.cfg.max_ports) {
                        s.free_id(port, id);
                        (server, p2, id2, attempt, rt, next_rt, false)
                    } else {
                        (server, port, id, attempt, rt, next_rt, false)
                    }
                } else {
                    (server, port, id, attempt, rt, next_rt, false)
                }
            }
            _ => return None,
        };
        let slot = self.slots.get_mut(i)?;
        let s = self.servers.get(usize::from(server))?;
        let encoded = encode(slot, &s.cfg.secret, id, now, tx);
        slot.state = SlotState::InFlight {
            server,
            port,
            id,
            attempt,
            rt,
            next_rt,
            tx_pending: false,
        };
        let Ok(len) = encoded else {
            // Cannot happen with templates checked at submit; give up cleanly.
            self.release(i);
            return None;
        };
        if fresh {
            self.stats.sent += 1;
        } else {
            self.stats.retransmits += 1;
        }
        Some(Transmit {
            server: usize::from(server),
            port,
            len,
        })
    }

    /// Validates a datagram received from server `server` on source-port index
    /// `port`: matched by Identifier, then the Response Authenticator and the
    /// Message-Authenticator are checked (the latter required unless the insecure
    /// option is set). A Status-Server reply revives its server and returns
    /// `Ok(None)`.
    ///
    /// # Errors
    /// Why the datagram was dropped; every drop is also counted in [`Stats`]. A drop
    /// leaves the transaction in flight (the genuine reply may still come).
    pub fn handle_packet<'b>(
        &mut self,
        now: Duration,
        server: usize,
        port: u8,
        bytes: &'b [u8],
    ) -> Result<Option<Reply<'b>>, DropReason> {
        let r = self.handle_inner(now, server, port, bytes);
        if let Err(e) = r {
            let c = match e {
                DropReason::Malformed(_) => &mut self.stats.drop_malformed,
                DropReason::Unmatched => &mut self.stats.drop_unmatched,
                DropReason::UnexpectedCode => &mut self.stats.drop_unexpected_code,
                DropReason::Verify(VerifyError::BadAuthenticator) => {
                    &mut self.stats.drop_bad_authenticator
                }
                DropReason::Verify(VerifyError::MissingMessageAuthenticator) => {
                    &mut self.stats.drop_missing_message_authenticator
                }
                DropReason::Verify(_) => &mut self.stats.drop_bad_message_authenticator,
            };
            *c += 1;
        }
        r
    }

    fn handle_inner<'b>(
        &mut self,
        _now: Duration,
        server: usize,
        port: u8,
        bytes: &'b [u8],
    ) -> Result<Option<Reply<'b>>, DropReason> {
        let pkt = Packet::new_checked(bytes).map_err(DropReason::Malformed)?;
        let require = !self
            .cfg
            .insecure_accept_responses_without_message_authenticator;
        let srv = self.servers.get_mut(server).ok_or(DropReason::Unmatched)?;
        let id = pkt.identifier();
        if let Some(pr) = srv.probe.filter(|pr| pr.port == port && pr.id == id) {
            if !Code::STATUS_SERVER.accepts_reply(pkt.code()) {
                return Err(DropReason::UnexpectedCode);
            }
            crypto::verify_response(&pkt, &srv.cfg.secret, &pr.authenticator, require)
                .map_err(DropReason::Verify)?;
            srv.free_id(port, id);
            srv.probe = None;
            srv.alive = true;
            srv.failures = 0;
            self.stats.servers_revived += 1;
            return Ok(None);
        }
        let si = u8::try_from(server).map_err(|_| DropReason::Unmatched)?;
        let i = self
            .slots
            .iter()
            .position(|sl| {
                matches!(sl.state, SlotState::InFlight { server: a, port: b, id: c, .. }
                    if a == si && b == port && c == id)
            })
            .ok_or(DropReason::Unmatched)?;
        let slot = self.slots.get(i).ok_or(DropReason::Unmatched)?;
        if !slot.code.accepts_reply(pkt.code()) {
            return Err(DropReason::UnexpectedCode);
        }
        let srv = self.servers.get_mut(server).ok_or(DropReason::Unmatched)?;
        crypto::verify_response(&pkt, &srv.cfg.secret, &slot.authenticator, require)
            .map_err(DropReason::Verify)?;
        srv.failures = 0;
        srv.alive = true;
        let reply = Reply {
            handle: slot.handle,
            code: pkt.code(),
            request_authenticator: slot.authenticator,
            server,
            packet: pkt,
        };
        self.release(i);
        self.stats.replies += 1;
        Ok(Some(reply))
    }

    fn server_failed(&mut self, server: u8, now: Duration) {
        let (after, interval) = (self.cfg.dead_after_failures.max(1), self.cfg.probe_interval);
        if let Some(s) = self.servers.get_mut(usize::from(server)) {
            s.failures = s.failures.saturating_add(1);
            if s.alive && s.failures >= after {
                s.alive = false;
                s.next_probe = now.saturating_add(interval);
                self.stats.servers_dead += 1;
            }
        }
    }

    /// Advances timers: retransmissions with backoff, failover, expiry of
    /// Access-Requests, Status-Server probes. `rng` supplies fresh Request
    /// Authenticators for failed-over Access-Requests and the backoff jitter.
    pub fn handle_timeout<R: RngCore + CryptoRng>(&mut self, now: Duration, rng: &mut R) {
        let cfg = self.cfg;
        for i in 0..self.slots.len() {
            let Some(slot) = self.slots.get(i) else { break };
            let (state, kind, submitted) = (slot.state, slot.kind(), slot.submitted);
            match state {
                SlotState::InFlight {
                    server,
                    port,
                    id,
                    attempt,
                    next_rt,
                    tx_pending: false,
                    ..
                } if kind == ServerKind::Auth
                    && now >= submitted.saturating_add(cfg.auth_deadline) =>
                {
                    // RFC 5080 section 2.2.1 MRD: the whole transaction is bounded.
                    if attempt >= cfg.max_retransmits && next_rt <= now {
                        self.server_failed(server, now);
                    }
                    if let Some(s) = self.servers.get_mut(usize::from(server)) {
                        s.free_id(port, id);
                    }
                    if let Some(sl) = self.slots.get_mut(i) {
                        sl.state = SlotState::Expired;
                    }
                }
                SlotState::InFlight {
                    server,
                    port,
                    id,
                    attempt,
                    rt,
                    next_rt,
                    tx_pending: false,
                } if next_rt <= now => {
                    if attempt < cfg.max_retransmits {
                        // RFC 5080 section 2.2.1: RT = 2*RTprev + RAND*RTprev, RAND in
                        // [-0.1, 0.1], capped at MRT.
                        let base = rt.saturating_mul(2).min(cfg.max_rt);
                        let jitter = base / 10;
                        let r = rng.next_u32();
                        let j = jitter.mul_f64(f64::from(r) / f64::from(u32::MAX));
                        let nrt = base
                            .saturating_sub(jitter)
                            .saturating_add(j.saturating_mul(2))
                            .max(cfg.initial_rt);
                        let mut next = now.saturating_add(nrt);
                        if kind == ServerKind::Auth {
                            next = next.min(submitted.saturating_add(cfg.auth_deadline));
                        }
                        if let Some(sl) = self.slots.get_mut(i) {
                            sl.state = SlotState::InFlight {
                                server,
                                port,
                                id,
                                attempt: attempt + 1,
                                rt: nrt,
                                next_rt: next,
                                tx_pending: true,
                            };
                        }
                    } else {
                        self.server_failed(server, now);
                        if let Some(s) = self.servers.get_mut(usize::from(server)) {
                            s.free_id(port, id);
                        }
                        self.stats.failovers += 1;
                        let expired = kind == ServerKind::Auth
                            && now >= submitted.saturating_add(cfg.auth_deadline);
                        let fresh = random16(rng);
                        if let Some(sl) = self.slots.get_mut(i) {
                            if expired {
                                sl.state = SlotState::Expired;
                            } else {
                                if kind == ServerKind::Auth {
                                    sl.authenticator = fresh;
                                }
                                sl.state = SlotState::Queued;
                            }
                        }
                    }
                }
                SlotState::Queued
                    if kind == ServerKind::Auth
                        && now >= submitted.saturating_add(cfg.auth_deadline) =>
                {
                    if let Some(sl) = self.slots.get_mut(i) {
                        sl.state = SlotState::Expired;
                    }
                }
                _ => {}
            }
        }
        self.move_off_dead_servers(rng);
        self.probe_timers(now, rng);
    }

    /// Transactions still in flight to a server now dead move to another alive server
    /// of their kind at once (RFC 5080 section 2.2), instead of finishing their
    /// retransmissions into the void. Access-Requests get a fresh Request
    /// Authenticator (a new server, a new secret).
    fn move_off_dead_servers<R: RngCore + CryptoRng>(&mut self, rng: &mut R) {
        for i in 0..self.slots.len() {
            let Some(slot) = self.slots.get(i) else { break };
            let SlotState::InFlight {
                server, port, id, ..
            } = slot.state
            else {
                continue;
            };
            let kind = slot.kind();
            let dead = self
                .servers
                .get(usize::from(server))
                .is_some_and(|s| !s.alive);
            if !dead || self.pick_server(kind).is_none() {
                continue;
            }
            if let Some(s) = self.servers.get_mut(usize::from(server)) {
                s.free_id(port, id);
            }
            let fresh = random16(rng);
            if let Some(sl) = self.slots.get_mut(i) {
                if kind == ServerKind::Auth {
                    sl.authenticator = fresh;
                }
                sl.state = SlotState::Queued;
            }
            self.stats.failovers += 1;
        }
    }

    /// Status-Server probes to dead servers (RFC 5997, RFC 5080 section 2.2).
    fn probe_timers<R: RngCore + CryptoRng>(&mut self, now: Duration, rng: &mut R) {
        let cfg = self.cfg;
        for s in &mut self.servers {
            if s.alive {
                continue;
            }
            match s.probe {
                Some(p) if now >= p.deadline => {
                    s.free_id(p.port, p.id);
                    s.probe = None;
                    s.next_probe = now.saturating_add(cfg.probe_interval);
                }
                None if now >= s.next_probe => {
                    if let Some((port, id)) = s.alloc_id(cfg.max_ports) {
                        s.probe = Some(Probe {
                            port,
                            id,
                            authenticator: random16(rng),
                            deadline: now.saturating_add(cfg.initial_rt),
                            tx_pending: true,
                        });
                    }
                }
                _ => {}
            }
        }
    }

    /// The next event for the caller (an expired Access-Request).
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        let i = self
            .slots
            .iter()
            .position(|s| s.state == SlotState::Expired)?;
        let h = self.slots.get(i)?.handle;
        self.release(i);
        self.stats.timeouts += 1;
        Some(Event::TimedOut(h))
    }

    /// When [`Client::handle_timeout`] must next run (retransmission, expiry, probe,
    /// or a rate-limited transmission becoming possible).
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Duration> {
        let mut t: Option<Duration> = None;
        let mut at = |d: Duration| t = Some(t.map_or(d, |x| x.min(d)));
        for s in self.slots.iter() {
            match s.state {
                SlotState::InFlight {
                    server,
                    next_rt,
                    tx_pending,
                    ..
                } => {
                    at(next_rt);
                    // a retransmission waiting for a token
                    if let Some(sv) = self
                        .servers
                        .get(usize::from(server))
                        .filter(|sv| tx_pending && sv.credit < sv.cost())
                    {
                        at(sv.token_at(sv.last_refill));
                    }
                }
                SlotState::Queued => {
                    if s.kind() == ServerKind::Auth {
                        at(s.submitted.saturating_add(self.cfg.auth_deadline));
                    }
                    if let Some(sv) = self
                        .pick_server(s.kind())
                        .and_then(|i| self.servers.get(i))
                        .filter(|sv| sv.credit < sv.cost())
                    {
                        at(sv.token_at(sv.last_refill));
                    }
                }
                SlotState::Expired | SlotState::Free => {}
            }
        }
        for s in &self.servers {
            if !s.alive {
                at(s.probe.map_or(s.next_probe, |p| p.deadline));
            }
        }
        t
    }
}

/// Encodes a slot's request for one transmission: Message-Authenticator first, the
/// template with User-Password hidden for this server's secret, Acct-Delay-Time
/// updated (RFC 2866 section 5.2), signed.
fn encode(
    slot: &mut Slot,
    secret: &Secret,
    id: u8,
    now: Duration,
    tx: &mut [u8],
) -> Result<usize, EmitError> {
    let mut w = Writer::new(tx, slot.code, id, slot.authenticator)?;
    for a in Attributes::new(slot.template.get(..slot.tlen).unwrap_or_default()) {
        let a = a.map_err(|_| EmitError::ValueTooLarge("template"))?;
        match a.kind {
            AttrType::USER_PASSWORD => w.user_password(secret, a.value)?,
            AttrType::ACCT_DELAY_TIME => {}
            _ => w.attribute(a.kind, a.value)?,
        }
    }
    if slot.code == Code::ACCOUNTING_REQUEST {
        let waited =
            u32::try_from(now.saturating_sub(slot.submitted).as_secs()).unwrap_or(u32::MAX);
        w.u32(
            AttrType::ACCT_DELAY_TIME,
            slot.base_delay.saturating_add(waited),
        )?;
    }
    let len = w.finish(secret)?;
    if slot.code == Code::ACCOUNTING_REQUEST {
        if let Some(a) = tx.get(4..HEADER_LEN) {
            slot.authenticator.copy_from_slice(a);
        }
    }
    Ok(len)
}
