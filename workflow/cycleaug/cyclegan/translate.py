"""Translate images with a trained generator: the reference's ``{epoch}_net_G_A.pth`` (bare state
dict, old files with InstanceNorm running statistics included), our exported nets, or a complete
``latest.pt`` (its G_A or G_B). Width (ngf) and depth (residual blocks) are read from the weights.

Input pixels are scaled as (x/255 - 0.5)/0.5, outputs as (y + 1)/2 x 255 rounded to uint8 (the
reference's data/base_dataset.py Normalize and util/util.py tensor2im, which truncates instead of
rounding). The generator halves the resolution twice and doubles it twice, so sides must be
multiples of 4: other sizes (full SYNTHIA frames, 1280x760, are; BDD's 1280x720 are) are padded by
reflection on the right/bottom to the next multiple and cropped back, so every output has its
input's size. Images of equal size are batched.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.nn import functional as F

from cycleaug import torchfile
from cycleaug.atomic import atomic_path
from cycleaug.cyclegan import checkpoint
from cycleaug.cyclegan.data import IMAGE_SUFFIXES, list_images, to_tensor
from cycleaug.cyclegan.networks import ResnetGenerator, generator_from_state_dict
from cycleaug.errors import CycleAugError
from cycleaug.labels import relative_name
from cycleaug.progress import Progress


def load_generator(path: str | Path, net: str = "G_A", device: torch.device | str = "cpu") -> ResnetGenerator:
    """A generator in eval mode from any of the checkpoint kinds above."""
    path = Path(path)
    if not path.is_file():
        raise CycleAugError(f"{path}: checkpoint not found")
    state = torchfile.load(path, "a CycleGAN checkpoint or generator state dict")
    if isinstance(state, dict) and state.get("format") == checkpoint.FORMAT:
        if net not in ("G_A", "G_B"):
            raise CycleAugError(f"--net {net}: expected G_A or G_B")
        state = state["model"]["nets"][net]
    if not isinstance(state, dict):
        raise CycleAugError(f"{path}: expected a state dict (keys like model.1.weight), got {type(state).__name__}")
    return generator_from_state_dict(state, source=path).to(device).eval()


def input_paths(source: str | Path) -> list[Path]:
    source = Path(source)
    if source.is_file():
        if source.suffix.lower() not in IMAGE_SUFFIXES:
            raise CycleAugError(f"{source}: not an image ({', '.join(IMAGE_SUFFIXES)} expected)")
        return [source]
    return list_images(source)


def _read(path: Path) -> torch.Tensor:
    try:
        with Image.open(path) as im:
            return to_tensor(np.asarray(im.convert("RGB")))
    except OSError as exc:
        raise CycleAugError(f"{path}: cannot read image ({exc})") from None


def to_uint8(y: torch.Tensor) -> np.ndarray:
    """CHW in [-1, 1] -> HWC uint8, (y + 1)/2 x 255 rounded."""
    return ((y.float().clamp(-1, 1) + 1) / 2 * 255).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()


@torch.no_grad()
def translate_batch(generator: torch.nn.Module, x: torch.Tensor, pad_to: int = 4) -> torch.Tensor:
    """Run ``generator`` on NCHW ``x``, reflect-padding H and W up to multiples of ``pad_to``."""
    h, w = x.shape[-2:]
    ph, pw = -h % pad_to, -w % pad_to
    if ph or pw:
        if ph >= h or pw >= w:
            raise CycleAugError(f"image of {w}x{h} pixels is too small to pad to a multiple of {pad_to}")
        x = F.pad(x, (0, pw, 0, ph), mode="reflect")
    return generator(x)[..., :h, :w]


def translate(
    generator: torch.nn.Module,
    paths: Iterable[str | Path],
    out_dir: str | Path,
    pad_to: int = 4,
    batch_size: int = 8,
    progress: bool = True,
    names: Iterable[str] | None = None,
) -> list[Path]:
    """Translate each image into ``out_dir/<stem>.png``, or ``out_dir/<name>`` for the matching entry of
    ``names`` (relative paths, e.g. a SYNTHIA-SEQS frame's ``Stereo_Left/Omni_F/000000.png``), the same
    size as the input; returns the outputs in input order."""
    paths = [Path(p) for p in paths]
    rel = [f"{p.stem}.png" for p in paths] if names is None else [str(n) for n in names]
    if len(rel) != len(paths):
        raise CycleAugError(f"{len(paths)} input images but {len(rel)} output names")
    if len(set(rel)) != len(rel) or len(set(paths)) != len(paths):
        raise CycleAugError("input images with the same output name would overwrite each other's output")
    for name in rel:
        relative_name(name)
    target = dict(zip(paths, rel))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    device = next(generator.parameters()).device
    # Group by size so that a batch stacks; read lazily in groups to bound memory.
    sizes: dict[tuple[int, int], list[Path]] = defaultdict(list)
    for p in paths:
        try:
            with Image.open(p) as im:
                sizes[im.size].append(p)
        except OSError as exc:
            raise CycleAugError(f"{p}: cannot read image ({exc})") from None
    outputs = {}
    with Progress(len(paths), "generate", unit="img") if progress else _NoProgress() as bar:
        for group in sizes.values():
            for i in range(0, len(group), batch_size):
                chunk = group[i : i + batch_size]
                y = translate_batch(generator, torch.stack([_read(p) for p in chunk]).to(device), pad_to)
                for p, img in zip(chunk, y):
                    out = out_dir / target[p]
                    out.parent.mkdir(parents=True, exist_ok=True)
                    with atomic_path(out) as tmp:
                        Image.fromarray(to_uint8(img)).save(tmp, format="PNG")
                    outputs[p] = out
                bar.update(len(chunk))
    return [outputs[p] for p in paths]


class _NoProgress:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None

    def update(self, n: int = 1) -> None:
        pass
