//! Proof of the interop harness with a real third-party peer: Linux pppd (2.4.9, kernel
//! PPPoE) in the test VM boots on a TAP in a fresh namespace and starts discovery; our
//! `bng-pppoe` parser decodes the PADIs it sends (RFC 2516 section 5.1), read from an
//! AF_PACKET socket on the TAP; tshark decodes the same frames without a malformed flag.
//! The access concentrator's answer is the PPPoE issue's test; nothing answers here.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::std_instead_of_core,
    reason = "tests"
)]

use std::time::{Duration, Instant};

use bng_dataplane::backend::afpacket::Socket;
use bng_pppoe::discovery::{Code, ETHERTYPE_DISCOVERY, Packet, Repr, TagType};
use bng_testkit::netns::{Capture, Netns, require, workdir};
use bng_testkit::vm;

#[test]
fn vm_pppd_padi_is_decoded_by_our_parser() {
    const T: &str = "vm_pppd_padi_is_decoded_by_our_parser";
    if !require(T, &["ip", "tshark"]) {
        return;
    }
    let Some(image) = vm::image(T) else { return };
    let dir = workdir(T);
    let ns = Netns::new("padi");
    ns.tap("tap0");
    let cap = Capture::start(&ns, "tap0", &dir.join("tap0.pcapng"));
    let sock = ns
        .run_in(|| Socket::open("tap0"))
        .expect("AF_PACKET on tap0");

    let run = image.boot(
        &ns,
        "tap0",
        &[
            ("scenario", "pppoe"),
            ("expect", "discovery"),
            ("timeout", "20"),
            ("user", "test"),
            ("password", "test"),
        ],
        &dir,
    );

    // Read frames for at most 90 s (VM boot under TCG takes ~5-10 s); stop at 2 PADIs.
    let mut padis = Vec::new();
    let t0 = Instant::now();
    let mut buf = [0u8; 2048];
    while padis.len() < 2 && t0.elapsed() < Duration::from_secs(90) {
        let Some(n) = sock
            .recv(&mut buf, Duration::from_millis(200))
            .expect("recv")
        else {
            continue;
        };
        let f = &buf[..n];
        if n < 14 || u16::from_be_bytes([f[12], f[13]]) != ETHERTYPE_DISCOVERY {
            continue;
        }
        let p = Packet::new_checked(&f[14..]).expect("pppd's discovery frame parses");
        let r = Repr::parse(&p).expect("pppd's discovery tags parse");
        assert_eq!(r.code, Code::PADI, "only PADIs without an AC");
        assert_eq!(&f[0..6], &[0xff; 6], "PADI goes to broadcast");
        assert_eq!(
            &f[6..12],
            &[0x52, 0x54, 0, 0x12, 0x34, 0x56],
            "from the VM's NIC"
        );
        assert_eq!(r.session_id, 0);
        assert!(
            r.tags.find(TagType::SERVICE_NAME).is_some(),
            "RFC 2516 5.1: exactly one Service-Name"
        );
        let mut again = vec![0u8; r.buffer_len()];
        r.emit(&mut again).unwrap();
        assert_eq!(again, p.as_bytes(), "re-emit is byte-identical");
        padis.push(f.to_vec());
    }
    let report = run.finish(Duration::from_secs(60));
    let file = cap.finish();
    assert!(
        padis.len() >= 2,
        "expected pppd's PADIs (retransmitted); saw {}.\nVM console:\n{}",
        padis.len(),
        report.console
    );
    assert!(
        report.console.contains("BNG-VM: READY"),
        "VM did not boot:\n{}",
        report.console
    );

    let d = bng_testkit::netns::tshark_decode(&file);
    let pppoed = d.protocols.iter().filter(|p| p.contains("pppoed")).count();
    assert!(
        pppoed >= 2,
        "tshark saw {pppoed} PPPoE discovery frames: {:?}",
        d.protocols
    );
    assert_eq!(d.malformed, 0, "tshark flags malformed frames");
    eprintln!(
        "{T}: {} PADIs from pppd decoded; tshark: {} frames, {pppoed} pppoed, 0 malformed",
        padis.len(),
        d.frames
    );
}
