"""Distance of translated crops to a paired ground truth: the check of a translation that only the demo
data allow.

The demo generator renders every SYNTHIA-like scene a second time in the BDD-like style
(``synthia/PAIRED/RGB``, cycleaug.data.demo). The held-out crops' manifest gives each crop's source image
and window, so the same window of the paired rendering is what a perfect CG -> real translation of that
crop would look like (up to the photo style's random texture and noise). For each GPU count and saved
epoch this module compares G_A(crop) with it, and compares the untranslated crop with it as the
baseline: a translation that learned something is closer to the truth than its own input.

Measures, per crop, averaged over the held-out crops:
- L1: mean absolute difference of 8-bit RGB values, divided by 255 (0 = identical, 1 = opposite).
- SSIM: structural similarity (Wang, Bovik, Sheikh & Simoncelli, IEEE TIP 13(4), 2004) with the paper's
  settings: an 11 x 11 Gaussian window of sigma 1.5, K1 = 0.01, K2 = 0.03, population covariances,
  averaged over the RGB channels (scikit-image's ``structural_similarity``).
Each mean has a 95 % percentile bootstrap interval over crops, and the gains over the input (L1 of the
input minus L1 of the translation; SSIM of the translation minus SSIM of the input) are bootstrapped on
the same resamples, paired per crop.

    cycleaug paired-distance --truth data/raw/synthia/PAIRED/RGB --heldout data/crops/synthia_heldout \
        --runs 1:2:results/samples/1gpu/epoch2 ... --out results/fid/paired.csv
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from cycleaug.atomic import atomic_path
from cycleaug.csvtable import read_table
from cycleaug.errors import CycleAugError
from cycleaug.fid import Run
from cycleaug.yolo.bootstrap import interval, resample_weights

COLUMNS = [
    "gpus", "epoch", "n",
    "l1", "l1_ci_low", "l1_ci_high", "ssim", "ssim_ci_low", "ssim_ci_high",
    "l1_input", "ssim_input",
    "l1_gain", "l1_gain_ci_low", "l1_gain_ci_high", "ssim_gain", "ssim_gain_ci_low", "ssim_gain_ci_high",
]  # fmt: skip
WINDOW = ("crop_x0", "crop_y0", "crop_x1", "crop_y1")


def _read_rgb(path: Path) -> np.ndarray:
    from PIL import Image  # noqa: PLC0415

    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    except FileNotFoundError:
        raise CycleAugError(f"{path}: image not found") from None
    except Exception as exc:  # noqa: BLE001 -- any decoder failure is an unreadable image
        raise CycleAugError(f"{path}: unreadable image ({type(exc).__name__}: {exc})") from None


def l1(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of two uint8 images, as a fraction of 255."""
    return float(np.abs(a.astype(np.float64) - b.astype(np.float64)).mean() / 255.0)


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM of two uint8 RGB images with Wang et al.'s settings, mean over channels."""
    from skimage.metrics import structural_similarity  # noqa: PLC0415

    return float(
        structural_similarity(
            a, b, channel_axis=2, data_range=255, gaussian_weights=True, sigma=1.5, use_sample_covariance=False
        )
    )


def truth_crops(
    truth_dir: str | Path, heldout_dir: str | Path, names: Sequence[str] | None = None
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Held-out crop name -> (the crop, the same window of its paired rendering), for every crop of the
    manifest or only ``names`` (each must be in it)."""
    truth_dir, heldout_dir = Path(truth_dir), Path(heldout_dir)
    manifest = heldout_dir / "manifest.csv"
    try:
        with open(manifest, newline="") as f:
            rows = list(csv.DictReader(f))
    except FileNotFoundError:
        raise CycleAugError(f"{manifest}: not found; expected the crop step's manifest of the held-out crops") from None
    if not rows:
        raise CycleAugError(f"{manifest}: no crops")
    missing = [c for c in ("crop", "source", *WINDOW) if c not in rows[0]]
    if missing:
        raise CycleAugError(f"{manifest}: missing columns {missing}")
    if names is not None:
        wanted = set(names)
        absent = sorted(wanted - {row["crop"] for row in rows})
        if absent:
            raise CycleAugError(f"{manifest}: no rows for {absent}; expected every shown input")
        rows = [row for row in rows if row["crop"] in wanted]
    out = {}
    for row in rows:
        window = tuple(int(row[c]) for c in WINDOW)
        crop = _read_rgb(heldout_dir / row["crop"])
        truth = _read_rgb(truth_dir / row["source"])
        x0, y0, x1, y1 = window
        if x1 > truth.shape[1] or y1 > truth.shape[0]:
            raise CycleAugError(
                f"{truth_dir / row['source']}: {truth.shape[1]}x{truth.shape[0]} image, but the crop window "
                f"{window} of {row['crop']} needs a larger one; expected the paired rendering of the same scene"
            )
        out[row["crop"]] = (crop, truth[y0:y1, x0:x1])
    return out


def _summary(values: np.ndarray, weights: np.ndarray) -> tuple[float, float, float]:
    """Mean and its bootstrap interval (``weights``: resample x crop draw counts)."""
    return float(values.mean()), *interval(weights @ values / values.size)


def paired_table(
    truth_dir: str | Path,
    heldout_dir: str | Path,
    runs: Sequence[Run],
    out: str | Path,
    resamples: int = 1000,
    seed: int = 0,
) -> list[dict]:
    """Write ``out`` (CSV, :data:`COLUMNS`), one row per run sorted by (gpus, epoch); returns the rows."""
    if not runs:
        raise CycleAugError("--runs: no runs given; expected at least one GPUS:EPOCH:DIR")
    pairs = truth_crops(truth_dir, heldout_dir)
    names = sorted(pairs)
    input_l1 = np.array([l1(*pairs[n]) for n in names])
    input_ssim = np.array([ssim(*pairs[n]) for n in names])
    weights = resample_weights(len(names), resamples, seed)
    rows = []
    for run in sorted(runs, key=lambda r: (r.gpus, r.epoch)):
        d_l1, d_ssim = [], []
        for name in names:
            crop, truth = pairs[name]
            fake = _read_rgb(Path(run.directory) / name)
            if fake.shape != truth.shape:
                raise CycleAugError(
                    f"{Path(run.directory) / name}: {fake.shape[1]}x{fake.shape[0]}, expected "
                    f"{truth.shape[1]}x{truth.shape[0]} like its held-out crop"
                )
            d_l1.append(l1(fake, truth))
            d_ssim.append(ssim(fake, truth))
        d_l1, d_ssim = np.array(d_l1), np.array(d_ssim)
        values = {
            "l1": _summary(d_l1, weights),
            "ssim": _summary(d_ssim, weights),
            "l1_gain": _summary(input_l1 - d_l1, weights),
            "ssim_gain": _summary(d_ssim - input_ssim, weights),
        }
        row = {"gpus": run.gpus, "epoch": run.epoch, "n": len(names)}
        for key, (mean, lo, hi) in values.items():
            row |= {key: mean, f"{key}_ci_low": lo, f"{key}_ci_high": hi}
        row |= {"l1_input": float(input_l1.mean()), "ssim_input": float(input_ssim.mean())}
        rows.append(row)
        print(
            f"paired-distance: {run.gpus} GPUs, epoch {run.epoch}: L1 {row['l1']:.4f} "
            f"(input {row['l1_input']:.4f}), SSIM {row['ssim']:.4f} (input {row['ssim_input']:.4f}) "
            f"on {len(names)} crops",
            file=sys.stderr,
        )
    with atomic_path(out) as tmp:
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=COLUMNS)
            writer.writeheader()
            writer.writerows({k: (repr(v) if isinstance(v, float) else v) for k, v in r.items()} for r in rows)
    return rows


def read_paired(path: str | Path) -> list[dict]:
    """Rows of a paired-distance CSV with numbers parsed; a clear error for a bad file."""

    def parse(r: dict) -> dict:
        return {c: (int(r[c]) if c in ("gpus", "epoch", "n") else float(r[c])) for c in COLUMNS}

    return read_table(
        path, COLUMNS, parse, "paired-distance table", "numbers; the output of `cycleaug paired-distance`"
    )


def by_gpus(rows: list[dict]) -> dict[int, list[dict]]:
    """GPU count -> its rows in epoch order (first and last epoch: ``[0]`` and ``[-1]``)."""
    out: dict[int, list[dict]] = {}
    for r in sorted(rows, key=lambda r: (r["gpus"], r["epoch"])):
        out.setdefault(r["gpus"], []).append(r)
    return out
