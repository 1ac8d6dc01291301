//! `Bng`: one worker's subscriber-gateway graph, composed of the nodes.
//!
//! ```text
//! upstream (subscriber -> Internet):
//!   rx[access] -> ethernet-input -+-> pppoe-session-input -> subscriber-input -+-> ip4-lookup -> ip4-rewrite -> tx[upstream]
//!                (802.1Q / QinQ)  +-> ip4-input -> ipoe-input ---^             +-> ip4-lookup -> nat44 in2out -^
//!                                                 (anti-spoof)      (anti-spoof, per-session counters)
//! downstream (Internet -> subscriber):
//!   rx[upstream] -> ethernet-input -> ip4-input -+-> nat44 out2in -> subscriber-output -> tx[access]
//!                                                +----------------------^  (one lookup by address
//!                                                                           in `AddrIndex`: TTL,
//!                                                                           counters, PPPoE or IPoE encap
//!                                                                           with the session's VLANs)
//! control: PPPoE discovery, PPP control (LCP, auth, NCP), DHCP, IPv4 to our own addresses
//!          -> the punt queue (Bng::poll_punt); ARP for our addresses -> arp-input -> tx[rx port]
//! ICMP errors (`nodes::icmp`, `BngConfig::icmp`):
//!   up:   ip4-lookup (TTL 1) -> icmp-error -> subscriber-output -> tx[access]
//!   down: subscriber-output (TTL 1, or DF and over `BngConfig::pppoe_mtu` toward a PPPoE
//!         session) -> icmp-error -> ip4-lookup -> [nat44 in2out, RFC 5508] -> ip4-rewrite
//!         subscriber-output (over the PPPoE MTU, DF clear) -> ip4-fragment -> tx[access]
//! ```
//!
//! Route-based ESP tunnels ([`Bng::add_tunnel`], [`Bng::add_tunnel_route`]): a FIB
//! route may name a tunnel instead of an adjacency. Upstream packets routed into a
//! tunnel skip NAT44 (a business subscriber's site-to-site VPN keeps its addresses),
//! then `esp-encrypt` (RFC 4303 tunnel mode, optional RFC 3948 UDP encapsulation), and
//! the outer packet takes `ip4-lookup` and `ip4-rewrite` to the peer. Downstream, ESP
//! to our addresses goes `ip4-input` -> `esp-decrypt` -> `esp-inner-check` (the inner
//! source must route into the same tunnel) -> `ip4-input` again, then as any upstream
//! packet to a subscriber.
//!
//! Fused passes (VPP runs several nodes' work per packet in one loop where it pays):
//! with small tables (no warm-up passes), an upstream frame's PPPoE session packets
//! take `ethernet-input`, `pppoe-fast-input` (decap, anti-spoofing, counters,
//! `ip4-lookup`), `nat44` in2out and `ip4-rewrite` in one loop over the frame, unless
//! the trace is on or tunnel routes exist (then node by node); a downstream frame's
//! IPv4 packets take `ethernet-input`, `ip4-input`, `nat44` out2in and
//! `subscriber-output` in one loop (unless the trace is on or tunnels exist). Each
//! node's counters are still added once per frame, and the packets leave in the
//! order the node-by-node path sends them (test `fused_passes_equal_the_node_by_node_path`).
//!
//! PPPoE sessions' TCP SYNs pass `tcp-mss-clamp` both ways (after
//! `pppoe-session-input` and after `subscriber-output`; `BngConfig::pppoe_mtu`).
//!
//! Per-subscriber QoS ([`QosProfile`], `nodes::qos`): sessions with an upstream
//! profile leave `subscriber-input` on its `qos-police-up` edges (RFC 2697/2698
//! policer: drop or DSCP re-mark) before `ip4-lookup`; sessions with a downstream
//! profile leave `subscriber-output` (which found the session by address and
//! encapsulated the packet) on its `qos-down` edge: a policer (`qos-police-down`) or
//! the shaper (per-session token bucket and bounded FIFO, `qos-shaper`), whose queued
//! packets are released by later [`Bng::process`] calls or [`Bng::poll_shaper`].
//! Sessions without a profile pay one predictable branch on a flag in the session slot
//! the node reads anyway. Time is each frame's `now`; nothing here reads a clock. A
//! session's counters count what passed QoS (a policed or tail-dropped packet is not
//! accounted).
//!
//! Every punt edge goes through the `punt` node (`nodes::punt`: classification, a
//! token-bucket rate limit and a queue share per control type, so a PADI or DHCP flood
//! cannot starve forwarding or the other types); admitted frames are copied out to the
//! control plane's queue (`BngConfig::punt_queue`) as far as it has room.
//!
//! One `Bng` per worker. It owns its tables (subscriber sessions, FIB, NAT44 over
//! [`NatTables`]), the per-node counters and the intermediate frames (allocated once),
//! so processing a frame allocates nothing except for punted frames, which are copied
//! out for the control plane. Tables change only between frames, through
//! [`Bng::apply`] (see [`crate::control`]), so the packet path takes no lock.

#![allow(
    clippy::inline_always,
    reason = "per-packet functions of the fused passes: inlined into the frame loop (callgrind: the calls cost more instructions than the work)"
)]
#![allow(
    clippy::indexing_slicing,
    reason = "output frame vectors have one entry per edge (Label::COUNT), so an edge index is always in bounds"
)]

use core::time::Duration;
use std::collections::VecDeque;
use std::net::Ipv4Addr;

use bng_esp::crypto::{CryptoError, Transform};
use bng_esp::rand_core::{CryptoRng, CryptoRngCore, Error as RngError, RngCore};
use bng_esp::sa::{Event as SaEvent, Inbound, Mode, Outbound, Stats as SaStats, Tunnel};
use bng_nat44::{Config as NatConfig, Mapping, Nat44, Session as NatSession, Storage, Subscriber};
use hashbrown::HashMap;

use crate::backend::prefetch::prefetch_read;
use crate::buffer::{Pkt, Pool};
use crate::control::{Command, ControlError, Route};
use crate::fib::Fib;
use crate::graph::{
    Counters, FRAME_SIZE, Frame, Label, Node, Tally, Trace, Verdict, new_frame, run, run2,
};
use crate::nodes::arp::{self, ArpInput, ArpInterface};
use crate::nodes::esp::{self as esp_node, EspDecrypt, EspEncrypt};
use crate::nodes::ethernet::{self, EthernetInput};
use crate::nodes::icmp::{self, IcmpError, IcmpLimit};
use crate::nodes::ip4::{self, Adjacency, Ip4Lookup, Ip4Rewrite};
use crate::nodes::ipoe::{self, Binding, IpoeInput, IpoeKey};
use crate::nodes::mss::{self, MssClamp};
use crate::nodes::nat44::{self as nat_node, Direction, Nat44Node};
use crate::nodes::pppoe::{self, PppoeSessionInput, SessionKey};
use crate::nodes::punt::{
    self as punt_node, Punt as PuntNode, PuntConfig, PuntStats, PuntType, TypeLimit,
};
use crate::nodes::qos::{self, Policer, PolicerStats, Profile, Shaper, ShaperProfile, ShaperStats};

/// The control plane's name for a subscriber session (any value; unique per `Bng`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(pub u32);

/// How a subscriber reaches us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// A PPPoE session (RFC 2516 section 6), keyed by (MAC, session id, VLANs).
    Pppoe {
        /// The PPPoE session id (non-zero).
        session_id: u16,
    },
    /// An IPoE subscriber, keyed by (MAC, VLANs); the DHCP relay agent circuit id
    /// (RFC 3046 option 82 sub-option 1) it was bound through, if any, is kept for the
    /// control plane (the dataplane classifies by MAC and VLANs, since option 82 is
    /// only in DHCP messages).
    Ipoe {
        /// The option-82 circuit id.
        circuit_id: Option<Vec<u8>>,
    },
}

/// Per-subscriber QoS, enforced by the graph (see the module docs). Changing it with
/// a session modify ([`Bng::add_session`] with the same id, as for a RADIUS `CoA` rate
/// change) takes effect on the next frame, with full buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QosProfile {
    /// Upstream policer (bits/s and burst of IPv4 bytes; drop or DSCP re-mark), if any.
    pub up: Option<Profile>,
    /// Downstream policer or shaper, if any.
    pub down: Option<DownQos>,
}

impl QosProfile {
    /// Upstream policed to `up_bps` (over the rate: dropped) and downstream shaped to
    /// `down_bps` (a queue of 64 packets), both with a burst of `burst_bytes`.
    #[must_use]
    pub fn rates(up_bps: u64, down_bps: u64, burst_bytes: u32) -> Self {
        Self {
            up: Some(Profile::police(up_bps, u64::from(burst_bytes))),
            down: Some(DownQos::Shape(ShaperProfile {
                rate: down_bps,
                burst: u64::from(burst_bytes),
                queue: 64,
            })),
        }
    }
}

/// Downstream QoS of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DownQos {
    /// Police (drop or re-mark over the rate).
    Police(Profile),
    /// Shape: delay within a bounded per-session queue, tail drop beyond it.
    Shape(ShaperProfile),
}

/// Packets the downstream shaper of one `Bng` holds at most in all its queues, unless
/// [`Bng::set_shaper_limit`] says otherwise.
pub const SHAPER_MAX_QUEUED: usize = 4096;

/// One subscriber session as the control plane provisions it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionConfig {
    /// The control plane's name for it.
    pub id: SessionId,
    /// The access port it is on.
    pub port: u16,
    /// The subscriber's MAC address.
    pub mac: [u8; 6],
    /// Outer and inner VLAN IDs, 0 where absent (`[0, 0]` untagged, `[s, 0]` one
    /// 802.1Q tag, `[s, c]` QinQ).
    pub vlans: [u16; 2],
    /// PPPoE or IPoE.
    pub access: Access,
    /// The subscriber's IPv4 address: the only source accepted (anti-spoofing) and
    /// the destination its downstream traffic is found by.
    pub addr: Ipv4Addr,
    /// Translate the subscriber's traffic with NAT44 (needs the `Bng`'s NAT tables).
    pub nat: bool,
    /// Rates, if any.
    pub qos: Option<QosProfile>,
}

impl SessionConfig {
    /// The worker that owns this session under software steering: a hash of (MAC,
    /// PPPoE session id) modulo `workers` (see [`steer_hash`]).
    #[must_use]
    pub fn worker(&self, workers: usize) -> usize {
        let sid = match self.access {
            Access::Pppoe { session_id } => session_id,
            Access::Ipoe { .. } => 0,
        };
        worker_of(steer_hash(self.mac, sid), workers)
    }
}

/// The steering hash of a subscriber: its MAC and PPPoE session id (0 for IPoE), the
/// key NICs cannot RSS on for PPPoE (accel-ppp's single-core limitation).
#[must_use]
#[inline(always)]
pub fn steer_hash(mac: [u8; 6], session_id: u16) -> u64 {
    steer_key_hash(
        u64::from_be_bytes([mac[0], mac[1], mac[2], mac[3], mac[4], mac[5], 0, 0])
            | u64::from(session_id),
    )
}

/// [`steer_hash`] of its key: the MAC in the top 48 bits (network order), the session
/// id in the low 16.
#[must_use]
#[inline(always)]
pub fn steer_key_hash(k: u64) -> u64 {
    // a 64-bit finaliser (murmur3 fmix64): every input bit reaches every output bit
    let mut h = k ^ (k >> 33);
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// The worker of a steering hash.
#[must_use]
#[inline(always)]
pub fn worker_of(hash: u64, workers: usize) -> usize {
    // multiply-shift instead of a division
    let w = u64::try_from(workers.max(1)).unwrap_or(1);
    usize::try_from(((hash >> 32) * w) >> 32).unwrap_or(0)
}

/// Packets and bytes of one session, for accounting (RADIUS Acct-Input/Output-*).
/// "Up" is from the subscriber (its input), "down" toward it; bytes are of the IPv4
/// packet (without Ethernet, VLAN or PPPoE headers).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionCounters {
    /// Packets from the subscriber forwarded.
    pub up_packets: u64,
    /// Their bytes.
    pub up_bytes: u64,
    /// Packets to the subscriber forwarded.
    pub down_packets: u64,
    /// Their bytes.
    pub down_bytes: u64,
}

/// One port of the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortConfig {
    /// The port's MAC address.
    pub mac: [u8; 6],
    /// Our IPv4 address on the port: the gateway address subscribers ARP for on an
    /// access port, the upstream address on the upstream port. Answered for ARP;
    /// packets to it are punted.
    pub addr: Ipv4Addr,
}

/// The shape of one worker's graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BngConfig {
    /// The ports, by port number (the index of `rx_if`/`tx_if` and of the `tx` frames).
    pub ports: Vec<PortConfig>,
    /// The upstream port's number; every other port is an access port.
    pub upstream: u16,
    /// Most subscriber sessions.
    pub max_sessions: usize,
    /// TPID of the outer tag written toward QinQ subscribers (0x88a8 802.1ad, or
    /// 0x8100 / 0x9100 where the access network uses those); single tags are 0x8100.
    pub qinq_tpid: u16,
    /// Punted frames kept for the control plane at most; more are dropped and counted.
    pub punt_queue: usize,
    /// Packet trace records kept (0: off).
    pub trace: usize,
    /// The PPPoE link MTU the TCP MSS of PPPoE sessions is clamped to (`tcp-mss-clamp`
    /// on SYNs both ways: MSS = MTU - 40; RFC 4638 section 1); 0 turns clamping off.
    /// Also the largest IPv4 datagram sent to a PPPoE session: a larger one is
    /// fragmented, or with DF set answered with ICMP "fragmentation needed" (RFC 1191);
    /// 0: no limit.
    pub pppoe_mtu: u16,
    /// ICMP errors the gateway sends (time exceeded, fragmentation needed; see
    /// `nodes::icmp`): the rate limit, or `per_sec` 0 for none.
    pub icmp: IcmpLimit,
}

impl BngConfig {
    /// One access port (0) and one upstream port (1) with room for `max_sessions`.
    #[must_use]
    pub fn two_ports(access: PortConfig, upstream: PortConfig, max_sessions: usize) -> Self {
        Self {
            ports: vec![access, upstream],
            upstream: 1,
            max_sessions,
            qinq_tpid: 0x88a8,
            punt_queue: 1024,
            trace: 0,
            pppoe_mtu: 1492,
            icmp: IcmpLimit::default(),
        }
    }
}

/// The storage of one worker's NAT44 translator (`bng-nat44` runs over caller storage).
#[derive(Debug)]
pub struct NatTables {
    cfg: NatConfig,
    sessions: Vec<NatSession>,
    session_index: Vec<u64>,
    mappings: Vec<Mapping>,
    mapping_index: Vec<u64>,
    subscribers: Vec<Subscriber>,
    subscriber_index: Vec<u64>,
    bitmap: Vec<u64>,
    events: Vec<Option<bng_nat44::Event>>,
}

impl NatTables {
    /// Storage for `cfg` with room for `sessions` NAT sessions (and as many mappings)
    /// and `subscribers` inside addresses.
    #[must_use]
    pub fn new(cfg: NatConfig, sessions: usize, subscribers: usize) -> Self {
        let sessions = sessions.max(16);
        let subscribers = subscribers.max(16);
        Self {
            cfg,
            sessions: vec![NatSession::EMPTY; sessions],
            session_index: vec![0; Storage::index_len(sessions, 2)],
            mappings: vec![Mapping::EMPTY; sessions],
            mapping_index: vec![0; Storage::index_len(sessions, 2)],
            subscribers: vec![Subscriber::EMPTY; subscribers],
            subscriber_index: vec![0; Storage::index_len(subscribers, 1)],
            bitmap: vec![0; cfg.bitmap_words()],
            events: vec![None; 4096],
        }
    }
}

/// Why a frame was punted to the control plane.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum PuntReason {
    /// PPPoE discovery (ethertype 0x8863, RFC 2516 section 5).
    PppoeDiscovery,
    /// PPP control in a PPPoE session (LCP, PAP, CHAP, IPCP, IPv6CP, ...).
    PppControl,
    /// DHCPv4 from an IPoE subscriber (UDP to port 67).
    Dhcp,
    /// IPv4 to one of our own addresses (ICMP echo to the gateway, ...).
    Local,
}

impl PuntReason {
    /// Number of reasons.
    pub const COUNT: usize = 4;
    /// Names, by `self as usize`.
    pub const NAMES: [&'static str; 4] = ["pppoe-discovery", "ppp-control", "dhcp", "local"];
}

/// A frame for the control plane, copied out of the packet buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Punt {
    /// Why.
    pub reason: PuntReason,
    /// Its control type, as the `punt` node classified it.
    pub kind: PuntType,
    /// The port it came in on.
    pub rx_if: u16,
    /// Its VLAN IDs (0 where absent).
    pub vlans: [u16; 2],
    /// The subscriber's session, for PPP control of a known session.
    pub session: Option<SessionId>,
    /// The frame from its Ethernet header (for `Local`: from the IPv4 header).
    pub data: Vec<u8>,
}

/// The ESP transform of a route-based tunnel's SAs: any `bng-esp` [`Transform`]
/// (the `ring` AES-GCM and ChaCha20-Poly1305 providers, the `RustCrypto` ones, CBC +
/// HMAC), behind one type so a `Bng` holds tunnels of different algorithms.
pub struct TunnelTransform(Box<dyn Transform + Send>);

impl TunnelTransform {
    /// Wraps a transform.
    #[must_use]
    pub fn new<T: Transform + Send + 'static>(t: T) -> Self {
        Self(Box::new(t))
    }
}

impl core::fmt::Debug for TunnelTransform {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TunnelTransform")
            .field("iv_len", &self.0.iv_len())
            .field("icv_len", &self.0.icv_len())
            .finish_non_exhaustive()
    }
}

impl Transform for TunnelTransform {
    fn iv_len(&self) -> usize {
        self.0.iv_len()
    }
    fn icv_len(&self) -> usize {
        self.0.icv_len()
    }
    fn block_len(&self) -> usize {
        self.0.block_len()
    }
    fn random_iv(&self) -> bool {
        self.0.random_iv()
    }
    fn seal(
        &self,
        header: &[u8; 8],
        seq_hi: Option<u32>,
        iv: &[u8],
        payload: &mut [u8],
        icv: &mut [u8],
    ) -> Result<(), CryptoError> {
        self.0.seal(header, seq_hi, iv, payload, icv)
    }
    fn open(
        &self,
        header: &[u8; 8],
        seq_hi: Option<u32>,
        iv: &[u8],
        payload_icv: &mut [u8],
    ) -> Result<(), CryptoError> {
        self.0.open(header, seq_hi, iv, payload_icv)
    }
}

/// The randomness `esp-encrypt` draws IVs of random-IV transforms (CBC, RFC 3602
/// section 2) from: the caller's `CryptoRng` ([`TunnelConfig::rng`], STYLE.md section
/// 8). Until one is given it holds none, and [`Bng::add_tunnel`] refuses tunnels whose
/// transform draws IVs, so it is never read empty (AEAD transforms derive IVs from the
/// sequence number, RFC 4106 section 3.1).
struct TunnelRng(Option<Box<dyn CryptoRngCore + Send>>);

impl core::fmt::Debug for TunnelRng {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(if self.0.is_some() {
            "TunnelRng(caller's)"
        } else {
            "TunnelRng(none)"
        })
    }
}

impl RngCore for TunnelRng {
    fn next_u32(&mut self) -> u32 {
        // (a match, not `map_or` with a closure: whether the closure is redundant
        // depends on rand_core's `alloc` feature, which the workspace unifies)
        match self.0.as_mut() {
            Some(r) => r.next_u32(),
            None => 0,
        }
    }
    fn next_u64(&mut self) -> u64 {
        // (a match, not `map_or` with a closure: whether the closure is redundant
        // depends on rand_core's `alloc` feature, which the workspace unifies)
        match self.0.as_mut() {
            Some(r) => r.next_u64(),
            None => 0,
        }
    }
    fn fill_bytes(&mut self, d: &mut [u8]) {
        if let Some(r) = self.0.as_mut() {
            r.fill_bytes(d);
        }
    }
    fn try_fill_bytes(&mut self, d: &mut [u8]) -> Result<(), RngError> {
        match self.0.as_mut() {
            Some(r) => r.try_fill_bytes(d),
            None => Err(RngError::from(NO_RNG)),
        }
    }
}

/// The error of an empty [`TunnelRng`] (never returned: see its docs).
const NO_RNG: core::num::NonZeroU32 = match core::num::NonZeroU32::new(RngError::CUSTOM_START) {
    Some(n) => n,
    None => core::num::NonZeroU32::MIN,
};

// Only ever read when it holds the caller's `CryptoRng` (see the type's docs).
impl CryptoRng for TunnelRng {}

/// A route-based IPsec tunnel (RFC 4301 section 4.1 tunnel mode, as a route target
/// like an `xfrm` interface): an outbound and an inbound `bng-esp` SA, whose
/// [`bng_esp::sa::Config`]s carry the outer addresses ([`Mode::Tunnel`] with
/// [`Tunnel::V4`]; the outbound SA's source must be one of our addresses) and UDP
/// encapsulation on or off ([`bng_esp::sa::Config::udp_encap`], RFC 3948). Routes whose
/// next hop is the tunnel: [`Bng::add_tunnel_route`].
pub struct TunnelConfig {
    /// The tunnel's index (below [`MAX_TUNNELS`]); adding an existing index replaces
    /// its SAs (a rekey: the old inbound SPI is forgotten at once).
    pub id: u32,
    /// The SA protecting what we send to the peer.
    pub outbound: Outbound<TunnelTransform>,
    /// The SA verifying what the peer sends us (found by its SPI).
    pub inbound: Inbound<TunnelTransform>,
    /// Randomness for transforms with random IVs (from now on used for every tunnel of
    /// this `Bng`); `None` keeps what an earlier tunnel gave.
    pub rng: Option<Box<dyn CryptoRngCore + Send>>,
}

impl core::fmt::Debug for TunnelConfig {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TunnelConfig")
            .field("id", &self.id)
            .field("outbound", self.outbound.config())
            .field("inbound", self.inbound.config())
            .field("rng", &self.rng.is_some())
            .finish()
    }
}

/// Tunnel indexes are below this.
pub const MAX_TUNNELS: u32 = 1 << 16;

/// FIB next hops from here up name tunnels (`TUNNEL_NH + id`) instead of adjacencies.
const TUNNEL_NH: u32 = 1 << 23;

/// What a tunnel's SAs reported (lifetimes, sequence numbers), for the key manager.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TunnelEvent {
    /// The tunnel.
    pub tunnel: u32,
    /// True for the outbound SA, false for the inbound one.
    pub outbound: bool,
    /// What happened (rekey now, or the SA refuses traffic).
    pub event: SaEvent,
}

crate::label! {
    /// Edges of `esp-inner-check`.
    pub enum InnerNext {
        /// The inner packet came through the tunnel its source routes to: to
        /// `ip4-input` (as if received on the upstream port).
        Ip4 => "ip4-input",
    }
}

crate::label! {
    /// Drop reasons of `esp-inner-check`.
    pub enum InnerDrop {
        /// The inner source address is not routed into the tunnel the packet came
        /// through (RFC 4301 section 5.2 step 4, the inbound selector check, done as
        /// a strict reverse-path check on the routes, RFC 3704 section 2.2).
        NotViaTunnel => "not-via-tunnel",
        /// Shorter than an IPv4 header.
        Truncated => "truncated",
    }
}

/// `esp-inner-check`: a decrypted packet's source must route back into its tunnel.
struct InnerCheck<'a> {
    fib: &'a Fib,
    upstream: u16,
}

impl Node for InnerCheck<'_> {
    type Next = InnerNext;
    type Drop = InnerDrop;
    const NAME: &'static str = "esp-inner-check";

    #[inline(always)]
    fn packet(&mut self, pkt: &mut Pkt<'_>) -> Verdict<InnerNext, InnerDrop> {
        let Some(h) = pkt.data().first_chunk::<20>() else {
            return Verdict::Drop(InnerDrop::Truncated);
        };
        let src = u32::from_be_bytes([h[12], h[13], h[14], h[15]]);
        // `esp-decrypt` wrote the tunnel's index to `meta.adjacency`
        if self.fib.lookup(src) != Some(TUNNEL_NH + pkt.meta.adjacency) {
            return Verdict::Drop(InnerDrop::NotViaTunnel);
        }
        pkt.meta.l3_offset = 0;
        pkt.meta.rx_if = self.upstream;
        pkt.meta.subscriber = 0;
        Verdict::Next(InnerNext::Ip4)
    }
}

/// Moves the packets of `from` routed into a tunnel (next hop `TUNNEL_NH + id`) to
/// `to`, in order, with `meta.adjacency` = the tunnel's index and the inner TTL
/// decremented (RFC 1812 section 5.3.1; `ip4-lookup` checked it is above 1); the rest
/// stay in `from`, in order. `scratch` is an empty frame (left empty).
fn split_tunnel<'p>(from: &mut Frame<'p>, scratch: &mut Frame<'p>, to: &mut Frame<'p>) {
    if !from.iter().any(|p| p.meta.adjacency >= TUNNEL_NH) {
        return;
    }
    core::mem::swap(from, scratch);
    for mut p in scratch.drain(..) {
        if p.meta.adjacency >= TUNNEL_NH {
            p.meta.adjacency -= TUNNEL_NH;
            let l3 = usize::from(p.meta.l3_offset);
            if let Some(h) = p
                .data_mut()
                .get_mut(l3..)
                .and_then(<[u8]>::first_chunk_mut::<20>)
            {
                ip4::decrement_ttl(h);
            }
            to.push(p);
        } else {
            from.push(p);
        }
    }
}

/// The per-subscriber state: the packet path reads and writes only its first 64 bytes
/// (one cache line: the rewrite, the key, and 32-bit counter deltas); the second line
/// holds the control plane's id and the 64-bit counters the deltas are folded into
/// when one reaches 2^31 (so at least every 2^15 packets of 64 KiB), and on reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C, align(64))]
struct Slot {
    /// The prebuilt downstream rewrite: Ethernet, VLAN tags, and for PPPoE the session
    /// header and PPP protocol (its LENGTH field patched per packet).
    hdr: [u8; 30],
    hdr_len: u8,
    flags: u8,
    addr: u32,
    port: u16,
    /// The PPPoE session id (0: IPoE) and the VLANs of the session's key, for
    /// `pppoe-fast-input`'s check of a session found by id.
    sid: u16,
    vlans: [u16; 2],
    /// Packets and bytes since the last fold into `counters`: up packets, up bytes,
    /// down packets, down bytes.
    delta: [u32; 4],
    id: SessionId,
}

impl Slot {
    const LIVE: u8 = 1;
    const PPPOE: u8 = 2;
    const NAT: u8 = 4;
    /// Upstream policed (`qos-police-up`).
    const QOS_UP: u8 = 8;
    /// Downstream policed or shaped (`qos-down`).
    const QOS_DOWN: u8 = 16;
    const EMPTY: Self = Self {
        hdr: [0; 30],
        hdr_len: 0,
        flags: 0,
        addr: 0,
        port: 0,
        sid: 0,
        vlans: [0, 0],
        delta: [0; 4],
        id: SessionId(0),
    };
}

const _: () = assert!(core::mem::size_of::<Slot>() == 64);

impl Slot {
    /// Counts one packet in `delta[AT]` (packets) and `delta[AT + 1]` (bytes); false
    /// (nothing counted) when that could overflow them: then [`Table::fold_count`].
    #[inline(always)]
    fn try_count<const AT: usize>(&mut self, bytes: usize) -> bool {
        let (p, b) = (self.delta[AT], self.delta[AT + 1]);
        match u32::try_from(bytes) {
            // below 2^31 each, one packet of under 64 KiB cannot overflow them
            Ok(n) if n < 1 << 16 && (p | b) < 1 << 31 => {
                self.delta[AT] = p + 1;
                self.delta[AT + 1] = b + n;
                true
            }
            _ => false,
        }
    }
}

impl Table {
    /// Counts one packet of `bytes` from the subscriber of slot `i`.
    #[inline(always)]
    fn count_up(&mut self, i: usize, bytes: usize) {
        self.count::<0>(i, bytes);
    }

    /// Counts one packet of `bytes` to the subscriber of slot `i`.
    #[inline(always)]
    fn count_down(&mut self, i: usize, bytes: usize) {
        self.count::<2>(i, bytes);
    }

    #[inline(always)]
    fn count<const AT: usize>(&mut self, i: usize, bytes: usize) {
        if let Some(s) = self.slots.get_mut(i)
            && !s.try_count::<AT>(bytes)
        {
            self.fold_count(i, AT, bytes);
        }
    }

    /// Folds slot `i`'s deltas into its 64-bit counters, then counts the packet there.
    #[cold]
    fn fold_count(&mut self, i: usize, at: usize, bytes: usize) {
        self.fold(i);
        if let Some(c) = self.totals.get_mut(i) {
            if at == 0 {
                c.up_packets += 1;
                c.up_bytes += bytes as u64;
            } else {
                c.down_packets += 1;
                c.down_bytes += bytes as u64;
            }
        }
    }

    /// Slot `i`'s deltas into its 64-bit counters.
    fn fold(&mut self, i: usize) {
        if let (Some(s), Some(c)) = (self.slots.get_mut(i), self.totals.get_mut(i)) {
            let [up, ub, dp, db] = core::mem::take(&mut s.delta);
            c.up_packets += u64::from(up);
            c.up_bytes += u64::from(ub);
            c.down_packets += u64::from(dp);
            c.down_bytes += u64::from(db);
        }
    }

    /// Slot `i`'s counters (the 64-bit ones plus the deltas).
    fn counters(&self, i: usize) -> SessionCounters {
        let mut c = self.totals.get(i).copied().unwrap_or_default();
        if let Some(s) = self.slots.get(i) {
            let [up, ub, dp, db] = s.delta;
            c.up_packets += u64::from(up);
            c.up_bytes += u64::from(ub);
            c.down_packets += u64::from(dp);
            c.down_bytes += u64::from(db);
        }
        c
    }
}

/// Subscriber addresses to slot indexes, the downstream lookup: open addressing with
/// linear probing over 8-byte entries (address in the high half, slot + 1 in the low
/// half, 0: empty), kept at most half full, Fibonacci-hashed home slots. A lookup
/// reads one entry (8 per cache line, the probe sequence stays in it) where a
/// `hashbrown` map reads a control group and then a bucket. The keys are the
/// addresses our control plane assigned (sequential ones spread evenly); an absent
/// address probes to the next empty entry, a short run at half load.
#[derive(Debug)]
struct AddrIndex {
    e: Vec<u64>,
    len: usize,
    shift: u32,
}

#[allow(
    clippy::cast_possible_truncation,
    reason = "an entry is two u32 halves: the low one is the slot + 1"
)]
impl AddrIndex {
    fn with_capacity(n: usize) -> Self {
        let cap = n.saturating_mul(2).max(16).next_power_of_two();
        Self {
            e: vec![0; cap],
            len: 0,
            shift: 64 - cap.trailing_zeros(),
        }
    }

    #[inline(always)]
    fn home(&self, key: u32) -> usize {
        usize::try_from(u64::from(key).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> self.shift)
            .unwrap_or(0)
    }

    /// The slot of `key`'s entry or of the empty entry its probe ends at.
    #[inline(always)]
    fn find(&self, key: u32) -> Option<usize> {
        let mask = self.e.len() - 1;
        let mut i = self.home(key);
        for _ in 0..self.e.len() {
            let e = *self.e.get(i)?;
            if e == 0 || (e >> 32) as u32 == key {
                return Some(i);
            }
            i = (i + 1) & mask;
        }
        None
    }

    #[inline(always)]
    fn get(&self, key: u32) -> Option<u32> {
        let e = *self.e.get(self.find(key)?)?;
        (e != 0).then(|| (e as u32).wrapping_sub(1))
    }

    fn insert(&mut self, key: u32, val: u32) {
        if (self.len + 1) * 2 > self.e.len() {
            let old = core::mem::replace(self, Self::with_capacity(self.e.len()));
            for e in old.e.into_iter().filter(|&e| e != 0) {
                self.insert((e >> 32) as u32, (e as u32).wrapping_sub(1));
            }
        }
        let Some(i) = self.find(key) else {
            return;
        };
        if let Some(e) = self.e.get_mut(i) {
            if *e == 0 {
                self.len += 1;
            }
            *e = u64::from(key) << 32 | u64::from(val.wrapping_add(1));
        }
    }

    /// Removes `key` (backward-shift deletion: the entries after it in its run move
    /// back where their home allows, so no tombstones are left).
    fn remove(&mut self, key: u32) -> Option<u32> {
        let mask = self.e.len() - 1;
        let mut i = self.find(key)?;
        let e = *self.e.get(i)?;
        if e == 0 {
            return None;
        }
        let mut j = i;
        loop {
            j = (j + 1) & mask;
            let ej = *self.e.get(j)?;
            if ej == 0 {
                break;
            }
            let h = self.home((ej >> 32) as u32);
            // ej may move to i when its home is not in the cyclic range (i, j]
            if (j.wrapping_sub(h) & mask) >= (j.wrapping_sub(i) & mask) {
                *self.e.get_mut(i)? = ej;
                i = j;
            }
        }
        *self.e.get_mut(i)? = 0;
        self.len -= 1;
        Some((e as u32).wrapping_sub(1))
    }
}

/// The subscriber slot that holds each NAT44 port block (port-block mode: the CGNAT
/// property that an outside address and port name their subscriber), from NAT44's `BlockAllocated` / `BlockReleased` events: downstream,
/// a packet's slot is known from its own destination address and port, in parallel
/// with NAT44's lookup instead of after it (the look-ahead's chain is two loads deep,
/// not four). A hint only: `subscriber-output` takes it when the slot is live and holds
/// the translated destination (addresses are unique among live sessions), else looks
/// the address up. Empty (no hints) in deterministic mode, without NAT, or for pools
/// of more than [`BlockOwners::MAX`] blocks.
#[derive(Debug, Default)]
struct BlockOwners {
    pool_first: u32,
    pool_len: u32,
    per_addr: u32,
    block_size: u32,
    /// Slot + 1 of each block's subscriber (0: none known).
    owner: Vec<u32>,
}

impl BlockOwners {
    /// Blocks past which no table is kept (4 MiB of entries).
    const MAX: u64 = 1 << 20;

    fn new(cfg: &NatConfig) -> Self {
        match cfg.mode {
            bng_nat44::Mode::PortBlock(p) if p.block_size > 0 => {
                let block_size = u32::from(p.block_size);
                let per_addr = bng_nat44::det::PORTS_PER_ADDRESS / block_size;
                let blocks = u64::from(p.pool_len) * u64::from(per_addr);
                if blocks > Self::MAX {
                    return Self::default();
                }
                Self {
                    pool_first: u32::from(p.pool_first),
                    pool_len: p.pool_len,
                    per_addr,
                    block_size,
                    owner: vec![0; usize::try_from(blocks).unwrap_or(0)],
                }
            }
            _ => Self::default(),
        }
    }

    /// The block of outside `addr`, `port` (ports from `FIRST_PORT` are cut into
    /// blocks of `block_size`; the tail of a partial last block is no block).
    #[inline(always)]
    fn index(&self, addr: u32, port: u16) -> Option<usize> {
        let a = addr.wrapping_sub(self.pool_first);
        let b = u32::from(port.checked_sub(bng_nat44::det::FIRST_PORT)?) / self.block_size.max(1);
        if a >= self.pool_len || b >= self.per_addr {
            return None;
        }
        usize::try_from(a * self.per_addr + b).ok()
    }

    /// Follows one NAT44 event.
    fn note(&mut self, e: &bng_nat44::Event, by_addr: &AddrIndex) {
        let (ev, on) = match e {
            bng_nat44::Event::BlockAllocated(ev) => (ev, true),
            bng_nat44::Event::BlockReleased(ev) => (ev, false),
            _ => return,
        };
        if let Some(o) = self
            .index(u32::from(ev.outside), ev.ports.first)
            .and_then(|i| self.owner.get_mut(i))
        {
            *o = if on {
                by_addr.get(u32::from(ev.subscriber)).map_or(0, |i| i + 1)
            } else {
                0
            };
        }
    }
}

/// What the look-ahead stages ([`Node::ahead`]) find, per frame position, for the next
/// stage and the decision: kept in the `Bng` (not in the per-frame node, where zeroing
/// the arrays cost ~8 instructions per packet each, look-ahead or not); every entry a
/// stage reads was written by an earlier stage of the same frame.
#[derive(Debug)]
struct AheadScratch {
    /// NAT44 lookup keys.
    key: [Option<u64>; FRAME_SIZE],
    /// Upstream: PPPoE session ids; downstream: inside addresses.
    a: [u32; FRAME_SIZE],
    /// Downstream: port blocks, then their owners' slot + 1.
    b: [u32; FRAME_SIZE],
}

impl AheadScratch {
    fn new() -> Box<Self> {
        Box::new(Self {
            key: [None; FRAME_SIZE],
            a: [0; FRAME_SIZE],
            b: [0; FRAME_SIZE],
        })
    }
}

/// The subscriber table: slots by handle (`meta.subscriber` = slot + 1), and the
/// downstream index by address.
#[derive(Debug)]
struct Table {
    slots: Vec<Slot>,
    /// The 64-bit counters of each slot, which its 32-bit deltas are folded into (cold:
    /// the packet path writes only the slot's deltas).
    totals: Vec<SessionCounters>,
    free: Vec<u32>,
    by_id: HashMap<SessionId, (u32, SessionConfig)>,
    by_addr: AddrIndex,
    /// PPPoE sessions by session id alone (handle, 0: none), 65 536 entries: the
    /// access concentrator (our control plane) chooses PPPoE session ids (RFC 2516
    /// section 5.4, PADS), so clients cannot aim entries at one index. Where two
    /// sessions share an id (different MACs or VLANs), the first two hold the entry's
    /// two ways (one 8-byte entry: one cache line for both, so a warm-up pass
    /// prefetches both slots) and the others are found through the keyed hash map.
    by_sid: Vec<[u32; 2]>,
    /// The largest IPv4 datagram to a PPPoE session (`BngConfig::pppoe_mtu`;
    /// `usize::MAX`: no limit).
    pppoe_mtu: usize,
    /// ICMP errors are on: `subscriber-output` sends expired and too-big (DF) packets
    /// to `icmp-error` instead of dropping them.
    icmp: bool,
}

crate::label! {
    /// Edges of `ip4-input` (IPv4 after `ethernet-input`, split by port and address).
    pub enum Ip4InNext {
        /// From an access port: to `ipoe-input`.
        Access => "ipoe-input",
        /// From upstream to a NAT pool address: to `nat44` out2in.
        Nat => "nat44-out2in",
        /// From upstream to a (public) subscriber address: to `subscriber-output`.
        Subscriber => "subscriber-output",
        /// To one of our addresses: punted.
        Local => "local",
        /// ESP (RFC 4303) or ESP-in-UDP (RFC 3948, port 4500, non-zero SPI) to one of
        /// our addresses while tunnels are configured: to `esp-decrypt`.
        Esp => "esp-decrypt",
        /// Fused (small tables, no trace, no tunnels): translated by `nat44` out2in
        /// and encapsulated by `subscriber-output` in the same pass; on as that node's
        /// `interface-output` edge.
        Output => "interface-output",
        /// Fused: as `subscriber-output`'s `tcp-mss-clamp` edge.
        Pppoe => "tcp-mss-clamp",
        /// Fused: as `subscriber-output`'s `qos-down` edge.
        Qos => "qos-down",
        /// Fused: as `subscriber-output`'s `icmp-error` edge.
        Icmp => "icmp-error",
        /// Fused: as `subscriber-output`'s `ip4-fragment` edge.
        Fragment => "ip4-fragment",
    }
}

crate::label! {
    /// Drop reasons of `ip4-input`.
    pub enum Ip4InDrop {
        /// Shorter than an IPv4 header.
        Truncated => "truncated",
        /// Fused: `nat44` out2in refused it (counted in its counters too).
        Nat => "nat44",
        /// Fused: `subscriber-output` dropped it (counted in its counters too).
        SubscriberOutput => "subscriber-output",
    }
}

/// `ip4-input`: splits IPv4 by the port it came from; upstream traffic by destination.
#[derive(Debug)]
struct Ip4Input {
    upstream: u16,
    local: Vec<u32>,
    pool_first: u32,
    pool_len: u32,
    /// Route-based tunnels are configured: ESP to our addresses goes to `esp-decrypt`.
    esp: bool,
}

impl Node for Ip4Input {
    type Next = Ip4InNext;
    type Drop = Ip4InDrop;
    const NAME: &'static str = "ip4-input";

    #[inline(always)]
    fn packet(&mut self, pkt: &mut Pkt<'_>) -> Verdict<Ip4InNext, Ip4InDrop> {
        if pkt.meta.rx_if != self.upstream {
            return Verdict::Next(Ip4InNext::Access);
        }
        let l3 = usize::from(pkt.meta.l3_offset);
        let Some(dst) = pkt
            .data()
            .get(l3 + 16..l3 + 20)
            .and_then(|d| <[u8; 4]>::try_from(d).ok())
        else {
            return Verdict::Drop(Ip4InDrop::Truncated);
        };
        let dst = u32::from_be_bytes(dst);
        if dst.wrapping_sub(self.pool_first) < self.pool_len {
            Verdict::Next(Ip4InNext::Nat)
        } else if self.local.contains(&dst) {
            if self.esp && pkt.data().get(l3..).and_then(esp_node::spi_of).is_some() {
                Verdict::Next(Ip4InNext::Esp)
            } else {
                Verdict::Next(Ip4InNext::Local)
            }
        } else {
            Verdict::Next(Ip4InNext::Subscriber)
        }
    }
}

/// `ip4-input` with `nat44` out2in (`Nat44::out2in_fast`) and `subscriber-output` run
/// inside its loop for what it sends to NAT44 (a fused pass: the packet is not moved
/// through two more frames). Their verdicts are tallied and added to their own
/// counters once per frame, as `run` would.
struct Ip4InFused<'a, 'n> {
    ip4: &'a mut Ip4Input,
    nat: &'a mut Nat44Node<'n>,
    t: &'a mut Table,
    nat_tally: Tally,
    sub_tally: Tally,
    /// Look-ahead on (tables past [`WARM_MIN_SESSIONS`]: [`Node::ahead`]).
    ahead: bool,
    /// The look-ahead's findings: NAT44 keys (stage 4 for 3 and 2), inside addresses
    /// (stage 2 for 1), port blocks then their owners' slot + 1 (stage 4 for 3, 3 for
    /// the decision: `subscriber-output`'s hint).
    scratch: &'a mut AheadScratch,
    /// The owners of NAT44's port blocks.
    blocks: &'a BlockOwners,
    /// The hint of the packet being decided (stage 0; 0 without the look-ahead).
    cur_hint: u32,
}

impl Node for Ip4InFused<'_, '_> {
    type Next = Ip4InNext;
    type Drop = Ip4InDrop;
    const NAME: &'static str = Ip4Input::NAME;
    const AHEAD: usize = 4;

    #[inline(always)]
    fn ahead_on(&self) -> bool {
        self.ahead
    }

    /// For packets to a NAT pool address, one dependent line of the chain the
    /// decision reads per stage: NAT44's index slot and the port block's owner entry
    /// (4, from the packet's bytes), the session the index slot names and the slot
    /// the block owner names (3: the chain ends there), and without a block owner
    /// the address index entry of the session's inside address (2) and the
    /// subscriber slot it names (1). What a stage finds is kept for the next; stage 0
    /// marks the packet being decided.
    #[inline(always)]
    fn ahead(&mut self, pkt: &Pkt<'_>, pos: usize, stage: usize) {
        if stage == 0 {
            self.cur_hint = self.scratch.b.get(pos).copied().unwrap_or(0);
            return;
        }
        let (Some(key), Some(inside), Some(hint)) = (
            self.scratch.key.get_mut(pos),
            self.scratch.a.get_mut(pos),
            self.scratch.b.get_mut(pos),
        ) else {
            return;
        };
        let nat = &self.nat.nat;
        match stage {
            4 => {
                *key = None;
                // the block index until stage 3 makes it the owner
                *hint = u32::MAX;
                let d = pkt.data();
                let Some(ip) = raw_l3(d, 0x0800).and_then(|l3| d.get(l3..)) else {
                    return;
                };
                let Some(dst) = ip.get(16..).and_then(<[u8]>::first_chunk::<4>) else {
                    return;
                };
                let dst = u32::from_be_bytes(*dst);
                if dst.wrapping_sub(self.ip4.pool_first) >= self.ip4.pool_len {
                    return;
                }
                *key = nat.ahead_key(bng_nat44::Direction::OutToIn, ip);
                if let Some(r) = key.and_then(|k| nat.ahead_index(k)) {
                    prefetch_read(r);
                }
                // the destination port (TCP/UDP; anything else finds no block, or a
                // block whose slot the decision checks)
                let ihl = usize::from(ip.first().map_or(0, |b| b & 0x0f)) * 4;
                if let Some(b) = ip
                    .get(ihl + 2..)
                    .and_then(<[u8]>::first_chunk::<2>)
                    .and_then(|p| self.blocks.index(dst, u16::from_be_bytes(*p)))
                    && let Some(o) = self.blocks.owner.get(b)
                {
                    prefetch_read(o);
                    *hint = u32::try_from(b).unwrap_or(u32::MAX);
                }
            }
            3 => {
                if let Some(r) = key.and_then(|k| nat.ahead_session(k)) {
                    prefetch_read(r);
                }
                *hint = self.blocks.owner.get(*hint as usize).copied().unwrap_or(0);
                if let Some(s) = (*hint as usize)
                    .checked_sub(1)
                    .and_then(|i| self.t.slots.get(i))
                {
                    prefetch_read(s);
                }
            }
            2 => {
                *inside = 0;
                if *hint == 0
                    && let Some(se) = key.and_then(|k| nat.ahead_session(k))
                {
                    *inside = se.inside_addr();
                    if let Some(e) = self.t.by_addr.e.get(self.t.by_addr.home(*inside)) {
                        prefetch_read(e);
                    }
                }
            }
            _ => {
                if *inside != 0
                    && let Some(s) = self
                        .t
                        .by_addr
                        .get(*inside)
                        .and_then(|i| self.t.slots.get(i as usize))
                {
                    prefetch_read(s);
                }
            }
        }
    }

    #[inline(always)]
    fn packet(&mut self, pkt: &mut Pkt<'_>) -> Verdict<Ip4InNext, Ip4InDrop> {
        let v = self.ip4.packet(pkt);
        if v != Verdict::Next(Ip4InNext::Nat) {
            return v;
        }
        if self.nat_tally.count(self.nat.packet(pkt)) != Verdict::Next(nat_node::Next::Forward) {
            // refused (out2in never hairpins; the node-by-node path frees those too)
            return Verdict::Drop(Ip4InDrop::Nat);
        }
        // two copies: without the look-ahead the hint is a constant 0 and its check
        // folds away (callgrind: 1k down 613 instructions/packet with, 638 without)
        let v = if self.ahead {
            SubscriberOutput {
                t: self.t,
                verified: true,
                hint: self.cur_hint,
            }
            .packet(pkt)
        } else {
            SubscriberOutput {
                t: self.t,
                verified: true,
                hint: 0,
            }
            .packet(pkt)
        };
        match self.sub_tally.count(v) {
            Verdict::Next(SubOutNext::Output) => Verdict::Next(Ip4InNext::Output),
            Verdict::Next(SubOutNext::Pppoe) => Verdict::Next(Ip4InNext::Pppoe),
            Verdict::Next(SubOutNext::Qos) => Verdict::Next(Ip4InNext::Qos),
            Verdict::Next(SubOutNext::Icmp) => Verdict::Next(Ip4InNext::Icmp),
            Verdict::Next(SubOutNext::Fragment) => Verdict::Next(Ip4InNext::Fragment),
            Verdict::Drop(_) => Verdict::Drop(Ip4InDrop::SubscriberOutput),
        }
    }
}

crate::label! {
    /// Edges of `subscriber-input`.
    pub enum SubInNext {
        /// To `ip4-lookup` and then `ip4-rewrite` (no NAT).
        Route => "ip4-lookup",
        /// To `ip4-lookup` and then `nat44` in2out.
        Nat => "ip4-lookup-nat",
        /// A session with an upstream policer, no NAT: to `qos-police-up`, then
        /// `ip4-lookup`.
        Police => "qos-police-up",
        /// A session with an upstream policer and NAT: to `qos-police-up`, then
        /// `ip4-lookup-nat`.
        PoliceNat => "qos-police-up-nat",
    }
}

crate::label! {
    /// Drop reasons of `subscriber-input`.
    pub enum SubInDrop {
        /// The handle names no live session.
        UnknownSubscriber => "unknown-subscriber",
        /// The source address is not the session's (anti-spoofing).
        Spoofed => "spoofed-source",
        /// Shorter than an IPv4 header.
        Truncated => "truncated",
    }
}

/// `subscriber-input`: anti-spoofing for PPPoE (IPoE is checked by `ipoe-input`),
/// the session's upstream counters, and the NAT decision.
struct SubscriberInput<'t> {
    t: &'t mut Table,
}

impl Node for SubscriberInput<'_> {
    type Next = SubInNext;
    type Drop = SubInDrop;
    const NAME: &'static str = "subscriber-input";

    #[inline(always)]
    fn packet(&mut self, pkt: &mut Pkt<'_>) -> Verdict<SubInNext, SubInDrop> {
        let Some(slot) = (pkt.meta.subscriber as usize)
            .checked_sub(1)
            .and_then(|i| self.t.slots.get_mut(i))
        else {
            return Verdict::Drop(SubInDrop::UnknownSubscriber);
        };
        let l3 = usize::from(pkt.meta.l3_offset);
        let Some(src) = pkt
            .data()
            .get(l3 + 12..l3 + 16)
            .and_then(|d| <[u8; 4]>::try_from(d).ok())
        else {
            return Verdict::Drop(SubInDrop::Truncated);
        };
        if slot.flags & Slot::LIVE == 0 {
            return Verdict::Drop(SubInDrop::UnknownSubscriber);
        }
        if u32::from_be_bytes(src) != slot.addr {
            return Verdict::Drop(SubInDrop::Spoofed);
        }
        let f = slot.flags;
        if f & Slot::QOS_UP != 0 {
            // counted after the policer (`account`)
            return Verdict::Next(if f & Slot::NAT == 0 {
                SubInNext::Police
            } else {
                SubInNext::PoliceNat
            });
        }
        let bytes = pkt.len() - l3;
        self.t
            .count_up((pkt.meta.subscriber as usize).wrapping_sub(1), bytes);
        if f & Slot::NAT == 0 {
            Verdict::Next(SubInNext::Route)
        } else {
            Verdict::Next(SubInNext::Nat)
        }
    }
}

crate::label! {
    /// Edges of `pppoe-fast-input`.
    pub enum FastNext {
        /// Anything but the common case: to `pppoe-session-input` and the rest of
        /// the general path (unchanged).
        Slow => "pppoe-session-input",
        /// Decapsulated, checked, counted and looked up in the FIB: to `ip4-rewrite`.
        Route => "ip4-rewrite",
        /// Decapsulated, checked, counted and looked up in the FIB: to `nat44` in2out.
        Nat => "nat44-in2out",
        /// Decapsulated and checked, session with an upstream policer (no NAT).
        Police => "qos-police-up",
        /// Decapsulated and checked, session with an upstream policer and NAT.
        PoliceNat => "qos-police-up-nat",
        /// Fused (small tables, no trace, no tunnel routes): looked up, translated by
        /// `nat44` in2out where the session has NAT, and rewritten by `ip4-rewrite` in
        /// the same pass: to `interface-output`, after the general path's packets.
        Out => "interface-output",
        /// Fused: hairpinned by `nat44` in2out (RFC 4787 REQ-9): back toward the
        /// inside, after the general path's hairpinned packets.
        Hairpin => "nat44-hairpin",
    }
}

crate::label! {
    /// Drop reasons of `pppoe-fast-input` (none: what it does not forward goes to
    /// the general path, which counts its drops).
    pub enum FastDrop {
        /// Never used.
        Never => "never",
        /// Fused: `nat44` in2out refused it (counted in nat44's counters too).
        Nat => "nat44",
        /// Fused: `ip4-rewrite` dropped it (counted in its counters too).
        Rewrite => "ip4-rewrite",
    }
}

/// `pppoe-fast-input`: `pppoe-session-input` and `subscriber-input` in one pass for
/// the common case, a PPPoE session frame (RFC 2516 section 6) carrying IPv4 (PPP
/// protocol 0x0021) with a 20-byte header, not a TCP SYN (those need `tcp-mss-clamp`),
/// of a live session, from the session's address: one lookup from the PPPoE key to
/// the session slot (by session id, checked against the slot's MAC and VLANs: the
/// by-id entry's two ways, then the keyed hash map where more share an id), anti-spoofing against the slot, the session's counters, the
/// decapsulation, and the NAT / QoS decision from the slot's flags. Everything else
/// For sessions without an upstream policer it also does `ip4-lookup`'s work (RFC
/// 791 / RFC 1812 section 5.2.2 header checks, checksum, TTL, DIR-24-8 lookup), so
/// those packets go straight to `ip4-rewrite` or `nat44` in2out. Everything else
/// (PPP control, IPv6, IPv4 options, SYNs, unknown sessions, spoofed sources,
/// malformed headers, bad checksums, expired TTLs, our own addresses, no route) goes
/// unchanged to the general path, which handles and counts it
/// as before. (A flow's SYN thus takes the general path; its later packets do not
/// overtake it, since the general path's packets go first within the frame.)
struct PppoeFast<'t, 'n> {
    pppoe: &'t PppoeSessionInput,
    t: &'t mut Table,
    lookup: &'t Ip4Lookup,
    /// Whether SYNs must go the general path (`tcp-mss-clamp` on).
    mss: bool,
    /// `nat44` in2out and `ip4-rewrite` fused into the pass, if they are.
    fuse: Option<Fused<'t, 'n>>,
    /// The look-ahead's findings: PPPoE session ids and NAT44 keys (stage 2 for 1);
    /// `None`: no look-ahead (tables below [`WARM_MIN_SESSIONS`]).
    scratch: Option<&'t mut AheadScratch>,
}

/// `nat44` in2out (`Nat44::in2out_fast`) and `ip4-rewrite` run inside
/// `pppoe-fast-input`'s pass (VPP's several nodes' work per packet in one loop): the
/// packet is not moved through two more frames. Their verdicts are tallied here and
/// added to their own counters once per frame ([`Fused::add_to`]), as `run` would.
struct Fused<'t, 'n> {
    nat: &'t mut Nat44Node<'n>,
    rewrite: &'t mut Ip4Rewrite,
    /// nat44: packets, forwarded, hairpinned, refused.
    nat_tally: [u32; 4],
    /// ip4-rewrite: packets, output, and per drop reason.
    rw_tally: [u32; 2],
    rw_drops: [u32; 2],
}

impl<'t, 'n> Fused<'t, 'n> {
    fn new(nat: &'t mut Nat44Node<'n>, rewrite: &'t mut Ip4Rewrite) -> Self {
        Self {
            nat,
            rewrite,
            nat_tally: [0; 4],
            rw_tally: [0; 2],
            rw_drops: [0; 2],
        }
    }

    /// nat44 in2out (for `FastNext::Nat`), then ip4-rewrite.
    #[inline(always)]
    fn finish(&mut self, pkt: &mut Pkt<'_>, next: FastNext) -> Verdict<FastNext, FastDrop> {
        if next == FastNext::Nat {
            self.nat_tally[0] += 1;
            match In2OutVerified(self.nat).packet(pkt) {
                Verdict::Next(nat_node::Next::Forward) => self.nat_tally[1] += 1,
                Verdict::Next(nat_node::Next::Hairpin) => {
                    self.nat_tally[2] += 1;
                    return Verdict::Next(FastNext::Hairpin);
                }
                Verdict::Drop(_) => {
                    self.nat_tally[3] += 1;
                    return Verdict::Drop(FastDrop::Nat);
                }
            }
        }
        self.rw_tally[0] += 1;
        match self.rewrite.packet(pkt) {
            Verdict::Next(_) => {
                self.rw_tally[1] += 1;
                Verdict::Next(FastNext::Out)
            }
            Verdict::Drop(d) => {
                if let Some(t) = self.rw_drops.get_mut(d.index()) {
                    *t += 1;
                }
                Verdict::Drop(FastDrop::Rewrite)
            }
        }
    }

    /// The tallies into nat44's and ip4-rewrite's counters (one frame each, if any
    /// packet reached them).
    fn add_to(&self, nat: &mut Counters, rewrite: &mut Counters) {
        let [n, fwd, hp, refused] = self.nat_tally.map(u64::from);
        if n > 0 {
            nat.frames += 1;
            nat.packets += n;
            for (i, v) in [
                (nat_node::Next::Forward as usize, fwd),
                (nat_node::Next::Hairpin as usize, hp),
            ] {
                if let Some(c) = nat.next.get_mut(i) {
                    *c += v;
                }
            }
            if let Some(c) = nat.drops.get_mut(nat_node::Drop::Refused as usize) {
                *c += refused;
            }
        }
        let [n, out] = self.rw_tally.map(u64::from);
        if n > 0 {
            rewrite.frames += 1;
            rewrite.packets += n;
            if let Some(c) = rewrite.next.get_mut(ip4::RewriteNext::Output as usize) {
                *c += out;
            }
            for (c, d) in rewrite.drops.iter_mut().zip(self.rw_drops) {
                *c += u64::from(d);
            }
        }
    }
}

impl Node for PppoeFast<'_, '_> {
    type Next = FastNext;
    type Drop = FastDrop;
    const NAME: &'static str = "pppoe-fast-input";
    const AHEAD: usize = 2;

    #[inline(always)]
    fn ahead_on(&self) -> bool {
        self.scratch.is_some()
    }

    /// Stage 2, from the packet's own bytes: the by-id entry and NAT44's index slot
    /// (their indexes kept for stage 1); stage 1: the session slots the by-id entry
    /// names and the NAT44 session the index slot names. The lines the decision
    /// reads, prefetched [`AHEAD_STRIDE`] and twice that packets ahead.
    #[inline(always)]
    fn ahead(&mut self, pkt: &Pkt<'_>, pos: usize, stage: usize) {
        let Some(sc) = self.scratch.as_deref_mut() else {
            return;
        };
        let (Some(sid), Some(key)) = (sc.a.get_mut(pos), sc.key.get_mut(pos)) else {
            return;
        };
        if stage == 0 {
            return;
        }
        let nat = self.fuse.as_ref().map(|f| &f.nat.nat);
        if stage == 2 {
            *sid = u32::MAX;
            *key = None;
            let d = pkt.data();
            let Some(l3) = raw_l3(d, 0x8864) else {
                return;
            };
            if let Some(s) = d.get(l3 + 2..).and_then(<[u8]>::first_chunk::<2>) {
                *sid = u32::from(u16::from_be_bytes(*s));
                if let Some(e) = self.t.by_sid.get(*sid as usize) {
                    prefetch_read(e);
                }
            }
            if let Some(n) = nat {
                *key = n.ahead_key(
                    bng_nat44::Direction::InToOut,
                    d.get(l3 + 8..).unwrap_or_default(),
                );
                if let Some(r) = key.and_then(|k| n.ahead_index(k)) {
                    prefetch_read(r);
                }
            }
        } else {
            if let Some(ways) = self.t.by_sid.get(*sid as usize) {
                for &h in ways {
                    if let Some(s) = (h as usize)
                        .checked_sub(1)
                        .and_then(|i| self.t.slots.get(i))
                    {
                        prefetch_read(s);
                    }
                }
            }
            if let Some(r) = nat.zip(*key).and_then(|(n, k)| n.ahead_session(k)) {
                prefetch_read(r);
            }
        }
    }

    #[inline(always)]
    fn packet(&mut self, pkt: &mut Pkt<'_>) -> Verdict<FastNext, FastDrop> {
        let l3 = usize::from(pkt.meta.l3_offset);
        let d = pkt.data();
        let (Some(src_mac), Some(h)) = (
            d.get(6..).and_then(<[u8]>::first_chunk::<6>),
            d.get(l3..).and_then(<[u8]>::first_chunk::<28>),
        ) else {
            return Verdict::Next(FastNext::Slow);
        };
        // RFC 2516 section 4: VER 1, TYPE 1, CODE 0x00 (session data); PPP IPv4
        let ppp_len = usize::from(u16::from_be_bytes([h[4], h[5]]));
        if h[0] != 0x11
            || h[1] != 0
            || h[6] != 0x00
            || h[7] != 0x21
            || h[8] != 0x45
            || ppp_len < 22
            || d.len() < l3 + 6 + ppp_len
        {
            return Verdict::Next(FastNext::Slow);
        }
        // TCP (protocol 6), first fragment: a SYN needs the MSS clamp
        if self.mss && h[17] == 6 && ((h[14] & 0x1f) | h[15]) == 0 {
            match d.get(l3 + 8 + 33) {
                Some(f) if f & 0x02 == 0 => {}
                _ => return Verdict::Next(FastNext::Slow),
            }
        }
        let Some(handle) = find_pppoe(
            self.t,
            self.pppoe,
            *src_mac,
            u16::from_be_bytes([h[2], h[3]]),
            pkt.meta.vlans,
        ) else {
            return Verdict::Next(FastNext::Slow);
        };
        let Some(slot) = (handle as usize)
            .checked_sub(1)
            .and_then(|i| self.t.slots.get_mut(i))
        else {
            return Verdict::Next(FastNext::Slow);
        };
        let src = u32::from_be_bytes([h[20], h[21], h[22], h[23]]);
        let f = slot.flags;
        if f & Slot::LIVE == 0 || src != slot.addr {
            return Verdict::Next(FastNext::Slow);
        }
        let payload = ppp_len - 2;
        if f & Slot::QOS_UP == 0 {
            // ip4-lookup: total length within the PPP payload, checksum, not to us,
            // TTL > 1, a route
            let Some(ip) = h.get(8..).and_then(<[u8]>::first_chunk::<20>) else {
                return Verdict::Next(FastNext::Slow);
            };
            let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
            let dst = u32::from_be_bytes([ip[16], ip[17], ip[18], ip[19]]);
            if total < 20
                || total > payload
                || !ip4::header_checksum_ok(ip)
                || ip[8] <= 1
                || self.lookup.local.iter().any(|a| u32::from(*a) == dst)
            {
                return Verdict::Next(FastNext::Slow);
            }
            let Some(adj) = self.lookup.fib.lookup(dst) else {
                return Verdict::Next(FastNext::Slow);
            };
            if !pkt.narrow(l3 + 8, total) {
                return Verdict::Next(FastNext::Slow);
            }
            self.t.count_up((handle as usize).wrapping_sub(1), payload);
            pkt.meta.l3_offset = 0;
            pkt.meta.subscriber = handle;
            pkt.meta.adjacency = adj;
            let next = if f & Slot::NAT == 0 {
                FastNext::Route
            } else {
                FastNext::Nat
            };
            return match &mut self.fuse {
                Some(fu) => fu.finish(pkt, next),
                None => Verdict::Next(next),
            };
        }
        // strip Ethernet + VLANs + PPPoE (6) + PPP protocol (2) and the padding (in
        // bounds: checked above)
        if !pkt.narrow(l3 + 8, payload) {
            return Verdict::Next(FastNext::Slow);
        }
        // QoS sessions: counted after their policer
        pkt.meta.l3_offset = 0;
        pkt.meta.subscriber = handle;
        Verdict::Next(if f & Slot::NAT == 0 {
            FastNext::Police
        } else {
            FastNext::PoliceNat
        })
    }
}

/// A PPPoE session's handle: by session id (no hash; the by-id entry's first way, then
/// its second), checked against the slot's MAC and VLANs; else the keyed hash map.
#[inline(always)]
fn find_pppoe(
    t: &Table,
    pppoe: &PppoeSessionInput,
    mac: [u8; 6],
    sid: u16,
    vlans: [u16; 2],
) -> Option<u32> {
    let first = t.by_sid.get(usize::from(sid)).map_or(0, |w| w[0]);
    if pppoe_slot_is(t, first, mac, sid, vlans) {
        return Some(first);
    }
    find_pppoe_shared(t, pppoe, mac, sid, vlans)
}

/// Whether slot `handle` holds the PPPoE session `(mac, sid, vlans)`.
#[inline(always)]
fn pppoe_slot_is(t: &Table, handle: u32, mac: [u8; 6], sid: u16, vlans: [u16; 2]) -> bool {
    matches!(
        (handle as usize).checked_sub(1).and_then(|i| t.slots.get(i)),
        Some(s) if s.sid == sid && s.vlans == vlans && s.hdr.first_chunk::<6>() == Some(&mac)
    )
}

/// [`find_pppoe`] past the by-id entry's first way (a shared id): its second way, then
/// the keyed hash map. Out of line, so the common case's loop stays as small.
#[inline(never)]
fn find_pppoe_shared(
    t: &Table,
    pppoe: &PppoeSessionInput,
    mac: [u8; 6],
    sid: u16,
    vlans: [u16; 2],
) -> Option<u32> {
    let second = t.by_sid.get(usize::from(sid)).map_or(0, |w| w[1]);
    if pppoe_slot_is(t, second, mac, sid, vlans) {
        return Some(second);
    }
    pppoe.get(&SessionKey {
        mac,
        session_id: sid,
        vlans,
    })
}

/// The offset of the payload of an Ethernet frame whose Ethernet type (behind up to two
/// 802.1Q / 802.1ad tags) is `ethertype`, read from the raw bytes (the look-ahead
/// stages see packets before `ethernet-input` has).
#[inline(always)]
fn raw_l3(d: &[u8], ethertype: u16) -> Option<usize> {
    let mut off = 12;
    for _ in 0..3 {
        let t = u16::from_be_bytes(*d.get(off..)?.first_chunk::<2>()?);
        if t == ethertype {
            return Some(off + 2);
        }
        // the tags `ethernet-input` reads: 802.1Q, 802.1ad, the older QinQ 0x9100
        if !matches!(t, 0x8100 | 0x88a8 | 0x9100) {
            return None;
        }
        off += 4;
    }
    None
}

crate::label! {
    /// Edges of `subscriber-output`.
    pub enum SubOutNext {
        /// Encapsulated toward an IPoE subscriber: to `interface-output`.
        Output => "interface-output",
        /// Encapsulated toward a PPPoE subscriber, possibly a TCP SYN: to
        /// `tcp-mss-clamp`, then `interface-output` (other PPPoE packets take `Output`).
        Pppoe => "tcp-mss-clamp",
        /// Encapsulated toward a subscriber with downstream QoS: to
        /// `qos-police-down` and the `qos-shaper`, then as above.
        Qos => "qos-down",
        /// TTL would reach zero, or larger than the PPPoE MTU with DF set: unchanged
        /// (`meta.subscriber` set), to `icmp-error` (time exceeded, RFC 1812 section
        /// 5.3.1; fragmentation needed, RFC 1191 section 4).
        Icmp => "icmp-error",
        /// Toward a PPPoE session, larger than its MTU, DF clear: unchanged
        /// (`meta.subscriber` set), to `ip4-fragment` (RFC 791 section 3.2), whose
        /// fragments take `subscriber-output` again.
        Fragment => "ip4-fragment",
    }
}

crate::label! {
    /// Drop reasons of `subscriber-output`.
    pub enum SubOutDrop {
        /// Not an IPv4 header (RFC 791 section 3.1) or shorter than its lengths.
        BadHeader => "bad-header",
        /// The header checksum does not verify.
        BadChecksum => "bad-checksum",
        /// TTL would reach zero (RFC 1812 section 5.3.1), ICMP errors off.
        TtlExpired => "ttl-expired",
        /// Larger than the PPPoE MTU with DF set, ICMP errors off.
        TooBig => "too-big",
        /// No session holds the destination address.
        NoSession => "no-session",
        /// No headroom for the encapsulation.
        NoHeadroom => "no-headroom",
    }
}

/// `subscriber-output`: one lookup by destination address, then TTL decrement (RFC
/// 1624 incremental checksum), the session's downstream counters and the prebuilt
/// rewrite (Ethernet, VLANs, and PPPoE session header + PPP protocol 0x0021, RFC 2516
/// section 6).
struct SubscriberOutput<'t> {
    t: &'t mut Table,
    /// The packets' IPv4 header checksums were verified before (by `nat44` out2in,
    /// which then updated them incrementally): not checked again.
    verified: bool,
    /// The slot + 1 that the packet's NAT44 port block names ([`BlockOwners`]; 0:
    /// none): taken when that slot is live and holds the destination address (no
    /// two live sessions share an address), else the address is looked up.
    hint: u32,
}

impl Node for SubscriberOutput<'_> {
    type Next = SubOutNext;
    type Drop = SubOutDrop;
    const NAME: &'static str = "subscriber-output";

    #[inline(always)]
    fn packet(&mut self, pkt: &mut Pkt<'_>) -> Verdict<SubOutNext, SubOutDrop> {
        let l3 = usize::from(pkt.meta.l3_offset);
        // the IPv4 header after the Ethernet one, which goes with the padding below
        let len = pkt.len().wrapping_sub(l3);
        let Some(h) = pkt.head_at_mut::<20>(l3) else {
            return Verdict::Drop(SubOutDrop::BadHeader);
        };
        let total = u16::from_be_bytes([h[2], h[3]]);
        if h[0] != 0x45 || usize::from(total) < 20 || usize::from(total) > len {
            // options (IHL > 5) are rare downstream: refused rather than branched on
            return Verdict::Drop(SubOutDrop::BadHeader);
        }
        let dst = u32::from_be_bytes([h[16], h[17], h[18], h[19]]);
        // a TCP first fragment (protocol 6, offset 0) that may be a SYN: only those
        // need `tcp-mss-clamp` (which passes what is not a SYN unchanged)
        let maybe_syn = h[9] == 6
            && ((h[6] & 0x1f) | h[7]) == 0
            && pkt.data().get(l3 + 33).is_none_or(|f| f & 0x02 != 0);
        let idx = match (self.hint as usize)
            .checked_sub(1)
            .and_then(|i| self.t.slots.get(i))
        {
            Some(s) if s.flags & Slot::LIVE != 0 && s.addr == dst => self.hint - 1,
            _ => match self.t.by_addr.get(dst) {
                Some(i) => i,
                None => return Verdict::Drop(SubOutDrop::NoSession),
            },
        };
        let Some(h) = pkt.head_at_mut::<20>(l3) else {
            return Verdict::Drop(SubOutDrop::BadHeader);
        };
        if !self.verified && !ip4::header_checksum_ok(h) {
            return Verdict::Drop(SubOutDrop::BadChecksum);
        }
        let i = idx as usize;
        let Some(flags) = self.t.slots.get(i).map(|s| s.flags) else {
            return Verdict::Drop(SubOutDrop::NoSession);
        };
        // a PPPoE session's link takes at most `pppoe_mtu` bytes (on the common path
        // one compare more; the rest in `exception`)
        if h[8] <= 1 || (usize::from(total) > self.t.pppoe_mtu && flags & Slot::PPPOE != 0) {
            let (expired, df) = (h[8] <= 1, h[6] & 0x40 != 0);
            return self.exception(pkt, idx, expired, df);
        }
        let old = u16::from_be_bytes([h[8], h[9]]);
        h[8] -= 1;
        let new = u16::from_be_bytes([h[8], h[9]]);
        let sum = crate::nodes::mss::update(u16::from_be_bytes([h[10], h[11]]), old, new);
        h[10..12].copy_from_slice(&sum.to_be_bytes());
        // the Ethernet header and the trailing padding go (the IPv4 total length
        // bounds the packet)
        if !pkt.narrow(l3, usize::from(total)) {
            return Verdict::Drop(SubOutDrop::BadHeader);
        }
        let qos = flags & Slot::QOS_DOWN != 0;
        if !qos {
            // QoS sessions are counted after their policer or shaper (`account`)
            self.t.count_down(i, usize::from(total));
        }
        let Some(slot) = self.t.slots.get(i) else {
            return Verdict::Drop(SubOutDrop::NoSession);
        };
        let n = usize::from(slot.hdr_len);
        let pppoe = flags & Slot::PPPOE != 0;
        let port = slot.port;
        let Some(out) = pkt.push_front(n) else {
            return Verdict::Drop(SubOutDrop::NoHeadroom);
        };
        write_hdr(out, &slot.hdr);
        if pppoe && let Some(l) = out.get_mut(n.wrapping_sub(4)..n.wrapping_sub(2)) {
            l.copy_from_slice(&total.wrapping_add(2).to_be_bytes());
        }
        pkt.meta.l3_offset = u16::from(slot_hdr_len(n));
        pkt.meta.tx_if = port;
        pkt.meta.subscriber = idx + 1;
        if qos {
            Verdict::Next(SubOutNext::Qos)
        } else if pppoe && maybe_syn {
            Verdict::Next(SubOutNext::Pppoe)
        } else {
            Verdict::Next(SubOutNext::Output)
        }
    }
}

impl SubscriberOutput<'_> {
    /// A packet whose TTL would reach zero (`expired`) or that is over its PPPoE
    /// session's MTU: unchanged, with the session in `meta.subscriber`, to
    /// `icmp-error` (expired, or DF set: the error in `meta.adjacency`; dropped with
    /// ICMP off) or to `ip4-fragment` (DF clear).
    #[cold]
    #[inline(never)]
    fn exception(
        &self,
        pkt: &mut Pkt<'_>,
        idx: u32,
        expired: bool,
        df: bool,
    ) -> Verdict<SubOutNext, SubOutDrop> {
        pkt.meta.subscriber = idx + 1;
        if !expired && !df {
            return Verdict::Next(SubOutNext::Fragment);
        }
        if !self.t.icmp {
            return Verdict::Drop(if expired {
                SubOutDrop::TtlExpired
            } else {
                SubOutDrop::TooBig
            });
        }
        pkt.meta.adjacency = if expired {
            icmp::time_exceeded()
        } else {
            icmp::frag_needed(u16::try_from(self.t.pppoe_mtu).unwrap_or(u16::MAX))
        };
        Verdict::Next(SubOutNext::Icmp)
    }
}

/// Writes the first `out.len()` bytes of a session's prebuilt header to `out`: the
/// lengths a slot holds (Ethernet 14, + 4 per VLAN tag, + 8 for PPPoE) as fixed-size
/// copies (a few moves where a length-generic copy calls `memcpy`).
#[inline(always)]
fn write_hdr(out: &mut [u8], hdr: &[u8; 30]) {
    #[inline(always)]
    fn put<const N: usize>(out: &mut [u8], hdr: &[u8; 30]) {
        if let (Some(o), Some(h)) = (out.first_chunk_mut::<N>(), hdr.first_chunk::<N>()) {
            *o = *h;
        }
    }
    match out.len() {
        14 => put::<14>(out, hdr),
        18 => put::<18>(out, hdr),
        22 => put::<22>(out, hdr),
        26 => put::<26>(out, hdr),
        30 => put::<30>(out, hdr),
        n => {
            if let (Some(o), Some(h)) = (out.get_mut(..n), hdr.get(..n)) {
                o.copy_from_slice(h);
            }
        }
    }
}

/// `nat44` in2out of packets whose IPv4 header checksum `ip4-lookup` or
/// `pppoe-fast-input` verified (every in2out packet of the graph):
/// `Nat44::in2out_fast` (`Nat44::in2out_verified` with a fixed-size-view fast path
/// for established UDP/TCP flows), which does not check it a second time.
struct In2OutVerified<'a, 's>(&'a mut Nat44Node<'s>);

impl Node for In2OutVerified<'_, '_> {
    type Next = nat_node::Next;
    type Drop = nat_node::Drop;
    const NAME: &'static str = "nat44";

    #[inline(always)]
    fn packet(&mut self, pkt: &mut Pkt<'_>) -> Verdict<nat_node::Next, nat_node::Drop> {
        let l3 = usize::from(pkt.meta.l3_offset);
        let Some(ip) = pkt.data_mut().get_mut(l3..) else {
            return Verdict::Drop(nat_node::Drop::Refused);
        };
        match self.0.nat.in2out_fast(self.0.now, ip) {
            bng_nat44::Verdict::Forward => Verdict::Next(nat_node::Next::Forward),
            bng_nat44::Verdict::Hairpin => Verdict::Next(nat_node::Next::Hairpin),
            bng_nat44::Verdict::Drop(_) => Verdict::Drop(nat_node::Drop::Refused),
        }
    }
}

#[inline(always)]
fn slot_hdr_len(n: usize) -> u8 {
    u8::try_from(n).unwrap_or(0)
}

/// Counters of the graph's nodes, added once per frame.
#[derive(Debug, Clone)]
pub struct BngCounters {
    /// `ethernet-input`.
    pub ethernet: Counters,
    /// `arp-input`.
    pub arp: Counters,
    /// `pppoe-session-input`.
    pub pppoe: Counters,
    /// `pppoe-fast-input` (PPPoE IPv4 data of live sessions: decap, anti-spoofing,
    /// counters in one pass; the rest goes on to `pppoe-session-input`).
    pub pppoe_fast: Counters,
    /// `ip4-input`.
    pub ip4_input: Counters,
    /// `ipoe-input`.
    pub ipoe: Counters,
    /// `subscriber-input`.
    pub sub_in: Counters,
    /// `ip4-lookup` (both the NAT and the routed frames).
    pub lookup: Counters,
    /// `nat44` in2out.
    pub nat_in2out: Counters,
    /// `nat44` out2in.
    pub nat_out2in: Counters,
    /// `ip4-rewrite`.
    pub rewrite: Counters,
    /// `subscriber-output`.
    pub sub_out: Counters,
    /// `tcp-mss-clamp` (PPPoE sessions, both directions).
    pub mss: Counters,
    /// `punt` (classification, per-type rate limit and queue share).
    pub punt: Counters,
    /// `qos-police-up` (the upstream policer; drop reasons by colour).
    pub police_up: Counters,
    /// `qos-police-down` (the downstream policer; drop reasons by colour).
    pub police_down: Counters,
    /// `esp-encrypt` (route-based tunnels, upstream).
    pub esp_encrypt: Counters,
    /// `esp-decrypt` (route-based tunnels, downstream: unknown SPI, replayed, ICV
    /// mismatch, ...).
    pub esp_decrypt: Counters,
    /// `esp-inner-check` (a decrypted packet's source routes into its tunnel).
    pub esp_inner: Counters,
    /// `icmp-error` (the errors sent, by edge; those not sent, by reason).
    pub icmp: Counters,
    /// `ip4-fragment`: packets split toward PPPoE sessions (RFC 791 section 3.2).
    pub fragmented: u64,
    /// `ip4-fragment`: fragments sent.
    pub fragments: u64,
    /// `ip4-fragment`: packets that could not be split (no free buffer, options):
    /// dropped.
    pub frag_dropped: u64,
    /// ESP packets `ip4-lookup` routed into a tunnel again, or to ourselves: dropped.
    pub tunnel_loop: u64,
    /// Decrypted packets that were ESP to us again (nested tunnels): dropped.
    pub tunnel_nested: u64,
    /// Frames handed to the control plane's queue ([`Bng::poll_punt`]), by
    /// [`PuntReason`].
    pub punted: [u64; PuntReason::COUNT],
    /// Frames on a punt edge the `punt` node refused (over its type's rate limit, its
    /// type's queue share full, or no control type), by [`PuntReason`] of the edge.
    pub punt_dropped: [u64; PuntReason::COUNT],
    /// IPv6 packets dropped (no IPv6 forwarding yet).
    pub ip6_dropped: u64,
    /// Packets handed to a port number with no `tx` frame.
    pub no_tx_port: u64,
    /// With [`Bng::set_profile`] on: nanoseconds spent per node, by
    /// [`BngCounters::NODES`] index (each includes the frame moves after it).
    pub nanos: [u64; 12],
}

impl BngCounters {
    /// Names of the `nanos` entries.
    pub const NODES: [&'static str; 12] = [
        "ethernet-input",
        "arp-input",
        "pppoe-session-input",
        "ip4-input",
        "ipoe-input",
        "subscriber-input",
        "ip4-lookup",
        "nat44-in2out",
        "ip4-rewrite",
        "nat44-out2in",
        "subscriber-output",
        "interface-output",
    ];
}

/// A per-node stopwatch for profiling (off: no clock is read).
struct Lap {
    last: Option<std::time::Instant>,
}

impl Lap {
    fn new(on: bool) -> Self {
        Self {
            last: on.then(std::time::Instant::now),
        }
    }

    #[inline(always)]
    fn lap(&mut self, slot: &mut u64) {
        if let Some(l) = self.last {
            let n = std::time::Instant::now();
            *slot += u64::try_from((n - l).as_nanos()).unwrap_or(u64::MAX);
            self.last = Some(n);
        }
    }
}

fn frames<'p, N: Node>() -> Vec<Frame<'p>> {
    (0..N::Next::COUNT).map(|_| new_frame()).collect()
}

/// Moves the frame at `outs[edge]` out for use as a node's input; put it back with
/// [`restore`] so its capacity is kept.
fn take<'p>(outs: &mut [Frame<'p>], edge: usize) -> Frame<'p> {
    core::mem::take(&mut outs[edge])
}

fn restore<'p>(outs: &mut [Frame<'p>], edge: usize, f: Frame<'p>) {
    outs[edge] = f;
}

/// Appends `from` to `to`, emptying `from`; when `to` is empty the two frames are
/// swapped instead of copying the packets (their capacities travel with them).
#[inline(always)]
fn move_all<'p>(to: &mut Frame<'p>, from: &mut Frame<'p>) {
    if to.is_empty() {
        core::mem::swap(to, from);
    } else {
        to.append(from);
    }
}

/// One worker's subscriber-gateway graph (see the module docs).
#[derive(Debug)]
pub struct Bng<'p> {
    cfg: BngConfig,
    eth: EthernetInput,
    arp: ArpInput,
    pppoe: PppoeSessionInput,
    ip4_in: Ip4Input,
    ipoe: IpoeInput,
    table: Table,
    lookup: Ip4Lookup,
    nat: Option<Nat44Node<'p>>,
    /// The owners of NAT44's port blocks (downstream hints).
    blocks: BlockOwners,
    /// The look-ahead's per-frame findings.
    scratch: Box<AheadScratch>,
    rewrite: Ip4Rewrite,
    mss: Option<MssClamp>,
    police_up: Policer,
    police_down: Policer,
    shaper: Shaper<'p>,
    /// Shaper profile changes, applied at the start of the next frame (they may free
    /// queued packets, which needs the pool).
    shaper_pending: Vec<(u32, Option<ShaperProfile>)>,
    /// Slots of removed sessions whose shaper queue is flushed at the next frame, then
    /// free for reuse.
    retired: Vec<u32>,
    police_out: Vec<Frame<'p>>,
    qos_out: Frame<'p>,
    idle: Frame<'p>,
    /// Per-node counters.
    pub counters: BngCounters,
    /// The packet trace (off unless `BngConfig::trace` > 0).
    pub trace: Trace,
    profile: bool,
    punts: VecDeque<Punt>,
    punt: PuntNode<'p>,
    punt_out: Vec<Frame<'p>>,
    nat_events: VecDeque<bng_nat44::Event>,
    eth_out: Vec<Frame<'p>>,
    arp_out: Vec<Frame<'p>>,
    pppoe_out: Vec<Frame<'p>>,
    fast_out: Vec<Frame<'p>>,
    ip4_in_out: Vec<Frame<'p>>,
    ipoe_out: Vec<Frame<'p>>,
    sub_in_out: Vec<Frame<'p>>,
    lookup_out: Vec<Frame<'p>>,
    lookup_nat_out: Vec<Frame<'p>>,
    nat_in_out: Vec<Frame<'p>>,
    nat_out_out: Vec<Frame<'p>>,
    rewrite_out: Vec<Frame<'p>>,
    sub_out_out: Vec<Frame<'p>>,
    mss_out: Vec<Frame<'p>>,
    /// Route-based tunnels: outbound SAs by tunnel index.
    esp_enc: EspEncrypt<TunnelTransform, TunnelRng>,
    /// Route-based tunnels: inbound SAs by SPI, tagged with their tunnel index.
    esp_dec: EspDecrypt<TunnelTransform>,
    /// Tunnel index -> its inbound SPI.
    tunnels: HashMap<u32, u32>,
    /// Some FIB route names a tunnel (`TUNNEL_NH + id`).
    tunnel_routes: bool,
    tunnel_events: VecDeque<TunnelEvent>,
    esp_frame: Frame<'p>,
    esp_scratch: Frame<'p>,
    esp_enc_out: Vec<Frame<'p>>,
    esp_dec_out: Vec<Frame<'p>>,
    esp_inner_out: Vec<Frame<'p>>,
    esp_ip4_in_out: Vec<Frame<'p>>,
    esp_lookup_out: Vec<Frame<'p>>,
    /// `icmp-error` (RFC 1812 section 4.3) and its frames: its input, its edges, the
    /// errors to NAT44 sessions, and `ip4-lookup` / `nat44` in2out of the errors it
    /// sends upstream.
    icmp: IcmpError,
    icmp_in: Frame<'p>,
    icmp_out: Vec<Frame<'p>>,
    icmp_nat: Frame<'p>,
    icmp_lookup_out: Vec<Frame<'p>>,
    icmp_nat_out: Vec<Frame<'p>>,
}

impl<'p> Bng<'p> {
    /// A graph with no sessions and no routes; with NAT44 when `nat` is given.
    ///
    /// # Errors
    /// [`ControlError::BadConfig`]: the upstream port is not among the ports, or the
    /// NAT configuration or storage is refused by `bng-nat44`.
    #[allow(clippy::too_many_lines, reason = "one field per node and frame")]
    pub fn new(cfg: BngConfig, nat: Option<&'p mut NatTables>) -> Result<Self, ControlError> {
        let up = cfg
            .ports
            .get(usize::from(cfg.upstream))
            .ok_or(ControlError::BadConfig("upstream port out of range"))?;
        let _ = up;
        let nat = match nat {
            None => None,
            Some(t) => Some(Nat44Node {
                nat: Nat44::new(
                    t.cfg,
                    Storage {
                        sessions: &mut t.sessions,
                        session_index: &mut t.session_index,
                        mappings: &mut t.mappings,
                        mapping_index: &mut t.mapping_index,
                        subscribers: &mut t.subscribers,
                        subscriber_index: &mut t.subscriber_index,
                        block_bitmap: &mut t.bitmap,
                        events: &mut t.events,
                    },
                )
                .map_err(|_| ControlError::BadConfig("NAT44 configuration or storage"))?,
                now: Duration::ZERO,
                direction: Direction::InToOut,
            }),
        };
        let (pool_first, pool_len) = nat.as_ref().map_or((0, 0), |n| {
            let (a, l) = n.nat.config().pool();
            (u32::from(a), l)
        });
        let local: Vec<Ipv4Addr> = cfg.ports.iter().map(|p| p.addr).collect();
        let max = cfg.max_sessions;
        Ok(Self {
            eth: EthernetInput {
                macs: cfg.ports.iter().map(|p| p.mac).collect(),
                promiscuous: false,
            },
            arp: ArpInput {
                interfaces: cfg
                    .ports
                    .iter()
                    .map(|p| ArpInterface {
                        mac: p.mac,
                        addr: p.addr,
                    })
                    .collect(),
            },
            pppoe: PppoeSessionInput::default(),
            ip4_in: Ip4Input {
                upstream: cfg.upstream,
                local: local.iter().map(|a| u32::from(*a)).collect(),
                pool_first,
                pool_len,
                esp: false,
            },
            ipoe: IpoeInput::default(),
            table: Table {
                slots: Vec::with_capacity(max.min(1 << 20)),
                totals: Vec::with_capacity(max.min(1 << 20)),
                free: Vec::new(),
                by_id: HashMap::with_capacity(max.min(1 << 20)),
                by_addr: AddrIndex::with_capacity(max.min(1 << 20)),
                by_sid: vec![[0; 2]; 1 << 16],
                pppoe_mtu: match cfg.pppoe_mtu {
                    0 => usize::MAX,
                    m => usize::from(m),
                },
                icmp: cfg.icmp.per_sec > 0,
            },
            lookup: Ip4Lookup {
                fib: Fib::new(),
                local,
                icmp: cfg.icmp.per_sec > 0,
            },
            scratch: AheadScratch::new(),
            blocks: nat
                .as_ref()
                .map_or_else(BlockOwners::default, |n| BlockOwners::new(n.nat.config())),
            nat,
            rewrite: Ip4Rewrite::default(),
            mss: (cfg.pppoe_mtu > 0).then(|| MssClamp::for_mtu(cfg.pppoe_mtu)),
            police_up: Policer::new(),
            police_down: Policer::new(),
            shaper: Shaper::new(SHAPER_MAX_QUEUED),
            shaper_pending: Vec::new(),
            retired: Vec::new(),
            police_out: frames::<Policer>(),
            qos_out: new_frame(),
            idle: Vec::new(),
            counters: BngCounters {
                ethernet: Counters::for_node::<EthernetInput>(),
                arp: Counters::for_node::<ArpInput>(),
                pppoe: Counters::for_node::<PppoeSessionInput>(),
                pppoe_fast: Counters::for_node::<PppoeFast<'_, '_>>(),
                ip4_input: Counters::for_node::<Ip4Input>(),
                ipoe: Counters::for_node::<IpoeInput>(),
                sub_in: Counters::for_node::<SubscriberInput<'_>>(),
                lookup: Counters::for_node::<Ip4Lookup>(),
                nat_in2out: Counters::for_node::<Nat44Node<'_>>(),
                nat_out2in: Counters::for_node::<Nat44Node<'_>>(),
                rewrite: Counters::for_node::<Ip4Rewrite>(),
                sub_out: Counters::for_node::<SubscriberOutput<'_>>(),
                mss: Counters::for_node::<MssClamp>(),
                punt: Counters::for_node::<PuntNode<'_>>(),
                police_up: Counters::for_node::<Policer>(),
                police_down: Counters::for_node::<Policer>(),
                esp_encrypt: Counters::for_node::<EspEncrypt<TunnelTransform, TunnelRng>>(),
                esp_decrypt: Counters::for_node::<EspDecrypt<TunnelTransform>>(),
                esp_inner: Counters::for_node::<InnerCheck<'_>>(),
                icmp: Counters::for_node::<IcmpError>(),
                fragmented: 0,
                fragments: 0,
                frag_dropped: 0,
                tunnel_loop: 0,
                tunnel_nested: 0,
                punted: [0; PuntReason::COUNT],
                punt_dropped: [0; PuntReason::COUNT],
                ip6_dropped: 0,
                no_tx_port: 0,
                nanos: [0; 12],
            },
            profile: false,
            trace: Trace::new(cfg.trace),
            punts: VecDeque::with_capacity(cfg.punt_queue.min(4096)),
            punt: PuntNode::new(
                &PuntConfig {
                    gateway4: cfg.ports.iter().map(|p| p.addr).collect(),
                    ..PuntConfig::default()
                },
                Duration::ZERO,
            ),
            punt_out: frames::<PuntNode<'_>>(),
            nat_events: VecDeque::new(),
            eth_out: frames::<EthernetInput>(),
            arp_out: frames::<ArpInput>(),
            pppoe_out: frames::<PppoeSessionInput>(),
            fast_out: frames::<PppoeFast<'_, '_>>(),
            ip4_in_out: frames::<Ip4Input>(),
            ipoe_out: frames::<IpoeInput>(),
            sub_in_out: frames::<SubscriberInput<'_>>(),
            lookup_out: frames::<Ip4Lookup>(),
            lookup_nat_out: frames::<Ip4Lookup>(),
            nat_in_out: frames::<Nat44Node<'_>>(),
            nat_out_out: frames::<Nat44Node<'_>>(),
            rewrite_out: frames::<Ip4Rewrite>(),
            sub_out_out: frames::<SubscriberOutput<'_>>(),
            mss_out: frames::<MssClamp>(),
            esp_enc: EspEncrypt::new(TunnelRng(None)),
            esp_dec: EspDecrypt::new(),
            tunnels: HashMap::new(),
            tunnel_routes: false,
            tunnel_events: VecDeque::new(),
            esp_frame: new_frame(),
            esp_scratch: new_frame(),
            esp_enc_out: frames::<EspEncrypt<TunnelTransform, TunnelRng>>(),
            esp_dec_out: frames::<EspDecrypt<TunnelTransform>>(),
            esp_inner_out: frames::<InnerCheck<'_>>(),
            esp_ip4_in_out: frames::<Ip4Input>(),
            esp_lookup_out: frames::<Ip4Lookup>(),
            icmp: IcmpError::new(
                cfg.ports.iter().map(|p| p.addr).collect(),
                cfg.upstream,
                cfg.icmp,
            ),
            icmp_in: new_frame(),
            icmp_out: frames::<IcmpError>(),
            icmp_nat: new_frame(),
            icmp_lookup_out: frames::<Ip4Lookup>(),
            icmp_nat_out: frames::<Nat44Node<'_>>(),
            cfg,
        })
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &BngConfig {
        &self.cfg
    }

    /// Turns per-node time accounting ([`BngCounters::nanos`]) on or off: one clock
    /// read per node per frame, for benchmarks and profiling.
    pub fn set_profile(&mut self, on: bool) {
        self.profile = on;
    }

    /// Live subscriber sessions.
    #[must_use]
    pub fn session_count(&self) -> usize {
        self.table.by_id.len()
    }

    // ------------------------------------------------------------------ control

    /// Applies one control command (between frames: the worker calls this at frame
    /// boundaries, so the packet path never sees a half-made change). Replies, where
    /// the command carries a reply channel, are sent here; a reply channel whose
    /// receiver is gone is ignored.
    pub fn apply(&mut self, cmd: Command) {
        match cmd {
            Command::AddSession(cfg, reply) => {
                let r = self.add_session(*cfg);
                if let Some(tx) = reply {
                    let _ = tx.send(r);
                }
            }
            Command::RemoveSession(id, reply) => {
                let r = self.remove_session(id);
                if let Some(tx) = reply {
                    let _ = tx.send(r);
                }
            }
            Command::AddRoute(route, reply) => {
                let r = self.add_route(route);
                if let Some(tx) = reply {
                    let _ = tx.send(r);
                }
            }
            Command::RemoveRoute(prefix, len) => {
                self.remove_route(prefix, len);
            }
            Command::SessionCounters(id, reply) => {
                let _ = reply.send(self.session_counters(id));
            }
            Command::AllCounters(reply) => {
                let _ = reply.send(self.all_session_counters());
            }
            Command::NodeCounters(reply) => {
                let _ = reply.send(self.counter_rows());
            }
            Command::SteerAddress(..) => {}
            Command::AddTunnel(t, reply) => {
                let r = self.add_tunnel(*t);
                if let Some(tx) = reply {
                    let _ = tx.send(r);
                }
            }
            Command::RemoveTunnel(id, reply) => {
                let r = self.remove_tunnel(id);
                if let Some(tx) = reply {
                    let _ = tx.send(r);
                }
            }
            Command::AddTunnelRoute(prefix, len, id, reply) => {
                let r = self.add_tunnel_route(prefix, len, id);
                if let Some(tx) = reply {
                    let _ = tx.send(r);
                }
            }
        }
    }

    /// Adds a session, or replaces the session with the same id (a modification:
    /// new address, VLANs, NAT, QoS; its counters carry over when its key and address
    /// stay the same).
    ///
    /// # Errors
    /// [`ControlError::TableFull`], [`ControlError::AddressInUse`] (another session
    /// holds the address), [`ControlError::KeyInUse`] (another session has the same
    /// MAC, session id and VLANs), [`ControlError::BadSession`] (an upstream or unknown
    /// port, PPPoE session id 0, NAT without NAT tables, an address of ours).
    pub fn add_session(&mut self, s: SessionConfig) -> Result<(), ControlError> {
        if s.port == self.cfg.upstream || usize::from(s.port) >= self.cfg.ports.len() {
            return Err(ControlError::BadSession("not an access port"));
        }
        if matches!(s.access, Access::Pppoe { session_id: 0 }) {
            return Err(ControlError::BadSession("PPPoE session id 0"));
        }
        if s.nat && self.nat.is_none() {
            return Err(ControlError::BadSession("NAT44 is not configured"));
        }
        let addr = u32::from(s.addr);
        if self.ip4_in.local.contains(&addr) {
            return Err(ControlError::BadSession("one of our addresses"));
        }
        if self.table.by_addr.get(addr).is_some_and(|i| {
            self.table
                .slots
                .get(i as usize)
                .is_some_and(|o| o.id != s.id)
        }) {
            return Err(ControlError::AddressInUse);
        }
        let pkey = Self::pppoe_key(&s);
        let ikey = Self::ipoe_key(&s);
        let key_owner = match (&pkey, &ikey) {
            (Some(k), _) => self.pppoe_lookup(k),
            (_, Some(k)) => self.ipoe_lookup(k),
            _ => None,
        };
        if key_owner.is_some_and(|o| o != s.id) {
            return Err(ControlError::KeyInUse);
        }
        let old = self.table.by_id.get(&s.id).map(|(i, c)| (*i, c.clone()));
        let counters = match &old {
            Some((i, c)) if c.mac == s.mac && c.vlans == s.vlans && c.addr == s.addr => {
                self.table.counters(*i as usize)
            }
            _ => SessionCounters::default(),
        };
        let idx = if let Some((i, c)) = old {
            self.unlink(&c);
            i
        } else if let Some(i) = self.table.free.pop() {
            i
        } else {
            if self.table.slots.len() >= self.cfg.max_sessions {
                return Err(ControlError::TableFull);
            }
            let i = u32::try_from(self.table.slots.len()).map_err(|_| ControlError::TableFull)?;
            self.table.slots.push(Slot::EMPTY);
            self.table.totals.push(SessionCounters::default());
            i
        };
        let slot = self.build_slot(&s);
        if let Some(sl) = self.table.slots.get_mut(idx as usize) {
            *sl = slot;
        }
        if let Some(t) = self.table.totals.get_mut(idx as usize) {
            *t = counters;
        }
        let handle = idx + 1;
        self.set_qos(handle, s.qos.as_ref());
        if let Some(k) = pkey {
            self.pppoe.insert(k, handle);
            if let Some(e) = self.table.by_sid.get_mut(usize::from(k.session_id))
                && let Some(w) = e.iter_mut().find(|w| **w == 0)
            {
                *w = handle;
            }
        }
        if let Some(k) = ikey {
            self.ipoe.insert(
                k,
                Binding {
                    addr,
                    subscriber: handle,
                },
            );
        }
        self.table.by_addr.insert(addr, idx);
        self.table.by_id.insert(s.id, (idx, s));
        Ok(())
    }

    /// Removes a session; returns its final counters (for the accounting stop).
    ///
    /// # Errors
    /// [`ControlError::UnknownSession`].
    pub fn remove_session(&mut self, id: SessionId) -> Result<SessionCounters, ControlError> {
        let (idx, cfg) = self
            .table
            .by_id
            .remove(&id)
            .ok_or(ControlError::UnknownSession)?;
        self.unlink(&cfg);
        let c = self.table.counters(idx as usize);
        if let Some(s) = self.table.slots.get_mut(idx as usize) {
            *s = Slot::EMPTY;
        }
        let shaped = self.set_qos(idx + 1, None);
        if shaped {
            // its queue is flushed at the next frame; the slot is reused after that
            self.retired.push(idx);
        } else {
            self.table.free.push(idx);
        }
        Ok(c)
    }

    /// The counters of one session.
    ///
    /// # Errors
    /// [`ControlError::UnknownSession`].
    pub fn session_counters(&self, id: SessionId) -> Result<SessionCounters, ControlError> {
        let (i, _) = self
            .table
            .by_id
            .get(&id)
            .ok_or(ControlError::UnknownSession)?;
        Ok(self.table.counters(*i as usize))
    }

    /// The counters of every session.
    #[must_use]
    pub fn all_session_counters(&self) -> Vec<(SessionId, SessionCounters)> {
        self.table
            .by_id
            .iter()
            .map(|(id, (i, _))| (*id, self.table.counters(*i as usize)))
            .collect()
    }

    /// The configuration of a session.
    #[must_use]
    pub fn session(&self, id: SessionId) -> Option<&SessionConfig> {
        self.table.by_id.get(&id).map(|(_, c)| c)
    }

    /// Adds or replaces a route (the FIB is rebuilt: ~10 ms for a DIR-24-8 table, so
    /// routes are for the few upstream prefixes, not per subscriber: subscribers are
    /// found by [`SessionConfig::addr`]).
    ///
    /// # Errors
    /// [`ControlError::BadRoute`]: unknown port, prefix length over 32, too many
    /// adjacencies.
    pub fn add_route(&mut self, r: Route) -> Result<(), ControlError> {
        let src = self
            .cfg
            .ports
            .get(usize::from(r.port))
            .ok_or(ControlError::BadRoute("no such port"))?
            .mac;
        let adj = Adjacency {
            tx_if: r.port,
            dst_mac: r.next_hop_mac,
            src_mac: src,
        };
        let idx = if let Some(i) = self.rewrite.adjacencies.iter().position(|a| *a == adj) {
            i
        } else {
            self.rewrite.adjacencies.push(adj);
            self.rewrite.adjacencies.len() - 1
        };
        let idx = u32::try_from(idx).map_err(|_| ControlError::BadRoute("too many adjacencies"))?;
        let r = self
            .lookup
            .fib
            .insert(r.prefix, r.len, idx)
            .map_err(ControlError::BadRoute);
        self.refresh_tunnel_routes();
        r
    }

    /// Removes a route; returns whether it existed.
    pub fn remove_route(&mut self, prefix: Ipv4Addr, len: u8) -> bool {
        let r = self.lookup.fib.remove(prefix, len);
        self.refresh_tunnel_routes();
        r
    }

    fn refresh_tunnel_routes(&mut self) {
        self.tunnel_routes = self.lookup.fib.routes().iter().any(|r| r.2 >= TUNNEL_NH);
    }

    /// Adds a route-based tunnel, or replaces the SAs of tunnel `t.id` (a rekey). From
    /// then on, ESP and ESP-in-UDP (port 4500, non-zero SPI) to our addresses from the
    /// upstream port go to `esp-decrypt`; IKE (SPI 0 on port 4500) and NAT-keepalives
    /// are still punted as `local`.
    ///
    /// # Errors
    /// [`ControlError::BadConfig`]: the index is [`MAX_TUNNELS`] or more; an SA is not
    /// in tunnel mode with IPv4 outer addresses; the outbound SA's source is not one of
    /// our addresses; the inbound SPI belongs to another tunnel; the transform draws
    /// random IVs and no randomness was ever given ([`TunnelConfig::rng`]).
    pub fn add_tunnel(&mut self, t: TunnelConfig) -> Result<(), ControlError> {
        if t.id >= MAX_TUNNELS {
            return Err(ControlError::BadConfig("tunnel index too large"));
        }
        let Mode::Tunnel(Tunnel::V4 { src, .. }) = t.outbound.config().mode else {
            return Err(ControlError::BadConfig(
                "the outbound SA is not a tunnel with IPv4 outer addresses",
            ));
        };
        if !matches!(t.inbound.config().mode, Mode::Tunnel(Tunnel::V4 { .. })) {
            return Err(ControlError::BadConfig(
                "the inbound SA is not a tunnel with IPv4 outer addresses",
            ));
        }
        if !self.ip4_in.local.contains(&u32::from_be_bytes(src)) {
            return Err(ControlError::BadConfig(
                "the tunnel's local address is not one of ours",
            ));
        }
        let spi = t.inbound.config().spi.0;
        if self.tunnels.iter().any(|(&id, &s)| s == spi && id != t.id) {
            return Err(ControlError::BadConfig("inbound SPI of another tunnel"));
        }
        if t.outbound.transform().random_iv() && t.rng.is_none() && self.esp_enc.rng.0.is_none() {
            return Err(ControlError::BadConfig(
                "a transform with random IVs needs TunnelConfig::rng",
            ));
        }
        if let Some(r) = t.rng {
            self.esp_enc.rng = TunnelRng(Some(r));
        }
        if let Some(old) = self.tunnels.insert(t.id, spi) {
            self.esp_dec.remove(old);
        }
        self.esp_enc.set_sa(t.id, t.outbound);
        self.esp_enc.bind(t.id, t.id);
        self.esp_dec.insert_tagged(t.inbound, t.id);
        self.ip4_in.esp = true;
        Ok(())
    }

    /// Removes a tunnel's SAs; its routes stay (their packets are then dropped by
    /// `esp-encrypt` as `no-sa`) until [`Bng::remove_route`].
    ///
    /// # Errors
    /// [`ControlError::BadConfig`]: no such tunnel.
    pub fn remove_tunnel(&mut self, id: u32) -> Result<(), ControlError> {
        let spi = self
            .tunnels
            .remove(&id)
            .ok_or(ControlError::BadConfig("no such tunnel"))?;
        self.esp_dec.remove(spi);
        self.esp_enc.remove_sa(id);
        self.ip4_in.esp = !self.tunnels.is_empty();
        Ok(())
    }

    /// Adds or replaces the route `prefix/len` into tunnel `tunnel` (route-based
    /// IPsec: the FIB entry names the tunnel). Subscribers' packets to it skip NAT44
    /// (a business subscriber's site-to-site VPN keeps its own addresses) and leave
    /// ESP-encrypted toward the tunnel's peer, which is itself routed by the FIB.
    /// The tunnel may be added after its routes.
    ///
    /// # Errors
    /// [`ControlError::BadRoute`]: prefix length over 32, tunnel index too large.
    pub fn add_tunnel_route(
        &mut self,
        prefix: Ipv4Addr,
        len: u8,
        tunnel: u32,
    ) -> Result<(), ControlError> {
        if tunnel >= MAX_TUNNELS {
            return Err(ControlError::BadRoute("tunnel index too large"));
        }
        let r = self
            .lookup
            .fib
            .insert(prefix, len, TUNNEL_NH + tunnel)
            .map_err(ControlError::BadRoute);
        self.refresh_tunnel_routes();
        r
    }

    /// The tunnel's outbound and inbound SA counters (`bng-esp`'s [`SaStats`]).
    #[must_use]
    pub fn tunnel_stats(&self, id: u32) -> Option<(SaStats, SaStats)> {
        let spi = *self.tunnels.get(&id)?;
        let out = *self.esp_enc.sa(id)?.stats();
        let inb = *self.esp_dec.sa(spi)?.stats();
        Some((out, inb))
    }

    /// The next event of a tunnel's SAs (soft lifetime: rekey; hard lifetime or last
    /// sequence number: the SA refuses traffic), oldest first.
    pub fn poll_tunnel_event(&mut self) -> Option<TunnelEvent> {
        self.tunnel_events.pop_front()
    }

    /// Moves the tunnels' SA events to `tunnel_events`.
    fn collect_tunnel_events(&mut self) {
        for (&id, &spi) in &self.tunnels {
            if let Some(sa) = self.esp_enc.sa_mut(id) {
                while let Some(event) = sa.poll_event() {
                    if self.tunnel_events.len() < 4096 {
                        self.tunnel_events.push_back(TunnelEvent {
                            tunnel: id,
                            outbound: true,
                            event,
                        });
                    }
                }
            }
            if let Some(sa) = self.esp_dec.sa_mut(spi) {
                while let Some(event) = sa.poll_event() {
                    if self.tunnel_events.len() < 4096 {
                        self.tunnel_events.push_back(TunnelEvent {
                            tunnel: id,
                            outbound: false,
                            event,
                        });
                    }
                }
            }
        }
    }

    fn pppoe_key(s: &SessionConfig) -> Option<SessionKey> {
        match s.access {
            Access::Pppoe { session_id } => Some(SessionKey {
                mac: s.mac,
                session_id,
                vlans: s.vlans,
            }),
            Access::Ipoe { .. } => None,
        }
    }

    fn ipoe_key(s: &SessionConfig) -> Option<IpoeKey> {
        match s.access {
            Access::Ipoe { .. } => Some(IpoeKey {
                mac: s.mac,
                vlans: s.vlans,
            }),
            Access::Pppoe { .. } => None,
        }
    }

    fn handle_id(&self, handle: u32) -> Option<SessionId> {
        let s = self.table.slots.get((handle as usize).checked_sub(1)?)?;
        (s.flags & Slot::LIVE != 0).then_some(s.id)
    }

    fn pppoe_lookup(&self, k: &SessionKey) -> Option<SessionId> {
        self.handle_id(self.pppoe.get(k)?)
    }

    fn ipoe_lookup(&self, k: &IpoeKey) -> Option<SessionId> {
        self.handle_id(self.ipoe.get(k)?.subscriber)
    }

    fn unlink(&mut self, c: &SessionConfig) {
        if let Some(k) = Self::pppoe_key(c)
            && let Some(h) = self.pppoe.remove(&k)
            && let Some(e) = self.table.by_sid.get_mut(usize::from(k.session_id))
            && let Some(w) = e.iter_mut().find(|w| **w == h)
        {
            *w = 0;
        }
        if let Some(k) = Self::ipoe_key(c) {
            self.ipoe.remove(&k);
        }
        self.table.by_addr.remove(u32::from(c.addr));
    }

    /// Installs `handle`'s QoS (policers now, the shaper at the next frame); returns
    /// whether a shaper profile was removed (its queue is flushed at the next frame).
    fn set_qos(&mut self, handle: u32, q: Option<&QosProfile>) -> bool {
        match q.and_then(|q| q.up) {
            Some(p) => self.police_up.set_profile(handle, p),
            None => self.police_up.clear(handle),
        }
        let (police, shape) = match q.and_then(|q| q.down) {
            Some(DownQos::Police(p)) => (Some(p), None),
            Some(DownQos::Shape(p)) => (None, Some(p)),
            None => (None, None),
        };
        match police {
            Some(p) => self.police_down.set_profile(handle, p),
            None => self.police_down.clear(handle),
        }
        let was_shaped = self
            .shaper_pending
            .iter()
            .rev()
            .find(|(h, _)| *h == handle)
            .map_or_else(|| self.shaper.is_shaped(handle), |(_, p)| p.is_some());
        if shape.is_some() || was_shaped {
            self.shaper_pending.push((handle, shape));
        }
        was_shaped && shape.is_none()
    }

    /// Applies queued shaper changes and frees retired slots (start of a frame).
    fn apply_qos_changes(&mut self, now: Duration, pool: &mut Pool<'p>) {
        for (h, p) in self.shaper_pending.drain(..) {
            match p {
                Some(p) => self.shaper.set_profile(h, p, now, pool),
                None => self.shaper.clear(h, pool),
            }
        }
        self.table.free.append(&mut self.retired);
    }

    /// Packets the downstream shaper holds at most in all its sessions' queues (size
    /// the worker's buffer pool for it; default [`SHAPER_MAX_QUEUED`]). Takes effect
    /// for packets queued from now on.
    pub fn set_shaper_limit(&mut self, packets: usize) {
        self.shaper.set_max_queued(packets);
    }

    /// When a packet queued by the downstream shaper can go next (`None`: none
    /// queued); then call [`Bng::poll_shaper`] (or [`Bng::process`] with the next frame).
    #[must_use]
    pub fn shaper_timeout(&self) -> Option<Duration> {
        self.shaper.poll_timeout()
    }

    /// Releases the shaped packets whose tokens have accrued by `now` into `tx`, as
    /// [`Bng::process`] does with every frame, for when no frame comes in.
    pub fn poll_shaper(&mut self, now: Duration, pool: &mut Pool<'p>, tx: &mut [Frame<'p>]) {
        let mut rx = core::mem::take(&mut self.idle);
        self.process(now, &mut rx, pool, tx);
        self.idle = rx;
    }

    /// The QoS counters: upstream and downstream policers, and the shaper.
    #[must_use]
    pub fn qos_stats(&self) -> (PolicerStats, PolicerStats, ShaperStats) {
        (
            self.police_up.stats,
            self.police_down.stats,
            self.shaper.stats,
        )
    }

    fn build_slot(&self, s: &SessionConfig) -> Slot {
        let our = self
            .cfg
            .ports
            .get(usize::from(s.port))
            .map_or([0; 6], |p| p.mac);
        let mut hdr = [0u8; 30];
        let mut n = 0usize;
        let mut put = |b: &[u8]| {
            if let Some(d) = hdr.get_mut(n..n + b.len()) {
                d.copy_from_slice(b);
            }
            n += b.len();
        };
        put(&s.mac);
        put(&our);
        match s.vlans {
            [0, 0] => {}
            [v, 0] | [0, v] => {
                put(&[0x81, 0x00]);
                put(&(v & 0x0fff).to_be_bytes());
            }
            [o, i] => {
                put(&self.cfg.qinq_tpid.to_be_bytes());
                put(&(o & 0x0fff).to_be_bytes());
                put(&[0x81, 0x00]);
                put(&(i & 0x0fff).to_be_bytes());
            }
        }
        let mut flags = Slot::LIVE;
        match s.access {
            Access::Pppoe { session_id } => {
                flags |= Slot::PPPOE;
                put(&[0x88, 0x64, 0x11, 0x00]);
                put(&session_id.to_be_bytes());
                put(&[0, 0, 0x00, 0x21]);
            }
            Access::Ipoe { .. } => put(&[0x08, 0x00]),
        }
        if s.nat {
            flags |= Slot::NAT;
        }
        if let Some(q) = &s.qos {
            if q.up.is_some() {
                flags |= Slot::QOS_UP;
            }
            if q.down.is_some() {
                flags |= Slot::QOS_DOWN;
            }
        }
        Slot {
            hdr,
            hdr_len: slot_hdr_len(n),
            flags,
            addr: u32::from(s.addr),
            port: s.port,
            sid: match s.access {
                Access::Pppoe { session_id } => session_id,
                Access::Ipoe { .. } => 0,
            },
            vlans: s.vlans,
            id: s.id,
            delta: [0; 4],
        }
    }

    // ------------------------------------------------------------------ packets

    /// Runs one received frame through the graph at time `now` (the NAT44 clock).
    /// Each packet's `meta.rx_if` must be its port. Packets to transmit are appended
    /// to `tx[port]` (one frame per port); punted frames are copied to the punt queue
    /// ([`Bng::poll_punt`]); every other packet goes back to `pool`.
    #[allow(
        clippy::too_many_lines,
        reason = "the graph's edges, in order, in one place"
    )]
    pub fn process(
        &mut self,
        now: Duration,
        rx: &mut Frame<'p>,
        pool: &mut Pool<'p>,
        tx: &mut [Frame<'p>],
    ) {
        self.punt.now = now;
        if !self.shaper_pending.is_empty() || !self.retired.is_empty() {
            self.apply_qos_changes(now, pool);
        }
        let c = &mut self.counters;
        let tr = &mut self.trace;
        let mut clock = Lap::new(self.profile);
        if rx
            .first()
            .is_some_and(|p| p.meta.rx_if == self.cfg.upstream)
        {
            // a frame from the upstream port (backends receive per port): ethernet-input
            // and ip4-input of its IPv4 packets in one pass; with small tables, no
            // trace and no tunnels also nat44 out2in and subscriber-output
            if (FUSE_LARGE || self.table.slots.len() < WARM_MIN_SESSIONS)
                && !tr.is_on()
                && !self.ip4_in.esp
                && let Some(nat) = &mut self.nat
            {
                nat.now = now;
                nat.direction = Direction::OutToIn;
                let mut fused = Ip4InFused {
                    ip4: &mut self.ip4_in,
                    nat,
                    ahead: self.table.slots.len() >= WARM_MIN_SESSIONS,
                    t: &mut self.table,
                    nat_tally: Tally::new(),
                    sub_tally: Tally::new(),
                    scratch: &mut self.scratch,
                    blocks: &self.blocks,
                    cur_hint: 0,
                };
                run2(
                    &mut self.eth,
                    ethernet::Next::Ip4,
                    &mut fused,
                    rx,
                    &mut self.eth_out,
                    &mut self.ip4_in_out,
                    pool,
                    (&mut c.ethernet, &mut c.ip4_input),
                    tr,
                );
                fused.nat_tally.add_counted(&mut c.nat_out2in);
                fused.sub_tally.add_counted(&mut c.sub_out);
            } else {
                run2(
                    &mut self.eth,
                    ethernet::Next::Ip4,
                    &mut self.ip4_in,
                    rx,
                    &mut self.eth_out,
                    &mut self.ip4_in_out,
                    pool,
                    (&mut c.ethernet, &mut c.ip4_input),
                    tr,
                );
            }
        } else if FUSE_LARGE || self.table.slots.len() < WARM_MIN_SESSIONS {
            // small tables (no warm-up pass between the two): ethernet-input and
            // pppoe-fast-input of its PPPoE session frames in one pass, and (unless
            // tracing, or with tunnel routes, which split ip4-lookup's output) nat44
            // in2out and ip4-rewrite in the same pass
            let fuse = match &mut self.nat {
                Some(nat) if !tr.is_on() && !self.tunnel_routes => {
                    nat.now = now;
                    nat.direction = Direction::InToOut;
                    Some(Fused::new(nat, &mut self.rewrite))
                }
                _ => None,
            };
            let fused = fuse.is_some();
            let ahead = self.table.slots.len() >= WARM_MIN_SESSIONS;
            let mut fast = PppoeFast {
                pppoe: &self.pppoe,
                t: &mut self.table,
                lookup: &self.lookup,
                mss: self.mss.is_some(),
                fuse,
                scratch: ahead.then_some(&mut *self.scratch),
            };
            run2(
                &mut self.eth,
                ethernet::Next::PppoeSession,
                &mut fast,
                rx,
                &mut self.eth_out,
                &mut self.fast_out,
                pool,
                (&mut c.ethernet, &mut c.pppoe_fast),
                tr,
            );
            if let Some(fu) = &fast.fuse {
                fu.add_to(&mut c.nat_in2out, &mut c.rewrite);
            }
            debug_assert!(fused || self.fast_out[FastNext::Out as usize].is_empty());
        } else {
            run(
                &mut self.eth,
                rx,
                &mut self.eth_out,
                pool,
                &mut c.ethernet,
                tr,
            );
        }
        clock.lap(&mut c.nanos[0]);

        // ARP for our addresses
        let mut f = take(&mut self.eth_out, ethernet::Next::Arp as usize);
        run(
            &mut self.arp,
            &mut f,
            &mut self.arp_out,
            pool,
            &mut c.arp,
            tr,
        );
        restore(&mut self.eth_out, ethernet::Next::Arp as usize, f);
        clock.lap(&mut c.nanos[1]);

        // PPPoE discovery: control plane
        let f = &mut self.eth_out[ethernet::Next::PppoeDiscovery as usize];
        punt_all(
            &mut self.punt,
            &mut self.punt_out,
            c,
            tr,
            f,
            pool,
            PuntReason::PppoeDiscovery,
        );

        // IPv6: not forwarded yet
        let f = &mut self.eth_out[ethernet::Next::Ip6 as usize];
        c.ip6_dropped += f.len() as u64;
        pool.free_all(f);

        // PPPoE session data: the fast path (decap, anti-spoofing, counters in one
        // pass), then the general path for the rest
        let mut f = take(&mut self.eth_out, ethernet::Next::PppoeSession as usize);
        if self.table.slots.len() >= WARM_MIN_SESSIONS {
            warm_pppoe(&self.pppoe, &self.table, &f);
        }
        run(
            &mut PppoeFast {
                pppoe: &self.pppoe,
                t: &mut self.table,
                lookup: &self.lookup,
                mss: self.mss.is_some(),
                fuse: None,
                scratch: None,
            },
            &mut f,
            &mut self.fast_out,
            pool,
            &mut c.pppoe_fast,
            tr,
        );
        restore(&mut self.eth_out, ethernet::Next::PppoeSession as usize, f);
        let slow = FastNext::Slow as usize;
        let mut f = take(&mut self.fast_out, slow);
        run(
            &mut self.pppoe,
            &mut f,
            &mut self.pppoe_out,
            pool,
            &mut c.pppoe,
            tr,
        );
        restore(&mut self.fast_out, slow, f);
        clock.lap(&mut c.nanos[2]);
        let f = &mut self.pppoe_out[pppoe::Next::Control as usize];
        punt_all(
            &mut self.punt,
            &mut self.punt_out,
            c,
            tr,
            f,
            pool,
            PuntReason::PppControl,
        );
        let f = &mut self.pppoe_out[pppoe::Next::Ip6 as usize];
        c.ip6_dropped += f.len() as u64;
        pool.free_all(f);

        // IPv4 by port and destination
        let mut f = take(&mut self.eth_out, ethernet::Next::Ip4 as usize);
        run(
            &mut self.ip4_in,
            &mut f,
            &mut self.ip4_in_out,
            pool,
            &mut c.ip4_input,
            tr,
        );
        restore(&mut self.eth_out, ethernet::Next::Ip4 as usize, f);
        // esp-decrypt: route-based tunnels' ESP to us; the inner packets join
        // ip4-input's edges as if received on the upstream port
        let mut f = take(&mut self.ip4_in_out, Ip4InNext::Esp as usize);
        if !f.is_empty() {
            self.esp_dec.now = now;
            run(
                &mut self.esp_dec,
                &mut f,
                &mut self.esp_dec_out,
                pool,
                &mut c.esp_decrypt,
                tr,
            );
            let f6 = &mut self.esp_dec_out[esp_node::DecryptNext::Ip6 as usize];
            c.ip6_dropped += f6.len() as u64;
            pool.free_all(f6);
            let e4 = esp_node::DecryptNext::Ip4 as usize;
            let mut inner = take(&mut self.esp_dec_out, e4);
            run(
                &mut InnerCheck {
                    fib: &self.lookup.fib,
                    upstream: self.cfg.upstream,
                },
                &mut inner,
                &mut self.esp_inner_out,
                pool,
                &mut c.esp_inner,
                tr,
            );
            restore(&mut self.esp_dec_out, e4, inner);
            let mut inner = take(&mut self.esp_inner_out, InnerNext::Ip4 as usize);
            run(
                &mut self.ip4_in,
                &mut inner,
                &mut self.esp_ip4_in_out,
                pool,
                &mut c.ip4_input,
                tr,
            );
            restore(&mut self.esp_inner_out, InnerNext::Ip4 as usize, inner);
            for e in [Ip4InNext::Nat, Ip4InNext::Subscriber, Ip4InNext::Local] {
                self.ip4_in_out[e as usize].append(&mut self.esp_ip4_in_out[e as usize]);
            }
            for e in [Ip4InNext::Esp, Ip4InNext::Access] {
                let fr = &mut self.esp_ip4_in_out[e as usize];
                c.tunnel_nested += fr.len() as u64;
                pool.free_all(fr);
            }
        }
        restore(&mut self.ip4_in_out, Ip4InNext::Esp as usize, f);
        clock.lap(&mut c.nanos[3]);
        let f = &mut self.ip4_in_out[Ip4InNext::Local as usize];
        punt_all(
            &mut self.punt,
            &mut self.punt_out,
            c,
            tr,
            f,
            pool,
            PuntReason::Local,
        );

        // IPoE classification and anti-spoofing
        let mut f = take(&mut self.ip4_in_out, Ip4InNext::Access as usize);
        run(
            &mut self.ipoe,
            &mut f,
            &mut self.ipoe_out,
            pool,
            &mut c.ipoe,
            tr,
        );
        restore(&mut self.ip4_in_out, Ip4InNext::Access as usize, f);
        clock.lap(&mut c.nanos[4]);
        let f = &mut self.ipoe_out[ipoe::Next::Dhcp as usize];
        punt_all(
            &mut self.punt,
            &mut self.punt_out,
            c,
            tr,
            f,
            pool,
            PuntReason::Dhcp,
        );

        // tcp-mss-clamp on PPPoE sessions' upstream SYNs
        if let Some(m) = &mut self.mss {
            let edge = pppoe::Next::Ip4 as usize;
            let mut f = take(&mut self.pppoe_out, edge);
            run(m, &mut f, &mut self.mss_out, pool, &mut c.mss, tr);
            f.append(&mut self.mss_out[mss::Next::Forward as usize]);
            restore(&mut self.pppoe_out, edge, f);
        }

        // subscriber-input: PPPoE (general path) and IPoE upstream packets
        {
            if self.table.slots.len() >= WARM_MIN_SESSIONS {
                warm_slots(&self.table, &self.pppoe_out[pppoe::Next::Ip4 as usize]);
                warm_slots(&self.table, &self.ipoe_out[ipoe::Next::Ip4 as usize]);
            }
            let mut node = SubscriberInput { t: &mut self.table };
            for (outs, edge) in [
                (&mut self.pppoe_out, pppoe::Next::Ip4 as usize),
                (&mut self.ipoe_out, ipoe::Next::Ip4 as usize),
            ] {
                let mut f = take(outs, edge);
                run(
                    &mut node,
                    &mut f,
                    &mut self.sub_in_out,
                    pool,
                    &mut c.sub_in,
                    tr,
                );
                restore(outs, edge, f);
            }
        }
        // the fast path's packets join after the general path's
        for (from, to) in [
            (FastNext::Police, SubInNext::Police),
            (FastNext::PoliceNat, SubInNext::PoliceNat),
        ] {
            let fr = &mut self.fast_out[from as usize];
            if !fr.is_empty() {
                move_all(&mut self.sub_in_out[to as usize], fr);
            }
        }
        clock.lap(&mut c.nanos[5]);

        // qos-police-up: sessions with an upstream policer, back onto their edges
        self.police_up.now = now;
        for (edge, to) in [
            (SubInNext::Police as usize, SubInNext::Route as usize),
            (SubInNext::PoliceNat as usize, SubInNext::Nat as usize),
        ] {
            let mut f = take(&mut self.sub_in_out, edge);
            if !f.is_empty() {
                run(
                    &mut self.police_up,
                    &mut f,
                    &mut self.police_out,
                    pool,
                    &mut c.police_up,
                    tr,
                );
                let out = &mut self.police_out[qos::Next::Forward as usize];
                account(&mut self.table, out, true);
                self.sub_in_out[to].append(out);
            }
            restore(&mut self.sub_in_out, edge, f);
        }

        // ip4-lookup, routed and NAT halves
        let mut f = take(&mut self.sub_in_out, SubInNext::Route as usize);
        run(
            &mut self.lookup,
            &mut f,
            &mut self.lookup_out,
            pool,
            &mut c.lookup,
            tr,
        );
        restore(&mut self.sub_in_out, SubInNext::Route as usize, f);
        let mut f = take(&mut self.sub_in_out, SubInNext::Nat as usize);
        run(
            &mut self.lookup,
            &mut f,
            &mut self.lookup_nat_out,
            pool,
            &mut c.lookup,
            tr,
        );
        restore(&mut self.sub_in_out, SubInNext::Nat as usize, f);
        // the fast path's looked-up packets join after the general path's
        for (from, to) in [
            (FastNext::Route, &mut self.lookup_out),
            (FastNext::Nat, &mut self.lookup_nat_out),
        ] {
            let fr = &mut self.fast_out[from as usize];
            if !fr.is_empty() {
                move_all(&mut to[ip4::LookupNext::Rewrite as usize], fr);
            }
        }
        clock.lap(&mut c.nanos[6]);
        for outs in [&mut self.lookup_out, &mut self.lookup_nat_out] {
            let f = &mut outs[ip4::LookupNext::Local as usize];
            punt_all(
                &mut self.punt,
                &mut self.punt_out,
                c,
                tr,
                f,
                pool,
                PuntReason::Local,
            );
        }

        // route-based tunnels: what ip4-lookup routed into a tunnel skips NAT44 and
        // goes to esp-encrypt, then (the outer packet) ip4-lookup and ip4-rewrite
        if self.tunnel_routes {
            for outs in [&mut self.lookup_out, &mut self.lookup_nat_out] {
                split_tunnel(
                    &mut outs[ip4::LookupNext::Rewrite as usize],
                    &mut self.esp_scratch,
                    &mut self.esp_frame,
                );
            }
        }
        if !self.esp_frame.is_empty() {
            self.esp_enc.now = now;
            run(
                &mut self.esp_enc,
                &mut self.esp_frame,
                &mut self.esp_enc_out,
                pool,
                &mut c.esp_encrypt,
                tr,
            );
            let f6 = &mut self.esp_enc_out[esp_node::EncryptNext::Ip6 as usize];
            c.ip6_dropped += f6.len() as u64;
            pool.free_all(f6);
            let e4 = esp_node::EncryptNext::Ip4 as usize;
            let mut outer = take(&mut self.esp_enc_out, e4);
            run(
                &mut self.lookup,
                &mut outer,
                &mut self.esp_lookup_out,
                pool,
                &mut c.lookup,
                tr,
            );
            restore(&mut self.esp_enc_out, e4, outer);
            let lo = &mut self.esp_lookup_out[ip4::LookupNext::Local as usize];
            c.tunnel_loop += lo.len() as u64;
            pool.free_all(lo);
            // an outer packet routed into a tunnel again is dropped (no nesting)
            let rw = ip4::LookupNext::Rewrite as usize;
            let mut nested = take(&mut self.esp_enc_out, e4);
            split_tunnel(
                &mut self.esp_lookup_out[rw],
                &mut self.esp_scratch,
                &mut nested,
            );
            c.tunnel_loop += nested.len() as u64;
            pool.free_all(&mut nested);
            restore(&mut self.esp_enc_out, e4, nested);
            let mut outer = take(&mut self.esp_lookup_out, rw);
            run(
                &mut self.rewrite,
                &mut outer,
                &mut self.rewrite_out,
                pool,
                &mut c.rewrite,
                tr,
            );
            restore(&mut self.esp_lookup_out, rw, outer);
        }

        // icmp-error: what ip4-lookup found expired (RFC 1812 section 5.3.1) gets a
        // time exceeded; errors to subscribers join subscriber-output's input below
        let te = ip4::LookupNext::TimeExceeded as usize;
        for outs in [
            &mut self.lookup_out,
            &mut self.lookup_nat_out,
            &mut self.esp_lookup_out,
        ] {
            if !outs[te].is_empty() {
                self.icmp_in.append(&mut outs[te]);
            }
        }
        if !self.icmp_in.is_empty() {
            self.icmp.now = now;
            run(
                &mut self.icmp,
                &mut self.icmp_in,
                &mut self.icmp_out,
                pool,
                &mut c.icmp,
                tr,
            );
            self.ip4_in_out[Ip4InNext::Subscriber as usize]
                .append(&mut self.icmp_out[icmp::Next::Access as usize]);
        }

        // nat44 in2out
        let mut f = take(&mut self.lookup_nat_out, ip4::LookupNext::Rewrite as usize);
        if let Some(nat) = &mut self.nat {
            nat.now = now;
            nat.direction = Direction::InToOut;
            if self.table.slots.len() >= WARM_MIN_SESSIONS {
                warm_nat(nat, &f, bng_nat44::Direction::InToOut);
            }
            // nat44 in2out and ip4-rewrite of what it forwards, in one pass
            run2(
                &mut In2OutVerified(nat),
                nat_node::Next::Forward,
                &mut self.rewrite,
                &mut f,
                &mut self.nat_in_out,
                &mut self.rewrite_out,
                pool,
                (&mut c.nat_in2out, &mut c.rewrite),
                tr,
            );
        } else {
            pool.free_all(&mut f);
        }
        restore(
            &mut self.lookup_nat_out,
            ip4::LookupNext::Rewrite as usize,
            f,
        );
        clock.lap(&mut c.nanos[7]);

        // ip4-rewrite toward upstream
        for (outs, edge) in [
            (&mut self.lookup_out, ip4::LookupNext::Rewrite as usize),
            (&mut self.nat_in_out, nat_node::Next::Forward as usize),
        ] {
            let mut f = take(outs, edge);
            run(
                &mut self.rewrite,
                &mut f,
                &mut self.rewrite_out,
                pool,
                &mut c.rewrite,
                tr,
            );
            restore(outs, edge, f);
        }
        clock.lap(&mut c.nanos[8]);

        // nat44 out2in
        let mut f = take(&mut self.ip4_in_out, Ip4InNext::Nat as usize);
        if let Some(nat) = &mut self.nat {
            nat.now = now;
            nat.direction = Direction::OutToIn;
            if self.table.slots.len() >= WARM_MIN_SESSIONS {
                warm_nat(nat, &f, bng_nat44::Direction::OutToIn);
                run(
                    nat,
                    &mut f,
                    &mut self.nat_out_out,
                    pool,
                    &mut c.nat_out2in,
                    tr,
                );
            } else {
                // small tables (no warm-up of the addresses between the two): nat44
                // out2in and subscriber-output of what it forwards, in one pass
                run2(
                    nat,
                    nat_node::Next::Forward,
                    &mut SubscriberOutput {
                        t: &mut self.table,
                        verified: true,
                        hint: 0,
                    },
                    &mut f,
                    &mut self.nat_out_out,
                    &mut self.sub_out_out,
                    pool,
                    (&mut c.nat_out2in, &mut c.sub_out),
                    tr,
                );
            }
        } else {
            pool.free_all(&mut f);
        }
        restore(&mut self.ip4_in_out, Ip4InNext::Nat as usize, f);
        // the fused pass's packets: subscriber-output's first, as node by node
        for (from, to) in [
            (Ip4InNext::Output, SubOutNext::Output),
            (Ip4InNext::Pppoe, SubOutNext::Pppoe),
            (Ip4InNext::Qos, SubOutNext::Qos),
            (Ip4InNext::Icmp, SubOutNext::Icmp),
            (Ip4InNext::Fragment, SubOutNext::Fragment),
        ] {
            let fr = &mut self.ip4_in_out[from as usize];
            if !fr.is_empty() {
                move_all(&mut self.sub_out_out[to as usize], fr);
            }
        }
        clock.lap(&mut c.nanos[9]);
        // hairpinned packets of the in2out half are inside->inside now (those of the
        // fused pass after the general path's)
        let hp = nat_node::Next::Hairpin as usize;
        let fh = &mut self.fast_out[FastNext::Hairpin as usize];
        if !fh.is_empty() {
            self.nat_in_out[hp].append(fh);
        }
        let mut hairpin = take(&mut self.nat_in_out, hp);
        self.nat_out_out[nat_node::Next::Forward as usize].append(&mut hairpin);
        restore(&mut self.nat_in_out, hp, hairpin);

        pool.free_all(&mut self.nat_out_out[hp]);
        {
            if self.table.slots.len() >= WARM_MIN_SESSIONS {
                warm_by_addr(
                    &self.table,
                    &self.nat_out_out[nat_node::Next::Forward as usize],
                );
                warm_by_addr(
                    &self.table,
                    &self.ip4_in_out[Ip4InNext::Subscriber as usize],
                );
            }
            for (outs, edge, verified) in [
                (
                    &mut self.nat_out_out,
                    nat_node::Next::Forward as usize,
                    true,
                ),
                (&mut self.ip4_in_out, Ip4InNext::Subscriber as usize, false),
            ] {
                let mut f = take(outs, edge);
                run(
                    &mut SubscriberOutput {
                        t: &mut self.table,
                        verified,
                        hint: 0,
                    },
                    &mut f,
                    &mut self.sub_out_out,
                    pool,
                    &mut c.sub_out,
                    tr,
                );
                restore(outs, edge, f);
            }
        }
        clock.lap(&mut c.nanos[10]);

        // ip4-fragment: subscriber-output's packets over a PPPoE session's MTU without
        // DF, split (RFC 791 section 3.2); the fragments take subscriber-output again
        // (TTL, counters, encapsulation)
        let fe = SubOutNext::Fragment as usize;
        if !self.sub_out_out[fe].is_empty() {
            let mut f = take(&mut self.sub_out_out, fe);
            let mtu = self.table.pppoe_mtu;
            for p in f.drain(..) {
                let before = self.icmp_in.len();
                if icmp::fragment(p, mtu, pool, &mut self.icmp_in) {
                    c.fragmented += 1;
                    c.fragments += (self.icmp_in.len() - before) as u64;
                } else {
                    c.frag_dropped += 1;
                }
            }
            run(
                &mut SubscriberOutput {
                    t: &mut self.table,
                    verified: false,
                    hint: 0,
                },
                &mut self.icmp_in,
                &mut self.sub_out_out,
                pool,
                &mut c.sub_out,
                tr,
            );
            // (a fragment is never over the MTU again)
            pool.free_all(&mut self.sub_out_out[fe]);
            restore(&mut self.sub_out_out, fe, f);
        }
        // icmp-error for subscriber-output's expired and too-big (DF) packets
        let ie = SubOutNext::Icmp as usize;
        if !self.sub_out_out[ie].is_empty()
            || !self.icmp_out[icmp::Next::Upstream as usize].is_empty()
        {
            self.icmp.now = now;
            let mut f = take(&mut self.sub_out_out, ie);
            run(
                &mut self.icmp,
                &mut f,
                &mut self.icmp_out,
                pool,
                &mut c.icmp,
                tr,
            );
            // errors about hairpinned packets go back to a subscriber
            let mut back = take(&mut self.icmp_out, icmp::Next::Access as usize);
            run(
                &mut SubscriberOutput {
                    t: &mut self.table,
                    verified: false,
                    hint: 0,
                },
                &mut back,
                &mut self.sub_out_out,
                pool,
                &mut c.sub_out,
                tr,
            );
            restore(&mut self.icmp_out, icmp::Next::Access as usize, back);
            // (an error is never expired or over an MTU again)
            pool.free_all(&mut self.sub_out_out[ie]);
            restore(&mut self.sub_out_out, ie, f);
            // errors about translated packets: nat44 in2out (RFC 5508 section 4.2:
            // the quoted packet back to its outside view, the source to the pool
            // address) after ip4-lookup; the others ip4-lookup alone
            let up = &mut self.icmp_out[icmp::Next::Upstream as usize];
            let table = &self.table;
            let mut k = 0;
            while k < up.len() {
                let nat = (up[k].meta.subscriber as usize)
                    .checked_sub(1)
                    .and_then(|i| table.slots.get(i))
                    .is_some_and(|s| s.flags & Slot::NAT != 0);
                if nat {
                    self.icmp_nat.push(up.remove(k));
                } else {
                    k += 1;
                }
            }
            let rw = ip4::LookupNext::Rewrite as usize;
            for (f, nat) in [(up, false), (&mut self.icmp_nat, true)] {
                run(
                    &mut self.lookup,
                    f,
                    &mut self.icmp_lookup_out,
                    pool,
                    &mut c.lookup,
                    tr,
                );
                let mut routed = take(&mut self.icmp_lookup_out, rw);
                match &mut self.nat {
                    Some(n) if nat => {
                        n.now = now;
                        n.direction = Direction::InToOut;
                        run2(
                            &mut In2OutVerified(n),
                            nat_node::Next::Forward,
                            &mut self.rewrite,
                            &mut routed,
                            &mut self.icmp_nat_out,
                            &mut self.rewrite_out,
                            pool,
                            (&mut c.nat_in2out, &mut c.rewrite),
                            tr,
                        );
                    }
                    _ => run(
                        &mut self.rewrite,
                        &mut routed,
                        &mut self.rewrite_out,
                        pool,
                        &mut c.rewrite,
                        tr,
                    ),
                }
                restore(&mut self.icmp_lookup_out, rw, routed);
                for o in self
                    .icmp_lookup_out
                    .iter_mut()
                    .chain(self.icmp_nat_out.iter_mut())
                {
                    pool.free_all(o);
                }
            }
        }

        // qos-down: sessions with a downstream policer or shaper (encapsulated, with
        // meta.subscriber set), then what may go now onto subscriber-output's edges
        let qe = SubOutNext::Qos as usize;
        let mut f = take(&mut self.sub_out_out, qe);
        if !f.is_empty() {
            self.police_down.now = now;
            run(
                &mut self.police_down,
                &mut f,
                &mut self.police_out,
                pool,
                &mut c.police_down,
                tr,
            );
            let fwd = &mut self.police_out[qos::Next::Forward as usize];
            self.shaper.enqueue(now, fwd, &mut self.qos_out, pool);
        }
        restore(&mut self.sub_out_out, qe, f);
        if self.shaper.queued() > 0 {
            self.shaper.poll(now, &mut self.qos_out);
        }
        if !self.qos_out.is_empty() {
            account(&mut self.table, &mut self.qos_out, false);
            for p in self.qos_out.drain(..) {
                let pppoe = (p.meta.subscriber as usize)
                    .checked_sub(1)
                    .and_then(|i| self.table.slots.get(i))
                    .is_some_and(|s| s.flags & Slot::PPPOE != 0);
                let e = if pppoe {
                    SubOutNext::Pppoe
                } else {
                    SubOutNext::Output
                };
                self.sub_out_out[e as usize].push(p);
            }
        }

        // tcp-mss-clamp on PPPoE sessions' downstream SYN-ACKs
        let edge = SubOutNext::Pppoe as usize;
        let mut f = take(&mut self.sub_out_out, edge);
        if let Some(m) = &mut self.mss {
            run(m, &mut f, &mut self.mss_out, pool, &mut c.mss, tr);
            f.append(&mut self.mss_out[mss::Next::Forward as usize]);
        }
        self.sub_out_out[SubOutNext::Output as usize].append(&mut f);
        restore(&mut self.sub_out_out, edge, f);

        // the fused pass's packets join ip4-rewrite's output after the general path's
        let fo = &mut self.fast_out[FastNext::Out as usize];
        if !fo.is_empty() {
            move_all(&mut self.rewrite_out[ip4::RewriteNext::Output as usize], fo);
        }

        // interface-output
        for out in [
            &mut self.arp_out[arp::Next::Output as usize],
            &mut self.rewrite_out[ip4::RewriteNext::Output as usize],
            &mut self.sub_out_out[SubOutNext::Output as usize],
        ] {
            // the common case, a whole frame to one port: moved in one go
            if let Some(first) = out.first().map(|p| p.meta.tx_if)
                && out.iter().all(|p| p.meta.tx_if == first)
                && let Some(f) = tx.get_mut(usize::from(first))
            {
                move_all(f, out);
                continue;
            }
            for p in out.drain(..) {
                if let Some(f) = tx.get_mut(usize::from(p.meta.tx_if)) {
                    f.push(p);
                } else {
                    c.no_tx_port += 1;
                    pool.free(p);
                }
            }
        }

        clock.lap(&mut c.nanos[11]);
        // the punt queue: copied out for the control plane as far as its queue has room
        // (the rest waits in the punt node, within its type's share)
        let room = self.cfg.punt_queue.saturating_sub(self.punts.len());
        let (punts, table) = (&mut self.punts, &self.table);
        self.punt.drain(pool, room, |kind, p| {
            let reason = reason_of(kind);
            let session = (p.meta.subscriber as usize)
                .checked_sub(1)
                .and_then(|i| table.slots.get(i))
                .filter(|s| s.flags & Slot::LIVE != 0 && reason == PuntReason::PppControl)
                .map(|s| s.id);
            c.punted[reason as usize] += 1;
            punts.push_back(Punt {
                reason,
                kind,
                rx_if: p.meta.rx_if,
                vlans: p.meta.vlans,
                session,
                data: p.data().to_vec(),
            });
        });

        if let Some(nat) = &mut self.nat {
            while let Some(e) = nat.nat.poll_event() {
                self.blocks.note(&e, &self.table.by_addr);
                if self.nat_events.len() < 65_536 {
                    self.nat_events.push_back(e);
                }
            }
        }
        if !self.tunnels.is_empty() {
            self.collect_tunnel_events();
        }
    }

    /// Changes the rate limit and queue share of one control type (see `nodes::punt`).
    pub fn set_punt_limit(&mut self, t: PuntType, limit: TypeLimit) {
        self.punt.set_limit(t, limit);
    }

    /// The `punt` node's per-type counters.
    #[must_use]
    pub fn punt_stats(&self) -> PuntStats {
        self.punt.stats
    }

    /// Runs the NAT44 sweep and the tunnels' SA lifetime checks when due
    /// ([`Bng::poll_timeout`]).
    pub fn handle_timeout(&mut self, now: Duration) {
        if let Some(nat) = &mut self.nat {
            nat.nat.handle_timeout(now);
            while let Some(e) = nat.nat.poll_event() {
                self.blocks.note(&e, &self.table.by_addr);
                if self.nat_events.len() < 65_536 {
                    self.nat_events.push_back(e);
                }
            }
        }
        if !self.tunnels.is_empty() {
            for (&id, &spi) in &self.tunnels {
                if let Some(sa) = self.esp_enc.sa_mut(id) {
                    sa.handle_timeout(now);
                }
                if let Some(sa) = self.esp_dec.sa_mut(spi) {
                    sa.handle_timeout(now);
                }
            }
            self.collect_tunnel_events();
        }
    }

    /// When [`Bng::handle_timeout`] wants to run next.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Duration> {
        let mut t = self.nat.as_ref().and_then(|n| n.nat.poll_timeout());
        for (&id, &spi) in &self.tunnels {
            let o = self.esp_enc.sa(id).and_then(Outbound::poll_timeout);
            let i = self.esp_dec.sa(spi).and_then(Inbound::poll_timeout);
            for d in [o, i].into_iter().flatten() {
                t = Some(t.map_or(d, |t| t.min(d)));
            }
        }
        t
    }

    /// The next punted frame, oldest first.
    pub fn poll_punt(&mut self) -> Option<Punt> {
        self.punts.pop_front()
    }

    /// The next NAT44 compliance event (port block allocated or released).
    pub fn poll_nat_event(&mut self) -> Option<bng_nat44::Event> {
        self.nat_events.pop_front()
    }

    /// The NAT44 translator's own counters.
    #[must_use]
    pub fn nat_stats(&self) -> Option<bng_nat44::Stats> {
        self.nat.as_ref().map(|n| *n.nat.stats())
    }

    /// Counter rows of every node, as `(node, counter, value)`.
    #[must_use]
    pub fn counter_rows(&self) -> Vec<(&'static str, String, u64)> {
        let c = &self.counters;
        let mut v = Vec::new();
        for (name, rows) in [
            (EthernetInput::NAME, c.ethernet.rows::<EthernetInput>()),
            (ArpInput::NAME, c.arp.rows::<ArpInput>()),
            (PppoeFast::NAME, c.pppoe_fast.rows::<PppoeFast<'_, '_>>()),
            (PppoeSessionInput::NAME, c.pppoe.rows::<PppoeSessionInput>()),
            (Ip4Input::NAME, c.ip4_input.rows::<Ip4Input>()),
            (IpoeInput::NAME, c.ipoe.rows::<IpoeInput>()),
            (
                SubscriberInput::NAME,
                c.sub_in.rows::<SubscriberInput<'_>>(),
            ),
            (Ip4Lookup::NAME, c.lookup.rows::<Ip4Lookup>()),
            ("nat44-in2out", c.nat_in2out.rows::<Nat44Node<'_>>()),
            ("nat44-out2in", c.nat_out2in.rows::<Nat44Node<'_>>()),
            (Ip4Rewrite::NAME, c.rewrite.rows::<Ip4Rewrite>()),
            (
                SubscriberOutput::NAME,
                c.sub_out.rows::<SubscriberOutput<'_>>(),
            ),
            (MssClamp::NAME, c.mss.rows::<MssClamp>()),
            (PuntNode::NAME, c.punt.rows::<PuntNode<'_>>()),
            ("qos-police-up", c.police_up.rows::<Policer>()),
            ("qos-police-down", c.police_down.rows::<Policer>()),
            (
                "esp-encrypt",
                c.esp_encrypt
                    .rows::<EspEncrypt<TunnelTransform, TunnelRng>>(),
            ),
            (
                "esp-decrypt",
                c.esp_decrypt.rows::<EspDecrypt<TunnelTransform>>(),
            ),
            (InnerCheck::NAME, c.esp_inner.rows::<InnerCheck<'_>>()),
            (IcmpError::NAME, c.icmp.rows::<IcmpError>()),
        ] {
            v.extend(rows.into_iter().map(|(k, n)| (name, k, n)));
        }
        for (name, counters, stats) in [
            ("qos-police-up", &c.police_up, &self.police_up.stats),
            ("qos-police-down", &c.police_down, &self.police_down.stats),
        ] {
            v.push((
                name,
                "qos-police-drop".to_owned(),
                counters.drops.iter().sum(),
            ));
            v.push((name, "remarked".to_owned(), stats.remarked));
        }
        let sh = &self.shaper.stats;
        for (k, n) in [
            ("qos-shape-drop", sh.tail_drops),
            ("direct", sh.direct),
            ("queued", sh.queued),
            ("released", sh.released),
        ] {
            v.push(("qos-shaper", k.to_owned(), n));
        }
        for (i, name) in PuntReason::NAMES.iter().enumerate() {
            v.push(("punt", format!("punted.{name}"), c.punted[i]));
            v.push(("punt", format!("dropped.{name}"), c.punt_dropped[i]));
        }
        v.push(("graph", "ip6-dropped".to_owned(), c.ip6_dropped));
        v.push(("graph", "no-tx-port".to_owned(), c.no_tx_port));
        v.push(("graph", "tunnel-loop".to_owned(), c.tunnel_loop));
        v.push(("graph", "tunnel-nested".to_owned(), c.tunnel_nested));
        v.push(("ip4-fragment", "fragmented".to_owned(), c.fragmented));
        v.push(("ip4-fragment", "fragments".to_owned(), c.fragments));
        v.push(("ip4-fragment", "dropped".to_owned(), c.frag_dropped));
        v
    }
}

/// Adds the packets of `f` (all of live sessions, by `meta.subscriber`) to their
/// sessions' counters: IPv4 bytes, from `meta.l3_offset`. For QoS sessions, after
/// their policer or shaper.
fn account(t: &mut Table, f: &mut Frame<'_>, up: bool) {
    for p in f.iter() {
        let bytes = p.len().saturating_sub(usize::from(p.meta.l3_offset));
        if let Some(i) = (p.meta.subscriber as usize).checked_sub(1) {
            if up {
                t.count_up(i, bytes);
            } else {
                t.count_down(i, bytes);
            }
        }
    }
}

// Warm-up passes: VPP prefetches the table entries of the packets a few ahead; we go
// over a whole frame first in a tight loop whose iterations do not depend on each
// other, issuing `backend::prefetch::prefetch_read` for the session slots (and the
// by-id entries), so their cache misses overlap and the node's own lookups then hit
// the cache; hash-map probes (by address, the keyed PPPoE map) are still done as loads.
// NAT44 cannot prefetch itself (no_std, no unsafe): `Nat44::warm_refs` hands us its
// index slots, then the sessions they name, and we prefetch them (A/B at 100k, 5
// alternating rounds at load 3.2-5.1, median per frame: up 114.1 -> 76.2 us, down
// 124.1 -> 75.5 us against `Nat44::warm`'s loads). A/B at 100k sessions, 7 alternating rounds at load 3.7-5.6 (medians, per
// 256-packet frame): up 104.0 -> 86.1 us, down 111.3 -> 95.6 us with prefetch; noisy.

//
// Session 6: the warm-up passes prefetch a whole 256-packet frame before the node reads
// it, which is too far ahead: on this VM a gather of four random lines per packet
// over 6.4 MB tables costs 82 ns/packet prefetched a frame ahead and 30 ns prefetched
// 4 packets ahead (the lines of the first packets are evicted or not yet issued by
// the time they are read). The fused passes now run at every table size, and past
// WARM_MIN_SESSIONS prefetch as VPP does, a few packets ahead, one stage per
// dependent load (`Node::ahead`, `AHEAD_STRIDE`): upstream the by-id entry and NAT44's
// index slot, then the session slots and the NAT44 session; downstream NAT44's index
// slot, its session, the address index entry of the session's inside address, the
// subscriber slot. The warm-up passes remain for the node-by-node path (tracing,
// tunnels). BENCHMARKS.md "Session 6" has the figures.

/// Sessions from which the warm-up passes and the look-ahead run: below, the tables
/// (64-byte slots, the hash maps) stay in the L2 cache and they would only cost
/// instructions.
const WARM_MIN_SESSIONS: usize = 8192;

/// The fused passes also past [`WARM_MIN_SESSIONS`], with their look-ahead (false:
/// session 5's node-by-node path with warm-up passes there, for A/B runs).
const FUSE_LARGE: bool = true;

/// Warm-up passes issue prefetches (`backend::prefetch`) for the dependent loads
/// instead of loading them.
const PREFETCH: bool = true;

/// NAT44's warm-up pass prefetches (`Nat44::warm_refs`) instead of loading
/// (`Nat44::warm`).
const PREFETCH_NAT: bool = true;

/// The PPPoE sessions of a frame's packets, as `pppoe-fast-input` will find them: the
/// by-id entries, then the slots both their ways name (past two sessions sharing an
/// id, the keyed hash map, left cold).
fn warm_pppoe(t: &PppoeSessionInput, table: &Table, f: &Frame<'_>) {
    if PREFETCH {
        // the by-id entries of the whole frame, then (with those lines on their way)
        // the slots both ways name (a shared id's second session: at 100k sessions in
        // the bench a third of them, which went to the cold keyed hash map with one
        // way: pppoe-session-input 160-203 -> 87-97 ns/packet); the keyed hash map of
        // a third sharing session is left cold
        let sid_of = |p: &Pkt<'_>| {
            let l3 = usize::from(p.meta.l3_offset);
            p.data()
                .get(l3 + 2..)
                .and_then(<[u8]>::first_chunk::<2>)
                .map(|s| usize::from(u16::from_be_bytes(*s)))
        };
        for p in f {
            if let Some(e) = sid_of(p).and_then(|s| table.by_sid.get(s)) {
                prefetch_read(e);
            }
        }
        for p in f {
            if let Some(ways) = sid_of(p).and_then(|s| table.by_sid.get(s)) {
                for &h in ways {
                    if let Some(s) = (h as usize).checked_sub(1).and_then(|i| table.slots.get(i)) {
                        prefetch_read(s);
                    }
                }
            }
        }
        return;
    }
    let mut handles = [0u32; FRAME_SIZE];
    for (p, h) in f.iter().zip(handles.iter_mut()) {
        let l3 = usize::from(p.meta.l3_offset);
        if let Some(sid) = p.data().get(l3 + 2..).and_then(<[u8]>::first_chunk::<2>) {
            *h = table
                .by_sid
                .get(usize::from(u16::from_be_bytes(*sid)))
                .map_or(0, |w| w[0]);
        }
    }
    let mut acc = 0u32;
    for (p, &h) in f.iter().zip(handles.iter()) {
        let d = p.data();
        let l3 = usize::from(p.meta.l3_offset);
        let (Some(mac), Some(sid)) = (
            d.get(6..).and_then(<[u8]>::first_chunk::<6>),
            d.get(l3 + 2..).and_then(<[u8]>::first_chunk::<2>),
        ) else {
            continue;
        };
        match (h as usize).checked_sub(1).and_then(|i| table.slots.get(i)) {
            Some(s) if s.hdr.first_chunk::<6>() == Some(mac) => acc ^= s.addr,
            _ => {
                let key = SessionKey {
                    mac: *mac,
                    session_id: u16::from_be_bytes(*sid),
                    vlans: p.meta.vlans,
                };
                acc ^= t.get(&key).unwrap_or(0);
            }
        }
    }
    core::hint::black_box(acc);
}

/// The NAT44 index slots and sessions of a frame's packets (`Nat44::warm`).
fn warm_nat(nat: &Nat44Node<'_>, f: &Frame<'_>, dir: bng_nat44::Direction) {
    if PREFETCH_NAT {
        nat.nat.warm_refs(
            dir,
            f.iter()
                .map(|p| p.data().get(usize::from(p.meta.l3_offset)..).unwrap_or(&[])),
            prefetch_read,
            prefetch_read,
        );
        return;
    }
    nat.nat.warm(
        dir,
        f.iter()
            .map(|p| p.data().get(usize::from(p.meta.l3_offset)..).unwrap_or(&[])),
    );
}

/// The session slots of a frame's packets (by `meta.subscriber`).
fn warm_slots(t: &Table, f: &Frame<'_>) {
    let mut acc = 0u32;
    for p in f {
        if let Some(s) = (p.meta.subscriber as usize)
            .checked_sub(1)
            .and_then(|i| t.slots.get(i))
        {
            if PREFETCH {
                prefetch_read(s);
            } else {
                acc ^= s.addr;
            }
        }
    }
    core::hint::black_box(acc);
}

/// The address index entries and session slots of a frame's destinations.
fn warm_by_addr(t: &Table, f: &Frame<'_>) {
    let dst = |p: &Pkt<'_>| {
        let l3 = usize::from(p.meta.l3_offset);
        p.data()
            .get(l3 + 16..)
            .and_then(<[u8]>::first_chunk::<4>)
            .map(|d| u32::from_be_bytes(*d))
    };
    // the address index entries of the whole frame, then (with those on their way)
    // the slots they name
    for p in f {
        if let Some(e) = dst(p).and_then(|d| t.by_addr.e.get(t.by_addr.home(d))) {
            prefetch_read(e);
        }
    }
    let mut idx = [u32::MAX; FRAME_SIZE];
    for (p, i) in f.iter().zip(idx.iter_mut()) {
        if let Some(d) = dst(p) {
            *i = t.by_addr.get(d).unwrap_or(u32::MAX);
        }
    }
    let mut acc = 0u32;
    for &i in idx.iter().take(f.len()) {
        if let Some(s) = t.slots.get(i as usize) {
            if PREFETCH {
                prefetch_read(s);
            } else {
                acc ^= s.addr;
            }
        }
    }
    core::hint::black_box(acc);
}

/// Runs the frames of one punt edge through the `punt` node (classification, per-type
/// rate limit and queue share) and queues the admitted ones in it; the refused ones and
/// those of no control type are counted under `reason` and freed.
fn punt_all<'p>(
    pn: &mut PuntNode<'p>,
    pout: &mut [Frame<'p>],
    c: &mut BngCounters,
    tr: &mut Trace,
    f: &mut Frame<'p>,
    pool: &mut Pool<'p>,
    reason: PuntReason,
) {
    if f.is_empty() {
        return;
    }
    let n = f.len();
    run(pn, f, pout, pool, &mut c.punt, tr);
    let admitted = pout[punt_node::Next::Punt as usize].len();
    pn.enqueue(&mut pout[punt_node::Next::Punt as usize], pool);
    pool.free_all(&mut pout[punt_node::Next::Pass as usize]);
    c.punt_dropped[reason as usize] += (n - admitted) as u64;
}

/// Which of our punt reasons a control type is.
fn reason_of(t: PuntType) -> PuntReason {
    match t {
        PuntType::PppoeDiscovery => PuntReason::PppoeDiscovery,
        PuntType::Lcp | PuntType::Auth | PuntType::Ncp | PuntType::OtherPpp => {
            PuntReason::PppControl
        }
        PuntType::Dhcp4 | PuntType::Dhcp6 => PuntReason::Dhcp,
        _ => PuntReason::Local,
    }
}

#[cfg(test)]
mod addr_index_tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::AddrIndex;
    use std::collections::HashMap;

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        #[test]
        fn agrees_with_a_hash_map(ops in proptest::collection::vec((0u8..3, 0u32..64, proptest::prelude::any::<u32>()), 1..400)) {
            let mut a = AddrIndex::with_capacity(4);
            let mut m = HashMap::new();
            for (op, k, v) in ops {
                // clustered keys (a /26 of sequential addresses) and the extremes
                let key = match k { 0 => 0, 1 => u32::MAX, k => 0x6440_0000 + k };
                let v = v % 1_000_000;
                match op {
                    0 => { a.insert(key, v); m.insert(key, v); }
                    1 => proptest::prop_assert_eq!(a.remove(key), m.remove(&key)),
                    _ => {}
                }
                proptest::prop_assert_eq!(a.len, m.len());
                for probe in [key, key ^ 1, 0x6440_0000] {
                    proptest::prop_assert_eq!(a.get(probe), m.get(&probe).copied());
                }
            }
            for (k, v) in &m {
                proptest::prop_assert_eq!(a.get(*k), Some(*v));
            }
        }
    }
}

#[cfg(test)]
mod slot_tests {
    #![allow(clippy::cast_possible_truncation, reason = "tests")]
    use super::{AddrIndex, HashMap, SessionCounters, Slot, Table};

    #[test]
    fn counter_deltas_fold_exactly() {
        let mut s = Table {
            slots: vec![Slot::EMPTY],
            totals: vec![SessionCounters::default()],
            free: Vec::new(),
            by_id: HashMap::new(),
            by_addr: AddrIndex::with_capacity(1),
            by_sid: Vec::new(),
            pppoe_mtu: usize::MAX,
            icmp: false,
        };
        let mut want = SessionCounters::default();
        // past 2^31 bytes each way (folds), plus a packet too large for a delta
        for i in 0..80_000u64 {
            let n = 30_000 + (i % 7) * 5_000;
            s.count_up(0, n as usize);
            s.count_down(0, (n / 2) as usize);
            want.up_packets += 1;
            want.up_bytes += n;
            want.down_packets += 1;
            want.down_bytes += n / 2;
        }
        s.count_up(0, 1 << 20);
        want.up_packets += 1;
        want.up_bytes += 1 << 20;
        assert_eq!(s.counters(0), want);
        assert!(s.totals[0].up_bytes > 0, "folded at least once");
        assert!(s.slots[0].delta.iter().all(|&d| d < 1 << 31));
    }
}
