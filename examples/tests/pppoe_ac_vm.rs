//! Interop, whole session: Linux pppd 2.4.9 (kernel PPPoE) in the test VM against our
//! access concentrator — `bng_pppoe::ac::Ac` for discovery (RFC 2516 section 5) and
//! `bng_pppoe::ppp::session::Session` for LCP, PAP or CHAP-MD5, IPCP and IPv6CP
//! (RFC 1661, 1334, 1994, 1332, 5072) — over an AF_PACKET socket on the TAP. The VM's
//! runner reports PASS for discovery, lcp, auth, ipcp and ping; the ping is answered
//! here (ICMP echo over PPP protocol 0x0021). The dataplane issue replaces this loop.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::too_many_lines,
    clippy::cast_possible_truncation,
    reason = "tests"
)]

use core::time::Duration;
use std::time::Instant;

use bng_examples::net::checksum;
use bng_pppoe::ac::Outcome;
use bng_pppoe::ethernet::{Frame, Header};
use bng_pppoe::ppp::lcp::AuthProto;
use bng_pppoe::ppp::session::{Config, Event, Session};
use bng_testkit::netns::{require, workdir};
use bng_testkit::vm;

mod common;
use common::{SessionTable, ac_on_tap};

const GATEWAY: [u8; 4] = [198, 51, 100, 1];
const HOST_IP: [u8; 4] = [198, 51, 100, 10];

/// An ICMP echo reply to `ip` if it is an echo request to the gateway (RFC 792).
fn echo_reply(ip: &[u8]) -> Option<Vec<u8>> {
    let ihl = usize::from(ip.first()? & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([*ip.get(2)?, *ip.get(3)?]));
    if ip.first()? >> 4 != 4 || ip.get(9)? != &1 || ip.get(16..20)? != GATEWAY || total > ip.len() {
        return None;
    }
    let mut r = ip.get(..total)?.to_vec();
    if r.get(ihl)? != &8 {
        return None;
    }
    let (src, dst) = (r[12..16].to_vec(), r[16..20].to_vec());
    r[12..16].copy_from_slice(&dst);
    r[16..20].copy_from_slice(&src);
    r[8] = 64;
    r[10..12].fill(0);
    let c = checksum(&[&r[..ihl]]);
    r[10..12].copy_from_slice(&c.to_be_bytes());
    r[ihl] = 0;
    r[ihl + 2..ihl + 4].fill(0);
    let c = checksum(&[&r[ihl..]]);
    r[ihl + 2..ihl + 4].copy_from_slice(&c.to_be_bytes());
    Some(r)
}

fn run(test: &str, auth: AuthProto, tag: &str) {
    if !require(test, &["ip", "tshark"]) {
        return;
    }
    let Some(image) = vm::image(test) else { return };
    let dir = workdir(test);
    let (ns, cap, sock, mut ac) = ac_on_tap(tag, &dir, random());
    let mut table = SessionTable::new(0x0200);
    let mut ppp_cfg = Config::server(auth, b"bngkit", GATEWAY);
    ppp_cfg.dns = [[198, 51, 100, 53], [0; 4]];
    let mut session: Option<(Session<'_>, Header)> = None;
    let (mut auths, mut ipv4_up, mut pings, mut down) = (0, false, 0, None);

    let run = image.boot(
        &ns,
        "tap0",
        &[
            ("scenario", "pppoe"),
            ("expect", "ip"),
            ("ping", "1"),
            ("timeout", "60"),
            ("user", "test"),
            ("password", "test"),
        ],
        &dir,
    );
    let t0 = Instant::now();
    let mut rx = [0u8; 2048];
    let mut tx = [0u8; 2048];
    while t0.elapsed() < Duration::from_secs(150) && !run.report().done {
        let got = sock.recv(&mut rx, Duration::from_millis(50)).expect("recv");
        let now = t0.elapsed();
        if let Some(n) = got {
            let frame = &rx[..n];
            let Ok(f) = Frame::new_checked(frame) else {
                continue;
            };
            match f.header.ethertype {
                0x8863 => match ac.handle_frame(now, frame, &mut tx, &mut table) {
                    Outcome::Reply { len, .. } => sock.send(&tx[..len]).expect("send"),
                    Outcome::SessionStarted { len, session: info } => {
                        sock.send(&tx[..len]).expect("send PADS");
                        if session.is_none() {
                            let mut s = Session::from_parts(
                                &ppp_cfg,
                                info.session_id.get(),
                                u64::from_be_bytes(random::<8>()),
                                random(),
                            );
                            s.set_peer_ipv4(HOST_IP);
                            s.start(now);
                            let link = Header {
                                ethertype: 0x8864,
                                ..info.link
                            };
                            session = Some((s, link));
                        }
                    }
                    Outcome::SessionTerminated { .. } => {
                        if let Some((s, _)) = session.as_mut() {
                            s.lower_down(now);
                        }
                    }
                    Outcome::Dropped(r) => panic!("our AC dropped pppd's frame: {r:?}"),
                    Outcome::NotDiscovery => {}
                },
                0x8864 => {
                    let Some((s, link)) = session.as_mut() else {
                        continue;
                    };
                    let pppoe = f.payload;
                    let len = usize::from(u16::from_be_bytes([pppoe[4], pppoe[5]]));
                    let pppoe = &pppoe[..6 + len];
                    if pppoe[6..8] == [0x00, 0x21] {
                        // IPv4 data: the dataplane's job; answer pings to the gateway.
                        if let Some(reply) = echo_reply(&pppoe[8..]) {
                            let l2 = link.emit(&mut tx).unwrap();
                            let plen = u16::try_from(reply.len() + 2).unwrap();
                            tx[l2..l2 + 2].copy_from_slice(&[0x11, 0]);
                            tx[l2 + 2..l2 + 4].copy_from_slice(&s.session_id().to_be_bytes());
                            tx[l2 + 4..l2 + 6].copy_from_slice(&plen.to_be_bytes());
                            tx[l2 + 6..l2 + 8].copy_from_slice(&[0x00, 0x21]);
                            tx[l2 + 8..l2 + 8 + reply.len()].copy_from_slice(&reply);
                            sock.send(&tx[..l2 + 8 + reply.len()])
                                .expect("send echo reply");
                            pings += 1;
                        }
                        continue;
                    }
                    if let Ok(Some(req)) = s.handle_packet(now, pppoe) {
                        auths += 1;
                        if req.check_password(b"test", b"test") {
                            s.auth_accept(now).unwrap();
                        } else {
                            s.auth_reject(now).unwrap();
                        }
                    }
                }
                _ => {}
            }
        }
        // Timers, then everything the session wants to send, then its events.
        if let Some((s, link)) = session.as_mut() {
            if s.poll_timeout().is_some_and(|d| d <= now) {
                s.handle_timeout(now);
            }
            let l2 = link.wire_len();
            let mut frame = [0u8; 2048];
            while let Some(a) = s.poll_action(now, &mut frame[l2..]) {
                link.emit(&mut frame).unwrap();
                sock.send(&frame[..l2 + a.len()])
                    .expect("send session frame");
            }
            while let Some(e) = s.poll_event() {
                match e {
                    Event::Ipv4Up { peer, .. } => {
                        assert_eq!(peer, HOST_IP);
                        ipv4_up = true;
                    }
                    Event::Down { cause } => down = Some(cause),
                    _ => {}
                }
            }
        }
    }
    let report = run.finish(Duration::from_secs(60));
    let file = cap.finish();
    let console = &report.console;
    for check in ["discovery", "lcp", "auth", "ipcp", "ping"] {
        assert!(
            report.passed(check),
            "{test}: VM check {check} did not pass.\n{console}"
        );
    }
    assert!(
        report.failed.is_empty(),
        "{test}: {:?}\n{console}",
        report.failed
    );
    assert!(
        auths >= 1 && ipv4_up && pings >= 1,
        "auths {auths}, ipv4 {ipv4_up}, pings {pings}"
    );
    assert_eq!(ac.counters().total_drops(), 0);
    let d = common::assert_clean_capture(&file);
    eprintln!(
        "{test}: pppd reached IPCP with {auth:?} through our AC and Session, {pings} pings \
         answered, session end: {down:?}; tshark: {} frames, 0 malformed",
        d.frames
    );
}

fn random<const N: usize>() -> [u8; N] {
    use std::io::Read as _;
    let mut b = [0u8; N];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .expect("/dev/urandom");
    b
}

#[test]
fn vm_pppd_reaches_ipcp_through_our_ac_with_pap() {
    run(
        "vm_pppd_reaches_ipcp_through_our_ac_with_pap",
        AuthProto::Pap,
        "acpap",
    );
}

#[test]
fn vm_pppd_reaches_ipcp_through_our_ac_with_chap() {
    run(
        "vm_pppd_reaches_ipcp_through_our_ac_with_chap",
        AuthProto::ChapMd5,
        "acchap",
    );
}
