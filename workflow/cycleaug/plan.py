"""What the study will ask of the cluster, before anything is submitted: each job's walltime and the
GPU-hours and ABCI points of the whole run (`cycleaug plan`; the rules take their ``runtime`` from here).

CycleGAN: iterations x seconds per iteration x a margin. Iterations per process: (n_epochs +
n_epochs_decay) x ceil(shard_scale x D / n), D the larger crop set (crop.max_images, FACTS.md 4,822).
Seconds per iteration: the scaling model's paper configuration on the paper's V100s
(cycleaug.scaling_model.t_paper, calibrated on 0.257 s at 4 GPUs and 0.35 s at 512), an upper bound
for ABCI 3.0's H200s. Margin: x1.25 on the first attempt and +0.5 per retry, so a run that was cut
short gets more time (it resumes from its checkpoint). Jobs are capped at the queue's limit by
pbs_submit.py (--max-walltime).

YOLOv3: iterations x YOLO_SECONDS_PER_ITERATION (an assumed upper bound for darknet's 64-image batch at
608 px on one GPU, evaluations included; not measured here) with the same margin.

FID (the one `fid` job, Fig. 6): one Frechet distance per GPU count and saved epoch, each a scipy sqrtm
on the CPU, FRECHET_SECONDS_2048 (measured) x (dims / 2048)^3, plus the Inception features of the real
crops once and of every sample set, INCEPTION_SECONDS_PER_IMAGE each (an assumed upper bound on one
GPU, not measured here); the same margin.

Points: ABCI 3.0's tariff per node-hour of each resource type. The defaults are the FY2024 rates of
the ABCI 3.0 user guide ("Job Execution Resource", on-demand/spot: rt_HF 7.5, rt_HG 1.5, rt_HC 0.5
points per hour; docs.abci.ai/v3, table of 2024-12-25, replaced for FY2025 by abci.ai's tariff page,
which could not be read from here): check the current tariff and pass --rate-hf/--rate-hg/--rate-hc.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from cycleaug import jobnames, scaling_model
from cycleaug.cyclegan.settings import saved_epochs, schedule_epochs, with_defaults
from cycleaug.topology import nodes_for
from cycleaug.yolo.conditions import conditions

MARGIN_FIRST, MARGIN_PER_RETRY = 1.25, 0.5
YOLO_SECONDS_PER_ITERATION = 3.0
RATES_FY2024 = {"rt_HF": 7.5, "rt_HG": 1.5, "rt_HC": 0.5}  # points per node-hour (see the docstring)
# One 2048-d Frechet distance (cycleaug.fid.statistics.frechet_distance, 3,000 x 2,048 features each side):
# 13.4 and 14.4 s on 2 cores of this repository's CI machine (AMD EPYC, 2026-12-04); sqrtm's cost grows as dims^3.
FRECHET_SECONDS_2048 = 15.0
INCEPTION_SECONDS_PER_IMAGE = 0.02


def margin(attempt: int) -> float:
    return MARGIN_FIRST + MARGIN_PER_RETRY * (max(1, attempt) - 1)


def walltime_minutes(seconds: float, attempt: int) -> int:
    """The first attempt's walltime (the estimate x the first margin, at least 10 minutes), scaled up by
    each retry's margin: a job killed at a 10-minute floor still asks for more time when retried."""
    estimate = math.ceil(seconds * margin(attempt) / 60)
    if math.ceil(seconds * margin(1) / 60) >= 10:
        return estimate
    return max(estimate, math.ceil(10 * margin(attempt) / margin(1)))  # the floor, scaled like the margin


def cyclegan_iterations(config: dict, gpus: int) -> int:
    cg = config["cyclegan"]
    sizes = [n for n in (config["crop"].get("max_images") or {}).values() if n]
    samples = max(sizes) if sizes else scaling_model.D_SAMPLES
    per_epoch = math.ceil(cg["shard_scale"] * samples / gpus)
    return schedule_epochs(cg) * math.ceil(per_epoch / cg["batch_size"])


def cyclegan_seconds(config: dict, gpus: int) -> float:
    """Expected seconds of the run on ``gpus`` processes (no margin)."""
    _, nbytes = scaling_model.gradient_bytes()
    t_compute, epoch_cost = scaling_model.calibrate(nbytes, scaling_model.ABCI)
    per_iteration = scaling_model.t_paper(gpus, t_compute, epoch_cost, nbytes, scaling_model.ABCI)
    return cyclegan_iterations(config, gpus) * per_iteration


def cyclegan_runtime_minutes(config: dict, gpus: int, attempt: int = 1) -> int:
    return walltime_minutes(cyclegan_seconds(config, gpus), attempt)


def yolo_iterations(config: dict) -> int:
    """detector.iterations, or the paper's 5,000 when it defers to the cfg's max_batches."""
    return config["detector"].get("iterations") or 5000


def yolo_runtime_minutes(config: dict, attempt: int = 1, iterations: int | None = None) -> int:
    """A detector job's walltime: ``iterations`` (default: the conditions') at the paper's pace."""
    its = iterations or yolo_iterations(config)
    return walltime_minutes(its * YOLO_SECONDS_PER_ITERATION, attempt)


def fid_count(config: dict) -> int:
    """FIDs the fid job computes: one per GPU count and saved epoch."""
    return len(config["cyclegan"]["gpu_counts"]) * len(saved_epochs(config["cyclegan"]))


def fid_seconds(config: dict) -> float:
    sizes = (config["crop"].get("max_images") or {}).get("bdd100k")
    real = sizes or scaling_model.D_SAMPLES
    n = fid_count(config)
    images = real + n * config["crop"]["n_heldout"]
    return n * FRECHET_SECONDS_2048 * (config["fid"]["dims"] / 2048) ** 3 + images * INCEPTION_SECONDS_PER_IMAGE


def fid_runtime_minutes(config: dict, attempt: int = 1) -> int:
    return walltime_minutes(fid_seconds(config), attempt)


@dataclass(frozen=True)
class Job:
    name: str
    queue: str
    nodes: int
    gpus: int
    minutes: int  # walltime asked for (first attempt)
    expected_hours: float  # without the margin

    def points(self, rates: dict[str, float]) -> float:
        return self.nodes * self.expected_hours * rates[self.queue]


def training_jobs(config: dict) -> list[Job]:
    """The jobs that dominate the cost: one CycleGAN run per GPU count, one detector per condition (and
    the backbone's pretraining on demo data), and the FID job."""
    jobs = []
    for n in config["cyclegan"]["gpu_counts"]:
        nodes = nodes_for(config, n)
        queue = "rt_HG" if n == 1 else "rt_HF"
        jobs.append(
            Job(
                jobnames.train_cyclegan(n),
                queue,
                nodes,
                n,
                cyclegan_runtime_minutes(config, n),
                cyclegan_seconds(config, n) / 3600,
            )
        )
    pretrain = config["detector"].get("pretrain")
    if pretrain:  # demo data: the backbone every condition starts from, trained once
        its = pretrain["iterations"]
        minutes = yolo_runtime_minutes(config, iterations=its)
        jobs.append(Job(jobnames.PRETRAIN_DETECTOR, "rt_HG", 1, 1, minutes, its * YOLO_SECONDS_PER_ITERATION / 3600))
    for c, run in ((c, run) for c in conditions(config) for _, run in jobnames.seed_runs(config)):
        jobs.append(
            Job(
                jobnames.train_yolo(c.name, run),
                "rt_HG",
                1,
                1,
                yolo_runtime_minutes(config),
                yolo_iterations(config) * YOLO_SECONDS_PER_ITERATION / 3600,
            )
        )
    jobs.append(Job(jobnames.FID, "rt_HG", 1, 1, fid_runtime_minutes(config), fid_seconds(config) / 3600))
    return jobs


def report(config: dict, rates: dict[str, float] | None = None) -> str:
    rates = rates or RATES_FY2024
    jobs = training_jobs(config)
    lines = [
        f"{'job':<28} {'queue':<6} {'nodes':>5} {'GPUs':>5} {'walltime':>9} {'expected h':>10} {'GPU-h':>8} "
        f"{'points':>8}"
    ]
    for j in jobs:
        lines.append(
            f"{j.name:<28} {j.queue:<6} {j.nodes:>5} {j.gpus:>5} {j.minutes // 60:>6}:{j.minutes % 60:02d} "
            f"{j.expected_hours:>10.2f} {j.gpus * j.expected_hours:>8.1f} {j.points(rates):>8.1f}"
        )
    gpu_h = sum(j.gpus * j.expected_hours for j in jobs)
    pts = sum(j.points(rates) for j in jobs)
    lines.append(
        f"total: {gpu_h:.0f} GPU-hours, {pts:.0f} points at "
        + ", ".join(f"{q} {r:g}" for q, r in sorted(rates.items()))
        + " points per node-hour (ABCI 3.0 FY2024 tariff unless given; check the current one)"
    )
    # The lr rule scales each step's size, not the number of steps (cycleaug.cyclegan.settings.lr_scale).
    cg = with_defaults(config["cyclegan"])
    lines.append(
        f"lr scaling: {cg['lr_scaling']}, warm-up {cg['warmup_epochs']:g} epoch(s): the same "
        "iterations per run whatever the rule, so these walltimes and the scaling model hold for every rule "
        "(the lr ablation's runs, `snakemake ablation_lr`, cost what the main run of their count costs)"
    )
    return "\n".join(lines)
