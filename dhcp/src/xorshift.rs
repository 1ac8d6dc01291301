//! The clients' jitter and transaction-id generator: xorshift64* (Vigna, "An
//! experimental exploration of Marsaglia's xorshift generators, scrambled", 2016) over a
//! caller-seeded state. Not a CSPRNG: it only spreads retransmissions (RFC 2131 section
//! 4.1, RFC 8415 section 15) and picks transaction ids, as those sections allow.

/// Advances `state` and returns the next output.
pub(crate) const fn next(state: &mut u64) -> u64 {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    state.wrapping_mul(0x2545_f491_4f6c_dd1d)
}
