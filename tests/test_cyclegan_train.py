"""`cycleaug train-cyclegan` as the workflow runs it: outputs and logs, a run stopped by SIGTERM /
SIGUSR1 (the scheduler's warning) and resumed ends with the same weights as an uninterrupted one,
and a NaN loss stops the run and leaves the last good checkpoint."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys

import numpy as np
import pytest
import torch
import yaml
from conftest import BIN, ROOT, generate_here, run_cli, run_cli_here, run_snakemake, workflow_command
from PIL import Image

NETS = ("G_A", "G_B", "D_A", "D_B")
TINY = [
    "--ngf",
    "4",
    "--ndf",
    "4",
    "--n-blocks",
    "1",
    "--load-size",
    "36",
    "--crop-size",
    "32",
    "--workers",
    "0",
    "--log-every",
    "1",
    "--device",
    "cpu",
]


@pytest.fixture(scope="module")
def crops(tmp_path_factory):
    root = tmp_path_factory.mktemp("crops")
    rng = np.random.default_rng(0)
    for domain, n in (("synthia", 6), ("bdd100k", 8)):
        (root / domain).mkdir()
        for i in range(n):
            small = rng.integers(0, 256, (5, 5, 3), dtype=np.uint8)
            Image.fromarray(small).resize((40, 40), Image.Resampling.BICUBIC).save(root / domain / f"{i:03d}.png")
        (root / domain / "manifest.csv").write_text("crop,source\n")
    return root


def _args(crops, out, *extra):
    return [
        "train-cyclegan",
        "--domain-a",
        crops / "synthia",
        "--domain-b",
        crops / "bdd100k",
        "--out",
        out,
        *TINY,
        *extra,
    ]


def _interrupt(cmd, after_iteration: int, sig: int) -> subprocess.CompletedProcess:
    """Run ``cmd``, send ``sig`` once rank 0 reports iteration ``after_iteration``, wait for the end."""
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, env=os.environ)
    lines = []
    for line in proc.stderr:
        lines.append(line)
        if line.startswith("epoch 1/") and f" iter {after_iteration}/" in line:
            proc.send_signal(sig)
            break
    rest = proc.stderr.read()
    proc.wait(timeout=300)
    return subprocess.CompletedProcess(cmd, proc.returncode, "", "".join(lines) + rest)


def _nets(run, name):
    return {n: torch.load(run / "checkpoints" / f"{name}_net_{n}.pth", weights_only=True) for n in NETS}


def _assert_same_nets(x, y):
    for n in NETS:
        assert x[n].keys() == y[n].keys()
        for k in x[n]:
            assert torch.equal(x[n][k], y[n][k]), f"{n}.{k} differs"


def _log(run):
    return [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines()]


def test_sigterm_then_resume_equals_uninterrupted_run(crops, tmp_path):
    # 2 + 1 epochs of 24 iterations (shard scale 3 over D = 8), pool of 3 (its state is resumed),
    # latest every 7 iterations; the stop comes in the middle of epoch 1.
    extra = [
        "--n-epochs",
        "2",
        "--n-epochs-decay",
        "1",
        "--shard-scale",
        "3",
        "--pool-size",
        "3",
        "--checkpoint-every",
        "7",
        "--save-epochs",
        "1",
    ]
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    run_cli(*_args(crops, whole, *extra))

    stopped = _interrupt([str(BIN / "cycleaug"), *map(str, _args(crops, parts, *extra))], 5, signal.SIGTERM)
    assert stopped.returncode == 75, stopped.stderr
    assert "stopped by signal" in stopped.stderr
    state = torch.load(parts / "checkpoints" / "latest.pt", weights_only=True)
    assert state["epoch"] == 1 and 5 <= state["iteration"] < 24
    assert not (parts / "checkpoints" / "1_net_G_A.pth").exists()
    resumed = run_cli(*_args(crops, parts, *extra))
    assert (
        f"resuming from {parts / 'checkpoints' / 'latest.pt'} at epoch 1, iteration {state['iteration']}"
        in resumed.stderr
    )

    for epoch in (1, 3):
        _assert_same_nets(_nets(whole, epoch), _nets(parts, epoch))

    # The log: one record per epoch, the interrupted one in two parts that add up.
    log_whole, log_parts = _log(whole), _log(parts)
    assert [r["epoch"] for r in log_whole] == [1, 2, 3]
    assert [(r["epoch"], r["complete"]) for r in log_parts] == [(1, False), (1, True), (2, True), (3, True)]
    assert sum(r["iterations"] for r in log_parts if r["epoch"] == 1) == 24
    for key in ("G_A", "G_B", "D_A", "D_B", "cycle_A", "cycle_B", "idt_A", "idt_B"):
        mean = sum(r[key] * r["iterations"] for r in log_parts[:2]) / 24
        assert mean == pytest.approx(log_whole[0][key], abs=1e-5)
        assert log_parts[2][key] == log_whole[1][key]
    first = log_whole[0]
    assert {"epoch", "seconds", "iterations", "images_per_s", "lr", "world_size", "backend"} <= first.keys()
    assert (first["iterations"], first["world_size"], first["backend"]) == (24, 1, "torch")
    assert first["precision"] == "float32"  # the plain step on the CPU (no --amp)
    assert "precision float32; fast path: amp none, channels_last False" in resumed.stderr
    assert first["images_per_s"] == pytest.approx(24 / first["seconds"], rel=1e-2)
    assert [r["lr"] for r in log_whole] == pytest.approx([2e-4, 2e-4, 1e-4])  # 2 constant, 1 decaying

    # Declared outputs are links to the run's history, so a deleted output does not lose the record.
    assert os.path.samefile(whole / "checkpoints" / "3_net_G_A.pth", whole / "checkpoints/history/3_net_G_A.pth")
    # Our export is a reference-layout generator: `cycleaug generate` reads it (and latest.pt).
    out = tmp_path / "gen"
    ckpts = whole / "checkpoints"
    assert generate_here(ckpts / "3_net_G_A.pth", crops / "synthia", "--output", out, "--device", "cpu") == 0
    one = crops / "synthia" / "000.png"
    assert generate_here(ckpts / "latest.pt", one, "--output", tmp_path / "gen_latest", "--device", "cpu") == 0
    assert len(list(out.glob("*.png"))) == 6
    assert np.array_equal(
        np.asarray(Image.open(out / "000.png")), np.asarray(Image.open(tmp_path / "gen_latest" / "000.png"))
    )
    # Rerunning a finished run does nothing but succeed (Snakemake reruns, retries).
    again = run_cli(*_args(crops, whole, *extra))
    assert "finished epoch 3" in again.stderr and len(_log(whole)) == 3


def _launch(n, backend, crops, out, *extra):
    return [
        sys.executable,
        "-m",
        "cycleaug.launch",
        "--nproc",
        str(n),
        "--backend",
        backend,
        "--",
        str(BIN / "cycleaug"),
        *map(str, _args(crops, out, "--backend", backend, *extra)),
    ]


def test_sigusr1_to_launcher_stops_both_ranks_and_resume_is_exact(crops, tmp_path):
    # Two processes (torch.distributed, Gloo), 12 iterations each per epoch, pool off: the image
    # pools of ranks > 0 are not checkpointed, everything else is, so with the pool off the resumed
    # run must again be exact.
    extra = [
        "--n-epochs",
        "1",
        "--n-epochs-decay",
        "1",
        "--shard-scale",
        "3",
        "--pool-size",
        "0",
        "--checkpoint-every",
        "100",
    ]
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    done = subprocess.run(_launch(2, "torch", crops, whole, *extra), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr

    stopped = _interrupt(_launch(2, "torch", crops, parts, *extra), 3, signal.SIGUSR1)
    assert stopped.returncode == 75, stopped.stderr
    state = torch.load(parts / "checkpoints" / "latest.pt", weights_only=True)
    assert (state["epoch"], state["world_size"]) == (1, 2) and 3 <= state["iteration"] < 12
    resumed = subprocess.run(_launch(2, "torch", crops, parts, *extra), capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    _assert_same_nets(_nets(whole, 2), _nets(parts, 2))
    log = _log(whole)
    assert [(r["epoch"], r["iterations"], r["world_size"]) for r in log] == [(1, 12, 2), (2, 12, 2)]
    assert log[0]["images_per_s"] == pytest.approx(2 * 12 / log[0]["seconds"], rel=1e-2)


def test_two_processes_train_and_log_the_scaled_lr(crops, tmp_path):
    """lr 1e-3, linear scaling from 1 to 2 processes (k = 2), warm-up half an epoch of 4 iterations, then
    one constant and one decay epoch; by hand: steps 0, 1, 2, 3 at 1e-3, 1.5e-3, 2e-3, 2e-3; epoch 2 at
    2e-3 x (1 - 1/2) = 1e-3. The progress line of iteration i shows step i - 1's rate."""
    extra = ["--n-epochs", "1", "--n-epochs-decay", "1", "--shard-scale", "1", "--lr", "0.001"]
    extra += ["--lr-scaling", "linear", "--lr-reference-gpus", "1", "--warmup-epochs", "0.5"]
    run = tmp_path / "run"
    proc = subprocess.run(_launch(2, "torch", crops, run, *extra), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "lr 0.001 x 2 (linear scaling, 2 processes, reference 1), warm-up 0.5 epoch(s)" in proc.stderr
    log = _log(run)
    assert [(r["iterations"], r["lr"], r["lr_last"]) for r in log] == [
        (4, pytest.approx(1e-3), pytest.approx(2e-3)),
        (4, pytest.approx(1e-3), pytest.approx(1e-3)),
    ]
    progress = [line for line in proc.stderr.splitlines() if line.startswith("epoch 1/") and "| lr " in line]
    shown = [line.split("| lr ")[1].split()[0] for line in progress]
    assert shown == ["0.001", "0.0015", "0.002", "0.002"]
    fingerprint = torch.load(run / "checkpoints" / "latest.pt", weights_only=True)["fingerprint"]
    assert (fingerprint["lr_scale"], fingerprint["warmup_epochs"], fingerprint["world_size"]) == (2.0, 0.5, 2)
    # Another rule (k = sqrt 2 instead of 2) is never served this run: it starts afresh and says why.
    sqrt = ["sqrt" if word == "linear" else word for word in extra]
    other = subprocess.run(_launch(2, "torch", crops, run, *sqrt), capture_output=True, text=True, timeout=300)
    assert other.returncode == 0, other.stderr
    assert "made with other settings (lr_scale 2.0 -> 1.41" in other.stderr and "starting afresh" in other.stderr
    assert [r["lr_last"] for r in _log(run)] == [pytest.approx(2**0.5 * 1e-3), pytest.approx(2**0.5 * 1e-3 / 2)]


@pytest.mark.horovod
def test_horovod_training_run(crops, tmp_path):
    pytest.importorskip("horovod.torch", reason="horovod not installed (make horovod)")
    extra = ["--n-epochs", "1", "--n-epochs-decay", "0", "--shard-scale", "1"]
    proc = subprocess.run(
        _launch(2, "horovod", crops, tmp_path / "run", *extra), capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    (record,) = _log(tmp_path / "run")
    assert (record["backend"], record["world_size"], record["iterations"]) == ("horovod", 2, 4)
    assert (tmp_path / "run" / "checkpoints" / "1_net_G_A.pth").exists()


def test_nan_loss_stops_and_keeps_last_good_checkpoint(crops, tmp_path, capfd):
    # An absurd learning rate blows the weights up after the first step; the loss of the second
    # iteration is no longer finite.
    run = tmp_path / "run"
    proc = run_cli_here(
        capfd,
        *_args(
            crops,
            run,
            "--lr",
            "1e30",
            "--checkpoint-every",
            "1",
            "--n-epochs",
            "1",
            "--n-epochs-decay",
            "0",
            "--shard-scale",
            "1",
            "--save-epochs",
            "1",
        ),
        check=False,
    )
    assert proc.returncode == 2
    assert "non-finite loss" in proc.stderr and "iteration 2" in proc.stderr
    state = torch.load(run / "checkpoints" / "latest.pt", weights_only=True)
    assert (state["epoch"], state["iteration"]) == (1, 1)
    assert all(torch.isfinite(t).all() for t in state["model"]["nets"]["G_A"].values())
    assert not (run / "checkpoints" / "1_net_G_A.pth").exists()


def test_image_cache_trains_exactly_like_the_pil_loader(crops, tmp_path, capfd):
    # config.yaml turns cache_images on: uint8 crops cut from images decoded once, scaled to [-1, 1] on
    # the device. The pixels equal the PIL path's, so the weights after training must be identical.
    extra = ["--n-epochs", "1", "--n-epochs-decay", "0", "--shard-scale", "1", "--pool-size", "2", "--save-epochs", "1"]
    pil, cached = tmp_path / "pil", tmp_path / "cached"
    run_cli_here(capfd, *_args(crops, pil, *extra))
    run_cli_here(capfd, *_args(crops, cached, *extra, "--cache-images"))
    _assert_same_nets(_nets(pil, 1), _nets(cached, 1))
    assert [e["G_A"] for e in _log(pil)] == [e["G_A"] for e in _log(cached)]


def test_second_run_in_the_same_folder_is_refused_while_the_first_holds_it(crops, tmp_path):
    """A duplicate job (a scheduler restart) must not train into a folder another run is using."""
    from cycleaug.cyclegan.checkpoint import RunLock

    run = tmp_path / "run"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from cycleaug.cyclegan.checkpoint import RunLock; "
            "lock = RunLock(sys.argv[1]); print('held', flush=True); sys.stdin.read()",
            str(run),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PBS_JOBID": "123.pbs1"},
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        proc = run_cli(*_args(crops, run, "--n-epochs", "1", "--n-epochs-decay", "0"), check=False)
        assert proc.returncode == 2
        assert "another training run holds this folder (job 123.pbs1 on" in proc.stderr
        assert not (run / "checkpoints" / "latest.pt").exists()
    finally:
        holder.stdin.close()
        holder.wait(timeout=60)
    # The holder is gone (its lock went with it): the folder is free again.
    RunLock(run).release()


def test_stops_with_a_checkpoint_before_the_jobs_walltime_and_resumes(crops, tmp_path):
    """In a PBS job whose walltime ends within --stop-before-walltime, training saves and exits 75; the
    rerun (outside the job) finishes from that checkpoint. qstat is a stand-in printing `qstat -f`."""
    import time

    start = time.strftime("%a %b %d %H:%M:%S %Y", time.localtime(time.time() - 3590))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "qstat").write_text(
        "#!/bin/sh\n"
        f'[ "$1 $2" = "-f 7.pbs1" ] || exit 2\n'
        "echo 'Job Id: 7.pbs1'\n"
        "echo '    Resource_List.walltime = 01:00:00'\n"
        f"echo '    stime = {start}'\n"
    )
    (bin_dir / "qstat").chmod(0o755)
    run = tmp_path / "run"
    extra = ("--n-epochs", "1", "--n-epochs-decay", "1", "--shard-scale", "1", "--save-epochs", "1")
    env = {"PBS_JOBID": "7.pbs1", "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    stopped = run_cli(*_args(crops, run, *extra, "--stop-before-walltime", "600"), check=False, env=env)
    assert stopped.returncode == 75, stopped.stderr
    assert "stopped before the job's walltime in epoch 1 after iteration 1" in stopped.stderr
    state = torch.load(run / "checkpoints" / "latest.pt", weights_only=True)
    assert (state["epoch"], state["iteration"]) == (1, 1)
    finished = run_cli(*_args(crops, run, *extra))
    assert "resuming from" in finished.stderr and "finished epoch 2 of 2" in finished.stderr


def test_crops_staged_to_node_local_disk_train_like_the_originals(crops, tmp_path, capfd):
    """--stage-to '$VAR' (as the workflow passes '$PBS_LOCALDIR'): the crops are copied there once and
    training reads the copies; the nets equal those of a run reading the originals."""
    extra = ("--n-epochs", "1", "--n-epochs-decay", "0", "--shard-scale", "1", "--save-epochs", "1")
    local = tmp_path / "local"
    run_cli_here(capfd, *_args(crops, tmp_path / "plain", *extra))
    staged = run_cli(
        *_args(crops, tmp_path / "staged", *extra, "--stage-to", "$NODE_LOCAL"), env={"NODE_LOCAL": str(local)}
    )
    assert "staged the crops to" in staged.stderr
    for side, name in (("A", "synthia"), ("B", "bdd100k")):
        assert sorted(p.name for p in (local / "cycleaug-crops" / side).iterdir()) == sorted(
            p.name for p in (crops / name).iterdir()
        )
    _assert_same_nets(_nets(tmp_path / "plain", 1), _nets(tmp_path / "staged", 1))
    unset = run_cli_here(
        capfd, *_args(crops, tmp_path / "unset", *extra, "--stage-to", "$NO_SUCH_VARIABLE"), check=False
    )
    assert unset.returncode == 2 and "the variable is not set" in unset.stderr


def test_changed_settings_or_crops_start_afresh(crops, tmp_path, capfd):
    """Issue 24: latest.pt is resumed only by a run of its fingerprint. Another lr (or seed, or crops)
    starts afresh with one line naming the change; the old run is moved aside, never mixed in."""
    import shutil

    extra = ["--n-epochs", "1", "--n-epochs-decay", "0", "--shard-scale", "1", "--save-epochs", "1"]
    run = tmp_path / "run"
    run_cli_here(capfd, *_args(crops, run, *extra))
    first = _log(run)
    assert [r["lr"] for r in first] == [2e-4] and len(first[0]["fingerprint"]) == 16
    fingerprint = torch.load(run / "checkpoints" / "latest.pt", weights_only=True)["fingerprint"]
    assert (fingerprint["lr"], fingerprint["seed"], fingerprint["world_size"], fingerprint["ngf"]) == (2e-4, 0, 1, 4)
    assert {"crops_a", "crops_b", "torch", "cycleaug", "precision"} <= set(fingerprint)
    nets = _nets(run, 1)

    # Options that change no number: the finished run is resumed, nothing is retrained.
    same = run_cli_here(
        capfd, *_args(crops, run, *extra, "--log-every", "5", "--checkpoint-every", "3", "--workers", "1")
    )
    assert "resuming from" in same.stderr and "starting afresh" not in same.stderr and _log(run) == first

    # An lr rule that is no scaling on 1 process (k = 1 at the reference count): the same run.
    unscaled = run_cli_here(capfd, *_args(crops, run, *extra, "--lr-scaling", "sqrt", "--warmup-epochs", "3"))
    assert "resuming from" in unscaled.stderr and "starting afresh" not in unscaled.stderr and _log(run) == first

    changed = run_cli_here(capfd, *_args(crops, run, *extra, "--lr", "0.001"))
    (line,) = [x for x in changed.stderr.splitlines() if "starting afresh" in x]
    assert f"{run / 'checkpoints' / 'latest.pt'}: made with other settings (lr 0.0002 -> 0.001);" in line
    (old,) = (run / "checkpoints").glob("superseded-*")
    assert line.endswith(f"the old run moved to {old}")
    assert [r["lr"] for r in _log(run)] == [0.001]
    assert [json.loads(x)["lr"] for x in (old / "history" / "train_log.jsonl").read_text().splitlines()] == [2e-4]
    assert (old / "latest.pt").is_file() and not (old / "train_log.jsonl").exists()
    _assert_same_nets(nets, {n: torch.load(old / "history" / f"1_net_{n}.pth", weights_only=True) for n in NETS})
    assert not torch.equal(_nets(run, 1)["G_A"]["model.1.weight"], nets["G_A"]["model.1.weight"])

    # Another seed and other crops (one image more in A): both named.
    more = tmp_path / "more"
    shutil.copytree(crops / "synthia", more)
    shutil.copy(more / "000.png", more / "100.png")
    moved = run_cli_here(capfd, *[more if a == crops / "synthia" else a for a in _args(crops, run, *extra, "--lr", "0.001")],
                    "--seed", "1")  # fmt: skip
    (line,) = [x for x in moved.stderr.splitlines() if "starting afresh" in x]
    assert "made with other settings (seed 0 -> 1, crops_a " in line and "crops_b" not in line
    assert len(list((run / "checkpoints").glob("superseded-*"))) == 2


def _snakemake_tiny(tmp_path, overrides: dict, *extra):
    over = tmp_path / "overrides.yaml"
    over.write_text(yaml.safe_dump(overrides))
    args = ("train_cyclegan_1gpu", "--cores", "1", "--allowed-rules", "train_cyclegan_1gpu", *extra)
    return run_snakemake(*workflow_command(tmp_path, *args, configfiles=(ROOT / "profiles/demo/demo.yaml", over)))


def test_snakemake_params_change_and_forcerun_retrain(tmp_path):
    """Issue 24, through Snakemake: a finished run is not "resumed" when Snakemake reruns its job. A
    changed cyclegan.lr (a params change) and --forcerun each train anew."""
    rng = np.random.default_rng(1)
    for name in ("synthia", "bdd100k"):
        folder = tmp_path / "data" / "crops" / name
        folder.mkdir(parents=True)
        for i in range(4):
            Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(folder / f"{i}.png")
        (folder / "manifest.csv").write_text("crop,source\n")
    tiny = {
        "cyclegan": {
            "gpu_counts": [1],
            **{"ngf": 4, "ndf": 4, "n_blocks": 1, "load_size": 36, "crop_size": 32, "pool_size": 2},
            **{"n_epochs": 1, "n_epochs_decay": 0, "save_epochs": [1], "shard_scale": 1, "log_every": 1},
        },
        "generate": {"sample_epochs": [1]},
    }
    run, job_log = tmp_path / "results" / "cyclegan" / "1gpu", tmp_path / "logs" / "cyclegan" / "train_1gpu.log"
    _snakemake_tiny(tmp_path, tiny)
    assert [r["lr"] for r in _log(run)] == [2e-4]

    _snakemake_tiny(tmp_path, tiny, "--forcerun", "train_cyclegan_1gpu")
    text = job_log.read_text()
    assert "all its outputs were removed" in text and "starting afresh" in text and "resuming" not in text
    assert len(list((run / "checkpoints").glob("superseded-*"))) == 1 and [r["lr"] for r in _log(run)] == [2e-4]

    tiny["cyclegan"]["lr"] = 0.001
    _snakemake_tiny(tmp_path, tiny)
    text = job_log.read_text()
    assert "made with other settings (lr 0.0002 -> 0.001)" in text and "resuming" not in text
    assert [r["lr"] for r in _log(run)] == [0.001]
    assert len(list((run / "checkpoints").glob("superseded-*"))) == 2


def test_ranks_that_disagree_stop_before_training_with_one_line(crops, tmp_path):
    """Two ranks started with different gradient compressions (a mixed-up job script): both stop at the
    rendezvous, before the process group's first collective, naming the setting and both ranks."""
    args = " ".join(shlex.quote(str(a)) for a in _args(crops, tmp_path / "run"))
    rank_dependent = f'exec {BIN / "cycleaug"} {args} --compression $([ "$RANK" = 1 ] && echo fp16 || echo none)'
    proc = subprocess.run(
        [sys.executable, "-m", "cycleaug.launch", "--nproc", "2", "--", "bash", "-c", rank_dependent],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode != 0
    errors = [line for line in proc.stderr.splitlines() if "ranks disagree" in line]
    assert errors, proc.stderr
    assert all("compression: rank 0 on" in e and "has none, rank 1 on" in e and e.endswith("has fp16") for e in errors)
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "run" / "train_log.jsonl").exists()


def test_host_waits_for_the_device_only_every_sync_every_iterations(crops, tmp_path, capfd, monkeypatch):
    """24 iterations (shard scale 3 over D = 8) synced (and logged) every 5, as a GPU run syncs every 10:
    the loop's allreduce of losses and stop flag (the host-device sync) runs at iterations 5, 10, 15, 20
    and 24, between the set-up's one flag and the epoch end's one (for late signals): 5 syncs, not 24.
    The nets equal those of a run synced every iteration (the CPU's default), and the mean losses agree."""
    from cycleaug.cyclegan.distributed import Comm

    calls = []
    original = Comm.sum_
    monkeypatch.setattr(Comm, "sum_", lambda self, t: calls.append(t.numel()) or original(self, t))
    extra = ["--n-epochs", "1", "--n-epochs-decay", "0", "--shard-scale", "3", "--save-epochs", "1"]
    every = {}
    for log_every in (1, 5):
        calls.clear()
        out = tmp_path / f"every{log_every}"
        every_n = ("--log-every", str(log_every), "--sync-every", str(log_every))
        run_cli_here(capfd, *map(str, _args(crops, out, *extra)), *every_n)
        every[log_every] = (list(calls), _nets(out, "1"), _log(out)[-1])
    assert every[5][0] == [1] + [9] * 5 + [1]  # 8 losses + the stop flag at each sync
    assert every[1][0] == [1] + [9] * 24 + [1]
    _assert_same_nets(every[1][1], every[5][1])
    for name in ("G_A", "D_B", "cycle_A"):
        assert every[5][2][name] == pytest.approx(every[1][2][name], rel=1e-9)
