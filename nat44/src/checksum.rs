//! The internet checksum (RFC 1071) and its incremental update (RFC 1624).
//!
//! A NAT rewrites a few 16-bit words of a header; recomputing the checksum over the
//! whole datagram would touch every payload byte. RFC 1624 section 3 (equation 3)
//! updates the checksum from the old and new values of the changed words only:
//!
//! ```text
//! HC' = ~(~HC + ~m + m')
//! ```
//!
//! Equation 3 (unlike equation 2 of RFC 1141) never yields the `-0` ambiguity the RFC
//! describes, so a checksum updated here verifies exactly like a recomputed one.

/// Adds the big-endian 16-bit words of `data` to `acc` (RFC 1071 section 4.1); an odd
/// trailing byte is padded with a zero byte.
///
/// Eight bytes are added per step as two 32-bit words: a 32-bit word `h * 65536 + l`
/// is congruent to `h + l` modulo 65535, so wider sums fold to the same one's
/// complement sum (RFC 1071 section 2 (B), "parallel summation").
#[must_use]
pub fn sum(data: &[u8], mut acc: u64) -> u64 {
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        if let Some(w) = c.first_chunk::<8>() {
            let x = u64::from_be_bytes(*w);
            acc += (x >> 32) + (x & 0xffff_ffff);
        }
    }
    let mut rest = chunks.remainder();
    if let Some((w, tail)) = rest.split_first_chunk::<4>() {
        acc += u64::from(u32::from_be_bytes(*w));
        rest = tail;
    }
    if let Some((w, tail)) = rest.split_first_chunk::<2>() {
        acc += u64::from(u16::from_be_bytes(*w));
        rest = tail;
    }
    if let Some(&b) = rest.first() {
        acc += u64::from(b) << 8;
    }
    acc
}

/// Folds a 64-bit accumulator into a 16-bit one's complement sum (end-around carry).
#[must_use]
pub const fn fold(mut acc: u64) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    #[allow(
        clippy::cast_possible_truncation,
        reason = "the loop leaves at most 16 bits"
    )]
    let r = acc as u16;
    r
}

/// The internet checksum of `data` (RFC 1071): the one's complement of the one's
/// complement sum.
#[must_use]
pub fn checksum(data: &[u8]) -> u16 {
    !fold(sum(data, 0))
}

/// Sum of the TCP/UDP pseudo-header (RFC 793 section 3.1, RFC 768): source and
/// destination address, protocol, and the transport length.
#[must_use]
pub fn pseudo_header(src: u32, dst: u32, protocol: u8, len: u16) -> u64 {
    u64::from(src >> 16)
        + u64::from(src & 0xffff)
        + u64::from(dst >> 16)
        + u64::from(dst & 0xffff)
        + u64::from(protocol)
        + u64::from(len)
}

/// RFC 1624 equation 3 for one changed 16-bit word: the checksum `hc` after the word
/// `old` became `new`.
#[must_use]
pub const fn update16(hc: u16, old: u16, new: u16) -> u16 {
    let s = (!hc) as u64 + (!old) as u64 + new as u64;
    !fold(s)
}

/// RFC 1624 equation 3 for a changed 32-bit value (an IPv4 address): two words.
#[must_use]
pub const fn update32(hc: u16, old: u32, new: u32) -> u16 {
    let s = (!hc) as u64
        + (!(old >> 16) & 0xffff) as u64
        + (!old & 0xffff) as u64
        + (new >> 16) as u64
        + (new & 0xffff) as u64;
    !fold(s)
}

/// RFC 1624 equation 3 for a changed region: `old_sum` and `new_sum` are the folded
/// one's complement sums ([`fold`] of [`sum`]) of the region before and after the
/// change (used for the embedded packet of an ICMP error, RFC 5508 section 4.2).
#[must_use]
pub const fn update_region(hc: u16, old_sum: u16, new_sum: u16) -> u16 {
    update16(hc, old_sum, new_sum)
}

/// True when `data` (with its checksum field in place) verifies: its one's complement
/// sum plus `acc` (e.g. a pseudo-header) is all ones.
#[must_use]
pub fn verifies(data: &[u8], acc: u64) -> bool {
    fold(sum(data, acc)) == 0xffff
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::indexing_slicing,
        clippy::cast_possible_truncation,
        reason = "tests"
    )]
    use super::*;

    /// RFC 1071 section 3 example: bytes 00 01 f2 03 f4 f5 f6 f7 sum to ddf2.
    #[test]
    fn rfc1071_example() {
        let d = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(fold(sum(&d, 0)), 0xddf2);
        assert_eq!(checksum(&d), !0xddf2);
    }

    /// RFC 1624 section 4 example: HC = 0xdd2f, m = 0x5555 -> m' = 0x3285 gives 0x0000.
    #[test]
    fn rfc1624_example() {
        assert_eq!(update16(0xdd2f, 0x5555, 0x3285), 0x0000);
    }

    /// The wide sum equals the textbook 16-bit sum for every length and alignment.
    #[test]
    fn wide_sum_matches_16_bit_sum() {
        let data: [u8; 67] = core::array::from_fn(|i| (i as u8).wrapping_mul(151).wrapping_add(7));
        for start in 0..8 {
            for end in start..data.len() {
                let d = &data[start..end];
                let mut slow = 0u64;
                for (i, b) in d.iter().enumerate() {
                    slow += u64::from(*b) << if i % 2 == 0 { 8 } else { 0 };
                }
                assert_eq!(fold(sum(d, 0)), fold(slow), "{start}..{end}");
            }
        }
    }

    #[test]
    fn incremental_matches_full() {
        let mut d = [
            0x45u8, 0, 0, 40, 1, 2, 0, 0, 64, 6, 0, 0, 10, 0, 0, 1, 8, 8, 8, 8,
        ];
        let c = checksum(&d);
        d[10..12].copy_from_slice(&c.to_be_bytes());
        assert!(verifies(&d, 0));
        let c2 = update32(c, 0x0a00_0001, 0xc633_6401);
        d[12..16].copy_from_slice(&0xc633_6401u32.to_be_bytes());
        d[10..12].copy_from_slice(&c2.to_be_bytes());
        assert!(verifies(&d, 0));
        d[10..12].copy_from_slice(&[0, 0]);
        assert_eq!(checksum(&d), c2);
    }
}
