"""numcodecs and Zarr v3 codecs, xarray with _FillValue, and a real Dask cluster."""

import base64
import json
import pickle

import dask.array as da
import distributed
import numcodecs
import numpy as np
import pytest
import xarray as xr
import zarr

import baler
from baler import BalerError
from baler.numcodecs import Baler
from baler.zarr import BalerCodec


def field(shape=(8, 64, 96), seed=3):
    rng = np.random.default_rng(seed)
    t, y, x = np.meshgrid(*[np.linspace(0, 1, n) for n in shape], indexing="ij")
    return (280 + 15 * np.sin(6 * x + t) * np.cos(4 * y) + 0.05 * rng.standard_normal(shape)).astype(np.float32)


def test_numcodecs_registry_round_trip():
    x = field()
    codec = numcodecs.get_codec({"id": "baler", "abs": 0.01})
    assert isinstance(codec, Baler)
    enc = codec.encode(x)
    dec = codec.decode(enc)
    assert dec.shape == x.shape and np.abs(dec - x).max() <= 0.01
    out = np.empty_like(x)
    assert codec.decode(enc, out=out) is out
    np.testing.assert_array_equal(out, dec)
    with pytest.raises(ValueError):
        codec.decode(enc, out=np.empty(x.size + 1, dtype=np.float32))
    assert numcodecs.get_codec(codec.get_config()).get_config() == codec.get_config()


def test_codec_refuses_a_missing_bound():
    with pytest.raises(BalerError, match="absolute bound"):
        Baler(abs=None)
    with pytest.raises(BalerError, match="absolute bound"):
        BalerCodec(abs=0.0)


def test_for_array_bound_means_the_whole_range():
    x = field()
    codec = Baler.for_array(x, rel=1e-3)
    assert codec.abs == pytest.approx(1e-3 * float(x.max() - x.min()))
    # A chunk with a narrower range keeps the whole array's bound, not its own.
    part = x[:1, :8, :8]
    info = baler.info(codec.encode(part))
    assert info["bound"] == {"abs": codec.abs}


def test_zarr_v3_round_trip_reopened_from_metadata(tmp_path):
    x = field()
    codec = BalerCodec.for_array(x, rel=1e-4)
    arr = zarr.create_array(tmp_path / "a.zarr", shape=x.shape, chunks=(4, 32, 48), dtype="float32",
                            serializer=codec, compressors=None)
    arr[:] = x
    meta = json.loads((tmp_path / "a.zarr" / "zarr.json").read_text())
    assert meta["codecs"][0]["name"] == "baler"
    back = zarr.open_array(tmp_path / "a.zarr", mode="r")
    y = back[:]
    assert y.dtype == np.float32 and np.abs(y - x).max() <= codec.settings.abs
    # Every stored chunk is a Baler archive that names its bound.
    chunk = (tmp_path / "a.zarr" / "c" / "0" / "1" / "1").read_bytes()
    info = baler.info(chunk)
    assert info["shape"] == [4, 32, 48] and info["bound"] == {"abs": codec.settings.abs}


def test_zarr_v2_store_with_the_numcodecs_codec(tmp_path):
    x = field()
    arr = zarr.create_array(tmp_path / "v2.zarr", shape=x.shape, chunks=(4, 64, 96), dtype="float32",
                            compressors=Baler(abs=0.02), filters=None, zarr_format=2)
    arr[:] = x
    assert json.loads((tmp_path / "v2.zarr" / ".zarray").read_text())["compressor"]["id"] == "baler"
    assert np.abs(zarr.open_array(tmp_path / "v2.zarr", mode="r")[:] - x).max() <= 0.02


def test_xarray_round_trip_with_fill_value(tmp_path):
    x = field().astype(np.float64)
    x[:, :10, :10] = np.nan  # land
    ds = xr.Dataset({"t2m": (("time", "lat", "lon"), x)}, coords={"time": np.arange(x.shape[0])})
    codec = BalerCodec.for_array(x, rel=1e-4, fill_value=-9999.0)
    ds.to_zarr(tmp_path / "ds.zarr", encoding={"t2m": {"serializer": codec, "compressors": None,
                                                       "_FillValue": -9999.0, "chunks": (4, 32, 32)}},
               zarr_format=3, consolidated=False)
    back = xr.open_zarr(tmp_path / "ds.zarr", consolidated=False)["t2m"].values
    assert np.isnan(back[:, :10, :10]).all()
    sea = ~np.isnan(x)
    assert not np.isnan(back[sea]).any()
    assert np.abs(back[sea] - x[sea]).max() <= codec.settings.abs
    raw = zarr.open_array(tmp_path / "ds.zarr/t2m", mode="r")[:]
    assert (raw[:, :10, :10] == -9999.0).all(), "the fill value is stored exactly"
    # A DataArray given to baler.compress names the archive's axes by its dims.
    blob = baler.compress(ds["t2m"].fillna(0.0), rel=1e-3, effort="fast")
    assert "axes: time, lat, lon" in baler.info(blob)["notes"]


def test_shared_model_is_stored_once_and_named_by_every_chunk(tmp_path):
    x = field(shape=(16, 64, 64))
    model = baler.train(x, config={"model": {"block": [1, 8, 8], "latent": 8, "search": False},
                                   "training": {"epochs": 2}})
    codec = BalerCodec(abs=0.05, model=model)
    # Dask ships the codec, model included, to its workers by pickling it.
    assert pickle.loads(pickle.dumps(codec)).to_dict() == codec.to_dict()
    arr = zarr.create_array(tmp_path / "m.zarr", shape=x.shape, chunks=(8, 32, 32), dtype="float32",
                            serializer=codec, compressors=None)
    arr[:] = x
    meta = json.loads((tmp_path / "m.zarr" / "zarr.json").read_text())
    assert meta["codecs"][0]["configuration"]["model_hash"] == model.hash
    # Stored without the float decoder and the epoch history, so smaller than the model file.
    stored = base64.b64decode(meta["codecs"][0]["configuration"]["model"])
    assert len(stored) < len(model.to_bytes()) and baler.Model.from_bytes(stored).hash == model.hash
    assert "all 2 epochs" in baler.Model.from_bytes(stored).summary
    back = zarr.open_array(tmp_path / "m.zarr", mode="r")
    assert np.abs(back[:] - x).max() <= 0.05
    # A chunk that uses the model names it by hash and does not carry it.
    for chunk in (tmp_path / "m.zarr" / "c").rglob("*"):
        if chunk.is_file():
            info = baler.info(chunk.read_bytes(), model=model)
            assert info["model"] in ("none (classic predictors)", f"referenced ({model.hash})")
            assert info["sections"]["model"] == 0
    # The codec refuses a configuration whose model does not match the hash it names.
    bad = dict(meta["codecs"][0]["configuration"], model_hash="00" * 32)
    with pytest.raises(BalerError, match="does not match"):
        BalerCodec(**bad)


def test_dask_cluster_writes_zarr_that_plain_zarr_reads(tmp_path, cli):
    x = field(shape=(16, 128, 128))
    codec = BalerCodec.for_array(x, rel=1e-4)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            distributed.Client(cluster):
        d = da.from_array(x, chunks=(4, 64, 128))
        arr = zarr.create_array(tmp_path / "d.zarr", shape=x.shape, chunks=(4, 64, 128), dtype="float32",
                                serializer=codec, compressors=None)
        da.store(d, arr, lock=False)
    y = zarr.open_array(tmp_path / "d.zarr", mode="r")[:]
    assert np.abs(y - x).max() <= codec.settings.abs
    # The same chunk through the CLI at the same bound decodes to the same values.
    np.save(tmp_path / "chunk.npy", x[4:8, 64:128, :])
    cli("compress", str(tmp_path / "chunk.npy"), "-o", str(tmp_path / "chunk.baler"), "--abs", repr(codec.settings.abs),
        "--effort", "fast", "--quiet")
    cli("decompress", str(tmp_path / "chunk.baler"), "-o", str(tmp_path / "chunk-back.npy"), "--quiet")
    np.testing.assert_array_equal(np.load(tmp_path / "chunk-back.npy"), y[4:8, 64:128, :])
