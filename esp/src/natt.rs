//! UDP encapsulation of ESP for NAT traversal (RFC 3948).
//!
//! On UDP port 4500 three things share the port (RFC 3948 section 2):
//! an ESP packet (its first 4 bytes are a non-zero SPI), an IKE message behind
//! the 4-byte all-zero non-ESP marker (section 2.2), and the NAT-keepalive, a
//! single 0xFF byte (section 2.3).

use crate::error::{EmitError, ParseError};
use crate::wire::HEADER_LEN;

/// The IANA UDP port for IKE and UDP-encapsulated ESP (RFC 3948 section 2).
pub const PORT: u16 = 4500;

/// The non-ESP marker (RFC 3948 section 2.2).
pub const NON_ESP_MARKER: [u8; 4] = [0; 4];

/// The NAT-keepalive payload (RFC 3948 section 2.3).
pub const KEEPALIVE: [u8; 1] = [0xff];

/// What a UDP/4500 payload carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payload<'a> {
    /// A NAT-keepalive (one 0xFF byte): drop it, it only refreshes NAT state.
    Keepalive,
    /// An IKE message, after the non-ESP marker (which is stripped here).
    Ike(&'a [u8]),
    /// An ESP packet (from the SPI on).
    Esp(&'a [u8]),
}

/// Classifies a UDP/4500 payload (RFC 3948 section 2).
///
/// # Errors
/// [`ParseError::Truncated`] for a payload that is none of the three (too short
/// for an ESP header and not a keepalive), e.g. an empty datagram.
pub fn classify(payload: &[u8]) -> Result<Payload<'_>, ParseError> {
    if payload == KEEPALIVE {
        return Ok(Payload::Keepalive);
    }
    if let Some(rest) = payload.strip_prefix(&NON_ESP_MARKER) {
        return Ok(Payload::Ike(rest));
    }
    if payload.len() < HEADER_LEN {
        return Err(ParseError::Truncated {
            needed: HEADER_LEN,
            available: payload.len(),
        });
    }
    Ok(Payload::Esp(payload))
}

/// Writes a NAT-keepalive payload (RFC 3948 section 2.3) into `out`.
///
/// # Errors
/// [`EmitError::BufferTooSmall`] when `out` is empty.
pub fn emit_keepalive(out: &mut [u8]) -> Result<usize, EmitError> {
    let b = out.first_mut().ok_or(EmitError::BufferTooSmall {
        needed: 1,
        available: 0,
    })?;
    *b = 0xff;
    Ok(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_kinds() {
        assert_eq!(classify(&[0xff]), Ok(Payload::Keepalive));
        assert_eq!(classify(&[0, 0, 0, 0, 1, 2]), Ok(Payload::Ike(&[1, 2])));
        assert_eq!(
            classify(&[0, 0, 1, 0, 0, 0, 0, 1]),
            Ok(Payload::Esp(&[0, 0, 1, 0, 0, 0, 0, 1]))
        );
        assert!(classify(&[]).is_err());
        assert!(classify(&[0xff, 0xff]).is_err());
        let mut b = [0u8; 1];
        assert_eq!(emit_keepalive(&mut b), Ok(1));
        assert_eq!(b, KEEPALIVE);
    }
}
