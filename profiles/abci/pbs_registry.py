"""The job registries the ABCI profile's PBS scripts share (pbs_submit.py, pbs_status.py, pbs_sidecar.py).

Each registry is a file of JSON lines under ``.snakemake/pbs-jobs/`` (relative to Snakemake's working
directory, where all three scripts run), appended with O_APPEND so lines from concurrent processes
never mix:

* ``<pid>.jsonl``: the run's registry, created by the run's sidecar (pbs_sidecar.py, ``<pid>`` is its
  process id), which prints its path as its first line; Snakemake hands that line to every submit and
  status command as ``$SNAKEMAKE_CLUSTER_SIDECAR_VARS``. Its records:

  - ``{"pending": token, "name": rule}`` / ``{"done": token}``: a qsub in flight (pbs_submit.py);
  - ``{"jobid": id, "name": rule}``: a job submitted, or re-attached to, by pbs_submit.py;
  - ``{"jobid": id, "finished": state}``: pbs_status.py reported it ``success`` or ``failed``;
  - ``{"cancelled": [id, ...]}``: the sidecar's qdel at the end of the run.

* ``submitted.jsonl``: every job submitted from this folder, ``{"key": target, "jobid": id}``
  (pbs_submit.py, which re-attaches to a job of the same target still queued or running).

A module, not a script: the scripts beside it put their own folder on ``sys.path`` and import it.
Only the standard library, so it runs with the login node's python3 as well as the venv's.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

REGISTRY_DIR = Path(".snakemake/pbs-jobs")
# Every job submitted from this working directory, by what it computes (beside the runs' registries).
SUBMITTED = REGISTRY_DIR / "submitted.jsonl"
# Each job's exit record: the wrapped job script (pbs_submit.py) writes its exit status there, under the
# job's id, so that pbs_status.py tells success from failure after PBS has forgotten the job.
EXIT_DIR = Path(os.environ.get("CYCLEAUG_PBS_EXIT_DIR", ".snakemake/pbs-exit"))
# Where Snakemake's cluster-generic executor hands the sidecar's first line to submit and status commands.
SIDECAR_VARS = "SNAKEMAKE_CLUSTER_SIDECAR_VARS"


def run_registry() -> Path | None:
    """The run's registry (from ``$SNAKEMAKE_CLUSTER_SIDECAR_VARS``); None without a sidecar."""
    registry = os.environ.get(SIDECAR_VARS)
    return Path(registry) if registry else None


def read_registry(path: Path) -> tuple[list[tuple[str, str]], set[str], set[str]]:
    """(jobid, name) submitted in order, job ids known finished, submission tokens still in flight."""
    submitted, finished, pending = [], set(), set()
    if not path.exists():
        return submitted, finished, pending
    for line in path.read_text().splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut by a crash mid-write
        if "cancelled" in rec:
            continue
        if "finished" in rec:
            finished.add(rec["jobid"])
        elif "pending" in rec:
            pending.add(rec["pending"])
        elif "done" in rec:
            pending.discard(rec["done"])
        elif "jobid" in rec:
            submitted.append((rec["jobid"], rec.get("name", "")))
    return submitted, finished, pending


def append(path: Path, record: dict) -> None:
    """One line per record with O_APPEND: lines from concurrent submit/status processes never mix."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (json.dumps(record) + "\n").encode())
    finally:
        os.close(fd)
