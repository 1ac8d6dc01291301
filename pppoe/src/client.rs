//! The host side of PPPoE discovery (RFC 2516 sections 5 and 7), sans-IO.
//!
//! [`Client::start`] broadcasts a PADI; the first PADO that matches the configured
//! Service-Name (and AC-Name, if one is required) is answered with a PADR that echoes
//! its AC-Cookie and Relay-Session-Id; a PADS with a SESSION_ID ends discovery with
//! [`Event::SessionUp`]. PADI and PADR are resent with a doubling timeout, as section 7
//! suggests, up to a configured number of attempts; then [`Event::Failed`].
//!
//! The machine follows the house shape (STYLE.md section 7): feed it frames with
//! [`Client::handle_frame`] and deadlines with [`Client::handle_timeout`], drain
//! [`Client::poll_action`] into your socket, and sleep until [`Client::poll_timeout`].

use core::time::Duration;

use crate::discovery::{
    Code, ETHERTYPE_DISCOVERY, ETHERTYPE_SESSION, HEADER_LEN, Packet, Repr, SessionId, Tag,
    TagList, TagType, Tags,
};
use crate::error::{EmitError, ProtocolError, UsageError};
use crate::ethernet::{self, BROADCAST, Frame, Header, Mac, Vlan};
use crate::tags::DiscoveryTags;

/// Longest AC-Cookie, Relay-Session-Id or AC-Name the client keeps from a PADO; an
/// offer with a longer one is ignored.
pub const MAX_STORED: usize = 64;

/// Client settings. Slices are borrowed for the life of the [`Client`].
#[derive(Debug, Clone, Copy)]
pub struct ClientConfig<'a> {
    /// Our MAC address.
    pub mac: Mac,
    /// VLAN tags to send with (outer first); at most two.
    pub vlans: &'a [Vlan],
    /// Service-Name to request; empty means any service (RFC 2516 Appendix A).
    pub service_name: &'a [u8],
    /// Only accept offers from this AC-Name.
    pub ac_name: Option<&'a [u8]>,
    /// Host-Uniq to send and to match in replies (Appendix A). Use a value from the
    /// caller's PRNG so replies to other hosts are not taken for ours.
    pub host_uniq: Option<&'a [u8]>,
    /// PPP-Max-Payload to request (RFC 4638 section 4); `None` to not ask.
    pub max_payload: Option<u16>,
    /// First PADI/PADR timeout; doubled at each retry (section 7).
    pub initial_timeout: Duration,
    /// Cap for the doubled timeout.
    pub max_timeout: Duration,
    /// PADI attempts before [`Failure::NoOffer`], and PADR attempts before
    /// [`Failure::NoConfirmation`].
    pub max_attempts: u8,
}

impl ClientConfig<'_> {
    /// Defaults: untagged, any service, 1 s doubling to 8 s, 5 attempts each.
    #[must_use]
    pub const fn new(mac: Mac) -> Self {
        Self {
            mac,
            vlans: &[],
            service_name: b"",
            ac_name: None,
            host_uniq: None,
            max_payload: None,
            initial_timeout: Duration::from_secs(1),
            max_timeout: Duration::from_secs(8),
            max_attempts: 5,
        }
    }
}

/// Why discovery failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Failure {
    /// No acceptable PADO after every PADI attempt.
    NoOffer,
    /// No PADS after every PADR attempt.
    NoConfirmation,
    /// PADS with Service-Name-Error (RFC 2516 section 5.4).
    ServiceNameError,
    /// PADS with AC-System-Error (Appendix A).
    AcSystemError,
    /// PADS with Generic-Error or with SESSION_ID 0 and no error tag.
    GenericError,
}

/// A session agreed by discovery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionUp {
    /// The SESSION_ID of the PADS.
    pub session_id: SessionId,
    /// The link towards the AC (its MAC as destination, our VLANs), with ethertype
    /// 0x8864 ready for session frames.
    pub link: Header,
    /// PPP-Max-Payload the AC echoed (RFC 4638), if any.
    pub max_payload: Option<u16>,
}

/// Something the caller must know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// Discovery finished: the PPP session stage may start.
    SessionUp(SessionUp),
    /// Discovery failed; the client is closed.
    Failed(Failure),
    /// The AC sent PADT for our session (section 5.5); the client is closed.
    Terminated,
}

/// What [`Client::poll_action`] asks the caller to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum Action {
    /// Send the first `len` bytes of `tx` (a complete Ethernet frame).
    Transmit(usize),
    /// Handle an event.
    Event(Event),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stored {
    len: u8,
    buf: [u8; MAX_STORED],
}

impl Stored {
    const EMPTY: Self = Self {
        len: 0,
        buf: [0; MAX_STORED],
    };

    fn new(v: &[u8]) -> Option<Self> {
        let mut s = Self::EMPTY;
        s.buf.get_mut(..v.len())?.copy_from_slice(v);
        s.len = u8::try_from(v.len()).ok()?;
        Some(s)
    }

    fn get(&self) -> &[u8] {
        self.buf.get(..usize::from(self.len)).unwrap_or_default()
    }
}

/// The offer we answer: what the PADR needs from the PADO.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Offer {
    ac: Mac,
    cookie: Option<Stored>,
    relay: Option<Stored>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Idle,
    Discovering {
        attempt: u8,
        timeout: Duration,
        deadline: Duration,
    },
    Requesting {
        offer: Offer,
        attempt: u8,
        timeout: Duration,
        deadline: Duration,
    },
    Session {
        ac: Mac,
        id: SessionId,
    },
    Closed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    None,
    Padi,
    Padr,
    Padt { ac: Mac, id: SessionId },
}

/// Events held until polled; more are counted and dropped (STYLE.md section 7).
const EVENT_QUEUE: usize = 4;

/// A PPPoE discovery client (host side).
#[derive(Debug, Clone)]
pub struct Client<'a> {
    config: ClientConfig<'a>,
    state: State,
    pending: Pending,
    events: [Option<Event>; EVENT_QUEUE],
    ignored: u64,
    events_dropped: u64,
}

impl<'a> Client<'a> {
    /// A client in the idle state.
    ///
    /// # Errors
    /// [`UsageError::InvalidConfig`] for a group MAC, more than two VLANs, zero
    /// attempts or timeout, or a Service-Name, AC-Name or Host-Uniq over 255 bytes.
    pub fn new(config: ClientConfig<'a>) -> Result<Self, UsageError> {
        if ethernet::is_group(&config.mac) {
            return Err(UsageError::InvalidConfig("client MAC must be unicast"));
        }
        if config.vlans.len() > ethernet::MAX_VLANS {
            return Err(UsageError::InvalidConfig("more than two VLAN tags"));
        }
        if config.max_attempts == 0 || config.initial_timeout.is_zero() {
            return Err(UsageError::InvalidConfig(
                "attempts and timeout must be > 0",
            ));
        }
        let long = |v: Option<&[u8]>| v.is_some_and(|v| v.len() > 255);
        if long(Some(config.service_name)) || long(config.ac_name) || long(config.host_uniq) {
            return Err(UsageError::InvalidConfig("tag value over 255 bytes"));
        }
        Ok(Self {
            config,
            state: State::Idle,
            pending: Pending::None,
            events: [None; EVENT_QUEUE],
            ignored: 0,
            events_dropped: 0,
        })
    }

    /// Starts (or restarts) discovery: a PADI is queued at once.
    pub fn start(&mut self, now: Duration) {
        let timeout = self.config.initial_timeout;
        self.state = State::Discovering {
            attempt: 1,
            timeout,
            deadline: now.saturating_add(timeout),
        };
        self.pending = Pending::Padi;
    }

    /// Closes the client; if a session is up, a PADT is queued (section 5.5).
    pub fn close(&mut self) {
        let old = core::mem::replace(&mut self.state, State::Closed);
        self.pending = match old {
            State::Session { ac, id } => Pending::Padt { ac, id },
            _ => Pending::None,
        };
    }

    /// The session, once discovery is done.
    #[must_use]
    pub const fn session_id(&self) -> Option<SessionId> {
        match self.state {
            State::Session { id, .. } => Some(id),
            _ => None,
        }
    }

    /// Whether the client is closed (failed, terminated or [`Client::close`]d).
    #[must_use]
    pub const fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed)
    }

    /// Discovery frames ignored so far (not for us, wrong Host-Uniq, unwanted offers).
    #[must_use]
    pub const fn ignored(&self) -> u64 {
        self.ignored
    }

    /// Events dropped because the queue was full.
    #[must_use]
    pub const fn events_dropped(&self) -> u64 {
        self.events_dropped
    }

    fn push_event(&mut self, e: Event) {
        if let Some(slot) = self.events.iter_mut().find(|s| s.is_none()) {
            *slot = Some(e);
        } else {
            self.events_dropped += 1;
        }
    }

    fn fail(&mut self, f: Failure) {
        self.state = State::Closed;
        self.pending = Pending::None;
        self.push_event(Event::Failed(f));
    }

    /// Handles one received Ethernet frame. Frames that are not PPPoE discovery or not
    /// for this client return `Ok` and are ignored.
    ///
    /// # Errors
    /// [`ProtocolError::PeerMisbehaved`] for a malformed discovery frame addressed to
    /// us, [`ProtocolError::Unexpected`] for a well-formed one this state ignores. The
    /// state is unchanged in both cases.
    pub fn handle_frame(&mut self, now: Duration, rx: &[u8]) -> Result<(), ProtocolError> {
        let Ok(frame) = Frame::new_checked(rx) else {
            return Ok(());
        };
        if frame.header.ethertype != ETHERTYPE_DISCOVERY || frame.header.dst != self.config.mac {
            return Ok(());
        }
        let r = self.on_discovery(now, &frame);
        if r.is_err() {
            self.ignored += 1;
        }
        r
    }

    fn on_discovery(&mut self, now: Duration, frame: &Frame<'_>) -> Result<(), ProtocolError> {
        let bad = ProtocolError::PeerMisbehaved("malformed discovery packet");
        let packet = Packet::new_checked(frame.payload).map_err(|_| bad)?;
        let repr = Repr::parse(&packet).map_err(|_| bad)?;
        let tags = DiscoveryTags::parse(packet.payload()).map_err(|_| bad)?;
        // Appendix A: a Host-Uniq we sent must come back unchanged in PADO and PADS
        // (PADT need not carry it).
        if repr.code != Code::PADT && tags.host_uniq != self.config.host_uniq {
            return Err(ProtocolError::PeerMisbehaved("Host-Uniq does not match"));
        }
        let src = frame.header.src;
        match (repr.code, self.state) {
            (Code::PADO, State::Discovering { .. }) => {
                self.on_pado(now, src, packet.payload(), &tags)
            }
            (Code::PADS, State::Requesting { offer, .. }) if offer.ac == src => {
                self.on_pads(repr.session_id, src, &tags);
                Ok(())
            }
            (Code::PADT, State::Session { ac, id }) if ac == src && id.get() == repr.session_id => {
                self.state = State::Closed;
                self.pending = Pending::None;
                self.push_event(Event::Terminated);
                Ok(())
            }
            _ => Err(ProtocolError::Unexpected),
        }
    }

    /// Section 5.2: take the first PADO naming our service (and AC-Name, if set).
    fn on_pado(
        &mut self,
        now: Duration,
        src: Mac,
        payload: &[u8],
        tags: &DiscoveryTags<'_>,
    ) -> Result<(), ProtocolError> {
        if ethernet::is_group(&src) {
            return Err(ProtocolError::PeerMisbehaved("PADO from a group address"));
        }
        let Some(ac_name) = tags.ac_name else {
            return Err(ProtocolError::PeerMisbehaved("PADO without AC-Name"));
        };
        if tags.error().is_some() {
            return Err(ProtocolError::PeerMisbehaved("PADO with an error tag"));
        }
        if self.config.ac_name.is_some_and(|want| want != ac_name) {
            return Err(ProtocolError::Unexpected);
        }
        let want = self.config.service_name;
        let offers = Tags::new(payload)
            .map_while(Result::ok)
            .any(|t| t.kind == TagType::SERVICE_NAME && (t.value == want || want.is_empty()));
        if !offers {
            return Err(ProtocolError::Unexpected);
        }
        let keep = |v: Option<&[u8]>| match v {
            None => Ok(None),
            Some(v) => Stored::new(v)
                .map(Some)
                .ok_or(ProtocolError::PeerMisbehaved("tag too long to keep")),
        };
        let offer = Offer {
            ac: src,
            cookie: keep(tags.ac_cookie)?,
            relay: keep(tags.relay_session_id)?,
        };
        let timeout = self.config.initial_timeout;
        self.state = State::Requesting {
            offer,
            attempt: 1,
            timeout,
            deadline: now.saturating_add(timeout),
        };
        self.pending = Pending::Padr;
        Ok(())
    }

    /// Section 5.4: a PADS with a SESSION_ID ends discovery; one with an error tag or
    /// SESSION_ID 0 fails it.
    fn on_pads(&mut self, session_id: u16, ac: Mac, tags: &DiscoveryTags<'_>) {
        let failure = match tags.error() {
            Some((TagType::SERVICE_NAME_ERROR, _)) => Some(Failure::ServiceNameError),
            Some((TagType::AC_SYSTEM_ERROR, _)) => Some(Failure::AcSystemError),
            Some(_) => Some(Failure::GenericError),
            None => None,
        };
        let id = SessionId::new(session_id);
        match (failure, id) {
            (None, Some(id)) => {
                self.state = State::Session { ac, id };
                self.pending = Pending::None;
                let link = Header {
                    ethertype: ETHERTYPE_SESSION,
                    ..self.header(ac)
                };
                let max_payload = tags
                    .ppp_max_payload
                    .filter(|_| self.config.max_payload.is_some());
                self.push_event(Event::SessionUp(SessionUp {
                    session_id: id,
                    link,
                    max_payload,
                }));
            }
            (f, _) => self.fail(f.unwrap_or(Failure::GenericError)),
        }
    }

    /// Retransmits on a passed deadline, doubling the timeout (section 7), and fails
    /// after `max_attempts`.
    pub fn handle_timeout(&mut self, now: Duration) {
        let cap = self.config.max_timeout.max(self.config.initial_timeout);
        let max = self.config.max_attempts;
        let (attempt, timeout, deadline, requesting) = match &mut self.state {
            State::Discovering {
                attempt,
                timeout,
                deadline,
            } => (attempt, timeout, deadline, false),
            State::Requesting {
                attempt,
                timeout,
                deadline,
                ..
            } => (attempt, timeout, deadline, true),
            _ => return,
        };
        if now < *deadline {
            return;
        }
        if *attempt >= max {
            self.fail(if requesting {
                Failure::NoConfirmation
            } else {
                Failure::NoOffer
            });
            return;
        }
        *attempt += 1;
        *timeout = timeout.saturating_mul(2).min(cap);
        *deadline = now.saturating_add(*timeout);
        self.pending = if requesting {
            Pending::Padr
        } else {
            Pending::Padi
        };
    }

    /// The next deadline for [`Client::handle_timeout`].
    #[must_use]
    pub const fn poll_timeout(&self) -> Option<Duration> {
        match self.state {
            State::Discovering { deadline, .. } | State::Requesting { deadline, .. } => {
                Some(deadline)
            }
            _ => None,
        }
    }

    /// The next thing to do: a frame to transmit (written to `tx`), then events.
    /// A frame that does not fit `tx` is dropped (the retransmission timer retries).
    pub fn poll_action(&mut self, _now: Duration, tx: &mut [u8]) -> Option<Action> {
        let pending = core::mem::replace(&mut self.pending, Pending::None);
        if pending != Pending::None {
            if let Ok(len) = self.emit(pending, tx) {
                return Some(Action::Transmit(len));
            }
        }
        let first = self.events.first_mut()?.take()?;
        self.events.rotate_left(1);
        Some(Action::Event(first))
    }

    fn header(&self, dst: Mac) -> Header {
        let mut h = Header::new(dst, self.config.mac, ETHERTYPE_DISCOVERY);
        for (slot, v) in h.vlans.iter_mut().zip(self.config.vlans) {
            *slot = *v;
        }
        h.vlan_count = u8::try_from(self.config.vlans.len().min(ethernet::MAX_VLANS)).unwrap_or(0);
        h
    }

    fn emit(&self, pending: Pending, tx: &mut [u8]) -> Result<usize, EmitError> {
        let mp = self.config.max_payload.map(u16::to_be_bytes);
        let mut list = [Tag {
            kind: TagType::END_OF_LIST,
            value: &[],
        }; 5];
        let mut n = 0;
        let mut push = |kind, value| push_tag(&mut list, &mut n, kind, value);
        let (dst, code, sid) = match (pending, &self.state) {
            (Pending::Padi, _) => (BROADCAST, Code::PADI, 0),
            (Pending::Padr, State::Requesting { offer, .. }) => (offer.ac, Code::PADR, 0),
            (Pending::Padt { ac, id }, _) => (ac, Code::PADT, id.get()),
            _ => return Err(EmitError::ValueTooLarge("nothing to send")),
        };
        if code != Code::PADT {
            // Sections 5.1 and 5.3: exactly one Service-Name; Host-Uniq; RFC 4638.
            push(TagType::SERVICE_NAME, Some(self.config.service_name));
            push(TagType::HOST_UNIQ, self.config.host_uniq);
            push(
                TagType::PPP_MAX_PAYLOAD,
                mp.as_ref().map(<[u8; 2]>::as_slice),
            );
        }
        if let (Code::PADR, State::Requesting { offer, .. }) = (code, &self.state) {
            // Section 5.3 / Appendix A: echo AC-Cookie and Relay-Session-Id.
            push(TagType::AC_COOKIE, offer.cookie.as_ref().map(Stored::get));
            push(
                TagType::RELAY_SESSION_ID,
                offer.relay.as_ref().map(Stored::get),
            );
        }
        let repr = Repr {
            code,
            session_id: sid,
            tags: TagList::List(list.get(..n).unwrap_or_default()),
        };
        let hdr = self.header(dst);
        let needed = hdr.wire_len() + repr.buffer_len();
        if tx.len() < needed || repr.buffer_len() < HEADER_LEN {
            return Err(EmitError::BufferTooSmall {
                needed,
                available: tx.len(),
            });
        }
        let l2 = hdr.emit(tx)?;
        Ok(l2 + repr.emit(tx.get_mut(l2..).unwrap_or_default())?)
    }
}

fn push_tag<'t>(list: &mut [Tag<'t>], n: &mut usize, kind: TagType, value: Option<&'t [u8]>) {
    if let (Some(value), Some(slot)) = (value, list.get_mut(*n)) {
        *slot = Tag { kind, value };
        *n += 1;
    }
}
