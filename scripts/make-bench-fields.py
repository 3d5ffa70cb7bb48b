#!/usr/bin/env python3
"""Writes the float32 fields of docs/results-files.md (numpy; h5py for --h5):

    python3 scripts/make-bench-fields.py small big.npy            # 48 × 256 × 256, 12.6 MB
    python3 scripts/make-bench-fields.py large big4g.npy [--frames 4096] [--h5 big4g.h5]

`small`: sin(0.05k + 0.1i)·cos(0.03j) + 0.3·sin(0.2(j + k)) + 0.01·U(0,1) (Python's random,
seed 1). `large`: FRAMES × 512 × 512 (4096 frames: 4.3 GB), sin(0.02x + 0.05t)·cos(0.015y −
0.03t) + 0.3·sin(0.004(x + y) + 0.01t) + 0.01·U(0,1) (numpy, seed 1), written 64 frames at a
time through a memory map, so making it needs little memory; --h5 also writes it as the dataset
/fields/temperature of an HDF5 file, in chunks of 16 × 512 × 512. The 105 MB fields come from
`node tests/browser/make-field.mjs F 400 256 256 smooth|sea`.
"""
import argparse
import math
import random

import numpy as np


def small(path):
    random.seed(1)
    n0, n1, n2 = 48, 256, 256
    a = np.empty((n0, n1, n2), dtype=np.float32)
    for i in range(n0):
        for j in range(n1):
            for k in range(n2):
                a[i, j, k] = (math.sin(0.05 * k + 0.1 * i) * math.cos(0.03 * j) + 0.3 * math.sin(0.2 * (j + k))
                              + 0.01 * random.random())
    np.save(path, a)


def large(path, frames, h5):
    a = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(frames, 512, 512))
    y, x = np.mgrid[0:512, 0:512].astype(np.float32)
    rng = np.random.default_rng(1)
    for t in range(0, frames, 64):
        k = np.arange(t, min(t + 64, frames), dtype=np.float32)[:, None, None]
        noise = rng.random((len(k), 512, 512), dtype=np.float32)
        a[t:t + 64] = (np.sin(0.02 * x + 0.05 * k) * np.cos(0.015 * y - 0.03 * k)
                       + 0.3 * np.sin(0.004 * (x + y) + 0.01 * k) + 0.01 * noise)
    a.flush()
    if h5:
        import h5py
        with h5py.File(h5, "w") as f:
            d = f.create_dataset("/fields/temperature", shape=a.shape, dtype=a.dtype, chunks=(16, 512, 512))
            for t in range(0, frames, 64):
                d[t:t + 64] = a[t:t + 64]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("kind", choices=["small", "large"])
    p.add_argument("out")
    p.add_argument("--frames", type=int, default=4096)
    p.add_argument("--h5")
    args = p.parse_args()
    if args.kind == "small":
        small(args.out)
    else:
        large(args.out, args.frames, args.h5)


if __name__ == "__main__":
    main()
