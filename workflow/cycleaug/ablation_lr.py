"""Beyond the paper: does scaling the learning rate with the GPU count win back the quality lost at many
GPUs? (`snakemake ablation_lr`; the runs' lr rule: cycleaug.cyclegan.train.lr_at.)

The paper keeps the learning rate at every count (FACTS.md), so n GPUs take 1/n of the optimiser steps
with an n-times larger batch, and its FID worsens from 221.0 at 4 GPUs to 270.7 at 512. Each rule
(none, linear, sqrt) was trained at each count and scored like the main runs; this module reads their
tables, draws quality against GPU count with one line per rule, and decides, at the last epoch:

- the loss to recover: KID at the largest count minus at the smallest, without scaling. If it does
  not exceed the threshold, there is nothing to win back here: "cannot tell".
- "yes" when a scaling rule's KID at the largest count is below the unscaled run's by more than the
  threshold; "no" when no rule is (each within it or worse) and every rule's KID there still exceeds
  the unscaled smallest count's by more than it (the loss stays); otherwise "cannot tell".
The threshold is 2.24 combined standard deviations (KID's spread over subsets, added in quadrature):
a two-sided 95 % level, Bonferroni-corrected for the two scaling rules compared (Holm 1979's first step).
On demo data the paired-truth SSIM with its 95 % bootstrap interval is reported beside KID.
"""

from __future__ import annotations

import math
from pathlib import Path

from cycleaug.cyclegan.settings import LR_RULES as RULES
from cycleaug.errors import CycleAugError
from cycleaug.figures.fig6 import FIDRow, curves, read_fid

# Two-sided 95 % for the two comparisons of a scaling rule with none: z at 1 - 0.05 / 4.
Z = 2.24


def parse_pairs(words: list[str], what: str) -> dict[str, str]:
    """``RULE=PATH`` words -> {rule: path}; one line naming the word otherwise."""
    out = {}
    for word in words:
        rule, sep, path = word.partition("=")
        if not sep or rule not in RULES or not path:
            raise CycleAugError(f"--{what} {word!r}: expected RULE=PATH with RULE one of {', '.join(RULES)}")
        out[rule] = path
    if "none" not in out:
        raise CycleAugError(f"--{what}: no none=PATH (the unscaled runs every rule is compared with)")
    return out


def last_epoch(rows: list[FIDRow], path: str) -> dict[int, FIDRow]:
    """GPU count -> the row of its last epoch (each count must have KID)."""
    out = {n: rs[-1] for n, rs in curves(rows).items()}
    for n, r in out.items():
        if r.kid is None or r.kid_std is None:
            raise CycleAugError(f"{path}: no KID for {n} GPUs at epoch {r.epoch}; rerun `cycleaug fid-table`")
    return out


def read(fid: dict[str, str]) -> dict[str, dict[int, FIDRow]]:
    tables = {rule: last_epoch(read_fid(path), path) for rule, path in fid.items()}
    counts = set(tables["none"])
    for rule, table in tables.items():
        if set(table) != counts:
            raise CycleAugError(f"{fid[rule]}: GPU counts {sorted(table)}, expected those of none: {sorted(counts)}")
    return tables


def _spread(*rows: FIDRow) -> float:
    return math.sqrt(sum(r.kid_std**2 for r in rows))


def verdict(tables: dict[str, dict[int, FIDRow]]) -> tuple[str, str]:
    """("yes" | "no" | "cannot tell", the numbers behind it in one line)."""
    none = tables["none"]
    lo, hi = min(none), max(none)
    if lo == hi:
        return "cannot tell", "one GPU count only"
    loss, loss_spread = none[hi].kid - none[lo].kid, _spread(none[hi], none[lo])
    text = f"KID without scaling {none[lo].kid:.4f} +- {none[lo].kid_std:.4f} at {lo} vs {none[hi].kid:.4f} +- {none[hi].kid_std:.4f} at {hi}"
    for rule in (r for r in RULES if r != "none" and r in tables):
        row = tables[rule][hi]
        text += f"; {rule} {row.kid:.4f} +- {row.kid_std:.4f}"
    if loss <= Z * loss_spread:
        return "cannot tell", f"{text}: no loss beyond {Z} x {loss_spread:.4f} to recover at {hi}"
    scaled = [r for r in RULES if r != "none" and r in tables]
    gains = {r: (none[hi].kid - tables[r][hi].kid, _spread(none[hi], tables[r][hi])) for r in scaled}
    won = [r for r, (gain, s) in gains.items() if gain > Z * s]
    if won:
        best = max(won, key=lambda r: gains[r][0])
        share = gains[best][0] / loss
        return "yes", f"{text}: {best} lowers KID at {hi} by {gains[best][0]:.4f} ({share:.0%} of the loss)"
    stays = all(tables[r][hi].kid - none[lo].kid > Z * _spread(tables[r][hi], none[lo]) for r in scaled)
    if scaled and stays:
        return "no", f"{text}: no rule lowers KID at {hi} beyond {Z} spreads, and each stays above {lo}'s"
    return "cannot tell", f"{text}: within {Z} combined spreads of both the unscaled run and the smallest count"


def paired_line(paired: dict[str, list[dict]]) -> str:
    """SSIM to the paired truth at each rule's largest count, last epoch, with its 95 % interval."""
    parts = []
    for rule in RULES:
        if rule in paired:
            by = paired[rule]
            r = by[max(by)][-1]
            parts.append(f"{rule} {r['ssim']:.3f} [{r['ssim_ci_low']:.3f}, {r['ssim_ci_high']:.3f}]")
    return "paired-truth SSIM at the largest count: " + ", ".join(parts) if parts else ""


def read_paired_tables(paths: dict[str, str]) -> dict[str, dict[int, list[dict]]]:
    from cycleaug.paired import by_gpus, read_paired

    return {rule: by_gpus(read_paired(path)) for rule, path in paths.items()}


def build_figure(tables: dict[str, dict[int, FIDRow]], paired: dict[str, dict[int, list[dict]]]):
    """KID at the last epoch against GPU count, one line per rule with +-1 std; SSIM to the paired truth
    with its 95 % interval beside it on demo data."""
    import matplotlib.pyplot as plt

    from cycleaug.figures.style import MARKERS, PALETTE

    panels = 2 if paired else 1
    fig, axes = plt.subplots(1, panels, figsize=(3.6 * panels, 3.2), squeeze=False)
    for i, rule in enumerate(r for r in RULES if r in tables):
        counts = sorted(tables[rule])
        style = {"color": PALETTE[i], "marker": MARKERS[i], "capsize": 3, "label": rule}
        kid = [tables[rule][n].kid for n in counts]
        axes[0][0].errorbar(counts, kid, yerr=[tables[rule][n].kid_std for n in counts], **style)
        if paired and rule in paired:
            rows = [paired[rule][n][-1] for n in counts]
            ssim = [r["ssim"] for r in rows]
            err = [[r["ssim"] - r["ssim_ci_low"] for r in rows], [r["ssim_ci_high"] - r["ssim"] for r in rows]]
            axes[0][1].errorbar(counts, ssim, yerr=err, **style)
    axes[0][0].set_ylabel("KID (lower is better)")
    if paired:
        axes[0][1].set_ylabel("SSIM to paired truth\n(higher is better)")
    for ax in axes[0]:
        ax.set_xscale("log", base=2)
        ax.set_xlabel("GPUs (processes)")
        counts = sorted(tables["none"])
        ax.set_xticks(counts, [str(n) for n in counts])
    axes[0][0].legend(title="lr scaling")
    fig.tight_layout()
    return fig


def markdown(decision: str, line: str, ssim: str) -> str:
    return (
        "# Ablation: learning-rate scaling against GPU count\n\n"
        f"lr scaling recovers quality at the largest count: **{decision}**\n\n{line}\n"
        + (f"\n{ssim}\n" if ssim else "")
    )


def write(out: str | Path, text: str) -> None:
    from cycleaug.atomic import atomic_path

    with atomic_path(Path(out)) as tmp:
        Path(tmp).write_text(text)
