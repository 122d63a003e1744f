"""`cycleaug verdict`: the paper's claims checked against this run (cycleaug.verdict), as Markdown.

    cycleaug verdict --logs results/cyclegan/*/train_log.jsonl --fid results/fid/fid.csv \\
        --table results/tables/table2.csv [--paired results/fid/paired.csv] --out results/verdict.md
"""

from __future__ import annotations

import argparse
import sys

HELP = "claim by claim: does this run reproduce the paper (with the numbers and their intervals)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--logs", required=True, nargs="+", metavar="JSONL", help="CycleGAN train_log.jsonl files")
    parser.add_argument("--fid", required=True, metavar="CSV", help="fid.csv of `cycleaug fid-table`")
    parser.add_argument("--table", required=True, metavar="CSV", help="table2.csv of `cycleaug table2`")
    parser.add_argument("--paired", metavar="CSV", help="paired.csv of `cycleaug paired-distance` (demo data)")
    parser.add_argument("--out", required=True, metavar="MD", help="output Markdown (results/verdict.md)")


def run(args: argparse.Namespace) -> int:
    from cycleaug.verdict import claims, markdown, write_verdict

    items = claims(args.logs, args.fid, args.table, args.paired)
    write_verdict(args.out, items)
    print(markdown(items), file=sys.stderr)
    return 0
