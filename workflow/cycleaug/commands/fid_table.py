"""`cycleaug fid-table`: FID of many generated sets against one real set, written as one CSV (Fig. 6).

    cycleaug fid-table --real data/crops/bdd100k \
        --runs 4:100:results/samples/4gpu/epoch100 4:200:results/samples/4gpu/epoch200 \
        --out results/fid/fid.csv --weights random-init --cache-dir results/fid/cache

Columns: cycleaug.fid.table.FID_TABLE_COLUMNS (FID and KID per run). The real set's statistics
are computed once (and cached with --cache-dir); the network is loaded once.
"""

from __future__ import annotations

import argparse

from cycleaug.commands.fid import add_common_arguments

HELP = "FID of generated sets (one per GPU count and epoch) against a real set, as a CSV"


def add_runs_argument(parser: argparse.ArgumentParser) -> None:
    """``--runs GPUS:EPOCH:DIR ...`` (cycleaug.fid.table.Run), as fid-table and paired-distance take them."""
    parser.add_argument(
        "--runs",
        required=True,
        nargs="+",
        metavar="GPUS:EPOCH:DIR",
        help="translated held-out crops per GPU count and epoch, e.g. 4:200:results/samples/4gpu/epoch200",
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--real", required=True, metavar="DIR", help="real image directory (BDD crops)")
    add_runs_argument(parser)
    parser.add_argument("--out", required=True, metavar="CSV", help="output CSV (results/fid/fid.csv)")
    add_common_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from cycleaug.fid.table import Run, fid_table

    runs = [Run.parse(text) for text in args.runs]
    fid_table(
        args.real,
        runs,
        args.out,
        weights=args.weights,
        dims=args.dims,
        batch_size=args.batch_size,
        device=args.device,
        workers=args.workers,
        cache_dir=args.cache_dir,
    )
    return 0
