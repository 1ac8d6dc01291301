//! Capability checks at start, with the fix spelled out: raw sockets need
//! `CAP_NET_RAW`; AF_XDP needs `CAP_NET_ADMIN` and `CAP_BPF` (or `CAP_SYS_ADMIN`).

/// Linux capability numbers (linux/capability.h).
const CAP_NET_ADMIN: u32 = 12;
const CAP_NET_RAW: u32 = 13;
const CAP_SYS_ADMIN: u32 = 21;
const CAP_BPF: u32 = 39;

/// The effective capability set of this process (`CapEff` in /proc/self/status).
#[must_use]
pub fn effective() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapEff:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .unwrap_or(0)
}

fn has(set: u64, cap: u32) -> bool {
    set & (1u64 << cap) != 0
}

/// Whether AF_XDP can be used with capability set `set`.
#[must_use]
pub fn can_afxdp(set: u64) -> bool {
    has(set, CAP_NET_ADMIN) && (has(set, CAP_BPF) || has(set, CAP_SYS_ADMIN))
}

/// Checks what AF_PACKET needs. `Err` is the message with the fix.
///
/// # Errors
/// When `CAP_NET_RAW` is missing.
pub fn check_afpacket(set: u64) -> Result<(), String> {
    if has(set, CAP_NET_RAW) {
        Ok(())
    } else {
        Err("AF_PACKET needs CAP_NET_RAW: run as root, or \
             `sudo setcap cap_net_raw,cap_net_admin,cap_bpf+ep $(command -v bng)`"
            .into())
    }
}

/// Checks what AF_XDP needs. `Err` is the message with the fix.
///
/// # Errors
/// When `CAP_NET_ADMIN` or `CAP_BPF` is missing.
pub fn check_afxdp(set: u64) -> Result<(), String> {
    if can_afxdp(set) {
        Ok(())
    } else {
        let mut miss = Vec::new();
        if !has(set, CAP_NET_ADMIN) {
            miss.push("CAP_NET_ADMIN");
        }
        if !has(set, CAP_BPF) && !has(set, CAP_SYS_ADMIN) {
            miss.push("CAP_BPF");
        }
        Err(format!(
            "AF_XDP needs {}: fall back with `backend = \"afpacket\"` (or --backend afpacket) \
             or run as root",
            miss.join(" and ")
        ))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_fix() {
        assert!(check_afpacket(1 << CAP_NET_RAW).is_ok());
        let e = check_afxdp(1 << CAP_NET_RAW).unwrap_err();
        assert!(e.contains("CAP_BPF") && e.contains("afpacket"), "{e}");
        assert!(check_afxdp((1 << CAP_NET_ADMIN) | (1 << CAP_BPF)).is_ok());
    }
}
