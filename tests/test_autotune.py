"""`cyclegan.fast: auto` (cycleaug.cyclegan.autotune): the config's forms, the candidates a device gets, the
choice rule (fastest whose losses stay within fp32 noise), the per-device cache, and real training runs
with 1 and 2 processes (rank 0 decides, every rank follows; a rerun reads the cache)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
import yaml
from conftest import ROOT
from cycleaug.cyclegan import autotune
from cycleaug.cyclegan.distributed import Comm, DistEnv
from cycleaug.cyclegan.settings import SEARCHABLE, FastConfig, ModelConfig, fast_settings
from cycleaug.glue.cyclegan import train_options
from test_cyclegan_train import TINY, _args, crops  # noqa: F401  (crops: the module's fixture)

CPU = torch.device("cpu")
TINY_MODEL = ModelConfig(ngf=4, ndf=4, n_blocks=1)


def test_config_forms():
    # The string searches every searchable switch, with the image cache on.
    assert fast_settings("auto") == {"auto": SEARCHABLE, "cache_images": True}
    # A mapping is explicit; with auto: true it searches only the searchable switches it does not set.
    assert fast_settings({"amp": "bf16", "channels_last": True}) == {"amp": "bf16", "channels_last": True}
    assert fast_settings({"auto": True, "amp": "none", "tf32": True}) == {
        "amp": "none",
        "tf32": True,
        "auto": ("channels_last", "fused_adam"),
    }
    assert fast_settings({"auto": False, "fused_adam": True}) == {"fused_adam": True}


def test_config_yaml_trains_with_the_search_on():
    """What `snakemake --profile abci` runs: config.yaml's cyclegan.fast on the training command line."""
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    words = train_options(config).split()
    i = words.index("--fast-auto")
    assert words[i + 1 : i + 1 + len(SEARCHABLE)] == list(SEARCHABLE)
    assert "--cache-images" in words


def test_candidates_follow_the_device_and_the_fixed_switches():
    fast = FastConfig(**fast_settings("auto"))
    cands = autotune.first_stage(fast, CPU)
    assert cands[0] == autotune.plain(fast) and autotune.label(cands[0]) == "plain fp32"
    amps = ["none"] + (["bf16"] if autotune.resolve_amp("auto", CPU) is not None else [])
    assert sorted((c.amp, c.channels_last) for c in cands) == sorted((a, cl) for a in amps for cl in (False, True))
    assert all(not c.auto and c.cache_images and not c.fused_adam for c in cands)
    # A switch the config sets is not searched.
    fixed = FastConfig(**fast_settings({"auto": True, "channels_last": True}))
    assert {c.channels_last for c in autotune.first_stage(fixed, CPU)} == {True}


def test_choice_is_the_fastest_candidate_whose_losses_pass():
    checked = []

    def passes(i):
        checked.append(i)
        return i != 2  # candidate 2 (the fastest) changes the losses beyond noise

    # medians: plain 1.0, candidate 1 0.8, candidate 2 0.5, candidate 3 0.9
    assert autotune.select([1.0, 0.8, 0.5, 0.9], passes) == 1
    assert checked == [2, 1]  # fastest first, and nothing slower than the choice is checked
    # When plain is fastest it is chosen without a check; when nothing passes, plain.
    assert autotune.select([0.5, 0.8], lambda i: pytest.fail("checked")) == 0
    assert autotune.select([1.0, 0.5, 0.7], lambda i: False) == 0


def test_loss_rows_by_hand():
    plain = [[1.0] * 8, [2.0] * 8]
    other = [[1.5] * 8, [2.5] * 8]  # data noise: mean |diff| 0.5
    close = [[1.2] * 8, [1.6] * 8]  # mean |diff| (0.2 + 0.4) / 2 = 0.3
    far = [[1.0] * 8, [3.2] * 8]  # mean |diff| (0 + 1.2) / 2 = 0.6
    assert all(r["within_noise"] for r in autotune.loss_rows(plain, other, close))
    rows = autotune.loss_rows(plain, other, far)
    assert [r["mean_abs_diff"] for r in rows] == pytest.approx([0.6] * 8)
    assert not any(r["within_noise"] for r in rows)


def test_search_caches_per_device_and_size(tmp_path):
    cache = tmp_path / "fast_path.json"
    fast = FastConfig(**fast_settings("auto"), auto_cache=str(cache))
    comm = Comm(DistEnv(), CPU)
    lines: list[str] = []
    first = autotune.choose(fast, TINY_MODEL, 32, 1, comm, log=lines.append, loss_steps=3)
    assert not first.auto and first.cache_images
    assert any("timing" in line for line in lines) and any("chose" in line for line in lines)
    (entry,) = json.loads(cache.read_text()).values()
    assert {k: getattr(first, k) for k in SEARCHABLE} == entry["choice"]
    chosen = [c for c in entry["candidates"] if c.get("chosen")]
    assert len(chosen) == 1 and chosen[0]["label"] == entry["label"]
    # The choice is the fastest candidate that passed (or plain): nothing faster passed the loss check.
    faster = [c for c in entry["candidates"] if c["median_s"] < chosen[0]["median_s"]]
    assert all(c.get("losses_within_noise") is False for c in faster)
    # Same device and sizes: from the cache, without measuring.
    lines.clear()
    again = autotune.choose(fast, TINY_MODEL, 32, 1, comm, log=lines.append, loss_steps=3)
    assert again == first and len(lines) == 1 and "cached in" in lines[0]
    # Another crop size is another entry.
    autotune.choose(fast, TINY_MODEL, 40, 1, comm, log=lines.append, loss_steps=3)
    assert len(json.loads(cache.read_text())) == 2
    # A broken cache file costs a search, not the run.
    cache.write_text("{not json")
    lines.clear()
    autotune.choose(fast, TINY_MODEL, 32, 1, comm, log=lines.append, loss_steps=3)
    assert any("timing" in line for line in lines)
    assert len(json.loads(cache.read_text())) == 1


def test_unknown_searched_switch_is_a_clear_error():
    from cycleaug.errors import CycleAugError

    fast = FastConfig(auto=("tf32",))
    with pytest.raises(CycleAugError, match="--fast-auto tf32: can search only amp, channels_last, fused_adam"):
        autotune.choose(fast, TINY_MODEL, 32, 1, Comm(DistEnv(), CPU))


def _launch(n: int, backend: str, argv: list) -> list[str]:
    return [sys.executable, "-m", "cycleaug.launch", "--nproc", str(n), "--backend", backend, "--", *map(str, argv)]


@pytest.mark.parametrize("backend", ["torch", pytest.param("horovod", marks=pytest.mark.horovod)])
def test_two_ranks_train_with_rank_0s_choice_and_a_rerun_reads_the_cache(crops, tmp_path, backend):  # noqa: F811
    if backend == "horovod":
        pytest.importorskip("horovod.torch", reason="horovod not installed (make horovod)")
    cache = tmp_path / "fast_path.json"
    extra = ["--n-epochs", "1", "--n-epochs-decay", "0", "--shard-scale", "1", "--backend", backend]
    auto = ["--fast-auto", *SEARCHABLE, "--fast-cache", cache]
    cmd = _launch(2, backend, ["cycleaug", *_args(crops, tmp_path / "run", *extra, *auto)])
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "fast path auto: timing" in proc.stderr and "fast path auto: chose" in proc.stderr
    (entry,) = json.loads(cache.read_text()).values()
    # The run trained with the cached choice (its checkpoint records the switches that ran).
    state = torch.load(tmp_path / "run" / "checkpoints" / "latest.pt", weights_only=True)
    fast = state["config"]["fast"]
    assert {k: fast[k] for k in SEARCHABLE} == entry["choice"] and fast["auto"] == []
    # A second run on this device and size skips the search.
    cmd = _launch(2, backend, ["cycleaug", *_args(crops, tmp_path / "run2", *extra, *auto)])
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert again.returncode == 0, again.stderr[-4000:]
    assert "fast path auto: timing" not in again.stderr and f"cached in {cache}" in again.stderr
