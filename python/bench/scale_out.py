#!/usr/bin/env python3
"""Dask scale-out of the Baler Zarr codec: one ≥ 2 GB float32 array, compressed chunk-parallel by
a distributed.LocalCluster of 1 and then 2 single-threaded worker processes, read back by plain
zarr and checked against the bound. Prints the wall times, the speed-up, the per-chunk cost
measured in this process and the scheduler's overhead per task, the figures docs/scale-out.md
builds its 64-worker estimate on.

    python python/bench/scale_out.py [--gib 2] [--dir DIR (default: baler-scale in the system's temporary folder)] [--rel 1e-4]
"""

import argparse
import os
import shutil
import tempfile
import time

os.environ.setdefault("RAYON_NUM_THREADS", "1")  # one core per worker: Dask is the parallelism here

import dask.array as da
import distributed
import numpy as np
import zarr

from baler.zarr import BalerCodec

FRAME = (512, 512)
CHUNK = (16, *FRAME)  # 16 MiB of float32 per chunk


def synthetic_block(block, block_info=None):
    """A smooth, drifting field with noise: deterministic per frame, so every run sees the same data."""
    t0 = block_info[None]["array-location"][0][0]
    n = block.shape[0]
    t = np.arange(t0, t0 + n, dtype=np.float32)[:, None, None]
    y = np.linspace(0, 6, FRAME[0], dtype=np.float32)[None, :, None]
    x = np.linspace(0, 6, FRAME[1], dtype=np.float32)[None, None, :]
    rng = np.random.default_rng(int(t0))
    f = 280 + 12 * np.sin(x + 0.01 * t) * np.cos(1.3 * y - 0.02 * t) + 3 * np.sin(3.1 * x * y / 6 + 0.05 * t)
    return (f + 0.02 * rng.standard_normal(block.shape, dtype=np.float32)).astype(np.float32)


def run(workers, source, target, codec):
    shutil.rmtree(target, ignore_errors=True)
    with distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        src = da.from_zarr(source)
        out = zarr.create_array(target, shape=src.shape, chunks=CHUNK, dtype="float32", serializer=codec,
                                compressors=None)
        client.run(lambda: None)  # workers up before the clock starts
        started = time.perf_counter()
        da.store(src, out, lock=False)
        seconds = time.perf_counter() - started
        # The scheduler's own cost per task: 2 000 empty tasks.
        t = time.perf_counter()
        client.gather(client.map(lambda i: i, range(2000)))
        per_task = (time.perf_counter() - t) / 2000
        return seconds, per_task


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--gib", type=float, default=2.0)
    p.add_argument("--dir", default=os.path.join(tempfile.gettempdir(), "baler-scale"))
    p.add_argument("--rel", type=float, default=1e-4)
    a = p.parse_args()
    frames = int(a.gib * 2**30 / (4 * FRAME[0] * FRAME[1])) // CHUNK[0] * CHUNK[0]
    shape = (frames, *FRAME)
    nbytes = 4 * np.prod(shape)
    source = os.path.join(a.dir, "source.zarr")
    if not os.path.exists(os.path.join(source, "zarr.json")):
        with distributed.LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as c, \
                distributed.Client(c):
            d = da.zeros(shape, chunks=CHUNK, dtype=np.float32).map_blocks(synthetic_block, dtype=np.float32)
            raw = zarr.create_array(source, shape=shape, chunks=CHUNK, dtype="float32", compressors=None,
                                    overwrite=True)
            da.store(d, raw, lock=False)
    src = zarr.open_array(source, mode="r")
    sample = src[: CHUNK[0]]
    codec = BalerCodec.for_array(da.from_zarr(source), rel=a.rel)
    chunks = int(np.prod([-(-s // c) for s, c in zip(shape, CHUNK)]))
    print(f"array {shape} float32 = {nbytes / 1e9:.2f} GB in {chunks} chunks of {CHUNK}; abs bound {codec.settings.abs:.4g}")

    # Per-chunk costs in this process, one thread, on 8 chunks spread over the array.
    read_s, encode_s, decode_s, stored = [], [], [], 0
    for i in range(0, chunks, max(1, chunks // 8)):
        t = time.perf_counter()
        block = src[i * CHUNK[0]:(i + 1) * CHUNK[0]]
        read_s.append(time.perf_counter() - t)
        t = time.perf_counter()
        blob = codec.settings.encode(block)
        encode_s.append(time.perf_counter() - t)
        t = time.perf_counter()
        codec.settings.decode(blob)
        decode_s.append(time.perf_counter() - t)
        stored += len(blob)
    t_chunk, chunk_mb = float(np.mean(encode_s)), sample.nbytes / 1e6
    print(f"per chunk, one thread (mean of {len(encode_s)}): read {np.mean(read_s) * 1e3:.0f} ms, "
          f"compress {t_chunk:.3f} s ({chunk_mb / t_chunk:.1f} MB/s), decompress {np.mean(decode_s):.3f} s "
          f"({chunk_mb / np.mean(decode_s):.0f} MB/s), ratio {len(encode_s) * sample.nbytes / stored:.2f}")

    times = {}
    for workers in (1, 2):
        times[workers], per_task = run(workers, source, os.path.join(a.dir, f"out-{workers}.zarr"), codec)
        print(f"{workers} worker(s): {times[workers]:.1f} s, {nbytes / 1e6 / times[workers]:.1f} MB/s; "
              f"an empty task costs {per_task * 1e3:.2f} ms")
    speedup = times[1] / times[2]
    overhead = (times[1] - chunks * t_chunk) / chunks
    print(f"speed-up 1 -> 2 workers: {speedup:.2f}x")
    print(f"per task beyond the in-memory compression (read source chunk, write, scheduling): {overhead * 1e3:.1f} ms")

    out = zarr.open_array(os.path.join(a.dir, "out-2.zarr"), mode="r")
    stored = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(os.path.join(a.dir, "out-2.zarr")) for f in fs)
    worst = 0.0
    for i in range(0, shape[0], 256):
        worst = max(worst, float(np.abs(out[i:i + 256] - src[i:i + 256]).max()))
    assert worst <= codec.settings.abs, (worst, codec.settings.abs)
    print(f"read back by plain zarr: max error {worst:.4g} <= {codec.settings.abs:.4g}; store {stored / 1e6:.1f} MB, ratio {nbytes / stored:.2f}")


if __name__ == "__main__":
    main()
