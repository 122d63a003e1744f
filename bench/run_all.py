"""Run every benchmark in bench/ (``make bench``), each in its own process, then print one summary of
the ratios against their baselines and targets. Results: bench/results/<name>.json.

    .venv/bin/python bench/run_all.py [--quick] [--only cyclegan_step,comm] [--out-dir DIR]

Full run on this repository's 2-core CPU: about 10 minutes (cyclegan_step ~1.5-3, fid_speed ~3, comm ~1).
``--quick`` runs each at a tiny size in well under a minute: a smoke test, not a measurement.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import common  # noqa: E402

BENCHMARKS = ["scaling_model", "evaluate_speed", "crop_speed", "fid_speed", "comm", "cyclegan_step", "demo_stages"]


def headline(doc: dict) -> dict:
    """The one figure each benchmark is about, as the benchmark itself wrote it (``headline`` in its JSON)."""
    return dict(doc.get("headline") or {})


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--only", default=None, help="comma-separated subset of " + ",".join(BENCHMARKS))
    p.add_argument("--out-dir", default=str(common.RESULTS))
    args = p.parse_args(argv)
    names = args.only.split(",") if args.only else BENCHMARKS
    unknown = set(names) - set(BENCHMARKS)
    if unknown:
        p.error(f"unknown benchmarks {sorted(unknown)}")
    failed, rows = [], []
    for name in names:
        cmd = [sys.executable, str(HERE / f"{name}.py"), "--out-dir", args.out_dir]
        if args.quick:
            cmd.append("--quick")
        if name == "scaling_model":
            cmd += ["--out-csv", str(Path(args.out_dir) / "scaling_model.csv")]
        print(f"== {name}: {' '.join(cmd[1:])}", flush=True)
        t = time.perf_counter()
        rc = subprocess.run(cmd).returncode
        sec = time.perf_counter() - t
        row = {"benchmark": name, "seconds": sec, "rc": rc}
        out = Path(args.out_dir) / f"{name}.json"
        if rc == 0 and out.exists():
            row.update(headline(json.loads(out.read_text())))
        else:
            failed.append(name)
        rows.append(row)
    common.table(
        rows,
        ["benchmark", "seconds", "figure", "value", "spread", "target", "note"],
        title="summary" + (" (--quick: smoke test, not measurements)" if args.quick else ""),
    )
    if failed:
        print(f"run_all: failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
