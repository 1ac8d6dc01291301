//! A software prefetch of what a reference points to, for the nodes' VPP-style
//! "fetch the table entries of the packets a few ahead" loops. The only `unsafe` is
//! the intrinsic call; the pointer comes from a reference, so it is valid and aligned,
//! and a prefetch is a hint that never faults nor changes memory.

#![allow(unsafe_code, reason = "_mm_prefetch; the block has a SAFETY comment")]

/// Asks the CPU to bring the cache line holding `*r` into all cache levels
/// (`PREFETCHT0`). A no-op on targets other than `x86_64`.
#[inline(always)]
pub fn prefetch_read<T>(r: &T) {
    #[cfg(target_arch = "x86_64")]
    {
        use core::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        let p = core::ptr::from_ref(r).cast::<i8>();
        // SAFETY: `_mm_prefetch` is SSE, which every x86_64 CPU has (it is in the
        // target's baseline features); a prefetch never faults, reads nothing into the
        // program and writes nothing, and `p` comes from a live reference anyway.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(p) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = r;
    }
}

/// Asks the CPU to bring the cache line holding `*r` into the cache in a state that
/// can be written without another round trip (`PREFETCHW`): for lines another core
/// wrote last (a packet handed over by another worker, a buffer it freed) that this
/// core is about to rewrite. A no-op on targets other than `x86_64`, and a hint only:
/// on CPUs without the instruction it is a `NOP`.
#[inline(always)]
pub fn prefetch_write<T>(r: &mut T) {
    #[cfg(target_arch = "x86_64")]
    {
        use core::arch::x86_64::{_MM_HINT_ET0, _mm_prefetch};
        let p = core::ptr::from_mut(r).cast::<i8>().cast_const();
        // SAFETY: as for `prefetch_read`: a prefetch never faults and changes no memory
        // (the write intent only moves the line into this core's cache exclusively), and
        // `p` comes from a live exclusive reference. `_MM_HINT_ET0` is `PREFETCHW`, a
        // `NOP` on x86_64 CPUs that lack it (its opcode is in the reserved-NOP space).
        unsafe { _mm_prefetch::<_MM_HINT_ET0>(p) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = r;
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn prefetch_of_any_reference_is_harmless() {
        let v = [1u64, 2, 3];
        super::prefetch_read(&v);
        super::prefetch_read(&v[2]);
        super::prefetch_read(&());
        let mut w = [4u8; 3];
        super::prefetch_write(&mut w[1]);
        assert_eq!(v, [1, 2, 3]);
        assert_eq!(w, [4, 4, 4]);
    }
}
