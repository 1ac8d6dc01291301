//! The README's main command: `bngdump --check` over real captures prints one decoded
//! line per frame and finds every parsed message re-emitting byte-identically.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::std_instead_of_core,
    reason = "tests"
)]

use std::process::Command;

fn bngdump(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_bngdump"))
        .args(args)
        .output()
        .expect("run bngdump");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn bngdump_checks_the_pppoe_corpus() {
    let Some(files) =
        bng_testkit::corpus::files("bngdump_checks_the_pppoe_corpus", "pppoe", &[".pcap"])
    else {
        return;
    };
    let f = files
        .iter()
        .find(|p| p.ends_with("tcpdump__pppoes.pcap"))
        .expect("tcpdump__pppoes.pcap in the corpus");
    let (ok, text) = bngdump(&["--check", f.to_str().unwrap()]);
    assert!(ok, "bngdump --check failed:\n{text}");
    let frames = bng_testkit::corpus::read_capture(f, |_| {});
    let lines = text.lines().filter(|l| l.contains("pppoes.pcap:")).count();
    assert_eq!(lines, frames, "one line per frame:\n{text}");
    assert!(text.contains("PPPoE"), "decoded PPPoE fields:\n{text}");
    let last = text.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("check:") && last.contains(" 0 differ"),
        "{last}"
    );
    // both frames are LCP Echo-Requests: decoded and re-emitted byte for byte
    assert!(text.contains("LCP Echo-Request"), "{text}");
    assert!(
        last.starts_with("check: 2 re-emitted identically"),
        "{last}"
    );
}

#[test]
fn bngdump_rejects_a_missing_file() {
    let (ok, _) = bngdump(&["/nonexistent.pcap"]);
    assert!(!ok);
}
