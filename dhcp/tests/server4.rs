//! DHCPv4 server machine: RFC 2131 section 4.3 message by message, reply addressing of
//! section 4.1, option 82 echo (RFC 3046), rapid commit (RFC 4039).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::many_single_char_names,
    clippy::unchecked_time_subtraction,
    reason = "tests"
)]

use core::net::Ipv4Addr;
use core::time::Duration;

use bng_dhcp::v4::options::{DhcpOption, Known, MessageType, OptionCode};
use bng_dhcp::v4::packet::{FLAG_BROADCAST, Packet, Repr};
use bng_dhcp::v4::relay::{SubOption, SubOptionCode, emit_sub_options};
use bng_dhcp::v4::server::{
    Action, Config, Destination, Event, KeyBy, LeaseSlot, LeaseState, Pool, Server,
};

const SID: Ipv4Addr = Ipv4Addr::new(100, 64, 0, 1);
const MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
const T0: Duration = Duration::from_secs(1000);

struct Msg {
    kind: MessageType,
    mac: [u8; 6],
    requested: Option<Ipv4Addr>,
    server: Option<Ipv4Addr>,
    ciaddr: Ipv4Addr,
    giaddr: Ipv4Addr,
    flags: u16,
    relay: Vec<u8>,
    rapid: bool,
    client_id: Option<Vec<u8>>,
}

impl Msg {
    fn new(kind: MessageType) -> Self {
        Self {
            kind,
            mac: MAC,
            requested: None,
            server: None,
            ciaddr: Ipv4Addr::UNSPECIFIED,
            giaddr: Ipv4Addr::UNSPECIFIED,
            flags: 0,
            relay: Vec::new(),
            rapid: false,
            client_id: None,
        }
    }

    fn bytes(&self) -> Vec<u8> {
        let t = [self.kind.0];
        let rq = self.requested.map(|a| a.octets());
        let sv = self.server.map(|a| a.octets());
        let mut o = vec![DhcpOption {
            code: OptionCode::MESSAGE_TYPE,
            data: &t,
        }];
        if let Some(r) = rq.as_ref() {
            o.push(DhcpOption {
                code: OptionCode::REQUESTED_IP,
                data: r,
            });
        }
        if let Some(s) = sv.as_ref() {
            o.push(DhcpOption {
                code: OptionCode::SERVER_ID,
                data: s,
            });
        }
        if let Some(c) = self.client_id.as_ref() {
            o.push(DhcpOption {
                code: OptionCode::CLIENT_ID,
                data: c,
            });
        }
        if self.rapid {
            o.push(DhcpOption {
                code: OptionCode::RAPID_COMMIT,
                data: &[],
            });
        }
        if !self.relay.is_empty() {
            o.push(DhcpOption {
                code: OptionCode::RELAY_AGENT_INFO,
                data: &self.relay,
            });
        }
        let mut r = Repr::request(0x1234_5678, self.mac, &o);
        r.ciaddr = self.ciaddr;
        r.giaddr = self.giaddr;
        r.flags = self.flags;
        if !self.giaddr.is_unspecified() {
            r.hops = 1;
        }
        let mut b = vec![0u8; 600];
        let n = r.emit(&mut b).unwrap();
        b.truncate(n);
        b
    }
}

struct Reply {
    dst: Destination,
    bytes: Vec<u8>,
}

impl Reply {
    fn repr(&self) -> Repr<'_> {
        Repr::parse(&Packet::new_checked(&self.bytes[..]).unwrap()).unwrap()
    }
    fn known(&self) -> Known<'_> {
        self.repr().known().unwrap()
    }
    fn kind(&self) -> MessageType {
        self.known().message_type.unwrap()
    }
}

struct Harness {
    server: Server<'static, Pool<'static>>,
    events: Vec<Event>,
}

impl Harness {
    fn new(cfg: Config) -> Self {
        let bits = Box::leak(Box::new([0u64; 4]));
        let slots = Box::leak(vec![LeaseSlot::Empty; 64].into_boxed_slice());
        let pool = Pool::new(Ipv4Addr::new(100, 64, 1, 10), 200, bits).unwrap();
        Self {
            server: Server::new(cfg, pool, slots).unwrap(),
            events: Vec::new(),
        }
    }

    fn std() -> Self {
        let mut c = Config::new(SID);
        c.subnet_mask = Some(Ipv4Addr::new(255, 255, 0, 0));
        c.router = Some(SID);
        c.dns = [SID, Ipv4Addr::UNSPECIFIED];
        Self::new(c)
    }

    fn send(&mut self, now: Duration, m: &Msg) -> Vec<Reply> {
        self.server.handle_packet(now, &m.bytes()).unwrap();
        self.drain(now)
    }

    fn drain(&mut self, now: Duration) -> Vec<Reply> {
        let mut out = Vec::new();
        let mut tx = [0u8; 1500];
        while let Some(a) = self.server.poll_action(now, &mut tx) {
            match a {
                Action::Transmit { len, dst } => out.push(Reply {
                    dst,
                    bytes: tx[..len].to_vec(),
                }),
                Action::Event(e) => self.events.push(e),
                _ => unreachable!(),
            }
        }
        out
    }

    fn dora(&mut self) -> Ipv4Addr {
        let r = self.send(T0, &Msg::new(MessageType::DISCOVER));
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].kind(), MessageType::OFFER);
        let yi = r[0].repr().yiaddr;
        let mut q = Msg::new(MessageType::REQUEST);
        q.requested = Some(yi);
        q.server = Some(SID);
        let a = self.send(T0, &q);
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].kind(), MessageType::ACK);
        assert_eq!(a[0].repr().yiaddr, yi);
        yi
    }
}

#[test]
fn dora_contents_and_addressing() {
    let mut h = Harness::std();
    let r = h.send(T0, &Msg::new(MessageType::DISCOVER));
    let offer = &r[0];
    let k = offer.known();
    assert_eq!(k.message_type, Some(MessageType::OFFER));
    assert_eq!(k.server_id, Some(SID));
    assert_eq!(k.lease_time, Some(3600));
    assert_eq!(k.t1, Some(1800));
    assert_eq!(k.t2, Some(3150));
    assert_eq!(k.subnet_mask, Some(Ipv4Addr::new(255, 255, 0, 0)));
    assert_eq!(k.router(), Some(SID));
    assert_eq!(k.dns, Some(&SID.octets()[..]));
    let rp = offer.repr();
    assert_eq!(rp.xid, 0x1234_5678);
    assert_eq!(rp.client_hw(), &MAC);
    assert_eq!(rp.yiaddr, Ipv4Addr::new(100, 64, 1, 10));
    // no broadcast bit, no ciaddr, no giaddr: unicast to yiaddr at chaddr (section 4.1)
    assert_eq!(
        offer.dst,
        Destination::ClientHw {
            ip: rp.yiaddr,
            mac: MAC
        }
    );
    assert_eq!(offer.dst.port(), 68);
    let yi = h.dora();
    assert_eq!(yi, rp.yiaddr);
    assert!(matches!(h.events[..], [Event::Bound { addr, .. }] if addr == yi));
    assert_eq!(h.server.stats().offers, 2);
    assert_eq!(h.server.stats().acks, 1);
    assert_eq!(h.server.addresses().used(), 1);
}

#[test]
fn broadcast_bit_is_honoured() {
    let mut h = Harness::std();
    let mut d = Msg::new(MessageType::DISCOVER);
    d.flags = FLAG_BROADCAST;
    let r = h.send(T0, &d);
    assert_eq!(r[0].dst, Destination::Broadcast);
    assert!(r[0].repr().broadcast());
}

#[test]
fn relayed_with_option_82_echoed() {
    let mut h = Harness::std();
    let mut ro = vec![0u8; 64];
    let n = emit_sub_options(
        &[
            SubOption {
                code: SubOptionCode::CIRCUIT_ID,
                data: b"olt1/1/3",
            },
            SubOption {
                code: SubOptionCode::REMOTE_ID,
                data: b"ont-42",
            },
        ],
        &mut ro,
    )
    .unwrap();
    ro.truncate(n);
    let mut d = Msg::new(MessageType::DISCOVER);
    d.giaddr = Ipv4Addr::new(10, 9, 9, 1);
    d.relay = ro.clone();
    let r = h.send(T0, &d);
    assert_eq!(r[0].dst, Destination::Relay(Ipv4Addr::new(10, 9, 9, 1)));
    assert_eq!(r[0].dst.port(), 67);
    assert_eq!(r[0].repr().giaddr, Ipv4Addr::new(10, 9, 9, 1));
    assert_eq!(r[0].known().relay_agent_info, Some(&ro[..]));
    // option 82 is the last option (RFC 3046 section 2.2)
    let last = r[0].repr().options.iter().last().unwrap().unwrap();
    assert_eq!(last.code, OptionCode::RELAY_AGENT_INFO);
    // a relayed NAK goes to the relay with the broadcast bit set
    let mut q = Msg::new(MessageType::REQUEST);
    q.giaddr = d.giaddr;
    q.relay = ro;
    q.requested = Some(Ipv4Addr::new(100, 64, 1, 99));
    let r = h.send(T0, &q);
    assert_eq!(r[0].kind(), MessageType::NAK);
    assert_eq!(r[0].dst, Destination::Relay(Ipv4Addr::new(10, 9, 9, 1)));
    assert!(r[0].repr().broadcast());
}

#[test]
fn circuit_id_key_binds_the_port_not_the_mac() {
    let mut c = Config::new(SID);
    c.key_by = KeyBy::CircuitId;
    let mut h = Harness::new(c);
    let mut ro = vec![0u8; 32];
    let n = emit_sub_options(
        &[SubOption {
            code: SubOptionCode::CIRCUIT_ID,
            data: b"port-7",
        }],
        &mut ro,
    )
    .unwrap();
    ro.truncate(n);
    let mut d = Msg::new(MessageType::DISCOVER);
    d.giaddr = Ipv4Addr::new(10, 0, 0, 1);
    d.relay = ro.clone();
    let a = h.send(T0, &d)[0].repr().yiaddr;
    // a new CPE on the same port gets the same offer
    d.mac = [2, 0, 0, 0, 0, 0x99];
    let b = h.send(T0, &d)[0].repr().yiaddr;
    assert_eq!(a, b);
    assert_eq!(h.server.leases().count(), 1);
}

#[test]
fn selecting_another_server_frees_the_offer() {
    let mut h = Harness::std();
    let r = h.send(T0, &Msg::new(MessageType::DISCOVER));
    let yi = r[0].repr().yiaddr;
    assert_eq!(h.server.addresses().used(), 1);
    let mut q = Msg::new(MessageType::REQUEST);
    q.requested = Some(yi);
    q.server = Some(Ipv4Addr::new(192, 0, 2, 2));
    assert!(h.send(T0, &q).is_empty());
    assert_eq!(h.server.addresses().used(), 0);
    assert_eq!(h.server.leases().count(), 0);
}

#[test]
fn init_reboot_renew_rebind() {
    let mut h = Harness::std();
    let yi = h.dora();
    // INIT-REBOOT with the right address: ACK; with a wrong one: NAK, broadcast
    let mut q = Msg::new(MessageType::REQUEST);
    q.requested = Some(yi);
    assert_eq!(h.send(T0, &q)[0].kind(), MessageType::ACK);
    q.requested = Some(Ipv4Addr::new(100, 64, 1, 77));
    let r = h.send(T0, &q);
    assert_eq!(r[0].kind(), MessageType::NAK);
    assert_eq!(r[0].dst, Destination::Broadcast);
    let k = r[0].known();
    assert_eq!(k.lease_time, None);
    assert_eq!(k.server_id, Some(SID));
    // RENEWING: ciaddr set, unicast reply to ciaddr, lease extended
    let later = T0 + Duration::from_secs(1800);
    let mut q = Msg::new(MessageType::REQUEST);
    q.ciaddr = yi;
    let r = h.send(later, &q);
    assert_eq!(r[0].kind(), MessageType::ACK);
    assert_eq!(r[0].dst, Destination::Unicast(yi));
    assert_eq!(r[0].repr().ciaddr, yi);
    let l = h.server.leases().next().unwrap();
    assert_eq!(l.expires, later + Duration::from_secs(3600));
    // REQUEST with none of server id, requested IP or ciaddr is refused
    assert!(
        h.server
            .handle_packet(T0, &Msg::new(MessageType::REQUEST).bytes())
            .is_err()
    );
}

#[test]
fn release_and_decline() {
    let mut h = Harness::std();
    let yi = h.dora();
    // RELEASE for someone else's server id is ignored
    let mut rel = Msg::new(MessageType::RELEASE);
    rel.ciaddr = yi;
    rel.server = Some(Ipv4Addr::new(1, 1, 1, 1));
    assert!(h.send(T0, &rel).is_empty());
    assert_eq!(h.server.leases().count(), 1);
    rel.server = Some(SID);
    assert!(h.send(T0, &rel).is_empty());
    assert_eq!(h.server.leases().count(), 0);
    assert_eq!(h.server.addresses().used(), 0);
    assert!(matches!(h.events.last(), Some(Event::Released { addr }) if *addr == yi));

    let yi = h.dora();
    let mut dec = Msg::new(MessageType::DECLINE);
    dec.requested = Some(yi);
    dec.server = Some(SID);
    assert!(h.send(T0, &dec).is_empty());
    assert!(matches!(h.events.last(), Some(Event::Declined { addr }) if *addr == yi));
    let l = h.server.leases().next().unwrap();
    assert_eq!(l.state, LeaseState::Declined);
    // the next DISCOVER gets another address; the declined one stays held
    let r = h.send(T0, &Msg::new(MessageType::DISCOVER));
    assert_ne!(r[0].repr().yiaddr, yi);
    assert_eq!(h.server.addresses().used(), 2);
    assert_eq!(h.server.leases().count(), 2, "the hold and the new offer");
    // the offer lapses after 10 s, the decline hold after 600 s: nothing leaks
    h.server.handle_timeout(T0 + Duration::from_secs(10));
    assert_eq!(h.server.addresses().used(), 1);
    h.server.handle_timeout(T0 + Duration::from_secs(600));
    assert_eq!(h.server.addresses().used(), 0);
    assert_eq!(h.server.leases().count(), 0);
}

#[test]
fn inform_gets_ack_without_lease() {
    let mut h = Harness::std();
    let mut m = Msg::new(MessageType::INFORM);
    m.ciaddr = Ipv4Addr::new(100, 64, 9, 9);
    let r = h.send(T0, &m);
    assert_eq!(r[0].kind(), MessageType::ACK);
    assert_eq!(r[0].dst, Destination::Unicast(m.ciaddr));
    let k = r[0].known();
    assert_eq!(k.lease_time, None);
    assert_eq!(k.router(), Some(SID));
    assert_eq!(r[0].repr().yiaddr, Ipv4Addr::UNSPECIFIED);
    assert_eq!(h.server.leases().count(), 0);
}

#[test]
fn rapid_commit() {
    let mut c = Config::new(SID);
    c.rapid_commit = true;
    let mut h = Harness::new(c);
    let mut d = Msg::new(MessageType::DISCOVER);
    d.rapid = true;
    d.client_id = Some(vec![1, 2, 0, 0, 0, 0, 1]);
    let r = h.send(T0, &d);
    let k = r[0].known();
    assert_eq!(k.message_type, Some(MessageType::ACK));
    assert!(k.rapid_commit);
    assert_eq!(k.client_id, Some(&[1u8, 2, 0, 0, 0, 0, 1][..]));
    assert_eq!(h.server.leases().next().unwrap().state, LeaseState::Bound);
    // without option 80 from the client: a normal OFFER
    let mut d = Msg::new(MessageType::DISCOVER);
    d.mac = [2, 0, 0, 0, 0, 2];
    assert_eq!(h.send(T0, &d)[0].kind(), MessageType::OFFER);
}

#[test]
fn offers_and_leases_expire() {
    let mut h = Harness::std();
    let _ = h.send(T0, &Msg::new(MessageType::DISCOVER));
    assert_eq!(h.server.poll_timeout(), Some(T0 + Duration::from_secs(10)));
    h.server.handle_timeout(T0 + Duration::from_secs(10));
    assert_eq!(h.server.leases().count(), 0);
    assert_eq!(h.server.addresses().used(), 0);
    let yi = h.dora();
    // the offer's deadline may still be reported (a spurious wake-up is harmless)
    h.server.handle_timeout(h.server.poll_timeout().unwrap());
    assert_eq!(h.server.leases().count(), 1);
    let end = h.server.poll_timeout().unwrap();
    assert_eq!(end, T0 + Duration::from_secs(3600));
    h.server.handle_timeout(end - Duration::from_secs(1));
    assert_eq!(h.server.leases().count(), 1);
    h.server.handle_timeout(end);
    let _ = h.drain(end);
    assert!(matches!(h.events.last(), Some(Event::Expired { addr }) if *addr == yi));
    assert_eq!(h.server.poll_timeout(), None);
}

#[test]
fn server_id_override_from_relay() {
    let mut h = Harness::std();
    let ovr = Ipv4Addr::new(10, 0, 0, 1);
    let mut ro = vec![0u8; 32];
    let n = emit_sub_options(
        &[SubOption {
            code: SubOptionCode::SERVER_ID_OVERRIDE,
            data: &ovr.octets(),
        }],
        &mut ro,
    )
    .unwrap();
    ro.truncate(n);
    let mut d = Msg::new(MessageType::DISCOVER);
    d.giaddr = ovr;
    d.relay = ro.clone();
    let r = h.send(T0, &d);
    assert_eq!(r[0].known().server_id, Some(ovr));
    let mut q = Msg::new(MessageType::REQUEST);
    q.giaddr = ovr;
    q.relay = ro;
    q.server = Some(ovr);
    q.requested = Some(r[0].repr().yiaddr);
    assert_eq!(h.send(T0, &q)[0].kind(), MessageType::ACK);
}

#[test]
fn pool_exhaustion_and_bad_input() {
    let bits = Box::leak(Box::new([0u64; 1]));
    let slots = Box::leak(vec![LeaseSlot::Empty; 8].into_boxed_slice());
    let pool = Pool::new(Ipv4Addr::new(10, 0, 0, 1), 2, bits).unwrap();
    let mut s = Server::new(Config::new(SID), pool, slots).unwrap();
    let mut tx = [0u8; 600];
    for i in 0..3u8 {
        let mut d = Msg::new(MessageType::DISCOVER);
        d.mac[5] = i;
        s.handle_packet(T0, &d.bytes()).unwrap();
        while s.poll_action(T0, &mut tx).is_some() {}
    }
    assert_eq!(s.stats().offers, 2);
    assert_eq!(s.stats().exhausted, 1);
    assert!(s.handle_packet(T0, &[1, 2, 3]).is_err());
    assert_eq!(s.stats().malformed, 1);
    // a BOOTREPLY is not for a server
    let mut b = Msg::new(MessageType::DISCOVER).bytes();
    b[0] = 2;
    assert!(s.handle_packet(T0, &b).is_err());
    // a too small tx drops the reply and counts it
    let mut d = Msg::new(MessageType::DISCOVER);
    d.mac[5] = 0;
    s.handle_packet(T0, &d.bytes()).unwrap();
    assert_eq!(s.poll_action(T0, &mut [0u8; 100]), None);
    assert_eq!(s.stats().dropped, 1);
}

#[test]
fn long_keys_that_share_a_prefix_stay_distinct() {
    use bng_dhcp::v4::server::{KEY_MAX, Key};
    let a = [b'x'; 80];
    let mut b = a;
    b[79] = b'y';
    let (ka, kb) = (Key::new(2, &[&a]), Key::new(2, &[&b]));
    assert_ne!(ka, kb);
    assert_eq!(ka.as_bytes().len(), KEY_MAX + 1);
    // short keys are the bytes themselves
    assert_eq!(Key::new(0, &[&[1, 2, 3]]).as_bytes(), &[0, 1, 2, 3]);
    assert_eq!(Key::new(0, &[&[7; KEY_MAX]]).as_bytes().len(), KEY_MAX + 1);
}
