"""Safe extraction: an archive (zip, tar, rar/7z through bsdtar or unrar) is listed and checked
before anything is written (a member that would land outside the target folder: ``..``, an absolute
path, a link pointing outside, a device file, refuses the whole archive), unpacked into a temporary
folder beside the target, and moved into place only when it was unpacked completely and has the
expected layout.

The listing is also checked for what would fail half-way on disk (a file and a folder of the same
name, names longer than the file system allows, encrypted members) and against size limits
(:class:`Limits`: members' total and per-member unpacked size, compression ratio), which are
enforced again on the bytes actually written, so a header that understates a size gains nothing.
Every failure is one CycleAugError naming the archive and the member, or the folder for a full,
read-only or forbidden disk, and the stage folder is removed.
"""

from __future__ import annotations

import errno
import lzma
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
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from cycleaug.acquire.downloads import CHUNK, DISK_ERRNOS, _say, _write_error
from cycleaug.errors import CycleAugError
from cycleaug.progress import format_seconds


class UnsafeArchiveError(CycleAugError):
    """An archive member would be written outside the target folder."""


class ArchiveTooLargeError(CycleAugError):
    """An archive would unpack to more than its :class:`Limits` allow (a zip bomb, or a wrong file)."""


# ---------------------------------------------------------------------------------------------
# Size limits

KiB, MiB, GiB, TiB = 1 << 10, 1 << 20, 1 << 30, 1 << 40


@dataclass(frozen=True)
class Limits:
    """How much an archive may unpack to. The defaults fit every archive the paper run reads with
    room to spare, and stop a zip bomb long before it fills a disk:

    - ``total`` 64 GiB: bdd100k_images_100k.zip (about 6.5 GB compressed) unpacks to about 6.8 GB
      (100,000 JPEGs hardly compress), and SYNTHIA_RAND_CITYSCAPES.rar (about 20 GB of PNGs, which do
      not compress further either) to a little more than its size: three times the largest;
    - ``member`` 4 GiB: the largest member is a label JSON of about 1 GB (bdd100k_labels_images_train.json
      in the 107 MB labels zip); an image is well under 10 MB;
    - ``ratio`` 100: JPEG and PNG members unpack at about 1:1, label JSON at about 10:1, while a zip
      bomb's members of zeros reach 1000:1 with deflate (the 200 kB zip of 201 MB in issue 24). The
      ratio is checked for each member and for the whole archive (its unpacked total over its size
      on disk, which also covers tar.gz, whose members have no compressed size), from
      ``RATIO_FLOOR`` on: a 100 kB file of zeros is harmless.
    """

    total: int = 64 * GiB
    member: int = 4 * GiB
    ratio: float = 100.0


RATIO_FLOOR = 1 * MiB

# Single letters are binary (like du, ls -h and ulimit), kB/MB/GB/TB decimal, KiB/MiB/GiB/TiB binary.
_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "k": KiB,
    "kib": KiB,
    "kb": 10**3,
    "m": MiB,
    "mib": MiB,
    "mb": 10**6,
    "g": GiB,
    "gib": GiB,
    "gb": 10**9,
    "t": TiB,
    "tib": TiB,
    "tb": 10**12,
}


def parse_size(value: str | int | float, what: str) -> int:
    """Bytes from ``64GiB``, ``500MB``, ``2G`` or ``1048576``; a one-line CycleAugError naming ``what``
    (a flag or config key) otherwise."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*", str(value))
    unit = _SIZE_UNITS.get(m.group(2).lower()) if m else None
    if unit is None or float(m.group(1)) * unit < 1:
        raise CycleAugError(f"{what} {value!r}: expected a size of at least 1 byte such as 64GiB, 500MB or 1048576")
    return int(float(m.group(1)) * unit)


def parse_ratio(value: str | int | float, what: str) -> float:
    try:
        ratio = float(value)
    except (TypeError, ValueError):
        ratio = float("nan")
    if not ratio >= 1 or ratio == float("inf"):
        raise CycleAugError(f"{what} {value!r}: expected a number of at least 1 (unpacked size / compressed size)")
    return ratio


def format_size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


class _Budget:
    """The limits, checked on the archive's listing (``declared``: before anything is written) and
    again on the bytes written (a header that understates a size must not get past them)."""

    def __init__(self, archive: Path, limits: Limits):
        self.archive, self.limits = archive, limits
        self.packed = max(1, archive.stat().st_size)
        self.total = 0
        self.declared = True

    def _tail(self) -> str:
        if self.declared:
            return "nothing was extracted"
        return "its listing said less, so extraction was stopped; nothing was kept"

    def _verb(self) -> str:
        return "would unpack to" if self.declared else "wrote"

    def member(self, name: str, size: int, packed: int | None = None) -> None:
        lim = self.limits
        if size > lim.member:
            raise ArchiveTooLargeError(
                f"{self.archive}: member {name!r} {self._verb()} {format_size(size)}, more than the per-member "
                f"limit of {format_size(lim.member)} (--max-member, config acquire.max_member); {self._tail()}"
            )
        if packed is not None and size >= RATIO_FLOOR and size > lim.ratio * max(packed, 1):
            raise ArchiveTooLargeError(
                f"{self.archive}: member {name!r} {self._verb()} {format_size(size)} from {format_size(packed)} "
                f"compressed, a ratio of {size / max(packed, 1):.0f}, more than the limit of {lim.ratio:g} "
                f"(--max-ratio, config acquire.max_ratio; a zip bomb?); {self._tail()}"
            )

    def add(self, n: int) -> None:
        """``n`` more bytes (declared or written) in the archive's total."""
        self.total += n
        lim = self.limits
        if self.total > lim.total:
            raise ArchiveTooLargeError(
                f"{self.archive}: its members {self._verb()} at least {format_size(self.total)}, more than the "
                f"limit of {format_size(lim.total)} in all (--max-total, config acquire.max_total); {self._tail()}"
            )
        if self.total >= RATIO_FLOOR and self.total > lim.ratio * self.packed:
            raise ArchiveTooLargeError(
                f"{self.archive}: its members {self._verb()} at least {format_size(self.total)} from an archive of "
                f"{format_size(self.packed)}, a ratio of {self.total / self.packed:.0f}, more than the limit of "
                f"{lim.ratio:g} (--max-ratio, config acquire.max_ratio; a zip bomb?); {self._tail()}"
            )

    def listed(self, folder: Path) -> None:
        """The listing passed: check the free space of ``folder``'s disk, then count what is written."""
        try:
            free = shutil.disk_usage(folder).free
        except OSError:
            free = None
        if free is not None and self.total > free:
            raise CycleAugError(
                f"{folder.parent.parent}: not enough free space: {self.archive} unpacks to "
                f"{format_size(self.total)} but only {format_size(free)} are free there; nothing was extracted"
            )
        self.total, self.declared = 0, False

    def scan(self, stage: Path) -> None:
        """Count what an external tool has written so far under ``stage``."""
        self.total = 0
        for dirpath, _, filenames in os.walk(stage):
            for entry in filenames:
                p = Path(dirpath, entry)
                try:
                    st = p.lstat()
                except OSError:
                    continue
                if stat.S_ISREG(st.st_mode):
                    self.member(str(p.relative_to(stage)), st.st_size)
                    self.add(st.st_size)


# ---------------------------------------------------------------------------------------------
# Names


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


def _name_limits(stage: Path) -> tuple[int, int]:
    """The longest name and path the file system under ``stage`` takes (NAME_MAX, PATH_MAX)."""
    out = []
    for key, default in (("PC_NAME_MAX", 255), ("PC_PATH_MAX", 4096)):
        try:
            out.append(os.pathconf(stage, key))
        except (OSError, ValueError, AttributeError):
            out.append(default)
    return out[0], out[1]


def _check_layout(
    archive: Path,
    entries: Iterable[tuple[str, str]],
    stage: Path,
    links: dict[tuple[str, ...], str] | None = None,
) -> None:
    """What would fail half-way on disk, found from the listing: a name longer than the file system
    takes, and a path that is a file for one member and a folder for another (``a`` and ``a/b``).
    ``entries`` are (name, what) with what ``file``, ``dir``, ``link`` or ``unknown`` (only the
    names' lengths are checked)."""
    name_max, path_max = _name_limits(stage)
    base = len(os.fsencode(str(stage)))
    tree = _Tree(links or {})
    files: dict[tuple[str, ...], str] = {}
    folders: dict[tuple[str, ...], str] = {}
    for name, what in entries:
        parts = _parts(name)
        # A tar or rar member keeps a backslash in one name on disk until _split_backslash_names.
        for part in set(parts) | set(name.split("/")):
            n = len(os.fsencode(part))
            if n > name_max:
                raise CycleAugError(
                    f"{archive}: member {name!r} has a name of {n} bytes ({part[:24]!r}...), longer than the "
                    f"{name_max} bytes a name may have on the file system of {stage.parent.parent}; "
                    "nothing was extracted"
                )
        n = base + 1 + len(os.fsencode(name))
        if n >= path_max:
            raise CycleAugError(
                f"{archive}: member {name[:40]!r}... would be written at a path of {n} bytes, more than the "
                f"{path_max} bytes the system allows (a shorter --extract-to path may help); nothing was extracted"
            )
        if what == "unknown" or not parts:
            continue
        if what == "link":
            # The link sits in its parent; what lies below it resolves through it.
            parent = tree.resolve(parts[:-1])
            key = tuple(parent) + (parts[-1],) if parent is not None else None
        else:
            resolved = tree.resolve(parts)
            key = tuple(resolved) if resolved else None
        if key is None:
            continue
        for i in range(1, len(key)):
            folders.setdefault(key[:i], name)
        if what == "dir":
            folders.setdefault(key, name)
        elif what == "file":
            files.setdefault(key, name)
    for key, name in files.items():
        if key in folders:
            raise CycleAugError(
                f"{archive}: member {name!r} is a file, but member {folders[key]!r} needs a folder of that "
                "name; expected each path to be either a file or a folder; nothing was extracted"
            )


def _member_write_error(exc: OSError, archive: Path, name: str) -> BaseException:
    """A member's write failed: a disk condition goes up unchanged (extract names the folder), anything
    else is reported for the member."""
    if exc.errno in DISK_ERRNOS:
        return exc
    if exc.errno == errno.ENAMETOOLONG:
        why = "its name is too long for the file system"
    elif exc.errno in (errno.EEXIST, errno.ENOTDIR, errno.EISDIR):
        why = "a file and a folder of the same name are in the archive"
    else:
        why = exc.strerror or str(exc)
    return CycleAugError(f"{archive}: cannot write member {name!r} ({why}); nothing was extracted")


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


# Errors of reading a tar: a truncated .tar.gz ends in EOFError or gzip.BadGzipFile (an OSError
# without errno, unlike a failed write).
_TAR_READ_ERRORS = (tarfile.TarError, EOFError, zlib.error, lzma.LZMAError)


def _tar_kind(m: tarfile.TarInfo) -> str:
    if m.isdir():
        return "dir"
    if m.issym():
        return "link"
    return "file"


def _extract_tar(archive: Path, stage: Path, budget: _Budget) -> None:
    current: list[tarfile.TarInfo | None] = [None]

    def unreadable(exc: BaseException) -> CycleAugError:
        return CycleAugError(f"{archive}: not a readable tar archive ({exc}); nothing was extracted")

    def counted(members: list[tarfile.TarInfo]):
        """The members, each counted against the limits once tarfile has written it."""
        for m in [*members, None]:
            prev = current[0]
            if prev is not None and prev.isreg():
                try:
                    size = os.lstat(stage / prev.name).st_size
                except OSError:
                    size = 0
                budget.member(prev.name, size)
                budget.add(size)
            if m is None:
                return
            current[0] = m
            yield m

    try:
        tf = tarfile.open(archive)
    except (*_TAR_READ_ERRORS, OSError) as exc:
        raise unreadable(exc) from None
    with tf:
        members = []
        try:
            # Member by member, so the limits stop a tar.gz bomb at its first header instead of
            # after decompressing all of it.
            while (m := tf.next()) is not None:
                members.append(m)
                if m.isreg():
                    budget.member(m.name, m.size)
                    budget.add(m.size)
        except (*_TAR_READ_ERRORS, OSError) as exc:
            raise unreadable(exc) from None
        _check_tar(members)
        links = {tuple(_parts(m.name)): m.linkname for m in members if m.issym()}
        _check_layout(archive, ((m.name, _tar_kind(m)) for m in members), stage, links)
        budget.listed(stage)
        try:
            if hasattr(tarfile, "data_filter"):
                # Python >= 3.11.4 / 3.12: the stdlib filter repeats the checks above at write time
                # and drops owners and special permission bits (PEP 706).
                tf.extractall(stage, members=counted(members), filter="data")
            else:
                tf.extractall(stage, members=counted(members))
        except _TAR_FILTER_ERRORS as exc:
            raise UnsafeArchiveError(f"{archive}: {exc}; nothing was extracted") from None
        except _TAR_READ_ERRORS as exc:
            raise unreadable(exc) from None
        except OSError as exc:
            if exc.errno is None:
                raise unreadable(exc) from None
            raise _member_write_error(exc, archive, current[0].name if current[0] else "?") from None


# BadZipFile also covers a member whose CRC-32 does not match; RuntimeError is zipfile's word for an
# encrypted member (refused from the listing already), ValueError for some malformed headers.
_ZIP_READ_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, zlib.error, NotImplementedError, RuntimeError)
_ZIP_ENCRYPTED = 0x1  # general purpose bit 0 (APPNOTE.TXT 4.4.4)


def _extract_zip(archive: Path, stage: Path, budget: _Budget) -> None:
    try:
        zf = zipfile.ZipFile(archive)
    except (*_ZIP_READ_ERRORS, ValueError, OSError) as exc:
        raise CycleAugError(f"{archive}: not a readable zip archive ({exc}); nothing was extracted") from None
    with zf:
        infos = zf.infolist()
        _check_names((i.filename for i in infos), "zip")
        encrypted = [i.filename for i in infos if i.flag_bits & _ZIP_ENCRYPTED]
        if encrypted:
            more = f" (and {len(encrypted) - 1} more)" if len(encrypted) > 1 else ""
            raise CycleAugError(
                f"{archive}: member {encrypted[0]!r}{more} is encrypted (password-protected); expected an "
                "unencrypted archive (unpack it by hand with its password); nothing was extracted"
            )
        _check_layout(archive, ((i.filename, "dir" if i.is_dir() else "file") for i in infos), stage)
        for info in infos:
            budget.member(info.filename, info.file_size, info.compress_size)
            budget.add(info.file_size)
        budget.listed(stage)
        for info in infos:
            parts = _parts(info.filename)
            if not parts:
                continue
            target = stage.joinpath(*parts)
            try:
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                # A zip "symlink" entry is written as a small regular file holding the link text,
                # as Python's zipfile does: a zip never creates a link on disk here.
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(target, "wb") as dst:
                    written = 0
                    while chunk := src.read(CHUNK):
                        written += len(chunk)
                        budget.member(info.filename, written, info.compress_size)
                        budget.add(len(chunk))
                        dst.write(chunk)
            except (*_ZIP_READ_ERRORS, ValueError) as exc:
                raise CycleAugError(
                    f"{archive}: member {info.filename!r} is not readable ({exc}); nothing was extracted"
                ) from None
            except OSError as exc:
                raise _member_write_error(exc, archive, info.filename) from None


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


def _tool_failure(cmd: list[str], archive: Path, stage: Path | None, code: int, text: str) -> CycleAugError:
    """One line for a failed bsdtar/unrar: a disk condition names the folder, an encrypted archive
    says so, anything else quotes the tool's own last words."""
    said = " | ".join(line.strip() for line in text.strip().splitlines() if line.strip())[-600:]
    if stage is not None:
        for code_, reason in DISK_ERRNOS.items():
            if os.strerror(code_).lower() in text.lower():
                return CycleAugError(
                    f"{stage.parent.parent}: {reason} while unpacking {archive} ({os.strerror(code_)}); "
                    "nothing was extracted"
                )
    if re.search(r"encrypt|password", text, re.IGNORECASE):
        return CycleAugError(
            f"{archive}: encrypted (password-protected), which cycleaug does not extract; expected an "
            f"unencrypted archive (unpack it by hand with its password) ({cmd[0]}: {said})"
        )
    return CycleAugError(f"{archive}: {' '.join(cmd[:2])} failed with exit status {code}: {said}")


def _run_tool(cmd: list[str], archive: Path) -> str:
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, errors="surrogateescape")
    except OSError as exc:
        raise CycleAugError(f"{archive}: cannot run {cmd[0]} ({exc})") from None
    if res.returncode != 0:
        raise _tool_failure(cmd, archive, None, res.returncode, res.stderr or res.stdout)
    return res.stdout


def _run_watched(cmd: list[str], archive: Path, stage: Path, budget: _Budget) -> None:
    """Run the extracting tool, counting what it has written under ``stage`` every few seconds and
    stopping it as soon as that passes the limits (its listing may have understated the sizes)."""
    try:
        proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="surrogateescape"
        )
    except OSError as exc:
        raise CycleAugError(f"{archive}: cannot run {cmd[0]} ({exc})") from None
    interval = 1.0
    try:
        while True:
            try:
                out, err = proc.communicate(timeout=interval)
                break
            except subprocess.TimeoutExpired:
                t0 = time.perf_counter()
                budget.scan(stage)
                # Scanning a large tree costs time: keep it to about 5% of the extraction.
                interval = max(1.0, 20 * (time.perf_counter() - t0))
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    if proc.returncode != 0:
        raise _tool_failure(cmd, archive, stage, proc.returncode, err or out)
    budget.scan(stage)


def _listing_sizes(listing: str, unrar: bool) -> list[tuple[str, int]]:
    """(name, unpacked size) of each member, from ``unrar lt`` or ``bsdtar -tv`` (ls -l style: mode,
    links, owner, group, size, date, name)."""
    out = []
    if unrar:
        name = None
        for line in listing.splitlines():
            m = re.match(r"\s*Name:\s?(.*)$", line)
            if m:
                name = m.group(1)
                continue
            m = re.match(r"\s*Size:\s*(\d+)\s*$", line)
            if m and name is not None:
                out.append((name, int(m.group(1))))
                name = None
    else:
        for line in listing.splitlines():
            m = re.match(r"^-\S*\s+\d+\s+\S+\s+\S+\s+(\d+)\s+\S+\s+\S+\s+\S+\s(.*)$", line)
            if m:
                out.append((m.group(2), int(m.group(1))))
    return out


def _extract_external(archive: Path, stage: Path, budget: _Budget) -> None:
    """A .rar via bsdtar (libarchive reads RAR 4 and 5) or RARLAB's unrar: list, check, extract,
    then check again what landed on disk (neither tool reports link targets when listing)."""
    name, exe = _rar_tool()
    if name == "bsdtar":
        listing = _run_tool([exe, "-tf", str(archive)], archive)
        sizes = _listing_sizes(_run_tool([exe, "-tvf", str(archive)], archive), unrar=False)
        # bsdtar already refuses "..", absolute names and writing through links by default; as root it
        # would also restore owners and set-id bits, which a data set has no use for.
        extract = [exe, "-xf", str(archive), "-C", str(stage), "--no-same-owner", "--no-same-permissions"]
    else:
        # lb: bare names; lt: technical listing with sizes; -p-: never prompt for a password;
        # x: keep paths; -o-: never overwrite.
        listing = _run_tool([exe, "lb", "-p-", str(archive)], archive)
        sizes = _listing_sizes(_run_tool([exe, "lt", "-p-", str(archive)], archive), unrar=True)
        extract = [exe, "x", "-p-", "-o-", "-idq", "-y", str(archive), str(stage) + os.sep]
    names = [line for line in listing.splitlines() if line.strip()]
    _check_names(names, "rar")
    _check_layout(archive, ((n, "unknown") for n in names), stage)
    for member, size in sizes:
        budget.member(member, size)
        budget.add(size)
    budget.listed(stage)
    _say(f"extracting {archive} with {exe}")
    _run_watched(extract, archive, stage, budget)
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
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError as exc:
        raise CycleAugError(f"{path}: cannot read the archive ({exc.strerror or exc})") from None
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


def _merge(result: Path, dest: Path, work: Path) -> None:
    """Replace each entry of ``dest`` named like an entry of ``result`` (renames within one file
    system); if a rename fails, the entries already replaced get their old versions back, so
    ``dest`` is never left half old, half new."""
    done: list[tuple[Path, Path | None]] = []
    try:
        for child in sorted(result.iterdir()):
            target = dest / child.name
            old = None
            if target.exists() or target.is_symlink():
                old = work / f"old-{child.name}"
                os.replace(target, old)
            done.append((target, old))
            os.replace(child, target)
    except BaseException:
        for target, old in reversed(done):
            try:
                if os.path.lexists(target):  # the new entry (the old one was moved away first)
                    os.replace(target, work / f"new-{target.name}")
                if old is not None:
                    os.replace(old, target)
            except OSError:
                pass  # best effort: the original error is the one to report
        raise


def extract(
    archive: str | os.PathLike,
    dest: str | os.PathLike,
    strip: int = 0,
    expect: Iterable[str] = (),
    stream: TextIO | None = None,
    limits: Limits | None = None,
) -> Path:
    """Unpack ``archive`` into ``dest`` safely (see the module docstring).

    ``strip`` drops that many leading folders from every member (tar's --strip-components);
    ``expect`` lists paths (relative to ``dest``) that must exist afterwards, so an archive of the
    wrong layout fails here with a listing instead of later with a missing file.
    If ``dest`` is missing or empty it appears in one rename; otherwise each top-level entry of
    the archive replaces the entry of the same name in ``dest`` and other entries stay.
    ``limits`` bound what it may unpack to (default :class:`Limits`).
    """
    archive, dest = Path(archive), Path(dest)
    if strip < 0:
        raise CycleAugError(f"--strip {strip}: expected 0 or more")
    kind = archive_kind(archive)
    budget = _Budget(archive, limits or Limits())
    action = f"unpacking {archive} into {dest}"
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _write_error(exc, dest.parent, action, "nothing was extracted") from None
    for stale in dest.parent.glob(f".{dest.name}.extract-*"):
        # Left by a run that was killed mid-way (SIGKILL skips the clean-up below); only one job
        # writes a given target, so none of these is in use.
        _say(f"removing {stale}, left by an interrupted extraction", stream)
        shutil.rmtree(stale, ignore_errors=True)
    try:
        work = Path(tempfile.mkdtemp(prefix=f".{dest.name}.extract-", dir=dest.parent))
    except OSError as exc:
        raise _write_error(exc, dest.parent, action, "nothing was extracted") from None
    try:
        stage = work / "archive"
        stage.mkdir()
        _say(f"extracting {archive} ({kind}) into {dest}", stream)
        start = time.perf_counter()
        {"zip": _extract_zip, "tar": _extract_tar, "rar": _extract_external}[kind](archive, stage, budget)
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
            _merge(result, dest, work)
        _say(f"extracted {archive} into {dest} in {format_seconds(time.perf_counter() - start)}", stream)
    except OSError as exc:
        # A full, read-only or forbidden disk (a member's own write errors are reported by member);
        # the stage is removed below, so nothing half-written stays.
        raise _write_error(exc, dest.parent, action, "nothing was extracted") from None
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return dest


# ---------------------------------------------------------------------------------------------
# What the paper run needs, and where it comes from (config keys data.* and pretrained.*)
