"""Data-parallel CycleGAN: allreduce correctness for both backends and the local launcher.

Two Gloo processes with one sample each must end a training step exactly where one process ends
with both samples as a batch of 2: every loss is a mean (over the batch and the pixels/patches),
InstanceNorm normalises each sample alone and the pool is off, so the average of the per-process
gradients is the batch gradient, up to float rounding.

The plain-path check runs in float64: the biases of convolutions followed by InstanceNorm have a true gradient
of exactly zero (the norm subtracts the mean), so in float32 their computed gradient is rounding
noise of about 1e-8, which Adam (eps 1e-8) turns into steps of +-lr in a random direction; in
float64 that noise lies far below eps and every parameter must agree to 1e-6.

The switches config.yaml sets (backend, fast path, compression) are tested as the file sets them, with
2 ranks under horovodrun --gloo and under the torch backend, in float32 (bf16 autocast where amp auto
picks it): the comparison then leaves out those biases and allows fp32 noise.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from cluster import mpi_env, need_programs
from conftest import BIN, ROOT
from cycleaug.cyclegan.distributed import Comm, DistEnv
from cycleaug.cyclegan.model import ChannelGroupNorm
from cycleaug.cyclegan.settings import fast_settings
from PIL import Image
from torch import nn

sys.path.insert(0, str(Path(__file__).parent))
import cyclegan_step  # noqa: E402  (the helper the launched processes run)

HELPER = Path(__file__).parent / "cyclegan_step.py"
STEPS = 2  # the second step also checks that Adam's moments were built from averaged gradients


def _single_process(samples: slice, spec: dict | None = None) -> tuple[dict, object]:
    spec = spec or {}
    torch.set_num_threads(1)
    dtype = torch.get_default_dtype()
    torch.set_default_dtype(getattr(torch, spec.get("dtype", "float64")))
    try:
        model = cyclegan_step.model_for(Comm(DistEnv(), torch.device("cpu")), spec)
        a, b = cyclegan_step.batch(spec)
        cyclegan_step.train_steps(model, a[samples], b[samples], STEPS)
    finally:
        torch.set_default_dtype(dtype)
    return {name: net.state_dict() for name, net in model.nets.items()}, model


@pytest.fixture(scope="module")
def batch_of_two():
    return _single_process(slice(0, 2))[0]


def _launch(tmp_path, backend: str, spec: dict | None = None, launcher: str = "cycleaug") -> dict:
    out = tmp_path / f"{backend}.pt"
    helper = [sys.executable, str(HELPER), str(out), backend, str(STEPS), json.dumps(spec or {})]
    env = None
    if launcher == "horovodrun":  # what a user types for horovod over Gloo
        cmd = [str(BIN / "horovodrun"), "-np", "2", "-H", "localhost:2", "--gloo", *helper]
    elif launcher == "mpirun":  # the ABCI profile's own mpirun line, on a PBS host file naming localhost twice
        cmd, env = _abci_mpirun(tmp_path, backend, helper)
    else:
        cmd = [sys.executable, "-m", "cycleaug.launch", "--nproc", "2", "--backend", backend, "--", *helper]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env, shell=launcher == "mpirun")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    comm = json.loads((tmp_path / f"{backend}.pt.comm.json").read_text())
    expected = {"cycleaug": "torchrun", "horovodrun": "horovodrun", "mpirun": "mpirun"}[launcher]
    assert comm["launcher"] == ("horovodrun" if backend == "horovod" and launcher == "cycleaug" else expected)
    if backend == "horovod":  # horovod's controller: MPI under mpirun (the paper's), Gloo otherwise
        assert comm["controller"] == ("mpi" if launcher == "mpirun" else "gloo")
    return torch.load(out, weights_only=True)


def _abci_mpirun(tmp_path, backend: str, helper: list[str]) -> tuple[str, dict]:
    from cycleaug.glue.cyclegan import launcher

    need_programs("mpirun", package="openmpi-bin")
    config = yaml.safe_load((ROOT / "profiles" / "abci" / "abci.yaml").read_text())
    config["cyclegan"] = {"backend": backend}
    before = launcher(config, 2)
    nodefile = tmp_path / "nodefile"
    nodefile.write_text("localhost\nlocalhost\n")
    env = {**os.environ, **mpi_env(), "PBS_NODEFILE": str(nodefile)}
    return f"{before} {shlex.join(helper)}", env


def _max_diff(x: dict, y: dict, skip: frozenset = frozenset()) -> float:
    return max(float((x[n][k] - y[n][k]).abs().max()) for n in x for k in x[n] if (n, k) not in skip)


def _check(distributed: dict, batch_of_two: dict) -> None:
    assert _max_diff(distributed, batch_of_two) < 1e-6
    # The comparison is sensitive: training on one of the samples alone ends elsewhere.
    assert _max_diff(_single_process(slice(0, 1))[0], batch_of_two) > 1e-5


@pytest.mark.parametrize("bucket_bytes", [None, 4096])
def test_torch_allreduce_equals_batch_of_two(tmp_path, batch_of_two, bucket_bytes):
    """One 25 MiB bucket (the tiny nets fit in it), and buckets of 4 KiB started during backward."""
    spec = {} if bucket_bytes is None else {"bucket_bytes": bucket_bytes}
    _check(_launch(tmp_path, "torch", spec), batch_of_two)
    comm = json.loads((tmp_path / "torch.pt.comm.json").read_text())
    if bucket_bytes:
        assert comm["buckets"] > 3 and comm["started_in_backward"] >= comm["buckets"] // 2, comm


@pytest.mark.parametrize("backend", ["torch", pytest.param("horovod", marks=pytest.mark.horovod)])
def test_scaling_model_assumes_what_the_backend_does(tmp_path, backend):
    """Fig. 4's "ours" line (cycleaug.scaling_model.scenario) overlaps communication with backward exactly
    when the backend's real 2-process step started gradient allreduces before its backward had ended."""
    from cycleaug import scaling_model

    if backend == "horovod":
        pytest.importorskip("horovod.torch", reason="horovod not installed (make horovod)")
    _launch(tmp_path, backend, {"bucket_bytes": 4096})
    comm = json.loads((tmp_path / f"{backend}.pt.comm.json").read_text())
    overlapped = comm["started_in_backward"] > 0
    assert scaling_model.scenario(backend, "none") == (overlapped, 1.0)
    assert comm["overlaps_backward"] == overlapped
    assert scaling_model.scenario(backend, "fp16")[1] == 0.5
    # And the model's "ours" column is that scenario: overlapped communication hides behind backward.
    pred = scaling_model.predict(backend=backend, compression="none")
    last = pred.rows[-1]
    assert last["ours_s_per_iter"] == pytest.approx(
        last["ours_overlap_fp32_s_per_iter"] if overlapped else last["ours_no_overlap_fp32_s_per_iter"]
    )


@pytest.mark.horovod
@pytest.mark.parametrize("launcher", ["cycleaug", "mpirun"])
def test_horovod_allreduce_equals_batch_of_two(tmp_path, batch_of_two, launcher):
    """Over Gloo (cycleaug.launch's rendezvous) and over MPI (the ABCI profile's mpirun line, the paper's
    controller): each ends exactly where one process with the batch of two does."""
    pytest.importorskip("horovod.torch", reason="horovod not installed (make horovod)")
    _check(_launch(tmp_path, "horovod", launcher=launcher), batch_of_two)


# ---------------------------------------------------------------- config.yaml's own switches


def config_spec(crops: Path) -> dict:
    """The switch set of config.yaml's cyclegan block (what `snakemake --profile abci` trains with), in
    float32 as a real run computes. Every key of `fast` must be a FastConfig field or cache_images:
    a switch added to the config without code behind it fails here. Switches the config leaves to the
    measurement (fast: auto) are all on: the widest set the search can choose (bf16 where this CPU runs
    it natively, channels_last, fused Adam); the search itself runs in tests/test_autotune.py."""
    cg = yaml.safe_load((ROOT / "config.yaml").read_text())["cyclegan"]
    fast = fast_settings(cg["fast"])
    widest = {"amp": "auto", "channels_last": True, "fused_adam": True}
    fast.update({k: widest[k] for k in fast.pop("auto", ())})
    cache = fast.pop("cache_images", False)
    return {
        "backend": cg["backend"],
        "dtype": "float32",
        "fast": fast,
        "cache_images": cache,
        "compression": cg["compression"],
        "crops": str(crops),
    }


def norm_cancelled_biases(nets: dict[str, nn.Module]) -> frozenset:
    """(net, key) of every convolution bias that a normalisation right after it subtracts again: its true
    gradient is exactly zero, so in float32 its value after a step is Adam acting on rounding noise
    (|g| ~ eps gives steps of up to +-lr in a random direction), in any implementation."""
    out = set()
    for net_name, net in nets.items():
        for prefix, module in net.named_modules():
            if not isinstance(module, nn.Sequential):
                continue
            children = list(module.named_children())
            for (name, conv), (_, norm) in zip(children, children[1:]):
                if (
                    isinstance(conv, (nn.Conv2d, nn.ConvTranspose2d))
                    and conv.bias is not None
                    and isinstance(norm, (nn.InstanceNorm2d, ChannelGroupNorm))
                ):
                    out.add((net_name, f"{prefix}.{name}.bias" if prefix else f"{name}.bias"))
    return frozenset(out)


@pytest.fixture(scope="module")
def crops(tmp_path_factory) -> Path:
    """Two tiny crops per domain, PNG files as the crop step writes them."""
    root = tmp_path_factory.mktemp("crops")
    rng = np.random.default_rng(7)
    for side in ("A", "B"):
        (root / side).mkdir()
        for i in range(2):
            y, x = np.mgrid[0 : cyclegan_step.SIZE + 4, 0 : cyclegan_step.SIZE + 4]
            base = np.stack([(x * 7 + i * 40) % 256, (y * 5 + 90) % 256, (x + y) * 3 % 256], -1)
            noisy = np.clip(base + rng.normal(0, 20, base.shape), 0, 255).astype(np.uint8)
            Image.fromarray(noisy).save(root / side / f"{i:04d}.png")
    return root


@pytest.fixture(scope="module")
def config_reference(crops):
    """The config's switches in one process: a batch of two, and one sample alone."""
    spec = config_spec(crops)
    batch_state, model = _single_process(slice(0, 2), spec)
    return {
        "spec": spec,
        "batch": batch_state,
        "model": model,
        "one_sample": _single_process(slice(0, 1), spec)[0],
        "skip": norm_cancelled_biases(model.nets),
    }


# float32 noise after two Adam steps of lr 2e-4 (measured: < 2e-7 between the launched runs and the batch
# of two in float32); a different gradient (one sample instead of two) moves many parameters by ~lr.
TOLERANCE = 1e-5


def _median_diff(x: dict, y: dict, skip: frozenset) -> float:
    return float(
        torch.cat([(x[n][k] - y[n][k]).abs().flatten() for n in x for k in x[n] if (n, k) not in skip]).median()
    )


def _launch_both(tmp_path, spec: dict, horovod_launcher: str = "horovodrun") -> tuple[dict, dict]:
    """The switch set with 2 ranks of horovod (under horovodrun --gloo, what a user types, or the ABCI
    profile's mpirun line) and of the torch backend."""
    pytest.importorskip("horovod.torch", reason="horovod not installed (make horovod)")
    if not shutil.which("horovodrun", path=f"{BIN}{os.pathsep}{os.environ['PATH']}"):
        pytest.fail("horovod is installed but horovodrun is not on PATH")
    (tmp_path / "horovod").mkdir()
    (tmp_path / "torch").mkdir()
    return (
        _launch(tmp_path / "horovod", "horovod", spec, launcher=horovod_launcher),
        _launch(tmp_path / "torch", "torch", spec),
    )


@pytest.mark.horovod
@pytest.mark.parametrize("horovod_launcher", ["horovodrun", "mpirun"])
def test_config_switches_train_with_two_ranks_like_a_batch_of_two(tmp_path, config_reference, horovod_launcher):
    """config.yaml's switch set (amp auto is bf16 on a CPU with AVX512-BF16 or AMX); horovod over Gloo and
    over MPI (the paper's controller, the ABCI profile's mpirun line)."""
    ref, skip = config_reference, config_reference["skip"]
    assert skip  # the generators' and discriminators' normalised convolutions
    horovod, torch_backend = _launch_both(tmp_path, ref["spec"], horovod_launcher)
    # Two independent allreduce implementations agree to float32 rounding, whatever the precision.
    assert _max_diff(horovod, torch_backend, skip) < TOLERANCE
    assert _max_diff(ref["one_sample"], ref["batch"], skip) > 10 * TOLERANCE
    if ref["model"].amp_dtype is None:  # float32: exactly the batch of two's result
        assert _max_diff(horovod, ref["batch"], skip) < TOLERANCE
    else:
        # bf16 autocast rounds a batch of one differently from a batch of two (oneDNN blocks by batch),
        # and Adam turns that into sign flips of near-zero gradients; the typical parameter still lands
        # where the batch of two does, far from where one sample alone takes it.
        far = _median_diff(ref["one_sample"], ref["batch"], skip)
        assert _median_diff(horovod, ref["batch"], skip) < far / 10


@pytest.mark.horovod
def test_config_switches_in_float32_equal_the_batch_of_two(tmp_path, crops):
    """The same switches with autocast off: both launched runs end exactly where the batch of two does,
    so the bf16 comparison above differs only by bf16 rounding."""
    base = config_spec(crops)
    spec = {**base, "fast": {**base["fast"], "amp": "none"}}
    batch_state, model = _single_process(slice(0, 2), spec)
    skip = norm_cancelled_biases(model.nets)
    for launched in _launch_both(tmp_path, spec):
        assert _max_diff(launched, batch_state, skip) < TOLERANCE
    assert _max_diff(_single_process(slice(0, 1), spec)[0], batch_state, skip) > 10 * TOLERANCE


def test_config_switches_keep_every_shared_tensor_contiguous(config_reference):
    """What horovod communicates (parameters, gradients, optimizer states) and what a checkpoint holds
    (nets, optimizers, pools) is in the default layout whatever the fast path does to activations, and
    the nets load into the reference's plain modules."""
    model = config_reference["model"]
    for name, net in model.nets.items():
        for key, p in net.named_parameters():
            assert p.is_contiguous() and p.grad is not None and p.grad.is_contiguous(), (name, key)

    def tensors(obj):
        if isinstance(obj, torch.Tensor):
            yield obj
        elif isinstance(obj, dict):
            for v in obj.values():
                yield from tensors(v)
        elif isinstance(obj, (list, tuple)):
            for v in obj:
                yield from tensors(v)

    state = model.state_dict()
    assert all(t.is_contiguous() for t in tensors(state))
    fresh = cyclegan_step.model_for(Comm(DistEnv(), torch.device("cpu")))  # plain modules, NCHW
    for name, net in fresh.nets.items():
        net.load_state_dict(state["nets"][name])


def test_launcher_sets_ranks_and_reports_failure(tmp_path):
    script = (
        "import os, sys; r = os.environ['RANK']; "
        "open(sys.argv[1] + r, 'w').write(' '.join(os.environ[k] for k in "
        "('RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'MASTER_ADDR', 'MASTER_PORT', 'OMP_NUM_THREADS'))); "
        "sys.exit(3 if r == '2' else 0)"
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "cycleaug.launch",
            "--nproc",
            "3",
            "--",
            sys.executable,
            "-c",
            script,
            str(tmp_path / "rank"),
        ],
        timeout=120,
    )
    assert proc.returncode == 3  # the failing child's status
    seen = [(tmp_path / f"rank{r}").read_text().split() for r in range(3)]
    assert [s[:3] for s in seen] == [[str(r), "3", str(r)] for r in range(3)]
    assert len({s[4] for s in seen}) == 1 and seen[0][3] == "127.0.0.1"
    assert all(s[5] == "1" for s in seen)  # OMP_NUM_THREADS=1 (test env) split three ways stays 1


def test_fp16_loss_scale_is_updated_once_per_iteration():
    """One GradScaler serves the G and the D step: its scale grows by one factor per iteration without
    an inf (growth_interval 1), not per optimizer step, and both optimizers still step."""
    torch.set_num_threads(1)
    model = cyclegan_step.model_for(Comm(DistEnv(), torch.device("cpu")), {"fast": {"amp": "fp16"}})
    model.scaler = torch.amp.GradScaler("cpu", init_scale=2.0**4, growth_factor=2.0, growth_interval=1)
    before = {name: net.state_dict()["model.1.weight"].clone() for name, net in model.nets.items() if "G" in name}
    d_before = model.D_A.state_dict()["model.0.weight"].clone()
    a, b = cyclegan_step.batch()
    cyclegan_step.train_steps(model, a[:1], b[:1], 3)
    assert model.scaler.get_scale() == 2.0**4 * 2**3
    assert all(not torch.equal(before[n], model.nets[n].state_dict()["model.1.weight"]) for n in before)
    assert not torch.equal(d_before, model.D_A.state_dict()["model.0.weight"])


def test_launcher_holds_its_rendezvous_port_until_rank_0_binds_it():
    """The port the launcher chose is held (a concurrent job's bind fails), and rank 0's store binds it."""
    import datetime
    import socket

    from cycleaug.launch import reserve_port

    held = reserve_port()
    port = held.getsockname()[1]
    try:
        with socket.socket() as other, pytest.raises(OSError):
            other.bind(("127.0.0.1", port))
        store = torch.distributed.TCPStore("127.0.0.1", port, 1, True, timeout=datetime.timedelta(seconds=30))
        store.set("k", "v")
        assert store.get("k") == b"v"
    finally:
        held.close()


def test_channel_group_norm_hands_on_the_channels_last_layout(monkeypatch):
    """Where group_norm returns NCHW for an NHWC input (CUDA's kernel may), the norm restores NHWC with
    the same values, so channels_last is not undone after the first norm; NCHW input stays NCHW."""
    import cycleaug.cyclegan.model as model_module

    plain = torch.nn.functional.group_norm
    monkeypatch.setattr(model_module.F, "group_norm", lambda x, *a, **k: plain(x, *a, **k).contiguous())
    x = torch.randn(2, 8, 6, 5, generator=torch.Generator().manual_seed(0))
    norm = ChannelGroupNorm()
    nhwc = x.contiguous(memory_format=torch.channels_last)
    y = norm(nhwc)
    assert y.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(y, plain(nhwc, 8, eps=1e-5))
    assert torch.allclose(y, torch.nn.InstanceNorm2d(8)(x), atol=1e-6)
    assert norm(x).is_contiguous()
