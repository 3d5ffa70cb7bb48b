#!/usr/bin/env python3
"""One shared model for all chunks of a Zarr array (online mode, stored once in zarr.json) against
a model trained and embedded per chunk (effort "default" in the codec) and classic
predictors only, on a sea-state field (short waves: the case where the autoencoder wins).
Ratios count everything stored: chunks plus zarr.json, so the shared model counts once.

    python python/bench/shared_model.py [--frames 64] [--size 128] [--rel 1e-3]
    python python/bench/shared_model.py --npy sea.npy --frames 160 --chunk-frames 40 \
        --model-config '{"model": {"block": [16, 16], "latent": 16, "activation": "gdn"}}'

(`sea.npy`: `node tests/browser/make-field.mjs sea.npy 400 256 256 sea`; that block, latent and
activation are what the model search picks on the whole 400-frame field.)
"""

import argparse
import json
import pathlib
import shutil
import tempfile
import time

import numpy as np
import zarr

import baler
from baler.zarr import BalerCodec


def sea_state(frames, size, seed=12345):
    """Eight plane waves of 3–9 cell wavelength in random directions, deep-water dispersion, 0.1 % noise
    (the viewer tests' `make-field.mjs … sea`, in numpy)."""
    rng = np.random.default_rng(seed)
    t = np.arange(frames)[:, None, None]
    y = np.arange(size)[None, :, None]
    x = np.arange(size)[None, None, :]
    f = 0.001 * rng.standard_normal((frames, size, size))
    for _ in range(8):
        k = 2 * np.pi / (3 + 6 * rng.random())
        d = 2 * np.pi * rng.random()
        f = f + (0.3 + rng.random()) * np.cos(k * np.cos(d) * x + k * np.sin(d) * y - 0.6 * np.sqrt(k) * t
                                               + 2 * np.pi * rng.random())
    return f.astype(np.float32)


def store(x, chunks, codec, where):
    shutil.rmtree(where, ignore_errors=True)
    started = time.perf_counter()
    arr = zarr.create_array(where, shape=x.shape, chunks=chunks, dtype="float32", serializer=codec,
                            compressors=None)
    arr[:] = x
    seconds = time.perf_counter() - started
    back = zarr.open_array(where, mode="r")
    assert np.abs(back[:] - x).max() <= codec.settings.abs
    return x.nbytes / back.nbytes_stored(), seconds


def chunks_with_a_model(where, model):
    used = total = 0
    for f in pathlib.Path(where, "c").rglob("*"):
        if f.is_file():
            total += 1
            used += not baler.info(f.read_bytes(), model=model)["model"].startswith("none")
    return used, total


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--frames", type=int, default=64)
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--rel", type=float, default=1e-3)
    p.add_argument("--npy", help="use the leading --frames frames of this float32 .npy instead")
    p.add_argument("--chunk-frames", type=int, default=8)
    p.add_argument("--model-config", help="JSON configuration of the shared model (default: baler's)")
    a = p.parse_args()
    x = np.ascontiguousarray(np.load(a.npy, mmap_mode="r")[: a.frames]) if a.npy else sea_state(a.frames, a.size)
    chunks = (a.chunk_frames, *x.shape[1:])
    eb = baler.absolute_bound(x, a.rel)
    print(f"{a.npy or 'sea state'} {x.shape} float32 ({x.nbytes / 1e6:.1f} MB), chunks {chunks}, rel {a.rel} -> abs {eb:.4g}")
    tmp = tempfile.mkdtemp()
    started = time.perf_counter()
    model = baler.train(x[: chunks[0]], config=json.loads(a.model_config) if a.model_config else None)
    train_s = time.perf_counter() - started
    print(f"shared model: trained on the first chunk in {train_s:.1f} s; {model.summary}; "
          f"model file {len(model.to_bytes())} B, decoder {model.decoder_bytes} B")
    rows = []
    for label, codec in [("classic (effort fast)", BalerCodec(abs=eb, effort="fast")),
                         ("per-chunk model (effort default)", BalerCodec(abs=eb, effort="default")),
                         ("one shared model (online)", BalerCodec(abs=eb, model=model))]:
        ratio, seconds = store(x, chunks, codec, f"{tmp}/{len(rows)}.zarr")
        used, total = chunks_with_a_model(f"{tmp}/{len(rows)}.zarr", codec.settings.model)
        rows.append((label, ratio, seconds))
        print(f"{label:34s} ratio {ratio:6.2f}  ({seconds:6.1f} s; a model in {used} of {total} chunks)")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
