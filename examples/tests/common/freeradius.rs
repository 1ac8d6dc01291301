//! FreeRADIUS 3.2 as the RADIUS server of the interop tests (recipe:
//! `../shared/lab/radius.sh`): a configuration directory of its own (`radiusd.conf`,
//! `users`, log and run directories), `freeradius -X` started in a namespace, and
//! radclient sending CoA/Disconnect requests to the NAS under test.
//!
//! The server listens on 127.0.0.1 with the client secret `testing123` and requires
//! Message-Authenticator on requests; the `authorize` to `post-auth` sections are the
//! caller's.

use core::time::Duration;
use std::io::Write as _;
use std::path::Path;

use bng_testkit::netns::{Netns, Peer, wait_for};

use super::text;

/// `radiusd.conf` for a server whose files live in `dir`, listening for
/// authentication on 127.0.0.1:`auth_port` and accounting on `acct_port`, with the
/// modules pap, chap, files (`dir/users`), always ok and detail (under `dir/log`).
/// `policy` holds the virtual server's sections from `authorize` to `post-auth`.
pub fn radiusd_conf(dir: &Path, auth_port: u16, acct_port: u16, policy: &str) -> String {
    let d = dir.display();
    format!(
        r#"prefix = /usr
exec_prefix = /usr
sysconfdir = /etc
localstatedir = /var
sbindir = /usr/sbin
logdir = {d}/log
raddbdir = {d}
radacctdir = ${{logdir}}/radacct
name = freeradius
confdir = ${{raddbdir}}
modconfdir = ${{confdir}}/mods-config
run_dir = {d}/run
db_dir = ${{raddbdir}}
libdir = /usr/lib/freeradius
pidfile = ${{run_dir}}/${{name}}.pid
max_request_time = 30
cleanup_delay = 5
max_requests = 65536
hostname_lookups = no
log {{
	destination = files
	file = ${{logdir}}/radius.log
	auth = yes
}}
security {{
	max_attributes = 200
	reject_delay = 0
	status_server = yes
}}
client localhost {{
	ipaddr = 127.0.0.1
	secret = testing123
	require_message_authenticator = yes
}}
modules {{
	pap {{
		normalise = yes
	}}
	chap {{
	}}
	files {{
		filename = ${{raddbdir}}/users
		acctusersfile = ${{raddbdir}}/acct_users
	}}
	always ok {{
		rcode = ok
	}}
	detail {{
		filename = ${{radacctdir}}/detail
		header = "%t"
		permissions = 0600
		locking = no
	}}
}}
server default {{
	listen {{
		type = auth
		ipaddr = 127.0.0.1
		port = {auth_port}
	}}
	listen {{
		type = acct
		ipaddr = 127.0.0.1
		port = {acct_port}
	}}
{policy}}}
"#
    )
}

/// Writes a FreeRADIUS configuration directory `dir`: `radiusd.conf` (see
/// [`radiusd_conf`]), the `users` file, an empty `acct_users`, `log/radacct` and `run`.
pub fn raddb(dir: &Path, auth_port: u16, acct_port: u16, policy: &str, users: &str) {
    for sub in ["log/radacct", "run"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    std::fs::write(
        dir.join("radiusd.conf"),
        radiusd_conf(dir, auth_port, acct_port, policy),
    )
    .unwrap();
    std::fs::write(dir.join("users"), users).unwrap();
    std::fs::write(dir.join("acct_users"), "").unwrap();
}

/// Starts `freeradius -X` on the configuration in `dir` in `ns` (output to `log`) and
/// waits (15 s at most) until it is ready; fails the test if it exits first.
pub fn start(ns: &Netns, dir: &Path, log: &Path) -> Peer {
    let d = dir.to_str().unwrap();
    let mut p = ns.spawn(
        "freeradius",
        &["freeradius", "-X", "-d", d, "-n", "radiusd"],
        log,
    );
    let ok = wait_for(Duration::from_secs(15), "freeradius ready", || {
        p.log().contains("Ready to process requests") || p.exited().is_some()
    });
    assert!(
        ok && p.exited().is_none(),
        "freeradius did not start:\n{}",
        p.log()
    );
    p
}

/// radclient in `ns` sends one `kind` request (`coa`, `disconnect`) with the attribute
/// list `attrs` to the NAS's dynamic-authorization listener on 127.0.0.1:3799 (secret
/// `coasecret`, one try, 3 s timeout); its output.
pub fn radclient(ns: &Netns, kind: &str, attrs: &str) -> String {
    let mut c = ns.command(&[
        "radclient",
        "-r",
        "1",
        "-t",
        "3",
        "-x",
        "127.0.0.1:3799",
        kind,
        "coasecret",
    ]);
    c.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = c.spawn().expect("radclient");
    {
        let mut i = child.stdin.take().unwrap();
        writeln!(i, "{attrs}").unwrap();
    }
    text(&child.wait_with_output().expect("radclient output"))
}
