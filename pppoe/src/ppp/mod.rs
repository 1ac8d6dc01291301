//! The PPP control plane carried in the PPPoE session stage (RFC 2516 section 6):
//! the protocol field (RFC 1661 section 2), control packets and their options
//! (RFC 1661 sections 5 and 6), the option-negotiation automaton (RFC 1661 section
//! 4), LCP, PAP (RFC 1334), CHAP-MD5 (RFC 1994), IPCP (RFC 1332, RFC 1877), IPv6CP
//! (RFC 5072), and a [`Session`] that runs one subscriber's
//! LCP → authentication → NCP progression, as the access concentrator or as the host.
//!
//! ```text
//!  PPPoE session frame (ethertype 0x8864, CODE 0x00):
//!  +------+------+------------+--------+-----------------+--------------------+
//!  | 0x11 | 0x00 | SESSION_ID | LENGTH | PPP protocol(2) | information ...    |
//!  +------+------+------------+--------+-----------------+--------------------+
//! ```
//!
//! Over PPPoE the protocol field is always two octets: Protocol-Field-Compression and
//! Address-and-Control-Field-Compression must not be used (RFC 2516 section 7), and
//! there is no HDLC address/control header.
//!
//! Everything here is `no_std`, allocation-free and sans-IO: bytes and `now` go in,
//! bytes (into caller buffers), events and deadlines come out.
//!
//! Known limits: the optional behaviours of RFC 1661's footnotes (restart on Open in
//! Stopped/Closing/Stopping, passive mode) are the plain table transitions; a peer's
//! Configure-Request with more than 122 bytes of options cannot be answered (two
//! 128-byte reply slots keep a `Session` under 512 bytes); an MS-CHAPv2 host does
//! not retransmit its Response (the AC re-challenges; a lost Success ends in
//! `AuthTimeout`); an LCP renegotiation in Opened re-runs
//! authentication and the NCPs and reports `Up` again without a `Down` in between.
//!
//! # Example: parse → emit → parse an LCP Configure-Request
//!
//! ```
//! use bng_pppoe::ppp::{Frame, Protocol};
//! use bng_pppoe::ppp::packet::{Code, ControlPacket, ControlRepr};
//!
//! // PPP protocol LCP, Configure-Request id 1: MRU 1492, Magic-Number 0x01020304.
//! let bytes = [0xc0, 0x21, 1, 1, 0, 14, 1, 4, 0x05, 0xd4, 5, 6, 1, 2, 3, 4];
//! let frame = Frame::new_checked(&bytes[..]).unwrap();
//! assert_eq!(frame.protocol(), Protocol::LCP);
//! let pkt = ControlPacket::new_checked(frame.information()).unwrap();
//! let repr = ControlRepr::parse(&pkt).unwrap();
//! assert_eq!(repr.code, Code::CONFIGURE_REQUEST);
//! assert_eq!(repr.options().count(), 2);
//! let mut out = [0u8; 64];
//! let n = repr.emit(&mut out).unwrap();
//! assert_eq!(&out[..n], frame.information());
//! let again = ControlRepr::parse(&ControlPacket::new_checked(&out[..n]).unwrap()).unwrap();
//! assert_eq!(again, repr);
//! ```

use core::fmt;

use crate::error::{EmitError, ParseError};

pub mod auth;
pub mod cp;
pub mod fsm;
pub mod ipcp;
pub mod ipv6cp;
pub mod lcp;
pub mod mschapv2;
pub mod packet;
pub mod session;

pub use session::{Action, Event, Session};

/// Declares an open newtype over a registry value (STYLE.md section 3).
macro_rules! ppp_newtype {
    ($(#[$m:meta])* $name:ident($t:ty) { $($(#[$cm:meta])* $c:ident = $v:expr, $s:literal;)* }) => {
        $(#[$m])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(transparent)]
        pub struct $name(pub $t);
        impl $name {
            $($(#[$cm])* pub const $c: Self = Self($v);)*
            /// The registry name of this value, if it is one this crate knows.
            #[must_use]
            pub const fn name(self) -> Option<&'static str> {
                match self.0 { $($v => Some($s),)* _ => None }
            }
        }
        impl core::fmt::Debug for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                match self.name() {
                    Some(n) => f.write_str(n),
                    None => write!(f, "{}({:#x})", stringify!($name), self.0),
                }
            }
        }
    };
}
pub(crate) use ppp_newtype;

ppp_newtype! {
    /// PPP protocol field: IANA "Point-to-Point (PPP) Protocol Field Assignments"
    /// (RFC 1661 section 2). Values `0x0***`-`0x3***` are network-layer protocols,
    /// `0x8***`-`0xb***` their control protocols, `0xc***`-`0xf***` link-layer control.
    Protocol(u16) {
        /// Internet Protocol version 4 (RFC 1332).
        IPV4 = 0x0021, "IPv4";
        /// Internet Protocol version 6 (RFC 5072).
        IPV6 = 0x0057, "IPv6";
        /// IP Control Protocol (RFC 1332).
        IPCP = 0x8021, "IPCP";
        /// IPv6 Control Protocol (RFC 5072).
        IPV6CP = 0x8057, "IPv6CP";
        /// Compression Control Protocol (RFC 1962); pppd offers it, we reject it.
        CCP = 0x80fd, "CCP";
        /// Link Control Protocol (RFC 1661).
        LCP = 0xc021, "LCP";
        /// Password Authentication Protocol (RFC 1334).
        PAP = 0xc023, "PAP";
        /// Link Quality Report (RFC 1989).
        LQR = 0xc025, "LQR";
        /// Challenge Handshake Authentication Protocol (RFC 1994).
        CHAP = 0xc223, "CHAP";
        /// Extensible Authentication Protocol (RFC 3748).
        EAP = 0xc227, "EAP";
    }
}

mod field {
    pub(super) const PROTOCOL: usize = 0;
    pub(super) const INFORMATION: usize = 2;
}

/// Length of the PPP protocol field over PPPoE (RFC 2516 section 7: no compression).
pub const PROTOCOL_LEN: usize = field::INFORMATION;

/// Length of the PPPoE session-stage header (RFC 2516 section 4).
pub const PPPOE_HEADER_LEN: usize = 6;

/// Default MRU over PPPoE: 1500 minus the 6-byte PPPoE header and the 2-byte PPP
/// protocol field (RFC 2516 section 7).
pub const PPPOE_DEFAULT_MRU: u16 = 1492;

/// A PPP frame without HDLC framing: protocol field and information
/// (RFC 1661 section 2), as carried in a PPPoE session packet.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Frame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Frame<T> {
    /// Checks that the buffer holds at least the two-octet protocol field and that
    /// the protocol is valid: least significant bit of the low octet 1, of the high
    /// octet 0 (RFC 1661 section 2).
    ///
    /// # Errors
    /// [`ParseError::Truncated`] below two bytes; [`ParseError::InvalidField`] for an
    /// invalid protocol number.
    pub fn new_checked(buffer: T) -> Result<Self, ParseError> {
        let b = buffer.as_ref();
        let Some(&[hi, lo]) = b.first_chunk::<2>() else {
            return Err(ParseError::Truncated {
                needed: PROTOCOL_LEN,
                available: b.len(),
            });
        };
        if lo & 1 == 0 || hi & 1 == 1 {
            return Err(ParseError::InvalidField("PPP protocol number"));
        }
        Ok(Self { buffer })
    }

    /// The protocol field.
    #[must_use]
    pub fn protocol(&self) -> Protocol {
        let b = self.buffer.as_ref();
        Protocol(
            b.get(field::PROTOCOL..field::INFORMATION)
                .and_then(|s| s.first_chunk::<2>())
                .map_or(0, |c| u16::from_be_bytes(*c)),
        )
    }

    /// The information field (everything after the protocol).
    #[must_use]
    pub fn information(&self) -> &[u8] {
        self.buffer
            .as_ref()
            .get(field::INFORMATION..)
            .unwrap_or_default()
    }

    /// The whole frame.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

impl<T: AsRef<[u8]>> fmt::Debug for Frame<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Frame")
            .field("protocol", &self.protocol())
            .field("len", &self.information().len())
            .finish()
    }
}

/// Writes the protocol field at the start of `out`, leaving the information to
/// the caller (RFC 1661 section 2).
///
/// # Errors
/// [`EmitError::BufferTooSmall`] if `out` is shorter than two bytes.
pub fn emit_protocol(protocol: Protocol, out: &mut [u8]) -> Result<usize, EmitError> {
    let available = out.len();
    let head = out
        .first_chunk_mut::<2>()
        .ok_or(EmitError::BufferTooSmall {
            needed: PROTOCOL_LEN,
            available,
        })?;
    *head = protocol.0.to_be_bytes();
    Ok(PROTOCOL_LEN)
}

/// Splits a PPPoE session-stage packet (starting at the PPPoE header, after the
/// Ethernet header) into its `SESSION_ID` and PPP frame (RFC 2516 sections 4 and 6).
/// Ethernet padding after `LENGTH` is dropped.
///
/// # Errors
/// [`ParseError::Truncated`], [`ParseError::BadVersion`] for VER/TYPE other than 1,
/// [`ParseError::InvalidField`] for a CODE other than 0x00, and
/// [`ParseError::BadLength`] when `LENGTH` overruns the buffer.
pub fn split_session(packet: &[u8]) -> Result<(u16, &[u8]), ParseError> {
    let Some((hdr, rest)) = packet.split_first_chunk::<PPPOE_HEADER_LEN>() else {
        return Err(ParseError::Truncated {
            needed: PPPOE_HEADER_LEN,
            available: packet.len(),
        });
    };
    let [vt, code, s0, s1, l0, l1] = *hdr;
    if vt != 0x11 {
        return Err(ParseError::BadVersion {
            version: vt >> 4,
            kind: vt & 0x0f,
        });
    }
    if code != 0 {
        return Err(ParseError::InvalidField("PPPoE CODE is not session data"));
    }
    let len = usize::from(u16::from_be_bytes([l0, l1]));
    let ppp = rest.get(..len).ok_or(ParseError::BadLength)?;
    Ok((u16::from_be_bytes([s0, s1]), ppp))
}

/// Writes a PPPoE session-stage header for `session_id` whose payload (a PPP frame
/// of `ppp_len` bytes) follows it (RFC 2516 section 6).
///
/// # Errors
/// [`EmitError::BufferTooSmall`] if `out` is shorter than six bytes;
/// [`EmitError::ValueTooLarge`] if `ppp_len` exceeds 65535.
pub fn emit_session_header(
    session_id: u16,
    ppp_len: usize,
    out: &mut [u8],
) -> Result<usize, EmitError> {
    let len = u16::try_from(ppp_len).map_err(|_| EmitError::ValueTooLarge("PPPoE LENGTH"))?;
    let available = out.len();
    let hdr = out
        .first_chunk_mut::<PPPOE_HEADER_LEN>()
        .ok_or(EmitError::BufferTooSmall {
            needed: PPPOE_HEADER_LEN,
            available,
        })?;
    let [s0, s1] = session_id.to_be_bytes();
    let [l0, l1] = len.to_be_bytes();
    *hdr = [0x11, 0, s0, s1, l0, l1];
    Ok(PPPOE_HEADER_LEN)
}

/// A small non-cryptographic PRNG (`SplitMix64`) for non-secret values: LCP
/// Magic-Numbers and IPv6CP interface identifiers (STYLE.md section 8: non-secret
/// values from a caller-seeded PRNG; secrets come from the caller's `CryptoRng`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prng(u64);

impl Prng {
    /// A PRNG seeded by the caller.
    #[must_use]
    pub const fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// The next non-zero 32-bit value (a Magic-Number must not be zero, RFC 1661
    /// section 6.4).
    pub fn next_nonzero_u32(&mut self) -> u32 {
        loop {
            let v = (self.next_u64() >> 32) as u32;
            if v != 0 {
                return v;
            }
        }
    }
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
    fn frame_checks_protocol_bits() {
        assert!(Frame::new_checked(&[0xc0, 0x21][..]).is_ok());
        assert!(Frame::new_checked(&[0xc0, 0x20][..]).is_err());
        assert!(Frame::new_checked(&[0xc1, 0x21][..]).is_err());
        assert!(Frame::new_checked(&[0xc0][..]).is_err());
    }

    #[test]
    fn session_header_round_trip() {
        let mut b = [0u8; 16];
        let n = emit_session_header(0x1234, 4, &mut b).unwrap();
        b[n..n + 4].copy_from_slice(&[0xc0, 0x21, 9, 9]);
        let (sid, ppp) = split_session(&b).unwrap();
        assert_eq!(sid, 0x1234);
        assert_eq!(ppp, &[0xc0, 0x21, 9, 9]);
        for i in 0..10 {
            let _ = split_session(&b[..i]);
        }
        assert!(split_session(&b[..9]).is_err());
    }
}
