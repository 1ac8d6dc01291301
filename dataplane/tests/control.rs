#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::cast_possible_truncation,
    clippy::std_instead_of_core,
    clippy::too_many_lines,
    missing_docs,
    reason = "tests"
)]
//! Control-API changes under traffic lose no packets of unaffected sessions: N
//! sessions stream through the graph while other sessions are added, modified and
//! removed through the `Control` queue every frame, drained at frame boundaries.

use core::time::Duration;
use std::net::Ipv4Addr;
use std::sync::mpsc;

use bng_dataplane::backend::Backend;
use bng_dataplane::backend::memory::Memory;
use bng_dataplane::bng::{Access, Bng, BngConfig, NatTables, PortConfig, SessionConfig, SessionId};
use bng_dataplane::buffer::Arena;
use bng_dataplane::control::{Command, Control, ControlError, Route, drain};
use bng_dataplane::graph::new_frame;
use bng_nat44::Config as NatConfig;

const GW_MAC: [u8; 6] = [2, 0xbb, 0, 0, 0, 1];
const UP_MAC: [u8; 6] = [2, 0xbb, 0, 0, 0, 2];
const ROUTER_MAC: [u8; 6] = [2, 0xcc, 0, 0, 0, 1];
const HOST: [u8; 4] = [198, 51, 100, 10];

fn csum(b: &[u8]) -> u16 {
    let mut s = 0u32;
    for c in b.chunks(2) {
        s += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

/// PPPoE session frame with IPv4/UDP (UDP checksum 0: none) carrying `tag`.
fn frame(i: u32, tag: u32) -> Vec<u8> {
    let src = addr(i);
    let mut ip = vec![0x45, 0, 0, 32, 0, 1, 0, 0, 64, 17, 0, 0];
    ip.extend_from_slice(&src);
    ip.extend_from_slice(&HOST);
    let c = csum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    ip.extend_from_slice(&[0x13, 0x88, 0, 53, 0, 12, 0, 0]);
    ip.extend_from_slice(&tag.to_be_bytes());
    let mut f = GW_MAC.to_vec();
    f.extend_from_slice(&mac(i));
    f.extend_from_slice(&[0x81, 0x00]);
    f.extend_from_slice(&((i % 4000) as u16 + 1).to_be_bytes());
    f.extend_from_slice(&[0x88, 0x64, 0x11, 0x00]);
    f.extend_from_slice(&sid(i).to_be_bytes());
    f.extend_from_slice(&((ip.len() + 2) as u16).to_be_bytes());
    f.extend_from_slice(&[0x00, 0x21]);
    f.extend_from_slice(&ip);
    f
}

fn mac(i: u32) -> [u8; 6] {
    [
        2,
        0xaa,
        (i >> 24) as u8,
        (i >> 16) as u8,
        (i >> 8) as u8,
        i as u8,
    ]
}
fn sid(i: u32) -> u16 {
    (i % 65_000) as u16 + 1
}
fn addr(i: u32) -> [u8; 4] {
    let a = u32::from_be_bytes([100, 64, 0, 0]) + i + 2;
    a.to_be_bytes()
}

fn session(i: u32, nat: bool) -> SessionConfig {
    SessionConfig {
        id: SessionId(i),
        port: 0,
        mac: mac(i),
        vlans: [(i % 4000) as u16 + 1, 0],
        access: Access::Pppoe { session_id: sid(i) },
        addr: addr(i).into(),
        nat,
        qos: None,
    }
}

fn cfg() -> BngConfig {
    BngConfig::two_ports(
        PortConfig {
            mac: GW_MAC,
            addr: [100, 64, 0, 1].into(),
        },
        PortConfig {
            mac: UP_MAC,
            addr: [198, 51, 100, 1].into(),
        },
        100_000,
    )
}

#[test]
fn churn_every_frame_loses_no_packet_of_streaming_sessions() {
    const STREAMS: u32 = 200;
    const FRAMES: u32 = 300;
    let mut nt = NatTables::new(
        NatConfig::port_block([203, 0, 113, 0].into(), 4),
        1 << 16,
        1 << 12,
    );
    let mut bng = Bng::new(cfg(), Some(&mut nt)).unwrap();
    let mut arena = Arena::new(2048);
    let mut pool = arena.pool();
    let (ctl, mut rxs) = Control::new(1, 4096);
    let q = rxs.pop().unwrap();
    let (tx, rx) = mpsc::channel();
    ctl.send(
        0,
        Command::AddRoute(
            Route {
                prefix: Ipv4Addr::UNSPECIFIED,
                len: 0,
                port: 1,
                next_hop_mac: ROUTER_MAC,
            },
            Some(tx),
        ),
    )
    .unwrap();
    for i in 0..STREAMS {
        ctl.add_session(session(i, i % 2 == 0)).unwrap();
    }
    while drain(&q, &mut bng, 64) != Some(0) {}
    rx.recv().unwrap().unwrap();
    assert_eq!(bng.session_count(), STREAMS as usize);

    let mut access = Memory::new();
    let mut upstream = Memory::new();
    let mut frame_buf = new_frame();
    let mut txf = [new_frame(), new_frame()];
    let mut churned = 0u32;
    for f in 0..FRAMES {
        // control: add 4 new sessions, modify 2 (address, NAT), remove 4 older ones
        for k in 0..4 {
            let i = 1_000_000 + f * 4 + k;
            ctl.add_session(session(i, k % 2 == 0)).unwrap();
            churned += 1;
        }
        if f >= 2 {
            for k in 0..2 {
                let i = 1_000_000 + (f - 2) * 4 + k;
                let mut s = session(i, k == 0);
                s.addr = addr(2_000_000 + i).into();
                ctl.add_session(s).unwrap();
            }
            for k in 0..4 {
                let i = 1_000_000 + (f - 2) * 4 + k;
                ctl.remove_session(0, SessionId(i)).unwrap();
            }
        }
        // frame boundary: the worker drains its queue
        drain(&q, &mut bng, usize::MAX).unwrap();
        // traffic: every streaming session, plus packets of churned sessions
        for i in 0..STREAMS {
            access.push_rx(&frame(i, f));
        }
        access.push_rx(&frame(1_000_000 + f * 4, f));
        access.rx_burst(&mut pool, &mut frame_buf);
        access.rx_burst(&mut pool, &mut frame_buf);
        while !frame_buf.is_empty() || access.rx_pending() > 0 {
            bng.process(Duration::from_secs(1), &mut frame_buf, &mut pool, &mut txf);
            access.rx_burst(&mut pool, &mut frame_buf);
        }
        upstream.tx_burst(&mut pool, &mut txf[1]);
        access.tx_burst(&mut pool, &mut txf[0]);
    }
    assert_eq!(churned, FRAMES * 4);
    // every streaming packet left upstream exactly once
    let streamed: u64 = (0..STREAMS)
        .map(|i| bng.session_counters(SessionId(i)).unwrap().up_packets)
        .sum();
    assert_eq!(
        streamed,
        u64::from(STREAMS * FRAMES),
        "{:?}",
        bng.counter_rows()
    );
    let by_tag = upstream
        .transmitted()
        .iter()
        .filter(|o| o.len() == 14 + 32)
        .fold(vec![0u32; FRAMES as usize], |mut v, o| {
            let tag = u32::from_be_bytes(o[14 + 28..14 + 32].try_into().unwrap());
            v[tag as usize] += 1;
            v
        });
    for (f, n) in by_tag.iter().enumerate() {
        // STREAMS streamed packets per frame, plus the churned session's one packet
        // (added this very frame, before the traffic: it must arrive too)
        assert_eq!(*n, STREAMS + 1, "frame {f}");
    }
    // the per-session counters, as the control plane reads them through the queue
    let (tx, rx) = mpsc::channel();
    ctl.send(0, Command::AllCounters(tx)).unwrap();
    drain(&q, &mut bng, 1).unwrap();
    let all = rx.recv().unwrap();
    assert!(all.len() >= STREAMS as usize);
    assert!(
        all.iter()
            .filter(|(id, _)| id.0 < STREAMS)
            .all(|(_, c)| c.up_packets == u64::from(FRAMES))
    );
    assert_eq!(pool.available(), pool.capacity(), "no buffer leaked");
    assert_eq!(
        bng.remove_session(SessionId(1_000_000)),
        Err(ControlError::UnknownSession)
    );
}
