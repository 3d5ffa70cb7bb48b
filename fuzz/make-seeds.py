#!/usr/bin/env python3
"""Writes the seed corpus under fuzz/corpus/<target>/ (small files; the whole corpus stays < 2 MB).

Archives: the golden files, plus fresh ones of the current format version (fuzz/seeds/, a small
crate over the codec's encoder).
Models: the model sections of the golden archives, as raw payloads and as .bmodel files.
npy / npz / csv: small hand-made files covering every dtype, byte order and memory order.
ROOT: uproot's HZZ sample from shared/data (the one small ROOT file we have).
Run from anywhere: python3 fuzz/make-seeds.py
"""
import os, struct, subprocess, sys, zipfile, zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "fuzz" / "corpus"
DATA = Path(os.environ.get("BALER_DATA", ROOT.parent / "shared" / "data"))


def out(target, name, data):
    d = CORPUS / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data)


def sections(b):
    """(kind, payload) of a container, End excluded."""
    pos, res = 12, []
    while pos + 16 <= len(b):
        kind, n = b[pos], struct.unpack_from("<Q", b, pos + 4)[0]
        if kind == 255:
            break
        res.append((kind, b[pos + 16 : pos + 16 + n]))
        pos += 16 + n
    return res


def container(magic, secs, version=3):
    b = bytearray(magic + struct.pack("<HH", version, 0))
    for kind, p in secs + [(255, b"")]:
        h = bytes([kind, 0, 0, 0]) + struct.pack("<Q", len(p))
        b += h + struct.pack("<I", zlib.crc32(h + p)) + p
    return bytes(b)


def npy(descr, shape, payload, fortran=False, version=1):
    shp = "(" + "".join(f"{d}," if len(shape) == 1 else f"{d}, " for d in shape).rstrip(", ") + (",)" if len(shape) == 1 else ")")
    h = f"{{'descr': '{descr}', 'fortran_order': {fortran}, 'shape': {shp}, }}"
    lenfmt, pre = ("<H", 10) if version == 1 else ("<I", 12)
    h += " " * (-(pre + len(h) + 1) % 64) + "\n"
    return b"\x93NUMPY" + bytes([version, 0]) + struct.pack(lenfmt, len(h)) + h.encode() + payload


def archives():
    # Golden archives of every format version, and the crafted hostile ones.
    for f in sorted((ROOT / "tests" / "golden").glob("*.baler")) + sorted((ROOT / "tests" / "hostile").glob("*.baler")):
        out("archive", f.name, f.read_bytes())
    # Fresh archives of the current format version, written by the codec's encoder (fuzz/seeds/).
    # They are named v<version>_*: those of older versions stay, and must keep decoding.
    manifest = ROOT / "fuzz" / "seeds" / "Cargo.toml"
    subprocess.run(["cargo", "run", "--quiet", "--release", "--manifest-path", str(manifest), "--",
                    str(CORPUS / "archive")], check=True)


def models():
    for f in sorted((ROOT / "tests" / "golden").glob("*.baler")):
        b = f.read_bytes()
        for kind, p in sections(b):
            if kind == 2:
                stem = f.stem.split("_rel")[0]
                out("model", f"{stem}.payload", p)
                out("model", f"{stem}.bmodel", container(b"BALERMOD", [(2, p), (6, b"")]))


def npys():
    f = [0.0, 1.5, -2.25, float("nan"), float("inf"), 3e38, -0.0, 1e-40, 7.0, 8.0, 9.0, 10.0]
    out("npy", "f32_3x4.npy", npy("<f4", (3, 4), struct.pack("<12f", *f)))
    out("npy", "f64_be_fortran.npy", npy(">f8", (4, 3), struct.pack(">12d", *f), fortran=True))
    out("npy", "f64_3d_v2.npy", npy("<f8", (2, 2, 3), struct.pack("<12d", *f), version=2))
    out("npy", "i8.npy", npy("|i1", (6,), bytes([0, 1, 127, 128, 255, 3])))
    out("npy", "u8.npy", npy("|u1", (2, 3), bytes([0, 1, 127, 128, 255, 3])))
    out("npy", "i16_be.npy", npy(">i2", (4,), struct.pack(">4h", -32768, 0, 1, 32767)))
    out("npy", "u16.npy", npy("<u2", (2, 2), struct.pack("<4H", 0, 1, 65535, 9)))
    out("npy", "i32.npy", npy("<i4", (2, 2), struct.pack("<4i", -1, 2, 2**31 - 1, -(2**31))))
    out("npy", "u32_fortran.npy", npy("<u4", (2, 2), struct.pack("<4I", 0, 1, 2**32 - 1, 5), fortran=True))
    out("npy", "i64.npy", npy("<i8", (3,), struct.pack("<3q", -(2**63), 0, 2**63 - 1)))
    out("npy", "u64_be.npy", npy(">u8", (3,), struct.pack(">3Q", 0, 2**64 - 1, 2**53 + 1)))
    out("npy", "bool.npy", npy("|b1", (4,), bytes([0, 1, 1, 0])))
    out("npy", "empty.npy", npy("<f8", (0, 3), b""))
    out("npy", "scalar.npy", npy("<f8", (), struct.pack("<d", 4.5)).replace(b"(,)", b"()"))
    hzz = (DATA / "hzz.npy").read_bytes()
    hl = struct.unpack_from("<H", hzz, 8)[0] + 10
    header = hzz[:hl].decode("latin1")
    ncols = int(header.split("(")[1].split(")")[0].split(",")[1])
    rows = 40  # hzz.npy is float64: cut it to 40 rows
    cut = npy("<f8", (rows, ncols), hzz[hl : hl + rows * ncols * 8])
    out("npy", "hzz_40rows.npy", cut)


def npzs():
    data = npy("<f8", (3, 2), struct.pack("<6d", 1, 2, 3, 4, 5, float("nan")))
    names = npy("<U3", (2,), "pt\0eta".encode("utf-32-le"))
    nonames = npy("<f8", (0,), b"")
    for name, members, method in [
        ("table_stored.npz", {"data": data, "names": names}, zipfile.ZIP_STORED),
        ("table_deflated.npz", {"data": data, "names": names}, zipfile.ZIP_DEFLATED),
        ("field_nonames.npz", {"data": npy("<f4", (2, 2, 2), struct.pack("<8f", *range(8))), "names": nonames},
         zipfile.ZIP_DEFLATED),
        ("single_int.npz", {"x": npy("<i4", (4,), struct.pack("<4i", 1, -2, 3, -4))}, zipfile.ZIP_STORED),
    ]:
        p = CORPUS / "npz" / name
        p.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(p, "w", method) as z:
            for k, v in members.items():
                # A fixed timestamp: the seeds do not change from one run to the next.
                z.writestr(zipfile.ZipInfo(k + ".npy", date_time=(1980, 1, 1, 0, 0, 0)), v, compress_type=method)


def csvs():
    lines = (DATA / "hzz.csv").read_text().splitlines()
    out("csv", "hzz_20rows.csv", ("\n".join(lines[:21]) + "\n").encode())
    out("csv", "mixed.csv", b"a,b,c\n1,2.5,nan\n-3,inf,-inf\n4,1e300,-0\n")
    out("csv", "ints.csv", b"x, y\n9223372036854775807,-9223372036854775808\n0,1\n")
    out("csv", "quoted.csv", b'"na,me","b"\n"1",2\n3,"4"\n')
    out("csv", "ragged.csv", b"a,b\n1\n2,3,4\n")
    out("csv", "header_only.csv", b"only\n")


def roots():
    f = DATA / "uproot-HZZ.root"
    if f.exists():
        out("root", f.name, f.read_bytes())


if __name__ == "__main__":
    archives(); models(); npys(); npzs(); csvs(); roots()
    total = sum(p.stat().st_size for p in CORPUS.rglob("*") if p.is_file())
    print(f"corpus: {total / 1e6:.2f} MB in {CORPUS}")
