//! Peer-pair simulations: our client `Session` against our server `Session` on a
//! virtual clock, with loss, duplication and reordering (STYLE.md section 10).
//! Each run must end "up" on both sides or fail cleanly (both sides report
//! `Down`); nothing panics and nothing loops forever.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::cast_possible_truncation,
    reason = "tests"
)]

use core::time::Duration;

use bng_pppoe::ppp::Prng;
use bng_pppoe::ppp::fsm::State;
use bng_pppoe::ppp::lcp::AuthProto;
use bng_pppoe::ppp::packet::{Code, ControlRepr};
use bng_pppoe::ppp::session::{Config, Credentials, DownCause, Event, Phase, Session};

/// A deterministic stand-in for the caller's CSPRNG (tests only).
struct TestRng(Prng);
impl rand_core::RngCore for TestRng {
    fn next_u32(&mut self) -> u32 {
        self.0.next_u64() as u32
    }
    fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }
    fn fill_bytes(&mut self, d: &mut [u8]) {
        for b in d {
            *b = self.0.next_u64() as u8;
        }
    }
    fn try_fill_bytes(&mut self, d: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(d);
        Ok(())
    }
}
impl rand_core::CryptoRng for TestRng {}

const SID: u16 = 0x0042;
const USER: &[u8] = b"alice@isp";
const PASS: &[u8] = b"correct horse";

fn server_cfg(auth: AuthProto) -> Config<'static> {
    let mut c = Config::server(auth, b"bng-ac", [100, 64, 0, 1]);
    c.dns = [[9, 9, 9, 9], [1, 1, 1, 1]];
    c
}

fn client_cfg(password: &'static [u8]) -> Config<'static> {
    Config::client(Credentials {
        user: USER,
        password,
    })
}

#[derive(Debug, Default)]
struct Outcome {
    ipv4: Option<[u8; 4]>,
    dns: Option<[[u8; 4]; 2]>,
    ipv6: bool,
    down: Option<DownCause>,
}

/// Network impairments, per frame.
#[derive(Debug, Clone, Copy)]
struct Impair {
    drop_pct: u64,
    dup_pct: u64,
    /// Extra random delay up to this many milliseconds (reorders frames).
    jitter_ms: u64,
    /// Flip one random byte of the PPP part of this share of frames.
    mutate_pct: u64,
}

const CLEAN: Impair = Impair {
    drop_pct: 0,
    dup_pct: 0,
    jitter_ms: 0,
    mutate_pct: 0,
};

struct Sim<'c> {
    now: Duration,
    rng: Prng,
    /// (deliver at, to server?, frame)
    wire: Vec<(Duration, bool, Vec<u8>)>,
    client: Session<'c>,
    server: Session<'c>,
    c_out: Outcome,
    s_out: Outcome,
    accept: bool,
    impair: Impair,
    sent: usize,
    auth_requests: usize,
    /// Tamper: strip the Msg-Length and Message of PAP Authenticate-Acks.
    strip_pap_message: bool,
}

impl<'c> Sim<'c> {
    fn new(c: &'c Config<'c>, s: &'c Config<'c>, seed: u64, impair: Impair) -> Self {
        let mut rng = TestRng(Prng::new(seed));
        let client = Session::new(c, SID, &mut rng);
        let mut server = Session::new(s, SID, &mut rng);
        server.set_peer_ipv4([100, 64, 7, 7]);
        let now = Duration::from_secs(1000);
        let (mut client, mut server) = (client, server);
        server.start(now);
        client.start(now);
        Self {
            now,
            rng: Prng::new(seed ^ 0x5555),
            wire: Vec::new(),
            client,
            server,
            c_out: Outcome::default(),
            s_out: Outcome::default(),
            accept: true,
            impair,
            sent: 0,
            auth_requests: 0,
            strip_pap_message: false,
        }
    }

    fn pct(&mut self, p: u64) -> bool {
        p > 0 && self.rng.next_u64() % 100 < p
    }

    fn transmit(&mut self, to_server: bool, frame: &[u8]) {
        self.sent += 1;
        if self.strip_pap_message && !to_server && frame[6..9] == [0xc0, 0x23, 2] {
            // PPPoE LENGTH 6, PAP Length 4: an Authenticate-Ack with no Msg-Length.
            let mut f = frame[..12].to_vec();
            f[5] = 6;
            f[11] = 4;
            let at = self.now + Duration::from_millis(1);
            self.wire.push((at, to_server, f));
            return;
        }
        if self.pct(self.impair.drop_pct) {
            return;
        }
        let mut frame = frame.to_vec();
        if self.pct(self.impair.mutate_pct) && frame.len() > 8 {
            let at = 8 + (self.rng.next_u64() as usize) % (frame.len() - 8);
            frame[at] ^= 1 << (self.rng.next_u64() % 8);
        }
        let copies = if self.pct(self.impair.dup_pct) { 2 } else { 1 };
        for _ in 0..copies {
            let jitter = if self.impair.jitter_ms > 0 {
                self.rng.next_u64() % self.impair.jitter_ms
            } else {
                0
            };
            let at = self.now + Duration::from_millis(1 + jitter);
            self.wire.push((at, to_server, frame.clone()));
        }
    }

    fn pump(&mut self) {
        let mut buf = [0u8; 1500];
        loop {
            let mut any = false;
            while let Some(a) = self.client.poll_action(self.now, &mut buf) {
                let f = buf[..a.len()].to_vec();
                self.transmit(true, &f);
                any = true;
            }
            while let Some(a) = self.server.poll_action(self.now, &mut buf) {
                let f = buf[..a.len()].to_vec();
                self.transmit(false, &f);
                any = true;
            }
            if !any {
                break;
            }
        }
        for (sess, out) in [
            (&mut self.client, &mut self.c_out),
            (&mut self.server, &mut self.s_out),
        ] {
            while let Some(e) = sess.poll_event() {
                match e {
                    Event::Ipv4Up { local, dns, .. } => {
                        out.ipv4 = Some(local);
                        out.dns = Some(dns);
                    }
                    Event::Ipv6Up { local, peer } => {
                        assert_ne!(local, peer);
                        out.ipv6 = true;
                    }
                    Event::Down { cause } => {
                        assert!(out.down.is_none(), "Down reported twice");
                        out.down = Some(cause);
                    }
                    _ => {}
                }
            }
        }
    }

    fn both_up(&self) -> bool {
        self.c_out.ipv4.is_some()
            && self.s_out.ipv4.is_some()
            && self.c_out.ipv6
            && self.s_out.ipv6
            && self.client.phase() == Phase::Network
            && self.server.phase() == Phase::Network
            && self.client.ipcp().state() == State::Opened
            && self.server.ipcp().state() == State::Opened
    }

    fn both_down(&self) -> bool {
        self.c_out.down.is_some() && self.s_out.down.is_some()
    }

    /// Runs until both up, both down, or the step limit; returns steps taken.
    fn run(&mut self, until_up: bool, max_steps: usize) -> usize {
        for step in 0..max_steps {
            self.pump();
            if (until_up && self.both_up()) || self.both_down() {
                return step;
            }
            // Next thing to happen: the earliest frame or timer.
            let next_frame = self
                .wire
                .iter()
                .enumerate()
                .min_by_key(|(_, w)| w.0)
                .map(|(i, w)| (i, w.0));
            let next_timer = [self.client.poll_timeout(), self.server.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            match (next_frame, next_timer) {
                (Some((i, at)), t) if t.is_none_or(|t| at <= t) => {
                    let (at, to_server, f) = self.wire.swap_remove(i);
                    assert!(at >= self.now, "time went backwards");
                    self.now = at;
                    if to_server {
                        match self.server.handle_packet(self.now, &f) {
                            Ok(Some(req)) => {
                                self.auth_requests += 1;
                                if self.impair.mutate_pct == 0 {
                                    assert_eq!(req.user(), USER);
                                }
                                let ok = self.accept && req.check_password(USER, PASS);
                                if ok {
                                    match req.mschapv2_authenticator_response(PASS) {
                                        Some(s) => {
                                            self.server.auth_accept_mschapv2(self.now, &s).unwrap();
                                        }
                                        None => self.server.auth_accept(self.now).unwrap(),
                                    }
                                } else {
                                    self.server.auth_reject(self.now).unwrap();
                                }
                            }
                            Ok(None) => {}
                            Err(e) => assert!(
                                self.impair.mutate_pct > 0,
                                "server rejected our client's frame: {e}"
                            ),
                        }
                    } else {
                        let r = self.client.handle_packet(self.now, &f);
                        assert!(
                            matches!(r, Ok(None)) || (self.impair.mutate_pct > 0 && r.is_err()),
                            "client: {r:?}"
                        );
                    }
                }
                (_, Some(t)) => {
                    assert!(
                        t >= self.now,
                        "deadline in the past: {t:?} < {:?}",
                        self.now
                    );
                    self.now = t;
                    self.client.handle_timeout(self.now);
                    self.server.handle_timeout(self.now);
                }
                _ => return step,
            }
        }
        max_steps
    }
}

fn establish(auth: AuthProto) {
    let s = server_cfg(auth);
    let c = client_cfg(PASS);
    let mut sim = Sim::new(&c, &s, 1, CLEAN);
    sim.run(true, 1000);
    assert!(sim.both_up(), "{:?} {:?}", sim.c_out, sim.s_out);
    assert_eq!(sim.c_out.ipv4, Some([100, 64, 7, 7]));
    assert_eq!(sim.s_out.ipv4, Some([100, 64, 0, 1]));
    assert_eq!(sim.c_out.dns, Some([[9, 9, 9, 9], [1, 1, 1, 1]]));
    assert_eq!(sim.auth_requests, usize::from(auth != AuthProto::None));
    // Magic numbers negotiated and distinct, MRU 1492 both ways.
    let (cl, sl) = (&sim.client.lcp().handler, &sim.server.lcp().handler);
    assert_eq!(cl.peer_magic, sl.magic);
    assert_eq!(sl.peer_magic, cl.magic);
    assert_eq!((cl.peer_mru, sl.peer_mru), (1492, 1492));
    assert_eq!(cl.peer_auth, auth);
    println!("{auth:?}: up after {} frames", sim.sent);
}

#[test]
fn pap_session_comes_up() {
    establish(AuthProto::Pap);
}

#[test]
fn pap_ack_without_msg_length_is_accepted_by_the_host() {
    let s = server_cfg(AuthProto::Pap);
    let c = client_cfg(PASS);
    let mut sim = Sim::new(&c, &s, 11, CLEAN);
    sim.strip_pap_message = true;
    sim.run(true, 1000);
    assert!(sim.both_up(), "{:?} {:?}", sim.c_out, sim.s_out);
}

#[test]
fn chap_session_comes_up() {
    establish(AuthProto::ChapMd5);
}

#[test]
fn mschapv2_session_comes_up() {
    establish(AuthProto::MsChapV2);
}

#[test]
fn mschapv2_reject_brings_both_down_with_auth_failed() {
    rejected(AuthProto::MsChapV2, b"wrong");
}

#[test]
fn mschapv2_host_rejects_a_forged_authenticator_response() {
    // An AC that accepts without knowing the password (wrong S=): the host fails
    // the link (RFC 2759 section 5 mutual authentication).
    let s = server_cfg(AuthProto::MsChapV2);
    let c = client_cfg(PASS);
    let mut sim = Sim::new(&c, &s, 12, CLEAN);
    for _ in 0..200 {
        sim.pump();
        let Some(i) = (0..sim.wire.len()).min_by_key(|i| sim.wire[*i].0) else {
            break;
        };
        let (at, to_server, f) = sim.wire.swap_remove(i);
        sim.now = sim.now.max(at);
        if to_server {
            if let Ok(Some(_)) = sim.server.handle_packet(sim.now, &f) {
                let forged = [b"S=".as_slice(), &[b'A'; 40]].concat();
                sim.server.auth_accept_mschapv2(sim.now, &forged).unwrap();
            }
        } else {
            let _ = sim.client.handle_packet(sim.now, &f);
        }
        if sim.c_out.down.is_some() {
            break;
        }
    }
    sim.run(false, 1000);
    assert_eq!(sim.c_out.down, Some(DownCause::AuthFailed));
    assert!(sim.c_out.ipv4.is_none());
}

#[test]
fn unauthenticated_session_comes_up() {
    establish(AuthProto::None);
}

#[test]
fn session_state_fits_512_bytes() {
    let n = core::mem::size_of::<Session<'static>>();
    println!("size_of::<Session>() = {n} bytes");
    assert!(n <= 512, "Session is {n} bytes");
}

fn rejected(auth: AuthProto, password: &'static [u8]) {
    let s = server_cfg(auth);
    let c = client_cfg(password);
    let mut sim = Sim::new(&c, &s, 2, CLEAN);
    sim.run(false, 2000);
    assert!(sim.both_down(), "{:?} {:?}", sim.c_out, sim.s_out);
    assert_eq!(sim.s_out.down, Some(DownCause::AuthFailed));
    assert_eq!(sim.c_out.down, Some(DownCause::AuthFailed));
    assert!(sim.c_out.ipv4.is_none() && sim.s_out.ipv4.is_none());
    assert!(sim.client.is_finished() && sim.server.is_finished());
    assert_eq!(sim.client.poll_timeout(), None);
}

#[test]
fn pap_reject_brings_both_down_with_auth_failed() {
    rejected(AuthProto::Pap, b"wrong");
}

#[test]
fn chap_reject_brings_both_down_with_auth_failed() {
    rejected(AuthProto::ChapMd5, b"wrong");
}

#[test]
fn impaired_networks_come_up_or_fail_cleanly() {
    let impairs = [
        Impair {
            drop_pct: 10,
            dup_pct: 0,
            jitter_ms: 0,
            mutate_pct: 0,
        },
        Impair {
            drop_pct: 0,
            dup_pct: 30,
            jitter_ms: 0,
            mutate_pct: 0,
        },
        Impair {
            drop_pct: 0,
            dup_pct: 0,
            jitter_ms: 50,
            mutate_pct: 0,
        },
        Impair {
            drop_pct: 20,
            dup_pct: 20,
            jitter_ms: 20,
            mutate_pct: 0,
        },
        Impair {
            drop_pct: 5,
            dup_pct: 5,
            jitter_ms: 5,
            mutate_pct: 10,
        },
        Impair {
            drop_pct: 60,
            dup_pct: 10,
            jitter_ms: 10,
            mutate_pct: 0,
        },
    ];
    let (mut up, mut down) = (0, 0);
    for auth in [AuthProto::Pap, AuthProto::ChapMd5, AuthProto::MsChapV2] {
        let s = server_cfg(auth);
        let c = client_cfg(PASS);
        for (k, imp) in impairs.iter().enumerate() {
            for seed in 0..100u64 {
                let mut sim = Sim::new(&c, &s, seed * 31 + k as u64, *imp);
                let steps = sim.run(true, 20_000);
                assert!(steps < 20_000, "no progress: {imp:?} seed {seed}");
                if sim.both_up() {
                    up += 1;
                    assert!(sim.c_out.down.is_none() && sim.s_out.down.is_none());
                    assert_eq!(sim.c_out.ipv4, Some([100, 64, 7, 7]));
                } else {
                    // Clean failure: whoever gave up reported Down, and a side that
                    // is not finished has a timer that will finish it.
                    let c_ok = sim.c_out.down.is_some() || sim.client.poll_timeout().is_some();
                    let s_ok = sim.s_out.down.is_some() || sim.server.poll_timeout().is_some();
                    assert!(c_ok && s_ok, "{imp:?} seed {seed}: stuck");
                    assert!(sim.c_out.down.is_some() || sim.s_out.down.is_some());
                    down += 1;
                    // Up to 20 % loss with duplication and reordering always
                    // converges; only the 60 % loss network and corrupted frames
                    // (a flipped password byte is a rejection) may give up.
                    // MS-CHAPv2 hosts do not retransmit their Response, so a lost
                    // Success ends in AuthTimeout (documented limit).
                    assert!(
                        imp.drop_pct > 50 || imp.mutate_pct > 0 || auth == AuthProto::MsChapV2,
                        "{auth:?} {imp:?} seed {seed}: {:?} {:?}",
                        sim.c_out.down,
                        sim.s_out.down
                    );
                }
                // At most one authentication request reaches the caller at a time.
                assert!(sim.auth_requests <= 11);
            }
        }
    }
    println!("impaired runs: {up} up, {down} failed cleanly");
    assert!(
        up > 1300,
        "most impaired runs should come up ({up} up, {down} down)"
    );
}

#[test]
fn dead_peer_is_detected_by_echo() {
    let s = server_cfg(AuthProto::Pap);
    let c = client_cfg(PASS);
    let mut sim = Sim::new(&c, &s, 3, CLEAN);
    sim.run(true, 1000);
    assert!(sim.both_up());
    // Echo keeps a healthy link up for many intervals.
    let t_up = sim.now;
    while sim.now < t_up + Duration::from_secs(300) {
        sim.run(false, 1);
    }
    assert!(sim.s_out.down.is_none());
    // The client vanishes: drop everything it would say.
    sim.impair.drop_pct = 100;
    let t0 = sim.now;
    for _ in 0..10_000 {
        sim.run(false, 1);
        if sim.s_out.down.is_some() {
            break;
        }
    }
    assert_eq!(sim.s_out.down, Some(DownCause::DeadPeer));
    let took = sim.now.checked_sub(t0).unwrap();
    assert!(took <= Duration::from_secs(30 * 4 + 1), "{took:?}");
    assert_eq!(sim.server.lcp().state(), State::Starting);
}

#[test]
fn client_terminate_is_peer_terminated_on_the_server() {
    let s = server_cfg(AuthProto::ChapMd5);
    let c = client_cfg(PASS);
    let mut sim = Sim::new(&c, &s, 4, CLEAN);
    sim.run(true, 1000);
    assert!(sim.both_up());
    sim.client.close(sim.now);
    sim.run(false, 1000);
    assert_eq!(sim.c_out.down, Some(DownCause::AdminClose));
    assert_eq!(sim.s_out.down, Some(DownCause::PeerTerminated));
}

fn lcp_frame(code: Code, id: u8, data: &[u8], proto: u16) -> Vec<u8> {
    let r = ControlRepr {
        code,
        identifier: id,
        data,
    };
    let mut ppp = proto.to_be_bytes().to_vec();
    let mut b = vec![0u8; r.buffer_len()];
    r.emit(&mut b).unwrap();
    ppp.extend_from_slice(&b);
    let mut f = vec![0x11, 0, (SID >> 8) as u8, SID as u8];
    f.extend_from_slice(&(ppp.len() as u16).to_be_bytes());
    f.extend_from_slice(&ppp);
    f
}

fn up_pair<'c>(c: &'c Config<'c>, s: &'c Config<'c>) -> Sim<'c> {
    let mut sim = Sim::new(c, s, 5, CLEAN);
    sim.run(true, 1000);
    assert!(sim.both_up());
    sim
}

fn server_replies(sim: &mut Sim<'_>, frame: &[u8]) -> Vec<(u16, ControlRepr<'static>)> {
    sim.server.handle_packet(sim.now, frame).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 1500];
    while let Some(a) = sim.server.poll_action(sim.now, &mut buf) {
        let f: &'static [u8] = Vec::leak(buf[..a.len()].to_vec());
        let proto = u16::from_be_bytes([f[6], f[7]]);
        out.push((proto, ControlRepr::parse_bytes(&f[8..]).unwrap()));
    }
    out
}

#[test]
fn ccp_from_pppd_gets_protocol_reject() {
    let s = server_cfg(AuthProto::Pap);
    let c = client_cfg(PASS);
    let mut sim = up_pair(&c, &s);
    // CCP Configure-Request with Deflate (pppd's default offer).
    let f = lcp_frame(Code::CONFIGURE_REQUEST, 1, &[0x1a, 4, 0x78, 0], 0x80fd);
    let r = server_replies(&mut sim, &f);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].0, 0xc021);
    assert_eq!(r[0].1.code, Code::PROTOCOL_REJECT);
    assert_eq!(&r[0].1.data[..2], &[0x80, 0xfd]);
    assert_eq!(&r[0].1.data[2..], &f[8..]);
    assert_eq!(sim.server.lcp().state(), State::Opened);
}

#[test]
fn echo_request_is_answered_with_our_magic_and_unknown_code_rejected() {
    let s = server_cfg(AuthProto::Pap);
    let c = client_cfg(PASS);
    let mut sim = up_pair(&c, &s);
    let peer_magic = sim.client.lcp().handler.magic.to_be_bytes();
    let mut data = peer_magic.to_vec();
    data.extend_from_slice(b"ping");
    let r = server_replies(&mut sim, &lcp_frame(Code::ECHO_REQUEST, 77, &data, 0xc021));
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].1.code, Code::ECHO_REPLY);
    assert_eq!(r[0].1.identifier, 77);
    assert_eq!(
        &r[0].1.data[..4],
        &sim.server.lcp().handler.magic.to_be_bytes()
    );
    assert_eq!(&r[0].1.data[4..], b"ping");
    // An unknown LCP code: Code-Reject carrying the packet (RFC 1661 5.6).
    let f = lcp_frame(Code(0x42), 5, &[1, 2], 0xc021);
    let r = server_replies(&mut sim, &f);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].1.code, Code::CODE_REJECT);
    assert_eq!(r[0].1.data, &f[8..]);
    // A Code-Reject of Echo-Request is permitted: stays Opened.
    let r = server_replies(
        &mut sim,
        &lcp_frame(Code::CODE_REJECT, 6, &[9, 1, 0, 4], 0xc021),
    );
    assert!(r.is_empty());
    assert_eq!(sim.server.lcp().state(), State::Opened);
}

#[test]
fn looped_back_link_is_detected() {
    let s = server_cfg(AuthProto::Pap);
    let mut rng = TestRng(Prng::new(9));
    let mut a = Session::new(&s, SID, &mut rng);
    a.set_peer_ipv4([1, 2, 3, 4]);
    let mut now = Duration::ZERO;
    a.start(now);
    let mut buf = [0u8; 1500];
    let mut down = None;
    for _ in 0..500 {
        while let Some(act) = a.poll_action(now, &mut buf) {
            let f = buf[..act.len()].to_vec();
            let _ = a.handle_packet(now, &f);
        }
        if let Some(Event::Down { cause }) = a.poll_event() {
            down = Some(cause);
            break;
        }
        match a.poll_timeout() {
            Some(t) => {
                now = t;
                a.handle_timeout(now);
            }
            None => break,
        }
    }
    assert_eq!(down, Some(DownCause::Loopback));
}

#[test]
fn foreign_session_id_and_garbage_are_errors_without_state_change() {
    let s = server_cfg(AuthProto::Pap);
    let c = client_cfg(PASS);
    let mut sim = up_pair(&c, &s);
    let mut f = lcp_frame(Code::TERMINATE_REQUEST, 1, &[], 0xc021);
    f[3] ^= 1;
    assert!(sim.server.handle_packet(sim.now, &f).is_err());
    for bad in [
        &[][..],
        &[0x11, 0, 0, 0x42, 0, 9, 0xc0],
        &[0x11, 0, 0, 0x42, 0, 3, 0xc0, 0x21, 1],
    ] {
        assert!(sim.server.handle_packet(sim.now, bad).is_err());
    }
    assert_eq!(sim.server.lcp().state(), State::Opened);
    assert_eq!(sim.server.phase(), Phase::Network);
}

#[test]
fn mru_from_ppp_max_payload() {
    // RFC 4638: with PPP-Max-Payload 1500 both sides may use MRU 1500.
    let mut s = server_cfg(AuthProto::Pap);
    s.mru = 1500;
    let mut c = client_cfg(PASS);
    c.mru = 1500;
    let mut sim = Sim::new(&c, &s, 6, CLEAN);
    sim.run(true, 1000);
    assert!(sim.both_up());
    assert_eq!(sim.server.lcp().handler.peer_mru, 1500);
    // A 1492 peer talking to a 1500 AC: the AC sends at most 1492.
    let c2 = client_cfg(PASS);
    let mut sim = Sim::new(&c2, &s, 7, CLEAN);
    sim.run(true, 1000);
    assert!(sim.both_up());
    assert_eq!(sim.server.lcp().handler.peer_mru, 1492);
}

/// Writes seed inputs for the `pppoe_ppp_session` fuzz target: the frames our
/// client sends to a server built exactly as the target builds it, as
/// `[op, len, body]` records. Run with
/// `BNG_SEED_DIR=fuzz/corpus/pppoe_ppp_session cargo test -p bng-pppoe --test ppp_session -- --ignored`.
#[test]
#[ignore = "generates fuzz seeds"]
fn write_fuzz_seeds() {
    let Some(dir) = std::env::var_os("BNG_SEED_DIR") else {
        return;
    };
    for mode in [0u8, 1, 2, 3, 5, 6] {
        let auth = match mode & 3 {
            0 => AuthProto::None,
            1 => AuthProto::Pap,
            2 => AuthProto::ChapMd5,
            _ => AuthProto::MsChapV2,
        };
        let server_role = mode & 4 == 0;
        let mut s_cfg = Config::server(auth, b"ac", [10, 0, 0, 1]);
        s_cfg.dns = [[10, 0, 0, 53], [0; 4]];
        let mut c_cfg = Config::client(Credentials {
            user: b"user",
            password: b"pw",
        });
        c_cfg.dns = [[10, 0, 0, 53], [0; 4]];
        let peer_auth = Config::server(AuthProto::ChapMd5, b"peer", [10, 0, 0, 9]);
        let (target_cfg, other_cfg) = if server_role {
            (&s_cfg, &c_cfg)
        } else {
            (&c_cfg, &peer_auth)
        };
        let mut target = Session::from_parts(target_cfg, 0x0101, u64::from(mode), [7; 16]);
        target.set_peer_ipv4([10, 0, 0, 2]);
        let mut rng = TestRng(Prng::new(99));
        let mut other = Session::new(other_cfg, 0x0101, &mut rng);
        other.set_peer_ipv4([10, 0, 0, 2]);
        let mut now = Duration::from_secs(10);
        target.start(now);
        other.start(now);
        let mut seed = vec![mode];
        let mut buf = [0u8; 1500];
        for _ in 0..40 {
            while let Some(a) = target.poll_action(now, &mut buf) {
                if let Ok(Some(_)) = other.handle_packet(now, &buf[..a.len()]) {
                    other.auth_accept(now).unwrap();
                }
            }
            while let Some(a) = other.poll_action(now, &mut buf) {
                let f = &buf[..a.len()];
                let proto = u16::from_be_bytes([f[6], f[7]]);
                let op = [0xc021, 0xc023, 0xc223, 0x8021, 0x8057, 0x80fd]
                    .iter()
                    .position(|p| *p == proto)
                    .unwrap();
                let body = &f[8..];
                seed.extend_from_slice(&[op as u8, body.len() as u8]);
                seed.extend_from_slice(body);
                if let Ok(Some(req)) = target.handle_packet(now, f) {
                    // As the fuzz target: MS-CHAPv2 accepted with the S= for "pw".
                    match req.mschapv2_authenticator_response(b"pw") {
                        Some(s) => target.auth_accept_mschapv2(now, &s).unwrap(),
                        None => target.auth_accept(now).unwrap(),
                    }
                    seed.extend_from_slice(&[7, 0]);
                }
            }
            now += Duration::from_millis(100);
            seed.extend_from_slice(&[6, 1]);
            target.handle_timeout(now);
            other.handle_timeout(now);
        }
        assert_eq!(target.ipcp().state(), State::Opened, "mode {mode}");
        // Then a long silence: keepalive, dead peer, Down.
        seed.extend_from_slice(&[6, 255, 6, 255, 6, 255, 6, 255, 6, 255]);
        let path = std::path::Path::new(&dir).join(format!("transcript-mode{mode}"));
        std::fs::write(&path, &seed).unwrap();
        println!("{}: {} bytes", path.display(), seed.len());
    }
}
