"""Event tables with the derived columns physicists store, from ../shared/data/uproot-HZZ.root.

Writes Baler's table layout (`data`: rows x columns float32, `names`) as .npz files into OUT_DIR:
one row per muon, electron, jet or photon (px, py, pz, E and pT, eta, phi computed from them in
float32, as analysis ntuples hold them, plus charge, isolation or b-tag), and one row per event
(missing ET with its magnitude and angle, object counts, the Monte Carlo truth particles' momenta
with their pT and eta, the leading muon pair's invariant mass).

With --synthetic ROWS it also writes synthetic_muons.npz: ROWS muons with pT, eta, phi drawn
(exponential pT above 10 GeV, flat eta in +-2.4, flat phi) and px, py, pz, E computed from them in
float32, plus a random charge and an exponential isolation (the demo's table, larger).

Usage: python3 scripts/hep-tables.py ROOT_FILE OUT_DIR [--synthetic ROWS]   (needs numpy, uproot, awkward)
"""
import sys
from pathlib import Path

import awkward as ak
import numpy as np
import uproot


def kinematics(px, py, pz):
    px, py, pz = (np.asarray(a, dtype=np.float32) for a in (px, py, pz))
    pt = np.hypot(px, py).astype(np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        eta = np.where(pt > 0, np.arcsinh(pz / pt), 0).astype(np.float32)
    phi = np.arctan2(py, px).astype(np.float32)
    return pt, eta, phi


def objects(t, prefix, extra):
    cols = {k: ak.flatten(t[f"{prefix}_{k}"].array()).to_numpy().astype(np.float32) for k in ["Px", "Py", "Pz", "E"]}
    pt, eta, phi = kinematics(cols["Px"], cols["Py"], cols["Pz"])
    cols.update({"pt": pt, "eta": eta, "phi": phi})
    for k in extra:
        cols[k] = ak.flatten(t[f"{prefix}_{k}"].array()).to_numpy().astype(np.float32)
    return {f"{prefix}_{k}": v for k, v in cols.items()}


def events(t):
    cols = {}
    met_px, met_py = (t[k].array(library="np").astype(np.float32) for k in ["MET_px", "MET_py"])
    met, _, met_phi = kinematics(met_px, met_py, np.zeros_like(met_px))
    cols.update({"MET_px": met_px, "MET_py": met_py, "MET_pt": met, "MET_phi": met_phi})
    for k in ["NJet", "NMuon", "NElectron", "NPhoton", "NPrimaryVertices"]:
        cols[k] = t[k].array(library="np").astype(np.float32)
    for p in ["MClepton", "MCneutrino", "MCleptonicBottom", "MChadronicBottom"]:
        px, py, pz = (t[f"{p}_{a}"].array(library="np").astype(np.float32) for a in ["px", "py", "pz"])
        pt, eta, _ = kinematics(px, py, pz)
        cols.update({f"{p}_px": px, f"{p}_py": py, f"{p}_pz": pz, f"{p}_pt": pt, f"{p}_eta": eta})
    # The first two muons' invariant mass (0 with fewer than two).
    mu = {k: t[f"Muon_{k}"].array() for k in ["Px", "Py", "Pz", "E"]}
    two = ak.num(mu["E"]) >= 2
    first = {k: ak.fill_none(ak.pad_none(v, 2)[:, 0], 0).to_numpy() for k, v in mu.items()}
    second = {k: ak.fill_none(ak.pad_none(v, 2)[:, 1], 0).to_numpy() for k, v in mu.items()}
    s = {k: (first[k] + second[k]).astype(np.float32) for k in mu}
    m2 = s["E"] ** 2 - s["Px"] ** 2 - s["Py"] ** 2 - s["Pz"] ** 2
    cols["dimuon_mass"] = np.where(two.to_numpy(), np.sqrt(np.maximum(m2, 0)), 0).astype(np.float32)
    cols["EventWeight"] = t["EventWeight"].array(library="np").astype(np.float32)
    return cols


def save(out, name, cols):
    names = list(cols)
    data = np.stack([cols[k] for k in names], axis=1).astype(np.float32)
    finite = np.isfinite(data).all(axis=1)
    data = data[finite]
    np.savez(out / f"{name}.npz", data=data, names=np.array(names))
    print(f"{name}: {data.shape[0]} rows x {data.shape[1]} columns ({(~finite).sum()} rows with NaN dropped)")


def synthetic(rows, seed=7):
    rng = np.random.default_rng(seed)
    f32 = np.float32
    pt = (10 - 40 * np.log(1 - rng.random(rows))).astype(f32)
    eta = (4.8 * rng.random(rows) - 2.4).astype(f32)
    phi = (2 * np.pi * rng.random(rows) - np.pi).astype(f32)
    px, py, pz = (pt * np.cos(phi)).astype(f32), (pt * np.sin(phi)).astype(f32), (pt * np.sinh(eta)).astype(f32)
    e = np.sqrt(px * px + py * py + pz * pz + f32(0.0112)).astype(f32)
    charge = np.where(rng.random(rows) < 0.5, -1, 1).astype(f32)
    iso = (-3 * np.log(1 - rng.random(rows))).astype(f32)
    return {"pt": pt, "eta": eta, "phi": phi, "px": px, "py": py, "pz": pz, "E": e, "charge": charge, "iso": iso}


def main():
    root, out = sys.argv[1], Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    if len(sys.argv) > 4 and sys.argv[3] == "--synthetic":
        save(out, "synthetic_muons", synthetic(int(sys.argv[4])))
    out.mkdir(parents=True, exist_ok=True)
    t = uproot.open(root)["events"]
    save(out, "muons", objects(t, "Muon", ["Charge", "Iso"]))
    save(out, "electrons", objects(t, "Electron", ["Charge", "Iso"]))
    save(out, "jets", objects(t, "Jet", ["btag"]))
    save(out, "photons", objects(t, "Photon", ["Iso"]))
    save(out, "events", events(t))


if __name__ == "__main__":
    main()
