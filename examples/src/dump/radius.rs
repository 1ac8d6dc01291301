//! bngdump decoding for `bng-radius` (filled in by the radius issue).

use bng_testkit::corpus::Udp;

use super::{Check, Line};

/// Decodes a UDP datagram already classified as radius by port.
pub(super) fn decode(u: &Udp<'_>) -> Line {
    Line::new(
        format!("radius: {} bytes (not decoded yet)", u.payload.len()),
        Check::NotApplicable,
    )
}
