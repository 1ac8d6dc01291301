//! PPPoE discovery and session headers (RFC 2516).

use std::fmt::Write as _;

use bng_pppoe::discovery::{Code, Packet, Repr, TagType};
use bng_pppoe::tags::{BBF_VENDOR_ID, VendorSpecific};

use super::{Check, Line, text_or_hex};

/// Decodes a PPPoE frame payload (after the Ethernet header).
pub(super) fn decode(ethertype: u16, payload: &[u8]) -> Line {
    let p = match Packet::new_checked(payload) {
        Ok(p) => p,
        Err(e) => return Line::new(format!("PPPoE: {e}"), Check::ParseFailed),
    };
    if ethertype == 0x8864 || p.code() == Code::SESSION {
        let proto = p
            .payload()
            .first_chunk::<2>()
            .map(|b| u16::from_be_bytes(*b));
        let text = format!(
            "PPPoE-S session {:#06x} len {} ppp-proto {}",
            p.session_id(),
            p.payload_len(),
            proto.map_or_else(|| "-".into(), |v| format!("{v:#06x}"))
        );
        return Line::new(text, Check::NotApplicable);
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
