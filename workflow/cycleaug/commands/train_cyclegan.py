"""`cycleaug train-cyclegan`: train CycleGAN A <-> B, one process per GPU/CPU worker (see cycleaug.cyclegan.train)."""

from __future__ import annotations

import argparse

HELP = "train CycleGAN between SYNTHIA (A) and BDD100K (B) crops, data-parallel and resumable"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    # Defaults are the paper's settings (Zhu's implementation); the workflow passes config values.
    parser.add_argument("--a", required=True, metavar="DIR", help="domain A crops (SYNTHIA), PNG files")
    parser.add_argument("--b", required=True, metavar="DIR", help="domain B crops (BDD100K), PNG files")
    parser.add_argument(
        "--out",
        required=True,
        metavar="RUN_DIR",
        help="run directory: checkpoints/, train_log.jsonl; an existing checkpoints/latest.pt is resumed",
    )
    g = parser.add_argument_group("model")
    g.add_argument("--ngf", type=int, default=64, help="generator width (default 64)")
    g.add_argument("--ndf", type=int, default=64, help="discriminator width (default 64)")
    g.add_argument("--n-blocks", type=int, default=9, help="residual blocks: 9 at 256 px, 6 at 128 px (default 9)")
    g.add_argument("--lambda-cycle", type=float, default=10.0, help="cycle-consistency weight (default 10)")
    g.add_argument(
        "--lambda-identity",
        type=float,
        default=0.5,
        help="identity weight relative to --lambda-cycle (default 0.5, i.e. 5)",
    )
    g.add_argument(
        "--pool-size", type=int, default=50, help="generated-image pool per discriminator, 0 = off (default 50)"
    )
    g = parser.add_argument_group("optimisation")
    g.add_argument(
        "--lr", type=float, default=0.0002, help="Adam learning rate, not scaled with processes (default 2e-4)"
    )
    g.add_argument("--beta1", type=float, default=0.5, help="Adam beta1 (default 0.5)")
    g.add_argument("--batch-size", type=int, default=1, help="images per process per iteration (default 1)")
    g.add_argument("--n-epochs", type=int, default=100, help="epochs at constant lr (default 100)")
    g.add_argument("--n-epochs-decay", type=int, default=100, help="epochs of linear decay to 0 (default 100)")
    g.add_argument(
        "--epochs",
        type=int,
        default=None,
        metavar="E",
        help="stop after epoch E of the schedule (default: n_epochs + n_epochs_decay); rerun to go on",
    )
    g = parser.add_argument_group("data")
    g.add_argument("--load-size", type=int, default=286, help="resize to this square size (default 286)")
    g.add_argument("--crop-size", type=int, default=256, help="random crop size (default 256)")
    g.add_argument(
        "--shard-scale",
        type=float,
        default=4.0,
        help="each process draws ceil(scale x D / n) samples per epoch (paper: 4)",
    )
    g.add_argument("--workers", type=int, default=4, help="data loader workers per process (default 4)")
    g.add_argument("--seed", type=int, default=0, help="seed of initial weights, shards, crops (default 0)")
    g = parser.add_argument_group("run")
    g.add_argument(
        "--save-epochs",
        type=int,
        nargs="*",
        default=[],
        metavar="E",
        help="epochs whose nets are kept as checkpoints/{E}_net_G_A.pth etc. (the last always is)",
    )
    g.add_argument("--checkpoint-every", type=int, default=1000, help="save checkpoints/latest.pt every N iterations")
    g.add_argument("--log-every", type=int, default=100, help="progress line every N iterations")
    g.add_argument(
        "--backend",
        choices=["torch", "horovod"],
        default="torch",
        help="torch.distributed (NCCL/Gloo) or horovod (default torch)",
    )
    g.add_argument(
        "--device",
        choices=["auto", "cpu", "cuda"],
        default="auto",
        help="auto: GPU LOCAL_RANK if CUDA is available, else CPU",
    )
    g = parser.add_argument_group("speed (defaults: the plain reference step; bench/cyclegan_step.py measures each)")
    g.add_argument(
        "--channels-last",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="NHWC activations (InstanceNorm computed as the equivalent GroupNorm); parameters stay contiguous",
    )
    g.add_argument(
        "--amp",
        choices=["none", "bf16", "fp16", "auto"],
        default="none",
        help="autocast dtype of the forward passes; auto = bf16 where the device runs it natively",
    )
    g.add_argument(
        "--fused-adam",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="torch's fused Adam kernel instead of the per-parameter loop",
    )
    g.add_argument(
        "--compile",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="torch.compile the four nets (compilation takes minutes)",
    )
    g.add_argument(
        "--tf32",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="CUDA: float32 convolutions/matmuls in TF32 (Ampere+); off = IEEE float32",
    )
    g.add_argument(
        "--compression",
        choices=["none", "fp16"],
        default="none",
        help="allreduce gradients in float16 (half the bytes; horovod Compression.fp16)",
    )
    g.add_argument(
        "--cache-images",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="decode+resize each crop once, keep uint8 tensors (same pixels; loader without workers)",
    )


def run(args: argparse.Namespace) -> int:
    from cycleaug.cyclegan.model import FastConfig, ModelConfig
    from cycleaug.cyclegan.train import TrainConfig, train

    cfg = TrainConfig(
        a_dir=args.a,
        b_dir=args.b,
        out_dir=args.out,
        model=ModelConfig(
            ngf=args.ngf,
            ndf=args.ndf,
            n_blocks=args.n_blocks,
            lr=args.lr,
            beta1=args.beta1,
            lambda_cycle=args.lambda_cycle,
            lambda_identity=args.lambda_identity,
            pool_size=args.pool_size,
        ),
        load_size=args.load_size,
        crop_size=args.crop_size,
        batch_size=args.batch_size,
        n_epochs=args.n_epochs,
        n_epochs_decay=args.n_epochs_decay,
        stop_epoch=args.epochs,
        shard_scale=args.shard_scale,
        save_epochs=tuple(args.save_epochs),
        checkpoint_every=args.checkpoint_every,
        log_every=args.log_every,
        workers=args.workers,
        seed=args.seed,
        backend=args.backend,
        device=args.device,
        fast=FastConfig(
            channels_last=args.channels_last,
            amp=args.amp,
            fused_adam=args.fused_adam,
            compile=args.compile,
            tf32=args.tf32,
        ),
        cache_images=args.cache_images,
        compression=args.compression,
    )
    return train(cfg)
