//! Fixtures shared by the integration tests (`mod common;` in each that needs them).
//! Each test binary uses a part, hence `dead_code` is allowed.

#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "shared test fixtures; each test binary uses a part"
)]

use bng_pppoe::discovery::{Code, Packet, Repr, Tag, TagList, TagType};
use bng_pppoe::ethernet::{Frame, Header};
use bng_pppoe::ppp::Prng;
use bng_pppoe::tags::DiscoveryTags;

/// A deterministic stand-in for the caller's CSPRNG (tests only): `next_u32` is the
/// high half of the generator's next `u64`, `fill_bytes` takes the low byte of one
/// `u64` per byte.
pub struct TestRng(pub Prng);

impl rand_core::RngCore for TestRng {
    fn next_u32(&mut self) -> u32 {
        u32::try_from(self.0.next_u64() >> 32).unwrap()
    }
    fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }
    fn fill_bytes(&mut self, d: &mut [u8]) {
        for b in d {
            *b = self.0.next_u64().to_le_bytes()[0];
        }
    }
    fn try_fill_bytes(&mut self, d: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(d);
        Ok(())
    }
}

impl rand_core::CryptoRng for TestRng {}

/// A [`TestRng`] from `seed`.
pub fn rng(seed: u64) -> TestRng {
    TestRng(Prng::new(seed))
}

/// A discovery frame: `h` (Ethernet + VLANs) and a PPPoE discovery packet with `tags`.
pub fn discovery_frame(h: &Header, code: Code, sid: u16, tags: &[Tag<'_>]) -> Vec<u8> {
    let mut buf = vec![0u8; 1600];
    let l2 = h.emit(&mut buf).unwrap();
    let n = Repr {
        code,
        session_id: sid,
        tags: TagList::List(tags),
    }
    .emit(&mut buf[l2..])
    .unwrap();
    buf.truncate(l2 + n);
    buf
}

/// A tag.
pub fn tag(kind: TagType, value: &[u8]) -> Tag<'_> {
    Tag { kind, value }
}

/// A discovery frame taken apart: its Ethernet header, code, session id and tags.
pub fn parse_discovery(tx: &[u8]) -> (Header, Code, u16, DiscoveryTags<'_>) {
    let f = Frame::new_checked(tx).unwrap();
    let p = Packet::new_checked(f.payload).unwrap();
    let r = Repr::parse(&p).unwrap();
    let body = &f.payload[6..6 + usize::from(p.payload_len())];
    (
        f.header,
        r.code,
        r.session_id,
        DiscoveryTags::parse(body).unwrap(),
    )
}
