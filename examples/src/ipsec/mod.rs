//! The pieces of the `ipsec-gw` example (`src/bin/ipsec-gw.rs`): an IKEv2 + ESP
//! site-to-site / road-warrior gateway built on `bng-ikev2` (key management) and
//! `bng-esp` (the data plane), route-based through a TUN device.
//!
//! - [`cert`]: certificate authentication (RFC 7427 signatures through `bng-ikev2`'s
//!   `Signer`/`Verifier`): PEM files, ECDSA/RSA with `ring`, X.509 with `RustCrypto`'s
//!   `x509-cert` (chosen over `x509-parser`: the same maintainers as the `der`/`spki`
//!   crates the workspace already builds, and fewer new dependencies);
//! - [`config`]: the swanctl-like TOML configuration, checked before anything starts
//!   (`examples/ipsec-gw/site.toml` is the commented example);
//! - [`esp`]: Child SAs installed as `bng-esp` SAs, selector checks, make-before-break
//!   rekeying;
//! - [`outer`]: IKE and ESP-in-UDP over an `AF_PACKET` socket with our own ARP/IPv4/UDP,
//!   or over kernel UDP sockets;
//! - [`tun`]: the TUN device and `poll(2)`.
//!
//! Several connections per process (`[connections.NAME]` tables, or `[[connections]]`
//! with a `name` each; a name given twice is refused): each has its own
//! peer, proposals, PSK file, selectors and pool; a new `IKE_SA_INIT` goes to the
//! connection of its source address (else to the one with `remote_addrs = "%any"`),
//! IKE messages after it by SPI, ESP by SPI, and each connection's remote selector is
//! routed into the one TUN device. The connections share one local address.
//!
//! Proven against strongSwan 5.9 (charon with kernel-libipsec) in
//! `examples/tests/ipsec_gw.rs`: PSK site-to-site in both roles with
//! aes128gcm16-prfsha256-x25519 / aes128gcm16 and aes256-sha256-ecp384 / aes256-sha256,
//! ping and iperf3 between the LANs, Child SA and IKE SA rekeys started by either side
//! under a 20/s ping, Delete on SIGTERM, NAT-T through an nftables masquerade, a
//! road-warrior virtual IP from the pool, DPD with re-initiation after peer loss, IKE
//! fragmentation (RFC 7383) of our `IKE_AUTH` reassembled by strongSwan, and two
//! strongSwan sites served by one process at once (one initiated by each side), one
//! rekeying while both carry a 20/s ping, inner IPv6 selectors, and certificate authentication (a CA and two
//! certificates made with openssl at test time; ECDSA P-256 with strongSwan initiating,
//! RSA-2048 with ipsec-gw initiating); certificate chains and CERTREQ (RFC 7296
//! sections 3.6, 3.7) in both roles: root -> intermediate -> end entity on both sides,
//! strongSwan sending its certificate only because our CERTREQ asks (`send_cert =
//! ifasked`), its CERTREQ picking the second of our two certificates (from two roots);
//! refusals of an expired end entity, an untrusted root and an unknown intermediate,
//! each logged with the certificate and the reason while strongSwan sees
//! `AUTHENTICATION_FAILED` (`examples/ipsec-gw/README.md`, "Certificates").
//!
//! IPv6: a child's `local_ts`/`remote_ts` may be IPv6 prefixes (one family per
//! child), tested with ping6 LAN to LAN in both roles (`ipsec_gw_ipv6_inner`); and
//! `local_addrs`/`remote_addrs` may be IPv6 with the kernel UDP sockets
//! (`ipsec_gw_ipv6_outer`: IKE and ESP-in-UDP over IPv6, both roles).
//!
//! Not served (yet): more than one Child SA per connection or one selector per side
//! (so IPv4 and IPv6 to one peer need two peers' worth of connections); IPv6 outer
//! addresses over `AF_PACKET` (no NDP: use `outer = "udp"`); virtual IPv6 addresses;
//! plain ESP (IP protocol 50): ESP is always UDP-encapsulated on 4500 (RFC 3948),
//! which is what kernel-libipsec before strongSwan 5.9.11 (Debian 12 has 5.9.8) and any
//! peer behind a NAT speak; EAP; certificate revocation (CRL, OCSP), path length, key
//! usage and name constraints; IPv4 reassembly on the `AF_PACKET` outer side (IKE
//! fragmentation, on by default, keeps IKE messages below the MTU instead).
//! `bng-ikev2` does not yet send or report a Delete of a single Child SA (RFC 7296
//! section 1.4.1), so after a rekey the old inbound SA is kept for
//! [`esp::GRACE`] and then dropped locally; when ipsec-gw started the rekey, the peer
//! keeps its copy of the old Child SA until the IKE SA ends.

pub mod cert;
pub mod config;
pub mod esp;
pub mod outer;
pub mod tun;
