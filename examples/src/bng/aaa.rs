//! Authentication, authorisation and accounting behind one trait: [`Aaa`], with the
//! local users file ([`LocalAaa`]) and RADIUS (`super::radius::RadiusAaa`).
//!
//! Requests are submitted with a caller's tag and answered later through
//! [`Aaa::poll_result`] (RADIUS answers after a round trip; the local file at once),
//! so a control plane never blocks on a server.

use std::collections::{HashMap, VecDeque};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use bng_pppoe::ppp::session::AuthRequest as PppAuth;

use super::config::{Config, ConfigError};
use super::session::{Counters, EndCause, Mac, Qos, Subscriber};

/// How the subscriber proved who it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    /// PAP: the password (RFC 1334).
    Pap {
        /// Password.
        password: Vec<u8>,
    },
    /// CHAP-MD5 (RFC 1994): identifier, our challenge, the peer's response.
    Chap {
        /// Identifier.
        id: u8,
        /// The challenge we sent.
        challenge: [u8; 16],
        /// The response (16 bytes).
        response: Vec<u8>,
    },
    /// No credentials (IPoE): the user name is the MAC or circuit-id.
    Unauthenticated,
}

/// An authentication request.
#[derive(Debug, Clone)]
pub struct AuthRequest {
    /// User-Name.
    pub user: String,
    /// Credentials.
    pub method: Method,
    /// Client MAC (Calling-Station-Id).
    pub mac: Mac,
    /// NAS-Port-Id (interface, VLANs).
    pub nas_port_id: String,
    /// RADIUS Framed-Protocol: PPP (1) or none.
    pub ppp: bool,
}

impl AuthRequest {
    /// The owned form of a PPP session's request.
    #[must_use]
    pub fn from_ppp(req: &PppAuth<'_>, mac: Mac, nas_port_id: String) -> Self {
        let user = String::from_utf8_lossy(req.user()).into_owned();
        let method = match *req {
            PppAuth::Pap { password, .. } => Method::Pap {
                password: password.to_vec(),
            },
            PppAuth::Chap {
                id,
                challenge,
                response,
                ..
            } => Method::Chap {
                id,
                challenge,
                response: response.to_vec(),
            },
            // MS-CHAPv2 is not offered by this gateway; treat as PAP-less failure.
            PppAuth::MsChapV2 { .. } => Method::Unauthenticated,
        };
        Self {
            user,
            method,
            mac,
            nas_port_id,
            ppp: true,
        }
    }
}

/// What AAA grants.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Authorization {
    /// Framed-IP-Address (RFC 2865 section 5.8).
    pub framed_ip: Option<Ipv4Addr>,
    /// Framed-Pool (RFC 2869 section 5.18).
    pub framed_pool: Option<String>,
    /// Session-Timeout (RFC 2865 section 5.27).
    pub session_timeout: Option<Duration>,
    /// Idle-Timeout (RFC 2865 section 5.28).
    pub idle_timeout: Option<Duration>,
    /// Acct-Interim-Interval (RFC 2869 section 5.16).
    pub interim: Option<Duration>,
    /// Delegated-IPv6-Prefix (RFC 4818).
    pub delegated_prefix: Option<(Ipv6Addr, u8)>,
    /// Framed-IPv6-Prefix (RFC 3162 section 2.3): the prefix advertised on the
    /// subscriber's link (a /64 for SLAAC over PPP).
    pub framed_ipv6_prefix: Option<(Ipv6Addr, u8)>,
    /// A rate limit given as rates (name `radius`), or
    pub qos: Option<(String, Qos)>,
    /// a QoS profile name (Filter-Id, RFC 2865 section 5.11, or the users file).
    pub profile: Option<String>,
    /// Class (RFC 2865 section 5.25).
    pub class: Option<Vec<u8>>,
}

/// The answer to an [`AuthRequest`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthResult {
    /// Accepted, with what is granted.
    Accept(Authorization),
    /// Rejected (reason for the log).
    Reject(String),
}

/// Accounting record kinds (RFC 2866 section 5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcctKind {
    /// Start.
    Start,
    /// Interim-Update.
    Interim,
    /// Stop.
    Stop,
}

/// AAA as the control planes use it.
pub trait Aaa {
    /// Submits a request; its answer comes back from [`Aaa::poll_result`] with `tag`.
    fn submit(&mut self, now: Duration, tag: u64, req: AuthRequest);
    /// An answer, if one is ready.
    fn poll_result(&mut self) -> Option<(u64, AuthResult)>;
    /// Sends (or logs) an accounting record for `s` with counters `c`.
    fn account(
        &mut self,
        now: Duration,
        kind: AcctKind,
        s: &Subscriber,
        c: &Counters,
        cause: Option<EndCause>,
    );
    /// Waits up to `bound` for outstanding accounting (at shutdown).
    fn flush(&mut self, bound: Duration);
    /// Drives I/O and timers (RADIUS); called every loop.
    fn poll(&mut self, _now: Duration) {}
    /// RADIUS round-trip times observed since the last call (metrics).
    fn take_latencies(&mut self) -> Vec<Duration> {
        Vec::new()
    }
}

/// The local users file: PAP and CHAP checked here; accounting goes to the log.
#[derive(Debug, Default)]
pub struct LocalAaa {
    users: HashMap<String, (Vec<u8>, Option<String>)>,
    ready: VecDeque<(u64, AuthResult)>,
    /// Accounting records written (for tests and metrics).
    pub records: u64,
}

impl LocalAaa {
    /// From `cfg`'s users file.
    ///
    /// # Errors
    /// The users file cannot be read or parsed.
    pub fn from_config(cfg: &Config) -> Result<Self, ConfigError> {
        Ok(Self::new(
            cfg.read_users()?
                .into_iter()
                .map(|u| (u.user, u.password.into_bytes(), u.profile)),
        ))
    }

    /// From `(user, password, profile)` entries.
    pub fn new(users: impl IntoIterator<Item = (String, Vec<u8>, Option<String>)>) -> Self {
        Self {
            users: users.into_iter().map(|(u, p, q)| (u, (p, q))).collect(),
            ..Self::default()
        }
    }

    /// Checks `req` now.
    #[must_use]
    pub fn check(&self, req: &AuthRequest) -> AuthResult {
        let Some((pw, profile)) = self.users.get(&req.user) else {
            return AuthResult::Reject("unknown user".into());
        };
        let user = req.user.as_bytes();
        let ok = match &req.method {
            Method::Pap { password } => PppAuth::Pap { user, password }.check_password(user, pw),
            Method::Chap {
                id,
                challenge,
                response,
            } => PppAuth::Chap {
                user,
                id: *id,
                challenge: *challenge,
                response,
            }
            .check_password(user, pw),
            Method::Unauthenticated => true,
        };
        if ok {
            AuthResult::Accept(Authorization {
                profile: profile.clone(),
                ..Authorization::default()
            })
        } else {
            AuthResult::Reject("bad password".into())
        }
    }
}

impl Aaa for LocalAaa {
    fn submit(&mut self, _now: Duration, tag: u64, req: AuthRequest) {
        let r = self.check(&req);
        self.ready.push_back((tag, r));
    }

    fn poll_result(&mut self) -> Option<(u64, AuthResult)> {
        self.ready.pop_front()
    }

    fn account(
        &mut self,
        _now: Duration,
        kind: AcctKind,
        s: &Subscriber,
        c: &Counters,
        cause: Option<EndCause>,
    ) {
        self.records += 1;
        tracing::info!(
            target: "bng::accounting",
            kind = ?kind,
            user = %s.user,
            acct_session_id = %s.acct_session_id,
            in_octets = c.in_bytes,
            out_octets = c.out_bytes,
            in_packets = c.in_packets,
            out_packets = c.out_packets,
            cause = ?cause,
            "accounting"
        );
    }

    fn flush(&mut self, _bound: Duration) {}
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    fn req(method: Method) -> AuthRequest {
        AuthRequest {
            user: "alice".into(),
            method,
            mac: [2, 0, 0, 0, 0, 1],
            nas_port_id: "eth1".into(),
            ppp: true,
        }
    }

    #[test]
    fn local_pap_and_chap() {
        let mut a = LocalAaa::new([("alice".into(), b"pw".to_vec(), Some("gold".into()))]);
        a.submit(
            Duration::ZERO,
            7,
            req(Method::Pap {
                password: b"pw".to_vec(),
            }),
        );
        let (t, r) = a.poll_result().unwrap();
        assert_eq!(t, 7);
        assert_eq!(
            r,
            AuthResult::Accept(Authorization {
                profile: Some("gold".into()),
                ..Authorization::default()
            })
        );
        // CHAP-MD5: MD5(id || secret || challenge), RFC 1994 section 4.1
        let ch = [9u8; 16];
        let resp = bng_pppoe::ppp::auth::chap_md5_response(3, b"pw", &ch).to_vec();
        let ok = a.check(&req(Method::Chap {
            id: 3,
            challenge: ch,
            response: resp.clone(),
        }));
        assert!(matches!(ok, AuthResult::Accept(_)));
        let bad = a.check(&req(Method::Chap {
            id: 4,
            challenge: ch,
            response: resp,
        }));
        assert!(matches!(bad, AuthResult::Reject(_)));
    }
}
