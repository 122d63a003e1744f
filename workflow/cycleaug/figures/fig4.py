"""Fig. 4: speed-up of CycleGAN training against the number of GPUs (processes).

Input: one ``R/cyclegan/{n}gpu/train_log.jsonl`` per GPU count, one JSON object per epoch with
``epoch``, ``seconds`` (the epoch's wall time including communication) and ``world_size``.
Speed-up of n GPUs = (time of the smallest GPU count) / (time of n GPUs) for the same number of
epochs. Runs may hold different numbers of epochs (an unfinished run), so the time compared is the
mean wall time per epoch, which equals the ratio of total times when the epoch counts match.
Parallel efficiency = speed-up / (n / n_smallest), the fraction of the ideal (linear) speed-up.

    cycleaug figure fig4 --logs results/cyclegan/*gpu/train_log.jsonl --out results/figures/fig4_scaling.png
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cycleaug import paper
from cycleaug.errors import CycleAugError
from cycleaug.figures.style import gpu_label, new_figure, paper_mark, series_style, style


@dataclass(frozen=True)
class RunTiming:
    gpus: int
    epochs: int
    total_seconds: float
    path: str
    device: str = "cuda"  # what the log says the processes ran on (older logs: GPUs)
    cpu_cores: int | None = None

    @property
    def seconds_per_epoch(self) -> float:
        return self.total_seconds / self.epochs


@dataclass(frozen=True)
class ScalingPoint:
    gpus: int
    seconds_per_epoch: float
    speedup: float
    ideal: float
    efficiency: float


def read_log(path: str | Path) -> RunTiming:
    """One run's timing from its train_log.jsonl.

    An epoch interrupted by the scheduler (walltime) is logged in parts, one line each, with
    ``start_iteration``, ``iterations`` and ``complete`` (cycleaug.cyclegan.train; a resume first drops
    lines of work the checkpoint does not hold, so parts never overlap). An epoch's time is the sum of
    its parts; only complete epochs count (the last part of a complete epoch says ``complete: true``;
    logs without the key hold one line per finished epoch).
    """
    path = Path(path)
    if not path.is_file():
        raise CycleAugError(f"{path}: training log not found; expected the train_log.jsonl of a CycleGAN run")
    seconds: dict[int, float] = {}
    complete: dict[int, bool] = {}
    sizes = set()
    devices, cores = set(), set()
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            epoch, part = int(row["epoch"]), float(row["seconds"])
        except (ValueError, KeyError, TypeError) as exc:
            raise CycleAugError(
                f"{path}:{lineno}: not a training-log line ({exc}); expected a JSON object "
                "with numeric 'epoch' and 'seconds'"
            ) from None
        if not part >= 0:
            raise CycleAugError(f"{path}:{lineno}: seconds = {row['seconds']!r}; expected a wall time >= 0")
        seconds[epoch] = seconds.get(epoch, 0.0) + part
        complete[epoch] = complete.get(epoch, False) or bool(row.get("complete", True))
        if "world_size" in row:
            sizes.add(int(row["world_size"]))
        if "device" in row:
            devices.add(str(row["device"]))
        if row.get("cpu_cores"):
            cores.add(int(row["cpu_cores"]))
    done = [e for e in seconds if complete[e]]
    if not done:
        raise CycleAugError(f"{path}: no complete epoch logged; the run has not finished an epoch yet")
    if len(sizes) > 1:
        raise CycleAugError(
            f"{path}: world_size changes within the log ({sorted(sizes)}); its epoch times "
            "mix process counts, so they cannot give one point of the scaling curve"
        )
    # The directory name ({n}gpu) is the rule's GPU count; world_size is what actually ran.
    named = re.fullmatch(r"(\d+)gpu", path.parent.name)
    if sizes:
        gpus = sizes.pop()
        if named and int(named.group(1)) != gpus:
            raise CycleAugError(f"{path}: world_size {gpus} but the run directory says {named.group(1)} GPUs")
    elif named:
        gpus = int(named.group(1))
    else:
        raise CycleAugError(f"{path}: no world_size in the log and no '{{n}}gpu' directory to take it from")
    total = sum(seconds[e] for e in done)
    if not total > 0:
        raise CycleAugError(f"{path}: the complete epochs took {total} s; expected a positive wall time")
    device = "cpu" if devices == {"cpu"} else "cuda"
    return RunTiming(gpus, len(done), total, str(path), device, max(cores) if cores else None)


def unit_label(n: int, device: str) -> str:
    """``4 GPUs``, or ``4 processes`` for CPU runs (the demo: processes sharing one machine's cores)."""
    if device == "cpu":
        return f"{n} process" if n == 1 else f"{n} processes"
    return gpu_label(n)


def run_device(runs: Sequence[RunTiming]) -> tuple[str, int | None]:
    """("cpu", cores) when every run was on CPU processes, else ("cuda", cores)."""
    cpu = all(r.device == "cpu" for r in runs)
    cores = max((r.cpu_cores for r in runs if r.cpu_cores), default=None)
    return ("cpu" if cpu else "cuda"), cores


def scaling(runs: Sequence[RunTiming]) -> list[ScalingPoint]:
    """Speed-up and efficiency of every run relative to the run with the fewest GPUs."""
    if not runs:
        raise CycleAugError("fig4: no training logs given")
    counts = [r.gpus for r in runs]
    if len(set(counts)) != len(counts):
        raise CycleAugError(f"fig4: several logs for the same GPU count ({sorted(counts)})")
    runs = sorted(runs, key=lambda r: r.gpus)
    base = runs[0]
    points = []
    for r in runs:
        speedup = base.seconds_per_epoch / r.seconds_per_epoch
        ideal = r.gpus / base.gpus
        points.append(ScalingPoint(r.gpus, r.seconds_per_epoch, speedup, ideal, speedup / ideal))
    return points


def read_model(path: str | Path) -> list[tuple[int, float]]:
    """A scaling model's prediction: CSV with columns ``gpus`` and ``predicted_speedup``."""
    path = Path(path)
    try:
        with open(path, newline="") as f:
            rows = [(int(r["gpus"]), float(r["predicted_speedup"])) for r in csv.DictReader(f)]
    except FileNotFoundError:
        raise CycleAugError(f"{path}: scaling-model prediction not found") from None
    except (KeyError, ValueError, TypeError) as exc:
        raise CycleAugError(
            f"{path}: bad scaling-model row ({exc}); expected columns gpus, predicted_speedup"
        ) from None
    if not rows:
        raise CycleAugError(f"{path}: no rows; expected columns gpus, predicted_speedup")
    return sorted(rows)


def build_fig4(
    runs: Sequence[RunTiming], model: Sequence[tuple[int, float]] | None = None, paper_reference: bool = False
):
    """The figure: measured speed-up (one line), ideal line, efficiency annotations, optional model
    prediction, and at paper scale the paper's 93.8x at 512 GPUs (128 nodes)."""
    points = scaling(runs)
    base = points[0].gpus
    gpus = [p.gpus for p in points]
    # The paper's speed-up is relative to 4 GPUs (1 node); against another base it would mislead.
    draw_paper = paper_reference and base == paper.BASE_GPUS
    with style():
        fig = new_figure(4.2, 3.3)
        ax = fig.add_subplot()
        top = max(gpus) / base
        ax.plot(
            [base, max(gpus)],
            [1, top],
            linestyle="--",
            color="0.45",
            linewidth=1.0,
            label="ideal (linear)",
            marker="none",
        )
        ax.plot(gpus, [p.speedup for p in points], label="measured", **series_style(0))
        for p in points[1:]:
            ax.annotate(
                f"{100 * p.efficiency:.0f}%",
                (p.gpus, p.speedup),
                textcoords="offset points",
                xytext=(4, -11),
                fontsize=9,
                color=series_style(0)["color"],
            )
        ticks = sorted(set(gpus) | ({paper.SCALING_GPUS} if draw_paper else set()))
        model = [(g, s) for g, s in (model or []) if g <= ticks[-1]]  # over the range on the axes only
        if model:
            ax.plot(
                [g for g, _ in model], [s for _, s in model], label="scaling model", linestyle=":", **series_style(1)
            )
        if draw_paper:
            paper_mark(
                ax,
                paper.SCALING_GPUS,
                paper.SCALING_SPEEDUP,
                f"paper: {paper.SCALING_SPEEDUP}x at {paper.SCALING_GPUS // paper.GPUS_PER_NODE} nodes\n"
                f"({paper.HOURS_BASE} h \u2192 {paper.HOURS_SCALED} h)",
            )
        if len(ticks) > 1 and max(ticks) / min(ticks) >= 8:  # wide ranges read best on log axes
            ax.set_xscale("log", base=2)
            ax.set_yscale("log", base=2)
        ax.set_xticks(ticks, [str(t) for t in ticks])
        ymax = max([top] + [p.speedup for p in points] + [s for _, s in (model or [])])
        if ax.get_yscale() == "log":  # ticks at the ideal speed-ups, printed as plain numbers
            ax.minorticks_off()
            yticks = sorted({1, *(round(p.ideal, 2) for p in points)})
            ax.set_yticks(yticks, [f"{t:g}" for t in yticks])
        ax.set_ylim(top=ymax * (1.25 if ax.get_yscale() == "log" else 1.08))
        device, cores = run_device(runs)
        if device == "cpu":
            on = f"one machine, {cores} CPU cores" if cores else "CPU"
            ax.set_xlabel(f"training processes ({on}; no GPUs)")
        else:
            ax.set_xlabel("GPUs (training processes)")
        ax.set_ylabel(f"speed-up over {unit_label(base, device)}")
        ax.set_title("CycleGAN training speed-up (%: parallel efficiency)")
        ax.legend(loc="upper left", frameon=False)
    return fig


def findings(log_paths: Sequence[str | Path]) -> str:
    """One sentence on this run's scaling for the report caption."""
    timings = [read_log(p) for p in log_paths]
    points = scaling(timings)
    runs = {r.gpus: r for r in timings}
    base = points[0]
    device, cores = run_device(timings)
    parts = [
        f"{unit_label(p.gpus, device)}: {p.seconds_per_epoch:.1f} s per epoch "
        f"({runs[p.gpus].epochs} epochs, {runs[p.gpus].total_seconds / 3600:.2f} h)"
        for p in points
    ]
    text = "; ".join(parts) + "."
    if device == "cpu":
        text += f" CPU processes sharing {cores or 'the'} cores of one machine, not GPUs."
    if len(points) > 1:
        last = points[-1]
        text += (
            f" Speed-up at {unit_label(last.gpus, device)} over {unit_label(base.gpus, device)}: {last.speedup:.2f}x "
            f"(ideal {last.ideal:g}x, parallel efficiency {100 * last.efficiency:.0f}%)."
        )
    return text
