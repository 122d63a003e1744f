"""`cycleaug ablation-lr`: the learning-rate scaling ablation's figure and verdict (cycleaug.ablation_lr).

    cycleaug ablation-lr --fid none:0=results/ablation/lr_none/seed0/fid.csv linear:0=... sqrt:0=... \\
        [--paired none:0=results/ablation/lr_none/seed0/paired.csv linear:0=... sqrt:0=...] \\
        --out results/figures/ablation_lr.png --verdict results/ablation/verdict.md
"""

from __future__ import annotations

import argparse
import sys

HELP = "learning-rate scaling ablation: quality vs GPU count per rule, and whether scaling recovers it"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--fid", required=True, nargs="+", metavar="RULE:SEED=CSV", help="fid.csv per lr rule and seed")
    parser.add_argument(
        "--paired", nargs="*", default=[], metavar="RULE:SEED=CSV", help="paired.csv per rule and seed (demo data)"
    )
    parser.add_argument("--out", required=True, metavar="PNG", help="figure path (.png or .pdf; both are written)")
    parser.add_argument("--verdict", required=True, metavar="MD", help="the verdict line, as Markdown")


def run(args: argparse.Namespace) -> int:
    from cycleaug import ablation_lr
    from cycleaug.figures.style import output_pair, save_figure

    output_pair(args.out)  # a bad --out stops before anything is read or drawn
    kid = ablation_lr.read(ablation_lr.parse_pairs(args.fid, "fid"))
    ssim = ablation_lr.read_paired_tables(ablation_lr.parse_pairs(args.paired, "paired")) if args.paired else {}
    decision, line = ablation_lr.judge(kid, ssim)
    text = ablation_lr.markdown(decision, line)
    save_figure(ablation_lr.build_figure(kid, ssim), args.out)
    ablation_lr.write(args.verdict, text)
    print(text, file=sys.stderr)
    return 0
