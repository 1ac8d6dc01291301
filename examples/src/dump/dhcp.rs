//! DHCPv4 (RFC 2131/2132, option 82 RFC 3046) and DHCPv6 (RFC 8415) decoding.

use std::fmt::Write as _;

use bng_dhcp::v4::{self, RelayAgentInfo};
use bng_dhcp::v6;
use bng_testkit::corpus::Udp;

use super::{Check, Line, hex, text_or_hex};

/// Decodes a UDP datagram already classified as DHCP by port.
pub(super) fn decode(u: &Udp<'_>) -> Line {
    if [546, 547].contains(&u.sport) || [546, 547].contains(&u.dport) {
        decode6(u.payload)
    } else {
        decode4(u.payload)
    }
}

fn decode4(b: &[u8]) -> Line {
    let p = match v4::Packet::new_checked(b) {
        Ok(p) => p,
        Err(e) => return Line::new(format!("DHCPv4: {e}"), Check::ParseFailed),
    };
    let r = match v4::Repr::parse(&p) {
        Ok(r) => r,
        Err(e) => {
            return Line::new(
                format!("DHCPv4 xid {:#010x}: {e}", p.xid()),
                Check::ParseFailed,
            );
        }
    };
    let k = r.known().unwrap_or_default();
    let mut s = format!(
        "DHCPv4 {} xid {:#010x} chaddr {}",
        k.message_type
            .map_or_else(|| format!("{:?}", r.op), |t| format!("{t:?}")),
        r.xid,
        hex(r.client_hw())
    );
    for (name, a) in [
        ("ciaddr", r.ciaddr),
        ("yiaddr", r.yiaddr),
        ("giaddr", r.giaddr),
    ] {
        if !a.is_unspecified() {
            let _ = write!(s, " {name} {a}");
        }
    }
    if let Some(a) = k.requested_ip {
        let _ = write!(s, " requested {a}");
    }
    if let Some(a) = k.server_id {
        let _ = write!(s, " server-id {a}");
    }
    if let Some(t) = k.lease_time {
        let _ = write!(s, " lease {t}");
    }
    if let Some(h) = k.hostname {
        let _ = write!(s, " hostname {}", text_or_hex(h));
    }
    if k.rapid_commit {
        s.push_str(" rapid-commit");
    }
    if let Some(o) = k.overload {
        let _ = write!(s, " overload file={} sname={}", o.file, o.sname);
    }
    if let Some(ra) = k
        .relay_agent_info
        .and_then(|d| RelayAgentInfo::new_checked(d).ok())
    {
        s.push_str(" [opt82");
        if let Some(c) = ra.circuit_id() {
            let _ = write!(s, " circuit-id {}", text_or_hex(c));
        }
        if let Some(c) = ra.remote_id() {
            let _ = write!(s, " remote-id {}", text_or_hex(c));
        }
        if let Some(a) = ra.link_selection() {
            let _ = write!(s, " link-selection {a}");
        }
        if let Some(c) = ra.subscriber_id() {
            let _ = write!(s, " subscriber-id {}", text_or_hex(c));
        }
        if let Some(a) = ra.server_id_override() {
            let _ = write!(s, " server-id-override {a}");
        }
        s.push(']');
    }
    let mut out = vec![0u8; r.buffer_len()];
    let check = match r.emit(&mut out) {
        Ok(n) if out.get(..n) == Some(b) => Check::Same,
        _ => Check::Differs,
    };
    Line::new(s, check)
}

fn decode6(b: &[u8]) -> Line {
    let p = match v6::Packet::new_checked(b) {
        Ok(p) => p,
        Err(e) => return Line::new(format!("DHCPv6: {e}"), Check::ParseFailed),
    };
    let r = match v6::Repr::parse(&p) {
        Ok(r) => r,
        Err(e) => {
            return Line::new(
                format!("DHCPv6 {:?}: {e}", p.msg_type()),
                Check::ParseFailed,
            );
        }
    };
    let mut s = String::from("DHCPv6");
    describe6(&r, &mut s, 0);
    let mut out = vec![0u8; r.buffer_len()];
    let check = match r.emit(&mut out) {
        Ok(n) if out.get(..n) == Some(b) => Check::Same,
        _ => Check::Differs,
    };
    Line::new(s, check)
}

fn describe6(r: &v6::Repr<'_>, s: &mut String, depth: usize) {
    use v6::{Header, Ia, OptionCode, Status};
    match r.header {
        Header::Client { transaction_id } => {
            let _ = write!(s, " {:?} xid {transaction_id:#08x}", r.msg_type);
        }
        Header::Relay {
            hop_count,
            link,
            peer,
        } => {
            let _ = write!(
                s,
                " {:?} hop {hop_count} link {link} peer {peer}",
                r.msg_type
            );
        }
    }
    for o in r.options().map_while(Result::ok) {
        match o.code {
            OptionCode::CLIENT_ID | OptionCode::SERVER_ID => {
                let _ = write!(s, " {:?} {}", o.code, hex(o.data));
            }
            OptionCode::IA_NA | OptionCode::IA_PD => {
                let Ok(ia) = Ia::parse(o.data) else { continue };
                let _ = write!(
                    s,
                    " [{:?} iaid {} t1 {} t2 {}",
                    o.code, ia.iaid, ia.t1, ia.t2
                );
                for a in ia.addresses() {
                    let _ = write!(s, " addr {} pl {} vl {}", a.addr, a.preferred, a.valid);
                }
                for p in ia.prefixes() {
                    let _ = write!(
                        s,
                        " prefix {}/{} pl {} vl {}",
                        p.prefix, p.prefix_len, p.preferred, p.valid
                    );
                }
                if let Some(st) = ia.status() {
                    let _ = write!(s, " status {:?}", st.code);
                }
                s.push(']');
            }
            OptionCode::STATUS_CODE => {
                if let Ok(st) = Status::parse(o.data) {
                    let _ = write!(s, " status {:?}", st.code);
                }
            }
            OptionCode::RAPID_COMMIT => s.push_str(" rapid-commit"),
            OptionCode::INTERFACE_ID => {
                let _ = write!(s, " interface-id {}", text_or_hex(o.data));
            }
            OptionCode::RELAY_MSG if depth < v6::message::MAX_RELAY_DEPTH => {
                if let Some(inner) = v6::Packet::new_checked(o.data)
                    .ok()
                    .and_then(|p| v6::Repr::parse(&p).ok())
                {
                    s.push_str(" {");
                    describe6(&inner, s, depth + 1);
                    s.push_str(" }");
                }
            }
            _ => {}
        }
    }
}
