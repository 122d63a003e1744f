"""The demo's paired-truth check (cycleaug.paired): L1 and SSIM against independent computations, the
table's rows for translations that are perfect or do nothing, and clear errors."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from conftest import run_cli
from cycleaug.errors import CycleAugError
from cycleaug.fid import Run
from cycleaug.paired import l1, paired_table, read_paired, ssim
from PIL import Image
from scipy import ndimage


def _ssim_by_hand(a: np.ndarray, b: np.ndarray) -> float:
    """Wang et al. 2004, eq. (13) with a Gaussian window (sigma 1.5, 11 x 11: truncate 3.5), K1 0.01,
    K2 0.03, L 255, population moments; the mean over the pixels whose window lies inside the image,
    then over channels."""
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    out = []
    for ch in range(a.shape[2]):
        x, y = a[:, :, ch].astype(np.float64), b[:, :, ch].astype(np.float64)
        f = lambda z: ndimage.gaussian_filter(z, 1.5, truncate=3.5, mode="reflect")  # noqa: E731
        mx, my = f(x), f(y)
        vx, vy, cxy = f(x * x) - mx * mx, f(y * y) - my * my, f(x * y) - mx * my
        s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
        out.append(s[5:-5, 5:-5].mean())
    return float(np.mean(out))


def test_ssim_and_l1_match_the_formulas():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-40, 41, a.shape), 0, 255).astype(np.uint8)
    smooth = ndimage.gaussian_filter(a.astype(float), (3, 3, 0)).astype(np.uint8)
    for x, y in ((a, b), (a, smooth), (smooth, b)):
        assert ssim(x, y) == pytest.approx(_ssim_by_hand(x, y), abs=1e-9)
        assert l1(x, y) == pytest.approx(np.mean([abs(int(p) - int(q)) for p, q in zip(x.ravel(), y.ravel())]) / 255)
    assert ssim(a, a) == pytest.approx(1.0) and l1(a, a) == 0.0
    assert l1(np.zeros_like(a), np.full_like(a, 255)) == 1.0


@pytest.fixture
def pairs(tmp_path):
    """Two source images, their paired truths, four held-out crops (the crop step's manifest) and
    translations: perfect (the truth windows), none (the crops), and half-way."""
    rng = np.random.default_rng(1)
    src, truth, held = tmp_path / "rgb", tmp_path / "truth", tmp_path / "held"
    for d in (src, truth, held):
        d.mkdir()
    rows, windows = [], {}
    for i in range(2):
        cg = rng.integers(0, 256, (30, 50, 3), dtype=np.uint8)
        photo = (0.5 * cg + 40 + rng.normal(0, 5, cg.shape)).clip(0, 255).astype(np.uint8)
        Image.fromarray(cg).save(src / f"{i:07d}.png")
        Image.fromarray(photo).save(truth / f"{i:07d}.png")
        for j, (x0, y0) in enumerate(((0, 0), (30, 10))):
            name = f"{i}{j}.png"
            window = (x0, y0, x0 + 20, y0 + 20)
            Image.fromarray(cg[y0 : y0 + 20, x0 : x0 + 20]).save(held / name)
            windows[name] = (cg[y0 : y0 + 20, x0 : x0 + 20], photo[y0 : y0 + 20, x0 : x0 + 20])
            rows.append(
                {
                    "crop": name,
                    "source": f"{i:07d}.png",
                    "crop_x0": window[0],
                    "crop_y0": window[1],
                    "crop_x1": window[2],
                    "crop_y1": window[3],
                }
            )
    with open(held / "manifest.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    runs = {}
    for kind in ("perfect", "none", "half"):
        d = tmp_path / kind
        d.mkdir()
        for name, (crop, photo) in windows.items():
            img = {"perfect": photo, "none": crop, "half": ((crop.astype(int) + photo) // 2).astype(np.uint8)}[kind]
            Image.fromarray(img).save(d / name)
        runs[kind] = d
    return truth, held, runs, windows


def test_table_rows_for_perfect_none_and_half_translations(tmp_path, pairs):
    truth, held, runs, windows = pairs
    out = tmp_path / "paired.csv"
    proc = run_cli(
        "paired-distance",
        "--truth",
        truth,
        "--heldout",
        held,
        "--out",
        out,
        "--runs",
        f"1:2:{runs['perfect']}",
        f"2:2:{runs['none']}",
        f"1:1:{runs['half']}",
    )
    assert "SSIM" in proc.stderr
    rows = {(r["gpus"], r["epoch"]): r for r in read_paired(out)}
    input_l1 = np.mean([l1(c, p) for c, p in windows.values()])
    input_ssim = np.mean([ssim(c, p) for c, p in windows.values()])
    perfect, none, half = rows[1, 2], rows[2, 2], rows[1, 1]
    assert [(r["gpus"], r["epoch"]) for r in read_paired(out)] == [(1, 1), (1, 2), (2, 2)]
    assert perfect["l1"] == 0.0 and perfect["ssim"] == pytest.approx(1.0) and perfect["n"] == 4
    assert perfect["l1_gain"] == pytest.approx(input_l1) and perfect["ssim_gain"] == pytest.approx(1 - input_ssim)
    assert none["l1"] == pytest.approx(input_l1) and none["l1_gain"] == pytest.approx(0.0, abs=1e-12)
    assert none["l1_gain_ci_low"] == pytest.approx(0.0, abs=1e-12) == none["l1_gain_ci_high"]
    half_l1 = np.mean([l1(((c.astype(int) + p) // 2).astype(np.uint8), p) for c, p in windows.values()])
    assert half["l1"] == pytest.approx(half_l1) and 0 < half["l1_gain"] < input_l1
    for r in rows.values():
        assert r["l1_input"] == pytest.approx(input_l1) and r["ssim_input"] == pytest.approx(input_ssim)
        for key in ("l1", "ssim", "l1_gain", "ssim_gain"):
            assert r[f"{key}_ci_low"] <= r[key] + 1e-12 and r[key] <= r[f"{key}_ci_high"] + 1e-12


def test_errors_name_the_file(tmp_path, pairs):
    truth, held, runs, windows = pairs
    name = sorted(windows)[0]
    (runs["half"] / name).unlink()
    with pytest.raises(CycleAugError, match=f"{name}: image not found"):
        paired_table(truth, held, [Run(1, 1, str(runs["half"]))], tmp_path / "x.csv")
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(runs["half"] / name)
    with pytest.raises(CycleAugError, match="16x16, expected 20x20"):
        paired_table(truth, held, [Run(1, 1, str(runs["half"]))], tmp_path / "x.csv")
    assert not (tmp_path / "x.csv").exists()
    Image.fromarray(np.zeros((10, 10, 3), np.uint8)).save(truth / "0000001.png")
    with pytest.raises(CycleAugError, match="needs a larger one"):
        paired_table(truth, held, [Run(1, 2, str(runs["perfect"]))], tmp_path / "x.csv")
    (held / "manifest.csv").unlink()
    with pytest.raises(CycleAugError, match="manifest.csv: not found"):
        paired_table(truth, held, [Run(1, 2, str(runs["perfect"]))], tmp_path / "x.csv")


def test_reading_a_bad_table_names_file_line_and_column(tmp_path):
    from cycleaug.paired import COLUMNS

    path = tmp_path / "paired.csv"
    with pytest.raises(CycleAugError, match="paired-distance table not found"):
        read_paired(path)
    path.write_text(",".join(COLUMNS[:-1]) + "\n")
    with pytest.raises(CycleAugError, match=r"missing columns \['ssim_gain_ci_high'\]"):
        read_paired(path)
    path.write_text(",".join(COLUMNS) + "\n" + ",".join(["1", "2", "3"] + ["0.5"] * (len(COLUMNS) - 3)) + "\n")
    assert read_paired(path)[0]["n"] == 3
    path.write_text(",".join(COLUMNS) + "\n" + ",".join(["1", "x", "3"] + ["0.5"] * (len(COLUMNS) - 3)) + "\n")
    with pytest.raises(CycleAugError, match=r"paired.csv:2: bad value .*expected numbers"):
        read_paired(path)
    path.write_text(",".join(COLUMNS) + "\n")
    with pytest.raises(CycleAugError, match="no rows"):
        read_paired(path)
