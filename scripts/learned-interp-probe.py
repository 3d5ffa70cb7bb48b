"""How much could a learned predictor win on a field's finest interpolation level? (issue 17, fields)

The finest level of Baler's interpolation predictors holds most of a field's values (7/8 in 3-d,
3/4 in 2-d), and its last pass the most of all (1/2, 1/2): points with an odd last coordinate,
predicted from the reconstructed points with an even one. This probe takes that pass and compares,
on the same points and under the same pointwise bound eb = rel x range:

  cubic    Baler's stencil along the last axis, (9 (l1 + r1) - (l3 + r3)) / 16
  linear   least-squares weights over the whole known neighbourhood: the 4 taps along the last
           axis at each of the 3 x 3 (3-d) or 3 (2-d) cross-axis offsets (36 or 12 taps)
  mlp      a small network (taps - 32 - 32 - 1, tanh) predicting the cubic's residual from the same
           taps, relative to the local scale, trained by Adam on half of the points and priced on
           the other half

The known points are the field plus uniform noise in [-eb, eb] (what reconstruction leaves), and
each predictor is priced by the entropy of its codes round((x - p) / 2eb) on the held-out half, in
bits per value: the lower bound on what the stored codes of that pass would take, before the
network's own bytes (which a real predictor must add and which the table below does not).

Usage: python3 scripts/learned-interp-probe.py [--hidden N] FIELD.npz|FIELD.npy [...]   (needs numpy;
N hidden units per layer, 32 by default)
"""
import sys

import numpy as np


def entropy_bits(codes):
    _, counts = np.unique(codes, return_counts=True)
    p = counts / counts.sum()
    return float(-(p * np.log2(p)).sum())


def neighbourhood(r):
    """Rows: points with an odd last coordinate that have 3 known neighbours on each side along
    the last axis; columns: the known taps around them. Also the cubic prediction."""
    n = r.shape[-1]
    ks = np.arange(3, n - 3, 2)
    # Offsets across the last axis (along the first two axes of a volume, the first of an image).
    cross = [(di, dj) for di in (-1, 0, 1) for dj in (-1, 0, 1)] if r.ndim == 3 else [(0, d) for d in (-1, 0, 1)]
    if r.ndim == 2:
        r = r[None]
    pad = np.pad(r, ((1, 1), (1, 1), (0, 0)), mode="edge")
    taps = []
    for di, dj in cross:
        shifted = pad[1 + di : 1 + di + r.shape[0], 1 + dj : 1 + dj + r.shape[1], :]
        for dk in (-3, -1, 1, 3):
            taps.append(shifted[:, :, ks + dk].reshape(-1))
    l3, l1, r1, r3 = (r[:, :, ks + dk].reshape(-1) for dk in (-3, -1, 1, 3))
    cubic = (9 * (l1 + r1) - (l3 + r3)) / 16
    return np.stack(taps, axis=1), cubic, ks


def mlp_fit(x, y, hidden=32, epochs=60, seed=0):
    rng = np.random.default_rng(seed)
    sizes = [x.shape[1], hidden, hidden, 1]
    params = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        params += [rng.normal(0, 1 / np.sqrt(a), (a, b)), np.zeros(b)]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    step, lr = 0, 2e-3
    for _ in range(epochs):
        order = rng.permutation(len(x))
        for s in range(0, len(x), 256):
            idx = order[s : s + 256]
            xb, yb = x[idx], y[idx, None]
            h1 = np.tanh(xb @ params[0] + params[1])
            h2 = np.tanh(h1 @ params[2] + params[3])
            out = h2 @ params[4] + params[5]
            g = 2 * (out - yb) / len(idx)
            grads = [None] * 6
            grads[4], grads[5] = h2.T @ g, g.sum(0)
            g2 = (g @ params[4].T) * (1 - h2**2)
            grads[2], grads[3] = h1.T @ g2, g2.sum(0)
            g1 = (g2 @ params[2].T) * (1 - h1**2)
            grads[0], grads[1] = xb.T @ g1, g1.sum(0)
            step += 1
            for i, gr in enumerate(grads):
                m[i] = 0.9 * m[i] + 0.1 * gr
                v[i] = 0.999 * v[i] + 0.001 * gr**2
                params[i] -= lr * (m[i] / (1 - 0.9**step)) / (np.sqrt(v[i] / (1 - 0.999**step)) + 1e-8)

    def predict(xq):
        h1 = np.tanh(xq @ params[0] + params[1])
        h2 = np.tanh(h1 @ params[2] + params[3])
        return (h2 @ params[4] + params[5])[:, 0]

    return predict, sum(p.size for p in params)


def probe(name, x, rel, hidden):
    x = np.asarray(x, dtype=np.float64)
    eb = rel * float(x.max() - x.min())
    rng = np.random.default_rng(1)
    r = x + rng.uniform(-eb, eb, x.shape)
    taps, cubic, ks = neighbourhood(r)
    truth = (x if x.ndim == 3 else x[None])[:, :, ks].reshape(-1)
    half = np.arange(len(truth)) % 2 == 0
    train, test = half, ~half
    codes = lambda p: np.round((truth[test] - p[test]) / (2 * eb)).astype(np.int64)
    rows = {"cubic": entropy_bits(codes(cubic))}
    a = np.c_[taps, np.ones(len(taps))]
    w, *_ = np.linalg.lstsq(a[train], truth[train], rcond=None)
    rows["linear"] = entropy_bits(codes(a @ w))
    # The network sees the taps relative to the cubic prediction, in units of eb, and predicts
    # the cubic's residual in those units.
    scale = eb
    feats = (taps - cubic[:, None]) / scale
    target = (truth - cubic) / scale
    predict, size = mlp_fit(feats[train], target[train], hidden=hidden)
    rows["mlp"] = entropy_bits(codes(cubic + predict(feats) * scale))
    n = len(truth[test])
    line = "  ".join(f"{k} {v:.3f}" for k, v in rows.items())
    gain = 1 - rows["mlp"] / rows["cubic"]
    print(f"| {name} | {rel:g} | {n} | {rows['cubic']:.3f} | {rows['linear']:.3f} | {rows['mlp']:.3f} | {100 * gain:+.1f} % | {size} |")
    return line


def main():
    print("| field | rel | points priced | cubic bits/value | linear (LS) | mlp | mlp vs cubic | mlp parameters |")
    print("|---|---|---|---|---|---|---|---|")
    args = sys.argv[1:]
    hidden = 32
    if args[:1] == ["--hidden"]:
        hidden, args = int(args[1]), args[2:]
    for path in args:
        data = np.load(path)
        x = data["data"] if hasattr(data, "files") else data
        x = np.squeeze(x)
        for rel in (1e-2, 1e-3, 1e-4):
            probe(path.split("/")[-1], x, rel, hidden)


if __name__ == "__main__":
    main()
