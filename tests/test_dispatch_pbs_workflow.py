"""Cluster dispatch through the ABCI (PBS Professional) profile: real runs of small workflows.

No PBS package exists here, so ``tests/standins/fake_pbs.py`` plays qsub/qstat/qdel: qsub records each
submission and runs the job script in the background, as a MoM would, qstat answers from what happened.
Everything inside a job is real: the job script Snakemake wrote, ``module load`` of the profile's site
modules (environment-modules; the modulefiles are the test's), and the profile's Open MPI ``mpirun``
line on a host file naming localhost. Snakemake runs through the real ``profiles/abci`` unchanged; only
PATH differs. The Slurm profile runs against a real Slurm: tests/test_dispatch_slurm.py.

- a small workflow of the CycleGAN stage's shape (tests/cluster.py): recorded qsub lines, mpirun's own
  argv and the modules each rank saw, every rank run inside its job; a job the scheduler reports
  failed (walltime) ends the run with an error; a walltime-killed job is resubmitted by --retries;
  a qstat outage does not stop the run; no $ABCI_GROUP: nothing submitted (interrupted runs:
  tests/test_dispatch_pbs_cancel.py);
- (slow) the demo's real training rules through ``profiles/abci``: the 2-process run is killed as at
  its walltime after its first saved epoch, resubmitted, and resumes from its checkpoint.
"""

from __future__ import annotations

import json

import pytest
import yaml
from cluster import (
    ABCI,
    abci_config,
    abci_workflow,
    load_script,
    need_mpirun_and_modules,
    profile,
    ranks,
    records,
    snakemake,
    standin_env,
    workflow_copy,
)
from conftest import ROOT

pbs_submit = load_script(ABCI / "pbs_submit.py")


def test_small_workflow_through_abci_profile(tmp_path):
    work = abci_workflow(tmp_path)
    # Tuning and debug variables of the submitting shell (qsub -V) must reach every rank on every node.
    env = standin_env(tmp_path, NCCL_DEBUG="INFO", NCCL_IB_HCA="mlx5", HOROVOD_FUSION_THRESHOLD="0")
    proc = snakemake(work, env, "--profile", "profiles/abci", "--seconds-between-status-checks", "1")
    assert proc.returncode == 0, proc.stderr[-6000:]
    (sub,) = records(tmp_path, "submissions.jsonl")
    # The local rule ran here, not through qsub. gpus_per_node 8 (profiles/abci/abci.yaml): 2 GPUs -> 1 node
    # x 2 (whole nodes of 8 at 64-512 GPUs: test_profile_name_works_as_typed_on_the_paper_gpu_counts),
    # runtime 90 minutes.
    assert sub["name"] == "train_cyclegan_2gpu"
    assert sub["argv"][:8] == ["-P", "gxx99999", "-q", "rt_HF", "-l", "select=1:mpiprocs=2", "-l", "walltime=01:30:00"]
    assert sub["argv"][8:14] == ["-N", "train_cyclegan_2gpu", "-j", "oe", "-o", f"{work / 'logs' / 'pbs'}/"]
    # Every rank ran inside the PBS job, started by the real mpirun of the profile's line, and read its
    # rank the way the trainer does.
    work_ranks = ranks(work, 2)
    assert [(r["rank"], r["size"], r["launcher"], r["job"]) for r in work_ranks] == [
        (0, 2, "mpirun", sub["jobid"]),
        (1, 2, "mpirun", sub["jobid"]),
    ]
    argv = work_ranks[0]["parent"]
    assert argv[:9] == ["mpirun", "-np", "2", "-map-by", "ppr:2:node", "-hostfile", argv[6], "-bind-to", "none"]
    assert argv[6].endswith(f"{sub['jobid']}.nodes")  # $PBS_NODEFILE
    assert (work_ranks[0]["master_addr"], work_ranks[0]["master_port"]) == ("localhost", 29500)
    # mpirun sets only the -x variables on the other nodes: each one the profile must carry is named.
    exported = {argv[i + 1] for i, a in enumerate(argv) if a == "-x"}
    for name in ("MASTER_ADDR", "MASTER_PORT", "OMP_NUM_THREADS", "PATH", "LD_LIBRARY_PATH"):
        assert name in exported, name
    assert {"NCCL_DEBUG", "NCCL_IB_HCA", "HOROVOD_FUSION_THRESHOLD"} <= exported
    assert work_ranks[1]["env"] == {
        "NCCL_DEBUG": "INFO",
        "NCCL_IB_HCA": "mlx5",
        "HOROVOD_FUSION_THRESHOLD": "0",
        "OMP_NUM_THREADS": "8",
    }
    # The site modules were loaded in the job, in the profile's order (environment-modules' own record).
    modules = abci_config()["envmodules"]
    for r in work_ranks:
        assert r["modules"] == ":".join(modules)
        assert r["module_marks"] == ":".join(m.split("/")[0] for m in modules)
    assert (work / "out" / "summary.txt").read_text().split() == ["2"]


def test_job_reported_failed_ends_the_run_with_an_error(tmp_path):
    work = abci_workflow(tmp_path)
    # Every submission of the training job is killed at its walltime (Exit_status -29).
    env = standin_env(tmp_path, FAKE_PBS_KILL="train_cyclegan_2gpu")
    proc = snakemake(work, env, "--profile", "profiles/abci", "--seconds-between-status-checks", "1")
    assert proc.returncode != 0
    assert "Error in rule train_cyclegan_2gpu" in proc.stderr
    assert "killed at its walltime limit 01:30:00 (Exit_status -29)" in proc.stderr
    # 1 + retries submissions, then Snakemake gives up; nothing after it ran.
    retries = profile(ABCI)["retries"]
    assert [s["name"] for s in records(tmp_path, "submissions.jsonl")] == ["train_cyclegan_2gpu"] * (1 + retries)
    assert not (work / "out" / "summary.txt").exists()


def test_walltime_killed_job_is_resubmitted_and_the_run_completes(tmp_path):
    work = abci_workflow(tmp_path)
    # The first submission is killed at its walltime, the retry runs; and the server keeps no job
    # history, so success is read from the job's own exit record.
    env = standin_env(tmp_path, FAKE_PBS_KILL="train_cyclegan_2gpu:1", FAKE_PBS_NO_HISTORY="1")
    proc = snakemake(work, env, "--profile", "profiles/abci", "--seconds-between-status-checks", "1")
    assert proc.returncode == 0, proc.stderr[-6000:]
    assert [s["name"] for s in records(tmp_path, "submissions.jsonl")] == ["train_cyclegan_2gpu"] * 2
    assert (work / "out" / "summary.txt").read_text().split() == ["2"]


def test_qstat_outage_keeps_the_run_alive(tmp_path):
    """qstat never answers during the run: the jobs' own exit records tell Snakemake they succeeded."""
    work = abci_workflow(tmp_path)
    env = standin_env(tmp_path, FAKE_PBS_QSTAT_DOWN="1", CYCLEAUG_PBS_STATUS_ATTEMPTS="1")
    proc = snakemake(work, env, "--profile", "profiles/abci", "--seconds-between-status-checks", "1")
    assert proc.returncode == 0, proc.stderr[-6000:]
    assert "qstat does not answer" in proc.stderr
    assert (work / "out" / "summary.txt").read_text().split() == ["2"]


def test_run_without_abci_group_stops_before_any_submission(tmp_path):
    work = abci_workflow(tmp_path)
    env = standin_env(tmp_path)
    del env["ABCI_GROUP"]
    proc = snakemake(work, env, "--profile", "profiles/abci", "--retries", "0", "--seconds-between-status-checks", "1")
    assert proc.returncode != 0
    assert "$ABCI_GROUP is not set: export ABCI_GROUP=" in proc.stderr
    assert records(tmp_path, "submissions.jsonl") == []


# ------------------------------------------------------------------ the demo's CycleGAN training through profiles/abci


@pytest.mark.slow
def test_demo_training_rules_through_abci_profile(tmp_path):
    need_mpirun_and_modules()
    work = workflow_copy(tmp_path)
    env = standin_env(tmp_path)
    # The data stage locally, as a user would before (or it would run as PBS jobs too).
    data = snakemake(
        work,
        env,
        "data/crops/bdd100k",
        "data/crops/synthia",
        "--cores",
        "2",
        "--configfiles",
        "profiles/demo/demo.yaml",
        "tiny.yaml",
    )
    assert data.returncode == 0, data.stderr[-6000:]
    # The training rules through the real ABCI profile; the 2-process run is killed as at its walltime
    # once its epoch-1 generator is saved, and must be resubmitted and resume.
    ckpt = "results/cyclegan/2gpu/checkpoints/1_net_G_A.pth"
    env["FAKE_PBS_TERM_WHEN"] = f"train_cyclegan_2gpu:{ckpt}"
    proc = snakemake(
        work,
        env,
        "train_cyclegan_1gpu",
        "train_cyclegan_2gpu",
        "--profile",
        "profiles/abci",
        "--seconds-between-status-checks",
        "1",
        "--configfiles",
        "profiles/abci/abci.yaml",
        "profiles/demo/demo.yaml",
        "tiny.yaml",
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]

    subs = records(tmp_path, "submissions.jsonl")
    # Only the training rules went to PBS (the data was up to date); 2gpu twice (killed, resubmitted).
    assert sorted(s["name"] for s in subs) == ["train_cyclegan_1gpu", "train_cyclegan_2gpu", "train_cyclegan_2gpu"]
    from cycleaug.plan import cyclegan_runtime_minutes
    from snakemake.utils import update_config

    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    for name in ("profiles/abci/abci.yaml", "profiles/demo/demo.yaml", "tiny.yaml"):
        update_config(config, yaml.safe_load((work / name).read_text()))
    attempts = {}
    for sub in subs:
        n = int(sub["name"].split("_")[-1][:-3])
        attempts[n] = attempts.get(n, 0) + 1
        # gpus_per_node 8: one node, n processes (one GPU: rt_HG); the walltime from the scaling model,
        # longer for the resubmission (attempt 2).
        walltime = pbs_submit.walltime(cyclegan_runtime_minutes(config, n, attempts[n]))
        assert sub["argv"][:8] == [
            "-P",
            "gxx99999",
            "-q",
            "rt_HG" if n == 1 else "rt_HF",
            "-l",
            f"select=1:mpiprocs={n}",
            "-l",
            f"walltime={walltime}",
        ]
    first, second = (s["argv"][7] for s in subs if s["name"] == "train_cyclegan_2gpu")
    assert first < second  # HH:MM:SS of the same width: a later retry asks for more time
    assert f"killed at its walltime limit {first[9:]} (Exit_status -29)" in proc.stderr
    # Each job ran the profile's real mpirun line, whose ranks the trainer read as mpirun's (its log
    # says so; the line itself: test_small_workflow_through_abci_profile).
    for n in (1, 2):
        log = (work / "logs" / "cyclegan" / f"train_{n}gpu.log").read_text()
        assert f"train-cyclegan: {n} process(es) started by mpirun, backend torch" in log

    for n in (1, 2):
        out = work / "results" / "cyclegan" / f"{n}gpu"
        for epoch in (1, 2):
            assert (out / "checkpoints" / f"{epoch}_net_G_A.pth").stat().st_size > 0
        log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
        assert {e["epoch"] for e in log} == {1, 2} and {e["world_size"] for e in log} == {n}
    # The resubmitted job continued from the checkpoint the killed one left.
    train_log = (work / "logs" / "cyclegan" / "train_2gpu.log").read_text()
    assert "resuming from" in train_log and "latest.pt" in train_log
