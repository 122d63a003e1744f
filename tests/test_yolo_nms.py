"""Decoding of [yolo] outputs against a hand computation, and darknet's greedy per-class NMS."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from conftest import plain_iou
from cycleaug.yolo.cfg import Yolo
from cycleaug.yolo.decode import Candidates, decode
from cycleaug.yolo.nms import nms_per_class

torch.set_num_threads(1)


def test_decode_matches_hand_computation():
    # 2 anchors (mask 0, 1), 2 classes, a 3 x 2 grid on a 96 x 64 network input: stride 32.
    spec = Yolo(0, 1, mask=(0, 1), anchors=((10, 20), (30, 40)), classes=2)
    head = torch.full((1, 2 * 7, 2, 3), -10.0)  # everything far below the 0.005 threshold...
    a, row, col = 1, 1, 2  # ...except anchor 1 at row 1, column 2
    t = head[0, a * 7 : (a + 1) * 7, row, col]
    t[0], t[1] = 0.0, math.log(3)  # sigmoid: 0.5, 0.75
    t[2], t[3] = math.log(2), 0.0  # exp: 2, 1
    t[4] = 0.0  # objectness 0.5
    t[5], t[6] = math.log(0.25 / 0.75), -10.0  # class 0: 0.25 -> score 0.125; class 1: below threshold
    (c,) = decode([head], (spec,), 96, 64, thresh=0.005)
    # by hand, in network pixels: x = (2 + 0.5) * 32 = 80, y = (1 + 0.75) * 32 = 56, w = 2 * 30 = 60, h = 1 * 40 = 40
    x, y, w, h = 80.0, 56.0, 60.0, 40.0
    expected = torch.tensor([[(x - w / 2) / 96, (y - h / 2) / 64, (x + w / 2) / 96, (y + h / 2) / 64]])
    torch.testing.assert_close(c.boxes, expected)
    torch.testing.assert_close(c.scores, torch.tensor([0.125]))
    assert c.classes.tolist() == [0]


def test_decode_thresholds_objectness_and_score_strictly():
    spec = Yolo(0, 1, mask=(0,), anchors=((8, 8),), classes=1)
    head = torch.zeros(2, 6, 1, 2)
    logit = lambda p: math.log(p / (1 - p))  # noqa: E731
    head[0, 4, 0, 0], head[0, 5, 0, 0] = logit(0.5), logit(0.02)  # score 0.01: kept
    head[0, 4, 0, 1], head[0, 5, 0, 1] = logit(0.004), 30.0  # objectness 0.004 <= 0.005: no candidate
    head[1, 4, 0, :] = logit(0.9)
    head[1, 5, 0, :] = logit(0.005 / 0.9 * 0.999)  # score just under 0.005: dropped
    out = decode([head], (spec,), 64, 32, thresh=0.005)
    assert [len(c.scores) for c in out] == [1, 0]
    assert out[0].scores.item() == pytest.approx(0.01, rel=1e-5)


def _greedy_reference(boxes, scores, classes, thresh):
    """do_nms_sort (src/box.c) written out: per class, by score, a live box kills later boxes with IoU > thresh."""
    keep = []
    for c in sorted(set(classes)):
        idx = sorted((i for i in range(len(scores)) if classes[i] == c), key=lambda i: -scores[i])
        alive = {i: True for i in idx}
        for n, i in enumerate(idx):
            if not alive[i]:
                continue
            keep.append(i)
            for j in idx[n + 1 :]:
                if plain_iou(boxes[i], boxes[j]) > thresh:
                    alive[j] = False
    return sorted(keep, key=lambda i: -scores[i])


def _cands(boxes, scores, classes=None):
    return Candidates(
        torch.tensor(boxes, dtype=torch.float32),
        torch.tensor(scores, dtype=torch.float32),
        torch.tensor(classes or [0] * len(scores)),
    )


def test_nms_hand_cases():
    # IoU exactly 1/2 (a box and its left half): kept at threshold 0.5 (darknet suppresses IoU > thresh only)
    pair = _cands([[0, 0, 2, 1], [0, 0, 1, 1]], [0.9, 0.8])
    assert nms_per_class(pair, 0.5).scores.tolist() == pytest.approx([0.9, 0.8])
    assert nms_per_class(pair, 0.45).scores.tolist() == pytest.approx([0.9])
    # a chain: A suppresses B (IoU 0.6), B would suppress C (IoU 0.6) but is dead; A and C: IoU 1/3 -> C stays
    chain = _cands([[0, 0, 10, 10], [2.5, 0, 12.5, 10], [5, 0, 15, 10]], [0.9, 0.8, 0.7])
    assert plain_iou([0, 0, 10, 10], [2.5, 0, 12.5, 10]) == pytest.approx(0.6)
    assert nms_per_class(chain, 0.45).scores.tolist() == pytest.approx([0.9, 0.7])
    # classes are suppressed separately, and the result comes back sorted by score
    two = _cands([[0, 0, 1, 1], [0, 0, 1, 1], [0, 0, 1, 1]], [0.3, 0.9, 0.5], [0, 1, 0])
    out = nms_per_class(two, 0.45)
    assert out.scores.tolist() == pytest.approx([0.9, 0.5]) and out.classes.tolist() == [1, 0]
    empty = nms_per_class(_cands(np.zeros((0, 4)).tolist(), []), 0.45)
    assert empty.scores.numel() == 0


def test_nms_equals_greedy_reference_on_random_boxes():
    rng = np.random.default_rng(0)
    for trial in range(20):
        n = int(rng.integers(1, 60))
        xy = rng.uniform(0, 50, (n, 2))
        wh = rng.uniform(1, 30, (n, 2))
        boxes = np.concatenate([xy, xy + wh], 1).astype(np.float32)
        scores = rng.permutation(n).astype(np.float32) / n + 0.01  # distinct scores: no tie ambiguity
        classes = rng.integers(0, 3, n).tolist()
        out = nms_per_class(_cands(boxes.tolist(), scores.tolist(), classes), 0.45)
        ref = _greedy_reference(boxes.astype(np.float64).tolist(), scores.tolist(), classes, 0.45)
        assert out.scores.tolist() == pytest.approx([float(scores[i]) for i in ref]), trial
