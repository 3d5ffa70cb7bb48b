"""Baler as a numcodecs codec (``codec_id = "baler"``), for zarr v2 stores and anything else
that speaks numcodecs. Each encoded buffer is one Baler archive (what ``baler.compress`` gives).

A range-relative bound must mean the same in every chunk, so the codec takes an absolute bound:
``Baler.for_array(data, rel=1e-3)`` computes it from the whole array. A shared model (online mode)
is stored once, in the codec's configuration (base64 of its model file), and every chunk names it
by hash: its bytes are paid once per array, not once per chunk.
"""

from __future__ import annotations

import base64
from typing import Any

import numpy as np
from numcodecs.abc import Codec
from numcodecs.compat import ensure_contiguous_ndarray_like, ndarray_copy

from . import BalerError, Model, absolute_bound, compress, decompress


class Baler(Codec):
    """``abs``: the error bound, |x − x′| ≤ abs for every value (integers are always lossless).
    ``effort``: ``"fast"`` (classic predictors, the default for chunks), ``"default"`` or
    ``"max"`` (learning per chunk, each chunk embedding its own model). ``model``: a shared
    :class:`baler.Model` (or its file bytes, or their base64) that every chunk uses and names by
    hash. ``fill_value``: kept exactly and left out of ranges (e.g. a NetCDF ``_FillValue``).
    """

    codec_id = "baler"

    def __init__(
        self,
        abs: float,
        effort: str = "fast",
        fill_value: float | None = None,
        model: Model | bytes | str | None = None,
    ):
        if abs is None or not float(abs) > 0:
            raise BalerError("the Baler codec needs an absolute bound abs > 0 (see Baler.for_array for rel=)")
        self.abs = float(abs)
        self.effort = effort
        self.fill_value = None if fill_value is None else float(fill_value)
        # Only what compression needs is kept: its bytes are stored with the data.
        self._model = None if model is None else _as_model(model).for_compression()

    @classmethod
    def for_array(cls, data: Any, rel: float, **kwargs) -> Baler:
        """A codec whose absolute bound is ``rel`` × the value range of the whole ``data``."""
        return cls(abs=absolute_bound(data, rel, fill_value=kwargs.get("fill_value")), **kwargs)

    @property
    def model(self) -> Model | None:
        return self._model

    def encode(self, buf):
        arr = np.asarray(buf)
        return compress(arr, abs=self.abs, effort=self.effort, fill_value=self.fill_value, model=self._model,
                        source="chunk")

    def decode(self, buf, out=None):
        dec = decompress(ensure_contiguous_ndarray_like(buf, flatten=True).view("u1"), model=self._model)
        return dec if out is None else ndarray_copy(dec, out)

    def get_config(self):
        config = {"id": self.codec_id, "abs": self.abs, "effort": self.effort, "fill_value": self.fill_value}
        if self._model is not None:
            config["model"] = base64.b64encode(self._model.to_bytes()).decode("ascii")
            config["model_hash"] = self._model.hash
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config.pop("id", None)
        expected = config.pop("model_hash", None)
        codec = cls(**config)
        if expected is not None and (codec.model is None or codec.model.hash != expected):
            raise BalerError(f"the codec's model does not match its hash {expected}")
        return codec

    def __repr__(self):
        model = f", model={self._model.hash[:16]}…" if self._model is not None else ""
        return f"Baler(abs={self.abs!r}, effort={self.effort!r}, fill_value={self.fill_value!r}{model})"


def _as_model(model: Model | bytes | str) -> Model:
    if isinstance(model, Model):
        return model
    if isinstance(model, str):
        model = base64.b64decode(model.encode("ascii"), validate=True)
    return Model.from_bytes(bytes(model))
