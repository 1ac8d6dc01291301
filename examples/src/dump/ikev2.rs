//! IKEv2 messages (RFC 7296 section 3); IKEv1/ISAKMP is recognised by its version
//! and not decoded.

use std::fmt::Write as _;

use bng_ikev2::ParseError;
use bng_ikev2::header::{Packet, strip_non_esp_marker};
use bng_ikev2::message::Repr;
use bng_ikev2::payload::Payload;
use bng_ikev2::types::{DhGroup, EncrId, IntegId, PrfId, TransformType};
use bng_testkit::corpus::Udp;

use super::{Check, Line, text_or_hex};

/// Decodes a UDP datagram already classified as ikev2 by port.
pub(super) fn decode(u: &Udp<'_>) -> Line {
    let bytes = if u.sport == 4500 || u.dport == 4500 {
        strip_non_esp_marker(u.payload).unwrap_or(u.payload)
    } else {
        u.payload
    };
    let p = match Packet::new_checked(bytes) {
        Ok(p) => p,
        Err(ParseError::Ikev1 { minor }) => {
            return Line::new(
                format!(
                    "ISAKMP/IKEv1 1.{minor} ({} bytes, not decoded)",
                    bytes.len()
                ),
                Check::NotApplicable,
            );
        }
        Err(e) => return Line::new(format!("IKEv2: {e}"), Check::ParseFailed),
    };
    let f = p.flags();
    let mut s = format!(
        "IKEv2 {:?} {}{} msgid {} spi {}->{}",
        p.exchange(),
        if f.initiator() { "I" } else { "" },
        if f.response() { "R" } else { "" },
        p.message_id(),
        super::hex(&p.spi_i()),
        super::hex(&p.spi_r()),
    );
    for raw in p.payloads() {
        let raw = match raw {
            Ok(r) => r,
            Err(e) => {
                let _ = write!(s, " [error: {e}]");
                break;
            }
        };
        let _ = match Payload::parse(&raw) {
            Ok(pl) => write!(s, " {}", payload(&pl)),
            Err(e) => write!(s, " [{:?}: {e}]", raw.kind),
        };
    }
    let r = match Repr::parse(&p) {
        Ok(r) => r,
        Err(e) => return Line::new(format!("{s} ({e})"), Check::ParseFailed),
    };
    let mut out = vec![0u8; r.buffer_len()];
    let check = match r.emit(&mut out) {
        Ok(n) if out.get(..n) == Some(p.as_bytes()) => Check::Same,
        _ => Check::Differs,
    };
    Line::new(s, check)
}

fn transform_name(kind: TransformType, id: u16) -> String {
    match kind {
        TransformType::ENCR => format!("{:?}", EncrId(id)),
        TransformType::PRF => format!("{:?}", PrfId(id)),
        TransformType::INTEG => format!("{:?}", IntegId(id)),
        TransformType::DH => format!("{:?}", DhGroup(id)),
        _ => format!("{kind:?}:{id}"),
    }
}

fn payload(p: &Payload<'_>) -> String {
    match p {
        Payload::Sa(sa) => {
            let mut s = String::from("SA(");
            for (i, prop) in sa.proposals().map_while(Result::ok).enumerate() {
                if i > 0 {
                    s.push_str(" | ");
                }
                let _ = write!(s, "#{} {:?}", prop.num, prop.protocol);
                for t in prop.transforms().map_while(Result::ok) {
                    let _ = write!(s, " {}", transform_name(t.kind, t.id));
                    if let Some(k) = t.key_length() {
                        let _ = write!(s, "/{k}");
                    }
                }
            }
            s.push(')');
            s
        }
        Payload::Ke(k) => format!("KE({:?}, {} bytes)", k.group, k.data.len()),
        Payload::Idi(id) | Payload::Idr(id) => {
            format!("{:?}({:?} {})", p.kind(), id.id_type, text_or_hex(id.data))
        }
        Payload::Auth(a) => format!("AUTH({:?}, {} bytes)", a.method, a.data.len()),
        Payload::Nonce(n) => format!("Nonce({} bytes)", n.len()),
        Payload::Notify(n) => format!("N({:?})", n.notify_type),
        Payload::Delete(d) => format!("D({:?}, {} SPIs)", d.protocol, d.spis().count()),
        Payload::VendorId(v) => format!("V({})", text_or_hex(v)),
        Payload::Tsi(t) | Payload::Tsr(t) => format!("{:?}({} TS)", p.kind(), t.iter().count()),
        Payload::Sk(sk) => format!("SK(first {:?}, {} bytes)", sk.first_inner, sk.body.len()),
        Payload::Skf(f) => format!("SKF({}/{})", f.number, f.total),
        Payload::Cp(c) => format!("CP({:?})", c.cfg_type),
        other => format!("{:?}({} bytes)", other.kind(), other.body_len()),
    }
}
