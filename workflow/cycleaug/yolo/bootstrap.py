"""Uncertainty of Table 2's mAP@0.50: a bootstrap over validation images (Efron & Tibshirani 1993, the
percentile interval), paired across conditions.

Each resample draws the validation images with replacement. A condition's mAP on a resample is darknet's
AP (cycleaug.yolo.evaluate: pooled score order, running-max precision envelope) with every image counted
as often as it was drawn: a detection is TP or FP by matching *within its image*, which resampling does
not change, so the TP/FP flags are computed once and a resample only re-weights them. An image drawn k
times adds k to the cumulative TP/FP at each of its detections and k x its boxes to the truth count; this
equals evaluating the literally duplicated set (the copies of a detection are adjacent in the pooled
order, and a TP run gains nothing from splitting; tests/test_yolo_bootstrap.py checks it against
evaluate_frames on duplicated frames).

Paired: every condition is evaluated on the same resamples, so the difference to condition (a) (or (b))
per resample gives an interval for the difference itself, which is much narrower than the two marginal
intervals suggest when the conditions err on the same images.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cycleaug.errors import CycleAugError
from cycleaug.labels import PERSON, Frame
from cycleaug.yolo.evaluate import CANDIDATE_THRESH, darknet_ap, frames_to_labels, ranked_matches

N_RESAMPLES, CONFIDENCE = 1000, 0.95


@dataclass
class Pooled:
    """One condition's candidates on the validation images, in darknet's pooled score order."""

    image: np.ndarray  # image index of each candidate
    is_tp: np.ndarray  # bool
    truth_per_image: np.ndarray  # ground-truth boxes per image


def pool(gt_frames: list[Frame], pred_frames: list[Frame], iou_thresh: float = 0.5) -> Pooled:
    """TP/FP of every candidate (score > 0.005) as evaluate_arrays decides it, in pooled score order."""
    gt = frames_to_labels(gt_frames, [PERSON])
    pred = frames_to_labels(pred_frames, [PERSON])
    image_of = {name: i for i, name in enumerate(gt.names)}
    unknown = [n for n in pred.names if n not in image_of]
    if unknown:
        raise CycleAugError(f"predictions for images not in the validation set, e.g. {unknown[0]!r}")
    det_img = np.array([image_of[n] for n in pred.names], dtype=np.int64)[pred.frame] if pred.frame.size else pred.frame
    keep = pred.scores > CANDIDATE_THRESH
    det_img = det_img[keep]
    g_order = np.argsort(gt.frame, kind="stable")
    order, is_tp, _, pooled = ranked_matches(
        det_img, pred.boxes[keep], pred.scores[keep], gt.frame[g_order], gt.boxes[g_order], iou_thresh
    )
    truth = np.bincount(gt.frame, minlength=len(gt.names))
    return Pooled(det_img[order][pooled], is_tp[pooled], truth)


def weighted_ap(p: Pooled, weights: np.ndarray) -> float:
    """darknet's AP with image ``i`` counted ``weights[i]`` times (weights of ones: the plain AP)."""
    w = weights[p.image]
    return darknet_ap(np.cumsum(w * p.is_tp), np.cumsum(w * ~p.is_tp), int(np.dot(weights, p.truth_per_image)))[0]


def resample_weights(n_images: int, n: int = N_RESAMPLES, seed: int = 0) -> np.ndarray:
    """``n`` x ``n_images`` draw counts: row b says how often each image is in resample b."""
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n_images, size=(n, n_images))
    return np.stack([np.bincount(d, minlength=n_images) for d in draws])


def interval(values: np.ndarray, confidence: float = CONFIDENCE) -> tuple[float, float]:
    lo, hi = np.quantile(values, [(1 - confidence) / 2, (1 + confidence) / 2])
    return float(lo), float(hi)


def bootstrap_table(
    gt_frames: list[Frame],
    predictions: dict[str, list[Frame]],
    references: Sequence[str] = (),
    n: int = N_RESAMPLES,
    seed: int = 0,
    confidence: float = CONFIDENCE,
) -> dict[str, dict]:
    """Per condition: mAP@0.50 (fraction) on the validation set, its percentile interval, and under
    ``"vs"`` for each other condition of ``references`` the paired difference to it (``diff``), its
    interval (``diff_ci``) and the share of resamples above 0 (``p_better``)."""
    unknown = [r for r in references if r not in predictions]
    if unknown:
        raise CycleAugError(f"bootstrap reference {unknown[0]!r} has no predictions")
    weights = resample_weights(len(gt_frames), n, seed)
    pooled = {name: pool(gt_frames, frames) for name, frames in predictions.items()}
    ones = np.ones(len(gt_frames), dtype=np.int64)
    aps = {name: np.array([weighted_ap(p, w) for w in weights]) for name, p in pooled.items()}
    plain = {name: weighted_ap(p, ones) for name, p in pooled.items()}
    out = {}
    for name in pooled:
        vs = {}
        for ref in references:
            if ref != name:
                diff = aps[name] - aps[ref]
                vs[ref] = {
                    "diff": plain[name] - plain[ref],
                    "diff_ci": interval(diff, confidence),
                    "p_better": float((diff > 0).mean()),
                }
        out[name] = {"map50": plain[name], "ci": interval(aps[name], confidence), "vs": vs}
    return out
