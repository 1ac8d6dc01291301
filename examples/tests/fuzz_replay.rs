//! Replays every fuzz corpus (`fuzz/corpus/<target>/`) through the fuzz target bodies,
//! so CI checks them without libFuzzer (STYLE.md section 11). Crash reproducers that a
//! fuzz run finds go into the same directories and stay there as regressions.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::std_instead_of_core,
    reason = "tests"
)]

use std::path::Path;

#[test]
fn fuzz_corpora_replay() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
    let mut total = 0;
    for (name, body) in bng_fuzz::targets() {
        let dir = root.join(name);
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let mut n = 0;
        for e in entries {
            let path = e.expect("dir entry").path();
            let data = std::fs::read(&path).expect("read corpus file");
            body(&data);
            n += 1;
        }
        assert!(
            n > 0,
            "fuzz/corpus/{name} is empty: every target keeps at least one seed"
        );
        total += n;
    }
    eprintln!(
        "replayed {total} corpus files through {} targets",
        bng_fuzz::targets().count()
    );
}
