#!/usr/bin/env bash
# The web viewer end to end in headless Chromium: builds it with trunk, writes archives with the
# CLI (an autoencoder field, a table, the golden autoencoder pattern, the golden periodic field, an
# 8-chunk field, a 1 GB-original field of 125 chunks, a 2 GB-original one, and broken files), then
# tests/browser/e2e.mjs (playwright-core) opens each one with WebGPU (SwiftShader without a GPU)
# and again without WebGPU (CPU fallback), comparing content hashes and the downloaded .npy with
# the native decoder's; then tests/browser/memory.mjs measures the renderer's memory on the 2 GB
# original. Installs what a machine lacks (see ../shared/TOOLCHAIN.md); each step
# is skipped where it is already there.
#   bash scripts/browser-test.sh                  everything
#   bash scripts/browser-test.sh --no-build       reuse dist/ (skip cargo fetch and trunk build)
#   bash scripts/browser-test.sh --archives-only  install, write the archives and expect.json, keep them, stop
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/baler-target}"
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

build=1; archives_only=0
for arg in "$@"; do
  case "$arg" in
    --no-build) build=0 ;;
    --archives-only) archives_only=1 ;;
    *) echo "usage: $0 [--no-build] [--archives-only]" >&2; exit 2 ;;
  esac
done

step() { echo "browser-test: $*"; }
took() { echo "browser-test: $1 took $((SECONDS - $2)) s"; }
# True when `$1 --version` prints version $2 (no pipe into grep -q: pipefail + SIGPIPE).
has_version() { local v; v="$("$1" --version 2>/dev/null)" || return 1; [[ "$v" == *"$2"* ]]; }
# cargo install with a quicker release profile, in its own (temporary) target dir.
quick_install() {
  env -u CARGO_TARGET_DIR CARGO_PROFILE_RELEASE_LTO=off CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
    CARGO_PROFILE_RELEASE_OPT_LEVEL=1 cargo install "$@"
}

# ---- toolchain
if [ $archives_only -eq 0 ]; then
  rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
  if ! has_version trunk 0.21.14; then
    t=$SECONDS; step "installing trunk 0.21.14"
    quick_install trunk --version 0.21.14 --locked
    took "cargo install trunk" $t
  fi
  if ! has_version wasm-bindgen 0.2.130; then
    t=$SECONDS; step "installing wasm-bindgen-cli 0.2.130"
    # Without --locked: its lock names a crate version this registry lacks.
    quick_install wasm-bindgen-cli --version 0.2.130
    took "cargo install wasm-bindgen-cli" $t
  fi
  missing=()
  for p in chromium chromium-driver; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  command -v npm >/dev/null || missing+=(nodejs npm)
  if [ ${#missing[@]} -gt 0 ]; then
    t=$SECONDS; step "installing ${missing[*]}"
    if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" > /dev/null
    took "apt-get install" $t
  fi
  node_major=$(node -p 'process.versions.node.split(".")[0]')
  [ "$node_major" -ge 20 ] || { echo "browser-test: playwright-core needs Node >= 20, this is $(node --version)" >&2; exit 1; }
  # npm ci when node_modules is missing or older than the lock (npm writes node_modules/.package-lock.json).
  nm=tests/browser/node_modules
  if [ ! -x "$nm/.bin/wasm-opt" ] || [ ! -d "$nm/playwright-core" ] || [ tests/browser/package-lock.json -nt "$nm/.package-lock.json" ]; then
    t=$SECONDS; step "npm ci in tests/browser"
    (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)
    took "npm ci" $t
  fi
  export PATH="$PWD/$nm/.bin:$PATH" # wasm-opt 132 for trunk (Debian's 108 writes a broken .wasm)
fi

# ---- the viewer's decode path as wasm tests: under Node, and in headless Chromium with WebGPU
# (web/webdriver.json), where the WGSL network must equal the CPU's integers bit for bit.
if [ $archives_only -eq 0 ]; then
  t=$SECONDS; step "wasm-bindgen-test (Node and headless Chromium)"
  cargo test --release --target wasm32-unknown-unknown -p baler-web
  took "wasm tests" $t
fi

# ---- the viewer
if [ $archives_only -eq 0 ] && [ $build -eq 1 ]; then
  t=$SECONDS; step "cargo fetch + trunk build --release --offline"
  cargo fetch -q
  trunk build --release --offline
  took "trunk build" $t
fi
if [ $archives_only -eq 0 ]; then
  [ -f dist/index.html ] || { echo "browser-test: dist/index.html is missing (trunk build)" >&2; exit 1; }
  # The viewer is built with WebAssembly SIMD (.cargo/config.toml); its feature section says so.
  features=$(wasm-opt dist/*.wasm --detect-features --print-features -o /dev/null 2>/dev/null || true)
  [[ "$features" == *"--enable-simd"* ]] || { echo "browser-test: dist/*.wasm is not a SIMD128 build" >&2; exit 1; }
fi

# ---- archives and what the native decoder makes of them
B="$CARGO_TARGET_DIR/release/baler-train"
[ -x "$B" ] || cargo build --release -q -p baler-train
work=$(mktemp -d "${TMPDIR:-/tmp}/baler-browser.XXXXXX")
if [ $archives_only -eq 0 ]; then trap 'rm -rf "$work"' EXIT; fi
a="$work/archives"
mkdir -p "$a"
data=../shared/data
t=$SECONDS
"$B" compress "$data/CFD_animation.npz" -o "$a/cfd.baler" --rel 1e-3 --force-model --quiet >/dev/null
# The default effort: learned column models (predictor 18), decoded by the viewer too.
"$B" compress "$data/hzz_baler.npz" -o "$a/hzz.baler" --rel 1e-3 --quiet >/dev/null
cp tests/golden/pattern_autoencoder_rel1e-3.baler "$a/pattern.baler"
# Predictor 20 (blocks coded against the block a period earlier, Lorenzo and interpolation).
cp tests/golden/cfd_periodic_v6_rel1e-2.baler "$a/periodic.baler"
# Online mode: the archive names its model by hash; the viewer must ask for it.
"$B" train "$data/CFD_animation.npz" -o "$a/model.bmodel" --quiet >/dev/null
"$B" compress "$data/CFD_animation.npz" -o "$a/online.baler" --rel 1e-3 --model "$a/model.bmodel" --force-model --quiet >/dev/null
"$B" info "$a/online.baler" --model "$a/model.bmodel" --json > "$work/online.info.json"
# A valid model of other data: the viewer must refuse it for online.baler and ask again.
"$B" train "$data/CFD_still.npz" -o "$a/other.bmodel" --quiet >/dev/null
# Chunked fields: 8 chunks (the lazy test) and a 1 GB original of 125 chunks (the large test);
# their frames repeat with a period so that writing them takes seconds.
node tests/browser/make-field.mjs "$work/lazy.npy" 256 256 256 smooth 64 >/dev/null
"$B" compress "$work/lazy.npy" -o "$a/lazy.baler" --rel 1e-3 --no-model --axes time,lat,lon --quiet >/dev/null
"$B" info "$a/lazy.baler" --json > "$work/lazy.info.json"
"$B" decompress "$a/lazy.baler" -o "$work/lazy.out.npy" --quiet >/dev/null
lazy_sha=$(sha256sum "$work/lazy.out.npy" | cut -d' ' -f1)
rm -f "$work/lazy.npy" "$work/lazy.out.npy"
node tests/browser/make-field.mjs "$work/big.npy" 4000 256 256 smooth 200 >/dev/null
"$B" compress "$work/big.npy" -o "$a/big.baler" --rel 1e-3 --no-model --quiet >/dev/null
rm -f "$work/big.npy"
"$B" info "$a/big.baler" --json > "$work/big.info.json"
# A 2 GB original (250 chunks) for the renderer-memory test (tests/browser/memory.mjs).
node tests/browser/make-field.mjs "$work/big2.npy" 8000 256 256 smooth 200 >/dev/null
"$B" compress "$work/big2.npy" -o "$a/big2.baler" --rel 1e-3 --no-model --quiet >/dev/null
rm -f "$work/big2.npy"
big2_hash=$("$B" info "$a/big2.baler" --json | node -e 'let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => console.log(JSON.parse(s).content_hash))')
printf 'These bytes are not a Baler archive.\n' > "$a/not-an-archive.baler"
size=$(stat -c %s "$a/cfd.baler")
head -c $((size / 2)) "$a/cfd.baler" > "$a/truncated.baler"
entries=()
for name in cfd.baler hzz.baler pattern.baler periodic.baler; do
  "$B" info "$a/$name" --json > "$work/$name.info.json"
  "$B" decompress "$a/$name" -o "$work/$name.npy" --quiet >/dev/null
  entries+=("$name" "$work/$name.info.json" "$(sha256sum "$work/$name.npy" | cut -d' ' -f1)")
done
# expect.json: {"NAME": {"hash", "npy_sha256", "network": autoencoder tiles present}}
ONLINE_INFO="$work/online.info.json" LAZY_INFO="$work/lazy.info.json" LAZY_SHA="$lazy_sha" \
  BIG_INFO="$work/big.info.json" node -e '
  const fs = require("fs");
  const [out, ...rest] = process.argv.slice(1);
  const expect = {};
  for (let i = 0; i < rest.length; i += 3) {
    const info = JSON.parse(fs.readFileSync(rest[i + 1], "utf8"));
    const used = (info.notes || []).map((n) => /autoencoder used in (\d+) of/.exec(n)).find(Boolean);
    const network = used ? Number(used[1]) > 0 : String(info.model || "").startsWith("embedded");
    expect[rest[i]] = { hash: info.content_hash, npy_sha256: rest[i + 2], network, npy: rest[i + 1].replace(/\.info\.json$/, ".npy") };
  }
  const online = JSON.parse(fs.readFileSync(process.env.ONLINE_INFO, "utf8"));
  const modelHash = /^referenced \(([0-9a-f]{64})\)$/.exec(online.model)[1];
  expect._online = { archive: "online.baler", model: "model.bmodel", hash: online.content_hash, model_hash: modelHash };
  const lazy = JSON.parse(fs.readFileSync(process.env.LAZY_INFO, "utf8"));
  expect._lazy = { archive: "lazy.baler", hash: lazy.content_hash, npy_sha256: process.env.LAZY_SHA, frames: 256, chunks: lazy.chunks };
  const big = JSON.parse(fs.readFileSync(process.env.BIG_INFO, "utf8"));
  expect._big = { archive: "big.baler", frames: 4000, original_bytes: big.original_bytes, hash: big.content_hash };
  fs.writeFileSync(out, JSON.stringify(expect, null, 2) + "\n");
' "$a/expect.json" "${entries[@]}"
took "archives" $t
if [ $archives_only -eq 1 ]; then
  ls -l "$a"; cat "$a/expect.json"
  echo "browser-test: archives in $a (kept)"
  exit 0
fi

# ---- the browser, with WebGPU and without
shots="$CARGO_TARGET_DIR/browser-screenshots"
mkdir -p "$shots"
passed=0; failed=0
for mode in webgpu cpu; do
  t=$SECONDS
  rc=0
  node tests/browser/e2e.mjs --dist dist --archives "$a" --expect "$a/expect.json" --mode "$mode" \
    --screenshots "$shots" 2>&1 | tee "$work/$mode.log" || rc=$?
  took "browser ($mode)" $t
  counts=$(sed -n "s/^browser ($mode): \([0-9]*\) passed, \([0-9]*\) failed\$/\1 \2/p" "$work/$mode.log")
  if [ -n "$counts" ]; then
    read -r p f <<< "$counts"
    passed=$((passed + p)); failed=$((failed + f))
    [ "$rc" -eq 0 ] || [ "$f" -gt 0 ] || failed=$((failed + 1)) # a non-zero exit with no failure counted
  else
    echo "browser-test: e2e.mjs ($mode) ended without a summary (exit $rc)"
    failed=$((failed + 1))
  fi
done
# Renderer memory as a user's browser has it (no DevTools Network domain, which keeps a copy of
# every response): browsing, a slice across all 8000 frames and the 2 GB download, <= 400 MB.
t=$SECONDS
rc=0
node tests/browser/memory.mjs --dist dist --archives "$a" --archive big2.baler --hash "$big2_hash" \
  --limit-mb 400 2>&1 | tee "$work/memory.log" || rc=$?
took "browser (memory)" $t
if [ "$rc" -eq 0 ] && grep -q '^ok - memory' "$work/memory.log"; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
echo "browser-test: screenshots in $shots"
echo "browser: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
