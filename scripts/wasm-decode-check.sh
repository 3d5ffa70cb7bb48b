#!/usr/bin/env bash
# Invariant 2: the same archive decodes to the same bits natively and in WebAssembly.
# Decodes golden and freshly written archives (classic, tables with and without column models, dense and conv2d+GDN autoencoders) with the native build
# and with the wasm32-wasip1 build under Node's WASI, and compares the content hashes.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/baler-target}"
rustup target list --installed | grep -qx wasm32-wasip1 || rustup target add wasm32-wasip1
command -v node >/dev/null || { echo "node is required for the WASM decode check" >&2; exit 1; }
# The baler-train binary of the test run writes the fresh archives (building it with another
# package set would unify other features and rebuild burn); the decoder is small either way.
B="$CARGO_TARGET_DIR/release/baler-train"
[ -x "$B" ] || cargo build --release -q -p baler-train
cargo build --release -q -p baler-decode-hash
cargo build --release -q -p baler-decode-hash --target wasm32-wasip1

work=$(mktemp -d "${TMPDIR:-/tmp}/baler-wasm.XXXXXX")
trap 'rm -rf "$work"' EXIT
cp tests/golden/*.baler "$work/"
data=../shared/data
"$B" compress "$data/CFD_animation.npz" -o "$work/cfd_rel1e-3.baler" --rel 1e-3 --no-model --quiet >/dev/null
"$B" compress "$data/hzz.csv" -o "$work/hzz_rel1e-2.baler" --rel 1e-2 --no-model --quiet >/dev/null
# Learned column models (predictor 18: E from px, py, pz through libm's functions), fresh.
"$B" compress "$data/hzz.csv" -o "$work/hzz_columns_rel1e-4.baler" --rel 1e-4 --quiet >/dev/null
"$B" compress "$data/CFD_animation.npz" -o "$work/cfd_autoencoder.baler" --rel 1e-2 --force-model --quiet >/dev/null
# A conv2d + inverse-GDN decoder trained on CFD (model format 2) in the archive: both decoders
# parse and expand it the same way (on CFD it wins no tile; the conv goldens run the network).
printf '[model]\nkind = "conv2d"\nblock = [16, 16]\nlatent = 8\nactivation = "gdn"\n[training]\nepochs = 20\nmax_seconds = 20.0\n' > "$work/conv2d.toml"
"$B" compress "$data/CFD_animation.npz" -o "$work/cfd_conv2d_gdn.baler" --rel 1e-3 --force-model --config "$work/conv2d.toml" --quiet >/dev/null

files=("$work"/*.baler)
"$CARGO_TARGET_DIR/release/baler-decode-hash" "${files[@]}" > "$work/native.txt"
node --no-warnings scripts/wasi-run.mjs "$CARGO_TARGET_DIR/wasm32-wasip1/release/baler-decode-hash.wasm" "$work" "${files[@]}" > "$work/wasm.txt"

passed=0; failed=0
while IFS= read -r native && IFS= read -r wasm <&3; do
  if [ "$native" = "$wasm" ]; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "MISMATCH native: $native / wasm: $wasm"; fi
done < "$work/native.txt" 3< "$work/wasm.txt"
[ "$(wc -l < "$work/native.txt")" -eq "${#files[@]}" ] && [ "$(wc -l < "$work/wasm.txt")" -eq "${#files[@]}" ] || { echo "a decoder did not report every file"; failed=$((failed + 1)); }
cat "$work/native.txt"
echo "wasm-decode: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
