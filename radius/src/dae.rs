//! The Dynamic Authorization server of a NAS (RFC 5176): receives CoA-Request and
//! Disconnect-Request, validates them, hands the session identification to the
//! caller and builds the ACK or NAK (with Error-Cause, RFC 5176 section 3.5).
//!
//! Validation, in order, each failure silently discarded and counted:
//! 1. the source address is an allowed client (RFC 5176 section 6.1: the NAS only
//!    accepts requests from configured Dynamic Authorization Clients);
//! 2. the packet parses and its code is CoA-Request or Disconnect-Request;
//! 3. the Request Authenticator (RFC 5176 section 3.5) and the Message-Authenticator
//!    (RFC 3579 section 3.2; required by default, BlastRADIUS CVE-2024-3596);
//! 4. Event-Timestamp within a window of `now` (RFC 5176 section 6.4, replay
//!    protection; required by default), and not a duplicate of a request already seen
//!    in that window.
//!
//! `now` here is the Unix time (seconds since 1970, as Event-Timestamp counts), as a
//! `Duration`; the server keeps no clock of its own.

use core::net::{IpAddr, Ipv4Addr};
use core::time::Duration;

use crate::crypto::{self, Secret};
use crate::dict::{AttrType, Code, ErrorCause};
use crate::error::{EmitError, ParseError, VerifyError};
use crate::packet::{Attributes, Ipv6Prefix, Packet, Writer};

/// Requests remembered for duplicate detection.
pub const REPLAY_CACHE: usize = 64;

/// One Dynamic Authorization Client (a RADIUS server allowed to send CoA/DM).
#[derive(Debug, Clone)]
pub struct DaeClient {
    /// Its source address.
    pub addr: IpAddr,
    /// The shared secret.
    pub secret: Secret,
}

/// Server configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DaeConfig {
    /// Accepted difference between Event-Timestamp and `now` (RFC 5176 section 6.4
    /// suggests 300 s).
    pub window: Duration,
    /// Discard requests without Event-Timestamp.
    pub require_event_timestamp: bool,
    /// Discard requests without Message-Authenticator (BlastRADIUS hardening).
    pub require_message_authenticator: bool,
}

impl Default for DaeConfig {
    fn default() -> Self {
        Self {
            window: Duration::from_secs(300),
            require_event_timestamp: true,
            require_message_authenticator: true,
        }
    }
}

/// Why a request was silently discarded (each counted in [`DaeStats`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DaeDrop {
    /// The source address is not an allowed client.
    #[error("unknown client")]
    UnknownClient,
    /// Not a well-formed RADIUS packet.
    #[error("malformed: {0}")]
    Malformed(ParseError),
    /// Not a CoA-Request or Disconnect-Request.
    #[error("unexpected code")]
    UnexpectedCode,
    /// Authenticator or Message-Authenticator check failed.
    #[error("failed verification: {0}")]
    Verify(VerifyError),
    /// Event-Timestamp missing while required.
    #[error("Event-Timestamp missing")]
    MissingEventTimestamp,
    /// Event-Timestamp outside the window (stale or replayed).
    #[error("Event-Timestamp outside the window")]
    StaleEventTimestamp,
    /// Same client, Identifier and authenticator as a request already handled: a
    /// retransmission; the caller may resend its previous answer.
    #[error("duplicate request")]
    Duplicate,
}

/// Counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DaeStats {
    /// Requests handed to the caller.
    pub accepted: u64,
    /// Dropped: unknown source.
    pub unknown_client: u64,
    /// Dropped: malformed.
    pub malformed: u64,
    /// Dropped: wrong code.
    pub unexpected_code: u64,
    /// Dropped: authenticator or Message-Authenticator failure.
    pub verify_failed: u64,
    /// Dropped: Event-Timestamp missing or outside the window.
    pub timestamp: u64,
    /// Dropped: duplicates.
    pub duplicate: u64,
}

/// CoA or Disconnect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DaeKind {
    /// CoA-Request (RFC 5176 section 3.2).
    Coa,
    /// Disconnect-Request (RFC 5176 section 3.1).
    Disconnect,
}

/// The session identification attributes of a request (RFC 5176 section 3).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionIdentity<'b> {
    /// Acct-Session-Id.
    pub acct_session_id: Option<&'b [u8]>,
    /// Acct-Multi-Session-Id.
    pub acct_multi_session_id: Option<&'b [u8]>,
    /// User-Name.
    pub user_name: Option<&'b [u8]>,
    /// Framed-IP-Address.
    pub framed_ip_address: Option<Ipv4Addr>,
    /// Framed-IPv6-Prefix.
    pub framed_ipv6_prefix: Option<Ipv6Prefix>,
    /// NAS-Port.
    pub nas_port: Option<u32>,
    /// NAS-Port-Id.
    pub nas_port_id: Option<&'b [u8]>,
    /// Calling-Station-Id.
    pub calling_station_id: Option<&'b [u8]>,
    /// Called-Station-Id.
    pub called_station_id: Option<&'b [u8]>,
    /// NAS-IP-Address (NAS identification, not session identification).
    pub nas_ip_address: Option<Ipv4Addr>,
    /// NAS-Identifier (NAS identification).
    pub nas_identifier: Option<&'b [u8]>,
}

impl SessionIdentity<'_> {
    /// True if no session identification attribute is present (answer with a NAK and
    /// [`ErrorCause::MISSING_ATTRIBUTE`]).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        Self {
            nas_ip_address: None,
            nas_identifier: None,
            ..*self
        } == Self::default()
    }

    /// Checks the NAS identification attributes against this NAS (RFC 5176 section 3:
    /// a mismatch is answered with a NAK and Error-Cause 403). An absent attribute
    /// matches.
    ///
    /// # Errors
    /// [`ErrorCause::NAS_IDENTIFICATION_MISMATCH`].
    pub fn check_nas(
        &self,
        nas_ip_address: Option<Ipv4Addr>,
        nas_identifier: Option<&[u8]>,
    ) -> Result<(), ErrorCause> {
        let address_matches = match (self.nas_ip_address, nas_ip_address) {
            (Some(got), Some(ours)) => got == ours,
            _ => true,
        };
        let identifier_matches = match (self.nas_identifier, nas_identifier) {
            (Some(got), Some(ours)) => got == ours,
            _ => true,
        };
        if address_matches && identifier_matches {
            Ok(())
        } else {
            Err(ErrorCause::NAS_IDENTIFICATION_MISMATCH)
        }
    }
}

/// A validated request, borrowing the received bytes.
#[derive(Debug, Clone, Copy)]
pub struct DaeRequest<'b> {
    /// CoA or Disconnect.
    pub kind: DaeKind,
    /// Index of the client in the server's list.
    pub client: usize,
    /// The session it names.
    pub session: SessionIdentity<'b>,
    /// The checked packet (for the authorization changes of a CoA).
    pub packet: Packet<&'b [u8]>,
}

#[derive(Debug, Clone, Copy, Default)]
struct Seen {
    used: bool,
    client: usize,
    id: u8,
    authenticator: [u8; 16],
    at: Duration,
}

/// The Dynamic Authorization server machine.
#[derive(Debug)]
pub struct DaeServer<'c> {
    cfg: DaeConfig,
    clients: &'c [DaeClient],
    seen: [Seen; REPLAY_CACHE],
    next: usize,
    stats: DaeStats,
}

impl<'c> DaeServer<'c> {
    /// A server accepting requests from `clients`.
    #[must_use]
    pub fn new(cfg: DaeConfig, clients: &'c [DaeClient]) -> Self {
        Self {
            cfg,
            clients,
            seen: [Seen::default(); REPLAY_CACHE],
            next: 0,
            stats: DaeStats::default(),
        }
    }

    /// Counters.
    #[must_use]
    pub const fn stats(&self) -> &DaeStats {
        &self.stats
    }

    /// Validates a datagram from `src` received at Unix time `now`.
    ///
    /// # Errors
    /// Why it was silently discarded (also counted).
    pub fn handle_packet<'b>(
        &mut self,
        now: Duration,
        src: IpAddr,
        bytes: &'b [u8],
    ) -> Result<DaeRequest<'b>, DaeDrop> {
        let r = self.inner(now, src, bytes);
        let s = &mut self.stats;
        match r {
            Ok(_) => s.accepted += 1,
            Err(DaeDrop::UnknownClient) => s.unknown_client += 1,
            Err(DaeDrop::Malformed(_)) => s.malformed += 1,
            Err(DaeDrop::UnexpectedCode) => s.unexpected_code += 1,
            Err(DaeDrop::Verify(_)) => s.verify_failed += 1,
            Err(DaeDrop::MissingEventTimestamp | DaeDrop::StaleEventTimestamp) => {
                s.timestamp += 1;
            }
            Err(DaeDrop::Duplicate) => s.duplicate += 1,
        }
        r
    }

    fn inner<'b>(
        &mut self,
        now: Duration,
        src: IpAddr,
        bytes: &'b [u8],
    ) -> Result<DaeRequest<'b>, DaeDrop> {
        let client = self
            .clients
            .iter()
            .position(|c| c.addr == src)
            .ok_or(DaeDrop::UnknownClient)?;
        let secret = &self
            .clients
            .get(client)
            .ok_or(DaeDrop::UnknownClient)?
            .secret;
        let pkt = Packet::new_checked(bytes).map_err(DaeDrop::Malformed)?;
        let kind = match pkt.code() {
            Code::COA_REQUEST => DaeKind::Coa,
            Code::DISCONNECT_REQUEST => DaeKind::Disconnect,
            _ => return Err(DaeDrop::UnexpectedCode),
        };
        crypto::verify_request(&pkt, secret, self.cfg.require_message_authenticator)
            .map_err(DaeDrop::Verify)?;
        match pkt
            .attribute(AttrType::EVENT_TIMESTAMP)
            .and_then(|a| a.as_time())
        {
            None if self.cfg.require_event_timestamp => {
                return Err(DaeDrop::MissingEventTimestamp);
            }
            None => {}
            Some(ts) => {
                let ts = Duration::from_secs(u64::from(ts));
                let diff = ts.abs_diff(now);
                if diff > self.cfg.window {
                    return Err(DaeDrop::StaleEventTimestamp);
                }
            }
        }
        let (id, auth) = (pkt.identifier(), pkt.authenticator());
        let window = self.cfg.window;
        if self.seen.iter().any(|s| {
            s.used
                && s.client == client
                && s.id == id
                && s.authenticator == auth
                && now.saturating_sub(s.at) <= window
        }) {
            return Err(DaeDrop::Duplicate);
        }
        if let Some(slot) = self.seen.get_mut(self.next) {
            *slot = Seen {
                used: true,
                client,
                id,
                authenticator: auth,
                at: now,
            };
        }
        self.next = (self.next + 1) % REPLAY_CACHE;
        let mut session = SessionIdentity::default();
        for a in Attributes::new(pkt.attribute_slice()).map_while(Result::ok) {
            match a.kind {
                AttrType::ACCT_SESSION_ID => session.acct_session_id = Some(a.value),
                AttrType::ACCT_MULTI_SESSION_ID => session.acct_multi_session_id = Some(a.value),
                AttrType::USER_NAME => session.user_name = Some(a.value),
                AttrType::FRAMED_IP_ADDRESS => session.framed_ip_address = a.as_ipv4(),
                AttrType::FRAMED_IPV6_PREFIX => session.framed_ipv6_prefix = a.as_ipv6_prefix(),
                AttrType::NAS_PORT => session.nas_port = a.as_u32(),
                AttrType::NAS_PORT_ID => session.nas_port_id = Some(a.value),
                AttrType::CALLING_STATION_ID => session.calling_station_id = Some(a.value),
                AttrType::CALLED_STATION_ID => session.called_station_id = Some(a.value),
                AttrType::NAS_IP_ADDRESS => session.nas_ip_address = a.as_ipv4(),
                AttrType::NAS_IDENTIFIER => session.nas_identifier = Some(a.value),
                _ => {}
            }
        }
        Ok(DaeRequest {
            kind,
            client,
            session,
            packet: pkt,
        })
    }

    /// Builds the answer to `req` into `tx`: ACK on `Ok(())`, NAK with Error-Cause on
    /// `Err(cause)` (RFC 5176 section 3.5), Message-Authenticator first, Proxy-State
    /// copied in order (RFC 2865 section 5.33), signed with the client's secret.
    ///
    /// # Errors
    /// [`EmitError`] if `tx` is too small.
    pub fn respond(
        &self,
        req: &DaeRequest<'_>,
        outcome: Result<(), ErrorCause>,
        tx: &mut [u8],
    ) -> Result<usize, EmitError> {
        let secret = &self
            .clients
            .get(req.client)
            .ok_or(EmitError::ValueTooLarge("unknown client"))?
            .secret;
        let code = match (req.kind, outcome) {
            (DaeKind::Coa, Ok(())) => Code::COA_ACK,
            (DaeKind::Coa, Err(_)) => Code::COA_NAK,
            (DaeKind::Disconnect, Ok(())) => Code::DISCONNECT_ACK,
            (DaeKind::Disconnect, Err(_)) => Code::DISCONNECT_NAK,
        };
        let mut w = Writer::new(
            tx,
            code,
            req.packet.identifier(),
            req.packet.authenticator(),
        )?;
        if let Err(cause) = outcome {
            w.u32(AttrType::ERROR_CAUSE, cause.0)?;
        }
        for a in req.packet.attributes().map_while(Result::ok) {
            if a.kind == AttrType::PROXY_STATE {
                w.attribute(a.kind, a.value)?;
            }
        }
        w.finish(secret)
    }
}
