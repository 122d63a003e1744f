"""Dataset and weights acquisition (issue 2, "Download code"): resume, checksums, atomic placement,
safe extraction, and the load-time message for missing sources.

Downloads go to a real HTTP server on 127.0.0.1 (an ephemeral port) whose handler implements byte
ranges (RFC 9110 14) and can cut the connection after N bytes; archives are built here with zipfile
and tarfile.
"""

from __future__ import annotations

import copy
import errno
import hashlib
import http.server
import io
import os
import re
import shutil
import socket
import subprocess
import sys
import tarfile
import time
import zipfile
import zlib
from pathlib import Path

import pytest
import yaml
from conftest import local_http_server
from cycleaug import acquire
from cycleaug.acquire import (
    ArchiveTooLargeError,
    ChecksumError,
    Limits,
    UnsafeArchiveError,
    archives,
    check_sources,
    download,
    extract,
    fetch,
    parse_size,
)
from cycleaug.errors import CycleAugError

REPO = Path(__file__).resolve().parents[1]
CYCLEAUG = Path(sys.executable).with_name("cycleaug")


# ---------------------------------------------------------------------------------------------
# A local HTTP server with Range support and scripted connection drops


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # keep pytest output clean
        pass

    def do_GET(self):
        srv = self.server
        srv.requests.append((self.path, self.headers.get("Range")))
        body = srv.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        start = 0
        rng = self.headers.get("Range")
        if rng and not srv.ignore_range:
            start = int(re.fullmatch(r"bytes=(\d+)-", rng).group(1))
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        rest = body[start:]
        self.send_header("Content-Length", str(len(rest)))
        self.send_header("Content-Type", "application/octet-stream")
        self.end_headers()
        drops = srv.drops.get(self.path)
        if drops:
            # Announce the whole body, send only part of it, then cut the TCP connection.
            self.wfile.write(rest[: drops.pop(0)])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(rest)


@pytest.fixture()
def server():
    yield from local_http_server(_Handler, files={}, drops={}, requests=[], ignore_range=False)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make_zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def make_tar(members: list[tarfile.TarInfo | tuple[str, bytes]], mode: str = "w:gz") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tf:
        for m in members:
            if isinstance(m, tarfile.TarInfo):
                tf.addfile(m)
            else:
                info = tarfile.TarInfo(m[0])
                info.size = len(m[1])
                tf.addfile(info, io.BytesIO(m[1]))
    return buf.getvalue()


def link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info


def payload(n: int = 300_000) -> bytes:
    # Incompressible and not periodic, so a byte landing at the wrong offset changes the digest.
    return hashlib.shake_256(b"cycleaug").digest(n)


# ---------------------------------------------------------------------------------------------
# Downloads


@pytest.mark.parametrize("kind", ["zip", "tar.gz"])
def test_download_verify_and_extract_a_good_archive(server, tmp_path, kind):
    files = {"bdd100k/images/100k/train/a.jpg": b"train-a", "bdd100k/images/100k/val/b.jpg": b"val-b"}
    data = make_zip(files) if kind == "zip" else make_tar(list(files.items()))
    server.files[f"/images.{kind}"] = data
    out = tmp_path / "downloads" / f"images.{kind}"

    fetch(out, url=f"{server.url}/images.{kind}", sha256=sha256(data))
    assert out.read_bytes() == data
    assert not out.with_name(out.name + ".part").exists()

    dest = tmp_path / "data" / "raw" / "bdd100k" / "images"
    extract(out, dest, strip=2, expect=["100k/train", "100k/val"])
    assert (dest / "100k" / "train" / "a.jpg").read_bytes() == b"train-a"
    assert (dest / "100k" / "val" / "b.jpg").read_bytes() == b"val-b"
    # No staging folder is left beside the target.
    assert sorted(p.name for p in dest.parent.iterdir()) == ["images"]


def test_dropped_connection_is_resumed_with_a_range_request(server, tmp_path):
    data = payload()
    server.files["/w.bin"] = data
    server.drops["/w.bin"] = [100_000, 50_000]  # two drops, then the rest
    out = tmp_path / "w.bin"

    download(f"{server.url}/w.bin", out, md5=hashlib.md5(data).hexdigest(), retries=1, backoff=0)

    assert out.read_bytes() == data
    assert [r for _, r in server.requests] == [None, "bytes=100000-", "bytes=150000-"]


def test_truncated_download_is_kept_as_part_and_resumed_by_the_next_run(server, tmp_path):
    data = payload()
    server.files["/w.bin"] = data
    server.drops["/w.bin"] = [120_000, 0]  # the first run gets 120 kB, its one retry gets nothing
    out = tmp_path / "w.bin"
    part = tmp_path / "w.bin.part"

    with pytest.raises(CycleAugError, match="run again to resume"):
        download(f"{server.url}/w.bin", out, sha256=sha256(data), retries=0, backoff=0)
    assert not out.exists()
    assert part.read_bytes() == data[:120_000]

    download(f"{server.url}/w.bin", out, sha256=sha256(data), retries=0, backoff=0)
    assert out.read_bytes() == data
    assert not part.exists()
    assert server.requests[-1] == ("/w.bin", "bytes=120000-")


def test_server_that_ignores_range_restarts_from_zero(server, tmp_path):
    data = payload(50_000)
    server.files["/w.bin"] = data
    server.ignore_range = True
    out = tmp_path / "w.bin"
    (tmp_path / "w.bin.part").write_bytes(b"x" * 1000)  # a stale partial download

    download(f"{server.url}/w.bin", out, sha256=sha256(data), backoff=0)

    assert out.read_bytes() == data
    assert server.requests == [("/w.bin", "bytes=1000-")]


def test_complete_part_answered_with_416_is_verified_and_used(server, tmp_path):
    data = payload(20_000)
    server.files["/w.bin"] = data
    (tmp_path / "w.bin.part").write_bytes(data)

    download(f"{server.url}/w.bin", tmp_path / "w.bin", sha256=sha256(data), backoff=0)

    assert (tmp_path / "w.bin").read_bytes() == data
    assert server.requests == [("/w.bin", "bytes=20000-")]


def test_wrong_checksum_leaves_no_file_and_names_expected_and_actual(server, tmp_path):
    data = payload(10_000)
    server.files["/w.bin"] = data
    wrong = "0" * 64
    with pytest.raises(ChecksumError) as err:
        fetch(tmp_path / "w.bin", url=f"{server.url}/w.bin", sha256=wrong)
    assert f"expected {wrong}" in str(err.value) and f"actual {sha256(data)}" in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_cli_exit_status_and_message_for_a_bad_checksum(server, tmp_path):
    data = payload(10_000)
    server.files["/w.bin"] = data
    wrong = "f" * 32
    res = subprocess.run(
        [str(CYCLEAUG), "fetch", "--url", f"{server.url}/w.bin", "--out", str(tmp_path / "w.bin"), "--md5", wrong],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 2
    assert "cycleaug fetch: error:" in res.stderr
    assert f"expected {wrong}" in res.stderr and f"actual {hashlib.md5(data).hexdigest()}" in res.stderr
    assert list(tmp_path.iterdir()) == []


def test_no_checksum_configured_prints_sha256_and_warns(server, tmp_path, capsys):
    data = payload(5_000)
    server.files["/w.bin"] = data
    fetch(tmp_path / "w.bin", url=f"{server.url}/w.bin")
    err = capsys.readouterr().err
    assert sha256(data) in err and "nothing was verified" in err


def test_http_404_fails_at_once_without_a_file(server, tmp_path):
    with pytest.raises(CycleAugError, match="HTTP 404"):
        fetch(tmp_path / "w.bin", url=f"{server.url}/missing.bin")
    assert server.requests == [("/missing.bin", None)]
    assert list(tmp_path.iterdir()) == []


def test_unreachable_server_gives_up_after_bounded_retries(tmp_path):
    with socket.socket() as s:  # a port that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(CycleAugError, match="after 2 retries"):
        download(f"http://127.0.0.1:{port}/w.bin", tmp_path / "w.bin", retries=2, backoff=0, timeout=5)
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------------------
# Local files


def test_local_path_is_verified_and_linked_without_a_server(tmp_path):
    data = payload(8_000)
    local = tmp_path / "by_hand" / "darknet53.conv.74"
    local.parent.mkdir()
    local.write_bytes(data)
    out = tmp_path / "data" / "pretrained" / "darknet53.conv.74"

    fetch(out, url="http://127.0.0.1:9/never-used", path=local, sha256=sha256(data))
    assert out.read_bytes() == data

    # The same file as --path and --out: verified in place.
    fetch(local, path=local, sha256=sha256(data))
    assert local.read_bytes() == data


def test_local_file_with_a_wrong_checksum_is_reported_and_kept(tmp_path):
    local = tmp_path / "archive.zip"
    local.write_bytes(b"not what was expected")
    with pytest.raises(ChecksumError, match="mismatch"):
        fetch(tmp_path / "out.zip", path=local, md5="0" * 32)
    assert local.exists() and not (tmp_path / "out.zip").exists()


def test_missing_file_without_url_says_so(tmp_path):
    with pytest.raises(CycleAugError, match="no --url"):
        fetch(tmp_path / "out.zip", path=tmp_path / "nowhere.zip")


# ---------------------------------------------------------------------------------------------
# Safe extraction: every refusal leaves nothing outside and no target


def assert_refused(archive: Path, tmp_path: Path, match: str = "outside the target folder") -> None:
    dest = tmp_path / "work" / "sub" / "target"
    with pytest.raises(UnsafeArchiveError, match=match):
        extract(archive, dest)
    assert not dest.exists()
    assert list((tmp_path / "work" / "sub").iterdir()) == []  # no staging folder left
    assert not (tmp_path / "work" / "evil.txt").exists() and not (tmp_path / "evil.txt").exists()


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


@pytest.fixture(params=["stdlib-filter", "own-check-only"])
def tar_checks(request, monkeypatch):
    """Tar refusals must not depend on tarfile's filter="data" (Python >= 3.11.4): run them with
    and without it."""
    if request.param == "own-check-only":
        monkeypatch.delattr(tarfile, "data_filter", raising=False)
    return request.param


def test_tar_with_dotdot_member_is_refused(tmp_path, tar_checks):
    arc = write(tmp_path, "a.tar.gz", make_tar([("ok/a.txt", b"a"), ("ok/../../evil.txt", b"x")]))
    assert_refused(arc, tmp_path)


def test_zip_with_dotdot_member_is_refused(tmp_path):
    arc = write(tmp_path, "a.zip", make_zip({"ok/a.txt": b"a", "../evil.txt": b"x"}))
    assert_refused(arc, tmp_path)


def test_zip_with_windows_dotdot_member_is_refused(tmp_path):
    arc = write(tmp_path, "a.zip", make_zip({"ok/a.txt": b"a", "ok\\..\\..\\evil.txt": b"x"}))
    assert_refused(arc, tmp_path)


def test_absolute_member_is_refused(tmp_path, tar_checks):
    evil = str(tmp_path / "evil.txt")
    arc = write(tmp_path, "a.tar", make_tar([("ok/a.txt", b"a"), (evil, b"x")], mode="w"))
    assert_refused(arc, tmp_path)
    arc = write(tmp_path, "a.zip", make_zip({evil: b"x"}))
    assert_refused(arc, tmp_path)


def test_symlink_pointing_outside_is_refused(tmp_path, tar_checks):
    arc = write(tmp_path, "a.tar.gz", make_tar([link("ok/escape", "../../.."), ("ok/escape/evil.txt", b"x")]))
    assert_refused(arc, tmp_path)
    arc = write(tmp_path, "b.tar.gz", make_tar([link("ok/abs", "/etc/passwd")]))
    assert_refused(arc, tmp_path)


def test_symlink_chain_that_escapes_only_on_disk_is_refused(tmp_path, tar_checks):
    # Lexically "a/b -> .." stays inside, but a -> . makes a/b sit in the root, so it points above it.
    arc = write(tmp_path, "a.tar", make_tar([link("a", "."), link("a/b", ".."), ("a/b/evil.txt", b"x")], mode="w"))
    assert_refused(arc, tmp_path)


def test_hardlink_outside_is_refused(tmp_path, tar_checks):
    arc = write(tmp_path, "a.tar", make_tar([link("ok/h", "../../etc/passwd", tarfile.LNKTYPE)], mode="w"))
    assert_refused(arc, tmp_path)


def test_device_member_is_refused(tmp_path, tar_checks):
    dev = tarfile.TarInfo("ok/null")
    dev.type = tarfile.CHRTYPE
    arc = write(tmp_path, "a.tar", make_tar([dev], mode="w"))
    assert_refused(arc, tmp_path, match="device")


def test_links_inside_the_target_are_kept(tmp_path):
    arc = write(tmp_path, "a.tar.gz", make_tar([("top/RGB/0.png", b"png"), link("top/latest.png", "RGB/0.png")]))
    dest = extract(arc, tmp_path / "out", strip=1)
    assert (dest / "latest.png").is_symlink() and (dest / "latest.png").read_bytes() == b"png"


def test_backslash_names_become_folders(tmp_path):
    # What an archive made on Windows looks like to a POSIX reader (the SYNTHIA .rar files).
    arc = write(
        tmp_path,
        "a.zip",
        make_zip({"RAND_CITYSCAPES\\RGB\\0000000.png": b"rgb", "RAND_CITYSCAPES\\GT\\LABELS\\0000000.png": b"gt"}),
    )
    dest = extract(arc, tmp_path / "synthia", strip=1, expect=["RGB", "GT/LABELS"])
    assert (dest / "RGB" / "0000000.png").read_bytes() == b"rgb"
    assert (dest / "GT" / "LABELS" / "0000000.png").read_bytes() == b"gt"


def test_unexpected_layout_fails_with_a_listing_and_no_target(tmp_path):
    arc = write(tmp_path, "a.zip", make_zip({"bdd100k/images/100k/train/a.jpg": b"a"}))
    dest = tmp_path / "out" / "images"
    with pytest.raises(CycleAugError, match=r"does not contain 100k/train.*top level is: images/"):
        extract(arc, dest, strip=1, expect=["100k/train"])
    assert not dest.exists() and list(dest.parent.iterdir()) == []


def test_staging_folder_of_a_killed_run_is_removed(tmp_path):
    stale = tmp_path / ".synthia.extract-abc123" / "archive"
    stale.mkdir(parents=True)
    arc = write(tmp_path, "a.zip", make_zip({"RAND_CITYSCAPES/RGB/0.png": b"rgb"}))
    extract(arc, tmp_path / "synthia", strip=1, expect=["RGB/0.png"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.zip", "synthia"]


def test_extracting_into_an_existing_folder_replaces_only_the_archives_entries(tmp_path):
    dest = tmp_path / "labels"
    (dest / "det_20").mkdir(parents=True)
    (dest / "det_20" / "stale.json").write_text("old")
    (dest / "bdd100k_labels_images_train.json").write_text("legacy")
    arc = write(tmp_path, "det20.zip", make_zip({"bdd100k/labels/det_20/det_train.json": b"[]"}))
    extract(arc, dest, strip=2, expect=["det_20/det_train.json"])
    assert sorted(p.name for p in (dest / "det_20").iterdir()) == ["det_train.json"]
    assert (dest / "bdd100k_labels_images_train.json").read_text() == "legacy"


def test_a_failed_rename_into_an_existing_folder_restores_it(tmp_path, monkeypatch):
    dest = tmp_path / "labels"
    for name in ("a", "b", "c"):
        (dest / name).mkdir(parents=True)
        (dest / name / "old.json").write_text("old")
    arc = write(tmp_path, "new.zip", make_zip({f"top/{n}/new.json": b"new" for n in ("a", "b", "c")}))
    real, placed = os.replace, []

    def failing(src, dst):
        if Path(dst).parent == dest:
            placed.append(dst)
            if len(placed) == 3:  # a and b are replaced already, c fails
                raise OSError(errno.EROFS, os.strerror(errno.EROFS))
        return real(src, dst)

    monkeypatch.setattr(archives.os, "replace", failing)
    with pytest.raises(CycleAugError, match="the file system is read-only while unpacking"):
        extract(arc, dest, strip=1)
    monkeypatch.setattr(archives.os, "replace", real)
    assert placed[:3] == [dest / "a", dest / "b", dest / "c"]  # then a and b restored
    assert sorted(str(p.relative_to(dest)) for p in dest.rglob("*.json")) == ["a/old.json", "b/old.json", "c/old.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["labels", "new.zip"]


def test_corrupt_archive_is_reported(tmp_path):
    data = make_zip({"a/b.txt": payload(20_000)})
    arc = write(tmp_path, "a.zip", data[:-200])
    with pytest.raises(CycleAugError):
        extract(arc, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_rar_without_bsdtar_or_unrar_says_how_to_install(tmp_path, monkeypatch):
    arc = write(tmp_path, "SYNTHIA_RAND_CITYSCAPES.rar", b"Rar!\x1a\x07\x01\x00" + b"\0" * 64)
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(CycleAugError, match="needs bsdtar or unrar.*libarchive-tools"):
        extract(arc, tmp_path / "synthia")
    assert not (tmp_path / "synthia").exists()


@pytest.mark.skipif(shutil.which("bsdtar") is None, reason="bsdtar (libarchive-tools) not installed")
def test_external_tool_path_lists_checks_and_extracts(tmp_path, monkeypatch):
    # No rar writer is free software, so the .rar path is exercised with bsdtar on tar archives.
    monkeypatch.setattr(acquire.archives, "archive_kind", lambda path: "rar")
    monkeypatch.setattr(shutil, "which", lambda name: "/usr/bin/bsdtar" if name == "bsdtar" else None)
    good = write(
        tmp_path,
        "good.tar",
        make_tar([("RAND_CITYSCAPES/RGB/0.png", b"rgb"), ("RAND_CITYSCAPES/GT/LABELS/0.png", b"gt")], mode="w"),
    )
    dest = extract(good, tmp_path / "work" / "sub" / "synthia", strip=1, expect=["RGB", "GT/LABELS"])
    assert (dest / "GT" / "LABELS" / "0.png").read_bytes() == b"gt"
    shutil.rmtree(tmp_path / "work")
    assert_refused(write(tmp_path, "bad.tar", make_tar([("ok/../../evil.txt", b"x")], mode="w")), tmp_path)


# ---------------------------------------------------------------------------------------------
# Size limits (issue 24 item 7; the refusals from the listing are rows of test_bad_input_acquire.py)


def _blind_listing(monkeypatch):
    """Make the listing's size checks see nothing, as if every header understated its member: what
    is left are the checks on the bytes written."""
    member, add = archives._Budget.member, archives._Budget.add
    monkeypatch.setattr(archives._Budget, "member", lambda self, *a: None if self.declared else member(self, *a))
    monkeypatch.setattr(archives._Budget, "add", lambda self, n: None if self.declared else add(self, n))


@pytest.mark.parametrize("kind", ["zip", "tar"])
def test_limits_hold_on_the_bytes_written_when_the_listing_understates(tmp_path, monkeypatch, kind):
    _blind_listing(monkeypatch)
    files = {"top/small.bin": payload(10_000), "top/big.bin": payload(300_000)}
    data = make_zip(files) if kind == "zip" else make_tar(list(files.items()), mode="w")
    arc = write(tmp_path, f"a.{kind}", data)
    dest = tmp_path / "work" / "target"
    with pytest.raises(ArchiveTooLargeError, match=r"member 'top/big.bin' wrote .* per-member limit.*nothing was kept"):
        extract(arc, dest, limits=Limits(member=100_000))
    assert not dest.exists() and list(dest.parent.iterdir()) == []
    with pytest.raises(ArchiveTooLargeError, match=r"its members wrote at least .* more than the limit of .* in all"):
        extract(arc, dest, limits=Limits(total=200_000))
    assert not dest.exists() and list(dest.parent.iterdir()) == []


def test_zip_bomb_is_stopped_while_writing_too(tmp_path, monkeypatch):
    _blind_listing(monkeypatch)
    arc = write(tmp_path, "bomb.zip", make_zip({"zeros.bin": bytes(8 << 20)}))
    with pytest.raises(ArchiveTooLargeError, match=r"member 'zeros.bin' wrote 1.0 MiB from .* a zip bomb"):
        extract(arc, tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bomb.zip"]


def test_default_limits_accept_archives_like_the_paper_runs(tmp_path):
    # JPEG-like (incompressible) members and JSON that compresses about 10:1, several MiB each.
    rng = payload(4 << 20)
    text = b"".join(
        b'{"name": "%s", "box": [%d, %d]},' % (rng[i : i + 8].hex().encode(), i, i * 7) for i in range(80_000)
    )
    assert 3 < len(text) / len(zlib.compress(text)) < 100
    arc = write(tmp_path, "a.zip", make_zip({"b/images/0.jpg": rng, "b/labels/train.json": text}))
    dest = extract(arc, tmp_path / "out", strip=1, expect=["images/0.jpg", "labels/train.json"])
    assert (dest / "labels" / "train.json").read_bytes() == text


def test_not_enough_free_space_is_said_before_writing(tmp_path, monkeypatch):
    arc = write(tmp_path, "a.zip", make_zip({"top/a.bin": payload(50_000)}))
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(archives.shutil, "disk_usage", lambda p: usage._replace(free=1000))
    with pytest.raises(CycleAugError, match=r"not enough free space: .*a.zip unpacks to 48.8 KiB but only 1000 B"):
        extract(arc, tmp_path / "work" / "out")
    assert list((tmp_path / "work").iterdir()) == []


def test_external_tool_is_stopped_once_it_writes_past_the_limits(tmp_path):
    stage = tmp_path / "stage"
    stage.mkdir()
    arc = write(tmp_path, "a.rar", b"Rar!\x1a\x07\x01\x00")
    writer = f"open({str(stage / 'big.bin')!r}, 'wb').write(bytes(300_000)); import time; time.sleep(30)"
    budget = archives._Budget(arc, Limits(member=100_000))
    budget.listed(stage)
    start = time.perf_counter()
    with pytest.raises(ArchiveTooLargeError, match="member 'big.bin' wrote 293.0 KiB, more than the per-member"):
        archives._run_watched([sys.executable, "-c", writer], arc, stage, budget)
    assert time.perf_counter() - start < 20


def test_listing_sizes_of_bsdtar_and_unrar():
    bsdtar = (
        "drwxr-xr-x  0 root   root        0 Dec  3 11:00 RAND_CITYSCAPES/\n"
        "-rw-r--r--  0 root   root     1234 Dec  3 11:00 RAND_CITYSCAPES/RGB/0 0.png\n"
        "-rw-r--r--  0 1000   1000       56 Jan  1  2016 RAND_CITYSCAPES/GT/LABELS/0.png\n"
    )
    assert archives._listing_sizes(bsdtar, unrar=False) == [
        ("RAND_CITYSCAPES/RGB/0 0.png", 1234),
        ("RAND_CITYSCAPES/GT/LABELS/0.png", 56),
    ]
    unrar = (
        "UNRAR 6.21 freeware      Copyright (c) 1993-2023 Alexander Roshal\n\nArchive: a.rar\nDetails: RAR 5\n\n"
        "        Name: RAND_CITYSCAPES/RGB/0.png\n        Type: File\n        Size: 1234\n"
        " Packed size: 1200\n       Ratio: 97%\n\n"
        "        Name: RAND_CITYSCAPES/RGB\n        Type: Directory\n\n"
    )
    assert archives._listing_sizes(unrar, unrar=True) == [("RAND_CITYSCAPES/RGB/0.png", 1234)]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("64GiB", 64 << 30),
        ("500MB", 500_000_000),
        ("2G", 2 << 30),
        ("100k", 102_400),
        (1048576, 1 << 20),
        ("1.5 KiB", 1536),
    ],
)
def test_parse_size(text, expected):
    assert parse_size(text, "--max-total") == expected


def test_limits_in_the_config_reach_the_fetch_rules(real_config):
    from cycleaug.acquire.sources import all_sources
    from cycleaug.config_check import schema_errors
    from cycleaug.glue import acquire as glue

    sources = all_sources(real_config)
    assert "--max" not in glue.layout_options(sources["bdd100k_images"])  # the defaults are not repeated
    real_config["acquire"] = {"max_total": "100GiB", "max_member": 4 << 30, "max_ratio": 20}
    sources = all_sources(real_config)
    assert glue.layout_options(sources["synthia"]).endswith("--max-total 100GiB --max-ratio 20")
    assert "--max" not in glue.fetch_options(sources["darknet53"])
    schema = REPO / "workflow" / "schemas" / "config.schema.yaml"
    assert schema_errors(real_config, schema) == []
    real_config["acquire"]["max_total"] = "lots"
    real_config["pretrained"]["darknet53"]["url"] = "ftp://example.org/darknet53.conv.74"
    keys = [m.split(":")[0] for m in schema_errors(real_config, schema)]
    assert keys == ["acquire.max_total", "pretrained.darknet53.url"]


def test_urls_and_checksums_are_checked_before_any_access(server, tmp_path):
    for url in ("ftp://127.0.0.1:9/w.bin", f"file://{tmp_path}/w.bin", "127.0.0.1/w.bin", "http:///w.bin"):
        with pytest.raises(CycleAugError, match="expected http"):
            fetch(tmp_path / "w.bin", url=url)
    with pytest.raises(CycleAugError, match="expected 64 hexadecimal digits"):
        download(f"{server.url}/w.bin", tmp_path / "w.bin", sha256="12")
    assert server.requests == [] and list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------------------
# Load-time check of the configured sources


@pytest.fixture()
def real_config():
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    cfg = copy.deepcopy(cfg)
    cfg["data"]["source"] = "real"
    cfg["detector"]["pretrained"] = True
    cfg["fid"]["weights"] = "pretrained"
    for src in (
        cfg["data"]["bdd100k"]["images"],
        cfg["data"]["bdd100k"]["labels"],
        cfg["data"]["synthia"]["archive"],
        cfg["pretrained"]["darknet53"],
        cfg["pretrained"]["inception"],
    ):
        src["url"] = None
    return cfg


def test_check_sources_names_what_to_download_from_where_and_where_to_put_it(real_config, tmp_path):
    messages = check_sources(real_config, root=tmp_path)
    assert len(messages) == 5
    by_key = {m.split(":")[0]: m for m in messages}
    images = by_key["data.bdd100k.images"]
    assert "https://bdd-data.berkeley.edu/" in images and "login" in images
    assert f"put it at {real_config['data']['bdd100k']['images']['path']}" in images
    assert "bdd100k_labels_release.zip" in by_key["data.bdd100k.labels"]
    assert "http://synthia-dataset.net/downloads/" in by_key["data.synthia.archive"]
    assert "SYNTHIA_RAND_CITYSCAPES.rar" in by_key["data.synthia.archive"]
    assert "https://pjreddie.com/media/files/darknet53.conv.74" in by_key["pretrained.darknet53"]
    assert (
        "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth"
    ) in by_key["pretrained.inception"]


def test_check_sources_accepts_a_url_a_local_file_or_an_unpacked_copy(real_config, tmp_path):
    cfg = real_config
    cfg["data"]["bdd100k"]["images"]["url"] = "https://example.org/bdd100k_images_100k.zip"
    labels = tmp_path / cfg["data"]["bdd100k"]["labels"]["path"]
    labels.parent.mkdir(parents=True)
    labels.write_bytes(b"zip")
    raw = tmp_path / cfg["data_dir"] / "raw" / "synthia"
    (raw / "RGB").mkdir(parents=True)
    (raw / "GT" / "LABELS").mkdir(parents=True)
    cfg["detector"]["pretrained"] = False
    cfg["fid"]["weights"] = "random-init"
    assert check_sources(cfg, root=tmp_path) == []

    cfg["data"]["source"] = "demo"
    cfg["data"]["bdd100k"]["images"]["url"] = None
    assert check_sources(cfg, root=tmp_path) == []


def test_check_sources_follows_the_label_format(real_config, tmp_path):
    real_config["data"]["bdd100k"]["label_format"] = "det20"
    messages = [m for m in check_sources(real_config, root=tmp_path) if m.startswith("data.bdd100k.labels")]
    assert len(messages) == 1 and "bdd100k_det_20_labels_trainval.zip" in messages[0]


# ---------------------------------------------------------------------------------------------
# The rules: acquire.smk run by Snakemake on local archives


@pytest.mark.parametrize("label_format", ["legacy", "det20"])
def test_acquire_rules_fetch_verify_and_unpack_into_the_raw_layout(real_config, tmp_path, label_format):
    images = make_zip(
        {
            "bdd100k/images/100k/train/a.jpg": b"a",
            "bdd100k/images/100k/val/b.jpg": b"b",
            "bdd100k/images/100k/test/c.jpg": b"c",
        }
    )
    # The archives' layouts as the BDD100K docs list them (doc/source/download.rst).
    label_files = {
        "legacy": ["bdd100k_labels_images_train.json", "bdd100k_labels_images_val.json"],
        "det20": ["det_20/det_train.json", "det_20/det_val.json"],
    }[label_format]
    labels = make_zip({f"bdd100k/labels/{f}": b"[]" for f in label_files})
    synthia = make_tar([("RAND_CITYSCAPES/RGB/0000000.png", b"rgb"), ("RAND_CITYSCAPES/GT/LABELS/0000000.png", b"gt")])
    weights = payload(1000)
    cfg = real_config
    cfg["data"]["bdd100k"]["label_format"] = label_format
    for key, name, data in (("images", "bdd100k_images_100k.zip", images), ("labels", "labels.zip", labels)):
        write(tmp_path, name, data)
        cfg["data"]["bdd100k"][key].update(path=name, md5=hashlib.md5(data).hexdigest())
    write(tmp_path, "synthia.tar.gz", synthia)
    cfg["data"]["synthia"]["archive"].update(path="synthia.tar.gz", sha256=sha256(synthia))
    write(tmp_path, "darknet53.conv.74", weights)
    cfg["pretrained"]["darknet53"].update(path="darknet53.conv.74", sha256=sha256(weights))
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    (tmp_path / "Snakefile").write_text(
        f'configfile: "config.yaml"\n\nDATA = config["data_dir"]\n\ninclude: "{REPO}/workflow/rules/acquire.smk"\n'
    )
    env = dict(os.environ, PATH=f"{CYCLEAUG.parent}{os.pathsep}{os.environ['PATH']}")
    data = cfg["data_dir"]
    targets = [
        f"{data}/raw/bdd100k/images",
        f"{data}/raw/bdd100k/labels/{label_files[0]}",
        f"{data}/raw/synthia",
        f"{data}/pretrained/darknet53.conv.74",
    ]
    res = subprocess.run(
        [str(CYCLEAUG.with_name("snakemake")), "--cores", "1", *targets],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    assert (tmp_path / data / "raw/bdd100k/images/100k/val/b.jpg").read_bytes() == b"b"
    assert (tmp_path / data / "raw/bdd100k/labels" / label_files[1]).read_bytes() == b"[]"
    assert (tmp_path / data / "raw/synthia/GT/LABELS/0000000.png").read_bytes() == b"gt"
    assert (tmp_path / data / "pretrained/darknet53.conv.74").read_bytes() == weights
    assert "verified" in (tmp_path / "logs/acquire/synthia.log").read_text()
