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
#[inline]
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
///
/// Four fixed end-around-carry steps, without a data-dependent loop: below 2^33
/// after the first, 2^18 after the second, `0x1_0002` after the third, and at most
/// `0xffff` after the fourth. Every step keeps the value modulo 65535 and keeps it
/// non-zero when it was, so the result is the one the textbook loop gives.
#[inline]
#[must_use]
pub const fn fold(acc: u64) -> u16 {
    let acc = (acc & 0xffff_ffff) + (acc >> 32);
    let acc = (acc & 0xffff) + (acc >> 16);
    let acc = (acc & 0xffff) + (acc >> 16);
    let acc = (acc & 0xffff) + (acc >> 16);
    #[allow(
        clippy::cast_possible_truncation,
        reason = "the four steps leave at most 16 bits"
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
#[inline]
#[must_use]
pub const fn update16(hc: u16, old: u16, new: u16) -> u16 {
    let s = (!hc) as u64 + (!old) as u64 + new as u64;
    !fold(s)
}

/// RFC 1624 equation 3 for a changed 32-bit value (an IPv4 address): two words.
#[inline]
#[must_use]
pub const fn update32(hc: u16, old: u32, new: u32) -> u16 {
    let s = (!hc) as u64
        + (!(old >> 16) & 0xffff) as u64
        + (!old & 0xffff) as u64
        + (new >> 16) as u64
        + (new & 0xffff) as u64;
    !fold(s)
}

/// The `~m + m'` terms of RFC 1624 equation 3 for a changed 32-bit value (an IPv4
/// address), to be added to several checksums with [`apply`].
#[inline]
#[must_use]
pub const fn delta32(old: u32, new: u32) -> u64 {
    (!(old >> 16) & 0xffff) as u64
        + (!old & 0xffff) as u64
        + (new >> 16) as u64
        + (new & 0xffff) as u64
}

/// The `~m + m'` terms of RFC 1624 equation 3 for a changed 16-bit word.
#[inline]
#[must_use]
pub const fn delta16(old: u16, new: u16) -> u64 {
    (!old) as u64 + new as u64
}

/// RFC 1624 equation 3 with the summed `~m + m'` terms of every changed word:
/// `HC' = ~(~HC + delta)`, one fold for all of them. Equal to applying
/// [`update16`] / [`update32`] one word after the other (each intermediate fold
/// keeps the sum modulo 65535 and non-zero when it was).
#[inline]
#[must_use]
pub const fn apply(hc: u16, delta: u64) -> u16 {
    let s = (!hc) as u64 + delta;
    if s >> 32 != 0 {
        return !fold(s);
    }
    // Below 2^32 two end-around-carry steps suffice: at most 0x1_fffe after the
    // first, at most 0xffff after the second (same result as `fold`).
    let s = (s & 0xffff) + (s >> 16);
    let s = (s & 0xffff) + (s >> 16);
    #[allow(clippy::cast_possible_truncation, reason = "two steps leave 16 bits")]
    let r = s as u16;
    !r
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
#[inline]
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

    /// The fixed four-step fold equals the textbook end-around-carry loop.
    #[test]
    fn fold_matches_loop() {
        fn slow(mut acc: u64) -> u16 {
            while acc > 0xffff {
                acc = (acc & 0xffff) + (acc >> 16);
            }
            acc as u16
        }
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let edges = [
            0,
            1,
            0xfffe,
            0xffff,
            0x1_0000,
            0x1_fffe,
            0x1_ffff,
            0xffff_ffff,
            0x1_0000_0000,
            0xffff_0000_ffff,
            u64::MAX,
            u64::MAX - 1,
            u64::MAX >> 1,
        ];
        for &e in &edges {
            assert_eq!(fold(e), slow(e), "{e:#x}");
        }
        for _ in 0..100_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            for v in [x, x >> 20, x >> 40, x & 0x3_ffff] {
                assert_eq!(fold(v), slow(v), "{v:#x}");
            }
        }
    }

    /// One fold over summed deltas equals the word-by-word updates.
    #[test]
    fn apply_matches_chained_updates() {
        let mut x = 0x1234_5678_9abc_def1u64;
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let (hc, oa, na) = (x as u16, (x >> 16) as u32, (x >> 24) as u32);
            let (op, np) = ((x >> 48) as u16, (x >> 3) as u16);
            for hc in [hc, 0, 0xffff] {
                assert_eq!(apply(hc, delta32(oa, na)), update32(hc, oa, na));
                assert_eq!(
                    apply(hc, delta32(oa, na) + delta16(op, np)),
                    update16(update32(hc, oa, na), op, np)
                );
                assert_eq!(apply(hc, delta16(op, np)), update16(hc, op, np));
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
