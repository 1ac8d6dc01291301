//! PPPoE discovery benches (BENCHMARKS.md, bng-pppoe section): parse a PADI, the AC's
//! PADI -> PADO (with the HMAC cookie) and PADR -> PADS, a whole client-vs-AC discovery,
//! and the Ethernet + VLAN header parse against etherparse in the same run (no Rust
//! crate parses PPPoE discovery, so etherparse is a peer only for the link layer).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::similar_names,
    clippy::many_single_char_names,
    reason = "bench"
)]

use core::hint::black_box;
use core::time::Duration;

use bng_pppoe::ac::{Ac, AcConfig, AnyService, CookieSecret, Outcome, SessionAllocator, SessionId};
use bng_pppoe::client::{Action, Client, ClientConfig, Event};
use bng_pppoe::discovery::{Code, Packet, Repr, Tag, TagList, TagType};
use bng_pppoe::ethernet::{BROADCAST, Frame, Header, Mac, Vlan};
use bng_pppoe::ppp::lcp::AuthProto;
use bng_pppoe::ppp::session::{Config, Credentials, Event as PppEvent, Session};
use bng_pppoe::tags::{BBF_VENDOR_ID, DiscoveryTags, SubOption, SubOptionType, VendorSpecific};
use criterion::{Criterion, criterion_main};

const AC_MAC: Mac = [2, 0, 0, 0, 0, 0xac];
const HOST: Mac = [2, 0, 0, 0, 0, 1];

/// A PADI as an access node forwards it: S-VLAN + C-VLAN, Host-Uniq,
/// PPP-Max-Payload and a TR-101 line-identification tag.
fn padi_frame() -> Vec<u8> {
    let mut vs = [0u8; 64];
    let n = VendorSpecific::emit(
        BBF_VENDOR_ID,
        &[
            SubOption {
                kind: SubOptionType::AGENT_CIRCUIT_ID,
                value: b"an1 eth 1/1/1:7",
            },
            SubOption {
                kind: SubOptionType::AGENT_REMOTE_ID,
                value: b"cust42",
            },
            SubOption {
                kind: SubOptionType::ACTUAL_DATA_RATE_DOWN,
                value: &16_000_000u32.to_be_bytes(),
            },
        ],
        &mut vs,
    )
    .unwrap();
    let tags = [
        Tag {
            kind: TagType::SERVICE_NAME,
            value: b"",
        },
        Tag {
            kind: TagType::HOST_UNIQ,
            value: &[1, 2, 3, 4, 5, 6, 7, 8],
        },
        Tag {
            kind: TagType::PPP_MAX_PAYLOAD,
            value: &1500u16.to_be_bytes(),
        },
        Tag {
            kind: TagType::VENDOR_SPECIFIC,
            value: &vs[..n],
        },
    ];
    let mut h = Header::new(BROADCAST, HOST, 0x8863);
    h.vlans = [
        Vlan {
            tpid: 0x88a8,
            tci: 100,
        },
        Vlan::dot1q(7),
    ];
    h.vlan_count = 2;
    let mut buf = vec![0u8; 1600];
    let l2 = h.emit(&mut buf).unwrap();
    let len = Repr {
        code: Code::PADI,
        session_id: 0,
        tags: TagList::List(&tags),
    }
    .emit(&mut buf[l2..])
    .unwrap();
    buf.truncate(l2 + len);
    buf
}

fn ac() -> Ac<'static, AnyService> {
    Ac::new(
        AcConfig {
            mac: AC_MAC,
            ac_name: b"bench-ac",
            cookie_window: Duration::from_secs(30),
            max_payload: Some(1500),
        },
        AnyService,
        CookieSecret::new([7; 32]),
    )
    .unwrap()
}

/// Hands out id 1 forever (the bench measures discovery, not a session table).
struct One;

impl SessionAllocator for One {
    fn allocate(&mut self, _: &Mac, _: Option<&[u8]>) -> Option<SessionId> {
        SessionId::new(1)
    }

    fn release(&mut self, _: &Mac, _: SessionId) -> bool {
        true
    }
}

fn parse(c: &mut Criterion) {
    let frame = padi_frame();
    let pppoe = &frame[22..];
    c.bench_function("pppoe/parse_padi", |b| {
        b.iter(|| {
            let p = Packet::new_checked(black_box(pppoe)).unwrap();
            let r = Repr::parse(&p).unwrap();
            let t = DiscoveryTags::parse(p.payload()).unwrap();
            let line = t.line_info().unwrap().and_then(|l| l.actual_rate_down);
            black_box((r.code, t.host_uniq.map(<[u8]>::len), line))
        });
    });
    let mut g = c.benchmark_group("ethernet_qinq_header");
    g.bench_function("bng_pppoe", |b| {
        b.iter(|| {
            let f = Frame::new_checked(black_box(&frame)).unwrap();
            black_box((
                f.header.ethertype,
                f.header.vlans()[1].vid(),
                f.payload.len(),
            ))
        });
    });
    g.bench_function("etherparse", |b| {
        b.iter(|| {
            let p = etherparse::LaxSlicedPacket::from_ethernet(black_box(&frame)).unwrap();
            let vid = match p.vlan {
                Some(etherparse::VlanSlice::DoubleVlan(d)) => d.inner().vlan_identifier(),
                _ => panic!("double tagged"),
            };
            black_box((vid, p.net.is_none()))
        });
    });
    g.finish();
}

fn machines(c: &mut Criterion) {
    let padi = padi_frame();
    let now = Duration::from_secs(1_000);
    let mut ac = ac();
    let mut tx = [0u8; 1600];
    c.bench_function("pppoe/ac_padi_to_pado", |b| {
        b.iter(
            || match ac.handle_frame(now, black_box(&padi), &mut tx, &mut One) {
                Outcome::Reply { len, .. } => black_box(len),
                o => panic!("{o:?}"),
            },
        );
    });
    // A PADR echoing that PADO's cookie.
    let Outcome::Reply { len, .. } = ac.handle_frame(now, &padi, &mut tx, &mut One) else {
        panic!()
    };
    let pado = Frame::new_checked(&tx[..len]).unwrap();
    let p = Packet::new_checked(pado.payload).unwrap();
    let t = DiscoveryTags::parse(p.payload()).unwrap();
    let tags = [
        Tag {
            kind: TagType::SERVICE_NAME,
            value: b"",
        },
        Tag {
            kind: TagType::HOST_UNIQ,
            value: t.host_uniq.unwrap(),
        },
        Tag {
            kind: TagType::AC_COOKIE,
            value: t.ac_cookie.unwrap(),
        },
    ];
    let hdr = pado.header.reply(pado.header.dst, 0x8863);
    let mut padr = vec![0u8; 1600];
    let l2 = hdr.emit(&mut padr).unwrap();
    let n = Repr {
        code: Code::PADR,
        session_id: 0,
        tags: TagList::List(&tags),
    }
    .emit(&mut padr[l2..])
    .unwrap();
    padr.truncate(l2 + n);
    let mut tx2 = [0u8; 1600];
    c.bench_function("pppoe/ac_padr_to_pads", |b| {
        b.iter(
            || match ac.handle_frame(now, black_box(&padr), &mut tx2, &mut One) {
                Outcome::SessionStarted { len, .. } => black_box(len),
                o => panic!("{o:?}"),
            },
        );
    });
    c.bench_function("pppoe/discovery_client_vs_ac", |b| {
        b.iter(|| {
            let mut client = Client::new(ClientConfig {
                host_uniq: Some(&[9; 8]),
                ..ClientConfig::new(HOST)
            })
            .unwrap();
            let (mut up, mut down) = ([0u8; 1600], [0u8; 1600]);
            client.start(now);
            let mut id = None;
            while id.is_none() {
                match client.poll_action(now, &mut up) {
                    Some(Action::Transmit(n)) => {
                        if let Outcome::Reply { len, .. } | Outcome::SessionStarted { len, .. } =
                            ac.handle_frame(now, &up[..n], &mut down, &mut One)
                        {
                            let _ = client.handle_frame(now, &down[..len]);
                        }
                    }
                    Some(Action::Event(Event::SessionUp(s))) => id = Some(s.session_id),
                    other => panic!("{other:?}"),
                }
            }
            black_box(id)
        });
    });
}

/// PADI -> PADO -> PADR -> PADS between our client and AC, then LCP -> PAP -> IPCP
/// between two [`Session`]s on the agreed SESSION_ID, Ethernet framing included: the
/// issue's "full session establishment". Returns the frames exchanged.
fn full_establishment(
    ac: &mut Ac<'_, AnyService>,
    s_cfg: &Config<'_>,
    c_cfg: &Config<'_>,
    seed: u64,
) -> usize {
    let now = Duration::from_secs(1_000);
    let host_uniq = seed.to_be_bytes();
    let mut client = Client::new(ClientConfig {
        host_uniq: Some(&host_uniq),
        ..ClientConfig::new(HOST)
    })
    .unwrap();
    let (mut up, mut down) = ([0u8; 1600], [0u8; 1600]);
    let mut frames = 0;
    client.start(now);
    let (id, host_link, ac_link) = loop {
        match client.poll_action(now, &mut up) {
            Some(Action::Transmit(n)) => {
                frames += 1;
                match ac.handle_frame(now, &up[..n], &mut down, &mut One) {
                    Outcome::Reply { len, .. } | Outcome::SessionStarted { len, .. } => {
                        frames += 1;
                        let _ = client.handle_frame(now, &down[..len]);
                    }
                    o => panic!("{o:?}"),
                }
            }
            Some(Action::Event(Event::SessionUp(s))) => {
                let ac_link = s.link.reply(AC_MAC, 0x8864);
                break (s.session_id.get(), s.link, ac_link);
            }
            other => panic!("{other:?}"),
        }
    };
    let mut ac_s = Session::from_parts(s_cfg, id, seed, [7; 16]);
    let mut host_s = Session::from_parts(c_cfg, id, seed ^ 0x5555, [0; 16]);
    ac_s.set_peer_ipv4([100, 64, 0, 2]);
    ac_s.start(now);
    host_s.start(now);
    let (l2a, l2h) = (ac_link.wire_len(), host_link.wire_len());
    loop {
        while let Some(a) = ac_s.poll_action(now, &mut down[l2a..]) {
            ac_link.emit(&mut down).unwrap();
            frames += 1;
            let f = Frame::new_checked(&down[..l2a + a.len()]).unwrap();
            let _ = host_s.handle_packet(now, f.payload);
        }
        while let Some(a) = host_s.poll_action(now, &mut up[l2h..]) {
            host_link.emit(&mut up).unwrap();
            frames += 1;
            let f = Frame::new_checked(&up[..l2h + a.len()]).unwrap();
            if let Ok(Some(req)) = ac_s.handle_packet(now, f.payload) {
                if req.check_password(b"user@isp", b"secret") {
                    ac_s.auth_accept(now).unwrap();
                }
            }
        }
        while let Some(e) = host_s.poll_event() {
            if matches!(e, PppEvent::Ipv4Up { .. }) {
                return frames;
            }
        }
    }
}

fn full(c: &mut Criterion) {
    let mut ac = ac();
    let mut s_cfg = Config::server(AuthProto::Pap, b"bng", [100, 64, 0, 1]);
    s_cfg.ipv6 = false;
    s_cfg.dns = [[100, 64, 0, 53], [0; 4]];
    let mut c_cfg = Config::client(Credentials {
        user: b"user@isp",
        password: b"secret",
    });
    c_cfg.ipv6 = false;
    let frames = full_establishment(&mut ac, &s_cfg, &c_cfg, 1);
    eprintln!("PADI..IPCP up (PAP): {frames} frames per session");
    let mut seed = 0u64;
    c.bench_function("pppoe/full_padi_to_ipcp_up_pap", |b| {
        b.iter(|| {
            seed += 1;
            black_box(full_establishment(&mut ac, &s_cfg, &c_cfg, seed))
        });
    });
}

mod group {
    #![allow(missing_docs, reason = "criterion's macro defines an undocumented fn")]
    criterion::criterion_group!(benches, super::parse, super::machines, super::full);
}
criterion_main!(group::benches);
