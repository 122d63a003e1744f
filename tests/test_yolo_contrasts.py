"""Claim 2's comparisons (cycleaug.yolo.contrasts): the two-level bootstrap against a literal resample of
seeds and images, Holm's adjustment by hand, and the verdict on constructed detectors whose answer is known:
a working and a failing positive control, an identity translation and a perfect one."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import run_cli
from cycleaug import verdict
from cycleaug.labels import Box, Frame, write_frames
from cycleaug.yolo.bootstrap import resample_weights
from cycleaug.yolo.conditions import A, B, parse_condition
from cycleaug.yolo.contrasts import condition_values, contrasts, holm, read_contrasts, seed_draws
from cycleaug.yolo.evaluate import evaluate_frames


def _truth(n_images: int = 40, seed: int = 0) -> list[Frame]:
    rng = np.random.default_rng(seed)
    frames = []
    for i in range(n_images):
        boxes = []
        for _ in range(int(rng.integers(1, 4))):
            x, y = rng.uniform(0, 200), rng.uniform(0, 100)
            boxes.append(Box(x, y, x + rng.uniform(15, 40), y + rng.uniform(30, 60)))
        frames.append(Frame(f"{i:04d}.jpg", boxes))
    return frames


def _detector(gt: list[Frame], hit_rate: float, seed: int) -> list[Frame]:
    """Detections of a detector that finds ``hit_rate`` of the persons (slightly jittered, scored high)
    and makes one or two false alarms per image (scored lower)."""
    rng = np.random.default_rng(seed)
    out = []
    for f in gt:
        dets = [
            Box(b.x1 + rng.normal(0, 1), b.y1 + rng.normal(0, 1), b.x2, b.y2, score=float(rng.uniform(0.4, 1)))
            for b in f.boxes
            if rng.random() < hit_rate
        ]
        for _ in range(int(rng.integers(1, 3))):
            x, y = rng.uniform(0, 200), rng.uniform(100, 200)
            dets.append(Box(x, y, x + 20, y + 40, score=float(rng.uniform(0.01, 0.8))))
        out.append(Frame(f.name, dets))
    return out


def test_two_level_resample_equals_the_literal_one():
    """Resample b's value: the mean over the drawn seeds (with their multiplicity) of darknet's AP on the
    drawn images written out as often as they were drawn."""
    gt = _truth(20)
    runs = [_detector(gt, rate, seed) for seed, rate in enumerate((0.5, 0.7, 0.9))]
    _, resampled, n_seeds = condition_values(gt, {"a_bdd": runs}, n=5, seed=7)
    assert n_seeds == 3
    images, seeds = resample_weights(len(gt), 5, 7), seed_draws(3, 5, 7)
    for b in range(5):
        aps = []
        for s, count in enumerate(seeds[b]):
            dup_gt = [Frame(f"{c}_{g.name}", g.boxes) for g, k in zip(gt, images[b]) for c in range(k)]
            dup_pred = [Frame(f"{c}_{p.name}", p.boxes) for p, k in zip(runs[s], images[b]) for c in range(k)]
            aps += [evaluate_frames(dup_gt, dup_pred).map] * int(count)
        assert resampled["a_bdd"][b] == pytest.approx(np.mean(aps), abs=1e-12)


def test_holm_by_hand():
    # Sorted 0.01, 0.03, 0.04, 0.2 times 4, 3, 2, 1: 0.04, 0.09, 0.08 -> 0.09 (monotone), 0.2.
    assert holm([0.01, 0.04, 0.03, 0.2]) == pytest.approx([0.04, 0.09, 0.09, 0.2])
    assert holm([0.5, 0.6]) == pytest.approx([1.0, 1.0])


def test_unequal_seed_counts_are_refused():
    gt = _truth(5)
    with pytest.raises(Exception, match="same number of seeds"):
        condition_values(gt, {"a_bdd": [_detector(gt, 0.5, 0)], "b_bdd_cg": []}, n=10)


# Conditions of a demo run with two CycleGANs and the paired-truth control (f).
NAMES = ["a_bdd", "b_bdd_cg", "c_gen1gpu", "d_gen2gpu", "e_bdd_truth"]


def _claims(tmp_path, rates: dict[str, float], n_seeds: int = 3):
    """Claims 2a and 2b for detectors of the given hit rates, through `cycleaug table2` and the verdict."""
    gt = _truth()
    write_frames(tmp_path / "heldout.json", gt)
    args = []
    for name in NAMES:
        metrics = tmp_path / name / "metrics.json"
        metrics.parent.mkdir(parents=True, exist_ok=True)
        keys = ("TP", "FP", "FN", "precision", "recall", "F1")
        metrics.write_text(json.dumps({**dict.fromkeys(keys, 1), "mAP50": 0.5, "iteration": 10}))
        args += ["--metrics", f"{name}={metrics}"]
        for s in range(n_seeds):
            # The seed's own noise; a condition equal to another (identity, perfect) reuses its detections.
            path = tmp_path / name / f"heldout_{s}.json"
            source = rates[name] if isinstance(rates[name], str) else None
            if source is None:
                write_frames(path, _detector(gt, rates[name], 100 * s + NAMES.index(name)))
            args += ["--heldout-predictions", f"{name}={tmp_path / source / f'heldout_{s}.json' if source else path}"]
    run_cli(
        "table2", *args, "--heldout-labels", tmp_path / "heldout.json", "--out-dir", tmp_path / "t", "--resamples", 300
    )
    return verdict.detector_claims(tmp_path / "t" / "table2.csv"), read_contrasts(tmp_path / "t" / "contrasts.csv")


def test_verdict_with_a_working_control_and_a_perfect_translation(tmp_path):
    # (a) finds 60% of the persons, raw CG lowers it, the truth raises it; the translations equal the truth.
    rates = {"a_bdd": 0.6, "b_bdd_cg": 0.3, "e_bdd_truth": 0.9, "c_gen1gpu": "e_bdd_truth", "d_gen2gpu": "e_bdd_truth"}
    (more, better), con = _claims(tmp_path, rates)
    assert more.verdict == verdict.NOT_REPRODUCED and "(b) - (a)" in more.this_run
    assert better.verdict == verdict.REPRODUCED
    assert con["gap closed"]["estimate"] == pytest.approx(1.0)
    assert con["gen - b"]["estimate"] == pytest.approx(con["e - b"]["estimate"])
    assert con["c - b"]["p_holm"] >= con["c - b"]["p_two_sided"]
    assert "3 seeds per condition" in better.this_run and "gap closed +1.00" in better.this_run


def test_verdict_with_an_identity_translation(tmp_path):
    # The translations change nothing: they are raw CG. The control works, so the answer is a clear no.
    rates = {"a_bdd": 0.6, "b_bdd_cg": 0.3, "e_bdd_truth": 0.9, "c_gen1gpu": "b_bdd_cg", "d_gen2gpu": "b_bdd_cg"}
    (_, better), con = _claims(tmp_path, rates)
    assert con["gen - b"]["estimate"] == 0 and con["gap closed"]["ci_high"] == pytest.approx(0.0)
    assert better.verdict == verdict.NOT_REPRODUCED and "recover at most 0%" in better.why


def test_verdict_when_the_positive_control_fails(tmp_path):
    # The truth is no better than raw CG: the regime cannot show a translation's gain.
    rates = {"a_bdd": 0.9, "b_bdd_cg": 0.3, "e_bdd_truth": "b_bdd_cg", "c_gen1gpu": 0.6, "d_gen2gpu": 0.6}
    (more, better), _ = _claims(tmp_path, rates)
    assert better.verdict == verdict.NOT_TESTABLE and "positive control fails" in better.why
    assert more.verdict == verdict.NOT_TESTABLE and "perfect translation does not beat BDD alone" in more.why


def test_contrasts_without_the_control_and_with_one_seed():
    """Paper scale: no paired truth, one seed (the bootstrap is then over images only)."""
    gt = _truth(30)
    preds = {
        "a_bdd": [_detector(gt, 0.5, 1)],
        "b_bdd_cg": [_detector(gt, 0.7, 2)],
        "c_gen4gpu": [_detector(gt, 0.8, 3)],
    }
    plain, resampled, n = condition_values(gt, preds, n=200)
    items = {c.name: c for c in contrasts([A, B, parse_condition("c_gen4gpu")], plain, resampled)}
    assert n == 1 and set(items) == {"b - a", "gen - b", "c - b"}
    assert items["gen - b"].estimate == pytest.approx(plain["c_gen4gpu"] - plain["b_bdd_cg"])
    lo, hi = items["b - a"].ci
    assert lo <= items["b - a"].estimate <= hi
