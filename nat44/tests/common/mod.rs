//! Shared helpers of the integration tests: owned storage and packet builders.

#![allow(dead_code, unreachable_pub, reason = "each test file uses a subset")]

use core::net::{Ipv4Addr, SocketAddrV4};

use bng_nat44::wire::{IcmpType, Ipv4Packet, L4Repr, PacketRepr, TcpFlags, transport_checksum_ok};
use bng_nat44::{Config, Event, Mapping, Nat44, Session, Storage, Subscriber};

/// Heap storage for a translator, sized for `n` sessions.
pub struct Owned {
    pub sessions: Vec<Session>,
    pub sidx: Vec<u64>,
    pub maps: Vec<Mapping>,
    pub midx: Vec<u64>,
    pub subs: Vec<Subscriber>,
    pub subidx: Vec<u64>,
    pub bitmap: Vec<u64>,
    pub events: Vec<Option<Event>>,
}

impl Owned {
    /// Storage for `n` sessions and mappings, `n` subscribers and `events` events.
    pub fn new(cfg: &Config, n: usize, events: usize) -> Self {
        Self::sized(cfg, n, n, events)
    }

    /// Storage for `n` sessions and mappings, `subs` subscribers and `events` events.
    pub fn sized(cfg: &Config, n: usize, subs: usize, events: usize) -> Self {
        Self {
            sessions: vec![Session::EMPTY; n],
            sidx: vec![0; Storage::index_len(n, 2)],
            maps: vec![Mapping::EMPTY; n],
            midx: vec![0; Storage::index_len(n, 2)],
            subs: vec![Subscriber::EMPTY; subs],
            subidx: vec![0; Storage::index_len(subs, 1)],
            bitmap: vec![0; cfg.bitmap_words()],
            events: vec![None; events],
        }
    }

    pub fn nat(&mut self, cfg: Config) -> Nat44<'_> {
        Nat44::new(
            cfg,
            Storage {
                sessions: &mut self.sessions,
                session_index: &mut self.sidx,
                mappings: &mut self.maps,
                mapping_index: &mut self.midx,
                subscribers: &mut self.subs,
                subscriber_index: &mut self.subidx,
                block_bitmap: &mut self.bitmap,
                events: &mut self.events,
            },
        )
        .expect("valid storage")
    }
}

pub fn ep(s: &str) -> SocketAddrV4 {
    s.parse().expect("socket address")
}

fn ip(src: SocketAddrV4, dst: SocketAddrV4, l4: L4Repr<'_>, payload: &[u8]) -> Vec<u8> {
    let r = PacketRepr {
        tos: 0,
        ident: 0x1234,
        dont_frag: true,
        ttl: 64,
        src_addr: *src.ip(),
        dst_addr: *dst.ip(),
        ip_options: &[],
        l4,
        payload,
    };
    let mut v = vec![0u8; r.buffer_len()];
    let n = r.emit(&mut v).expect("emit");
    v.truncate(n);
    v
}

pub fn udp(src: &str, dst: &str, payload: &[u8]) -> Vec<u8> {
    let (s, d) = (ep(src), ep(dst));
    ip(
        s,
        d,
        L4Repr::Udp {
            src_port: s.port(),
            dst_port: d.port(),
            checksum: true,
        },
        payload,
    )
}

pub fn udp_nocsum(src: &str, dst: &str, payload: &[u8]) -> Vec<u8> {
    let (s, d) = (ep(src), ep(dst));
    ip(
        s,
        d,
        L4Repr::Udp {
            src_port: s.port(),
            dst_port: d.port(),
            checksum: false,
        },
        payload,
    )
}

pub fn tcp(src: &str, dst: &str, flags: TcpFlags) -> Vec<u8> {
    let (s, d) = (ep(src), ep(dst));
    ip(
        s,
        d,
        L4Repr::Tcp {
            src_port: s.port(),
            dst_port: d.port(),
            seq: 1000,
            ack: if flags.contains(TcpFlags::ACK) { 77 } else { 0 },
            flags,
            window: 65535,
            urgent: 0,
            options: &[2, 4, 5, 0xb4],
        },
        b"data",
    )
}

/// ICMP echo request (`request`) or reply; the port of the addresses is ignored.
pub fn echo(src: &str, dst: &str, id: u16, request: bool) -> Vec<u8> {
    let (s, d) = (ep(src), ep(dst));
    let [a, b] = id.to_be_bytes();
    ip(
        s,
        d,
        L4Repr::Icmp {
            kind: if request {
                IcmpType::ECHO_REQUEST
            } else {
                IcmpType::ECHO_REPLY
            },
            code: 0,
            rest: [a, b, 0, 7],
        },
        b"ping",
    )
}

/// An ICMP error from `src` to `dst` quoting the first `quote` bytes of `embedded`.
pub fn icmp_error(
    src: &str,
    dst: &str,
    kind: IcmpType,
    code: u8,
    embedded: &[u8],
    quote: usize,
) -> Vec<u8> {
    let (s, d) = (ep(src), ep(dst));
    let q = &embedded[..quote.min(embedded.len())];
    ip(
        s,
        d,
        L4Repr::Icmp {
            kind,
            code,
            rest: [0; 4],
        },
        q,
    )
}

/// Source and destination endpoints of a datagram (ICMP: the identifier as port).
pub fn ends(p: &[u8]) -> (SocketAddrV4, SocketAddrV4) {
    let v = Ipv4Packet::new_checked(p).expect("ipv4");
    let r = PacketRepr::parse(&v).expect("repr");
    let (sp, dp) = match r.l4 {
        L4Repr::Tcp {
            src_port, dst_port, ..
        }
        | L4Repr::Udp {
            src_port, dst_port, ..
        } => (src_port, dst_port),
        L4Repr::Icmp { rest, .. } => {
            let id = u16::from_be_bytes([rest[0], rest[1]]);
            (id, id)
        }
        _ => (0, 0),
    };
    (
        SocketAddrV4::new(r.src_addr, sp),
        SocketAddrV4::new(r.dst_addr, dp),
    )
}

/// Asserts that the IPv4 header and transport checksums verify by full recomputation.
pub fn assert_checksums(p: &[u8]) {
    let v = Ipv4Packet::new_checked(p).expect("ipv4");
    assert!(v.verify_checksum(), "IPv4 header checksum");
    assert!(transport_checksum_ok(&v), "transport checksum");
}

pub const POOL: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);

pub fn cfg() -> Config {
    Config::port_block(POOL, 4)
}
