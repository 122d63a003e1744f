"""What the cluster-dispatch tests share (tests/test_dispatch_pbs_*.py: PBS, tests/test_dispatch_slurm.py:
Slurm, tests/test_dispatch_profiles.py: the profiles' settings).

A small workflow of the CycleGAN stage's shape, launched by the site profiles' real launcher lines
(Open MPI's mpirun, Slurm's srun); each rank records what it saw, as the trainer reads it
(cycleaug.cyclegan.distributed.detect_env); Snakemake started as from a terminal, and waits on events.
For PBS: the stand-in's commands (tests/standins/fake_pbs.py) and what it recorded, the ABCI profile's
settings, and a scratch copy of the real workflow (tiny config) for runs through the profile.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import BIN, ROOT

ABCI = ROOT / "profiles" / "abci"
FAKE_PBS = ROOT / "tests" / "standins" / "fake_pbs.py"

# The shape of the CycleGAN stage in miniature: one training rule per process count with the
# resources gpu/nodes/ppn/runtime, site modules from config, the launcher template from the
# profile's config file; a local rule after it. Each rank writes a file naming its rank and world size.
MINI_SNAKEFILE = """
from cycleaug.glue.cyclegan import carry_slurm_conf, launcher, training_resources

configfile: "config.yaml"

carry_slurm_conf()

localrules: summary


def launch(n, cmd):
    return f"{launcher(config, n)} {cmd}"


rule summary:
    input: expand("out/{n}gpu.done", n=config["gpu_counts"])
    output: "out/summary.txt"
    shell: "cat {input} > {output}"


for _n in config["gpu_counts"]:

    rule:
        name: f"train_cyclegan_{_n}gpu"
        output: f"out/{_n}gpu.done"
        log: f"logs/train_{_n}gpu.log"
        threads: _n
        resources:
            runtime=90,
            **training_resources(config, _n),
        envmodules: *config["envmodules"]
        params:
            launch=launch(_n, f"python rank.py out/{_n}gpu {config['cyclegan']['backend']}"),
            ranks=f"out/{_n}gpu.rank*",
        shell: "{params.launch} > {log} 2>&1 && ls {params.ranks} | wc -l > {output}"
"""

# Each rank: rank, world size, launcher and rendezvous address as the trainer reads them; its job; the
# modules loaded; the command line of its parent (mpirun's own argv under mpirun); the variables the
# profile must carry to every rank; with the horovod backend, what horovod says of the job (an allreduce
# across the ranks, MPI or not). MINI_SLEEP: wait (after writing .started.<rank>); MINI_FAIL: exit so.
RANK_PY = """
import json, os, sys, time
from cycleaug.cyclegan.distributed import detect_env
env = detect_env()
open(f"{sys.argv[1]}.started.{env.rank}", "w").close()
if os.environ.get("MINI_SLEEP"):
    time.sleep(float(os.environ["MINI_SLEEP"]))
if os.environ.get("MINI_FAIL"):
    sys.exit(int(os.environ["MINI_FAIL"]))
hvd = None
if sys.argv[2] == "horovod":  # the ranks join horovod as the trainer does, and sum their rank + 1
    import horovod.torch as hvd, torch
    hvd.init()
    total = int(hvd.allreduce(torch.tensor([env.rank + 1]), op=hvd.Sum))
with open(f"/proc/{os.getppid()}/cmdline") as f:
    parent = f.read().split("\\0")[:-1]
record = {
    "rank": env.rank, "size": env.world_size, "local_rank": env.local_rank, "launcher": env.launcher,
    "master_addr": env.master_addr, "master_port": env.master_port,
    "job": os.environ.get("PBS_JOBID") or os.environ.get("SLURM_JOB_ID"),
    "step": os.environ.get("SLURM_STEP_ID"), "modules": os.environ.get("LOADEDMODULES"),
    "module_marks": os.environ.get("CYCLEAUG_TEST_MODULES"), "parent": parent,
    "env": {k: os.environ.get(k) for k in ("NCCL_DEBUG", "NCCL_IB_HCA", "HOROVOD_FUSION_THRESHOLD", "OMP_NUM_THREADS")},
    "horovod": hvd and {"rank": hvd.rank(), "size": hvd.size(), "mpi": hvd.mpi_enabled(), "sum": total},
}
with open(f"{sys.argv[1]}.rank{env.rank}", "w") as f:
    json.dump(record, f)
"""


def load_script(path: Path):
    """A script of the repository (a profile's helper, a tool) imported as a module."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def mini_workflow(tmp_path: Path, gpu_counts=(2,), **config) -> Path:
    work = tmp_path / "work"
    work.mkdir()
    (work / "Snakefile").write_text(MINI_SNAKEFILE)
    (work / "rank.py").write_text(RANK_PY)
    base = {
        "gpu_counts": list(gpu_counts),
        "gpus_per_node": 4,
        "envmodules": [],
        "launcher": "unused {cmd}",
        "cyclegan": {"backend": "torch"},
    }
    (work / "config.yaml").write_text(yaml.safe_dump({**base, **config}))
    # The profiles name their helper scripts and config files relative to the working directory.
    (work / "profiles").symlink_to(ROOT / "profiles")
    return work


def ranks(work: Path, n: int) -> list[dict]:
    """The records of run ``{n}gpu``'s ranks, in rank order."""
    return [json.loads((work / "out" / f"{n}gpu.rank{r}").read_text()) for r in range(n)]


def mpi_env() -> dict[str, str]:
    """What Open MPI needs to start here: the tests run as root in CI (mpirun refuses root without
    these two), and ranks in one container may not ptrace each other (no CMA single-copy)."""
    env = {"OMPI_MCA_btl_vader_single_copy_mechanism": "none"}
    if os.geteuid() == 0:
        env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    return env


def need_programs(*names: str, package: str) -> None:
    missing = [n for n in names if not shutil.which(n, path=os.environ["PATH"] + ":/usr/sbin:/sbin")]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed (Debian: {package}; `make test` installs it as root)")


def modulefiles(folder: Path, names: list[str]) -> Path:
    """A MODULEPATH with a modulefile for each of ``names`` (e.g. python/3.12/3.12.9), each appending its
    first path part to $CYCLEAUG_TEST_MODULES, so a rank shows which site modules its job loaded."""
    for name in names:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"#%Module1.0\nappend-path CYCLEAUG_TEST_MODULES {name.split('/')[0]}\n")
    return folder


def snakemake(work: Path, env: dict, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "snakemake"), *args], cwd=work, env=env, capture_output=True, text=True, timeout=timeout
    )


def _default_sigint() -> None:
    # A command started in the background by a non-interactive shell (CI, nohup, `make test &`) inherits
    # SIGINT ignored, and so would Snakemake: give it the disposition a terminal's foreground job has.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def snakemake_in_a_terminal(work: Path, env: dict, *args: str) -> subprocess.Popen:
    """`snakemake ARGS` as typed at a terminal: its own process group (a Ctrl-C reaches Snakemake and
    every child it started), SIGINT not ignored."""
    return subprocess.Popen(
        [str(BIN / "snakemake"), *args],
        cwd=work,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=_default_sigint,
    )


def wait_for(ready, proc: subprocess.Popen, what: str, timeout: float = 300) -> None:
    """Until ``ready()`` (an event the scheduler or a rank writes), failing if Snakemake exits first."""
    deadline = time.monotonic() + timeout
    while not ready():
        if proc.poll() is not None:
            raise AssertionError(f"snakemake exited ({proc.returncode}) before {what}:\n{proc.stderr.read()[-4000:]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen in {timeout:.0f} s")
        time.sleep(0.05)


def kill_sessions(*sids: int) -> None:
    """SIGKILL every process of these sessions (a scheduler's job, with ranks in process groups of their
    own under mpirun) and of Snakemake's."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            if os.getsid(int(pid)) in sids:
                os.kill(int(pid), signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


# ------------------------------------------------------------------ PBS: the stand-in and the ABCI profile


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


def profile(path: Path) -> dict:
    return yaml.safe_load((path / "config.yaml").read_text())


def run_abci_script(name: str, cwd: Path, *args: str, env: dict) -> subprocess.CompletedProcess:
    """``python profiles/abci/NAME ARGS`` in ``cwd`` with ``env``, as Snakemake calls the profile's helper
    scripts (pbs_submit.py, pbs_status.py); output captured, a minute at most."""
    return subprocess.run(
        [sys.executable, str(ABCI / name), *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=60
    )


def write_script(tmp_path: Path, body: str, name: str = "qstat") -> Path:
    script = tmp_path / name
    script.write_text("#!/bin/sh\n" + body)
    script.chmod(0o755)
    return script


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
