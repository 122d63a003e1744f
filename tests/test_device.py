"""The device a GPU job computes on: `--device cuda` never falls back to the CPU, and every rank of a job
must agree. CUDA is faked at the torch.cuda boundary only (this machine has no GPU)."""

from __future__ import annotations

import socket
import warnings

import pytest
import torch
from cycleaug.cyclegan.distributed import disagreements
from cycleaug.errors import CycleAugError
from cycleaug.runtime import resolve_device

TOO_OLD = (
    "CUDA initialization: The NVIDIA driver on your system is too old (found version 12040). Please update "
    "your GPU driver by downloading and installing a new version from the URL: http://www.nvidia.com/Download/index.aspx"
)


@pytest.fixture
def fake_cuda(monkeypatch):
    """torch.cuda with ``count`` GPUs (0: none found, as without a driver), optionally warning as torch
    does when the driver is older than the wheel's CUDA; records set_device."""
    state = {"count": 0, "warning": None, "set": []}

    def is_available():
        if state["warning"]:
            warnings.warn(state["warning"], UserWarning, stacklevel=2)
            return False
        return state["count"] > 0

    monkeypatch.setattr(torch.version, "cuda", "13.0")
    monkeypatch.setattr(torch.cuda, "is_available", is_available)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: state["count"])
    monkeypatch.setattr(torch.cuda, "set_device", lambda i: state["set"].append(i))
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    return state


def _error(*args) -> str:
    with pytest.raises(CycleAugError) as info:
        resolve_device(*args)
    return str(info.value)


@pytest.mark.filterwarnings("ignore:CUDA initialization")
def test_driver_too_old_stops_with_host_rank_and_torchs_reason(fake_cuda):
    fake_cuda["warning"] = TOO_OLD
    message = _error("cuda", 3, 11)
    assert message.startswith(f"{socket.gethostname()} rank 11: --device cuda: CUDA is not usable: ")
    assert "driver on your system is too old (found version 12040)" in message and "\n" not in message
    assert resolve_device("auto", 3) == torch.device("cpu")  # auto is the laptop's choice, never cuda's


def test_no_gpu_cpu_wheel_and_hidden_gpus_each_say_why(fake_cuda, monkeypatch):
    assert "CUDA is not available (no NVIDIA driver or no GPU found" in _error("cuda", 0, 2)
    fake_cuda["count"] = 4
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert "CUDA_VISIBLE_DEVICES='' hides every GPU" in _error("cuda")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    monkeypatch.setattr(torch.version, "cuda", None)
    assert f"torch {torch.__version__} is built without CUDA" in _error("cuda")
    assert fake_cuda["set"] == []


def test_fewer_gpus_than_local_ranks_is_an_error_not_a_shared_gpu(fake_cuda, monkeypatch):
    fake_cuda["count"] = 4
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1,2,3")
    assert resolve_device("cuda", 3, 3) == torch.device("cuda", 3)
    message = _error("cuda", 5, 5)
    assert "rank 5: local rank 5 has no GPU of its own, 4 GPU(s) visible (CUDA_VISIBLE_DEVICES=0,1,2,3)" in message
    assert "--device cuda:7: 4 GPU(s) visible" in _error("cuda:7")
    # One GPU shown per process (the scheduler bound it, e.g. srun --gpus-per-task=1): that one.
    fake_cuda["count"] = 1
    assert resolve_device("cuda", 6, 6) == torch.device("cuda", 0)
    assert fake_cuda["set"] == [3, 0]


def _rank(rank, host="node1", gpu="", **over):
    base = {"rank": rank, "host": host, "device": "cuda", "gpu": gpu, "backend": "torch/nccl"}
    return {**base, "compression": "none", "torch": "2.14.1", **over}


def test_disagreements_name_the_setting_and_the_ranks():
    assert disagreements([_rank(0, gpu="GPU-a"), _rank(1, gpu="GPU-b"), _rank(2, "node2", gpu="GPU-a")]) == ""
    mixed = disagreements([_rank(0), _rank(1), _rank(2, "node2", device="cpu", backend="torch/gloo")])
    assert mixed == (
        "device: rank 0 on node1 has cuda, rank 2 on node2 has cpu; "
        "backend: rank 0 on node1 has torch/nccl, rank 2 on node2 has torch/gloo"
    )
    shared = disagreements([_rank(0, gpu="GPU-a"), _rank(1, gpu="GPU-b"), _rank(2, gpu="GPU-a")])
    assert shared == "ranks 0 and 2 on node1 share GPU GPU-a"
    assert disagreements([_rank(0), _rank(1, torch="2.13.0")]).startswith("torch: rank 0 on node1 has 2.14.1")


def test_loader_workers_stay_within_the_processes_cpu_set():
    """A process pinned to one CPU (taskset, as a cgroup or the scheduler's CPU binding would) starts no
    loader workers beside itself; two CPUs leave room for one, whatever was asked."""
    import subprocess
    import sys

    code = "from cycleaug.runtime import loader_workers; print(loader_workers(4), loader_workers(0))"
    for cpus, expected in (("0", "0 0"), ("0,1", "1 0")):
        out = subprocess.run(["taskset", "-c", cpus, sys.executable, "-c", code], capture_output=True, text=True)
        assert out.stdout.split() == expected.split(), out.stderr


# ---- cycleaug doctor: the preflight of a compute node


def test_doctor_passes_on_this_machine_as_the_demo_runs(tmp_path):
    """Real checks, no fakes: the demo's config (device auto) on this CPU machine, a real 2-rank Gloo
    allreduce through cycleaug.launch."""
    from conftest import ROOT, run_cli

    proc = run_cli("doctor", ROOT / "config.yaml", ROOT / "profiles/demo/demo.yaml", "--min-free-gb", "0.01")
    lines = {line.split()[1]: line.split()[0] for line in proc.stdout.splitlines()[:-1]}
    assert lines == dict.fromkeys(("torch", "cuda", "gpus", "nccl", "disk", "backend", "allreduce"), "ok") | {
        "cuda": "warn"  # no GPU here: the demo's jobs run on the CPU, and doctor says so
    }
    assert proc.stdout.splitlines()[-1] == "doctor: 0 problem(s)"


@pytest.mark.horovod
@pytest.mark.filterwarnings("ignore:CUDA initialization")
def test_doctor_names_each_problem_of_a_badly_set_up_gpu_node(fake_cuda, monkeypatch, capfd, tmp_path):
    """A node as a cluster user may meet it, CUDA faked at the torch.cuda boundary: 4 GPUs where the profile
    expects 8, a site NCCL on LD_LIBRARY_PATH, too little disk, horovod built without NCCL (the real
    build here, Gloo only); then a driver too old for the wheel. Exit status 1, one line per problem."""
    from conftest import ROOT, run_cli_here

    pytest.importorskip("horovod.torch", reason="horovod not installed (make horovod)")
    fake_cuda["count"] = 4
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda i: "NVIDIA H200")
    site = tmp_path / "nccl-2.25" / "lib"
    site.mkdir(parents=True)
    (site / "libnccl.so.2").write_bytes(b"")
    monkeypatch.setenv("LD_LIBRARY_PATH", str(site))
    config = tmp_path / "site.yaml"
    config.write_text(f"gpus_per_node: 8\ncyclegan:\n  backend: horovod\n  stage_to: {tmp_path}\n")
    args = ("doctor", ROOT / "config.yaml", config, "--min-free-gb", "1e9", "--allreduce-device", "cpu")
    proc = run_cli_here(capfd, *args, check=False)
    lines = {line.split()[1]: line for line in proc.stdout.splitlines()[:-1]}
    assert proc.returncode == 1
    assert lines["gpus"].startswith("FAIL") and "4 visible (NVIDIA H200), gpus_per_node 8" in lines["gpus"]
    assert lines["nccl"].startswith("FAIL") and str(site / "libnccl.so.2") in lines["nccl"]
    assert lines["disk"].startswith("FAIL") and "1e+09 GiB needed" in lines["disk"]
    assert lines["backend"].startswith("FAIL") and "horovod built without NCCL" in lines["backend"]
    assert lines["allreduce"].startswith("ok")  # the 2-rank horovod (Gloo) allreduce itself works
    assert proc.stdout.splitlines()[-1] == "doctor: 4 problem(s): gpus, nccl, disk, backend"

    # Launched by a site's mpirun, horovod needs MPI too: this machine's build has it (install_horovod.sh).
    from cycleaug import doctor

    mpirun = doctor.backend("horovod", "cpu", "mpirun -np {n} {cmd}")
    assert mpirun.status == "ok" and "MPI" in mpirun.detail.split("with ", 1)[1].split(", "), mpirun
    local = doctor.backend("horovod", "cuda", "python -m cycleaug.launch --nproc {n} -- {cmd}")
    assert local.detail.endswith("horovod built without NCCL: rebuild with tools/install_horovod.sh")

    fake_cuda["warning"] = TOO_OLD
    check = doctor.cuda("cuda")
    assert check.status == "FAIL" and "driver on your system is too old" in check.detail
