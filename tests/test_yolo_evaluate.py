"""`cycleaug evaluate` = darknet's `detector map`: one hand-worked case per rule, an independent
re-computation on random data, and the CLI's printed lines and files."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from conftest import plain_iou, run_cli
from cycleaug.labels import Box, Frame, write_frames
from cycleaug.yolo import evaluate as ev
from cycleaug.yolo.evaluate import evaluate_frames


def gt(name, *boxes, category="pedestrian"):
    return Frame(name, [Box(*b, category=category) for b in boxes])


def pred(name, *dets, category="pedestrian"):
    return Frame(name, [Box(*b, category=category, score=s) for b, s in dets])


def test_iou_must_be_strictly_above_half():
    truth = [gt("a", (0, 0, 2, 1))]
    half = evaluate_frames(truth, [pred("a", ((0, 0, 1, 1), 0.9))])  # IoU exactly 0.5
    assert (half.tp, half.fp, half.fn, half.ap) == (0, 1, 1, [0.0])
    above = evaluate_frames(truth, [pred("a", ((0, 0, 1.02, 1), 0.9))])  # IoU 0.51
    assert (above.tp, above.fp, above.fn, above.ap) == (1, 0, 0, [1.0])
    assert above.average_iou == pytest.approx(0.51)


def test_scores_must_be_strictly_above_the_thresholds():
    truth = [gt("a", (0, 0, 10, 10))]
    at_conf = evaluate_frames(truth, [pred("a", ((0, 0, 10, 10), 0.25))])
    # not counted at conf_thresh 0.25, but still a candidate for AP
    assert (at_conf.tp, at_conf.fp, at_conf.fn, at_conf.detections_count, at_conf.ap) == (0, 0, 1, 1, [1.0])
    assert np.isnan(at_conf.precision) and at_conf.to_json()["precision"] is None
    assert "precision = -nan, recall = 0.00, F1-score = -nan" in at_conf.darknet_report()
    at_cand = evaluate_frames(truth, [pred("a", ((0, 0, 10, 10), 0.005))])
    assert (at_cand.detections_count, at_cand.ap) == (0, [0.0])
    above = evaluate_frames(truth, [pred("a", ((0, 0, 10, 10), 0.0051))])
    assert (above.detections_count, above.ap) == (1, [1.0])


def test_a_taken_box_makes_later_detections_false_positives():
    truth = [gt("a", (0, 0, 10, 10))]
    # the second detection fits better (IoU 0.95 > 0.9) but comes later in score order
    r = evaluate_frames(truth, [pred("a", ((0, 0, 10, 9.5), 0.8), ((0, 0, 10, 9), 0.9))])
    assert (r.tp, r.fp, r.fn) == (1, 1, 0)
    assert r.average_iou == pytest.approx(0.9 / 2)
    # AP: TP at rank 0, FP at rank 1 -> precision 1 up to recall 1
    assert r.ap == [1.0]


def test_a_detection_is_never_reassigned_to_its_second_best_box():
    truth = [gt("a", (0, 0, 10, 10), (2, 0, 12, 10))]
    second = (0.5, 0, 10.5, 10)  # IoU 0.905 with box 1 (taken) and 0.739 with box 2 (free)
    r = evaluate_frames(truth, [pred("a", ((0, 0, 10, 10), 0.9), (second, 0.8))])
    assert (r.tp, r.fp, r.fn) == (1, 1, 1)
    # equal IoUs: the first box of the label file wins, even if it is taken
    twins = evaluate_frames(
        [gt("a", (0, 0, 10, 10), (0, 0, 10, 10))], [pred("a", ((0, 0, 10, 10), 0.9), ((0, 0, 10, 10), 0.8))]
    )
    assert (twins.tp, twins.fp, twins.fn) == (1, 1, 1)


def test_average_iou_divides_by_all_detections_above_the_threshold():
    r = evaluate_frames(
        [gt("a", (0, 0, 10, 10))], [pred("a", ((0, 0, 10, 8), 0.9), ((50, 50, 60, 60), 0.7), ((80, 80, 90, 90), 0.1))]
    )
    assert (r.tp, r.fp) == (1, 1)
    assert r.average_iou == pytest.approx(0.8 / 2)  # not 0.8 / TP
    assert "TP = 1, FP = 1, FN = 0, average IoU = 40.00 % " in r.darknet_report()


def _curve_case():
    # Two images, 3 boxes. Pooled by score: .9 TP, .8 FP, .7 TP, .6 FP (duplicate of a1), .5 TP
    truth = [gt("A", (0, 0, 10, 10), (20, 0, 30, 10)), gt("B", (0, 0, 10, 20))]
    preds = [
        pred("A", ((0, 0, 10, 10), 0.9), ((0, 1, 10, 10), 0.6), ((20, 0, 30, 11), 0.5)),
        pred("B", ((40, 40, 50, 50), 0.8), ((0, 0, 10, 19), 0.7)),
    ]
    return truth, preds


def test_ap_on_a_hand_worked_curve():
    truth, preds = _curve_case()
    r = evaluate_frames(truth, preds)
    # recall    1/3  1/3  2/3  2/3  1
    # precision 1    1/2  2/3  1/2  3/5   -> running max from the right: 1, 2/3, 2/3, 3/5, 3/5
    # area: 1/3 x 1 (from recall 0) + 1/3 x 2/3 + 1/3 x 3/5 = 0.755...
    assert r.ap[0] == pytest.approx(1 / 3 + 2 / 9 + 1 / 5)
    assert r.map == r.ap[0] and r.to_json()["map50"] == r.map
    legacy = evaluate_frames(truth, preds, legacy_ap=True)  # darknet before PR #6151: no first stretch
    assert legacy.ap[0] == pytest.approx(2 / 9 + 1 / 5)
    assert (r.tp, r.fp, r.fn) == (3, 2, 0)
    curve = r.curves["pedestrian"]
    np.testing.assert_allclose(curve.precision, [1, 1 / 2, 2 / 3, 1 / 2, 3 / 5])
    np.testing.assert_allclose(curve.recall, [1 / 3, 1 / 3, 2 / 3, 2 / 3, 1])
    assert curve.tp.tolist() == [1, 1, 2, 2, 3] and curve.fn.tolist() == [2, 2, 1, 1, 0]


def test_frames_categories_and_the_mean_over_classes():
    truth = [
        gt("a", (0, 0, 10, 10)),
        gt("b", (0, 0, 10, 10)),
        Frame("c", [Box(0, 0, 10, 10, "pedestrian"), Box(20, 20, 30, 30, "car")]),
    ]
    preds = [
        pred("a", ((0, 0, 10, 10), 0.9)),
        pred("zzz", ((0, 0, 10, 10), 0.9)),
        Frame(
            "c",
            [Box(20, 20, 30, 30, "pedestrian", 0.8), Box(20, 20, 30, 30, "car", 0.7), Box(0, 0, 10, 10, "truck", 0.9)],
        ),
    ]
    r = evaluate_frames(truth, preds)  # pedestrian only: car and truck boxes are left out
    assert (r.tp, r.fp, r.fn, r.unique_truth_count, r.detections_count) == (1, 1, 2, 3, 2)
    assert (r.pred_frames_unmatched, r.gt_frames_without_pred, r.n_images) == (1, 1, 3)
    multi = evaluate_frames(truth, preds, ["pedestrian", "car", "bicycle"])
    assert multi.ap == pytest.approx([1 / 3, 1.0, 0.0])
    assert multi.map == pytest.approx((1 / 3 + 1) / 3)  # darknet averages over every class of the cfg
    assert (multi.tp_per_class, multi.fp_per_class) == ([1, 1, 0], [1, 0, 0])


# ------------------------------------------------------------------------------------------------
# Independent re-computation from the definitions, written with plain loops


def _reference(truth, preds, categories, conf=0.25, iou_thr=0.5):
    boxes_of = {f.name: f.boxes for f in truth}
    dets = []  # (score, image, class, best box key or None, iou)
    for f in preds:
        for d in sorted(f.boxes, key=lambda b: -b.score):
            if d.score <= 0.005 or d.category not in categories:
                continue
            best, best_iou = None, 0.0
            for j, g in enumerate(boxes_of.get(f.name, [])):
                if g.category == d.category:
                    v = plain_iou((d.x1, d.y1, d.x2, d.y2), (g.x1, g.y1, g.x2, g.y2))
                    if v > iou_thr and v > best_iou:
                        best, best_iou = (f.name, j), v
            dets.append((d.score, f.name, d.category, best, best_iou))
    # TP/FP at conf, per image in score order
    taken, tp, fp, iou_sum = set(), 0, 0, 0.0
    for score, _name, _cat, best, v in dets:
        if score > conf:
            if best is not None and best not in taken:
                tp, iou_sum = tp + 1, iou_sum + v
            else:
                fp += 1
        if best is not None:
            taken.add(best)
    # AP per class from the definition: precision envelope integrated over the distinct recall levels
    aps = []
    for cat in categories:
        n_truth = sum(g.category == cat for f in truth for g in f.boxes)
        pooled = sorted((d for d in dets if d[2] == cat), key=lambda d: -d[0])
        seen, t, points = set(), 0, []
        for k, (_, _, _, best, _) in enumerate(pooled, start=1):
            if best is not None and best not in seen:
                seen.add(best)
                t += 1
            points.append((t / n_truth if n_truth else 0.0, t / k))
        ap, previous = 0.0, 0.0
        for level in sorted({r for r, _ in points}):
            ap += (level - previous) * max(p for r, p in points if r >= level)
            previous = level
        aps.append(ap)
    return tp, fp, iou_sum / (tp + fp) if tp + fp else 0.0, aps


def _random_sets(seed, n_images=40, scale=(1.0, 1.0)):
    rng = np.random.default_rng(seed)
    sizes = np.random.default_rng(seed + 1000)  # its own stream, so the boxes are the same either way
    truth, preds = [], []
    for i in range(n_images):
        sx, sy = scale if scale != "random" else sizes.uniform(0.3, 3, 2)
        gts = []
        for _ in range(int(rng.integers(0, 5))):
            x, y, w, h = rng.uniform(0, 80), rng.uniform(0, 80), rng.uniform(5, 30), rng.uniform(5, 30)
            gts.append(Box(x, y, x + w, y + h, str(rng.choice(["pedestrian", "car"]))))
        dets = []
        for _ in range(int(rng.integers(0, 12))):
            if gts and rng.random() < 0.6:
                g = gts[int(rng.integers(len(gts)))]
                jit = rng.normal(0, 2.5, 4)
                x1, y1, x2, y2 = g.x1 + jit[0], g.y1 + jit[1], g.x2 + jit[2], g.y2 + jit[3]
                cat = g.category if rng.random() < 0.8 else "car"
            else:
                x1, y1 = rng.uniform(0, 80), rng.uniform(0, 80)
                x2, y2 = x1 + rng.uniform(5, 30), y1 + rng.uniform(5, 30)
                cat = "pedestrian"
            dets.append(
                Box(
                    min(x1, x2) * sx,
                    min(y1, y2) * sy,
                    max(x1, x2) * sx,
                    max(y1, y2) * sy,
                    cat,
                    float(rng.uniform(0, 1)),
                )
            )
        truth.append(Frame(f"{i}.jpg", [Box(g.x1 * sx, g.y1 * sy, g.x2 * sx, g.y2 * sy, g.category) for g in gts]))
        preds.append(Frame(f"{i}.jpg", dets))
    return truth, preds


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_an_independent_computation_on_random_data(seed, monkeypatch):
    truth, preds = _random_sets(seed)
    categories = ["pedestrian", "car"]
    tp, fp, avg_iou, aps = _reference(truth, preds, categories)
    r = evaluate_frames(truth, preds, categories)
    assert (r.tp, r.fp) == (tp, fp) and r.tp > 5 and r.fp > 5
    assert r.average_iou == pytest.approx(avg_iou, abs=1e-12)
    assert r.ap == pytest.approx(aps, abs=1e-12)
    monkeypatch.setattr(ev, "PAIR_CHUNK", 3)  # the chunked pairing gives the same answer
    small = evaluate_frames(truth, preds, categories)
    assert (small.tp, small.fp, small.ap, small.average_iou) == (r.tp, r.fp, r.ap, r.average_iou)


def test_iou_does_not_depend_on_per_image_scaling_so_sizes_are_not_needed():
    # Boxes in pixels of images of random sizes vs the same boxes normalised (each image scaled by its
    # own s_x, s_y): every intersection and every area scales by s_x * s_y, so each IoU is unchanged.
    pixels = evaluate_frames(*_random_sets(5, scale="random"))
    normalised = evaluate_frames(*_random_sets(5))
    assert (pixels.tp, pixels.fp) == (normalised.tp, normalised.fp)
    assert pixels.ap == pytest.approx(normalised.ap, abs=1e-12)
    assert pixels.average_iou == pytest.approx(normalised.average_iou, abs=1e-12)


# ------------------------------------------------------------------------------------------------
# The command


def test_evaluate_cli_prints_darknet_lines_and_writes_json_and_csv(tmp_path):
    truth, preds = _curve_case()
    write_frames(tmp_path / "gt.json", truth)
    write_frames(tmp_path / "pred.json", preds)
    proc = run_cli(
        "evaluate",
        "--gt",
        tmp_path / "gt.json",
        "--pred",
        tmp_path / "pred.json",
        "--out",
        tmp_path / "m.json",
        "--pr-curve",
        tmp_path / "pr.csv",
    )
    ap = (1 / 3 + 2 / 9 + 1 / 5) * 100
    assert proc.stdout == (
        "\n detections_count = 5, unique_truth_count = 3  \n"
        f"class_id = 0, name = pedestrian, ap = {ap:.2f}%   \t (TP = 3, FP = 2) \n"
        "\n for conf_thresh = 0.25, precision = 0.60, recall = 1.00, F1-score = 0.75 \n"
        f" for conf_thresh = 0.25, TP = 3, FP = 2, FN = 0, average IoU = {r_avg_iou() * 100:.2f} % \n"
        "\n IoU threshold = 50 %, used Area-Under-Curve for each unique Recall \n"
        f" mean average precision (mAP@0.50) = {ap / 100:f}, or {ap:.2f} % \n"
    )
    assert ap == pytest.approx(75.56, abs=0.005)
    m = json.loads((tmp_path / "m.json").read_text())
    assert {k: m[k] for k in ("tp", "fp", "fn", "detections_count", "unique_truth_count")} == {
        "tp": 3,
        "fp": 2,
        "fn": 0,
        "detections_count": 5,
        "unique_truth_count": 3,
    }
    assert m["precision"] == pytest.approx(0.6) and m["recall"] == 1.0 and m["f1"] == pytest.approx(0.75)
    assert m["map50"] == pytest.approx(ap / 100) and m["ap"]["pedestrian"] == m["map"]
    assert m["ap_method"] == "darknet-auc" and m["conf_thresh"] == 0.25 and m["iou_thresh"] == 0.5
    rows = list(csv.DictReader(open(tmp_path / "pr.csv")))
    assert [r["tp"] for r in rows] == ["1", "1", "2", "2", "3"] and float(rows[2]["precision"]) == pytest.approx(2 / 3)
    legacy = run_cli("evaluate", "--gt", tmp_path / "gt.json", "--pred", tmp_path / "pred.json", "--legacy-ap")
    assert f"ap = {(2 / 9 + 1 / 5) * 100:.2f}%" in legacy.stdout
    bad = run_cli("evaluate", "--gt", tmp_path / "missing.json", "--pred", tmp_path / "pred.json", check=False)
    assert bad.returncode == 2 and "missing.json: label file not found" in bad.stderr


def r_avg_iou() -> float:
    # the three TPs of _curve_case: IoU 1, (10 x 19) / (10 x 20) = 0.95, (10 x 10) / (10 x 11); FP = 2
    return (1 + 0.95 + 10 / 11) / 5


def test_fast_reader_agrees_with_read_frames_and_defers_errors_to_it(tmp_path):
    truth, preds = _random_sets(3)
    write_frames(tmp_path / "pred.json", preds)
    fast = ev.read_labels(tmp_path / "pred.json", ["pedestrian", "car"])
    slow = ev.frames_to_labels(ev.read_frames(tmp_path / "pred.json"), ["pedestrian", "car"])
    for field in ("frame", "cls", "boxes", "scores"):
        np.testing.assert_array_equal(getattr(fast, field), getattr(slow, field))
    data = json.loads((tmp_path / "pred.json").read_text())
    data[1]["labels"].append({"category": "pedestrian", "box2d": {"x1": 5, "y1": 0, "x2": 1, "y2": 3}, "score": 0.5})
    (tmp_path / "bad.json").write_text(json.dumps(data))
    with pytest.raises(ev.CycleAugError, match="frame '1.jpg' label .*x2 < x1"):
        ev.read_labels(tmp_path / "bad.json", ["pedestrian"])
