"""Glue of workflow/rules/data.smk: paths and `cycleaug demo-data`, `boxes` and `crop` options.
Flags are named after their config keys."""

from __future__ import annotations

from cycleaug.glue import paths


def bdd100k_label_file(config: dict, split: str) -> str:
    """The raw label file of ``split`` in the configured release (data.bdd100k.label_format)."""
    return paths.raw_bdd100k_labels(config, config["data"]["bdd100k"]["label_format"], split)


def demo_data_options(config: dict) -> str:
    demo = config["data"]["demo"]
    return (
        f"--seed {config['seed']} --n-bdd-train {demo['n_bdd_train']} --n-bdd-val {demo['n_bdd_val']} "
        f"--n-synthia {demo['n_synthia']} --bdd-size {demo['bdd_size'][0]} {demo['bdd_size'][1]} "
        f"--synthia-size {demo['synthia_size'][0]} {demo['synthia_size'][1]}"
    )


def bdd100k_box_options(config: dict) -> str:
    bdd = config["data"]["bdd100k"]
    args = f"--label-format {bdd['label_format']}"
    if bdd["include_rider"]:
        args += " --include-rider"
    if bdd["include_other_person"]:
        args += " --include-other-person"
    return args


def synthia_override(config: dict) -> list[str]:
    """The hand-made SYNTHIA box file as a rule input: [path], or [] when none is configured."""
    path = config["data"]["synthia"].get("boxes_override")
    return [path] if path else []


def synthia_box_options(config: dict) -> str:
    # The demo writes RAND-CITYSCAPES-style labels; every release setting reads them (RAND-CVPR16
    # falls back to the class channel of GT/LABELS when there is no GTTXT folder).
    syn = config["data"]["synthia"]
    args = f"--release {syn['release']} --min-box-area {syn['min_box_area']}"
    for path in synthia_override(config):
        args += f" --boxes {paths.quote(path)}"
    return args


def crop_options(config: dict, domain: str) -> str:
    """`cycleaug crop` options from config.crop for one domain ("bdd100k" or "synthia")."""
    crop = config["crop"]
    args = (
        f"--size {crop['size']} --min-height {crop['min_height']} --seed {config['seed']} "
        f"--max-failure-fraction {crop['max_failure_fraction']}"
    )
    if crop["max_images"][domain] is not None:
        args += f" --max-images {crop['max_images'][domain]}"
    if domain == "synthia":
        args += f" --n-heldout {crop['n_heldout']}"
    return args
