"""Paths and command-line options of the detector rules (workflow/rules/detect.smk, evaluate.smk).

Kept out of the .smk files so those hold rules only (``snakemake --lint``) and so the config-to-CLI
mapping can be tested. ``config`` is the validated workflow config.
"""

from __future__ import annotations

from cycleaug.generate_rules import detector_selection, generated_images, generated_labels
from cycleaug.yolo.conditions import GENERATED, RAW, Condition, conditions, train_sets


def selection_dir(results: str) -> str:
    """Where `cycleaug select-detector-sets` writes real.json, synthetic.json and val.json; the
    generation stage translates the images of ``synthetic.json`` (cycleaug.generate_rules)."""
    return detector_selection(results).rsplit("/", 1)[0]


def detector_dir(results: str, condition: Condition | str) -> str:
    name = condition if isinstance(condition, str) else condition.name
    return f"{results}/detector/{name}"


def select_args(config: dict) -> str:
    det = config["detector"]
    options = [f"--n-real {det['n_real']}", f"--n-synthetic {det['n_synthetic']}", f"--seed {config['seed']}"]
    if det["n_eval"] is not None:
        options.append(f"--n-val {det['n_eval']}")
    return " ".join(options)


def synthetic_inputs(config: dict, condition: Condition) -> dict:
    """Inputs a condition needs beyond the real selection: the raw SYNTHIA folder (b), or the
    translated images and their labels from the generation stage (c..)."""
    data, results = config["data_dir"], config["results_dir"]
    if condition.synthetic_source == RAW:
        return {"synthetic_images": f"{data}/raw/synthia"}
    if condition.synthetic_source == GENERATED:
        return {
            "synthetic_images": generated_images(results, condition.gpus),
            "generated_labels": generated_labels(results, condition.gpus),
        }
    return {}


def train_set_options(config: dict, condition: Condition) -> str:
    """``--train LABELS:IMAGES`` for each set the condition trains on."""
    data, results = config["data_dir"], config["results_dir"]
    sets = train_sets(
        condition,
        selection_dir(results),
        f"{data}/raw/bdd100k/images/100k/train",
        f"{data}/raw/synthia/RGB",
        generated_images(results, "{gpus}"),
    )
    return " ".join(f"--train {labels}:{images}" for labels, images in sets)


def pretrained_weights(config: dict) -> list[str]:
    """darknet53.conv.74 as the acquisition rules verify it, when the detector starts from it."""
    if not config["detector"]["pretrained"]:
        return []
    from cycleaug.acquire import all_sources

    return [all_sources(config)["darknet53"].path(config["data_dir"])]


def train_options(config: dict) -> str:
    """`cycleaug train-yolo` options from config.detector (cfg, iterations, evaluation, overrides)."""
    det = config["detector"]
    options = [
        f"--cfg {det['cfg']}",
        f"--eval-every {det['eval_every']}",
        f"--seed {config['seed']}",
        f"--workers {det['workers']}",
        f"--checkpoint-every {det.get('checkpoint_every', 100)}",
    ]
    for key in ("iterations", "batch", "subdivisions", "img_size"):
        if det.get(key) is not None:
            options.append(f"--{key.replace('_', '-')} {det[key]}")
    if det.get("amp"):
        options.append("--amp")
    weights = pretrained_weights(config)
    if weights:
        options.append(f"--pretrained {weights[0]}")
    return " ".join(options)


def train_threads(config: dict) -> int:
    """The training process plus its data-loading workers."""
    return config["detector"]["workers"] + 1


def metrics_files(config: dict) -> list[str]:
    return [f"{detector_dir(config['results_dir'], c)}/metrics.json" for c in conditions(config)]


def table2_options(config: dict) -> str:
    """``--metrics NAME=PATH`` per condition in Table 2's order, and ``--paper-scale`` at paper scale
    (the same test as the figures' reference marks: ``figures.paper_reference``)."""
    from cycleaug.figures.captions import paper_reference

    metrics = " ".join(
        f"--metrics {c.name}={detector_dir(config['results_dir'], c)}/metrics.json" for c in conditions(config)
    )
    return metrics + (" --paper-scale" if paper_reference(config) else "")


def table2_files(results: str) -> list[str]:
    return [f"{results}/tables/table2.{ext}" for ext in ("csv", "md", "tex")]


def detector_targets(config: dict) -> list[str]:
    """Everything the detector stages make: every condition's metrics and Table 2."""
    return metrics_files(config) + table2_files(config["results_dir"])
