"""Helper for tests/test_cyclegan_distributed.py, run by each process of `python -m cycleaug.launch`:

    python tests/cyclegan_step.py OUT.pt BACKEND STEPS

Builds the tiny test CycleGAN (pool off, float64), takes sample `rank` of a fixed batch of two, runs
STEPS training steps with the backend's allreduce and has rank 0 save the four nets to OUT.pt.
"""

import sys

import torch

from cycleaug.cyclegan.distributed import setup
from cycleaug.cyclegan.model import CycleGAN, ModelConfig

CONFIG = ModelConfig(ngf=4, ndf=4, n_blocks=1, pool_size=0)


def batch():
    g = torch.Generator().manual_seed(123)
    return torch.rand(2, 3, 32, 32, generator=g) * 2 - 1, torch.rand(2, 3, 32, 32, generator=g) * 2 - 1


def main(out: str, backend: str, steps: int) -> None:
    torch.set_num_threads(1)
    torch.set_default_dtype(torch.float64)
    comm = setup(backend, "cpu")
    assert comm.world_size == 2, comm.world_size
    model = CycleGAN(CONFIG, comm, seed=0)
    model.broadcast()
    a, b = batch()
    r = comm.rank
    for _ in range(steps):
        model.step(a[r:r + 1], b[r:r + 1])
    if r == 0:
        torch.save({name: net.state_dict() for name, net in model.nets.items()}, out)
    comm.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
