//! The operating system's CSPRNG for the example binaries: the protocol machines take
//! their randomness from the caller (`rand_core::RngCore + CryptoRng`, STYLE.md), and a
//! std gateway passes this one.

use std::fs::File;
use std::io::Read as _;

use bng_radius::rand_core::{self, CryptoRng, RngCore};

/// The kernel's CSPRNG, read from `/dev/urandom` (the workspace's one `rand_core`
/// version, re-exported by `bng-radius`).
#[derive(Debug)]
pub struct UrandomRng(File);

impl UrandomRng {
    /// Opens `/dev/urandom`.
    ///
    /// # Panics
    ///
    /// When it cannot be opened: a tool cannot run without randomness.
    #[must_use]
    #[allow(clippy::expect_used, reason = "a tool ends without randomness")]
    pub fn new() -> Self {
        Self(File::open("/dev/urandom").expect("/dev/urandom"))
    }
}

impl Default for UrandomRng {
    fn default() -> Self {
        Self::new()
    }
}

impl RngCore for UrandomRng {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        self.fill_bytes(&mut b);
        u32::from_ne_bytes(b)
    }
    fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.fill_bytes(&mut b);
        u64::from_ne_bytes(b)
    }
    #[allow(clippy::expect_used, reason = "a tool ends without randomness")]
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        self.0.read_exact(dest).expect("read /dev/urandom");
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl CryptoRng for UrandomRng {}
