"""`cycleaug crop`: 256 px crops centred on each image's largest person (paper Step 1).

    cycleaug crop --images data/raw/synthia/RGB --labels data/labels/synthia.json --out data/crops/synthia \
        --size 256 --min-height 64 --max-images 3163 --n-heldout 100 --holdout-out data/crops/synthia_heldout
"""

HELP = "square crops centred on the largest person box of each image, with manifest.csv"


def add_arguments(parser):
    parser.add_argument("--images", required=True, help="folder the frame names in --labels are relative to")
    parser.add_argument("--labels", required=True, help="normalised label file (cycleaug boxes)")
    parser.add_argument("--out", required=True, help="output folder (replaced whole)")
    parser.add_argument("--size", type=int, default=256, help="crop side in pixels (paper: 256)")
    parser.add_argument(
        "--min-height",
        type=float,
        default=0,
        help="keep images whose largest person box is at least this tall (pixels)",
    )
    parser.add_argument(
        "--max-images",
        type=int,
        default=None,
        help="at most this many crops in --out, chosen with --seed (default: all)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the random choice of images")
    parser.add_argument(
        "--n-heldout",
        "--holdout",
        dest="n_heldout",
        type=int,
        default=0,
        help="crops set aside in --holdout-out, chosen with --seed (config crop.n_heldout)",
    )
    parser.add_argument("--holdout-out", help="folder for the held-out crops (replaced whole)")
    parser.add_argument("--workers", type=int, default=1, help="processes")
    parser.add_argument(
        "--max-failure-fraction",
        type=float,
        default=0.01,
        help="fail when more than this fraction of images cannot be read",
    )


def run(args) -> int:
    from cycleaug.data.crop import crop_images
    from cycleaug.errors import CycleAugError

    if args.max_images is not None and args.max_images < 1:
        raise CycleAugError(f"--max-images {args.max_images}: must be at least 1")
    if args.n_heldout < 0:
        raise CycleAugError(f"--n-heldout {args.n_heldout}: must not be negative")
    crop_images(
        args.images,
        args.labels,
        args.out,
        size=args.size,
        min_height=args.min_height,
        max_images=args.max_images,
        seed=args.seed,
        holdout=args.n_heldout,
        holdout_out=args.holdout_out,
        workers=max(1, args.workers),
        max_failure_fraction=args.max_failure_fraction,
    )
    return 0
