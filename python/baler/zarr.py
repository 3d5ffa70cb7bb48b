"""Baler as a Zarr v3 array-to-bytes codec (``"name": "baler"``), registered with zarr-python 3
through the ``zarr.codecs`` entry point. Each chunk is one Baler archive that knows its own shape
and dtype, so the codec replaces zarr's ``bytes`` serializer:

    zarr.create_array(store, shape=…, chunks=…, dtype="float32",
                      serializer=BalerCodec.for_array(data, rel=1e-3), compressors=None)

The configuration is the numcodecs codec's (:class:`baler.numcodecs.Baler`): ``abs``, ``effort``,
``fill_value`` and an optional shared ``model`` (base64 of its file) with its ``model_hash``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import numpy as np
from zarr.abc.codec import ArrayBytesCodec
from zarr.core.buffer import Buffer, NDBuffer
from zarr.core.common import parse_named_configuration
from zarr.registry import register_codec

from .numcodecs import Baler


@dataclass(frozen=True)
class BalerCodec(ArrayBytesCodec):
    is_fixed_size = False

    settings: Baler

    def __init__(self, *, abs: float, effort: str = "fast", fill_value: float | None = None, model: Any = None,
                 model_hash: str | None = None):
        config = {"abs": abs, "effort": effort, "fill_value": fill_value, "model": model}
        if model_hash is not None:
            config["model_hash"] = model_hash
        object.__setattr__(self, "settings", Baler.from_config(config))

    @classmethod
    def for_array(cls, data: Any, rel: float, **kwargs) -> BalerCodec:
        """A codec whose absolute bound is ``rel`` × the value range of the whole ``data``."""
        b = Baler.for_array(data, rel, **kwargs)
        return cls(abs=b.abs, effort=b.effort, fill_value=b.fill_value, model=b.model)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BalerCodec:
        _, configuration = parse_named_configuration(data, "baler")
        return cls(**configuration)

    def to_dict(self) -> dict[str, Any]:
        config = self.settings.get_config()
        config.pop("id")
        return {"name": "baler", "configuration": config}

    def _encode_sync(self, chunk_array: NDBuffer, chunk_spec) -> Buffer | None:
        data = self.settings.encode(chunk_array.as_numpy_array())
        return chunk_spec.prototype.buffer.from_bytes(data)

    def _decode_sync(self, chunk_bytes: Buffer, chunk_spec) -> NDBuffer:
        arr = self.settings.decode(chunk_bytes.as_numpy_array())
        if arr.shape != tuple(chunk_spec.shape):
            arr = arr.reshape(chunk_spec.shape)
        want = chunk_spec.dtype.to_native_dtype()
        if arr.dtype != want:
            arr = arr.astype(want)
        return chunk_spec.prototype.nd_buffer.from_numpy_array(np.ascontiguousarray(arr))

    # The native code releases the GIL: chunks run on zarr's threads in parallel.
    async def _encode_single(self, chunk_array: NDBuffer, chunk_spec) -> Buffer | None:
        return await asyncio.to_thread(self._encode_sync, chunk_array, chunk_spec)

    async def _decode_single(self, chunk_bytes: Buffer, chunk_spec) -> NDBuffer:
        return await asyncio.to_thread(self._decode_sync, chunk_bytes, chunk_spec)

    def compute_encoded_size(self, input_byte_length: int, chunk_spec) -> int:
        raise NotImplementedError  # depends on the data


register_codec("baler", BalerCodec)
