"""Baler as an HDF5 filter: the parameters h5py, h5repack and C programs give it.

Each HDF5 chunk is stored as one Baler archive, verified value by value when it is written. This
package carries the filter: importing ``baler.hdf5`` registers it with h5py's HDF5 (so h5py, and
xarray through h5netcdf, read and write it with nothing else installed). Other programs load the
plugin ``libh5baler.so`` (``cargo build --release -p baler-hdf5-filter``) from the directory in
``HDF5_PLUGIN_PATH``.

>>> import h5py, baler.hdf5
>>> f.create_dataset("t", data=x, chunks=(16, 256, 256), **baler.hdf5.h5py_args(abs=1e-3))

``rel`` and ``psnr`` are applied to each chunk's own range, which is never larger than the
dataset's, so the bound also holds against the whole dataset's range (chunks of a small range are
kept tighter than needed). Give ``data=`` to turn ``rel`` into the absolute bound it means for the
whole array, as ``baler.compress(data, rel=…)`` would.
"""

from __future__ import annotations

import struct
from typing import Any

from . import BalerError, _baler, absolute_bound

#: HDF5 filter id, from HDF5's testing range (256–511) until one is registered.
FILTER_ID = 305

_MODES = {"abs": 0, "rel": 1, "psnr": 2}


def filter_options(
    *, abs: float | None = None, rel: float | None = None, psnr: float | None = None, data: Any = None,
    fill_value: float | None = None,
) -> tuple[int, ...]:
    """The filter's parameters (``cd_values``): the bound mode, then the bound as two u32 halves of
    an f64. With ``data``, ``rel`` becomes the absolute bound over the whole array."""
    given = [(m, v) for m, v in (("abs", abs), ("rel", rel), ("psnr", psnr)) if v is not None]
    if len(given) != 1:
        raise BalerError("give exactly one of abs=, rel= or psnr=")
    mode, value = given[0]
    if mode == "rel" and data is not None:
        mode, value = "abs", absolute_bound(data, value, fill_value=fill_value)
    lo, hi = struct.unpack("<II", struct.pack("<d", float(value)))
    return (_MODES[mode], lo, hi)


def h5py_args(**bound) -> dict:
    """``create_dataset`` keyword arguments: ``compression`` and ``compression_opts``."""
    return {"compression": FILTER_ID, "compression_opts": filter_options(**bound)}


def h5repack_filter(**bound) -> str:
    """The ``-f`` argument of ``h5repack`` (``UD=305,0,3,…``: mandatory filter, 3 parameters)."""
    cd = filter_options(**bound)
    return f"UD={FILTER_ID},0,{len(cd)}," + ",".join(str(v) for v in cd)


def register_h5py() -> bool:
    """Registers the filter with h5py's HDF5 library (done when ``baler.hdf5`` is imported).
    Returns False when h5py is not installed."""
    try:
        import h5py
    except ImportError:
        return False
    return bool(h5py.h5z.register_filter(_baler.hdf5_filter_class()))


register_h5py()
