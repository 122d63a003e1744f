"""`cycleaug plan`: walltimes, GPU-hours and ABCI points of the study before submitting anything.

    cycleaug plan config.yaml profiles/abci/abci.yaml [--rate-hf 7.5 --rate-hg 1.5 --rate-hc 0.5]

The config files are merged in order, as Snakemake's --configfiles does; see cycleaug.plan for the
model behind each number and the source of the default rates.
"""

HELP = "estimate walltimes, GPU-hours and ABCI points of the study's training jobs"


def add_arguments(parser) -> None:
    from cycleaug.plan import RATES_FY2024

    parser.add_argument("configs", nargs="+", metavar="CONFIG", help="config files, later ones override earlier")
    for queue, rate in RATES_FY2024.items():
        parser.add_argument(
            f"--rate-{queue[3:].lower()}",
            type=float,
            default=rate,
            dest=queue,
            help=f"points per node-hour of {queue} (ABCI 3.0 FY2024 tariff)",
        )


def read_configs(paths) -> dict:
    """The config files merged in order, as Snakemake's --configfiles does."""
    from pathlib import Path

    import yaml
    from snakemake.utils import update_config

    from cycleaug.errors import CycleAugError

    config: dict = {}
    for path in paths:
        try:
            update_config(config, yaml.safe_load(Path(path).read_text()) or {})
        except (OSError, yaml.YAMLError) as exc:
            raise CycleAugError(f"{path}: cannot read config ({exc})") from None
    return config


def run(args) -> int:
    from cycleaug.plan import RATES_FY2024, report

    print(report(read_configs(args.configs), {q: getattr(args, q) for q in RATES_FY2024}))
    return 0
