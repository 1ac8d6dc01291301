//! Criterion benches (placeholder, filled in below).
fn main() {}
