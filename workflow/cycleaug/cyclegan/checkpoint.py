"""Checkpoints of a CycleGAN run directory, written atomically by rank 0.

    RUN/checkpoints/latest.pt                  complete state: four nets, both optimizers, the image
                                               pools and RNG states, epoch and iteration -> resume
    RUN/checkpoints/history/{e}_net_{X}.pth    bare state dicts of G_A, G_B, D_A, D_B at save epochs
    RUN/checkpoints/history/train_log.jsonl    one JSON line per epoch (or per part of an interrupted one)
    RUN/checkpoints/history/finished.json      the last epoch and the fingerprint, once the run is done
    RUN/checkpoints/superseded-<digest>/       runs of another fingerprint, moved aside (cyclegan.train)
    RUN/checkpoints/{e}_net_{X}.pth            the reference's layout (``{epoch}_net_G_A.pth``, keys
    RUN/train_log.jsonl                        ``model.1.weight``...), hard links to history/ files

Why two names: Snakemake deletes the declared outputs of a failed job (a run stopped by the
scheduler's walltime signal is one), so the durable record lives under history/, which no rule
declares, and the declared names are (re)linked at every save epoch and at the end of the run.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

from cycleaug.atomic import atomic_path
from cycleaug.errors import CycleAugError

FORMAT = "cycleaug.cyclegan/1"
NET_NAMES = ("G_A", "G_B", "D_A", "D_B")


def latest_path(run_dir: Path) -> Path:
    return Path(run_dir) / "checkpoints" / "latest.pt"


def history_dir(run_dir: Path) -> Path:
    return Path(run_dir) / "checkpoints" / "history"


def log_path(run_dir: Path) -> Path:
    return history_dir(run_dir) / "train_log.jsonl"


def save(path: Path, state: dict[str, Any]) -> None:
    """torch.save under a temporary name, then rename: a reader never sees half a checkpoint."""
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load(path: Path) -> dict[str, Any]:
    from cycleaug import torchfile

    state = torchfile.load(path, f"a cycleaug CycleGAN checkpoint, format {FORMAT!r}")
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CycleAugError(f"{path}: not a cycleaug CycleGAN checkpoint (format {FORMAT!r} expected)")
    return state


def finished_path(run_dir: Path) -> Path:
    """``history/finished.json``: written after a run's last epoch is published (epoch, fingerprint)."""
    return history_dir(run_dir) / "finished.json"


def mark_finished(run_dir: Path, epoch: int, fingerprint_digest: str) -> None:
    with atomic_path(finished_path(run_dir)) as tmp:
        tmp.write_text(json.dumps({"epoch": epoch, "fingerprint": fingerprint_digest}) + "\n")


def read_finished(run_dir: Path) -> dict[str, Any] | None:
    try:
        return json.loads(finished_path(run_dir).read_text())
    except (OSError, ValueError):
        return None


def published(run_dir: Path, pattern: str = "*_net_*.pth") -> list[Path]:
    """The published names that exist: RUN/train_log.jsonl and RUN/checkpoints/{e}_net_{X}.pth (those of
    ``pattern``; the workflow declares the G_A nets, ``*_net_G_A.pth``, and the log)."""
    run_dir = Path(run_dir)
    names = sorted((run_dir / "checkpoints").glob(pattern))
    return [*names, *([run_dir / "train_log.jsonl"] if (run_dir / "train_log.jsonl").exists() else [])]


def supersede(run_dir: Path, tag: str) -> Path:
    """Move the run (``latest.pt`` and ``history/``) into ``checkpoints/superseded-<tag>/`` and remove the
    declared names (links to the moved files), so that nothing of it stands for the next run. The links
    go first and ``latest.pt`` last: a run killed in between finds the old ``latest.pt`` and its
    fingerprint again and moves the rest on its next start."""
    from cycleaug.fingerprint import supersede as move_aside

    run_dir = Path(run_dir)
    for name in published(run_dir):
        name.unlink()
    return move_aside(run_dir / "checkpoints", [history_dir(run_dir), latest_path(run_dir)], tag)


def export_epoch(run_dir: Path, epoch: int, nets: dict[str, torch.nn.Module]) -> None:
    """Write ``{epoch}_net_{X}.pth`` (bare CPU state dicts, the reference's save_networks layout)."""
    for name in NET_NAMES:
        state = {k: v.detach().cpu() for k, v in nets[name].state_dict().items()}
        save(history_dir(run_dir) / f"{epoch}_net_{name}.pth", state)
    publish(run_dir)


def publish(run_dir: Path) -> None:
    """(Re)create the declared names RUN/checkpoints/{e}_net_X.pth and RUN/train_log.jsonl."""
    run_dir = Path(run_dir)
    hist = history_dir(run_dir)
    if not hist.is_dir():
        return
    for src in sorted(hist.glob("*_net_*.pth")):
        _link(src, run_dir / "checkpoints" / src.name)
    if log_path(run_dir).exists():
        _link(log_path(run_dir), run_dir / "train_log.jsonl")


def _link(src: Path, dst: Path) -> None:
    if dst.exists() and os.path.samefile(src, dst):
        return
    with atomic_path(dst) as tmp:
        tmp.unlink()
        try:
            os.link(src, tmp)
        except OSError:  # a file system without hard links: copy
            import shutil

            shutil.copyfile(src, tmp)


def append_log(run_dir: Path, record: dict[str, Any]) -> None:
    path = log_path(run_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")
        f.flush()
        os.fsync(f.fileno())


def read_log(run_dir: Path) -> list[dict[str, Any]]:
    path = log_path(run_dir)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def trim_log(run_dir: Path, epoch: int, iteration: int) -> None:
    """Keep only log records of work that ``latest`` contains (resuming at ``epoch``, ``iteration``):
    a run that crashed after logging but before its next checkpoint redoes that work and logs it again."""
    records = read_log(run_dir)
    keep = [
        r
        for r in records
        if r["epoch"] < epoch or (r["epoch"] == epoch and r["start_iteration"] + r["iterations"] <= iteration)
    ]
    if len(keep) != len(records):
        with atomic_path(log_path(run_dir)) as tmp:
            tmp.write_text("".join(json.dumps(r) + "\n" for r in keep))


class RunLock:
    """``RUN/checkpoints/lock``: one training run per run folder. Held (``flock``, released by the kernel
    when the process ends, however it ends) by rank 0 for the whole run; the file names the holder (host,
    pid, batch job id) for the message another run gets. Two runs in one folder (a duplicate job after a
    scheduler restart) would overwrite each other's checkpoints."""

    def __init__(self, run_dir: Path):
        import fcntl
        import socket
        import time

        self.path = Path(run_dir) / "checkpoints" / "lock"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "a+")  # noqa: SIM115 (held open for the run)
        try:
            fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._file.seek(0)
            holder = self._file.read().strip() or "unknown"
            self._file.close()
            raise CycleAugError(
                f"{run_dir}: another training run holds this folder ({holder}); two runs would overwrite each "
                "other's checkpoints. Wait for it to end, or cancel it (qdel/scancel) and rerun"
            ) from None
        except OSError as exc:  # a file system without locks: go on unprotected, and say so
            print(
                f"train-cyclegan: warning: cannot lock {self.path} ({exc}); not protected against a second run",
                flush=True,
            )
        job = os.environ.get("PBS_JOBID") or os.environ.get("SLURM_JOB_ID") or "no batch job"
        self._file.seek(0)
        self._file.truncate()
        self._file.write(
            f"job {job} on {socket.gethostname()}, pid {os.getpid()}, since {time.strftime('%Y-%m-%d %H:%M:%S')}\n"
        )
        self._file.flush()

    def release(self) -> None:
        self._file.close()  # closing the descriptor releases the flock
