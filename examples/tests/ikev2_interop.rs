//! Interop: `ikev2-gw` (built on `bng-ikev2`) against strongSwan's charon 5.9 in a
//! pair of network namespaces (recipe: `../shared/lab/strongswan.sh`), PSK:
//!
//! - strongSwan initiates to our responder (IKE aes128gcm16-prfsha256-x25519,
//!   aes256-sha256-ecp384, and MODP-2048/3072/4096, ESP aes128gcm16): `swanctl --initiate` completes and
//!   `--list-sas` shows the IKE SA and the Child SA with the SPI we chose; then
//!   strongSwan rekeys the IKE SA and the Child SA (over the new IKE SA, the second
//!   time with PFS), and a remote-access connection gets the virtual IP and DNS
//!   server we assign through the Configuration payload;
//! - our initiator to strongSwan's responder, then a second Child SA through
//!   CREATE_CHILD_SA, an IKE SA rekey we start, and Deletes of the old and the new
//!   IKE SA, which strongSwan acknowledges.
//!
//! Every Child SA's keys equal the KEYMAT strongSwan logs (`chd = 4`). Only IKE is
//! checked here: `ikev2-gw` installs no ESP state.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::too_many_lines,
    clippy::doc_markdown,
    reason = "tests"
)]

use core::time::Duration;

use bng_testkit::netns::{Netns, Peer, require, veth, wait_for, workdir};
use common::strongswan::{
    self, CHARON, PSK, RoadWarrior, load_all, start_charon, swanctl_conf, swanctl_in,
    swanctl_initiate,
};

mod common;

const GW: &str = env!("CARGO_BIN_EXE_ikev2-gw");

struct Lab {
    ss: Netns,
    gw: Netns,
    dir: std::path::PathBuf,
    charon: Peer,
}

impl Lab {
    fn new(test: &str, proposals: &str, esp: &str) -> Self {
        let dir = workdir(test);
        // Level 4 logs the Child SA keys; strongSwan's `rw` child offers aes128gcm16
        // and rekeys on its defaults.
        let rw = RoadWarrior {
            esp: "aes128gcm16",
            no_rekey: false,
        };
        strongswan::write_config(&dir, 4, &swanctl_conf("192.0.2.1", proposals, esp, rw));
        let ss = Netns::new("ss");
        let gw = Netns::new("gw");
        veth(&ss, "veth0", &gw, "veth0");
        ss.ip(&["addr", "add", "192.0.2.1/24", "dev", "veth0"]);
        // kernel-libipsec routes the Child SA through its TUN device from an address
        // inside local_ts (the lab recipe does the same).
        ss.ip(&["addr", "add", "10.1.0.1/32", "dev", "veth0"]);
        gw.ip(&["addr", "add", "192.0.2.2/24", "dev", "veth0"]);
        ss.ip(&["link", "set", "veth0", "up"]);
        gw.ip(&["link", "set", "veth0", "up"]);
        let charon = start_charon(&ss, &dir);
        let lab = Self {
            ss,
            gw,
            dir,
            charon,
        };
        load_all(&lab.ss, &lab.dir);
        lab
    }

    fn swanctl(&self, args: &[&str]) -> String {
        swanctl_in(&self.ss, &self.dir, args)
    }

    fn gw(&self, what: &str, extra: &[&str]) -> Peer {
        let mut a = vec![
            GW,
            "--local",
            "192.0.2.2",
            "--psk",
            PSK,
            "--id",
            "ike2@lab",
            "--remote-id",
            "ike1@lab",
        ];
        a.extend_from_slice(extra);
        self.gw
            .spawn(what, &a, &self.dir.join(format!("{what}.log")))
    }

    fn charon_log(&self) -> String {
        strongswan::charon_log(&self.dir)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.charon.stop();
    }
}

fn tools(test: &str) -> bool {
    require(test, &["ip", "swanctl", CHARON])
}

#[test]
fn strongswan_initiates_to_our_responder() {
    let test = "ikev2_strongswan_to_us";
    if !tools(test) {
        return;
    }
    // The second run asks for PFS (x25519) on the Child SA rekey (section 1.3.1).
    for (proposals, suite, expect, esp) in [
        (
            "aes128gcm16-prfsha256-x25519",
            "gcm-x25519",
            "AES_GCM_16-128/PRF_HMAC_SHA2_256/CURVE_25519",
            "aes128gcm16",
        ),
        (
            "aes256-sha256-ecp384",
            "cbc-ecp384",
            "AES_CBC-256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/ECP_384",
            "aes128gcm16-x25519",
        ),
        (
            "aes128gcm16-prfsha256-modp2048",
            "gcm-modp2048",
            "AES_GCM_16-128/PRF_HMAC_SHA2_256/MODP_2048",
            "aes128gcm16",
        ),
        (
            "aes128gcm16-prfsha256-modp3072",
            "gcm-modp3072",
            "AES_GCM_16-128/PRF_HMAC_SHA2_256/MODP_3072",
            "aes128gcm16",
        ),
        (
            "aes256-sha256-modp4096",
            "cbc-modp4096",
            "AES_CBC-256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_4096",
            "aes128gcm16",
        ),
    ] {
        let lab = Lab::new(test, proposals, esp);
        let mut gw = lab.gw(
            "gw-responder",
            &[
                "--suite",
                suite,
                "--ts-local",
                "10.2.0.0/24",
                "--ts-remote",
                "10.1.0.0/24",
                "--virtual-ip",
                "10.9.0.7",
                "--dns",
                "10.2.0.53",
                "--timeout",
                "25",
            ],
        );
        std::thread::sleep(Duration::from_millis(300));
        let out = swanctl_initiate(&lab.ss, &lab.dir, "lab", "net");
        let sas = lab.swanctl(&["--list-sas"]);
        // strongSwan rekeys the IKE SA (section 1.3.2), then the Child SA over the
        // new IKE SA (section 1.3.3): both must go through with our responder.
        let _ = lab.swanctl(&["--rekey", "--ike", "lab"]);
        let rekeyed = wait_for(Duration::from_secs(10), "IKE SA rekey", || {
            gw.log().contains("IKE_SA rekeyed")
                && lab
                    .charon_log()
                    .contains("IKE_SA lab[2] state change: REKEYED")
                || lab
                    .charon_log()
                    .contains("IKE_SA lab[1] state change: REKEYED")
        });
        std::thread::sleep(Duration::from_millis(500));
        let _ = lab.swanctl(&["--rekey", "--child", "net"]);
        let child_rekeyed = wait_for(Duration::from_secs(10), "Child SA rekey", || {
            gw.log().matches("CHILD_SA established").count() >= 2
        });
        std::thread::sleep(Duration::from_millis(500));
        // Remote access (section 2.19): strongSwan asks for a virtual IP with a
        // CFG_REQUEST and installs the one we assign.
        let rw = swanctl_initiate(&lab.ss, &lab.dir, "rw", "rwnet");
        let sas_after = lab.swanctl(&["--list-sas"]);
        gw.stop();
        let ours = gw.log();
        assert!(
            out.contains("initiate completed successfully"),
            "swanctl: {out}\nours: {ours}\ncharon: {}",
            lab.charon_log()
        );
        assert!(sas.contains("ESTABLISHED") && sas.contains(expect), "{sas}");
        assert!(sas.contains("INSTALLED"), "{sas}");
        assert!(ours.contains("IKE_SA established"), "{ours}");
        let child = ours
            .lines()
            .find(|l| l.starts_with("CHILD_SA established"))
            .unwrap_or_else(|| panic!("{ours}"));
        // The SPI we chose is strongSwan's outbound SPI for the Child SA.
        let spi = child
            .split_whitespace()
            .find_map(|w| w.strip_prefix("inbound_spi="))
            .unwrap();
        assert!(sas.contains(spi), "our SPI {spi} not in\n{sas}");
        assert!(
            rekeyed && child_rekeyed,
            "rekeys: ours {ours}\ncharon: {}\nSAs after: {sas_after}",
            lab.charon_log()
        );
        assert!(
            rw.contains("installing new virtual IP 10.9.0.7")
                && rw.contains("initiate completed successfully"),
            "{rw}\nours: {ours}"
        );
        // The DNS attribute arrives (this charon has no resolve plugin to apply it).
        assert!(rw.contains("CPRP(ADDR DNS)"), "{rw}");
        // The new IKE SA carries the rekeyed Child SA.
        let new_spis = ours
            .lines()
            .find_map(|l| l.strip_prefix("IKE_SA rekeyed "))
            .unwrap();
        let new_i = new_spis
            .split_whitespace()
            .next()
            .unwrap()
            .trim_start_matches("spi_i=");
        assert!(sas_after.contains(new_i), "{new_i} not in\n{sas_after}");
        assert!(sas_after.contains("INSTALLED"), "{sas_after}");
        // strongSwan initiated every exchange: its "initiator" key protects what we
        // receive. The second Child SA comes from the rekeyed IKE SA's SK_d, the third
        // belongs to the remote-access IKE SA.
        let charon = lab.charon_log();
        let ti = charon_keys(&charon, "encryption initiator key");
        let tr = charon_keys(&charon, "encryption responder key");
        let ours_keys: Vec<&str> = ours
            .lines()
            .filter(|l| l.starts_with("CHILD_SA keys"))
            .collect();
        assert_eq!(ours_keys.len(), 3, "{ours}");
        for (k, line) in ours_keys.iter().enumerate() {
            assert!(
                line.contains(&format!("inbound_encr={}", ti[k]))
                    && line.contains(&format!("outbound_encr={}", tr[k])),
                "KEYMAT {k} differs: ours {line}, charon i={} r={}",
                ti[k],
                tr[k]
            );
        }
    }
}

/// Every Child SA key charon logged after `label`, in order.
fn charon_keys(log: &str, label: &str) -> Vec<String> {
    let all: Vec<&str> = log.lines().collect();
    all.iter()
        .enumerate()
        .filter(|(_, l)| l.contains(label))
        .map(|(i, _)| one_key(&all[i..].join("\n"), label))
        .collect()
}

fn one_key(log: &str, label: &str) -> String {
    let mut lines = log.lines().skip_while(|l| !l.contains(label));
    let head = lines
        .next()
        .unwrap_or_else(|| panic!("no '{label}' in charon log"));
    let len: usize = head
        .split("=> ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    let mut hex = String::new();
    for l in lines.take(len.div_ceil(16)) {
        let dump = l.split_once(": ").map_or("", |(_, r)| r);
        let bytes = dump
            .split_whitespace()
            .take_while(|w| w.len() == 2 && w.chars().all(|c| c.is_ascii_hexdigit()));
        for b in bytes {
            if hex.len() < 2 * len {
                hex.push_str(&b.to_ascii_lowercase());
            }
        }
    }
    assert_eq!(hex.len(), 2 * len, "{head}");
    hex
}

#[test]
fn our_initiator_to_strongswan() {
    let test = "ikev2_us_to_strongswan";
    if !tools(test) {
        return;
    }
    let lab = Lab::new(test, "aes128gcm16-prfsha256-x25519", "aes128gcm16-x25519");
    let mut gw = lab.gw(
        "gw-initiator",
        &[
            "--initiate",
            "192.0.2.1",
            "--ts-local",
            "10.2.0.0/24",
            "--ts-remote",
            "10.1.0.0/24",
            "--create-child",
            "--pfs",
            "--rekey-ike",
            "--delete",
            "--timeout",
            "25",
        ],
    );
    let st = gw.wait(Duration::from_secs(30));
    let ours = gw.log();
    let charon = lab.charon_log();
    assert!(st.is_some(), "ikev2-gw did not finish: {ours}");
    assert!(
        ours.contains("IKE_SA established"),
        "{ours}\ncharon: {charon}"
    );
    assert_eq!(
        ours.lines()
            .filter(|l| l.starts_with("CHILD_SA established"))
            .count(),
        2,
        "{ours}\ncharon: {charon}"
    );
    // Both the rekeyed (old) IKE SA and the new one end with our Delete.
    assert!(ours.contains("IKE_SA rekeyed"), "{ours}\ncharon: {charon}");
    assert_eq!(
        ours.matches("IKE_SA closed").count(),
        2,
        "{ours}\ncharon: {charon}"
    );
    assert!(charon.contains("IKE_SA lab[2] rekeyed"), "{charon}");
    assert!(charon.contains("IKE_SA lab[1] established"), "{charon}");
    // Both Child SAs (IKE_AUTH and CREATE_CHILD_SA, each initiated by us) have the
    // keys strongSwan derived.
    let ours_keys: Vec<&str> = ours
        .lines()
        .filter(|l| l.starts_with("CHILD_SA keys"))
        .collect();
    let ti = charon_keys(&charon, "encryption initiator key");
    let tr = charon_keys(&charon, "encryption responder key");
    assert_eq!(ours_keys.len(), 2);
    for (k, line) in ours_keys.iter().enumerate() {
        assert!(
            line.contains(&format!("outbound_encr={}", ti[k]))
                && line.contains(&format!("inbound_encr={}", tr[k])),
            "Child SA {k}: ours {line}, charon i={} r={}",
            ti[k],
            tr[k]
        );
    }
    assert!(
        charon.contains("received DELETE for IKE_SA lab[2]"),
        "{charon}"
    );
}
