"""`cycleaug doctor`: the preflight of a compute node before the first submission (cycleaug.doctor).

    cycleaug doctor config.yaml profiles/abci/abci.yaml        # e.g. in `qsub -I -q rt_HF`

The config files are merged in order, as Snakemake's --configfiles does. One line per check (ok, warn
or FAIL, and what to fix); exit status 1 when any check fails.
"""

HELP = "check a compute node before the first submission: GPUs, driver, NCCL, disk, backend, a 2-rank allreduce"


def add_arguments(parser) -> None:
    parser.add_argument("configs", nargs="+", metavar="CONFIG", help="config files, later ones override earlier")
    parser.add_argument("--min-free-gb", type=float, default=20.0, help="free space the stage folder needs")
    parser.add_argument(
        "--allreduce-device",
        choices=["auto", "cpu", "cuda"],
        default="auto",
        help="device of the 2-rank allreduce (auto: cuda with device cuda and 2 GPUs here)",
    )


def run(args) -> int:
    from cycleaug.commands.plan import read_configs
    from cycleaug.doctor import FAIL, run_checks

    checks = run_checks(read_configs(args.configs), args.min_free_gb, args.allreduce_device)
    for check in checks:
        print(check.line(), flush=True)
    failed = [c.name for c in checks if c.status == FAIL]
    print(f"doctor: {len(failed)} problem(s)" + (f": {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0
