//! `bngdump`: one line per captured frame with the decoded BNG protocol fields, and a
//! byte-for-byte re-emit check of every message the crates can parse.
//!
//! Each protocol has its own module with one `decode` function; the dispatcher here
//! only peels the link layer and picks the module by ethertype or UDP port.

use core::fmt::Write as _;

use bng_testkit::corpus::Frame;

mod dhcp;
mod esp;
mod ikev2;
mod nat44;
mod pppoe;
mod radius;

/// The re-emit verdict for one frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// Parsed, re-emitted, and the bytes are identical.
    Same,
    /// Parsed and re-emitted, but the bytes differ (a bug, or a non-canonical input).
    Differs,
    /// The frame did not parse (the line says why).
    ParseFailed,
    /// Nothing to check (not a protocol we decode).
    NotApplicable,
}

/// One decoded frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// Human-readable decode.
    pub text: String,
    /// Re-emit verdict.
    pub check: Check,
}

impl Line {
    fn new(text: String, check: Check) -> Self {
        Self { text, check }
    }
}

/// Decodes one frame.
#[must_use]
pub fn decode(frame: &Frame<'_>) -> Line {
    let Some((ethertype, payload)) = frame.ethertype_payload() else {
        return Line::new(
            format!("link {:?}: not decoded", frame.link),
            Check::NotApplicable,
        );
    };
    match ethertype {
        0x8863 | 0x8864 => pppoe::decode(ethertype, payload),
        0x0800 | 0x86dd => {
            if let Some(u) = frame.udp() {
                let ports = [u.sport, u.dport];
                let has = |p: &[u16]| ports.iter().any(|x| p.contains(x));
                let mut line = if has(&[67, 68]) || has(&[546, 547]) {
                    dhcp::decode(&u)
                } else if has(&[1812, 1813, 1645, 1646, 3799]) {
                    radius::decode(&u)
                } else if has(&[500]) || (has(&[4500]) && u.payload.starts_with(&[0; 4])) {
                    ikev2::decode(&u)
                } else if has(&[4500]) {
                    esp::decode(&u)
                } else if ethertype == 0x0800 {
                    return nat44::decode(payload);
                } else {
                    Line::new(format!("UDP len {}", u.payload.len()), Check::NotApplicable)
                };
                line.text = format!(
                    "{}.{} > {}.{} {}",
                    u.src, u.sport, u.dst, u.dport, line.text
                );
                line
            } else if let Some(line) = esp::decode_ip(payload) {
                line
            } else if ethertype == 0x0800 {
                nat44::decode(payload)
            } else {
                Line::new(
                    format!("ethertype {ethertype:#06x} (IP, not decoded)"),
                    Check::NotApplicable,
                )
            }
        }
        _ => Line::new(
            format!("ethertype {ethertype:#06x}: not decoded"),
            Check::NotApplicable,
        ),
    }
}

/// Writes `bytes` as lowercase hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// Writes `bytes` as text when printable ASCII, else as hex.
pub(crate) fn text_or_hex(bytes: &[u8]) -> String {
    if bytes.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
        format!("\"{}\"", String::from_utf8_lossy(bytes))
    } else {
        format!("0x{}", hex(bytes))
    }
}
