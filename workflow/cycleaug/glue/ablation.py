"""Glue of workflow/rules/ablation.smk: the learning-rate scaling ablation's samples, FID/KID and paired
tables per rule and seed, and its figure and verdict. Its training runs are rules of the CycleGAN stage
(glue.cyclegan.training_runs); which (rule, GPU count, seed) it trains and which it takes from the main
runs: glue.common.lr_ablation_runs."""

from __future__ import annotations

from cycleaug.cyclegan.settings import saved_epochs
from cycleaug.glue import paths
from cycleaug.glue.common import lr_ablation_runs, run_nets
from cycleaug.glue.figures import figure_outputs


def _runs(config: dict, rule: str, seed: int | str):
    return [r for r in lr_ablation_runs(config) if r.rule == rule and r.seed == int(seed)]


def rules(config: dict) -> list[str]:
    return sorted({r.rule for r in lr_ablation_runs(config)})


def seeds(config: dict) -> list[int]:
    return sorted({r.seed for r in lr_ablation_runs(config)})


def samples_of(config: dict, run) -> list[str]:
    """One sample folder per saved epoch of ``run``: those of the run it is (the ablation's, or a main run)."""
    if run.source is None:
        return [paths.sample_dir(config, run.gpus, e) for e in saved_epochs(config["cyclegan"])]
    return [
        paths.ablation_lr_samples(config, run.source, run.seed, run.gpus, e) for e in saved_epochs(config["cyclegan"])
    ]


def own_nets(config: dict):
    """Input function of ablation_lr_samples: the kept generators of run ``{rule}``/``{seed}``/``{gpus}``."""

    return lambda wildcards: run_nets(
        config, paths.ablation_lr_run(config, wildcards.rule, wildcards.seed, wildcards.gpus)
    )


def own_sample_dirs(config: dict) -> list[str]:
    return [
        paths.ablation_lr_samples(config, "{rule}", "{seed}", "{gpus}", e) for e in saved_epochs(config["cyclegan"])
    ]


def rule_samples(config: dict):
    """Input function: every sample folder of rule ``{rule}`` and seed ``{seed}``, over its GPU counts."""
    return lambda wildcards: [d for r in _runs(config, wildcards.rule, wildcards.seed) for d in samples_of(config, r)]


def fid_runs(config: dict):
    """``--runs`` of `cycleaug fid-table` / `paired-distance` for ``{rule}``/``{seed}``: ``GPUS:EPOCH:DIR`` words."""

    def runs(wildcards) -> str:
        return " ".join(
            paths.quote(f"{r.gpus}:{e}:{d}")
            for r in _runs(config, wildcards.rule, wildcards.seed)
            for e, d in zip(saved_epochs(config["cyclegan"]), samples_of(config, r), strict=True)
        )

    return runs


def table(config: dict, rule: str, seed: int | str, name: str) -> str:
    """``fid.csv`` or ``paired.csv`` of one rule and seed."""
    return f"{paths.ablation_lr_seed(config, rule, seed)}/{name}"


def figure_inputs(config: dict) -> dict[str, str]:
    """The figure rule's inputs, named ``{fid|paired}_{rule}_{seed}`` (paired: demo data only)."""
    names = ["fid"] + (["paired"] if config["data"]["source"] == "demo" else [])
    return {
        f"{name}_{rule}_{seed}": table(config, rule, seed, f"{name}.csv")
        for name in names
        for rule in rules(config)
        for seed in seeds(config)
    }


def _by_run(input, name: str) -> dict[tuple[str, int], str]:
    """(rule, seed) -> table, from the named inputs of figure_inputs."""
    found = {}
    for key, path in input.items():
        kind, rule, seed = key.split("_")
        if kind == name:
            found[(rule, int(seed))] = str(path)
    return found


def pairs(wildcards, input) -> str:
    """``--fid RULE:SEED=CSV ...`` and, on demo data, ``--paired RULE:SEED=CSV ...`` of `cycleaug ablation-lr`."""
    words = []
    for name in ("fid", "paired"):
        found = _by_run(input, name)
        if found:
            words.append(f"--{name} " + " ".join(paths.quote(f"{r}:{s}={path}") for (r, s), path in found.items()))
    return " ".join(words)


def outputs(config: dict) -> dict:
    return figure_outputs(config, "ablation_lr", "ablation_lr.rst", "Ablation: lr scaling", category="Ablation")


def targets(config: dict) -> list[str]:
    return [*(str(f) for f in outputs(config).values()), paths.ablation_lr_verdict(config)]


def verdict_line(wildcards, input) -> str:
    """The verdict for the report caption beside the figure."""
    from cycleaug import ablation_lr  # noqa: PLC0415
    from cycleaug.errors import CycleAugError  # noqa: PLC0415

    try:
        paired = _by_run(input, "paired")
        decision, line = ablation_lr.judge(
            ablation_lr.read(_by_run(input, "fid")), ablation_lr.read_paired_tables(paired) if paired else {}
        )
    except (CycleAugError, OSError) as exc:
        return f"(not available: {exc})"
    return f"lr scaling recovers quality at the largest count: **{decision}** ({line})"
