"""`cycleaug demo-data`: small BDD100K-like and SYNTHIA-like sets in the real on-disk formats.

cycleaug demo-data --out data/raw --seed 0 --bdd-size 320 180 --synthia-size 320 190
"""

HELP = "generate the demo data sets (BDD100K-like photos, SYNTHIA-like CG) in the real formats"


def add_arguments(parser):
    parser.add_argument("--out", required=True, help="raw data folder; writes OUT/bdd100k and OUT/synthia")
    parser.add_argument("--seed", type=int, default=0, help="same seed, same files")
    parser.add_argument("--n-bdd-train", type=int, default=200, help="BDD-like train images")
    parser.add_argument("--n-bdd-val", type=int, default=60, help="BDD-like val images")
    parser.add_argument("--n-synthia", type=int, default=200, help="SYNTHIA-like images")
    parser.add_argument(
        "--bdd-size",
        type=int,
        nargs=2,
        default=[1280, 720],
        metavar=("W", "H"),
        help="BDD-like image size (real: 1280 720)",
    )
    parser.add_argument(
        "--synthia-size",
        type=int,
        nargs=2,
        default=[1280, 760],
        metavar=("W", "H"),
        help="SYNTHIA-like image size (RAND-CITYSCAPES: 1280 760)",
    )
    parser.add_argument("--workers", type=int, default=1, help="processes; output does not depend on it")


def run(args) -> int:
    from cycleaug.data.demo import write_demo
    from cycleaug.errors import CycleAugError

    for flag, value in [
        ("--n-bdd-train", args.n_bdd_train),
        ("--n-bdd-val", args.n_bdd_val),
        ("--n-synthia", args.n_synthia),
    ]:
        if value < 1:
            raise CycleAugError(f"{flag} {value}: must be at least 1")
    for flag, (w, h) in [("--bdd-size", args.bdd_size), ("--synthia-size", args.synthia_size)]:
        if w < 32 or h < 32:
            raise CycleAugError(f"{flag} {w} {h}: images must be at least 32x32 pixels")
    write_demo(
        args.out,
        seed=args.seed,
        n_bdd_train=args.n_bdd_train,
        n_bdd_val=args.n_bdd_val,
        n_synthia=args.n_synthia,
        bdd_size=tuple(args.bdd_size),
        synthia_size=tuple(args.synthia_size),
        workers=max(1, args.workers),
    )
    return 0
