//! Peer-pair simulation: our DHCPv4 client against our server on a virtual clock, with
//! seeded loss (STYLE.md section 10). Nothing sleeps; time jumps to the next deadline.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests"
)]

use core::net::Ipv4Addr;
use core::time::Duration;

use bng_dhcp::v4::client::{Client, ClientAction, ClientConfig, ClientEvent, ClientState};
use bng_dhcp::v4::server::{Action, Config, Event, LeaseSlot, Pool, Server};

const SID: Ipv4Addr = Ipv4Addr::new(100, 64, 0, 1);
const LATENCY: Duration = Duration::from_millis(5);

struct Net {
    rng: u64,
    loss_pct: u64,
    /// (deliver at, to server, bytes)
    inflight: Vec<(Duration, bool, Vec<u8>)>,
    sent: usize,
}

impl Net {
    fn lose(&mut self) -> bool {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng % 100 < self.loss_pct
    }
}

struct Sim {
    now: Duration,
    client: Client,
    server: Server<'static, Pool<'static>>,
    net: Net,
    client_events: Vec<ClientEvent>,
    server_events: Vec<Event>,
}

impl Sim {
    fn new(loss_pct: u64, client_cfg: ClientConfig, server_cfg: Config) -> Self {
        let bits = Box::leak(Box::new([0u64; 2]));
        let slots = Box::leak(vec![LeaseSlot::Empty; 16].into_boxed_slice());
        let pool = Pool::new(Ipv4Addr::new(100, 64, 1, 1), 100, bits).unwrap();
        Self {
            now: Duration::from_secs(1),
            client: Client::new(client_cfg, 0x1234_5678_9abc),
            server: Server::new(server_cfg, pool, slots).unwrap(),
            net: Net {
                rng: 0x9e37_79b9_7f4a_7c15,
                loss_pct,
                inflight: Vec::new(),
                sent: 0,
            },
            client_events: Vec::new(),
            server_events: Vec::new(),
        }
    }

    fn drain(&mut self) {
        let mut tx = [0u8; 1500];
        while let Some(a) = self.client.poll_action(self.now, &mut tx) {
            match a {
                ClientAction::Transmit { len, .. } => {
                    self.net.sent += 1;
                    if !self.net.lose() {
                        self.net
                            .inflight
                            .push((self.now + LATENCY, true, tx[..len].to_vec()));
                    }
                }
                ClientAction::Event(e) => self.client_events.push(e),
                _ => unreachable!(),
            }
        }
        while let Some(a) = self.server.poll_action(self.now, &mut tx) {
            match a {
                Action::Transmit { len, .. } => {
                    self.net.sent += 1;
                    if !self.net.lose() {
                        self.net
                            .inflight
                            .push((self.now + LATENCY, false, tx[..len].to_vec()));
                    }
                }
                Action::Event(e) => self.server_events.push(e),
                _ => unreachable!(),
            }
        }
    }

    /// Runs until `end`, jumping from deadline to deadline.
    fn run_until(&mut self, end: Duration) {
        for _ in 0..100_000 {
            self.drain();
            let next_pkt = self.net.inflight.iter().map(|p| p.0).min();
            let next = [
                next_pkt,
                self.client.poll_timeout(),
                self.server.poll_timeout(),
            ]
            .into_iter()
            .flatten()
            .min();
            let Some(next) = next.filter(|t| *t <= end) else {
                self.now = end;
                return;
            };
            self.now = self.now.max(next);
            let (due, rest): (Vec<_>, Vec<_>) =
                self.net.inflight.drain(..).partition(|p| p.0 <= self.now);
            self.net.inflight = rest;
            for (_, to_server, bytes) in due {
                if to_server {
                    let _ = self.server.handle_packet(self.now, &bytes);
                } else {
                    let _ = self.client.handle_packet(self.now, &bytes);
                }
            }
            self.client.handle_timeout(self.now);
            self.server.handle_timeout(self.now);
        }
        panic!("simulation did not reach {end:?}");
    }

    fn bound_addr(&self) -> Option<Ipv4Addr> {
        self.client.lease().map(|l| l.addr)
    }
}

fn cfg(lease: u32) -> Config {
    let mut c = Config::new(SID);
    c.lease_secs = lease;
    c.subnet_mask = Some(Ipv4Addr::new(255, 255, 0, 0));
    c.router = Some(SID);
    c
}

#[test]
fn dora_then_renewals_without_loss() {
    let mut s = Sim::new(0, ClientConfig::new([2, 0, 0, 0, 0, 1]), cfg(600));
    s.run_until(Duration::from_secs(2));
    assert_eq!(s.client.state(), ClientState::Bound);
    assert_eq!(s.net.sent, 4, "DISCOVER, OFFER, REQUEST, ACK");
    let a = s.bound_addr().unwrap();
    assert_eq!(s.client.lease().unwrap().router, Some(SID));
    // three lease periods: the client renews at T1 each time and never loses the lease
    s.run_until(Duration::from_secs(1800));
    assert_eq!(s.bound_addr(), Some(a));
    assert!(
        !s.client_events
            .iter()
            .any(|e| matches!(e, ClientEvent::Lost { .. }))
    );
    let renewals = s
        .client_events
        .iter()
        .filter(|e| matches!(e, ClientEvent::Bound(_)))
        .count();
    assert!(renewals >= 6, "renewed at each T1, saw {renewals}");
    let l = s.server.leases().next().unwrap();
    assert_eq!(l.addr, a);
    assert_eq!(s.server.leases().count(), 1);
    // release: the server frees the address
    s.client.release(s.now);
    let t = s.now + Duration::from_secs(1);
    s.run_until(t);
    assert_eq!(s.server.leases().count(), 0);
    assert!(matches!(s.server_events.last(), Some(Event::Released { addr }) if *addr == a));
}

#[test]
fn binds_and_keeps_the_lease_under_30_percent_loss() {
    for seed in 1..=8u64 {
        let mut s = Sim::new(30, ClientConfig::new([2, 0, 0, 0, 0, 2]), cfg(600));
        s.net.rng ^= seed.wrapping_mul(0x9e37_79b9);
        s.run_until(Duration::from_secs(300));
        assert_eq!(
            s.client.state(),
            ClientState::Bound,
            "seed {seed}: bound within 300 s"
        );
        s.run_until(Duration::from_secs(3600));
        // six renewal cycles at 30 % loss: a cycle can fail (renew and rebind
        // exchanges all lost), after which the client starts over, as RFC 2131 says
        let lost = s
            .client_events
            .iter()
            .filter(|e| matches!(e, ClientEvent::Lost { .. }))
            .count();
        assert!(lost <= 2, "seed {seed}: lost the lease {lost} times");
        // the network heals: the client holds a lease the server agrees on
        s.net.loss_pct = 0;
        s.run_until(Duration::from_secs(3900));
        assert_eq!(s.client.state(), ClientState::Bound, "seed {seed}");
        let a = s.bound_addr();
        assert!(s.server.leases().any(|l| Some(l.addr) == a), "seed {seed}");
    }
}

#[test]
fn retransmission_backs_off_when_no_server_answers() {
    let mut s = Sim::new(100, ClientConfig::new([2, 0, 0, 0, 0, 3]), cfg(600));
    s.run_until(Duration::from_secs(200));
    // 4, 8, 16, 32, 64, 64 (+-1 s) after t=1: DISCOVERs at ~1, 5, 13, 29, 61, 125, 189
    assert!((6..=8).contains(&s.net.sent), "sent {}", s.net.sent);
    assert_eq!(s.client.state(), ClientState::Selecting);
}

#[test]
fn nak_on_renewal_starts_over() {
    let mut s = Sim::new(0, ClientConfig::new([2, 0, 0, 0, 0, 4]), cfg(600));
    s.run_until(Duration::from_secs(2));
    let a = s.bound_addr().unwrap();
    // the server loses its state (restart with a new pool range): the renewal is NAKed
    let bits = Box::leak(Box::new([0u64; 2]));
    let slots = Box::leak(vec![LeaseSlot::Empty; 16].into_boxed_slice());
    let pool = Pool::new(Ipv4Addr::new(100, 64, 9, 1), 100, bits).unwrap();
    s.server = Server::new(cfg(600), pool, slots).unwrap();
    // give the new server a lease for this client at another address
    s.run_until(Duration::from_secs(400));
    assert!(
        s.client_events
            .iter()
            .any(|e| matches!(e, ClientEvent::Lost { addr } if *addr == a))
    );
    assert_eq!(s.client.state(), ClientState::Bound);
    assert_ne!(s.bound_addr(), Some(a));
}

#[test]
fn rapid_commit_pair() {
    let mut c = ClientConfig::new([2, 0, 0, 0, 0, 5]);
    c.rapid_commit = true;
    let mut sc = cfg(600);
    sc.rapid_commit = true;
    let mut s = Sim::new(0, c, sc);
    s.run_until(Duration::from_secs(2));
    assert_eq!(s.client.state(), ClientState::Bound);
    assert_eq!(s.net.sent, 2, "DISCOVER with rapid commit, ACK");
}
