#!/usr/bin/env python3
"""Submit one Snakemake job script to PBS Professional on ABCI 3.0 and print its job id.

Snakemake's cluster-generic executor runs (profiles/abci/config.yaml, ``cluster-generic-submit-cmd``)

    pbs_submit.py --queue {resources.pbs_queue} --gpus {resources.gpu} --nodes {resources.nodes} --ppn {resources.ppn} \
        --runtime {resources.runtime} --name {rule} --log-dir logs/pbs --max-nodes 128 \
        --max-walltime 168:00:00 --bash-env /etc/profile.d/modules.sh JOBSCRIPT

and this script runs

    qsub -P $ABCI_GROUP -q rt_HF -l select=NODES:mpiprocs=PPN -l walltime=HH:MM:SS \
        -N RULE -j oe -o logs/pbs/ -V -v BASH_ENV=/etc/profile.d/modules.sh JOBSCRIPT.pbs

qsub prints the job id (``12345.pbs1``) as its only line; this script prints exactly that line,
which the executor reads as the job's external id and later hands to pbs_status.py and qdel.

* ``-P``: the ABCI group is read from ``$ABCI_GROUP`` at submission time and never stored in the
  repository; unset, nothing is submitted and the message says what to export.
* ``select=N:mpiprocs=P``: N whole nodes (rt_HF is a full node with 8 H200 GPUs on ABCI 3.0), and P
  lines per node in ``$PBS_NODEFILE``, which ``mpirun -hostfile $PBS_NODEFILE -map-by ppr:P:node``
  turns into P processes per node. More than ``--max-nodes`` (128 on ABCI 3.0) fails here, clearly,
  instead of waiting in the queue forever.
* ``walltime``: the rule's ``runtime`` resource (minutes) as HH:MM:SS, capped at ``--max-walltime``;
  a training job cut off by the cap is killed, reported ``failed`` and resubmitted by ``--retries``,
  and resumes from its checkpoint.
* ``-V`` exports the submitting shell's environment (the activated venv's PATH, ``ABCI_GROUP``), as
  the job's ``snakemake`` and ``cycleaug`` commands need it; site modules are loaded in the job by
  the rules' ``envmodules:`` (Snakemake prefixes the command with ``module purge && module load``).
  ``--bash-env FILE`` adds ``-v BASH_ENV=FILE``: bash sources that file in every non-interactive
  shell, which is how Snakemake's ``bash -c`` gets the ``module`` function (ABCI 3.0 job scripts
  ``source /etc/profile.d/modules.sh`` for the same reason).
* With the run's sidecar (pbs_sidecar.py), the job id goes into the run's registry before it is
  printed, so a Ctrl-C at any moment cancels it (see :func:`submit`).
* A job that computes the same thing (the job script's ``--target-jobs``) as one submitted earlier from
  this folder and still queued or running is not submitted again: its id is printed instead. Snakemake
  restarted after a lost session therefore re-attaches; its own record cannot do this once the job runs
  (the job's Snakemake overwrites the external job id it stored).
* The submitted script is Snakemake's job script plus two lines that record its exit status in
  ``.snakemake/pbs-exit/$PBS_JOBID``, so pbs_status.py can tell success from failure even when the
  PBS server keeps no job history (``qstat -x`` then answers "Unknown Job Id").

Only the standard library, so it runs with the login node's python3 as well as the venv's.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pbs_registry import EXIT_DIR, SUBMITTED, append, run_registry  # noqa: E402  (beside this file; only the standard library)
from pbs_status import still_live  # noqa: E402


class SubmitError(Exception):
    pass


def walltime(minutes: float, max_walltime: str | None = None) -> str:
    """Minutes -> PBS 'HH:MM:SS' (hours may exceed 24), rounded up to whole seconds, capped."""
    if minutes <= 0:
        raise SubmitError(f"runtime {minutes!r} minutes: must be positive")
    seconds = int(-(-round(minutes * 60 * 1000) // 1000))  # ceil without float surprises
    if max_walltime:
        h, m, s = (int(x) for x in max_walltime.split(":"))
        seconds = min(seconds, h * 3600 + m * 60 + s)
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def wrap_jobscript(jobscript: Path, exit_dir: Path) -> Path:
    """Write ``<jobscript>.pbs``: the job script's commands in a subshell, then the exit status record."""
    lines = jobscript.read_text().splitlines()
    header = [ln for ln in lines[:2] if ln.startswith("#")]  # shebang and the '# properties' line
    body = lines[len(header) :]
    marker = shlex.quote(str(exit_dir.resolve())) + '/"$PBS_JOBID"'
    text = "\n".join(
        [
            *header,
            "(",
            *body,
            ")",
            "rc=$?",
            f'mkdir -p {shlex.quote(str(exit_dir.resolve()))} && echo "$rc" > {marker}',
            "exit $rc",
            "",
        ]
    )
    wrapped = jobscript.with_name(jobscript.name + ".pbs")
    wrapped.write_text(text)
    wrapped.chmod(0o755)
    return wrapped


def queue_for(queue: str, gpus: int, nodes: int) -> str:
    """``auto``: rt_HC (CPU cores only) for a job without GPUs on one node, rt_HG (one H200, an eighth of a
    node) for one GPU on one node, rt_HF (whole nodes with 8 H200s) otherwise; any other name is the
    queue itself. (ABCI 3.0 resource types; a GPU-less job on rt_HF would hold 8 idle H200s.)"""
    if queue != "auto":
        return queue
    if nodes == 1 and gpus <= 1:
        return "rt_HC" if gpus == 0 else "rt_HG"
    return "rt_HF"


def qsub_command(args: argparse.Namespace, group: str, script: Path) -> list[str]:
    if args.nodes < 1 or args.ppn < 1:
        raise SubmitError(f"rule {args.name}: nodes ({args.nodes}) and ppn ({args.ppn}) must be at least 1")
    if args.nodes > args.max_nodes:
        raise SubmitError(
            f"rule {args.name} asks for {args.nodes} nodes, but one job may use at most {args.max_nodes} "
            f"({args.queue}); use fewer GPUs (cyclegan.gpu_counts) or more per node (gpus_per_node)"
        )
    log_dir = str(Path(args.log_dir).resolve()) + "/"
    return [
        args.qsub,
        "-P",
        group,
        "-q",
        queue_for(args.queue, args.gpus, args.nodes),
        "-l",
        f"select={args.nodes}:mpiprocs={args.ppn}",
        "-l",
        f"walltime={walltime(args.runtime, args.max_walltime)}",
        "-N",
        args.name,
        "-j",
        "oe",
        "-o",
        log_dir,
        "-V",
        *(["-v", f"BASH_ENV={args.bash_env}"] if args.bash_env else []),
        str(script),
    ]


def first_line(text: str) -> str:
    return text.strip().splitlines()[0].strip() if text.strip() else ""


def run_qsub(command: list[str]) -> tuple[int, str, str]:
    try:
        proc = subprocess.run(command, capture_output=True, text=True)
    except OSError as exc:
        return 127, "", str(exc)
    return proc.returncode, proc.stdout, proc.stderr


def job_key(jobscript: Path) -> str | None:
    """What the job computes: Snakemake's ``--target-jobs`` in the job script (rule and wildcards)."""
    m = re.search(r"--target-jobs\s+('[^']*'|\S+)", jobscript.read_text())
    return m.group(1).strip("'") if m else None


def live_job(key: str, submitted: Path = SUBMITTED) -> str | None:
    """The last job submitted from this folder for ``key``, if PBS still has it queued or running."""
    if not submitted.exists():
        return None
    jobids = [rec["jobid"] for rec in map(json.loads, submitted.read_text().splitlines()) if rec.get("key") == key]
    return jobids[-1] if jobids and still_live(jobids[-1]) else None


def record(key: str | None, jobid: str) -> None:
    if key:
        SUBMITTED.parent.mkdir(parents=True, exist_ok=True)
        append(SUBMITTED, {"key": key, "jobid": jobid})


def submit(command: list[str], registry: Path | None, name: str, key: str | None = None) -> tuple[int, str, str]:
    """Run qsub; with the run's registry (pbs_sidecar.py), record the job id as soon as qsub gives it.

    A Ctrl-C makes Snakemake kill this process while qsub may be talking to the server, so qsub runs in
    a forked child in its own session, which survives that, records the job (or the failure) and only
    then hands the answer back through a pipe. The registry's pending/done lines tell the sidecar
    that a submission is in flight, so it waits for the id before it cancels."""
    if registry is None:
        rc, out, err = run_qsub(command)
        if rc == 0 and first_line(out):
            record(key, first_line(out))
        return rc, out, err
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Snakemake decides what a Ctrl-C does
    token = f"{os.getpid()}.{time.time_ns()}"
    append(registry, {"pending": token, "name": name})
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        os.close(read_end)
        os.setsid()
        rc, out, err = 1, "", "pbs_submit.py: submission failed"
        try:
            rc, out, err = run_qsub(command)
            if rc == 0 and first_line(out):
                record(key, first_line(out))
                append(registry, {"jobid": first_line(out), "name": name})
        finally:
            append(registry, {"done": token})
            try:
                with os.fdopen(write_end, "w") as pipe:
                    json.dump([rc, out, err], pipe)
            except OSError:  # the parent is gone (killed by Snakemake); the registry has the job
                pass
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        answer = pipe.read()
    os.waitpid(pid, 0)
    try:
        rc, out, err = json.loads(answer)
    except ValueError:
        return 1, "", f"the submitting child died without an answer ({answer!r})"
    return rc, out, err


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--queue", default="auto", help="PBS queue = ABCI resource type; auto: see queue_for")
    p.add_argument("--gpus", type=int, default=0, help="GPUs the job uses (the rule's gpu resource)")
    p.add_argument("--nodes", type=int, required=True)
    p.add_argument("--ppn", type=int, required=True, help="MPI processes per node (mpiprocs)")
    p.add_argument("--runtime", type=float, required=True, help="the rule's runtime resource, minutes")
    p.add_argument("--name", required=True, help="job name (the rule)")
    p.add_argument("--log-dir", default="logs/pbs", help="PBS writes the job's joined stdout/stderr here")
    p.add_argument("--max-nodes", type=int, default=128)
    p.add_argument("--max-walltime", default=None, help="HH:MM:SS cap of the queue")
    p.add_argument(
        "--bash-env",
        default=None,
        help="file every non-interactive bash of the job sources (e.g. the site's modules.sh)",
    )
    p.add_argument("--group-env", default="ABCI_GROUP", help="environment variable holding the group")
    p.add_argument("--qsub", default=os.environ.get("CYCLEAUG_QSUB", "qsub"))
    p.add_argument("jobscript", type=Path)
    return p


def main(argv: list[str]) -> int:
    args = get_args_parser().parse_args(argv)
    try:
        group = os.environ.get(args.group_env, "").strip()
        if not group:
            raise SubmitError(
                f"${args.group_env} is not set: export {args.group_env}=<your ABCI group, e.g. gaa50000> "
                "before `snakemake --profile abci` (the group is never stored in the repository)"
            )
        Path(args.log_dir).mkdir(parents=True, exist_ok=True)
        command = qsub_command(args, group, wrap_jobscript(args.jobscript, EXIT_DIR))
    except (SubmitError, ValueError, OSError) as exc:
        print(f"pbs_submit.py: {exc}", file=sys.stderr)
        return 2
    registry = run_registry()
    key = job_key(args.jobscript)
    running = live_job(key) if key else None
    if running:
        # A restarted Snakemake (lost SSH session, killed login-node process) asks again for a job that is
        # still in the queue: hand it that job instead of a second one writing the same outputs.
        print(f"pbs_submit.py: {key}: job {running} is still queued or running; re-attaching to it", file=sys.stderr)
        if registry:
            append(registry, {"jobid": running, "name": args.name})
        print(running)
        return 0
    rc, out, err = submit(command, registry, args.name, key)
    if rc != 0:
        print(f"pbs_submit.py: {shlex.join(command)} failed ({rc}):\n{err.strip()}", file=sys.stderr)
        return rc
    jobid = first_line(out)
    if not jobid:
        print(f"pbs_submit.py: {shlex.join(command)} printed no job id", file=sys.stderr)
        return 1
    print(jobid)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
