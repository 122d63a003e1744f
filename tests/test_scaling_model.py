"""The scaling model of Fig. 4 (cycleaug.scaling_model): its formula by hand, its calibration against
the paper's two published timings, and the `cycleaug scaling-model` command the workflow runs."""

from __future__ import annotations

import csv
import math

import pytest
from conftest import ROOT, run_cli
from cycleaug import scaling_model as sm
from test_figures import lines_by_label, write_train_log


def test_gradient_bytes_are_the_four_reference_networks():
    # The reference CycleGAN prints 11.378 M parameters per ResNet-9 generator and 2.765 M per
    # 70x70 PatchGAN discriminator (tests/test_cyclegan_networks.py checks the exact counts).
    params, nbytes = sm.gradient_bytes()
    assert params == 2 * 11_378_179 + 2 * 2_764_737
    assert nbytes == 4 * params


def test_ring_time_by_hand():
    hw = sm.Hardware("toy", gpus_per_node=4, inter_node_Bps=1e9, intra_node_Bps=4e9, alpha_s=1e-3)
    assert sm.ring_time(1, 1e9, hw) == 0.0
    # Inside a node: 2 x 3 steps of latency, 2 x 3/4 of the bytes over the intra-node link.
    assert sm.ring_time(4, 1e9, hw) == pytest.approx(6e-3 + 1.5 * 1e9 / 4e9)
    # Across nodes: the slower link carries 2 x 7/8 of the bytes.
    assert sm.ring_time(8, 1e9, hw) == pytest.approx(14e-3 + 1.75 * 1e9 / 1e9)


def test_calibration_reproduces_both_published_timings_and_the_speedup():
    _, nbytes = sm.gradient_bytes()
    t_c, epoch_cost = sm.calibrate(nbytes, sm.ABCI)
    assert sm.t_paper(4, t_c, epoch_cost, nbytes, sm.ABCI) == pytest.approx(sm.PAPER_T4)
    assert sm.t_paper(512, t_c, epoch_cost, nbytes, sm.ABCI) == pytest.approx(sm.PAPER_T512)
    # Physically plausible fit: compute below the 4-GPU iteration time, a positive per-epoch cost.
    assert 0 < t_c < sm.PAPER_T4 and epoch_cost > 0
    # Speed-up for the same number of epochs, from the two timings alone (FACTS.md's derivation):
    expected = (4822 * 0.257) / (math.ceil(4 * 4822 / 512) * 0.35)
    rows = {r["gpus"]: r for r in sm.predict().rows}
    assert rows[512]["paper_model_speedup"] == pytest.approx(expected, rel=1e-9)
    # ... which is within 1% of the paper's measured 93.8x (Fig. 4: 68.77 h -> 0.73 h).
    assert rows[512]["paper_model_speedup"] == pytest.approx(sm.PAPER_SPEEDUP_512, rel=0.01)


def test_overlap_hides_communication_behind_backward():
    _, nbytes = sm.gradient_bytes()
    # With a long compute step everything but the last bucket hides behind backward.
    t = sm.t_ours(64, 10.0, nbytes, sm.ABCI)
    assert t == pytest.approx(10.0 + sm.ring_time(64, sm.BUCKET_BYTES, sm.ABCI))
    # With no compute at all nothing hides: the whole allreduce plus the last bucket again.
    assert sm.t_ours(64, 0.0, nbytes, sm.ABCI) == pytest.approx(
        sm.ring_time(64, nbytes, sm.ABCI) + sm.ring_time(64, sm.BUCKET_BYTES, sm.ABCI)
    )
    # fp16 halves the bytes on the wire.
    assert sm.t_ours(64, 0.0, nbytes, sm.ABCI, 0.5) == pytest.approx(
        sm.ring_time(64, nbytes / 2, sm.ABCI) + sm.ring_time(64, sm.BUCKET_BYTES / 2, sm.ABCI)
    )


def test_command_writes_the_csv_fig4_draws(tmp_path):
    out = tmp_path / "scaling/model.csv"
    proc = run_cli("scaling-model", "--out", out)
    assert "93.2x at 512 GPUs" in proc.stdout
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["gpus"]) for r in rows] == sm.GPU_COUNTS
    assert float(rows[0]["predicted_speedup"]) == 1.0
    speedups = [float(r["predicted_speedup"]) for r in rows]
    assert speedups == sorted(speedups) and all(s <= n / 4 for s, n in zip(speedups, sm.GPU_COUNTS))
    assert [p.name for p in out.parent.iterdir()] == ["model.csv"]  # nothing half-written beside it

    bad = run_cli("scaling-model", "--out", tmp_path / "x.csv", "--t-compute", "0", check=False)
    assert bad.returncode == 2 and "--t-compute" in bad.stderr and not (tmp_path / "x.csv").exists()


def test_fig4_draws_the_model_only_over_the_measured_range(tmp_path):
    from cycleaug.figures import fig4

    logs = []
    for n, s in {4: 100.0, 8: 52.0, 16: 27.0}.items():
        write_train_log(tmp_path / f"{n}gpu/train_log.jsonl", n, [s])
        logs.append(fig4.read_log(tmp_path / f"{n}gpu/train_log.jsonl"))
    model = [(r["gpus"], r["ours_overlap_fp16_speedup"]) for r in sm.predict().rows]
    line = lines_by_label(fig4.build_fig4(logs, model))["scaling model"]
    assert list(line.get_xdata()) == [4, 8, 16]


def test_plan_walltimes_and_points_follow_the_paper_timings():
    """`cycleaug plan` on the paper's configuration, against the timings of FACTS.md by hand: 4 GPUs,
    200 epochs x 4,822 iterations x 0.257 s = 68.85 h; 512 GPUs, 200 x ceil(4 x 4,822 / 512) = 7,600
    iterations x 0.35 s = 0.74 h. Walltimes carry a margin of 1.25 (+0.5 per retry)."""
    import yaml
    from cycleaug import plan
    from cycleaug.cli import main as cli

    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    config.update(yaml.safe_load((ROOT / "profiles/abci/abci.yaml").read_text()))
    assert plan.cyclegan_seconds(config, 4) == pytest.approx(200 * 4822 * 0.257, rel=1e-9)
    assert plan.cyclegan_seconds(config, 512) == pytest.approx(200 * 38 * 0.35, rel=1e-9)
    assert plan.cyclegan_runtime_minutes(config, 4) == math.ceil(200 * 4822 * 0.257 * 1.25 / 60)
    assert plan.cyclegan_runtime_minutes(config, 4, attempt=2) == math.ceil(200 * 4822 * 0.257 * 1.75 / 60)
    jobs = {j.name: j for j in plan.training_jobs(config)}
    assert (jobs["train_cyclegan_512gpu"].nodes, jobs["train_cyclegan_512gpu"].queue) == (64, "rt_HF")
    assert jobs["train_cyclegan_4gpu"].points(plan.RATES_FY2024) == pytest.approx(68.85 * 7.5, rel=1e-3)
    assert jobs["train_yolo_a_bdd"].minutes == math.ceil(5000 * 3.0 * 1.25 / 60)
    assert len([n for n in jobs if n.startswith("train_yolo_")]) == 7
    # The fid job, by hand: 5 GPU counts x 9 saved epochs = 45 Frechet distances of 15 s at 2048 dims,
    # and the features of 4,822 real crops and 45 x 100 samples at 0.02 s each.
    fid_s = 45 * 15.0 + (4822 + 45 * 100) * 0.02
    assert (jobs["fid"].queue, jobs["fid"].minutes) == ("rt_HG", math.ceil(fid_s * 1.25 / 60))
    assert plan.fid_runtime_minutes(config, attempt=2) == math.ceil(fid_s * 1.75 / 60)
    # detector.seeds: every condition once per seed, named as the rules are.
    config["detector"]["seeds"] = [0, 4]
    names = [j.name for j in plan.training_jobs(config) if j.name.startswith("train_yolo_")]
    assert len(names) == 14 and "train_yolo_a_bdd" in names and "train_yolo_g_gen512gpu_seed4" in names
    assert cli(["plan", str(ROOT / "config.yaml"), str(ROOT / "profiles/abci/abci.yaml"), "--rate-hf", "16"]) == 0
    # The lr rule changes each step's size, not the steps: the same walltimes for every rule, and the plan
    # says so.
    before = {n: plan.cyclegan_runtime_minutes(config, n) for n in config["cyclegan"]["gpu_counts"]}
    config["cyclegan"].update(lr_scaling="linear", warmup_epochs=5)
    assert {n: plan.cyclegan_runtime_minutes(config, n) for n in before} == before
    assert "lr scaling: linear, warm-up 5 epoch(s): the same iterations per run" in plan.report(config)
