//! Per-subscriber QoS: a token-bucket policer node (`qos-policer`, RFC 2697 single-rate
//! or RFC 2698 two-rate three-colour marking) and a downstream shaper ([`Shaper`]), both
//! with the subscriber's profile looked up by `meta.subscriber` in a table the control
//! plane fills (`set_profile(handle, profile)`, `clear(handle)`).
//!
//! Time is passed in (`now`, a [`Duration`] since the caller's epoch); nothing here reads
//! a clock. Token arithmetic is in integers: a bucket's credit is kept in
//! units x 10^9 (units: bits for QoS, packets for the punt limiter) and grows by
//! `rate x elapsed nanoseconds`, so no rounding is lost between packets.

use core::time::Duration;

/// Largest burst a [`TokenBucket`] holds, in its units (larger values are clamped).
pub const MAX_BURST: u64 = 10_000_000_000;

const NANOS: u128 = 1_000_000_000;

/// A token bucket: fills at `rate` units per second up to `burst` units, starts full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenBucket {
    rate: u64,
    cap: u128,
    credit: u128,
    last: Duration,
}

impl TokenBucket {
    /// A full bucket of `burst` units (at most [`MAX_BURST`]) filling at `rate` units
    /// per second, as of `now`.
    #[must_use]
    pub fn new(rate: u64, burst: u64, now: Duration) -> Self {
        let cap = u128::from(burst.min(MAX_BURST)) * NANOS;
        Self {
            rate,
            cap,
            credit: cap,
            last: now,
        }
    }

    /// Adds the tokens accrued since the last call (time going backwards adds none).
    #[inline]
    pub fn refill(&mut self, now: Duration) {
        if let Some(d) = now.checked_sub(self.last) {
            let add = d.as_nanos().saturating_mul(u128::from(self.rate));
            self.credit = self.credit.saturating_add(add).min(self.cap);
            self.last = now;
        }
    }

    /// Takes `units` tokens if the bucket (refilled to `now`) holds them.
    #[inline]
    pub fn take(&mut self, now: Duration, units: u64) -> bool {
        self.refill(now);
        let need = u128::from(units) * NANOS;
        if self.credit >= need {
            self.credit -= need;
            true
        } else {
            false
        }
    }

    /// Whole tokens in the bucket (as of the last refill).
    #[must_use]
    pub fn tokens(&self) -> u64 {
        u64::try_from(self.credit / NANOS).unwrap_or(u64::MAX)
    }

    /// When the bucket will hold `units` tokens (`None`: never, it is larger than the
    /// burst or the rate is 0).
    #[must_use]
    pub fn ready_at(&self, units: u64) -> Option<Duration> {
        let need = u128::from(units) * NANOS;
        if need > self.cap {
            return None;
        }
        if self.credit >= need {
            return Some(self.last);
        }
        if self.rate == 0 {
            return None;
        }
        let ns = (need - self.credit).div_ceil(u128::from(self.rate));
        let ns = u64::try_from(ns).ok()?;
        self.last.checked_add(Duration::from_nanos(ns))
    }
}
