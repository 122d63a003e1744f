"""``cyclegan.fast: auto``: choose the fast path by measurement, on the device the run is on.

Why: which switches pay off depends on the hardware. On an AMD EPYC with AVX512-BF16 (no AMX) bf16
autocast alone gave 1.7x per step while bf16 with channels_last gave 1.07x; on an Intel CPU with AMX
bf16 needed channels_last; at the demo's width (ngf 8, 64 px) every switch cost time. A constant in
config.yaml is right on one machine only.

How (rank 0 decides, every rank receives its choice, so all ranks run the same switches):

1. Candidates: the plain fp32 step, and every combination of the searched switches the device can run
   (amp none / bf16 where the device runs it natively / fp16 on CUDA; channels_last off / on), then
   fused Adam toggled on the fastest of those.
2. Timing: each candidate's CycleGAN at the run's real network and crop size and batch, on random
   images, steps interleaved across candidates (cycleaug.timing.interleaved) after warm-up steps; the
   median step time decides.
3. Loss check (the one bench/cyclegan_step.py reports): from the same initial weights at a small size,
   the candidate's eight losses over a few steps must stay as close to the plain fp32 losses as plain
   fp32 on other data is (mean |candidate - plain| <= mean |plain on other data - plain|, per loss).
   Candidates are checked fastest first; the first that passes is chosen (the plain step always does).
4. Cache: the choice is kept per device signature (device name, torch version, thread count, network and
   crop size, batch, searched switches) in a JSON file (``--fast-cache``; default
   ``$XDG_CACHE_HOME/cycleaug/fast_path.json``), so later runs on the same kind of device and resumed
   runs skip the search. Delete the file (or its entry) to measure again, e.g. after a driver update.

The switches not searched (cache_images, tf32, compile, and any searched switch given explicitly) are
taken as configured.
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch

from cycleaug.atomic import atomic_path
from cycleaug.cyclegan.distributed import Comm, DistEnv
from cycleaug.cyclegan.model import LOSS_NAMES, CycleGAN, resolve_amp
from cycleaug.cyclegan.settings import SEARCHABLE, FastConfig, ModelConfig
from cycleaug.errors import CycleAugError
from cycleaug.timing import cpu_model, interleaved

CACHE_VERSION = 1
LOSS_SIZE, LOSS_NGF, LOSS_STEPS = 64, 16, 25  # the bench's loss check (bench/cyclegan_step.py)


def default_cache_path() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "cycleaug" / "fast_path.json"


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return cpu_model()


def signature(device: torch.device, model: ModelConfig, crop_size: int, batch_size: int, fast: FastConfig) -> dict:
    """What the measurement depends on: a cached choice is reused only where all of it is equal."""
    return {
        "version": CACHE_VERSION,
        "device": device_name(device),
        "device_type": device.type,
        "threads": torch.get_num_threads() if device.type == "cpu" else None,
        "torch": torch.__version__,
        "ngf": model.ngf,
        "ndf": model.ndf,
        "n_blocks": model.n_blocks,
        "crop_size": crop_size,
        "batch_size": batch_size,
        "searched": sorted(fast.auto),
        "fixed": {k: v for k, v in asdict(fast).items() if k not in (*fast.auto, "auto", "auto_cache")},
    }


def _key(sig: dict) -> str:
    return json.dumps(sig, sort_keys=True)


def _read_cache(path: Path) -> dict:
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        # A broken cache costs one search, never the run: say so and measure again.
        print(f"train-cyclegan: fast path cache {path} unreadable ({exc}); measuring again", flush=True)
        return {}
    return doc if isinstance(doc, dict) else {}


def _write_cache(path: Path, sig: dict, entry: dict) -> None:
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    # Several runs may finish their search at once (the demo trains two at a time): read-modify-write
    # under a lock, and replace the file atomically so a reader never sees half of it.
    with open(path.with_name(path.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        doc = _read_cache(path)
        doc[_key(sig)] = entry
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")


# ---- candidates -------------------------------------------------------------------------------------


def amp_options(device: torch.device) -> list[str]:
    """Autocast dtypes worth timing here: bf16 only where the device runs it natively (see resolve_amp)."""
    options = ["none"]
    if resolve_amp("auto", device) is not None:
        options.append("bf16")
    if device.type == "cuda":
        options.append("fp16")
    return options


def plain(fast: FastConfig) -> FastConfig:
    """The reference step: the searched switches off (the fixed ones as configured)."""
    return replace(fast, **{k: {"amp": "none"}.get(k, False) for k in fast.auto}, auto=())


def first_stage(fast: FastConfig, device: torch.device) -> list[FastConfig]:
    """Plain first, then every amp x layout combination over the searched switches."""
    amps = amp_options(device) if "amp" in fast.auto else [fast.amp]
    layouts = [False, True] if "channels_last" in fast.auto else [fast.channels_last]
    base = plain(fast)
    out = [base]
    for amp in amps:
        for layout in layouts:
            c = replace(base, amp=amp, channels_last=layout)
            if c not in out:
                out.append(c)
    return out


def label(fast: FastConfig) -> str:
    on = [f"amp {fast.amp}"] if fast.amp != "none" else []
    on += [k for k in ("channels_last", "fused_adam") if getattr(fast, k)]
    return " + ".join(on) or "plain fp32"


# ---- measurement ------------------------------------------------------------------------------------


def _images(generator: torch.Generator, batch: int, size: int) -> torch.Tensor:
    """Smooth random colour fields with noise in [-1, 1] (a convolution's cost does not depend on the
    pixels; the loss check needs images with structure)."""
    low = torch.rand(batch, 3, 8, 8, generator=generator) * 2 - 1
    x = torch.nn.functional.interpolate(low, size=(size, size), mode="bicubic", align_corners=False)
    return (x + 0.1 * torch.randn(x.shape, generator=generator)).clamp(-1, 1)


def _model(model: ModelConfig, fast: FastConfig, device: torch.device) -> CycleGAN:
    return CycleGAN(model, Comm(DistEnv(), device), seed=0, fast=replace(fast, auto=()))


def time_candidates(
    candidates: list[FastConfig],
    model: ModelConfig,
    crop_size: int,
    batch_size: int,
    device: torch.device,
    warmup: int,
    rounds: int,
    min_seconds: float = 1.0,
    max_rounds: int = 30,
) -> list[float]:
    """Median seconds per training step of each candidate, measured interleaved: at least ``rounds``
    rounds, more (up to ``max_rounds``) while a candidate has had less than ``min_seconds`` of steps, so
    that millisecond steps (small networks, GPUs) are timed over more than a few noisy samples."""
    g = torch.Generator().manual_seed(0)
    a, b = _images(g, batch_size, crop_size), _images(g, batch_size, crop_size)
    fns: dict[str, Callable[[], object]] = {}
    for i, c in enumerate(candidates):
        net = _model(model, c, device)
        xa, xb = net.prepare(a), net.prepare(b)
        fns[str(i)] = lambda net=net, xa=xa, xb=xb: net.step(xa, xb)
    sync = torch.cuda.synchronize if device.type == "cuda" else None
    times = interleaved(fns, warmup, rounds, sync)
    while min(map(sum, times.values())) < min_seconds and len(times["0"]) < max_rounds:
        for name, more in interleaved(fns, 0, 1, sync).items():
            times[name] += more
    del fns
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return [statistics.median(times[str(i)]) for i in range(len(candidates))]


def run_losses(fast: FastConfig, model: ModelConfig, device: torch.device, steps: int, size: int, data_seed: int):
    """The eight losses of ``steps`` steps from the same initial weights on one data sequence."""
    net = _model(model, fast, device)
    g = torch.Generator().manual_seed(1000 + data_seed)
    out = []
    for _ in range(steps):
        a, b = _images(g, 1, size), _images(g, 1, size)
        out.append([float(v) for v in net.step(net.prepare(a), net.prepare(b)).values()])
    return out


def loss_rows(plain_losses, other_seed, candidate) -> list[dict]:
    """Per loss: mean |candidate - plain| against the data noise mean |plain(other data) - plain|."""
    rows = []
    for k, name in enumerate(LOSS_NAMES):
        d_fast = sum(abs(c[k] - p[k]) for c, p in zip(candidate, plain_losses)) / len(plain_losses)
        d_noise = sum(abs(o[k] - p[k]) for o, p in zip(other_seed, plain_losses)) / len(plain_losses)
        rows.append(
            {"loss": name, "mean_abs_diff": d_fast, "mean_abs_diff_seed": d_noise, "within_noise": d_fast <= d_noise}
        )
    return rows


@dataclass
class LossCheck:
    model: ModelConfig
    device: torch.device
    steps: int = LOSS_STEPS
    size: int = LOSS_SIZE
    _reference: tuple | None = field(default=None, repr=False)

    def reference(self, base: FastConfig):
        if self._reference is None:
            p = plain(base)
            self._reference = (
                run_losses(p, self.model, self.device, self.steps, self.size, 0),
                run_losses(p, self.model, self.device, self.steps, self.size, 1),
            )
        return self._reference

    def rows(self, base: FastConfig, candidate: FastConfig) -> list[dict]:
        ref, other = self.reference(base)
        return loss_rows(ref, other, run_losses(candidate, self.model, self.device, self.steps, self.size, 0))


def select(medians: list[float], passes: Callable[[int], bool]) -> int:
    """Index of the fastest candidate whose losses pass the check, trying the fastest first; candidate 0
    (the plain step, the check's reference) needs no check."""
    for i in sorted(range(len(medians)), key=medians.__getitem__):
        if i == 0 or passes(i):
            return i
    return 0


def search(
    fast: FastConfig,
    model: ModelConfig,
    crop_size: int,
    batch_size: int,
    device: torch.device,
    warmup: int = 1,
    rounds: int = 3,
    loss_steps: int = LOSS_STEPS,
    log: Callable[[str], None] = print,
) -> dict:
    """Measure and choose (steps 1-3 of the module's procedure); returns the choice and the evidence."""
    t0 = time.perf_counter()
    candidates = first_stage(fast, device)
    log(
        f"train-cyclegan: fast path auto: timing {len(candidates)} switch sets at {crop_size} px, ngf {model.ngf}, "
        f"{model.n_blocks} blocks on {device_name(device)} ({warmup} warm-up + {rounds} interleaved steps each)"
    )
    medians = time_candidates(candidates, model, crop_size, batch_size, device, warmup, rounds)
    if "fused_adam" in fast.auto:  # fused Adam on the fastest of the first stage
        best = candidates[min(range(len(candidates)), key=medians.__getitem__)]
        fused = replace(best, fused_adam=True)
        pair = time_candidates([best, fused], model, crop_size, batch_size, device, warmup, rounds)
        candidates.append(fused)
        # Against the same run's time of ``best``, so the toggle is judged under one load.
        medians.append(medians[candidates.index(best)] * pair[1] / pair[0])
    small = replace(model, ngf=min(model.ngf, LOSS_NGF), ndf=min(model.ndf, LOSS_NGF))
    checker = LossCheck(small, device, loss_steps, min(crop_size, LOSS_SIZE))
    rows = [
        {"switches": asdict(c), "label": label(c), "median_s": m, "speedup": medians[0] / m}
        for c, m in zip(candidates, medians)
    ]

    def passes(i: int) -> bool:
        check = checker.rows(fast, candidates[i])
        rows[i]["loss_check"] = check
        rows[i]["losses_within_noise"] = all(r["within_noise"] for r in check)
        return rows[i]["losses_within_noise"]

    chosen = select(medians, passes)
    rows[chosen]["chosen"] = True
    return {
        "choice": {k: getattr(candidates[chosen], k) for k in fast.auto},
        "label": rows[chosen]["label"],
        "speedup": rows[chosen]["speedup"],
        "candidates": rows,
        "search_seconds": time.perf_counter() - t0,
        "measured": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def report(result: dict) -> str:
    lines = []
    for r in sorted(result["candidates"], key=lambda r: r["median_s"]):
        check = {True: "losses within fp32 noise", False: "LOSSES OUTSIDE fp32 noise", None: ""}[
            r.get("losses_within_noise") if r["label"] != "plain fp32" else None
        ]
        mark = "-> " if r.get("chosen") else "   "
        lines.append(f"  {mark}{r['label']:<34} {r['median_s']:8.4f} s/step  {r['speedup']:5.2f}x  {check}")
    return "\n".join(lines)


def choose(
    fast: FastConfig,
    model: ModelConfig,
    crop_size: int,
    batch_size: int,
    comm: Comm,
    log: Callable[[str], None] = print,
    **search_kwargs,
) -> FastConfig:
    """The switches this run trains with: from the cache, or searched on rank 0; the same on every rank."""
    if not fast.auto:
        return fast
    unknown = sorted(set(fast.auto) - set(SEARCHABLE))
    if unknown:
        raise CycleAugError(f"--fast-auto {' '.join(unknown)}: can search only {', '.join(SEARCHABLE)}")
    choice = None
    if comm.rank == 0:
        path = Path(fast.auto_cache) if fast.auto_cache else default_cache_path()
        sig = signature(comm.device, model, crop_size, batch_size, fast)
        entry = _read_cache(path).get(_key(sig))
        if entry is not None:
            log(
                f"train-cyclegan: fast path auto: {entry['label']} ({entry['speedup']:.2f}x the plain fp32 step, "
                f"measured {entry['measured']}; cached in {path})"
            )
        else:
            # The other ranks wait meanwhile in the broadcast below (blocking, not spinning).
            entry = search(fast, model, crop_size, batch_size, comm.device, log=log, **search_kwargs)
            log(report(entry))
            log(
                f"train-cyclegan: fast path auto: chose {entry['label']} ({entry['speedup']:.2f}x, search "
                f"{entry['search_seconds']:.1f} s); cached in {path}"
            )
            with contextlib.suppress(OSError):  # a read-only home costs a search next time, not this run
                _write_cache(path, sig, entry)
        choice = entry["choice"]
    choice = comm.broadcast_object(choice)
    return replace(fast, **choice, auto=())
