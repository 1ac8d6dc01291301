//! Peer-pair simulation: our DHCPv6 client against our server (IA_NA + IA_PD) on a
//! virtual clock, with seeded loss.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests"
)]

use core::net::Ipv6Addr;
use core::time::Duration;

use bng_dhcp::v6::client::{Client6, Client6Action, Client6Config, Client6Event, Client6State};
use bng_dhcp::v6::server::{Action6, BindingSlot, Config6, Pool6, Server6};

const SDUID: [u8; 10] = [0, 3, 0, 1, 2, 0, 0, 0, 0, 0xfe];
const CDUID: [u8; 10] = [0, 3, 0, 1, 2, 0, 0, 0, 0, 0x01];

struct Sim {
    now: Duration,
    client: Client6<'static>,
    server: Server6<'static, Pool6<'static>>,
    rng: u64,
    loss_pct: u64,
    inflight: Vec<(Duration, bool, Vec<u8>)>,
    sent: usize,
    events: Vec<Client6Event>,
}

impl Sim {
    fn new(loss_pct: u64, rapid: bool) -> Self {
        let nb = Box::leak(Box::new([0u64; 2]));
        let pb = Box::leak(Box::new([0u64; 1]));
        let pool = Pool6::new()
            .with_addresses("2001:db8:1::1000".parse().unwrap(), 100, nb)
            .unwrap()
            .with_prefixes("2001:db8:100::".parse().unwrap(), 56, 16, pb)
            .unwrap();
        let slots = Box::leak(vec![BindingSlot::Empty; 32].into_boxed_slice());
        let mut cfg = Config6::new(&SDUID);
        cfg.preferred_secs = 300;
        cfg.valid_secs = 600;
        cfg.rapid_commit = rapid;
        let client_cfg = Client6Config {
            duid: &CDUID,
            ia_na: Some(1),
            ia_pd: Some(2),
            rapid_commit: rapid,
        };
        Self {
            now: Duration::from_secs(1),
            client: Client6::new(client_cfg, 77),
            server: Server6::new(cfg, pool, slots).unwrap(),
            rng: 0x2545_f491_4f6c_dd1d,
            loss_pct,
            inflight: Vec::new(),
            sent: 0,
            events: Vec::new(),
        }
    }

    fn lose(&mut self) -> bool {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng % 100 < self.loss_pct
    }

    fn run_until(&mut self, end: Duration) {
        let mut tx = [0u8; 1500];
        for _ in 0..100_000 {
            while let Some(a) = self.client.poll_action(self.now, &mut tx) {
                match a {
                    Client6Action::Transmit { len } => {
                        self.sent += 1;
                        if !self.lose() {
                            self.inflight.push((self.now, true, tx[..len].to_vec()));
                        }
                    }
                    Client6Action::Event(e) => self.events.push(e),
                    _ => unreachable!(),
                }
            }
            while let Some(a) = self.server.poll_action(self.now, &mut tx) {
                if let Action6::Transmit { len, .. } = a {
                    self.sent += 1;
                    if !self.lose() {
                        self.inflight.push((self.now, false, tx[..len].to_vec()));
                    }
                }
            }
            let next = [
                self.inflight.iter().map(|p| p.0).min(),
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
            let due: Vec<_> = core::mem::take(&mut self.inflight);
            for (_, to_server, b) in due {
                if to_server {
                    let _ = self.server.handle_packet(self.now, &b);
                } else {
                    let _ = self.client.handle_packet(self.now, &b);
                }
            }
            self.client.handle_timeout(self.now);
            self.server.handle_timeout(self.now);
        }
        panic!("simulation stuck");
    }
}

#[test]
fn solicit_request_renew_without_loss() {
    let mut s = Sim::new(0, false);
    s.run_until(Duration::from_secs(2));
    assert_eq!(s.client.state(), Client6State::Bound);
    assert_eq!(s.sent, 4, "Solicit, Advertise, Request, Reply");
    let l = *s.client.lease().unwrap();
    let (a, _, valid) = l.address.unwrap();
    assert_eq!(a, "2001:db8:1::1000".parse::<Ipv6Addr>().unwrap());
    assert_eq!(valid, 600);
    assert_eq!(
        l.prefix.map(|p| (p.0, p.1)),
        Some(("2001:db8:100::".parse().unwrap(), 56))
    );
    // T1 = 150 s: over 1800 s the client renews about a dozen times and keeps both
    s.run_until(Duration::from_secs(1800));
    assert_eq!(s.client.lease().unwrap().address.map(|x| x.0), Some(a));
    assert!(!s.events.iter().any(|e| matches!(e, Client6Event::Lost)));
    assert!(s.events.len() >= 10, "renewals: {}", s.events.len());
    assert_eq!(s.server.bindings().count(), 2);
}

#[test]
fn rapid_commit_is_two_messages() {
    let mut s = Sim::new(0, true);
    s.run_until(Duration::from_secs(2));
    assert_eq!(s.client.state(), Client6State::Bound);
    assert_eq!(s.sent, 2);
}

#[test]
fn binds_under_30_percent_loss() {
    let mut s = Sim::new(30, false);
    s.run_until(Duration::from_secs(120));
    assert_eq!(s.client.state(), Client6State::Bound);
    s.run_until(Duration::from_secs(3600));
    s.loss_pct = 0;
    s.run_until(Duration::from_secs(4000));
    assert!(matches!(s.client.state(), Client6State::Bound));
    let a = s.client.lease().unwrap().address.unwrap().0;
    assert!(s.server.bindings().any(|b| b.value.0 == a));
}
