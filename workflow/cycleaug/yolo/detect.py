"""Run a darknet-cfg YOLOv3 on images and write BDD100K/Scalabel prediction frames.

    cycleaug detect --cfg yolov3-person-608.cfg --weights best.weights \\
        --images data/raw/bdd100k/images/100k/val --out preds.json

Everything follows what darknet's ``detector map`` does with yolov3.cfg (AlexeyAB/darknet
``src/detector.c``, ``validate_detector_map``):

- preprocessing: the image as RGB / 255, stretched to the network size with darknet's bilinear
  ``resize_image`` (``src/image.c``: corner pixels map to corner pixels, i.e. ``align_corners=True``,
  no antialiasing), no letterbox;
- decoding with candidate threshold 0.005 (``cycleaug.yolo.decode``), per-class greedy NMS
  suppressing IoU > 0.45 (``cycleaug.yolo.nms``), no cap on detections per image;
- output: one frame per image, ``{"name": file name, "labels": [{"category", "score", "box2d":
  {x1, y1, x2, y2}}]}``, boxes in pixels of the original image (normalised box x image size), not
  clipped to the image (so ``cycleaug evaluate`` sees exactly the boxes darknet's evaluation sees).

Frames keep the order of the image list; labels within a frame are sorted by score, descending.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image

from cycleaug.errors import CycleAugError
from cycleaug.labels import PERSON, Box, Frame
from cycleaug.progress import Progress
from cycleaug.yolo.cfg import DarknetCfg, load_cfg, output_shapes
from cycleaug.yolo.decode import decode
from cycleaug.yolo.model import Darknet
from cycleaug.yolo.nms import nms_per_class
from cycleaug.yolo.weights import load_weights

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp"}


def list_images(spec: str | os.PathLike) -> list[Path]:
    """A directory (its image files, sorted by name) or a text file with one image path per line
    (darknet's ``valid=`` list; relative paths are taken relative to the list file's directory
    when they do not exist relative to the working directory)."""
    spec = Path(spec)
    if spec.is_dir():
        paths = sorted(p for p in spec.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        if not paths:
            raise CycleAugError(f"{spec}: no images (expected files ending in {', '.join(sorted(IMAGE_SUFFIXES))})")
        return paths
    if not spec.is_file():
        raise CycleAugError(f"{spec}: neither an image directory nor a list file")
    paths = []
    for lineno, line in enumerate(spec.read_text().splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        p = Path(line)
        if not p.is_absolute() and not p.exists():
            p = spec.parent / p
        if not p.is_file():
            raise CycleAugError(f"{spec}:{lineno}: image {line!r} not found")
        paths.append(p)
    if not paths:
        raise CycleAugError(f"{spec}: the image list is empty")
    return paths


def load_image(path: Path, width: int, height: int) -> tuple[torch.Tensor, int, int]:
    """(3, height, width) float tensor in [0, 1] stretched to the network size, and the original size."""
    try:
        with Image.open(path) as im:
            rgb = im.convert("RGB")
    except (OSError, ValueError) as exc:
        raise CycleAugError(f"{path}: cannot read image ({exc})") from None
    w, h = rgb.size
    x = torch.frombuffer(bytearray(rgb.tobytes()), dtype=torch.uint8).view(h, w, 3)
    x = x.permute(2, 0, 1).float().div_(255.0).unsqueeze(0)
    if (w, h) != (width, height):
        x = F.interpolate(x, size=(height, width), mode="bilinear", align_corners=True)
    return x[0], w, h


class _Images(torch.utils.data.Dataset):
    def __init__(self, paths: list[Path], width: int, height: int):
        self.paths, self.width, self.height = paths, width, height

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        x, w, h = load_image(self.paths[i], self.width, self.height)
        return x, w, h, i


def _as_list(items):
    return items


def build_model(cfg: DarknetCfg | str, weights: str | os.PathLike | None, device: torch.device) -> Darknet:
    """A ``Darknet`` for ``cfg`` with darknet ``.weights`` or one of our PyTorch checkpoints, in eval mode."""
    if not isinstance(cfg, DarknetCfg):
        cfg = load_cfg(cfg)
    model = Darknet(cfg)
    if weights is not None:
        load_weights(model, weights)
    return model.to(device).eval()


def default_categories(classes: int) -> list[str]:
    return [PERSON] if classes == 1 else [str(i) for i in range(classes)]


@torch.no_grad()
def detect_images(
    model: Darknet,
    paths: list[Path],
    img_size: int | None = None,
    conf_thresh: float = 0.005,
    nms_thresh: float = 0.45,
    batch_size: int = 8,
    workers: int = 0,
    categories: list[str] | None = None,
    progress: bool = True,
) -> list[Frame]:
    """Detections for every image in ``paths`` as prediction frames (see the module docstring)."""
    cfg = model.cfg
    width = height = img_size if img_size else None
    if width is None:
        width, height = cfg.width, cfg.height
    output_shapes(cfg, width, height)  # a clear error if the size does not fit the network
    categories = categories or default_categories(cfg.classes)
    if len(categories) != cfg.classes:
        raise CycleAugError(f"{len(categories)} category names for a {cfg.classes}-class cfg ({cfg.path})")
    device = next(model.parameters()).device
    loader = torch.utils.data.DataLoader(
        _Images(paths, width, height),
        batch_size=batch_size,
        num_workers=workers,
        collate_fn=_as_list,
        pin_memory=device.type == "cuda",
    )
    names = [p.name for p in paths]
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})[:3]
        raise CycleAugError(f"image file names repeat ({', '.join(dup)}); frames are matched to labels by file name")
    frames: list[Frame | None] = [None] * len(paths)
    with Progress(len(paths), "detect", unit="img", stream=None if progress else io.StringIO()) as meter:
        for items in loader:
            x = torch.stack([it[0] for it in items]).to(device, non_blocking=True)
            cands = decode(model(x), cfg.yolo_layers, width, height, conf_thresh)
            for (_, w, h, i), c in zip(items, cands):
                kept = nms_per_class(c, nms_thresh)
                # An untrained network's exp() can overflow float32 to an infinite box: it has no extent
                # to match a truth (darknet's IoU of it is NaN, never a TP) and no JSON number; drop it.
                finite = torch.isfinite(kept.boxes).all(1).cpu()
                scale = torch.tensor([w, h, w, h], dtype=torch.float64)
                boxes = (kept.boxes.double().cpu()[finite] * scale).tolist()
                scores, classes = kept.scores.double().cpu()[finite].tolist(), kept.classes.cpu()[finite].tolist()
                frames[i] = Frame(
                    names[i], [Box(*b, category=categories[k], score=s) for b, s, k in zip(boxes, scores, classes)]
                )
            meter.update(len(items))
    return frames
