"""Glue of workflow/rules/detect.smk: the Table 2 conditions, the shared image selection, and
`cycleaug select-detector-sets` / `train-yolo` options (flag = config key)."""

from __future__ import annotations

from cycleaug.glue import paths
from cycleaug.glue.acquire import weights_file
from cycleaug.options import command_line, flags, shell_words
from cycleaug.plan import yolo_runtime_minutes
from cycleaug.yolo.conditions import GENERATED, RAW, TRUTH, Condition, aligned_source, train_sets
from cycleaug.yolo.settings import TrainConfig


def select_options(config: dict) -> str:
    det = config["detector"]
    return flags(
        n_real=det["n_real"],
        n_synthetic=det["n_synthetic"],
        seed=config["seed"],
        n_eval=det["n_eval"],
        n_heldout=det.get("n_heldout") or None,
        n_tune=det.get("n_tune") or None,
        n_pretrain=det["pretrain"]["n_images"] if det.get("pretrain") else None,
    )


def selection_outputs(config: dict) -> dict:
    """real.json, synthetic.json, val.json, and heldout.json when detector.n_heldout asks for one."""
    sel = paths.selection_dir(config)
    out = {name: f"{sel}/{name}.json" for name in ("real", "synthetic", "val")}
    for key, name in (("n_heldout", "heldout"), ("n_tune", "tune"), ("pretrain", "pretrain")):
        if config["detector"].get(key):
            out[name] = f"{sel}/{name}.json"
    return out


def heldout_option(config: dict) -> str:
    """``--heldout-labels/--heldout-images`` of train-yolo: the held-out split (BDD100K train images)."""
    if not config["detector"].get("n_heldout"):
        return ""
    return (
        f"--heldout-labels {paths.quote(paths.selection_dir(config) + '/heldout.json')} "
        f"--heldout-images {paths.quote(paths.bdd100k_images(config) + '/100k/train')}"
    )


def aligning(config: dict) -> bool:
    return config["detector"]["align"]["mode"] != "none"


def synthetic_inputs(config: dict, condition: Condition) -> dict:
    """Inputs a condition needs beyond the real selection: its aligned synthetic set (b..), or without
    alignment the raw SYNTHIA folder (b) or the translated images and their labels (c..)."""
    source = aligned_source(condition)
    if aligning(config) and source is not None:
        return {"synthetic_set": paths.aligned_dir(config, source)}
    if condition.synthetic_source in (RAW, TRUTH):
        return {"synthetic_images": paths.synthia_root(config)}
    if condition.synthetic_source == GENERATED:
        return {
            "synthetic_images": paths.generated_images(config, condition.gpus),
            "generated_labels": paths.generated_labels(config, condition.gpus),
        }
    return {}


def train_set_options(config: dict, condition: Condition) -> str:
    """``--train LABELS:IMAGES`` for each set the condition trains on."""
    sets = train_sets(
        condition,
        paths.selection_dir(config),
        f"{paths.bdd100k_images(config)}/100k/train",
        f"{paths.synthia_root(config)}/RGB",
        paths.generated_images(config, "{gpus}"),
        paths.generated_labels(config, "{gpus}"),
        paths.aligned_dir(config, "{source}") if aligning(config) else None,
        paths.paired_truth(config),
    )
    return " ".join(f"--train {paths.quote(f'{labels}:{images}')}" for labels, images in sets)


def backbone(config: dict) -> str:
    """The first detector.pretrain.layers layers of the detector pretrained on the pretraining pool."""
    return f"{paths.detector_dir(config, 'pretrain')}/backbone.conv.{config['detector']['pretrain']['layers']}"


def pretrained_weights(config: dict) -> list[str]:
    """What every condition starts from: darknet53.conv.74 as the acquisition rules verify it
    (detector.pretrained), the workflow's own pretrained backbone (detector.pretrain), or nothing."""
    if config["detector"].get("pretrain"):
        return [backbone(config)]
    return [weights_file(config, "darknet53")] if config["detector"]["pretrained"] else []


def pretrain_options(config: dict) -> str:
    """`cycleaug train-yolo` options of the pretraining run: the cfg, its own length and steps, scored once
    at the end on the tune split, the workflow's seed."""
    det, pre = config["detector"], config["detector"]["pretrain"]
    words = ["--cfg", det["cfg"], "--iterations", str(pre["iterations"]), "--eval-every", str(pre["iterations"])]
    words += ["--steps", *map(str, pre["steps"])] if pre["steps"] else []
    words += ["--seed", str(config["seed"]), "--workers", str(det["workers"]), "--device", config["device"]]
    return shell_words(words)


def train_options(config: dict, seed: int) -> str:
    """`cycleaug train-yolo` options: every config.detector key that is a field of its TrainConfig, by
    the field's flag; the cfg, the run's seed, the workflow's device, and the verified darknet53 weights
    when pretrained."""
    det = config["detector"]
    words = [
        "--cfg",
        det["cfg"],
        *command_line(
            TrainConfig, det, skip=("pretrained", "seed", "heldout_labels", "heldout_images", "steps", "device")
        ),
        *(["--steps", *map(str, det["steps"])] if det.get("steps") else []),
        "--seed",
        str(seed),
        "--device",
        config["device"],
    ]
    weights = pretrained_weights(config)
    if weights:
        words += ["--pretrained", weights[0]]
    return shell_words(words)


def runtime(config: dict, iterations: int | None = None):
    """The rule's runtime resource (minutes), a function of the attempt: see cycleaug.plan."""
    return lambda wildcards, attempt: yolo_runtime_minutes(config, attempt, iterations)


def train_threads(config: dict) -> int:
    """The training process plus its data-loading workers."""
    return config["detector"]["workers"] + 1


def outputs(config: dict, condition: Condition, run: str = "") -> dict[str, str]:
    root = paths.detector_dir(config, condition.name, run)
    return {
        "metrics": paths.metrics(config, condition.name, run),
        "weights": f"{root}/best.weights",
        "eval_log": f"{root}/eval_log.jsonl",
        "val_predictions": f"{root}/val_predictions.json",
        **({"heldout_predictions": f"{root}/heldout_predictions.json"} if config["detector"].get("n_heldout") else {}),
    }


def align_inputs(config: dict):
    """Input function of align_detector_set: the raw selection (source raw) or a translated set (gen{n}gpu)."""

    def inputs(wildcards) -> dict:
        if wildcards.source in ("raw", "truth"):
            return {
                "labels": f"{paths.selection_dir(config)}/synthetic.json",
                "images": paths.synthia_root(config),
            }
        gpus = wildcards.source[3:-3]
        return {"labels": paths.generated_labels(config, gpus), "images": paths.generated_images(config, gpus)}

    return inputs


def align_images_dir(wildcards, input) -> str:
    """The folder the labels' frame names are relative to (SYNTHIA: its RGB folder; the paired truth: its
    PAIRED/RGB folder, the same names)."""
    if wildcards.source == "truth":
        return paths.paired_truth_in(input.images)
    return f"{input.images}/RGB" if wildcards.source == "raw" else input.images


def align_options(config: dict) -> str:
    a = config["detector"]["align"]
    return flags(size=a["size"], mode=a["mode"])
