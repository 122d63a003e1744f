"""Helpers for ``workflow/rules/figures.smk``: command-line options from the config, and what this run
found, in one sentence per figure, for the report captions.

They live here rather than in the .smk file because ``snakemake --lint`` asks rule files not to mix
rules and functions. The ``*_findings`` functions are rule params that take ``input``: Snakemake
evaluates them when the job runs and again when ``snakemake --report`` renders the caption
(``{{ snakemake.params.findings }}``), and leaves such input-derived params out of its rerun triggers.
Before the inputs exist (a dry run) they say so instead of failing.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from cycleaug.errors import CycleAugError
from cycleaug.figures import fig4, fig6, paper, table2


def paper_reference(config: dict) -> bool:
    """``figures.paper_reference``: true/false, or "auto": on when the run is at paper scale."""
    setting = config.get("figures", {}).get("paper_reference", "auto")
    if setting == "auto":
        return paper.is_paper_scale(config["cyclegan"]["gpu_counts"], config["data"]["source"])
    return bool(setting)


def paper_reference_option(config: dict) -> str:
    return "--paper-reference" if paper_reference(config) else ""


def scaling_model_wanted(gpu_counts) -> bool:
    """Fig. 4 draws the scaling model (speed-ups over one 4-GPU node) when its own base is 4 GPUs."""
    return min(gpu_counts) == paper.BASE_GPUS


def model_option(wildcards, input) -> str:
    """``--model CSV`` when the scaling-model prediction is among the inputs (it is optional)."""
    return f"--model '{input.model[0]}'" if len(input.model) else ""


def samples_root(wildcards, input) -> str:
    """``R/samples`` from the first ``R/samples/{n}gpu/epoch{e}`` input."""
    return str(Path(input.samples[0]).parent.parent)


def _safely(summarize: Callable[..., str], *args) -> str:
    try:
        return summarize(*args)
    except (CycleAugError, OSError) as exc:
        return f"(not available: {exc})"


def fig4_findings(wildcards, input) -> str:
    return _safely(fig4.findings, list(input.logs))


def fig6_findings(wildcards, input) -> str:
    return _safely(fig6.findings, input.fid)


def table2_findings(wildcards, input) -> str:
    return _safely(table2.findings, input.table)
