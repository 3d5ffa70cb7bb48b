"""Baler: error-bounded compression of scientific arrays and tables, with learned models.

Every value comes back within the bound you give (``abs``, or ``rel`` to the value range, or a
``psnr`` target); integers come back exactly; NaN, Inf and a fill value are kept exactly. The
archives are the CLI's (``baler-train``) byte for byte: the same array and options give the same
bytes, and either side reads what the other wrote.

>>> import numpy as np, baler
>>> x = np.random.default_rng(0).standard_normal((64, 64)).astype(np.float32)
>>> blob = baler.compress(x, abs=1e-3)
>>> y = baler.decompress(blob)
>>> bool(np.abs(x - y).max() <= 1e-3)
True

Files compress file to file, in bounded memory where the format allows, with
:func:`compress_file`. Codecs for chunked stores live in :mod:`baler.numcodecs` (numcodecs / zarr v2) and
:mod:`baler.zarr` (zarr-python 3).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from . import _baler
from ._baler import BalerError, Model

__all__ = ["BalerError", "Model", "absolute_bound", "compress", "compress_file", "decompress", "info", "train"]

# What the CLI reads; anything else is refused with a message naming the dtype.
_SUPPORTED = {np.dtype(t) for t in ("f4", "f8", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8")}


def _native(a: Any) -> np.ndarray:
    """`a` as a C-contiguous, aligned, native-endian numpy array (no copy when it already is one;
    arrays unpickled from a buffer, as Dask's workers get them, can be unaligned)."""
    a = np.asarray(a)
    if a.dtype.fields is None and a.dtype.byteorder not in ("=", "|"):
        a = a.astype(a.dtype.newbyteorder("="))
    if a.dtype.fields is None and a.dtype not in _SUPPORTED:
        raise BalerError(f"unsupported dtype {a.dtype}: give float32/64 or (u)int8/16/32/64")
    return np.require(a, requirements=["C", "A"])


def _dataset(data: Any, table: bool) -> tuple[str, list[tuple[str, np.ndarray]]]:
    """A field (one array) or a table (named 1-d columns), as the native module takes them.

    Tables: a mapping of column name → 1-d array, a structured array (one column per field), or
    a 2-d array with ``table=True`` (columns ``col0``, ``col1``, … as the CLI's ``--table``).
    """
    if isinstance(data, Mapping):
        return "table", [(str(k), _native(v)) for k, v in data.items()]
    a = np.asarray(data)
    if a.dtype.names is not None:
        if a.ndim != 1:
            raise BalerError(f"a structured array must be 1-d (one row per record), has shape {a.shape}")
        return "table", [(name, _native(a[name])) for name in a.dtype.names]
    if table:
        if a.ndim != 2:
            raise BalerError(f"table=True needs a 2-d array, has shape {a.shape}")
        return "table", [(f"col{c}", _native(a[:, c])) for c in range(a.shape[1])]
    return "field", [("", _native(a))]


def _config(config: str | os.PathLike | Mapping | None) -> tuple[str | None, str | None]:
    """(TOML text, JSON text) for the native module: a mapping, TOML text or a TOML file path."""
    if config is None:
        return None, None
    if isinstance(config, Mapping):
        return None, json.dumps(config)
    text = os.fspath(config)
    if "\n" not in text and "=" not in text:
        try:
            with open(text, encoding="utf-8") as f:
                return f.read(), None
        except OSError as e:
            raise BalerError(f"{text}: cannot read config: {e.strerror}") from None
    return text, None


def _bound(abs: float | None, rel: float | None, psnr: float | None) -> tuple[str, float]:
    given = [(m, v) for m, v in (("abs", abs), ("rel", rel), ("psnr", psnr)) if v is not None]
    if len(given) != 1:
        raise BalerError("give exactly one of abs=, rel= or psnr=")
    mode, value = given[0]
    return mode, float(value)


def _bytes(data: Any) -> bytes:
    return data if isinstance(data, bytes) else bytes(memoryview(data).cast("B"))


def compress(
    data: Any,
    *,
    abs: float | None = None,
    rel: float | None = None,
    psnr: float | None = None,
    effort: str = "default",
    model: Model | None = None,
    embed_model: bool = False,
    fill_value: float | None = None,
    table: bool = False,
    force_model: bool = False,
    config: str | os.PathLike | Mapping | None = None,
    source: str = "numpy array",
    axes: Sequence[str] | None = None,
) -> bytes:
    """Compresses an array (a field) or a table into one Baler archive.

    - ``abs``: |x − x′| ≤ abs for every value; ``rel``: ≤ rel·(max − min) of the finite values
      (per column for tables); ``psnr``: the loosest range-relative bound that reaches it (dB).
    - ``effort``: ``"fast"`` trains nothing, ``"default"`` trains only shapes an estimate says
      could pay, ``"max"`` always searches (as ``baler-train compress --effort``).
    - ``model``: use this trained model; it is named by hash (online mode: pass it again to
      decompress) unless ``embed_model=True``.
    - ``fill_value``: values equal to it are "no data", kept exactly and left out of ranges.
    - ``table``: read a 2-d array as a table (one bound per column). A dict of columns or a
      structured array is always a table.
    - ``config``: training and compression options (a dict, TOML text or a TOML file, as
      ``baler-train new`` writes).
    - ``source``: what the archive records as the input (the CLI records the file name).
    - ``axes``: names of a field's axes, one per axis (as ``baler-train compress --axes``);
      an xarray ``DataArray``'s ``dims`` are taken when it is not given. Viewers label their
      axes with them.
    """
    mode, value = _bound(abs, rel, psnr)
    if axes is None and not table and not isinstance(data, Mapping):
        dims = getattr(data, "dims", None)
        axes = [str(d) for d in dims] if isinstance(dims, tuple) else None
    kind, arrays = _dataset(data, table)
    toml_text, json_text = _config(config)
    return _baler.compress(
        kind, arrays, mode, value, effort, model, embed_model,
        None if fill_value is None else float(fill_value), source, force_model, toml_text, json_text,
        [str(a) for a in axes or ()],
    )


def compress_file(
    input: str | os.PathLike,
    output: str | os.PathLike,
    *,
    abs: float | None = None,
    rel: float | None = None,
    fill_value: float | None = None,
    table: bool = False,
    config: str | os.PathLike | Mapping | None = None,
) -> dict:
    """Compresses a file into an archive file with classic predictors, as ``baler-train compress
    INPUT -o OUTPUT --no-model`` does (the same archive bytes).

    ``input`` is ``FILE`` or ``FILE:INNER`` (an HDF5 dataset, a NetCDF variable, an npz member, a
    ROOT tree). A C-order ``.npy`` (also stored uncompressed in an ``.npz``, as ``np.savez`` writes
    it), a ``.csv`` of 256 MiB or more, a numeric HDF5 dataset of at most 3 axes and a numeric
    NetCDF variable of 1–3 dimensions are read a slab of rows at a time, so memory holds a few chunks
    whatever the file's size; other inputs are read whole. The output is written atomically and
    never over the input. Returns what was written: ``original_bytes``, ``archive_bytes``,
    ``ratio``, ``streamed``, the chunks' ``predictors`` and the archive's ``notes``.
    """
    mode, value = _bound(abs, rel, None)
    toml_text, json_text = _config(config)
    text = _baler.compress_file(
        os.fspath(input), os.fspath(output), mode, value,
        None if fill_value is None else float(fill_value), table, toml_text, json_text,
    )
    return json.loads(text)


def decompress(data: Any, *, model: Model | None = None, out: np.ndarray | None = None) -> np.ndarray:
    """Decodes an archive: an array of the original dtype and shape, or for a table a structured
    array with one field per column. An online-mode archive needs its ``model``. With ``out``
    (an array of the same dtype and element count) the values are written there and ``out`` is
    returned."""
    kind, decoded = _baler.decompress(_bytes(data), model)
    if kind == "table":
        result = np.empty(len(decoded[0][1]) if decoded else 0, dtype=[(n, c.dtype) for n, c in decoded])
        for name, column in decoded:
            result[name] = column
    else:
        result = decoded
    if out is None:
        return result
    if not isinstance(out, np.ndarray):
        raise BalerError("out must be a numpy array")
    if out.dtype != result.dtype or out.size != result.size:
        raise BalerError(
            f"out is {out.dtype} with {out.size} elements; the archive holds {result.dtype} with {result.size}"
        )
    np.copyto(out, result.reshape(out.shape))
    return out


def info(data: Any, *, model: Model | None = None) -> dict:
    """What ``baler-train info --json`` says about an archive: shape, dtypes, bound, model, sizes,
    ratio, notes. Decodes it to verify every checksum and the content hash (an online-mode archive
    without its ``model`` is described but not verified)."""
    return json.loads(_baler.info(_bytes(data), model))


def train(
    data: Any,
    *,
    config: str | os.PathLike | Mapping | None = None,
    fill_value: float | None = None,
    table: bool = False,
    device: str = "cpu",
    source: str = "numpy array",
) -> Model:
    """Trains an autoencoder on ``data`` (as ``baler-train train``). Use it with
    ``compress(…, model=m)`` on this and similar data; ``m.to_bytes()`` / ``Model.from_bytes`` or
    ``m.save(path)`` / ``Model.load(path)`` keep it."""
    kind, arrays = _dataset(data, table)
    toml_text, json_text = _config(config)
    return _baler.train(
        kind, arrays, None if fill_value is None else float(fill_value), source, device, toml_text, json_text
    )


def absolute_bound(data: Any, rel: float, *, fill_value: float | None = None) -> float:
    """The absolute bound that ``rel`` means for the whole of ``data``: rel·(max − min) over its
    finite values other than ``fill_value`` — what ``compress(data, rel=rel)`` uses. Give this to a
    chunked codec so a range-relative bound means the same in every chunk. Works on numpy and
    dask arrays (computed in one pass)."""
    mask = np.isfinite(data)
    if fill_value is not None:
        mask = mask & (data != fill_value)
    if isinstance(data, np.ndarray):
        lo = np.min(data, where=mask, initial=np.inf)
        hi = np.max(data, where=mask, initial=-np.inf)
    else:  # dask and other duck arrays: no `where=` on their reductions; one pass for both ends
        masked = np.where(mask, data, np.nan)
        lo, hi = np.nanmin(masked), np.nanmax(masked)
        if hasattr(lo, "compute"):
            import dask

            lo, hi = dask.compute(lo, hi)
    lo, hi = float(lo), float(hi)
    if not hi > lo:
        raise BalerError("the data has no range (constant, empty or all non-finite): give abs=")
    return float(rel) * (hi - lo)
