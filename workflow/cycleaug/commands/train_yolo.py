"""`cycleaug train-yolo`: fine-tune a darknet-cfg YOLOv3 person detector with darknet's recipe.

    cycleaug train-yolo --cfg yolov3-person-608.cfg \\
        --train results/detector/sets/real.json:data/raw/bdd100k/images/100k/train \\
        --val-labels results/detector/sets/val.json --val-images data/raw/bdd100k/images/100k/val \\
        --pretrained downloads/darknet53.conv.74 --out results/detector/a_bdd

See ``cycleaug.yolo.train`` for what it does and writes.
"""

HELP = "fine-tune YOLOv3 as darknet does (cfg hyper-parameters, augmentation, yolo loss), keep best mAP@0.50"


def add_arguments(parser) -> None:
    parser.add_argument(
        "--cfg",
        required=True,
        help="darknet .cfg: a path or a shipped name; [net] and [yolo] "
        "give batch, subdivisions, lr policy, momentum, decay, augmentation, anchors, thresholds",
    )
    parser.add_argument(
        "--train",
        action="append",
        required=True,
        metavar="LABELS.json:IMAGES_DIR",
        help="training frames (BDD100K JSON) and their image folder; repeat to add sets",
    )
    parser.add_argument("--val-labels", required=True, help="validation frames (BDD100K JSON)")
    parser.add_argument("--val-images", required=True, help="folder of the validation images")
    parser.add_argument("--out", required=True, help="output folder (resumes from OUT/last.pt when present)")
    parser.add_argument(
        "--pretrained",
        default=None,
        help="darknet weights to start from, e.g. darknet53.conv.74 (its first 75 layers); "
        "default: darknet's random initialisation",
    )
    parser.add_argument(
        "--iterations",
        type=int,
        default=None,
        help="updates to run (default: the cfg's max_batches, else darknet's max(6000, 2000 x classes))",
    )
    parser.add_argument("--eval-every", type=int, default=500, help="evaluate every N iterations (default 500)")
    parser.add_argument("--batch", type=int, default=None, help="override [net] batch (images per update)")
    parser.add_argument(
        "--subdivisions",
        type=int,
        default=None,
        help="override [net] subdivisions (mini-batches per update; memory only)",
    )
    parser.add_argument(
        "--img-size", type=int, default=None, help="override [net] width and height (square, multiple of 32)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of initialisation, image draws and augmentation")
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:N")
    parser.add_argument("--amp", action="store_true", help="mixed precision on CUDA (float16 autocast)")
    parser.add_argument("--workers", type=int, default=0, help="data-loading worker processes (default 0)")
    parser.add_argument("--eval-batch-size", type=int, default=8, help="images per forward pass in evaluation")
    parser.add_argument(
        "--checkpoint-every",
        type=int,
        default=100,
        help="save OUT/last.* every N iterations besides evaluations (darknet: 100)",
    )
    parser.add_argument("--log-interval", type=float, default=10.0, help="seconds between progress lines")


def run(args) -> int:
    from cycleaug.errors import CycleAugError
    from cycleaug.yolo.data import parse_set_spec
    from cycleaug.yolo.train import TrainConfig, train

    for flag in ("iterations", "eval_every", "batch", "subdivisions", "eval_batch_size", "checkpoint_every"):
        value = getattr(args, flag)
        if value is not None and value < 1:
            raise CycleAugError(f"--{flag.replace('_', '-')} {value}: expected a positive integer")
    if args.img_size is not None and (args.img_size < 32 or args.img_size % 32):
        raise CycleAugError(f"--img-size {args.img_size}: expected a positive multiple of 32")
    if args.workers < 0:
        raise CycleAugError(f"--workers {args.workers}: expected 0 or more")
    tc = TrainConfig(
        cfg=args.cfg,
        train=[parse_set_spec(s) for s in args.train],
        val_labels=args.val_labels,
        val_images=args.val_images,
        out=args.out,
        pretrained=args.pretrained,
        iterations=args.iterations,
        eval_every=args.eval_every,
        batch=args.batch,
        subdivisions=args.subdivisions,
        img_size=args.img_size,
        seed=args.seed,
        device=args.device,
        workers=args.workers,
        amp=args.amp,
        eval_batch_size=args.eval_batch_size,
        checkpoint_every=args.checkpoint_every,
        log_interval=args.log_interval,
    )
    return train(tc)
