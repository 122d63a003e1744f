"""The shared look of every figure, and the writer that puts a PNG and a PDF in place together.

Readable in print: text at least 9 pt at the figure's printed size, a colour-blind-safe palette
(Okabe & Ito, "Color Universal Design", 2008) with a distinct marker per series so curves stay apart in
grey-scale, vector PDF (TrueType fonts embedded, type 42, so the text stays text) and a 150-dpi PNG.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from cycleaug.atomic import atomic_path
from cycleaug.errors import CycleAugError

# Okabe-Ito colours without yellow (too light on white paper) and black (kept for reference marks).
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9")
MARKERS = ("o", "s", "^", "D", "v", "P")
REFERENCE_COLOR = "black"
PNG_DPI = 150
MIN_FONT_PT = 9

RC = {
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "legend.fontsize": 9,
    "figure.titlesize": 10,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "lines.linewidth": 1.5,
    "lines.markersize": 5,
    "pdf.fonttype": 42,
    "ps.fonttype": 42,
    "savefig.bbox": "tight",
    "savefig.pad_inches": 0.05,
}


@contextlib.contextmanager
def style() -> Iterator[None]:
    """Apply the house style while a figure is built (rcParams are read when artists are created)."""
    import matplotlib

    with matplotlib.rc_context(RC):
        yield


def new_figure(width_in: float, height_in: float):
    """A pyplot-free Figure (no global state, nothing left open between tests or calls)."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width_in, height_in), layout="constrained")


def series_style(index: int) -> dict:
    """Colour and marker of the ``index``-th series; the same GPU count gets the same look in every figure."""
    return {"color": PALETTE[index % len(PALETTE)], "marker": MARKERS[index % len(MARKERS)]}


def paper_mark(ax, x: float, y: float, label: str, color: str = REFERENCE_COLOR, size: float = 12) -> None:
    """A value the paper publishes, as a hollow star: hollow, so a measured point at the same place stays
    visible."""
    ax.plot(
        [x],
        [y],
        linestyle="none",
        marker="*",
        markersize=size,
        markerfacecolor="none",
        markeredgecolor=color,
        markeredgewidth=1.2,
        label=label,
    )


def gpu_label(n: int) -> str:
    return f"{n} GPU" if n == 1 else f"{n} GPUs"


def output_pair(out: str | Path) -> tuple[Path, Path]:
    """``results/figures/x.png`` (or ``.pdf``) -> the PNG and PDF paths written together."""
    out = Path(out)
    if out.suffix.lower() not in (".png", ".pdf"):
        raise CycleAugError(f"--out {out}: expected a .png or .pdf path (both are written)")
    return out.with_suffix(".png"), out.with_suffix(".pdf")


def save_figure(fig, out: str | Path) -> tuple[Path, Path]:
    """Write ``fig`` as PNG (150 dpi) and vector PDF; neither appears under its final name unless both
    were drawn (the renames happen only after both files are complete)."""
    png, pdf = output_pair(out)
    with style(), atomic_path(png) as tmp_png, atomic_path(pdf) as tmp_pdf:
        fig.savefig(tmp_png, dpi=PNG_DPI, format="png")
        # A fixed creation date keeps the PDF byte-identical when the inputs are unchanged.
        fig.savefig(tmp_pdf, format="pdf", metadata={"CreationDate": None})
    return png, pdf


def check_font_sizes(fig, minimum: float = MIN_FONT_PT) -> list[str]:
    """Texts in ``fig`` smaller than ``minimum`` points (empty when the figure is readable in print)."""
    from matplotlib.text import Text

    small = []
    for text in fig.findobj(Text):
        if text.get_text().strip() and text.get_visible() and text.get_fontsize() < minimum:
            small.append(f"{text.get_text()!r} at {text.get_fontsize()} pt")
    return small
