//! The route-based inner side: a TUN device (`IFF_TUN | IFF_NO_PI`, whole IP packets
//! without a packet-information header), and `poll(2)` over it and the UDP sockets.
//! The only `unsafe` of `ipsec-gw` lives here, in two small functions.

use std::fs::{File, OpenOptions};
use std::io::{self, Read as _, Write as _};
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

/// An open TUN device; closing the file removes the device.
#[derive(Debug)]
pub struct Tun {
    file: File,
    name: String,
}

/// `struct ifreq` as `TUNSETIFF` reads it: the name and the flags (the rest of the
/// 40-byte union unused).
#[repr(C)]
struct IfReq {
    name: [u8; libc::IFNAMSIZ],
    flags: libc::c_short,
    _pad: [u8; 22],
}

impl Tun {
    /// Creates (or attaches to) the TUN device `name`, non-blocking.
    ///
    /// # Errors
    /// The OS error: `/dev/net/tun` missing, no `CAP_NET_ADMIN`, a bad name.
    pub fn open(name: &str) -> io::Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open("/dev/net/tun")?;
        let mut req = IfReq {
            name: [0; libc::IFNAMSIZ],
            #[allow(
                clippy::cast_possible_truncation,
                reason = "IFF_TUN | IFF_NO_PI fit a short"
            )]
            flags: (libc::IFF_TUN | libc::IFF_NO_PI) as libc::c_short,
            _pad: [0; 22],
        };
        let n = name.as_bytes();
        if n.is_empty() || n.len() >= libc::IFNAMSIZ {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "interface name length",
            ));
        }
        if let Some(dst) = req.name.get_mut(..n.len()) {
            dst.copy_from_slice(n);
        }
        set_iff(file.as_raw_fd(), &mut req)?;
        let len = req
            .name
            .iter()
            .position(|b| *b == 0)
            .unwrap_or(libc::IFNAMSIZ);
        let name = String::from_utf8_lossy(req.name.get(..len).unwrap_or_default()).into_owned();
        Ok(Self { file, name })
    }

    /// The device name the kernel gave.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Reads one IP packet; `Ok(None)` when there is none now.
    ///
    /// # Errors
    /// The OS error.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        match (&self.file).read(buf) {
            Ok(n) => Ok(Some(n)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Writes one IP packet.
    ///
    /// # Errors
    /// The OS error.
    pub fn send(&self, packet: &[u8]) -> io::Result<()> {
        (&self.file).write(packet).map(|_| ())
    }
}

impl AsRawFd for Tun {
    fn as_raw_fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }
}

use std::os::unix::fs::OpenOptionsExt as _;

/// `ioctl(fd, TUNSETIFF, req)`.
#[allow(unsafe_code, reason = "TUNSETIFF has no safe wrapper")]
fn set_iff(fd: RawFd, req: &mut IfReq) -> io::Result<()> {
    // SAFETY: `fd` is an open /dev/net/tun descriptor owned by the caller, and `req`
    // is a live, writable `struct ifreq`-shaped value (name, flags, padding to the
    // 40-byte size the kernel copies in and out); the kernel does not keep the pointer.
    let rc = unsafe { libc::ioctl(fd, libc::TUNSETIFF, std::ptr::from_mut(req)) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Waits at most `timeout` until one of `fds` is readable; returns which are.
///
/// # Errors
/// The OS error of `poll(2)` (EINTR included: the caller checks its stop flag).
#[allow(unsafe_code, reason = "poll(2) has no safe wrapper in std")]
pub fn poll_readable<const N: usize>(fds: [RawFd; N], timeout: Duration) -> io::Result<[bool; N]> {
    let mut p = fds.map(|fd| libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    });
    let ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
    #[allow(
        clippy::cast_possible_truncation,
        reason = "N is a handful of descriptors"
    )]
    let n = N as libc::nfds_t;
    // SAFETY: `p` is a live array of N initialised pollfd structs; poll(2) writes only
    // their `revents` and keeps no pointer after it returns.
    let rc = unsafe { libc::poll(p.as_mut_ptr(), n, ms) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(p.map(|x| x.revents & (libc::POLLIN | libc::POLLERR | libc::POLLHUP) != 0))
}
