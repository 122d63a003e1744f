"""Cluster dispatch through the ABCI (PBS Professional) profile, and the profiles' settings.

No PBS package exists here, so ``tests/standins/fake_pbs.py`` plays qsub/qstat/qdel: qsub records each
submission and runs the job script in the background, as a MoM would, qstat answers from what happened.
Everything inside a job is real: the job script Snakemake wrote, ``module load`` of the profile's site
modules (environment-modules; the modulefiles are the test's), and the profile's Open MPI ``mpirun``
line on a host file naming localhost. Snakemake runs through the real ``profiles/abci`` unchanged; only
PATH differs. The Slurm profile runs against a real Slurm: tests/test_dispatch_slurm.py.

- pbs_status.py against recorded ``qstat -x -f`` outputs (running, queued, finished, failed, killed
  at the walltime, deleted, system hold) and against a qstat that forgets jobs or fails;
- pbs_submit.py: walltime from minutes, the group from $ABCI_GROUP, the 128-node limit;
- the profiles' settings, ``--profile abci`` as typed after tools/install_profiles.sh (a dry run of
  the paper's GPU counts: nodes and processes per node), no workflow profile (profiles/default)
  that could override the executor;
- a small workflow of the CycleGAN stage's shape (tests/cluster.py): recorded qsub lines, mpirun's own
  argv and the modules each rank saw, every rank run inside its job; a job the scheduler reports
  failed (walltime) ends the run with an error; a walltime-killed job is resubmitted by --retries;
  no $ABCI_GROUP: nothing submitted; Ctrl-C: qdel;
- (slow) the demo's real training rules through ``profiles/abci``: the 2-process run is killed as at
  its walltime after its first saved epoch, resubmitted, and resumes from its checkpoint.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from cluster import (
    kill_sessions,
    load_script,
    mini_workflow,
    modulefiles,
    mpi_env,
    need_programs,
    ranks,
    snakemake,
    snakemake_in_a_terminal,
    wait_for,
)
from conftest import BIN, ROOT
from cycleaug.glue import cyclegan as glue_cyclegan

ABCI = ROOT / "profiles" / "abci"
SLURM = ROOT / "profiles" / "slurm"
QSTAT_SAMPLES = ROOT / "tests" / "data" / "pbs"
FAKE_PBS = ROOT / "tests" / "standins" / "fake_pbs.py"


pbs_status = load_script(ABCI / "pbs_status.py")
pbs_submit = load_script(ABCI / "pbs_submit.py")


def make_bin(tmp_path: Path, names=("qsub", "qstat", "qdel")) -> Path:
    """A bin directory of shims that run the stand-in with this interpreter."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name in names:
        shim = bin_dir / name
        shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE_PBS}" {name} "$@"\n')
        shim.chmod(shim.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return bin_dir


def standin_env(tmp_path: Path, **extra: str) -> dict:
    """PBS's commands from the stand-in; Open MPI's mpirun and environment-modules' `module` real, with a
    modulefile for each of the profile's envmodules."""
    env = dict(os.environ)
    env["PATH"] = f"{make_bin(tmp_path)}{os.pathsep}{BIN}{os.pathsep}{env['PATH']}"
    env["FAKE_PBS_DIR"] = str(tmp_path / "pbs")
    env["ABCI_GROUP"] = "gxx99999"
    env["CYCLEAUG_PBS_STATUS_DELAY"] = "0.1"
    env["MODULEPATH"] = str(modulefiles(tmp_path / "modulefiles", abci_config()["envmodules"]))
    env.pop("SNAKEMAKE_PROFILE", None)
    env.update(mpi_env())
    env.update(extra)
    return env


def need_mpirun_and_modules() -> None:
    need_programs("mpirun", package="openmpi-bin")
    if not Path(abci_config_file()["bash-env"]).exists():
        pytest.skip("environment-modules not installed (Debian: environment-modules; `make test` installs it)")


def abci_workflow(tmp_path: Path) -> Path:
    """The small workflow with one 2-process training rule, its jobs run by the real mpirun and modules."""
    need_mpirun_and_modules()
    return mini_workflow(tmp_path, gpu_counts=(2,))


def abci_config_file() -> dict:
    """The options pbs_submit.py gets from the profile (--bash-env: the site's modules.sh)."""
    words = profile(ABCI)["cluster-generic-submit-cmd"].split()
    return {"bash-env": words[words.index("--bash-env") + 1]}


def records(tmp_path: Path, name: str) -> list[dict]:
    path = tmp_path / "pbs" / name
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def abci_config() -> dict:
    return yaml.safe_load((ABCI / "abci.yaml").read_text())


# ------------------------------------------------------------------ pbs_status.py: qstat -x -f samples


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


def write_script(tmp_path: Path, body: str, name: str = "qstat") -> Path:
    script = tmp_path / name
    script.write_text("#!/bin/sh\n" + body)
    script.chmod(0o755)
    return script


def run_status(tmp_path: Path, jobid: str, qstat: Path, exit_dir: Path | None = None):
    env = dict(os.environ, CYCLEAUG_QSTAT=str(qstat), CYCLEAUG_PBS_STATUS_DELAY="0", CYCLEAUG_PBS_STATUS_ATTEMPTS="3")
    if exit_dir is not None:
        env["CYCLEAUG_PBS_EXIT_DIR"] = str(exit_dir)
    return subprocess.run(
        [sys.executable, str(ABCI / "pbs_status.py"), jobid],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )


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


# ------------------------------------------------------------------ pbs_submit.py


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
    return subprocess.run(
        [sys.executable, str(ABCI / "pbs_submit.py"), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )


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


# ------------------------------------------------------------------ the profiles themselves


def profile(path: Path) -> dict:
    return yaml.safe_load((path / "config.yaml").read_text())


def test_abci_profile_settings():
    cfg = profile(ABCI)
    assert cfg["executor"] == "cluster-generic"
    submit_cmd = " ".join(cfg["cluster-generic-submit-cmd"].split())
    for part in (
        "--nodes {resources.nodes}",
        "--ppn {resources.ppn}",
        "--runtime {resources.runtime}",
        "--name {rule}",
        "--max-nodes 128",
        "--queue {resources.pbs_queue}",
        "--gpus {resources.gpu}",
    ):
        assert part in submit_cmd
    # A bare file name of the profile folder: Snakemake makes it absolute (works from ~/.config too).
    assert (ABCI / cfg["cluster-generic-status-cmd"]).is_file()
    assert os.access(ABCI / cfg["cluster-generic-status-cmd"], os.X_OK)
    # Cancelling is the sidecar's (Snakemake's own cancel misses jobs and has 2 seconds): a no-op here.
    assert cfg["cluster-generic-cancel-cmd"] == "true"
    assert os.access(ABCI / cfg["cluster-generic-sidecar-cmd"], os.X_OK)
    assert cfg["retries"] >= 1 and cfg["use-envmodules"] is True
    assert "rerun-incomplete" not in cfg  # it resubmits jobs still in the queue instead of re-attaching
    # Jobs start with `module purge`: the Python module the venv was made with must be loaded again.
    modules = abci_config()["envmodules"]
    assert modules[0].startswith("python/3.")
    # The torch wheel brings its own CUDA runtime, cuDNN and NCCL (the nvidia-* packages): a site module
    # of any of them on the ranks' LD_LIBRARY_PATH (exported with -x) would load a second NCCL.
    assert importlib.util.find_spec("nvidia.nccl") is not None
    assert [m for m in modules if m.split("/")[0] in ("cuda", "cudnn", "nccl")] == []
    assert {"nodes", "ppn", "runtime", "pbs_queue", "gpu"} <= set(cfg["default-resources"])
    assert "set-resources" not in cfg  # queues follow the rules' own gpu resource, not a list of rule names
    for path in cfg["configfiles"]:
        assert (ROOT / path).is_file()


def test_slurm_profile_settings():
    cfg = profile(SLURM)
    assert cfg["executor"] == "slurm"
    for path in cfg["configfiles"]:
        assert (ROOT / path).is_file()
    # No rule names in the profile: the training rules declare their MPI tasks, cores and memory from
    # slurm.yaml (glue.site_resources); the profile no longer replaces them.
    assert "set-resources" not in cfg and "rerun-incomplete" not in cfg
    assert cfg["default-resources"]["mem_mb"] >= 4000
    from snakemake.utils import update_config

    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    update_config(config, yaml.safe_load((SLURM / "slurm.yaml").read_text()))
    for n in config["cyclegan"]["gpu_counts"]:
        res = glue_cyclegan.training_resources(config, n)
        assert res["tasks_per_node"] == min(n, config["gpus_per_node"]) and res["mpi"]
        assert res["mem_mb"] == res["tasks_per_node"] * 4000 and res["cpus_per_task"] == 8
        assert res["gres"] == f"gpu:{res['tasks_per_node']}" and "gpu" not in res


class _Resources(dict):
    __getattr__ = dict.__getitem__


@pytest.mark.parametrize(
    ("gpus", "per_node", "expected", "gres"),
    [
        (8, 4, "--nodes=2 --ntasks-per-node=4 --cpus-per-task=8", 4),
        (12, 8, "--nodes=2 --ntasks-per-node=6 --cpus-per-task=8", 6),  # 2 nodes x 6, not 8 + 4
        (4, 1, "--nodes=4 --ntasks-per-gpu=1 --ntasks=4 --cpus-per-task=8", 1),  # one task per node
    ],
)
def test_slurm_plugin_accepts_the_training_geometry(gpus, per_node, expected, gres):
    """The slurm executor plugin's own sbatch line for a training rule's resources: GPUs per node by
    --gres, tasks per node, and one task per node (which the plugin refuses as tasks_per_node 1)."""
    from snakemake.utils import update_config
    from snakemake_executor_plugin_slurm.submit_string import get_submit_command
    from snakemake_executor_plugin_slurm.utils import set_gres_string

    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    update_config(config, yaml.safe_load((SLURM / "slurm.yaml").read_text()))
    config["gpus_per_node"] = per_node
    job = SimpleNamespace(resources=_Resources(runtime=90, **glue_cyclegan.training_resources(config, gpus)), threads=1)
    params = dict(run_uuid="u", slurm_logfile="l", comment_str="c", account="", partition="", workdir="")
    call = get_submit_command(job, params)
    assert expected in " ".join(call.split())
    assert set_gres_string(job) == f" --gres=gpu:{gres}"


def test_slurm_mpi_flag_follows_the_backend_or_the_key():
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    config["slurm"] = {"mpi": "srun"}
    assert glue_cyclegan.srun_mpi_flag(config) == ""  # torch: ranks from Slurm's variables, no PMI
    config["cyclegan"]["backend"] = "horovod"
    assert glue_cyclegan.srun_mpi_flag(config) == "--mpi=pmix"
    config["slurm"]["srun_mpi"] = "pmi2"
    assert glue_cyclegan.srun_mpi_flag(config) == "--mpi=pmi2"
    config["slurm"]["srun_mpi"] = ""
    assert glue_cyclegan.srun_mpi_flag(config) == ""


@pytest.mark.parametrize("site", [ABCI / "abci.yaml", SLURM / "slurm.yaml"])
def test_site_config_files_validate_with_the_paper_config(site):
    from cycleaug.config_check import check_config, schema_errors
    from snakemake.utils import update_config

    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    update_config(config, yaml.safe_load(site.read_text()))
    assert schema_errors(config, ROOT / "workflow" / "schemas" / "config.schema.yaml") == []
    check_config(config)
    assert "{n}" in config["launcher"] and "{ppn}" in config["launcher"] and "{cmd}" in config["launcher"]


def test_no_workflow_profile_can_override_the_cluster_executor():
    # Snakemake loads profiles/default (or ./default) automatically, and a workflow profile wins over
    # --profile key by key: an `executor:` there would silently run everything on the login node.
    for candidate in (ROOT / "profiles" / "default", ROOT / "default"):
        for name in ("config.yaml", "profile.yaml", "config.v9+.yaml", "profile.v9+.yaml"):
            path = candidate / name
            if path.exists():
                keys = set(yaml.safe_load(path.read_text()) or {})
                assert not keys & {"executor", "jobs", "cluster-generic-submit-cmd", "default-resources"}, path


def test_install_profiles_makes_profile_names_work(tmp_path):
    home = tmp_path / "home"
    env = dict(os.environ, HOME=str(home))
    env.pop("XDG_CONFIG_HOME", None)
    proc = subprocess.run(
        ["bash", str(ROOT / "tools" / "install_profiles.sh")], capture_output=True, text=True, env=env
    )
    assert proc.returncode == 0, proc.stderr
    for name in ("abci", "slurm"):
        link = home / ".config" / "snakemake" / name
        assert link.is_symlink() and link.resolve() == (ROOT / "profiles" / name).resolve()
    # What `snakemake --profile abci` resolves, with that HOME.
    code = "from snakemake.cli import get_profile_dir; d, f = get_profile_dir('abci'); print(f)"
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT)
    assert found.stdout.strip() == str(home / ".config" / "snakemake" / "abci" / "config.yaml")
    # A second run replaces its own links; a directory of the user's is never touched.
    (home / ".config" / "snakemake" / "slurm").unlink()
    (home / ".config" / "snakemake" / "slurm").mkdir()
    again = subprocess.run(
        ["bash", str(ROOT / "tools" / "install_profiles.sh")], capture_output=True, text=True, env=env
    )
    assert again.returncode == 1 and "is not a link; left as it is" in again.stderr
    assert (home / ".config" / "snakemake" / "slurm").is_dir()


# ------------------------------------------------------------------ the real workflow in a scratch directory

TINY = {
    "data": {
        "demo": {"n_bdd_train": 16, "n_bdd_val": 4, "n_synthia": 16, "bdd_size": [128, 80], "synthia_size": [128, 80]}
    },
    "crop": {"size": 32, "min_height": 12, "n_heldout": 4, "workers": 1},
    "cyclegan": {
        "gpu_counts": [1, 2],
        "ngf": 4,
        "ndf": 4,
        "n_blocks": 1,
        "load_size": 36,
        "crop_size": 32,
        "n_epochs": 1,
        "n_epochs_decay": 1,
        "save_epochs": [1, 2],
    },
    "generate": {"sample_epochs": [2]},
}


def workflow_copy(tmp_path: Path) -> Path:
    """A working directory that sees the repository's workflow, config and profiles (outputs stay here)."""
    work = tmp_path / "work"
    work.mkdir()
    for name in ("Snakefile", "workflow", "config.yaml", "profiles", "envs"):
        (work / name).symlink_to(ROOT / name)
    (work / "tiny.yaml").write_text(yaml.safe_dump(TINY))
    return work


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


# ------------------------------------------------------------------ a small workflow through the profiles


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


def abci_in_a_terminal(work: Path, env: dict) -> subprocess.Popen:
    return snakemake_in_a_terminal(work, env, "--profile", "profiles/abci", "--seconds-between-status-checks", "1")


def end_everything(proc: subprocess.Popen, tmp_path: Path) -> None:
    """After a test: Snakemake's session, and every stand-in job still running (sessions of their own)."""
    sids = [proc.pid]
    for path in (tmp_path / "pbs" / "jobs").glob("*.json"):
        job = json.loads(path.read_text())
        sids += [s for s in (job.get("job_pgid"), job.get("runner_pid")) if s]
    kill_sessions(*sids)
    proc.wait(timeout=60)


def exists(path: Path):
    return path.exists


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
