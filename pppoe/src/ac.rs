//! The access-concentrator side of PPPoE discovery (RFC 2516 section 5), sans-IO and
//! stateless until PADR.
//!
//! [`Ac::handle_frame`] takes one received Ethernet frame and at most writes one
//! complete reply frame (Ethernet header with the client's VLAN tags, ethertype
//! 0x8863, PPPoE) into the caller's buffer:
//!
//! - PADI (section 5.1) is answered with a PADO (section 5.2) carrying a stateless
//!   AC-Cookie: a truncated HMAC-SHA256, keyed by a caller-provided secret, over the
//!   client MAC, its VLAN tags, the Host-Uniq and the index of the current time window.
//!   Nothing is stored, so a PADI flood costs CPU but no memory (STYLE.md section 7).
//! - PADR (section 5.3) is accepted only with a cookie that verifies under the current
//!   or the previous secret, in the current or the previous window; otherwise it is
//!   dropped and counted. A valid PADR asks the caller's [`SessionAllocator`] for a
//!   SESSION_ID and is answered with PADS (section 5.4).
//! - PADT (section 5.5) from the client releases the session through the allocator and
//!   reports [`Outcome::SessionTerminated`]; [`Ac::terminate`] emits one towards it.
//!
//! Which services are offered is the caller's [`ServicePolicy`]. Each dropped frame
//! increments one counter per [`DropReason`] in [`Counters`].

use core::time::Duration;

use hmac::digest::KeyInit;
use hmac::{Hmac, Mac as _};
use sha2::Sha256;

pub use crate::discovery::SessionId;
use crate::discovery::{
    Code, ETHERTYPE_DISCOVERY, HEADER_LEN, Packet, Repr, Tag, TagList, TagType,
};
use crate::error::{EmitError, UsageError};
use crate::ethernet::{self, BROADCAST, Frame, Header, Mac};
use crate::tags::DiscoveryTags;

/// Length of the AC-Cookie this AC issues: 128 bits of a truncated HMAC-SHA256.
pub const COOKIE_LEN: usize = 16;

/// Largest PADI a host may send, so that a relay can still add a Relay-Session-Id
/// (RFC 2516 section 5.1).
pub const MAX_PADI_LEN: usize = 1484;

/// Most additional Service-Name tags listed in one PADO (section 5.2).
pub const MAX_OFFERED_SERVICES: usize = 8;

/// The caller's session table, as far as discovery needs it.
pub trait SessionAllocator {
    /// A SESSION_ID for a new session of `peer` (RFC 2516 section 5.4: unique for
    /// the pair of MAC addresses). A host repeats PADR when PADS is lost (section 7),
    /// so if `peer` with the same `host_uniq` already holds a session that has not
    /// carried traffic, returning that id again keeps one session per client.
    /// `None` means "no resources": the AC answers PADS with AC-System-Error.
    fn allocate(&mut self, peer: &Mac, host_uniq: Option<&[u8]>) -> Option<SessionId>;

    /// Releases `id` if `peer` holds it; `false` if it does not (the PADT is then
    /// dropped as [`DropReason::UnknownSession`]).
    fn release(&mut self, peer: &Mac, id: SessionId) -> bool;
}

/// Which services this AC offers (RFC 2516 sections 5.1 to 5.4).
pub trait ServicePolicy {
    /// Whether `peer` may have service `name`; an empty name means "any service"
    /// (Appendix A).
    fn accepts(&self, peer: &Mac, name: &[u8]) -> bool;

    /// Other services to list in a PADO besides the one echoed (section 5.2).
    fn offered(&self) -> &[&[u8]] {
        &[]
    }
}

/// Accepts every Service-Name.
#[derive(Debug, Clone, Copy, Default)]
pub struct AnyService;

impl ServicePolicy for AnyService {
    fn accepts(&self, _: &Mac, _: &[u8]) -> bool {
        true
    }
}

/// Accepts the empty Service-Name and the names in the list, and lists them in PADO.
#[derive(Debug, Clone, Copy)]
pub struct ServiceList<'a>(pub &'a [&'a [u8]]);

impl ServicePolicy for ServiceList<'_> {
    fn accepts(&self, _: &Mac, name: &[u8]) -> bool {
        name.is_empty() || self.0.contains(&name)
    }

    fn offered(&self) -> &[&[u8]] {
        self.0
    }
}

/// Why a received frame produced no reply. One counter per reason in [`Counters`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[repr(u8)]
pub enum DropReason {
    /// Ethernet, PPPoE header or tag list malformed (RFC 2516 section 4).
    Malformed = 0,
    /// Destination is neither us nor (for PADI) broadcast.
    NotForUs,
    /// Source MAC is a group address.
    BadSource,
    /// PADI or PADR without exactly one Service-Name (sections 5.1, 5.3).
    NoServiceName,
    /// PADI for a service the policy refuses: no PADO is sent (section 5.2).
    ServiceNotOffered,
    /// PADI longer than 1484 bytes without a relay tag (section 5.1).
    TooLarge,
    /// PADR without AC-Cookie.
    MissingCookie,
    /// PADR with an AC-Cookie we did not issue, or one that expired.
    BadCookie,
    /// PADT for a session the allocator does not know for this peer.
    UnknownSession,
    /// A code an AC never receives (PADO, PADS, unknown codes).
    UnexpectedCode,
    /// The caller's transmit buffer cannot hold the reply.
    TxBufferTooSmall,
    /// The reply (echoing a long Host-Uniq or Relay-Session-Id) would exceed the
    /// 1500-byte Ethernet MTU (RFC 2516 section 7).
    ReplyTooLarge,
}

impl DropReason {
    /// Number of reasons.
    pub const COUNT: usize = 12;

    /// Every reason, in counter order.
    pub const ALL: [Self; Self::COUNT] = [
        Self::Malformed,
        Self::NotForUs,
        Self::BadSource,
        Self::NoServiceName,
        Self::ServiceNotOffered,
        Self::TooLarge,
        Self::MissingCookie,
        Self::BadCookie,
        Self::UnknownSession,
        Self::UnexpectedCode,
        Self::TxBufferTooSmall,
        Self::ReplyTooLarge,
    ];
}

/// Per-AC counters: messages seen and sent, and one drop counter per [`DropReason`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// PADI received and answered.
    pub pado_sent: u64,
    /// PADS sent with a SESSION_ID.
    pub pads_sent: u64,
    /// PADS sent with SESSION_ID 0 and an error tag.
    pub pads_error_sent: u64,
    /// PADT received from clients and accepted.
    pub padt_received: u64,
    /// PADT sent by [`Ac::terminate`].
    pub padt_sent: u64,
    drops: [u64; DropReason::COUNT],
}

impl Counters {
    /// Frames dropped for `reason`.
    #[must_use]
    pub fn drops(&self, reason: DropReason) -> u64 {
        self.drops.get(reason as usize).copied().unwrap_or(0)
    }

    /// Frames dropped for any reason.
    #[must_use]
    pub fn total_drops(&self) -> u64 {
        self.drops.iter().sum()
    }

    fn drop(&mut self, reason: DropReason) {
        if let Some(c) = self.drops.get_mut(reason as usize) {
            *c = c.saturating_add(1);
        }
    }
}

/// The AC's settings.
#[derive(Debug, Clone, Copy)]
pub struct AcConfig<'a> {
    /// Our MAC address (source of every reply).
    pub mac: Mac,
    /// AC-Name sent in PADO and PADS (section 5.2).
    pub ac_name: &'a [u8],
    /// Length of a cookie time window. A cookie is accepted in the window it was
    /// issued in and the next one, so it lives between one and two windows.
    pub cookie_window: Duration,
    /// The largest PPP payload this AC can carry (RFC 4638). `None`: PPP-Max-Payload
    /// is not supported and never echoed; `Some(n)`: a request up to `n` is echoed in
    /// PADO and PADS (RFC 4638 section 4).
    pub max_payload: Option<u16>,
}

/// A 256-bit cookie key. Fill it from a CSPRNG and rotate it with
/// [`Ac::rotate_secret`]; it never leaves the [`Ac`].
#[derive(Clone)]
pub struct CookieSecret([u8; 32]);

impl CookieSecret {
    /// Wraps key bytes drawn from a cryptographically secure generator.
    #[must_use]
    pub const fn new(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }
}

impl core::fmt::Debug for CookieSecret {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("CookieSecret(..)")
    }
}

/// What the caller learns about a session created by a PADR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionInfo<'r> {
    /// The SESSION_ID written in the PADS.
    pub session_id: SessionId,
    /// The link header for frames towards the client: its MAC as destination, ours as
    /// source, its VLAN tags. Set `ethertype` to 0x8864 for session frames.
    pub link: Header,
    /// The Service-Name the client asked for.
    pub service_name: &'r [u8],
    /// PPP-Max-Payload agreed (RFC 4638), if the client asked and we support it;
    /// the MRU of LCP may then exceed 1492.
    pub max_payload: Option<u16>,
    /// All tags of the PADR, e.g. for the TR-101 line info of an intermediate agent.
    pub tags: DiscoveryTags<'r>,
}

/// The result of [`Ac::handle_frame`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
#[allow(
    clippy::large_enum_variant,
    reason = "returned once per frame and never stored; boxing would need a heap"
)]
pub enum Outcome<'r> {
    /// A reply of `len` bytes is at the start of `tx`: a PADO, or a PADS with an error
    /// tag and SESSION_ID 0 (section 5.4).
    Reply {
        /// The code of the reply.
        code: Code,
        /// Bytes written.
        len: usize,
    },
    /// A PADR created a session; its PADS (`len` bytes) is at the start of `tx`.
    SessionStarted {
        /// Bytes written.
        len: usize,
        /// The new session.
        session: SessionInfo<'r>,
    },
    /// The client sent PADT (section 5.5); the allocator released the session.
    SessionTerminated {
        /// The client.
        peer: Mac,
        /// The session it closed.
        session_id: SessionId,
    },
    /// The frame was dropped and counted.
    Dropped(DropReason),
    /// Not a PPPoE discovery frame (another ethertype, e.g. 0x8864 session data):
    /// not counted, for the caller to route elsewhere.
    NotDiscovery,
}

/// A sans-IO PPPoE access concentrator (discovery stage only).
#[derive(Debug, Clone)]
pub struct Ac<'a, P: ServicePolicy> {
    config: AcConfig<'a>,
    policy: P,
    current: CookieSecret,
    previous: Option<CookieSecret>,
    counters: Counters,
}

/// Up to this many tags in a PADO/PADS we build.
const MAX_REPLY_TAGS: usize = 8 + MAX_OFFERED_SERVICES;

impl<'a, P: ServicePolicy> Ac<'a, P> {
    /// A new AC with cookie key `secret`.
    ///
    /// # Errors
    /// [`UsageError::InvalidConfig`] for a zero cookie window, a group MAC, an AC-Name
    /// over 255 bytes or a `max_payload` below 1492 (RFC 4638 section 4).
    pub fn new(config: AcConfig<'a>, policy: P, secret: CookieSecret) -> Result<Self, UsageError> {
        if config.cookie_window.is_zero() {
            return Err(UsageError::InvalidConfig("cookie_window must be > 0"));
        }
        if ethernet::is_group(&config.mac) {
            return Err(UsageError::InvalidConfig("AC MAC must be unicast"));
        }
        if config.ac_name.len() > 255 {
            return Err(UsageError::InvalidConfig("AC-Name over 255 bytes"));
        }
        if config.max_payload.is_some_and(|m| m < 1492) {
            return Err(UsageError::InvalidConfig("max_payload below 1492"));
        }
        Ok(Self {
            config,
            policy,
            current: secret,
            previous: None,
            counters: Counters::default(),
        })
    }

    /// The counters.
    #[must_use]
    pub const fn counters(&self) -> &Counters {
        &self.counters
    }

    /// The configuration.
    #[must_use]
    pub const fn config(&self) -> &AcConfig<'a> {
        &self.config
    }

    /// Makes `secret` the key for new cookies; the current one still verifies until
    /// the next rotation, so rotate at most once per cookie window.
    pub fn rotate_secret(&mut self, secret: CookieSecret) {
        self.previous = Some(core::mem::replace(&mut self.current, secret));
    }

    fn window(&self, now: Duration) -> u64 {
        let w = now.as_nanos() / self.config.cookie_window.as_nanos().max(1);
        u64::try_from(w).unwrap_or(u64::MAX)
    }

    /// HMAC-SHA256(secret, label | window | client MAC | VLAN tags | Host-Uniq).
    fn cookie_mac(
        secret: &CookieSecret,
        window: u64,
        link: &Header,
        host_uniq: Option<&[u8]>,
    ) -> Hmac<Sha256> {
        // HMAC zero-pads a key shorter than the hash block (RFC 2104 section 2), so
        // padding the 32-byte secret to the 64-byte block here is the same function.
        let mut key = [0u8; 64];
        if let Some(k) = key.first_chunk_mut::<32>() {
            *k = secret.0;
        }
        let mut m = <Hmac<Sha256> as KeyInit>::new(&key.into());
        m.update(b"bng-pppoe AC-Cookie v1");
        m.update(&window.to_be_bytes());
        m.update(&link.src);
        m.update(&[link.vlan_count]);
        for v in link.vlans() {
            m.update(&v.tpid.to_be_bytes());
            m.update(&(v.tci & 0x0fff).to_be_bytes());
        }
        match host_uniq {
            Some(h) => {
                m.update(&[1]);
                m.update(&(h.len() as u64).to_be_bytes());
                m.update(h);
            }
            None => m.update(&[0]),
        }
        m
    }

    fn issue_cookie(
        &self,
        now: Duration,
        link: &Header,
        host_uniq: Option<&[u8]>,
    ) -> [u8; COOKIE_LEN] {
        let tag = Self::cookie_mac(&self.current, self.window(now), link, host_uniq)
            .finalize()
            .into_bytes();
        let mut c = [0u8; COOKIE_LEN];
        if let Some(head) = tag.first_chunk::<COOKIE_LEN>() {
            c = *head;
        }
        c
    }

    /// Constant-time check against both secrets and both windows.
    fn cookie_valid(
        &self,
        now: Duration,
        link: &Header,
        host_uniq: Option<&[u8]>,
        cookie: &[u8],
    ) -> bool {
        if cookie.len() != COOKIE_LEN {
            return false;
        }
        let w = self.window(now);
        let mut ok = false;
        for secret in core::iter::once(&self.current).chain(self.previous.as_ref()) {
            for win in [Some(w), w.checked_sub(1)].into_iter().flatten() {
                ok |= Self::cookie_mac(secret, win, link, host_uniq)
                    .verify_truncated_left(cookie)
                    .is_ok();
            }
        }
        ok
    }

    fn dropped<'r>(&mut self, reason: DropReason) -> Outcome<'r> {
        self.counters.drop(reason);
        Outcome::Dropped(reason)
    }

    /// Handles one received Ethernet frame `rx` at time `now`; a reply, if any, is
    /// written to the start of `tx` (1514 bytes plus 8 for VLAN tags always suffice).
    ///
    /// No state is created or changed for a PADI except the counters; `alloc` is only
    /// called for a PADR with a valid cookie and for a PADT.
    pub fn handle_frame<'r>(
        &mut self,
        now: Duration,
        rx: &'r [u8],
        tx: &mut [u8],
        alloc: &mut impl SessionAllocator,
    ) -> Outcome<'r> {
        let Ok(frame) = Frame::new_checked(rx) else {
            return self.dropped(DropReason::Malformed);
        };
        if frame.header.ethertype != ETHERTYPE_DISCOVERY {
            return Outcome::NotDiscovery;
        }
        let link = frame.header;
        if ethernet::is_group(&link.src) {
            return self.dropped(DropReason::BadSource);
        }
        let Ok(packet) = Packet::new_checked(frame.payload) else {
            return self.dropped(DropReason::Malformed);
        };
        let code = packet.code();
        let to_us = link.dst == self.config.mac;
        if !(to_us || (code == Code::PADI && link.dst == BROADCAST)) {
            return self.dropped(DropReason::NotForUs);
        }
        let pppoe_len = packet.as_bytes().len();
        let Ok(repr) = Repr::parse(&packet) else {
            return self.dropped(DropReason::Malformed);
        };
        let session_id = repr.session_id;
        // The tags borrow `rx` itself (not the view) so the outcome can hand them out.
        let payload = frame.payload.get(HEADER_LEN..pppoe_len).unwrap_or_default();
        let Ok(tags) = DiscoveryTags::parse(payload) else {
            return self.dropped(DropReason::Malformed);
        };
        match code {
            Code::PADI => self.on_padi(now, &link, pppoe_len, &tags, tx),
            Code::PADR => self.on_padr(now, &link, &tags, tx, alloc),
            Code::PADT => {
                let Some(id) = SessionId::new(session_id) else {
                    return self.dropped(DropReason::UnknownSession);
                };
                if !alloc.release(&link.src, id) {
                    return self.dropped(DropReason::UnknownSession);
                }
                self.counters.padt_received += 1;
                Outcome::SessionTerminated {
                    peer: link.src,
                    session_id: id,
                }
            }
            _ => self.dropped(DropReason::UnexpectedCode),
        }
    }

    /// Section 5.1 / 5.2: PADI -> PADO with a fresh cookie.
    fn on_padi<'r>(
        &mut self,
        now: Duration,
        link: &Header,
        pppoe_len: usize,
        tags: &DiscoveryTags<'_>,
        tx: &mut [u8],
    ) -> Outcome<'r> {
        if pppoe_len > MAX_PADI_LEN && tags.relay_session_id.is_none() {
            return self.dropped(DropReason::TooLarge);
        }
        let (1, Some(service)) = (tags.service_names, tags.service_name) else {
            return self.dropped(DropReason::NoServiceName);
        };
        if !self.policy.accepts(&link.src, service) {
            return self.dropped(DropReason::ServiceNotOffered);
        }
        let cookie = self.issue_cookie(now, link, tags.host_uniq);
        let mp = self.max_payload(tags).map(u16::to_be_bytes);
        let mut list = [EMPTY_TAG; MAX_REPLY_TAGS];
        let reply = ReplyTags {
            ac_name: self.config.ac_name,
            service,
            offered: self.policy.offered(),
            cookie: Some(&cookie),
            max_payload: mp.as_ref(),
            error: None,
        };
        let n = reply.build(tags, &mut list);
        let hdr = link.reply(self.config.mac, ETHERTYPE_DISCOVERY);
        match emit_frame(&hdr, Code::PADO, 0, list.get(..n).unwrap_or_default(), tx) {
            Ok(len) => {
                self.counters.pado_sent += 1;
                Outcome::Reply {
                    code: Code::PADO,
                    len,
                }
            }
            Err(e) => self.dropped(emit_drop(e)),
        }
    }

    /// RFC 4638 section 4: echo the client's PPP-Max-Payload if we can carry it.
    fn max_payload(&self, tags: &DiscoveryTags<'_>) -> Option<u16> {
        let ours = self.config.max_payload?;
        tags.ppp_max_payload.filter(|&v| v >= 1492 && v <= ours)
    }

    /// Section 5.3 / 5.4: PADR with a valid cookie -> PADS.
    fn on_padr<'r>(
        &mut self,
        now: Duration,
        link: &Header,
        tags: &DiscoveryTags<'r>,
        tx: &mut [u8],
        alloc: &mut impl SessionAllocator,
    ) -> Outcome<'r> {
        let (1, Some(service)) = (tags.service_names, tags.service_name) else {
            return self.dropped(DropReason::NoServiceName);
        };
        let Some(cookie) = tags.ac_cookie else {
            return self.dropped(DropReason::MissingCookie);
        };
        if !self.cookie_valid(now, link, tags.host_uniq, cookie) {
            return self.dropped(DropReason::BadCookie);
        }
        let hdr = link.reply(self.config.mac, ETHERTYPE_DISCOVERY);
        let max_payload = self.max_payload(tags);
        let mp = max_payload.map(u16::to_be_bytes);
        // Section 5.4: a refused service, or no resources (Appendix A, AC-System-Error),
        // is answered by a PADS with SESSION_ID 0 and an error tag.
        let id = if self.policy.accepts(&link.src, service) {
            alloc
                .allocate(&link.src, tags.host_uniq)
                .ok_or((TagType::AC_SYSTEM_ERROR, &b"no session available"[..]))
        } else {
            Err((TagType::SERVICE_NAME_ERROR, &b"service not offered"[..]))
        };
        let mut list = [EMPTY_TAG; MAX_REPLY_TAGS];
        let reply = ReplyTags {
            ac_name: self.config.ac_name,
            service,
            offered: &[],
            cookie: None,
            max_payload: if id.is_ok() { mp.as_ref() } else { None },
            error: id.err(),
        };
        let n = reply.build(tags, &mut list);
        let sid = id.map_or(0, SessionId::get);
        let len = match emit_frame(&hdr, Code::PADS, sid, list.get(..n).unwrap_or_default(), tx) {
            Ok(len) => len,
            Err(e) => {
                // Nothing was sent: give the id back so the client's retry can have it.
                if let Ok(id) = id {
                    alloc.release(&link.src, id);
                }
                return self.dropped(emit_drop(e));
            }
        };
        if let Ok(session_id) = id {
            self.counters.pads_sent += 1;
            Outcome::SessionStarted {
                len,
                session: SessionInfo {
                    session_id,
                    link: hdr,
                    service_name: service,
                    max_payload,
                    tags: *tags,
                },
            }
        } else {
            self.counters.pads_error_sent += 1;
            Outcome::Reply {
                code: Code::PADS,
                len,
            }
        }
    }

    /// Ends a session from the AC side: releases `session_id` of the client at `link`
    /// (the [`SessionInfo::link`] of its PADS) and writes a PADT (section 5.5) with an
    /// optional Generic-Error text into `tx`.
    ///
    /// # Errors
    /// [`EmitError`] if `tx` is too small or the text exceeds a tag.
    pub fn terminate(
        &mut self,
        link: &Header,
        session_id: SessionId,
        generic_error: Option<&[u8]>,
        tx: &mut [u8],
        alloc: &mut impl SessionAllocator,
    ) -> Result<usize, EmitError> {
        let hdr = Header {
            ethertype: ETHERTYPE_DISCOVERY,
            ..*link
        };
        let err = generic_error.map(|v| Tag {
            kind: TagType::GENERIC_ERROR,
            value: v,
        });
        let len = emit_frame(&hdr, Code::PADT, session_id.get(), err.as_slice(), tx)?;
        alloc.release(&link.dst, session_id);
        self.counters.padt_sent += 1;
        Ok(len)
    }
}

const EMPTY_TAG: Tag<'static> = Tag {
    kind: TagType::END_OF_LIST,
    value: &[],
};

/// The tags of a PADO or PADS, in the order accel-ppp and pppd expect them.
struct ReplyTags<'t> {
    ac_name: &'t [u8],
    service: &'t [u8],
    offered: &'t [&'t [u8]],
    cookie: Option<&'t [u8; COOKIE_LEN]>,
    max_payload: Option<&'t [u8; 2]>,
    error: Option<(TagType, &'t [u8])>,
}

impl<'t> ReplyTags<'t> {
    /// Fills `list`: AC-Name, the echoed Service-Name, other offered services
    /// (section 5.2), Host-Uniq and Relay-Session-Id echoed (Appendix A), AC-Cookie,
    /// PPP-Max-Payload (RFC 4638), an error tag. Returns how many were written.
    fn build(&self, rx: &DiscoveryTags<'t>, list: &mut [Tag<'t>; MAX_REPLY_TAGS]) -> usize {
        let mut n = 0;
        let mut push = |kind: TagType, value: &'t [u8]| {
            if let Some(slot) = list.get_mut(n) {
                *slot = Tag { kind, value };
                n += 1;
            }
        };
        push(TagType::AC_NAME, self.ac_name);
        push(TagType::SERVICE_NAME, self.service);
        for s in self
            .offered
            .iter()
            .filter(|s| **s != self.service)
            .take(MAX_OFFERED_SERVICES)
        {
            push(TagType::SERVICE_NAME, s);
        }
        if let Some(h) = rx.host_uniq {
            push(TagType::HOST_UNIQ, h);
        }
        if let Some(c) = self.cookie {
            push(TagType::AC_COOKIE, c);
        }
        if let Some(r) = rx.relay_session_id {
            push(TagType::RELAY_SESSION_ID, r);
        }
        if let Some(m) = self.max_payload {
            push(TagType::PPP_MAX_PAYLOAD, m);
        }
        if let Some((kind, text)) = self.error {
            push(kind, text);
        }
        n
    }
}

/// Largest PPPoE packet (header and payload) in a standard Ethernet frame.
const MAX_PPPOE_LEN: usize = 1500;

fn emit_drop(e: EmitError) -> DropReason {
    match e {
        EmitError::ValueTooLarge(_) => DropReason::ReplyTooLarge,
        _ => DropReason::TxBufferTooSmall,
    }
}

/// Writes Ethernet header + PPPoE discovery packet into `tx`.
fn emit_frame(
    hdr: &Header,
    code: Code,
    session_id: u16,
    tags: &[Tag<'_>],
    tx: &mut [u8],
) -> Result<usize, EmitError> {
    let repr = Repr {
        code,
        session_id,
        tags: TagList::List(tags),
    };
    if repr.buffer_len() > MAX_PPPOE_LEN {
        return Err(EmitError::ValueTooLarge("reply exceeds the Ethernet MTU"));
    }
    let needed = hdr.wire_len() + repr.buffer_len();
    if tx.len() < needed {
        return Err(EmitError::BufferTooSmall {
            needed,
            available: tx.len(),
        });
    }
    let l2 = hdr.emit(tx)?;
    let rest = tx.get_mut(l2..).unwrap_or_default();
    let n = repr.emit(rest)?;
    debug_assert!(n >= HEADER_LEN);
    Ok(l2 + n)
}
