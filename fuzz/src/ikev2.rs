//! Fuzz bodies for `bng-ikev2`.

use core::net::SocketAddr;
use core::time::Duration;

use bng_ikev2::exchange::{
    Action, ChildSuite, Config, Identity, IkeSa, IkeSuite, InitOutcome, Options, Reassembly,
    Responder,
};
use bng_ikev2::header::Packet;
use bng_ikev2::message::Repr;
use bng_ikev2::payload::{Payload, PayloadList};
use bng_ikev2::rand_core::{CryptoRng, Error, RngCore};
use bng_ikev2::types::IdType;

/// The targets of this module, by name (each has `fuzz_targets/<name>.rs` and
/// `corpus/<name>/`).
pub const TARGETS: &[(&str, crate::Body)] = &[
    ("ikev2_message", ikev2_message),
    ("ikev2_responder", ikev2_responder),
    ("ikev2_initiator", ikev2_initiator),
    ("ikev2_fragments", ikev2_fragments),
];

/// IKE message (RFC 7296 section 3): header view, payload chain, every typed payload
/// and the nested SA walk; parse -> emit -> parse, byte-identical, and the typed
/// re-emit has the same length.
pub fn ikev2_message(data: &[u8]) {
    let Ok(p) = Packet::new_checked(data) else {
        return;
    };
    for raw in p.payloads().flatten() {
        if let Ok(Payload::Sa(sa)) = Payload::parse(&raw) {
            for prop in sa.proposals().flatten() {
                for t in prop.transforms().flatten() {
                    let _ = t.attributes().count();
                }
            }
        }
    }
    let Ok(r) = Repr::parse(&p) else { return };
    let mut out = vec![0u8; r.buffer_len()];
    let n = r.emit(&mut out).expect("a parsed message must emit");
    assert_eq!(
        out.get(..n),
        Some(p.as_bytes()),
        "re-emit must be byte-identical"
    );
    let p2 = Packet::new_checked(out.get(..n).unwrap_or_default()).expect("re-parse view");
    let r2 = Repr::parse(&p2).expect("re-parse repr");
    assert_eq!(r, r2);
    let typed: Vec<Payload<'_>> = p
        .payloads()
        .map(|x| Payload::parse(&x.expect("validated")).expect("validated"))
        .collect();
    let t = Repr {
        header: r.header,
        payloads: PayloadList::List(&typed),
    };
    assert_eq!(t.buffer_len(), r.buffer_len());
    let mut out2 = vec![0u8; t.buffer_len()];
    t.emit(&mut out2).expect("typed re-emit");
    let p3 = Packet::new_checked(&out2[..]).expect("typed re-parse");
    Repr::parse(&p3).expect("typed re-parse repr");
}

/// A deterministic, insecure RNG: fuzzing only (public for seed generation).
pub struct FuzzRng(pub u64);

impl RngCore for FuzzRng {
    fn next_u32(&mut self) -> u32 {
        u32::try_from(self.next_u64() >> 32).unwrap_or(0)
    }
    fn next_u64(&mut self) -> u64 {
        // splitmix64
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for c in dest.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            c.copy_from_slice(v.get(..c.len()).unwrap_or_default());
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl CryptoRng for FuzzRng {}

const IKE: [IkeSuite; 3] = [
    IkeSuite::AES128GCM_SHA256_X25519,
    IkeSuite::AES256_SHA256_ECP384,
    IkeSuite {
        dh: bng_ikev2::types::DhGroup::MODP2048,
        ..IkeSuite::AES128GCM_SHA256_X25519
    },
];
const ESP: [ChildSuite; 2] = [ChildSuite::AES128GCM, ChildSuite::AES256_SHA256];

/// The configuration both machine targets use.
pub fn config() -> Config<'static> {
    Config {
        ike_suites: &IKE,
        child_suites: &ESP,
        psk: b"fuzz",
        local_id: Identity {
            id_type: IdType::FQDN,
            data: b"bng",
        },
        remote_id: None,
        ts_i: bng_ikev2::payload::TrafficSelector::ANY_V4,
        ts_r: bng_ikev2::payload::TrafficSelector::ANY_V4,
        retransmit: Duration::from_millis(500),
        max_retransmits: 3,
    }
}

/// Splits the input into (time step, message) records: 1 byte of milliseconds x 16,
/// 2 bytes of length, then the message.
fn records(mut data: &[u8]) -> impl Iterator<Item = (u64, &[u8])> {
    core::iter::from_fn(move || {
        let (&step, rest) = data.split_first()?;
        let (len, rest) = rest.split_first_chunk::<2>()?;
        let len = usize::from(u16::from_be_bytes(*len));
        let (msg, rest) = rest.split_at_checked(len.min(rest.len()))?;
        data = rest;
        Some((u64::from(step) * 16, msg))
    })
}

fn drain(sa: &mut IkeSa<'_>, now: Duration, tx: &mut [u8]) {
    let mut n = 0;
    while let Some(a) = sa.poll_action(now, tx) {
        n += 1;
        assert!(n <= 8, "the outbox is bounded");
        if let Action::Send { len } = a {
            assert!(len <= tx.len());
        }
    }
    if let Some(t) = sa.poll_timeout() {
        assert!(t >= now || t + Duration::from_secs(3600) >= now);
    }
}

/// Responder (RFC 7296 sections 1.2, 2.6): the first record goes to the stateless
/// front end, the rest to the SA it creates. With the cookie threshold at 0, no SA
/// may be created for a request without a valid cookie.
pub fn ikev2_responder(data: &[u8]) {
    let cfg = config();
    let mut rng = FuzzRng(1);
    let Ok(mut front) = Responder::new(&cfg, &mut rng) else {
        return;
    };
    let strict = data.first().is_some_and(|b| b & 1 == 1);
    front.cookie_threshold = if strict { 0 } else { usize::MAX };
    // Bit 1: offer EAP (RFC 7296 section 2.16); the fuzz input's next record then
    // also serves as the "RADIUS" answer to every Action::Eap.
    let eap = data.first().is_some_and(|b| b & 2 == 2);
    if eap {
        front.set_eap();
    }
    let local: SocketAddr = ([192, 0, 2, 1], 500).into();
    let remote: SocketAddr = ([192, 0, 2, 2], 500).into();
    let mut now = Duration::from_secs(1);
    let mut tx = vec![0u8; 4096];
    let mut sa: Option<IkeSa<'_>> = None;
    for (step, msg) in records(data.get(1..).unwrap_or_default()) {
        now += Duration::from_millis(step);
        match sa.as_mut() {
            None => match front.handle_init(now, 0, local, remote, msg, &mut rng, &mut tx) {
                Ok(InitOutcome::NewSa(s)) => {
                    if strict {
                        let has_cookie = Packet::new_checked(msg).is_ok_and(|p| {
                            p.payloads().flatten().any(|r| {
                                matches!(Payload::parse(&r), Ok(Payload::Notify(n))
                                    if n.notify_type == bng_ikev2::types::NotifyType::COOKIE)
                            })
                        });
                        assert!(has_cookie, "state created without a cookie");
                    }
                    sa = Some(s);
                }
                Ok(InitOutcome::Reply(len)) => assert!(len <= tx.len()),
                Err(_) => {}
            },
            Some(s) => {
                let _ = s.handle_packet(now, msg, &mut rng);
                s.handle_timeout(now);
            }
        }
        if let Some(s) = sa.as_mut() {
            if eap && !s.is_established() {
                let _ = s.set_msk(msg.get(..32).unwrap_or(msg));
                let _ = s.eap_reply(now, msg, &mut rng);
            }
            drain(s, now, &mut tx);
        }
    }
}

/// Initiator (RFC 7296 section 1.2): every record is a response candidate.
pub fn ikev2_initiator(data: &[u8]) {
    let cfg = config();
    let mut rng = FuzzRng(2);
    let local: SocketAddr = ([192, 0, 2, 1], 500).into();
    let remote: SocketAddr = ([192, 0, 2, 2], 500).into();
    let mut now = Duration::from_secs(1);
    let Ok(mut sa) = IkeSa::initiate(&cfg, now, local, remote, &mut rng) else {
        return;
    };
    let mut tx = vec![0u8; 4096];
    drain(&mut sa, now, &mut tx);
    for (step, msg) in records(data) {
        now += Duration::from_millis(step);
        let _ = sa.handle_packet(now, msg, &mut rng);
        sa.handle_timeout(now);
        drain(&mut sa, now, &mut tx);
    }
}

/// A responder whose IKE_AUTH request arrives in fragments, and those fragments: a
/// deterministic handshake with long identities and 256-byte fragments (RFC 7383).
fn fragmented_auth<'c>(
    cfg: &'c Config<'c>,
    rng: &mut FuzzRng,
) -> Option<(IkeSa<'c>, Vec<Vec<u8>>)> {
    let local: SocketAddr = ([192, 0, 2, 1], 500).into();
    let remote: SocketAddr = ([192, 0, 2, 2], 500).into();
    let now = Duration::from_secs(1);
    let opts = Options::default().with_fragmentation(256);
    let mut ini = IkeSa::initiate_with(cfg, opts, now, local, remote, rng).ok()?;
    let mut front = Responder::new(cfg, rng).ok()?;
    front.options = opts;
    let mut tx = vec![0u8; 4096];
    let Some(Action::Send { len }) = ini.poll_action(now, &mut tx) else {
        return None;
    };
    let init = tx.get(..len)?.to_vec();
    let Ok(InitOutcome::NewSa(mut resp)) =
        front.handle_init(now, 0, remote, local, &init, rng, &mut tx)
    else {
        return None;
    };
    let Some(Action::Send { len }) = resp.poll_action(now, &mut tx) else {
        return None;
    };
    ini.handle_packet(now, tx.get(..len)?, rng).ok()?;
    let mut frags = Vec::new();
    while let Some(Action::Send { len }) = ini.poll_action(now, &mut tx) {
        frags.push(tx.get(..len)?.to_vec());
    }
    Some((resp, frags))
}

/// The identity of [`ikev2_fragments`]: long enough for three 256-byte fragments.
static LONG_ID: [u8; 250] = [b'f'; 250];

/// Fragment reassembly (RFC 7383 section 2.6) in a responder waiting for a
/// fragmented IKE_AUTH. The first byte sizes the caller's storage (x 16 bytes), the
/// rest are operations: `0 i` delivers genuine fragment i, `1 i at x` delivers it
/// with byte `at` XORed with x, `2 len bytes` delivers an arbitrary datagram, `3 ms`
/// advances the clock. Checked: no panic, the outbox stays bounded, the storage never
/// holds more than the fragment cap, and the SA is established only once every
/// genuine fragment was delivered intact.
pub fn ikev2_fragments(data: &[u8]) {
    let _ = fragments_run(data);
}

/// The body of [`ikev2_fragments`]; true when the SA came up.
fn fragments_run(data: &[u8]) -> bool {
    let mut cfg = config();
    cfg.local_id = Identity {
        id_type: IdType::FQDN,
        data: &LONG_ID,
    };
    let mut rng = FuzzRng(3);
    let Some((mut sa, frags)) = fragmented_auth(&cfg, &mut rng) else {
        return false;
    };
    assert!(frags.len() >= 2, "the seed handshake is fragmented");
    let Some((&size, mut ops)) = data.split_first() else {
        return false;
    };
    let mut buf = vec![0u8; usize::from(size) * 16];
    let mut store = Reassembly::new(&mut buf);
    let mut now = Duration::from_secs(1);
    let mut tx = vec![0u8; 4096];
    let mut intact = vec![false; frags.len()];
    while let Some((&op, rest)) = ops.split_first() {
        ops = rest;
        let msg: Vec<u8> = match op % 4 {
            0 | 1 => {
                let Some((&i, rest)) = ops.split_first() else {
                    break;
                };
                ops = rest;
                let k = usize::from(i) % frags.len();
                let mut m = frags.get(k).cloned().unwrap_or_default();
                if op % 4 == 1 {
                    let Some((&[at, x], rest)) = ops.split_first_chunk::<2>().map(|(a, r)| (a, r))
                    else {
                        break;
                    };
                    ops = rest;
                    let n = m.len();
                    if let Some(b) = m.get_mut(usize::from(at) % n) {
                        *b ^= x;
                    }
                    if x == 0 {
                        if let Some(f) = intact.get_mut(k) {
                            *f = true;
                        }
                    }
                } else if let Some(f) = intact.get_mut(k) {
                    *f = true;
                }
                m
            }
            2 => {
                let Some((len, rest)) = ops.split_first_chunk::<2>() else {
                    break;
                };
                let len = usize::from(u16::from_be_bytes(*len)).min(rest.len());
                let (m, rest) = rest.split_at(len);
                ops = rest;
                m.to_vec()
            }
            _ => {
                let Some((&ms, rest)) = ops.split_first() else {
                    break;
                };
                ops = rest;
                now += Duration::from_millis(u64::from(ms) * 64);
                sa.handle_timeout(now);
                drain(&mut sa, now, &mut tx);
                continue;
            }
        };
        let _ = sa.handle_packet_with(now, &msg, &mut store, &mut rng);
        let (req, resp) = store.held();
        assert!(req <= 16 && resp <= 16, "fragment cap");
        if sa.is_established() {
            assert!(
                intact.iter().all(|f| *f),
                "established before every genuine fragment arrived"
            );
        }
        drain(&mut sa, now, &mut tx);
    }
    sa.is_established()
}

#[cfg(test)]
mod tests {
    #[test]
    fn fragment_seeds_do_what_their_names_say() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/corpus/ikev2_fragments/");
        for (name, up) in [
            ("in_order", true),
            ("reversed_with_duplicate", true),
            ("tampered_then_genuine", true),
            ("storage_too_small", false),
        ] {
            let data = std::fs::read(format!("{dir}{name}")).expect("seed");
            assert_eq!(super::fragments_run(&data), up, "{name}");
        }
    }
}
