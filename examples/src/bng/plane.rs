//! The gateway's forwarding plane over the dataplane's nodes: `ethernet-input` →
//! `pppoe-session-input` → anti-spoofing and the upstream policer → `nat44` (in2out) →
//! the upstream next hop; and back: `ethernet-input` → `nat44` (out2in) → the
//! downstream policer → `pppoe-encap`. PPPoE discovery and PPP control are punted to
//! the control plane; ARP on the upstream port is answered for our addresses and
//! resolves the next hop.
//!
//! It implements [`Forwarding`] for the control planes. When the dataplane's `Bng`
//! (lock-free control API, workers) lands, it replaces this type behind the same trait.

#![allow(
    clippy::indexing_slicing,
    reason = "edge frames are indexed by their node's edge enums, one frame per edge by construction"
)]

use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher as _;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::OnceLock;
use std::time::Duration;

use bng_dataplane::backend::Backend;
use bng_dataplane::buffer::{Pkt, Pool};
use bng_dataplane::graph::{Counters as NodeCounters, Frame, Label, Node, Trace, new_frame, run};
use bng_dataplane::nodes::ethernet::{self, EthernetInput};
use bng_dataplane::nodes::ipoe::{
    self as ipoe_node, Binding, EncapEntry as IpoeEncapEntry, IpoeEncap, IpoeInput, IpoeKey,
};
use bng_dataplane::nodes::nat44::{self as nat_node, Direction, Nat44Node};
use bng_dataplane::nodes::pppoe::{
    self as pppoe_node, EncapEntry, PppoeEncap, PppoeSessionInput, SessionKey,
};
use bng_dataplane::nodes::qos::TokenBucket;
use foldhash::SharedSeed;
use foldhash::fast::SeedableRandomState;

use super::session::{
    AccessKey, Counters, Forwarding, Handle, Mac, Port, PuntKind, Qos, State, Subscriber,
};

/// A subscriber's rate limit as the dataplane's token bucket (`nodes::qos`): `bps` in
/// bits/s counted in bytes, `burst` bytes with at least one full frame (1600 B).
fn bucket(bps: u64, burst: u64, now: Duration) -> TokenBucket {
    TokenBucket::new(bps / 8, burst.max(1600), now)
}

#[derive(Debug)]
struct Sub {
    key: AccessKey,
    addr: Option<u32>,
    /// Routed (behind a relay): the router's MAC, the only source its frames have.
    via: Option<Mac>,
    /// IPv6: the IA_NA address (IPoE) and the delegated prefix routed to it.
    addr6: Option<u128>,
    pd: Option<(u128, u8)>,
    /// IPv6 (PPPoE): the prefix of the PPP link (SLAAC), routed to the session.
    net64: Option<(u128, u8)>,
    /// IPv6 behind a DHCPv6 relay: the relay's MAC, the only source its frames have.
    via6: Option<Mac>,
    up: bool,
    qos: Option<(TokenBucket, TokenBucket)>,
    rate: Option<Qos>,
    counters: Counters,
}

impl Sub {
    /// Meters one upstream packet of `len` bytes: the subscriber's upstream rate limit,
    /// then its accounting counters (only what passes QoS is counted). On a QoS drop,
    /// the drop reason.
    fn meter_up(&mut self, now: Duration, len: u64) -> Result<(), &'static str> {
        if let Some((up, _)) = &mut self.qos
            && !up.take(now, len)
        {
            return Err("qos-upstream");
        }
        self.counters.in_packets += 1;
        self.counters.in_bytes += len;
        Ok(())
    }

    /// [`Sub::meter_up`] for the downstream direction.
    fn meter_down(&mut self, now: Duration, len: u64) -> Result<(), &'static str> {
        if let Some((_, down)) = &mut self.qos
            && !down.take(now, len)
        {
            return Err("qos-downstream");
        }
        self.counters.out_packets += 1;
        self.counters.out_bytes += len;
        Ok(())
    }
}

/// A frame punted to the control plane (owned copy).
#[derive(Debug, Clone)]
pub struct Punted {
    /// Kind.
    pub kind: PuntKind,
    /// The whole frame.
    pub frame: Vec<u8>,
    /// Offset of the Ethernet payload.
    pub l3_offset: usize,
    /// VLAN ids.
    pub vlans: [u16; 2],
    /// The session, when known.
    pub handle: Option<Handle>,
}

/// The plane (one worker, both ports).
pub struct GraphPlane<'p, 's> {
    /// Our MAC on the access port.
    pub access_mac: Mac,
    /// Our MAC on the upstream port.
    pub up_mac: Mac,
    /// Our upstream address.
    pub up_addr: Ipv4Addr,
    /// The next hop.
    pub gateway: Ipv4Addr,
    /// Its MAC, once ARP resolved it.
    pub gateway_mac: Option<Mac>,
    /// Addresses answered for by ARP on the upstream port (ours, the NAT pool).
    pub arp_addrs: Vec<Ipv4Addr>,
    /// Our addresses toward subscribers (the PPP peer address): ICMP echo is answered.
    pub local: Vec<Ipv4Addr>,
    /// Addresses answered for by ARP on the access port (the IPoE gateway).
    pub access_arp: Vec<Ipv4Addr>,
    /// VLANs accepted on the access port (`None`: all).
    pub vlan_filter: Option<VlanFilter>,
    /// IPv6 upstream (`None`: IPv6 is not forwarded).
    pub v6: Option<V6Upstream>,
    /// The IPv6 next hop's MAC, once Neighbor Discovery resolved it.
    pub gateway6_mac: Option<Mac>,
    /// Addresses answered in Neighbor Discovery on the access port (our link-local,
    /// the subscribers' IPv6 router).
    pub access_nd: Vec<Ipv6Addr>,
    last_ns: Option<Duration>,
    /// IPoE IPv6 subscribers by MAC and VLANs, by IA_NA address, by delegated prefix.
    v6_in: Map<(Mac, [u16; 2]), Handle>,
    v6_addr: Map<u128, Handle>,
    v6_pd: Map<(u8, u128), Handle>,
    pd_lens: Vec<u8>,
    /// The current time (set by the caller before each [`GraphPlane::poll`]).
    pub now: Duration,
    eth: EthernetInput,
    decap: PppoeSessionInput,
    ipoe_in: IpoeInput,
    ipoe_encap: IpoeEncap,
    c_ipoe: NodeCounters,
    c_ipoe_encap: NodeCounters,
    ipoe_out: Vec<Frame<'p>>,
    ipoe_encap_out: Vec<Frame<'p>>,
    encap: PppoeEncap,
    nat: Option<Nat44Node<'s>>,
    c_eth: NodeCounters,
    c_decap: NodeCounters,
    c_nat: NodeCounters,
    c_encap: NodeCounters,
    trace: Trace,
    rx: Frame<'p>,
    eth_out: Vec<Frame<'p>>,
    decap_out: Vec<Frame<'p>>,
    nat_out: Vec<Frame<'p>>,
    encap_out: Vec<Frame<'p>>,
    fwd: Frame<'p>,
    tx_access: Frame<'p>,
    tx_up: Frame<'p>,
    ctl_access: Vec<Vec<u8>>,
    ctl_up: Vec<Vec<u8>>,
    /// Frames for the control plane, drained by the caller.
    pub punts: Vec<Punted>,
    subs: Map<Handle, Sub>,
    by_addr: Map<u32, Handle>,
    /// Routed IPoE subscribers by address: bound by source address, reached through
    /// their relay's MAC.
    routed: Map<u32, Handle>,
    /// Drops outside the nodes, by reason.
    pub drops: BTreeMap<&'static str, u64>,
    /// Packets forwarded (both directions).
    pub forwarded: u64,
    last_arp: Option<Duration>,
}

/// The plane's per-packet maps (subscriber by handle, by address, by MAC): foldhash, a
/// fast keyed hash, instead of std's `SipHash` (two lookups per packet were 17 % of the
/// forwarding CPU). The keys (addresses, MACs, VLANs) are chosen or influenced by
/// subscribers, so the hash stays randomly keyed per process and per map (seeds drawn
/// from std's `RandomState`, i.e. the OS RNG) to keep collisions unpredictable.
type Map<K, V> = HashMap<K, V, SeedableRandomState>;

/// A randomly keyed hasher for a [`Map`].
fn keyed() -> SeedableRandomState {
    static SHARED: OnceLock<SharedSeed> = OnceLock::new();
    let os = std::hash::RandomState::new();
    let shared = SHARED.get_or_init(|| SharedSeed::from_u64(os.hash_one(1_u8)));
    SeedableRandomState::with_seed(os.hash_one(2_u8), shared)
}

fn frames<'p, N: Node>() -> Vec<Frame<'p>> {
    (0..N::Next::COUNT).map(|_| new_frame()).collect()
}

impl<'p, 's> GraphPlane<'p, 's> {
    /// A plane with these MACs and addresses, translating with `nat` if given.
    #[must_use]
    pub fn new(
        access_mac: Mac,
        up_mac: Mac,
        up_addr: Ipv4Addr,
        gateway: Ipv4Addr,
        nat: Option<Nat44Node<'s>>,
    ) -> Self {
        Self {
            access_mac,
            up_mac,
            up_addr,
            gateway,
            gateway_mac: None,
            arp_addrs: vec![up_addr],
            local: Vec::new(),
            access_arp: Vec::new(),
            vlan_filter: None,
            v6: None,
            gateway6_mac: None,
            access_nd: vec![link_local(access_mac)],
            last_ns: None,
            v6_in: Map::with_hasher(keyed()),
            v6_addr: Map::with_hasher(keyed()),
            v6_pd: Map::with_hasher(keyed()),
            pd_lens: Vec::new(),
            ipoe_in: IpoeInput::default(),
            ipoe_encap: IpoeEncap::default(),
            c_ipoe: NodeCounters::for_node::<IpoeInput>(),
            c_ipoe_encap: NodeCounters::for_node::<IpoeEncap>(),
            ipoe_out: frames::<IpoeInput>(),
            ipoe_encap_out: frames::<IpoeEncap>(),
            now: Duration::ZERO,
            eth: EthernetInput {
                macs: vec![access_mac, up_mac],
                promiscuous: false,
            },
            decap: PppoeSessionInput::default(),
            encap: PppoeEncap::default(),
            nat,
            c_eth: NodeCounters::for_node::<EthernetInput>(),
            c_decap: NodeCounters::for_node::<PppoeSessionInput>(),
            c_nat: NodeCounters::for_node::<Nat44Node<'_>>(),
            c_encap: NodeCounters::for_node::<PppoeEncap>(),
            trace: Trace::new(0),
            rx: new_frame(),
            eth_out: frames::<EthernetInput>(),
            decap_out: frames::<PppoeSessionInput>(),
            nat_out: frames::<Nat44Node<'_>>(),
            encap_out: frames::<PppoeEncap>(),
            fwd: new_frame(),
            tx_access: new_frame(),
            tx_up: new_frame(),
            ctl_access: Vec::new(),
            ctl_up: Vec::new(),
            punts: Vec::new(),
            subs: Map::with_hasher(keyed()),
            by_addr: Map::with_hasher(keyed()),
            routed: Map::with_hasher(keyed()),
            drops: BTreeMap::new(),
            forwarded: 0,
            last_arp: None,
        }
    }

    /// The translator, for its events (compliance log) and timers.
    pub fn nat_mut(&mut self) -> Option<&mut Nat44Node<'s>> {
        self.nat.as_mut()
    }

    /// Per-node counters: `(node, counter, value)`.
    #[must_use]
    pub fn counter_rows(&self) -> Vec<(&'static str, String, u64)> {
        let mut out = Vec::new();
        for (name, rows) in [
            (EthernetInput::NAME, self.c_eth.rows::<EthernetInput>()),
            (
                PppoeSessionInput::NAME,
                self.c_decap.rows::<PppoeSessionInput>(),
            ),
            (Nat44Node::NAME, self.c_nat.rows::<Nat44Node<'_>>()),
            (PppoeEncap::NAME, self.c_encap.rows::<PppoeEncap>()),
            (IpoeInput::NAME, self.c_ipoe.rows::<IpoeInput>()),
            (IpoeEncap::NAME, self.c_ipoe_encap.rows::<IpoeEncap>()),
        ] {
            out.extend(rows.into_iter().map(|(k, v)| (name, k, v)));
        }
        out
    }

    fn drop(&mut self, pool: &mut Pool<'p>, p: Pkt<'p>, why: &'static str) {
        *self.drops.entry(why).or_insert(0) += 1;
        pool.free(p);
    }

    /// One round: receive a burst on each port, run the graph, transmit. Returns how
    /// many frames were received.
    pub fn poll<B: Backend>(
        &mut self,
        access: &mut B,
        upstream: &mut B,
        pool: &mut Pool<'p>,
    ) -> usize {
        let mut got = 0;
        self.resolve_gateway();
        self.resolve_gateway6();
        got += access.rx_burst(pool, &mut self.rx);
        for p in &mut self.rx {
            p.meta.rx_if = 0;
        }
        self.rx_access(pool);
        got += upstream.rx_burst(pool, &mut self.rx);
        for p in &mut self.rx {
            p.meta.rx_if = 1;
        }
        self.rx_upstream(pool);
        for f in self.ctl_access.drain(..) {
            if let Some(p) = pool.alloc_from(&f) {
                self.tx_access.push(p);
            }
        }
        for f in self.ctl_up.drain(..) {
            if let Some(p) = pool.alloc_from(&f) {
                self.tx_up.push(p);
            }
        }
        access.tx_burst(pool, &mut self.tx_access);
        upstream.tx_burst(pool, &mut self.tx_up);
        got
    }

    fn punt(&mut self, kind: PuntKind, p: &Pkt<'_>, handle: Option<Handle>) {
        self.punts.push(Punted {
            kind,
            frame: p.data().to_vec(),
            l3_offset: usize::from(p.meta.l3_offset),
            vlans: p.meta.vlans,
            handle,
        });
    }

    /// Punts the packets of a node's edge as `kind` (PPP control with its session)
    /// and frees them.
    fn punt_edge(&mut self, pool: &mut Pool<'p>, kind: PuntKind, edge: Vec<Pkt<'p>>) {
        for p in edge {
            let handle = (kind == PuntKind::PppControl).then_some(p.meta.subscriber);
            self.punt(kind, &p, handle);
            pool.free(p);
        }
    }

    #[allow(
        clippy::too_many_lines,
        reason = "the access side of the graph, in order"
    )]
    fn rx_access(&mut self, pool: &mut Pool<'p>) {
        run(
            &mut self.eth,
            &mut self.rx,
            &mut self.eth_out,
            pool,
            &mut self.c_eth,
            &mut self.trace,
        );
        if let Some(f) = &self.vlan_filter {
            let mut refused = 0u64;
            for frame in &mut self.eth_out {
                let mut keep = Vec::with_capacity(frame.len());
                for p in frame.drain(..) {
                    if f.accepts(p.meta.vlans) {
                        keep.push(p);
                    } else {
                        refused += 1;
                        pool.free(p);
                    }
                }
                frame.extend(keep);
            }
            if refused > 0 {
                *self.drops.entry("vlan-not-configured").or_insert(0) += refused;
            }
        }
        let disc: Vec<_> = self.eth_out[ethernet::Next::PppoeDiscovery as usize]
            .drain(..)
            .collect();
        self.punt_edge(pool, PuntKind::PppoeDiscovery, disc);
        run(
            &mut self.decap,
            &mut self.eth_out[ethernet::Next::PppoeSession as usize],
            &mut self.decap_out,
            pool,
            &mut self.c_decap,
            &mut self.trace,
        );
        // IPoE: ARP for our gateway address, DHCPv6 to the server port, ipoe-input
        let arp: Vec<_> = self.eth_out[ethernet::Next::Arp as usize]
            .drain(..)
            .collect();
        for p in arp {
            let l3 = usize::from(p.meta.l3_offset);
            if let Some(a) = p.data().get(l3..)
                && let Some(reply) = arp_answer(a, self.access_mac, &self.access_arp)
            {
                self.ctl_access
                    .push(reply_with_tags(p.data(), l3, self.access_mac, &reply));
            }
            pool.free(p);
        }
        let ip6: Vec<_> = self.eth_out[ethernet::Next::Ip6 as usize]
            .drain(..)
            .collect();
        for p in ip6 {
            let l3 = usize::from(p.meta.l3_offset);
            let d = p.data();
            let dhcp6 =
                d.get(l3 + 6) == Some(&17) && d.get(l3 + 42..l3 + 44) == Some(&[0x02, 0x23][..]);
            if dhcp6 {
                self.punt(PuntKind::Dhcp6, &p, None);
                pool.free(p);
                continue;
            }
            if let Some(na) = d
                .get(l3..)
                .and_then(|ip| nd_answer(ip, self.access_mac, &self.access_nd, true))
            {
                self.ctl_access
                    .push(reply_with_tags(d, l3, self.access_mac, &na));
                pool.free(p);
                continue;
            }
            self.v6_from_access(pool, p);
        }
        let mut routed4 = Vec::new();
        if !self.routed.is_empty() {
            let ip4: Vec<_> = self.eth_out[ethernet::Next::Ip4 as usize]
                .drain(..)
                .collect();
            let mut rest = Vec::with_capacity(ip4.len());
            for p in ip4 {
                match self.routed_input(p) {
                    Routed::Bound(p) => routed4.push(p),
                    Routed::Other(p) => rest.push(p),
                    Routed::Drop(p, why) => {
                        *self.drops.entry(why).or_insert(0) += 1;
                        pool.free(p);
                    }
                }
            }
            self.eth_out[ethernet::Next::Ip4 as usize].extend(rest);
        }
        run(
            &mut self.ipoe_in,
            &mut self.eth_out[ethernet::Next::Ip4 as usize],
            &mut self.ipoe_out,
            pool,
            &mut self.c_ipoe,
            &mut self.trace,
        );
        let dhcp: Vec<_> = self.ipoe_out[ipoe_node::Next::Dhcp as usize]
            .drain(..)
            .collect();
        self.punt_edge(pool, PuntKind::Dhcp4, dhcp);
        // the edges' own frames are taken and given back below (no Vec per burst)
        let mut ipoe4 = std::mem::take(&mut self.ipoe_out[ipoe_node::Next::Ip4 as usize]);
        ipoe4.extend(routed4);
        let ctl: Vec<_> = self.decap_out[pppoe_node::Next::Control as usize]
            .drain(..)
            .collect();
        self.punt_edge(pool, PuntKind::PppControl, ctl);
        // IPv6 of PPPoE sessions (PPP protocol 0x0057, RFC 5072)
        let ppp6: Vec<_> = self.decap_out[pppoe_node::Next::Ip6 as usize]
            .drain(..)
            .collect();
        for p in ppp6 {
            self.v6_from_session(pool, p);
        }
        // anti-spoofing, upstream policer, counters
        let mut ip4 = std::mem::take(&mut self.decap_out[pppoe_node::Next::Ip4 as usize]);
        let now = self.now;
        let mut echo = Vec::new();
        for p in ip4.drain(..).chain(ipoe4.drain(..)) {
            let Some(s) = self.subs.get_mut(&p.meta.subscriber) else {
                self.drop(pool, p, "unknown-subscriber");
                continue;
            };
            if !s.up {
                self.drop(pool, p, "session-not-up");
                continue;
            }
            let src = p
                .data()
                .get(12..16)
                .and_then(|b| <[u8; 4]>::try_from(b).ok());
            if src.map(u32::from_be_bytes) != s.addr {
                self.drop(pool, p, "spoofed-source");
                continue;
            }
            if let Err(why) = s.meter_up(now, p.len() as u64) {
                self.drop(pool, p, why);
                continue;
            }
            let to_us = p
                .data()
                .get(16..20)
                .and_then(|b| <[u8; 4]>::try_from(b).ok())
                .is_some_and(|d| self.local.contains(&Ipv4Addr::from(d)));
            if to_us {
                let mut p = p;
                if echo_reply(p.data_mut()) {
                    echo.push(p);
                } else {
                    self.drop(pool, p, "to-gateway");
                }
                continue;
            }
            self.fwd.push(p);
        }
        self.decap_out[pppoe_node::Next::Ip4 as usize] = ip4;
        self.ipoe_out[ipoe_node::Next::Ip4 as usize] = ipoe4;
        if !echo.is_empty() {
            let fw: Vec<_> = self.fwd.drain(..).collect();
            self.out_access(pool, echo);
            self.fwd.extend(fw);
        }
        for f in self
            .eth_out
            .iter_mut()
            .chain(self.decap_out.iter_mut())
            .chain(self.ipoe_out.iter_mut())
        {
            pool.free_all(f);
        }
        if let Some(nat) = &mut self.nat {
            nat.now = now;
            nat.direction = Direction::InToOut;
            run(
                nat,
                &mut self.fwd,
                &mut self.nat_out,
                pool,
                &mut self.c_nat,
                &mut self.trace,
            );
            let fw: Vec<_> = self.nat_out[nat_node::Next::Forward as usize]
                .drain(..)
                .collect();
            self.out_upstream(pool, fw);
            let hp: Vec<_> = self.nat_out[nat_node::Next::Hairpin as usize]
                .drain(..)
                .collect();
            self.out_access(pool, hp);
        } else {
            let fw: Vec<_> = self.fwd.drain(..).collect();
            self.out_upstream(pool, fw);
        }
    }

    /// Routed IPoE (subscribers behind a DHCP relay, RFC 2131 section 4.1 `giaddr`):
    /// their frames all come from the relay's MAC, so they are bound by source
    /// address. A packet whose source is a routed subscriber's address is accepted
    /// only from that subscriber's relay MAC and VLANs (anti-spoofing), stripped to its
    /// IPv4 header like `ipoe-input` does. DHCP (UDP to port 67: a relayed client's
    /// unicast RENEW) and every other source go on to `ipoe-input`.
    fn routed_input(&self, mut p: Pkt<'p>) -> Routed<'p> {
        let l3 = usize::from(p.meta.l3_offset);
        let d = p.data();
        let Some(h) = d.get(l3..).and_then(<[u8]>::first_chunk::<20>) else {
            return Routed::Other(p);
        };
        let src = u32::from_be_bytes([h[12], h[13], h[14], h[15]]);
        let Some(&handle) = self.routed.get(&src) else {
            return Routed::Other(p);
        };
        let ihl = usize::from(h[0] & 0x0f) * 4;
        let total = usize::from(u16::from_be_bytes([h[2], h[3]]));
        if h[0] >> 4 != 4 || ihl < 20 || total < ihl || l3 + total > d.len() {
            return Routed::Drop(p, "bad-header");
        }
        let first_fragment = u16::from_be_bytes([h[6], h[7]]).trailing_zeros() >= 13;
        let dport = d
            .get(l3 + ihl + 2..l3 + ihl + 4)
            .map(|b| u16::from_be_bytes([b[0], b[1]]));
        if h[9] == 17 && first_fragment && dport == Some(ipoe_node::DHCP_SERVER_PORT) {
            return Routed::Other(p);
        }
        let src_mac = d.get(6..12).and_then(|m| <[u8; 6]>::try_from(m).ok());
        let Some(s) = self.subs.get(&handle) else {
            return Routed::Drop(p, "unknown-subscriber");
        };
        let vlans = match &s.key {
            AccessKey::Pppoe { vlans, .. } | AccessKey::Ipoe { vlans, .. } => *vlans,
        };
        if src_mac != s.via || p.meta.vlans != vlans {
            return Routed::Drop(p, "routed-wrong-next-hop");
        }
        if !p.pull_front(l3) || !p.set_len(total) {
            return Routed::Drop(p, "bad-header");
        }
        p.meta.l3_offset = 0;
        p.meta.subscriber = handle;
        Routed::Bound(p)
    }

    /// IPv6 from an IPoE subscriber (RFC 8200): bound by its MAC and VLANs, or (behind
    /// a DHCPv6 relay) by its source address, accepted only from its relay's MAC and
    /// VLANs; then [`GraphPlane::v6_up`].
    fn v6_from_access(&mut self, pool: &mut Pool<'p>, p: Pkt<'p>) {
        let d = p.data();
        let src_mac = d.get(6..12).and_then(|m| <[u8; 6]>::try_from(m).ok());
        if let Some(&h) = src_mac.and_then(|m| self.v6_in.get(&(m, p.meta.vlans))) {
            self.v6_up(pool, p, h);
            return;
        }
        let l3 = usize::from(p.meta.l3_offset);
        let src = d
            .get(l3 + 8..l3 + 24)
            .and_then(|b| <[u8; 16]>::try_from(b).ok())
            .map(u128::from_be_bytes);
        let Some(h) = src.and_then(|a| self.v6_owner(a)) else {
            self.drop(pool, p, "unknown-subscriber6");
            return;
        };
        let relayed_from = self.subs.get(&h).and_then(|s| match s.key {
            AccessKey::Ipoe { vlans, .. } => s.via6.map(|m| (m, vlans)),
            AccessKey::Pppoe { .. } => None,
        });
        if relayed_from.is_none() || relayed_from != src_mac.map(|m| (m, p.meta.vlans)) {
            self.drop(pool, p, "routed-wrong-next-hop6");
            return;
        }
        self.v6_up(pool, p, h);
    }

    /// The subscriber an IPv6 address belongs to: its IA_NA address, or inside its
    /// delegated prefix or its PPP link's prefix (pools do not overlap).
    fn v6_owner(&self, a: u128) -> Option<Handle> {
        self.v6_addr.get(&a).copied().or_else(|| {
            self.pd_lens.iter().find_map(|&len| {
                let prefix = a & u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
                self.v6_pd.get(&(len, prefix)).copied()
            })
        })
    }

    /// IPv6 from a PPPoE session (PPP protocol 0x0057, RFC 5072), at its IPv6 header.
    /// What is addressed to the gateway on the link (link-local or multicast
    /// destination) goes to the control plane when it is a Router Solicitation
    /// (RFC 4861 section 6.2.6), an echo request (RFC 4443 section 4.1) or DHCPv6
    /// (RFC 8415, UDP to port 547); other link-scoped traffic (MLD, duplicate address
    /// detection) is dropped. The rest is routed by [`GraphPlane::v6_up`].
    fn v6_from_session(&mut self, pool: &mut Pool<'p>, p: Pkt<'p>) {
        let h = p.meta.subscriber;
        let l3 = usize::from(p.meta.l3_offset);
        let d = p.data();
        let Some((_, dst, plen, _)) = d.get(l3..).and_then(ip6_fields) else {
            self.drop(pool, p, "bad-header6");
            return;
        };
        if routable6(dst) {
            self.v6_up(pool, p, h);
            return;
        }
        let icmp = d.get(l3 + 6) == Some(&58) && matches!(d.get(l3 + 40), Some(128 | 133));
        let dhcp = d.get(l3 + 6) == Some(&17) && d.get(l3 + 42..l3 + 44) == Some(&[2, 0x23][..]);
        if !(icmp || dhcp) {
            self.drop(pool, p, "link-scope6");
            return;
        }
        if let Some(ip) = d.get(l3..l3 + 40 + plen) {
            self.punts.push(Punted {
                kind: PuntKind::PppIpv6,
                frame: ip.to_vec(),
                l3_offset: 0,
                vlans: p.meta.vlans,
                handle: Some(h),
            });
        }
        pool.free(p);
    }

    /// IPv6 from subscriber `h` (RFC 8200): the source must be its IA_NA address, or
    /// inside its delegated prefix or its link's prefix (anti-spoofing); link-local and
    /// multicast stay on the link. An echo request to our upstream address is answered;
    /// the rest has its hop limit decremented and goes to the IPv6 next hop unchanged
    /// otherwise (no NAT for IPv6).
    fn v6_up(&mut self, pool: &mut Pool<'p>, mut p: Pkt<'p>, h: Handle) {
        let l3 = usize::from(p.meta.l3_offset);
        let Some((src, dst, plen, hops)) = p.data().get(l3..).and_then(ip6_fields) else {
            self.drop(pool, p, "bad-header6");
            return;
        };
        // link-local and multicast stay on the link (RFC 4291 sections 2.5.6, 2.7):
        // the subscriber's Router Solicitations, MLD reports, its ND
        if !routable6(src) || !routable6(dst) {
            self.drop(pool, p, "link-scope6");
            return;
        }
        let now = self.now;
        let Some(s) = self.subs.get_mut(&h) else {
            self.drop(pool, p, "unknown-subscriber6");
            return;
        };
        let within = |(prefix, len): (u128, u8)| {
            (src ^ prefix)
                .checked_shr(128 - u32::from(len))
                .unwrap_or(0)
                == 0
        };
        if !(s.up
            && (s.addr6 == Some(src) || s.pd.is_some_and(within) || s.net64.is_some_and(within)))
        {
            self.drop(pool, p, "spoofed-source6");
            return;
        }
        let len = 40 + plen;
        if let Err(why) = s.meter_up(now, len as u64) {
            self.drop(pool, p, why);
            return;
        }
        if self.v6.is_some_and(|v6| u128::from(v6.addr) == dst) {
            // RFC 4443 section 4.2: the reply goes back the way the request came
            if p.data_mut().get_mut(l3..l3 + len).is_some_and(echo6_reply) {
                self.v6_down(pool, p, h, 64);
            } else {
                self.drop(pool, p, "to-gateway6");
            }
            return;
        }
        if hops <= 1 {
            self.drop(pool, p, "hop-limit");
            return;
        }
        let Some(gw) = self.gateway6_mac else {
            self.drop(pool, p, "no-next-hop6");
            return;
        };
        if let Err(why) = rewrite6(&mut p, l3, len, hops - 1, (gw, self.up_mac), None) {
            self.drop(pool, p, why);
            return;
        }
        self.forwarded += 1;
        self.tx_up.push(p);
    }

    /// IPv6 on the upstream port: Neighbor Discovery for our address (RFC 4861: answer
    /// solicitations, learn the next hop's MAC), and packets to a subscriber's IA_NA
    /// address or delegated prefix (or a PPPoE session's link prefix), to the subscriber
    /// ([`GraphPlane::v6_down`]).
    fn v6_from_upstream(&mut self, pool: &mut Pool<'p>, p: Pkt<'p>) {
        let Some(v6) = self.v6 else {
            self.drop(pool, p, "ipv6-not-routed");
            return;
        };
        let l3 = usize::from(p.meta.l3_offset);
        let d = p.data();
        let Some((src, dst, plen, hops)) = d.get(l3..).and_then(ip6_fields) else {
            self.drop(pool, p, "bad-header6");
            return;
        };
        if src == u128::from(v6.gateway) {
            let mac = d.get(6..12).and_then(|m| <[u8; 6]>::try_from(m).ok());
            if mac.is_some() && self.gateway6_mac != mac {
                tracing::info!(gateway6 = %v6.gateway, mac = ?mac, "IPv6 next hop resolved");
                self.gateway6_mac = mac;
            }
        }
        if let Some(na) = d
            .get(l3..)
            .and_then(|ip| nd_answer(ip, self.up_mac, &[v6.addr], false))
        {
            self.ctl_up.push(reply_with_tags(d, l3, self.up_mac, &na));
            pool.free(p);
            return;
        }
        if d.get(l3 + 6) == Some(&58) && matches!(d.get(l3 + 40), Some(133..=137)) {
            pool.free(p); // other Neighbor Discovery: consumed
            return;
        }
        let Some(h) = self.v6_owner(dst) else {
            self.drop(pool, p, "no-session6");
            return;
        };
        let (now, len) = (self.now, 40 + plen);
        let Some(s) = self.subs.get_mut(&h) else {
            self.drop(pool, p, "no-session6");
            return;
        };
        if let Err(why) = s.meter_down(now, len as u64) {
            self.drop(pool, p, why);
            return;
        }
        if hops <= 1 {
            self.drop(pool, p, "hop-limit");
            return;
        }
        self.v6_down(pool, p, h, hops - 1);
    }

    /// Sends the IPv6 packet in `p` (at `meta.l3_offset`, counted by the caller) to
    /// subscriber `h` with hop limit `hops`: in an Ethernet frame to its MAC (IPoE) or
    /// in its PPPoE session as PPP protocol 0x0057 (RFC 5072 section 3, RFC 2516
    /// section 6), with its VLAN tags.
    fn v6_down(&mut self, pool: &mut Pool<'p>, mut p: Pkt<'p>, h: Handle, hops: u8) {
        let l3 = usize::from(p.meta.l3_offset);
        let Some((_, _, plen, _)) = p.data().get(l3..).and_then(ip6_fields) else {
            self.drop(pool, p, "bad-header6");
            return;
        };
        let Some(s) = self.subs.get(&h) else {
            self.drop(pool, p, "no-session6");
            return;
        };
        let (macs, pppoe, vlans) = match s.key {
            AccessKey::Ipoe { mac, vlans, .. } => {
                ((s.via6.unwrap_or(mac), self.access_mac), None, vlans)
            }
            AccessKey::Pppoe {
                mac,
                session_id,
                vlans,
            } => ((mac, self.access_mac), Some(session_id), vlans),
        };
        if let Err(why) = rewrite6(&mut p, l3, 40 + plen, hops, macs, pppoe) {
            self.drop(pool, p, why);
            return;
        }
        p.meta.vlans = vlans;
        if push_tags(&mut p) {
            self.forwarded += 1;
            self.tx_access.push(p);
        } else {
            self.drop(pool, p, "no-headroom");
        }
    }

    /// Sends a Neighbor Solicitation (RFC 4861 section 7.2.2) for the IPv6 next hop
    /// every second until it answers.
    fn resolve_gateway6(&mut self) {
        let Some(v6) = self.v6 else { return };
        if self.gateway6_mac.is_some()
            || self
                .last_ns
                .is_some_and(|t| self.now.saturating_sub(t) < Duration::from_secs(1))
        {
            return;
        }
        self.last_ns = Some(self.now);
        self.ctl_up.push(ns_frame(self.up_mac, v6.addr, v6.gateway));
    }

    fn out_upstream(&mut self, pool: &mut Pool<'p>, pkts: Vec<Pkt<'p>>) {
        for mut p in pkts {
            let Some(gw) = self.gateway_mac else {
                self.drop(pool, p, "no-next-hop");
                continue;
            };
            let l3 = usize::from(p.meta.l3_offset);
            if !p.pull_front(l3) {
                self.drop(pool, p, "bad-packet");
                continue;
            }
            let Some(h) = p.push_front(14) else {
                self.drop(pool, p, "no-headroom");
                continue;
            };
            h[..6].copy_from_slice(&gw);
            h[6..12].copy_from_slice(&self.up_mac);
            h[12..14].copy_from_slice(&[0x08, 0x00]);
            self.forwarded += 1;
            self.tx_up.push(p);
        }
    }

    /// Downstream: policer and counters by destination address, then `pppoe-encap`.
    fn out_access(&mut self, pool: &mut Pool<'p>, pkts: Vec<Pkt<'p>>) {
        let now = self.now;
        for p in pkts {
            let l3 = usize::from(p.meta.l3_offset);
            let dst = p
                .data()
                .get(l3 + 16..l3 + 20)
                .and_then(|b| <[u8; 4]>::try_from(b).ok())
                .map(u32::from_be_bytes);
            let Some(s) = dst
                .and_then(|d| self.by_addr.get(&d))
                .and_then(|h| self.subs.get_mut(h))
            else {
                self.drop(pool, p, "no-session");
                continue;
            };
            let len = p.len().saturating_sub(l3);
            if let Err(why) = s.meter_down(now, len as u64) {
                self.drop(pool, p, why);
                continue;
            }
            let vlans = match &s.key {
                AccessKey::Pppoe { vlans, .. } | AccessKey::Ipoe { vlans, .. } => *vlans,
            };
            let mut p = p;
            p.meta.vlans = vlans;
            self.fwd.push(p);
        }
        run(
            &mut self.ipoe_encap,
            &mut self.fwd,
            &mut self.ipoe_encap_out,
            pool,
            &mut self.c_ipoe_encap,
            &mut self.trace,
        );
        for mut p in self.ipoe_encap_out[ipoe_node::EncapNext::Output as usize].drain(..) {
            if push_tags(&mut p) {
                self.forwarded += 1;
                self.tx_access.push(p);
            } else {
                pool.free(p);
            }
        }
        run(
            &mut self.encap,
            &mut self.ipoe_encap_out[ipoe_node::EncapNext::Other as usize],
            &mut self.encap_out,
            pool,
            &mut self.c_encap,
            &mut self.trace,
        );
        for mut p in self.encap_out[pppoe_node::EncapNext::Output as usize].drain(..) {
            if push_tags(&mut p) {
                self.forwarded += 1;
                self.tx_access.push(p);
            } else {
                pool.free(p);
            }
        }
    }

    fn rx_upstream(&mut self, pool: &mut Pool<'p>) {
        run(
            &mut self.eth,
            &mut self.rx,
            &mut self.eth_out,
            pool,
            &mut self.c_eth,
            &mut self.trace,
        );
        let arp: Vec<_> = self.eth_out[ethernet::Next::Arp as usize]
            .drain(..)
            .collect();
        for p in arp {
            let l3 = usize::from(p.meta.l3_offset);
            if let Some(a) = p.data().get(l3..) {
                self.arp(a);
            }
            pool.free(p);
        }
        let ip4: Vec<_> = self.eth_out[ethernet::Next::Ip4 as usize]
            .drain(..)
            .collect();
        let ip6: Vec<_> = self.eth_out[ethernet::Next::Ip6 as usize]
            .drain(..)
            .collect();
        for f in &mut self.eth_out {
            pool.free_all(f);
        }
        for p in ip6 {
            self.v6_from_upstream(pool, p);
        }
        if let Some(nat) = &mut self.nat {
            self.fwd.extend(ip4);
            nat.now = self.now;
            nat.direction = Direction::OutToIn;
            run(
                nat,
                &mut self.fwd,
                &mut self.nat_out,
                pool,
                &mut self.c_nat,
                &mut self.trace,
            );
            let fw: Vec<_> = self.nat_out[nat_node::Next::Forward as usize]
                .drain(..)
                .collect();
            let hp: Vec<_> = self.nat_out[nat_node::Next::Hairpin as usize]
                .drain(..)
                .collect();
            self.out_access(pool, fw);
            self.out_access(pool, hp);
        } else {
            self.out_access(pool, ip4);
        }
    }

    /// ARP on the upstream port (RFC 826): answer requests for our addresses, learn
    /// the next hop's MAC from anything it sends.
    fn arp(&mut self, a: &[u8]) {
        let (Some(op), Some(sha), Some(spa), Some(tpa)) = (
            a.get(6..8),
            a.get(8..14).and_then(|b| <[u8; 6]>::try_from(b).ok()),
            a.get(14..18).and_then(|b| <[u8; 4]>::try_from(b).ok()),
            a.get(24..28).and_then(|b| <[u8; 4]>::try_from(b).ok()),
        ) else {
            return;
        };
        if a.get(..6) != Some(&[0, 1, 8, 0, 6, 4][..]) {
            return;
        }
        if Ipv4Addr::from(spa) == self.gateway {
            if self.gateway_mac != Some(sha) {
                tracing::info!(gateway = %self.gateway, mac = ?sha, "next hop resolved");
            }
            self.gateway_mac = Some(sha);
        }
        if op == [0, 1] && self.arp_addrs.contains(&Ipv4Addr::from(tpa)) {
            let reply = arp_frame(2, self.up_mac, tpa, sha, spa);
            self.ctl_up.push(reply);
        }
    }

    /// Sends an ARP request for the next hop every second until it answers.
    fn resolve_gateway(&mut self) {
        if self.gateway_mac.is_some() {
            return;
        }
        if self
            .last_arp
            .is_some_and(|t| self.now.saturating_sub(t) < Duration::from_secs(1))
        {
            return;
        }
        self.last_arp = Some(self.now);
        let req = arp_frame(
            1,
            self.up_mac,
            self.up_addr.octets(),
            [0xff; 6],
            self.gateway.octets(),
        );
        self.ctl_up.push(req);
    }

    /// Sessions installed and up.
    #[must_use]
    pub fn sessions_up(&self) -> usize {
        self.subs.values().filter(|s| s.up).count()
    }

    /// The rate applied to `h`, if any.
    #[must_use]
    pub fn rate(&self, h: Handle) -> Option<Qos> {
        self.subs.get(&h).and_then(|s| s.rate)
    }
}

/// The IPv6 upstream of the plane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct V6Upstream {
    /// Our address on the upstream link.
    pub addr: Ipv6Addr,
    /// The next hop.
    pub gateway: Ipv6Addr,
}

/// Forwards an IPv6 packet one hop (RFC 8200 section 3): keeps the `len` bytes of the
/// IPv6 packet at `l3`, sets the hop limit to `hops` (the caller decremented it) and
/// writes a new Ethernet header `(to, from)`; with `pppoe` (a session id), inside a
/// PPPoE session header and PPP protocol 0x0057 (RFC 2516 section 4, RFC 5072 section
/// 3). On failure, the drop reason.
fn rewrite6(
    p: &mut Pkt<'_>,
    l3: usize,
    len: usize,
    hops: u8,
    (dst, src): (Mac, Mac),
    pppoe: Option<u16>,
) -> Result<(), &'static str> {
    if !p.pull_front(l3) || !p.set_len(len) {
        return Err("bad-header6");
    }
    if let Some(hl) = p.data_mut().get_mut(7) {
        *hl = hops;
    }
    let ethertype: [u8; 2] = if let Some(sid) = pppoe {
        let ppp_len = u16::try_from(len + 2).map_err(|_| "too-big6")?;
        let h = p
            .push_front(8)
            .and_then(<[u8]>::first_chunk_mut::<8>)
            .ok_or("no-headroom")?;
        h[..2].copy_from_slice(&[0x11, 0x00]);
        h[2..4].copy_from_slice(&sid.to_be_bytes());
        h[4..6].copy_from_slice(&ppp_len.to_be_bytes());
        h[6..].copy_from_slice(&[0x00, 0x57]);
        [0x88, 0x64]
    } else {
        [0x86, 0xdd]
    };
    let e = p
        .push_front(14)
        .and_then(<[u8]>::first_chunk_mut::<14>)
        .ok_or("no-headroom")?;
    e[..6].copy_from_slice(&dst);
    e[6..12].copy_from_slice(&src);
    e[12..].copy_from_slice(&ethertype);
    Ok(())
}

/// Turns an ICMPv6 echo request (RFC 4443 section 4.1) in the IPv6 packet `ip` into its
/// reply in place (addresses swapped, type 129, hop limit 64, checksum over the
/// pseudo-header); whether it was one. Only a packet whose next header is ICMPv6.
pub(crate) fn echo6_reply(ip: &mut [u8]) -> bool {
    let Some((src, dst, plen, _)) = ip6_fields(ip) else {
        return false;
    };
    if ip.get(6) != Some(&58) || ip.get(40..42) != Some(&[128, 0][..]) || plen < 8 {
        return false;
    }
    ip[8..24].copy_from_slice(&dst.to_be_bytes());
    ip[24..40].copy_from_slice(&src.to_be_bytes());
    ip[7] = 64;
    ip[40] = 129;
    ip[42..44].fill(0);
    let c = icmp6_checksum(&ip[8..24], &ip[24..40], &ip[40..40 + plen]);
    ip[42..44].copy_from_slice(&c.to_be_bytes());
    true
}

/// The ICMPv6 checksum (RFC 4443 section 2.3) of `icmp` (checksum field zero) between
/// `src` and `dst`.
fn icmp6_checksum(src: &[u8], dst: &[u8], icmp: &[u8]) -> u16 {
    let len = u32::try_from(icmp.len()).unwrap_or(0);
    crate::net::checksum(&[src, dst, &len.to_be_bytes(), &[0, 0, 0, 58], icmp])
}

/// Source, destination, payload length and hop limit of an IPv6 header (RFC 8200
/// section 3) whose payload is all there.
fn ip6_fields(ip: &[u8]) -> Option<(u128, u128, usize, u8)> {
    let h = ip.first_chunk::<40>()?;
    let plen = usize::from(u16::from_be_bytes([h[4], h[5]]));
    if h[0] >> 4 != 6 || ip.len() < 40 + plen {
        return None;
    }
    let src = u128::from_be_bytes(<[u8; 16]>::try_from(&h[8..24]).ok()?);
    let dst = u128::from_be_bytes(<[u8; 16]>::try_from(&h[24..40]).ok()?);
    Some((src, dst, plen, h[7]))
}

/// Whether an IPv6 address may be routed: not unspecified, link-local (`fe80::/10`) or
/// multicast (`ff00::/8`) (RFC 4291 section 2.4).
fn routable6(a: u128) -> bool {
    let top = a >> 118;
    a != 0 && top != 0x3fa && a >> 120 != 0xff
}

/// The EUI-64 link-local address of `mac` (RFC 4291 appendix A).
#[must_use]
pub fn link_local(mac: Mac) -> Ipv6Addr {
    Ipv6Addr::from([
        0xfe,
        0x80,
        0,
        0,
        0,
        0,
        0,
        0,
        mac[0] ^ 2,
        mac[1],
        mac[2],
        0xff,
        0xfe,
        mac[3],
        mac[4],
        mac[5],
    ])
}

/// An IPv6 packet carrying the ICMPv6 message `icmp` (RFC 4443), hop limit 255 (as
/// Neighbor Discovery requires), its checksum over the pseudo-header set.
pub(crate) fn icmp6_packet(src: Ipv6Addr, dst: Ipv6Addr, mut icmp: Vec<u8>) -> Vec<u8> {
    let c = icmp6_checksum(&src.octets(), &dst.octets(), &icmp);
    if let Some(f) = icmp.get_mut(2..4) {
        f.copy_from_slice(&c.to_be_bytes());
    }
    let mut ip = vec![0x60, 0, 0, 0];
    ip.extend_from_slice(&u16::try_from(icmp.len()).unwrap_or(0).to_be_bytes());
    ip.extend_from_slice(&[58, 255]);
    ip.extend_from_slice(&src.octets());
    ip.extend_from_slice(&dst.octets());
    ip.extend_from_slice(&icmp);
    ip
}

/// The Neighbor Advertisement (RFC 4861 section 7.2.4) answering a Neighbor
/// Solicitation in `ip` (an IPv6 packet) for one of `addrs`, as an IPv6 packet: Solicited
/// and Override set, Router with `router`, our MAC as the target link-layer address.
/// `None` for anything else, and for duplicate address detection (unspecified source).
fn nd_answer(ip: &[u8], our_mac: Mac, addrs: &[Ipv6Addr], router: bool) -> Option<Vec<u8>> {
    let (src, _, plen, hops) = ip6_fields(ip)?;
    // RFC 4861 section 7.1.1: hop limit 255, ICMPv6 type 135 code 0, at least 24 bytes
    if ip.get(6) != Some(&58) || hops != 255 || plen < 24 || ip.get(40..42) != Some(&[135, 0]) {
        return None;
    }
    let target = Ipv6Addr::from(<[u8; 16]>::try_from(ip.get(48..64)?).ok()?);
    if src == 0 || !addrs.contains(&target) {
        return None;
    }
    let mut icmp = vec![136, 0, 0, 0, if router { 0xe0 } else { 0x60 }, 0, 0, 0];
    icmp.extend_from_slice(&target.octets());
    icmp.extend_from_slice(&[2, 1]);
    icmp.extend_from_slice(&our_mac);
    Some(icmp6_packet(target, Ipv6Addr::from(src), icmp))
}

/// A Neighbor Solicitation (RFC 4861 section 7.2.2) from `src` for `target`, to its
/// solicited-node multicast address (RFC 4291 section 2.7.1), as an Ethernet frame.
fn ns_frame(our_mac: Mac, src: Ipv6Addr, target: Ipv6Addr) -> Vec<u8> {
    let t = target.octets();
    let group = Ipv6Addr::from([
        0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, t[13], t[14], t[15],
    ]);
    let mut icmp = vec![135, 0, 0, 0, 0, 0, 0, 0];
    icmp.extend_from_slice(&t);
    icmp.extend_from_slice(&[1, 1]);
    icmp.extend_from_slice(&our_mac);
    let mut f = vec![0x33, 0x33, 0xff, t[13], t[14], t[15]];
    f.extend_from_slice(&our_mac);
    f.extend_from_slice(&[0x86, 0xdd]);
    f.extend_from_slice(&icmp6_packet(src, group, icmp));
    f
}

/// What [`GraphPlane::routed_input`] made of a frame.
enum Routed<'p> {
    /// A routed subscriber's packet, at its IPv4 header, `meta.subscriber` set.
    Bound(Pkt<'p>),
    /// Not a routed subscriber's: on to `ipoe-input`.
    Other(Pkt<'p>),
    /// Dropped, with the reason.
    Drop(Pkt<'p>, &'static str),
}

/// Inserts the subscriber's VLAN tags (`meta.vlans`, 0 = none) after the MAC addresses
/// of an encapsulated frame: 802.1Q (TPID 0x8100) for one tag; 802.1ad (0x88a8) outer
/// and 802.1Q inner for QinQ. False if there is no headroom.
fn push_tags(p: &mut Pkt<'_>) -> bool {
    let tags: Vec<(u16, u16)> = match p.meta.vlans {
        [0, _] => return true,
        [o, 0] => vec![(0x8100, o)],
        [o, i] => vec![(0x88a8, o), (0x8100, i)],
    };
    let n = 4 * tags.len();
    let Some(macs) = p.data().get(..12).map(<[u8]>::to_vec) else {
        return false;
    };
    if p.push_front(n).is_none() {
        return false;
    }
    let Some((m, rest)) = p.data_mut().split_at_mut_checked(12) else {
        return false;
    };
    m.copy_from_slice(&macs);
    for (t, (tpid, id)) in rest.chunks_exact_mut(4).zip(&tags) {
        t[..2].copy_from_slice(&tpid.to_be_bytes());
        t[2..].copy_from_slice(&(id & 0x0fff).to_be_bytes());
    }
    true
}

/// Which VLANs subscribers may use (the `access` config keys).
#[derive(Debug, Clone, Default)]
pub struct VlanFilter {
    /// Untagged frames accepted.
    pub untagged: bool,
    /// Outer (or only) tag ranges.
    pub outer: Vec<(u16, u16)>,
    /// Inner tag ranges (QinQ); empty: single-tagged only.
    pub inner: Vec<(u16, u16)>,
}

impl VlanFilter {
    /// Whether a frame with VLAN ids `v` (0 = absent) is accepted.
    #[must_use]
    pub fn accepts(&self, v: [u16; 2]) -> bool {
        let within = |r: &[(u16, u16)], id: u16| r.iter().any(|&(a, b)| (a..=b).contains(&id));
        match v {
            [0, _] => self.untagged,
            [o, 0] => within(&self.outer, o) && self.inner.is_empty(),
            [o, i] => within(&self.outer, o) && within(&self.inner, i),
        }
    }
}

/// Turns an ICMP echo request (RFC 792) in `ip` into its reply in place; whether it was one.
fn echo_reply(ip: &mut [u8]) -> bool {
    let ihl = usize::from(ip.first().map_or(0, |b| b & 0x0f)) * 4;
    let total = ip
        .get(2..4)
        .map_or(0, |b| usize::from(u16::from_be_bytes([b[0], b[1]])));
    if ihl < 20
        || total < ihl + 8
        || total > ip.len()
        || ip.get(9) != Some(&1)
        || ip.get(ihl) != Some(&8)
    {
        return false;
    }
    let (src, dst) = (
        <[u8; 4]>::try_from(&ip[12..16]).unwrap_or_default(),
        <[u8; 4]>::try_from(&ip[16..20]).unwrap_or_default(),
    );
    ip[12..16].copy_from_slice(&dst);
    ip[16..20].copy_from_slice(&src);
    ip[8] = 64;
    ip[10..12].fill(0);
    let c = crate::net::checksum(&[&ip[..ihl]]);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    ip[ihl] = 0;
    ip[ihl + 2..ihl + 4].fill(0);
    let c = crate::net::checksum(&[&ip[ihl..total]]);
    ip[ihl + 2..ihl + 4].copy_from_slice(&c.to_be_bytes());
    true
}

/// The ARP reply (RFC 826) to a request `a` for one of `addrs`, as the ARP payload.
fn arp_answer(a: &[u8], our_mac: Mac, addrs: &[Ipv4Addr]) -> Option<Vec<u8>> {
    if a.get(..8) != Some(&[0, 1, 8, 0, 6, 4, 0, 1][..]) {
        return None;
    }
    let sha = a.get(8..14)?;
    let spa = a.get(14..18)?;
    let tpa = <[u8; 4]>::try_from(a.get(24..28)?).ok()?;
    if !addrs.contains(&Ipv4Addr::from(tpa)) {
        return None;
    }
    let mut r = vec![0, 1, 8, 0, 6, 4, 0, 2];
    r.extend_from_slice(&our_mac);
    r.extend_from_slice(&tpa);
    r.extend_from_slice(sha);
    r.extend_from_slice(spa);
    Some(r)
}

/// An Ethernet frame back to the sender of `orig` (same VLAN tags) carrying `payload`.
fn reply_with_tags(orig: &[u8], l3: usize, our_mac: Mac, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(64);
    f.extend_from_slice(orig.get(6..12).unwrap_or(&[0xff; 6]));
    f.extend_from_slice(&our_mac);
    f.extend_from_slice(orig.get(12..l3).unwrap_or(&[0x08, 0x06]));
    f.extend_from_slice(payload);
    if f.len() < 60 {
        f.resize(60, 0);
    }
    f
}

/// An ARP frame (RFC 826): `op` 1 request (to broadcast) or 2 reply.
fn arp_frame(op: u8, our_mac: Mac, our_ip: [u8; 4], to_mac: Mac, to_ip: [u8; 4]) -> Vec<u8> {
    let mut f = Vec::with_capacity(60);
    f.extend_from_slice(&to_mac);
    f.extend_from_slice(&our_mac);
    f.extend_from_slice(&[0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, op]);
    f.extend_from_slice(&our_mac);
    f.extend_from_slice(&our_ip);
    f.extend_from_slice(if op == 1 { &[0; 6] } else { &to_mac });
    f.extend_from_slice(&to_ip);
    f.resize(60, 0);
    f
}

fn pppoe_key(k: &AccessKey) -> Option<SessionKey> {
    match k {
        AccessKey::Pppoe {
            mac,
            session_id,
            vlans,
        } => Some(SessionKey {
            mac: *mac,
            session_id: *session_id,
            vlans: *vlans,
        }),
        AccessKey::Ipoe { .. } => None,
    }
}

impl Forwarding for GraphPlane<'_, '_> {
    fn session_created(&mut self, s: &Subscriber) {
        if let Some(k) = pppoe_key(&s.key) {
            self.decap.insert(k, s.handle);
        }
        self.subs.insert(
            s.handle,
            Sub {
                key: s.key.clone(),
                addr: None,
                via: None,
                addr6: None,
                pd: None,
                net64: None,
                via6: None,
                up: false,
                qos: None,
                rate: None,
                counters: Counters::default(),
            },
        );
    }

    #[allow(
        clippy::too_many_lines,
        reason = "one table after the other: v4, v6 (PPPoE, IPoE), routed, encap"
    )]
    fn session_up(&mut self, s: &Subscriber) {
        if !self.subs.contains_key(&s.handle) {
            self.session_created(s);
        }
        let now = self.now;
        let access_mac = self.access_mac;
        let Some(sub) = self.subs.get_mut(&s.handle) else {
            return;
        };
        sub.up = s.state == State::Up;
        let old_addr = sub.addr;
        sub.addr = s.ipv4.map(u32::from);
        sub.rate = s.qos.as_ref().map(|q| q.1);
        sub.qos = sub.rate.map(|q| {
            (
                bucket(q.up_bps, q.burst_bytes, now),
                bucket(q.down_bps, q.burst_bytes, now),
            )
        });
        if let Some(old) = old_addr.filter(|o| Some(*o) != sub.addr) {
            self.by_addr.remove(&old);
            self.encap.remove(old);
            self.ipoe_encap.remove(old);
        }
        if let Some(old) = old_addr {
            self.routed.remove(&old);
        }
        // IPv6 (IPoE, directly attached): by MAC and VLANs in, by address/prefix out
        if let Some(a) = sub.addr6.take() {
            self.v6_addr.remove(&a);
        }
        if let Some((p, l)) = sub.pd.take() {
            self.v6_pd.remove(&(l, p));
        }
        if let Some((p, l)) = sub.net64.take() {
            self.v6_pd.remove(&(l, p));
        }
        if let AccessKey::Pppoe { .. } = &sub.key {
            // PPPoE: in by session, out by the link's prefix and the delegated prefix
            let v6 = |p: Option<(Ipv6Addr, u8)>| p.map(|(p, l)| (u128::from(p), l.min(128)));
            sub.pd = v6(s.pd);
            sub.net64 = v6(s.prefix64);
            for (p, l) in sub.pd.into_iter().chain(sub.net64) {
                self.v6_pd.insert((l, p), s.handle);
                if !self.pd_lens.contains(&l) {
                    self.pd_lens.push(l);
                }
            }
        }
        if let AccessKey::Ipoe { mac, vlans, .. } = &sub.key {
            if self.v6_in.get(&(*mac, *vlans)) == Some(&s.handle) {
                self.v6_in.remove(&(*mac, *vlans));
            }
            // directly attached (by MAC in), or behind a DHCPv6 relay (by source
            // address in, from the relay's MAC: RFC 8415 section 19)
            sub.via6 = s.next_hop6.map(|(m, _)| m);
            if (s.next_hop.is_none() || sub.via6.is_some()) && (s.ipv6.is_some() || s.pd.is_some())
            {
                sub.addr6 = s.ipv6.map(u128::from);
                sub.pd = s.pd.map(|(p, l)| (u128::from(p), l.min(128)));
                if let Some(via) = sub.via6 {
                    tracing::info!(handle = s.handle, relay = ?s.next_hop6, mac = ?via, "IPv6 routed via the DHCPv6 relay");
                } else {
                    self.v6_in.insert((*mac, *vlans), s.handle);
                }
                if let Some(a) = sub.addr6 {
                    self.v6_addr.insert(a, s.handle);
                }
                if let Some((p, l)) = sub.pd {
                    self.v6_pd.insert((l, p), s.handle);
                    if !self.pd_lens.contains(&l) {
                        self.pd_lens.push(l);
                    }
                }
            }
        }
        sub.via = s.next_hop.map(|n| n.mac);
        if let (Some(a), Some(via), AccessKey::Ipoe { .. }) = (sub.addr, sub.via, &sub.key) {
            // routed: by source address in, to the relay's MAC out
            self.by_addr.insert(a, s.handle);
            self.routed.insert(a, s.handle);
            self.ipoe_encap.insert(
                a,
                IpoeEncapEntry {
                    mac: via,
                    our_mac: access_mac,
                    tx_if: 0,
                },
            );
        } else if let (Some(a), AccessKey::Ipoe { mac, vlans, .. }) = (sub.addr, &sub.key) {
            self.by_addr.insert(a, s.handle);
            self.ipoe_in.insert(
                IpoeKey {
                    mac: *mac,
                    vlans: *vlans,
                },
                Binding {
                    addr: a,
                    subscriber: s.handle,
                },
            );
            self.ipoe_encap.insert(
                a,
                IpoeEncapEntry {
                    mac: *mac,
                    our_mac: access_mac,
                    tx_if: 0,
                },
            );
        }
        if let (
            Some(a),
            AccessKey::Pppoe {
                mac, session_id, ..
            },
        ) = (sub.addr, &sub.key)
        {
            self.by_addr.insert(a, s.handle);
            self.encap.insert(
                a,
                EncapEntry {
                    mac: *mac,
                    our_mac: access_mac,
                    session_id: *session_id,
                    tx_if: 0,
                },
            );
        }
    }

    fn session_down(&mut self, s: &Subscriber) {
        if let Some(sub) = self.subs.remove(&s.handle) {
            if let Some(a) = sub.addr {
                self.by_addr.remove(&a);
                self.routed.remove(&a);
                self.encap.remove(a);
                self.ipoe_encap.remove(a);
            }
            if let Some(a) = sub.addr6 {
                self.v6_addr.remove(&a);
            }
            for (p, l) in sub.pd.into_iter().chain(sub.net64) {
                self.v6_pd.remove(&(l, p));
            }
            if let AccessKey::Ipoe { mac, vlans, .. } = &sub.key
                && self.v6_in.get(&(*mac, *vlans)) == Some(&s.handle)
            {
                self.v6_in.remove(&(*mac, *vlans));
            }
            if let (AccessKey::Ipoe { mac, vlans, .. }, None) = (&sub.key, sub.via) {
                self.ipoe_in.remove(&IpoeKey {
                    mac: *mac,
                    vlans: *vlans,
                });
            }
            if let Some(k) = pppoe_key(&sub.key) {
                self.decap.remove(&k);
            }
        }
    }

    fn set_qos(&mut self, s: &Subscriber) {
        let now = self.now;
        if let Some(sub) = self.subs.get_mut(&s.handle) {
            sub.rate = s.qos.as_ref().map(|q| q.1);
            sub.qos = sub.rate.map(|q| {
                (
                    bucket(q.up_bps, q.burst_bytes, now),
                    bucket(q.down_bps, q.burst_bytes, now),
                )
            });
        }
    }

    fn counters(&self, handle: Handle) -> Counters {
        self.subs
            .get(&handle)
            .map(|s| s.counters)
            .unwrap_or_default()
    }

    fn transmit(&mut self, port: Port, frame: &[u8]) {
        match port {
            Port::Access => self.ctl_access.push(frame.to_vec()),
            Port::Upstream => self.ctl_up.push(frame.to_vec()),
        }
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::cast_possible_truncation,
    clippy::too_many_lines,
    reason = "tests"
)]
mod tests {
    use bng_dataplane::backend::memory::Memory;
    use bng_dataplane::buffer::Arena;

    use super::*;
    use crate::bng::session::Sessions;

    const ACC: Mac = [2, 0xaa, 0, 0, 0, 1];
    const UP: Mac = [2, 0xaa, 0, 0, 0, 2];
    const GW: Mac = [2, 0xcc, 0, 0, 0, 1];
    const SUB: Mac = [2, 0x5b, 0, 0, 0, 1];

    /// An IPv4/UDP packet (RFC 791, 768) of `len` payload bytes, header checksum set.
    fn ip(src: [u8; 4], dst: [u8; 4], len: usize) -> Vec<u8> {
        let total = 28 + len;
        let mut p = vec![0u8; total];
        p[0] = 0x45;
        p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
        p[8] = 64;
        p[9] = 17;
        p[12..16].copy_from_slice(&src);
        p[16..20].copy_from_slice(&dst);
        let c = crate::net::checksum(&[&p[..20]]);
        p[10..12].copy_from_slice(&c.to_be_bytes());
        p[20..22].copy_from_slice(&4000u16.to_be_bytes());
        p[22..24].copy_from_slice(&7u16.to_be_bytes());
        p[24..26].copy_from_slice(&((8 + len) as u16).to_be_bytes());
        p
    }

    fn pppoe(sid: u16, proto: u16, payload: &[u8]) -> Vec<u8> {
        let mut f = ACC.to_vec();
        f.extend_from_slice(&SUB);
        f.extend_from_slice(&[0x88, 0x64, 0x11, 0x00]);
        f.extend_from_slice(&sid.to_be_bytes());
        f.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
        f.extend_from_slice(&proto.to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    fn eth(dst: Mac, src: Mac, ty: u16, payload: &[u8]) -> Vec<u8> {
        let mut f = dst.to_vec();
        f.extend_from_slice(&src);
        f.extend_from_slice(&ty.to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    /// Our upstream IPv6 address and the next hop's (the server's) in the tests.
    const OURS6: &str = "2001:db8:ff00::1";
    const SERVER6: &str = "2001:db8:ff00::2";

    /// The tests' plane: upstream 192.0.2.1, the next hop 192.0.2.254 resolved to `GW`,
    /// no NAT; with `v6`, IPv6 upstream too (`OURS6`, the next hop `SERVER6` at `GW`).
    fn test_plane<'p>(v6: bool) -> GraphPlane<'p, 'static> {
        let mut plane = GraphPlane::new(
            ACC,
            UP,
            Ipv4Addr::new(192, 0, 2, 1),
            Ipv4Addr::new(192, 0, 2, 254),
            None,
        );
        plane.gateway_mac = Some(GW);
        if v6 {
            plane.gateway6_mac = Some(GW);
            plane.v6 = Some(V6Upstream {
                addr: OURS6.parse().unwrap(),
                gateway: SERVER6.parse().unwrap(),
            });
        }
        plane
    }

    /// A session of `key` in `reg`, edited by `edit`, up and installed in `plane`.
    fn up_session(
        reg: &mut Sessions,
        plane: &mut GraphPlane<'_, '_>,
        key: AccessKey,
        edit: impl FnOnce(&mut Subscriber),
    ) -> Handle {
        let h = reg.create(Duration::ZERO, key);
        let s = reg.get_mut(h).unwrap();
        s.state = State::Up;
        edit(s);
        plane.session_up(reg.get(h).unwrap());
        h
    }

    /// One IPv4 packet from the internet to `to` through `plane`: what leaves by the
    /// access port.
    fn downstream4<'p>(
        plane: &mut GraphPlane<'p, '_>,
        (access, upstream): (&mut Memory, &mut Memory),
        pool: &mut Pool<'p>,
        to: [u8; 4],
    ) -> Vec<Vec<u8>> {
        upstream.push_rx(&eth(UP, GW, 0x0800, &ip([198, 51, 100, 1], to, 10)));
        plane.poll(access, upstream, pool);
        access.take_transmitted()
    }

    #[test]
    fn pppoe_session_through_the_plane() {
        let mut arena = Arena::new(256);
        let mut pool = arena.pool();
        let (mut access, mut upstream) = (Memory::new(), Memory::new());
        let up_addr = Ipv4Addr::new(192, 0, 2, 1);
        let mut plane = GraphPlane::new(ACC, UP, up_addr, Ipv4Addr::new(192, 0, 2, 254), None);
        plane.local.push(Ipv4Addr::new(100, 64, 0, 1));
        let mut reg = Sessions::new("t-");
        let h = reg.create(
            Duration::ZERO,
            AccessKey::Pppoe {
                mac: SUB,
                session_id: 5,
                vlans: [0, 0],
            },
        );
        plane.session_created(reg.get(h).unwrap());

        // the next hop is resolved by ARP (RFC 826)
        plane.poll(&mut access, &mut upstream, &mut pool);
        let out = upstream.take_transmitted();
        assert_eq!(out.len(), 1);
        assert_eq!(&out[0][12..14], &[0x08, 0x06]);
        assert_eq!(&out[0][38..42], &[192, 0, 2, 254]);
        let reply = arp_frame(2, GW, [192, 0, 2, 254], UP, up_addr.octets());
        upstream.push_rx(&reply);
        plane.poll(&mut access, &mut upstream, &mut pool);
        assert_eq!(plane.gateway_mac, Some(GW));

        // discovery and PPP control are punted; data of a session not yet up is dropped
        access.push_rx(&eth(ACC, SUB, 0x8863, &[0x11, 0x09, 0, 0, 0, 0]));
        access.push_rx(&pppoe(5, 0xc021, &[1, 1, 0, 4]));
        access.push_rx(&pppoe(
            5,
            0x0021,
            &ip([100, 64, 0, 10], [198, 51, 100, 1], 10),
        ));
        plane.poll(&mut access, &mut upstream, &mut pool);
        let kinds: Vec<_> = plane.punts.drain(..).map(|p| (p.kind, p.handle)).collect();
        assert_eq!(
            kinds,
            vec![
                (PuntKind::PppoeDiscovery, None),
                (PuntKind::PppControl, Some(h))
            ]
        );
        assert_eq!(plane.drops.get("session-not-up"), Some(&1));

        // up: upstream to the next hop, spoofed sources dropped, counters kept
        {
            let s = reg.get_mut(h).unwrap();
            s.ipv4 = Some(Ipv4Addr::new(100, 64, 0, 10));
            s.state = State::Up;
            s.qos = Some((
                "tiny".into(),
                Qos {
                    down_bps: 8000,
                    up_bps: 8000,
                    burst_bytes: 1600,
                },
            ));
        }
        plane.session_up(reg.get(h).unwrap());
        let data = ip([100, 64, 0, 10], [198, 51, 100, 1], 10);
        access.push_rx(&pppoe(5, 0x0021, &data));
        access.push_rx(&pppoe(
            5,
            0x0021,
            &ip([100, 64, 0, 11], [198, 51, 100, 1], 10),
        ));
        plane.poll(&mut access, &mut upstream, &mut pool);
        let out = upstream.take_transmitted();
        assert_eq!(out.len(), 1);
        assert_eq!(&out[0][..6], &GW);
        assert_eq!(&out[0][6..12], &UP);
        assert_eq!(&out[0][14..], &data[..]);
        assert_eq!(plane.drops.get("spoofed-source"), Some(&1));
        assert_eq!(plane.counters(h).in_packets, 1);

        // downstream: PPPoE encapsulation toward the subscriber's session
        let out = downstream4(
            &mut plane,
            (&mut access, &mut upstream),
            &mut pool,
            [100, 64, 0, 10],
        );
        assert_eq!(out.len(), 1);
        assert_eq!(&out[0][..6], &SUB);
        assert_eq!(&out[0][12..18], &[0x88, 0x64, 0x11, 0x00, 0, 5]);
        assert_eq!(plane.counters(h).out_packets, 1);

        // the policer: a 1600-byte bucket passes one 1400-byte packet, not a second
        plane.now = Duration::from_secs(10);
        let big = ip([100, 64, 0, 10], [198, 51, 100, 1], 1372);
        access.push_rx(&pppoe(5, 0x0021, &big));
        access.push_rx(&pppoe(5, 0x0021, &big));
        plane.poll(&mut access, &mut upstream, &mut pool);
        assert_eq!(upstream.take_transmitted().len(), 1);
        assert_eq!(plane.drops.get("qos-upstream"), Some(&1));

        // ICMP echo to the gateway address is answered (RFC 792)
        let mut echo = ip([100, 64, 0, 10], [100, 64, 0, 1], 8);
        echo[9] = 1;
        echo[10..12].fill(0);
        let c = crate::net::checksum(&[&echo[..20]]);
        echo[10..12].copy_from_slice(&c.to_be_bytes());
        echo[20] = 8;
        echo[21] = 0;
        echo[22..24].fill(0);
        let c = crate::net::checksum(&[&echo[20..]]);
        echo[22..24].copy_from_slice(&c.to_be_bytes());
        plane.now = Duration::from_secs(20);
        access.push_rx(&pppoe(5, 0x0021, &echo));
        plane.poll(&mut access, &mut upstream, &mut pool);
        let out = access.take_transmitted();
        assert_eq!(out.len(), 1);
        let r = &out[0][22..];
        assert_eq!(r[20], 0, "echo reply");
        assert_eq!(&r[12..16], &[100, 64, 0, 1]);
        assert_eq!(crate::net::checksum(&[&r[..20]]), 0);
        assert_eq!(crate::net::checksum(&[&r[20..]]), 0);

        // down: the tables forget it
        let mut s = reg.get(h).unwrap().clone();
        s.state = State::Closing;
        plane.session_down(&s);
        access.push_rx(&pppoe(5, 0x0021, &data));
        plane.poll(&mut access, &mut upstream, &mut pool);
        assert!(upstream.take_transmitted().is_empty());
        assert!(
            plane
                .counter_rows()
                .iter()
                .any(|(n, c, v)| *n == "pppoe-session-input"
                    && c.contains("unknown-session")
                    && *v == 1)
        );
    }

    #[test]
    fn relayed_ipoe_subscribers_are_bound_by_address_and_reached_through_the_relay() {
        const RELAY: Mac = [2, 0xee, 0, 0, 0, 1];
        let mut arena = Arena::new(64);
        let mut pool = arena.pool();
        let (mut access, mut upstream) = (Memory::new(), Memory::new());
        let mut plane = test_plane(false);
        let mut reg = Sessions::new("t-");
        let key = AccessKey::Ipoe {
            mac: SUB,
            vlans: [0, 0],
            circuit: Some(b"d0".to_vec()),
        };
        let h = up_session(&mut reg, &mut plane, key, |s| {
            s.ipv4 = Some(Ipv4Addr::new(100, 64, 0, 10));
            s.next_hop = Some(crate::bng::session::NextHop {
                mac: RELAY,
                addr: Ipv4Addr::new(10, 0, 0, 1),
            });
        });
        let data = ip([100, 64, 0, 10], [198, 51, 100, 1], 10);
        // from the relay's MAC with the subscriber's address: forwarded
        access.push_rx(&eth(ACC, RELAY, 0x0800, &data));
        // the relay's own traffic (another source) is nobody's
        access.push_rx(&eth(
            ACC,
            RELAY,
            0x0800,
            &ip([10, 0, 0, 1], [198, 51, 100, 1], 10),
        ));
        // the subscriber's address from another MAC: spoofed
        access.push_rx(&eth(ACC, SUB, 0x0800, &data));
        // a unicast RENEW through the relay (UDP to 67) goes to the control plane
        let mut renew = ip([100, 64, 0, 10], [100, 65, 0, 1], 10);
        renew[22..24].copy_from_slice(&67u16.to_be_bytes());
        access.push_rx(&eth(ACC, RELAY, 0x0800, &renew));
        plane.poll(&mut access, &mut upstream, &mut pool);
        let out = upstream.take_transmitted();
        assert_eq!(out.len(), 1, "{:?}", plane.drops);
        assert_eq!(&out[0][14..], &data[..]);
        assert_eq!(plane.drops.get("routed-wrong-next-hop"), Some(&1));
        assert_eq!(
            plane.punts.drain(..).map(|p| p.kind).collect::<Vec<_>>(),
            vec![PuntKind::Dhcp4]
        );
        assert_eq!(plane.counters(h).in_packets, 1);
        // downstream: to the relay's MAC
        let out = downstream4(
            &mut plane,
            (&mut access, &mut upstream),
            &mut pool,
            [100, 64, 0, 10],
        );
        assert_eq!(out.len(), 1);
        assert_eq!(&out[0][..6], &RELAY);
        assert_eq!(&out[0][6..12], &ACC);
        assert_eq!(plane.counters(h).out_packets, 1);
        // down: nothing is bound any more
        plane.session_down(reg.get(h).unwrap());
        access.push_rx(&eth(ACC, RELAY, 0x0800, &data));
        plane.poll(&mut access, &mut upstream, &mut pool);
        assert!(upstream.take_transmitted().is_empty());
    }

    /// An IPv6 packet (RFC 8200) of `len` UDP payload bytes, hop limit 64.
    fn ip6(src: Ipv6Addr, dst: Ipv6Addr, len: usize) -> Vec<u8> {
        let mut p = vec![0x60, 0, 0, 0];
        p.extend_from_slice(&((8 + len) as u16).to_be_bytes());
        p.extend_from_slice(&[17, 64]);
        p.extend_from_slice(&src.octets());
        p.extend_from_slice(&dst.octets());
        p.extend_from_slice(&[0x0f, 0xa0, 0, 7]);
        p.extend_from_slice(&((8 + len) as u16).to_be_bytes());
        p.extend_from_slice(&[0, 0]);
        p.resize(48 + len, 0);
        p
    }

    #[test]
    fn ipoe_ipv6_is_routed_with_neighbor_discovery_and_anti_spoofing() {
        let mut arena = Arena::new(64);
        let mut pool = arena.pool();
        let (mut access, mut upstream) = (Memory::new(), Memory::new());
        let mut plane = test_plane(false);
        let (ours, gw6): (Ipv6Addr, Ipv6Addr) = (OURS6.parse().unwrap(), SERVER6.parse().unwrap());
        plane.v6 = Some(V6Upstream {
            addr: ours,
            gateway: gw6,
        });
        // RFC 4861: the next hop is solicited, its advertisement learnt
        plane.poll(&mut access, &mut upstream, &mut pool);
        let out = upstream.take_transmitted();
        let ns = out.iter().find(|f| f[12..14] == [0x86, 0xdd]).unwrap();
        assert_eq!(&ns[..6], &[0x33, 0x33, 0xff, 0, 0, 2]);
        assert_eq!(ns[54], 135);
        let na = {
            let mut icmp = vec![136, 0, 0, 0, 0x60, 0, 0, 0];
            icmp.extend_from_slice(&gw6.octets());
            icmp6_packet(gw6, ours, icmp)
        };
        upstream.push_rx(&eth(UP, GW, 0x86dd, &na));
        // and our address is answered to the next hop
        let sol = ns_frame(GW, gw6, ours);
        upstream.push_rx(&sol);
        plane.poll(&mut access, &mut upstream, &mut pool);
        assert_eq!(plane.gateway6_mac, Some(GW));
        let out = upstream.take_transmitted();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0][54], 136);
        assert_eq!(&out[0][62..78], &ours.octets());
        let icmp_len = out[0].len() - 54;
        assert_eq!(
            crate::net::checksum(&[
                &out[0][22..54],
                &(icmp_len as u32).to_be_bytes(),
                &[0, 0, 0, 58],
                &out[0][54..]
            ]),
            0
        );
        // the subscriber: IA_NA and a /56 delegated prefix
        let mut reg = Sessions::new("t-");
        let (na_addr, pd): (Ipv6Addr, Ipv6Addr) = (
            "2001:db8:10::1000".parse().unwrap(),
            "2001:db8:100:200::".parse().unwrap(),
        );
        let key = AccessKey::Ipoe {
            mac: SUB,
            vlans: [0, 0],
            circuit: None,
        };
        let h = up_session(&mut reg, &mut plane, key, |s| {
            s.ipv6 = Some(na_addr);
            s.pd = Some((pd, 56));
        });
        // our link-local is answered on the access port
        access.push_rx(&ns_frame(SUB, na_addr, link_local(ACC)));
        let server: Ipv6Addr = "2001:db8:ff00::2".parse().unwrap();
        let from_na = ip6(na_addr, server, 10);
        let from_pd = ip6("2001:db8:100:2ff::9".parse().unwrap(), server, 10);
        let spoofed = ip6("2001:db8:100:300::9".parse().unwrap(), server, 10);
        let rs = ip6(link_local(SUB), "ff02::2".parse().unwrap(), 10);
        for p in [&from_na, &from_pd, &spoofed, &rs] {
            access.push_rx(&eth(ACC, SUB, 0x86dd, p));
        }
        plane.poll(&mut access, &mut upstream, &mut pool);
        let na_out = access.take_transmitted();
        assert_eq!(na_out.len(), 1);
        assert_eq!(na_out[0][54], 136);
        assert_eq!(na_out[0][58], 0xe0, "router, solicited, override");
        let out = upstream.take_transmitted();
        assert_eq!(out.len(), 2, "{:?}", plane.drops);
        assert_eq!(&out[0][..6], &GW);
        assert_eq!(&out[0][6..12], &UP);
        assert_eq!(out[0][14 + 7], 63, "hop limit decremented");
        assert_eq!(&out[0][14 + 8..14 + 24], &na_addr.octets());
        assert_eq!(plane.drops.get("spoofed-source6"), Some(&1));
        assert_eq!(plane.drops.get("link-scope6"), Some(&1));
        // downstream to the address and into the prefix, to the subscriber's MAC
        upstream.push_rx(&eth(UP, GW, 0x86dd, &ip6(server, na_addr, 10)));
        upstream.push_rx(&eth(
            UP,
            GW,
            0x86dd,
            &ip6(server, "2001:db8:100:2aa::1".parse().unwrap(), 10),
        ));
        upstream.push_rx(&eth(
            UP,
            GW,
            0x86dd,
            &ip6(server, "2001:db8:100:400::1".parse().unwrap(), 10),
        ));
        plane.poll(&mut access, &mut upstream, &mut pool);
        let out = access.take_transmitted();
        assert_eq!(out.len(), 2);
        assert!(out.iter().all(|f| f[..6] == SUB && f[6..12] == ACC));
        assert_eq!(plane.drops.get("no-session6"), Some(&1));
        assert_eq!(plane.counters(h).out_packets, 2);
        plane.session_down(reg.get(h).unwrap());
        upstream.push_rx(&eth(UP, GW, 0x86dd, &ip6(server, na_addr, 10)));
        plane.poll(&mut access, &mut upstream, &mut pool);
        assert!(access.take_transmitted().is_empty());
    }

    #[test]
    fn pppoe_ipv6_is_routed_by_the_link_prefix_and_the_delegated_prefix() {
        let mut arena = Arena::new(64);
        let mut pool = arena.pool();
        let (mut access, mut upstream) = (Memory::new(), Memory::new());
        let mut plane = test_plane(true);
        let ours: Ipv6Addr = OURS6.parse().unwrap();
        let mut reg = Sessions::new("t-");
        let key = AccessKey::Pppoe {
            mac: SUB,
            session_id: 5,
            vlans: [100, 0],
        };
        let h = up_session(&mut reg, &mut plane, key, |s| {
            s.ipv4 = Some(Ipv4Addr::new(100, 64, 0, 10));
            s.prefix64 = Some(("2001:db8:1:1::".parse().unwrap(), 64));
            s.pd = Some(("2001:db8:2:100::".parse().unwrap(), 56));
        });
        // one 802.1Q tag (VLAN 100) after the MACs
        let tagged = |proto: u16, payload: &[u8]| {
            let f = pppoe(5, proto, payload);
            let mut t = f[..12].to_vec();
            t.extend_from_slice(&[0x81, 0x00, 0, 100]);
            t.extend_from_slice(&f[12..]);
            t
        };
        let server: Ipv6Addr = "2001:db8:ff00::2".parse().unwrap();
        let slaac: Ipv6Addr = "2001:db8:1:1:a:b:c:d".parse().unwrap();
        let from_slaac = ip6(slaac, server, 10);
        let from_pd = ip6("2001:db8:2:1ff::1".parse().unwrap(), server, 10);
        let spoofed = ip6("2001:db8:1:2::1".parse().unwrap(), server, 10);
        let peer_ll: Ipv6Addr = "fe80::1234".parse().unwrap();
        let rs = icmp6_packet(
            peer_ll,
            "ff02::2".parse().unwrap(),
            vec![133, 0, 0, 0, 0, 0, 0, 0],
        );
        let mld = ip6(peer_ll, "ff02::16".parse().unwrap(), 10);
        let echo = icmp6_packet(slaac, ours, vec![128, 0, 0, 0, 0, 1, 0, 1, 0xab]);
        for p in [&from_slaac, &from_pd, &spoofed, &rs, &mld, &echo] {
            access.push_rx(&tagged(0x0057, p));
        }
        plane.poll(&mut access, &mut upstream, &mut pool);
        let out = upstream.take_transmitted();
        assert_eq!(out.len(), 2, "{:?}", plane.drops);
        for (f, sent) in out.iter().zip([&from_slaac, &from_pd]) {
            assert_eq!(&f[..6], &GW);
            assert_eq!(&f[6..12], &UP);
            assert_eq!(&f[12..14], &[0x86, 0xdd]);
            assert_eq!(f[14 + 7], 63, "hop limit decremented");
            assert_eq!(&f[14 + 8..], &sent[8..]);
        }
        assert_eq!(plane.drops.get("spoofed-source6"), Some(&1));
        assert_eq!(plane.drops.get("link-scope6"), Some(&1));
        // the Router Solicitation goes to the control plane with the session
        let punts: Vec<_> = plane.punts.drain(..).collect();
        assert_eq!(punts.len(), 1);
        assert_eq!(punts[0].kind, PuntKind::PppIpv6);
        assert_eq!(punts[0].handle, Some(h));
        assert_eq!(punts[0].frame, rs);
        // the echo request to our address is answered in the session (RFC 4443)
        let back = access.take_transmitted();
        assert_eq!(back.len(), 1);
        let r = &back[0];
        assert_eq!(&r[12..16], &[0x81, 0x00, 0, 100]);
        assert_eq!(&r[16..24], &[0x88, 0x64, 0x11, 0x00, 0, 5, 0, 51]);
        assert_eq!(&r[24..26], &[0x00, 0x57]);
        let ip = &r[26..];
        assert_eq!(ip[40], 129);
        assert_eq!(&ip[8..24], &ours.octets());
        assert_eq!(&ip[24..40], &slaac.octets());
        assert_eq!(icmp6_checksum(&ip[8..24], &ip[24..40], &ip[40..]), 0);
        assert_eq!(plane.counters(h).in_packets, 3);
        // downstream into the link prefix and the delegated prefix: PPPoE, 0x0057,
        // tagged again; outside both: no session
        for dst in ["2001:db8:1:1::99", "2001:db8:2:1aa::1", "2001:db8:3::1"] {
            let p = ip6(server, dst.parse().unwrap(), 10);
            upstream.push_rx(&eth(UP, GW, 0x86dd, &p));
        }
        plane.poll(&mut access, &mut upstream, &mut pool);
        let out = access.take_transmitted();
        assert_eq!(out.len(), 2, "{:?}", plane.drops);
        for f in &out {
            assert_eq!(&f[..6], &SUB);
            assert_eq!(&f[6..12], &ACC);
            assert_eq!(&f[12..16], &[0x81, 0x00, 0, 100]);
            assert_eq!(&f[16..22], &[0x88, 0x64, 0x11, 0x00, 0, 5]);
            assert_eq!(u16::from_be_bytes([f[22], f[23]]) as usize, f.len() - 24);
            assert_eq!(&f[24..26], &[0x00, 0x57]);
            assert_eq!(f[26 + 7], 63);
        }
        assert_eq!(plane.drops.get("no-session6"), Some(&1));
        let c = plane.counters(h);
        assert_eq!(
            (c.out_packets, c.out_bytes),
            (2, 2 * 58),
            "IPv6 octets counted"
        );
        // installed again IPv6-only (no IPCP) with its delegated prefix released
        // (DHCPv6 Release): no IPv4 state, the prefix unrouted, the link's /64 still
        {
            let s = reg.get_mut(h).unwrap();
            s.ipv4 = None;
            s.pd = None;
        }
        plane.session_up(reg.get(h).unwrap());
        assert!(plane.by_addr.is_empty());
        for dst in ["2001:db8:1:1::99", "2001:db8:2:1aa::1"] {
            let p = ip6(server, dst.parse().unwrap(), 10);
            upstream.push_rx(&eth(UP, GW, 0x86dd, &p));
        }
        access.push_rx(&tagged(
            0x0021,
            &self::ip([100, 64, 0, 10], [192, 0, 2, 99], 28),
        ));
        plane.poll(&mut access, &mut upstream, &mut pool);
        let out = access.take_transmitted();
        assert_eq!(out.len(), 1, "{:?}", plane.drops);
        assert_eq!(
            &out[0][26 + 24..26 + 40],
            &"2001:db8:1:1::99".parse::<Ipv6Addr>().unwrap().octets()
        );
        assert_eq!(plane.drops.get("no-session6"), Some(&2));
        assert_eq!(plane.drops.get("spoofed-source"), Some(&1));
        assert!(upstream.take_transmitted().is_empty());
        // down: nothing is routed any more
        plane.session_down(reg.get(h).unwrap());
        upstream.push_rx(&eth(
            UP,
            GW,
            0x86dd,
            &ip6(server, "2001:db8:1:1::99".parse().unwrap(), 10),
        ));
        access.push_rx(&tagged(0x0057, &from_slaac));
        plane.poll(&mut access, &mut upstream, &mut pool);
        assert!(access.take_transmitted().is_empty());
        assert!(upstream.take_transmitted().is_empty());
    }

    #[test]
    fn ipv6_behind_a_dhcpv6_relay_is_bound_by_source_and_routed_to_the_relay() {
        const RELAY: Mac = [2, 0xee, 0, 0, 0, 1];
        let mut arena = Arena::new(64);
        let mut pool = arena.pool();
        let (mut access, mut upstream) = (Memory::new(), Memory::new());
        let mut plane = test_plane(true);
        let server: Ipv6Addr = SERVER6.parse().unwrap();
        let relay_ll: Ipv6Addr = "fe80::ee:1".parse().unwrap();
        let mut reg = Sessions::new("t-");
        // two subscribers behind one relay (DHCPv6-only: keyed by the relay's MAC)
        let subs: Vec<(Handle, Ipv6Addr)> = (1..=2u16)
            .map(|i| {
                let key = AccessKey::Ipoe {
                    mac: RELAY,
                    vlans: [0, 0],
                    circuit: Some(vec![b'd', b'0' + i as u8]),
                };
                let a = Ipv6Addr::new(0x2001, 0xdb8, 0x10, 0, 0, 0, 0, 0x1000 + i);
                let h = up_session(&mut reg, &mut plane, key, |s| {
                    s.ipv6 = Some(a);
                    s.pd = (i == 1).then(|| ("2001:db8:100:200::".parse().unwrap(), 56));
                    s.next_hop6 = Some((RELAY, relay_ll));
                });
                (h, a)
            })
            .collect();
        let from_pd = ip6("2001:db8:100:2ff::9".parse().unwrap(), server, 10);
        for (_, a) in &subs {
            access.push_rx(&eth(ACC, RELAY, 0x86dd, &ip6(*a, server, 10)));
        }
        access.push_rx(&eth(ACC, RELAY, 0x86dd, &from_pd));
        // a subscriber's address from another MAC, and the relay's own address
        access.push_rx(&eth(ACC, SUB, 0x86dd, &ip6(subs[0].1, server, 10)));
        access.push_rx(&eth(
            ACC,
            RELAY,
            0x86dd,
            &ip6("2001:db8:aa::2".parse().unwrap(), server, 10),
        ));
        plane.poll(&mut access, &mut upstream, &mut pool);
        let out = upstream.take_transmitted();
        assert_eq!(out.len(), 3, "{:?}", plane.drops);
        assert_eq!(plane.drops.get("routed-wrong-next-hop6"), Some(&1));
        assert_eq!(plane.drops.get("unknown-subscriber6"), Some(&1));
        assert_eq!(plane.counters(subs[0].0).in_packets, 2);
        assert_eq!(plane.counters(subs[1].0).in_packets, 1);
        // downstream: each to the relay's MAC
        for dst in [subs[0].1, subs[1].1, "2001:db8:100:2aa::1".parse().unwrap()] {
            upstream.push_rx(&eth(UP, GW, 0x86dd, &ip6(server, dst, 10)));
        }
        plane.poll(&mut access, &mut upstream, &mut pool);
        let out = access.take_transmitted();
        assert_eq!(out.len(), 3, "{:?}", plane.drops);
        assert!(
            out.iter()
                .all(|f| f[..6] == RELAY && f[12..14] == [0x86, 0xdd])
        );
        assert_eq!(plane.counters(subs[1].0).out_packets, 1);
        // one ends: the other stays routed
        plane.session_down(reg.get(subs[0].0).unwrap());
        access.push_rx(&eth(ACC, RELAY, 0x86dd, &ip6(subs[0].1, server, 10)));
        access.push_rx(&eth(ACC, RELAY, 0x86dd, &ip6(subs[1].1, server, 10)));
        plane.poll(&mut access, &mut upstream, &mut pool);
        assert_eq!(upstream.take_transmitted().len(), 1);
    }

    #[test]
    fn vlan_subscribers_are_filtered_and_tagged_again() {
        let mut arena = Arena::new(64);
        let mut pool = arena.pool();
        let (mut access, mut upstream) = (Memory::new(), Memory::new());
        let mut plane = test_plane(false);
        plane.vlan_filter = Some(VlanFilter {
            untagged: false,
            outer: vec![(100, 199)],
            inner: Vec::new(),
        });
        let mut reg = Sessions::new("t-");
        let key = AccessKey::Pppoe {
            mac: SUB,
            session_id: 9,
            vlans: [150, 0],
        };
        up_session(&mut reg, &mut plane, key, |s| {
            s.ipv4 = Some(Ipv4Addr::new(100, 64, 0, 20));
        });
        let tagged = |vlan: u16, payload: &[u8]| {
            let f = pppoe(9, 0x0021, payload);
            let mut t = f[..12].to_vec();
            t.extend_from_slice(&[0x81, 0x00]);
            t.extend_from_slice(&vlan.to_be_bytes());
            t.extend_from_slice(&f[12..]);
            t
        };
        let data = ip([100, 64, 0, 20], [198, 51, 100, 1], 10);
        access.push_rx(&tagged(150, &data));
        access.push_rx(&tagged(300, &data)); // not configured
        access.push_rx(&pppoe(9, 0x0021, &data)); // untagged refused
        plane.poll(&mut access, &mut upstream, &mut pool);
        assert_eq!(
            upstream.take_transmitted().len(),
            1,
            "{:?} {:?}",
            plane.drops,
            plane.counter_rows()
        );
        assert_eq!(plane.drops.get("vlan-not-configured"), Some(&2));
        let out = downstream4(
            &mut plane,
            (&mut access, &mut upstream),
            &mut pool,
            [100, 64, 0, 20],
        );
        assert_eq!(out.len(), 1);
        assert_eq!(&out[0][..6], &SUB);
        assert_eq!(&out[0][12..16], &[0x81, 0x00, 0, 150]);
        assert_eq!(&out[0][16..22], &[0x88, 0x64, 0x11, 0x00, 0, 9]);
        let f = VlanFilter {
            untagged: true,
            outer: vec![(10, 10)],
            inner: vec![(1, 4094)],
        };
        assert!(f.accepts([0, 0]) && f.accepts([10, 5]));
        assert!(!f.accepts([10, 0]) && !f.accepts([11, 5]));
    }
}
