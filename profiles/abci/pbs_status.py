#!/usr/bin/env python3
"""Job status for Snakemake's cluster-generic executor on PBS Professional (ABCI 3.0).

    pbs_status.py 12345.pbs1      # prints exactly one line: running, success or failed

Snakemake calls this every few seconds for each submitted job (``cluster-generic-status-cmd``
in profiles/abci/config.yaml) and needs exactly one of those words on stdout.

* ``qstat -x -f JOBID`` (``-x`` includes finished jobs from the server's job history):
  ``job_state`` F (finished) or X (finished sub-job) -> ``success`` if ``Exit_status`` is 0, else
  ``failed``; any other state (Q queued, R running, E exiting, H held, W waiting, T transiting,
  B begun, S/U suspended, M moved) -> ``running``. A job held by the system (``Hold_Types`` s,
  PBS's reaction to repeated start failures) never runs again by itself -> ``failed``.
* A job PBS no longer knows (``Unknown Job Id``, history expired or disabled): the exit status
  the job wrote itself (pbs_submit.py appends that to every job script) decides; without one the
  job is ``failed``. Snakemake never waits for a job that no longer exists.
* With the run's sidecar (pbs_sidecar.py), a finished job is recorded in its registry, so the
  sidecar's cancel at the end of the run leaves it alone.
* ``qstat`` itself failing otherwise (server unreachable) is retried; if it keeps failing, the job's
  own exit record decides when there is one, and otherwise the job is reported ``running``: a qstat
  outage must not stop Snakemake ("Failed to obtain job status") and leave its jobs unattended. Only a
  missing qstat (not a PBS node) exits non-zero.

PBS Professional's ``Exit_status``: the job script's exit code (0-255); 256 + N when the job was
killed by signal N (so 271 = SIGTERM, the walltime kill of older PBS Pro); negative values are the
server's own ``JOB_EXEC_*`` codes (openpbs src/include/job.h: -1 ... -23), and newer PBS Pro adds
-25 JOB_EXEC_KILL_NCPUS_SUM, -27 JOB_EXEC_KILL_MEM and -29 JOB_EXEC_KILL_WALLTIME (PBS Pro user
guide; MetaCentrum's PBS documentation lists the same numbers). Any non-zero value is a failure.

Only the standard library, so it runs with the login node's python3 as well as the venv's.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pbs_registry import EXIT_DIR, append, run_registry  # noqa: E402  (beside this file; only the standard library)

FINISHED = {"F", "X"}
ACTIVE = set("QRHEWTBSUM")
# Negative Exit_status values: PBS killed the job for exceeding a requested resource.
KILLED_FOR = {-25: "cpu count", -26: "virtual memory", -27: "memory", -28: "cpu time", -29: "walltime"}
# qstat's stderr for a job the server does not (or no longer) know.
UNKNOWN_JOB = re.compile(r"Unknown Job Id|Job has finished", re.IGNORECASE)


def parse_qstat_full(text: str) -> dict[str, str]:
    """Attributes of the first job in ``qstat -f`` output.

    Format: ``Job Id: <id>``, then ``    name = value`` lines; long values continue on lines that
    start with a tab (PBS wraps them), which are joined to the previous value.
    """
    attrs: dict[str, str] = {}
    last = None
    for line in text.splitlines():
        if line.startswith("Job Id:"):
            if "Job Id" in attrs:
                break  # only the first job
            attrs["Job Id"] = line.split(":", 1)[1].strip()
            last = None
        elif line.startswith("\t") and last is not None:
            attrs[last] += line.strip()
        elif " = " in line:
            name, value = line.strip().split(" = ", 1)
            attrs[name] = value
            last = name
    return attrs


def _seconds(hms: str | None) -> int | None:
    """'12:00:00' -> 43200; None for a missing or malformed value."""
    if not hms:
        return None
    try:
        parts = [int(p) for p in hms.split(":")]
    except ValueError:
        return None
    seconds = 0
    for p in parts:
        seconds = seconds * 60 + p
    return seconds


def walltime_exceeded(attrs: dict[str, str]) -> bool:
    used = _seconds(attrs.get("resources_used.walltime"))
    limit = _seconds(attrs.get("Resource_List.walltime"))
    return used is not None and limit is not None and used >= limit


def classify(attrs: dict[str, str]) -> tuple[str, str]:
    """(status, reason) for one job's ``qstat -x -f`` attributes."""
    state = attrs.get("job_state", "")
    name = attrs.get("Job_Name", "?")
    if state in FINISHED:
        raw = attrs.get("Exit_status")
        if raw is None:
            # Deleted (qdel) or aborted before it ever ran: PBS records no exit status.
            return "failed", f"{name} finished without an exit status ({attrs.get('comment', 'no comment')})"
        try:
            code = int(raw)
        except ValueError:
            return "failed", f"{name}: unreadable Exit_status {raw!r}"
        if code == 0:
            return "success", ""
        limit = attrs.get("Resource_List.walltime", "?")
        if code == -29 or (walltime_exceeded(attrs) and (code >= 256 or code < 0)):
            return "failed", (
                f"{name} was killed at its walltime limit {limit} (Exit_status {code}); "
                "with --retries Snakemake resubmits it and training resumes from its last checkpoint"
            )
        if code in KILLED_FOR:
            return "failed", f"{name} was killed by PBS for exceeding its {KILLED_FOR[code]} (Exit_status {code})"
        if code >= 256:
            return "failed", f"{name} was killed by signal {code - 256} (Exit_status {code})"
        if code < 0:
            return "failed", f"{name} could not be started by PBS (Exit_status {code}, see openpbs job.h JOB_EXEC_*)"
        return "failed", f"{name} exited with status {code}; see its log under logs/pbs/ and the rule's log"
    if state == "H" and "s" in attrs.get("Hold_Types", ""):
        return "failed", f"{name} is on a system hold (PBS gave up starting it); qdel it and check the node"
    if state in ACTIVE:
        return "running", ""
    return "failed", f"{name}: unexpected job_state {state!r}"


def from_exit_file(jobid: str, exit_dir: Path = EXIT_DIR) -> tuple[str, str]:
    """Status of a job PBS has forgotten, from the exit code its script wrote (or failed)."""
    path = exit_dir / jobid
    try:
        code = int(path.read_text().strip())
    except (OSError, ValueError):
        return "failed", (
            f"job {jobid} is unknown to PBS and left no exit status in {path} (killed, deleted, or never started)"
        )
    if code == 0:
        return "success", ""
    return "failed", f"job {jobid} exited with status {code} (from {path})"


class QstatMissing(RuntimeError):
    """No qstat at all: not a PBS node, a set-up error (unlike a server that does not answer)."""


def status(jobid: str, qstat: str = "qstat", attempts: int = 4, delay: float = 5.0) -> tuple[str, str]:
    """Ask PBS about ``jobid``; raise RuntimeError when qstat keeps failing."""
    error = ""
    for attempt in range(max(1, attempts)):
        if attempt:
            time.sleep(delay * attempt)
        try:
            proc = subprocess.run(
                [qstat, "-x", "-f", jobid],
                capture_output=True,
                text=True,
                timeout=60,
            )
        except FileNotFoundError:
            raise QstatMissing(f"{qstat}: command not found (is this a PBS login node?)") from None
        except subprocess.TimeoutExpired:
            error = f"{qstat} -x -f {jobid} timed out after 60 s"
            continue
        if UNKNOWN_JOB.search(proc.stderr):
            return from_exit_file(jobid)
        if proc.returncode == 0:
            attrs = parse_qstat_full(proc.stdout)
            if "job_state" in attrs:
                return classify(attrs)
            error = f"{qstat} -x -f {jobid} printed no job_state:\n{proc.stdout.strip()}"
        else:
            error = f"{qstat} -x -f {jobid} failed ({proc.returncode}): {proc.stderr.strip()}"
    raise RuntimeError(error)


def still_live(jobid: str) -> bool:
    """Whether PBS still has ``jobid`` queued or running (one qstat; qstat failing: assume it does)."""
    try:
        return status(jobid, qstat=os.environ.get("CYCLEAUG_QSTAT", "qstat"), attempts=1)[0] == "running"
    except RuntimeError:
        return True


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: pbs_status.py JOBID", file=sys.stderr)
        return 2
    jobid = argv[0].strip()
    try:
        state, reason = status(
            jobid,
            qstat=os.environ.get("CYCLEAUG_QSTAT", "qstat"),
            attempts=int(os.environ.get("CYCLEAUG_PBS_STATUS_ATTEMPTS", "4")),
            delay=float(os.environ.get("CYCLEAUG_PBS_STATUS_DELAY", "5")),
        )
    except QstatMissing as exc:
        print(f"pbs_status.py: cannot get the status of job {jobid}: {exc}", file=sys.stderr)
        return 1
    except RuntimeError as exc:
        # The server does not answer (maintenance, overload): the job itself is fine. Its own exit
        # record decides if it has one; otherwise it counts as running, so Snakemake keeps waiting
        # instead of stopping with "Failed to obtain job status" and leaving the jobs unattended.
        state, reason = from_exit_file(jobid) if (EXIT_DIR / jobid).exists() else ("running", "")
        print(
            f"pbs_status.py: qstat does not answer for job {jobid} ({exc}); "
            + (f"its exit record says {state}" if reason or state != "running" else "reporting it running"),
            file=sys.stderr,
        )
    if reason:
        print(f"pbs_status.py: {jobid}: {reason}", file=sys.stderr)
    registry = run_registry()
    if registry and state != "running":  # pbs_sidecar.py cancels only jobs not known finished
        append(registry, {"jobid": jobid, "finished": state})
    print(state)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
