"""pbs_submit.py of the ABCI profile (PBS Professional): what a job asks PBS for.

No PBS package exists here, so ``tests/standins/fake_pbs.py`` plays qsub (tests/cluster.py puts it on
PATH) and records each submission.

- walltime from the rule's runtime minutes (rounded up, capped), the queue from the job's GPUs and nodes;
- the qsub line (group from $ABCI_GROUP, select, walltime, -V, BASH_ENV) and the submitted script, which
  records its own exit status; no $ABCI_GROUP, more than 128 nodes, a failing qsub: clear errors;
- dry runs through the profile: ``--profile abci`` as typed after tools/install_profiles.sh on the paper's
  GPU counts (queue, nodes and processes per node of every job), and a fresh clone without the data
  (the plan, the downloads, nothing submitted).
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from cluster import ABCI, load_script, records, run_abci_script, snakemake, standin_env, workflow_copy, write_script
from conftest import ROOT

pbs_status = load_script(ABCI / "pbs_status.py")
pbs_submit = load_script(ABCI / "pbs_submit.py")


@pytest.mark.parametrize(
    "minutes, cap, expected",
    [
        (60, None, "01:00:00"),
        (0.5, None, "00:00:30"),
        (1.01, None, "00:01:01"),  # rounded up: a job never gets less than it asked for
        (4127, None, "68:47:00"),  # the paper's 4-GPU run, 68.77 h, in minutes
        (4127, "24:00:00", "24:00:00"),
    ],
)
def test_walltime_from_runtime_minutes(minutes, cap, expected):
    assert pbs_submit.walltime(minutes, cap) == expected


@pytest.mark.parametrize(
    "queue, gpus, nodes, expected",
    [
        ("auto", 1, 1, "rt_HG"),
        ("auto", 0, 1, "rt_HC"),
        ("auto", 8, 1, "rt_HF"),
        ("auto", 1, 2, "rt_HF"),
        ("rt_HC", 0, 1, "rt_HC"),
    ],
)
def test_queue_follows_the_jobs_gpus(queue, gpus, nodes, expected):
    assert pbs_submit.queue_for(queue, gpus, nodes) == expected


def jobscript(tmp_path: Path, body: str = "cd /somewhere && echo hi && exit 0 || exit 1") -> Path:
    path = tmp_path / "snakejob.train_cyclegan_64gpu.3.sh"
    path.write_text('#!/bin/sh\n# properties = {"rule": "train_cyclegan_64gpu"}\n' + body + "\n")
    return path


def submit(tmp_path: Path, *args: str, env: dict):
    return run_abci_script("pbs_submit.py", tmp_path, *args, env=env)


def test_submit_builds_the_qsub_line(tmp_path):
    env = standin_env(tmp_path)
    script = jobscript(tmp_path, "exit 0")
    proc = submit(
        tmp_path,
        "--nodes",
        "8",
        "--ppn",
        "8",
        "--runtime",
        "720",
        "--name",
        "train_cyclegan_64gpu",
        "--max-walltime",
        "168:00:00",
        "--bash-env",
        "/etc/profile.d/modules.sh",
        str(script),
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "1.fakepbs\n"  # qsub's job id, nothing else
    (sub,) = records(tmp_path, "submissions.jsonl")
    assert sub["argv"] == [
        "-P",
        "gxx99999",
        "-q",
        "rt_HF",
        "-l",
        "select=8:mpiprocs=8",
        "-l",
        "walltime=12:00:00",
        "-N",
        "train_cyclegan_64gpu",
        "-j",
        "oe",
        "-o",
        f"{tmp_path / 'logs' / 'pbs'}/",
        "-V",
        "-v",
        "BASH_ENV=/etc/profile.d/modules.sh",
        f"{script}.pbs",
    ]
    # The submitted script is Snakemake's, in a subshell, followed by its exit-status record.
    lines = sub["script"].splitlines()
    assert lines[:4] == ["#!/bin/sh", '# properties = {"rule": "train_cyclegan_64gpu"}', "(", "exit 0"]
    assert '.snakemake/pbs-exit/"$PBS_JOBID"' in sub["script"] and lines[-1] == "exit $rc"


def test_submitted_script_records_its_exit_status(tmp_path):
    script = jobscript(tmp_path, "exit 3")
    wrapped = pbs_submit.wrap_jobscript(script, tmp_path / "exits")
    proc = subprocess.run(["sh", str(wrapped)], env=dict(os.environ, PBS_JOBID="5.pbs1"))
    assert proc.returncode == 3
    assert (tmp_path / "exits" / "5.pbs1").read_text() == "3\n"
    assert pbs_status.from_exit_file("5.pbs1", tmp_path / "exits")[0] == "failed"


def test_submit_without_group_fails_clearly(tmp_path):
    env = standin_env(tmp_path)
    del env["ABCI_GROUP"]
    proc = submit(
        tmp_path, "--nodes", "1", "--ppn", "4", "--runtime", "60", "--name", "r", str(jobscript(tmp_path)), env=env
    )
    assert proc.returncode != 0 and proc.stdout == ""
    assert "$ABCI_GROUP is not set: export ABCI_GROUP=" in proc.stderr
    assert records(tmp_path, "submissions.jsonl") == []


def test_submit_over_128_nodes_fails_clearly(tmp_path):
    env = standin_env(tmp_path)
    proc = submit(
        tmp_path,
        "--nodes",
        "129",
        "--ppn",
        "8",
        "--runtime",
        "60",
        "--name",
        "train_cyclegan_1032gpu",
        "--max-nodes",
        "128",
        str(jobscript(tmp_path)),
        env=env,
    )
    assert proc.returncode != 0
    assert "train_cyclegan_1032gpu asks for 129 nodes, but one job may use at most 128" in proc.stderr
    assert records(tmp_path, "submissions.jsonl") == []


def test_failing_qsub_is_reported(tmp_path):
    env = standin_env(tmp_path)
    qsub = write_script(tmp_path, 'echo "qsub: Job rejected by all possible destinations" >&2\nexit 15\n', "qsub")
    proc = submit(
        tmp_path,
        "--nodes",
        "1",
        "--ppn",
        "1",
        "--runtime",
        "60",
        "--name",
        "r",
        "--qsub",
        str(qsub),
        str(jobscript(tmp_path)),
        env=env,
    )
    assert proc.returncode == 15 and proc.stdout == ""
    assert "Job rejected by all possible destinations" in proc.stderr


# ------------------------------------------------------------------ dry runs through the profile


def dry_run_resources(output: str) -> dict[str, set[str]]:
    """rule name -> the distinct 'QUEUE, nodes=..., ppn=...' of its jobs in a dry run's output, QUEUE being
    the queue pbs_submit.py picks from the job's pbs_queue, gpu and nodes resources."""
    found: dict[str, set[str]] = {}
    rule = None
    for line in output.splitlines():
        m = re.match(r"(?:local)?rule (\w+):$", line)
        if m:
            rule = m.group(1)
        if rule and line.lstrip().startswith("resources:"):
            res = dict(re.findall(r"(\w+)=([^,\s]+)", line))
            queue = pbs_submit.queue_for(res["pbs_queue"], int(res.get("gpu", 0)), int(res["nodes"]))
            found.setdefault(rule, set()).add(f"{queue}, nodes={res['nodes']}, ppn={res['ppn']}")
    return found


def test_profile_name_works_as_typed_on_the_paper_gpu_counts(tmp_path):
    # After tools/install_profiles.sh, `snakemake --profile abci` finds ~/.config/snakemake/abci;
    # a dry run of the paper's GPU counts shows what each job would ask PBS for.
    home = tmp_path / "home"
    env = standin_env(tmp_path, HOME=str(home))
    env.pop("XDG_CONFIG_HOME", None)
    subprocess.run(
        ["bash", str(ROOT / "tools" / "install_profiles.sh"), "abci"], env=env, check=True, capture_output=True
    )
    work = workflow_copy(tmp_path)
    (work / "paper_counts.yaml").write_text(yaml.safe_dump({"cyclegan": {"gpu_counts": [4, 64, 128, 256, 512]}}))
    proc = snakemake(
        work,
        env,
        "fid",
        "train_yolo_c_gen4gpu",
        "--profile",
        "abci",
        "--dry-run",
        "--configfiles",
        "profiles/abci/abci.yaml",
        "profiles/demo/demo.yaml",
        "tiny.yaml",
        "paper_counts.yaml",
    )
    assert proc.returncode == 0, proc.stderr[-6000:]
    out = proc.stdout + proc.stderr
    assert "Using profile abci for setting default command line arguments." in out
    found = dry_run_resources(out)
    # Whole 8-GPU nodes for the training runs: 4 GPUs -> 1 x 4 ... 512 GPUs -> 64 x 8 (within 128 nodes).
    for n, nodes, ppn in ((4, 1, 4), (64, 8, 8), (128, 16, 8), (256, 32, 8), (512, 64, 8)):
        assert found[f"train_cyclegan_{n}gpu"] == {f"rt_HF, nodes={nodes}, ppn={ppn}"}
    # One GPU (rt_HG) for generation, FID and the detector (they declare gpu=1); CPU rules on rt_HF.
    for rule in ("samples", "translate_detector_set", "fid", "train_yolo_c_gen4gpu"):
        assert found[rule] == {"rt_HG, nodes=1, ppn=1"}, rule
    assert found["crop_bdd100k"] == {"rt_HC, nodes=1, ppn=1"}
    assert records(tmp_path, "submissions.jsonl") == []  # a dry run submits nothing


def test_dry_run_before_the_data_exists_shows_the_plan_and_the_downloads(tmp_path):
    """A fresh clone, the paper's config, nothing downloaded: the dry run (`-np`, as users type it) shows
    every job with its mpirun line and lists what to download, and so do `--dag` and `--rulegraph`; a
    real run stops before submitting anything."""
    env = standin_env(tmp_path)
    work = workflow_copy(tmp_path)
    dry = snakemake(work, env, "--profile", "profiles/abci", "-np")
    assert dry.returncode == 0, dry.stderr[-6000:]
    out = dry.stdout + dry.stderr
    assert "still to download (a real run stops here)" in out
    assert "data.bdd100k.images: downloads/bdd100k_images_100k.zip does not exist" in out
    for n in (4, 64, 128, 256, 512):
        assert f"rule train_cyclegan_{n}gpu:" in out
        assert f"mpirun -np {n} -map-by ppr:{min(n, 8)}:node" in out
    # Every job that asks for a GPU runs its command with --device cuda (config.yaml's device): none
    # can fall back to the CPU on a node without a usable GPU.
    gpu_jobs = 0
    for block in out.split("\nrule ")[1:]:
        resources = next((line for line in block.splitlines() if line.strip().startswith("resources:")), "")
        if re.search(r"\bgpu=[1-9]", resources):
            gpu_jobs += 1
            assert "--device cuda" in block.split("Shell command:", 1)[1], block[:200]
    assert gpu_jobs > 20
    # The maintained backend by default (torch.distributed with the wheel's NCCL), not horovod 0.28.
    training = [line for line in out.splitlines() if "cycleaug train-cyclegan" in line]
    assert len(training) == 5 and all("--backend torch" in line for line in training)
    for mode, marker in (("--dag", "digraph snakemake_dag"), ("--rulegraph", "digraph snakemake_dag")):
        graph = snakemake(work, env, "--profile", "profiles/abci", mode)
        assert graph.returncode == 0 and graph.stdout.lstrip().startswith(marker), mode + graph.stderr[-3000:]
        assert "train_cyclegan_512gpu" in graph.stdout and "still to download" in graph.stderr
    real = snakemake(work, env, "--profile", "profiles/abci")
    assert real.returncode != 0
    assert "missing inputs:" in real.stderr
    assert records(tmp_path, "submissions.jsonl") == []
