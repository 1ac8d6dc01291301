//! Fuzz bodies for `bng-dataplane`: arbitrary frames through the whole `Bng` subscriber
//! graph with a populated session table (PPPoE and IPoE, untagged, 802.1Q and QinQ,
//! with and without NAT44), a default route, and a route-based ESP tunnel (tunnel 0
//! to [`PEER`], routing [`TUNNEL_ROUTE`]/16; AES-128-GCM keys [`TUNNEL_KEYS`]).

use core::time::Duration;
use std::cell::RefCell;
use std::net::Ipv4Addr;

use bng_dataplane::bng::{
    Access, Bng, BngConfig, DownQos, NatTables, PortConfig, QosProfile, SessionConfig, SessionId,
    TunnelConfig, TunnelTransform,
};
use bng_dataplane::buffer::{Arena, Pool};
use bng_dataplane::control::Route;
use bng_dataplane::graph::{Frame, new_frame};
use bng_dataplane::nodes::qos::{Action, Meter, Profile};
use bng_nat44::Config as NatConfig;

/// The targets of this module, by name (each has `fuzz_targets/<name>.rs` and
/// `corpus/<name>/`).
pub const TARGETS: &[(&str, crate::Body)] = &[("dataplane_bng", dataplane_bng)];

/// The gateway's MAC on the access port (0).
pub const GW_MAC: [u8; 6] = [2, 0xbb, 0, 0, 0, 1];
/// The gateway's MAC on the upstream port (1).
pub const UP_MAC: [u8; 6] = [2, 0xbb, 0, 0, 0, 2];
/// The NAT44 pool.
pub const POOL: [u8; 4] = [203, 0, 113, 0];

/// The tunnel's peer (outer address).
pub const PEER: [u8; 4] = [192, 0, 2, 77];
/// The prefix (/16) routed into the tunnel.
pub const TUNNEL_ROUTE: [u8; 4] = [10, 9, 0, 0];
/// Key material of the tunnel's outbound and inbound SAs (SPIs 0x1001 and 0x2002).
pub const TUNNEL_KEYS: [[u8; 20]; 2] = [[0x11; 20], [0x22; 20]];

/// Tunnel 0 as every input starts with it (fresh sequence numbers and replay window).
#[must_use]
pub fn tunnel() -> TunnelConfig {
    use bng_esp::ring::Aes128GcmEsp;
    use bng_esp::sa::{Config, Inbound, Mode, Outbound, Tunnel};
    let up = [198, 51, 100, 1];
    let cfg = |spi, src, dst| {
        Config::new(
            bng_esp::wire::Spi(spi),
            Mode::Tunnel(Tunnel::V4 { src, dst }),
        )
    };
    let tr = |k: &[u8; 20]| TunnelTransform::new(Aes128GcmEsp::from_keymat(k).expect("key"));
    TunnelConfig {
        id: 0,
        outbound: Outbound::new(cfg(0x1001, up, PEER), tr(&TUNNEL_KEYS[0]), Duration::ZERO)
            .expect("SA"),
        inbound: Inbound::new(cfg(0x2002, PEER, up), tr(&TUNNEL_KEYS[1]), Duration::ZERO)
            .expect("SA"),
        rng: None,
    }
}

/// The subscriber sessions every input starts with.
#[must_use]
pub fn sessions() -> Vec<SessionConfig> {
    let v = |i: u8| match i % 3 {
        0 => [0, 0],
        1 => [100 + u16::from(i), 0],
        _ => [100, 200 + u16::from(i)],
    };
    (0u8..12)
        .map(|i| SessionConfig {
            id: SessionId(u32::from(i)),
            port: 0,
            mac: [2, 0xaa, 0, 0, 0, i],
            vlans: v(i),
            access: if i % 2 == 0 {
                Access::Pppoe {
                    session_id: u16::from(i) + 1,
                }
            } else {
                Access::Ipoe { circuit_id: None }
            },
            addr: Ipv4Addr::new(100, 64, 0, 10 + i),
            nat: i % 4 < 2,
            qos: qos(i),
        })
        .collect()
}

/// The QoS of session `i`: none, upstream policed and downstream shaped (small rates,
/// so the fuzzer's frames go over them), or a two-rate policer re-marking both ways.
fn qos(i: u8) -> Option<QosProfile> {
    let remark = Profile {
        meter: Meter::TrTcm {
            cir: 8_000,
            cbs: 200,
            pir: 16_000,
            pbs: 400,
        },
        green: Action::Transmit,
        yellow: Action::Remark(10),
        red: Action::Drop,
    };
    match i % 3 {
        0 => None,
        1 => Some(QosProfile::rates(16_000, 16_000, 300)),
        _ => Some(QosProfile {
            up: Some(remark),
            down: Some(DownQos::Police(remark)),
        }),
    }
}

struct State {
    bng: Bng<'static>,
    pool: Pool<'static>,
}

thread_local! {
    static STATE: RefCell<Option<[State; 2]>> = const { RefCell::new(None) };
}

/// Sessions that only fill the table past the 8192 from which `Bng`'s fused passes
/// prefetch a few packets ahead (`Node::ahead`): no traffic is addressed to them, but
/// they share PPPoE session ids with the input's sessions.
const FILLER: u32 = 8200;

fn state(large: bool) -> State {
    // the FIB (DIR-24-8, 64 MiB) and the NAT tables are built once per thread and
    // leaked; each input re-populates the session table
    let arena: &'static mut Arena = Box::leak(Box::new(Arena::new(512)));
    let nat: &'static mut NatTables = Box::leak(Box::new(NatTables::new(
        NatConfig::port_block(POOL.into(), 4),
        1024,
        64,
    )));
    let mut bng = Bng::new(
        BngConfig::two_ports(
            PortConfig {
                mac: GW_MAC,
                addr: [100, 64, 0, 1].into(),
            },
            PortConfig {
                mac: UP_MAC,
                addr: [198, 51, 100, 1].into(),
            },
            if large { 64 + FILLER as usize } else { 64 },
        ),
        Some(nat),
    )
    .expect("config");
    if large {
        for i in 0..FILLER {
            let b = i.to_be_bytes();
            bng.add_session(SessionConfig {
                id: SessionId(100_000 + i),
                port: 0,
                mac: [2, 0xee, b[0], b[1], b[2], b[3]],
                vlans: [(i % 7) as u16, 0],
                access: Access::Pppoe {
                    session_id: (i % 4000) as u16 + 1,
                },
                addr: Ipv4Addr::new(10, 9, b[2], b[3]),
                nat: true,
                qos: None,
            })
            .expect("filler session");
        }
    }
    bng.add_route(Route {
        prefix: Ipv4Addr::UNSPECIFIED,
        len: 0,
        port: 1,
        next_hop_mac: [2, 0xcc, 0, 0, 0, 1],
    })
    .expect("route");
    State {
        bng,
        pool: arena.pool(),
    }
}

fn ipv4_header_ok(ip: &[u8]) -> bool {
    let Some(h) = ip.get(..20) else { return false };
    let mut s = 0u32;
    for c in h.chunks_exact(2) {
        s += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    s == 0xffff
}

/// Input: a sequence of `[port & 1][len: u8][len bytes]` packets, processed in frames
/// of up to 16. Asserts: no panic; every buffer returns to the pool; every IPv4 packet
/// the graph transmits has a verifying header checksum (nodes verify before they
/// update incrementally); access-side output goes to a session's MAC or is an ARP
/// reply; the per-session counters never exceed the packets offered (and the ICMP
/// errors sent to subscribers). Each input runs
/// twice: with tunnel 0 and its route (the graph node by node), then without them (a
/// small table, no trace, no tunnels: the fused passes), then through a table past
/// 8192 sessions without tunnels (the fused passes with their look-ahead). First, the
/// same frames through the steering claims ([`claims`]).
pub fn dataplane_bng(data: &[u8]) {
    claims(data);
    STATE.with(|cell| {
        let mut guard = cell.borrow_mut();
        let [small, large] = guard.get_or_insert_with(|| [state(false), state(true)]);
        for tunnel_on in [true, false] {
            run_input(small, data, tunnel_on);
        }
        run_input(large, data, false);
    });
}

/// Steering at the queue on the same frames: `access_owner` has an answer exactly for
/// frames of an Ethernet header or more, within the workers, and exactly one of the
/// workers' claims takes each frame (access: equal and weighted placements; upstream:
/// by NAT44 pool slice).
fn claims(data: &[u8]) {
    use bng_dataplane::backend::claim::{Claim, access_owner, upstream_owner};
    let mut rest = data;
    while let Some((&[_, len], tail)) = rest.split_first_chunk::<2>() {
        let (pkt, tail) = tail.split_at(usize::from(len).min(tail.len()));
        rest = tail;
        for shares in [&[][..], &[1, 0, 5]] {
            let owner = access_owner(pkt, 3, shares);
            assert_eq!(
                owner.is_some(),
                pkt.len() >= 14,
                "an owner for every Ethernet frame"
            );
            assert!(owner.is_none_or(|w| w < 3), "owner within the workers");
            let takers = (0..3)
                .filter(|&w| Claim::new(w, 3, shares).takes(pkt))
                .count();
            assert_eq!(takers, 1, "one worker takes each frame");
        }
        let first = std::net::Ipv4Addr::new(203, 0, 113, 0);
        let up = upstream_owner(pkt, 3, u32::from(first), 11);
        assert!(
            up.is_none_or(|w| w < 3),
            "upstream owner within the workers"
        );
        let takers = (0..3)
            .filter(|&w| Claim::upstream(w, 3, first, 11).takes(pkt))
            .count();
        assert_eq!(takers, 1, "one worker takes each upstream frame");
    }
}

/// ICMP errors `icmp-error` sent toward subscribers so far.
fn icmp_to_subscribers(bng: &Bng<'_>) -> u64 {
    bng.counter_rows()
        .into_iter()
        .find(|(n, k, _)| *n == "icmp-error" && k == "next.subscriber-output")
        .map_or(0, |(_, _, v)| v)
}

fn run_input(st: &mut State, data: &[u8], tunnel_on: bool) {
    let subs = sessions();
    for s in &subs {
        let _ = st.bng.remove_session(s.id);
    }
    for s in &subs {
        st.bng.add_session(s.clone()).expect("session");
    }
    if tunnel_on {
        st.bng.add_tunnel(tunnel()).expect("tunnel");
        st.bng
            .add_tunnel_route(TUNNEL_ROUTE.into(), 16, 0)
            .expect("tunnel route");
    } else {
        st.bng.remove_route(TUNNEL_ROUTE.into(), 16);
        // (the large table never had it)
        let _ = st.bng.remove_tunnel(0);
    }
    let cap = st.pool.capacity();
    let icmp_before = icmp_to_subscribers(&st.bng);
    let mut rx: Frame<'static> = new_frame();
    let mut tx: [Frame<'static>; 2] = [new_frame(), new_frame()];
    let mut rest = data;
    let mut offered = 0u64;
    let mut now = Duration::from_secs(10);
    while !rest.is_empty() {
        for _ in 0..16 {
            let Some((&[port, len], tail)) = rest.split_first_chunk::<2>() else {
                rest = &[];
                break;
            };
            let (pkt, tail) = tail.split_at(usize::from(len).min(tail.len()));
            rest = tail;
            if let Some(mut p) = st.pool.alloc_from(pkt) {
                p.meta.rx_if = u16::from(port & 1);
                rx.push(p);
                offered += 1;
            }
            if rest.is_empty() {
                break;
            }
        }
        st.bng.process(now, &mut rx, &mut st.pool, &mut tx);
        assert!(rx.is_empty(), "the graph consumes its input frame");
        for (port, f) in tx.iter_mut().enumerate() {
            for p in f.iter() {
                let d = p.data();
                let l3 = usize::from(p.meta.l3_offset);
                let et = d.get(l3.wrapping_sub(2)..l3).map(|e| [e[0], e[1]]);
                let ip = match et {
                    Some([0x08, 0x00]) => d.get(l3..),
                    Some([0x00, 0x21]) => d.get(l3..),
                    _ => None,
                };
                if let Some(ip) = ip {
                    assert!(ipv4_header_ok(ip), "transmitted IPv4 header checksum");
                }
                if port == 0 && et != Some([0x08, 0x06]) {
                    let dst = d.get(..6).expect("Ethernet");
                    assert!(
                        subs.iter().any(|s| s.mac == dst),
                        "access output to a session's MAC"
                    );
                }
            }
            st.pool.free_all(f);
        }
        while st.bng.poll_punt().is_some() {}
        while st.bng.poll_nat_event().is_some() {}
        while st.bng.poll_tunnel_event().is_some() {}
        now += Duration::from_millis(100);
    }
    let up: u64 = subs
        .iter()
        .filter_map(|s| st.bng.session_counters(s.id).ok())
        .map(|c| c.up_packets + c.down_packets)
        .sum();
    // (an ICMP error to a subscriber is counted downstream besides the packet that
    // caused it)
    let errors = icmp_to_subscribers(&st.bng) - icmp_before;
    assert!(
        up <= offered + errors,
        "counted more packets than offered and ICMP errors sent to subscribers"
    );
    // packets still in the shaper's queues go back to the pool once their
    // sessions are removed (at the next frame)
    for s in &subs {
        let _ = st.bng.remove_session(s.id);
    }
    st.bng.poll_shaper(now, &mut st.pool, &mut tx);
    for f in &mut tx {
        st.pool.free_all(f);
    }
    assert_eq!(st.bng.shaper_timeout(), None, "shaper queues flushed");
    assert_eq!(st.pool.available(), cap, "no buffer leaked");
}
