//! `radius-nas`: a NAS built on `bng-radius` over std `UdpSocket`s, for the interop
//! tests against FreeRADIUS (`examples/tests/radius_interop.rs`).
//!
//! - `auth`: Access-Requests (PAP or CHAP) to one or more servers in failover order;
//!   prints one `result` line per request and a final `stats` line.
//! - `acct`: one Accounting-Request (Start, Interim-Update or Stop).
//! - `dae`: an RFC 5176 listener answering CoA/Disconnect-Requests: ACK when the
//!   Acct-Session-Id is the known one, NAK (Error-Cause 503) otherwise.
//!
//! Output is line-oriented `key=value` text so a test can grep it.

#![allow(
    clippy::std_instead_of_core,
    clippy::std_instead_of_alloc,
    reason = "a std binary"
)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::print_stdout,
    clippy::too_many_lines,
    clippy::cast_possible_truncation,
    clippy::panic,
    reason = "a test tool: setup errors end the process with a message"
)]

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bng_examples::rng::UrandomRng;
use bng_radius::Secret;
use bng_radius::client::{
    AcctRecord, Client, Config, Event, Handle, ServerConfig, ServerKind, Slot,
};
use bng_radius::dae::{DaeClient, DaeConfig, DaeServer};
use bng_radius::dict::{AcctStatusType, AttrType, ErrorCause, TerminateCause};
use bng_radius::packet::Packet;
use bng_radius::rand_core::RngCore;
use clap::{Args as ClapArgs, Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(about = "A bng-radius NAS for interop tests")]
struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

/// The servers and user of `auth` and `acct`.
#[derive(ClapArgs, Debug)]
struct Target {
    /// Servers in failover order (ip:port).
    #[arg(long = "server", required = true)]
    servers: Vec<SocketAddr>,
    /// Shared secret.
    #[arg(long)]
    secret: String,
    /// User-Name.
    #[arg(long)]
    user: String,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Access-Requests.
    Auth {
        #[command(flatten)]
        to: Target,
        /// Password (PAP, or the CHAP secret with --chap).
        #[arg(long)]
        password: String,
        /// Use CHAP instead of PAP.
        #[arg(long)]
        chap: bool,
        /// Requests to send.
        #[arg(long, default_value_t = 1)]
        count: u32,
        /// Interval between requests.
        #[arg(long, default_value_t = 0)]
        interval_ms: u64,
        /// Accept replies without Message-Authenticator (UNSAFE, for the test only).
        #[arg(long)]
        insecure: bool,
        /// Token-bucket rate per server (requests/s, 0 = unlimited).
        #[arg(long, default_value_t = 1000)]
        rate: u32,
    },
    /// One Accounting-Request.
    Acct {
        #[command(flatten)]
        to: Target,
        /// Acct-Session-Id.
        #[arg(long)]
        session: String,
        /// start, interim or stop.
        #[arg(long)]
        status: String,
        /// Octets from the subscriber.
        #[arg(long, default_value_t = 0)]
        in_octets: u64,
        /// Octets to the subscriber.
        #[arg(long, default_value_t = 0)]
        out_octets: u64,
        /// Session time in seconds.
        #[arg(long, default_value_t = 0)]
        session_time: u32,
    },
    /// RFC 5176 listener.
    Dae {
        /// Address to listen on.
        #[arg(long)]
        listen: SocketAddr,
        /// Allowed Dynamic Authorization Client.
        #[arg(long)]
        client: IpAddr,
        /// Shared secret.
        #[arg(long)]
        secret: String,
        /// The one session this NAS knows.
        #[arg(long)]
        known_session: String,
        /// Requests to answer before exiting.
        #[arg(long, default_value_t = 2)]
        max: u32,
        /// Exit after this many seconds.
        #[arg(long, default_value_t = 30)]
        timeout_s: u64,
        /// Do not require Event-Timestamp.
        #[arg(long)]
        no_event_timestamp: bool,
    },
}

/// Requests in flight at once (the slot storage).
const MAX_PENDING: usize = 64;

/// Registers `n` servers of `kind` sharing `secret`, in failover order.
fn add_servers(
    c: &mut Client<'_>,
    n: usize,
    kind: ServerKind,
    secret: &str,
    rate_per_sec: u32,
    burst: u32,
) {
    for _ in 0..n {
        c.add_server(ServerConfig {
            kind,
            secret: Secret::new(secret.as_bytes()).expect("secret"),
            rate_per_sec,
            burst,
        })
        .expect("server");
    }
}

fn client_config(insecure: bool) -> Config {
    Config {
        initial_rt: Duration::from_millis(300),
        max_rt: Duration::from_secs(1),
        max_retransmits: 1,
        auth_deadline: Duration::from_secs(5),
        dead_after_failures: 1,
        probe_interval: Duration::from_secs(1),
        max_ports: 2,
        insecure_accept_responses_without_message_authenticator: insecure,
        ..Config::default()
    }
}

fn describe(p: &Packet<&[u8]>) -> String {
    let mut s = String::new();
    for a in p.attributes().map_while(Result::ok) {
        let v = match a.kind {
            AttrType::FRAMED_IP_ADDRESS => a.as_ipv4().map(|v| v.to_string()),
            AttrType::SESSION_TIMEOUT | AttrType::ACCT_INTERIM_INTERVAL => {
                a.as_u32().map(|v| v.to_string())
            }
            AttrType::REPLY_MESSAGE => a.as_text().map(str::to_owned),
            _ => None,
        };
        if let Some(v) = v {
            let _ = write!(s, " {:?}={v}", a.kind);
        }
    }
    s
}

/// Runs the client until every submitted request ended. `submit` is called with the
/// request index when its time comes.
fn drive(
    client: &mut Client<'_>,
    servers: &[SocketAddr],
    count: u32,
    interval: Duration,
    mut submit: impl FnMut(&mut Client<'_>, Duration, &mut UrandomRng, u32) -> Handle,
) {
    let mut rng = UrandomRng::new();
    let sockets: Vec<UdpSocket> = (0..2)
        .map(|_| {
            let s = UdpSocket::bind("127.0.0.1:0").expect("bind");
            s.set_nonblocking(true).expect("nonblocking");
            s
        })
        .collect();
    let start = Instant::now();
    let mut index: HashMap<Handle, u32> = HashMap::new();
    let (mut submitted, mut done) = (0u32, 0u32);
    let mut tx = vec![0u8; 4096];
    let mut rx = vec![0u8; 4096];
    let hard_stop = Duration::from_secs(120);
    while done < count && start.elapsed() < hard_stop {
        let now = start.elapsed();
        while submitted < count && now >= interval * submitted && client.pending() < MAX_PENDING {
            let h = submit(client, now, &mut rng, submitted);
            index.insert(h, submitted);
            submitted += 1;
        }
        client.handle_timeout(now, &mut rng);
        while let Some(Event::TimedOut(h)) = client.poll_event() {
            println!(
                "result i={} timeout t_ms={}",
                index.get(&h).copied().unwrap_or(u32::MAX),
                now.as_millis()
            );
            done += 1;
        }
        while let Some(t) = client.poll_action(now, &mut tx) {
            let _ = sockets[usize::from(t.port)].send_to(&tx[..t.len], servers[t.server]);
        }
        for (pi, s) in sockets.iter().enumerate() {
            while let Ok((n, from)) = s.recv_from(&mut rx) {
                let Some(si) = servers.iter().position(|a| *a == from) else {
                    continue;
                };
                match client.handle_packet(start.elapsed(), si, pi as u8, &rx[..n]) {
                    Ok(Some(r)) => {
                        println!(
                            "result i={} code={:?} server={si} t_ms={}{}",
                            index.get(&r.handle).copied().unwrap_or(u32::MAX),
                            r.code,
                            start.elapsed().as_millis(),
                            describe(&r.packet)
                        );
                        done += 1;
                    }
                    Ok(None) => println!("probe-answered server={si}"),
                    Err(e) => println!("dropped server={si} reason={e}"),
                }
            }
        }
        if client.pending() > 0 || submitted < count {
            std::thread::sleep(Duration::from_micros(200));
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "rate requests={count} seconds={secs:.3} per_second={:.0}",
        f64::from(count) / secs
    );
    let s = client.stats();
    println!(
        "stats sent={} retransmits={} replies={} timeouts={} failovers={} servers_dead={} servers_revived={} probes={} drop_missing_ma={} drop_bad_auth={} drop_bad_ma={} drop_unmatched={}",
        s.sent,
        s.retransmits,
        s.replies,
        s.timeouts,
        s.failovers,
        s.servers_dead,
        s.servers_revived,
        s.probes,
        s.drop_missing_message_authenticator,
        s.drop_bad_authenticator,
        s.drop_bad_message_authenticator,
        s.drop_unmatched
    );
}

fn main() {
    let args = Args::parse();
    match args.cmd {
        Cmd::Auth {
            to:
                Target {
                    servers,
                    secret,
                    user,
                },
            password,
            chap,
            count,
            interval_ms,
            insecure,
            rate,
        } => {
            let mut slots = vec![Slot::EMPTY; MAX_PENDING];
            let mut c = Client::new(client_config(insecure), &mut slots).expect("config");
            add_servers(&mut c, servers.len(), ServerKind::Auth, &secret, rate, 100);
            drive(
                &mut c,
                &servers,
                count,
                Duration::from_millis(interval_ms),
                |c, now, rng, i| {
                    let mut challenge = [0u8; 16];
                    rng.fill_bytes(&mut challenge);
                    let ident = challenge[0];
                    c.submit_access(now, rng, |t| {
                        t.attribute(AttrType::USER_NAME, user.as_bytes())?;
                        if chap {
                            t.chap(ident, password.as_bytes(), &challenge)?;
                        } else {
                            t.user_password(password.as_bytes())?;
                        }
                        t.ipv4(AttrType::NAS_IP_ADDRESS, std::net::Ipv4Addr::LOCALHOST)?;
                        t.u32(AttrType::NAS_PORT, i)?;
                        t.attribute(AttrType::NAS_PORT_ID, b"eth0.100")?;
                        t.attribute(AttrType::CALLING_STATION_ID, b"02-00-00-00-00-01")
                    })
                    .expect("submit")
                },
            );
        }
        Cmd::Acct {
            to:
                Target {
                    servers,
                    secret,
                    user,
                },
            session,
            status,
            in_octets,
            out_octets,
            session_time,
        } => {
            let status = match status.as_str() {
                "start" => AcctStatusType::START,
                "interim" => AcctStatusType::INTERIM_UPDATE,
                "stop" => AcctStatusType::STOP,
                other => panic!("unknown status {other}"),
            };
            let mut slots = vec![Slot::EMPTY; 4];
            let mut c = Client::new(client_config(false), &mut slots).expect("config");
            add_servers(&mut c, servers.len(), ServerKind::Acct, &secret, 0, 0);
            let rec = AcctRecord {
                input_octets: in_octets,
                output_octets: out_octets,
                input_packets: in_octets / 1000,
                output_packets: out_octets / 1000,
                session_time,
                terminate_cause: Some(TerminateCause::USER_REQUEST),
                ..AcctRecord::new(status, session.as_bytes())
            };
            drive(&mut c, &servers, 1, Duration::ZERO, |c, now, _, _| {
                c.submit_accounting(now, &rec, |t| {
                    t.attribute(AttrType::USER_NAME, user.as_bytes())?;
                    t.ipv4(AttrType::NAS_IP_ADDRESS, std::net::Ipv4Addr::LOCALHOST)?;
                    t.ipv4(
                        AttrType::FRAMED_IP_ADDRESS,
                        std::net::Ipv4Addr::new(100, 64, 0, 10),
                    )
                })
                .expect("submit")
            });
        }
        Cmd::Dae {
            listen,
            client,
            secret,
            known_session,
            max,
            timeout_s,
            no_event_timestamp,
        } => {
            let clients = [DaeClient {
                addr: client,
                secret: Secret::new(secret.as_bytes()).expect("secret"),
            }];
            let mut srv = DaeServer::new(
                DaeConfig {
                    require_event_timestamp: !no_event_timestamp,
                    ..DaeConfig::default()
                },
                &clients,
            );
            let sock = UdpSocket::bind(listen).expect("bind");
            sock.set_read_timeout(Some(Duration::from_millis(200)))
                .expect("timeout");
            println!("listening {listen}");
            let start = Instant::now();
            let mut answered = 0;
            let mut rx = vec![0u8; 4096];
            let mut tx = vec![0u8; 4096];
            while answered < max && start.elapsed() < Duration::from_secs(timeout_s) {
                let Ok((n, from)) = sock.recv_from(&mut rx) else {
                    continue;
                };
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default();
                match srv.handle_packet(now, from.ip(), &rx[..n]) {
                    Ok(r) => {
                        let sid = r.session.acct_session_id.unwrap_or_default();
                        let outcome = if r.session.is_empty() {
                            Err(ErrorCause::MISSING_ATTRIBUTE)
                        } else if sid == known_session.as_bytes() {
                            Ok(())
                        } else {
                            Err(ErrorCause::SESSION_CONTEXT_NOT_FOUND)
                        };
                        let m = srv.respond(&r, outcome, &mut tx).expect("respond");
                        let _ = sock.send_to(&tx[..m], from);
                        println!(
                            "dae kind={:?} user={} session={} answer={:?}",
                            r.kind,
                            String::from_utf8_lossy(r.session.user_name.unwrap_or_default()),
                            String::from_utf8_lossy(sid),
                            outcome
                        );
                        answered += 1;
                    }
                    Err(e) => println!("dae dropped from={from} reason={e}"),
                }
            }
            println!("dae done answered={answered}");
        }
    }
}
