//! The DHCPv4 message (RFC 2131 section 2, figure 1): the fixed BOOTP header, the
//! magic cookie (RFC 2131 section 3) and the options area.
//!
//! ```text
//!  op(1) htype(1) hlen(1) hops(1) | xid(4) | secs(2) flags(2) | ciaddr(4) yiaddr(4)
//!  siaddr(4) giaddr(4) | chaddr(16) | sname(64) | file(128) | cookie(4) | options
//! ```

use core::net::Ipv4Addr;

use super::options::{AllOptions, DhcpOption, Known, OptionCode, Options};
use crate::error::{EmitError, ParseError};

mod field {
    use core::ops::Range;
    pub(super) const OP: usize = 0;
    pub(super) const HTYPE: usize = 1;
    pub(super) const HLEN: usize = 2;
    pub(super) const HOPS: usize = 3;
    pub(super) const XID: Range<usize> = 4..8;
    pub(super) const SECS: Range<usize> = 8..10;
    pub(super) const FLAGS: Range<usize> = 10..12;
    pub(super) const CIADDR: Range<usize> = 12..16;
    pub(super) const YIADDR: Range<usize> = 16..20;
    pub(super) const SIADDR: Range<usize> = 20..24;
    pub(super) const GIADDR: Range<usize> = 24..28;
    pub(super) const CHADDR: Range<usize> = 28..44;
    pub(super) const SNAME: Range<usize> = 44..108;
    pub(super) const FILE: Range<usize> = 108..236;
    pub(super) const COOKIE: Range<usize> = 236..240;
    pub(super) const OPTIONS: usize = 240;
}

/// Length of the fixed header including the magic cookie (RFC 2131 section 2).
pub const HEADER_LEN: usize = field::OPTIONS;

/// The magic cookie 99.130.83.99 that starts the options (RFC 2131 section 3).
pub const MAGIC_COOKIE: [u8; 4] = [99, 130, 83, 99];

/// The smallest BOOTP message relays and clients must accept (RFC 1542 section 2.1);
/// [`Repr::emit`] pads built messages to it.
pub const MIN_LEN: usize = 300;

/// The server port (RFC 2131 section 4.1).
pub const SERVER_PORT: u16 = 67;
/// The client port (RFC 2131 section 4.1).
pub const CLIENT_PORT: u16 = 68;

/// The broadcast bit of `flags` (RFC 2131 section 2, figure 2).
pub const FLAG_BROADCAST: u16 = 0x8000;

open_newtype! {
    /// BOOTP `op` (RFC 2131 section 2).
    Op(u8) {
        /// BOOTREQUEST, client or relay to server.
        REQUEST = 1, "BOOTREQUEST";
        /// BOOTREPLY, server to client or relay.
        REPLY = 2, "BOOTREPLY";
    }
}

/// A checked view of a DHCPv4 message (RFC 2131 section 2).
#[derive(Debug, Clone, Copy)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

fn ip_at(b: &[u8], r: core::ops::Range<usize>) -> Ipv4Addr {
    b.get(r)
        .and_then(|s| <[u8; 4]>::try_from(s).ok())
        .map_or(Ipv4Addr::UNSPECIFIED, Ipv4Addr::from)
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps `buffer` after checking the 236-byte header, the magic cookie (a plain
    /// BOOTP message without it is refused) and `hlen <= 16` (RFC 2131 section 2).
    ///
    /// # Errors
    /// [`ParseError::Truncated`] or [`ParseError::InvalidField`].
    pub fn new_checked(buffer: T) -> Result<Self, ParseError> {
        let b = buffer.as_ref();
        let Some(hdr) = b.first_chunk::<HEADER_LEN>() else {
            return Err(ParseError::Truncated {
                needed: HEADER_LEN,
                available: b.len(),
            });
        };
        if hdr.get(field::COOKIE) != Some(&MAGIC_COOKIE[..]) {
            return Err(ParseError::InvalidField("no DHCP magic cookie"));
        }
        if hdr[field::HLEN] > 16 {
            return Err(ParseError::InvalidField("hlen over 16"));
        }
        Ok(Self { buffer })
    }

    fn b(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// `op`.
    #[must_use]
    pub fn op(&self) -> Op {
        Op(self.b().get(field::OP).copied().unwrap_or(0))
    }

    /// `htype` (1 = Ethernet).
    #[must_use]
    pub fn htype(&self) -> u8 {
        self.b().get(field::HTYPE).copied().unwrap_or(0)
    }

    /// `hlen`, at most 16.
    #[must_use]
    pub fn hlen(&self) -> u8 {
        self.b().get(field::HLEN).copied().unwrap_or(0)
    }

    /// `hops`.
    #[must_use]
    pub fn hops(&self) -> u8 {
        self.b().get(field::HOPS).copied().unwrap_or(0)
    }

    /// `xid`.
    #[must_use]
    pub fn xid(&self) -> u32 {
        self.b()
            .get(field::XID)
            .and_then(|s| <[u8; 4]>::try_from(s).ok())
            .map_or(0, u32::from_be_bytes)
    }

    /// `secs`.
    #[must_use]
    pub fn secs(&self) -> u16 {
        self.u16_at(field::SECS)
    }

    /// `flags` (bit 15 is the broadcast bit).
    #[must_use]
    pub fn flags(&self) -> u16 {
        self.u16_at(field::FLAGS)
    }

    fn u16_at(&self, r: core::ops::Range<usize>) -> u16 {
        self.b()
            .get(r)
            .and_then(|s| <[u8; 2]>::try_from(s).ok())
            .map_or(0, u16::from_be_bytes)
    }

    /// `ciaddr`.
    #[must_use]
    pub fn ciaddr(&self) -> Ipv4Addr {
        ip_at(self.b(), field::CIADDR)
    }

    /// `yiaddr`.
    #[must_use]
    pub fn yiaddr(&self) -> Ipv4Addr {
        ip_at(self.b(), field::YIADDR)
    }

    /// `siaddr`.
    #[must_use]
    pub fn siaddr(&self) -> Ipv4Addr {
        ip_at(self.b(), field::SIADDR)
    }

    /// `giaddr`.
    #[must_use]
    pub fn giaddr(&self) -> Ipv4Addr {
        ip_at(self.b(), field::GIADDR)
    }

    /// All 16 bytes of `chaddr`.
    #[must_use]
    pub fn chaddr_raw(&self) -> [u8; 16] {
        self.b()
            .get(field::CHADDR)
            .and_then(|s| <[u8; 16]>::try_from(s).ok())
            .unwrap_or([0; 16])
    }

    /// The first `hlen` bytes of `chaddr`.
    #[must_use]
    pub fn chaddr(&self) -> &[u8] {
        let end = field::CHADDR.start + usize::from(self.hlen());
        self.b().get(field::CHADDR.start..end).unwrap_or(&[])
    }

    /// The 64-byte `sname` field.
    #[must_use]
    pub fn sname(&self) -> &[u8] {
        self.b().get(field::SNAME).unwrap_or(&[])
    }

    /// The 128-byte `file` field.
    #[must_use]
    pub fn file(&self) -> &[u8] {
        self.b().get(field::FILE).unwrap_or(&[])
    }

    /// The options area after the magic cookie, including End and any padding.
    #[must_use]
    pub fn options_raw(&self) -> &[u8] {
        self.b().get(field::OPTIONS..).unwrap_or(&[])
    }

    /// The options of the `options` field only.
    #[must_use]
    pub fn options(&self) -> Options<'_> {
        Options::new(self.options_raw())
    }

    /// All options, following option overload into `file` and `sname`
    /// (RFC 2132 section 9.3).
    #[must_use]
    pub fn all_options(&self) -> AllOptions<'_> {
        AllOptions::new(self.options_raw(), self.file(), self.sname())
    }

    /// The whole message.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        self.b()
    }
}

/// The options of a [`Repr`]: the raw, validated area of a parsed message (so a
/// re-emit is byte-identical and unknown options survive), or a list to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptionList<'a> {
    /// The bytes after the magic cookie, End and padding included, checked by
    /// [`Options::validate`].
    Wire(&'a [u8]),
    /// Options to write, in order; [`Repr::emit`] appends End and pads to
    /// [`MIN_LEN`].
    List(&'a [DhcpOption<'a>]),
}

impl<'a> OptionList<'a> {
    fn wire_len(&self) -> usize {
        match self {
            Self::Wire(b) => b.len(),
            Self::List(l) => l.iter().map(DhcpOption::wire_len).sum::<usize>() + 1,
        }
    }

    /// Iterates over the options (of the `options` field only).
    #[must_use]
    pub fn iter(&self) -> ListIter<'a> {
        match *self {
            Self::Wire(b) => ListIter::Wire(Options::new(b)),
            Self::List(l) => ListIter::List(l.iter()),
        }
    }
}

/// Iterator over an [`OptionList`].
#[derive(Debug, Clone)]
pub enum ListIter<'a> {
    /// Over wire bytes.
    Wire(Options<'a>),
    /// Over a list.
    List(core::slice::Iter<'a, DhcpOption<'a>>),
}

impl<'a> IntoIterator for &OptionList<'a> {
    type Item = Result<DhcpOption<'a>, ParseError>;
    type IntoIter = ListIter<'a>;
    fn into_iter(self) -> ListIter<'a> {
        self.iter()
    }
}

impl<'a> Iterator for ListIter<'a> {
    type Item = Result<DhcpOption<'a>, ParseError>;
    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Self::Wire(o) => o.next(),
            Self::List(l) => l.next().copied().map(Ok),
        }
    }
}

/// A DHCPv4 message as data (RFC 2131 section 2): parse from a [`Packet`], emit into
/// a caller buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr<'a> {
    /// `op`.
    pub op: Op,
    /// `htype`.
    pub htype: u8,
    /// `hlen`.
    pub hlen: u8,
    /// `hops`.
    pub hops: u8,
    /// `xid`.
    pub xid: u32,
    /// `secs`.
    pub secs: u16,
    /// `flags`.
    pub flags: u16,
    /// `ciaddr`.
    pub ciaddr: Ipv4Addr,
    /// `yiaddr`.
    pub yiaddr: Ipv4Addr,
    /// `siaddr`.
    pub siaddr: Ipv4Addr,
    /// `giaddr`.
    pub giaddr: Ipv4Addr,
    /// All 16 bytes of `chaddr`.
    pub chaddr: [u8; 16],
    /// `sname`: up to 64 bytes, zero-filled on emit.
    pub sname: &'a [u8],
    /// `file`: up to 128 bytes, zero-filled on emit.
    pub file: &'a [u8],
    /// The options.
    pub options: OptionList<'a>,
}

impl<'a> Repr<'a> {
    /// A BOOTREQUEST template for an Ethernet client `mac` (RFC 2131 section 4.4.1).
    #[must_use]
    pub fn request(xid: u32, mac: [u8; 6], options: &'a [DhcpOption<'a>]) -> Self {
        let mut chaddr = [0; 16];
        if let Some(d) = chaddr.first_chunk_mut::<6>() {
            *d = mac;
        }
        Self {
            op: Op::REQUEST,
            htype: 1,
            hlen: 6,
            hops: 0,
            xid,
            secs: 0,
            flags: 0,
            ciaddr: Ipv4Addr::UNSPECIFIED,
            yiaddr: Ipv4Addr::UNSPECIFIED,
            siaddr: Ipv4Addr::UNSPECIFIED,
            giaddr: Ipv4Addr::UNSPECIFIED,
            chaddr,
            sname: &[],
            file: &[],
            options: OptionList::List(options),
        }
    }

    /// Reads a message, checking every option of the `options` field and, when option
    /// 52 says so, of `file` and `sname` (RFC 2132 section 9.3).
    ///
    /// # Errors
    /// [`ParseError`] for a malformed option area.
    pub fn parse(p: &Packet<&'a [u8]>) -> Result<Self, ParseError> {
        Self::parse_known(p).map(|(r, _)| r)
    }

    /// [`Repr::parse`] and [`Repr::known`] in one walk over the options: the same checks,
    /// half the work.
    ///
    /// # Errors
    /// As [`Repr::parse`].
    pub fn parse_known(p: &Packet<&'a [u8]>) -> Result<(Self, Known<'a>), ParseError> {
        let b: &'a [u8] = p.buffer;
        let options = b.get(field::OPTIONS..).unwrap_or(&[]);
        let sname = b.get(field::SNAME).unwrap_or(&[]);
        let file = b.get(field::FILE).unwrap_or(&[]);
        let known = Known::collect(AllOptions::new(options, file, sname))?;
        let r = Self {
            op: p.op(),
            htype: p.htype(),
            hlen: p.hlen(),
            hops: p.hops(),
            xid: p.xid(),
            secs: p.secs(),
            flags: p.flags(),
            ciaddr: p.ciaddr(),
            yiaddr: p.yiaddr(),
            siaddr: p.siaddr(),
            giaddr: p.giaddr(),
            chaddr: p.chaddr_raw(),
            sname,
            file,
            options: OptionList::Wire(options),
        };
        Ok((r, known))
    }

    /// The common options, read in one walk (overload followed for wire messages).
    ///
    /// # Errors
    /// The first error of the walk (never for a parsed `Repr`).
    pub fn known(&self) -> Result<Known<'a>, ParseError> {
        match self.options {
            OptionList::Wire(b) => Known::collect(AllOptions::new(b, self.file, self.sname)),
            OptionList::List(_) => Known::collect(self.options.iter()),
        }
    }

    /// The first `hlen` bytes of `chaddr`.
    #[must_use]
    pub fn client_hw(&self) -> &[u8] {
        self.chaddr
            .get(..usize::from(self.hlen))
            .unwrap_or(&self.chaddr)
    }

    /// The broadcast bit (RFC 2131 section 4.1).
    #[must_use]
    pub const fn broadcast(&self) -> bool {
        self.flags & FLAG_BROADCAST != 0
    }

    /// Bytes [`Repr::emit`] writes.
    #[must_use]
    pub fn buffer_len(&self) -> usize {
        let n = HEADER_LEN + self.options.wire_len();
        match self.options {
            OptionList::Wire(_) => n,
            OptionList::List(_) => n.max(MIN_LEN),
        }
    }

    /// Writes the message at the start of `out`; returns the bytes written.
    ///
    /// # Errors
    /// [`EmitError::BufferTooSmall`] (checked before anything is written),
    /// [`EmitError::ValueTooLarge`] for `sname`/`file` over 64/128 bytes, `hlen` over 16,
    /// or an option over 255 bytes.
    pub fn emit(&self, out: &mut [u8]) -> Result<usize, EmitError> {
        if self.sname.len() > field::SNAME.len() || self.file.len() > field::FILE.len() {
            return Err(EmitError::ValueTooLarge("sname or file too long"));
        }
        if self.hlen > 16 {
            return Err(EmitError::ValueTooLarge("hlen over 16"));
        }
        let needed = self.buffer_len();
        let available = out.len();
        let out = out
            .get_mut(..needed)
            .ok_or(EmitError::BufferTooSmall { needed, available })?;
        let (hdr, rest) = out
            .split_first_chunk_mut::<HEADER_LEN>()
            .ok_or(EmitError::BufferTooSmall { needed, available })?;
        hdr[field::OP] = self.op.0;
        hdr[field::HTYPE] = self.htype;
        hdr[field::HLEN] = self.hlen;
        hdr[field::HOPS] = self.hops;
        hdr[field::XID].copy_from_slice(&self.xid.to_be_bytes());
        hdr[field::SECS].copy_from_slice(&self.secs.to_be_bytes());
        hdr[field::FLAGS].copy_from_slice(&self.flags.to_be_bytes());
        hdr[field::CIADDR].copy_from_slice(&self.ciaddr.octets());
        hdr[field::YIADDR].copy_from_slice(&self.yiaddr.octets());
        hdr[field::SIADDR].copy_from_slice(&self.siaddr.octets());
        hdr[field::GIADDR].copy_from_slice(&self.giaddr.octets());
        hdr[field::CHADDR].copy_from_slice(&self.chaddr);
        copy_padded(&mut hdr[field::SNAME], self.sname);
        copy_padded(&mut hdr[field::FILE], self.file);
        hdr[field::COOKIE].copy_from_slice(&MAGIC_COOKIE);
        match self.options {
            OptionList::Wire(b) => rest.copy_from_slice(b),
            OptionList::List(l) => {
                let mut at = 0;
                for o in l {
                    at += o.emit(rest.get_mut(at..).unwrap_or_default())?;
                }
                let (end, pad) = rest
                    .get_mut(at..)
                    .and_then(<[u8]>::split_first_mut)
                    .ok_or(EmitError::BufferTooSmall { needed, available })?;
                *end = OptionCode::END.0;
                pad.fill(0);
            }
        }
        Ok(needed)
    }
}

fn copy_padded(dst: &mut [u8], src: &[u8]) {
    let (a, b) = dst.split_at_mut(src.len().min(dst.len()));
    a.copy_from_slice(src.get(..a.len()).unwrap_or_default());
    b.fill(0);
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests")]
    use super::super::options::MessageType;
    use super::*;

    fn discover(buf: &mut [u8]) -> usize {
        let opts = [
            DhcpOption {
                code: OptionCode::MESSAGE_TYPE,
                data: &[1],
            },
            DhcpOption {
                code: OptionCode::REQUESTED_IP,
                data: &[192, 168, 1, 4],
            },
            DhcpOption {
                code: OptionCode::PARAMETER_LIST,
                data: &[1, 3, 6],
            },
            DhcpOption {
                code: OptionCode(224),
                data: b"unknown",
            },
        ];
        Repr::request(0x0630_2864, [0, 0xc, 0x29, 0x1f, 0x74, 6], &opts)
            .emit(buf)
            .unwrap()
    }

    #[test]
    fn build_parse_reemit() {
        let mut buf = [0u8; 600];
        let n = discover(&mut buf);
        assert_eq!(n, MIN_LEN);
        let p = Packet::new_checked(&buf[..n]).unwrap();
        assert_eq!(p.xid(), 0x0630_2864);
        assert_eq!(p.chaddr(), &[0, 0xc, 0x29, 0x1f, 0x74, 6]);
        let r = Repr::parse(&p).unwrap();
        let k = r.known().unwrap();
        assert_eq!(Repr::parse_known(&p).unwrap(), (r, k));
        assert_eq!(k.message_type, Some(MessageType::DISCOVER));
        assert_eq!(k.requested_ip, Some(Ipv4Addr::new(192, 168, 1, 4)));
        assert_eq!(k.parameter_list, Some(&[1u8, 3, 6][..]));
        assert_eq!(p.options().find(OptionCode(224)), Some(&b"unknown"[..]));
        let mut again = [0u8; 600];
        assert_eq!(r.emit(&mut again).unwrap(), n);
        assert_eq!(&again[..n], &buf[..n]);
    }

    #[test]
    fn every_truncated_prefix() {
        let mut buf = [0u8; 600];
        let n = discover(&mut buf);
        for cut in 0..HEADER_LEN {
            assert!(Packet::new_checked(&buf[..cut]).is_err());
        }
        // an option cut in the middle is an error; a cut at an option boundary is not
        for cut in HEADER_LEN..n {
            let p = Packet::new_checked(&buf[..cut]).unwrap();
            let r = Repr::parse(&p);
            let boundary = [240, 243, 249, 254].contains(&cut) || cut >= 263;
            assert_eq!(r.is_ok(), boundary, "cut {cut}");
        }
    }

    #[test]
    fn short_buffer_and_bad_cookie() {
        let mut buf = [0u8; 600];
        let n = discover(&mut buf);
        let r = Repr::parse(&Packet::new_checked(&buf[..n]).unwrap()).unwrap();
        let mut small = [0u8; 299];
        assert_eq!(
            r.emit(&mut small),
            Err(EmitError::BufferTooSmall {
                needed: 300,
                available: 299
            })
        );
        buf[236] = 0;
        assert!(Packet::new_checked(&buf[..n]).is_err());
    }

    #[test]
    fn overload_options_in_file() {
        let mut buf = [0u8; 300];
        let opts = [DhcpOption {
            code: OptionCode::OVERLOAD,
            data: &[1],
        }];
        let file = [53u8, 1, 5, 51, 4, 0, 0, 1, 0, 255];
        let mut r = Repr::request(1, [2; 6], &opts);
        r.op = Op::REPLY;
        r.file = &file;
        let n = r.emit(&mut buf).unwrap();
        let p = Packet::new_checked(&buf[..n]).unwrap();
        let back = Repr::parse(&p).unwrap();
        let k = back.known().unwrap();
        assert_eq!(k.message_type, Some(MessageType::ACK));
        assert_eq!(k.lease_time, Some(256));
        // a bad option in an overloaded file fails the parse
        buf[108 + 4] = 200;
        let p = Packet::new_checked(&buf[..n]).unwrap();
        assert!(Repr::parse(&p).is_err());
    }

    proptest::proptest! {
        #[test]
        fn roundtrip(xid in proptest::prelude::any::<u32>(),
                     flags in proptest::prelude::any::<u16>(),
                     ci in proptest::prelude::any::<u32>(),
                     gi in proptest::prelude::any::<u32>(),
                     chaddr in proptest::prelude::any::<[u8; 16]>(),
                     hlen in 0u8..=16,
                     sname in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64),
                     opts in proptest::collection::vec((1u8..=254,
                              proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40)), 0..10)) {
            extern crate std;
            let list: std::vec::Vec<DhcpOption<'_>> = opts
                .iter()
                .filter(|(c, _)| *c != OptionCode::OVERLOAD.0)
                .map(|(c, d)| DhcpOption { code: OptionCode(*c), data: d })
                .collect();
            let mut r = Repr::request(xid, [0; 6], &list);
            r.flags = flags;
            r.ciaddr = Ipv4Addr::from(ci);
            r.giaddr = Ipv4Addr::from(gi);
            r.chaddr = chaddr;
            r.hlen = hlen;
            r.sname = &sname;
            let mut buf = [0u8; 1024];
            let n = r.emit(&mut buf).unwrap();
            proptest::prop_assert_eq!(n, r.buffer_len());
            let p = Packet::new_checked(&buf[..n]).unwrap();
            let back = Repr::parse(&p).unwrap();
            proptest::prop_assert_eq!(back.xid, xid);
            proptest::prop_assert_eq!(back.chaddr, chaddr);
            let got: std::vec::Vec<_> = back.options.iter().map(Result::unwrap).collect();
            proptest::prop_assert_eq!(&got, &list);
            let mut buf2 = [0u8; 1024];
            let n2 = back.emit(&mut buf2).unwrap();
            proptest::prop_assert_eq!(&buf[..n], &buf2[..n2]);
        }
    }
}
