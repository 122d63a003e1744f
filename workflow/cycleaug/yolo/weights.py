"""Darknet ``.weights`` files: read, write, and check their size against a cfg before loading.

Format (AlexeyAB/darknet ``src/parser.c``, ``load_weights_upto`` / ``save_weights_upto``), little endian:

- header: int32 major, int32 minor, int32 revision, then ``seen`` (images seen in training) as
  uint64 when ``major * 10 + minor >= 2`` and as uint32 otherwise (so 20 or 16 bytes);
- then, for every ``[convolutional]`` layer in cfg order (other layer types have no weights), float32:
  ``biases`` (the BN beta with ``batch_normalize=1``, else the conv bias) [filters], and with BN
  ``scales`` (gamma), ``rolling_mean``, ``rolling_variance`` [filters each], then the conv
  weights [filters, in_channels, size, size] (PyTorch's layout).

A cutoff ``N`` reads or writes only layers ``0 .. N-1``: ``darknet53.conv.74`` is the first 75
layers of yolov3.cfg (layers 0-74, the Darknet-53 backbone; layer 74 is a shortcut, so cutoff 74
and 75 give the same bytes). darknet itself stops quietly at the end of a short file and leaves the
rest of the network as initialised; here the file size must equal the size the cfg and cutoff imply,
or nothing is loaded and the error says which sizes would have matched.

We write header 0, 2, 5 (AlexeyAB's version) with a 64-bit ``seen``, so darknet reads our files.
Reference sizes: yolov3.weights (80 classes) 248,007,048 bytes; a 1-class yolov3 246,305,388;
darknet53.conv.74 162,482,580.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from cycleaug.atomic import atomic_path
from cycleaug.errors import CycleAugError
from cycleaug.yolo.cfg import DarknetCfg, conv_parameter_counts

if TYPE_CHECKING:  # torch is imported where it is used: `cycleaug --help` stays fast
    import torch

HEADER_VERSION = (0, 2, 5)


@dataclass(frozen=True)
class WeightsHeader:
    major: int
    minor: int
    revision: int
    seen: int

    @property
    def nbytes(self) -> int:
        return 12 + (8 if self.major * 10 + self.minor >= 2 else 4)


def weights_nbytes(cfg: DarknetCfg, cutoff: int | None = None, header_bytes: int = 20) -> int:
    """Size in bytes of a weights file for ``cfg`` holding layers ``0 .. cutoff-1`` (all if None)."""
    floats = sum(
        sum(conv_parameter_counts(layer).values())
        for layer in cfg.conv_layers
        if cutoff is None or layer.index < cutoff
    )
    return header_bytes + 4 * floats


def matching_cutoffs(cfg: DarknetCfg, nbytes: int, header_bytes: int = 20) -> tuple[int, int] | None:
    """The range (first, last) of cutoffs whose expected size is ``nbytes``, or None. A range because
    layers without weights (shortcut, route, ...) do not change the size."""
    found = [c for c in range(len(cfg.layers) + 1) if weights_nbytes(cfg, c, header_bytes) == nbytes]
    return (found[0], found[-1]) if found else None


def read_header(path: str | os.PathLike) -> WeightsHeader:
    from cycleaug.torchfile import read_head

    path = Path(path)
    head = read_head(path, 20, "a darknet .weights file")
    if len(head) < 16:
        raise CycleAugError(f"{path}: {len(head)} bytes is too short for a darknet weights header (16 or 20 bytes)")
    major, minor, revision = struct.unpack("<3i", head[:12])
    if major * 10 + minor >= 2:
        if len(head) < 20:
            raise CycleAugError(
                f"{path}: header version {major}.{minor} needs 20 header bytes; the file has {len(head)}"
            )
        (seen,) = struct.unpack("<Q", head[12:20])
    else:
        (seen,) = struct.unpack("<I", head[12:16])
    return WeightsHeader(major, minor, revision, seen)


def _conv_blocks(model):
    from cycleaug.yolo.model import ConvBlock

    return [m for m in model.layers if isinstance(m, ConvBlock)]


def load_darknet_weights(model, path: str | os.PathLike, cutoff: int | None = None) -> WeightsHeader:
    """Load a darknet ``.weights`` file into a ``Darknet`` model (layers ``< cutoff`` only if given).

    The file size is checked against the model's cfg first; on a mismatch nothing is loaded."""
    import torch

    path = Path(path)
    header = read_header(path)
    cfg: DarknetCfg = model.cfg
    actual = path.stat().st_size
    expected = weights_nbytes(cfg, cutoff, header.nbytes)
    if actual != expected:
        what = f"the first {cutoff} layers of {cfg.path}" if cutoff is not None else f"all layers of {cfg.path}"
        hint = ""
        matches = matching_cutoffs(cfg, actual, header.nbytes)
        if matches:
            first, last = matches
            span = f"{first}" if first == last else f"{first}..{last}"
            hint = f"; its size matches cutoff {span} (a file of only the first layers, like darknet53.conv.74; pass that cutoff)"
        elif actual < expected:
            hint = "; the file is truncated or was written for a smaller network"
        else:
            hint = "; the file was written for a larger network (another cfg or number of classes?)"
        raise CycleAugError(
            f"{path}: {actual:,} bytes, expected {expected:,} for {what} "
            f"(header {header.nbytes} bytes + float32 parameters){hint}. Nothing was loaded."
        )
    data = np.fromfile(path, dtype="<f4", offset=header.nbytes)
    offset = 0
    with torch.no_grad():
        for block in _conv_blocks(model):
            if cutoff is not None and block.spec.index >= cutoff:
                break
            for tensor in _file_order(block):
                n = tensor.numel()
                tensor.copy_(torch.from_numpy(data[offset : offset + n].copy()).view_as(tensor))
                offset += n
    assert offset == data.size, (offset, data.size)
    return header


def _file_order(block) -> list[torch.Tensor]:
    """A convolutional block's tensors in darknet's file order (src/parser.c, save_convolutional_weights):
    batch-norm beta, gamma, mean, variance (or the bias without batch norm), then the kernel."""
    head = (
        [block.bn.bias, block.bn.weight, block.bn.running_mean, block.bn.running_var]
        if block.bn is not None
        else [block.conv.bias]
    )
    return [*head, block.conv.weight]


def save_darknet_weights(model, path: str | os.PathLike, seen: int = 0, cutoff: int | None = None) -> None:
    """Write a darknet ``.weights`` file (header 0.2.5, 64-bit ``seen``) atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(struct.pack("<3iQ", *HEADER_VERSION, int(seen)))
            for block in _conv_blocks(model):
                if cutoff is not None and block.spec.index >= cutoff:
                    break
                for tensor in _file_order(block):
                    f.write(tensor.detach().cpu().float().contiguous().numpy().astype("<f4").tobytes())
    expected = weights_nbytes(model.cfg, cutoff)
    if path.stat().st_size != expected:  # cannot happen unless the model and its cfg disagree
        raise CycleAugError(f"{path}: wrote {path.stat().st_size:,} bytes, expected {expected:,}")


def is_torch_checkpoint(path: str | os.PathLike) -> bool:
    """``torch.save`` files are zip archives; darknet weights start with a small int32 header."""
    with open(path, "rb") as f:
        return f.read(4) == b"PK\x03\x04"


def load_weights(model, path: str | os.PathLike) -> str:
    """Load darknet ``.weights`` or one of our PyTorch checkpoints (a state dict, or a dict with the
    state dict under ``"model"``) into ``model``; returns ``"darknet"`` or ``"torch"``."""

    path = Path(path)
    if not path.is_file():
        raise CycleAugError(f"{path}: weights file not found")
    if not is_torch_checkpoint(path):
        load_darknet_weights(model, path)
        return "darknet"
    from cycleaug import torchfile

    expected = "darknet .weights, or a PyTorch state dict / train-yolo checkpoint (best.pt, last.pt)"
    state = torchfile.load(path, expected)
    if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
        state = state["model"]
    if not isinstance(state, dict):
        raise CycleAugError(f"{path}: holds a {type(state).__name__}; expected {expected}")
    check_state_dict(model, state, path)
    model.load_state_dict(state)
    return "torch"


def check_state_dict(model, state: dict, path) -> None:
    """Every key and shape of ``state`` against ``model`` before anything is loaded, so that a checkpoint of
    another cfg leaves the model untouched; the error names the first key that does not fit, with both
    shapes."""
    import torch

    def shape(t) -> str:
        return "x".join(map(str, t.shape)) if isinstance(t, torch.Tensor) else type(t).__name__

    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    wrong = [
        k for k in own if k in state and (not isinstance(state[k], torch.Tensor) or state[k].shape != own[k].shape)
    ]
    if missing or unexpected or wrong:
        first = (
            f"{wrong[0]} has shape {shape(state[wrong[0]])}, expected {shape(own[wrong[0]])}"
            if wrong
            else f"key {missing[0]} is missing"
            if missing
            else f"unexpected key {unexpected[0]}"
        )
        raise CycleAugError(
            f"{path}: checkpoint does not fit {model.cfg.path}: {first} ({len(wrong)} of another shape, "
            f"{len(missing)} missing, {len(unexpected)} unexpected). Nothing was loaded."
        )
