//! Relay Agent Information, option 82 (RFC 3046), and its sub-options: Agent
//! Circuit ID and Agent Remote ID (RFC 3046 section 3), Link Selection (RFC 3527),
//! Subscriber-ID (RFC 3993), Server Identifier Override (RFC 5107).
//!
//! ```text
//!  SubOpt (1) | Len (1) | value (Len)      no Pad, no End inside option 82
//! ```

use core::net::Ipv4Addr;

use crate::error::{EmitError, ParseError};

/// Hard cap on sub-options walked in one option 82 (STYLE.md section 2): 255 bytes
/// hold at most 127 empty sub-options.
pub const MAX_SUBOPTIONS: usize = 128;

open_newtype! {
    /// Relay agent sub-option code: IANA "DHCP Relay Agent Sub-Option Codes" (RFC 3046
    /// section 2.0).
    SubOptionCode(u8) {
        /// Agent Circuit ID (RFC 3046 section 3.1).
        CIRCUIT_ID = 1, "Circuit-ID";
        /// Agent Remote ID (RFC 3046 section 3.2).
        REMOTE_ID = 2, "Remote-ID";
        /// DOCSIS device class (RFC 3256).
        DOCSIS_DEVICE_CLASS = 4, "DOCSIS-Device-Class";
        /// Link selection (RFC 3527 section 3).
        LINK_SELECTION = 5, "Link-Selection";
        /// Subscriber-ID (RFC 3993 section 3).
        SUBSCRIBER_ID = 6, "Subscriber-ID";
        /// RADIUS attributes (RFC 4014).
        RADIUS_ATTRIBUTES = 7, "RADIUS-Attributes";
        /// Authentication (RFC 4030).
        AUTHENTICATION = 8, "Authentication";
        /// Vendor-specific information (RFC 4243).
        VENDOR_SPECIFIC = 9, "Vendor-Specific";
        /// Relay agent flags (RFC 5010).
        FLAGS = 10, "Flags";
        /// Server identifier override (RFC 5107 section 4).
        SERVER_ID_OVERRIDE = 11, "Server-ID-Override";
    }
}

/// One sub-option of option 82.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubOption<'a> {
    /// The code.
    pub code: SubOptionCode,
    /// The value.
    pub data: &'a [u8],
}

/// Zero-copy iterator over the sub-options of option 82 (RFC 3046 section 2.0). Yields
/// `Err` once for a truncated sub-option, then ends.
#[derive(Debug, Clone)]
pub struct SubOptions<'a> {
    rest: &'a [u8],
    seen: usize,
}

impl<'a> Iterator for SubOptions<'a> {
    type Item = Result<SubOption<'a>, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        let (&code, after) = self.rest.split_first()?;
        let fail = |s: &mut Self, e| {
            s.rest = &[];
            Some(Err(e))
        };
        if self.seen == MAX_SUBOPTIONS {
            return fail(
                self,
                ParseError::TooManyTlvs {
                    cap: MAX_SUBOPTIONS,
                },
            );
        }
        let Some((&len, body)) = after.split_first() else {
            return fail(
                self,
                ParseError::Truncated {
                    needed: 2,
                    available: 1,
                },
            );
        };
        let Some((data, rest)) = body.split_at_checked(usize::from(len)) else {
            return fail(
                self,
                ParseError::Truncated {
                    needed: 2 + usize::from(len),
                    available: self.rest.len(),
                },
            );
        };
        self.rest = rest;
        self.seen += 1;
        Some(Ok(SubOption {
            code: SubOptionCode(code),
            data,
        }))
    }
}

impl core::iter::FusedIterator for SubOptions<'_> {}

/// The data of option 82, checked (RFC 3046 section 2.0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelayAgentInfo<'a> {
    data: &'a [u8],
}

impl<'a> RelayAgentInfo<'a> {
    /// Checks every sub-option of the option 82 data `data`.
    ///
    /// # Errors
    /// [`ParseError::Truncated`] for a sub-option running past the option, or
    /// [`ParseError::TooManyTlvs`].
    pub fn new_checked(data: &'a [u8]) -> Result<Self, ParseError> {
        let s = Self { data };
        s.sub_options().try_for_each(|o| o.map(drop))?;
        Ok(s)
    }

    /// The raw option data (what a server echoes back, RFC 3046 section 2.2).
    #[must_use]
    pub const fn as_bytes(&self) -> &'a [u8] {
        self.data
    }

    /// Iterates over the sub-options in wire order.
    #[must_use]
    pub const fn sub_options(&self) -> SubOptions<'a> {
        SubOptions {
            rest: self.data,
            seen: 0,
        }
    }

    /// The first sub-option `code`.
    #[must_use]
    pub fn find(&self, code: SubOptionCode) -> Option<&'a [u8]> {
        self.sub_options()
            .map_while(Result::ok)
            .find(|s| s.code == code)
            .map(|s| s.data)
    }

    /// Agent Circuit ID (RFC 3046 section 3.1): the access port, e.g. "eth0/1:100".
    #[must_use]
    pub fn circuit_id(&self) -> Option<&'a [u8]> {
        self.find(SubOptionCode::CIRCUIT_ID)
    }

    /// Agent Remote ID (RFC 3046 section 3.2).
    #[must_use]
    pub fn remote_id(&self) -> Option<&'a [u8]> {
        self.find(SubOptionCode::REMOTE_ID)
    }

    /// Link selection (RFC 3527 section 3): the subnet to allocate from, in place of
    /// giaddr. `None` when absent or not 4 bytes.
    #[must_use]
    pub fn link_selection(&self) -> Option<Ipv4Addr> {
        four(self.find(SubOptionCode::LINK_SELECTION)?)
    }

    /// Subscriber-ID (RFC 3993 section 3): an NVT ASCII subscriber name.
    #[must_use]
    pub fn subscriber_id(&self) -> Option<&'a [u8]> {
        self.find(SubOptionCode::SUBSCRIBER_ID)
    }

    /// Server identifier override (RFC 5107 section 4): the address the server puts
    /// in option 54 and accepts as server identifier. `None` when absent or not 4 bytes.
    #[must_use]
    pub fn server_id_override(&self) -> Option<Ipv4Addr> {
        four(self.find(SubOptionCode::SERVER_ID_OVERRIDE)?)
    }
}

fn four(d: &[u8]) -> Option<Ipv4Addr> {
    let b: [u8; 4] = d.try_into().ok()?;
    Some(Ipv4Addr::from(b))
}

/// Writes sub-options into a caller buffer (what a relay agent adds, RFC 3046 section
/// 2.1). Returns the bytes written.
///
/// # Errors
/// [`EmitError::BufferTooSmall`], or [`EmitError::ValueTooLarge`] when a value exceeds
/// 255 bytes or the whole exceeds the 255 bytes of one option.
pub fn emit_sub_options(subs: &[SubOption<'_>], out: &mut [u8]) -> Result<usize, EmitError> {
    let needed: usize = subs.iter().map(|s| 2 + s.data.len()).sum();
    if needed > 255 {
        return Err(EmitError::ValueTooLarge("option 82 over 255 bytes"));
    }
    let available = out.len();
    let mut rest = out
        .get_mut(..needed)
        .ok_or(EmitError::BufferTooSmall { needed, available })?;
    for s in subs {
        let len = u8::try_from(s.data.len())
            .map_err(|_| EmitError::ValueTooLarge("sub-option over 255 bytes"))?;
        let (hdr, tail) = rest
            .split_first_chunk_mut::<2>()
            .ok_or(EmitError::BufferTooSmall { needed, available })?;
        *hdr = [s.code.0, len];
        let (dst, tail) = tail
            .split_at_mut_checked(s.data.len())
            .ok_or(EmitError::BufferTooSmall { needed, available })?;
        dst.copy_from_slice(s.data);
        rest = tail;
    }
    Ok(needed)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests")]
    use super::*;

    #[test]
    fn decode_all() {
        let subs = [
            SubOption {
                code: SubOptionCode::CIRCUIT_ID,
                data: b"ge-0/0/1.100",
            },
            SubOption {
                code: SubOptionCode::REMOTE_ID,
                data: &[0, 1, 2, 3, 4, 5],
            },
            SubOption {
                code: SubOptionCode::LINK_SELECTION,
                data: &[100, 64, 0, 0],
            },
            SubOption {
                code: SubOptionCode::SUBSCRIBER_ID,
                data: b"alice",
            },
            SubOption {
                code: SubOptionCode::SERVER_ID_OVERRIDE,
                data: &[192, 0, 2, 1],
            },
        ];
        let mut buf = [0u8; 64];
        let n = emit_sub_options(&subs, &mut buf).unwrap();
        let r = RelayAgentInfo::new_checked(&buf[..n]).unwrap();
        assert_eq!(r.circuit_id(), Some(&b"ge-0/0/1.100"[..]));
        assert_eq!(r.remote_id(), Some(&[0, 1, 2, 3, 4, 5][..]));
        assert_eq!(r.link_selection(), Some(Ipv4Addr::new(100, 64, 0, 0)));
        assert_eq!(r.subscriber_id(), Some(&b"alice"[..]));
        assert_eq!(r.server_id_override(), Some(Ipv4Addr::new(192, 0, 2, 1)));
        assert_eq!(r.sub_options().count(), 5);
        for cut in 1..n {
            let ok = RelayAgentInfo::new_checked(&buf[..cut]).is_ok();
            let boundary = [14, 22, 28, 35].contains(&cut);
            assert_eq!(ok, boundary, "cut {cut}");
        }
    }
}
