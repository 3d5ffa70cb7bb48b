#!/usr/bin/env python3
"""File to file, as a user runs it: `baler-train compress F.npy --rel EB --effort fast` against SZ3
(pysz: load the .npy, compress at the same absolute bound, write the bytes) in the same run.
Each command runs as its own process; wall time and peak resident memory (wait4's ru_maxrss)
are per process. Baler runs on one thread (RAYON_NUM_THREADS=1, as SZ3) and on all cores.

    python3 scripts/bench-files.py --peers /path/to/venv/bin/python [--rel 1e-3] [--repeat 3] [--out M.md] F.npy …

With --out, the same table is written as Markdown (docs/results-files.md is made this way).

The peers' Python needs numpy and pysz (`python3 -m venv V && V/bin/pip install numpy pysz`).
Its interpreter and numpy import are part of SZ3's figures; the `python + numpy` row shows them.
"""

import argparse
import os
import pathlib
import subprocess
import sys
import tempfile
import time

SZ3 = """
import sys, numpy as np
from pysz import sz, szConfig, szErrorBoundMode
src, out, rel = sys.argv[1], sys.argv[2], float(sys.argv[3])
a = np.ascontiguousarray(np.load(src))
ok = np.isfinite(a)  # a byte per value, not a copy of the values
lo, hi = float(np.min(a, where=ok, initial=np.inf)), float(np.max(a, where=ok, initial=-np.inf))
del ok
cfg = szConfig(); cfg.errorBoundMode = szErrorBoundMode.ABS
cfg.absErrorBound = rel * (hi - lo)
c, _ = sz.compress(a, cfg)
with open(out, "wb") as f:
    f.write(c.tobytes())
"""
IMPORT_ONLY = "import numpy, pysz"


def measure(cmd, env=None):
    """(seconds, peak RSS in MB) of one process."""
    started = time.perf_counter()
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(p.pid, 0)
    seconds = time.perf_counter() - started
    err = p.stderr.read().decode()
    if status != 0:
        sys.exit(f"{' '.join(map(str, cmd))} failed: {err}")
    return seconds, usage.ru_maxrss / 1024


def best_of(n, cmd, env=None):
    runs = [measure(cmd, env) for _ in range(n)]
    return min(r[0] for r in runs), max(r[1] for r in runs)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("files", nargs="+")
    p.add_argument("--peers", required=True, help="a Python with numpy and pysz")
    p.add_argument("--rel", type=float, default=1e-3)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--out", help="also write the table as Markdown here")
    target = os.environ.get("CARGO_TARGET_DIR", str(pathlib.Path.home() / ".cache/baler-target"))
    p.add_argument("--baler", default=os.path.join(target, "release", "baler-train"))
    a = p.parse_args()
    one_thread = dict(os.environ, RAYON_NUM_THREADS="1")
    tmp = tempfile.mkdtemp()
    base_s, base_mb = best_of(a.repeat, [a.peers, "-c", IMPORT_ONLY])
    print(f"python + numpy + pysz import alone: {base_s:.2f} s, {base_mb:.0f} MB")
    md = [f"File to file, best of {a.repeat}, rel {a.rel} (`python3 scripts/bench-files.py --rel {a.rel} "
          f"--repeat {a.repeat} …`); python + numpy + pysz import alone: {base_s:.2f} s, {base_mb:.0f} MB.", "",
          "| file | MB | codec | s | MB/s | peak RSS MB | RSS ÷ input | ratio |", "|---|---|---|---|---|---|---|---|"]
    print(f"{'file':24s} {'MB':>7s} {'codec':22s} {'s':>7s} {'MB/s':>7s} {'RSS MB':>7s} {'RSS/in':>6s} {'ratio':>6s}")
    for f in a.files:
        size = os.path.getsize(f) / 1e6
        rows = {}
        for label, cmd, env in [
            ("baler, 1 thread", [a.baler, "compress", f, "-o", f"{tmp}/b.baler", "--rel", str(a.rel),
                                 "--effort", "fast", "--quiet"], one_thread),
            (f"baler, {os.cpu_count()} threads", [a.baler, "compress", f, "-o", f"{tmp}/b.baler", "--rel",
                                                   str(a.rel), "--effort", "fast", "--quiet"], None),
            ("SZ3 (pysz), 1 thread", [a.peers, "-c", SZ3, f, f"{tmp}/s.sz", str(a.rel)], None),
        ]:
            s, mb = best_of(a.repeat, cmd, env)
            out = f"{tmp}/b.baler" if label.startswith("baler") else f"{tmp}/s.sz"
            rows[label] = (s, mb)
            ratio = size * 1e6 / os.path.getsize(out)
            md.append(f"| {pathlib.Path(f).name} | {size:.1f} | {label} | {s:.2f} | {size / s:.1f} | {mb:.0f} | "
                      f"{mb / size:.2f} | {ratio:.2f} |")
            print(f"{pathlib.Path(f).name:24s} {size:7.1f} {label:22s} {s:7.2f} {size / s:7.1f} {mb:7.0f} "
                  f"{mb / size:6.2f} {size * 1e6 / os.path.getsize(out):6.2f}")
        (bs, bm), (ss, sm) = rows["baler, 1 thread"], rows["SZ3 (pysz), 1 thread"]
        print(f"{'':24s} {'':7s} baler ÷ SZ3, 1 thread: speed {ss / bs:.2f}×, peak RSS {bm / sm:.2f}×")
        md.append(f"| {pathlib.Path(f).name} | | **baler ÷ SZ3, 1 thread** | | **{ss / bs:.2f}×** | **{bm / sm:.2f}×** | | |")
    if a.out:
        pathlib.Path(a.out).write_text("\n".join(md) + "\n")


if __name__ == "__main__":
    main()
