"""The images of a directory and their Inception features, as pytorch-fid reads and batches them."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torchvision.transforms.functional import to_tensor

from cycleaug.errors import CycleAugError
from cycleaug.progress import Progress

# pytorch_fid/fid_score.py, IMAGE_EXTENSIONS (matched case-sensitively, as its glob does on Linux).
IMAGE_EXTENSIONS = frozenset({"bmp", "jpg", "jpeg", "pgm", "png", "ppm", "tif", "tiff", "webp"})


def list_images(directory: str | os.PathLike) -> list[Path]:
    """The files pytorch-fid reads from ``directory``: top level, known extensions, sorted."""
    directory = Path(directory)
    if not directory.is_dir():
        raise CycleAugError(f"{directory}: not a directory of images")
    files = sorted(p for p in directory.iterdir() if p.suffix[1:] in IMAGE_EXTENSIONS and p.is_file())
    if len(files) < 2:
        raise CycleAugError(
            f"{directory}: {len(files)} image(s) with extensions {sorted(IMAGE_EXTENSIONS)}; "
            "FID needs at least 2 (a covariance)"
        )
    return files


def _load_image(path: Path):
    """pytorch-fid's ImagePathDataset + ToTensor: RGB, float32 CxHxW in [0, 1]."""
    try:
        with Image.open(path) as img:
            return to_tensor(img.convert("RGB"))
    except OSError as exc:
        raise CycleAugError(f"{path}: cannot read image ({exc})") from exc


class _ImageFiles:
    """Map-style dataset of image tensors (a plain class: torch's Dataset needs no subclassing)."""

    def __init__(self, files: Sequence[Path]):
        self.files = list(files)

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int):
        return _load_image(self.files[i])


def _collate(images):
    """Stack a batch. Images of one size are stacked as they are (the model resizes them, as pytorch-fid);
    a batch of mixed sizes, which pytorch-fid cannot batch, is resized to 299 image by image with the
    model's own interpolation (the model's 299 -> 299 resize is then the identity)."""
    if len({tuple(t.shape) for t in images}) == 1:
        return torch.stack(images)
    return torch.cat([F.interpolate(t[None], size=(299, 299), mode="bilinear", align_corners=False) for t in images])


def compute_activations(
    files: Sequence[Path], model, batch_size: int = 50, device="cpu", workers: int = 0, desc: str = "fid features"
):
    """Features of every file, float64 array (n, dims), as pytorch-fid's ``get_activations``."""
    device = torch.device(device)
    loader = torch.utils.data.DataLoader(
        _ImageFiles(files),
        batch_size=max(1, min(batch_size, len(files))),
        shuffle=False,
        drop_last=False,
        num_workers=workers,
        collate_fn=_collate,
        pin_memory=device.type == "cuda",
    )
    out = np.empty((len(files), _dims_of(model)), dtype=np.float64)
    start = 0
    with Progress(len(files), desc, unit="img") as progress, torch.inference_mode():
        for batch in loader:
            pred = model(batch.to(device, non_blocking=True))[0]
            if pred.shape[2] != 1 or pred.shape[3] != 1:
                pred = F.adaptive_avg_pool2d(pred, output_size=(1, 1))
            pred = pred.squeeze(3).squeeze(2).cpu().numpy()
            out[start : start + len(pred)] = pred
            start += len(pred)
            progress.update(len(pred))
    return out


def _dims_of(model) -> int:
    return {0: 64, 1: 192, 2: 768, 3: 2048}[model.last_needed_block]
