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
    issue(dir, None, "ca", "bngkit lab CA", &[], EC_P256);
}

/// Makes `name.pem`, a certificate issued by [`openssl_ca`]'s CA for the DNS name
/// `name` (subject CN and subjectAltName), and its PKCS#8 key `name.key`: ECDSA P-256,
/// or RSA-2048 with `rsa`.
pub fn openssl_cert(dir: &Path, name: &str, rsa: bool) {
    let san = format!("subjectAltName=DNS:{name}");
    let exts = [san.as_str(), "basicConstraints=critical,CA:FALSE"];
    let key: &[&str] = if rsa {
        &["-newkey", "rsa:2048"]
    } else {
        EC_P256
    };
    issue(dir, Some("ca"), name, name, &exts, key);
}

/// openssl's arguments for a new ECDSA P-256 key.
const EC_P256: &[&str] = &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"];

/// `openssl req -x509`: `name.pem` for `CN=cn` with a new key (`newkey` arguments) in
/// `name.key`, valid for two days, self-signed or issued by `issuer.pem`/`issuer.key`,
/// with the `-addext` values `exts`.
fn issue(dir: &Path, issuer: Option<&str>, name: &str, cn: &str, exts: &[&str], newkey: &[&str]) {
    let (cert, key, subj) = (
        format!("{name}.pem"),
        format!("{name}.key"),
        format!("/CN={cn}"),
    );
    let (ca, ca_key) = issuer.map_or((String::new(), String::new()), |i| {
        (format!("{i}.pem"), format!("{i}.key"))
    });
    let mut args = vec![
        "req", "-x509", "-nodes", "-keyout", &key, "-out", &cert, "-days", "2", "-subj", &subj,
    ];
    args.extend_from_slice(newkey);
    if issuer.is_some() {
        args.extend_from_slice(&["-CA", &ca, "-CAkey", &ca_key]);
    }
    for e in exts {
        args.extend_from_slice(&["-addext", e]);
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
/// always` (so it does not depend on a CERTREQ) and the identities `name` and `peer` (DNS
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

/// Makes `name.pem` and its PKCS#8 key `name.key` (ECDSA P-256, two days) in `dir`
/// with the subject `CN=cn`: self-signed without `issuer`, else issued by
/// `issuer.pem`/`issuer.key`; `exts` are `-addext` values (e.g.
/// `basicConstraints=critical,CA:TRUE`, `subjectAltName=DNS:gw.lab`).
pub fn openssl_issue(dir: &Path, issuer: Option<&str>, name: &str, cn: &str, exts: &[&str]) {
    issue(dir, issuer, name, cn, exts, EC_P256);
}

/// Makes `name.pem`/`name.key` as [`openssl_issue`] for the DNS name `cn`
/// (subjectAltName, CA:FALSE) issued by `issuer`, but valid only on 1 and 2 January
/// 2020 (expired), through `openssl ca` (`req -x509` cannot backdate).
pub fn openssl_expired(dir: &Path, issuer: &str, name: &str, cn: &str) {
    let conf = format!(
        "[ca]\ndefault_ca = lab\n[lab]\ndatabase = {name}.index\nnew_certs_dir = .\nserial = {name}.serial\ndefault_md = sha256\npolicy = any\ncopy_extensions = copy\n[any]\ncommonName = supplied\n"
    );
    std::fs::write(dir.join(format!("{name}.cnf")), conf).unwrap();
    std::fs::write(dir.join(format!("{name}.index")), "").unwrap();
    std::fs::write(dir.join(format!("{name}.serial")), "01\n").unwrap();
    let san = format!("subjectAltName=DNS:{cn}");
    let csr = new_csr(dir, name, cn, &[&san, "basicConstraints=critical,CA:FALSE"]);
    let (conf_file, ca, ca_key, out) = (
        format!("{name}.cnf"),
        format!("{issuer}.pem"),
        format!("{issuer}.key"),
        format!("{name}.pem"),
    );
    openssl(
        dir,
        &[
            "ca",
            "-config",
            &conf_file,
            "-batch",
            "-notext",
            "-startdate",
            "20200101000000Z",
            "-enddate",
            "20200102000000Z",
            "-keyfile",
            &ca_key,
            "-cert",
            &ca,
            "-in",
            &csr,
            "-out",
            &out,
        ],
    );
}

/// strongSwan's side of a certificate test ([`use_cert_chain`]).
#[derive(Debug, Clone, Copy)]
pub struct CertSide<'a> {
    /// Trust anchors (files of `pki`, into `x509ca/`), also `remote.cacerts`.
    pub cas: &'a [&'a str],
    /// Our certificate and, after it, intermediates (files of `pki`, into `x509/`).
    pub certs: &'a [&'a str],
    /// The private key (file of `pki`, into `private/`).
    pub key: &'a str,
    /// Our identity (a DNS name in our certificate).
    pub id: &'a str,
    /// The identity of the peer.
    pub peer: &'a str,
    /// `send_cert` (`ifasked`, strongSwan's default, sends it only after a CERTREQ).
    pub send_cert: &'a str,
}

/// As [`use_certificates`] with intermediate CAs and several trust anchors: the
/// charon of `dir` gets `side`'s files from `pki` (its credential directories emptied
/// first) and the connection `lab` `auth = pubkey` with them and `send_certreq = yes`
/// (strongSwan's default, written out); then reloads. Returns
/// swanctl's output.
pub fn use_cert_chain(ns: &Netns, dir: &Path, pki: &Path, side: CertSide<'_>) -> String {
    let sw = dir.join("swanctl");
    for sub in ["x509ca", "x509", "private"] {
        let _ = std::fs::remove_dir_all(sw.join(sub));
        std::fs::create_dir_all(sw.join(sub)).unwrap();
    }
    let copy = |f: &str, sub: &str| std::fs::copy(pki.join(f), sw.join(sub).join(f)).unwrap();
    for f in side.cas {
        copy(f, "x509ca");
    }
    for f in side.certs {
        copy(f, "x509");
    }
    copy(side.key, "private");
    let file = sw.join("swanctl.conf");
    let conf = std::fs::read_to_string(&file).unwrap();
    let (lab, rest) = conf.split_once("  rw {").unwrap();
    // The `lab` connection's local/remote blocks, whatever they hold now.
    let start = lab
        .find("    send_cert")
        .or_else(|| lab.find("    local {"))
        .unwrap();
    let end = lab.find("    children {").unwrap();
    let cert = side.certs.first().unwrap();
    let blocks = format!(
        "    send_cert = {send}\n    send_certreq = yes\n    local {{\n      auth = pubkey\n      certs = {cert}\n      id = {id}\n    }}\n    remote {{\n      auth = pubkey\n      id = {peer}\n      cacerts = {cas}\n    }}\n",
        send = side.send_cert,
        id = side.id,
        peer = side.peer,
        cas = side.cas.join(","),
    );
    let lab = format!("{}{blocks}{}", &lab[..start], &lab[end..]);
    std::fs::write(&file, format!("{lab}  rw {{{rest}")).unwrap();
    let out = swanctl_in(ns, dir, &["--load-all", "--noprompt", "--clear"]);
    assert!(out.contains("loaded connection 'lab'"), "{out}");
    out
}

/// Makes `name.pem`/`name.key` (ECDSA P-256, two days) in `dir` for `CN=cn`, issued
/// by `issuer` through `openssl x509 -req` with the extensions `exts` (lines of an
/// `-extfile`): none makes an X.509 version 1 certificate (so no basicConstraints),
/// and an issuer without a subject key identifier works too.
pub fn openssl_sign_req(dir: &Path, issuer: &str, name: &str, cn: &str, exts: &[&str]) {
    let csr = new_csr(dir, name, cn, &[]);
    let out = format!("{name}.pem");
    let (ca, ca_key, ext) = (
        format!("{issuer}.pem"),
        format!("{issuer}.key"),
        format!("{name}.ext"),
    );
    let mut args = vec![
        "x509", "-req", "-in", &csr, "-CA", &ca, "-CAkey", &ca_key, "-out", &out, "-days", "2",
    ];
    if !exts.is_empty() {
        std::fs::write(dir.join(&ext), exts.join("\n") + "\n").unwrap();
        args.extend_from_slice(&["-extfile", &ext]);
    }
    openssl(dir, &args);
}

/// `openssl req -new`: a request `name.csr` for `CN=cn` with the `-addext` values
/// `exts` and a new ECDSA P-256 key in `name.key`; returns the request's file name.
fn new_csr(dir: &Path, name: &str, cn: &str, exts: &[&str]) -> String {
    let (key, csr, subj) = (
        format!("{name}.key"),
        format!("{name}.csr"),
        format!("/CN={cn}"),
    );
    let mut args = vec![
        "req", "-new", "-nodes", "-keyout", &key, "-out", &csr, "-subj", &subj,
    ];
    args.extend_from_slice(EC_P256);
    for e in exts {
        args.extend_from_slice(&["-addext", e]);
    }
    openssl(dir, &args);
    csr
}
