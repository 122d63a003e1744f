"""Bring the synthetic detector images to the real images' size before YOLOv3 sees them.

The paper trains the detector on BDD100K and SYNTHIA images "after making the image sizes equal"
(画像サイズを揃えた上で, docs/paper.md); YOLOv3 then stretches every image to 608x608. Without
this step SYNTHIA's 1280x760 (RAND-CITYSCAPES/SEQS) or 960x720 (RAND-CVPR16) frames would be stretched
differently from BDD100K's 1280x720 (16:9), so a SYNTHIA person would reach the network with another
aspect ratio than a BDD one. The same step is applied to the raw CG set (condition b) and to every
translated set (c-g), so all synthetic conditions differ only in their pixels.

Modes (``detector.align.mode``):
- ``resize``: scale the whole frame to ``width`` x ``height`` (bicubic); boxes scale with it:
  x' = x * W' / W, y' = y * H' / H.
- ``crop``: cut the largest centred region with the target's aspect ratio (full width or full height),
  then resize it as above; boxes are shifted, clipped to the region and scaled; a box left with less than
  half of its area inside the region is dropped (its person is mostly cut off).
- ``none``: the sets are used as they are (the images' own sizes).
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from PIL import Image

from cycleaug.atomic import atomic_path
from cycleaug.errors import CycleAugError
from cycleaug.labels import Box, Frame, png_name

MODES = ("resize", "crop")  # detector.align.mode "none" uses a set as it is and runs no alignment
MIN_KEPT_AREA = 0.5  # crop mode: the fraction of a box's area that must stay inside the region


def crop_region(w: int, h: int, tw: int, th: int) -> tuple[float, float, float, float]:
    """The largest centred (x0, y0, x1, y1) of a ``w`` x ``h`` image with the aspect ratio ``tw:th``."""
    if w * th > h * tw:  # wider than the target: full height
        cw = h * tw / th
        x0 = (w - cw) / 2
        return x0, 0.0, x0 + cw, float(h)
    ch = w * th / tw
    y0 = (h - ch) / 2
    return 0.0, y0, float(w), y0 + ch


def transform_boxes(boxes: list[Box], w: int, h: int, tw: int, th: int, mode: str) -> list[Box]:
    """The boxes of a ``w`` x ``h`` image on its aligned ``tw`` x ``th`` version."""
    if mode == "resize":
        x0, y0, x1, y1 = 0.0, 0.0, float(w), float(h)
    elif mode == "crop":
        x0, y0, x1, y1 = crop_region(w, h, tw, th)
    else:
        raise ValueError(f"mode {mode!r}")
    sx, sy = tw / (x1 - x0), th / (y1 - y0)
    out = []
    for b in boxes:
        cx1, cy1, cx2, cy2 = max(b.x1, x0), max(b.y1, y0), min(b.x2, x1), min(b.y2, y1)
        area = (b.x2 - b.x1) * (b.y2 - b.y1)
        kept = max(0.0, cx2 - cx1) * max(0.0, cy2 - cy1)
        if mode == "crop" and (area <= 0 or kept < MIN_KEPT_AREA * area):
            continue
        out.append(replace(b, x1=(cx1 - x0) * sx, y1=(cy1 - y0) * sy, x2=(cx2 - x0) * sx, y2=(cy2 - y0) * sy))
    return out


def align_image(src: Path, dst: Path, tw: int, th: int, mode: str) -> tuple[int, int]:
    """Write the aligned ``src`` to ``dst`` (PNG); returns the source size."""
    try:
        with Image.open(src) as im:
            im = im.convert("RGB")
            w, h = im.size
            box = (0, 0, w, h) if mode == "resize" else crop_region(w, h, tw, th)
            out = im.resize((tw, th), Image.Resampling.BICUBIC, box=box)
    except OSError as exc:
        raise CycleAugError(f"{src}: cannot read image ({exc})") from None
    dst.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(dst) as tmp:
        out.save(tmp, format="PNG")
    return w, h


def align_set(
    frames: list[Frame], images: str | os.PathLike, out_dir: str | os.PathLike, size: tuple[int, int], mode: str
) -> list[Frame]:
    """Align every frame's image into ``out_dir`` and return the frames with transformed boxes, named
    after their outputs, with the new size in their attributes."""
    if mode not in MODES:
        raise CycleAugError(f"--mode {mode}: expected {' or '.join(MODES)} (none uses the set as it is)")
    tw, th = size
    if tw < 1 or th < 1:
        raise CycleAugError(f"--size {tw} {th}: expected a positive width and height")
    images, out_dir = Path(images), Path(out_dir)
    out = []
    for frame in frames:
        name = png_name(frame.name)
        src = images / frame.name
        if not src.is_file():
            raise CycleAugError(f"{src}: image of frame {frame.name!r} not found")
        w, h = align_image(src, out_dir / name, tw, th, mode)
        boxes = transform_boxes(frame.boxes, w, h, tw, th, mode)
        out.append(Frame(name, boxes, {**frame.attributes, "width": tw, "height": th, "source_size": [w, h]}))
    return out
