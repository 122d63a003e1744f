"""Fig. 6: FID between real BDD100K crops and translated SYNTHIA crops, per epoch, one curve per GPU count.

Input: ``R/fid/fid.csv`` with columns ``gpus, epoch, fid, n_real, n_fake, weights, dims`` and, when
present, ``kid, kid_std`` (written by ``cycleaug.fid.table``; a table without ``dims`` means 2048). With KID
the figure has a second panel: KID with its standard deviation over subsets as error bars (unbiased, so it
can be read at sizes where FID is biased). ``weights`` is "random-init" when the features come from a randomly initialised
Inception (the demo, which cannot download the FID weights): those values only rank the runs of the
same table and are labelled as such. With no more images in a set than feature dimensions (2,048 for
the paper's pool3 features) the feature covariance is rank-deficient (rank <= n - 1) and FID is biased
upward, so the figure says so.

With ``--paired`` (demo data: ``cycleaug paired-distance``'s table) two more panels show the L1 distance
and the SSIM of the translated crops to their paired ground truth with 95 % bootstrap intervals, the
untranslated crops' value as a dashed line and the colour-transfer baseline's (each CIELAB channel's mean
and std of the CG training crops mapped to the real crops', cycleaug.paired) as a dotted one: a translation
that learned something is below the dashed line in L1 and above it in SSIM, and one that learned more
than colour statistics is also below (L1) and above (SSIM) the dotted line.

    cycleaug figure fig6 --fid results/fid/fid.csv [--paired results/fid/paired.csv] \
        --out results/figures/fig6_fid.png
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cycleaug import paper
from cycleaug.csvtable import read_table
from cycleaug.errors import CycleAugError
from cycleaug.figures.style import REFERENCE_COLOR, gpu_label, new_figure, paper_mark, series_style, style

RANDOM_INIT = "random-init"
# FID's feature dimension (pool3 of Inception) for tables without a dims column; a set of no more
# images than feature dimensions gives a singular covariance (rank <= n - 1).
DEFAULT_DIMS = 2048
LABEL_REAL = "FID"
LABEL_RANDOM = "FID (random features, not comparable to published FID)"
# The same, broken for a 3-inch axis.
_AXIS_LABEL_RANDOM = "FID (random features,\nnot comparable to published FID)"
COLUMNS = ("gpus", "epoch", "fid", "n_real", "n_fake", "weights")


@dataclass(frozen=True)
class FIDRow:
    gpus: int
    epoch: int
    fid: float
    n_real: int
    n_fake: int
    weights: str
    dims: int = DEFAULT_DIMS
    kid: float | None = None
    kid_std: float | None = None


def _fid_row(r: dict) -> FIDRow:
    return FIDRow(
        int(r["gpus"]),
        int(r["epoch"]),
        float(r["fid"]),
        int(r["n_real"]),
        int(r["n_fake"]),
        r["weights"].strip(),
        int(r.get("dims") or DEFAULT_DIMS),
        float(r["kid"]) if (r.get("kid") or "").strip() else None,
        float(r["kid_std"]) if (r.get("kid_std") or "").strip() else None,
    )


def read_fid(path: str | Path) -> list[FIDRow]:
    path = Path(path)
    rows = read_table(
        path,
        COLUMNS,
        _fid_row,
        "FID table",
        "integer gpus, epoch, n_real, n_fake, dims and a numeric fid; the output of the FID step",
    )
    kinds = {r.weights for r in rows}
    if len(kinds) > 1:
        raise CycleAugError(
            f"{path}: rows computed with different feature weights {sorted(kinds)}; "
            "FID values from different networks cannot share one axis"
        )
    seen = set()
    for r in rows:
        if (r.gpus, r.epoch) in seen:
            raise CycleAugError(f"{path}: two rows for {gpu_label(r.gpus)}, epoch {r.epoch}")
        seen.add((r.gpus, r.epoch))
    return rows


def curves(rows: list[FIDRow]) -> dict[int, list[FIDRow]]:
    """GPU count -> its rows in epoch order."""
    out: dict[int, list[FIDRow]] = {}
    for r in sorted(rows, key=lambda r: (r.gpus, r.epoch)):
        out.setdefault(r.gpus, []).append(r)
    return out


def is_random(rows: list[FIDRow]) -> bool:
    return rows[0].weights == RANDOM_INIT


def small_sets(rows: list[FIDRow]) -> tuple[int, int, int] | None:
    """(smallest n_real, smallest n_fake, dims) when a set has no more images than feature dimensions."""
    n_real, n_fake, dims = min(r.n_real for r in rows), min(r.n_fake for r in rows), max(r.dims for r in rows)
    return (n_real, n_fake, dims) if min(n_real, n_fake) <= dims else None


def build_fig6(rows: list[FIDRow], paper_reference: bool = False, paired: list[dict] | None = None):
    """FID vs epoch per GPU count; a warning for small sets; at paper scale (and only with the real FID
    weights, whose values are comparable) the paper's epoch-200 FIDs as hollow stars of the same colour;
    KID and the paired-truth distances (``paired``: cycleaug.paired.read_paired rows) when given."""
    from matplotlib.ticker import MaxNLocator

    by_gpus = curves(rows)
    random = is_random(rows)
    has_kid = all(r.kid is not None for r in rows)
    n_panels = 1 + has_kid + 2 * bool(paired)
    with style():
        fig = new_figure(5.0 if n_panels < 3 else 9.4, 3.4 if n_panels == 1 else 6.2)
        grid = (1, 1) if n_panels == 1 else (2, 1) if n_panels == 2 else (2, 2)
        ax = fig.add_subplot(*grid, 1)
        styles = {}
        for i, (gpus, rs) in enumerate(by_gpus.items()):
            styles[gpus] = series_style(i)
            ax.plot([r.epoch for r in rs], [r.fid for r in rs], label=gpu_label(gpus), **styles[gpus])
        if paper_reference and not random:
            for gpus, value in sorted(paper.FID_AT_EPOCH.items()):
                color = styles.get(gpus, {}).get("color", REFERENCE_COLOR)
                paper_mark(ax, paper.FID_EPOCH, value, f"paper, {gpu_label(gpus)}: {value:g}", color, size=11)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(_AXIS_LABEL_RANDOM if random else LABEL_REAL)
        ax.set_title("Translated SYNTHIA vs real BDD100K crops")
        small = small_sets(rows)
        if small:
            # A footer below the axes (the constrained layout makes room), never over the curves.
            fig.supxlabel(
                f"warning: n_real = {small[0]}, n_fake = {small[1]} <= {small[2]} feature dimensions: "
                "the covariance\nis rank-deficient, so FID is biased upward; compare only "
                "sets of equal size",
                fontsize=9,
                color=series_style(1)["color"],
                x=0.02,
                horizontalalignment="left",
            )
        if grid[1] == 1:
            ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
        else:  # a 2 x 2 grid has no room beside the panels
            ax.legend(loc="best", fontsize=9)
        if has_kid:
            kx = fig.add_subplot(*grid, 2, sharex=ax)
            for gpus, rs in by_gpus.items():
                kx.errorbar(
                    [r.epoch for r in rs],
                    [r.kid for r in rs],
                    yerr=[r.kid_std or 0.0 for r in rs],
                    capsize=3,
                    label=gpu_label(gpus),
                    **styles[gpus],
                )
            kx.axhline(0.0, color="0.6", linewidth=0.8)
            kx.set_xlabel("epoch")
            kx.set_ylabel("KID (random features)" if random else "KID")
            kx.set_title("KID (unbiased; bars: std over subsets)")
        if paired:
            _paired_panels(fig, grid, 2 + has_kid, paired, styles, ax)
    return fig


LABEL_INPUT = "untranslated input"
LABEL_COLOUR = "colour transfer (CIELAB mean/std)"


def _paired_panels(fig, grid, first: int, paired: list[dict], styles: dict, share) -> None:
    """L1 and SSIM to the paired ground truth per epoch and GPU count, with the input's value dashed and
    the colour-transfer baseline's dotted."""
    from cycleaug.paired import by_gpus, colour_baseline  # noqa: PLC0415

    baseline = colour_baseline(paired)

    for k, (key, label, better) in enumerate(
        (("l1", "L1 to paired truth", "lower"), ("ssim", "SSIM to paired truth", "higher"))
    ):
        px = fig.add_subplot(*grid, first + k, sharex=share)
        for i, (gpus, rs) in enumerate(by_gpus(paired).items()):
            y = [r[key] for r in rs]
            px.errorbar(
                [r["epoch"] for r in rs],
                y,
                yerr=[
                    [v - r[f"{key}_ci_low"] for v, r in zip(y, rs)],
                    [r[f"{key}_ci_high"] - v for v, r in zip(y, rs)],
                ],
                capsize=3,
                label=gpu_label(gpus),
                **styles.get(gpus, series_style(i)),
            )
        lines = [
            px.axhline(baseline[f"{key}_input"], color="0.4", linestyle="--", linewidth=1.0, label=LABEL_INPUT),
            px.axhline(baseline[key], color="0.2", linestyle=":", linewidth=1.4, label=LABEL_COLOUR),
        ]
        px.set_xlabel("epoch")
        px.set_ylabel(label)
        px.set_title(f"{label} ({better} is better; n = {baseline['n']} crops, 95% CI)", fontsize=9)
        if k == 0:
            px.legend(handles=lines, loc="best", fontsize=9)


def _side(row: dict, key: str) -> str:
    """Which side of a baseline a paired difference (``key``: positive = closer to the truth) lies on."""
    return "closer" if row[f"{key}_ci_low"] > 0 else "farther" if row[f"{key}_ci_high"] < 0 else "indistinguishable"


def paired_findings(paired: list[dict]) -> str:
    """The paired-truth check in words: per GPU count, the last epoch's L1 and SSIM against the input's and
    the colour transfer's (closer to the truth, farther or indistinguishable: by where the 95% interval of
    the paired per-crop difference lies)."""
    from cycleaug.paired import by_gpus, colour_baseline  # noqa: PLC0415

    parts = []
    for gpus, rs in by_gpus(paired).items():
        r = rs[-1]
        sides = "; ".join(
            f"vs the {name}: L1 {_side(r, f'l1_{suffix}')}, SSIM {_side(r, f'ssim_{suffix}')}"
            for name, suffix in (("input", "gain"), ("colour transfer", "vs_colour"))
        )
        parts.append(
            f"{gpu_label(gpus)}: L1 {r['l1']:.3f} [{r['l1_ci_low']:.3f}, {r['l1_ci_high']:.3f}], SSIM {r['ssim']:.3f} "
            f"[{r['ssim_ci_low']:.3f}, {r['ssim_ci_high']:.3f}] at epoch {r['epoch']} ({sides})"
        )
    base = colour_baseline(paired)
    return (
        f" Paired ground truth ({base['n']} held-out crops; untranslated input: L1 {base['l1_input']:.3f}, "
        f"SSIM {base['ssim_input']:.3f}; colour transfer of the CG crops' CIELAB mean/std to the real crops': "
        f"L1 {base['l1']:.3f}, SSIM {base['ssim']:.3f}): " + "; ".join(parts) + "."
    )


def findings(path: str | Path, paired_path: str | Path | None = None) -> str:
    """One sentence on this run's FID (and paired-truth distances) for the report caption."""
    rows = read_fid(path)
    parts = []
    for gpus, rs in curves(rows).items():
        best = min(rs, key=lambda r: r.fid)
        parts.append(
            f"{gpu_label(gpus)}: {rs[-1].fid:.1f} at epoch {rs[-1].epoch} (lowest {best.fid:.1f} at epoch {best.epoch})"
        )
    text = "FID " + "; ".join(parts) + "."
    if all(r.kid is not None for r in rows):
        kid = [
            f"{gpu_label(g)}: {rs[-1].kid:.4f} +- {rs[-1].kid_std:.4f} at epoch {rs[-1].epoch}"
            for g, rs in curves(rows).items()
        ]
        text += " KID " + "; ".join(kid) + "."
    if is_random(rows):
        text += " Random-feature FID: it ranks this run's models but is not comparable to published FID."
    small = small_sets(rows)
    if small:
        text += (
            f" Sets of {small[0]} real and {small[1]} translated images (<= {small[2]} feature dimensions) make the "
            "covariance rank-deficient, so the values are biased upward."
        )
    if paired_path:
        from cycleaug.paired import read_paired  # noqa: PLC0415

        text += paired_findings(read_paired(paired_path))
    return text
