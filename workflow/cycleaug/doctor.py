"""Preflight of a compute node before the first submission (`cycleaug doctor`): can the study's jobs run
here as configured? Each check answers ok, warn or FAIL with what to fix; nothing is changed.

- torch: the wheel's version and CUDA (or a CPU wheel).
- cuda: for ``device: cuda``, whether this process can use a GPU (cycleaug.runtime.cuda_problem: a CPU
  wheel, hidden GPUs, no driver, a driver too old for the wheel's CUDA) and the driver's version.
- gpus: the GPUs visible here against ``gpus_per_node`` (one training process per GPU).
- nccl: the NCCL version torch brings, and any other libnccl on LD_LIBRARY_PATH (a site module's), which
  a rank could load beside it.
- disk: free space of the stage folder (``cyclegan.stage_to``, or the working directory).
- backend: ``cyclegan.backend``'s build: torch.distributed with NCCL (GPU) or Gloo (CPU); horovod's
  ``horovodrun --check-build`` with NCCL for GPUs.
- allreduce: two ranks on this node (cycleaug.launch) allreduce a tensor with that backend and device.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from cycleaug.cyclegan.settings import with_defaults

OK, WARN, FAIL = "ok", "warn", "FAIL"

# Two ranks: join the backend, allreduce (rank + 1), rank 0 prints the sum (1 + 2 = 3 on every element).
ALLREDUCE = """
import sys, torch
from cycleaug.cyclegan.distributed import setup
comm = setup(sys.argv[1], sys.argv[2])
t = comm.sum_(torch.full((1024,), float(comm.rank + 1), device=comm.device))
if comm.rank == 0:
    print("allreduce", comm.world_size, float(t.min()), float(t.max()), comm.backend, comm.device)
comm.close()
"""


@dataclass(frozen=True)
class Check:
    name: str
    status: str
    detail: str

    def line(self) -> str:
        return f"{self.status:<4} {self.name:<9} {self.detail}"


def torch_build() -> Check:
    import torch

    if torch.version.cuda is None:
        return Check("torch", OK, f"{torch.__version__}, a CPU wheel")
    return Check("torch", OK, f"{torch.__version__}, built for CUDA {torch.version.cuda}")


def driver_version() -> str | None:
    """The NVIDIA driver's version from nvidia-smi, or None where there is none."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return None
    try:
        out = subprocess.run(
            [smi, "--query-gpu=driver_version", "--format=csv,noheader"], capture_output=True, text=True, timeout=60
        )
    except (OSError, subprocess.SubprocessError):
        return None
    lines = out.stdout.split()
    return lines[0] if out.returncode == 0 and lines else None


def cuda(device: str) -> Check:
    from cycleaug.runtime import cuda_problem

    problem = cuda_problem()
    driver = driver_version()
    if problem is None:
        return Check("cuda", OK, "GPUs usable" + (f", driver {driver}" if driver else ""))
    if device != "cuda":
        return Check("cuda", WARN, f"{problem}; device is {device}, so the jobs will run on the CPU")
    return Check("cuda", FAIL, f"{problem}; every GPU job would stop (device: cuda)")


def gpus(per_node: int, device: str) -> Check:
    import torch

    if device != "cuda":
        return Check("gpus", OK, f"none used (device: {device})")
    if not torch.cuda.is_available():
        return Check("gpus", WARN, "none visible (see cuda)")
    count = torch.cuda.device_count()
    names = sorted({torch.cuda.get_device_name(i) for i in range(count)})
    detail = f"{count} visible ({', '.join(names)}), gpus_per_node {per_node}"
    if count < per_node:
        return Check("gpus", FAIL, f"{detail}: a node would start {per_node} processes; set gpus_per_node to {count}")
    if count > per_node:
        return Check("gpus", WARN, f"{detail}: {count - per_node} GPU(s) per node left idle")
    return Check("gpus", OK, detail)


def other_nccls(environ=None) -> list[str]:
    """libnccl files on LD_LIBRARY_PATH: a library a rank may load instead of, or beside, torch's own."""
    environ = os.environ if environ is None else environ
    found = []
    for folder in filter(None, environ.get("LD_LIBRARY_PATH", "").split(os.pathsep)):
        try:
            found += sorted(str(p) for p in Path(folder).glob("libnccl.so*"))
        except OSError:
            continue
    return found


def nccl(device: str) -> Check:
    import torch

    if torch.version.cuda is None:
        return Check("nccl", OK if device != "cuda" else FAIL, "none (a CPU wheel)")
    try:
        version = ".".join(map(str, torch.cuda.nccl.version()))
    except (RuntimeError, AttributeError, TypeError):
        version = "unknown"
    others = other_nccls()
    if others:
        return Check(
            "nccl",
            FAIL if device == "cuda" else WARN,
            f"torch's NCCL {version}, but LD_LIBRARY_PATH also holds {', '.join(others)}: "
            "unload the site's nccl (and cuda/cudnn) modules for the training jobs",
        )
    return Check("nccl", OK, f"torch's own, {version}; no other libnccl on LD_LIBRARY_PATH")


def disk(folder: str, min_free_gb: float) -> Check:
    expanded = os.path.expandvars(folder or ".")
    if "$" in expanded:  # e.g. $PBS_LOCALDIR, set only inside a job
        return Check("disk", WARN, f"{folder}: not set here; run doctor inside a job (qsub -I) to check it")
    path = Path(expanded).expanduser()
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    free = shutil.disk_usage(probe).free / 2**30
    detail = f"{path}: {free:.1f} GiB free"
    if free < min_free_gb:
        return Check("disk", FAIL, f"{detail}, {min_free_gb:g} GiB needed (--min-free-gb)")
    return Check("disk", OK, detail)


def backend(name: str, device: str, launcher: str = "mpirun") -> Check:
    """The backend's build. horovod needs NCCL for GPUs, and MPI wherever a site launcher (mpirun, srun
    --mpi=pmix) starts the ranks: only the local cycleaug.launch gives them a Gloo rendezvous instead."""
    if name == "torch":
        import torch.distributed as dist

        needed = "nccl" if device == "cuda" else "gloo"
        available = {"nccl": dist.is_nccl_available(), "gloo": dist.is_gloo_available()}
        built = ", ".join(k for k, v in available.items() if v) or "none"
        if not available[needed]:
            return Check("backend", FAIL, f"torch.distributed without {needed} (built: {built})")
        return Check("backend", OK, f"torch.distributed with {needed} (built: {built})")
    horovodrun = Path(sys.executable).with_name("horovodrun")
    if not horovodrun.exists():
        return Check("backend", FAIL, "horovod is not installed: bash tools/install_horovod.sh .venv/bin/python nccl")
    out = subprocess.run([str(horovodrun), "--check-build"], capture_output=True, text=True, timeout=300)
    ticked = {line.split("]")[-1].strip() for line in out.stdout.splitlines() if "[X]" in line}
    needed = {"PyTorch", "NCCL"} if device == "cuda" else {"PyTorch"}
    if "cycleaug.launch" not in launcher:
        needed.add("MPI")
    if out.returncode != 0 or not needed <= ticked:
        missing = ", ".join(sorted(needed - ticked)) or f"exit {out.returncode}"
        return Check("backend", FAIL, f"horovod built without {missing}: rebuild with tools/install_horovod.sh")
    return Check("backend", OK, f"horovod with {', '.join(sorted(ticked))}")


def allreduce(name: str, device: str, timeout: float = 300) -> Check:
    """Two ranks of ``name`` on ``device`` (cuda needs two GPUs here) sum (rank + 1): 3 everywhere."""
    cmd = [sys.executable, "-m", "cycleaug.launch", "--nproc", "2", "--backend", name, "--"]
    cmd += [sys.executable, "-c", ALLREDUCE, name, device]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return Check("allreduce", FAIL, f"2 ranks of {name} on {device} did not finish in {timeout:g} s")
    words = next((line.split() for line in out.stdout.splitlines() if line.startswith("allreduce")), [])
    if out.returncode != 0 or words[1:4] != ["2", "3.0", "3.0"]:
        last = (out.stderr.strip().splitlines() or ["no output"])[-1]
        return Check("allreduce", FAIL, f"2 ranks of {name} on {device}: {last}")
    return Check("allreduce", OK, f"2 ranks of {name} on {device}: the sum is right")


def run_checks(config: dict, min_free_gb: float, allreduce_device: str = "auto") -> list[Check]:
    import torch

    device = config.get("device", "cuda")
    cg = with_defaults(config["cyclegan"])
    name = cg["backend"]
    checks = [torch_build(), cuda(device), gpus(config.get("gpus_per_node", 1), device), nccl(device)]
    checks.append(disk(cg["stage_to"], min_free_gb))
    checks.append(backend(name, device, config.get("launcher", "mpirun")))
    if allreduce_device == "auto":
        allreduce_device = "cuda" if device == "cuda" and torch.cuda.device_count() >= 2 else "cpu"
    checks.append(allreduce(name, allreduce_device))
    return checks
