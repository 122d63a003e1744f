"""A run through the ABCI profile interrupted: Ctrl-C, or Snakemake killed outright.

No PBS package exists here, so ``tests/standins/fake_pbs.py`` plays qsub/qstat/qdel; the jobs are real
(the job script, ``module load``, Open MPI's ``mpirun``), as in tests/test_dispatch_pbs_workflow.py.

- Ctrl-C at any moment (a job running, a status check or a qsub in flight, a slow qdel): the profile's
  sidecar (pbs_sidecar.py, with the run's registry of pbs_registry.py) deletes the job once with qdel;
- Snakemake killed outright: the sidecar cancels nothing and the job goes on; Snakemake started again
  re-attaches to it instead of submitting a second one.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest
from cluster import (
    abci_in_a_terminal,
    abci_workflow,
    end_everything,
    exists,
    records,
    snakemake,
    standin_env,
    wait_for,
)


def test_restart_during_a_running_job_submits_nothing_new(tmp_path):
    """Snakemake killed outright (a lost SSH session) while its job runs, then started again: it
    re-attaches to the job in the queue instead of submitting a second one into the same run folder."""
    work = abci_workflow(tmp_path)
    env = standin_env(tmp_path, MINI_SLEEP="8")
    first = abci_in_a_terminal(work, env)
    try:
        wait_for(exists(tmp_path / "pbs" / "1.fakepbs.nodes"), first, "the job's start")
        first.kill()
        first.wait(timeout=60)
        snakemake(work, env, "--unlock")
        again = snakemake(work, env, "--profile", "profiles/abci", "--seconds-between-status-checks", "1")
        assert again.returncode == 0, again.stderr[-6000:]
        assert "job 1.fakepbs is still queued or running; re-attaching to it" in again.stderr, again.stderr
        assert [s["jobid"] for s in records(tmp_path, "submissions.jsonl")] == ["1.fakepbs"]
        assert records(tmp_path, "qdel.jsonl") == []
        assert (work / "out" / "summary.txt").read_text().split() == ["2"]
    finally:
        end_everything(first, tmp_path)


@pytest.mark.parametrize("moment", ["job running", "status check in flight", "qsub in flight", "slow qdel"])
def test_interrupted_run_cancels_its_jobs_with_qdel(tmp_path, moment):
    """Ctrl-C at any moment: Snakemake exits and the job is deleted once. Snakemake's own cancel misses
    a job whose status is being checked or whose qsub has not returned, and gives qdel 2 seconds; the
    profile's sidecar (pbs_sidecar.py) cancels instead, and waits for a slow qdel."""
    work = abci_workflow(tmp_path)
    release = tmp_path / "release"
    hold = {"status check in flight": f"qstat:{release}", "qsub in flight": f"qsub:{release}"}.get(moment, "")
    env = standin_env(
        tmp_path, MINI_SLEEP="600", FAKE_PBS_HOLD=hold, FAKE_PBS_QDEL_DELAY="5" if moment == "slow qdel" else "0"
    )
    proc = abci_in_a_terminal(work, env)
    try:
        pbs = tmp_path / "pbs"
        held = {"status check in flight": "qstat.held", "qsub in flight": "qsub.held"}
        wait_for(exists(pbs / held.get(moment, "1.fakepbs.nodes")), proc, moment)
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C: the terminal signals the whole foreground group
        release.touch()
        _, stderr = proc.communicate(timeout=300)
    finally:
        end_everything(proc, tmp_path)
    assert proc.returncode != 0
    (sub,) = records(tmp_path, "submissions.jsonl")
    assert [r["jobid"] for r in records(tmp_path, "qdel.jsonl")] == [sub["jobid"]], stderr[-4000:]
    state = json.loads((tmp_path / "pbs" / "jobs" / f"{sub['jobid']}.json").read_text())
    assert state["job_state"] == "F" and state["Exit_status"] == 271


def test_sidecar_leaves_jobs_running_when_snakemake_dies_without_ending_the_run(tmp_path):
    """Killed outright (a lost login session), Snakemake cannot end the run: the jobs go on, and a rerun
    re-attaches to them; the sidecar must not cancel them."""
    work = abci_workflow(tmp_path)
    env = standin_env(tmp_path, MINI_SLEEP="600")
    proc = abci_in_a_terminal(work, env)
    try:
        wait_for(exists(tmp_path / "pbs" / "1.fakepbs.nodes"), proc, "the job's start")
        (registry,) = [p for p in (work / ".snakemake" / "pbs-jobs").glob("*.jsonl") if p.stem.isdigit()]
        sidecar_pid = int(registry.stem)  # the run's registry is named after its sidecar
        proc.kill()
        proc.communicate(timeout=60)
        deadline = time.monotonic() + 60
        while Path(f"/proc/{sidecar_pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.05)  # the sidecar notices its parent is gone
        assert not Path(f"/proc/{sidecar_pid}").exists()
        assert records(tmp_path, "qdel.jsonl") == []
        state = json.loads((tmp_path / "pbs" / "jobs" / "1.fakepbs.json").read_text())
        assert state["job_state"] == "R"
    finally:
        end_everything(proc, tmp_path)
