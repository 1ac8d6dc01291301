//! DHCPv4 options (RFC 2132): the option codes, a zero-copy iterator over an option
//! area, option overload (RFC 2132 section 9.3), typed accessors for the common options,
//! and a writer into a caller buffer.
//!
//! ```text
//!  code (1) | len (1) | data (len)        Pad (0) and End (255) are one byte, no length
//! ```

use core::net::Ipv4Addr;

use crate::error::{EmitError, ParseError};

/// Hard cap on options walked in one option area (STYLE.md section 2). Pad bytes do
/// not count; 312 bytes of options hold at most 156 empty options.
pub const MAX_OPTIONS: usize = 256;

open_newtype! {
    /// DHCP option code: IANA "BOOTP Vendor Extensions and DHCP Options" (RFC 2132).
    OptionCode(u8) {
        /// Pad (RFC 2132 section 3.1): one byte, no length.
        PAD = 0, "Pad";
        /// Subnet Mask (section 3.3).
        SUBNET_MASK = 1, "Subnet-Mask";
        /// Router (section 3.5).
        ROUTER = 3, "Router";
        /// Domain Name Server (section 3.8).
        DNS = 6, "Domain-Name-Server";
        /// Host Name (section 3.14).
        HOSTNAME = 12, "Hostname";
        /// Domain Name (section 3.17).
        DOMAIN_NAME = 15, "Domain-Name";
        /// Interface MTU (section 5.1).
        MTU = 26, "MTU";
        /// Broadcast Address (section 5.3).
        BROADCAST = 28, "Broadcast-Address";
        /// Vendor Specific Information (section 8.4).
        VENDOR_SPECIFIC = 43, "Vendor-Specific";
        /// Requested IP Address (section 9.1).
        REQUESTED_IP = 50, "Requested-IP";
        /// IP Address Lease Time (section 9.2).
        LEASE_TIME = 51, "Lease-Time";
        /// Option Overload (section 9.3).
        OVERLOAD = 52, "Option-Overload";
        /// DHCP Message Type (section 9.6).
        MESSAGE_TYPE = 53, "DHCP-Message-Type";
        /// Server Identifier (section 9.7).
        SERVER_ID = 54, "Server-ID";
        /// Parameter Request List (section 9.8).
        PARAMETER_LIST = 55, "Parameter-Request";
        /// Message (section 9.9).
        MESSAGE = 56, "Message";
        /// Maximum DHCP Message Size (section 9.10).
        MAX_MESSAGE_SIZE = 57, "Maximum-Message-Size";
        /// Renewal (T1) Time Value (section 9.11).
        RENEWAL_TIME = 58, "Renewal-Time";
        /// Rebinding (T2) Time Value (section 9.12).
        REBINDING_TIME = 59, "Rebinding-Time";
        /// Vendor class identifier (section 9.13).
        VENDOR_CLASS = 60, "Vendor-Class";
        /// Client-identifier (section 9.14).
        CLIENT_ID = 61, "Client-ID";
        /// User Class (RFC 3004).
        USER_CLASS = 77, "User-Class";
        /// Rapid Commit (RFC 4039 section 4).
        RAPID_COMMIT = 80, "Rapid-Commit";
        /// Relay Agent Information (RFC 3046 section 2).
        RELAY_AGENT_INFO = 82, "Relay-Agent-Information";
        /// Classless Static Route (RFC 3442).
        CLASSLESS_ROUTE = 121, "Classless-Static-Route";
        /// End (RFC 2132 section 3.2): one byte, no length.
        END = 255, "End";
    }
}

open_newtype! {
    /// DHCP message type, the value of option 53: IANA "DHCP Message Type 53 Values"
    /// (RFC 2132 section 9.6, RFC 4388, RFC 6926).
    MessageType(u8) {
        /// DHCPDISCOVER.
        DISCOVER = 1, "DISCOVER";
        /// DHCPOFFER.
        OFFER = 2, "OFFER";
        /// DHCPREQUEST.
        REQUEST = 3, "REQUEST";
        /// DHCPDECLINE.
        DECLINE = 4, "DECLINE";
        /// DHCPACK.
        ACK = 5, "ACK";
        /// DHCPNAK.
        NAK = 6, "NAK";
        /// DHCPRELEASE.
        RELEASE = 7, "RELEASE";
        /// DHCPINFORM.
        INFORM = 8, "INFORM";
        /// DHCPLEASEQUERY (RFC 4388).
        LEASEQUERY = 10, "LEASEQUERY";
    }
}

/// One option, borrowed from the packet or from the caller (RFC 2132 section 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DhcpOption<'a> {
    /// The code.
    pub code: OptionCode,
    /// The data, `len` bytes (at most 255).
    pub data: &'a [u8],
}

impl DhcpOption<'_> {
    /// Bytes this option takes on the wire: code, length and data.
    #[must_use]
    pub const fn wire_len(&self) -> usize {
        2 + self.data.len()
    }

    /// Writes the option at the start of `out`; returns the bytes written.
    ///
    /// # Errors
    /// [`EmitError::BufferTooSmall`], or [`EmitError::ValueTooLarge`] for data over 255
    /// bytes or the one-byte codes Pad and End.
    pub fn emit(&self, out: &mut [u8]) -> Result<usize, EmitError> {
        let len = u8::try_from(self.data.len())
            .map_err(|_| EmitError::ValueTooLarge("option data over 255 bytes"))?;
        if self.code == OptionCode::PAD || self.code == OptionCode::END {
            return Err(EmitError::ValueTooLarge("Pad and End carry no length"));
        }
        let needed = self.wire_len();
        let available = out.len();
        let (hdr, rest) = out
            .split_first_chunk_mut::<2>()
            .ok_or(EmitError::BufferTooSmall { needed, available })?;
        let dst = rest
            .get_mut(..self.data.len())
            .ok_or(EmitError::BufferTooSmall { needed, available })?;
        *hdr = [self.code.0, len];
        dst.copy_from_slice(self.data);
        Ok(needed)
    }
}

/// Zero-copy iterator over one option area (the `options` field, or `file`/`sname`
/// when overloaded), RFC 2132 section 2.
///
/// Pad bytes are skipped; End stops the walk (bytes after End are padding). A missing
/// End is accepted at the end of the area. Yields `Err` once for a truncated option or
/// more than [`MAX_OPTIONS`] options, then ends. Unknown codes are yielded.
#[derive(Debug, Clone)]
pub struct Options<'a> {
    rest: &'a [u8],
    seen: usize,
    done: bool,
}

impl<'a> Options<'a> {
    /// Iterates over the option area `bytes`.
    #[must_use]
    pub const fn new(bytes: &'a [u8]) -> Self {
        Self {
            rest: bytes,
            seen: 0,
            done: false,
        }
    }

    /// Checks the whole area once.
    ///
    /// # Errors
    /// The first error the iterator would yield.
    pub fn validate(bytes: &'a [u8]) -> Result<(), ParseError> {
        Self::new(bytes).try_for_each(|o| o.map(drop))
    }

    /// The data of the first option `code` in this area, if any (a malformed tail ends
    /// the search).
    #[must_use]
    pub fn find(self, code: OptionCode) -> Option<&'a [u8]> {
        self.map_while(Result::ok)
            .find(|o| o.code == code)
            .map(|o| o.data)
    }

    fn fail(&mut self, e: ParseError) -> Result<DhcpOption<'a>, ParseError> {
        self.done = true;
        self.rest = &[];
        Err(e)
    }
}

impl<'a> Iterator for Options<'a> {
    type Item = Result<DhcpOption<'a>, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        loop {
            let Some((&code, after)) = self.rest.split_first() else {
                self.done = true;
                return None;
            };
            match OptionCode(code) {
                OptionCode::PAD => self.rest = after,
                OptionCode::END => {
                    self.done = true;
                    return None;
                }
                code => {
                    if self.seen == MAX_OPTIONS {
                        return Some(self.fail(ParseError::TooManyTlvs { cap: MAX_OPTIONS }));
                    }
                    let Some((&len, body)) = after.split_first() else {
                        return Some(self.fail(ParseError::Truncated {
                            needed: 2,
                            available: 1,
                        }));
                    };
                    let Some((data, rest)) = body.split_at_checked(usize::from(len)) else {
                        return Some(self.fail(ParseError::Truncated {
                            needed: 2 + usize::from(len),
                            available: self.rest.len(),
                        }));
                    };
                    self.rest = rest;
                    self.seen += 1;
                    return Some(Ok(DhcpOption { code, data }));
                }
            }
        }
    }
}

impl core::iter::FusedIterator for Options<'_> {}

/// The value of option 52 (RFC 2132 section 9.3): which of `file` and `sname` carry
/// options too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Overload {
    /// The `file` field holds options (value 1 or 3).
    pub file: bool,
    /// The `sname` field holds options (value 2 or 3).
    pub sname: bool,
}

impl Overload {
    /// Decodes the option data (one byte, 1..=3).
    ///
    /// # Errors
    /// [`ParseError::InvalidField`] for any other value or length.
    pub fn from_data(data: &[u8]) -> Result<Self, ParseError> {
        match data {
            [1] => Ok(Self {
                file: true,
                sname: false,
            }),
            [2] => Ok(Self {
                file: false,
                sname: true,
            }),
            [3] => Ok(Self {
                file: true,
                sname: true,
            }),
            _ => Err(ParseError::InvalidField("option overload value")),
        }
    }
}

/// Iterator over all options of a message, following option overload: the `options`
/// field, then `file`, then `sname` when option 52 says so (RFC 2131 section 4.1,
/// RFC 2132 section 9.3). Overload is read only from the `options` field, so the walk
/// has at most three areas and cannot loop.
#[derive(Debug, Clone)]
pub struct AllOptions<'a> {
    cur: Options<'a>,
    file: &'a [u8],
    sname: &'a [u8],
    overload: Overload,
    area: u8,
}

impl<'a> AllOptions<'a> {
    /// Walks `options`, then `file` and `sname` as option 52 in `options` says.
    #[must_use]
    pub const fn new(options: &'a [u8], file: &'a [u8], sname: &'a [u8]) -> Self {
        Self {
            cur: Options::new(options),
            file,
            sname,
            overload: Overload {
                file: false,
                sname: false,
            },
            area: 0,
        }
    }
}

impl<'a> Iterator for AllOptions<'a> {
    type Item = Result<DhcpOption<'a>, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            match self.cur.next() {
                Some(Ok(o)) => {
                    if self.area == 0 && o.code == OptionCode::OVERLOAD {
                        match Overload::from_data(o.data) {
                            Ok(v) => self.overload = v,
                            Err(e) => {
                                self.area = 3;
                                return Some(Err(e));
                            }
                        }
                    }
                    return Some(Ok(o));
                }
                Some(Err(e)) => {
                    self.area = 3;
                    return Some(Err(e));
                }
                None => {
                    // options -> file -> sname -> done
                    self.area = self.area.saturating_add(1);
                    let next = match self.area {
                        1 if self.overload.file => self.file,
                        1 | 2 if self.overload.sname => {
                            self.area = 2;
                            self.sname
                        }
                        _ => {
                            self.area = 3;
                            return None;
                        }
                    };
                    self.cur = Options::new(next);
                }
            }
        }
    }
}

impl core::iter::FusedIterator for AllOptions<'_> {}

fn ip(data: &[u8]) -> Option<Ipv4Addr> {
    data.first_chunk::<4>()
        .filter(|_| data.len() == 4)
        .map(|b| Ipv4Addr::from(*b))
}

fn u32_of(data: &[u8]) -> Option<u32> {
    data.first_chunk::<4>()
        .filter(|_| data.len() == 4)
        .map(|b| u32::from_be_bytes(*b))
}

/// The common options of a message, read in one walk (RFC 2132). Each field holds the
/// first occurrence; a value of the wrong length reads as `None` (the raw option stays
/// available through the iterator). RFC 3396 split options are not concatenated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Known<'a> {
    /// Option 53 (section 9.6).
    pub message_type: Option<MessageType>,
    /// Option 50 (section 9.1).
    pub requested_ip: Option<Ipv4Addr>,
    /// Option 54 (section 9.7).
    pub server_id: Option<Ipv4Addr>,
    /// Option 51, seconds (section 9.2).
    pub lease_time: Option<u32>,
    /// Option 58, seconds (section 9.11).
    pub t1: Option<u32>,
    /// Option 59, seconds (section 9.12).
    pub t2: Option<u32>,
    /// Option 1 (section 3.3).
    pub subnet_mask: Option<Ipv4Addr>,
    /// Option 3, raw list of addresses (section 3.5).
    pub routers: Option<&'a [u8]>,
    /// Option 6, raw list of addresses (section 3.8).
    pub dns: Option<&'a [u8]>,
    /// Option 12 (section 3.14).
    pub hostname: Option<&'a [u8]>,
    /// Option 61: type byte and identifier (section 9.14).
    pub client_id: Option<&'a [u8]>,
    /// Option 55: requested codes (section 9.8).
    pub parameter_list: Option<&'a [u8]>,
    /// Option 57 (section 9.10).
    pub max_message_size: Option<u16>,
    /// Option 80 present (RFC 4039 section 4).
    pub rapid_commit: bool,
    /// Option 82, the raw sub-option area (RFC 3046); decode with
    /// [`crate::v4::relay::RelayAgentInfo`].
    pub relay_agent_info: Option<&'a [u8]>,
    /// Option 52 (section 9.3).
    pub overload: Option<Overload>,
}

impl<'a> Known<'a> {
    /// Reads the common options from `iter`.
    ///
    /// # Errors
    /// The first error of the walk.
    pub fn collect(
        iter: impl Iterator<Item = Result<DhcpOption<'a>, ParseError>>,
    ) -> Result<Self, ParseError> {
        let mut k = Self::default();
        for o in iter {
            k.note(o?);
        }
        Ok(k)
    }

    /// Records one option (first occurrence wins).
    pub fn note(&mut self, o: DhcpOption<'a>) {
        let d = o.data;
        match o.code {
            OptionCode::MESSAGE_TYPE => {
                if let [t] = d {
                    self.message_type = self.message_type.or(Some(MessageType(*t)));
                }
            }
            OptionCode::REQUESTED_IP => self.requested_ip = self.requested_ip.or(ip(d)),
            OptionCode::SERVER_ID => self.server_id = self.server_id.or(ip(d)),
            OptionCode::LEASE_TIME => self.lease_time = self.lease_time.or(u32_of(d)),
            OptionCode::RENEWAL_TIME => self.t1 = self.t1.or(u32_of(d)),
            OptionCode::REBINDING_TIME => self.t2 = self.t2.or(u32_of(d)),
            OptionCode::SUBNET_MASK => self.subnet_mask = self.subnet_mask.or(ip(d)),
            OptionCode::ROUTER => self.routers = self.routers.or(Some(d)),
            OptionCode::DNS => self.dns = self.dns.or(Some(d)),
            OptionCode::HOSTNAME => self.hostname = self.hostname.or(Some(d)),
            OptionCode::CLIENT_ID => self.client_id = self.client_id.or(Some(d)),
            OptionCode::PARAMETER_LIST => self.parameter_list = self.parameter_list.or(Some(d)),
            OptionCode::MAX_MESSAGE_SIZE => {
                if let [a, b] = d {
                    let v = u16::from_be_bytes([*a, *b]);
                    self.max_message_size = self.max_message_size.or(Some(v));
                }
            }
            OptionCode::RAPID_COMMIT => self.rapid_commit = true,
            OptionCode::RELAY_AGENT_INFO => {
                self.relay_agent_info = self.relay_agent_info.or(Some(d));
            }
            OptionCode::OVERLOAD => self.overload = self.overload.or(Overload::from_data(d).ok()),
            _ => {}
        }
    }

    /// The first router of option 3.
    #[must_use]
    pub fn router(&self) -> Option<Ipv4Addr> {
        self.routers
            .and_then(<[u8]>::first_chunk::<4>)
            .map(|b| Ipv4Addr::from(*b))
    }
}

/// Writes options one after another into a caller buffer (RFC 2132 section 2).
#[derive(Debug)]
pub struct OptionWriter<'b> {
    buf: &'b mut [u8],
    pos: usize,
}

impl<'b> OptionWriter<'b> {
    /// Starts writing at the beginning of `buf`.
    #[must_use]
    pub fn new(buf: &'b mut [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// Bytes written so far.
    #[must_use]
    pub const fn len(&self) -> usize {
        self.pos
    }

    /// Whether nothing has been written.
    #[must_use]
    pub const fn is_empty(&self) -> bool {
        self.pos == 0
    }

    fn tail(&mut self) -> &mut [u8] {
        self.buf.get_mut(self.pos..).unwrap_or_default()
    }

    /// Writes one option.
    ///
    /// # Errors
    /// As [`DhcpOption::emit`]; nothing is written on error.
    pub fn option(&mut self, code: OptionCode, data: &[u8]) -> Result<&mut Self, EmitError> {
        let at = self.pos;
        let n = DhcpOption { code, data }
            .emit(self.tail())
            .map_err(|e| grow(e, at))?;
        self.pos += n;
        Ok(self)
    }

    /// Writes an option holding one address (options 1, 3, 50, 54, ...).
    ///
    /// # Errors
    /// [`EmitError::BufferTooSmall`].
    pub fn ip(&mut self, code: OptionCode, addr: Ipv4Addr) -> Result<&mut Self, EmitError> {
        self.option(code, &addr.octets())
    }

    /// Writes a 32-bit option (lease time, T1, T2).
    ///
    /// # Errors
    /// [`EmitError::BufferTooSmall`].
    pub fn u32(&mut self, code: OptionCode, v: u32) -> Result<&mut Self, EmitError> {
        self.option(code, &v.to_be_bytes())
    }

    /// Writes option 53.
    ///
    /// # Errors
    /// [`EmitError::BufferTooSmall`].
    pub fn message_type(&mut self, t: MessageType) -> Result<&mut Self, EmitError> {
        self.option(OptionCode::MESSAGE_TYPE, &[t.0])
    }

    /// Writes the End option and returns the bytes written in total.
    ///
    /// # Errors
    /// [`EmitError::BufferTooSmall`].
    pub fn end(&mut self) -> Result<usize, EmitError> {
        let at = self.pos;
        let b = self.tail().first_mut().ok_or(EmitError::BufferTooSmall {
            needed: at + 1,
            available: at,
        })?;
        *b = OptionCode::END.0;
        self.pos += 1;
        Ok(self.pos)
    }
}

/// Shifts a `BufferTooSmall` from a tail-relative to a writer-relative error.
fn grow(e: EmitError, at: usize) -> EmitError {
    match e {
        EmitError::BufferTooSmall { needed, available } => EmitError::BufferTooSmall {
            needed: needed.saturating_add(at),
            available: available.saturating_add(at),
        },
        e => e,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests")]
    use super::*;

    #[test]
    fn walk_pad_end() {
        let b = [0, 0, 53, 1, 1, 0, 50, 4, 10, 0, 0, 9, 255, 7, 7];
        let v: [_; 2] = {
            let mut it = Options::new(&b);
            [it.next().unwrap().unwrap(), it.next().unwrap().unwrap()]
        };
        assert_eq!(v[0].code, OptionCode::MESSAGE_TYPE);
        assert_eq!(v[1].data, &[10, 0, 0, 9]);
        assert_eq!(Options::new(&b).count(), 2);
        let k = Known::collect(Options::new(&b)).unwrap();
        assert_eq!(k.message_type, Some(MessageType::DISCOVER));
        assert_eq!(k.requested_ip, Some(Ipv4Addr::new(10, 0, 0, 9)));
    }

    #[test]
    fn truncated_yields_one_error() {
        for b in [&[53u8][..], &[53, 2, 1][..]] {
            let mut it = Options::new(b);
            assert!(matches!(it.next(), Some(Err(ParseError::Truncated { .. }))));
            assert!(it.next().is_none());
        }
    }

    #[test]
    fn cap() {
        let b = [[12u8, 0]; MAX_OPTIONS + 1];
        let flat = b.as_flattened();
        assert_eq!(
            Options::validate(flat),
            Err(ParseError::TooManyTlvs { cap: MAX_OPTIONS })
        );
    }

    #[test]
    fn overload_walk() {
        let opts = [52, 1, 3, 53, 1, 1, 255];
        let file = [12, 2, b'h', b'i', 255];
        let sname = [50, 4, 1, 2, 3, 4, 255];
        let codes: [u8; 4] = {
            let mut c = [0; 4];
            for (i, o) in AllOptions::new(&opts, &file, &sname).enumerate() {
                c[i] = o.unwrap().code.0;
            }
            c
        };
        assert_eq!(codes, [52, 53, 12, 50]);
        // sname only
        let opts2 = [52, 1, 2, 255];
        assert_eq!(AllOptions::new(&opts2, &file, &sname).count(), 2);
        // no overload: file ignored
        assert_eq!(AllOptions::new(&opts[3..], &file, &sname).count(), 1);
        // bad value
        assert!(AllOptions::new(&[52, 1, 9], &file, &sname).any(|o| o.is_err()));
    }

    #[test]
    fn writer() {
        let mut buf = [0u8; 16];
        let mut w = OptionWriter::new(&mut buf);
        w.message_type(MessageType::ACK).unwrap();
        w.u32(OptionCode::LEASE_TIME, 3600).unwrap();
        let n = w.end().unwrap();
        assert_eq!(n, 10);
        assert_eq!(&buf[..n], &[53, 1, 5, 51, 4, 0, 0, 0x0e, 0x10, 255]);
        let mut small = [0u8; 4];
        let mut w = OptionWriter::new(&mut small);
        w.message_type(MessageType::ACK).unwrap();
        assert_eq!(
            w.ip(OptionCode::SERVER_ID, Ipv4Addr::LOCALHOST)
                .unwrap_err(),
            EmitError::BufferTooSmall {
                needed: 9,
                available: 4
            }
        );
        assert_eq!(w.end().unwrap(), 4);
    }
}
