//! One memory mapping (anonymous, or a region of a socket's rings), unmapped on drop:
//! shared by the AF_XDP and TPACKET_V3 backends.

#![allow(unsafe_code, reason = "mmap/munmap; each block has a SAFETY comment")]
#![allow(
    clippy::cast_possible_wrap,
    reason = "ring offsets are page offsets far below i64::MAX"
)]

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::ptr::NonNull;

/// A memory mapping, unmapped on drop.
#[derive(Debug)]
pub(super) struct Mmap {
    pub(super) ptr: NonNull<u8>,
    pub(super) len: usize,
}

impl Mmap {
    /// Maps `len` bytes: anonymous memory when `fd` is `None`, else the region of the
    /// socket `fd` at `offset`.
    pub(super) fn new(len: usize, fd: Option<BorrowedFd<'_>>, offset: u64) -> io::Result<Self> {
        let (flags, raw) = match fd {
            Some(fd) => (libc::MAP_SHARED | libc::MAP_POPULATE, fd.as_raw_fd()),
            None => (libc::MAP_PRIVATE | libc::MAP_ANONYMOUS, -1),
        };
        // SAFETY: a fresh mapping at an address the kernel chooses; nothing aliases it,
        // the result is checked before use.
        let p = unsafe {
            libc::mmap(
                core::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                flags,
                raw,
                offset as libc::off_t,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr = NonNull::new(p.cast::<u8>()).ok_or_else(|| io::Error::other("mmap gave NULL"))?;
        Ok(Self { ptr, len })
    }
}

impl Drop for Mmap {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` are exactly one mapping made in `Mmap::new`, dropped once;
        // no reference into it outlives `self` (rings and UMEM hold `Mmap`s by value).
        unsafe {
            libc::munmap(self.ptr.as_ptr().cast(), self.len);
        }
    }
}
