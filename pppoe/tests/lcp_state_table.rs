//! Every cell of the RFC 1661 section 4.1 state transition table, tested three
//! ways: the pure table ([`transition`]), the automaton with counters and timer
//! ([`Fsm`]), and LCP as a control protocol ([`Cp<Lcp>`]) driven by real packets,
//! whose transmitted packets must match the actions of the cell.
//!
//! The table below is transcribed from the RFC text independently of the
//! implementation (footnote letters r, p, x dropped: they mark optional behaviour).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests"
)]

use core::time::Duration;

use bng_pppoe::ppp::Prng;
use bng_pppoe::ppp::cp::{Cp, Reply};
use bng_pppoe::ppp::fsm::{Actions, Event, Fsm, State, Timers, transition};
use bng_pppoe::ppp::lcp::{Lcp, LcpConfig};
use bng_pppoe::ppp::packet::{Code, ControlRepr};

/// Rows: events in RFC order; columns: states 0-9.
const TABLE: [[&str; 10]; 16] = [
    // Up
    ["2", "irc,scr/6", "-", "-", "-", "-", "-", "-", "-", "-"],
    // Down
    ["-", "-", "0", "tls/1", "0", "1", "1", "1", "1", "tld/1"],
    // Open
    [
        "tls/1",
        "1",
        "irc,scr/6",
        "3r",
        "5r",
        "5r",
        "6",
        "7",
        "8",
        "9r",
    ],
    // Close
    [
        "0",
        "tlf/0",
        "2",
        "2",
        "4",
        "4",
        "irc,str/4",
        "irc,str/4",
        "irc,str/4",
        "tld,irc,str/4",
    ],
    // TO+
    [
        "-", "-", "-", "-", "str/4", "str/5", "scr/6", "scr/6", "scr/8", "-",
    ],
    // TO-
    [
        "-", "-", "-", "-", "tlf/2", "tlf/3", "tlf/3p", "tlf/3p", "tlf/3p", "-",
    ],
    // RCR+
    [
        "-",
        "-",
        "sta/2",
        "irc,scr,sca/8",
        "4",
        "5",
        "sca/8",
        "sca,tlu/9",
        "sca/8",
        "tld,scr,sca/8",
    ],
    // RCR-
    [
        "-",
        "-",
        "sta/2",
        "irc,scr,scn/6",
        "4",
        "5",
        "scn/6",
        "scn/7",
        "scn/6",
        "tld,scr,scn/6",
    ],
    // RCA
    [
        "-",
        "-",
        "sta/2",
        "sta/3",
        "4",
        "5",
        "irc/7",
        "scr/6x",
        "irc,tlu/9",
        "tld,scr/6x",
    ],
    // RCN
    [
        "-",
        "-",
        "sta/2",
        "sta/3",
        "4",
        "5",
        "irc,scr/6",
        "scr/6x",
        "irc,scr/8",
        "tld,scr/6x",
    ],
    // RTR
    [
        "-",
        "-",
        "sta/2",
        "sta/3",
        "sta/4",
        "sta/5",
        "sta/6",
        "sta/6",
        "sta/6",
        "tld,zrc,sta/5",
    ],
    // RTA
    [
        "-",
        "-",
        "2",
        "3",
        "tlf/2",
        "tlf/3",
        "6",
        "6",
        "8",
        "tld,scr/6",
    ],
    // RUC
    [
        "-", "-", "scj/2", "scj/3", "scj/4", "scj/5", "scj/6", "scj/7", "scj/8", "scj/9",
    ],
    // RXJ+
    ["-", "-", "2", "3", "4", "5", "6", "6", "8", "9"],
    // RXJ-
    [
        "-",
        "-",
        "tlf/2",
        "tlf/3",
        "tlf/2",
        "tlf/3",
        "tlf/3",
        "tlf/3",
        "tlf/3",
        "tld,irc,str/5",
    ],
    // RXR
    ["-", "-", "2", "3", "4", "5", "6", "7", "8", "ser/9"],
];

fn action(name: &str) -> Actions {
    match name {
        "tlu" => Actions::TLU,
        "tld" => Actions::TLD,
        "tls" => Actions::TLS,
        "tlf" => Actions::TLF,
        "irc" => Actions::IRC,
        "zrc" => Actions::ZRC,
        "scr" => Actions::SCR,
        "sca" => Actions::SCA,
        "scn" => Actions::SCN,
        "str" => Actions::STR,
        "sta" => Actions::STA,
        "scj" => Actions::SCJ,
        "ser" => Actions::SER,
        other => panic!("unknown action {other}"),
    }
}

/// Parses a cell: `None` for '-', else (next state, actions).
fn cell(s: &str) -> Option<(State, Actions)> {
    if s == "-" {
        return None;
    }
    let (acts, st) = s.rsplit_once('/').map_or(("", s), |(a, b)| (a, b));
    let st: String = st.chars().filter(char::is_ascii_digit).collect();
    let st = State::ALL[st.parse::<usize>().unwrap()];
    let mut a = Actions::NONE;
    for n in acts.split(',').filter(|n| !n.is_empty()) {
        a |= action(n);
    }
    Some((st, a))
}

#[test]
fn every_cell_of_the_pure_table() {
    let mut cells = 0;
    for (ei, ev) in Event::ALL.iter().enumerate() {
        for (si, st) in State::ALL.iter().enumerate() {
            let want = cell(TABLE[ei][si]);
            assert_eq!(transition(*st, *ev), want, "{st:?} x {ev:?}");
            cells += 1;
        }
    }
    assert_eq!(cells, 160);
}

#[test]
fn every_cell_of_the_automaton_with_counters_and_timer() {
    let t = Timers::default();
    let now = Duration::from_secs(100);
    for (ei, ev) in Event::ALL.iter().enumerate() {
        for (si, st) in State::ALL.iter().enumerate() {
            let mut f = Fsm::in_state(*st);
            f.set_restart_count(4);
            let got = f.event(now, *ev, &t);
            match cell(TABLE[ei][si]) {
                None => {
                    assert_eq!(got, None, "{st:?} x {ev:?}");
                    assert_eq!(f.state(), *st, "illegal event changed state");
                    assert_eq!(f.restart_count(), 4);
                }
                Some((next, acts)) => {
                    assert_eq!(got, Some(acts), "{st:?} x {ev:?}");
                    assert_eq!(f.state(), next, "{st:?} x {ev:?}");
                    // Section 4.6: irc loads Max-Configure (or Max-Terminate with
                    // str); every scr/str spends one; zrc zeroes.
                    let mut want = 4u8;
                    if acts.contains(Actions::IRC) {
                        want = if acts.contains(Actions::STR) {
                            t.max_terminate
                        } else {
                            t.max_configure
                        };
                    }
                    if acts.contains(Actions::ZRC) {
                        want = 0;
                    }
                    if acts.contains(Actions::SCR) || acts.contains(Actions::STR) {
                        want -= 1;
                    }
                    assert_eq!(f.restart_count(), want, "{st:?} x {ev:?} counter");
                    // Section 4.2: the timer runs exactly in states 4-8.
                    assert_eq!(
                        f.deadline().is_some(),
                        matches!(next as u8, 4..=8),
                        "{st:?} x {ev:?} timer"
                    );
                    if acts.contains(Actions::SCR) || acts.contains(Actions::STR) {
                        assert_eq!(f.deadline(), Some(now + t.restart));
                    }
                }
            }
        }
    }
}

fn lcp_in(state: State) -> (Cp<Lcp>, Prng) {
    let mut rng = Prng::new(7);
    let lcp = Lcp::new(LcpConfig::default(), &mut rng);
    let mut cp = Cp::new(lcp, 1);
    cp.fsm = Fsm::in_state(state);
    cp.fsm.set_restart_count(4);
    (cp, rng)
}

/// Codes of every packet the LCP instance queued, reply slot first.
fn sent(cp: &mut Cp<Lcp>, reply: &mut Reply) -> Vec<Code> {
    let mut out = Vec::new();
    let mut buf = [0u8; 1500];
    if let Some(n) = reply.take(&mut buf).unwrap() {
        out.push(ControlRepr::parse_bytes(&buf[2..n]).unwrap().code);
    }
    while let Some(n) = cp.poll(&mut buf).unwrap() {
        assert_eq!(&buf[..2], &[0xc0, 0x21]);
        out.push(ControlRepr::parse_bytes(&buf[2..n]).unwrap().code);
    }
    out.sort();
    out
}

/// Drives `ev` into LCP the way the wire would (packets for receive events).
fn drive(cp: &mut Cp<Lcp>, rng: &mut Prng, reply: &mut Reply, ev: Event) -> Option<Actions> {
    let t = Timers::default();
    let now = Duration::from_secs(100);
    let mut buf = [0u8; 64];
    let recv = |cp: &mut Cp<Lcp>, rng: &mut Prng, reply: &mut Reply, pkt: ControlRepr<'_>| {
        cp.receive(now, &pkt, &t, reply, rng)
    };
    match ev {
        Event::RcrPlus => recv(
            cp,
            rng,
            reply,
            ControlRepr {
                code: Code::CONFIGURE_REQUEST,
                identifier: 42,
                data: &[1, 4, 0x05, 0xd4, 5, 6, 0xde, 0xad, 0xbe, 0xef],
            },
        ),
        // PFC must be rejected over PPPoE (RFC 2516 section 7).
        Event::RcrMinus => recv(
            cp,
            rng,
            reply,
            ControlRepr {
                code: Code::CONFIGURE_REQUEST,
                identifier: 42,
                data: &[7, 2],
            },
        ),
        Event::Rca | Event::Rcn => {
            use bng_pppoe::ppp::cp::Handler;
            let mut w = bng_pppoe::ppp::packet::Writer::new(&mut buf);
            cp.handler.request(&mut w);
            let n = w.finish().unwrap();
            let code = if ev == Event::Rca {
                Code::CONFIGURE_ACK
            } else {
                Code::CONFIGURE_NAK
            };
            let pkt = ControlRepr {
                code,
                identifier: cp.request_id(),
                data: &buf[..n],
            };
            cp.receive(now, &pkt, &t, reply, rng)
        }
        Event::Rtr => recv(
            cp,
            rng,
            reply,
            ControlRepr {
                code: Code::TERMINATE_REQUEST,
                identifier: 9,
                data: &[],
            },
        ),
        Event::Rta => recv(
            cp,
            rng,
            reply,
            ControlRepr {
                code: Code::TERMINATE_ACK,
                identifier: 9,
                data: &[],
            },
        ),
        Event::Ruc => recv(
            cp,
            rng,
            reply,
            ControlRepr {
                code: Code(0x63),
                identifier: 9,
                data: &[1, 2, 3],
            },
        ),
        // Code-Reject of Echo-Request: permitted. Of Configure-Request: fatal.
        Event::RxjPlus => recv(
            cp,
            rng,
            reply,
            ControlRepr {
                code: Code::CODE_REJECT,
                identifier: 9,
                data: &[9, 1, 0, 8, 0, 0, 0, 0],
            },
        ),
        Event::RxjMinus => recv(
            cp,
            rng,
            reply,
            ControlRepr {
                code: Code::CODE_REJECT,
                identifier: 9,
                data: &[1, 1, 0, 4],
            },
        ),
        _ => cp.event(now, ev, &t, reply, false),
    }
}

#[test]
fn every_cell_through_lcp_packets() {
    for (ei, ev) in Event::ALL.iter().enumerate() {
        for (si, st) in State::ALL.iter().enumerate() {
            let (mut cp, mut rng) = lcp_in(*st);
            let mut reply = Reply::default();
            let got = drive(&mut cp, &mut rng, &mut reply, *ev);
            let want = cell(TABLE[ei][si]);
            match want {
                None => {
                    assert_eq!(got, None, "{st:?} x {ev:?}");
                    assert_eq!(cp.state(), *st);
                    assert!(sent(&mut cp, &mut reply).is_empty(), "{st:?} x {ev:?}");
                }
                Some((next, acts)) => {
                    assert_eq!(got, Some(acts), "{st:?} x {ev:?}");
                    assert_eq!(cp.state(), next, "{st:?} x {ev:?}");
                    let mut codes = Vec::new();
                    if acts.contains(Actions::SCR) {
                        codes.push(Code::CONFIGURE_REQUEST);
                    }
                    if acts.contains(Actions::SCA) {
                        codes.push(Code::CONFIGURE_ACK);
                    }
                    if acts.contains(Actions::SCN) {
                        // The PFC request is answered with a Configure-Reject.
                        codes.push(Code::CONFIGURE_REJECT);
                    }
                    if acts.contains(Actions::STR) {
                        codes.push(Code::TERMINATE_REQUEST);
                    }
                    if acts.contains(Actions::STA) {
                        codes.push(Code::TERMINATE_ACK);
                    }
                    if acts.contains(Actions::SCJ) {
                        codes.push(Code::CODE_REJECT);
                    }
                    // ser is built by the Session (it needs the Echo data); the
                    // session tests cover it.
                    codes.sort();
                    assert_eq!(sent(&mut cp, &mut reply), codes, "{st:?} x {ev:?}");
                }
            }
        }
    }
}

#[test]
fn sca_copies_the_request_and_scn_rejects_pfc_acfc() {
    let (mut cp, mut rng) = lcp_in(State::ReqSent);
    let mut reply = Reply::default();
    let t = Timers::default();
    let req = ControlRepr {
        code: Code::CONFIGURE_REQUEST,
        identifier: 3,
        data: &[1, 4, 0x05, 0xd4, 7, 2, 8, 2, 5, 6, 1, 2, 3, 4],
    };
    cp.receive(Duration::ZERO, &req, &t, &mut reply, &mut rng);
    let mut buf = [0u8; 64];
    let n = reply.take(&mut buf).unwrap().unwrap();
    let r = ControlRepr::parse_bytes(&buf[2..n]).unwrap();
    assert_eq!(r.code, Code::CONFIGURE_REJECT);
    assert_eq!(r.identifier, 3);
    assert_eq!(r.data, &[7, 2, 8, 2]);
    // The same request without PFC/ACFC is acknowledged byte for byte.
    let req = ControlRepr {
        data: &[1, 4, 0x05, 0xd4, 5, 6, 1, 2, 3, 4],
        identifier: 4,
        ..req
    };
    cp.receive(Duration::ZERO, &req, &t, &mut reply, &mut rng);
    let n = reply.take(&mut buf).unwrap().unwrap();
    let r = ControlRepr::parse_bytes(&buf[2..n]).unwrap();
    assert_eq!(r.code, Code::CONFIGURE_ACK);
    assert_eq!(r.data, req.data);
    assert_eq!(cp.state(), State::AckSent);
}

#[test]
fn mru_above_the_pppoe_limit_is_naked_and_max_failure_turns_nak_into_reject() {
    let (mut cp, mut rng) = lcp_in(State::ReqSent);
    let t = Timers::default();
    let mut reply = Reply::default();
    // irc gives Max-Failure Naks.
    cp.event(Duration::ZERO, Event::Rcn, &t, &mut reply, false);
    let mut buf = [0u8; 64];
    while cp.poll(&mut buf).unwrap().is_some() {}
    let req = ControlRepr {
        code: Code::CONFIGURE_REQUEST,
        identifier: 1,
        data: &[1, 4, 0x05, 0xdc], // MRU 1500 > 1492
    };
    let mut codes = Vec::new();
    for _ in 0..=t.max_failure {
        cp.receive(Duration::ZERO, &req, &t, &mut reply, &mut rng);
        let n = reply.take(&mut buf).unwrap().unwrap();
        let r = ControlRepr::parse_bytes(&buf[2..n]).unwrap();
        if r.code == Code::CONFIGURE_NAK {
            assert_eq!(r.data, &[1, 4, 0x05, 0xd4]);
        } else {
            assert_eq!(r.data, req.data);
        }
        codes.push(r.code);
    }
    assert_eq!(
        codes.iter().filter(|c| **c == Code::CONFIGURE_NAK).count(),
        5
    );
    assert_eq!(codes.last(), Some(&Code::CONFIGURE_REJECT));
}

#[test]
fn ack_with_other_options_or_id_is_discarded() {
    let (mut cp, mut rng) = lcp_in(State::ReqSent);
    let t = Timers::default();
    let mut reply = Reply::default();
    let id = cp.request_id();
    let bad = ControlRepr {
        code: Code::CONFIGURE_ACK,
        identifier: id,
        data: &[1, 4, 0x05, 0xdc],
    };
    assert_eq!(
        cp.receive(Duration::ZERO, &bad, &t, &mut reply, &mut rng),
        None
    );
    let bad = ControlRepr {
        identifier: id.wrapping_add(1),
        data: &[],
        ..bad
    };
    assert_eq!(
        cp.receive(Duration::ZERO, &bad, &t, &mut reply, &mut rng),
        None
    );
    assert_eq!(cp.state(), State::ReqSent);
}
