//! IPoE subscribers: `ipoe-input` classifies IPv4 frames from the access side by source
//! MAC (and VLANs), enforces anti-spoofing (the source address must be the one bound to
//! that MAC by DHCP) and punts DHCP (UDP to port 67, RFC 2131 section 4.1) to the control
//! plane; `ipoe-encap` writes the Ethernet header toward the subscriber that holds an
//! IPv4 destination address on the way back.
//!
//! Both tables are per worker and are filled by the control plane when the DHCP server
//! acknowledges a lease, and emptied when it is released or expires.

use hashbrown::HashMap;

use crate::buffer::Pkt;
use crate::graph::{Node, Verdict};

/// UDP port of DHCPv4 servers and relays (RFC 2131 section 4.1).
pub const DHCP_SERVER_PORT: u16 = 67;

crate::label! {
    /// Edges of `ipoe-input`.
    pub enum Next {
        /// An IPv4 packet of a bound subscriber, stripped to its network header
        /// (`meta.l3_offset` 0, `meta.subscriber` set): on to NAT44 or routing.
        Ip4 => "ip4",
        /// DHCP (UDP to port 67): to the control plane, unchanged (still with its
        /// Ethernet header), from bound and unbound MACs alike.
        Dhcp => "dhcp",
    }
}

crate::label! {
    /// Drop reasons of `ipoe-input`.
    pub enum Drop {
        /// Not an IPv4 header (RFC 791 section 3.1) or shorter than its lengths.
        BadHeader => "bad-header",
        /// No binding for this source MAC and VLANs.
        UnknownSubscriber => "unknown-subscriber",
        /// The source address is not the one bound to this MAC (anti-spoofing).
        Spoofed => "spoofed-source",
    }
}

/// Key of an IPoE subscriber: its MAC and VLAN IDs (0 where absent).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpoeKey {
    /// The subscriber's MAC address.
    pub mac: [u8; 6],
    /// Outer and inner VLAN IDs.
    pub vlans: [u16; 2],
}

/// What a subscriber is bound to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Binding {
    /// The address DHCP leased (host byte order): the only source address accepted.
    pub addr: u32,
    /// The handle later nodes see in `meta.subscriber` (non-zero).
    pub subscriber: u32,
}

/// The `ipoe-input` node and its (per-worker) binding table.
#[derive(Debug, Default)]
pub struct IpoeInput {
    bindings: HashMap<IpoeKey, Binding>,
}

impl IpoeInput {
    /// Binds a subscriber (on a DHCP ACK); replaces an earlier binding of the key.
    pub fn insert(&mut self, key: IpoeKey, b: Binding) {
        self.bindings.insert(key, b);
    }

    /// Unbinds a subscriber (on RELEASE or expiry).
    pub fn remove(&mut self, key: &IpoeKey) -> Option<Binding> {
        self.bindings.remove(key)
    }

    /// The binding of a subscriber.
    #[must_use]
    pub fn get(&self, key: &IpoeKey) -> Option<Binding> {
        self.bindings.get(key).copied()
    }

    /// Bound subscribers.
    #[must_use]
    pub fn len(&self) -> usize {
        self.bindings.len()
    }

    /// True when no subscriber is bound.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.bindings.is_empty()
    }
}

impl Node for IpoeInput {
    type Next = Next;
    type Drop = Drop;
    const NAME: &'static str = "ipoe-input";

    #[inline]
    fn packet(&mut self, pkt: &mut Pkt<'_>) -> Verdict<Next, Drop> {
        let l3 = usize::from(pkt.meta.l3_offset);
        let d = pkt.data();
        let Some(src_mac) = d.get(6..12).and_then(|s| <[u8; 6]>::try_from(s).ok()) else {
            return Verdict::Drop(Drop::BadHeader);
        };
        let Some(ip) = d.get(l3..) else {
            return Verdict::Drop(Drop::BadHeader);
        };
        let Some(h) = ip.first_chunk::<20>() else {
            return Verdict::Drop(Drop::BadHeader);
        };
        let ihl = usize::from(h[0] & 0x0f) * 4;
        let total = usize::from(u16::from_be_bytes([h[2], h[3]]));
        if h[0] >> 4 != 4 || ihl < 20 || total < ihl || total > ip.len() {
            return Verdict::Drop(Drop::BadHeader);
        }
        // DHCP to the server port, unfragmented (fragment offset 0): punted before the
        // binding check, since a client has no address until its ACK.
        // (the low 13 bits of the flags/offset word are zero)
        let first_fragment = u16::from_be_bytes([h[6], h[7]]).trailing_zeros() >= 13;
        if h[9] == 17 && first_fragment {
            let dport = ip
                .get(ihl + 2..)
                .and_then(<[u8]>::first_chunk::<2>)
                .map(|p| u16::from_be_bytes(*p));
            if dport == Some(DHCP_SERVER_PORT) {
                return Verdict::Next(Next::Dhcp);
            }
        }
        let key = IpoeKey {
            mac: src_mac,
            vlans: pkt.meta.vlans,
        };
        let Some(b) = self.bindings.get(&key).copied() else {
            return Verdict::Drop(Drop::UnknownSubscriber);
        };
        if u32::from_be_bytes([h[12], h[13], h[14], h[15]]) != b.addr {
            return Verdict::Drop(Drop::Spoofed);
        }
        // strip Ethernet + VLANs, and trailing Ethernet padding beyond the total length
        if !pkt.pull_front(l3) || !pkt.set_len(total) {
            return Verdict::Drop(Drop::BadHeader);
        }
        pkt.meta.l3_offset = 0;
        pkt.meta.subscriber = b.subscriber;
        Verdict::Next(Next::Ip4)
    }
}

crate::label! {
    /// Edges of `ipoe-encap`.
    pub enum EncapNext {
        /// Ethernet header written: to `interface-output` toward the subscriber.
        Output => "interface-output",
        /// The destination is no IPoE subscriber's: on to the next encapsulation
        /// (e.g. `pppoe-encap`), unchanged.
        Other => "other",
    }
}

crate::label! {
    /// Drop reasons of `ipoe-encap`.
    pub enum EncapDrop {
        /// Not an IPv4 packet, or no headroom.
        BadPacket => "bad-packet",
    }
}

/// Where an IPoE subscriber's address is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncapEntry {
    /// The subscriber's MAC.
    pub mac: [u8; 6],
    /// Our MAC on the access side.
    pub our_mac: [u8; 6],
    /// The access interface.
    pub tx_if: u16,
}

/// `ipoe-encap`: finds the subscriber of an IPv4 packet's destination address and adds
/// an Ethernet header (type 0x0800) to its MAC in the headroom. The packet's IPv4 header
/// must be at `meta.l3_offset`.
#[derive(Debug, Default)]
pub struct IpoeEncap {
    by_addr: HashMap<u32, EncapEntry>,
}

impl IpoeEncap {
    /// Routes `addr` (host byte order) to a subscriber.
    pub fn insert(&mut self, addr: u32, e: EncapEntry) {
        self.by_addr.insert(addr, e);
    }

    /// Forgets `addr`.
    pub fn remove(&mut self, addr: u32) -> Option<EncapEntry> {
        self.by_addr.remove(&addr)
    }
}

impl Node for IpoeEncap {
    type Next = EncapNext;
    type Drop = EncapDrop;
    const NAME: &'static str = "ipoe-encap";

    #[inline]
    fn packet(&mut self, pkt: &mut Pkt<'_>) -> Verdict<EncapNext, EncapDrop> {
        let l3 = usize::from(pkt.meta.l3_offset);
        let Some(dst) = pkt
            .data()
            .get(l3 + 16..l3 + 20)
            .and_then(|d| <[u8; 4]>::try_from(d).ok())
        else {
            return Verdict::Drop(EncapDrop::BadPacket);
        };
        let Some(e) = self.by_addr.get(&u32::from_be_bytes(dst)).copied() else {
            return Verdict::Next(EncapNext::Other);
        };
        if !pkt.pull_front(l3) {
            return Verdict::Drop(EncapDrop::BadPacket);
        }
        let Some(h) = pkt.push_front(14).and_then(<[u8]>::first_chunk_mut::<14>) else {
            return Verdict::Drop(EncapDrop::BadPacket);
        };
        h[..6].copy_from_slice(&e.mac);
        h[6..12].copy_from_slice(&e.our_mac);
        h[12..14].copy_from_slice(&[0x08, 0x00]);
        pkt.meta.l3_offset = 14;
        pkt.meta.vlan_count = 0;
        pkt.meta.tx_if = e.tx_if;
        Verdict::Next(EncapNext::Output)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests")]
    use super::*;
    use crate::buffer::Arena;

    const SUB: [u8; 6] = [2, 0, 0, 0, 0, 9];
    const GW: [u8; 6] = [2, 0, 0, 0, 0, 1];

    fn frame(src_ip: [u8; 4], proto: u8, dport: u16) -> Vec<u8> {
        let mut f = GW.to_vec();
        f.extend_from_slice(&SUB);
        f.extend_from_slice(&[0x08, 0x00, 0x45, 0, 0, 28, 0, 0, 0, 0, 64, proto, 0, 0]);
        f.extend_from_slice(&src_ip);
        f.extend_from_slice(&[198, 51, 100, 1, 0, 68]);
        f.extend_from_slice(&dport.to_be_bytes());
        f.extend_from_slice(&[0, 8, 0, 0]);
        f.extend_from_slice(&[0; 6]); // Ethernet padding
        f
    }

    fn node() -> IpoeInput {
        let mut n = IpoeInput::default();
        n.insert(
            IpoeKey {
                mac: SUB,
                vlans: [0, 0],
            },
            Binding {
                addr: u32::from_be_bytes([100, 65, 0, 7]),
                subscriber: 5,
            },
        );
        n
    }

    fn verdict(n: &mut IpoeInput, f: &[u8]) -> (Verdict<Next, Drop>, Vec<u8>, u32) {
        let mut arena = Arena::new(1);
        let mut pool = arena.pool();
        let mut p = pool.alloc_from(f).unwrap();
        p.meta.l3_offset = 14;
        let v = n.packet(&mut p);
        (v, p.data().to_vec(), p.meta.subscriber)
    }

    #[test]
    fn bound_source_is_stripped_and_tagged() {
        let (v, d, sub) = verdict(&mut node(), &frame([100, 65, 0, 7], 17, 9));
        assert_eq!(v, Verdict::Next(Next::Ip4));
        assert_eq!(d.len(), 28, "Ethernet header and padding removed");
        assert_eq!(d[0], 0x45);
        assert_eq!(sub, 5);
    }

    #[test]
    fn spoofed_and_unknown_sources_drop() {
        let mut n = node();
        let (v, ..) = verdict(&mut n, &frame([100, 65, 0, 8], 17, 9));
        assert_eq!(v, Verdict::Drop(Drop::Spoofed));
        let mut f = frame([100, 65, 0, 7], 6, 9);
        f[11] = 0x77;
        assert_eq!(
            verdict(&mut n, &f).0,
            Verdict::Drop(Drop::UnknownSubscriber)
        );
        n.remove(&IpoeKey {
            mac: SUB,
            vlans: [0, 0],
        });
        assert!(n.is_empty());
        assert_eq!(
            verdict(&mut n, &frame([100, 65, 0, 7], 17, 9)).0,
            Verdict::Drop(Drop::UnknownSubscriber)
        );
    }

    #[test]
    fn the_binding_is_per_vlan() {
        let mut n = node();
        let mut arena = Arena::new(1);
        let mut pool = arena.pool();
        let mut p = pool.alloc_from(&frame([100, 65, 0, 7], 17, 9)).unwrap();
        p.meta.l3_offset = 14;
        p.meta.vlans = [100, 0];
        assert_eq!(n.packet(&mut p), Verdict::Drop(Drop::UnknownSubscriber));
        n.insert(
            IpoeKey {
                mac: SUB,
                vlans: [100, 0],
            },
            Binding {
                addr: u32::from_be_bytes([100, 65, 0, 7]),
                subscriber: 6,
            },
        );
        assert_eq!(n.packet(&mut p), Verdict::Next(Next::Ip4));
        assert_eq!((p.meta.subscriber, n.len()), (6, 2));
    }

    #[test]
    fn dhcp_is_punted_from_anyone() {
        let mut n = IpoeInput::default();
        let (v, d, _) = verdict(&mut n, &frame([0, 0, 0, 0], 17, 67));
        assert_eq!(v, Verdict::Next(Next::Dhcp));
        assert_eq!(d.len(), 48, "unchanged");
    }

    #[test]
    fn truncated_headers_drop() {
        let mut n = node();
        let f = frame([100, 65, 0, 7], 17, 9);
        for len in 0..34 {
            assert_eq!(verdict(&mut n, &f[..len]).0, Verdict::Drop(Drop::BadHeader));
        }
    }

    #[test]
    fn encap_writes_the_subscribers_mac() {
        let mut e = IpoeEncap::default();
        e.insert(
            u32::from_be_bytes([100, 65, 0, 7]),
            EncapEntry {
                mac: SUB,
                our_mac: GW,
                tx_if: 0,
            },
        );
        let mut arena = Arena::new(2);
        let mut pool = arena.pool();
        let mut ip = frame([198, 51, 100, 1], 17, 9)[14..42].to_vec();
        ip[16..20].copy_from_slice(&[100, 65, 0, 7]);
        let mut p = pool.alloc_from(&ip).unwrap();
        assert_eq!(e.packet(&mut p), Verdict::Next(EncapNext::Output));
        assert_eq!(&p.data()[..6], &SUB);
        assert_eq!(&p.data()[6..12], &GW);
        assert_eq!(&p.data()[12..14], &[0x08, 0x00]);
        ip[19] = 8;
        let mut q = pool.alloc_from(&ip).unwrap();
        assert_eq!(e.packet(&mut q), Verdict::Next(EncapNext::Other));
        assert_eq!(q.data(), &ip[..], "unchanged for the next encapsulation");
    }
}
