//! Security Associations: outbound encapsulation and inbound decapsulation in
//! place (RFC 4303 sections 3.3 and 3.4), with ESN (RFC 4304), tunnel and
//! transport modes (RFC 4301 section 4.1), UDP encapsulation (RFC 3948),
//! lifetimes (RFC 4301 section 4.4.2.1) and per-SA statistics.
//!
//! An SA is unidirectional: [`Outbound`] keeps the sequence counter,
//! [`Inbound`] the anti-replay window. Neither reads a clock: every call takes
//! `now` since a caller-chosen epoch, and lifetimes surface as [`Event`]s from
//! [`Outbound::poll_event`] / [`Inbound::poll_event`] for the key manager.
//!
//! Buffers: the packet sits at `range` inside a caller buffer with headroom
//! before it and tailroom after it. Encapsulation grows it into both and returns
//! the new range; decapsulation decrypts in place and returns the range of the
//! result. Nothing is copied except the IP header in transport mode.

use core::ops::Range;
use core::time::Duration;

use rand_core::{CryptoRng, RngCore};

use crate::crypto::{CryptoError, Transform};
use crate::error::{EmitError, Error, ParseError, ProtocolError, UsageError};
use crate::ip;
use crate::natt;
use crate::replay::ReplayWindow;
use crate::wire::{HEADER_LEN, IP_PROTO_ESP, NextHeader, Spi, Trailer};

/// Outer addresses of a tunnel-mode SA (RFC 4301 section 5.1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tunnel {
    /// IPv4 outer header.
    V4 {
        /// Local tunnel endpoint.
        src: [u8; 4],
        /// Remote tunnel endpoint.
        dst: [u8; 4],
    },
    /// IPv6 outer header.
    V6 {
        /// Local tunnel endpoint.
        src: [u8; 16],
        /// Remote tunnel endpoint.
        dst: [u8; 16],
    },
}

/// SA mode (RFC 4301 section 4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// ESP between the IP header and its payload (RFC 4303 section 3.1.1).
    Transport,
    /// The whole inner IP packet inside ESP under a new outer header
    /// (RFC 4303 section 3.1.2).
    Tunnel(Tunnel),
}

/// The DF bit of an IPv4 outer header (RFC 4301 section 8.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DfPolicy {
    /// Copy from the inner IPv4 header (an IPv6 inner packet sets DF).
    Copy,
    /// Always set.
    Set,
    /// Always clear.
    Clear,
}

/// The DSCP of the outer header (RFC 4301 section 5.1.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dscp {
    /// Copy from the inner header.
    Copy,
    /// Use this value (6 bits).
    Set(u8),
}

/// ECN handling at the tunnel (RFC 6040).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EcnMode {
    /// Normal mode (RFC 6040 section 4.1): the outer ECN is a copy of the
    /// inner; on decapsulation CE propagates to the inner (section 4.2).
    Normal,
    /// Compatibility mode: the outer header is Not-ECT.
    Compatibility,
}

/// UDP encapsulation (RFC 3948 section 2.1) ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpEncap {
    /// Source port (usually 4500).
    pub src_port: u16,
    /// Destination port (4500, or the peer's NAT-mapped port).
    pub dst_port: u16,
}

impl Default for UdpEncap {
    fn default() -> Self {
        Self {
            src_port: natt::PORT,
            dst_port: natt::PORT,
        }
    }
}

/// One set of lifetime limits; `None` = no limit of that kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Limits {
    /// Payload bytes protected or accepted.
    pub bytes: Option<u64>,
    /// Packets protected or accepted.
    pub packets: Option<u64>,
    /// Time since the SA was created.
    pub time: Option<Duration>,
}

/// Soft and hard lifetimes (RFC 4301 section 4.4.2.1): soft raises an event so
/// the key manager rekeys; hard raises an event and the SA refuses traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Lifetime {
    /// Rekey warning.
    pub soft: Limits,
    /// The SA dies.
    pub hard: Limits,
}

/// Which limit was reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// Byte count.
    Bytes,
    /// Packet count.
    Packets,
    /// Time.
    Time,
}

/// Something the key manager must act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A soft lifetime was reached: rekey now.
    SoftExpired(Limit),
    /// A hard lifetime was reached: the SA refuses all traffic.
    HardExpired(Limit),
    /// The last sequence number was used (RFC 4303 section 3.3.3); the SA
    /// refuses further outbound packets.
    SequenceExhausted,
}

/// The SA parameters shared by both directions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// The SPI (chosen by the receiver).
    pub spi: Spi,
    /// Extended sequence numbers (RFC 4304).
    pub esn: bool,
    /// Transport or tunnel.
    pub mode: Mode,
    /// UDP encapsulation for NAT traversal (RFC 3948).
    pub udp_encap: Option<UdpEncap>,
    /// Lifetimes.
    pub lifetime: Lifetime,
    /// TTL / hop limit of a tunnel's outer header.
    pub ttl: u8,
    /// DF of an IPv4 outer header.
    pub df: DfPolicy,
    /// DSCP of the outer header.
    pub dscp: Dscp,
    /// ECN handling.
    pub ecn: EcnMode,
    /// Traffic flow confidentiality (RFC 4303 section 2.7): tunnel-mode inner
    /// packets shorter than this are padded up to it before encryption (0: off).
    pub tfc_pad_to: u16,
    /// Counter-mode IVs are `sequence number XOR iv_mask` (8 bytes, big endian).
    /// Unique per packet for any mask, so an IV never repeats under a key
    /// (RFC 4106 section 3.1); 0 sends the sequence number itself.
    pub iv_mask: u64,
    /// Check that the padding is the default 1, 2, 3, ... series (RFC 4303
    /// section 2.4).
    pub check_padding: bool,
    /// Pad the encrypted part to a multiple of this many bytes (a power of two up
    /// to 256; the transform's block size is the minimum). RFC 4303 section 2.4
    /// allows extra padding; 16 keeps AES-GCM on whole blocks (faster in `ring`
    /// and `aes-gcm`) at the cost of up to 12 more bytes on the wire. Default 4.
    pub pad_align: u16,
}

impl Config {
    /// Defaults: no ESN, no UDP encapsulation, no lifetimes, TTL 64, DF copied,
    /// DSCP copied, RFC 6040 normal mode, no TFC, padding checked.
    #[must_use]
    pub fn new(spi: Spi, mode: Mode) -> Self {
        Self {
            spi,
            esn: false,
            mode,
            udp_encap: None,
            lifetime: Lifetime::default(),
            ttl: 64,
            df: DfPolicy::Copy,
            dscp: Dscp::Copy,
            ecn: EcnMode::Normal,
            tfc_pad_to: 0,
            iv_mask: 0,
            check_padding: true,
            pad_align: 4,
        }
    }
}

/// Per-SA counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    /// Packets protected or accepted.
    pub packets: u64,
    /// Payload bytes protected or accepted.
    pub bytes: u64,
    /// Rejections by [`ProtocolError`] variant (indexed by `ProtocolError::index`).
    pub protocol_errors: [u64; ProtocolError::COUNT],
    /// Malformed packets.
    pub parse_errors: u64,
    /// Outbound packets without enough headroom/tailroom.
    pub emit_errors: u64,
    /// Calls with an invalid range.
    pub usage_errors: u64,
}

impl Stats {
    #[cold]
    #[inline(never)]
    fn record(&mut self, e: Error) {
        match e {
            Error::Protocol(p) => {
                if let Some(c) = self.protocol_errors.get_mut(p.index()) {
                    *c += 1;
                }
            }
            Error::Parse(_) => self.parse_errors += 1,
            Error::Emit(_) => self.emit_errors += 1,
            Error::Usage(_) => self.usage_errors += 1,
        }
    }
}

const SOFT: [u8; 3] = [1 << 0, 1 << 1, 1 << 2];
const HARD: [u8; 3] = [1 << 3, 1 << 4, 1 << 5];
const EXHAUSTED: u8 = 1 << 6;
const LIMITS: [Limit; 3] = [Limit::Bytes, Limit::Packets, Limit::Time];

/// What both directions share: config, lifetime accounting, events, stats.
#[derive(Debug, Clone)]
struct Core {
    config: Config,
    created: Duration,
    fired: u8,
    pending: u8,
    dead: bool,
    stats: Stats,
    /// The nearest unfired byte, packet and time limits: the per-packet fast path
    /// compares against these and only walks the limits when one is reached.
    next_bytes: u64,
    next_packets: u64,
    next_time: Duration,
}

impl Core {
    fn new(config: Config, now: Duration) -> Self {
        let mut c = Self {
            config,
            created: now,
            fired: 0,
            pending: 0,
            dead: false,
            stats: Stats::default(),
            next_bytes: u64::MAX,
            next_packets: u64::MAX,
            next_time: Duration::MAX,
        };
        c.rearm();
        c
    }

    /// Recomputes the nearest unfired limits.
    fn rearm(&mut self) {
        let lt = self.config.lifetime;
        let (mut b, mut p, mut t) = (u64::MAX, u64::MAX, Duration::MAX);
        for (limits, bits) in [(lt.soft, SOFT), (lt.hard, HARD)] {
            let unfired = |k: usize| bits.get(k).is_some_and(|bit| self.fired & bit == 0);
            if let Some(l) = limits.bytes.filter(|_| unfired(0)) {
                b = b.min(l);
            }
            if let Some(l) = limits.packets.filter(|_| unfired(1)) {
                p = p.min(l);
            }
            if let Some(l) = limits.time.filter(|_| unfired(2)) {
                t = t.min(self.created.saturating_add(l));
            }
        }
        (self.next_bytes, self.next_packets, self.next_time) = (b, p, t);
    }

    /// True when a limit may have been reached (or the SA is dead).
    #[inline]
    fn due(&self, now: Duration) -> bool {
        self.dead
            || self.stats.bytes >= self.next_bytes
            || self.stats.packets >= self.next_packets
            || now >= self.next_time
    }

    fn fire(&mut self, bit: u8) {
        if self.fired & bit == 0 {
            self.fired |= bit;
            self.pending |= bit;
        }
    }

    /// Fires every limit reached at `now`; true when the SA is dead.
    #[cold]
    #[inline(never)]
    fn check(&mut self, now: Duration) -> bool {
        let lt = self.config.lifetime;
        let age = now.saturating_sub(self.created);
        let used = [self.stats.bytes, self.stats.packets];
        for (i, limits) in [(0, lt.soft), (1, lt.hard)] {
            let reached = [
                limits.bytes.is_some_and(|l| used[0] >= l),
                limits.packets.is_some_and(|l| used[1] >= l),
                limits.time.is_some_and(|l| age >= l),
            ];
            for (k, hit) in reached.into_iter().enumerate() {
                if hit {
                    let bits = if i == 0 { SOFT } else { HARD };
                    if let Some(b) = bits.get(k) {
                        self.fire(*b);
                    }
                    if i == 1 {
                        self.dead = true;
                    }
                }
            }
        }
        self.rearm();
        self.dead
    }

    #[inline]
    fn alive(&mut self, now: Duration) -> Result<(), Error> {
        if self.due(now) && self.check(now) {
            Err(ProtocolError::Expired.into())
        } else {
            Ok(())
        }
    }

    /// Counts one packet of `bytes` after [`Core::alive`] passed at the same
    /// `now` (so only the byte and packet thresholds can have been crossed):
    /// two adds and two compares against the precomputed next limits.
    #[inline]
    fn account(&mut self, now: Duration, bytes: usize) {
        self.stats.packets += 1;
        self.stats.bytes = self.stats.bytes.saturating_add(bytes as u64);
        if self.stats.bytes >= self.next_bytes || self.stats.packets >= self.next_packets {
            let _ = self.check(now);
        }
    }

    fn poll_event(&mut self) -> Option<Event> {
        if self.pending == 0 {
            return None;
        }
        let bit = self.pending & self.pending.wrapping_neg();
        self.pending &= !bit;
        if bit == EXHAUSTED {
            return Some(Event::SequenceExhausted);
        }
        for (k, l) in LIMITS.into_iter().enumerate() {
            if SOFT.get(k) == Some(&bit) {
                return Some(Event::SoftExpired(l));
            }
            if HARD.get(k) == Some(&bit) {
                return Some(Event::HardExpired(l));
            }
        }
        None
    }

    fn poll_timeout(&self) -> Option<Duration> {
        let lt = self.config.lifetime;
        let soft = lt
            .soft
            .time
            .filter(|_| self.fired & SOFT[2] == 0)
            .and_then(|t| self.created.checked_add(t));
        let hard = lt
            .hard
            .time
            .filter(|_| self.fired & HARD[2] == 0)
            .and_then(|t| self.created.checked_add(t));
        match (soft, hard) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

#[inline]
fn check_range(buf_len: usize, r: &Range<usize>) -> Result<(), Error> {
    if r.start > r.end || r.end > buf_len {
        return Err(UsageError::InvalidConfig("range outside the buffer").into());
    }
    Ok(())
}

#[inline]
fn short(needed: usize, available: usize) -> Error {
    EmitError::BufferTooSmall { needed, available }.into()
}

#[inline]
fn map_crypto(e: CryptoError) -> Error {
    match e {
        CryptoError::BadLength => ParseError::BadLength.into(),
        _ => ProtocolError::IcvMismatch.into(),
    }
}

#[allow(clippy::cast_possible_truncation, reason = "ESN: low and high halves")]
const fn split_seq(seq: u64) -> (u32, u32) {
    ((seq >> 32) as u32, seq as u32)
}

/// One packet of a batch (see [`Outbound::encap_batch`], [`Inbound::decap_batch`]).
#[derive(Debug)]
pub struct Item<'a> {
    /// The buffer holding the packet with its headroom and tailroom.
    pub buf: &'a mut [u8],
    /// In: the packet. Out, on success: the resulting packet.
    pub range: Range<usize>,
    /// The outcome of this packet.
    pub result: Result<(), Error>,
}

/// An outbound SA: encapsulates and encrypts (RFC 4303 section 3.3).
#[derive(Debug, Clone)]
pub struct Outbound<T> {
    core: Core,
    transform: T,
    next_seq: u64,
    exhausted: bool,
    /// Padding alignment: max(block length, `pad_align`).
    align: usize,
}

impl<T: Transform> Outbound<T> {
    /// A new SA created at `now`; the first packet carries sequence number 1
    /// (RFC 4303 section 3.3.3).
    ///
    /// # Errors
    /// [`UsageError::InvalidConfig`] when the transform's sizes are unusable.
    pub fn new(config: Config, transform: T, now: Duration) -> Result<Self, UsageError> {
        Self::starting_at(config, transform, now, 1)
    }

    /// As [`Outbound::new`] but the next packet carries `seq` (for tests and
    /// vectors; a real SA starts at 1 — a lower value than one already used
    /// would repeat IVs).
    ///
    /// # Errors
    /// [`UsageError::InvalidConfig`] for `seq == 0`, a `seq` beyond 32 bits
    /// without ESN, or unusable transform sizes.
    pub fn starting_at(
        config: Config,
        transform: T,
        now: Duration,
        seq: u64,
    ) -> Result<Self, UsageError> {
        if seq == 0 || (!config.esn && seq > u64::from(u32::MAX)) {
            return Err(UsageError::InvalidConfig("initial sequence number"));
        }
        if transform.block_len() == 0 || transform.block_len() > 256 {
            return Err(UsageError::InvalidConfig("transform block length"));
        }
        if !config.pad_align.is_power_of_two() || config.pad_align > 256 {
            return Err(UsageError::InvalidConfig(
                "pad_align must be a power of two <= 256",
            ));
        }
        let align = usize::from(config.pad_align).max(transform.block_len());
        if align % transform.block_len() != 0 {
            return Err(UsageError::InvalidConfig(
                "pad_align must be a multiple of the cipher block",
            ));
        }
        Ok(Self {
            core: Core::new(config, now),
            transform,
            next_seq: seq,
            exhausted: false,
            align,
        })
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &Config {
        &self.core.config
    }

    /// The counters.
    #[must_use]
    pub fn stats(&self) -> &Stats {
        &self.core.stats
    }

    /// The transform.
    #[must_use]
    pub fn transform(&self) -> &T {
        &self.transform
    }

    /// The sequence number the next packet will carry.
    #[must_use]
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Headroom `encap` needs before the packet (worst case over modes).
    #[must_use]
    pub fn headroom(&self) -> usize {
        let outer = match self.core.config.mode {
            Mode::Tunnel(Tunnel::V4 { .. }) => ip::V4_LEN,
            Mode::Tunnel(Tunnel::V6 { .. }) => ip::V6_LEN,
            Mode::Transport => 0,
        };
        let udp = if self.core.config.udp_encap.is_some() {
            8
        } else {
            0
        };
        outer + udp + HEADER_LEN + self.transform.iv_len()
    }

    /// Tailroom `encap` needs after a payload of `len` bytes.
    #[must_use]
    pub fn tailroom(&self, len: usize) -> usize {
        let tfc = match self.core.config.mode {
            Mode::Tunnel(_) => usize::from(self.core.config.tfc_pad_to).saturating_sub(len),
            Mode::Transport => 0,
        };
        let t = Trailer::for_len(len + tfc, self.align, NextHeader::NO_NEXT_HEADER);
        tfc + t.len() + self.transform.icv_len()
    }

    /// Handles time: fires time lifetimes.
    pub fn handle_timeout(&mut self, now: Duration) {
        let _ = self.core.check(now);
    }

    /// The next time lifetime deadline, if any.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Duration> {
        self.core.poll_timeout()
    }

    /// The next event for the key manager.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.core.poll_event()
    }

    /// Takes the next sequence number; never wraps (RFC 4303 section 3.3.3).
    #[allow(clippy::inline_always, reason = "per-packet hot path, measured")]
    #[inline(always)]
    fn take_seq(&mut self) -> Result<u64, Error> {
        let max = if self.core.config.esn {
            u64::MAX
        } else {
            u64::from(u32::MAX)
        };
        if self.exhausted || self.next_seq > max {
            return Err(ProtocolError::SequenceExhausted.into());
        }
        let seq = self.next_seq;
        if seq == max {
            self.exhausted = true;
            self.core.fire(EXHAUSTED);
        } else {
            self.next_seq = seq + 1;
        }
        Ok(seq)
    }

    /// ESP only: wraps `payload` (inside `buf`) as the payload of an ESP packet
    /// with next header `nh` and `tfc` zero bytes of TFC padding: the header and
    /// IV are written into the headroom, the trailer and ICV into the tailroom
    /// (RFC 4303 section 3.3). Returns the range of the ESP packet.
    ///
    /// # Errors
    /// [`EmitError::BufferTooSmall`] for too little headroom or tailroom (nothing
    /// is consumed), [`ProtocolError::SequenceExhausted`], [`ProtocolError::Expired`].
    pub fn encap_esp<R: RngCore + CryptoRng>(
        &mut self,
        now: Duration,
        buf: &mut [u8],
        payload: Range<usize>,
        nh: NextHeader,
        tfc: usize,
        rng: &mut R,
    ) -> Result<Range<usize>, Error> {
        let len = payload.len();
        let r = self.encap_esp_inner(now, buf, payload, nh, tfc, rng);
        match r {
            // Byte lifetimes count protected payload bytes, as inbound does.
            Ok(_) => self.core.account(now, len),
            Err(e) => self.core.stats.record(e),
        }
        r
    }

    /// [`Outbound::encap_esp`] without the accounting.
    #[inline]
    fn encap_esp_inner<R: RngCore + CryptoRng>(
        &mut self,
        now: Duration,
        buf: &mut [u8],
        p: Range<usize>,
        nh: NextHeader,
        tfc: usize,
        rng: &mut R,
    ) -> Result<Range<usize>, Error> {
        check_range(buf.len(), &p)?;
        let hdr = HEADER_LEN + self.transform.iv_len();
        let start = p.start.checked_sub(hdr).ok_or(short(hdr, p.start))?;
        let trailer = Trailer::for_len(p.len() + tfc, self.align, nh);
        let tail = tfc + trailer.len() + self.transform.icv_len();
        let end = p.end + tail;
        if end > buf.len() {
            return Err(short(tail, buf.len() - p.end));
        }
        self.core.alive(now)?;
        let seq = self.take_seq()?;
        let esp = buf.get_mut(start..end).ok_or(short(end, 0))?;
        self.seal_esp(esp, p.len(), tfc, trailer, seq, rng)?;
        Ok(start..end)
    }

    /// Fills in one ESP packet around its payload and seals it (RFC 4303
    /// section 3.3.2): `esp` is exactly the packet, header through ICV, with
    /// `plen` payload bytes at `HEADER_LEN + iv_len`. Writes the header (SPI,
    /// low sequence number), the IV, `tfc` zero bytes of TFC padding and the
    /// trailer, then encrypts and writes the ICV. The layout was checked by the
    /// caller; the sequence number is taken.
    #[allow(clippy::inline_always, reason = "per-packet hot path, measured")]
    #[inline(always)]
    fn seal_esp<R: RngCore + CryptoRng>(
        &self,
        esp: &mut [u8],
        plen: usize,
        tfc: usize,
        trailer: Trailer,
        seq: u64,
        rng: &mut R,
    ) -> Result<(), Error> {
        let iv_bytes = self.transform.iv_len();
        let tag_bytes = self.transform.icv_len();
        let (hi, lo) = split_seq(seq);
        let (header, rest) = esp
            .split_first_chunk_mut::<HEADER_LEN>()
            .ok_or(short(HEADER_LEN, 0))?;
        // RFC 4303 section 2: SPI and low sequence number, written with one
        // store; the AAD and nonce are taken from these locals rather than read
        // back from `buf` (wide loads over fresh narrow stores miss store
        // forwarding and cost tens of cycles per packet).
        let hdr = ((u64::from(self.core.config.spi.0) << 32) | u64::from(lo)).to_be_bytes();
        *header = hdr;
        let (iv, rest) = rest
            .split_at_mut_checked(iv_bytes)
            .ok_or(short(iv_bytes, 0))?;
        let ivv = (seq ^ self.core.config.iv_mask).to_be_bytes();
        let iv: &[u8] = if self.transform.random_iv() {
            rng.fill_bytes(iv);
            iv
        } else if let Some(d) = iv.first_chunk_mut::<8>().filter(|_| iv_bytes == 8) {
            *d = ivv;
            &ivv
        } else {
            let off = iv_bytes.saturating_sub(8);
            iv.fill(0);
            if let Some(d) = iv.get_mut(off..) {
                let n = d.len();
                d.copy_from_slice(ivv.get(8 - n..).unwrap_or_default());
            }
            iv
        };
        let plain_len = rest
            .len()
            .checked_sub(tag_bytes)
            .ok_or(short(tag_bytes, 0))?;
        // TFC padding and trailer (RFC 4303 sections 2.4-2.7) after the payload.
        let tr = rest.get_mut(plen..).unwrap_or_default();
        match tr.first_chunk_mut::<8>() {
            // Common case: no TFC and at most 6 padding bytes, so padding, pad
            // length and next header fit one 8-byte store; the bytes past the
            // trailer land in the ICV, which the seal overwrites.
            Some(w) if tfc == 0 && trailer.pad_len <= 6 => *w = trailer.word(),
            _ => {
                let (pad, trl) = tr
                    .get_mut(..plain_len.saturating_sub(plen))
                    .unwrap_or_default()
                    .split_at_mut_checked(tfc)
                    .ok_or(short(tfc, 0))?;
                pad.fill(0);
                trailer.emit(trl)?;
            }
        }
        let (plain, icv) = rest.split_at_mut(plain_len);
        let seq_hi = self.core.config.esn.then_some(hi);
        self.transform
            .seal(&hdr, seq_hi, iv, plain, icv)
            .map_err(map_crypto)
    }

    /// Protects the IP packet at `range` in `buf` (RFC 4303 section 3.3): tunnel
    /// mode wraps it under a new outer header, transport mode inserts ESP after
    /// its IP header; with UDP encapsulation a UDP header precedes ESP
    /// (RFC 3948 section 2.1). Returns the range of the protected packet.
    ///
    /// # Errors
    /// [`EmitError::BufferTooSmall`] (see [`Outbound::headroom`],
    /// [`Outbound::tailroom`]), [`ParseError`] when the packet is not IP or its
    /// IP length field does not match `range` (pass exactly the IP packet),
    /// [`ProtocolError::SequenceExhausted`], [`ProtocolError::Expired`].
    pub fn encap<R: RngCore + CryptoRng>(
        &mut self,
        now: Duration,
        buf: &mut [u8],
        range: Range<usize>,
        rng: &mut R,
    ) -> Result<Range<usize>, Error> {
        let r = match self.core.config.mode {
            Mode::Tunnel(t) => self.encap_tunnel(now, buf, range, t, rng),
            Mode::Transport => self.encap_transport(now, buf, range, rng),
        };
        if let Err(e) = r {
            self.core.stats.record(e);
        }
        r
    }

    /// Tunnel mode (RFC 4301 section 5.1.2, RFC 4303 section 3.1.2): all
    /// lengths are checked once up front, then outer header, optional UDP
    /// header, ESP header, IV and trailer are written and the payload sealed,
    /// each through one fixed-size split of the packet's region.
    #[inline]
    fn encap_tunnel<R: RngCore + CryptoRng>(
        &mut self,
        now: Duration,
        buf: &mut [u8],
        range: Range<usize>,
        t: Tunnel,
        rng: &mut R,
    ) -> Result<Range<usize>, Error> {
        let pkt = buf
            .get(range.clone())
            .ok_or(UsageError::InvalidConfig("range outside the buffer"))?;
        let inner_v = pkt.first().map(|b| b >> 4);
        let nh = match inner_v {
            Some(4) => NextHeader::IPV4,
            Some(6) => NextHeader::IPV6,
            _ => return Err(ParseError::InvalidField("inner packet is not IP").into()),
        };
        // The inner IP length must cover exactly the packet: the receiver
        // trims TFC padding by it (RFC 4303 section 2.7).
        if ip::parse_fast(pkt, false)?.total_len != range.len() {
            return Err(ParseError::BadLength.into());
        }
        let tos = ip::tos(pkt);
        let inner_df = inner_v == Some(6) || pkt.get(6).is_some_and(|b| b & 0x40 != 0);
        let cfg = &self.core.config;
        let outer = match t {
            Tunnel::V4 { .. } => ip::V4_LEN,
            Tunnel::V6 { .. } => ip::V6_LEN,
        };
        let udp = if cfg.udp_encap.is_some() { 8 } else { 0 };
        let head = outer + udp + HEADER_LEN + self.transform.iv_len();
        let start = range
            .start
            .checked_sub(head)
            .ok_or(short(head, range.start))?;
        let tfc = usize::from(cfg.tfc_pad_to).saturating_sub(range.len());
        let trailer = Trailer::for_len(range.len() + tfc, self.align, nh);
        let tail = tfc + trailer.len() + self.transform.icv_len();
        let room = buf.len() - range.end;
        if room < tail {
            return Err(short(tail, room));
        }
        let end = range.end + tail;
        let tos = match cfg.dscp {
            Dscp::Copy => tos & 0xfc,
            Dscp::Set(v) => v << 2,
        } | match cfg.ecn {
            EcnMode::Normal => tos & 3,
            EcnMode::Compatibility => 0,
        };
        let df = match cfg.df {
            DfPolicy::Copy => inner_df,
            DfPolicy::Set => true,
            DfPolicy::Clear => false,
        };
        let (ttl, udp_encap) = (cfg.ttl, cfg.udp_encap);
        let proto = if udp > 0 { 17 } else { IP_PROTO_ESP };
        self.core.alive(now)?;
        let seq = self.take_seq()?;
        let region = buf.get_mut(start..end).ok_or(short(end, 0))?;
        let (hdr, rest) = region.split_at_mut(outer);
        // The IPv4 identification is the low 16 bits of the sequence number:
        // unique per SA for 2^16 packets (RFC 6864 allows any for DF=1 atomic
        // datagrams).
        #[allow(clippy::cast_possible_truncation, reason = "low 16 bits")]
        let id = (seq as u16).to_be_bytes();
        write_outer(hdr, t, tos, df, id, ttl, proto, end - start)?;
        let esp = rest.get_mut(udp..).unwrap_or_default();
        self.seal_esp(esp, range.len(), tfc, trailer, seq, rng)?;
        if let Some(u) = udp_encap {
            write_udp(hdr, rest, u)?;
        }
        // Byte lifetimes count protected payload bytes, as inbound does.
        self.core.account(now, range.len());
        Ok(start..end)
    }

    /// Transport mode (RFC 4303 section 3.1.1): ESP goes between the IP header
    /// (moved down into the headroom) and its payload.
    fn encap_transport<R: RngCore + CryptoRng>(
        &mut self,
        now: Duration,
        buf: &mut [u8],
        range: Range<usize>,
        rng: &mut R,
    ) -> Result<Range<usize>, Error> {
        check_range(buf.len(), &range)?;
        let cfg = self.core.config;
        let udp = if cfg.udp_encap.is_some() { 8 } else { 0 };
        let esp_hdr = HEADER_LEN + self.transform.iv_len();
        let pkt = buf.get(range.clone()).unwrap_or_default();
        let l3 = ip::parse(pkt, true)?;
        if l3.total_len != range.len() {
            return Err(ParseError::BadLength.into());
        }
        let hl = l3.header_len;
        let shift = udp + esp_hdr;
        let new_start = range
            .start
            .checked_sub(shift)
            .ok_or(short(shift, range.start))?;
        let payload = range.start + hl..range.end;
        let tail = self.tailroom(payload.len());
        if buf.len() - range.end < tail {
            return Err(short(tail, buf.len() - range.end));
        }
        let nh = NextHeader(l3.proto);
        self.core.alive(now)?;
        if self.exhausted {
            return Err(ProtocolError::SequenceExhausted.into());
        }
        // Reserve the sequence number only once the layout fits: move the
        // IP header first, then encapsulate the payload behind it.
        buf.copy_within(range.start..range.start + hl, new_start);
        let plen = payload.len();
        let esp = self.encap_esp_inner(now, buf, payload, nh, 0, rng)?;
        self.core.account(now, plen);
        let total = esp.end - new_start;
        let h = buf.get_mut(new_start..esp.end).ok_or(short(total, 0))?;
        let (hdr, rest) = h.split_at_mut(hl);
        if let Some(b) = hdr.get_mut(l3.proto_at) {
            *b = if udp > 0 { 17 } else { IP_PROTO_ESP };
        }
        set_ip_len(hdr, l3.version, total)?;
        if let Some(u) = cfg.udp_encap {
            write_udp(hdr, rest, u)?;
        }
        Ok(new_start..esp.end)
    }

    /// Encapsulates every item (as [`Outbound::encap`]); returns how many
    /// succeeded. Each item's `range` becomes the protected packet on success.
    pub fn encap_batch<R: RngCore + CryptoRng>(
        &mut self,
        now: Duration,
        items: &mut [Item<'_>],
        rng: &mut R,
    ) -> usize {
        let mut ok = 0;
        for it in items {
            match self.encap(now, it.buf, it.range.clone(), rng) {
                Ok(r) => {
                    it.range = r;
                    it.result = Ok(());
                    ok += 1;
                }
                Err(e) => it.result = Err(e),
            }
        }
        ok
    }
}

/// Writes the total length (IPv4, with checksum) or payload length (IPv6).
#[inline]
fn set_ip_len(hdr: &mut [u8], version: u8, total: usize) -> Result<(), Error> {
    if version == 4 {
        let t = u16::try_from(total).map_err(|_| EmitError::ValueTooLarge("IPv4 total length"))?;
        if let Some(f) = hdr.get_mut(2..4) {
            f.copy_from_slice(&t.to_be_bytes());
        }
        ip::v4_fix_checksum(hdr);
    } else {
        let t = u16::try_from(total.saturating_sub(ip::V6_LEN))
            .map_err(|_| EmitError::ValueTooLarge("IPv6 payload length"))?;
        if let Some(f) = hdr.get_mut(4..6) {
            f.copy_from_slice(&t.to_be_bytes());
        }
    }
    Ok(())
}

/// The outer header of tunnel mode (RFC 4301 section 5.1.2).
#[allow(clippy::too_many_arguments, reason = "one outer header, all fields")]
#[allow(clippy::inline_always, reason = "per-packet hot path, measured")]
#[inline(always)]
fn write_outer(
    h: &mut [u8],
    t: Tunnel,
    tos: u8,
    df: bool,
    id: [u8; 2],
    ttl: u8,
    proto: u8,
    total: usize,
) -> Result<(), Error> {
    match t {
        Tunnel::V4 { src, dst } => {
            let h: &mut [u8; 20] = h.try_into().map_err(|_| short(20, 0))?;
            let len =
                u16::try_from(total).map_err(|_| EmitError::ValueTooLarge("IPv4 total length"))?;
            let (src, dst) = (u32::from_be_bytes(src), u32::from_be_bytes(dst));
            let flags: u16 = if df { 0x4000 } else { 0 };
            let id = u16::from_be_bytes(id);
            let ttl_proto = u16::from_be_bytes([ttl, proto]);
            // RFC 791 / RFC 1071: the checksum is summed from the values, not
            // read back from the bytes just stored (store-forwarding stalls).
            let sum = u32::from(0x4500 | u16::from(tos))
                + u32::from(len)
                + u32::from(id)
                + u32::from(flags)
                + u32::from(ttl_proto)
                + (src >> 16)
                + (src & 0xffff)
                + (dst >> 16)
                + (dst & 0xffff);
            let csum = ip::fold(sum);
            // Three stores: version..fragment, TTL..source, destination.
            let w0 = (u64::from(0x4500 | u16::from(tos)) << 48)
                | (u64::from(len) << 32)
                | (u64::from(id) << 16)
                | u64::from(flags);
            let w1 = (u64::from(ttl_proto) << 48) | (u64::from(csum) << 32) | u64::from(src);
            let (first, rest) = h.split_first_chunk_mut::<8>().ok_or(short(20, 0))?;
            *first = w0.to_be_bytes();
            let (second, rest) = rest.split_first_chunk_mut::<8>().ok_or(short(20, 0))?;
            *second = w1.to_be_bytes();
            let third = rest.first_chunk_mut::<4>().ok_or(short(20, 0))?;
            *third = dst.to_be_bytes();
        }
        Tunnel::V6 { src, dst } => {
            let h: &mut [u8; 40] = h.try_into().map_err(|_| short(40, 0))?;
            let plen = u16::try_from(total - ip::V6_LEN)
                .map_err(|_| EmitError::ValueTooLarge("IPv6 payload length"))?
                .to_be_bytes();
            let (fixed, addrs) = h.split_at_mut(8);
            fixed.copy_from_slice(&[
                0x60 | (tos >> 4),
                tos << 4,
                0,
                0,
                plen[0],
                plen[1],
                proto,
                ttl,
            ]);
            let (s, d) = addrs.split_at_mut(16);
            s.copy_from_slice(&src);
            d.copy_from_slice(&dst);
        }
    }
    Ok(())
}

/// Writes the UDP header at the start of `rest` (RFC 3948 section 2.1: IPv4
/// checksum zero; IPv6 requires a real checksum, RFC 8200 section 8.1).
fn write_udp(ip_hdr: &[u8], rest: &mut [u8], u: UdpEncap) -> Result<(), Error> {
    let len = u16::try_from(rest.len()).map_err(|_| EmitError::ValueTooLarge("UDP length"))?;
    let (uh, _) = rest.split_first_chunk_mut::<8>().ok_or(short(8, 0))?;
    let [s0, s1] = u.src_port.to_be_bytes();
    let [d0, d1] = u.dst_port.to_be_bytes();
    let [l0, l1] = len.to_be_bytes();
    *uh = [s0, s1, d0, d1, l0, l1, 0, 0];
    if ip_hdr.first().map(|b| b >> 4) == Some(6) {
        let mut s = ip::sum(0, ip_hdr.get(8..40).unwrap_or_default());
        s = s.wrapping_add(u32::from(len)).wrapping_add(17);
        s = ip::sum(s, rest);
        let c = match ip::fold(s) {
            0 => 0xffff,
            c => c,
        };
        if let Some(f) = rest.get_mut(6..8) {
            f.copy_from_slice(&c.to_be_bytes());
        }
    }
    Ok(())
}

/// Recomputes the TCP or UDP checksum of the transport segment after the
/// `hl`-byte IP header of `pkt` (other protocols are left alone). A UDP checksum
/// of zero over IPv4 (none sent) stays zero.
fn fix_l4_checksum(pkt: &mut [u8], hl: usize, version: u8, nh: NextHeader) {
    let at = match nh {
        NextHeader::TCP => 16,
        NextHeader::UDP => 6,
        _ => return,
    };
    let (hdr, seg) = pkt.split_at_mut(hl.min(pkt.len()));
    if seg.len() < at + 2 || u32::try_from(seg.len()).is_err() {
        return;
    }
    if nh == NextHeader::UDP && version == 4 && seg.get(at..at + 2) == Some(&[0, 0]) {
        return;
    }
    if let Some(c) = seg.get_mut(at..at + 2) {
        c.fill(0);
    }
    let addrs = if version == 4 {
        hdr.get(12..20)
    } else {
        hdr.get(8..40)
    };
    let len = u32::try_from(seg.len()).unwrap_or(0);
    let mut sum = ip::sum(0, addrs.unwrap_or_default());
    sum = sum
        .wrapping_add(len >> 16)
        .wrapping_add(len & 0xffff)
        .wrapping_add(u32::from(nh.0));
    sum = ip::sum(sum, seg);
    let c = match ip::fold(sum) {
        0 if nh == NextHeader::UDP => 0xffff,
        c => c,
    };
    if let Some(f) = seg.get_mut(at..at + 2) {
        f.copy_from_slice(&c.to_be_bytes());
    }
}

/// The plaintext of one ESP packet after [`Inbound::decap_esp`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EspPayload {
    /// The decrypted payload (without TFC padding removal, without trailer).
    pub payload: Range<usize>,
    /// The Next Header of the trailer.
    pub next_header: NextHeader,
    /// The full (inferred, with ESN) sequence number.
    pub seq: u64,
}

/// The result of [`Inbound::decap`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decapped {
    /// The inner packet (tunnel) or the restored IP packet (transport). Empty for
    /// a TFC dummy packet (next header 59), which the caller drops.
    pub packet: Range<usize>,
    /// The Next Header of the ESP trailer.
    pub next_header: NextHeader,
    /// The full sequence number.
    pub seq: u64,
}

/// An inbound SA: verifies, decrypts and decapsulates (RFC 4303 section 3.4).
#[derive(Debug, Clone)]
pub struct Inbound<T, S = [u64; crate::replay::DEFAULT_BLOCKS]> {
    core: Core,
    transform: T,
    window: ReplayWindow<S>,
}

impl<T: Transform> Inbound<T> {
    /// A new SA created at `now` with the default 4096-packet window.
    ///
    /// # Errors
    /// [`UsageError::InvalidConfig`] for unusable transform sizes.
    pub fn new(config: Config, transform: T, now: Duration) -> Result<Self, UsageError> {
        Self::with_window(config, transform, ReplayWindow::default(), now)
    }
}

impl<T: Transform, S: AsRef<[u64]> + AsMut<[u64]>> Inbound<T, S> {
    /// A new SA with a caller-sized window (see [`ReplayWindow::new`]).
    ///
    /// # Errors
    /// [`UsageError::InvalidConfig`] for unusable transform sizes.
    pub fn with_window(
        config: Config,
        transform: T,
        window: ReplayWindow<S>,
        now: Duration,
    ) -> Result<Self, UsageError> {
        if transform.block_len() == 0 {
            return Err(UsageError::InvalidConfig("transform block length"));
        }
        Ok(Self {
            core: Core::new(config, now),
            transform,
            window,
        })
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &Config {
        &self.core.config
    }

    /// The counters.
    #[must_use]
    pub fn stats(&self) -> &Stats {
        &self.core.stats
    }

    /// The anti-replay window.
    #[must_use]
    pub fn window(&self) -> &ReplayWindow<S> {
        &self.window
    }

    /// The anti-replay window, mutably (state sync; see [`ReplayWindow::set_top`]).
    pub fn window_mut(&mut self) -> &mut ReplayWindow<S> {
        &mut self.window
    }

    /// Handles time: fires time lifetimes.
    pub fn handle_timeout(&mut self, now: Duration) {
        let _ = self.core.check(now);
    }

    /// The next time lifetime deadline, if any.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Duration> {
        self.core.poll_timeout()
    }

    /// The next event for the key manager.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.core.poll_event()
    }

    /// ESP only: `esp` is the ESP packet (SPI through ICV) inside `buf`.
    /// Order of RFC 4303 section 3.4: sequence number inference and the cheap
    /// replay check, then ICV verification and decryption in place, and only
    /// then the window update (section 3.4.3), then the trailer.
    ///
    /// # Errors
    /// [`ParseError`] for a malformed packet, [`ProtocolError::WrongSpi`],
    /// [`ProtocolError::Replayed`], [`ProtocolError::IcvMismatch`] (the window
    /// is untouched), [`ProtocolError::BadPadding`], [`ProtocolError::Expired`].
    pub fn decap_esp(
        &mut self,
        now: Duration,
        buf: &mut [u8],
        esp: Range<usize>,
    ) -> Result<EspPayload, Error> {
        let r = self.decap_esp_inner(now, buf, esp);
        match r {
            Ok(ref p) => self.core.account(now, p.payload.len()),
            Err(e) => self.core.stats.record(e),
        }
        r
    }

    #[inline]
    fn decap_esp_inner(
        &mut self,
        now: Duration,
        buf: &mut [u8],
        esp: Range<usize>,
    ) -> Result<EspPayload, Error> {
        let start = esp.start;
        let region = buf
            .get_mut(esp)
            .ok_or(UsageError::InvalidConfig("range outside the buffer"))?;
        self.core.alive(now)?;
        let len = region.len();
        let iv_bytes = self.transform.iv_len();
        let tag_bytes = self.transform.icv_len();
        // RFC 4303 section 2.1-2.2: SPI and low sequence number, one load.
        let (header, rest) =
            region
                .split_first_chunk_mut::<HEADER_LEN>()
                .ok_or(ParseError::Truncated {
                    needed: HEADER_LEN,
                    available: len,
                })?;
        let (spi, lo) = split_seq(u64::from_be_bytes(*header));
        if spi != self.core.config.spi.0 {
            return Err(ProtocolError::WrongSpi.into());
        }
        let seq = if self.core.config.esn {
            self.window.infer_esn(lo).ok_or(ProtocolError::Replayed)?
        } else {
            u64::from(lo)
        };
        // Section 3.4.3: the cheap replay check before the ICV.
        self.window.check(seq)?;
        let min = HEADER_LEN + iv_bytes + 2 + tag_bytes;
        let Some(ct_len) = len
            .checked_sub(HEADER_LEN + iv_bytes + tag_bytes)
            .filter(|_| len >= min)
        else {
            return Err(ParseError::Truncated {
                needed: min,
                available: len,
            }
            .into());
        };
        let block = self.transform.block_len();
        if block > 4 && ct_len % block != 0 {
            return Err(ParseError::BadLength.into());
        }
        let (iv, payload_icv) = rest
            .split_at_mut_checked(iv_bytes)
            .ok_or(ParseError::BadLength)?;
        let (hi, _) = split_seq(seq);
        let seq_hi = self.core.config.esn.then_some(hi);
        self.transform
            .open(header, seq_hi, iv, payload_icv)
            .map_err(map_crypto)?;
        // Only now, with the ICV verified, does the window move (section 3.4.3);
        // `check` above passed for this `seq` and nothing changed the window since.
        self.window.mark_checked(seq);
        let plain = payload_icv.get(..ct_len).unwrap_or_default();
        let (inner, trailer) = Trailer::parse(plain, self.core.config.check_padding)?;
        let pstart = start + HEADER_LEN + iv_bytes;
        Ok(EspPayload {
            payload: pstart..pstart + inner,
            next_header: trailer.next_header,
            seq,
        })
    }

    /// Decapsulates the IP packet at `range` (outer IP header, optional UDP
    /// header of RFC 3948, ESP): tunnel mode returns the inner packet (trimmed
    /// to its IP length, which removes TFC padding; ECN combined per RFC 6040
    /// section 4.2), transport mode moves the IP header up to the payload and
    /// restores its protocol and length (RFC 4303 section 3.4.4).
    ///
    /// # Errors
    /// As [`Inbound::decap_esp`], plus [`ParseError`] when the packet is not
    /// ESP (including a NAT-keepalive or an IKE message on port 4500) or is an
    /// IPv4 fragment (reassemble first, RFC 4303 section 3.4.1).
    pub fn decap(
        &mut self,
        now: Duration,
        buf: &mut [u8],
        range: Range<usize>,
    ) -> Result<Decapped, Error> {
        let r = self.decap_inner(now, buf, range);
        if let Err(e) = r {
            self.core.stats.record(e);
        }
        r
    }

    fn decap_inner(
        &mut self,
        now: Duration,
        buf: &mut [u8],
        range: Range<usize>,
    ) -> Result<Decapped, Error> {
        let pkt = buf
            .get(range.clone())
            .ok_or(UsageError::InvalidConfig("range outside the buffer"))?;
        let l3 = ip::parse_fast(pkt, true)?;
        if l3.total_len > pkt.len() {
            return Err(ParseError::Truncated {
                needed: l3.total_len,
                available: pkt.len(),
            }
            .into());
        }
        if l3.version == 4 && pkt.get(6..8).is_some_and(|f| f != [0, 0] && f != [0x40, 0]) {
            return Err(ParseError::InvalidField("IPv4 fragment").into());
        }
        let outer_tos = ip::tos(pkt);
        let end = range.start + l3.total_len;
        let l4 = range.start + l3.header_len;
        let esp = match l3.proto {
            IP_PROTO_ESP => l4..end,
            17 => {
                let udp = buf.get(l4..end).unwrap_or_default();
                let ulen = udp
                    .get(4..6)
                    .and_then(<[u8]>::first_chunk::<2>)
                    .map_or(0, |b| usize::from(u16::from_be_bytes(*b)));
                if ulen < 8 || ulen > udp.len() {
                    return Err(ParseError::BadLength.into());
                }
                match natt::classify(udp.get(8..ulen).unwrap_or_default())? {
                    natt::Payload::Esp(_) => l4 + 8..l4 + ulen,
                    _ => return Err(ParseError::InvalidField("not ESP (RFC 3948)").into()),
                }
            }
            _ => return Err(ParseError::InvalidField("not ESP").into()),
        };
        let p = self.decap_esp_inner(now, buf, esp)?;
        self.core.account(now, p.payload.len());
        match self.core.config.mode {
            Mode::Tunnel(_) => {
                if p.next_header == NextHeader::NO_NEXT_HEADER {
                    return Ok(Decapped {
                        packet: p.payload.start..p.payload.start,
                        next_header: p.next_header,
                        seq: p.seq,
                    });
                }
                let inner = buf.get_mut(p.payload.clone()).unwrap_or_default();
                let il3 = ip::parse_fast(inner, false)?;
                if il3.total_len > inner.len() {
                    return Err(ParseError::BadLength.into());
                }
                if self.core.config.ecn == EcnMode::Normal {
                    let tos = ip::tos(inner);
                    let ecn = ip::ecn_decap(tos, outer_tos)?;
                    if ecn != tos & 3 {
                        ip::set_tos(inner, (tos & 0xfc) | ecn);
                    }
                }
                Ok(Decapped {
                    packet: p.payload.start..p.payload.start + il3.total_len,
                    next_header: p.next_header,
                    seq: p.seq,
                })
            }
            Mode::Transport => {
                let hl = l3.header_len;
                let new_start = p.payload.start - hl;
                buf.copy_within(range.start..range.start + hl, new_start);
                let total = p.payload.end - new_start;
                let hdr = buf.get_mut(new_start..new_start + hl).unwrap_or_default();
                if let Some(b) = hdr.get_mut(l3.proto_at) {
                    *b = p.next_header.0;
                }
                set_ip_len(hdr, l3.version, total)?;
                if l3.proto == 17 {
                    // RFC 3948 section 3.1.2: behind a NAT the TCP/UDP checksum was
                    // computed over addresses the NAT rewrote. The ICV already
                    // authenticated the segment, so recompute it over the addresses
                    // it arrives with.
                    let pkt = buf.get_mut(new_start..p.payload.end).unwrap_or_default();
                    fix_l4_checksum(pkt, hl, l3.version, p.next_header);
                }
                Ok(Decapped {
                    packet: new_start..p.payload.end,
                    next_header: p.next_header,
                    seq: p.seq,
                })
            }
        }
    }

    /// Decapsulates every item (as [`Inbound::decap`]); returns how many
    /// succeeded. Each item's `range` becomes the decapsulated packet on success.
    pub fn decap_batch(&mut self, now: Duration, items: &mut [Item<'_>]) -> usize {
        let mut ok = 0;
        for it in items {
            match self.decap(now, it.buf, it.range.clone()) {
                Ok(d) => {
                    it.range = d.packet;
                    it.result = Ok(());
                    ok += 1;
                }
                Err(e) => it.result = Err(e),
            }
        }
        ok
    }
}
