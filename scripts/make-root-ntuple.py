"""A ROOT ntuple of muon-like kinematics, to measure reading ROOT trees a slab at a time.

Usage: python3 scripts/make-root-ntuple.py OUT.root ENTRIES [--jagged]
(needs numpy and uproot; --jagged also awkward)

Ten flat branches (tree `events`): pt, eta, phi and the px, py, pz, E computed from them in
float32, an int32 charge, an int64 run number and a float64 weight, written by uproot (zlib) a
million entries a basket. 8 000 000 entries make a 271 MB file (384 MB of values):

    python3 scripts/make-root-ntuple.py big.root 8000000
    /usr/bin/time -v baler-train compress big.root:events -o big.baler --rel 1e-3 --effort fast
    BALER_ROOT_ROWS_FROM=99999999999 /usr/bin/time -v baler-train compress big.root:events ...   # read whole

With --jagged, each entry (event) holds a Poisson(2) number of muons instead: the same eight
kinematic and charge branches as jagged `float[]` / `int32_t[]` branches Muon_* (counter nMuon),
and a flat float32 MET. 6 000 000 entries make a 415 MB file (12 M muons, 384 MB of Muon_* values):

    python3 scripts/make-root-ntuple.py jagged.root 6000000 --jagged
    /usr/bin/time -v baler-train compress 'jagged.root:events:Muon_*' -o j.baler --rel 1e-3 --effort fast
"""

import sys

import numpy as np
import uproot


def main(path: str, entries: int, jagged: bool) -> None:
    rng = np.random.default_rng(1)
    step = 1_000_000
    with uproot.recreate(path) as f:
        tree = None
        for start in range(0, entries, step):
            events = min(step, entries - start)
            per_event = rng.poisson(2, events) if jagged else None
            m = int(per_event.sum()) if jagged else events
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
            if jagged:
                import awkward as ak

                muons = {k: v for k, v in branches.items() if k not in ("run", "w")}
                branches = {
                    "Muon": ak.zip({k: ak.unflatten(v, per_event) for k, v in muons.items()}),
                    "MET": rng.exponential(20, events).astype(np.float32),
                }
                kinds = {"Muon": branches["Muon"].type, "MET": np.float32}
            else:
                kinds = {k: v.dtype for k, v in branches.items()}
            if tree is None:
                tree = f.mktree("events", kinds)
            tree.extend(branches)


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--jagged"]
    if len(args) != 2:
        sys.exit(__doc__)
    main(args[0], int(args[1]), "--jagged" in sys.argv[1:])
