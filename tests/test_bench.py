"""The benchmarks in bench/ (smoke test: `bench/run_all.py --quick` writes every JSON with its keys; no
timing asserts) and the fast training path's exactness: the cached uint8 pipeline gives the PIL
pipeline's pixels, and channels_last (InstanceNorm as GroupNorm) gives the NCHW step's numbers."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from cycleaug.cyclegan.data import crop_flip, load_image, load_resized, normalize
from cycleaug.cyclegan.distributed import Comm, DistEnv
from cycleaug.cyclegan.model import CycleGAN
from cycleaug.cyclegan.settings import FastConfig, ModelConfig
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent

KEYS = {
    "cyclegan_step": {"rows", "search"},
    "scaling_model": {"parameters", "bytes_per_iteration_fp32", "calibration", "rows", "predicted_efficiency_512_ours"},
    "comm": {"torch", "horovod", "bytes_per_iteration_fp32"},
    "fid_speed": {"rows", "speedup", "max_abs_feature_difference"},
    "evaluate_speed": {"rows", "speedup"},
    "crop_speed": {"rows"},
    "demo_stages": {"stages", "jobs"},
}


def test_run_all_quick_writes_every_result(tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run_all.py"), "--quick", "--out-dir", str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    for name, keys in KEYS.items():
        doc = json.loads((tmp_path / f"{name}.json").read_text())
        assert keys | {"headline"} <= doc.keys(), (name, keys - doc.keys())
        machine = doc["machine"]
        assert {"cpu_model", "cpu_cores", "torch", "device"} <= machine.keys()
        # run_all's summary is each file's own headline.
        assert doc["headline"]["figure"] in proc.stdout, name
    step = json.loads((tmp_path / "cyclegan_step.json").read_text())
    assert [r["variant"] for r in step["rows"]] == ["baseline", "auto"]
    # "auto" is the switch set the search chose, measured against the baseline in every run.
    chosen = [c for c in step["search"]["candidates"] if c.get("chosen")]
    assert len(chosen) == 1 and step["rows"][1]["switches"].startswith(chosen[0]["label"])
    assert step["headline"]["value"] == step["rows"][1]["speedup_median"]
    assert step["rows"][1]["speedup"]["runs"] == [step["headline"]["value"]]  # --quick: one run
    overlap = json.loads((tmp_path / "comm.json").read_text())["torch"]["cyclegan_step"]
    assert overlap["buckets_last_backward"]["buckets"] >= 1
    # 2 x (ResnetGenerator + NLayerDiscriminator) at ngf 64 (module docstring of networks.py): 113 MB fp32.
    model = json.loads((tmp_path / "scaling_model.json").read_text())
    assert model["parameters"] == 2 * (11_378_179 + 2_764_737)
    assert model["bytes_per_iteration_fp32"] == 4 * model["parameters"]
    csv_lines = (tmp_path / "scaling_model.csv").read_text().splitlines()
    assert csv_lines[0].startswith("gpus,predicted_speedup")
    assert csv_lines[1].startswith("4,1.0")


def test_cached_pipeline_gives_the_pil_pixels(tmp_path):
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)).save(tmp_path / "x.png")
    cached = load_resized(tmp_path / "x.png", 36)
    for seed in range(6):  # both flip outcomes occur
        expected = load_image(tmp_path / "x.png", 36, 32, random.Random(seed))
        got = normalize(crop_flip(cached, 32, random.Random(seed)))
        assert torch.equal(got, expected)


def _one_step(fast: FastConfig):
    torch.manual_seed(1)
    a, b = torch.rand(1, 3, 32, 32) * 2 - 1, torch.rand(1, 3, 32, 32) * 2 - 1
    model = CycleGAN(ModelConfig(ngf=4, ndf=4, n_blocks=1, pool_size=0), Comm(DistEnv(), torch.device("cpu")), 0, fast)
    losses = model.step(model.prepare(a), model.prepare(b))
    return losses, {k: v.detach().clone() for net in model.nets.values() for k, v in net.state_dict().items()}, model


def test_channels_last_step_equals_nchw_step():
    torch.set_num_threads(1)
    plain_losses, plain_state, _ = _one_step(FastConfig())
    cl_losses, cl_state, model = _one_step(FastConfig(channels_last=True))
    assert not any(isinstance(m, torch.nn.InstanceNorm2d) for m in model.G_A.modules())
    assert plain_state.keys() == cl_state.keys()  # the reference's state-dict keys are kept
    for k in plain_losses:
        assert torch.allclose(plain_losses[k], cl_losses[k], rtol=1e-5, atol=1e-6), k
    # After one Adam step every weight moved by about lr; a wrong gradient would flip signs (2 lr apart).
    # Biases are left out: a conv bias before an InstanceNorm has gradient 0 up to rounding (the norm
    # removes per-channel constants), so Adam moves it by +-lr with an arbitrary sign in both layouts.
    weights = [k for k in plain_state if k.endswith("weight")]
    assert len(weights) >= 10
    for k in weights:
        assert torch.allclose(plain_state[k], cl_state[k], atol=2e-5), k


@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_autocast_step_keeps_float32_state(amp):
    torch.set_num_threads(1)
    losses, state, model = _one_step(FastConfig(amp=amp, fused_adam=True))
    assert all(torch.isfinite(v) for v in losses.values())
    assert all(v.dtype == torch.float32 for v in state.values())
    assert (model.scaler is not None) == (amp == "fp16")
