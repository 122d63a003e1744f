"""Beyond the paper: does scaling the learning rate with the GPU count win back the quality lost at many
GPUs? (`snakemake ablation_lr`; the runs' lr rule: cycleaug.cyclegan.train.lr_at.)

The paper keeps the learning rate at every count (FACTS.md), so n GPUs take 1/n of the optimiser steps
with an n-times larger batch, and its FID worsens from 221.0 at 4 GPUs to 270.7 at 512. Each rule
(none, linear, sqrt) was trained at each count with each seed and scored like the main runs; this module
reads their tables (last epoch), draws quality against GPU count with one line per rule, and decides.

Every contrast is paired by seed (a seed fixes the initial weights and the data order, so the rules of
one seed differ only in their rates) and its interval is a t interval over the seeds' differences,
which holds the image noise and the seed noise together; with one seed it falls back to the
image-level spread (KID's over subsets, SSIM's bootstrap) and says that seeds were not counted.
The rule, fixed before the 3-seed demo run (a one-seed trial had shown KID and SSIM pointing opposite
ways, so neither measure decides alone):
- the loss: KID at the largest count minus at the smallest, without scaling (95 %). No loss beyond its
  interval: "cannot tell" (nothing to win back here).
- per scaling rule (two, so 97.5 % intervals: Bonferroni) its gain over no scaling at the largest count,
  in KID and, on demo data, in SSIM to the paired truth.
- "yes": a rule gains in KID and does not lose in SSIM; "no": no rule gains in either measure and every
  rule's KID there stays above the smallest count's; otherwise "cannot tell".
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from cycleaug.cyclegan.settings import LR_RULES as RULES
from cycleaug.errors import CycleAugError
from cycleaug.figures.fig6 import curves, read_fid

LOSS_LEVEL = 0.95
RULE_LEVEL = 1 - 0.05 / 2  # two scaling rules compared with none


@dataclass(frozen=True)
class Value:
    """One run's measure at its last epoch and its image-level standard deviation."""

    mean: float
    sd: float


def parse_pairs(words: list[str], what: str) -> dict[tuple[str, int], str]:
    """``RULE:SEED=PATH`` words -> {(rule, seed): path}; one line naming the word otherwise."""
    out = {}
    for word in words:
        run, sep, path = word.partition("=")
        rule, _, seed = run.partition(":")
        if not sep or rule not in RULES or not seed.isdigit() or not path:
            raise CycleAugError(
                f"--{what} {word!r}: expected RULE:SEED=PATH with RULE one of {', '.join(RULES)} and SEED an integer"
            )
        out[(rule, int(seed))] = path
    if not any(rule == "none" for rule, _ in out):
        raise CycleAugError(f"--{what}: no none:SEED=PATH (the unscaled runs every rule is compared with)")
    return out


def _check_shape(tables: dict, paths: dict) -> None:
    """Every rule has every seed, and every table the GPU counts of the first."""
    seeds = {s for _, s in tables}
    first = next(iter(tables))
    for (rule, seed), table in tables.items():
        if set(table) != set(tables[first]):
            raise CycleAugError(
                f"{paths[(rule, seed)]}: GPU counts {sorted(table)}, expected those of "
                f"{paths[first]}: {sorted(tables[first])}"
            )
    for rule in {r for r, _ in tables}:
        if {s for r, s in tables if r == rule} != seeds:
            raise CycleAugError(
                f"rule {rule}: seeds {sorted(s for r, s in tables if r == rule)}, expected {sorted(seeds)}"
            )


def read(fid: dict[tuple[str, int], str]) -> dict[tuple[str, int], dict[int, Value]]:
    """KID at the last epoch per (rule, seed) and GPU count."""
    tables = {}
    for run, path in fid.items():
        table = {}
        for n, rows in curves(read_fid(path)).items():
            last = rows[-1]
            if last.kid is None or last.kid_std is None:
                raise CycleAugError(f"{path}: no KID for {n} GPUs at epoch {last.epoch}; rerun `cycleaug fid-table`")
            table[n] = Value(last.kid, last.kid_std)
        tables[run] = table
    _check_shape(tables, fid)
    return tables


def read_paired_tables(paths: dict[tuple[str, int], str]) -> dict[tuple[str, int], dict[int, Value]]:
    """SSIM to the paired truth at the last epoch (its bootstrap interval as a standard deviation)."""
    from cycleaug.paired import by_gpus, read_paired

    tables = {}
    for run, path in paths.items():
        tables[run] = {
            n: Value(rows[-1]["ssim"], (rows[-1]["ssim_ci_high"] - rows[-1]["ssim_ci_low"]) / (2 * 1.959964))
            for n, rows in by_gpus(read_paired(path)).items()
        }
    _check_shape(tables, paths)
    return tables


def interval(diffs: list[float], sds: list[float], level: float) -> tuple[float, float, float]:
    """(mean, low, high) of the mean of ``diffs`` (one per seed): a t interval over the seeds, or with one
    seed a normal interval from that seed's image-level ``sds`` of the two measures differenced."""
    from scipy import stats

    mean = sum(diffs) / len(diffs)
    if len(diffs) > 1:
        se = math.sqrt(sum((d - mean) ** 2 for d in diffs) / (len(diffs) - 1) / len(diffs))
        half = stats.t.ppf(1 - (1 - level) / 2, len(diffs) - 1) * se
    else:
        half = stats.norm.ppf(1 - (1 - level) / 2) * math.sqrt(sum(s * s for s in sds))
    return mean, mean - half, mean + half


def _contrast(tables, a: tuple[str, int], b: tuple[str, int], level: float) -> tuple[float, float, float]:
    """a minus b, paired by seed: a and b are (rule, GPU count)."""
    seeds = sorted({s for _, s in tables})
    diffs = [tables[(a[0], s)][a[1]].mean - tables[(b[0], s)][b[1]].mean for s in seeds]
    sds = [tables[(a[0], s)][a[1]].sd for s in seeds] + [tables[(b[0], s)][b[1]].sd for s in seeds]
    return interval(diffs, sds, level)


def _fmt(iv: tuple[float, float, float], digits: int) -> str:
    mean, low, high = iv
    return f"{mean:+.{digits}f} [{low:+.{digits}f}, {high:+.{digits}f}]"


def judge(kid: dict, ssim: dict | None = None) -> tuple[str, str]:
    """("yes" | "no" | "cannot tell", the numbers behind it in one line)."""
    ssim = ssim or {}
    counts = sorted(next(iter(kid.values())))
    lo, hi = counts[0], counts[-1]
    seeds = sorted({s for _, s in kid})
    scope = f"{len(seeds)} seed(s)" + ("" if len(seeds) > 1 else ", seed variance not counted")
    if lo == hi:
        return "cannot tell", f"one GPU count only ({scope})"
    loss = _contrast(kid, ("none", hi), ("none", lo), LOSS_LEVEL)
    text = f"{scope}; KID loss without scaling, {hi} vs {lo}: {_fmt(loss, 4)}"
    scaled = [r for r in RULES if r != "none" and any(rule == r for rule, _ in kid)]
    kid_gain = {r: _contrast(kid, ("none", hi), (r, hi), RULE_LEVEL) for r in scaled}
    gap = {r: _contrast(kid, (r, hi), ("none", lo), RULE_LEVEL) for r in scaled}
    ssim_gain = {r: _contrast(ssim, (r, hi), ("none", hi), RULE_LEVEL) for r in scaled if ssim}
    if ssim:
        text += f", SSIM loss {_fmt(_contrast(ssim, ('none', lo), ('none', hi), LOSS_LEVEL), 3)}"
    for r in scaled:
        text += f"; {r} at {hi}: KID gain {_fmt(kid_gain[r], 4)}"
        if r in ssim_gain:
            text += f", SSIM gain {_fmt(ssim_gain[r], 3)}"
    if loss[1] <= 0:
        return "cannot tell", f"{text}: no KID loss beyond its 95 % interval to win back"
    won = [r for r in scaled if kid_gain[r][1] > 0 and not (r in ssim_gain and ssim_gain[r][2] < 0)]
    if won:
        best = max(won, key=lambda r: kid_gain[r][0])
        return "yes", f"{text}: {best} lowers KID at {hi} ({kid_gain[best][0] / loss[0]:.0%} of the loss)"
    no_gain = all(kid_gain[r][1] <= 0 and not (r in ssim_gain and ssim_gain[r][1] > 0) for r in scaled)
    if scaled and no_gain and all(gap[r][1] > 0 for r in scaled):
        return "no", f"{text}: no rule gains in KID or SSIM, and each stays above {lo}'s KID"
    disagree = [r for r in scaled if r in ssim_gain and (ssim_gain[r][1] > 0) != (kid_gain[r][1] > 0)]
    why = "KID and SSIM disagree for " + ", ".join(disagree) if disagree else "the intervals cover both answers"
    return "cannot tell", f"{text}: {why}"


def summary_rows(tables: dict, level: float = LOSS_LEVEL) -> dict[str, dict[int, tuple[float, float, float]]]:
    """rule -> GPU count -> (mean over seeds, low, high) for the figure."""
    seeds = sorted({s for _, s in tables})
    out: dict[str, dict[int, tuple[float, float, float]]] = {}
    for rule in (r for r in RULES if any(k == r for k, _ in tables)):
        for n in sorted(tables[(rule, seeds[0])]):
            values = [tables[(rule, s)][n] for s in seeds]
            out.setdefault(rule, {})[n] = interval([v.mean for v in values], [values[0].sd], level)
    return out


def build_figure(kid: dict, ssim: dict):
    """KID (and on demo data SSIM to the paired truth) at the last epoch against GPU count, one line per
    rule: the mean over seeds with its 95 % interval (one seed: the image-level interval)."""
    import matplotlib.pyplot as plt

    from cycleaug.figures.style import MARKERS, PALETTE

    panels = [("KID (lower is better)", summary_rows(kid))]
    if ssim:
        panels.append(("SSIM to paired truth\n(higher is better)", summary_rows(ssim)))
    fig, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels), 3.2), squeeze=False)
    for ax, (label, rows) in zip(axes[0], panels):
        for i, (rule, by_n) in enumerate(rows.items()):
            counts = sorted(by_n)
            means = [by_n[n][0] for n in counts]
            err = [[by_n[n][0] - by_n[n][1] for n in counts], [by_n[n][2] - by_n[n][0] for n in counts]]
            ax.errorbar(counts, means, yerr=err, color=PALETTE[i], marker=MARKERS[i], capsize=3, label=rule)
        ax.set_ylabel(label)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("GPUs (processes)")
        ax.set_xticks(counts, [str(n) for n in counts])
    axes[0][0].legend(title="lr scaling")
    fig.tight_layout()
    return fig


def markdown(decision: str, line: str) -> str:
    return (
        "# Ablation: learning-rate scaling against GPU count\n\n"
        f"lr scaling recovers quality at the largest count: **{decision}**\n\n{line}\n"
    )


def write(out: str | Path, text: str) -> None:
    from cycleaug.atomic import atomic_path

    with atomic_path(Path(out)) as tmp:
        Path(tmp).write_text(text)
