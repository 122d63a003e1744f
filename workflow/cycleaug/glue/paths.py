"""Where every stage's outputs live, as functions of the config (``data_dir``, ``results_dir``). A
``gpus`` or ``epoch`` may be a Snakemake wildcard such as ``"{gpus}"``."""

from __future__ import annotations

import re
import shlex

_WILDCARD = re.compile(r"(\{(?:gpus|epoch|source|split)\})")


def quote(path: str) -> str:
    """``path`` as one shell word (shlex.quote, so a ``data_dir`` with a space or quote survives), with the
    Snakemake wildcards it may hold (``{gpus}``) left outside the quotes to be filled in."""
    return "".join(
        piece if i % 2 else shlex.quote(piece) for i, piece in enumerate(_WILDCARD.split(str(path))) if piece
    )


def data(config: dict) -> str:
    return config["data_dir"]


def results(config: dict) -> str:
    return config["results_dir"]


# ---- data stage


def raw_bdd100k_labels(config: dict, label_format: str, split: str) -> str:
    """The raw BDD100K label file of ``split`` in a release's layout (legacy or det20)."""
    if label_format == "det20":
        return f"{data(config)}/raw/bdd100k/labels/det_20/det_{split}.json"
    return f"{data(config)}/raw/bdd100k/labels/bdd100k_labels_images_{split}.json"


def bdd100k_images(config: dict) -> str:
    return f"{data(config)}/raw/bdd100k/images"


def synthia_root(config: dict) -> str:
    return f"{data(config)}/raw/synthia"


def paired_truth(config: dict) -> str:
    """The demo generator's BDD-style renderings of the SYNTHIA-like scenes, under the SYNTHIA images' names
    (cycleaug.data.demo): the paired ground truth of a translation."""
    return paired_truth_in(synthia_root(config))


def paired_truth_in(synthia: str) -> str:
    """The paired truth inside a SYNTHIA folder (a rule's input, when the folder is what a rule makes)."""
    return f"{synthia}/PAIRED/RGB"


def labels(config: dict, name: str) -> str:
    """Normalised person labels: ``bdd100k_train``, ``bdd100k_val`` or ``synthia``."""
    return f"{data(config)}/labels/{name}.json"


def crops(config: dict, name: str) -> str:
    """Person-centred crops: ``bdd100k``, ``synthia`` or ``synthia_heldout``."""
    return f"{data(config)}/crops/{name}"


# ---- CycleGAN stage


def cyclegan_dir(config: dict, gpus: int | str) -> str:
    return f"{results(config)}/cyclegan/{gpus}gpu"


def run_net(folder: str, epoch: int | str) -> str:
    """The generator A->B a training run in ``folder`` keeps after ``epoch``."""
    return f"{folder}/checkpoints/{epoch}_net_G_A.pth"


def run_log(folder: str) -> str:
    return f"{folder}/train_log.jsonl"


def cyclegan_net(config: dict, gpus: int | str, epoch: int | str) -> str:
    return run_net(cyclegan_dir(config, gpus), epoch)


def train_log(config: dict, gpus: int | str) -> str:
    return run_log(cyclegan_dir(config, gpus))


# ---- generation stage


def sample_dir(config: dict, gpus: int | str, epoch: int | str) -> str:
    """Translated held-out crops of one model: the inputs of Fig. 5 and of one point of Fig. 6."""
    return f"{results(config)}/samples/{gpus}gpu/epoch{epoch}"


def generated_images(config: dict, gpus: int | str) -> str:
    return f"{results(config)}/generated/{gpus}gpu/images"


def generated_labels(config: dict, gpus: int | str) -> str:
    return f"{results(config)}/generated/{gpus}gpu/labels.json"


def fid_csv(config: dict) -> str:
    return f"{results(config)}/fid/fid.csv"


def paired_csv(config: dict) -> str:
    """Distance of translated crops to their paired ground truth (demo data only)."""
    return f"{results(config)}/fid/paired.csv"


def fid_cache(config: dict) -> str:
    return f"{results(config)}/fid/cache"


# ---- detector stage


def aligned_dir(config: dict, source: str) -> str:
    """A synthetic detector set brought to the real images' size: ``source`` raw (condition b) or
    gen{n}gpu (the set translated by the CycleGAN of n GPUs); images/ and labels.json."""
    return f"{results(config)}/detector/aligned/{source}"


def selection_dir(config: dict) -> str:
    """real.json, synthetic.json and val.json of `cycleaug select-detector-sets`; the generation stage
    translates the images of synthetic.json."""
    return f"{results(config)}/detector/selection"


def detector_dir(config: dict, condition: str, run: str = "") -> str:
    """A condition's training run; ``run`` names a repeat with another seed (``seed1``), inside it."""
    return f"{results(config)}/detector/{condition}" + (f"/{run}" if run else "")


def metrics(config: dict, condition: str, run: str = "") -> str:
    """A condition's best evaluation (`cycleaug train-yolo`), the input of Table 2."""
    return f"{detector_dir(config, condition, run)}/metrics.json"


def table2_files(config: dict) -> list[str]:
    return [f"{results(config)}/tables/table2.{ext}" for ext in ("csv", "md", "tex")]


def contrasts(config: dict) -> list[str]:
    """contrasts.csv (the claim-2 comparisons on the held-out split) when there is a held-out split."""
    return [f"{results(config)}/tables/contrasts.csv"] if config["detector"].get("n_heldout") else []


# ---- figures


FIGURE_NAMES = ("fig4_scaling", "fig5_samples", "fig6_fid", "table2")


def figure(config: dict, name: str, ext: str) -> str:
    return f"{results(config)}/figures/{name}.{ext}"


def verdict(config: dict) -> str:
    """The paper's claims checked against this run (`cycleaug verdict`)."""
    return f"{results(config)}/verdict.md"


def scaling_model_csv(config: dict) -> str:
    return f"{results(config)}/scaling/model.csv"


# ---- beyond the paper: the learning-rate scaling ablation (`snakemake ablation_lr`)


def ablation_lr(config: dict, rule: str) -> str:
    return f"{results(config)}/ablation/lr_{rule}"


def ablation_lr_seed(config: dict, rule: str, seed: int | str) -> str:
    """One rule's runs and tables of one seed."""
    return f"{ablation_lr(config, rule)}/seed{seed}"


def ablation_lr_run(config: dict, rule: str, seed: int | str, gpus: int | str) -> str:
    """A run of the ablation's own (one that is not a main run, see glue.common.lr_ablation_runs)."""
    return f"{ablation_lr_seed(config, rule, seed)}/{gpus}gpu"


def ablation_lr_samples(config: dict, rule: str, seed: int | str, gpus: int | str, epoch: int | str) -> str:
    return f"{ablation_lr_run(config, rule, seed, gpus)}/samples/epoch{epoch}"


def ablation_lr_verdict(config: dict) -> str:
    return f"{results(config)}/ablation/verdict.md"
