//! Authentication packets: PAP (RFC 1334 section 2.2) and CHAP (RFC 1994 section
//! 4), with the CHAP-MD5 response of RFC 1994 section 4.1 computed by the `md-5`
//! crate. Both share the control packet header of RFC 1661 section 5.

use md5::{Digest, Md5};

use crate::error::{EmitError, ParseError};

use super::packet::{Code, ControlPacket, HEADER_LEN, Writer, emit_header};

/// Length of the CHAP-MD5 challenge we send (RFC 1994 section 4.1 leaves it free;
/// 16 octets as pppd and accel-ppp).
pub const CHALLENGE_LEN: usize = 16;

/// PAP codes (RFC 1334 section 2.2).
pub mod pap_code {
    use super::Code;
    /// Authenticate-Request.
    pub const REQUEST: Code = Code(1);
    /// Authenticate-Ack.
    pub const ACK: Code = Code(2);
    /// Authenticate-Nak.
    pub const NAK: Code = Code(3);
}

/// CHAP codes (RFC 1994 section 4).
pub mod chap_code {
    use super::Code;
    /// Challenge.
    pub const CHALLENGE: Code = Code(1);
    /// Response.
    pub const RESPONSE: Code = Code(2);
    /// Success.
    pub const SUCCESS: Code = Code(3);
    /// Failure.
    pub const FAILURE: Code = Code(4);
}

/// A PAP packet (RFC 1334 section 2.2), borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PapRepr<'a> {
    /// Authenticate-Request: Peer-ID and Password (2.2.1).
    Request {
        /// Identifier.
        id: u8,
        /// Peer-ID.
        peer_id: &'a [u8],
        /// Password.
        password: &'a [u8],
    },
    /// Authenticate-Ack with a message (2.2.2).
    Ack {
        /// Identifier.
        id: u8,
        /// Message.
        message: &'a [u8],
    },
    /// Authenticate-Nak with a message (2.2.2).
    Nak {
        /// Identifier.
        id: u8,
        /// Message.
        message: &'a [u8],
    },
}

fn lv(data: &[u8]) -> Result<(&[u8], &[u8]), ParseError> {
    let (&n, rest) = data.split_first().ok_or(ParseError::Truncated {
        needed: 1,
        available: 0,
    })?;
    rest.split_at_checked(usize::from(n))
        .ok_or(ParseError::BadLength)
}

fn len_u8(b: &[u8]) -> Result<u8, EmitError> {
    u8::try_from(b.len()).map_err(|_| EmitError::ValueTooLarge("field longer than 255"))
}

impl<'a> PapRepr<'a> {
    /// Parses a PAP packet.
    ///
    /// # Errors
    /// [`ParseError::BadLength`] / [`ParseError::Truncated`] for inconsistent
    /// lengths, [`ParseError::InvalidField`] for an unknown code or trailing bytes.
    pub fn parse(p: &ControlPacket<&'a [u8]>) -> Result<Self, ParseError> {
        let id = p.identifier();
        let data = data_of(p)?;
        match p.code() {
            pap_code::REQUEST => {
                let (peer_id, rest) = lv(data)?;
                let (password, rest) = lv(rest)?;
                if !rest.is_empty() {
                    return Err(ParseError::InvalidField("PAP request trailing bytes"));
                }
                Ok(Self::Request {
                    id,
                    peer_id,
                    password,
                })
            }
            c @ (pap_code::ACK | pap_code::NAK) => {
                // Msg-Length is required (section 2.2.2); a Session tolerates its
                // absence as pppd does, but a Repr must re-emit identically.
                let (message, rest) = lv(data)?;
                if !rest.is_empty() {
                    return Err(ParseError::InvalidField("PAP reply trailing bytes"));
                }
                Ok(if c == pap_code::ACK {
                    Self::Ack { id, message }
                } else {
                    Self::Nak { id, message }
                })
            }
            _ => Err(ParseError::InvalidField("PAP code")),
        }
    }

    /// Bytes [`PapRepr::emit`] writes.
    #[must_use]
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
            + match self {
                Self::Request {
                    peer_id, password, ..
                } => 2 + peer_id.len() + password.len(),
                Self::Ack { message, .. } | Self::Nak { message, .. } => 1 + message.len(),
            }
    }

    /// Writes the packet.
    ///
    /// # Errors
    /// [`EmitError::BufferTooSmall`] or [`EmitError::ValueTooLarge`].
    pub fn emit(&self, out: &mut [u8]) -> Result<usize, EmitError> {
        let total = self.buffer_len();
        let available = out.len();
        if available < total {
            return Err(EmitError::BufferTooSmall {
                needed: total,
                available,
            });
        }
        let (code, id) = match *self {
            Self::Request { id, .. } => (pap_code::REQUEST, id),
            Self::Ack { id, .. } => (pap_code::ACK, id),
            Self::Nak { id, .. } => (pap_code::NAK, id),
        };
        let mut w = Writer::new(out.get_mut(HEADER_LEN..).unwrap_or_default());
        match *self {
            Self::Request {
                peer_id, password, ..
            } => {
                w.bytes(&[len_u8(peer_id)?]);
                w.bytes(peer_id);
                w.bytes(&[len_u8(password)?]);
                w.bytes(password);
            }
            Self::Ack { message, .. } | Self::Nak { message, .. } => {
                w.bytes(&[len_u8(message)?]);
                w.bytes(message);
            }
        }
        w.finish()?;
        emit_header(code, id, total, out)?;
        Ok(total)
    }
}

/// A CHAP packet (RFC 1994 section 4), borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChapRepr<'a> {
    /// Challenge: Value and Name (4.1).
    Challenge {
        /// Identifier.
        id: u8,
        /// Challenge value.
        value: &'a [u8],
        /// Name of the authenticator.
        name: &'a [u8],
    },
    /// Response: Value and Name (4.1).
    Response {
        /// Identifier (echoes the Challenge's).
        id: u8,
        /// Response value (16 octets for MD5).
        value: &'a [u8],
        /// Name of the peer.
        name: &'a [u8],
    },
    /// Success with a message (4.2).
    Success {
        /// Identifier.
        id: u8,
        /// Message.
        message: &'a [u8],
    },
    /// Failure with a message (4.2).
    Failure {
        /// Identifier.
        id: u8,
        /// Message.
        message: &'a [u8],
    },
}

fn data_of<'a>(p: &ControlPacket<&'a [u8]>) -> Result<&'a [u8], ParseError> {
    let len = usize::from(p.length());
    let b: &'a [u8] = p.inner();
    b.get(HEADER_LEN..len).ok_or(ParseError::BadLength)
}

impl<'a> ChapRepr<'a> {
    /// Parses a CHAP packet.
    ///
    /// # Errors
    /// [`ParseError::BadLength`] / [`ParseError::Truncated`] for an inconsistent
    /// Value-Size, [`ParseError::InvalidField`] for an unknown code.
    pub fn parse(p: &ControlPacket<&'a [u8]>) -> Result<Self, ParseError> {
        let id = p.identifier();
        let data = data_of(p)?;
        match p.code() {
            c @ (chap_code::CHALLENGE | chap_code::RESPONSE) => {
                let (value, name) = lv(data)?;
                if value.is_empty() {
                    return Err(ParseError::InvalidField("CHAP Value-Size 0"));
                }
                Ok(if c == chap_code::CHALLENGE {
                    Self::Challenge { id, value, name }
                } else {
                    Self::Response { id, value, name }
                })
            }
            chap_code::SUCCESS => Ok(Self::Success { id, message: data }),
            chap_code::FAILURE => Ok(Self::Failure { id, message: data }),
            _ => Err(ParseError::InvalidField("CHAP code")),
        }
    }

    /// Bytes [`ChapRepr::emit`] writes.
    #[must_use]
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
            + match self {
                Self::Challenge { value, name, .. } | Self::Response { value, name, .. } => {
                    1 + value.len() + name.len()
                }
                Self::Success { message, .. } | Self::Failure { message, .. } => message.len(),
            }
    }

    /// Writes the packet.
    ///
    /// # Errors
    /// [`EmitError::BufferTooSmall`] or [`EmitError::ValueTooLarge`].
    pub fn emit(&self, out: &mut [u8]) -> Result<usize, EmitError> {
        let total = self.buffer_len();
        let available = out.len();
        if available < total {
            return Err(EmitError::BufferTooSmall {
                needed: total,
                available,
            });
        }
        let (code, id) = match *self {
            Self::Challenge { id, .. } => (chap_code::CHALLENGE, id),
            Self::Response { id, .. } => (chap_code::RESPONSE, id),
            Self::Success { id, .. } => (chap_code::SUCCESS, id),
            Self::Failure { id, .. } => (chap_code::FAILURE, id),
        };
        let mut w = Writer::new(out.get_mut(HEADER_LEN..).unwrap_or_default());
        match *self {
            Self::Challenge { value, name, .. } | Self::Response { value, name, .. } => {
                w.bytes(&[len_u8(value)?]);
                w.bytes(value);
                w.bytes(name);
            }
            Self::Success { message, .. } | Self::Failure { message, .. } => w.bytes(message),
        }
        w.finish()?;
        emit_header(code, id, total, out)?;
        Ok(total)
    }
}

/// The CHAP-MD5 response: MD5 over Identifier, secret and challenge
/// (RFC 1994 section 4.1 and RFC 1321).
#[must_use]
pub fn chap_md5_response(id: u8, secret: &[u8], challenge: &[u8]) -> [u8; 16] {
    let mut h = Md5::new();
    h.update([id]);
    h.update(secret);
    h.update(challenge);
    h.finalize().into()
}

/// Checks a CHAP-MD5 response against the shared secret (constant-time compare).
#[must_use]
pub fn chap_md5_verify(id: u8, secret: &[u8], challenge: &[u8], response: &[u8]) -> bool {
    let want = chap_md5_response(id, secret, challenge);
    if response.len() != want.len() {
        return false;
    }
    want.iter()
        .zip(response)
        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
        == 0
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::many_single_char_names,
    reason = "tests"
)]
mod tests {
    use super::*;

    #[test]
    fn pap_round_trip_and_truncation() {
        let r = PapRepr::Request {
            id: 7,
            peer_id: b"alice",
            password: b"secret",
        };
        let mut b = [0u8; 64];
        let n = r.emit(&mut b).unwrap();
        assert_eq!(&b[..n], b"\x01\x07\x00\x11\x05alice\x06secret");
        let p = ControlPacket::new_checked(&b[..n]).unwrap();
        assert_eq!(PapRepr::parse(&p).unwrap(), r);
        for i in 0..n {
            let ok = ControlPacket::new_checked(&b[..i]).is_ok_and(|p| PapRepr::parse(&p).is_ok());
            assert!(!ok);
        }
    }

    #[test]
    fn chap_md5_known_answer() {
        // MD5(0x01 || "secret" || 16 x 0x00), computed with Python's hashlib.
        let r = chap_md5_response(1, b"secret", &[0; 16]);
        let want = [
            0x75, 0x70, 0xc6, 0x53, 0xcd, 0xf4, 0x75, 0x5c, 0xcf, 0xfc, 0xaa, 0x80, 0xf2, 0x92,
            0x68, 0xd1,
        ];
        assert_eq!(r, want);
        assert!(chap_md5_verify(1, b"secret", &[0; 16], &r));
        assert!(!chap_md5_verify(2, b"secret", &[0; 16], &r));
        let c = ChapRepr::Response {
            id: 1,
            value: &r,
            name: b"bob",
        };
        let mut b = [0u8; 64];
        let n = c.emit(&mut b).unwrap();
        let p = ControlPacket::new_checked(&b[..n]).unwrap();
        assert_eq!(ChapRepr::parse(&p).unwrap(), c);
    }
}
