//! Typed access to the discovery tags (RFC 2516 Appendix A, RFC 4638 section 4) and
//! to the Broadband Forum TR-101 line-identification sub-options carried in a
//! Vendor-Specific tag (TR-101 section 3.9.3; sub-option numbers as in RFC 4679
//! section 3).
//!
//! [`DiscoveryTags::parse`] walks the tag area once and keeps borrowed slices, so
//! nothing is copied; [`SubOptions`] walks a vendor tag the same way (one `Err`, then
//! fused). Unknown tags and sub-options are not an error: they stay in the packet for
//! a relay to forward, and [`crate::discovery::Tags`] still yields them.

use core::fmt;

use crate::discovery::{TagType, Tags};
use crate::error::{EmitError, ParseError};

/// IANA enterprise number of the Broadband Forum (ex DSL Forum, ADSL Forum), used as
/// the vendor id of TR-101 Vendor-Specific tags.
pub const BBF_VENDOR_ID: u32 = 3561;

/// Hard cap on sub-options walked in one Vendor-Specific tag (STYLE.md section 2).
pub const MAX_SUB_OPTIONS: usize = 64;

/// The typed view of a discovery payload's tags (RFC 2516 Appendix A).
///
/// For single-valued tags the first occurrence wins; [`DiscoveryTags::service_names`]
/// counts Service-Name tags, since PADI and PADR carry exactly one (sections 5.1 and
/// 5.3) while PADO lists every offered service (section 5.2).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DiscoveryTags<'a> {
    /// First Service-Name (empty = "any service").
    pub service_name: Option<&'a [u8]>,
    /// Number of Service-Name tags.
    pub service_names: u16,
    /// AC-Name.
    pub ac_name: Option<&'a [u8]>,
    /// Host-Uniq (opaque, echoed by the AC).
    pub host_uniq: Option<&'a [u8]>,
    /// AC-Cookie (opaque, echoed by the host in PADR).
    pub ac_cookie: Option<&'a [u8]>,
    /// Relay-Session-Id (opaque, echoed by both ends).
    pub relay_session_id: Option<&'a [u8]>,
    /// The first Vendor-Specific tag, any vendor.
    pub vendor_specific: Option<VendorSpecific<'a>>,
    /// The first Vendor-Specific tag of the Broadband Forum ([`BBF_VENDOR_ID`]).
    pub broadband_forum: Option<VendorSpecific<'a>>,
    /// PPP-Max-Payload (RFC 4638 section 4), in bytes.
    pub ppp_max_payload: Option<u16>,
    /// Service-Name-Error (UTF-8 text, may be empty).
    pub service_name_error: Option<&'a [u8]>,
    /// AC-System-Error.
    pub ac_system_error: Option<&'a [u8]>,
    /// Generic-Error.
    pub generic_error: Option<&'a [u8]>,
}

impl<'a> DiscoveryTags<'a> {
    /// Reads every tag of a discovery payload in one pass.
    ///
    /// # Errors
    /// The first error of the tag walk ([`Tags`]), or [`ParseError::InvalidField`] for a
    /// PPP-Max-Payload that is not 2 bytes (RFC 4638 section 4) or a Vendor-Specific
    /// tag shorter than its 4-byte vendor id (RFC 2516 Appendix A).
    pub fn parse(payload: &'a [u8]) -> Result<Self, ParseError> {
        let mut t = Self::default();
        for tag in Tags::new(payload) {
            let tag = tag?;
            let v = tag.value;
            match tag.kind {
                TagType::SERVICE_NAME => {
                    t.service_names = t.service_names.saturating_add(1);
                    t.service_name.get_or_insert(v);
                }
                TagType::AC_NAME => first(&mut t.ac_name, v),
                TagType::HOST_UNIQ => first(&mut t.host_uniq, v),
                TagType::AC_COOKIE => first(&mut t.ac_cookie, v),
                TagType::RELAY_SESSION_ID => first(&mut t.relay_session_id, v),
                TagType::VENDOR_SPECIFIC => {
                    let vs = VendorSpecific::new(v)?;
                    t.vendor_specific.get_or_insert(vs);
                    if vs.vendor_id == BBF_VENDOR_ID {
                        t.broadband_forum.get_or_insert(vs);
                    }
                }
                TagType::PPP_MAX_PAYLOAD => {
                    let b: &[u8; 2] = v
                        .try_into()
                        .map_err(|_| ParseError::InvalidField("PPP-Max-Payload length is not 2"))?;
                    t.ppp_max_payload.get_or_insert(u16::from_be_bytes(*b));
                }
                TagType::SERVICE_NAME_ERROR => first(&mut t.service_name_error, v),
                TagType::AC_SYSTEM_ERROR => first(&mut t.ac_system_error, v),
                TagType::GENERIC_ERROR => first(&mut t.generic_error, v),
                _ => {}
            }
        }
        Ok(t)
    }

    /// The first error tag present, in the order Service-Name-Error, AC-System-Error,
    /// Generic-Error (RFC 2516 Appendix A).
    #[must_use]
    pub fn error(&self) -> Option<(TagType, &'a [u8])> {
        self.service_name_error
            .map(|v| (TagType::SERVICE_NAME_ERROR, v))
            .or(self.ac_system_error.map(|v| (TagType::AC_SYSTEM_ERROR, v)))
            .or(self.generic_error.map(|v| (TagType::GENERIC_ERROR, v)))
    }

    /// The TR-101 line identification of the Broadband Forum vendor tag, if present.
    ///
    /// # Errors
    /// A malformed sub-option walk (see [`SubOptions`]).
    pub fn line_info(&self) -> Result<Option<LineInfo<'a>>, ParseError> {
        self.broadband_forum
            .map(|v| LineInfo::parse(v.sub_options()))
            .transpose()
    }
}

fn first<'a>(slot: &mut Option<&'a [u8]>, v: &'a [u8]) {
    slot.get_or_insert(v);
}

/// A Vendor-Specific tag (RFC 2516 Appendix A): a 4-byte vendor id (the first byte
/// zero, then the 3-byte SMI enterprise number) and vendor data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VendorSpecific<'a> {
    /// The vendor id (IANA enterprise number).
    pub vendor_id: u32,
    /// The bytes after the vendor id.
    pub data: &'a [u8],
}

impl<'a> VendorSpecific<'a> {
    /// Splits a Vendor-Specific TAG_VALUE.
    ///
    /// # Errors
    /// [`ParseError::InvalidField`] if the value is shorter than 4 bytes.
    pub fn new(value: &'a [u8]) -> Result<Self, ParseError> {
        let (id, data) = value
            .split_first_chunk::<4>()
            .ok_or(ParseError::InvalidField("Vendor-Specific shorter than 4"))?;
        Ok(Self {
            vendor_id: u32::from_be_bytes(*id),
            data,
        })
    }

    /// The vendor data read as TR-101 sub-options (meaningful for
    /// [`BBF_VENDOR_ID`]).
    #[must_use]
    pub const fn sub_options(&self) -> SubOptions<'a> {
        SubOptions::new(self.data)
    }

    /// Writes a Vendor-Specific TAG_VALUE (vendor id, then `subs` as type-length-value
    /// with 1-byte type and length) into `out`; returns its length. Wrap the result in a
    /// [`crate::discovery::Tag`] of type [`TagType::VENDOR_SPECIFIC`].
    ///
    /// # Errors
    /// [`EmitError::BufferTooSmall`], or [`EmitError::ValueTooLarge`] for a sub-option
    /// over 255 bytes.
    pub fn emit(
        vendor_id: u32,
        subs: &[SubOption<'_>],
        out: &mut [u8],
    ) -> Result<usize, EmitError> {
        let needed = 4 + subs.iter().map(|s| 2 + s.value.len()).sum::<usize>();
        let available = out.len();
        let small = EmitError::BufferTooSmall { needed, available };
        let out = out.get_mut(..needed).ok_or(small)?;
        let (id, mut rest) = out.split_first_chunk_mut::<4>().ok_or(small)?;
        *id = vendor_id.to_be_bytes();
        for s in subs {
            let len = u8::try_from(s.value.len())
                .map_err(|_| EmitError::ValueTooLarge("sub-option over 255 bytes"))?;
            let (hdr, r) = rest.split_first_chunk_mut::<2>().ok_or(small)?;
            *hdr = [s.kind.0, len];
            let (dst, r) = r.split_at_mut_checked(s.value.len()).ok_or(small)?;
            dst.copy_from_slice(s.value);
            rest = r;
        }
        Ok(needed)
    }
}

/// TR-101 sub-option type (TR-101 section 3.9.3; the numbers are those of RFC 4679
/// section 3, which registers the same values as RADIUS vendor types of vendor 3561).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(transparent)]
pub struct SubOptionType(pub u8);

macro_rules! sub_types {
    ($($(#[$m:meta])* $c:ident = $v:expr, $s:literal;)*) => {
        impl SubOptionType {
            $($(#[$m])* pub const $c: Self = Self($v);)*
            /// The name of this sub-option, if this crate knows it.
            #[must_use]
            pub const fn name(self) -> Option<&'static str> {
                match self.0 { $($v => Some($s),)* _ => None }
            }
        }
    };
}

sub_types! {
    /// Agent-Circuit-Id: access node and port (text).
    AGENT_CIRCUIT_ID = 0x01, "Agent-Circuit-Id";
    /// Agent-Remote-Id: subscriber identifier (text).
    AGENT_REMOTE_ID = 0x02, "Agent-Remote-Id";
    /// Actual-Data-Rate-Upstream, bits per second (u32).
    ACTUAL_DATA_RATE_UP = 0x81, "Actual-Data-Rate-Upstream";
    /// Actual-Data-Rate-Downstream, bits per second (u32).
    ACTUAL_DATA_RATE_DOWN = 0x82, "Actual-Data-Rate-Downstream";
    /// Minimum-Data-Rate-Upstream (u32).
    MIN_DATA_RATE_UP = 0x83, "Minimum-Data-Rate-Upstream";
    /// Minimum-Data-Rate-Downstream (u32).
    MIN_DATA_RATE_DOWN = 0x84, "Minimum-Data-Rate-Downstream";
    /// Attainable-Data-Rate-Upstream (u32).
    ATTAINABLE_DATA_RATE_UP = 0x85, "Attainable-Data-Rate-Upstream";
    /// Attainable-Data-Rate-Downstream (u32).
    ATTAINABLE_DATA_RATE_DOWN = 0x86, "Attainable-Data-Rate-Downstream";
    /// Maximum-Data-Rate-Upstream (u32).
    MAX_DATA_RATE_UP = 0x87, "Maximum-Data-Rate-Upstream";
    /// Maximum-Data-Rate-Downstream (u32).
    MAX_DATA_RATE_DOWN = 0x88, "Maximum-Data-Rate-Downstream";
    /// Minimum-Data-Rate-Upstream-Low-Power (u32).
    MIN_DATA_RATE_UP_LOW_POWER = 0x89, "Minimum-Data-Rate-Upstream-Low-Power";
    /// Minimum-Data-Rate-Downstream-Low-Power (u32).
    MIN_DATA_RATE_DOWN_LOW_POWER = 0x8a, "Minimum-Data-Rate-Downstream-Low-Power";
    /// Maximum-Interleaving-Delay-Upstream, ms (u32).
    MAX_INTERLEAVING_DELAY_UP = 0x8b, "Maximum-Interleaving-Delay-Upstream";
    /// Actual-Interleaving-Delay-Upstream, ms (u32).
    ACTUAL_INTERLEAVING_DELAY_UP = 0x8c, "Actual-Interleaving-Delay-Upstream";
    /// Maximum-Interleaving-Delay-Downstream, ms (u32).
    MAX_INTERLEAVING_DELAY_DOWN = 0x8d, "Maximum-Interleaving-Delay-Downstream";
    /// Actual-Interleaving-Delay-Downstream, ms (u32).
    ACTUAL_INTERLEAVING_DELAY_DOWN = 0x8e, "Actual-Interleaving-Delay-Downstream";
    /// Access-Loop-Encapsulation (3 bytes: data link, encaps 1, encaps 2).
    ACCESS_LOOP_ENCAPSULATION = 0x90, "Access-Loop-Encapsulation";
    /// IWF-Session (PPPoA-PPPoE interworking; empty).
    IWF_SESSION = 0xfe, "IWF-Session";
}

impl fmt::Debug for SubOptionType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "SubOptionType({:#x})", self.0),
        }
    }
}

/// One TR-101 sub-option, borrowed from the tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubOption<'a> {
    /// Sub-option type.
    pub kind: SubOptionType,
    /// Sub-option value.
    pub value: &'a [u8],
}

impl SubOption<'_> {
    /// The value as a big-endian `u32` (the data-rate and delay sub-options).
    #[must_use]
    pub fn as_u32(&self) -> Option<u32> {
        let b: &[u8; 4] = self.value.try_into().ok()?;
        Some(u32::from_be_bytes(*b))
    }
}

/// Zero-copy iterator over TR-101 sub-options (1-byte type, 1-byte length, value):
/// yields one `Err` for a truncated sub-option or more than [`MAX_SUB_OPTIONS`], then
/// ends (STYLE.md section 4).
#[derive(Debug, Clone)]
pub struct SubOptions<'a> {
    rest: &'a [u8],
    seen: usize,
}

impl<'a> SubOptions<'a> {
    /// Iterates over vendor data `bytes` (after the vendor id).
    #[must_use]
    pub const fn new(bytes: &'a [u8]) -> Self {
        Self {
            rest: bytes,
            seen: 0,
        }
    }
}

impl<'a> Iterator for SubOptions<'a> {
    type Item = Result<SubOption<'a>, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let rest = core::mem::take(&mut self.rest);
        if self.seen == MAX_SUB_OPTIONS {
            return Some(Err(ParseError::TooManyTags {
                cap: MAX_SUB_OPTIONS,
            }));
        }
        let Some((&[kind, len], body)) = rest.split_first_chunk::<2>() else {
            return Some(Err(ParseError::Truncated {
                needed: 2,
                available: rest.len(),
            }));
        };
        let Some((value, tail)) = body.split_at_checked(usize::from(len)) else {
            return Some(Err(ParseError::Truncated {
                needed: 2 + usize::from(len),
                available: rest.len(),
            }));
        };
        self.rest = tail;
        self.seen += 1;
        Some(Ok(SubOption {
            kind: SubOptionType(kind),
            value,
        }))
    }
}

impl core::iter::FusedIterator for SubOptions<'_> {}

/// The TR-101 line characteristics an access node inserts into PADI/PADR
/// (intermediate agent, TR-101 section 3.9.3), as a RADIUS client wants them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LineInfo<'a> {
    /// Agent-Circuit-Id.
    pub agent_circuit_id: Option<&'a [u8]>,
    /// Agent-Remote-Id.
    pub agent_remote_id: Option<&'a [u8]>,
    /// Actual data rate upstream, bit/s.
    pub actual_rate_up: Option<u32>,
    /// Actual data rate downstream, bit/s.
    pub actual_rate_down: Option<u32>,
    /// Minimum data rate upstream, bit/s.
    pub min_rate_up: Option<u32>,
    /// Minimum data rate downstream, bit/s.
    pub min_rate_down: Option<u32>,
    /// Attainable data rate upstream, bit/s.
    pub attainable_rate_up: Option<u32>,
    /// Attainable data rate downstream, bit/s.
    pub attainable_rate_down: Option<u32>,
    /// Maximum data rate upstream, bit/s.
    pub max_rate_up: Option<u32>,
    /// Maximum data rate downstream, bit/s.
    pub max_rate_down: Option<u32>,
    /// Access-Loop-Encapsulation: data link, encapsulation 1, encapsulation 2.
    pub access_loop_encapsulation: Option<[u8; 3]>,
}

impl<'a> LineInfo<'a> {
    /// Collects the known sub-options (first occurrence wins; a rate whose length is
    /// not 4 is ignored, as is any unknown sub-option).
    ///
    /// # Errors
    /// The iterator's error for malformed sub-options.
    pub fn parse(subs: SubOptions<'a>) -> Result<Self, ParseError> {
        let mut l = Self::default();
        for s in subs {
            let s = s?;
            let rate = match s.kind {
                SubOptionType::AGENT_CIRCUIT_ID => {
                    l.agent_circuit_id.get_or_insert(s.value);
                    continue;
                }
                SubOptionType::AGENT_REMOTE_ID => {
                    l.agent_remote_id.get_or_insert(s.value);
                    continue;
                }
                SubOptionType::ACCESS_LOOP_ENCAPSULATION => {
                    if let Ok(b) = <[u8; 3]>::try_from(s.value) {
                        l.access_loop_encapsulation.get_or_insert(b);
                    }
                    continue;
                }
                SubOptionType::ACTUAL_DATA_RATE_UP => &mut l.actual_rate_up,
                SubOptionType::ACTUAL_DATA_RATE_DOWN => &mut l.actual_rate_down,
                SubOptionType::MIN_DATA_RATE_UP => &mut l.min_rate_up,
                SubOptionType::MIN_DATA_RATE_DOWN => &mut l.min_rate_down,
                SubOptionType::ATTAINABLE_DATA_RATE_UP => &mut l.attainable_rate_up,
                SubOptionType::ATTAINABLE_DATA_RATE_DOWN => &mut l.attainable_rate_down,
                SubOptionType::MAX_DATA_RATE_UP => &mut l.max_rate_up,
                SubOptionType::MAX_DATA_RATE_DOWN => &mut l.max_rate_down,
                _ => continue,
            };
            if let (None, Some(v)) = (*rate, s.as_u32()) {
                *rate = Some(v);
            }
        }
        Ok(l)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests")]
    use super::*;
    use crate::discovery::{Code, Packet, Repr, Tag, TagList};

    fn line_tag(buf: &mut [u8; 64]) -> usize {
        let subs = [
            SubOption {
                kind: SubOptionType::AGENT_CIRCUIT_ID,
                value: b"an1 eth 1/1/1:7",
            },
            SubOption {
                kind: SubOptionType::AGENT_REMOTE_ID,
                value: b"cust42",
            },
            SubOption {
                kind: SubOptionType::ACTUAL_DATA_RATE_UP,
                value: &1_000_000u32.to_be_bytes(),
            },
            SubOption {
                kind: SubOptionType::ACTUAL_DATA_RATE_DOWN,
                value: &16_000_000u32.to_be_bytes(),
            },
            SubOption {
                kind: SubOptionType(0x77),
                value: &[1],
            },
        ];
        VendorSpecific::emit(BBF_VENDOR_ID, &subs, buf).unwrap()
    }

    #[test]
    fn typed_tags_and_tr101() {
        let mut vs = [0u8; 64];
        let n = line_tag(&mut vs);
        let tags = [
            Tag {
                kind: TagType::SERVICE_NAME,
                value: b"",
            },
            Tag {
                kind: TagType::HOST_UNIQ,
                value: &[1, 2],
            },
            Tag {
                kind: TagType::PPP_MAX_PAYLOAD,
                value: &[0x05, 0xdc],
            },
            Tag {
                kind: TagType::VENDOR_SPECIFIC,
                value: &vs[..n],
            },
            Tag {
                kind: TagType(0x7777),
                value: b"kept",
            },
        ];
        let r = Repr {
            code: Code::PADI,
            session_id: 0,
            tags: TagList::List(&tags),
        };
        let mut buf = [0u8; 128];
        let len = r.emit(&mut buf).unwrap();
        let p = Packet::new_checked(&buf[..len]).unwrap();
        let t = DiscoveryTags::parse(p.payload()).unwrap();
        assert_eq!(t.service_name, Some(&b""[..]));
        assert_eq!(t.service_names, 1);
        assert_eq!(t.host_uniq, Some(&[1u8, 2][..]));
        assert_eq!(t.ppp_max_payload, Some(1500));
        assert_eq!(t.error(), None);
        let li = t.line_info().unwrap().unwrap();
        assert_eq!(li.agent_circuit_id, Some(&b"an1 eth 1/1/1:7"[..]));
        assert_eq!(li.agent_remote_id, Some(&b"cust42"[..]));
        assert_eq!(li.actual_rate_up, Some(1_000_000));
        assert_eq!(li.actual_rate_down, Some(16_000_000));
        assert_eq!(li.max_rate_up, None);
        // unknown tag still visible to the raw walk
        assert!(p.tags().any(|t| t.unwrap().kind == TagType(0x7777)));
    }

    #[test]
    fn bad_values() {
        let bad_mp = [0x01, 0x20, 0x00, 0x01, 0x05];
        assert!(DiscoveryTags::parse(&bad_mp).is_err());
        let short_vs = [0x01, 0x05, 0x00, 0x02, 0x00, 0x00];
        assert!(DiscoveryTags::parse(&short_vs).is_err());
        let mut s = SubOptions::new(&[0x01, 0x05, b'a']);
        assert!(matches!(s.next(), Some(Err(ParseError::Truncated { .. }))));
        assert!(s.next().is_none());
        let errs = [0x02, 0x03, 0x00, 0x01, b'x'];
        let t = DiscoveryTags::parse(&errs).unwrap();
        assert_eq!(t.error(), Some((TagType::GENERIC_ERROR, &b"x"[..])));
    }

    #[test]
    fn sub_option_cap() {
        let many = [0u8; 2 * (MAX_SUB_OPTIONS + 1)];
        let mut it = SubOptions::new(&many);
        assert_eq!(
            it.by_ref().take(MAX_SUB_OPTIONS).flatten().count(),
            MAX_SUB_OPTIONS
        );
        assert!(matches!(
            it.next(),
            Some(Err(ParseError::TooManyTags { .. }))
        ));
        assert!(it.next().is_none());
    }

    proptest::proptest! {
        #[test]
        fn typed_view_agrees_with_raw_walk(tags in proptest::collection::vec(
            (proptest::sample::select(&[0x0101u16, 0x0102, 0x0103, 0x0104, 0x0110, 0x0203, 0x7777][..]),
             proptest::collection::vec(proptest::prelude::any::<u8>(), 0..12)), 0..10)) {
            extern crate std;
            let list: std::vec::Vec<Tag<'_>> =
                tags.iter().map(|(k, v)| Tag { kind: TagType(*k), value: v }).collect();
            let r = Repr { code: Code::PADO, session_id: 0, tags: TagList::List(&list) };
            let mut buf = [0u8; 512];
            let n = r.emit(&mut buf).unwrap();
            let p = Packet::new_checked(&buf[..n]).unwrap();
            let t = DiscoveryTags::parse(p.payload()).unwrap();
            let raw = |k| p.tags().find(k);
            proptest::prop_assert_eq!(t.service_name, raw(TagType::SERVICE_NAME));
            proptest::prop_assert_eq!(t.ac_name, raw(TagType::AC_NAME));
            proptest::prop_assert_eq!(t.host_uniq, raw(TagType::HOST_UNIQ));
            proptest::prop_assert_eq!(t.ac_cookie, raw(TagType::AC_COOKIE));
            proptest::prop_assert_eq!(t.relay_session_id, raw(TagType::RELAY_SESSION_ID));
            proptest::prop_assert_eq!(t.generic_error, raw(TagType::GENERIC_ERROR));
            let names = list.iter().filter(|x| x.kind == TagType::SERVICE_NAME).count();
            proptest::prop_assert_eq!(usize::from(t.service_names), names);
        }

        #[test]
        fn sub_options_roundtrip(subs in proptest::collection::vec((proptest::prelude::any::<u8>(),
                                   proptest::collection::vec(proptest::prelude::any::<u8>(), 0..20)), 0..10)) {
            extern crate std;
            let list: std::vec::Vec<SubOption<'_>> = subs.iter()
                .map(|(k, v)| SubOption { kind: SubOptionType(*k), value: v }).collect();
            let mut buf = [0u8; 512];
            let n = VendorSpecific::emit(BBF_VENDOR_ID, &list, &mut buf).unwrap();
            let vs = VendorSpecific::new(&buf[..n]).unwrap();
            proptest::prop_assert_eq!(vs.vendor_id, BBF_VENDOR_ID);
            let back: std::vec::Vec<SubOption<'_>> = vs.sub_options().map(Result::unwrap).collect();
            proptest::prop_assert_eq!(back, list);
        }
    }
}
