"""Bad input to the acquire stage (issue 24): one table, each row a case, how its input is built and
the exact message `cycleaug fetch` must give. Every row runs the real CLI and checks that it exits
non-zero with that message as its one error line (no traceback) and leaves nothing at the output path
(no target folder, no stage folder beside it, no downloaded file).

Disk faults (a full, read-only or forbidden disk) are injected into the CLI process by a
``sitecustomize`` module on PYTHONPATH: writing a file whose path contains a marker goes to /dev/full
(a real ENOSPC from the kernel), or opening it / making a folder raises EROFS or EACCES. Downloads go
to a server on 127.0.0.1 only; ``ftp://`` and ``file://`` URLs must be refused before any access.
"""

from __future__ import annotations

import hashlib
import http.server
import io
import os
import struct
import tarfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import local_http_server, run_cli
from test_acquire import make_zip

# ---------------------------------------------------------------------------------------------
# Inputs


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        srv = self.server
        srv.requests.append(self.path)
        if self.path in srv.redirects:
            self.send_response(302)
            self.send_header("Location", srv.redirects[self.path])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = srv.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture()
def server():
    yield from local_http_server(_Handler, files={}, redirects={}, requests=[])


def noise(n: int) -> bytes:
    """Incompressible bytes (a ratio of about 1)."""
    return hashlib.shake_256(b"bad-input").digest(n)


def make_tar(members: list[tuple[str, bytes]], mode: str = "w:gz") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tf:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def encrypted(data: bytes) -> bytes:
    """Set the 'encrypted' flag (general purpose bit 0) in every local and central header, which is how
    an encrypted member looks to a reader; zipfile cannot write one."""
    buf = bytearray(data)
    for sig, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        i = buf.find(sig)
        while i != -1:
            struct.pack_into("<H", buf, i + offset, struct.unpack_from("<H", buf, i + offset)[0] | 1)
            i = buf.find(sig, i + 4)
    return bytes(buf)


SITECUSTOMIZE = """
import builtins, errno, os

_name, _match = os.environ["CYCLEAUG_FAULT"].split(":", 1)
_err = getattr(errno, _name)
_open, _mkdir = builtins.open, os.mkdir


def _hit(path):
    return isinstance(path, (str, bytes, os.PathLike)) and _match in os.fsdecode(path)


def open(file, mode="r", *args, **kwargs):
    if _hit(file) and any(c in mode for c in "wax+"):
        if _err == errno.ENOSPC:
            return _open("/dev/full", "wb" if "b" in mode else "w", *args, **kwargs)
        raise OSError(_err, os.strerror(_err), os.fsdecode(file))
    return _open(file, mode, *args, **kwargs)


def mkdir(path, *args, **kwargs):
    if _hit(path) and _err != errno.ENOSPC:
        raise OSError(_err, os.strerror(_err), os.fsdecode(path))
    return _mkdir(path, *args, **kwargs)


builtins.open, os.mkdir = open, mkdir
"""


def fault_env(tmp_path: Path, errno_name: str, match: str) -> dict:
    d = tmp_path / "fault"
    d.mkdir(exist_ok=True)
    (d / "sitecustomize.py").write_text(SITECUSTOMIZE)
    return {
        "PYTHONPATH": os.pathsep.join(p for p in (str(d), os.environ.get("PYTHONPATH")) if p),
        "CYCLEAUG_FAULT": f"{errno_name}:{match}",
    }


@dataclass
class Case:
    args: list[str]
    out: Path  # must not exist afterwards
    env: dict = field(default_factory=dict)
    after: Callable[[], None] | None = None  # a further check
    names: dict = field(default_factory=dict)  # for the expected message's {placeholders}


def unpack(data: bytes, name: str = "a.zip", *flags: str, env: Callable[[Path], dict] | None = None):
    """An archive given as a local file, unpacked to work/target."""

    def build(tmp_path: Path, server) -> Case:
        arc = tmp_path / name
        arc.write_bytes(data() if callable(data) else data)
        dest = tmp_path / "work" / "target"
        return Case(
            ["--path", arc, "--out", arc, "--extract-to", dest, *flags],
            dest,
            env=env(tmp_path) if env else {},
            names={"arc": arc, "dest": dest, "work": dest.parent},
        )

    return build


def download(
    url: str, *flags: str, env: Callable[[Path], dict] | None = None, files=None, redirects=None, contacted=None
):
    """A download of ``url`` (``{srv}`` is the local server, serving ``files`` and ``redirects``) to
    dl/w.bin; unless ``contacted`` (default: when it serves something) the server must see no request."""

    def build(tmp_path: Path, server) -> Case:
        server.files.update(files or {})
        server.redirects.update(redirects or {})
        out = tmp_path / "dl" / "w.bin"
        full = url.format(srv=server.url, tmp=tmp_path)
        (tmp_path / "secret.bin").write_bytes(b"local file")

        def no_request():
            if not (bool(files or redirects) if contacted is None else contacted):
                assert server.requests == [], f"the server was asked for {server.requests}"

        return Case(
            ["--url", full, "--out", out, "--retries", "0", *flags],
            out,
            env=env(tmp_path) if env else {},
            after=no_request,
            names={"url": full, "out": out},
        )

    return build


def zeros_zip() -> bytes:
    return make_zip({"zeros.bin": bytes(32 << 20)})  # 32 MiB of zeros deflate to about 32 kB


def zeros_tar() -> bytes:
    return make_tar([("zeros.bin", bytes(32 << 20))])


SHA = hashlib.sha256(noise(1000)).hexdigest()

# (case, how the bad input is built, the exact message substring: {names} from the case)
CASES = [
    # Issue 24 item 4: OSError/RuntimeError tracebacks from _extract_zip; item 5: a tar blamed.
    (
        "zip-file-then-folder-of-one-name",
        unpack(make_zip({"a": b"x", "a/b": b"y"})),
        "{arc}: member 'a' is a file, but member 'a/b' needs a folder of that name; "
        "expected each path to be either a file or a folder; nothing was extracted",
    ),
    (
        "zip-folder-then-file-of-one-name",
        unpack(make_zip({"a/b": b"y", "a": b"x"})),
        "{arc}: member 'a' is a file, but member 'a/b' needs a folder of that name",
    ),
    (
        "tar-file-and-folder-of-one-name",
        unpack(make_tar([("a", b"x"), ("a/b", b"y")]), "a.tar.gz"),
        "{arc}: member 'a' is a file, but member 'a/b' needs a folder of that name",
    ),
    (
        "zip-name-too-long",
        unpack(make_zip({"d/" + "x" * 300: b"x"})),
        "{arc}: member 'd/" + "x" * 300 + "' has a name of 300 bytes ('" + "x" * 24 + "'...), longer than the "
        "255 bytes a name may have on the file system of {work}; nothing was extracted",
    ),
    (
        "zip-path-too-long",
        unpack(make_zip({"/".join(["y" * 200] * 25): b"x"})),
        "{arc}: member '" + "y" * 40 + "'... would be written at a path of",
    ),
    (
        "zip-encrypted-member",
        unpack(encrypted(make_zip({"ok.txt": b"ok", "secret.txt": b"s"}))),
        "{arc}: member 'ok.txt' (and 1 more) is encrypted (password-protected); expected an unencrypted "
        "archive (unpack it by hand with its password); nothing was extracted",
    ),
    (
        "zip-disk-full",
        unpack(make_zip({"d/a.txt": b"a" * 5000}), env=lambda t: fault_env(t, "ENOSPC", ".extract-")),
        "{work}: the disk is full while unpacking {arc} into {dest} (No space left on device); nothing was extracted",
    ),
    (
        "tar-disk-full-is-not-blamed-on-the-archive",
        unpack(make_tar([("d/a.txt", b"a" * 5000)]), "a.tar.gz", env=lambda t: fault_env(t, "ENOSPC", ".extract-")),
        "{work}: the disk is full while unpacking {arc} into {dest} (No space left on device); nothing was extracted",
    ),
    (
        "zip-read-only-disk",
        unpack(make_zip({"d/a.txt": b"a"}), env=lambda t: fault_env(t, "EROFS", ".extract-")),
        "{work}: the file system is read-only while unpacking {arc} into {dest} (Read-only file system)",
    ),
    (
        "tar-no-permission",
        unpack(make_tar([("d/a.txt", b"a")]), "a.tar.gz", env=lambda t: fault_env(t, "EACCES", ".extract-")),
        "{work}: no permission to write there while unpacking {arc} into {dest} (Permission denied)",
    ),
    (
        "download-disk-full",
        download(
            "{srv}/w.bin", "--sha256", SHA, files={"/w.bin": noise(1000)}, env=lambda t: fault_env(t, "ENOSPC", ".part")
        ),
        "{out}.part: the disk is full while downloading {url} (No space left on device); nothing was saved",
    ),
    (
        "download-read-only-disk",
        download("{srv}/w.bin", files={"/w.bin": noise(1000)}, env=lambda t: fault_env(t, "EROFS", ".part")),
        "{out}.part: the file system is read-only while downloading {url} (Read-only file system)",
    ),
    # Item 5: a malformed checksum is noticed before the download, not after it.
    (
        "malformed-sha256-before-any-download",
        download("{srv}/w.bin", "--sha256", "abc123", files={"/w.bin": noise(1000)}, contacted=False),
        "--sha256 'abc123': expected 64 hexadecimal digits",
    ),
    (
        "malformed-md5-before-any-download",
        download("{srv}/w.bin", "--md5", "z" * 32, files={"/w.bin": noise(1000)}, contacted=False),
        "--md5 '" + "z" * 32 + "': expected 32 hexadecimal digits",
    ),
    # Item 9: only http and https.
    (
        "ftp-url",
        download("ftp://127.0.0.1:9/w.bin"),
        "--url 'ftp://127.0.0.1:9/w.bin': URL scheme 'ftp' is not allowed; expected http:// or https://",
    ),
    (
        "file-url",
        download("file://{tmp}/secret.bin"),
        "--url '{url}': URL scheme 'file' is not allowed; expected http:// or https://",
    ),
    (
        "redirect-to-ftp",
        download("{srv}/r", redirects={"/r": "ftp://127.0.0.1:9/w.bin"}),
        "{url}: the server redirects to 'ftp://127.0.0.1:9/w.bin', which is not allowed; "
        "expected a redirect to http:// or https://",
    ),
    # Item 7: size limits, from the listing, before anything is written.
    (
        "zip-bomb-ratio",
        unpack(zeros_zip),
        "{arc}: member 'zeros.bin' would unpack to 32.0 MiB from ",
    ),
    (
        "tar-gz-bomb-ratio",
        unpack(zeros_tar, "a.tar.gz"),
        "{arc}: its members would unpack to at least 32.0 MiB from an archive of ",
    ),
    (
        "zip-over-max-total",
        unpack(make_zip({"a.bin": noise(600 << 10), "b.bin": noise(600 << 10)}), "a.zip", "--max-total", "1MiB"),
        "{arc}: its members would unpack to at least 1.2 MiB, more than the limit of 1.0 MiB in all "
        "(--max-total, config acquire.max_total); nothing was extracted",
    ),
    (
        "zip-over-max-member",
        unpack(make_zip({"big.bin": noise(200 << 10)}), "a.zip", "--max-member", "100KiB"),
        "{arc}: member 'big.bin' would unpack to 200.0 KiB, more than the per-member limit of 100.0 KiB "
        "(--max-member, config acquire.max_member); nothing was extracted",
    ),
    (
        "tar-over-max-member",
        unpack(make_tar([("big.bin", noise(200 << 10))], "w"), "a.tar", "--max-member", "100k"),
        "{arc}: member 'big.bin' would unpack to 200.0 KiB, more than the per-member limit of 100.0 KiB",
    ),
    (
        "malformed-max-total",
        unpack(make_zip({"a.txt": b"a"}), "a.zip", "--max-total", "lots"),
        "--max-total 'lots': expected a size of at least 1 byte such as 64GiB, 500MB or 1048576",
    ),
    (
        "max-ratio-below-one",
        unpack(make_zip({"a.txt": b"a"}), "a.zip", "--max-ratio", "0.5"),
        "--max-ratio '0.5': expected a number of at least 1 (unpacked size / compressed size)",
    ),
]


@pytest.mark.parametrize("build, expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_gives_one_line_and_leaves_nothing(tmp_path, server, build, expected):
    case = build(tmp_path, server)
    res = run_cli("fetch", *case.args, check=False, env=case.env, timeout=120)
    errors = [line for line in res.stderr.splitlines() if line.startswith("cycleaug fetch: error: ")]
    assert res.returncode != 0, res.stderr
    assert "Traceback" not in res.stderr, res.stderr
    assert len(errors) == 1 and res.stderr.rstrip("\n").endswith(errors[0]), res.stderr
    assert expected.format(**case.names) in errors[0], res.stderr
    assert not case.out.exists() and not case.out.is_symlink()
    if case.out.parent.exists():
        assert [p.name for p in case.out.parent.iterdir() if ".extract-" in p.name or p.suffix == ".part"] == []
    if case.after:
        case.after()
