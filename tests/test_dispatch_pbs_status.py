"""pbs_status.py of the ABCI profile (PBS Professional): what it reports to Snakemake.

- against recorded ``qstat -x -f`` outputs (running, queued, finished, failed, killed at the walltime,
  deleted, system hold), parsed and classified in this process;
- the script itself against a qstat that forgets jobs (the job's own exit record decides), fails for a
  while (retried) or for good (``running`` until the exit record decides), or is missing.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cluster import ABCI, load_script, run_abci_script, write_script
from conftest import ROOT

QSTAT_SAMPLES = ROOT / "tests" / "data" / "pbs"

pbs_status = load_script(ABCI / "pbs_status.py")


# ------------------------------------------------------------------ recorded qstat -x -f samples


@pytest.mark.parametrize(
    "sample, expected, reason",
    [
        ("qstat_running.txt", "running", ""),
        ("qstat_queued.txt", "running", ""),
        ("qstat_finished_ok.txt", "success", ""),
        ("qstat_failed_exit1.txt", "failed", "exited with status 1"),
        # PBS Pro 2021+: the server's own code JOB_EXEC_KILL_WALLTIME.
        ("qstat_walltime_pbspro2022.txt", "failed", "killed at its walltime limit 12:00:00 (Exit_status -29)"),
        # Older PBS Pro: the script's shell died of SIGTERM (256 + 15) after using the whole walltime.
        ("qstat_walltime_signal.txt", "failed", "killed at its walltime limit 12:00:00 (Exit_status 271)"),
        ("qstat_deleted_queued.txt", "failed", "finished without an exit status (Job deleted"),
        ("qstat_system_hold.txt", "failed", "system hold"),
    ],
)
def test_status_of_recorded_qstat_outputs(sample, expected, reason):
    attrs = pbs_status.parse_qstat_full((QSTAT_SAMPLES / sample).read_text())
    status, why = pbs_status.classify(attrs)
    assert status == expected
    assert reason in why


def test_qstat_continuation_lines_are_joined():
    attrs = pbs_status.parse_qstat_full((QSTAT_SAMPLES / "qstat_running.txt").read_text())
    assert attrs["Job Id"] == "4123456.pbs1"
    assert attrs["Job_Name"] == "train_cyclegan_64gpu"
    assert attrs["Resource_List.select"] == "8:mpiprocs=8"
    # exec_host wraps after "hnode01" in the sample; joined it names all eight hosts.
    assert attrs["exec_host"].count("hnode0") == 8 and "hnode017/0*96" in attrs["exec_host"]
    assert attrs["Submit_arguments"].endswith("snakejob.train_cyclegan_64gpu.12.sh.pbs")


def test_other_exit_codes():
    base = {
        "job_state": "F",
        "Job_Name": "r",
        "Resource_List.walltime": "01:00:00",
        "resources_used.walltime": "00:10:00",
    }
    assert pbs_status.classify({**base, "Exit_status": "-27"})[1].endswith("its memory (Exit_status -27)")
    assert "signal 9" in pbs_status.classify({**base, "Exit_status": "265"})[1]
    assert "could not be started" in pbs_status.classify({**base, "Exit_status": "-1"})[1]
    assert pbs_status.classify({**base, "job_state": "X", "Exit_status": "0"})[0] == "success"
    for state in "QRHEWTBSUM":
        assert pbs_status.classify({**base, "job_state": state})[0] == "running"


# ------------------------------------------------------------------ the script, against a qstat that forgets or fails


def run_status(tmp_path: Path, jobid: str, qstat: Path, exit_dir: Path | None = None):
    env = dict(os.environ, CYCLEAUG_QSTAT=str(qstat), CYCLEAUG_PBS_STATUS_DELAY="0", CYCLEAUG_PBS_STATUS_ATTEMPTS="3")
    if exit_dir is not None:
        env["CYCLEAUG_PBS_EXIT_DIR"] = str(exit_dir)
    return run_abci_script("pbs_status.py", tmp_path, jobid, env=env)


def test_status_script_prints_one_word(tmp_path):
    sample = QSTAT_SAMPLES / "qstat_walltime_pbspro2022.txt"
    qstat = write_script(tmp_path, f'[ "$1 $2 $3" = "-x -f 4123456.pbs1" ] || exit 9\ncat "{sample}"\n')
    proc = run_status(tmp_path, "4123456.pbs1", qstat)
    assert (proc.returncode, proc.stdout) == (0, "failed\n")
    assert "walltime" in proc.stderr and "--retries" in proc.stderr


def test_unknown_job_falls_back_to_its_exit_record(tmp_path):
    # A server without job history forgets finished jobs; the job's own record decides.
    qstat = write_script(tmp_path, 'echo "qstat: Unknown Job Id $3" >&2\nexit 153\n')
    exit_dir = tmp_path / "exits"
    exit_dir.mkdir()
    (exit_dir / "7.pbs1").write_text("0\n")
    (exit_dir / "8.pbs1").write_text("1\n")
    assert run_status(tmp_path, "7.pbs1", qstat, exit_dir).stdout == "success\n"
    assert run_status(tmp_path, "8.pbs1", qstat, exit_dir).stdout == "failed\n"
    never = run_status(tmp_path, "9.pbs1", qstat, exit_dir)
    assert (never.returncode, never.stdout) == (0, "failed\n")
    assert "unknown to PBS" in never.stderr


def test_qstat_outage_reports_running_until_the_exit_record_decides(tmp_path):
    calls = tmp_path / "calls"
    qstat = write_script(
        tmp_path, f'echo x >> "{calls}"\necho "qstat: cannot connect to server pbs1 (errno=15010)" >&2\nexit 1\n'
    )
    exit_dir = tmp_path / "exit"
    proc = run_status(tmp_path, "7.pbs1", qstat, exit_dir)
    assert proc.returncode == 0 and proc.stdout == "running\n"
    assert "cannot connect to server" in proc.stderr
    assert len(calls.read_text().split()) == 3  # CYCLEAUG_PBS_STATUS_ATTEMPTS
    exit_dir.mkdir()
    (exit_dir / "7.pbs1").write_text("0\n")  # the job finished meanwhile and said so itself
    assert run_status(tmp_path, "7.pbs1", qstat, exit_dir).stdout == "success\n"
    (exit_dir / "7.pbs1").write_text("1\n")
    assert run_status(tmp_path, "7.pbs1", qstat, exit_dir).stdout == "failed\n"


def test_missing_qstat_is_an_error(tmp_path):
    proc = run_status(tmp_path, "7.pbs1", tmp_path / "no-such-qstat")
    assert proc.returncode == 1 and "command not found" in proc.stderr


def test_transient_qstat_failure_is_retried(tmp_path):
    sample = QSTAT_SAMPLES / "qstat_running.txt"
    flag = tmp_path / "failed_once"
    qstat = write_script(
        tmp_path, f'if [ ! -e "{flag}" ]; then touch "{flag}"; echo busy >&2; exit 1; fi\ncat "{sample}"\n'
    )
    assert run_status(tmp_path, "4123456.pbs1", qstat).stdout == "running\n"
