//! ESP encapsulation and decapsulation (tunnel mode, IPv4, AES-GCM-16) next to
//! the raw AEAD seal/open of the same provider on the same payload size, in the
//! same run: `RustCrypto` `aes-gcm` always, `ring` with `--features ring`.
//!
//! `cargo bench -p bng-esp --features ring --bench esp -- --warm-up-time 1 --measurement-time 3`

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::missing_docs_in_private_items,
    missing_docs,
    reason = "bench"
)]

use core::hint::black_box;
use core::time::Duration;

use bng_esp::crypto::{Aead, AeadTransform, RcAes128Gcm, RcAes256Gcm};
use bng_esp::sa::{Config, Inbound, Mode, Outbound, Tunnel};
use bng_esp::wire::Spi;
use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rand::SeedableRng;

const SIZES: [usize; 3] = [64, 512, 1400];
const HEAD: usize = 64;

fn cfg() -> Config {
    Config::new(
        Spi(0x1000),
        Mode::Tunnel(Tunnel::V4 {
            src: [192, 0, 2, 1],
            dst: [192, 0, 2, 2],
        }),
    )
}

fn inner(size: usize) -> Vec<u8> {
    let mut buf = vec![0u8; HEAD + size + 64];
    buf[HEAD] = 0x45;
    buf[HEAD + 2..HEAD + 4].copy_from_slice(&u16::try_from(size).unwrap().to_be_bytes());
    buf
}

fn bench_provider<A: Aead + Clone>(c: &mut Criterion, name: &str, keymat: &[u8]) {
    let t = AeadTransform::<A>::from_keymat(keymat).unwrap();
    let mut g = c.benchmark_group(name);
    for size in SIZES {
        g.throughput(Throughput::Bytes(size as u64));
        let nonce = [7u8; 12];
        let aad = [1u8; 8];

        // Raw AEAD seal of `size` bytes in place.
        g.bench_with_input(BenchmarkId::new("raw_seal", size), &size, |b, &size| {
            let mut buf = vec![0u8; size];
            let mut tag = [0u8; 16];
            b.iter(|| {
                t.aead()
                    .seal(&nonce, &aad, black_box(&mut buf), &mut tag)
                    .unwrap();
            });
        });

        // The same AEAD over exactly the bytes ESP encrypts (payload + trailer,
        // aligned to 4): separates the cost of the partial last block from framing.
        let esp_len = (size + 2).next_multiple_of(4);
        g.bench_with_input(BenchmarkId::new("raw_seal_esp_len", size), &size, |b, _| {
            let mut buf = vec![0u8; esp_len];
            let mut tag = [0u8; 16];
            b.iter(|| {
                t.aead()
                    .seal(&nonce, &aad, black_box(&mut buf), &mut tag)
                    .unwrap();
            });
        });

        // ESP tunnel-mode encapsulation of a `size`-byte inner packet.
        g.bench_with_input(BenchmarkId::new("esp_encap", size), &size, |b, &size| {
            let mut tx = Outbound::new(cfg(), t.clone(), Duration::ZERO).unwrap();
            let mut rng = rand::rngs::StdRng::seed_from_u64(1);
            let mut buf = inner(size);
            b.iter(|| {
                // The payload was encrypted in place; only the version nibble is read.
                buf[HEAD] = 0x45;
                let r = tx
                    .encap(
                        Duration::ZERO,
                        black_box(&mut buf),
                        HEAD..HEAD + size,
                        &mut rng,
                    )
                    .unwrap();
                black_box(r);
            });
        });

        // The same with `pad_align = 16`: whole AES blocks, a few more bytes on the wire.
        g.bench_with_input(
            BenchmarkId::new("esp_encap_a16", size),
            &size,
            |b, &size| {
                let mut c = cfg();
                c.pad_align = 16;
                let mut tx = Outbound::new(c, t.clone(), Duration::ZERO).unwrap();
                let mut rng = rand::rngs::StdRng::seed_from_u64(1);
                let mut buf = inner(size);
                b.iter(|| {
                    buf[HEAD] = 0x45;
                    let r = tx
                        .encap(
                            Duration::ZERO,
                            black_box(&mut buf),
                            HEAD..HEAD + size,
                            &mut rng,
                        )
                        .unwrap();
                    black_box(r);
                });
            },
        );

        // Raw AEAD open (ciphertext + tag), a fresh copy per iteration (untimed).
        g.bench_with_input(BenchmarkId::new("raw_open", size), &size, |b, &size| {
            let mut sealed = vec![0u8; size + 16];
            let mut tag = [0u8; 16];
            t.aead()
                .seal(&nonce, &aad, &mut sealed[..size], &mut tag)
                .unwrap();
            sealed[size..].copy_from_slice(&tag);
            b.iter_batched_ref(
                || sealed.clone(),
                |buf| t.aead().open(&nonce, &aad, black_box(buf)).unwrap(),
                BatchSize::SmallInput,
            );
        });

        // ESP decapsulation; a fresh packet (new sequence number) per iteration (untimed).
        g.bench_with_input(BenchmarkId::new("esp_decap", size), &size, |b, &size| {
            let mut tx = Outbound::new(cfg(), t.clone(), Duration::ZERO).unwrap();
            let mut rx = Inbound::new(cfg(), t.clone(), Duration::ZERO).unwrap();
            let mut rng = rand::rngs::StdRng::seed_from_u64(2);
            let template = inner(size);
            b.iter_batched_ref(
                || {
                    let mut buf = template.clone();
                    let r = tx
                        .encap(Duration::ZERO, &mut buf, HEAD..HEAD + size, &mut rng)
                        .unwrap();
                    (buf, r)
                },
                |(buf, r)| {
                    let d = rx.decap(Duration::ZERO, black_box(buf), r.clone()).unwrap();
                    black_box(d);
                },
                BatchSize::SmallInput,
            );
        });
    }
    g.finish();
}

fn benches(c: &mut Criterion) {
    bench_provider::<RcAes128Gcm>(c, "rustcrypto_aes128gcm", &[3u8; 20]);
    bench_provider::<RcAes256Gcm>(c, "rustcrypto_aes256gcm", &[3u8; 36]);
    #[cfg(feature = "ring")]
    {
        use bng_esp::ring::{RingAes128Gcm, RingAes256Gcm};
        bench_provider::<RingAes128Gcm>(c, "ring_aes128gcm", &[3u8; 20]);
        bench_provider::<RingAes256Gcm>(c, "ring_aes256gcm", &[3u8; 36]);
    }
}

criterion_group!(esp, benches);
criterion_main!(esp);
