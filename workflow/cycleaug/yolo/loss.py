"""Darknet's YOLOv3 layer loss, as a differentiable objective whose gradient is darknet's delta.

Source: ``src/yolo_layer.c`` ``forward_yolo_layer`` / ``delta_yolo_box`` / ``delta_yolo_class``
(pjreddie/darknet, and AlexeyAB/darknet before 14 Nov 2019, which agree here; with the yolov3.cfg
defaults ``iou_loss=mse``, ``cls_normalizer=1``, ``scale_x_y=1``). That is ``darknet_semantics``
mid-2019, described below; early-2020 (AlexeyAB from Nov 2019 to Mar 2020) differs in three points,
listed after it (cycleaug.yolo.semantics has the commits). Darknet writes ``delta = target - output`` and passes it back
unchanged as minus the gradient w.r.t. the layer's *raw* input z (the conv output), where
``output = sigmoid(z)`` for x, y, objectness and classes, and ``output = z`` for w, h. For every
image and every prediction (anchor ``a`` of the layer's mask at cell ``(i, j)``):

1. ``best_iou`` = highest IoU of the predicted box with any truth of the image. Objectness
   delta = 0 - sigmoid(z_obj), except none at all when ``best_iou > ignore_thresh`` (0.7), and
   target 1 with class and box deltas against that truth when ``best_iou > truth_thresh``
   (1 in yolov3.cfg: never).
2. Every truth picks the best of *all* anchors by the IoU of (w, h) alone. When that anchor is in
   this layer's mask, the cell ``(int(x * W), int(y * H))`` gets: box deltas with
   ``scale = 2 - w * h`` (w, h normalised to the input), ``tx = x * W - i``,
   ``tw = log(w * net_w / anchor_w)``: ``scale * (tx - sigmoid(z_x))`` and ``scale * (tw - z_w)``;
   objectness target 1; class targets 1 for its class, 0 for the others. Later truths on the same
   cell and anchor overwrite the box (darknet's loop order); their classes add up (delta_yolo_class).

The objective below has exactly ``dL/dz = -delta`` for every entry:

- x, y: ``scale * KL(tx || sigmoid(z))`` = scale x (binary cross-entropy with soft target tx minus
  its minimum H(tx)), so it is 0 when the prediction is exact;
- w, h: ``scale * (tw - z)^2 / 2``;
- objectness and classes: binary cross-entropy with logits (targets 0/1), objectness skipped where ignored.

early-2020: (1) an anchor is ignored only if also max over classes of sigmoid(z_class) > 0.25; (2) every
truth on a cell and anchor contributes its box term (darknet adds the deltas) and the box terms of that
anchor are divided by the number of classes with a positive class delta there (averages_yolo_deltas);
(3) the box terms are multiplied by the [yolo] layer's iou_normalizer (0.75 by default).

It is summed over the mini-batch; the trainer divides by darknet's ``batch`` (see `schedule`).
Darknet's printed cost is ``sum(delta^2)``; `yolo_loss` also returns it (``darknet_cost``) for logs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from cycleaug.yolo.semantics import DEFAULT, EARLY_2020


@dataclass(frozen=True)
class YoloHead:
    """One ``[yolo]`` section: all the cfg's anchors (input pixels), this head's mask, and its thresholds."""

    anchors: tuple[tuple[float, float], ...]
    mask: tuple[int, ...]
    classes: int
    ignore_thresh: float = 0.5
    truth_thresh: float = 1.0
    iou_normalizer: float = 0.75
    semantics: str = DEFAULT  # darknet_semantics (cycleaug.yolo.semantics)


def _iou_cxcywh(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """IoU of every box of ``a [..., P, 4]`` with every box of ``b [..., T, 4]`` (centre form) -> ``[..., P, T]``
    (darknet ``box_iou``: overlap of the intervals, 0 when they do not overlap)."""
    a = a.unsqueeze(-2)
    b = b.unsqueeze(-3)
    iw = (
        torch.minimum(a[..., 0] + a[..., 2] / 2, b[..., 0] + b[..., 2] / 2)
        - torch.maximum(a[..., 0] - a[..., 2] / 2, b[..., 0] - b[..., 2] / 2)
    ).clamp_min(0)
    ih = (
        torch.minimum(a[..., 1] + a[..., 3] / 2, b[..., 1] + b[..., 3] / 2)
        - torch.maximum(a[..., 1] - a[..., 3] / 2, b[..., 1] - b[..., 3] / 2)
    ).clamp_min(0)
    inter = iw * ih
    union = a[..., 2] * a[..., 3] + b[..., 2] * b[..., 3] - inter
    return torch.where(union > 0, inter / union.clamp_min(1e-12), torch.zeros_like(inter))


def best_anchors(wh: torch.Tensor, anchors: torch.Tensor) -> torch.Tensor:
    """Index of the anchor whose shape best overlaps each truth ``wh [T, 2]`` (both centred at 0);
    ties go to the first anchor (darknet's strict ``>``)."""
    inter = torch.minimum(wh[:, None, 0], anchors[None, :, 0]) * torch.minimum(wh[:, None, 1], anchors[None, :, 1])
    union = wh[:, None, 0] * wh[:, None, 1] + anchors[None, :, 0] * anchors[None, :, 1] - inter
    return (inter / union).argmax(dim=1)


def _kl_logits(z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Binary KL(t || sigmoid(z)) elementwise: BCE with logits minus the target's own entropy."""
    ent = torch.zeros_like(t)
    inside = (t > 0) & (t < 1)
    tt = t.clamp(1e-12, 1 - 1e-12)
    ent = torch.where(inside, -(tt * tt.log() + (1 - tt) * (1 - tt).log()), ent)
    return F.binary_cross_entropy_with_logits(z, t, reduction="none") - ent


def head_loss(raw: torch.Tensor, head: YoloHead, targets: torch.Tensor, net_w: int, net_h: int) -> dict:
    """Loss of one head. ``raw``: ``[N, len(mask) * (5 + classes), H, W]``; ``targets``: ``[K, 6]`` rows of
    (image index, class, cx, cy, w, h) normalised to the network input."""
    n, _, gh, gw = raw.shape
    na, nc = len(head.mask), head.classes
    z = raw.view(n, na, 5 + nc, gh, gw).permute(0, 1, 3, 4, 2)  # [N, A, H, W, 5 + C]
    dev, dt = raw.device, raw.dtype
    all_anchors = torch.tensor(head.anchors, dtype=dt, device=dev)
    mask = torch.tensor(head.mask, dtype=torch.long, device=dev)
    anchors = all_anchors[mask]  # [A, 2] in input pixels

    # Predicted boxes (no gradient: they only decide which objectness terms count).
    with torch.no_grad():
        zd = z.detach()
        gy, gx = torch.meshgrid(
            torch.arange(gh, device=dev, dtype=dt), torch.arange(gw, device=dev, dtype=dt), indexing="ij"
        )
        pred = torch.stack(
            [
                (gx + torch.sigmoid(zd[..., 0])) / gw,
                (gy + torch.sigmoid(zd[..., 1])) / gh,
                torch.exp(zd[..., 2]) * anchors[:, 0].view(1, na, 1, 1) / net_w,
                torch.exp(zd[..., 3]) * anchors[:, 1].view(1, na, 1, 1) / net_h,
            ],
            dim=-1,
        ).view(n, -1, 4)  # [N, P, 4]

        img = targets[:, 0].long()
        counts = torch.bincount(img, minlength=n) if len(targets) else torch.zeros(n, dtype=torch.long, device=dev)
        tmax = int(counts.max()) if len(targets) else 0
        best_iou = torch.zeros(n, pred.shape[1], dtype=dt, device=dev)
        best_t = torch.zeros(n, pred.shape[1], dtype=torch.long, device=dev)
        if tmax:
            order = torch.argsort(img, stable=True)
            slot = torch.arange(len(targets), device=dev) - torch.cumsum(counts, 0)[img[order]] + counts[img[order]]
            padded = torch.zeros(n, tmax, 4, dtype=dt, device=dev)
            valid = torch.zeros(n, tmax, dtype=torch.bool, device=dev)
            padded[img[order], slot] = targets[order, 2:6].to(dt)
            valid[img[order], slot] = True
            iou = _iou_cxcywh(pred, padded).masked_fill(~valid[:, None, :], 0.0)
            best_iou, best_slot = iou.max(dim=2)
            # slot -> row of `targets` for the truth_thresh branch
            rows = torch.full((n, tmax), -1, dtype=torch.long, device=dev)
            rows[img[order], slot] = order
            best_t = rows.gather(1, best_slot)

    early = head.semantics == EARLY_2020
    if early and head.truth_thresh < 1:
        raise ValueError("truth_thresh < 1 is not modelled with darknet_semantics early-2020")
    ignored = best_iou > head.ignore_thresh
    if early:  # compare_yolo_class: some class's probability at that anchor above 0.25
        ignored &= (torch.sigmoid(zd[..., 5:]) > 0.25).any(-1).view(n, -1)
    shape = (n, na, gh, gw)
    obj_t = torch.zeros(shape, dtype=dt, device=dev)
    obj_w = (~ignored).to(dt).view(shape)
    box_t = torch.zeros(shape + (4,), dtype=dt, device=dev)
    box_w = torch.zeros(shape, dtype=dt, device=dev)
    cls_t = torch.zeros(shape + (nc,), dtype=dt, device=dev)
    cls_w = torch.zeros(shape, dtype=dt, device=dev)

    def assign(flat: torch.Tensor, rows: torch.Tensor, anchor_wh: torch.Tensor, cell_i, cell_j):
        """Box/objectness/class targets at flat indices into ``shape`` for the truths ``rows``."""
        t = targets[rows]
        tx = t[:, 2] * gw - cell_i
        ty = t[:, 3] * gh - cell_j
        tw = torch.log(t[:, 4] * net_w / anchor_wh[:, 0])
        th = torch.log(t[:, 5] * net_h / anchor_wh[:, 1])
        box_t.view(-1, 4)[flat] = torch.stack([tx, ty, tw, th], 1).to(dt)
        box_w.view(-1)[flat] = (2 - t[:, 4] * t[:, 5]).to(dt)
        obj_t.view(-1)[flat] = 1.0
        obj_w.view(-1)[flat] = 1.0
        cls_w.view(-1)[flat] = 1.0

    # truth_thresh branch (first loop in darknet; later overwritten by the anchor assignment).
    if tmax and head.truth_thresh < 1:
        hit = (best_iou > head.truth_thresh).view(-1).nonzero().squeeze(1)
        if len(hit):
            rows = best_t.view(-1)[hit]
            a_idx = (hit // (gh * gw)) % na
            cell_j = (hit // gw) % gh
            cell_i = hit % gw
            assign(hit, rows, anchors[a_idx], cell_i.to(dt), cell_j.to(dt))
            cls_t.view(-1, nc)[hit, targets[rows, 1].long()] = 1.0

    per_truth = None  # early-2020: (flat index, targets, scale) of every assigned truth
    if len(targets):
        best = best_anchors(
            targets[:, 4:6] * torch.tensor([net_w, net_h], dtype=targets.dtype, device=dev),
            all_anchors.to(targets.dtype),
        )
        in_mask = best[:, None] == mask[None, :]
        sel = in_mask.any(1).nonzero().squeeze(1)
        if len(sel):
            a_idx = in_mask[sel].float().argmax(1)
            t = targets[sel]
            cell_i = (t[:, 2] * gw).long().clamp(0, gw - 1)
            cell_j = (t[:, 3] * gh).long().clamp(0, gh - 1)
            flat = ((t[:, 0].long() * na + a_idx) * gh + cell_j) * gw + cell_i
            # Darknet walks the truths in order and the last one on a cell wins the box: keep the
            # last occurrence of each flat index.
            rev = torch.flip(torch.arange(len(flat), device=dev), [0])
            uniq, first_in_rev = _first_occurrence(flat[rev])
            last = rev[first_in_rev]
            assign(flat[last], sel[last], anchors[a_idx[last]], cell_i[last].to(dt), cell_j[last].to(dt))
            # Classes accumulate over all truths on the cell.
            cls_t.view(-1, nc)[flat, t[:, 1].long()] = 1.0
            if early:
                anchor_wh = anchors[a_idx]
                tt = torch.stack(
                    [
                        t[:, 2] * gw - cell_i.to(t.dtype),
                        t[:, 3] * gh - cell_j.to(t.dtype),
                        torch.log(t[:, 4] * net_w / anchor_wh[:, 0]),
                        torch.log(t[:, 5] * net_h / anchor_wh[:, 1]),
                    ],
                    1,
                ).to(dt)
                per_truth = (flat, tt, (2 - t[:, 4] * t[:, 5]).to(dt))

    zx, zy, zw, zh, zo, zc = z[..., 0], z[..., 1], z[..., 2], z[..., 3], z[..., 4], z[..., 5:]
    obj = F.binary_cross_entropy_with_logits(zo, obj_t, reduction="none") * obj_w
    cls = F.binary_cross_entropy_with_logits(zc, cls_t, reduction="none").sum(-1) * cls_w
    with torch.no_grad():
        do = obj_w * (obj_t - torch.sigmoid(zo.detach()))
        dc = cls_w[..., None] * (cls_t - torch.sigmoid(zc.detach()))
    if per_truth is None:
        box_xy = (_kl_logits(zx, box_t[..., 0]) + _kl_logits(zy, box_t[..., 1])) * box_w
        box_wh = 0.5 * ((box_t[..., 2] - zw) ** 2 + (box_t[..., 3] - zh) ** 2) * box_w
        box = box_xy.sum() + box_wh.sum()
        with torch.no_grad():  # darknet's box deltas: on the sigmoid of x, y and the raw w, h
            out = torch.stack([torch.sigmoid(zx), torch.sigmoid(zy), zw, zh], -1).detach()
            d_box = box_w[..., None] * (box_t - out)
    else:
        box, d_box = _summed_box_terms(z, per_truth, dc, head.iou_normalizer)

    # darknet's cost: sum of squared deltas
    cost = (d_box**2).sum() + (do**2).sum() + (dc**2).sum()

    return {
        "box": box,
        "obj": obj.sum(),
        "cls": cls.sum(),
        "darknet_cost": float(cost),
        "n_assigned": int((box_w > 0).sum()),
    }


def _summed_box_terms(z: torch.Tensor, per_truth, dc: torch.Tensor, iou_normalizer: float):
    """early-2020 box objective: one term per assigned truth, scale x iou_normalizer / (classes with a
    positive class delta at its anchor), so that -dL/dz is darknet's summed and averaged delta; and those
    deltas (for the cost)."""
    flat, tt, scale = per_truth
    zf = z.reshape(-1, z.shape[-1])[flat]  # [K, 5 + C] rows of the assigned anchors
    with torch.no_grad():
        classes = (dc.reshape(-1, dc.shape[-1])[flat] > 0).sum(-1).clamp_min(1).to(z.dtype)
        weight = scale * iou_normalizer / classes
    terms = _kl_logits(zf[:, 0], tt[:, 0]) + _kl_logits(zf[:, 1], tt[:, 1])
    terms = terms + 0.5 * ((tt[:, 2] - zf[:, 2]) ** 2 + (tt[:, 3] - zf[:, 3]) ** 2)
    with torch.no_grad():
        out = torch.stack([torch.sigmoid(zf[:, 0]), torch.sigmoid(zf[:, 1]), zf[:, 2], zf[:, 3]], -1)
        d_box = torch.zeros(z.shape[:-1] + (4,), dtype=z.dtype, device=z.device).reshape(-1, 4)
        d_box.index_add_(0, flat, weight[:, None] * (tt - out))
    return (terms * weight).sum(), d_box


def _first_occurrence(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Unique values of ``x`` and the index of each one's first occurrence."""
    uniq, inverse = torch.unique(x, return_inverse=True)
    idx = torch.arange(len(x), device=x.device)
    first = torch.full((len(uniq),), len(x), dtype=torch.long, device=x.device)
    first = first.scatter_reduce(0, inverse, idx, reduce="amin")
    return uniq, first


def yolo_loss(raws: list[torch.Tensor], heads: list[YoloHead], targets: torch.Tensor, net_w: int, net_h: int) -> dict:
    """Sum of `head_loss` over the heads: ``loss`` (differentiable), its parts, ``darknet_cost``."""
    total = {"box": 0.0, "obj": 0.0, "cls": 0.0, "darknet_cost": 0.0, "n_assigned": 0}
    for raw, head in zip(raws, heads, strict=True):
        part = head_loss(raw, head, targets, net_w, net_h)
        for k in total:
            total[k] = total[k] + part[k]
    total["loss"] = total["box"] + total["obj"] + total["cls"]
    return total
