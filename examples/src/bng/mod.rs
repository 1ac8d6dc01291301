//! The `bng` gateway: PPPoE and IPoE subscriber termination over the dataplane, with
//! AAA (local users file or RADIUS), accounting, CoA/Disconnect, NAT44 and metrics.
//!
//! Layout:
//! - [`config`]: the TOML configuration and its validation;
//! - [`session`]: the session-manager interface the control planes share (subscriber
//!   records, the [`session::Forwarding`] plane interface, pools, the registry that
//!   runs accounting and timeouts, the [`session::Service`] trait);
//! - [`aaa`]: the [`aaa::Aaa`] trait and the local users file;
//! - [`pppoe`]: the PPPoE control plane (access concentrator + PPP server sessions);
//! - `ipoe`: the IPoE control plane (DHCPv4 with option 82, DHCPv6 IA_NA/IA_PD);
//! - [`caps`]: capability checks with the fix spelled out;
//! - [`radius`]: RADIUS AAA (Access-Request PAP/CHAP, accounting) over UDP sockets;
//! - [`coa`]: the RFC 5176 `CoA`/Disconnect listener;
//! - [`plane`]: the forwarding plane over the dataplane's nodes ([`session::Forwarding`]);
//! - [`metrics`]: Prometheus text on `GET /metrics`;
//! - [`gateway`]: the process: ports, loop, graceful shutdown.
//!
//! Example configurations: `examples/bng/default.toml` (embedded, `bng --default-config`)
//! and `examples/bng/radius.toml`. Proven by `examples/tests/bng_pppoe.rs` (pppd in the
//! test VM: PAP and CHAP, local users and FreeRADIUS, NAT44, `CoA`, Disconnect, AF_PACKET
//! and AF_XDP) and the IPoE tests.
//!
//! Relayed IPoE (DHCP relay with option 82, `giaddr` set): such subscribers are routed,
//! their frames come from the relay's MAC, so the plane binds them by source address
//! (anti-spoofing on the leased address and the relay's MAC and VLANs) and sends their
//! downstream to the relay's MAC, learnt from its DHCP frames
//! ([`session::Subscriber::next_hop`]). Proven by `bng_ipoe.rs`
//! (`bng_ipoe_relayed_clients_forward_through_nat44`: ping and iperf3 through ISC
//! dhcrelay, bng and NAT44).
//!
//! VLANs: the access port accepts untagged frames and the configured 802.1Q / QinQ ranges
//! (others are dropped and counted); sessions are keyed by their tags and downstream
//! frames are tagged again. Proven with pppd in the test VM on `eth0.100` and on QinQ
//! `eth0.200.10` (`bng_pppoe.rs`, `bng_pppoe_dot1q_vlan` / `bng_pppoe_qinq_vlan`, over
//! AF_XDP: the AF_PACKET backend does not yet put back the tag the kernel takes out of
//! received frames, `tp_vlan_tci`).
//!
//! Backends: AF_XDP, AF_PACKET, `auto`, and DPDK (`backend = "dpdk"` with a `[dpdk]`
//! section, in a build with the `dpdk` cargo feature; `bng_dpdk.rs`).
//!
//! IPv6: IPoE subscribers' IA_NA addresses and delegated prefixes are routed when
//! `upstream.address6` and `upstream.gateway6` are set (Neighbor Discovery on both
//! ports, anti-spoofing on the address and prefix, no NAT); proven by `bng_ipoe.rs`
//! (`bng_ipoe_ipv6_forwarding`: dhclient -6 -N -P, ping6 from the address and from the
//! prefix to the server).
//!
//! IPv6 of PPPoE subscribers (`pppoe.ipv6`): once IPv6CP opens, [`pppoe`] sends Router
//! Advertisements over the PPP session from `fe80::` and our interface identifier
//! (RFC 4861 section 6.2, RFC 5072 section 5): M/O flags from `pppoe.ra_managed` /
//! `pppoe.ra_other`, the MTU, RDNSS from `dns.v6`, and the link's /64 for SLAAC
//! (RADIUS Framed-IPv6-Prefix, else a /64 from the `pppoe.ra_pool` pool); Router
//! Solicitations are answered, unsolicited RAs repeat every `pppoe.ra_interval`, and
//! disconnect/shutdown sends router lifetime 0. The plane routes PPP protocol 0x0057:
//! upstream with anti-spoofing on the /64 and the delegated prefix, downstream by
//! either prefix into the session (VLAN tags kept), hop limit, ICMPv6 echo to our
//! addresses, IPv6 octets in the accounting counters. Proven by `bng_pppoe.rs`
//! (`bng_pppoe_local_pap`: pppd `+ipv6` in the VM forms a SLAAC address and pings the
//! server's IPv6 address through bng; RAs and the final lifetime-0 RA in tshark).
//!
//! DHCPv6 over PPP (RFC 8415, served when `pppoe.ipv6` is on): `bng-dhcp`'s server with
//! the IPoE service's assigner hands each session its delegated prefix (RADIUS
//! Delegated-IPv6-Prefix, RFC 4818, else `pppoe.pd_pool`) in IA_PD, with DNS (option
//! 23); IA_NA is answered `NoAddrsAvail` (the link's addresses come from SLAAC). The
//! delegated prefix is routed into the session from the start; Renew and Rebind extend
//! its binding, and once the client releases it (RFC 8415 section 18.3.7) or its valid
//! lifetime runs out, it is no longer routed until a new Solicit/Request binds it
//! again (the session stays up).
//!
//! IPv6-only PPP sessions: IPCP and IPv6CP are independent (RFC 1661 section 3.7), so
//! the first NCP to open brings the session up (installed, Accounting-Start once); the
//! IPv4 address reserved at authentication becomes the subscriber's, and is installed
//! (anti-spoofing, downstream encapsulation, so NAT44), only when IPCP opens, and goes
//! back to its pool at the end if it never did (pppd `noip +ipv6`). When IPv6CP opens
//! before IPCP, Accounting-Start has no Framed-IP-Address (Interim and Stop have it).
//! A user with no
//! IPv4 address to give (no Framed-IP-Address, the pool empty or absent) but an IPv6
//! prefix (Framed-IPv6-Prefix, Delegated-IPv6-Prefix, `pppoe.ra_pool`,
//! `pppoe.pd_pool`) with `pppoe.ipv6` on is accepted IPv6-only: its IPCP requests are
//! left unanswered. Proven by unit tests in [`pppoe`] with our PPP client session
//! over the punt path (pppd `noip`, RADIUS IPv6-only, dual stack) and by
//! `bng_pppoe.rs` (`bng_pppoe_ipv6_only_noip`: pppd `noip +ipv6` in the VM, SLAAC,
//! DHCPv6 IA_PD and pings from both, nothing in the NAT44 log).
//!
//! Relayed IPoE IPv6 (DHCPv6 through a relay, RFC 8415 section 19): the Relay-forward's
//! source and MAC become the subscriber's IPv6 next hop
//! ([`session::Subscriber::next_hop6`]); its IA_NA address and delegated prefix are
//! bound by source address (accepted only from the relay's MAC and VLANs) and routed
//! to the relay's MAC.
//!
//! Not yet: one worker thread. The dataplane's `Bng` (workers, lock-free control API)
//! replaces [`plane::GraphPlane`] behind [`session::Forwarding`] once it enforces QoS and
//! punts what the control planes need (ARP resolution of the next hop, DHCPv6).

pub mod aaa;
pub mod caps;
pub mod coa;
pub mod config;
pub mod gateway;
pub mod ipoe;
pub mod metrics;
pub mod plane;
pub mod pppoe;
pub mod radius;
pub mod session;
