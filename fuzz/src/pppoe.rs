//! Fuzz bodies for `bng-pppoe`.

/// The targets of this module, by name (each has `fuzz_targets/<name>.rs` and
/// `corpus/<name>/`).
pub const TARGETS: &[(&str, crate::Body)] = &[("pppoe_discovery", pppoe_discovery)];

/// PPPoE discovery (RFC 2516): view, Repr, tag walk; parse -> emit -> parse.
pub fn pppoe_discovery(data: &[u8]) {
    use bng_pppoe::discovery::{Packet, Repr};
    let Ok(p) = Packet::new_checked(data) else {
        return;
    };
    for t in p.tags() {
        let _ = t;
    }
    let Ok(r) = Repr::parse(&p) else { return };
    let mut out = [0u8; 65_600];
    let n = r.emit(&mut out).expect("a parsed packet must emit");
    assert_eq!(
        out.get(..n),
        Some(p.as_bytes()),
        "re-emit must be byte-identical"
    );
    let p2 = Packet::new_checked(out.get(..n).unwrap_or_default()).expect("re-parse view");
    let r2 = Repr::parse(&p2).expect("re-parse repr");
    assert_eq!(r, r2);
}
