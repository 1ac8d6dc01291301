//! AF_PACKET raw sockets: the fallback backend that works on every Linux interface
//! (veth, TAP, physical). This plain socket moves one frame per system call; the
//! ring version (TPACKET_V3 RX ring, TX ring) is [`super::tpacket`], which falls back to
//! this socket when ring setup fails.

#![allow(
    unsafe_code,
    reason = "raw socket system calls; each block has a SAFETY comment"
)]
#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss,
    reason = "libc constants and C struct fields of fixed, known width"
)]

use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::Backend;
use crate::buffer::Pool;
use crate::graph::{FRAME_SIZE, Frame};

/// `ETH_P_ALL` in network byte order, as `socket(2)` and `sockaddr_ll` want it.
const ETH_P_ALL_BE: u16 = (libc::ETH_P_ALL as u16).to_be();

/// An AF_PACKET socket bound to one interface, seeing every ethertype.
#[derive(Debug)]
pub struct Socket {
    fd: OwnedFd,
    ifindex: i32,
    mac: [u8; 6],
}

impl Socket {
    /// Opens a raw socket on `ifname` (needs `CAP_NET_RAW`).
    ///
    /// # Errors
    /// The OS error of `socket`, `if_nametoindex`, `ioctl(SIOCGIFHWADDR)` or `bind`,
    /// with the interface name in the message.
    pub fn open(ifname: &str) -> io::Result<Self> {
        let name =
            CString::new(ifname).map_err(|_| io::Error::other("interface name has a NUL"))?;
        // SAFETY: plain socket(2) call; the result is checked before use.
        let raw = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, i32::from(ETH_P_ALL_BE)) };
        if raw < 0 {
            let e = io::Error::last_os_error();
            return Err(io::Error::new(
                e.kind(),
                format!("AF_PACKET socket (needs CAP_NET_RAW): {e}"),
            ));
        }
        // SAFETY: `raw` is a fresh descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: `name` is a valid NUL-terminated string for the duration of the call.
        let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
        if ifindex == 0 {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("no interface {ifname}"),
            ));
        }
        let ifindex = i32::try_from(ifindex).map_err(io::Error::other)?;

        // SAFETY: ifreq is plain data; all-zero is a valid value.
        let mut ifr: libc::ifreq = unsafe { core::mem::zeroed() };
        for (d, s) in ifr.ifr_name.iter_mut().zip(name.as_bytes_with_nul()) {
            *d = *s as libc::c_char;
        }
        // SAFETY: SIOCGIFHWADDR reads ifr_name and writes ifr_hwaddr of the struct we own.
        if unsafe { libc::ioctl(fd.as_raw_fd(), libc::SIOCGIFHWADDR, &raw mut ifr) } < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: after a successful SIOCGIFHWADDR the union holds ifru_hwaddr.
        let hw = unsafe { ifr.ifr_ifru.ifru_hwaddr };
        let mut mac = [0u8; 6];
        for (d, s) in mac.iter_mut().zip(hw.sa_data.iter()) {
            *d = *s as u8;
        }

        // SAFETY: sockaddr_ll is plain data; all-zero is valid.
        let mut sll: libc::sockaddr_ll = unsafe { core::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = ETH_P_ALL_BE;
        sll.sll_ifindex = ifindex;
        // SAFETY: `sll` is a valid sockaddr_ll and the length passed is its size.
        let rc = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&raw const sll).cast::<libc::sockaddr>(),
                size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Self { fd, ifindex, mac })
    }

    /// The interface's MAC address.
    #[must_use]
    pub fn mac(&self) -> [u8; 6] {
        self.mac
    }

    /// The interface index.
    #[must_use]
    pub fn ifindex(&self) -> i32 {
        self.ifindex
    }

    /// Receives one frame into `buf`, waiting at most `timeout`. Returns `Ok(None)`
    /// on timeout. Frames this host sent on the interface (including our own) are
    /// skipped.
    ///
    /// # Errors
    /// The OS error of `poll` or `recvfrom`.
    pub fn recv(&self, buf: &mut [u8], timeout: Duration) -> io::Result<Option<usize>> {
        let mut ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
        loop {
            let mut pfd = libc::pollfd {
                fd: self.fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd, count 1.
            let n = unsafe { libc::poll(&raw mut pfd, 1, ms) };
            if n < 0 {
                return Err(io::Error::last_os_error());
            }
            if n == 0 {
                return Ok(None);
            }
            // SAFETY: sockaddr_ll is plain data; all-zero is valid.
            let mut from: libc::sockaddr_ll = unsafe { core::mem::zeroed() };
            let mut flen = size_of::<libc::sockaddr_ll>() as libc::socklen_t;
            // SAFETY: `buf` is valid for `buf.len()` writable bytes; `from`/`flen`
            // describe a sockaddr_ll we own.
            let r = unsafe {
                libc::recvfrom(
                    self.fd.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    libc::MSG_TRUNC,
                    (&raw mut from).cast::<libc::sockaddr>(),
                    &raw mut flen,
                )
            };
            if r < 0 {
                return Err(io::Error::last_os_error());
            }
            if from.sll_pkttype == libc::PACKET_OUTGOING {
                ms = 0;
                continue;
            }
            // MSG_TRUNC reports the real length: a frame larger than `buf` is dropped
            let len = usize::try_from(r).unwrap_or(usize::MAX);
            if len > buf.len() {
                ms = 0;
                continue;
            }
            return Ok(Some(len));
        }
    }

    /// Sends one complete Ethernet frame.
    ///
    /// # Errors
    /// The OS error of `send`.
    pub fn send(&self, frame: &[u8]) -> io::Result<()> {
        // SAFETY: `frame` is valid for `frame.len()` readable bytes.
        let r = unsafe { libc::send(self.fd.as_raw_fd(), frame.as_ptr().cast(), frame.len(), 0) };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

impl AsFd for Socket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// A [`Socket`] as a graph backend: bursts of up to a frame's room per call, never
/// blocking.
impl Backend for Socket {
    fn rx_burst<'p>(&mut self, pool: &mut Pool<'p>, out: &mut Frame<'p>) -> usize {
        let mut n = 0;
        while out.len() < FRAME_SIZE {
            let Some(mut p) = pool.alloc() else { break };
            let room = p.tailroom();
            p.set_len(room);
            if let Ok(Some(len)) = self.recv(p.data_mut(), Duration::ZERO) {
                p.set_len(len);
                out.push(p);
                n += 1;
            } else {
                pool.free(p);
                break;
            }
        }
        n
    }

    fn tx_burst<'p>(&mut self, pool: &mut Pool<'p>, frame: &mut Frame<'p>) -> usize {
        let mut sent = 0;
        for p in frame.drain(..) {
            if self.send(p.data()).is_ok() {
                sent += 1;
            }
            pool.free(p);
        }
        sent
    }
}

/// A flag that becomes true on SIGINT or SIGTERM, for workers' loops.
#[must_use]
pub fn stop_flag() -> &'static AtomicBool {
    extern "C" fn on_signal(_: libc::c_int) {
        STOP.store(true, Ordering::Relaxed);
    }
    let handler = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, handler);
        libc::signal(libc::SIGTERM, handler);
    }
    &STOP
}

static STOP: AtomicBool = AtomicBool::new(false);

/// Waits at most `timeout` until one of `sockets` has a frame to read (an idle worker
/// sleeps here instead of spinning). Returns whether one has.
///
/// # Errors
/// The OS error of `poll`.
pub fn wait_any(sockets: &[Socket], timeout: Duration) -> io::Result<bool> {
    let mut fds: Vec<libc::pollfd> = sockets
        .iter()
        .map(|s| libc::pollfd {
            fd: s.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
    // SAFETY: `fds` is a valid array of `fds.len()` pollfd structs.
    let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n > 0)
}
