"""YOLOv3 fine-tuning with darknet's semantics: lr schedule and SGD update, the yolo-layer loss,
augmentation geometry and colour, an overfit run, resume after SIGTERM, and the CLI's errors."""

from __future__ import annotations

import colorsys
import json
import math
import os
import signal
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import BIN, run_cli, run_cli_here
from cycleaug.errors import CycleAugError
from cycleaug.runtime import EXIT_INTERRUPTED
from cycleaug.yolo.augment import (
    AugmentParams,
    Draw,
    augment_image,
    distort_colour,
    draw,
    largest_size,
    net_size_for_iteration,
    transform_boxes,
)
from cycleaug.yolo.cfg import load_cfg, parse_cfg_text
from cycleaug.yolo.loss import YoloHead, best_anchors, head_loss
from cycleaug.yolo.schedule import NetHyper, hyper_from_cfg, make_optimizer, set_rate
from PIL import Image

torch.set_num_threads(1)

YOLOV3_ANCHORS = ((10, 13), (16, 30), (33, 23), (30, 61), (62, 45), (59, 119), (116, 90), (156, 198), (373, 326))


# ------------------------------------------------------------------------------------------------
# Test data: images with "persons" (a dark body and a light head) on a textured background


def draw_people_set(root: Path, n: int, size=(128, 96), seed=0, prefix="img") -> tuple[Path, Path]:
    """``n`` PNG images with 1-2 upright person rectangles each, and their BDD100K JSON labels."""
    rng = np.random.default_rng(seed)
    images = root / "images"
    images.mkdir(parents=True, exist_ok=True)
    w_img, h_img = size
    frames = []
    for i in range(n):
        yy, xx = np.mgrid[0:h_img, 0:w_img]
        img = (
            rng.uniform(70, 190, 3)[None, None]
            + 25 * np.sin(xx[..., None] / 6.0 + rng.uniform(0, 6, 3))
            + rng.normal(0, 6, (h_img, w_img, 3))
        )
        labels = []
        for k in range(int(rng.integers(1, 3))):
            h = int(rng.integers(h_img // 3, h_img // 2 + 8))
            w = max(6, int(h * 0.4))
            x1, y1 = int(rng.integers(0, w_img - w)), int(rng.integers(0, h_img - h))
            img[y1 : y1 + h, x1 : x1 + w] = (30, 30, 120)
            img[y1 : y1 + h // 5, x1 + w // 4 : x1 + w - w // 4] = (230, 180, 150)
            labels.append(
                {"id": str(k), "category": "pedestrian", "box2d": {"x1": x1, "y1": y1, "x2": x1 + w, "y2": y1 + h}}
            )
        name = f"{prefix}{i:04d}.png"
        Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(images / name)
        frames.append({"name": name, "attributes": {}, "labels": labels})
    labels_path = root / "labels.json"
    labels_path.write_text(json.dumps(frames))
    return labels_path, images


def tiny_cfg(path: Path, lr=0.01, burn_in=10, max_batches=120, steps=(100, 110), batch=8, random=0) -> Path:
    """The shipped nano cfg with a [net] for quick training on a CPU."""
    text = load_cfg("yolov3-person-nano.cfg").path
    lines = []
    for line in Path(text).read_text().splitlines():
        key = line.split("=")[0].strip()
        line = {
            "learning_rate": f"learning_rate={lr}",
            "burn_in": f"burn_in={burn_in}",
            "max_batches": f"max_batches={max_batches}",
            "steps": f"steps={steps[0]},{steps[1]}",
            "batch": f"batch={batch}",
            "random": f"random={random}",
        }.get(key, line)
        lines.append(line)
    path.write_text("\n".join(lines) + "\n")
    return path


# ------------------------------------------------------------------------------------------------
# Learning-rate policy and SGD update


def test_rate_burn_in_and_steps_hand_computed():
    h = NetHyper(learning_rate=0.001, burn_in=1000, power=4, policy="steps", steps=(4000, 4500), scales=(0.1, 0.1))
    assert h.rate(1) == pytest.approx(0.001 * 1e-12, rel=1e-9)  # 0.001 * (1/1000)^4
    assert h.rate(500) == pytest.approx(0.001 * 0.0625)  # (1/2)^4
    assert h.rate(999) == pytest.approx(0.001 * 0.999**4)
    assert h.rate(1000) == pytest.approx(0.001)
    assert h.rate(3999) == pytest.approx(0.001)
    assert h.rate(4000) == pytest.approx(0.0001)  # steps[i] <= batch_num multiplies
    assert h.rate(4499) == pytest.approx(0.0001)
    assert h.rate(4500) == pytest.approx(0.00001)
    assert h.rate(5000) == pytest.approx(0.00001)
    assert NetHyper(learning_rate=0.01, burn_in=10, power=2).rate(5) == pytest.approx(0.01 * 0.25)


def test_paper_cfg_hyper_parameters():
    h = hyper_from_cfg(load_cfg("yolov3-person-608.cfg").net)
    assert (h.batch, h.subdivisions, h.mini_batch, h.width, h.height) == (64, 16, 4, 608, 608)
    assert (h.learning_rate, h.burn_in, h.power, h.policy) == (0.001, 1000, 4.0, "steps")
    assert (h.steps, h.scales, h.max_batches) == ((4000, 4500), (0.1, 0.1), 5000)
    assert (h.momentum, h.decay, h.hue, h.saturation, h.exposure) == (0.9, 0.0005, 0.1, 1.5, 1.5)
    with pytest.raises(CycleAugError, match="multiple of subdivisions"):
        h.with_overrides(subdivisions=7)


def test_sgd_equals_darknet_update_with_batch_scaling():
    """Darknet's update (convolutional_layer.c) written out literally vs. our SGD on sum-loss / batch."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(2, 3, 3, bias=False), torch.nn.BatchNorm2d(3), torch.nn.Conv2d(3, 1, 1, bias=True)
    ).double()
    hyper = NetHyper(batch=4, subdivisions=2, learning_rate=0.1, burn_in=3, power=2, momentum=0.9, decay=0.01)
    opt = make_optimizer(model, hyper)
    ref = {n: p.detach().clone() for n, p in model.named_parameters()}
    updates = {n: torch.zeros_like(p) for n, p in ref.items()}
    x = torch.randn(6, 4, 2, 5, 5, dtype=torch.float64)
    for it in range(1, 7):
        # ours: subdivisions x mini-batches, loss summed over images, divided by batch
        set_rate(opt, hyper.rate(it))
        opt.zero_grad()
        for part in x[it - 1].split(hyper.mini_batch):
            (model(part).pow(2).sum() / hyper.batch).backward()
        grads_sum = {n: p.grad * hyper.batch for n, p in model.named_parameters()}
        opt.step()
        # darknet: weight_updates += -dL/dw (summed over the batch); then update_convolutional_layer
        lr, b = hyper.rate(it), hyper.batch
        for n in ref:
            updates[n] += -grads_sum[n]
            if ref[n].ndim == 4:
                updates[n] += -hyper.decay * b * ref[n]
            ref[n] += lr / b * updates[n]
            updates[n] *= hyper.momentum
        # the BN running statistics differ by construction (ref has none); compare parameters only
        for n, p in model.named_parameters():
            torch.testing.assert_close(p.detach(), ref[n], rtol=1e-10, atol=1e-12)


# ------------------------------------------------------------------------------------------------
# Loss


def _logit(p):
    return math.log(p / (1 - p))


NET = 64  # network input; the test head is the stride-16 one (4 x 4 grid) with mask 0, 1, 2
HEAD = YoloHead(YOLOV3_ANCHORS, (0, 1, 2), 1, ignore_thresh=0.7, truth_thresh=1.0)
# truth: centre (0.40, 0.65) -> cell (1, 2), offsets 0.6, 0.6; 20 x 28 px -> best anchor 16x30 (index 1)
TRUTH = torch.tensor([[0, 0, 0.40, 0.65, 20 / NET, 28 / NET]], dtype=torch.float64)
CELL, ANCHOR = (1, 2), 1


def _raw(obj_logit=-2.0):
    """Raw head output where every prediction is a tiny box with objectness logit ``obj_logit``, and the
    assigned one (anchor 1 at the truth's cell) predicts the truth exactly with confident obj/class."""
    z = torch.zeros(1, 3, 6, 4, 4, dtype=torch.float64)
    z[:, :, 2:4] = -10.0
    z[:, :, 4] = obj_logit
    i, j = CELL
    z[0, ANCHOR, :, j, i] = torch.tensor(
        [_logit(0.6), _logit(0.6), math.log(20 / 16), math.log(28 / 30), 30.0, 30.0], dtype=torch.float64
    )
    return z


def test_best_anchor_by_shape_iou():
    # hand-computed: IoU(20x28, 16x30) = 448/592 = 0.757 beats 33x23 (460/859) and 10x13 (130/560)
    wh = torch.tensor([[20.0, 28.0], [300.0, 300.0], [12.0, 12.0]])
    assert best_anchors(wh, torch.tensor(YOLOV3_ANCHORS, dtype=torch.float32)).tolist() == [1, 8, 0]


def test_loss_zero_error_and_objectness_terms():
    z = _raw().view(1, 18, 4, 4).requires_grad_()
    out = head_loss(z, HEAD, TRUTH, NET, NET)
    assert out["n_assigned"] == 1
    assert out["box"].item() == pytest.approx(0.0, abs=1e-12)
    assert out["cls"].item() == pytest.approx(0.0, abs=1e-12)
    # 48 predictions: 47 background ones at logit -2 (target 0), the assigned one at +30 (target 1)
    softplus = math.log1p(math.exp(-2.0))  # BCE(sigmoid(-2), 0) = log(1 + e^-2)
    assert out["obj"].item() == pytest.approx(47 * softplus + math.log1p(math.exp(-30.0)), rel=1e-9)
    # darknet's cost: squared deltas, 47 x sigmoid(-2)^2
    assert out["darknet_cost"] == pytest.approx(47 * (1 / (1 + math.exp(2.0))) ** 2, rel=1e-6)


def test_loss_ignores_predictions_overlapping_a_truth():
    z = _raw()
    # another anchor in another cell predicts the truth box exactly: IoU 1 > ignore_thresh -> no obj term
    tx, ty = 0.40 * 4 - 1, 0.65 * 4 - 2
    z[0, 0, :4, 2, 1] = torch.tensor(
        [_logit(tx), _logit(ty), math.log(20 / 10), math.log(28 / 13)], dtype=torch.float64
    )
    out = head_loss(z.view(1, 18, 4, 4), HEAD, TRUTH, NET, NET)
    softplus = math.log1p(math.exp(-2.0))
    assert out["obj"].item() == pytest.approx(46 * softplus + math.log1p(math.exp(-30.0)), rel=1e-9)


def test_loss_gradients_are_darknet_deltas_and_move_box_towards_truth():
    z = _raw(obj_logit=-1.0)
    i, j = CELL
    z[0, ANCHOR, 0, j, i] = _logit(0.3)  # predicted x offset 0.3, truth 0.6: left of it
    z[0, ANCHOR, 2, j, i] = math.log(20 / 16) - 0.5  # too narrow
    z = z.view(1, 18, 4, 4).requires_grad_()
    out = head_loss(z, HEAD, TRUTH, NET, NET)
    (out["box"] + out["obj"] + out["cls"]).backward()
    g = z.grad.view(1, 3, 6, 4, 4)
    scale = 2 - (20 / NET) * (28 / NET)
    # darknet delta = scale * (tx - sigmoid(z)) for x, scale * (tw - z) for w; gradient = -delta
    assert float(g[0, ANCHOR, 0, j, i]) == pytest.approx(-scale * (0.6 - 0.3), rel=1e-9)
    assert float(g[0, ANCHOR, 2, j, i]) == pytest.approx(-scale * 0.5, rel=1e-9)
    assert float(g[0, ANCHOR, 1, j, i]) == pytest.approx(0.0, abs=1e-12)  # y exact
    # background objectness: delta = 0 - sigmoid(z) -> gradient sigmoid(-1)
    assert float(g[0, 0, 4, 0, 0]) == pytest.approx(1 / (1 + math.e), rel=1e-9)
    # a gradient step brings the decoded box closer to the truth
    step = (z - 0.5 * z.grad).detach().view(1, 3, 6, 4, 4)[0, ANCHOR, :, j, i]
    before = z.detach().view(1, 3, 6, 4, 4)[0, ANCHOR, :, j, i]
    for k, target in ((0, 0.6), (2, math.log(20 / 16))):
        val = torch.sigmoid(step[k]) if k == 0 else step[k]
        old = torch.sigmoid(before[k]) if k == 0 else before[k]
        assert abs(float(val) - target) < abs(float(old) - target)


def test_truth_of_another_layer_and_last_truth_wins():
    big = torch.tensor([[0, 0, 0.5, 0.5, 0.9, 0.9]], dtype=torch.float64)  # best anchor 8: not in mask 0,1,2
    assert head_loss(_raw().view(1, 18, 4, 4), HEAD, big, NET, NET)["n_assigned"] == 0
    # two truths on the same cell and anchor: darknet's loop leaves the second one's box
    two = torch.tensor(
        [[0, 0, 0.40, 0.65, 20 / NET, 28 / NET], [0, 0, 0.45, 0.70, 18 / NET, 30 / NET]], dtype=torch.float64
    )
    z = _raw().view(1, 18, 4, 4).requires_grad_()
    out = head_loss(z, HEAD, two, NET, NET)
    out["box"].backward()
    i, j = CELL
    gx = float(z.grad.view(1, 3, 6, 4, 4)[0, ANCHOR, 0, j, i])
    scale2 = 2 - (18 / NET) * (30 / NET)
    assert out["n_assigned"] == 1
    assert gx == pytest.approx(-scale2 * ((0.45 * 4 - 1) - 0.6), rel=1e-9)


# ------------------------------------------------------------------------------------------------
# Augmentation


def test_box_transform_hand_computed():
    d = Draw(pleft=20, pright=-10, ptop=5, pbot=15, flip=False, dhue=0, dsat=1, dexp=1)
    # window: x 20..210 (width 190), y 5..85 (height 80)
    out = transform_boxes(np.array([[40, 25, 78, 65], [0, 0, 10, 4]]), d, 200, 100, 64, 64)
    left, right, top, bot = 20 / 190, 58 / 190, 20 / 80, 60 / 80
    np.testing.assert_allclose(out, [[(left + right) / 2, (top + bot) / 2, right - left, bot - top]], rtol=1e-6)
    flipped = transform_boxes(np.array([[40, 25, 78, 65]]), Draw(20, -10, 5, 15, True, 0, 1, 1), 200, 100, 64, 64)
    np.testing.assert_allclose(flipped[0, 0], 1 - (left + right) / 2, rtol=1e-6)
    # a box half outside the window is clipped to its edge
    clipped = transform_boxes(np.array([[0, 30, 40, 60]]), d, 200, 100, 64, 64)
    np.testing.assert_allclose(clipped[0, 2], 20 / 190, rtol=1e-6)


def _bright_box(img: torch.Tensor, thresh=0.5):
    ys, xs = np.nonzero(img[0].numpy() > thresh)
    return xs.min(), ys.min(), xs.max() + 1, ys.max() + 1


@pytest.mark.parametrize("seed", range(12))
def test_augmented_boxes_match_augmented_image(seed):
    """Geometry check against an independent computation: draw the box into an image, augment the
    image, and find the box again in the pixels."""
    ow, oh, net_w, net_h = 160, 90, 96, 64
    rng = np.random.default_rng(seed)
    w, h = int(rng.integers(20, 50)), int(rng.integers(25, 60))
    x1, y1 = int(rng.integers(0, ow - w)), int(rng.integers(0, oh - h))
    img = torch.zeros(3, oh, ow, dtype=torch.uint8)
    img[:, y1 : y1 + h, x1 : x1 + w] = 255
    d = draw(rng, AugmentParams(), ow, oh)
    geometric = Draw(d.pleft, d.pright, d.ptop, d.pbot, d.flip, 0.0, 1.0, 1.0)
    out = augment_image(img, geometric, net_w, net_h)
    assert out.shape == (3, net_h, net_w) and float(out.min()) >= 0 and float(out.max()) <= 1
    boxes = transform_boxes(np.array([[x1, y1, x1 + w, y1 + h]]), d, ow, oh, net_w, net_h)
    if len(boxes) == 0:  # the window missed the box: so must the image
        assert float(out.max()) < 0.5
        return
    cx, cy, bw, bh = boxes[0]
    assert 0 <= cx - bw / 2 and cx + bw / 2 <= 1 + 1e-6 and 0 <= cy - bh / 2 and cy + bh / 2 <= 1 + 1e-6
    px = _bright_box(out)
    expect = ((cx - bw / 2) * net_w, (cy - bh / 2) * net_h, (cx + bw / 2) * net_w, (cy + bh / 2) * net_h)
    np.testing.assert_allclose(px, expect, atol=1.5)


def test_colour_jitter_against_colorsys():
    rng = np.random.default_rng(1)
    rgb = rng.uniform(0, 1, (3, 4, 5)).astype(np.float32)
    # grey, black, white and ties of the largest channel (the hue's branches)
    for x, pixel in enumerate([(0.5, 0.5, 0.5), (0, 0, 0), (1, 1, 1), (1, 1, 0), (0, 0.7, 0.7)]):
        rgb[:, 0, x] = pixel
    for dhue, dsat, dexp in [(0.1, 1.5, 1 / 1.5), (-0.07, 1 / 1.3, 1.4), (0.0, 1.0, 1.0), (-0.5, 2.0, 0.5)]:
        ours = distort_colour(torch.from_numpy(rgb), dhue, dsat, dexp).numpy()
        expect = np.empty_like(rgb)
        for y in range(4):
            for x in range(5):
                h, s, v = colorsys.rgb_to_hsv(*rgb[:, y, x])
                expect[:, y, x] = colorsys.hsv_to_rgb((h + dhue) % 1.0, min(1, s * dsat), min(1, v * dexp))
        np.testing.assert_allclose(ours, expect, atol=1e-5)
    red = torch.tensor([1.0, 0.0, 0.0]).view(3, 1, 1)
    np.testing.assert_allclose(distort_colour(red, 1 / 3, 1, 1).flatten(), [0, 1, 0], atol=1e-6)


def test_multiscale_rule():
    assert largest_size(608) == 896  # roundl(1.4 * 608 / 32 + 1) * 32, darknet's first 10 iterations
    assert {net_size_for_iteration(i, 608, 608, True, 0) for i in range(1, 11)} == {(896, 896)}
    sizes = [net_size_for_iteration(i, 608, 608, True, 0) for i in range(11, 2011)]
    for block in range(0, 2000, 10):
        assert len(set(sizes[block : block + 10])) == 1  # redrawn every 10 iterations
    ws = {w for w, h in sizes}
    assert all(w == h and w % 32 == 0 for w, h in sizes)
    # roundl(r * 19 + 1) for r in [1/1.4, 1.4]: 15..28 cells
    assert min(ws) >= 15 * 32 and max(ws) <= 28 * 32 and len(ws) > 8
    assert sizes == [net_size_for_iteration(i, 608, 608, True, 0) for i in range(11, 2011)]
    assert net_size_for_iteration(5, 608, 608, False, 0) == (608, 608)


# ------------------------------------------------------------------------------------------------
# Training runs


def test_overfit_tiny_set(tmp_path):
    from cycleaug.labels import read_frames
    from cycleaug.yolo.detect import build_model
    from cycleaug.yolo.train import TrainConfig, evaluate_model, train

    labels, images = draw_people_set(tmp_path / "set", 8, seed=3)
    held_labels, held_images = draw_people_set(tmp_path / "held", 6, seed=4)
    cfg = tiny_cfg(tmp_path / "tiny.cfg", max_batches=200, steps=(170, 190))
    frames = read_frames(labels)
    paths = [images / f.name for f in frames]
    untrained = build_model(str(cfg), None, torch.device("cpu"))
    from cycleaug.yolo.model import init_darknet_

    init_darknet_(untrained, torch.Generator().manual_seed(0))
    before = evaluate_model(untrained, frames, paths, 96, 8, 0).map
    tc = TrainConfig(
        cfg=str(cfg),
        train=[(str(labels), str(images))],
        val_labels=str(labels),
        val_images=str(images),
        out=str(tmp_path / "run"),
        img_size=96,
        eval_every=50,
        log_interval=1e9,
        heldout_labels=str(held_labels),
        heldout_images=str(held_images),
    )
    assert train(tc) == 0
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    log = [json.loads(line) for line in (tmp_path / "run" / "eval_log.jsonl").read_text().splitlines()]
    assert [r["iteration"] for r in log] == [50, 100, 150, 200]
    assert metrics["mAP50"] == max(r["mAP50"] for r in log)
    assert metrics["iteration"] == next(r["iteration"] for r in log if r["mAP50"] == metrics["mAP50"])
    assert metrics["TP"] + metrics["FN"] == sum(len(f.boxes) for f in frames)
    assert before < 0.02
    assert metrics["mAP50"] > before + 0.5, (before, log)
    # the kept darknet weights reproduce the best evaluation
    best = build_model(str(cfg), tmp_path / "run" / "best.weights", torch.device("cpu"))
    assert evaluate_model(best, frames, paths, 96, 8, 0).map == pytest.approx(metrics["mAP50"], abs=1e-9)
    # The best checkpoint's val detections (Table 2's bootstrap resamples them) score its mAP.
    from cycleaug.yolo.evaluate import evaluate_frames

    kept = read_frames(tmp_path / "run" / "val_predictions.json")
    assert evaluate_frames(frames, kept).map == pytest.approx(metrics["mAP50"], abs=1e-9)
    # Selection bias, visible: the last evaluation's figures, and the best checkpoint on a second split.
    assert metrics["last"] == {k: log[-1][k] for k in metrics["last"]} and metrics["last"]["iteration"] == 200
    assert metrics["evaluations"] == len(log)
    held = read_frames(held_labels)
    expected = evaluate_model(best, held, [held_images / f.name for f in held], 96, 8, 0)
    assert metrics["heldout"]["images"] == 6
    assert metrics["heldout"]["mAP50"] == pytest.approx(expected.map, abs=1e-9)
    assert (metrics["heldout"]["TP"], metrics["heldout"]["FN"]) == (expected.tp, expected.fn)


def _train_cmd(cfg, labels, images, out, workers=0):
    return [
        str(BIN / "cycleaug"),
        "train-yolo",
        "--cfg",
        str(cfg),
        "--train",
        f"{labels}:{images}",
        "--val-labels",
        str(labels),
        "--val-images",
        str(images),
        "--img-size",
        "64",
        "--iterations",
        "40",
        "--eval-every",
        "20",
        "--log-interval",
        "0",
        "--workers",
        str(workers),
        "--out",
        str(out),
    ]


def _without_time(path: Path) -> list[dict]:
    return [{k: v for k, v in json.loads(line).items() if k != "seconds"} for line in path.read_text().splitlines()]


def test_resume_after_sigterm_equals_uninterrupted_run(tmp_path):
    labels, images = draw_people_set(tmp_path / "set", 6, size=(96, 64), seed=5)
    cfg = tiny_cfg(tmp_path / "tiny.cfg", max_batches=40, steps=(30, 35), batch=4)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run(_train_cmd(cfg, labels, images, tmp_path / "full"), env=env, check=True, capture_output=True)

    proc = subprocess.Popen(
        _train_cmd(cfg, labels, images, tmp_path / "kill", workers=1), env=env, stderr=subprocess.PIPE, text=True
    )
    for line in proc.stderr:
        if "iteration 13/40" in line:
            proc.send_signal(signal.SIGTERM)
            break
    rest = proc.stderr.read()
    assert proc.wait() == EXIT_INTERRUPTED, rest
    assert "stopped at iteration" in rest
    assert (tmp_path / "kill" / "last.pt").exists() and not (tmp_path / "kill" / "metrics.json").exists()
    ckpt = torch.load(tmp_path / "kill" / "last.pt", weights_only=True)
    assert 13 <= ckpt["iteration"] < 40 and set(ckpt) >= {"model", "optimizer", "torch_rng", "history", "seen"}

    done = run_cli(*_train_cmd(cfg, labels, images, tmp_path / "kill")[1:])
    assert "resuming" in done.stderr
    full, kill = tmp_path / "full", tmp_path / "kill"
    assert (full / "last.weights").read_bytes() == (kill / "last.weights").read_bytes()
    assert (full / "best.weights").read_bytes() == (kill / "best.weights").read_bytes()
    assert _without_time(full / "eval_log.jsonl") == _without_time(kill / "eval_log.jsonl")


def test_label_outside_image_is_a_clear_error(tmp_path):
    labels, images = draw_people_set(tmp_path / "set", 2, size=(64, 64))
    frames = json.loads(labels.read_text())
    frames[1]["labels"][0]["box2d"] = {"x1": 10, "y1": 10, "x2": 90, "y2": 40}  # image is 64 wide
    labels.write_text(json.dumps(frames))
    cfg = tiny_cfg(tmp_path / "tiny.cfg")
    proc = run_cli(*_train_cmd(cfg, labels, images, tmp_path / "out")[1:], check=False)
    assert proc.returncode == 2
    assert "img0001.png" in proc.stderr and "outside the 64x64 image" in proc.stderr


def test_cfg_without_yolo_settings_defaults(tmp_path):
    """[yolo] defaults (darknet parser.c): jitter .2, ignore .5, random 0, max 90 feed the trainer."""
    from cycleaug.yolo.train import augment_params, yolo_heads

    cfg = load_cfg("yolov3-person-608.cfg")
    aug = augment_params(cfg, hyper_from_cfg(cfg.net))
    assert (aug.jitter, aug.hue, aug.saturation, aug.exposure, aug.flip, aug.max_boxes) == (
        0.3,
        0.1,
        1.5,
        1.5,
        True,
        90,
    )
    heads = yolo_heads(cfg)
    assert [h.mask for h in heads] == [(6, 7, 8), (3, 4, 5), (0, 1, 2)]
    assert all(h.ignore_thresh == 0.7 and h.anchors == YOLOV3_ANCHORS for h in heads)
    assert cfg.yolo_layers[-1].random
    text = Path(tiny_cfg(tmp_path / "t.cfg")).read_text().replace("jitter=.3\n", "").replace("ignore_thresh = .7\n", "")
    parsed = parse_cfg_text(text, "t.cfg")
    assert augment_params(parsed, hyper_from_cfg(parsed.net)).jitter == 0.2
    assert yolo_heads(parsed)[0].ignore_thresh == 0.5


def test_pretrained_weights_load_the_layers_the_file_holds(tmp_path):
    """A backbone file (like darknet53.conv.74) loads its first layers; a full file loads everything."""
    from cycleaug.yolo.model import Darknet, init_darknet_
    from cycleaug.yolo.train import load_pretrained
    from cycleaug.yolo.weights import save_darknet_weights

    cfg = load_cfg("yolov3-person-nano.cfg")
    source = init_darknet_(Darknet(cfg), torch.Generator().manual_seed(1))
    save_darknet_weights(source, tmp_path / "backbone.weights", cutoff=8)
    save_darknet_weights(source, tmp_path / "full.weights")
    target = init_darknet_(Darknet(cfg), torch.Generator().manual_seed(2))
    assert load_pretrained(target, str(tmp_path / "backbone.weights")) == 8
    for i, (a, b) in enumerate(zip(source.layers, target.layers)):
        if hasattr(a, "conv"):  # conv weights differ between the two seeds; BN starts at 1 and 0 in both
            assert torch.equal(a.conv.weight, b.conv.weight) == (i < 8), i
    # the full file: layers 0-18, every conv (layer 19, [yolo], has no weights)
    assert load_pretrained(target, str(tmp_path / "full.weights")) == len(cfg.layers) - 1
    for p, q in zip(source.state_dict().values(), target.state_dict().values()):
        assert torch.equal(p, q)
    (tmp_path / "bad.weights").write_bytes((tmp_path / "full.weights").read_bytes()[:-8])
    with pytest.raises(CycleAugError, match="Nothing was loaded"):
        load_pretrained(target, str(tmp_path / "bad.weights"))


def test_numeric_evaluation_cadence_and_bad_values():
    from cycleaug.yolo.schedule import evaluation_iterations

    hyper = NetHyper(batch=64, burn_in=1000)
    assert evaluation_iterations("500", 1517, hyper, 5000) == list(range(500, 5001, 500))
    assert evaluation_iterations(300, 10, hyper, 1000) == [300, 600, 900, 1000]
    for bad in ("often", "0", "-5"):
        with pytest.raises(CycleAugError, match="--eval-every"):
            evaluation_iterations(bad, 10, hyper, 1000)


def test_partial_backbone_then_two_runs_of_one_seed_are_identical(tmp_path, capfd):
    """`cycleaug yolo-partial` keeps darknet's first N layers (the size: header + those layers' tensors,
    counted from the network itself); two fine-tuning runs from it with one seed and one thread are
    the same run, bit for bit, and another seed is another run (issue 23: a seed reproduces its mAP)."""
    from cycleaug.yolo.model import Darknet, init_darknet_
    from cycleaug.yolo.weights import save_darknet_weights

    labels, images = draw_people_set(tmp_path / "set", 6, size=(96, 64), seed=3)
    cfg = tiny_cfg(tmp_path / "tiny.cfg", max_batches=10, steps=(6, 8), batch=4)
    source = init_darknet_(Darknet(load_cfg(cfg)), torch.Generator().manual_seed(4))
    save_darknet_weights(source, tmp_path / "full.weights", seen=123)
    run_cli_here(capfd, "yolo-partial", "--cfg", cfg, "--weights", tmp_path / "full.weights", "--layers", 5,
            "--out", tmp_path / "backbone.conv.5")  # fmt: skip
    tensors = sum(t.numel() for i, b in enumerate(source.layers) if i < 5 and hasattr(b, "conv") for t in
                  [b.conv.weight, *((b.bn.bias, b.bn.weight, b.bn.running_mean, b.bn.running_var) if b.bn is not None
                                    else (b.conv.bias,))])  # fmt: skip
    assert (tmp_path / "backbone.conv.5").stat().st_size == 20 + 4 * tensors
    bad = run_cli_here(capfd, "yolo-partial", "--cfg", cfg, "--weights", tmp_path / "full.weights", "--layers", 99,
                           "--out", tmp_path / "x", check=False)  # fmt: skip
    assert bad.returncode != 0 and "--layers 99" in bad.stderr and not (tmp_path / "x").exists()

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    outs = {}
    for name, seed in (("one", 7), ("two", 7), ("other", 8)):
        cmd = _train_cmd(cfg, labels, images, tmp_path / name)
        cmd[cmd.index("40")] = "10"  # iterations
        cmd[cmd.index("20")] = "10"  # one evaluation, at the end
        proc = subprocess.run(
            [*cmd, "--pretrained", str(tmp_path / "backbone.conv.5"), "--seed", str(seed), "--steps", "6", "8"],
            env=env, capture_output=True, text=True, check=True,
        )  # fmt: skip
        assert "loaded layers 0-4" in proc.stderr and "steps [6, 8]" in proc.stderr
        outs[name] = tmp_path / name
    assert (outs["one"] / "last.weights").read_bytes() == (outs["two"] / "last.weights").read_bytes()
    assert _without_time(outs["one"] / "eval_log.jsonl") == _without_time(outs["two"] / "eval_log.jsonl")
    assert (outs["one"] / "last.weights").read_bytes() != (outs["other"] / "last.weights").read_bytes()
    assert json.loads((outs["one"] / "metrics.json").read_text())["torch_threads"] == 1


def test_changed_settings_or_removed_outputs_start_afresh(tmp_path, capfd):
    """Issue 24: last.pt is resumed only by a run of its fingerprint (the cfg's content, every [net] value,
    the labels' contents, the seed, ...): another one, or a finished run whose declared outputs were all
    removed (as Snakemake does before --forcerun), starts afresh with the old files moved aside."""
    from cycleaug.yolo.train import DECLARED

    labels, images = draw_people_set(tmp_path / "set", 4, size=(64, 64), seed=6)
    cfg = tiny_cfg(tmp_path / "tiny.cfg", max_batches=6, steps=(4, 5), batch=2, burn_in=1)
    out = tmp_path / "run"

    def train(*extra):
        cmd = _train_cmd(cfg, labels, images, out)[1:]
        cmd[cmd.index("40")] = "6"  # iterations
        cmd[cmd.index("20")] = "6"  # one evaluation, at the end
        return run_cli_here(capfd, *cmd, *extra)

    train()
    metrics = json.loads((out / "metrics.json").read_text())
    fingerprint = metrics["fingerprint"]
    assert (fingerprint["net.learning_rate"], fingerprint["seed"], fingerprint["iterations"]) == (0.01, 0, 6)
    assert {"cfg", "train_labels", "train_images", "val_labels", "pretrained", "torch", "cycleaug"} <= set(fingerprint)
    assert torch.load(out / "last.pt", weights_only=True)["fingerprint"] == fingerprint
    first = (out / "last.weights").read_bytes()

    # Options that change no number: the finished run is resumed, nothing is retrained.
    same = train("--checkpoint-every", "2", "--log-interval", "5", "--eval-batch-size", "2")
    assert "resuming" in same.stderr and "starting afresh" not in same.stderr
    assert (out / "last.weights").read_bytes() == first

    # Another learning rate in the same cfg file: a new run, the old one kept aside.
    tiny_cfg(cfg, lr=0.02, max_batches=6, steps=(4, 5), batch=2, burn_in=1)
    changed = train()
    (line,) = [x for x in changed.stderr.splitlines() if "starting afresh" in x]
    assert f"{out / 'last.pt'}: made with other settings (cfg " in line and "net.learning_rate 0.01 -> 0.02)" in line
    (old,) = out.glob("superseded-*")
    assert line.endswith(f"the old run moved to {old}")
    assert {"last.pt", "best.pt", "last.weights", "metrics.json", "eval_log.jsonl"} <= {p.name for p in old.iterdir()}
    assert json.loads((old / "metrics.json").read_text())["fingerprint"] == fingerprint
    assert json.loads((out / "metrics.json").read_text())["fingerprint"]["net.learning_rate"] == 0.02
    assert (out / "last.weights").read_bytes() != first

    # The declared outputs removed, as Snakemake does before it reruns a job (--forcerun): retrain.
    for name in DECLARED:
        (out / name).unlink(missing_ok=True)
    forced = train()
    assert "and all its outputs were removed" in forced.stderr and "starting afresh" in forced.stderr
    assert len(list(out.glob("superseded-*"))) == 2 and (out / "metrics.json").exists()
