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
        // the kernel strips a received frame's outer VLAN tag into skb metadata before
        // packet sockets see it; PACKET_AUXDATA hands it back with each recvmsg
        super::sys::setsockopt(fd.as_fd(), libc::SOL_PACKET, libc::PACKET_AUXDATA, &1i32)
            .map_err(super::sys::ctx("PACKET_AUXDATA"))?;
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
    /// skipped. A VLAN tag the kernel stripped is put back in place (the frame is
    /// returned as it was on the wire); frames longer than `buf` are dropped.
    ///
    /// # Errors
    /// The OS error of `poll` or `recvmsg`.
    pub fn recv(&self, buf: &mut [u8], timeout: Duration) -> io::Result<Option<usize>> {
        let mut timeout = timeout;
        loop {
            let Some((len, tag)) = self.recv_raw(buf, timeout)? else {
                return Ok(None);
            };
            let Some(t) = tag else {
                return Ok(Some(len));
            };
            // the payload moves here; `rx_burst` moves only the MACs into headroom
            if let Some(n) = vlan::insert_in_place(buf, len, t) {
                return Ok(Some(n));
            }
            timeout = Duration::ZERO;
        }
    }

    /// Receives one frame as the kernel hands it over (outer VLAN tag stripped) and
    /// that tag from `PACKET_AUXDATA`, if there was one.
    fn recv_raw(
        &self,
        buf: &mut [u8],
        timeout: Duration,
    ) -> io::Result<Option<(usize, Option<[u8; 4]>)>> {
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
            let mut iov = libc::iovec {
                iov_base: buf.as_mut_ptr().cast(),
                iov_len: buf.len(),
            };
            // u64s: aligned for `struct cmsghdr`; room for CMSG_SPACE(tpacket_auxdata)
            let mut cbuf = [0u64; 8];
            // SAFETY: msghdr is plain data; all-zero is valid (also its padding on musl).
            let mut msg: libc::msghdr = unsafe { core::mem::zeroed() };
            msg.msg_name = (&raw mut from).cast();
            msg.msg_namelen = size_of::<libc::sockaddr_ll>() as libc::socklen_t;
            msg.msg_iov = &raw mut iov;
            msg.msg_iovlen = 1;
            msg.msg_control = cbuf.as_mut_ptr().cast();
            msg.msg_controllen = size_of_val(&cbuf) as _;
            // SAFETY: `msg` points at `iov` (valid for `buf.len()` writable bytes), `from`
            // and `cbuf`, all of which outlive the call, with their sizes.
            let r = unsafe { libc::recvmsg(self.fd.as_raw_fd(), &raw mut msg, libc::MSG_TRUNC) };
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
            return Ok(Some((len, aux_vlan(&msg))));
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
            if let Ok(Some((len, tag))) = self.recv_raw(p.data_mut(), Duration::ZERO) {
                p.set_len(len);
                if tag.is_some_and(|t| !vlan::push_tag(&mut p, t)) {
                    pool.free(p);
                    continue;
                }
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

/// The VLAN tag of a `PACKET_AUXDATA` control message in `msg` (filled by `recvmsg`),
/// if the kernel stripped one (`TP_STATUS_VLAN_VALID`).
fn aux_vlan(msg: &libc::msghdr) -> Option<[u8; 4]> {
    // SAFETY: `msg` was filled by a successful recvmsg; CMSG_FIRSTHDR/CMSG_NXTHDR stay
    // within `msg_control`/`msg_controllen` and return null past the end.
    let mut c = unsafe { libc::CMSG_FIRSTHDR(msg) };
    while !c.is_null() {
        // SAFETY: non-null headers from CMSG_* lie inside the control buffer, aligned.
        let h = unsafe { &*c };
        // SAFETY: CMSG_LEN is a pure size computation.
        let want = unsafe { libc::CMSG_LEN(size_of::<libc::tpacket_auxdata>() as u32) };
        if h.cmsg_level == libc::SOL_PACKET
            && h.cmsg_type == libc::PACKET_AUXDATA
            && h.cmsg_len as usize >= want as usize
        {
            // SAFETY: the message holds a whole tpacket_auxdata after its header (length
            // checked above); read_unaligned copies it out of the byte buffer.
            let aux: libc::tpacket_auxdata =
                unsafe { core::ptr::read_unaligned(libc::CMSG_DATA(c).cast()) };
            return vlan::from_status(aux.tp_status, aux.tp_vlan_tpid, aux.tp_vlan_tci);
        }
        // SAFETY: `c` is a header of `msg`'s control buffer.
        c = unsafe { libc::CMSG_NXTHDR(msg, c) };
    }
    None
}

/// Putting back the outer 802.1Q/802.1ad tag that the Linux kernel strips from every
/// received frame (`__netif_receive_skb_core` → `skb_vlan_untag`, even without the
/// 8021q module) before packet sockets see it. The kernel ABI (`linux/if_packet.h`):
/// the tag is valid when the status has `TP_STATUS_VLAN_VALID` (even with a TCI of 0:
/// a priority-tagged frame), its TPID (host order) when it also has
/// `TP_STATUS_VLAN_TPID_VALID`, else it is 802.1Q's 0x8100. The ring reports it in
/// `tpacket3_hdr.hv1.tp_vlan_tci/tp_vlan_tpid` and `tp_status`; the plain socket in
/// the `PACKET_AUXDATA` control message (`struct tpacket_auxdata`).
pub(super) mod vlan {
    use crate::buffer::Pkt;

    /// `ETH_P_8021Q`, the TPID when the kernel does not report one.
    const ETH_P_8021Q: u16 = 0x8100;
    /// Bytes of the two MAC addresses, after which the tag goes.
    const MACS: usize = 12;

    /// The tag's 4 wire bytes from a status word and the reported TPID and TCI, or
    /// `None` when the status says no tag was stripped.
    #[must_use]
    pub(crate) fn from_status(status: u32, tpid: u16, tci: u16) -> Option<[u8; 4]> {
        if status & libc::TP_STATUS_VLAN_VALID == 0 {
            return None;
        }
        let tpid = if status & libc::TP_STATUS_VLAN_TPID_VALID == 0 {
            ETH_P_8021Q
        } else {
            tpid
        };
        let [a, b] = tpid.to_be_bytes();
        let [c, d] = tci.to_be_bytes();
        Some([a, b, c, d])
    }

    /// Inserts `tag` after the MAC addresses of `p` by moving the 12 MAC bytes 4 bytes
    /// into the headroom (the payload stays put). `false` if the headroom is too small;
    /// a frame too short to have MACs is left as it is.
    pub(crate) fn push_tag(p: &mut Pkt<'_>, tag: [u8; 4]) -> bool {
        if p.len() < MACS {
            return true;
        }
        if p.push_front(4).is_none() {
            return false;
        }
        let d = p.data_mut();
        if let Some((head, _)) = d.split_first_chunk_mut::<16>() {
            head.copy_within(4.., 0);
            if let Some(t) = head.last_chunk_mut::<4>() {
                *t = tag;
            }
        }
        true
    }

    /// Inserts `tag` after the MAC addresses of the `len`-byte frame at the start of
    /// `buf` (moving the payload up by 4). Returns the new length, or `None` if `buf`
    /// has no room for it; a frame too short to have MACs is left as it is.
    #[must_use]
    pub(crate) fn insert_in_place(buf: &mut [u8], len: usize, tag: [u8; 4]) -> Option<usize> {
        if len < MACS {
            return (len <= buf.len()).then_some(len);
        }
        let n = len.checked_add(4)?;
        let d = buf.get_mut(..n)?;
        d.copy_within(MACS..len, MACS + 4);
        d.get_mut(MACS..MACS + 4)?.copy_from_slice(&tag);
        Some(n)
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
    super::sys::wait_readable(sockets.iter().map(|s| s.fd.as_raw_fd()), timeout)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests")]
    use super::vlan;
    use crate::buffer::Arena;

    /// dst, src, then an IPv4 ethertype and payload.
    fn untagged() -> Vec<u8> {
        let mut f: Vec<u8> = (1..=12).collect();
        f.extend_from_slice(&[0x08, 0x00, 0x45, 0xaa, 0xbb]);
        f
    }

    #[test]
    fn the_status_bit_decides_not_the_tci() {
        let valid = libc::TP_STATUS_VLAN_VALID;
        let tpid = libc::TP_STATUS_VLAN_TPID_VALID;
        assert_eq!(vlan::from_status(0, 0x88a8, 100), None);
        assert_eq!(vlan::from_status(tpid, 0x88a8, 100), None);
        // priority-tagged: VID 0, PCP 3, still a tag
        assert_eq!(
            vlan::from_status(valid, 0, 3 << 13),
            Some([0x81, 0x00, 0x60, 0x00])
        );
        assert_eq!(
            vlan::from_status(valid | tpid, 0x88a8, 10),
            Some([0x88, 0xa8, 0x00, 0x0a])
        );
    }

    #[test]
    fn push_tag_moves_only_the_macs_into_headroom() {
        let mut arena = Arena::new(4);
        let mut pool = arena.pool();
        let frame = untagged();
        let mut p = pool.alloc_from(&frame).unwrap();
        let room = p.headroom();
        assert!(vlan::push_tag(&mut p, [0x81, 0x00, 0x00, 0x64]));
        assert_eq!(p.headroom(), room - 4);
        let mut want = frame[..12].to_vec();
        want.extend_from_slice(&[0x81, 0x00, 0x00, 0x64]);
        want.extend_from_slice(&frame[12..]);
        assert_eq!(p.data(), want);
        // no headroom left: refused, frame untouched
        let mut full = pool.alloc_from(&frame).unwrap();
        let room_left = full.headroom();
        full.push_front(room_left).unwrap();
        assert!(!vlan::push_tag(&mut full, [0x81, 0, 0, 1]));
        // runt: left as it is
        let mut r = pool.alloc_from(&frame[..5]).unwrap();
        assert!(vlan::push_tag(&mut r, [0x81, 0, 0, 1]));
        assert_eq!(r.data(), &frame[..5]);
    }

    #[test]
    fn insert_in_place_needs_room_for_the_tag() {
        let f = untagged();
        let mut buf = vec![0u8; f.len() + 4];
        buf[..f.len()].copy_from_slice(&f);
        assert_eq!(
            vlan::insert_in_place(&mut buf, f.len(), [0x88, 0xa8, 0, 10]),
            Some(f.len() + 4)
        );
        assert_eq!(&buf[..12], &f[..12]);
        assert_eq!(&buf[12..16], &[0x88, 0xa8, 0, 10]);
        assert_eq!(&buf[16..], &f[12..]);
        let mut small = f.clone();
        assert_eq!(vlan::insert_in_place(&mut small, f.len(), [0; 4]), None);
        assert_eq!(vlan::insert_in_place(&mut small, 5, [0; 4]), Some(5));
        assert_eq!(vlan::insert_in_place(&mut small, usize::MAX, [0; 4]), None);
    }
}
