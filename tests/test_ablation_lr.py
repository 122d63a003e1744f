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


def test_the_ablation_trains_each_distinct_run_once():
    """Demo (1 and 4 processes, reference 1, seeds 0-2): k = 1 at 1 process makes every rule the unscaled
    run; seed 0's unscaled runs are the main runs. Trained: linear and sqrt at 4 for every seed, and the
    unscaled runs of seeds 1 and 2. With the main config scaling linearly, seed 0's linear run at 4 is the
    main run and its unscaled one the ablation's."""
    config = config_of("profiles/demo/demo.yaml")
    runs = lr_ablation_runs(config)
    assert len(runs) == 3 * 2 * 3
    own = {(r.rule, r.gpus, r.seed): r.cyclegan for r in runs if r.own}
    scaled = {(rule, 4, s) for rule in ("linear", "sqrt") for s in (0, 1, 2)}
    assert set(own) == scaled | {("none", n, s) for n in (1, 4) for s in (1, 2)}
    assert own[("sqrt", 4, 1)] == {"lr_scaling": "sqrt", "lr_reference_gpus": 1, "warmup_epochs": 1}
    sources = {(r.rule, r.gpus, r.seed): r.source for r in runs}
    assert sources[("linear", 1, 2)] == "none" and sources[("none", 4, 0)] is None and sources[("sqrt", 1, 0)] is None
    config["cyclegan"].update(lr_scaling="linear", warmup_epochs=1)
    own = {(r.rule, r.gpus, r.seed) for r in lr_ablation_runs(config) if r.own}
    assert ("linear", 4, 0) not in own and ("none", 4, 0) in own
    # Another warm-up in the ablation than in the main run: the scaled main run is no longer the same run.
    config["ablation"]["lr_scaling"]["warmup_epochs"] = 2
    assert ("linear", 4, 0) in {(r.rule, r.gpus, r.seed) for r in lr_ablation_runs(config) if r.own}


def _dry_run(tmp_path, *configfiles: str, target: str = "ablation_lr") -> str:
    """The jobs of ``target`` in a fresh directory (nothing made yet), one per line of Snakemake's job stats."""
    args = workflow_command(tmp_path, target, "-n", "--quiet=rules", configfiles=[ROOT / f for f in configfiles])
    proc = run_snakemake(*args, check=False, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc.stdout + proc.stderr


def test_ablation_dag_builds_on_the_demo_and_at_paper_scale(tmp_path):
    demo = _dry_run(tmp_path, "profiles/demo/demo.yaml")
    trained = {line.split()[0] for line in demo.splitlines() if line.startswith("train_ablation_lr_")}
    assert trained == {f"train_ablation_lr_{r}_4gpu_seed{s}" for r in ("linear", "sqrt") for s in (0, 1, 2)} | {
        f"train_ablation_lr_none_{n}gpu_seed{s}" for n in (1, 4) for s in (1, 2)
    }
    assert "ablation_lr_paired" in demo  # demo data: the paired truth too
    # The paper's counts (reference 4), one seed: linear and sqrt at 64-512 GPUs, nothing twice; no paired truth.
    paper = _dry_run(tmp_path, "profiles/abci/abci.yaml")
    trained = sorted({line.split()[0] for line in paper.splitlines() if line.startswith("train_ablation_lr_")})
    assert trained == sorted(
        f"train_ablation_lr_{r}_{n}gpu_seed0" for r in ("linear", "sqrt") for n in (64, 128, 256, 512)
    )
    assert "ablation_lr_paired" not in paper
    # Not part of `all`.
    everything = _dry_run(tmp_path, "profiles/demo/demo.yaml", target="all")
    assert "train_cyclegan_4gpu" in everything and "ablation_lr" not in everything


FIELDS = ("gpus", "epoch", "fid", "n_real", "n_fake", "weights", "dims", "kid", "kid_std")


def write_fid(path, kids: dict[int, float], sd: float = 0.001) -> str:
    """A fid.csv of `cycleaug fid-table` with KID at the last of two epochs per GPU count."""
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(FIELDS)
        for n, kid in kids.items():
            w.writerow([n, 1, 99.0, 100, 100, "random-init", 64, 0.5, 0.1])  # an earlier epoch: not judged
            w.writerow([n, 3, 50.0, 100, 100, "random-init", 64, kid, sd])
    return str(path)


def tables(tmp_path, runs: dict[tuple[str, int], dict[int, float]]) -> dict:
    return ablation_lr.read({(r, s): write_fid(tmp_path / f"{r}{s}.csv", kids) for (r, s), kids in runs.items()})


def seeds3(none_1, none_4, linear_4, sqrt_4):
    """Three seeds' KID per rule: lists of three values each."""
    out = {}
    for s in range(3):
        out[("none", s)] = {1: none_1[s], 4: none_4[s]}
        out[("linear", s)] = {1: none_1[s], 4: linear_4[s]}
        out[("sqrt", s)] = {1: none_1[s], 4: sqrt_4[s]}
    return out


def test_interval_against_a_hand_computation():
    """Paired differences 1, 2, 3: mean 2, sd 1, se 1/sqrt(3); t(2) at 97.5 % is 4.302653 (tables)."""
    mean, low, high = ablation_lr.interval([1.0, 2.0, 3.0], [], 0.95)
    assert mean == 2 and high - mean == pytest.approx(4.302653 / 3**0.5, rel=1e-6) and low == pytest.approx(4 - high)
    # One seed: the normal interval of the two measures' image-level sds, 1.959964 x sqrt(0.3^2 + 0.4^2).
    mean, low, high = ablation_lr.interval([1.0], [0.3, 0.4], 0.95)
    assert (mean, high) == (1.0, pytest.approx(1 + 1.959964 * 0.5, rel=1e-6))


# Three seeds, KID x 1e-3, by hand (t(2) at 98.75 %: 6.205; at 97.5 %: 4.303):
# loss at 4 vs 1: differences 6, 6.5, 5.5 -> mean 6, se 0.289, 95 % [4.76, 7.24]: a loss.
CASES = {
    # linear gains 4, 4.5, 3.5 (mean 4, se 0.289, [2.21, 5.79]): yes.
    "yes": seeds3([4, 4, 4], [10, 10.5, 9.5], [6, 6, 6], [9.5, 10, 9]),
    # gains 0.5, -1, 1 ([-3.6, 3.9]) and -1, 0, -0.5 straddle 0; the gaps to 1 stay: 5.5, 7.5, 4.5
    # ([0.36, 11.3]) and 7, 6.5, 6: no.
    "no": seeds3([4, 4, 4], [10, 10.5, 9.5], [9.5, 11.5, 8.5], [11, 10.5, 10]),
    # loss differences 1, -1, 0.5: no loss to win back.
    "cannot tell (no loss)": seeds3([4, 4, 4], [5, 3, 4.5], [2, 2, 2], [2, 2, 2]),
    # linear's gains 3, -2, 2 straddle 0 ([-8.5, 10.5]), and so does its gap to 1 (3, 8.5, 3.5: [-5.9, 15.9]):
    # cannot tell.
    "cannot tell (within)": seeds3([4, 4, 4], [10, 10.5, 9.5], [7, 12.5, 7.5], [11, 10.5, 10]),
}


@pytest.mark.parametrize("case", CASES)
def test_verdict_on_constructed_tables(tmp_path, case):
    kid = tables(tmp_path, {run: {n: v * 1e-3 for n, v in by_n.items()} for run, by_n in CASES[case].items()})
    decision, line = ablation_lr.judge(kid)
    assert decision == case.split(" (")[0], line
    assert line.startswith("3 seed(s); KID loss without scaling, 4 vs 1: ")
    if case == "yes":
        assert "linear at 4: KID gain +0.0040 [" in line and "linear lowers KID at 4 (67% of the loss)" in line


def test_a_paired_measure_that_disagrees_keeps_the_verdict_open(tmp_path):
    """The "no" case in KID, while SSIM to the paired truth says linear is better at every seed: the
    measures disagree, so the verdict cannot be "no"; with one seed the intervals are image-level."""
    kid = tables(tmp_path, {run: {n: v * 1e-3 for n, v in by_n.items()} for run, by_n in CASES["no"].items()})
    ssim = {run: {n: ablation_lr.Value(0.30, 0.005) for n in (1, 4)} for run in kid}
    for s in range(3):
        ssim[("linear", s)][4] = ablation_lr.Value(0.35 + 0.002 * s, 0.005)
    decision, line = ablation_lr.judge(kid, ssim)
    assert decision == "cannot tell" and line.endswith("KID and SSIM disagree for linear")
    one = {run: v for run, v in kid.items() if run[1] == 0}
    decision, line = ablation_lr.judge(one, {run: v for run, v in ssim.items() if run[1] == 0})
    assert line.startswith("1 seed(s), seed variance not counted;")


def test_figure_and_verdict_through_the_command(tmp_path, capfd):
    args = ["ablation-lr", "--fid"]
    for (rule, seed), by_n in CASES["yes"].items():
        args.append(
            f"{rule}:{seed}={write_fid(tmp_path / f'{rule}{seed}.csv', {n: v * 1e-3 for n, v in by_n.items()})}"
        )
    args += ["--out", tmp_path / "fig" / "ablation_lr.png", "--verdict", tmp_path / "verdict.md"]
    proc = run_cli_here(capfd, *args)
    assert (tmp_path / "fig" / "ablation_lr.png").stat().st_size > 0 and (tmp_path / "fig" / "ablation_lr.pdf").exists()
    text = (tmp_path / "verdict.md").read_text()
    assert "lr scaling recovers quality at the largest count: **yes**" in text and text in proc.stderr
    # Bad input: one line naming the word, nothing written.
    bad = run_cli_here(capfd, "ablation-lr", "--fid", "cosine:0=x.csv", "--out", tmp_path / "b.png", "--verdict",
                       tmp_path / "b.md", check=False)  # fmt: skip
    assert bad.returncode != 0 and "--fid 'cosine:0=x.csv': expected RULE:SEED=PATH with RULE one of none" in bad.stderr
    assert not (tmp_path / "b.png").exists() and not (tmp_path / "b.md").exists()
    # Tables of different GPU counts, or a rule without every seed, cannot be compared.
    other = write_fid(tmp_path / "other.csv", {1: 0.004, 8: 0.006})
    mixed = run_cli_here(capfd, "ablation-lr", "--fid", f"none:0={tmp_path / 'none0.csv'}", f"linear:0={other}",
                         "--out", tmp_path / "m.png", "--verdict", tmp_path / "m.md", check=False)  # fmt: skip
    assert mixed.returncode != 0 and "GPU counts [1, 8], expected those of" in mixed.stderr
    short = run_cli_here(capfd, "ablation-lr", "--fid", f"none:0={tmp_path / 'none0.csv'}", f"none:1={tmp_path / 'none1.csv'}",
                         f"linear:0={tmp_path / 'linear0.csv'}", "--out", tmp_path / "s.png", "--verdict", tmp_path / "s.md",
                         check=False)  # fmt: skip
    assert short.returncode != 0 and "rule linear: seeds [0], expected [0, 1]" in short.stderr
