"""Helper for tests/test_cyclegan_distributed.py, run by each process of a launcher (`python -m
cycleaug.launch`, `horovodrun --gloo`, the ABCI profile's mpirun line):

    python tests/cyclegan_step.py OUT.pt BACKEND STEPS [SPEC_JSON]

Builds the tiny test CycleGAN (pool off), takes sample `rank` of a fixed batch of two, runs STEPS
training steps with the backend's allreduce and has rank 0 save the four nets to OUT.pt, and to
OUT.pt.comm.json what the job was (launcher, horovod's controller) and did (allreduces during backward).

SPEC_JSON (default: the plain path in float64 on random images) names the switches under test:
``{"dtype": "float32", "fast": {FastConfig fields}, "compression": "none", "cache_images": true,
"crops": DIR, "bucket_bytes": N}``; with ``crops`` the batch is read from DIR/A and DIR/B by the trainer's own dataset
(UnalignedCrops, its image cache when ``cache_images``) and goes through ``CycleGAN.prepare``.
"""

import json
import sys

import torch
from cycleaug.cyclegan.data import Item, UnalignedCrops
from cycleaug.cyclegan.distributed import setup
from cycleaug.cyclegan.model import CycleGAN
from cycleaug.cyclegan.settings import FastConfig, ModelConfig

CONFIG = ModelConfig(ngf=4, ndf=4, n_blocks=1, pool_size=0)
SIZE = 32
# Two fixed items: A index, B partner, seed of the crop/flip draws.
ITEMS = (Item(0, 1, 11), Item(1, 0, 22))


def batch(spec: dict | None = None):
    """The fixed batch of two: (A, B) as the trainer's loader would give them (uint8 from the cache)."""
    spec = spec or {}
    if "crops" not in spec:
        g = torch.Generator().manual_seed(123)
        return torch.rand(2, 3, SIZE, SIZE, generator=g) * 2 - 1, torch.rand(2, 3, SIZE, SIZE, generator=g) * 2 - 1
    data = UnalignedCrops(
        f"{spec['crops']}/A",
        f"{spec['crops']}/B",
        load_size=SIZE + 4,
        crop_size=SIZE,
        cache=spec.get("cache_images", False),
    )
    items = [data[item] for item in ITEMS]
    return torch.stack([i["A"] for i in items]), torch.stack([i["B"] for i in items])


def model_for(comm, spec: dict | None = None) -> CycleGAN:
    return CycleGAN(CONFIG, comm, seed=0, fast=FastConfig(**(spec or {}).get("fast", {})))


def train_steps(model: CycleGAN, a: torch.Tensor, b: torch.Tensor, steps: int) -> None:
    for _ in range(steps):
        model.step(model.prepare(a), model.prepare(b))


def main(out: str, backend: str, steps: int, spec: dict) -> None:
    torch.set_num_threads(1)
    torch.set_default_dtype(getattr(torch, spec.get("dtype", "float64")))
    extra = {"bucket_bytes": spec["bucket_bytes"]} if "bucket_bytes" in spec else {}
    comm = setup(backend, "cpu", compression=spec.get("compression", "none"), **extra)
    assert comm.world_size == 2, comm.world_size
    model = model_for(comm, spec)
    model.broadcast()
    a, b = batch(spec)
    r = comm.rank
    train_steps(model, a[r : r + 1], b[r : r + 1], steps)
    if r == 0:
        torch.save({name: net.state_dict() for name, net in model.nets.items()}, out)
        # What the last backward did with the gradient allreduces (buckets, how many started in backward).
        with open(f"{out}.comm.json", "w") as f:
            hvd = getattr(comm, "hvd", None)
            controller = ("mpi" if hvd.mpi_enabled() else "gloo") if hvd else None
            info = {
                "overlaps_backward": comm.overlaps_backward,
                "launcher": comm.env.launcher,
                "controller": controller,
            }
            json.dump({**info, **getattr(comm, "last_backward", {})}, f)
    comm.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), json.loads(sys.argv[4]) if len(sys.argv) > 4 else {})
