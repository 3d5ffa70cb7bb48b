#!/usr/bin/env python3
"""The Baler HDF5 filter on real arrays, against SZ3 (pysz) and `baler-train` in the same run.

    python scripts/hdf5-filter-bench.py FIELD.npy [FILE.nc:VAR ...] [--rel 1e-3 1e-4]

For each array and bound (rel × the array's finite range, as an absolute bound for all):
- writes it as an uncompressed chunked HDF5 dataset (chunks of whole trailing axes, ≈ 2 Mi
  values at most (--chunk-values), the cut axis in equal parts, as `baler-train compress
  --h5-filter` chooses), then `h5repack -f UD=305,…` it;
- ratio = raw bytes ÷ the dataset's stored chunk bytes (h5py `get_storage_size`: every chunk's
  archive, header and index included; HDF5's own metadata is not) next to SZ3 on the whole array
  and `baler-train compress --no-model` (one archive for the whole array: the chunking's cost);
- decode MB/s (medians of 5): h5py reading the whole dataset through the filter in a fresh process
  (HDF5 decodes chunks one after another, one thread; OPENBLAS_NUM_THREADS=1) next to
  `baler-train decompress` to .npy on 1 thread (process start and file write included) and SZ3
  decompress in memory.

Needs h5py, pysz and numpy (the Python test venv has them), h5repack (Debian hdf5-tools),
baler-train and libh5baler.so (`cargo build --release -p baler-train -p baler-hdf5-filter`).
"""
import argparse
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

TARGET = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", pathlib.Path.home() / ".cache/baler-target")) / "release"


def load(spec):
    if ":" in spec and spec.split(":")[0].endswith(".nc"):
        import netCDF4

        path, var = spec.split(":", 1)
        with netCDF4.Dataset(path) as nc:
            v = nc[var]
            v.set_auto_mask(False)
            fill = getattr(v, "_FillValue", None)
            return np.asarray(v[:]), None if fill is None else float(fill)
    return np.load(spec), None


def chunk_shape(shape, target):
    chunk, elements = [max(d, 1) for d in shape], 1
    for i in reversed(range(len(chunk))):
        fits = max(target // elements, 1)
        if chunk[i] > fits:
            parts = -(-chunk[i] // fits)
            chunk[i] = -(-chunk[i] // parts)
            chunk[:i] = [1] * i
            break
        elements *= chunk[i]
    return tuple(chunk)


def timed(fn, repeat=3):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return out, statistics.median(times)


def run(args, env=None):
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True, env=env)
    if done.returncode != 0:
        sys.exit(f"{args[0]} failed: {done.stderr[-2000:]}")
    return done.stdout


def main():
    import h5py
    from pysz import sz, szConfig, szErrorBoundMode

    import baler.hdf5

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("inputs", nargs="+")
    p.add_argument("--rel", type=float, nargs="+", default=[1e-3, 1e-4])
    p.add_argument("--chunk-values", type=int, default=1 << 21, help="values per HDF5 chunk (default 2^21)")
    a = p.parse_args()
    cli, plugin = TARGET / "baler-train", TARGET / "libh5baler.so"
    for f in (cli, plugin):
        if not f.is_file():
            sys.exit(f"{f} is missing: cargo build --release -p baler-train -p baler-hdf5-filter")
    work = pathlib.Path(tempfile.mkdtemp(prefix="h5bench-"))
    plugins = work / "plugins"
    plugins.mkdir()
    shutil.copy(plugin, plugins)
    env = dict(os.environ, HDF5_PLUGIN_PATH=str(plugins))
    one_thread = dict(env, RAYON_NUM_THREADS="1")
    # numpy's OpenBLAS threads spin in every process that imports it and take a core from the
    # reader on a small machine: h5py's process gets one thread, as baler-train does.
    reader_env = dict(env, OPENBLAS_NUM_THREADS="1")
    h5py.h5pl.append(str(plugins).encode())
    print("| data | bound | chunks | filter ratio | SZ3 ratio | filter ÷ SZ3 | whole-archive ratio | filter decode MB/s |"
          " baler-train decompress 1 thr MB/s | filter ÷ baler-train | SZ3 decode MB/s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for spec in a.inputs:
        x, fill = load(spec)
        x = np.ascontiguousarray(x)
        finite = np.isfinite(x) & ((x != fill) if fill is not None else True)
        span = float(x[finite].max()) - float(x[finite].min())
        chunks = chunk_shape(x.shape, a.chunk_values)
        plain = work / "plain.h5"
        with h5py.File(plain, "w") as f:
            d = f.create_dataset("x", data=x, chunks=chunks, **({"fillvalue": fill} if fill is not None else {}))
        np.save(work / "x.npy", x)
        mb = x.nbytes / 1e6
        for rel in a.rel:
            bound = rel * span
            packed = work / "baler.h5"
            run(["h5repack", "-f", baler.hdf5.h5repack_filter(abs=bound), plain, packed], env)
            with h5py.File(packed) as f:
                stored = f["x"].id.get_storage_size()
            # Decode through the filter in a fresh process per run (no chunk cache carried over).
            read = ("import h5py, time; f = h5py.File(%r); t = time.perf_counter(); y = f['x'][...];"
                    " print(time.perf_counter() - t)") % str(packed)
            filter_s = statistics.median(float(run([sys.executable, "-c", read], reader_env)) for _ in range(5))
            with h5py.File(packed) as f:
                y = f["x"][...]
            ok = finite & (np.abs(y.astype("f8") - x) <= bound)
            assert ok.sum() == finite.sum(), f"{spec}: filter output over the bound"
            archive = work / "x.baler"
            run([cli, "compress", work / "x.npy", "-o", archive, "--abs", repr(bound), "--no-model", "--quiet"]
                + (["--fill-value", repr(fill)] if fill is not None else []), env)
            _, cli_s = timed(lambda: run([cli, "decompress", archive, "-o", work / "y.npy"], one_thread), 5)
            conf = szConfig()
            conf.errorBoundMode = szErrorBoundMode.ABS
            conf.absErrorBound = bound
            (comp, _), _ = timed(lambda: sz.compress(x, conf), 1)
            _, sz_s = timed(lambda: sz.decompress(comp, x.dtype.type, x.shape))
            ratio, sz_ratio = x.nbytes / stored, x.nbytes / comp.nbytes
            print(f"| {pathlib.Path(spec).name} {x.dtype} {x.shape} | {rel:g} | {chunks} | {ratio:.2f} | {sz_ratio:.2f} |"
                  f" {ratio / sz_ratio:.2f} | {x.nbytes / archive.stat().st_size:.2f} | {mb / filter_s:.0f} |"
                  f" {mb / cli_s:.0f} | {cli_s / filter_s:.2f} | {mb / sz_s:.0f} |", flush=True)
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
