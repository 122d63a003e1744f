"""Dataset and weights acquisition (issue 2, "Download code"): resume, checksums, atomic placement,
safe extraction, and the load-time message for missing sources.

Downloads go to a real HTTP server on 127.0.0.1 (an ephemeral port) whose handler implements byte
ranges (RFC 9110 14) and can cut the connection after N bytes; archives are built here with zipfile
and tarfile.
"""

from __future__ import annotations

import copy
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
import threading
import zipfile
from pathlib import Path

import pytest
import yaml
from cycleaug import acquire
from cycleaug.acquire import ChecksumError, UnsafeArchiveError, check_sources, download, extract, fetch
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
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.files, srv.drops, srv.requests, srv.ignore_range = {}, {}, [], False
    srv.daemon_threads = True
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}"
    yield srv
    srv.shutdown()
    srv.server_close()


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
