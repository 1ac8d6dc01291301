//! Criterion benches for PPPoE discovery (filled in below).

fn main() {}
