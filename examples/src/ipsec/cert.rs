//! Certificate authentication for `ipsec-gw` (RFC 7296 sections 2.15 and 3.6, RFC 7427
//! digital signatures, auth method 14) through `bng-ikev2`'s [`Signer`] and
//! [`Verifier`] traits: our key and certificate from PEM files, signatures with `ring`
//! (ECDSA P-256/P-384 with SHA-256/384, RSA PKCS#1 v1.5 with SHA-256/384/512),
//! certificates parsed with `RustCrypto`'s `x509-cert`.
//!
//! Trust is one CA certificate: the peer's end-entity certificate (its first CERT
//! payload) must be signed by that CA's key, name it as issuer, be within its
//! validity period, and carry the peer's IKE identity in its subjectAltName (an FQDN
//! as dNSName, a `user@domain` as rfc822Name, an IPv4 address as iPAddress) or, for an
//! `ID_DER_ASN1_DN`, as its subject (RFC 4945 section 3.1). No intermediate CAs,
//! revocation lists or OCSP: a single-level lab PKI.

use std::time::{SystemTime, UNIX_EPOCH};

use bng_ikev2::CryptoError;
use bng_ikev2::exchange::{Identity, Signer, Verifier};
use bng_ikev2::types::IdType;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, KeyPair as _, RsaKeyPair, UnparsedPublicKey};
use x509_cert::Certificate;
use x509_cert::der::asn1::ObjectIdentifier;
use x509_cert::der::{Decode as _, Encode as _};
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::ext::pkix::name::GeneralName;
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
            rng,
        })
    }
}

impl Signer for KeySigner {
    fn algorithm(&self) -> &[u8] {
        self.algorithm
    }

    fn certificate(&self) -> &[u8] {
        &self.certificate
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

/// The peer's verifier: one trusted CA.
#[derive(Debug, Clone)]
pub struct CaVerifier {
    ca: Certificate,
}

impl CaVerifier {
    /// Trusts the CA certificate `ca` (DER).
    ///
    /// # Errors
    /// A message when it does not parse or is not self-consistent (its own signature
    /// does not verify with its key).
    pub fn new(ca: &[u8]) -> Result<Self, String> {
        let ca = Certificate::from_der(ca).map_err(|e| format!("X.509 certificate: {e}"))?;
        let v = Self { ca };
        if !v.issued(&v.ca) {
            return Err("a self-signed CA certificate (its signature does not verify)".to_owned());
        }
        Ok(v)
    }

    /// Was `cert` signed by our CA (RFC 5280 section 6.1.3: signature, issuer name)?
    fn issued(&self, cert: &Certificate) -> bool {
        let ca = &self.ca.tbs_certificate;
        let Ok(tbs) = cert.tbs_certificate.to_der() else {
            return false;
        };
        let Some(sig) = cert.signature.as_bytes() else {
            return false;
        };
        cert.tbs_certificate.issuer == ca.subject
            && verify_with(
                &ca.subject_public_key_info,
                cert.signature_algorithm.oid,
                &tbs,
                sig,
            )
    }

    /// Checks `cert` (DER) for `peer` now: issued by our CA, valid now, bound to `peer`.
    ///
    /// # Errors
    /// Why it is not acceptable.
    pub fn check_certificate(
        &self,
        cert: &[u8],
        peer: Identity<'_>,
    ) -> Result<Certificate, String> {
        let c = Certificate::from_der(cert).map_err(|e| format!("X.509 certificate: {e}"))?;
        if !self.issued(&c) {
            return Err("not issued by the trusted CA".to_owned());
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        // RFC 5280 section 6.1.3 (a)(2): the certificate, and the CA's, valid now.
        for (whose, cert) in [("", &c), (" (the CA's)", &self.ca)] {
            let v = &cert.tbs_certificate.validity;
            if now < v.not_before.to_unix_duration() || now > v.not_after.to_unix_duration() {
                return Err(format!(
                    "outside its validity{whose} ({} to {})",
                    v.not_before, v.not_after
                ));
            }
        }
        if !binds(&c, peer) {
            return Err("the peer's identity is not in its subjectAltName".to_owned());
        }
        Ok(c)
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
        let Some(cert) = certificate else {
            println!("certificate auth: the peer sent no certificate");
            return false;
        };
        let c = match self.check_certificate(cert, peer) {
            Ok(c) => c,
            Err(e) => {
                println!("certificate auth: peer certificate {e}");
                return false;
            }
        };
        let Ok(alg) = AlgorithmIdentifierOwned::from_der(algorithm) else {
            return false;
        };
        let ok = verify_with(
            &c.tbs_certificate.subject_public_key_info,
            alg.oid,
            &octets.concat(),
            signature,
        );
        if !ok {
            println!("certificate auth: bad signature ({})", alg.oid);
        }
        ok
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
        let run = |args: &[&str]| {
            std::process::Command::new("openssl")
                .args(args)
                .current_dir(&d)
                .output()
                .ok()
                .filter(|o| o.status.success())
        };
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"];
        let rsa_key = ["-newkey", "rsa:2048"];
        let mut ca = vec![
            "req", "-x509", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
        ];
        ca.extend_from_slice(&["-days", "2", "-subj", "/CN=test CA"]);
        ca.extend_from_slice(&ec);
        run(&ca)?;
        let mut ee = vec![
            "req", "-x509", "-CA", "ca.pem", "-CAkey", "ca.key", "-nodes",
        ];
        ee.extend_from_slice(&["-keyout", "gw.key", "-out", "gw.pem", "-days", "2"]);
        ee.extend_from_slice(&[
            "-subj",
            "/CN=gw.lab",
            "-addext",
            "subjectAltName=DNS:gw.lab",
        ]);
        ee.extend_from_slice(if rsa { &rsa_key[..] } else { &ec[..] });
        run(&ee)?;
        Some(d)
    }

    fn files(d: &std::path::Path) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
        let read = |f: &str| std::fs::read(d.join(f)).unwrap();
        (
            certificate_der(&read("gw.pem")).unwrap(),
            private_key_der(&read("gw.key")).unwrap(),
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
        }
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
