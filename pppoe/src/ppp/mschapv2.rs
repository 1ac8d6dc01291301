//! MS-CHAPv2 (CHAP algorithm 0x81) computations of RFC 2759 section 8, with
//! `RustCrypto` MD4, SHA-1 and DES: the NT-Response a host sends and the
//! Authenticator-Response ("S=...") an authenticator returns in its Success
//! message. An AC normally forwards the response to RADIUS (RFC 2548
//! MS-CHAP2-Response) and relays the MS-CHAP2-Success it gets back; these helpers
//! serve hosts, local authentication and tests.

use des::Des;
use des::cipher::{BlockEncrypt, KeyInit};
use md4::Md4;
use sha1::{Digest, Sha1};

use crate::error::UsageError;

/// Longest password RFC 2759 allows, in Unicode characters (section 8.1).
pub const MAX_PASSWORD_CHARS: usize = 256;

const HEX: &[u8; 16] = b"0123456789ABCDEF";
const MAGIC1: &[u8; 39] = b"Magic server to client signing constant";
const MAGIC2: &[u8; 41] = b"Pad to make it do more than one iteration";

/// `ChallengeHash()` (section 8.2): the first 8 octets of
/// SHA-1(`PeerChallenge` | `AuthenticatorChallenge` | `UserName`).
#[must_use]
pub fn challenge_hash(
    peer_challenge: &[u8; 16],
    authenticator_challenge: &[u8; 16],
    user_name: &[u8],
) -> [u8; 8] {
    let mut h = Sha1::new();
    h.update(peer_challenge);
    h.update(authenticator_challenge);
    h.update(user_name);
    let d = h.finalize();
    let mut out = [0u8; 8];
    out.copy_from_slice(d.get(..8).unwrap_or(&[0; 8]));
    out
}

/// `NtPasswordHash()` (section 8.3): MD4 of the UTF-16LE password.
///
/// # Errors
/// [`UsageError::InvalidConfig`] if the password is not UTF-8 or longer than
/// [`MAX_PASSWORD_CHARS`] characters.
pub fn nt_password_hash(password: &[u8]) -> Result<[u8; 16], UsageError> {
    let s = core::str::from_utf8(password)
        .map_err(|_| UsageError::InvalidConfig("MS-CHAPv2 password is not UTF-8"))?;
    let mut h = Md4::new();
    let mut n = 0;
    for unit in s.encode_utf16() {
        n += 1;
        if n > MAX_PASSWORD_CHARS {
            return Err(UsageError::InvalidConfig("MS-CHAPv2 password too long"));
        }
        h.update(unit.to_le_bytes());
    }
    Ok(h.finalize().into())
}

/// `HashNtPasswordHash()` (section 8.4): MD4 of the password hash.
#[must_use]
pub fn hash_nt_password_hash(password_hash: &[u8; 16]) -> [u8; 16] {
    Md4::digest(password_hash).into()
}

/// `DesEncrypt()` (section 8.6): a 7-octet key spread over 8 octets (parity bits
/// left clear; DES ignores them).
fn des_encrypt(clear: [u8; 8], key7: &[u8]) -> [u8; 8] {
    let mut k = [0u8; 7];
    for (d, s) in k.iter_mut().zip(key7) {
        *d = *s;
    }
    let v = k.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
    let mut key = [0u8; 8];
    for (i, b) in key.iter_mut().enumerate() {
        let shift = 49 - 7 * i;
        *b = (((v >> shift) & 0x7f) as u8) << 1;
    }
    let cipher = Des::new(&key.into());
    let mut block = clear.into();
    cipher.encrypt_block(&mut block);
    block.into()
}

/// `ChallengeResponse()` (section 8.5): the 24-octet response from an 8-octet
/// challenge and the password hash zero-padded to 21 octets, as three DES keys.
#[must_use]
pub fn challenge_response(challenge: [u8; 8], password_hash: &[u8; 16]) -> [u8; 24] {
    let mut z = [0u8; 21];
    for (d, s) in z.iter_mut().zip(password_hash) {
        *d = *s;
    }
    let mut out = [0u8; 24];
    for (o, k) in out.chunks_exact_mut(8).zip(z.chunks_exact(7)) {
        o.copy_from_slice(&des_encrypt(challenge, k));
    }
    out
}

/// `GenerateNTResponse()` (section 8.1): what the host puts in its Response.
///
/// # Errors
/// As [`nt_password_hash`].
pub fn generate_nt_response(
    authenticator_challenge: &[u8; 16],
    peer_challenge: &[u8; 16],
    user_name: &[u8],
    password: &[u8],
) -> Result<[u8; 24], UsageError> {
    let c = challenge_hash(peer_challenge, authenticator_challenge, user_name);
    Ok(challenge_response(c, &nt_password_hash(password)?))
}

/// `GenerateAuthenticatorResponse()` (section 8.7): the 42-character
/// `S=<40 hex digits>` string of the authenticator's Success message.
///
/// # Errors
/// As [`nt_password_hash`].
pub fn generate_authenticator_response(
    password: &[u8],
    nt_response: &[u8; 24],
    peer_challenge: &[u8; 16],
    authenticator_challenge: &[u8; 16],
    user_name: &[u8],
) -> Result<[u8; 42], UsageError> {
    let hh = hash_nt_password_hash(&nt_password_hash(password)?);
    let mut h = Sha1::new();
    h.update(hh);
    h.update(nt_response);
    h.update(MAGIC1);
    let digest = h.finalize();
    let c = challenge_hash(peer_challenge, authenticator_challenge, user_name);
    let mut h = Sha1::new();
    h.update(digest);
    h.update(c);
    h.update(MAGIC2);
    let d = h.finalize();
    let hex = |n: u8| HEX.get(usize::from(n & 0x0f)).copied().unwrap_or(b'0');
    let mut out = [0u8; 42];
    let (head, tail) = out.split_at_mut(2);
    head.copy_from_slice(b"S=");
    for (pair, b) in tail.chunks_exact_mut(2).zip(d) {
        pair.copy_from_slice(&[hex(b >> 4), hex(b)]);
    }
    Ok(out)
}

/// Parses the `S=<40 hex digits>` authenticator response (RFC 2759 section 5)
/// into its 20 octets.
#[must_use]
pub fn parse_authenticator_response(s: &[u8]) -> Option<[u8; 20]> {
    let hex = s.strip_prefix(b"S=")?.get(..40)?;
    let nib = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    let mut out = [0u8; 20];
    for (o, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
        let [h, l] = <[u8; 2]>::try_from(pair).ok()?;
        *o = (nib(h)? << 4) | nib(l)?;
    }
    Some(out)
}

/// Writes `bytes` as upper-case hex into `out` (two characters per octet).
pub(crate) fn write_hex(bytes: &[u8], out: &mut [u8]) {
    for (pair, b) in out.chunks_exact_mut(2).zip(bytes) {
        let h = HEX.get(usize::from(b >> 4)).copied().unwrap_or(b'0');
        let l = HEX.get(usize::from(b & 0x0f)).copied().unwrap_or(b'0');
        pair.copy_from_slice(&[h, l]);
    }
}

/// Checks a host's NT-Response against the password (authenticator side),
/// comparing in constant time.
///
/// # Errors
/// As [`nt_password_hash`].
pub fn verify_nt_response(
    authenticator_challenge: &[u8; 16],
    peer_challenge: &[u8; 16],
    user_name: &[u8],
    password: &[u8],
    nt_response: &[u8],
) -> Result<bool, UsageError> {
    let want = generate_nt_response(authenticator_challenge, peer_challenge, user_name, password)?;
    Ok(nt_response.len() == want.len()
        && want
            .iter()
            .zip(nt_response)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0)
}
