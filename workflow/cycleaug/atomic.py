"""Write outputs under a temporary name and rename them into place, so no reader (and no
Snakemake rerun) ever sees a half-written file under its final name.

Temporary names carry the host and process id, ``.<name>.stage-<host>-<pid>-<random>`` (a folder) or
``.<name>.tmp-<host>-<pid>-<random><suffix>`` (a file), beside the output. A run that was killed (SIGKILL,
a walltime) cannot remove its own; the next start of the same output removes them: only names of that
pattern, of this host, whose process is gone, so another live run's stage is never touched. A write that
fails for want of space or permission (ENOSPC, EDQUOT, EFBIG, EROFS, EACCES, EPERM) becomes one
:class:`CycleAugError` naming the output, and the temporary is removed.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cycleaug.errors import CycleAugError

_UMASK = os.umask(0)
os.umask(_UMASK)
_HOST = re.sub(r"[^A-Za-z0-9.]", "_", socket.gethostname()) or "host"
DISK_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM}


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


_CLEANED: set[Path] = set()


def remove_stale(folder: str | os.PathLike, once: bool = False) -> list[Path]:
    """Remove the temporaries in ``folder`` left by killed runs of this host (see the module docstring);
    returns what was removed. With ``once``, a folder already looked at by this process is not again (a
    file written beside thousands of others, one at a time, must not list them every time)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    if once:
        key = folder.resolve()
        if key in _CLEANED:
            return []
        _CLEANED.add(key)
    pattern = re.compile(rf"^\..+\.(stage|tmp)-{re.escape(_HOST)}-(\d+)-[A-Za-z0-9_]{{6,}}")
    removed = []
    for entry in folder.iterdir():
        m = pattern.match(entry.name)
        if not m or _alive(int(m.group(2))):
            continue
        if m.group(1) == "stage" and entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        elif m.group(1) == "tmp" and not entry.is_dir():
            entry.unlink(missing_ok=True)
        else:
            continue
        removed.append(entry)
    return removed


def disk_error(exc: OSError, path: str | os.PathLike, tmp: str | os.PathLike | None = None) -> CycleAugError | None:
    """``exc`` as one line naming the file (``path`` itself for its temporary, whose names start with
    ``tmp``, or for an unnamed file descriptor), or None when it is not a full or unwritable disk or a path
    that cannot be written (a folder where a file should go, a file where a folder should)."""
    name = exc.filename
    if name is None or (tmp is not None and str(name).startswith(str(tmp))):
        name = path
    if exc.errno in (errno.EISDIR, errno.ENOTDIR, errno.EEXIST) and str(name) == str(path):
        what = (
            "a file name, not a folder" if exc.errno == errno.EISDIR else "every part of the path but the last a folder"
        )
        return CycleAugError(f"{path}: {exc.strerror}; expected {what} (nothing written)")
    if exc.errno not in DISK_ERRNOS:
        return None
    full = exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
    what = f"{exc.strerror or os.strerror(exc.errno)} ({'full disk or file size limit' if full else 'not writable'})"
    during = "" if str(name) == str(path) else f" while writing {path}"
    return CycleAugError(f"{name}: {what}{during}; expected a writable folder with free space (nothing written)")


def _prefix(path: Path, kind: str) -> str:
    return f".{path.name}.{kind}-{_HOST}-{os.getpid()}-"


def _mkparent(path: Path, once: bool) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale(path.parent, once)
    except OSError as exc:
        if exc.errno in DISK_ERRNOS:
            raise disk_error(exc, path) from None
        raise CycleAugError(
            f"{path.parent}: cannot create the output's folder ({exc.strerror}); expected a folder or a new path"
        ) from None


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it onto ``path``.

    The temporary name keeps ``path``'s suffix (or ``suffix``) so libraries that pick a format
    from the extension (PIL, torch, matplotlib) still do the right thing. On error it is removed.
    """
    path = Path(path)
    _mkparent(path, once=True)
    prefix = _prefix(path, "tmp")
    try:
        fd, tmp = tempfile.mkstemp(
            prefix=prefix, suffix=suffix if suffix is not None else "".join(path.suffixes) or ".tmp", dir=path.parent
        )
        os.close(fd)
    except OSError as exc:
        raise (disk_error(exc, path, path.parent / prefix) or exc) from None
    tmp = Path(tmp)
    try:
        # mkstemp creates 0600; give the final file the permissions a plain open() would (shared cluster disks).
        os.chmod(tmp, 0o666 & ~_UMASK)
        yield tmp
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        converted = disk_error(exc, path, tmp)
        if converted is None:
            raise
        raise converted from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a fresh temporary directory beside ``path`` (stale ones of killed runs are removed first); on
    success it replaces ``path`` whole, so ``path`` only ever holds the output of one complete run."""
    path = Path(path)
    _mkparent(path, once=False)
    prefix = _prefix(path, "stage")
    try:
        tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=path.parent))
    except OSError as exc:
        raise (disk_error(exc, path, path.parent / prefix) or exc) from None
    try:
        os.chmod(tmp, 0o777 & ~_UMASK)
        yield tmp
        if path.is_dir() and not path.is_symlink():
            # Move the old folder aside first, so that ``path`` is never a half-removed folder.
            old = Path(tempfile.mkdtemp(prefix=_prefix(path, "stage"), dir=path.parent))
            os.replace(path, old / "old")
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            if path.exists() or path.is_symlink():
                path.unlink()
            os.replace(tmp, path)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        converted = disk_error(exc, path, tmp)
        if converted is None:
            raise
        raise converted from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(path: str | os.PathLike, data: Any, indent: int | None = 1, allow_nan: bool = True) -> None:
    """``data`` as JSON, atomically; ``allow_nan=False`` refuses NaN and Infinity (not JSON) before writing."""
    if not allow_nan:
        try:
            text = json.dumps(data, indent=indent, allow_nan=False)
        except ValueError as exc:
            raise CycleAugError(f"{path}: {exc} (NaN or Infinity); expected finite numbers (nothing written)") from None
        write_text(path, text + "\n")
        return
    with atomic_path(path) as tmp:
        with open(tmp, "w") as f:
            json.dump(data, f, indent=indent)
            f.write("\n")
