"""Glue of workflow/rules/cyclegan.smk: one training run per GPU count, its nodes and processes per
node, the site's launcher around `cycleaug train-cyclegan`, and that command's options, built by
iterating the fields of its settings dataclasses over config.cyclegan (flag = config key)."""

from __future__ import annotations

import math

from cycleaug.cyclegan.settings import FastConfig, ModelConfig, TrainConfig, fast_settings
from cycleaug.glue import paths  # glue.paths in cyclegan.smk
from cycleaug.glue.common import gpu_counts, last_epoch, saved_epochs
from cycleaug.options import command_line, shell_words

__all__ = ["gpu_counts", "last_epoch", "saved_epochs"]


def nodes_for(config: dict, gpus: int) -> int:
    """Whole nodes for ``gpus`` processes (one per GPU): 4 GPUs at 8 per node -> 1, 64 -> 8."""
    return math.ceil(gpus / config["gpus_per_node"])


def ppn_for(config: dict, gpus: int) -> int:
    """Processes per node, spread evenly over nodes_for(gpus) nodes."""
    return math.ceil(gpus / nodes_for(config, gpus))


def site_resources(config: dict, gpus: int) -> dict:
    """Resources a training rule declares for the site: its MPI tasks per node (the slurm executor's
    ``tasks_per_node``, the rule's ppn), and on a Slurm site (config ``slurm``) ``mpi`` (the job's
    Snakemake then runs in the batch script and the rule's srun starts the ranks), ``cpus_per_task``
    and ``mem_mb`` (per node: ppn x mem_mb_per_process). PBS ignores them."""
    resources = {"tasks_per_node": ppn_for(config, gpus)}
    slurm = config.get("slurm") or {}
    if "mpi" in slurm:
        resources["mpi"] = slurm["mpi"]
    if "cpus_per_task" in slurm:
        resources["cpus_per_task"] = slurm["cpus_per_task"]
    if "mem_mb_per_process" in slurm:
        resources["mem_mb"] = ppn_for(config, gpus) * slurm["mem_mb_per_process"]
    return resources


def runtime(config: dict, gpus: int):
    """The rule's runtime resource: a function of the attempt (Snakemake passes it), see cycleaug.plan."""
    from cycleaug.plan import cyclegan_runtime_minutes

    return lambda wildcards, attempt: cyclegan_runtime_minutes(config, gpus, attempt)


def nets(config: dict, gpus: int) -> list[str]:
    return [paths.cyclegan_net(config, gpus, e) for e in saved_epochs(config)]


def train_options(config: dict) -> str:
    """Every config.cyclegan key that is a field of ModelConfig, TrainConfig or FastConfig (cyclegan.fast),
    as that field's flag; the saved epochs within the run, the workflow's seed and device."""
    cg = config["cyclegan"]
    words = [
        *command_line(ModelConfig, cg),
        *command_line(TrainConfig, cg, skip=("save_epochs", "seed", "device")),
        *command_line(FastConfig, fast_settings(cg.get("fast", {}))),
        "--save-epochs",
        *map(str, saved_epochs(config)),
        "--seed",
        str(config["seed"]),
        "--device",
        config["device"],
    ]
    return shell_words(words)


def launcher(config: dict, gpus: int) -> tuple[str, str]:
    """The site's launcher template (config ``launcher``) for ``gpus`` processes, split around its
    ``{cmd}``: what goes before the training command, and what after it (with its leading space)."""
    template = config["launcher"]
    if template.count("{cmd}") != 1:
        raise ValueError(f"launcher {template!r}: expected exactly one {{cmd}}")
    before, after = template.split("{cmd}")
    values = dict(
        n=gpus,
        ppn=ppn_for(config, gpus),
        nodes=nodes_for(config, gpus),
        backend=config["cyclegan"]["backend"],
        cpus=(config.get("slurm") or {}).get("cpus_per_task", 1),
    )
    after = after.format(**values).strip()
    return before.format(**values).rstrip(), f" {after}" if after else ""
