"""Fig. 5: the same held-out SYNTHIA crops translated by the generator of each GPU count at chosen epochs.

Inputs: ``R/samples/{n}gpu/epoch{e}/<name>.png`` (the translation of ``<name>``) and the input crops
``D/crops/synthia_heldout/<name>.png``. As in the paper's Fig. 5, rows are epochs and columns GPU
counts; with several inputs the grid is repeated in one block per input, the input itself in a first
column spanning its block. On demo data (``--truth-dir``, the generator's paired BDD-style renderings) a
second column shows what a perfect translation of that crop looks like (cycleaug.paired).

    cycleaug figure fig5 --samples-root results/samples --gpus 4 128 512 --epochs 1 100 200 \\
        --inputs-dir data/crops/synthia_heldout --n-inputs 4 --out results/figures/fig5_samples.png
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from cycleaug.errors import CycleAugError
from cycleaug.figures.style import gpu_label, new_figure, style

IMAGE_SUFFIX = ".png"


def sample_dir(samples_root: str | Path, gpus: int, epoch: int) -> Path:
    return Path(samples_root) / f"{gpus}gpu" / f"epoch{epoch}"


def choose_inputs(
    samples_root: str | Path, gpus: Sequence[int], epochs: Sequence[int], inputs_dir: str | Path, n_inputs: int
) -> list[str]:
    """The first ``n_inputs`` file names (sorted) of the first sample directory; every one must exist in
    every sample directory and among the inputs, since the figure compares the same image throughout."""
    if not gpus or not epochs:
        raise CycleAugError("fig5: need at least one GPU count and one epoch")
    if n_inputs < 1:
        raise CycleAugError(f"fig5: --n-inputs {n_inputs}; expected at least 1")
    dirs = [sample_dir(samples_root, g, e) for g in gpus for e in epochs]
    for d in [*dirs, Path(inputs_dir)]:
        if not d.is_dir():
            raise CycleAugError(f"{d}: directory not found; expected translated samples or input crops (PNG)")
    names = sorted(p.name for p in dirs[0].iterdir() if p.suffix.lower() == IMAGE_SUFFIX)[:n_inputs]
    if not names:
        raise CycleAugError(f"{dirs[0]}: no {IMAGE_SUFFIX} images")
    for d in [*dirs, Path(inputs_dir)]:
        missing = [n for n in names if not (d / n).is_file()]
        if missing:
            raise CycleAugError(
                f"{d}: missing {missing}; expected the same file names in every sample directory and in the input crops"
            )
    return names


def _load(path: Path):
    import numpy as np
    from PIL import Image

    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    except OSError as exc:
        raise CycleAugError(f"{path}: cannot read image ({exc})") from None


def build_fig5(
    samples_root: str | Path,
    gpus: Sequence[int],
    epochs: Sequence[int],
    inputs_dir: str | Path,
    names: Sequence[str],
    cell_in: float = 1.0,
    truth_dir: str | Path | None = None,
):
    """One block per input: ``len(epochs)`` rows x (input [+ paired truth] + one column per GPU count)."""
    gpus, epochs = list(gpus), list(epochs)
    truths = None
    if truth_dir is not None:
        from cycleaug.paired import truth_crops  # noqa: PLC0415

        truths = {n: pair[1] for n, pair in truth_crops(truth_dir, inputs_dir, names).items()}
    first = 1 + (truths is not None)  # the first GPU column
    n_cols = first + len(gpus)
    # Rows: each input's epochs, then a thin spacer row that separates it from the next input.
    spacer = 0.12
    ratios = []
    for b in range(len(names)):
        ratios += [1.0] * len(epochs) + ([spacer] if b < len(names) - 1 else [])
    with style():
        fig = new_figure(cell_in * n_cols + 0.6, cell_in * sum(ratios) + 0.5)
        grid = fig.add_gridspec(len(ratios), n_cols, height_ratios=ratios)
        for b, name in enumerate(names):
            top = b * (len(epochs) + 1)
            ax = fig.add_subplot(grid[top : top + len(epochs), 0])
            ax.imshow(_load(Path(inputs_dir) / name))
            _bare(ax)
            ax.set_title(f"input\n{Path(name).stem}" if b == 0 else Path(name).stem, fontsize=9)
            if truths is not None:
                ax = fig.add_subplot(grid[top : top + len(epochs), 1])
                ax.imshow(truths[name])
                _bare(ax)
                ax.set_title("paired truth\n(demo)" if b == 0 else "truth", fontsize=9)
            for i, epoch in enumerate(epochs):
                for j, g in enumerate(gpus):
                    ax = fig.add_subplot(grid[top + i, first + j])
                    ax.imshow(_load(sample_dir(samples_root, g, epoch) / name))
                    _bare(ax)
                    if b == 0 and i == 0:
                        ax.set_title(gpu_label(g), fontsize=9)
                    if j == len(gpus) - 1:
                        ax.yaxis.set_label_position("right")
                        ax.set_ylabel(f"epoch {epoch}", fontsize=9)
        fig.suptitle("SYNTHIA \u2192 BDD100K translations per GPU count and epoch")
    return fig


def _bare(ax) -> None:
    """No ticks or frame, but keep the axis labels (row names) visible."""
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
    for spine in ax.spines.values():
        spine.set_visible(False)
