//! RADIUS (RFC 2865, 2866, 5176): one line per packet with code, identifier, length and
//! the main attributes, and a byte-identical re-emit check.

use std::fmt::Write as _;

use bng_radius::dict::{
    AcctStatusType, AttrType, ErrorCause, FramedProtocol, NasPortType, ServiceType, TerminateCause,
};
use bng_radius::packet::{Attr, Packet, Repr};
use bng_testkit::corpus::Udp;

use super::{Check, Line, hex, text_or_hex};

/// Decodes a UDP datagram already classified as RADIUS by port.
pub(super) fn decode(u: &Udp<'_>) -> Line {
    let p = match Packet::new_checked(u.payload) {
        Ok(p) => p,
        Err(e) => {
            return Line::new(
                format!("RADIUS: {e} ({} bytes)", u.payload.len()),
                Check::ParseFailed,
            );
        }
    };
    let mut s = format!(
        "RADIUS {:?} id {} len {}",
        p.code(),
        p.identifier(),
        p.length()
    );
    let mut n = 0;
    for a in p.attributes().map_while(Result::ok) {
        n += 1;
        let v = value(&a);
        if n <= 12 {
            let _ = write!(s, " [{:?} {v}]", a.kind);
        }
    }
    if n > 12 {
        let _ = write!(s, " (+{} more)", n - 12);
    }
    let check = match Repr::parse(&p) {
        Ok(r) => {
            let mut out = vec![0u8; r.buffer_len()];
            match r.emit(&mut out) {
                Ok(k) if out.get(..k) == Some(p.as_bytes()) => Check::Same,
                _ => Check::Differs,
            }
        }
        Err(_) => Check::ParseFailed,
    };
    Line::new(s, check)
}

/// One attribute value, typed where the dictionary says how.
fn value(a: &Attr<'_>) -> String {
    match a.kind {
        AttrType::USER_PASSWORD
        | AttrType::MESSAGE_AUTHENTICATOR
        | AttrType::CHAP_PASSWORD
        | AttrType::TUNNEL_PASSWORD => format!("<{} bytes>", a.value.len()),
        AttrType::ACCT_STATUS_TYPE => a
            .as_u32()
            .map_or_else(|| hex(a.value), |v| format!("{:?}", AcctStatusType(v))),
        AttrType::ACCT_TERMINATE_CAUSE => a
            .as_u32()
            .map_or_else(|| hex(a.value), |v| format!("{:?}", TerminateCause(v))),
        AttrType::ERROR_CAUSE => a
            .as_u32()
            .map_or_else(|| hex(a.value), |v| format!("{:?}", ErrorCause(v))),
        AttrType::NAS_IP_ADDRESS | AttrType::FRAMED_IP_ADDRESS | AttrType::FRAMED_IP_NETMASK => {
            a.as_ipv4().map_or_else(|| hex(a.value), |v| v.to_string())
        }
        AttrType::NAS_IPV6_ADDRESS | AttrType::FRAMED_IPV6_ADDRESS => {
            a.as_ipv6().map_or_else(|| hex(a.value), |v| v.to_string())
        }
        AttrType::FRAMED_IPV6_PREFIX | AttrType::DELEGATED_IPV6_PREFIX => a
            .as_ipv6_prefix()
            .map_or_else(|| hex(a.value), |v| format!("{}/{}", v.addr, v.len)),
        AttrType::VENDOR_SPECIFIC => a.as_vendor_specific().map_or_else(
            || hex(a.value),
            |(vid, subs)| {
                let mut t = format!("vendor {vid}");
                for sa in subs.map_while(Result::ok) {
                    let _ = write!(t, " {}={}", sa.vendor_type, text_or_hex(sa.value));
                }
                t
            },
        ),
        AttrType::SERVICE_TYPE => a
            .as_u32()
            .map_or_else(|| hex(a.value), |v| format!("{:?}", ServiceType(v))),
        AttrType::FRAMED_PROTOCOL => a
            .as_u32()
            .map_or_else(|| hex(a.value), |v| format!("{:?}", FramedProtocol(v))),
        AttrType::NAS_PORT_TYPE => a
            .as_u32()
            .map_or_else(|| hex(a.value), |v| format!("{:?}", NasPortType(v))),
        AttrType::NAS_PORT
        | AttrType::FRAMED_MTU
        | AttrType::SESSION_TIMEOUT
        | AttrType::IDLE_TIMEOUT
        | AttrType::LOGIN_SERVICE
        | AttrType::LOGIN_TCP_PORT
        | AttrType::ACCT_DELAY_TIME
        | AttrType::ACCT_INPUT_OCTETS
        | AttrType::ACCT_OUTPUT_OCTETS
        | AttrType::ACCT_INPUT_GIGAWORDS
        | AttrType::ACCT_OUTPUT_GIGAWORDS
        | AttrType::ACCT_INPUT_PACKETS
        | AttrType::ACCT_OUTPUT_PACKETS
        | AttrType::ACCT_SESSION_TIME
        | AttrType::ACCT_AUTHENTIC
        | AttrType::ACCT_LINK_COUNT
        | AttrType::ACCT_INTERIM_INTERVAL
        | AttrType::EVENT_TIMESTAMP
        | AttrType::PORT_LIMIT
        | AttrType::TERMINATION_ACTION => {
            a.as_u32().map_or_else(|| hex(a.value), |v| v.to_string())
        }
        _ => text_or_hex(a.value),
    }
}
