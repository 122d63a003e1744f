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
