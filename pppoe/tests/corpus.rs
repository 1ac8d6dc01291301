//! Every PPPoE frame of `../shared/corpus/pppoe` and `../shared/corpus/ppp` parses
//! without panic; every well-formed discovery packet re-emits byte-identically.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests"
)]

use bng_pppoe::discovery::{Code, Packet, Repr};
use bng_testkit::corpus;

fn check(proto: &str) -> (usize, usize) {
    let (mut discovery, mut same) = (0, 0);
    let s = corpus::walk("pppoe corpus", proto, |f| {
        let Some((et, payload)) = f.ethertype_payload() else {
            return;
        };
        if et != 0x8863 && et != 0x8864 {
            return;
        }
        let Ok(p) = Packet::new_checked(payload) else {
            return;
        };
        if p.code() == Code::SESSION {
            return;
        }
        discovery += 1;
        if let Ok(r) = Repr::parse(&p) {
            let mut out = vec![0u8; r.buffer_len()];
            let n = r.emit(&mut out).expect("emit a parsed packet");
            assert_eq!(&out[..n], p.as_bytes(), "{}#{}", f.file.display(), f.number);
            same += 1;
        }
    });
    if let Some(s) = s {
        eprintln!(
            "corpus/{proto}: {} files, {} frames, {discovery} discovery, {same} re-emitted",
            s.files, s.frames
        );
    }
    (discovery, same)
}

#[test]
fn pppoe_corpus_parses_and_reemits() {
    let (d, same) = check("pppoe");
    if bng_testkit::corpus::dir().is_some() {
        assert!(d >= 10, "expected discovery frames in the corpus, saw {d}");
        assert_eq!(
            d, same,
            "every discovery frame of the corpus is well formed"
        );
    }
    let _ = check("ppp");
}
