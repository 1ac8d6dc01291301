//! Cryptographic building blocks behind small traits, with RustCrypto providers
//! (`no_std`, no heap): PRFs, prf+, SKEYSEED and key-material expansion (RFC 7296
//! sections 2.13, 2.14, 2.17), integrity (RFC 4868, RFC 2404) and key exchange
//! (X25519 RFC 8031, ECP-256/384 RFC 5903).
//!
//! No primitive is written here: HMAC, SHA, AES, GCM, CBC, X25519 and the NIST
//! curves all come from RustCrypto crates.

use hmac::{Hmac, Mac};
use p256::elliptic_curve::sec1::ToEncodedPoint as _;
use rand_core::{CryptoRng, RngCore};
use subtle::ConstantTimeEq;

use crate::error::CryptoError;
use crate::types::{DhGroup, IntegId, PrfId};

/// Largest PRF output and key this crate handles (SHA-512).
pub const MAX_PRF_LEN: usize = 64;
/// Largest secret held in a [`Secret`].
pub const MAX_SECRET_LEN: usize = 64;

/// A pseudorandom function (RFC 7296 section 2.13).
pub trait Prf {
    /// Output length in bytes.
    fn output_len(&self) -> usize;
    /// Preferred key length (the output length for HMAC, section 2.13).
    fn key_len(&self) -> usize {
        self.output_len()
    }
    /// `prf(key, data[0] | data[1] | ...)` into `out`; returns the output length.
    ///
    /// # Errors
    /// [`CryptoError::BufferTooSmall`] if `out` is shorter than the output.
    fn prf(&self, key: &[u8], data: &[&[u8]], out: &mut [u8]) -> Result<usize, CryptoError>;
}

/// An integrity algorithm (RFC 7296 section 3.14, RFC 4868, RFC 2404).
pub trait Integrity {
    /// Key length in bytes.
    fn key_len(&self) -> usize;
    /// ICV (truncated MAC) length in bytes.
    fn icv_len(&self) -> usize;
    /// Computes the truncated ICV of `data` into `out[..icv_len]`.
    ///
    /// # Errors
    /// [`CryptoError::BufferTooSmall`] if `out` is short.
    fn compute(&self, key: &[u8], data: &[&[u8]], out: &mut [u8]) -> Result<(), CryptoError>;
    /// Checks `icv` in constant time.
    ///
    /// # Errors
    /// [`CryptoError::Integrity`] when it does not match.
    fn verify(&self, key: &[u8], data: &[&[u8]], icv: &[u8]) -> Result<(), CryptoError> {
        let mut buf = [0u8; MAX_PRF_LEN];
        let n = self.icv_len();
        let out = buf.get_mut(..n).ok_or(CryptoError::BufferTooSmall)?;
        self.compute(key, data, out)?;
        if icv.len() == n && bool::from(out.ct_eq(icv)) {
            Ok(())
        } else {
            Err(CryptoError::Integrity)
        }
    }
}

fn hmac<M: Mac + hmac::digest::KeyInit>(
    key: &[u8],
    data: &[&[u8]],
    out: &mut [u8],
) -> Result<usize, CryptoError> {
    let mut m = <M as Mac>::new_from_slice(key).map_err(|_| CryptoError::BufferTooSmall)?;
    for d in data {
        m.update(d);
    }
    let tag = m.finalize().into_bytes();
    let n = tag.len();
    out.get_mut(..n)
        .ok_or(CryptoError::BufferTooSmall)?
        .copy_from_slice(&tag);
    Ok(n)
}

fn hmac_by_len(
    hash_len: usize,
    key: &[u8],
    data: &[&[u8]],
    out: &mut [u8],
) -> Result<usize, CryptoError> {
    match hash_len {
        20 => hmac::<Hmac<sha1::Sha1>>(key, data, out),
        32 => hmac::<Hmac<sha2::Sha256>>(key, data, out),
        48 => hmac::<Hmac<sha2::Sha384>>(key, data, out),
        64 => hmac::<Hmac<sha2::Sha512>>(key, data, out),
        _ => Err(CryptoError::Unsupported("HMAC hash")),
    }
}

/// HMAC PRFs: PRF_HMAC_SHA1 (RFC 2104) and PRF_HMAC_SHA2_256/384/512 (RFC 4868
/// section 2.1), RustCrypto `hmac` + `sha1`/`sha2`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HmacPrf {
    id: PrfId,
    len: usize,
}

impl HmacPrf {
    /// The PRF for a transform ID.
    ///
    /// # Errors
    /// [`CryptoError::Unsupported`] for other PRFs.
    pub const fn new(id: PrfId) -> Result<Self, CryptoError> {
        let len = match id {
            PrfId::HMAC_SHA1 => 20,
            PrfId::HMAC_SHA2_256 => 32,
            PrfId::HMAC_SHA2_384 => 48,
            PrfId::HMAC_SHA2_512 => 64,
            _ => return Err(CryptoError::Unsupported("PRF")),
        };
        Ok(Self { id, len })
    }

    /// The transform ID.
    #[must_use]
    pub const fn id(&self) -> PrfId {
        self.id
    }
}

impl Prf for HmacPrf {
    fn output_len(&self) -> usize {
        self.len
    }
    fn prf(&self, key: &[u8], data: &[&[u8]], out: &mut [u8]) -> Result<usize, CryptoError> {
        hmac_by_len(self.len, key, data, out)
    }
}

/// HMAC integrity: AUTH_HMAC_SHA1_96 (RFC 2404) and AUTH_HMAC_SHA2_256_128,
/// 384_192, 512_256 (RFC 4868 section 2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HmacIntegrity {
    id: IntegId,
    hash_len: usize,
    icv_len: usize,
}

impl HmacIntegrity {
    /// The algorithm for a transform ID.
    ///
    /// # Errors
    /// [`CryptoError::Unsupported`] for other algorithms.
    pub const fn new(id: IntegId) -> Result<Self, CryptoError> {
        let (hash_len, icv_len) = match id {
            IntegId::HMAC_SHA1_96 => (20, 12),
            IntegId::HMAC_SHA2_256_128 => (32, 16),
            IntegId::HMAC_SHA2_384_192 => (48, 24),
            IntegId::HMAC_SHA2_512_256 => (64, 32),
            _ => return Err(CryptoError::Unsupported("integrity algorithm")),
        };
        Ok(Self {
            id,
            hash_len,
            icv_len,
        })
    }

    /// The transform ID.
    #[must_use]
    pub const fn id(&self) -> IntegId {
        self.id
    }
}

impl Integrity for HmacIntegrity {
    fn key_len(&self) -> usize {
        self.hash_len
    }
    fn icv_len(&self) -> usize {
        self.icv_len
    }
    fn compute(&self, key: &[u8], data: &[&[u8]], out: &mut [u8]) -> Result<(), CryptoError> {
        let mut full = [0u8; MAX_PRF_LEN];
        hmac_by_len(self.hash_len, key, data, &mut full)?;
        let icv = full
            .get(..self.icv_len)
            .ok_or(CryptoError::BufferTooSmall)?;
        out.get_mut(..self.icv_len)
            .ok_or(CryptoError::BufferTooSmall)?
            .copy_from_slice(icv);
        Ok(())
    }
}

/// Most seed parts [`prf_plus`] accepts.
pub const MAX_SEED_PARTS: usize = 6;

/// `prf+ (K, S) = T1 | T2 | T3 | ...` with `T1 = prf(K, S | 0x01)` and
/// `Tn = prf(K, Tn-1 | S | n)`, truncated to `out.len()` (RFC 7296 section 2.13).
/// `S` is the concatenation of `seed`.
///
/// # Errors
/// [`CryptoError::BufferTooSmall`] when `out` is longer than 255 PRF outputs or
/// `seed` has more than [`MAX_SEED_PARTS`] parts.
pub fn prf_plus<P: Prf + ?Sized>(
    prf: &P,
    key: &[u8],
    seed: &[&[u8]],
    out: &mut [u8],
) -> Result<(), CryptoError> {
    if seed.len() > MAX_SEED_PARTS {
        return Err(CryptoError::BufferTooSmall);
    }
    let hlen = prf.output_len();
    let mut t = [0u8; MAX_PRF_LEN];
    let mut t_len = 0usize;
    for (i, chunk) in out.chunks_mut(hlen.max(1)).enumerate() {
        let n = u8::try_from(i + 1).map_err(|_| CryptoError::BufferTooSmall)?;
        let counter = [n];
        let mut parts: [&[u8]; MAX_SEED_PARTS + 2] = [&[]; MAX_SEED_PARTS + 2];
        let prev = t;
        if let Some(p) = parts.get_mut(0) {
            *p = prev.get(..t_len).unwrap_or_default();
        }
        for (dst, s) in parts.iter_mut().skip(1).zip(seed) {
            *dst = s;
        }
        if let Some(p) = parts.get_mut(1 + seed.len()) {
            *p = &counter;
        }
        let used = parts.get(..seed.len() + 2).unwrap_or_default();
        t_len = prf.prf(key, used, &mut t)?;
        chunk.copy_from_slice(t.get(..chunk.len()).ok_or(CryptoError::BufferTooSmall)?);
    }
    Ok(())
}

/// A secret of up to 64 bytes, zeroed on drop, redacted in `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret {
    bytes: [u8; MAX_SECRET_LEN],
    len: usize,
}

impl Secret {
    /// A copy of `b`.
    ///
    /// # Errors
    /// [`CryptoError::BufferTooSmall`] above 64 bytes.
    pub fn from_slice(b: &[u8]) -> Result<Self, CryptoError> {
        let mut s = Self::zeroed(b.len())?;
        s.bytes
            .get_mut(..b.len())
            .ok_or(CryptoError::BufferTooSmall)?
            .copy_from_slice(b);
        Ok(s)
    }

    /// `len` zero bytes.
    ///
    /// # Errors
    /// [`CryptoError::BufferTooSmall`] above 64 bytes.
    pub const fn zeroed(len: usize) -> Result<Self, CryptoError> {
        if len > MAX_SECRET_LEN {
            return Err(CryptoError::BufferTooSmall);
        }
        Ok(Self {
            bytes: [0; MAX_SECRET_LEN],
            len,
        })
    }

    /// The secret bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or_default()
    }

    fn as_mut(&mut self) -> &mut [u8] {
        self.bytes.get_mut(..self.len).unwrap_or_default()
    }

    /// Length in bytes.
    #[must_use]
    pub const fn len(&self) -> usize {
        self.len
    }

    /// Is it empty?
    #[must_use]
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Default for Secret {
    fn default() -> Self {
        Self {
            bytes: [0; MAX_SECRET_LEN],
            len: 0,
        }
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.bytes);
    }
}

impl core::fmt::Debug for Secret {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Secret({} bytes)", self.len)
    }
}

/// Lengths of the IKE SA keys, from the negotiated transforms (section 2.14).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyLengths {
    /// SK_d, SK_pi, SK_pr: the PRF's preferred key length.
    pub prf: usize,
    /// SK_ai, SK_ar: the integrity key length (0 for AEAD).
    pub integ: usize,
    /// SK_ei, SK_er: the cipher key length plus any salt (RFC 5282 section 7.1).
    pub encr: usize,
}

/// The seven IKE SA keys (RFC 7296 section 2.14).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IkeKeys {
    /// SK_d: for deriving Child SA keys.
    pub d: Secret,
    /// SK_ai: integrity, initiator to responder.
    pub ai: Secret,
    /// SK_ar: integrity, responder to initiator.
    pub ar: Secret,
    /// SK_ei: encryption, initiator to responder.
    pub ei: Secret,
    /// SK_er: encryption, responder to initiator.
    pub er: Secret,
    /// SK_pi: for the initiator's AUTH payload.
    pub pi: Secret,
    /// SK_pr: for the responder's AUTH payload.
    pub pr: Secret,
}

/// `SKEYSEED = prf(Ni | Nr, g^ir)` (RFC 7296 section 2.14). Nonces are at most 256
/// bytes each (section 3.9).
///
/// # Errors
/// [`CryptoError::BufferTooSmall`] for over-long nonces.
pub fn skeyseed<P: Prf + ?Sized>(
    prf: &P,
    ni: &[u8],
    nr: &[u8],
    shared: &[u8],
) -> Result<Secret, CryptoError> {
    let mut key = [0u8; 512];
    let both = ni
        .len()
        .checked_add(nr.len())
        .ok_or(CryptoError::BufferTooSmall)?;
    let nonces = key.get_mut(..both).ok_or(CryptoError::BufferTooSmall)?;
    let (key_i, key_r) = nonces.split_at_mut(ni.len());
    key_i.copy_from_slice(ni);
    key_r.copy_from_slice(nr);
    let mut seed = Secret::zeroed(prf.output_len())?;
    prf.prf(nonces, &[shared], seed.as_mut())?;
    zeroize::Zeroize::zeroize(&mut key);
    Ok(seed)
}

/// `SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr)` for an IKE SA rekey (RFC 7296
/// section 2.18).
///
/// # Errors
/// [`CryptoError::BufferTooSmall`] for a PRF output above 64 bytes.
pub fn skeyseed_rekey<P: Prf + ?Sized>(
    prf: &P,
    sk_d_old: &[u8],
    shared: &[u8],
    ni: &[u8],
    nr: &[u8],
) -> Result<Secret, CryptoError> {
    let mut s = Secret::zeroed(prf.output_len())?;
    prf.prf(sk_d_old, &[shared, ni, nr], s.as_mut())?;
    Ok(s)
}

/// Keying material from prf+, cut into consecutive keys in order (RFC 7296
/// sections 2.14 and 2.17).
struct Keymat<'a>(&'a [u8]);

impl Keymat<'_> {
    /// The next `n` bytes as a key.
    fn take(&mut self, n: usize) -> Result<Secret, CryptoError> {
        let (a, b) = self
            .0
            .split_at_checked(n)
            .ok_or(CryptoError::BufferTooSmall)?;
        self.0 = b;
        Secret::from_slice(a)
    }
}

/// `{SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr} = prf+ (SKEYSEED, Ni | Nr |
/// SPIi | SPIr)` (RFC 7296 section 2.14).
///
/// # Errors
/// [`CryptoError::BufferTooSmall`] for a key longer than 64 bytes.
pub fn derive_ike_keys<P: Prf + ?Sized>(
    prf: &P,
    skeyseed: &[u8],
    ni: &[u8],
    nr: &[u8],
    spi_i: &[u8; 8],
    spi_r: &[u8; 8],
    lens: KeyLengths,
) -> Result<IkeKeys, CryptoError> {
    let total = 3 * lens.prf + 2 * lens.integ + 2 * lens.encr;
    let mut buf = [0u8; 7 * MAX_SECRET_LEN];
    let km = buf.get_mut(..total).ok_or(CryptoError::BufferTooSmall)?;
    prf_plus(prf, skeyseed, &[ni, nr, spi_i, spi_r], km)?;
    let mut km = Keymat(km);
    let keys = IkeKeys {
        d: km.take(lens.prf)?,
        ai: km.take(lens.integ)?,
        ar: km.take(lens.integ)?,
        ei: km.take(lens.encr)?,
        er: km.take(lens.encr)?,
        pi: km.take(lens.prf)?,
        pr: km.take(lens.prf)?,
    };
    zeroize::Zeroize::zeroize(&mut buf);
    Ok(keys)
}

/// Keys of one Child SA pair (RFC 7296 section 2.17), as plain data for the ESP
/// implementation: initiator-to-responder keys first.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChildKeys {
    /// Encryption key (plus salt for AEAD), initiator to responder.
    pub ei: Secret,
    /// Integrity key, initiator to responder (empty for AEAD).
    pub ai: Secret,
    /// Encryption key (plus salt for AEAD), responder to initiator.
    pub er: Secret,
    /// Integrity key, responder to initiator (empty for AEAD).
    pub ar: Secret,
}

/// `KEYMAT = prf+ (SK_d, [g^ir (new) |] Ni | Nr)` split into encryption then
/// integrity key per direction, initiator to responder first (RFC 7296 section
/// 2.17).
///
/// # Errors
/// [`CryptoError::BufferTooSmall`] for a key longer than 64 bytes.
pub fn derive_child_keys<P: Prf + ?Sized>(
    prf: &P,
    sk_d: &[u8],
    shared: Option<&[u8]>,
    ni: &[u8],
    nr: &[u8],
    encr_len: usize,
    integ_len: usize,
) -> Result<ChildKeys, CryptoError> {
    let total = 2 * (encr_len + integ_len);
    let mut buf = [0u8; 4 * MAX_SECRET_LEN];
    let km = buf.get_mut(..total).ok_or(CryptoError::BufferTooSmall)?;
    match shared {
        Some(g) => prf_plus(prf, sk_d, &[g, ni, nr], km)?,
        None => prf_plus(prf, sk_d, &[ni, nr], km)?,
    }
    let mut km = Keymat(km);
    let keys = ChildKeys {
        ei: km.take(encr_len)?,
        ai: km.take(integ_len)?,
        er: km.take(encr_len)?,
        ar: km.take(integ_len)?,
    };
    zeroize::Zeroize::zeroize(&mut buf);
    Ok(keys)
}

/// Largest public value of the supported groups (MODP-8192: 1024 bytes).
pub const MAX_PUBLIC_LEN: usize = 1024;
/// Largest shared secret of the supported groups (MODP-8192: 1024 bytes).
pub const MAX_SHARED_LEN: usize = 1024;

use crypto_bigint::{U2048, U3072, U4096, U6144, U8192, Uint};

/// RFC 3526 section 3, group 14: `p = 2^2048 - 2^1984 - 1 + 2^64 * { [2^1918 pi] +
/// 124476 }`, generator 2.
const MODP2048_P: U2048 = U2048::from_be_hex(concat!(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74",
    "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437",
    "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED",
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05",
    "98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB",
    "9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B",
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718",
    "3995497CEA956AE515D2261898FA051015728E5A8AACAA68FFFFFFFFFFFFFFFF",
));

/// RFC 3526 section 4, group 15: `p = 2^3072 - 2^3008 - 1 + 2^64 * { [2^2942 pi] +
/// 1690314 }`, generator 2.
const MODP3072_P: U3072 = U3072::from_be_hex(concat!(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74",
    "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437",
    "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED",
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05",
    "98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB",
    "9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B",
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718",
    "3995497CEA956AE515D2261898FA051015728E5A8AAAC42DAD33170D04507A33",
    "A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7",
    "ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864",
    "D87602733EC86A64521F2B18177B200CBBE117577A615D6C770988C0BAD946E2",
    "08E24FA074E5AB3143DB5BFCE0FD108E4B82D120A93AD2CAFFFFFFFFFFFFFFFF",
));

/// RFC 3526 section 5, group 16: `p = 2^4096 - 2^4032 - 1 + 2^64 * { [2^3966 pi] +
/// 240904 }`, generator 2.
const MODP4096_P: U4096 = U4096::from_be_hex(concat!(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74",
    "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437",
    "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED",
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05",
    "98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB",
    "9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B",
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718",
    "3995497CEA956AE515D2261898FA051015728E5A8AAAC42DAD33170D04507A33",
    "A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7",
    "ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864",
    "D87602733EC86A64521F2B18177B200CBBE117577A615D6C770988C0BAD946E2",
    "08E24FA074E5AB3143DB5BFCE0FD108E4B82D120A92108011A723C12A787E6D7",
    "88719A10BDBA5B2699C327186AF4E23C1A946834B6150BDA2583E9CA2AD44CE8",
    "DBBBC2DB04DE8EF92E8EFC141FBECAA6287C59474E6BC05D99B2964FA090C3A2",
    "233BA186515BE7ED1F612970CEE2D7AFB81BDD762170481CD0069127D5B05AA9",
    "93B4EA988D8FDDC186FFB7DC90A6C08F4DF435C934063199FFFFFFFFFFFFFFFF",
));

/// RFC 3526 section 6, group 17: `p = 2^6144 - 2^6080 - 1 + 2^64 * { [2^6014 pi] +
/// 929484 }`, generator 2.
const MODP6144_P: U6144 = U6144::from_be_hex(concat!(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74",
    "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437",
    "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED",
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05",
    "98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB",
    "9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B",
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718",
    "3995497CEA956AE515D2261898FA051015728E5A8AAAC42DAD33170D04507A33",
    "A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7",
    "ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864",
    "D87602733EC86A64521F2B18177B200CBBE117577A615D6C770988C0BAD946E2",
    "08E24FA074E5AB3143DB5BFCE0FD108E4B82D120A92108011A723C12A787E6D7",
    "88719A10BDBA5B2699C327186AF4E23C1A946834B6150BDA2583E9CA2AD44CE8",
    "DBBBC2DB04DE8EF92E8EFC141FBECAA6287C59474E6BC05D99B2964FA090C3A2",
    "233BA186515BE7ED1F612970CEE2D7AFB81BDD762170481CD0069127D5B05AA9",
    "93B4EA988D8FDDC186FFB7DC90A6C08F4DF435C93402849236C3FAB4D27C7026",
    "C1D4DCB2602646DEC9751E763DBA37BDF8FF9406AD9E530EE5DB382F413001AE",
    "B06A53ED9027D831179727B0865A8918DA3EDBEBCF9B14ED44CE6CBACED4BB1B",
    "DB7F1447E6CC254B332051512BD7AF426FB8F401378CD2BF5983CA01C64B92EC",
    "F032EA15D1721D03F482D7CE6E74FEF6D55E702F46980C82B5A84031900B1C9E",
    "59E7C97FBEC7E8F323A97A7E36CC88BE0F1D45B7FF585AC54BD407B22B4154AA",
    "CC8F6D7EBF48E1D814CC5ED20F8037E0A79715EEF29BE32806A1D58BB7C5DA76",
    "F550AA3D8A1FBFF0EB19CCB1A313D55CDA56C9EC2EF29632387FE8D76E3C0468",
    "043E8F663F4860EE12BF2D5B0B7474D6E694F91E6DCC4024FFFFFFFFFFFFFFFF",
));

/// RFC 3526 section 7, group 18: `p = 2^8192 - 2^8128 - 1 + 2^64 * { [2^8062 pi] +
/// 4743158 }`, generator 2.
const MODP8192_P: U8192 = U8192::from_be_hex(concat!(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74",
    "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437",
    "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED",
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05",
    "98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB",
    "9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B",
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718",
    "3995497CEA956AE515D2261898FA051015728E5A8AAAC42DAD33170D04507A33",
    "A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7",
    "ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864",
    "D87602733EC86A64521F2B18177B200CBBE117577A615D6C770988C0BAD946E2",
    "08E24FA074E5AB3143DB5BFCE0FD108E4B82D120A92108011A723C12A787E6D7",
    "88719A10BDBA5B2699C327186AF4E23C1A946834B6150BDA2583E9CA2AD44CE8",
    "DBBBC2DB04DE8EF92E8EFC141FBECAA6287C59474E6BC05D99B2964FA090C3A2",
    "233BA186515BE7ED1F612970CEE2D7AFB81BDD762170481CD0069127D5B05AA9",
    "93B4EA988D8FDDC186FFB7DC90A6C08F4DF435C93402849236C3FAB4D27C7026",
    "C1D4DCB2602646DEC9751E763DBA37BDF8FF9406AD9E530EE5DB382F413001AE",
    "B06A53ED9027D831179727B0865A8918DA3EDBEBCF9B14ED44CE6CBACED4BB1B",
    "DB7F1447E6CC254B332051512BD7AF426FB8F401378CD2BF5983CA01C64B92EC",
    "F032EA15D1721D03F482D7CE6E74FEF6D55E702F46980C82B5A84031900B1C9E",
    "59E7C97FBEC7E8F323A97A7E36CC88BE0F1D45B7FF585AC54BD407B22B4154AA",
    "CC8F6D7EBF48E1D814CC5ED20F8037E0A79715EEF29BE32806A1D58BB7C5DA76",
    "F550AA3D8A1FBFF0EB19CCB1A313D55CDA56C9EC2EF29632387FE8D76E3C0468",
    "043E8F663F4860EE12BF2D5B0B7474D6E694F91E6DBE115974A3926F12FEE5E4",
    "38777CB6A932DF8CD8BEC4D073B931BA3BC832B68D9DD300741FA7BF8AFC47ED",
    "2576F6936BA424663AAB639C5AE4F5683423B4742BF1C978238F16CBE39D652D",
    "E3FDB8BEFC848AD922222E04A4037C0713EB57A81A23F0C73473FC646CEA306B",
    "4BCBC8862F8385DDFA9D4B7FA2C087E879683303ED5BDD3A062B3CF5B3A278A6",
    "6D2A13F83F44F82DDF310EE074AB6A364597E899A0255DC164F31CC50846851D",
    "F9AB48195DED7EA1B1D510BD7EE74D73FAF36BC31ECFA268359046F4EB879F92",
    "4009438B481C6CD7889A002ED5EE382BC9190DA6FC026E479558E4475677E9AA",
    "9E3050E2765694DFC81F56E880B96E7160C980DD98EDD3DFFFFFFFFFFFFFFFFF",
));

/// A MODP secret exponent (RFC 3526), zeroed on drop. The exponent has twice the
/// group's estimated strength in bits (RFC 3526 section 8), rounded up: 256, 320,
/// 384, 448, 512; it is kept as 64 big-endian bytes (not as a number as wide as the
/// prime), so a key pair costs the same few bytes in every SA for every group.
pub struct ModpSecret {
    group: DhGroup,
    exponent: [u8; 64],
}

impl Drop for ModpSecret {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.exponent);
    }
}

impl ModpSecret {
    /// Exponent bits per group (RFC 3526 section 8, twice the strength).
    const fn bits(group: DhGroup) -> Option<usize> {
        match group {
            DhGroup::MODP2048 => Some(256),
            DhGroup::MODP3072 => Some(320),
            DhGroup::MODP4096 => Some(384),
            DhGroup::MODP6144 => Some(448),
            DhGroup::MODP8192 => Some(512),
            _ => None,
        }
    }

    fn generate<R: RngCore + CryptoRng>(group: DhGroup, rng: &mut R) -> Option<Self> {
        let bits = Self::bits(group)?;
        let mut exponent = [0u8; 64];
        if let Some(low) = exponent.get_mut(64 - bits / 8..) {
            while low.iter().all(|x| *x == 0) {
                rng.fill_bytes(low);
            }
        }
        Some(Self { group, exponent })
    }

    const fn group(&self) -> DhGroup {
        self.group
    }

    /// `base^x mod p` as big-endian bytes of the prime's length (RFC 7296 sections
    /// 2.14 and 3.4), with `base` = 2 for the public value. The peer's value is
    /// checked first: `1 < y < p - 1` (RFC 6989 section 2.1).
    fn pow(&self, base: Option<&[u8]>, out: &mut [u8]) -> Result<usize, CryptoError> {
        let bits = Self::bits(self.group).ok_or(CryptoError::Unsupported("MODP group"))?;
        let e = &self.exponent;
        match self.group {
            DhGroup::MODP2048 => modp_pow_bytes(&MODP2048_P, e, bits, base, out),
            DhGroup::MODP3072 => modp_pow_bytes(&MODP3072_P, e, bits, base, out),
            DhGroup::MODP4096 => modp_pow_bytes(&MODP4096_P, e, bits, base, out),
            DhGroup::MODP6144 => modp_pow_bytes(&MODP6144_P, e, bits, base, out),
            DhGroup::MODP8192 => modp_pow_bytes(&MODP8192_P, e, bits, base, out),
            _ => Err(CryptoError::Unsupported("MODP group")),
        }
    }
}

/// [`modp_pow`] with the exponent widened from its 64 stored bytes for the call
/// only (and zeroed after).
fn modp_pow_bytes<const L: usize>(
    prime: &Uint<L>,
    exponent: &[u8; 64],
    bits: usize,
    base: Option<&[u8]>,
    out: &mut [u8],
) -> Result<usize, CryptoError> {
    let len = L * crypto_bigint::Limb::BYTES;
    let mut b = [0u8; 1024];
    b.get_mut(len.saturating_sub(64)..len)
        .ok_or(CryptoError::BufferTooSmall)?
        .copy_from_slice(exponent);
    let mut x = Uint::<L>::from_be_slice(b.get(..len).unwrap_or_default());
    zeroize::Zeroize::zeroize(&mut b);
    let r = modp_pow(prime, &x, bits, base, out);
    zeroize::Zeroize::zeroize(&mut x);
    r
}

fn modp_pow<const L: usize>(
    prime: &Uint<L>,
    exp: &Uint<L>,
    bits: usize,
    base: Option<&[u8]>,
    out: &mut [u8],
) -> Result<usize, CryptoError> {
    use crypto_bigint::modular::runtime_mod::{DynResidue, DynResidueParams};
    let len = L * crypto_bigint::Limb::BYTES;
    let b = match base {
        None => Uint::<L>::from_u8(2),
        Some(y) => {
            if y.len() != len {
                return Err(CryptoError::BadPublicKey);
            }
            let y = Uint::<L>::from_be_slice(y);
            if y <= Uint::<L>::ONE || y >= prime.wrapping_sub(&Uint::<L>::ONE) {
                return Err(CryptoError::BadPublicKey);
            }
            y
        }
    };
    let params = DynResidueParams::new(prime);
    let r = DynResidue::new(&b, params)
        .pow_bounded_exp(exp, bits)
        .retrieve();
    let dst = out.get_mut(..len).ok_or(CryptoError::BufferTooSmall)?;
    let w = crypto_bigint::Limb::BYTES;
    for (chunk, limb) in dst.chunks_exact_mut(w).zip(r.as_words().iter().rev()) {
        chunk.copy_from_slice(&limb.to_be_bytes());
    }
    Ok(len)
}

/// A key-exchange method (RFC 7296 section 1.2, KE payload section 3.4).
pub trait KeyExchange {
    /// The group.
    fn group(&self) -> DhGroup;
    /// Writes our public value (Key Exchange Data); returns its length.
    ///
    /// # Errors
    /// [`CryptoError::BufferTooSmall`].
    fn public_key(&self, out: &mut [u8]) -> Result<usize, CryptoError>;
    /// Computes the shared secret `g^ir` with the peer's public value.
    ///
    /// # Errors
    /// [`CryptoError::BadPublicKey`] for an invalid peer value.
    fn agree(&self, peer: &[u8], out: &mut [u8]) -> Result<usize, CryptoError>;
}

/// An ephemeral key pair of a supported group, from RustCrypto: X25519 (RFC 8031,
/// `x25519-dalek`), ECP-256, ECP-384 and ECP-521 (RFC 5903, `p256`/`p384`/`p521`),
/// and the 2048-, 3072-, 4096-, 6144- and 8192-bit MODP groups (RFC 3526,
/// `crypto-bigint`'s constant-time Montgomery exponentiation).
#[allow(
    clippy::large_enum_variant,
    reason = "one key pair per exchange in flight, held by value; no heap"
)]
pub enum EphemeralKey {
    /// Curve25519 (group 31).
    X25519(x25519_dalek::StaticSecret),
    /// 256-bit random ECP group (19).
    P256(p256::ecdh::EphemeralSecret),
    /// 384-bit random ECP group (20).
    P384(p384::ecdh::EphemeralSecret),
    /// 521-bit random ECP group (21).
    P521(p521::ecdh::EphemeralSecret),
    /// 2048- to 8192-bit MODP group (14, 15, 16, 17, 18).
    Modp(ModpSecret),
}

impl core::fmt::Debug for EphemeralKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "EphemeralKey({:?})", self.group())
    }
}

impl EphemeralKey {
    /// Is `group` provided by [`EphemeralKey::generate`]?
    #[must_use]
    pub const fn supports(group: DhGroup) -> bool {
        matches!(
            group,
            DhGroup::CURVE25519
                | DhGroup::ECP256
                | DhGroup::ECP384
                | DhGroup::ECP521
                | DhGroup::MODP2048
                | DhGroup::MODP3072
                | DhGroup::MODP4096
                | DhGroup::MODP6144
                | DhGroup::MODP8192
        )
    }

    /// Length of the Key Exchange Data for `group`, if supported.
    #[must_use]
    pub const fn public_len(group: DhGroup) -> Option<usize> {
        match group {
            DhGroup::CURVE25519 => Some(32),
            DhGroup::ECP256 => Some(64),
            DhGroup::ECP384 => Some(96),
            DhGroup::ECP521 => Some(132),
            DhGroup::MODP2048 => Some(256),
            DhGroup::MODP3072 => Some(384),
            DhGroup::MODP4096 => Some(512),
            DhGroup::MODP6144 => Some(768),
            DhGroup::MODP8192 => Some(1024),
            _ => None,
        }
    }

    /// A fresh private key from the caller's CSPRNG.
    ///
    /// # Errors
    /// [`CryptoError::Unsupported`] for other groups.
    pub fn generate<R: RngCore + CryptoRng>(
        group: DhGroup,
        rng: &mut R,
    ) -> Result<Self, CryptoError> {
        Ok(match group {
            DhGroup::CURVE25519 => Self::X25519(x25519_dalek::StaticSecret::random_from_rng(rng)),
            DhGroup::ECP256 => Self::P256(p256::ecdh::EphemeralSecret::random(rng)),
            DhGroup::ECP384 => Self::P384(p384::ecdh::EphemeralSecret::random(rng)),
            DhGroup::ECP521 => Self::P521(p521::ecdh::EphemeralSecret::random(rng)),
            DhGroup::MODP2048
            | DhGroup::MODP3072
            | DhGroup::MODP4096
            | DhGroup::MODP6144
            | DhGroup::MODP8192 => Self::Modp(
                ModpSecret::generate(group, rng).ok_or(CryptoError::Unsupported("MODP group"))?,
            ),
            _ => return Err(CryptoError::Unsupported("key exchange group")),
        })
    }
}

fn put(out: &mut [u8], b: &[u8]) -> Result<usize, CryptoError> {
    out.get_mut(..b.len())
        .ok_or(CryptoError::BufferTooSmall)?
        .copy_from_slice(b);
    Ok(b.len())
}

/// RFC 5903 section 7: the KE data is `x | y` without the SEC1 0x04 prefix.
fn sec1_uncompressed<const N: usize>(peer: &[u8]) -> Result<[u8; N], CryptoError> {
    let mut p = [0u8; N];
    let (tag, xy) = p.split_first_mut().ok_or(CryptoError::BadPublicKey)?;
    *tag = 0x04;
    if xy.len() != peer.len() {
        return Err(CryptoError::BadPublicKey);
    }
    xy.copy_from_slice(peer);
    Ok(p)
}

impl KeyExchange for EphemeralKey {
    fn group(&self) -> DhGroup {
        match self {
            Self::X25519(_) => DhGroup::CURVE25519,
            Self::P256(_) => DhGroup::ECP256,
            Self::P384(_) => DhGroup::ECP384,
            Self::P521(_) => DhGroup::ECP521,
            Self::Modp(m) => m.group(),
        }
    }

    fn public_key(&self, out: &mut [u8]) -> Result<usize, CryptoError> {
        match self {
            Self::X25519(s) => put(out, x25519_dalek::PublicKey::from(s).as_bytes()),
            Self::P256(s) => {
                let p = s.public_key().to_encoded_point(false);
                put(out, p.as_bytes().get(1..).unwrap_or_default())
            }
            Self::P384(s) => {
                let p = s.public_key().to_encoded_point(false);
                put(out, p.as_bytes().get(1..).unwrap_or_default())
            }
            Self::P521(s) => {
                let p = s.public_key().to_encoded_point(false);
                put(out, p.as_bytes().get(1..).unwrap_or_default())
            }
            // RFC 7296 section 3.4: as long as the prime, zero-padded.
            Self::Modp(m) => m.pow(None, out),
        }
    }

    fn agree(&self, peer: &[u8], out: &mut [u8]) -> Result<usize, CryptoError> {
        match self {
            Self::X25519(s) => {
                let p: [u8; 32] = peer.try_into().map_err(|_| CryptoError::BadPublicKey)?;
                let shared = s.diffie_hellman(&x25519_dalek::PublicKey::from(p));
                // RFC 8031 section 2: reject the all-zero shared secret.
                if !shared.was_contributory() {
                    return Err(CryptoError::BadPublicKey);
                }
                put(out, shared.as_bytes())
            }
            Self::P256(s) => {
                let sec1 = sec1_uncompressed::<65>(peer)?;
                let pk = p256::PublicKey::from_sec1_bytes(&sec1)
                    .map_err(|_| CryptoError::BadPublicKey)?;
                // RFC 5903 section 7: the shared secret is the x coordinate.
                put(out, s.diffie_hellman(&pk).raw_secret_bytes())
            }
            Self::P384(s) => {
                let sec1 = sec1_uncompressed::<97>(peer)?;
                let pk = p384::PublicKey::from_sec1_bytes(&sec1)
                    .map_err(|_| CryptoError::BadPublicKey)?;
                put(out, s.diffie_hellman(&pk).raw_secret_bytes())
            }
            Self::Modp(m) => m.pow(Some(peer), out),
            Self::P521(s) => {
                let sec1 = sec1_uncompressed::<133>(peer)?;
                let pk = p521::PublicKey::from_sec1_bytes(&sec1)
                    .map_err(|_| CryptoError::BadPublicKey)?;
                put(out, s.diffie_hellman(&pk).raw_secret_bytes())
            }
        }
    }
}
