"""The site profiles' settings (profiles/abci: PBS Professional, profiles/slurm: Slurm).

- profiles/abci/config.yaml: the submit, status, sidecar and cancel commands, retries, envmodules, the
  default resources; profiles/slurm/config.yaml and the resources the training rules declare for it;
- the slurm executor plugin's own sbatch line for the training geometry, srun's --mpi flag;
- both site config files validate with the paper's config; no workflow profile (profiles/default) that
  could override the executor; tools/install_profiles.sh makes ``--profile abci`` work as typed.

Runs through the profiles: tests/test_dispatch_pbs_*.py (PBS stand-in) and tests/test_dispatch_slurm.py.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from types import SimpleNamespace

import pytest
import yaml
from cluster import ABCI, abci_config, profile
from conftest import ROOT
from cycleaug.glue import cyclegan as glue_cyclegan

SLURM = ROOT / "profiles" / "slurm"


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
