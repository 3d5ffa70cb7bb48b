"""A flat ROOT ntuple of muon-like kinematics, to measure reading ROOT trees a slab at a time.

Usage: python3 scripts/make-root-ntuple.py OUT.root ENTRIES   (needs numpy and uproot)

Ten flat branches (tree `events`): pt, eta, phi and the px, py, pz, E computed from them in
float32, an int32 charge, an int64 run number and a float64 weight, written by uproot (zlib) a
million entries a basket. 8 000 000 entries make a 271 MB file (384 MB of values):

    python3 scripts/make-root-ntuple.py big.root 8000000
    /usr/bin/time -v baler-train compress big.root:events -o big.baler --rel 1e-3 --effort fast
    BALER_ROOT_ROWS_FROM=99999999999 /usr/bin/time -v baler-train compress big.root:events ...   # read whole
"""

import sys

import numpy as np
import uproot


def main(path: str, entries: int) -> None:
    rng = np.random.default_rng(1)
    step = 1_000_000
    with uproot.recreate(path) as f:
        tree = None
        for start in range(0, entries, step):
            m = min(step, entries - start)
            pt = rng.exponential(30, m).astype(np.float32) + 5
            eta = rng.normal(0, 1.5, m).astype(np.float32)
            phi = rng.uniform(-np.pi, np.pi, m).astype(np.float32)
            px = (pt * np.cos(phi)).astype(np.float32)
            py = (pt * np.sin(phi)).astype(np.float32)
            pz = (pt * np.sinh(eta)).astype(np.float32)
            e = np.sqrt(px.astype(np.float64) ** 2 + py**2 + pz**2 + 0.0111).astype(np.float32)
            branches = {
                "pt": pt, "eta": eta, "phi": phi, "px": px, "py": py, "pz": pz, "E": e,
                "charge": rng.choice([-1, 1], m).astype(np.int32),
                "run": np.full(m, 7, np.int64),
                "w": rng.normal(1, 0.1, m),
            }
            if tree is None:
                tree = f.mktree("events", {k: v.dtype for k, v in branches.items()})
            tree.extend(branches)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], int(sys.argv[2]))
