//! The Child SAs of `ipsec-gw` as `bng-esp` SAs: the keys `bng-ikev2` negotiated
//! installed into an [`Inbound`]/[`Outbound`] pair, the traffic-selector checks of
//! RFC 4301 section 5 on both directions, and make-before-break rekeying (RFC 7296
//! section 2.8): a rekeyed pair keeps decapsulating for a grace period after its
//! successor takes over, so packets in flight on the old SA are not lost.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use bng_esp::crypto::{Aes128CbcHmacSha256, Aes256CbcHmacSha256, CryptoError, Transform};
// `ring` AES-GCM (bng-esp's `ring` feature, which bng-dataplane turns on for this crate).
use bng_esp::ring::{Aes128GcmEsp, Aes256GcmEsp};
use bng_esp::sa::{Config, Inbound, Limits, Mode, Outbound, Tunnel, UdpEncap};
use bng_esp::wire::Spi;
use bng_ikev2::exchange::{ChildSa, ChildSuite, DirectionKeys};
use bng_ikev2::payload::{AddrRange, TrafficSelector};
use bng_ikev2::types::{EncrId, EsnId, IntegId};

/// The ESP transforms `ipsec-gw` serves: AES-GCM from `ring`, AES-CBC + HMAC from the
/// `RustCrypto` crates (both providers of `bng-esp`).
#[derive(Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "one per SA direction, built once, never moved per packet"
)]
pub enum Cipher {
    /// AES-128-GCM-16 (RFC 4106).
    Gcm128(Aes128GcmEsp),
    /// AES-256-GCM-16 (RFC 4106).
    Gcm256(Aes256GcmEsp),
    /// AES-128-CBC + HMAC-SHA-256-128 (RFC 3602, RFC 4868).
    Cbc128(Aes128CbcHmacSha256),
    /// AES-256-CBC + HMAC-SHA-256-128 (RFC 3602, RFC 4868).
    Cbc256(Aes256CbcHmacSha256),
}

impl Cipher {
    /// The transform for `suite` keyed with `keys` (RFC 7296 section 2.17 KEYMAT:
    /// the encryption key, with the 4-byte salt for GCM, then the integrity key).
    ///
    /// # Errors
    /// A message for a suite or key length `bng-esp` does not serve.
    pub fn new(suite: &ChildSuite, keys: &DirectionKeys) -> Result<Self, String> {
        let e = keys.encr.as_bytes();
        let i = keys.integ.as_bytes();
        let r = match (suite.encr, suite.key_bits, suite.integ) {
            (EncrId::AES_GCM_16, 128, _) => Aes128GcmEsp::from_keymat(e).map(Self::Gcm128),
            (EncrId::AES_GCM_16, 256, _) => Aes256GcmEsp::from_keymat(e).map(Self::Gcm256),
            (EncrId::AES_CBC, 128, IntegId::HMAC_SHA2_256_128) => {
                Aes128CbcHmacSha256::new(e, i).map(Self::Cbc128)
            }
            (EncrId::AES_CBC, 256, IntegId::HMAC_SHA2_256_128) => {
                Aes256CbcHmacSha256::new(e, i).map(Self::Cbc256)
            }
            _ => return Err(format!("ESP suite {suite:?} is not served")),
        };
        r.map_err(|e| format!("ESP keys: {e}"))
    }

    fn t(&self) -> &dyn Transform {
        match self {
            Self::Gcm128(t) => t,
            Self::Gcm256(t) => t,
            Self::Cbc128(t) => t,
            Self::Cbc256(t) => t,
        }
    }
}

impl Transform for Cipher {
    fn iv_len(&self) -> usize {
        self.t().iv_len()
    }
    fn icv_len(&self) -> usize {
        self.t().icv_len()
    }
    fn block_len(&self) -> usize {
        self.t().block_len()
    }
    fn random_iv(&self) -> bool {
        self.t().random_iv()
    }
    fn seal(
        &self,
        header: &[u8; 8],
        seq_hi: Option<u32>,
        iv: &[u8],
        payload: &mut [u8],
        icv: &mut [u8],
    ) -> Result<(), CryptoError> {
        self.t().seal(header, seq_hi, iv, payload, icv)
    }
    fn open(
        &self,
        header: &[u8; 8],
        seq_hi: Option<u32>,
        iv: &[u8],
        payload_icv: &mut [u8],
    ) -> Result<(), CryptoError> {
        self.t().open(header, seq_hi, iv, payload_icv)
    }
}

/// What an IP packet offers to a selector check: addresses, protocol, ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flow {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// IP protocol (IPv6: the Next Header of the fixed header).
    pub proto: u8,
    /// Source and destination port (TCP/UDP/SCTP), else `None`.
    pub ports: Option<(u16, u16)>,
}

fn ports_at(p: &[u8], at: usize, proto: u8) -> Option<(u16, u16)> {
    match proto {
        6 | 17 | 132 => p
            .get(at..at + 4)
            .and_then(|x| x.first_chunk::<4>())
            .map(|&[a, b, c, d]| (u16::from_be_bytes([a, b]), u16::from_be_bytes([c, d]))),
        _ => None,
    }
}

impl Flow {
    /// Reads an IPv4 or IPv6 packet; `None` for anything else or a truncated header.
    #[must_use]
    pub fn parse(p: &[u8]) -> Option<Self> {
        let vihl = *p.first()?;
        if vihl >> 4 == 6 {
            // RFC 8200 section 3: the fixed 40-byte header. Ports are read only when
            // the transport header follows it directly (no extension headers).
            let a = |at: usize| -> Option<IpAddr> {
                let b: [u8; 16] = p.get(at..at + 16)?.try_into().ok()?;
                Some(IpAddr::V6(Ipv6Addr::from(b)))
            };
            let proto = *p.get(6)?;
            return Some(Self {
                src: a(8)?,
                dst: a(24)?,
                proto,
                ports: ports_at(p, 40, proto),
            });
        }
        let ihl = usize::from(vihl & 0x0f) * 4;
        if vihl >> 4 != 4 || ihl < 20 {
            return None;
        }
        let a = |at: usize| -> Option<IpAddr> {
            let b: [u8; 4] = p.get(at..at + 4)?.try_into().ok()?;
            Some(IpAddr::V4(Ipv4Addr::from(b)))
        };
        let proto = *p.get(9)?;
        // Only the first fragment carries the ports (RFC 4301 section 7).
        // (fragment offset, the low 13 bits of flags+offset, is zero).
        let first_fragment = p
            .get(6..8)
            .and_then(|f| f.first_chunk::<2>())
            .is_some_and(|f| u16::from_be_bytes(*f).trailing_zeros() >= 13);
        Some(Self {
            src: a(12)?,
            dst: a(16)?,
            proto,
            ports: ports_at(p, ihl, proto).filter(|_| first_fragment),
        })
    }

    /// Is it an IPv6 packet?
    #[must_use]
    pub const fn is_v6(&self) -> bool {
        self.src.is_ipv6()
    }
}

/// The length of the IP packet at the start of `p` from its header (IPv4 Total
/// Length, IPv6 Payload Length + 40), at most `p.len()`: what is left after ESP's
/// padding is removed from a decapsulated tunnel packet.
#[must_use]
pub fn ip_len(p: &[u8]) -> usize {
    let be16 = |at: usize| {
        p.get(at..at + 2)
            .and_then(|l| l.first_chunk::<2>())
            .map_or(0, |l| usize::from(u16::from_be_bytes(*l)))
    };
    let n = match p.first().map(|v| v >> 4) {
        Some(4) => be16(2),
        Some(6) => be16(4) + 40,
        _ => p.len(),
    };
    n.min(p.len())
}

/// Does `addr` (with `proto` and `port`) fall inside `ts` (RFC 4301 section 4.4.1.1)?
#[must_use]
pub fn selector_matches(ts: &TrafficSelector, addr: IpAddr, proto: u8, port: Option<u16>) -> bool {
    let inside = match (ts.range, addr) {
        (AddrRange::V4 { start, end }, IpAddr::V4(a)) => {
            (u32::from_be_bytes(start)..=u32::from_be_bytes(end)).contains(&u32::from(a))
        }
        (AddrRange::V6 { start, end }, IpAddr::V6(a)) => {
            (u128::from_be_bytes(start)..=u128::from_be_bytes(end)).contains(&u128::from(a))
        }
        _ => false,
    };
    if !inside {
        return false;
    }
    if ts.ip_protocol != 0 && ts.ip_protocol != proto {
        return false;
    }
    if (ts.start_port, ts.end_port) == (0, 0xffff) {
        return true;
    }
    port.is_some_and(|p| (ts.start_port..=ts.end_port).contains(&p))
}

/// A selector as `first-last`.
#[must_use]
pub fn ts_text(ts: &TrafficSelector) -> String {
    match ts.range {
        AddrRange::V4 { start, end } => {
            format!("{}-{}", Ipv4Addr::from(start), Ipv4Addr::from(end))
        }
        AddrRange::V6 { start, end } => {
            format!("{}-{}", Ipv6Addr::from(start), Ipv6Addr::from(end))
        }
    }
}

/// One installed Child SA: both directions.
#[derive(Debug)]
pub struct Pair {
    /// The IKE SA family it belongs to (kept across IKE SA rekeys).
    pub lineage: u64,
    /// Our SPI (what we receive).
    pub inbound_spi: u32,
    /// The peer's SPI (what we send).
    pub outbound_spi: u32,
    /// Decapsulation.
    pub inbound: Inbound<Cipher>,
    /// Encapsulation.
    pub outbound: Outbound<Cipher>,
    /// Our selector.
    pub local_ts: TrafficSelector,
    /// The peer's selector.
    pub remote_ts: TrafficSelector,
    /// Outbound traffic moves to this pair from then on.
    pub send_from: Duration,
    /// Replaced by a rekey: decapsulation only, until then.
    pub retire_at: Option<Duration>,
    /// When we rekey it (`None`: never, or already under way).
    pub rekey_at: Option<Duration>,
}

/// What [`Sas::install`] needs besides the Child SA.
#[derive(Debug, Clone, Copy)]
pub struct InstallParams {
    /// The owning IKE SA family.
    pub lineage: u64,
    /// Our tunnel endpoint.
    pub local: IpAddr,
    /// The peer's tunnel endpoint (of `local`'s family).
    pub remote: IpAddr,
    /// Now.
    pub now: Duration,
    /// Hard lifetime.
    pub life_time: Option<Duration>,
    /// Rekey after this long.
    pub rekey_time: Option<Duration>,
    /// RFC 3948 ports for [`Outbound::encap`] (whole outer packets); `None` when the
    /// caller sends [`Outbound::encap_esp`] output through a UDP socket.
    pub udp_encap: Option<UdpEncap>,
    /// We started the `CREATE_CHILD_SA` exchange (the peer installed both directions
    /// before answering, so we send on the new SA at once); as the responder of a
    /// rekey we wait `switch_delay`, until the initiator surely has the response.
    pub we_initiated: bool,
}

/// All Child SAs.
#[derive(Debug, Default)]
pub struct Sas {
    /// Installed pairs, oldest first.
    pub pairs: Vec<Pair>,
}

/// How long a rekeyed pair keeps decapsulating.
pub const GRACE: Duration = Duration::from_secs(10);
/// How long the responder of a Child SA rekey keeps sending on the old SA.
pub const SWITCH_DELAY: Duration = Duration::from_millis(300);

fn spi_u32(b: [u8; 4]) -> u32 {
    u32::from_be_bytes(b)
}

impl Sas {
    /// Installs `c`. A rekey (`c.replaces`) retires the old pair after [`GRACE`].
    /// Returns the SPI of the pair it replaces.
    ///
    /// # Errors
    /// A message when the suite or keys cannot be served.
    pub fn install(&mut self, c: &ChildSa, p: InstallParams) -> Result<Option<u32>, String> {
        let mode = Mode::Tunnel(match (p.local, p.remote) {
            (IpAddr::V4(l), IpAddr::V4(r)) => Tunnel::V4 {
                src: l.octets(),
                dst: r.octets(),
            },
            (IpAddr::V6(l), IpAddr::V6(r)) => Tunnel::V6 {
                src: l.octets(),
                dst: r.octets(),
            },
            _ => return Err("tunnel endpoints of two address families".to_owned()),
        });
        let lifetime = |spi: u32| {
            let mut cfg = Config::new(Spi(spi), mode);
            cfg.esn = c.suite.esn == EsnId::YES;
            cfg.udp_encap = p.udp_encap;
            cfg.lifetime.hard = Limits {
                time: p.life_time,
                ..Limits::default()
            };
            cfg
        };
        let (ispi, ospi) = (spi_u32(c.inbound_spi), spi_u32(c.outbound_spi));
        let inbound = Inbound::new(lifetime(ispi), Cipher::new(&c.suite, &c.inbound)?, p.now)
            .map_err(|e| format!("inbound SA: {e}"))?;
        let outbound = Outbound::new(lifetime(ospi), Cipher::new(&c.suite, &c.outbound)?, p.now)
            .map_err(|e| format!("outbound SA: {e}"))?;
        let mut replaced = None;
        let mut send_from = p.now;
        if let Some(r) = c.replaces.map(spi_u32) {
            if let Some(old) = self
                .pairs
                .iter_mut()
                .find(|o| o.inbound_spi == r || o.outbound_spi == r)
            {
                old.retire_at = Some(p.now + GRACE);
                old.rekey_at = None;
                replaced = Some(old.inbound_spi);
            }
            if !p.we_initiated {
                send_from = p.now + SWITCH_DELAY;
            }
        }
        self.pairs.push(Pair {
            lineage: p.lineage,
            inbound_spi: ispi,
            outbound_spi: ospi,
            inbound,
            outbound,
            local_ts: c.local_ts,
            remote_ts: c.remote_ts,
            send_from,
            retire_at: None,
            rekey_at: p.rekey_time.map(|t| p.now + t),
        });
        Ok(replaced)
    }

    /// The pair to send `f` on: the newest live one whose selectors cover it.
    pub fn outbound_for(&mut self, now: Duration, f: &Flow) -> Option<&mut Pair> {
        let (sp, dp) = f.ports.unzip();
        self.pairs.iter_mut().rev().find(|p| {
            p.send_from <= now
                && selector_matches(&p.local_ts, f.src, f.proto, sp)
                && selector_matches(&p.remote_ts, f.dst, f.proto, dp)
        })
    }

    /// The pair that receives on `spi`.
    pub fn inbound(&mut self, spi: u32) -> Option<&mut Pair> {
        self.pairs.iter_mut().find(|p| p.inbound_spi == spi)
    }

    /// Removes pairs whose grace period is over; returns their inbound SPIs.
    pub fn expire(&mut self, now: Duration) -> Vec<u32> {
        let gone: Vec<u32> = self
            .pairs
            .iter()
            .filter(|p| p.retire_at.is_some_and(|t| t <= now))
            .map(|p| p.inbound_spi)
            .collect();
        self.pairs.retain(|p| p.retire_at.is_none_or(|t| t > now));
        gone
    }

    /// Removes every pair of `lineage` (its IKE SA is gone); returns their inbound SPIs.
    pub fn remove_lineage(&mut self, lineage: u64) -> Vec<u32> {
        let gone: Vec<u32> = self
            .pairs
            .iter()
            .filter(|p| p.lineage == lineage)
            .map(|p| p.inbound_spi)
            .collect();
        self.pairs.retain(|p| p.lineage != lineage);
        gone
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests")]

    use super::*;

    fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(a, b, c, d))
    }

    #[test]
    fn ipv6_flows_and_selectors() {
        let mut p = [0u8; 48];
        p[0] = 0x60;
        p[4..6].copy_from_slice(&8u16.to_be_bytes());
        p[6] = 17;
        p[8..24].copy_from_slice(&"fd01::2".parse::<Ipv6Addr>().unwrap().octets());
        p[24..40].copy_from_slice(&"fd02::2".parse::<Ipv6Addr>().unwrap().octets());
        p[40..44].copy_from_slice(&[0x13, 0x88, 0, 53]);
        let f = Flow::parse(&p).unwrap();
        assert!(f.is_v6());
        assert_eq!(f.ports, Some((5000, 53)));
        assert_eq!(ip_len(&p), 48);
        assert_eq!(ip_len(&[p.as_slice(), &[0u8; 6]].concat()), 48);
        let net = TrafficSelector {
            ip_protocol: 0,
            start_port: 0,
            end_port: 0xffff,
            range: AddrRange::V6 {
                start: "fd02::".parse::<Ipv6Addr>().unwrap().octets(),
                end: "fd02::ffff:ffff:ffff:ffff"
                    .parse::<Ipv6Addr>()
                    .unwrap()
                    .octets(),
            },
        };
        assert!(selector_matches(&net, f.dst, f.proto, Some(53)));
        assert!(!selector_matches(&net, f.src, f.proto, Some(53)));
        assert!(!selector_matches(&net, v4(10, 1, 0, 9), 1, None));
        assert_eq!(ts_text(&net), "fd02::-fd02::ffff:ffff:ffff:ffff");
        assert!(Flow::parse(&p[..30]).is_none());
    }

    fn ts(a: [u8; 4], b: [u8; 4]) -> TrafficSelector {
        TrafficSelector {
            ip_protocol: 0,
            start_port: 0,
            end_port: 0xffff,
            range: AddrRange::V4 { start: a, end: b },
        }
    }

    #[test]
    fn selectors() {
        let t = ts([10, 1, 0, 0], [10, 1, 0, 255]);
        assert!(selector_matches(&t, v4(10, 1, 0, 9), 1, None));
        assert!(!selector_matches(&t, v4(10, 2, 0, 9), 1, None));
        let mut web = t;
        (web.ip_protocol, web.start_port, web.end_port) = (6, 80, 80);
        assert!(selector_matches(&web, v4(10, 1, 0, 9), 6, Some(80)));
        assert!(!selector_matches(&web, v4(10, 1, 0, 9), 6, Some(81)));
        assert!(!selector_matches(&web, v4(10, 1, 0, 9), 17, Some(80)));
    }

    #[test]
    fn flow_of_a_udp_packet() {
        let mut p = [0u8; 28];
        p[0] = 0x45;
        p[9] = 17;
        p[12..16].copy_from_slice(&[10, 1, 0, 2]);
        p[16..20].copy_from_slice(&[10, 2, 0, 2]);
        p[20..24].copy_from_slice(&[0x13, 0x88, 0, 53]);
        let f = Flow::parse(&p).unwrap();
        assert_eq!(f.ports, Some((5000, 53)));
        assert_eq!(f.dst, v4(10, 2, 0, 2));
        assert!(Flow::parse(&p[..10]).is_none());
    }

    fn child(inb: u32, outb: u32, replaces: Option<u32>) -> ChildSa {
        let keys = DirectionKeys {
            encr: bng_ikev2::crypto::Secret::from_slice(&[7; 20]).unwrap(),
            ..DirectionKeys::default()
        };
        ChildSa {
            inbound_spi: inb.to_be_bytes(),
            outbound_spi: outb.to_be_bytes(),
            suite: ChildSuite::AES128GCM,
            inbound: keys.clone(),
            outbound: keys,
            local_ts: ts([10, 2, 0, 0], [10, 2, 0, 255]),
            remote_ts: ts([10, 1, 0, 0], [10, 1, 0, 255]),
            replaces: replaces.map(u32::to_be_bytes),
        }
    }

    #[test]
    fn make_before_break() {
        let mut s = Sas::default();
        let p = |now, we| InstallParams {
            lineage: 1,
            local: v4(192, 0, 2, 2),
            remote: v4(192, 0, 2, 1),
            now,
            life_time: None,
            rekey_time: None,
            udp_encap: None,
            we_initiated: we,
        };
        s.install(&child(1, 2, None), p(Duration::ZERO, false))
            .unwrap();
        let f = Flow {
            src: v4(10, 2, 0, 2),
            dst: v4(10, 1, 0, 2),
            proto: 1,
            ports: None,
        };
        // The peer rekeys (its REKEY_SA names its inbound SPI, our outbound 2).
        let t1 = Duration::from_secs(5);
        assert_eq!(
            s.install(&child(3, 4, Some(2)), p(t1, false)).unwrap(),
            Some(1)
        );
        assert_eq!(s.outbound_for(t1, &f).unwrap().outbound_spi, 2);
        let t2 = t1 + SWITCH_DELAY;
        assert_eq!(s.outbound_for(t2, &f).unwrap().outbound_spi, 4);
        // The old inbound SA still decapsulates during the grace period.
        assert!(s.inbound(1).is_some());
        assert!(
            s.expire(t1 + GRACE.saturating_sub(Duration::from_millis(1)))
                .is_empty()
        );
        assert_eq!(s.expire(t1 + GRACE), [1]);
        assert!(s.inbound(1).is_none() && s.inbound(3).is_some());
        // We rekey (REKEY_SA names our inbound SPI 3): the new one sends at once.
        assert_eq!(
            s.install(&child(5, 6, Some(3)), p(t2, true)).unwrap(),
            Some(3)
        );
        assert_eq!(s.outbound_for(t2, &f).unwrap().outbound_spi, 6);
        assert_eq!(s.remove_lineage(1), [3, 5]);
    }
}
