//! The shared-secret cryptography of RADIUS, on RustCrypto `md-5` and `hmac`:
//! Request and Response Authenticators (RFC 2865 section 3, RFC 2866 section 3,
//! RFC 5176 section 3.5), Message-Authenticator (RFC 3579 section 3.2), User-Password
//! hiding (RFC 2865 section 5.2), Tunnel-Password salting (RFC 2868 section 3.5) and
//! CHAP-Password (RFC 2865 section 5.3, RFC 1994 section 4.1).
//!
//! Nothing here allocates; every function works on the caller's slices.

use core::fmt;

use hmac::{Hmac, Mac};
use md5::{Digest, Md5};

use crate::dict::{AttrType, AuthenticatorKind, Code};
use crate::error::{EmitError, ParseError, UsageError, VerifyError};
use crate::packet::{HEADER_LEN, Packet};

/// Longest shared secret accepted. RFC 2865 section 3 sets no limit; FreeRADIUS and
/// most NAS vendors stop well below this.
pub const MAX_SECRET_LEN: usize = 128;

/// Longest User-Password plaintext (RFC 2865 section 5.2: 128 octets).
pub const MAX_PASSWORD_LEN: usize = 128;

/// Longest Tunnel-Password plaintext that fits one attribute (RFC 2868 section 3.5:
/// 253 octets minus tag and salt, rounded down to 16, minus the length octet).
pub const MAX_TUNNEL_PASSWORD_LEN: usize = 239;

type HmacMd5 = Hmac<Md5>;

/// A RADIUS shared secret with its keyed HMAC-MD5 state precomputed (the two key
/// blocks are absorbed once, not once per packet).
///
/// `Debug` never prints the secret.
#[derive(Clone)]
pub struct Secret {
    bytes: [u8; MAX_SECRET_LEN],
    len: usize,
    hmac: HmacMd5,
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({} bytes)", self.len)
    }
}

impl Secret {
    /// Keeps a copy of `secret`.
    ///
    /// # Errors
    /// [`UsageError::InvalidConfig`] if `secret` is empty (RFC 2865 section 3: "The
    /// secret ... MUST NOT be empty") or longer than [`MAX_SECRET_LEN`].
    pub fn new(secret: &[u8]) -> Result<Self, UsageError> {
        if secret.is_empty() {
            return Err(UsageError::InvalidConfig("empty RADIUS secret"));
        }
        let mut bytes = [0u8; MAX_SECRET_LEN];
        bytes
            .get_mut(..secret.len())
            .ok_or(UsageError::InvalidConfig("RADIUS secret over 128 bytes"))?
            .copy_from_slice(secret);
        let hmac = <HmacMd5 as hmac::digest::KeyInit>::new_from_slice(secret)
            .map_err(|_| UsageError::InvalidConfig("RADIUS secret"))?;
        Ok(Self {
            bytes,
            len: secret.len(),
            hmac,
        })
    }

    /// The secret's bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or_default()
    }

    fn md5_with_secret(&self) -> Md5 {
        let mut h = Md5::new();
        h.update(self.as_bytes());
        h
    }
}

/// Constant-time equality of two 16-byte values.
fn ct_eq16(a: &[u8; 16], b: &[u8; 16]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Where the Message-Authenticator value sits in a packet: `Ok(None)` if absent.
///
/// # Errors
/// [`VerifyError::DuplicateMessageAuthenticator`] if there are two (RFC 3579 section
/// 3.2 allows one), [`VerifyError::BadMessageAuthenticator`] if its length is not 18.
fn find_message_authenticator(packet: &[u8]) -> Result<Option<usize>, VerifyError> {
    let mut found = None;
    let mut at = HEADER_LEN;
    while let Some(&[t, l]) = packet.get(at..).and_then(<[u8]>::first_chunk::<2>) {
        let l = usize::from(l);
        if l < 2 {
            break;
        }
        if t == AttrType::MESSAGE_AUTHENTICATOR.0 {
            if l != 18 {
                return Err(VerifyError::BadMessageAuthenticator);
            }
            if found.is_some() {
                return Err(VerifyError::DuplicateMessageAuthenticator);
            }
            found = Some(at + 2);
        }
        at += l;
    }
    Ok(found)
}

/// HMAC-MD5 of `packet` with `authenticator` in the Authenticator field and the
/// Message-Authenticator value at `ma_at` taken as 16 zero octets (RFC 3579 section
/// 3.2).
fn hmac_over(secret: &Secret, packet: &[u8], authenticator: &[u8; 16], ma_at: usize) -> [u8; 16] {
    let mut mac = secret.hmac.clone();
    mac.update(packet.get(..4).unwrap_or_default());
    mac.update(authenticator);
    mac.update(packet.get(HEADER_LEN..ma_at).unwrap_or_default());
    mac.update(&[0u8; 16]);
    mac.update(packet.get(ma_at + 16..).unwrap_or_default());
    mac.finalize().into_bytes().into()
}

/// MD5(Code | Identifier | Length | `authenticator` | Attributes | Secret): the
/// Response Authenticator (RFC 2865 section 3) and, with 16 zero octets, the
/// Accounting-Request / CoA / Disconnect Request Authenticator (RFC 2866 section 3,
/// RFC 5176 section 3.5).
#[must_use]
pub fn authenticator_hash(secret: &Secret, packet: &[u8], authenticator: &[u8; 16]) -> [u8; 16] {
    let mut h = Md5::new();
    h.update(packet.get(..4).unwrap_or_default());
    h.update(authenticator);
    h.update(packet.get(HEADER_LEN..).unwrap_or_default());
    h.update(secret.as_bytes());
    h.finalize().into()
}

/// Signs a packet emitted into `packet` (exactly `Length` bytes): fills the
/// Message-Authenticator if present (RFC 3579 section 3.2), then the Authenticator
/// field as its code requires ([`Code::authenticator_kind`]).
///
/// For a reply, the Authenticator field must hold the request's authenticator when
/// this is called (as [`crate::Writer::new`] arranges); for Access-Request and
/// Status-Server it must hold the random Request Authenticator; for
/// Accounting/CoA/Disconnect requests it is overwritten.
///
/// # Errors
/// [`EmitError::ValueTooLarge`] if the packet is shorter than the header or carries a
/// malformed or duplicate Message-Authenticator.
pub fn sign(packet: &mut [u8], secret: &Secret) -> Result<(), EmitError> {
    let (hdr, _) = packet
        .split_first_chunk_mut::<HEADER_LEN>()
        .ok_or(EmitError::ValueTooLarge(
            "packet shorter than the RADIUS header",
        ))?;
    let code = Code(hdr[0]);
    let kind = code.authenticator_kind();
    if kind == AuthenticatorKind::RequestHash {
        hdr[4..].fill(0);
    }
    let mut auth = [0u8; 16];
    auth.copy_from_slice(&hdr[4..]);
    let ma_auth = if ma_over_zero_authenticator(code) {
        [0u8; 16]
    } else {
        auth
    };
    let ma = find_message_authenticator(packet)
        .map_err(|_| EmitError::ValueTooLarge("malformed Message-Authenticator"))?;
    if let Some(at) = ma {
        let mac = hmac_over(secret, packet, &ma_auth, at);
        if let Some(dst) = packet.get_mut(at..at + 16) {
            dst.copy_from_slice(&mac);
        }
    }
    if kind != AuthenticatorKind::Random {
        let a = authenticator_hash(secret, packet, &auth);
        if let Some(dst) = packet.get_mut(4..HEADER_LEN) {
            dst.copy_from_slice(&a);
        }
    }
    Ok(())
}

fn check_ma(
    secret: &Secret,
    bytes: &[u8],
    authenticator: &[u8; 16],
    require: bool,
) -> Result<bool, VerifyError> {
    match find_message_authenticator(bytes)? {
        None if require => Err(VerifyError::MissingMessageAuthenticator),
        None => Ok(false),
        Some(at) => {
            let want = hmac_over(secret, bytes, authenticator, at);
            let got = bytes
                .get(at..at + 16)
                .and_then(|s| <&[u8; 16]>::try_from(s).ok())
                .ok_or(VerifyError::BadMessageAuthenticator)?;
            if ct_eq16(&want, got) {
                Ok(true)
            } else {
                Err(VerifyError::BadMessageAuthenticator)
            }
        }
    }
}

/// Replies whose Message-Authenticator we compute over a zeroed Authenticator field
/// rather than the request's: Accounting-Response. RFC 3579 section 3.2 defines the
/// request-authenticator form for the Access-* replies, and FreeRADIUS 3.x uses it for
/// the CoA/Disconnect ACKs and NAKs too (radclient 3.2 refuses anything else), but signs
/// and verifies Accounting-Response over 16 zero octets, as for the requests (RFC 2866
/// section 3). We emit those forms.
const fn ma_over_zero_authenticator(code: Code) -> bool {
    code.0 == 5
}

/// Replies for which both Message-Authenticator forms are accepted on receipt
/// (Accounting-Response and the CoA/Disconnect ACKs and NAKs, where implementations
/// differ). Both forms are keyed by the secret, so accepting either costs no security.
const fn ma_either_form(code: Code) -> bool {
    matches!(code.0, 5 | 41 | 42 | 44 | 45)
}

/// Verifies a reply against the `request_authenticator` of the request it answers:
/// the Response Authenticator (RFC 2865 section 3), then the Message-Authenticator
/// (RFC 3579 section 3.2), which must be present when `require_message_authenticator`
/// (BlastRADIUS, CVE-2024-3596: without it the MD5 Response Authenticator can be
/// forged).
///
/// # Errors
/// The first check that fails, as a [`VerifyError`].
pub fn verify_response<T: AsRef<[u8]>>(
    packet: &Packet<T>,
    secret: &Secret,
    request_authenticator: &[u8; 16],
    require_message_authenticator: bool,
) -> Result<(), VerifyError> {
    let bytes = packet.as_bytes();
    let want = authenticator_hash(secret, bytes, request_authenticator);
    if !ct_eq16(&want, &packet.authenticator()) {
        return Err(VerifyError::BadAuthenticator);
    }
    let first = check_ma(
        secret,
        bytes,
        request_authenticator,
        require_message_authenticator,
    );
    match first {
        Err(VerifyError::BadMessageAuthenticator) if ma_either_form(packet.code()) => {
            check_ma(secret, bytes, &[0; 16], require_message_authenticator).map(drop)
        }
        r => r.map(drop),
    }
}

/// Verifies a request: for Accounting, CoA and Disconnect requests the Request
/// Authenticator hash (RFC 2866 section 3, RFC 5176 section 3.5); for every code the
/// Message-Authenticator (RFC 3579 section 3.2), which must be present when
/// `require_message_authenticator`, for Status-Server (RFC 5997 section 3) and when the
/// packet carries EAP-Message (RFC 3579 section 3.3).
///
/// # Errors
/// The first check that fails, as a [`VerifyError`].
pub fn verify_request<T: AsRef<[u8]>>(
    packet: &Packet<T>,
    secret: &Secret,
    require_message_authenticator: bool,
) -> Result<(), VerifyError> {
    let bytes = packet.as_bytes();
    let auth = packet.authenticator();
    let require = require_message_authenticator
        || packet.code() == Code::STATUS_SERVER
        || packet.attribute(AttrType::EAP_MESSAGE).is_some();
    if packet.code().authenticator_kind() == AuthenticatorKind::RequestHash {
        let want = authenticator_hash(secret, bytes, &[0; 16]);
        if !ct_eq16(&want, &auth) {
            return Err(VerifyError::BadAuthenticator);
        }
        check_ma(secret, bytes, &[0; 16], require).map(drop)
    } else {
        check_ma(secret, bytes, &auth, require).map(drop)
    }
}

/// XORs `chunk` with MD5(secret | `prev` [| `salt`]).
fn xor_block(secret: &Secret, prev: &[u8], salt: &[u8], chunk: &mut [u8]) {
    let mut h = secret.md5_with_secret();
    h.update(prev);
    h.update(salt);
    let b: [u8; 16] = h.finalize().into();
    for (c, k) in chunk.iter_mut().zip(b) {
        *c ^= k;
    }
}

/// Hides a User-Password (RFC 2865 section 5.2): pads `password` with zeros to a
/// multiple of 16 and chains MD5(secret | previous) over it, starting from the
/// Request Authenticator. Writes into `out` and returns the length (16..=128).
///
/// # Errors
/// [`EmitError::ValueTooLarge`] if `password` exceeds [`MAX_PASSWORD_LEN`];
/// [`EmitError::BufferTooSmall`] if `out` is shorter than the padded length.
pub fn hide_user_password(
    secret: &Secret,
    request_authenticator: &[u8; 16],
    password: &[u8],
    out: &mut [u8],
) -> Result<usize, EmitError> {
    if password.len() > MAX_PASSWORD_LEN {
        return Err(EmitError::ValueTooLarge("User-Password over 128 bytes"));
    }
    let padded = password.len().div_ceil(16).max(1) * 16;
    let available = out.len();
    let dst = out.get_mut(..padded).ok_or(EmitError::BufferTooSmall {
        needed: padded,
        available,
    })?;
    dst.fill(0);
    if let Some(d) = dst.get_mut(..password.len()) {
        d.copy_from_slice(password);
    }
    let mut prev: [u8; 16] = *request_authenticator;
    for chunk in dst.chunks_exact_mut(16) {
        xor_block(secret, &prev, &[], chunk);
        prev.copy_from_slice(chunk);
    }
    Ok(padded)
}

/// Recovers a hidden User-Password (RFC 2865 section 5.2) into `out` and returns the
/// plaintext without its zero padding.
///
/// # Errors
/// [`ParseError::InvalidField`] if `hidden` is empty, longer than 128 bytes or not a
/// multiple of 16.
pub fn recover_user_password<'o>(
    secret: &Secret,
    request_authenticator: &[u8; 16],
    hidden: &[u8],
    out: &'o mut [u8; MAX_PASSWORD_LEN],
) -> Result<&'o [u8], ParseError> {
    if hidden.is_empty() || hidden.len() > MAX_PASSWORD_LEN || hidden.len() % 16 != 0 {
        return Err(ParseError::InvalidField("User-Password length"));
    }
    let dst = out
        .get_mut(..hidden.len())
        .ok_or(ParseError::InvalidField("User-Password length"))?;
    dst.copy_from_slice(hidden);
    let mut prev: &[u8] = request_authenticator;
    for (chunk, cipher) in dst.chunks_exact_mut(16).zip(hidden.chunks_exact(16)) {
        xor_block(secret, prev, &[], chunk);
        prev = cipher;
    }
    let end = dst.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    Ok(out.get(..end).unwrap_or_default())
}

/// Salts and hides a Tunnel-Password (RFC 2868 section 3.5) into `out` as
/// Salt (2) | encrypted(Data-Length | password | padding); the caller writes the Tag
/// octet before it. The salt's most significant bit is forced to 1 as the RFC
/// requires; the caller draws the salt from its `CryptoRng` and must not reuse it.
///
/// # Errors
/// [`EmitError::ValueTooLarge`] if `password` exceeds [`MAX_TUNNEL_PASSWORD_LEN`];
/// [`EmitError::BufferTooSmall`] if `out` is too short.
pub fn hide_tunnel_password(
    secret: &Secret,
    request_authenticator: &[u8; 16],
    salt: [u8; 2],
    password: &[u8],
    out: &mut [u8],
) -> Result<usize, EmitError> {
    if password.len() > MAX_TUNNEL_PASSWORD_LEN {
        return Err(EmitError::ValueTooLarge("Tunnel-Password over 239 bytes"));
    }
    let body = (password.len() + 1).div_ceil(16) * 16;
    let needed = 2 + body;
    let available = out.len();
    let dst = out
        .get_mut(..needed)
        .ok_or(EmitError::BufferTooSmall { needed, available })?;
    let salt = [salt[0] | 0x80, salt[1]];
    dst.fill(0);
    let (s, data) = dst.split_at_mut(2);
    s.copy_from_slice(&salt);
    if let Some((len, rest)) = data.split_first_mut() {
        *len = u8::try_from(password.len()).unwrap_or(u8::MAX);
        if let Some(d) = rest.get_mut(..password.len()) {
            d.copy_from_slice(password);
        }
    }
    let mut prev = [0u8; 16];
    let mut first = true;
    for chunk in data.chunks_exact_mut(16) {
        if first {
            xor_block(secret, request_authenticator, &salt, chunk);
            first = false;
        } else {
            xor_block(secret, &prev, &[], chunk);
        }
        prev.copy_from_slice(chunk);
    }
    Ok(needed)
}

/// Recovers a Tunnel-Password (RFC 2868 section 3.5) from `value` = Salt | String
/// (the Tag octet already removed) into `out`.
///
/// # Errors
/// [`ParseError::InvalidField`] if the salt's high bit is clear, the string is not a
/// non-empty multiple of 16, or the embedded Data-Length overruns it.
pub fn recover_tunnel_password<'o>(
    secret: &Secret,
    request_authenticator: &[u8; 16],
    value: &[u8],
    out: &'o mut [u8; 256],
) -> Result<&'o [u8], ParseError> {
    let (salt, data) = value
        .split_first_chunk::<2>()
        .ok_or(ParseError::InvalidField("Tunnel-Password salt"))?;
    if salt[0] & 0x80 == 0 {
        return Err(ParseError::InvalidField("Tunnel-Password salt high bit"));
    }
    if data.is_empty() || data.len() % 16 != 0 {
        return Err(ParseError::InvalidField("Tunnel-Password length"));
    }
    let dst = out
        .get_mut(..data.len())
        .ok_or(ParseError::InvalidField("Tunnel-Password length"))?;
    dst.copy_from_slice(data);
    let mut prev: &[u8] = request_authenticator;
    let mut first = true;
    for (chunk, cipher) in dst.chunks_exact_mut(16).zip(data.chunks_exact(16)) {
        if first {
            xor_block(secret, prev, salt, chunk);
            first = false;
        } else {
            xor_block(secret, prev, &[], chunk);
        }
        prev = cipher;
    }
    let (&len, rest) = dst
        .split_first()
        .ok_or(ParseError::InvalidField("Tunnel-Password length"))?;
    let len = usize::from(len);
    if len > rest.len() {
        return Err(ParseError::InvalidField("Tunnel-Password data length"));
    }
    Ok(out.get(1..=len).unwrap_or_default())
}

/// The CHAP-Password attribute value (RFC 2865 section 5.3): CHAP Ident followed by
/// the CHAP Response MD5(Ident | password | challenge) (RFC 1994 section 4.1).
#[must_use]
pub fn chap_password(ident: u8, password: &[u8], challenge: &[u8]) -> [u8; 17] {
    let mut h = Md5::new();
    h.update([ident]);
    h.update(password);
    h.update(challenge);
    let d: [u8; 16] = h.finalize().into();
    let mut out = [0u8; 17];
    out[0] = ident;
    out[1..].copy_from_slice(&d);
    out
}

/// Checks a CHAP-Password value against the cleartext `password` and the
/// `challenge` (the CHAP-Challenge attribute, or the Request Authenticator when it
/// is absent: RFC 2865 section 2.2).
#[must_use]
pub fn verify_chap_password(value: &[u8], password: &[u8], challenge: &[u8]) -> bool {
    let Some((&ident, resp)) = value.split_first() else {
        return false;
    };
    let Ok(resp) = <&[u8; 16]>::try_from(resp) else {
        return false;
    };
    let want = chap_password(ident, password, challenge);
    let mut w = [0u8; 16];
    w.copy_from_slice(&want[1..]);
    ct_eq16(&w, resp)
}
