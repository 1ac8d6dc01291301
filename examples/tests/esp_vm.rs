//! Interop: the Linux kernel's ESP (xfrm, `rfc4106(gcm(aes))`, AES-128-GCM-16) in
//! the test VM against our ESP (`bng_esp::sa`) in the `esp-gw` example binary over
//! an AF_PACKET socket on the TAP. The VM pings through its SA: its ESP packets must
//! decrypt with our inbound SA, and our encrypted echo replies must decrypt in its
//! kernel for `ping` to succeed (`BNG-VM: PASS esp-ping`). Tunnel and transport mode.
//! A third test runs the VM's `esp` scenario with `encap=udp expect=out`: the kernel's
//! UDP-encapsulated ESP (RFC 3948, NAT-T) must decapsulate with our code (the VM cannot
//! receive NAT-T, so only that direction is checked).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests"
)]

use core::time::Duration;

use bng_testkit::netns::{Netns, require, workdir};
use bng_testkit::vm;

/// Test keys (AES-128 key || 4-byte salt); a gateway gets them from IKEv2.
const KEY_VM_OUT: &str = "0x0123456789abcdef0123456789abcdef01020304";
const KEY_VM_IN: &str = "0xfedcba9876543210fedcba987654321005060708";

fn count(log: &str, word: &str) -> usize {
    log.lines().filter(|l| l.starts_with(word)).count()
}

/// Boots the VM's `esp` scenario against `esp-gw` on a TAP. `natt` asks the VM for
/// RFC 3948 UDP encapsulation; it can only send that, so only the VM→us direction
/// (`esp-encrypt` in the VM, `decap` in our log) is checked then, else the ping round trip.
fn roundtrip(test: &str, mode: &str, natt: bool) {
    if !require(test, &["ip"]) {
        return;
    }
    let Some(image) = vm::image(test) else { return };
    let dir = workdir(test);
    let ns = Netns::new("espvm");
    ns.tap("tap0");
    let mut args = vec![
        env!("CARGO_BIN_EXE_esp-gw"),
        "tap0",
        "--spi-in",
        "0x100",
        "--key-in",
        KEY_VM_OUT,
        "--spi-out",
        "0x200",
        "--key-out",
        KEY_VM_IN,
        "--seconds",
        "150",
    ];
    if mode == "transport" {
        args.push("--transport");
    }
    let mut gw = ns.spawn("esp-gw", &args, &dir.join("esp-gw.log"));
    let mut params = vec![
        ("scenario", "esp"),
        ("mode", mode),
        ("key_out", KEY_VM_OUT),
        ("key_in", KEY_VM_IN),
        ("spi_out", "0x100"),
        ("spi_in", "0x200"),
        ("count", "3"),
        ("timeout", "60"),
    ];
    if natt {
        params.extend([("encap", "udp"), ("expect", "out")]);
    }
    let run = image.boot(&ns, "tap0", &params, &dir);
    let report = run.finish(Duration::from_secs(150));
    gw.stop();
    let log = gw.log();
    eprintln!("---- esp-gw ----\n{log}");
    assert!(
        report.passed("esp-config"),
        "VM xfrm setup failed: {:?}\n{}",
        report.failed,
        report.console
    );
    assert!(
        report.passed("esp-encrypt"),
        "the VM sent no ESP: {:?}\n{}",
        report.failed,
        report.console
    );
    assert!(
        count(&log, "decap ") >= 3,
        "the kernel's ESP did not decrypt with our SA\n{log}\n{}",
        report.console
    );
    assert_eq!(count(&log, "drop "), 0, "{log}");
    if !natt {
        assert!(
            report.passed("esp-ping"),
            "our ESP replies did not decrypt in the kernel: {:?}\n{}",
            report.failed,
            report.console
        );
    }
}

#[test]
fn vm_kernel_esp_tunnel_roundtrip() {
    roundtrip("vm_kernel_esp_tunnel_roundtrip", "tunnel", false);
}

#[test]
fn vm_kernel_esp_transport_roundtrip() {
    roundtrip("vm_kernel_esp_transport_roundtrip", "transport", false);
}

#[test]
fn vm_kernel_esp_natt_decaps_with_our_sa() {
    roundtrip("vm_kernel_esp_natt_decaps_with_our_sa", "tunnel", true);
}
