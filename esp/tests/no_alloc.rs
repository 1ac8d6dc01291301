//! Zero-allocation proof: encapsulation and decapsulation through every
//! transform, the header parse/emit and the replay window allocate nothing
//! (STYLE.md section 16 item 5).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::many_single_char_names,
    reason = "tests"
)]

use core::time::Duration;

use bng_esp::crypto::{Aes128GcmEsp, Aes256CbcHmacSha256, ChaCha20Poly1305Esp, Transform};
use bng_esp::sa::{Config, Inbound, Item, Mode, Outbound, Tunnel, UdpEncap};
use bng_esp::wire::{Packet, Repr, Spi};
use bng_testkit::alloc::{CountingAlloc, count_allocations};
use rand::SeedableRng;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

fn exercise<T: Transform + Clone>(t: T) {
    let mode = Mode::Tunnel(Tunnel::V4 {
        src: [1, 2, 3, 4],
        dst: [5, 6, 7, 8],
    });
    let mut cfg = Config::new(Spi(0x4242), mode);
    cfg.esn = true;
    cfg.udp_encap = Some(UdpEncap::default());
    let mut tx = Outbound::new(cfg, t.clone(), Duration::ZERO).unwrap();
    let mut rx = Inbound::new(cfg, t, Duration::ZERO).unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let n = count_allocations(|| {
        let mut buf = [0u8; 512];
        buf[64] = 0x45;
        buf[66..68].copy_from_slice(&100u16.to_be_bytes());
        let out = tx
            .encap(Duration::ZERO, &mut buf, 64..164, &mut rng)
            .unwrap();
        let d = rx.decap(Duration::ZERO, &mut buf, out).unwrap();
        let mut b2 = [0u8; 512];
        b2[64] = 0x45;
        b2[66..68].copy_from_slice(&100u16.to_be_bytes());
        let mut items = [Item {
            buf: &mut b2,
            range: 64..164,
            result: Ok(()),
        }];
        tx.encap_batch(Duration::ZERO, &mut items, &mut rng);
        rx.decap_batch(Duration::ZERO, &mut items);
        let p = Packet::new_checked(&buf[..]).unwrap();
        let r = Repr::parse(&p).unwrap();
        let mut h = [0u8; 8];
        r.emit(&mut h).unwrap();
        (d, items[0].result)
    });
    assert_eq!(n, 0, "ESP encap/decap allocated");
}

#[test]
fn encap_decap_allocate_nothing() {
    exercise(Aes128GcmEsp::from_keymat(&[1; 20]).unwrap());
    exercise(ChaCha20Poly1305Esp::from_keymat(&[1; 36]).unwrap());
    exercise(Aes256CbcHmacSha256::new(&[1; 32], &[2; 32]).unwrap());
}
