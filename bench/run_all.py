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


def headline(name: str, doc: dict) -> dict:
    """The one ratio each benchmark is about, with its target."""
    if name == "cyclegan_step":
        return {
            "figure": "training images/s, ours / plain baseline",
            "value": doc.get("speedup_ours"),
            "target": doc.get("target_speedup"),
            "note": "losses within noise" if doc.get("loss_check", {}).get("all_within_noise") else "LOSSES DIFFER",
        }
    if name == "scaling_model":
        c = doc["calibration"]
        return {
            "figure": "predicted efficiency at 512 GPUs (ours, paper hardware)",
            "value": doc["predicted_efficiency_512_ours"],
            "target": doc["target_efficiency_512"],
            "note": f"model {c['model_speedup_512']:.1f}x vs paper {c['paper_speedup_512']}x at 512",
        }
    if name == "fid_speed":
        return {
            "figure": "FID features images/s, cycleaug / pytorch-fid",
            "value": doc["speedup"],
            "target": doc["target_speedup"],
        }
    if name == "evaluate_speed":
        return {
            "figure": "evaluation speed, cycleaug / pycocotools",
            "value": doc["speedup"],
            "target": doc["target_speedup"],
        }
    if name == "crop_speed":
        rows = doc["rows"]
        return {"figure": "crop images/s, 2 workers / 1", "value": rows[-1]["vs_1_worker"] if rows else None}
    if name == "comm":
        m = doc.get("torch", {}).get("methods", {})
        flat, per = m.get("flat", {}).get("median_s"), m.get("per_tensor", {}).get("median_s")
        return {
            "figure": "allreduce speed-up, one flat buffer / per tensor",
            "value": per / flat if flat and per else None,
            "note": f"{(doc.get('bytes_per_iteration_fp32') or 0) / 1e6:.1f} MB per iteration",
        }
    if name == "demo_stages":
        return {"figure": "demo stage seconds (sum)", "value": doc["stages"][-1]["seconds"] if doc["stages"] else None}
    return {}


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
            row.update(headline(name, json.loads(out.read_text())))
        else:
            failed.append(name)
        rows.append(row)
    common.table(
        rows,
        ["benchmark", "seconds", "figure", "value", "target", "note"],
        title="summary" + (" (--quick: smoke test, not measurements)" if args.quick else ""),
    )
    if failed:
        print(f"run_all: failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
