"""Shared fixtures: the repository root, the venv's executables, and a quiet single-threaded torch."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

# Two cores are shared by the test processes and the subprocesses they start.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
# Snakemake rules call the `cycleaug` console script of this venv.
os.environ["PATH"] = f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"


def pytest_collection_modifyitems(config, items):
    """Files with a slow test first (stable otherwise): `make test` hands whole files to its workers in
    this order (pytest-xdist --dist loadfile), so the longest runs start first instead of ending last."""
    slow_files = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow_files)


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


def _run_venv_script(
    name: str, args: tuple, cwd: Path | None, check: bool, env: dict | None, timeout: float, report
) -> subprocess.CompletedProcess:
    """This venv's console script ``name`` with ``args`` (each made a string), output captured, the
    environment ``env`` over this process's; with ``check``, a non-zero exit fails with ``report(proc)``."""
    proc = subprocess.run(
        [str(BIN / name), *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"{name} {' '.join(map(str, args))} failed ({proc.returncode}):\n{report(proc)}")
    return proc


def run_cli(
    *args: str, cwd: Path | None = None, check: bool = True, env: dict | None = None, timeout: float = 600
) -> subprocess.CompletedProcess:
    """Run the installed `cycleaug` console script as a user would."""
    return _run_venv_script("cycleaug", args, cwd, check, env, timeout, lambda proc: proc.stderr)


def run_cli_here(capfd, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """``cycleaug ARGS`` in this process: ``cycleaug.cli.main``, which the console script calls, with the
    same parsing, one-line errors and exit status, but without a new interpreter importing torch (about
    3 s a command on two busy cores). Output is captured at the file descriptors (``capfd``), so text a
    module writes to a stream it bound at import is caught too; an exception that escapes ``main`` (what a
    user would see as a traceback) propagates and fails the test. Use ``run_cli`` for anything that
    needs a process of its own (signals, a killed run, cwd, environment)."""
    from cycleaug.cli import main

    capfd.readouterr()
    try:
        code = main([str(a) for a in args])
    except SystemExit as exc:  # argparse's usage errors
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capfd.readouterr()
    proc = subprocess.CompletedProcess(["cycleaug", *map(str, args)], code, out, err)
    if check and code != 0:
        raise AssertionError(f"cycleaug {' '.join(map(str, args))} failed ({code}):\n{err}")
    return proc


def generate_here(checkpoint: Path, source: Path, *options) -> int:
    """The exit status of ``cycleaug generate --checkpoint CHECKPOINT --input SOURCE OPTIONS`` run by
    ``cycleaug.cli.main`` in this process (each option made a string; output left to the test's capture)."""
    from cycleaug.cli import main

    return main(["generate", "--checkpoint", str(checkpoint), "--input", str(source), *map(str, options)])


def run_snakemake(
    *args: str, cwd: Path = ROOT, check: bool = True, env: dict | None = None, timeout: float = 1800
) -> subprocess.CompletedProcess:
    return _run_venv_script(
        "snakemake", args, cwd, check, env, timeout, lambda proc: f"{proc.stdout[-4000:]}\n{proc.stderr[-8000:]}"
    )


def plain_iou(a, b) -> float:
    """IoU of two (x1, y1, x2, y2) boxes by the definition, in plain Python: the independent
    re-computation the NMS and evaluation tests compare against."""
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def kill_once_staged(argv: list[str], folder: Path, stage: str, timeout: float = 180) -> None:
    """Start ``argv`` in its own process group and SIGKILL the group (as a scheduler does) as soon as a
    stage folder ``folder/<stage>-*`` holds a PNG: waits on that event, not on a fixed time."""
    import contextlib
    import signal
    import time

    proc = subprocess.Popen(argv, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline, written = time.monotonic() + timeout, False
    while not written and proc.poll() is None and time.monotonic() < deadline:
        for path in folder.glob(f"{stage}-*") if folder.is_dir() else []:
            with contextlib.suppress(FileNotFoundError):
                written = written or any(p.suffix == ".png" for p in path.iterdir())
        time.sleep(0.002)
    assert proc.poll() is None, f"{argv[1]} finished before it could be killed mid-write"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def local_http_server(handler, **attributes):
    """A threaded HTTP server on 127.0.0.1 (a free port) serving ``handler``, with ``attributes`` set on it
    and ``url``; a generator for a fixture: yields the server, shuts it down after the test."""
    import http.server
    import threading

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    for name, value in attributes.items():
        setattr(srv, name, value)
    srv.daemon_threads = True
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}"
    yield srv
    srv.shutdown()
    srv.server_close()


def workflow_command(directory: Path, *args, configfiles=()) -> list:
    """Arguments of a Snakemake run of this workflow in ``directory`` with config.yaml and then
    ``configfiles`` (``args`` first: targets and options)."""
    return [
        *args,
        "-s",
        ROOT / "Snakefile",
        "--directory",
        directory,
        "--configfile",
        ROOT / "config.yaml",
        *configfiles,
    ]
