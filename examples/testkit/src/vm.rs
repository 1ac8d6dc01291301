//! The test VM: a stock Debian kernel and initramfs built by `examples/vm/build.sh`,
//! booted under QEMU with its NIC on a TAP device in a test namespace. It gives the
//! interop tests real Linux peers that this host kernel cannot run (pppd with kernel
//! PPPoE, kernel ESP). The scenario runner in the VM is `examples/vm/init.sh`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::netns::{Netns, Peer, have_tool, is_root, wait_for};
use crate::skip_or_fail;

/// Environment variable naming where the image is built and cached (default
/// `/var/tmp/bngkit-vm`).
pub const VM_DIR_ENV: &str = "BNG_VM_DIR";

/// A built VM image.
#[derive(Debug, Clone)]
pub struct Image {
    dir: PathBuf,
}

fn image_dir() -> PathBuf {
    std::env::var_os(VM_DIR_ENV).map_or_else(|| PathBuf::from("/var/tmp/bngkit-vm"), PathBuf::from)
}

/// Builds the image if needed (serialised across test processes with a lock file) and
/// returns it; `None` (after printing why, or failing under `BNG_NO_SKIP`) when this
/// machine cannot run it (not root, no qemu, no apt).
#[must_use]
pub fn image(test: &str) -> Option<Image> {
    if !is_root() {
        skip_or_fail(test, "the VM test needs root (TAP devices, namespaces)");
        return None;
    }
    for t in ["qemu-system-x86_64", "apt-get", "dpkg-deb", "readelf", "xz"] {
        if !have_tool(t) {
            skip_or_fail(
                test,
                &format!(
                    "the VM test needs `{t}` (apt-get install qemu-system-x86 binutils xz-utils)"
                ),
            );
            return None;
        }
    }
    let dir = image_dir();
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let lock = std::fs::File::create(dir.join(".lock")).expect("lock file");
    // SAFETY: flock on a descriptor we own; released when `lock` is dropped.
    #[allow(unsafe_code, reason = "flock(2) serialises concurrent builds")]
    unsafe {
        libc::flock(std::os::fd::AsRawFd::as_raw_fd(&lock), libc::LOCK_EX);
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../vm/build.sh");
    let out = Command::new("bash")
        .arg(&script)
        .arg(&dir)
        .output()
        .expect("run examples/vm/build.sh");
    assert!(
        out.status.success(),
        "examples/vm/build.sh failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    drop(lock);
    Some(Image { dir })
}

/// What a VM run reported on its console.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// `(check, detail)` of every `PASS` line.
    pub passed: Vec<(String, String)>,
    /// `(check, detail)` of every `FAIL` line.
    pub failed: Vec<(String, String)>,
    /// Whether the VM reached `DONE`.
    pub done: bool,
    /// The whole console.
    pub console: String,
}

impl Report {
    /// True if `check` passed.
    #[must_use]
    pub fn passed(&self, check: &str) -> bool {
        self.passed.iter().any(|(c, _)| c == check)
    }
}

fn parse(console: &str) -> Report {
    let mut r = Report {
        console: console.to_owned(),
        ..Report::default()
    };
    for l in console.lines() {
        let Some(rest) = l.trim_end_matches('\r').strip_prefix("BNG-VM: ") else {
            continue;
        };
        let (word, tail) = rest.split_once(' ').unwrap_or((rest, ""));
        let (check, detail) = tail.split_once(' ').unwrap_or((tail, ""));
        match word {
            "PASS" => r.passed.push((check.to_owned(), detail.to_owned())),
            "FAIL" => r.failed.push((check.to_owned(), detail.to_owned())),
            "DONE" => r.done = true,
            _ => {}
        }
    }
    r
}

/// A running VM; killed on drop.
#[derive(Debug)]
pub struct Vm {
    qemu: Peer,
    console: PathBuf,
}

impl Image {
    /// Boots the VM with its NIC (MAC `52:54:00:12:34:56`) on `tap` in `ns` and the
    /// given `bng.<key>=<value>` parameters (no spaces in values).
    #[must_use]
    pub fn boot(&self, ns: &Netns, tap: &str, params: &[(&str, &str)], workdir: &Path) -> Vm {
        self.boot_dump(ns, tap, params, workdir, None)
    }

    /// [`Image::boot`], and with `dump` QEMU writes every frame of the VM's NIC to that
    /// pcap file (`-object filter-dump`): what the VM sent and received exactly, VLAN
    /// tags included, also when the host side of the TAP is served by AF_XDP (whose
    /// frames a capture on the TAP does not see).
    #[must_use]
    pub fn boot_dump(
        &self,
        ns: &Netns,
        tap: &str,
        params: &[(&str, &str)],
        workdir: &Path,
        dump: Option<&Path>,
    ) -> Vm {
        let (kernel, initrd) = if self.dir.join("vmlinux").exists() {
            (self.dir.join("vmlinux"), self.dir.join("initramfs.cpio"))
        } else {
            (self.dir.join("vmlinuz"), self.dir.join("initramfs.cpio"))
        };
        let mut append = String::from(
            "console=ttyS0 quiet panic=-1 loglevel=1 i8042.noaux i8042.nopnp tsc=reliable no_timer_check",
        );
        for (k, v) in params {
            assert!(!v.contains(' '), "VM parameter {k} has a space");
            let _ = write!(append, " bng.{k}={v}");
        }
        let kvm = Path::new("/dev/kvm").exists()
            && std::fs::read_to_string("/proc/cpuinfo")
                .is_ok_and(|c| c.contains(" vmx") || c.contains(" svm"));
        let console = workdir.join("vm-console.log");
        let _ = std::fs::remove_file(&console);
        // without the virtio-net header a dump holds plain Ethernet frames
        let vnet = if dump.is_some() { ",vnet_hdr=off" } else { "" };
        let netdev = format!("tap,id=n0,ifname={tap},script=no,downscript=no{vnet}");
        let chardev = format!("file,id=c0,path={}", console.display());
        let args: Vec<String> = [
            "qemu-system-x86_64",
            "-M",
            "pc",
            "-accel",
            if kvm { "kvm" } else { "tcg" },
            "-cpu",
            if kvm { "host" } else { "max" },
            "-smp",
            "1",
            "-m",
            "192",
            "-nodefaults",
            "-no-user-config",
            "-display",
            "none",
            "-no-reboot",
            "-monitor",
            "none",
            "-kernel",
            kernel.to_str().expect("utf-8"),
            "-initrd",
            initrd.to_str().expect("utf-8"),
            "-append",
            &append,
            "-chardev",
            &chardev,
            "-serial",
            "chardev:c0",
            "-netdev",
            &netdev,
            "-device",
            "virtio-net-pci,romfile=,netdev=n0,mac=52:54:00:12:34:56",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .chain(dump.into_iter().flat_map(|f| {
            [
                "-object".to_owned(),
                format!("filter-dump,id=d0,netdev=n0,file={}", f.display()),
            ]
        }))
        .collect();
        let words: Vec<&str> = args.iter().map(String::as_str).collect();
        let qemu = ns.spawn("qemu", &words, &workdir.join("qemu.log"));
        Vm { qemu, console }
    }
}

impl Vm {
    /// The console so far, parsed.
    #[must_use]
    pub fn report(&self) -> Report {
        parse(&std::fs::read_to_string(&self.console).unwrap_or_default())
    }

    /// Waits at most `bound` for the scenario to finish (`DONE`), then stops QEMU.
    pub fn finish(mut self, bound: Duration) -> Report {
        wait_for(bound, "the VM scenario to finish", || {
            self.qemu.exited().is_some() || self.report().done
        });
        // give the guest a moment to power off by itself, then stop it
        let _ = self.qemu.wait(Duration::from_secs(3));
        self.qemu.stop();
        self.report()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn console_parsing() {
        let r = super::parse(
            "x\nBNG-VM: PASS discovery t=1.2\r\nBNG-VM: FAIL ip reached 'lcp'\nBNG-VM: DONE fails=1\n",
        );
        assert!(r.passed("discovery"));
        assert_eq!(r.failed[0].0, "ip");
        assert!(r.done);
    }
}
