"""Downloads that resume and verify: ``OUT.part`` grows by HTTP ``Range`` requests, bounded retries on
connection errors, and the file is renamed to ``OUT`` only after its checksum matched; a wrong
checksum deletes the ``.part`` and leaves nothing under ``OUT``. A configured local ``path`` is
verified and hard-linked (or copied) instead of downloading.

Every input is checked before the first byte moves: a checksum must be hex digits of the right
length, a URL (and every redirect it leads to) must be http or https. A full, read-only or
forbidden disk is reported in one line naming the path (:func:`disk_error`).
"""

from __future__ import annotations

import errno
import hashlib
import http.client
import os
import re
import shutil
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

from cycleaug.errors import CycleAugError
from cycleaug.progress import Progress, format_seconds

CHUNK = 1 << 20


class ChecksumError(CycleAugError):
    """The file's digest is not the configured one."""


def _say(msg: str, stream: TextIO | None = None) -> None:
    print(msg, file=stream or sys.stderr, flush=True)


# What a failed write means for the user, by errno: these are conditions of the disk, not of the file
# being written, so the message names the folder and the condition instead of blaming the input.
DISK_ERRNOS = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is used up",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "no permission to write there",
    errno.EPERM: "no permission to write there",
    errno.EFBIG: "a file is larger than the file system (or `ulimit -f`) allows",
}


def disk_error(exc: OSError, where: str | os.PathLike, action: str, tail: str = "") -> CycleAugError | None:
    """A one-line CycleAugError for a write that failed because of the disk (full, read-only, no
    permission), naming ``where``; None when ``exc`` is something else."""
    reason = DISK_ERRNOS.get(exc.errno)
    if reason is None:
        return None
    return CycleAugError(f"{where}: {reason} while {action} ({exc.strerror}){'; ' + tail if tail else ''}")


def _write_error(exc: OSError, where: str | os.PathLike, action: str, tail: str = "") -> CycleAugError:
    return disk_error(exc, where, action, tail) or CycleAugError(
        f"{where}: cannot write while {action} ({exc.strerror or exc}){'; ' + tail if tail else ''}"
    )


# ---------------------------------------------------------------------------------------------
# URLs

ALLOWED_SCHEMES = ("http", "https")


def check_url(url: str, what: str = "--url") -> str:
    """``url`` if it is http(s) with a host; else a one-line CycleAugError naming it (``ftp://`` and
    ``file://`` would be fetched by urllib too, without the Range and checksum logic here)."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError as exc:
        raise CycleAugError(f"{what} {url!r}: not a valid URL ({exc}); expected http:// or https://") from None
    if parts.scheme.lower() not in ALLOWED_SCHEMES:
        shown = f"URL scheme {parts.scheme!r}" if parts.scheme else "no URL scheme"
        raise CycleAugError(f"{what} {url!r}: {shown} is not allowed; expected http:// or https://")
    if not parts.hostname:
        raise CycleAugError(f"{what} {url!r}: no host name; expected http://HOST/... or https://HOST/...")
    return url


class _RedirectHandler(urllib.request.HTTPRedirectHandler):
    """Follow redirects only to http(s): urllib's own handler also follows them to ftp://."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        if urllib.parse.urlsplit(newurl).scheme.lower() not in ALLOWED_SCHEMES:
            fp.close()
            raise CycleAugError(
                f"{req.full_url}: the server redirects to {newurl!r}, which is not allowed; "
                "expected a redirect to http:// or https://"
            )
        return super().redirect_request(req, fp, code, msg, headers, newurl)


_OPENER = urllib.request.build_opener(_RedirectHandler)


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
    try:
        with open(path, "rb") as f, ByteProgress(path.stat().st_size, desc, stream=stream) as p:
            while chunk := f.read(CHUNK):
                for h in hashers.values():
                    h.update(chunk)
                p.update(len(chunk))
    except OSError as exc:
        raise CycleAugError(f"{path}: cannot read it to compute its checksum ({exc.strerror or exc})") from None
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
        resp = _OPENER.open(urllib.request.Request(url, headers=headers), timeout=timeout)
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
            kept = part.stat().st_size if part.exists() else 0
            tail = f"{part} keeps {kept} bytes: run again to resume" if kept else "nothing was saved"
            raise _write_error(exc, part, f"downloading {url}", tail) from None
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
    check_url(url)
    _normalise_hex(sha256, 64, "sha256")
    _normalise_hex(md5, 32, "md5")
    out = Path(out)
    part = out.with_name(out.name + ".part")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _write_error(exc, out.parent, f"creating the folder for {out}") from None
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
    try:
        os.replace(part, out)
    except OSError as exc:
        raise _write_error(exc, out, f"renaming {part} to it", f"{part} is complete and verified") from None
    _say(f"saved {out}", stream)
    return out


# ---------------------------------------------------------------------------------------------
# Local files


def _place(src: Path, out: Path, stream: TextIO | None) -> None:
    """Hard-link ``src`` to ``out`` (no copy of a 5 GB archive), or copy when linking is impossible."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    except OSError as exc:
        raise _write_error(exc, out.parent, f"placing {src} at {out}", "nothing was written") from None
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
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise _write_error(exc, out.parent, f"placing {src} at {out}", "nothing was written") from None
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
    # Every option is checked before anything is read or downloaded: a malformed checksum would
    # otherwise be noticed only after a 6 GB download.
    _normalise_hex(sha256, 64, "sha256")
    _normalise_hex(md5, 32, "md5")
    if url is not None:
        check_url(url)
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
