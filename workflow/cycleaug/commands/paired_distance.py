"""`cycleaug paired-distance`: L1 and SSIM of translated held-out crops to their paired ground truth
(demo data only: the BDD-style rendering of each SYNTHIA-like scene), per GPU count and epoch, beside the
untranslated crops' distance and that of a per-channel colour transfer (CIELAB) from the CG to the real
crops' statistics (cycleaug.paired).

    cycleaug paired-distance --truth data/raw/synthia/PAIRED/RGB --heldout data/crops/synthia_heldout \
        --cg data/crops/synthia --real data/crops/bdd100k \
        --runs 1:2:results/samples/1gpu/epoch2 2:2:results/samples/2gpu/epoch2 --out results/fid/paired.csv
"""

from __future__ import annotations

import argparse

from cycleaug.commands.fid_table import add_runs_argument

HELP = "distance of translated held-out crops to their paired ground truth (demo data), as a CSV"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--truth", required=True, metavar="DIR", help="paired renderings (synthia/PAIRED/RGB)")
    parser.add_argument(
        "--heldout", required=True, metavar="DIR", help="held-out SYNTHIA crops with their manifest.csv"
    )
    parser.add_argument(
        "--cg",
        required=True,
        metavar="DIR",
        help="the CycleGAN's CG training crops (data/crops/synthia): source statistics of the colour transfer",
    )
    parser.add_argument(
        "--real",
        required=True,
        metavar="DIR",
        help="the CycleGAN's real-domain training crops (data/crops/bdd100k): target statistics of the colour transfer",
    )
    add_runs_argument(parser)
    parser.add_argument("--out", required=True, metavar="CSV", help="output CSV (results/fid/paired.csv)")
    parser.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples over crops")
    parser.add_argument("--seed", type=int, default=0, help="seed of the bootstrap resamples")


def run(args: argparse.Namespace) -> int:
    from cycleaug.errors import CycleAugError
    from cycleaug.fid.table import Run
    from cycleaug.paired import paired_table

    if args.resamples < 100:
        raise CycleAugError(f"--resamples {args.resamples}: expected at least 100 for a 95% interval")
    paired_table(
        args.truth,
        args.heldout,
        [Run.parse(t) for t in args.runs],
        args.out,
        real_dir=args.real,
        cg_dir=args.cg,
        resamples=args.resamples,
        seed=args.seed,
    )
    return 0
