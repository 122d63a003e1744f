"""Greedy per-class non-maximum suppression with darknet's semantics.

darknet's ``do_nms_sort`` (AlexeyAB/darknet ``src/box.c``), for each class separately: sort the
candidates by that class's score, descending; walk down the list; a candidate whose score is still
non-zero suppresses every later candidate whose IoU with it is strictly greater than the threshold
(``if (box_iou(a, b) > thresh) prob = 0``); suppressed candidates suppress nothing. No cap on the
number of boxes kept.

``torchvision.ops.nms`` does exactly this: sort by score descending, and a kept box discards later
boxes with ``IoU > iou_threshold`` (strict; torchvision ``csrc/ops/cpu/nms_kernel.cpp`` and the
CUDA kernel). Its IoU is intersection / (area_a + area_b - intersection) on (x1, y1, x2, y2), the
same number darknet's ``box_iou`` computes from centre/size; a zero union gives NaN there and 0 in
darknet, and both then keep the box. So we use it, once per class (not ``batched_nms``, whose
coordinate-offset trick changes the float rounding). Ties in score have no defined order in either
(both sort with an unstable sort). ``tests/test_yolo_nms.py`` checks it against a plain greedy loop.
"""

from __future__ import annotations

import torch
from torchvision.ops import nms as _tv_nms

from cycleaug.yolo.decode import Candidates


def nms_per_class(cands: Candidates, iou_thresh: float = 0.45) -> Candidates:
    """Kept candidates, ordered by score descending."""
    if cands.scores.numel() == 0:
        return cands
    keep = []
    for c in torch.unique(cands.classes):
        idx = (cands.classes == c).nonzero(as_tuple=True)[0]
        kept = _tv_nms(cands.boxes[idx].float(), cands.scores[idx].float(), iou_thresh)
        keep.append(idx[kept])
    keep = torch.cat(keep)
    keep = keep[torch.argsort(cands.scores[keep], descending=True, stable=True)]
    return Candidates(cands.boxes[keep], cands.scores[keep], cands.classes[keep])
