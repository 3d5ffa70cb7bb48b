#!/usr/bin/env bash
# Browser vs native decode speed on a ~105 MB float32 field (synthetic, generated here): native
# `baler-train decompress` with 1 thread and all threads, then the viewer in headless Chromium on
# the CPU path and the WebGPU path (SwiftShader without a GPU). Needs what scripts/browser-test.sh
# installs and a built dist/ (trunk build --release).
#   bash scripts/browser-bench.sh [WORKDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/baler-target}"
B="$CARGO_TARGET_DIR/release/baler-train"
w="${1:-$(mktemp -d "${TMPDIR:-/tmp}/baler-bench.XXXXXX")}"
mkdir -p "$w"
[ -f "$w/field.npy" ] || node tests/browser/make-field.mjs "$w/field.npy"
[ -f "$w/classic.baler" ] || "$B" compress "$w/field.npy" -o "$w/classic.baler" --rel 1e-3 --no-model --quiet
# With an embedded model (the path of an archive with a decoder; the encoder may use it on no tile).
[ -f "$w/network.baler" ] || "$B" compress "$w/field.npy" -o "$w/network.baler" --rel 1e-3 --force-model --quiet
echo "| archive | native, 1 thread | native, all threads |"
echo "|---|---|---|"
for a in classic network; do
  mb=$(( $(stat -c %s "$w/field.npy") / 1000000 ))
  t1=$( { RAYON_NUM_THREADS=1 /usr/bin/time -f %e "$B" decompress "$w/$a.baler" -o "$w/out.npy" --quiet >/dev/null; } 2>&1 )
  tn=$( { /usr/bin/time -f %e "$B" decompress "$w/$a.baler" -o "$w/out.npy" --quiet >/dev/null; } 2>&1 )
  echo "| $a.baler | ${t1} s ($(awk "BEGIN { printf \"%.0f\", $mb / $t1 }") MB/s) | ${tn} s ($(awk "BEGIN { printf \"%.0f\", $mb / $tn }") MB/s) |"
done
node tests/browser/bench.mjs --dist dist "$w/classic.baler" "$w/network.baler"
echo "gzip -9 of the viewer's .wasm: $(gzip -9 -c dist/*.wasm | wc -c) bytes ($(stat -c %s dist/*.wasm) uncompressed)"
