//! `lab`: a complete access network in memory — N PPPoE subscribers running our own
//! PPPoE client and PPP host machines and M IPoE subscribers running our own DHCPv4
//! client machine, the BNG (discovery access concentrator, PPP server sessions with local
//! authentication and a local address pool; a DHCPv4 server with its own local pool; and
//! the dataplane graph: `ethernet-input` → `pppoe-session-input` or `ipoe-input`
//! (classification by MAC, anti-spoofing, DHCP punted to the server) → `nat44` toward a
//! simulated upstream host and back through `nat44` → `ipoe-encap` or `pppoe-encap`), all
//! on one virtual clock.
//!
//! The BNG's PPPoE side is the `bng` gateway's own code: its PPPoE control plane
//! ([`crate::bng::pppoe::PppoeCp`] with [`crate::bng::aaa::LocalAaa`], the session
//! registry and pools), and the forwarding phase runs the gateway's forwarding plane
//! ([`crate::bng::plane::GraphPlane`]) with every session installed through its control
//! API. The IPoE setup still drives the lab's own `ipoe-input` instance and DHCPv4 server
//! (the gateway's IPoE control plane is `bng::ipoe`).
//!
//! What is timed: the PPPoE setup from the first PADI to the last IPCP up and the DHCP
//! setup from the first DISCOVER to the last ACK, both in wall-clock time **with our
//! client machines on the same core**; the forwarding phase only inside
//! `GraphPlane::poll` (wall and thread CPU clock), while the traffic streams in bursts of
//! one frame (packet j of every subscriber, the host's answers, back down). A reference
//! pass sends the same traffic through the same plane without NAT44 for a same-run ratio.
//!
//! No root, no external server, deterministic for a given seed (the counters; the rates
//! are measured). [`run`] returns a [`Report`] and calls a [`Progress`] callback with a
//! [`Status`] for the live summary; the `lab` binary prints both.

#![allow(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "a simulation over its own, well-formed frames: rates as f64, fixed offsets, built-in configs"
)]

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bng_dataplane::backend::Backend;
use bng_dataplane::backend::memory::Memory;
use bng_dataplane::buffer::{Arena, Pool};
use bng_dataplane::graph::{Counters, Frame, Label, Node, Trace, new_frame, run as run_node};
use bng_dataplane::nodes::ethernet::{self, EthernetInput};
use bng_dataplane::nodes::ipoe::{
    self as ipoe_node, Binding, EncapEntry as IpoeEncapEntry, IpoeEncap, IpoeInput, IpoeKey,
};
use bng_dataplane::nodes::nat44::{Direction, Nat44Node};
use bng_dataplane::nodes::pppoe::{
    self as pppoe_node, EncapEntry, PppoeEncap, PppoeSessionInput, SessionKey,
};
use bng_dhcp::v4::client::{
    Client as DhcpClient, ClientAction, ClientConfig as DhcpClientConfig, ClientDestination,
    ClientEvent,
};
use bng_dhcp::v4::server::{
    Action as DhcpAction, Config as DhcpConfig, Event as DhcpEvent, LeaseSlot, Pool as DhcpPool,
    Server as DhcpServer,
};
use bng_dhcp::v4::{Known, MessageType, Packet as DhcpPacket};
use bng_nat44::wire::{Ipv4Packet, L4Repr, PacketRepr};
use bng_nat44::{Config as NatConfig, Mapping, Nat44, Session as NatSession, Storage, Subscriber};
use bng_pppoe::ac::AcConfig;
use bng_pppoe::client::{Action as DiscAction, Client, ClientConfig, Event as DiscEvent};
use bng_pppoe::ethernet::Mac;
use bng_pppoe::ppp::lcp::AuthProto;
use bng_pppoe::ppp::session::{Config as PppConfig, Credentials, Event as PppEvent, Session};
use bng_radius::rand_core::{self, RngCore};

use crate::bng::aaa::LocalAaa;
use crate::bng::config::Config as BngConfig;
use crate::bng::plane::GraphPlane;
use crate::bng::pppoe::{Policy, PppoeCp};
use crate::bng::session::{
    AddressPools, Counters as SessionCounters, Ctx, Forwarding, Port, Punt, PuntKind, Service,
    Sessions, Subscriber as BngSubscriber,
};

/// The BNG's MAC on the access side.
pub const AC_MAC: Mac = [0x02, 0xbb, 0, 0, 0, 1];
/// The BNG's MAC on the upstream side.
pub const UP_MAC: Mac = [0x02, 0xbb, 0, 0, 0, 2];
/// The upstream host's MAC.
pub const HOST_MAC: Mac = [0x02, 0xcc, 0, 0, 0, 1];
/// The upstream host's address.
pub const HOST_ADDR: [u8; 4] = [198, 51, 100, 10];
/// The NAT pool address.
pub const NAT_ADDR: [u8; 4] = [203, 0, 113, 1];

/// The BNG's address toward IPoE subscribers: DHCP server identifier and their router.
pub const IPOE_GW: [u8; 4] = [100, 65, 0, 1];
/// First address of the IPoE pool (separate from the PPPoE pool in 100.64.0.0/16).
pub const IPOE_POOL: [u8; 4] = [100, 65, 0, 10];
/// DHCP lease time of the lab, seconds (T1 is half of it).
pub const IPOE_LEASE_SECS: u32 = 3600;
/// IPoE subscribers arrive in this many groups, 250 ms apart; the first three groups
/// reach T1 (and RENEW) before the lab forwards traffic.
pub const IPOE_ARRIVAL_GROUPS: usize = 8;
/// Every this many IPoE subscribers, one also sends a packet with a spoofed source.
pub const SPOOF_EVERY: usize = 50;
/// Every this many IPoE subscribers, one RELEASEs its lease at the end.
pub const RELEASE_EVERY: usize = 100;

/// UDP flows per subscriber (the first packet of each creates a NAT session).
pub const FLOWS: usize = 4;

/// What to simulate.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// PPPoE subscribers.
    pub subscribers: usize,
    /// IPoE (DHCPv4) subscribers.
    pub ipoe: usize,
    /// UDP packets each subscriber sends upstream (each is answered).
    pub packets: usize,
    /// Seed of the deterministic randomness (CHAP challenges, magic numbers).
    pub seed: u64,
    /// Progress callback every this many rounds (0: never).
    pub progress_every: usize,
    /// Also stream the same traffic through the same plane without NAT44 (the same-run
    /// reference of the forwarding rate).
    pub reference: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            subscribers: 1000,
            ipoe: 1000,
            packets: 16,
            seed: 1,
            progress_every: 8,
            reference: true,
        }
    }
}

/// What happened.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// PPPoE subscribers simulated.
    pub subscribers: usize,
    /// PPPoE sessions that reached IPCP Opened on both sides.
    pub sessions_up: usize,
    /// IPoE subscribers simulated.
    pub ipoe_subscribers: usize,
    /// IPoE subscribers bound by DHCP (ACK seen by the client, binding in the dataplane).
    pub ipoe_up: usize,
    /// IPoE subscribers that renewed their lease at T1 (REQUEST/ACK while bound).
    pub ipoe_renewed: usize,
    /// IPoE subscribers that released their lease at the end (server saw the RELEASE).
    pub ipoe_released: usize,
    /// Subscribers (PPPoE or IPoE) that did not come up, or lost packets.
    pub failures: usize,
    /// Virtual time the PPPoE setup took.
    pub setup_virtual: Duration,
    /// Wall-clock time of the PPPoE setup phase.
    pub setup_wall: Duration,
    /// Virtual time the IPoE (DHCP) setup took, arrivals spread included.
    pub ipoe_setup_virtual: Duration,
    /// Wall-clock time of the IPoE setup phase.
    pub ipoe_setup_wall: Duration,
    /// Packets sent upstream by subscribers (PPPoE and IPoE, spoofed ones excluded).
    pub sent: u64,
    /// Replies that reached the right subscriber with the right addresses.
    pub received: u64,
    /// Of `sent`, by IPoE subscribers.
    pub ipoe_sent: u64,
    /// Of `received`, by IPoE subscribers.
    pub ipoe_received: u64,
    /// Packets sent on purpose with a source address not bound to the sender's MAC.
    pub spoofed_sent: u64,
    /// Packets `ipoe-input` dropped as spoofed.
    pub spoofed_dropped: u64,
    /// Packets sent by released subscribers after their RELEASE.
    pub after_release_sent: u64,
    /// Packets `ipoe-input` dropped for an unknown subscriber.
    pub unknown_dropped: u64,
    /// Packets through the BNG dataplane (both directions).
    pub forwarded: u64,
    /// Wall-clock time of the BNG dataplane work in the forwarding phase.
    pub forward_wall: Duration,
    /// CPU time of the BNG dataplane work in the forwarding phase (this thread's CPU
    /// clock: unlike `forward_wall` it leaves out the time other processes held the core).
    pub forward_cpu: Duration,
    /// NAT port blocks allocated (compliance events).
    pub nat_blocks: u64,
    /// Reference pass (same traffic, same plane, no NAT44): packets through the plane.
    pub reference_forwarded: u64,
    /// Reference pass: wall-clock time of the plane's work.
    pub reference_wall: Duration,
    /// Reference pass: CPU time of the plane's work (this thread's clock).
    pub reference_cpu: Duration,
    /// Reference pass: answers that reached the right subscriber.
    pub reference_received: u64,
    /// Per-node counters: `(node, counter, value)`.
    pub counters: Vec<(&'static str, String, u64)>,
    /// `lab --netns`: the forwarding-load phase, one entry per path measured (bng, and
    /// the kernel on the same namespaces when asked).
    pub load: Vec<Load>,
}

/// One forwarding-load measurement of `lab --netns`: UDP datagrams from the subscriber
/// namespace through the gateway to the server namespace, as fast as one AF_PACKET
/// socket sends them, bounded in count and time.
#[derive(Debug, Clone, Default)]
pub struct Load {
    /// What forwarded: `bng (afpacket)`, `kernel + nftables masquerade`, ...
    pub path: String,
    /// Datagrams the subscribers' socket sent.
    pub offered: u64,
    /// Datagrams the server's interface received.
    pub forwarded: u64,
    /// Time from the first send to the last.
    pub wall: Duration,
    /// Time from the first send until the server's count stopped growing (read every
    /// 50 ms after the last send): what the forwarded rate is measured over.
    pub forward_time: Duration,
    /// CPU time (user + system) of the gateway process during the phase, when it is one.
    pub cpu: Option<Duration>,
}

impl Load {
    /// Datagrams sent per second.
    #[must_use]
    pub fn offered_pps(&self) -> f64 {
        self.offered as f64 / self.wall.as_secs_f64().max(1e-9)
    }

    /// Datagrams received by the server per second, from the first send until the
    /// server's count stopped growing.
    #[must_use]
    pub fn forwarded_pps(&self) -> f64 {
        self.forwarded as f64 / self.forward_time.max(self.wall).as_secs_f64().max(1e-9)
    }
}

impl Report {
    /// Sessions set up per wall-clock second.
    #[must_use]
    pub fn setup_rate(&self) -> f64 {
        self.sessions_up as f64 / self.setup_wall.as_secs_f64().max(1e-9)
    }

    /// IPoE subscribers bound per wall-clock second (DISCOVER, OFFER, REQUEST, ACK
    /// through the graph and the DHCP server).
    #[must_use]
    pub fn ipoe_setup_rate(&self) -> f64 {
        self.ipoe_up as f64 / self.ipoe_setup_wall.as_secs_f64().max(1e-9)
    }

    /// Millions of packets per wall-clock second through the BNG dataplane.
    #[must_use]
    pub fn mpps(&self) -> f64 {
        self.forwarded as f64 / self.forward_wall.as_secs_f64().max(1e-9) / 1e6
    }

    /// Millions of packets per CPU second (this thread's clock) through the BNG
    /// dataplane, and through the reference plane without NAT44 (0 if it did not run).
    #[must_use]
    pub fn mpps_cpu(&self) -> (f64, f64) {
        let rate = |n: u64, t: Duration| {
            if t.is_zero() {
                0.0
            } else {
                n as f64 / t.as_secs_f64() / 1e6
            }
        };
        (
            rate(self.forwarded, self.forward_cpu),
            rate(self.reference_forwarded, self.reference_cpu),
        )
    }

    /// Millions of packets per wall-clock second through the same plane without NAT44
    /// (0 when the reference pass did not run).
    #[must_use]
    pub fn reference_mpps(&self) -> f64 {
        self.reference_forwarded as f64 / self.reference_wall.as_secs_f64().max(1e-9) / 1e6
    }
}

/// Where the run is, for a live summary.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Status {
    /// Sessions up, PPPoE and IPoE together.
    pub up: usize,
    /// Subscribers, PPPoE and IPoE together.
    pub total: usize,
    /// Virtual time of the setup (`lab --netns`: real time since its phase began).
    pub time: Duration,
    /// Packets forwarded so far (0 during setup).
    pub forwarded: u64,
    /// Wall-clock time the forwarding plane took for them.
    pub forward_wall: Duration,
    /// Packets dropped by the plane so far, every reason (spoofed sources included).
    pub drops: u64,
}

impl Status {
    /// Status during setup.
    #[must_use]
    pub fn setup(up: usize, total: usize, time: Duration) -> Self {
        Self {
            up,
            total,
            time,
            ..Self::default()
        }
    }

    /// Millions of packets per wall-clock second of the plane so far.
    #[must_use]
    pub fn mpps(&self) -> f64 {
        self.forwarded as f64 / self.forward_wall.as_secs_f64().max(1e-9) / 1e6
    }
}

/// The live-summary callback: called during setup and forwarding.
pub type Progress<'a> = &'a mut dyn FnMut(&Status);

/// The lab's deterministic randomness as a `RngCore` (the PPPoE control plane draws its
/// cookie key, magic numbers and CHAP challenges from it).
struct LabRng(u64);

impl RngCore for LabRng {
    fn next_u32(&mut self) -> u32 {
        (mix(&mut self.0) >> 32) as u32
    }
    fn next_u64(&mut self) -> u64 {
        mix(&mut self.0)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for c in dest.chunks_mut(8) {
            let v = mix(&mut self.0).to_le_bytes();
            c.copy_from_slice(&v[..c.len()]);
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

/// The lab's forwarding plane as the shared PPPoE control plane sees it: session
/// tables of `pppoe-session-input` and `pppoe-encap`, and the control frames it sends
/// toward the simulated subscribers.
struct LabPlane<'a> {
    decap: &'a mut PppoeSessionInput,
    encap: &'a mut PppoeEncap,
    out: &'a mut Vec<Vec<u8>>,
}

impl Forwarding for LabPlane<'_> {
    fn session_created(&mut self, s: &BngSubscriber) {
        if let crate::bng::session::AccessKey::Pppoe {
            mac,
            session_id,
            vlans,
        } = s.key
        {
            self.decap.insert(
                SessionKey {
                    mac,
                    session_id,
                    vlans,
                },
                s.handle,
            );
        }
    }
    fn session_up(&mut self, s: &BngSubscriber) {
        if let (
            Some(a),
            crate::bng::session::AccessKey::Pppoe {
                mac, session_id, ..
            },
        ) = (s.ipv4, &s.key)
        {
            self.encap.insert(
                u32::from(a),
                EncapEntry {
                    mac: *mac,
                    our_mac: AC_MAC,
                    session_id: *session_id,
                    tx_if: 0,
                },
            );
        }
    }
    fn session_down(&mut self, s: &BngSubscriber) {
        if let Some(a) = s.ipv4 {
            self.encap.remove(u32::from(a));
        }
        if let crate::bng::session::AccessKey::Pppoe {
            mac,
            session_id,
            vlans,
        } = s.key
        {
            self.decap.remove(&SessionKey {
                mac,
                session_id,
                vlans,
            });
        }
    }
    fn set_qos(&mut self, _s: &BngSubscriber) {}
    fn counters(&self, _h: u32) -> SessionCounters {
        SessionCounters::default()
    }
    fn transmit(&mut self, _port: Port, frame: &[u8]) {
        self.out.push(frame.to_vec());
    }
}

/// The BNG's PPPoE side in the lab: the shared control plane (`bng::pppoe`) with local
/// users, the session registry and the pools, as in the `bng` gateway.
struct PppoeSide<'c> {
    cp: PppoeCp<'c, LabRng>,
    aaa: LocalAaa,
    sessions: Sessions,
    pools: AddressPools,
    config: &'c BngConfig,
    out: Vec<Vec<u8>>,
}

impl PppoeSide<'_> {
    /// Runs `f` with the context the control plane needs, then delivers what it sent to
    /// the simulated subscribers.
    fn with(
        &mut self,
        now: Duration,
        decap: &mut PppoeSessionInput,
        encap: &mut PppoeEncap,
        f: impl FnOnce(&mut PppoeCp<'_, LabRng>, &mut Ctx<'_>),
        deliver: &mut dyn FnMut(&[u8]),
    ) {
        {
            let mut plane = LabPlane {
                decap,
                encap,
                out: &mut self.out,
            };
            let mut cx = Ctx {
                now,
                config: self.config,
                plane: &mut plane,
                sessions: &mut self.sessions,
                aaa: &mut self.aaa,
                pools: &mut self.pools,
            };
            f(&mut self.cp, &mut cx);
            while let Some((tag, r)) = cx.aaa.poll_result() {
                self.cp.handle_auth(tag, r, &mut cx);
            }
        }
        for frame in self.out.drain(..) {
            deliver(&frame);
        }
    }
}

/// The lab's `n` subscribers' credentials: `sub<i>@lab` / `pw<i>` (the users file both
/// the in-memory lab and `--netns` give bng).
pub(crate) fn lab_users(n: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
    (0..n)
        .map(|i| {
            (
                format!("sub{i}@lab").into_bytes(),
                format!("pw{i}").into_bytes(),
            )
        })
        .collect()
}

/// PPP client configurations for `users`, borrowing their credentials.
pub(crate) fn client_configs(users: &[(Vec<u8>, Vec<u8>)]) -> Vec<PppConfig<'_>> {
    users
        .iter()
        .map(|(u, p)| {
            PppConfig::client(Credentials {
                user: u,
                password: p,
            })
        })
        .collect()
}

fn sub_mac(i: usize) -> Mac {
    let b = (i as u32).to_be_bytes();
    [0x02, 0x5b, b[0], b[1], b[2], b[3]]
}

fn eth_session(dst: Mac, src: Mac, pppoe: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(14 + pppoe.len());
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&[0x88, 0x64]);
    f.extend_from_slice(pppoe);
    f
}

/// A splitmix64 step: the lab's deterministic randomness.
fn mix(s: &mut u64) -> u64 {
    *s = s.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *s;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

struct Sub<'c> {
    mac: Mac,
    disc: Client<'c>,
    ppp: Option<Session<'c>>,
    sid: u16,
    addr: Option<[u8; 4]>,
    replies: u64,
}

/// Runs the lab.
///
/// # Panics
/// Only on a bug in the lab itself (e.g. a configuration the crates reject).
#[allow(clippy::too_many_lines, reason = "one scenario, read top to bottom")]
pub fn run(opt: &Options, progress: Progress<'_>) -> Report {
    let n = opt.subscribers;
    let m = opt.ipoe;
    // The embedded default: a local users file and a local pool.
    let users = lab_users(n);
    let host_cfgs = client_configs(&users);
    let server_cfg = PppConfig::server(AuthProto::ChapMd5, b"bng-lab", [100, 64, 0, 1]);
    let mut rng = opt.seed;
    // the embedded default of `bng` (no RADIUS, no interim accounting, no QoS)
    let mut bng_cfg = BngConfig::embedded_default();
    bng_cfg.radius.interim_interval = 0;
    bng_cfg.qos.default_profile = None;

    let mut pppoe = PppoeSide {
        cp: PppoeCp::new(
            AcConfig {
                mac: AC_MAC,
                ac_name: b"bng-lab",
                cookie_window: Duration::from_secs(30),
                max_payload: None,
            },
            Policy::new(b""),
            &server_cfg,
            LabRng(mix(&mut rng)),
            "lab",
            None,
            "access0",
        )
        .expect("AC config"),
        aaa: LocalAaa::new(users.iter().map(|(u, p)| {
            (
                String::from_utf8_lossy(u).into_owned(),
                p.clone(),
                None::<String>,
            )
        })),
        sessions: Sessions::new("lab-"),
        pools: AddressPools::new(
            &[crate::bng::config::V4Pool {
                name: "lab".into(),
                first: [100, 64, 0, 2].into(),
                last: [100, 127, 255, 254].into(),
            }],
            &[],
            &[],
        ),
        config: &bng_cfg,
        out: Vec::new(),
    };
    let mut subs: Vec<Sub<'_>> = (0..n)
        .map(|i| Sub {
            mac: sub_mac(i),
            disc: Client::new(ClientConfig::new(sub_mac(i))).expect("client config"),
            ppp: None,
            sid: 0,
            addr: None,
            replies: 0,
        })
        .collect();
    let by_mac: HashMap<Mac, usize> = subs.iter().enumerate().map(|(i, s)| (s.mac, i)).collect();

    // The dataplane of the BNG: port 0 access, port 1 upstream.
    let mut arena = Arena::new(8192);
    let mut pool = arena.pool();
    let mut access = Memory::new();
    let mut upstream = Memory::new();
    let mut eth = EthernetInput {
        macs: vec![AC_MAC, UP_MAC],
        promiscuous: false,
    };
    let mut decap = PppoeSessionInput::default();
    let mut encap = PppoeEncap::default();
    let mut ipoe_in = IpoeInput::default();
    let mut ipoe_encap = IpoeEncap::default();
    let cap = ((n + m) * FLOWS * 2).next_power_of_two().max(1024);
    // one outside address holds 1008 blocks of 64 ports, and subscribers are paired to
    // addresses by hash: an address per 500 subscribers keeps every address below ~100%
    // even where the hash lumps (at 99% load, 1% of 40 000 subscribers found none)
    let nat_cfg = NatConfig::port_block(
        NAT_ADDR.into(),
        u32::try_from((n + m).div_ceil(500)).unwrap_or(1),
    );
    let mut sessions = vec![NatSession::EMPTY; cap];
    let mut session_index = vec![0u64; Storage::index_len(cap, 2)];
    let mut mappings = vec![Mapping::EMPTY; cap];
    let mut mapping_index = vec![0u64; Storage::index_len(cap, 2)];
    let mut subscribers = vec![Subscriber::EMPTY; (n + m).max(16)];
    let mut subscriber_index = vec![0u64; Storage::index_len((n + m).max(16), 1)];
    let mut bitmap = vec![0u64; nat_cfg.bitmap_words()];
    let mut events = vec![None; 4096];
    let nat = Nat44::new(
        nat_cfg,
        Storage {
            sessions: &mut sessions,
            session_index: &mut session_index,
            mappings: &mut mappings,
            mapping_index: &mut mapping_index,
            subscribers: &mut subscribers,
            subscriber_index: &mut subscriber_index,
            block_bitmap: &mut bitmap,
            events: &mut events,
        },
    )
    .expect("NAT config");
    let nat = Nat44Node {
        nat,
        now: Duration::ZERO,
        direction: Direction::InToOut,
    };
    let mut c_eth = Counters::for_node::<EthernetInput>();
    let mut c_decap = Counters::for_node::<PppoeSessionInput>();
    let mut c_ipoe = Counters::for_node::<IpoeInput>();
    let mut trace = Trace::new(0);
    let mut rx = new_frame();
    let mut eth_out = frames::<EthernetInput>();
    let mut decap_out = frames::<PppoeSessionInput>();
    let mut ipoe_out = frames::<IpoeInput>();

    // The IPoE side: DHCPv4 clients, and the BNG's DHCPv4 server with its own pool.
    let pool_size = u32::try_from(m + 16).expect("pool size");
    let mut dhcp_bits = vec![0u64; (m + 16).div_ceil(64)];
    let mut dhcp_leases = vec![LeaseSlot::Empty; (2 * m).max(16)];
    let mut dhcp_cfg = DhcpConfig::new(IPOE_GW.into());
    dhcp_cfg.lease_secs = IPOE_LEASE_SECS;
    dhcp_cfg.subnet_mask = Some([255, 255, 0, 0].into());
    dhcp_cfg.router = Some(IPOE_GW.into());
    let mut ctl = DhcpCtl {
        server: DhcpServer::new(
            dhcp_cfg,
            DhcpPool::new(IPOE_POOL.into(), pool_size, &mut dhcp_bits).expect("DHCP pool"),
            &mut dhcp_leases,
        )
        .expect("DHCP config"),
        by_addr: HashMap::new(),
        released: 0,
    };
    let mut isubs: Vec<IpoeSub> = (0..m)
        .map(|i| IpoeSub {
            mac: ipoe_mac(i),
            dhcp: DhcpClient::new(DhcpClientConfig::new(ipoe_mac(i)), mix(&mut rng)),
            start: Duration::ZERO,
            addr: None,
            last: [0; 4],
            binds: 0,
            replies: 0,
            released: false,
        })
        .collect();
    let ipoe_by_mac: HashMap<Mac, usize> =
        isubs.iter().enumerate().map(|(i, s)| (s.mac, i)).collect();
    let mut tx = [0u8; 1600];
    let mut report = Report {
        subscribers: n,
        ipoe_subscribers: m,
        ..Report::default()
    };

    // ---------------------------------------------------------------- setup
    let t0 = Instant::now();
    let mut now = Duration::from_secs(1);
    for s in &mut subs {
        s.disc.start(now);
    }
    let mut up = 0usize;
    for round in 0..100_000usize {
        let mut busy = false;
        // subscribers speak
        for s in &mut subs {
            while let Some(a) = s.disc.poll_action(now, &mut tx) {
                match a {
                    DiscAction::Transmit(len) => access.push_rx(&tx[..len]),
                    DiscAction::Event(DiscEvent::SessionUp(u)) => {
                        s.sid = u.session_id.get();
                        let i = by_mac[&s.mac];
                        let mut ppp =
                            Session::from_parts(&host_cfgs[i], s.sid, mix(&mut rng), [0; 16]);
                        ppp.start(now);
                        s.ppp = Some(ppp);
                    }
                    DiscAction::Event(_) => {}
                }
                busy = true;
            }
            if let Some(ppp) = &mut s.ppp {
                while let Some(a) = ppp.poll_action(now, &mut tx) {
                    access.push_rx(&eth_session(AC_MAC, s.mac, &tx[..a.len()]));
                    busy = true;
                }
                while let Some(e) = ppp.poll_event() {
                    if let PppEvent::Ipv4Up { local, .. } = e {
                        s.addr = Some(local);
                    }
                }
            }
        }
        // the BNG: everything from the access port goes through the graph
        while access.rx_pending() > 0 {
            busy = true;
            access.rx_burst(&mut pool, &mut rx);
            for p in &mut rx {
                p.meta.rx_if = 0;
            }
            run_node(
                &mut eth,
                &mut rx,
                &mut eth_out,
                &mut pool,
                &mut c_eth,
                &mut trace,
            );
            // discovery and PPP control: punted to the shared PPPoE control plane
            run_node(
                &mut decap,
                &mut eth_out[ethernet::Next::PppoeSession as usize],
                &mut decap_out,
                &mut pool,
                &mut c_decap,
                &mut trace,
            );
            let punted = eth_out[ethernet::Next::PppoeDiscovery as usize]
                .drain(..)
                .map(|p| (PuntKind::PppoeDiscovery, p))
                .chain(
                    decap_out[pppoe_node::Next::Control as usize]
                        .drain(..)
                        .map(|p| (PuntKind::PppControl, p)),
                )
                .collect::<Vec<_>>();
            for (kind, p) in punted {
                let punt = Punt {
                    kind,
                    frame: p.data(),
                    l3_offset: usize::from(p.meta.l3_offset),
                    vlans: p.meta.vlans,
                    handle: Some(p.meta.subscriber),
                };
                pppoe.with(
                    now,
                    &mut decap,
                    &mut encap,
                    |cp, cx| cp.handle_punt(&punt, cx),
                    &mut |f| deliver(&mut subs, &by_mac, now, f),
                );
                pool.free(p);
            }
            for f in eth_out.iter_mut().chain(decap_out.iter_mut()) {
                pool.free_all(f);
            }
        }
        up = usize::try_from(pppoe.cp.stats.ipcp_up).unwrap_or(usize::MAX);
        if opt.progress_every > 0 && round % opt.progress_every == 0 {
            progress(&Status::setup(up, n + m, now));
        }
        let hosts_up = subs.iter().filter(|s| s.addr.is_some()).count();
        if hosts_up == n && up == n {
            break;
        }
        if !busy {
            // nothing to do: jump the virtual clock to the next deadline
            let next = subs
                .iter()
                .flat_map(|s| {
                    [
                        s.disc.poll_timeout(),
                        s.ppp.as_ref().and_then(Session::poll_timeout),
                    ]
                })
                .chain([pppoe.cp.poll_timeout()])
                .flatten()
                .min();
            let Some(t) = next else { break };
            if t > Duration::from_secs(300) {
                break;
            }
            now = now.max(t);
            for s in &mut subs {
                s.disc.handle_timeout(now);
                if let Some(p) = &mut s.ppp {
                    p.handle_timeout(now);
                }
            }
            pppoe.with(
                now,
                &mut decap,
                &mut encap,
                |cp, cx| cp.handle_timeout(cx),
                &mut |f| deliver(&mut subs, &by_mac, now, f),
            );
        }
    }
    progress(&Status::setup(up, n + m, now));
    report.setup_wall = t0.elapsed();
    report.setup_virtual = now.saturating_sub(Duration::from_secs(1));
    report.sessions_up = subs.iter().filter(|s| s.addr.is_some()).count().min(up);

    // ---------------------------------------------------------------- IPoE setup
    // subscribers arrive in groups 250 ms apart; DHCP crosses the graph (`ipoe-input`
    // punts UDP to port 67) to the server, whose ACKs bind them in the dataplane
    let ipoe_t0 = now;
    for (i, s) in isubs.iter_mut().enumerate() {
        s.start = ipoe_t0 + Duration::from_millis(250 * (i % IPOE_ARRIVAL_GROUPS) as u64);
    }
    let t1 = Instant::now();
    {
        let mut g = AccessGraph {
            eth: &mut eth,
            c_eth: &mut c_eth,
            ipoe_in: &mut ipoe_in,
            c_ipoe: &mut c_ipoe,
            ipoe_encap: &mut ipoe_encap,
            rx: &mut rx,
            eth_out: &mut eth_out,
            ipoe_out: &mut ipoe_out,
            trace: &mut trace,
        };
        now = dhcp_run(
            now,
            ipoe_t0 + Duration::from_secs(120),
            false,
            &mut isubs,
            &ipoe_by_mac,
            &mut access,
            &mut pool,
            &mut g,
            &mut ctl,
            &mut tx,
            &mut |b, t| progress(&Status::setup(report.sessions_up + b, n + m, t)),
        );
        report.ipoe_setup_wall = t1.elapsed();
        report.ipoe_setup_virtual = now.saturating_sub(ipoe_t0);
        report.ipoe_up = isubs.iter().filter(|s| s.addr.is_some()).count();
        // the virtual clock reaches T1 of the first three arrival groups: they RENEW
        now = ipoe_t0
            + Duration::from_secs(u64::from(IPOE_LEASE_SECS / 2))
            + Duration::from_millis(600);
        for s in &mut isubs {
            s.dhcp.handle_timeout(now);
        }
        now = dhcp_run(
            now,
            now,
            true,
            &mut isubs,
            &ipoe_by_mac,
            &mut access,
            &mut pool,
            &mut g,
            &mut ctl,
            &mut tx,
            &mut |_, _| {},
        );
        report.ipoe_renewed = isubs.iter().filter(|s| s.binds >= 2).count();
    }

    // ---------------------------------------------------------------- forwarding
    // Every subscriber up sends `packets` UDP datagrams to the upstream host, which
    // answers each. The traffic streams through in bursts of one frame (256 packets):
    // round j carries packet j of every subscriber (flow j % FLOWS: the first FLOWS
    // rounds create the NAT sessions), the host answers the burst, the answers go back
    // down, the subscribers check them. Only `GraphPlane::poll` is timed: the memory
    // backend's copy in and copy out, the nodes and the plane's session layer.
    let mut senders: Vec<Sender> = subs
        .iter()
        .filter_map(|s| {
            s.addr.map(|addr| Sender {
                mac: s.mac,
                addr,
                sid: Some(s.sid),
                spoof: false,
            })
        })
        .collect();
    senders.extend(isubs.iter().enumerate().filter_map(|(i, s)| {
        s.addr.map(|addr| Sender {
            mac: s.mac,
            addr,
            sid: None,
            // a few lie about their source address: anti-spoofing must drop these
            spoof: i % SPOOF_EVERY == 0,
        })
    }));
    // the forwarding phase runs the gateway's forwarding plane (`bng::plane`, as the
    // `bng` binary does) with every session up so far installed through its control API
    let mut ipoe_reg = Sessions::starting_at("ipoe-", IPOE_HANDLE);
    for s in isubs.iter().filter(|s| s.addr.is_some()) {
        let h = ipoe_reg.create(
            now,
            crate::bng::session::AccessKey::Ipoe {
                mac: s.mac,
                vlans: [0, 0],
                circuit: None,
            },
        );
        if let Some(r) = ipoe_reg.get_mut(h) {
            r.ipv4 = s.addr.map(Into::into);
            r.state = crate::bng::session::State::Up;
        }
    }
    now += Duration::from_millis(1);
    let up_total = report.sessions_up + report.ipoe_up;
    let mut plane = lab_plane(Some(nat), [&pppoe.sessions, &ipoe_reg]);
    plane.now = now;
    let pass = forward_pass(
        &mut plane,
        &senders,
        opt.packets,
        &mut access,
        &mut upstream,
        &mut pool,
        &mut |f| match valid_reply(f, &subs, &isubs, &by_mac, &ipoe_by_mac) {
            Some(Who::Pppoe(i)) => {
                subs[i].replies += 1;
                report.received += 1;
            }
            Some(Who::Ipoe(i)) => {
                isubs[i].replies += 1;
                report.received += 1;
                report.ipoe_received += 1;
            }
            None => {}
        },
        &mut |plane, pass| {
            progress(&Status {
                up: up_total,
                total: n + m,
                time: now,
                forwarded: plane.forwarded,
                forward_wall: pass.wall,
                drops: plane_drops(plane),
            });
        },
    );
    report.sent = pass.sent;
    report.ipoe_sent = pass.ipoe_sent;
    report.spoofed_sent = pass.spoofed;
    report.nat_blocks = pass.nat_blocks;
    report.forwarded = plane.forwarded;
    report.forward_wall = pass.wall;
    report.forward_cpu = pass.cpu;
    let plane_rows = plane.counter_rows();
    drop(plane);
    // the same-run reference: the same traffic through the same plane without NAT44
    // (the host answers the subscribers' own addresses)
    if opt.reference {
        let mut plain = lab_plane(None, [&pppoe.sessions, &ipoe_reg]);
        plain.now = now;
        let mut ok = 0u64;
        let pass = forward_pass(
            &mut plain,
            &senders,
            opt.packets,
            &mut access,
            &mut upstream,
            &mut pool,
            &mut |f| {
                ok += u64::from(valid_reply(f, &subs, &isubs, &by_mac, &ipoe_by_mac).is_some());
            },
            &mut |_, _| {},
        );
        report.reference_forwarded = plain.forwarded;
        report.reference_wall = pass.wall;
        report.reference_cpu = pass.cpu;
        report.reference_received = ok;
    }
    // ---------------------------------------------------------------- RELEASE
    // a few IPoE subscribers leave: the server frees the address and the dataplane
    // forgets them, so what they send afterwards is dropped
    for (i, s) in isubs.iter_mut().enumerate() {
        if i % RELEASE_EVERY == RELEASE_EVERY - 1 && s.addr.is_some() {
            s.dhcp.release(now);
            s.released = true;
        }
    }
    {
        let mut g = AccessGraph {
            eth: &mut eth,
            c_eth: &mut c_eth,
            ipoe_in: &mut ipoe_in,
            c_ipoe: &mut c_ipoe,
            ipoe_encap: &mut ipoe_encap,
            rx: &mut rx,
            eth_out: &mut eth_out,
            ipoe_out: &mut ipoe_out,
            trace: &mut trace,
        };
        let _ = dhcp_run(
            now,
            now,
            true,
            &mut isubs,
            &ipoe_by_mac,
            &mut access,
            &mut pool,
            &mut g,
            &mut ctl,
            &mut tx,
            &mut |_, _| {},
        );
    }
    report.ipoe_released = ctl.released;
    for s in isubs.iter().filter(|s| s.released) {
        let ip = udp(s.last, HOST_ADDR, 40_000, 7, b"after-release");
        access.push_rx(&eth_ip(AC_MAC, s.mac, &ip));
        report.after_release_sent += 1;
    }
    while access.rx_pending() > 0 {
        access.rx_burst(&mut pool, &mut rx);
        run_node(
            &mut eth,
            &mut rx,
            &mut eth_out,
            &mut pool,
            &mut c_eth,
            &mut trace,
        );
        run_node(
            &mut ipoe_in,
            &mut eth_out[ethernet::Next::Ip4 as usize],
            &mut ipoe_out,
            &mut pool,
            &mut c_ipoe,
            &mut trace,
        );
        for f in eth_out.iter_mut().chain(ipoe_out.iter_mut()) {
            pool.free_all(f);
        }
    }

    report.failures = subs
        .iter()
        .filter(|s| s.addr.is_none() || s.replies != opt.packets as u64)
        .count()
        + isubs
            .iter()
            .filter(|s| s.binds == 0 || s.replies != opt.packets as u64)
            .count();
    for (name, rows) in [
        (EthernetInput::NAME, c_eth.rows::<EthernetInput>()),
        (PppoeSessionInput::NAME, c_decap.rows::<PppoeSessionInput>()),
        (IpoeInput::NAME, c_ipoe.rows::<IpoeInput>()),
    ] {
        report
            .counters
            .extend(rows.into_iter().map(|(k, v)| (name, k, v)));
    }
    // the forwarding plane's node instances: summed into the setup's rows
    for (name, k, v) in plane_rows {
        match report
            .counters
            .iter_mut()
            .find(|(n, c, _)| *n == name && *c == k)
        {
            Some(row) => row.2 += v,
            None => report.counters.push((name, k, v)),
        }
    }
    let row = |r: &Report, n: &str, c: &str| {
        r.counters
            .iter()
            .find(|(a, b, _)| *a == n && b == c)
            .map_or(0, |x| x.2)
    };
    report.spoofed_dropped = row(&report, IpoeInput::NAME, "drop.spoofed-source");
    report.unknown_dropped = row(&report, IpoeInput::NAME, "drop.unknown-subscriber");
    let ac_c = pppoe.cp.ac_counters();
    report
        .counters
        .push(("pppoe-ac", "pado".into(), ac_c.pado_sent));
    report
        .counters
        .push(("pppoe-ac", "pads".into(), ac_c.pads_sent));
    let st = ctl.server.stats();
    report
        .counters
        .push(("dhcp-server", "offers".into(), st.offers));
    report
        .counters
        .push(("dhcp-server", "acks".into(), st.acks));
    report
        .counters
        .push(("dhcp-server", "naks".into(), st.naks));
    report
        .counters
        .push(("dhcp-server", "dropped".into(), st.dropped));
    drop(pool);
    report
}

/// The handle of IPoE subscriber `i` in `meta.subscriber` (PPPoE ones use their session id).
const IPOE_HANDLE: u32 = 0x0100_0000;

/// An IPoE subscriber: our DHCPv4 client machine and what it holds.
struct IpoeSub {
    mac: Mac,
    dhcp: DhcpClient,
    /// When it arrives (sends its first DISCOVER).
    start: Duration,
    /// The address bound now.
    addr: Option<[u8; 4]>,
    /// The last address it was bound to (the source of its RELEASE).
    last: [u8; 4],
    /// ACKs that bound or extended its lease.
    binds: u32,
    replies: u64,
    released: bool,
}

/// The BNG's IPoE control plane: the DHCPv4 server and who holds which address.
struct DhcpCtl<'s> {
    server: DhcpServer<'s, DhcpPool<'s>>,
    by_addr: HashMap<u32, Mac>,
    released: usize,
}

/// The access side of the BNG's graph that IPoE control traffic crosses.
struct AccessGraph<'a, 'p> {
    eth: &'a mut EthernetInput,
    c_eth: &'a mut Counters,
    ipoe_in: &'a mut IpoeInput,
    c_ipoe: &'a mut Counters,
    ipoe_encap: &'a mut IpoeEncap,
    rx: &'a mut Frame<'p>,
    eth_out: &'a mut [Frame<'p>],
    ipoe_out: &'a mut [Frame<'p>],
    trace: &'a mut Trace,
}

impl DhcpCtl<'_> {
    /// Sends the server's replies to the clients; binds a subscriber in the dataplane
    /// tables when its ACK goes out, unbinds it when its lease is released or expires.
    fn answer(
        &mut self,
        now: Duration,
        subs: &mut [IpoeSub],
        by_mac: &HashMap<Mac, usize>,
        g: &mut AccessGraph<'_, '_>,
        tx: &mut [u8],
    ) {
        while let Some(a) = self.server.poll_action(now, tx) {
            match a {
                DhcpAction::Transmit { len, .. } => {
                    let reply = &tx[..len];
                    let Ok(p) = DhcpPacket::new_checked(reply) else {
                        continue;
                    };
                    let Some((mac, &i)) = p
                        .chaddr()
                        .get(..6)
                        .and_then(|m| <Mac>::try_from(m).ok())
                        .and_then(|m| by_mac.get(&m).map(|i| (m, i)))
                    else {
                        continue;
                    };
                    let ack = Known::collect(p.all_options())
                        .is_ok_and(|k| k.message_type == Some(MessageType::ACK));
                    if ack {
                        let addr = u32::from(p.yiaddr());
                        g.ipoe_in.insert(
                            IpoeKey { mac, vlans: [0, 0] },
                            Binding {
                                addr,
                                subscriber: IPOE_HANDLE + i as u32,
                            },
                        );
                        g.ipoe_encap.insert(
                            addr,
                            IpoeEncapEntry {
                                mac,
                                our_mac: AC_MAC,
                                tx_if: 0,
                            },
                        );
                        self.by_addr.insert(addr, mac);
                    }
                    // out of the access port, to the client's port 68
                    let _ = subs[i].dhcp.handle_packet(now, reply);
                }
                DhcpAction::Event(
                    e @ (DhcpEvent::Released { addr } | DhcpEvent::Expired { addr }),
                ) => {
                    let a = u32::from(addr);
                    if let Some(mac) = self.by_addr.remove(&a) {
                        g.ipoe_in.remove(&IpoeKey { mac, vlans: [0, 0] });
                        g.ipoe_encap.remove(a);
                    }
                    if matches!(e, DhcpEvent::Released { .. }) {
                        self.released += 1;
                    }
                }
                _ => {}
            }
        }
    }
}

/// One round of IPoE control: subscribers that have arrived speak, the BNG's graph
/// punts their DHCP to the server, the server answers. Whether anything happened.
#[allow(clippy::too_many_arguments, reason = "the lab's parts, borrowed apart")]
fn dhcp_round<'p>(
    now: Duration,
    subs: &mut [IpoeSub],
    by_mac: &HashMap<Mac, usize>,
    access: &mut Memory,
    pool: &mut Pool<'p>,
    g: &mut AccessGraph<'_, 'p>,
    ctl: &mut DhcpCtl<'_>,
    tx: &mut [u8],
) -> bool {
    let mut busy = false;
    for s in subs.iter_mut().filter(|s| s.start <= now) {
        while let Some(a) = s.dhcp.poll_action(now, tx) {
            busy = true;
            match a {
                ClientAction::Transmit { len, dst } => {
                    let held = s.dhcp.lease().map(|l| l.addr.octets());
                    let (dmac, src, dip) = match dst {
                        ClientDestination::Broadcast => {
                            ([0xff; 6], held.unwrap_or_default(), [255; 4])
                        }
                        ClientDestination::Server(ip) => {
                            (AC_MAC, held.unwrap_or(s.last), ip.octets())
                        }
                    };
                    let ip = udp(src, dip, 68, 67, &tx[..len]);
                    access.push_rx(&eth_ip(dmac, s.mac, &ip));
                }
                ClientAction::Event(ClientEvent::Bound(l)) => {
                    s.addr = Some(l.addr.octets());
                    s.last = l.addr.octets();
                    s.binds += 1;
                }
                ClientAction::Event(ClientEvent::Lost { .. }) => s.addr = None,
                _ => {}
            }
        }
    }
    while access.rx_pending() > 0 {
        busy = true;
        access.rx_burst(pool, g.rx);
        for p in g.rx.iter_mut() {
            p.meta.rx_if = 0;
        }
        run_node(g.eth, g.rx, g.eth_out, pool, g.c_eth, g.trace);
        run_node(
            g.ipoe_in,
            &mut g.eth_out[ethernet::Next::Ip4 as usize],
            g.ipoe_out,
            pool,
            g.c_ipoe,
            g.trace,
        );
        let punted: Vec<_> = g.ipoe_out[ipoe_node::Next::Dhcp as usize]
            .drain(..)
            .collect();
        for p in punted {
            let l3 = usize::from(p.meta.l3_offset);
            let d = p.data();
            let ihl = usize::from(d.get(l3).copied().unwrap_or(0) & 0x0f) * 4;
            let total = d
                .get(l3 + 2..l3 + 4)
                .map_or(0, |t| usize::from(u16::from_be_bytes([t[0], t[1]])));
            if let Some(bootp) = d.get(l3 + ihl + 8..l3 + total) {
                let _ = ctl.server.handle_packet(now, bootp);
            }
            pool.free(p);
            ctl.answer(now, subs, by_mac, g, tx);
        }
        for f in g.eth_out.iter_mut().chain(g.ipoe_out.iter_mut()) {
            pool.free_all(f);
        }
    }
    busy
}

/// Runs IPoE control until every subscriber is bound (`settle_only` false: the virtual
/// clock jumps to the next deadline when idle, up to `limit`) or, with `settle_only`,
/// until nothing more happens at `now`. Returns the virtual time reached.
#[allow(clippy::too_many_arguments, reason = "the lab's parts, borrowed apart")]
fn dhcp_run<'p>(
    mut now: Duration,
    limit: Duration,
    settle_only: bool,
    subs: &mut [IpoeSub],
    by_mac: &HashMap<Mac, usize>,
    access: &mut Memory,
    pool: &mut Pool<'p>,
    g: &mut AccessGraph<'_, 'p>,
    ctl: &mut DhcpCtl<'_>,
    tx: &mut [u8],
    progress: &mut dyn FnMut(usize, Duration),
) -> Duration {
    for round in 0..1_000_000usize {
        let busy = dhcp_round(now, subs, by_mac, access, pool, g, ctl, tx);
        let bound = subs.iter().filter(|s| s.addr.is_some()).count();
        if round % 8 == 0 {
            progress(bound, now);
        }
        if !settle_only && bound == subs.len() {
            break;
        }
        if busy {
            continue;
        }
        if settle_only {
            break;
        }
        let next = subs
            .iter()
            .map(|s| {
                if s.start > now {
                    Some(s.start)
                } else {
                    s.dhcp.poll_timeout()
                }
            })
            .chain([ctl.server.poll_timeout()])
            .flatten()
            .min();
        let Some(t) = next.filter(|t| *t <= limit) else {
            break;
        };
        now = now.max(t);
        for s in subs.iter_mut().filter(|s| s.start <= now) {
            s.dhcp.handle_timeout(now);
        }
        ctl.server.handle_timeout(now);
    }
    progress(subs.iter().filter(|s| s.addr.is_some()).count(), now);
    now
}

fn eth_ip(dst: Mac, src: Mac, ip: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(14 + ip.len());
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&[0x08, 0x00]);
    f.extend_from_slice(ip);
    f
}

fn ipoe_mac(i: usize) -> Mac {
    let b = (i as u32).to_be_bytes();
    [0x02, 0x1e, b[0], b[1], b[2], b[3]]
}

fn frames<'p, N: Node>() -> Vec<Frame<'p>> {
    (0..N::Next::COUNT).map(|_| new_frame()).collect()
}

/// A frame from the BNG's control plane to the simulated subscriber it is addressed to:
/// discovery to its PPPoE client, session frames to its PPP host session.
fn deliver(subs: &mut [Sub<'_>], by_mac: &HashMap<Mac, usize>, now: Duration, frame: &[u8]) {
    match frame.get(12..14) {
        Some([0x88, 0x63]) => deliver_disc(subs, by_mac, now, frame),
        Some([0x88, 0x64]) => {
            if let Some(s) = frame
                .get(..6)
                .and_then(|m| by_mac.get(m))
                .and_then(|&i| subs.get_mut(i))
                && let Some(ppp) = &mut s.ppp
            {
                let _ = ppp.handle_packet(now, frame.get(14..).unwrap_or_default());
            }
        }
        _ => {}
    }
}

fn deliver_disc(subs: &mut [Sub<'_>], by_mac: &HashMap<Mac, usize>, now: Duration, frame: &[u8]) {
    if let Some(s) = frame
        .get(..6)
        .and_then(|m| by_mac.get(m))
        .and_then(|&i| subs.get_mut(i))
    {
        let _ = s.disc.handle_frame(now, frame);
    }
}

fn udp(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let r = PacketRepr {
        tos: 0,
        ident: sport,
        dont_frag: true,
        ttl: 64,
        src_addr: src.into(),
        dst_addr: dst.into(),
        ip_options: &[],
        l4: L4Repr::Udp {
            src_port: sport,
            dst_port: dport,
            checksum: true,
        },
        payload,
    };
    let mut buf = vec![0u8; 20 + 8 + payload.len()];
    let n = r.emit(&mut buf).unwrap_or(0);
    buf.truncate(n);
    buf
}

/// The upstream host: answers a UDP datagram (Ethernet frame) from the BNG.
fn answer(frame: &[u8]) -> Option<Vec<u8>> {
    let p = Ipv4Packet::new_checked(frame.get(14..)?).ok()?;
    let r = PacketRepr::parse(&p).ok()?;
    if r.dst_addr.octets() != HOST_ADDR {
        return None;
    }
    let L4Repr::Udp {
        src_port, dst_port, ..
    } = r.l4
    else {
        return None;
    };
    let ip = udp(
        HOST_ADDR,
        r.src_addr.octets(),
        dst_port,
        src_port,
        r.payload,
    );
    let mut f = UP_MAC.to_vec();
    f.extend_from_slice(&HOST_MAC);
    f.extend_from_slice(&[0x08, 0x00]);
    f.extend_from_slice(&ip);
    Some(f)
}

/// Keeps `Pool` in the public signature family (so `run`'s locals stay one type).
#[doc(hidden)]
pub fn _pool_type_check(_: &Pool<'_>) {}

/// Which simulated subscriber: index into the PPPoE or the IPoE subscribers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Pppoe(usize),
    Ipoe(usize),
}

/// A subscriber that sends in the forwarding phase.
#[derive(Debug, Clone, Copy)]
struct Sender {
    mac: Mac,
    addr: [u8; 4],
    /// PPPoE session id (`None`: IPoE, plain IPv4 over Ethernet).
    sid: Option<u16>,
    /// Also sends one datagram with a source address not its own.
    spoof: bool,
}

impl Sender {
    /// Its `j`-th datagram to the upstream host (flow `j % FLOWS`), from `src`.
    fn frame(&self, src: [u8; 4], j: usize, payload: &[u8]) -> Vec<u8> {
        let port = 40_000 + u16::try_from(j % FLOWS).unwrap_or(0);
        let ip = udp(src, HOST_ADDR, port, 7, payload);
        match self.sid {
            Some(sid) => {
                // RFC 2516 section 5: PPPoE session header, PPP protocol 0x0021 (IPv4)
                let mut pppoe = vec![0x11, 0x00];
                pppoe.extend_from_slice(&sid.to_be_bytes());
                pppoe.extend_from_slice(&u16::try_from(ip.len() + 2).unwrap_or(0).to_be_bytes());
                pppoe.extend_from_slice(&[0x00, 0x21]);
                pppoe.extend_from_slice(&ip);
                eth_session(AC_MAC, self.mac, &pppoe)
            }
            None => eth_ip(AC_MAC, self.mac, &ip),
        }
    }
}

/// What one forwarding pass sent, and the time the plane took.
#[derive(Debug, Default)]
struct Pass {
    sent: u64,
    ipoe_sent: u64,
    spoofed: u64,
    nat_blocks: u64,
    wall: Duration,
    cpu: Duration,
}

/// Streams `packets` datagrams of every sender through `plane` in bursts of one frame
/// ([`bng_dataplane::graph::FRAME_SIZE`] packets); the upstream host answers each
/// burst, and every frame the plane sends toward the subscribers goes to `reply`.
/// Only [`GraphPlane::poll`] is timed.
#[allow(clippy::too_many_arguments, reason = "the lab's parts, borrowed apart")]
fn forward_pass<'p>(
    plane: &mut GraphPlane<'p, '_>,
    senders: &[Sender],
    packets: usize,
    access: &mut Memory,
    upstream: &mut Memory,
    pool: &mut Pool<'p>,
    reply: &mut dyn FnMut(&[u8]),
    progress: &mut dyn FnMut(&GraphPlane<'p, '_>, &Pass),
) -> Pass {
    let mut pass = Pass::default();
    let mut queued = 0usize;
    let mut bursts = 0usize;
    for j in 0..packets {
        for s in senders {
            access.push_rx(&s.frame(s.addr, j, b"bngkit-lab"));
            pass.sent += 1;
            if s.sid.is_none() {
                pass.ipoe_sent += 1;
            }
            if j == 0 && s.spoof {
                let mut fake = s.addr;
                fake[3] ^= 0x80;
                access.push_rx(&s.frame(fake, 0, b"spoofed"));
                pass.spoofed += 1;
            }
            queued += 1;
            if queued >= bng_dataplane::graph::FRAME_SIZE {
                flush(plane, access, upstream, pool, &mut pass, reply);
                queued = 0;
                bursts += 1;
                if bursts % 64 == 0 {
                    progress(plane, &pass);
                }
            }
        }
    }
    flush(plane, access, upstream, pool, &mut pass, reply);
    progress(plane, &pass);
    pass
}

/// One burst: up through the plane, answered by the host, down through the plane.
fn flush<'p>(
    plane: &mut GraphPlane<'p, '_>,
    access: &mut Memory,
    upstream: &mut Memory,
    pool: &mut Pool<'p>,
    pass: &mut Pass,
    reply: &mut dyn FnMut(&[u8]),
) {
    let mut timed_poll = |plane: &mut GraphPlane<'p, '_>,
                          access: &mut Memory,
                          upstream: &mut Memory,
                          pool: &mut Pool<'p>| {
        let (t, c) = (Instant::now(), thread_cpu());
        plane.poll(access, upstream, pool);
        pass.wall += t.elapsed();
        pass.cpu += thread_cpu().saturating_sub(c);
        // the compliance log: the translator refuses new blocks while its queue is full
        if let Some(nat) = plane.nat_mut() {
            while let Some(e) = nat.nat.poll_event() {
                if matches!(e, bng_nat44::Event::BlockAllocated(_)) {
                    pass.nat_blocks += 1;
                }
            }
        }
    };
    while access.rx_pending() > 0 {
        timed_poll(plane, access, upstream, pool);
    }
    // the upstream host answers every datagram (not BNG time)
    for f in upstream.take_transmitted() {
        if let Some(r) = answer(&f) {
            upstream.push_rx(&r);
        }
    }
    while upstream.rx_pending() > 0 {
        timed_poll(plane, access, upstream, pool);
    }
    for f in access.take_transmitted() {
        reply(&f);
    }
}

/// Whether `f`, sent by the BNG toward the subscribers, is an answer of the upstream
/// host that reached the right subscriber (its MAC, PPPoE session, address) intact.
fn valid_reply(
    f: &[u8],
    subs: &[Sub<'_>],
    isubs: &[IpoeSub],
    by_mac: &HashMap<Mac, usize>,
    ipoe_by_mac: &HashMap<Mac, usize>,
) -> Option<Who> {
    let ip_ok = |ip: &[u8], addr: Option<[u8; 4]>| {
        Ipv4Packet::new_checked(ip).is_ok_and(|p| {
            p.verify_checksum()
                && PacketRepr::parse(&p).is_ok_and(|r| {
                    Some(r.dst_addr.octets()) == addr
                        && r.src_addr.octets() == HOST_ADDR
                        && r.payload == b"bngkit-lab"
                })
        })
    };
    if let Some(&i) = f.get(..6).and_then(|m| ipoe_by_mac.get(m)) {
        let hdr_ok = f.get(6..12) == Some(&AC_MAC[..]) && f.get(12..14) == Some(&[0x08, 0x00]);
        return (hdr_ok && ip_ok(f.get(14..).unwrap_or_default(), isubs.get(i)?.addr))
            .then_some(Who::Ipoe(i));
    }
    let &i = f.get(..6).and_then(|m| by_mac.get(m))?;
    let s = subs.get(i)?;
    let sid_ok =
        f.get(12..14) == Some(&[0x88, 0x64]) && f.get(16..18) == Some(&s.sid.to_be_bytes()[..]);
    (sid_ok && ip_ok(f.get(22..).unwrap_or_default(), s.addr)).then_some(Who::Pppoe(i))
}

/// The gateway's forwarding plane as the lab wires it (next hop already resolved), with
/// every session of the registries installed through its control API.
fn lab_plane<'p, 's>(nat: Option<Nat44Node<'s>>, registries: [&Sessions; 2]) -> GraphPlane<'p, 's> {
    let mut plane = GraphPlane::new(
        AC_MAC,
        UP_MAC,
        [198, 51, 100, 1].into(),
        HOST_ADDR.into(),
        nat,
    );
    plane.gateway_mac = Some(HOST_MAC);
    for s in registries.into_iter().flat_map(Sessions::iter) {
        plane.session_up(s);
    }
    plane
}

/// CPU time this thread has used (`CLOCK_THREAD_CPUTIME_ID`): on a shared machine it
/// leaves out the time other processes held the core, which the wall clock counts.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime(2) only writes the timespec it is given, which lives here.
    #[allow(unsafe_code, reason = "clock_gettime has no safe wrapper in std")]
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &raw mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(
        u64::try_from(ts.tv_sec).unwrap_or(0),
        u32::try_from(ts.tv_nsec).unwrap_or(0),
    )
}

/// Packets `plane` dropped so far: its own drops and its nodes' drop counters.
fn plane_drops(plane: &GraphPlane<'_, '_>) -> u64 {
    plane.drops.values().sum::<u64>()
        + plane
            .counter_rows()
            .iter()
            .filter(|(_, k, _)| k.starts_with("drop."))
            .map(|r| r.2)
            .sum::<u64>()
}
