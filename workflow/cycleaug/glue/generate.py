"""Glue of workflow/rules/generate.smk: samples per GPU count (one job for all its saved epochs), the
translated detector sets, and `cycleaug fid-table`'s runs and options."""

from __future__ import annotations

import shlex

from cycleaug.cyclegan.settings import saved_epochs, schedule_epochs
from cycleaug.glue import paths
from cycleaug.glue.acquire import weights_file
from cycleaug.options import flags
from cycleaug.plan import fid_runtime_minutes


def final_net(config: dict, gpus: int | str) -> str:
    """The generator of the schedule's last epoch, which translates the detector's SYNTHIA images."""
    return paths.cyclegan_net(config, gpus, schedule_epochs(config["cyclegan"]))


def saved_nets(config: dict):
    """Input function: the generators of the ``{gpus}`` count's saved epochs, in order."""

    def nets(wildcards) -> list[str]:
        return [paths.cyclegan_net(config, wildcards.gpus, e) for e in saved_epochs(config["cyclegan"])]

    return nets


def saved_sample_dirs(config: dict, gpus: int | str) -> list[str]:
    """One sample folder per saved epoch of one GPU count, in the order of saved_nets."""
    return [paths.sample_dir(config, gpus, e) for e in saved_epochs(config["cyclegan"])]


def checkpoint_output_pairs(wildcards, input, output) -> str:
    """``--checkpoint NET --output DIR`` per saved epoch for `cycleaug generate`."""
    return " ".join(
        f"--checkpoint {shlex.quote(net)} --output {shlex.quote(out)}"
        for net, out in zip(input.nets, output, strict=True)
    )


def fid_runs(config: dict) -> str:
    """``--runs`` of `cycleaug fid-table`: one ``GPUS:EPOCH:DIR`` per GPU count and saved epoch."""
    return " ".join(
        paths.quote(f"{n}:{e}:{paths.sample_dir(config, n, e)}")
        for n in config["cyclegan"]["gpu_counts"]
        for e in saved_epochs(config["cyclegan"])
    )


def fid_weights_file(config: dict) -> list[str]:
    """The FID Inception weights the fid rule reads: the verified copy the acquisition rules make, for
    ``fid.weights: pretrained``; nothing for ``random-init``."""
    if config["fid"]["weights"] != "pretrained":
        return []
    return [weights_file(config, "inception")]


def fid_options(config: dict) -> str:
    """``--weights``, ``--dims`` and ``--batch-size`` of `cycleaug fid-table` from config.fid; the device."""
    fid, weights = config["fid"], fid_weights_file(config)
    return flags(
        weights=weights[0] if weights else "random-init",
        dims=fid["dims"],
        batch_size=fid["batch_size"],
        device=config["device"],
    )


def fid_runtime(config: dict):
    """The fid rule's runtime resource (minutes), a function of the attempt: see cycleaug.plan."""
    return lambda wildcards, attempt: fid_runtime_minutes(config, attempt)


def generate_options(config: dict) -> str:
    """``--batch-size`` and ``--device`` of `cycleaug generate`."""
    return flags(batch_size=config["generate"]["batch_size"], device=config["device"])


def detector_selection(config: dict) -> str:
    """The SYNTHIA images chosen for the detector, which the last generator translates."""
    return f"{paths.selection_dir(config)}/synthetic.json"
