"""`detector.darknet_semantics` (cycleaug.yolo.semantics): each behaviour against a port of the
corresponding AlexeyAB/darknet C code, written loop by loop as darknet runs it.

- loss deltas: src/yolo_layer.c forward_yolo_layer / delta_yolo_box / delta_yolo_class, mid-2019
  (b392621e, 2019-10-19) and early-2020 (92e6e8ee, 2020-03-15: compare_yolo_class, delta_yolo_box with
  ``+=`` and iou_normalizer, averages_yolo_deltas). Our objective's -gradient must equal the port's deltas.
- multi-scale sizes: src/detector.c train_detector's resize block, mid-2019 (c9129c20) and early-2020
  (c814d56e), fed the same random factors.
- -map cadence: the same file's next_map_calc bookkeeping (floor 400 in mid-2019, none in early 2020).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from cycleaug.yolo.augment import RANDOM_COEF, largest_size, net_size_for_iteration, rand_scale
from cycleaug.yolo.loss import YoloHead, head_loss
from cycleaug.yolo.schedule import NetHyper, evaluation_iterations

ANCHORS = ((10, 13), (16, 30), (33, 23), (30, 61), (62, 45), (59, 119))
NET = 128


def _sig(x):
    return 1 / (1 + np.exp(-x))


def _box_iou(a, b):
    """src/box.c box_iou of (x, y, w, h) centre boxes."""

    def overlap(x1, w1, x2, w2):
        return min(x1 + w1 / 2, x2 + w2 / 2) - max(x1 - w1 / 2, x2 - w2 / 2)

    w, h = overlap(a[0], a[2], b[0], b[2]), overlap(a[1], a[3], b[1], b[3])
    inter = 0.0 if w < 0 or h < 0 else w * h
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union


def darknet_deltas(z: np.ndarray, head: YoloHead, truths: list, version: str) -> np.ndarray:
    """A port of forward_yolo_layer's delta computation: ``z`` [N, A, H, W, 5 + C] raw outputs; ``truths``
    (image, class, x, y, w, h) in label order. Returns delta (darknet's: minus the gradient)."""
    n_img, na, lh, lw, _ = z.shape
    classes = head.classes
    out = z.copy()
    out[..., 0:2] = _sig(z[..., 0:2])
    out[..., 4:] = _sig(z[..., 4:])
    delta = np.zeros_like(z)
    early = version == "early-2020"
    for b in range(n_img):
        mine = [t for t in truths if t[0] == b]
        for j in range(lh):
            for i in range(lw):
                for n in range(na):
                    aw, ah = head.anchors[head.mask[n]]
                    pred = (
                        (i + out[b, n, j, i, 0]) / lw,
                        (j + out[b, n, j, i, 1]) / lh,
                        math.exp(z[b, n, j, i, 2]) * aw / NET,
                        math.exp(z[b, n, j, i, 3]) * ah / NET,
                    )
                    best_iou = best_match_iou = 0.0
                    for t in mine:
                        # compare_yolo_class (10c40551): any class probability above 0.25, class_id unused
                        match = any(out[b, n, j, i, 5 + c] > 0.25 for c in range(classes))
                        iou = _box_iou(pred, t[2:])
                        if iou > best_match_iou and match:
                            best_match_iou = iou
                        if iou > best_iou:
                            best_iou = iou
                    delta[b, n, j, i, 4] = 0 - out[b, n, j, i, 4]
                    if (best_match_iou if early else best_iou) > head.ignore_thresh:
                        delta[b, n, j, i, 4] = 0
        for t in mine:
            _, cls, x, y, w, h = t
            best_n, best = 0, 0.0
            for k, (aw, ah) in enumerate(head.anchors):
                iou = _box_iou((0, 0, aw / NET, ah / NET), (0, 0, w, h))
                if iou > best:
                    best, best_n = iou, k
            if best_n not in head.mask:
                continue
            n = head.mask.index(best_n)
            i, j = int(x * lw), int(y * lh)
            aw, ah = head.anchors[best_n]
            scale = 2 - w * h
            target = (x * lw - i, y * lh - j, math.log(w * NET / aw), math.log(h * NET / ah))
            for k in range(4):
                d = scale * (target[k] - out[b, n, j, i, k])
                if early:
                    delta[b, n, j, i, k] += d * head.iou_normalizer
                else:
                    delta[b, n, j, i, k] = d
            delta[b, n, j, i, 4] = 1 - out[b, n, j, i, 4]
            # delta_yolo_class
            if delta[b, n, j, i, 5 + cls]:
                delta[b, n, j, i, 5 + cls] = 1 - out[b, n, j, i, 5 + cls]
            else:
                for c in range(classes):
                    delta[b, n, j, i, 5 + c] = (1.0 if c == cls else 0.0) - out[b, n, j, i, 5 + c]
        if early:  # averages_yolo_deltas (6e5bdf12)
            for j in range(lh):
                for i in range(lw):
                    for n in range(na):
                        count = sum(delta[b, n, j, i, 5 + c] > 0 for c in range(classes))
                        if count > 0:
                            delta[b, n, j, i, 0:4] /= count
    return delta


def _case(seed: int, classes: int = 2):
    """Random raw outputs of a 4x4 head with 3 anchors; truths that share cells and anchors (same class and
    different classes), one of another head's anchors, and predictions overlapping truths (ignore rule)."""
    rng = np.random.default_rng(seed)
    head = YoloHead(ANCHORS, (0, 1, 2), classes, ignore_thresh=0.3)
    z = rng.normal(0, 1.0, size=(2, 3, 4, 4, 5 + classes))
    truths = [
        (0, 0, 0.40, 0.65, 20 / NET, 28 / NET),  # anchor 1, cell (1, 2)
        (0, 0, 0.45, 0.70, 18 / NET, 30 / NET),  # same cell and anchor, same class
        (0, 1, 0.30, 0.55, 17 / NET, 29 / NET),  # same cell and anchor, another class
        (0, 0, 0.88, 0.12, 11 / NET, 12 / NET),  # anchor 0
        (1, 1, 0.52, 0.33, 34 / NET, 22 / NET),  # anchor 2, image 1
        (1, 0, 0.20, 0.20, 60 / NET, 50 / NET),  # anchor 4: another head's
    ]
    # Make some predictions overlap truths well, with class scores on both sides of 0.25.
    for b, n, j, i, t, cls_logit in ((0, 0, 2, 1, 0, 2.0), (0, 2, 2, 1, 0, -3.0), (1, 1, 1, 2, 4, 1.5)):
        _, _, x, y, w, h = truths[t]
        aw, ah = ANCHORS[n]
        z[b, n, j, i, 0] = np.log((x * 4 - i) / (1 - (x * 4 - i)) + 1e-9)
        z[b, n, j, i, 1] = np.log((y * 4 - j) / (1 - (y * 4 - j)) + 1e-9)
        z[b, n, j, i, 2], z[b, n, j, i, 3] = math.log(w * NET / aw), math.log(h * NET / ah)
        z[b, n, j, i, 5:] = cls_logit
    return head, z, truths


@pytest.mark.parametrize("version", ["mid-2019", "early-2020"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_loss_gradient_is_the_reference_delta(version, seed):
    head, z, truths = _case(seed)
    head = YoloHead(head.anchors, head.mask, head.classes, head.ignore_thresh, semantics=version)
    expected = darknet_deltas(z, head, truths, version)
    raw = torch.tensor(z, dtype=torch.float64)
    raw = raw.permute(0, 1, 4, 2, 3).reshape(2, -1, 4, 4).clone().requires_grad_()
    targets = torch.tensor(truths, dtype=torch.float64)
    out = head_loss(raw, head, targets, NET, NET)
    (out["box"] + out["obj"] + out["cls"]).backward()
    got = -raw.grad.view(2, 3, 5 + head.classes, 4, 4).permute(0, 1, 3, 4, 2).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)
    assert out["darknet_cost"] == pytest.approx(float((expected**2).sum()), rel=1e-9)


def test_the_two_versions_differ_where_darknet_changed():
    head, z, truths = _case(0)
    mid = darknet_deltas(z, head, truths, "mid-2019")
    early = darknet_deltas(z, YoloHead(head.anchors, head.mask, head.classes, head.ignore_thresh), truths, "early-2020")
    # the shared cell of truths 0-2 (anchor 1, cell i=1, j=2): summed, averaged over 2 classes, x 0.75
    assert not np.allclose(mid[0, 1, 2, 1, :4], early[0, 1, 2, 1, :4])
    # an overlapping prediction with class scores below 0.25 is ignored only in mid-2019
    assert mid[0, 2, 2, 1, 4] == 0 and early[0, 2, 2, 1, 4] != 0
    # ... one with a class score above 0.25 in both
    assert mid[0, 0, 2, 1, 4] == 0 and early[0, 0, 2, 1, 4] == 0


# ------------------------------------------------------------------------------------------------ multi-scale


def _darknet_resize(init: int, r: float, completed: int, fresh: bool, max_batches: int, version: str) -> int:
    """train_detector's resize block for one side (square nets), given rand_scale's draw ``r``."""
    dim = math.floor(r * init / 32 + 1 + 0.5) * 32  # roundl: halves away from zero
    max_dim = math.floor(RANDOM_COEF * init / 32 + 1 + 0.5) * 32
    if version == "early-2020":
        if r < 1 and dim > init:
            dim = init
        if fresh or completed > max_batches - 100:
            dim = max_dim
    elif fresh:
        dim = max_dim
    return max(dim, 32)


@pytest.mark.parametrize("version", ["mid-2019", "early-2020"])
@pytest.mark.parametrize("init", [416, 608])
def test_multiscale_sizes_are_the_references(version, init):
    max_batches = 1000
    shrunk_to_init = 0
    for it in range(1, max_batches + 1, 10):  # one resize per 10 iterations, before iteration it
        block = (it - 1) // 10
        got = net_size_for_iteration(it, init, init, True, 7, semantics=version, max_batches=max_batches)
        r = rand_scale(np.random.default_rng([7, 0x5CA1E, block]), RANDOM_COEF) if block else 1.0
        want = _darknet_resize(init, r, it - 1, block == 0, max_batches, version)
        assert got == (want, want), (it, r)
        shrunk_to_init += version == "early-2020" and r < 1 and got[0] == init
    last = net_size_for_iteration(max_batches, init, init, True, 7, semantics=version, max_batches=max_batches)
    assert (last[0] == largest_size(init)) == (version == "early-2020")
    assert version == "mid-2019" or shrunk_to_init > 0  # the 2020 clamp happened in this run


# ------------------------------------------------------------------------------------------------ -map cadence


def _darknet_map_loop(n_train: int, batch: int, burn_in: int, max_batches: int, floor: int) -> list[int]:
    """train_detector's -map bookkeeping, update by update (floor 400: mid-2019; none: early 2020)."""
    iter_map, done = 0, []
    for i in range(1, max_batches + 1):
        calc_map_for_each = max(4 * n_train // batch, 100)
        next_map_calc = max(iter_map + calc_map_for_each, burn_in, floor)
        if i >= next_map_calc or i == max_batches:
            iter_map = i
            done.append(i)
    return done


@pytest.mark.parametrize("version, floor", [("mid-2019", 400), ("early-2020", 0)])
@pytest.mark.parametrize(
    "n_train, batch, burn_in, max_iter",
    [(1517, 64, 1000, 5000), (20000, 64, 1000, 5000), (3000, 16, 2500, 7777), (10, 4, 0, 1050), (10, 4, 0, 350)],
)
def test_darknet_evaluation_cadence(version, floor, n_train, batch, burn_in, max_iter):
    hyper = NetHyper(batch=batch, burn_in=burn_in)
    got = evaluation_iterations("darknet", n_train, hyper, max_iter, version)
    assert got == _darknet_map_loop(n_train, batch, burn_in, max_iter, floor)
    if (n_train, max_iter) == (1517, 5000):  # the paper's run: 1000, 1100, ..., 5000 in both versions
        assert got == list(range(1000, 5001, 100)) and len(got) == 41


# ------------------------------------------------------------------------------------------------ a run


def test_train_yolo_runs_with_early_2020_semantics_and_never_resumes_across_them(tmp_path):
    from conftest import run_cli
    from test_yolo_train import draw_people_set, tiny_cfg

    labels, images = draw_people_set(tmp_path / "set", 4, size=(96, 64), seed=2)
    cfg = tiny_cfg(tmp_path / "tiny.cfg", max_batches=12, steps=(8, 10), batch=2, random=1)
    args = ["train-yolo", "--cfg", cfg, "--train", f"{labels}:{images}", "--val-labels", labels]
    args += ["--val-images", images, "--img-size", "64", "--eval-every", "6", "--out", tmp_path / "run"]
    done = run_cli(*args, "--darknet-semantics", "early-2020", "--iterations", "6")
    assert "darknet semantics early-2020" in done.stderr
    first = json.loads((tmp_path / "run" / "metrics.json").read_text())
    # Another semantics is another fingerprint: the run starts afresh (never resumes the early-2020 weights),
    # says what changed, and keeps the old run aside.
    again = run_cli(*args, "--darknet-semantics", "mid-2019", "--iterations", "12")
    assert "darknet_semantics early-2020 -> mid-2019" in again.stderr and "starting afresh" in again.stderr
    (aside,) = (tmp_path / "run").glob("superseded-*")
    assert json.loads((aside / "metrics.json").read_text()) == first
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["fingerprint"]["darknet_semantics"] == "mid-2019"
