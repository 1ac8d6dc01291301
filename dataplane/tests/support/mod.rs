//! Shared by the dataplane's tests and benches (`mod support;`, or `#[path]` from a
//! bench).

use bng_esp::rand_core::{CryptoRng, Error as RngError, RngCore};

/// Deterministic test randomness (a 64-bit LCG): AES-GCM draws none, its IVs are the
/// sequence number (RFC 4106 section 3.1); CBC IVs drawn from it are only for tests.
#[derive(Debug)]
pub(crate) struct TestRng(pub(crate) u64);

impl RngCore for TestRng {
    fn next_u32(&mut self) -> u32 {
        self.next_u64() as u32
    }
    fn next_u64(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1);
        self.0
    }
    fn fill_bytes(&mut self, d: &mut [u8]) {
        d.fill_with(|| self.next_u64() as u8);
    }
    fn try_fill_bytes(&mut self, d: &mut [u8]) -> Result<(), RngError> {
        self.fill_bytes(d);
        Ok(())
    }
}

impl CryptoRng for TestRng {}
