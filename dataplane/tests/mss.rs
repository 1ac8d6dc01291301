//! `tcp-mss-clamp`: SYN and SYN-ACK clamped in IPv4 and IPv6, the incremental checksum
//! equal to a full recomputation (proptest over option layouts that put the MSS value at
//! even and odd offsets), everything else byte-identical.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::cast_possible_truncation,
    clippy::many_single_char_names,
    reason = "tests"
)]

use bng_dataplane::buffer::Arena;
use bng_dataplane::graph::{Counters, Label, Trace, new_frame, run};
use bng_dataplane::nodes::mss::{self, MssClamp};
use proptest::prelude::*;

fn sum(bytes: &[u8]) -> u32 {
    bytes
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c.get(1).copied().unwrap_or(0)])))
        .sum()
}

fn fold(mut s: u32) -> u16 {
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    s as u16
}

/// The TCP checksum of `ip`'s segment computed from scratch (RFC 9293 section 3.1).
fn full_tcp_checksum(ip: &[u8], tcp_at: usize) -> u16 {
    let mut seg = ip[tcp_at..].to_vec();
    seg[16] = 0;
    seg[17] = 0;
    let pseudo = if ip[0] >> 4 == 4 {
        sum(&ip[12..20]) + 6 + seg.len() as u32
    } else {
        sum(&ip[8..40]) + 6 + seg.len() as u32
    };
    !fold(pseudo + sum(&seg))
}

/// An IP packet carrying a TCP segment with `flags`, `opts` and `payload`, with a valid
/// checksum; returns it and the TCP header offset.
fn packet(v6: bool, flags: u8, opts: &[u8], payload: &[u8]) -> (Vec<u8>, usize) {
    assert_eq!(opts.len() % 4, 0);
    let mut tcp = vec![0x30, 0x39, 0x00, 0x50, 1, 2, 3, 4, 0, 0, 0, 0];
    tcp.push(((20 + opts.len()) / 4) as u8 * 16);
    tcp.push(flags);
    tcp.extend_from_slice(&[0xff, 0xff, 0, 0, 0, 0]);
    tcp.extend_from_slice(opts);
    tcp.extend_from_slice(payload);
    let mut ip = if v6 {
        let mut h = vec![0x60, 0, 0, 0];
        h.extend_from_slice(&(tcp.len() as u16).to_be_bytes());
        h.extend_from_slice(&[6, 64]);
        h.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        h.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        h
    } else {
        let mut h = vec![
            0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 192, 0, 2, 9,
        ];
        h[2..4].copy_from_slice(&((20 + tcp.len()) as u16).to_be_bytes());
        let c = !fold(sum(&h));
        h[10..12].copy_from_slice(&c.to_be_bytes());
        h
    };
    let at = ip.len();
    ip.extend_from_slice(&tcp);
    let c = full_tcp_checksum(&ip, at);
    ip[at + 16..at + 18].copy_from_slice(&c.to_be_bytes());
    (ip, at)
}

/// Runs `pkts` through the node (as one frame, after a 14-byte Ethernet header) and
/// returns them as they left, with the counters.
fn through(node: &mut MssClamp, pkts: &[Vec<u8>]) -> (Vec<Vec<u8>>, Counters) {
    let mut arena = Arena::new(pkts.len() + 1);
    let mut pool = arena.pool();
    let mut rx = new_frame();
    for p in pkts {
        let mut f = vec![0u8; 14];
        f.extend_from_slice(p);
        let mut b = pool.alloc_from(&f).unwrap();
        b.meta.l3_offset = 14;
        rx.push(b);
    }
    let mut outs: Vec<_> = (0..mss::Next::COUNT).map(|_| new_frame()).collect();
    let mut c = Counters::for_node::<MssClamp>();
    run(
        node,
        &mut rx,
        &mut outs,
        &mut pool,
        &mut c,
        &mut Trace::new(0),
    );
    let got = outs[0].iter().map(|p| p.data()[14..].to_vec()).collect();
    (got, c)
}

fn mss_opt(v: u16) -> [u8; 4] {
    let b = v.to_be_bytes();
    [2, 4, b[0], b[1]]
}

#[test]
fn syn_and_syn_ack_clamped_v4_and_v6() {
    let mut node = MssClamp::for_mtu(1492);
    let (a, ta) = packet(false, 0x02, &mss_opt(1460), b"");
    let (b, tb) = packet(false, 0x12, &mss_opt(1460), b"");
    let (c, tc) = packet(true, 0x02, &mss_opt(1440), b"");
    let (d, _) = packet(false, 0x02, &mss_opt(1400), b""); // already small
    let (out, cnt) = through(&mut node, &[a, b, c, d.clone()]);
    assert_eq!(&out[0][ta + 22..ta + 24], &1452u16.to_be_bytes());
    assert_eq!(&out[1][tb + 22..tb + 24], &1452u16.to_be_bytes());
    assert_eq!(&out[2][tc + 22..tc + 24], &1432u16.to_be_bytes());
    assert_eq!(out[3], d, "an MSS below the clamp is untouched");
    for (p, t) in [(&out[0], ta), (&out[1], tb), (&out[2], tc)] {
        let mut z = p.clone();
        let ck = u16::from_be_bytes([z[t + 16], z[t + 17]]);
        z[t + 16] = 0;
        assert_eq!(ck, full_tcp_checksum(&z, t));
    }
    assert_eq!(cnt.next[mss::Next::Forward as usize], 4);
    assert_eq!((node.stats.syn, node.stats.clamped), (4, 3));
}

#[test]
fn non_syn_non_tcp_fragments_and_malformed_pass_or_drop() {
    let mut node = MssClamp::for_mtu(1492);
    let (ack, _) = packet(false, 0x10, &mss_opt(1460), b"data");
    let (mut frag, _) = packet(false, 0x02, &mss_opt(1460), b"");
    frag[6] = 0x00;
    frag[7] = 0x10; // fragment offset 16: not the first fragment
    let (mut udp, _) = packet(false, 0x02, &mss_opt(1460), b"");
    udp[9] = 17;
    let (mut bad_opts, _) = packet(false, 0x02, &[3, 0, 2, 4, 5, 0xb4, 0, 0], b"");
    bad_opts[0] = 0x45;
    let (mut bad_doff, t) = packet(false, 0x02, &mss_opt(1460), b"");
    bad_doff[t + 12] = 0xf0; // 60-byte header in a 24-byte segment
    let runt = vec![0x45, 0];
    let empty = Vec::new();
    let v7 = vec![0x70; 60];
    let pkts = [ack, frag, udp, bad_opts, bad_doff, runt, empty, v7];
    let (out, cnt) = through(&mut node, &pkts);
    assert_eq!(cnt.drops[mss::Drop::MalformedSyn as usize], 1);
    let kept: Vec<_> = pkts
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 4)
        .map(|(_, p)| p.clone())
        .collect();
    assert_eq!(out, kept, "everything else byte-identical");
    assert_eq!(node.stats.bad_options, 1);
    assert_eq!(node.stats.clamped, 0);
}

#[test]
fn ipv6_extension_headers_walked() {
    let mut node = MssClamp::for_mtu(1492);
    let (p, t) = packet(true, 0x02, &mss_opt(1440), b"");
    // insert an 8-byte Destination Options header (next header TCP)
    let mut q = p[..40].to_vec();
    q[6] = 60;
    let plen = u16::from_be_bytes([q[4], q[5]]) + 8;
    q[4..6].copy_from_slice(&plen.to_be_bytes());
    q.extend_from_slice(&[6, 0, 1, 4, 0, 0, 0, 0]);
    q.extend_from_slice(&p[t..]);
    let (out, _) = through(&mut node, &[q]);
    assert_eq!(&out[0][48 + 22..48 + 24], &1432u16.to_be_bytes());
    assert_eq!(node.stats.clamped, 1);
    let mut z = out[0].clone();
    let ck = u16::from_be_bytes([z[48 + 16], z[48 + 17]]);
    z[48 + 16] = 0;
    z[48 + 17] = 0;
    // the pseudo-header length is the upper-layer length (RFC 8200 section 8.1)
    let seg_len = z.len() - 48;
    let mut pseudo = sum(&z[8..40]) + 6 + seg_len as u32;
    pseudo += sum(&z[48..]);
    assert_eq!(ck, !fold(pseudo));
}

proptest! {
    /// Any option layout (NOPs and other options before the MSS, so its value lands at
    /// even and odd offsets), any MSS and payload: the incremental update equals a full
    /// recomputation, and only the MSS bytes and checksum change.
    #[test]
    fn incremental_checksum_equals_full(
        v6 in any::<bool>(),
        syn_ack in any::<bool>(),
        nops in 0usize..6,
        ts in any::<bool>(),
        mss in any::<u16>(),
        payload in proptest::collection::vec(any::<u8>(), 0..40),
        ports in any::<[u8; 8]>(),
    ) {
        let mut opts = vec![1u8; nops];
        if ts {
            opts.extend_from_slice(&[8, 10, 1, 2, 3, 4, 5, 6, 7, 8]);
        }
        let mss_at = opts.len();
        opts.extend_from_slice(&mss_opt(mss));
        while opts.len() % 4 != 0 {
            opts.push(0);
        }
        let (mut p, t) = packet(v6, if syn_ack { 0x12 } else { 0x02 }, &opts, &payload);
        p[t..t + 8].copy_from_slice(&ports);
        let c = {
            let mut z = p.clone();
            z[t + 16] = 0;
            full_tcp_checksum(&z, t)
        };
        p[t + 16..t + 18].copy_from_slice(&c.to_be_bytes());
        let mut node = MssClamp::for_mtu(1492);
        let limit = if v6 { 1432 } else { 1452 };
        let (out, _) = through(&mut node, &[p.clone()]);
        let o = &out[0];
        let v = t + 20 + mss_at + 2;
        prop_assert_eq!(u16::from_be_bytes([o[v], o[v + 1]]), mss.min(limit));
        let ck = u16::from_be_bytes([o[t + 16], o[t + 17]]);
        prop_assert_eq!(ck, full_tcp_checksum(o, t));
        for (i, (a, b)) in p.iter().zip(o.iter()).enumerate() {
            if a != b {
                prop_assert!(i == v || i == v + 1 || i == t + 16 || i == t + 17, "byte {} changed", i);
            }
        }
    }

    /// Arbitrary bytes never panic and never grow or shrink the packet.
    #[test]
    fn arbitrary_bytes(mut p in proptest::collection::vec(any::<u8>(), 0..120), v in 4u8..7) {
        if let Some(b) = p.first_mut() {
            *b = (v << 4) | (*b & 0x0f);
        }
        let mut node = MssClamp::for_mtu(1492);
        let (out, c) = through(&mut node, &[p.clone()]);
        prop_assert_eq!(c.packets, 1);
        if let Some(o) = out.first() {
            prop_assert_eq!(o.len(), p.len());
        }
    }
}

/// The IP packet of every frame of the captures (any link type) through the clamp with a
/// limit of 536, so most real SYNs are clamped: no panic, nothing but SYNs changes, and
/// every clamped SYN whose checksum verified before still verifies after.
#[test]
fn corpus_syns_clamped_with_checksums_that_verify() {
    let Some(root) = bng_testkit::corpus::dir() else {
        bng_testkit::skip_or_fail("corpus_syns_clamped", "no ../shared/corpus");
        return;
    };
    let mut node = MssClamp {
        mss4: 536,
        mss6: 536,
        ..MssClamp::default()
    };
    let (mut verified, mut frames) = (0u64, 0u64);
    let protos = std::fs::read_dir(&root)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.path().is_dir() && e.file_name() != "vectors" && e.file_name() != "LICENSES")
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect::<Vec<_>>();
    for proto in &protos {
        bng_testkit::corpus::walk("mss corpus", proto, |f| {
            let Some((0x0800 | 0x86dd, ip)) = f.ethertype_payload() else {
                return;
            };
            let ip = &ip[..ip.len().min(1900)];
            frames += 1;
            let (out, _) = through(&mut node, &[ip.to_vec()]);
            let Some(o) = out.first() else {
                return; // a malformed SYN, dropped
            };
            if o[..] == ip[..] {
                return;
            }
            let (t, total) = if ip[0] >> 4 == 4 {
                (
                    usize::from(ip[0] & 0x0f) * 4,
                    usize::from(u16::from_be_bytes([ip[2], ip[3]])),
                )
            } else {
                (40, 40 + usize::from(u16::from_be_bytes([ip[4], ip[5]])))
            };
            assert_ne!(o[t + 13] & 0x02, 0, "only SYNs change");
            if total > ip.len() || total < t + 20 {
                return; // snapped capture: the checksum cannot be verified
            }
            let ok = |x: &[u8]| {
                let x = &x[..total];
                let ck = u16::from_be_bytes([x[t + 16], x[t + 17]]);
                let mut z = x.to_vec();
                z[t + 16] = 0;
                z[t + 17] = 0;
                full_tcp_checksum(&z, t) == ck
            };
            if ok(ip) {
                assert!(
                    ok(o),
                    "{} #{}: checksum after clamping",
                    f.file.display(),
                    f.number
                );
                verified += 1;
            }
        });
    }
    eprintln!(
        "mss corpus: {frames} IP frames, {} SYNs, {} clamped, {verified} checksums verified",
        node.stats.syn, node.stats.clamped
    );
    assert!(verified > 0, "the captures hold SYNs with valid checksums");
}
