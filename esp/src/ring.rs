//! `ring` AEAD provider (feature `ring`, std): AES-GCM and ChaCha20-Poly1305
//! through `ring::aead::LessSafeKey`, as an [`Aead`].
//!
//! One generic [`RingAead`] over a marker type naming the algorithm; each
//! algorithm is a marker in [`alg`] and a type alias here.

extern crate std;

use core::marker::PhantomData;

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey};

use crate::crypto::{Aead, AeadTransform, CryptoError};
use crate::error::UsageError;

/// A `ring` AEAD algorithm with a 96-bit nonce and a 128-bit tag.
pub trait RingAlgorithm {
    /// Key length in bytes.
    const KEY_LEN: usize;
    /// Name for `Debug`.
    const NAME: &'static str;
    /// The `ring` algorithm.
    fn algorithm() -> &'static ring::aead::Algorithm;
}

/// The algorithms (marker types for [`RingAead`]).
pub mod alg {
    use super::RingAlgorithm;

    /// AES-128-GCM (RFC 4106 with ESP).
    #[derive(Debug, Clone, Copy)]
    pub enum Aes128Gcm {}
    /// AES-256-GCM (RFC 4106 with ESP).
    #[derive(Debug, Clone, Copy)]
    pub enum Aes256Gcm {}
    /// ChaCha20-Poly1305 (RFC 8439; RFC 7634 with ESP).
    #[derive(Debug, Clone, Copy)]
    pub enum ChaCha20Poly1305 {}

    impl RingAlgorithm for Aes128Gcm {
        const KEY_LEN: usize = 16;
        const NAME: &'static str = "RingAes128Gcm";
        fn algorithm() -> &'static ring::aead::Algorithm {
            &ring::aead::AES_128_GCM
        }
    }
    impl RingAlgorithm for Aes256Gcm {
        const KEY_LEN: usize = 32;
        const NAME: &'static str = "RingAes256Gcm";
        fn algorithm() -> &'static ring::aead::Algorithm {
            &ring::aead::AES_256_GCM
        }
    }
    impl RingAlgorithm for ChaCha20Poly1305 {
        const KEY_LEN: usize = 32;
        const NAME: &'static str = "RingChaCha20Poly1305";
        fn algorithm() -> &'static ring::aead::Algorithm {
            &ring::aead::CHACHA20_POLY1305
        }
    }
}

/// A `ring` AEAD key as an [`Aead`].
pub struct RingAead<M> {
    key: LessSafeKey,
    alg: PhantomData<M>,
}

impl<M> Clone for RingAead<M> {
    fn clone(&self) -> Self {
        Self {
            key: self.key.clone(),
            alg: PhantomData,
        }
    }
}

impl<M: RingAlgorithm> core::fmt::Debug for RingAead<M> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(M::NAME)
    }
}

/// AES-128-GCM from `ring`.
pub type RingAes128Gcm = RingAead<alg::Aes128Gcm>;
/// AES-256-GCM from `ring`.
pub type RingAes256Gcm = RingAead<alg::Aes256Gcm>;
/// ChaCha20-Poly1305 from `ring`.
pub type RingChaCha20Poly1305 = RingAead<alg::ChaCha20Poly1305>;

impl<M: RingAlgorithm> Aead for RingAead<M> {
    const KEY_LEN: usize = M::KEY_LEN;

    fn new(key: &[u8]) -> Result<Self, UsageError> {
        UnboundKey::new(M::algorithm(), key)
            .map(|k| Self {
                key: LessSafeKey::new(k),
                alg: PhantomData,
            })
            .map_err(|_| UsageError::InvalidConfig("AEAD key length"))
    }

    #[allow(clippy::inline_always, reason = "per-packet hot path, measured")]
    #[inline(always)]
    fn seal(
        &self,
        nonce: &[u8; 12],
        aad: &[u8],
        buf: &mut [u8],
        tag: &mut [u8; 16],
    ) -> Result<(), CryptoError> {
        // The tag is read in place from ring's result (no move of the `Tag`
        // into a temporary first: that compiled to overlapping 8-byte copies
        // that missed store forwarding).
        let r = self.key.seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(*nonce),
            Aad::from(aad),
            buf,
        );
        match &r {
            Ok(t) => {
                if let Some(t) = t.as_ref().first_chunk::<16>() {
                    *tag = *t;
                }
                Ok(())
            }
            Err(_) => Err(CryptoError::BadLength),
        }
    }

    #[allow(clippy::inline_always, reason = "per-packet hot path, measured")]
    #[inline(always)]
    fn open(&self, nonce: &[u8; 12], aad: &[u8], buf: &mut [u8]) -> Result<(), CryptoError> {
        if buf.len() < 16 {
            return Err(CryptoError::BadLength);
        }
        self.key
            .open_in_place(Nonce::assume_unique_for_key(*nonce), Aad::from(aad), buf)
            .map(|_| ())
            .map_err(|_| CryptoError::AuthFailed)
    }
}

/// AES-128-GCM-16 ESP (RFC 4106) with `ring`.
pub type Aes128GcmEsp = AeadTransform<RingAes128Gcm>;
/// AES-256-GCM-16 ESP (RFC 4106) with `ring`.
pub type Aes256GcmEsp = AeadTransform<RingAes256Gcm>;
/// ChaCha20-Poly1305 ESP (RFC 7634) with `ring`.
pub type ChaCha20Poly1305Esp = AeadTransform<RingChaCha20Poly1305>;
