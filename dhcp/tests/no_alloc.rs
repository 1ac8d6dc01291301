//! Zero-allocation proof: parse, emit and a whole server DORA exchange under a counting
//! global allocator (STYLE.md section 16 item 5).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests"
)]

use core::net::Ipv4Addr;
use core::time::Duration;

use bng_dhcp::v4::options::{DhcpOption, MessageType, OptionCode};
use bng_dhcp::v4::server::{Action, Config, LeaseSlot, Pool, Server};
use bng_dhcp::v4::{Packet, RelayAgentInfo, Repr};
use bng_testkit::alloc::{CountingAlloc, count_allocations};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

const OPT82: [u8; 14] = [1, 6, b'p', b'o', b'r', b't', b'-', b'1', 2, 4, 1, 2, 3, 4];

fn request(kind: MessageType, requested: Option<Ipv4Addr>, server: bool, out: &mut [u8]) -> usize {
    let t = [kind.0];
    let rq = requested.unwrap_or(Ipv4Addr::UNSPECIFIED).octets();
    let sid = [100, 64, 0, 1];
    let opts = [
        DhcpOption {
            code: OptionCode::MESSAGE_TYPE,
            data: &t,
        },
        DhcpOption {
            code: OptionCode::REQUESTED_IP,
            data: &rq,
        },
        DhcpOption {
            code: OptionCode::SERVER_ID,
            data: &sid,
        },
        DhcpOption {
            code: OptionCode::RELAY_AGENT_INFO,
            data: &OPT82,
        },
    ];
    let list: &[DhcpOption<'_>] = match (requested.is_some(), server) {
        (true, true) => &opts,
        _ => &[opts[0], opts[3]],
    };
    let mut r = Repr::request(7, [2, 0, 0, 0, 0, 1], list);
    r.giaddr = Ipv4Addr::new(10, 0, 0, 1);
    r.emit(out).unwrap()
}

#[test]
fn v4_parse_emit_and_server_dora_allocate_nothing() {
    let mut bits = [0u64; 4];
    let mut slots = [LeaseSlot::Empty; 32];
    let pool = Pool::new(Ipv4Addr::new(100, 64, 1, 1), 200, &mut bits).unwrap();
    let mut s = Server::new(Config::new(Ipv4Addr::new(100, 64, 0, 1)), pool, &mut slots).unwrap();
    let now = Duration::from_secs(5);
    let n = count_allocations(|| {
        let mut buf = [0u8; 600];
        let mut tx = [0u8; 600];
        let len = request(MessageType::DISCOVER, None, false, &mut buf);
        let p = Packet::new_checked(&buf[..len]).unwrap();
        let r = Repr::parse(&p).unwrap();
        let k = r.known().unwrap();
        let ra = RelayAgentInfo::new_checked(k.relay_agent_info.unwrap()).unwrap();
        assert_eq!(ra.circuit_id(), Some(&b"port-1"[..]));
        let mut again = [0u8; 600];
        assert_eq!(r.emit(&mut again).unwrap(), len);
        s.handle_packet(now, &buf[..len]).unwrap();
        let Some(Action::Transmit { len: olen, .. }) = s.poll_action(now, &mut tx) else {
            panic!("no offer")
        };
        let offer = Repr::parse(&Packet::new_checked(&tx[..olen]).unwrap()).unwrap();
        let len = request(MessageType::REQUEST, Some(offer.yiaddr), true, &mut buf);
        s.handle_packet(now, &buf[..len]).unwrap();
        let mut acts = 0;
        while s.poll_action(now, &mut tx).is_some() {
            acts += 1;
        }
        acts
    });
    assert_eq!(n, 0, "DHCPv4 parse/emit/server allocated");
    assert_eq!(s.stats().acks, 1);
}

#[test]
fn v6_parse_emit_and_server_allocate_nothing() {
    use bng_dhcp::v6::options::{OptionCode as C6, OptionWriter, ia_head};
    use bng_dhcp::v6::server::{Action6, BindingSlot, Config6, Pool6, Server6};
    use bng_dhcp::v6::{Packet as P6, Repr as R6};
    use core::net::Ipv6Addr;
    const SDUID: [u8; 10] = [0, 3, 0, 1, 2, 0, 0, 0, 0, 0xfe];
    let mut nb = [0u64; 2];
    let mut pb = [0u64; 1];
    let pool = Pool6::new()
        .with_addresses(
            Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x1000),
            100,
            &mut nb,
        )
        .unwrap()
        .with_prefixes(
            Ipv6Addr::new(0x2001, 0xdb8, 0x100, 0, 0, 0, 0, 0),
            56,
            16,
            &mut pb,
        )
        .unwrap();
    let mut slots = [BindingSlot::Empty; 16];
    let mut s = Server6::new(Config6::new(&SDUID), pool, &mut slots).unwrap();
    let now = Duration::from_secs(5);
    let n = count_allocations(|| {
        let mut buf = [0u8; 512];
        let mut w = OptionWriter::new(&mut buf);
        w.raw(&[1, 0, 0, 7]).unwrap();
        w.option(C6::CLIENT_ID, &[0, 3, 0, 1, 2, 0, 0, 0, 0, 1])
            .unwrap();
        w.nested(C6::IA_NA, &ia_head(1, 0, 0), |_| Ok(())).unwrap();
        w.nested(C6::IA_PD, &ia_head(2, 0, 0), |_| Ok(())).unwrap();
        let len = w.len();
        let r = R6::parse(&P6::new_checked(&buf[..len]).unwrap()).unwrap();
        let mut again = [0u8; 512];
        assert_eq!(r.emit(&mut again).unwrap(), len);
        s.handle_packet(now, &buf[..len]).unwrap();
        let mut tx = [0u8; 512];
        let mut sent = 0;
        while let Some(a) = s.poll_action(now, &mut tx) {
            if let Action6::Transmit { len, .. } = a {
                sent += len;
            }
        }
        sent
    });
    assert_eq!(n, 0, "DHCPv6 parse/emit/server allocated");
    assert_eq!(s.stats().advertises, 1);
}
