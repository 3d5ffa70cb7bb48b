"""Shared fixtures: the CLI binary the package must agree with, and the repository's data."""

import os
import pathlib
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def built(name: str, override: str) -> pathlib.Path:
    """`name` as scripts/test.sh builds it (in $CARGO_TARGET_DIR/release); the environment
    variable `override` names another."""
    if override in os.environ:
        return pathlib.Path(os.environ[override])
    target = os.environ.get("CARGO_TARGET_DIR", str(pathlib.Path.home() / ".cache/baler-target"))
    return pathlib.Path(target) / "release" / name


def cli_path() -> pathlib.Path:
    """`baler-train` (BALER_TRAIN overrides)."""
    return built("baler-train", "BALER_TRAIN")


@pytest.fixture(scope="session")
def cli():
    path = cli_path()
    assert path.is_file(), f"{path} is missing: build it with cargo build --release -p baler-train"

    def run(*args: str) -> str:
        done = subprocess.run([str(path), *args], capture_output=True, text=True)
        assert done.returncode == 0, f"baler-train {' '.join(args)} failed: {done.stderr}"
        return done.stdout

    return run


@pytest.fixture(scope="session")
def shared_data() -> pathlib.Path:
    path = ROOT.parent / "shared" / "data"
    assert path.is_dir(), f"{path} is missing (the repository's shared data)"
    return path
