"""Could a model of a field's dynamics, learned on its first frames, code its later ones? (issue 17,
online packs)

A frame predicted from earlier reconstructed frames, per point, by a linear autoregressive model
whose few weights (the "online model") are fitted by least squares on the first half of the frames
and priced on the second half, against two fixed references: the previous frame, and the frame one
period earlier (what predictor 20, `codec/src/predictor/periodic.rs`, codes a block against).

The earlier frames are the field plus uniform noise in [-eb, eb] (what reconstruction leaves), with
eb = rel x range, and each predictor is priced by the entropy of its codes round((x - p) / 2eb) in
bits per value: a lower bound on what those codes would take, before the model's own bytes.

Usage: python3 scripts/temporal-ar-probe.py [--period P] FIELD.npz|FIELD.npy   (needs numpy; the
first axis is time; P is 12 for CFD_animation)

On ../shared/data/CFD_animation.npz (frames 42-59 priced, weights from frames 0-29) no fitted model
beats the plain period difference: 1.29 / 3.76 / 6.88 bits at 1e-2 / 1e-3 / 1e-4 against 2.04 /
4.14 / 7.07 for the best AR model (12 lags).
"""
import sys

import numpy as np


def entropy_bits(codes):
    _, counts = np.unique(codes, return_counts=True)
    p = counts / counts.sum()
    return float(-(p * np.log2(p)).sum())


def fit(recon, truth, lags, frames):
    """Least-squares weights over `lags` (frames back), from the points of `frames`."""
    a = np.concatenate([recon[t - lags].reshape(len(lags), -1).T for t in frames])
    b = np.concatenate([truth[t].ravel() for t in frames])
    w, *_ = np.linalg.lstsq(a, b, rcond=None)
    return w


def main():
    args = sys.argv[1:]
    period = 12
    if args[:1] == ["--period"]:
        period, args = int(args[1]), args[2:]
    data = np.load(args[0])
    x = np.squeeze(data["data"] if hasattr(data, "files") else data).astype(np.float64)
    frames = x.shape[0]
    half = frames // 2
    priced = np.arange(max(half + period, 2 * period + 1), frames)
    rng = np.random.default_rng(0)
    print(f"| rel | previous frame | {period} frames back | AR(2) | AR(6) | AR({period}) | lags 1, 2, {period - 1}, {period}, {period + 1} |")
    print("|---|---|---|---|---|---|---|")
    for rel in (1e-2, 1e-3, 1e-4):
        eb = rel * float(x.max() - x.min())
        recon = x + rng.uniform(-eb, eb, x.shape)
        price = lambda pred: entropy_bits(np.round((x[priced] - pred) / (2 * eb)).astype(np.int64))
        row = [price(recon[priced - 1]), price(recon[priced - period])]
        for lags in (np.arange(1, 3), np.arange(1, 7), np.arange(1, period + 1),
                     np.array([1, 2, period - 1, period, period + 1])):
            w = fit(recon, x, lags, range(int(lags.max()), half))
            row.append(price(np.stack([np.tensordot(w, recon[t - lags], axes=(0, 0)) for t in priced])))
        print(f"| {rel:g} | " + " | ".join(f"{v:.3f}" for v in row) + " |")


if __name__ == "__main__":
    main()
