#!/usr/bin/env python3
"""Checks that `pip install ./python` (maturin: a build of baler-python alone, without
dev-dependencies) compiles every shared crate with the features the workspace's test build
(scripts/test.sh) gives it. A crate built with other features is a second build of it and of all
that depends on it, burn and wgpu included (≈ 25 min on 2 cores). Prints each crate whose
features differ, with both sets: pin what is missing in python/Cargo.toml ([dependencies] for
target crates, [build-dependencies] for host ones such as a proc-macro's). Uses cargo's unit graph
(nightly: `-Z unstable-options`). Exits 1 when something differs."""
import json
import subprocess
import sys

FEATURES = "baler-train/hdf5,baler-train/netcdf,baler-train/gpu"  # as scripts/test.sh
OURS = ("baler-io", "baler-train", "baler-python", "numpy", "pyo3", "pyo3-ffi", "pyo3-build-config", "pyo3-macros",
        "pyo3-macros-backend", "target-lexicon")  # expected to differ / only here


def units(*args):
    out = subprocess.run(["cargo", "+nightly", *args, "--release", "--unit-graph", "-Z", "unstable-options"],
                         check=True, capture_output=True, text=True).stdout
    found = {}
    for u in json.loads(out)["units"]:
        key = (u["pkg_id"], u["target"]["name"], u["mode"])
        found.setdefault(key, set()).add(tuple(sorted(u["features"])))
    return found


workspace = units("test", "--workspace", "--features", FEATURES, "--no-run")
package = units("build", "-p", "baler-python")
bad = 0
for key, feature_sets in sorted(package.items()):
    name = key[0].split("#")[-1]
    if any(name.startswith(o + "@") or f"/{o}#" in key[0] for o in OURS):
        continue
    for fs in feature_sets - workspace.get(key, set()):
        bad += 1
        print(f"{name} ({key[2]}): here {list(fs)}, test build {[list(w) for w in workspace.get(key, [])]}")
sys.exit(1 if bad else 0)
