"""darknet's ``detector map`` (``-points 0``) on BDD100K-format ground truth and predictions.

    cycleaug evaluate --gt data/labels/bdd100k_val.json --pred preds.json \\
        --out metrics.json --pr-curve pr.csv

The numbers mean what darknet's ``validate_detector_map`` (AlexeyAB/darknet ``src/detector.c``)
prints, the columns of the paper's Table 2:

- Candidates are the predictions with score > 0.005 (darknet's ``thresh``; ``cycleaug detect``
  already emits only those). Each takes the ground-truth box of its class with the highest IoU,
  and only if that IoU is strictly > ``iou_thresh`` (0.5); on equal IoUs the first box in the label
  file wins (``current_iou > max_iou``). It never falls back to a second-best box.
- TP / FP at ``conf_thresh`` (0.25): over candidates with score strictly > 0.25, per image in score
  order, a candidate is TP if it has a box that no earlier candidate of the image took, else FP
  (also when it has no box). FN = ground-truth boxes - TP. Precision = TP / (TP + FP), recall =
  TP / (TP + FN), F1 = 2PR / (P + R). Average IoU = sum of the TPs' IoUs / (TP + FP): darknet
  divides by every detection above the threshold, not by TP.
- AP per class: all candidates of all images pooled and sorted by score, descending; a candidate is
  TP the first time its box is taken, FP afterwards or without a box; precision and recall at every
  rank; AP = sum over ranks of (recall[r+1] - recall[r]) x max(precision[r:]) plus recall[0] x
  max(precision) for the stretch from recall 0 ("area under the curve for each unique recall",
  running-max precision envelope, nothing added at recall 1). mAP = mean of the APs of the
  categories (the cfg's classes).

  ``legacy_ap=True`` leaves out that first stretch, as darknet did before AlexeyAB/darknet PR #6151
  (July 2020; issue #6040): the paper's runs (2019) may have used that version. With thousands of
  ground-truth boxes the difference is about precision[0] / boxes (< 0.01 points in Table 2).
- Ties in score: darknet sorts with ``qsort`` (unstable, so ties come in an unspecified order); here
  ties keep the order of the prediction file (images, then labels within an image).
- "Per image in score order" is darknet's order with one class (ours). With several classes darknet
  walks an image's detections in the order ``do_nms_sort`` leaves them (by the last class's score);
  here each class is walked by its own score, which can differ from darknet in rare multi-class cases.

Boxes are compared in pixels here, darknet compares them in normalised image coordinates. That gives
the same IoU: scaling x by s_x and y by s_y (per image) scales every intersection and every box area
by s_x s_y, so the ratio intersection / union does not change. Image sizes are therefore not needed.

Computation: predictions and ground truth become numpy arrays sorted by (image, class, score);
each prediction is paired with the ground-truth boxes of its own image and class only (in chunks,
so memory stays bounded); the best box per prediction is a segmented arg-max; "first time taken"
is the first occurrence of each box index in that order. No Python loop runs per box pair.

JSON written by ``--out`` (consumed by Table 2; fractions, not percent)::

    tp, fp, fn            int     counts at conf_thresh (summed over classes)
    precision, recall, f1 float   at conf_thresh; null when undefined (0/0)
    average_iou           float   sum of TP IoUs / (TP + FP); 0 when TP + FP = 0
    ap                    {category: float}   AP per class
    map                   float   mean AP over the categories at iou_thresh
    map50                 float   = map when iou_thresh = 0.5, else null
    per_class             {category: {ap, tp, fp, fn, truth, detections}}
    conf_thresh, iou_thresh, candidate_thresh   float
    detections_count      int     candidates (score > candidate_thresh)
    unique_truth_count    int     ground-truth boxes of the categories
    n_images              int     frames in the ground truth
    pred_frames_unmatched int     prediction frames whose name is not in the ground truth (ignored)
    gt_frames_without_pred int    ground-truth frames with no prediction frame (no detections)
    ap_method             str     "darknet-auc" or "darknet-auc-legacy"

CSV written by ``--pr-curve``: one row per candidate of each class in pooled score order with
``category, rank, score, tp, fp, fn, precision, recall`` (cumulative counts at that rank).
"""

from __future__ import annotations

import json
import math
import os
import sys
from dataclasses import dataclass, field

import numpy as np

from cycleaug.atomic import atomic_path, write_json
from cycleaug.errors import CycleAugError
from cycleaug.labels import PERSON, Frame, read_frames

CANDIDATE_THRESH = 0.005  # validate_detector_map: const float thresh = .005
PAIR_CHUNK = 4_000_000  # prediction/ground-truth pairs processed at once (about 200 MB of temporaries)


@dataclass
class ClassCurve:
    """Pooled precision-recall curve of one class, at that class's candidates only."""

    rank: np.ndarray  # rank in the pooled order of all candidates
    score: np.ndarray
    tp: np.ndarray
    fp: np.ndarray
    fn: np.ndarray
    precision: np.ndarray
    recall: np.ndarray


@dataclass
class EvalResult:
    categories: list[str]
    ap: list[float]
    tp_per_class: list[int]
    fp_per_class: list[int]
    truth_per_class: list[int]
    detections_per_class: list[int]
    iou_sum: float
    conf_thresh: float
    iou_thresh: float
    candidate_thresh: float
    n_images: int
    legacy_ap: bool = False
    pred_frames_unmatched: int = 0
    gt_frames_without_pred: int = 0
    curves: dict[str, ClassCurve] = field(default_factory=dict, repr=False)

    @property
    def tp(self) -> int:
        return int(sum(self.tp_per_class))

    @property
    def fp(self) -> int:
        return int(sum(self.fp_per_class))

    @property
    def unique_truth_count(self) -> int:
        return int(sum(self.truth_per_class))

    @property
    def fn(self) -> int:
        return self.unique_truth_count - self.tp

    @property
    def detections_count(self) -> int:
        return int(sum(self.detections_per_class))

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else math.nan

    @property
    def recall(self) -> float:
        return self.tp / self.unique_truth_count if self.unique_truth_count else math.nan

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if (p + r) > 0 else math.nan

    @property
    def average_iou(self) -> float:
        return self.iou_sum / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def map(self) -> float:
        return float(np.mean(self.ap)) if self.ap else 0.0

    def to_json(self) -> dict:
        def num(x):
            return None if x is None or (isinstance(x, float) and math.isnan(x)) else x

        per_class = {
            name: {
                "ap": self.ap[i],
                "tp": self.tp_per_class[i],
                "fp": self.fp_per_class[i],
                "fn": self.truth_per_class[i] - self.tp_per_class[i],
                "truth": self.truth_per_class[i],
                "detections": self.detections_per_class[i],
            }
            for i, name in enumerate(self.categories)
        }
        return {
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "precision": num(self.precision),
            "recall": num(self.recall),
            "f1": num(self.f1),
            "average_iou": self.average_iou,
            "ap": dict(zip(self.categories, self.ap)),
            "map": self.map,
            "map50": self.map if self.iou_thresh == 0.5 else None,
            "per_class": per_class,
            "conf_thresh": self.conf_thresh,
            "iou_thresh": self.iou_thresh,
            "candidate_thresh": self.candidate_thresh,
            "detections_count": self.detections_count,
            "unique_truth_count": self.unique_truth_count,
            "n_images": self.n_images,
            "pred_frames_unmatched": self.pred_frames_unmatched,
            "gt_frames_without_pred": self.gt_frames_without_pred,
            "ap_method": "darknet-auc-legacy" if self.legacy_ap else "darknet-auc",
        }

    def darknet_report(self) -> str:
        """The lines darknet's ``validate_detector_map`` prints, with its printf formats."""
        f32 = np.float32
        tp, fp, fn = self.tp, self.fp, self.fn
        # darknet computes these three in float (src/detector.c), so round them as float too.
        with np.errstate(divide="ignore", invalid="ignore"):
            p = f32(tp) / (f32(tp) + f32(fp))
            r = f32(tp) / (f32(tp) + f32(fn))
            f1 = f32(2.0) * p * r / (p + r)
        lines = [f"\n detections_count = {self.detections_count}, unique_truth_count = {self.unique_truth_count}  "]
        for i, name in enumerate(self.categories):
            lines.append(
                f"class_id = {i}, name = {name}, ap = {self.ap[i] * 100:2.2f}%   \t "
                f"(TP = {self.tp_per_class[i]}, FP = {self.fp_per_class[i]}) "
            )
        lines.append(
            f"\n for conf_thresh = {_c(self.conf_thresh, '1.2f')}, precision = {_c(p, '1.2f')}, "
            f"recall = {_c(r, '1.2f')}, F1-score = {_c(f1, '1.2f')} "
        )
        lines.append(
            f" for conf_thresh = {_c(self.conf_thresh, '0.2f')}, TP = {tp}, FP = {fp}, FN = {fn}, "
            f"average IoU = {self.average_iou * 100:2.2f} % "
        )
        lines.append(
            f"\n IoU threshold = {self.iou_thresh * 100:2.0f} %, used Area-Under-Curve for each unique Recall "
        )
        lines.append(
            f" mean average precision (mAP@{self.iou_thresh:0.2f}) = {self.map:f}, or {self.map * 100:2.2f} % "
        )
        return "\n".join(lines) + "\n"


def _c(x, fmt: str) -> str:
    """printf of a float as glibc on x86 prints it: 0/0 in float is a negative NaN, shown as -nan."""
    x = float(x)
    return "-nan" if math.isnan(x) else format(x, fmt)


# ------------------------------------------------------------------------------------------------
# Frames -> arrays


@dataclass
class Labels:
    """Boxes of a set of frames as arrays: frame index, class index, (x1, y1, x2, y2), score (or NaN)."""

    names: list[str]
    frame: np.ndarray
    cls: np.ndarray
    boxes: np.ndarray
    scores: np.ndarray


def _labels_from_rows(names: list[str], rows: list[tuple]) -> Labels:
    a = np.array(rows, dtype=np.float64).reshape(-1, 7)
    return Labels(names, a[:, 0].astype(np.int64), a[:, 1].astype(np.int64), a[:, 2:6], a[:, 6])


def frames_to_labels(frames: list[Frame], categories: list[str]) -> Labels:
    """In-memory frames -> arrays; boxes of other categories are left out."""
    cat_index = {c: i for i, c in enumerate(categories)}
    nan = math.nan
    rows = [
        (i, cat_index[b.category], b.x1, b.y1, b.x2, b.y2, nan if b.score is None else b.score)
        for i, f in enumerate(frames)
        for b in f.boxes
        if b.category in cat_index
    ]
    return _labels_from_rows([f.name for f in frames], rows)


def read_labels(path: str | os.PathLike, categories: list[str]) -> Labels:
    """A BDD100K label file -> arrays, the same as ``frames_to_labels(read_frames(path), ...)``.

    Prediction files hold ~100 boxes per image; building a ``Box`` object for each costs more than
    the evaluation itself, so well-formed files are read straight into arrays. Anything unusual
    (a missing key, a non-numeric or inverted box) goes through ``read_frames``, which reports it."""
    cat_index = {c: i for i, c in enumerate(categories)}
    nan = math.nan
    try:
        with open(path) as f:
            data = json.load(f)
        names = [item["name"] for item in data]
        rows = [
            (i, cat_index[label["category"]], b["x1"], b["y1"], b["x2"], b["y2"], label.get("score", nan))
            for i, item in enumerate(data)
            for label in (item.get("labels") or [])
            if (b := label.get("box2d")) is not None and label.get("category") in cat_index
        ]
        labels = _labels_from_rows(names, rows)  # numpy turns a JSON null score into NaN
        bad = (labels.boxes[:, 2] < labels.boxes[:, 0]) | (labels.boxes[:, 3] < labels.boxes[:, 1])
        if bad.any() or not all(isinstance(n, str) for n in names):
            raise ValueError("inverted box or non-string name")
        return labels
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        frames = read_frames(path, categories=set(categories))  # raises CycleAugError naming the problem
        return frames_to_labels(frames, categories)


def _unique_names(names: list[str], what: str) -> None:
    if len(set(names)) != len(names):
        seen, dup = set(), []
        for n in names:
            if n in seen:
                dup.append(n)
            seen.add(n)
        raise CycleAugError(f"{what}: frame names repeat ({', '.join(dup[:3])}); expected one frame per image")


# ------------------------------------------------------------------------------------------------
# The matching


def _pair_iou(d: np.ndarray, g: np.ndarray) -> np.ndarray:
    """IoU of row-aligned boxes (x1, y1, x2, y2); 0 when there is no overlap or no union (box_iou, src/box.c)."""
    iw = np.minimum(d[:, 2], g[:, 2]) - np.maximum(d[:, 0], g[:, 0])
    ih = np.minimum(d[:, 3], g[:, 3]) - np.maximum(d[:, 1], g[:, 1])
    inter = np.where((iw > 0) & (ih > 0), iw * ih, 0.0)
    union = (d[:, 2] - d[:, 0]) * (d[:, 3] - d[:, 1]) + (g[:, 2] - g[:, 0]) * (g[:, 3] - g[:, 1]) - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where((inter > 0) & (union > 0), inter / union, 0.0)


def match_detections(
    d_key: np.ndarray, d_box: np.ndarray, g_key: np.ndarray, g_box: np.ndarray, iou_thresh: float
) -> tuple[np.ndarray, np.ndarray]:
    """For every detection, the index of the ground-truth box of the same key (image, class) with the
    highest IoU, if that IoU > ``iou_thresh`` (first box on ties), else -1; and that IoU.

    ``g_key`` must be sorted; boxes of equal key keep their file order."""
    n = d_key.size
    best = np.full(n, -1, dtype=np.int64)
    best_iou = np.zeros(n, dtype=np.float64)
    if n == 0 or g_key.size == 0:
        return best, best_iou
    start = np.searchsorted(g_key, d_key, side="left")
    counts = np.searchsorted(g_key, d_key, side="right") - start
    ends = np.cumsum(counts)
    a = 0
    while a < n:
        # Largest b such that detections a..b-1 bring at most PAIR_CHUNK pairs (always at least one detection).
        base = ends[a - 1] if a else 0
        b = max(a + 1, int(np.searchsorted(ends, base + PAIR_CHUNK, side="right")))
        b = min(b, n)
        cnt = counts[a:b]
        has = cnt > 0
        if has.any():
            det = np.repeat(np.arange(a, b), cnt)
            seg_start = np.concatenate(([0], np.cumsum(cnt)[:-1]))
            gt = start[det] + (np.arange(det.size) - np.repeat(seg_start, cnt))
            iou = _pair_iou(d_box[det], g_box[gt])
            masked = np.where(iou > iou_thresh, iou, -1.0)
            starts = seg_start[has]
            seg_max = np.maximum.reduceat(masked, starts)
            is_best = (masked == np.repeat(seg_max, cnt[has])) & (masked >= 0)
            first = np.minimum.reduceat(np.where(is_best, np.arange(det.size), det.size), starts)
            ok = first < det.size
            rows = np.arange(a, b)[has][ok]
            best[rows] = gt[first[ok]]
            best_iou[rows] = iou[first[ok]]
        a = b
    return best, best_iou


def ranked_matches(
    key: np.ndarray, det_box: np.ndarray, det_score: np.ndarray, g_key: np.ndarray, g_box: np.ndarray, iou_thresh: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """darknet's TP/FP decision for detections with keys (image, class) against sorted ground truth.

    Returns ``order`` (the detections by key, score-descending within a key), ``is_tp`` and the IoU with
    the chosen box in that order, and ``pooled``: positions into ``order`` in the pooled ranking of all
    images by score (ties as within an image). A detection is TP the first time its box is taken."""
    # By score (descending; stable, so equal scores keep their input order), then by key with a stable
    # sort, which keeps the score order inside each image and class.
    by_score = np.argsort(-det_score, kind="stable")
    order = by_score[np.argsort(key[by_score], kind="stable")]
    best, best_iou = match_detections(key[order], det_box[order], g_key, g_box, iou_thresh)
    matched = np.flatnonzero(best >= 0)
    _, first = np.unique(best[matched], return_index=True)
    is_tp = np.zeros(order.size, dtype=bool)
    is_tp[matched[first]] = True
    # ``by_score`` mapped through the inverse of ``order``.
    position = np.empty_like(order)
    position[order] = np.arange(order.size)
    return order, is_tp, best_iou, position[by_score]


def darknet_ap(tp: np.ndarray, fp: np.ndarray, truth: float, legacy: bool = False):
    """(AP, precision, recall) from cumulative TP and FP counts in pooled score order (see the module
    docstring: running-max precision envelope, plus the stretch from recall 0 unless ``legacy``)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(tp + fp > 0, tp / np.maximum(tp + fp, 1), 0.0)
    recall = tp / truth if truth else np.zeros(tp.size)
    ap = 0.0
    if tp.size:
        envelope = np.maximum.accumulate(precision[::-1])[::-1]  # max(precision[r:])
        ap = float(np.sum(np.diff(recall) * envelope[:-1]))
        if not legacy:
            ap += float(recall[0] * envelope[0])
    return ap, precision, recall


def evaluate_arrays(
    gt_img,
    gt_cls,
    gt_box,
    det_img,
    det_cls,
    det_box,
    det_score,
    n_classes: int,
    conf_thresh: float = 0.25,
    iou_thresh: float = 0.5,
    candidate_thresh: float = CANDIDATE_THRESH,
    legacy_ap: bool = False,
) -> dict:
    """The core of :func:`evaluate_frames` on arrays (image index, class index, x1 y1 x2 y2, score)."""
    keep = det_score > candidate_thresh
    det_img, det_cls, det_box, det_score = det_img[keep], det_cls[keep], det_box[keep], det_score[keep]
    g_key = gt_img * n_classes + gt_cls
    g_order = np.argsort(g_key, kind="stable")
    g_key, g_box = g_key[g_order], gt_box[g_order]
    g_cls = gt_cls[g_order]
    key = det_img * n_classes + det_cls
    order, is_tp, best_iou, pooled = ranked_matches(key, det_box, det_score, g_key, g_box, iou_thresh)
    d_score, d_cls = det_score[order], det_cls[order]

    above = d_score > conf_thresh
    truth = np.bincount(g_cls, minlength=n_classes)
    dets = np.bincount(d_cls, minlength=n_classes)
    tp_c = np.bincount(d_cls[is_tp & above], minlength=n_classes)
    fp_c = np.bincount(d_cls[~is_tp & above], minlength=n_classes)
    iou_sum = float(best_iou[is_tp & above].sum())

    # Pooled ranking over all images (and classes, as darknet does), by score, descending.
    p_tp, p_cls, p_score = is_tp[pooled], d_cls[pooled], d_score[pooled]
    aps, curves = [], []
    for c in range(n_classes):
        mine = p_cls == c
        tp = np.cumsum(p_tp & mine)
        fp = np.cumsum(~p_tp & mine)
        ap, precision, recall = darknet_ap(tp, fp, truth[c], legacy_ap)
        aps.append(ap)
        idx = np.flatnonzero(mine)
        curves.append(ClassCurve(idx, p_score[idx], tp[idx], fp[idx], truth[c] - tp[idx], precision[idx], recall[idx]))
    return {
        "ap": aps,
        "tp": tp_c.tolist(),
        "fp": fp_c.tolist(),
        "truth": truth.tolist(),
        "dets": dets.tolist(),
        "iou_sum": iou_sum,
        "curves": curves,
    }


def evaluate_labels(
    gt: Labels,
    pred: Labels,
    categories: list[str],
    conf_thresh: float = 0.25,
    iou_thresh: float = 0.5,
    candidate_thresh: float = CANDIDATE_THRESH,
    legacy_ap: bool = False,
) -> EvalResult:
    """darknet ``detector map`` figures; the image set is the ground truth's frames, predictions are
    matched to them by frame name (prediction frames of other images are ignored and counted)."""
    _unique_names(gt.names, "ground truth")
    _unique_names(pred.names, "predictions")
    image_of = {name: i for i, name in enumerate(gt.names)}
    pred_image = np.array([image_of.get(name, -1) for name in pred.names], dtype=np.int64)
    det_img = pred_image[pred.frame] if pred.frame.size else pred.frame
    known = det_img >= 0
    if np.isnan(pred.scores[known]).any():
        k = int(np.flatnonzero(known & np.isnan(pred.scores))[0])
        raise CycleAugError(f"predictions: a label in frame {pred.names[pred.frame[k]]!r} has no 'score'")
    out = evaluate_arrays(
        gt.frame,
        gt.cls,
        gt.boxes,
        det_img[known],
        pred.cls[known],
        pred.boxes[known],
        pred.scores[known],
        len(categories),
        conf_thresh,
        iou_thresh,
        candidate_thresh,
        legacy_ap,
    )
    matched_frames = int((pred_image >= 0).sum())
    return EvalResult(
        list(categories),
        out["ap"],
        out["tp"],
        out["fp"],
        out["truth"],
        out["dets"],
        out["iou_sum"],
        conf_thresh,
        iou_thresh,
        candidate_thresh,
        len(gt.names),
        legacy_ap,
        pred_frames_unmatched=len(pred.names) - matched_frames,
        gt_frames_without_pred=len(gt.names) - matched_frames,
        curves=dict(zip(categories, out["curves"])),
    )


def evaluate_frames(
    gt_frames: list[Frame],
    pred_frames: list[Frame],
    categories: list[str] | None = None,
    conf_thresh: float = 0.25,
    iou_thresh: float = 0.5,
    candidate_thresh: float = CANDIDATE_THRESH,
    legacy_ap: bool = False,
) -> EvalResult:
    """:func:`evaluate_labels` on in-memory frames."""
    categories = list(categories or [PERSON])
    return evaluate_labels(
        frames_to_labels(gt_frames, categories),
        frames_to_labels(pred_frames, categories),
        categories,
        conf_thresh,
        iou_thresh,
        candidate_thresh,
        legacy_ap,
    )


def write_pr_curve(result: EvalResult, path: str | os.PathLike) -> None:
    import pandas as pd

    parts = []
    for name, c in result.curves.items():
        parts.append(
            pd.DataFrame(
                {
                    "category": name,
                    "rank": c.rank,
                    "score": c.score,
                    "tp": c.tp,
                    "fp": c.fp,
                    "fn": c.fn,
                    "precision": c.precision,
                    "recall": c.recall,
                }
            )
        )
    table = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False, float_format="%.6g")


def run_evaluation(
    gt_path,
    pred_path,
    categories: list[str] | None = None,
    conf_thresh: float = 0.25,
    iou_thresh: float = 0.5,
    legacy_ap: bool = False,
    out_json=None,
    pr_csv=None,
    stream=None,
) -> EvalResult:
    """Read the two label files, print darknet's lines, write the JSON and CSV outputs if asked."""
    stream = stream or sys.stdout
    categories = list(categories or [PERSON])
    gt = frames_to_labels(read_frames(gt_path, categories=set(categories)), categories)
    preds = read_labels(pred_path, categories)
    result = evaluate_labels(gt, preds, categories, conf_thresh, iou_thresh, legacy_ap=legacy_ap)
    if result.pred_frames_unmatched:
        print(
            f"warning: {result.pred_frames_unmatched} prediction frames are not in {gt_path} and were ignored",
            file=sys.stderr,
        )
    if result.gt_frames_without_pred:
        print(
            f"warning: {result.gt_frames_without_pred} of {result.n_images} ground-truth frames have no "
            f"prediction frame in {pred_path}; counted as images without detections",
            file=sys.stderr,
        )
    stream.write(result.darknet_report())
    stream.flush()
    if out_json:
        write_json(out_json, result.to_json())
    if pr_csv:
        write_pr_curve(result, pr_csv)
    return result
