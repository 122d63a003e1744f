"""Glue of workflow/rules/cyclegan.smk: one training run per GPU count, its nodes and processes per
node, the site's launcher before `cycleaug train-cyclegan`, and that command's options, built by
iterating the fields of its settings dataclasses over config.cyclegan (flag = config key)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from cycleaug import jobnames
from cycleaug.config_check import launcher_problem
from cycleaug.cyclegan.settings import FastConfig, ModelConfig, TrainConfig, fast_settings, saved_epochs, with_defaults
from cycleaug.errors import CycleAugError
from cycleaug.glue import paths
from cycleaug.glue.common import gpu_counts, lr_ablation_runs, lr_reference_gpus
from cycleaug.options import command_line, shell_words
from cycleaug.plan import cyclegan_runtime_minutes
from cycleaug.topology import nodes_for, ppn_for


def training_resources(config: dict, gpus: int) -> dict:
    """Resources of train_cyclegan_{gpus}gpu (its runtime aside): nodes and processes per node (ppn), the
    GPUs, and the site's MPI request.

    PBS (profiles/abci): ``gpu`` (the queue follows it) and ``tasks_per_node``, which PBS ignores.
    Slurm (config ``slurm``): GPUs per node as ``gres=gpu:{ppn}`` instead of ``gpu`` (the plugin turns
    ``gpu`` into ``--gpus=N``, a job total that Slurm may spread unevenly over the nodes); the tasks as
    ``tasks_per_node`` or, with one process per node, as ``tasks`` (the plugin refuses an MPI job with
    ``tasks_per_node`` 1; ``--ntasks=N --ntasks-per-gpu=1`` over N nodes gives each one; an MPI job of
    a single task it refuses altogether, config_check says so); ``mpi`` (the job's Snakemake then
    runs in the batch script and the rule's srun starts the ranks), ``cpus_per_task`` and ``mem_mb``
    (per node: ppn x mem_mb_per_process)."""
    nodes, ppn = nodes_for(config, gpus), ppn_for(config, gpus)
    resources = {"nodes": nodes, "ppn": ppn}
    slurm = config.get("slurm")
    if slurm is None:
        return {**resources, "gpu": gpus, "tasks_per_node": ppn}
    resources["gres"] = f"gpu:{ppn}"
    # For a GPU job the plugin reads ``tasks`` as tasks per GPU unless ``tasks_per_gpu`` is given.
    resources.update({"tasks_per_node": ppn} if ppn > 1 else {"tasks": gpus, "tasks_per_gpu": 1})
    if "mpi" in slurm:
        resources["mpi"] = slurm["mpi"]
    if "cpus_per_task" in slurm:
        resources["cpus_per_task"] = slurm["cpus_per_task"]
    if "mem_mb_per_process" in slurm:
        resources["mem_mb"] = ppn * slurm["mem_mb_per_process"]
    return resources


def carry_slurm_conf(environ=os.environ) -> None:
    """Hand ``$SLURM_CONF`` on to the training rules' srun as ``CYCLEAUG_SLURM_CONF``. The Slurm plugin's job
    step deletes every SLURM_* variable but the job's ids before the rule runs (snakemake-executor-plugin-slurm
    issue #164), so on a cluster whose clients find slurm.conf only through SLURM_CONF the rule's srun cannot
    reach the controller ("Could not establish a configuration source"; seen with tools/local_slurm.py).
    sbatch's --export=ALL carries this copy into the job; profiles/slurm's launcher sets SLURM_CONF from it."""
    if environ.get("SLURM_CONF"):
        environ.setdefault("CYCLEAUG_SLURM_CONF", environ["SLURM_CONF"])


def srun_mpi_flag(config: dict) -> str:
    """srun's ``--mpi=`` for the ranks: ``slurm.srun_mpi`` when set ("" = the site's default, no flag);
    unset, pmix for horovod (its MPI rank check needs a PMI) and none for the torch backend, which
    reads its ranks from Slurm's variables and needs no PMI."""
    slurm = config.get("slurm") or {}
    plugin = slurm.get("srun_mpi", "pmix" if with_defaults(config["cyclegan"])["backend"] == "horovod" else "")
    return f"--mpi={plugin}" if plugin else ""


def runtime(config: dict, gpus: int):
    """The rule's runtime resource: a function of the attempt (Snakemake passes it), see cycleaug.plan."""
    return lambda wildcards, attempt: cyclegan_runtime_minutes(config, gpus, attempt)


@dataclass(frozen=True)
class TrainingRun:
    """One train-cyclegan job: a main run per GPU count (train_cyclegan_{n}gpu into results/cyclegan/{n}gpu),
    and the runs of the learning-rate ablation that are not main runs (glue.common.lr_ablation_runs)."""

    name: str
    gpus: int
    folder: str
    log: str
    benchmark: str
    options: str


def training_runs(config: dict) -> list[TrainingRun]:
    runs = [
        TrainingRun(
            jobnames.train_cyclegan(n),
            n,
            paths.cyclegan_dir(config, n),
            f"logs/cyclegan/train_{n}gpu.log",
            f"benchmarks/cyclegan/train_{n}gpu.tsv",
            train_options(config),
        )
        for n in gpu_counts(config)
    ]
    for run in lr_ablation_runs(config):
        if run.own:
            name = jobnames.train_ablation_lr(run.rule, run.gpus, run.seed)
            runs.append(
                TrainingRun(
                    name,
                    run.gpus,
                    paths.ablation_lr_run(config, run.rule, run.seed, run.gpus),
                    f"logs/ablation/{name}.log",
                    f"benchmarks/ablation/{name}.tsv",
                    train_options(config, run.cyclegan, run.seed),
                )
            )
    return runs


def train_options(config: dict, overrides: dict | None = None, seed: int | None = None) -> str:
    """Every config.cyclegan key (with ``overrides``) that is a field of ModelConfig, TrainConfig or FastConfig
    (cyclegan.fast), as that field's flag; the lr rule's reference count resolved (null: the smallest GPU
    count); the saved epochs within the run, the seed (default: the workflow's) and the device."""
    cg = {**config["cyclegan"], "lr_reference_gpus": lr_reference_gpus(config), **(overrides or {})}
    words = [
        *command_line(ModelConfig, cg),
        *command_line(TrainConfig, cg, skip=("save_epochs", "seed", "device")),
        *command_line(FastConfig, fast_settings(cg.get("fast", {}))),
        "--save-epochs",
        *map(str, saved_epochs(config["cyclegan"])),
        "--seed",
        str(config["seed"] if seed is None else seed),
        "--device",
        config["device"],
    ]
    return shell_words(words)


def launcher(config: dict, gpus: int) -> str:
    """The site's launcher (config ``launcher``, a template ending in ``{cmd}``) for ``gpus`` processes: what
    goes before the training command (which names the rule's log after it, so nothing can follow it)."""
    template = config["launcher"]
    problem = launcher_problem(template)
    if problem:
        raise CycleAugError(problem)
    values = dict(
        n=gpus,
        ppn=ppn_for(config, gpus),
        nodes=nodes_for(config, gpus),
        backend=with_defaults(config["cyclegan"])["backend"],
        cpus=(config.get("slurm") or {}).get("cpus_per_task", 1),
        srun_mpi=srun_mpi_flag(config),
    )
    return template.rstrip()[: -len("{cmd}")].format(**values).rstrip()
