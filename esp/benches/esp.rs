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
    clippy::cast_precision_loss,
    clippy::std_instead_of_core,
    clippy::too_many_lines,
    clippy::many_single_char_names,
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

/// Restores the inner IPv4 header's version/IHL and total length that the previous
/// iteration's in-place encapsulation overwrote (encap checks them, RFC 791).
fn reset(buf: &mut [u8], size: usize) {
    buf[HEAD] = 0x45;
    buf[HEAD + 2..HEAD + 4].copy_from_slice(&u16::try_from(size).unwrap().to_be_bytes());
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
                reset(&mut buf, size);
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
                    reset(&mut buf, size);
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

/// Median of a list of ratios.
fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Paired measurement for a shared, loaded machine: chunks of 32 raw AEAD
/// operations and 32 ESP operations alternate, so both see the same load; the
/// ratio reported is the median over chunks of raw time / ESP time (1.0 = ESP
/// costs nothing beyond the AEAD), plus the fastest chunk's per-packet times.
fn paired<A: Aead + Clone>(c: &mut Criterion, name: &str, keymat: &[u8]) {
    const CHUNK: u64 = 32;
    let t = AeadTransform::<A>::from_keymat(keymat).unwrap();
    let nonce = [7u8; 12];
    let aad = [1u8; 8];
    let mut g = c.benchmark_group(format!("{name}_paired"));
    for size in SIZES {
        g.throughput(Throughput::Bytes(size as u64));
        // Encapsulation against seal, with the default 4-byte alignment and with
        // `pad_align = 16` (whole AES blocks).
        for align in [4u16, 16] {
            let (mut ratios, mut best) = (Vec::new(), (f64::MAX, f64::MAX));
            // Also a raw seal of exactly the bytes ESP encrypts (payload + trailer
            // padded to `align`): same length, same 8-byte AAD, so ring's partial
            // last block (or its absence) is on both sides.
            let esp_len = (size + 2).next_multiple_of(usize::from(align));
            let (mut same, mut best_same) = (Vec::new(), f64::MAX);
            let id = if align == 4 {
                "encap_vs_seal"
            } else {
                "encap_a16_vs_seal"
            };
            g.bench_with_input(BenchmarkId::new(id, size), &size, |b, &size| {
                let mut c = cfg();
                c.pad_align = align;
                let mut tx = Outbound::new(c, t.clone(), Duration::ZERO).unwrap();
                let mut rng = rand::rngs::StdRng::seed_from_u64(1);
                let mut buf = inner(size);
                let mut raw = vec![0u8; size];
                let mut raw_esp = vec![0u8; esp_len];
                let mut tag = [0u8; 16];
                b.iter_custom(|iters| {
                    let mut esp_total = std::time::Duration::ZERO;
                    let mut done = 0;
                    while done < iters {
                        let n = CHUNK.min(iters - done);
                        let t0 = std::time::Instant::now();
                        for _ in 0..n {
                            t.aead()
                                .seal(&nonce, &aad, black_box(&mut raw), &mut tag)
                                .unwrap();
                        }
                        let r = t0.elapsed();
                        let t2 = std::time::Instant::now();
                        for _ in 0..n {
                            t.aead()
                                .seal(&nonce, &aad, black_box(&mut raw_esp), &mut tag)
                                .unwrap();
                        }
                        let r2 = t2.elapsed().as_nanos() as f64 / n as f64;
                        let t1 = std::time::Instant::now();
                        for _ in 0..n {
                            reset(&mut buf, size);
                            let out = tx
                                .encap(
                                    Duration::ZERO,
                                    black_box(&mut buf),
                                    HEAD..HEAD + size,
                                    &mut rng,
                                )
                                .unwrap();
                            black_box(out);
                        }
                        let e = t1.elapsed();
                        let (rn, en) = (
                            r.as_nanos() as f64 / n as f64,
                            e.as_nanos() as f64 / n as f64,
                        );
                        ratios.push(rn / en);
                        same.push(r2 / en);
                        best = (best.0.min(rn), best.1.min(en));
                        best_same = best_same.min(r2);
                        esp_total += e;
                        done += n;
                    }
                    esp_total
                });
            });
            if !ratios.is_empty() {
                eprintln!(
                    "PAIRED {name} {id} {size} ratio_raw_over_esp={:.3} best_raw_ns={:.1} best_esp_ns={:.1} \
                     same_len={esp_len} ratio_same_len={:.3} best_raw_same_len_ns={best_same:.1}",
                    median(&mut ratios),
                    best.0,
                    best.1,
                    median(&mut same),
                );
            }
        }
        // Decapsulation against open (fresh packets and copies made untimed), and
        // against an open of exactly the bytes ESP decrypts (payload + trailer,
        // 4-byte aligned) so ring's partial last block is on both sides.
        let (mut ratios, mut best) = (Vec::new(), (f64::MAX, f64::MAX));
        let esp_len = (size + 2).next_multiple_of(4);
        let (mut same, mut best_same) = (Vec::new(), f64::MAX);
        g.bench_with_input(
            BenchmarkId::new("decap_vs_open", size),
            &size,
            |b, &size| {
                let mut tx = Outbound::new(cfg(), t.clone(), Duration::ZERO).unwrap();
                let mut rx = Inbound::new(cfg(), t.clone(), Duration::ZERO).unwrap();
                let mut rng = rand::rngs::StdRng::seed_from_u64(2);
                let template = inner(size);
                let mut sealed = vec![0u8; size + 16];
                let mut tag = [0u8; 16];
                t.aead()
                    .seal(&nonce, &aad, &mut sealed[..size], &mut tag)
                    .unwrap();
                sealed[size..].copy_from_slice(&tag);
                let mut sealed_same = vec![0u8; esp_len + 16];
                t.aead()
                    .seal(&nonce, &aad, &mut sealed_same[..esp_len], &mut tag)
                    .unwrap();
                sealed_same[esp_len..].copy_from_slice(&tag);
                let mut raws: Vec<Vec<u8>> = (0..CHUNK).map(|_| sealed.clone()).collect();
                let mut raws_same: Vec<Vec<u8>> = (0..CHUNK).map(|_| sealed_same.clone()).collect();
                let mut pkts: Vec<(Vec<u8>, core::ops::Range<usize>)> =
                    (0..CHUNK).map(|_| (template.clone(), 0..0)).collect();
                b.iter_custom(|iters| {
                    let mut esp_total = std::time::Duration::ZERO;
                    let mut done = 0;
                    while done < iters {
                        let n = CHUNK.min(iters - done);
                        let k = usize::try_from(n).unwrap();
                        for r in raws_same.iter_mut().take(k) {
                            r.copy_from_slice(&sealed_same);
                        }
                        for (r, (p, range)) in raws.iter_mut().zip(pkts.iter_mut()).take(k) {
                            r.copy_from_slice(&sealed);
                            p.copy_from_slice(&template);
                            *range = tx
                                .encap(Duration::ZERO, p, HEAD..HEAD + size, &mut rng)
                                .unwrap();
                        }
                        let t0 = std::time::Instant::now();
                        for r in raws.iter_mut().take(k) {
                            t.aead().open(&nonce, &aad, black_box(r)).unwrap();
                        }
                        let r = t0.elapsed();
                        let t2 = std::time::Instant::now();
                        for r in raws_same.iter_mut().take(k) {
                            t.aead().open(&nonce, &aad, black_box(r)).unwrap();
                        }
                        let r2 = t2.elapsed().as_nanos() as f64 / n as f64;
                        let t1 = std::time::Instant::now();
                        for (p, range) in pkts.iter_mut().take(k) {
                            let d = rx
                                .decap(Duration::ZERO, black_box(p), range.clone())
                                .unwrap();
                            black_box(d);
                        }
                        let e = t1.elapsed();
                        let (rn, en) = (
                            r.as_nanos() as f64 / n as f64,
                            e.as_nanos() as f64 / n as f64,
                        );
                        ratios.push(rn / en);
                        same.push(r2 / en);
                        best = (best.0.min(rn), best.1.min(en));
                        best_same = best_same.min(r2);
                        esp_total += e;
                        done += n;
                    }
                    esp_total
                });
            },
        );
        if !ratios.is_empty() {
            eprintln!(
                "PAIRED {name} decap {size} ratio_raw_over_esp={:.3} best_raw_ns={:.1} best_esp_ns={:.1} \
                 same_len={esp_len} ratio_same_len={:.3} best_raw_same_len_ns={best_same:.1}",
                median(&mut ratios),
                best.0,
                best.1,
                median(&mut same),
            );
        }
    }
    g.finish();
}

fn benches(c: &mut Criterion) {
    paired::<RcAes128Gcm>(c, "rustcrypto_aes128gcm", &[3u8; 20]);
    paired::<RcAes256Gcm>(c, "rustcrypto_aes256gcm", &[3u8; 36]);
    #[cfg(feature = "ring")]
    {
        use bng_esp::ring::{RingAes128Gcm, RingAes256Gcm};
        paired::<RingAes128Gcm>(c, "ring_aes128gcm", &[3u8; 20]);
        paired::<RingAes256Gcm>(c, "ring_aes256gcm", &[3u8; 36]);
    }
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
