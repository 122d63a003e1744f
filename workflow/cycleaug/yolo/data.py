"""Detector training data: images + BDD100K JSON person boxes -> augmented mini-batches.

A training set is one or more ``LABELS.json:IMAGES_DIR`` pairs (``cycleaug.labels`` frames whose
``name`` is the image's file name inside ``IMAGES_DIR``). Every iteration draws darknet's
``batch`` images uniformly *with replacement* from the union (``get_random_paths`` in
``src/data.c``), split into ``subdivisions`` mini-batches, all at the iteration's network size.
All randomness comes from generators seeded by (seed, iteration, ...) rather than from process
state, so the batches do not depend on the number of loader workers and a resumed run draws the
same images and augmentations it would have drawn without the interruption.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cycleaug.errors import CycleAugError
from cycleaug.labels import PERSON, read_frames
from cycleaug.yolo.augment import AugmentParams, augment_image, draw, net_size_for_iteration, transform_boxes
from cycleaug.yolo.semantics import DEFAULT as DEFAULT_SEMANTICS

# Labels may overshoot the image border by rounding (BDD100K boxes reach x2 = 1279.99...); beyond
# this many pixels the labels belong to another image size and training on them would be wrong.
BORDER_TOLERANCE = 1.0


@dataclass(frozen=True)
class Sample:
    path: str
    width: int
    height: int
    boxes: np.ndarray  # [n, 4] x1, y1, x2, y2 in pixels of the image, clipped to it


def parse_set_spec(spec: str) -> tuple[str, str]:
    """``LABELS.json:IMAGES_DIR`` (the directory may be omitted when given separately)."""
    labels, sep, images = spec.partition(":")
    if not sep or not labels or not images:
        raise CycleAugError(f"--train {spec!r}: expected LABELS.json:IMAGES_DIR")
    return labels, images


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    from PIL import Image

    try:
        with Image.open(path) as im:
            return im.size
    except FileNotFoundError:
        raise CycleAugError(f"{path}: image not found") from None
    except OSError as exc:
        raise CycleAugError(f"{path}: not a readable image ({exc})") from None


def checked_boxes(frame, path: Path, labels) -> tuple[np.ndarray, int, int]:
    """The frame's person boxes as ``[n, 4]`` pixels clipped to its image, and the image size.
    A box outside the image (beyond `BORDER_TOLERANCE`), or an image whose size differs from the
    ``width``/``height`` the frame records (see ``select-detector-sets``), is an error naming both files."""
    w, h = image_size(path)
    want = frame.attributes.get("width"), frame.attributes.get("height")
    if None not in want and (int(want[0]), int(want[1])) != (w, h):
        raise CycleAugError(
            f"{labels}: frame {frame.name!r} was labelled on a {want[0]}x{want[1]} image, but {path} "
            f"is {w}x{h}; expected the same image size (boxes are in its pixels)"
        )
    boxes = np.array([[b.x1, b.y1, b.x2, b.y2] for b in frame.boxes], dtype=np.float64).reshape(-1, 4)
    if len(boxes):
        t = BORDER_TOLERANCE
        bad = (boxes[:, 0] < -t) | (boxes[:, 1] < -t) | (boxes[:, 2] > w + t) | (boxes[:, 3] > h + t)
        if bad.any():
            x1, y1, x2, y2 = boxes[int(np.argmax(bad))]
            raise CycleAugError(
                f"{labels}: frame {frame.name!r}: person box ({x1:g}, {y1:g}, {x2:g}, {y2:g}) lies outside the "
                f"{w}x{h} image {path}; expected boxes in that image's pixel coordinates"
            )
        boxes = np.clip(boxes, 0, [w, h, w, h])
    return boxes, w, h


def load_samples(labels: str | os.PathLike, images_dir: str | os.PathLike) -> list[Sample]:
    """Person boxes of every frame in ``labels`` with its image ``images_dir/name`` (see `checked_boxes`)."""
    images_dir = Path(images_dir)
    if not images_dir.is_dir():
        raise CycleAugError(f"{images_dir}: image folder not found (for labels {labels})")
    samples = []
    for frame in read_frames(labels, categories={PERSON}):
        path = images_dir / frame.name
        boxes, w, h = checked_boxes(frame, path, labels)
        samples.append(Sample(str(path), w, h, boxes.astype(np.float32)))
    if not samples:
        raise CycleAugError(f"{labels}: no frames")
    return samples


def read_image(path: str):
    """uint8 RGB tensor [3, H, W]."""
    import torch
    from PIL import Image

    with Image.open(path) as im:
        arr = np.asarray(im.convert("RGB"))
    return torch.from_numpy(arr.copy()).permute(2, 0, 1)


class TrainSet:
    """Map-style dataset keyed by ``(index, net_w, net_h, seed)`` (see `IterationBatches`)."""

    def __init__(self, samples: list[Sample], params: AugmentParams):
        self.samples, self.params = samples, params

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, key):
        import torch

        index, net_w, net_h, seed = key
        s = self.samples[index]
        img = read_image(s.path)
        if tuple(img.shape[1:]) != (s.height, s.width):
            raise CycleAugError(
                f"{s.path}: image is {img.shape[2]}x{img.shape[1]}, its header said {s.width}x{s.height}"
            )
        rng = np.random.default_rng(seed)
        boxes = s.boxes[rng.permutation(len(s.boxes))][: self.params.max_boxes]
        d = draw(rng, self.params, s.width, s.height)
        x = augment_image(img, d, net_w, net_h)
        b = transform_boxes(boxes, d, s.width, s.height, net_w, net_h)
        return x, torch.from_numpy(b)


def collate(batch):
    """Images [B, 3, H, W] and targets [K, 6]: (image index, class 0, cx, cy, w, h) normalised."""
    import torch

    images = torch.stack([x for x, _ in batch])
    rows = [
        torch.cat([torch.full((len(b), 1), float(i)), torch.zeros(len(b), 1), b], 1) for i, (_, b) in enumerate(batch)
    ]
    targets = torch.cat(rows) if rows else torch.zeros(0, 6)
    return images, targets


class IterationBatches:
    """Batch sampler: for iterations ``start..end`` (1-based, inclusive), ``subdivisions`` mini-batches
    of ``batch / subdivisions`` keys each, every image drawn uniformly with replacement."""

    def __init__(
        self,
        n_images: int,
        batch: int,
        subdivisions: int,
        start: int,
        end: int,
        seed: int,
        init_size: tuple[int, int],
        random: bool,
        semantics: str = DEFAULT_SEMANTICS,
    ):
        self.n, self.batch, self.subdivisions = n_images, batch, subdivisions
        self.start, self.end, self.seed = start, end, seed
        self.init_size, self.random, self.semantics = init_size, random, semantics

    def __len__(self) -> int:
        return max(0, self.end - self.start + 1) * self.subdivisions

    def size(self, iteration: int) -> tuple[int, int]:
        return net_size_for_iteration(
            iteration, *self.init_size, self.random, self.seed, semantics=self.semantics, max_batches=self.end
        )

    def keys(self, iteration: int) -> list[tuple[int, int, int, int]]:
        w, h = self.size(iteration)
        rng = np.random.default_rng([self.seed, 0xDA7A, iteration])
        idx = rng.integers(0, self.n, size=self.batch)
        seeds = rng.integers(0, 2**62, size=self.batch)
        return [(int(i), w, h, int(s)) for i, s in zip(idx, seeds)]

    def __iter__(self):
        mini = self.batch // self.subdivisions
        for it in range(self.start, self.end + 1):
            keys = self.keys(it)
            for s in range(self.subdivisions):
                yield keys[s * mini : (s + 1) * mini]
