//! AF_PACKET with memory-mapped rings: a TPACKET_V3 RX ring (the kernel fills blocks of
//! packets and hands a whole block over at once) and a TX ring (frames we fill and mark
//! `TP_STATUS_SEND_REQUEST`, sent by one `sendto` per burst). No system call per
//! packet in either direction, unlike the plain [`Socket`](super::afpacket::Socket).
//!
//! The layout is the kernel's (`Documentation/networking/packet_mmap.rst`,
//! `linux/if_packet.h`): one mapping holds the RX blocks followed by the TX frames.
//!
//! - RX block (`struct tpacket_block_desc`): `block_status` at byte 8 (`TP_STATUS_USER`
//!   when the block is ours), `num_pkts` at 12, `offset_to_first_pkt` at 16; each
//!   packet starts with a `struct tpacket3_hdr` (`tp_next_offset` at 0, `tp_snaplen` at
//!   12, `tp_mac` at 24) followed by a `struct sockaddr_ll` at 48 (`sll_pkttype` at
//!   48 + 10). A block goes back to the kernel by storing `TP_STATUS_KERNEL` (Release)
//!   once every packet of it has been copied out.
//! - TX frame: `struct tpacket3_hdr` (`tp_next_offset` must be 0, `tp_len` at 16,
//!   `tp_status` at 20) with the frame's bytes at 48 (`TPACKET3_HDRLEN -
//!   sizeof(struct sockaddr_ll)`); the kernel walks the ring in order from its own head,
//!   so we fill frames in the same order and stop at the first one it has not freed yet.
//!
//! [`Port`] opens the ring socket and falls back to the plain socket, keeping the
//! reason, when ring setup fails (an old kernel, or a memory limit).

#![allow(
    unsafe_code,
    reason = "packet socket options and mmap'd rings; each block has a SAFETY comment"
)]
#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss,
    reason = "libc constants and C struct fields of fixed, known width"
)]

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use super::Backend;
use super::afpacket::{Socket, vlan};
use super::mmap::Mmap;
use crate::buffer::Pool;
use crate::graph::{FRAME_SIZE, Frame};

/// `ETH_P_ALL` in network byte order, as `socket(2)` and `sockaddr_ll` want it.
const ETH_P_ALL_BE: u16 = (libc::ETH_P_ALL as u16).to_be();

/// Offsets in `struct tpacket_block_desc` (`tpacket_hdr_v1` starts at 8).
const BLOCK_STATUS: usize = 8;
const BLOCK_NUM_PKTS: usize = 12;
const BLOCK_FIRST_PKT: usize = 16;
/// Offsets in `struct tpacket3_hdr`.
const H3_NEXT: usize = 0;
const H3_SNAPLEN: usize = 12;
const H3_LEN: usize = 16;
const H3_STATUS: usize = 20;
const H3_MAC: usize = 24;
/// `hv1.tp_vlan_tci` (a `__u32`) and `hv1.tp_vlan_tpid` (a `__u16`, host order) of
/// `struct tpacket3_hdr` (`struct tpacket_hdr_variant1` starts at 28).
const H3_VLAN_TCI: usize = 32;
const H3_VLAN_TPID: usize = 36;
/// `TPACKET_ALIGN(sizeof(struct tpacket3_hdr))`: where `sockaddr_ll` follows on RX and
/// where the frame's bytes start on TX.
const H3_ALIGNED: usize = 48;
/// `sll_pkttype` inside the `sockaddr_ll` that follows the RX header.
const SLL_PKTTYPE: usize = H3_ALIGNED + 10;

/// One packet entry of an RX block, located by [`parse_entry`].
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    /// `tp_next_offset`: from this entry to the next one (0 for the last).
    next: usize,
    /// The frame's bytes within the block.
    data: core::ops::Range<usize>,
    /// `sll_pkttype`.
    pkttype: u8,
    /// The 802.1Q/802.1ad tag the kernel stripped off the frame, to put back.
    vlan: Option<[u8; 4]>,
}

/// A received frame's bytes, `sll_pkttype` and stripped VLAN tag.
type RxEntry<'a> = (&'a [u8], u8, Option<[u8; 4]>);

/// The packet entry at `off` of an RX block: its header, `sockaddr_ll` and data must lie
/// inside the block (the kernel's offsets are checked, never trusted for indexing).
fn parse_entry(blk: &[u8], off: usize) -> Option<Entry> {
    let h = blk.get(off..)?;
    let next = u32_at(h, H3_NEXT)? as usize;
    let snap = u32_at(h, H3_SNAPLEN)? as usize;
    let mac = usize::from(u16_at(h, H3_MAC)?);
    let pkttype = *h.get(SLL_PKTTYPE)?;
    let status = u32_at(h, H3_STATUS)?;
    // the tag the kernel stripped (linux/if_packet.h: hv1, TP_STATUS_VLAN_*_VALID)
    let vlan = vlan::from_status(
        status,
        u16_at(h, H3_VLAN_TPID)?,
        u32_at(h, H3_VLAN_TCI)? as u16,
    );
    let end = mac.checked_add(snap)?;
    h.get(mac..end)?;
    Some(Entry {
        next,
        data: off.checked_add(mac)?..off.checked_add(end)?,
        pkttype,
        vlan,
    })
}

/// Ring sizes of a [`RingSocket`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RingConfig {
    /// Bytes of one RX block: at least 4096 and a multiple of 2048 here; the kernel also
    /// wants a multiple of the page size (else ring setup fails and [`Port`] falls back).
    pub rx_block_size: u32,
    /// RX blocks.
    pub rx_blocks: u32,
    /// Milliseconds after which the kernel hands over a partly filled RX block (the
    /// latency floor when traffic is light).
    pub rx_retire_ms: u32,
    /// TX frames of [`TX_FRAME`] bytes (a multiple of `TX_BLOCK / TX_FRAME`).
    pub tx_frames: u32,
    /// Bypass the qdisc layer on TX (`PACKET_QDISC_BYPASS`), as a forwarder wants.
    pub qdisc_bypass: bool,
}

impl Default for RingConfig {
    fn default() -> Self {
        Self {
            rx_block_size: 1 << 17,
            rx_blocks: 32,
            rx_retire_ms: 1,
            tx_frames: 1024,
            qdisc_bypass: true,
        }
    }
}

/// Bytes of one TX ring frame (header and data).
pub const TX_FRAME: u32 = 2048;
/// Bytes of one TX ring block.
const TX_BLOCK: u32 = 1 << 16;

impl RingConfig {
    fn check(&self) -> io::Result<()> {
        let bad = |m: &'static str| Err(io::Error::new(io::ErrorKind::InvalidInput, m));
        if self.rx_block_size % TX_FRAME != 0 || self.rx_block_size < 4096 {
            return bad("rx_block_size must be a multiple of 2048 of at least 4096");
        }
        if self.rx_blocks == 0 || self.tx_frames == 0 || self.tx_frames % (TX_BLOCK / TX_FRAME) != 0
        {
            return bad("rx_blocks > 0; tx_frames > 0 and a multiple of 32");
        }
        if self
            .rx_len()
            .is_none_or(|r| r.checked_add(self.tx_len()).is_none_or(|t| t > 1 << 30))
        {
            return bad("the rings must fit in 1 GiB");
        }
        Ok(())
    }

    fn rx_len(&self) -> Option<usize> {
        (self.rx_block_size as usize).checked_mul(self.rx_blocks as usize)
    }

    fn tx_len(&self) -> usize {
        self.tx_frames as usize * TX_FRAME as usize
    }
}

/// Counters of a [`RingSocket`], with the kernel's `PACKET_STATISTICS`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RingStats {
    /// Packets received and handed to the graph.
    pub rx: u64,
    /// Packets received but dropped here: longer than a pool buffer, or a malformed
    /// ring entry.
    pub rx_dropped: u64,
    /// RX blocks handed back to the kernel.
    pub rx_blocks: u64,
    /// Packets put on the TX ring.
    pub tx: u64,
    /// Packets dropped on TX: ring full or too long for a ring frame.
    pub tx_dropped: u64,
    /// `sendto` kicks of the TX ring.
    pub tx_kicks: u64,
    /// Kernel: packets dropped because the RX ring was full (since the last read of
    /// `PACKET_STATISTICS`, which resets it; [`RingSocket::stats`] accumulates).
    pub kernel_drops: u64,
    /// Kernel: times the RX queue was frozen (no free block).
    pub kernel_freezes: u64,
}

/// An AF_PACKET socket bound to one interface with a TPACKET_V3 RX ring and a TX ring.
#[derive(Debug)]
pub struct RingSocket {
    // drop order: the socket closes before the rings are unmapped
    fd: OwnedFd,
    map: Mmap,
    ifindex: i32,
    mac: [u8; 6],
    block_size: usize,
    blocks: u32,
    rx_len: usize,
    tx_frames: u32,
    /// The RX block we read from.
    cur: u32,
    /// Whether `cur` is ours (status was `TP_STATUS_USER`) and not yet handed back.
    held: bool,
    /// Packets of `cur` not yet read, and the offset of the next one in the block.
    left: u32,
    off: usize,
    /// The next TX frame to fill (the kernel's TX head follows it).
    tx_head: u32,
    stats: RingStats,
}

// SAFETY: the mapping is owned by the `RingSocket`; moving it to another thread moves
// the only user of its rings along with it.
unsafe impl Send for RingSocket {}

fn sockopt<T>(fd: BorrowedFd<'_>, name: i32, v: &T) -> io::Result<()> {
    super::sys::setsockopt(fd, libc::SOL_PACKET, name, v)
}

use super::sys::ctx;

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    let c = b.get(at..)?.first_chunk::<4>()?;
    Some(u32::from_ne_bytes(*c))
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    let c = b.get(at..)?.first_chunk::<2>()?;
    Some(u16::from_ne_bytes(*c))
}

impl RingSocket {
    /// Opens a packet socket on `ifname` with a TPACKET_V3 RX ring and a TX ring of
    /// `cfg`'s sizes (needs `CAP_NET_RAW`; the rings count against `RLIMIT_MEMLOCK`
    /// only for unprivileged users).
    ///
    /// # Errors
    /// `InvalidInput` for bad sizes; else the OS error of the failing step (socket,
    /// interface lookup, `PACKET_VERSION`, `PACKET_RX_RING`, `PACKET_TX_RING`, mmap,
    /// bind) with the step in the message.
    pub fn open(ifname: &str, cfg: &RingConfig) -> io::Result<Self> {
        cfg.check()?;
        let (ifindex, mac) = super::afxdp::ifinfo(ifname)?;
        // SAFETY: plain socket(2) call; the result is checked before use.
        let raw = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, i32::from(ETH_P_ALL_BE)) };
        if raw < 0 {
            return Err(ctx("AF_PACKET socket (needs CAP_NET_RAW)")(
                io::Error::last_os_error(),
            ));
        }
        // SAFETY: `raw` is a fresh descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let v3 = libc::tpacket_versions::TPACKET_V3 as libc::c_int;
        sockopt(fd.as_fd(), libc::PACKET_VERSION, &v3).map_err(ctx("PACKET_VERSION V3"))?;
        // frames we send ourselves are not wanted back on RX (kernel >= 4.20; best effort,
        // RX also skips PACKET_OUTGOING)
        let _ = sockopt(fd.as_fd(), libc::PACKET_IGNORE_OUTGOING, &1i32);
        // a malformed TX frame is skipped instead of stopping the ring
        // (TP_STATUS_WRONG_FORMAT would otherwise wedge the kernel's TX head)
        sockopt(fd.as_fd(), libc::PACKET_LOSS, &1i32).map_err(ctx("PACKET_LOSS"))?;
        if cfg.qdisc_bypass {
            let _ = sockopt(fd.as_fd(), libc::PACKET_QDISC_BYPASS, &1i32);
        }
        let rx_len = cfg.rx_len().unwrap_or(0);
        let rx = libc::tpacket_req3 {
            tp_block_size: cfg.rx_block_size,
            tp_block_nr: cfg.rx_blocks,
            tp_frame_size: TX_FRAME,
            tp_frame_nr: cfg.rx_block_size / TX_FRAME * cfg.rx_blocks,
            tp_retire_blk_tov: cfg.rx_retire_ms,
            tp_sizeof_priv: 0,
            tp_feature_req_word: 0,
        };
        sockopt(fd.as_fd(), libc::PACKET_RX_RING, &rx).map_err(ctx("PACKET_RX_RING"))?;
        // the TX ring of a V3 socket takes the same request; timeout, private area and
        // features must be zero there
        let tx = libc::tpacket_req3 {
            tp_block_size: TX_BLOCK,
            tp_block_nr: cfg.tx_frames / (TX_BLOCK / TX_FRAME),
            tp_frame_size: TX_FRAME,
            tp_frame_nr: cfg.tx_frames,
            tp_retire_blk_tov: 0,
            tp_sizeof_priv: 0,
            tp_feature_req_word: 0,
        };
        sockopt(fd.as_fd(), libc::PACKET_TX_RING, &tx).map_err(ctx("PACKET_TX_RING"))?;
        let map =
            Mmap::new(rx_len + cfg.tx_len(), Some(fd.as_fd()), 0).map_err(ctx("mmap the rings"))?;

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
            return Err(ctx("bind")(io::Error::last_os_error()));
        }
        Ok(Self {
            fd,
            map,
            ifindex,
            mac,
            block_size: cfg.rx_block_size as usize,
            blocks: cfg.rx_blocks,
            rx_len,
            tx_frames: cfg.tx_frames,
            cur: 0,
            held: false,
            left: 0,
            off: 0,
            tx_head: 0,
            stats: RingStats::default(),
        })
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

    /// Our counters, plus the kernel's `PACKET_STATISTICS` (read and reset by the
    /// kernel on each call, so they accumulate here).
    pub fn stats(&mut self) -> RingStats {
        // SAFETY: plain data; all-zero is valid.
        let mut k: libc::tpacket_stats_v3 = unsafe { core::mem::zeroed() };
        let mut len = size_of::<libc::tpacket_stats_v3>() as libc::socklen_t;
        // SAFETY: `k`/`len` describe a buffer we own of the size passed.
        let rc = unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_PACKET,
                libc::PACKET_STATISTICS,
                (&raw mut k).cast(),
                &raw mut len,
            )
        };
        if rc == 0 {
            self.stats.kernel_drops += u64::from(k.tp_drops);
            self.stats.kernel_freezes += u64::from(k.tp_freeze_q_cnt);
        }
        self.stats
    }

    /// The status word of RX block `b` (`b < blocks`).
    #[allow(
        clippy::cast_ptr_alignment,
        reason = "the word's offset is a multiple of 4 from a page-aligned mapping"
    )]
    fn block_status(&self, b: u32) -> &AtomicU32 {
        let at = b as usize * self.block_size + BLOCK_STATUS;
        debug_assert!(at + 4 <= self.rx_len);
        // SAFETY: `b < blocks`, so the word lies inside the RX part of the mapping; the
        // block start is page-aligned, so the u32 at offset 8 is aligned; the kernel
        // updates it only as a whole word (smp_wmb before setting TP_STATUS_USER).
        unsafe { &*self.map.ptr.as_ptr().add(at).cast::<AtomicU32>() }
    }

    /// The bytes of RX block `b`, which must be ours (`TP_STATUS_USER` seen with
    /// Acquire and not yet handed back).
    fn block(&self, b: u32) -> &[u8] {
        let at = b as usize * self.block_size;
        // SAFETY: inside the RX part of the mapping (`b < blocks`); while the block's
        // status is TP_STATUS_USER the kernel does not write to it, and we hand it back
        // (`release_block`) only through `&mut self`, after every borrow of it ended.
        unsafe { core::slice::from_raw_parts(self.map.ptr.as_ptr().add(at), self.block_size) }
    }

    /// Hands the current block back to the kernel and moves on to the next.
    fn release_block(&mut self) {
        if self.held {
            self.block_status(self.cur)
                .store(libc::TP_STATUS_KERNEL, Ordering::Release);
            self.held = false;
            self.left = 0;
            self.cur = (self.cur + 1) % self.blocks;
            self.stats.rx_blocks += 1;
        }
    }

    /// The next received frame and its `sll_pkttype`, or `None` when the kernel has
    /// not handed over the next block yet. A malformed entry (offsets outside the
    /// block) ends the block early and is counted.
    fn next_rx(&mut self) -> Option<RxEntry<'_>> {
        loop {
            if self.left == 0 {
                self.release_block();
                let st = self.block_status(self.cur).load(Ordering::Acquire);
                if st & libc::TP_STATUS_USER == 0 {
                    return None;
                }
                let blk = self.block(self.cur);
                let n = u32_at(blk, BLOCK_NUM_PKTS).unwrap_or(0);
                let first = u32_at(blk, BLOCK_FIRST_PKT).unwrap_or(0) as usize;
                self.held = true;
                self.left = n;
                self.off = first;
                continue;
            }
            let off = self.off;
            let blk = self.block(self.cur);
            let Some(e) = parse_entry(blk, off) else {
                self.stats.rx_dropped += u64::from(self.left);
                self.left = 0;
                continue;
            };
            self.left -= 1;
            self.off = off.saturating_add(e.next);
            let data = self.block(self.cur).get(e.data).unwrap_or(&[]);
            return Some((data, e.pkttype, e.vlan));
        }
    }

    /// TX frame `i`'s status word.
    #[allow(
        clippy::cast_ptr_alignment,
        reason = "the word's offset is a multiple of 4 from a page-aligned mapping"
    )]
    fn tx_status(&self, i: u32) -> &AtomicU32 {
        let at = self.rx_len + i as usize * TX_FRAME as usize + H3_STATUS;
        // SAFETY: `i < tx_frames`, so the word lies inside the TX part of the mapping,
        // 4-aligned (frames are 2048-aligned); the kernel writes it as a whole word.
        unsafe { &*self.map.ptr.as_ptr().add(at).cast::<AtomicU32>() }
    }

    /// Puts one frame on the TX ring (sent at the next [`kick`](Self::kick)); `false`
    /// if the ring is full or the frame longer than a ring frame holds.
    fn push_tx(&mut self, data: &[u8]) -> bool {
        let i = self.tx_head;
        let st = self.tx_status(i).load(Ordering::Acquire);
        if st != libc::TP_STATUS_AVAILABLE && st != libc::TP_STATUS_WRONG_FORMAT
            || data.len() > TX_FRAME as usize - H3_ALIGNED
        {
            return false;
        }
        let at = self.rx_len + i as usize * TX_FRAME as usize;
        // SAFETY: frame `i` lies inside the TX part of the mapping (`i < tx_frames`); its
        // status is AVAILABLE (seen with Acquire), so the kernel neither reads nor writes
        // it until we store SEND_REQUEST below, after this borrow ends.
        let frame = unsafe {
            core::slice::from_raw_parts_mut(self.map.ptr.as_ptr().add(at), TX_FRAME as usize)
        };
        let Some(dst) = frame.get_mut(H3_ALIGNED..H3_ALIGNED + data.len()) else {
            return false;
        };
        dst.copy_from_slice(data);
        let len = (data.len() as u32).to_ne_bytes();
        for (field, v) in [(H3_NEXT, [0; 4]), (H3_SNAPLEN, len), (H3_LEN, len)] {
            if let Some(d) = frame.get_mut(field..field + 4) {
                d.copy_from_slice(&v);
            }
        }
        self.tx_status(i)
            .store(libc::TP_STATUS_SEND_REQUEST, Ordering::Release);
        self.tx_head = (i + 1) % self.tx_frames;
        true
    }

    /// Asks the kernel to send every frame marked on the TX ring (one `sendto`).
    fn kick(&mut self) {
        self.stats.tx_kicks += 1;
        // SAFETY: a zero-length send with no buffer and no address on our socket.
        unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                core::ptr::null(),
                0,
                libc::MSG_DONTWAIT,
                core::ptr::null(),
                0,
            );
        }
    }

    /// Receives one frame into `buf`, waiting at most `timeout` (the plain socket's
    /// `recv`, over the ring). Frames this host sent are skipped; longer frames than
    /// `buf` are dropped.
    ///
    /// # Errors
    /// The OS error of `poll`.
    pub fn recv(&mut self, buf: &mut [u8], timeout: Duration) -> io::Result<Option<usize>> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            while let Some((data, pkttype, tag)) = self.next_rx() {
                if pkttype == libc::PACKET_OUTGOING {
                    continue;
                }
                let n = data.len();
                if let Some(d) = buf.get_mut(..n) {
                    d.copy_from_slice(data);
                    let m = match tag {
                        Some(t) => vlan::insert_in_place(buf, n, t),
                        None => Some(n),
                    };
                    if let Some(m) = m {
                        return Ok(Some(m));
                    }
                }
                self.stats.rx_dropped += 1;
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() || !wait_fds(&[self.fd.as_fd()], left)? {
                return Ok(None);
            }
        }
    }

    /// Sends one complete Ethernet frame through the TX ring.
    ///
    /// # Errors
    /// `WouldBlock` if the ring is full, `InvalidInput` if the frame is too long.
    pub fn send(&mut self, frame: &[u8]) -> io::Result<()> {
        if frame.len() > TX_FRAME as usize - H3_ALIGNED {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "frame longer than a TX ring frame",
            ));
        }
        if !self.push_tx(frame) {
            return Err(io::Error::new(io::ErrorKind::WouldBlock, "TX ring full"));
        }
        self.kick();
        Ok(())
    }
}

impl AsFd for RingSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// A [`RingSocket`] as a graph backend: copies between ring slots and the worker's pool;
/// one `sendto` per TX burst, no system call on RX.
impl Backend for RingSocket {
    fn rx_burst<'p>(&mut self, pool: &mut Pool<'p>, out: &mut Frame<'p>) -> usize {
        let mut n = 0usize;
        while out.len() < FRAME_SIZE && pool.available() > 0 {
            let Some((data, pkttype, tag)) = self.next_rx() else {
                break;
            };
            if pkttype == libc::PACKET_OUTGOING {
                continue;
            }
            if let Some(mut p) = pool.alloc_from(data) {
                if tag.is_some_and(|t| !vlan::push_tag(&mut p, t)) {
                    pool.free(p);
                    self.stats.rx_dropped += 1;
                    continue;
                }
                out.push(p);
                n += 1;
            } else {
                self.stats.rx_dropped += 1;
            }
        }
        // a block read to its end goes back at once, not at the next burst
        if self.left == 0 {
            self.release_block();
        }
        self.stats.rx += n as u64;
        n
    }

    fn tx_burst<'p>(&mut self, pool: &mut Pool<'p>, frame: &mut Frame<'p>) -> usize {
        if frame.is_empty() {
            return 0;
        }
        let mut sent = 0usize;
        for p in frame.drain(..) {
            if self.push_tx(p.data()) {
                sent += 1;
            } else {
                self.stats.tx_dropped += 1;
            }
            pool.free(p);
        }
        if sent > 0 {
            self.kick();
        }
        self.stats.tx += sent as u64;
        sent
    }
}

/// Waits at most `timeout` until one of `fds` is readable. Returns whether one is.
///
/// # Errors
/// The OS error of `poll`.
pub fn wait_fds(fds: &[BorrowedFd<'_>], timeout: Duration) -> io::Result<bool> {
    super::sys::wait_readable(fds.iter().map(AsRawFd::as_raw_fd), timeout)
}

/// An AF_PACKET port: the ring socket when its setup succeeded, else the plain socket
/// (one frame per system call) and why the ring could not be used.
#[derive(Debug)]
#[non_exhaustive]
pub enum Port {
    /// TPACKET_V3 RX ring and TX ring.
    Ring(RingSocket),
    /// The plain socket, and the ring setup's error (empty if the plain path was asked
    /// for).
    Plain(Socket, String),
}

impl Port {
    /// Opens `ifname` with rings of `cfg`'s sizes, or, when `cfg` is `None` or ring
    /// setup fails, the plain socket.
    ///
    /// # Errors
    /// The plain socket's error when both fail.
    pub fn open(ifname: &str, cfg: Option<&RingConfig>) -> io::Result<Self> {
        let why = match cfg.map(|c| RingSocket::open(ifname, c)) {
            Some(Ok(r)) => return Ok(Self::Ring(r)),
            Some(Err(e)) => e.to_string(),
            None => String::new(),
        };
        Socket::open(ifname).map(|s| Self::Plain(s, why))
    }

    /// The interface's MAC address.
    #[must_use]
    pub fn mac(&self) -> [u8; 6] {
        match self {
            Self::Ring(r) => r.mac(),
            Self::Plain(s, _) => s.mac(),
        }
    }

    /// Whether the ring path is in use.
    #[must_use]
    pub fn is_ring(&self) -> bool {
        matches!(self, Self::Ring(_))
    }
}

impl AsFd for Port {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Self::Ring(r) => r.as_fd(),
            Self::Plain(s, _) => s.as_fd(),
        }
    }
}

impl Backend for Port {
    fn rx_burst<'p>(&mut self, pool: &mut Pool<'p>, out: &mut Frame<'p>) -> usize {
        match self {
            Self::Ring(r) => r.rx_burst(pool, out),
            Self::Plain(s, _) => s.rx_burst(pool, out),
        }
    }

    fn tx_burst<'p>(&mut self, pool: &mut Pool<'p>, frame: &mut Frame<'p>) -> usize {
        match self {
            Self::Ring(r) => r.tx_burst(pool, frame),
            Self::Plain(s, _) => s.tx_burst(pool, frame),
        }
    }
}

/// Waits at most `timeout` until one of `ports` has a frame to read.
///
/// # Errors
/// The OS error of `poll`.
pub fn wait_any(ports: &[Port], timeout: Duration) -> io::Result<bool> {
    let fds: Vec<BorrowedFd<'_>> = ports.iter().map(AsFd::as_fd).collect();
    wait_fds(&fds, timeout)
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::indexing_slicing,
        clippy::cast_possible_truncation,
        reason = "tests"
    )]
    use super::*;

    #[test]
    fn ring_config_is_checked_before_any_system_call() {
        let ok = RingConfig::default();
        assert!(ok.check().is_ok());
        for bad in [
            RingConfig {
                rx_block_size: 5000,
                ..ok
            },
            RingConfig {
                rx_block_size: 2048,
                ..ok
            },
            RingConfig { rx_blocks: 0, ..ok },
            RingConfig {
                tx_frames: 33,
                ..ok
            },
            RingConfig {
                rx_block_size: 1 << 30,
                rx_blocks: 4,
                ..ok
            },
        ] {
            let e = RingSocket::open("lo", &bad).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{bad:?}: {e}");
        }
    }

    /// An RX block holding entries at 48 and 48 + 128, as the kernel lays them out.
    fn block_with_two_entries() -> Vec<u8> {
        let mut b = vec![0u8; 4096];
        for (off, next, len, fill) in [(48usize, 128u32, 60u32, 0xaau8), (176, 0, 42, 0xbb)] {
            b[off + H3_NEXT..off + H3_NEXT + 4].copy_from_slice(&next.to_ne_bytes());
            b[off + H3_SNAPLEN..off + H3_SNAPLEN + 4].copy_from_slice(&len.to_ne_bytes());
            b[off + H3_LEN..off + H3_LEN + 4].copy_from_slice(&len.to_ne_bytes());
            b[off + H3_MAC..off + H3_MAC + 2].copy_from_slice(&66u16.to_ne_bytes());
            b[off + SLL_PKTTYPE] = libc::PACKET_HOST;
            b[off + 66..off + 66 + len as usize].fill(fill);
        }
        b
    }

    #[test]
    fn rx_entries_are_located_inside_the_block() {
        let b = block_with_two_entries();
        let e = parse_entry(&b, 48).unwrap();
        assert_eq!(e.next, 128);
        assert_eq!(e.data, 114..174);
        assert!(b[e.data].iter().all(|&x| x == 0xaa));
        let e = parse_entry(&b, 176).unwrap();
        assert_eq!((e.next, e.data.len()), (0, 42));
        assert_eq!(e.pkttype, libc::PACKET_HOST);
    }

    #[test]
    fn rx_entries_carry_the_stripped_vlan_tag() {
        let mut b = block_with_two_entries();
        assert_eq!(parse_entry(&b, 48).unwrap().vlan, None);
        // priority-tagged (TCI 0x6000), TPID not reported: 802.1Q assumed
        let st = libc::TP_STATUS_USER | libc::TP_STATUS_VLAN_VALID;
        b[48 + H3_STATUS..48 + H3_STATUS + 4].copy_from_slice(&st.to_ne_bytes());
        b[48 + H3_VLAN_TCI..48 + H3_VLAN_TCI + 4].copy_from_slice(&0x6000u32.to_ne_bytes());
        b[48 + H3_VLAN_TPID..48 + H3_VLAN_TPID + 2].copy_from_slice(&0x88a8u16.to_ne_bytes());
        assert_eq!(parse_entry(&b, 48).unwrap().vlan, Some([0x81, 0, 0x60, 0]));
        let st = st | libc::TP_STATUS_VLAN_TPID_VALID;
        b[48 + H3_STATUS..48 + H3_STATUS + 4].copy_from_slice(&st.to_ne_bytes());
        assert_eq!(
            parse_entry(&b, 48).unwrap().vlan,
            Some([0x88, 0xa8, 0x60, 0])
        );
    }

    #[test]
    fn malformed_rx_entries_are_refused_not_indexed() {
        let good = block_with_two_entries();
        // an entry offset past the end, a header cut by the end of the block
        assert!(parse_entry(&good, 4096).is_none());
        assert!(parse_entry(&good, 4096 - 20).is_none());
        assert!(parse_entry(&good, usize::MAX).is_none());
        // data running past the block: huge snaplen, huge tp_mac
        let mut b = good.clone();
        b[48 + H3_SNAPLEN..48 + H3_SNAPLEN + 4].copy_from_slice(&u32::MAX.to_ne_bytes());
        assert!(parse_entry(&b, 48).is_none());
        let mut b = good.clone();
        b[48 + H3_MAC..48 + H3_MAC + 2].copy_from_slice(&u16::MAX.to_ne_bytes());
        assert!(parse_entry(&b, 48).is_none());
        // every truncation of the block: no panic, and no entry whose data is cut
        for n in 0..good.len() {
            if let Some(e) = parse_entry(&good[..n], 48) {
                assert!(e.data.end <= n);
            }
        }
    }

    #[test]
    fn header_offsets_match_the_kernel_structs() {
        assert_eq!(
            core::mem::offset_of!(libc::tpacket3_hdr, tp_next_offset),
            H3_NEXT
        );
        assert_eq!(
            core::mem::offset_of!(libc::tpacket3_hdr, tp_snaplen),
            H3_SNAPLEN
        );
        assert_eq!(core::mem::offset_of!(libc::tpacket3_hdr, tp_len), H3_LEN);
        assert_eq!(
            core::mem::offset_of!(libc::tpacket3_hdr, tp_status),
            H3_STATUS
        );
        assert_eq!(core::mem::offset_of!(libc::tpacket3_hdr, tp_mac), H3_MAC);
        let hv1 = core::mem::offset_of!(libc::tpacket3_hdr, hv1);
        assert_eq!(
            hv1 + core::mem::offset_of!(libc::tpacket_hdr_variant1, tp_vlan_tci),
            H3_VLAN_TCI
        );
        assert_eq!(
            hv1 + core::mem::offset_of!(libc::tpacket_hdr_variant1, tp_vlan_tpid),
            H3_VLAN_TPID
        );
        assert_eq!(
            libc::TPACKET3_HDRLEN - size_of::<libc::sockaddr_ll>(),
            H3_ALIGNED
        );
        assert_eq!(
            core::mem::offset_of!(libc::sockaddr_ll, sll_pkttype),
            SLL_PKTTYPE - H3_ALIGNED
        );
        assert_eq!(
            core::mem::offset_of!(libc::tpacket_block_desc, hdr),
            BLOCK_STATUS
        );
        assert_eq!(
            core::mem::offset_of!(libc::tpacket_hdr_v1, num_pkts),
            BLOCK_NUM_PKTS - BLOCK_STATUS
        );
        assert_eq!(
            core::mem::offset_of!(libc::tpacket_hdr_v1, offset_to_first_pkt),
            BLOCK_FIRST_PKT - BLOCK_STATUS
        );
    }
}
