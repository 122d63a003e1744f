#!/usr/bin/env python3
"""Cancel every PBS job of a Snakemake run that is still queued or running when the run ends.

Snakemake's cluster-generic executor starts this once per run (``cluster-generic-sidecar-cmd`` in
profiles/abci/config.yaml), reads the first line it prints and hands that line to every submit and
status command as ``$SNAKEMAKE_CLUSTER_SIDECAR_VARS``; when the run ends, however it ends, the
executor sends this process SIGTERM and waits for it.

Why: on Ctrl-C Snakemake cancels only the jobs in its in-memory list of active jobs, and its
status-check thread takes the jobs out of that list while it asks about them (pbs_status.py, seconds
per job on a busy server), and a job whose qsub is still in flight is not in it yet. A Ctrl-C in
either window left PBS jobs running (seen as a flaky test). Its cancel command also gets 2 seconds,
which a busy PBS server (or a loaded login node) exceeds. So the profile's cancel command is `true`
and this script does the cancelling, from its own record of the run's jobs:

* the first line printed is the run's registry file (pbs_registry.py describes its records):
  pbs_submit.py records each job the moment qsub has given its id (before Snakemake sees it) and each
  submission in flight, pbs_status.py each job it reports finished;
* on SIGTERM this script waits (bounded) for submissions in flight, then runs ``qdel`` on every
  registered job not known finished that qstat does not report finished, in chunks, with a generous timeout, and says what it cancelled.
  After a successful or failed run nothing is left, so nothing is cancelled.

SIGINT and SIGHUP are ignored: a Ctrl-C reaches the whole foreground process group, and the decision is
Snakemake's (it ends with SIGTERM). If Snakemake dies without ending the run (SIGKILL, a lost login
session), this script exits without cancelling: the jobs go on, and rerunning Snakemake re-attaches.

Only the standard library, so it runs with the login node's python3 as well as the venv's.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pbs_registry import REGISTRY_DIR, append, read_registry  # noqa: E402  (beside this file; only the standard library)
from pbs_status import still_live  # noqa: E402

PENDING_WAIT_S = 120.0  # a qsub in flight on a busy server
QDEL_TIMEOUT_S = 300.0  # per chunk: PBS can take minutes to accept qdel of many large jobs
CHUNK = 50


def cancel_live_jobs(path: Path, qdel: str = "qdel", pending_wait: float = PENDING_WAIT_S) -> list[str]:
    deadline = time.monotonic() + pending_wait
    while True:
        submitted, finished, pending = read_registry(path)
        if not pending or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    # Snakemake's own cancel may have reached some already: ask PBS (once each; qstat failing: cancel).
    live = [(jobid, name) for jobid, name in submitted if jobid not in finished and still_live(jobid)]
    if pending:
        print(
            f"pbs_sidecar.py: {len(pending)} submission(s) still in flight after {pending_wait:.0f} s; "
            "check `qstat -u $USER` for jobs left running",
            file=sys.stderr,
            flush=True,
        )
    if not live:
        return []
    ids = [jobid for jobid, _ in live]
    print(
        f"pbs_sidecar.py: cancelling {len(ids)} PBS job(s) of this run still queued or running: "
        + ", ".join(f"{jobid} ({name})" for jobid, name in live),
        file=sys.stderr,
        flush=True,
    )
    append(path, {"cancelled": ids})
    for i in range(0, len(ids), CHUNK):
        chunk = ids[i : i + CHUNK]
        try:
            proc = subprocess.run([qdel, *chunk], capture_output=True, text=True, timeout=QDEL_TIMEOUT_S)
        except (OSError, subprocess.TimeoutExpired) as exc:
            print(f"pbs_sidecar.py: {qdel} {' '.join(chunk)}: {exc}", file=sys.stderr, flush=True)
            continue
        if proc.returncode != 0:  # e.g. a job that finished meanwhile: nothing left to cancel
            print(f"pbs_sidecar.py: {qdel} said: {proc.stderr.strip()}", file=sys.stderr, flush=True)
    return ids


def main() -> int:
    REGISTRY_DIR.mkdir(parents=True, exist_ok=True)
    path = (REGISTRY_DIR / f"{os.getpid()}.jsonl").resolve()
    path.touch()
    terminated = []
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda signum, frame: terminated.append(signum))
    parent = os.getppid()
    print(path, flush=True)
    while not terminated:
        if os.getppid() != parent:  # Snakemake is gone without ending the run: leave the jobs alone
            return 0
        time.sleep(0.2)
    cancel_live_jobs(path, qdel=os.environ.get("CYCLEAUG_QDEL", "qdel"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
