"""Reading the workflow's own CSV tables (fid.csv, paired.csv): every required column present, each row
parsed by the caller, and errors that name the file, the line and what was expected."""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from cycleaug.errors import CycleAugError

T = TypeVar("T")


def read_table(
    path: str | Path, required: Sequence[str], parse: Callable[[dict], T], what: str, expected: str
) -> list[T]:
    """``parse`` of every row of ``path``. ``what`` names the table in errors ("FID table"), ``expected``
    says what a good value looks like; a missing file, a missing column, a bad value or no rows at all
    is a CycleAugError."""
    path = Path(path)
    try:
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            missing = [c for c in required if c not in (reader.fieldnames or [])]
            if missing:
                raise CycleAugError(f"{path}: missing columns {missing}; expected {', '.join(required)}")
            rows = []
            for lineno, r in enumerate(reader, 2):
                try:
                    rows.append(parse(r))
                except (TypeError, ValueError) as exc:
                    raise CycleAugError(f"{path}:{lineno}: bad value ({exc}); expected {expected}") from None
    except FileNotFoundError:
        raise CycleAugError(f"{path}: {what} not found") from None
    if not rows:
        raise CycleAugError(f"{path}: no rows")
    return rows
