//! Fuzz bodies for `bng-nat44`.

use bng_nat44::wire::{Ipv4Packet, L4Repr, PacketRepr, TcpFlags, transport_checksum_ok};
use bng_nat44::{
    Config, Deterministic, Direction, Filtering, Mapping, Nat44, Session, Storage, Subscriber,
    Verdict,
};
use core::net::Ipv4Addr;
use core::time::Duration;

/// The targets of this module, by name (each has `fuzz_targets/<name>.rs` and
/// `corpus/<name>/`).
pub const TARGETS: &[(&str, crate::Body)] = &[
    ("nat44_wire", nat44_wire),
    ("nat44_translate", nat44_translate),
];

/// IPv4/TCP/UDP/ICMP wire types: view, `PacketRepr` parse -> emit -> parse.
pub fn nat44_wire(data: &[u8]) {
    let Ok(p) = Ipv4Packet::new_checked(data) else {
        return;
    };
    let _ = (p.verify_checksum(), transport_checksum_ok(&p), p.options());
    let Ok(r) = PacketRepr::parse(&p) else {
        return;
    };
    let mut out = vec![0u8; r.buffer_len()];
    let n = r.emit(&mut out).expect("a parsed packet must emit");
    assert_eq!(n, p.as_bytes().len(), "re-emit keeps the length");
    let p2 = Ipv4Packet::new_checked(&out[..n]).expect("re-parse view");
    assert!(p2.verify_checksum(), "emitted IPv4 checksum verifies");
    assert!(
        transport_checksum_ok(&p2),
        "emitted transport checksum verifies"
    );
    let r2 = PacketRepr::parse(&p2).expect("re-parse repr");
    assert_eq!(r, r2);
}

fn checks(p: &[u8]) -> Option<bool> {
    let v = Ipv4Packet::new_checked(p).ok()?;
    Some(v.verify_checksum() && (v.is_fragment() || transport_checksum_ok(&v)))
}

fn build(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16, l4: u8) -> Vec<u8> {
    let l4 = match l4 {
        0 => L4Repr::Udp {
            src_port: sport,
            dst_port: dport,
            checksum: true,
        },
        1 => L4Repr::Tcp {
            src_port: sport,
            dst_port: dport,
            seq: 1,
            ack: 0,
            flags: TcpFlags::SYN,
            window: 512,
            urgent: 0,
            options: &[],
        },
        _ => {
            let [a, b] = sport.to_be_bytes();
            L4Repr::Icmp {
                kind: bng_nat44::wire::IcmpType::ECHO_REQUEST,
                code: 0,
                rest: [a, b, 0, 1],
            }
        }
    };
    let r = PacketRepr {
        tos: 0,
        ident: 1,
        dont_frag: false,
        ttl: 64,
        src_addr: Ipv4Addr::from(src),
        dst_addr: Ipv4Addr::from(dst),
        ip_options: &[],
        l4,
        payload: b"fuzz",
    };
    let mut v = vec![0u8; r.buffer_len()];
    let n = r.emit(&mut v).expect("emit");
    v.truncate(n);
    v
}

/// The translator against a populated table. Byte 0 picks the configuration
/// (bit 0 ADF, bit 1 deterministic), the direction (bit 2) and whether the rest
/// patches the reply of a populated flow (bit 3, flow = bits 4-5) or is the packet
/// itself. Asserts: no panic, a dropped packet is unchanged, the length never
/// changes, and a packet whose checksums verified still verifies after translation.
pub fn nat44_translate(data: &[u8]) {
    let Some((&ctl, rest)) = data.split_first() else {
        return;
    };
    let pool = Ipv4Addr::new(198, 51, 100, 1);
    let mut cfg = if ctl & 2 == 0 {
        Config::port_block(pool, 2)
    } else {
        let det = Deterministic::new(Ipv4Addr::new(10, 0, 0, 0), 256, pool, 2).expect("det");
        Config::deterministic(det)
    };
    if ctl & 1 != 0 {
        cfg.filtering = Filtering::AddressDependent;
    }
    let n = 64;
    let mut sessions = vec![Session::EMPTY; n];
    let mut sidx = vec![0u64; Storage::index_len(n, 2)];
    let mut maps = vec![Mapping::EMPTY; n];
    let mut midx = vec![0u64; Storage::index_len(n, 2)];
    let mut subs = vec![Subscriber::EMPTY; n];
    let mut subidx = vec![0u64; Storage::index_len(n, 1)];
    let mut bitmap = vec![0u64; cfg.bitmap_words()];
    let mut events = vec![None; 16];
    let mut nat = Nat44::new(
        cfg,
        Storage {
            sessions: &mut sessions,
            session_index: &mut sidx,
            mappings: &mut maps,
            mapping_index: &mut midx,
            subscribers: &mut subs,
            subscriber_index: &mut subidx,
            block_bitmap: &mut bitmap,
            events: &mut events,
        },
    )
    .expect("valid storage");
    let t = Duration::from_secs(10);
    let mut outs = Vec::new();
    for (i, l4) in [0u8, 1, 2].into_iter().enumerate() {
        let mut p = build([10, 0, 0, 1 + i as u8], 5000, [203, 0, 113, 1], 53, l4);
        assert_eq!(nat.in2out(t, &mut p), Verdict::Forward);
        outs.push(p);
    }
    // A first fragment in flight, so that later fragments can match it.
    let mut frag = build([10, 0, 0, 9], 6000, [203, 0, 113, 1], 53, 0);
    frag[6] = 0x20; // MF
    frag[10..12].copy_from_slice(&[0, 0]);
    let c = bng_nat44::checksum::checksum(&frag[..20]);
    frag[10..12].copy_from_slice(&c.to_be_bytes());
    assert_eq!(nat.in2out(t, &mut frag), Verdict::Forward);
    let mut pkt = if ctl & 8 != 0 {
        let mut base = outs[usize::from(ctl >> 4) % 3].clone();
        // The reply: swap addresses (and ports for TCP/UDP; echo becomes reply).
        for i in 0..4 {
            base.swap(12 + i, 16 + i);
        }
        if base[9] == 1 {
            base[20] = 0;
            let c = u16::from_be_bytes([base[22], base[23]]);
            let c = bng_nat44::checksum::update16(c, 0x0800, 0x0000);
            base[22..24].copy_from_slice(&c.to_be_bytes());
        } else {
            base.swap(20, 22);
            base.swap(21, 23);
        }
        for pair in rest.chunks_exact(2) {
            let at = usize::from(pair[0]) % base.len();
            base[at] = pair[1];
        }
        base
    } else {
        rest.to_vec()
    };
    let dir = if ctl & 4 != 0 || ctl & 8 != 0 {
        Direction::OutToIn
    } else {
        Direction::InToOut
    };
    let before = pkt.clone();
    let ok_before = checks(&pkt);
    let v = nat.translate(t + Duration::from_secs(1), dir, &mut pkt);
    assert_eq!(pkt.len(), before.len());
    match v {
        Verdict::Drop(_) => assert_eq!(pkt, before, "a drop leaves the packet alone"),
        Verdict::Forward | Verdict::Hairpin => {
            if ok_before == Some(true) {
                assert_eq!(
                    checks(&pkt),
                    Some(true),
                    "checksums verify after translation"
                );
            }
        }
    }
    // Same packet in the other direction, then expiry of everything.
    let mut again = before;
    let other = if dir == Direction::InToOut {
        Direction::OutToIn
    } else {
        Direction::InToOut
    };
    let _ = nat.translate(t + Duration::from_secs(2), other, &mut again);
    while nat.poll_event().is_some() {}
    for _ in 0..4 {
        nat.handle_timeout(t + Duration::from_secs(100_000));
    }
    assert_eq!(nat.session_count(), 0, "everything expires");
    assert_eq!(nat.mapping_count(), 0);
}
