//! The control API: add, modify and remove subscriber sessions and routes while
//! traffic flows, and read per-session counters for accounting, without a lock on the
//! packet path.
//!
//! A [`Control`] handle (`Send + Clone`, one per control-plane thread that wants one)
//! pushes [`Command`]s into one bounded queue per worker (`std::sync::mpsc`
//! `sync_channel`). Each worker drains its queue at frame boundaries
//! ([`drain`]: at most a budget of commands between two frames, so a burst of changes
//! cannot stall forwarding) and applies them to its own [`Bng`](crate::bng::Bng)
//! tables. A session goes to the worker that owns it under software steering
//! ([`SessionConfig::worker`]); routes go to every worker. Replies (counters, results)
//! come back on channels the command carries.

use std::net::Ipv4Addr;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::time::Duration;

use crate::bng::{Access, Bng, SessionConfig, SessionCounters, SessionId, steer_hash};

/// Why a control request failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ControlError {
    /// The session table is full (`BngConfig::max_sessions`).
    TableFull,
    /// Another session holds this address.
    AddressInUse,
    /// Another session has this (MAC, PPPoE session id, VLANs) or (MAC, VLANs) key.
    KeyInUse,
    /// No session has this id.
    UnknownSession,
    /// The session is refused.
    BadSession(&'static str),
    /// The route is refused.
    BadRoute(&'static str),
    /// The graph's configuration is refused.
    BadConfig(&'static str),
    /// The worker's command queue is full: retry later.
    QueueFull,
    /// The worker has stopped.
    WorkerGone,
    /// The worker did not answer in time.
    Timeout,
}

impl core::fmt::Display for ControlError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::TableFull => f.write_str("session table full"),
            Self::AddressInUse => f.write_str("address held by another session"),
            Self::KeyInUse => f.write_str("MAC/session id/VLANs held by another session"),
            Self::UnknownSession => f.write_str("no such session"),
            Self::BadSession(s) => write!(f, "session refused: {s}"),
            Self::BadRoute(s) => write!(f, "route refused: {s}"),
            Self::BadConfig(s) => write!(f, "configuration refused: {s}"),
            Self::QueueFull => f.write_str("worker command queue full"),
            Self::WorkerGone => f.write_str("worker stopped"),
            Self::Timeout => f.write_str("worker did not answer in time"),
        }
    }
}

impl std::error::Error for ControlError {}

/// An IPv4 route: `prefix/len` out of `port` to the neighbour `next_hop_mac`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// The prefix.
    pub prefix: Ipv4Addr,
    /// Its length (0..=32).
    pub len: u8,
    /// The port.
    pub port: u16,
    /// The next hop's MAC (the control plane resolves it).
    pub next_hop_mac: [u8; 6],
}

/// A reply channel.
pub type Reply<T> = mpsc::Sender<T>;

/// One change or question for a worker's [`Bng`].
#[derive(Debug)]
#[non_exhaustive]
pub enum Command {
    /// Add, or replace (modify) the session with the same id.
    AddSession(Box<SessionConfig>, Option<Reply<Result<(), ControlError>>>),
    /// Remove a session; the reply carries its final counters.
    RemoveSession(
        SessionId,
        Option<Reply<Result<SessionCounters, ControlError>>>,
    ),
    /// Add or replace a route.
    AddRoute(Route, Option<Reply<Result<(), ControlError>>>),
    /// Remove a route.
    RemoveRoute(Ipv4Addr, u8),
    /// The counters of one session.
    SessionCounters(SessionId, Reply<Result<SessionCounters, ControlError>>),
    /// The counters of every session of the worker.
    AllCounters(Reply<Vec<(SessionId, SessionCounters)>>),
    /// The per-node counter rows of the worker's graph.
    NodeCounters(Reply<Vec<(&'static str, String, u64)>>),
    /// Downstream packets to this public (not translated) subscriber address belong
    /// to worker `.1` (`None`: forget it). For the workers' steering stages
    /// ([`crate::worker::Steering`]); a lone `Bng` ignores it.
    SteerAddress(Ipv4Addr, Option<usize>),
    /// Add a route-based ESP tunnel, or replace its SAs (a rekey); see
    /// [`Bng::add_tunnel`]. A tunnel's SAs live in one worker (their sequence numbers
    /// and replay window are that worker's).
    AddTunnel(
        Box<crate::bng::TunnelConfig>,
        Option<Reply<Result<(), ControlError>>>,
    ),
    /// Remove a tunnel's SAs ([`Bng::remove_tunnel`]).
    RemoveTunnel(u32, Option<Reply<Result<(), ControlError>>>),
    /// Route `prefix/len` into tunnel `.2` ([`Bng::add_tunnel_route`]); removed with
    /// [`Command::RemoveRoute`].
    AddTunnelRoute(Ipv4Addr, u8, u32, Option<Reply<Result<(), ControlError>>>),
}

/// Commands applied per frame boundary at most by [`drain`].
pub const DRAIN_BUDGET: usize = 64;

/// Applies up to `budget` queued commands to `bng`; returns how many. Call between
/// frames. Returns `None` when every [`Control`] handle is gone and the queue is
/// empty (the worker may stop).
pub fn drain(rx: &Receiver<Command>, bng: &mut Bng<'_>, budget: usize) -> Option<usize> {
    let mut n = 0;
    while n < budget {
        match rx.try_recv() {
            Ok(c) => {
                bng.apply(c);
                n += 1;
            }
            Err(mpsc::TryRecvError::Empty) => break,
            Err(mpsc::TryRecvError::Disconnected) => return (n > 0).then_some(n),
        }
    }
    Some(n)
}

/// The control plane's handle on the workers' command queues.
#[derive(Debug, Clone)]
pub struct Control {
    queues: Vec<SyncSender<Command>>,
    /// Weighted placement of sessions ([`crate::worker::place`]); empty: equal.
    shares: Vec<u32>,
    /// How long the blocking requests wait for a worker's answer.
    pub timeout: Duration,
}

impl Control {
    /// `workers` bounded command queues of `depth` commands: the handle, and the
    /// receiving end for each worker (by worker index).
    #[must_use]
    pub fn new(workers: usize, depth: usize) -> (Self, Vec<Receiver<Command>>) {
        let (queues, rxs) = (0..workers.max(1))
            .map(|_| mpsc::sync_channel(depth.max(1)))
            .unzip();
        (
            Self {
                queues,
                shares: Vec::new(),
                timeout: Duration::from_secs(5),
            },
            rxs,
        )
    }

    /// Number of workers.
    #[must_use]
    pub fn workers(&self) -> usize {
        self.queues.len()
    }

    /// Queues a command for worker `w` without blocking.
    ///
    /// # Errors
    /// [`ControlError::QueueFull`], [`ControlError::WorkerGone`].
    pub fn send(&self, w: usize, cmd: Command) -> Result<(), ControlError> {
        let q = self.queues.get(w).ok_or(ControlError::WorkerGone)?;
        q.try_send(cmd).map_err(|e| match e {
            TrySendError::Full(_) => ControlError::QueueFull,
            TrySendError::Disconnected(_) => ControlError::WorkerGone,
        })
    }

    /// The worker that owns a session: [`SessionConfig::worker`], or by the weighted
    /// shares of [`Control::set_shares`].
    #[must_use]
    pub fn worker_of(&self, s: &SessionConfig) -> usize {
        if self.shares.is_empty() {
            return s.worker(self.queues.len());
        }
        let sid = if let Access::Pppoe { session_id } = s.access {
            session_id
        } else {
            0
        };
        crate::worker::place(steer_hash(s.mac, sid), &self.shares)
    }

    /// Places sessions by weighted shares, one per worker (worker `w` owns `shares[w]`
    /// parts of the steering hash space): for a receiving worker that steers, a smaller
    /// share balances its steering work. Give every worker's
    /// [`Steering::set_shares`](crate::worker::Steering::set_shares) the same shares,
    /// before sessions are added. `false` (and nothing changes) unless there is one
    /// share per worker.
    pub fn set_shares(&mut self, shares: &[u32]) -> bool {
        if shares.len() != self.queues.len() {
            return false;
        }
        self.shares = shares.to_vec();
        true
    }

    /// Queues an add (or modify) of a session on its owning worker; the worker applies
    /// it at its next frame boundary. Fire and forget: use
    /// [`Control::add_session_wait`] for the result.
    ///
    /// # Errors
    /// [`ControlError::QueueFull`], [`ControlError::WorkerGone`].
    pub fn add_session(&self, s: SessionConfig) -> Result<(), ControlError> {
        let w = self.worker_of(&s);
        self.steer(&s, w)?;
        self.send(w, Command::AddSession(Box::new(s), None))
    }

    /// With more than one worker, tells every worker where a public subscriber
    /// address lives (translated addresses are steered by their pool slice).
    fn steer(&self, s: &SessionConfig, w: usize) -> Result<(), ControlError> {
        if self.queues.len() > 1 && !s.nat {
            for q in 0..self.queues.len() {
                self.send(q, Command::SteerAddress(s.addr, Some(w)))?;
            }
        }
        Ok(())
    }

    /// Adds (or modifies) a session and waits for the worker's answer.
    ///
    /// # Errors
    /// The queue's errors, [`ControlError::Timeout`], or the worker's refusal.
    pub fn add_session_wait(&self, s: SessionConfig) -> Result<(), ControlError> {
        let w = self.worker_of(&s);
        self.steer(&s, w)?;
        let (tx, rx) = mpsc::channel();
        self.send(w, Command::AddSession(Box::new(s), Some(tx)))?;
        self.wait(&rx)?
    }

    /// Queues the removal of a session from worker `w` (its owner:
    /// [`Control::worker_of`] of its configuration).
    ///
    /// # Errors
    /// [`ControlError::QueueFull`], [`ControlError::WorkerGone`].
    pub fn remove_session(&self, w: usize, id: SessionId) -> Result<(), ControlError> {
        self.send(w, Command::RemoveSession(id, None))
    }

    /// Removes a session from worker `w` and waits for its final counters (for the
    /// accounting stop).
    ///
    /// # Errors
    /// The queue's errors, [`ControlError::Timeout`], [`ControlError::UnknownSession`].
    pub fn remove_session_wait(
        &self,
        w: usize,
        id: SessionId,
    ) -> Result<SessionCounters, ControlError> {
        let (tx, rx) = mpsc::channel();
        self.send(w, Command::RemoveSession(id, Some(tx)))?;
        self.wait(&rx)?
    }

    /// Adds a route on every worker and waits for their answers.
    ///
    /// # Errors
    /// The queue's errors, [`ControlError::Timeout`], or a worker's refusal.
    pub fn add_route(&self, r: Route) -> Result<(), ControlError> {
        let mut rxs = Vec::new();
        for w in 0..self.queues.len() {
            let (tx, rx) = mpsc::channel();
            self.send(w, Command::AddRoute(r, Some(tx)))?;
            rxs.push(rx);
        }
        for rx in rxs {
            self.wait(&rx)??;
        }
        Ok(())
    }

    /// Queues the removal of a route on every worker.
    ///
    /// # Errors
    /// [`ControlError::QueueFull`], [`ControlError::WorkerGone`].
    pub fn remove_route(&self, prefix: Ipv4Addr, len: u8) -> Result<(), ControlError> {
        for w in 0..self.queues.len() {
            self.send(w, Command::RemoveRoute(prefix, len))?;
        }
        Ok(())
    }

    /// The counters of a session on worker `w`.
    ///
    /// # Errors
    /// The queue's errors, [`ControlError::Timeout`], [`ControlError::UnknownSession`].
    pub fn session_counters(
        &self,
        w: usize,
        id: SessionId,
    ) -> Result<SessionCounters, ControlError> {
        let (tx, rx) = mpsc::channel();
        self.send(w, Command::SessionCounters(id, tx))?;
        self.wait(&rx)?
    }

    /// The counters of every session on every worker (a snapshot per worker, taken at
    /// that worker's next frame boundary).
    ///
    /// # Errors
    /// The queue's errors, [`ControlError::Timeout`].
    pub fn all_counters(&self) -> Result<Vec<(SessionId, SessionCounters)>, ControlError> {
        let mut rxs = Vec::new();
        for w in 0..self.queues.len() {
            let (tx, rx) = mpsc::channel();
            self.send(w, Command::AllCounters(tx))?;
            rxs.push(rx);
        }
        let mut all = Vec::new();
        for rx in rxs {
            all.extend(self.wait(&rx)?);
        }
        Ok(all)
    }

    /// The per-node counter rows of worker `w`.
    ///
    /// # Errors
    /// The queue's errors, [`ControlError::Timeout`].
    pub fn node_counters(
        &self,
        w: usize,
    ) -> Result<Vec<(&'static str, String, u64)>, ControlError> {
        let (tx, rx) = mpsc::channel();
        self.send(w, Command::NodeCounters(tx))?;
        self.wait(&rx)
    }

    fn wait<T>(&self, rx: &Receiver<T>) -> Result<T, ControlError> {
        rx.recv_timeout(self.timeout).map_err(|e| match e {
            RecvTimeoutError::Timeout => ControlError::Timeout,
            RecvTimeoutError::Disconnected => ControlError::WorkerGone,
        })
    }
}
