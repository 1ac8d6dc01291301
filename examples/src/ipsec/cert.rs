//! Certificate authentication for `ipsec-gw` (RFC 7296 sections 2.15 and 3.6, RFC 7427
//! digital signatures, auth method 14) through `bng-ikev2`'s [`Signer`] and
//! [`Verifier`] traits: our key and certificate from PEM files, signatures with `ring`
//! (ECDSA P-256/P-384 with SHA-256/384, RSA PKCS#1 v1.5 with SHA-256/384/512),
//! certificates parsed with `RustCrypto`'s `x509-cert`.
//!
//! Trust ([`CaVerifier`]) is a list of CA certificates (trust anchors): the peer's
//! end-entity certificate (its first CERT payload) must chain to one of them through
//! the intermediate CA certificates the peer sent in further CERT payloads (RFC 5280
//! section 6.1, simplified: issuer name and signature at each step, every certificate
//! of the path within its validity at the caller's clock, `basicConstraints` CA:TRUE on
//! every intermediate), and carry the peer's IKE identity in its subjectAltName (an
//! FQDN as dNSName, a `user@domain` as rfc822Name, an IPv4 address as iPAddress) or,
//! for an `ID_DER_ASN1_DN`, as its subject (RFC 4945 section 3.1). A refusal is logged
//! naming the certificate and the reason. The anchors' `SubjectPublicKeyInfo` SHA-1
//! hashes are our CERTREQ (RFC 7296 section 3.7).
//!
//! Our side ([`KeySigner`], [`SignerSet`]): one or more certificates with their
//! intermediates; a CERTREQ from the peer picks the first whose chain ends at a CA it
//! names. Not checked: path length constraints, key usage, name constraints,
//! policies, revocation (CRL, OCSP).

use core::time::Duration;
use std::time::{SystemTime, UNIX_EPOCH};

use bng_ikev2::CryptoError;
use bng_ikev2::exchange::{Identity, Signer, Verifier};
use bng_ikev2::types::IdType;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, KeyPair as _, RsaKeyPair, UnparsedPublicKey};
use x509_cert::Certificate;
use x509_cert::der::asn1::ObjectIdentifier;
use x509_cert::der::{Decode as _, Encode as _};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{BasicConstraints, SubjectAltName};
use x509_cert::spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};

const ID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const SECP256R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const SECP384R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const ECDSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const ECDSA_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
const RSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
const RSA_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.12");
const RSA_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.13");

/// RFC 7427 appendix A.3.1: ecdsa-with-SHA256 `AlgorithmIdentifier` (no parameters).
const ALG_ECDSA_SHA256: &[u8] = &[
    0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02,
];
/// RFC 7427 appendix A.3.2: ecdsa-with-SHA384.
const ALG_ECDSA_SHA384: &[u8] = &[
    0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03,
];
/// RFC 7427 appendix A.1.2: sha256WithRSAEncryption (NULL parameters).
const ALG_RSA_SHA256: &[u8] = &[
    0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b, 0x05, 0x00,
];

/// The PEM blocks of `text` with their labels, as DER.
fn pem_blocks(text: &[u8]) -> Result<Vec<(String, Vec<u8>)>, String> {
    let s = std::str::from_utf8(text).map_err(|_| "not PEM text".to_owned())?;
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(at) = rest.find("-----BEGIN ") {
        let block = rest.get(at..).unwrap_or_default();
        let label_end = block.get(11..).and_then(|b| b.find("-----")).unwrap_or(0);
        let label = block.get(11..11 + label_end).unwrap_or_default().to_owned();
        let end_marker = format!("-----END {label}-----");
        let Some(end) = block.find(&end_marker) else {
            return Err(format!("PEM block {label:?} has no END line"));
        };
        let whole = block.get(..end + end_marker.len()).unwrap_or_default();
        let (l, der) = x509_cert::der::pem::decode_vec(whole.as_bytes())
            .map_err(|e| format!("PEM block {label:?}: {e}"))?;
        out.push((l.to_owned(), der));
        rest = block.get(end + end_marker.len()..).unwrap_or_default();
    }
    if out.is_empty() {
        return Err("no PEM block".to_owned());
    }
    Ok(out)
}

/// Every `CERTIFICATE` of a PEM file, as DER, in file order, each checked to parse.
///
/// # Errors
/// What is wrong with the text (which block does not parse).
pub fn certificates_der(pem: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let certs: Vec<Vec<u8>> = pem_blocks(pem)?
        .into_iter()
        .filter(|(l, _)| l == "CERTIFICATE")
        .map(|(_, d)| d)
        .collect();
    if certs.is_empty() {
        return Err("no CERTIFICATE block".to_owned());
    }
    for (i, d) in certs.iter().enumerate() {
        Certificate::from_der(d)
            .map_err(|e| format!("CERTIFICATE block {}: X.509 certificate: {e}", i + 1))?;
    }
    Ok(certs)
}

/// The SHA-1 hash of the DER `SubjectPublicKeyInfo` of `cert`: how a CERTREQ names
/// a CA (RFC 7296 section 3.7).
#[must_use]
pub fn spki_sha1(cert: &Certificate) -> [u8; 20] {
    let der = cert
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .unwrap_or_default();
    let d = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, &der);
    d.as_ref().first_chunk::<20>().copied().unwrap_or_default()
}

/// The subject of `cert` as an RFC 4514 string, e.g. `CN=gw.lab`.
#[must_use]
pub fn subject(cert: &Certificate) -> String {
    cert.tbs_certificate.subject.to_string()
}

/// Is `cert` self-signed (its issuer is its subject and its own key verifies it)?
fn self_signed(cert: &Certificate) -> bool {
    issued(cert, cert)
}

/// Was `cert` signed by `ca` (RFC 5280 section 6.1.3 (a)(1) and (a)(4): signature
/// with the CA's key, issuer name = CA's subject)?
fn issued(ca: &Certificate, cert: &Certificate) -> bool {
    let Ok(tbs) = cert.tbs_certificate.to_der() else {
        return false;
    };
    let Some(sig) = cert.signature.as_bytes() else {
        return false;
    };
    cert.tbs_certificate.issuer == ca.tbs_certificate.subject
        && verify_with(
            &ca.tbs_certificate.subject_public_key_info,
            cert.signature_algorithm.oid,
            &tbs,
            sig,
        )
}

/// Is `cert` a CA (RFC 5280 section 4.2.1.9: `basicConstraints` with `cA` TRUE)?
fn is_ca(cert: &Certificate) -> bool {
    matches!(
        cert.tbs_certificate.get::<BasicConstraints>(),
        Ok(Some((_, BasicConstraints { ca: true, .. })))
    )
}

/// RFC 5280 section 6.1.3 (a)(2): is `cert` valid at `now` (since the Unix epoch)?
///
/// # Errors
/// Which of its dates it is outside of, naming it as `role` and its subject.
pub fn check_validity(cert: &Certificate, role: &str, now: Duration) -> Result<(), String> {
    let v = &cert.tbs_certificate.validity;
    let subj = subject(cert);
    if now < v.not_before.to_unix_duration() {
        return Err(format!(
            "{role} '{subj}' is not valid before {} (now {})",
            v.not_before,
            fmt_unix(now)
        ));
    }
    if now > v.not_after.to_unix_duration() {
        return Err(format!(
            "{role} '{subj}' expired on {} (now {})",
            v.not_after,
            fmt_unix(now)
        ));
    }
    Ok(())
}

fn fmt_unix(now: Duration) -> String {
    x509_cert::der::DateTime::from_unix_duration(Duration::from_secs(now.as_secs())).map_or_else(
        |_| format!("{} s after 1970", now.as_secs()),
        |d| d.to_string(),
    )
}

/// The wall clock as a duration since the Unix epoch: the default clock of
/// [`CaVerifier`] (certificate validity is in calendar time).
#[must_use]
pub fn wall_clock() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

/// The first `CERTIFICATE` of a PEM file, as DER, checked to parse.
///
/// # Errors
/// What is wrong with the text.
pub fn certificate_der(pem: &[u8]) -> Result<Vec<u8>, String> {
    let der = pem_blocks(pem)?
        .into_iter()
        .find(|(l, _)| l == "CERTIFICATE")
        .map(|(_, d)| d)
        .ok_or_else(|| "no CERTIFICATE block".to_owned())?;
    Certificate::from_der(&der).map_err(|e| format!("X.509 certificate: {e}"))?;
    Ok(der)
}

/// The `PRIVATE KEY` (PKCS#8) of a PEM file, as DER.
///
/// # Errors
/// What is wrong with the text (a SEC1 `EC PRIVATE KEY` or PKCS#1 `RSA PRIVATE KEY`
/// is named, with the `openssl pkcs8 -topk8 -nocrypt` that converts it).
pub fn private_key_der(pem: &[u8]) -> Result<Vec<u8>, String> {
    let blocks = pem_blocks(pem)?;
    if let Some((_, d)) = blocks.iter().find(|(l, _)| l == "PRIVATE KEY") {
        return Ok(d.clone());
    }
    let labels: Vec<&str> = blocks.iter().map(|(l, _)| l.as_str()).collect();
    Err(format!(
        "an unencrypted PKCS#8 \"PRIVATE KEY\" block (convert with `openssl pkcs8 -topk8 -nocrypt`), found {labels:?}"
    ))
}

enum Key {
    Ecdsa(EcdsaKeyPair),
    Rsa(RsaKeyPair),
}

/// Our signer: a private key and its certificate.
pub struct KeySigner {
    key: Key,
    algorithm: &'static [u8],
    certificate: Vec<u8>,
    /// Sent after `certificate`, from the end entity up.
    intermediates: Vec<Vec<u8>>,
    /// SHA-1 `SubjectPublicKeyInfo` hashes of the CAs our chain ends at or passes.
    authorities: Vec<[u8; 20]>,
    subject: String,
    rng: SystemRandom,
}

impl core::fmt::Debug for KeySigner {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("KeySigner").finish_non_exhaustive()
    }
}

impl KeySigner {
    /// The signer for the PKCS#8 `key` (DER) and the certificate `cert` (DER), which
    /// must hold the key's public half.
    ///
    /// # Errors
    /// What does not fit: an unsupported key, a key that is not the certificate's.
    pub fn new(key: &[u8], cert: &[u8]) -> Result<Self, String> {
        let rng = SystemRandom::new();
        let c = Certificate::from_der(cert).map_err(|e| format!("X.509 certificate: {e}"))?;
        let spki = &c.tbs_certificate.subject_public_key_info;
        let cert_key = spki.subject_public_key.raw_bytes();
        let (key, algorithm) = if spki.algorithm.oid == ID_EC_PUBLIC_KEY {
            let (alg, name) = match curve_of(spki) {
                Ok(SECP256R1) => (&signature::ECDSA_P256_SHA256_ASN1_SIGNING, ALG_ECDSA_SHA256),
                Ok(SECP384R1) => (&signature::ECDSA_P384_SHA384_ASN1_SIGNING, ALG_ECDSA_SHA384),
                _ => return Err("an ECDSA key on P-256 or P-384".to_owned()),
            };
            let k = EcdsaKeyPair::from_pkcs8(alg, key, &rng)
                .map_err(|e| format!("the ECDSA private key: {e}"))?;
            if k.public_key().as_ref() != cert_key {
                return Err("the private key of the certificate (the keys differ)".to_owned());
            }
            (Key::Ecdsa(k), name)
        } else if spki.algorithm.oid == RSA_ENCRYPTION {
            let k = RsaKeyPair::from_pkcs8(key).map_err(|e| format!("the RSA private key: {e}"))?;
            if k.public().as_ref() != cert_key {
                return Err("the private key of the certificate (the keys differ)".to_owned());
            }
            (Key::Rsa(k), ALG_RSA_SHA256)
        } else {
            return Err(format!(
                "an ECDSA or RSA key, found algorithm {}",
                spki.algorithm.oid
            ));
        };
        Ok(Self {
            key,
            algorithm,
            certificate: cert.to_vec(),
            intermediates: Vec::new(),
            authorities: Vec::new(),
            subject: subject(&c),
            rng,
        })
    }

    /// The signer for `key` (PKCS#8 DER) and `chain` (DER): our end-entity
    /// certificate first, then the CA certificates above it, each the issuer of the
    /// one before. The ones that are not self-signed are sent as further CERT
    /// payloads; a self-signed root at the end is not sent (RFC 7296 section 3.6
    /// leaves it to the peer's trust anchors). `anchors` (DER, e.g. the connection's
    /// trusted CAs) may hold the root above the last certificate. Every CA of the
    /// chain and such a root is named by our CERTREQ matching ([`SignerSet`]).
    ///
    /// # Errors
    /// What does not fit: the key (see [`KeySigner::new`]), a certificate that is
    /// not the issuer of the one before it (numbered from 1 in `chain`), or one that
    /// is not a CA.
    pub fn with_chain(key: &[u8], chain: &[Vec<u8>], anchors: &[Vec<u8>]) -> Result<Self, String> {
        let Some((leaf, above)) = chain.split_first() else {
            return Err("a certificate (the chain is empty)".to_owned());
        };
        let mut s = Self::new(key, leaf)?;
        let mut below =
            Certificate::from_der(leaf).map_err(|e| format!("X.509 certificate: {e}"))?;
        for (i, der) in above.iter().enumerate() {
            let c = Certificate::from_der(der)
                .map_err(|e| format!("certificate {}: X.509 certificate: {e}", i + 2))?;
            if !issued(&c, &below) {
                return Err(format!(
                    "certificate {} ('{}') to be the issuer of certificate {} ('{}', issued by '{}')",
                    i + 2,
                    subject(&c),
                    i + 1,
                    subject(&below),
                    below.tbs_certificate.issuer
                ));
            }
            if !is_ca(&c) {
                return Err(format!(
                    "certificate {} ('{}') to be a CA (basicConstraints CA:TRUE)",
                    i + 2,
                    subject(&c)
                ));
            }
            s.authorities.push(spki_sha1(&c));
            if !self_signed(&c) {
                s.intermediates.push(der.clone());
            }
            below = c;
        }
        for a in anchors {
            if let Ok(a) = Certificate::from_der(a)
                && issued(&a, &below)
            {
                s.authorities.push(spki_sha1(&a));
            }
        }
        Ok(s)
    }

    /// The subject of our end-entity certificate (RFC 4514 string).
    #[must_use]
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The SHA-1 `SubjectPublicKeyInfo` hashes of the CAs of our chain (see
    /// [`KeySigner::with_chain`]).
    #[must_use]
    pub fn authorities(&self) -> &[[u8; 20]] {
        &self.authorities
    }

    /// Does the Certification Authority field of a CERTREQ (concatenated 20-byte
    /// hashes) name one of our CAs?
    #[must_use]
    pub fn requested(&self, certreq: &[u8]) -> bool {
        certreq
            .chunks_exact(20)
            .any(|h| self.authorities.iter().any(|a| a.as_slice() == h))
    }
}

/// Several of our certificates for one connection, in order of preference: the first
/// is sent unless the peer's CERTREQ (RFC 7296 section 3.7) names a CA of another's
/// chain only.
#[derive(Debug)]
pub struct SignerSet {
    signers: Vec<KeySigner>,
}

impl SignerSet {
    /// The set; the first one is the default.
    ///
    /// # Errors
    /// When `signers` is empty.
    pub fn new(signers: Vec<KeySigner>) -> Result<Self, String> {
        if signers.is_empty() {
            return Err("at least one certificate".to_owned());
        }
        Ok(Self { signers })
    }

    fn first(&self) -> &KeySigner {
        #[allow(clippy::indexing_slicing, reason = "new refuses an empty set")]
        &self.signers[0]
    }
}

impl Signer for SignerSet {
    fn algorithm(&self) -> &[u8] {
        self.first().algorithm()
    }

    fn certificate(&self) -> &[u8] {
        self.first().certificate()
    }

    fn sign(&self, octets: &[&[u8]], out: &mut [u8]) -> Result<usize, CryptoError> {
        self.first().sign(octets, out)
    }

    fn intermediate(&self, index: usize) -> &[u8] {
        self.first().intermediate(index)
    }

    fn select(&self, authorities: &[u8]) -> Option<&dyn Signer> {
        let hashes: Vec<String> = authorities.chunks_exact(20).map(hex).collect();
        if let Some(s) = self.signers.iter().find(|s| s.requested(authorities)) {
            println!(
                "certificate auth: the peer's CERTREQ names CA(s) {hashes:?}; sending '{}'",
                s.subject()
            );
            return Some(s);
        }
        println!(
            "certificate auth: the peer's CERTREQ names CA(s) {hashes:?}, none of ours; sending '{}' anyway",
            self.first().subject()
        );
        None
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().fold(String::new(), |mut s, x| {
        use core::fmt::Write as _;
        let _ = write!(s, "{x:02x}");
        s
    })
}

impl Signer for KeySigner {
    fn algorithm(&self) -> &[u8] {
        self.algorithm
    }

    fn certificate(&self) -> &[u8] {
        &self.certificate
    }

    fn intermediate(&self, index: usize) -> &[u8] {
        self.intermediates.get(index).map_or(&[], Vec::as_slice)
    }

    fn select(&self, authorities: &[u8]) -> Option<&dyn Signer> {
        if !self.requested(authorities) {
            println!(
                "certificate auth: the peer's CERTREQ names none of the CAs of '{}'; sending it anyway",
                self.subject
            );
        }
        None
    }

    fn sign(&self, octets: &[&[u8]], out: &mut [u8]) -> Result<usize, CryptoError> {
        let msg = octets.concat();
        match &self.key {
            // RFC 7427 section 3: an ECDSA signature is the DER Ecdsa-Sig-Value.
            Key::Ecdsa(k) => {
                let sig = k
                    .sign(&self.rng, &msg)
                    .map_err(|_| CryptoError::Unsupported("signing failed"))?;
                let s = sig.as_ref();
                out.get_mut(..s.len())
                    .ok_or(CryptoError::BufferTooSmall)?
                    .copy_from_slice(s);
                Ok(s.len())
            }
            Key::Rsa(k) => {
                let n = k.public().modulus_len();
                let o = out.get_mut(..n).ok_or(CryptoError::BufferTooSmall)?;
                k.sign(&signature::RSA_PKCS1_SHA256, &self.rng, &msg, o)
                    .map_err(|_| CryptoError::Unsupported("signing failed"))?;
                Ok(n)
            }
        }
    }
}

/// The named curve of an EC public key (RFC 5480 section 2.1.1).
fn curve_of(spki: &SubjectPublicKeyInfoOwned) -> Result<ObjectIdentifier, x509_cert::der::Error> {
    spki.algorithm
        .parameters
        .as_ref()
        .ok_or_else(|| x509_cert::der::Tag::ObjectIdentifier.value_error())?
        .decode_as::<ObjectIdentifier>()
}

/// The `ring` verification algorithm for a signature made with `sig` by the key of
/// `spki`.
fn verification(
    sig: ObjectIdentifier,
    spki: &SubjectPublicKeyInfoOwned,
) -> Option<&'static dyn signature::VerificationAlgorithm> {
    if spki.algorithm.oid == ID_EC_PUBLIC_KEY {
        let curve = curve_of(spki).ok()?;
        Some(match (curve, sig) {
            (SECP256R1, ECDSA_SHA256) => &signature::ECDSA_P256_SHA256_ASN1,
            (SECP256R1, ECDSA_SHA384) => &signature::ECDSA_P256_SHA384_ASN1,
            (SECP384R1, ECDSA_SHA256) => &signature::ECDSA_P384_SHA256_ASN1,
            (SECP384R1, ECDSA_SHA384) => &signature::ECDSA_P384_SHA384_ASN1,
            _ => return None,
        })
    } else if spki.algorithm.oid == RSA_ENCRYPTION {
        Some(match sig {
            RSA_SHA256 => &signature::RSA_PKCS1_2048_8192_SHA256,
            RSA_SHA384 => &signature::RSA_PKCS1_2048_8192_SHA384,
            RSA_SHA512 => &signature::RSA_PKCS1_2048_8192_SHA512,
            _ => return None,
        })
    } else {
        None
    }
}

/// Does `msg` carry a valid signature `sig` (algorithm `alg`) by the key of `spki`?
fn verify_with(
    spki: &SubjectPublicKeyInfoOwned,
    alg: ObjectIdentifier,
    msg: &[u8],
    sig: &[u8],
) -> bool {
    verification(alg, spki).is_some_and(|a| {
        UnparsedPublicKey::new(a, spki.subject_public_key.raw_bytes())
            .verify(msg, sig)
            .is_ok()
    })
}

/// Is `id` the identity of `cert` (RFC 4945 section 3.1: in its subjectAltName, or its
/// subject for a DN)?
#[must_use]
pub fn binds(cert: &Certificate, id: Identity<'_>) -> bool {
    let tbs = &cert.tbs_certificate;
    if id.id_type == IdType::DER_ASN1_DN {
        return tbs.subject.to_der().is_ok_and(|d| d == id.data);
    }
    let Ok(Some((_, SubjectAltName(names)))) = tbs.get::<SubjectAltName>() else {
        return false;
    };
    names.iter().any(|n| match n {
        GeneralName::DnsName(d) if id.id_type == IdType::FQDN => {
            d.as_bytes().eq_ignore_ascii_case(id.data)
        }
        GeneralName::Rfc822Name(m) if id.id_type == IdType::RFC822_ADDR => {
            m.as_bytes().eq_ignore_ascii_case(id.data)
        }
        GeneralName::IpAddress(a) if id.id_type == IdType::IPV4_ADDR => a.as_bytes() == id.data,
        _ => false,
    })
}

/// Longest path accepted: end entity, at most this many intermediates, anchor.
const MAX_INTERMEDIATES: usize = 4;

/// The peer's verifier: the trusted CAs (anchors) and a clock.
#[derive(Debug, Clone)]
pub struct CaVerifier {
    anchors: Vec<Certificate>,
    /// Our CERTREQ: the anchors' SHA-1 `SubjectPublicKeyInfo` hashes.
    hashes: Vec<u8>,
    clock: fn() -> Duration,
}

impl CaVerifier {
    /// Trusts the CA certificate `ca` (DER).
    ///
    /// # Errors
    /// A message when it does not parse or is not self-consistent (its own signature
    /// does not verify with its key).
    pub fn new(ca: &[u8]) -> Result<Self, String> {
        Self::with_anchors(&[ca.to_vec()])
    }

    /// Trusts each of the CA certificates `cas` (DER): self-signed roots, or
    /// intermediates trusted as they are. Validity is checked with [`wall_clock`]
    /// unless [`CaVerifier::with_clock`] says otherwise.
    ///
    /// # Errors
    /// Which one (numbered from 1) does not parse, is not a CA, or is self-issued
    /// with a signature that does not verify.
    pub fn with_anchors(cas: &[Vec<u8>]) -> Result<Self, String> {
        let mut anchors = Vec::new();
        let mut hashes = Vec::new();
        for (i, der) in cas.iter().enumerate() {
            let n = i + 1;
            let ca = Certificate::from_der(der)
                .map_err(|e| format!("CA certificate {n}: X.509 certificate: {e}"))?;
            let tbs = &ca.tbs_certificate;
            if tbs.issuer == tbs.subject && !self_signed(&ca) {
                return Err(format!(
                    "CA certificate {n} ('{}'): a self-signed CA certificate (its signature does not verify)",
                    subject(&ca)
                ));
            }
            if !is_ca(&ca) && !self_signed(&ca) {
                return Err(format!(
                    "CA certificate {n} ('{}'): a CA (basicConstraints CA:TRUE)",
                    subject(&ca)
                ));
            }
            hashes.extend_from_slice(&spki_sha1(&ca));
            anchors.push(ca);
        }
        if anchors.is_empty() {
            return Err("at least one CA certificate".to_owned());
        }
        Ok(Self {
            anchors,
            hashes,
            clock: wall_clock,
        })
    }

    /// The same verifier reading the time from `clock` (a duration since the Unix
    /// epoch).
    #[must_use]
    pub fn with_clock(mut self, clock: fn() -> Duration) -> Self {
        self.clock = clock;
        self
    }

    /// The subjects of the trust anchors, for messages.
    fn anchor_names(&self) -> String {
        self.anchors
            .iter()
            .map(|a| format!("'{}'", subject(a)))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Checks the peer's certificates `certs` (DER, the end entity first, then the
    /// intermediates it sent, in any order) for `peer` at `now`: a path from the end
    /// entity to a trust anchor (RFC 5280 section 6.1, see the module docs), each
    /// certificate of it valid at `now`, every intermediate a CA, the end entity
    /// bound to `peer`. Returns the end-entity certificate.
    ///
    /// # Errors
    /// Which certificate is refused and why.
    pub fn check_chain(
        &self,
        certs: &[&[u8]],
        peer: Identity<'_>,
        now: Duration,
    ) -> Result<Certificate, String> {
        let n = certs.len();
        let parsed = certs
            .iter()
            .enumerate()
            .map(|(i, c)| {
                Certificate::from_der(c)
                    .map_err(|e| format!("certificate {} of {n}: not X.509 ({e})", i + 1))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let Some((leaf, sent)) = parsed.split_first() else {
            return Err("the peer sent no certificate".to_owned());
        };
        check_validity(leaf, "end-entity certificate", now)?;
        if !binds(leaf, peer) {
            return Err(format!(
                "end-entity certificate '{}' does not name the peer's identity {} (subjectAltName, or subject for a DN)",
                subject(leaf),
                id_text(peer)
            ));
        }
        let mut used = vec![false; sent.len()];
        let mut cur = leaf;
        for _ in 0..=MAX_INTERMEDIATES {
            if let Some(a) = self.anchors.iter().find(|a| issued(a, cur)) {
                check_validity(a, "trusted CA", now)?;
                return Ok(leaf.clone());
            }
            let next = sent
                .iter()
                .zip(used.iter_mut())
                .enumerate()
                .find(|(_, (c, u))| !**u && issued(c, cur));
            let Some((i, (c, u))) = next else {
                let issuer = &cur.tbs_certificate.issuer;
                let same_name = self
                    .anchors
                    .iter()
                    .any(|a| &a.tbs_certificate.subject == issuer);
                return Err(if same_name {
                    format!(
                        "'{}' names the trusted CA '{issuer}' as issuer but its signature does not verify with that CA's key (another CA of the same name?)",
                        subject(cur)
                    )
                } else {
                    format!(
                        "'{}' was issued by '{issuer}', which is neither a trusted CA ({}) nor among the {} intermediate certificate(s) the peer sent",
                        subject(cur),
                        self.anchor_names(),
                        sent.len()
                    )
                });
            };
            *u = true;
            let role = format!("intermediate certificate {} of {n}", i + 2);
            if !is_ca(c) {
                return Err(format!(
                    "{role} '{}' is not a CA (no basicConstraints CA:TRUE) but issued '{}'",
                    subject(c),
                    subject(cur)
                ));
            }
            check_validity(c, &role, now)?;
            cur = c;
        }
        Err(format!(
            "no trusted CA within {MAX_INTERMEDIATES} intermediates above '{}'",
            subject(leaf)
        ))
    }

    /// Checks `cert` (DER) alone for `peer` now ([`CaVerifier::check_chain`]).
    ///
    /// # Errors
    /// Why it is not acceptable.
    pub fn check_certificate(
        &self,
        cert: &[u8],
        peer: Identity<'_>,
    ) -> Result<Certificate, String> {
        self.check_chain(&[cert], peer, (self.clock)())
    }
}

/// An IKE identity for messages: the text of a name, the DN of a DN, else hex.
fn id_text(id: Identity<'_>) -> String {
    match id.id_type {
        IdType::FQDN | IdType::RFC822_ADDR => {
            format!("'{}'", String::from_utf8_lossy(id.data))
        }
        IdType::DER_ASN1_DN => x509_cert::name::Name::from_der(id.data)
            .map_or_else(|_| hex(id.data), |n| format!("'{n}'")),
        IdType::IPV4_ADDR => <[u8; 4]>::try_from(id.data).map_or_else(
            |_| hex(id.data),
            |a| format!("{}", std::net::Ipv4Addr::from(a)),
        ),
        _ => hex(id.data),
    }
}

impl Verifier for CaVerifier {
    fn verify(
        &self,
        peer: Identity<'_>,
        certificate: Option<&[u8]>,
        algorithm: &[u8],
        octets: &[&[u8]],
        signature: &[u8],
    ) -> bool {
        let certs: Vec<&[u8]> = certificate.into_iter().collect();
        self.verify_chain(peer, &certs, algorithm, octets, signature)
    }

    fn verify_chain(
        &self,
        peer: Identity<'_>,
        certificates: &[&[u8]],
        algorithm: &[u8],
        octets: &[&[u8]],
        signature: &[u8],
    ) -> bool {
        let c = match self.check_chain(certificates, peer, (self.clock)()) {
            Ok(c) => c,
            Err(e) => {
                println!("certificate auth: refused peer {}: {e}", id_text(peer));
                return false;
            }
        };
        let Ok(alg) = AlgorithmIdentifierOwned::from_der(algorithm) else {
            println!(
                "certificate auth: refused peer {}: AUTH algorithm not DER",
                id_text(peer)
            );
            return false;
        };
        let ok = verify_with(
            &c.tbs_certificate.subject_public_key_info,
            alg.oid,
            &octets.concat(),
            signature,
        );
        if ok {
            println!(
                "certificate auth: peer {} authenticated with '{}' (issued by '{}')",
                id_text(peer),
                subject(&c),
                c.tbs_certificate.issuer
            );
        } else {
            println!(
                "certificate auth: refused peer {}: bad AUTH signature ({}) for '{}'",
                id_text(peer),
                alg.oid,
                subject(&c)
            );
        }
        ok
    }

    fn authorities(&self) -> &[u8] {
        &self.hashes
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests")]

    use super::*;

    /// A CA, and `gw.lab` (ECDSA P-256 or RSA-2048) issued by it, made with the openssl
    /// CLI in a fresh directory; `None` without openssl.
    fn pki(tag: &str, rsa: bool) -> Option<std::path::PathBuf> {
        let d = std::env::temp_dir().join(format!("ipsecgw-cert-{}-{tag}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        std::process::Command::new("openssl")
            .arg("version")
            .output()
            .ok()?;
        issue(&d, None, "ca", &[], EC);
        let key: &[&str] = if rsa { &["-newkey", "rsa:2048"] } else { EC };
        issue(
            &d,
            Some("ca"),
            "gw.lab",
            &["subjectAltName=DNS:gw.lab"],
            key,
        );
        Some(d)
    }

    fn files(d: &std::path::Path) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
        let read = |f: &str| std::fs::read(d.join(f)).unwrap();
        (
            certificate_der(&read("gw.lab.pem")).unwrap(),
            private_key_der(&read("gw.lab.key")).unwrap(),
            certificate_der(&read("ca.pem")).unwrap(),
        )
    }

    fn fqdn(s: &str) -> Identity<'_> {
        Identity {
            id_type: IdType::FQDN,
            data: s.as_bytes(),
        }
    }

    #[test]
    fn sign_and_verify_both_key_types() {
        for rsa in [false, true] {
            let Some(d) = pki(if rsa { "rsa" } else { "ec" }, rsa) else {
                eprintln!("skipped: no openssl");
                return;
            };
            let (cert, key, ca) = files(&d);
            let s = KeySigner::new(&key, &cert).unwrap();
            let v = CaVerifier::new(&ca).unwrap();
            let octets: [&[u8]; 2] = [b"IKE_SA_INIT message", b"nonce and prf(SK_p, ID)"];
            let mut sig = [0u8; 1024];
            let n = s.sign(&octets, &mut sig).unwrap();
            let sig = &sig[..n];
            let alg = s.algorithm();
            let cert = Some(s.certificate());
            assert!(
                v.verify(fqdn("gw.lab"), cert, alg, &octets, sig),
                "rsa={rsa}"
            );
            // Another identity, other octets, a flipped bit, no certificate: refused.
            assert!(!v.verify(fqdn("other.lab"), cert, alg, &octets, sig));
            assert!(!v.verify(fqdn("gw.lab"), cert, alg, &[b"other"], sig));
            let mut bad = sig.to_vec();
            bad[n / 2] ^= 1;
            assert!(!v.verify(fqdn("gw.lab"), cert, alg, &octets, &bad));
            assert!(!v.verify(fqdn("gw.lab"), None, alg, &octets, sig));
            // A CA that did not issue it.
            let other = pki(if rsa { "rsa2" } else { "ec2" }, rsa).unwrap();
            let (_, _, other_ca) = files(&other);
            let v2 = CaVerifier::new(&other_ca).unwrap();
            assert!(!v2.verify(fqdn("gw.lab"), cert, alg, &octets, sig));
            // A key that is not the certificate's.
            let (other_cert, _, _) = files(&other);
            assert!(KeySigner::new(&key, &other_cert).is_err());
            let _ = (std::fs::remove_dir_all(&d), std::fs::remove_dir_all(&other));
        }
    }

    /// `openssl` in `d`; panics with its output on failure.
    fn ossl(d: &std::path::Path, args: &[&str]) {
        let o = std::process::Command::new("openssl")
            .args(args)
            .current_dir(d)
            .output()
            .unwrap();
        assert!(o.status.success(), "openssl {args:?}: {o:?}");
    }

    /// `name.pem`/`name.key` (ECDSA P-256) in `d`, self-signed with no `issuer`,
    /// with the extensions `ext`.
    const EC: &[&str] = &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"];

    fn issue(d: &std::path::Path, issuer: Option<&str>, name: &str, ext: &[&str], key: &[&str]) {
        let (cert, keyf, subj) = (
            format!("{name}.pem"),
            format!("{name}.key"),
            format!("/CN={name}"),
        );
        let (ca, ca_key) = issuer.map_or((String::new(), String::new()), |i| {
            (format!("{i}.pem"), format!("{i}.key"))
        });
        let mut a = vec![
            "req", "-x509", "-nodes", "-keyout", &keyf, "-out", &cert, "-days", "2", "-subj", &subj,
        ];
        a.extend_from_slice(key);
        if issuer.is_some() {
            a.extend_from_slice(&["-CA", &ca, "-CAkey", &ca_key]);
        }
        for e in ext {
            a.extend_from_slice(&["-addext", e]);
        }
        ossl(d, &a);
    }

    const CA: &str = "basicConstraints=critical,CA:TRUE";
    const EE: &str = "basicConstraints=critical,CA:FALSE";

    /// root -> inter -> gw.lab, root2 -> gw2 (gw.lab too), and inter-noca (CA:FALSE)
    /// -> gw3 (gw.lab too); `None` without openssl.
    fn chain_pki(tag: &str) -> Option<std::path::PathBuf> {
        let d = std::env::temp_dir().join(format!("ipsecgw-chain-{}-{tag}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        std::process::Command::new("openssl")
            .arg("version")
            .output()
            .ok()?;
        let san = "subjectAltName=DNS:gw.lab";
        issue(&d, None, "root", &[CA], EC);
        issue(&d, Some("root"), "inter", &[CA], EC);
        issue(&d, Some("inter"), "gw.lab", &[EE, san], EC);
        issue(&d, None, "root2", &[CA], EC);
        issue(&d, Some("root2"), "gw2", &[EE, san], EC);
        issue(&d, Some("root"), "inter-noca", &[EE], EC);
        issue(&d, Some("inter-noca"), "gw3", &[EE, san], EC);
        Some(d)
    }

    fn der(d: &std::path::Path, name: &str) -> Vec<u8> {
        certificate_der(&std::fs::read(d.join(format!("{name}.pem"))).unwrap()).unwrap()
    }

    fn key(d: &std::path::Path, name: &str) -> Vec<u8> {
        private_key_der(&std::fs::read(d.join(format!("{name}.key"))).unwrap()).unwrap()
    }

    #[test]
    fn chains_verify_through_sent_intermediates_and_refusals_say_why() {
        let Some(d) = chain_pki("verify") else {
            eprintln!("skipped: no openssl");
            return;
        };
        let (root, inter, leaf) = (der(&d, "root"), der(&d, "inter"), der(&d, "gw.lab"));
        let v = CaVerifier::with_anchors(std::slice::from_ref(&root)).unwrap();
        let now = wall_clock();
        let id = fqdn("gw.lab");
        // End entity + intermediate -> root: accepted; the intermediate may come in
        // any position after the end entity.
        v.check_chain(&[&leaf, &inter], id, now).unwrap();
        v.check_chain(&[&leaf, &root, &inter], id, now).unwrap();
        // Without the intermediate: who issued what, and what is trusted.
        let e = v.check_chain(&[&leaf], id, now).unwrap_err();
        assert!(
            e.contains(
                "'CN=gw.lab' was issued by 'CN=inter', which is neither a trusted CA ('CN=root')"
            ),
            "{e}"
        );
        // The intermediate as a trust anchor of its own.
        CaVerifier::with_anchors(std::slice::from_ref(&inter))
            .unwrap()
            .check_chain(&[&leaf], id, now)
            .unwrap();
        // Expired / not yet valid at the caller's clock.
        let c = Certificate::from_der(&leaf).unwrap();
        let after =
            c.tbs_certificate.validity.not_after.to_unix_duration() + Duration::from_secs(1);
        let e = v.check_chain(&[&leaf, &inter], id, after).unwrap_err();
        assert!(
            e.contains("end-entity certificate 'CN=gw.lab' expired on"),
            "{e}"
        );
        let e = v
            .check_chain(&[&leaf, &inter], id, Duration::from_secs(1_000_000))
            .unwrap_err();
        assert!(e.contains("is not valid before"), "{e}");
        // Another root.
        let (root2, gw2) = (der(&d, "root2"), der(&d, "gw2"));
        let e = v.check_chain(&[&gw2], id, now).unwrap_err();
        assert!(
            e.contains("issued by 'CN=root2', which is neither a trusted CA"),
            "{e}"
        );
        // An intermediate without CA:TRUE.
        let (noca, gw3) = (der(&d, "inter-noca"), der(&d, "gw3"));
        let e = v.check_chain(&[&gw3, &noca], id, now).unwrap_err();
        assert!(
            e.contains("intermediate certificate 2 of 2 'CN=inter-noca' is not a CA"),
            "{e}"
        );
        // Wrong identity.
        let e = v
            .check_chain(&[&leaf, &inter], fqdn("x.lab"), now)
            .unwrap_err();
        assert!(
            e.contains("does not name the peer's identity 'x.lab'"),
            "{e}"
        );
        // Not a CA: refused as an anchor.
        let e = CaVerifier::with_anchors(&[root.clone(), leaf.clone()]).unwrap_err();
        assert!(e.contains("CA certificate 2 ('CN=gw.lab'): a CA"), "{e}");
        // Our CERTREQ: the anchors' SPKI SHA-1 hashes, in order.
        let both = CaVerifier::with_anchors(&[root.clone(), root2.clone()]).unwrap();
        let h1 = spki_sha1(&Certificate::from_der(&root).unwrap());
        let h2 = spki_sha1(&Certificate::from_der(&root2).unwrap());
        assert_eq!(both.authorities(), [h1, h2].concat());
        // The same hash as openssl's: SHA-1 over the DER SubjectPublicKeyInfo.
        let o = std::process::Command::new("sh")
            .arg("-c")
            .arg("openssl x509 -in root.pem -pubkey -noout | openssl pkey -pubin -outform DER | openssl dgst -sha1 -r")
            .current_dir(&d)
            .output()
            .unwrap();
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(out.starts_with(&hex(&h1)), "{out} vs {}", hex(&h1));
        // A full chain verifies a signature made by its key.
        let s = KeySigner::with_chain(&key(&d, "gw.lab"), &[leaf.clone(), inter.clone()], &[root])
            .unwrap();
        assert_eq!(s.intermediate(0), inter.as_slice());
        assert!(s.intermediate(1).is_empty());
        let octets: [&[u8]; 1] = [b"signed octets"];
        let mut sig = [0u8; 256];
        let n = s.sign(&octets, &mut sig).unwrap();
        assert!(v.verify_chain(id, &[&leaf, &inter], s.algorithm(), &octets, &sig[..n]));
        assert!(!v.verify_chain(id, &[&leaf], s.algorithm(), &octets, &sig[..n]));
        // A chain file out of order is refused at load.
        let e = KeySigner::with_chain(&key(&d, "gw.lab"), &[leaf.clone(), root2], &[]).unwrap_err();
        assert!(
            e.contains("certificate 2 ('CN=root2') to be the issuer of certificate 1"),
            "{e}"
        );
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn certreq_picks_the_certificate_of_a_requested_ca() {
        let Some(d) = chain_pki("certreq") else {
            eprintln!("skipped: no openssl");
            return;
        };
        let (root, root2) = (der(&d, "root"), der(&d, "root2"));
        let a = KeySigner::with_chain(
            &key(&d, "gw.lab"),
            &[der(&d, "gw.lab"), der(&d, "inter")],
            &[root.clone(), root2.clone()],
        )
        .unwrap();
        let b = KeySigner::with_chain(
            &key(&d, "gw2"),
            &[der(&d, "gw2")],
            &[root.clone(), root2.clone()],
        )
        .unwrap();
        let (ca, cb) = (a.certificate().to_vec(), b.certificate().to_vec());
        let set = SignerSet::new(vec![a, b]).unwrap();
        let h = |c: &[u8]| spki_sha1(&Certificate::from_der(c).unwrap());
        // No CERTREQ, or one naming neither: the first.
        assert_eq!(set.certificate(), ca.as_slice());
        assert!(set.select(&[0u8; 20]).is_none());
        // root2 asked for: the second; root or the intermediate: the first.
        let pick = set.select(&[[0u8; 20], h(&root2)].concat()).unwrap();
        assert_eq!(pick.certificate(), cb.as_slice());
        assert_eq!(set.select(&h(&root)).unwrap().certificate(), ca.as_slice());
        let inter = der(&d, "inter");
        assert_eq!(set.select(&h(&inter)).unwrap().certificate(), ca.as_slice());
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn pem_errors_say_what_is_wrong() {
        assert!(
            certificate_der(b"nothing")
                .unwrap_err()
                .contains("no PEM block")
        );
        let e = private_key_der(
            b"-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n",
        )
        .unwrap_err();
        assert!(e.contains("PKCS#8") && e.contains("EC PRIVATE KEY"), "{e}");
    }
}
