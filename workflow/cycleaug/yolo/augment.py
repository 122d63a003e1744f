"""Darknet's detector training augmentation and its multi-scale rule.

Per image (AlexeyAB/darknet ``src/data.c`` ``load_data_detection``, OpenCV build, and
``src/image_opencv.cpp`` ``image_data_augmentation``):

1. jitter: ``dw = (int)(ow * jitter)``, ``dh = (int)(oh * jitter)``; ``pleft, pright`` drawn from
   U(-dw, dw) and ``ptop, pbot`` from U(-dh, dh), truncated to int. The window
   ``(pleft, ptop, ow - pleft - pright, oh - ptop - pbot)`` is cut from the image (a negative offset
   reaches outside it: that part is filled with the image's mean colour) and stretched to the
   network size with bilinear interpolation (``cv::resize`` ``INTER_LINEAR``: half-pixel centres, no
   anti-aliasing = ``torch.nn.functional.interpolate(mode="bilinear", align_corners=False)``).
2. flip: left-right with probability 1/2 (``[net] flip``, default 1).
3. colour: ``dhue`` ~ U(-hue, hue), ``dsat = rand_scale(saturation)``, ``dexp = rand_scale(exposure)``
   where ``rand_scale(s)`` is U(1, s) or its reciprocal with probability 1/2 (``src/utils.c``).
   In HSV: S x dsat, V x dexp (saturated at 1 like OpenCV's 8-bit channels), H shifted by dhue of a
   full turn (OpenCV adds 179 x dhue to its 0-180 hue; we wrap around the circle like pjreddie's
   ``distort_image`` rather than saturating a negative 8-bit hue at 0).
4. boxes (``correct_boxes`` / ``fill_truth_detection``): shuffled, at most ``max`` (90) kept, mapped
   into the window, flipped, clipped to [0, 1]; a box narrower or lower than one network pixel
   (``lowest_w = 1 / net_w``) is dropped.

Multi-scale (``[yolo] random=1``; ``src/detector.c`` ``train_detector``): every 10 iterations the
network size is redrawn as ``roundl(rand_scale(1.4) * init / 32 + 1) * 32`` per side (darknet's ``+ 1``
included), at least 32; the first 10 iterations of a run use the largest size
``roundl(1.4 * init / 32 + 1) * 32`` (darknet's memory check at start).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from cycleaug.yolo.semantics import DEFAULT, EARLY_2020

RANDOM_COEF = 1.4  # detector.c: rand_scale(1.4)
RESIZE_EVERY = 10  # detector.c: count++ % 10 == 0
RESIZE_STEP = 32


@dataclass(frozen=True)
class AugmentParams:
    jitter: float = 0.3
    hue: float = 0.1
    saturation: float = 1.5
    exposure: float = 1.5
    flip: bool = True
    max_boxes: int = 90


@dataclass(frozen=True)
class Draw:
    """One image's random augmentation, in original-image pixels."""

    pleft: int
    pright: int
    ptop: int
    pbot: int
    flip: bool
    dhue: float
    dsat: float
    dexp: float

    def window(self, ow: int, oh: int) -> tuple[int, int, int, int]:
        """(left, top, width, height) of the cut, in original pixels."""
        return self.pleft, self.ptop, ow - self.pleft - self.pright, oh - self.ptop - self.pbot


def rand_scale(rng: np.random.Generator, s: float) -> float:
    """darknet ``rand_scale``: U(1, s), inverted with probability 1/2."""
    scale = float(rng.uniform(1.0, s)) if s != 1 else 1.0
    return scale if rng.integers(2) else 1.0 / scale


def draw(rng: np.random.Generator, params: AugmentParams, ow: int, oh: int) -> Draw:
    dw, dh = int(ow * params.jitter), int(oh * params.jitter)
    pleft, pright = int(rng.uniform(-dw, dw)), int(rng.uniform(-dw, dw))
    ptop, pbot = int(rng.uniform(-dh, dh)), int(rng.uniform(-dh, dh))
    flip = bool(rng.integers(2)) if params.flip else False
    dhue = float(rng.uniform(-params.hue, params.hue))
    dsat = rand_scale(rng, params.saturation)
    dexp = rand_scale(rng, params.exposure)
    return Draw(pleft, pright, ptop, pbot, flip, dhue, dsat, dexp)


def transform_boxes(boxes: np.ndarray, d: Draw, ow: int, oh: int, net_w: int, net_h: int) -> np.ndarray:
    """Pixel ``x1, y1, x2, y2`` boxes of the original image -> normalised ``cx, cy, w, h`` of the
    augmented network input; boxes that end up under one network pixel wide or high are dropped."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    left_px, top_px, sw, sh = d.window(ow, oh)
    left = (boxes[:, 0] - left_px) / sw
    right = (boxes[:, 2] - left_px) / sw
    top = (boxes[:, 1] - top_px) / sh
    bot = (boxes[:, 3] - top_px) / sh
    if d.flip:
        left, right = 1.0 - right, 1.0 - left
    left, right, top, bot = (np.clip(v, 0.0, 1.0) for v in (left, right, top, bot))
    w, h = right - left, bot - top
    keep = (w >= 1.0 / net_w) & (h >= 1.0 / net_h)
    out = np.stack([(left + right) / 2, (top + bot) / 2, w, h], axis=1)[keep]
    return out.astype(np.float32)


def distort_colour(img, dhue: float, dsat: float, dexp: float):
    """HSV jitter of a float RGB image in [0, 1], shape [3, H, W] (darknet's ``distort_image``): hue
    shifted by ``dhue`` (a fraction of the circle), saturation and value scaled, each clipped to [0, 1].

    In one pass without building the HSV image: the hue in sixths of the circle from the largest channel,
    then each channel n of (R, G, B) = (5, 3, 1) back as ``V - V S clip(min(k, 4 - k), 0, 1)`` with
    ``k = (n + 6 H) mod 6`` (the closed form of the HSV-to-RGB sextants; Smith, "Color gamut transform
    pairs", SIGGRAPH 1978). Element-wise max/min rather than ``max(dim)``, whose index search took half
    of the 6 ms per 320x192 image of the earlier per-sextant version; checked against ``colorsys``."""
    import torch

    if dhue == 0 and dsat == 1 and dexp == 1:
        return img
    r, g, b = img
    v = torch.maximum(torch.maximum(r, g), b)
    delta = v - torch.minimum(torch.minimum(r, g), b)
    safe = delta.clamp_min(1e-12)
    h6 = torch.where(v == r, (g - b) / safe, torch.where(v == g, (b - r) / safe + 2, (r - g) / safe + 4))
    h6 = torch.where(delta > 0, h6, 0.0).add_(6 * dhue)  # a grey pixel has hue 0, as in colorsys
    s = torch.where(v > 0, delta / v.clamp_min(1e-12), 0.0).mul_(dsat).clamp_(0, 1)
    v = v.mul(dexp).clamp_(0, 1)
    k = (torch.tensor([5.0, 3.0, 1.0], dtype=img.dtype).view(3, 1, 1) + h6).remainder_(6)
    return (v - v * s * torch.minimum(k, 4 - k).clamp_(0, 1)).clamp_(0, 1)


def augment_image(img, d: Draw, net_w: int, net_h: int):
    """uint8 RGB ``[3, oh, ow]`` tensor -> float ``[3, net_h, net_w]`` in [0, 1], augmented by ``d``."""
    import torch
    import torch.nn.functional as F

    _, oh, ow = img.shape
    x0, y0, sw, sh = d.window(ow, oh)
    src = img.float()
    if (x0, y0, sw, sh) == (0, 0, ow, oh):
        canvas = src
    else:
        mean = src.mean(dim=(1, 2))
        canvas = mean[:, None, None].expand(3, sh, sw).clone()
        sx0, sy0 = max(0, x0), max(0, y0)
        sx1, sy1 = min(ow, x0 + sw), min(oh, y0 + sh)
        if sx1 > sx0 and sy1 > sy0:
            canvas[:, sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = src[:, sy0:sy1, sx0:sx1]
    if (sh, sw) != (net_h, net_w):
        canvas = F.interpolate(canvas[None], size=(net_h, net_w), mode="bilinear", align_corners=False)[0]
    out = (canvas / 255.0).clamp(0, 1)
    if d.flip:
        out = torch.flip(out, dims=[2])
    return distort_colour(out, d.dhue, d.dsat, d.dexp).contiguous()


def _roundl(x: float) -> int:
    """C ``roundl``: halves away from zero (the sizes here are positive)."""
    return int(math.floor(x + 0.5))


def largest_size(init: int, coef: float = RANDOM_COEF, step: int = RESIZE_STEP) -> int:
    return max(step, _roundl(coef * init / step + 1) * step)


def random_size(
    rng: np.random.Generator,
    init_w: int,
    init_h: int,
    coef: float = RANDOM_COEF,
    step: int = RESIZE_STEP,
    clamp_shrink: bool = False,
) -> tuple[int, int]:
    """One multi-scale draw: the same random factor for both sides, as ``train_detector`` does. With
    ``clamp_shrink`` (darknet from 2020-01-09, a66bc8d6) a shrinking draw (r < 1) that rounds above the
    initial size gives the initial size."""
    r = rand_scale(rng, coef)
    w, h = _roundl(r * init_w / step + 1) * step, _roundl(r * init_h / step + 1) * step
    if clamp_shrink and r < 1 and (w > init_w or h > init_h):
        w, h = init_w, init_h
    return max(step, w), max(step, h)


def net_size_for_iteration(
    iteration: int,
    init_w: int,
    init_h: int,
    random: bool,
    seed: int,
    every: int = RESIZE_EVERY,
    semantics: str = DEFAULT,
    max_batches: int | None = None,
) -> tuple[int, int]:
    """Network input size for the 1-based ``iteration``: redrawn every ``every`` iterations from a
    generator seeded by (seed, block), so a resumed run continues with the same sizes. early-2020
    (cycleaug.yolo.semantics): shrinking draws are clamped to the initial size, and a resize after
    ``max_batches - 100`` completed iterations takes the largest size (c814d56e, 2020-03-02)."""
    if not random:
        return init_w, init_h
    block = (iteration - 1) // every
    early = semantics == EARLY_2020
    if block == 0 or (early and max_batches is not None and block * every > max_batches - 100):
        return largest_size(init_w), largest_size(init_h)
    rng = np.random.default_rng([seed, 0x5CA1E, block])
    return random_size(rng, init_w, init_h, clamp_shrink=early)
