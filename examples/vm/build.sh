#!/usr/bin/env bash
# build.sh OUT_DIR — builds the test VM that gives our interop tests the real Linux
# peers this host kernel cannot run (pppd + kernel PPPoE, kernel ESP via ip xfrm).
#
# Stock Debian packages only, unpacked with dpkg-deb (nothing is installed on the host):
# the distribution kernel, busybox-static, ppp, iproute2, dhcpcd and the shared libraries they
# need, packed into an initramfs whose /init runs one scenario chosen on the kernel
# command line (see init.sh). Outputs in OUT_DIR: vmlinuz, vmlinux (PVH ELF, boots
# faster under TCG, if the kernel has a PVH note), initramfs.cpio, MANIFEST, stamp.
# Idempotent: downloads are cached in OUT_DIR/debs; images are rebuilt only when the
# package versions or this directory's scripts change.
#
# Needs: apt-get (after `apt-get update`), dpkg-deb, readelf, cpio or busybox, xz.
set -euo pipefail
OUT=${1:?usage: build.sh OUT_DIR}
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$OUT/debs"
OUT=$(cd "$OUT" && pwd)
say() { echo "[vm-build] $*" >&2; }

# The generic amd64 flavour: it has CONFIG_PPPOE=m (the cloud flavour has no PPP).
KPKG=${KPKG:-$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}')}
[ -n "$KPKG" ] || { say "cannot resolve the kernel package: run apt-get update"; exit 1; }
PKGS="$KPKG busybox-static ppp iproute2 dhcpcd-base libc6 libssl3 libcrypt1 libpam0g libsystemd0
  libpcap0.8 libaudit1 libcap2 libgcrypt20 liblzma5 libzstd1 liblz4-1 libdbus-1-3 libcap-ng0
  libgpg-error0 libbpf1 libelf1 libmnl0 libbsd0 zlib1g libmd0"

cd "$OUT/debs"
versions=$(apt-cache policy $PKGS | awk '/^[^ ].*:$/{p=substr($0,1,length($0)-1)} /^  Candidate:/{print p"="$2}')
missing=()
for pv in $versions; do
    p=${pv%%=*}; v=${pv#*=}
    [ "$v" != "(none)" ] || { say "no candidate for $p"; exit 1; }
    compgen -G "${p}_${v//:/%3a}_*.deb" >/dev/null || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    say "downloading ${missing[*]}"
    timeout 900 apt-get download "${missing[@]}" >/dev/null 2>&1 || true
fi
debs=()
for pv in $versions; do
    p=${pv%%=*}; v=${pv#*=}
    f=$(compgen -G "${p}_${v//:/%3a}_*.deb" | head -1) || true
    [ -n "$f" ] || { say "download of $p failed"; exit 1; }
    debs+=("$OUT/debs/$f")
done

stamp=$( (cat "$HERE"/build.sh "$HERE"/init.sh; printf '%s\n' "${debs[@]##*/}") | sha256sum | cut -c1-64)
if [ -f "$OUT/stamp" ] && [ "$(cat "$OUT/stamp")" = "$stamp" ] && [ -f "$OUT/initramfs.cpio" ]; then
    say "up to date: $OUT"; exit 0
fi

X=$(mktemp -d "$OUT/x.XXXX"); R=$(mktemp -d "$OUT/root.XXXX")
trap 'rm -rf "$X" "$R"' EXIT
for d in "${debs[@]}"; do dpkg-deb -x "$d" "$X"; done
KVER=$(ls "$X/lib/modules" | head -1)
say "kernel $KVER"

mkdir -p "$R"/{bin,sbin,etc/ppp,proc,sys,dev,run,tmp,lib/x86_64-linux-gnu,lib64,usr/sbin,var/log}
ln -s ../run "$R/var/run"
mkdir -p "$R/usr/lib"; ln -s ../../lib/x86_64-linux-gnu "$R/usr/lib/x86_64-linux-gnu"
cp "$X/bin/busybox" "$R/bin/"
for a in $("$R/bin/busybox" --list); do
    [ "$a" = ip ] || [ -e "$R/bin/$a" ] || ln -s busybox "$R/bin/$a"
done
cp "$X/bin/ip" "$R/sbin/ip"
cp "$X/usr/sbin/pppd" "$R/usr/sbin/"
# dhcpcd: the DHCPv6 client asking for a delegated prefix (IA_PD) over ppp0
cp "$X/usr/sbin/dhcpcd" "$R/usr/sbin/"
mkdir -p "$R/var/lib/dhcpcd"
PPPVER=$(ls "$X/usr/lib/pppd")
mkdir -p "$R/usr/lib/pppd/$PPPVER"
cp "$X/usr/lib/pppd/$PPPVER/pppoe.so" "$R/usr/lib/pppd/$PPPVER/"
: > "$R/etc/ppp/options"
echo 'root:x:0:0:root:/:/bin/sh' > "$R/etc/passwd"

# Shared libraries: follow DT_NEEDED through the unpacked packages.
declare -A have=()
needs() {
    local so src
    for so in $(readelf -d "$1" 2>/dev/null | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p'); do
        [ -z "${have[$so]:-}" ] || continue
        src=""
        for d in "$X/lib/x86_64-linux-gnu" "$X/usr/lib/x86_64-linux-gnu"; do
            [ -e "$d/$so" ] && { src="$d/$so"; break; }
        done
        [ -n "$src" ] || { say "unresolved $so (needed by ${1##*/})"; exit 1; }
        have[$so]=1
        cp -L "$src" "$R/lib/x86_64-linux-gnu/$so"
        needs "$src"
    done
}
for b in "$R/sbin/ip" "$R/usr/sbin/pppd" "$R/usr/sbin/dhcpcd" "$R/usr/lib/pppd/$PPPVER/pppoe.so"; do needs "$b"; done
cp -L "$X/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2" "$R/lib/x86_64-linux-gnu/"
ln -s ../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 "$R/lib64/ld-linux-x86-64.so.2"

# Kernel modules, dependencies first (from each module's `depends=` modinfo field).
# drbg + jitterentropy_rng: ESP's IV generators need the default RNG, a module here.
# 8021q: the scenarios' VLAN interfaces (bng.vlan).
WANT="virtio_pci virtio_net ppp_generic pppox pppoe slhc xfrm_user esp4 gcm ghash_generic
  ctr authenc authencesn seqiv echainiv drbg jitterentropy_rng chacha20poly1305 chacha_generic
  poly1305_generic cbc sha256_generic hmac aesni_intel ghash_clmulni_intel 8021q"
declare -A modfile=() added=()
while IFS= read -r f; do n=${f##*/}; n=${n%.ko}; modfile[${n//-/_}]=$f; done \
    < <(find "$X/lib/modules/$KVER/kernel" -name '*.ko')
order=()
addmod() {
    local m=$1 d
    [ -z "${added[$m]:-}" ] || return 0
    added[$m]=1
    [ -n "${modfile[$m]:-}" ] || return 0   # built in
    for d in $(tr '\0' '\n' < "${modfile[$m]}" | sed -n 's/^depends=//p' | tr ',' ' '); do addmod "$d"; done
    order+=("$m")
}
for m in $WANT; do addmod "$m"; done
mkdir -p "$R/lib/modules"
for m in "${order[@]}"; do cp "${modfile[$m]}" "$R/lib/modules/"; echo "${modfile[$m]##*/}" >> "$R/etc/modules"; done
say "modules: ${order[*]}"

install -m 755 "$HERE/init.sh" "$R/init"
( cd "$R" && find . | LC_ALL=C sort | "$R/bin/busybox" cpio -o -H newc 2>/dev/null ) > "$OUT/initramfs.cpio"
cp "$X/boot/vmlinuz-$KVER" "$OUT/vmlinuz"
# The bzImage carries an xz-compressed ELF with a PVH entry: qemu boots it directly,
# skipping the BIOS and the in-guest decompression (seconds under TCG).
rm -f "$OUT/vmlinux"
off=$(LC_ALL=C grep -m1 -obUaP '\xfd7zXZ\x00' "$OUT/vmlinuz" | head -1 | cut -d: -f1 || true)
if [ -n "$off" ] && command -v xz >/dev/null; then
    tail -c +$((off + 1)) "$OUT/vmlinuz" | xz -dc > "$OUT/vmlinux" 2>/dev/null || true
    readelf -n "$OUT/vmlinux" 2>/dev/null | grep -q 'type: (0x00000012)\|Xen.*PHYS32_ENTRY\|0x00000012' || rm -f "$OUT/vmlinux"
fi
{ echo "kernel $KVER"; for d in "${debs[@]}"; do dpkg-deb -W --showformat='${Package} ${Version}\n' "$d"; done; } > "$OUT/MANIFEST"
echo "$stamp" > "$OUT/stamp"
say "done: $(cd "$OUT" && ls vmlinuz vmlinux initramfs.cpio 2>/dev/null | tr '\n' ' ')"
