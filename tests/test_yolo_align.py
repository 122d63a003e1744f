"""Image-size alignment of the synthetic detector sets (cycleaug.yolo.align, `cycleaug align-images`): the
boxes follow the pixels. Checked independently: a filled rectangle drawn where each box is must land
where the transformed box says, in the aligned image."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import run_cli
from cycleaug.labels import Box
from cycleaug.yolo.align import crop_region, transform_boxes
from PIL import Image, ImageDraw


def test_box_transform_by_hand():
    b = [Box(100.0, 38.0, 228.0, 418.0)]
    # resize 1280x760 -> 1280x720: x unchanged, y x 720/760.
    (r,) = transform_boxes(b, 1280, 760, 1280, 720, "resize")
    assert (r.x1, r.y1, r.x2, r.y2) == pytest.approx((100, 36, 228, 396))
    # crop 960x720 (4:3) to 16:9: the centred 960x540 band, y0 = 90, then x 1280/960 (both axes).
    assert crop_region(960, 720, 1280, 720) == pytest.approx((0, 90, 960, 630))
    (c,) = transform_boxes([Box(30.0, 100.0, 90.0, 400.0)], 960, 720, 1280, 720, "crop")
    s = 1280 / 960
    assert (c.x1, c.y1, c.x2, c.y2) == pytest.approx((30 * s, 10 * s, 90 * s, 310 * s))
    # A box mostly outside the band is dropped; one half inside is clipped and kept.
    assert transform_boxes([Box(10.0, 0.0, 50.0, 100.0)], 960, 720, 1280, 720, "crop") == []
    (k,) = transform_boxes([Box(10.0, 50.0, 50.0, 170.0)], 960, 720, 1280, 720, "crop")
    assert (k.y1, k.y2) == pytest.approx((0.0, 80 * s))
    # A frame wider than the target loses its sides.
    assert crop_region(1280, 600, 1280, 720) == pytest.approx((106.6667, 0, 1173.3333, 600), abs=1e-3)


def _draw(path, size, boxes):
    im = Image.new("RGB", size, (20, 20, 20))
    d = ImageDraw.Draw(im)
    for x1, y1, x2, y2 in boxes:
        d.rectangle([x1, y1, x2 - 1, y2 - 1], fill=(250, 250, 250))
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path)


@pytest.mark.parametrize("mode", ["resize", "crop"])
def test_aligned_boxes_cover_the_drawn_persons(tmp_path, mode):
    src = tmp_path / "RGB"
    frames = [
        ("a/0001.png", (160, 95), [(20, 20, 50, 80), (100, 30, 140, 70)]),  # SYNTHIA-like 1280x760 / 8
        ("b/0001.png", (120, 90), [(40, 30, 70, 60)]),  # RAND-CVPR16-like 960x720 / 8
    ]
    for name, size, boxes in frames:
        _draw(src / name, size, boxes)
    labels = tmp_path / "synthetic.json"
    labels.write_text(
        json.dumps(
            [
                {
                    "name": name,
                    "labels": [
                        {"category": "pedestrian", "box2d": dict(zip(("x1", "y1", "x2", "y2"), map(float, b)))}
                        for b in boxes
                    ],
                }
                for name, _, boxes in frames
            ]
        )
    )
    out = tmp_path / "aligned"
    run_cli("align-images", "--labels", labels, "--images", src, "--size", 160, 90, "--mode", mode, "--out", out)
    written = json.loads((out / "labels.json").read_text())
    assert [f["name"] for f in written] == ["a/0001.png", "b/0001.png"]
    for f in written:
        assert (f["attributes"]["width"], f["attributes"]["height"]) == (160, 90)
        img = np.asarray(Image.open(out / "images" / f["name"]).convert("L")).astype(float)
        assert img.shape == (90, 160)
        bright = img > 135
        mask = np.zeros_like(bright)
        for lab in f["labels"]:
            b = lab["box2d"]
            # The transformed box covers its drawn rectangle: inside it (1 px in from the edge) is bright.
            inner = img[int(np.ceil(b["y1"])) + 1 : int(b["y2"]) - 1, int(np.ceil(b["x1"])) + 1 : int(b["x2"]) - 1]
            assert inner.size and inner.min() > 135, (f["name"], b)
            mask[int(b["y1"]) : int(np.ceil(b["y2"])) + 1, int(b["x1"]) : int(np.ceil(b["x2"])) + 1] = True
        # ... and nothing bright lies outside the boxes (bicubic may bleed one pixel).
        grown = np.zeros_like(mask)
        ys, xs = np.nonzero(mask)
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                grown[np.clip(ys + dy, 0, 89), np.clip(xs + dx, 0, 159)] = True
        assert not (bright & ~grown).any(), f["name"]
    # Outputs are never written over in place; a missing image names itself and leaves nothing.
    again = run_cli("align-images", "--labels", labels, "--images", src, "--size", 160, 90, "--out", out, check=False)
    assert again.returncode == 2 and "exists" in again.stderr
    (src / "b/0001.png").unlink()
    bad = run_cli(
        "align-images", "--labels", labels, "--images", src, "--size", 160, 90, "--out", tmp_path / "x", check=False
    )
    assert bad.returncode == 2 and "b/0001.png" in bad.stderr and not (tmp_path / "x").exists()
