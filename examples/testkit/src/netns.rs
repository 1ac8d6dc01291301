//! The interop harness: network namespaces, veth pairs, TAP devices, peer processes,
//! bounded waits and tshark checks. Everything it creates is removed on drop, by
//! the names it created and the PIDs it started, never by pattern.
//!
//! Tests that use it call [`require`] first: without root or a needed tool it prints
//! why it skips (a failure under `BNG_NO_SKIP=1`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::skip_or_fail;

/// True if this process runs as root.
#[must_use]
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    #[allow(unsafe_code, reason = "libc call without preconditions")]
    let uid = unsafe { libc::geteuid() };
    uid == 0
}

/// True if `tool` is an executable on `PATH` (or an absolute path that exists).
#[must_use]
pub fn have_tool(tool: &str) -> bool {
    if tool.contains('/') {
        return Path::new(tool).exists();
    }
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
}

/// Checks root and each tool; on a miss prints why `test` skips (or panics under
/// `BNG_NO_SKIP`) and returns false.
#[must_use]
pub fn require(test: &str, tools: &[&str]) -> bool {
    if !is_root() {
        skip_or_fail(test, "needs root (network namespaces)");
        return false;
    }
    for t in tools {
        if !have_tool(t) {
            skip_or_fail(
                test,
                &format!("needs `{t}` (the test command installs it as root)"),
            );
            return false;
        }
    }
    true
}

static SEQ: AtomicU32 = AtomicU32::new(0);

/// A short name unique to this process and call: `bk<pid><seq><tag>`, at most 15
/// bytes so it also fits an interface name.
#[must_use]
pub fn unique_name(tag: &str) -> String {
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    let mut s = format!("bk{}{}{}", std::process::id() % 100_000, n, tag);
    s.truncate(15);
    s
}

/// Runs a command to completion, panicking with its stderr if it fails.
pub fn run(args: &[&str]) -> Output {
    let (prog, rest) = args.split_first().expect("empty command");
    let out = Command::new(prog)
        .args(rest)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?} failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A network namespace, deleted on drop.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// Creates a fresh namespace with loopback up.
    #[must_use]
    pub fn new(tag: &str) -> Self {
        let name = unique_name(tag);
        run(&["ip", "netns", "add", &name]);
        let ns = Self { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    /// The namespace's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `ip netns exec NAME args...` as a [`Command`] (not started).
    #[must_use]
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name])
            .args(args)
            .stdin(Stdio::null());
        c
    }

    /// Runs `args` inside the namespace to completion; panics on failure.
    pub fn exec(&self, args: &[&str]) -> Output {
        let mut v = vec!["ip", "netns", "exec", &self.name];
        v.extend_from_slice(args);
        run(&v)
    }

    /// `ip args...` inside the namespace; panics on failure.
    pub fn ip(&self, args: &[&str]) -> Output {
        let mut v = vec!["ip", "-n", &self.name];
        v.extend_from_slice(args);
        run(&v)
    }

    /// Starts `args` inside the namespace as a [`Peer`] with stdout and stderr sent
    /// to `log`.
    #[must_use]
    pub fn spawn(&self, what: &str, args: &[&str], log: &Path) -> Peer {
        let mut c = self.command(args);
        Peer::start(what, &mut c, log)
    }

    /// Runs `f` on a new thread that has entered this namespace (`setns`), and
    /// returns its result. Sockets opened inside stay in the namespace wherever they
    /// are used afterwards.
    pub fn run_in<R: Send + 'static>(&self, f: impl FnOnce() -> R + Send + 'static) -> R {
        let path = format!("/run/netns/{}", self.name);
        std::thread::spawn(move || {
            let ns = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
            // SAFETY: setns(2) on a namespace descriptor we own; it changes only the
            // calling thread, which is this fresh thread.
            #[allow(unsafe_code, reason = "setns(2) has no safe wrapper in std")]
            let rc =
                unsafe { libc::setns(std::os::fd::AsRawFd::as_raw_fd(&ns), libc::CLONE_NEWNET) };
            assert_eq!(rc, 0, "setns {path}: {}", std::io::Error::last_os_error());
            f()
        })
        .join()
        .expect("thread in namespace panicked")
    }

    /// Creates a TAP device `dev` in this namespace, up (for a QEMU peer).
    pub fn tap(&self, dev: &str) {
        self.ip(&["tuntap", "add", "dev", dev, "mode", "tap"]);
        self.ip(&["link", "set", dev, "up"]);
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .stderr(Stdio::null())
            .status();
    }
}

/// Joins two namespaces with a veth pair `a` (in `na`) and `b` (in `nb`), both up.
/// The pair disappears with either namespace.
pub fn veth(na: &Netns, a: &str, nb: &Netns, b: &str) {
    run(&[
        "ip",
        "link",
        "add",
        a,
        "netns",
        na.name(),
        "type",
        "veth",
        "peer",
        "name",
        b,
        "netns",
        nb.name(),
    ]);
    na.ip(&["link", "set", a, "up"]);
    nb.ip(&["link", "set", b, "up"]);
}

/// A process this test started; stopped on drop by its PID (SIGTERM, then SIGKILL
/// after two seconds).
#[derive(Debug)]
pub struct Peer {
    what: String,
    child: Option<Child>,
    log: PathBuf,
}

impl Peer {
    /// Starts `cmd` with output to `log`.
    #[must_use]
    pub fn start(what: &str, cmd: &mut Command, log: &Path) -> Self {
        let f = std::fs::File::create(log).unwrap_or_else(|e| panic!("{}: {e}", log.display()));
        let g = f.try_clone().expect("dup log fd");
        let child = cmd
            .stdout(f)
            .stderr(g)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {what}: {e}"));
        Self {
            what: what.to_owned(),
            child: Some(child),
            log: log.to_owned(),
        }
    }

    /// The PID.
    #[must_use]
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// What the process printed so far.
    #[must_use]
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Whether it has exited (and with what status).
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// Waits at most `bound` for the process to exit by itself.
    pub fn wait(&mut self, bound: Duration) -> Option<std::process::ExitStatus> {
        let mut st = None;
        wait_for(bound, &format!("{} to exit", self.what), || {
            st = self.exited();
            st.is_some()
        });
        st
    }

    /// Stops it: SIGTERM, then SIGKILL after two seconds; reaps it.
    pub fn stop(&mut self) {
        let Some(mut c) = self.child.take() else {
            return;
        };
        if c.try_wait().ok().flatten().is_none() {
            let pid = libc::pid_t::try_from(c.id()).unwrap_or(0);
            if pid > 0 {
                // SAFETY: kill(2) on a PID we spawned and have not reaped yet.
                #[allow(unsafe_code, reason = "libc::kill on our own child")]
                unsafe {
                    libc::kill(pid, libc::SIGTERM);
                }
            }
            let t0 = Instant::now();
            while c.try_wait().ok().flatten().is_none() && t0.elapsed() < Duration::from_secs(2) {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
        }
        let _ = c.wait();
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Polls `cond` every 50 ms until it holds or `bound` passes; returns whether it
/// held. Every wait in an interop test is bounded.
pub fn wait_for(bound: Duration, what: &str, mut cond: impl FnMut() -> bool) -> bool {
    let t0 = Instant::now();
    loop {
        if cond() {
            return true;
        }
        if t0.elapsed() >= bound {
            eprintln!("timed out after {bound:?} waiting for {what}");
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A dumpcap capture on one interface of a namespace, stopped on drop.
///
/// dumpcap (tshark's capture engine, from the same package) is run directly: tshark
/// loads every dissector before it starts dumpcap, which took over 10 s on a loaded CI
/// machine when two tests started captures at once.
#[derive(Debug)]
pub struct Capture {
    peer: Peer,
    file: PathBuf,
}

impl Capture {
    /// Starts capturing `dev` in `ns` into `file` (pcapng), and waits (bounded) until
    /// the capture is running.
    #[must_use]
    pub fn start(ns: &Netns, dev: &str, file: &Path) -> Self {
        Self::start_filtered(ns, dev, file, None)
    }

    /// As [`Capture::start`], with a capture (BPF) filter, e.g. `not tcp port 5201` to
    /// keep a bulk iperf3 stream out of a capture that tshark must decode afterwards.
    #[must_use]
    pub fn start_filtered(ns: &Netns, dev: &str, file: &Path, filter: Option<&str>) -> Self {
        let _ = std::fs::remove_file(file);
        let log = file.with_extension("log");
        let f = file.to_str().expect("utf-8 path");
        let mut args = vec!["dumpcap", "-q", "-i", dev, "-w", f];
        if let Some(filter) = filter {
            args.extend(["-f", filter]);
        }
        let peer = ns.spawn("dumpcap", &args, &log);
        let up = wait_for(Duration::from_secs(30), "dumpcap to start", || {
            file.exists()
        });
        assert!(
            up,
            "dumpcap did not start: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        Self {
            peer,
            file: file.to_owned(),
        }
    }

    /// Stops the capture and returns the file.
    #[must_use]
    pub fn finish(mut self) -> PathBuf {
        // let dumpcap flush what it has
        std::thread::sleep(Duration::from_millis(300));
        self.peer.stop();
        self.file.clone()
    }
}

/// tshark's verdict on a capture file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decode {
    /// Frames in the file.
    pub frames: usize,
    /// Frames tshark flags as malformed (`_ws.malformed`).
    pub malformed: usize,
    /// One line per frame: `frame.protocols` as tshark prints it.
    pub protocols: Vec<String>,
}

/// Decodes `file` with tshark and counts malformed frames.
#[must_use]
pub fn tshark_decode(file: &Path) -> Decode {
    let f = file.to_str().expect("utf-8 path");
    let all = run(&[
        "tshark",
        "-n",
        "-r",
        f,
        "-T",
        "fields",
        "-e",
        "frame.protocols",
    ]);
    let protocols: Vec<String> = String::from_utf8_lossy(&all.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    let bad = run(&[
        "tshark",
        "-n",
        "-r",
        f,
        "-Y",
        "_ws.malformed || _ws.expert.severity == error",
    ]);
    let malformed = String::from_utf8_lossy(&bad.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .count();
    Decode {
        frames: protocols.len(),
        malformed,
        protocols,
    }
}

/// A scratch directory for one test under the system temp dir, emptied first.
#[must_use]
pub fn workdir(test: &str) -> PathBuf {
    let d = std::env::temp_dir().join("bngkit-tests").join(test);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display()));
    d
}
