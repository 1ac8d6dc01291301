//! `ring` AEAD provider (feature `ring`, std): AES-GCM and ChaCha20-Poly1305
//! through `ring::aead::LessSafeKey`, as an [`Aead`].

extern crate std;

use ring::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};

use crate::crypto::{Aead, AeadTransform, CryptoError};
use crate::error::UsageError;

macro_rules! ring_aead {
    ($name:ident, $alg:expr, $len:expr, $doc:literal) => {
        #[doc = $doc]
        #[derive(Clone)]
        pub struct $name(LessSafeKey);

        impl core::fmt::Debug for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str(stringify!($name))
            }
        }

        impl Aead for $name {
            const KEY_LEN: usize = $len;

            fn new(key: &[u8]) -> Result<Self, UsageError> {
                UnboundKey::new(&$alg, key)
                    .map(|k| Self(LessSafeKey::new(k)))
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
                // The tag is read in place from ring's result (no move of the
                // `Tag` into a temporary first: that compiled to overlapping
                // 8-byte copies that missed store forwarding).
                let r = self.0.seal_in_place_separate_tag(
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
            fn open(
                &self,
                nonce: &[u8; 12],
                aad: &[u8],
                buf: &mut [u8],
            ) -> Result<(), CryptoError> {
                if buf.len() < 16 {
                    return Err(CryptoError::BadLength);
                }
                self.0
                    .open_in_place(Nonce::assume_unique_for_key(*nonce), Aad::from(aad), buf)
                    .map(|_| ())
                    .map_err(|_| CryptoError::AuthFailed)
            }
        }
    };
}

ring_aead!(
    RingAes128Gcm,
    aead::AES_128_GCM,
    16,
    "AES-128-GCM from `ring`."
);
ring_aead!(
    RingAes256Gcm,
    aead::AES_256_GCM,
    32,
    "AES-256-GCM from `ring`."
);
ring_aead!(
    RingChaCha20Poly1305,
    aead::CHACHA20_POLY1305,
    32,
    "ChaCha20-Poly1305 from `ring`."
);

/// AES-128-GCM-16 ESP (RFC 4106) with `ring`.
pub type Aes128GcmEsp = AeadTransform<RingAes128Gcm>;
/// AES-256-GCM-16 ESP (RFC 4106) with `ring`.
pub type Aes256GcmEsp = AeadTransform<RingAes256Gcm>;
/// ChaCha20-Poly1305 ESP (RFC 7634) with `ring`.
pub type ChaCha20Poly1305Esp = AeadTransform<RingChaCha20Poly1305>;
