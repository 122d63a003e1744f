"""What ``rule all``, the named stage targets (`snakemake data`, `cyclegan`, `generate`, `detection`,
`figures`) and every stage share: each stage's target list, the runs of the learning-rate ablation, and
whether a Snakemake command line runs jobs at all."""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass

from cycleaug.cyclegan.settings import LR_RULES, lr_scale, saved_epochs, with_defaults
from cycleaug.glue import paths
from cycleaug.jobnames import seed_runs
from cycleaug.yolo.conditions import conditions

# Snakemake's modes (their argparse dests) that plan or inspect the DAG and run no job: they need no data.
PLANNING_MODES = (
    "dryrun",
    "dag",
    "rulegraph",
    "filegraph",
    "d3dag",
    "summary",
    "detailed_summary",
    "lint",
    "list_rules",
    "list_target_rules",
    "list_changes",
    "list_input_changes",
    "list_params_changes",
    "unlock",
    "print_compilation",
    "containerize",
    "export_cwl",
)


def runs_jobs(argv: list[str]) -> bool:
    """Whether this Snakemake command line can run jobs: False for ``-n`` however it is spelled (``-np``,
    ``--dry-run``), ``--dag``, ``--rulegraph``, ``--lint`` and the other modes of PLANNING_MODES. Read with
    Snakemake's own parser, so combined short flags count; a line it cannot read counts as running jobs."""
    from snakemake.cli import get_argument_parser

    try:
        with contextlib.redirect_stderr(io.StringIO()):
            args, _ = get_argument_parser().parse_known_args(argv)
    except SystemExit:
        return True
    return not any(getattr(args, mode, None) for mode in PLANNING_MODES)


def run_nets(config: dict, folder: str) -> list[str]:
    """The generators a training run in ``folder`` keeps (its saved epochs)."""
    return [paths.run_net(folder, e) for e in saved_epochs(config["cyclegan"])]


def gpu_counts(config: dict) -> list[int]:
    return config["cyclegan"]["gpu_counts"]


def lr_reference_gpus(config: dict, counts: list[int] | None = None) -> int:
    """n_ref of the lr rule: cyclegan.lr_reference_gpus, else the smallest of ``counts`` (the main runs')."""
    # Unset here is not the command's default (1): the workflow's reference is its own smallest run.
    return config["cyclegan"].get("lr_reference_gpus") or min(counts or gpu_counts(config))


@dataclass(frozen=True)
class LrRun:
    """One run of the learning-rate ablation. Runs with the same seed, count and rule in effect are one
    run (k = 1 at the reference count, where a warm-up from lr to lr x 1 changes nothing, makes every rule
    the unscaled one): ``source`` is the rule whose folder holds it, None for a main run (the workflow's
    seed, the main config's rule in effect); ``own`` when this entry is the one that trains it."""

    rule: str
    gpus: int
    seed: int
    source: str | None
    cyclegan: dict  # the lr keys of config.cyclegan for this run

    @property
    def own(self) -> bool:
        return self.source == self.rule


def lr_ablation_runs(config: dict) -> list[LrRun]:
    """Every (rule, GPU count, seed) of `snakemake ablation_lr` (config ``ablation.lr_scaling``)."""
    block = config.get("ablation", {}).get("lr_scaling", {})
    counts = block.get("gpu_counts") or gpu_counts(config)
    seeds = block.get("seeds") or [config["seed"]]
    n_ref = lr_reference_gpus(config, counts)
    cg = with_defaults(config["cyclegan"])
    warmup = cg["warmup_epochs"] if block.get("warmup_epochs") is None else block["warmup_epochs"]
    main = {
        "lr_scaling": cg["lr_scaling"],
        "lr_reference_gpus": lr_reference_gpus(config),
        "warmup_epochs": cg["warmup_epochs"],
    }

    def effect(keys: dict, n: int) -> tuple[float, float]:
        k = lr_scale(keys["lr_scaling"], n, keys["lr_reference_gpus"])
        return k, keys["warmup_epochs"] if k != 1 else 0

    runs, trained = [], {}  # trained: (seed, n, effect) -> the run that makes it
    for seed in seeds:
        for n in gpu_counts(config):
            if seed == config["seed"]:
                trained[(seed, n, effect(main, n))] = LrRun("main", n, seed, None, main)
        for rule in LR_RULES:
            for n in counts:
                keys = {"lr_scaling": rule, "lr_reference_gpus": n_ref, "warmup_epochs": warmup}
                first = trained.setdefault((seed, n, effect(keys, n)), LrRun(rule, n, seed, rule, keys))
                runs.append(LrRun(rule, n, seed, first.source, first.cyclegan))
    return runs


def data_targets(config: dict) -> list[str]:
    return [
        paths.labels(config, "bdd100k_train"),
        paths.labels(config, "bdd100k_val"),
        paths.labels(config, "synthia"),
        paths.crops(config, "bdd100k"),
        paths.crops(config, "synthia"),
        paths.crops(config, "synthia_heldout"),
    ]


def cyclegan_targets(config: dict) -> list[str]:
    return [paths.cyclegan_net(config, n, e) for n in gpu_counts(config) for e in saved_epochs(config["cyclegan"])]


def sample_dirs(config: dict) -> list[str]:
    return [paths.sample_dir(config, n, e) for n in gpu_counts(config) for e in saved_epochs(config["cyclegan"])]


def paired_outputs(config: dict) -> list[str]:
    """The paired-truth distance table, which only the demo data allow (their generator renders each CG
    scene in both styles)."""
    return [paths.paired_csv(config)] if config["data"]["source"] == "demo" else []


def generate_targets(config: dict) -> list[str]:
    """Samples per GPU count and saved epoch, the translated detector sets with their labels, the FID table
    (and, on demo data, the paired-truth distances)."""
    counts = gpu_counts(config)
    return [
        *sample_dirs(config),
        *(paths.generated_images(config, n) for n in counts),
        *(paths.generated_labels(config, n) for n in counts),
        paths.fid_csv(config),
        *paired_outputs(config),
    ]


def metrics_files(config: dict) -> list[str]:
    return [paths.metrics(config, c.name, run) for c in conditions(config) for _, run in seed_runs(config)]


def detection_targets(config: dict) -> list[str]:
    return paths.table2_files(config)


def figure_targets(config: dict) -> list[str]:
    """Every figure as PNG and PDF, and the claim-by-claim verdict that reads them."""
    return [
        *(paths.figure(config, name, ext) for name in paths.FIGURE_NAMES for ext in ("png", "pdf")),
        paths.verdict(config),
    ]


def all_outputs(config: dict) -> list[str]:
    """Everything the paper reports."""
    return [
        *data_targets(config),
        *cyclegan_targets(config),
        *generate_targets(config),
        *detection_targets(config),
        *figure_targets(config),
    ]
