"""Safe extraction: an archive (zip, tar, rar/7z through bsdtar or unrar) is listed and checked
before anything is written (a member that would land outside the target folder: ``..``, an absolute
path, a link pointing outside, a device file, refuses the whole archive), unpacked into a temporary
folder beside the target, and moved into place only when it was unpacked completely and has the
expected layout.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import tarfile
import tempfile
import time
import zipfile
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

from cycleaug.acquire.downloads import CHUNK, _say
from cycleaug.errors import CycleAugError
from cycleaug.progress import format_seconds


class UnsafeArchiveError(CycleAugError):
    """An archive member would be written outside the target folder."""


def _parts(name: str) -> list[str]:
    """Path components of an archive member name. A backslash counts as a separator too: archives
    made on Windows use it (public SYNTHIA set-up scripts rename ``RAND_CITYSCAPES\\RGB\\...`` files
    left by unrar), and a name like ``..\\x`` must be refused."""
    return [p for p in re.split(r"[\\/]+", name) if p not in ("", ".")]


def _is_absolute(name: str) -> bool:
    return name.startswith(("/", "\\")) or bool(re.match(r"^[A-Za-z]:", name))


class _Tree:
    """Where archive members would land, with the archive's own symlinks followed the way the OS
    would follow them once they are on disk (so ``a -> .`` then ``a/b -> ..`` is caught)."""

    def __init__(self, links: dict[tuple[str, ...], str]):
        self.links = links

    def resolve(self, parts: list[str], depth: int = 0) -> list[str] | None:
        """Resolved components under the root, or None when the path leaves it."""
        if depth > 40:
            return None  # a symlink loop; refused like ELOOP would be
        out: list[str] = []
        for part in parts:
            if part == "..":
                if not out:
                    return None
                out.pop()
                continue
            out.append(part)
            target = self.links.get(tuple(out))
            if target is not None:
                if _is_absolute(target):
                    return None
                resolved = self.resolve(out[:-1] + _parts(target), depth + 1)
                if resolved is None:
                    return None
                out = resolved
        return out


def _check_names(names: Iterable[str], kind: str) -> None:
    bad = []
    for name in names:
        if _is_absolute(name) or _Tree({}).resolve(_parts(name)) is None:
            bad.append(name)
    if bad:
        raise UnsafeArchiveError(
            f"{kind} member(s) would be written outside the target folder: "
            f"{', '.join(repr(b) for b in bad[:5])}{' ...' if len(bad) > 5 else ''}; nothing was extracted"
        )


def _check_tar(members: list[tarfile.TarInfo]) -> None:
    _check_names((m.name for m in members), "tar")
    links = {tuple(_parts(m.name)): m.linkname for m in members if m.issym()}
    tree = _Tree(links)
    bad = []
    for m in members:
        parts = _parts(m.name)
        if not (m.isreg() or m.isdir() or m.issym() or m.islnk()):
            bad.append(f"{m.name!r} (device or fifo)")
        elif m.isdir():
            if tree.resolve(parts) is None:
                bad.append(repr(m.name))
        elif not parts:
            bad.append(f"{m.name!r} (a file named like the target folder)")
        elif m.issym():
            # The link itself sits in its (resolved) parent; its target is taken from there.
            parent = tree.resolve(parts[:-1])
            if parent is None or _is_absolute(m.linkname) or tree.resolve(parent + _parts(m.linkname)) is None:
                bad.append(f"{m.name!r} -> {m.linkname!r}")
        elif m.islnk():
            # A hard link's target is a path from the archive root (POSIX ustar).
            if _is_absolute(m.linkname) or tree.resolve(_parts(m.linkname)) is None or tree.resolve(parts) is None:
                bad.append(f"{m.name!r} => {m.linkname!r}")
        elif tree.resolve(parts) is None:
            # A regular file written through a symlink that points outside.
            bad.append(repr(m.name))
    if bad:
        raise UnsafeArchiveError(
            f"tar member(s) would be written outside the target folder: "
            f"{', '.join(bad[:5])}{' ...' if len(bad) > 5 else ''}; nothing was extracted"
        )


_TAR_FILTER_ERRORS = (tarfile.FilterError,) if hasattr(tarfile, "FilterError") else ()


def _extract_tar(archive: Path, stage: Path) -> None:
    try:
        with tarfile.open(archive) as tf:
            members = tf.getmembers()
            _check_tar(members)
            if hasattr(tarfile, "data_filter"):
                # Python >= 3.11.4 / 3.12: the stdlib filter repeats the checks above at write time
                # and drops owners and special permission bits (PEP 706).
                tf.extractall(stage, members=members, filter="data")
            else:
                tf.extractall(stage, members=members)
    except _TAR_FILTER_ERRORS as exc:
        raise UnsafeArchiveError(f"{archive}: {exc}; nothing was extracted") from None
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        # A truncated .tar.gz ends in EOFError or gzip.BadGzipFile (an OSError).
        raise CycleAugError(f"{archive}: not a readable tar archive ({exc})") from None


def _extract_zip(archive: Path, stage: Path) -> None:
    try:
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
            _check_names((i.filename for i in infos), "zip")
            for info in infos:
                parts = _parts(info.filename)
                if not parts:
                    continue
                target = stage.joinpath(*parts)
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                # A zip "symlink" entry is written as a small regular file holding the link text,
                # as Python's zipfile does: a zip never creates a link on disk here.
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst, CHUNK)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, zlib.error, NotImplementedError) as exc:
        # BadZipFile also covers a member whose CRC-32 does not match.
        raise CycleAugError(f"{archive}: not a readable zip archive ({exc})") from None


RAR_HELP = (
    "extracting .rar archives (SYNTHIA is distributed as .rar) needs bsdtar or unrar on PATH: "
    "`apt-get install libarchive-tools` (bsdtar) or `apt-get install unrar` (non-free), "
    "`conda install -c conda-forge libarchive`, or `brew install libarchive`"
)


def _rar_tool() -> tuple[str, str]:
    for name in ("bsdtar", "unrar"):
        exe = shutil.which(name)
        if exe:
            return name, exe
    raise CycleAugError(RAR_HELP)


def _run_tool(cmd: list[str], archive: Path) -> str:
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, errors="surrogateescape")
    except OSError as exc:
        raise CycleAugError(f"{archive}: cannot run {cmd[0]} ({exc})") from None
    if res.returncode != 0:
        raise CycleAugError(
            f"{archive}: {' '.join(cmd[:2])} failed with exit status {res.returncode}: "
            f"{(res.stderr or res.stdout).strip()[-2000:]}"
        )
    return res.stdout


def _extract_external(archive: Path, stage: Path) -> None:
    """A .rar via bsdtar (libarchive reads RAR 4 and 5) or RARLAB's unrar: list, check, extract,
    then check again what landed on disk (neither tool reports link targets when listing)."""
    name, exe = _rar_tool()
    if name == "bsdtar":
        listing = _run_tool([exe, "-tf", str(archive)], archive)
        # bsdtar already refuses "..", absolute names and writing through links by default; as root it
        # would also restore owners and set-id bits, which a data set has no use for.
        extract = [exe, "-xf", str(archive), "-C", str(stage), "--no-same-owner", "--no-same-permissions"]
    else:
        # lb: bare names; -p-: never prompt for a password; x: keep paths; -o-: never overwrite.
        listing = _run_tool([exe, "lb", "-p-", str(archive)], archive)
        extract = [exe, "x", "-p-", "-o-", "-idq", "-y", str(archive), str(stage) + os.sep]
    _check_names([line for line in listing.splitlines() if line.strip()], "rar")
    _say(f"extracting {archive} with {exe}")
    _run_tool(extract, archive)
    root = stage.resolve()
    for dirpath, dirnames, filenames in os.walk(stage):
        for entry in dirnames + filenames:
            p = Path(dirpath, entry)
            st = p.lstat()
            if stat.S_ISLNK(st.st_mode):
                target = (p.parent / os.readlink(p)).resolve()
                if target != root and root not in target.parents:
                    raise UnsafeArchiveError(
                        f"{archive}: member {p.relative_to(stage)} links outside the target "
                        f"folder ({os.readlink(p)}); nothing was extracted"
                    )
            elif not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
                raise UnsafeArchiveError(f"{archive}: member {p.relative_to(stage)} is a device or fifo")


def archive_kind(path: str | os.PathLike) -> str:
    """``zip``, ``tar`` (plain, gz, bz2, xz) or ``rar``, from the file's first bytes."""
    path = Path(path)
    with open(path, "rb") as f:
        head = f.read(8)
    if head.startswith(b"Rar!\x1a\x07"):  # RAR 4 and RAR 5 signatures (RARLAB technote)
        return "rar"
    if zipfile.is_zipfile(path):
        return "zip"
    if tarfile.is_tarfile(path):
        return "tar"
    hint = ""
    if head.lstrip().startswith(b"<"):
        hint = (
            "; it looks like an HTML page, so the URL probably leads to a login or download form: download "
            "the file in a browser, put it at the configured path and delete this one"
        )
    raise CycleAugError(f"{path}: not a zip, tar(.gz/.bz2/.xz) or rar archive (first bytes {head!r}){hint}")


def _split_backslash_names(root: Path) -> None:
    """Turn files named ``RAND_CITYSCAPES\\RGB\\0000000.png`` (what some unrar builds write for
    archives made on Windows) into the nested folders the name means."""
    for dirpath, dirnames, filenames in os.walk(root, topdown=False):
        for entry in dirnames + filenames:
            if "\\" in entry:
                parts = _parts(entry)
                if ".." in parts:
                    raise UnsafeArchiveError(f"member {entry!r} would be written outside the target folder")
                src = Path(dirpath, entry)
                dst = Path(dirpath).joinpath(*parts)
                dst.parent.mkdir(parents=True, exist_ok=True)
                os.replace(src, dst)


def _move_merge(src: Path, dst: Path) -> None:
    if not dst.exists():
        os.replace(src, dst)
    elif src.is_dir() and dst.is_dir() and not dst.is_symlink():
        for child in src.iterdir():
            _move_merge(child, dst / child.name)
        src.rmdir()
    else:
        raise CycleAugError(f"two archive members land on the same path {dst.name!r} after stripping leading folders")


def _strip(root: Path, n: int, out: Path) -> int:
    """Move what lies ``n`` folders deep under ``root`` into ``out`` (tar's --strip-components);
    returns the number of files dropped because they sat less than ``n`` folders deep."""
    if n == 0:
        os.replace(root, out)
        return 0
    level, dropped = [root], 0
    for _ in range(n):
        nxt = []
        for d in level:
            for child in d.iterdir():
                if child.is_dir() and not child.is_symlink():
                    nxt.append(child)
                else:
                    dropped += 1
        level = nxt
    out.mkdir()
    for d in level:
        for child in d.iterdir():
            _move_merge(child, out / child.name)
    return dropped


def _describe(root: Path, limit: int = 8) -> str:
    names = sorted(p.name + ("/" if p.is_dir() else "") for p in root.iterdir())
    return ", ".join(names[:limit]) + (" ..." if len(names) > limit else "") if names else "(nothing)"


def extract(
    archive: str | os.PathLike,
    dest: str | os.PathLike,
    strip: int = 0,
    expect: Iterable[str] = (),
    stream: TextIO | None = None,
) -> Path:
    """Unpack ``archive`` into ``dest`` safely (see the module docstring).

    ``strip`` drops that many leading folders from every member (tar's --strip-components);
    ``expect`` lists paths (relative to ``dest``) that must exist afterwards, so an archive of the
    wrong layout fails here with a listing instead of later with a missing file.
    If ``dest`` is missing or empty it appears in one rename; otherwise each top-level entry of
    the archive replaces the entry of the same name in ``dest`` and other entries stay.
    """
    archive, dest = Path(archive), Path(dest)
    if strip < 0:
        raise CycleAugError(f"--strip {strip}: expected 0 or more")
    kind = archive_kind(archive)
    dest.parent.mkdir(parents=True, exist_ok=True)
    for stale in dest.parent.glob(f".{dest.name}.extract-*"):
        # Left by a run that was killed mid-way (SIGKILL skips the clean-up below); only one job
        # writes a given target, so none of these is in use.
        _say(f"removing {stale}, left by an interrupted extraction", stream)
        shutil.rmtree(stale, ignore_errors=True)
    work = Path(tempfile.mkdtemp(prefix=f".{dest.name}.extract-", dir=dest.parent))
    try:
        stage = work / "archive"
        stage.mkdir()
        _say(f"extracting {archive} ({kind}) into {dest}", stream)
        start = time.perf_counter()
        {"zip": _extract_zip, "tar": _extract_tar, "rar": _extract_external}[kind](archive, stage)
        _split_backslash_names(stage)
        result = work / "result"
        dropped = _strip(stage, strip, result)
        if dropped:
            _say(f"{archive}: --strip {strip} dropped {dropped} file(s) above that depth", stream)
        missing = [e for e in expect if not (result / e).exists()]
        if missing:
            raise CycleAugError(
                f"{archive}: after removing {strip} leading folder(s) the archive does not contain "
                f"{', '.join(missing)}; its top level is: {_describe(result)} "
                f"(wrong archive, or wrong --strip)"
            )
        if not dest.exists() or (dest.is_dir() and not any(dest.iterdir())):
            if dest.exists():
                dest.rmdir()
            os.replace(result, dest)
        else:
            if not dest.is_dir():
                raise CycleAugError(f"{dest}: exists and is not a folder")
            for child in sorted(result.iterdir()):
                target = dest / child.name
                if target.exists() or target.is_symlink():
                    old = work / f"old-{child.name}"
                    os.replace(target, old)
                os.replace(child, target)
        _say(f"extracted {archive} into {dest} in {format_seconds(time.perf_counter() - start)}", stream)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return dest


# ---------------------------------------------------------------------------------------------
# What the paper run needs, and where it comes from (config keys data.* and pretrained.*)
