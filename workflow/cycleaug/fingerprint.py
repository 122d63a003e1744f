"""Fingerprints of training runs: everything that determines a result, so that a result never stands
for a configuration it was not made with.

A fingerprint is a flat dict of plain values (numbers, strings, lists): the hyper-parameters that change
the numbers, the seed, the number of processes, digests of the inputs (file contents, or for a folder of
crops its manifest's content and every image's name and size) and the versions of the code that computes
them (torch, cycleaug). The trainers (cycleaug.cyclegan.train, cycleaug.yolo.train) store it in every
checkpoint and output; a rerun whose fingerprint differs from the checkpoint's does not resume: the old
run is moved aside into ``superseded-<digest>/`` (never mixed with the new one, never deleted) and
training starts afresh, with one line naming the keys that changed.

What is left out on purpose: options that only say how often to log, save or evaluate progress, how many
data-loader workers read the same samples, where files are (a folder's contents count, not its path),
and the speed switches that compute the same arithmetic with other kernels (the trainers list theirs).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path

from cycleaug.errors import CycleAugError


def file_sha256(path: str | os.PathLike) -> str:
    """sha256 of a file's content."""
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    except OSError as exc:
        raise CycleAugError(f"{path}: cannot read ({exc.strerror or exc})") from None
    return h.hexdigest()


def files_digest(paths: Iterable[str | os.PathLike], root: str | os.PathLike | None = None) -> str:
    """sha256 over the names (relative to ``root`` when given) and byte sizes of ``paths``, in order:
    which images a run reads, without reading them (a changed image almost always changes its size)."""
    h = hashlib.sha256()
    for p in paths:
        p = Path(p)
        name = os.path.relpath(p, root) if root is not None else p.name
        try:
            size = p.stat().st_size
        except OSError:
            size = -1
        h.update(f"{name}\t{size}\n".encode())
    return h.hexdigest()


def crops_digest(directory: str | os.PathLike, suffixes: tuple[str, ...] = (".png", ".jpg", ".jpeg")) -> str:
    """A crop folder (``cycleaug crop``'s output): its ``manifest.csv`` content and every image's name
    and size."""
    directory = Path(directory)
    h = hashlib.sha256()
    manifest = directory / "manifest.csv"
    h.update(b"manifest.csv\n")
    h.update(manifest.read_bytes() if manifest.is_file() else b"(no manifest)")
    images = sorted(p for p in directory.iterdir() if p.suffix.lower() in suffixes and p.is_file())
    h.update(files_digest(images).encode())
    return h.hexdigest()


def code_versions() -> dict[str, str]:
    """The versions of the code that computes a result."""
    import torch

    try:
        from importlib.metadata import version

        own = version("cycleaug")
    except Exception:  # not installed as a package (a source checkout on sys.path)
        own = "unknown"
    return {"torch": torch.__version__, "cycleaug": own}


def plain(fingerprint: dict) -> dict:
    """As it reads back from a checkpoint or JSON file (tuples -> lists), so that a comparison is exact."""
    return json.loads(json.dumps(fingerprint, default=str))


def digest(fingerprint: dict) -> str:
    """sha256 of the fingerprint's canonical JSON."""
    return hashlib.sha256(json.dumps(fingerprint, sort_keys=True, default=str).encode()).hexdigest()


def short(fingerprint: dict) -> str:
    return digest(fingerprint)[:12]


def changes(old: dict | None, new: dict) -> list[tuple[str, object, object]]:
    """(key, old value, new value) for every key whose value differs, in the new fingerprint's order."""
    old = old or {}
    keys = [*new, *(k for k in old if k not in new)]
    return [(k, old.get(k), new.get(k)) for k in keys if old.get(k) != new.get(k)]


def mismatch(old: object, new: dict) -> str | None:
    """Why a stored fingerprint ``old`` forbids resuming a run of fingerprint ``new``, or None."""
    if not isinstance(old, dict):
        return "the checkpoint has no fingerprint (written by an older cycleaug), so its settings are unknown"
    changed = changes(old, new)
    return f"made with other settings ({describe(changed)})" if changed else None


def _show(value) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value):
        return value[:12]  # a digest
    return json.dumps(value) if not isinstance(value, str) else value


def describe(changed: list[tuple[str, object, object]]) -> str:
    """``lr 0.0002 -> 0.001, seed 0 -> 1``: one line."""
    return ", ".join(f"{k} {_show(a)} -> {_show(b)}" for k, a, b in changed)


def supersede(folder: Path, paths: Iterable[Path], tag: str) -> Path:
    """Move the existing ``paths`` (files or folders inside ``folder``) into a new ``folder/superseded-<tag>``
    (``-2``, ``-3``... if taken), keeping their relative paths; returns that folder."""
    folder = Path(folder)
    dest = folder / f"superseded-{tag}"
    k = 2
    while dest.exists():
        dest = folder / f"superseded-{tag}-{k}"
        k += 1
    dest.mkdir(parents=True)
    for p in paths:
        p = Path(p)
        if p.exists() or p.is_symlink():
            target = dest / p.relative_to(folder)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(p, target)
    return dest
