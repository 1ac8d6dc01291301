//! The minimal IPv4, TCP, UDP and ICMP wire types a NAT needs: a checked IPv4 view
//! (RFC 791 section 3.1) and a [`PacketRepr`] that parses and emits a whole
//! unfragmented datagram with its transport header (RFC 793 section 3.1, RFC 768,
//! RFC 792), for tests, tools and the fuzz targets. The translator itself works on the
//! raw bytes in place (see [`crate::nat`]).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Version|  IHL  |Type of Service|          Total Length         |
//! |         Identification        |Flags|      Fragment Offset    |
//! |  Time to Live |    Protocol   |         Header Checksum       |
//! |                       Source Address                          |
//! |                    Destination Address                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use core::fmt;
use core::net::Ipv4Addr;

use crate::checksum;
use crate::error::{EmitError, ParseError};

mod field {
    pub(super) const TOS: usize = 1;
    pub(super) const LENGTH: usize = 2;
    pub(super) const IDENT: usize = 4;
    pub(super) const FLAGS_FRAG: usize = 6;
    pub(super) const TTL: usize = 8;
    pub(super) const PROTOCOL: usize = 9;
    pub(super) const CHECKSUM: usize = 10;
    pub(super) const SRC: usize = 12;
    pub(super) const DST: usize = 16;
}

/// Length of an IPv4 header without options (RFC 791 section 3.1).
pub const IPV4_HEADER_LEN: usize = 20;
/// Length of a TCP header without options (RFC 793 section 3.1).
pub const TCP_HEADER_LEN: usize = 20;
/// Length of the UDP header (RFC 768).
pub const UDP_HEADER_LEN: usize = 8;
/// Length of the fixed ICMP header (RFC 792).
pub const ICMP_HEADER_LEN: usize = 8;

#[inline]
pub(crate) fn rd16(b: &[u8], at: usize) -> Option<u16> {
    b.get(at..)?
        .first_chunk::<2>()
        .map(|w| u16::from_be_bytes(*w))
}

#[inline]
pub(crate) fn rd32(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..)?
        .first_chunk::<4>()
        .map(|w| u32::from_be_bytes(*w))
}

#[inline]
pub(crate) fn wr16(b: &mut [u8], at: usize, v: u16) {
    if let Some(w) = b.get_mut(at..).and_then(|s| s.first_chunk_mut::<2>()) {
        *w = v.to_be_bytes();
    }
}

#[inline]
pub(crate) fn wr32(b: &mut [u8], at: usize, v: u32) {
    if let Some(w) = b.get_mut(at..).and_then(|s| s.first_chunk_mut::<4>()) {
        *w = v.to_be_bytes();
    }
}

macro_rules! open_newtype {
    ($(#[$m:meta])* $name:ident($t:ty) { $($(#[$cm:meta])* $c:ident = $v:expr, $s:literal;)* }) => {
        $(#[$m])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
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
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self.name() {
                    Some(n) => f.write_str(n),
                    None => write!(f, "{}({})", stringify!($name), self.0),
                }
            }
        }
    };
}

open_newtype! {
    /// IPv4 Protocol field: IANA "Assigned Internet Protocol Numbers" (RFC 791 section 3.1).
    Protocol(u8) {
        /// ICMP (RFC 792).
        ICMP = 1, "ICMP";
        /// TCP (RFC 793).
        TCP = 6, "TCP";
        /// UDP (RFC 768).
        UDP = 17, "UDP";
    }
}

open_newtype! {
    /// ICMP Type: IANA "ICMP Type Numbers" (RFC 792).
    IcmpType(u8) {
        /// Echo Reply (RFC 792).
        ECHO_REPLY = 0, "EchoReply";
        /// Destination Unreachable (RFC 792).
        DEST_UNREACHABLE = 3, "DestUnreachable";
        /// Source Quench (RFC 792, deprecated by RFC 6633).
        SOURCE_QUENCH = 4, "SourceQuench";
        /// Redirect (RFC 792).
        REDIRECT = 5, "Redirect";
        /// Echo (RFC 792).
        ECHO_REQUEST = 8, "EchoRequest";
        /// Time Exceeded (RFC 792).
        TIME_EXCEEDED = 11, "TimeExceeded";
        /// Parameter Problem (RFC 792).
        PARAMETER_PROBLEM = 12, "ParameterProblem";
        /// Timestamp (RFC 792).
        TIMESTAMP = 13, "Timestamp";
        /// Timestamp Reply (RFC 792).
        TIMESTAMP_REPLY = 14, "TimestampReply";
    }
}

impl IcmpType {
    /// An ICMP error message that carries the offending datagram (RFC 5508 section 2).
    #[must_use]
    pub const fn is_error(self) -> bool {
        matches!(self.0, 3 | 4 | 11 | 12)
    }

    /// A query message with an identifier field (RFC 5508 section 3.1); `Some(true)`
    /// for requests, `Some(false)` for replies.
    #[must_use]
    pub const fn query_request(self) -> Option<bool> {
        match self.0 {
            8 | 13 => Some(true),
            0 | 14 => Some(false),
            _ => None,
        }
    }
}

/// A checked view of an IPv4 datagram (RFC 791 section 3.1).
///
/// `new_checked` guarantees version 4, `IHL >= 5`, `IHL * 4 <= Total Length <= len`;
/// bytes after Total Length (link-layer padding) are ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    /// Checks the header lengths and version.
    ///
    /// # Errors
    /// [`ParseError::Truncated`] when the buffer is shorter than the header or than
    /// Total Length; [`ParseError::BadVersion`] unless version 4;
    /// [`ParseError::BadLength`] when IHL < 5 or Total Length < IHL * 4.
    pub fn new_checked(buffer: T) -> Result<Self, ParseError> {
        let b = buffer.as_ref();
        let available = b.len();
        let first = *b.first().ok_or(ParseError::Truncated {
            needed: IPV4_HEADER_LEN,
            available,
        })?;
        if first >> 4 != 4 {
            return Err(ParseError::BadVersion {
                version: first >> 4,
            });
        }
        if available < IPV4_HEADER_LEN {
            return Err(ParseError::Truncated {
                needed: IPV4_HEADER_LEN,
                available,
            });
        }
        let ihl = usize::from(first & 0x0f) * 4;
        let total = usize::from(rd16(b, field::LENGTH).unwrap_or(0));
        if ihl < IPV4_HEADER_LEN || total < ihl {
            return Err(ParseError::BadLength);
        }
        if total > available {
            return Err(ParseError::Truncated {
                needed: total,
                available,
            });
        }
        Ok(Self { buffer })
    }

    fn b(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// Header length in bytes (IHL * 4).
    #[must_use]
    pub fn header_len(&self) -> usize {
        usize::from(self.b().first().map_or(5, |v| v & 0x0f)) * 4
    }

    /// Type of Service / DSCP+ECN byte.
    #[must_use]
    pub fn tos(&self) -> u8 {
        self.b().get(field::TOS).copied().unwrap_or(0)
    }

    /// Total Length.
    #[must_use]
    pub fn total_len(&self) -> usize {
        usize::from(rd16(self.b(), field::LENGTH).unwrap_or(0))
    }

    /// Identification.
    #[must_use]
    pub fn ident(&self) -> u16 {
        rd16(self.b(), field::IDENT).unwrap_or(0)
    }

    /// The DF flag.
    #[must_use]
    pub fn dont_frag(&self) -> bool {
        rd16(self.b(), field::FLAGS_FRAG).unwrap_or(0) & 0x4000 != 0
    }

    /// The MF flag.
    #[must_use]
    pub fn more_frags(&self) -> bool {
        rd16(self.b(), field::FLAGS_FRAG).unwrap_or(0) & 0x2000 != 0
    }

    /// Fragment Offset, in 8-byte units.
    #[must_use]
    pub fn frag_offset(&self) -> u16 {
        rd16(self.b(), field::FLAGS_FRAG).unwrap_or(0) & 0x1fff
    }

    /// True for any fragment (MF set or a non-zero offset).
    #[must_use]
    pub fn is_fragment(&self) -> bool {
        rd16(self.b(), field::FLAGS_FRAG).unwrap_or(0) & 0x3fff != 0
    }

    /// Time to Live.
    #[must_use]
    pub fn ttl(&self) -> u8 {
        self.b().get(field::TTL).copied().unwrap_or(0)
    }

    /// Protocol.
    #[must_use]
    pub fn protocol(&self) -> Protocol {
        Protocol(self.b().get(field::PROTOCOL).copied().unwrap_or(0))
    }

    /// Header Checksum.
    #[must_use]
    pub fn checksum(&self) -> u16 {
        rd16(self.b(), field::CHECKSUM).unwrap_or(0)
    }

    /// Source Address.
    #[must_use]
    pub fn src_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(rd32(self.b(), field::SRC).unwrap_or(0))
    }

    /// Destination Address.
    #[must_use]
    pub fn dst_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(rd32(self.b(), field::DST).unwrap_or(0))
    }

    /// The header checksum verifies (RFC 791 section 3.1).
    #[must_use]
    pub fn verify_checksum(&self) -> bool {
        self.b()
            .get(..self.header_len())
            .is_some_and(|h| checksum::verifies(h, 0))
    }

    /// Options (the header bytes after the first 20).
    #[must_use]
    pub fn options(&self) -> &[u8] {
        self.b()
            .get(IPV4_HEADER_LEN..self.header_len())
            .unwrap_or_default()
    }

    /// The payload (from IHL * 4 to Total Length).
    #[must_use]
    pub fn payload(&self) -> &[u8] {
        self.b()
            .get(self.header_len()..self.total_len())
            .unwrap_or_default()
    }

    /// The datagram (up to Total Length, without link padding).
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        self.b().get(..self.total_len()).unwrap_or_default()
    }

    /// The underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }
}

/// TCP control bits (RFC 793 section 3.1, RFC 3168 section 6.1 for ECE/CWR).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(transparent)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    /// FIN.
    pub const FIN: Self = Self(0x01);
    /// SYN.
    pub const SYN: Self = Self(0x02);
    /// RST.
    pub const RST: Self = Self(0x04);
    /// PSH.
    pub const PSH: Self = Self(0x08);
    /// ACK.
    pub const ACK: Self = Self(0x10);

    /// True when every bit of `other` is set.
    #[must_use]
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }
}

impl core::ops::BitOr for TcpFlags {
    type Output = Self;
    fn bitor(self, rhs: Self) -> Self {
        Self(self.0 | rhs.0)
    }
}

impl fmt::Debug for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = [
            (0x02, 'S'),
            (0x10, '.'),
            (0x01, 'F'),
            (0x04, 'R'),
            (0x08, 'P'),
        ];
        f.write_str("[")?;
        for (bit, c) in names {
            if self.0 & bit != 0 {
                write!(f, "{c}")?;
            }
        }
        f.write_str("]")
    }
}

/// The transport header of a [`PacketRepr`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum L4Repr<'a> {
    /// TCP header (RFC 793 section 3.1).
    Tcp {
        /// Source Port.
        src_port: u16,
        /// Destination Port.
        dst_port: u16,
        /// Sequence Number.
        seq: u32,
        /// Acknowledgment Number.
        ack: u32,
        /// Control bits (the low 8 bits of the 12-bit flags field).
        flags: TcpFlags,
        /// Window.
        window: u16,
        /// Urgent Pointer.
        urgent: u16,
        /// Options, as on the wire (a multiple of 4 bytes, at most 40).
        options: &'a [u8],
    },
    /// UDP header (RFC 768).
    Udp {
        /// Source Port.
        src_port: u16,
        /// Destination Port.
        dst_port: u16,
        /// Whether the checksum is computed (false: transmitted as zero).
        checksum: bool,
    },
    /// ICMP message (RFC 792): type, code and the 4-byte "rest of header" (identifier
    /// and sequence number for queries); errors carry the offending datagram as payload.
    Icmp {
        /// Type.
        kind: IcmpType,
        /// Code.
        code: u8,
        /// Bytes 4..8 of the ICMP header.
        rest: [u8; 4],
    },
}

impl L4Repr<'_> {
    fn header_len(&self) -> usize {
        match self {
            Self::Tcp { options, .. } => TCP_HEADER_LEN + options.len(),
            Self::Udp { .. } => UDP_HEADER_LEN,
            Self::Icmp { .. } => ICMP_HEADER_LEN,
        }
    }

    fn protocol(&self) -> Protocol {
        match self {
            Self::Tcp { .. } => Protocol::TCP,
            Self::Udp { .. } => Protocol::UDP,
            Self::Icmp { .. } => Protocol::ICMP,
        }
    }
}

/// A whole unfragmented IPv4 datagram with its transport header: parse from an
/// [`Ipv4Packet`], emit into a caller buffer with correct checksums.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketRepr<'a> {
    /// Type of Service byte.
    pub tos: u8,
    /// Identification.
    pub ident: u16,
    /// The DF flag.
    pub dont_frag: bool,
    /// Time to Live.
    pub ttl: u8,
    /// Source Address.
    pub src_addr: Ipv4Addr,
    /// Destination Address.
    pub dst_addr: Ipv4Addr,
    /// IPv4 options, as on the wire (a multiple of 4 bytes, at most 40).
    pub ip_options: &'a [u8],
    /// Transport header.
    pub l4: L4Repr<'a>,
    /// Transport payload (for ICMP errors: the embedded datagram).
    pub payload: &'a [u8],
}

impl<'a> PacketRepr<'a> {
    /// Parses an unfragmented TCP, UDP or ICMP datagram. Checksums are not verified
    /// here (see [`Ipv4Packet::verify_checksum`]); a UDP checksum of zero is kept as
    /// "no checksum" (RFC 768).
    ///
    /// # Errors
    /// [`ParseError::InvalidField`] for a fragment or another protocol;
    /// [`ParseError::Truncated`] / [`ParseError::BadLength`] for a transport header
    /// that does not fit.
    pub fn parse(p: &Ipv4Packet<&'a [u8]>) -> Result<Self, ParseError> {
        if p.is_fragment() {
            return Err(ParseError::InvalidField("fragment"));
        }
        let l4b: &'a [u8] = p
            .buffer
            .get(p.header_len()..p.total_len())
            .unwrap_or_default();
        let ip_options: &'a [u8] = p
            .buffer
            .get(IPV4_HEADER_LEN..p.header_len())
            .unwrap_or_default();
        let short = |needed: usize| ParseError::Truncated {
            needed,
            available: l4b.len(),
        };
        let (l4, payload) = match p.protocol() {
            Protocol::TCP => {
                let off = usize::from(l4b.get(12).ok_or(short(TCP_HEADER_LEN))? >> 4) * 4;
                if l4b.len() < TCP_HEADER_LEN {
                    return Err(short(TCP_HEADER_LEN));
                }
                if off < TCP_HEADER_LEN {
                    return Err(ParseError::BadLength);
                }
                let (hdr, payload) = l4b.split_at_checked(off).ok_or(short(off))?;
                let l4 = L4Repr::Tcp {
                    src_port: rd16(hdr, 0).unwrap_or(0),
                    dst_port: rd16(hdr, 2).unwrap_or(0),
                    seq: rd32(hdr, 4).unwrap_or(0),
                    ack: rd32(hdr, 8).unwrap_or(0),
                    flags: TcpFlags(hdr.get(13).copied().unwrap_or(0)),
                    window: rd16(hdr, 14).unwrap_or(0),
                    urgent: rd16(hdr, 18).unwrap_or(0),
                    options: hdr.get(TCP_HEADER_LEN..).unwrap_or_default(),
                };
                if hdr.get(12).is_some_and(|b| b & 0x0f != 0) {
                    return Err(ParseError::InvalidField("TCP reserved bits"));
                }
                (l4, payload)
            }
            Protocol::UDP => {
                let (hdr, rest) = l4b
                    .split_at_checked(UDP_HEADER_LEN)
                    .ok_or(short(UDP_HEADER_LEN))?;
                let ulen = usize::from(rd16(hdr, 4).unwrap_or(0));
                if ulen != l4b.len() {
                    return Err(ParseError::BadLength);
                }
                let l4 = L4Repr::Udp {
                    src_port: rd16(hdr, 0).unwrap_or(0),
                    dst_port: rd16(hdr, 2).unwrap_or(0),
                    checksum: rd16(hdr, 6).unwrap_or(0) != 0,
                };
                (l4, rest)
            }
            Protocol::ICMP => {
                let (hdr, rest) = l4b
                    .split_at_checked(ICMP_HEADER_LEN)
                    .ok_or(short(ICMP_HEADER_LEN))?;
                let l4 = L4Repr::Icmp {
                    kind: IcmpType(hdr.first().copied().unwrap_or(0)),
                    code: hdr.get(1).copied().unwrap_or(0),
                    rest: hdr
                        .get(4..)
                        .and_then(|r| r.first_chunk::<4>())
                        .copied()
                        .unwrap_or_default(),
                };
                (l4, rest)
            }
            _ => return Err(ParseError::InvalidField("protocol")),
        };
        Ok(Self {
            tos: p.tos(),
            ident: p.ident(),
            dont_frag: p.dont_frag(),
            ttl: p.ttl(),
            src_addr: p.src_addr(),
            dst_addr: p.dst_addr(),
            ip_options,
            l4,
            payload,
        })
    }

    /// Bytes [`PacketRepr::emit`] writes.
    #[must_use]
    pub fn buffer_len(&self) -> usize {
        IPV4_HEADER_LEN + self.ip_options.len() + self.l4.header_len() + self.payload.len()
    }

    /// Writes the datagram with correct IPv4 and transport checksums.
    ///
    /// # Errors
    /// [`EmitError::BufferTooSmall`] when `out` is shorter than
    /// [`PacketRepr::buffer_len`]; [`EmitError::ValueTooLarge`] when the datagram
    /// exceeds 65535 bytes or options are not a multiple of 4 bytes up to 40.
    #[allow(
        clippy::too_many_lines,
        reason = "one header layout per protocol, kept together"
    )]
    pub fn emit(&self, out: &mut [u8]) -> Result<usize, EmitError> {
        let needed = self.buffer_len();
        let total =
            u16::try_from(needed).map_err(|_| EmitError::ValueTooLarge("datagram over 65535"))?;
        let bad_opts = |o: &[u8]| o.len() % 4 != 0 || o.len() > 40;
        if bad_opts(self.ip_options) {
            return Err(EmitError::ValueTooLarge("IPv4 options"));
        }
        if let L4Repr::Tcp { options, .. } = self.l4 {
            if bad_opts(options) {
                return Err(EmitError::ValueTooLarge("TCP options"));
            }
        }
        let available = out.len();
        let out = out
            .get_mut(..needed)
            .ok_or(EmitError::BufferTooSmall { needed, available })?;
        out.fill(0);
        let ihl = IPV4_HEADER_LEN + self.ip_options.len();
        #[allow(clippy::cast_possible_truncation, reason = "ihl <= 60")]
        let ver_ihl = 0x40 | (ihl / 4) as u8;
        let (ip, l4) = out.split_at_mut(ihl);
        let h: [u8; 12] = {
            let [l0, l1] = total.to_be_bytes();
            let [i0, i1] = self.ident.to_be_bytes();
            let df = if self.dont_frag { 0x40 } else { 0 };
            [
                ver_ihl,
                self.tos,
                l0,
                l1,
                i0,
                i1,
                df,
                0,
                self.ttl,
                self.l4.protocol().0,
                0,
                0,
            ]
        };
        if let Some(d) = ip.get_mut(..12) {
            d.copy_from_slice(&h);
        }
        let (src, dst) = (u32::from(self.src_addr), u32::from(self.dst_addr));
        wr32(ip, field::SRC, src);
        wr32(ip, field::DST, dst);
        if let Some(d) = ip.get_mut(IPV4_HEADER_LEN..) {
            d.copy_from_slice(self.ip_options);
        }
        let c = checksum::checksum(ip);
        wr16(ip, field::CHECKSUM, c);
        let l4len = l4.len();
        #[allow(clippy::cast_possible_truncation, reason = "l4len < total <= 65535")]
        let l4len16 = l4len as u16;
        let hl = self.l4.header_len();
        if let Some(d) = l4.get_mut(hl..) {
            d.copy_from_slice(self.payload);
        }
        match self.l4 {
            L4Repr::Tcp {
                src_port,
                dst_port,
                seq,
                ack,
                flags,
                window,
                urgent,
                options,
            } => {
                wr16(l4, 0, src_port);
                wr16(l4, 2, dst_port);
                wr32(l4, 4, seq);
                wr32(l4, 8, ack);
                #[allow(clippy::cast_possible_truncation, reason = "hl <= 60")]
                let off = ((hl / 4) as u8) << 4;
                if let Some(d) = l4.get_mut(12..14) {
                    d.copy_from_slice(&[off, flags.0]);
                }
                wr16(l4, 14, window);
                wr16(l4, 18, urgent);
                if let Some(d) = l4.get_mut(TCP_HEADER_LEN..hl) {
                    d.copy_from_slice(options);
                }
                let c = !checksum::fold(checksum::sum(
                    l4,
                    checksum::pseudo_header(src, dst, 6, l4len16),
                ));
                wr16(l4, 16, c);
            }
            L4Repr::Udp {
                src_port,
                dst_port,
                checksum: with,
            } => {
                wr16(l4, 0, src_port);
                wr16(l4, 2, dst_port);
                wr16(l4, 4, l4len16);
                if with {
                    let c = !checksum::fold(checksum::sum(
                        l4,
                        checksum::pseudo_header(src, dst, 17, l4len16),
                    ));
                    // RFC 768: a computed zero is transmitted as all ones.
                    wr16(l4, 6, if c == 0 { 0xffff } else { c });
                }
            }
            L4Repr::Icmp { kind, code, rest } => {
                if let Some(d) = l4.get_mut(..2) {
                    d.copy_from_slice(&[kind.0, code]);
                }
                if let Some(d) = l4.get_mut(4..8) {
                    d.copy_from_slice(&rest);
                }
                let c = checksum::checksum(l4);
                wr16(l4, 2, c);
            }
        }
        Ok(needed)
    }
}

/// True when the transport checksum of an unfragmented TCP, UDP or ICMP datagram
/// verifies by full recomputation (a UDP checksum of zero means "none" and passes).
#[must_use]
pub fn transport_checksum_ok(p: &Ipv4Packet<&[u8]>) -> bool {
    let l4 = p.payload();
    let (src, dst) = (u32::from(p.src_addr()), u32::from(p.dst_addr()));
    let Ok(len) = u16::try_from(l4.len()) else {
        return false;
    };
    match p.protocol() {
        Protocol::TCP => checksum::verifies(l4, checksum::pseudo_header(src, dst, 6, len)),
        Protocol::UDP => {
            rd16(l4, 6) == Some(0)
                || checksum::verifies(l4, checksum::pseudo_header(src, dst, 17, len))
        }
        Protocol::ICMP => checksum::verifies(l4, 0),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::indexing_slicing, clippy::unwrap_used, reason = "tests")]
    use super::*;

    fn udp() -> PacketRepr<'static> {
        PacketRepr {
            tos: 0,
            ident: 7,
            dont_frag: true,
            ttl: 64,
            src_addr: Ipv4Addr::new(10, 0, 0, 1),
            dst_addr: Ipv4Addr::new(192, 0, 2, 1),
            ip_options: &[],
            l4: L4Repr::Udp {
                src_port: 5000,
                dst_port: 53,
                checksum: true,
            },
            payload: b"hello",
        }
    }

    #[test]
    fn round_trip_and_truncations() {
        let r = udp();
        let mut buf = [0u8; 64];
        let n = r.emit(&mut buf).unwrap();
        assert_eq!(n, 33);
        let p = Ipv4Packet::new_checked(&buf[..n]).unwrap();
        assert!(p.verify_checksum());
        assert!(transport_checksum_ok(&p));
        assert_eq!(PacketRepr::parse(&p).unwrap(), r);
        for k in 0..n {
            assert!(Ipv4Packet::new_checked(&buf[..k]).is_err(), "prefix {k}");
        }
        assert!(matches!(
            r.emit(&mut buf[..10]),
            Err(EmitError::BufferTooSmall { needed: 33, .. })
        ));
    }
}
