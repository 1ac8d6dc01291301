//! Zero-allocation proof for the PPP control plane: parsing, emitting and a full
//! LCP → CHAP → IPCP/IPv6CP establishment between two `Session`s run under a
//! counting global allocator (STYLE.md section 16 item 5).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests"
)]

use core::time::Duration;

use bng_pppoe::ppp::Prng;
use bng_pppoe::ppp::lcp::AuthProto;
use bng_pppoe::ppp::packet::ControlRepr;
use bng_pppoe::ppp::session::{Config, Credentials, Event, Session};
use bng_testkit::alloc::{CountingAlloc, count_allocations};

mod common;
use common::TestRng;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

#[test]
fn session_establishment_allocates_nothing() {
    let s_cfg = Config::server(AuthProto::ChapMd5, b"ac", [10, 0, 0, 1]);
    let c_cfg = Config::client(Credentials {
        user: b"user",
        password: b"secret",
    });
    let mut up = 0;
    let n = count_allocations(|| {
        let mut rng = TestRng(Prng::new(3));
        let mut ac = Session::new(&s_cfg, 7, &mut rng);
        let mut host = Session::new(&c_cfg, 7, &mut rng);
        ac.set_peer_ipv4([10, 0, 0, 2]);
        let now = Duration::ZERO;
        ac.start(now);
        host.start(now);
        let mut buf = [0u8; 1500];
        for _ in 0..20 {
            while let Some(a) = ac.poll_action(now, &mut buf) {
                let _ = host.handle_packet(now, &buf[..a.len()]);
            }
            while let Some(a) = host.poll_action(now, &mut buf) {
                if let Ok(Some(req)) = ac.handle_packet(now, &buf[..a.len()]) {
                    if req.check_password(b"user", b"secret") {
                        ac.auth_accept(now).unwrap();
                    }
                }
            }
            while let Some(e) = host.poll_event() {
                if matches!(e, Event::Ipv4Up { .. } | Event::Ipv6Up { .. }) {
                    up += 1;
                }
            }
        }
        let lcp = [1u8, 1, 0, 14, 1, 4, 5, 0xd4, 5, 6, 1, 2, 3, 4];
        let r = ControlRepr::parse_bytes(&lcp).unwrap();
        let mut out = [0u8; 32];
        let _ = r.emit(&mut out);
    });
    assert_eq!(up, 2, "IPCP and IPv6CP came up");
    assert_eq!(n, 0, "PPP session establishment allocated");
}
