"""16-bit, multi-channel PNG files: SYNTHIA's GT/LABELS images.

Pillow opens a 16-bit RGB PNG as 8-bit "RGB" and keeps only the high byte of each sample
(rawmode "RGB;16B"), which turns class ids 0..22 into 0; OpenCV is not a dependency. So label
images go through pypng, a pure-Python PNG codec that implements every filter type, interlacing,
palettes and bit depths 1-16 (https://gitlab.com/drj11/pypng). Reading uses
``Reader.read``, which yields the stored sample values unchanged (no sBIT rescaling, palette indices
as stored), one row at a time.
Writing sends big-endian rows through ``Writer.write_packed`` so no per-sample Python loop runs.
"""

from __future__ import annotations

import os
import zlib
from pathlib import Path

import numpy as np
import png

from cycleaug.atomic import atomic_path
from cycleaug.errors import CycleAugError


def read_png(path: str | os.PathLike) -> np.ndarray:
    """Return the samples of any PNG as an (H, W, C) array: uint16 for 16-bit files, else uint8."""
    path = Path(path)
    try:
        width, height, rows, info = png.Reader(filename=str(path)).read()
        dtype = np.uint16 if info["bitdepth"] > 8 else np.uint8
        # Rows are array('H') for 16-bit files (native byte order, decoded from big-endian) and
        # bytearray / array('B') below that; np.asarray views them through the buffer protocol.
        data = np.stack([np.asarray(row, dtype=dtype) for row in rows]) if height else np.zeros((0, 0), dtype)
    except FileNotFoundError:
        raise CycleAugError(f"{path}: label image not found") from None
    except (png.Error, zlib.error, OSError, ValueError) as exc:
        raise CycleAugError(f"{path}: not a readable PNG ({exc})") from None
    planes = info["planes"]
    if data.size != width * height * planes:
        raise CycleAugError(f"{path}: PNG holds {data.size} samples, expected {width}x{height}x{planes}")
    return data.reshape(height, width, planes)


def write_png16(path: str | os.PathLike, array: np.ndarray, compression: int = 6) -> None:
    """Write an (H, W) or (H, W, C) array (C = 1..4) as a 16-bit PNG, atomically."""
    a = np.asarray(array)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or not 1 <= a.shape[2] <= 4:
        raise ValueError(f"expected (H, W) or (H, W, C<=4) array, got shape {a.shape}")
    if a.min(initial=0) < 0 or a.max(initial=0) > 0xFFFF:
        raise ValueError("values must lie in 0..65535 for a 16-bit PNG")
    h, w, c = a.shape
    writer = png.Writer(
        width=w, height=h, greyscale=c in (1, 2), alpha=c in (2, 4), bitdepth=16, compression=compression
    )
    rows = a.astype(">u2").reshape(h, w * c).view(np.uint8)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        writer.write_packed(f, (row.tobytes() for row in rows))
