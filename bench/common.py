"""Shared pieces of the benchmarks in bench/: the machine description every result carries, timing,
a plain-text table, and the JSON writer (bench/results/<name>.json, written atomically).

Every script measures its baseline in the same run (same machine, same load), interleaving the variants
(cycleaug.timing.interleaved: A B A B ..., at least 5 timed calls each in a full run), and reports the
ratio with min/median/max per variant;
absolute numbers from different runs or machines are not comparable (this repository's CPU machine
is shared by other jobs: rerun a benchmark before trusting a small difference).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
if str(ROOT / "workflow") not in sys.path:  # run from a checkout without `pip install -e .` (the GPU check)
    sys.path.insert(0, str(ROOT / "workflow"))

from cycleaug.timing import cpu_model, interleaved, summary  # noqa: E402  (re-exported for the benchmarks)

__all__ = ["cpu_model", "interleaved", "summary"]


def machine(device: str = "cpu") -> dict:
    """Where a number was measured: CPU model, cores, torch version, device (GPU name on CUDA)."""
    import torch

    info = {
        "cpu_model": cpu_model(),
        "cpu_cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "device": device,
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }
    if device.startswith("cuda") and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name()
        info["cuda"] = torch.version.cuda
        info["cudnn"] = torch.backends.cudnn.version()
    return info


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test of the script, not a measurement")
    p.add_argument("--out-dir", default=str(RESULTS), help="where <name>.json goes (default bench/results)")
    return p


def timeit(fn: Callable[[], object], warmup: int, iters: int, sync: Callable[[], None] | None = None) -> list[float]:
    """Seconds of each of ``iters`` calls of one ``fn`` after ``warmup`` untimed ones (a single variant;
    compare variants with ``interleaved``)."""
    return interleaved({"fn": fn}, warmup, iters, sync)["fn"]


def ratio_spread(ratios: Sequence[float]) -> dict:
    """A ratio measured in several whole runs: its median and its spread (min, max)."""
    return {"median": statistics.median(ratios), "min": min(ratios), "max": max(ratios), "runs": list(ratios)}


def table(rows: Sequence[dict], columns: Sequence[str], title: str | None = None) -> str:
    def fmt(v) -> str:
        if isinstance(v, float):
            return f"{v:.4g}"
        return "" if v is None else str(v)

    cells = [[fmt(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) if cells else len(c) for i, c in enumerate(columns)]
    lines = [] if title is None else [title]
    lines.append("  ".join(c.ljust(w) for c, w in zip(columns, widths)))
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)) for row in cells]
    text = "\n".join(lines)
    print(text, flush=True)
    return text


def write(name: str, payload: dict, out_dir: str | os.PathLike = RESULTS, device: str = "cpu") -> Path:
    """bench/results/<name>.json with the machine description and the command line."""
    from cycleaug.atomic import atomic_path

    out = Path(out_dir) / f"{name}.json"
    doc = {
        "benchmark": name,
        "command": [Path(sys.executable).name, *sys.argv],
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": machine(device),
        **payload,
    }
    with atomic_path(out) as tmp:
        tmp.write_text(json.dumps(doc, indent=2, default=str) + "\n")
    print(f"wrote {out}", flush=True)
    return out


def synthetic_pngs(folder: str | os.PathLike, n: int, size: int, seed: int = 0, prefix: str = "") -> list[Path]:
    """``n`` PNGs of ``size`` x ``size``: smooth colour fields plus noise (PNG decoding then costs about
    what a photo crop does; pure noise would be slower, flat colour faster)."""
    import numpy as np
    from PIL import Image

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        low = rng.integers(0, 256, size=(8, 8, 3), dtype=np.uint8)
        im = Image.fromarray(low).resize((size, size), Image.Resampling.BICUBIC)
        arr = np.clip(np.asarray(im, dtype=np.int16) + rng.integers(-12, 13, size=(size, size, 3)), 0, 255)
        path = folder / f"{prefix}{i:05d}.png"
        Image.fromarray(arr.astype(np.uint8)).save(path)
        paths.append(path)
    return paths
