#!/usr/bin/env bash
# Builds the no_std probe (STYLE.md section 14). Exits non-zero if a protocol crate
# pulls in std or the heap. Uses its own target dir so it never invalidates the
# workspace build.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$here/../target}/no-std-probe"
cargo build --manifest-path "$here/no-std-probe/Cargo.toml" --release "$@"
echo "no-std probe: ok (every protocol crate links without std and without an allocator)"
