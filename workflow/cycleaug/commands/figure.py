"""`cycleaug figure {fig4,fig5,fig6,table2}`: draw one of the paper's figures as PNG + PDF.

    cycleaug figure fig4 --logs results/cyclegan/4gpu/train_log.jsonl results/cyclegan/64gpu/train_log.jsonl \\
        [--model results/bench/scaling_model.csv] [--paper-reference] --out results/figures/fig4_scaling.png
    cycleaug figure fig5 --samples-root results/samples --gpus 4 128 512 --epochs 1 100 200 \\
        --inputs-dir data/crops/synthia_heldout --n-inputs 4 [--truth-dir data/raw/synthia/PAIRED/RGB] \
        --out results/figures/fig5_samples.png
    cycleaug figure fig6 --fid results/fid/fid.csv [--paired results/fid/paired.csv] [--paper-reference] \
        --out results/figures/fig6_fid.png
    cycleaug figure table2 --table results/tables/table2.csv --out results/figures/table2.png

``--out`` names the PNG (or the PDF); both are written, under their final names only once both are complete.
"""

from __future__ import annotations

import argparse
import sys

HELP = "draw Fig. 4 (scaling), Fig. 5 (samples), Fig. 6 (FID) or Table 2 as PNG + PDF"


def _out(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--out",
        required=True,
        metavar="PNG",
        help="output path ending in .png or .pdf; the PNG (150 dpi) and the vector PDF are both written",
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="figure", metavar="FIGURE", required=True)

    p = sub.add_parser("fig4", help="speed-up of CycleGAN training vs GPU count (paper Fig. 4)")
    p.add_argument(
        "--logs",
        nargs="+",
        required=True,
        metavar="JSONL",
        help="train_log.jsonl of each GPU count (one JSON line per epoch with epoch, seconds, world_size)",
    )
    p.add_argument("--model", metavar="CSV", help="scaling-model prediction (columns gpus, predicted_speedup)")
    p.add_argument(
        "--paper-reference",
        action="store_true",
        help="mark the paper's 93.8x at 512 GPUs (only drawn when the smallest count is 4)",
    )
    _out(p)

    p = sub.add_parser("fig5", help="sample grid: the same SYNTHIA inputs per GPU count and epoch (paper Fig. 5)")
    p.add_argument(
        "--samples-root", required=True, metavar="DIR", help="directory holding {n}gpu/epoch{e}/*.png translations"
    )
    p.add_argument("--gpus", nargs="+", type=int, required=True, help="GPU counts, one column each")
    p.add_argument("--epochs", nargs="+", type=int, required=True, help="epochs, one row each")
    p.add_argument(
        "--inputs-dir", required=True, metavar="DIR", help="the untranslated crops, same file names as the samples"
    )
    p.add_argument("--n-inputs", type=int, default=4, help="inputs shown, one block each")
    p.add_argument(
        "--truth-dir",
        metavar="DIR",
        help="demo data: the paired BDD-style renderings (synthia/PAIRED/RGB), shown beside each input",
    )
    _out(p)

    p = sub.add_parser("fig6", help="FID vs epoch, one curve per GPU count (paper Fig. 6)")
    p.add_argument(
        "--fid", required=True, metavar="CSV", help="fid.csv with columns gpus, epoch, fid, n_real, n_fake, weights"
    )
    p.add_argument(
        "--paper-reference",
        action="store_true",
        help="mark the paper's epoch-200 FIDs (not drawn for random-feature FID)",
    )
    p.add_argument(
        "--paired",
        metavar="CSV",
        help="paired.csv of `cycleaug paired-distance` (demo data): adds L1 and SSIM to the paired truth",
    )
    _out(p)

    p = sub.add_parser("table2", help="Table 2 as a figure-quality table")
    p.add_argument("--table", required=True, metavar="CSV", help="table2.csv of the evaluation step")
    _out(p)


def run(args: argparse.Namespace) -> int:
    from cycleaug.figures.style import output_pair, save_figure

    output_pair(args.out)  # reject a bad --out before reading anything
    if args.figure == "fig4":
        from cycleaug import paper
        from cycleaug.figures import fig4

        runs = [fig4.read_log(p) for p in args.logs]
        model = fig4.read_model(args.model) if args.model else None
        base = min(r.gpus for r in runs)
        if args.paper_reference and base != paper.BASE_GPUS:
            print(
                f"cycleaug figure fig4: paper reference not drawn: the paper's speed-up is relative to "
                f"{paper.BASE_GPUS} GPUs, this run's smallest count is {base}",
                file=sys.stderr,
            )
        fig = fig4.build_fig4(runs, model, args.paper_reference)
        summary = fig4.findings(args.logs)
    elif args.figure == "fig5":
        from cycleaug.figures import fig5

        names = fig5.choose_inputs(args.samples_root, args.gpus, args.epochs, args.inputs_dir, args.n_inputs)
        fig = fig5.build_fig5(
            args.samples_root, args.gpus, args.epochs, args.inputs_dir, names, truth_dir=args.truth_dir
        )
        summary = f"{len(names)} inputs x {len(args.epochs)} epochs x {len(args.gpus)} GPU counts"
    elif args.figure == "fig6":
        from cycleaug.figures import fig6

        rows = fig6.read_fid(args.fid)
        if args.paper_reference and fig6.is_random(rows):
            print(
                "cycleaug figure fig6: paper reference not drawn: random-feature FID is not comparable", file=sys.stderr
            )
        from cycleaug.paired import read_paired

        paired = read_paired(args.paired) if args.paired else None
        fig = fig6.build_fig6(rows, args.paper_reference, paired)
        summary = fig6.findings(args.fid, args.paired)
    else:
        from cycleaug.figures import table2

        fig = table2.build_table2(*table2.read_table2(args.table))
        summary = table2.findings(args.table)
    png, pdf = save_figure(fig, args.out)
    print(f"{summary}\nwrote {png} and {pdf}", file=sys.stderr)
    return 0
