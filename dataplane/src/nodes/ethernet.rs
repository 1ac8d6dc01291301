//! `ethernet-input`: classifies a received frame by destination MAC and ethertype, and
//! reads up to two VLAN tags (802.1Q 0x8100, 802.1ad 0x88a8 and the older QinQ 0x9100)
//! into the packet's metadata. The data still starts at the Ethernet header when it
//! leaves; `meta.l3_offset` says where the network header begins.

#![allow(
    clippy::inline_always,
    reason = "per-packet functions of the fused passes: inlined into the frame loop (callgrind: the calls cost more instructions than the work)"
)]

use crate::buffer::Pkt;
use crate::graph::{Node, Verdict};

crate::label! {
    /// Edges of `ethernet-input`.
    pub enum Next {
        /// IPv4 (0x0800).
        Ip4 => "ip4",
        /// IPv6 (0x86dd).
        Ip6 => "ip6",
        /// ARP (0x0806).
        Arp => "arp",
        /// PPPoE discovery (0x8863): control plane.
        PppoeDiscovery => "pppoe-discovery",
        /// PPPoE session (0x8864).
        PppoeSession => "pppoe-session",
    }
}

crate::label! {
    /// Drop reasons of `ethernet-input`.
    pub enum Drop {
        /// Shorter than an Ethernet header (plus its VLAN tags).
        Truncated => "truncated",
        /// More than two VLAN tags.
        TooManyVlans => "too-many-vlans",
        /// Unicast to another MAC address.
        NotForUs => "not-for-us",
        /// An ethertype no node handles.
        UnknownEthertype => "unknown-ethertype",
    }
}

const TPIDS: [u16; 3] = [0x8100, 0x88a8, 0x9100];

/// The `ethernet-input` node.
#[derive(Debug, Clone)]
pub struct EthernetInput {
    /// Our MAC address per interface (indexed by `meta.rx_if`); unicast frames to other
    /// addresses are dropped unless `promiscuous` is set. Broadcast and multicast always
    /// pass.
    pub macs: Vec<[u8; 6]>,
    /// Accept unicast to any address.
    pub promiscuous: bool,
}

impl Node for EthernetInput {
    type Next = Next;
    type Drop = Drop;
    const NAME: &'static str = "ethernet-input";

    #[inline(always)]
    fn packet(&mut self, pkt: &mut Pkt<'_>) -> Verdict<Next, Drop> {
        let d = pkt.data();
        let Some(hdr) = d.first_chunk::<14>() else {
            return Verdict::Drop(Drop::Truncated);
        };
        let dst = hdr.first_chunk::<6>().copied().unwrap_or_default();
        let ours = self
            .macs
            .get(usize::from(pkt.meta.rx_if))
            .is_some_and(|m| *m == dst);
        if dst[0] & 1 == 0 && !ours && !self.promiscuous {
            return Verdict::Drop(Drop::NotForUs);
        }
        let mut at = 12usize;
        let mut et = u16::from_be_bytes([hdr[12], hdr[13]]);
        let mut vlans = [0u16; 2];
        let mut count = 0u8;
        while TPIDS.contains(&et) {
            let Some(tag) = d.get(at + 2..).and_then(<[u8]>::first_chunk::<4>) else {
                return Verdict::Drop(Drop::Truncated);
            };
            let Some(slot) = vlans.get_mut(usize::from(count)) else {
                return Verdict::Drop(Drop::TooManyVlans);
            };
            *slot = u16::from_be_bytes([tag[0], tag[1]]) & 0x0fff;
            count += 1;
            et = u16::from_be_bytes([tag[2], tag[3]]);
            at += 4;
        }
        pkt.meta.vlans = vlans;
        pkt.meta.vlan_count = count;
        pkt.meta.ethertype = et;
        pkt.meta.l3_offset = u16::try_from(at + 2).unwrap_or(u16::MAX);
        match et {
            0x0800 => Verdict::Next(Next::Ip4),
            0x86dd => Verdict::Next(Next::Ip6),
            0x0806 => Verdict::Next(Next::Arp),
            0x8863 => Verdict::Next(Next::PppoeDiscovery),
            0x8864 => Verdict::Next(Next::PppoeSession),
            _ => Verdict::Drop(Drop::UnknownEthertype),
        }
    }
}
