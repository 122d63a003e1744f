"""Raw ``[yolo]`` head outputs -> scored candidate boxes, as darknet's ``get_yolo_detections``.

For the head at grid W x H on a network input of net_w x net_h (stride = net_w / W), anchor ``a``
(from the layer's mask) and cell (col, row), with t = the 5 + C raw channels of that anchor
(AlexeyAB/darknet ``src/yolo_layer.c``: ``forward_yolo_layer`` applies the logistic to x, y,
objectness and classes; ``get_yolo_box`` builds the box; ``get_yolo_detections`` thresholds):

    x = (col + sigmoid(t_x)) / W          i.e. (sigmoid + cell) x stride in network pixels
    y = (row + sigmoid(t_y)) / H
    w = exp(t_w) x anchor_w / net_w       i.e. exp(t_w) x anchor in network pixels
    h = exp(t_h) x anchor_h / net_h
    objectness = sigmoid(t_obj); a cell/anchor is a candidate only when objectness > thresh
    score_c = objectness x sigmoid(t_c); class c is kept when score_c > thresh

(also with one class: the class logit stays in the product, as darknet computes it). Boxes come
out as (x1, y1, x2, y2) in coordinates normalised to the network input, which equal normalised
image coordinates because the image is stretched to the network size (no letterbox; darknet's
``validate_detector_map`` passes w = h = 1 to ``get_network_boxes`` for the same reason). Boxes
are not clipped to the image: darknet's ``detector map`` does not clip either.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from cycleaug.yolo.cfg import Yolo


@dataclass
class Candidates:
    """Candidates of one image: boxes (N, 4) normalised x1, y1, x2, y2; scores (N,); classes (N,)."""

    boxes: torch.Tensor
    scores: torch.Tensor
    classes: torch.Tensor


def decode_head(head: torch.Tensor, spec: Yolo, net_w: int, net_h: int, thresh: float):
    """One head's candidates as (image index, boxes, scores, classes) over the whole batch."""
    b, _, gh, gw = head.shape
    na, nc = len(spec.mask), spec.classes
    p = head.float().view(b, na, 5 + nc, gh, gw).permute(0, 1, 3, 4, 2)  # (B, A, H, W, 5 + C)
    obj = torch.sigmoid(p[..., 4])
    scores = obj.unsqueeze(-1) * torch.sigmoid(p[..., 5:])
    keep = (obj > thresh).unsqueeze(-1) & (scores > thresh)
    bi, ai, yi, xi, ci = keep.nonzero(as_tuple=True)
    t = p[bi, ai, yi, xi]  # (N, 5 + C)
    anchors = torch.tensor(spec.masked_anchors, dtype=torch.float32, device=head.device)
    cx = (xi.float() + torch.sigmoid(t[:, 0])) / gw
    cy = (yi.float() + torch.sigmoid(t[:, 1])) / gh
    w = torch.exp(t[:, 2]) * anchors[ai, 0] / net_w
    h = torch.exp(t[:, 3]) * anchors[ai, 1] / net_h
    boxes = torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], dim=1)
    return bi, boxes, scores[bi, ai, yi, xi, ci], ci


def decode(
    heads: list[torch.Tensor], specs: tuple[Yolo, ...], net_w: int, net_h: int, thresh: float = 0.005
) -> list[Candidates]:
    """All heads of a batch -> one ``Candidates`` per image (a box appears once per class it passes)."""
    batch = heads[0].shape[0]
    parts = [decode_head(h, s, net_w, net_h, thresh) for h, s in zip(heads, specs)]
    bi = torch.cat([p[0] for p in parts])
    boxes = torch.cat([p[1] for p in parts])
    scores = torch.cat([p[2] for p in parts])
    classes = torch.cat([p[3] for p in parts])
    out = []
    for i in range(batch):
        sel = bi == i
        out.append(Candidates(boxes[sel], scores[sel], classes[sel]))
    return out
