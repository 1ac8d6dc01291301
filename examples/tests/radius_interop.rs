//! Interop: our RADIUS client, accounting and DAE server (`radius-nas`, built on
//! `bng-radius`) against FreeRADIUS 3.2 and radclient on the loopback of a private
//! network namespace (recipe: `../shared/lab/radius.sh`).
//!
//! - PAP accept and reject, CHAP accept (FreeRADIUS requires Message-Authenticator on
//!   our requests: `require_message_authenticator = yes`);
//! - a reply without Message-Authenticator is refused (BlastRADIUS default) and
//!   accepted only with the explicitly insecure option;
//! - accounting Start / Interim-Update / Stop recorded in the server's detail file, with
//!   Gigawords;
//! - failover: the first server is killed mid-run, requests move to the second; the
//!   first is restarted and revived by Status-Server probes;
//! - an accounting record sent while its server is down waits and is recorded once the
//!   server is back, with Acct-Delay-Time;
//! - radclient sends CoA-Request and Disconnect-Request to our listener and gets ACK,
//!   and NAK with Error-Cause for an unknown session.
//!
//! FreeRADIUS 3.2.1 adds Message-Authenticator to non-EAP replies only when told to:
//! the config below does so with `update reply { &Message-Authenticator := 0x00 }`,
//! except for the user `nomauser`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::too_many_lines,
    reason = "tests"
)]

use core::time::Duration;
use std::path::Path;
use std::process::Output;
use std::time::{SystemTime, UNIX_EPOCH};

use bng_testkit::netns::{Netns, require, wait_for, workdir};

mod common;
use common::freeradius::{self, radclient};
use common::wait_log;

const NAS: &str = env!("CARGO_BIN_EXE_radius-nas");

/// The virtual server's sections: Message-Authenticator on every reply except to
/// `nomauser`, Status-Server answered on both ports.
const POLICY: &str = r#"	authorize {
		if (&User-Name == "nomauser") {
			update control {
				&Cleartext-Password := "nomapw"
			}
		}
		chap
		files
		pap
		Autz-Type Status-Server {
			update reply {
				&Message-Authenticator := 0x00
			}
			ok
		}
	}
	authenticate {
		Auth-Type PAP {
			pap
		}
		Auth-Type CHAP {
			chap
		}
	}
	preacct {
	}
	accounting {
		Acct-Type Status-Server {
			update reply {
				&Message-Authenticator := 0x00
			}
			ok
		}
		detail
		update reply {
			&Message-Authenticator := 0x00
		}
		ok
	}
	post-auth {
		if (&User-Name != "nomauser") {
			update reply {
				&Message-Authenticator := 0x00
			}
		}
		Post-Auth-Type REJECT {
			update reply {
				&Message-Authenticator := 0x00
			}
		}
	}
"#;

const USERS: &str = "alice\tCleartext-Password := \"alicepw\"\n\tService-Type = Framed-User,\n\tFramed-Protocol = PPP,\n\tFramed-IP-Address = 100.64.0.10,\n\tSession-Timeout = 3600,\n\tAcct-Interim-Interval = 300\n";

/// Writes a FreeRADIUS configuration directory.
fn raddb(dir: &Path, auth_port: u16, acct_port: u16) {
    freeradius::raddb(dir, auth_port, acct_port, POLICY, USERS);
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn nas(ns: &Netns, args: &[&str]) -> String {
    let mut v = vec![NAS];
    v.extend_from_slice(args);
    let o = ns.command(&v).output().expect("run radius-nas");
    assert!(
        o.status.success(),
        "{v:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    out(&o)
}

fn auth(ns: &Netns, server: &str, user: &str, pw: &str, extra: &[&str]) -> String {
    let mut a = vec![
        "auth",
        "--server",
        server,
        "--secret",
        "testing123",
        "--user",
        user,
        "--password",
        pw,
    ];
    a.extend_from_slice(extra);
    nas(ns, &a)
}

#[test]
fn radius_interop_freeradius() {
    let test = "radius_interop_freeradius";
    if !require(test, &["ip", "freeradius", "radclient"]) {
        return;
    }
    let dir = workdir(test);
    let (a, b) = (dir.join("fr-a"), dir.join("fr-b"));
    raddb(&a, 1812, 1813);
    raddb(&b, 11812, 11813);
    let ns = Netns::new("rad");
    let mut fr_a = freeradius::start(&ns, &a, &dir.join("fr-a.log"));
    let mut fr_b = freeradius::start(&ns, &b, &dir.join("fr-b.log"));

    // PAP accept, with the reply's attributes.
    let o = auth(&ns, "127.0.0.1:1812", "alice", "alicepw", &[]);
    assert!(o.contains("code=Access-Accept server=0"), "{o}");
    assert!(o.contains("Framed-IP-Address=100.64.0.10"), "{o}");
    assert!(o.contains("Session-Timeout=3600"), "{o}");
    // PAP reject.
    let o = auth(&ns, "127.0.0.1:1812", "alice", "wrong", &[]);
    assert!(o.contains("code=Access-Reject"), "{o}");
    // CHAP accept.
    let o = auth(&ns, "127.0.0.1:1812", "alice", "alicepw", &["--chap"]);
    assert!(o.contains("code=Access-Accept"), "{o}");
    assert!(
        fr_a.log().contains("Login OK: [alice/<CHAP-Password>]") || fr_a.log().contains("CHAP"),
        "CHAP not seen by FreeRADIUS"
    );
    // A reply without Message-Authenticator is refused (and counted) ...
    let o = auth(&ns, "127.0.0.1:1812", "nomauser", "nomapw", &[]);
    assert!(o.contains("result i=0 timeout"), "{o}");
    assert!(
        o.contains("reason=failed verification: Message-Authenticator missing"),
        "{o}"
    );
    assert!(!o.contains("drop_missing_ma=0"), "{o}");
    // ... and accepted only with the explicitly insecure option.
    let o = auth(&ns, "127.0.0.1:1812", "nomauser", "nomapw", &["--insecure"]);
    assert!(o.contains("code=Access-Accept"), "{o}");
    // Our requests carry a valid Message-Authenticator: FreeRADIUS requires it.
    assert!(
        !fr_a
            .log()
            .contains("does not contain required Message-Authenticator")
    );

    // Accounting Start / Interim-Update / Stop, recorded in the detail file.
    for (status, extra) in [
        ("start", vec![]),
        (
            "interim",
            vec![
                "--in-octets",
                "5000000000",
                "--out-octets",
                "1234",
                "--session-time",
                "60",
            ],
        ),
        (
            "stop",
            vec![
                "--in-octets",
                "6000000000",
                "--out-octets",
                "2345",
                "--session-time",
                "120",
            ],
        ),
    ] {
        let mut args = vec![
            "acct",
            "--server",
            "127.0.0.1:1813",
            "--secret",
            "testing123",
            "--user",
            "alice",
            "--session",
            "sess-0001",
            "--status",
            status,
        ];
        args.extend_from_slice(&extra);
        let o = nas(&ns, &args);
        assert!(o.contains("code=Accounting-Response"), "{status}: {o}");
    }
    let detail = a.join("log/radacct/detail");
    let ok = wait_for(Duration::from_secs(20), "detail file", || {
        std::fs::read_to_string(&detail).is_ok_and(|d| d.contains("Acct-Status-Type = Stop"))
    });
    let d = std::fs::read_to_string(&detail).unwrap_or_default();
    assert!(ok, "no Stop in the detail file:\n{d}");
    for want in [
        "Acct-Status-Type = Start",
        "Acct-Status-Type = Interim-Update",
        "Acct-Session-Id = \"sess-0001\"",
        "Acct-Input-Gigawords = 1",
        "Acct-Input-Octets = 705032704",
        "Acct-Session-Time = 120",
        "Acct-Terminate-Cause = User-Request",
        "Acct-Delay-Time = 0",
    ] {
        assert!(d.contains(want), "detail lacks {want}:\n{d}");
    }

    // Failover and revival: 40 requests over 10 s to [A, B]; A is killed after ~2 s and
    // restarted after ~5 s.
    let mut run = ns.spawn(
        "radius-nas failover",
        &[
            NAS,
            "auth",
            "--server",
            "127.0.0.1:1812",
            "--server",
            "127.0.0.1:11812",
            "--secret",
            "testing123",
            "--user",
            "alice",
            "--password",
            "alicepw",
            "--count",
            "40",
            "--interval-ms",
            "250",
        ],
        &dir.join("failover.log"),
    );
    std::thread::sleep(Duration::from_secs(2));
    fr_a.stop();
    std::thread::sleep(Duration::from_secs(3));
    let mut fr_a2 = freeradius::start(&ns, &a, &dir.join("fr-a2.log"));
    let st = run.wait(Duration::from_secs(60));
    let log = run.log();
    assert!(
        st.is_some_and(|s| s.success()),
        "radius-nas failover:\n{log}"
    );
    let results: Vec<&str> = log.lines().filter(|l| l.starts_with("result ")).collect();
    assert_eq!(results.len(), 40, "{log}");
    let accepted = results
        .iter()
        .filter(|l| l.contains("code=Access-Accept"))
        .count();
    assert!(accepted >= 38, "few requests survived the failover:\n{log}");
    assert!(
        results.iter().any(|l| l.contains("server=1")),
        "no failover to B:\n{log}"
    );
    assert!(
        results.last().is_some_and(|l| l.contains("server=0")),
        "A not used again after revival:\n{log}"
    );
    assert!(
        log.contains("probe-answered server=0"),
        "no Status-Server revival:\n{log}"
    );
    assert!(!log.contains("servers_revived=0"), "{log}");

    // Accounting while the only accounting server is down: the record waits in the
    // client's slots and reaches the server once it is back, with Acct-Delay-Time.
    fr_b.stop();
    let mut queued = ns.spawn(
        "radius-nas acct queued",
        &[
            NAS,
            "acct",
            "--server",
            "127.0.0.1:11813",
            "--secret",
            "testing123",
            "--user",
            "alice",
            "--session",
            "sess-queued",
            "--status",
            "start",
        ],
        &dir.join("acct-queued.log"),
    );
    std::thread::sleep(Duration::from_secs(3));
    let mut fr_b = freeradius::start(&ns, &b, &dir.join("fr-b2.log"));
    let st = queued.wait(Duration::from_secs(60));
    let qlog = queued.log();
    assert!(st.is_some_and(|s| s.success()), "{qlog}");
    assert!(qlog.contains("code=Accounting-Response"), "{qlog}");
    let detail_b = std::fs::read_to_string(b.join("log/radacct/detail")).unwrap_or_default();
    let rec = detail_b
        .split("\n\n")
        .find(|r| r.contains("sess-queued"))
        .unwrap_or_else(|| panic!("queued record not in B's detail file:\n{detail_b}"));
    let delay: u32 = rec
        .lines()
        .find_map(|l| l.trim().strip_prefix("Acct-Delay-Time = "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no Acct-Delay-Time:\n{rec}"));
    assert!(
        delay >= 2,
        "Acct-Delay-Time {delay} after ~3 s queued:\n{rec}"
    );

    // radclient CoA / Disconnect to our DAE listener.
    let mut dae = ns.spawn(
        "radius-nas dae",
        &[
            NAS,
            "dae",
            "--listen",
            "127.0.0.1:3799",
            "--client",
            "127.0.0.1",
            "--secret",
            "coasecret",
            "--known-session",
            "sess-0001",
            "--max",
            "3",
            "--timeout-s",
            "30",
        ],
        &dir.join("dae.log"),
    );
    wait_log(&dae, 5, "dae listening", "listening");
    let ts = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let o = radclient(
        &ns,
        "coa",
        &format!(
            "User-Name=alice,Acct-Session-Id=sess-0001,Event-Timestamp={ts},Session-Timeout=30,Message-Authenticator=0x00"
        ),
    );
    assert!(o.contains("Received CoA-ACK"), "{o}\n{}", dae.log());
    let o = radclient(
        &ns,
        "disconnect",
        &format!(
            "User-Name=alice,Acct-Session-Id=sess-9999,Event-Timestamp={ts},Message-Authenticator=0x00"
        ),
    );
    assert!(o.contains("Received Disconnect-NAK"), "{o}\n{}", dae.log());
    assert!(o.contains("Error-Cause = Session-Context-Not-Found"), "{o}");
    let o = radclient(
        &ns,
        "disconnect",
        &format!(
            "User-Name=alice,Acct-Session-Id=sess-0001,Event-Timestamp={ts},Message-Authenticator=0x00"
        ),
    );
    assert!(o.contains("Received Disconnect-ACK"), "{o}\n{}", dae.log());
    let _ = dae.wait(Duration::from_secs(5));
    assert!(dae.log().contains("dae done answered=3"), "{}", dae.log());

    dae.stop();
    fr_a2.stop();
    fr_b.stop();
}
