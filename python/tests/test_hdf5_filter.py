"""The HDF5 filter plugin (libh5baler.so, filter 305) through real HDF5 programs: h5py, h5repack and
h5dump (Debian's HDF5), netCDF4-python and xarray (the netCDF4 wheel's HDF5), and a C program.

Each HDF5 program runs in its own process with HDF5_PLUGIN_PATH set, as a user runs them: h5py
and netCDF4 wheels each bundle an HDF5 library, and the plugin binds to the one that loads it.
"""

import os
import pathlib
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import baler.hdf5
from baler import BalerError

from conftest import ROOT, built


@pytest.fixture(scope="module")
def plugin_dir(tmp_path_factory) -> pathlib.Path:
    lib = built("libh5baler.so", "BALER_HDF5_PLUGIN")
    assert lib.is_file(), f"{lib} is missing: cargo build --release -p baler-hdf5-filter"
    # A directory holding only the plugin: HDF5 tries to load every library in it.
    d = tmp_path_factory.mktemp("hdf5-plugins")
    shutil.copy(lib, d / lib.name)
    return d


def run(args, plugin_dir, cwd, ok=True):
    env = dict(os.environ, HDF5_PLUGIN_PATH=str(plugin_dir))
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True, env=env, cwd=cwd)
    # A negative code is a signal: the host crashed, whatever `ok` expects.
    assert done.returncode >= 0, f"{args[0]} crashed ({done.returncode}): {done.stderr[-2000:]}"
    if ok:
        assert done.returncode == 0, f"{' '.join(map(str, args))} failed: {done.stderr[-3000:]}"
    return done


def python(code, plugin_dir, cwd, ok=True):
    return run([sys.executable, "-c", textwrap.dedent(code)], plugin_dir, cwd, ok)


def field(shape, seed=0):
    rng = np.random.default_rng(seed)
    t, y, x = np.meshgrid(*(np.linspace(0, 3, n) for n in shape), indexing="ij")
    return np.sin(2 * x + t) * np.cos(3 * y) * 15 + rng.normal(0, 0.05, shape)


def test_filter_options_are_the_bound_as_two_halves():
    assert baler.hdf5.filter_options(abs=0.25) == (0, 0, 0x3FD00000)
    assert baler.hdf5.h5repack_filter(psnr=60.0).startswith("UD=305,0,3,2,")
    x = np.arange(11.0)
    mode, lo, hi = baler.hdf5.filter_options(rel=1e-2, data=x)
    assert mode == 0 and np.frombuffer(np.array([lo, hi], "<u4").tobytes(), "<f8")[0] == pytest.approx(0.1)
    with pytest.raises(BalerError):
        baler.hdf5.filter_options(abs=1.0, rel=1.0)


def test_h5py_round_trip_every_dtype_with_fill_nan_and_byte_orders(tmp_path, plugin_dir):
    f32 = field((10, 40, 50)).astype("<f4")
    f32[0, 0, :5] = [np.nan, np.inf, -np.inf, np.nan, 0.5]
    f64_be = field((30, 33, 7), seed=1).astype(">f8")
    ints = {
        "i2": np.arange(-3000, 3000, 3, dtype="i2").reshape(40, 50),
        "u1": (np.arange(2000) % 251).astype("u1"),
        "u8": (np.arange(900, dtype="u8") * 0x9E3779B97F4A7C15),
        "i8_be": (np.arange(-450, 450, dtype=">i8") * 123456789),
    }
    np.savez(tmp_path / "in.npz", f32=f32, f64_be=f64_be, **ints)
    python(
        f"""
        import h5py, numpy as np, baler.hdf5 as bh
        a = np.load("in.npz")
        with h5py.File("t.h5", "w") as f:
            # Larger than the data: unwritten parts of edge chunks hold the fill value.
            d = f.create_dataset("f32", shape=(10, 40, 60), dtype="<f4", chunks=(4, 16, 16),
                                 fillvalue=-9999.0, **bh.h5py_args(abs=1e-3))
            d[:, :, :50] = a["f32"]
            f.create_dataset("f64_be", data=a["f64_be"], chunks=(8, 33, 7), **bh.h5py_args(rel=1e-4, data=a["f64_be"]))
            f.create_dataset("f64_rel_chunk", data=a["f64_be"].astype("<f8"), chunks=(8, 33, 7), **bh.h5py_args(rel=1e-4))
            for k in {list(ints)}:
                chunks = (100,) if a[k].ndim == 1 else (7, 50)
                f.create_dataset(k, data=a[k], chunks=chunks, **bh.h5py_args(abs=5.0))
        with h5py.File("t.h5") as f:
            assert f["f32"].dtype == np.dtype("<f4") and f["f64_be"].dtype == np.dtype(">f8")
            np.savez("out.npz", **{{k: f[k][...] for k in f}})
        """,
        plugin_dir,
        tmp_path,
    )
    out = np.load(tmp_path / "out.npz")
    got = out["f32"]
    assert np.array_equal(got[:, :, 50:], np.full((10, 40, 10), -9999.0, "f4")), "fill values must be exact"
    finite = np.isfinite(f32)
    assert np.abs(got[:, :, :50][finite].astype("f8") - f32[finite]).max() <= 1e-3
    assert np.array_equal(np.isnan(got[:, :, :50]), np.isnan(f32))
    assert np.array_equal(got[:, :, :50][np.isinf(f32)], f32[np.isinf(f32)])
    rel_abs = 1e-4 * (f64_be.max() - f64_be.min())
    assert np.abs(out["f64_be"] - f64_be).max() <= rel_abs
    assert np.abs(out["f64_rel_chunk"] - f64_be).max() <= rel_abs  # per-chunk rel is never looser
    for k, v in ints.items():
        assert out[k].dtype == v.dtype and np.array_equal(out[k], v), f"{k} must be lossless"


def write_netcdf(path, plugin_dir, cwd):
    """A NetCDF-4 file as netCDF4-python writes one: chunked, deflated, with _FillValue and gaps."""
    python(
        f"""
        import netCDF4, numpy as np
        t, y, x = np.meshgrid(np.arange(12), np.linspace(-2, 2, 45), np.linspace(0, 6, 80), indexing="ij")
        temp = (280 + 15 * np.sin(x + 0.2 * t) * np.cos(y) + 0.01 * t).astype("f4")
        temp[:, :5, :7] = -1e30  # land: the fill value
        with netCDF4.Dataset("{path}", "w") as nc:
            for name, n in (("time", 12), ("lat", 45), ("lon", 80)):
                nc.createDimension(name, n)
                nc.createVariable(name, "f8", (name,))[:] = np.arange(n)
            v = nc.createVariable("temp", "f4", ("time", "lat", "lon"), zlib=True, chunksizes=(4, 45, 80),
                                  fill_value=np.float32(-1e30))
            v.units = "K"
            v[:] = np.ma.masked_equal(temp, np.float32(-1e30))
        np.save("truth.npy", temp)
        """,
        plugin_dir,
        cwd,
    )


def test_h5repack_a_netcdf4_file_then_h5dump_h5py_netcdf4_and_xarray_read_it(tmp_path, plugin_dir):
    write_netcdf("orig.nc", plugin_dir, tmp_path)
    truth = np.load(tmp_path / "truth.npy")
    bound = 0.01
    ud = baler.hdf5.h5repack_filter(abs=bound)
    # -f temp:…  only that variable; -f …  alone would filter the coordinates too (also fine).
    run(["h5repack", "-f", f"temp:{ud}", "orig.nc", "baler.nc"], plugin_dir, tmp_path)
    dump = run(["h5dump", "-p", "-H", "baler.nc"], plugin_dir, tmp_path).stdout
    assert "FILTER_ID 305" in dump
    values = run(["h5dump", "-d", "temp", "-s", "0,10,10", "-c", "1,1,3", "baler.nc"], plugin_dir, tmp_path).stdout
    assert "(0,10,10):" in values
    python(
        """
        import h5py, netCDF4, numpy as np, xarray as xr
        with netCDF4.Dataset("baler.nc") as nc:
            v = nc["temp"]
            assert v.filters().get("zlib") is False, v.filters()
            np.save("via_netcdf4.npy", v[:].filled(np.float32(-1e30)))
        with xr.open_dataset("baler.nc", engine="netcdf4", mask_and_scale=True) as ds:
            np.save("via_xarray.npy", ds["temp"].values)
        """,
        plugin_dir,
        tmp_path,
    )
    python(
        """
        import h5py, numpy as np
        with h5py.File("baler.nc") as f:
            np.save("via_h5py.npy", f["temp"][...])
        """,
        plugin_dir,
        tmp_path,
    )
    land = truth == np.float32(-1e30)
    for via in ("netcdf4", "h5py"):
        got = np.load(tmp_path / f"via_{via}.npy")
        assert np.array_equal(got[land], truth[land]), f"{via}: fill values must be exact"
        assert np.abs(got[~land].astype("f8") - truth[~land]).max() <= bound, via
    xa = np.load(tmp_path / "via_xarray.npy")
    assert np.isnan(xa[land]).all() and np.abs(xa[~land].astype("f8") - truth[~land]).max() <= bound


def test_c_program_writes_and_reads_through_the_filter(tmp_path, plugin_dir):
    h5cc = shutil.which("h5cc")
    assert h5cc, "h5cc (Debian libhdf5-dev) is missing"
    src = ROOT / "hdf5-filter" / "examples" / "write_read.c"
    run([h5cc, "-shlib", src, "-o", "write_read", "-lm"], plugin_dir, tmp_path)
    out = run(["./write_read", "c.h5"], plugin_dir, tmp_path).stdout
    assert "max error" in out
    ratio = float(out.split("ratio ")[1].split()[0])
    assert ratio > 4, out


def test_netcdf_c_program_writes_with_nc_def_var_filter(tmp_path, plugin_dir):
    """netCDF-C's own filter API (Debian libnetcdf, its HDF5 1.10): what a model writing NetCDF does."""
    nc_config = shutil.which("nc-config")
    assert nc_config, "nc-config (Debian libnetcdf-dev) is missing"
    flags = subprocess.run([nc_config, "--cflags", "--libs"], capture_output=True, text=True, check=True).stdout.split()
    src = ROOT / "hdf5-filter" / "examples" / "netcdf_write_read.c"
    run(["cc", src, *flags, "-lm", "-o", "netcdf_write_read"], plugin_dir, tmp_path)
    out = run(["./netcdf_write_read", "tas.nc"], plugin_dir, tmp_path).stdout
    assert "fill values 2880 exact" in out, out
    dump = run(["h5dump", "-p", "-H", "-d", "tas", "tas.nc"], plugin_dir, tmp_path).stdout
    assert "FILTER_ID 305" in dump, dump


def test_a_corrupt_chunk_is_a_read_error_not_a_crash(tmp_path, plugin_dir):
    python(
        """
        import h5py, numpy as np, baler.hdf5 as bh
        with h5py.File("c.h5", "w") as f:
            f.create_dataset("x", data=np.linspace(0, 1, 20000).reshape(100, 200), chunks=(50, 200), **bh.h5py_args(abs=1e-4))
        """,
        plugin_dir,
        tmp_path,
    )
    offset, size = (int(v) for v in python(
        """
        import h5py
        with h5py.File("c.h5") as f:
            info = f["x"].id.get_chunk_info(0)
            print(info.byte_offset, info.size)
        """,
        plugin_dir,
        tmp_path,
    ).stdout.split())
    data = bytearray((tmp_path / "c.h5").read_bytes())
    for i in range(offset + size // 3, offset + size // 3 + 16):
        data[i] ^= 0xA5
    (tmp_path / "c.h5").write_bytes(bytes(data))
    bad = python(
        """
        import h5py
        with h5py.File("c.h5") as f:
            f["x"][60:, :]  # the second chunk is intact
            f["x"][:10, :]
        """,
        plugin_dir,
        tmp_path,
        ok=False,
    )
    assert bad.returncode == 1 and "OSError" in bad.stderr, bad.stderr[-2000:]
    dump = run(["h5dump", "--enable-error-stack", "-d", "x", "c.h5"], plugin_dir, tmp_path, ok=False)
    assert dump.returncode != 0 and "Baler filter: a stored chunk is unreadable" in dump.stderr, dump.stderr[-3000:]


def test_bad_parameters_are_refused_with_the_reason(tmp_path, plugin_dir):
    for opts, dtype, reason in (
        ((9, 0, 0), "f8", "unknown bound mode 9"),
        ((0, 0, 0), "f8", "bad bound value 0"),
        ((0, 0, 0x3FD00000, 1), "f8", "effort 1 is not supported"),
        ((0, 0, 0x3FD00000), "c8", "Baler filter: datatype class"),
    ):
        bad = python(
            f"""
            import h5py, numpy as np
            with h5py.File("p.h5", "w") as f:
                f.create_dataset("x", data=np.zeros(1000, "{dtype}"), chunks=(500,), compression=305, compression_opts={opts})
            """,
            plugin_dir,
            tmp_path,
            ok=False,
        )
        assert bad.returncode == 1 and reason in bad.stderr, bad.stderr[-3000:]
    # h5repack's own policy: a dataset the filter refuses is copied without it (said with -v).
    python(
        """
        import h5py, numpy as np
        with h5py.File("plain.h5", "w") as f:
            f.create_dataset("x", data=np.zeros(10000), chunks=(5000,))
        """,
        plugin_dir,
        tmp_path,
    )
    repack = run(["h5repack", "-v", "-f", "UD=305,0,3,9,0,0", "plain.h5", "out.h5"], plugin_dir, tmp_path)
    assert "could not create dataset </x>. Applying original settings" in repack.stdout + repack.stderr
    assert "FILTER_ID 305" not in run(["h5dump", "-p", "-H", "out.h5"], plugin_dir, tmp_path).stdout


def test_one_process_with_two_hdf5_libraries(tmp_path, plugin_dir):
    """netCDF4 imported first, then h5py: two bundled HDF5 libraries in one process, one plugin.
    Each callback must use the library that called it (h5py's ids mean nothing to netCDF4's)."""
    python(
        """
        import netCDF4, h5py, numpy as np, baler.hdf5 as bh
        x = np.linspace(0, 1, 100000).reshape(100, 1000).astype("f4")
        with netCDF4.Dataset("first.nc", "w") as nc:  # netCDF4's library runs first
            nc.createDimension("n", 10)
            nc.createVariable("v", "f4", ("n",))[:] = np.arange(10)
        with h5py.File("two.h5", "w") as f:  # set_local and the encoder under h5py's library
            f.create_dataset("x", data=x, chunks=(50, 1000), **bh.h5py_args(abs=1e-4))
        with netCDF4.Dataset("two.h5") as nc:  # the decoder under netCDF4's
            assert np.abs(nc["x"][:] - x).max() <= 1e-4
        with h5py.File("two.h5") as f:
            assert np.abs(f["x"][...] - x).max() <= 1e-4
        """,
        plugin_dir,
        tmp_path,
    )


def test_importing_baler_hdf5_registers_the_filter_with_h5py(tmp_path):
    """No HDF5_PLUGIN_PATH: the filter comes from the Python package itself."""
    env = {k: v for k, v in os.environ.items() if k != "HDF5_PLUGIN_PATH"}
    code = textwrap.dedent(
        """
        import h5py, numpy as np
        x = np.linspace(0, 1, 50000).reshape(50, 1000)
        import baler.hdf5 as bh
        assert h5py.h5z.filter_avail(bh.FILTER_ID)
        with h5py.File("own.h5", "w") as f:
            f.create_dataset("x", data=x, chunks=(25, 1000), **bh.h5py_args(abs=1e-5))
        with h5py.File("own.h5") as f:
            assert f["x"].id.get_create_plist().get_filter(0)[0] == bh.FILTER_ID
            assert np.abs(f["x"][...] - x).max() <= 1e-5
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
