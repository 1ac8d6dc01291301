//! DHCPv4 benches (BENCHMARKS.md, bng-dhcp section), ours and `dhcproto` 0.12 on the
//! same bytes in the same run:
//!
//! - `decode`: a relayed REQUEST with option 82; read the message type, the requested
//!   IP and the circuit ID. Ours twice: the lazy view (check the header, walk the
//!   options once) and the full `Repr::parse` (every option validated, overload
//!   followed). dhcproto has one decode: the owned `Message` (a `HashMap` of options).
//! - `emit_ack`: build and encode the ACK for it (9 options incl. option 82 echoed).
//! - `server`: a whole DORA (+ RELEASE, so the pool never runs dry) through the sans-IO
//!   server, in memory; dhcproto has no server, so this one has no peer.
//!
//! The binary runs under a counting allocator and prints allocations per operation
//! before the measurements (the counter costs both sides the same).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::many_single_char_names,
    missing_docs,
    reason = "bench"
)]

use core::hint::black_box;
use core::net::Ipv4Addr;
use core::time::Duration;

use bng_dhcp::v4::options::{DhcpOption, Known, MessageType, OptionCode};
use bng_dhcp::v4::server::{Action, Config, LeaseSlot, Pool, Server};
use bng_dhcp::v4::{Op, OptionList, Packet, RelayAgentInfo, Repr};
use bng_testkit::alloc::{CountingAlloc, count_allocations};
use criterion::{Criterion, criterion_group, criterion_main};
use dhcproto::v4 as dp;
use dhcproto::{Decodable, Decoder, Encodable, Encoder};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

const SID: Ipv4Addr = Ipv4Addr::new(100, 64, 0, 1);
const GIADDR: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 1);
const MAC: [u8; 6] = [0x02, 0x00, 0x5e, 0x10, 0x20, 0x30];
/// Option 82 as an access node adds it: circuit ID and remote ID (RFC 3046).
const OPT82: &[u8] = b"\x01\x0fOLT1 1/1/07:100\x02\x08ont-4242";

/// A relayed REQUEST in SELECTING state, as a real CPE sends it (RFC 2131 section 4.3.2).
fn request_bytes(mac: [u8; 6], requested: Ipv4Addr, kind: MessageType) -> Vec<u8> {
    let t = [kind.0];
    let rq = requested.octets();
    let sid = SID.octets();
    let mut cid = [1u8; 7];
    cid[1..].copy_from_slice(&mac);
    let opts = [
        DhcpOption {
            code: OptionCode::MESSAGE_TYPE,
            data: &t,
        },
        DhcpOption {
            code: OptionCode::REQUESTED_IP,
            data: &rq,
        },
        DhcpOption {
            code: OptionCode::SERVER_ID,
            data: &sid,
        },
        DhcpOption {
            code: OptionCode::CLIENT_ID,
            data: &cid,
        },
        DhcpOption {
            code: OptionCode::MAX_MESSAGE_SIZE,
            data: &576u16.to_be_bytes(),
        },
        DhcpOption {
            code: OptionCode::PARAMETER_LIST,
            data: &[1, 3, 6, 15, 28, 42, 51, 58, 59],
        },
        DhcpOption {
            code: OptionCode::HOSTNAME,
            data: b"cpe-4242",
        },
        DhcpOption {
            code: OptionCode::RELAY_AGENT_INFO,
            data: OPT82,
        },
    ];
    let n = if kind == MessageType::DISCOVER { 0 } else { 3 };
    let list: Vec<DhcpOption<'_>> = opts
        .iter()
        .enumerate()
        .filter(|(i, _)| n == 3 || (*i != 1 && *i != 2))
        .map(|(_, o)| *o)
        .collect();
    let mut r = Repr::request(0x3903_f326, mac, &list);
    r.giaddr = GIADDR;
    r.hops = 1;
    let mut b = vec![0u8; 600];
    let len = r.emit(&mut b).unwrap();
    b.truncate(len);
    b
}

/// Ours, lazy: check the header, one walk over the options (overload followed).
fn ours_lazy(b: &[u8]) -> (Option<MessageType>, Option<Ipv4Addr>, usize) {
    let p = Packet::new_checked(b).unwrap();
    let k = Known::collect(p.all_options()).unwrap();
    let c = k
        .relay_agent_info
        .and_then(|d| RelayAgentInfo::new_checked(d).ok())
        .and_then(|r| r.circuit_id())
        .map_or(0, <[u8]>::len);
    (k.message_type, k.requested_ip, c)
}

/// Ours, the same walk as the peer's borrowed path below: the view, then one pass over
/// the options field picking the three values (no option 52 overload, like the peer).
fn ours_walk(b: &[u8]) -> (Option<MessageType>, Option<Ipv4Addr>, usize) {
    let p = Packet::new_checked(b).unwrap();
    let (mut t, mut rq, mut c) = (None, None, 0);
    for o in p.options().map_while(Result::ok) {
        match o.code {
            OptionCode::MESSAGE_TYPE => t = o.data.first().map(|&x| MessageType(x)),
            OptionCode::REQUESTED_IP => rq = <[u8; 4]>::try_from(o.data).ok().map(Ipv4Addr::from),
            OptionCode::RELAY_AGENT_INFO => {
                c = RelayAgentInfo::new_checked(o.data)
                    .ok()
                    .and_then(|r| r.circuit_id())
                    .map_or(0, <[u8]>::len);
            }
            _ => {}
        }
    }
    (t, rq, c)
}

/// Ours, full: `Repr::parse_known` validates every option (overload followed) and
/// reads the common ones in the same walk.
fn ours_full(b: &[u8]) -> (Option<MessageType>, Option<Ipv4Addr>, usize) {
    let p = Packet::new_checked(b).unwrap();
    let (r, k) = Repr::parse_known(&p).unwrap();
    black_box(&r);
    let c = k
        .relay_agent_info
        .and_then(|d| RelayAgentInfo::new_checked(d).ok())
        .and_then(|r| r.circuit_id())
        .map_or(0, <[u8]>::len);
    (k.message_type, k.requested_ip, c)
}

fn peer_decode(b: &[u8]) -> (Option<dp::MessageType>, Option<Ipv4Addr>, usize) {
    let m = dp::Message::decode(&mut Decoder::new(b)).unwrap();
    let t = m.opts().msg_type();
    let rq = match m.opts().get(dp::OptionCode::RequestedIpAddress) {
        Some(dp::DhcpOption::RequestedIpAddress(a)) => Some(*a),
        _ => None,
    };
    let c = match m.opts().get(dp::OptionCode::RelayAgentInformation) {
        Some(dp::DhcpOption::RelayAgentInformation(r)) => {
            match r.get(dp::relay::RelayCode::AgentCircuitId) {
                Some(dp::relay::RelayInfo::AgentCircuitId(c)) => c.len(),
                _ => 0,
            }
        }
        _ => 0,
    };
    (t, rq, c)
}

/// The peer's lazy path (dhcproto 0.15 `v4::borrowed::Message`, zero-copy): the same three
/// fields, walking the raw options and option 82's sub-options by hand as its API leaves it.
fn peer_borrowed(b: &[u8]) -> (Option<u8>, Option<Ipv4Addr>, usize) {
    let m = dp::borrowed::Message::new(b).unwrap();
    let (mut t, mut rq, mut c) = (None, None, 0);
    for o in m.opts() {
        match u8::from(o.code()) {
            53 => t = o.data().first().copied(),
            50 => rq = <[u8; 4]>::try_from(o.data()).ok().map(Ipv4Addr::from),
            82 => {
                let mut d = o.data();
                while let [code, len, rest @ ..] = d {
                    let n = usize::from(*len).min(rest.len());
                    if *code == 1 {
                        c = n;
                    }
                    d = &rest[n..];
                }
            }
            _ => {}
        }
    }
    (t, rq, c)
}

const YIADDR: Ipv4Addr = Ipv4Addr::new(100, 64, 1, 10);

/// Ours: the ACK for the REQUEST, into a stack buffer (RFC 2131 table 3).
fn ours_ack(req: &Repr<'_>, relay: &[u8], out: &mut [u8]) -> usize {
    let sid = SID.octets();
    let mask = [255, 255, 0, 0];
    let opts = [
        DhcpOption {
            code: OptionCode::MESSAGE_TYPE,
            data: &[MessageType::ACK.0],
        },
        DhcpOption {
            code: OptionCode::SERVER_ID,
            data: &sid,
        },
        DhcpOption {
            code: OptionCode::LEASE_TIME,
            data: &3600u32.to_be_bytes(),
        },
        DhcpOption {
            code: OptionCode::RENEWAL_TIME,
            data: &1800u32.to_be_bytes(),
        },
        DhcpOption {
            code: OptionCode::REBINDING_TIME,
            data: &3150u32.to_be_bytes(),
        },
        DhcpOption {
            code: OptionCode::SUBNET_MASK,
            data: &mask,
        },
        DhcpOption {
            code: OptionCode::ROUTER,
            data: &sid,
        },
        DhcpOption {
            code: OptionCode::DNS,
            data: &[100, 64, 0, 1, 100, 64, 0, 2],
        },
        DhcpOption {
            code: OptionCode::RELAY_AGENT_INFO,
            data: relay,
        },
    ];
    let r = Repr {
        op: Op::REPLY,
        hops: 0,
        secs: 0,
        yiaddr: YIADDR,
        sname: &[],
        file: &[],
        options: OptionList::List(&opts),
        ..*req
    };
    r.emit(out).unwrap()
}

/// dhcproto: the same ACK built as a `Message` and encoded into a `Vec`.
fn peer_ack(req: &dp::Message) -> Vec<u8> {
    let relay = match req.opts().get(dp::OptionCode::RelayAgentInformation) {
        Some(o) => o.clone(),
        None => panic!("no option 82"),
    };
    let mut m = dp::Message::new_with_id(
        req.xid(),
        req.ciaddr(),
        YIADDR,
        Ipv4Addr::UNSPECIFIED,
        req.giaddr(),
        &req.chaddr()[..6],
    );
    m.set_opcode(dp::Opcode::BootReply).set_flags(req.flags());
    let o = m.opts_mut();
    o.insert(dp::DhcpOption::MessageType(dp::MessageType::Ack));
    o.insert(dp::DhcpOption::ServerIdentifier(SID));
    o.insert(dp::DhcpOption::AddressLeaseTime(3600));
    o.insert(dp::DhcpOption::Renewal(1800));
    o.insert(dp::DhcpOption::Rebinding(3150));
    o.insert(dp::DhcpOption::SubnetMask(Ipv4Addr::new(255, 255, 0, 0)));
    o.insert(dp::DhcpOption::Router(vec![SID]));
    o.insert(dp::DhcpOption::DomainNameServer(vec![
        Ipv4Addr::new(100, 64, 0, 1),
        Ipv4Addr::new(100, 64, 0, 2),
    ]));
    o.insert(relay);
    let mut buf = Vec::with_capacity(576);
    m.encode(&mut Encoder::new(&mut buf)).unwrap();
    buf
}

/// An in-memory DORA + RELEASE driver over the sans-IO server, pool of 65 536.
struct Dora {
    server: Server<'static, Pool<'static>>,
    discover: Vec<u8>,
    request: Vec<u8>,
    release: Vec<u8>,
    tx: [u8; 600],
    n: u32,
}

impl Dora {
    fn new() -> Self {
        let bits = Box::leak(vec![0u64; 1024].into_boxed_slice());
        let slots = Box::leak(vec![LeaseSlot::Empty; 1 << 14].into_boxed_slice());
        let pool = Pool::new(Ipv4Addr::new(100, 64, 0, 10), 65_536, bits).unwrap();
        let mut cfg = Config::new(SID);
        cfg.subnet_mask = Some(Ipv4Addr::new(255, 255, 0, 0));
        cfg.router = Some(SID);
        cfg.dns = [SID, Ipv4Addr::UNSPECIFIED];
        let server = Server::new(cfg, pool, slots).unwrap();
        let release = {
            let t = [MessageType::RELEASE.0];
            let sid = SID.octets();
            let opts = [
                DhcpOption {
                    code: OptionCode::MESSAGE_TYPE,
                    data: &t,
                },
                DhcpOption {
                    code: OptionCode::SERVER_ID,
                    data: &sid,
                },
            ];
            let mut b = vec![0u8; 300];
            let n = Repr::request(1, MAC, &opts).emit(&mut b).unwrap();
            b.truncate(n);
            b
        };
        Self {
            server,
            discover: request_bytes(MAC, Ipv4Addr::UNSPECIFIED, MessageType::DISCOVER),
            request: request_bytes(MAC, Ipv4Addr::UNSPECIFIED, MessageType::REQUEST),
            release,
            tx: [0; 600],
            n: 0,
        }
    }

    /// One client: DISCOVER -> OFFER, REQUEST -> ACK, RELEASE. Returns the address.
    fn run(&mut self) -> Ipv4Addr {
        self.n = self.n.wrapping_add(1);
        let mac_tail = self.n.to_be_bytes();
        let now = Duration::from_secs(u64::from(self.n >> 10));
        for m in [&mut self.discover, &mut self.request, &mut self.release] {
            m[30..34].copy_from_slice(&mac_tail);
        }
        self.server.handle_packet(now, &self.discover).unwrap();
        let Some(Action::Transmit { len, .. }) = self.server.poll_action(now, &mut self.tx) else {
            panic!("no OFFER")
        };
        let offer = Packet::new_checked(&self.tx[..len]).unwrap();
        let yi = offer.yiaddr();
        // requested IP is the first option after the message type: bytes 245..249
        self.request[245..249].copy_from_slice(&yi.octets());
        self.server.handle_packet(now, &self.request).unwrap();
        while let Some(a) = self.server.poll_action(now, &mut self.tx) {
            black_box(a);
        }
        self.release[12..16].copy_from_slice(&yi.octets());
        self.server.handle_packet(now, &self.release).unwrap();
        while let Some(a) = self.server.poll_action(now, &mut self.tx) {
            black_box(a);
        }
        yi
    }
}

fn report_allocations(req: &[u8]) {
    let parsed = dp::Message::decode(&mut Decoder::new(req)).unwrap();
    let ours_r = Repr::parse(&Packet::new_checked(req).unwrap()).unwrap();
    let relay = ours_r.known().unwrap().relay_agent_info.unwrap();
    let mut out = [0u8; 600];
    let mut dora = Dora::new();
    let rows = [
        ("ours decode (lazy)", count_allocations(|| ours_lazy(req))),
        (
            "ours decode (Repr::parse)",
            count_allocations(|| ours_full(req)),
        ),
        ("ours decode (walk)", count_allocations(|| ours_walk(req))),
        ("dhcproto decode", count_allocations(|| peer_decode(req))),
        (
            "dhcproto borrowed decode",
            count_allocations(|| peer_borrowed(req)),
        ),
        (
            "ours ACK build+emit",
            count_allocations(|| ours_ack(&ours_r, relay, &mut out)),
        ),
        (
            "dhcproto ACK build+encode",
            count_allocations(|| peer_ack(&parsed)),
        ),
        ("ours server DORA+RELEASE", count_allocations(|| dora.run())),
    ];
    for (what, n) in rows {
        eprintln!("allocations: {what}: {n}");
    }
}

fn benches(c: &mut Criterion) {
    let req = request_bytes(MAC, YIADDR, MessageType::REQUEST);
    assert_eq!(ours_lazy(&req).2, peer_decode(&req).2);
    assert_eq!(ours_walk(&req), ours_lazy(&req));
    assert_eq!(peer_borrowed(&req).2, ours_walk(&req).2);
    assert_eq!(peer_borrowed(&req).1, ours_walk(&req).1);
    assert_eq!(ours_full(&req).1, peer_decode(&req).1);
    report_allocations(&req);

    let mut g = c.benchmark_group("dhcpv4_decode_request_opt82");
    g.bench_function("ours_lazy", |b| b.iter(|| ours_lazy(black_box(&req))));
    g.bench_function("ours_walk", |b| b.iter(|| ours_walk(black_box(&req))));
    g.bench_function("ours_repr_parse", |b| b.iter(|| ours_full(black_box(&req))));
    g.bench_function("dhcproto", |b| b.iter(|| peer_decode(black_box(&req))));
    g.bench_function("dhcproto_borrowed", |b| {
        b.iter(|| peer_borrowed(black_box(&req)));
    });
    g.finish();

    let ours_r = Repr::parse(&Packet::new_checked(&req[..]).unwrap()).unwrap();
    let relay = ours_r.known().unwrap().relay_agent_info.unwrap();
    let parsed = dp::Message::decode(&mut Decoder::new(&req)).unwrap();
    // both ACKs carry the same options (order aside) and decode the same with dhcproto
    let mut out = [0u8; 600];
    let n = ours_ack(&ours_r, relay, &mut out);
    let a = dp::Message::decode(&mut Decoder::new(&out[..n])).unwrap();
    let b = dp::Message::decode(&mut Decoder::new(&peer_ack(&parsed))).unwrap();
    assert_eq!(a.opts(), b.opts());
    assert_eq!(a.yiaddr(), b.yiaddr());

    let mut g = c.benchmark_group("dhcpv4_build_emit_ack");
    g.bench_function("ours", |bch| {
        bch.iter(|| ours_ack(black_box(&ours_r), black_box(relay), &mut out));
    });
    g.bench_function("dhcproto", |bch| bch.iter(|| peer_ack(black_box(&parsed))));
    g.finish();

    let mut dora = Dora::new();
    let mut g = c.benchmark_group("dhcpv4_server");
    g.bench_function("ours_dora_release", |bch| bch.iter(|| dora.run()));
    g.finish();
}

criterion_group!(dhcp, benches);
criterion_main!(dhcp);
