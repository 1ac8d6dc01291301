//! PPPoE discovery and session headers (RFC 2516).

use std::fmt::Write as _;

use bng_pppoe::discovery::{Code, Packet, Repr, TagType};
use bng_pppoe::ppp::Protocol;
use bng_pppoe::ppp::packet::ControlRepr;
use bng_pppoe::tags::{BBF_VENDOR_ID, VendorSpecific};

use super::{Check, Line, text_or_hex};

/// Decodes a PPPoE frame payload (after the Ethernet header).
pub(super) fn decode(ethertype: u16, payload: &[u8]) -> Line {
    let p = match Packet::new_checked(payload) {
        Ok(p) => p,
        Err(e) => return Line::new(format!("PPPoE: {e}"), Check::ParseFailed),
    };
    if ethertype == 0x8864 || p.code() == Code::SESSION {
        return session(&p);
    }
    let r = match Repr::parse(&p) {
        Ok(r) => r,
        Err(e) => return Line::new(format!("PPPoE-D {:?}: {e}", p.code()), Check::ParseFailed),
    };
    let mut s = format!("PPPoE-D {:?} session {:#06x}", r.code, r.session_id);
    for t in p.tags().map_while(Result::ok) {
        let v = match t.kind {
            TagType::SERVICE_NAME
            | TagType::AC_NAME
            | TagType::SERVICE_NAME_ERROR
            | TagType::AC_SYSTEM_ERROR
            | TagType::GENERIC_ERROR => text_or_hex(t.value),
            TagType::PPP_MAX_PAYLOAD => t
                .value
                .first_chunk::<2>()
                .map_or_else(|| "?".into(), |b| u16::from_be_bytes(*b).to_string()),
            TagType::VENDOR_SPECIFIC => vendor(t.value),
            _ => format!("0x{}", super::hex(t.value)),
        };
        let _ = write!(s, " [{:?} {v}]", t.kind);
    }
    let mut out = vec![0u8; r.buffer_len()];
    let check = match r.emit(&mut out) {
        Ok(n) if out.get(..n) == Some(p.as_bytes()) => Check::Same,
        _ => Check::Differs,
    };
    Line::new(s, check)
}

/// A Vendor-Specific tag: the Broadband Forum's TR-101 sub-options by name, other
/// vendors as id and hex.
fn vendor(value: &[u8]) -> String {
    let Ok(vs) = VendorSpecific::new(value) else {
        return format!("0x{}", super::hex(value));
    };
    if vs.vendor_id != BBF_VENDOR_ID {
        return format!("vendor {} 0x{}", vs.vendor_id, super::hex(vs.data));
    }
    let mut s = String::from("BBF");
    for sub in vs.sub_options() {
        let Ok(sub) = sub else {
            s.push_str(" <malformed>");
            break;
        };
        let name = sub
            .kind
            .name()
            .map_or_else(|| format!("{:#04x}", sub.kind.0), str::to_owned);
        let v = if sub.kind.0 >= 0x81 && sub.kind.0 <= 0x8e {
            sub.as_u32()
                .map_or_else(|| text_or_hex(sub.value), |n| n.to_string())
        } else {
            text_or_hex(sub.value)
        };
        let _ = write!(s, " {name}={v}");
    }
    s
}

/// A session-stage frame (RFC 2516 section 6): the PPP protocol and, for the control
/// protocols (LCP, PAP, CHAP, IPCP, IPv6CP, CCP, ...: RFC 1661 section 5 framing), the
/// packet's code, identifier and options, with a re-emit check of the control packet.
fn session(p: &Packet<&[u8]>) -> Line {
    let head = format!("PPPoE-S session {:#06x}", p.session_id());
    let Some((proto, info)) = p.payload().split_first_chunk::<2>() else {
        return Line::new(format!("{head} (no PPP protocol)"), Check::ParseFailed);
    };
    let proto = Protocol(u16::from_be_bytes(*proto));
    if proto.0 < 0x8000 {
        return Line::new(
            format!("{head} {proto:?} data {} bytes", info.len()),
            Check::NotApplicable,
        );
    }
    let r = match ControlRepr::parse_bytes(info) {
        Ok(r) => r,
        Err(e) => return Line::new(format!("{head} {proto:?}: {e}"), Check::ParseFailed),
    };
    let mut s = format!("{head} {proto:?} {:?} id {}", r.code, r.identifier);
    let configure =
        (1..=4).contains(&r.code.0) && proto != Protocol::PAP && proto != Protocol::CHAP;
    if configure {
        for o in r.options().map_while(Result::ok) {
            let _ = write!(s, " [opt {} 0x{}]", o.kind, super::hex(o.data));
        }
    } else if !r.data.is_empty() {
        let _ = write!(s, " data {}", text_or_hex(r.data));
    }
    // the packet's Length field (bytes 2..4) bounds it inside any trailing padding
    let wire = info
        .get(2..)
        .and_then(<[u8]>::first_chunk::<2>)
        .map_or(0, |b| usize::from(u16::from_be_bytes(*b)));
    let mut out = vec![0u8; info.len().max(4)];
    let check = match r.emit(&mut out) {
        Ok(n) if n == wire && out.get(..n) == info.get(..n) => Check::Same,
        _ => Check::Differs,
    };
    Line::new(s, check)
}
