"""Reading PyTorch files (checkpoints, state dicts) with one-line errors that name the file and say what
was expected, instead of torch's multi-line text: an empty file, a file of another kind (a YAML or
darknet file passed as a checkpoint), a truncated one, or one holding Python objects that a
``weights_only`` load refuses (nothing of ours pickles code, so such a file is foreign)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from cycleaug.errors import CycleAugError

# torch.save writes a zip archive (torch >= 1.6); older files are a bare pickle stream (protocol 2:
# 0x80 0x02), as the reference CycleGAN's 2017-2019 `{epoch}_net_G_A.pth` may be.
_ZIP = b"PK\x03\x04"
_PICKLE = b"\x80"


def _first_line(exc: BaseException, limit: int = 160) -> str:
    text = str(exc).strip().splitlines()
    line = text[0].strip().split(". ")[0] if text else type(exc).__name__  # torch's first sentence
    return line if len(line) <= limit else line[: limit - 3] + "..."


def read_head(path: str | os.PathLike, n: int, expected: str) -> bytes:
    """The first ``n`` bytes of a file (fewer if it is shorter), or one line naming the file, why it cannot
    be read (missing, a folder, no permission) and what was ``expected``; for checkpoints here and darknet
    weights headers (``cycleaug.yolo.weights.read_header``)."""
    try:
        with open(path, "rb") as f:
            return f.read(n)
    except FileNotFoundError:
        raise CycleAugError(f"{path}: not found (expected {expected})") from None
    except OSError as exc:
        raise CycleAugError(f"{path}: cannot read ({exc.strerror or exc}; expected {expected})") from None


def load(path: str | os.PathLike, expected: str, map_location: Any = "cpu") -> Any:
    """``torch.load(path, weights_only=True)``; ``expected`` says what the file should be, e.g.
    "a train-yolo checkpoint (last.pt)". Raises CycleAugError with one line."""
    import pickle

    import torch

    path = Path(path)
    head = read_head(path, 4, expected)
    if not head:
        raise CycleAugError(f"{path}: empty file (expected {expected})")
    if head != _ZIP and not head.startswith(_PICKLE):
        raise CycleAugError(f"{path}: not a PyTorch checkpoint (expected {expected})")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:  # torch's multi-line weights_only text: keep its one fact
        text = str(exc)
        found = re.search(r"GLOBAL (\S+) was not an allowed global", text)
        if found:
            raise CycleAugError(
                f"{path}: holds a Python object ({found[1]}) that a safe (weights_only) load refuses, "
                f"so not one of ours; expected {expected}"
            ) from None
        cause = text.rsplit("WeightsUnpickler error:", 1)[-1] if "WeightsUnpickler error:" in text else ""
        cause = cause.strip().splitlines()[0].strip() if cause.strip() else "unreadable pickle data"
        raise CycleAugError(f"{path}: truncated or damaged PyTorch file ({cause}); expected {expected}") from None
    except Exception as exc:  # zip or stream errors of a truncated or damaged file
        raise CycleAugError(
            f"{path}: truncated or damaged PyTorch file ({_first_line(exc)}); expected {expected}"
        ) from None
