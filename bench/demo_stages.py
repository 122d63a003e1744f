"""Wall time per stage of the last demo run, read from Snakemake's ``benchmark:`` files
(``benchmarks/**/*.tsv``: one row per run of a rule, columns s, h:m:s, max_rss, ..., cpu_time).
Stage = the folder under benchmarks/ (data, cyclegan, generate, detect, evaluate, figures).
Run ``make demo`` first; without benchmark files this reports that and writes an empty table.

    .venv/bin/python bench/demo_stages.py [--benchmarks benchmarks]
"""

from __future__ import annotations

import csv
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402


def read_tsv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def main(argv=None) -> int:
    p = common.parser(__doc__.split("\n\n")[0])
    p.add_argument("--benchmarks", default=str(common.ROOT / "benchmarks"), help="Snakemake benchmark folder")
    args = p.parse_args(argv)
    root = Path(args.benchmarks)
    jobs, stages = [], defaultdict(lambda: {"jobs": 0, "seconds": 0.0, "cpu_seconds": 0.0, "max_rss_mb": 0.0})
    for path in sorted(root.rglob("*.tsv")) if root.is_dir() else []:
        rel = path.relative_to(root)
        stage = rel.parts[0] if len(rel.parts) > 1 else "other"
        for row in read_tsv(path)[-1:]:  # the last run of the rule
            try:
                s = float(row["s"])
            except (KeyError, ValueError):
                continue
            cpu = float(row.get("cpu_time") or 0) if (row.get("cpu_time") or "NA") != "NA" else 0.0
            rss = float(row.get("max_rss") or 0) if (row.get("max_rss") or "NA") != "NA" else 0.0
            jobs.append(
                {"stage": stage, "job": str(rel.with_suffix("")), "seconds": s, "cpu_seconds": cpu, "max_rss_mb": rss}
            )
            st = stages[stage]
            st["jobs"] += 1
            st["seconds"] += s
            st["cpu_seconds"] += cpu
            st["max_rss_mb"] = max(st["max_rss_mb"], rss)
    rows = [{"stage": k, **v} for k, v in sorted(stages.items(), key=lambda kv: -kv[1]["seconds"])]
    total = sum(r["seconds"] for r in rows)
    rows.append({"stage": "total (sum of job times)", "jobs": len(jobs), "seconds": total})
    if not jobs:
        print(f"demo_stages: no benchmark files under {root}; run `make demo` first", file=sys.stderr)
    common.table(
        rows,
        ["stage", "jobs", "seconds", "cpu_seconds", "max_rss_mb"],
        title=f"demo wall time per stage ({root}); the sum exceeds the run's wall time when jobs ran in parallel",
    )
    head = {"figure": "demo job seconds (sum over stages)", "value": total if jobs else None}
    common.write("demo_stages", {"benchmarks": str(root), "stages": rows, "jobs": jobs, "headline": head}, args.out_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
