//! Every RADIUS frame of `../shared/corpus/radius` parses without panic; every
//! well-formed packet re-emits byte-identically, and its attribute helpers run.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::many_single_char_names,
    clippy::map_unwrap_or,
    reason = "tests"
)]

use bng_radius::packet::{Packet, Repr};
use bng_testkit::corpus;

const PORTS: [u16; 5] = [1812, 1813, 1645, 1646, 3799];

#[test]
fn radius_corpus_parses_and_reemits() {
    let (mut seen, mut good, mut same) = (0, 0, 0);
    let mut bad = vec![];
    let s = corpus::walk("radius corpus", "radius", |f| {
        let Some(u) = f.udp() else { return };
        if !PORTS.contains(&u.sport) && !PORTS.contains(&u.dport) {
            return;
        }
        seen += 1;
        let p = match Packet::new_checked(u.payload) {
            Ok(p) => p,
            Err(e) => {
                bad.push(format!("{}#{}: {e}", f.file.display(), f.number));
                return;
            }
        };
        good += 1;
        for a in p.attributes() {
            let a = a.unwrap();
            let _ = (
                a.as_u32(),
                a.as_ipv4(),
                a.as_ipv6(),
                a.as_ipv6_prefix(),
                a.as_text(),
            );
            if let Some((_, subs)) = a.as_vendor_specific() {
                subs.for_each(drop);
            }
            let _ = a.as_extended();
        }
        let r = Repr::parse(&p).unwrap();
        let mut out = vec![0u8; r.buffer_len()];
        let n = r.emit(&mut out).expect("emit a parsed packet");
        assert_eq!(&out[..n], p.as_bytes(), "{}#{}", f.file.display(), f.number);
        same += 1;
    });
    if let Some(s) = s {
        eprintln!(
            "corpus/radius: {} files, {} frames, {seen} RADIUS, {good} parsed, {same} re-emitted",
            s.files, s.frames
        );
        for b in &bad {
            eprintln!("  rejected: {b}");
        }
        assert!(
            seen >= 20,
            "expected RADIUS frames in the corpus, saw {seen}"
        );
        // Only the deliberately broken captures are refused.
        assert!(
            bad.iter()
                .all(|b| b.contains("wrong") || b.contains("asan")),
            "{bad:?}"
        );
        assert_eq!(good, same);
    }
}
