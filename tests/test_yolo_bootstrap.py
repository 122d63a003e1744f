"""Table 2's bootstrap (cycleaug.yolo.bootstrap): a resample's re-weighted AP equals darknet's AP of the
literally resampled validation set (evaluate_frames on duplicated frames), and the intervals behave."""

from __future__ import annotations

import numpy as np
import pytest
from cycleaug.errors import CycleAugError
from cycleaug.labels import Box, Frame
from cycleaug.yolo.bootstrap import bootstrap_table, pool, resample_weights, weighted_ap
from cycleaug.yolo.evaluate import evaluate_frames


def _sets(seed: int, n_images: int = 25, quality: float = 0.6):
    """Ground truth with 0-3 persons per image and predictions: a jittered copy of most boxes (better with
    higher ``quality``) plus false alarms, with scores."""
    rng = np.random.default_rng(seed)
    gt, pred = [], []
    for i in range(n_images):
        name = f"{i:04d}.jpg"
        boxes = []
        for _ in range(int(rng.integers(0, 4))):
            x, y = rng.uniform(0, 200), rng.uniform(0, 100)
            boxes.append(Box(x, y, x + rng.uniform(10, 40), y + rng.uniform(20, 60)))
        gt.append(Frame(name, boxes))
        dets = []
        for b in boxes:
            if rng.random() < 0.85:
                j = rng.normal(0, 8 * (1 - quality), 4)
                x1, y1 = b.x1 + j[0], b.y1 + j[1]
                x2, y2 = max(x1 + 2, b.x2 + j[2]), max(y1 + 2, b.y2 + j[3])
                dets.append(Box(x1, y1, x2, y2, score=float(rng.uniform(0.2, 1))))
        for _ in range(int(rng.integers(0, 3))):
            x, y = rng.uniform(0, 200), rng.uniform(0, 100)
            dets.append(Box(x, y, x + 20, y + 40, score=float(rng.uniform(0.01, 0.7))))
        pred.append(Frame(name, dets))
    return gt, pred


def test_plain_weights_give_darknets_ap():
    gt, pred = _sets(0)
    assert weighted_ap(pool(gt, pred), np.ones(len(gt), dtype=int)) == pytest.approx(evaluate_frames(gt, pred).map)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_reweighted_ap_equals_the_duplicated_set(seed):
    gt, pred = _sets(seed)
    p = pool(gt, pred)
    (w,) = resample_weights(len(gt), 1, seed=seed)
    assert w.sum() == len(gt) and (w == 0).any() and (w > 1).any()
    # The literal resample: image i written w[i] times under distinct names.
    dup_gt, dup_pred = [], []
    for i, k in enumerate(w):
        for c in range(k):
            dup_gt.append(Frame(f"{c}_{gt[i].name}", gt[i].boxes))
            dup_pred.append(Frame(f"{c}_{pred[i].name}", pred[i].boxes))
    assert weighted_ap(p, w) == pytest.approx(evaluate_frames(dup_gt, dup_pred).map, abs=1e-12)


def test_paired_intervals():
    gt, good = _sets(4, n_images=80, quality=0.9)
    _, bad = _sets(4, n_images=80, quality=0.2)
    table = bootstrap_table(gt, {"a": bad, "b": good, "a_again": bad}, references=("a", "b"), n=300, seed=0)
    a, b, again = table["a"], table["b"], table["a_again"]
    assert a["ci"][0] <= a["map50"] <= a["ci"][1]
    assert b["map50"] > a["map50"] and b["vs"]["a"]["diff"] == pytest.approx(b["map50"] - a["map50"])
    assert set(a["vs"]) == {"b"} and set(b["vs"]) == {"a"} and set(again["vs"]) == {"a", "b"}
    # The same detections as the reference: the paired difference is exactly 0 on every resample.
    assert again["vs"]["a"]["diff_ci"] == (0.0, 0.0) and again["vs"]["a"]["p_better"] == 0.0
    # Against the other reference, the mirror image of b vs a on the same resamples.
    assert again["vs"]["b"]["diff_ci"] == pytest.approx(tuple(-x for x in reversed(b["vs"]["a"]["diff_ci"])))
    # Paired: the difference's interval is narrower than the sum of the two marginal half-widths.
    diff = b["vs"]["a"]
    width = diff["diff_ci"][1] - diff["diff_ci"][0]
    assert width < (a["ci"][1] - a["ci"][0]) + (b["ci"][1] - b["ci"][0])
    assert diff["diff_ci"][0] > 0 and diff["p_better"] > 0.97
    with pytest.raises(CycleAugError, match="reference 'z' has no predictions"):
        bootstrap_table(gt, {"a": bad}, references=("z",), n=10)


def test_table2_command_writes_the_intervals_and_the_figure_shows_them(tmp_path):
    import csv
    import json

    from conftest import run_cli
    from cycleaug.figures.table2 import build_table2, read_table2
    from cycleaug.labels import write_frames

    gt, good = _sets(5, n_images=60, quality=0.9)
    _, bad = _sets(5, n_images=60, quality=0.2)
    write_frames(tmp_path / "val.json", gt)
    args = ["table2", "--val-labels", tmp_path / "val.json", "--resamples", 200, "--out-dir", tmp_path / "t"]
    for name, preds in (("a_bdd", bad), ("b_bdd_cg", good)):
        write_frames(tmp_path / f"{name}.json", preds)
        r = evaluate_frames(gt, preds)
        metrics = {"iteration": 100, "TP": r.tp, "FP": r.fp, "FN": r.fn, "precision": r.precision}
        metrics.update(recall=r.recall, F1=r.f1, mAP50=r.map)
        (tmp_path / f"{name}_m.json").write_text(json.dumps(metrics))
        args += [
            "--metrics",
            f"{name}={tmp_path / f'{name}_m.json'}",
            "--predictions",
            f"{name}={tmp_path / f'{name}.json'}",
        ]
    run_cli(*args)
    with open(tmp_path / "t/table2.csv", newline="") as f:
        a, b = list(csv.DictReader(f))
    expected = bootstrap_table(gt, {"a_bdd": bad, "b_bdd_cg": good}, references=("a_bdd", "b_bdd_cg"), n=200)
    assert float(a["map50_ci_low"]) == pytest.approx(100 * expected["a_bdd"]["ci"][0], rel=1e-5)
    diff = expected["b_bdd_cg"]["vs"]["a_bdd"]["diff"]
    assert a["diff_vs_a"] == "" and float(b["diff_vs_a"]) == pytest.approx(100 * diff, rel=1e-5)
    assert b["diff_vs_b"] == "" and float(a["diff_vs_b"]) == pytest.approx(-100 * diff, rel=1e-5)
    assert float(b["diff_vs_a_ci_low"]) > 0  # the better detector is better on the paired resamples
    md = (tmp_path / "t/table2.md").read_text()
    assert "| mAP 95% CI | vs (a) [95% CI] | vs (b) [95% CI] |" in md and "percentile bootstrap" in md
    columns, rows = read_table2(tmp_path / "t/table2.csv")
    assert columns[-3:] == ["map50_ci", "diff_vs_a", "diff_vs_b"] and rows[1]["diff_vs_a"].startswith("+")
    build_table2(columns, rows)
    # Predictions without their labels: a clear error, nothing written.
    bad_args = [a for a in args if a not in ("--val-labels", tmp_path / "val.json")]
    bad_args[bad_args.index(tmp_path / "t")] = tmp_path / "u"
    out = run_cli(*bad_args, check=False)
    assert out.returncode == 2 and "--val-labels" in out.stderr and not (tmp_path / "u").exists()
