//! Builds the DPDK shim (`shim/dpdk_shim.c`) against pkg-config's `libdpdk`, only with
//! the `dpdk` cargo feature; without it this script does nothing.

#![allow(
    clippy::std_instead_of_core,
    clippy::panic,
    clippy::expect_used,
    reason = "a build script: failing loudly is how it reports"
)]

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var_os("CARGO_FEATURE_DPDK").is_none() {
        return;
    }
    dpdk::build();
}

#[cfg(feature = "dpdk")]
mod dpdk {
    pub(crate) fn build() {
        println!("cargo:rerun-if-changed=shim/dpdk_shim.c");
        // link flags (-L, -l for every DPDK library) through the pkg-config crate
        let lib = pkg_config::Config::new()
            .atleast_version("22.11")
            .probe("libdpdk")
            .unwrap_or_else(|e| {
                panic!(
                    "the `dpdk` feature needs DPDK >= 22.11 (Debian: apt install libdpdk-dev): {e}"
                )
            });
        // compile flags as pkg-config gives them: include paths, `-include rte_config.h`
        // and the -march DPDK was built for (its inline functions use those intrinsics)
        let out = std::process::Command::new("pkg-config")
            .args(["--cflags", "libdpdk"])
            .output()
            .expect("run pkg-config --cflags libdpdk");
        let cflags = String::from_utf8_lossy(&out.stdout).into_owned();
        let mut cc = cc::Build::new();
        cc.file("shim/dpdk_shim.c").warnings(true).opt_level(2);
        for p in &lib.include_paths {
            cc.include(p);
        }
        let mut it = cflags.split_whitespace();
        while let Some(f) = it.next() {
            if f == "-include" {
                if let Some(h) = it.next() {
                    cc.flag("-include").flag(h);
                }
            } else if !f.starts_with("-I") {
                cc.flag(f);
            }
        }
        cc.compile("bng_dpdk_shim");
    }
}

#[cfg(not(feature = "dpdk"))]
mod dpdk {
    pub(crate) fn build() {}
}
