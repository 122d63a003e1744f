"""What every long-running command shares: the device it computes on, and how it stops when a batch
system asks it to.

Stopping: SIGTERM, or SIGUSR1 (the warning some schedulers send before the walltime kill), is
remembered by :class:`StopRequest`; the training loop finishes its current iteration, saves a
resumable checkpoint and the command exits with :data:`EXIT_INTERRUPTED`. Rerunning the same
command (a Snakemake retry) resumes from that checkpoint.
"""

from __future__ import annotations

import os
import signal
import socket
import warnings
from typing import TYPE_CHECKING

from cycleaug.errors import CycleAugError

if TYPE_CHECKING:  # torch is imported where a device is made: `cycleaug --help` stays fast
    import torch

# EX_TEMPFAIL (sysexits.h, "temporary failure; retry"): stopped by a signal, checkpoint saved, rerun resumes.
EXIT_INTERRUPTED = 75
STOP_SIGNALS = (signal.SIGTERM, signal.SIGUSR1)


def resolve_device(name: str = "auto", local_rank: int = 0, rank: int | None = None) -> torch.device:
    """``auto``: a GPU when CUDA is available, else the CPU (the laptop demo). ``cuda`` never falls back:
    where this process cannot use a GPU it stops with one line naming the host, the rank and the reason.
    ``cuda`` without an index takes GPU ``local_rank`` (one process per GPU), or GPU 0 when the scheduler
    shows each process a single GPU of its own; ``cuda:N`` and ``cpu`` as given."""
    import torch

    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except RuntimeError:
        raise CycleAugError(f"--device {name}: expected auto, cpu, cuda or cuda:N") from None
    if device.type == "cpu":
        return device
    if device.type != "cuda":
        raise CycleAugError(f"--device {name}: expected auto, cpu, cuda or cuda:N")
    where = process_name(rank)
    problem = cuda_problem()
    if problem:
        raise CycleAugError(f"{where}: --device {name}: {problem}")
    count = torch.cuda.device_count()
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    shown = f"{count} GPU(s) visible" + (f" (CUDA_VISIBLE_DEVICES={visible})" if visible is not None else "")
    if device.index is not None:
        index = device.index
        if index >= count:
            raise CycleAugError(f"{where}: --device {name}: {shown}")
    elif count == 1:
        index = 0  # the scheduler gave this process one GPU of its own (e.g. srun --gpus-per-task=1)
    elif local_rank < count:
        index = local_rank
    else:
        # Sharing a GPU would not fail, only run several ranks' work on one device: stop instead.
        raise CycleAugError(
            f"{where}: local rank {local_rank} has no GPU of its own, {shown}; start at most {count} "
            "processes per node, one per GPU"
        )
    torch.cuda.set_device(index)
    return torch.device("cuda", index)


def process_name(rank: int | None = None) -> str:
    """``host`` or ``host rank R``: where a message about this process comes from."""
    return socket.gethostname() + ("" if rank is None else f" rank {rank}")


def cuda_problem() -> str | None:
    """Why this process cannot use CUDA (None if it can): a CPU-only torch, every GPU hidden, or what
    torch said when it looked for the driver (e.g. a driver too old for the wheel's CUDA)."""
    import torch

    if torch.version.cuda is None:
        return f"torch {torch.__version__} is built without CUDA (a CPU wheel)"
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() in ("", "-1"):
        return f"CUDA_VISIBLE_DEVICES={visible!r} hides every GPU"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        available = torch.cuda.is_available()
    if available:
        return None
    said = [" ".join(str(w.message).split()) for w in caught]
    if said:
        return f"CUDA is not usable: {said[0]}"
    return (
        f"CUDA is not available (no NVIDIA driver or no GPU found; torch {torch.__version__} needs a driver "
        f"for CUDA {torch.version.cuda} or newer); use --device cpu to run without a GPU"
    )


def loader_workers(requested: int) -> int:
    """Data-loader workers for this process: as requested, but no more than the CPUs it may run on (its
    affinity: the CPU set a cgroup or the scheduler gave it) less one for the process itself, so that a
    job given 8 cores does not start 16 decoders. Outputs never depend on the worker count."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(0, min(requested, cpus - 1))


class StopRequest:
    """Remembers that SIGTERM/SIGUSR1 arrived; the loop acts on it between iterations. ``restore()``
    puts the previous handlers back (a library call must not leave its handlers installed)."""

    def __init__(self, on_signal=None) -> None:
        self.signum: int | None = None
        self._on_signal = on_signal
        self._previous = {sig: signal.signal(sig, self._handler) for sig in STOP_SIGNALS}

    def _handler(self, signum, frame) -> None:
        self.signum = signum
        if self._on_signal is not None:
            self._on_signal(signum)

    @property
    def requested(self) -> bool:
        return self.signum is not None

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def ignore_stop_signals(_worker_id: int | None = None) -> None:
    """For data-loader workers: the stop signals are the main process's, which saves before anything exits."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)


def job_deadline(environ=None, qstat: str = "qstat", squeue: str = "squeue") -> float | None:
    """When the batch system will end this job (seconds since the epoch), or None outside a batch job.

    PBS Professional sets no variable with the walltime (PBS_WALLTIME does not exist), so it comes from
    ``qstat -f $PBS_JOBID``: ``stime`` (start) + ``Resource_List.walltime``. Slurm: ``squeue -h -j
    $SLURM_JOB_ID -o %e`` (the end time). Any failure answers None: the run then relies on the signal
    the scheduler sends at the walltime."""
    import subprocess
    import time
    from datetime import datetime

    environ = os.environ if environ is None else environ
    try:
        if environ.get("PBS_JOBID"):
            out = subprocess.run([qstat, "-f", environ["PBS_JOBID"]], capture_output=True, text=True, timeout=60).stdout
            attrs = dict(line.strip().split(" = ", 1) for line in out.splitlines() if " = " in line)
            h, m, s = (int(x) for x in attrs["Resource_List.walltime"].split(":"))
            start = time.mktime(time.strptime(attrs["stime"], "%a %b %d %H:%M:%S %Y"))
            return start + h * 3600 + m * 60 + s
        if environ.get("SLURM_JOB_ID"):
            out = subprocess.run(
                [squeue, "-h", "-j", environ["SLURM_JOB_ID"], "-o", "%e"], capture_output=True, text=True, timeout=60
            ).stdout.strip()
            return datetime.fromisoformat(out).timestamp()
    except (OSError, subprocess.SubprocessError, KeyError, ValueError):
        return None
    return None
