"""Glue of workflow/rules/data.smk: paths and `cycleaug demo-data`, `boxes` and `crop` options.
Flags are named after their config keys."""

from __future__ import annotations

from cycleaug.glue import paths
from cycleaug.options import flags


def bdd100k_label_file(config: dict, split: str) -> str:
    """The raw label file of ``split`` in the configured release (data.bdd100k.label_format)."""
    return paths.raw_bdd100k_labels(config, config["data"]["bdd100k"]["label_format"], split)


def demo_data_options(config: dict) -> str:
    demo = config["data"]["demo"]
    return flags(
        seed=config["seed"],
        n_bdd_train=demo["n_bdd_train"],
        n_bdd_val=demo["n_bdd_val"],
        n_synthia=demo["n_synthia"],
        bdd_size=demo["bdd_size"],
        synthia_size=demo["synthia_size"],
    )


def bdd100k_box_options(config: dict) -> str:
    bdd = config["data"]["bdd100k"]
    return flags(
        label_format=bdd["label_format"],
        include_rider=bdd["include_rider"],
        include_other_person=bdd["include_other_person"],
    )


def synthia_override(config: dict) -> list[str]:
    """The hand-made SYNTHIA box file as a rule input: [path], or [] when none is configured."""
    path = config["data"]["synthia"].get("boxes_override")
    return [path] if path else []


def synthia_box_options(config: dict) -> str:
    # The demo writes RAND-CITYSCAPES-style labels; every release setting reads them (RAND-CVPR16
    # falls back to the class channel of GT/LABELS when there is no GTTXT folder).
    syn = config["data"]["synthia"]
    return flags(release=syn["release"], min_box_area=syn["min_box_area"], boxes=syn.get("boxes_override") or None)


def crop_options(config: dict, domain: str) -> str:
    """`cycleaug crop` options from config.crop for one domain ("bdd100k" or "synthia")."""
    crop = config["crop"]
    return flags(
        size=crop["size"],
        min_height=crop["min_height"],
        seed=config["seed"],
        max_failure_fraction=crop["max_failure_fraction"],
        max_images=crop["max_images"][domain],
        n_heldout=crop["n_heldout"] if domain == "synthia" else None,
    )
