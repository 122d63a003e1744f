"""Distance of translated crops to a paired ground truth: the check of a translation that only the demo
data allow.

The demo generator renders every SYNTHIA-like scene a second time in the BDD-like style
(``synthia/PAIRED/RGB``, cycleaug.data.demo). The held-out crops' manifest gives each crop's source image
and window, so the same window of the paired rendering is what a perfect CG -> real translation of that
crop would look like (up to the photo style's random texture and noise). For each GPU count and saved
epoch this module compares G_A(crop) with it, and compares the untranslated crop with it as the first
baseline: a translation that learned something is closer to the truth than its own input.

Measures, per crop, averaged over the held-out crops:
- L1: mean absolute difference of 8-bit RGB values, divided by 255 (0 = identical, 1 = opposite).
- SSIM: structural similarity (Wang, Bovik, Sheikh & Simoncelli, IEEE TIP 13(4), 2004) with the paper's
  settings: an 11 x 11 Gaussian window of sigma 1.5, K1 = 0.01, K2 = 0.03, population covariances,
  averaged over the RGB channels (scikit-image's ``structural_similarity``).
Each mean has a 95 % percentile bootstrap interval over crops, and the gains over the input (L1 of the
input minus L1 of the translation; SSIM of the translation minus SSIM of the input) are bootstrapped on
the same resamples, paired per crop.

A second baseline asks whether a generator learned more than the two domains' colour statistics: the
colour transfer of Reinhard, Ashikhmin, Gooch & Shirley ("Color Transfer between Images", IEEE Computer
Graphics and Applications 21(5), 34-41, 2001), in CIELAB (D65, 2 degree observer; scikit-image's
``rgb2lab``/``lab2rgb``) instead of their l-alpha-beta space, as most implementations do. Like theirs it
works in a space that separates lightness from two chroma axes, so matching the moments can dull or
brighten colours; per-channel RGB matching cannot desaturate (each channel moves alone) and was a weaker
baseline on the demo data (L1 0.163 / SSIM 0.368 against 0.149 / 0.409 in CIELAB, input 0.178 / 0.368).
Each channel c of a held-out crop's CIELAB image is mapped affinely, ``out = (x - mu_cg) / sd_cg *
sd_real + mu_real``, converted back to sRGB (clipped to the gamut), and rounded to the nearest 8-bit value
(ties to even) as an image is stored; mu and sd are the mean and population standard deviation of channel
c over all pixels of all crops of a folder, pooled (each pixel counts once, whatever its crop's size).
Both statistics come from the CycleGAN's own training sets: ``mu_cg, sd_cg`` from the CG training crops
(``--cg``, data/crops/synthia, the source domain), ``mu_real, sd_real`` from the real-domain crops
(``--real``, data/crops/bdd100k, the target domain). So the baseline sees exactly the data the generator
learns from, and nothing of the held-out crops or the truth: the fairest "colour statistics only"
translation, one fixed colour map per domain pair like the generator's one fixed network. Matching each
crop's own statistics instead (Reinhard's per-image form) was rejected: it uses the held-out crop's own
moments, and it pushes every crop to the real set's average lightness and contrast, erasing per-scene
differences the truth keeps; it was also the weaker of the two on the demo data (L1 0.160, SSIM 0.397).

The table (:data:`COLUMNS`) has a ``method`` column: ``cyclegan`` rows, one per GPU count and epoch, and
one ``colour_transfer`` row, whose ``gpus`` and ``epoch`` are empty. The baseline row has the same
measures and gains over the input as a generator row; every generator row also has its paired per-crop
difference to the colour transfer, bootstrapped on the same resamples, with the gains' sign convention
(positive: the generator is closer to the truth than the colour transfer): ``l1_vs_colour`` = L1 of the
colour transfer minus L1 of the translation, ``ssim_vs_colour`` = SSIM of the translation minus SSIM of
the colour transfer (empty in the baseline's own row).

    cycleaug paired-distance --truth data/raw/synthia/PAIRED/RGB --heldout data/crops/synthia_heldout \
        --cg data/crops/synthia --real data/crops/bdd100k \
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
from cycleaug.fid.features import IMAGE_EXTENSIONS
from cycleaug.fid.table import Run
from cycleaug.labels import relative_name
from cycleaug.yolo.bootstrap import interval, resample_weights

COLUMNS = [
    "method", "gpus", "epoch", "n",
    "l1", "l1_ci_low", "l1_ci_high", "ssim", "ssim_ci_low", "ssim_ci_high",
    "l1_input", "ssim_input",
    "l1_gain", "l1_gain_ci_low", "l1_gain_ci_high", "ssim_gain", "ssim_gain_ci_low", "ssim_gain_ci_high",
    "l1_vs_colour", "l1_vs_colour_ci_low", "l1_vs_colour_ci_high",
    "ssim_vs_colour", "ssim_vs_colour_ci_low", "ssim_vs_colour_ci_high",
]  # fmt: skip
CYCLEGAN, COLOUR_TRANSFER = "cyclegan", "colour_transfer"
METHODS = (CYCLEGAN, COLOUR_TRANSFER)
# Empty in the colour_transfer row: it belongs to no GPU count, and its difference to itself is nothing.
_BASELINE_BLANK = ("gpus", "epoch", *(c for c in COLUMNS if "_vs_colour" in c))
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


def lab_moments(directory: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel (L*, a*, b*) mean and population standard deviation over all pixels of all images of
    ``directory`` (top level, FID's image extensions, so a crop folder's manifest.csv is skipped), pooled:
    each pixel counts once."""
    from skimage.color import rgb2lab  # noqa: PLC0415

    directory = Path(directory)
    if not directory.is_dir():
        raise CycleAugError(f"{directory}: not a directory of crops")
    files = sorted(p for p in directory.iterdir() if p.suffix[1:] in IMAGE_EXTENSIONS and p.is_file())
    if not files:
        raise CycleAugError(f"{directory}: no images; expected the crop step's crops of a domain")
    count, total, squares = 0, np.zeros(3), np.zeros(3)
    for path in files:
        pixels = rgb2lab(_read_rgb(path)).reshape(-1, 3)
        count += len(pixels)
        total += pixels.sum(axis=0)
        squares += (pixels * pixels).sum(axis=0)
    mean = total / count
    return mean, np.sqrt(np.maximum(squares / count - mean * mean, 0.0))


def colour_transfer(
    image: np.ndarray, source: tuple[np.ndarray, np.ndarray], target: tuple[np.ndarray, np.ndarray]
) -> np.ndarray:
    """``image`` (uint8 RGB) in CIELAB with each channel's ``source`` (mean, std) mapped affinely to
    ``target``'s (:func:`lab_moments`), back in sRGB (clipped to the gamut), rounded (ties to even) to
    uint8. A channel constant in the source set (std 0) maps to the target mean."""
    import warnings  # noqa: PLC0415

    from skimage.color import lab2rgb, rgb2lab  # noqa: PLC0415

    (mu_s, sd_s), (mu_t, sd_t) = source, target
    scale = np.divide(sd_t, sd_s, out=np.zeros(3), where=sd_s > 0)
    lab = (rgb2lab(image) - mu_s) * scale + mu_t
    with warnings.catch_warnings():
        # Colours mapped past the gamut's blue end (Z < 0) are clipped to it, which is what we want.
        warnings.filterwarnings("ignore", message="Conversion from CIE-LAB", category=UserWarning)
        rgb = lab2rgb(lab)
    return np.clip(np.rint(rgb * 255.0), 0, 255).astype(np.uint8)


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
    for i, row in enumerate(rows, 2):  # line 1 is the header
        for column in ("crop", "source"):  # names inside their folders, never a path elsewhere
            relative_name(row[column], f"{manifest}: line {i}: {column}")
        try:
            row.update({c: int(row[c]) for c in WINDOW})
        except (TypeError, ValueError):
            raise CycleAugError(
                f"{manifest}: line {i}: crop window {[row[c] for c in WINDOW]}; expected whole pixel numbers"
            ) from None
    if names is not None:
        wanted = set(names)
        absent = sorted(wanted - {row["crop"] for row in rows})
        if absent:
            raise CycleAugError(f"{manifest}: no rows for {absent}; expected every shown input")
        rows = [row for row in rows if row["crop"] in wanted]
    out = {}
    for row in rows:
        window = tuple(row[c] for c in WINDOW)
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


def _measures(row: dict, values: dict[str, np.ndarray], weights: np.ndarray) -> dict:
    """``row`` with each per-crop array of ``values`` as its mean and bootstrap interval."""
    for key, per_crop in values.items():
        mean, lo, hi = _summary(per_crop, weights)
        row |= {key: mean, f"{key}_ci_low": lo, f"{key}_ci_high": hi}
    return row


def paired_table(
    truth_dir: str | Path,
    heldout_dir: str | Path,
    runs: Sequence[Run],
    out: str | Path,
    *,
    real_dir: str | Path,
    cg_dir: str | Path,
    resamples: int = 1000,
    seed: int = 0,
) -> list[dict]:
    """Write ``out`` (CSV, :data:`COLUMNS`): the colour-transfer row (statistics of ``cg_dir`` mapped to
    those of ``real_dir``), then one row per run sorted by (gpus, epoch); returns the rows."""
    if not runs:
        raise CycleAugError("--runs: no runs given; expected at least one GPUS:EPOCH:DIR")
    source, target = lab_moments(cg_dir), lab_moments(real_dir)
    pairs = truth_crops(truth_dir, heldout_dir)
    names = sorted(pairs)
    input_l1 = np.array([l1(*pairs[n]) for n in names])
    input_ssim = np.array([ssim(*pairs[n]) for n in names])
    transferred = {n: colour_transfer(pairs[n][0], source, target) for n in names}
    colour_l1 = np.array([l1(transferred[n], pairs[n][1]) for n in names])
    colour_ssim = np.array([ssim(transferred[n], pairs[n][1]) for n in names])
    weights = resample_weights(len(names), resamples, seed)
    shared = {"n": len(names), "l1_input": float(input_l1.mean()), "ssim_input": float(input_ssim.mean())}
    baseline = _measures(
        {"method": COLOUR_TRANSFER, "gpus": "", "epoch": "", **shared},
        {"l1": colour_l1, "ssim": colour_ssim, "l1_gain": input_l1 - colour_l1, "ssim_gain": colour_ssim - input_ssim},
        weights,
    )
    rows = [baseline | dict.fromkeys(_BASELINE_BLANK, "")]
    print(
        f"paired-distance: colour transfer (CIELAB mean {np.round(source[0], 1)} sd {np.round(source[1], 1)} -> "
        f"mean {np.round(target[0], 1)} sd {np.round(target[1], 1)}): L1 {baseline['l1']:.4f}, "
        f"SSIM {baseline['ssim']:.4f}",
        file=sys.stderr,
    )
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
            "l1": d_l1,
            "ssim": d_ssim,
            "l1_gain": input_l1 - d_l1,
            "ssim_gain": d_ssim - input_ssim,
            "l1_vs_colour": colour_l1 - d_l1,
            "ssim_vs_colour": d_ssim - colour_ssim,
        }
        row = _measures({"method": CYCLEGAN, "gpus": run.gpus, "epoch": run.epoch, **shared}, values, weights)
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
    """Rows of a paired-distance CSV with numbers parsed (the colour_transfer row's blank columns as
    None); a clear error for a bad file, or one without exactly one colour_transfer row and a cyclegan row."""

    def parse(r: dict) -> dict:
        method = (r["method"] or "").strip()
        if method not in METHODS:
            raise ValueError(f"method {method!r}, expected one of {', '.join(METHODS)}")
        out = {"method": method}
        for c in COLUMNS[1:]:
            value = (r[c] or "").strip()
            if method == COLOUR_TRANSFER and c in _BASELINE_BLANK and not value:
                out[c] = None
            else:
                out[c] = int(value) if c in ("gpus", "epoch", "n") else float(value)
        return out

    rows = read_table(
        path, COLUMNS, parse, "paired-distance table", "numbers; the output of `cycleaug paired-distance`"
    )
    baselines = sum(r["method"] == COLOUR_TRANSFER for r in rows)
    if baselines != 1 or baselines == len(rows):
        raise CycleAugError(
            f"{path}: {baselines} {COLOUR_TRANSFER} row(s) and {len(rows) - baselines} {CYCLEGAN} row(s); "
            f"expected one {COLOUR_TRANSFER} row and at least one {CYCLEGAN} row (`cycleaug paired-distance`)"
        )
    return rows


def by_gpus(rows: list[dict]) -> dict[int, list[dict]]:
    """GPU count -> its generators' rows in epoch order (first and last epoch: ``[0]`` and ``[-1]``); the
    colour-transfer baseline is left out (:func:`colour_baseline`)."""
    out: dict[int, list[dict]] = {}
    for r in sorted((r for r in rows if r["method"] == CYCLEGAN), key=lambda r: (r["gpus"], r["epoch"])):
        out.setdefault(r["gpus"], []).append(r)
    return out


def colour_baseline(rows: list[dict]) -> dict:
    """The colour-transfer row (read_paired checks that there is exactly one)."""
    return next(r for r in rows if r["method"] == COLOUR_TRANSFER)
