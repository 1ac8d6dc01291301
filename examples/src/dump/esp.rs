//! bngdump decoding for `bng-esp`: ESP (RFC 4303) in IP protocol 50 and in
//! UDP/4500 (RFC 3948: ESP, NAT-keepalive, or IKE behind the non-ESP marker).

use bng_esp::natt::{self, Payload};
use bng_esp::wire::{IP_PROTO_ESP, Packet, Repr};
use bng_testkit::corpus::Udp;

use super::{Check, Line};

/// One ESP packet: SPI, sequence number, length, and the header re-emit check.
fn esp_line(bytes: &[u8]) -> Line {
    let p = match Packet::new_checked(bytes) {
        Ok(p) => p,
        Err(e) => return Line::new(format!("ESP: {e}"), Check::ParseFailed),
    };
    let r = match Repr::parse(&p) {
        Ok(r) => r,
        Err(e) => return Line::new(format!("ESP: {e}"), Check::ParseFailed),
    };
    let mut out = [0u8; 8];
    let check = match r.emit(&mut out) {
        Ok(n) if out.get(..n) == bytes.get(..8) => Check::Same,
        _ => Check::Differs,
    };
    Line::new(
        format!(
            "ESP(spi={:#010x},seq={:#x}), length {}",
            r.spi.0,
            r.seq,
            bytes.len()
        ),
        check,
    )
}

/// Decodes a UDP datagram already classified as esp by port (4500).
pub(super) fn decode(u: &Udp<'_>) -> Line {
    match natt::classify(u.payload) {
        Ok(Payload::Keepalive) => Line::new("NAT-keepalive".into(), Check::NotApplicable),
        Ok(Payload::Ike(b)) => Line::new(
            format!("NONESP-encap: IKE, {} bytes", b.len()),
            Check::NotApplicable,
        ),
        Ok(Payload::Esp(b)) => {
            let mut l = esp_line(b);
            l.text = format!("UDP-encap: {}", l.text);
            l
        }
        Err(e) => Line::new(format!("UDP-encap: {e}"), Check::ParseFailed),
    }
}

/// Decodes an IPv4/IPv6 packet whose protocol (first next header) is ESP (50);
/// `None` for anything else.
pub(super) fn decode_ip(l3: &[u8]) -> Option<Line> {
    let (proto, esp) = match l3.first()? >> 4 {
        4 => {
            let hl = usize::from(l3.first()? & 0x0f) * 4;
            let total = l3
                .get(2..)
                .and_then(<[u8]>::first_chunk::<2>)
                .map(|b| usize::from(u16::from_be_bytes(*b)))?;
            let end = total.clamp(hl, l3.len());
            (*l3.get(9)?, l3.get(hl..end)?)
        }
        6 => (*l3.get(6)?, l3.get(40..)?),
        _ => return None,
    };
    (proto == IP_PROTO_ESP).then(|| esp_line(esp))
}
