"""What a CycleGAN run is configured by: network and objective (ModelConfig), speed switches
(FastConfig) and the run itself (TrainConfig). Plain dataclasses without torch, so the command line
(`cycleaug train-cyclegan --help`) and the workflow's glue read them without loading torch; each
field that is a command-line option carries its default and help (cycleaug.options), and its name is
the config key of ``cyclegan`` (``cyclegan.fast`` for FastConfig).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields

from cycleaug.options import field_default, option, option_fields, out_of_bounds


@dataclass
class ModelConfig:
    """Network and objective hyper-parameters (reference defaults; paper: "follow Zhu's implementation")."""

    ngf: int = option(64, "generator width", {"minimum": 1})
    ndf: int = option(64, "discriminator width", {"minimum": 1})
    n_blocks: int = option(9, "residual blocks: 9 at 256 px, 6 at 128 px", {"minimum": 1})
    lr: float = option(
        0.0002, "Adam learning rate (at lr_reference_gpus processes; see --lr-scaling)", {"exclusiveMinimum": 0}
    )
    beta1: float = option(0.5, "Adam beta1", {"minimum": 0, "exclusiveMaximum": 1})
    lambda_cycle: float = option(10.0, "cycle-consistency weight", {"minimum": 0})
    lambda_identity: float = option(0.5, "identity weight relative to --lambda-cycle (0.5: 5)", {"minimum": 0})
    pool_size: int = option(50, "generated-image pool per discriminator, 0 = off", {"minimum": 0})


AMP_MODES = ("none", "bf16", "fp16", "auto")
BACKENDS = ("torch", "horovod")
# Gradient compression for the allreduce (cycleaug.cyclegan.distributed says what each does).
COMPRESSIONS = ("none", "fp16")
# The switches `cyclegan.fast: auto` chooses by measurement (cycleaug.cyclegan.autotune).
SEARCHABLE = ("amp", "channels_last", "fused_adam")


@dataclass
class FastConfig:
    """Speed switches (bench/cyclegan_step.py measures each). The defaults here are the plain
    reference step; config.yaml turns on what helps (see the README's performance section).

    - channels_last: NHWC activations (oneDNN/cuDNN prefer them, and on CPU bf16 convolutions only take
      the AMX path in NHWC). Only the activations change layout: a convolution runs NHWC when its input is
      NHWC, and the parameters, their gradients, the optimizer states and everything communicated or saved
      keep the default contiguous layout (horovod refuses non-contiguous tensors, and the reference loads
      the state dicts as they are). The InstanceNorms run as GroupNorm with one channel per group (the
      same function, Wu & He 2018 Sec. 3.1), because torch's CPU instance_norm backward is wrong for a
      channels_last incoming gradient (tests/test_bench.py checks the swap against NCHW).
    - amp: autocast dtype for the forward passes: bf16, fp16 (with a gradient scaler), none, or auto
      (bf16 where the device runs it natively: a CUDA GPU of compute capability >= 8.0, not the paper's
      V100, which torch only emulates; a CPU with AVX512-BF16/AMX; else none). Losses are computed in
      float32 and the pools keep float32 images, so checkpoints do not depend on it.
    - cache_images: the trainer's data loader decodes and resizes each crop once and keeps uint8 tensors
      (the same pixels as the PIL path; see UnalignedCrops); the model itself does not read it.
    - tf32: on CUDA, let float32 convolutions and matrix products run in TF32 (10-bit mantissa) on
      Ampere and newer GPUs. Off: float32 means IEEE float32, as on the paper's V100s (torch's default
      would run cuDNN convolutions in TF32).
    - fused_adam: torch's fused Adam kernel (one kernel for all parameters; CPU and CUDA) instead of the
      per-tensor loop.
    - compile: torch.compile the four nets (their state dicts keep the reference keys).
    - auto: the switches (of amp, channels_last, fused_adam) to choose by measurement before training
      (cycleaug.cyclegan.autotune); auto_cache: where the choice is kept per device.
    """

    channels_last: bool = option(
        False, "NHWC activations (InstanceNorm computed as the equivalent GroupNorm); parameters stay contiguous"
    )
    amp: str = option(
        "none",
        "autocast dtype of the forward passes; auto = bf16 where the device runs it natively",
        choices=list(AMP_MODES),
    )
    fused_adam: bool = option(False, "torch's fused Adam kernel instead of the per-parameter loop")
    compile: bool = option(False, "torch.compile the four nets (compilation takes minutes)")
    tf32: bool = option(False, "CUDA: float32 convolutions/matmuls in TF32 (Ampere+); off = IEEE float32")
    cache_images: bool = option(
        False, "decode+resize each crop once, keep uint8 tensors (same pixels; loader without workers)"
    )
    auto: tuple[str, ...] = option(
        (),
        "choose these switches by timing them on this device before training: any of amp channels_last "
        "fused_adam (cyclegan.fast: auto gives all three)",
        type=str,
        metavar="SWITCH",
        flag="--fast-auto",
    )
    auto_cache: str = option(
        "",
        "JSON file of measured choices per device (default $XDG_CACHE_HOME/cycleaug/fast_path.json)",
        flag="--fast-cache",
    )


def fast_settings(value) -> dict:
    """FastConfig fields from config.yaml's ``cyclegan.fast``: the string ``auto`` (search amp,
    channels_last and fused_adam; image cache on; tf32 and compile off), or a mapping of switches, in which
    ``auto: true`` searches the searchable switches the mapping does not set itself."""
    if value == "auto":
        return {"auto": SEARCHABLE, "cache_images": True}
    values = dict(value or {})
    if values.pop("auto", False):
        values["auto"] = tuple(k for k in SEARCHABLE if k not in values)
    return values


@dataclass
class TrainConfig:
    """Everything a run depends on; defaults are the paper's (Zhu's) settings."""

    a_dir: str
    b_dir: str
    out_dir: str
    model: ModelConfig = field(default_factory=ModelConfig)
    load_size: int = option(286, "resize to this square size", {"minimum": 16})
    crop_size: int = option(
        256, "random crop size (two stride-2 down-samplings: a multiple of 4)", {"minimum": 16, "multipleOf": 4}
    )
    batch_size: int = option(1, "images per process per iteration (paper: 1)", {"minimum": 1})
    n_epochs: int = option(100, "epochs at constant lr", {"minimum": 0})
    n_epochs_decay: int = option(100, "epochs of linear decay to 0", {"minimum": 0})
    lr_scaling: str = option(
        "none",
        "learning rate x k for n processes: none (k = 1, the paper), linear (k = n / n_ref, Goyal et al. 2017) "
        "or sqrt (k = sqrt(n / n_ref), Malladi et al. 2022 for Adam)",
        choices=["none", "linear", "sqrt"],
    )
    lr_reference_gpus: int = option(1, "n_ref of --lr-scaling: the process count whose lr is --lr", {"minimum": 1})
    warmup_epochs: float = option(
        0.0,
        "epochs over which the lr rises linearly per iteration from --lr to --lr x k (Goyal et al. 2017)",
        {"minimum": 0},
    )
    stop_epoch: int | None = option(
        None,
        "stop after this epoch of the schedule (default: the last); rerun to go on",
        type=int,
        aliases=("--epochs",),
        metavar="E",
    )
    shard_scale: float = option(
        4.0, "each process draws ceil(scale x D / n) samples per epoch (paper: 4)", {"exclusiveMinimum": 0}
    )
    save_epochs: tuple[int, ...] = option(
        (), "epochs whose nets are kept as checkpoints/{E}_net_G_A.pth etc. (the last always is)", metavar="E"
    )
    checkpoint_every: int = option(1000, "save checkpoints/latest.pt every N iterations", {"minimum": 1})
    log_every: int = option(100, "progress line every N iterations", {"minimum": 1})
    sync_every: int = option(
        0,
        "iterations between host-device syncs (the allreduce of the losses and the stop flag; a stop signal "
        "acts within N): 0 = 1 on the CPU, where a sync costs nothing, 10 on a GPU",
        {"minimum": 0},
    )
    workers: int = option(4, "data loader workers per process (unused with --cache-images)", {"minimum": 0})
    seed: int = option(0, "seed of initial weights, shards, crops")
    backend: str = option("torch", "torch.distributed (NCCL/Gloo) or horovod", choices=list(BACKENDS))
    device: str = option("auto", "auto: GPU LOCAL_RANK if CUDA is available, else CPU", choices=["auto", "cpu", "cuda"])
    stop_before_walltime: float = option(
        600.0,
        "in a PBS/Slurm job: save and stop (exit 75, rerun resumes) this many seconds before its walltime; 0 = off",
        {"minimum": 0},
    )
    stage_to: str = option(
        "", "copy the crops to this node-local folder first, once per node (e.g. '$PBS_LOCALDIR' on ABCI)"
    )
    fast: FastConfig = field(default_factory=FastConfig)
    compression: str = option(
        "none", "allreduce gradients in float16 (half the bytes; horovod Compression.fp16)", choices=list(COMPRESSIONS)
    )

    @property
    def total_epochs(self) -> int:
        return schedule_epochs(vars(self))

    @property
    def last_epoch(self) -> int:
        return self.total_epochs if self.stop_epoch is None else min(self.stop_epoch, self.total_epochs)


LR_RULES: tuple[str, ...] = tuple(next(f.metadata["choices"] for f in fields(TrainConfig) if f.name == "lr_scaling"))


def lr_scale(rule: str, n: int, n_ref: int) -> float:
    """k, the factor of --lr-scaling ``rule`` for ``n`` processes; ``n_ref`` processes train at lr itself.
    none: 1 (the paper keeps lr at every count); linear: n / n_ref (Goyal et al. 2017, "Accurate, Large
    Minibatch SGD", Sec. 2.1); sqrt: sqrt(n / n_ref) (the square-root rule for Adam, Malladi et al. 2022)."""
    if rule == "none":
        return 1.0
    return n / n_ref if rule == "linear" else math.sqrt(n / n_ref)


def schedule_epochs(cyclegan: Mapping) -> int:
    """Epochs of the schedule: n_epochs at constant lr, then n_epochs_decay of linear decay (paper: 100 +
    100), from a TrainConfig's fields or config.cyclegan."""
    return cyclegan["n_epochs"] + cyclegan["n_epochs_decay"]


def saved_epochs(cyclegan: Mapping) -> list[int]:
    """Epochs whose generators a run keeps: config.cyclegan.save_epochs within the schedule, and the last."""
    last = schedule_epochs(cyclegan)
    return sorted({e for e in cyclegan["save_epochs"] if e <= last} | {last})


def with_defaults(cyclegan: Mapping) -> dict:
    """config.cyclegan with every hyperparameter it leaves out at its default here: config.yaml sets what
    the paper sets, and the rest of a run's settings have their one home in these dataclasses."""
    options = [f for cls in (ModelConfig, TrainConfig) for f in option_fields(cls)]
    # seed and device are the workflow's own keys (config.seed, config.device), not config.cyclegan's.
    defaults = {f.name: field_default(f) for f in options if f.name not in ("seed", "device")}
    return {**defaults, **cyclegan}


def across_fields(values: Mapping) -> list[str]:
    """The rules between a run's settings that no bound of one field states, by key, from a TrainConfig's
    fields or config.cyclegan (cycleaug.config_check names them cyclegan.<key>)."""
    problems = []
    if schedule_epochs(values) < 1:
        problems.append("n_epochs + n_epochs_decay: must be at least 1 epoch in total")
    if values["crop_size"] > values["load_size"]:
        problems.append(f"crop_size ({values['crop_size']}) must not exceed load_size ({values['load_size']})")
    return problems


def check(cfg: TrainConfig) -> list[str]:
    """What is wrong with a run's settings, one message each: the bounds declared on the fields (the config
    schema states the same for config.cyclegan) and the rules across fields."""
    return out_of_bounds(cfg.model) + out_of_bounds(cfg) + across_fields(vars(cfg))
