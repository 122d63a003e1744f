"""`cycleaug train-cyclegan`: train CycleGAN A <-> B, one process per GPU/CPU worker (see cycleaug.cyclegan.train).

The options are the fields of TrainConfig, ModelConfig and FastConfig (cycleaug.options): their
defaults are the paper's settings (Zhu's implementation) and the flags are config.yaml's
``cyclegan`` keys, which the workflow passes (cycleaug.glue.cyclegan).
"""

from __future__ import annotations

import argparse

HELP = "train CycleGAN between SYNTHIA (A) and BDD100K (B) crops, data-parallel and resumable"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from cycleaug.cyclegan.settings import FastConfig, ModelConfig, TrainConfig
    from cycleaug.options import add_options

    # --domain-a/--domain-b, not --a/--b: a launcher's parser (horovodrun) reads --a as its --autotune.
    parser.add_argument(
        "--domain-a", "--a", dest="a_dir", required=True, metavar="DIR", help="domain A crops (SYNTHIA), PNG files"
    )
    parser.add_argument(
        "--domain-b", "--b", dest="b_dir", required=True, metavar="DIR", help="domain B crops (BDD100K), PNG files"
    )
    parser.add_argument(
        "--out",
        dest="out_dir",
        required=True,
        metavar="RUN_DIR",
        help="run directory: checkpoints/, train_log.jsonl; an existing checkpoints/latest.pt is resumed",
    )
    add_options(parser.add_argument_group("model"), ModelConfig)
    add_options(parser.add_argument_group("run"), TrainConfig)
    add_options(
        parser.add_argument_group("speed (defaults: the plain reference step; bench/cyclegan_step.py measures each)"),
        FastConfig,
    )


def run(args: argparse.Namespace) -> int:
    from cycleaug.cyclegan.settings import FastConfig, ModelConfig, TrainConfig
    from cycleaug.cyclegan.train import train
    from cycleaug.options import from_args

    cfg = from_args(
        TrainConfig,
        args,
        a_dir=args.a_dir,
        b_dir=args.b_dir,
        out_dir=args.out_dir,
        model=from_args(ModelConfig, args),
        fast=from_args(FastConfig, args),
    )
    return train(cfg)
