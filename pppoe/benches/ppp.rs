//! PPP control-plane benchmarks (filled in below).
#![allow(missing_docs, reason = "bench")]
fn main() {}
