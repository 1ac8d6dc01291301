//! Known-answer tests: the NIST CAVP IKEv2 KDF vector for HMAC-SHA1 (SP 800-135
//! CAVS, as quoted by libreswan's `ike_alg_test_prf.c`) for SKEYSEED, prf+ and the
//! rekey SKEYSEED (RFC 7296 sections 2.13, 2.14, 2.18); RFC 4231 test case 2 for the
//! HMAC-SHA2 PRFs (RFC 4868 section 2.7.1 uses the same vectors); RFC 8031 / RFC
//! 7748 section 6.1 for X25519.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::doc_markdown,
    clippy::similar_names,
    reason = "tests"
)]

use bng_ikev2::crypto::{
    HmacPrf, KeyLengths, Prf, derive_child_keys, derive_ike_keys, prf_plus, skeyseed,
    skeyseed_rekey,
};
use bng_ikev2::types::PrfId;

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(char::is_ascii_hexdigit).collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

// NIST CAVP, IKEv2 KDF, HMAC-SHA1.
const NI: &str = "32b50d5f4a3763f3";
const NR: &str = "9206a04b26564cb1";
const GIR: &str = "4b2c1f971981a8ad8d0abeafabf38cf75fc8349c148142465ed9c8b516b8be52";
const GIR_NEW: &str = "863f3c9d06efd39d2b907b97f8699e5dd5251ef64a2a176f36ee40c87d4f9330";
const SPII: &str = "34c9e7c188868785";
const SPIR: &str = "3ff77d760d2b2199";
const SKEYSEED: &str = "a9a7b222b59f8f48645f28a1db5b5f5d7479cba7";
const SKEYSEED_REKEY: &str = "63e81194946ebd05df7df5ebf5d8750056bf1f1d";
const DKM: &str = "a14293677cc80ff8f9cc0eee30d895da9d8f405666e30ef0dfcb63c634a46002\
                   a2a63080e514a062768b76606f9fa5e992204fc5a670bde3f10d6b027113936a\
                   5c55b648a194ae587b0088d52204b702c979fa280870d2ed41efa9c549fd1119\
                   8af1670b143d384bd275c5f594cf266b05ebadca855e4249520a441a81157435\
                   a7a56cc4";

#[test]
fn cavp_ikev2_kdf_hmac_sha1() {
    let prf = HmacPrf::new(PrfId::HMAC_SHA1).unwrap();
    let (ni, nr, gir) = (hex(NI), hex(NR), hex(GIR));
    let seed = skeyseed(&prf, &ni, &nr, &gir).unwrap();
    assert_eq!(seed.as_bytes(), &hex(SKEYSEED)[..]);

    let spii: [u8; 8] = hex(SPII).try_into().unwrap();
    let spir: [u8; 8] = hex(SPIR).try_into().unwrap();
    let mut dkm = vec![0u8; 132];
    prf_plus(&prf, seed.as_bytes(), &[&ni, &nr, &spii, &spir], &mut dkm).unwrap();
    assert_eq!(dkm, hex(DKM));

    // The same material split into the seven keys (section 2.14): SK_d first.
    let keys = derive_ike_keys(
        &prf,
        seed.as_bytes(),
        &ni,
        &nr,
        &spii,
        &spir,
        KeyLengths {
            prf: 20,
            integ: 20,
            encr: 16,
        },
    )
    .unwrap();
    assert_eq!(keys.d.as_bytes(), &dkm[..20]);
    assert_eq!(keys.ai.as_bytes(), &dkm[20..40]);
    assert_eq!(keys.ar.as_bytes(), &dkm[40..60]);
    assert_eq!(keys.ei.as_bytes(), &dkm[60..76]);
    assert_eq!(keys.er.as_bytes(), &dkm[76..92]);
    assert_eq!(keys.pi.as_bytes(), &dkm[92..112]);
    assert_eq!(keys.pr.as_bytes(), &dkm[112..132]);

    let rekey = skeyseed_rekey(&prf, keys.d.as_bytes(), &hex(GIR_NEW), &ni, &nr).unwrap();
    assert_eq!(rekey.as_bytes(), &hex(SKEYSEED_REKEY)[..]);
}

#[test]
fn prf_plus_matches_its_definition() {
    // T1 = prf(K, S | 0x01), T2 = prf(K, T1 | S | 0x02) (section 2.13), built by hand.
    let prf = HmacPrf::new(PrfId::HMAC_SHA2_256).unwrap();
    let k = [7u8; 32];
    let s = b"seed material";
    let mut t1 = [0u8; 32];
    prf.prf(&k, &[s, &[1]], &mut t1).unwrap();
    let mut t2 = [0u8; 32];
    prf.prf(&k, &[&t1, s, &[2]], &mut t2).unwrap();
    let mut out = [0u8; 50];
    prf_plus(&prf, &k, &[&s[..4], &s[4..]], &mut out).unwrap();
    assert_eq!(&out[..32], &t1);
    assert_eq!(&out[32..], &t2[..18]);
    // 255 blocks is the limit.
    let mut big = vec![0u8; 32 * 255 + 1];
    assert!(prf_plus(&prf, &k, &[s], &mut big).is_err());
}

#[test]
fn child_keymat_order() {
    let prf = HmacPrf::new(PrfId::HMAC_SHA2_256).unwrap();
    let (skd, ni, nr) = ([1u8; 32], [2u8; 16], [3u8; 16]);
    let mut km = [0u8; 72];
    prf_plus(&prf, &skd, &[&ni, &nr], &mut km).unwrap();
    let c = derive_child_keys(&prf, &skd, None, &ni, &nr, 36, 0).unwrap();
    assert_eq!(c.ei.as_bytes(), &km[..36]);
    assert_eq!(c.er.as_bytes(), &km[36..]);
    assert!(c.ai.is_empty() && c.ar.is_empty());
}

#[test]
fn rfc4231_case2_hmac_sha2_prfs() {
    let key = b"Jefe";
    let data = b"what do ya want for nothing?";
    for (id, want) in [
        (
            PrfId::HMAC_SHA2_256,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
        ),
        (
            PrfId::HMAC_SHA2_384,
            "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e\
             8e2240ca5e69e2c78b3239ecfab21649",
        ),
        (
            PrfId::HMAC_SHA2_512,
            "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554\
             9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737",
        ),
    ] {
        let prf = HmacPrf::new(id).unwrap();
        let mut out = [0u8; 64];
        let n = prf.prf(key, &[&data[..10], &data[10..]], &mut out).unwrap();
        assert_eq!(&out[..n], &hex(want)[..], "{id:?}");
    }
}

#[test]
fn x25519_rfc7748_section_6_1() {
    use bng_ikev2::crypto::{EphemeralKey, KeyExchange};
    let a_priv: [u8; 32] = hex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
        .try_into()
        .unwrap();
    let b_pub = hex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
    let a = EphemeralKey::X25519(x25519_dalek::StaticSecret::from(a_priv));
    let mut pk = [0u8; 32];
    a.public_key(&mut pk).unwrap();
    assert_eq!(
        pk[..],
        hex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")[..]
    );
    let mut k = [0u8; 32];
    a.agree(&b_pub, &mut k).unwrap();
    assert_eq!(
        k[..],
        hex("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742")[..]
    );
    // All-zero shared secret (small-order point) is rejected (RFC 8031 section 2).
    assert!(a.agree(&[0u8; 32], &mut k).is_err());
    assert!(a.agree(&[1u8; 31], &mut k).is_err());
}

/// Every Diffie-Hellman group the crate implements.
const SUPPORTED: [bng_ikev2::types::DhGroup; 9] = {
    use bng_ikev2::types::DhGroup;
    [
        DhGroup::ECP256,
        DhGroup::ECP384,
        DhGroup::ECP521,
        DhGroup::CURVE25519,
        DhGroup::MODP2048,
        DhGroup::MODP3072,
        DhGroup::MODP4096,
        DhGroup::MODP6144,
        DhGroup::MODP8192,
    ]
};

#[test]
fn ecp_groups_agree_both_ways() {
    use bng_ikev2::crypto::{EphemeralKey, KeyExchange};
    use bng_ikev2::types::DhGroup;
    let mut rng = rand::rngs::OsRng;
    for g in SUPPORTED {
        let a = EphemeralKey::generate(g, &mut rng).unwrap();
        let b = EphemeralKey::generate(g, &mut rng).unwrap();
        let n = EphemeralKey::public_len(g).unwrap();
        let (mut pa, mut pb) = ([0u8; 1024], [0u8; 1024]);
        assert_eq!(a.public_key(&mut pa).unwrap(), n);
        assert_eq!(b.public_key(&mut pb).unwrap(), n);
        let (mut ka, mut kb) = ([0u8; 1024], [0u8; 1024]);
        let la = a.agree(&pb[..n], &mut ka).unwrap();
        let lb = b.agree(&pa[..n], &mut kb).unwrap();
        assert_eq!(ka[..la], kb[..lb], "{g:?}");
        // A point off the curve is rejected.
        let mut bad = pb;
        bad[n - 1] ^= 1;
        if matches!(g, DhGroup::ECP256 | DhGroup::ECP384 | DhGroup::ECP521) {
            assert!(a.agree(&bad[..n], &mut ka).is_err(), "{g:?}");
        }
        if matches!(
            g,
            DhGroup::MODP2048
                | DhGroup::MODP3072
                | DhGroup::MODP4096
                | DhGroup::MODP6144
                | DhGroup::MODP8192
        ) {
            // RFC 6989 section 2.1: 0, 1 and p - 1 (and anything >= p) are refused.
            let mut one = vec![0u8; n];
            one[n - 1] = 1;
            assert!(a.agree(&one, &mut ka).is_err(), "{g:?}");
            assert!(a.agree(&vec![0u8; n], &mut ka).is_err(), "{g:?}");
            assert!(a.agree(&vec![0xff; n], &mut ka).is_err(), "{g:?}");
            // p - 1: every RFC 3526 prime ends in 64 one bits.
            let mut p_minus_1 = vec![0xff; n];
            p_minus_1[n - 1] = 0xfe;
            p_minus_1[..n - 8].copy_from_slice(&modp_prime_top(g, n)[..n - 8]);
            assert!(a.agree(&p_minus_1, &mut ka).is_err(), "{g:?}");
            // p - 2 is a valid (if weak) value: accepted.
            let mut p_minus_2 = p_minus_1.clone();
            p_minus_2[n - 1] = 0xfd;
            assert!(a.agree(&p_minus_2, &mut ka).is_ok(), "{g:?}");
            assert!(a.agree(&vec![1u8; n - 1], &mut ka).is_err(), "{g:?}");
        }
    }
    assert!(EphemeralKey::generate(DhGroup::MODP1536, &mut rng).is_err());
    for g in SUPPORTED {
        assert!(EphemeralKey::supports(g), "{g:?}");
    }
    assert!(!EphemeralKey::supports(DhGroup::MODP1024));
}

/// The prime of an RFC 3526 group, big-endian. `tests/data/modp*.hex` were computed
/// from the RFC's formula (`2^n - 2^(n-64) - 1 + 2^64 * ([2^(n-130) pi] + k)`) with an
/// independent multi-precision pi, and match OpenSSL's `modp_*` groups; they check the
/// crate's constants through the `p - 1` (refused) / `p - 2` (accepted) boundary.
fn modp_prime_top(g: bng_ikev2::types::DhGroup, n: usize) -> Vec<u8> {
    let hex = match g.0 {
        14 => include_str!("data/modp2048.hex"),
        15 => include_str!("data/modp3072.hex"),
        16 => include_str!("data/modp4096.hex"),
        17 => include_str!("data/modp6144.hex"),
        18 => include_str!("data/modp8192.hex"),
        _ => unreachable!(),
    };
    let hex: String = hex.split_whitespace().collect();
    let b: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    assert_eq!(b.len(), n);
    b
}
