//! PPP control-plane benchmarks: parse an LCP Configure-Request, and a full
//! session establishment LCP → PAP (or CHAP-MD5) → IPCP between our client and
//! server `Session`s in memory (sessions per second per core = 1 / time).
//!
//! No Rust crate parses LCP or runs a PPP control plane (the PPPoE crates on
//! crates.io stop at the PPPoE header), so there is no peer to measure in the same
//! run; accel-ppp (C) is the reference named in the issue and is not linked here.

#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::many_single_char_names,
    reason = "bench"
)]

use core::hint::black_box;
use core::time::Duration;

use bng_pppoe::ppp::lcp::AuthProto;
use bng_pppoe::ppp::packet::{ControlPacket, ControlRepr};
use bng_pppoe::ppp::session::{Config, Credentials, Event, Session};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

/// pppd's LCP Configure-Request over PPPoE: MRU 1492, Magic-Number.
const LCP_CR: [u8; 14] = [1, 1, 0, 14, 1, 4, 0x05, 0xd4, 5, 6, 0x12, 0x34, 0x56, 0x78];

fn parse(c: &mut Criterion) {
    let mut g = c.benchmark_group("ppp_parse");
    g.throughput(Throughput::Elements(1));
    g.bench_function("lcp_configure_request", |b| {
        b.iter(|| {
            let p = ControlPacket::new_checked(black_box(&LCP_CR[..])).unwrap();
            let r = ControlRepr::parse(&p).unwrap();
            let mut n = 0usize;
            for o in r.options() {
                n += usize::from(o.unwrap().kind);
            }
            black_box((r, n))
        });
    });
    g.finish();
}

/// Runs one establishment; returns frames exchanged.
fn establish(s_cfg: &Config<'_>, c_cfg: &Config<'_>, seed: u64) -> usize {
    let mut ac = Session::from_parts(
        s_cfg,
        1,
        seed,
        seed.to_le_bytes().repeat(2).try_into().unwrap(),
    );
    let mut host = Session::from_parts(c_cfg, 1, seed ^ 0xffff, [0; 16]);
    ac.set_peer_ipv4([100, 64, 0, 2]);
    let now = Duration::from_secs(1);
    ac.start(now);
    host.start(now);
    let mut buf = [0u8; 1500];
    let mut frames = 0;
    let mut up = false;
    while !up {
        let mut moved = false;
        while let Some(a) = ac.poll_action(now, &mut buf) {
            let _ = host.handle_packet(now, &buf[..a.len()]);
            frames += 1;
            moved = true;
        }
        while let Some(a) = host.poll_action(now, &mut buf) {
            if let Ok(Some(req)) = ac.handle_packet(now, &buf[..a.len()]) {
                if req.check_password(b"user@isp", b"secret") {
                    match req.mschapv2_authenticator_response(b"secret") {
                        Some(s) => ac.auth_accept_mschapv2(now, &s).unwrap(),
                        None => ac.auth_accept(now).unwrap(),
                    }
                }
            }
            frames += 1;
            moved = true;
        }
        while let Some(e) = host.poll_event() {
            up |= matches!(e, Event::Ipv4Up { .. });
        }
        assert!(moved || up, "stalled");
    }
    frames
}

fn session(c: &mut Criterion) {
    let creds = Credentials {
        user: b"user@isp",
        password: b"secret",
    };
    let mut c_cfg = Config::client(creds);
    c_cfg.ipv6 = false;
    let mut g = c.benchmark_group("ppp_session");
    g.throughput(Throughput::Elements(1));
    for auth in [AuthProto::Pap, AuthProto::ChapMd5, AuthProto::MsChapV2] {
        let mut s_cfg = Config::server(auth, b"bng", [100, 64, 0, 1]);
        s_cfg.ipv6 = false;
        s_cfg.dns = [[100, 64, 0, 53], [0; 4]];
        let frames = establish(&s_cfg, &c_cfg, 1);
        eprintln!("{auth:?}: {frames} frames per establishment (IPCP only)");
        let name = format!("establish_lcp_{auth:?}_ipcp").to_lowercase();
        let mut seed = 0u64;
        g.bench_function(name, |b| {
            b.iter(|| {
                seed += 1;
                black_box(establish(&s_cfg, &c_cfg, seed))
            });
        });
    }
    // Dual stack: LCP → PAP → IPCP + IPv6CP.
    let mut s_cfg = Config::server(AuthProto::Pap, b"bng", [100, 64, 0, 1]);
    s_cfg.dns = [[100, 64, 0, 53], [0; 4]];
    let c_cfg = Config::client(creds);
    let mut seed = 0u64;
    g.bench_function("establish_lcp_pap_ipcp_ipv6cp", |b| {
        b.iter(|| {
            seed += 1;
            black_box(establish(&s_cfg, &c_cfg, seed))
        });
    });
    g.finish();
    eprintln!(
        "size_of::<Session>() = {} bytes",
        core::mem::size_of::<Session<'static>>()
    );
}

criterion_group!(benches, parse, session);
criterion_main!(benches);
