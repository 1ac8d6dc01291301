//! DHCPv6 options (RFC 8415 section 21): codes, a zero-copy iterator, typed views of the
//! nested ones (IA_NA, IA_PD, IAADDR, IAPREFIX, status code, DUID) and a writer with
//! nesting.
//!
//! ```text
//!  option-code (2) | option-len (2) | option-data (option-len)
//! ```

use core::net::Ipv6Addr;

use crate::error::{EmitError, ParseError};

/// Hard cap on options walked in one option area (STYLE.md section 2).
pub const MAX_OPTIONS: usize = 256;

open_newtype! {
    /// DHCPv6 option code: IANA "Option Codes" of "Dynamic Host Configuration Protocol
    /// for IPv6 (DHCPv6)" (RFC 8415 section 21).
    OptionCode(u16) {
        /// Client Identifier (section 21.2).
        CLIENT_ID = 1, "Client-ID";
        /// Server Identifier (section 21.3).
        SERVER_ID = 2, "Server-ID";
        /// Identity Association for Non-temporary Addresses (section 21.4).
        IA_NA = 3, "IA_NA";
        /// Identity Association for Temporary Addresses (section 21.5).
        IA_TA = 4, "IA_TA";
        /// IA Address (section 21.6).
        IAADDR = 5, "IAADDR";
        /// Option Request (section 21.7).
        ORO = 6, "ORO";
        /// Preference (section 21.8).
        PREFERENCE = 7, "Preference";
        /// Elapsed Time (section 21.9).
        ELAPSED_TIME = 8, "Elapsed-Time";
        /// Relay Message (section 21.10).
        RELAY_MSG = 9, "Relay-Message";
        /// Authentication (section 21.11).
        AUTH = 11, "Auth";
        /// Server Unicast (section 21.12).
        UNICAST = 12, "Server-Unicast";
        /// Status Code (section 21.13).
        STATUS_CODE = 13, "Status-Code";
        /// Rapid Commit (section 21.14).
        RAPID_COMMIT = 14, "Rapid-Commit";
        /// User Class (section 21.15).
        USER_CLASS = 15, "User-Class";
        /// Vendor Class (section 21.16).
        VENDOR_CLASS = 16, "Vendor-Class";
        /// Vendor-specific Information (section 21.17).
        VENDOR_OPTS = 17, "Vendor-Specific";
        /// Interface-Id (section 21.18).
        INTERFACE_ID = 18, "Interface-ID";
        /// Reconfigure Message (section 21.19).
        RECONF_MSG = 19, "Reconfigure-Message";
        /// Reconfigure Accept (section 21.20).
        RECONF_ACCEPT = 20, "Reconfigure-Accept";
        /// DNS Recursive Name Server (RFC 3646).
        DNS_SERVERS = 23, "DNS-Servers";
        /// Domain Search List (RFC 3646).
        DOMAIN_LIST = 24, "Domain-List";
        /// Identity Association for Prefix Delegation (section 21.21).
        IA_PD = 25, "IA_PD";
        /// IA Prefix (section 21.22).
        IAPREFIX = 26, "IAPREFIX";
        /// Information Refresh Time (section 21.23).
        INFORMATION_REFRESH_TIME = 32, "Information-Refresh-Time";
        /// Relay Agent Remote-ID (RFC 4649).
        REMOTE_ID = 37, "Remote-ID";
        /// Relay Agent Subscriber-ID (RFC 4580).
        SUBSCRIBER_ID = 38, "Subscriber-ID";
        /// Client FQDN (RFC 4704).
        CLIENT_FQDN = 39, "Client-FQDN";
        /// NTP server (RFC 5908).
        NTP_SERVER = 56, "NTP-Server";
        /// `SOL_MAX_RT` (section 21.24).
        SOL_MAX_RT = 82, "SOL_MAX_RT";
        /// `INF_MAX_RT` (section 21.25).
        INF_MAX_RT = 83, "INF_MAX_RT";
    }
}

open_newtype! {
    /// Status code: IANA "Status Codes" (RFC 8415 section 21.13).
    StatusCode(u16) {
        /// Success.
        SUCCESS = 0, "Success";
        /// Failure, reason unspecified.
        UNSPEC_FAIL = 1, "UnspecFail";
        /// The server has no addresses available to assign to the IA(s).
        NO_ADDRS_AVAIL = 2, "NoAddrsAvail";
        /// Client record (binding) unavailable.
        NO_BINDING = 3, "NoBinding";
        /// The prefix for the address is not appropriate for the link.
        NOT_ON_LINK = 4, "NotOnLink";
        /// The client must use multicast.
        USE_MULTICAST = 5, "UseMulticast";
        /// The server has no prefixes available for the `IA_PD`(s).
        NO_PREFIX_AVAIL = 6, "NoPrefixAvail";
    }
}

open_newtype! {
    /// DUID type: IANA "DUID Types" (RFC 8415 section 11.1).
    DuidType(u16) {
        /// Link-layer address plus time (section 11.2).
        LLT = 1, "DUID-LLT";
        /// Vendor-assigned unique ID based on enterprise number (section 11.3).
        EN = 2, "DUID-EN";
        /// Link-layer address (section 11.4).
        LL = 3, "DUID-LL";
        /// UUID (section 11.5, RFC 6355).
        UUID = 4, "DUID-UUID";
    }
}

/// One option, borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dhcp6Option<'a> {
    /// option-code.
    pub code: OptionCode,
    /// option-data.
    pub data: &'a [u8],
}

impl Dhcp6Option<'_> {
    /// Bytes on the wire.
    #[must_use]
    pub const fn wire_len(&self) -> usize {
        4 + self.data.len()
    }

    /// Writes the option at the start of `out`.
    ///
    /// # Errors
    /// [`EmitError::BufferTooSmall`], or [`EmitError::ValueTooLarge`] over 65535 bytes.
    pub fn emit(&self, out: &mut [u8]) -> Result<usize, EmitError> {
        let mut w = OptionWriter::new(out);
        w.option(self.code, self.data)?;
        Ok(w.len())
    }
}

/// Zero-copy iterator over an option area (RFC 8415 section 21.1). Yields `Err` once
/// for a truncated option or more than [`MAX_OPTIONS`], then ends.
#[derive(Debug, Clone)]
pub struct Options<'a> {
    rest: &'a [u8],
    seen: usize,
}

impl<'a> Options<'a> {
    /// Iterates over `bytes`.
    #[must_use]
    pub const fn new(bytes: &'a [u8]) -> Self {
        Self {
            rest: bytes,
            seen: 0,
        }
    }

    /// The data of the first option `code` (a malformed tail ends the search).
    #[must_use]
    pub fn find(self, code: OptionCode) -> Option<&'a [u8]> {
        self.map_while(Result::ok)
            .find(|o| o.code == code)
            .map(|o| o.data)
    }

    fn fail(&mut self, e: ParseError) -> Result<Dhcp6Option<'a>, ParseError> {
        self.rest = &[];
        Err(e)
    }
}

impl<'a> Iterator for Options<'a> {
    type Item = Result<Dhcp6Option<'a>, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        if self.seen == MAX_OPTIONS {
            return Some(self.fail(ParseError::TooManyTlvs { cap: MAX_OPTIONS }));
        }
        let Some((hdr, body)) = self.rest.split_first_chunk::<4>() else {
            let available = self.rest.len();
            return Some(self.fail(ParseError::Truncated {
                needed: 4,
                available,
            }));
        };
        let code = OptionCode(u16::from_be_bytes([hdr[0], hdr[1]]));
        let len = usize::from(u16::from_be_bytes([hdr[2], hdr[3]]));
        let Some((data, rest)) = body.split_at_checked(len) else {
            let available = self.rest.len();
            return Some(self.fail(ParseError::Truncated {
                needed: 4 + len,
                available,
            }));
        };
        self.rest = rest;
        self.seen += 1;
        Some(Ok(Dhcp6Option { code, data }))
    }
}

impl core::iter::FusedIterator for Options<'_> {}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes(s.try_into().ok()?))
}

fn v6(b: &[u8], at: usize) -> Option<Ipv6Addr> {
    let s: [u8; 16] = b.get(at..at.checked_add(16)?)?.try_into().ok()?;
    Some(Ipv6Addr::from(s))
}

fn nested_status(options: &[u8]) -> Option<Status<'_>> {
    Options::new(options)
        .find(OptionCode::STATUS_CODE)
        .and_then(|d| Status::parse(d).ok())
}

/// IA_NA and IA_PD data (RFC 8415 sections 21.4 and 21.21): IAID, T1, T2, options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ia<'a> {
    /// IAID.
    pub iaid: u32,
    /// T1, seconds.
    pub t1: u32,
    /// T2, seconds.
    pub t2: u32,
    /// IA-options (IAADDR or IAPREFIX, status code).
    pub options: &'a [u8],
}

impl<'a> Ia<'a> {
    /// Reads IA_NA or IA_PD data.
    ///
    /// # Errors
    /// [`ParseError::Truncated`] under 12 bytes.
    pub fn parse(data: &'a [u8]) -> Result<Self, ParseError> {
        let t = |at| {
            be32(data, at).ok_or(ParseError::Truncated {
                needed: 12,
                available: data.len(),
            })
        };
        Ok(Self {
            iaid: t(0)?,
            t1: t(4)?,
            t2: t(8)?,
            options: data.get(12..).unwrap_or(&[]),
        })
    }

    /// The IAADDR options of an IA_NA.
    pub fn addresses(&self) -> impl Iterator<Item = IaAddr<'a>> + use<'a> {
        Options::new(self.options)
            .map_while(Result::ok)
            .filter(|o| o.code == OptionCode::IAADDR)
            .filter_map(|o| IaAddr::parse(o.data).ok())
    }

    /// The IAPREFIX options of an IA_PD.
    pub fn prefixes(&self) -> impl Iterator<Item = IaPrefix<'a>> + use<'a> {
        Options::new(self.options)
            .map_while(Result::ok)
            .filter(|o| o.code == OptionCode::IAPREFIX)
            .filter_map(|o| IaPrefix::parse(o.data).ok())
    }

    /// The status code inside the IA, if any.
    #[must_use]
    pub fn status(&self) -> Option<Status<'a>> {
        nested_status(self.options)
    }
}

/// IAADDR data (RFC 8415 section 21.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IaAddr<'a> {
    /// The address.
    pub addr: Ipv6Addr,
    /// Preferred lifetime, seconds.
    pub preferred: u32,
    /// Valid lifetime, seconds.
    pub valid: u32,
    /// IAaddr-options.
    pub options: &'a [u8],
}

impl<'a> IaAddr<'a> {
    /// Reads IAADDR data.
    ///
    /// # Errors
    /// [`ParseError::Truncated`] under 24 bytes.
    pub fn parse(data: &'a [u8]) -> Result<Self, ParseError> {
        let tr = ParseError::Truncated {
            needed: 24,
            available: data.len(),
        };
        Ok(Self {
            addr: v6(data, 0).ok_or(tr)?,
            preferred: be32(data, 16).ok_or(tr)?,
            valid: be32(data, 20).ok_or(tr)?,
            options: data.get(24..).unwrap_or(&[]),
        })
    }

    /// The status code inside, if any.
    #[must_use]
    pub fn status(&self) -> Option<Status<'a>> {
        nested_status(self.options)
    }
}

/// IAPREFIX data (RFC 8415 section 21.22).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IaPrefix<'a> {
    /// Preferred lifetime, seconds.
    pub preferred: u32,
    /// Valid lifetime, seconds.
    pub valid: u32,
    /// Prefix length, 0..=128.
    pub prefix_len: u8,
    /// The prefix.
    pub prefix: Ipv6Addr,
    /// IAprefix-options.
    pub options: &'a [u8],
}

impl<'a> IaPrefix<'a> {
    /// Reads IAPREFIX data.
    ///
    /// # Errors
    /// [`ParseError::Truncated`] under 25 bytes, [`ParseError::InvalidField`] for a
    /// prefix length over 128.
    pub fn parse(data: &'a [u8]) -> Result<Self, ParseError> {
        let tr = ParseError::Truncated {
            needed: 25,
            available: data.len(),
        };
        let prefix_len = *data.get(8).ok_or(tr)?;
        if prefix_len > 128 {
            return Err(ParseError::InvalidField("prefix length over 128"));
        }
        Ok(Self {
            preferred: be32(data, 0).ok_or(tr)?,
            valid: be32(data, 4).ok_or(tr)?,
            prefix_len,
            prefix: v6(data, 9).ok_or(tr)?,
            options: data.get(25..).unwrap_or(&[]),
        })
    }
}

/// Status Code data (RFC 8415 section 21.13): code and a UTF-8 message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status<'a> {
    /// status-code.
    pub code: StatusCode,
    /// status-message (UTF-8, not checked).
    pub message: &'a [u8],
}

impl<'a> Status<'a> {
    /// Reads status-code data.
    ///
    /// # Errors
    /// [`ParseError::Truncated`] under 2 bytes.
    pub fn parse(data: &'a [u8]) -> Result<Self, ParseError> {
        let (c, message) = data.split_first_chunk::<2>().ok_or(ParseError::Truncated {
            needed: 2,
            available: data.len(),
        })?;
        Ok(Self {
            code: StatusCode(u16::from_be_bytes(*c)),
            message,
        })
    }
}

/// A DUID (RFC 8415 section 11): type and type-specific bytes, at most 130 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Duid<'a> {
    raw: &'a [u8],
}

impl<'a> Duid<'a> {
    /// Checks a DUID: 3..=130 bytes (section 11.1: at most 128 octets after the type),
    /// and the fixed parts of LLT, EN, LL and UUID.
    ///
    /// # Errors
    /// [`ParseError::BadLength`] or [`ParseError::Truncated`].
    pub fn parse(raw: &'a [u8]) -> Result<Self, ParseError> {
        if raw.len() < 3 || raw.len() > 130 {
            return Err(ParseError::BadLength);
        }
        let d = Self { raw };
        let min = match d.kind() {
            DuidType::LLT => 8,
            DuidType::EN => 6,
            DuidType::LL => 4,
            DuidType::UUID => 18,
            _ => 3,
        };
        if raw.len() < min || (d.kind() == DuidType::UUID && raw.len() != 18) {
            return Err(ParseError::Truncated {
                needed: min,
                available: raw.len(),
            });
        }
        Ok(d)
    }

    /// The DUID type.
    #[must_use]
    pub fn kind(&self) -> DuidType {
        DuidType(
            self.raw
                .first_chunk::<2>()
                .map_or(0, |b| u16::from_be_bytes(*b)),
        )
    }

    /// The hardware type of DUID-LLT and DUID-LL.
    #[must_use]
    pub fn hardware_type(&self) -> Option<u16> {
        matches!(self.kind(), DuidType::LLT | DuidType::LL)
            .then(|| self.raw.get(2..4)?.try_into().ok().map(u16::from_be_bytes))
            .flatten()
    }

    /// The link-layer address of DUID-LLT and DUID-LL.
    #[must_use]
    pub fn link_layer(&self) -> Option<&'a [u8]> {
        match self.kind() {
            DuidType::LLT => self.raw.get(8..),
            DuidType::LL => self.raw.get(4..),
            _ => None,
        }
    }

    /// The enterprise number of DUID-EN.
    #[must_use]
    pub fn enterprise(&self) -> Option<u32> {
        (self.kind() == DuidType::EN)
            .then(|| be32(self.raw, 2))
            .flatten()
    }

    /// The whole DUID.
    #[must_use]
    pub const fn as_bytes(&self) -> &'a [u8] {
        self.raw
    }
}

/// Writes options into a caller buffer, with nesting (IA_NA > IAADDR > status code).
#[derive(Debug)]
pub struct OptionWriter<'b> {
    buf: &'b mut [u8],
    pos: usize,
}

impl<'b> OptionWriter<'b> {
    /// Starts at the beginning of `buf`.
    #[must_use]
    pub fn new(buf: &'b mut [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// Bytes written.
    #[must_use]
    pub const fn len(&self) -> usize {
        self.pos
    }

    /// Whether nothing was written.
    #[must_use]
    pub const fn is_empty(&self) -> bool {
        self.pos == 0
    }

    fn too_small(&self, extra: usize) -> EmitError {
        EmitError::BufferTooSmall {
            needed: self.pos.saturating_add(extra),
            available: self.buf.len(),
        }
    }

    /// Appends raw bytes (already-encoded options).
    ///
    /// # Errors
    /// [`EmitError::BufferTooSmall`].
    pub fn raw(&mut self, bytes: &[u8]) -> Result<&mut Self, EmitError> {
        let end = self
            .pos
            .checked_add(bytes.len())
            .ok_or(EmitError::ValueTooLarge("length overflow"))?;
        let e = self.too_small(bytes.len());
        self.buf
            .get_mut(self.pos..end)
            .ok_or(e)?
            .copy_from_slice(bytes);
        self.pos = end;
        Ok(self)
    }

    /// Writes one option.
    ///
    /// # Errors
    /// [`EmitError::BufferTooSmall`], [`EmitError::ValueTooLarge`] over 65535 bytes.
    pub fn option(&mut self, code: OptionCode, data: &[u8]) -> Result<&mut Self, EmitError> {
        let len = u16::try_from(data.len())
            .map_err(|_| EmitError::ValueTooLarge("option over 65535 bytes"))?;
        if self.buf.len().saturating_sub(self.pos) < 4 + data.len() {
            return Err(self.too_small(4 + data.len()));
        }
        let [c0, c1] = code.0.to_be_bytes();
        let [l0, l1] = len.to_be_bytes();
        self.raw(&[c0, c1, l0, l1])?.raw(data)
    }

    /// Writes option `code` whose data is `head` followed by the options `f` writes
    /// (IA_NA, IA_PD, IAADDR, IAPREFIX, Relay-Message).
    ///
    /// # Errors
    /// [`EmitError::BufferTooSmall`], or what `f` returns; on error the writer is
    /// left where it was.
    pub fn nested(
        &mut self,
        code: OptionCode,
        head: &[u8],
        f: impl FnOnce(&mut OptionWriter<'_>) -> Result<(), EmitError>,
    ) -> Result<&mut Self, EmitError> {
        let start = self.pos;
        let r = self.nested_inner(code, head, f);
        if r.is_err() {
            self.pos = start;
        }
        r.map(|()| self)
    }

    fn nested_inner(
        &mut self,
        code: OptionCode,
        head: &[u8],
        f: impl FnOnce(&mut OptionWriter<'_>) -> Result<(), EmitError>,
    ) -> Result<(), EmitError> {
        let start = self.pos;
        self.raw(&code.0.to_be_bytes())?.raw(&[0, 0])?.raw(head)?;
        let at = self.pos;
        let total = self.buf.len();
        let tail = self.buf.get_mut(at..).unwrap_or_default();
        let mut sub = OptionWriter::new(tail);
        f(&mut sub).map_err(|e| match e {
            EmitError::BufferTooSmall { needed, .. } => EmitError::BufferTooSmall {
                needed: needed.saturating_add(at),
                available: total,
            },
            e => e,
        })?;
        let inner = sub.len();
        self.pos = at + inner;
        let len = u16::try_from(self.pos - start - 4)
            .map_err(|_| EmitError::ValueTooLarge("option over 65535 bytes"))?;
        if let Some(l) = self.buf.get_mut(start + 2..start + 4) {
            l.copy_from_slice(&len.to_be_bytes());
        }
        Ok(())
    }

    /// Writes a status code option (section 21.13).
    ///
    /// # Errors
    /// [`EmitError::BufferTooSmall`].
    pub fn status(&mut self, code: StatusCode, message: &str) -> Result<&mut Self, EmitError> {
        self.nested(OptionCode::STATUS_CODE, &code.0.to_be_bytes(), |w| {
            w.raw(message.as_bytes()).map(drop)
        })
    }

    /// Writes an IAADDR option (section 21.6).
    ///
    /// # Errors
    /// [`EmitError::BufferTooSmall`].
    pub fn ia_addr(
        &mut self,
        a: Ipv6Addr,
        preferred: u32,
        valid: u32,
    ) -> Result<&mut Self, EmitError> {
        let mut d = [0u8; 24];
        d[..16].copy_from_slice(&a.octets());
        d[16..20].copy_from_slice(&preferred.to_be_bytes());
        d[20..].copy_from_slice(&valid.to_be_bytes());
        self.option(OptionCode::IAADDR, &d)
    }

    /// Writes an IAPREFIX option (section 21.22).
    ///
    /// # Errors
    /// [`EmitError::BufferTooSmall`].
    pub fn ia_prefix(
        &mut self,
        prefix: Ipv6Addr,
        len: u8,
        preferred: u32,
        valid: u32,
    ) -> Result<&mut Self, EmitError> {
        let mut d = [0u8; 25];
        d[..4].copy_from_slice(&preferred.to_be_bytes());
        d[4..8].copy_from_slice(&valid.to_be_bytes());
        d[8] = len;
        d[9..].copy_from_slice(&prefix.octets());
        self.option(OptionCode::IAPREFIX, &d)
    }
}

/// The IA header (IAID, T1, T2) as bytes, for [`OptionWriter::nested`].
#[must_use]
pub fn ia_head(iaid: u32, t1: u32, t2: u32) -> [u8; 12] {
    let mut h = [0u8; 12];
    h[..4].copy_from_slice(&iaid.to_be_bytes());
    h[4..8].copy_from_slice(&t1.to_be_bytes());
    h[8..].copy_from_slice(&t2.to_be_bytes());
    h
}

/// Checks an option area and the structure of the options this crate reads nested
/// (IA_NA, IA_TA, IA_PD, IAADDR, IAPREFIX, status code), to depth 3.
///
/// # Errors
/// The first [`ParseError`] found.
pub fn validate(bytes: &[u8]) -> Result<(), ParseError> {
    for o in Options::new(bytes) {
        let o = o?;
        match o.code {
            OptionCode::IA_NA | OptionCode::IA_PD => validate_inner(Ia::parse(o.data)?.options)?,
            OptionCode::IA_TA => {
                let inner = o.data.get(4..).ok_or(ParseError::Truncated {
                    needed: 4,
                    available: o.data.len(),
                })?;
                validate_inner(inner)?;
            }
            OptionCode::STATUS_CODE => {
                Status::parse(o.data)?;
            }
            _ => {}
        }
    }
    Ok(())
}

fn validate_inner(bytes: &[u8]) -> Result<(), ParseError> {
    for o in Options::new(bytes) {
        let o = o?;
        match o.code {
            OptionCode::IAADDR => {
                Options::new(IaAddr::parse(o.data)?.options).try_for_each(|x| x.map(drop))?;
            }
            OptionCode::IAPREFIX => {
                Options::new(IaPrefix::parse(o.data)?.options).try_for_each(|x| x.map(drop))?;
            }
            OptionCode::STATUS_CODE => {
                Status::parse(o.data)?;
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests")]
    use super::*;

    #[test]
    fn nested_ia_na_roundtrip() {
        let mut buf = [0u8; 128];
        let a: Ipv6Addr = "2001:db8::10".parse().unwrap();
        let mut w = OptionWriter::new(&mut buf);
        w.nested(OptionCode::IA_NA, &ia_head(7, 100, 160), |w| {
            w.ia_addr(a, 200, 300)?
                .status(StatusCode::SUCCESS, "ok")
                .map(drop)
        })
        .unwrap();
        let n = w.len();
        assert_eq!(n, 4 + 12 + 28 + 8);
        validate(&buf[..n]).unwrap();
        let o = Options::new(&buf[..n]).next().unwrap().unwrap();
        assert_eq!(o.code, OptionCode::IA_NA);
        let ia = Ia::parse(o.data).unwrap();
        assert_eq!((ia.iaid, ia.t1, ia.t2), (7, 100, 160));
        let ad = ia.addresses().next().unwrap();
        assert_eq!((ad.addr, ad.preferred, ad.valid), (a, 200, 300));
        assert_eq!(ia.status().unwrap().code, StatusCode::SUCCESS);
        assert_eq!(ia.status().unwrap().message, b"ok");
        // a too small buffer leaves the writer where it was
        let mut small = [0u8; 20];
        let mut w = OptionWriter::new(&mut small);
        assert!(
            w.nested(OptionCode::IA_NA, &ia_head(1, 2, 3), |w| w
                .ia_addr(a, 1, 2)
                .map(drop))
                .is_err()
        );
        assert_eq!(w.len(), 0);
    }

    #[test]
    fn ia_pd_and_bad_prefix_len() {
        let mut buf = [0u8; 128];
        let p: Ipv6Addr = "2001:db8:100::".parse().unwrap();
        let mut w = OptionWriter::new(&mut buf);
        w.nested(OptionCode::IA_PD, &ia_head(2, 0, 0), |w| {
            w.ia_prefix(p, 56, 10, 20).map(drop)
        })
        .unwrap();
        let n = w.len();
        let ia = Ia::parse(Options::new(&buf[..n]).find(OptionCode::IA_PD).unwrap()).unwrap();
        let px = ia.prefixes().next().unwrap();
        assert_eq!((px.prefix, px.prefix_len, px.valid), (p, 56, 20));
        buf[4 + 12 + 4 + 8] = 129;
        assert_eq!(
            validate(&buf[..n]),
            Err(ParseError::InvalidField("prefix length over 128"))
        );
    }

    #[test]
    fn duids() {
        let ll = [0, 3, 0, 1, 2, 0, 0, 0, 0, 1];
        let d = Duid::parse(&ll).unwrap();
        assert_eq!(d.kind(), DuidType::LL);
        assert_eq!(d.hardware_type(), Some(1));
        assert_eq!(d.link_layer(), Some(&[2, 0, 0, 0, 0, 1][..]));
        let en = [0, 2, 0, 0, 0x09, 0x0c, 1, 2];
        assert_eq!(Duid::parse(&en).unwrap().enterprise(), Some(0x090c));
        assert!(Duid::parse(&[0, 4, 1]).is_err());
        assert!(Duid::parse(&[0; 131]).is_err());
    }

    #[test]
    fn truncated_option_one_error() {
        let b = [0, 1, 0, 5, 1, 2];
        let mut it = Options::new(&b);
        assert!(matches!(it.next(), Some(Err(ParseError::Truncated { .. }))));
        assert!(it.next().is_none());
    }
}
