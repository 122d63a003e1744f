"""`cycleaug detect` / `cycleaug yolo-init` on a tiny image set with a randomly initialised model."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import run_cli
from cycleaug.errors import CycleAugError
from cycleaug.labels import Box, Frame, read_frames
from cycleaug.yolo.detect import build_model, detect_images, list_images, load_image
from cycleaug.yolo.evaluate import evaluate_frames
from PIL import Image

torch.set_num_threads(1)


def _darknet_resize(im: np.ndarray, w: int, h: int) -> np.ndarray:
    """resize_image (src/image.c) as written there: two bilinear passes, corners mapped to corners."""
    c, ih, iw = im.shape
    part = np.zeros((c, ih, w), np.float32)
    w_scale, h_scale = np.float32(iw - 1) / np.float32(w - 1), np.float32(ih - 1) / np.float32(h - 1)
    for k in range(c):
        for r in range(ih):
            for col in range(w):
                if col == w - 1 or iw == 1:
                    part[k, r, col] = im[k, r, iw - 1]
                else:
                    sx = np.float32(col) * w_scale
                    ix = int(sx)
                    dx = sx - ix
                    part[k, r, col] = (1 - dx) * im[k, r, ix] + dx * im[k, r, ix + 1]
    out = np.zeros((c, h, w), np.float32)
    for k in range(c):
        for r in range(h):
            sy = np.float32(r) * h_scale
            iy = int(sy)
            dy = sy - iy
            out[k, r] = (1 - dy) * part[k, iy]
            if r == h - 1 or ih == 1:
                continue
            out[k, r] += dy * part[k, iy + 1]
    return out


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    folder = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    for i, (w, h) in enumerate([(96, 54), (64, 64), (50, 80)]):
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(folder / f"img{i}.png")
    (folder / "notes.txt").write_text("not an image")
    return folder


def test_preprocessing_is_darknets_stretch(images):
    x, w, h = load_image(images / "img0.png", 40, 24)
    assert (w, h) == (96, 54) and x.shape == (3, 24, 40)
    raw = np.asarray(Image.open(images / "img0.png").convert("RGB"), np.float32).transpose(2, 0, 1) / 255
    np.testing.assert_allclose(x.numpy(), _darknet_resize(raw, 40, 24), atol=1e-5)


def test_image_lists(images, tmp_path):
    assert [p.name for p in list_images(images)] == ["img0.png", "img1.png", "img2.png"]
    listing = tmp_path / "valid.txt"
    listing.write_text(f"{images / 'img2.png'}\n\n{images / 'img0.png'}\n")
    assert [p.name for p in list_images(listing)] == ["img2.png", "img0.png"]
    listing.write_text("nope.jpg\n")
    with pytest.raises(CycleAugError, match=r"valid.txt:1: image 'nope.jpg' not found"):
        list_images(listing)


def test_detect_cli_writes_valid_predictions(images, tmp_path):
    weights = tmp_path / "nano.weights"
    run_cli("yolo-init", "--cfg", "yolov3-person-nano.cfg", "--out", weights, "--seed", "1")
    out = tmp_path / "preds.json"
    proc = run_cli(
        "detect",
        "--cfg",
        "yolov3-person-nano.cfg",
        "--weights",
        weights,
        "--images",
        images,
        "--out",
        out,
        "--img-size",
        "64",
        "--batch-size",
        "2",
        "--device",
        "cpu",
    )
    assert "3 images" in proc.stdout
    raw = json.loads(out.read_text())
    assert [f["name"] for f in raw] == ["img0.png", "img1.png", "img2.png"]
    frames = read_frames(out)
    assert sum(len(f.boxes) for f in frames) > 0
    for f in frames:
        scores = [b.score for b in f.boxes]
        assert scores == sorted(scores, reverse=True) and all(s > 0.005 for s in scores)
        assert {b.category for b in f.boxes} <= {"pedestrian"}
        for i, a in enumerate(f.boxes):  # NMS: no two kept boxes overlap by more than 0.45
            for b in f.boxes[i + 1 :]:
                iw = min(a.x2, b.x2) - max(a.x1, b.x1)
                ih = min(a.y2, b.y2) - max(a.y1, b.y1)
                inter = max(iw, 0) * max(ih, 0)
                assert inter / (a.width * a.height + b.width * b.height - inter) <= 0.45 + 1e-6
    # the same numbers from the library, and boxes in pixels of each original image
    model = build_model("yolov3-person-nano.cfg", weights, torch.device("cpu"))
    again = detect_images(model, list_images(images), img_size=64, batch_size=3, progress=False)
    for f, g in zip(frames, again):
        np.testing.assert_allclose(
            [(b.x1, b.y2, b.score) for b in f.boxes], [(b.x1, b.y2, b.score) for b in g.boxes], rtol=1e-6
        )
    # a PyTorch checkpoint of the same model gives the same predictions
    torch.save({"model": model.state_dict()}, tmp_path / "nano.pt")
    from_pt = build_model("yolov3-person-nano.cfg", tmp_path / "nano.pt", torch.device("cpu"))
    same = detect_images(from_pt, list_images(images), img_size=64, batch_size=3, progress=False)
    assert [[(b.x1, b.y1, b.x2, b.y2, b.score) for b in f.boxes] for f in same] == [
        [(b.x1, b.y1, b.x2, b.y2, b.score) for b in f.boxes] for f in again
    ]
    # and the evaluation reads the file (predictions against themselves: every box is found)
    result = evaluate_frames(
        [Frame(f.name, [Box(b.x1, b.y1, b.x2, b.y2) for b in f.boxes]) for f in frames], frames, conf_thresh=0.0
    )
    assert result.fn == 0 and result.fp == 0 and result.ap == [1.0]


def test_detect_cli_refuses_a_size_the_network_cannot_take(images, tmp_path):
    proc = run_cli(
        "detect",
        "--cfg",
        "yolov3-person-nano.cfg",
        "--weights",
        tmp_path / "none.weights",
        "--images",
        images,
        "--out",
        tmp_path / "p.json",
        "--img-size",
        "100",
        check=False,
    )
    assert proc.returncode == 2 and "--img-size 100: expected a positive multiple of 32" in proc.stderr
    assert not (tmp_path / "p.json").exists()
