//! The memory backend: frames come from a queue (filled by the caller or from a pcap
//! file) and what the graph transmits is kept, and can be written to a pcap file.
//! Every test and every bench of the dataplane runs over it.

use std::collections::VecDeque;
use std::fs::File;
use std::io;
use std::path::Path;
use std::time::Duration;

use pcap_file::DataLink;
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapReader, PcapWriter};

use super::Backend;
use crate::buffer::Pool;
use crate::graph::{FRAME_SIZE, Frame};

/// A backend in memory.
#[derive(Debug, Default)]
pub struct Memory {
    rx: VecDeque<Vec<u8>>,
    tx: Vec<Vec<u8>>,
    /// Frames that could not be received because the pool was empty.
    pub rx_no_buffer: u64,
}

impl Memory {
    /// An empty backend.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Queues one frame for reception.
    pub fn push_rx(&mut self, frame: &[u8]) {
        self.rx.push_back(frame.to_vec());
    }

    /// Queues every frame of a classic pcap file for reception.
    ///
    /// # Errors
    /// I/O or format errors of the file.
    pub fn load_pcap(&mut self, path: &Path) -> io::Result<usize> {
        let mut r = PcapReader::new(File::open(path)?).map_err(io::Error::other)?;
        let mut n = 0;
        while let Some(p) = r.next_packet() {
            let p = p.map_err(io::Error::other)?;
            self.rx.push_back(p.data.into_owned());
            n += 1;
        }
        Ok(n)
    }

    /// Frames still waiting to be received.
    #[must_use]
    pub fn rx_pending(&self) -> usize {
        self.rx.len()
    }

    /// The frames transmitted so far.
    #[must_use]
    pub fn transmitted(&self) -> &[Vec<u8>] {
        &self.tx
    }

    /// Takes the frames transmitted so far.
    pub fn take_transmitted(&mut self) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.tx)
    }

    /// Writes the transmitted frames to a pcap file (Ethernet link type).
    ///
    /// # Errors
    /// I/O errors.
    pub fn write_pcap(&self, path: &Path) -> io::Result<()> {
        let header = PcapHeader {
            datalink: DataLink::ETHERNET,
            ..PcapHeader::default()
        };
        let mut w =
            PcapWriter::with_header(File::create(path)?, header).map_err(io::Error::other)?;
        for (i, f) in self.tx.iter().enumerate() {
            let ts = Duration::from_micros(i as u64);
            w.write_packet(&PcapPacket::new(
                ts,
                u32::try_from(f.len()).unwrap_or(u32::MAX),
                f,
            ))
            .map_err(io::Error::other)?;
        }
        Ok(())
    }
}

impl Backend for Memory {
    fn rx_burst<'p>(&mut self, pool: &mut Pool<'p>, out: &mut Frame<'p>) -> usize {
        let mut n = 0;
        while out.len() < FRAME_SIZE {
            let Some(f) = self.rx.front() else { break };
            let Some(p) = pool.alloc_from(f) else {
                self.rx_no_buffer += 1;
                break;
            };
            self.rx.pop_front();
            out.push(p);
            n += 1;
        }
        n
    }

    fn tx_burst<'p>(&mut self, pool: &mut Pool<'p>, frame: &mut Frame<'p>) -> usize {
        let n = frame.len();
        for p in frame.drain(..) {
            self.tx.push(p.data().to_vec());
            pool.free(p);
        }
        n
    }
}
