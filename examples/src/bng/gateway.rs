//! The `bng` process: opens the ports (AF_XDP, AF_PACKET, or DPDK with the `dpdk`
//! feature), builds the forwarding plane, the PPPoE control plane, AAA, the `CoA`
//! listener and the metrics endpoint, and runs them in one loop until SIGINT/SIGTERM;
//! then ends every session (Accounting-Stop, LCP Terminate-Request and PADT) before
//! exiting.

use std::fs::File;
use std::io::Write as _;
use std::net::Ipv4Addr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bng_dataplane::backend::Backend;
use bng_dataplane::backend::afpacket::{self, Socket};
use bng_dataplane::backend::afxdp;
use bng_dataplane::buffer::Arena;
use bng_dataplane::nodes::nat44::{Direction, Nat44Node};
use bng_nat44::{
    Config as NatConfig, Event as NatEvent, Mapping, Mode, Nat44, PortBlock, Session as NatSession,
    Storage, Subscriber as NatSub,
};
use bng_pppoe::ac::AcConfig;
use bng_pppoe::ppp::lcp::AuthProto;
use bng_pppoe::ppp::session::Config as PppConfig;

use super::aaa::{Aaa, LocalAaa};
use super::caps;
use super::coa::{CoaListener, CoaStats};
use super::config::{AuthMode, AuthProtocol, BackendKind, Config};
use super::ipoe::IpoeCp;
use super::ipoe::service::TAG_BIT as IPOE_TAG_BIT;
use super::metrics::{self, Snapshot};
use super::plane::{GraphPlane, V6Upstream, VlanFilter};
use super::pppoe::{Dhcp6Storage, Policy, PppoeCp, RaConfig};
use super::radius::RadiusAaa;
use super::session::{AddressPools, Ctx, EndCause, Punt, PuntKind, Service, Sessions};
use crate::rng::UrandomRng;

/// Options from the command line.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Overrides both ports' backend.
    pub backend: Option<BackendKind>,
    /// Stop after this long (tests).
    pub duration: Option<Duration>,
}

fn leak(s: &str) -> &'static [u8] {
    Box::leak(s.as_bytes().to_vec().into_boxed_slice())
}

/// Runs the gateway.
///
/// # Errors
/// A message naming what could not start and how to fix it.
pub fn run(cfg: Config, opt: &Options) -> Result<(), String> {
    let set = caps::effective();
    caps::check_afpacket(set)?;
    let want = opt.backend.unwrap_or(cfg.access.backend);
    let use_xdp = match want {
        BackendKind::Dpdk => return run_dpdk(cfg, opt),
        BackendKind::Afpacket => false,
        BackendKind::Afxdp => {
            caps::check_afxdp(set)?;
            true
        }
        BackendKind::Auto => caps::can_afxdp(set),
    };
    if use_xdp {
        let xcfg = afxdp::Config::default();
        match (
            afxdp::Xsk::open(&cfg.access.interface, xcfg),
            afxdp::Xsk::open(&cfg.upstream.interface, xcfg),
        ) {
            (Ok(a), Ok(u)) => {
                tracing::info!(backend = "afxdp", "ports open");
                println!("bng: ports open (afxdp)");
                let (am, um) = (a.mac(), u.mac());
                return run_with(cfg, opt, vec![a, u], am, um, |p| {
                    let _ = afxdp::wait_any(p, Duration::from_millis(5));
                });
            }
            (Err(e), _) | (_, Err(e)) if want == BackendKind::Auto => {
                tracing::warn!(error = %e, "AF_XDP unavailable, falling back to AF_PACKET");
            }
            (Err(e), _) | (_, Err(e)) => {
                return Err(format!(
                    "AF_XDP: {e}: fall back with `backend = \"afpacket\"` (--backend afpacket) or run as root"
                ));
            }
        }
    }
    let a = Socket::open(&cfg.access.interface)
        .map_err(|e| format!("access.interface {}: {e}", cfg.access.interface))?;
    let u = Socket::open(&cfg.upstream.interface)
        .map_err(|e| format!("upstream.interface {}: {e}", cfg.upstream.interface))?;
    tracing::info!(backend = "afpacket", "ports open");
    println!("bng: ports open (afpacket)");
    let (am, um) = (a.mac(), u.mac());
    run_with(cfg, opt, vec![a, u], am, um, |p| {
        let _ = afpacket::wait_any(p, Duration::from_millis(5));
    })
}

/// `backend = "dpdk"`: the EAL from `[dpdk]`, the two ports as DPDK devices named by
/// `access.interface` and `upstream.interface`.
#[cfg(feature = "dpdk")]
fn run_dpdk(cfg: Config, opt: &Options) -> Result<(), String> {
    use bng_dataplane::backend::dpdk;
    let d = cfg
        .dpdk
        .clone()
        .ok_or("dpdk.eal: backend = \"dpdk\" needs a [dpdk] section with the EAL arguments")?;
    let eal: Vec<&str> = d.eal.split_whitespace().collect();
    dpdk::init(&eal).map_err(|e| format!("dpdk.eal: DPDK EAL refused `{}`: {e}", d.eal))?;
    let a = dpdk::DpdkPort::open(&cfg.access.interface).map_err(|e| {
        format!(
            "access.interface {}: no such DPDK device ({e}); name a device of the EAL arguments, e.g. net_af_packet0 with --vdev=net_af_packet0,iface=eth1",
            cfg.access.interface
        )
    })?;
    let u = dpdk::DpdkPort::open(&cfg.upstream.interface).map_err(|e| {
        format!(
            "upstream.interface {}: no such DPDK device ({e})",
            cfg.upstream.interface
        )
    })?;
    tracing::info!(backend = "dpdk", version = %dpdk::version(), "ports open");
    println!("bng: ports open (dpdk, {})", dpdk::version());
    let (am, um) = (a.mac(), u.mac());
    let idle = Duration::from_micros(d.idle_us);
    run_with(cfg, opt, vec![a, u], am, um, move |_| {
        // DPDK ports have no descriptor to sleep on: nap instead of spinning a shared core
        if !idle.is_zero() {
            std::thread::sleep(idle);
        }
    })
}

/// `backend = "dpdk"` in a `bng` built without the `dpdk` feature.
#[cfg(not(feature = "dpdk"))]
fn run_dpdk(_: Config, _: &Options) -> Result<(), String> {
    Err("backend = \"dpdk\": this bng was built without DPDK; build it with `cargo build --release -p bng-examples --features dpdk` (needs libdpdk-dev), or use backend = \"auto\", \"afxdp\" or \"afpacket\"".into())
}

#[allow(
    clippy::too_many_lines,
    reason = "the gateway's setup and loop, read top to bottom"
)]
fn run_with<B: Backend>(
    cfg: Config,
    opt: &Options,
    mut ports: Vec<B>,
    access_mac: [u8; 6],
    up_mac: [u8; 6],
    wait: impl Fn(&[B]),
) -> Result<(), String> {
    let cfg: &'static Config = Box::leak(Box::new(cfg));
    let (up_addr, _) = cfg.upstream.addr().map_err(|e| e.to_string())?;
    // AAA
    let mut aaa: Box<dyn Aaa> = match cfg.auth.mode {
        AuthMode::Local => Box::new(LocalAaa::from_config(cfg).map_err(|e| e.to_string())?),
        AuthMode::Radius => Box::new(RadiusAaa::new(cfg, up_addr)?),
    };
    // NAT44 over storage owned here
    let nat_storage;
    let nat = if cfg.nat.enabled {
        let ncfg = NatConfig {
            mode: Mode::PortBlock(PortBlock {
                pool_first: cfg.nat.pool,
                pool_len: cfg.nat.pool_len,
                block_size: cfg.nat.block_size,
                max_blocks: cfg.nat.max_blocks,
            }),
            ..NatConfig::port_block(cfg.nat.pool, cfg.nat.pool_len)
        };
        let n = cfg.nat.sessions;
        nat_storage = Box::leak(Box::new((
            vec![NatSession::EMPTY; n],
            vec![0u64; Storage::index_len(n, 2)],
            vec![Mapping::EMPTY; n],
            vec![0u64; Storage::index_len(n, 2)],
            vec![NatSub::EMPTY; n],
            vec![0u64; Storage::index_len(n, 1)],
            vec![0u64; ncfg.bitmap_words()],
            vec![None; 4096],
        )));
        let s = &mut *nat_storage;
        let nat = Nat44::new(
            ncfg,
            Storage {
                sessions: &mut s.0,
                session_index: &mut s.1,
                mappings: &mut s.2,
                mapping_index: &mut s.3,
                subscribers: &mut s.4,
                subscriber_index: &mut s.5,
                block_bitmap: &mut s.6,
                events: &mut s.7,
            },
        )
        .map_err(|e| format!("nat: {e}"))?;
        Some(Nat44Node {
            nat,
            now: Duration::ZERO,
            direction: Direction::InToOut,
        })
    } else {
        None
    };
    let mut nat_log = match &cfg.nat.log {
        Some(p) => {
            let path = cfg.resolve(p);
            Some(
                File::options()
                    .create(true)
                    .append(true)
                    .open(&path)
                    .map_err(|e| format!("nat.log {}: {e}", path.display()))?,
            )
        }
        None => None,
    };
    let mut arena = Arena::new(8192);
    let mut pool = arena.pool();
    let mut plane = GraphPlane::new(access_mac, up_mac, up_addr, cfg.upstream.gateway, nat);
    plane.local.push(cfg.pppoe.gateway);
    plane.vlan_filter = Some(VlanFilter {
        untagged: cfg.access.untagged,
        outer: cfg.access.vlans.iter().map(|r| (r.first, r.last)).collect(),
        inner: cfg
            .access
            .inner_vlans
            .iter()
            .map(|r| (r.first, r.last))
            .collect(),
    });
    if cfg.nat.enabled {
        for i in 0..cfg.nat.pool_len {
            plane
                .arp_addrs
                .push(Ipv4Addr::from(u32::from(cfg.nat.pool).wrapping_add(i)));
        }
    }
    // the PPPoE control plane
    let mut ppp_cfg = PppConfig::server(
        match cfg.pppoe.auth {
            AuthProtocol::Chap => AuthProto::ChapMd5,
            AuthProtocol::Pap => AuthProto::Pap,
        },
        leak(&cfg.pppoe.ac_name),
        cfg.pppoe.gateway.octets(),
    );
    ppp_cfg.auth_fallback = true;
    ppp_cfg.mru = cfg.pppoe.mtu;
    ppp_cfg.ipv6 = cfg.pppoe.ipv6;
    ppp_cfg.echo_interval = Duration::from_secs(cfg.pppoe.echo_interval);
    for (d, s) in ppp_cfg.dns.iter_mut().zip(&cfg.dns.v4) {
        *d = s.octets();
    }
    let ppp_cfg: &'static PppConfig<'static> = Box::leak(Box::new(ppp_cfg));
    let mut pppoe = PppoeCp::new(
        AcConfig {
            mac: access_mac,
            ac_name: leak(&cfg.pppoe.ac_name),
            cookie_window: Duration::from_secs(30),
            max_payload: None,
        },
        Policy::new(leak(&cfg.pppoe.service_name)),
        ppp_cfg,
        UrandomRng::new(),
        &cfg.pppoe.pool,
        cfg.pppoe.pd_pool.as_deref(),
        &cfg.access.interface,
    )?
    .with_ra(RaConfig {
        managed: cfg.pppoe.ra_managed,
        other: cfg.pppoe.ra_other,
        interval: Duration::from_secs(cfg.pppoe.ra_interval),
        mtu: cfg.pppoe.mtu,
        dns: cfg.dns.v6.clone(),
        pool: cfg.pppoe.ra_pool.clone(),
    });
    if cfg.pppoe.ipv6 {
        // DHCPv6 over PPP: IA_PD of the sessions' delegated prefixes
        let storage = Box::leak(Box::new(Dhcp6Storage::new(access_mac, 16_384)));
        pppoe = pppoe.with_dhcp6(storage, &cfg.dns.v6)?;
    }
    if let (Some(addr), Some(gateway)) = (cfg.upstream.address6, cfg.upstream.gateway6) {
        plane.v6 = Some(V6Upstream { addr, gateway });
    }
    plane.access_nd.extend(cfg.ipoe.gateway6);
    let mut ipoe = if cfg.ipoe.enabled {
        let c = IpoeCp::from_config(cfg, access_mac)?;
        if let Some(gw) = cfg.ipoe.gateway {
            plane.access_arp.push(gw);
            plane.local.push(gw);
        }
        Some(c)
    } else {
        None
    };
    let mut pools = AddressPools::new(&cfg.pools.v4, &cfg.pools.v6, &cfg.pools.v6_pd);
    let boot = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut sessions = Sessions::new(&format!("{boot:08x}-"));
    let mut coa = match &cfg.coa {
        Some(c) => Some(CoaListener::new(cfg, c)?),
        None => None,
    };
    let snapshot = Arc::new(Mutex::new(Snapshot::default()));
    if let Some(m) = &cfg.metrics {
        metrics::serve(m.listen, Arc::clone(&snapshot))
            .map_err(|e| format!("metrics.listen {}: {e}", m.listen))?;
    }
    let stop = afpacket::stop_flag();
    let start = Instant::now();
    let mut last_metrics = Duration::ZERO;
    let mut radius_hist = metrics::Histogram::default();
    // the PPPoE and IPoE services' next deadlines (see the timers in the loop)
    let mut svc_due = (
        pppoe.poll_timeout(),
        ipoe.as_ref().and_then(Service::poll_timeout),
    );
    println!("bng: ready");
    tracing::info!(access = %cfg.access.interface, upstream = %cfg.upstream.interface, "bng ready");
    loop {
        let now = start.elapsed();
        let stopping = stop.load(Ordering::Relaxed) || opt.duration.is_some_and(|d| now >= d);
        plane.now = now;
        let got = {
            let (a, u) = ports.split_at_mut(1);
            match (a.first_mut(), u.first_mut()) {
                (Some(a), Some(u)) => plane.poll(a, u, &mut pool),
                _ => 0,
            }
        };
        let punts = std::mem::take(&mut plane.punts);
        let mut cx = Ctx {
            now,
            config: cfg,
            plane: &mut plane,
            sessions: &mut sessions,
            aaa: aaa.as_mut(),
            pools: &mut pools,
        };
        for p in &punts {
            let punt = Punt {
                kind: p.kind,
                frame: &p.frame,
                l3_offset: p.l3_offset,
                vlans: p.vlans,
                handle: p.handle,
            };
            match (p.kind, &mut ipoe) {
                (PuntKind::Dhcp4 | PuntKind::Dhcp6, Some(i)) => i.handle_punt(&punt, &mut cx),
                _ => pppoe.handle_punt(&punt, &mut cx),
            }
        }
        cx.aaa.poll(now);
        let mut results = 0_usize;
        while let Some((tag, res)) = cx.aaa.poll_result() {
            results += 1;
            match &mut ipoe {
                Some(i) if tag & IPOE_TAG_BIT != 0 => i.handle_auth(tag, res, &mut cx),
                _ => pppoe.handle_auth(tag, res, &mut cx),
            }
        }
        // Timers, the sans-IO way: each machine's earliest deadline is kept and its
        // `handle_timeout` runs only when that is due. The services' `poll_timeout`
        // and the sessions' scan are O(sessions), so the deadlines are recomputed only
        // after something could have moved them (a punt, an AAA result, a timeout, a
        // CoA request), never per received burst: under forwarding load the loop
        // does no per-session work at all. The sessions' timers (Idle-Timeout with
        // its counters reads, Session-Timeout, interim accounting) have a 1 s
        // resolution (`session::TICK`).
        let mut changed = !punts.is_empty() || results > 0;
        if svc_due.0.is_some_and(|t| t <= now) {
            pppoe.handle_timeout(&mut cx);
            changed = true;
        }
        if let Some(i) = &mut ipoe
            && svc_due.1.is_some_and(|t| t <= now)
        {
            i.handle_timeout(&mut cx);
            changed = true;
        }
        if cx.sessions.poll_timeout().is_some_and(|t| t <= now) {
            for (h, cause) in cx.sessions.handle_timeout(now, &*cx.plane, cx.aaa) {
                tracing::info!(handle = h, cause = ?cause, "session timeout");
                changed = true;
                if !pppoe.disconnect(h, cause, &mut cx)
                    && let Some(i) = &mut ipoe
                {
                    i.disconnect(h, cause, &mut cx);
                }
            }
        }
        if let Some(c) = &mut coa {
            let before = coa_requests(c.stats);
            match &mut ipoe {
                Some(i) => c.poll(&mut cx, &mut [&mut pppoe, i]),
                None => c.poll(&mut cx, &mut [&mut pppoe]),
            }
            changed |= coa_requests(c.stats) != before;
        }
        if changed {
            svc_due = (
                pppoe.poll_timeout(),
                ipoe.as_ref().and_then(Service::poll_timeout),
            );
        }
        if let Some(nat) = plane.nat_mut() {
            if nat.nat.poll_timeout().is_some_and(|t| t <= now) {
                nat.nat.handle_timeout(now);
            }
            while let Some(e) = nat.nat.poll_event() {
                let line = nat_line(&e, boot);
                tracing::debug!(target: "bng::nat44", "{line}");
                if let Some(f) = &mut nat_log {
                    let _ = writeln!(f, "{line}");
                }
            }
        }
        if now.saturating_sub(last_metrics) >= Duration::from_millis(500) || stopping {
            last_metrics = now;
            for l in aaa.take_latencies() {
                radius_hist.observe(l);
            }
            let s = metrics::render(&metrics::Sources {
                plane: &plane,
                sessions: &sessions,
                pppoe: pppoe.stats,
                ac: pppoe.ac_counters(),
                coa: coa.as_ref().map(|c| c.stats),
                radius: &radius_hist,
                pools: &pools,
            });
            if let Ok(mut g) = snapshot.lock() {
                *g = s;
            }
        }
        if stopping {
            break;
        }
        if got == 0 {
            wait(&ports);
        }
    }
    // graceful shutdown: Accounting-Stop, LCP Terminate-Request and PADT for every session
    let now = start.elapsed();
    let handles: Vec<_> = sessions.iter().map(|s| s.handle).collect();
    tracing::info!(sessions = handles.len(), "shutting down");
    {
        let mut cx = Ctx {
            now,
            config: cfg,
            plane: &mut plane,
            sessions: &mut sessions,
            aaa: aaa.as_mut(),
            pools: &mut pools,
        };
        for h in handles {
            if !pppoe.disconnect(h, EndCause::AdminReboot, &mut cx)
                && let Some(i) = &mut ipoe
            {
                i.disconnect(h, EndCause::AdminReboot, &mut cx);
            }
        }
    }
    {
        let (a, u) = ports.split_at_mut(1);
        if let (Some(a), Some(u)) = (a.first_mut(), u.first_mut()) {
            plane.poll(a, u, &mut pool);
        }
    }
    aaa.flush(Duration::from_millis(1500));
    println!("bng: stopped");
    Ok(())
}

/// One compliance-log line: the fields of an RFC 8158 NAT44 port-block event
/// (natEvent, timestamp, inside and outside address, port range).
/// `CoA` / Disconnect requests seen (answered or dropped): a change means sessions may have
/// been disconnected or changed.
fn coa_requests(s: CoaStats) -> u64 {
    s.coa_ack + s.coa_nak + s.disconnect_ack + s.disconnect_nak + s.dropped
}

fn nat_line(e: &NatEvent, boot: u64) -> String {
    let (what, b) = match e {
        NatEvent::BlockAllocated(b) => ("NAT44_PORT_BLOCK_ALLOC", b),
        NatEvent::BlockReleased(b) => ("NAT44_PORT_BLOCK_FREE", b),
        _ => return format!("nat44 {e:?}"),
    };
    format!(
        "natEvent={what} observationTimeSeconds={} sourceIPv4Address={} postNATSourceIPv4Address={} portRangeStart={} portRangeEnd={}",
        boot + b.at.as_secs(),
        b.subscriber,
        b.outside,
        b.ports.first,
        b.ports.last
    )
}
