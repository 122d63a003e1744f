"""Fetch, verify and unpack the data sets and weights of the paper run (BDD100K, SYNTHIA,
darknet53.conv.74, the FID Inception weights) with the standard library only.

    cycleaug fetch --url https://pjreddie.com/media/files/darknet53.conv.74 --out data/pretrained/darknet53.conv.74
    cycleaug fetch --path downloads/bdd100k_labels_release.zip --out downloads/bdd100k_labels_release.zip \\
        --md5 e21be3e7d6a07ee439faf61e769667e4 --extract-to data/raw/bdd100k/labels --strip 2

Guarantees, in order:
- a download resumes from ``OUT.part`` (HTTP ``Range``), retries a bounded number of times on
  connection errors, and is renamed to ``OUT`` only after its checksum matched; a wrong checksum
  deletes the ``.part`` and leaves nothing under ``OUT``;
- an archive is listed and checked before anything is written: a member that would land outside
  the target folder (``..``, an absolute path, a link pointing outside, a device file) refuses the
  whole archive;
- it is unpacked into a temporary folder beside the target and moved into place only when it was
  unpacked completely and has the expected layout.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from cycleaug.errors import CycleAugError
from cycleaug.progress import Progress, format_seconds

CHUNK = 1 << 20


class ChecksumError(CycleAugError):
    """The file's digest is not the configured one."""


class UnsafeArchiveError(CycleAugError):
    """An archive member would be written outside the target folder."""


def _say(msg: str, stream: TextIO | None = None) -> None:
    print(msg, file=stream or sys.stderr, flush=True)


def _human(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000.0
    raise AssertionError("unreachable")


class ByteProgress(Progress):
    """``download x.zip: 1.2 GB / 5.3 GB (23%) 11.3 MB/s ETA 6:02``; ``start`` is where a resumed
    download begins, so the rate and ETA count only this session's bytes."""

    def __init__(self, total: int | None, desc: str, start: int = 0, interval: float = 5.0, stream=None):
        super().__init__(total or 0, desc, unit="B", interval=interval, stream=stream)
        self.n = self.start_n = start

    def _print(self, final: bool = False) -> None:
        elapsed = time.perf_counter() - self.start
        rate = (self.n - self.start_n) / elapsed if elapsed > 0 else 0.0
        size = (
            f"{_human(self.n)} / {_human(self.total)} ({100 * self.n / self.total:.0f}%)"
            if self.total
            else _human(self.n)
        )
        if final:
            tail = f"done in {format_seconds(elapsed)}"
        elif rate > 0 and self.total:
            tail = f"ETA {format_seconds((self.total - self.n) / rate)}"
        else:
            tail = ""
        end = "\r" if self.stream.isatty() and not final else "\n"
        print(f"{self.desc}: {size} {rate / 1e6:.1f} MB/s {tail}", end=end, file=self.stream, flush=True)


# ---------------------------------------------------------------------------------------------
# Checksums


def _normalise_hex(value: str | None, length: int, name: str) -> str | None:
    if value is None:
        return None
    value = value.strip().lower()
    if not re.fullmatch(rf"[0-9a-f]{{{length}}}", value):
        raise CycleAugError(f"--{name} {value!r}: expected {length} hexadecimal digits")
    return value


def file_digests(
    path: str | os.PathLike, algorithms: Iterable[str], stream: TextIO | None = None, name: str | None = None
) -> dict[str, str]:
    """Hex digests of ``path`` for each algorithm (``sha256``, ``md5``), in one pass."""
    path = Path(path)
    hashers = {a: hashlib.new(a) for a in algorithms}
    desc = f"checksum {name or path.name}"
    with open(path, "rb") as f, ByteProgress(path.stat().st_size, desc, stream=stream) as p:
        while chunk := f.read(CHUNK):
            for h in hashers.values():
                h.update(chunk)
            p.update(len(chunk))
    return {a: h.hexdigest() for a, h in hashers.items()}


def verify(
    path: str | os.PathLike,
    sha256: str | None = None,
    md5: str | None = None,
    stream: TextIO | None = None,
    name: str | os.PathLike | None = None,
) -> dict[str, str]:
    """Check ``path`` against the configured digests; raise ChecksumError naming expected and actual.

    With no digest configured, print the file's sha256 and a warning that nothing was verified.
    ``name`` is how messages call the file (a download's final name while it is still ``.part``).
    """
    sha256 = _normalise_hex(sha256, 64, "sha256")
    md5 = _normalise_hex(md5, 32, "md5")
    expected = {a: v for a, v in (("sha256", sha256), ("md5", md5)) if v is not None}
    label = name if name is not None else path
    actual = file_digests(path, expected or ["sha256"], stream=stream, name=Path(label).name)
    path = label
    if not expected:
        _say(
            f"warning: {path}: no sha256 or md5 configured, so nothing was verified; "
            f"its sha256 is {actual['sha256']} (set it in the config to pin this file)",
            stream,
        )
        return actual
    for algo, want in expected.items():
        if actual[algo] != want:
            raise ChecksumError(f"{path}: {algo} mismatch: expected {want}, actual {actual[algo]}")
    _say(f"{path}: {' and '.join(expected)} verified", stream)
    return actual


# ---------------------------------------------------------------------------------------------
# Download


class _Transient(Exception):
    """A failure worth retrying: connection reset, timeout, short body, HTTP 5xx."""


def _content_range(value: str | None) -> tuple[int | None, int | None]:
    """``bytes 100-199/1000`` -> (100, 1000); ``bytes */1000`` -> (None, 1000); total may be ``*``."""
    m = re.fullmatch(r"\s*bytes\s+(?:(\d+)-\d+|\*)/(\d+|\*)\s*", value or "")
    if not m:
        return None, None
    start = int(m.group(1)) if m.group(1) is not None else None
    total = int(m.group(2)) if m.group(2) != "*" else None
    return start, total


def _user_agent() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"cycleaug/{version('cycleaug')} (python-urllib)"
    except PackageNotFoundError:
        return "cycleaug (python-urllib)"


def _download_once(url: str, part: Path, timeout: float, stream: TextIO | None) -> None:
    """One HTTP request that appends to ``part``; returns when the body is complete."""
    have = part.stat().st_size if part.exists() else 0
    # identity: a gzip-encoded body would not match the archive's checksum or byte offsets.
    headers = {"User-Agent": _user_agent(), "Accept-Encoding": "identity"}
    if have:
        headers["Range"] = f"bytes={have}-"
    try:
        resp = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:
            # Range Not Satisfiable (RFC 9110 15.5.17): the .part already holds the whole file, or it
            # is longer than the file (the file changed upstream): start again.
            _, total = _content_range(exc.headers.get("Content-Range"))
            if total == have:
                return
            _say(
                f"{part}: {have} bytes on disk but the server's file is {total if total is not None else 'of unknown size'}; "
                "downloading again from the start",
                stream,
            )
            part.unlink()
            raise _Transient("HTTP 416, restarting") from None
        if exc.code in (408, 425, 429) or exc.code >= 500:
            raise _Transient(f"HTTP {exc.code} {exc.reason}") from None
        raise CycleAugError(f"{url}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        raise _Transient(str(getattr(exc, "reason", exc))) from None

    with resp:
        total = None
        if resp.status == 206:
            start, total = _content_range(resp.headers.get("Content-Range"))
            if start != have:
                part.unlink(missing_ok=True)
                raise _Transient(f"server answered bytes from {start}, asked for {have}; restarting")
        else:
            if have:
                _say(f"{url}: the server ignored the Range request; downloading from the start", stream)
                have = 0
            length = resp.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
        mode = "ab" if have else "wb"
        try:
            with (
                open(part, mode) as f,
                ByteProgress(total, f"download {part.name[: -len('.part')]}", start=have, stream=stream) as p,
            ):
                while True:
                    try:
                        chunk = resp.read(CHUNK)
                    except (OSError, http.client.HTTPException) as exc:
                        raise _Transient(f"connection lost after {p.n} bytes ({exc!r})") from None
                    if not chunk:
                        break
                    f.write(chunk)
                    p.update(len(chunk))
        except OSError as exc:
            raise CycleAugError(f"{part}: cannot write ({exc})") from None
    got = part.stat().st_size
    if total is not None and got < total:
        raise _Transient(f"connection closed at {got} of {total} bytes")
    if total is not None and got > total:
        part.unlink()
        raise CycleAugError(f"{url}: received {got} bytes but the server announced {total}; removed {part}")


def download(
    url: str,
    out: str | os.PathLike,
    sha256: str | None = None,
    md5: str | None = None,
    *,
    retries: int = 4,
    timeout: float = 60.0,
    backoff: float = 2.0,
    stream: TextIO | None = None,
) -> Path:
    """Download ``url`` to ``out`` via ``out.part`` (resumed if present); verify; rename.

    ``retries`` bounds consecutive failed attempts that brought no new bytes (waits ``backoff`` s,
    doubling, at most 60 s); an attempt that made progress resets the count, so a flaky connection
    still finishes a large file.
    """
    out = Path(out)
    part = out.with_name(out.name + ".part")
    out.parent.mkdir(parents=True, exist_ok=True)
    failures = 0
    while True:
        before = part.stat().st_size if part.exists() else 0
        try:
            _download_once(url, part, timeout, stream)
            break
        except _Transient as exc:
            now = part.stat().st_size if part.exists() else 0
            failures = 0 if now > before else failures + 1
            if failures > retries:
                kept = f"; {part} keeps {now} bytes, run again to resume" if now else ""
                raise CycleAugError(f"{url}: download failed after {retries} retries ({exc}){kept}") from None
            wait = min(60.0, backoff * 2 ** max(0, failures - 1)) if failures else 0.0
            _say(f"{url}: {exc}; retrying{f' in {wait:.0f} s' if wait >= 1 else ''}", stream)
            time.sleep(wait)
    try:
        verify(part, sha256, md5, stream=stream, name=out)
    except ChecksumError as exc:
        part.unlink()
        raise ChecksumError(f"{url}: {exc}; the download was deleted") from None
    os.replace(part, out)
    _say(f"saved {out}", stream)
    return out


# ---------------------------------------------------------------------------------------------
# Local files


def _place(src: Path, out: Path, stream: TextIO | None) -> None:
    """Hard-link ``src`` to ``out`` (no copy of a 5 GB archive), or copy when linking is impossible."""
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        tmp.unlink()
        try:
            os.link(src, tmp)
            how = "linked"
        except OSError:
            shutil.copyfile(src, tmp)
            how = "copied"
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _say(f"{how} {src} -> {out}", stream)


def fetch(
    out: str | os.PathLike,
    url: str | None = None,
    path: str | os.PathLike | None = None,
    sha256: str | None = None,
    md5: str | None = None,
    *,
    retries: int = 4,
    timeout: float = 60.0,
    backoff: float = 2.0,
    stream: TextIO | None = None,
) -> Path:
    """Make ``out`` hold the verified file and return it.

    Order: ``path`` if that file exists (verified, then used in place when it is ``out``, else
    hard-linked or copied); else an existing ``out`` (verified, not downloaded again); else
    download ``url``. A local file with a wrong checksum is reported and left alone.
    """
    out = Path(out)
    if path is not None and Path(path).is_file():
        src = Path(path)
        verify(src, sha256, md5, stream=stream)
        if not (out.exists() and os.path.samefile(src, out)):
            _place(src, out, stream)
        return out
    if out.is_file():
        _say(f"{out} exists; verifying instead of downloading", stream)
        try:
            verify(out, sha256, md5, stream=stream)
        except ChecksumError as exc:
            raise ChecksumError(f"{exc}; delete it to download it again") from None
        return out
    if url is None:
        missing = f"{path} and {out} do not exist" if path is not None else f"{out} does not exist"
        raise CycleAugError(f"{missing} and no --url was given to download it from")
    return download(url, out, sha256, md5, retries=retries, timeout=timeout, backoff=backoff, stream=stream)


# ---------------------------------------------------------------------------------------------
# Safe extraction


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


@dataclass(frozen=True)
class Source:
    name: str  # short name, used for rule names and logs
    key: str  # config key of the source (url, path, sha256, md5)
    spec: dict  # that config entry
    what: str  # what to download, by its official name
    where: str  # the official page or URL
    target: str  # what it becomes, relative to data_dir
    strip: int = 0  # leading folders dropped when unpacking
    expect: tuple[str, ...] = ()  # paths (relative to target) the unpacked archive must have

    @property
    def is_archive(self) -> bool:
        return self.target.startswith("raw/")

    def path(self, data_dir: str) -> str:
        """What the source becomes: the unpack folder of an archive, or the verified weights file."""
        return f"{data_dir}/{self.target}"

    def outputs(self, data_dir: str) -> list[str]:
        """The files an unpacked archive must provide (its ``expect`` paths under the unpack folder)."""
        return [f"{data_dir}/{self.target}/{e}" for e in self.expect]

    @property
    def archive(self) -> str:
        """Where the archive is, or is downloaded to: the configured ``path``."""
        return self.spec["path"]


BDD_PAGE = (
    "https://bdd-data.berkeley.edu/ (free account and login needed; the BDD100K docs also list the "
    "mirror https://dl.cv.ethz.ch/bdd100k/data/)"
)
SYNTHIA_PAGE = "http://synthia-dataset.net/downloads/"


def _bdd_sources(config: dict) -> list[Source]:
    bdd = config["data"]["bdd100k"]
    # Layouts and md5 sums: BDD100K documentation, "Data Download" (github.com/bdd100k/bdd100k,
    # doc/source/download.rst) and "Using Data" (doc.bdd100k.com/usage.html): the 100K Images zip
    # holds bdd100k/images/100k/{train,val,test}/, the 2018 "Labels" zip
    # bdd100k/labels/bdd100k_labels_images_{train,val}.json, "Detection 2020 Labels"
    # bdd100k/labels/det_20/det_{train,val}.json.
    images = Source(
        "bdd100k_images",
        "data.bdd100k.images",
        bdd["images"],
        'BDD100K "100K Images" (bdd100k_images_100k.zip, 5.3 GB, md5 5a0359c86a0b8713adab1eee9a3041cb)',
        BDD_PAGE,
        "raw/bdd100k/images",
        strip=2,
        expect=("100k/train", "100k/val"),
    )
    # The label files unpack straight into the folder the rule's outputs sit in (det_20 one level
    # deeper), so that folder is always the outputs' parent.
    if bdd.get("label_format", "legacy") == "det20":
        labels = Source(
            "bdd100k_labels",
            "data.bdd100k.labels",
            bdd["labels"],
            'BDD100K "Detection 2020 Labels" (bdd100k_det_20_labels_trainval.zip, 53 MB, '
            "md5 b86a3e1b7edbcad421b7dad2b3987c94)",
            BDD_PAGE,
            "raw/bdd100k/labels/det_20",
            strip=3,
            expect=("det_train.json", "det_val.json"),
        )
    else:
        labels = Source(
            "bdd100k_labels",
            "data.bdd100k.labels",
            bdd["labels"],
            'BDD100K "Labels" (2018 release, bdd100k_labels_release.zip, 107 MB, md5 e21be3e7d6a07ee439faf61e769667e4)',
            BDD_PAGE,
            "raw/bdd100k/labels",
            strip=2,
            expect=("bdd100k_labels_images_train.json", "bdd100k_labels_images_val.json"),
        )
    return [images, labels]


def _synthia_source(config: dict) -> Source:
    syn = config["data"]["synthia"]
    release = syn.get("release", "RAND-CITYSCAPES")
    # Every SYNTHIA archive has one top folder (RAND_CITYSCAPES/, SYNTHIA-SEQS-01-DAWN/, ...) with RGB/
    # and GT/ below it; --strip 1 puts RGB/ at data/raw/synthia/RGB. RAND-CITYSCAPES: RGB/, GT/LABELS/,
    # GT/COLOR/, Depth/ (e.g. VLTSeg's README: `unrar x SYNTHIA_RAND_CITYSCAPES.rar; mv RAND_CITYSCAPES synthia`).
    what = {
        "RAND-CITYSCAPES": "SYNTHIA-RAND-CITYSCAPES (CVPR16) (SYNTHIA_RAND_CITYSCAPES.rar, about 20 GB)",
        "RAND-CVPR16": "SYNTHIA-RAND (CVPR16) (SYNTHIA_RAND_CVPR16.rar)",
        "SEQS": "one SYNTHIA-SEQS sequence (e.g. SYNTHIA-SEQS-01-SUMMER.rar)",
    }[release]
    expect = ("RGB",) if release == "RAND-CVPR16" else ("RGB", "GT/LABELS")
    return Source(
        "synthia", "data.synthia.archive", syn["archive"], what, SYNTHIA_PAGE, "raw/synthia", strip=1, expect=expect
    )


def _weight_sources(config: dict) -> list[Source]:
    pre = config.get("pretrained") or {}
    out = []
    if "darknet53" in pre:
        out.append(
            Source(
                "darknet53",
                "pretrained.darknet53",
                pre["darknet53"],
                "darknet53.conv.74 (Darknet-53 ImageNet weights, first 74 layers; YOLOv3 paper set-up)",
                "https://pjreddie.com/media/files/darknet53.conv.74 (https://pjreddie.com/darknet/yolo/)",
                "pretrained/darknet53.conv.74",
            )
        )
    if "inception" in pre:
        # pytorch-fid's FID_WEIGHTS_URL (pytorch_fid/inception.py); 6726825d are the first hex digits
        # of the file's sha256 (torch.hub's naming convention, torch/hub.py HASH_REGEX).
        out.append(
            Source(
                "inception",
                "pretrained.inception",
                pre["inception"],
                "the FID Inception weights pt_inception-2015-12-05-6726825d.pth (pytorch-fid 0.3.0)",
                "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
                "pt_inception-2015-12-05-6726825d.pth",
                "pretrained/pt_inception-2015-12-05-6726825d.pth",
            )
        )
    return out


def all_sources(config: dict) -> dict[str, Source]:
    """Every source the config describes, by name."""
    return {s.name: s for s in [*_bdd_sources(config), _synthia_source(config), *_weight_sources(config)]}


def required_sources(config: dict) -> list[Source]:
    """The sources this configuration will read: the data sets when data.source is ``real``, the
    darknet53 weights when detector.pretrained, the Inception weights when fid.weights is ``pretrained``."""
    sources = all_sources(config)
    names = []
    if config["data"]["source"] == "real":
        names += ["bdd100k_images", "bdd100k_labels", "synthia"]
    if (config.get("detector") or {}).get("pretrained"):
        names.append("darknet53")
    if (config.get("fid") or {}).get("weights") == "pretrained":
        names.append("inception")
    return [sources[n] for n in names if n in sources]


def target_path(config: dict, source: Source) -> Path:
    return Path(config["data_dir"]) / source.target


def check_sources(config: dict, root: str | os.PathLike | None = None) -> list[str]:
    """One message per needed file that can neither be found nor downloaded: what to download,
    from where, and where to put it. Empty when everything is there or has a URL.

    A source counts as present when its configured ``path`` exists, when a ``url`` is configured,
    or when what it unpacks into (``{data_dir}/raw/...``, ``{data_dir}/pretrained/...``) already
    exists. Relative paths are taken from ``root`` (default: the working directory).
    """
    root = Path(root) if root is not None else Path.cwd()
    messages = []
    for s in required_sources(config):
        spec = s.spec or {}
        path = spec.get("path")
        done = root / target_path(config, s)
        unpacked = all((done / e).exists() for e in s.expect) if s.is_archive else done.is_file()
        if spec.get("url") or (path and (root / path).is_file()) or unpacked:
            continue
        messages.append(
            f"{s.key}: {path} does not exist and {s.key}.url is not set. Download {s.what} from "
            f"{s.where} and put it at {path} (or set {s.key}.path to where it is, "
            f"or {s.key}.url to fetch it)."
        )
    return messages


def fetch_arguments(source: Source) -> str:
    """`cycleaug fetch` options for a config source: ``--path`` (used if present), ``--url``, checksums."""
    spec = source.spec or {}
    args = ["--path", spec["path"]]
    for key in ("url", "sha256", "md5"):
        if spec.get(key):
            args += [f"--{key}", str(spec[key])]
    return shlex.join(args)


def layout_arguments(source: Source) -> str:
    """`cycleaug fetch` unpacking options for an archive: ``--strip N --expect PATH ...``."""
    args = ["--strip", str(source.strip)]
    for e in source.expect:
        args += ["--expect", e]
    return shlex.join(args)
