//! DHCPv6 messages (RFC 8415 sections 8 and 9): client/server messages and
//! Relay-forward/Relay-reply messages, nested through the Relay Message option.
//!
//! ```text
//!  client/server:  msg-type(1) | transaction-id(3) | options
//!  relay:          msg-type(1) | hop-count(1) | link-address(16) | peer-address(16) | options
//! ```

use core::net::Ipv6Addr;

use super::options::{self, OptionCode, Options};
use crate::error::{EmitError, ParseError};

/// The client port (RFC 8415 section 7.2).
pub const CLIENT_PORT: u16 = 546;
/// The server and relay port (RFC 8415 section 7.2).
pub const SERVER_PORT: u16 = 547;
/// `All_DHCP_Relay_Agents_and_Servers` `ff02::1:2` (RFC 8415 section 7.1).
pub const ALL_RELAYS_AND_SERVERS: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 1, 2);
/// `HOP_COUNT_LIMIT` (RFC 8415 section 7.6): also our cap on Relay-Message nesting.
pub const MAX_RELAY_DEPTH: usize = 8;
/// Length of the relay header.
pub const RELAY_HEADER_LEN: usize = 34;

open_newtype! {
    /// DHCPv6 message type: IANA "Message Types" (RFC 8415 section 7.3).
    MessageType(u8) {
        /// SOLICIT.
        SOLICIT = 1, "SOLICIT";
        /// ADVERTISE.
        ADVERTISE = 2, "ADVERTISE";
        /// REQUEST.
        REQUEST = 3, "REQUEST";
        /// CONFIRM.
        CONFIRM = 4, "CONFIRM";
        /// RENEW.
        RENEW = 5, "RENEW";
        /// REBIND.
        REBIND = 6, "REBIND";
        /// REPLY.
        REPLY = 7, "REPLY";
        /// RELEASE.
        RELEASE = 8, "RELEASE";
        /// DECLINE.
        DECLINE = 9, "DECLINE";
        /// RECONFIGURE.
        RECONFIGURE = 10, "RECONFIGURE";
        /// INFORMATION-REQUEST.
        INFORMATION_REQUEST = 11, "INFORMATION-REQUEST";
        /// RELAY-FORW.
        RELAY_FORW = 12, "RELAY-FORW";
        /// RELAY-REPL.
        RELAY_REPL = 13, "RELAY-REPL";
    }
}

impl MessageType {
    /// Whether this type uses the relay header (section 9).
    #[must_use]
    pub const fn is_relay(self) -> bool {
        matches!(self, Self::RELAY_FORW | Self::RELAY_REPL)
    }
}

/// A checked view of a DHCPv6 message of either form (RFC 8415 sections 8 and 9).
#[derive(Debug, Clone, Copy)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps `buffer` after checking the header length of its message type.
    ///
    /// # Errors
    /// [`ParseError::Truncated`].
    pub fn new_checked(buffer: T) -> Result<Self, ParseError> {
        let b = buffer.as_ref();
        let t = MessageType(*b.first().ok_or(ParseError::Truncated {
            needed: 4,
            available: 0,
        })?);
        let needed = if t.is_relay() { RELAY_HEADER_LEN } else { 4 };
        if b.len() < needed {
            return Err(ParseError::Truncated {
                needed,
                available: b.len(),
            });
        }
        Ok(Self { buffer })
    }

    fn b(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// msg-type.
    #[must_use]
    pub fn msg_type(&self) -> MessageType {
        MessageType(self.b().first().copied().unwrap_or(0))
    }

    /// transaction-id (24 bits) of a client/server message; 0 for relay messages.
    #[must_use]
    pub fn transaction_id(&self) -> u32 {
        if self.msg_type().is_relay() {
            return 0;
        }
        self.b()
            .get(1..4)
            .map_or(0, |s| s.iter().fold(0, |a, b| (a << 8) | u32::from(*b)))
    }

    /// hop-count of a relay message.
    #[must_use]
    pub fn hop_count(&self) -> u8 {
        if self.msg_type().is_relay() {
            self.b().get(1).copied().unwrap_or(0)
        } else {
            0
        }
    }

    fn addr(&self, at: usize) -> Ipv6Addr {
        self.b()
            .get(at..at + 16)
            .and_then(|s| <[u8; 16]>::try_from(s).ok())
            .map_or(Ipv6Addr::UNSPECIFIED, Ipv6Addr::from)
    }

    /// link-address of a relay message.
    #[must_use]
    pub fn link_address(&self) -> Ipv6Addr {
        self.addr(2)
    }

    /// peer-address of a relay message.
    #[must_use]
    pub fn peer_address(&self) -> Ipv6Addr {
        self.addr(18)
    }

    /// The option bytes.
    #[must_use]
    pub fn options_raw(&self) -> &[u8] {
        let at = if self.msg_type().is_relay() {
            RELAY_HEADER_LEN
        } else {
            4
        };
        self.b().get(at..).unwrap_or(&[])
    }

    /// The options.
    #[must_use]
    pub fn options(&self) -> Options<'_> {
        Options::new(self.options_raw())
    }

    /// The whole message.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        self.b()
    }
}

/// The header of a [`Repr`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Header {
    /// Client/server message (section 8).
    Client {
        /// transaction-id, 24 bits.
        transaction_id: u32,
    },
    /// Relay message (section 9).
    Relay {
        /// hop-count.
        hop_count: u8,
        /// link-address.
        link: Ipv6Addr,
        /// peer-address.
        peer: Ipv6Addr,
    },
}

/// The options of a [`Repr`]: raw validated bytes, or a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptionList<'a> {
    /// Validated option bytes of a parsed message.
    Wire(&'a [u8]),
    /// Options to write.
    List(&'a [options::Dhcp6Option<'a>]),
}

/// A DHCPv6 message as data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr<'a> {
    /// msg-type.
    pub msg_type: MessageType,
    /// Header fields.
    pub header: Header,
    /// Options.
    pub options: OptionList<'a>,
}

impl<'a> Repr<'a> {
    /// Reads a message: every option, the nested IA structure, and every nested Relay
    /// Message down to [`MAX_RELAY_DEPTH`] (RFC 8415 sections 9 and 21.10).
    ///
    /// # Errors
    /// [`ParseError`] for malformed options, a header type that does not match the
    /// form, or relays nested too deep.
    pub fn parse(p: &Packet<&'a [u8]>) -> Result<Self, ParseError> {
        Self::parse_depth(p, 0)
    }

    fn parse_depth(p: &Packet<&'a [u8]>, depth: usize) -> Result<Self, ParseError> {
        let b: &'a [u8] = p.buffer;
        let t = p.msg_type();
        let header = if t.is_relay() {
            Header::Relay {
                hop_count: p.hop_count(),
                link: p.link_address(),
                peer: p.peer_address(),
            }
        } else {
            Header::Client {
                transaction_id: p.transaction_id(),
            }
        };
        let opts = b
            .get(if t.is_relay() { RELAY_HEADER_LEN } else { 4 }..)
            .unwrap_or(&[]);
        options::validate(opts)?;
        if t.is_relay() {
            let inner =
                Options::new(opts)
                    .find(OptionCode::RELAY_MSG)
                    .ok_or(ParseError::InvalidField(
                        "relay message without Relay-Message option",
                    ))?;
            if depth + 1 >= MAX_RELAY_DEPTH {
                return Err(ParseError::InvalidField("relay messages nested too deep"));
            }
            Self::parse_depth(&Packet::new_checked(inner)?, depth + 1)?;
        }
        Ok(Self {
            msg_type: t,
            header,
            options: OptionList::Wire(opts),
        })
    }

    /// The options, iterated.
    #[must_use]
    pub fn options(&self) -> ListIter<'a> {
        match self.options {
            OptionList::Wire(b) => ListIter::Wire(Options::new(b)),
            OptionList::List(l) => ListIter::List(l.iter()),
        }
    }

    /// The first option `code`.
    #[must_use]
    pub fn find(&self, code: OptionCode) -> Option<&'a [u8]> {
        self.options()
            .map_while(Result::ok)
            .find(|o| o.code == code)
            .map(|o| o.data)
    }

    /// The transaction id (0 for relay messages).
    #[must_use]
    pub const fn transaction_id(&self) -> u32 {
        match self.header {
            Header::Client { transaction_id } => transaction_id,
            Header::Relay { .. } => 0,
        }
    }

    /// Bytes [`Repr::emit`] writes.
    #[must_use]
    pub fn buffer_len(&self) -> usize {
        let h = match self.header {
            Header::Client { .. } => 4,
            Header::Relay { .. } => RELAY_HEADER_LEN,
        };
        h + match self.options {
            OptionList::Wire(b) => b.len(),
            OptionList::List(l) => l.iter().map(options::Dhcp6Option::wire_len).sum(),
        }
    }

    /// Writes the message at the start of `out`.
    ///
    /// # Errors
    /// [`EmitError::BufferTooSmall`], [`EmitError::ValueTooLarge`] for a
    /// transaction id over 24 bits or a header form that does not match `msg_type`.
    pub fn emit(&self, out: &mut [u8]) -> Result<usize, EmitError> {
        let needed = self.buffer_len();
        let available = out.len();
        let out = out
            .get_mut(..needed)
            .ok_or(EmitError::BufferTooSmall { needed, available })?;
        let mut w = options::OptionWriter::new(out);
        match self.header {
            Header::Client { transaction_id } => {
                if transaction_id > 0x00ff_ffff || self.msg_type.is_relay() {
                    return Err(EmitError::ValueTooLarge("transaction id over 24 bits"));
                }
                let [_, a, b, c] = transaction_id.to_be_bytes();
                w.raw(&[self.msg_type.0, a, b, c])?;
            }
            Header::Relay {
                hop_count,
                link,
                peer,
            } => {
                if !self.msg_type.is_relay() {
                    return Err(EmitError::ValueTooLarge("relay header on a client message"));
                }
                w.raw(&[self.msg_type.0, hop_count])?
                    .raw(&link.octets())?
                    .raw(&peer.octets())?;
            }
        }
        match self.options {
            OptionList::Wire(b) => {
                w.raw(b)?;
            }
            OptionList::List(l) => {
                for o in l {
                    w.option(o.code, o.data)?;
                }
            }
        }
        Ok(w.len())
    }
}

/// Iterator over the options of a [`Repr`].
#[derive(Debug, Clone)]
pub enum ListIter<'a> {
    /// Over wire bytes.
    Wire(Options<'a>),
    /// Over a list.
    List(core::slice::Iter<'a, options::Dhcp6Option<'a>>),
}

impl<'a> Iterator for ListIter<'a> {
    type Item = Result<options::Dhcp6Option<'a>, ParseError>;
    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Self::Wire(o) => o.next(),
            Self::List(l) => l.next().copied().map(Ok),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests")]
    use super::super::options::Dhcp6Option;
    use super::*;

    fn solicit(buf: &mut [u8]) -> usize {
        let opts = [
            Dhcp6Option {
                code: OptionCode::CLIENT_ID,
                data: &[0, 3, 0, 1, 2, 0, 0, 0, 0, 1],
            },
            Dhcp6Option {
                code: OptionCode::ELAPSED_TIME,
                data: &[0, 0],
            },
            Dhcp6Option {
                code: OptionCode::IA_NA,
                data: &[0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0],
            },
        ];
        Repr {
            msg_type: MessageType::SOLICIT,
            header: Header::Client {
                transaction_id: 0x00ab_cdef,
            },
            options: OptionList::List(&opts),
        }
        .emit(buf)
        .unwrap()
    }

    #[test]
    fn client_message_roundtrip_and_prefixes() {
        let mut buf = [0u8; 128];
        let n = solicit(&mut buf);
        let p = Packet::new_checked(&buf[..n]).unwrap();
        assert_eq!(p.msg_type(), MessageType::SOLICIT);
        assert_eq!(p.transaction_id(), 0x00ab_cdef);
        let r = Repr::parse(&p).unwrap();
        let mut again = [0u8; 128];
        assert_eq!(r.emit(&mut again).unwrap(), n);
        assert_eq!(buf, again);
        for cut in 0..n {
            let ok = Packet::new_checked(&buf[..cut])
                .ok()
                .and_then(|p| Repr::parse(&p).ok())
                .is_some();
            assert_eq!(ok, [4, 18, 24].contains(&cut), "cut {cut}");
        }
    }

    #[test]
    fn nested_relays_and_depth_cap() {
        let mut inner = [0u8; 128];
        let n = solicit(&mut inner);
        let mut cur = inner[..n].to_vec();
        for depth in 1..=MAX_RELAY_DEPTH {
            let opts = [
                Dhcp6Option {
                    code: OptionCode::INTERFACE_ID,
                    data: b"eth0",
                },
                Dhcp6Option {
                    code: OptionCode::RELAY_MSG,
                    data: &cur,
                },
            ];
            let r = Repr {
                msg_type: MessageType::RELAY_FORW,
                header: Header::Relay {
                    hop_count: u8::try_from(depth - 1).unwrap(),
                    link: Ipv6Addr::LOCALHOST,
                    peer: Ipv6Addr::UNSPECIFIED,
                },
                options: OptionList::List(&opts),
            };
            let mut out = [0u8; 1024];
            let len = r.emit(&mut out).unwrap();
            cur = out[..len].to_vec();
            let p = Packet::new_checked(&cur[..]).unwrap();
            let parsed = Repr::parse(&p);
            assert_eq!(parsed.is_ok(), depth < MAX_RELAY_DEPTH, "depth {depth}");
            if let Ok(parsed) = parsed {
                assert_eq!(parsed.find(OptionCode::INTERFACE_ID), Some(&b"eth0"[..]));
                assert_eq!(p.hop_count(), u8::try_from(depth - 1).unwrap());
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn roundtrip(t in 1u8..=11, xid in 0u32..0x0100_0000,
                     opts in proptest::collection::vec((proptest::prelude::any::<u16>(),
                              proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40)), 0..8)) {
            extern crate std;
            // keep to options whose contents are free-form (nested ones are validated)
            let nested = [3u16, 4, 9, 13, 25];
            let list: std::vec::Vec<Dhcp6Option<'_>> = opts
                .iter()
                .filter(|(c, _)| !nested.contains(c))
                .map(|(c, d)| Dhcp6Option { code: OptionCode(*c), data: d })
                .collect();
            let r = Repr {
                msg_type: MessageType(t),
                header: Header::Client { transaction_id: xid },
                options: OptionList::List(&list),
            };
            let mut buf = [0u8; 1024];
            let n = r.emit(&mut buf).unwrap();
            let p = Packet::new_checked(&buf[..n]).unwrap();
            let back = Repr::parse(&p).unwrap();
            proptest::prop_assert_eq!(back.transaction_id(), xid);
            let got: std::vec::Vec<_> = back.options().map(Result::unwrap).collect();
            proptest::prop_assert_eq!(&got, &list);
            let mut buf2 = [0u8; 1024];
            let n2 = back.emit(&mut buf2).unwrap();
            proptest::prop_assert_eq!(&buf[..n], &buf2[..n2]);
        }
    }
}
