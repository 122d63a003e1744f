"""Shared fixtures: the repository root, the venv's executables, and a quiet single-threaded torch."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

# Two cores are shared by the test processes and the subprocesses they start.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
# Snakemake rules call the `cycleaug` console script of this venv.
os.environ["PATH"] = f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


def run_cli(
    *args: str, cwd: Path | None = None, check: bool = True, env: dict | None = None, timeout: float = 600
) -> subprocess.CompletedProcess:
    """Run the installed `cycleaug` console script as a user would."""
    proc = subprocess.run(
        [str(BIN / "cycleaug"), *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"cycleaug {' '.join(map(str, args))} failed ({proc.returncode}):\n{proc.stderr}")
    return proc


def run_snakemake(
    *args: str, cwd: Path = ROOT, check: bool = True, env: dict | None = None, timeout: float = 1800
) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [str(BIN / "snakemake"), *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"snakemake {' '.join(map(str, args))} failed ({proc.returncode}):\n"
            f"{proc.stdout[-4000:]}\n{proc.stderr[-8000:]}"
        )
    return proc


def plain_iou(a, b) -> float:
    """IoU of two (x1, y1, x2, y2) boxes by the definition, in plain Python: the independent
    re-computation the NMS and evaluation tests compare against."""
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)
