//! Small system-call helpers shared by the socket backends (AF_PACKET rings, AF_XDP),
//! and the calling thread's CPU time for the workers' idle accounting.

#![allow(
    unsafe_code,
    reason = "setsockopt, poll, clock_gettime, sched_setaffinity, BPF program load; each block has a SAFETY comment"
)]

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

/// Waits at most `timeout` until one of `fds` is readable (`poll(2)`, `POLLIN`).
/// Returns whether one is.
pub(super) fn wait_readable(
    fds: impl IntoIterator<Item = i32>,
    timeout: std::time::Duration,
) -> io::Result<bool> {
    let mut pfds: Vec<libc::pollfd> = fds
        .into_iter()
        .map(|fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
    let n = libc::nfds_t::try_from(pfds.len()).unwrap_or(0);
    // SAFETY: `pfds` is a valid array of at least `n` pollfd structs.
    let rc = unsafe { libc::poll(pfds.as_mut_ptr(), n, ms) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(rc > 0)
}

/// One eBPF instruction (`struct bpf_insn`: opcode, dst and src registers, offset,
/// immediate), laid out as the kernel reads it; for the programs the backends build
/// from their instructions (the XDP redirect, the AF_PACKET fanout).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Insn {
    pub(super) code: u8,
    /// dst in the low nibble, src in the high one.
    pub(super) regs: u8,
    pub(super) off: i16,
    pub(super) imm: i32,
}

/// An eBPF instruction.
pub(super) const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: (src << 4) | (dst & 0x0f),
        off,
        imm,
    }
}

/// Prefixes an I/O error with what was being done (for `map_err`).
pub(super) fn ctx(what: &str) -> impl FnOnce(io::Error) -> io::Error + '_ {
    move |e| io::Error::new(e.kind(), format!("{what}: {e}"))
}

/// The calling thread's CPU time in nanoseconds (`CLOCK_THREAD_CPUTIME_ID`; 0 if the
/// clock cannot be read). A system call: the workers read it twice per idle period,
/// never per packet.
#[must_use]
pub(crate) fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the call's duration.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &raw mut ts) };
    if rc != 0 {
        return 0;
    }
    u64::try_from(ts.tv_sec)
        .unwrap_or(0)
        .saturating_mul(1_000_000_000)
        .saturating_add(u64::try_from(ts.tv_nsec).unwrap_or(0))
}

/// Pins the calling thread to CPU `cpu` (`sched_setaffinity`).
pub(crate) fn pin_to_cpu(cpu: usize) -> io::Result<()> {
    // SAFETY: cpu_set_t is plain data; all-zero is the empty set.
    let mut set: libc::cpu_set_t = unsafe { core::mem::zeroed() };
    if cpu >= 8 * size_of::<libc::cpu_set_t>() {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    }
    // SAFETY: `cpu` is below the set's capacity in bits (checked above).
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: pid 0 is the calling thread; `set` lives for the call and its size is passed.
    let rc = unsafe { libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &raw const set) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Loads a BPF program of type `prog_type` (a `BPF_PROG_TYPE_*`) from its instructions,
/// GPL-licensed, named `name`; `what` prefixes the kernel's refusal.
#[cfg(feature = "afxdp")]
pub(super) fn bpf_prog_load(
    prog_type: libbpf_rs::libbpf_sys::bpf_prog_type,
    name: &core::ffi::CStr,
    insns: &[Insn],
    what: &str,
) -> io::Result<std::os::fd::OwnedFd> {
    use libbpf_rs::libbpf_sys;
    use std::os::fd::FromRawFd;
    let n = libbpf_sys::size_t::try_from(insns.len())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: `insns` is a slice of `n` instructions with the layout of `struct
    // bpf_insn` (8 bytes, repr(C)); the name and license are NUL-terminated; NULL opts
    // is accepted by libbpf. The result is checked.
    let raw = unsafe {
        libbpf_sys::bpf_prog_load(
            prog_type,
            name.as_ptr(),
            c"GPL".as_ptr(),
            insns.as_ptr().cast::<libbpf_sys::bpf_insn>(),
            n,
            core::ptr::null_mut(),
        )
    };
    if raw < 0 {
        return Err(io::Error::other(format!(
            "{what}: {}",
            io::Error::from_raw_os_error(-raw)
        )));
    }
    // SAFETY: `raw` is a fresh program descriptor nothing else owns.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(raw) })
}
