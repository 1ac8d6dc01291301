//! Interop: the Linux kernel's ESP (xfrm, `rfc4106(gcm(aes))`, AES-128-GCM-16) in
//! the test VM against our ESP (`bng_esp::sa`) in the `esp-gw` example binary over
//! an AF_PACKET socket on the TAP. The VM pings through its SA: its ESP packets must
//! decrypt with our inbound SA, and our encrypted echo replies must decrypt in its
//! kernel for `ping` to succeed (`BNG-VM: PASS esp-ping`). Tunnel and transport mode.
//! A third test uses the shared lab's `run-vm.sh esp-static encap=udp expect=out`: the
//! kernel's UDP-encapsulated ESP (RFC 3948, NAT-T) must decapsulate with our code (the
//! VM cannot receive NAT-T, so only that direction is checked).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests"
)]

use core::time::Duration;

use std::path::Path;
use std::process::Command;

use bng_testkit::netns::{Netns, require, workdir};
use bng_testkit::vm;

/// Test keys (AES-128 key || 4-byte salt); a gateway gets them from IKEv2.
const KEY_VM_OUT: &str = "0x0123456789abcdef0123456789abcdef01020304";
const KEY_VM_IN: &str = "0xfedcba9876543210fedcba987654321005060708";

fn count(log: &str, word: &str) -> usize {
    log.lines().filter(|l| l.starts_with(word)).count()
}

fn roundtrip(test: &str, mode: &str) {
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
    let run = image.boot(
        &ns,
        "tap0",
        &[
            ("scenario", "esp"),
            ("mode", mode),
            ("key_out", KEY_VM_OUT),
            ("key_in", KEY_VM_IN),
            ("spi_out", "0x100"),
            ("spi_in", "0x200"),
            ("count", "3"),
            ("timeout", "60"),
        ],
        &dir,
    );
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
        count(&log, "decap ") >= 3,
        "the kernel's ESP did not decrypt with our SA\n{log}\n{}",
        report.console
    );
    assert_eq!(count(&log, "drop "), 0, "{log}");
    assert!(
        report.passed("esp-ping"),
        "our ESP replies did not decrypt in the kernel: {:?}\n{}",
        report.failed,
        report.console
    );
}

#[test]
fn vm_kernel_esp_tunnel_roundtrip() {
    roundtrip("vm_kernel_esp_tunnel_roundtrip", "tunnel");
}

#[test]
fn vm_kernel_esp_transport_roundtrip() {
    roundtrip("vm_kernel_esp_transport_roundtrip", "transport");
}

#[test]
fn vm_kernel_esp_natt_decaps_with_our_sa() {
    const T: &str = "vm_kernel_esp_natt_decaps_with_our_sa";
    if !require(T, &["ip", "qemu-system-x86_64", "timeout"]) {
        return;
    }
    let lab = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/lab/vm");
    if !lab.join("run-vm.sh").is_file() {
        bng_testkit::skip_or_fail(T, "no ../shared/lab/vm beside the repository");
        return;
    }
    let image = std::env::temp_dir().join("bnglab/vm");
    let built = Command::new("timeout")
        .arg("600")
        .arg(lab.join("build-vm.sh"))
        .arg(&image)
        .output()
        .expect("build-vm.sh");
    assert!(
        built.status.success(),
        "build-vm.sh: {}",
        String::from_utf8_lossy(&built.stderr)
    );
    let dir = workdir(T);
    let ns = Netns::new("espnatt");
    ns.tap("tap0");
    let mut gw = ns.spawn(
        "esp-gw",
        &[
            env!("CARGO_BIN_EXE_esp-gw"),
            "tap0",
            "--key-in",
            KEY_VM_OUT,
            "--key-out",
            KEY_VM_IN,
            "--seconds",
            "150",
        ],
        &dir.join("esp-gw.log"),
    );
    let key_out = format!("key_out={KEY_VM_OUT}");
    let key_in = format!("key_in={KEY_VM_IN}");
    let out = Command::new("timeout")
        .arg("300")
        .arg(lab.join("run-vm.sh"))
        .args([ns.name(), "tap0", "esp-static", &key_out, &key_in])
        .args(["mode=tunnel", "encap=udp", "expect=out", "count=3"])
        .env("VM_DIR", image.join("out"))
        .output()
        .expect("run-vm.sh");
    gw.stop();
    let log = gw.log();
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!("---- run-vm.sh ----\n{stdout}\n---- esp-gw ----\n{log}");
    assert!(
        stdout.contains("PASS esp-encrypt"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        count(&log, "decap ") >= 3,
        "NAT-T ESP did not decapsulate\n{log}"
    );
    assert_eq!(count(&log, "drop "), 0, "{log}");
}
