"""`cycleaug ablation-lr`: the learning-rate scaling ablation's figure and verdict (cycleaug.ablation_lr).

    cycleaug ablation-lr --fid none=results/ablation/lr_none/fid.csv linear=... sqrt=... \\
        [--paired none=results/ablation/lr_none/paired.csv linear=... sqrt=...] \\
        --out results/figures/ablation_lr.png --verdict results/ablation/verdict.md
"""

from __future__ import annotations

import argparse
import sys

HELP = "learning-rate scaling ablation: quality vs GPU count per rule, and whether scaling recovers it"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--fid", required=True, nargs="+", metavar="RULE=CSV", help="fid.csv per lr rule")
    parser.add_argument("--paired", nargs="*", default=[], metavar="RULE=CSV", help="paired.csv per rule (demo)")
    parser.add_argument("--out", required=True, metavar="PNG", help="figure path (.png or .pdf; both are written)")
    parser.add_argument("--verdict", required=True, metavar="MD", help="the verdict line, as Markdown")


def run(args: argparse.Namespace) -> int:
    from cycleaug import ablation_lr
    from cycleaug.figures.style import output_pair, save_figure

    output_pair(args.out)  # a bad --out stops before anything is read or drawn
    tables = ablation_lr.read(ablation_lr.parse_pairs(args.fid, "fid"))
    paired = ablation_lr.read_paired_tables(ablation_lr.parse_pairs(args.paired, "paired")) if args.paired else {}
    decision, line = ablation_lr.verdict(tables)
    text = ablation_lr.markdown(decision, line, ablation_lr.paired_line(paired))
    save_figure(ablation_lr.build_figure(tables, paired), args.out)
    ablation_lr.write(args.verdict, text)
    print(text, file=sys.stderr)
    return 0
