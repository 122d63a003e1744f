"""What a detector training run (`cycleaug train-yolo`) is configured by: plain dataclass fields without
torch, so the command line reads them without loading torch; each option field carries its default and
help (cycleaug.options), and its flag is the ``detector`` config key of the same name."""

from __future__ import annotations

from dataclasses import dataclass

from cycleaug.options import option
from cycleaug.yolo.semantics import DEFAULT as DEFAULT_SEMANTICS
from cycleaug.yolo.semantics import SEMANTICS


@dataclass
class TrainConfig:
    cfg: str
    train: list[tuple[str, str]]
    val_labels: str
    val_images: str
    out: str
    pretrained: str | None = option(
        None,
        "darknet weights to start from, e.g. darknet53.conv.74 (its first 75 layers); "
        "default: darknet's random initialisation",
    )
    iterations: int | None = option(
        None,
        "updates to run (default: the cfg's max_batches, else darknet's max(6000, 2000 x classes))",
        {"minimum": 1},
        type=int,
    )
    steps: tuple[int, ...] = option(
        (),
        "override [net] steps (the iterations at which the learning rate is scaled by the cfg's scales), e.g. "
        "when --iterations changes a run's length; default: the cfg's",
    )
    eval_every: str = option(
        "darknet",
        "evaluate mAP at darknet's -map cadence (darknet: from max(burn_in, 1000) every max(4 epochs, 100) "
        "iterations, and at the end) or every N iterations",
        metavar="darknet|N",
    )
    darknet_semantics: str = option(
        DEFAULT_SEMANTICS,
        "which AlexeyAB/darknet the training follows: mid-2019 (loss as of 2019-06..10, the paper's time) or "
        "early-2020 (ignore rule with class check, summed and averaged box deltas, iou_normalizer on mse, "
        "2020 multi-scale rules, no 400-iteration floor before the first mAP); see cycleaug.yolo.semantics",
        choices=list(SEMANTICS),
    )
    batch: int | None = option(None, "override [net] batch (images per update)", {"minimum": 1}, type=int)
    subdivisions: int | None = option(
        None, "override [net] subdivisions (mini-batches per update; memory only)", {"minimum": 1}, type=int
    )
    img_size: int | None = option(
        None, "override [net] width and height (square, multiple of 32)", {"minimum": 32, "multipleOf": 32}, type=int
    )
    seed: int = option(0, "seed of initialisation, image draws and augmentation")
    device: str = option("auto", "auto (CUDA when present), cpu, cuda, cuda:N")
    workers: int = option(0, "data-loading worker processes", {"minimum": 0})
    amp: bool = option(False, "mixed precision on CUDA (float16 autocast)")
    eval_batch_size: int = option(8, "images per forward pass in evaluation", {"minimum": 1})
    heldout_labels: str | None = option(
        None,
        "a second, disjoint evaluation split (BDD100K JSON): at the end the best checkpoint is scored on it "
        "too, beside the last checkpoint's mAP, to show how much of the best mAP is selection",
    )
    heldout_images: str | None = option(None, "folder of the --heldout-labels images")
    checkpoint_every: int = option(
        100, "save OUT/last.* every N iterations besides evaluations (darknet: 100)", {"minimum": 1}
    )
    log_interval: float = option(10.0, "seconds between progress lines")
