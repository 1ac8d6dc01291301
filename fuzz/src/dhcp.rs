//! Fuzz bodies for `bng-dhcp`.

use core::net::{Ipv4Addr, Ipv6Addr};
use core::time::Duration;

/// The targets of this module, by name (each has `fuzz_targets/<name>.rs` and
/// `corpus/<name>/`).
pub const TARGETS: &[(&str, crate::Body)] = &[
    ("dhcp_v4", dhcp_v4),
    ("dhcp_v6", dhcp_v6),
    ("dhcp_v4_server", dhcp_v4_server),
    ("dhcp_v6_server", dhcp_v6_server),
    ("dhcp_clients", dhcp_clients),
];

/// DHCPv4 (RFC 2131/2132): view, option walk with overload, option 82; parse -> emit
/// (byte-identical) -> parse (equal).
pub fn dhcp_v4(data: &[u8]) {
    use bng_dhcp::v4::{Packet, RelayAgentInfo, Repr};
    let Ok(p) = Packet::new_checked(data) else {
        return;
    };
    for o in p.all_options() {
        let _ = o;
    }
    let Ok(r) = Repr::parse(&p) else { return };
    let k = r.known().expect("a parsed message walks cleanly");
    if let Some(ra) = k
        .relay_agent_info
        .and_then(|d| RelayAgentInfo::new_checked(d).ok())
    {
        let _ = (
            ra.circuit_id(),
            ra.remote_id(),
            ra.link_selection(),
            ra.server_id_override(),
        );
    }
    let mut out = [0u8; 65_600];
    let n = r.emit(&mut out).expect("a parsed message must emit");
    assert_eq!(out.get(..n), Some(data), "re-emit must be byte-identical");
    let p2 = Packet::new_checked(out.get(..n).unwrap_or_default()).expect("re-parse view");
    let r2 = Repr::parse(&p2).expect("re-parse repr");
    assert_eq!(r, r2);
}

/// DHCPv6 (RFC 8415): view, options, nested IA and relay messages; parse -> emit
/// (byte-identical) -> parse (equal).
pub fn dhcp_v6(data: &[u8]) {
    use bng_dhcp::v6::{Ia, OptionCode, Packet, Repr};
    let Ok(p) = Packet::new_checked(data) else {
        return;
    };
    let Ok(r) = Repr::parse(&p) else { return };
    for o in r.options() {
        let o = o.expect("a parsed message walks cleanly");
        if o.code == OptionCode::IA_NA || o.code == OptionCode::IA_PD {
            let ia = Ia::parse(o.data).expect("validated IA");
            let _ = (ia.addresses().count(), ia.prefixes().count(), ia.status());
        }
    }
    let mut out = [0u8; 65_600];
    let n = r.emit(&mut out).expect("a parsed message must emit");
    assert_eq!(out.get(..n), Some(data), "re-emit must be byte-identical");
    let p2 = Packet::new_checked(out.get(..n).unwrap_or_default()).expect("re-parse view");
    assert_eq!(r, Repr::parse(&p2).expect("re-parse repr"));
}

/// Splits fuzz input into (time step, datagram) records: a byte of seconds, a
/// two-byte length, the datagram. Length 0 means "timeout".
fn records(mut data: &[u8]) -> impl Iterator<Item = (u8, &[u8])> {
    core::iter::from_fn(move || {
        let (&[dt, a, b], rest) = data.split_first_chunk::<3>()?;
        let len = usize::from(u16::from_be_bytes([a, b])).min(rest.len());
        let (msg, rest) = rest.split_at(len);
        data = rest;
        Some((dt, msg))
    })
}

/// The DHCPv4 server machine on arbitrary (time step, datagram | timeout) sequences:
/// no panic, every reply parses as a BOOTREPLY, deadlines never go backwards past
/// `now`, pool usage never exceeds the lease table.
pub fn dhcp_v4_server(data: &[u8]) {
    use bng_dhcp::v4::server::{Action, Config, LeaseSlot, Pool, Server};
    use bng_dhcp::v4::{Op, Packet, Repr};
    let mut bits = [0u64; 1];
    let mut slots = [LeaseSlot::Empty; 8];
    let pool = Pool::new(Ipv4Addr::new(10, 0, 0, 1), 16, &mut bits).expect("pool");
    let mut cfg = Config::new(Ipv4Addr::new(10, 0, 0, 254));
    cfg.rapid_commit = data.first().is_some_and(|b| b & 1 == 1);
    cfg.lease_secs = 60;
    let mut s = Server::new(cfg, pool, &mut slots).expect("server");
    let mut now = Duration::ZERO;
    let mut tx = [0u8; 1500];
    for (dt, msg) in records(data) {
        now += Duration::from_secs(u64::from(dt));
        if msg.is_empty() {
            s.handle_timeout(now);
        } else {
            let _ = s.handle_packet(now, msg);
        }
        let mut n = 0;
        while let Some(a) = s.poll_action(now, &mut tx) {
            n += 1;
            assert!(n <= 64, "poll_action must drain");
            if let Action::Transmit { len, .. } = a {
                let p =
                    Packet::new_checked(tx.get(..len).unwrap_or_default()).expect("reply parses");
                assert_eq!(p.op(), Op::REPLY);
                Repr::parse(&p).expect("reply options parse");
            }
        }
        assert!(
            s.addresses().used() <= 8,
            "pool usage bounded by the lease table"
        );
        if let Some(t) = s.poll_timeout() {
            let _ = t;
        }
    }
}

/// The DHCPv6 server machine on arbitrary sequences: no panic, replies parse.
pub fn dhcp_v6_server(data: &[u8]) {
    use bng_dhcp::v6::server::{Action6, BindingSlot, Config6, Pool6, Server6};
    use bng_dhcp::v6::{Packet, Repr};
    const DUID: [u8; 10] = [0, 3, 0, 1, 2, 0, 0, 0, 0, 0xfe];
    let mut nb = [0u64; 1];
    let mut pb = [0u64; 1];
    let Ok(pool) = Pool6::new()
        .with_addresses(
            Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x100),
            16,
            &mut nb,
        )
        .and_then(|p| {
            p.with_prefixes(
                Ipv6Addr::new(0x2001, 0xdb8, 0x100, 0, 0, 0, 0, 0),
                56,
                4,
                &mut pb,
            )
        })
    else {
        return;
    };
    let mut slots = [BindingSlot::Empty; 8];
    let mut cfg = Config6::new(&DUID);
    cfg.rapid_commit = true;
    let Ok(mut s) = Server6::new(cfg, pool, &mut slots) else {
        return;
    };
    let mut now = Duration::ZERO;
    let mut tx = [0u8; 1500];
    for (dt, msg) in records(data) {
        now += Duration::from_secs(u64::from(dt));
        if msg.is_empty() {
            s.handle_timeout(now);
        } else {
            let _ = s.handle_packet(now, msg);
        }
        let mut n = 0;
        while let Some(a) = s.poll_action(now, &mut tx) {
            n += 1;
            assert!(n <= 64, "poll_action must drain");
            if let Action6::Transmit { len, .. } = a {
                let p =
                    Packet::new_checked(tx.get(..len).unwrap_or_default()).expect("reply parses");
                Repr::parse(&p).expect("reply options parse");
            }
        }
    }
}

/// The DHCPv4 and DHCPv6 client machines on arbitrary (time step, datagram | timeout)
/// sequences: no panic, a bounded number of actions per step, every message they send
/// parses back.
pub fn dhcp_clients(data: &[u8]) {
    use bng_dhcp::v4::client::{Client, ClientAction, ClientConfig};
    use bng_dhcp::v6::client::{Client6, Client6Action, Client6Config};
    const DUID: [u8; 10] = [0, 3, 0, 1, 2, 0, 0, 0, 0, 1];
    let mut c4 = Client::new(ClientConfig::new([2, 0, 0, 0, 0, 1]), 1);
    let mut c6 = Client6::new(
        Client6Config {
            duid: &DUID,
            ia_na: Some(1),
            ia_pd: Some(2),
            rapid_commit: true,
        },
        1,
    );
    let mut now = Duration::ZERO;
    let mut tx = [0u8; 1500];
    for (dt, msg) in records(data) {
        now += Duration::from_secs(u64::from(dt));
        if msg.is_empty() {
            c4.handle_timeout(now);
            c6.handle_timeout(now);
        } else {
            let _ = c4.handle_packet(now, msg);
            let _ = c6.handle_packet(now, msg);
        }
        for _ in 0..8 {
            let Some(a) = c4.poll_action(now, &mut tx) else {
                break;
            };
            if let ClientAction::Transmit { len, .. } = a {
                let p = bng_dhcp::v4::Packet::new_checked(tx.get(..len).unwrap_or_default())
                    .expect("v4 message");
                bng_dhcp::v4::Repr::parse(&p).expect("v4 options");
            }
        }
        assert!(
            c4.poll_action(now, &mut tx).is_none() || msg.is_empty(),
            "v4 client drains"
        );
        for _ in 0..8 {
            let Some(a) = c6.poll_action(now, &mut tx) else {
                break;
            };
            if let Client6Action::Transmit { len } = a {
                let p = bng_dhcp::v6::Packet::new_checked(tx.get(..len).unwrap_or_default())
                    .expect("v6 message");
                bng_dhcp::v6::Repr::parse(&p).expect("v6 options");
            }
        }
    }
}
