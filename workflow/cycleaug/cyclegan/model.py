"""The CycleGAN objective and one optimisation step, as the reference's CycleGANModel
(junyanz/pytorch-CycleGAN-and-pix2pix, models/cycle_gan_model.py, ``optimize_parameters``):

- G_A: A -> B, G_B: B -> A; D_A judges B-domain images, D_B A-domain images.
- LSGAN: MSE against 1 (real) / 0 (fake) over the PatchGAN map (reference ``--gan_mode lsgan``).
- Cycle losses L1 x lambda (10 for both directions), identity losses L1 x lambda x lambda_identity (0.5).
- One Adam for both generators, one for both discriminators, lr 2e-4, betas (0.5, 0.999).
- G step with the discriminators frozen; then the D step on the fakes of the same forward pass
  (drawn through the 50-image pools) with each D loss (real + fake) x 0.5.

Every loss is a mean over the batch (and pixels), so with data parallelism the average of the
per-process gradients equals the gradient of the global batch: allreduce-average is exact.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from cycleaug.cyclegan.distributed import Comm
from cycleaug.cyclegan.networks import NLayerDiscriminator, ResnetGenerator, init_weights
from cycleaug.cyclegan.pool import ImagePool

LOSS_NAMES = ("G_A", "G_B", "D_A", "D_B", "cycle_A", "cycle_B", "idt_A", "idt_B")


@dataclass
class ModelConfig:
    """Network and objective hyper-parameters (reference defaults; paper: "follow Zhu's implementation")."""

    ngf: int = 64
    ndf: int = 64
    n_blocks: int = 9
    lr: float = 0.0002
    beta1: float = 0.5
    lambda_cycle: float = 10.0
    lambda_identity: float = 0.5
    pool_size: int = 50


def lsgan(pred: torch.Tensor, real: bool) -> torch.Tensor:
    return F.mse_loss(pred, torch.full_like(pred, 1.0 if real else 0.0))


def set_requires_grad(nets: list[nn.Module], flag: bool) -> None:
    for net in nets:
        for p in net.parameters():
            p.requires_grad_(flag)


class CycleGAN:
    def __init__(self, cfg: ModelConfig, comm: Comm, seed: int = 0):
        self.cfg, self.comm, self.device = cfg, comm, comm.device
        # The same seed on every rank gives the same initial weights; they are broadcast from rank 0 anyway.
        torch.manual_seed(seed)
        self.G_A = init_weights(ResnetGenerator(3, 3, cfg.ngf, cfg.n_blocks)).to(self.device)
        self.G_B = init_weights(ResnetGenerator(3, 3, cfg.ngf, cfg.n_blocks)).to(self.device)
        self.D_A = init_weights(NLayerDiscriminator(3, cfg.ndf)).to(self.device)
        self.D_B = init_weights(NLayerDiscriminator(3, cfg.ndf)).to(self.device)
        betas = (cfg.beta1, 0.999)
        opt_G = torch.optim.Adam(itertools.chain(self.G_A.parameters(), self.G_B.parameters()), lr=cfg.lr, betas=betas)
        opt_D = torch.optim.Adam(itertools.chain(self.D_A.parameters(), self.D_B.parameters()), lr=cfg.lr, betas=betas)
        self.opt_G = comm.wrap_optimizer(opt_G, {"G_A": self.G_A, "G_B": self.G_B})
        self.opt_D = comm.wrap_optimizer(opt_D, {"D_A": self.D_A, "D_B": self.D_B})
        # Each rank keeps its own pools (as each horovod process of the paper did).
        self.pool_A = ImagePool(cfg.pool_size, seed=hash_seed(seed, comm.rank, "pool_A"))
        self.pool_B = ImagePool(cfg.pool_size, seed=hash_seed(seed, comm.rank, "pool_B"))

    @property
    def nets(self) -> dict[str, nn.Module]:
        return {"G_A": self.G_A, "G_B": self.G_B, "D_A": self.D_A, "D_B": self.D_B}

    def broadcast(self) -> None:
        self.comm.broadcast(self.nets.values(), [self.opt_G, self.opt_D])

    def set_lr(self, lr: float) -> None:
        for opt in (self.opt_G, self.opt_D):
            for group in opt.param_groups:
                group["lr"] = lr

    def step(self, real_A: torch.Tensor, real_B: torch.Tensor) -> dict[str, torch.Tensor]:
        """One G update and one D update; returns the eight losses (detached scalars)."""
        cfg = self.cfg
        G_A, G_B, D_A, D_B = self.G_A, self.G_B, self.D_A, self.D_B
        fake_B = G_A(real_A)
        rec_A = G_B(fake_B)
        fake_A = G_B(real_B)
        rec_B = G_A(fake_A)

        # Generators, discriminators frozen.
        set_requires_grad([D_A, D_B], False)
        self.opt_G.zero_grad()  # set_to_none, the torch 2 default (horovod wraps it without the argument)
        if cfg.lambda_identity > 0:
            idt_A = F.l1_loss(G_A(real_B), real_B) * cfg.lambda_cycle * cfg.lambda_identity
            idt_B = F.l1_loss(G_B(real_A), real_A) * cfg.lambda_cycle * cfg.lambda_identity
        else:
            idt_A = idt_B = torch.zeros((), device=self.device)
        loss_G_A = lsgan(D_A(fake_B), True)
        loss_G_B = lsgan(D_B(fake_A), True)
        cycle_A = F.l1_loss(rec_A, real_A) * cfg.lambda_cycle
        cycle_B = F.l1_loss(rec_B, real_B) * cfg.lambda_cycle
        (loss_G_A + loss_G_B + cycle_A + cycle_B + idt_A + idt_B).backward()
        self.comm.average_gradients(itertools.chain(G_A.parameters(), G_B.parameters()))
        self.opt_G.step()

        # Discriminators, on this step's fakes through the pools; the reference halves each D loss.
        set_requires_grad([D_A, D_B], True)
        self.opt_D.zero_grad()
        fake_B_seen = self.pool_B.query(fake_B.detach())
        loss_D_A = (lsgan(D_A(real_B), True) + lsgan(D_A(fake_B_seen), False)) * 0.5
        fake_A_seen = self.pool_A.query(fake_A.detach())
        loss_D_B = (lsgan(D_B(real_A), True) + lsgan(D_B(fake_A_seen), False)) * 0.5
        (loss_D_A + loss_D_B).backward()
        self.comm.average_gradients(itertools.chain(D_A.parameters(), D_B.parameters()))
        self.opt_D.step()

        losses = (loss_G_A, loss_G_B, loss_D_A, loss_D_B, cycle_A, cycle_B, idt_A, idt_B)
        return {name: v.detach() for name, v in zip(LOSS_NAMES, losses)}

    # --- checkpoint state ------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        return {
            "nets": {name: net.state_dict() for name, net in self.nets.items()},
            "optimizers": {"G": self.opt_G.state_dict(), "D": self.opt_D.state_dict()},
            "pools": {"A": self.pool_A.state_dict(), "B": self.pool_B.state_dict()},
        }

    def load_state_dict(self, state: dict[str, Any], pools: bool = True) -> None:
        for name, net in self.nets.items():
            net.load_state_dict(state["nets"][name])
        self.opt_G.load_state_dict(state["optimizers"]["G"])
        self.opt_D.load_state_dict(state["optimizers"]["D"])
        if pools:
            self.pool_A.load_state_dict(state["pools"]["A"], self.device)
            self.pool_B.load_state_dict(state["pools"]["B"], self.device)


def hash_seed(*parts: Any) -> int:
    """A stable 63-bit seed from several parts (Python's hash() of str is salted per process)."""
    import hashlib

    digest = hashlib.sha256(repr(parts).encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1
