"""Figures 4-6 and Table 2: each drawn from small hand-written inputs in the real formats.

The build_* functions return the matplotlib Figure, so the tests read the plotted series back and
compare them with values computed here independently; the CLI runs check that a PNG and a PDF appear
(and nothing half-written on errors); one Snakemake run redraws a single figure from existing data.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import numpy as np
import pytest
from conftest import BIN, run_cli, run_snakemake, workflow_command
from cycleaug.errors import CycleAugError
from cycleaug.figures import fig4, fig5, fig6, table2
from cycleaug.figures.style import check_font_sizes
from cycleaug.paired import COLUMNS as PAIRED_COLUMNS
from PIL import Image

# ---------------------------------------------------------------------------------------------
# Hand-written inputs


def write_train_log(path: Path, world_size: int, seconds: list, iterations: int = 10, **extra):
    """A train_log.jsonl as cycleaug.cyclegan.train writes it: one JSON object per epoch, or per part of an
    epoch interrupted at the walltime. An entry of ``seconds`` is one epoch's time, or a list of
    (seconds, iterations, complete) parts of one epoch."""
    path.parent.mkdir(parents=True, exist_ok=True)
    losses = {k: 0.5 for k in ("D_A", "G_A", "cycle_A", "idt_A", "D_B", "G_B", "cycle_B", "idt_B")}
    lines = []
    for epoch, entry in enumerate(seconds, 1):
        start = 0
        for s, its, complete in entry if isinstance(entry, list) else [(entry, iterations, True)]:
            lines.append(
                dict(
                    epoch=epoch,
                    seconds=s,
                    iterations=its,
                    images_per_s=its * world_size / s,
                    **losses,
                    lr=2e-4,
                    world_size=world_size,
                    backend="torch",
                    batch_size=1,
                    start_iteration=start,
                    complete=complete,
                    **extra,
                    save_seconds=0.1,
                )
            )
            start += its
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))


def write_csv(path: Path, header: list[str], rows: list[list]):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)


FID_HEADER = ["gpus", "epoch", "fid", "n_real", "n_fake", "weights"]


def fid_rows(gpus: list[int], epochs: list[int], n_real: int, n_fake: int, weights: str) -> list[list]:
    rows = [
        [g, e, round(300 - 0.3 * e + 7 * i + 0.01 * e * i, 3), n_real, n_fake, weights]
        for i, g in enumerate(gpus)
        for e in epochs
    ]
    return rows[::-1]  # out of order on purpose: the figure must sort by epoch


# Paper's Table 2 (FACTS.md), as the evaluation step writes table2.csv.
TABLE2 = [
    ["(a)", "BDD only", 3930, 2920, 6843, 0.57, 0.36, 0.45, 34.34, 4000],
    ["(b)", "(a) + raw CG", 4086, 2643, 6687, 0.61, 0.38, 0.47, 39.45, 3500],
    ["(c)", "(a) + generated, 4 GPUs", 4813, 4560, 5960, 0.51, 0.45, 0.48, 41.39, 5000],
    ["(d)", "(a) + generated, 64 GPUs", 4403, 2625, 6370, 0.63, 0.41, 0.49, 41.84, 4500],
    ["(e)", "(a) + generated, 128 GPUs", 4718, 3762, 6055, 0.56, 0.44, 0.49, 42.03, 5000],
    ["(f)", "(a) + generated, 256 GPUs", 3996, 1938, 6777, 0.67, 0.37, 0.48, 41.40, 4000],
    ["(g)", "(a) + generated, 512 GPUs", 4604, 3616, 6169, 0.56, 0.43, 0.48, 41.53, 4500],
]
TABLE2_HEADER = ["condition", "label", "TP", "FP", "FN", "precision", "recall", "f1", "map50", "best_iteration"]


def lines_by_label(fig) -> dict:
    return {line.get_label(): line for ax in fig.axes for line in ax.get_lines()}


def all_text(fig) -> str:
    from matplotlib.text import Text

    return "\n".join(t.get_text() for t in fig.findobj(Text))


def assert_png_pdf(png: Path):
    pdf = png.with_suffix(".pdf")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 1000
    assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 1000
    with Image.open(png) as im:
        assert min(im.size) > 100


def assert_cli_draws(png: Path, figure: str, *options):
    """`cycleaug figure FIGURE OPTIONS --out PNG` succeeds and writes the PNG and its PDF."""
    run_cli("figure", figure, *options, "--out", png)
    assert_png_pdf(png)


# ---------------------------------------------------------------------------------------------
# Fig. 4


def test_fig4_speedup_against_an_independent_computation(tmp_path):
    # 1 GPU finished 3 epochs; 2 GPUs 2 epochs and a third cut by the walltime (not counted);
    # 4 GPUs 3 epochs, the second interrupted and resumed (two parts, summed).
    write_train_log(tmp_path / "1gpu/train_log.jsonl", 1, [100.0, 98.0, 102.0])
    write_train_log(tmp_path / "2gpu/train_log.jsonl", 2, [60.0, 58.0, [(20.0, 3, False)]])
    write_train_log(tmp_path / "4gpu/train_log.jsonl", 4, [31.0, [(12.0, 4, False), (17.5, 6, True)], 30.0])
    logs = [tmp_path / f"{n}gpu/train_log.jsonl" for n in (4, 1, 2)]  # order does not matter
    base = np.mean([100.0, 98.0, 102.0])
    expected = {1: 1.0, 2: base / np.mean([60.0, 58.0]), 4: base / np.mean([31.0, 12.0 + 17.5, 30.0])}

    fig = fig4.build_fig4([fig4.read_log(p) for p in logs])
    lines = lines_by_label(fig)
    measured = lines["measured"]
    assert list(measured.get_xdata()) == [1, 2, 4]
    np.testing.assert_allclose(measured.get_ydata(), [expected[n] for n in (1, 2, 4)], rtol=1e-12)
    ideal = lines["ideal (linear)"]
    assert list(ideal.get_xdata()) == [1, 4] and list(ideal.get_ydata()) == [1, 4]
    # Parallel efficiency = speed-up / (n / 1), printed beside each point.
    text = all_text(fig)
    for n in (2, 4):
        assert f"{100 * expected[n] / n:.0f}%" in text
    assert "speed-up over 1 GPU" in fig.axes[0].get_ylabel()
    assert not any("paper" in label for label in lines)
    assert check_font_sizes(fig) == []

    summary = fig4.findings(logs)
    assert f"{expected[4]:.2f}x" in summary and f"{100 * expected[4] / 4:.0f}%" in summary
    assert "2 GPUs: 59.0 s per epoch (2 epochs" in summary

    assert_cli_draws(tmp_path / "figures/fig4_scaling.png", "fig4", "--logs", *logs)


def test_fig4_says_processes_for_cpu_runs(tmp_path):
    """The demo trains on CPU processes sharing a machine's cores: Fig. 4 must not call them GPUs."""
    for n, sec in ((1, 100.0), (2, 60.0), (4, 40.0)):
        write_train_log(tmp_path / f"{n}gpu/train_log.jsonl", n, [sec], device="cpu", cpu_cores=2)
    logs = [tmp_path / f"{n}gpu/train_log.jsonl" for n in (1, 2, 4)]
    fig = fig4.build_fig4([fig4.read_log(p) for p in logs])
    ax = fig.axes[0]
    assert ax.get_xlabel() == "training processes (one machine, 2 CPU cores; no GPUs)"
    assert ax.get_ylabel() == "speed-up over 1 process" and "GPU" not in ax.get_ylabel()
    summary = fig4.findings(logs)
    assert "4 processes: 40.0 s per epoch" in summary and "GPU" not in summary.replace("not GPUs", "")
    assert "CPU processes sharing 2 cores of one machine, not GPUs." in summary
    # A GPU run (or an older log without a device) keeps its GPUs.
    write_train_log(tmp_path / "g/4gpu/train_log.jsonl", 4, [40.0], device="cuda", cpu_cores=64)
    write_train_log(tmp_path / "g/1gpu/train_log.jsonl", 1, [100.0])
    fig = fig4.build_fig4([fig4.read_log(tmp_path / f"g/{n}gpu/train_log.jsonl") for n in (1, 4)])
    assert fig.axes[0].get_xlabel() == "GPUs (training processes)"


def test_fig4_paper_reference_and_scaling_model(tmp_path):
    per_epoch = {4: 1238.0, 64: 82.0, 128: 42.5, 256: 23.0, 512: 13.2}
    logs = []
    for n, s in per_epoch.items():
        write_train_log(tmp_path / f"{n}gpu/train_log.jsonl", n, [s, s])
        logs.append(tmp_path / f"{n}gpu/train_log.jsonl")
    model = tmp_path / "scaling_model.csv"
    write_csv(model, ["gpus", "predicted_speedup"], [[4, 1.0], [64, 15.0], [512, 100.0]])

    fig = fig4.build_fig4([fig4.read_log(p) for p in logs], fig4.read_model(model), paper_reference=True)
    lines = lines_by_label(fig)
    paper = next(line for label, line in lines.items() if label.startswith("paper"))
    assert list(paper.get_xdata()) == [512] and list(paper.get_ydata()) == [93.8]
    assert "128 nodes" in paper.get_label() and "68.77 h" in paper.get_label() and "0.73 h" in paper.get_label()
    assert list(lines["scaling model"].get_xdata()) == [4, 64, 512]
    assert list(lines["scaling model"].get_ydata()) == [1.0, 15.0, 100.0]
    np.testing.assert_allclose(lines["measured"].get_ydata(), [1238.0 / s for s in per_epoch.values()])
    assert fig.axes[0].get_xscale() == "log"


def test_fig4_rejects_a_log_that_contradicts_its_directory(tmp_path):
    write_train_log(tmp_path / "8gpu/train_log.jsonl", 4, [10.0])
    with pytest.raises(CycleAugError, match="world_size 4"):
        fig4.read_log(tmp_path / "8gpu/train_log.jsonl")
    write_train_log(tmp_path / "2gpu/train_log.jsonl", 2, [[(5.0, 3, False), (4.0, 3, False)]])
    with pytest.raises(CycleAugError, match="no complete epoch"):
        fig4.read_log(tmp_path / "2gpu/train_log.jsonl")


# ---------------------------------------------------------------------------------------------
# Fig. 5


def make_samples(root: Path, gpus: list[int], epochs: list[int], names: list[str]) -> tuple[Path, Path, dict]:
    rng = np.random.default_rng(0)
    images = {}
    inputs = root / "data/crops/synthia_heldout"
    inputs.mkdir(parents=True)
    for name in names:
        images["input", name] = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
        Image.fromarray(images["input", name]).save(inputs / name)
    samples = root / "results/samples"
    for g in gpus:
        for e in epochs:
            d = samples / f"{g}gpu/epoch{e}"
            d.mkdir(parents=True)
            for name in names:
                images[g, e, name] = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
                Image.fromarray(images[g, e, name]).save(d / name)
    return samples, inputs, images


def run_fig5(samples: Path, gpus: list[int], epochs: list[int], inputs: Path, out: Path, *options, check: bool = True):
    """`cycleaug figure fig5` on make_samples' folders (``options`` before --out)."""
    folders = ["--samples-root", samples, "--gpus", *gpus, "--epochs", *epochs, "--inputs-dir", inputs]
    return run_cli("figure", "fig5", *folders, *options, "--out", out, check=check)


def test_fig5_grid_shows_each_input_per_gpu_count_and_epoch(tmp_path):
    gpus, epochs, names = [1, 2, 4], [1, 3], ["s_0002.png", "s_0000.png", "s_0001.png"]
    samples, inputs, images = make_samples(tmp_path, gpus, epochs, names)

    chosen = fig5.choose_inputs(samples, gpus, epochs, inputs, n_inputs=2)
    assert chosen == ["s_0000.png", "s_0001.png"]  # the first two, sorted
    fig = fig5.build_fig5(samples, gpus, epochs, inputs, chosen)
    shown = [ax for ax in fig.axes if ax.get_images()]
    assert len(shown) == len(chosen) * (1 + len(gpus) * len(epochs))
    # Axes are created block by block: the input, then epochs (rows) x GPU counts (columns).
    expected = []
    for name in chosen:
        expected.append(images["input", name])
        expected += [images[g, e, name] for e in epochs for g in gpus]
    for ax, image in zip(shown, expected):
        np.testing.assert_array_equal(np.asarray(ax.get_images()[0].get_array()), image)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == ["input\ns_0000", "1 GPU", "2 GPUs", "4 GPUs", "s_0001"]
    row_labels = [ax.get_ylabel() for ax in fig.axes if ax.get_ylabel()]
    assert row_labels == ["epoch 1", "epoch 3"] * 2
    assert check_font_sizes(fig) == []

    out = tmp_path / "figures/fig5_samples.pdf"  # --out may name the PDF; both are written
    run_fig5(samples, gpus, epochs, inputs, out, "--n-inputs", 2)
    assert_png_pdf(out.with_suffix(".png"))


def test_fig5_paired_truth_column(tmp_path):
    """--truth-dir (demo): beside each input, the same window of its paired rendering, as the crop
    step's manifest records it."""
    gpus, epochs, names = [1, 2], [1], ["s_0000.png", "s_0001.png"]
    samples, inputs, _ = make_samples(tmp_path, gpus, epochs, names)
    truth_dir = tmp_path / "paired"
    truth_dir.mkdir()
    rng = np.random.default_rng(1)
    rows, windows = [], {}
    for i, name in enumerate(names):
        full = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
        Image.fromarray(full).save(truth_dir / f"src{i}.png")
        x0, y0 = 3 + i, 5
        windows[name] = full[y0 : y0 + 32, x0 : x0 + 32]
        rows.append([name, f"src{i}.png", x0, y0, x0 + 32, y0 + 32])
    write_csv(inputs / "manifest.csv", ["crop", "source", "crop_x0", "crop_y0", "crop_x1", "crop_y1"], rows)
    fig = fig5.build_fig5(samples, gpus, epochs, inputs, names, truth_dir=truth_dir)
    shown = [ax for ax in fig.axes if ax.get_images()]
    assert len(shown) == len(names) * (2 + len(gpus))
    for b, name in enumerate(names):
        truth_ax = shown[b * (2 + len(gpus)) + 1]
        np.testing.assert_array_equal(np.asarray(truth_ax.get_images()[0].get_array()), windows[name])
    assert [ax.get_title() for ax in fig.axes if ax.get_title()][:2] == ["input\ns_0000", "paired truth\n(demo)"]
    with pytest.raises(CycleAugError, match=r"no rows for \['s_0009.png'\]"):
        fig5.build_fig5(samples, gpus, epochs, inputs, ["s_0009.png"], truth_dir=truth_dir)


def test_fig5_missing_sample_fails_without_writing(tmp_path):
    samples, inputs, _ = make_samples(tmp_path, [1, 2], [1], ["a.png", "b.png"])
    (samples / "2gpu/epoch1/b.png").unlink()
    out = tmp_path / "figures/fig5_samples.png"
    proc = run_fig5(samples, [1, 2], [1], inputs, out, check=False)
    assert proc.returncode == 2
    assert "2gpu/epoch1: missing ['b.png']" in proc.stderr
    assert not out.parent.exists() or not list(out.parent.iterdir())


# ---------------------------------------------------------------------------------------------
# Fig. 6


def test_fig6_random_features_curves_and_small_set_warning(tmp_path):
    gpus, epochs = [1, 2, 4], [1, 2, 3]
    rows = fid_rows(gpus, epochs, n_real=60, n_fake=16, weights="random-init")
    path = tmp_path / "fid/fid.csv"
    write_csv(path, FID_HEADER, rows)

    fig = fig6.build_fig6(fig6.read_fid(path), paper_reference=True)
    lines = lines_by_label(fig)
    assert sorted(lines) == ["1 GPU", "2 GPUs", "4 GPUs"]  # no paper marks: random features are not comparable
    for g in gpus:
        mine = sorted((r[1], r[2]) for r in rows if r[0] == g)
        label = "1 GPU" if g == 1 else f"{g} GPUs"
        assert list(lines[label].get_xdata()) == [e for e, _ in mine]
        np.testing.assert_allclose(lines[label].get_ydata(), [f for _, f in mine])
    ylabel = fig.axes[0].get_ylabel()
    assert "random features" in ylabel and "not comparable to published FID" in ylabel.replace("\n", " ")
    text = all_text(fig)
    assert "n_real = 60" in text and "n_fake = 16" in text and "<= 2048 feature dimensions" in text
    assert check_font_sizes(fig) == []
    assert "not comparable" in fig6.findings(path)

    assert_cli_draws(tmp_path / "figures/fig6_fid.png", "fig6", "--fid", path)


def test_fig6_kid_panel_with_error_bars(tmp_path):
    rows = [r + [192, 0.01 * r[0] + 0.001 * r[1], 0.002] for r in fid_rows([1, 2], [1, 2], 300, 300, "random-init")]
    path = tmp_path / "fid.csv"
    write_csv(path, FID_HEADER + ["dims", "kid", "kid_std"], rows)
    fig = fig6.build_fig6(fig6.read_fid(path))
    assert len(fig.axes) == 2 and fig.axes[1].get_ylabel() == "KID (random features)"
    bars = {c.get_label(): c for c in fig.axes[1].containers}
    for g in (1, 2):
        label = "1 GPU" if g == 1 else f"{g} GPUs"
        data_line, _caps, (bar_lines,) = bars[label].lines
        np.testing.assert_allclose(np.asarray(data_line.get_ydata(), float), [0.01 * g + 0.001 * e for e in (1, 2)])
        # each error bar spans kid +- kid_std
        spans = [seg[1, 1] - seg[0, 1] for seg in bar_lines.get_segments()]
        np.testing.assert_allclose(spans, [0.004, 0.004])
    assert "KID 1 GPU: 0.0120 +- 0.0020 at epoch 2" in fig6.findings(path)
    assert check_font_sizes(fig) == []


def test_fig6_small_set_warning_follows_the_feature_dimensions(tmp_path):
    # The covariance of n vectors has rank <= n - 1: 100 images are enough for 64 dimensions,
    # not for 192 (as cycleaug fid-table writes the table, with its dims column).
    for dims, warned in ((64, False), (192, True)):
        path = tmp_path / f"fid{dims}.csv"
        write_csv(
            path,
            FID_HEADER + ["dims"],
            [r + [dims] for r in fid_rows([1, 2], [1, 2], n_real=100, n_fake=100, weights="random-init")],
        )
        rows = fig6.read_fid(path)
        assert {r.dims for r in rows} == {dims}
        text = all_text(fig6.build_fig6(rows))
        assert ("rank-deficient" in text) is warned, dims
        assert ("feature dimensions" in fig6.findings(path)) is warned


def test_fig6_real_features_with_paper_reference(tmp_path):
    gpus, epochs = [4, 64, 128, 256, 512], [1, 100, 200]
    path = tmp_path / "fid.csv"
    write_csv(path, FID_HEADER, fid_rows(gpus, epochs, n_real=4822, n_fake=3163, weights="real"))
    fig = fig6.build_fig6(fig6.read_fid(path), paper_reference=True)
    lines = lines_by_label(fig)
    assert fig.axes[0].get_ylabel() == "FID"
    assert "warning" not in all_text(fig)
    refs = {label: line for label, line in lines.items() if label.startswith("paper")}
    # Paper Fig. 6 at epoch 200 (FACTS.md): 4 GPUs 221.0, 256 GPUs 269.2, 512 GPUs 270.7.
    assert {(line.get_xdata()[0], line.get_ydata()[0]) for line in refs.values()} == {
        (200, 221.0),
        (200, 269.2),
        (200, 270.7),
    }
    # Each reference mark has its GPU count's colour.
    assert refs["paper, 256 GPUs: 269.2"].get_markeredgecolor() == lines["256 GPUs"].get_color()
    assert len([label for label in lines if not label.startswith("paper")]) == len(gpus)


def test_fig6_bad_table_is_an_error_naming_the_file(tmp_path):
    path = tmp_path / "fid.csv"
    write_csv(path, ["gpus", "epoch", "fid"], [[1, 1, 300.0]])
    out = tmp_path / "figures/fig6_fid.png"
    proc = run_cli("figure", "fig6", "--fid", path, "--out", out, check=False)
    assert proc.returncode == 2 and f"{path}: missing columns ['n_real', 'n_fake', 'weights']" in proc.stderr
    assert not out.exists() and not out.with_suffix(".pdf").exists()
    write_csv(path, FID_HEADER, [[1, 1, 300.0, 10, 10, "random-init"], [2, 1, 301.0, 10, 10, "real"]])
    with pytest.raises(CycleAugError, match="different feature weights"):
        fig6.read_fid(path)


# ---------------------------------------------------------------------------------------------
# Table 2


def test_table2_figure_cells(tmp_path):
    path = tmp_path / "tables/table2.csv"
    write_csv(path, TABLE2_HEADER + ["paper_map50"], [row + [row[8]] for row in TABLE2])
    columns, rows = table2.read_table2(path)
    assert columns == TABLE2_HEADER + ["paper_map50"]
    fig = table2.build_table2(columns, rows)
    (tab,) = fig.axes[0].tables
    cells = tab.get_celld()
    assert len({r for r, _ in cells}) == 1 + len(TABLE2)
    assert cells[0, columns.index("map50")].get_text().get_text() == "mAP@0.50\n(%)"
    assert cells[0, columns.index("paper_map50")].get_text().get_text().startswith("paper")
    for i, row in enumerate(TABLE2, 1):
        got = [cells[i, j].get_text().get_text() for j in range(len(columns))]
        assert got == [
            row[0],
            row[1],
            str(row[2]),
            str(row[3]),
            str(row[4]),
            f"{row[5]:.2f}",
            f"{row[6]:.2f}",
            f"{row[7]:.2f}",
            f"{row[8]:.2f}",
            str(row[9]),
            f"{row[8]:.2f}",
        ]
    best = 1 + max(range(len(TABLE2)), key=lambda i: TABLE2[i][8])  # (e) 42.03
    assert cells[best, columns.index("map50")].get_text().get_weight() == "bold"
    assert cells[1, columns.index("map50")].get_text().get_weight() == "normal"
    assert check_font_sizes(fig) == []
    assert "42.03% for (e)" in table2.findings(path)

    assert_cli_draws(tmp_path / "figures/table2.png", "table2", "--table", path)


# ---------------------------------------------------------------------------------------------
# The Snakemake rule redraws one figure from existing data, and the report shows this run's numbers


def test_fig6_rule_regenerates_alone_and_report_caption(tmp_path):
    # The paper-scale config.yaml with the demo's data source (the real one needs the downloads before
    # the workflow even loads) and the paper's marks switched on. Only fid.csv exists: --allowed-rules
    # keeps Snakemake from asking for the upstream stages that made it (their inputs are not here).
    path = tmp_path / "results/fid/fid.csv"
    write_csv(path, FID_HEADER, fid_rows([4, 64, 128, 256, 512], [1, 100, 200], 4822, 3163, "real"))
    # On demo data the figure also reads the paired-truth distances.
    paired = tmp_path / "results/fid/paired.csv"
    numbers = [0.1] * (len(PAIRED_COLUMNS) - 4)
    baseline = ["colour_transfer", "", "", 100] + numbers[:-6] + [""] * 6
    write_csv(paired, PAIRED_COLUMNS, [baseline, ["cyclegan", 4, 200, 100] + numbers])
    overrides = tmp_path / "overrides.yaml"
    overrides.write_text("data:\n  source: demo\nfigures:\n  paper_reference: true\n")
    env = {"PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    target = "results/figures/fig6_fid.pdf"  # relative to --directory, as a user types it
    common = workflow_command(tmp_path, target, "--cores", "1", "--allowed-rules", "fig6_fid", configfiles=(overrides,))
    pdf = tmp_path / target
    run_snakemake(*common, env=env)
    assert_png_pdf(pdf.with_suffix(".png"))
    first = pdf.stat().st_mtime_ns
    proc = run_snakemake(*common, "--forcerun", "fig6_fid", "--printshellcmds", env=env)
    assert "localrule fig6_fid" in proc.stderr and pdf.stat().st_mtime_ns > first
    assert (
        "cycleaug figure fig6 --fid results/fid/fid.csv --paired 'results/fid/paired.csv' --paper-reference"
        in proc.stderr
    )
    assert sorted(p.name for p in pdf.parent.iterdir()) == ["fig6_fid.pdf", "fig6_fid.png"]

    report = tmp_path / "results/report.html"
    run_snakemake(*common, "--report", report, env=env)
    html = report.read_text()
    # The caption carries the paper's numbers and this run's, read from fid.csv when the report was built.
    assert "269.2" in html and fig6.findings(path, paired) in html and "Paired ground truth (100 held-out crops" in html
    assert "colour-transfer baseline" in html and "colour transfer of the CG crops' CIELAB mean/std" in html


def test_fig6_paired_truth_panels(tmp_path):
    """With the demo's paired-truth table: L1 and SSIM panels whose bars span the bootstrap intervals,
    the untranslated input as a dashed line and the colour-transfer baseline as a dotted one, both in the
    legend, and the caption saying which side of each every count ends."""
    from cycleaug.paired import COLUMNS, read_paired

    rows = [r + [64, 0.01, 0.002] for r in fid_rows([1, 2], [1, 2], 300, 100, "random-init")]
    write_csv(tmp_path / "fid.csv", FID_HEADER + ["dims", "kid", "kid_std"], rows)
    base = dict.fromkeys(COLUMNS, "") | {"method": "colour_transfer", "n": 100, "l1_input": 0.16, "ssim_input": 0.4}
    base |= {"l1": 0.135, "l1_ci_low": 0.13, "l1_ci_high": 0.14, "ssim": 0.33, "ssim_ci_low": 0.32}
    base |= {"ssim_ci_high": 0.34} | {
        f"{k}{e}": 0.0 for k in ("l1_gain", "ssim_gain") for e in ("", "_ci_low", "_ci_high")
    }
    paired = [[base[c] for c in COLUMNS]]
    for g in (1, 2):
        for e in (1, 2):
            row = dict.fromkeys(COLUMNS, 0.0) | {"gpus": g, "epoch": e, "n": 100, "l1_input": 0.16, "ssim_input": 0.4}
            l1 = 0.2 - 0.03 * e - 0.01 * g
            row |= {"method": "cyclegan", "l1": l1, "l1_ci_low": l1 - 0.01, "l1_ci_high": l1 + 0.02, "ssim": 0.3}
            row |= {"ssim_ci_low": 0.29, "ssim_ci_high": 0.31, "l1_gain": 0.16 - l1, "l1_gain_ci_low": 0.16 - l1 - 0.02}
            row |= {"l1_gain_ci_high": 0.16 - l1 + 0.01, "ssim_gain": -0.1, "ssim_gain_ci_low": -0.11}
            row |= {"ssim_gain_ci_high": -0.09, "l1_vs_colour": 0.135 - l1, "l1_vs_colour_ci_low": 0.135 - l1 - 0.02}
            row |= {"l1_vs_colour_ci_high": 0.135 - l1 + 0.01, "ssim_vs_colour": -0.03}
            row |= {"ssim_vs_colour_ci_low": -0.04, "ssim_vs_colour_ci_high": 0.01}
            paired.append([row[c] for c in COLUMNS])
    write_csv(tmp_path / "paired.csv", COLUMNS, paired)
    fig = fig6.build_fig6(fig6.read_fid(tmp_path / "fid.csv"), paired=read_paired(tmp_path / "paired.csv"))
    assert len(fig.axes) == 4
    l1_ax, ssim_ax = fig.axes[2], fig.axes[3]
    assert l1_ax.get_ylabel() == "L1 to paired truth" and ssim_ax.get_ylabel() == "SSIM to paired truth"
    bars = {c.get_label(): c for c in l1_ax.containers}
    # The baseline row is no GPU count's curve.
    assert sorted(bars) == ["1 GPU", "2 GPUs"]
    data_line, _caps, (bar_lines,) = bars["2 GPUs"].lines
    np.testing.assert_allclose(np.asarray(data_line.get_ydata(), float), [0.15, 0.12])
    spans = [(seg[0, 1], seg[1, 1]) for seg in bar_lines.get_segments()]
    np.testing.assert_allclose(spans, [(0.14, 0.17), (0.11, 0.14)])
    for ax, input_value, colour_value in ((l1_ax, 0.16, 0.135), (ssim_ax, 0.4, 0.33)):
        lines = {line.get_label(): line for line in ax.get_lines()}
        dashed, dotted = lines[fig6.LABEL_INPUT], lines[fig6.LABEL_COLOUR]
        assert dashed.get_linestyle() == "--" and list(dashed.get_ydata()) == [input_value] * 2
        assert dotted.get_linestyle() == ":" and list(dotted.get_ydata()) == [colour_value] * 2
    legend = [t.get_text() for t in l1_ax.get_legend().get_texts()]
    assert legend == [fig6.LABEL_INPUT, fig6.LABEL_COLOUR]
    text = fig6.findings(tmp_path / "fid.csv", tmp_path / "paired.csv")
    # 1 GPU ends at L1 0.13: gain over the input [0.01, 0.04] (closer), over the colour transfer
    # [-0.015, 0.015] (indistinguishable); SSIM gain [-0.11, -0.09] (farther), vs colour [-0.04, 0.01].
    assert (
        "1 GPU: L1 0.130 [0.120, 0.150], SSIM 0.300 [0.290, 0.310] at epoch 2 (vs the input: L1 closer, SSIM "
        "farther; vs the colour transfer: L1 indistinguishable, SSIM indistinguishable)" in text
    )
    # 2 GPUs at L1 0.12: vs the colour transfer [-0.005, 0.025], still indistinguishable.
    assert "2 GPUs: L1 0.120 [0.110, 0.140], SSIM 0.300 [0.290, 0.310] at epoch 2 (vs the input: L1 closer" in text
    assert "untranslated input: L1 0.160, SSIM 0.400; colour transfer of the CG crops' CIELAB mean/std" in text
    assert "to the real crops': L1 0.135, SSIM 0.330)" in text
    assert check_font_sizes(fig) == []
