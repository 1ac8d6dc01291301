//! Ethernet II framing with up to two VLAN tags (IEEE 802.3 section 3.2, IEEE 802.1Q
//! section 9.6, 802.1ad QinQ), as PPPoE runs directly over it (RFC 2516 section 4).
//!
//! A BNG receives PADI on an S-VLAN/C-VLAN pair and must answer on the same tags, so
//! [`Frame::new_checked`] keeps the tags it peeled and [`Header::emit`] writes them back.
//!
//! ```text
//! | dst MAC (6) | src MAC (6) | [TPID (2) TCI (2)]{0,2} | ethertype (2) | payload ...
//! ```

use crate::error::{EmitError, ParseError};

/// A 48-bit IEEE MAC address.
pub type Mac = [u8; 6];

/// The Ethernet broadcast address (PADI is sent to it, RFC 2516 section 5.1).
pub const BROADCAST: Mac = [0xff; 6];

/// Length of an untagged Ethernet II header.
pub const HEADER_LEN: usize = 14;

/// Most VLAN tags walked (double tagging, 802.1ad); a third tag is a parse error.
pub const MAX_VLANS: usize = 2;

/// TPIDs accepted as VLAN tags: 802.1Q, 802.1ad, and the pre-standard QinQ 0x9100.
pub const VLAN_TPIDS: [u16; 3] = [0x8100, 0x88a8, 0x9100];

/// Whether `mac` is a group (multicast or broadcast) address: the I/G bit of the
/// first octet (IEEE 802 section 8.2).
#[must_use]
pub const fn is_group(mac: &Mac) -> bool {
    mac[0] & 1 == 1
}

/// One VLAN tag: TPID and the 16-bit TCI (PCP, DEI, VID).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Vlan {
    /// Tag protocol identifier (0x8100, 0x88a8 or 0x9100).
    pub tpid: u16,
    /// Tag control information: PCP (3 bits), DEI (1), VID (12).
    pub tci: u16,
}

impl Vlan {
    /// An 802.1Q customer tag with VLAN id `vid` (PCP 0).
    #[must_use]
    pub const fn dot1q(vid: u16) -> Self {
        Self {
            tpid: 0x8100,
            tci: vid & 0x0fff,
        }
    }

    /// The 12-bit VLAN identifier.
    #[must_use]
    pub const fn vid(&self) -> u16 {
        self.tci & 0x0fff
    }
}

/// The link-layer header of a frame: addresses, up to two VLAN tags (outer first),
/// and the ethertype.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Header {
    /// Destination MAC.
    pub dst: Mac,
    /// Source MAC.
    pub src: Mac,
    /// VLAN tags, outer first; only the first `vlan_count` are meaningful.
    pub vlans: [Vlan; MAX_VLANS],
    /// Number of VLAN tags (0, 1 or 2).
    pub vlan_count: u8,
    /// The ethertype after the tags.
    pub ethertype: u16,
}

impl Header {
    /// An untagged header.
    #[must_use]
    pub const fn new(dst: Mac, src: Mac, ethertype: u16) -> Self {
        Self {
            dst,
            src,
            vlans: [Vlan { tpid: 0, tci: 0 }; MAX_VLANS],
            vlan_count: 0,
            ethertype,
        }
    }

    /// The VLAN tags present, outer first.
    #[must_use]
    pub fn vlans(&self) -> &[Vlan] {
        self.vlans
            .get(..usize::from(self.vlan_count))
            .unwrap_or_default()
    }

    /// The same tags and ethertype addressed back: `dst` and `src` swapped and `src`
    /// set to `ours` (what a reply on the same VLANs needs).
    #[must_use]
    pub const fn reply(&self, ours: Mac, ethertype: u16) -> Self {
        Self {
            dst: self.src,
            src: ours,
            vlans: self.vlans,
            vlan_count: self.vlan_count,
            ethertype,
        }
    }

    /// Bytes [`Header::emit`] writes: 14 plus 4 per VLAN tag.
    #[must_use]
    pub fn wire_len(&self) -> usize {
        HEADER_LEN + 4 * self.vlans().len()
    }

    /// Writes the header at the start of `out`; returns its length.
    ///
    /// # Errors
    /// [`EmitError::BufferTooSmall`] when `out` is shorter than [`Header::wire_len`];
    /// [`EmitError::ValueTooLarge`] when `vlan_count` exceeds [`MAX_VLANS`].
    pub fn emit(&self, out: &mut [u8]) -> Result<usize, EmitError> {
        if usize::from(self.vlan_count) > MAX_VLANS {
            return Err(EmitError::ValueTooLarge("more than two VLAN tags"));
        }
        let needed = self.wire_len();
        let available = out.len();
        let out = out
            .get_mut(..needed)
            .ok_or(EmitError::BufferTooSmall { needed, available })?;
        let (macs, mut rest) = out
            .split_first_chunk_mut::<12>()
            .ok_or(EmitError::BufferTooSmall { needed, available })?;
        macs[..6].copy_from_slice(&self.dst);
        macs[6..].copy_from_slice(&self.src);
        for v in self.vlans() {
            let (tag, r) = rest
                .split_first_chunk_mut::<4>()
                .ok_or(EmitError::BufferTooSmall { needed, available })?;
            tag[..2].copy_from_slice(&v.tpid.to_be_bytes());
            tag[2..].copy_from_slice(&v.tci.to_be_bytes());
            rest = r;
        }
        let et = rest
            .first_chunk_mut::<2>()
            .ok_or(EmitError::BufferTooSmall { needed, available })?;
        *et = self.ethertype.to_be_bytes();
        Ok(needed)
    }
}

/// A checked Ethernet frame: the parsed [`Header`] and the payload after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    /// The link-layer header.
    pub header: Header,
    /// Everything after the ethertype (may include Ethernet padding).
    pub payload: &'a [u8],
}

impl<'a> Frame<'a> {
    /// Splits `bytes` into header and payload, peeling up to [`MAX_VLANS`] VLAN tags.
    ///
    /// # Errors
    /// [`ParseError::Truncated`] for a frame shorter than its header;
    /// [`ParseError::InvalidField`] for more than two VLAN tags.
    pub fn new_checked(bytes: &'a [u8]) -> Result<Self, ParseError> {
        let trunc = |needed| ParseError::Truncated {
            needed,
            available: bytes.len(),
        };
        let (macs, mut rest) = bytes.split_first_chunk::<12>().ok_or(trunc(HEADER_LEN))?;
        let mut header = Header::new([0; 6], [0; 6], 0);
        header.dst.copy_from_slice(&macs[..6]);
        header.src.copy_from_slice(&macs[6..]);
        loop {
            let (et, r) = rest
                .split_first_chunk::<2>()
                .ok_or(trunc(header.wire_len()))?;
            let et = u16::from_be_bytes(*et);
            if !VLAN_TPIDS.contains(&et) {
                header.ethertype = et;
                return Ok(Self { header, payload: r });
            }
            let (tci, r) = r
                .split_first_chunk::<2>()
                .ok_or(trunc(header.wire_len() + 4))?;
            let slot = header
                .vlans
                .get_mut(usize::from(header.vlan_count))
                .ok_or(ParseError::InvalidField("more than two VLAN tags"))?;
            *slot = Vlan {
                tpid: et,
                tci: u16::from_be_bytes(*tci),
            };
            header.vlan_count += 1;
            rest = r;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests")]
    use super::*;

    #[test]
    fn qinq_roundtrip_and_prefixes() {
        let mut h = Header::new(BROADCAST, [2, 0, 0, 0, 0, 1], 0x8863);
        h.vlans = [
            Vlan {
                tpid: 0x88a8,
                tci: 100,
            },
            Vlan::dot1q(7),
        ];
        h.vlan_count = 2;
        let mut buf = [0u8; 24];
        let n = h.emit(&mut buf).unwrap();
        assert_eq!(n, 22);
        buf[22] = 0xaa;
        buf[23] = 0xbb;
        let f = Frame::new_checked(&buf).unwrap();
        assert_eq!(f.header, h);
        assert_eq!(f.payload, &[0xaa, 0xbb]);
        assert_eq!(f.header.vlans()[1].vid(), 7);
        for cut in 0..22 {
            assert!(Frame::new_checked(&buf[..cut]).is_err(), "{cut}");
        }
        assert!(h.emit(&mut buf[..21]).is_err());
        let r = h.reply([2, 0, 0, 0, 0, 9], 0x8863);
        assert_eq!(r.dst, h.src);
        assert_eq!(r.vlans(), h.vlans());
    }

    proptest::proptest! {
        #[test]
        fn header_roundtrip(dst in proptest::prelude::any::<[u8; 6]>(),
                            src in proptest::prelude::any::<[u8; 6]>(),
                            tags in proptest::collection::vec((0usize..3, proptest::prelude::any::<u16>()), 0..=2),
                            ethertype in proptest::prelude::any::<u16>(),
                            payload in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..32)) {
            proptest::prop_assume!(!VLAN_TPIDS.contains(&ethertype));
            let mut h = Header::new(dst, src, ethertype);
            for (i, (t, tci)) in tags.iter().enumerate() {
                h.vlans[i] = Vlan { tpid: VLAN_TPIDS[*t], tci: *tci };
            }
            h.vlan_count = u8::try_from(tags.len()).unwrap();
            let mut buf = [0u8; 64];
            let n = h.emit(&mut buf).unwrap();
            proptest::prop_assert_eq!(n, h.wire_len());
            buf[n..n + payload.len()].copy_from_slice(&payload);
            let f = Frame::new_checked(&buf[..n + payload.len()]).unwrap();
            proptest::prop_assert_eq!(f.header, h);
            proptest::prop_assert_eq!(f.payload, &payload[..]);
        }
    }

    #[test]
    fn three_tags_rejected() {
        let mut b = [0u8; 30];
        for i in 0..3 {
            b[12 + 4 * i..14 + 4 * i].copy_from_slice(&[0x81, 0x00]);
        }
        assert_eq!(
            Frame::new_checked(&b),
            Err(ParseError::InvalidField("more than two VLAN tags"))
        );
        assert!(is_group(&BROADCAST));
        assert!(!is_group(&[2, 0, 0, 0, 0, 1]));
    }
}
