"""The learning-rate scaling ablation (`snakemake ablation_lr`, issue 26): which runs it trains, its DAG on
the demo and on the paper's configuration, and its verdict on constructed tables with known answers.
The schedule itself: tests/test_cyclegan_data.py (by hand) and tests/test_cyclegan_train.py (2 processes)."""

from __future__ import annotations

import csv

import pytest
import yaml
from conftest import ROOT, run_cli_here, run_snakemake, workflow_command
from cycleaug import ablation_lr
from cycleaug.glue.common import lr_ablation_runs
from snakemake.utils import update_config


def config_of(*files: str) -> dict:
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    for name in files:
        update_config(config, yaml.safe_load((ROOT / name).read_text()))
    return config


def test_the_ablation_trains_only_runs_that_are_not_main_runs():
    """Demo (1 and 4 processes, reference 1): k = 1 at 1 process for every rule, and none at 4 is the main
    run; only linear and sqrt at 4 are trained, with the demo's warm-up. With the main config scaling
    linearly, the linear runs are main runs and none at 4 is the ablation's own."""
    config = config_of("profiles/demo/demo.yaml")
    own = {(r.rule, r.gpus): r.cyclegan for r in lr_ablation_runs(config) if r.own}
    assert own == {
        ("linear", 4): {"lr_scaling": "linear", "lr_reference_gpus": 1, "warmup_epochs": 1},
        ("sqrt", 4): {"lr_scaling": "sqrt", "lr_reference_gpus": 1, "warmup_epochs": 1},
    }
    assert len(lr_ablation_runs(config)) == 6
    config["cyclegan"].update(lr_scaling="linear", warmup_epochs=1)
    assert {(r.rule, r.gpus) for r in lr_ablation_runs(config) if r.own} == {("none", 4), ("sqrt", 4)}
    # Another warm-up in the ablation than in the main run: the scaled main run is no longer the same run.
    config["ablation"]["lr_scaling"]["warmup_epochs"] = 2
    assert {(r.rule, r.gpus) for r in lr_ablation_runs(config) if r.own} == {("none", 4), ("sqrt", 4), ("linear", 4)}


def _dry_run(tmp_path, *configfiles: str, target: str = "ablation_lr") -> str:
    """The jobs of ``target`` in a fresh directory (nothing made yet), one per line of Snakemake's job stats."""
    args = workflow_command(tmp_path, target, "-n", "--quiet=rules", configfiles=[ROOT / f for f in configfiles])
    proc = run_snakemake(*args, check=False, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc.stdout + proc.stderr


def test_ablation_dag_builds_on_the_demo_and_at_paper_scale(tmp_path):
    demo = _dry_run(tmp_path, "profiles/demo/demo.yaml")
    for rule in ("train_ablation_lr_linear_4gpu", "train_ablation_lr_sqrt_4gpu", "ablation_lr_figure"):
        assert rule in demo
    assert "train_ablation_lr_none" not in demo and "train_ablation_lr_linear_1gpu" not in demo
    assert "ablation_lr_paired" in demo  # demo data: the paired truth too
    # The paper's counts (reference 4): linear and sqrt at 64-512 GPUs, nothing twice; no paired truth.
    paper = _dry_run(tmp_path, "profiles/abci/abci.yaml")
    trained = sorted({line.split()[0] for line in paper.splitlines() if line.startswith("train_ablation_lr_")})
    assert trained == sorted(f"train_ablation_lr_{r}_{n}gpu" for r in ("linear", "sqrt") for n in (64, 128, 256, 512))
    assert "ablation_lr_paired" not in paper
    # Not part of `all`.
    everything = _dry_run(tmp_path, "profiles/demo/demo.yaml", target="all")
    assert "train_cyclegan_4gpu" in everything and "ablation_lr" not in everything


FIELDS = ("gpus", "epoch", "fid", "n_real", "n_fake", "weights", "dims", "kid", "kid_std")


def write_fid(path, kids: dict[int, tuple[float, float]]) -> str:
    """A fid.csv of `cycleaug fid-table` with KID (mean, std) at the last of two epochs per GPU count."""
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(FIELDS)
        for n, (kid, std) in kids.items():
            w.writerow([n, 1, 99.0, 100, 100, "random-init", 64, 0.5, 0.1])  # an earlier epoch: not judged
            w.writerow([n, 3, 50.0, 100, 100, "random-init", 64, kid, std])
    return str(path)


# (none, linear, sqrt): {gpus: (KID, std)}; the verdict each must get, by hand with 2.24 combined spreads.
CASES = {
    # loss 0.006 (> 2.24 x 0.00141); linear 0.008 below none by 0.004 > 2.24 x 0.00141: yes, 67 % of it.
    "yes": ({1: (0.004, 0.001), 4: (0.010, 0.001)}, {4: (0.006, 0.001)}, {4: (0.0095, 0.001)}),
    # neither rule below none at 4 beyond the threshold, both still above 1's by 0.0055 and 0.007: no.
    "no": ({1: (0.004, 0.001), 4: (0.010, 0.001)}, {4: (0.0095, 0.001)}, {4: (0.011, 0.001)}),
    # no loss to recover: 0.0050 vs 0.0040 with spread 0.00141 -> 0.001 < 0.00317.
    "cannot tell (no loss)": ({1: (0.004, 0.001), 4: (0.005, 0.001)}, {4: (0.002, 0.0001)}, {4: (0.002, 0.0001)}),
    # a loss, but linear's gain 0.003 < 2.24 x 0.00141 and its gap to 1 (0.003) < 2.24 x 0.00141 too.
    "cannot tell (within)": ({1: (0.004, 0.001), 4: (0.010, 0.001)}, {4: (0.007, 0.001)}, {4: (0.0105, 0.001)}),
}


@pytest.mark.parametrize("case", CASES)
def test_verdict_on_constructed_tables(tmp_path, case):
    none, linear, sqrt = CASES[case]
    files = {
        "none": write_fid(tmp_path / "none.csv", none),
        "linear": write_fid(tmp_path / "linear.csv", {1: none[1], **linear}),
        "sqrt": write_fid(tmp_path / "sqrt.csv", {1: none[1], **sqrt}),
    }
    decision, line = ablation_lr.verdict(ablation_lr.read(files))
    assert decision == case.split(" (")[0], line
    if case == "yes":
        assert "linear lowers KID at 4 by 0.0040 (67% of the loss)" in line
    if case == "cannot tell (no loss)":
        assert "no loss beyond 2.24 x 0.0014 to recover at 4" in line


def test_figure_and_verdict_through_the_command(tmp_path, capfd):
    none, linear, sqrt = CASES["yes"]
    args = ["ablation-lr", "--fid"]
    args += [f"{rule}={write_fid(tmp_path / f'{rule}.csv', {1: none[1], **kids})}" for rule, kids in
             (("none", none), ("linear", linear), ("sqrt", sqrt))]  # fmt: skip
    args += ["--out", tmp_path / "fig" / "ablation_lr.png", "--verdict", tmp_path / "verdict.md"]
    proc = run_cli_here(capfd, *args)
    assert (tmp_path / "fig" / "ablation_lr.png").stat().st_size > 0 and (tmp_path / "fig" / "ablation_lr.pdf").exists()
    text = (tmp_path / "verdict.md").read_text()
    assert "lr scaling recovers quality at the largest count: **yes**" in text and text in proc.stderr
    # Bad input: one line naming the word, nothing written.
    bad = run_cli_here(capfd, "ablation-lr", "--fid", "cosine=x.csv", "--out", tmp_path / "b.png", "--verdict",
                       tmp_path / "b.md", check=False)  # fmt: skip
    assert (
        bad.returncode != 0
        and "--fid 'cosine=x.csv': expected RULE=PATH with RULE one of none, linear, sqrt" in bad.stderr
    )
    assert not (tmp_path / "b.png").exists() and not (tmp_path / "b.md").exists()
    # Tables of different GPU counts cannot be compared.
    other = write_fid(tmp_path / "other.csv", {1: none[1], 8: linear[4]})
    mixed = run_cli_here(capfd, "ablation-lr", "--fid", f"none={tmp_path / 'none.csv'}", f"linear={other}",
                         "--out", tmp_path / "m.png", "--verdict", tmp_path / "m.md", check=False)  # fmt: skip
    assert mixed.returncode != 0 and "GPU counts [1, 8], expected those of none: [1, 4]" in mixed.stderr
