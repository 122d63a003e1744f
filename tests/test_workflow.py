"""The workflow itself: `snakemake --lint`, `snakefmt --check` and a dry run of the whole demo DAG."""

from __future__ import annotations

import re
import subprocess
import sys

from conftest import BIN, ROOT, run_snakemake
from test_generate import demo_config


def test_lint_is_clean():
    proc = subprocess.run(
        [sys.executable, ROOT / "tools/lint_workflow.py", "--profile", "profiles/demo"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert proc.returncode == 0 and "snakemake --lint: clean" in proc.stdout, proc.stdout + proc.stderr


def test_lint_filter_keeps_every_lint_but_the_software_one():
    sys.path.insert(0, str(ROOT / "tools"))
    from lint_workflow import remaining_lints

    output = (
        "Lints for rule a (line 1, x.smk):\n"
        "    * Specify a conda environment or container for each rule.:\n      This way, ...\n\n"
        "Lints for rule b (line 9, x.smk):\n"
        "    * Specify a conda environment or container for each rule.:\n      This way, ...\n"
        "    * No log directive defined:\n      Without a log directive, ...\n"
    )
    (left,) = remaining_lints(output)
    assert left.startswith("Lints for rule b") and "No log directive" in left and "conda" not in left


def test_snakefmt_check():
    files = [ROOT / "Snakefile", *sorted((ROOT / "workflow/rules").glob("*.smk"))]
    proc = subprocess.run([BIN / "snakefmt", "--check", *files], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_dry_run_of_the_whole_demo_dag(tmp_path):
    # In an empty working directory, so that outputs of an earlier `make demo` don't shrink the plan.
    counts = dry_run_rules(tmp_path)
    # Read from the demo's own config, not restated: one training run per process count, and per seed
    # of detector.seeds one detector per condition: (a), (b), one per count, and the paired-truth control.
    config = demo_config()
    gpus, seeds = config["cyclegan"]["gpu_counts"], config["detector"]["seeds"]
    assert {k for k in counts if k.startswith("train_cyclegan_")} == {f"train_cyclegan_{n}gpu" for n in gpus}
    detectors = {k for k in counts if k.startswith("train_yolo_")}
    letters = "abcdefghijklmnopqrstuvwxyz"
    expected = {"train_yolo_a_bdd", "train_yolo_b_bdd_cg", f"train_yolo_{letters[2 + len(gpus)]}_bdd_truth"}
    expected |= {f"train_yolo_{letters[2 + i]}_gen{n}gpu" for i, n in enumerate(sorted(gpus))}
    assert detectors == {e + ("" if s == seeds[0] else f"_seed{s}") for e in expected for s in seeds}
    assert len(seeds) >= 3  # issue 23: the demo counts the training's own variance
    # The aligned synthetic sets: raw CG, one per count, and the paired truth.
    assert counts.get("align_detector_set") == str(len(gpus) + 2)
    for rule in (
        "pretrain_detector",
        "demo_data",
        "crop_bdd100k",
        "crop_synthia",
        "fid",
        "table2",
        "fig4_scaling",
        "fig5_samples",
        "fig6_fid",
        "table2_figure",
        "paired_distance",
        "verdict",
    ):
        assert counts.get(rule) == "1", (rule, counts)
    assert counts["samples"] == str(len(gpus))  # one job per GPU count for all its saved epochs
    # The scaling model's speed-ups are over one 4-GPU node: not drawn against the demo's 1 process.
    assert "scaling_model" not in counts


def dry_run_rules(tmp_path, *configfiles) -> dict[str, str]:
    proc = run_snakemake(
        "-s",
        ROOT / "Snakefile",
        "--directory",
        tmp_path,
        "-n",
        "--quiet",
        "rules",
        "--configfiles",
        ROOT / "config.yaml",
        ROOT / "profiles/demo/demo.yaml",
        *configfiles,
    )
    return dict(re.findall(r"^(\w+)\s+(\d+)$", proc.stdout, flags=re.M))


def test_fig4_gets_the_scaling_model_when_the_smallest_run_has_four_gpus(tmp_path):
    extra = tmp_path / "four.yaml"
    extra.write_text("cyclegan:\n  gpu_counts: [4, 8]\n")
    counts = dry_run_rules(tmp_path, extra)
    assert counts.get("scaling_model") == "1" and counts.get("fig4_scaling") == "1"
    assert {k for k in counts if k.startswith("train_cyclegan_")} == {"train_cyclegan_4gpu", "train_cyclegan_8gpu"}


def test_detector_seeds_repeat_every_condition(tmp_path):
    """detector.seeds: [3, 5]: each condition trains twice, the second run into {condition}/seed5/, and
    Table 2 reads both (the second through --seed-metrics)."""
    extra = tmp_path / "seeds.yaml"
    extra.write_text("detector:\n  seeds: [3, 5]\n")
    counts = dry_run_rules(tmp_path, extra)
    names = {k for k in counts if k.startswith("train_yolo_")}
    n_conditions = len(demo_config()["cyclegan"]["gpu_counts"]) + 3
    assert len(names) == 2 * n_conditions and "train_yolo_a_bdd" in names and "train_yolo_a_bdd_seed5" in names
    proc = run_snakemake(
        "-s", ROOT / "Snakefile", "--directory", tmp_path, "-n", "-p", "table2", "train_yolo_a_bdd_seed5",
        "--configfiles", ROOT / "config.yaml", ROOT / "profiles/demo/demo.yaml", extra,
    )  # fmt: skip
    assert "--seed-metrics a_bdd=results/detector/a_bdd/seed5/metrics.json" in proc.stdout
    # Both seeds' held-out detections, in seed order, enter the two-level bootstrap of contrasts.csv.
    assert re.search(
        r"--heldout-predictions a_bdd=results/detector/a_bdd/heldout_predictions.json "
        r"--heldout-predictions a_bdd=results/detector/a_bdd/seed5/heldout_predictions.json",
        proc.stdout,
    )
    assert re.search(
        r"train-yolo .*--out \"\$\(dirname results/detector/a_bdd/seed5/metrics.json\)\".*--seed 5", proc.stdout
    )


def test_paired_truth_only_on_demo_data(tmp_path):
    """Real SYNTHIA has no paired rendering: the paired-distance step exists only for data.source demo,
    while the verdict is part of every run."""
    from cycleaug.glue import common

    demo = {"data": {"source": "demo"}, "results_dir": "r", "data_dir": "d"}
    real = {**demo, "data": {"source": "real"}}
    assert common.paired_outputs(demo) == ["r/fid/paired.csv"] and common.paired_outputs(real) == []
    assert "r/verdict.md" in common.figure_targets(real)
