//! Small system-call helpers shared by the socket backends (AF_PACKET rings, AF_XDP).

#![allow(unsafe_code, reason = "setsockopt; the block has a SAFETY comment")]

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

/// `setsockopt(fd, level, name, v)` for a plain-data option value `v`.
pub(super) fn setsockopt<T>(fd: BorrowedFd<'_>, level: i32, name: i32, v: &T) -> io::Result<()> {
    let len = libc::socklen_t::try_from(size_of::<T>())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: `v` is a valid `T` for the call and its size is passed.
    let rc = unsafe { libc::setsockopt(fd.as_raw_fd(), level, name, (&raw const *v).cast(), len) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Prefixes an I/O error with what was being done (for `map_err`).
pub(super) fn ctx(what: &str) -> impl FnOnce(io::Error) -> io::Error + '_ {
    move |e| io::Error::new(e.kind(), format!("{what}: {e}"))
}
