#!/usr/bin/env bash
# All tests: the workspace's unit, property and end-to-end tests (HDF5 and NetCDF included), the
# codec's wasm build, and native-vs-WASM decoding of the same archives. The README's test command and .ci/run both run exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
# One target dir outside the clone, so later runs on the same machine reuse the build.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/baler-target}"

# C libraries for the HDF5 / NetCDF readers, HDF5's tools (h5repack, h5dump: the filter plugin's
# tests), a TTF font for PNG plots, and Mesa's software Vulkan driver (lavapipe) so the GPU paths
# run without a GPU (Debian packages).
packages=(pkg-config libhdf5-dev hdf5-tools libnetcdf-dev fonts-dejavu-core mesa-vulkan-drivers libvulkan1)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]}"
  if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" > /dev/null
fi
for target in wasm32-unknown-unknown wasm32-wasip1; do
  rustup target list --installed | grep -qx "$target" || rustup target add "$target"
done

# Compiled shaders persist between runs (lavapipe compiles burn's kernels slowly).
export MESA_SHADER_CACHE_DIR="${MESA_SHADER_CACHE_DIR:-$CARGO_TARGET_DIR/mesa-shader-cache}"
# One profile (release) for the tests and the binary they drive; `gpu` = burn's wgpu backend and
# the codec's WGSL decoder, tested on lavapipe (trainer/tests/gpu.rs).
cargo test --workspace --release --features baler-train/hdf5,baler-train/netcdf,baler-train/gpu
# The HDF5 filter plugin (libh5baler.so), which the Python tests load into h5py, netCDF4, h5repack and C.
cargo build --release -p baler-hdf5-filter
# The Python package: built by maturin from ./python, tested with pytest against that CLI.
bash scripts/python-test.sh
# The decoder must build for the browser (no burn, no C) ...
cargo build -p baler-codec --release --target wasm32-unknown-unknown
echo "wasm32-unknown-unknown build of baler-codec: ok"
# ... and decode to the same bits in WebAssembly as natively (Node's WASI runs the wasm build).
bash scripts/wasm-decode-check.sh
# The web viewer end to end in headless Chromium, with WebGPU and with the CPU fallback.
bash scripts/browser-test.sh
# Hostile input: every parser fuzzed for a fixed budget (FUZZ_SECONDS, default 30 s per target);
# any crash, timeout or allocation over 1 GiB fails (scripts/fuzz.sh, README "Fuzzing").
bash scripts/fuzz.sh
