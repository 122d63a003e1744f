"""Table 2 as a figure: the person detector on BDD100K per training condition (a)-(g).

Input: ``R/tables/table2.csv`` with columns ``condition, label, TP, FP, FN, precision, recall, f1,
map50`` (mAP@0.50 in percent, as darknet's ``detector map`` prints it) and optionally
``best_iteration`` and the paper's values in columns named ``paper_<column>`` (e.g. ``paper_map50``).

    cycleaug figure table2 --table results/tables/table2.csv --out results/figures/table2.png
"""

from __future__ import annotations

import csv
from pathlib import Path

from cycleaug.errors import CycleAugError
from cycleaug.figures.style import PALETTE, new_figure, style

REQUIRED = ("condition", "label", "TP", "FP", "FN", "precision", "recall", "f1", "map50")
HEADERS = {
    "condition": "",
    "label": "training set",
    "TP": "TP",
    "FP": "FP",
    "FN": "FN",
    "precision": "Precision",
    "recall": "Recall",
    "f1": "F1",
    "map50": "mAP@0.50\n(%)",
    "best_iteration": "best\niteration",
    "last_map50": "last\nmAP (%)",
    "heldout_map50": "held-out\nmAP (%)",
    "map50_ci": "mAP\n95% CI",
    "diff_vs_a": "vs (a)\n[95% CI]",
    "diff_vs_b": "vs (b)\n[95% CI]",
    "map50_seeds": "mAP over seeds\nmean ± sd (runs)",
    "heldout_seeds": "held-out over seeds\nmean ± sd [95% CI]",
}
# Text cells built from the bootstrap and detector.seeds columns.
DERIVED = ("map50_ci", "diff_vs_a", "diff_vs_b", "map50_seeds", "heldout_seeds")
DIFFS = ("diff_vs_a", "diff_vs_b")
# Column widths in inches at 9 pt (the label column grows with its longest entry).
WIDTH_CONDITION, WIDTH_NUMBER, WIDTH_WIDE = 0.38, 0.62, 0.8
INTEGER = {"TP", "FP", "FN", "best_iteration"}
TWO_DECIMALS = {"precision", "recall", "f1", "map50", "last_map50", "heldout_map50"}


def read_table2(path: str | Path) -> tuple[list[str], list[dict[str, str]]]:
    """(columns shown, rows): the required columns, best_iteration if present, then paper_* columns."""
    path = Path(path)
    try:
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            fields = list(reader.fieldnames or [])
            rows = list(reader)
    except FileNotFoundError:
        raise CycleAugError(f"{path}: Table 2 not found; expected the output of the evaluation step") from None
    missing = [c for c in REQUIRED if c not in fields]
    if missing:
        raise CycleAugError(f"{path}: missing columns {missing}; expected {', '.join(REQUIRED)}")
    if not rows:
        raise CycleAugError(f"{path}: no rows")
    columns = [
        *REQUIRED,
        *(["best_iteration"] if "best_iteration" in fields else []),
        *(c for c in ("last_map50", "heldout_map50") if c in fields),
        *(["map50_ci"] if "map50_ci_low" in fields else []),
        *(d for d in DIFFS if d in fields),
        *(["map50_seeds"] if "map50_seed_mean" in fields else []),
        *(["heldout_seeds"] if "heldout_seed_mean" in fields else []),
        *(c for c in fields if c.startswith("paper_")),
    ]
    for lineno, row in enumerate(rows, 2):
        for c in ("map50_ci_low", "map50_ci_high", *(f"{d}{s}" for d in DIFFS for s in ("", "_ci_low", "_ci_high"))):
            if c in fields and (row.get(c) or "").strip():
                try:
                    float(row[c])
                except ValueError:
                    raise CycleAugError(f"{path}:{lineno}: {c} = {row[c]!r}; expected a number") from None
        if "map50_ci_low" in fields:
            lo, hi = (row.get("map50_ci_low") or "").strip(), (row.get("map50_ci_high") or "").strip()
            row["map50_ci"] = f"{float(lo):.2f}\u2013{float(hi):.2f}" if lo and hi else ""
        if "map50_seed_mean" in fields:
            try:
                mean, sd = (row.get("map50_seed_mean") or "").strip(), (row.get("map50_seed_sd") or "").strip()
                n = int(row.get("n_seeds") or 0)
                row["map50_seeds"] = (
                    "" if not mean else f"{float(mean):.2f} ± {float(sd):.2f} ({n})" if sd else f"{float(mean):.2f} (1)"
                )
            except (TypeError, ValueError):
                raise CycleAugError(f"{path}:{lineno}: bad map50_seed_mean/sd or n_seeds; expected numbers") from None
        if "heldout_seed_mean" in fields:
            row["heldout_seeds"] = _heldout_cell(path, lineno, row)
        for col in DIFFS:
            if col in fields:
                d = (row.get(col) or "").strip()
                row[col] = (
                    f"{float(d):+.2f} [{float(row[col + '_ci_low']):+.2f}, {float(row[col + '_ci_high']):+.2f}]"
                    if d
                    else ""
                )
        for c in columns:
            if c in ("condition", "label", *DERIVED) or (row.get(c) or "").strip() in ("",):
                continue
            try:
                float(row[c])
            except ValueError:
                raise CycleAugError(f"{path}:{lineno}: {c} = {row[c]!r}; expected a number") from None
    return columns, rows


def _heldout_cell(path, lineno: int, row: dict) -> str:
    """mean ± sd [low, high] of the held-out mAP over seeds (cycleaug.yolo.table2.HELDOUT columns)."""
    keys = ("heldout_seed_mean", "heldout_seed_sd", "heldout_ci_low", "heldout_ci_high")
    try:
        mean, sd, lo, hi = (float(v) if (v := (row.get(k) or "").strip()) else None for k in keys)
    except ValueError:
        raise CycleAugError(f"{path}:{lineno}: bad {', '.join(keys)}; expected numbers") from None
    if mean is None:
        return ""
    return f"{mean:.2f}" + ("" if sd is None else f" ± {sd:.2f}") + ("" if lo is None else f" [{lo:.2f}, {hi:.2f}]")


def format_cell(column: str, value: str | None) -> str:
    value = (value or "").strip()
    base = column.removeprefix("paper_")
    if value == "" or base in ("condition", "label", *DERIVED):
        return value if value else "\u2013"
    number = float(value)
    if base in INTEGER:
        return f"{number:.0f}"
    if base in TWO_DECIMALS:
        return f"{number:.2f}"
    return f"{number:g}"


def header(column: str) -> str:
    if column.startswith("paper_"):
        base = column.removeprefix("paper_")
        return "paper\n" + HEADERS.get(base, base).replace("\n", " ")
    return HEADERS.get(column, column)


def build_table2(columns: list[str], rows: list[dict[str, str]]):
    """A matplotlib table; the best mAP@0.50 of this run in bold."""
    cells = [[format_cell(c, r.get(c)) for c in columns] for r in rows]
    best = max(range(len(rows)), key=lambda i: float(rows[i]["map50"]))
    label_width = max(len(r["label"]) for r in rows)
    widths = [
        WIDTH_CONDITION
        if c == "condition"
        else max(0.75, 0.075 * label_width)
        if c == "label"
        else 1.0
        if c == "paper_map50"
        else 1.3
        if c == "map50_ci"
        else 1.95
        if c in DIFFS or c == "map50_seeds"
        else 2.4
        if c == "heldout_seeds"
        else 0.85
        if c in ("last_map50", "heldout_map50")
        else WIDTH_WIDE
        if c.removeprefix("paper_") in ("map50", "best_iteration", "precision")
        else WIDTH_NUMBER
        for c in columns
    ]
    header_lines = max(header(c).count("\n") + 1 for c in columns)
    with style():
        fig = new_figure(sum(widths) + 0.2, 0.28 * (len(rows) + header_lines) + 0.4)
        ax = fig.add_subplot()
        ax.set_axis_off()
        table = ax.table(
            cellText=cells,
            colLabels=[header(c) for c in columns],
            loc="center",
            cellLoc="right",
            colWidths=[w / sum(widths) for w in widths],
        )
        table.auto_set_font_size(False)
        table.set_fontsize(9)
        unit = 1 / (len(rows) + header_lines)  # row height as a fraction of the axes
        for (r, c), cell in table.get_celld().items():
            cell.set_linewidth(0.5)
            cell.set_height(unit)
            if r == 0:
                cell.set_text_props(weight="bold", horizontalalignment="center")
                cell.set_height(unit * header_lines)
                cell.set_facecolor("#e8e8e8")
            if columns[c] in ("condition", "label"):
                cell.get_text().set_horizontalalignment("left")
                cell.PAD = 0.03
            if r == best + 1 and columns[c] == "map50":
                cell.set_text_props(weight="bold", color=PALETTE[0])
        ax.set_title("Table 2: person detection on BDD100K (best mAP in bold)", fontsize=10)
    return fig


def findings(path: str | Path) -> str:
    """One sentence on this run's Table 2 for the report caption."""
    _, rows = read_table2(path)
    best = max(rows, key=lambda r: float(r["map50"]))
    # "mAP50", not "mAP@0.50": reStructuredText would turn the latter into an e-mail link.
    text = f"Best mAP50: {float(best['map50']):.2f}% for {best['condition']} {best['label']}."
    first = rows[0]
    if best is not first:
        text += (
            f" {first['condition']} {first['label']}: {float(first['map50']):.2f}% "
            f"({float(best['map50']) - float(first['map50']):+.2f} points)."
        )
    return text
