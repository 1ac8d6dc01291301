//! Walks the real captures in `../shared/corpus/<proto>/` (pcap and pcapng) and hands
//! every frame to a callback, with helpers that peel the link layer, IP and UDP.
//!
//! The corpus lives beside the repository, never in it. When it is missing (a clone
//! outside the workplace) the walk prints why it skips, or fails under `BNG_NO_SKIP=1`.

use std::fs::File;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use pcap_file::pcapng::{Block, PcapNgReader};

/// Environment variable naming the corpus directory (default: `../shared/corpus`
/// beside the workspace root).
pub const CORPUS_ENV: &str = "BNG_CORPUS";

/// The corpus directory, if it exists.
#[must_use]
pub fn dir() -> Option<PathBuf> {
    let d = std::env::var_os(CORPUS_ENV).map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus"),
        PathBuf::from,
    );
    d.is_dir().then_some(d)
}

/// Files of `../shared/corpus/<proto>/` whose names end in one of `exts`, sorted.
/// Returns `None` (after printing the reason, or panicking under `BNG_NO_SKIP`) when
/// the corpus is absent.
#[must_use]
pub fn files(test: &str, proto: &str, exts: &[&str]) -> Option<Vec<PathBuf>> {
    let Some(root) = dir() else {
        crate::skip_or_fail(test, "no ../shared/corpus beside the repository");
        return None;
    };
    let d = root.join(proto);
    let mut v: Vec<PathBuf> = std::fs::read_dir(&d)
        .unwrap_or_else(|e| panic!("{}: {e}", d.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let n = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            exts.iter().any(|x| n.ends_with(x))
        })
        .collect();
    v.sort();
    Some(v)
}

/// Link-layer types (tcpdump.org LINKTYPE_ values) the helpers understand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// LINKTYPE_ETHERNET (1).
    Ethernet,
    /// LINKTYPE_LINUX_SLL (113).
    LinuxSll,
    /// LINKTYPE_LINUX_SLL2 (276).
    LinuxSll2,
    /// LINKTYPE_NULL (0): 4-byte address family in host order.
    Null,
    /// LINKTYPE_RAW (101), IPV4 (228), IPV6 (229).
    RawIp,
    /// LINKTYPE_PPP (9) and PPP_HDLC (50).
    Ppp,
    /// Anything else, with its number.
    Other(u32),
}

impl From<u32> for Link {
    fn from(v: u32) -> Self {
        match v {
            1 => Self::Ethernet,
            113 => Self::LinuxSll,
            276 => Self::LinuxSll2,
            0 => Self::Null,
            12 | 14 | 101 | 228 | 229 => Self::RawIp,
            9 | 50 => Self::Ppp,
            x => Self::Other(x),
        }
    }
}

/// One captured frame.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    /// The capture file.
    pub file: &'a Path,
    /// 1-based frame number, as tcpdump `-#` and tshark count.
    pub number: usize,
    /// The link type of the interface it was captured on.
    pub link: Link,
    /// The captured bytes (possibly truncated by the snap length).
    pub data: &'a [u8],
}

/// VLAN ethertypes: 802.1Q, 802.1ad, and the pre-standard QinQ 0x9100.
const VLAN_TPIDS: [u16; 3] = [0x8100, 0x88a8, 0x9100];

fn be16(b: &[u8], at: usize) -> Option<u16> {
    b.get(at..at + 2).map(|s| u16::from_be_bytes([s[0], s[1]]))
}

/// A UDP datagram peeled out of a frame.
#[derive(Debug, Clone, Copy)]
pub struct Udp<'a> {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Source port.
    pub sport: u16,
    /// Destination port.
    pub dport: u16,
    /// The UDP payload (bounded by the UDP length when it is consistent).
    pub payload: &'a [u8],
}

impl<'a> Frame<'a> {
    /// The Ethernet source MAC, for Ethernet frames.
    #[must_use]
    pub fn src_mac(&self) -> Option<[u8; 6]> {
        (self.link == Link::Ethernet)
            .then(|| self.data.get(6..12)?.try_into().ok())
            .flatten()
    }

    /// The network-layer protocol (an ethertype) and its payload, after the link
    /// header and any number (up to 4) of VLAN tags. PPP links report the PPP
    /// protocol number instead.
    #[must_use]
    pub fn ethertype_payload(&self) -> Option<(u16, &'a [u8])> {
        let d = self.data;
        match self.link {
            Link::Ethernet => {
                let mut at = 12;
                let mut et = be16(d, at)?;
                for _ in 0..4 {
                    if !VLAN_TPIDS.contains(&et) {
                        break;
                    }
                    at += 4;
                    et = be16(d, at)?;
                }
                Some((et, d.get(at + 2..)?))
            }
            Link::LinuxSll => Some((be16(d, 14)?, d.get(16..)?)),
            Link::LinuxSll2 => Some((be16(d, 0)?, d.get(20..)?)),
            Link::Null => {
                let fam = u32::from_le_bytes(d.get(..4)?.try_into().ok()?);
                let fam = if fam > 0xffff { fam.swap_bytes() } else { fam };
                let et = match fam {
                    2 => 0x0800,
                    24 | 28 | 30 => 0x86dd,
                    _ => return None,
                };
                Some((et, d.get(4..)?))
            }
            Link::RawIp => match d.first()? >> 4 {
                4 => Some((0x0800, d)),
                6 => Some((0x86dd, d)),
                _ => None,
            },
            Link::Ppp => {
                let d = if d.starts_with(&[0xff, 0x03]) {
                    d.get(2..)?
                } else {
                    d
                };
                Some((be16(d, 0)?, d.get(2..)?))
            }
            Link::Other(_) => None,
        }
    }

    /// The UDP datagram in this frame (IPv4 first fragments and unfragmented packets,
    /// IPv6 with UDP as the first next header), if there is one.
    #[must_use]
    pub fn udp(&self) -> Option<Udp<'a>> {
        let (et, l3) = self.ethertype_payload()?;
        let (src, dst, l4) = match et {
            0x0800 => {
                let ihl = usize::from(l3.first()? & 0x0f) * 4;
                if l3.first()? >> 4 != 4 || ihl < 20 || *l3.get(9)? != 17 {
                    return None;
                }
                if be16(l3, 6)? & 0x1fff != 0 {
                    return None; // a later fragment has no UDP header
                }
                let total = usize::from(be16(l3, 2)?).clamp(ihl, l3.len());
                let s: [u8; 4] = l3.get(12..16)?.try_into().ok()?;
                let t: [u8; 4] = l3.get(16..20)?.try_into().ok()?;
                (IpAddr::from(s), IpAddr::from(t), l3.get(ihl..total)?)
            }
            0x86dd => {
                if *l3.get(6)? != 17 {
                    return None;
                }
                let s: [u8; 16] = l3.get(8..24)?.try_into().ok()?;
                let t: [u8; 16] = l3.get(24..40)?.try_into().ok()?;
                let plen = usize::from(be16(l3, 4)?);
                let end = (40 + plen).min(l3.len());
                (IpAddr::from(s), IpAddr::from(t), l3.get(40..end)?)
            }
            _ => return None,
        };
        let ulen = usize::from(be16(l4, 4)?);
        let end = if (8..=l4.len()).contains(&ulen) {
            ulen
        } else {
            l4.len()
        };
        Some(Udp {
            src,
            dst,
            sport: be16(l4, 0)?,
            dport: be16(l4, 2)?,
            payload: l4.get(8..end)?,
        })
    }
}

/// What a walk saw.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Capture files read.
    pub files: usize,
    /// Frames handed to the callback.
    pub frames: usize,
}

/// Reads one capture file (pcap or pcapng, by its magic) and calls `f` per frame.
/// A capture that ends mid-record (some corpus files are deliberately cut) stops
/// that file with a printed note. Returns the number of frames.
pub fn read_capture(path: &Path, mut f: impl FnMut(&Frame<'_>)) -> usize {
    let mut magic = [0u8; 4];
    {
        use std::io::Read;
        let mut fh = File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        fh.read_exact(&mut magic)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
    let fh = File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut n = 0;
    if magic == [0x0a, 0x0d, 0x0d, 0x0a] {
        let mut r = PcapNgReader::new(fh).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut links: Vec<Link> = Vec::new();
        while let Some(b) = r.next_block() {
            let b = match b {
                Ok(b) => b,
                Err(e) => {
                    eprintln!("note: {}: stops after {n} frames: {e}", path.display());
                    break;
                }
            };
            let (iface, data) = match b {
                Block::InterfaceDescription(i) => {
                    links.push(Link::from(u32::from(i.linktype)));
                    continue;
                }
                Block::EnhancedPacket(p) => (p.interface_id as usize, p.data),
                Block::SimplePacket(p) => (0, p.data),
                _ => continue,
            };
            n += 1;
            let link = links.get(iface).copied().unwrap_or(Link::Ethernet);
            f(&Frame {
                file: path,
                number: n,
                link,
                data: &data,
            });
        }
    } else {
        let data = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        n = read_classic_pcap(path, &data, &mut f);
    }
    n
}

/// Classic pcap, read by hand: the fuzzer reproducers of the corpus carry records
/// whose captured length exceeds the snap length, which stricter readers refuse.
/// Any record length is accepted up to what the file holds.
fn read_classic_pcap(path: &Path, d: &[u8], f: &mut impl FnMut(&Frame<'_>)) -> usize {
    let Some(magic) = d.get(..4) else { return 0 };
    let le = match magic {
        [0xd4, 0xc3, 0xb2, 0xa1] | [0x4d, 0x3c, 0xb2, 0xa1] => true,
        [0xa1, 0xb2, 0xc3, 0xd4] | [0xa1, 0xb2, 0x3c, 0x4d] => false,
        _ => panic!("{}: not a pcap or pcapng file", path.display()),
    };
    let u32_at = |at: usize| -> Option<u32> {
        let b: [u8; 4] = d.get(at..at + 4)?.try_into().ok()?;
        Some(if le {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        })
    };
    let link = Link::from(u32_at(20).unwrap_or(1) & 0x0fff_ffff);
    let (mut at, mut n) = (24usize, 0usize);
    while let Some(caplen) = u32_at(at + 8) {
        let start = at + 16;
        let Some(data) = d.get(start..start + caplen as usize) else {
            eprintln!(
                "note: {}: record {} is cut short; stops after {n} frames",
                path.display(),
                n + 1
            );
            break;
        };
        n += 1;
        f(&Frame {
            file: path,
            number: n,
            link,
            data,
        });
        at = start + caplen as usize;
    }
    n
}

/// Walks every capture of `../shared/corpus/<proto>/` and calls `f` for each frame.
/// Returns `None` when the corpus is absent (the test then returns; under
/// `BNG_NO_SKIP` it fails instead).
pub fn walk(test: &str, proto: &str, mut f: impl FnMut(&Frame<'_>)) -> Option<Summary> {
    let files = files(test, proto, &[".pcap", ".pcapng", ".cap"])?;
    let mut s = Summary::default();
    for p in &files {
        s.files += 1;
        s.frames += read_capture(p, &mut f);
    }
    assert!(s.files > 0, "{test}: no captures in corpus/{proto}");
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vlan_and_udp_peeling() {
        // Ethernet, 802.1ad + 802.1Q, IPv4/UDP 67->68 with a 2-byte payload
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x88, 0xa8, 0, 10, 0x81, 0x00, 0, 20, 0x08, 0x00]);
        f.extend_from_slice(&[
            0x45, 0, 0, 30, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ]);
        f.extend_from_slice(&[0, 67, 0, 68, 0, 10, 0, 0, 0xab, 0xcd]);
        let fr = Frame {
            file: Path::new("x"),
            number: 1,
            link: Link::Ethernet,
            data: &f,
        };
        let (et, _) = fr.ethertype_payload().unwrap_or_default();
        assert_eq!(et, 0x0800);
        let u = fr.udp().map(|u| (u.sport, u.dport, u.payload.to_vec()));
        assert_eq!(u, Some((67, 68, vec![0xab, 0xcd])));
    }
}
