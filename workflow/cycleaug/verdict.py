"""The paper's three claims, checked against this run's outputs: for each, what the paper found, what
this run measured (with its uncertainty), and a verdict.

Claims (FACTS.md; Nishikawa, Sato & Ozawa):
1. Distributed CycleGAN training scales: 93.8x at 512 GPUs over 4 (ideal 128x, efficiency 73%).
2. Person detection improves with CG images (2a), and more with CycleGAN-translated ones (2b): mAP@0.50
   (a) 34.34 < (b) 39.45 < (c)-(g) 41.39-42.03.
3. Image quality falls as GPUs increase: FID 221.0 at 4 GPUs vs 270.7 at 512 (epoch 200).
On the demo data a fourth check has no counterpart in the paper: whether the translation moves the CG
crops toward their paired ground truth (cycleaug.paired).

Verdicts: "reproduced", "not reproduced" (the run's evidence points the other way, beyond its
uncertainty), "inconclusive" (the uncertainty covers both), or "not testable here" (the run cannot
measure it, e.g. more processes than CPU cores for a scaling claim). Differences count as evidence only
when their 95 % interval excludes zero (Table 2: paired bootstrap over val images; KID: the difference
exceeds twice the combined standard deviation over subsets; paired truth: bootstrap over crops).

    cycleaug verdict --logs results/cyclegan/*/train_log.jsonl --fid results/fid/fid.csv \\
        --table results/tables/table2.csv [--paired results/fid/paired.csv] --out results/verdict.md
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cycleaug import paper
from cycleaug.atomic import write_text
from cycleaug.errors import CycleAugError

REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE, NOT_TESTABLE = (
    "reproduced",
    "not reproduced",
    "inconclusive",
    "not testable here",
)
# Parallel efficiency that counts as "scales" (the paper's own: 93.8 / 128 = 73 %).
SCALING_EFFICIENCY = paper.SCALING_SPEEDUP / (paper.SCALING_GPUS / paper.BASE_GPUS)


@dataclass(frozen=True)
class Claim:
    title: str
    paper: str
    this_run: str
    verdict: str
    why: str = ""


def scaling_claim(log_paths: Sequence[str | Path]) -> Claim:
    from cycleaug.figures.fig4 import read_log, run_device, scaling, unit_label  # noqa: PLC0415

    runs = [read_log(p) for p in log_paths]
    points = scaling(runs)
    device, cores = run_device(runs)
    base, last = points[0], points[-1]
    measured = (
        f"{unit_label(last.gpus, device)} vs {unit_label(base.gpus, device)}: {last.speedup:.2f}x "
        f"(ideal {last.ideal:g}x, efficiency {100 * last.efficiency:.0f}%)"
    )
    title = "1. Distributed training scales (Fig. 4)"
    claim = (
        f"{paper.SCALING_SPEEDUP}x at {paper.SCALING_GPUS} GPUs over {paper.BASE_GPUS} "
        f"(efficiency {100 * SCALING_EFFICIENCY:.0f}%)"
    )
    if len(points) < 2:
        return Claim(title, claim, "one process count only", NOT_TESTABLE, "needs two or more counts")
    if device == "cpu" and cores and last.gpus > cores:
        return Claim(
            title,
            claim,
            measured,
            NOT_TESTABLE,
            f"{last.gpus} processes share {cores} CPU cores: past {cores} they cannot run faster, whatever "
            "the code does; this needs one GPU (or core) per process",
        )
    ok = last.efficiency >= SCALING_EFFICIENCY
    return Claim(
        title,
        claim,
        measured,
        REPRODUCED if ok else NOT_REPRODUCED,
        f"efficiency {'at or above' if ok else 'below'} the paper's {100 * SCALING_EFFICIENCY:.0f}%",
    )


def _interval(row: dict, col: str) -> tuple[float, float, float] | None:
    value = (row.get(col) or "").strip()
    if not value:
        return None
    return float(value), float(row[f"{col}_ci_low"]), float(row[f"{col}_ci_high"])


def _sign(iv: tuple[float, float, float]) -> int:
    """+1 / -1 when the interval excludes zero on that side, else 0."""
    return 1 if iv[1] > 0 else -1 if iv[2] < 0 else 0


def _fmt(iv: tuple[float, float, float], digits: int = 2) -> str:
    return f"{iv[0]:+.{digits}f} [{iv[1]:+.{digits}f}, {iv[2]:+.{digits}f}]"


def _judge(intervals: list[tuple[float, float, float]]) -> tuple[str, str]:
    """All above zero: reproduced; any below: not reproduced; else inconclusive."""
    signs = [_sign(iv) for iv in intervals]
    if all(s > 0 for s in signs):
        return REPRODUCED, "every comparison is positive with its 95% interval above zero"
    if any(s < 0 for s in signs):
        return (
            NOT_REPRODUCED,
            f"{sum(s < 0 for s in signs)} of {len(signs)} comparisons are negative beyond their 95% interval",
        )
    return INCONCLUSIVE, (
        f"{sum(s > 0 for s in signs)} of {len(signs)} comparisons are positive beyond their interval; the others' "
        "intervals include zero (a larger validation set or repeated seeds narrow them)"
    )


def detector_claims(table_path: str | Path) -> list[Claim]:
    """The paper's Table 2 says two things, judged apart: (2a) adding CG images, raw or translated, helps
    over BDD alone; (2b) translated CG helps more than raw CG."""
    import csv  # noqa: PLC0415

    titles = (
        "2a. Adding CG images helps the detector (Table 2: (b)-(g) vs (a))",
        "2b. Translated CG helps more than raw CG (Table 2: (c)-(g) vs (b))",
    )
    generated_maps = [r.mAP50 for r in paper.TABLE2[2:]]
    claims_text = (
        f"mAP@0.50 (a) {paper.TABLE2[0].mAP50} < (b) {paper.TABLE2[1].mAP50} and (c)-(g) "
        f"{min(generated_maps)}-{max(generated_maps)}",
        f"(b) {paper.TABLE2[1].mAP50} < (c)-(g) {min(generated_maps)}-{max(generated_maps)}",
    )
    try:
        with open(table_path, newline="") as f:
            rows = list(csv.DictReader(f))
    except FileNotFoundError:
        raise CycleAugError(f"{table_path}: Table 2 not found") from None
    by_letter = {r["condition"].strip("()"): r for r in rows}
    if "a" not in by_letter or "b" not in by_letter or "diff_vs_b" not in (rows[0] if rows else {}):
        why = "Table 2 needs conditions (a), (b) and the bootstrap (train-yolo's val predictions)"
        return [
            Claim(t, c, "no (a)/(b) rows with bootstrap columns", NOT_TESTABLE, why)
            for t, c in zip(titles, claims_text)
        ]
    others = [r for letter, r in by_letter.items() if letter != "a"]
    generated = [r for r in others if r is not by_letter["b"]]
    vs_a = [_interval(r, "diff_vs_a") for r in others]
    vs_b = [_interval(r, "diff_vs_b") for r in generated]
    maps = ", ".join(f"{r['condition']} {float(r['map50']):.2f}" for r in rows)
    text_a = f"{maps}; vs (a): " + ", ".join(f"{r['condition']} {_fmt(iv)}" for r, iv in zip(others, vs_a))
    text_b = "vs (b): " + ", ".join(f"{r['condition']} {_fmt(iv)}" for r, iv in zip(generated, vs_b))
    return [
        Claim(titles[0], claims_text[0], text_a + " points", *_judge(vs_a)),
        Claim(titles[1], claims_text[1], text_b + " points", *_judge(vs_b)),
    ]


def fid_claim(fid_path: str | Path, paired_path: str | Path | None = None) -> Claim:
    """Judged by KID (unbiased, with a spread); on demo data the paired truth's SSIM at the smallest and
    largest count is reported beside it as a second, paired measure of quality."""
    from cycleaug.figures.fig6 import curves, is_random, read_fid  # noqa: PLC0415

    title = "3. Image quality falls as GPUs increase (Fig. 6)"
    claim = (
        ", ".join(f"FID {v} at {g} GPUs" for g, v in sorted(paper.FID_AT_EPOCH.items())) + f" (epoch {paper.FID_EPOCH})"
    )
    rows = read_fid(fid_path)
    by_gpus = curves(rows)
    if len(by_gpus) < 2:
        return Claim(title, claim, "one GPU count only", NOT_TESTABLE, "needs two or more counts")
    lo, hi = by_gpus[min(by_gpus)][-1], by_gpus[max(by_gpus)][-1]
    measured = f"epoch {lo.epoch}: FID {lo.fid:.3g} at {lo.gpus} vs {hi.fid:.3g} at {hi.gpus}" + (
        " (random features)" if is_random(rows) else ""
    )
    if lo.kid is None or hi.kid is None:
        direction = hi.fid > lo.fid
        return Claim(title, claim, measured, INCONCLUSIVE, f"FID {'rises' if direction else 'falls'}, but without KID "
                     "there is no uncertainty to judge the difference by")  # fmt: skip
    diff = hi.kid - lo.kid
    spread = math.hypot(lo.kid_std or 0.0, hi.kid_std or 0.0)
    measured += f"; KID {lo.kid:.4f} +- {lo.kid_std:.4f} vs {hi.kid:.4f} +- {hi.kid_std:.4f}"
    if paired_path:
        from cycleaug.paired import by_gpus, read_paired  # noqa: PLC0415

        paired = by_gpus(read_paired(paired_path))
        if lo.gpus in paired and hi.gpus in paired:
            p_lo, p_hi = paired[lo.gpus][-1], paired[hi.gpus][-1]
            measured += (
                f"; paired truth: SSIM {p_lo['ssim']:.3f} [{p_lo['ssim_ci_low']:.3f}, {p_lo['ssim_ci_high']:.3f}] at "
                f"{lo.gpus} vs {p_hi['ssim']:.3f} [{p_hi['ssim_ci_low']:.3f}, {p_hi['ssim_ci_high']:.3f}] at {hi.gpus}"
            )
    if diff > 2 * spread:
        verdict, why = REPRODUCED, f"KID rises by {diff:.4f}, more than twice the combined spread ({spread:.4f})"
    elif diff < -2 * spread:
        verdict, why = NOT_REPRODUCED, f"KID falls by {-diff:.4f}, more than twice the combined spread ({spread:.4f})"
    else:
        verdict, why = (
            INCONCLUSIVE,
            f"the KID difference {diff:+.4f} is within twice the combined spread ({spread:.4f})",
        )
    return Claim(title, claim, measured, verdict, why)


def translation_check(paired_path: str | Path) -> Claim:
    from cycleaug.paired import by_gpus, read_paired  # noqa: PLC0415

    rows = read_paired(paired_path)
    curves = by_gpus(rows)
    parts, closer = [], 0
    for gpus, rs in curves.items():
        first, r = rs[0], rs[-1]
        iv = (r["l1_gain"], r["l1_gain_ci_low"], r["l1_gain_ci_high"])
        closer += _sign(iv) > 0
        trend = f"epoch {first['epoch']} -> {r['epoch']}: L1 {first['l1']:.3f} -> {r['l1']:.3f}"
        parts.append(f"{gpus}: {trend}, gain over input {_fmt(iv, 3)}, SSIM {r['ssim']:.3f}")
    title = "Demo check (no counterpart in the paper): the translation approaches the paired ground truth"
    claim = "(the paper has no paired truth)"
    measured = f"input L1 {rows[0]['l1_input']:.3f}, SSIM {rows[0]['ssim_input']:.3f}; per process count: " + "; ".join(
        parts
    )
    n = len(curves)
    if closer == n:
        verdict, why = REPRODUCED, "every count's last generator is closer to the truth than its input (95% interval)"
    elif closer:
        verdict, why = INCONCLUSIVE, f"{closer} of {n} counts' last generators are closer to the truth than their input"
    else:
        verdict, why = NOT_REPRODUCED, "no count's generator is closer to the truth than the untranslated input"
    return Claim(title, claim, measured, verdict, why)


def claims(logs, fid, table, paired=None) -> list[Claim]:
    out = [scaling_claim(logs), *detector_claims(table), fid_claim(fid, paired)]
    if paired:
        out.append(translation_check(paired))
    return out


def markdown(items: Sequence[Claim]) -> str:
    lines = ["# Does this run reproduce the paper?", ""]
    for c in items:
        lines += [
            f"## {c.title}: **{c.verdict}**",
            "",
            f"- Paper: {c.paper}",
            f"- This run: {c.this_run}",
            f"- Why: {c.why}" if c.why else "",
            "",
        ]
    return "\n".join(line for line in lines) + "\n"


def summary(items: Sequence[Claim]) -> str:
    """One line per claim for the report caption (reStructuredText bullets)."""
    return "\n".join(f"- {c.title}: **{c.verdict}**. {c.this_run}. {c.why}." for c in items)


def write_verdict(out: str | Path, items: Sequence[Claim]) -> None:
    write_text(out, markdown(items))
