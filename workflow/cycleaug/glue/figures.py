"""Glue of workflow/rules/figures.smk: each figure's outputs (PNG and PDF, both in the HTML report),
command-line options from the config, and what this run found, one sentence per figure, for the
report captions.

The ``*_findings`` functions are rule params that take ``input``: Snakemake evaluates them when the
job runs and again when ``snakemake --report`` renders the caption (``{{ snakemake.params.findings }}``),
and leaves such input-derived params out of its rerun triggers. Before the inputs exist (a dry run)
they say so instead of failing.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from snakemake.io import report

from cycleaug import paper
from cycleaug.errors import CycleAugError
from cycleaug.figures import fig4, fig6, table2
from cycleaug.glue import paths
from cycleaug.glue.common import gpu_counts, paired_outputs


def figure_outputs(config: dict, name: str, caption: str, label: str, category: str = "Figures") -> dict:
    """``png`` and ``pdf`` of figure ``name``, each in the report under ``label`` with ``caption``
    (a file of workflow/report/)."""
    return {
        ext: report(
            paths.figure(config, name, ext),
            caption=f"../report/{caption}",
            category=category,
            labels={"figure": label, "format": ext.upper()},
        )
        for ext in ("png", "pdf")
    }


def paper_reference(config: dict) -> bool:
    """``figures.paper_reference``: true/false, or "auto": on when the run is at paper scale."""
    setting = config.get("figures", {}).get("paper_reference", "auto")
    if setting == "auto":
        return paper.is_paper_scale(config["cyclegan"]["gpu_counts"], config["data"]["source"])
    return bool(setting)


def paper_reference_option(config: dict) -> str:
    return "--paper-reference" if paper_reference(config) else ""


def scaling_model_inputs(config: dict) -> list[str]:
    """Fig. 4 draws the scaling model (speed-ups over one 4-GPU node) when its own base is 4 GPUs."""
    return [paths.scaling_model_csv(config)] if min(gpu_counts(config)) == paper.BASE_GPUS else []


def train_logs(config: dict) -> list[str]:
    return [paths.train_log(config, n) for n in gpu_counts(config)]


def fig5_sample_dirs(config: dict) -> list[str]:
    return [paths.sample_dir(config, n, e) for n in gpu_counts(config) for e in config["generate"]["sample_epochs"]]


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
    return _safely(fig6.findings, input.fid, input.paired[0] if len(input.paired) else None)


def fig5_truth(config: dict) -> list[str]:
    """The SYNTHIA folder whose PAIRED/RGB holds the demo's paired truths (demo data only)."""
    return [paths.synthia_root(config)] if paired_outputs(config) else []


def truth_option(wildcards, input) -> str:
    """``--truth-dir ROOT/PAIRED/RGB`` for Fig. 5 on demo data."""
    return f"--truth-dir {paths.quote(paths.paired_truth_in(input.truth[0]))}" if len(input.truth) else ""


def verdict_summary(wildcards, input) -> str:
    from cycleaug import verdict  # noqa: PLC0415

    paired = input.paired[0] if len(input.paired) else None
    return _safely(lambda: verdict.summary(verdict.claims(list(input.logs), input.fid, input.table, paired)))


def paired_option(wildcards, input) -> str:
    """``--paired CSV`` when the paired-truth table is among the inputs (demo data only)."""
    return f"--paired '{input.paired[0]}'" if len(input.paired) else ""


def table2_findings(wildcards, input) -> str:
    return _safely(table2.findings, input.table)
