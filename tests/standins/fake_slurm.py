"""A stand-in for Slurm (sbatch, sacct, squeue, scancel, sinfo, scontrol, sacctmgr, sshare, srun)
for tests/test_dispatch.py, just enough for snakemake-executor-plugin-slurm (2.x) and its jobstep
plugin. State lives in ``$FAKE_SLURM_DIR``:

- ``submissions.jsonl``: one line per sbatch: argv and the parsed options.
- ``jobs/<id>.json``: name (the plugin's run uuid), comment (``rule_<name>...``), state.

sbatch (called by the plugin as ``sbatch --parsable --job-name UUID --output LOG ... --wrap="CMD"``)
prints the job id and runs CMD with ``sh -c`` in the background in ``-D`` with SLURM_JOB_ID,
SLURM_JOB_NODELIST (localhost), SLURM_NNODES and SLURM_GPUS set, output into ``--output``
(``%j`` replaced). sacct/squeue ``--name UUID`` answer ``<id>|<STATE>`` lines (PENDING, RUNNING,
COMPLETED, FAILED, CANCELLED, TIMEOUT). srun runs its command once (``-n1``) or as N tasks.
``FAKE_SLURM_TIMEOUT=<rule>[:<times>]``: those submissions never run and end as TIMEOUT.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

from records import Records, write_json

STATE = Path(os.environ.get("FAKE_SLURM_DIR", "/tmp/fake_slurm"))
JOBS = STATE / "jobs"
RECORDS = Records(STATE, first_id=1000)


def _options(argv: list[str]) -> dict[str, str]:
    """``--key=value``, ``--key value``, ``-k value`` and flags into one dict (last wins)."""
    opts: dict[str, str] = {}
    i = 0
    while i < len(argv):
        a = argv[i]
        if a.startswith("--") and "=" in a:
            key, value = a[2:].split("=", 1)
            opts[key] = value
            i += 1
        elif (
            a.startswith("-")
            and i + 1 < len(argv)
            and not argv[i + 1].startswith("-")
            and a not in ("--parsable", "--exclusive", "--requeue", "--no-requeue")
        ):
            opts[a.lstrip("-")] = argv[i + 1]
            i += 2
        else:
            opts[a.lstrip("-")] = ""
            i += 1
    return opts


def sbatch(argv: list[str]) -> None:
    opts = _options(argv)
    wrap = opts.get("wrap")
    if wrap is None:
        print("sbatch: fake sbatch needs --wrap", file=sys.stderr)
        sys.exit(1)
    n = RECORDS.next_id()
    jobid = str(n)
    comment = opts.get("comment", "")
    rule = comment[len("rule_") :].split("_wildcards_")[0] if comment.startswith("rule_") else ""
    RECORDS.append("submissions.jsonl", {"argv": argv, "options": opts, "jobid": jobid, "rule": rule})
    JOBS.mkdir(parents=True, exist_ok=True)
    job = {"id": jobid, "name": opts.get("job-name", ""), "rule": rule, "state": "PENDING"}
    timeout = os.environ.get("FAKE_SLURM_TIMEOUT", "")
    if timeout:
        name, _, times = timeout.partition(":")
        earlier = sum(
            1 for line in (STATE / "submissions.jsonl").read_text().splitlines() if json.loads(line)["rule"] == name
        )
        if rule == name and (not times or earlier <= int(times)):
            job["state"] = "TIMEOUT"
            write_json(JOBS / f"{jobid}.json", job)
            print(jobid)
            return
    write_json(JOBS / f"{jobid}.json", job)
    runner = subprocess.Popen(
        [sys.executable, __file__, "_run", jobid, json.dumps(opts)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    job["runner_pid"] = runner.pid
    write_json(JOBS / f"{jobid}.json", job)
    print(jobid)


def _run(jobid: str, opts_json: str) -> None:
    opts = json.loads(opts_json)
    path = JOBS / f"{jobid}.json"
    job = json.loads(path.read_text())
    nodes = int(opts.get("nodes", "1") or 1)
    env = dict(
        os.environ,
        SLURM_JOB_ID=jobid,
        SLURM_JOBID=jobid,
        SLURM_JOB_NAME=job["name"],
        SLURM_JOB_NODELIST="localhost",
        SLURM_NNODES=str(nodes),
        SLURM_SUBMIT_DIR=os.getcwd(),
    )
    if opts.get("gpus"):
        env["SLURM_GPUS"] = opts["gpus"]
    if opts.get("cpus-per-task"):  # sbatch sets it in the job's environment
        env["SLURM_CPUS_PER_TASK"] = opts["cpus-per-task"]
    log = opts.get("output", f"slurm-{jobid}.out").replace("%j", jobid)
    job["state"] = "RUNNING"
    write_json(path, job)
    with open(log, "w") as f:
        proc = subprocess.run(
            ["sh", "-c", opts["wrap"]], stdout=f, stderr=subprocess.STDOUT, env=env, cwd=opts.get("D") or None
        )
    job = json.loads(path.read_text())
    if job["state"] == "CANCELLED":
        return
    job["state"] = "COMPLETED" if proc.returncode == 0 else "FAILED"
    write_json(path, job)


def _jobs() -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(JOBS.glob("*.json"))] if JOBS.exists() else []


def sacct(argv: list[str]) -> None:
    opts = _options(argv)
    if "name" in opts:
        for job in _jobs():
            if job["name"] == opts["name"]:
                print(f"{job['id']}|{job['state']}")
    else:  # the plugin guessing an account from recent jobs: sacct -nu USER -o Account%256
        print("fakeacct")


def squeue(argv: list[str]) -> None:
    sacct(argv)


def sacctmgr(argv: list[str]) -> None:
    print("fakeacct")


def sshare(argv: list[str]) -> None:
    print("fakeacct")


def sinfo(argv: list[str]) -> None:
    print("PARTITION\ngpu*")


def scontrol(argv: list[str]) -> None:
    if argv[:2] == ["show", "config"]:
        print("MinJobAge               = 300 sec")
    elif argv[:2] == ["show", "hostnames"]:
        print("localhost")
    else:
        print(f"scontrol: fake scontrol does not know {argv}", file=sys.stderr)
        sys.exit(1)


def scancel(argv: list[str]) -> None:
    for jobid in [a for a in argv if re.fullmatch(r"\d+", a)]:
        path = JOBS / f"{jobid}.json"
        if path.exists():
            job = json.loads(path.read_text())
            RECORDS.append("scancel.jsonl", {"jobid": jobid})
            if job["state"] in ("PENDING", "RUNNING"):
                job["state"] = "CANCELLED"
                write_json(path, job)
                if job.get("runner_pid"):
                    try:
                        os.killpg(job["runner_pid"], signal.SIGTERM)
                    except ProcessLookupError:
                        pass


SRUN_VALUE_OPTS = {
    "-n",
    "-N",
    "-c",
    "-t",
    "-p",
    "-A",
    "-J",
    "-o",
    "-e",
    "--ntasks",
    "--nodes",
    "--cpus-per-task",
    "--ntasks-per-node",
}


def srun(argv: list[str]) -> None:
    """``srun -n1 ... CMD`` (the jobstep plugin) runs CMD; ``srun --ntasks=N ... CMD`` starts N tasks
    with SLURM_PROCID/SLURM_NTASKS/SLURM_LOCALID/SLURM_STEP_NODELIST, as srun does in an allocation."""
    opts, i = {}, 0
    while i < len(argv) and argv[i].startswith("-"):
        a = argv[i]
        if "=" in a:
            key, value = a.split("=", 1)
            opts[key] = value
            i += 1
        elif a in SRUN_VALUE_OPTS:
            opts[a] = argv[i + 1]
            i += 2
        elif re.fullmatch(r"-n\d+", a):
            opts["-n"] = a[2:]
            i += 1
        else:
            i += 1
    command = argv[i:]
    ntasks = int(opts.get("--ntasks") or opts.get("-n") or 1)
    RECORDS.append(
        "srun.jsonl", {"argv": argv, "ntasks": ntasks, "command": command, "job": os.environ.get("SLURM_JOB_ID")}
    )
    if ntasks == 1:
        os.execvp(command[0], command)
    per_node = int(opts.get("--ntasks-per-node") or ntasks)
    tasks = [
        subprocess.Popen(
            command,
            env=dict(
                os.environ,
                SLURM_PROCID=str(r),
                SLURM_NTASKS=str(ntasks),
                SLURM_LOCALID=str(r % per_node),
                SLURM_STEP_NODELIST="localhost",
            ),
        )
        for r in range(ntasks)
    ]
    codes = [t.wait() for t in tasks]
    sys.exit(next((c for c in codes if c), 0))


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    {
        "sbatch": sbatch,
        "sacct": sacct,
        "squeue": squeue,
        "sacctmgr": sacctmgr,
        "sshare": sshare,
        "sinfo": sinfo,
        "scontrol": scontrol,
        "scancel": scancel,
        "srun": srun,
        "_run": lambda a: _run(*a),
    }[cmd](args)
