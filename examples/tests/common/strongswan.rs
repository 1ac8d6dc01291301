//! strongSwan's charon (5.9, kernel-libipsec) as the interop peer of the IKEv2/IPsec
//! tests (recipe: `../shared/lab/strongswan.sh`): its configuration files in a work
//! directory, charon started in a namespace with a private `/run`, and swanctl against it.
//!
//! The lab: strongSwan is ike1@lab with 10.1.0.0/24 behind it, the peer under test
//! ike2@lab at 192.0.2.2 with 10.2.0.0/24, both authenticated with [`PSK`].

use core::time::Duration;
use std::path::Path;

use bng_testkit::netns::{Netns, Peer, wait_for};

use super::text;

/// charon's binary (Debian's strongswan-charon).
pub const CHARON: &str = "/usr/lib/ipsec/charon";
/// The pre-shared key of both peers.
pub const PSK: &str = "lab-psk-0123456789abcdef";

/// `strongswan.conf` for a charon whose files live in `d` (vici socket in `d/run`, log
/// in `d/charon.log`). `chd` is the Child SA log level (4 logs the Child SA keys).
pub fn strongswan_conf(d: &Path, chd: u8) -> String {
    format!(
        r"charon {{
  load_modular = no
  load = random nonce openssl aes sha1 sha2 hmac gcm kdf pem pkcs1 pkcs8 x509 pubkey kernel-libipsec kernel-netlink socket-default vici
  install_routes = yes
  reuse_ikesa = no
  dos_protection = no
  retransmit_tries = 3
  retransmit_timeout = 1.0
  plugins {{
    vici {{
      socket = unix://{d}/run/charon.vici
    }}
  }}
  filelog {{
    main {{
      path = {d}/charon.log
      time_format = %T
      default = 1
      ike = 2
      chd = {chd}
      flush_line = yes
    }}
  }}
  syslog {{
    daemon {{
      default = -1
    }}
  }}
}}
swanctl {{
  load = pem pkcs1 pkcs8 x509 pubkey openssl random
}}
",
        d = d.display()
    )
}

/// The remote-access connection `rw` of [`swanctl_conf`]: its Child SA's ESP proposals
/// and whether its SAs never rekey (`rekey_time = 0`).
#[derive(Debug, Clone, Copy)]
pub struct RoadWarrior<'a> {
    /// `esp_proposals` of the `rwnet` child.
    pub esp: &'a str,
    /// Writes `rekey_time = 0` for the IKE SA and the child.
    pub no_rekey: bool,
}

/// `swanctl.conf`: a site-to-site connection `lab` (child `net`, 10.1.0.0/24 ==
/// 10.2.0.0/24, never rekeyed by strongSwan) and a remote-access connection `rw` (child
/// `rwnet`, asks for a virtual IP), both from `local` to 192.0.2.2, and the PSK.
pub fn swanctl_conf(local: &str, proposals: &str, esp: &str, rw: RoadWarrior<'_>) -> String {
    let rw_rekey = if rw.no_rekey {
        "\n    rekey_time = 0"
    } else {
        ""
    };
    let rw_child_rekey = if rw.no_rekey {
        "\n        rekey_time = 0"
    } else {
        ""
    };
    let rw_esp = rw.esp;
    format!(
        r#"connections {{
  lab {{
    version = 2
    local_addrs = {local}
    remote_addrs = 192.0.2.2
    proposals = {proposals}
    rekey_time = 0
    mobike = no
    unique = never
    local {{
      auth = psk
      id = ike1@lab
    }}
    remote {{
      auth = psk
      id = ike2@lab
    }}
    children {{
      net {{
        local_ts = 10.1.0.0/24
        remote_ts = 10.2.0.0/24
        mode = tunnel
        esp_proposals = {esp}
        rekey_time = 0
        start_action = none
      }}
    }}
  }}
  rw {{
    version = 2
    local_addrs = {local}
    remote_addrs = 192.0.2.2
    proposals = {proposals}
    vips = 0.0.0.0{rw_rekey}
    mobike = no
    local {{
      auth = psk
      id = ike1@lab
    }}
    remote {{
      auth = psk
      id = ike2@lab
    }}
    children {{
      rwnet {{
        remote_ts = 10.2.0.0/24
        esp_proposals = {rw_esp}{rw_child_rekey}
        start_action = none
      }}
    }}
  }}
}}
secrets {{
  ike-lab {{
    id-a = ike1@lab
    id-b = ike2@lab
    secret = "{PSK}"
  }}
}}
"#
    )
}

/// Creates `dir/run` and `dir/swanctl` and writes `dir/strongswan.conf` (Child SA log
/// level `chd`) and `dir/swanctl/swanctl.conf` (`swanctl`).
pub fn write_config(dir: &Path, chd: u8, swanctl: &str) {
    std::fs::create_dir_all(dir.join("run")).unwrap();
    std::fs::create_dir_all(dir.join("swanctl")).unwrap();
    std::fs::write(dir.join("strongswan.conf"), strongswan_conf(dir, chd)).unwrap();
    std::fs::write(dir.join("swanctl/swanctl.conf"), swanctl).unwrap();
}

/// Starts charon in `ns` with the configuration in `dir` and waits (15 s at most) for
/// its vici socket.
pub fn start_charon(ns: &Netns, dir: &Path) -> Peer {
    // charon hardcodes /var/run/charon.pid: give it a private /run (the lab recipe).
    let script = format!(
        "mount --bind {d}/run /run && exec env STRONGSWAN_CONF={d}/strongswan.conf {CHARON}",
        d = dir.display()
    );
    let charon = ns.spawn("charon", &["sh", "-c", &script], &dir.join("charon.stdout"));
    let vici = dir.join("run/charon.vici");
    assert!(
        wait_for(Duration::from_secs(15), "charon's vici socket", || vici
            .exists()),
        "charon did not start: {}",
        charon.log()
    );
    charon
}

/// swanctl against the charon of `dir` in `ns`; its stdout and stderr.
pub fn swanctl_in(ns: &Netns, dir: &Path, args: &[&str]) -> String {
    let uri = format!("unix://{}/run/charon.vici", dir.display());
    let mut v = vec!["swanctl"];
    v.extend_from_slice(args);
    v.extend_from_slice(&["--uri", &uri]);
    let out = ns
        .command(&v)
        .env("STRONGSWAN_CONF", dir.join("strongswan.conf"))
        .env("SWANCTL_DIR", dir.join("swanctl"))
        .output()
        .expect("run swanctl");
    text(&out)
}

/// `swanctl --initiate` of the Child SA `child` over the IKE SA `ike` against the
/// charon of `dir` in `ns`, waiting 15 s at most; its output.
pub fn swanctl_initiate(ns: &Netns, dir: &Path, ike: &str, child: &str) -> String {
    swanctl_in(
        ns,
        dir,
        &[
            "--initiate",
            "--child",
            child,
            "--ike",
            ike,
            "--timeout",
            "15",
        ],
    )
}

/// `swanctl --load-all` against the charon of `dir` in `ns`; fails the test unless the
/// connection `lab` was loaded.
pub fn load_all(ns: &Netns, dir: &Path) {
    let out = swanctl_in(ns, dir, &["--load-all", "--noprompt"]);
    assert!(out.contains("loaded connection 'lab'"), "{out}");
}

/// charon's log file in `dir` so far (empty if there is none yet).
pub fn charon_log(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("charon.log")).unwrap_or_default()
}

/// Makes a lab CA with the openssl CLI in `dir`: `ca.pem` (ECDSA P-256, self-signed,
/// valid for two days) and its key `ca.key`.
pub fn openssl_ca(dir: &Path) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=bngkit lab CA",
        ],
    );
}

/// Makes `name.pem`, a certificate issued by [`openssl_ca`]'s CA for the DNS name
/// `name` (subject CN and subjectAltName), and its PKCS#8 key `name.key`: ECDSA P-256,
/// or RSA-2048 with `rsa`.
pub fn openssl_cert(dir: &Path, name: &str, rsa: bool) {
    let (cert, key) = (format!("{name}.pem"), format!("{name}.key"));
    let (subj, san) = (format!("/CN={name}"), format!("subjectAltName=DNS:{name}"));
    let mut args = vec![
        "req",
        "-x509",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-nodes",
        "-keyout",
        &key,
        "-out",
        &cert,
        "-days",
        "2",
        "-subj",
        &subj,
        "-addext",
        &san,
        "-addext",
        "basicConstraints=critical,CA:FALSE",
    ];
    if rsa {
        args.extend_from_slice(&["-newkey", "rsa:2048"]);
    } else {
        args.extend_from_slice(&["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]);
    }
    openssl(dir, &args);
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = std::process::Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl");
    assert!(out.status.success(), "openssl {args:?}: {}", text(&out));
}

/// Gives the charon of `dir` certificate authentication for the connection `lab` of
/// [`swanctl_conf`]: the CA of `pki` and its certificate `name` (files from
/// [`openssl_cert`]) in its swanctl directory, `auth = pubkey` with `send_cert =
/// always` (ipsec-gw sends no CERTREQ) and the identities `name` and `peer` (DNS
/// names) instead of the PSK ones; then reloads. The `pkcs8` plugin must be loaded
/// by swanctl and charon (see [`strongswan_conf`]'s load lists).
pub fn use_certificates(ns: &Netns, dir: &Path, pki: &Path, name: &str, peer: &str) {
    for (from, to) in [
        ("ca.pem", "x509ca/ca.pem"),
        (
            &format!("{name}.pem") as &str,
            &format!("x509/{name}.pem") as &str,
        ),
        (&format!("{name}.key"), &format!("private/{name}.key")),
    ] {
        let to = dir.join("swanctl").join(to);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(pki.join(from), to).unwrap();
    }
    let file = dir.join("swanctl/swanctl.conf");
    let conf = std::fs::read_to_string(&file).unwrap();
    let (lab, rest) = conf.split_once("  rw {").unwrap();
    let lab = lab
        .replace(
            "    local {\n      auth = psk\n      id = ike1@lab\n    }",
            &format!(
                "    send_cert = always\n    local {{\n      auth = pubkey\n      certs = {name}.pem\n      id = {name}\n    }}"
            ),
        )
        .replace(
            "    remote {\n      auth = psk\n      id = ike2@lab\n    }",
            &format!("    remote {{\n      auth = pubkey\n      id = {peer}\n      cacerts = ca.pem\n    }}"),
        );
    std::fs::write(&file, format!("{lab}  rw {{{rest}")).unwrap();
    let out = swanctl_in(ns, dir, &["--load-all", "--noprompt"]);
    assert!(
        out.contains("loaded connection 'lab'") && out.contains("loaded certificate"),
        "{out}"
    );
}
