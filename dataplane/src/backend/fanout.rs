//! Steering by the kernel for AF_PACKET: a packet fanout group (`PACKET_FANOUT`,
//! `linux/if_packet.h`) of one socket per worker on the access interface, whose member
//! is chosen for each frame by an eBPF program (`PACKET_FANOUT_EBPF`) that computes
//! the worker the control plane placed the subscriber on: [`access_owner`]'s hash of
//! the source MAC and PPPoE session id ([`steer_key_hash`](crate::bng::steer_key_hash),
//! then [`worker_of`](crate::bng::worker_of) or weighted [`place`](crate::worker::place)).
//!
//! The kernel's own fanout modes do not fit: `PACKET_FANOUT_HASH` hashes the flow (for
//! PPPoE, the flow dissector's inner IPv4 5-tuple), so one subscriber's flows would land
//! on several workers; `PACKET_FANOUT_CPU` and `_LB` ignore the subscriber. So each
//! worker's socket receives only its own subscribers, with no steering in user space
//! and nothing handed between workers (the kernel's RX of the one queue stays on one
//! core: that is the NIC's limitation, not ours).
//!
//! The program is built here from its instructions, like the XDP redirect program
//! (`backend::afxdp`), so no clang is needed: classic packet loads (`BPF_LD | BPF_ABS`
//! at `SKF_LL_OFF`, from the MAC header; they read in network order and end the
//! program with 0, worker 0, on a frame too short for the load), the session id after up to two VLAN tags left in the frame (the
//! kernel has already moved the outer one to the skb, `skb_vlan_untag`, so offsets are
//! read with and without it alike), and murmur3's `fmix64` in 64-bit ALU instructions.
//! The kernel takes the returned member index modulo the group's size
//! (`fanout_demux_bpf`); members are indexed in the order they joined, so worker `w`'s
//! socket must be the `w`-th to join ([`Fanout::join`]), and none may leave while the
//! group is in use.
//!
//! Built without the `afxdp` feature (the `libbpf-rs` loader), [`Fanout::new`] returns
//! an error saying so.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

#[cfg(doc)]
use super::claim::{access_owner, upstream_owner};
use std::net::Ipv4Addr;

/// `PACKET_FANOUT` and `PACKET_FANOUT_DATA` (`linux/if_packet.h`).
const PACKET_FANOUT: libc::c_int = 18;
const PACKET_FANOUT_DATA: libc::c_int = 22;
/// `SKF_LL_OFF` (`linux/filter.h`): a classic load at `SKF_LL_OFF + k` reads byte `k`
/// of the link-layer (Ethernet) header. The fanout program runs on the skb with its data
/// at the network header (`packet_rcv_fanout` does not push the MAC header back, unlike
/// a socket's own filter), so every load is made relative to the MAC header.
const LL: i32 = -0x0020_0000;
/// `PACKET_FANOUT_EBPF`: the member is what the group's eBPF program returns.
const PACKET_FANOUT_EBPF: u32 = 7;

use super::sys::{Insn, insn};

/// Opcodes used (`linux/bpf.h`, `linux/bpf_common.h`).
mod op {
    /// `BPF_LD | BPF_ABS | BPF_H`, `| BPF_W`: r0 = the packet's 16 / 32 bits at `imm`, in
    /// host order.
    pub(super) const LD_ABS_H: u8 = 0x28;
    pub(super) const LD_ABS_W: u8 = 0x20;
    /// `BPF_LD | BPF_IMM | BPF_DW`: a 64-bit immediate over two instructions.
    pub(super) const LD_IMM64: u8 = 0x18;
    /// `BPF_ALU64 | op | BPF_K` (immediate) / `| BPF_X` (register).
    pub(super) const MOV_X: u8 = 0xbf;
    pub(super) const MOV_K: u8 = 0xb7;
    /// `BPF_ALU | BPF_SUB | BPF_K`: 32-bit, the result zero-extended.
    pub(super) const SUB32_K: u8 = 0x14;
    pub(super) const OR_X: u8 = 0x4f;
    pub(super) const XOR_X: u8 = 0xaf;
    pub(super) const MUL_X: u8 = 0x2f;
    pub(super) const MUL_K: u8 = 0x27;
    pub(super) const LSH_K: u8 = 0x67;
    pub(super) const RSH_K: u8 = 0x77;
    /// `BPF_JMP | BPF_JEQ | BPF_K`, `| BPF_JNE`, `| BPF_JGE` (unsigned), `BPF_JA`.
    pub(super) const JEQ_K: u8 = 0x15;
    pub(super) const JNE_K: u8 = 0x55;
    pub(super) const JGE_K: u8 = 0x35;
    pub(super) const JA: u8 = 0x05;
    pub(super) const EXIT: u8 = 0x95;
}

/// A few labels for forward jumps, patched once the target is known.
struct Asm {
    code: Vec<Insn>,
    /// (instruction index, label)
    fixups: Vec<(usize, usize)>,
    labels: Vec<Option<usize>>,
}

impl Asm {
    fn new() -> Self {
        Self {
            code: Vec::new(),
            fixups: Vec::new(),
            labels: Vec::new(),
        }
    }
    fn label(&mut self) -> usize {
        self.labels.push(None);
        self.labels.len() - 1
    }
    fn bind(&mut self, l: usize) {
        if let Some(s) = self.labels.get_mut(l) {
            *s = Some(self.code.len());
        }
    }
    fn op(&mut self, i: Insn) {
        self.code.push(i);
    }
    /// A jump (`code`: a conditional on r`dst` against `imm`, or `JA`) to `l`.
    fn jump(&mut self, code: u8, dst: u8, imm: i32, l: usize) {
        self.fixups.push((self.code.len(), l));
        self.code.push(insn(code, dst, 0, 0, imm));
    }
    fn ld_imm64(&mut self, dst: u8, v: u64) {
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_possible_wrap,
            reason = "the two 32-bit halves of the immediate, as the encoding splits it"
        )]
        let (lo, hi) = (v as u32 as i32, (v >> 32) as u32 as i32);
        self.code.push(insn(op::LD_IMM64, dst, 0, 0, lo));
        self.code.push(insn(0, 0, 0, 0, hi));
    }
    fn finish(mut self) -> Option<Vec<Insn>> {
        for &(at, l) in &self.fixups {
            let target = (*self.labels.get(l)?)?;
            let off = i16::try_from(isize::try_from(target).ok()? - isize::try_from(at).ok()? - 1)
                .ok()?;
            self.code.get_mut(at)?.off = off;
        }
        Some(self.code)
    }
}

/// The program: the member (worker) of an access frame, as [`access_owner`] computes it
/// for `workers` workers and `shares` (empty, or one per worker: weighted).
/// The start of a program: r6 = ctx (the classic loads read the packet through it),
/// then the ethertype at 12 (the outer tag, if any, is already in the skb), or after one
/// or two tags left in the frame at 16 or 20; if it is `ethertype`, `load(at)` (emitted
/// for each depth, `at` the ethertype's offset) and on to `have`, else to `miss`.
fn walk_tags(a: &mut Asm, ethertype: i32, load: impl Fn(&mut Asm, i32), miss: usize, have: usize) {
    const TAGS: [i32; 3] = [0x8100, 0x88a8, 0x9100];
    a.op(insn(op::MOV_X, 6, 1, 0, 0));
    let mut tagged = None;
    for (depth, at) in [12, 16, 20].into_iter().enumerate() {
        if let Some(l) = tagged {
            a.bind(l);
        }
        a.op(insn(op::LD_ABS_H, 0, 0, 0, LL + at));
        if depth < 2 {
            let next = a.label();
            for t in TAGS {
                a.jump(op::JEQ_K, 0, t, next);
            }
            tagged = Some(next);
        }
        a.jump(op::JNE_K, 0, ethertype, miss);
        load(a, at);
        a.jump(op::JA, 0, 0, have);
    }
}

fn program(workers: usize, shares: &[u32]) -> Option<Vec<Insn>> {
    let mut a = Asm::new();
    let (nosid, have) = (a.label(), a.label());
    // the PPPoE session id, 4 bytes after a session frame's ethertype
    walk_tags(
        &mut a,
        0x8864,
        |a, at| a.op(insn(op::LD_ABS_H, 0, 0, 0, LL + at + 4)),
        nosid,
        have,
    );
    // not PPPoE session: the MAC alone
    a.bind(nosid);
    a.op(insn(op::MOV_K, 0, 0, 0, 0));
    a.bind(have);
    // r7 = the session id; r8 = MAC bytes 0..4, r9 = bytes 4..6
    a.op(insn(op::MOV_X, 7, 0, 0, 0));
    a.op(insn(op::LD_ABS_W, 0, 0, 0, LL + 6));
    a.op(insn(op::MOV_X, 8, 0, 0, 0));
    a.op(insn(op::LD_ABS_H, 0, 0, 0, LL + 10));
    a.op(insn(op::MOV_X, 9, 0, 0, 0));
    // k = MAC << 16 | session id
    a.op(insn(op::LSH_K, 8, 0, 0, 32));
    a.op(insn(op::LSH_K, 9, 0, 0, 16));
    a.op(insn(op::OR_X, 8, 9, 0, 0));
    a.op(insn(op::OR_X, 8, 7, 0, 0));
    // fmix64 (steer_key_hash): h ^= h >> 33; h *= C1; h ^= h >> 33; h *= C2; h ^= h >> 33
    for c in [
        Some(0xff51_afd7_ed55_8ccd_u64),
        Some(0xc4ce_b9fe_1a85_ec53),
        None,
    ] {
        a.op(insn(op::MOV_X, 1, 8, 0, 0));
        a.op(insn(op::RSH_K, 1, 0, 0, 33));
        a.op(insn(op::XOR_X, 8, 1, 0, 0));
        if let Some(c) = c {
            a.ld_imm64(2, c);
            a.op(insn(op::MUL_X, 8, 2, 0, 0));
        }
    }
    // the placement: ((h >> 32) * parts) >> 32, then the worker whose cumulative
    // share exceeds it (equal shares: that is the worker)
    let weighted = shares.len() == workers && workers > 1;
    let parts: u64 = if weighted {
        shares.iter().map(|&s| u64::from(s)).sum()
    } else {
        u64::try_from(workers.max(1)).ok()?
    };
    a.op(insn(op::RSH_K, 8, 0, 0, 32));
    a.op(insn(op::MUL_K, 8, 0, 0, i32::try_from(parts).ok()?));
    a.op(insn(op::RSH_K, 8, 0, 0, 32));
    if weighted {
        let mut acc = 0u64;
        for (w, &s) in shares.iter().enumerate() {
            acc += u64::from(s);
            let skip = a.label();
            a.jump(op::JGE_K, 8, i32::try_from(acc).ok()?, skip);
            a.op(insn(op::MOV_K, 0, 0, 0, i32::try_from(w).ok()?));
            a.op(insn(op::EXIT, 0, 0, 0, 0));
            a.bind(skip);
        }
        // beyond the last share (all-zero shares): worker 0, as `place`
        a.op(insn(op::MOV_K, 0, 0, 0, 0));
    } else {
        a.op(insn(op::MOV_X, 0, 8, 0, 0));
    }
    a.op(insn(op::EXIT, 0, 0, 0, 0));
    a.finish()
}

/// The upstream port's program: the worker whose slice of the NAT44 pool (`pool_len`
/// addresses from `pool_first`) holds an IPv4 destination ([`upstream_owner`]); worker
/// 0 for anything else (the `Steering` mesh places it).
fn program_upstream(workers: usize, pool_first: u32, pool_len: u32) -> Option<Vec<Insn>> {
    let mut a = Asm::new();
    let (none, have) = (a.label(), a.label());
    // the IPv4 destination, 18 bytes after the ethertype
    walk_tags(
        &mut a,
        0x0800,
        |a, at| a.op(insn(op::LD_ABS_W, 0, 0, 0, LL + at + 18)),
        none,
        have,
    );
    a.bind(none);
    a.op(insn(op::MOV_K, 0, 0, 0, 0));
    a.op(insn(op::EXIT, 0, 0, 0, 0));
    a.bind(have);
    // the offset in the pool, in 32 bits (zero-extended): w0 -= first
    #[allow(
        clippy::cast_possible_wrap,
        reason = "the immediate is the address's 32 bits, subtracted modulo 2^32"
    )]
    a.op(insn(op::SUB32_K, 0, 0, 0, pool_first as i32));
    let outside = a.label();
    a.jump(op::JGE_K, 0, i32::try_from(pool_len).ok()?, outside);
    // the slice: start(w) = len * w / workers, as pool_slice cuts it
    let n = u64::try_from(workers.max(1)).ok()?;
    for w in 0..n - 1 {
        let skip = a.label();
        let start = u64::from(pool_len) * (w + 1) / n;
        a.jump(op::JGE_K, 0, i32::try_from(start).ok()?, skip);
        a.op(insn(op::MOV_K, 0, 0, 0, i32::try_from(w).ok()?));
        a.op(insn(op::EXIT, 0, 0, 0, 0));
        a.bind(skip);
    }
    a.op(insn(op::MOV_K, 0, 0, 0, i32::try_from(n - 1).ok()?));
    a.op(insn(op::EXIT, 0, 0, 0, 0));
    // not in the pool (jumps go forward only: older verifiers refuse back-edges)
    a.bind(outside);
    a.op(insn(op::MOV_K, 0, 0, 0, 0));
    a.op(insn(op::EXIT, 0, 0, 0, 0));
    a.finish()
}

/// The loaded steering program of a fanout group.
#[derive(Debug)]
pub struct Fanout {
    prog: OwnedFd,
    workers: usize,
}

impl Fanout {
    /// Loads the program for `workers` workers placed equally, or by `shares` (one per
    /// worker, as given to [`Control::set_shares`](crate::control::Control::set_shares);
    /// any other length: equally).
    ///
    /// # Errors
    /// A share total beyond `i32`, the kernel refusing the program, or a build without
    /// the `afxdp` feature.
    pub fn new(workers: usize, shares: &[u32]) -> io::Result<Self> {
        let insns = program(workers, shares)
            .ok_or_else(|| io::Error::other("fanout program: shares too large"))?;
        Ok(Self {
            prog: load(&insns)?,
            workers: workers.max(1),
        })
    }

    /// Loads the upstream port's program for `workers` workers translating into their
    /// slices of the NAT44 pool of `pool_len` addresses from `pool_first`
    /// ([`pool_slice`](crate::worker::pool_slice)): a frame to a pool address goes to
    /// the worker holding it, anything else to worker 0.
    ///
    /// # Errors
    /// A pool of 2^31 addresses or more, the kernel refusing the program, or a build
    /// without the `afxdp` feature.
    pub fn upstream(workers: usize, pool_first: Ipv4Addr, pool_len: u32) -> io::Result<Self> {
        let insns = program_upstream(workers, u32::from(pool_first), pool_len)
            .ok_or_else(|| io::Error::other("fanout program: pool too large"))?;
        Ok(Self {
            prog: load(&insns)?,
            workers: workers.max(1),
        })
    }

    /// Workers of the group.
    #[must_use]
    pub fn workers(&self) -> usize {
        self.workers
    }

    /// Adds the bound packet socket `socket` to fanout group `group` (an id of this
    /// network namespace) as its next member, and sets the group's program. Call it
    /// for worker 0's socket first, then 1, and so on.
    ///
    /// # Errors
    /// The kernel's refusal (`EINVAL` for a socket not bound to an interface, or a
    /// group of that id with another mode or another interface).
    pub fn join(&self, socket: BorrowedFd<'_>, group: u16) -> io::Result<()> {
        let arg: u32 = u32::from(group) | (PACKET_FANOUT_EBPF << 16);
        setsockopt_u32(socket, PACKET_FANOUT, arg, "PACKET_FANOUT")?;
        let fd = u32::try_from(self.prog.as_raw_fd()).map_err(io::Error::other)?;
        setsockopt_u32(socket, PACKET_FANOUT_DATA, fd, "PACKET_FANOUT_DATA")
    }
}

fn setsockopt_u32(s: BorrowedFd<'_>, opt: libc::c_int, v: u32, what: &str) -> io::Result<()> {
    super::sys::setsockopt(s, libc::SOL_PACKET, opt, &v).map_err(super::sys::ctx(what))
}

#[cfg(feature = "afxdp")]
fn load(insns: &[Insn]) -> io::Result<OwnedFd> {
    super::sys::bpf_prog_load(
        libbpf_rs::libbpf_sys::BPF_PROG_TYPE_SOCKET_FILTER,
        c"bng_fanout",
        insns,
        "load the fanout program",
    )
}

#[cfg(not(feature = "afxdp"))]
fn load(_insns: &[Insn]) -> io::Result<OwnedFd> {
    Err(io::Error::other(
        "the fanout program loader needs the `afxdp` feature (libbpf-rs)",
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests")]

    use super::*;

    #[test]
    fn program_is_well_formed() {
        let check = |p: &[Insn]| {
            assert_eq!(p.last().unwrap().code, op::EXIT);
            // every jump lands inside the program, forward
            for (i, x) in p.iter().enumerate() {
                if matches!(x.code, op::JEQ_K | op::JNE_K | op::JGE_K | op::JA) {
                    assert!(x.off >= 0, "{i}: {x:?}");
                    assert!(
                        i + 1 + usize::try_from(x.off).unwrap() < p.len(),
                        "{i}: {x:?}"
                    );
                }
            }
        };
        for (w, shares) in [
            (1, &[][..]),
            (2, &[]),
            (3, &[]),
            (2, &[1, 3]),
            (3, &[0, 0, 0]),
        ] {
            check(&program(w, shares).unwrap());
        }
        for w in 1..5 {
            check(&program_upstream(w, 0xcb00_7100, 11).unwrap());
        }
        assert!(program(2, &[u32::MAX, 1]).is_none());
    }
}
