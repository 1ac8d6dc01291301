//! bngdump decoding for `bng-esp` (filled in by the esp issue).

use bng_testkit::corpus::Udp;

use super::{Check, Line};

/// Decodes a UDP datagram already classified as esp by port.
pub(super) fn decode(u: &Udp<'_>) -> Line {
    Line::new(
        format!("esp: {} bytes (not decoded yet)", u.payload.len()),
        Check::NotApplicable,
    )
}
