"""`snakemake --lint` with one lint left out: "Specify a conda environment or container for each rule".

Every rule runs in the environment Snakemake itself runs in: common.smk imports the cycleaug package
while the Snakefile is parsed, so Snakemake must already run in the project's venv, and a per-rule
conda environment or container could only repeat it (README, "Configuration"). Any other lint fails.

    python tools/lint_workflow.py [SNAKEMAKE ARGS...]      e.g. --profile profiles/demo
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ACCEPTED = "Specify a conda environment or container for each rule."


def remaining_lints(output: str) -> list[str]:
    """The lint blocks of ``snakemake --lint``'s text output, without the ACCEPTED lint."""
    left = []
    for block in re.split(r"\n(?=Lints for )", output):
        if not block.startswith("Lints for "):
            continue
        header, *items = re.split(r"\n(?=\s+\* )", block.strip())
        items = [item for item in items if item.strip().removeprefix("* ").split(":\n")[0] != ACCEPTED]
        if items:
            left.append("\n".join([header, *items]))
    return left


def main(argv: list[str]) -> int:
    snakemake = Path(sys.executable).with_name("snakemake")
    proc = subprocess.run([str(snakemake), "--lint", *argv], capture_output=True, text=True)
    output = proc.stdout + proc.stderr
    if "Lints for " not in output:
        print(output, end="", file=sys.stderr)
        return proc.returncode
    left = remaining_lints(output)
    for block in left:
        print(block + "\n", file=sys.stderr)
    if left:
        return 1
    print(f"snakemake --lint: clean (left out on purpose: {ACCEPTED!r}; see tools/lint_workflow.py)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
