"""What every long-running command shares: the device it computes on, and how it stops when a batch
system asks it to.

Stopping: SIGTERM, or SIGUSR1 (the warning some schedulers send before the walltime kill), is
remembered by :class:`StopRequest`; the training loop finishes its current iteration, saves a
resumable checkpoint and the command exits with :data:`EXIT_INTERRUPTED`. Rerunning the same
command (a Snakemake retry) resumes from that checkpoint.
"""

from __future__ import annotations

import signal
from typing import TYPE_CHECKING

from cycleaug.errors import CycleAugError

if TYPE_CHECKING:  # torch is imported where a device is made: `cycleaug --help` stays fast
    import torch

# EX_TEMPFAIL (sysexits.h, "temporary failure; retry"): stopped by a signal, checkpoint saved, rerun resumes.
EXIT_INTERRUPTED = 75
STOP_SIGNALS = (signal.SIGTERM, signal.SIGUSR1)


def resolve_device(name: str = "auto", local_rank: int = 0) -> torch.device:
    """``auto``: a GPU when CUDA is available, else the CPU. ``cuda`` without an index takes GPU
    ``local_rank`` (modulo the GPUs on the node: one process per GPU); ``cuda:N`` and ``cpu`` as given."""
    import torch

    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except RuntimeError:
        raise CycleAugError(f"--device {name}: expected auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise CycleAugError(f"--device {name}: CUDA is not available on this machine; use cpu or auto")
        index = device.index if device.index is not None else local_rank % torch.cuda.device_count()
        torch.cuda.set_device(index)
        return torch.device("cuda", index)
    if device.type != "cpu":
        raise CycleAugError(f"--device {name}: expected auto, cpu, cuda or cuda:N")
    return device


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
    import os
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
