//! The `bng` gateway's TOML configuration: parsed with serde (unknown keys are errors,
//! so a typo names its key), then validated as a whole ([`Config::validate`]) before
//! anything starts — overlapping pools, unknown pool or profile names, missing or
//! empty secret files — each error naming the key and what was expected.
//!
//! [`DEFAULT`] is the embedded default (`bng --default-config` prints it): local users
//! file, local pools, NAT44, no server needed.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The embedded default configuration: no RADIUS server, a local users file next to
/// the config (`users` = `user password` per line), a local /16 pool, NAT44 to one
/// address. Interfaces are placeholders to edit.
pub const DEFAULT: &str = include_str!("../../bng/default.toml");

/// A configuration error: the key (serde path or our own validation) and what was
/// expected there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The key, dotted (`pools.v4[1].first`), or `(file)` for a file-level error.
    pub key: String,
    /// What is wrong and what was expected.
    pub message: String,
}

impl ConfigError {
    fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "config key `{}`: {}", self.key, self.message)
    }
}

impl std::error::Error for ConfigError {}

/// The packet I/O backend of a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// AF_XDP where the capabilities allow it, else AF_PACKET.
    #[default]
    Auto,
    /// AF_XDP (copy mode) with the XDP redirect program; needs `CAP_NET_ADMIN` + `CAP_BPF`.
    Afxdp,
    /// AF_PACKET raw sockets; needs `CAP_NET_RAW`.
    Afpacket,
    /// DPDK ethdevs (a `bng` built with the `dpdk` cargo feature): the interface names
    /// are DPDK device names (e.g. `net_af_packet0`), the EAL arguments come from
    /// `[dpdk]`. Both ports use it.
    Dpdk,
}

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Identity toward RADIUS.
    #[serde(default)]
    pub nas: Nas,
    /// The subscriber-facing port.
    pub access: Access,
    /// The Internet-facing port.
    pub upstream: Upstream,
    /// PPPoE service.
    #[serde(default)]
    pub pppoe: Pppoe,
    /// IPoE (DHCPv4/DHCPv6) service, run by `bng::ipoe`.
    #[serde(default)]
    pub ipoe: Ipoe,
    /// Authentication: local users file or RADIUS.
    #[serde(default)]
    pub auth: Auth,
    /// Address pools.
    #[serde(default)]
    pub pools: Pools,
    /// DNS servers handed out.
    #[serde(default)]
    pub dns: Dns,
    /// RADIUS servers and accounting.
    #[serde(default)]
    pub radius: Radius,
    /// QoS profiles by name.
    #[serde(default)]
    pub qos: Qos,
    /// NAT44 (CGNAT with port blocks).
    #[serde(default)]
    pub nat: Nat,
    /// The RFC 5176 CoA/Disconnect listener.
    #[serde(default)]
    pub coa: Option<Coa>,
    /// The Prometheus metrics endpoint.
    #[serde(default)]
    pub metrics: Option<Metrics>,
    /// DPDK's EAL, for `backend = "dpdk"`.
    #[serde(default)]
    pub dpdk: Option<Dpdk>,
    /// Where the config was read from (relative paths resolve against its directory).
    #[serde(skip)]
    pub base_dir: PathBuf,
}

/// Identity toward RADIUS (RFC 2865 section 5.4, 5.32).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Nas {
    /// NAS-Identifier.
    #[serde(default = "default_nas_id")]
    pub identifier: String,
    /// NAS-IP-Address (default: the upstream address).
    #[serde(default)]
    pub ip: Option<Ipv4Addr>,
}

impl Default for Nas {
    fn default() -> Self {
        Self {
            identifier: default_nas_id(),
            ip: None,
        }
    }
}

fn default_nas_id() -> String {
    "bngkit".into()
}

/// A VLAN range `first-last` (or one id), 1..=4094.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VlanRange {
    /// First id.
    pub first: u16,
    /// Last id (inclusive).
    pub last: u16,
}

impl VlanRange {
    /// Whether `id` is in the range.
    #[must_use]
    pub fn contains(&self, id: u16) -> bool {
        (self.first..=self.last).contains(&id)
    }
}

impl<'de> Deserialize<'de> for VlanRange {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_vlans(&s).map_err(serde::de::Error::custom)
    }
}

fn parse_vlans(s: &str) -> Result<VlanRange, String> {
    let expected = || format!("`{s}`: expected a VLAN id or range like \"100-199\" (1..=4094)");
    let (a, b) = s.split_once('-').unwrap_or((s, s));
    let first: u16 = a.trim().parse().map_err(|_| expected())?;
    let last: u16 = b.trim().parse().map_err(|_| expected())?;
    if first == 0 || last > 4094 || first > last {
        return Err(expected());
    }
    Ok(VlanRange { first, last })
}

/// The access port.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Access {
    /// Interface name.
    pub interface: String,
    /// Packet I/O backend.
    #[serde(default)]
    pub backend: BackendKind,
    /// Accept untagged subscribers.
    #[serde(default = "yes")]
    pub untagged: bool,
    /// 802.1Q subscriber VLANs (outer tag for QinQ).
    #[serde(default)]
    pub vlans: Vec<VlanRange>,
    /// Inner (C-tag) ranges for QinQ; empty = single-tagged.
    #[serde(default)]
    pub inner_vlans: Vec<VlanRange>,
}

/// The upstream port.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Upstream {
    /// Interface name.
    pub interface: String,
    /// Packet I/O backend.
    #[serde(default)]
    pub backend: BackendKind,
    /// Our address on the upstream link, `a.b.c.d/len`.
    pub address: String,
    /// The next hop (default route), resolved with ARP.
    pub gateway: Ipv4Addr,
    /// Our IPv6 address on the upstream link (answered in Neighbor Discovery); with
    /// `gateway6`, IPoE subscribers' IPv6 (IA_NA addresses, IA_PD prefixes) is routed.
    #[serde(default)]
    pub address6: Option<Ipv6Addr>,
    /// The IPv6 next hop, resolved with Neighbor Solicitation (RFC 4861).
    #[serde(default)]
    pub gateway6: Option<Ipv6Addr>,
}

impl Upstream {
    /// The address and prefix length of [`Upstream::address`].
    ///
    /// # Errors
    /// When it is not `a.b.c.d/len`.
    pub fn addr(&self) -> Result<(Ipv4Addr, u8), ConfigError> {
        parse_v4_prefix(&self.address)
            .ok_or_else(|| ConfigError::new("upstream.address", "expected \"a.b.c.d/len\""))
    }
}

fn parse_v4_prefix(s: &str) -> Option<(Ipv4Addr, u8)> {
    let (a, l) = s.split_once('/')?;
    let l: u8 = l.parse().ok()?;
    (l <= 32).then_some(())?;
    Some((a.parse().ok()?, l))
}

fn parse_v6_prefix(s: &str) -> Option<(Ipv6Addr, u8)> {
    let (a, l) = s.split_once('/')?;
    let l: u8 = l.parse().ok()?;
    (l <= 128).then_some(())?;
    Some((a.parse().ok()?, l))
}

/// The authentication protocol the AC asks for first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthProtocol {
    /// CHAP with MD5 (RFC 1994).
    #[default]
    Chap,
    /// PAP (RFC 1334).
    Pap,
}

/// PPPoE service.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(clippy::struct_excessive_bools, reason = "independent TOML switches")]
pub struct Pppoe {
    /// Run the PPPoE access concentrator.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Service-Name offered (empty: any service requested is accepted).
    #[serde(default)]
    pub service_name: String,
    /// AC-Name.
    #[serde(default = "default_nas_id")]
    pub ac_name: String,
    /// Authentication protocol asked first (the peer may Nak to the other).
    #[serde(default)]
    pub auth: AuthProtocol,
    /// MRU/MTU (1492 over PPPoE).
    #[serde(default = "default_mtu")]
    pub mtu: u16,
    /// Our IPCP address (the subscribers' peer address).
    #[serde(default = "default_ppp_gw")]
    pub gateway: Ipv4Addr,
    /// v4 pool for sessions without a Framed-IP-Address / Framed-Pool.
    #[serde(default = "default_pool_name")]
    pub pool: String,
    /// Delegated-prefix pool (IPv6CP sessions), if any.
    #[serde(default)]
    pub pd_pool: Option<String>,
    /// LCP echo interval, seconds (0: none).
    #[serde(default = "default_echo")]
    pub echo_interval: u64,
    /// Run IPv6CP.
    #[serde(default)]
    pub ipv6: bool,
    /// A `pools.v6_pd` pool of /64s: each IPv6CP session gets one, advertised for SLAAC
    /// in its Router Advertisements (unless RADIUS gives a Framed-IPv6-Prefix).
    #[serde(default)]
    pub ra_pool: Option<String>,
    /// Router Advertisements' M flag (RFC 4861 section 4.2: addresses by DHCPv6).
    #[serde(default)]
    pub ra_managed: bool,
    /// Router Advertisements' O flag (other configuration by DHCPv6).
    #[serde(default)]
    pub ra_other: bool,
    /// Seconds between unsolicited Router Advertisements (RFC 4861 section 6.2.1
    /// `MaxRtrAdvInterval`, 4..=1800); the router lifetime is three times this.
    #[serde(default = "default_ra_interval")]
    pub ra_interval: u64,
}

impl Default for Pppoe {
    fn default() -> Self {
        Self {
            enabled: true,
            service_name: String::new(),
            ac_name: default_nas_id(),
            auth: AuthProtocol::Chap,
            mtu: default_mtu(),
            gateway: default_ppp_gw(),
            pool: default_pool_name(),
            pd_pool: None,
            echo_interval: default_echo(),
            ipv6: false,
            ra_pool: None,
            ra_managed: false,
            ra_other: false,
            ra_interval: default_ra_interval(),
        }
    }
}

fn yes() -> bool {
    true
}
fn default_mtu() -> u16 {
    1492
}
fn default_ppp_gw() -> Ipv4Addr {
    Ipv4Addr::new(100, 64, 0, 1)
}
fn default_pool_name() -> String {
    "default".into()
}
fn default_echo() -> u64 {
    30
}
fn default_ra_interval() -> u64 {
    200
}

/// IPoE service (DHCPv4 server/relay with option 82, DHCPv6 IA_NA/IA_PD), run by
/// `bng::ipoe`. The IPoE module's owner may add keys here (all with defaults).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ipoe {
    /// Run IPoE.
    #[serde(default)]
    pub enabled: bool,
    /// Our address toward IPoE subscribers (DHCP server identifier, their router).
    #[serde(default)]
    pub gateway: Option<Ipv4Addr>,
    /// v4 pool name.
    #[serde(default)]
    pub pool: Option<String>,
    /// Lease time, seconds.
    #[serde(default)]
    pub lease_secs: Option<u32>,
    /// Trust option 82 from relays and key subscribers by circuit-id.
    #[serde(default)]
    pub option82: bool,
    /// Authenticate subscribers through AAA (user name = MAC or circuit-id).
    #[serde(default)]
    pub authenticate: bool,
    /// DHCPv6: IA_NA address pool name (`pools.v6`).
    #[serde(default)]
    pub v6_pool: Option<String>,
    /// DHCPv6: IA_PD pool name (`pools.v6_pd`).
    #[serde(default)]
    pub pd_pool: Option<String>,
    /// An IPv6 address we answer Neighbor Solicitations for on the access port (the
    /// subscribers' IPv6 router, e.g. `fe80::1`), besides our EUI-64 link-local.
    #[serde(default)]
    pub gateway6: Option<Ipv6Addr>,
}

/// Where users are authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    /// The local users file.
    #[default]
    Local,
    /// The RADIUS servers.
    Radius,
}

/// Authentication.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Auth {
    /// Local or RADIUS.
    #[serde(default)]
    pub mode: AuthMode,
    /// Local users: one `user password [profile]` per line, `#` comments.
    #[serde(default = "default_users")]
    pub users_file: PathBuf,
}

impl Default for Auth {
    fn default() -> Self {
        Self {
            mode: AuthMode::Local,
            users_file: default_users(),
        }
    }
}

fn default_users() -> PathBuf {
    "users".into()
}

/// A v4 pool `first..=last`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct V4Pool {
    /// Name (RADIUS Framed-Pool selects it).
    pub name: String,
    /// First address.
    pub first: Ipv4Addr,
    /// Last address.
    pub last: Ipv4Addr,
}

/// A v6 prefix pool: `prefix` carved into `/length` pieces.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct V6Pool {
    /// Name.
    pub name: String,
    /// The covering prefix, `2001:db8::/40`.
    pub prefix: String,
    /// Length of each delegated prefix (or 128 for addresses).
    pub length: u8,
}

impl V6Pool {
    /// The parsed covering prefix.
    #[must_use]
    pub fn parsed(&self) -> Option<(Ipv6Addr, u8)> {
        parse_v6_prefix(&self.prefix)
    }
}

/// Address pools.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pools {
    /// IPv4 address pools.
    #[serde(default)]
    pub v4: Vec<V4Pool>,
    /// IPv6 address pools (DHCPv6 IA_NA).
    #[serde(default)]
    pub v6: Vec<V6Pool>,
    /// Delegated-prefix pools (DHCPv6 IA_PD, Delegated-IPv6-Prefix).
    #[serde(default)]
    pub v6_pd: Vec<V6Pool>,
}

/// DNS servers.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dns {
    /// IPv4 (up to two go into IPCP, RFC 1877).
    #[serde(default)]
    pub v4: Vec<Ipv4Addr>,
    /// IPv6.
    #[serde(default)]
    pub v6: Vec<Ipv6Addr>,
}

/// One RADIUS server.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RadiusServer {
    /// Authentication address, `ip:port`.
    pub auth: SocketAddr,
    /// Accounting address (default: auth port + 1).
    #[serde(default)]
    pub acct: Option<SocketAddr>,
    /// File holding the shared secret (first line, trimmed).
    pub secret_file: PathBuf,
    /// Per-try timeout, milliseconds.
    #[serde(default = "default_timeout")]
    pub timeout_ms: u64,
    /// Retransmissions before the next server.
    #[serde(default = "default_retries")]
    pub retries: u8,
}

fn default_timeout() -> u64 {
    1000
}
fn default_retries() -> u8 {
    3
}

/// RADIUS.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Radius {
    /// Servers in failover order.
    #[serde(default)]
    pub servers: Vec<RadiusServer>,
    /// Send accounting (Start/Interim/Stop) to the servers.
    #[serde(default = "yes")]
    pub accounting: bool,
    /// Default Acct-Interim-Interval, seconds (RADIUS may override; 0: none).
    #[serde(default = "default_interim")]
    pub interim_interval: u64,
}

impl Default for Radius {
    fn default() -> Self {
        Self {
            servers: Vec::new(),
            accounting: true,
            interim_interval: default_interim(),
        }
    }
}

fn default_interim() -> u64 {
    300
}

/// A QoS profile: a token bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QosProfile {
    /// Downstream rate, bits/s.
    pub down: u64,
    /// Upstream rate, bits/s (default: as downstream).
    #[serde(default)]
    pub up: Option<u64>,
    /// Burst, bytes (default: 100 ms at the rate).
    #[serde(default)]
    pub burst: Option<u64>,
}

impl QosProfile {
    /// The burst in bytes.
    #[must_use]
    pub fn burst_bytes(&self) -> u64 {
        self.burst.unwrap_or(self.down / 80)
    }
}

/// QoS profiles.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Qos {
    /// Profile for sessions that get none from AAA.
    #[serde(default)]
    pub default_profile: Option<String>,
    /// Profiles by name (RADIUS Filter-Id or the users file selects one).
    #[serde(default)]
    pub profiles: BTreeMap<String, QosProfile>,
}

/// NAT44.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Nat {
    /// Translate subscribers' traffic upstream.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// First outside address.
    #[serde(default = "default_nat_pool")]
    pub pool: Ipv4Addr,
    /// Outside addresses.
    #[serde(default = "one")]
    pub pool_len: u32,
    /// Ports per block (a power of two, 64..=32768).
    #[serde(default = "default_block")]
    pub block_size: u16,
    /// Blocks a subscriber may hold.
    #[serde(default = "default_max_blocks")]
    pub max_blocks: u8,
    /// Sessions (translation table size).
    #[serde(default = "default_nat_sessions")]
    pub sessions: usize,
    /// Compliance log: block allocations and releases (RFC 8158 fields), appended.
    #[serde(default)]
    pub log: Option<PathBuf>,
}

impl Default for Nat {
    fn default() -> Self {
        Self {
            enabled: true,
            pool: default_nat_pool(),
            pool_len: 1,
            block_size: default_block(),
            max_blocks: default_max_blocks(),
            sessions: default_nat_sessions(),
            log: None,
        }
    }
}

fn default_nat_pool() -> Ipv4Addr {
    Ipv4Addr::new(203, 0, 113, 1)
}
fn one() -> u32 {
    1
}
fn default_block() -> u16 {
    512
}
fn default_max_blocks() -> u8 {
    4
}
fn default_nat_sessions() -> usize {
    65536
}

/// The CoA/Disconnect listener.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Coa {
    /// Listen address (port 3799).
    pub listen: SocketAddr,
    /// Clients allowed to send requests: address and secret file.
    pub clients: Vec<CoaClient>,
}

/// A `CoA` client.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoaClient {
    /// Its source address.
    pub address: std::net::IpAddr,
    /// File holding the shared secret.
    pub secret_file: PathBuf,
}

/// The metrics endpoint.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metrics {
    /// Listen address (`GET /metrics`).
    pub listen: SocketAddr,
}

/// DPDK (`backend = "dpdk"`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dpdk {
    /// EAL arguments, split at spaces (e.g. `--no-huge -m 512 --no-pci
    /// --vdev=net_af_packet0,iface=eth1 --vdev=net_af_packet1,iface=eth2`).
    pub eal: String,
    /// Microseconds the loop naps when a poll found nothing (0: busy polling).
    #[serde(default = "default_idle_us")]
    pub idle_us: u64,
}

const fn default_idle_us() -> u64 {
    50
}

/// A parsed local user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalUser {
    /// User name.
    pub user: String,
    /// Password (PAP) / secret (CHAP).
    pub password: String,
    /// QoS profile name.
    pub profile: Option<String>,
}

impl Config {
    /// Parses `text` (read from `path`, for relative paths and messages) and validates it.
    ///
    /// # Errors
    /// The first problem: the key and what was expected.
    pub fn parse(text: &str, base_dir: &Path) -> Result<Self, ConfigError> {
        let mut c: Self = toml::from_str(text).map_err(|e| {
            let msg = e.message().to_string();
            let key = e.span().map_or_else(
                || "(file)".to_string(),
                |sp| {
                    let before = text.get(..sp.start).unwrap_or("");
                    let line = before.lines().count().max(1);
                    // the table the error is in: the nearest `[header]` above it
                    let table = before
                        .lines()
                        .rev()
                        .map(str::trim)
                        .find(|l| l.starts_with('['))
                        .map(|h| h.trim_matches(|c| c == '[' || c == ']').to_string());
                    // the key on the error's line (`key = value`)
                    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
                    let field = text
                        .get(line_start..)
                        .and_then(|l| l.lines().next())
                        .and_then(|l| l.split_once('='))
                        .map(|(k, _)| k.trim().to_string())
                        .filter(|k| !k.is_empty() && !k.starts_with('['));
                    match (table, field) {
                        (Some(t), Some(f)) => format!("{t}.{f} (line {line})"),
                        (Some(t), None) => format!("{t} (line {line})"),
                        (None, Some(f)) => format!("{f} (line {line})"),
                        (None, None) => format!("(line {line})"),
                    }
                },
            );
            ConfigError::new(key, msg)
        })?;
        c.base_dir = base_dir.to_path_buf();
        c.validate()?;
        Ok(c)
    }

    /// The embedded default ([`DEFAULT`]) as parsed, without the checks that need
    /// files (the users file): for in-process uses such as `lab`.
    ///
    /// # Panics
    /// Never: the embedded text is tested to parse.
    #[must_use]
    #[allow(
        clippy::expect_used,
        reason = "the embedded default is tested to parse"
    )]
    pub fn embedded_default() -> Self {
        toml::from_str(DEFAULT).expect("the embedded default parses")
    }

    /// Reads and validates the file at `path`.
    ///
    /// # Errors
    /// Unreadable file or any [`Config::parse`] error.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::new("(file)", format!("{}: {e}", path.display())))?;
        Self::parse(&text, path.parent().unwrap_or(Path::new(".")))
    }

    /// `p` relative to the config's directory.
    #[must_use]
    pub fn resolve(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base_dir.join(p)
        }
    }

    /// Reads a secret file: the first line, trimmed, must not be empty.
    ///
    /// # Errors
    /// Missing, unreadable or empty file, under `key`.
    pub fn read_secret(&self, key: &str, p: &Path) -> Result<Vec<u8>, ConfigError> {
        let path = self.resolve(p);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            ConfigError::new(
                key,
                format!(
                    "secret file {}: {e} (expected a file holding the shared secret)",
                    path.display()
                ),
            )
        })?;
        let s = text.lines().next().unwrap_or("").trim();
        if s.is_empty() {
            return Err(ConfigError::new(
                key,
                format!("secret file {} is empty", path.display()),
            ));
        }
        Ok(s.as_bytes().to_vec())
    }

    /// Reads the local users file.
    ///
    /// # Errors
    /// Unreadable file or a malformed line (`auth.users_file` and the line number).
    pub fn read_users(&self) -> Result<Vec<LocalUser>, ConfigError> {
        let path = self.resolve(&self.auth.users_file);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            ConfigError::new(
                "auth.users_file",
                format!(
                    "{}: {e} (expected `user password [profile]` lines)",
                    path.display()
                ),
            )
        })?;
        parse_users(&text).map_err(|(line, m)| {
            ConfigError::new(
                "auth.users_file",
                format!("{} line {line}: {m}", path.display()),
            )
        })
    }

    /// A v4 pool by name.
    #[must_use]
    pub fn v4_pool(&self, name: &str) -> Option<&V4Pool> {
        self.pools.v4.iter().find(|p| p.name == name)
    }

    /// Checks the configuration as a whole.
    ///
    /// # Errors
    /// The first problem found.
    #[allow(clippy::too_many_lines, reason = "one check after another")]
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.access.interface.is_empty() {
            return Err(ConfigError::new(
                "access.interface",
                "expected an interface name",
            ));
        }
        if self.upstream.interface.is_empty() {
            return Err(ConfigError::new(
                "upstream.interface",
                "expected an interface name",
            ));
        }
        if self.access.interface == self.upstream.interface {
            return Err(ConfigError::new(
                "upstream.interface",
                "must differ from access.interface",
            ));
        }
        if self.upstream.address6.is_some() != self.upstream.gateway6.is_some() {
            return Err(ConfigError::new(
                "upstream.gateway6",
                "IPv6 forwarding needs both upstream.address6 and upstream.gateway6",
            ));
        }
        let dpdk = [self.access.backend, self.upstream.backend].map(|b| b == BackendKind::Dpdk);
        if dpdk[0] != dpdk[1] {
            return Err(ConfigError::new(
                "upstream.backend",
                "backend = \"dpdk\" must be set on both ports (access and upstream)",
            ));
        }
        if dpdk[0] && self.dpdk.is_none() {
            return Err(ConfigError::new(
                "dpdk.eal",
                "backend = \"dpdk\" needs a [dpdk] section with the EAL arguments (eal = \"--no-huge ...\")",
            ));
        }
        if !self.access.untagged && self.access.vlans.is_empty() {
            return Err(ConfigError::new(
                "access.vlans",
                "untagged = false needs at least one VLAN range",
            ));
        }
        check_ranges("access.vlans", &self.access.vlans)?;
        check_ranges("access.inner_vlans", &self.access.inner_vlans)?;
        let (up_addr, _) = self.upstream.addr()?;
        // pools: well-formed, unique names, no overlaps
        let mut names = std::collections::HashSet::new();
        for (i, p) in self.pools.v4.iter().enumerate() {
            let key = format!("pools.v4[{i}]");
            if !names.insert(p.name.clone()) {
                return Err(ConfigError::new(
                    format!("{key}.name"),
                    format!("duplicate pool name `{}`", p.name),
                ));
            }
            if u32::from(p.first) > u32::from(p.last) {
                return Err(ConfigError::new(
                    format!("{key}.last"),
                    format!("{} is before first {}", p.last, p.first),
                ));
            }
            for (j, q) in self.pools.v4.iter().enumerate().take(i) {
                if u32::from(p.first) <= u32::from(q.last)
                    && u32::from(q.first) <= u32::from(p.last)
                {
                    return Err(ConfigError::new(
                        key,
                        format!(
                            "{}-{} overlaps pools.v4[{j}] `{}` ({}-{})",
                            p.first, p.last, q.name, q.first, q.last
                        ),
                    ));
                }
            }
            for (what, a) in [
                ("pppoe.gateway", self.pppoe.gateway),
                ("upstream.address", up_addr),
            ] {
                if (u32::from(p.first)..=u32::from(p.last)).contains(&u32::from(a)) {
                    return Err(ConfigError::new(key, format!("contains {what} {a}")));
                }
            }
        }
        for (list, pools) in [
            ("pools.v6", &self.pools.v6),
            ("pools.v6_pd", &self.pools.v6_pd),
        ] {
            let mut parsed: Vec<(u128, u128)> = Vec::new();
            for (i, p) in pools.iter().enumerate() {
                let key = format!("{list}[{i}]");
                if !names.insert(p.name.clone()) {
                    return Err(ConfigError::new(
                        format!("{key}.name"),
                        format!("duplicate pool name `{}`", p.name),
                    ));
                }
                let Some((a, l)) = p.parsed() else {
                    return Err(ConfigError::new(
                        format!("{key}.prefix"),
                        "expected \"2001:db8::/40\"",
                    ));
                };
                if p.length < l || p.length > 128 {
                    return Err(ConfigError::new(
                        format!("{key}.length"),
                        format!("expected {l}..=128 (not shorter than the prefix /{l})"),
                    ));
                }
                let mask = if l == 0 {
                    0
                } else {
                    u128::MAX << (128 - u32::from(l))
                };
                let lo = u128::from(a) & mask;
                let hi = lo | !mask;
                if let Some(j) = parsed.iter().position(|&(x, y)| lo <= y && x <= hi) {
                    return Err(ConfigError::new(key, format!("overlaps {list}[{j}]")));
                }
                parsed.push((lo, hi));
            }
        }
        let pool_ref = |key: &str, name: &str, list: &[V6Pool]| -> Result<(), ConfigError> {
            if list.iter().any(|p| p.name == name) {
                Ok(())
            } else {
                Err(ConfigError::new(
                    key,
                    format!("no pool named `{name}` in the right list"),
                ))
            }
        };
        if self.pppoe.enabled {
            if self.v4_pool(&self.pppoe.pool).is_none() && self.auth.mode == AuthMode::Local {
                return Err(ConfigError::new(
                    "pppoe.pool",
                    format!("no pools.v4 entry named `{}`", self.pppoe.pool),
                ));
            }
            if let Some(pd) = &self.pppoe.pd_pool {
                pool_ref("pppoe.pd_pool", pd, &self.pools.v6_pd)?;
            }
            if let Some(name) = &self.pppoe.ra_pool {
                pool_ref("pppoe.ra_pool", name, &self.pools.v6_pd)?;
                if !self.pppoe.ipv6 {
                    return Err(ConfigError::new(
                        "pppoe.ra_pool",
                        "needs pppoe.ipv6 = true (the prefix is advertised once IPv6CP is up)",
                    ));
                }
                if let Some(p) = self.pools.v6_pd.iter().find(|p| &p.name == name)
                    && p.length != 64
                {
                    return Err(ConfigError::new(
                        "pppoe.ra_pool",
                        format!(
                            "pool `{name}` hands out /{} prefixes, expected /64 (SLAAC, RFC 4862 section 5.5.3)",
                            p.length
                        ),
                    ));
                }
            }
            if !(4..=1800).contains(&self.pppoe.ra_interval) {
                return Err(ConfigError::new(
                    "pppoe.ra_interval",
                    "expected 4..=1800 seconds (RFC 4861 section 6.2.1)",
                ));
            }
            if !(576..=1500).contains(&self.pppoe.mtu) {
                return Err(ConfigError::new("pppoe.mtu", "expected 576..=1500"));
            }
        }
        if self.ipoe.enabled {
            if let Some(p) = &self.ipoe.pool
                && self.v4_pool(p).is_none()
            {
                return Err(ConfigError::new(
                    "ipoe.pool",
                    format!("no pools.v4 entry named `{p}`"),
                ));
            }
            if let Some(p) = &self.ipoe.v6_pool {
                pool_ref("ipoe.v6_pool", p, &self.pools.v6)?;
            }
            if let Some(p) = &self.ipoe.pd_pool {
                pool_ref("ipoe.pd_pool", p, &self.pools.v6_pd)?;
            }
        }
        match self.auth.mode {
            AuthMode::Local => {
                self.read_users()?;
            }
            AuthMode::Radius => {
                if self.radius.servers.is_empty() {
                    return Err(ConfigError::new(
                        "radius.servers",
                        "auth.mode = \"radius\" needs at least one [[radius.servers]]",
                    ));
                }
            }
        }
        for (i, s) in self.radius.servers.iter().enumerate() {
            self.read_secret(&format!("radius.servers[{i}].secret_file"), &s.secret_file)?;
            if s.timeout_ms == 0 || s.timeout_ms > 60_000 {
                return Err(ConfigError::new(
                    format!("radius.servers[{i}].timeout_ms"),
                    "expected 1..=60000",
                ));
            }
        }
        for (name, p) in &self.qos.profiles {
            if p.down == 0 || p.up == Some(0) {
                return Err(ConfigError::new(
                    format!("qos.profiles.{name}"),
                    "rates are bits/s and must be > 0",
                ));
            }
        }
        if let Some(d) = &self.qos.default_profile
            && !self.qos.profiles.contains_key(d)
        {
            return Err(ConfigError::new(
                "qos.default_profile",
                format!("no qos.profiles.{d}"),
            ));
        }
        if self.nat.enabled {
            let b = self.nat.block_size;
            if !b.is_power_of_two() || !(64..=32768).contains(&b) {
                return Err(ConfigError::new(
                    "nat.block_size",
                    format!("{b}: expected a power of two in 64..=32768"),
                ));
            }
            if self.nat.pool_len == 0 || self.nat.max_blocks == 0 || self.nat.sessions < 16 {
                return Err(ConfigError::new(
                    "nat",
                    "pool_len and max_blocks must be > 0, sessions >= 16",
                ));
            }
            let first = u32::from(self.nat.pool);
            let last = first.saturating_add(self.nat.pool_len - 1);
            if let Some(p) = self
                .pools
                .v4
                .iter()
                .find(|p| first <= u32::from(p.last) && u32::from(p.first) <= last)
            {
                return Err(ConfigError::new(
                    "nat.pool",
                    format!("overlaps subscriber pool `{}`", p.name),
                ));
            }
            if let Some(l) = &self.nat.log {
                let path = self.resolve(l);
                let dir = path.parent().unwrap_or(Path::new("."));
                if !dir.as_os_str().is_empty() && !dir.is_dir() {
                    return Err(ConfigError::new(
                        "nat.log",
                        format!("directory {} does not exist", dir.display()),
                    ));
                }
            }
        }
        if let Some(c) = &self.coa {
            if c.clients.is_empty() {
                return Err(ConfigError::new(
                    "coa.clients",
                    "expected at least one client",
                ));
            }
            for (i, cl) in c.clients.iter().enumerate() {
                self.read_secret(&format!("coa.clients[{i}].secret_file"), &cl.secret_file)?;
            }
        }
        Ok(())
    }
}

fn check_ranges(key: &str, r: &[VlanRange]) -> Result<(), ConfigError> {
    for (i, a) in r.iter().enumerate() {
        for (j, b) in r.iter().enumerate().take(i) {
            if a.first <= b.last && b.first <= a.last {
                return Err(ConfigError::new(
                    format!("{key}[{i}]"),
                    format!("overlaps {key}[{j}]"),
                ));
            }
        }
    }
    Ok(())
}

/// Parses a users file: `user password [profile]` per line, `#` comments.
///
/// # Errors
/// The 1-based line number and what is wrong.
pub fn parse_users(text: &str) -> Result<Vec<LocalUser>, (usize, String)> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let mut w = line.split_whitespace();
        let (Some(user), Some(password)) = (w.next(), w.next()) else {
            return Err((i + 1, "expected `user password [profile]`".into()));
        };
        let profile = w.next().map(str::to_string);
        if w.next().is_some() {
            return Err((
                i + 1,
                "too many fields: expected `user password [profile]`".into(),
            ));
        }
        out.push(LocalUser {
            user: user.into(),
            password: password.into(),
            profile,
        });
    }
    Ok(out)
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "tests"
)]
mod tests {
    use super::*;

    fn dir_with(files: &[(&str, &str)]) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "bng-config-test-{}-{}",
            std::process::id(),
            files.len() * 7 + files.first().map_or(0, |f| f.1.len())
        ));
        std::fs::create_dir_all(&d).unwrap();
        for (n, t) in files {
            std::fs::write(d.join(n), t).unwrap();
        }
        d
    }

    #[test]
    fn default_config_is_valid() {
        let d = dir_with(&[("users", "alice secret\n")]);
        let c = Config::parse(DEFAULT, &d).unwrap();
        assert_eq!(c.auth.mode, AuthMode::Local);
        assert!(c.nat.enabled);
        assert_eq!(c.read_users().unwrap()[0].user, "alice");
    }

    #[test]
    fn unknown_key_is_named() {
        let d = dir_with(&[("users", "a b\n")]);
        let text = DEFAULT.replace("[pppoe]", "[pppoe]\nservce_name = \"x\"");
        let e = Config::parse(&text, &d).unwrap_err();
        assert!(e.message.contains("servce_name"), "{e}");
        assert!(e.key.starts_with("pppoe.servce_name (line"), "{e}");
    }

    #[test]
    fn overlapping_pools_rejected() {
        let d = dir_with(&[("users", "a b\n")]);
        let text = format!(
            "{DEFAULT}\n[[pools.v4]]\nname = \"other\"\nfirst = \"100.64.1.0\"\nlast = \"100.64.1.9\"\n"
        );
        let e = Config::parse(&text, &d).unwrap_err();
        assert_eq!(e.key, "pools.v4[1]", "{e}");
        assert!(e.message.contains("overlaps"), "{e}");
    }

    #[test]
    fn ra_pool_must_hand_out_64s_and_needs_ipv6cp() {
        let d = dir_with(&[("users", "a b\n")]);
        let with = |pppoe: &str, length: u8| {
            let text = DEFAULT.replacen(
                "pool = \"default\"\n",
                &format!("pool = \"default\"\n{pppoe}"),
                1,
            ) + &format!(
                "\n[[pools.v6_pd]]\nname = \"ra\"\nprefix = \"2001:db8:1000::/48\"\nlength = {length}\n"
            );
            Config::parse(&text, &d)
        };
        let e = with("ipv6 = true\nra_pool = \"ra\"\n", 56).unwrap_err();
        assert_eq!(e.key, "pppoe.ra_pool", "{e}");
        assert!(
            e.message.contains("/56") && e.message.contains("/64"),
            "{e}"
        );
        let e = with("ra_pool = \"ra\"\n", 64).unwrap_err();
        assert!(e.message.contains("pppoe.ipv6"), "{e}");
        let e = with("ipv6 = true\nra_pool = \"nope\"\n", 64).unwrap_err();
        assert_eq!(e.key, "pppoe.ra_pool", "{e}");
        let e = with("ipv6 = true\nra_interval = 2\n", 64).unwrap_err();
        assert_eq!(e.key, "pppoe.ra_interval", "{e}");
        let c = with("ipv6 = true\nra_pool = \"ra\"\nra_managed = true\n", 64).unwrap();
        assert_eq!(c.pppoe.ra_pool.as_deref(), Some("ra"));
        assert!(c.pppoe.ra_managed && !c.pppoe.ra_other);
        assert_eq!(c.pppoe.ra_interval, 200);
    }

    #[test]
    fn missing_secret_file_named() {
        let d = dir_with(&[("users", "a b\n"), ("x", "")]);
        let text = DEFAULT.replace("mode = \"local\"", "mode = \"radius\"")
            + "\n[[radius.servers]]\nauth = \"127.0.0.1:1812\"\nsecret_file = \"nope\"\n";
        let e = Config::parse(&text, &d).unwrap_err();
        assert_eq!(e.key, "radius.servers[0].secret_file", "{e}");
    }

    #[test]
    fn dpdk_backend_needs_both_ports_and_the_eal() {
        let d = dir_with(&[("users", "a b\n")]);
        let both = DEFAULT.replace("backend = \"auto\"", "backend = \"dpdk\"");
        let e = Config::parse(&both, &d).unwrap_err();
        assert_eq!(e.key, "dpdk.eal", "{e}");
        let ok = format!("{both}\n[dpdk]\neal = \"--no-huge -m 512\"\n");
        let c = Config::parse(&ok, &d).unwrap();
        assert_eq!(c.access.backend, BackendKind::Dpdk);
        assert_eq!(c.dpdk.unwrap().idle_us, 50);
        let one = DEFAULT.replacen("backend = \"auto\"", "backend = \"dpdk\"", 1);
        let e = Config::parse(&format!("{one}\n[dpdk]\neal = \"\"\n"), &d).unwrap_err();
        assert_eq!(e.key, "upstream.backend", "{e}");
    }

    #[test]
    fn bad_vlan_and_block_size() {
        let d = dir_with(&[("users", "a b\n")]);
        let text = DEFAULT.replace("untagged = true", "untagged = true\nvlans = [\"5000\"]");
        let e = Config::parse(&text, &d).unwrap_err();
        assert!(e.message.contains("VLAN"), "{e}");
        let text = DEFAULT.replace("block_size = 512", "block_size = 500");
        let e = Config::parse(&text, &d).unwrap_err();
        assert_eq!(e.key, "nat.block_size", "{e}");
    }

    #[test]
    fn example_configs_parse() {
        let c: Config = toml::from_str(include_str!("../../bng/radius.toml")).unwrap();
        assert_eq!(c.auth.mode, AuthMode::Radius);
        assert_eq!(c.radius.servers.len(), 2);
        assert_eq!(c.qos.profiles["gold"].burst_bytes(), 2_500_000);
        assert!(c.coa.is_some() && c.metrics.is_some());
        let d: Config = toml::from_str(DEFAULT).unwrap();
        assert_eq!(d.access.backend, BackendKind::Auto);
    }

    #[test]
    fn users_file_lines() {
        let u = parse_users("# c\nalice pw gold\n\nbob pw2 # x\n").unwrap();
        assert_eq!(u.len(), 2);
        assert_eq!(u[0].profile.as_deref(), Some("gold"));
        assert_eq!(parse_users("alice\n").unwrap_err().0, 1);
    }
}
