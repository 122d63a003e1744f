"""Statistics of a set's features and the distances between two sets: mean and covariance, the Frechet
distance, KID, and the content-keyed cache of a set's statistics."""

from __future__ import annotations

import hashlib
import json
import os
import sys
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import linalg

from cycleaug.atomic import atomic_path
from cycleaug.errors import CycleAugError
from cycleaug.fid.features import compute_activations, list_images
from cycleaug.fid.weights import Weights

# pytorch_fid/fid_score.py, calculate_frechet_distance: eps offset and tolerance on the imaginary part.
FRECHET_EPS = 1e-6
IMAG_TOLERANCE = 1e-3
# Bump when the meaning of a cached statistics file changes.
CACHE_FORMAT = 2  # 2: the features themselves too (KID needs them)


# ---------------------------------------------------------------------------------------------
# Set statistics


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
