"""The `cycleaug` command line: the subcommands in :data:`COMMANDS`, each a module of `cycleaug.commands`.

Each command module defines ``HELP`` (one line), ``add_arguments(parser)`` and ``run(args) -> int``.
Modules keep heavy imports (torch, matplotlib) inside ``run`` so that ``cycleaug --help`` stays fast.
Help shows every option's default (ArgumentDefaultsHelpFormatter): defaults are written once, in
``add_argument`` or on a settings dataclass (cycleaug.options).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from cycleaug.errors import CycleAugError

# Subcommand -> module, in the order of the workflow (Fig. 1): search for a name to find its code.
COMMANDS = {
    "fetch": "cycleaug.commands.fetch",
    "demo-data": "cycleaug.commands.demo_data",
    "boxes": "cycleaug.commands.boxes",
    "crop": "cycleaug.commands.crop",
    "train-cyclegan": "cycleaug.commands.train_cyclegan",
    "generate": "cycleaug.commands.generate",
    "fid": "cycleaug.commands.fid",
    "fid-table": "cycleaug.commands.fid_table",
    "paired-distance": "cycleaug.commands.paired_distance",
    "select-detector-sets": "cycleaug.commands.select_detector_sets",
    "align-images": "cycleaug.commands.align_images",
    "yolo-init": "cycleaug.commands.yolo_init",
    "yolo-partial": "cycleaug.commands.yolo_partial",
    "train-yolo": "cycleaug.commands.train_yolo",
    "detect": "cycleaug.commands.detect",
    "evaluate": "cycleaug.commands.evaluate",
    "table2": "cycleaug.commands.table2",
    "scaling-model": "cycleaug.commands.scaling_model",
    "plan": "cycleaug.commands.plan",
    "doctor": "cycleaug.commands.doctor",
    "figure": "cycleaug.commands.figure",
    "verdict": "cycleaug.commands.verdict",
    "ablation-lr": "cycleaug.commands.ablation_lr",
}


class _Formatter(argparse.ArgumentDefaultsHelpFormatter):
    """Defaults in the help, except where there is none to show."""

    def _get_help_string(self, action):
        if action.default is None or action.default is False or action.default in ([], ()) or action.required:
            return action.help
        return super()._get_help_string(action)


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cycleaug",
        description="CycleGAN training-data augmentation for person detection (Nishikawa et al.).",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, path in COMMANDS.items():
        module = importlib.import_module(path)
        p = sub.add_parser(name, help=module.HELP, description=module.HELP, formatter_class=_Formatter)
        module.add_arguments(p)
        p.set_defaults(_run=module.run, _name=name)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = get_args_parser().parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except CycleAugError as exc:
        print(f"cycleaug {args._name}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"cycleaug {args._name}: interrupted", file=sys.stderr)
        return 130
