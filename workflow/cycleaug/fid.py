"""Frechet Inception Distance, computed the way pytorch-fid (mseitzer/pytorch-fid 0.3.0) computes it.

CycleGAN papers, and the paper's Fig. 6, report FID with pytorch-fid, so every step here follows
pytorch-fid 0.3.0 (``pytorch_fid/fid_score.py`` and ``pytorch_fid/inception.py``):

- network: pytorch-fid's FID Inception (torchvision's Inception3 with 1008 classes, no aux logits, and
  pytorch-fid's patched ``FIDInceptionA/C/E_1/E_2`` blocks) and its ``InceptionV3`` wrapper's forward:
  bilinear resize to 299x299 (``align_corners=False``), inputs scaled from [0, 1] to [-1, 1];
- ``dims`` picks the block as ``InceptionV3.BLOCK_INDEX_BY_DIM`` does (64, 192, 768, 2048), and block
  outputs that are not 1x1 are average-pooled to 1x1 as ``get_activations`` does;
- images: every file in the directory (not recursive) whose extension is one of pytorch-fid's
  ``IMAGE_EXTENSIONS`` (lower case), sorted, opened with PIL, converted to RGB, ``ToTensor`` (/255);
- statistics in float64: ``mu = mean(act, 0)``, ``sigma = np.cov(act, rowvar=False)``;
- Frechet distance ``|mu1 - mu2|^2 + Tr(S1 + S2 - 2 sqrtm(S1 S2))`` with scipy's ``sqrtm``; if the
  square root is not finite, 1e-6 is added to both diagonals and it is retried; if the diagonal of the
  square root has an imaginary part above 1e-3 it is an error, otherwise the real part is kept.

The weights are always read from a local file (``pt_inception-2015-12-05-6726825d.pth``, the file
pytorch-fid downloads) or replaced by a fixed-seed random initialisation (``random-init``, for the demo,
which cannot download anything). Nothing is ever fetched from a hub at run time.

    cycleaug fid results/samples/4gpu/epoch200 data/crops/bdd100k --weights downloads/pt_inception-2015-12-05-6726825d.pth
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import sys
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import torchvision
from PIL import Image
from pytorch_fid.inception import FIDInceptionA, FIDInceptionC, FIDInceptionE_1, FIDInceptionE_2, InceptionV3
from scipy import linalg
from torch import nn
from torchvision.transforms.functional import to_tensor

from cycleaug.atomic import atomic_path
from cycleaug.errors import CycleAugError
from cycleaug.progress import Progress
from cycleaug.runtime import loader_workers, resolve_device

# pytorch-fid's release asset; pytorch_fid/inception.py, FID_WEIGHTS_URL.
WEIGHTS_URL = (
    "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth"
)
WEIGHTS_FILENAME = "pt_inception-2015-12-05-6726825d.pth"
RANDOM_INIT = "random-init"
# Seed of the random-init network (Kaiming-normal convolutions, see random_init_state_dict).
RANDOM_INIT_SEED = 0
DIMS = (64, 192, 768, 2048)
# pytorch_fid/fid_score.py, IMAGE_EXTENSIONS (matched case-sensitively, as its glob does on Linux).
IMAGE_EXTENSIONS = frozenset({"bmp", "jpg", "jpeg", "pgm", "png", "ppm", "tif", "tiff", "webp"})
# pytorch_fid/fid_score.py, calculate_frechet_distance: eps offset and tolerance on the imaginary part.
FRECHET_EPS = 1e-6
IMAG_TOLERANCE = 1e-3
LABEL_REAL = "FID"
LABEL_RANDOM = "FID (random features, not comparable to published FID)"
# Bump when the meaning of a cached statistics file changes.
CACHE_FORMAT = 2  # 2: the features themselves too (KID needs them)


# ---------------------------------------------------------------------------------------------
# Frechet distance


class FrechetDistanceError(CycleAugError):
    """sqrtm(S1 S2) has a non-negligible imaginary diagonal: the statistics are not covariances."""


def frechet_distance_details(mu1, sigma1, mu2, sigma2, eps: float = FRECHET_EPS) -> tuple[float, bool]:
    """``(distance, eps_fallback_used)``; see :func:`frechet_distance`."""
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    sigma1, sigma2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != mu1.shape * 2:
        raise CycleAugError(
            f"Frechet distance: shapes differ: mu {mu1.shape} vs {mu2.shape}, "
            f"sigma {sigma1.shape} vs {sigma2.shape}; expected statistics of the same dims"
        )
    with warnings.catch_warnings():
        # scipy warns about singular/ill-conditioned input; the finiteness check below is what counts.
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        root = linalg.sqrtm(sigma1 @ sigma2)
        fallback = not np.isfinite(root).all()
        if fallback:
            offset = np.eye(sigma1.shape[0]) * eps
            root = linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    if np.iscomplexobj(root):
        diag_imag = np.abs(np.diagonal(root).imag)
        if not (diag_imag <= IMAG_TOLERANCE).all():
            raise FrechetDistanceError(
                f"Frechet distance: sqrtm(S1 S2) has an imaginary component of {np.abs(root.imag).max():.3g} "
                f"on its diagonal (tolerance {IMAG_TOLERANCE}); the statistics are not valid covariances"
            )
        root = root.real
    diff = mu1 - mu2
    value = float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(root))
    if not np.isfinite(value):  # pytorch-fid would print nan; a workflow should stop instead
        raise FrechetDistanceError(
            f"Frechet distance: not finite ({value}) even with {eps} added to the "
            "covariance diagonals; the statistics contain inf or nan"
        )
    return value, fallback


def frechet_distance(mu1, sigma1, mu2, sigma2, eps: float = FRECHET_EPS) -> float:
    """``|mu1 - mu2|^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2))`` (Heusel et al. 2017), pytorch-fid's way.

    If scipy's square root of ``S1 S2`` is not finite (a singular product), ``eps`` is added to both
    diagonals and the root recomputed; an imaginary diagonal above 1e-3 raises
    :class:`FrechetDistanceError`, a smaller one is dropped (numerical noise).
    """
    return frechet_distance_details(mu1, sigma1, mu2, sigma2, eps)[0]


# ---------------------------------------------------------------------------------------------
# The network


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


# ---------------------------------------------------------------------------------------------
# Images and features


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


@dataclass
class Stats:
    mu: np.ndarray
    sigma: np.ndarray
    n: int
    act: np.ndarray | None = None  # the features themselves (float32), for KID


def statistics(act: np.ndarray) -> Stats:
    """float64 mean and covariance (``np.cov(rowvar=False)``, N-1 normalisation) of the features."""
    feats = np.asarray(act, dtype=np.float64)
    return Stats(feats.mean(axis=0), np.cov(feats, rowvar=False), len(feats), np.asarray(act, dtype=np.float32))


# ---------------------------------------------------------------------------------------------
# KID: Binkowski, Sutherland, Arbel & Gretton, "Demystifying MMD GANs", ICLR 2018, Sec. 3: the squared
# MMD with the cubic polynomial kernel k(x, y) = (x.y / d + 1)^3 between the two sets' Inception features,
# estimated without bias (the diagonal terms left out) on ``subsets`` random subsets of ``subset_size``
# features from each set (their code: 100 subsets of 1,000); reported as the mean and standard deviation
# over subsets. Unlike FID it has an unbiased estimator, so it is meaningful with a few hundred images.
KID_SUBSETS, KID_SUBSET_SIZE = 100, 1000


def kernel_inception_distance(
    real: np.ndarray, fake: np.ndarray, subsets: int = KID_SUBSETS, subset_size: int = KID_SUBSET_SIZE, seed: int = 0
) -> tuple[float, float, int]:
    """(mean, standard deviation over subsets, subset size) of the unbiased KID estimate."""
    real, fake = np.asarray(real, dtype=np.float64), np.asarray(fake, dtype=np.float64)
    if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
        raise CycleAugError(f"KID: feature arrays of shapes {real.shape} and {fake.shape}; expected [n, d] and [m, d]")
    m = min(subset_size, len(real), len(fake))
    if m < 2:
        raise CycleAugError(f"KID: sets of {len(real)} and {len(fake)} images; expected at least 2 each")
    d = real.shape[1]
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(subsets):
        x = real[rng.choice(len(real), m, replace=False)]
        y = fake[rng.choice(len(fake), m, replace=False)]
        kxx, kyy, kxy = ((a @ b.T / d + 1) ** 3 for a, b in ((x, x), (y, y), (x, y)))
        off = m * (m - 1)
        values.append((kxx.sum() - np.trace(kxx)) / off + (kyy.sum() - np.trace(kyy)) / off - 2 * kxy.mean())
    return float(np.mean(values)), float(np.std(values)), m


# ---------------------------------------------------------------------------------------------
# Content-keyed cache of a set's statistics


def image_set_digest(files: Iterable[Path]) -> str:
    """sha1 over (file name, sha1 of the file's bytes) of every image, in order: changes with any
    added, removed, renamed or modified image, and not with mtimes or the directory's location."""
    h = hashlib.sha1()
    for path in files:
        with open(path, "rb") as f:
            content = hashlib.sha1(f.read()).hexdigest()
        h.update(f"{path.name}\0{content}\n".encode())
    return h.hexdigest()


def cache_key(files: Sequence[Path], dims: int, weights: Weights) -> str:
    parts = {"format": CACHE_FORMAT, "dims": dims, "weights": weights.sha256, "images": image_set_digest(files)}
    return hashlib.sha1(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def _read_cached(path: Path, dims: int) -> Stats | None:
    try:
        with np.load(path) as f:
            stats = Stats(f["mu"], f["sigma"], int(f["n"]), f["act"])
    except (OSError, KeyError, ValueError) as exc:
        print(f"fid: ignoring unreadable cache file {path} ({exc}); recomputing", file=sys.stderr)
        return None
    if stats.mu.shape != (dims,) or stats.sigma.shape != (dims, dims):
        return None
    return stats


def set_statistics(
    directory: str | os.PathLike,
    model,
    weights: Weights,
    dims: int,
    batch_size: int = 50,
    device="cpu",
    workers: int = 0,
    cache_dir: str | os.PathLike | None = None,
) -> Stats:
    """Statistics of a directory's images; with ``cache_dir``, read from / written to
    ``cache_dir/<key>.npz`` where the key hashes the images' names and bytes, ``dims`` and the weights."""
    files = list_images(directory)
    cache_file = None
    if cache_dir is not None:
        cache_file = Path(cache_dir) / f"{cache_key(files, dims, weights)}.npz"
        if cache_file.is_file():
            stats = _read_cached(cache_file, dims)
            if stats is not None:
                print(f"fid: {directory}: statistics of {stats.n} images from cache {cache_file}", file=sys.stderr)
                return stats
    stats = statistics(compute_activations(files, model, batch_size, device, workers, desc=f"fid features {directory}"))
    if cache_file is not None:
        with atomic_path(cache_file) as tmp:
            np.savez(
                tmp,
                mu=stats.mu,
                sigma=stats.sigma,
                n=stats.n,
                act=stats.act,
                directory=str(directory),
                weights=weights.kind,
                dims=dims,
            )
    return stats


def small_set_warning(directory: str | os.PathLike, n: int, dims: int) -> str | None:
    """The covariance of n feature vectors has rank <= n - 1, so it is full-rank (FID unbiased by that)
    only with more images than feature dimensions (2048 for the paper's pool3 features)."""
    if n > dims:
        return None
    return (
        f"{directory}: {n} images <= {dims} feature dimensions: the feature covariance is rank-deficient "
        f"and FID is biased (upward, more so for fewer images); compare only values from sets of equal size"
    )


# ---------------------------------------------------------------------------------------------
# The two entry points: one pair of sets, and the per-run table


@dataclass
class FIDResult:
    fid: float
    label: str
    weights: str  # "real" or "random-init"
    weights_file: str | None
    weights_sha256: str
    dims: int
    dir_a: str
    dir_b: str
    n_a: int
    n_b: int
    eps_fallback: bool
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        data = asdict(self)
        data["warning"] = "; ".join(self.warnings) if self.warnings else None
        data["random_init_seed"] = RANDOM_INIT_SEED if self.weights == RANDOM_INIT else None
        return data


class FIDSession:
    """One loaded network, reused for several sets (the real set's statistics are computed once)."""

    def __init__(
        self,
        weights=None,
        dims: int = 2048,
        batch_size: int = 50,
        device: str = "auto",
        workers: int | None = None,
        cache_dir: str | os.PathLike | None = None,
    ):
        if dims not in DIMS:
            raise CycleAugError(f"dims: {dims} is not one of {DIMS} (pytorch-fid's Inception blocks)")
        if batch_size < 1:
            raise CycleAugError(f"batch size: {batch_size}; expected a positive integer")
        check_weights(weights)  # before anything slow
        self.device = resolve_device(device)
        if self.device.type == "cuda":
            # IEEE float32, as the reference features (pytorch-fid's port of the TF Inception) are: on
            # Ampere and newer GPUs torch would run cuDNN convolutions in TF32 (a 10-bit mantissa).
            torch.backends.cudnn.conv.fp32_precision = "ieee"
            torch.backends.cuda.matmul.fp32_precision = "ieee"
        state, self.weights = load_weights(weights)
        self.model = build_model(state, dims, self.device)
        self.dims, self.batch_size, self.cache_dir = dims, batch_size, cache_dir
        if workers is None:  # decoding in workers only pays off when a GPU runs the network
            workers = 8 if self.device.type == "cuda" else 0
        self.workers = loader_workers(workers)

    def stats(self, directory, cache: bool = True) -> Stats:
        return set_statistics(
            directory,
            self.model,
            self.weights,
            self.dims,
            self.batch_size,
            self.device,
            self.workers,
            self.cache_dir if cache else None,
        )

    def distance(self, stats_a: Stats, stats_b: Stats, dir_a, dir_b) -> FIDResult:
        value, fallback = frechet_distance_details(stats_a.mu, stats_a.sigma, stats_b.mu, stats_b.sigma)
        notes = [
            w
            for w in (small_set_warning(dir_a, stats_a.n, self.dims), small_set_warning(dir_b, stats_b.n, self.dims))
            if w
        ]
        if fallback:
            notes.append(
                f"sqrtm(S1 S2) was singular; added {FRECHET_EPS} to both covariance diagonals (as pytorch-fid does)"
            )
        return FIDResult(
            value,
            self.weights.label,
            self.weights.kind,
            self.weights.path,
            self.weights.sha256,
            self.dims,
            str(dir_a),
            str(dir_b),
            stats_a.n,
            stats_b.n,
            fallback,
            notes,
        )


def compute_fid(
    dir_a,
    dir_b,
    weights=None,
    dims: int = 2048,
    batch_size: int = 50,
    device: str = "auto",
    workers: int | None = None,
    cache_dir=None,
) -> FIDResult:
    """FID between the images of two directories (with ``cache_dir``, both sets' statistics are cached)."""
    session = FIDSession(weights, dims, batch_size, device, workers, cache_dir)
    return session.distance(session.stats(dir_a), session.stats(dir_b), dir_a, dir_b)


FID_TABLE_COLUMNS = ("gpus", "epoch", "fid", "kid", "kid_std", "kid_subset", "n_real", "n_fake", "weights", "dims")


@dataclass(frozen=True)
class Run:
    gpus: int
    epoch: int
    directory: str

    @classmethod
    def parse(cls, text: str) -> Run:
        """``GPUS:EPOCH:DIR`` (the directory may itself contain colons)."""
        parts = text.split(":", 2)
        try:
            if len(parts) != 3 or not parts[2]:
                raise ValueError
            return cls(int(parts[0]), int(parts[1]), parts[2])
        except ValueError:
            raise CycleAugError(
                f"--runs {text!r}: expected GPUS:EPOCH:DIR, e.g. 4:200:results/samples/4gpu/epoch200"
            ) from None


def fid_table(
    real_dir,
    runs: Sequence[Run],
    out,
    weights=None,
    dims: int = 2048,
    batch_size: int = 50,
    device: str = "auto",
    workers: int | None = None,
    cache_dir=None,
) -> list[dict]:
    """Write ``out`` (CSV: gpus, epoch, fid, kid, kid_std, kid_subset, n_real, n_fake, weights, dims), one
    row per run sorted by (gpus, epoch); KID from the same features as FID (``kernel_inception_distance``); the real set's statistics are computed (or read from ``cache_dir``) once, the
    generated sets' are not cached. Returns the rows."""
    if not runs:
        raise CycleAugError("--runs: no runs given; expected at least one GPUS:EPOCH:DIR")
    check_weights(weights)  # fail on missing weights or sets before the slow part
    list_images(real_dir)
    seen = set()
    for run in runs:
        if (run.gpus, run.epoch) in seen:
            raise CycleAugError(f"--runs: gpus {run.gpus}, epoch {run.epoch} given twice")
        seen.add((run.gpus, run.epoch))
        list_images(run.directory)
    session = FIDSession(weights, dims, batch_size, device, workers, cache_dir)
    real = session.stats(real_dir)
    rows, printed = [], set()
    for run in sorted(runs, key=lambda r: (r.gpus, r.epoch)):
        fake = session.stats(run.directory, cache=False)
        result = session.distance(real, fake, real_dir, run.directory)
        kid, kid_std, kid_m = kernel_inception_distance(real.act, fake.act)
        for note in result.warnings:
            if note not in printed:  # the real set's warning once, not once per run
                printed.add(note)
                print(f"fid-table: warning: {note}", file=sys.stderr)
        print(
            f"fid-table: {run.gpus} GPUs, epoch {run.epoch}: {result.label} = {result.fid:.4f}, "
            f"KID = {kid:.5f} +- {kid_std:.5f} ({KID_SUBSETS} subsets of {kid_m})",
            file=sys.stderr,
        )
        rows.append(
            {
                "gpus": run.gpus,
                "epoch": run.epoch,
                "fid": repr(result.fid),
                "kid": repr(kid),
                "kid_std": repr(kid_std),
                "kid_subset": kid_m,
                "n_real": real.n,
                "n_fake": result.n_b,
                "weights": result.weights,
                "dims": result.dims,
            }
        )
    with atomic_path(out) as tmp:
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=FID_TABLE_COLUMNS)
            writer.writeheader()
            writer.writerows(rows)
    return rows
