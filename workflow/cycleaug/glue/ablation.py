"""Glue of workflow/rules/ablation.smk: the learning-rate scaling ablation's samples, FID/KID and paired
tables per rule, and its figure and verdict. Its training runs are rules of the CycleGAN stage
(glue.cyclegan.training_runs); which (rule, GPU count) it trains and which it takes from the main runs:
glue.common.lr_ablation_runs."""

from __future__ import annotations

from cycleaug.glue import paths  # glue.paths in ablation.smk
from cycleaug.glue.common import lr_ablation_runs, saved_epochs
from cycleaug.glue.figures import figure_outputs
from cycleaug.glue.generate import fid_options, fid_weights_file, paired_truth

__all__ = ["fid_options", "fid_weights_file", "paired_truth"]


def _runs(config: dict, rule: str):
    return [r for r in lr_ablation_runs(config) if r.rule == rule]


def rules(config: dict) -> list[str]:
    return sorted({r.rule for r in lr_ablation_runs(config)})


def samples_of(config: dict, rule: str, gpus: int) -> list[str]:
    """One sample folder per saved epoch of (rule, gpus): the ablation's own, or the main run's."""
    run = next(r for r in _runs(config, rule) if r.gpus == int(gpus))
    if run.own:
        return [paths.ablation_lr_samples(config, rule, gpus, e) for e in saved_epochs(config)]
    return [paths.sample_dir(config, gpus, e) for e in saved_epochs(config)]


def own_nets(config: dict):
    """Input function of ablation_lr_samples: the kept generators of run ``{rule}``/``{gpus}``."""

    def nets(wildcards) -> list[str]:
        folder = paths.ablation_lr_run(config, wildcards.rule, wildcards.gpus)
        return [paths.run_net(folder, e) for e in saved_epochs(config)]

    return nets


def own_sample_dirs(config: dict) -> list[str]:
    return [paths.ablation_lr_samples(config, "{rule}", "{gpus}", e) for e in saved_epochs(config)]


def rule_samples(config: dict):
    """Input function: every sample folder of rule ``{rule}``, over its GPU counts."""
    return lambda wildcards: [d for r in _runs(config, wildcards.rule) for d in samples_of(config, r.rule, r.gpus)]


def fid_runs(config: dict):
    """``--runs`` of `cycleaug fid-table` / `paired-distance` for rule ``{rule}``: ``GPUS:EPOCH:DIR`` words."""

    def runs(wildcards) -> str:
        return " ".join(
            paths.quote(f"{r.gpus}:{e}:{d}")
            for r in _runs(config, wildcards.rule)
            for e, d in zip(saved_epochs(config), samples_of(config, r.rule, r.gpus), strict=True)
        )

    return runs


def table(config: dict, rule: str, name: str) -> str:
    """``fid.csv`` or ``paired.csv`` of one rule."""
    return f"{paths.ablation_lr(config, rule)}/{name}"


def figure_inputs(config: dict) -> dict[str, str]:
    """The figure rule's inputs, named ``fid_{rule}`` and (demo data) ``paired_{rule}``."""
    names = ["fid"] + (["paired"] if config["data"]["source"] == "demo" else [])
    return {f"{name}_{rule}": table(config, rule, f"{name}.csv") for name in names for rule in rules(config)}


def _by_rule(input, name: str) -> dict[str, str]:
    return {key.split("_", 1)[1]: str(path) for key, path in input.items() if key.startswith(f"{name}_")}


def pairs(wildcards, input) -> str:
    """``--fid RULE=CSV ...`` and, on demo data, ``--paired RULE=CSV ...`` of `cycleaug ablation-lr`."""
    words = []
    for name in ("fid", "paired"):
        found = _by_rule(input, name)
        if found:
            words.append(f"--{name} " + " ".join(paths.quote(f"{rule}={path}") for rule, path in found.items()))
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
        decision, line = ablation_lr.verdict(ablation_lr.read(_by_rule(input, "fid")))
    except (CycleAugError, OSError) as exc:
        return f"(not available: {exc})"
    return f"lr scaling recovers quality at the largest count: **{decision}** ({line})"
