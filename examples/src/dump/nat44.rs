//! IPv4 TCP, UDP and ICMP datagrams as a NAT sees them (RFC 791, 793, 768, 792):
//! the 5-tuple, TCP flags, ICMP type and identifier or the quoted datagram of an
//! ICMP error (RFC 5508), checksum verdicts, and a parse -> emit comparison.
//!
//! `mod.rs` calls [`decode`] for IPv4 frames that no other decoder claims.

use std::fmt::Write as _;

use bng_nat44::wire::{Ipv4Packet, L4Repr, PacketRepr, transport_checksum_ok};

use super::{Check, Line};

/// Decodes an IPv4 datagram (the payload after the link header).
pub(super) fn decode(l3: &[u8]) -> Line {
    let p = match Ipv4Packet::new_checked(l3) {
        Ok(p) => p,
        Err(e) => return Line::new(format!("IPv4: {e}"), Check::ParseFailed),
    };
    let mut s = format!(
        "IPv4 {} > {} {:?} len {} ttl {}",
        p.src_addr(),
        p.dst_addr(),
        p.protocol(),
        p.total_len(),
        p.ttl()
    );
    if !p.verify_checksum() {
        s.push_str(" [bad ip cksum]");
    }
    if p.is_fragment() {
        let _ = write!(
            s,
            " frag id {:#06x} off {}{}",
            p.ident(),
            u32::from(p.frag_offset()) * 8,
            if p.more_frags() { " MF" } else { "" }
        );
        return Line::new(s, Check::NotApplicable);
    }
    let r = match PacketRepr::parse(&p) {
        Ok(r) => r,
        Err(e) => {
            let _ = write!(s, ": {e}");
            return Line::new(s, Check::ParseFailed);
        }
    };
    match r.l4 {
        L4Repr::Tcp {
            src_port,
            dst_port,
            flags,
            seq,
            ..
        } => {
            let _ = write!(s, " TCP {src_port} > {dst_port} {flags:?} seq {seq}");
        }
        L4Repr::Udp {
            src_port,
            dst_port,
            checksum,
        } => {
            let _ = write!(s, " UDP {src_port} > {dst_port}");
            if !checksum {
                s.push_str(" no-cksum");
            }
        }
        L4Repr::Icmp { kind, code, rest } => {
            let _ = write!(s, " ICMP {kind:?} code {code}");
            if kind.query_request().is_some() {
                let _ = write!(s, " id {}", u16::from_be_bytes([rest[0], rest[1]]));
            } else if kind.is_error() {
                if let Ok(q) = Ipv4Packet::new_checked(r.payload) {
                    let _ = write!(
                        s,
                        " quoting {} > {} {:?}",
                        q.src_addr(),
                        q.dst_addr(),
                        q.protocol()
                    );
                } else {
                    // usually a quote of header + 8 bytes: Total Length exceeds it
                    let addr = |at: usize| {
                        r.payload
                            .get(at..at + 4)
                            .and_then(|x| <[u8; 4]>::try_from(x).ok())
                            .map(std::net::Ipv4Addr::from)
                    };
                    if let (Some(a), Some(b)) = (addr(12), addr(16)) {
                        let _ = write!(s, " quoting {a} > {b} (truncated)");
                    }
                }
            }
        }
        _ => {}
    }
    let transport_ok = transport_checksum_ok(&p);
    if !transport_ok {
        s.push_str(" [bad l4 cksum]");
    }
    let mut out = vec![0u8; r.buffer_len()];
    let check = match r.emit(&mut out) {
        Ok(n) if out.get(..n) == Some(p.as_bytes()) => Check::Same,
        _ if !p.verify_checksum() || !transport_ok => Check::NotApplicable,
        _ => Check::Differs,
    };
    Line::new(s, check)
}
