"""baler.compress / decompress / info / train: bounds, dtypes, tables, errors, CLI identity."""

import numpy as np
import pytest

import baler
from baler import BalerError


def smooth_field(shape=(24, 40, 40), dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    z, y, x = np.meshgrid(*[np.linspace(0, 3, n) for n in shape], indexing="ij")
    f = np.sin(2 * x + z) * np.cos(3 * y - z) + 0.01 * rng.standard_normal(shape)
    return f.astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bound", [{"abs": 1e-3}, {"rel": 1e-4}])
def test_every_value_is_within_the_bound(dtype, bound):
    x = smooth_field(dtype=dtype)
    y = baler.decompress(baler.compress(x, effort="fast", **bound))
    assert y.dtype == x.dtype and y.shape == x.shape
    eb = bound.get("abs") or bound["rel"] * float(x.max() - x.min())
    err = np.abs(x.astype(np.float64) - y.astype(np.float64)).max()
    assert err <= eb, (err, eb)
    assert err > 0, "a lossy bound should be used, not lossless storage"


def test_nan_inf_and_fill_value_come_back_exactly():
    x = smooth_field()
    x[0, 0, :5] = np.nan
    x[1, 2, 3] = np.inf
    x[2, 2, 2] = -np.inf
    x[3, :, 7] = -9999.0
    y = baler.decompress(baler.compress(x, rel=1e-3, fill_value=-9999.0, effort="fast"))
    assert np.isnan(y[0, 0, :5]).all()
    assert y[1, 2, 3] == np.inf and y[2, 2, 2] == -np.inf
    assert (y[3, :, 7] == -9999.0).all()
    finite = np.isfinite(x) & (x != -9999.0)
    eb = 1e-3 * float(x[finite].max() - x[finite].min())
    assert np.abs(x[finite] - y[finite]).max() <= eb


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32, np.int64, np.uint64])
def test_integers_are_lossless(dtype):
    info = np.iinfo(dtype)
    rng = np.random.default_rng(1)
    x = rng.integers(info.min, info.max, size=(50, 30), dtype=dtype, endpoint=True)
    y = baler.decompress(baler.compress(x, abs=0.5, effort="fast"))
    assert y.dtype == x.dtype
    np.testing.assert_array_equal(x, y)


def test_big_endian_and_strided_input():
    x = smooth_field(dtype=np.float64)
    strided = x[:, ::2, ::-1]
    y = baler.decompress(baler.compress(strided.astype(">f8"), abs=1e-4, effort="fast"))
    assert y.dtype == np.float64 and y.shape == strided.shape
    assert np.abs(strided - y).max() <= 1e-4
    # Unaligned (as arrays unpickled from a buffer can be): read through an aligned copy.
    raw = bytearray(x.nbytes + 1)
    unaligned = np.frombuffer(raw, dtype=np.float64, offset=1, count=x.size).reshape(x.shape)
    unaligned[...] = x
    assert not unaligned.flags.aligned
    assert baler.compress(unaligned, abs=1e-4, effort="fast") == baler.compress(x, abs=1e-4, effort="fast")


def test_tables_from_a_dict_and_a_structured_array():
    rng = np.random.default_rng(2)
    px, py = rng.normal(0, 30, 2000), rng.normal(0, 30, 2000)
    cols = {"px": px.astype(np.float32), "pt": np.hypot(px, py), "n": rng.integers(0, 9, 2000).astype(np.int32)}
    blob = baler.compress(cols, rel=1e-3, effort="fast")
    t = baler.decompress(blob)
    assert t.dtype.names == ("px", "pt", "n")
    assert t["px"].dtype == np.float32 and t["n"].dtype == np.int32
    for name in ("px", "pt"):
        c = cols[name].astype(np.float64)
        assert np.abs(c - t[name]).max() <= 1e-3 * (c.max() - c.min())
    np.testing.assert_array_equal(t["n"], cols["n"])
    # The structured array itself is a table too, and gives the same archive.
    assert baler.compress(t, rel=1e-3, effort="fast") == baler.compress(
        {n: t[n] for n in t.dtype.names}, rel=1e-3, effort="fast")
    info = baler.info(blob)
    assert [s["name"] for s in info["streams"]] == ["px", "pt", "n"]


def test_default_effort_learns_which_columns_are_functions_of_others():
    rng = np.random.default_rng(4)
    pt = (10 + rng.exponential(40, 20000)).astype(np.float32)
    eta = rng.uniform(-2.4, 2.4, 20000).astype(np.float32)
    phi = rng.uniform(-np.pi, np.pi, 20000).astype(np.float32)
    cols = {"pt": pt, "eta": eta, "phi": phi, "px": pt * np.cos(phi), "py": pt * np.sin(phi),
            "pz": pt * np.sinh(eta), "q": rng.choice([-1, 1], 20000).astype(np.int32)}
    learned, classic = baler.compress(cols, rel=1e-3), baler.compress(cols, rel=1e-3, effort="fast")
    assert len(classic) > 1.3 * len(learned), (len(classic), len(learned))
    chunks = baler.info(learned)["chunk_choices"]
    assert all(c["choice"].startswith("predictor columns[") for c in chunks), chunks
    assert "hypot(px, py)" in chunks[0]["choice"] or "pt·cos phi" in chunks[0]["choice"], chunks
    assert "columns[" not in baler.info(classic)["chunk_choices"][0]["choice"]
    t = baler.decompress(learned)
    for name in ("pt", "eta", "phi", "px", "py", "pz"):
        c = cols[name].astype(np.float64)
        assert np.abs(c - t[name]).max() <= 1e-3 * (c.max() - c.min()), name
    np.testing.assert_array_equal(t["q"], cols["q"])


def test_psnr_target_is_reached():
    x = smooth_field(dtype=np.float64)
    y = baler.decompress(baler.compress(x, psnr=60, effort="fast"))
    mse = np.mean((x - y) ** 2)
    assert 10 * np.log10((x.max() - x.min()) ** 2 / mse) >= 60


def test_decompress_into_out():
    x = smooth_field()
    blob = baler.compress(x, abs=1e-3, effort="fast")
    out = np.empty(x.size, dtype=np.float32)
    assert baler.decompress(blob, out=out) is out
    np.testing.assert_array_equal(out.reshape(x.shape), baler.decompress(blob))
    with pytest.raises(BalerError, match="elements"):
        baler.decompress(blob, out=np.empty(x.size - 1, dtype=np.float32))
    with pytest.raises(BalerError, match="float64"):
        baler.decompress(blob, out=np.empty(x.shape, dtype=np.float64))


def test_bad_input_raises_clear_errors():
    x = smooth_field()
    with pytest.raises(BalerError, match="exactly one of"):
        baler.compress(x)
    with pytest.raises(BalerError, match="exactly one of"):
        baler.compress(x, abs=1e-3, rel=1e-3)
    with pytest.raises(BalerError, match="must be a finite number > 0"):
        baler.compress(x, abs=-1.0)
    with pytest.raises(BalerError, match="unsupported dtype bool"):
        baler.compress(np.zeros(10, dtype=bool), abs=1.0)
    with pytest.raises(BalerError, match="unsupported dtype complex128"):
        baler.compress(np.zeros(10, dtype=complex), abs=1.0)
    with pytest.raises(BalerError, match="unknown effort"):
        baler.compress(x, abs=1e-3, effort="slow")
    with pytest.raises(BalerError, match="config"):
        baler.compress(x, abs=1e-3, config={"model": {"no_such_option": 1}})
    with pytest.raises(BalerError, match="1-d with 3 rows"):
        baler.compress({"a": np.zeros(3), "b": np.zeros(4)}, abs=1.0)
    blob = baler.compress(x, abs=1e-3, effort="fast")
    with pytest.raises(BalerError):
        baler.decompress(b"not an archive at all")
    damaged = bytearray(blob)
    damaged[len(damaged) // 2] ^= 0xFF
    with pytest.raises(BalerError):
        baler.decompress(bytes(damaged))
    with pytest.raises(BalerError):
        baler.decompress(blob[: len(blob) // 3])
    with pytest.raises(BalerError):
        baler.info(bytes(damaged))


def test_info_names_bound_and_model():
    x = smooth_field()
    blob = baler.compress(x, abs=1e-3, effort="fast", source="field.npy")
    info = baler.info(blob)
    assert info["shape"] == list(x.shape)
    assert info["bound"] == {"abs": 1e-3}
    assert info["model"].startswith("none")
    assert info["content_hash_verified"] is True
    assert "source: field.npy" in info["notes"]
    assert info["archive_bytes"] == len(blob)


def test_same_bytes_as_the_cli(tmp_path, cli):
    x = smooth_field(shape=(20, 64, 48))
    np.save(tmp_path / "field.npy", x)
    for args, kwargs in [(["--rel", "1e-3", "--effort", "fast"], dict(rel=1e-3, effort="fast")),
                         (["--abs", "2e-3"], dict(abs=2e-3)),
                         (["--psnr", "70", "--effort", "fast"], dict(psnr=70, effort="fast"))]:
        cli("compress", str(tmp_path / "field.npy"), "-o", str(tmp_path / "f.baler"), "--quiet", *args)
        assert (tmp_path / "f.baler").read_bytes() == baler.compress(x, source="field.npy", **kwargs), args
    # A 2-d array read as a table, as --table does.
    t = np.stack([x[0, :, 0] * 10, x[1, :, 1], x[2, :, 2] ** 2], axis=1).astype(np.float64)
    np.save(tmp_path / "table.npy", t)
    cli("compress", str(tmp_path / "table.npy"), "-o", str(tmp_path / "t.baler"), "--table", "--rel", "1e-3",
        "--no-model", "--quiet")
    assert (tmp_path / "t.baler").read_bytes() == baler.compress(t, table=True, rel=1e-3, effort="fast",
                                                                 source="table.npy")
    # And the CLI decodes what Python wrote.
    (tmp_path / "p.baler").write_bytes(baler.compress(x, abs=1e-3, effort="fast"))
    cli("decompress", str(tmp_path / "p.baler"), "-o", str(tmp_path / "back.npy"), "--quiet")
    np.testing.assert_array_equal(np.load(tmp_path / "back.npy"), baler.decompress(tmp_path.joinpath("p.baler").read_bytes()))


def test_same_bytes_as_the_cli_on_the_hzz_table(tmp_path, cli, shared_data):
    src = shared_data / "hzz_baler.npz"
    cli("compress", str(src), "-o", str(tmp_path / "h.baler"), "--rel", "1e-3", "--quiet")
    with np.load(src) as z:
        names, data = [str(n) for n in z["names"]], z["data"]
    table = {n: np.ascontiguousarray(data[:, i]) for i, n in enumerate(names)}
    assert (tmp_path / "h.baler").read_bytes() == baler.compress(table, rel=1e-3, source="hzz_baler.npz")


def test_train_then_compress_online_and_offline(tmp_path):
    x = smooth_field(shape=(16, 32, 32))
    config = {"model": {"block": [1, 8, 8], "latent": 8, "search": False}, "training": {"epochs": 3}}
    model = baler.train(x, config=config)
    assert len(model.hash) == 64 and model.decoder_bytes > 0
    assert "3 epochs" in model.summary
    model.save(tmp_path / "m.bmodel")
    again = baler.Model.load(tmp_path / "m.bmodel")
    assert again.hash == model.hash and again.to_bytes() == model.to_bytes()
    online = baler.compress(x, abs=1e-3, model=model, force_model=True)
    with pytest.raises(BalerError, match="model"):
        baler.decompress(online)
    y = baler.decompress(online, model=again)
    assert np.abs(x - y).max() <= 1e-3
    assert baler.info(online, model=model)["model"] == f"referenced ({model.hash})"
    offline = baler.compress(x, abs=1e-3, model=model, embed_model=True, force_model=True)
    assert len(offline) > len(online)
    assert np.abs(x - baler.decompress(offline)).max() <= 1e-3
    import pickle

    assert pickle.loads(pickle.dumps(model)).hash == model.hash
    with pytest.raises(BalerError, match="cannot read model file"):
        baler.Model.load(tmp_path / "missing.bmodel")
    with pytest.raises(BalerError):
        baler.Model.from_bytes(b"garbage")


def test_absolute_bound_uses_the_whole_range():
    x = smooth_field()
    x[0, 0, 0] = np.nan
    x[0, 0, 1] = -9999
    finite = np.isfinite(x) & (x != -9999)
    assert baler.absolute_bound(x, 1e-3, fill_value=-9999) == 1e-3 * (float(x[finite].max()) - float(x[finite].min()))
    with pytest.raises(BalerError, match="no range"):
        baler.absolute_bound(np.ones(5), 1e-3)


def test_compress_file_streams_and_writes_the_clis_bytes(tmp_path, cli, shared_data):
    x = smooth_field(shape=(40, 64, 48))
    src = tmp_path / "field.npy"
    np.save(src, x)
    done = baler.compress_file(src, tmp_path / "py.baler", rel=1e-3)
    assert done["streamed"] is True, done
    assert done["original_bytes"] == x.nbytes and done["archive_bytes"] == (tmp_path / "py.baler").stat().st_size
    assert "source: field.npy" in done["notes"]
    cli("compress", str(src), "-o", str(tmp_path / "cli.baler"), "--rel", "1e-3", "--no-model", "--quiet")
    assert (tmp_path / "py.baler").read_bytes() == (tmp_path / "cli.baler").read_bytes()
    y = baler.decompress((tmp_path / "py.baler").read_bytes())
    assert np.abs(x.astype(np.float64) - y).max() <= 1e-3 * float(x.max() - x.min())
    # An npz stored uncompressed streams too; a small CSV is read whole: the same bytes as the CLI.
    cfg = tmp_path / "c.toml"
    cfg.write_text("[compression]\nchunk_elements = 4000\n")
    for name, streamed in [("hzz_baler.npz", True), ("hzz.csv", False)]:
        src_table = shared_data / name
        done = baler.compress_file(src_table, tmp_path / "h.baler", abs=0.5,
                                   config={"compression": {"chunk_elements": 4000}})
        assert done["streamed"] is streamed, (name, done)
        cli("compress", str(src_table), "-o", str(tmp_path / "hc.baler"), "--abs", "0.5", "--no-model", "--quiet",
            "--config", str(cfg))
        assert (tmp_path / "h.baler").read_bytes() == (tmp_path / "hc.baler").read_bytes(), name
    # Refusals: the input as output, no bound, a missing file; nothing is written.
    with pytest.raises(BalerError, match="output is the input"):
        baler.compress_file(src, src, rel=1e-3)
    with pytest.raises(BalerError, match="exactly one"):
        baler.compress_file(src, tmp_path / "x.baler")
    with pytest.raises(BalerError, match="not found"):
        baler.compress_file(tmp_path / "missing.npy", tmp_path / "x.baler", rel=1e-3)
    assert not (tmp_path / "x.baler").exists()
    np.testing.assert_array_equal(np.load(src), x)


def test_axis_names_are_kept_in_the_notes():
    f = smooth_field(shape=(6, 8, 10))
    named = baler.compress(f, rel=1e-3, effort="fast", axes=["time", "lat", "lon"])
    assert "axes: time, lat, lon" in baler.info(named)["notes"]
    assert not any(n.startswith("axes:") for n in baler.info(baler.compress(f, rel=1e-3, effort="fast"))["notes"])
    np.testing.assert_array_equal(baler.decompress(named), baler.decompress(baler.compress(f, rel=1e-3, effort="fast")))
    for wrong in (["time", "lat"], ["time", "", "lon"], ["a,b", "c", "d"]):
        with pytest.raises(BalerError, match="axes"):
            baler.compress(f, rel=1e-3, effort="fast", axes=wrong)
