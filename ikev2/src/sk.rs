//! Protection of the Encrypted and Authenticated (SK) payload (RFC 7296 section
//! 3.14): AES-CBC with an HMAC integrity transform (RFC 3602, RFC 4868) and AES-GCM
//! with a 16-octet ICV (RFC 5282), in place in the caller's buffer.
//!
//! ```text
//! | IKE header | SK generic header | IV | encrypted (payloads | padding | pad len) | ICV |
//! ```

use aes_gcm::aead::AeadInPlace as _;
use aes_gcm::aead::generic_array::GenericArray;
use cbc::cipher::{BlockDecryptMut as _, BlockEncryptMut as _, KeyInit as _, KeyIvInit as _};

use crate::crypto::{HmacIntegrity, Integrity as _};
use crate::error::{CryptoError, EmitError, ProtocolError};
use crate::header::{HEADER_LEN, HeaderRepr, Packet};
use crate::payload::{GENERIC_HDR_LEN, PayloadList, Payloads};
use crate::types::{EncrId, IntegId, PayloadType};

/// Largest IV of the supported ciphers.
pub const MAX_IV_LEN: usize = 16;

/// The negotiated SK protection: an encryption transform with its key length and,
/// for non-AEAD ciphers, an integrity transform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SkSuite {
    /// ENCR transform: `AES_CBC` or `AES_GCM_16`.
    pub encr: EncrId,
    /// Key length in bits (128, 192, 256).
    pub key_bits: u16,
    /// INTEG transform (`NONE` with AES-GCM).
    pub integ: IntegId,
}

impl SkSuite {
    /// Checks that this crate implements the suite.
    ///
    /// # Errors
    /// [`CryptoError::Unsupported`].
    pub fn check(self) -> Result<(), CryptoError> {
        if !matches!(self.key_bits, 128 | 192 | 256) {
            return Err(CryptoError::Unsupported("AES key length"));
        }
        match self.encr {
            EncrId::AES_CBC => HmacIntegrity::new(self.integ).map(|_| ()),
            EncrId::AES_GCM_16 if self.integ == IntegId::NONE => Ok(()),
            _ => Err(CryptoError::Unsupported("SK cipher")),
        }
    }

    fn aes_len(self) -> usize {
        usize::from(self.key_bits / 8)
    }

    fn is_gcm(self) -> bool {
        self.encr == EncrId::AES_GCM_16
    }

    /// SK_e length: AES key, plus a 4-byte salt for GCM (RFC 5282 section 7.1).
    #[must_use]
    pub fn encr_key_len(self) -> usize {
        self.aes_len() + if self.is_gcm() { 4 } else { 0 }
    }

    /// SK_a length (0 for GCM).
    #[must_use]
    pub fn integ_key_len(self) -> usize {
        HmacIntegrity::new(self.integ).map_or(0, |i| i.key_len())
    }

    /// IV length: 16 for CBC, 8 for GCM (RFC 5282 section 3.1).
    #[must_use]
    pub fn iv_len(self) -> usize {
        if self.is_gcm() { 8 } else { 16 }
    }

    /// ICV length: 16 for GCM-16, the integrity transform's for CBC.
    #[must_use]
    pub fn icv_len(self) -> usize {
        if self.is_gcm() {
            16
        } else {
            HmacIntegrity::new(self.integ).map_or(0, |i| i.icv_len())
        }
    }

    fn pad_len(self, plain: usize) -> usize {
        if self.is_gcm() {
            0
        } else {
            (16 - (plain + 1) % 16) % 16
        }
    }

    /// Largest chunk of inner payload bytes one fragment of at most `max_len` bytes
    /// (IKE header to ICV) can carry (RFC 7383 section 2.5.1), if any.
    #[must_use]
    pub fn fragment_capacity(self, max_len: usize) -> Option<usize> {
        let fixed = HEADER_LEN + GENERIC_HDR_LEN + 4 + self.iv_len() + self.icv_len();
        let room = max_len.checked_sub(fixed)?;
        let c = if self.is_gcm() {
            room.checked_sub(1)?
        } else {
            (room / 16 * 16).checked_sub(1)?
        };
        (c > 0).then_some(c)
    }

    /// Bytes of a whole message carrying `inner_len` bytes of inner payloads.
    #[must_use]
    pub fn message_len(self, inner_len: usize) -> usize {
        HEADER_LEN
            + GENERIC_HDR_LEN
            + self.iv_len()
            + inner_len
            + self.pad_len(inner_len)
            + 1
            + self.icv_len()
    }
}

macro_rules! by_aes {
    ($len:expr, $f:ident, $($arg:expr),*) => {
        match $len {
            16 => $f::<aes::Aes128>($($arg),*),
            24 => $f::<aes::Aes192>($($arg),*),
            32 => $f::<aes::Aes256>($($arg),*),
            _ => Err(CryptoError::Unsupported("AES key length")),
        }
    };
}

fn cbc_encrypt<C>(key: &[u8], iv: &[u8], buf: &mut [u8]) -> Result<(), CryptoError>
where
    C: cbc::cipher::BlockEncrypt + cbc::cipher::BlockCipher + cbc::cipher::KeyInit,
    C: cbc::cipher::BlockSizeUser<BlockSize = cbc::cipher::consts::U16>,
{
    let mut e =
        cbc::Encryptor::<C>::new_from_slices(key, iv).map_err(|_| CryptoError::BufferTooSmall)?;
    if buf.len() % 16 != 0 {
        return Err(CryptoError::BadCiphertext);
    }
    for b in buf.chunks_exact_mut(16) {
        e.encrypt_block_mut(GenericArray::from_mut_slice(b));
    }
    Ok(())
}

fn cbc_decrypt<C>(key: &[u8], iv: &[u8], buf: &mut [u8]) -> Result<(), CryptoError>
where
    C: cbc::cipher::BlockDecrypt + cbc::cipher::BlockCipher + cbc::cipher::KeyInit,
    C: cbc::cipher::BlockSizeUser<BlockSize = cbc::cipher::consts::U16>,
{
    let mut d =
        cbc::Decryptor::<C>::new_from_slices(key, iv).map_err(|_| CryptoError::BufferTooSmall)?;
    if buf.is_empty() || buf.len() % 16 != 0 {
        return Err(CryptoError::BadCiphertext);
    }
    for b in buf.chunks_exact_mut(16) {
        d.decrypt_block_mut(GenericArray::from_mut_slice(b));
    }
    Ok(())
}

fn gcm_seal<C>(
    key: &[u8],
    nonce: &[u8; 12],
    aad: &[u8],
    buf: &mut [u8],
    tag: &mut [u8],
) -> Result<(), CryptoError>
where
    C: cbc::cipher::BlockCipher + cbc::cipher::BlockSizeUser<BlockSize = cbc::cipher::consts::U16>,
    C: cbc::cipher::BlockEncrypt + cbc::cipher::KeyInit,
{
    let g = aes_gcm::AesGcm::<C, aes_gcm::aead::consts::U12>::new_from_slice(key)
        .map_err(|_| CryptoError::BufferTooSmall)?;
    let t = g
        .encrypt_in_place_detached(GenericArray::from_slice(nonce), aad, buf)
        .map_err(|_| CryptoError::BadCiphertext)?;
    tag.get_mut(..16)
        .ok_or(CryptoError::BufferTooSmall)?
        .copy_from_slice(&t);
    Ok(())
}

fn gcm_open<C>(
    key: &[u8],
    nonce: &[u8; 12],
    aad: &[u8],
    buf: &mut [u8],
    tag: &[u8],
) -> Result<(), CryptoError>
where
    C: cbc::cipher::BlockCipher + cbc::cipher::BlockSizeUser<BlockSize = cbc::cipher::consts::U16>,
    C: cbc::cipher::BlockEncrypt + cbc::cipher::KeyInit,
{
    let g = aes_gcm::AesGcm::<C, aes_gcm::aead::consts::U12>::new_from_slice(key)
        .map_err(|_| CryptoError::BufferTooSmall)?;
    if tag.len() != 16 {
        return Err(CryptoError::BadCiphertext);
    }
    g.decrypt_in_place_detached(
        GenericArray::from_slice(nonce),
        aad,
        buf,
        GenericArray::from_slice(tag),
    )
    .map_err(|_| CryptoError::Integrity)
}

fn gcm_nonce(suite: SkSuite, key: &[u8], iv: &[u8]) -> Result<[u8; 12], CryptoError> {
    let salt = key
        .get(suite.aes_len()..)
        .ok_or(CryptoError::BufferTooSmall)?;
    let mut n = [0u8; 12];
    let (a, b) = n.split_at_mut(4);
    if salt.len() != 4 || iv.len() != 8 {
        return Err(CryptoError::BufferTooSmall);
    }
    a.copy_from_slice(salt);
    b.copy_from_slice(iv);
    Ok(n)
}

/// Builds a message whose only payload is an SK payload carrying `inner`, encrypted
/// with `ek` and authenticated with `ak` (ignored for GCM), with the caller's `iv`
/// (from its CSPRNG; 16 bytes for CBC, 8 for GCM). Returns the message length.
///
/// RFC 7296 section 3.14 (CBC: the ICV covers the message from the IKE header to the
/// end of the encrypted data); RFC 5282 section 5.1 (GCM: the AAD is the IKE header
/// and the SK payload header).
///
/// # Errors
/// [`CryptoError`] for an unsupported suite, wrong key or IV lengths, or a short
/// buffer.
pub fn seal(
    suite: &SkSuite,
    ek: &[u8],
    ak: &[u8],
    iv: &[u8],
    header: &HeaderRepr,
    inner: &PayloadList<'_>,
    out: &mut [u8],
) -> Result<usize, CryptoError> {
    seal_with(
        *suite,
        (ek, ak, iv),
        header,
        Kind::Sk,
        inner.first(),
        inner.wire_len(),
        |plain| inner.emit(plain).map_err(CryptoError::from),
        out,
    )
}

/// Builds one fragment of a fragmented message (RFC 7383 section 2.5): the IKE
/// header, an Encrypted Fragment (SKF) payload with `number` of `total`, and `chunk`
/// (a slice of the inner payload chain as [`PayloadList::emit`] writes it) encrypted
/// and protected on its own with the caller's `iv`. `first_inner` is the type of the
/// first inner payload; it goes on the wire in fragment 1 only (0 in the others).
/// The ICV (or the AEAD's associated data) covers the IKE header and the whole SKF
/// header including Fragment Number and Total Fragments. Returns the length.
///
/// # Errors
/// [`CryptoError`] for an unsupported suite, wrong key or IV lengths, a fragment
/// number of 0 or above `total`, or a short buffer.
#[allow(
    clippy::too_many_arguments,
    reason = "RFC 7383 section 2.5 inputs, all distinct"
)]
pub fn seal_fragment(
    suite: &SkSuite,
    ek: &[u8],
    ak: &[u8],
    iv: &[u8],
    header: &HeaderRepr,
    first_inner: PayloadType,
    number: u16,
    total: u16,
    chunk: &[u8],
    out: &mut [u8],
) -> Result<usize, CryptoError> {
    if number == 0 || number > total {
        return Err(CryptoError::Unsupported("fragment number"));
    }
    let first = if number == 1 {
        first_inner
    } else {
        PayloadType::NONE
    };
    seal_with(
        *suite,
        (ek, ak, iv),
        header,
        Kind::Skf { number, total },
        first,
        chunk.len(),
        |plain| {
            plain
                .get_mut(..chunk.len())
                .ok_or(CryptoError::BufferTooSmall)?
                .copy_from_slice(chunk);
            Ok(chunk.len())
        },
        out,
    )
}

#[derive(Clone, Copy)]
enum Kind {
    Sk,
    Skf { number: u16, total: u16 },
}

impl Kind {
    const fn extra(self) -> usize {
        match self {
            Self::Sk => 0,
            Self::Skf { .. } => 4,
        }
    }
}

#[allow(
    clippy::too_many_arguments,
    reason = "shared body of seal and seal_fragment"
)]
fn seal_with(
    suite: SkSuite,
    (ek, ak, iv): (&[u8], &[u8], &[u8]),
    header: &HeaderRepr,
    kind: Kind,
    first: PayloadType,
    inner_len: usize,
    write: impl FnOnce(&mut [u8]) -> Result<usize, CryptoError>,
    out: &mut [u8],
) -> Result<usize, CryptoError> {
    suite.check()?;
    if iv.len() != suite.iv_len() || ek.len() != suite.encr_key_len() {
        return Err(CryptoError::BufferTooSmall);
    }
    let pad = suite.pad_len(inner_len);
    let total = suite.message_len(inner_len) + kind.extra();
    let msg = out.get_mut(..total).ok_or(CryptoError::BufferTooSmall)?;
    let (hdr, rest) = msg.split_at_mut(HEADER_LEN);
    let (ptype, fields) = match kind {
        Kind::Sk => (PayloadType::SK, [0; 4]),
        Kind::Skf { number, total } => {
            let (n, t) = (number.to_be_bytes(), total.to_be_bytes());
            (PayloadType::SKF, [n[0], n[1], t[0], t[1]])
        }
    };
    header.emit(ptype, total, hdr)?;
    let (skh, rest) = rest.split_at_mut(GENERIC_HDR_LEN + kind.extra());
    let sk_len = u16::try_from(total - HEADER_LEN)
        .map_err(|_| CryptoError::from(EmitError::ValueTooLarge("SK payload")))?;
    let len = sk_len.to_be_bytes();
    for (d, s) in skh
        .iter_mut()
        .zip([first.0, 0, len[0], len[1]].iter().chain(&fields))
    {
        *d = *s;
    }
    let (ivb, rest) = rest.split_at_mut(iv.len());
    ivb.copy_from_slice(iv);
    let icv_len = suite.icv_len();
    let (plain, icv) = rest.split_at_mut(rest.len() - icv_len);
    let n = write(plain)?;
    if n != inner_len {
        return Err(CryptoError::BufferTooSmall);
    }
    let (_, tail) = plain.split_at_mut(n);
    for (i, b) in tail.iter_mut().enumerate() {
        *b = if i == pad {
            u8::try_from(pad).unwrap_or(0)
        } else {
            0
        };
    }
    if suite.is_gcm() {
        let key = ek
            .get(..suite.aes_len())
            .ok_or(CryptoError::BufferTooSmall)?;
        let nonce = gcm_nonce(suite, ek, iv)?;
        // AAD: IKE header + SK (or SKF, with its two fragment fields) header, as
        // they are before the IV (RFC 5282 section 5.1, RFC 7383 section 2.5).
        let mut aad = [0u8; HEADER_LEN + GENERIC_HDR_LEN + 4];
        let aad = aad
            .get_mut(..HEADER_LEN + skh.len())
            .ok_or(CryptoError::BufferTooSmall)?;
        let (ah, ask) = aad.split_at_mut(HEADER_LEN);
        ah.copy_from_slice(hdr);
        ask.copy_from_slice(skh);
        by_aes!(key.len(), gcm_seal, key, &nonce, aad, plain, icv)?;
    } else {
        by_aes!(ek.len(), cbc_encrypt, ek, iv, plain)?;
        let integ = HmacIntegrity::new(suite.integ)?;
        integ.compute(ak, &[hdr, skh, ivb, plain], icv)?;
    }
    Ok(total)
}

/// The decrypted inner payloads of an SK payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decrypted<'b> {
    /// The header of the protected message.
    pub header: HeaderRepr,
    /// Type of the first inner payload.
    pub first: PayloadType,
    /// The inner payload chain (padding removed).
    pub bytes: &'b [u8],
    /// Where `bytes` starts in the message buffer that was opened.
    pub offset: usize,
}

impl<'b> Decrypted<'b> {
    /// The inner payloads.
    #[must_use]
    pub const fn payloads(&self) -> Payloads<'b> {
        Payloads::new(self.first, self.bytes)
    }
}

/// Verifies and decrypts, in place, the SK payload that ends `msg` (RFC 7296 section
/// 3.14, RFC 5282). Unprotected payloads before the SK payload are allowed (and
/// covered by the ICV) but not returned.
///
/// # Errors
/// [`ProtocolError::Malformed`] for a malformed message or a message without an SK
/// payload; [`ProtocolError::Crypto`] for a failed ICV, bad padding or wrong keys.
pub fn open<'b>(
    suite: &SkSuite,
    ek: &[u8],
    ak: &[u8],
    msg: &'b mut [u8],
) -> Result<Decrypted<'b>, ProtocolError> {
    open_inner(*suite, ek, ak, msg, true, false).map(|(d, _)| d)
}

/// One decrypted fragment (RFC 7383 section 2.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecryptedFragment<'b> {
    /// The decrypted chunk; `first` is the SKF header's Next Payload (the first
    /// inner payload type in fragment 1, 0 in the others).
    pub chunk: Decrypted<'b>,
    /// Fragment Number (1-based, at most `total`).
    pub number: u16,
    /// Total Fragments.
    pub total: u16,
}

/// Verifies and decrypts, in place, the Encrypted Fragment (SKF) payload that ends
/// `msg` (RFC 7383 sections 2.5 and 2.6: each fragment is checked on its own, before
/// it is kept for reassembly).
///
/// # Errors
/// As [`open`]; [`ProtocolError::Malformed`] for a Fragment Number of 0 or above
/// Total Fragments.
pub fn open_fragment<'b>(
    suite: &SkSuite,
    ek: &[u8],
    ak: &[u8],
    msg: &'b mut [u8],
) -> Result<DecryptedFragment<'b>, ProtocolError> {
    let (chunk, nt) = open_inner(*suite, ek, ak, msg, true, true)?;
    let (number, total) = nt.ok_or(ProtocolError::PeerMisbehaved("no SKF payload"))?;
    Ok(DecryptedFragment {
        chunk,
        number,
        total,
    })
}

/// Like [`open`] but skips the integrity check, for captures whose integrity keys
/// are unknown or wrong (diagnostics only; never use on live traffic). GCM always
/// verifies its tag, so this only differs for CBC suites.
///
/// # Errors
/// As [`open`], without [`CryptoError::Integrity`] for CBC.
pub fn open_unverified<'b>(
    suite: &SkSuite,
    ek: &[u8],
    msg: &'b mut [u8],
) -> Result<Decrypted<'b>, ProtocolError> {
    open_inner(*suite, ek, &[], msg, false, false).map(|(d, _)| d)
}

fn open_inner<'b>(
    suite: SkSuite,
    ek: &[u8],
    ak: &[u8],
    msg: &'b mut [u8],
    verify: bool,
    fragment: bool,
) -> Result<(Decrypted<'b>, Option<(u16, u16)>), ProtocolError> {
    suite.check()?;
    if ek.len() != suite.encr_key_len() {
        return Err(CryptoError::BufferTooSmall.into());
    }
    let want = if fragment {
        PayloadType::SKF
    } else {
        PayloadType::SK
    };
    let (header, total, body_len, first, nt) = {
        let p = Packet::new_checked(&*msg)?;
        let mut sk = None;
        for r in p.payloads() {
            let r = r?;
            if r.kind == want {
                sk = Some((r.next, r.body));
            }
        }
        let (first, body) = sk.ok_or(ProtocolError::PeerMisbehaved("no SK payload"))?;
        // RFC 7383 section 2.5: Fragment Number and Total Fragments lead the body
        // and are covered by the ICV like the generic header.
        let (body_len, nt) = if fragment {
            let (f, rest) = body
                .split_first_chunk::<4>()
                .ok_or(crate::error::ParseError::BadLength)?;
            let number = u16::from_be_bytes([f[0], f[1]]);
            let total = u16::from_be_bytes([f[2], f[3]]);
            if number == 0 || number > total {
                return Err(crate::error::ParseError::InvalidField("SKF fragment number").into());
            }
            (rest.len(), Some((number, total)))
        } else {
            (body.len(), None)
        };
        (HeaderRepr::parse(&p), p.length(), body_len, first, nt)
    };
    let msg = msg.get_mut(..total).ok_or(CryptoError::BadCiphertext)?;
    let aad_len = total
        .checked_sub(body_len)
        .ok_or(CryptoError::BadCiphertext)?;
    let (aad, body) = msg.split_at_mut(aad_len);
    let (iv, rest) = body
        .split_at_mut_checked(suite.iv_len())
        .ok_or(CryptoError::BadCiphertext)?;
    let text_len = rest
        .len()
        .checked_sub(suite.icv_len())
        .ok_or(CryptoError::BadCiphertext)?;
    let (ct, icv) = rest.split_at_mut(text_len);
    if suite.is_gcm() {
        let key = ek
            .get(..suite.aes_len())
            .ok_or(CryptoError::BufferTooSmall)?;
        let nonce = gcm_nonce(suite, ek, iv)?;
        by_aes!(key.len(), gcm_open, key, &nonce, aad, ct, icv)?;
    } else {
        if verify {
            let integ = HmacIntegrity::new(suite.integ)?;
            integ.verify(ak, &[aad, iv, ct], icv)?;
        }
        by_aes!(ek.len(), cbc_decrypt, ek, iv, ct)?;
    }
    let (pad_len, _) = ct.split_last().ok_or(CryptoError::BadCiphertext)?;
    let inner_len = ct
        .len()
        .checked_sub(usize::from(*pad_len) + 1)
        .ok_or(CryptoError::BadCiphertext)?;
    let ct: &'b [u8] = ct;
    let d = Decrypted {
        header,
        first,
        bytes: ct.get(..inner_len).ok_or(CryptoError::BadCiphertext)?,
        offset: aad_len + suite.iv_len(),
    };
    Ok((d, nt))
}
