"""The FID Inception network: pytorch-fid's weights file or a fixed-seed random initialisation, its
identity (sha256, used in cache keys), and the feature extractor for one of pytorch-fid's ``dims``."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import torch
import torchvision
from pytorch_fid.inception import FIDInceptionA, FIDInceptionC, FIDInceptionE_1, FIDInceptionE_2, InceptionV3
from torch import nn

from cycleaug.errors import CycleAugError

# pytorch-fid's release asset; pytorch_fid/inception.py, FID_WEIGHTS_URL.
WEIGHTS_URL = (
    "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth"
)
WEIGHTS_FILENAME = "pt_inception-2015-12-05-6726825d.pth"
RANDOM_INIT = "random-init"
# Seed of the random-init network (Kaiming-normal convolutions, see random_init_state_dict).
RANDOM_INIT_SEED = 0
DIMS = (64, 192, 768, 2048)
LABEL_REAL = "FID"
LABEL_RANDOM = "FID (random features, not comparable to published FID)"


def default_weights_path() -> Path:
    """Where pytorch-fid would have cached the weights: ``$TORCH_HOME/hub/checkpoints/<file>``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / WEIGHTS_FILENAME


def missing_weights_message(path: Path) -> str:
    return (
        f"{path}: FID Inception weights not found. Download {WEIGHTS_URL} (pytorch-fid's port of the "
        f"TensorFlow FID Inception, about 91 MB) and save it as {path}, e.g. "
        f"`mkdir -p {path.parent} && curl -L -o {path} {WEIGHTS_URL}`; the workflow's acquisition rule "
        f"does this from config key pretrained.inception. For a demo without the download use "
        f"--weights {RANDOM_INIT} (config fid.weights: {RANDOM_INIT}), whose values are not comparable "
        f"to published FID"
    )


def build_fid_inception():
    """pytorch-fid's ``fid_inception_v3()`` architecture, without its download.

    Same construction as pytorch_fid/inception.py: torchvision's Inception3 (1008 classes, no aux
    logits, no weight init) with the Mixed blocks swapped for pytorch-fid's FID variants. The weights are
    loaded by the caller from a local file.
    """
    net = torchvision.models.inception_v3(weights=None, num_classes=1008, aux_logits=False, init_weights=False)
    net.Mixed_5b = FIDInceptionA(192, pool_features=32)
    net.Mixed_5c = FIDInceptionA(256, pool_features=64)
    net.Mixed_5d = FIDInceptionA(288, pool_features=64)
    net.Mixed_6b = FIDInceptionC(768, channels_7x7=128)
    net.Mixed_6c = FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6d = FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6e = FIDInceptionC(768, channels_7x7=192)
    net.Mixed_7b = FIDInceptionE_1(1280)
    net.Mixed_7c = FIDInceptionE_2(2048)
    return net


def random_init_state_dict(seed: int = RANDOM_INIT_SEED) -> dict:
    """A fixed-seed random state dict of the FID Inception (``random-init``: demo only).

    Convolutions and the (unused) classifier get Kaiming-normal weights (fan-in, ReLU gain) from a
    ``torch.Generator`` seeded with ``seed``; batch norms keep their identity initialisation (weight 1,
    bias 0, running mean 0, variance 1). Kaiming scaling keeps activations of order 1 through the ~50
    layers, so the random features are neither vanishing nor overflowing.
    """
    net = build_fid_inception()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu", generator=gen)
                if module.bias is not None:
                    module.bias.zero_()
    return net.state_dict()


class FIDInceptionFeatures(InceptionV3):
    """pytorch-fid's ``InceptionV3`` wrapper around an already-built, already-loaded Inception.

    ``InceptionV3.__init__`` would build its network through ``fid_inception_v3()``, which downloads
    the weights; this subclass takes the network instead and assembles the same four blocks, so the
    forward pass (resize, [-1, 1] scaling, block loop) is pytorch-fid's own ``InceptionV3.forward``.
    """

    def __init__(self, inception: nn.Module, dims: int):
        nn.Module.__init__(self)  # not InceptionV3.__init__: it would download
        block = self.BLOCK_INDEX_BY_DIM[dims]
        self.resize_input = True
        self.normalize_input = True
        self.output_blocks = [block]
        self.last_needed_block = block
        # Blocks exactly as pytorch_fid/inception.py, InceptionV3.__init__.
        layers = [
            [
                inception.Conv2d_1a_3x3,
                inception.Conv2d_2a_3x3,
                inception.Conv2d_2b_3x3,
                nn.MaxPool2d(kernel_size=3, stride=2),
            ],
            [inception.Conv2d_3b_1x1, inception.Conv2d_4a_3x3, nn.MaxPool2d(kernel_size=3, stride=2)],
            [
                inception.Mixed_5b,
                inception.Mixed_5c,
                inception.Mixed_5d,
                inception.Mixed_6a,
                inception.Mixed_6b,
                inception.Mixed_6c,
                inception.Mixed_6d,
                inception.Mixed_6e,
            ],
            [inception.Mixed_7a, inception.Mixed_7b, inception.Mixed_7c, nn.AdaptiveAvgPool2d(output_size=(1, 1))],
        ]
        self.blocks = nn.ModuleList(nn.Sequential(*blk) for blk in layers[: block + 1])
        for param in self.parameters():
            param.requires_grad = False


@dataclass(frozen=True)
class Weights:
    """Which network computes the features: ``kind`` is "real" (a weights file) or "random-init"."""

    kind: str
    path: str | None
    sha256: str  # of the file, or of the random state dict's tensors: the identity used in cache keys

    @property
    def label(self) -> str:
        return LABEL_REAL if self.kind == "real" else LABEL_RANDOM


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _state_dict_sha256(state: dict) -> str:
    h = hashlib.sha256()
    for key in sorted(state):
        h.update(key.encode())
        h.update(state[key].detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def check_weights(spec: str | os.PathLike | None) -> Path | None:
    """Fail early (before any image is read) when a configured weights file is missing.

    ``spec`` is a file, ``"random-init"``, or None for pytorch-fid's cache location
    (:func:`default_weights_path`). Returns the file, or None for ``random-init``.
    """
    if spec is not None and str(spec) == RANDOM_INIT:
        return None
    path = Path(spec) if spec is not None else default_weights_path()
    if not path.is_file():
        raise CycleAugError(missing_weights_message(path))
    return path


def load_weights(spec: str | os.PathLike | None) -> tuple[dict, Weights]:
    """``(state_dict, Weights)`` for a weights file (``torch.load(weights_only=True)``) or ``random-init``."""
    path = check_weights(spec)
    if path is None:
        state = random_init_state_dict(RANDOM_INIT_SEED)
        return state, Weights(RANDOM_INIT, None, _state_dict_sha256(state))
    from cycleaug import torchfile

    state = torchfile.load(path, f"the FID Inception state dict {WEIGHTS_URL} (re-download it)")
    if not isinstance(state, dict):
        raise CycleAugError(f"{path}: holds a {type(state).__name__}, expected a state dict of the FID Inception")
    return state, Weights("real", str(path), _file_sha256(path))


def build_model(state: dict, dims: int, device):
    """The feature extractor for ``dims`` (pytorch-fid's block choice) with ``state`` loaded, in eval mode."""
    if dims not in DIMS:
        raise CycleAugError(f"dims: {dims} is not one of {DIMS} (pytorch-fid's Inception blocks)")
    net = build_fid_inception()
    try:
        net.load_state_dict(state)
    except RuntimeError as exc:
        raise CycleAugError(f"weights: not a state dict of pytorch-fid's FID Inception ({exc})") from exc
    return FIDInceptionFeatures(net, dims).to(device).eval()
