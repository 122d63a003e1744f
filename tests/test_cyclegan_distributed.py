"""Data-parallel CycleGAN: allreduce correctness for both backends and the local launcher.

Two Gloo processes with one sample each must end a training step exactly where one process ends
with both samples as a batch of 2: every loss is a mean (over the batch and the pixels/patches),
InstanceNorm normalises each sample alone and the pool is off, so the average of the per-process
gradients is the batch gradient, up to float rounding.

The check runs in float64: the biases of convolutions followed by InstanceNorm have a true gradient
of exactly zero (the norm subtracts the mean), so in float32 their computed gradient is rounding
noise of about 1e-8, which Adam (eps 1e-8) turns into steps of +-lr in a random direction; in
float64 that noise lies far below eps and every parameter must agree to 1e-6.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from cycleaug.cyclegan.distributed import Comm, DistEnv
from cycleaug.cyclegan.model import CycleGAN

sys.path.insert(0, str(Path(__file__).parent))
import cyclegan_step  # noqa: E402  (the helper the launched processes run)

HELPER = Path(__file__).parent / "cyclegan_step.py"
STEPS = 2  # the second step also checks that Adam's moments were built from averaged gradients


def _single_process(samples: slice) -> dict:
    torch.set_num_threads(1)
    dtype = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        model = CycleGAN(cyclegan_step.CONFIG, Comm(DistEnv(), torch.device("cpu")), seed=0)
        a, b = cyclegan_step.batch()
        for _ in range(STEPS):
            model.step(a[samples], b[samples])
    finally:
        torch.set_default_dtype(dtype)
    return {name: net.state_dict() for name, net in model.nets.items()}


@pytest.fixture(scope="module")
def batch_of_two():
    return _single_process(slice(0, 2))


def _launch(tmp_path, backend: str) -> dict:
    out = tmp_path / f"{backend}.pt"
    proc = subprocess.run([sys.executable, "-m", "cycleaug.launch", "--nproc", "2", "--backend", backend, "--",
                           sys.executable, str(HELPER), str(out), backend, str(STEPS)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return torch.load(out, weights_only=True)


def _max_diff(x: dict, y: dict) -> float:
    return max(float((x[n][k] - y[n][k]).abs().max()) for n in x for k in x[n])


def _check(distributed: dict, batch_of_two: dict) -> None:
    assert _max_diff(distributed, batch_of_two) < 1e-6
    # The comparison is sensitive: training on one of the samples alone ends elsewhere.
    assert _max_diff(_single_process(slice(0, 1)), batch_of_two) > 1e-5


def test_torch_allreduce_equals_batch_of_two(tmp_path, batch_of_two):
    _check(_launch(tmp_path, "torch"), batch_of_two)


@pytest.mark.horovod
def test_horovod_allreduce_equals_batch_of_two(tmp_path, batch_of_two):
    pytest.importorskip("horovod.torch", reason="horovod not installed (make horovod)")
    _check(_launch(tmp_path, "horovod"), batch_of_two)


def test_launcher_sets_ranks_and_reports_failure(tmp_path):
    script = ("import os, sys; r = os.environ['RANK']; "
              "open(sys.argv[1] + r, 'w').write(' '.join(os.environ[k] for k in "
              "('RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'MASTER_ADDR', 'MASTER_PORT', 'OMP_NUM_THREADS'))); "
              "sys.exit(3 if r == '2' else 0)")
    proc = subprocess.run([sys.executable, "-m", "cycleaug.launch", "--nproc", "3", "--", sys.executable, "-c",
                           script, str(tmp_path / "rank")], timeout=120)
    assert proc.returncode == 3  # the failing child's status
    seen = [(tmp_path / f"rank{r}").read_text().split() for r in range(3)]
    assert [s[:3] for s in seen] == [[str(r), "3", str(r)] for r in range(3)]
    assert len({s[4] for s in seen}) == 1 and seen[0][3] == "127.0.0.1"
    assert all(s[5] == "1" for s in seen)  # OMP_NUM_THREADS=1 (test env) split three ways stays 1
