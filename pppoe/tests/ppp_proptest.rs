//! Property tests: PPP control packets, options, PAP and CHAP round-trip
//! (emit → parse → equal, byte-identical re-emit), every truncated prefix is
//! rejected, and arbitrary bytes never panic a parser or a `Session`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests"
)]

use core::time::Duration;

use bng_pppoe::ppp::auth::{ChapRepr, PapRepr};
use bng_pppoe::ppp::packet::{Code, ControlPacket, ControlRepr, Options, Writer};
use bng_pppoe::ppp::session::{Config, Credentials, Session};
use bng_pppoe::ppp::{Frame, Prng, lcp::AuthProto};
use proptest::prelude::*;

mod common;
use common::TestRng;

fn options() -> impl Strategy<Value = Vec<(u8, Vec<u8>)>> {
    prop::collection::vec(
        (any::<u8>(), prop::collection::vec(any::<u8>(), 0..12)),
        0..8,
    )
}

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..max)
}

proptest! {
    #[test]
    fn configure_packets_round_trip(code in 1u8..=4, id: u8, opts in options()) {
        let mut data = vec![0u8; 512];
        let mut w = Writer::new(&mut data);
        for (k, v) in &opts {
            w.opt(*k, v);
        }
        let n = w.finish().unwrap();
        let r = ControlRepr { code: Code(code), identifier: id, data: &data[..n] };
        let mut out = vec![0u8; r.buffer_len()];
        let len = r.emit(&mut out).unwrap();
        let back = ControlRepr::parse_bytes(&out[..len]).unwrap();
        prop_assert_eq!(back, r);
        let walked: Vec<_> = back.options().map(|o| o.unwrap()).map(|o| (o.kind, o.data.to_vec())).collect();
        prop_assert_eq!(walked, opts);
        for i in 0..len {
            prop_assert!(ControlRepr::parse_bytes(&out[..i]).is_err());
        }
        // Padding after Length is ignored.
        out.extend_from_slice(&[0; 7]);
        prop_assert_eq!(ControlRepr::parse_bytes(&out).unwrap(), r);
    }

    #[test]
    fn pap_round_trips(id: u8, user in bytes(40), pass in bytes(40), msg in bytes(40), which in 0u8..3) {
        let r = match which {
            0 => PapRepr::Request { id, peer_id: &user, password: &pass },
            1 => PapRepr::Ack { id, message: &msg },
            _ => PapRepr::Nak { id, message: &msg },
        };
        let mut out = vec![0u8; r.buffer_len()];
        let n = r.emit(&mut out).unwrap();
        let p = ControlPacket::new_checked(&out[..n]).unwrap();
        prop_assert_eq!(PapRepr::parse(&p).unwrap(), r);
        prop_assert!(r.emit(&mut out[..n - 1]).is_err());
    }

    #[test]
    fn chap_round_trips(id: u8, value in bytes(40), name in bytes(40), which in 0u8..4) {
        let value = if value.is_empty() { vec![1] } else { value };
        let r = match which {
            0 => ChapRepr::Challenge { id, value: &value, name: &name },
            1 => ChapRepr::Response { id, value: &value, name: &name },
            2 => ChapRepr::Success { id, message: &name },
            _ => ChapRepr::Failure { id, message: &name },
        };
        let mut out = vec![0u8; r.buffer_len()];
        let n = r.emit(&mut out).unwrap();
        let p = ControlPacket::new_checked(&out[..n]).unwrap();
        prop_assert_eq!(ChapRepr::parse(&p).unwrap(), r);
    }

    #[test]
    fn arbitrary_bytes_never_panic_parsers(data in bytes(300)) {
        if let Ok(f) = Frame::new_checked(&data[..]) {
            let _ = f.protocol();
            let _ = f.information();
        }
        if let Ok(p) = ControlPacket::new_checked(&data[..]) {
            let _ = ControlRepr::parse(&p);
            let _ = PapRepr::parse(&p);
            let _ = ChapRepr::parse(&p);
            let n = Options::new(p.data()).take(100).count();
            prop_assert!(n <= 65);
        }
    }

    #[test]
    fn arbitrary_frames_never_panic_a_session(
        frames in prop::collection::vec((0u8..6, bytes(64), 0u64..5000), 0..30),
        server: bool,
    ) {
        let cfg = if server {
            Config::server(AuthProto::ChapMd5, b"ac", [10, 0, 0, 1])
        } else {
            Config::client(Credentials { user: b"u", password: b"p" })
        };
        let mut rng = TestRng(Prng::new(1));
        let mut s = Session::new(&cfg, 1, &mut rng);
        s.set_peer_ipv4([10, 0, 0, 2]);
        let mut now = Duration::from_secs(1);
        s.start(now);
        let protos: [u16; 6] = [0xc021, 0xc023, 0xc223, 0x8021, 0x8057, 0x80fd];
        let mut tx = [0u8; 1600];
        for (p, body, dt) in frames {
            now += Duration::from_millis(dt);
            let mut f = vec![0x11, 0, 0, 1];
            f.extend_from_slice(&u16::try_from(body.len() + 2).unwrap().to_be_bytes());
            f.extend_from_slice(&protos[usize::from(p)].to_be_bytes());
            f.extend_from_slice(&body);
            if let Ok(Some(_)) = s.handle_packet(now, &f) {
                let _ = s.auth_accept(now);
            }
            if s.poll_timeout().is_some_and(|t| t <= now) {
                s.handle_timeout(now);
            }
            let mut n = 0;
            while let Some(a) = s.poll_action(now, &mut tx) {
                prop_assert!(a.len() <= tx.len());
                n += 1;
                prop_assert!(n < 16, "unbounded output");
            }
            while s.poll_event().is_some() {}
            if let Some(t) = s.poll_timeout() {
                prop_assert!(t > now || s.is_finished() || t + Duration::from_secs(31) > now);
            }
        }
    }
}
