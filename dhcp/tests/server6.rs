//! DHCPv6 server machine: RFC 8415 section 18.3 message by message, relay nesting of
//! section 19.3, rapid commit, IA_NA and IA_PD.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::many_single_char_names,
    reason = "tests"
)]

use core::net::Ipv6Addr;
use core::time::Duration;

use bng_dhcp::v6::message::{Header, MessageType, OptionList, Packet, Repr};
use bng_dhcp::v6::options::{Ia, OptionCode, OptionWriter, Options, Status, StatusCode, ia_head};
use bng_dhcp::v6::server::{
    Action6, BindingSlot, BindingState, Config6, Event6, IaKind, Pool6, Server6,
};

const SDUID: [u8; 10] = [0, 3, 0, 1, 0x02, 0, 0, 0, 0, 0xfe];
const CDUID: [u8; 10] = [0, 3, 0, 1, 0x02, 0, 0, 0, 0, 0x01];
const T0: Duration = Duration::from_secs(100);

fn na_first() -> Ipv6Addr {
    "2001:db8:1::1000".parse().unwrap()
}
fn pd_base() -> Ipv6Addr {
    "2001:db8:100::".parse().unwrap()
}

fn server(cfg: impl FnOnce(&mut Config6<'static>)) -> Server6<'static, Pool6<'static>> {
    let nb = Box::leak(Box::new([0u64; 2]));
    let pb = Box::leak(Box::new([0u64; 1]));
    let pool = Pool6::new()
        .with_addresses(na_first(), 100, nb)
        .unwrap()
        .with_prefixes(pd_base(), 56, 2, pb)
        .unwrap();
    let mut c = Config6::new(&SDUID);
    c.dns = ["2001:db8:1::1".parse().unwrap(), Ipv6Addr::UNSPECIFIED];
    cfg(&mut c);
    let slots = Box::leak(vec![BindingSlot::Empty; 32].into_boxed_slice());
    Server6::new(c, pool, slots).unwrap()
}

struct Req {
    kind: MessageType,
    duid: Vec<u8>,
    server: Option<Vec<u8>>,
    na: Option<(u32, Option<Ipv6Addr>)>,
    pd: Option<(u32, Option<(Ipv6Addr, u8)>)>,
    rapid: bool,
}

impl Req {
    fn new(kind: MessageType) -> Self {
        Self {
            kind,
            duid: CDUID.to_vec(),
            server: None,
            na: Some((1, None)),
            pd: Some((2, None)),
            rapid: false,
        }
    }

    fn bytes(&self) -> Vec<u8> {
        let mut buf = vec![0u8; 1024];
        let mut w = OptionWriter::new(&mut buf);
        w.raw(&[self.kind.0, 0x12, 0x34, 0x56]).unwrap();
        w.option(OptionCode::CLIENT_ID, &self.duid).unwrap();
        if let Some(s) = &self.server {
            w.option(OptionCode::SERVER_ID, s).unwrap();
        }
        w.option(OptionCode::ORO, &[0, 23]).unwrap();
        w.option(OptionCode::ELAPSED_TIME, &[0, 0]).unwrap();
        if let Some((iaid, a)) = self.na {
            w.nested(OptionCode::IA_NA, &ia_head(iaid, 0, 0), |w| {
                if let Some(a) = a {
                    w.ia_addr(a, 0, 0)?;
                }
                Ok(())
            })
            .unwrap();
        }
        if let Some((iaid, p)) = self.pd {
            w.nested(OptionCode::IA_PD, &ia_head(iaid, 0, 0), |w| {
                if let Some((p, l)) = p {
                    w.ia_prefix(p, l, 0, 0)?;
                }
                Ok(())
            })
            .unwrap();
        }
        if self.rapid {
            w.option(OptionCode::RAPID_COMMIT, &[]).unwrap();
        }
        let n = w.len();
        buf.truncate(n);
        buf
    }
}

fn relay(inner: &[u8], hop: u8, iface: &[u8]) -> Vec<u8> {
    let opts = [
        bng_dhcp::v6::Dhcp6Option {
            code: OptionCode::INTERFACE_ID,
            data: iface,
        },
        bng_dhcp::v6::Dhcp6Option {
            code: OptionCode::RELAY_MSG,
            data: inner,
        },
    ];
    let r = Repr {
        msg_type: MessageType::RELAY_FORW,
        header: Header::Relay {
            hop_count: hop,
            link: "2001:db8:1::1".parse().unwrap(),
            peer: "fe80::1".parse().unwrap(),
        },
        options: OptionList::List(&opts),
    };
    let mut b = vec![0u8; r.buffer_len()];
    r.emit(&mut b).unwrap();
    b
}

struct Out {
    bytes: Vec<u8>,
    relayed: bool,
}

fn exchange(
    s: &mut Server6<'static, Pool6<'static>>,
    now: Duration,
    msg: &[u8],
    ev: &mut Vec<Event6>,
) -> Vec<Out> {
    s.handle_packet(now, msg).unwrap();
    let mut v = Vec::new();
    let mut tx = [0u8; 1500];
    while let Some(a) = s.poll_action(now, &mut tx) {
        match a {
            Action6::Transmit { len, relayed } => v.push(Out {
                bytes: tx[..len].to_vec(),
                relayed,
            }),
            Action6::Event(e) => ev.push(e),
            _ => unreachable!(),
        }
    }
    v
}

/// (type, IA_NA address, IA_PD prefix, IA statuses)
type Summary = (
    MessageType,
    Option<Ipv6Addr>,
    Option<(Ipv6Addr, u8)>,
    Vec<StatusCode>,
);

fn summary(b: &[u8]) -> Summary {
    let p = Packet::new_checked(b).unwrap();
    let r = Repr::parse(&p).unwrap();
    assert_eq!(r.transaction_id(), 0x12_3456);
    assert_eq!(r.find(OptionCode::SERVER_ID), Some(&SDUID[..]));
    let (mut a, mut pf, mut st) = (None, None, Vec::new());
    for o in Options::new(p.options_raw()).map(Result::unwrap) {
        match o.code {
            OptionCode::IA_NA => {
                let ia = Ia::parse(o.data).unwrap();
                a = ia.addresses().next().map(|x| x.addr);
                st.extend(ia.status().map(|s| s.code));
            }
            OptionCode::IA_PD => {
                let ia = Ia::parse(o.data).unwrap();
                pf = ia.prefixes().next().map(|x| (x.prefix, x.prefix_len));
                st.extend(ia.status().map(|s| s.code));
            }
            OptionCode::STATUS_CODE => st.push(Status::parse(o.data).unwrap().code),
            _ => {}
        }
    }
    (r.msg_type, a, pf, st)
}

#[test]
fn solicit_request_renew_release_na_and_pd() {
    let mut s = server(|_| {});
    let mut ev = Vec::new();
    let r = exchange(&mut s, T0, &Req::new(MessageType::SOLICIT).bytes(), &mut ev);
    let (t, a, p, st) = summary(&r[0].bytes);
    assert_eq!(t, MessageType::ADVERTISE);
    assert!(!r[0].relayed);
    assert_eq!(a, Some(na_first()));
    assert_eq!(p, Some((pd_base(), 56)));
    assert!(st.is_empty());
    let adv = Repr::parse(&Packet::new_checked(&r[0].bytes[..]).unwrap()).unwrap();
    assert_eq!(adv.find(OptionCode::CLIENT_ID), Some(&CDUID[..]));
    assert_eq!(adv.find(OptionCode::DNS_SERVERS).map(<[u8]>::len), Some(16));
    assert!(ev.is_empty());
    assert!(s.bindings().all(|b| b.state == BindingState::Advertised));

    let mut q = Req::new(MessageType::REQUEST);
    q.server = Some(SDUID.to_vec());
    q.na = Some((1, a));
    q.pd = Some((2, p));
    let r = exchange(&mut s, T0, &q.bytes(), &mut ev);
    assert_eq!(summary(&r[0].bytes), (MessageType::REPLY, a, p, vec![]));
    assert_eq!(ev.len(), 2);
    assert!(s.bindings().all(|b| b.state == BindingState::Bound));
    // the IA carries T1/T2 and lifetimes
    let rep = Repr::parse(&Packet::new_checked(&r[0].bytes[..]).unwrap()).unwrap();
    let ia = Ia::parse(rep.find(OptionCode::IA_NA).unwrap()).unwrap();
    assert_eq!((ia.iaid, ia.t1, ia.t2), (1, 1800, 2880));
    let ad = ia.addresses().next().unwrap();
    assert_eq!((ad.preferred, ad.valid), (3600, 7200));

    let mut q = Req::new(MessageType::RENEW);
    q.server = Some(SDUID.to_vec());
    let later = T0 + Duration::from_secs(1800);
    let r = exchange(&mut s, later, &q.bytes(), &mut ev);
    assert_eq!(summary(&r[0].bytes), (MessageType::REPLY, a, p, vec![]));
    assert!(
        s.bindings()
            .all(|b| b.expires == later + Duration::from_secs(7200))
    );

    let mut q = Req::new(MessageType::RELEASE);
    q.server = Some(SDUID.to_vec());
    let r = exchange(&mut s, later, &q.bytes(), &mut ev);
    let (t, _, _, st) = summary(&r[0].bytes);
    assert_eq!(t, MessageType::REPLY);
    assert_eq!(st, vec![StatusCode::SUCCESS]);
    assert_eq!(s.bindings().count(), 0);
    assert_eq!(s.assigner().used(), (0, 0));
    assert!(matches!(
        ev.last(),
        Some(Event6::Released {
            kind: IaKind::Pd,
            ..
        })
    ));
}

#[test]
fn server_identifier_rules() {
    let mut s = server(|_| {});
    let mut q = Req::new(MessageType::REQUEST);
    q.server = Some(vec![0, 3, 0, 1, 9, 9, 9, 9, 9, 9]);
    assert!(s.handle_packet(T0, &q.bytes()).is_err());
    let mut q = Req::new(MessageType::SOLICIT);
    q.server = Some(SDUID.to_vec());
    assert!(s.handle_packet(T0, &q.bytes()).is_err());
    let mut q = Req::new(MessageType::SOLICIT);
    q.duid = vec![0, 4, 1];
    assert!(s.handle_packet(T0, &q.bytes()).is_err());
    assert_eq!(s.stats().discarded, 2);
    assert_eq!(s.stats().malformed, 1);
    // a server-to-client type
    assert!(
        s.handle_packet(T0, &Req::new(MessageType::REPLY).bytes())
            .is_err()
    );
}

#[test]
fn renew_without_binding_and_exhaustion() {
    let mut s = server(|_| {});
    let mut ev = Vec::new();
    let mut q = Req::new(MessageType::RENEW);
    q.server = Some(SDUID.to_vec());
    let r = exchange(&mut s, T0, &q.bytes(), &mut ev);
    let (_, a, p, st) = summary(&r[0].bytes);
    assert_eq!((a, p), (None, None));
    assert_eq!(st, vec![StatusCode::NO_BINDING, StatusCode::NO_BINDING]);
    // two prefixes in the pool: the third client gets NoPrefixAvail
    for i in 0..3u8 {
        let mut q = Req::new(MessageType::SOLICIT);
        q.duid[9] = 0x10 + i;
        let r = exchange(&mut s, T0, &q.bytes(), &mut ev);
        let (_, a, p, st) = summary(&r[0].bytes);
        assert!(a.is_some());
        if i < 2 {
            assert!(p.is_some());
        } else {
            assert_eq!(p, None);
            assert_eq!(st, vec![StatusCode::NO_PREFIX_AVAIL]);
        }
    }
    // advertised bindings expire after the hold
    assert_eq!(s.assigner().used(), (3, 2));
    s.handle_timeout(T0 + Duration::from_secs(30));
    assert_eq!(s.assigner().used(), (0, 0));
}

#[test]
fn rapid_commit_binds_at_once() {
    let mut s = server(|c| c.rapid_commit = true);
    let mut ev = Vec::new();
    let mut q = Req::new(MessageType::SOLICIT);
    q.rapid = true;
    let r = exchange(&mut s, T0, &q.bytes(), &mut ev);
    let (t, a, _, _) = summary(&r[0].bytes);
    assert_eq!(t, MessageType::REPLY);
    assert!(a.is_some());
    let rep = Repr::parse(&Packet::new_checked(&r[0].bytes[..]).unwrap()).unwrap();
    assert_eq!(rep.find(OptionCode::RAPID_COMMIT), Some(&[][..]));
    assert!(s.bindings().all(|b| b.state == BindingState::Bound));
    assert_eq!(ev.len(), 2);
}

#[test]
fn relayed_twice_is_answered_nested() {
    let mut s = server(|_| {});
    let mut ev = Vec::new();
    let inner = Req::new(MessageType::SOLICIT).bytes();
    let msg = relay(&relay(&inner, 0, b"port-1"), 1, b"agg-7");
    let r = exchange(&mut s, T0, &msg, &mut ev);
    assert!(r[0].relayed);
    let p = Packet::new_checked(&r[0].bytes[..]).unwrap();
    assert_eq!(p.msg_type(), MessageType::RELAY_REPL);
    assert_eq!(p.hop_count(), 1);
    let outer = Repr::parse(&p).unwrap();
    assert_eq!(outer.find(OptionCode::INTERFACE_ID), Some(&b"agg-7"[..]));
    let p2 = Packet::new_checked(outer.find(OptionCode::RELAY_MSG).unwrap()).unwrap();
    assert_eq!(p2.msg_type(), MessageType::RELAY_REPL);
    assert_eq!(p2.peer_address(), "fe80::1".parse::<Ipv6Addr>().unwrap());
    let mid = Repr::parse(&p2).unwrap();
    assert_eq!(mid.find(OptionCode::INTERFACE_ID), Some(&b"port-1"[..]));
    let (t, a, _, _) = summary(mid.find(OptionCode::RELAY_MSG).unwrap());
    assert_eq!(t, MessageType::ADVERTISE);
    assert_eq!(a, Some(na_first()));
    // too many hops
    let mut m = inner;
    for h in 0..5 {
        m = relay(&m, h, b"x");
    }
    assert!(s.handle_packet(T0, &m).is_err());
}

#[test]
fn confirm_and_information_request() {
    let mut s = server(|_| {});
    let mut ev = Vec::new();
    let mut q = Req::new(MessageType::CONFIRM);
    q.pd = None;
    q.na = Some((1, Some("2001:db8:1::1001".parse().unwrap())));
    let r = exchange(&mut s, T0, &q.bytes(), &mut ev);
    assert_eq!(summary(&r[0].bytes).3, vec![StatusCode::SUCCESS]);
    q.na = Some((1, Some("2001:db8:2::1".parse().unwrap())));
    let r = exchange(&mut s, T0, &q.bytes(), &mut ev);
    assert_eq!(summary(&r[0].bytes).3, vec![StatusCode::NOT_ON_LINK]);
    let mut q = Req::new(MessageType::INFORMATION_REQUEST);
    q.na = None;
    q.pd = None;
    let r = exchange(&mut s, T0, &q.bytes(), &mut ev);
    let rep = Repr::parse(&Packet::new_checked(&r[0].bytes[..]).unwrap()).unwrap();
    assert_eq!(rep.msg_type, MessageType::REPLY);
    assert!(rep.find(OptionCode::DNS_SERVERS).is_some());
    assert_eq!(s.bindings().count(), 0);
}

#[test]
fn decline_holds_the_address_not_the_client() {
    let mut s = server(|_| {});
    let mut ev = Vec::new();
    let mut q = Req::new(MessageType::REQUEST);
    q.server = Some(SDUID.to_vec());
    q.pd = None;
    let r = exchange(&mut s, T0, &q.bytes(), &mut ev);
    let a = summary(&r[0].bytes).1.unwrap();
    let mut d = Req::new(MessageType::DECLINE);
    d.server = Some(SDUID.to_vec());
    d.pd = None;
    d.na = Some((1, Some(a)));
    let r = exchange(&mut s, T0, &d.bytes(), &mut ev);
    assert_eq!(summary(&r[0].bytes).3, vec![StatusCode::SUCCESS]);
    assert!(matches!(ev.last(), Some(Event6::Declined { addr }) if *addr == a));
    // the same client asks again: another address, the declined one stays held
    let r = exchange(&mut s, T0, &q.bytes(), &mut ev);
    let b = summary(&r[0].bytes).1.unwrap();
    assert_ne!(a, b);
    assert_eq!(s.assigner().used(), (2, 0));
    s.handle_timeout(T0 + Duration::from_secs(7200));
    assert_eq!(s.assigner().used(), (0, 0));
}
