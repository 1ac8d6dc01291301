//! Packet I/O backends behind one trait. All `unsafe` of the dataplane lives under this
//! module, each block with a `// SAFETY:` comment (STYLE.md section 9).

pub mod afpacket;
pub mod afxdp;
pub mod claim;
#[cfg(feature = "dpdk")]
pub mod dpdk;
pub mod fanout;
pub mod memory;
mod mmap;
pub mod prefetch;
pub mod shared;
pub(crate) mod sys;
pub mod tpacket;

use crate::buffer::Pool;
use crate::graph::Frame;

/// A packet I/O backend: moves bursts of packets between the wire (or memory) and the
/// worker's frames.
pub trait Backend {
    /// Receives up to the frame's free room of packets into `out`, with buffers from
    /// `pool`; returns how many were added. Never blocks.
    fn rx_burst<'p>(&mut self, pool: &mut Pool<'p>, out: &mut Frame<'p>) -> usize;
    /// Transmits every packet of `frame` (leaving it empty) and returns the buffers to
    /// `pool`; returns how many were sent.
    fn tx_burst<'p>(&mut self, pool: &mut Pool<'p>, frame: &mut Frame<'p>) -> usize;
}
