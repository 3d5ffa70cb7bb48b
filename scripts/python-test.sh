#!/usr/bin/env bash
# The Python package (python/): `pip install ./python` into a venv (maturin builds the native
# module; it reuses the workspace's build of burn, see python/Cargo.toml), then pytest against the
# CLI that scripts/test.sh built (numcodecs, Zarr v3, xarray and a real Dask LocalCluster), and the
# HDF5 filter plugin through h5py, netCDF4-python, xarray, h5repack and a C program.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/baler-target}"
venv="${BALER_PYTHON_VENV:-$CARGO_TARGET_DIR/python-venv}"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
export PATH="$venv/bin:$PATH"  # maturin, for pip's build step
# What the tests import, from PyPI; pip leaves what is already there alone. distributed pins dask
# exactly, and where the index has a newer dask than distributed (it had dask 2026.11.0, distributed
# 2026.8.0) an unbounded `distributed` resolves to one from 2021 that fails to import.
"$venv/bin/pip" install --quiet --disable-pip-version-check "maturin>=1.7,<2" pytest "zarr>=3" "numcodecs>=0.13" \
  xarray "dask[array]" "distributed>=2024.1" h5py netCDF4
# The package itself, built from this checkout (a wheel, installed over any earlier one).
"$venv/bin/pip" install --quiet --disable-pip-version-check --force-reinstall --no-deps --no-build-isolation ./python
BALER_TRAIN="$CARGO_TARGET_DIR/release/baler-train" BALER_HDF5_PLUGIN="$CARGO_TARGET_DIR/release/libh5baler.so" \
  "$venv/bin/python" -m pytest -q python/tests
