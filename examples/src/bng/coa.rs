//! The RFC 5176 Dynamic Authorization listener: CoA-Request changes a session's rate
//! (Filter-Id naming a QoS profile, or rate attributes as in Access-Accept) and
//! Session-Timeout; Disconnect-Request ends the session (LCP Terminate-Request and
//! PADT). Sessions are found by Acct-Session-Id, User-Name or Framed-IP-Address
//! (RFC 5176 section 3); none found: NAK with Error-Cause 503 Session-Context-Not-Found.

use std::net::{Ipv4Addr, UdpSocket};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bng_radius::Secret;
use bng_radius::dae::{DaeClient, DaeConfig, DaeKind, DaeServer};
use bng_radius::dict::ErrorCause;

use super::config::{Coa, Config};
use super::radius::authorization;
use super::session::{Ctx, EndCause, Qos, Service};

/// Counters (metrics).
#[derive(Debug, Clone, Copy, Default)]
pub struct CoaStats {
    /// CoA-ACKs sent.
    pub coa_ack: u64,
    /// CoA-NAKs sent.
    pub coa_nak: u64,
    /// Disconnect-ACKs sent.
    pub disconnect_ack: u64,
    /// Disconnect-NAKs sent.
    pub disconnect_nak: u64,
    /// Requests discarded (unknown client, bad authenticator, replay...).
    pub dropped: u64,
}

/// The listener.
pub struct CoaListener {
    sock: UdpSocket,
    srv: DaeServer<'static>,
    nas_ip: Option<Ipv4Addr>,
    nas_id: Vec<u8>,
    rx: Vec<u8>,
    tx: Vec<u8>,
    /// Counters.
    pub stats: CoaStats,
}

impl CoaListener {
    /// Binds `c.listen` with the clients' secrets.
    ///
    /// # Errors
    /// A secret file or the socket.
    pub fn new(cfg: &Config, c: &Coa) -> Result<Self, String> {
        let mut clients = Vec::new();
        for (i, cl) in c.clients.iter().enumerate() {
            let key = format!("coa.clients[{i}].secret_file");
            let s = cfg
                .read_secret(&key, &cl.secret_file)
                .map_err(|e| e.to_string())?;
            clients.push(DaeClient {
                addr: cl.address,
                secret: Secret::new(&s).map_err(|e| format!("{key}: {e:?}"))?,
            });
        }
        let clients: &'static [DaeClient] = Box::leak(clients.into_boxed_slice());
        let sock =
            UdpSocket::bind(c.listen).map_err(|e| format!("coa.listen {}: {e}", c.listen))?;
        sock.set_nonblocking(true).map_err(|e| e.to_string())?;
        Ok(Self {
            sock,
            srv: DaeServer::new(
                DaeConfig {
                    require_event_timestamp: false,
                    ..DaeConfig::default()
                },
                clients,
            ),
            nas_ip: cfg.nas.ip,
            nas_id: cfg.nas.identifier.clone().into_bytes(),
            rx: vec![0; 4096],
            tx: vec![0; 4096],
            stats: CoaStats::default(),
        })
    }

    /// Answers every pending request.
    pub fn poll(&mut self, cx: &mut Ctx<'_>, services: &mut [&mut dyn Service]) {
        loop {
            let Ok((n, from)) = self.sock.recv_from(&mut self.rx) else {
                return;
            };
            let unix = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or(Duration::ZERO);
            let Some(bytes) = self.rx.get(..n) else {
                continue;
            };
            let req = match self.srv.handle_packet(unix, from.ip(), bytes) {
                Ok(r) => r,
                Err(e) => {
                    self.stats.dropped += 1;
                    tracing::warn!(from = %from, reason = %e, "CoA/Disconnect request discarded");
                    continue;
                }
            };
            let id = req.session;
            let outcome = if let Err(c) = id.check_nas(self.nas_ip, Some(&self.nas_id)) {
                Err(c)
            } else if id.is_empty() {
                Err(ErrorCause::MISSING_ATTRIBUTE)
            } else {
                match cx
                    .sessions
                    .find(id.acct_session_id, id.user_name, id.framed_ip_address)
                {
                    None => Err(ErrorCause::SESSION_CONTEXT_NOT_FOUND),
                    Some(h) => match req.kind {
                        DaeKind::Disconnect => {
                            tracing::info!(handle = h, "Disconnect-Request: ending the session");
                            if services
                                .iter_mut()
                                .any(|svc| svc.disconnect(h, EndCause::AdminReset, cx))
                            {
                                Ok(())
                            } else {
                                Err(ErrorCause::SESSION_CONTEXT_NOT_FOUND)
                            }
                        }
                        DaeKind::Coa => {
                            let a = authorization(&req.packet);
                            let qos = a.qos.clone().or_else(|| {
                                let name = a.profile.clone()?;
                                let p = cx.config.qos.profiles.get(&name)?;
                                Some((name, Qos::from(p)))
                            });
                            match (qos, cx.sessions.get_mut(h)) {
                                (_, None) => Err(ErrorCause::SESSION_CONTEXT_NOT_FOUND),
                                (None, Some(_)) if a.session_timeout.is_none() => {
                                    Err(ErrorCause::UNSUPPORTED_ATTRIBUTE)
                                }
                                (q, Some(s)) => {
                                    if let Some(t) = a.session_timeout {
                                        s.session_timeout = Some(t);
                                    }
                                    if let Some(q) = q {
                                        s.qos = Some(q);
                                        let sub = s.clone();
                                        cx.plane.set_qos(&sub);
                                        tracing::info!(
                                            handle = h,
                                            profile = %sub.qos.as_ref().map_or("", |q| q.0.as_str()),
                                            down_bps = sub.qos.as_ref().map_or(0, |q| q.1.down_bps),
                                            up_bps = sub.qos.as_ref().map_or(0, |q| q.1.up_bps),
                                            "CoA: rate changed"
                                        );
                                    }
                                    Ok(())
                                }
                            }
                        }
                    },
                }
            };
            match (req.kind, outcome.is_ok()) {
                (DaeKind::Coa, true) => self.stats.coa_ack += 1,
                (DaeKind::Coa, false) => self.stats.coa_nak += 1,
                (DaeKind::Disconnect, true) => self.stats.disconnect_ack += 1,
                (DaeKind::Disconnect, false) => self.stats.disconnect_nak += 1,
            }
            if let Ok(m) = self.srv.respond(&req, outcome, &mut self.tx)
                && let Some(b) = self.tx.get(..m)
            {
                let _ = self.sock.send_to(b, from);
            }
        }
    }
}
