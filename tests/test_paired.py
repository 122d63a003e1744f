"""The demo's paired-truth check (cycleaug.paired): L1 and SSIM against independent computations, the
colour-transfer baseline against a hand computation, the table's rows for translations that are perfect,
do nothing or are the colour transfer, and clear errors."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from conftest import run_cli
from cycleaug.errors import CycleAugError
from cycleaug.fid.table import Run
from cycleaug.paired import colour_transfer, l1, lab_moments, paired_table, read_paired, ssim
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


def _save(path, pixels) -> None:
    Image.fromarray(np.array(pixels, np.uint8)).save(path)


# CIELAB by hand (CIE 15 with sRGB primaries, D65 white of the 2 degree observer), for the colour transfer.
_WHITE = np.array([0.95047, 1.0, 1.08883])
_XYZ_FROM_RGB = np.array(
    [[0.412453, 0.357580, 0.180423], [0.212671, 0.715160, 0.072169], [0.019334, 0.119193, 0.950227]]
)


def _lab_by_hand(rgb8: np.ndarray) -> np.ndarray:
    c = np.asarray(rgb8, float) / 255
    linear = np.where(c > 0.04045, ((c + 0.055) / 1.055) ** 2.4, c / 12.92)
    t = linear @ _XYZ_FROM_RGB.T / _WHITE
    f = np.where(t > 0.008856, np.cbrt(t), 7.787 * t + 16 / 116)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], axis=-1)


def _rgb_by_hand(lab: np.ndarray) -> np.ndarray:
    """CIELAB -> sRGB in 0..255 before rounding; a negative z (past the gamut's blue end) clipped to 0."""
    fy = (lab[..., 0] + 16) / 116
    f = np.stack([fy + lab[..., 1] / 500, fy, np.maximum(fy - lab[..., 2] / 200, 0)], axis=-1)
    linear = (np.where(f > 0.2068966, f**3, (f - 16 / 116) / 7.787) * _WHITE) @ np.linalg.inv(_XYZ_FROM_RGB).T
    c = np.where(linear > 0.0031308, 1.055 * np.abs(linear) ** (1 / 2.4) - 0.055, 12.92 * linear)
    return np.clip(c, 0, 1) * 255


def _transfer_by_hand(crop, cg_pixels, real_pixels) -> np.ndarray:
    """Reinhard et al.'s moment matching in CIELAB with moments pooled over the given pixel lists."""
    src, tgt = _lab_by_hand(np.concatenate(cg_pixels)), _lab_by_hand(np.concatenate(real_pixels))
    return _rgb_by_hand((_lab_by_hand(crop) - src.mean(0)) / src.std(0) * tgt.std(0) + tgt.mean(0))


def test_colour_transfer_matches_a_hand_computation(tmp_path):
    """Pooled CIELAB moments of two crop folders (each pixel once, a manifest ignored) and the affine map
    between them, back in sRGB, clipped and rounded, on a 1 x 5 crop, against the formulas by hand."""
    # White and black (a*, b* of white within 0.005 of 0: the sRGB matrix's rows sum to D65 in 4 digits).
    np.testing.assert_allclose(_lab_by_hand([[255, 255, 255], [0, 0, 0]]), [[100, 0, 0], [0, 0, 0]], atol=0.01)
    cg, real = tmp_path / "cg", tmp_path / "real"
    cg.mkdir(), real.mkdir()
    # CG training crops of different sizes (pooling over pixels differs from averaging per-crop moments).
    a = [(10, 120, 40), (200, 30, 30), (90, 90, 220)]
    b = [(250, 240, 10)]
    _save(cg / "a.png", [a])
    _save(cg / "b.png", [b])
    (cg / "manifest.csv").write_text("crop,source\n")
    # Real crops: bright and dull, so the map raises lightness and shrinks chroma (some values clip at 255).
    c = [(200, 205, 210), (255, 250, 235)]
    d = [(150, 160, 150)]
    _save(real / "c.png", [[p] for p in c])
    _save(real / "d.png", [d])
    source, target = lab_moments(cg), lab_moments(real)
    pooled = _lab_by_hand(a + b), _lab_by_hand(c + d)
    np.testing.assert_allclose(source, [pooled[0].mean(0), pooled[0].std(0)], rtol=1e-9)
    np.testing.assert_allclose(target, [pooled[1].mean(0), pooled[1].std(0)], rtol=1e-9)
    assert not np.allclose(source[0], (_lab_by_hand(a).mean(0) + _lab_by_hand(b).mean(0)) / 2)
    crop = np.array([[(0, 0, 0), (10, 120, 40), (255, 255, 255), (30, 60, 200), (128, 128, 128)]], np.uint8)
    expected = _transfer_by_hand(crop[0], [a, b], [c, d])
    assert (expected == 255).any() and np.ptp(expected) > 50  # the clipping is exercised, the map is not flat
    out = colour_transfer(crop, source, target)
    assert out.dtype == np.uint8 and out.shape == crop.shape
    assert np.abs(out[0] - expected).max() <= 0.5 + 1e-6  # the nearest 8-bit value of the hand result
    # The same statistics on both sides: every pixel comes back unchanged through CIELAB and rounding.
    assert (colour_transfer(crop, source, source) == crop).all()
    # A set without spread (std 0) maps every pixel to the target's mean colour.
    flat = colour_transfer(crop, (source[0], np.zeros(3)), target)
    assert (flat == flat[0, 0]).all() and np.abs(flat[0, 0] - _rgb_by_hand(target[0])).max() <= 0.5 + 1e-6
    (tmp_path / "empty").mkdir()
    with pytest.raises(CycleAugError, match="empty: no images"):
        lab_moments(tmp_path / "empty")


@pytest.fixture
def pairs(tmp_path):
    """Two source images, their paired truths, four held-out crops (the crop step's manifest), the CG and
    real training crops of the colour transfer, and translations: perfect (the truth windows), none (the
    crops), half-way, and the colour transfer itself."""
    rng = np.random.default_rng(1)
    src, truth, held = tmp_path / "rgb", tmp_path / "truth", tmp_path / "held"
    cg_dir, real_dir = tmp_path / "cg_train", tmp_path / "real_train"
    for d in (src, truth, held, cg_dir, real_dir):
        d.mkdir()
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)).save(cg_dir / f"cg{i}.png")
        photo = (0.5 * rng.integers(0, 256, (20, 20, 3)) + 40).astype(np.uint8)
        Image.fromarray(photo).save(real_dir / f"real{i}.png")
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
    moments = lab_moments(cg_dir), lab_moments(real_dir)
    runs = {}
    for kind in ("perfect", "none", "half", "colour"):
        d = tmp_path / kind
        d.mkdir()
        for name, (crop, photo) in windows.items():
            img = {
                "perfect": photo,
                "none": crop,
                "half": ((crop.astype(int) + photo) // 2).astype(np.uint8),
                "colour": colour_transfer(crop, *moments),
            }[kind]
            Image.fromarray(img).save(d / name)
        runs[kind] = d
    return truth, held, runs, windows, cg_dir, real_dir


def test_table_rows_for_perfect_none_half_and_colour_translations(tmp_path, pairs):
    truth, held, runs, windows, cg, real = pairs
    out = tmp_path / "paired.csv"
    proc = run_cli(
        "paired-distance",
        "--truth",
        truth,
        "--heldout",
        held,
        "--cg",
        cg,
        "--real",
        real,
        "--out",
        out,
        "--runs",
        f"1:2:{runs['perfect']}",
        f"2:2:{runs['none']}",
        f"1:1:{runs['half']}",
        f"3:1:{runs['colour']}",
    )
    assert "SSIM" in proc.stderr and "colour transfer" in proc.stderr
    table = read_paired(out)
    # The baseline comes first, without a GPU count; the generators follow in (gpus, epoch) order.
    assert [(r["method"], r["gpus"], r["epoch"]) for r in table] == [
        ("colour_transfer", None, None),
        ("cyclegan", 1, 1),
        ("cyclegan", 1, 2),
        ("cyclegan", 2, 2),
        ("cyclegan", 3, 1),
    ]
    baseline, rows = table[0], {(r["gpus"], r["epoch"]): r for r in table[1:]}
    input_l1 = np.mean([l1(c, p) for c, p in windows.values()])
    input_ssim = np.mean([ssim(c, p) for c, p in windows.values()])
    perfect, none, half, colour = rows[1, 2], rows[2, 2], rows[1, 1], rows[3, 1]
    assert perfect["l1"] == 0.0 and perfect["ssim"] == pytest.approx(1.0) and perfect["n"] == 4
    assert perfect["l1_gain"] == pytest.approx(input_l1) and perfect["ssim_gain"] == pytest.approx(1 - input_ssim)
    assert none["l1"] == pytest.approx(input_l1) and none["l1_gain"] == pytest.approx(0.0, abs=1e-12)
    assert none["l1_gain_ci_low"] == pytest.approx(0.0, abs=1e-12) == none["l1_gain_ci_high"]
    half_l1 = np.mean([l1(((c.astype(int) + p) // 2).astype(np.uint8), p) for c, p in windows.values()])
    assert half["l1"] == pytest.approx(half_l1) and 0 < half["l1_gain"] < input_l1
    # The baseline: the held-out crops mapped from the CG training crops' pooled moments to the real ones',
    # recomputed here from all pixels at once with CIELAB by hand.
    pixels = [[np.asarray(Image.open(f)).reshape(-1, 3) for f in sorted(d.glob("*.png"))] for d in (cg, real)]
    mapped = {n: np.rint(_transfer_by_hand(c, *pixels)) for n, (c, _) in windows.items()}
    colour_l1 = np.mean([np.abs(mapped[n] - p).mean() / 255 for n, (_, p) in windows.items()])
    colour_ssim = np.mean([ssim(mapped[n].astype(np.uint8), p) for n, (_, p) in windows.items()])
    # (abs: a value within float error of a rounding tie may round the other way here)
    assert baseline["l1"] == pytest.approx(colour_l1, abs=1e-5) and baseline["ssim"] == pytest.approx(
        colour_ssim, abs=1e-4
    )
    assert baseline["l1_gain"] == pytest.approx(input_l1 - colour_l1)
    assert baseline["ssim_gain"] == pytest.approx(colour_ssim - input_ssim)
    assert baseline["n"] == 4 and baseline["l1_vs_colour"] is None and baseline["ssim_vs_colour_ci_high"] is None
    # Each generator's paired difference to the baseline (positive: closer to the truth than the baseline).
    assert perfect["l1_vs_colour"] == pytest.approx(colour_l1) and perfect["ssim_vs_colour"] == pytest.approx(
        1 - colour_ssim
    )
    assert none["l1_vs_colour"] == pytest.approx(-baseline["l1_gain"])
    assert none["ssim_vs_colour"] == pytest.approx(-baseline["ssim_gain"])
    # A generator that is the colour transfer: every difference and its interval exactly zero.
    for key in ("l1_vs_colour", "ssim_vs_colour"):
        assert colour[key] == colour[f"{key}_ci_low"] == colour[f"{key}_ci_high"] == 0.0
    assert colour["l1"] == pytest.approx(colour_l1)
    for r in table:
        assert r["l1_input"] == pytest.approx(input_l1) and r["ssim_input"] == pytest.approx(input_ssim)
        keys = ("l1", "ssim", "l1_gain", "ssim_gain") + (("l1_vs_colour", "ssim_vs_colour") if r["gpus"] else ())
        for key in keys:
            assert r[f"{key}_ci_low"] <= r[key] + 1e-12 and r[key] <= r[f"{key}_ci_high"] + 1e-12
    # Paired per crop: the half-way run's gain over the input is its gain over the baseline plus the
    # baseline's gain over the input.
    assert half["l1_gain"] == pytest.approx(half["l1_vs_colour"] + baseline["l1_gain"])
    assert half["ssim_gain"] == pytest.approx(half["ssim_vs_colour"] + baseline["ssim_gain"])


def test_errors_name_the_file(tmp_path, pairs):
    truth, held, runs, windows, cg, real = pairs
    name = sorted(windows)[0]
    crops = {"real_dir": real, "cg_dir": cg}
    with pytest.raises(CycleAugError, match="missing: not a directory of crops"):
        paired_table(truth, held, [Run(1, 1, str(runs["half"]))], tmp_path / "x.csv", real_dir=real, cg_dir="missing")
    (runs["half"] / name).unlink()
    with pytest.raises(CycleAugError, match=f"{name}: image not found"):
        paired_table(truth, held, [Run(1, 1, str(runs["half"]))], tmp_path / "x.csv", **crops)
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(runs["half"] / name)
    with pytest.raises(CycleAugError, match="16x16, expected 20x20"):
        paired_table(truth, held, [Run(1, 1, str(runs["half"]))], tmp_path / "x.csv", **crops)
    assert not (tmp_path / "x.csv").exists()
    Image.fromarray(np.zeros((10, 10, 3), np.uint8)).save(truth / "0000001.png")
    with pytest.raises(CycleAugError, match="needs a larger one"):
        paired_table(truth, held, [Run(1, 2, str(runs["perfect"]))], tmp_path / "x.csv", **crops)
    (held / "manifest.csv").unlink()
    with pytest.raises(CycleAugError, match="manifest.csv: not found"):
        paired_table(truth, held, [Run(1, 2, str(runs["perfect"]))], tmp_path / "x.csv", **crops)


def test_reading_a_bad_table_names_file_line_and_column(tmp_path):
    from cycleaug.paired import COLUMNS, by_gpus, colour_baseline

    path = tmp_path / "paired.csv"
    numbers = ["0.5"] * (len(COLUMNS) - 4)
    baseline = ",".join(["colour_transfer", "", "", "3"] + numbers[:-6] + [""] * 6)
    generator = ",".join(["cyclegan", "1", "2", "3"] + numbers)
    with pytest.raises(CycleAugError, match="paired-distance table not found"):
        read_paired(path)
    path.write_text(",".join(COLUMNS[:-1]) + "\n")
    with pytest.raises(CycleAugError, match=r"missing columns \['ssim_vs_colour_ci_high'\]"):
        read_paired(path)
    path.write_text(",".join(COLUMNS) + "\n" + baseline + "\n" + generator + "\n")
    rows = read_paired(path)
    assert rows[1]["n"] == 3 and rows[0]["gpus"] is None and rows[0]["l1_vs_colour"] is None
    assert list(by_gpus(rows)) == [1] and by_gpus(rows)[1] == [rows[1]] and colour_baseline(rows) is rows[0]
    path.write_text(",".join(COLUMNS) + "\n" + baseline + "\n" + generator.replace(",2,", ",x,", 1) + "\n")
    with pytest.raises(CycleAugError, match=r"paired.csv:3: bad value .*expected numbers"):
        read_paired(path)
    # A generator row needs its GPU count and epoch; a method must be one of the two.
    path.write_text(",".join(COLUMNS) + "\n" + baseline + "\n" + generator.replace(",1,2,", ",,,", 1) + "\n")
    with pytest.raises(CycleAugError, match=r"paired.csv:3: bad value"):
        read_paired(path)
    path.write_text(",".join(COLUMNS) + "\n" + baseline.replace("colour_transfer", "histogram") + "\n")
    with pytest.raises(CycleAugError, match=r"paired.csv:2: bad value \(method 'histogram', expected one of"):
        read_paired(path)
    # Exactly one baseline and at least one generator.
    for lines in ([generator], [baseline], [baseline, baseline, generator]):
        path.write_text(",".join(COLUMNS) + "\n" + "\n".join(lines) + "\n")
        with pytest.raises(CycleAugError, match="expected one colour_transfer row and at least one cyclegan row"):
            read_paired(path)
    path.write_text(",".join(COLUMNS) + "\n")
    with pytest.raises(CycleAugError, match="no rows"):
        read_paired(path)
