//! `pppoe-session-input`: PPPoE session-stage decapsulation (RFC 2516 section 6), as
//! VPP's `pppoe_decap.c` does it. The session is looked up by (client MAC, session id,
//! VLANs); PPP data (IPv4 0x0021, IPv6 0x0057) is stripped to the network header and
//! goes on with the subscriber's handle in its metadata; PPP control (LCP, PAP, CHAP,
//! IPCP, IPv6CP, ...) is punted to the control plane unchanged; unknown sessions drop.

use hashbrown::HashMap;

use bng_pppoe::discovery::{Code, Packet};

use crate::buffer::Pkt;
use crate::graph::{Node, Verdict};

crate::label! {
    /// Edges of `pppoe-session-input`.
    pub enum Next {
        /// An IPv4 packet of a known session, decapsulated.
        Ip4 => "ip4",
        /// An IPv6 packet of a known session, decapsulated.
        Ip6 => "ip6",
        /// A PPP control packet (protocol >= 0x8000): to the control plane, unchanged.
        Control => "control",
    }
}

crate::label! {
    /// Drop reasons of `pppoe-session-input`.
    pub enum Drop {
        /// Not a valid PPPoE session header (RFC 2516 section 4).
        BadHeader => "bad-header",
        /// No session with this (MAC, session id, VLANs).
        UnknownSession => "unknown-session",
        /// A PPP data protocol we do not forward.
        UnknownProtocol => "unknown-protocol",
    }
}

/// Key of a PPPoE session: client MAC, session id, VLAN IDs (0 where absent).
///
/// Hashed as two words (MAC and session id packed in a `u64`, the VLANs in a `u32`)
/// instead of field by field with a length prefix for the MAC. The table's hasher is
/// hashbrown's default, foldhash, seeded at random per table: the session id and MAC
/// are client-chosen, so an unkeyed hash would let a client craft colliding keys and
/// turn every lookup into a long probe; a keyed one denies that, and foldhash costs a
/// few multiplies where SipHash-1-3 costs tens of ns per key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionKey {
    /// The client's MAC address.
    pub mac: [u8; 6],
    /// The PPPoE session id.
    pub session_id: u16,
    /// Outer and inner VLAN IDs.
    pub vlans: [u16; 2],
}

impl core::hash::Hash for SessionKey {
    #[inline]
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        let mut k = [0u8; 8];
        k[..6].copy_from_slice(&self.mac);
        k[6..].copy_from_slice(&self.session_id.to_be_bytes());
        state.write_u64(u64::from_be_bytes(k));
        state.write_u32((u32::from(self.vlans[0]) << 16) | u32::from(self.vlans[1]));
    }
}

/// The `pppoe-session-input` node and its (per-worker) session table.
#[derive(Debug, Default)]
pub struct PppoeSessionInput {
    sessions: HashMap<SessionKey, u32>,
}

impl PppoeSessionInput {
    /// Adds or replaces a session; `subscriber` is the handle later nodes see
    /// (non-zero).
    pub fn insert(&mut self, key: SessionKey, subscriber: u32) {
        self.sessions.insert(key, subscriber);
    }

    /// Removes a session.
    pub fn remove(&mut self, key: &SessionKey) -> Option<u32> {
        self.sessions.remove(key)
    }

    /// The subscriber handle of a session.
    #[must_use]
    pub fn get(&self, key: &SessionKey) -> Option<u32> {
        self.sessions.get(key).copied()
    }
}

impl Node for PppoeSessionInput {
    type Next = Next;
    type Drop = Drop;
    const NAME: &'static str = "pppoe-session-input";

    #[inline]
    fn packet(&mut self, pkt: &mut Pkt<'_>) -> Verdict<Next, Drop> {
        let l3 = usize::from(pkt.meta.l3_offset);
        let d = pkt.data();
        let Some(src) = d.get(6..12).and_then(|s| <[u8; 6]>::try_from(s).ok()) else {
            return Verdict::Drop(Drop::BadHeader);
        };
        let Some(Ok(p)) = d.get(l3..).map(Packet::new_checked) else {
            return Verdict::Drop(Drop::BadHeader);
        };
        if p.code() != Code::SESSION {
            return Verdict::Drop(Drop::BadHeader);
        }
        let key = SessionKey {
            mac: src,
            session_id: p.session_id(),
            vlans: pkt.meta.vlans,
        };
        let Some(&sub) = self.sessions.get(&key) else {
            return Verdict::Drop(Drop::UnknownSession);
        };
        let Some(proto) = p
            .payload()
            .first_chunk::<2>()
            .map(|b| u16::from_be_bytes(*b))
        else {
            return Verdict::Drop(Drop::BadHeader);
        };
        let payload = usize::from(p.payload_len()).saturating_sub(2);
        pkt.meta.subscriber = sub;
        let next = match proto {
            0x0021 => Next::Ip4,
            0x0057 => Next::Ip6,
            p if p >= 0x8000 => return Verdict::Next(Next::Control),
            _ => return Verdict::Drop(Drop::UnknownProtocol),
        };
        // strip Ethernet + VLANs + PPPoE header (6) + PPP protocol (2); trailing
        // Ethernet padding goes too (the PPPoE LENGTH bounds the payload)
        if !pkt.pull_front(l3 + 8) || !pkt.set_len(payload) {
            return Verdict::Drop(Drop::BadHeader);
        }
        pkt.meta.l3_offset = 0;
        Verdict::Next(next)
    }
}

crate::label! {
    /// Edges of `pppoe-encap`.
    pub enum EncapNext {
        /// Encapsulated: to `interface-output` toward the subscriber.
        Output => "interface-output",
    }
}

crate::label! {
    /// Drop reasons of `pppoe-encap`.
    pub enum EncapDrop {
        /// No PPPoE session holds the destination address.
        NoSession => "no-session",
        /// Not an IPv4 packet, or no headroom.
        BadPacket => "bad-packet",
    }
}

/// Where an address's PPPoE session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncapEntry {
    /// The subscriber's MAC.
    pub mac: [u8; 6],
    /// Our MAC on the access side.
    pub our_mac: [u8; 6],
    /// The PPPoE session id.
    pub session_id: u16,
    /// The access interface.
    pub tx_if: u16,
}

/// `pppoe-encap`: finds the session of an IPv4 packet's destination address and adds
/// PPP (protocol 0x0021), PPPoE session (RFC 2516 section 6) and Ethernet headers in the
/// headroom. The packet's IPv4 header must be at `meta.l3_offset`.
#[derive(Debug, Default)]
pub struct PppoeEncap {
    by_addr: HashMap<u32, EncapEntry>,
}

impl PppoeEncap {
    /// Routes `addr` (host byte order) to a session.
    pub fn insert(&mut self, addr: u32, e: EncapEntry) {
        self.by_addr.insert(addr, e);
    }

    /// Forgets `addr`.
    pub fn remove(&mut self, addr: u32) -> Option<EncapEntry> {
        self.by_addr.remove(&addr)
    }
}

impl Node for PppoeEncap {
    type Next = EncapNext;
    type Drop = EncapDrop;
    const NAME: &'static str = "pppoe-encap";

    #[inline]
    fn packet(&mut self, pkt: &mut Pkt<'_>) -> Verdict<EncapNext, EncapDrop> {
        let l3 = usize::from(pkt.meta.l3_offset);
        if !pkt.pull_front(l3) {
            return Verdict::Drop(EncapDrop::BadPacket);
        }
        let Some(dst) = pkt
            .data()
            .get(16..20)
            .and_then(|d| <[u8; 4]>::try_from(d).ok())
        else {
            return Verdict::Drop(EncapDrop::BadPacket);
        };
        let Some(e) = self.by_addr.get(&u32::from_be_bytes(dst)).copied() else {
            return Verdict::Drop(EncapDrop::NoSession);
        };
        let Ok(len) = u16::try_from(pkt.len() + 2) else {
            return Verdict::Drop(EncapDrop::BadPacket);
        };
        let Some(h) = pkt.push_front(22).and_then(<[u8]>::first_chunk_mut::<22>) else {
            return Verdict::Drop(EncapDrop::BadPacket);
        };
        h[..6].copy_from_slice(&e.mac);
        h[6..12].copy_from_slice(&e.our_mac);
        h[12..16].copy_from_slice(&[0x88, 0x64, 0x11, 0x00]);
        h[16..18].copy_from_slice(&e.session_id.to_be_bytes());
        h[18..20].copy_from_slice(&len.to_be_bytes());
        h[20..22].copy_from_slice(&[0x00, 0x21]);
        pkt.meta.l3_offset = 22;
        pkt.meta.tx_if = e.tx_if;
        Verdict::Next(EncapNext::Output)
    }
}
