//! One subscriber's PPP session after PPPoE discovery: the phases of RFC 1661
//! section 3.2 (Establish → Authenticate → Network → Terminate → Dead) driven over
//! LCP, PAP or CHAP-MD5, IPCP and IPv6CP, in the AC role or the host role.
//!
//! Sans-IO (STYLE.md section 7): [`Session::handle_packet`] takes a PPPoE
//! session-stage packet and `now`; [`Session::poll_action`] writes the next frame
//! to send; [`Session::handle_timeout`] and [`Session::poll_timeout`] run the timers;
//! [`Session::poll_event`] reports up/down. Credentials leave as an
//! [`AuthRequest`] returned by `handle_packet`, and the caller answers with
//! [`Session::auth_accept`] or [`Session::auth_reject`] (now or later).
//!
//! ```
//! use core::time::Duration;
//! use bng_pppoe::ppp::session::{Config, Credentials, Event, Session};
//! use bng_pppoe::ppp::lcp::AuthProto;
//! # struct Rng(u64);
//! # impl rand_core::RngCore for Rng {
//! #     fn next_u32(&mut self) -> u32 { self.next_u64() as u32 }
//! #     fn next_u64(&mut self) -> u64 { self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1); self.0 }
//! #     fn fill_bytes(&mut self, d: &mut [u8]) { for b in d { *b = self.next_u64() as u8 } }
//! #     fn try_fill_bytes(&mut self, d: &mut [u8]) -> Result<(), rand_core::Error> { self.fill_bytes(d); Ok(()) }
//! # }
//! # impl rand_core::CryptoRng for Rng {}
//! let mut rng = Rng(1);
//! let mut ac_cfg = Config::server(AuthProto::Pap, b"bng", [10, 0, 0, 1]);
//! ac_cfg.dns = [[10, 0, 0, 53], [0; 4]];
//! let host_cfg = Config::client(Credentials { user: b"alice", password: b"pw" });
//! let mut ac = Session::new(&ac_cfg, 0x1234, &mut rng);
//! let mut host = Session::new(&host_cfg, 0x1234, &mut rng);
//! ac.set_peer_ipv4([10, 0, 0, 2]);
//! let now = Duration::ZERO;
//! ac.start(now);
//! host.start(now);
//! let (mut buf, mut up) = ([0u8; 1500], false);
//! // The driver loop: move frames both ways until both sides are quiet.
//! for _ in 0..50 {
//!     while let Some(a) = ac.poll_action(now, &mut buf) {
//!         let _ = host.handle_packet(now, &buf[..a.len()]);
//!     }
//!     while let Some(a) = host.poll_action(now, &mut buf) {
//!         if let Ok(Some(req)) = ac.handle_packet(now, &buf[..a.len()]) {
//!             assert!(req.check_password(b"alice", b"pw"));
//!             ac.auth_accept(now).unwrap();
//!         }
//!     }
//!     while let Some(e) = host.poll_event() {
//!         if let Event::Ipv4Up { local, .. } = e {
//!             assert_eq!(local, [10, 0, 0, 2]);
//!             up = true;
//!         }
//!     }
//! }
//! assert!(up);
//! ```

use core::time::Duration;

use rand_core::{CryptoRng, RngCore};

use crate::error::{ProtocolError, UsageError};

use super::auth::{
    CHALLENGE_LEN, ChapRepr, PapRepr, chap_code, chap_md5_response, chap_md5_verify, pap_code,
};
use super::cp::{Cp, Reply};
use super::fsm::{Actions, Event as Ev, State, Timers};
use super::ipcp::{Ipcp, IpcpRole};
use super::ipv6cp::Ipv6cp;
use super::lcp::{AuthProto, Lcp, LcpConfig};
use super::packet::{Code, ControlPacket, ControlRepr};
use super::{Frame, PPPOE_HEADER_LEN, Prng, Protocol, emit_protocol};

/// Which end of the PPP link this session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The access concentrator (authenticator, address server).
    Server,
    /// The host / CPE (authenticatee, address client).
    Client,
}

/// The host's credentials for PAP / CHAP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Credentials<'a> {
    /// PAP Peer-ID / CHAP Name.
    pub user: &'a [u8],
    /// PAP Password / CHAP secret.
    pub password: &'a [u8],
}

/// Session configuration, shared by many sessions (borrowed by each).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(
    clippy::struct_excessive_bools,
    reason = "independent feature switches"
)]
pub struct Config<'a> {
    /// AC or host.
    pub role: Role,
    /// Restart timer and counters (RFC 1661 section 4.6), for LCP, the NCPs and
    /// the authenticator's retransmissions.
    pub timers: Timers,
    /// Our MRU and the largest the peer may ask for: 1492 over PPPoE, or the
    /// PPP-Max-Payload of RFC 4638 section 4.
    pub mru: u16,
    /// AC: the authentication protocol required (`None`: no authentication).
    pub auth: AuthProto,
    /// AC: accept the peer's Nak of our protocol (PAP ↔ CHAP).
    pub auth_fallback: bool,
    /// Host: the credentials (`None`: refuse to authenticate).
    pub credentials: Option<Credentials<'a>>,
    /// AC: our Name in CHAP Challenges (RFC 1994 section 4.1).
    pub name: &'a [u8],
    /// How long to wait for the peer's or the caller's authentication step.
    pub auth_timeout: Duration,
    /// LCP Echo-Request interval (zero: no keepalive).
    pub echo_interval: Duration,
    /// Echo-Requests without a reply before the peer is declared dead.
    pub echo_failures: u8,
    /// Run IPCP.
    pub ipv4: bool,
    /// Run IPv6CP.
    pub ipv6: bool,
    /// AC: its own IPv4 address (the host: a preferred address, or 0.0.0.0).
    pub local_ipv4: [u8; 4],
    /// AC: DNS servers handed out (RFC 1877); zero = none.
    pub dns: [[u8; 4]; 2],
    /// Host: ask for DNS servers.
    pub want_dns: bool,
    /// Our IPv6 interface identifier (zero: random).
    pub local_iid: [u8; 8],
}

impl<'a> Config<'a> {
    /// An AC configuration requiring `auth`, naming itself `name`, with gateway
    /// address `local_ipv4`; IPCP and IPv6CP on, keepalive every 30 s with 3
    /// misses allowed.
    #[must_use]
    pub fn server(auth: AuthProto, name: &'a [u8], local_ipv4: [u8; 4]) -> Self {
        Self {
            role: Role::Server,
            timers: Timers::default(),
            mru: super::PPPOE_DEFAULT_MRU,
            auth,
            auth_fallback: true,
            credentials: None,
            name,
            auth_timeout: Duration::from_secs(30),
            echo_interval: Duration::from_secs(30),
            echo_failures: 3,
            ipv4: true,
            ipv6: true,
            local_ipv4,
            dns: [[0; 4]; 2],
            want_dns: false,
            local_iid: [0; 8],
        }
    }

    /// A host configuration answering PAP or CHAP-MD5 with `credentials`, asking
    /// for an address and DNS; IPCP and IPv6CP on.
    #[must_use]
    pub fn client(credentials: Credentials<'a>) -> Self {
        Self {
            role: Role::Client,
            auth: AuthProto::None,
            auth_fallback: false,
            credentials: Some(credentials),
            name: b"",
            local_ipv4: [0; 4],
            want_dns: true,
            ..Self::server(AuthProto::None, b"", [0; 4])
        }
    }
}

/// Why a session went down (for accounting: RADIUS Acct-Terminate-Cause).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DownCause {
    /// The peer sent LCP Terminate-Request.
    PeerTerminated,
    /// We closed the session ([`Session::close`]).
    AdminClose,
    /// The lower layer went down ([`Session::lower_down`], e.g. PADT).
    LowerDown,
    /// Authentication failed (rejected by the caller or by the peer, or the
    /// peer refused to authenticate).
    AuthFailed,
    /// An authentication step timed out.
    AuthTimeout,
    /// LCP did not converge (Max-Configure / Max-Terminate exhausted, or a
    /// catastrophic Code-Reject).
    NegotiationFailed,
    /// No network protocol could be opened.
    NcpFailed,
    /// Echo-Requests went unanswered (dead peer).
    DeadPeer,
    /// The link is looped back (our own Magic-Number came back, RFC 1661 6.4).
    Loopback,
}

/// What the session tells its owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// IPCP is open: our address, the peer's, and the DNS servers (0 = none).
    Ipv4Up {
        /// Our address (the host's assigned address, or the AC's own).
        local: [u8; 4],
        /// The peer's address.
        peer: [u8; 4],
        /// DNS servers.
        dns: [[u8; 4]; 2],
    },
    /// IPv6CP is open: the interface identifiers.
    Ipv6Up {
        /// Our interface identifier.
        local: [u8; 8],
        /// The peer's interface identifier.
        peer: [u8; 8],
    },
    /// The session is over; the caller tears down the PPPoE session (PADT).
    Down {
        /// Why.
        cause: DownCause,
    },
}

/// The peer's credentials, for the caller to check (AC side).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthRequest<'b> {
    /// PAP Authenticate-Request (RFC 1334 section 2.2.1).
    Pap {
        /// Peer-ID.
        user: &'b [u8],
        /// Password.
        password: &'b [u8],
    },
    /// CHAP Response (RFC 1994 section 4.1) to our MD5 challenge.
    Chap {
        /// Name.
        user: &'b [u8],
        /// Identifier of the challenge.
        id: u8,
        /// The challenge we sent.
        challenge: [u8; CHALLENGE_LEN],
        /// The peer's response value.
        response: &'b [u8],
    },
    /// MS-CHAPv2 Response (RFC 2759 section 4) to our challenge; answer with
    /// [`Session::auth_accept_mschapv2`] (the `S=` string from RADIUS
    /// MS-CHAP2-Success, or [`super::mschapv2::generate_authenticator_response`]).
    MsChapV2 {
        /// Name.
        user: &'b [u8],
        /// Identifier of the challenge.
        id: u8,
        /// The challenge we sent.
        authenticator_challenge: [u8; CHALLENGE_LEN],
        /// The peer's challenge.
        peer_challenge: [u8; 16],
        /// The NT-Response.
        nt_response: [u8; 24],
    },
}

impl AuthRequest<'_> {
    /// The user name.
    #[must_use]
    pub const fn user(&self) -> &[u8] {
        match self {
            Self::Pap { user, .. } | Self::Chap { user, .. } | Self::MsChapV2 { user, .. } => user,
        }
    }

    /// Checks the request against a locally known user and password/secret (for
    /// tests and local authentication; RADIUS callers forward the fields instead).
    #[must_use]
    pub fn check_password(&self, user: &[u8], password: &[u8]) -> bool {
        match *self {
            Self::Pap {
                user: u,
                password: p,
            } => u == user && ct_eq(p, password),
            Self::Chap {
                user: u,
                id,
                challenge,
                response,
            } => u == user && chap_md5_verify(id, password, &challenge, response),
            Self::MsChapV2 {
                user: u,
                authenticator_challenge,
                peer_challenge,
                nt_response,
                ..
            } => {
                u == user
                    && super::mschapv2::verify_nt_response(
                        &authenticator_challenge,
                        &peer_challenge,
                        u,
                        password,
                        &nt_response,
                    )
                    .unwrap_or(false)
            }
        }
    }

    /// MS-CHAPv2: the `S=...` authenticator response for a locally known
    /// password (RFC 2759 section 8.7); `None` for other protocols.
    #[must_use]
    pub fn mschapv2_authenticator_response(&self, password: &[u8]) -> Option<[u8; 42]> {
        match *self {
            Self::MsChapV2 {
                user,
                authenticator_challenge,
                peer_challenge,
                nt_response,
                ..
            } => super::mschapv2::generate_authenticator_response(
                password,
                &nt_response,
                &peer_challenge,
                &authenticator_challenge,
                user,
            )
            .ok(),
            _ => None,
        }
    }
}

fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// What [`Session::poll_action`] produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Action {
    /// Send the first `len` bytes of `tx`: a PPPoE session packet (header and
    /// PPP frame; the caller adds the Ethernet header).
    Send {
        /// Bytes written.
        len: usize,
    },
}

impl Action {
    /// Bytes to send.
    #[must_use]
    pub const fn len(&self) -> usize {
        match self {
            Self::Send { len } => *len,
        }
    }

    /// Whether the action carries no bytes (never for `Send`).
    #[must_use]
    pub const fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// RFC 1661 section 3.2 phases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Link Establishment (LCP negotiating).
    Establish,
    /// Authentication.
    Authenticate,
    /// Network-Layer Protocol.
    Network,
    /// Link Dead: the session is over.
    Dead,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AuthSt {
    Idle,
    /// Waiting for the peer's first step (AC PAP: request; host CHAP: challenge).
    AwaitPeer,
    /// We sent our step and retransmit it (AC CHAP: challenge; host PAP: request;
    /// host CHAP: response, waiting for the result).
    Sent,
    /// AC: the caller decides.
    Pending,
    /// Decided.
    Done(bool),
}

const A_CHALLENGE: u8 = 1;
const A_PAP_REQ: u8 = 2;
const A_CHAP_RESP: u8 = 4;
const A_RESULT: u8 = 8;

#[derive(Debug, Clone, Copy)]
struct Auth {
    proto: AuthProto,
    st: AuthSt,
    id: u8,
    tries: u8,
    pend: u8,
    deadline_ns: u64,
    /// AC: our challenge. Host: our CHAP response.
    value: [u8; CHALLENGE_LEN],
    /// AC, MS-CHAPv2: the authenticator response for the Success message.
    digest: [u8; 20],
}

#[derive(Debug, Clone, Copy, Default)]
struct Echo {
    deadline_ns: u64,
    outstanding: u8,
    pending: bool,
    id: u8,
}

const EV_IPV4: u8 = 1;
const EV_IPV6: u8 = 2;
const EV_DOWN: u8 = 4;

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX).max(1)
}

fn earliest(a: Option<Duration>, b: u64) -> Option<Duration> {
    if b == 0 {
        return a;
    }
    let b = Duration::from_nanos(b);
    Some(a.map_or(b, |a| a.min(b)))
}

/// One subscriber's PPP session (see the module docs).
#[derive(Debug, Clone)]
#[allow(
    clippy::struct_field_names,
    reason = "session_id is the PPPoE field name"
)]
pub struct Session<'c> {
    config: &'c Config<'c>,
    session_id: u16,
    phase: Phase,
    events: u8,
    cause: Option<DownCause>,
    prng: Prng,
    echo: Echo,
    auth: Auth,
    lcp: Cp<Lcp>,
    ipcp: Cp<Ipcp>,
    ipv6cp: Cp<Ipv6cp>,
    reply: Reply,
}

impl<'c> Session<'c> {
    /// A session for PPPoE `session_id`, drawing its CHAP challenge and the seed of
    /// its Magic-Number / interface-identifier PRNG from the caller's CSPRNG.
    pub fn new<R: RngCore + CryptoRng>(
        config: &'c Config<'c>,
        session_id: u16,
        rng: &mut R,
    ) -> Self {
        let mut prng = Prng::new(rng.next_u64());
        let mut value = [0u8; CHALLENGE_LEN];
        rng.fill_bytes(&mut value);
        let server = config.role == Role::Server;
        let lcp_cfg = LcpConfig {
            mru: config.mru,
            require_auth: if server { config.auth } else { AuthProto::None },
            auth_fallback: config.auth_fallback,
            can_pap: !server && config.credentials.is_some(),
            can_chap: !server && config.credentials.is_some(),
        };
        let lcp = Lcp::new(lcp_cfg, &mut prng);
        let ipcp = Ipcp::new(
            if server {
                IpcpRole::Server
            } else {
                IpcpRole::Client
            },
            config.local_ipv4,
            if server { config.dns } else { [[0; 4]; 2] },
            !server && config.want_dns,
        );
        let ipv6cp = Ipv6cp::new(config.local_iid, &mut prng);
        let first_id = (prng.next_u64() & 0xff) as u8;
        Self {
            config,
            session_id,
            phase: Phase::Establish,
            events: 0,
            cause: None,
            prng,
            echo: Echo::default(),
            auth: Auth {
                proto: AuthProto::None,
                st: AuthSt::Idle,
                id: first_id,
                tries: 0,
                pend: 0,
                deadline_ns: 0,
                value,
                digest: [0; 20],
            },
            lcp: Cp::new(lcp, first_id),
            ipcp: Cp::new(ipcp, first_id),
            ipv6cp: Cp::new(ipv6cp, first_id),
            reply: Reply::default(),
        }
    }

    /// A session whose randomness the caller drew itself: `prng_seed` seeds the
    /// Magic-Number / interface-identifier PRNG, `challenge` is the CHAP challenge
    /// (it must come from a CSPRNG; [`Session::new`] does that for you).
    #[must_use]
    pub fn from_parts(
        config: &'c Config<'c>,
        session_id: u16,
        prng_seed: u64,
        challenge: [u8; CHALLENGE_LEN],
    ) -> Self {
        struct Fixed(u64, [u8; CHALLENGE_LEN]);
        impl RngCore for Fixed {
            fn next_u32(&mut self) -> u32 {
                (self.0 >> 32) as u32
            }
            fn next_u64(&mut self) -> u64 {
                self.0
            }
            fn fill_bytes(&mut self, dest: &mut [u8]) {
                for (d, s) in dest.iter_mut().zip(self.1.iter().cycle()) {
                    *d = *s;
                }
            }
            fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
                self.fill_bytes(dest);
                Ok(())
            }
        }
        // Only forwards caller-drawn values; never used as a generator.
        impl CryptoRng for Fixed {}
        Self::new(config, session_id, &mut Fixed(prng_seed, challenge))
    }

    /// The PPPoE session id.
    #[must_use]
    pub const fn session_id(&self) -> u16 {
        self.session_id
    }

    /// The current phase.
    #[must_use]
    pub const fn phase(&self) -> Phase {
        self.phase
    }

    /// Whether the session is over (a `Down` event was queued).
    #[must_use]
    pub const fn is_finished(&self) -> bool {
        matches!(self.phase, Phase::Dead)
    }

    /// LCP state (for tests and monitoring).
    #[must_use]
    pub const fn lcp(&self) -> &Cp<Lcp> {
        &self.lcp
    }

    /// IPCP state.
    #[must_use]
    pub const fn ipcp(&self) -> &Cp<Ipcp> {
        &self.ipcp
    }

    /// IPv6CP state.
    #[must_use]
    pub const fn ipv6cp(&self) -> &Cp<Ipv6cp> {
        &self.ipv6cp
    }

    /// Replies dropped because the caller did not poll between packets.
    #[must_use]
    pub const fn dropped(&self) -> u16 {
        self.reply.dropped
    }

    /// AC: the address to give the peer (RFC 1332 section 3.3), e.g. from a pool
    /// or RADIUS Framed-IP-Address. IPCP requests wait until it is set.
    pub fn set_peer_ipv4(&mut self, addr: [u8; 4]) {
        self.ipcp.handler.peer = addr;
    }

    /// The lower layer (the PPPoE session) is up: LCP Open and Up (RFC 1661
    /// section 3.2, Link Establishment).
    pub fn start(&mut self, now: Duration) {
        self.lcp_event(now, Ev::Open);
        self.lcp_event(now, Ev::Up);
    }

    /// Administrative close: LCP Close, Terminate-Request (section 3.7).
    pub fn close(&mut self, now: Duration) {
        self.close_with(now, DownCause::AdminClose);
    }

    /// The lower layer went down (PADT, carrier loss): LCP Down; the session ends.
    pub fn lower_down(&mut self, now: Duration) {
        self.set_cause(DownCause::LowerDown);
        self.lcp_event(now, Ev::Down);
        self.finish();
    }

    /// AC: the caller accepts the pending [`AuthRequest`]: PAP Authenticate-Ack or
    /// CHAP Success, then the Network phase.
    ///
    /// # Errors
    /// [`UsageError::InvalidConfig`] if no request is pending.
    pub fn auth_accept(&mut self, now: Duration) -> Result<(), UsageError> {
        if self.auth.st != AuthSt::Pending {
            return Err(UsageError::InvalidConfig(
                "no authentication request pending",
            ));
        }
        if self.auth.proto == AuthProto::MsChapV2 {
            return Err(UsageError::InvalidConfig(
                "MS-CHAPv2 needs auth_accept_mschapv2 with the authenticator response",
            ));
        }
        self.auth.st = AuthSt::Done(true);
        self.auth.pend |= A_RESULT;
        self.auth.deadline_ns = 0;
        self.enter_network(now);
        Ok(())
    }

    /// AC: the caller accepts a pending MS-CHAPv2 [`AuthRequest`], giving the
    /// `S=<40 hex digits>` authenticator response (RFC 2759 section 5) that goes
    /// into the Success message; then the Network phase.
    ///
    /// # Errors
    /// [`UsageError::InvalidConfig`] if no MS-CHAPv2 request is pending or the
    /// string is malformed.
    pub fn auth_accept_mschapv2(
        &mut self,
        now: Duration,
        authenticator_response: &[u8],
    ) -> Result<(), UsageError> {
        if self.auth.st != AuthSt::Pending || self.auth.proto != AuthProto::MsChapV2 {
            return Err(UsageError::InvalidConfig("no MS-CHAPv2 request pending"));
        }
        self.auth.digest = super::mschapv2::parse_authenticator_response(authenticator_response)
            .ok_or(UsageError::InvalidConfig(
                "malformed MS-CHAPv2 authenticator response",
            ))?;
        self.auth.st = AuthSt::Done(true);
        self.auth.pend |= A_RESULT;
        self.auth.deadline_ns = 0;
        self.enter_network(now);
        Ok(())
    }

    /// AC: the caller rejects the pending [`AuthRequest`]: PAP Authenticate-Nak or
    /// CHAP Failure, then LCP Close (RFC 1334 section 2.2.2, RFC 1994 section 4.2).
    ///
    /// # Errors
    /// [`UsageError::InvalidConfig`] if no request is pending.
    pub fn auth_reject(&mut self, now: Duration) -> Result<(), UsageError> {
        if self.auth.st != AuthSt::Pending {
            return Err(UsageError::InvalidConfig(
                "no authentication request pending",
            ));
        }
        self.auth.st = AuthSt::Done(false);
        self.auth.pend |= A_RESULT;
        self.auth.deadline_ns = 0;
        self.close_with(now, DownCause::AuthFailed);
        Ok(())
    }

    /// The next event for the owner.
    pub fn poll_event(&mut self) -> Option<Event> {
        if self.events & EV_IPV4 != 0 {
            self.events &= !EV_IPV4;
            let h = &self.ipcp.handler;
            return Some(Event::Ipv4Up {
                local: h.local,
                peer: h.peer,
                dns: h.dns,
            });
        }
        if self.events & EV_IPV6 != 0 {
            self.events &= !EV_IPV6;
            let h = &self.ipv6cp.handler;
            return Some(Event::Ipv6Up {
                local: h.local,
                peer: h.peer,
            });
        }
        if self.events & EV_DOWN != 0 {
            self.events &= !EV_DOWN;
            return Some(Event::Down {
                cause: self.cause.unwrap_or(DownCause::NegotiationFailed),
            });
        }
        None
    }

    /// The earliest deadline of any timer (restart timers, authentication,
    /// keepalive), or `None`.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Duration> {
        if self.is_finished() {
            return None;
        }
        let mut t = self.lcp.fsm.deadline();
        if let Some(d) = self.ipcp.fsm.deadline() {
            t = Some(t.map_or(d, |t| t.min(d)));
        }
        if let Some(d) = self.ipv6cp.fsm.deadline() {
            t = Some(t.map_or(d, |t| t.min(d)));
        }
        t = earliest(t, self.auth.deadline_ns);
        earliest(t, self.echo.deadline_ns)
    }

    /// Runs every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Duration) {
        if self.is_finished() {
            return;
        }
        let t = self.config.timers;
        if let Some(act) = self.lcp.handle_timeout(now, &t, &mut self.reply) {
            self.on_lcp(now, act);
        }
        if let Some(act) = self.ipcp.handle_timeout(now, &t, &mut self.reply) {
            self.on_ncp(now, act, EV_IPV4);
        }
        if let Some(act) = self.ipv6cp.handle_timeout(now, &t, &mut self.reply) {
            self.on_ncp(now, act, EV_IPV6);
        }
        let n = nanos(now);
        if self.auth.deadline_ns != 0 && n >= self.auth.deadline_ns {
            self.auth_timeout(now);
        }
        if self.echo.deadline_ns != 0 && n >= self.echo.deadline_ns && !self.is_finished() {
            if self.echo.outstanding >= self.config.echo_failures {
                // Dead peer: the link is gone, no Terminate exchange.
                self.set_cause(DownCause::DeadPeer);
                self.lcp_event(now, Ev::Down);
                self.finish();
            } else {
                self.echo.outstanding += 1;
                self.echo.pending = true;
                self.echo.id = self.lcp.take_id();
                self.echo.deadline_ns = nanos(now.saturating_add(self.config.echo_interval));
            }
        }
    }

    /// Handles one PPPoE session-stage packet (from the PPPoE header on).
    /// Returns the peer's credentials when the caller must decide (AC side).
    ///
    /// # Errors
    /// [`ProtocolError::PeerMisbehaved`] for a malformed packet or a foreign
    /// session id; the session state is unchanged then.
    pub fn handle_packet<'b>(
        &mut self,
        now: Duration,
        bytes: &'b [u8],
    ) -> Result<Option<AuthRequest<'b>>, ProtocolError> {
        let (sid, ppp) = super::split_session(bytes)
            .map_err(|_| ProtocolError::PeerMisbehaved("malformed PPPoE session packet"))?;
        if sid != self.session_id {
            return Err(ProtocolError::PeerMisbehaved("foreign SESSION_ID"));
        }
        let frame =
            Frame::new_checked(ppp).map_err(|_| ProtocolError::PeerMisbehaved("bad PPP frame"))?;
        if self.is_finished() {
            return Ok(None);
        }
        let proto = frame.protocol();
        let info: &'b [u8] = ppp.get(super::PROTOCOL_LEN..).unwrap_or_default();
        let t = self.config.timers;
        match proto {
            Protocol::LCP => {
                let pkt = parse(info)?;
                self.lcp_packet(now, &pkt);
                Ok(None)
            }
            Protocol::PAP | Protocol::CHAP => {
                if !matches!(self.phase, Phase::Authenticate | Phase::Network) {
                    return Ok(None); // RFC 1661 section 3.2: discard before
                }
                let expected = match self.auth.proto {
                    AuthProto::Pap => Protocol::PAP,
                    AuthProto::ChapMd5 | AuthProto::MsChapV2 => Protocol::CHAP,
                    AuthProto::None => Protocol(0),
                };
                if proto != expected {
                    self.protocol_reject(proto, info);
                    return Ok(None);
                }
                let p = ControlPacket::new_checked(info)
                    .map_err(|_| ProtocolError::PeerMisbehaved("malformed auth packet"))?;
                if proto == Protocol::PAP {
                    let r = match (PapRepr::parse(&p), p.code(), p.data()) {
                        (Ok(r), _, _) => r,
                        // Authenticate-Ack/Nak without Msg-Length (pppd accepts it).
                        (Err(_), pap_code::ACK, []) => PapRepr::Ack {
                            id: p.identifier(),
                            message: &[],
                        },
                        (Err(_), pap_code::NAK, []) => PapRepr::Nak {
                            id: p.identifier(),
                            message: &[],
                        },
                        (Err(_), _, _) => {
                            return Err(ProtocolError::PeerMisbehaved("malformed PAP packet"));
                        }
                    };
                    Ok(self.pap(now, r))
                } else {
                    let r = ChapRepr::parse(&p)
                        .map_err(|_| ProtocolError::PeerMisbehaved("malformed CHAP packet"))?;
                    Ok(self.chap(now, r))
                }
            }
            Protocol::IPCP | Protocol::IPV6CP => {
                let enabled = if proto == Protocol::IPCP {
                    self.config.ipv4
                } else {
                    self.config.ipv6
                };
                if !enabled {
                    self.protocol_reject(proto, info);
                    return Ok(None);
                }
                if self.phase != Phase::Network {
                    return Ok(None); // section 3.2: NCP packets before Network are discarded
                }
                let pkt = parse(info)?;
                if proto == Protocol::IPCP {
                    let act = self
                        .ipcp
                        .receive(now, &pkt, &t, &mut self.reply, &mut self.prng);
                    if let Some(act) = act {
                        self.on_ncp(now, act, EV_IPV4);
                    }
                } else {
                    let act = self
                        .ipv6cp
                        .receive(now, &pkt, &t, &mut self.reply, &mut self.prng);
                    if let Some(act) = act {
                        self.on_ncp(now, act, EV_IPV6);
                    }
                }
                Ok(None)
            }
            // Data frames belong to the dataplane.
            Protocol::IPV4 | Protocol::IPV6 => Ok(None),
            _ => {
                self.protocol_reject(proto, info);
                Ok(None)
            }
        }
    }

    /// Writes the next frame to send into `tx` (give it at least the peer's MRU
    /// plus 8 bytes). Frames built from received packets go first, then
    /// authentication, LCP, IPCP, IPv6CP and keepalive.
    #[must_use]
    pub fn poll_action(&mut self, _now: Duration, tx: &mut [u8]) -> Option<Action> {
        let (hdr, body) = tx.split_at_mut_checked(PPPOE_HEADER_LEN)?;
        let n = self.next_frame(body)?;
        super::emit_session_header(self.session_id, n, hdr).ok()?;
        Some(Action::Send {
            len: PPPOE_HEADER_LEN + n,
        })
    }

    fn next_frame(&mut self, body: &mut [u8]) -> Option<usize> {
        // A Configure-Request goes before the Configure-Ack/Nak built with it
        // (Opened + RCR: tld,scr,sca): the peer then sees our request while it is
        // still in Ack-Sent and both sides converge instead of renegotiating
        // each other's Opened state forever.
        let first = match self.reply.protocol() {
            Some(Protocol::LCP) if self.lcp.has_request_pending() => self.lcp.poll(body),
            Some(Protocol::IPCP) if self.ipcp.has_request_pending() => self.ipcp.poll(body),
            Some(Protocol::IPV6CP) if self.ipv6cp.has_request_pending() => self.ipv6cp.poll(body),
            _ => Ok(None),
        };
        if let Ok(Some(n)) = first {
            return Some(n);
        }
        if let Ok(Some(n)) = self.reply.take(body) {
            return Some(n);
        }
        if let Some(n) = self.poll_auth(body) {
            return Some(n);
        }
        if let Ok(Some(n)) = self.lcp.poll(body) {
            return Some(n);
        }
        if let Ok(Some(n)) = self.ipcp.poll(body) {
            return Some(n);
        }
        if let Ok(Some(n)) = self.ipv6cp.poll(body) {
            return Some(n);
        }
        if self.echo.pending {
            self.echo.pending = false;
            let magic = self.lcp.handler.echo_magic().to_be_bytes();
            let r = ControlRepr {
                code: Code::ECHO_REQUEST,
                identifier: self.echo.id,
                data: &magic,
            };
            let p = emit_protocol(Protocol::LCP, body).ok()?;
            let n = r.emit(body.get_mut(p..)?).ok()?;
            return Some(p + n);
        }
        None
    }

    fn poll_auth(&mut self, body: &mut [u8]) -> Option<usize> {
        let a = self.auth;
        if a.pend == 0 {
            return None;
        }
        let cfg = self.config;
        let (bit, proto) = if a.pend & A_RESULT != 0 {
            (A_RESULT, self.auth.proto)
        } else if a.pend & A_CHALLENGE != 0 {
            (A_CHALLENGE, AuthProto::ChapMd5)
        } else if a.pend & A_PAP_REQ != 0 {
            (A_PAP_REQ, AuthProto::Pap)
        } else {
            (A_CHAP_RESP, AuthProto::ChapMd5)
        };
        self.auth.pend &= !bit;
        let ok = matches!(a.st, AuthSt::Done(true));
        let p = emit_protocol(
            if proto == AuthProto::Pap {
                Protocol::PAP
            } else {
                Protocol::CHAP
            },
            body,
        )
        .ok()?;
        let out = body.get_mut(p..)?;
        let creds = cfg.credentials.unwrap_or(Credentials {
            user: b"",
            password: b"",
        });
        let n = match (bit, proto) {
            (A_RESULT, AuthProto::Pap) => {
                let message: &[u8] = if ok { b"Login ok" } else { b"Login incorrect" };
                if ok {
                    PapRepr::Ack { id: a.id, message }.emit(out)
                } else {
                    PapRepr::Nak { id: a.id, message }.emit(out)
                }
            }
            (A_RESULT, AuthProto::MsChapV2) => {
                // RFC 2759 sections 5 and 6.
                let mut m = [0u8; 96];
                let mut w = super::packet::Writer::new(&mut m);
                let mut hex = [0u8; 40];
                if ok {
                    super::mschapv2::write_hex(&a.digest, &mut hex);
                    w.bytes(b"S=");
                    w.bytes(&hex);
                    w.bytes(b" M=Access granted");
                } else {
                    super::mschapv2::write_hex(&a.value, &mut hex);
                    w.bytes(b"E=691 R=0 C=");
                    w.bytes(hex.get(..32).unwrap_or_default());
                    w.bytes(b" V=3 M=Access denied");
                }
                let len = w.len();
                let message = m.get(..len).unwrap_or_default();
                if ok {
                    ChapRepr::Success { id: a.id, message }.emit(out)
                } else {
                    ChapRepr::Failure { id: a.id, message }.emit(out)
                }
            }
            (A_RESULT, _) => {
                let message: &[u8] = if ok {
                    b"Access granted"
                } else {
                    b"Access denied"
                };
                if ok {
                    ChapRepr::Success { id: a.id, message }.emit(out)
                } else {
                    ChapRepr::Failure { id: a.id, message }.emit(out)
                }
            }
            (A_CHALLENGE, _) => ChapRepr::Challenge {
                id: a.id,
                value: &a.value,
                name: cfg.name,
            }
            .emit(out),
            (A_PAP_REQ, _) => PapRepr::Request {
                id: a.id,
                peer_id: creds.user,
                password: creds.password,
            }
            .emit(out),
            _ => ChapRepr::Response {
                id: a.id,
                value: &a.value,
                name: creds.user,
            }
            .emit(out),
        }
        .ok()?;
        Some(p + n)
    }

    fn set_cause(&mut self, c: DownCause) {
        if self.cause.is_none() {
            self.cause = Some(c);
        }
    }

    fn finish(&mut self) {
        if self.phase != Phase::Dead {
            self.phase = Phase::Dead;
            self.events |= EV_DOWN;
            self.echo = Echo::default();
            self.auth.deadline_ns = 0;
        }
    }

    fn close_with(&mut self, now: Duration, cause: DownCause) {
        self.set_cause(cause);
        self.lcp_event(now, Ev::Close);
    }

    fn lcp_event(&mut self, now: Duration, ev: Ev) {
        let t = self.config.timers;
        if let Some(act) = self.lcp.event(now, ev, &t, &mut self.reply, false) {
            self.on_lcp(now, act);
        }
    }

    /// The layer above LCP reacts to its actions (RFC 1661 section 4.4).
    fn on_lcp(&mut self, now: Duration, act: Actions) {
        if act.contains(Actions::TLD) {
            // Section 3.2: leaving Opened takes the NCPs and authentication down.
            let t = self.config.timers;
            if let Some(a) = self.ipcp.event(now, Ev::Down, &t, &mut self.reply, false) {
                self.on_ncp(now, a, EV_IPV4);
            }
            if let Some(a) = self.ipv6cp.event(now, Ev::Down, &t, &mut self.reply, false) {
                self.on_ncp(now, a, EV_IPV6);
            }
            self.auth.st = AuthSt::Idle;
            self.auth.pend &= A_RESULT;
            self.auth.deadline_ns = 0;
            self.echo = Echo::default();
            if self.phase != Phase::Dead {
                self.phase = Phase::Establish;
            }
        }
        if act.contains(Actions::TLU) {
            // A Terminate-Request seen during negotiation is history now.
            self.cause = None;
            self.phase = Phase::Authenticate;
            if self.config.echo_interval > Duration::ZERO {
                self.echo = Echo {
                    deadline_ns: nanos(now.saturating_add(self.config.echo_interval)),
                    ..Echo::default()
                };
            }
            self.start_auth(now);
        }
        if act.contains(Actions::TLF) {
            self.finish();
        }
        if !self.is_finished()
            && matches!(
                self.lcp.state(),
                State::ReqSent | State::AckRcvd | State::AckSent
            )
        {
            if self.lcp.handler.loop_detected() {
                self.close_with(now, DownCause::Loopback);
            } else if self.lcp.handler.auth_refused && self.lcp.handler.loops == 0 {
                // With our own Magic-Number seen, the refusal is likely our own
                // Reject looped back: let loop detection decide.
                self.close_with(now, DownCause::AuthFailed);
            }
        }
    }

    fn on_ncp(&mut self, now: Duration, act: Actions, which: u8) {
        if act.contains(Actions::TLU) {
            self.events |= which;
        }
        if act.contains(Actions::TLF) && self.phase == Phase::Network {
            let done = |s: State, on: bool| !on || matches!(s, State::Stopped | State::Closed);
            if done(self.ipcp.state(), self.config.ipv4)
                && done(self.ipv6cp.state(), self.config.ipv6)
            {
                self.close_with(now, DownCause::NcpFailed);
            }
        }
    }

    fn lcp_packet(&mut self, now: Duration, pkt: &ControlRepr<'_>) {
        let t = self.config.timers;
        let opened = self.lcp.state() == State::Opened;
        match pkt.code {
            Code::PROTOCOL_REJECT => {
                // Section 5.7: only meaningful in Opened.
                if !opened {
                    return;
                }
                let rejected = pkt
                    .data
                    .first_chunk::<2>()
                    .map_or(0, |b| u16::from_be_bytes(*b));
                match Protocol(rejected) {
                    Protocol::LCP => self.lcp_event(now, Ev::RxjMinus),
                    Protocol::IPCP => {
                        if let Some(a) = self.ipcp.protocol_rejected(now, &t, &mut self.reply) {
                            self.on_ncp(now, a, EV_IPV4);
                        }
                    }
                    Protocol::IPV6CP => {
                        if let Some(a) = self.ipv6cp.protocol_rejected(now, &t, &mut self.reply) {
                            self.on_ncp(now, a, EV_IPV6);
                        }
                    }
                    _ => self.lcp_event(now, Ev::RxjPlus),
                }
            }
            Code::ECHO_REQUEST => {
                // Section 5.8: answer in Opened with our Magic-Number.
                if opened {
                    let magic = pkt.data.first_chunk::<4>().map(|m| u32::from_be_bytes(*m));
                    if magic.is_some_and(|m| m != 0 && m == self.lcp.handler.echo_magic()) {
                        self.lcp.handler.loops = self.lcp.handler.loops.saturating_add(1);
                    }
                    let rest = pkt.data.get(4..).unwrap_or_default();
                    let ok = self.reply.set(
                        Protocol::LCP,
                        Code::ECHO_REPLY,
                        pkt.identifier,
                        &self.lcp.handler.echo_magic().to_be_bytes(),
                        rest,
                        true,
                    );
                    if let Some(a) = self.lcp.event(now, Ev::Rxr, &t, &mut self.reply, ok) {
                        self.on_lcp(now, a);
                    }
                    if self.lcp.handler.loop_detected() {
                        self.close_with(now, DownCause::Loopback);
                    }
                }
            }
            Code::ECHO_REPLY | Code::DISCARD_REQUEST => {
                if pkt.code == Code::ECHO_REPLY && opened {
                    self.echo.outstanding = 0;
                }
                if let Some(a) = self.lcp.event(now, Ev::Rxr, &t, &mut self.reply, false) {
                    self.on_lcp(now, a);
                }
            }
            _ => {
                if pkt.code == Code::TERMINATE_REQUEST && self.lcp.state() != State::Initial {
                    self.set_cause(DownCause::PeerTerminated);
                }
                let act = self
                    .lcp
                    .receive(now, pkt, &t, &mut self.reply, &mut self.prng);
                if let Some(act) = act {
                    self.on_lcp(now, act);
                }
            }
        }
    }

    /// Protocol-Reject of an unknown or disabled protocol (RFC 1661 section 5.7),
    /// in LCP Opened only.
    fn protocol_reject(&mut self, proto: Protocol, info: &[u8]) {
        if self.lcp.state() != State::Opened {
            return;
        }
        let id = self.lcp.take_id();
        let _ = self.reply.set(
            Protocol::LCP,
            Code::PROTOCOL_REJECT,
            id,
            &proto.0.to_be_bytes(),
            info,
            true,
        );
    }

    fn start_auth(&mut self, now: Duration) {
        let server = self.config.role == Role::Server;
        let proto = if server {
            self.lcp.handler.auth
        } else {
            self.lcp.handler.peer_auth
        };
        self.auth.proto = proto;
        self.auth.pend = 0;
        let t = self.config.timers;
        let wait = nanos(now.saturating_add(self.config.auth_timeout));
        let retry = nanos(now.saturating_add(t.restart));
        match (proto, server) {
            (AuthProto::None, _) => self.enter_network(now),
            (AuthProto::Pap, true) | (AuthProto::ChapMd5 | AuthProto::MsChapV2, false) => {
                self.auth.st = AuthSt::AwaitPeer;
                self.auth.deadline_ns = wait;
            }
            (AuthProto::ChapMd5 | AuthProto::MsChapV2, true) => {
                self.auth.st = AuthSt::Sent;
                self.auth.id = self.auth.id.wrapping_add(1);
                self.auth.pend = A_CHALLENGE;
                self.auth.tries = t.max_configure.saturating_sub(1);
                self.auth.deadline_ns = retry;
            }
            (AuthProto::Pap, false) => {
                self.auth.st = AuthSt::Sent;
                self.auth.id = self.auth.id.wrapping_add(1);
                self.auth.pend = A_PAP_REQ;
                self.auth.tries = t.max_configure.saturating_sub(1);
                self.auth.deadline_ns = retry;
            }
        }
    }

    fn auth_timeout(&mut self, now: Duration) {
        let t = self.config.timers;
        if self.auth.st == AuthSt::Sent && self.auth.tries > 0 {
            // AC CHAP: the Challenge; host PAP: the request; host CHAP: the
            // Response, since a lost Success must not strand the host (RFC 1994
            // section 4.1 lets the authenticator accept repeated Responses).
            self.auth.tries -= 1;
            self.auth.pend |= match (self.config.role, self.auth.proto) {
                (Role::Server, _) => A_CHALLENGE,
                (Role::Client, AuthProto::Pap) => A_PAP_REQ,
                (Role::Client, _) => A_CHAP_RESP,
            };
            self.auth.deadline_ns = nanos(now.saturating_add(t.restart));
        } else {
            self.auth.deadline_ns = 0;
            self.close_with(now, DownCause::AuthTimeout);
        }
    }

    /// PAP (RFC 1334 section 2.2): the AC hands the request to the caller; the
    /// host waits for Ack or Nak. A retransmitted request after the decision gets
    /// the same answer again.
    fn pap<'b>(&mut self, now: Duration, r: PapRepr<'b>) -> Option<AuthRequest<'b>> {
        let server = self.config.role == Role::Server;
        let st = self.auth.st;
        match (r, server) {
            (
                PapRepr::Request {
                    id,
                    peer_id,
                    password,
                },
                true,
            ) => match st {
                AuthSt::AwaitPeer => {
                    self.auth.st = AuthSt::Pending;
                    self.auth.id = id;
                    self.auth.deadline_ns = nanos(now.saturating_add(self.config.auth_timeout));
                    Some(AuthRequest::Pap {
                        user: peer_id,
                        password,
                    })
                }
                AuthSt::Done(_) => {
                    // The host missed our answer (and may have renumbered its
                    // request): repeat the decision, as pppd's upap does.
                    self.auth.id = id;
                    self.auth.pend |= A_RESULT;
                    None
                }
                _ => None,
            },
            (PapRepr::Ack { id, .. }, false) if st == AuthSt::Sent && id == self.auth.id => {
                self.auth_done(now, true);
                None
            }
            (PapRepr::Nak { id, .. }, false) if st == AuthSt::Sent && id == self.auth.id => {
                self.auth_done(now, false);
                None
            }
            _ => None,
        }
    }

    /// CHAP (RFC 1994 section 4): the AC hands the response to the caller; the
    /// host answers every challenge (also retransmitted ones and re-challenges)
    /// with MD5(Identifier, secret, challenge).
    fn chap<'b>(&mut self, now: Duration, r: ChapRepr<'b>) -> Option<AuthRequest<'b>> {
        let server = self.config.role == Role::Server;
        let st = self.auth.st;
        match (r, server) {
            (ChapRepr::Response { id, value, name }, true) => match st {
                AuthSt::Sent if id == self.auth.id => {
                    let req = if self.auth.proto == AuthProto::MsChapV2 {
                        // RFC 2759 section 4: Peer-Challenge, 8 reserved octets,
                        // NT-Response, Flags.
                        let v: &[u8; 49] = value.try_into().ok()?;
                        let (pc, rest) = v.split_first_chunk::<16>()?;
                        let nt = rest.get(8..32)?.try_into().ok()?;
                        AuthRequest::MsChapV2 {
                            user: name,
                            id,
                            authenticator_challenge: self.auth.value,
                            peer_challenge: *pc,
                            nt_response: nt,
                        }
                    } else {
                        AuthRequest::Chap {
                            user: name,
                            id,
                            challenge: self.auth.value,
                            response: value,
                        }
                    };
                    self.auth.st = AuthSt::Pending;
                    self.auth.pend &= !A_CHALLENGE;
                    self.auth.deadline_ns = nanos(now.saturating_add(self.config.auth_timeout));
                    Some(req)
                }
                AuthSt::Done(_) if id == self.auth.id => {
                    self.auth.pend |= A_RESULT;
                    None
                }
                _ => None,
            },
            (ChapRepr::Challenge { id, value, .. }, false)
                if self.auth.proto == AuthProto::MsChapV2 =>
            {
                if matches!(st, AuthSt::AwaitPeer | AuthSt::Sent) {
                    self.mschapv2_respond(now, id, value);
                }
                None
            }
            (ChapRepr::Challenge { id, value, .. }, false) => {
                if matches!(st, AuthSt::AwaitPeer | AuthSt::Sent | AuthSt::Done(true)) {
                    let creds = self.config.credentials?;
                    self.auth.value = chap_md5_response(id, creds.password, value);
                    self.auth.id = id;
                    self.auth.pend |= A_CHAP_RESP;
                    if st == AuthSt::AwaitPeer {
                        self.auth.st = AuthSt::Sent;
                        self.auth.tries = self.config.timers.max_configure.saturating_sub(1);
                        self.auth.deadline_ns =
                            nanos(now.saturating_add(self.config.timers.restart));
                    }
                }
                None
            }
            (ChapRepr::Success { id, message }, false)
                if st == AuthSt::Sent && id == self.auth.id =>
            {
                // RFC 2759 section 5: the authenticator proves it knows the
                // password too; a wrong or missing S= fails the link.
                let ok = self.auth.proto != AuthProto::MsChapV2
                    || super::mschapv2::parse_authenticator_response(message)
                        .is_some_and(|d| ct_eq(&d, &self.auth.digest));
                self.auth_done(now, ok);
                None
            }
            (ChapRepr::Failure { id, .. }, false) if st == AuthSt::Sent && id == self.auth.id => {
                self.auth_done(now, false);
                None
            }
            _ => None,
        }
    }

    /// Host, MS-CHAPv2 (RFC 2759 sections 4 and 8): answer a challenge with a fresh
    /// Peer-Challenge and the NT-Response, remember the authenticator response we
    /// expect in the Success. The Response goes out through a reply slot (it is
    /// not kept for retransmission: the authenticator re-challenges instead).
    fn mschapv2_respond(&mut self, now: Duration, id: u8, challenge: &[u8]) {
        let Some(creds) = self.config.credentials else {
            return;
        };
        let Ok(auth_challenge) = <&[u8; 16]>::try_from(challenge) else {
            return;
        };
        let mut peer_challenge = [0u8; 16];
        let (a, b) = peer_challenge.split_at_mut(8);
        a.copy_from_slice(&self.prng.next_u64().to_be_bytes());
        b.copy_from_slice(&self.prng.next_u64().to_be_bytes());
        let Ok(nt) = super::mschapv2::generate_nt_response(
            auth_challenge,
            &peer_challenge,
            creds.user,
            creds.password,
        ) else {
            return;
        };
        let Ok(s) = super::mschapv2::generate_authenticator_response(
            creds.password,
            &nt,
            &peer_challenge,
            auth_challenge,
            creds.user,
        ) else {
            return;
        };
        let Some(digest) = super::mschapv2::parse_authenticator_response(&s) else {
            return;
        };
        self.auth.digest = digest;
        let mut value = [0u8; 50];
        value[0] = 49;
        if let Some(v) = value.get_mut(1..17) {
            v.copy_from_slice(&peer_challenge);
        }
        if let Some(v) = value.get_mut(25..49) {
            v.copy_from_slice(&nt);
        }
        if self.reply.set(
            Protocol::CHAP,
            chap_code::RESPONSE,
            id,
            &value,
            creds.user,
            false,
        ) {
            self.auth.id = id;
            if self.auth.st == AuthSt::AwaitPeer {
                self.auth.st = AuthSt::Sent;
                self.auth.tries = 0;
                self.auth.deadline_ns = nanos(now.saturating_add(self.config.auth_timeout));
            }
        }
    }

    /// Host: the authenticator's verdict.
    fn auth_done(&mut self, now: Duration, ok: bool) {
        self.auth.st = AuthSt::Done(ok);
        self.auth.pend = 0;
        self.auth.deadline_ns = 0;
        if ok {
            self.enter_network(now);
        } else {
            self.close_with(now, DownCause::AuthFailed);
        }
    }

    fn enter_network(&mut self, now: Duration) {
        if self.phase != Phase::Authenticate {
            return;
        }
        self.phase = Phase::Network;
        let t = self.config.timers;
        if self.config.ipv4 {
            for ev in [Ev::Open, Ev::Up] {
                if let Some(a) = self.ipcp.event(now, ev, &t, &mut self.reply, false) {
                    self.on_ncp(now, a, EV_IPV4);
                }
            }
        }
        if self.config.ipv6 {
            for ev in [Ev::Open, Ev::Up] {
                if let Some(a) = self.ipv6cp.event(now, ev, &t, &mut self.reply, false) {
                    self.on_ncp(now, a, EV_IPV6);
                }
            }
        }
        if !self.config.ipv4 && !self.config.ipv6 {
            self.close_with(now, DownCause::NcpFailed);
        }
    }
}

fn parse(info: &[u8]) -> Result<ControlRepr<'_>, ProtocolError> {
    ControlRepr::parse_bytes(info)
        .map_err(|_| ProtocolError::PeerMisbehaved("malformed control packet"))
}
