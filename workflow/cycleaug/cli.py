"""The `cycleaug` command line: one subcommand per module in `cycleaug.commands`.

Each command module defines ``HELP`` (one line), ``add_arguments(parser)`` and ``run(args) -> int``.
Modules keep heavy imports (torch, matplotlib) inside ``run`` so that ``cycleaug --help`` stays fast.
The subcommand name is the module name with ``_`` replaced by ``-`` (``train_cyclegan`` -> ``train-cyclegan``).
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from cycleaug import commands
from cycleaug.errors import CycleAugError


def command_modules() -> dict[str, str]:
    """Subcommand name -> module path, discovered from the `commands` package."""
    found = {}
    for info in pkgutil.iter_modules(commands.__path__):
        if not info.name.startswith("_"):
            found[info.name.replace("_", "-")] = f"{commands.__name__}.{info.name}"
    return dict(sorted(found.items()))


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cycleaug",
        description="CycleGAN training-data augmentation for person detection (Nishikawa et al.).",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, path in command_modules().items():
        module = importlib.import_module(path)
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
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
