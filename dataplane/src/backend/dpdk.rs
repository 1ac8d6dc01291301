//! DPDK ports as a [`Backend`] (cargo feature `dpdk`, not default).
//!
//! DPDK's burst functions (`rte_eth_rx_burst`, `rte_eth_tx_burst`) and mbuf accessors
//! are `static inline` in its headers, so a small C shim (`dataplane/shim/dpdk_shim.c`,
//! compiled by `build.rs` against pkg-config's `libdpdk`, Debian's libdpdk-dev 22.11)
//! wraps them, and the EAL and port calls, as plain functions. The Rust side never sees
//! a DPDK struct: it passes arrays of buffer pointers and lengths, and the shim copies
//! between mbufs and our pool buffers (one copy each way, as the AF_XDP backend in copy
//! mode; zero-copy mbuf-backed `Pkt`s would need the arena to be an mbuf pool).
//!
//! The EAL is process-global: [`init`] runs it once with the caller's arguments, e.g.
//! `--no-huge -m 512 --no-pci --file-prefix=NAME --vdev=net_af_packet0,iface=p0`, and
//! [`DpdkPort::open`] then starts an ethdev by name (`net_af_packet0`, `net_af_xdp0`,
//! `net_null0`, or a PCI device when the EAL probed one) with one RX and one TX queue.
//! Ports poll: DPDK has no descriptor to sleep on.

#![allow(
    unsafe_code,
    reason = "FFI to the DPDK shim; each block has a SAFETY comment"
)]

use std::ffi::{CStr, CString, c_char, c_int, c_uint, c_void};
use std::io;
use std::sync::Mutex;

use super::Backend;
use crate::buffer::{BUF_SIZE, HEADROOM, Pool};
use crate::graph::{FRAME_SIZE, Frame};

unsafe extern "C" {
    fn bng_dpdk_eal_init(argc: c_int, argv: *mut *mut c_char) -> c_int;
    fn bng_dpdk_errno() -> c_int;
    fn bng_dpdk_version() -> *const c_char;
    fn bng_dpdk_pool(name: *const c_char, n: c_uint, port: u16) -> *mut c_void;
    fn bng_dpdk_port_by_name(name: *const c_char, port: *mut u16) -> c_int;
    fn bng_dpdk_port_start(port: u16, mp: *mut c_void, ring: u16, mac: *mut u8) -> c_int;
    fn bng_dpdk_port_stop(port: u16);
    fn bng_dpdk_rx_copy(
        port: u16,
        bufs: *const *mut u8,
        caps: *const u16,
        lens: *mut u16,
        n: u16,
        dropped: *mut u64,
    ) -> u16;
    fn bng_dpdk_tx_copy(
        port: u16,
        mp: *mut c_void,
        datas: *const *const u8,
        lens: *const u16,
        n: u16,
        retries: u16,
    ) -> u16;
    fn bng_dpdk_stats(port: u16, out: *mut u64) -> c_int;
    fn bng_dpdk_pool_layout(mp: *mut c_void, out: *mut u64) -> c_int;
    fn bng_dpdk_is_af_xdp(port: u16) -> c_int;
}

/// Whether the EAL has been initialised (it can be only once per process).
static EAL: Mutex<bool> = Mutex::new(false);

/// Initialises DPDK's EAL with `eal_args` (without a program name), once per process; a
/// second call returns `Ok` without doing anything.
///
/// # Errors
/// `rte_eal_init`'s failure with `rte_errno`.
pub fn init(eal_args: &[&str]) -> io::Result<()> {
    let mut done = EAL
        .lock()
        .map_err(|_| io::Error::other("EAL lock poisoned"))?;
    if *done {
        return Ok(());
    }
    let owned: Vec<CString> = std::iter::once("bng-dataplane")
        .chain(eal_args.iter().copied())
        .map(|a| CString::new(a).map_err(|_| io::Error::other("EAL argument has a NUL")))
        .collect::<io::Result<_>>()?;
    // the EAL may permute argv and keeps pointers into it: leak the strings for the
    // life of the process (once)
    let mut argv: Vec<*mut c_char> = owned.into_iter().map(CString::into_raw).collect();
    let count = c_int::try_from(argv.len()).map_err(io::Error::other)?;
    argv.push(core::ptr::null_mut());
    let argv = argv.leak();
    // SAFETY: `argv` holds `count` valid NUL-terminated strings and a NULL, all leaked so
    // they outlive the EAL; this runs once per process (guarded by `EAL`).
    let rc = unsafe { bng_dpdk_eal_init(count, argv.as_mut_ptr()) };
    if rc < 0 {
        // SAFETY: reads DPDK's per-thread rte_errno.
        let e = unsafe { bng_dpdk_errno() };
        return Err(io::Error::other(format!(
            "rte_eal_init: {} (rte_errno {e})",
            io::Error::from_raw_os_error(e)
        )));
    }
    *done = true;
    Ok(())
}

/// DPDK's version string.
#[must_use]
pub fn version() -> String {
    // SAFETY: rte_version returns a static NUL-terminated string.
    unsafe { CStr::from_ptr(bng_dpdk_version()) }
        .to_string_lossy()
        .into_owned()
}

/// Counters of a [`DpdkPort`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DpdkStats {
    /// Packets received and handed to the graph.
    pub rx: u64,
    /// Packets received but dropped: multi-segment, or longer than a pool buffer.
    pub rx_dropped: u64,
    /// Packets the driver took for transmission.
    pub tx: u64,
    /// Packets not taken (TX queue full after the retries, no mbuf).
    pub tx_dropped: u64,
    /// The ethdev's `imissed`: dropped by the device or PMD before we polled them
    /// (RX ring full). Read by [`DpdkPort::stats`].
    pub dev_missed: u64,
    /// The ethdev's `ierrors` + `oerrors`.
    pub dev_errors: u64,
    /// The ethdev's `rx_nombuf`: no mbuf to refill the RX ring.
    pub dev_rx_nombuf: u64,
}

/// The kernel's counters of one AF_XDP socket (`XDP_STATISTICS`, `struct
/// xdp_statistics` of `linux/if_xdp.h`): what the `net_af_xdp` PMD's ethdev counters do
/// not show, e.g. TX descriptors the kernel skipped as invalid.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct XskStats {
    /// The socket's file descriptor in this process.
    pub fd: i32,
    /// RX: dropped for other reasons than a full ring (e.g. no fill buffer).
    pub rx_dropped: u64,
    /// RX: invalid descriptors.
    pub rx_invalid_descs: u64,
    /// TX: descriptors the kernel dropped as invalid (address or length outside the
    /// UMEM, or bad options).
    pub tx_invalid_descs: u64,
    /// RX: dropped because the RX ring was full.
    pub rx_ring_full: u64,
    /// RX: the fill ring was empty when a packet came.
    pub rx_fill_ring_empty_descs: u64,
    /// TX: a `sendto` found the TX ring empty.
    pub tx_ring_empty_descs: u64,
}

/// `SOL_XDP` and `XDP_STATISTICS` of `linux/if_xdp.h` (not in the libc crate's Linux
/// constants for every target).
const SOL_XDP: c_int = 283;
const XDP_STATISTICS: c_int = 7;

/// The kernel's counters of every AF_XDP socket this process holds (file descriptors
/// 0..4096 that answer `getsockopt(SOL_XDP, XDP_STATISTICS)`): the `net_af_xdp` PMD
/// opens one per queue and does not export these (DPDK 22.11 has no xstats for it).
/// A diagnostic: which socket belongs to which port is not known here (in opening
/// order: port 0's first).
#[must_use]
pub fn xdp_socket_stats() -> Vec<XskStats> {
    let mut out = Vec::new();
    for fd in 0..4096 {
        let mut v = [0u64; 6];
        let mut len = libc::socklen_t::try_from(core::mem::size_of_val(&v)).unwrap_or(0);
        // SAFETY: `v` has `len` writable bytes and `len` is a valid in/out pointer;
        // getsockopt on a descriptor that is not an XDP socket (or not open) fails
        // without side effects.
        let rc = unsafe {
            libc::getsockopt(
                fd,
                SOL_XDP,
                XDP_STATISTICS,
                v.as_mut_ptr().cast(),
                &raw mut len,
            )
        };
        if rc == 0 {
            let [
                rx_dropped,
                rx_invalid_descs,
                tx_invalid_descs,
                rx_ring_full,
                rx_fill,
                tx_empty,
            ] = v;
            out.push(XskStats {
                fd,
                rx_dropped,
                rx_invalid_descs,
                tx_invalid_descs,
                rx_ring_full,
                rx_fill_ring_empty_descs: rx_fill,
                tx_ring_empty_descs: tx_empty,
            });
        }
    }
    out
}

/// Where a port's RX mbuf pool lies against the UMEM the `net_af_xdp` PMD registers
/// for it ([`DpdkPort::rx_pool_layout`]): every mbuf can be a UMEM frame only if the
/// pool is one chunk and `span <= registered` (the kernel drops TX descriptors and
/// skips fill-ring entries outside the UMEM).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolLayout {
    /// Memory chunks of the pool (the PMD registers the first one only).
    pub chunks: u64,
    /// Bytes from the first chunk's page start to the end of the last object.
    pub span: u64,
    /// Bytes the PMD registers: populated mbufs times the object size, plus the first
    /// chunk's offset in its page.
    pub registered: u64,
}

impl PoolLayout {
    /// Whether every mbuf of the pool lies inside the registered UMEM.
    #[must_use]
    pub fn fits(&self) -> bool {
        self.chunks == 1 && self.span <= self.registered
    }
}

/// Mbufs of a port's RX pool: the RX ring's refills plus bursts in flight.
pub const RX_MBUFS: u32 = 8191;
/// Mbufs of a port's TX pool (its own, so transmitting never starves RX refills).
pub const TX_MBUFS: u32 = 4095;
/// RX and TX descriptors per queue.
pub const RING: u16 = 2048;
/// Retries without progress of a partially sent TX burst (see the shim).
pub const TX_RETRIES: u16 = 16;

/// One started DPDK ethdev (queue 0 RX and TX) with its own RX and TX mbuf pools.
#[derive(Debug)]
pub struct DpdkPort {
    port: u16,
    /// The TX mbufs (the RX pool belongs to the RX queue).
    pool: *mut c_void,
    /// The RX queue's mbufs (for a `net_af_xdp` port, also its UMEM).
    rx_pool: *mut c_void,
    mac: [u8; 6],
    stats: DpdkStats,
}

// SAFETY: the port id and the mempool pointer are used by one thread at a time (the
// owner of the `DpdkPort`); DPDK's ethdev queue 0 and mempools allow a different thread
// than the creating one to use them.
unsafe impl Send for DpdkPort {}

impl DpdkPort {
    /// Starts the ethdev `name` (after [`init`]) with an RX pool of [`RX_MBUFS`], a TX
    /// pool of [`TX_MBUFS`] and [`RING`]-descriptor rings, promiscuous.
    ///
    /// # Errors
    /// No such device, or the failing DPDK call's error.
    pub fn open(name: &str) -> io::Result<Self> {
        let cname = CString::new(name).map_err(|_| io::Error::other("name has a NUL"))?;
        let mut port = 0u16;
        // SAFETY: `cname` is NUL-terminated, `port` is a valid out pointer.
        if unsafe { bng_dpdk_port_by_name(cname.as_ptr(), &raw mut port) } != 0 {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("no DPDK port {name} (is it in the EAL's --vdev list?)"),
            ));
        }
        let mk = |tag: &str, n: u32| -> io::Result<*mut c_void> {
            let pname = CString::new(format!("bng_{tag}{port}")).map_err(io::Error::other)?;
            // SAFETY: a NUL-terminated name and a port id the EAL found; the EAL is
            // initialised (else that lookup failed). The result is checked. (For a
            // net_af_xdp port the shim packs the pool into one chunk: see there.)
            let pool = unsafe { bng_dpdk_pool(pname.as_ptr(), n, port) };
            if pool.is_null() {
                // SAFETY: reads DPDK's per-thread rte_errno.
                let e = unsafe { bng_dpdk_errno() };
                return Err(io::Error::other(format!(
                    "{name}: {tag} mbuf pool: rte_errno {e} (more -m memory?)"
                )));
            }
            Ok(pool)
        };
        // separate pools: the RX ring's refills never wait for TX completions (the
        // net_af_xdp PMD holds TX mbufs until the kernel completes them)
        let rx_pool = mk("rx", RX_MBUFS)?;
        let pool = mk("tx", TX_MBUFS)?;
        let mut mac = [0u8; 6];
        // SAFETY: a valid port id and pool; `mac` has the 6 bytes the shim writes.
        let rc = unsafe { bng_dpdk_port_start(port, rx_pool, RING, mac.as_mut_ptr()) };
        if rc < 0 {
            return Err(io::Error::other(format!(
                "{name}: start: {}",
                io::Error::from_raw_os_error(-rc)
            )));
        }
        Ok(Self {
            port,
            pool,
            rx_pool,
            mac,
            stats: DpdkStats::default(),
        })
    }

    /// The port's MAC address.
    #[must_use]
    pub fn mac(&self) -> [u8; 6] {
        self.mac
    }

    /// The RX pool's layout against the UMEM the `net_af_xdp` PMD registers for it;
    /// `None` for other drivers (no UMEM) or if DPDK could not tell.
    #[must_use]
    pub fn rx_pool_layout(&self) -> Option<PoolLayout> {
        // SAFETY: a started port id; the shim only reads its device info.
        if unsafe { bng_dpdk_is_af_xdp(self.port) } != 1 {
            return None;
        }
        let mut o = [0u64; 3];
        // SAFETY: `rx_pool` is the mempool created in `open` (never freed while the
        // port lives); `o` has the three values the shim writes.
        (unsafe { bng_dpdk_pool_layout(self.rx_pool, o.as_mut_ptr()) } == 0).then_some(PoolLayout {
            chunks: o[0],
            span: o[1],
            registered: o[2],
        })
    }

    /// Our counters and the ethdev's drop counters.
    #[must_use]
    pub fn stats(&self) -> DpdkStats {
        let mut s = self.stats;
        let mut c = [0u64; 6];
        // SAFETY: a started port; `c` has the six counters the shim writes.
        if unsafe { bng_dpdk_stats(self.port, c.as_mut_ptr()) } == 0 {
            let [_, _, missed, ierrors, oerrors, nombuf] = c;
            s.dev_missed = missed;
            s.dev_errors = ierrors.saturating_add(oerrors);
            s.dev_rx_nombuf = nombuf;
        }
        s
    }
}

impl Drop for DpdkPort {
    fn drop(&mut self) {
        // SAFETY: a port we started; stopped and closed once.
        unsafe { bng_dpdk_port_stop(self.port) }
    }
}

/// A [`DpdkPort`] as a graph backend: one `rte_eth_rx_burst`/`rte_eth_tx_burst` per
/// call, copying between mbufs and the worker's pool in the shim.
impl Backend for DpdkPort {
    fn rx_burst<'p>(&mut self, pool: &mut Pool<'p>, out: &mut Frame<'p>) -> usize {
        // the empty buffers go into `out` first (no allocation), then the ones the
        // burst did not fill come back off its end
        let start = out.len();
        let want = FRAME_SIZE.saturating_sub(start).min(256);
        let mut bufs = [core::ptr::null_mut::<u8>(); 256];
        let mut caps = [0u16; 256];
        let mut lens = [0u16; 256];
        let mut n = 0usize;
        for (b, c) in bufs.iter_mut().zip(caps.iter_mut()).take(want) {
            let Some(mut p) = pool.alloc() else { break };
            p.set_len(BUF_SIZE - HEADROOM);
            let d = p.data_mut();
            *b = d.as_mut_ptr();
            *c = u16::try_from(d.len()).unwrap_or(u16::MAX);
            out.push(p);
            n += 1;
        }
        if n == 0 {
            return 0;
        }
        // SAFETY: `bufs[i]` points to `caps[i]` writable bytes of the i-th packet pushed
        // above, alive in `out` and not otherwise borrowed during the call; `lens` has
        // room for `n` lengths; `n <= 256`.
        let got = unsafe {
            bng_dpdk_rx_copy(
                self.port,
                bufs.as_ptr(),
                caps.as_ptr(),
                lens.as_mut_ptr(),
                u16::try_from(n).unwrap_or(256),
                &raw mut self.stats.rx_dropped,
            )
        };
        let got = usize::from(got).min(n);
        while out.len() > start + got {
            if let Some(p) = out.pop() {
                pool.free(p);
            }
        }
        for (p, len) in out.iter_mut().skip(start).zip(lens) {
            p.set_len(usize::from(len));
        }
        self.stats.rx += got as u64;
        got
    }

    fn tx_burst<'p>(&mut self, pool: &mut Pool<'p>, frame: &mut Frame<'p>) -> usize {
        let mut sent_total = 0usize;
        while !frame.is_empty() {
            let k = frame.len().min(256);
            let mut datas = [core::ptr::null::<u8>(); 256];
            let mut lens = [0u16; 256];
            for ((d, l), p) in datas.iter_mut().zip(lens.iter_mut()).zip(frame.iter()) {
                *d = p.data().as_ptr();
                *l = u16::try_from(p.len()).unwrap_or(u16::MAX);
            }
            // SAFETY: `datas[i]` points to `lens[i]` readable bytes of the i-th packet of
            // `frame`, alive and unchanged during the call; `k <= 256`; the pool is ours.
            let sent = unsafe {
                bng_dpdk_tx_copy(
                    self.port,
                    self.pool,
                    datas.as_ptr(),
                    lens.as_ptr(),
                    u16::try_from(k).unwrap_or(256),
                    TX_RETRIES,
                )
            };
            let sent = usize::from(sent).min(k);
            self.stats.tx += sent as u64;
            self.stats.tx_dropped += (k - sent) as u64;
            sent_total += sent;
            for p in frame.drain(..k) {
                pool.free(p);
            }
        }
        sent_total
    }
}
