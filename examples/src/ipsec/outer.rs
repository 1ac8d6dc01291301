//! The outer side of `ipsec-gw`: IKE on UDP 500/4500 and ESP in UDP 4500 (RFC 3948),
//! either through the kernel's UDP sockets or over an `AF_PACKET` socket
//! (`bng_dataplane::backend::afpacket::Socket`) with our own ARP (RFC 826), IPv4 and
//! UDP framing. In `AF_PACKET` mode the interface should carry no kernel address for
//! the gateway's IP (else the kernel answers the same ARP requests and sends ICMP port
//! unreachables for 500/4500).

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::ops::Range;
use std::os::fd::{AsFd as _, AsRawFd as _, RawFd};
use std::time::Duration;

use bng_dataplane::backend::afpacket::Socket;

use crate::net::{ETHERTYPE_IPV4, IPPROTO_UDP, Udp4};

/// IKE's port (RFC 7296 section 2).
pub const IKE_PORT: u16 = 500;
/// The NAT-T port (RFC 3948).
pub const NATT_PORT: u16 = 4500;
const ETHERTYPE_ARP: [u8; 2] = [0x08, 0x06];
const PENDING: usize = 16;

/// A received UDP datagram: its payload sits at `payload` in the caller's buffer.
#[derive(Debug, Clone)]
pub struct Datagram {
    /// The sender.
    pub from: SocketAddr,
    /// The destination port (500 or 4500).
    pub port: u16,
    /// Where the UDP payload is in the buffer.
    pub payload: Range<usize>,
}

/// Frame-level state of the `AF_PACKET` mode.
#[derive(Debug)]
pub struct PacketIo {
    sock: Socket,
    mac: [u8; 6],
    local: Ipv4Addr,
    /// The next hop toward every peer (`None`: each peer is on-link).
    next_hop: Option<Ipv4Addr>,
    /// The next hops in use (one per on-link peer, or the one `next_hop`).
    neighbors: Vec<Neighbor>,
    /// IPv4 fragments dropped (IKE fragmentation, RFC 7383, is the remedy).
    pub fragments: u64,
    /// ARP replies sent.
    pub arp_replies: u64,
}

/// A next hop: its MAC address, learned by ARP or from received frames, and the
/// frames waiting for it.
#[derive(Debug)]
struct Neighbor {
    ip: Ipv4Addr,
    mac: Option<[u8; 6]>,
    arp_sent_at: Option<Duration>,
    pending: Vec<Vec<u8>>,
}

/// Most next hops kept (the oldest unresolved one makes room).
const NEIGHBORS: usize = 64;

/// The outer side.
#[derive(Debug)]
pub enum Outer {
    /// Kernel UDP sockets on 500 and 4500.
    Udp {
        /// UDP 500.
        ike: UdpSocket,
        /// UDP 4500.
        natt: UdpSocket,
    },
    /// `AF_PACKET` with our own ARP/IPv4/UDP.
    Packet(Box<PacketIo>),
}

impl Outer {
    /// Binds UDP 500 and 4500 on `local`.
    ///
    /// # Errors
    /// A message with the OS error.
    pub fn udp(local: IpAddr) -> Result<Self, String> {
        let ike = UdpSocket::bind((local, IKE_PORT))
            .map_err(|e| format!("bind {local}:{IKE_PORT}: {e}"))?;
        let natt = UdpSocket::bind((local, NATT_PORT))
            .map_err(|e| format!("bind {local}:{NATT_PORT}: {e}"))?;
        for s in [&ike, &natt] {
            s.set_nonblocking(true).map_err(|e| e.to_string())?;
        }
        Ok(Self::Udp { ike, natt })
    }

    /// Opens an `AF_PACKET` socket on `iface` and serves `local` there.
    ///
    /// # Errors
    /// A message with the OS error (no `CAP_NET_RAW`, no such interface).
    pub fn packet(
        iface: &str,
        local: Ipv4Addr,
        next_hop: Option<Ipv4Addr>,
    ) -> Result<Self, String> {
        let sock = Socket::open(iface).map_err(|e| format!("AF_PACKET on {iface}: {e}"))?;
        Ok(Self::Packet(Box::new(PacketIo {
            mac: sock.mac(),
            sock,
            local,
            next_hop,
            neighbors: Vec::new(),
            fragments: 0,
            arp_replies: 0,
        })))
    }

    /// The descriptors to poll.
    #[must_use]
    pub fn fds(&self) -> [RawFd; 2] {
        match self {
            Self::Udp { ike, natt } => [ike.as_raw_fd(), natt.as_raw_fd()],
            Self::Packet(p) => {
                let fd = p.sock.as_fd().as_raw_fd();
                [fd, fd]
            }
        }
    }

    /// Whether ESP leaves as whole frames (`AF_PACKET`) rather than UDP payloads.
    #[must_use]
    pub fn is_packet(&self) -> bool {
        matches!(self, Self::Packet(_))
    }

    /// The next datagram for us, if any is waiting (never blocks). ARP is handled here.
    pub fn recv(&mut self, now: Duration, buf: &mut [u8]) -> Option<Datagram> {
        match self {
            Self::Udp { ike, natt } => {
                for (s, port) in [(&*ike, IKE_PORT), (&*natt, NATT_PORT)] {
                    if let Ok((n, from)) = s.recv_from(buf) {
                        return Some(Datagram {
                            from,
                            port,
                            payload: 0..n,
                        });
                    }
                }
                None
            }
            Self::Packet(p) => p.recv(now, buf),
        }
    }

    /// Sends `payload` from our port `src_port` to `to`.
    pub fn send_udp(&mut self, now: Duration, src_port: u16, to: SocketAddr, payload: &[u8]) {
        match self {
            Self::Udp { ike, natt } => {
                let s = if src_port == IKE_PORT { &*ike } else { &*natt };
                if let Err(e) = s.send_to(payload, to) {
                    println!("send to {to}: {e}");
                }
            }
            Self::Packet(p) => {
                let IpAddr::V4(dst) = to.ip() else { return };
                let frame = Udp4 {
                    src_mac: p.mac,
                    dst_mac: [0; 6],
                    src: p.local,
                    dst,
                    src_port,
                    dst_port: to.port(),
                }
                .frame(payload);
                p.send_frame(now, dst, frame);
            }
        }
    }

    /// `AF_PACKET` mode: sends the IPv4 packet at `ip` in `buf` (with at least 14 bytes
    /// of headroom before it) to `dst`, writing the Ethernet header in place. Returns
    /// whether it left (false while the next hop's MAC is unknown).
    pub fn send_ip_in_place(
        &mut self,
        now: Duration,
        dst: Ipv4Addr,
        buf: &mut [u8],
        ip: Range<usize>,
    ) -> bool {
        let Self::Packet(p) = self else { return false };
        let at = p.resolve(now, dst);
        let hop = p.neighbors.get(at).and_then(|n| n.mac);
        let (Some(hop), Some(start)) = (hop, ip.start.checked_sub(14)) else {
            return false;
        };
        let Some(eth) = buf
            .get_mut(start..ip.start)
            .and_then(|e| <&mut [u8; 14]>::try_from(e).ok())
        else {
            return false;
        };
        let [a, b, c, d, e, f] = hop;
        let [g, h, i, j, k, l] = p.mac;
        let [m, n] = ETHERTYPE_IPV4;
        *eth = [a, b, c, d, e, f, g, h, i, j, k, l, m, n];
        buf.get(start..ip.end)
            .is_some_and(|f| p.sock.send(f).is_ok())
    }

    /// Counters of the `AF_PACKET` mode: (fragments dropped, ARP replies sent).
    #[must_use]
    pub fn packet_counters(&self) -> Option<(u64, u64)> {
        match self {
            Self::Packet(p) => Some((p.fragments, p.arp_replies)),
            Self::Udp { .. } => None,
        }
    }
}

impl PacketIo {
    fn hop_for(&self, dst: Ipv4Addr) -> Ipv4Addr {
        self.next_hop.unwrap_or(dst)
    }

    /// The neighbor entry of `hop`, made if new (the oldest entry makes room).
    fn neighbor(&mut self, hop: Ipv4Addr) -> usize {
        if let Some(i) = self.neighbors.iter().position(|n| n.ip == hop) {
            return i;
        }
        if self.neighbors.len() >= NEIGHBORS {
            self.neighbors.remove(0);
        }
        self.neighbors.push(Neighbor {
            ip: hop,
            mac: None,
            arp_sent_at: None,
            pending: Vec::new(),
        });
        self.neighbors.len() - 1
    }

    /// Makes sure the next hop toward `dst` is being resolved (one ARP request a
    /// second); returns its entry.
    fn resolve(&mut self, now: Duration, dst: Ipv4Addr) -> usize {
        let hop = self.hop_for(dst);
        let at = self.neighbor(hop);
        let Some(n) = self.neighbors.get_mut(at) else {
            return at;
        };
        if n.mac.is_some()
            || n.arp_sent_at
                .is_some_and(|t| now < t + Duration::from_secs(1))
        {
            return at;
        }
        n.arp_sent_at = Some(now);
        // RFC 826 request: who has `hop`, tell `local`.
        let mut r = [0u8; 42];
        r[0..6].copy_from_slice(&[0xff; 6]);
        r[6..12].copy_from_slice(&self.mac);
        r[12..14].copy_from_slice(&ETHERTYPE_ARP);
        r[14..22].copy_from_slice(&[0, 1, 0x08, 0, 6, 4, 0, 1]);
        r[22..28].copy_from_slice(&self.mac);
        r[28..32].copy_from_slice(&self.local.octets());
        r[38..42].copy_from_slice(&hop.octets());
        let _ = self.sock.send(&r);
        at
    }

    fn send_frame(&mut self, now: Duration, dst: Ipv4Addr, mut frame: Vec<u8>) {
        let at = self.resolve(now, dst);
        let Some(n) = self.neighbors.get_mut(at) else {
            return;
        };
        match n.mac {
            Some(m) => {
                if let Some(d) = frame.get_mut(..6) {
                    d.copy_from_slice(&m);
                }
                let _ = self.sock.send(&frame);
            }
            None if n.pending.len() < PENDING => n.pending.push(frame),
            None => {}
        }
    }

    /// `hop` is at `mac`: remembered (when `hop` is a next hop in use, or `make`) and
    /// the frames waiting for it sent.
    fn learned(&mut self, hop: Ipv4Addr, mac: [u8; 6], make: bool) {
        let at = match self.neighbors.iter().position(|n| n.ip == hop) {
            Some(i) => i,
            None if make => self.neighbor(hop),
            None => return,
        };
        let Some(n) = self.neighbors.get_mut(at) else {
            return;
        };
        if n.mac == Some(mac) {
            return;
        }
        n.mac = Some(mac);
        for mut f in std::mem::take(&mut n.pending) {
            if let Some(d) = f.get_mut(..6) {
                d.copy_from_slice(&mac);
            }
            let _ = self.sock.send(&f);
        }
    }

    /// ARP (RFC 826): answers requests for our address, learns the next hop's MAC.
    fn arp(&mut self, f: &[u8]) {
        let (Some(op), Some(sha), Some(spa), Some(tpa)) = (
            f.get(20..22),
            f.get(22..28).and_then(|m| <[u8; 6]>::try_from(m).ok()),
            f.get(28..32).and_then(|a| <[u8; 4]>::try_from(a).ok()),
            f.get(38..42),
        ) else {
            return;
        };
        if f.get(14..20) != Some(&[0, 1, 0x08, 0, 6, 4][..]) {
            return;
        }
        self.learned(Ipv4Addr::from(spa), sha, false);
        if op == [0, 1] && tpa == self.local.octets() {
            let mut r = [0u8; 42];
            r[0..6].copy_from_slice(&sha);
            r[6..12].copy_from_slice(&self.mac);
            r[12..14].copy_from_slice(&ETHERTYPE_ARP);
            r[14..22].copy_from_slice(&[0, 1, 0x08, 0, 6, 4, 0, 2]);
            r[22..28].copy_from_slice(&self.mac);
            r[28..32].copy_from_slice(&self.local.octets());
            r[32..38].copy_from_slice(&sha);
            r[38..42].copy_from_slice(&spa);
            if self.sock.send(&r).is_ok() {
                self.arp_replies += 1;
            }
        }
    }

    fn recv(&mut self, _now: Duration, buf: &mut [u8]) -> Option<Datagram> {
        loop {
            let n = self.sock.recv(buf, Duration::ZERO).ok().flatten()?;
            let f = buf.get(..n)?;
            if f.get(6..12) == Some(&self.mac[..]) {
                continue;
            }
            match f.get(12..14) {
                Some(t) if t == ETHERTYPE_ARP => {
                    let f = f.to_vec();
                    self.arp(&f);
                    continue;
                }
                Some(t) if t == ETHERTYPE_IPV4 => {}
                _ => continue,
            }
            let ip = f.get(14..)?;
            let vihl = *ip.first()?;
            let ihl = usize::from(vihl & 0x0f) * 4;
            if vihl >> 4 != 4 || ihl < 20 || ip.get(9) != Some(&IPPROTO_UDP) {
                continue;
            }
            if ip.get(16..20) != Some(&self.local.octets()[..]) {
                continue;
            }
            let be16 = |b: &[u8], at: usize| {
                b.get(at..at + 2)
                    .and_then(|x| x.first_chunk::<2>())
                    .map(|x| u16::from_be_bytes(*x))
            };
            let flags = be16(ip, 6)?;
            if flags & 0x3fff != 0 {
                // MF set or a non-zero offset: we do not reassemble (RFC 7383 avoids it).
                self.fragments += 1;
                continue;
            }
            let total = usize::from(be16(ip, 2)?).min(ip.len());
            let udp = ip.get(ihl..total)?;
            let dport = be16(udp, 2)?;
            if dport != IKE_PORT && dport != NATT_PORT {
                continue;
            }
            let ulen = usize::from(be16(udp, 4)?).clamp(8, udp.len());
            let src: [u8; 4] = ip.get(12..16)?.try_into().ok()?;
            let src = Ipv4Addr::from(src);
            let sport = be16(udp, 0)?;
            // The peer's frames come through its next hop: learn that one's MAC.
            if let Some(m) = f.get(6..12).and_then(|m| <[u8; 6]>::try_from(m).ok()) {
                let hop = self.hop_for(src);
                self.learned(hop, m, true);
            }
            let start = 14 + ihl + 8;
            return Some(Datagram {
                from: SocketAddr::new(IpAddr::V4(src), sport),
                port: dport,
                payload: start..14 + ihl + ulen,
            });
        }
    }
}
