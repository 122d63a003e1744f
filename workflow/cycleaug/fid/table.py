"""The entry points: the FID of one pair of image directories (`cycleaug fid`) and the per-run table of
FID and KID against one real set (`cycleaug fid-table`, Fig. 6)."""

from __future__ import annotations

import csv
import os
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import torch

from cycleaug.atomic import atomic_path
from cycleaug.errors import CycleAugError
from cycleaug.fid.features import list_images
from cycleaug.fid.statistics import (
    FRECHET_EPS,
    KID_SUBSETS,
    Stats,
    frechet_distance_details,
    kernel_inception_distance,
    set_statistics,
    small_set_warning,
)
from cycleaug.fid.weights import DIMS, RANDOM_INIT, RANDOM_INIT_SEED, build_model, check_weights, load_weights
from cycleaug.runtime import loader_workers, resolve_device


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
