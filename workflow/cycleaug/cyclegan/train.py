"""Data-parallel CycleGAN training (paper Sec. 3.1-3.2), one process per GPU or CPU worker.

    python -m cycleaug.launch --nproc 2 -- \\
        cycleaug train-cyclegan --a data/crops/synthia --b data/crops/bdd100k --out results/cyclegan/2gpu

Reads top to bottom: set-up (launcher, backend, signals), data (per-rank shards), model, the loop
(G and D steps with allreduce-averaged gradients; every ``sync_every`` iterations (10 on a GPU, 1 on
the CPU), for each progress line, before each save and at the epoch's end one small allreduce of the
losses since then and the stop flag, the only points where the host waits for the device),
checkpoints (``latest`` every ``checkpoint_every`` iterations and at each save epoch; the bare nets at
save epochs). Rerunning the same command resumes from ``checkpoints/latest.pt``,
but only a run of the same fingerprint (``run_fingerprint``: every setting that changes the numbers,
the seed, the number of processes, the crops' digests, the torch and cycleaug versions; it is stored in
latest.pt and in every train_log.jsonl record). Another fingerprint, or a finished run all of whose
declared outputs were removed (what Snakemake does before rerunning a job: ``--forcerun``, a changed
parameter), starts afresh: the old run goes to ``checkpoints/superseded-<digest>/`` with one line
naming what changed.

Learning rate (reference ``--lr_policy linear``, models/networks.py get_scheduler): epochs are
numbered 1..n_epochs+n_epochs_decay as in the reference's train.py loop; during epoch e the rate is
lr x (1 - max(0, e - n_epochs) / (n_epochs_decay + 1)): constant for the first n_epochs epochs, then
linearly down to lr/(n_epochs_decay + 1) in the last one (the reference steps its LambdaLR at the end
of each epoch, so epoch e sees the factor for scheduler step e - 1, which is this one).

SIGTERM or SIGUSR1 (a scheduler's warning before the walltime kill) makes every rank stop at the next
sync, within ``sync_every`` iterations (the flag travels in the sync's allreduce), rank 0 saves
``latest`` and all exit with status 75 (cycleaug.runtime.EXIT_INTERRUPTED, EX_TEMPFAIL: "try again"), so a Snakemake retry resumes. A NaN or infinite loss
stops the run with status 2 and leaves the last good checkpoint untouched.

Resuming is exact on CPU for a single process (same weights as an uninterrupted run). With several
processes the data order, nets and optimizers are restored exactly; the image pools of ranks other
than 0 start empty again (saving every rank's 50-image pools would multiply the checkpoint size by
the number of processes).
"""

from __future__ import annotations

import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch

from cycleaug import fingerprint as fingerprints
from cycleaug.cyclegan import autotune, checkpoint
from cycleaug.cyclegan.data import PlanSampler, UnalignedCrops, epoch_plan
from cycleaug.cyclegan.distributed import Comm, detect_env, setup
from cycleaug.cyclegan.model import LOSS_NAMES, CycleGAN, hash_seed
from cycleaug.cyclegan.settings import ModelConfig, TrainConfig, check, lr_scale
from cycleaug.errors import CycleAugError
from cycleaug.options import option_fields
from cycleaug.progress import format_seconds
from cycleaug.runtime import EXIT_INTERRUPTED, StopRequest, job_deadline, loader_workers


def lr_at(cfg: TrainConfig, epoch: int, iteration: int = 0, world_size: int = 1, iters_per_epoch: int = 1) -> float:
    """The rate of ``iteration`` (0-based) of ``epoch`` (1-based) for ``world_size`` processes: lr x k, reached
    by a linear rise per iteration from lr over the first ``warmup_epochs`` epochs (Goyal et al. 2017, Sec.
    2.2, gradual warm-up), times the reference's constant-then-linear-decay factor of the epoch."""
    base = cfg.model.lr
    peak = base * lr_scale(cfg.lr_scaling, world_size, cfg.lr_reference_gpus)
    warm = cfg.warmup_epochs * iters_per_epoch
    step = (epoch - 1) * iters_per_epoch + iteration
    lr = peak if step >= warm else base + (peak - base) * step / warm
    return lr * (1.0 - max(0, epoch - cfg.n_epochs) / float(cfg.n_epochs_decay + 1))


def log(comm: Comm, message: str) -> None:
    if comm.rank == 0:
        print(message, file=sys.stderr, flush=True)


def train(cfg: TrainConfig) -> int:
    # ---- set-up ----------------------------------------------------------------------------------
    problems = check(cfg)  # the bounds declared on the settings' fields, before anything is written
    if problems:
        raise CycleAugError("; ".join(problems))
    # Rank 0 holds the run folder before anything joins the process group: a second run (a duplicate
    # job) stops here with a message naming the first, and its other ranks are ended by the launcher.
    lock = checkpoint.RunLock(Path(cfg.out_dir)) if detect_env().rank == 0 else None
    stop = StopRequest()
    try:
        comm = setup(cfg.backend, cfg.device, compression=cfg.compression)
        try:
            return _train(cfg, comm, stop)
        finally:
            comm.close()
    finally:
        stop.restore()
        if lock is not None:
            lock.release()


@dataclass
class Run:
    """What the steps of a run share: fixed once set up, but for the position (``epoch``, ``start_iter``:
    where the next epoch begins) and the iteration counters."""

    cfg: TrainConfig
    comm: Comm
    stop: StopRequest
    dir: Path
    dataset: UnalignedCrops
    sampler: PlanSampler
    loader: torch.utils.data.DataLoader
    iters_per_epoch: int = 0
    model: CycleGAN | None = None
    fingerprint: dict = field(default_factory=dict)
    digest: str = ""
    deadline: float | None = None
    run_start: float = 0.0
    run_iters: int = 0
    epoch: int = 1
    start_iter: int = 0
    total_iters: int = 0

    def plan(self, epoch: int):
        return epoch_plan(
            len(self.dataset.a_paths),
            len(self.dataset.b_paths),
            seed=self.cfg.seed,
            epoch=epoch,
            rank=self.comm.rank,
            world_size=self.comm.world_size,
            scale=self.cfg.shard_scale,
        )

    def lr(self, epoch: int, iteration: int) -> float:
        return lr_at(self.cfg, epoch, iteration, self.comm.world_size, self.iters_per_epoch)

    @property
    def sync_every(self) -> int:
        # Between syncs the host queues work without waiting for the device; a stop signal acts at the next
        # sync, which must come well within the scheduler's grace before SIGKILL (PBS kill_delay: 10 s).
        return self.cfg.sync_every or (1 if self.comm.device.type == "cpu" else 10)

    def near_walltime(self) -> bool:
        return self.deadline is not None and time.time() > self.deadline - self.cfg.stop_before_walltime


@dataclass
class Epoch:
    """The running figures of the epoch being trained, from its first iteration in this process on."""

    lr: float
    lr_first: float
    sums: torch.Tensor
    pending: torch.Tensor  # the losses since the last sync, on the device
    it: int
    synced: int
    t0: float
    save_s: float = 0.0
    interrupted: bool = False


def _train(cfg: TrainConfig, comm: Comm, stop: StopRequest) -> int:
    if comm.device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed input size, as the reference
    run = _data(cfg, comm, stop)
    _model(run)
    _resume(run)
    _watch_walltime(run)
    run.run_start = time.perf_counter()
    while run.epoch <= run.cfg.last_epoch:
        status = _epoch(run)
        if status is not None:
            return status
    return _finish(run)


def _data(cfg: TrainConfig, comm: Comm, stop: StopRequest) -> Run:
    """The crops (staged first where asked), this rank's sampler and loader, and the run that reads them."""
    a_dir, b_dir = cfg.a_dir, cfg.b_dir
    if cfg.stage_to:
        a_dir, b_dir = stage_crops(cfg, comm)
    dataset = UnalignedCrops(a_dir, b_dir, cfg.load_size, cfg.crop_size, cache=cfg.fast.cache_images)
    sampler = PlanSampler()
    workers = 0 if cfg.fast.cache_images else loader_workers(cfg.workers)
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=cfg.batch_size,
        sampler=sampler,
        num_workers=workers,
        persistent_workers=workers > 0,
        pin_memory=comm.device.type == "cuda",
    )
    run = Run(cfg, comm, stop, Path(cfg.out_dir), dataset, sampler, loader)
    run.iters_per_epoch = math.ceil(len(run.plan(1)) / cfg.batch_size)
    log(
        comm,
        f"train-cyclegan: {comm.world_size} process(es) started by {comm.env.launcher}, backend {cfg.backend}, "
        f"device {comm.device}; "
        f"A {len(dataset.a_paths)} and B {len(dataset.b_paths)} images, D = {len(dataset)}; "
        f"{run.iters_per_epoch} iterations per process per epoch (shard scale {cfg.shard_scale})",
    )
    return run


def _model(run: Run) -> None:
    """The nets and optimizers, with the fast path as configured or measured here."""
    cfg, comm = run.cfg, run.comm
    scale = lr_scale(cfg.lr_scaling, comm.world_size, cfg.lr_reference_gpus)
    if cfg.lr_scaling != "none":
        log(
            comm,
            f"train-cyclegan: lr {cfg.model.lr:g} x {scale:.4g} ({cfg.lr_scaling} scaling, {comm.world_size} "
            f"processes, reference {cfg.lr_reference_gpus}), warm-up {cfg.warmup_epochs:g} epoch(s)",
        )
    if cfg.fast.auto:  # rank 0 decides; cache_images, which the data loader was built with, is not searched
        fast = autotune.choose(cfg.fast, cfg.model, cfg.crop_size, cfg.batch_size, comm, log=lambda m: log(comm, m))
        run.cfg = cfg = replace(cfg, fast=fast)
    run.model = CycleGAN(cfg.model, comm, seed=cfg.seed, fast=cfg.fast)
    log(
        comm,
        f"train-cyclegan: precision {run.model.precision}; fast path: amp {cfg.fast.amp}, channels_last {cfg.fast.channels_last}, "
        f"fused Adam {cfg.fast.fused_adam}, compile {cfg.fast.compile}, image cache {cfg.fast.cache_images}, "
        f"gradient compression {cfg.compression}",
    )


def _resume(run: Run) -> None:
    """Go on from latest.pt when it holds a run of this fingerprint, then start every rank from rank 0's nets."""
    comm = run.comm
    run.fingerprint = run_fingerprint(run.cfg, comm.world_size, run.model.precision) if comm.rank == 0 else {}
    run.digest = fingerprints.digest(run.fingerprint) if comm.rank == 0 else ""
    state = _resumable_state(run)
    if state is not None:
        _restore(run, state)
    run.model.broadcast()
    if comm.rank == 0:
        checkpoint.trim_log(run.dir, run.epoch, run.start_iter)
        checkpoint.publish(run.dir)


def _resumable_state(run: Run) -> dict | None:
    """latest.pt's state, or None where there is none or it must not be resumed (moved aside then)."""
    # Rank 0 decides (it alone hashes the inputs) and tells every rank through a collective, which every
    # rank enters after looking for latest.pt and before rank 0 moves a superseded run aside.
    comm = run.comm
    latest = checkpoint.latest_path(run.dir)
    found = latest.exists()
    state, why = None, None
    if found and comm.rank == 0:
        state = checkpoint.load(latest)
        why = _restart_reason(run.cfg, run.dir, state, run.fingerprint)
    if _any(comm, why is not None):
        if comm.rank == 0:
            moved = checkpoint.supersede(run.dir, fingerprints.short(state.get("fingerprint") or {}))
            log(comm, f"train-cyclegan: {latest}: {why}; starting afresh, the old run moved to {moved}")
        return None
    if not found:
        return None
    return state if state is not None else checkpoint.load(latest)


def _restore(run: Run, state: dict) -> None:
    comm, model = run.comm, run.model
    try:
        model.load_state_dict(state["model"], pools=comm.rank == 0)
    except (KeyError, RuntimeError, ValueError) as exc:
        raise CycleAugError(
            f"{checkpoint.latest_path(run.dir)}: its nets or optimizer states do not fit this model "
            f"({_first_line(exc)}); move the folder aside or choose another --out"
        ) from None
    if comm.rank != 0:  # this rank's pools were not saved: start them afresh, deterministically
        for name, pool in (("A", model.pool_A), ("B", model.pool_B)):
            pool.rng.seed(hash_seed(run.cfg.seed, comm.rank, name, state["epoch"], state["iteration"]))
    torch.set_rng_state(state["rng"]["torch"])
    run.epoch, run.start_iter, run.total_iters = state["epoch"], state["iteration"], state["total_iterations"]
    log(
        comm,
        f"train-cyclegan: resuming from {checkpoint.latest_path(run.dir)} at epoch {run.epoch}, "
        f"iteration {run.start_iter}",
    )


def _watch_walltime(run: Run) -> None:
    # Stop with a checkpoint a margin before the job's walltime (rank 0 asks the scheduler once; its flag
    # reaches every rank through the per-iteration allreduce), so the kill at the walltime finds it saved.
    cfg = run.cfg
    run.deadline = job_deadline() if run.comm.rank == 0 and cfg.stop_before_walltime > 0 else None
    if run.deadline is not None:
        log(
            run.comm,
            f"train-cyclegan: the job ends at {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(run.deadline))}; "
            f"saving and stopping {cfg.stop_before_walltime:g} s before",
        )


def _save_latest(run: Run, epoch: int, iteration: int) -> float:
    """Save ``latest`` as the position (epoch, iteration) to go on from; returns the seconds it took."""
    t = time.perf_counter()
    if run.comm.rank == 0:
        checkpoint.save(
            checkpoint.latest_path(run.dir),
            {
                "format": checkpoint.FORMAT,
                "config": _plain(asdict(run.cfg)),
                "model": run.model.state_dict(),
                "epoch": epoch,
                "iteration": iteration,
                "total_iterations": run.total_iters,
                "rng": {"torch": torch.get_rng_state()},
                "world_size": run.comm.world_size,
                "backend": run.comm.backend,
                "fingerprint": run.fingerprint,
            },
        )
    return time.perf_counter() - t


def _epoch(run: Run) -> int | None:
    """Train epoch ``run.epoch`` from ``run.start_iter``; the exit status when the run stops in or after it."""
    cfg, ep = run.cfg, _begin_epoch(run)
    for batch in run.loader:
        _step(run, ep, batch)
        log_due = bool(cfg.log_every) and ep.it % cfg.log_every == 0
        save_due = (
            bool(cfg.checkpoint_every) and run.total_iters % cfg.checkpoint_every == 0 and ep.it < run.iters_per_epoch
        )
        if not (ep.it % run.sync_every == 0 or log_due or save_due or ep.it >= run.iters_per_epoch):
            continue
        status = _sync(run, ep, log_due, save_due)
        if status is not None:
            return status
        if ep.interrupted:
            break
    return _end_epoch(run, ep)


def _begin_epoch(run: Run) -> Epoch:
    lr = run.lr(run.epoch, run.start_iter)
    run.model.set_lr(lr)
    run.sampler.set_plan(run.plan(run.epoch), run.start_iter * run.cfg.batch_size)
    sums = torch.zeros(len(LOSS_NAMES), dtype=torch.float64)
    # The losses since the last sync stay on the device: the host waits for the GPU only at a sync.
    pending = torch.zeros(len(LOSS_NAMES), dtype=torch.float64, device=run.comm.device)
    return Epoch(lr, lr, sums, pending, run.start_iter, run.start_iter, time.perf_counter())


def _step(run: Run, ep: Epoch, batch: dict) -> None:
    step_lr = run.lr(run.epoch, ep.it)  # changes within an epoch only during the warm-up
    if step_lr != ep.lr:
        ep.lr = step_lr
        run.model.set_lr(ep.lr)
    losses = run.model.step(run.model.prepare(batch["A"]), run.model.prepare(batch["B"]))
    ep.pending += torch.stack([losses[n] for n in LOSS_NAMES]).double()
    ep.it, run.total_iters, run.run_iters = ep.it + 1, run.total_iters + 1, run.run_iters + 1


def _sync(run: Run, ep: Epoch, log_due: bool, save_due: bool) -> int | None:
    """A sync (every sync_every iterations, for each progress line, before each save, at the epoch's end):
    one small allreduce of every rank's losses since the last one and the stop flag, so all ranks stop at
    the same iteration and no non-finite state is ever saved. Returns 2 after a non-finite loss."""
    comm = run.comm
    flag = torch.tensor([float(run.stop.requested or run.near_walltime())], dtype=torch.float64, device=comm.device)
    stats = comm.sum_(torch.cat([ep.pending, flag])).cpu()
    ep.pending.zero_()
    steps, ep.synced = ep.it - ep.synced, ep.it
    if not torch.isfinite(stats[:-1]).all():
        bad = [n for n, v in zip(LOSS_NAMES, stats[:-1].tolist()) if not math.isfinite(v)]
        where = f"iteration {ep.it}" if steps == 1 else f"iterations {ep.it - steps + 1}-{ep.it}"
        if comm.rank == 0:
            raise CycleAugError(
                f"epoch {run.epoch} {where}: non-finite loss ({', '.join(bad)}); training stopped, "
                f"{checkpoint.latest_path(run.dir)} keeps the last good state (lower --lr?)"
            )
        return 2
    ep.sums += stats[:-1] / comm.world_size
    if log_due:
        _progress(run, ep, stats[:-1] / (comm.world_size * steps))  # the mean since the last sync
    if stats[-1] > 0 and ep.it < run.iters_per_epoch:
        ep.interrupted = True
    elif save_due:
        ep.save_s += _save_latest(run, run.epoch, ep.it)
    return None


def _end_epoch(run: Run, ep: Epoch) -> int | None:
    """Log the epoch, keep its nets where asked, save ``latest`` and stop where asked; the exit status when
    the run stops here."""
    comm, cfg = run.comm, run.cfg
    seconds = time.perf_counter() - ep.t0 - ep.save_s  # full wall time of the iterations, communication included
    done = ep.it - run.start_iter
    images_per_s = done * cfg.batch_size * comm.world_size / max(seconds, 1e-9)
    if comm.rank == 0 and done > 0:
        _append_log(run, ep, seconds, done, images_per_s)
    if ep.interrupted:
        _save_latest(run, run.epoch, ep.it)
        comm.barrier()  # nobody exits (and makes a launcher stop the others) before the save is done
        log(
            comm,
            f"train-cyclegan: stopped {_why(run.stop, run.near_walltime())} in epoch {run.epoch} after iteration "
            f"{ep.it}; {checkpoint.latest_path(run.dir)} saved, rerun to resume",
        )
        return EXIT_INTERRUPTED
    log(
        comm,
        f"epoch {run.epoch}/{cfg.total_epochs} done: {done} iterations in {format_seconds(seconds)} "
        f"({images_per_s:.2f} images/s), lr {ep.lr:.3g}",
    )
    stopping = _any(comm, run.stop.requested or run.near_walltime())  # collective: every rank calls it
    keep = run.epoch in cfg.save_epochs or run.epoch == cfg.last_epoch
    if keep and comm.rank == 0:  # before `latest` moves past this epoch, so a crash cannot skip it
        checkpoint.export_epoch(run.dir, run.epoch, run.model.nets)
    run.epoch, run.start_iter = run.epoch + 1, 0
    if keep or stopping or (cfg.checkpoint_every and run.total_iters % cfg.checkpoint_every == 0):
        _save_latest(run, run.epoch, 0)
    if stopping and run.epoch <= cfg.last_epoch:
        comm.barrier()
        log(
            comm,
            f"train-cyclegan: stopped {_why(run.stop, run.near_walltime())} after epoch {run.epoch - 1}; rerun to resume",
        )
        return EXIT_INTERRUPTED
    return None


def _append_log(run: Run, ep: Epoch, seconds: float, done: int, images_per_s: float) -> None:
    cfg, comm = run.cfg, run.comm
    checkpoint.append_log(
        run.dir,
        {
            "epoch": run.epoch,
            "seconds": round(seconds, 4),
            "iterations": done,
            "images_per_s": round(images_per_s, 3),
            **{k: round(float(v) / done, 6) for k, v in zip(LOSS_NAMES, ep.sums)},
            "lr": ep.lr_first,  # the rate of the epoch's first iteration here, and of its last
            "lr_last": ep.lr,
            "world_size": comm.world_size,
            "device": comm.device.type,  # Fig. 4 says "processes" and the cores for CPU runs
            "cpu_cores": os.cpu_count(),
            "backend": cfg.backend,
            "precision": run.model.precision,
            "batch_size": cfg.batch_size,
            "start_iteration": run.start_iter,
            "complete": not ep.interrupted,
            "save_seconds": round(ep.save_s, 4),
            "fingerprint": run.digest[:16],
        },
    )


def _finish(run: Run) -> int:
    if run.comm.rank == 0:
        checkpoint.publish(run.dir)
        checkpoint.mark_finished(run.dir, run.cfg.last_epoch, run.digest)
    run.comm.barrier()
    log(
        run.comm,
        f"train-cyclegan: finished epoch {run.cfg.last_epoch} of {run.cfg.total_epochs} "
        f"in {format_seconds(time.perf_counter() - run.run_start)}",
    )
    return 0


def stage_crops(cfg: TrainConfig, comm: Comm) -> tuple[Path, Path]:
    """Copy the two crop folders to node-local disk once per node (its local rank 0), then every rank
    reads them there: 512 ranks reading ~8,000 small files each from a parallel file system is slow
    for everyone on it. ``stage_to`` may name an environment variable ($PBS_LOCALDIR on ABCI)."""
    import os
    import shutil

    root = os.path.expandvars(cfg.stage_to)
    if "$" in root or not root:
        raise CycleAugError(f"--stage-to {cfg.stage_to}: the variable is not set in this job")
    staged = [Path(root) / "cycleaug-crops" / side for side in ("A", "B")]
    if comm.env.local_rank == 0:
        t = time.perf_counter()
        for src, dst in zip((cfg.a_dir, cfg.b_dir), staged, strict=True):
            tmp = dst.with_name(dst.name + ".part")
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.copytree(src, tmp)
            shutil.rmtree(dst, ignore_errors=True)
            tmp.rename(dst)
        print(
            f"train-cyclegan: rank {comm.rank} staged the crops to {staged[0].parent} in "
            f"{time.perf_counter() - t:.1f} s",
            file=sys.stderr,
            flush=True,
        )
    comm.barrier()  # every node's copy is complete before anyone reads
    return staged[0], staged[1]


def _why(stop: StopRequest, near_walltime: bool) -> str:
    if stop.requested:
        return "by signal"
    return "before the job's walltime" if near_walltime else "by a signal to another rank"


def _any(comm: Comm, requested: bool) -> bool:
    """Did any rank get a signal (e.g. one that arrived during the last iteration's bookkeeping)?"""
    flag = torch.tensor([float(requested)], dtype=torch.float64, device=comm.device)
    return bool(comm.sum_(flag).item() > 0)


def _progress(run: Run, ep: Epoch, losses: torch.Tensor) -> None:
    comm, cfg, it, iters_per_epoch = run.comm, run.cfg, ep.it, run.iters_per_epoch
    if comm.rank != 0:
        return
    now = time.perf_counter()
    rate = (it - run.start_iter) / max(now - (ep.t0 + ep.save_s), 1e-9)
    run_rate = run.run_iters / max(now - run.run_start, 1e-9)
    left_epoch = iters_per_epoch - it
    left_run = left_epoch + (cfg.last_epoch - run.epoch) * iters_per_epoch
    loss_text = " ".join(f"{n} {v:.3f}" for n, v in zip(LOSS_NAMES, losses.tolist()))
    print(
        f"epoch {run.epoch}/{cfg.total_epochs} iter {it}/{iters_per_epoch} ({100 * it / iters_per_epoch:.0f}%) "
        f"{rate:.2f} it/s {rate * cfg.batch_size * comm.world_size:.1f} img/s | {loss_text} | lr {ep.lr:.3g} | "
        f"ETA epoch {format_seconds(left_epoch / max(rate, 1e-9))} run {format_seconds(left_run / max(run_rate, 1e-9))}",
        file=sys.stderr,
        flush=True,
    )


# What a run's result depends on (cycleaug.fingerprint): every option of ModelConfig and TrainConfig but
# those named here, so that a new hyperparameter is in it unless it is left out on purpose (a change of it
# then starts afresh instead of resuming a run made with another value). Besides: the number of processes,
# the precision it computes in (amp, tf32 and the device's kind: cycleaug.cyclegan.model.precision_label),
# the crops' digests and the code's versions. Left out: where a run stops and which nets it keeps
# (stop_epoch, save_epochs: every epoch's numbers are the same), how often it saves, reports and syncs
# (checkpoint_every, log_every, sync_every), how the same samples and sums travel (workers, stage_to,
# backend, device, the walltime margin), paths (the crops' contents count), and the speed switches that
# compute the same arithmetic with other kernels or layouts (FastConfig, not an option field here). The lr
# rule's three keys enter as what they do at this process count (run_fingerprint).
NOT_FINGERPRINTED = (
    "stop_epoch",
    "save_epochs",
    "checkpoint_every",
    "log_every",
    "sync_every",
    "workers",
    "stage_to",
    "backend",
    "device",
    "stop_before_walltime",
)
LR_RULE = ("lr_scaling", "lr_reference_gpus", "warmup_epochs")
FINGERPRINT_MODEL = tuple(f.name for f in option_fields(ModelConfig))
FINGERPRINT_RUN = tuple(f.name for f in option_fields(TrainConfig) if f.name not in NOT_FINGERPRINTED + LR_RULE)


def run_fingerprint(cfg: TrainConfig, world_size: int, precision: str) -> dict:
    """Everything that determines the nets a run produces (see FINGERPRINT_MODEL and FINGERPRINT_RUN); the
    learning-rate rule as what it does at this process count: the factor k, and the warm-up where k != 1
    (with k = 1 the rise from lr to lr x k is no rise)."""
    scale = lr_scale(cfg.lr_scaling, world_size, cfg.lr_reference_gpus)
    return fingerprints.plain(
        {
            **{k: getattr(cfg.model, k) for k in FINGERPRINT_MODEL},
            **{k: getattr(cfg, k) for k in FINGERPRINT_RUN},
            "lr_scale": scale,
            "warmup_epochs": cfg.warmup_epochs if scale != 1 else 0,
            "world_size": world_size,
            "precision": precision,
            "crops_a": fingerprints.crops_digest(cfg.a_dir),
            "crops_b": fingerprints.crops_digest(cfg.b_dir),
            "format": checkpoint.FORMAT,
            **fingerprints.code_versions(),
        }
    )


def _restart_reason(cfg: TrainConfig, run: Path, state: dict, fingerprint: dict) -> str | None:
    """Why ``state`` (latest.pt) must not be resumed, or None.

    - another fingerprint: the run was made with other settings, inputs or code;
    - the run finished (history/finished.json) and every output the workflow declares is gone (train_log.jsonl,
      the G_A nets): Snakemake removes the outputs of a job it reruns (--forcerun, a changed input,
      parameter or rule), so it asks for new ones;
    - a save epoch the run has passed without keeping its nets (save_epochs grew): they cannot be made."""
    reason = fingerprints.mismatch(state.get("fingerprint"), fingerprint)
    if reason:
        return reason
    done = checkpoint.read_finished(run)
    if (
        done is not None
        and done.get("epoch") == state["epoch"] - 1
        and state["iteration"] == 0
        and state["epoch"] > cfg.last_epoch
        and not checkpoint.published(run, "*_net_G_A.pth")
    ):
        return (
            f"the run finished epoch {done['epoch']} and all its outputs were removed (as snakemake does before "
            "it reruns a job: --forcerun, or a changed input, parameter or rule)"
        )
    lost = [
        e
        for e in cfg.save_epochs
        if e < state["epoch"] and not (checkpoint.history_dir(run) / f"{e}_net_G_A.pth").exists()
    ]
    if lost:
        return f"save_epochs {lost}: the run has passed them without keeping their nets"
    return None


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    line = lines[0] if lines else type(exc).__name__
    return line if len(line) <= 200 else line[:197] + "..."


def _plain(obj):
    """Config as plain types (tuples -> lists) for a weights_only checkpoint."""
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj
