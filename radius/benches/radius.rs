//! Criterion bench: encode an Access-Request (8 attributes, PAP hiding,
//! Message-Authenticator) and decode + verify one (PAP, Message-Authenticator), beside
//! the `radius` crate (0.4) on the same inputs and bytes in the same run.
//!
//! The `radius` crate cannot compute or verify Message-Authenticator; its rows "+ MA by
//! hand" add it with `RustCrypto` HMAC-MD5 (fresh key state, as a user of that crate
//! would), so both sides do the same work.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::missing_docs_in_private_items,
    missing_docs,
    reason = "bench"
)]

use core::hint::black_box;
use core::net::Ipv4Addr;

use bng_radius::crypto::{self, Secret};
use bng_radius::dict::{AttrType, Code};
use bng_radius::packet::{Packet, Writer};
use criterion::{Criterion, criterion_group, criterion_main};
use hmac::{Hmac, Mac};

const SECRET: &[u8] = b"testing123-a-realistic-secret";
const RA: [u8; 16] = [0x3a; 16];

fn ours_encode(secret: &Secret, out: &mut [u8]) -> usize {
    let mut w = Writer::new(out, Code::ACCESS_REQUEST, 42, RA).unwrap();
    w.attribute(AttrType::USER_NAME, b"subscriber-000123@isp.example")
        .unwrap();
    w.user_password(secret, b"correct horse battery").unwrap();
    w.ipv4(AttrType::NAS_IP_ADDRESS, Ipv4Addr::new(192, 0, 2, 1))
        .unwrap();
    w.u32(AttrType::NAS_PORT, 12_345).unwrap();
    w.u32(AttrType::SERVICE_TYPE, 2).unwrap();
    w.u32(AttrType::FRAMED_PROTOCOL, 1).unwrap();
    w.attribute(AttrType::CALLING_STATION_ID, b"02-00-5e-00-53-01")
        .unwrap();
    w.attribute(AttrType::NAS_PORT_ID, b"eth0.100:200").unwrap();
    w.finish(secret).unwrap()
}

fn peer_encode(with_ma: bool) -> Vec<u8> {
    use radius::core::code::Code as PC;
    use radius::core::packet::Packet as PP;
    use radius::core::{rfc2865, rfc2869};
    let mut p = PP::new_with_identifier(PC::AccessRequest, SECRET, 42);
    if with_ma {
        rfc2869::add_message_authenticator(&mut p, &[0u8; 16]);
    }
    rfc2865::add_user_name(&mut p, "subscriber-000123@isp.example");
    rfc2865::add_user_password(&mut p, b"correct horse battery").unwrap();
    rfc2865::add_nas_ip_address(&mut p, &Ipv4Addr::new(192, 0, 2, 1));
    rfc2865::add_nas_port(&mut p, 12_345);
    rfc2865::add_service_type(&mut p, rfc2865::SERVICE_TYPE_FRAMED_USER);
    rfc2865::add_framed_protocol(&mut p, rfc2865::FRAMED_PROTOCOL_PPP);
    rfc2865::add_calling_station_id(&mut p, "02-00-5e-00-53-01");
    rfc2869::add_nas_port_id(&mut p, "eth0.100:200");
    let mut bytes = p.encode().unwrap();
    if with_ma {
        // Message-Authenticator is the first attribute: value at 22..38.
        let mut mac = <Hmac<md5::Md5> as Mac>::new_from_slice(SECRET).unwrap();
        mac.update(&bytes);
        let tag = mac.finalize().into_bytes();
        bytes[22..38].copy_from_slice(&tag);
    }
    bytes
}

fn ours_decode(secret: &Secret, bytes: &[u8]) -> usize {
    let p = Packet::new_checked(bytes).unwrap();
    crypto::verify_request(&p, secret, true).unwrap();
    let mut out = [0u8; 128];
    let pw = p.user_password(secret, &mut out).unwrap();
    let user = p.attribute(AttrType::USER_NAME).unwrap();
    pw.len() + user.value.len()
}

fn peer_decode(bytes: &[u8], with_ma: bool) -> usize {
    use radius::core::packet::Packet as PP;
    use radius::core::{rfc2865, rfc2869};
    let p = PP::decode(bytes, SECRET).unwrap();
    let pw = rfc2865::lookup_user_password(&p).unwrap().unwrap();
    let user = rfc2865::lookup_user_name(&p).unwrap().unwrap();
    if with_ma {
        let got = rfc2869::lookup_message_authenticator(&p).unwrap();
        let mut copy = bytes.to_vec();
        copy[22..38].fill(0);
        let mut mac = <Hmac<md5::Md5> as Mac>::new_from_slice(SECRET).unwrap();
        mac.update(&copy);
        mac.verify_slice(&got).unwrap();
    }
    pw.len() + user.len()
}

fn bench(c: &mut Criterion) {
    let secret = Secret::new(SECRET).unwrap();
    let mut buf = [0u8; 512];
    let n = ours_encode(&secret, &mut buf);
    let bytes = buf[..n].to_vec();
    // Both decoders accept the same bytes and agree.
    assert_eq!(ours_decode(&secret, &bytes), peer_decode(&bytes, true));
    // The peer's encoding (with MA patched in) verifies with ours.
    let pb = peer_encode(true);
    let pp = Packet::new_checked(&pb[..]).unwrap();
    crypto::verify_request(&pp, &secret, true).unwrap();
    assert_eq!(pb.len(), n);

    let mut g = c.benchmark_group("radius_access_request");
    g.bench_function("encode/bng-radius (8 attrs, PAP, MA)", |b| {
        let mut out = [0u8; 512];
        b.iter(|| ours_encode(&secret, black_box(&mut out)));
    });
    g.bench_function("encode/radius-0.4 + MA by hand", |b| {
        b.iter(|| black_box(peer_encode(true)));
    });
    g.bench_function("encode/radius-0.4 (no MA)", |b| {
        b.iter(|| black_box(peer_encode(false)));
    });
    g.bench_function("decode+verify/bng-radius (PAP, MA)", |b| {
        b.iter(|| ours_decode(&secret, black_box(&bytes)));
    });
    g.bench_function("decode+verify/radius-0.4 + MA by hand", |b| {
        b.iter(|| peer_decode(black_box(&bytes), true));
    });
    g.bench_function("decode/radius-0.4 (PAP, no MA)", |b| {
        b.iter(|| peer_decode(black_box(&bytes), false));
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
