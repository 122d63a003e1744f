"""Fine-tune a darknet-cfg YOLOv3 person detector the way darknet's ``detector train`` does.

    cycleaug train-yolo --cfg yolov3-person-608.cfg \\
        --train results/detector/sets/real.json:data/raw/bdd100k/images/100k/train \\
        --train results/detector/sets/synthetic.json:data/raw/synthia/RGB \\
        --val-labels results/detector/sets/val.json --val-images data/raw/bdd100k/images/100k/val \\
        --pretrained downloads/darknet53.conv.74 --iterations 5000 --eval-every 500 \\
        --out results/detector/b_bdd_cg

Read top to bottom: settings from the cfg (``[net]``: batch, subdivisions, lr policy, momentum,
decay, colour jitter; the last ``[yolo]``: jitter, random, max boxes; every ``[yolo]``: anchors,
masks, ignore_thresh), data, model, then the loop. One iteration = one darknet update: ``batch``
images drawn at random, ``subdivisions`` forward/backward passes of ``batch / subdivisions`` images
whose gradients add up, then SGD at darknet's rate for that update (`schedule`), loss = darknet's
yolo-layer objective summed over the batch and divided by ``batch`` (`loss`, `schedule`).

Every ``--eval-every`` iterations and at the last one, the model (in eval mode, at the cfg's size) is
evaluated on the validation images with darknet's ``detector map`` rules (``cycleaug.yolo.detect``,
``cycleaug.yolo.evaluate``); one JSON line per evaluation goes to ``eval_log.jsonl`` and the model
with the highest mAP@0.50 so far (strictly higher, as in ``train_detector``) is kept as ``best``.
Outputs in ``--out``: ``best.weights`` / ``last.weights`` (darknet format), ``best.pt`` / ``last.pt``
(complete checkpoints: model, optimizer, iteration, images seen, RNG, evaluation history),
``eval_log.jsonl``, and at the end ``metrics.json`` (the best evaluation and its iteration).

A run resumes from ``last.pt`` when it exists and holds the same fingerprint (``run_fingerprint``,
stored in last.pt, best.pt and metrics.json); another fingerprint, or a finished run all of whose
declared outputs were removed (Snakemake's ``--forcerun``, a changed parameter), starts afresh with one
line naming what changed, the old files moved to ``superseded-<digest>/``. SIGTERM or SIGUSR1 (a batch
system's walltime warning) ends the current iteration, saves ``last`` and exits with status 75
(cycleaug.runtime.EXIT_INTERRUPTED).
All data randomness is a function of (seed, iteration), so a resumed run goes on exactly as an
uninterrupted one would.
"""

from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import NamedTuple

import torch

from cycleaug import fingerprint as fingerprints
from cycleaug.atomic import atomic_path, write_json, write_text
from cycleaug.errors import CycleAugError
from cycleaug.labels import PERSON, read_frames, write_frames
from cycleaug.options import out_of_bounds
from cycleaug.progress import format_seconds
from cycleaug.runtime import EXIT_INTERRUPTED, StopRequest, ignore_stop_signals, loader_workers, resolve_device
from cycleaug.yolo.augment import AugmentParams
from cycleaug.yolo.cfg import load_cfg, output_shapes
from cycleaug.yolo.data import IterationBatches, TrainSet, collate, load_samples
from cycleaug.yolo.loss import YoloHead, yolo_loss
from cycleaug.yolo.model import Darknet, init_darknet_
from cycleaug.yolo.schedule import (
    NetHyper,
    default_max_batches,
    evaluation_iterations,
    hyper_from_cfg,
    make_optimizer,
    set_rate,
)
from cycleaug.yolo.semantics import DEFAULT as DEFAULT_SEMANTICS
from cycleaug.yolo.semantics import check as check_semantics
from cycleaug.yolo.settings import TrainConfig
from cycleaug.yolo.weights import (
    check_state_dict,
    load_darknet_weights,
    matching_cutoffs,
    read_header,
    save_darknet_weights,
)


def yolo_heads(cfg, semantics: str = DEFAULT_SEMANTICS) -> list[YoloHead]:
    return [
        YoloHead(
            tuple(y.anchors), tuple(y.mask), y.classes, y.ignore_thresh, y.truth_thresh, y.iou_normalizer, semantics
        )
        for y in cfg.yolo_layers
    ]


def augment_params(cfg, hyper: NetHyper) -> AugmentParams:
    # train_detector reads jitter, random and max boxes from the network's last layer.
    last = cfg.yolo_layers[-1]
    return AugmentParams(
        jitter=last.jitter,
        hue=hyper.hue,
        saturation=hyper.saturation,
        exposure=hyper.exposure,
        flip=bool(hyper.flip),
        max_boxes=last.max_boxes,
    )


def deterministic(device: torch.device) -> None:
    """Same seed, same machine, same thread count: the same run, bit for bit (torch's reproducibility
    notes). On the CPU every kernel used here is deterministic at a fixed thread count (the rule's
    ``threads:``, OMP_NUM_THREADS), so nothing is switched there: ``use_deterministic_algorithms`` would
    only import torch's compiler (2-3 s per run) and fill every new tensor with NaN (seconds more per
    run); two runs of a seed are compared bit for bit in the tests. CUDA needs cuBLAS's fixed workspace,
    no cuDNN autotuning and the deterministic kernels; it warns, rather than fails, for the few that
    have no deterministic version (the upsample's backward)."""
    import os

    if device.type != "cuda":
        return
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    torch.use_deterministic_algorithms(True, warn_only=True)


def load_pretrained(model: Darknet, path: str) -> int:
    """Load darknet weights, the first layers only when the file holds fewer (``darknet53.conv.74``:
    cutoff 75); returns the number of layers loaded."""
    cfg = model.cfg
    header = read_header(path)
    size = Path(path).stat().st_size
    cutoffs = matching_cutoffs(cfg, size, header.nbytes)
    if not cutoffs:
        load_darknet_weights(model, path)  # raises the size error with the expected numbers
    cutoff = cutoffs[0]
    load_darknet_weights(model, path, cutoff=None if cutoff >= len(cfg.layers) else cutoff)
    return cutoff


def save_checkpoint(path: Path, model, optimizer, scaler, state: dict) -> None:
    ckpt = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scaler": scaler.state_dict() if scaler is not None else {},
        "torch_rng": torch.get_rng_state(),
        **state,
    }
    if torch.cuda.is_available():
        ckpt["cuda_rng"] = torch.cuda.get_rng_state_all()
    with atomic_path(path) as tmp:
        torch.save(ckpt, tmp)


def _eval_record(iteration: int, loss: float, avg_loss: float, result, lr: float, elapsed: float) -> dict:
    def num(x):
        return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)

    return {
        "iteration": iteration,
        "loss": loss,
        "avg_loss": avg_loss,
        "TP": result.tp,
        "FP": result.fp,
        "FN": result.fn,
        "precision": num(result.precision),
        "recall": num(result.recall),
        "F1": num(result.f1),
        "mAP50": float(result.map),
        "average_iou": float(result.average_iou),
        "lr": lr,
        "seconds": round(elapsed, 1),
    }


def evaluate_model(model, frames, paths, img_size, batch_size: int, workers: int, predictions: list | None = None):
    """darknet ``detector map`` figures of ``model`` on the validation frames; the detections are appended
    to ``predictions`` when given."""
    from cycleaug.yolo.detect import detect_images
    from cycleaug.yolo.evaluate import evaluate_frames

    was_training = model.training
    model.eval()
    try:
        preds = detect_images(model, paths, img_size, batch_size=batch_size, workers=workers, progress=False)
    finally:
        model.train(was_training)
    if predictions is not None:
        predictions.extend(preds)
    return evaluate_frames(frames, preds, [PERSON])


def _iterations_text(its: list[int]) -> str:
    return ", ".join(map(str, its)) if len(its) <= 6 else f"{its[0]}, {its[1]}, ..., {its[-2]}, {its[-1]}"


def train(tc: TrainConfig, stream=None) -> int:
    """Train; returns 0 when done, EXIT_INTERRUPTED (75) when stopped by SIGTERM/SIGUSR1."""
    stream = stream or sys.stderr
    problems = out_of_bounds(tc)  # the bounds declared on the settings' fields, before anything is written
    if problems:
        raise CycleAugError("; ".join(problems))
    out = Path(tc.out)
    out.mkdir(parents=True, exist_ok=True)
    tc = replace(tc, workers=loader_workers(tc.workers))  # not in the fingerprint: the samples do not depend on it
    run = _settings(tc, out, stream)
    _data(run)
    loaded = _model(run)
    state = _resume(run, loaded)
    _restore_outputs(out, run.model.cfg, state, run.hyper.batch)
    start = state["iteration"] + 1
    _announce(run, start)

    # Stop on SIGTERM / SIGUSR1 after the current iteration.
    def on_signal(signum):
        print(f"train-yolo: signal {signum}: saving and stopping after this iteration", file=stream, flush=True)

    stop = StopRequest(on_signal)
    try:
        return _loop(run, state, start, stop)
    finally:
        stop.restore()


@dataclass
class Run:
    """What the training loop works with, fixed for the run once set up: the settings (`_settings`), the
    data (`_data`) and the model (`_model`)."""

    tc: TrainConfig
    out: Path
    stream: object
    cfg: object  # the darknet cfg
    hyper: NetHyper
    max_iter: int
    semantics: str
    heads: list[YoloHead]
    aug: AugmentParams
    multiscale: bool
    samples: list = field(default_factory=list)
    evaluations: list[int] = field(default_factory=list)  # iterations at which mAP is evaluated, in order
    val_frames: list = field(default_factory=list)
    val_paths: list[Path] = field(default_factory=list)
    device: torch.device | None = None
    model: Darknet | None = None
    optimizer: torch.optim.Optimizer | None = None
    scaler: object = None
    fingerprint: dict = field(default_factory=dict)

    def evaluate(self, model, frames, paths, predictions: list) -> dict:
        """darknet's figures of ``model`` on ``frames`` at the run's size, its detections into ``predictions``."""
        tc = self.tc
        return evaluate_model(model, frames, paths, tc.img_size, tc.eval_batch_size, tc.workers, predictions)


@dataclass
class Progress:
    """This process's share of the run: where it began, the training time before it, and its pace."""

    first: int  # the first iteration trained here
    elapsed_before: float
    t_start: float
    last_print: float
    done: int = 0  # iterations trained here

    def elapsed(self) -> float:
        return self.elapsed_before + time.perf_counter() - self.t_start


class Step(NamedTuple):
    """One finished iteration, as the progress line and the evaluation report it."""

    it: int
    lr: float
    loss: float  # the batch's loss per image
    net_w: int
    net_h: int


def _settings(tc: TrainConfig, out: Path, stream) -> Run:
    """Settings from the cfg (``[net]``, the ``[yolo]`` layers) and the few command-line overrides."""
    cfg = load_cfg(tc.cfg)
    hyper = hyper_from_cfg(cfg.net, f"{cfg.path} [net]").with_overrides(
        batch=tc.batch,
        subdivisions=tc.subdivisions,
        width=tc.img_size,
        height=tc.img_size,
        steps=tuple(tc.steps) or None,
    )
    output_shapes(cfg, hyper.width, hyper.height)
    max_iter = tc.iterations or hyper.max_batches or default_max_batches(cfg.classes)
    semantics = check_semantics(tc.darknet_semantics)
    run = Run(
        tc=tc,
        out=out,
        stream=stream,
        cfg=cfg,
        hyper=hyper,
        max_iter=max_iter,
        semantics=semantics,
        heads=yolo_heads(cfg, semantics),
        aug=augment_params(cfg, hyper),
        multiscale=cfg.yolo_layers[-1].random,
    )
    evaluation_iterations(tc.eval_every, 1, hyper, max_iter, semantics)  # a bad --eval-every fails before reading
    return run


def _data(run: Run) -> None:
    """The training samples, the iterations that evaluate mAP, and the validation images (all present)."""
    tc = run.tc
    run.samples = [s for labels, images in tc.train for s in load_samples(labels, images)]
    run.evaluations = evaluation_iterations(tc.eval_every, len(run.samples), run.hyper, run.max_iter, run.semantics)
    run.val_frames, run.val_paths = _evaluation_set(tc.val_labels, tc.val_images, "validation")
    if tc.heldout_labels:  # a missing held-out image stops the run now, not after training
        _evaluation_set(tc.heldout_labels, tc.heldout_images, "held-out")


def _model(run: Run) -> int:
    """The model (seeded, then the pretrained layers) and its optimizer; returns the number of pretrained
    layers loaded."""
    tc = run.tc
    run.device = device = resolve_device(tc.device)
    deterministic(device)
    torch.manual_seed(tc.seed)
    run.model = model = init_darknet_(Darknet(run.cfg), torch.Generator().manual_seed(tc.seed))
    loaded = load_pretrained(model, tc.pretrained) if tc.pretrained else 0
    model.to(device).train()
    run.optimizer = make_optimizer(model, run.hyper)
    run.scaler = torch.amp.GradScaler("cuda") if tc.amp and device.type == "cuda" else None
    return loaded


def _resume(run: Run, loaded: int) -> dict:
    """The state to go on from: last.pt's when it holds a run of this fingerprint (the model, optimizer and
    RNG restored from it), else a fresh one (another run's files moved aside)."""
    amp = run.scaler is not None
    run.fingerprint = run_fingerprint(
        run.tc, run.cfg.path, run.hyper, run.max_iter, run.semantics, run.samples, run.val_paths, run.device.type, amp
    )
    stream = run.stream
    state = {
        "iteration": 0,
        "seen": 0,
        "history": [],
        "best": None,
        "avg_loss": -1.0,
        "elapsed": 0.0,
        "fingerprint": run.fingerprint,
    }
    last_pt = run.out / "last.pt"
    ckpt = load_checkpoint(last_pt) if last_pt.exists() else None
    why = _restart_reason(run.out, ckpt, run.fingerprint, run.max_iter) if ckpt is not None else None
    if why is not None:
        moved = supersede(run.out, fingerprints.short(ckpt.get("fingerprint") or {}))
        print(f"train-yolo: {last_pt}: {why}; starting afresh, the old run moved to {moved}", file=stream, flush=True)
        ckpt = None
    if ckpt is not None:
        state = _restore(run, ckpt, last_pt)
        print(f"train-yolo: resuming {last_pt} at iteration {state['iteration']}", file=stream, flush=True)
    elif loaded:
        print(f"train-yolo: loaded layers 0-{loaded - 1} from {run.tc.pretrained}", file=stream, flush=True)
    return state


def _restore(run: Run, ckpt: dict, path: Path) -> dict:
    check_state_dict(run.model, ckpt["model"], path)
    run.model.load_state_dict(ckpt["model"])
    run.optimizer.load_state_dict(ckpt["optimizer"])
    if run.scaler is not None and ckpt.get("scaler"):
        run.scaler.load_state_dict(ckpt["scaler"])
    torch.set_rng_state(ckpt["torch_rng"])
    if "cuda_rng" in ckpt and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(ckpt["cuda_rng"])
    return {k: ckpt[k] for k in ("iteration", "seen", "history", "best", "avg_loss", "elapsed")} | {
        "fingerprint": run.fingerprint
    }


def _announce(run: Run, start: int) -> None:
    tc, cfg, hyper, evaluations = run.tc, run.cfg, run.hyper, run.evaluations
    print(
        f"train-yolo: {cfg.path} {hyper.width}x{hyper.height}, {len(run.samples)} training images, "
        f"{len(run.val_frames)} validation images, batch {hyper.batch} = {hyper.subdivisions} x {hyper.mini_batch}, "
        f"iterations {start}..{run.max_iter}, lr {hyper.learning_rate} (burn-in {hyper.burn_in}, {hyper.policy} "
        f"{list(hyper.steps)} x {list(hyper.scales)}), momentum {hyper.momentum}, decay {hyper.decay}, "
        f"multi-scale {'on' if run.multiscale else 'off'}, device {run.device}, darknet semantics {run.semantics}; "
        f"{len(evaluations)} mAP evaluation{'s' if len(evaluations) != 1 else ''} "
        f"({'darknet cadence' if str(tc.eval_every) == 'darknet' else f'every {tc.eval_every}'}: "
        f"{_iterations_text(evaluations)})",
        file=run.stream,
        flush=True,
    )


def _loop(run: Run, state: dict, start: int, stop: StopRequest) -> int:
    """Iterations ``start``..``max_iter``, evaluating, saving and stopping where due; then the final outputs."""
    tc, max_iter = run.tc, run.max_iter
    elapsed_before = state.get("elapsed", 0.0)
    sampler, loader = _loader(run, start)
    batches = iter(loader)
    now = time.perf_counter()
    progress = Progress(start, elapsed_before, now, now)
    evaluate_at = set(run.evaluations)  # looked up at every iteration
    for it in range(start, max_iter + 1):
        step = _iteration(run, state, sampler, batches, it)
        progress.done += 1
        evaluating = it in evaluate_at
        _print_progress(run, state, progress, step, evaluating)
        if evaluating:
            _evaluate(run, state, progress, step)
            _save_last(run, state, progress)
        elif it % tc.checkpoint_every == 0 or stop.requested:
            _save_last(run, state, progress)
        if stop.requested and it < max_iter:
            print(
                f"train-yolo: stopped at iteration {it}; rerun the same command to resume", file=run.stream, flush=True
            )
            del batches, loader
            return EXIT_INTERRUPTED

    del batches, loader
    state["elapsed"] = progress.elapsed()
    _ensure_val_predictions(run)
    _finish(run.out, state, _heldout_scores(run))
    return 0


def _loader(run: Run, start: int) -> tuple[IterationBatches, torch.utils.data.DataLoader]:
    """The batches of iterations ``start``..``max_iter``, drawn as an uninterrupted run draws them."""
    tc, hyper = run.tc, run.hyper
    sampler = IterationBatches(
        len(run.samples),
        hyper.batch,
        hyper.subdivisions,
        start,
        run.max_iter,
        tc.seed,
        (hyper.width, hyper.height),
        run.multiscale,
        run.semantics,
    )
    loader = torch.utils.data.DataLoader(
        TrainSet(run.samples, run.aug),
        batch_sampler=sampler,
        num_workers=tc.workers,
        collate_fn=collate,
        pin_memory=run.device.type == "cuda",
        worker_init_fn=ignore_stop_signals if tc.workers else None,
        persistent_workers=False,
    )
    return sampler, loader


def _iteration(run: Run, state: dict, sampler: IterationBatches, batches, it: int) -> Step:
    """One darknet update: ``subdivisions`` forward/backward passes whose gradients add up, one SGD step."""
    hyper, model, optimizer, scaler, device = run.hyper, run.model, run.optimizer, run.scaler, run.device
    lr = hyper.rate(it)
    set_rate(optimizer, lr)
    optimizer.zero_grad(set_to_none=True)
    loss_sum = 0.0
    net_w, net_h = sampler.size(it)
    for _ in range(hyper.subdivisions):
        images, targets = next(batches)
        images = images.to(device, non_blocking=True)
        targets = targets.to(device)
        with torch.autocast(device.type, dtype=torch.float16, enabled=scaler is not None):
            raws = model(images)
        parts = yolo_loss([r.float() for r in raws], run.heads, targets, net_w, net_h)
        loss = parts["loss"] / hyper.batch
        if scaler is not None:
            scaler.scale(loss).backward()
        else:
            loss.backward()
        loss_sum += float(parts["loss"].detach())
    if scaler is not None:
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()
    state["iteration"] = it
    state["seen"] += hyper.batch
    loss_it = loss_sum / hyper.batch
    if not math.isfinite(loss_it):
        raise CycleAugError(
            f"iteration {it}: the loss is {loss_it}; training diverged (lower the learning rate or check the labels)"
        )
    state["avg_loss"] = loss_it if state["avg_loss"] < 0 else 0.9 * state["avg_loss"] + 0.1 * loss_it
    return Step(it, lr, loss_it, net_w, net_h)


def _print_progress(run: Run, state: dict, progress: Progress, step: Step, evaluating: bool) -> None:
    now = time.perf_counter()
    if now - progress.last_print >= run.tc.log_interval or evaluating or step.it == progress.first:
        progress.last_print = now
        rate = (now - progress.t_start) / progress.done
        print(
            f"train-yolo: iteration {step.it}/{run.max_iter} ({100 * step.it / run.max_iter:.0f}%) "
            f"loss {step.loss:.4f} avg {state['avg_loss']:.4f} lr {step.lr:.3g} size {step.net_w}x{step.net_h} "
            f"{rate:.2f} s/it ETA {format_seconds(rate * (run.max_iter - step.it))}",
            file=run.stream,
            flush=True,
        )


def _evaluate(run: Run, state: dict, progress: Progress, step: Step) -> None:
    """mAP on the validation images, logged; the model is kept as ``best`` when it beats every earlier one."""
    out, model = run.out, run.model
    preds: list = []
    result = run.evaluate(model, run.val_frames, run.val_paths, preds)
    record = _eval_record(step.it, step.loss, state["avg_loss"], result, step.lr, progress.elapsed())
    state["history"].append(record)
    best = state["best"]
    is_best = best is None or record["mAP50"] > best["mAP50"]
    print(
        f"train-yolo: evaluation at {step.it}: TP {record['TP']} FP {record['FP']} FN {record['FN']} "
        f"P {_f(record['precision'])} R {_f(record['recall'])} F1 {_f(record['F1'])} "
        f"mAP@0.50 {100 * record['mAP50']:.2f} %{' (new best)' if is_best else ''}",
        file=run.stream,
        flush=True,
    )
    if is_best:
        state["best"] = record
        save_checkpoint(out / "best.pt", model, run.optimizer, run.scaler, state)
        save_darknet_weights(model, out / "best.weights", seen=state["seen"])
        # Its detections on the val images: Table 2's bootstrap intervals resample them.
        write_frames(out / "val_predictions.json", preds)
    _write_eval_log(out, state["history"])


def _save_last(run: Run, state: dict, progress: Progress) -> None:
    # darknet saves `<cfg>_last.weights` every 100 iterations (src/detector.c, train_detector).
    state["elapsed"] = progress.elapsed()
    save_checkpoint(run.out / "last.pt", run.model, run.optimizer, run.scaler, state)
    save_darknet_weights(run.model, run.out / "last.weights", seen=state["seen"])


def _ensure_val_predictions(run: Run) -> None:
    """val_predictions.json is written at each new best; a run resumed after its outputs were removed (a
    scheduler retry) may have had its last best before the restart: detect again with best.pt."""
    path = run.out / "val_predictions.json"
    if path.exists() or not (run.out / "best.pt").exists():
        return
    best = _load_best(run.model.cfg, run.out, run.device)
    preds: list = []
    run.evaluate(best, run.val_frames, run.val_paths, preds)
    write_frames(path, preds)


def _evaluation_set(labels: str, images: str, what: str) -> tuple[list, list[Path]]:
    """The person frames of ``labels`` and their image paths in ``images``; all must exist."""
    frames = read_frames(labels, categories={PERSON})
    paths = [Path(images) / f.name for f in frames]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise CycleAugError(f"{labels}: {len(missing)} {what} images are missing, e.g. {missing[0]}")
    return frames, paths


def _load_best(cfg, out: Path, device) -> Darknet:
    """The network of ``out/best.pt`` (the checkpoint of the best evaluation)."""
    best = Darknet(cfg).to(device)
    state = load_checkpoint(out / "best.pt", map_location=device)["model"]
    check_state_dict(best, state, out / "best.pt")
    best.load_state_dict(state)
    return best


def _heldout_scores(run: Run) -> dict:
    """The best checkpoint's darknet figures on the held-out split (``--heldout-labels``), or nothing.

    darknet's -map keeps the checkpoint with the best mAP on the very images it then reports, an
    optimistic choice among ~40 evaluations; the same checkpoint scored on images no choice has seen
    shows how much of that number is selection (as does the last checkpoint's mAP, beside it)."""
    tc = run.tc
    if not tc.heldout_labels:
        return {}
    frames, paths = _evaluation_set(tc.heldout_labels, tc.heldout_images, "held-out")
    best = _load_best(run.model.cfg, run.out, run.device)
    preds: list = []
    result = run.evaluate(best, frames, paths, preds)
    # Its detections: the verdict's two-level bootstrap (cycleaug.yolo.contrasts) resamples them.
    write_frames(run.out / "heldout_predictions.json", preds)
    record = _eval_record(0, float("nan"), float("nan"), result, 0.0, 0.0)
    keys = ("TP", "FP", "FN", "precision", "recall", "F1", "mAP50")
    print(
        f"train-yolo: best checkpoint on the held-out split ({len(frames)} images): mAP@0.50 "
        f"{100 * record['mAP50']:.2f} %",
        file=run.stream,
        flush=True,
    )
    return {"heldout": {"images": len(frames), **{k: record[k] for k in keys}}}


def _f(x) -> str:
    return "nan" if x is None else f"{x:.2f}"


def _write_eval_log(out: Path, history: list[dict]) -> None:
    write_text(out / "eval_log.jsonl", "".join(json.dumps(r) + "\n" for r in history))


def _restore_outputs(out: Path, cfg, state: dict, batch: int) -> None:
    """Outputs a workflow manager may have deleted after a kill, rebuilt from the checkpoints."""
    if state["history"]:
        _write_eval_log(out, state["history"])
    if (out / "best.pt").exists() and not (out / "best.weights").exists():
        best = _load_best(cfg, out, "cpu")
        iteration = state["best"]["iteration"] if state["best"] else 0
        save_darknet_weights(best, out / "best.weights", seen=iteration * batch)


def _finish(out: Path, state: dict, extra: dict | None = None) -> None:
    best = state["best"]
    if best is None:
        raise CycleAugError("no evaluation was run; nothing to report")
    _write_eval_log(out, state["history"])
    last = state["history"][-1]
    write_json(
        out / "metrics.json",
        {
            **best,
            "iterations": state["iteration"],
            "images_seen": state["seen"],
            "train_seconds": round(state["elapsed"], 1),
            "evaluations": len(state["history"]),
            "torch_threads": torch.get_num_threads(),  # a seed reproduces its run at the same count
            # The last checkpoint's figures on the same val images (no choice involved).
            "last": {k: last[k] for k in ("iteration", "TP", "FP", "FN", "precision", "recall", "F1", "mAP50")},
            **(extra or {}),
            "fingerprint": state["fingerprint"],
            "fingerprint_sha256": fingerprints.digest(state["fingerprint"]),
        },
    )
    # Not a declared output: tells a later start that this run was complete (see _restart_reason).
    write_json(
        out / FINISHED, {"iteration": state["iteration"], "fingerprint": fingerprints.digest(state["fingerprint"])}
    )


# ---- fingerprint, checkpoints, starting afresh

FINISHED = "finished.json"
# What train-yolo writes into --out; a superseded run's files move aside together.
RUN_FILES = (
    "last.pt",
    "last.weights",
    "best.pt",
    "best.weights",
    "eval_log.jsonl",
    "val_predictions.json",
    "heldout_predictions.json",
    "metrics.json",
    FINISHED,
)
# The outputs the workflow declares (cycleaug.glue.detect.outputs); Snakemake removes them before it reruns.
DECLARED = ("metrics.json", "best.weights", "eval_log.jsonl", "val_predictions.json", "heldout_predictions.json")
CHECKPOINT_KEYS = ("model", "optimizer", "torch_rng", "iteration", "seen", "history", "best", "avg_loss", "elapsed")


def run_fingerprint(
    tc: TrainConfig,
    cfg_path,
    hyper: NetHyper,
    max_iter: int,
    semantics: str,
    samples,
    val_paths,
    device: str,
    amp: bool,
) -> dict:
    """Everything that determines a detector run's weights and evaluations (cycleaug.fingerprint): the cfg's
    content, the [net] settings after the command line's overrides (batch, subdivisions, size, steps),
    the iterations and the evaluation cadence (which checkpoint is ``best``), the darknet semantics, the
    seed, the pretrained weights' content, the label files' contents and the images' names and sizes
    (training and validation), the device's kind and mixed precision, and the code's versions. Left out:
    the paths themselves, --workers (the samples do not depend on them), --eval-batch-size, --log-interval,
    --checkpoint-every and the held-out split (scored anew at each finish)."""
    from dataclasses import asdict

    return fingerprints.plain(
        {
            "cfg": fingerprints.file_sha256(cfg_path),
            **{f"net.{k}": v for k, v in asdict(hyper).items()},
            "iterations": max_iter,
            "eval_every": str(tc.eval_every),
            "darknet_semantics": semantics,
            "seed": tc.seed,
            "pretrained": fingerprints.file_sha256(tc.pretrained) if tc.pretrained else None,
            "train_labels": [fingerprints.file_sha256(labels) for labels, _ in tc.train],
            "train_images": fingerprints.files_digest(s.path for s in samples),
            "val_labels": fingerprints.file_sha256(tc.val_labels),
            "val_images": fingerprints.files_digest(val_paths),
            "device": device,
            "amp": amp,
            **fingerprints.code_versions(),
        }
    )


def load_checkpoint(path: Path, map_location="cpu") -> dict:
    """A train-yolo checkpoint (last.pt, best.pt), or one line saying why the file is not one."""
    from cycleaug import torchfile

    expected = "a train-yolo checkpoint (last.pt or best.pt of cycleaug train-yolo)"
    ckpt = torchfile.load(path, expected, map_location=map_location)
    if not isinstance(ckpt, dict):
        raise CycleAugError(f"{path}: holds a {type(ckpt).__name__}; expected {expected}")
    missing = [k for k in CHECKPOINT_KEYS if k not in ckpt]
    if missing:
        raise CycleAugError(f"{path}: no {', '.join(missing)}; expected {expected}")
    return ckpt


def _restart_reason(out: Path, ckpt: dict, fingerprint: dict, max_iter: int) -> str | None:
    """Why ``last.pt`` must not be resumed, or None: another fingerprint, or a finished run all of whose
    declared outputs were removed (Snakemake does so before it reruns a job: --forcerun, a changed input,
    parameter or rule)."""
    reason = fingerprints.mismatch(ckpt.get("fingerprint"), fingerprint)
    if reason:
        return reason
    try:
        done = json.loads((out / FINISHED).read_text())
    except (OSError, ValueError):
        done = None
    if (
        isinstance(done, dict)
        and done.get("iteration") == ckpt["iteration"] >= max_iter
        and not any((out / name).exists() for name in DECLARED)
    ):
        return (
            f"the run finished iteration {ckpt['iteration']} and all its outputs were removed (as snakemake does "
            "before it reruns a job: --forcerun, or a changed input, parameter or rule)"
        )
    return None


def supersede(out: Path, tag: str) -> Path:
    """Move this run's files into ``out/superseded-<tag>/``; ``last.pt`` last, so that a start killed
    in between finds it and moves the rest."""
    names = [n for n in RUN_FILES if n != "last.pt"] + ["last.pt"]
    return fingerprints.supersede(out, [out / n for n in names], tag)
