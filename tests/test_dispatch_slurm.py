"""The Slurm profile (profiles/slurm, snakemake-executor-plugin-slurm) against a real Slurm.

tools/local_slurm.py starts munged, slurmctld and slurmd (Debian's Slurm 22.05) on this machine for the
module: one node with this machine's CPUs and memory and 4 declared GPUs. Snakemake runs through the real
profile with its real plugin; the plugin's sbatch, squeue and scancel talk to that cluster, and the
training rule's srun line starts the ranks inside the allocation. What the profile asked for is read back
from Slurm itself (scontrol show job), what the ranks saw from the ranks.

Two things differ from a site, both given on the command line as a user of a small cluster would:
the node's 2 CPUs cannot hold slurm.yaml's 8 cores per process (slurm.cpus_per_task: 1 from a config
file of the test's own), and without accounting (no slurmdbd) the plugin asks squeue for job states.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from cluster import (
    kill_sessions,
    load_script,
    mini_workflow,
    mpi_env,
    need_programs,
    ranks,
    snakemake,
    snakemake_in_a_terminal,
    wait_for,
)
from conftest import ROOT

SLURM = ROOT / "profiles" / "slurm"
FAST = (
    "--slurm-init-seconds-before-status-checks",
    "1",
    "--seconds-between-status-checks",
    "1",
    "--slurm-status-command",
    "squeue",
)


local_slurm = load_script(ROOT / "tools" / "local_slurm.py")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    need_programs("munged", "slurmctld", "slurmd", "sbatch", "srun", package="slurmctld slurmd slurm-client munge")
    folder = tmp_path_factory.mktemp("slurm")
    try:
        env = local_slurm.start(folder)
    except local_slurm.SlurmError:
        local_slurm.stop(folder)
        raise
    yield {**os.environ, **env}
    local_slurm.stop(folder)


def slurm_workflow(tmp_path: Path, **config) -> Path:
    work = mini_workflow(tmp_path, **config)
    (work / "small_node.yaml").write_text(yaml.safe_dump({"slurm": {"cpus_per_task": 1}}))
    return work


# The profile as a user of a small cluster without accounting runs it (module docstring).
PROFILE = ("--profile", "profiles/slurm", *FAST, "--configfiles", "profiles/slurm/slurm.yaml", "small_node.yaml")


def scontrol_job(env: dict, jobid: str) -> dict[str, str]:
    out = subprocess.run(
        ["scontrol", "-o", "show", "job", jobid], env=env, capture_output=True, text=True, check=True
    ).stdout
    return dict(re.findall(r"(\S+?)=(\S*)", out))


def jobs_of(env: dict) -> list[str]:
    """Every job the cluster knows (running, or ended within MinJobAge), oldest first."""
    out = subprocess.run(["squeue", "-h", "-t", "all", "-o", "%i"], env=env, capture_output=True, text=True).stdout
    return sorted(out.split(), key=int)


def test_small_workflow_through_slurm_profile(cluster, tmp_path):
    before = set(jobs_of(cluster))
    work = slurm_workflow(tmp_path, gpu_counts=(2,))
    proc = snakemake(work, cluster, *PROFILE)
    assert proc.returncode == 0, proc.stderr[-6000:]
    (jobid,) = set(jobs_of(cluster)) - before
    job = scontrol_job(cluster, jobid)
    assert job["JobName"] != "" and job["JobState"] == "COMPLETED"
    # What the profile asked for, as Slurm granted it: one node, 2 tasks with a core each, 2 GPUs on the
    # node (--gres, not a job total), 2 x 4000 MB (slurm.mem_mb_per_process), 90 minutes, the default partition.
    assert (job["NumNodes"], job["NumTasks"], job["CPUs/Task"]) == ("1", "2", "1")
    assert job["TresPerNode"] == "gres:gpu:2" and "TresPerJob" not in job
    assert job["MinMemoryNode"] == "8000M"
    assert (job["TimeLimit"], job["Partition"]) == ("01:30:00", "debug")
    # The rule's srun started the two ranks in a step of that job, each with the rank Slurm gave it.
    seen = ranks(work, 2)
    assert [(r["rank"], r["size"], r["job"]) for r in seen] == [(0, 2, jobid), (1, 2, jobid)]
    assert {r["step"] for r in seen} == {"0"} and seen[0]["master_addr"] == job["NodeList"]
    assert {r["launcher"] for r in seen} == {"srun"}  # read from Slurm's step variables, no wrapper
    assert (work / "out" / "summary.txt").read_text().split() == ["2"]


def test_horovod_ranks_join_through_the_profiles_pmix(cluster, tmp_path):
    """The horovod backend: slurm.srun_mpi unset gives srun --mpi=pmix, whose PMIx server lets horovod's
    MPI (Open MPI 4.1, built in by tools/install_horovod.sh) see both ranks of the step as one job."""
    pytest.importorskip("horovod.torch", reason="horovod not installed (make horovod)")
    work = slurm_workflow(tmp_path, gpu_counts=(2,), cyclegan={"backend": "horovod"})
    proc = snakemake(work, {**cluster, **mpi_env()}, *PROFILE)
    assert proc.returncode == 0, proc.stderr[-6000:] + (work / "logs" / "train_2gpu.log").read_text()[-3000:]
    seen = ranks(work, 2)
    assert [r["horovod"] for r in seen] == [{"rank": r, "size": 2, "mpi": True, "sum": 3} for r in range(2)]
    assert "--mpi=pmix --export=ALL" in proc.stderr  # the rule's srun line, as printed


def test_failed_rank_ends_the_run_with_an_error(cluster, tmp_path):
    work = slurm_workflow(tmp_path, gpu_counts=(2,))
    proc = snakemake(work, {**cluster, "MINI_FAIL": "3"}, *PROFILE, "--retries", "0")
    assert proc.returncode != 0
    assert "Error in rule train_cyclegan_2gpu" in proc.stderr and "SLURM status is: 'FAILED'" in proc.stderr
    assert not (work / "out" / "summary.txt").exists()


def test_interrupted_run_cancels_its_job(cluster, tmp_path):
    """Ctrl-C while the training job runs: Snakemake cancels it (scancel), and its ranks end."""
    work = slurm_workflow(tmp_path, gpu_counts=(2,))
    proc = snakemake_in_a_terminal(work, {**cluster, "MINI_SLEEP": "600"}, *PROFILE)
    try:
        started = [work / "out" / f"2gpu.started.{r}" for r in range(2)]
        wait_for(lambda: all(p.exists() for p in started), proc, "both ranks' start")
        (jobid,) = [j for j in jobs_of(cluster) if scontrol_job(cluster, j)["JobState"] == "RUNNING"]
        os.killpg(proc.pid, signal.SIGINT)
        _, stderr = proc.communicate(timeout=120)
        assert proc.returncode != 0
        wait_for(lambda: scontrol_job(cluster, jobid)["JobState"] == "CANCELLED", _Running(), "the cancel", 60)
        # Nothing of the job survives it (slurmd ends the batch script and the step after KillWait, 10 s),
        # before the cluster is stopped.
        wait_for(lambda: not _job_processes(work), _Running(), "the job's processes' end", 90)
    finally:
        kill_sessions(proc.pid)
        proc.wait(timeout=60)


class _Running:
    """A process stand-in for wait_for after Snakemake has exited: never ends."""

    def poll(self):
        return None


def _job_processes(work: Path) -> list[int]:
    """Processes of the job in ``work``: its ranks (rank.py run there) and the job's own Snakemake (the
    batch script's, which names the workflow's folder), none of them ours."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            words = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except OSError:
            continue
        in_job = any(str(work) in w for w in words) or ("rank.py" in words and cwd.startswith(str(work)))
        if in_job and int(pid) != os.getpid():
            found.append(int(pid))
    return found


def test_one_gpu_training_on_slurm_is_refused_by_the_config_check():
    from cycleaug.config_check import check_config
    from cycleaug.errors import CycleAugError
    from snakemake.utils import update_config

    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    update_config(config, yaml.safe_load((SLURM / "slurm.yaml").read_text()))
    check_config(config)
    config["cyclegan"]["gpu_counts"] = [1, 4]
    with pytest.raises(CycleAugError, match=r"cyclegan.gpu_counts: 1 on a Slurm site .* at least 2 tasks"):
        check_config(config)


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
