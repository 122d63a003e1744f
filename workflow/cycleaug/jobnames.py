"""The names of the workflow's compute jobs, defined once for the rules that carry them (cycleaug.glue)
and for `cycleaug plan`, which prices each job under its rule's name."""

from __future__ import annotations

PRETRAIN_DETECTOR = "pretrain_detector"
FID = "fid"


def train_cyclegan(gpus: int) -> str:
    """The main CycleGAN run on ``gpus`` processes (paper: one per GPU count)."""
    return f"train_cyclegan_{gpus}gpu"


def train_ablation_lr(rule: str, gpus: int, seed: int) -> str:
    """A run of the learning-rate ablation that is not a main run (`snakemake ablation_lr`)."""
    return f"train_ablation_lr_{rule}_{gpus}gpu_seed{seed}"


def seed_runs(config: dict) -> list[tuple[int, str]]:
    """(seed, run name) of every training of one detector condition: detector.seeds, or the workflow's seed
    once. The first run is the condition's own folder (run name ""); the others are ``seed{s}`` inside it."""
    seeds = config["detector"].get("seeds") or [config["seed"]]
    return [(s, "" if i == 0 else f"seed{s}") for i, s in enumerate(seeds)]


def train_yolo(condition: str, run: str = "") -> str:
    """The detector of Table 2 condition ``condition`` (a_bdd, ...), for run ``run`` of seed_runs."""
    return f"train_yolo_{condition}" + (f"_{run}" if run else "")
