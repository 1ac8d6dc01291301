//! `arp-input`: answers ARP requests (RFC 826) for our own addresses on the interface
//! they arrive on, rewriting the request into the reply in place; anything else is
//! dropped and counted. (Resolving neighbours ourselves is the control plane's job.)

use std::net::Ipv4Addr;

use crate::buffer::Pkt;
use crate::graph::{Node, Verdict};

crate::label! {
    /// Edges of `arp-input`.
    pub enum Next {
        /// The reply, to `interface-output` on the receiving interface.
        Output => "interface-output",
    }
}

crate::label! {
    /// Drop reasons of `arp-input`.
    pub enum Drop {
        /// Not Ethernet/IPv4 ARP, or too short.
        Malformed => "malformed",
        /// A reply, or a request for an address that is not ours.
        NotForUs => "not-for-us",
    }
}

/// One interface's identity for ARP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArpInterface {
    /// Our MAC on this interface.
    pub mac: [u8; 6],
    /// Our IPv4 address on this interface.
    pub addr: Ipv4Addr,
}

/// The `arp-input` node.
#[derive(Debug, Default)]
pub struct ArpInput {
    /// Per interface (indexed by `meta.rx_if`).
    pub interfaces: Vec<ArpInterface>,
}

impl Node for ArpInput {
    type Next = Next;
    type Drop = Drop;
    const NAME: &'static str = "arp-input";

    #[inline]
    fn packet(&mut self, pkt: &mut Pkt<'_>) -> Verdict<Next, Drop> {
        let rx = pkt.meta.rx_if;
        let Some(me) = self.interfaces.get(usize::from(rx)).copied() else {
            return Verdict::Drop(Drop::NotForUs);
        };
        let l3 = usize::from(pkt.meta.l3_offset);
        // the reply is written in place: the Ethernet addresses, and the ARP payload at
        // `l3`; any VLAN tags in between stay, so the reply goes back on the VLAN the
        // request came from
        let Some((eth, arp)) = pkt.data_mut().split_at_mut_checked(l3) else {
            return Verdict::Drop(Drop::Malformed);
        };
        let Some(a) = arp.first_chunk_mut::<28>() else {
            return Verdict::Drop(Drop::Malformed);
        };
        // htype 1 (Ethernet), ptype 0x0800, hlen 6, plen 4
        if a[..6] != [0, 1, 8, 0, 6, 4] {
            return Verdict::Drop(Drop::Malformed);
        }
        if a[6..8] != [0, 1] || a[24..28] != me.addr.octets() {
            return Verdict::Drop(Drop::NotForUs);
        }
        let (sha, spa) = (
            <[u8; 6]>::try_from(&a[8..14]).unwrap_or_default(),
            [a[14], a[15], a[16], a[17]],
        );
        a[7] = 2; // reply
        a[8..14].copy_from_slice(&me.mac);
        a[14..18].copy_from_slice(&me.addr.octets());
        a[18..24].copy_from_slice(&sha);
        a[24..28].copy_from_slice(&spa);
        let Some(e) = eth.first_chunk_mut::<12>() else {
            return Verdict::Drop(Drop::Malformed);
        };
        e[..6].copy_from_slice(&sha);
        e[6..12].copy_from_slice(&me.mac);
        let _ = pkt.set_len(l3 + 28);
        pkt.meta.tx_if = rx;
        Verdict::Next(Next::Output)
    }
}
