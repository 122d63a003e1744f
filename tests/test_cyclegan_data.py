"""CycleGAN data: the paper's sharding, the reference's transforms and image pool, the lr schedule,
and the launcher environment detection."""

from __future__ import annotations

import math
import random
from dataclasses import replace

import numpy as np
import pytest
import torch
from cycleaug.cyclegan.data import UnalignedCrops, epoch_plan, load_image, shard_size
from cycleaug.cyclegan.distributed import TorchComm, detect_env
from cycleaug.cyclegan.pool import ImagePool
from cycleaug.cyclegan.settings import ModelConfig, TrainConfig
from cycleaug.cyclegan.train import lr_at
from cycleaug.errors import CycleAugError
from PIL import Image

# ---- sharding (paper Sec. 3.2: each of n processes draws scale x D / n samples, scale 4) ------------


@pytest.mark.parametrize(
    "d,n,scale,expected",
    [
        (4822, 4, 4, 4822),  # the paper's 4-GPU run: every process sees D samples per epoch
        (4822, 512, 4, 38),  # 512 GPUs: ceil(37.67) (FACTS: ~37.7 iterations per epoch)
        (4822, 64, 4, 302),
        (10, 3, 1, 4),
        (10, 1, 2.5, 25),
    ],
)
def test_shard_size(d, n, scale, expected):
    assert shard_size(d, n, scale) == expected == math.ceil(scale * d / n)


def _plan(**kw):
    args = dict(n_a=7, n_b=11, seed=0, epoch=1, rank=0, world_size=4, scale=4)
    args.update(kw)
    n_a, n_b = args.pop("n_a"), args.pop("n_b")
    return epoch_plan(n_a, n_b, **args)


def test_plan_sizes_determinism_and_seeding():
    plan = _plan()
    assert len(plan) == shard_size(11, 4, 4) == 11
    assert plan == _plan()  # same (seed, epoch, rank): same samples, partners and crops
    assert _plan(rank=1) != plan and _plan(epoch=2) != plan and _plan(seed=1) != plan
    for world_size in (1, 2, 3, 5):
        plans = [_plan(world_size=world_size, rank=r) for r in range(world_size)]
        assert all(len(p) == math.ceil(4 * 11 / world_size) for p in plans)


def test_plan_indices():
    # D = max(|A|, |B|) = 11; a draw of k <= D samples repeats none; A wraps around as index mod |A|.
    rng_plan = _plan(world_size=1, scale=1)
    assert len(rng_plan) == 11
    b = [it.b for it in rng_plan]
    assert all(0 <= x < 11 for x in b)
    a = [it.a for it in rng_plan]
    assert sorted(a) == sorted(i % 7 for i in range(11))
    big = _plan(world_size=1, scale=3)  # 33 = three passes over D, each a permutation
    firsts = [it.a for it in big[:11]]
    assert sorted(firsts) == sorted(i % 7 for i in range(11))


# ---- transforms (reference resize_and_crop, flip, Normalize(0.5, 0.5)) ------------------------------


def test_load_image_scales_crops_and_flips(tmp_path):
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)
    Image.fromarray(img).save(tmp_path / "x.png")
    seen_flip = seen_plain = False
    for seed in range(20):
        r = random.Random(seed)
        x, y = r.randint(0, 4), r.randint(0, 4)
        flip = r.random() < 0.5
        t = load_image(tmp_path / "x.png", load_size=20, crop_size=16, rng=random.Random(seed))
        crop = img[y : y + 16, x : x + 16]
        if flip:
            crop = crop[:, ::-1]
        expected = (crop.astype(np.float32) / 255 - 0.5) / 0.5
        assert t.shape == (3, 16, 16) and t.dtype == torch.float32
        np.testing.assert_allclose(t.permute(1, 2, 0).numpy(), expected, atol=1e-6)
        seen_flip |= flip
        seen_plain |= not flip
    assert seen_flip and seen_plain
    # A different load size resizes first (bicubic, as the reference's transforms.Resize).
    t = load_image(tmp_path / "x.png", load_size=36, crop_size=32, rng=random.Random(0))
    assert t.shape == (3, 32, 32) and float(t.min()) >= -1 and float(t.max()) <= 1


def test_dataset_reads_crop_dirs(tmp_path):
    for d, n in (("A", 3), ("B", 5)):
        (tmp_path / d).mkdir()
        for i in range(n):
            Image.fromarray(np.full((8, 8, 3), i * 10, np.uint8)).save(tmp_path / d / f"{i}.png")
    (tmp_path / "A" / "manifest.csv").write_text("not an image\n")
    ds = UnalignedCrops(tmp_path / "A", tmp_path / "B", load_size=8, crop_size=8)
    assert (len(ds.a_paths), len(ds.b_paths), len(ds)) == (3, 5, 5)
    plan = epoch_plan(3, 5, seed=0, epoch=1, rank=0, world_size=1, scale=1)
    item = ds[plan[0]]
    assert float(item["A"][0, 0, 0]) == pytest.approx((plan[0].a * 10 / 255 - 0.5) / 0.5, abs=1e-6)
    assert float(item["B"][0, 0, 0]) == pytest.approx((plan[0].b * 10 / 255 - 0.5) / 0.5, abs=1e-6)
    with pytest.raises(CycleAugError, match="no images"):
        UnalignedCrops(tmp_path / "A", tmp_path, load_size=8, crop_size=8)


# ---- image pool (reference util/image_pool.py) ------------------------------------------------------


def test_image_pool_semantics_and_state():
    assert ImagePool(0).query(t := torch.ones(2, 3, 4, 4)) is t
    pool = ImagePool(3, seed=5)
    first = torch.arange(3.0).view(3, 1, 1, 1).expand(3, 3, 2, 2).contiguous()
    assert torch.equal(pool.query(first), first)  # filling up: the new images come back
    state = pool.state_dict()
    twin = ImagePool(3)
    twin.load_state_dict(state)
    for step in range(20):
        new = torch.full((1, 3, 2, 2), 10.0 + step)
        out, out_twin = pool.query(new), twin.query(new.clone())
        assert torch.equal(out, out_twin)  # a restored pool draws exactly the same
        assert float(out[0, 0, 0, 0]) in {10.0 + step} | {float(x) for x in range(3)} | {10.0 + s for s in range(step)}
    assert len(pool.images) == 3


# ---- learning rate (reference --lr_policy linear, epochs numbered from 1) ---------------------------


def test_lr_schedule_matches_reference():
    cfg = TrainConfig(a_dir="a", b_dir="b", out_dir="o", model=ModelConfig(lr=2e-4), n_epochs=100, n_epochs_decay=100)
    # The reference's LambdaLR after k = e - 1 scheduler steps: 1 - max(0, k + 1 - 100) / 101.
    for epoch in (1, 50, 100, 101, 150, 200):
        k = epoch - 1
        assert lr_at(cfg, epoch) == pytest.approx(2e-4 * (1 - max(0, k + 1 - 100) / 101))
    assert lr_at(cfg, 100) == 2e-4 and lr_at(cfg, 200) == pytest.approx(2e-4 / 101)


# Hand-computed rates for 16 processes against a reference of 4 (k: linear 4, sqrt 2), 10 iterations per
# epoch, warm-up 1.5 epochs (15 iterations: from lr = 1e-3 up by (k - 1) x 1e-3 / 15 per iteration),
# 3 constant epochs then 2 of decay (factor 1 - (e - 3) / 3 in epoch e > 3).
HAND = {
    # (epoch, iteration): (none, linear, sqrt), in units of 1e-3
    (1, 0): (1, 1, 1),
    (1, 1): (1, 1 + 3 / 15, 1 + 1 / 15),
    (1, 9): (1, 1 + 27 / 15, 1 + 9 / 15),
    (2, 0): (1, 1 + 30 / 15, 1 + 10 / 15),
    (2, 4): (1, 1 + 42 / 15, 1 + 14 / 15),
    (2, 5): (1, 4, 2),  # iteration 15: the warm-up is over
    (3, 9): (1, 4, 2),
    (4, 0): (2 / 3, 8 / 3, 4 / 3),
    (5, 9): (1 / 3, 4 / 3, 2 / 3),
}


@pytest.mark.parametrize("rule", ["none", "linear", "sqrt"])
def test_lr_scaling_and_warmup_by_hand(rule):
    cfg = TrainConfig(
        a_dir="a",
        b_dir="b",
        out_dir="o",
        model=ModelConfig(lr=1e-3),
        n_epochs=3,
        n_epochs_decay=2,
        lr_scaling=rule,
        lr_reference_gpus=4,
        warmup_epochs=1.5,
    )
    column = ["none", "linear", "sqrt"].index(rule)
    for (epoch, iteration), rates in HAND.items():
        assert lr_at(cfg, epoch, iteration, 16, 10) == pytest.approx(rates[column] * 1e-3, rel=1e-12), (
            epoch,
            iteration,
        )
    # At the reference count every rule is the paper's rate, warm-up or not.
    assert all(lr_at(cfg, e, i, 4, 10) == lr_at(replace(cfg, lr_scaling="none"), e, i, 4, 10) for e, i in HAND)


# ---- launcher detection -----------------------------------------------------------------------------


def test_detect_env(tmp_path, monkeypatch):
    assert detect_env({}).launcher == "single" and detect_env({}).world_size == 1
    nodefile = tmp_path / "nodes"
    nodefile.write_text("g0001\ng0001\ng0002\n")
    env = detect_env(
        {
            "OMPI_COMM_WORLD_RANK": "5",
            "OMPI_COMM_WORLD_SIZE": "8",
            "OMPI_COMM_WORLD_LOCAL_RANK": "1",
            "PBS_NODEFILE": str(nodefile),
        }
    )
    assert (env.launcher, env.rank, env.world_size, env.local_rank, env.master_addr) == ("mpirun", 5, 8, 1, "g0001")
    env = detect_env(
        {
            "OMPI_COMM_WORLD_RANK": "0",
            "OMPI_COMM_WORLD_SIZE": "2",
            "MASTER_ADDR": "h1",
            "MASTER_PORT": "1234",
            "PBS_NODEFILE": str(nodefile),
        }
    )
    assert (env.master_addr, env.master_port) == ("h1", 1234)  # an exported MASTER_ADDR wins
    env = detect_env({"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "3", "MASTER_ADDR": "127.0.0.1"})
    assert (env.launcher, env.rank, env.world_size, env.local_rank) == ("torchrun", 3, 4, 3)
    env = detect_env({"HOROVOD_RANK": "1", "HOROVOD_SIZE": "2", "HOROVOD_LOCAL_RANK": "1"})
    assert (env.launcher, env.rank, env.world_size) == ("horovodrun", 1, 2)
    with pytest.raises(CycleAugError, match="rank 4 of world size 4"):
        detect_env({"RANK": "4", "WORLD_SIZE": "4"})
    # Slurm: a task of an srun step (the step's task count); the batch script, which has SLURM_PROCID 0 and
    # the job's SLURM_NTASKS but no step, is a single process.
    batch = {"SLURM_JOB_ID": "7", "SLURM_PROCID": "0", "SLURM_NTASKS": "8", "SLURM_LOCALID": "0"}
    assert detect_env(batch).launcher == "single"
    step = {**batch, "SLURM_STEP_ID": "0", "SLURM_PROCID": "5", "SLURM_STEP_NUM_TASKS": "6", "SLURM_LOCALID": "1"}
    env = detect_env({**step, "MASTER_ADDR": "gpu01"})
    assert (env.launcher, env.rank, env.world_size, env.local_rank, env.master_addr) == ("srun", 5, 6, 1, "gpu01")
    # Without MASTER_ADDR the step's first host comes from scontrol (the real Slurm test sees it); where scontrol
    # cannot run there is none, whichever variables gave the rank (srun --mpi=pmi2 sets PMI_RANK too), and the
    # torch backend says so in one line.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))
    step = {**step, "SLURM_STEP_NODELIST": "gpu[01-02]"}
    pmi2 = {**step, "PMI_RANK": "5", "PMI_SIZE": "6"}
    scontrol = bin_dir / "scontrol"
    scontrol.write_text('#!/bin/sh\n[ "$*" = "show hostnames gpu[01-02]" ] && printf "gpu01\\ngpu02\\n"\n')
    scontrol.chmod(0o755)
    assert detect_env(step).master_addr == detect_env(pmi2).master_addr == "gpu01"
    scontrol.unlink()
    assert detect_env(step).master_addr is None
    assert (detect_env(pmi2).rank, detect_env(pmi2).world_size, detect_env(pmi2).master_addr) == (5, 6, None)
    with pytest.raises(CycleAugError, match="MASTER_ADDR is not set .* srun step's node list"):
        TorchComm(detect_env(step), torch.device("cpu"))
