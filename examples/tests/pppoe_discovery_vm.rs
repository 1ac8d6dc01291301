//! Interop, discovery stage: Linux pppd 2.4.9 (kernel PPPoE) in the test VM against our
//! access concentrator (`bng_pppoe::ac::Ac`) over an AF_PACKET socket on the TAP.
//! pppd's PADI gets our PADO with a stateless cookie, its PADR (echoing the cookie) gets
//! our PADS, and the VM's scenario runner reports `PASS pppoe-discovery` when pppd says
//! "PPP session is N" (RFC 2516 section 5). The session stage (LCP and on) is the PPP
//! control plane's test.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::too_many_lines,
    reason = "tests"
)]

use core::time::Duration;
use std::time::Instant;

use bng_pppoe::ac::Outcome;
use bng_pppoe::ethernet::Mac;
use bng_testkit::netns::{require, workdir};
use bng_testkit::vm;

mod common;
use common::{SessionTable, ac_on_tap};

/// pppd's NIC in the VM (QEMU's default MAC).
const VM_MAC: Mac = [0x52, 0x54, 0, 0x12, 0x34, 0x56];

#[test]
fn vm_pppd_discovers_our_access_concentrator() {
    const T: &str = "vm_pppd_discovers_our_access_concentrator";
    if !require(T, &["ip", "tshark"]) {
        return;
    }
    let Some(image) = vm::image(T) else { return };
    let dir = workdir(T);
    // A fixed cookie key is fine in a test; a gateway draws it from its CSPRNG.
    let (ns, cap, sock, mut ac) = ac_on_tap("pppoeac", &dir, [0x3c; 32]);
    let mut table = SessionTable::new(0x0100);

    let run = image.boot(
        &ns,
        "tap0",
        &[
            ("scenario", "pppoe"),
            ("expect", "discovery"),
            ("timeout", "30"),
            ("user", "test"),
            ("password", "test"),
        ],
        &dir,
    );

    // Serve discovery for at most 120 s (VM boot under TCG takes ~5-10 s).
    let t0 = Instant::now();
    let mut rx = [0u8; 2048];
    let mut tx = [0u8; 1600];
    let (mut pados, mut started, mut terminated) = (0, None, None);
    while t0.elapsed() < Duration::from_secs(120) {
        // Keep serving after discovery so pppd's PADT (when the VM stops it) reaches us.
        if run.report().done {
            break;
        }
        let Some(n) = sock
            .recv(&mut rx, Duration::from_millis(200))
            .expect("recv")
        else {
            continue;
        };
        match ac.handle_frame(t0.elapsed(), &rx[..n], &mut tx, &mut table) {
            Outcome::Reply { len, .. } => {
                pados += 1;
                sock.send(&tx[..len]).expect("send PADO");
            }
            Outcome::SessionStarted { len, session } => {
                assert_eq!(session.link.dst, VM_MAC);
                started = Some(session.session_id);
                sock.send(&tx[..len]).expect("send PADS");
            }
            Outcome::Dropped(r) => panic!("our AC dropped pppd's frame: {r:?}"),
            Outcome::SessionTerminated { peer, session_id } => {
                assert_eq!(peer, VM_MAC);
                terminated = Some(session_id);
            }
            Outcome::NotDiscovery => {}
        }
    }
    let report = run.finish(Duration::from_secs(60));
    let file = cap.finish();
    assert!(
        report.console.contains("BNG-VM: READY"),
        "VM did not boot:\n{}",
        report.console
    );
    let id =
        started.unwrap_or_else(|| panic!("no PADR reached us.\nVM console:\n{}", report.console));
    assert!(
        report.passed("discovery"),
        "pppd did not report a PPPoE session.\nVM console:\n{}",
        report.console
    );
    assert!(
        report
            .console
            .contains(&format!("PPP session is {}", id.get())),
        "pppd's session id is ours ({}).\nVM console:\n{}",
        id.get(),
        report.console
    );
    // The VM kills pppd during its LCP Terminate-Request retries, so no PADT is
    // expected; if one arrives it must have released exactly our session.
    if let Some(t) = terminated {
        assert_eq!(t, id);
        assert!(table.sessions.is_empty());
    }
    let c = ac.counters();
    assert!(pados >= 1 && c.pads_sent >= 1, "{c:?}");
    assert_eq!(c.total_drops(), 0, "{c:?}");

    let d = common::assert_clean_capture(&file);
    eprintln!(
        "{T}: pppd took session {:#06x} from our AC ({pados} PADO, {} PADS); tshark: {} frames, 0 malformed",
        id.get(),
        c.pads_sent,
        d.frames
    );
}
