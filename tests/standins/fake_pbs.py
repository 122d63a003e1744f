"""A stand-in for PBS Professional's qsub/qstat/qdel for tests/test_dispatch_pbs_*.py (no package provides them).

The test writes small shims named ``qsub``, ``qstat`` and ``qdel`` into a temporary bin directory put
first on PATH; each runs ``python fake_pbs.py <name> ARGS``. Everything a job runs is real: the job
script, ``module`` (environment-modules, through ``-v BASH_ENV=...`` as on ABCI) and Open MPI's
``mpirun``. State lives in ``$FAKE_PBS_DIR``:

- ``submissions.jsonl``: one line per qsub: argv, the submitted script's text, the job id, cwd.
- ``jobs/<id>.json``: job_state (Q/R/F), Exit_status, names and limits, as ``qstat -x -f`` reports.

qsub checks what the real one would reject (missing ``-P`` group, a malformed ``select`` or
``walltime``), prints ``<n>.fakepbs`` and runs the script in the background like a PBS MoM: ``sh
SCRIPT`` in $HOME, in a session of its own, with qsub's environment (``-V``), the ``-v`` variables,
PBS_JOBID, PBS_JOBNAME, PBS_O_WORKDIR and PBS_NODEFILE (``localhost``, select x mpiprocs lines) set,
stdout and stderr joined into the ``-o`` directory, and the exit status recorded for qstat. As a MoM
does, a walltime kill and qdel signal every process of the job's session (mpirun puts each rank in
a process group of its own). Failure injection, for the tests of Snakemake's reaction:

- ``FAKE_PBS_KILL=<job name>[:<times>]``: the first <times> (default all) submissions with that
  ``-N`` name never run and finish with ``Exit_status = $FAKE_PBS_KILL_STATUS`` (default -29,
  PBS Pro's JOB_EXEC_KILL_WALLTIME) and resources_used.walltime = the limit, as a walltime kill.
- ``FAKE_PBS_TERM_WHEN=<job name>:<path>``: the first job of that name runs until <path> exists, then
  gets SIGTERM (SIGKILL 10 s later) and ends with Exit_status -29, as a job reaching its walltime.
- ``FAKE_PBS_NO_HISTORY=1``: finished jobs are "Unknown Job Id" to qstat (server without job history).
- ``FAKE_PBS_QSTAT_DOWN=1``: qstat cannot reach the server (exit 1), for every call.
- ``FAKE_PBS_QDEL_DELAY=<seconds>``: qdel takes that long before it deletes anything (a busy server).
- ``FAKE_PBS_HOLD=qsub:<path>`` / ``qstat:<path>``: a slow server. qsub (after the job exists, before it
  prints the id) or qstat (before it answers) writes ``<name>.held`` in $FAKE_PBS_DIR and waits until
  <path> exists, so a test can act while the call is in flight.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from records import Records, write_json

STATE = Path(os.environ.get("FAKE_PBS_DIR", "/tmp/fake_pbs"))
JOBS = STATE / "jobs"
RECORDS = Records(STATE, first_id=1)


def _hold(name: str) -> None:
    target, _, path = os.environ.get("FAKE_PBS_HOLD", "").partition(":")
    if target != name:
        return
    (STATE / f"{name}.held").touch()
    while not Path(path).exists():
        time.sleep(0.05)


def _die(msg: str, code: int = 1) -> None:
    print(msg, file=sys.stderr)
    sys.exit(code)


def qsub(argv: list[str]) -> None:
    opts: dict[str, list[str]] = {}
    flags = set()
    i = 0
    while i < len(argv) - 1:
        a = argv[i]
        if a in ("-V",):
            flags.add(a)
            i += 1
        elif a.startswith("-") and len(a) == 2:
            opts.setdefault(a, []).append(argv[i + 1])
            i += 2
        else:
            _die(f"qsub: unexpected argument {a!r}", 2)
    if i != len(argv) - 1:
        _die("qsub: no job script", 2)
    script = Path(argv[-1])
    if not opts.get("-P", [""])[0]:
        _die("qsub: -P <group> is required on this system", 2)
    resources = {}
    for spec in opts.get("-l", []):
        key, _, value = spec.partition("=")
        resources[key] = value
    m = re.fullmatch(r"(\d+):mpiprocs=(\d+)", resources.get("select", ""))
    if not m:
        _die(f"qsub: illegal -l select value {resources.get('select')!r}", 2)
    if not re.fullmatch(r"\d+:\d\d:\d\d", resources.get("walltime", "")):
        _die(f"qsub: illegal -l walltime value {resources.get('walltime')!r}", 2)
    # -v VAR=value[,VAR=value]: set in the job's environment (with -V, on top of qsub's own).
    variables = dict(v.partition("=")[::2] for spec in opts.get("-v", []) for v in spec.split(","))
    name = opts.get("-N", [script.name])[0]
    n = RECORDS.next_id()
    jobid = f"{n}.fakepbs"
    JOBS.mkdir(parents=True, exist_ok=True)
    job = {
        "Job Id": jobid,
        "Job_Name": name,
        "job_state": "Q",
        "queue": opts.get("-q", ["workq"])[0],
        "project": opts["-P"][0],
        "Resource_List.select": resources["select"],
        "Resource_List.walltime": resources["walltime"],
        "Hold_Types": "n",
        "nodes": int(m.group(1)),
        "mpiprocs": int(m.group(2)),
        "output": opts.get("-o", [os.getcwd() + "/"])[0],
        "variables": variables,
        "seq": n,
    }
    RECORDS.append(
        "submissions.jsonl",
        {"argv": argv, "jobid": jobid, "name": name, "cwd": os.getcwd(), "script": script.read_text()},
    )
    kill = os.environ.get("FAKE_PBS_KILL", "")
    if kill:
        kill_name, _, times = kill.partition(":")
        earlier = sum(
            1
            for line in (STATE / "submissions.jsonl").read_text().splitlines()
            if json.loads(line)["name"] == kill_name
        )
        if name == kill_name and (not times or earlier <= int(times)):
            job.update(
                {
                    "job_state": "F",
                    "Exit_status": int(os.environ.get("FAKE_PBS_KILL_STATUS", "-29")),
                    "resources_used.walltime": resources["walltime"],
                }
            )
            write_json(JOBS / f"{jobid}.json", job)
            print(jobid)
            return
    write_json(JOBS / f"{jobid}.json", job)
    # Stays alive after qsub returns, like a job on a MoM; its own session so qdel can kill it all.
    runner = subprocess.Popen(
        [sys.executable, __file__, "_run", jobid, str(script.resolve())],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    job["runner_pid"] = runner.pid
    write_json(JOBS / f"{jobid}.json", job)
    _hold("qsub")
    print(jobid)


def _term_trigger(name: str, seq: int) -> Path | None:
    """``FAKE_PBS_TERM_WHEN=<job name>:<path>``: the first job of that name is killed as at its walltime
    once <path> (relative to the submission directory) exists."""
    spec = os.environ.get("FAKE_PBS_TERM_WHEN", "")
    target, _, path = spec.partition(":")
    if not spec or target != name:
        return None
    first = next(
        json.loads(line)["jobid"]
        for line in (STATE / "submissions.jsonl").read_text().splitlines()
        if json.loads(line)["name"] == name
    )
    return Path(path) if first == f"{seq}.fakepbs" else None


def _run(jobid: str, script: str) -> None:
    path = JOBS / f"{jobid}.json"
    job = json.loads(path.read_text())
    nodefile = STATE / f"{jobid}.nodes"
    nodefile.write_text("localhost\n" * (job["nodes"] * job["mpiprocs"]))
    out_dir = Path(job["output"])
    out_dir.mkdir(parents=True, exist_ok=True)
    log = out_dir / f"{job['Job_Name']}.o{job['seq']}"
    env = dict(
        os.environ,
        PBS_JOBID=jobid,
        PBS_JOBNAME=job["Job_Name"],
        PBS_NODEFILE=str(nodefile),
        PBS_O_WORKDIR=os.getcwd(),
        PBS_QUEUE=job["queue"],
        **job["variables"],
    )
    trigger = _term_trigger(job["Job_Name"], job["seq"])
    start = time.time()
    job.update({"job_state": "R", "stime": start})
    write_json(path, job)
    killed = False
    with open(log, "w") as f:
        # Its own session, as on a MoM: the walltime kill signals every process of the job.
        proc = subprocess.Popen(
            ["sh", script],
            stdout=f,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=os.path.expanduser("~"),
            start_new_session=True,
        )
        job["job_pgid"] = proc.pid
        write_json(path, job)
        while proc.poll() is None:
            if trigger is not None and trigger.exists() and not killed:
                # PBS at the walltime: SIGTERM to the job, SIGKILL after kill_delay (10 s by default).
                print(
                    f"=>> PBS: job killed: walltime exceeded limit {job['Resource_List.walltime']}", file=f, flush=True
                )
                signal_session(proc.pid, signal.SIGTERM)
                killed = time.time()
            if killed and time.time() - killed > 10:
                signal_session(proc.pid, signal.SIGKILL)
            time.sleep(0.05)
    job = json.loads(path.read_text())
    if job["job_state"] == "F":  # qdel got there first
        return
    code = proc.returncode if proc.returncode >= 0 else 256 - proc.returncode
    used = int(time.time() - start)
    job.update(
        {
            "job_state": "F",
            "Exit_status": -29 if killed else code,
            "resources_used.walltime": f"{used // 3600:02d}:{used % 3600 // 60:02d}:{used % 60:02d}",
        }
    )
    write_json(path, job)


def qstat(argv: list[str]) -> None:
    if argv[:2] != ["-x", "-f"] or len(argv) != 3:
        _die(f"fake qstat only answers `qstat -x -f JOBID`, got {argv}", 2)
    jobid = argv[2]
    if os.environ.get("FAKE_PBS_QSTAT_DOWN"):
        _die("qstat: cannot connect to server fakepbs (errno=15010)", 1)
    _hold("qstat")
    path = JOBS / f"{jobid}.json"
    if not path.exists():
        _die(f"qstat: Unknown Job Id {jobid}", 153)
    job = json.loads(path.read_text())
    if job["job_state"] == "F" and os.environ.get("FAKE_PBS_NO_HISTORY"):
        _die(f"qstat: Unknown Job Id {jobid}", 153)
    lines = [f"Job Id: {jobid}"]
    for key in (
        "Job_Name",
        "resources_used.walltime",
        "job_state",
        "queue",
        "Hold_Types",
        "Resource_List.select",
        "Resource_List.walltime",
        "project",
        "Exit_status",
    ):
        if key in job:
            lines.append(f"    {key} = {job[key]}")
    # A long attribute wrapped onto a tab-indented continuation line, as PBS prints them.
    lines.append("    Variable_List = PBS_O_HOME=/home/user,PBS_O_LANG=C,")
    lines.append("\tPBS_O_WORKDIR=/work")
    print("\n".join(lines) + "\n")


def qdel(argv: list[str]) -> None:
    time.sleep(float(os.environ.get("FAKE_PBS_QDEL_DELAY", "0")))  # a busy server
    for jobid in argv:
        path = JOBS / f"{jobid}.json"
        if not path.exists():
            print(f"qdel: Unknown Job Id {jobid}", file=sys.stderr)
            continue
        job = json.loads(path.read_text())
        RECORDS.append("qdel.jsonl", {"jobid": jobid})
        if job["job_state"] != "F":
            job.update({"job_state": "F", "Exit_status": 271})
            write_json(path, job)
            for sid in (job.get("job_pgid"), job.get("runner_pid")):
                if sid:
                    signal_session(sid, signal.SIGTERM)


def signal_session(sid: int, sig: int) -> None:
    """``sig`` to every process of session ``sid`` (the job's processes, as a MoM tracks them)."""
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                if os.getsid(int(pid)) == sid:
                    os.kill(int(pid), sig)
            except (ProcessLookupError, PermissionError):
                pass


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    {"qsub": qsub, "qstat": qstat, "qdel": qdel, "_run": lambda a: _run(*a)}[cmd](args)
