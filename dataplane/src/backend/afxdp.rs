//! AF_XDP sockets: a UMEM, its fill and completion rings, the RX and TX rings, and the
//! XDP program that redirects an interface queue into the socket.
//!
//! The ring layer is our own, over `libc` (see dataplane/README.md, "AF_XDP", for why
//! not the `afxdp` crate): the rings are the kernel's single-producer/single-consumer
//! queues mapped into our memory; we own one end of each and publish with
//! acquire/release on the shared producer and consumer indices. The XDP program is the
//! five-instruction `bpf_redirect_map(&xsks, rx_queue_index, XDP_PASS)` that libxdp
//! also loads; the `XSKMAP` is a `libbpf-rs` map, and the program is loaded from its
//! instructions and attached as a BPF link through libbpf (`libbpf_rs::libbpf_sys`), so
//! no clang is needed at build time. Closing the link detaches the program, also when the
//! process dies.
//!
//! This first version binds in copy mode (`XDP_COPY`, the only mode veth allows) and
//! copies each packet between a UMEM frame and the worker's [`Pool`]: packets stay
//! branded by the worker's arena. Zero-copy UMEM-backed packets are a later step.
//!
//! Built without the `afxdp` feature, [`Xsk::open`] returns an error saying so.

#![allow(
    unsafe_code,
    reason = "AF_XDP socket options, mmap'd rings and BPF loading; each block has a SAFETY comment"
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
use super::claim::Claim;
use super::mmap::Mmap;
use crate::buffer::{BUF_SIZE, Pool};
use crate::graph::{FRAME_SIZE, Frame};

/// Bytes of one UMEM frame (the same as a worker buffer).
pub const UMEM_FRAME: usize = BUF_SIZE;

/// Where the XDP program runs on the interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XdpMode {
    /// In the driver (`XDP_FLAGS_DRV_MODE`; veth supports it).
    Native,
    /// Generic, on the skb (`XDP_FLAGS_SKB_MODE`; every interface).
    Generic,
}

impl XdpMode {
    /// The `XDP_FLAGS_*` mode bit for attaching a program (`linux/if_link.h`).
    #[must_use]
    pub const fn flags(self) -> u32 {
        match self {
            // XDP_FLAGS_DRV_MODE, XDP_FLAGS_SKB_MODE (linux/if_link.h)
            Self::Native => 1 << 2,
            Self::Generic => 1 << 1,
        }
    }
}

/// How to open an [`Xsk`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// The interface queue to bind (one socket per queue).
    pub queue: u32,
    /// Where the redirect program runs.
    pub mode: XdpMode,
    /// UMEM frames; half go to the fill ring for RX, half are kept for TX.
    pub frames: u32,
    /// Entries of each ring (a power of two, at most `frames / 2`).
    pub ring_size: u32,
    /// Try `XDP_ZEROCOPY` first (falling back to copy mode when the driver refuses).
    pub zero_copy: bool,
    /// Bind with `XDP_USE_NEED_WAKEUP`: system calls only when the kernel's ring flag
    /// asks for one (saves a syscall per burst with zero-copy drivers; in copy mode the
    /// TX flag stays set, since copy-mode TX runs inside `sendto`).
    pub need_wakeup: bool,
    /// Busy polling of the interface queue's NAPI from our own system calls
    /// (`SO_BUSY_POLL`, `SO_BUSY_POLL_BUDGET`, `SO_PREFER_BUSY_POLL`), `None`: off. When
    /// on, every [`Backend::rx_burst`] starts with a non-blocking `recvfrom`, which runs
    /// the driver's NAPI poll (the XDP program and, in copy mode, the copy into our RX
    /// ring) in the worker's context instead of a softirq. Needs the NAPI instance the
    /// socket learns from its first packet (veth: GRO or XDP enabled).
    pub busy_poll: Option<BusyPoll>,
    /// Most packets one [`Backend::rx_burst`] takes off the RX ring (at most a frame,
    /// [`FRAME_SIZE`]).
    pub rx_batch: u32,
}

/// Busy-polling settings of an AF_XDP socket (see [`Config::busy_poll`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BusyPoll {
    /// `SO_BUSY_POLL`: microseconds a system call may poll the NAPI for.
    pub usecs: u32,
    /// `SO_BUSY_POLL_BUDGET`: packets per NAPI poll.
    pub budget: u16,
    /// `SO_PREFER_BUSY_POLL`: keep the NAPI off the softirq while we poll (with the
    /// interface's `napi_defer_hard_irqs` and `gro_flush_timeout` set).
    pub prefer: bool,
}

impl Config {
    /// The largest queue index the redirect program's map holds, plus one.
    pub const MAX_QUEUES: u32 = 64;

    /// Checks the sizes before any system call.
    fn check(&self) -> io::Result<()> {
        let bad = |m: &'static str| Err(io::Error::new(io::ErrorKind::InvalidInput, m));
        if !self.ring_size.is_power_of_two() || self.ring_size.saturating_mul(2) > self.frames {
            return bad("ring_size must be a power of two and at most frames / 2");
        }
        if usize::try_from(self.frames)
            .ok()
            .and_then(|f| f.checked_mul(UMEM_FRAME))
            .is_none_or(|b| b > 1 << 32)
        {
            return bad("frames: the UMEM must fit in 4 GiB");
        }
        if self.queue >= Self::MAX_QUEUES {
            return bad("queue must be below Config::MAX_QUEUES");
        }
        Ok(())
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            queue: 0,
            mode: XdpMode::Native,
            frames: 4096,
            ring_size: 2048,
            zero_copy: true,
            need_wakeup: true,
            busy_poll: None,
            rx_batch: FRAME_SIZE as u32,
        }
    }
}

/// Counters of one socket, including the kernel's `XDP_STATISTICS`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Packets received (and handed to the graph).
    pub rx: u64,
    /// Packets received but dropped here: longer than a pool buffer holds after its
    /// headroom, or outside the UMEM.
    pub rx_too_long: u64,
    /// Packets handed to the TX ring.
    pub tx: u64,
    /// Packets dropped on TX: no free UMEM frame, no TX ring room, or too long.
    pub tx_dropped: u64,
    /// Kernel: dropped for other reasons on RX.
    pub rx_dropped: u64,
    /// Kernel: RX ring full.
    pub rx_ring_full: u64,
    /// Kernel: fill ring empty when a packet arrived.
    pub rx_fill_ring_empty: u64,
    /// Kernel: invalid TX descriptors.
    pub tx_invalid: u64,
    /// `sendto` kicks of the TX ring.
    pub tx_kicks: u64,
    /// `recvfrom` wakeups of RX (fill ring flagged `XDP_RING_NEED_WAKEUP`).
    pub rx_wakeups: u64,
}

/// One end of a kernel ring of `T` entries: producer and consumer indices (free-running
/// u32) and the entry array, all inside `map`.
#[derive(Debug)]
struct Ring<T> {
    /// Keeps the mapping the pointers below point into.
    _map: Mmap,
    producer: *const AtomicU32,
    consumer: *const AtomicU32,
    /// The ring's flags word (`XDP_RING_NEED_WAKEUP`).
    flags: *const AtomicU32,
    desc: *mut T,
    mask: u32,
    size: u32,
}

impl<T: Copy> Ring<T> {
    /// Maps the ring of `size` entries of socket `fd` at page offset `pgoff`, with the
    /// field offsets the kernel reported.
    #[allow(
        clippy::cast_ptr_alignment,
        reason = "the offsets are checked to be aligned for their types, and mmap is page-aligned"
    )]
    fn map(
        fd: BorrowedFd<'_>,
        off: &libc::xdp_ring_offset,
        size: u32,
        pgoff: u64,
    ) -> io::Result<Self> {
        let len = off.desc as usize + size as usize * size_of::<T>();
        let map = Mmap::new(len, Some(fd), pgoff)?;
        let base = map.ptr.as_ptr();
        if off.producer as usize + 4 > len
            || off.consumer as usize + 4 > len
            || off.flags as usize + 4 > len
            || off.desc as usize > len
            || off.producer % 4 != 0
            || off.consumer % 4 != 0
            || off.flags % 4 != 0
            || off.desc as usize % align_of::<T>() != 0
        {
            return Err(io::Error::other(
                "XDP_MMAP_OFFSETS outside the ring mapping",
            ));
        }
        // SAFETY: the offsets were checked to lie inside the mapping of `len` bytes; the
        // kernel aligns producer/consumer to 4 (they are u32s it updates atomically) and
        // the descriptor array to its entry type.
        let (producer, consumer, flags, desc) = unsafe {
            (
                base.add(off.producer as usize)
                    .cast::<AtomicU32>()
                    .cast_const(),
                base.add(off.consumer as usize)
                    .cast::<AtomicU32>()
                    .cast_const(),
                base.add(off.flags as usize)
                    .cast::<AtomicU32>()
                    .cast_const(),
                base.add(off.desc as usize).cast::<T>(),
            )
        };
        Ok(Self {
            _map: map,
            producer,
            consumer,
            flags,
            desc,
            mask: size - 1,
            size,
        })
    }

    fn producer(&self) -> &AtomicU32 {
        // SAFETY: points into `self.map`, which lives as long as `self`; the kernel
        // writes it only atomically.
        unsafe { &*self.producer }
    }

    fn consumer(&self) -> &AtomicU32 {
        // SAFETY: as for `producer`.
        unsafe { &*self.consumer }
    }

    /// Whether the kernel asks to be woken up (`XDP_RING_NEED_WAKEUP`; only meaningful
    /// when bound with `XDP_USE_NEED_WAKEUP`).
    fn needs_wakeup(&self) -> bool {
        // SAFETY: as for `producer` (the flags word, checked inside the mapping).
        let f = unsafe { &*self.flags };
        f.load(Ordering::Relaxed) & libc::XDP_RING_NEED_WAKEUP != 0
    }

    /// Consumer side: entries ready to read (from our consumer index on).
    fn ready(&self) -> (u32, u32) {
        let cons = self.consumer().load(Ordering::Relaxed);
        let prod = self.producer().load(Ordering::Acquire);
        (cons, prod.wrapping_sub(cons))
    }

    /// Producer side: free entries (from our producer index on).
    fn room(&self) -> (u32, u32) {
        let prod = self.producer().load(Ordering::Relaxed);
        let cons = self.consumer().load(Ordering::Acquire);
        (prod, self.size - prod.wrapping_sub(cons))
    }

    /// Reads entry `idx` (masked).
    fn read(&self, idx: u32) -> T {
        // SAFETY: `idx & mask` < size, inside the descriptor array of the mapping; the
        // caller only reads entries between consumer and producer, which the kernel
        // published (Acquire in `ready`) and does not touch until we release them.
        unsafe { self.desc.add((idx & self.mask) as usize).read() }
    }

    /// Writes entry `idx` (masked).
    fn write(&mut self, idx: u32, v: T) {
        // SAFETY: `idx & mask` < size; the caller only writes entries between producer
        // and consumer + size, which the kernel does not read until we publish them.
        unsafe { self.desc.add((idx & self.mask) as usize).write(v) }
    }

    /// Consumer side: releases entries up to `cons`.
    fn release(&self, cons: u32) {
        self.consumer().store(cons, Ordering::Release);
    }

    /// Producer side: publishes entries up to `prod`.
    fn submit(&self, prod: u32) {
        self.producer().store(prod, Ordering::Release);
    }
}

/// An AF_XDP socket bound to one queue of an interface, with its own UMEM and the XDP
/// redirect program attached to the interface.
#[derive(Debug)]
pub struct Xsk {
    // Fields drop in this order: the program is detached first, then the socket is
    // closed, then the rings and the UMEM are unmapped (the kernel keeps the UMEM pages
    // pinned while the socket lives).
    prog: std::sync::Arc<prog::Attached>,
    fd: OwnedFd,
    rx: Ring<libc::xdp_desc>,
    txs: TxSide,
    fill: Ring<u64>,
    umem: Mmap,
    ifindex: i32,
    mac: [u8; 6],
    queue: u32,
    copy_reason: Option<String>,
    need_wakeup: bool,
    busy_poll: bool,
    rx_batch: u32,
    stats: Stats,
}

// SAFETY: the raw pointers point into mappings the `Xsk` owns; moving it to another
// thread moves the only user of its rings along with it.
unsafe impl Send for Xsk {}

fn sockopt<T>(fd: BorrowedFd<'_>, name: i32, v: &T) -> io::Result<()> {
    super::sys::setsockopt(fd, libc::SOL_XDP, name, v)
}

use super::sys::ctx;

/// The interface's index and MAC address (through an ordinary UDP socket: AF_XDP
/// sockets have no device ioctls).
pub(super) fn ifinfo(ifname: &str) -> io::Result<(i32, [u8; 6])> {
    let name =
        std::ffi::CString::new(ifname).map_err(|_| io::Error::other("interface name has a NUL"))?;
    // SAFETY: `name` is NUL-terminated and valid during the call.
    let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
    if ifindex == 0 {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("no interface {ifname}"),
        ));
    }
    // SAFETY: plain socket(2); checked before use.
    let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `raw` is a fresh descriptor nothing else owns.
    let sock = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: ifreq is plain data; all-zero is valid.
    let mut ifr: libc::ifreq = unsafe { core::mem::zeroed() };
    for (d, s) in ifr.ifr_name.iter_mut().zip(name.as_bytes_with_nul()) {
        *d = *s as libc::c_char;
    }
    // SAFETY: SIOCGIFHWADDR reads ifr_name and writes ifr_hwaddr of the struct we own.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFHWADDR, &raw mut ifr) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: after a successful SIOCGIFHWADDR the union holds ifru_hwaddr.
    let hw = unsafe { ifr.ifr_ifru.ifru_hwaddr };
    let mut mac = [0u8; 6];
    for (d, s) in mac.iter_mut().zip(hw.sa_data.iter()) {
        *d = *s as u8;
    }
    Ok((i32::try_from(ifindex).map_err(io::Error::other)?, mac))
}

/// One socket's parts before the program is attached.
struct Parts {
    fd: OwnedFd,
    rx: Ring<libc::xdp_desc>,
    tx: Ring<libc::xdp_desc>,
    fill: Ring<u64>,
    comp: Ring<u64>,
    umem: Mmap,
}

/// Sets the busy-polling socket options of `bp` on `fd`.
fn busy_poll(fd: BorrowedFd<'_>, bp: BusyPoll) -> io::Result<()> {
    let so = |name: i32, v: i32, what: &'static str| {
        super::sys::setsockopt(fd, libc::SOL_SOCKET, name, &v).map_err(ctx(what))
    };
    so(
        libc::SO_PREFER_BUSY_POLL,
        i32::from(bp.prefer),
        "SO_PREFER_BUSY_POLL",
    )?;
    so(
        libc::SO_BUSY_POLL,
        i32::try_from(bp.usecs).unwrap_or(i32::MAX),
        "SO_BUSY_POLL (needs CAP_NET_ADMIN)",
    )?;
    so(
        libc::SO_BUSY_POLL_BUDGET,
        i32::from(bp.budget),
        "SO_BUSY_POLL_BUDGET",
    )
}

/// Socket, UMEM, rings and bind to `ifindex`/`queue` with `bind_flags` (`XDP_COPY` or
/// `XDP_ZEROCOPY`).
fn setup(ifindex: i32, queue: u32, cfg: &Config, bind_flags: u16) -> io::Result<Parts> {
    // SAFETY: plain socket(2); checked before use.
    let raw = unsafe { libc::socket(libc::AF_XDP, libc::SOCK_RAW, 0) };
    if raw < 0 {
        return Err(
            ctx("AF_XDP socket (needs CONFIG_XDP_SOCKETS, CAP_NET_RAW)")(io::Error::last_os_error()),
        );
    }
    // SAFETY: `raw` is a fresh descriptor nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    let umem_len = cfg.frames as usize * UMEM_FRAME;
    let umem = Mmap::new(umem_len, None, 0).map_err(ctx("UMEM mmap"))?;
    let reg = libc::xdp_umem_reg {
        addr: umem.ptr.as_ptr() as u64,
        len: umem_len as u64,
        chunk_size: UMEM_FRAME as u32,
        headroom: 0,
        flags: 0,
        tx_metadata_len: 0,
    };
    sockopt(fd.as_fd(), libc::XDP_UMEM_REG, &reg).map_err(ctx("XDP_UMEM_REG"))?;
    for opt in [
        libc::XDP_UMEM_FILL_RING,
        libc::XDP_UMEM_COMPLETION_RING,
        libc::XDP_RX_RING,
        libc::XDP_TX_RING,
    ] {
        sockopt(fd.as_fd(), opt, &cfg.ring_size).map_err(ctx("XDP ring size"))?;
    }
    // SAFETY: plain data; all-zero is valid (and the kernel fills it).
    let mut off: libc::xdp_mmap_offsets = unsafe { core::mem::zeroed() };
    let mut optlen = size_of::<libc::xdp_mmap_offsets>() as libc::socklen_t;
    // SAFETY: `off`/`optlen` describe a buffer we own of the size passed.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_XDP,
            libc::XDP_MMAP_OFFSETS,
            (&raw mut off).cast(),
            &raw mut optlen,
        )
    };
    if rc < 0 || optlen as usize != size_of::<libc::xdp_mmap_offsets>() {
        return Err(ctx("XDP_MMAP_OFFSETS")(io::Error::last_os_error()));
    }
    let n = cfg.ring_size;
    let fill = Ring::map(fd.as_fd(), &off.fr, n, libc::XDP_UMEM_PGOFF_FILL_RING)
        .map_err(ctx("fill ring mmap"))?;
    let comp = Ring::map(fd.as_fd(), &off.cr, n, libc::XDP_UMEM_PGOFF_COMPLETION_RING)
        .map_err(ctx("completion ring mmap"))?;
    let rx = Ring::map(fd.as_fd(), &off.rx, n, libc::XDP_PGOFF_RX_RING as u64)
        .map_err(ctx("RX ring mmap"))?;
    let tx = Ring::map(fd.as_fd(), &off.tx, n, libc::XDP_PGOFF_TX_RING as u64)
        .map_err(ctx("TX ring mmap"))?;

    if let Some(bp) = cfg.busy_poll {
        busy_poll(fd.as_fd(), bp)?;
    }
    let sxdp = libc::sockaddr_xdp {
        sxdp_family: libc::AF_XDP as u16,
        sxdp_flags: bind_flags
            | if cfg.need_wakeup {
                libc::XDP_USE_NEED_WAKEUP
            } else {
                0
            },
        sxdp_ifindex: ifindex as u32,
        sxdp_queue_id: queue,
        sxdp_shared_umem_fd: 0,
    };
    // SAFETY: `sxdp` is a valid sockaddr_xdp and its size is passed.
    let rc = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&raw const sxdp).cast::<libc::sockaddr>(),
            size_of::<libc::sockaddr_xdp>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        let what = if bind_flags == libc::XDP_ZEROCOPY {
            "bind AF_XDP (XDP_ZEROCOPY)"
        } else {
            "bind AF_XDP (XDP_COPY)"
        };
        return Err(ctx(what)(io::Error::last_os_error()));
    }
    Ok(Parts {
        fd,
        rx,
        tx,
        fill,
        comp,
        umem,
    })
}

impl Xsk {
    /// Opens an AF_XDP socket on `ifname`/`cfg.queue`, loads the redirect program and
    /// attaches it in `cfg.mode` (needs `CAP_NET_ADMIN`, `CAP_BPF`, `CAP_NET_RAW`).
    /// Binds zero-copy first when `cfg.zero_copy`, else (or when the driver refuses)
    /// in copy mode; [`Xsk::copy_reason`] says why.
    ///
    /// # Errors
    /// The OS error of the failing step (socket, UMEM registration, ring setup, mmap,
    /// bind, map, program load or attach) with the step in the message; a build without
    /// the `afxdp` feature always fails here.
    pub fn open(ifname: &str, cfg: Config) -> io::Result<Self> {
        let mut v = Self::open_queues(ifname, &[cfg.queue], cfg)?;
        v.pop().ok_or_else(|| io::Error::other("no socket"))
    }

    /// Opens one socket per queue of `queues` on `ifname` (each with its own UMEM and
    /// rings; `cfg.queue` is ignored), and one redirect program whose `XSKMAP` holds
    /// each socket at its queue id (the program does `bpf_redirect_map(&xsks,
    /// ctx->rx_queue_index, XDP_PASS)`). One worker may own each socket. The program is
    /// detached when the last of the sockets is dropped.
    ///
    /// # Errors
    /// As [`Xsk::open`]; `InvalidInput` for no queue, a repeated queue or one at or
    /// above [`Config::MAX_QUEUES`].
    pub fn open_queues(ifname: &str, queues: &[u32], cfg: Config) -> io::Result<Vec<Self>> {
        cfg.check()?;
        let bad = |m: &'static str| io::Error::new(io::ErrorKind::InvalidInput, m);
        if queues.is_empty() {
            return Err(bad("no queue to open"));
        }
        for (i, q) in queues.iter().enumerate() {
            if *q >= Config::MAX_QUEUES {
                return Err(bad("queue must be below Config::MAX_QUEUES"));
            }
            if queues.get(..i).is_some_and(|b| b.contains(q)) {
                return Err(bad("a queue is listed twice"));
            }
        }
        let (ifindex, mac) = ifinfo(ifname)?;
        let mut parts = Vec::with_capacity(queues.len());
        for &q in queues {
            let (p, why) = if cfg.zero_copy {
                match setup(ifindex, q, &cfg, libc::XDP_ZEROCOPY) {
                    Ok(p) => (p, None),
                    Err(e) => (
                        setup(ifindex, q, &cfg, libc::XDP_COPY)?,
                        Some(e.to_string()),
                    ),
                }
            } else {
                (
                    setup(ifindex, q, &cfg, libc::XDP_COPY)?,
                    Some("zero-copy not asked for".to_owned()),
                )
            };
            parts.push((q, p, why));
        }
        let fds: Vec<(u32, BorrowedFd<'_>)> =
            parts.iter().map(|(q, p, _)| (*q, p.fd.as_fd())).collect();
        let attached = std::sync::Arc::new(prog::Attached::new(&fds, ifindex, cfg.mode)?);
        let mut out = Vec::with_capacity(parts.len());
        for (queue, p, copy_reason) in parts {
            let mut s = Self {
                prog: std::sync::Arc::clone(&attached),
                fd: p.fd,
                rx: p.rx,
                txs: TxSide {
                    tx: p.tx,
                    comp: p.comp,
                    free: Vec::with_capacity(cfg.frames as usize),
                },
                fill: p.fill,
                umem: p.umem,
                ifindex,
                mac,
                queue,
                copy_reason,
                need_wakeup: cfg.need_wakeup,
                busy_poll: cfg.busy_poll.is_some(),
                rx_batch: cfg.rx_batch.clamp(1, FRAME_SIZE as u32),
                stats: Stats::default(),
            };
            // lend the first ring_size frames to the kernel for RX; keep the rest for TX
            let (prod, room) = s.fill.room();
            let lend = room.min(cfg.ring_size);
            for i in 0..lend {
                s.fill
                    .write(prod.wrapping_add(i), u64::from(i) * UMEM_FRAME as u64);
            }
            s.fill.submit(prod.wrapping_add(lend));
            s.txs
                .free
                .extend((lend..cfg.frames).map(|i| u64::from(i) * UMEM_FRAME as u64));
            out.push(s);
        }
        Ok(out)
    }

    /// The interface queue this socket is bound to.
    #[must_use]
    pub fn queue(&self) -> u32 {
        self.queue
    }

    /// `None` when bound zero-copy (`XDP_ZEROCOPY`); else why copy mode is used (the
    /// driver's refusal of zero-copy, e.g. veth's `EOPNOTSUPP`, or that it was not asked
    /// for).
    #[must_use]
    pub fn copy_reason(&self) -> Option<&str> {
        self.copy_reason.as_deref()
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

    /// Where the redirect program is attached.
    #[must_use]
    pub fn mode(&self) -> XdpMode {
        self.prog.mode()
    }

    /// Our counters and the kernel's `XDP_STATISTICS`.
    #[must_use]
    pub fn stats(&self) -> Stats {
        with_kernel_stats(self.fd.as_fd(), self.stats)
    }

    /// The bytes of UMEM frame `addr`, `len` long (`None` if outside the UMEM).
    fn frame(&self, addr: u64, len: usize) -> Option<&[u8]> {
        umem_frame(&self.umem, addr, len)
    }

    /// A zero-length, non-blocking `recvfrom`: wakes a zero-copy driver's RX, and with
    /// busy polling runs the NAPI poll in our context.
    fn wake_rx(&mut self) {
        wake_rx(self.fd.as_fd());
        self.stats.rx_wakeups += 1;
    }
}

impl AsFd for Xsk {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// An [`Xsk`] as a graph backend: copies between UMEM frames and the worker's pool.
impl Backend for Xsk {
    fn rx_burst<'p>(&mut self, pool: &mut Pool<'p>, out: &mut Frame<'p>) -> usize {
        if self.busy_poll {
            // runs the NAPI poll (XDP program, copy into our RX ring) right here
            self.wake_rx();
        }
        let (cons, ready) = self.rx.ready();
        let want = ready
            .min(self.rx_batch)
            .min(u32::try_from(FRAME_SIZE.saturating_sub(out.len())).unwrap_or(0))
            .min(u32::try_from(pool.available()).unwrap_or(u32::MAX));
        if want == 0 {
            return 0;
        }
        let mut got = 0u32;
        for i in 0..want {
            let d = self.rx.read(cons.wrapping_add(i));
            // copy mode: no UMEM headroom configured, so the data starts at the address
            if let Some(p) = self
                .frame(d.addr, d.len as usize)
                .and_then(|data| pool.alloc_from(data))
            {
                out.push(p);
                got += 1;
            } else {
                self.stats.rx_too_long += 1;
            }
        }
        // the frames go straight back to the kernel
        refill(&self.rx, cons, want, &mut self.fill, &mut self.txs.free);
        if !self.busy_poll && self.need_wakeup && self.fill.needs_wakeup() {
            // a zero-copy driver that ran out of fill entries waits for this to resume
            // RX (copy mode never sets the flag); an idle worker's poll does the same
            self.wake_rx();
        }
        self.rx.release(cons.wrapping_add(want));
        self.stats.rx += u64::from(got);
        got as usize
    }

    fn tx_burst<'p>(&mut self, pool: &mut Pool<'p>, frame: &mut Frame<'p>) -> usize {
        self.txs.send(
            &self.umem,
            self.fd.as_fd(),
            self.need_wakeup,
            &mut self.stats,
            pool,
            frame,
        )
    }
}

/// Steering at the queue over AF_XDP ([`super::claim`]): one socket's RX ring read by
/// several workers, each taking only the frames its [`Claim`] gives it. This is the
/// kernel-bypass answer to a NIC that cannot RSS PPPoE: every subscriber frame arrives
/// on one queue, and an XDP program can only hand a frame to the socket of the queue it
/// arrived on, so one socket it is, and the workers share its RX ring (the hardware
/// queue's own receive stays on one core).
///
/// Each member ([`Xsk::into_claims`]) reads the ring's descriptors from its own cursor,
/// copies its frames into its worker's pool and passes over the others; none consumes
/// the ring alone. A frame goes back to the kernel (fill ring, and the RX ring's
/// consumer index moves) once every member has passed it: whichever member finds the
/// lock free hands back everything behind the slowest cursor. TX goes through the
/// socket's one TX ring under the same lock, a burst at a time.
///
/// The members move at the pace of the slowest: a worker that stops reading (a long
/// stall) holds the ring, and the kernel counts the frames it then drops
/// (`rx_ring_full`). A dropped member stops holding it.
#[derive(Debug)]
pub struct XskClaim {
    shared: std::sync::Arc<XskShared>,
    me: usize,
    claim: Claim,
    /// The next RX ring index this member reads (free-running, as the ring's indices).
    cursor: u32,
    stats: Stats,
}

/// What the members of an [`XskClaim`] group share.
#[derive(Debug)]
struct XskShared {
    // Fields drop in this order, as an `Xsk`'s: program, socket, rings, UMEM.
    _prog: std::sync::Arc<prog::Attached>,
    fd: OwnedFd,
    rx: Ring<libc::xdp_desc>,
    /// The fill and TX sides, and the right to move the RX ring's consumer index.
    side: std::sync::Mutex<ClaimSide>,
    umem: Mmap,
    /// Each member's cursor, published after it has finished with the frames before.
    cursors: Box<[AtomicU32]>,
    /// Members not dropped yet.
    active: Box<[std::sync::atomic::AtomicBool]>,
    mac: [u8; 6],
    ifindex: i32,
    queue: u32,
    need_wakeup: bool,
    busy_poll: bool,
}

#[derive(Debug)]
struct ClaimSide {
    fill: Ring<u64>,
    txs: TxSide,
}

// SAFETY: the raw pointers point into mappings the `XskShared` owns. Members share it
// as follows: the RX ring's descriptors between its consumer and producer indices are
// only read (by every member; the kernel does not touch them until the consumer index
// passes them), and the UMEM frames they name are only read (the kernel reuses a frame
// only after it is put back on the fill ring); the consumer index, the fill ring, the
// TX and completion rings and the free frames are used only under the `side` lock, and
// the consumer index never passes an active member's cursor, which that member
// publishes (Release) only after its last read before it; the releaser loads the
// cursors with Acquire.
unsafe impl Send for XskShared {}
// SAFETY: as for `Send`: shared use is read-only or under the lock, as described.
unsafe impl Sync for XskShared {}

impl Xsk {
    /// Turns this socket into one [`XskClaim`] member per claim of `claims` (worker
    /// `claims[i]`'s port), which read its RX ring together.
    ///
    /// # Errors
    /// `InvalidInput` unless the claims are one placement's, one per worker
    /// ([`Claim::cover`]): otherwise some frames would be taken twice or by nobody.
    pub fn into_claims(self, claims: Vec<Claim>) -> io::Result<Vec<XskClaim>> {
        if !Claim::cover(&claims) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "claims must be one placement's, one per worker",
            ));
        }
        let start = self.rx.consumer().load(Ordering::Relaxed);
        let n = claims.len();
        let shared = std::sync::Arc::new(XskShared {
            _prog: self.prog,
            fd: self.fd,
            rx: self.rx,
            side: std::sync::Mutex::new(ClaimSide {
                fill: self.fill,
                txs: self.txs,
            }),
            umem: self.umem,
            cursors: (0..n).map(|_| AtomicU32::new(start)).collect(),
            active: (0..n)
                .map(|_| std::sync::atomic::AtomicBool::new(true))
                .collect(),
            mac: self.mac,
            ifindex: self.ifindex,
            queue: self.queue,
            need_wakeup: self.need_wakeup,
            busy_poll: self.busy_poll,
        });
        Ok(claims
            .into_iter()
            .enumerate()
            .map(|(me, claim)| XskClaim {
                shared: std::sync::Arc::clone(&shared),
                me,
                claim,
                cursor: start,
                stats: Stats::default(),
            })
            .collect())
    }
}

impl XskClaim {
    /// The interface's MAC address.
    #[must_use]
    pub fn mac(&self) -> [u8; 6] {
        self.shared.mac
    }

    /// The interface index.
    #[must_use]
    pub fn ifindex(&self) -> i32 {
        self.shared.ifindex
    }

    /// The interface queue the shared socket is bound to.
    #[must_use]
    pub fn queue(&self) -> u32 {
        self.shared.queue
    }

    /// This member's counters (its `rx`, `tx`) and the socket's `XDP_STATISTICS`.
    #[must_use]
    pub fn stats(&self) -> Stats {
        with_kernel_stats(self.shared.fd.as_fd(), self.stats)
    }

    /// Hands every frame all active members have passed back to the kernel, if no
    /// other member is doing so right now.
    fn release(&self) {
        let sh = &*self.shared;
        let Ok(mut side) = sh.side.try_lock() else {
            return;
        };
        let cons = sh.rx.consumer().load(Ordering::Relaxed);
        let mut done = u32::MAX;
        for (c, a) in sh.cursors.iter().zip(sh.active.iter()) {
            if a.load(Ordering::Acquire) {
                done = done.min(c.load(Ordering::Acquire).wrapping_sub(cons));
            }
        }
        if done == u32::MAX {
            // no member left: everything read is released
            done = sh.rx.producer().load(Ordering::Acquire).wrapping_sub(cons);
        }
        if done == 0 {
            return;
        }
        let side = &mut *side;
        refill(&sh.rx, cons, done, &mut side.fill, &mut side.txs.free);
        sh.rx.release(cons.wrapping_add(done));
        if !sh.busy_poll && sh.need_wakeup && side.fill.needs_wakeup() {
            wake_rx(sh.fd.as_fd());
        }
    }
}

impl Drop for XskClaim {
    fn drop(&mut self) {
        if let Some(a) = self.shared.active.get(self.me) {
            a.store(false, Ordering::Release);
        }
        self.release();
    }
}

impl AsFd for XskClaim {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.shared.fd.as_fd()
    }
}

/// Frames a member looks at per [`Backend::rx_burst`] at most.
const CLAIM_SCAN_MAX: u32 = 4 * FRAME_SIZE as u32;

impl Backend for XskClaim {
    fn rx_burst<'p>(&mut self, pool: &mut Pool<'p>, out: &mut Frame<'p>) -> usize {
        let sh = &*self.shared;
        if sh.busy_poll {
            wake_rx(sh.fd.as_fd());
            self.stats.rx_wakeups += 1;
        }
        let prod = sh.rx.producer().load(Ordering::Acquire);
        let ready = prod.wrapping_sub(self.cursor).min(CLAIM_SCAN_MAX);
        let mut read = 0u32;
        let mut got = 0u64;
        while read < ready && out.len() < FRAME_SIZE {
            let d = sh.rx.read(self.cursor.wrapping_add(read));
            match umem_frame(&sh.umem, d.addr, d.len as usize) {
                Some(data) if self.claim.takes(data) => {
                    if pool.available() == 0 {
                        // read this one again next time
                        break;
                    }
                    if let Some(p) = pool.alloc_from(data) {
                        out.push(p);
                        got += 1;
                    } else {
                        // longer than a pool buffer holds after its headroom
                        self.stats.rx_too_long += 1;
                    }
                }
                Some(_) => {}
                None => {
                    // outside the UMEM or too long: counted by the member that would
                    // take it (worker 0's claim takes unparsable frames)
                    if self.claim.takes(&[]) {
                        self.stats.rx_too_long += 1;
                    }
                }
            }
            read += 1;
        }
        if read > 0 {
            self.cursor = self.cursor.wrapping_add(read);
            if let Some(c) = sh.cursors.get(self.me) {
                c.store(self.cursor, Ordering::Release);
            }
            self.release();
        }
        self.stats.rx += got;
        usize::try_from(got).unwrap_or(0)
    }

    fn tx_burst<'p>(&mut self, pool: &mut Pool<'p>, frame: &mut Frame<'p>) -> usize {
        let sh = &*self.shared;
        let mut side = sh
            .side
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        side.txs.send(
            &sh.umem,
            sh.fd.as_fd(),
            sh.need_wakeup,
            &mut self.stats,
            pool,
            frame,
        )
    }
}

/// Waits at most `timeout` until one of `sockets` has a packet on its RX ring.
/// Returns whether one has.
///
/// # Errors
/// The OS error of `poll`.
pub fn wait_any(sockets: &[Xsk], timeout: Duration) -> io::Result<bool> {
    super::sys::wait_readable(sockets.iter().map(|s| s.fd.as_raw_fd()), timeout)
}

/// Gives the UMEM frames of RX ring entries `cons .. cons + n` back to the kernel on
/// the fill ring (the frame's start: the kernel may have placed the data further in).
/// The fill ring has room for every frame we hold, since it is as large as the frames
/// we lend; any beyond its room go to `free`, for TX.
fn refill(rx: &Ring<libc::xdp_desc>, cons: u32, n: u32, fill: &mut Ring<u64>, free: &mut Vec<u64>) {
    let (fprod, froom) = fill.room();
    for i in 0..n {
        let d = rx.read(cons.wrapping_add(i));
        let addr = d.addr - d.addr % UMEM_FRAME as u64;
        if i < froom {
            fill.write(fprod.wrapping_add(i), addr);
        } else {
            free.push(addr);
        }
    }
    fill.submit(fprod.wrapping_add(n.min(froom)));
}

/// `stats` with the kernel's `XDP_STATISTICS` of socket `fd` filled in.
fn with_kernel_stats(fd: BorrowedFd<'_>, mut s: Stats) -> Stats {
    // SAFETY: plain data; all-zero is valid.
    let mut k: libc::xdp_statistics = unsafe { core::mem::zeroed() };
    let mut len = size_of::<libc::xdp_statistics>() as libc::socklen_t;
    // SAFETY: `k`/`len` describe a buffer we own of the size passed.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_XDP,
            libc::XDP_STATISTICS,
            (&raw mut k).cast(),
            &raw mut len,
        )
    };
    if rc == 0 {
        s.rx_dropped = k.rx_dropped;
        s.rx_ring_full = k.rx_ring_full;
        s.rx_fill_ring_empty = k.rx_fill_ring_empty_descs;
        s.tx_invalid = k.tx_invalid_descs;
    }
    s
}

/// A zero-length, non-blocking `recvfrom` on socket `fd`: wakes a zero-copy driver's
/// RX, and with busy polling runs the NAPI poll in our context.
fn wake_rx(fd: BorrowedFd<'_>) {
    // SAFETY: a zero-length, non-blocking receive on a socket we borrow, no buffer.
    unsafe {
        libc::recvfrom(
            fd.as_raw_fd(),
            core::ptr::null_mut(),
            0,
            libc::MSG_DONTWAIT,
            core::ptr::null_mut(),
            core::ptr::null_mut(),
        );
    }
}

/// The bytes of UMEM frame `addr`, `len` long (`None` if outside the UMEM). The
/// caller holds the frame: the kernel handed it over on the RX ring and gets it back
/// only through the fill ring, after this borrow ends.
fn umem_frame(umem: &Mmap, addr: u64, len: usize) -> Option<&[u8]> {
    let a = usize::try_from(addr).ok()?;
    if a.checked_add(len)? > umem.len || len > UMEM_FRAME {
        return None;
    }
    // SAFETY: `a..a+len` was checked to lie inside the UMEM mapping; the frame is held
    // by the caller (see above), so nothing writes it while the borrow lives.
    Some(unsafe { core::slice::from_raw_parts(umem.ptr.as_ptr().add(a), len) })
}

/// UMEM frame `addr`, writable, `len` long (`None` if outside the UMEM). The caller
/// holds the frame alone: it came from a free list, so the kernel does not use it until
/// it is put on the TX ring after this borrow, and no other borrow of it exists.
#[allow(
    clippy::mut_from_ref,
    reason = "the UMEM is shared memory; the frame's only holder is the caller"
)]
fn umem_frame_mut(umem: &Mmap, addr: u64, len: usize) -> Option<&mut [u8]> {
    let a = usize::try_from(addr).ok()?;
    if a.checked_add(len)? > umem.len || len > UMEM_FRAME {
        return None;
    }
    // SAFETY: inside the UMEM mapping (checked); the frame is the caller's alone (see
    // above), so this is the only reference to these bytes while it lives.
    Some(unsafe { core::slice::from_raw_parts_mut(umem.ptr.as_ptr().add(a), len) })
}

/// Asks the kernel to transmit what the TX ring of socket `fd` holds (copy mode sends
/// on `sendto`).
fn kick(fd: BorrowedFd<'_>) {
    // SAFETY: a zero-length send with no buffer and no address on a socket we borrow.
    unsafe {
        libc::sendto(
            fd.as_raw_fd(),
            core::ptr::null(),
            0,
            libc::MSG_DONTWAIT,
            core::ptr::null(),
            0,
        );
    }
}

/// The TX side of a socket: its TX and completion rings and the UMEM frames not lent
/// to the kernel.
#[derive(Debug)]
struct TxSide {
    tx: Ring<libc::xdp_desc>,
    comp: Ring<u64>,
    /// UMEM frame addresses not lent to the kernel (for TX).
    free: Vec<u64>,
}

impl TxSide {
    /// Takes back frames the kernel finished sending.
    fn reap_completions(&mut self) {
        let (cons, n) = self.comp.ready();
        for i in 0..n {
            let addr = self.comp.read(cons.wrapping_add(i));
            self.free.push(addr);
        }
        self.comp.release(cons.wrapping_add(n));
    }

    /// Copies `frame`'s packets into free UMEM frames of `umem` and onto the TX ring,
    /// kicking the kernel through `fd`; returns how many went out.
    fn send<'p>(
        &mut self,
        umem: &Mmap,
        fd: BorrowedFd<'_>,
        need_wakeup: bool,
        stats: &mut Stats,
        pool: &mut Pool<'p>,
        frame: &mut Frame<'p>,
    ) -> usize {
        let pending = self.tx.producer().load(Ordering::Relaxed)
            != self.tx.consumer().load(Ordering::Acquire);
        if frame.is_empty() && !pending {
            return 0;
        }
        self.reap_completions();
        let (prod, room) = self.tx.room();
        let mut n = 0u32;
        for p in frame.drain(..) {
            let len = p.len();
            let addr = if n < room && len <= UMEM_FRAME {
                self.free.pop()
            } else {
                None
            };
            if let Some((a, f)) = addr.and_then(|a| umem_frame_mut(umem, a, len).map(|f| (a, f))) {
                f.copy_from_slice(p.data());
                let desc = libc::xdp_desc {
                    addr: a,
                    len: len as u32,
                    options: 0,
                };
                self.tx.write(prod.wrapping_add(n), desc);
                n += 1;
            } else {
                if let Some(a) = addr {
                    self.free.push(a);
                }
                stats.tx_dropped += 1;
            }
            pool.free(p);
        }
        if n > 0 || pending {
            let end = prod.wrapping_add(n);
            self.tx.submit(end);
            // copy mode sends at most 32 descriptors per sendto (the kernel's TX batch):
            // kick until the kernel has consumed the burst, a bounded number of times
            // (with need-wakeup, only while the kernel flags that it wants a kick: a
            // zero-copy driver consumes the ring on its own)
            for _ in 0..=n / 16 + 2 {
                if need_wakeup && !self.tx.needs_wakeup() {
                    break;
                }
                kick(fd);
                stats.tx_kicks += 1;
                if self.tx.consumer().load(Ordering::Acquire) == end {
                    break;
                }
            }
            self.reap_completions();
        }
        stats.tx += u64::from(n);
        n as usize
    }
}

#[cfg(feature = "afxdp")]
mod prog {
    //! The redirect program and its `XSKMAP`, through libbpf-rs.

    use std::io;
    use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

    use libbpf_rs::libbpf_sys;
    use libbpf_rs::{MapCore, MapFlags, MapHandle, MapType};

    use super::XdpMode;

    use super::super::sys::{Insn, insn};

    /// `return bpf_redirect_map(&xsks, ctx->rx_queue_index, XDP_PASS);` — the program
    /// libxdp loads for an XSK (kernels >= 5.3 accept the fallback action in `flags`).
    fn redirect_insns(map_fd: i32) -> [Insn; 6] {
        [
            // r2 = *(u32 *)(r1 + offsetof(struct xdp_md, rx_queue_index) = 16)
            insn(0x61, 2, 1, 16, 0),
            // r1 = map_fd (BPF_LD | BPF_DW | BPF_IMM, src = BPF_PSEUDO_MAP_FD), 2 slots
            insn(0x18, 1, 1, 0, map_fd),
            insn(0, 0, 0, 0, 0),
            // r3 = XDP_PASS
            insn(0xb7, 3, 0, 0, 2),
            // call bpf_redirect_map (helper 51)
            insn(0x85, 0, 0, 0, 51),
            // exit
            insn(0x95, 0, 0, 0, 0),
        ]
    }

    /// The program's bytes as the kernel reads them (little-endian host), for tests.
    #[cfg(test)]
    pub(super) fn insn_bytes(map_fd: i32) -> [[u8; 8]; 6] {
        redirect_insns(map_fd).map(|i| {
            let mut b = [0u8; 8];
            b[0] = i.code;
            b[1] = i.regs;
            b[2..4].copy_from_slice(&i.off.to_le_bytes());
            b[4..].copy_from_slice(&i.imm.to_le_bytes());
            b
        })
    }

    /// The program attached to an interface through a BPF link, and the map holding our
    /// socket. Closing the link (on drop, or when the process dies) detaches the program
    /// from the interface it was created on, whatever network namespace the closing
    /// thread is in.
    #[derive(Debug)]
    pub(super) struct Attached {
        _link: OwnedFd,
        _prog: OwnedFd,
        _map: MapHandle,
        mode: XdpMode,
    }

    impl Attached {
        pub(super) fn new(
            xsks: &[(u32, BorrowedFd<'_>)],
            ifindex: i32,
            mode: XdpMode,
        ) -> io::Result<Self> {
            let e = |what: &'static str| {
                move |e: libbpf_rs::Error| io::Error::other(format!("{what}: {e}"))
            };
            // SAFETY: bpf_map_create_opts is plain data; all-zero is the default, and
            // `sz` is set as libbpf requires.
            let mut opts: libbpf_sys::bpf_map_create_opts = unsafe { core::mem::zeroed() };
            opts.sz = size_of::<libbpf_sys::bpf_map_create_opts>() as _;
            let map = MapHandle::create(
                MapType::Xskmap,
                Some("bng_xsks"),
                4,
                4,
                super::Config::MAX_QUEUES,
                &opts,
            )
            .map_err(e("create XSKMAP (needs CAP_BPF)"))?;
            for (queue, xsk) in xsks {
                let fd = xsk.as_raw_fd();
                map.update(&queue.to_ne_bytes(), &fd.to_ne_bytes(), MapFlags::ANY)
                    .map_err(e("XSKMAP update"))?;
            }
            let insns = redirect_insns(map.as_fd().as_raw_fd());
            let prog = super::super::sys::bpf_prog_load(
                libbpf_sys::BPF_PROG_TYPE_XDP,
                c"bng_xsk_redir",
                &insns,
                "load XDP program",
            )?;
            // SAFETY: bpf_link_create_opts is plain data; all-zero is the default, and `sz`
            // is set as libbpf requires.
            let mut lopts: libbpf_sys::bpf_link_create_opts = unsafe { core::mem::zeroed() };
            lopts.sz = size_of::<libbpf_sys::bpf_link_create_opts>() as _;
            lopts.flags = mode.flags();
            // SAFETY: a valid program descriptor we own, an interface index (the target of
            // an XDP link) and options that live for the call. The result is checked.
            let raw = unsafe {
                libbpf_sys::bpf_link_create(
                    prog.as_raw_fd(),
                    ifindex,
                    libbpf_sys::BPF_XDP,
                    &raw const lopts,
                )
            };
            if raw < 0 {
                return Err(io::Error::other(format!(
                    "attach XDP program ({mode:?} mode): {} (another XDP program on the interface?)",
                    io::Error::from_raw_os_error(-raw)
                )));
            }
            // SAFETY: `raw` is a fresh link descriptor nothing else owns.
            let link = unsafe { OwnedFd::from_raw_fd(raw) };
            Ok(Self {
                _link: link,
                _prog: prog,
                _map: map,
                mode,
            })
        }

        pub(super) fn mode(&self) -> XdpMode {
            self.mode
        }
    }
}

#[cfg(not(feature = "afxdp"))]
mod prog {
    //! Built without the `afxdp` feature: no BPF loader.

    use std::io;
    use std::os::fd::BorrowedFd;

    use super::XdpMode;

    #[derive(Debug)]
    pub(super) struct Attached {
        mode: XdpMode,
    }

    impl Attached {
        pub(super) fn new(
            _xsks: &[(u32, BorrowedFd<'_>)],
            _ifindex: i32,
            _mode: XdpMode,
        ) -> io::Result<Self> {
            Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "bng-dataplane was built without the `afxdp` feature (libbpf-rs): no XDP program loader",
            ))
        }

        pub(super) fn mode(&self) -> XdpMode {
            self.mode
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn config_is_checked_before_any_system_call() {
        let ok = Config::default();
        assert!(ok.check().is_ok());
        for bad in [
            Config {
                ring_size: 3000,
                ..ok
            },
            Config {
                frames: 2048,
                ring_size: 2048,
                ..ok
            },
            Config {
                queue: Config::MAX_QUEUES,
                ..ok
            },
            Config {
                frames: u32::MAX,
                ring_size: 1 << 30,
                ..ok
            },
        ] {
            let e = Xsk::open("lo", bad).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{bad:?}: {e}");
        }
    }

    #[cfg(feature = "afxdp")]
    #[test]
    fn redirect_program_bytes_match_libxdp() {
        // libxdp's default XSK program, `bpf_redirect_map(&xsks_map, ctx->rx_queue_index,
        // XDP_PASS)`, in the encoding of the kernel's eBPF instruction-set document, map fd 7:
        // r2 = *(u32 *)(r1 + 16); r1 = map_fd(7) (src_reg 1 = BPF_PSEUDO_MAP_FD, two slots);
        // r3 = 2; call 51 (bpf_redirect_map); exit
        let want: [[u8; 8]; 6] = [
            [0x61, 0x12, 0x10, 0, 0, 0, 0, 0],
            [0x18, 0x11, 0, 0, 7, 0, 0, 0],
            [0; 8],
            [0xb7, 0x03, 0, 0, 2, 0, 0, 0],
            [0x85, 0, 0, 0, 51, 0, 0, 0],
            [0x95, 0, 0, 0, 0, 0, 0, 0],
        ];
        let got = prog::insn_bytes(7);
        assert_eq!(got, want);
    }
}
