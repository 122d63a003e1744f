"""Table 2: darknet ``detector map`` figures of every condition's best checkpoint, optionally beside the paper's.

One row per condition, the columns of the paper's Table 2 (TP, FP, FN at confidence 0.25,
precision, recall, F1, mAP@0.50 in percent) plus the iteration of the best checkpoint. At paper
scale each figure is followed by the paper's (``cycleaug.paper.TABLE2``) and our difference; the
paper's row is matched by what the condition trains on (real only, raw CG, or the CycleGAN of n GPUs).
"""

from __future__ import annotations

import json
import math
import os
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from cycleaug.atomic import write_text
from cycleaug.errors import CycleAugError
from cycleaug.paper import table2_row
from cycleaug.yolo.conditions import Condition, parse_condition

# (metrics.json key, table2.csv column, title, decimals; None = integer). metrics.json holds mAP50 as a
# fraction (darknet's ap); the table gives it in percent, as darknet prints it and the paper reports it.
# The CSV columns are those `cycleaug figure table2` reads (cycleaug.figures.table2).
COLUMNS = [
    ("TP", "TP", "TP", None),
    ("FP", "FP", "FP", None),
    ("FN", "FN", "FN", None),
    ("precision", "precision", "Precision", 2),
    ("recall", "recall", "Recall", 2),
    ("F1", "f1", "F1", 2),
    ("mAP50", "map50", "mAP@0.50 [%]", 2),
]


# Selection bias, visible (metrics.json "last" and "heldout", percent): the last checkpoint's mAP on the
# val images and the best checkpoint's on the held-out split, beside the best-on-val number darknet reports.
SELECTION = [
    ("last_map50", "last mAP@0.50 [%]"),
    ("heldout_map50", "best ckpt on held-out [%]"),
]


@dataclass
class Row:
    condition: Condition
    values: dict  # column key -> number (mAP50 in percent) or None
    iteration: int
    paper: dict | None = None
    selection: dict | None = None  # SELECTION key -> percent or None
    bootstrap: dict | None = None  # cycleaug.yolo.bootstrap.bootstrap_table's row (fractions)
    seed_map50: list = field(default_factory=list)  # mAP50 (percent) of the repeats with other seeds
    heldout: dict | None = None  # held-out mAP50 over seeds (percent): mean, per_seed, ci (cycleaug.yolo.contrasts)


# The held-out split over every seed (what the verdict judges by): mean and sample sd over the seeds'
# best checkpoints, and the two-level bootstrap interval over seeds and images.
HELDOUT = ["heldout_seed_mean", "heldout_seed_sd", "heldout_ci_low", "heldout_ci_high"]


def _heldout_values(r: Row) -> list:
    h = r.heldout
    if not h:
        return [None] * len(HELDOUT)
    sd = statistics.stdev(h["per_seed"]) if len(h["per_seed"]) > 1 else None
    return [h["mean"], sd, *h["ci"]]


def _has_heldout(rows: list[Row]) -> bool:
    return any(r.heldout for r in rows)


def _heldout_cell(r: Row) -> str:
    mean, sd, lo, hi = _heldout_values(r)
    if mean is None:
        return "–"
    spread = "" if sd is None else f" ± {sd:.2f}"
    return f"{mean:.2f}{spread} [{lo:.2f}, {hi:.2f}]"


# Repeated seeds (detector.seeds): mAP@0.50 over the condition's runs, this row's included.
SEEDS = ["n_seeds", "map50_seed_mean", "map50_seed_sd", "map50_seed_min", "map50_seed_max"]


def _seed_values(r: Row) -> list:
    runs = [v for v in [r.values["mAP50"], *r.seed_map50] if v is not None]
    if not runs:
        return [0, None, None, None, None]
    sd = statistics.stdev(runs) if len(runs) > 1 else None  # the sample standard deviation (n - 1)
    return [len(runs), statistics.fmean(runs), sd, min(runs), max(runs)]


def _has_seeds(rows: list[Row]) -> bool:
    return any(r.seed_map50 for r in rows)


def _seed_cell(r: Row) -> str:
    n, mean, sd, lo, hi = _seed_values(r)
    if sd is None:
        return "–" if mean is None else f"{mean:.2f} (1 run)"
    return f"{mean:.2f} ± {sd:.2f} ({lo:.2f}–{hi:.2f}, {n} runs)"


def read_row(condition: str, path: str | os.PathLike) -> Row:
    cond = parse_condition(condition)
    try:
        m = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise CycleAugError(f"{path}: metrics file not found (condition {condition})") from None
    except json.JSONDecodeError as exc:
        raise CycleAugError(f"{path}: not valid JSON ({exc})") from None
    missing = [k for k, _, _, _ in COLUMNS if k not in m] + ([] if "iteration" in m else ["iteration"])
    if missing:
        raise CycleAugError(f"{path}: missing {', '.join(missing)}; expected the metrics.json of cycleaug train-yolo")
    values = {k: m[k] for k, _, _, _ in COLUMNS}
    values["mAP50"] = None if m["mAP50"] is None else 100.0 * m["mAP50"]

    def pct(section: str):
        v = (m.get(section) or {}).get("mAP50")
        return None if v is None else 100.0 * v

    selection = {"last_map50": pct("last"), "heldout_map50": pct("heldout")}
    return Row(cond, values, int(m["iteration"]), selection=selection)


# Bootstrap columns (percent points): the 95% interval of mAP@0.50 over resampled val images, and the
# paired differences to (a) BDD alone and to (b) raw CG (the paper's two comparisons: does CG help, and
# does translating it help more) with their intervals and the share of resamples above 0.
REFERENCE_LETTERS = ("a", "b")
BOOTSTRAP = ["map50_ci_low", "map50_ci_high"] + [
    f"{c}{letter}{suffix}"
    for letter in REFERENCE_LETTERS
    for c, suffix in (("diff_vs_", ""), ("diff_vs_", "_ci_low"), ("diff_vs_", "_ci_high"), ("p_better_than_", ""))
]


def _bootstrap_values(r: Row, rows: list[Row]) -> list:
    b = r.bootstrap or {}
    if not b:
        return [None] * len(BOOTSTRAP)
    out = [100 * b["ci"][0], 100 * b["ci"][1]]
    for letter in REFERENCE_LETTERS:
        ref = next((x.condition.name for x in rows if x.condition.letter == letter), None)
        vs = b.get("vs", {}).get(ref)
        out += (
            [None] * 4
            if vs is None
            else [100 * vs["diff"], 100 * vs["diff_ci"][0], 100 * vs["diff_ci"][1], vs["p_better"]]
        )
    return out


def _has_bootstrap(rows: list[Row]) -> bool:
    return any(r.bootstrap for r in rows)


def _bootstrap_cells(r: Row, rows: list[Row]) -> list[str]:
    lo, hi, *diffs = _bootstrap_values(r, rows)
    cells = ["–" if lo is None else f"{lo:.2f}–{hi:.2f}"]
    for i in range(len(REFERENCE_LETTERS)):
        d, dlo, dhi, _ = diffs[4 * i : 4 * i + 4]
        cells.append("–" if d is None else f"{d:+.2f} [{dlo:+.2f}, {dhi:+.2f}]")
    return cells


def _has_selection(rows: list[Row]) -> list[str]:
    """The selection columns any row has a value for."""
    return [k for k, _ in SELECTION if any((r.selection or {}).get(k) is not None for r in rows)]


def attach_paper(rows: list[Row]) -> None:
    for row in rows:
        ref = table2_row(row.condition.synthetic_source, row.condition.gpus)
        row.paper = None if ref is None else {k: getattr(ref, k) for k, _, _, _ in COLUMNS}


def _fmt(x, decimals, signed=False) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if decimals is None:
        return f"{int(round(x)):+d}" if signed else f"{int(round(x))}"
    return f"{x:+.{decimals}f}" if signed else f"{x:.{decimals}f}"


def _diff(ours, paper):
    if ours is None or paper is None:
        return None
    return ours - paper


def csv_rows(rows: list[Row], paper_scale: bool) -> tuple[list[str], list[list]]:
    extra = _has_selection(rows)
    boot = BOOTSTRAP if _has_bootstrap(rows) else []
    seeds = SEEDS if _has_seeds(rows) else []
    held = HELDOUT if _has_heldout(rows) else []
    header = ["condition", "label"] + [c for _, c, _, _ in COLUMNS] + ["best_iteration", "name"] + extra + boot + seeds
    header += held
    if paper_scale:
        header += [f"paper_{c}" for _, c, _, _ in COLUMNS] + [f"diff_{c}" for _, c, _, _ in COLUMNS]
    body = []
    for r in rows:
        line = [r.condition.tag, r.condition.label] + [r.values[k] for k, _, _, _ in COLUMNS]
        line += [r.iteration, r.condition.name] + [(r.selection or {}).get(k) for k in extra]
        line += _bootstrap_values(r, rows) if boot else []
        line += _seed_values(r) if seeds else []
        line += _heldout_values(r) if held else []
        if paper_scale:
            p = r.paper or {}
            line += [p.get(k) for k, _, _, _ in COLUMNS] + [_diff(r.values[k], p.get(k)) for k, _, _, _ in COLUMNS]
        body.append(line)
    return header, body


def _cells(r: Row, paper_scale: bool) -> list[str]:
    cells = []
    for k, _, _, dec in COLUMNS:
        ours = _fmt(r.values[k], dec)
        if paper_scale:
            p = (r.paper or {}).get(k)
            ours = f"{ours} ({_fmt(p, dec)}, {_fmt(_diff(r.values[k], p), dec, signed=True)})"
        cells.append(ours)
    return cells


def _titles(extra: list[str] = (), boot: bool = False, seeds: bool = False, held: bool = False) -> list[str]:
    titles = dict(SELECTION)
    boot_titles = ["mAP 95% CI"] + [f"vs ({x}) [95% CI]" for x in REFERENCE_LETTERS] if boot else []
    return (
        ["", "training set"]
        + [t for _, _, t, _ in COLUMNS]
        + ["best iteration"]
        + [titles[k] for k in extra]
        + boot_titles
        + (["mAP over seeds: mean ± sd (range, runs)"] if seeds else [])
        + (["held-out over seeds: mean ± sd [95% CI]"] if held else [])
    )


def _line(r: Row, rows: list[Row], paper_scale: bool, extra: list[str] = (), boot: bool = False) -> list[str]:
    sel = [_fmt((r.selection or {}).get(k), 2) for k in extra]
    cells = [r.condition.tag, r.condition.label] + _cells(r, paper_scale) + [str(r.iteration)] + sel
    cells += _bootstrap_cells(r, rows) if boot else []
    cells += [_seed_cell(r)] if _has_seeds(rows) else []
    return cells + ([_heldout_cell(r)] if _has_heldout(rows) else [])


BOOTSTRAP_NOTE = (
    "95% CI: percentile bootstrap over the validation images (1,000 resamples); vs (a), vs (b): the paired "
    "difference in mAP@0.50 points to BDD alone and to raw CG on the same resamples, with its 95% interval."
)


HELDOUT_NOTE = (
    "Held-out over seeds: each seed's best-on-val checkpoint scored on the held-out split, mean ± sample sd "
    "over the seeds, and the 95% two-level bootstrap interval over seeds and images (what the verdict uses)."
)


SELECTION_NOTE = (
    "The mAP@0.50 column is darknet's: the best of the evaluations during training, on the images it is "
    "scored on. Last: the last checkpoint on the same images; held-out: the best checkpoint on BDD100K "
    "images no evaluation chose from. Their gap to the best is what the choice adds."
)


def markdown(rows: list[Row], paper_scale: bool) -> str:
    extra, boot = _has_selection(rows), _has_bootstrap(rows)
    titles = _titles(extra, boot, _has_seeds(rows), _has_heldout(rows))
    lines = ["| " + " | ".join(titles) + " |", "|" + "---|" * len(titles)]
    for r in rows:
        lines.append("| " + " | ".join(_line(r, rows, paper_scale, extra, boot)) + " |")
    note = (
        "\nEach cell: ours (paper, ours - paper). Paper: Nishikawa et al., Table 2.\n"
        if paper_scale
        else "\nDarknet `detector map` figures at the best-mAP checkpoint (TP/FP/FN at confidence 0.25).\n"
    )
    if extra:
        note += SELECTION_NOTE + "\n"
    if boot:
        note += BOOTSTRAP_NOTE + "\n"
    if _has_heldout(rows):
        note += HELDOUT_NOTE + "\n"
    return "\n".join(lines) + "\n" + note


def _tex_escape(s: str) -> str:
    return s.replace("%", r"\%").replace("&", r"\&").replace("_", r"\_").replace("–", "--").replace("±", r"$\pm$")


def latex(rows: list[Row], paper_scale: bool) -> str:
    extra, boot = _has_selection(rows), _has_bootstrap(rows)
    titles = _titles(extra, boot, _has_seeds(rows), _has_heldout(rows))
    spec = "ll" + "r" * (len(titles) - 2)
    lines = [
        r"\begin{tabular}{" + spec + "}",
        r"\hline",
        " & ".join(_tex_escape(t) for t in titles) + r" \\",
        r"\hline",
    ]
    for r in rows:
        cells = _line(r, rows, paper_scale, extra, boot)
        lines.append(" & ".join(_tex_escape(c) for c in cells) + r" \\")
    lines += [r"\hline", r"\end{tabular}"]
    if paper_scale:
        lines.append("% each cell: ours (paper, ours - paper); paper: Nishikawa et al., Table 2")
    return "\n".join(lines) + "\n"


def write_table2(rows: list[Row], out_dir: str | os.PathLike, paper_scale: bool) -> list[Path]:
    import csv
    import io

    if paper_scale:
        attach_paper(rows)
    out_dir = Path(out_dir)
    header, body = csv_rows(rows, paper_scale)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for line in body:
        writer.writerow(["" if v is None else (f"{v:.6g}" if isinstance(v, float) else v) for v in line])
    paths = [out_dir / "table2.csv", out_dir / "table2.md", out_dir / "table2.tex"]
    write_text(paths[0], buf.getvalue())
    write_text(paths[1], markdown(rows, paper_scale))
    write_text(paths[2], latex(rows, paper_scale))
    return paths


def findings(rows: list[Row]) -> str:
    """One sentence for the report caption: the best condition, and how it compares with (a)."""
    scored = [r for r in rows if r.values["mAP50"] is not None]
    if not scored:
        return "no mAP50 yet."
    best = max(scored, key=lambda r: r.values["mAP50"])
    # "mAP50", not "mAP@0.50": reStructuredText would turn the latter into an e-mail link.
    text = f"Best mAP50: {best.values['mAP50']:.2f}% for {best.condition.title}."
    base = next((r for r in scored if r.condition.name == "a_bdd"), None)
    if base is not None and base is not best:
        text += f" {base.condition.title}: {base.values['mAP50']:.2f}%."
    return text


def findings_param(wildcards, input) -> str:
    """Rule param for the Table 2 caption (``{{ snakemake.params.findings }}``): from the metrics inputs,
    in condition order; says so instead of failing before they exist (dry run)."""
    try:
        rows = [read_row(Path(p).parent.name, p) for p in input.metrics]
        return findings(rows)
    except (CycleAugError, OSError) as exc:
        return f"(not available: {exc})"
