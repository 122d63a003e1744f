"""`cycleaug scaling-model`: the predicted speed-up of CycleGAN training on 4..512 GPUs (Fig. 4's model curve).

    cycleaug scaling-model --out results/scaling/model.csv [--backend torch] [--compression none] [--t-compute 0.12]

An alpha-beta ring-allreduce model calibrated on the paper's two published timings, then applied to this
trainer as configured (what the backend's communication code does: overlap with backward; fp16
gradients with --compression fp16); the formulas, sources and assumptions are in
:mod:`cycleaug.scaling_model`. ``bench/scaling_model.py`` prints the full table.
"""

HELP = "predict the speed-up of CycleGAN training on 4..512 GPUs (alpha-beta model, for Fig. 4)"


def add_arguments(parser) -> None:
    parser.add_argument(
        "--out",
        required=True,
        metavar="CSV",
        help="gpus, predicted_speedup, paper_model_speedup, ours_overlap_fp32_speedup",
    )
    from cycleaug.cyclegan.settings import BACKENDS, COMPRESSIONS

    parser.add_argument("--backend", choices=BACKENDS, default="torch", help="cyclegan.backend")
    parser.add_argument("--compression", choices=COMPRESSIONS, default="none", help="cyclegan.compression")
    parser.add_argument(
        "--t-compute",
        type=float,
        default=None,
        metavar="SECONDS",
        help="compute seconds per iteration of ours (default: fitted on the paper's V100 timings)",
    )


def run(args) -> int:
    from cycleaug.errors import CycleAugError
    from cycleaug.scaling_model import PAPER_SPEEDUP_512, predict, write_csv

    if args.t_compute is not None and not args.t_compute > 0:
        raise CycleAugError(f"--t-compute {args.t_compute}: expected seconds > 0")
    pred = predict(args.t_compute, backend=args.backend, compression=args.compression)
    last = pred.rows[-1]
    write_csv(pred, args.out)
    print(
        f"scaling model: paper configuration {last['paper_model_speedup']:.1f}x at {last['gpus']} GPUs "
        f"(published {PAPER_SPEEDUP_512}x); ours ({args.backend}, compression {args.compression}) "
        f"{last['ours_speedup']:.1f}x ({100 * last['ours_efficiency']:.1f}% efficiency) -> {args.out}"
    )
    return 0
