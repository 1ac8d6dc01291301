//! A static graph for IPv4 forwarding between ports, the first composition of the nodes:
//!
//! ```text
//! rx -> ethernet-input -+-> ip4 -> ip4-lookup -> ip4-rewrite -> interface-output -> tx[port]
//!                       +-> arp -> arp-input -------------------^
//!                       +-> pppoe-*, ip6 and ip4 local: dropped (counted) until their nodes exist
//! ```
//!
//! One `Router` per worker; it owns its nodes, their counters and the intermediate
//! frames (allocated once), so processing a frame allocates nothing.

#![allow(
    clippy::indexing_slicing,
    reason = "output frame vectors have one entry per edge (Label::COUNT), so an edge index is always in bounds"
)]

use std::net::Ipv4Addr;

use crate::buffer::Pool;
use crate::fib::Fib;
use crate::graph::{Counters, Frame, Label, Node, Trace, new_frame, run};
use crate::nodes::arp::{self, ArpInput, ArpInterface};
use crate::nodes::ethernet::{self, EthernetInput};
use crate::nodes::ip4::{self, Adjacency, Ip4Lookup, Ip4Rewrite};

/// One port of the router.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Port {
    /// The port's MAC address.
    pub mac: [u8; 6],
    /// Our IPv4 address on the port (answered for ARP).
    pub addr: Ipv4Addr,
}

fn frames<'p, N: Node>() -> Vec<Frame<'p>> {
    (0..N::Next::COUNT).map(|_| new_frame()).collect()
}

/// The IPv4 forwarding graph of one worker.
#[derive(Debug)]
pub struct Router<'p> {
    ports: Vec<Port>,
    eth: EthernetInput,
    arp: ArpInput,
    lookup: Ip4Lookup,
    rewrite: Ip4Rewrite,
    /// Counters per node: ethernet-input, arp-input, ip4-lookup, ip4-rewrite.
    pub counters: [Counters; 4],
    /// Packets the graph dropped because no node handles them yet (IPv6, PPPoE, local).
    pub unhandled: u64,
    /// The packet trace (off unless created with a capacity).
    pub trace: Trace,
    eth_out: Vec<Frame<'p>>,
    arp_out: Vec<Frame<'p>>,
    lookup_out: Vec<Frame<'p>>,
    rewrite_out: Vec<Frame<'p>>,
}

impl<'p> Router<'p> {
    /// A router over `ports` (index = port number) with an empty FIB.
    #[must_use]
    pub fn new(ports: &[Port], trace: usize) -> Self {
        Self {
            ports: ports.to_vec(),
            eth: EthernetInput {
                macs: ports.iter().map(|p| p.mac).collect(),
                promiscuous: false,
            },
            arp: ArpInput {
                interfaces: ports
                    .iter()
                    .map(|p| ArpInterface {
                        mac: p.mac,
                        addr: p.addr,
                    })
                    .collect(),
            },
            lookup: Ip4Lookup {
                fib: Fib::new(),
                local: ports.iter().map(|p| p.addr).collect(),
                icmp: false,
            },
            rewrite: Ip4Rewrite::default(),
            counters: [
                Counters::for_node::<EthernetInput>(),
                Counters::for_node::<ArpInput>(),
                Counters::for_node::<Ip4Lookup>(),
                Counters::for_node::<Ip4Rewrite>(),
            ],
            unhandled: 0,
            trace: Trace::new(trace),
            eth_out: frames::<EthernetInput>(),
            arp_out: frames::<ArpInput>(),
            lookup_out: frames::<Ip4Lookup>(),
            rewrite_out: frames::<Ip4Rewrite>(),
        }
    }

    /// Routes `prefix/len` out of `port` to the neighbour `next_hop_mac`.
    ///
    /// # Errors
    /// An unknown port, or a bad prefix length.
    pub fn add_route(
        &mut self,
        prefix: Ipv4Addr,
        len: u8,
        port: u16,
        next_hop_mac: [u8; 6],
    ) -> Result<(), &'static str> {
        let src = self.ports.get(usize::from(port)).ok_or("no such port")?.mac;
        let adj = Adjacency {
            tx_if: port,
            dst_mac: next_hop_mac,
            src_mac: src,
        };
        let idx = self
            .rewrite
            .adjacencies
            .iter()
            .position(|a| *a == adj)
            .unwrap_or_else(|| {
                self.rewrite.adjacencies.push(adj);
                self.rewrite.adjacencies.len() - 1
            });
        self.lookup.fib.insert(
            prefix,
            len,
            u32::try_from(idx).map_err(|_| "too many adjacencies")?,
        )
    }

    /// Runs one received frame through the graph; packets to transmit are appended to
    /// `tx[port]` (one frame per port), everything else goes back to `pool`.
    pub fn process(&mut self, rx: &mut Frame<'p>, pool: &mut Pool<'p>, tx: &mut [Frame<'p>]) {
        let [ce, ca, cl, cr] = &mut self.counters;
        run(
            &mut self.eth,
            rx,
            &mut self.eth_out,
            pool,
            ce,
            &mut self.trace,
        );
        let mut arp_in = core::mem::take(&mut self.eth_out[ethernet::Next::Arp as usize]);
        run(
            &mut self.arp,
            &mut arp_in,
            &mut self.arp_out,
            pool,
            ca,
            &mut self.trace,
        );
        self.eth_out[ethernet::Next::Arp as usize] = arp_in;
        let mut ip_in = core::mem::take(&mut self.eth_out[ethernet::Next::Ip4 as usize]);
        run(
            &mut self.lookup,
            &mut ip_in,
            &mut self.lookup_out,
            pool,
            cl,
            &mut self.trace,
        );
        self.eth_out[ethernet::Next::Ip4 as usize] = ip_in;
        let mut rw_in = core::mem::take(&mut self.lookup_out[ip4::LookupNext::Rewrite as usize]);
        run(
            &mut self.rewrite,
            &mut rw_in,
            &mut self.rewrite_out,
            pool,
            cr,
            &mut self.trace,
        );
        self.lookup_out[ip4::LookupNext::Rewrite as usize] = rw_in;
        // interface-output: by the port each packet was given
        for out in [
            &mut self.arp_out[arp::Next::Output as usize],
            &mut self.rewrite_out[ip4::RewriteNext::Output as usize],
        ] {
            for p in out.drain(..) {
                match tx.get_mut(usize::from(p.meta.tx_if)) {
                    Some(f) => f.push(p),
                    None => pool.free(p),
                }
            }
        }
        // edges whose nodes do not exist yet
        for f in self.eth_out.iter_mut().chain(self.lookup_out.iter_mut()) {
            self.unhandled += f.len() as u64;
            pool.free_all(f);
        }
    }

    /// Counter rows of every node, as `(node, counter, value)`.
    #[must_use]
    pub fn counter_rows(&self) -> Vec<(&'static str, String, u64)> {
        let mut v = Vec::new();
        let [ce, ca, cl, cr] = &self.counters;
        for (name, rows) in [
            (EthernetInput::NAME, ce.rows::<EthernetInput>()),
            (ArpInput::NAME, ca.rows::<ArpInput>()),
            (Ip4Lookup::NAME, cl.rows::<Ip4Lookup>()),
            (Ip4Rewrite::NAME, cr.rows::<Ip4Rewrite>()),
        ] {
            v.extend(rows.into_iter().map(|(k, c)| (name, k, c)));
        }
        v.push(("graph", "unhandled".to_owned(), self.unhandled));
        v
    }
}
