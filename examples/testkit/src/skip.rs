//! Skipping tests that need the outside world, and refusing to skip in CI.

/// Environment variable that turns every skip into a failure (set by `.ci/run`).
pub const NO_SKIP_ENV: &str = "BNG_NO_SKIP";

/// True when skips are failures.
#[must_use]
pub fn no_skip() -> bool {
    std::env::var_os(NO_SKIP_ENV).is_some_and(|v| !v.is_empty() && v != "0")
}

/// Reports that a test cannot run here because of `reason`. Prints the reason and
/// returns (the caller then returns from the test), or panics when [`NO_SKIP_ENV`]
/// is set.
pub fn skip_or_fail(test: &str, reason: &str) {
    assert!(
        !no_skip(),
        "{test}: cannot run here and {NO_SKIP_ENV} is set: {reason}"
    );
    eprintln!("SKIP {test}: {reason} (set {NO_SKIP_ENV}=1 to make this a failure)");
}
