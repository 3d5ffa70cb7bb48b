#!/usr/bin/env bash
# All tests: the workspace's unit, property and end-to-end tests, then the codec's wasm build.
# The README's test command and .ci/run both run exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
# One target dir outside the clone, so later runs on the same machine reuse the build.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/baler-target}"
if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  rustup target add wasm32-unknown-unknown
fi
# One profile (release) for the tests and the binary they drive.
cargo test --workspace --release
# The decoder must build for the browser (no burn, no C).
cargo build -p baler-codec --release --target wasm32-unknown-unknown
echo "wasm32 build of baler-codec: ok"
