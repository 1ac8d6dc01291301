//! Prometheus metrics (text exposition format 0.0.4) on a minimal HTTP/1.1 server:
//! `GET /metrics` on a std `TcpListener` thread, serving the snapshot the gateway's
//! loop renders every half second.

use std::fmt::Write as _;
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::coa::CoaStats;
use super::plane::GraphPlane;
use super::pppoe::Stats as PppoeStats;
use super::session::{AddressPools, Sessions, State};

/// The rendered metrics.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// The exposition text.
    pub text: String,
}

/// RADIUS round-trip histogram (seconds).
#[derive(Debug, Clone)]
pub struct Histogram {
    bounds: Vec<f64>,
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        let bounds = vec![
            0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
        ];
        Self {
            counts: vec![0; bounds.len()],
            bounds,
            sum: 0.0,
            count: 0,
        }
    }
}

impl Histogram {
    /// Adds one observation.
    pub fn observe(&mut self, d: Duration) {
        let s = d.as_secs_f64();
        for (b, c) in self.bounds.iter().zip(self.counts.iter_mut()) {
            if s <= *b {
                *c += 1;
            }
        }
        self.sum += s;
        self.count += 1;
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        for (b, c) in self.bounds.iter().zip(&self.counts) {
            let _ = writeln!(out, "{name}_bucket{{le=\"{b}\"}} {c}");
        }
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", self.count);
        let _ = writeln!(out, "{name}_sum {}", self.sum);
        let _ = writeln!(out, "{name}_count {}", self.count);
    }
}

/// Everything rendered.
pub struct Sources<'a, 'p, 's> {
    /// The forwarding plane.
    pub plane: &'a GraphPlane<'p, 's>,
    /// The registry.
    pub sessions: &'a Sessions,
    /// PPPoE control-plane counters.
    pub pppoe: PppoeStats,
    /// The AC's counters.
    pub ac: bng_pppoe::ac::Counters,
    /// `CoA` counters.
    pub coa: Option<CoaStats>,
    /// RADIUS latency.
    pub radius: &'a Histogram,
    /// Pools.
    pub pools: &'a AddressPools,
}

/// A label value escaped for the text format (backslash, double quote, newline).
fn esc(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn metric(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// Renders the exposition text.
#[must_use]
#[allow(clippy::too_many_lines, reason = "one metric family after another")]
pub fn render(s: &Sources<'_, '_, '_>) -> Snapshot {
    let mut o = String::new();
    metric(
        &mut o,
        "bng_sessions",
        "gauge",
        "Subscriber sessions by state.",
    );
    let by = s.sessions.by_state();
    for st in [
        State::Starting,
        State::Authenticating,
        State::Up,
        State::Closing,
    ] {
        let _ = writeln!(
            o,
            "bng_sessions{{state=\"{}\"}} {}",
            st.label(),
            by.get(&st).copied().unwrap_or(0)
        );
    }
    metric(
        &mut o,
        "bng_sessions_started_total",
        "counter",
        "Sessions that came up.",
    );
    let _ = writeln!(o, "bng_sessions_started_total {}", s.sessions.total_up);
    metric(
        &mut o,
        "bng_sessions_ended_total",
        "counter",
        "Sessions ended, by cause.",
    );
    for (c, v) in &s.sessions.ended {
        let _ = writeln!(o, "bng_sessions_ended_total{{cause=\"{c}\"}} {v}");
    }
    metric(
        &mut o,
        "bng_session_rate_bps",
        "gauge",
        "Rate limit applied to each up session, bits/s.",
    );
    for sub in s.sessions.iter().filter(|x| x.state == State::Up) {
        if let Some(q) = s.plane.rate(sub.handle) {
            let _ = writeln!(
                o,
                "bng_session_rate_bps{{user=\"{}\",acct_session_id=\"{}\",direction=\"down\"}} {}\nbng_session_rate_bps{{user=\"{}\",acct_session_id=\"{}\",direction=\"up\"}} {}",
                esc(&sub.user),
                esc(&sub.acct_session_id),
                q.down_bps,
                esc(&sub.user),
                esc(&sub.acct_session_id),
                q.up_bps
            );
        }
    }
    metric(
        &mut o,
        "bng_node_counter_total",
        "counter",
        "Per-node counters of the forwarding graph (edges and drop reasons).",
    );
    for (node, counter, v) in s.plane.counter_rows() {
        let _ = writeln!(
            o,
            "bng_node_counter_total{{node=\"{node}\",counter=\"{counter}\"}} {v}"
        );
    }
    metric(
        &mut o,
        "bng_drops_total",
        "counter",
        "Packets dropped outside the nodes, by reason.",
    );
    for (r, v) in &s.plane.drops {
        let _ = writeln!(o, "bng_drops_total{{reason=\"{r}\"}} {v}");
    }
    metric(
        &mut o,
        "bng_forwarded_packets_total",
        "counter",
        "Packets forwarded (both directions).",
    );
    let _ = writeln!(o, "bng_forwarded_packets_total {}", s.plane.forwarded);
    metric(
        &mut o,
        "bng_pppoe_total",
        "counter",
        "PPPoE control-plane events.",
    );
    let p = s.pppoe;
    for (k, v) in [
        ("pado", s.ac.pado_sent),
        ("pads", s.ac.pads_sent),
        ("sessions_started", p.pads),
        ("auth_accepted", p.auth_accepted),
        ("auth_rejected", p.auth_rejected),
        ("ipcp_up", p.ipcp_up),
        ("padt_sent", p.padt_sent),
        ("no_address", p.no_address),
        ("ra_sent", p.ra_sent),
        ("rs_answered", p.rs_answered),
        ("discovery_dropped", s.ac.total_drops()),
    ] {
        let _ = writeln!(o, "bng_pppoe_total{{event=\"{k}\"}} {v}");
    }
    if let Some(c) = s.coa {
        metric(
            &mut o,
            "bng_dae_total",
            "counter",
            "RFC 5176 requests answered, by result.",
        );
        for (k, v) in [
            ("coa_ack", c.coa_ack),
            ("coa_nak", c.coa_nak),
            ("disconnect_ack", c.disconnect_ack),
            ("disconnect_nak", c.disconnect_nak),
            ("dropped", c.dropped),
        ] {
            let _ = writeln!(o, "bng_dae_total{{result=\"{k}\"}} {v}");
        }
    }
    metric(&mut o, "bng_pool_addresses", "gauge", "IPv4 pool usage.");
    for name in s.pools.v4_names() {
        if let Some((used, size)) = s.pools.usage_v4(name) {
            let _ = writeln!(
                o,
                "bng_pool_addresses{{pool=\"{name}\",state=\"used\"}} {used}\nbng_pool_addresses{{pool=\"{name}\",state=\"total\"}} {size}"
            );
        }
    }
    s.radius.render(
        &mut o,
        "bng_radius_request_seconds",
        "Access-Request round-trip time.",
    );
    Snapshot { text: o }
}

/// Serves `GET /metrics` from `snap` on `addr` in a thread.
///
/// # Errors
/// The address cannot be bound.
pub fn serve(addr: SocketAddr, snap: Arc<Mutex<Snapshot>>) -> std::io::Result<()> {
    let l = TcpListener::bind(addr)?;
    std::thread::Builder::new()
        .name("bng-metrics".into())
        .spawn(move || {
            for c in l.incoming() {
                let Ok(mut c) = c else { continue };
                let _ = c.set_read_timeout(Some(Duration::from_secs(2)));
                let mut buf = [0u8; 2048];
                let n = c.read(&mut buf).unwrap_or(0);
                let req = String::from_utf8_lossy(buf.get(..n).unwrap_or_default());
                let line = req.lines().next().unwrap_or("");
                let resp = if line.starts_with("GET /metrics ") || line == "GET /metrics" {
                    let body = snap.lock().map(|s| s.text.clone()).unwrap_or_default();
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    )
                } else {
                    "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_string()
                };
                let _ = c.write_all(resp.as_bytes());
            }
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(esc(r#"a"b\c"#), r#"a\"b\\c"#);
        assert_eq!(esc("x\ny"), "x\\ny");
        let mut h = Histogram::default();
        h.observe(Duration::from_millis(3));
        let mut o = String::new();
        h.render(&mut o, "t", "help");
        assert!(o.contains("t_bucket{le=\"0.002\"} 0"), "{o}");
        assert!(o.contains("t_bucket{le=\"0.005\"} 1"), "{o}");
        assert!(o.contains("t_count 1"), "{o}");
    }
}
