//! Crypto behind two small traits (STYLE.md section 8).
//!
//! - [`Aead`]: a raw AEAD with a 12-byte nonce and a 16-byte tag, implemented by
//!   `RustCrypto` ([`RustCrypto`], no_std) and by `ring` (feature `ring`).
//! - [`Transform`]: what an SA needs from an ESP transform: IV, ICV and block
//!   sizes, and `seal`/`open` over the pieces of an ESP packet in place.
//!   [`AeadTransform`] (AES-GCM, RFC 4106; ChaCha20-Poly1305, RFC 7634),
//!   [`CbcHmacSha256`] (AES-CBC, RFC 3602, with HMAC-SHA-256-128, RFC 4868) and
//!   [`NullHmacSha256`] (NULL encryption, RFC 2410, with HMAC-SHA-256-128).
//!
//! Each AEAD is one generic over its provider: [`RustCrypto<C>`] over any
//! `RustCrypto` `AeadInPlace + KeyInit` with a 12-byte nonce and 16-byte tag
//! ([`RcAes128Gcm`], [`RcAes192Gcm`], [`RcAes256Gcm`], [`RcChaCha20Poly1305`]
//! are type aliases), `ring::RingAead<M>` over a marker per algorithm, and
//! [`AeadTransform<A>`] turns any of them into an ESP transform. The CBC
//! transforms are one generic over the block cipher.
//!
//! No primitive is written here: block ciphers, modes, GHASH, Poly1305, SHA-2
//! and HMAC all come from the `RustCrypto` crates or `ring`.

use aes_gcm::aead::{AeadInPlace, KeyInit};
use cipher::{BlockDecryptMut, BlockEncryptMut, InnerIvInit};
use hmac::Mac;

use crate::error::UsageError;

// `cipher` is reached through `aes` so that no extra dependency line is needed.
use aes::cipher;

/// A failure inside a crypto provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// The tag or ICV did not verify.
    #[error("authentication failed")]
    AuthFailed,
    /// A length the algorithm cannot process (e.g. not a multiple of the block).
    #[error("bad length for the algorithm")]
    BadLength,
}

/// An AEAD with a 96-bit nonce and a 128-bit tag (RFC 5116 section 2).
pub trait Aead: Sized {
    /// Key length in bytes.
    const KEY_LEN: usize;

    /// Builds the cipher (expands the key once).
    ///
    /// # Errors
    /// [`UsageError::InvalidConfig`] when `key` has the wrong length.
    fn new(key: &[u8]) -> Result<Self, UsageError>;

    /// Encrypts `buf` in place and writes the tag.
    ///
    /// # Errors
    /// [`CryptoError::BadLength`] when the provider refuses the length.
    fn seal(
        &self,
        nonce: &[u8; 12],
        aad: &[u8],
        buf: &mut [u8],
        tag: &mut [u8; 16],
    ) -> Result<(), CryptoError>;

    /// Verifies and decrypts in place. `buf` is the ciphertext followed by the
    /// 16-byte tag; on success its first `len - 16` bytes are the plaintext.
    ///
    /// # Errors
    /// [`CryptoError::AuthFailed`] when the tag does not verify (the buffer
    /// content is then unspecified), [`CryptoError::BadLength`] below 16 bytes.
    fn open(&self, nonce: &[u8; 12], aad: &[u8], buf: &mut [u8]) -> Result<(), CryptoError>;
}

/// A `RustCrypto` AEAD (`aes-gcm`, `chacha20poly1305`) as an [`Aead`].
#[derive(Clone)]
pub struct RustCrypto<C>(C);

impl<C> core::fmt::Debug for RustCrypto<C> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("RustCrypto(..)")
    }
}

/// AES-128-GCM from the `aes-gcm` crate.
pub type RcAes128Gcm = RustCrypto<aes_gcm::Aes128Gcm>;
/// AES-192-GCM from the `aes-gcm` crate.
pub type RcAes192Gcm =
    RustCrypto<aes_gcm::AesGcm<aes_gcm::aes::Aes192, aes_gcm::aead::consts::U12>>;
/// AES-256-GCM from the `aes-gcm` crate.
pub type RcAes256Gcm = RustCrypto<aes_gcm::Aes256Gcm>;
/// ChaCha20-Poly1305 (RFC 8439) from the `chacha20poly1305` crate.
pub type RcChaCha20Poly1305 = RustCrypto<chacha20poly1305::ChaCha20Poly1305>;

impl<C> Aead for RustCrypto<C>
where
    C: AeadInPlace<NonceSize = aes_gcm::aead::consts::U12, TagSize = aes_gcm::aead::consts::U16>
        + KeyInit,
{
    const KEY_LEN: usize = <C as aes_gcm::aead::KeySizeUser>::KeySize::USIZE;

    fn new(key: &[u8]) -> Result<Self, UsageError> {
        C::new_from_slice(key)
            .map(Self)
            .map_err(|_| UsageError::InvalidConfig("AEAD key length"))
    }

    #[inline]
    fn seal(
        &self,
        nonce: &[u8; 12],
        aad: &[u8],
        buf: &mut [u8],
        tag: &mut [u8; 16],
    ) -> Result<(), CryptoError> {
        let t = self
            .0
            .encrypt_in_place_detached(nonce.into(), aad, buf)
            .map_err(|_| CryptoError::BadLength)?;
        tag.copy_from_slice(&t);
        Ok(())
    }

    #[inline]
    fn open(&self, nonce: &[u8; 12], aad: &[u8], buf: &mut [u8]) -> Result<(), CryptoError> {
        let n = buf.len().checked_sub(16).ok_or(CryptoError::BadLength)?;
        let (ct, tag) = buf.split_at_mut(n);
        self.0
            .decrypt_in_place_detached(nonce.into(), aad, ct, (&*tag).into())
            .map_err(|_| CryptoError::AuthFailed)
    }
}

use aes_gcm::aead::generic_array::typenum::Unsigned as _;

/// What the SA needs from an ESP transform (encryption + integrity, or combined
/// mode). All operations are in place over the pieces of one ESP packet.
pub trait Transform {
    /// Length of the explicit IV that follows the ESP header.
    fn iv_len(&self) -> usize;
    /// Length of the ICV at the end of the packet.
    fn icv_len(&self) -> usize;
    /// The payload (through next header) is padded to a multiple of this
    /// (at least 4, RFC 4303 section 2.4).
    fn block_len(&self) -> usize;
    /// True when the IV must be unpredictable and is drawn from the caller's
    /// `CryptoRng` (CBC, RFC 3602 section 2); false when it is derived from the
    /// sequence number (counter-based modes, RFC 4106 section 3.1).
    fn random_iv(&self) -> bool;

    /// Encrypts `payload` (which already ends with the trailer) in place and
    /// writes the ICV. `header` is SPI and low sequence number; `seq_hi` the high
    /// 32 bits of an extended sequence number (RFC 4303 section 2.2.1) when ESN is
    /// in use; `iv` the explicit IV as it is on the wire.
    ///
    /// # Errors
    /// [`CryptoError::BadLength`] when the payload length is not acceptable.
    fn seal(
        &self,
        header: &[u8; 8],
        seq_hi: Option<u32>,
        iv: &[u8],
        payload: &mut [u8],
        icv: &mut [u8],
    ) -> Result<(), CryptoError>;

    /// Verifies the ICV and decrypts in place. `payload_icv` is the ciphertext
    /// followed by the ICV; on success the ciphertext part holds the plaintext.
    /// The ICV is verified before anything is decrypted or trusted.
    ///
    /// # Errors
    /// [`CryptoError::AuthFailed`] or [`CryptoError::BadLength`].
    fn open(
        &self,
        header: &[u8; 8],
        seq_hi: Option<u32>,
        iv: &[u8],
        payload_icv: &mut [u8],
    ) -> Result<(), CryptoError>;
}

/// The AAD of a combined-mode ESP transform: SPI || Seq (8 bytes), or
/// SPI || Seq-High || Seq-Low with ESN (12 bytes) — RFC 4106 section 5.
#[inline]
fn esp_aad(header: [u8; 8], seq_hi: Option<u32>, out: &mut [u8; 12]) -> usize {
    let (spi, seq) = header.split_at(4);
    match seq_hi {
        None => {
            let (a, _) = out.split_at_mut(8);
            a.copy_from_slice(&header);
            8
        }
        Some(hi) => {
            let (a, rest) = out.split_at_mut(4);
            let (b, c) = rest.split_at_mut(4);
            a.copy_from_slice(spi);
            b.copy_from_slice(&hi.to_be_bytes());
            c.copy_from_slice(seq);
            12
        }
    }
}

/// A combined-mode ESP transform over an [`Aead`]: AES-GCM with a 16-byte ICV
/// (RFC 4106) or ChaCha20-Poly1305 (RFC 7634). The nonce is the 4-byte salt
/// (the tail of the key material, RFC 4106 section 8.1) followed by the 8-byte
/// explicit IV (RFC 4106 section 4).
#[derive(Debug, Clone)]
pub struct AeadTransform<A> {
    aead: A,
    salt: [u8; 4],
}

impl<A: Aead> AeadTransform<A> {
    /// From key material = key || 4-byte salt (RFC 4106 section 8.1, RFC 7634
    /// section 3).
    ///
    /// # Errors
    /// [`UsageError::InvalidConfig`] when `keymat` is not `KEY_LEN + 4` bytes.
    pub fn from_keymat(keymat: &[u8]) -> Result<Self, UsageError> {
        let (key, salt) = keymat
            .split_last_chunk::<4>()
            .ok_or(UsageError::InvalidConfig("key material length"))?;
        if key.len() != A::KEY_LEN {
            return Err(UsageError::InvalidConfig("key material length"));
        }
        Ok(Self {
            aead: A::new(key)?,
            salt: *salt,
        })
    }

    /// From an already built AEAD and the salt.
    pub fn new(aead: A, salt: [u8; 4]) -> Self {
        Self { aead, salt }
    }

    /// The raw AEAD (for benchmarks next to the ESP path).
    pub fn aead(&self) -> &A {
        &self.aead
    }

    /// The nonce (RFC 4106 section 4: salt || explicit IV) and the AAD with
    /// its length (RFC 4106 section 5) of one packet.
    #[allow(clippy::inline_always, reason = "per-packet hot path, measured")]
    #[inline(always)]
    fn nonce_aad(
        &self,
        header: [u8; 8],
        seq_hi: Option<u32>,
        iv: &[u8],
    ) -> Result<([u8; 12], [u8; 12], usize), CryptoError> {
        let iv = u64::from_be_bytes(iv.try_into().map_err(|_| CryptoError::BadLength)?);
        // Two words (bytes 0..8 and 8..12) so that each is one store: the AEAD
        // reads the nonce back as an 8-byte and a 4-byte load, and a load
        // spanning several narrow stores misses store forwarding (tens of
        // cycles per packet).
        let hi = (u64::from(u32::from_be_bytes(self.salt)) << 32) | (iv >> 32);
        #[allow(clippy::cast_possible_truncation, reason = "low half of the IV")]
        let lo = iv as u32;
        let mut nonce = [0u8; 12];
        let (a, b) = nonce.split_at_mut(8);
        a.copy_from_slice(&hi.to_be_bytes());
        b.copy_from_slice(&lo.to_be_bytes());
        let mut aad = [0u8; 12];
        let n = esp_aad(header, seq_hi, &mut aad);
        Ok((nonce, aad, n))
    }
}

impl<A: Aead> Transform for AeadTransform<A> {
    #[inline]
    fn iv_len(&self) -> usize {
        8
    }
    #[inline]
    fn icv_len(&self) -> usize {
        16
    }
    #[inline]
    fn block_len(&self) -> usize {
        4
    }
    #[inline]
    fn random_iv(&self) -> bool {
        false
    }

    #[allow(clippy::inline_always, reason = "per-packet hot path, measured")]
    #[inline(always)]
    fn seal(
        &self,
        header: &[u8; 8],
        seq_hi: Option<u32>,
        iv: &[u8],
        payload: &mut [u8],
        icv: &mut [u8],
    ) -> Result<(), CryptoError> {
        let (nonce, aad, n) = self.nonce_aad(*header, seq_hi, iv)?;
        let tag: &mut [u8; 16] = icv.try_into().map_err(|_| CryptoError::BadLength)?;
        self.aead
            .seal(&nonce, aad.get(..n).unwrap_or_default(), payload, tag)
    }

    #[allow(clippy::inline_always, reason = "per-packet hot path, measured")]
    #[inline(always)]
    fn open(
        &self,
        header: &[u8; 8],
        seq_hi: Option<u32>,
        iv: &[u8],
        payload_icv: &mut [u8],
    ) -> Result<(), CryptoError> {
        let (nonce, aad, n) = self.nonce_aad(*header, seq_hi, iv)?;
        self.aead
            .open(&nonce, aad.get(..n).unwrap_or_default(), payload_icv)
    }
}

/// AES-128-GCM-16 ESP (RFC 4106) with `RustCrypto`.
pub type Aes128GcmEsp = AeadTransform<RcAes128Gcm>;
/// AES-256-GCM-16 ESP (RFC 4106) with `RustCrypto`.
pub type Aes256GcmEsp = AeadTransform<RcAes256Gcm>;
/// ChaCha20-Poly1305 ESP (RFC 7634) with `RustCrypto`.
pub type ChaCha20Poly1305Esp = AeadTransform<RcChaCha20Poly1305>;

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// HMAC-SHA-256-128 (RFC 4868 section 2.3) over the ESP header, IV and
/// ciphertext, plus the high sequence bits at the end with ESN (RFC 4303
/// section 3.3.2.1).
#[derive(Clone)]
struct Integrity(HmacSha256);

impl Integrity {
    fn new(key: &[u8]) -> Result<Self, UsageError> {
        // RFC 4868 section 2.1.1: the key is 256 bits.
        if key.len() != 32 {
            return Err(UsageError::InvalidConfig(
                "HMAC-SHA-256 key must be 32 bytes",
            ));
        }
        <HmacSha256 as Mac>::new_from_slice(key)
            .map(Self)
            .map_err(|_| UsageError::InvalidConfig("HMAC key"))
    }

    /// The MAC state over ESP header, IV and ciphertext, then the high
    /// sequence bits with ESN (RFC 4303 section 3.3.2.1).
    fn mac(&self, header: [u8; 8], seq_hi: Option<u32>, iv: &[u8], ct: &[u8]) -> HmacSha256 {
        let mut m = self.0.clone();
        m.update(&header);
        m.update(iv);
        m.update(ct);
        if let Some(hi) = seq_hi {
            m.update(&hi.to_be_bytes());
        }
        m
    }

    /// The ICV: the HMAC truncated to its first 128 bits (RFC 4868 section 2.3).
    fn icv(&self, header: [u8; 8], seq_hi: Option<u32>, iv: &[u8], ct: &[u8]) -> [u8; 16] {
        let full = self.mac(header, seq_hi, iv, ct).finalize().into_bytes();
        full.first_chunk::<16>().copied().unwrap_or_default()
    }

    fn verify(
        &self,
        header: [u8; 8],
        seq_hi: Option<u32>,
        iv: &[u8],
        ct: &[u8],
        icv: &[u8],
    ) -> Result<(), CryptoError> {
        // Constant-time comparison of the truncated tag (hmac's verify_truncated_left).
        self.mac(header, seq_hi, iv, ct)
            .verify_truncated_left(icv)
            .map_err(|_| CryptoError::AuthFailed)
    }
}

/// Splits ciphertext || 16-byte ICV.
fn split_icv(payload_icv: &mut [u8]) -> Result<(&mut [u8], &mut [u8]), CryptoError> {
    let n = payload_icv
        .len()
        .checked_sub(16)
        .ok_or(CryptoError::BadLength)?;
    Ok(payload_icv.split_at_mut(n))
}

/// AES-CBC (RFC 3602) with HMAC-SHA-256-128 (RFC 4868): encrypt-then-MAC,
/// 16-byte random IV, 16-byte ICV. `C` is `aes::Aes128`, `aes::Aes192` or
/// `aes::Aes256`.
#[derive(Clone)]
pub struct CbcHmacSha256<C> {
    enc: C,
    integ: Integrity,
}

impl<C> core::fmt::Debug for CbcHmacSha256<C> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("CbcHmacSha256(..)")
    }
}

/// AES-128-CBC + HMAC-SHA-256-128.
pub type Aes128CbcHmacSha256 = CbcHmacSha256<aes::Aes128>;
/// AES-256-CBC + HMAC-SHA-256-128.
pub type Aes256CbcHmacSha256 = CbcHmacSha256<aes::Aes256>;

impl<C> CbcHmacSha256<C>
where
    C: cipher::BlockCipher
        + cipher::BlockEncrypt
        + cipher::BlockDecrypt
        + cipher::KeyInit
        + cipher::BlockSizeUser<BlockSize = cipher::consts::U16>
        + Clone,
{
    /// From the encryption key (16/24/32 bytes for AES) and the 32-byte
    /// integrity key.
    ///
    /// # Errors
    /// [`UsageError::InvalidConfig`] for a wrong key length.
    pub fn new(enc_key: &[u8], integ_key: &[u8]) -> Result<Self, UsageError> {
        Ok(Self {
            enc: C::new_from_slice(enc_key)
                .map_err(|_| UsageError::InvalidConfig("AES-CBC key length"))?,
            integ: Integrity::new(integ_key)?,
        })
    }
}

impl<C> Transform for CbcHmacSha256<C>
where
    C: cipher::BlockCipher
        + cipher::BlockEncrypt
        + cipher::BlockDecrypt
        + cipher::BlockSizeUser<BlockSize = cipher::consts::U16>
        + Clone,
{
    fn iv_len(&self) -> usize {
        16
    }
    fn icv_len(&self) -> usize {
        16
    }
    fn block_len(&self) -> usize {
        16
    }
    fn random_iv(&self) -> bool {
        true
    }

    fn seal(
        &self,
        header: &[u8; 8],
        seq_hi: Option<u32>,
        iv: &[u8],
        payload: &mut [u8],
        icv: &mut [u8],
    ) -> Result<(), CryptoError> {
        if payload.len() % 16 != 0 {
            return Err(CryptoError::BadLength);
        }
        let mut e = cbc::Encryptor::<C>::inner_iv_slice_init(self.enc.clone(), iv)
            .map_err(|_| CryptoError::BadLength)?;
        for block in payload.chunks_exact_mut(16) {
            e.encrypt_block_mut(block.into());
        }
        let tag = self.integ.icv(*header, seq_hi, iv, payload);
        let out: &mut [u8; 16] = icv.try_into().map_err(|_| CryptoError::BadLength)?;
        *out = tag;
        Ok(())
    }

    fn open(
        &self,
        header: &[u8; 8],
        seq_hi: Option<u32>,
        iv: &[u8],
        payload_icv: &mut [u8],
    ) -> Result<(), CryptoError> {
        let (ct, icv) = split_icv(payload_icv)?;
        // RFC 4303 section 3.4.4.1: integrity first, then decryption.
        self.integ.verify(*header, seq_hi, iv, ct, icv)?;
        if ct.len() % 16 != 0 {
            return Err(CryptoError::BadLength);
        }
        let mut d = cbc::Decryptor::<C>::inner_iv_slice_init(self.enc.clone(), iv)
            .map_err(|_| CryptoError::BadLength)?;
        for block in ct.chunks_exact_mut(16) {
            d.decrypt_block_mut(block.into());
        }
        Ok(())
    }
}

/// NULL encryption (RFC 2410) with HMAC-SHA-256-128 (RFC 4868): integrity only,
/// for tests and debugging. No IV, 4-byte alignment.
#[derive(Clone)]
pub struct NullHmacSha256 {
    integ: Integrity,
}

impl core::fmt::Debug for NullHmacSha256 {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("NullHmacSha256(..)")
    }
}

impl NullHmacSha256 {
    /// From the 32-byte integrity key.
    ///
    /// # Errors
    /// [`UsageError::InvalidConfig`] for a wrong key length.
    pub fn new(integ_key: &[u8]) -> Result<Self, UsageError> {
        Ok(Self {
            integ: Integrity::new(integ_key)?,
        })
    }
}

impl Transform for NullHmacSha256 {
    fn iv_len(&self) -> usize {
        0
    }
    fn icv_len(&self) -> usize {
        16
    }
    fn block_len(&self) -> usize {
        4
    }
    fn random_iv(&self) -> bool {
        false
    }

    fn seal(
        &self,
        header: &[u8; 8],
        seq_hi: Option<u32>,
        _iv: &[u8],
        payload: &mut [u8],
        icv: &mut [u8],
    ) -> Result<(), CryptoError> {
        let tag = self.integ.icv(*header, seq_hi, &[], payload);
        let out: &mut [u8; 16] = icv.try_into().map_err(|_| CryptoError::BadLength)?;
        *out = tag;
        Ok(())
    }

    fn open(
        &self,
        header: &[u8; 8],
        seq_hi: Option<u32>,
        _iv: &[u8],
        payload_icv: &mut [u8],
    ) -> Result<(), CryptoError> {
        let (ct, icv) = split_icv(payload_icv)?;
        self.integ.verify(*header, seq_hi, &[], ct, icv)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    fn unhex(s: &str) -> [u8; 64] {
        let mut out = [0u8; 64];
        for (i, b) in out.iter_mut().enumerate().take(s.len() / 2) {
            *b = u8::from_str_radix(s.get(2 * i..2 * i + 2).unwrap(), 16).unwrap();
        }
        out
    }

    /// RFC 8439 section 2.8.2 (also `../shared/corpus/vectors`).
    #[test]
    fn chacha20poly1305_rfc8439() {
        let key = unhex("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f");
        let a = RcChaCha20Poly1305::new(&key[..32]).unwrap();
        let nonce: [u8; 12] = unhex("070000004041424344454647")[..12].try_into().unwrap();
        let aad = unhex("50515253c0c1c2c3c4c5c6c7");
        let mut buf = *b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.";
        let mut tag = [0u8; 16];
        a.seal(&nonce, &aad[..12], &mut buf, &mut tag).unwrap();
        assert_eq!(tag, unhex("1ae10b594f09e26a7e902ecbd0600691")[..16]);
        assert_eq!(buf[..4], [0xd3, 0x1a, 0x8d, 0x34]);
    }

    #[test]
    fn cbc_hmac_roundtrip_and_tamper() {
        let t = Aes256CbcHmacSha256::new(&[1u8; 32], &[2u8; 32]).unwrap();
        let hdr = [0, 0, 1, 0, 0, 0, 0, 1];
        let iv = [9u8; 16];
        let mut buf = [0u8; 48];
        buf[..32].copy_from_slice(&[0x55; 32]);
        let (pt, icv) = buf.split_at_mut(32);
        t.seal(&hdr, Some(1), &iv, pt, icv).unwrap();
        assert_ne!(&buf[..32], &[0x55; 32]);
        let mut bad = buf;
        assert_eq!(
            t.open(&hdr, Some(2), &iv, &mut bad),
            Err(CryptoError::AuthFailed)
        );
        t.open(&hdr, Some(1), &iv, &mut buf).unwrap();
        assert_eq!(&buf[..32], &[0x55; 32]);
    }
}
