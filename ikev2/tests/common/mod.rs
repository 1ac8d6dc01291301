//! Fixtures shared by the peer-pair simulations (`mod common;` in `pair`,
//! `fragmentation`, `eap` and `cert`): the two ends' addresses, a base
//! configuration, the queries on the actions each end reported, and the pieces
//! of the driver loop every simulation has (polling an SA onto the wire, jumping
//! the virtual clock to the next deadline, establishing a pair without a wire).
//! Each test binary uses a part, hence `dead_code` is allowed.

#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test fixtures; each test binary uses a part"
)]

use core::net::SocketAddr;
use core::time::Duration;

use bng_ikev2::ProtocolError;
use bng_ikev2::exchange::{
    Action, ChildSa, ChildSuite, Config, Identity, IkeSa, IkeSuite, InitOutcome, Responder,
};
use bng_ikev2::payload::{AddrRange, TrafficSelector};
use bng_ikev2::types::IdType;
use rand::rngs::StdRng;

/// The initiator's address.
pub const I_ADDR: &str = "192.0.2.1:500";
/// The responder's address.
pub const R_ADDR: &str = "198.51.100.1:500";

/// `(initiator, responder)` addresses.
pub fn addrs() -> (SocketAddr, SocketAddr) {
    (I_ADDR.parse().unwrap(), R_ADDR.parse().unwrap())
}

/// An IPv4 traffic selector for any protocol and port from `a` to `b`.
pub fn ts(a: [u8; 4], b: [u8; 4]) -> TrafficSelector {
    TrafficSelector {
        ip_protocol: 0,
        start_port: 0,
        end_port: 0xffff,
        range: AddrRange::V4 { start: a, end: b },
    }
}

/// A configuration with identity FQDN `me`, any IPv4 traffic both ways, 500 ms
/// retransmissions, four of them; tests change the rest with `..cfg(...)`.
pub fn cfg<'a>(
    ike: &'a [IkeSuite],
    child: &'a [ChildSuite],
    psk: &'a [u8],
    me: &'a [u8],
) -> Config<'a> {
    Config {
        ike_suites: ike,
        child_suites: child,
        psk,
        local_id: Identity {
            id_type: IdType::FQDN,
            data: me,
        },
        remote_id: None,
        ts_i: TrafficSelector::ANY_V4,
        ts_r: TrafficSelector::ANY_V4,
        retransmit: Duration::from_millis(500),
        max_retransmits: 4,
    }
}

/// The Child SAs an end reported, in order.
pub fn children(ev: &[Action]) -> Vec<&ChildSa> {
    ev.iter()
        .filter_map(|a| match a {
            Action::ChildSa(c) => Some(c),
            _ => None,
        })
        .collect()
}

/// The first Child SA an end reported.
pub fn child(ev: &[Action]) -> Option<&ChildSa> {
    children(ev).first().copied()
}

/// Whether an end reported its IKE SA established.
pub fn established(ev: &[Action]) -> bool {
    ev.iter()
        .any(|a| matches!(a, Action::IkeSaEstablished { .. }))
}

/// The error an end failed with, if it did.
pub fn failed(ev: &[Action]) -> Option<ProtocolError> {
    ev.iter().find_map(|a| match a {
        Action::Failed(e) => Some(*e),
        _ => None,
    })
}

/// The two ends see the same Child SA pair, mirrored.
pub fn assert_mirror(a: &ChildSa, b: &ChildSa) {
    assert_eq!(a.inbound_spi, b.outbound_spi);
    assert_eq!(a.outbound_spi, b.inbound_spi);
    assert_eq!(a.inbound, b.outbound);
    assert_eq!(a.outbound, b.inbound);
    assert_eq!(a.local_ts, b.remote_ts);
    assert_eq!(a.remote_ts, b.local_ts);
    assert_eq!(a.suite, b.suite);
    assert_eq!(a.replaces, b.replaces);
    assert!(!a.inbound.encr.is_empty() && a.inbound.encr != a.outbound.encr);
}

/// Datagrams in flight: (to the responder, bytes).
pub type Wire = Vec<(bool, Vec<u8>)>;

/// Polls `sa` until it has nothing more to do: its datagrams go on `wire` (to the
/// responder when `to_r`), its other actions to `events`. Returns whether it had
/// anything.
pub fn poll_into(
    sa: &mut IkeSa<'_>,
    now: Duration,
    tx: &mut [u8],
    to_r: bool,
    wire: &mut Wire,
    events: &mut Vec<Action>,
) -> bool {
    let mut any = false;
    while let Some(a) = sa.poll_action(now, tx) {
        any = true;
        match a {
            Action::Send { len } => wire.push((to_r, tx[..len].to_vec())),
            a => events.push(a),
        }
    }
    any
}

/// Both ends idle: jumps `now` to the earlier of their deadlines and runs their
/// timers. Returns false when neither has a deadline (the simulation is over).
pub fn advance(ini: &mut IkeSa<'_>, resp: Option<&mut IkeSa<'_>>, now: &mut Duration) -> bool {
    let next = [
        ini.poll_timeout(),
        resp.as_deref().and_then(IkeSa::poll_timeout),
    ]
    .into_iter()
    .flatten()
    .min();
    let Some(t) = next else { return false };
    *now = (*now).max(t);
    ini.handle_timeout(*now);
    if let Some(r) = resp {
        r.handle_timeout(*now);
    }
    true
}

/// The virtual time at which `pump` and `establish` run.
pub const PUMP_NOW: Duration = Duration::from_secs(2000);

/// Delivers queued datagrams between two SAs until both are quiet; returns the
/// non-send actions of each.
pub fn pump(a: &mut IkeSa<'_>, b: &mut IkeSa<'_>, rng: &mut StdRng) -> (Vec<Action>, Vec<Action>) {
    let now = PUMP_NOW;
    let mut tx = [0u8; 4096];
    let (mut ea, mut eb) = (Vec::new(), Vec::new());
    for _ in 0..20 {
        let mut moved = false;
        while let Some(x) = a.poll_action(now, &mut tx) {
            moved = true;
            match x {
                Action::Send { len } => {
                    let _ = b.handle_packet(now, &tx[..len], rng);
                }
                other => ea.push(other),
            }
        }
        while let Some(x) = b.poll_action(now, &mut tx) {
            moved = true;
            match x {
                Action::Send { len } => {
                    let _ = a.handle_packet(now, &tx[..len], rng);
                }
                other => eb.push(other),
            }
        }
        if !moved {
            break;
        }
    }
    (ea, eb)
}

/// Our initiator and our responder with IKE_SA_INIT and IKE_AUTH done at
/// `PUMP_NOW` over a lossless wire (`pump`).
pub fn establish<'c>(
    i: &'c Config<'c>,
    r: &'c Config<'c>,
    rng: &mut StdRng,
) -> (IkeSa<'c>, IkeSa<'c>) {
    let now = PUMP_NOW;
    let (ia, ra) = addrs();
    let mut ini = IkeSa::initiate(i, now, ia, ra, rng).unwrap();
    let front = Responder::new(r, rng).unwrap();
    let mut tx = [0u8; 4096];
    let Some(Action::Send { len }) = ini.poll_action(now, &mut tx) else {
        panic!("no IKE_SA_INIT request")
    };
    let InitOutcome::NewSa(mut resp) = front
        .handle_init(now, 0, ra, ia, &tx[..len], rng, &mut [0u8; 4096])
        .unwrap()
    else {
        panic!("no responder SA")
    };
    let _ = pump(&mut resp, &mut ini, rng);
    assert!(ini.is_established() && resp.is_established());
    (ini, resp)
}
