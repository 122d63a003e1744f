"""Unaligned A/B training data and the paper's per-process sharding.

Reference semantics (junyanz/pytorch-CycleGAN-and-pix2pix, data/unaligned_dataset.py and
data/base_dataset.py, ``--preprocess resize_and_crop``): an epoch has max(|A|, |B|) samples; sample i
pairs A[i mod |A|] with a B image drawn at random; each image is resized to load_size x load_size
(bicubic), randomly cropped to crop_size, flipped horizontally with probability 1/2 and scaled to
[-1, 1] by (x/255 - 0.5)/0.5.

Sharding (paper Sec. 3.2): with D = max(|A|, |B|) samples and n processes, every epoch each process
draws ceil(scale x D / n) samples at random (paper: scale 4); processes may overlap. The draw comes
from a generator seeded by (seed, epoch, rank), so it is reproducible, differs per rank and epoch,
and a resumed run sees the same samples. Within one process a draw repeats no sample before all D
have been used (consecutive random permutations). Every random choice of an item (B partner, crop,
flip) is fixed in the plan, so the result does not depend on the number of loader workers.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from cycleaug.errors import CycleAugError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def list_images(directory: str | Path) -> list[Path]:
    """Image files directly in ``directory`` (a crop dir: PNGs beside manifest.csv), sorted by name."""
    directory = Path(directory)
    if not directory.is_dir():
        raise CycleAugError(f"{directory}: not a directory; expected a folder of crops (PNG)")
    paths = sorted(p for p in directory.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not paths:
        raise CycleAugError(f"{directory}: no images (*.png, *.jpg) found")
    return paths


def shard_size(n_samples: int, world_size: int, scale: float) -> int:
    """Samples per process per epoch: ceil(scale x D / n) (paper Sec. 3.2)."""
    return math.ceil(scale * n_samples / world_size)


@dataclass(frozen=True)
class Item:
    """One training pair: indices into A and B, and the seed of its crop/flip draws."""

    a: int
    b: int
    seed: int


def epoch_plan(n_a: int, n_b: int, *, seed: int, epoch: int, rank: int, world_size: int, scale: float) -> list[Item]:
    """The samples rank ``rank`` trains on in ``epoch`` (1-based), in order."""
    n = max(n_a, n_b)
    k = shard_size(n, world_size, scale)
    rng = np.random.default_rng([seed, epoch, rank])
    perms = [rng.permutation(n) for _ in range(math.ceil(k / n))]
    idx = np.concatenate(perms)[:k]
    b = rng.integers(0, n_b, size=k)
    seeds = rng.integers(0, 2**31 - 1, size=k)
    return [Item(int(i) % n_a, int(j), int(s)) for i, j, s in zip(idx, b, seeds)]


def decode_resized(path: Path, load_size: int) -> Image.Image:
    """Decode as RGB and resize (bicubic) to load_size x load_size: the deterministic part of loading."""
    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
    except OSError as exc:
        raise CycleAugError(f"{path}: cannot read image ({exc})") from None
    if im.size != (load_size, load_size):
        im = im.resize((load_size, load_size), Image.Resampling.BICUBIC)
    return im


def load_image(path: Path, load_size: int, crop_size: int, rng: random.Random, flip: bool = True) -> torch.Tensor:
    """Resize (bicubic) to load_size, random crop_size crop, random h-flip, CHW float in [-1, 1]."""
    im = decode_resized(path, load_size)
    x = rng.randint(0, load_size - crop_size)
    y = rng.randint(0, load_size - crop_size)
    im = im.crop((x, y, x + crop_size, y + crop_size))
    if flip and rng.random() < 0.5:
        im = im.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return to_tensor(np.asarray(im))


def load_resized(path: Path, load_size: int) -> torch.Tensor:
    """:func:`decode_resized` as a CHW uint8 tensor (cached by UnalignedCrops, then :func:`crop_flip`)."""
    im = decode_resized(path, load_size)
    return torch.from_numpy(np.array(im, dtype=np.uint8, copy=True)).permute(2, 0, 1).contiguous()


def crop_flip(image: torch.Tensor, crop_size: int, rng: random.Random, flip: bool = True) -> torch.Tensor:
    """The random part of :func:`load_image` on a CHW uint8 tensor: the same draws in the same order,
    so the pixels equal load_image's for the same ``rng`` state."""
    load_size = image.shape[-1]
    x = rng.randint(0, load_size - crop_size)
    y = rng.randint(0, load_size - crop_size)
    out = image[:, y : y + crop_size, x : x + crop_size]
    if flip and rng.random() < 0.5:
        out = out.flip(-1)
    return out.contiguous()


def normalize(batch: torch.Tensor) -> torch.Tensor:
    """uint8 -> float32 in [-1, 1], the same operations as :func:`to_tensor` (done after the copy to the
    device, so a GPU receives a quarter of the bytes)."""
    return batch.float().div_(255.0).sub_(0.5).div_(0.5)


def to_tensor(array: np.ndarray) -> torch.Tensor:
    """HWC uint8 -> CHW float32 in [-1, 1]: (x/255 - 0.5)/0.5 (reference Normalize((0.5,)*3, (0.5,)*3))."""
    t = torch.from_numpy(np.array(array, dtype=np.uint8, copy=True)).permute(2, 0, 1).float().div_(255.0)
    return t.sub_(0.5).div_(0.5)


class UnalignedCrops(torch.utils.data.Dataset):
    """Indexed by :class:`Item` (the sampler yields them), returns {"A": tensor, "B": tensor}."""

    def __init__(
        self,
        a_dir: str | Path,
        b_dir: str | Path,
        load_size: int,
        crop_size: int,
        flip: bool = True,
        cache: bool = False,
    ):
        if crop_size > load_size:
            raise CycleAugError(f"crop_size={crop_size} > load_size={load_size}; expected crop_size <= load_size")
        self.a_paths, self.b_paths = list_images(a_dir), list_images(b_dir)
        self.load_size, self.crop_size, self.flip = load_size, crop_size, flip
        # cache: decode and resize each image once and keep it as uint8 (load_size^2 x 3 bytes: 245 kB at
        # 286 px, ~2 GB for the paper's 7,985 crops), then crop/flip tensors; items are uint8 then, to be
        # normalised on the device (CycleGAN.prepare). Meant for a loader without workers (each worker
        # would hold its own cache).
        self.cache: dict[tuple[str, int], torch.Tensor] | None = {} if cache else None

    def __len__(self) -> int:
        return max(len(self.a_paths), len(self.b_paths))

    def _cached(self, side: str, index: int) -> torch.Tensor:
        key = (side, index)
        if key not in self.cache:
            paths = self.a_paths if side == "A" else self.b_paths
            self.cache[key] = load_resized(paths[index], self.load_size)
        return self.cache[key]

    def __getitem__(self, item: Item) -> dict[str, torch.Tensor]:
        rng = random.Random(item.seed)
        if self.cache is not None:
            a = crop_flip(self._cached("A", item.a), self.crop_size, rng, self.flip)
            b = crop_flip(self._cached("B", item.b), self.crop_size, rng, self.flip)
            return {"A": a, "B": b}
        a = load_image(self.a_paths[item.a], self.load_size, self.crop_size, rng, self.flip)
        b = load_image(self.b_paths[item.b], self.load_size, self.crop_size, rng, self.flip)
        return {"A": a, "B": b}


class PlanSampler(torch.utils.data.Sampler):
    """Yields the current epoch's plan from ``start``; ``set_plan`` switches epochs, so a loader
    with persistent workers can be reused across epochs."""

    def __init__(self) -> None:
        self.plan: list[Item] = []

    def set_plan(self, plan: list[Item], start: int = 0) -> None:
        self.plan = plan[start:]

    def __iter__(self):
        return iter(self.plan)

    def __len__(self) -> int:
        return len(self.plan)
