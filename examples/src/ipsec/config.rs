//! The `ipsec-gw` configuration: a swanctl-like TOML file (`examples/ipsec-gw/site.toml`
//! is the commented example), checked completely before anything starts. Every error
//! names the key, what was expected and what was found.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use bng_ikev2::exchange::{ChildSuite, IkeSuite};
use bng_ikev2::payload::{AddrRange, TrafficSelector};
use bng_ikev2::types::{DhGroup, EncrId, EsnId, IdType, IntegId, PrfId};
use serde::Deserialize;
use x509_cert::der::Decode as _;

/// A configuration error: the key (dotted TOML path), what was expected, what was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The key, e.g. `connections.site.proposals`.
    pub key: String,
    /// What the key must hold.
    pub expected: String,
    /// What it held (or why it could not be read).
    pub found: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: expected {}, found {}",
            self.key, self.expected, self.found
        )
    }
}

impl std::error::Error for ConfigError {}

fn err(key: &str, expected: &str, found: impl fmt::Display) -> ConfigError {
    ConfigError {
        key: key.to_owned(),
        expected: expected.to_owned(),
        found: found.to_string(),
    }
}

/// A duration as strongSwan writes it: seconds, or a number with `s`, `m`, `h`, `d`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum RawDuration {
    Secs(u64),
    Text(String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    gateway: RawGateway,
    connections: BTreeMap<String, RawConnection>,
}

/// The same with `[[connections]]` (an array of tables, each with its `name`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFileList {
    #[serde(default)]
    gateway: RawGateway,
    connections: Vec<RawConnection>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGateway {
    outer: Option<String>,
    interface: Option<String>,
    next_hop: Option<String>,
    tun: Option<String>,
    tun_mtu: Option<u16>,
    install_routes: Option<bool>,
    retransmit_timeout: Option<RawDuration>,
    retransmit_tries: Option<u8>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConnection {
    /// Only in the `[[connections]]` form.
    name: Option<String>,
    local_addrs: String,
    remote_addrs: Option<String>,
    proposals: Option<String>,
    psk_file: Option<String>,
    rekey_time: Option<RawDuration>,
    dpd_delay: Option<RawDuration>,
    fragmentation: Option<bool>,
    fragment_size: Option<u16>,
    start_action: Option<String>,
    pools: Option<String>,
    dns: Option<Vec<String>>,
    #[serde(default)]
    local: RawEnd,
    #[serde(default)]
    remote: RawEnd,
    children: BTreeMap<String, RawChild>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEnd {
    auth: Option<String>,
    id: Option<String>,
    cert: Option<String>,
    certs: Option<Vec<String>>,
    key: Option<String>,
    keys: Option<Vec<String>>,
    cacert: Option<String>,
    cacerts: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawChild {
    local_ts: String,
    remote_ts: String,
    esp_proposals: Option<String>,
    rekey_time: Option<RawDuration>,
    life_time: Option<RawDuration>,
    mode: Option<String>,
}

/// What to do with a connection at start (swanctl `start_action`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartAction {
    /// Wait for the peer to initiate (`none`, the default).
    Wait,
    /// Initiate the IKE SA and its Child SA at once (`start`/`initiate`).
    Initiate,
}

/// An IPv4 or IPv6 prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    /// Network address (host bits cleared).
    pub addr: IpAddr,
    /// Prefix length.
    pub len: u8,
}

impl Cidr {
    /// The first and last address as numbers (an IPv4 address in the low 32 bits).
    #[must_use]
    pub fn range(&self) -> (u128, u128) {
        let (bits, a) = match self.addr {
            IpAddr::V4(a) => (32u32, u128::from(u32::from(a))),
            IpAddr::V6(a) => (128, u128::from(a)),
        };
        let host = bits.saturating_sub(u32::from(self.len));
        let mask = u128::MAX.checked_shr(128 - host).unwrap_or(0);
        let start = a & !mask;
        (start, start | mask)
    }

    /// The first and last address of an IPv4 prefix (zeros for IPv6).
    #[must_use]
    pub fn bounds(&self) -> (u32, u32) {
        let (s, e) = self.range();
        (
            u32::try_from(s).unwrap_or_default(),
            u32::try_from(e).unwrap_or_default(),
        )
    }

    /// Is it an IPv6 prefix?
    #[must_use]
    pub const fn is_v6(&self) -> bool {
        self.addr.is_ipv6()
    }

    /// Do the two prefixes share an address?
    #[must_use]
    pub fn overlaps(&self, o: &Self) -> bool {
        let ((a, b), (x, y)) = (self.range(), o.range());
        self.is_v6() == o.is_v6() && a <= y && x <= b
    }

    /// The selector covering this prefix, any protocol and port (RFC 7296 section
    /// 3.13.1: `TS_IPV4_ADDR_RANGE` or `TS_IPV6_ADDR_RANGE`).
    #[must_use]
    pub fn selector(&self) -> TrafficSelector {
        let (s, e) = self.range();
        let range = if self.is_v6() {
            AddrRange::V6 {
                start: s.to_be_bytes(),
                end: e.to_be_bytes(),
            }
        } else {
            let (s, e) = self.bounds();
            AddrRange::V4 {
                start: s.to_be_bytes(),
                end: e.to_be_bytes(),
            }
        };
        TrafficSelector {
            ip_protocol: 0,
            start_port: 0,
            end_port: 0xffff,
            range,
        }
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

/// An identity as strongSwan reads one (RFC 7296 section 3.5): an IPv4 address is
/// `ID_IPV4_ADDR`, `user@domain` `ID_RFC822_ADDR`, `@name` or anything else `ID_FQDN`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Id {
    /// The ID Type.
    pub id_type: IdType,
    /// The identification data.
    pub data: Vec<u8>,
}

impl Id {
    /// Reads `s`.
    #[must_use]
    pub fn parse(s: &str) -> Self {
        if let Ok(a) = s.parse::<Ipv4Addr>() {
            return Self {
                id_type: IdType::IPV4_ADDR,
                data: a.octets().to_vec(),
            };
        }
        if let Ok(a) = s.parse::<std::net::Ipv6Addr>() {
            return Self {
                id_type: IdType::IPV6_ADDR,
                data: a.octets().to_vec(),
            };
        }
        if let Some(fqdn) = s.strip_prefix('@') {
            return Self {
                id_type: IdType::FQDN,
                data: fqdn.as_bytes().to_vec(),
            };
        }
        let id_type = if s.contains('@') {
            IdType::RFC822_ADDR
        } else {
            IdType::FQDN
        };
        Self {
            id_type,
            data: s.as_bytes().to_vec(),
        }
    }
}

/// One Child SA configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Child {
    /// Its name.
    pub name: String,
    /// Our selector.
    pub local_ts: Cidr,
    /// The peer's selector.
    pub remote_ts: Cidr,
    /// ESP proposals in preference order.
    pub esp: Vec<ChildSuite>,
    /// The key exchange group for PFS in rekeys (a group in `esp_proposals`).
    pub pfs: Option<DhGroup>,
    /// Rekey after this long (`None`: never).
    pub rekey_time: Option<Duration>,
    /// Hard lifetime of the ESP SAs (`None`: none).
    pub life_time: Option<Duration>,
}

/// Certificate authentication (`auth = "pubkey"`, RFC 7427): the files, read and
/// checked at load.
#[derive(Clone, PartialEq, Eq)]
pub struct CertFiles {
    /// Our certificates in order of preference (`local.cert`, then `local.certs`);
    /// the first is sent unless the peer's CERTREQ asks for another's CA.
    pub ours: Vec<OwnCert>,
    /// The trusted CA certificates (`remote.cacert`, then `remote.cacerts`; every
    /// certificate of each file), DER.
    pub cas: Vec<Vec<u8>>,
}

/// One of our certificates with its chain and key.
#[derive(Clone, PartialEq, Eq)]
pub struct OwnCert {
    /// The certificates of one `local.cert(s)` file, DER: the end entity first, then
    /// its intermediate CAs (and optionally the root), each the issuer of the one
    /// before.
    pub chain: Vec<Vec<u8>>,
    /// The PKCS#8 private key (DER) of `local.key(s)` that matches the end entity.
    pub key: Vec<u8>,
    /// The file it came from.
    pub file: PathBuf,
}

impl fmt::Debug for CertFiles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let files: Vec<_> = self.ours.iter().map(|o| (&o.file, o.chain.len())).collect();
        f.debug_struct("CertFiles")
            .field("ours", &files)
            .field("cas", &self.cas.len())
            .finish_non_exhaustive()
    }
}

impl CertFiles {
    /// The signers (one per certificate, in order) and the verifier of the
    /// connection.
    ///
    /// # Errors
    /// What does not fit (checked at load already).
    pub fn build(&self) -> Result<(super::cert::SignerSet, super::cert::CaVerifier), String> {
        let signers = self
            .ours
            .iter()
            .map(|o| {
                super::cert::KeySigner::with_chain(&o.key, &o.chain, &self.cas)
                    .map_err(|e| format!("{}: expected {e}", o.file.display()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok((
            super::cert::SignerSet::new(signers)?,
            super::cert::CaVerifier::with_anchors(&self.cas)?,
        ))
    }
}

/// One connection.
#[derive(Debug, Clone, PartialEq)]
pub struct Connection {
    /// Its name.
    pub name: String,
    /// Our address (UDP 500 and 4500 are bound on it), IPv4 or IPv6.
    pub local: IpAddr,
    /// The peer's address (`None`: any peer may initiate).
    pub remote: Option<IpAddr>,
    /// Our identity (default: our address).
    pub local_id: Id,
    /// The identity the peer must prove (`None`: any).
    pub remote_id: Option<Id>,
    /// IKE proposals in preference order.
    pub ike: Vec<IkeSuite>,
    /// The pre-shared key (read from `psk_file`; a placeholder with certificates).
    pub psk: Vec<u8>,
    /// Certificate authentication instead of the PSK (`auth = "pubkey"`).
    pub cert: Option<CertFiles>,
    /// IKE SA rekey time (`None`: never).
    pub rekey_time: Option<Duration>,
    /// Liveness check after this long without hearing from the peer (`None`: off).
    pub dpd_delay: Option<Duration>,
    /// IKE fragmentation (RFC 7383): `Some(size)` announces support and fragments
    /// our SK messages longer than `size` bytes when the peer supports it too.
    pub fragment_size: Option<u16>,
    /// What to do at start.
    pub start_action: StartAction,
    /// Virtual IPv4 addresses for remote-access initiators (CP, RFC 7296 section 2.19).
    pub pool: Option<Cidr>,
    /// DNS servers handed out with a pool address (at most two).
    pub dns: Vec<Ipv4Addr>,
    /// The Child SA.
    pub child: Child,
}

/// How the outer side is served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OuterMode {
    /// The kernel's UDP sockets on 500 and 4500 (`outer = "udp"`, the default).
    Udp,
    /// An `AF_PACKET` socket with our own ARP/IPv4/UDP (`outer = "af_packet"`).
    Packet {
        /// The interface (`interface`).
        interface: String,
        /// The next hop toward the peer (`next_hop`; default: the peer is on-link).
        next_hop: Option<Ipv4Addr>,
    },
}

/// The whole configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct GwConfig {
    /// The outer side.
    pub outer: OuterMode,
    /// The TUN device for the route-based inner side.
    pub tun: String,
    /// Its MTU.
    pub tun_mtu: u16,
    /// Route the remote selectors (and the pool) into the TUN device at start.
    pub install_routes: bool,
    /// First IKE retransmission timeout (doubles each time, RFC 7296 section 2.4).
    pub retransmit_timeout: Duration,
    /// IKE retransmissions before the peer is declared dead (also ends DPD).
    pub retransmit_tries: u8,
    /// The connections, by name. They share one local address (the outer side is
    /// bound once); each has its own peer, proposals, key, selectors and pool. New
    /// IKE SAs are matched to a connection by the peer's address, so no two
    /// connections have the same `remote_addrs` (at most one `%any`), and no two
    /// route the same remote addresses (their remote selectors and pools are
    /// disjoint).
    pub conns: Vec<Connection>,
}

fn duration(
    key: &str,
    d: Option<&RawDuration>,
    default: Option<Duration>,
) -> Result<Option<Duration>, ConfigError> {
    const WHAT: &str = "a duration: seconds, or a number with s, m, h or d (0 = off)";
    let Some(d) = d else { return Ok(default) };
    let secs = match d {
        RawDuration::Secs(s) => *s,
        RawDuration::Text(t) => {
            let t = t.trim();
            let (num, mult) = match t.char_indices().last() {
                Some((i, 's')) => (t.get(..i), 1),
                Some((i, 'm')) => (t.get(..i), 60),
                Some((i, 'h')) => (t.get(..i), 3600),
                Some((i, 'd')) => (t.get(..i), 86400),
                _ => (Some(t), 1),
            };
            let n: u64 = num
                .and_then(|n| n.trim().parse().ok())
                .ok_or_else(|| err(key, WHAT, format!("{t:?}")))?;
            n.checked_mul(mult)
                .ok_or_else(|| err(key, WHAT, format!("{t:?} (too large)")))?
        }
    };
    Ok((secs > 0).then(|| Duration::from_secs(secs)))
}

/// Reads `a.b.c.d/len` or an IPv6 `prefix/len`.
///
/// # Errors
/// A [`ConfigError`] for `key` when `s` is not one prefix.
pub fn cidr(key: &str, s: &str) -> Result<Cidr, ConfigError> {
    const WHAT: &str = "one IPv4 prefix a.b.c.d/len or IPv6 prefix x:y::/len";
    let s = s.trim();
    if s.contains(',') {
        return Err(err(key, WHAT, format!("a list {s:?}")));
    }
    let (a, len) = s.split_once('/').map_or((s, None), |(a, l)| (a, Some(l)));
    let addr: IpAddr = a.parse().map_err(|_| err(key, WHAT, format!("{s:?}")))?;
    let bits = if addr.is_ipv6() { 128 } else { 32 };
    let len: u8 = len
        .map_or(Some(bits), |l| l.parse().ok())
        .filter(|l| *l <= bits)
        .ok_or_else(|| err(key, WHAT, format!("{s:?}")))?;
    let (start, _) = Cidr { addr, len }.range();
    let addr = match addr {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::from(u32::try_from(start).unwrap_or_default())),
        IpAddr::V6(_) => IpAddr::V6(start.into()),
    };
    Ok(Cidr { addr, len })
}

fn dh_group(tok: &str) -> Option<DhGroup> {
    Some(match tok {
        "x25519" | "curve25519" => DhGroup::CURVE25519,
        "ecp256" => DhGroup::ECP256,
        "ecp384" => DhGroup::ECP384,
        "ecp521" => DhGroup::ECP521,
        "modp2048" => DhGroup::MODP2048,
        "modp3072" => DhGroup::MODP3072,
        "modp4096" => DhGroup::MODP4096,
        "modp6144" => DhGroup::MODP6144,
        "modp8192" => DhGroup::MODP8192,
        _ => return None,
    })
}

/// An encryption token: (algorithm, key bits).
fn encr(tok: &str) -> Option<(EncrId, u16)> {
    Some(match tok {
        "aes128gcm16" | "aes128gcm128" | "aes128gcm" => (EncrId::AES_GCM_16, 128),
        "aes256gcm16" | "aes256gcm128" | "aes256gcm" => (EncrId::AES_GCM_16, 256),
        "aes128" => (EncrId::AES_CBC, 128),
        "aes256" => (EncrId::AES_CBC, 256),
        _ => return None,
    })
}

fn integ(tok: &str) -> Option<IntegId> {
    Some(match tok {
        "sha256" | "sha2_256" => IntegId::HMAC_SHA2_256_128,
        "sha384" | "sha2_384" => IntegId::HMAC_SHA2_384_192,
        "sha512" | "sha2_512" => IntegId::HMAC_SHA2_512_256,
        _ => return None,
    })
}

fn prf(tok: &str) -> Option<PrfId> {
    Some(match tok {
        "prfsha256" => PrfId::HMAC_SHA2_256,
        "prfsha384" => PrfId::HMAC_SHA2_384,
        "prfsha512" => PrfId::HMAC_SHA2_512,
        _ => return None,
    })
}

/// One IKE proposal in strongSwan syntax, e.g. `aes128gcm16-prfsha256-x25519` or
/// `aes256-sha256-ecp384` (the PRF follows the integrity algorithm when not given).
///
/// # Errors
/// A [`ConfigError`] naming `key` and the token that is not understood or supported.
pub fn ike_proposal(key: &str, s: &str) -> Result<IkeSuite, ConfigError> {
    const WHAT: &str = "an IKE proposal ENCR[-INTEG][-PRF]-DH, e.g. aes128gcm16-prfsha256-x25519 or aes256-sha256-ecp384 \
         (ENCR aes128gcm16 aes256gcm16 aes128 aes256; INTEG sha256 sha384 sha512; PRF prfsha256 prfsha384 prfsha512; \
         DH x25519 ecp256 ecp384 ecp521 modp2048..modp8192)";
    let mut e = None;
    let (mut i, mut p, mut d) = (None, None, None);
    for tok in s.trim().split('-') {
        if let (None, Some(x)) = (e, encr(tok)) {
            e = Some(x);
        } else if let (None, Some(x)) = (i, integ(tok)) {
            i = Some(x);
        } else if let (None, Some(x)) = (p, prf(tok)) {
            p = Some(x);
        } else if let (None, Some(x)) = (d, dh_group(tok)) {
            d = Some(x);
        } else {
            return Err(err(key, WHAT, format!("{s:?} (token {tok:?})")));
        }
    }
    let (Some((encr, key_bits)), Some(dh)) = (e, d) else {
        return Err(err(key, WHAT, format!("{s:?} (needs ENCR and DH)")));
    };
    let integ = if encr.is_aead() {
        if i.is_some() {
            return Err(err(key, WHAT, format!("{s:?} (AES-GCM takes no INTEG)")));
        }
        IntegId::NONE
    } else {
        i.ok_or_else(|| err(key, WHAT, format!("{s:?} (AES-CBC needs an INTEG)")))?
    };
    let prf = match (p, integ) {
        (Some(p), _) => p,
        (None, IntegId::HMAC_SHA2_256_128) => PrfId::HMAC_SHA2_256,
        (None, IntegId::HMAC_SHA2_384_192) => PrfId::HMAC_SHA2_384,
        (None, IntegId::HMAC_SHA2_512_256) => PrfId::HMAC_SHA2_512,
        (None, _) => return Err(err(key, WHAT, format!("{s:?} (needs a PRF)"))),
    };
    Ok(IkeSuite {
        encr,
        key_bits,
        prf,
        integ,
        dh,
    })
}

/// One ESP proposal in strongSwan syntax, e.g. `aes128gcm16`, `aes256-sha256`, with an
/// optional DH group for PFS and `esn`/`noesn`. Returns the suite and the PFS group.
///
/// # Errors
/// A [`ConfigError`] naming `key` and what is not understood or supported.
pub fn esp_proposal(key: &str, s: &str) -> Result<(ChildSuite, Option<DhGroup>), ConfigError> {
    const WHAT: &str = "an ESP proposal ENCR[-INTEG][-DH][-esn|-noesn], e.g. aes128gcm16 or aes256-sha256 \
         (ENCR aes128gcm16 aes256gcm16 aes128 aes256; INTEG sha256 only)";
    let (mut e, mut i, mut d, mut esn) = (None, None, None, None);
    for tok in s.trim().split('-') {
        if let (None, Some(x)) = (e, encr(tok)) {
            e = Some(x);
        } else if let (None, Some(x)) = (i, integ(tok)) {
            i = Some(x);
        } else if let (None, Some(x)) = (d, dh_group(tok)) {
            d = Some(x);
        } else if esn.is_none() && (tok == "esn" || tok == "noesn") {
            esn = Some(tok == "esn");
        } else {
            return Err(err(key, WHAT, format!("{s:?} (token {tok:?})")));
        }
    }
    let Some((encr, key_bits)) = e else {
        return Err(err(key, WHAT, format!("{s:?} (needs ENCR)")));
    };
    let integ = match (encr.is_aead(), i) {
        (true, None) => IntegId::NONE,
        (false, Some(IntegId::HMAC_SHA2_256_128)) => IntegId::HMAC_SHA2_256_128,
        (true, Some(_)) => return Err(err(key, WHAT, format!("{s:?} (AES-GCM takes no INTEG)"))),
        (false, _) => {
            return Err(err(
                key,
                WHAT,
                format!("{s:?} (AES-CBC needs sha256: bng-esp has HMAC-SHA-256-128)"),
            ));
        }
    };
    Ok((
        ChildSuite {
            encr,
            key_bits,
            integ,
            esn: if esn == Some(true) {
                EsnId::YES
            } else {
                EsnId::NO
            },
        },
        d,
    ))
}

fn list(s: &str) -> impl Iterator<Item = &str> {
    s.split(',').map(str::trim).filter(|t| !t.is_empty())
}

/// Reads and checks the configuration file at `path` (`psk_file` is relative to its
/// directory).
///
/// # Errors
/// A [`ConfigError`] for an unreadable file, bad TOML, an unknown or missing key, or a
/// value this gateway cannot serve.
pub fn load(path: &Path) -> Result<GwConfig, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| err(&path.display().to_string(), "a readable TOML file", e))?;
    parse(&text, path.parent().unwrap_or_else(|| Path::new(".")))
}

/// Checks the configuration in `text`; `base` is the directory `psk_file` is relative to.
///
/// # Errors
/// As [`load`].
#[allow(clippy::too_many_lines, reason = "one key after the other")]
pub fn parse(text: &str, base: &Path) -> Result<GwConfig, ConfigError> {
    let toml_err = |e: toml::de::Error| {
        let msg = e.message().to_owned();
        let at = e
            .span()
            .map(|s| {
                let line = text.get(..s.start).map_or(0, |t| t.lines().count().max(1));
                format!(" (line {line})")
            })
            .unwrap_or_default();
        err(
            "<file>",
            "the ipsec-gw TOML schema (see examples/ipsec-gw/site.toml)",
            format!("{msg}{at}"),
        )
    };
    // Connections as named tables (`[connections.NAME]`, swanctl's shape) or as an
    // array of tables (`[[connections]]` with `name = "..."`).
    let is_list = text
        .parse::<toml::Table>()
        .map_err(toml_err)?
        .get("connections")
        .is_some_and(toml::Value::is_array);
    let (gw, named) = if is_list {
        let raw: RawFileList = toml::from_str(text).map_err(toml_err)?;
        let mut named: Vec<(String, RawConnection)> = Vec::new();
        for (i, c) in raw.connections.into_iter().enumerate() {
            let key = format!("connections[{i}].name");
            let Some(name) = c.name.clone().filter(|n| !n.is_empty()) else {
                return Err(err(&key, "the connection's name", "nothing"));
            };
            if named.iter().any(|(n, _)| *n == name) {
                return Err(err(
                    &key,
                    "a name no other connection has",
                    format!("{name:?} again"),
                ));
            }
            named.push((name, c));
        }
        (raw.gateway, named)
    } else {
        let raw: RawFile = toml::from_str(text).map_err(toml_err)?;
        if let Some((n, _)) = raw.connections.iter().find(|(_, c)| c.name.is_some()) {
            return Err(err(
                &format!("connections.{n}.name"),
                "no name key (the table's name is the connection's; `name` is for [[connections]])",
                "one",
            ));
        }
        (raw.gateway, raw.connections.into_iter().collect())
    };
    if named.is_empty() {
        return Err(err("connections", "at least one connection table", "none"));
    }
    let conns = named
        .into_iter()
        .map(|(name, c)| connection(name, c, base))
        .collect::<Result<Vec<_>, _>>()?;
    check_together(&conns)?;
    let outer = match gw.outer.as_deref() {
        None | Some("udp") => OuterMode::Udp,
        Some("af_packet") => {
            let Some(interface) = gw.interface.filter(|i| !i.is_empty() && i.len() < 16) else {
                return Err(err(
                    "gateway.interface",
                    "the outer interface name (1 to 15 bytes) with outer = \"af_packet\"",
                    "nothing",
                ));
            };
            let next_hop = gw
                .next_hop
                .map(|h| {
                    h.parse::<Ipv4Addr>()
                        .map_err(|_| err("gateway.next_hop", "an IPv4 address", format!("{h:?}")))
                })
                .transpose()?;
            if let Some(c) = conns.iter().find(|c| c.local.is_ipv6()) {
                return Err(err(
                    "gateway.outer",
                    "\"udp\" with IPv6 addresses (af_packet speaks IPv4 and ARP only)",
                    format!(
                        "\"af_packet\" and connections.{}.local_addrs {}",
                        c.name, c.local
                    ),
                ));
            }
            OuterMode::Packet {
                interface,
                next_hop,
            }
        }
        Some(o) => {
            return Err(err(
                "gateway.outer",
                "\"udp\" or \"af_packet\"",
                format!("{o:?}"),
            ));
        }
    };
    let tun = gw.tun.unwrap_or_else(|| "ipsecgw0".to_owned());
    if tun.is_empty() || tun.len() > 15 {
        return Err(err(
            "gateway.tun",
            "an interface name of 1 to 15 bytes",
            format!("{tun:?}"),
        ));
    }
    let tun_mtu = gw.tun_mtu.unwrap_or(1400);
    if !(576..=9000).contains(&tun_mtu) {
        return Err(err("gateway.tun_mtu", "576 to 9000", tun_mtu));
    }
    let retransmit_timeout = duration(
        "gateway.retransmit_timeout",
        gw.retransmit_timeout.as_ref(),
        Some(Duration::from_secs(1)),
    )?
    .ok_or_else(|| err("gateway.retransmit_timeout", "a duration above 0", "0"))?;
    let retransmit_tries = gw.retransmit_tries.unwrap_or(4);
    if retransmit_tries > 10 {
        return Err(err("gateway.retransmit_tries", "0 to 10", retransmit_tries));
    }
    Ok(GwConfig {
        outer,
        retransmit_timeout,
        retransmit_tries,
        tun,
        tun_mtu,
        install_routes: gw.install_routes.unwrap_or(true),
        conns,
    })
}

/// Reads the pre-shared key of `psk_file` (relative to `base`); `k` names the keys.
fn psk(
    k: &dyn Fn(&str) -> String,
    psk_file: Option<&str>,
    base: &Path,
) -> Result<Vec<u8>, ConfigError> {
    let Some(psk_file) = psk_file else {
        return Err(err(
            &k("psk_file"),
            "the path of a file holding the pre-shared key",
            "nothing",
        ));
    };
    let psk_path = base.join(psk_file);
    let psk = std::fs::read(&psk_path).map_err(|e| {
        err(
            &k("psk_file"),
            "a readable file",
            format!("{}: {e}", psk_path.display()),
        )
    })?;
    let psk = psk.trim_ascii().to_vec();
    if psk.len() < 16 {
        return Err(err(
            &k("psk_file"),
            "a pre-shared key of at least 16 bytes",
            format!("{} bytes in {}", psk.len(), psk_path.display()),
        ));
    }
    Ok(psk)
}

/// The paths of the single key `one` and the list key `many` (in that order) with
/// their key names, e.g. `local.certs[1]`.
fn paths<'a>(
    one: (&str, Option<&'a String>),
    many: (&str, Option<&'a Vec<String>>),
) -> Vec<(String, &'a String)> {
    let mut out: Vec<(String, &String)> =
        one.1.map(|p| (one.0.to_owned(), p)).into_iter().collect();
    for (i, p) in many.1.into_iter().flatten().enumerate() {
        out.push((format!("{}[{i}]", many.0), p));
    }
    out
}

/// [`paths`], at least one (with auth = "pubkey"); otherwise the error names `what`.
fn required_paths<'a>(
    k: &dyn Fn(&str) -> String,
    one: (&str, Option<&'a String>),
    many: (&str, Option<&'a Vec<String>>),
    what: &str,
) -> Result<Vec<(String, &'a String)>, ConfigError> {
    let found = paths(one, many);
    if found.is_empty() {
        let (a, b) = (one.0, many.0);
        return Err(err(
            &k(a),
            &format!("the path of {what} ({a}, or a list {b}) (PEM) with auth = \"pubkey\""),
            "nothing",
        ));
    }
    Ok(found)
}

/// Reads and checks `local.cert(s)`, `local.key(s)` and `remote.cacert(s)` (relative
/// to `base`): each certificate file is a chain (end entity first, each next one its
/// issuer and a CA), each has a matching key, the CA certificates are CAs, and our
/// identity `id` is in every certificate of ours.
#[allow(clippy::too_many_lines, reason = "one key after the other")]
fn cert_files(
    k: &dyn Fn(&str) -> String,
    local: &RawEnd,
    remote: &RawEnd,
    base: &Path,
    id: Option<&Id>,
) -> Result<(CertFiles, Id), ConfigError> {
    let read = |key: &str, f: &String| -> Result<(PathBuf, Vec<u8>), ConfigError> {
        let path = base.join(f);
        let b = std::fs::read(&path).map_err(|e| {
            err(
                &k(key),
                "a readable file",
                format!("{}: {e}", path.display()),
            )
        })?;
        Ok((path, b))
    };
    // The DER certificates in the PEM file `path` read for `key`.
    let certs_in = |key: &str, path: &Path, pem: &[u8], what: &str| {
        super::cert::certificates_der(pem)
            .map_err(|e| err(&k(key), what, format!("{}: {e}", path.display())))
    };
    // Trust anchors first: our chains may end at one of them (CERTREQ matching).
    let ca_paths = required_paths(
        k,
        ("remote.cacert", remote.cacert.as_ref()),
        ("remote.cacerts", remote.cacerts.as_ref()),
        "the CA certificate",
    )?;
    let mut cas = Vec::new();
    for (key, f) in &ca_paths {
        let (path, pem) = read(key, f)?;
        let found = certs_in(
            key,
            &path,
            &pem,
            "X.509 CA certificates in PEM (CERTIFICATE blocks)",
        )?;
        super::cert::CaVerifier::with_anchors(&found)
            .map_err(|e| err(&k(key), &e, format!("otherwise in {}", path.display())))?;
        cas.extend(found);
    }
    let key_paths = required_paths(
        k,
        ("local.key", local.key.as_ref()),
        ("local.keys", local.keys.as_ref()),
        "our private key",
    )?;
    let mut keys = Vec::new();
    for (key, f) in &key_paths {
        let (path, pem) = read(key, f)?;
        let der = super::cert::private_key_der(&pem)
            .map_err(|e| err(&k(key), &e, format!("no such block in {}", path.display())))?;
        keys.push((key.clone(), der));
    }
    let cert_paths = required_paths(
        k,
        ("local.cert", local.cert.as_ref()),
        ("local.certs", local.certs.as_ref()),
        "our certificate",
    )?;
    let mut ours = Vec::new();
    for (key, f) in &cert_paths {
        let (path, pem) = read(key, f)?;
        let chain = certs_in(
            key,
            &path,
            &pem,
            "an X.509 certificate in PEM (then its intermediate CAs)",
        )?;
        let leaf = chain.first().map_or(&[][..], Vec::as_slice);
        // The key of this certificate among local.key(s).
        let mut mismatch = None;
        let mut found = None;
        for (kname, kder) in &keys {
            match super::cert::KeySigner::new(kder, leaf) {
                Ok(_) => {
                    found = Some(kder.clone());
                    break;
                }
                Err(e) => mismatch = Some((kname.clone(), e)),
            }
        }
        let Some(key_der) = found else {
            let (kname, e) = mismatch.unwrap_or_default();
            return Err(if keys.len() == 1 {
                err(&k(&kname), &e, format!("otherwise for {}", path.display()))
            } else {
                err(
                    &k("local.keys"),
                    "the private key of each certificate",
                    format!("none for {key} ({})", path.display()),
                )
            });
        };
        super::cert::KeySigner::with_chain(&key_der, &chain, &cas)
            .map_err(|e| err(&k(key), &e, format!("otherwise in {}", path.display())))?;
        // The peer checks our chain at its clock: refuse one that is not valid now.
        let now = super::cert::wall_clock();
        for (i, der) in chain.iter().enumerate() {
            let role = if i == 0 {
                "end-entity certificate".to_owned()
            } else {
                format!("certificate {}", i + 1)
            };
            x509_cert::Certificate::from_der(der)
                .map_err(|e| e.to_string())
                .and_then(|c| super::cert::check_validity(&c, &role, now))
                .map_err(|e| {
                    err(
                        &k(key),
                        "certificates valid now",
                        format!("{e} in {}", path.display()),
                    )
                })?;
        }
        ours.push(OwnCert {
            chain,
            key: key_der,
            file: path,
        });
    }
    let parsed = ours
        .iter()
        .zip(&cert_paths)
        .map(|(o, (key, _))| {
            let leaf = o.chain.first().map_or(&[][..], Vec::as_slice);
            x509_cert::Certificate::from_der(leaf)
                .map(|c| (key.clone(), c))
                .map_err(|e| err(&k(key), "an X.509 certificate", e))
        })
        .collect::<Result<Vec<_>, _>>()?;
    // No local.id: the first certificate's subject as an ID_DER_ASN1_DN (strongSwan's
    // default).
    let id = if let Some(id) = id {
        id.clone()
    } else {
        let first = parsed.first().map(|(_, c)| c);
        let dn = first
            .map(|c| x509_cert::der::Encode::to_der(&c.tbs_certificate.subject))
            .transpose()
            .map_err(|e| err(&k("local.cert"), "a certificate with a subject", e))?
            .unwrap_or_default();
        Id {
            id_type: IdType::DER_ASN1_DN,
            data: dn,
        }
    };
    let ident = bng_ikev2::exchange::Identity {
        id_type: id.id_type,
        data: &id.data,
    };
    for (key, c) in &parsed {
        if !super::cert::binds(c, ident) {
            let what = if id.id_type == IdType::DER_ASN1_DN {
                format!(
                    "the subject of every certificate (no local.id: the first one's); {key} has '{}'",
                    super::cert::subject(c)
                )
            } else {
                format!(
                    "an identity named in {key}'s subjectAltName (dNSName for a name, rfc822Name for user@domain, iPAddress)"
                )
            };
            return Err(err(
                &k("local.id"),
                &what,
                format!("{:?}", String::from_utf8_lossy(&id.data)),
            ));
        }
    }
    Ok((CertFiles { ours, cas }, id))
}

/// Reads and checks one connection table (`base`: where `psk_file` is relative to).
#[allow(clippy::too_many_lines, reason = "one key after the other")]
fn connection(name: String, c: RawConnection, base: &Path) -> Result<Connection, ConfigError> {
    let k = |s: &str| format!("connections.{name}.{s}");
    let local: IpAddr = c.local_addrs.trim().parse().map_err(|_| {
        err(
            &k("local_addrs"),
            "one IPv4 or IPv6 address",
            format!("{:?}", c.local_addrs),
        )
    })?;
    let remote = match c.remote_addrs.as_deref().map(str::trim) {
        None | Some("%any") => None,
        Some(r) => Some(
            r.parse::<IpAddr>()
                .ok()
                .filter(|r| r.is_ipv6() == local.is_ipv6())
                .ok_or_else(|| {
                    err(
                        &k("remote_addrs"),
                        "one address of local_addrs's family, or %any",
                        format!("{r:?}"),
                    )
                })?,
        ),
    };
    let start_action = match c.start_action.as_deref() {
        None | Some("none" | "wait" | "trap") => StartAction::Wait,
        Some("start" | "initiate") => StartAction::Initiate,
        Some(o) => return Err(err(&k("start_action"), "none or start", format!("{o:?}"))),
    };
    if start_action == StartAction::Initiate && remote.is_none() {
        return Err(err(
            &k("remote_addrs"),
            "the peer's address with start_action = \"start\"",
            "none",
        ));
    }
    let local_auth = c.local.auth.as_deref().unwrap_or("psk");
    for (end, e) in [("local", &c.local), ("remote", &c.remote)] {
        let a = e.auth.as_deref().unwrap_or(local_auth);
        if a != "psk" && a != "pubkey" {
            return Err(err(
                &k(&format!("{end}.auth")),
                "psk or pubkey (certificates, RFC 7427)",
                format!("{a:?}"),
            ));
        }
        if a != local_auth {
            return Err(err(
                &k(&format!("{end}.auth")),
                &format!("the method of local.auth ({local_auth}): both ends use one"),
                format!("{a:?}"),
            ));
        }
    }
    let mut local_id = c
        .local
        .id
        .as_deref()
        .map_or_else(|| Id::parse(&local.to_string()), Id::parse);
    let remote_id = c
        .remote
        .id
        .as_deref()
        .filter(|r| *r != "%any")
        .map(Id::parse);
    let proposals = c
        .proposals
        .as_deref()
        .unwrap_or("aes128gcm16-prfsha256-x25519");
    let ike = list(proposals)
        .map(|p| ike_proposal(&k("proposals"), p))
        .collect::<Result<Vec<_>, _>>()?;
    if ike.is_empty() || ike.len() > 8 {
        return Err(err(
            &k("proposals"),
            "1 to 8 proposals",
            format!("{}", ike.len()),
        ));
    }
    let cert = if local_auth == "pubkey" {
        let given = c.local.id.is_some().then_some(&local_id);
        let (files, id) = cert_files(&k, &c.local, &c.remote, base, given)?;
        local_id = id;
        Some(files)
    } else {
        None
    };
    let psk = match (&cert, c.psk_file.as_deref()) {
        (Some(_), None) => b"certificate authentication".to_vec(),
        (_, f) => psk(&k, f, base)?,
    };
    let fragment_size = if c.fragmentation.unwrap_or(true) {
        let f = c.fragment_size.unwrap_or(1280);
        if f < bng_ikev2::exchange::MIN_FRAGMENT_LEN {
            return Err(err(
                &k("fragment_size"),
                &format!("at least {} bytes", bng_ikev2::exchange::MIN_FRAGMENT_LEN),
                f,
            ));
        }
        Some(f)
    } else {
        None
    };
    let pool = c
        .pools
        .as_deref()
        .map(|p| cidr(&k("pools"), p))
        .transpose()?;
    if let Some(p) = pool.filter(Cidr::is_v6) {
        return Err(err(
            &k("pools"),
            "an IPv4 prefix (virtual IPv6 addresses are not served)",
            p,
        ));
    }
    let dns = c
        .dns
        .unwrap_or_default()
        .iter()
        .map(|d| {
            d.parse::<Ipv4Addr>()
                .map_err(|_| err(&k("dns"), "IPv4 addresses", format!("{d:?}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if dns.len() > 2 {
        return Err(err(&k("dns"), "at most two DNS servers", dns.len()));
    }
    let mut children = c.children.into_iter();
    let Some((cname, ch)) = children.next() else {
        return Err(err(&k("children"), "one child table", "none"));
    };
    if let Some((other, _)) = children.next() {
        return Err(err(
            &k("children"),
            "exactly one Child SA per connection",
            format!("also {other:?}"),
        ));
    }
    let ck = |s: &str| format!("connections.{name}.children.{cname}.{s}");
    if let Some(m) = ch.mode.as_deref().filter(|m| *m != "tunnel") {
        return Err(err(
            &ck("mode"),
            "tunnel (route-based gateway)",
            format!("{m:?}"),
        ));
    }
    let esp_list = ch.esp_proposals.as_deref().unwrap_or("aes128gcm16");
    let mut esp = Vec::new();
    let mut pfs = None;
    for p in list(esp_list) {
        let (s, g) = esp_proposal(&ck("esp_proposals"), p)?;
        if esp.is_empty() {
            pfs = g;
        }
        esp.push(s);
    }
    if esp.is_empty() || esp.len() > 8 {
        return Err(err(&ck("esp_proposals"), "1 to 8 proposals", esp.len()));
    }
    let (local_ts, remote_ts) = (
        cidr(&ck("local_ts"), &ch.local_ts)?,
        cidr(&ck("remote_ts"), &ch.remote_ts)?,
    );
    // One selector per side: both of one family (and the pool's, IPv4, replaces the
    // remote one for road warriors).
    let family = |c: &Cidr| if c.is_v6() { "IPv6" } else { "IPv4" };
    let remote_family = pool.as_ref().unwrap_or(&remote_ts);
    if local_ts.is_v6() != remote_family.is_v6() {
        return Err(err(
            &ck("remote_ts"),
            &format!(
                "a prefix of local_ts's family ({}){}",
                family(&local_ts),
                if pool.is_some() { ", as pools" } else { "" }
            ),
            format!("{} {}", family(remote_family), remote_family),
        ));
    }
    let child = Child {
        local_ts,
        remote_ts,
        esp,
        pfs,
        rekey_time: duration(
            &ck("rekey_time"),
            ch.rekey_time.as_ref(),
            Some(Duration::from_secs(3600)),
        )?,
        life_time: duration(&ck("life_time"), ch.life_time.as_ref(), None)?,
        name: cname.clone(),
    };
    if let (Some(r), Some(l)) = (child.rekey_time, child.life_time) {
        if l <= r {
            return Err(err(
                &ck("life_time"),
                "longer than rekey_time",
                format!("{l:?} <= {r:?}"),
            ));
        }
    }
    Ok(Connection {
        local,
        remote,
        local_id,
        remote_id,
        ike,
        psk,
        cert,
        rekey_time: duration(
            &k("rekey_time"),
            c.rekey_time.as_ref(),
            Some(Duration::from_secs(4 * 3600)),
        )?,
        dpd_delay: duration(&k("dpd_delay"), c.dpd_delay.as_ref(), None)?,
        fragment_size,
        start_action,
        pool,
        dns,
        child,
        name,
    })
}

/// The remote addresses a connection routes into the tunnel: its remote selector and
/// its pool.
fn remote_nets(c: &Connection) -> impl Iterator<Item = (String, Cidr)> + '_ {
    let child = format!("connections.{}.children.{}.remote_ts", c.name, c.child.name);
    core::iter::once((child, c.child.remote_ts))
        .chain(c.pool.map(|p| (format!("connections.{}.pools", c.name), p)))
}

/// What the connections must agree on: one local address, peers told apart by their
/// address, and disjoint remote networks (each routed into exactly one tunnel).
fn check_together(conns: &[Connection]) -> Result<(), ConfigError> {
    let mut seen: Vec<&Connection> = Vec::new();
    for c in conns {
        let k = |s: &str| format!("connections.{}.{s}", c.name);
        for o in &seen {
            if c.local != o.local {
                return Err(err(
                    &k("local_addrs"),
                    &format!(
                        "the local_addrs of every connection ({} in connections.{}: one outer address per process)",
                        o.local, o.name
                    ),
                    c.local,
                ));
            }
            if c.remote == o.remote {
                return Err(err(
                    &k("remote_addrs"),
                    &format!(
                        "a peer address no other connection has (new IKE SAs are matched by it; connections.{} has it too)",
                        o.name
                    ),
                    c.remote
                        .map_or_else(|| "%any".to_owned(), |r| r.to_string()),
                ));
            }
            for (key, net) in remote_nets(c) {
                for (okey, onet) in remote_nets(o) {
                    if net.overlaps(&onet) {
                        return Err(err(
                            &key,
                            "remote addresses no other connection routes",
                            format!("{net}, which overlaps {onet} of {okey}"),
                        ));
                    }
                }
            }
        }
        seen.push(c);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::indexing_slicing,
        clippy::panic,
        reason = "tests"
    )]

    use super::*;

    const SITE: &str = r#"
[gateway]
tun = "tst0"

[connections.site]
local_addrs = "192.0.2.2"
remote_addrs = "192.0.2.1"
proposals = "aes128gcm16-prfsha256-x25519, aes256-sha256-ecp384"
psk_file = "psk.txt"
rekey_time = "4h"
dpd_delay = 30
start_action = "start"
local.id = "ike2@lab"
remote.id = "ike1@lab"

[connections.site.children.net]
local_ts = "10.2.0.0/24"
remote_ts = "10.1.0.0/24"
esp_proposals = "aes128gcm16, aes256-sha256-x25519"
rekey_time = "50m"
life_time = "1h"
"#;

    fn dir_with_psk(tag: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("ipsecgw-cfg-{}-{tag}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        // Written aside and renamed: tests running at once read whole files.
        let tmp = d.join(format!("psk.{:?}", std::thread::current().id()));
        std::fs::write(&tmp, "lab-psk-0123456789abcdef\n").unwrap();
        std::fs::rename(&tmp, d.join("psk.txt")).unwrap();
        d
    }

    #[test]
    fn site_config() {
        let c = parse(SITE, &dir_with_psk("site")).unwrap();
        assert_eq!(c.tun, "tst0");
        let k = &c.conns[0];
        assert_eq!(
            k.ike,
            [
                IkeSuite::AES128GCM_SHA256_X25519,
                IkeSuite::AES256_SHA256_ECP384
            ]
        );
        assert_eq!(
            k.child.esp,
            [ChildSuite::AES128GCM, ChildSuite::AES256_SHA256]
        );
        assert_eq!(k.psk, b"lab-psk-0123456789abcdef");
        assert_eq!(k.local_id.id_type, IdType::RFC822_ADDR);
        assert_eq!(k.rekey_time, Some(Duration::from_secs(4 * 3600)));
        assert_eq!(k.dpd_delay, Some(Duration::from_secs(30)));
        assert_eq!(k.child.rekey_time, Some(Duration::from_secs(3000)));
        assert_eq!(k.start_action, StartAction::Initiate);
        assert_eq!(k.child.local_ts.to_string(), "10.2.0.0/24");
    }

    #[test]
    fn the_example_file_loads() {
        // The example ships without a key (never commit one): parse it beside a test key.
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("ipsec-gw/site.toml");
        let text = std::fs::read_to_string(p).unwrap();
        let c = parse(&text, &dir_with_psk("example")).unwrap();
        assert_eq!(c.conns[0].name, "site");
    }

    fn error_of(text: &str) -> String {
        parse(text, &dir_with_psk("errors"))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn errors_name_key_and_expectation() {
        // (replace, with, the error starts with it when `prefix`, else contains it)
        let cases = [
            (
                "x25519, aes256",
                "x25519, aes256-md5",
                true,
                "connections.site.proposals: expected an IKE proposal",
            ),
            ("x25519, aes256", "x25519, aes256-md5", false, "\"md5\""),
            (
                "\"50m\"",
                "\"soon\"",
                true,
                "connections.site.children.net.rekey_time: expected a duration",
            ),
            (
                "10.1.0.0/24",
                "10.1.0.0/33",
                true,
                "connections.site.children.net.remote_ts: expected one IPv4 prefix a.b.c.d/len or IPv6 prefix",
            ),
            (
                "psk.txt",
                "missing.txt",
                true,
                "connections.site.psk_file: expected a readable file",
            ),
            (
                "start_action = \"start\"",
                "start_action = \"go\"",
                false,
                "start_action: expected none or start",
            ),
            ("dpd_delay", "dpd_dlay", false, "unknown field `dpd_dlay`"),
            (
                "aes256-sha256-x25519",
                "aes256-sha384",
                false,
                "needs sha256",
            ),
            (
                "tun = \"tst0\"",
                "tun = \"tst0\"\nouter = \"af_packet\"",
                true,
                "gateway.interface: expected the outer interface name",
            ),
            (
                "life_time = \"1h\"",
                "life_time = \"40m\"",
                false,
                "life_time: expected longer than rekey_time",
            ),
            (
                "dpd_delay = 30",
                "dpd_delay = 30\nfragment_size = 100",
                false,
                "fragment_size: expected at least 256 bytes, found 100",
            ),
        ];
        for (from, to, prefix, want) in cases {
            let e = error_of(&SITE.replace(from, to));
            let ok = if prefix {
                e.starts_with(want)
            } else {
                e.contains(want)
            };
            assert!(ok, "{from} -> {to}: {e}");
        }
        let e = error_of(&SITE.replace("dpd_delay", "dpd_dlay"));
        assert!(e.contains("line"), "{e}");
    }

    /// A second connection `other` (peer 192.0.2.3, LAN 10.3.0.0/24) after [`SITE`].
    fn two(extra: &str) -> String {
        format!(
            r#"{SITE}
[connections.other]
local_addrs = "192.0.2.2"
remote_addrs = "192.0.2.3"
psk_file = "psk.txt"
{extra}
[connections.other.children.net]
local_ts = "10.2.0.0/24"
remote_ts = "10.3.0.0/24"
"#
        )
    }

    #[test]
    fn several_connections() {
        let c = parse(&two(""), &dir_with_psk("two")).unwrap();
        let names: Vec<&str> = c.conns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["other", "site"]);
        assert_eq!(
            c.conns[0].remote,
            Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 3)))
        );
        assert_eq!(c.conns[0].child.remote_ts.to_string(), "10.3.0.0/24");
        assert_eq!(c.conns[0].ike, [IkeSuite::AES128GCM_SHA256_X25519]);
    }

    #[test]
    fn connections_as_an_array_of_tables() {
        let list = r#"
[[connections]]
name = "east"
local_addrs = "192.0.2.2"
remote_addrs = "192.0.2.1"
psk_file = "psk.txt"
children.net = { local_ts = "10.2.0.0/24", remote_ts = "10.1.0.0/24" }

[[connections]]
name = "west"
local_addrs = "192.0.2.2"
remote_addrs = "192.0.2.3"
psk_file = "psk.txt"
[connections.children.net]
local_ts = "10.2.0.0/24"
remote_ts = "10.3.0.0/24"
"#;
        let c = parse(list, &dir_with_psk("list")).unwrap();
        let names: Vec<&str> = c.conns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["east", "west"]);
        assert_eq!(c.conns[1].child.remote_ts.to_string(), "10.3.0.0/24");
        let e = error_of(&list.replace("\"west\"", "\"east\""));
        assert!(
            e.starts_with(
                "connections[1].name: expected a name no other connection has, found \"east\" again"
            ),
            "{e}"
        );
        let e = error_of(&list.replace("name = \"west\"\n", ""));
        assert!(
            e.starts_with("connections[1].name: expected the connection's name"),
            "{e}"
        );
        let e =
            error_of(&list.replace("remote_ts = \"10.3.0.0/24\"", "remote_ts = \"10.1.0.0/16\""));
        assert!(e.contains("overlaps"), "{e}");
        let e =
            error_of(&SITE.replace("[connections.site]\n", "[connections.site]\nname = \"x\"\n"));
        assert!(
            e.starts_with("connections.site.name: expected no name key"),
            "{e}"
        );
    }

    #[test]
    fn connections_that_cannot_live_together() {
        let e = error_of(&two("").replace("10.3.0.0/24", "10.1.0.128/25"));
        assert!(
            e.starts_with("connections.site.children.net.remote_ts: expected remote addresses no other connection routes"),
            "{e}"
        );
        assert!(
            e.contains("overlaps 10.1.0.128/25 of connections.other.children.net.remote_ts"),
            "{e}"
        );
        let e = error_of(&two("pools = \"10.1.0.0/16\""));
        assert!(
            e.contains("overlaps 10.1.0.0/16 of connections.other.pools"),
            "{e}"
        );
        let e = error_of(&two("").replace("\"192.0.2.3\"", "\"192.0.2.1\""));
        assert!(
            e.starts_with(
                "connections.site.remote_addrs: expected a peer address no other connection has"
            ),
            "{e}"
        );
        let e = error_of(&two("").replacen(
            "local_addrs = \"192.0.2.2\"",
            "local_addrs = \"192.0.2.9\"",
            1,
        ));
        assert!(
            e.starts_with(
                "connections.site.local_addrs: expected the local_addrs of every connection"
            ),
            "{e}"
        );
        let e = error_of(&two("").replace("[connections.other]", "[connections.site]"));
        assert!(
            e.contains("duplicate key") && e.contains("site") && e.contains("line"),
            "{e}"
        );
        let e = error_of(&two("").replace(
            "psk_file = \"psk.txt\"\n\n[connections.other.children",
            "psk_file = \"none.txt\"\n\n[connections.other.children",
        ));
        assert!(
            e.starts_with("connections.other.psk_file: expected a readable file"),
            "{e}"
        );
    }

    #[test]
    fn ipv6_selectors() {
        let v6 = SITE
            .replace("10.2.0.0/24", "fd02::1/64")
            .replace("10.1.0.0/24", "fd01::/64");
        let c = parse(&v6, &dir_with_psk("v6")).unwrap();
        let ch = &c.conns[0].child;
        assert_eq!(ch.local_ts.to_string(), "fd02::/64");
        let AddrRange::V6 { start, end } = ch.remote_ts.selector().range else {
            panic!("not IPv6");
        };
        assert_eq!(std::net::Ipv6Addr::from(start).to_string(), "fd01::");
        assert_eq!(
            std::net::Ipv6Addr::from(end).to_string(),
            "fd01::ffff:ffff:ffff:ffff"
        );
        let e = error_of(&SITE.replace("10.1.0.0/24", "fd01::/64"));
        assert!(
            e.starts_with("connections.site.children.net.remote_ts: expected a prefix of local_ts's family (IPv4)"),
            "{e}"
        );
        let e = error_of(&v6.replace("dpd_delay = 30", "dpd_delay = 30\npools = \"fd09::/64\""));
        assert!(
            e.starts_with("connections.site.pools: expected an IPv4 prefix"),
            "{e}"
        );
        assert!(cidr("k", "fd01::/129").is_err());
        // IPv6 outer addresses: one family per connection, UDP sockets only.
        let outer6 = SITE
            .replace("\"192.0.2.2\"", "\"2001:db8::2\"")
            .replace("\"192.0.2.1\"", "\"2001:db8::1\"");
        let c = parse(&outer6, &dir_with_psk("v6outer")).unwrap();
        assert_eq!(c.conns[0].remote, Some("2001:db8::1".parse().unwrap()));
        let e = error_of(&outer6.replace("\"2001:db8::1\"", "\"192.0.2.1\""));
        assert!(
            e.starts_with(
                "connections.site.remote_addrs: expected one address of local_addrs's family"
            ),
            "{e}"
        );
        let e = error_of(&outer6.replace(
            "tun = \"tst0\"",
            "tun = \"tst0\"\nouter = \"af_packet\"\ninterface = \"veth0\"",
        ));
        assert!(
            e.starts_with("gateway.outer: expected \"udp\" with IPv6 addresses"),
            "{e}"
        );
        assert_eq!(Id::parse("2001:db8::1").id_type, IdType::IPV6_ADDR);
        let a = cidr("k", "fd01::/64").unwrap();
        assert!(a.overlaps(&cidr("k", "fd01::8000/120").unwrap()));
        assert!(!a.overlaps(&cidr("k", "10.0.0.0/8").unwrap()));
        assert!(
            cidr("k", "0.0.0.0/0")
                .unwrap()
                .overlaps(&cidr("k", "10.1.0.0/24").unwrap())
        );
    }

    #[test]
    fn proposals_in_strongswan_syntax() {
        let s = ike_proposal("k", "aes256-sha256-ecp384").unwrap();
        assert_eq!(s, IkeSuite::AES256_SHA256_ECP384);
        assert!(ike_proposal("k", "aes128gcm16-sha256-x25519").is_err());
        assert!(ike_proposal("k", "aes128gcm16-prfsha256").is_err());
        let (e, g) = esp_proposal("k", "aes256-sha256-ecp256-esn").unwrap();
        assert_eq!((e.esn, g), (EsnId::YES, Some(DhGroup::ECP256)));
        assert_eq!(Id::parse("192.0.2.1").data, [192, 0, 2, 1]);
        assert_eq!(Id::parse("@gw").data, b"gw");
    }
}
