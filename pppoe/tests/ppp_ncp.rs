//! Handler-level and single-session checks: IPCP address assignment by Nak
//! (RFC 1332 section 3.3, RFC 1877), IPv6CP identifier collisions (RFC 5072
//! section 4.1), LCP Magic-Number zero and Authentication-Protocol handling,
//! Max-Configure exhaustion and authentication timeouts.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests"
)]

use core::time::Duration;

use bng_pppoe::ppp::Prng;
use bng_pppoe::ppp::cp::{Handler, Verdict};
use bng_pppoe::ppp::fsm::State;
use bng_pppoe::ppp::ipcp::{Ipcp, IpcpRole};
use bng_pppoe::ppp::ipv6cp::Ipv6cp;
use bng_pppoe::ppp::lcp::{AuthProto, Lcp, LcpConfig};
use bng_pppoe::ppp::packet::{Code, ControlRepr, Opt, Writer};
use bng_pppoe::ppp::session::{Config, Credentials, DownCause, Event, Phase, Session};

mod common;
use common::rng;

fn check<H: Handler>(h: &mut H, kind: u8, data: &[u8]) -> (Verdict, Vec<u8>) {
    let mut rng = Prng::new(5);
    let mut buf = [0u8; 64];
    let mut w = Writer::new(&mut buf);
    let v = h.check(Opt { kind, data }, &mut w, &mut rng);
    let n = w.finish().unwrap();
    (v, buf[..n].to_vec())
}

#[test]
fn ipcp_ac_naks_zero_address_with_the_caller_supplied_one() {
    let mut h = Ipcp::new(
        IpcpRole::Server,
        [10, 0, 0, 1],
        [[8, 8, 8, 8], [0; 4]],
        false,
    );
    assert!(!h.ready(), "no address yet: requests wait");
    h.peer = [10, 0, 0, 2];
    assert!(h.ready());
    assert_eq!(
        check(&mut h, 3, &[0, 0, 0, 0]),
        (Verdict::Nak, vec![3, 6, 10, 0, 0, 2])
    );
    assert_eq!(check(&mut h, 3, &[10, 0, 0, 2]).0, Verdict::Ack);
    assert_eq!(
        check(&mut h, 129, &[0, 0, 0, 0]),
        (Verdict::Nak, vec![129, 6, 8, 8, 8, 8])
    );
    // No secondary DNS configured: rejected. Compression and NBNS: rejected.
    assert_eq!(check(&mut h, 131, &[0, 0, 0, 0]).0, Verdict::Reject);
    assert_eq!(check(&mut h, 2, &[0, 0x2d, 15, 1]).0, Verdict::Reject);
    assert_eq!(check(&mut h, 130, &[0; 4]).0, Verdict::Reject);
    assert_eq!(check(&mut h, 3, &[0; 3]).0, Verdict::Reject);
}

#[test]
fn ipcp_host_adopts_nak_and_stops_asking_for_rejected_dns() {
    let mut h = Ipcp::new(IpcpRole::Client, [0; 4], [[0; 4]; 2], true);
    let mut rng = Prng::new(1);
    let nak = [3, 6, 100, 64, 1, 2, 129, 6, 9, 9, 9, 9];
    h.nak_received(bng_pppoe::ppp::packet::Options::new(&nak), &mut rng);
    assert_eq!(h.local, [100, 64, 1, 2]);
    assert_eq!(h.dns[0], [9, 9, 9, 9]);
    h.reject_received(bng_pppoe::ppp::packet::Options::new(&[131, 6, 0, 0, 0, 0]));
    let mut buf = [0u8; 64];
    let mut w = Writer::new(&mut buf);
    h.request(&mut w);
    let n = w.finish().unwrap();
    assert_eq!(&buf[..n], &[3, 6, 100, 64, 1, 2, 129, 6, 9, 9, 9, 9]);
}

#[test]
fn ipv6cp_naks_zero_and_duplicate_identifiers() {
    let mut rng = Prng::new(3);
    let mut h = Ipv6cp::new([0; 8], &mut rng);
    assert_ne!(h.local, [0; 8]);
    let own = h.local;
    let (v, nak) = check(&mut h, 1, &own);
    assert_eq!(v, Verdict::Nak);
    assert_eq!(nak[..2], [1, 10]);
    assert_ne!(nak[2..], own);
    let (v, nak) = check(&mut h, 1, &[0; 8]);
    assert_eq!(v, Verdict::Nak);
    assert_ne!(nak[2..], [0; 8]);
    assert_eq!(check(&mut h, 1, &[1, 2, 3, 4, 5, 6, 7, 8]).0, Verdict::Ack);
    assert_eq!(h.peer, [1, 2, 3, 4, 5, 6, 7, 8]);
    assert_eq!(check(&mut h, 2, &[0, 0x4f]).0, Verdict::Reject);
}

#[test]
fn lcp_magic_zero_is_naked_and_auth_is_judged_by_role() {
    let mut rng = Prng::new(8);
    let mut ac = Lcp::new(
        LcpConfig {
            require_auth: AuthProto::Pap,
            ..LcpConfig::default()
        },
        &mut rng,
    );
    let (v, nak) = check(&mut ac, 5, &[0; 4]);
    assert_eq!(v, Verdict::Nak);
    assert_ne!(nak[2..], [0; 4]);
    // The AC does not authenticate itself to the host.
    assert_eq!(check(&mut ac, 3, &[0xc0, 0x23]).0, Verdict::Reject);
    // A host that can do CHAP only Naks PAP with CHAP-MD5.
    let mut host = Lcp::new(
        LcpConfig {
            can_chap: true,
            ..LcpConfig::default()
        },
        &mut rng,
    );
    assert_eq!(
        check(&mut host, 3, &[0xc0, 0x23]),
        (Verdict::Nak, vec![3, 5, 0xc2, 0x23, 5])
    );
    // MS-CHAPv1 (algorithm 0x80) is not offered: Nak with CHAP-MD5.
    assert_eq!(
        check(&mut host, 3, &[0xc2, 0x23, 0x80]),
        (Verdict::Nak, vec![3, 5, 0xc2, 0x23, 5])
    );
    // MS-CHAPv2 (algorithm 0x81) is answered.
    assert_eq!(check(&mut host, 3, &[0xc2, 0x23, 0x81]).0, Verdict::Ack);
    assert_eq!(host.peer_auth, AuthProto::MsChapV2);
    assert_eq!(check(&mut host, 3, &[0xc2, 0x23, 5]).0, Verdict::Ack);
    assert_eq!(host.peer_auth, AuthProto::ChapMd5);
    // PFC, ACFC, ACCM: rejected over PPPoE.
    for kind in [7, 8] {
        assert_eq!(check(&mut host, kind, &[]).0, Verdict::Reject);
    }
    assert_eq!(check(&mut host, 2, &[0; 4]).0, Verdict::Reject);
}

/// Runs a lone session (its peer is silent) until it finishes; returns the
/// Down cause, the LCP Configure-Requests it sent and the time it took.
fn silent_peer(s: &mut Session<'_>) -> (Option<DownCause>, usize, Duration) {
    let mut now = Duration::ZERO;
    s.start(now);
    let mut buf = [0u8; 1500];
    let mut crs = 0;
    for _ in 0..1000 {
        while let Some(a) = s.poll_action(now, &mut buf) {
            let r = ControlRepr::parse_bytes(&buf[8..a.len()]).unwrap();
            if buf[6..8] == [0xc0, 0x21] && r.code == Code::CONFIGURE_REQUEST {
                crs += 1;
            }
        }
        if let Some(Event::Down { cause }) = s.poll_event() {
            return (Some(cause), crs, now);
        }
        let Some(t) = s.poll_timeout() else { break };
        now = t;
        s.handle_timeout(now);
    }
    (None, crs, now)
}

#[test]
fn silent_peer_exhausts_max_configure() {
    let cfg = Config::server(AuthProto::Pap, b"ac", [10, 0, 0, 1]);
    let mut s = Session::new(&cfg, 1, &mut rng(1));
    let (cause, crs, took) = silent_peer(&mut s);
    assert_eq!(cause, Some(DownCause::NegotiationFailed));
    assert_eq!(crs, 10, "Max-Configure Configure-Requests");
    assert_eq!(took, Duration::from_secs(30));
    assert_eq!(s.lcp().state(), State::Stopped);
    assert!(s.is_finished());
}

/// Brings LCP up between two sessions without answering authentication.
#[test]
fn ac_times_out_a_host_that_never_authenticates() {
    let ac_cfg = Config::server(AuthProto::Pap, b"ac", [10, 0, 0, 1]);
    // A host without credentials refuses the Authentication-Protocol.
    let mut host_cfg = Config::client(Credentials {
        user: b"",
        password: b"",
    });
    host_cfg.credentials = None;
    let mut ac = Session::new(&ac_cfg, 1, &mut rng(2));
    let mut host = Session::new(&host_cfg, 1, &mut rng(3));
    let mut now = Duration::ZERO;
    ac.start(now);
    host.start(now);
    let mut buf = [0u8; 1500];
    let mut ac_down = None;
    for _ in 0..200 {
        let mut moved = true;
        while moved {
            moved = false;
            while let Some(a) = ac.poll_action(now, &mut buf) {
                let _ = host.handle_packet(now, &buf[..a.len()]);
                moved = true;
            }
            while let Some(a) = host.poll_action(now, &mut buf) {
                assert!(ac.handle_packet(now, &buf[..a.len()]).unwrap().is_none());
                moved = true;
            }
        }
        if let Some(Event::Down { cause }) = ac.poll_event() {
            ac_down = Some(cause);
            break;
        }
        let t = [ac.poll_timeout(), host.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
            .unwrap();
        now = t;
        ac.handle_timeout(now);
        host.handle_timeout(now);
    }
    // The host Rejects Authentication-Protocol; the AC must not open without it.
    assert_eq!(ac_down, Some(DownCause::AuthFailed));
    assert_ne!(ac.phase(), Phase::Network);
}

#[test]
fn ac_times_out_a_silent_authenticatee() {
    let ac_cfg = Config::server(AuthProto::Pap, b"ac", [10, 0, 0, 1]);
    let host_cfg = Config::client(Credentials {
        user: b"u",
        password: b"p",
    });
    let mut ac = Session::new(&ac_cfg, 1, &mut rng(2));
    let mut host = Session::new(&host_cfg, 1, &mut rng(3));
    let mut now = Duration::ZERO;
    ac.start(now);
    host.start(now);
    let mut buf = [0u8; 1500];
    let mut ac_down = None;
    let mut auth_requests = 0;
    for _ in 0..400 {
        let mut moved = true;
        while moved {
            moved = false;
            while let Some(a) = ac.poll_action(now, &mut buf) {
                let _ = host.handle_packet(now, &buf[..a.len()]);
                moved = true;
            }
            while let Some(a) = host.poll_action(now, &mut buf) {
                // The caller never answers (a RADIUS server that is down).
                if ac.handle_packet(now, &buf[..a.len()]).unwrap().is_some() {
                    auth_requests += 1;
                }
                moved = true;
            }
        }
        if let Some(Event::Down { cause }) = ac.poll_event() {
            ac_down = Some(cause);
            break;
        }
        let Some(t) = [ac.poll_timeout(), host.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
        else {
            break;
        };
        now = t;
        ac.handle_timeout(now);
        host.handle_timeout(now);
    }
    assert_eq!(
        auth_requests, 1,
        "retransmitted requests do not re-ask the caller"
    );
    assert_eq!(ac_down, Some(DownCause::AuthTimeout));
    assert!(ac.auth_accept(now).is_err());
}
