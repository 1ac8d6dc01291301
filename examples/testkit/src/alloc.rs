//! A counting global allocator for zero-allocation proofs.
//!
//! ```text
//! #[global_allocator]
//! static ALLOC: bng_testkit::alloc::CountingAlloc = bng_testkit::alloc::CountingAlloc;
//!
//! #[test]
//! fn parse_emit_allocate_nothing() {
//!     let n = bng_testkit::alloc::count_allocations(|| { /* parse, emit */ });
//!     assert_eq!(n, 0);
//! }
//! ```
//!
//! Counting is per thread, so the test harness's other threads do not disturb it.

#![allow(
    unsafe_code,
    reason = "a GlobalAlloc implementation is unsafe by definition"
)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

thread_local! {
    static COUNT: Cell<u64> = const { Cell::new(0) };
}

/// Wraps the system allocator and counts allocations (and reallocations) made by the
/// current thread.
#[derive(Debug, Clone, Copy, Default)]
pub struct CountingAlloc;

fn bump() {
    // `try_with` so an allocation during thread teardown does not abort.
    let _ = COUNT.try_with(|c| c.set(c.get() + 1));
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so
// `System`'s guarantees hold; the counter is a const-initialised thread-local with no
// destructor and never allocates.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        bump();
        // SAFETY: forwarded unchanged; the caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        bump();
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        bump();
        // SAFETY: as above; `ptr` came from this allocator, i.e. from `System`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// Allocations made by this thread so far (only meaningful under [`CountingAlloc`]).
#[must_use]
pub fn allocations() -> u64 {
    COUNT.with(Cell::get)
}

/// Runs `f` and returns how many allocations this thread made meanwhile.
///
/// Panics if [`CountingAlloc`] is not the global allocator (it checks with a probe
/// allocation), so a test cannot pass by counting nothing.
pub fn count_allocations<R>(f: impl FnOnce() -> R) -> u64 {
    let before = allocations();
    drop(std::hint::black_box(Box::new(0u8)));
    assert!(
        allocations() > before,
        "CountingAlloc is not the #[global_allocator] of this test binary"
    );
    let before = allocations();
    let r = f();
    let n = allocations() - before;
    drop(std::hint::black_box(r));
    n
}
