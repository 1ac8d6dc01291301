//! Certificate authentication (RFC 7427 Digital Signature, auth method 14; RFC 7296
//! sections 2.15 and 3.6): our initiator against our responder with ECDSA P-256 /
//! SHA-256 signers and verifiers supplied by the test, as an integrator would
//! supply them (the machine computes the signed octets; the caller signs, verifies
//! and validates the certificate). Also with fragmentation (RFC 7383) for a large
//! certificate, and the failures: wrong key, unknown certificate, PSK peer; CERTREQ
//! choosing the signer and intermediate certificates both ways (sections 3.6, 3.7).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::doc_markdown,
    clippy::too_many_lines,
    reason = "tests"
)]

use core::time::Duration;

use bng_ikev2::exchange::{
    Action, CertAuth, ChildSuite, Config, Identity, IkeSa, IkeSuite, InitOutcome, Options,
    Reassembly, Responder, Signer, Verifier,
};
use bng_ikev2::header::Packet;
use bng_ikev2::payload::Payload;
use bng_ikev2::sk::{SkSuite, open};
use bng_ikev2::types::{AuthMethod, IdType, PayloadType};
use bng_ikev2::{CryptoError, ProtocolError};
use p256::ecdsa::signature::{Signer as _, Verifier as _};
use p256::ecdsa::{DerSignature, SigningKey, VerifyingKey};
mod common;

use common::{Wire, advance, children, established, failed, poll_into};
use rand::SeedableRng;
use rand::rngs::StdRng;

/// RFC 7427 appendix A.3.1: ecdsa-with-SHA256 AlgorithmIdentifier.
const ECDSA_SHA256: [u8; 12] = [
    0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02,
];

/// A stand-in certificate: "CERT", the subject identity, the SEC1 public key, and
/// padding (to make it as large as a real one). Path validation is the caller's
/// job; this test's verifier trusts a fixed list of these.
fn certificate(id: &[u8], key: &VerifyingKey, pad: usize) -> Vec<u8> {
    let mut c = b"CERT".to_vec();
    c.push(u8::try_from(id.len()).unwrap());
    c.extend_from_slice(id);
    c.extend_from_slice(key.to_encoded_point(false).as_bytes());
    c.resize(c.len() + pad, 0xc5);
    c
}

struct TestSigner {
    key: SigningKey,
    cert: Vec<u8>,
}

impl Signer for TestSigner {
    fn algorithm(&self) -> &[u8] {
        &ECDSA_SHA256
    }
    fn certificate(&self) -> &[u8] {
        &self.cert
    }
    fn sign(&self, octets: &[&[u8]], out: &mut [u8]) -> Result<usize, CryptoError> {
        let msg: Vec<u8> = octets.concat();
        let sig: DerSignature = self.key.sign(&msg);
        let b = sig.as_bytes();
        out.get_mut(..b.len())
            .ok_or(CryptoError::BufferTooSmall)?
            .copy_from_slice(b);
        Ok(b.len())
    }
}

struct TestVerifier {
    /// Trusted certificates.
    trusted: Vec<Vec<u8>>,
}

impl Verifier for TestVerifier {
    fn verify(
        &self,
        peer: Identity<'_>,
        certificate: Option<&[u8]>,
        algorithm: &[u8],
        octets: &[&[u8]],
        signature: &[u8],
    ) -> bool {
        let Some(cert) = certificate else {
            return false;
        };
        if algorithm != ECDSA_SHA256 || !self.trusted.iter().any(|t| t == cert) {
            return false;
        }
        // The certificate names the peer's identity, then holds its key.
        let n = usize::from(cert[4]);
        if &cert[5..5 + n] != peer.data || peer.id_type != IdType::FQDN {
            return false;
        }
        let Ok(key) = VerifyingKey::from_sec1_bytes(&cert[5 + n..5 + n + 65]) else {
            return false;
        };
        let Ok(sig) = DerSignature::try_from(signature) else {
            return false;
        };
        key.verify(&octets.concat(), &sig).is_ok()
    }
}

const IKE: [IkeSuite; 1] = [IkeSuite::AES128GCM_SHA256_X25519];
const ESP: [ChildSuite; 1] = [ChildSuite::AES128GCM];

fn cfg(me: &'static [u8]) -> Config<'static> {
    common::cfg(&IKE, &ESP, b"not used with certificates", me)
}

#[derive(Default, Debug)]
struct Outcome {
    i_events: Vec<Action>,
    r_events: Vec<Action>,
    fragments: usize,
    /// Decrypted IKE_AUTH payload types, initiator's request first.
    auth_payloads: Vec<Vec<PayloadType>>,
}

fn run(i_cert: Option<CertAuth<'_>>, r_cert: Option<CertAuth<'_>>, opts: Options) -> Outcome {
    let icfg = cfg(b"west.example");
    let rcfg = cfg(b"east.example");
    let mut rng = StdRng::seed_from_u64(5);
    let (ia, ra) = common::addrs();
    let mut now = Duration::from_secs(1);
    let mut ini = IkeSa::initiate_with(&icfg, opts, now, ia, ra, &mut rng).unwrap();
    if let Some(c) = i_cert {
        ini.set_cert_auth(c);
    }
    let mut front = Responder::new(&rcfg, &mut rng).unwrap();
    front.options = opts;
    if let Some(c) = r_cert {
        front.set_cert_auth(c);
    }
    let mut resp: Option<IkeSa<'_>> = None;
    let (mut ib, mut rb) = ([0u8; 8192], [0u8; 8192]);
    let (mut istore, mut rstore) = (Reassembly::new(&mut ib), Reassembly::new(&mut rb));
    let mut out = Outcome::default();
    let mut tx = [0u8; 4096];
    for _ in 0..200 {
        let mut wire = Wire::new();
        poll_into(&mut ini, now, &mut tx, true, &mut wire, &mut out.i_events);
        if let Some(r) = resp.as_mut() {
            poll_into(r, now, &mut tx, false, &mut wire, &mut out.r_events);
        }
        if wire.is_empty() {
            if !advance(&mut ini, resp.as_mut(), &mut now) {
                break;
            }
            continue;
        }
        for (to_r, bytes) in wire {
            let p = Packet::new_checked(&bytes[..]).unwrap();
            out.fragments += usize::from(p.next_payload() == PayloadType::SKF);
            if to_r {
                match resp.as_mut() {
                    Some(r) => {
                        if p.next_payload() == PayloadType::SK && p.exchange().0 == 35 {
                            out.auth_payloads.push(inner_types(r, &bytes, true));
                        }
                        let _ = r.handle_packet_with(now, &bytes, &mut rstore, &mut rng);
                    }
                    None => {
                        if let Ok(InitOutcome::NewSa(sa)) =
                            front.handle_init(now, 0, ra, ia, &bytes, &mut rng, &mut tx)
                        {
                            resp = Some(sa);
                        }
                    }
                }
            } else {
                if p.next_payload() == PayloadType::SK && p.exchange().0 == 35 {
                    out.auth_payloads.push(inner_types(&ini, &bytes, false));
                }
                let _ = ini.handle_packet_with(now, &bytes, &mut istore, &mut rng);
            }
        }
    }
    out
}

/// The inner payload types of an unfragmented IKE_AUTH message, decrypted with the
/// receiving SA's keys.
fn inner_types(receiver: &IkeSa<'_>, bytes: &[u8], from_initiator: bool) -> Vec<PayloadType> {
    let s = receiver.suite();
    let sk = SkSuite {
        encr: s.encr,
        key_bits: s.key_bits,
        integ: s.integ,
    };
    let k = receiver.keys();
    let (ek, ak) = if from_initiator {
        (k.ei.as_bytes(), k.ai.as_bytes())
    } else {
        (k.er.as_bytes(), k.ar.as_bytes())
    };
    let mut m = bytes.to_vec();
    let d = open(&sk, ek, ak, &mut m).unwrap();
    d.payloads().map(|r| r.unwrap().kind).collect()
}

/// Signs with `signer`, checks the peer with `verifier`.
#[allow(clippy::unnecessary_wraps, reason = "run takes an Option for each end")]
fn auth<'a>(signer: &'a dyn Signer, verifier: &'a dyn Verifier) -> Option<CertAuth<'a>> {
    Some(CertAuth { signer, verifier })
}

/// A verifier that trusts the certificates of `signers`.
fn trusting(signers: &[&TestSigner]) -> TestVerifier {
    TestVerifier {
        trusted: signers.iter().map(|s| s.cert.clone()).collect(),
    }
}

fn signer(id: &[u8], seed: u8, pad: usize) -> TestSigner {
    let key = SigningKey::from_slice(&[seed; 32]).unwrap();
    let cert = certificate(id, key.verifying_key(), pad);
    TestSigner { key, cert }
}

#[test]
fn ecdsa_p256_certificates_both_ways() {
    let west = signer(b"west.example", 1, 0);
    let east = signer(b"east.example", 2, 0);
    let v = trusting(&[&west, &east]);
    let o = run(auth(&west, &v), auth(&east, &v), Options::default());
    assert!(established(&o.i_events), "{o:?}");
    assert!(established(&o.r_events), "{o:?}");
    let (ci, cr) = (children(&o.i_events), children(&o.r_events));
    assert_eq!((ci.len(), cr.len()), (1, 1));
    assert_eq!(ci[0].inbound, cr[0].outbound);
    assert_eq!(ci[0].outbound_spi, cr[0].inbound_spi);
    // IDi, CERT, AUTH, SA, TSi, TSr and IDr, CERT, AUTH, SA, TSi, TSr.
    assert_eq!(o.auth_payloads.len(), 2, "{o:?}");
    for types in &o.auth_payloads {
        assert_eq!(types[1], PayloadType::CERT, "{types:?}");
        assert_eq!(types[2], PayloadType::AUTH, "{types:?}");
    }
    let _ = AuthMethod::DIGITAL_SIGNATURE;
}

/// A 1500-byte certificate makes IKE_AUTH larger than the 576-byte fragment size:
/// it goes in fragments (RFC 7383) and still authenticates.
#[test]
fn large_certificates_with_fragmentation() {
    let west = signer(b"west.example", 3, 1500);
    let east = signer(b"east.example", 4, 1500);
    let v = trusting(&[&west, &east]);
    let o = run(
        auth(&west, &v),
        auth(&east, &v),
        Options::default().with_fragmentation(576),
    );
    assert!(
        established(&o.i_events) && established(&o.r_events),
        "{o:?}"
    );
    assert!(o.fragments >= 6, "{}", o.fragments);
    assert_eq!(children(&o.i_events).len(), 1);
}

#[test]
fn untrusted_or_wrong_key_or_psk_peer_fails() {
    let west = signer(b"west.example", 5, 0);
    let east = signer(b"east.example", 6, 0);
    // West signs with a key that does not match its certificate.
    let forged = TestSigner {
        key: SigningKey::from_slice(&[9; 32]).unwrap(),
        cert: west.cert.clone(),
    };
    let v = trusting(&[&west, &east]);
    let untrusting = TestVerifier { trusted: vec![] };
    let e = CertAuth {
        signer: &east,
        verifier: &v,
    };
    for (i, r) in [
        (auth(&forged, &v), Some(e)),
        (auth(&west, &v), auth(&east, &untrusting)),
        (None, Some(e)),
    ] {
        let o = run(i, r, Options::default());
        assert!(!established(&o.r_events), "{o:?}");
        assert_eq!(
            failed(&o.r_events),
            Some(ProtocolError::AuthenticationFailed),
            "{o:?}"
        );
        assert!(!established(&o.i_events), "{o:?}");
    }
    // The responder is fine but the initiator does not trust it.
    let o = run(auth(&west, &untrusting), Some(e), Options::default());
    assert!(established(&o.r_events));
    assert_eq!(
        failed(&o.i_events),
        Some(ProtocolError::AuthenticationFailed)
    );
    let _ = Payload::Nonce(&[]);
}

/// RFC 7427 section 4: SIGNATURE_HASH_ALGORITHMS (SHA2-256/384/512) in IKE_SA_INIT,
/// from an initiator that asks for it and from a responder with certificates, and
/// not otherwise.
#[test]
fn signature_hash_algorithms_notify() {
    use bng_ikev2::types::NotifyType;
    fn hashes(m: &[u8]) -> Option<Vec<u8>> {
        let p = Packet::new_checked(m).unwrap();
        p.payloads()
            .find_map(|r| match Payload::parse(&r.unwrap()).unwrap() {
                Payload::Notify(n) if n.notify_type == NotifyType::SIGNATURE_HASH_ALGORITHMS => {
                    Some(n.data.to_vec())
                }
                _ => None,
            })
    }
    let icfg = cfg(b"west.example");
    let rcfg = cfg(b"east.example");
    let east = signer(b"east.example", 7, 0);
    let v = TestVerifier { trusted: vec![] };
    let mut rng = StdRng::seed_from_u64(12);
    let (ia, ra) = common::addrs();
    let mut tx = [0u8; 4096];
    for (opts, with_cert, want_req, want_resp) in [
        (Options::default().with_signature_auth(), true, true, true),
        (Options::default(), false, false, false),
        (Options::default(), true, false, true),
    ] {
        let mut ini = IkeSa::initiate_with(&icfg, opts, Duration::ZERO, ia, ra, &mut rng).unwrap();
        let Some(Action::Send { len }) = ini.poll_action(Duration::ZERO, &mut tx) else {
            panic!()
        };
        let req = tx[..len].to_vec();
        assert_eq!(hashes(&req).is_some(), want_req);
        if want_req {
            assert_eq!(hashes(&req).unwrap(), [0, 2, 0, 3, 0, 4]);
        }
        let mut front = Responder::new(&rcfg, &mut rng).unwrap();
        if with_cert {
            front.set_cert_auth(CertAuth {
                signer: &east,
                verifier: &v,
            });
        }
        let Ok(InitOutcome::NewSa(mut r)) =
            front.handle_init(Duration::ZERO, 0, ra, ia, &req, &mut rng, &mut tx)
        else {
            panic!()
        };
        let Some(Action::Send { len }) = r.poll_action(Duration::ZERO, &mut tx) else {
            panic!()
        };
        assert_eq!(hashes(&tx[..len]).is_some(), want_resp);
    }
}

/// One of several certificates of a [`Pick`]: a signer, the intermediates sent after
/// its certificate, and the (stand-in) hash of the CA its chain ends at.
struct Alt {
    signer: TestSigner,
    chain: Vec<Vec<u8>>,
    authority: [u8; 20],
}

impl Signer for Alt {
    fn algorithm(&self) -> &[u8] {
        self.signer.algorithm()
    }
    fn certificate(&self) -> &[u8] {
        self.signer.certificate()
    }
    fn sign(&self, octets: &[&[u8]], out: &mut [u8]) -> Result<usize, CryptoError> {
        self.signer.sign(octets, out)
    }
    fn intermediate(&self, index: usize) -> &[u8] {
        self.chain.get(index).map_or(&[], Vec::as_slice)
    }
}

/// Several certificates; the first unless a CERTREQ names another's CA (RFC 7296
/// section 3.7).
struct Pick {
    alts: Vec<Alt>,
    asked: core::cell::RefCell<Vec<Vec<u8>>>,
}

impl Signer for Pick {
    fn algorithm(&self) -> &[u8] {
        self.alts[0].algorithm()
    }
    fn certificate(&self) -> &[u8] {
        self.alts[0].certificate()
    }
    fn sign(&self, octets: &[&[u8]], out: &mut [u8]) -> Result<usize, CryptoError> {
        self.alts[0].sign(octets, out)
    }
    fn intermediate(&self, index: usize) -> &[u8] {
        self.alts[0].intermediate(index)
    }
    fn select(&self, authorities: &[u8]) -> Option<&dyn Signer> {
        self.asked.borrow_mut().push(authorities.to_vec());
        self.alts
            .iter()
            .find(|a| authorities.chunks(20).any(|h| h == a.authority))
            .map(|a| a as &dyn Signer)
    }
}

/// [`TestVerifier`] that names `authorities` in its CERTREQ and records every chain
/// it is handed.
struct ChainVerifier {
    inner: TestVerifier,
    authorities: Vec<u8>,
    seen: core::cell::RefCell<Vec<Vec<Vec<u8>>>>,
}

impl Verifier for ChainVerifier {
    fn verify(
        &self,
        peer: Identity<'_>,
        certificate: Option<&[u8]>,
        algorithm: &[u8],
        octets: &[&[u8]],
        signature: &[u8],
    ) -> bool {
        self.inner
            .verify(peer, certificate, algorithm, octets, signature)
    }
    fn verify_chain(
        &self,
        peer: Identity<'_>,
        certificates: &[&[u8]],
        algorithm: &[u8],
        octets: &[&[u8]],
        signature: &[u8],
    ) -> bool {
        self.seen
            .borrow_mut()
            .push(certificates.iter().map(|c| c.to_vec()).collect());
        self.verify(
            peer,
            certificates.first().copied(),
            algorithm,
            octets,
            signature,
        )
    }
    fn authorities(&self) -> &[u8] {
        &self.authorities
    }
}

/// Sections 3.6 and 3.7: each side has two certificates; the initiator's CERTREQ (in
/// IKE_AUTH) makes the responder pick its second one, the responder's CERTREQ (in the
/// IKE_SA_INIT response) makes the initiator pick its second one; each sends its
/// intermediates after the end entity and the peer's verifier gets them all, in order.
#[test]
fn certreq_picks_the_signer_and_chains_reach_the_verifier() {
    let alt = |id: &[u8], seed: u8, chain: &[&[u8]], ca: u8| Alt {
        signer: signer(id, seed, 0),
        chain: chain.iter().map(|c| c.to_vec()).collect(),
        authority: [ca; 20],
    };
    let west = Pick {
        alts: vec![
            alt(b"west.example", 11, &[], 0xa1),
            alt(b"west.example", 12, &[b"INTER-W1", b"INTER-W2"], 0xa2),
        ],
        asked: core::cell::RefCell::default(),
    };
    let east = Pick {
        alts: vec![
            alt(b"east.example", 13, &[b"INTER-E1"], 0xb1),
            alt(b"east.example", 14, &[b"INTER-E2"], 0xb2),
        ],
        asked: core::cell::RefCell::default(),
    };
    let trusted: Vec<Vec<u8>> = west
        .alts
        .iter()
        .chain(&east.alts)
        .map(|a| a.signer.cert.clone())
        .collect();
    let verifier = |ca: u8| ChainVerifier {
        inner: TestVerifier {
            trusted: trusted.clone(),
        },
        // A hash naming nothing, then the one wanted.
        authorities: [[0u8; 20], [ca; 20]].concat(),
        seen: core::cell::RefCell::default(),
    };
    // West (initiator) asks for east's 0xb2; east asks for west's 0xa2.
    let (wv, ev) = (verifier(0xb2), verifier(0xa2));
    let o = run(auth(&west, &wv), auth(&east, &ev), Options::default());
    assert!(
        established(&o.i_events) && established(&o.r_events),
        "{o:?}"
    );
    assert_eq!(*west.asked.borrow(), vec![ev.authorities.clone()]);
    assert_eq!(*east.asked.borrow(), vec![wv.authorities.clone()]);
    // East got west's second certificate and its two intermediates; west got east's
    // second and its intermediate.
    let w2 = &west.alts[1];
    assert_eq!(
        *ev.seen.borrow(),
        vec![vec![
            w2.signer.cert.clone(),
            w2.chain[0].clone(),
            w2.chain[1].clone()
        ]]
    );
    let e2 = &east.alts[1];
    assert_eq!(
        *wv.seen.borrow(),
        vec![vec![e2.signer.cert.clone(), e2.chain[0].clone()]]
    );
    // IDi, CERT x3, CERTREQ, AUTH, ... and IDr, CERT x2, AUTH, ...
    assert_eq!(
        o.auth_payloads[0][..6],
        [
            PayloadType::IDI,
            PayloadType::CERT,
            PayloadType::CERT,
            PayloadType::CERT,
            PayloadType::CERTREQ,
            PayloadType::AUTH
        ]
    );
    assert_eq!(
        o.auth_payloads[1][..4],
        [
            PayloadType::IDR,
            PayloadType::CERT,
            PayloadType::CERT,
            PayloadType::AUTH
        ]
    );
}
