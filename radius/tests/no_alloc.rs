//! Zero-allocation proof: codec, signing/verification, the client machine and the DAE
//! server run under a counting global allocator and allocate nothing.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::many_single_char_names,
    clippy::map_unwrap_or,
    clippy::large_stack_arrays,
    reason = "tests"
)]

use core::net::{IpAddr, Ipv4Addr};
use core::time::Duration;

use bng_radius::client::{AcctRecord, Client, Config, ServerConfig, ServerKind, Slot};
use bng_radius::crypto::{self, Secret};
use bng_radius::dae::{DaeClient, DaeConfig, DaeServer};
use bng_radius::dict::{AcctStatusType, AttrType, Code};
use bng_radius::packet::{Packet, Repr, Writer};
use bng_testkit::alloc::{CountingAlloc, count_allocations};
use rand_core::{CryptoRng, RngCore};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

struct Counter(u8);
impl RngCore for Counter {
    fn next_u32(&mut self) -> u32 {
        self.0 = self.0.wrapping_add(1);
        u32::from(self.0)
    }
    fn next_u64(&mut self) -> u64 {
        u64::from(self.next_u32())
    }
    fn fill_bytes(&mut self, d: &mut [u8]) {
        for b in d {
            self.0 = self.0.wrapping_add(1);
            *b = self.0;
        }
    }
    fn try_fill_bytes(&mut self, d: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(d);
        Ok(())
    }
}
impl CryptoRng for Counter {}

#[test]
fn codec_allocates_nothing() {
    let secret = Secret::new(b"testing123").unwrap();
    let n = count_allocations(|| {
        let mut buf = [0u8; 512];
        let mut w = Writer::new(&mut buf, Code::ACCESS_REQUEST, 1, [3; 16]).unwrap();
        w.attribute(AttrType::USER_NAME, b"alice").unwrap();
        w.user_password(&secret, b"alicepw").unwrap();
        w.vendor_specific(9, 1, b"x=y").unwrap();
        let len = w.finish(&secret).unwrap();
        let p = Packet::new_checked(&buf[..len]).unwrap();
        let ok = crypto::verify_request(&p, &secret, true).is_ok();
        let mut out = [0u8; 128];
        let pw_ok = p
            .user_password(&secret, &mut out)
            .map(|p| p == b"alicepw")
            .unwrap_or(false);
        let r = Repr::parse(&p).unwrap();
        let mut again = [0u8; 512];
        let m = r.emit(&mut again).unwrap();
        ok && pw_ok && m == len
    });
    assert_eq!(n, 0, "RADIUS codec allocated");
}

#[test]
fn machines_allocate_nothing() {
    let mut slots = [Slot::EMPTY, Slot::EMPTY, Slot::EMPTY];
    let clients = [DaeClient {
        addr: IpAddr::V4(Ipv4Addr::LOCALHOST),
        secret: Secret::new(b"coa").unwrap(),
    }];
    let secret = Secret::new(b"testing123").unwrap();
    let n = count_allocations(|| {
        let mut rng = Counter(0);
        let mut c = Client::new(Config::default(), &mut slots).unwrap();
        c.add_server(ServerConfig {
            kind: ServerKind::Auth,
            secret: secret.clone(),
            rate_per_sec: 100,
            burst: 10,
        })
        .unwrap();
        c.add_server(ServerConfig {
            kind: ServerKind::Acct,
            secret: secret.clone(),
            rate_per_sec: 0,
            burst: 0,
        })
        .unwrap();
        let now = Duration::from_secs(1);
        c.submit_access(now, &mut rng, |t| {
            t.attribute(AttrType::USER_NAME, b"alice")?;
            t.user_password(b"pw")
        })
        .unwrap();
        c.submit_accounting(now, &AcctRecord::new(AcctStatusType::START, b"s1"), |_| {
            Ok(())
        })
        .unwrap();
        let mut tx = [0u8; 4096];
        let mut rx = [0u8; 256];
        let mut answered = 0;
        while let Some(t) = c.poll_action(now, &mut tx) {
            let p = Packet::new_checked(&tx[..t.len]).unwrap();
            let code = if p.code() == Code::ACCESS_REQUEST {
                Code::ACCESS_ACCEPT
            } else {
                Code::ACCOUNTING_RESPONSE
            };
            let w = Writer::new(&mut rx, code, p.identifier(), p.authenticator()).unwrap();
            let n = w.finish(&secret).unwrap();
            if let Ok(Some(_)) = c.handle_packet(now, t.server, t.port, &rx[..n]) {
                answered += 1;
            }
        }
        c.handle_timeout(now + Duration::from_secs(5), &mut rng);
        let _ = c.poll_timeout();
        let _ = c.poll_event();

        let mut srv = DaeServer::new(
            DaeConfig {
                require_event_timestamp: false,
                ..DaeConfig::default()
            },
            &clients,
        );
        let coa = Secret::new(b"coa").unwrap();
        let mut req = [0u8; 128];
        let mut w = Writer::new(&mut req, Code::DISCONNECT_REQUEST, 7, [0; 16]).unwrap();
        w.attribute(AttrType::ACCT_SESSION_ID, b"s1").unwrap();
        let n = w.finish(&coa).unwrap();
        let r = srv
            .handle_packet(now, IpAddr::V4(Ipv4Addr::LOCALHOST), &req[..n])
            .unwrap();
        let m = srv.respond(&r, Ok(()), &mut tx).unwrap();
        answered + m
    });
    assert_eq!(n, 0, "RADIUS machines allocated");
}

/// For BENCHMARKS.md: allocations of the `radius` crate (0.4) for the same work (printed,
/// not asserted).
#[test]
fn peer_crate_allocations_for_reference() {
    use radius::core::code::Code as PC;
    use radius::core::packet::Packet as PP;
    use radius::core::{rfc2865, rfc2869};
    let secret = b"testing123";
    let mut bytes = vec![];
    let enc = count_allocations(|| {
        let mut p = PP::new_with_identifier(PC::AccessRequest, secret, 42);
        rfc2869::add_message_authenticator(&mut p, &[0u8; 16]);
        rfc2865::add_user_name(&mut p, "subscriber-000123@isp.example");
        rfc2865::add_user_password(&mut p, b"correct horse battery").unwrap();
        rfc2865::add_nas_ip_address(&mut p, &Ipv4Addr::new(192, 0, 2, 1));
        rfc2865::add_nas_port(&mut p, 12_345);
        rfc2865::add_service_type(&mut p, 2);
        rfc2865::add_framed_protocol(&mut p, 1);
        rfc2865::add_calling_station_id(&mut p, "02-00-5e-00-53-01");
        rfc2869::add_nas_port_id(&mut p, "eth0.100:200");
        bytes = p.encode().unwrap();
    });
    let dec = count_allocations(|| {
        let p = PP::decode(&bytes, secret).unwrap();
        let pw = rfc2865::lookup_user_password(&p).unwrap().unwrap();
        let user = rfc2865::lookup_user_name(&p).unwrap().unwrap();
        pw.len() + user.len()
    });
    eprintln!(
        "radius 0.4: encode (8 attrs + MA placeholder) {enc} allocations, decode+lookup+PAP {dec}"
    );
}
