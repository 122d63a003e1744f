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

import contextlib
import itertools
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from cycleaug.cyclegan.data import normalize
from cycleaug.cyclegan.distributed import Comm
from cycleaug.cyclegan.networks import NLayerDiscriminator, ResnetGenerator, init_weights
from cycleaug.cyclegan.pool import ImagePool
from cycleaug.cyclegan.settings import AMP_MODES, FastConfig, ModelConfig

LOSS_NAMES = ("G_A", "G_B", "D_A", "D_B", "cycle_A", "cycle_B", "idt_A", "idt_B")


def resolve_amp(amp: str, device: torch.device) -> torch.dtype | None:
    if amp not in AMP_MODES:
        raise ValueError(f"amp={amp!r}: expected one of {', '.join(AMP_MODES)}")
    if amp == "auto":
        if device.type == "cuda":
            # including_emulation=False: torch's default (True) says yes on a V100 too, where bf16
            # convolutions are emulated and slower than float32.
            return torch.bfloat16 if torch.cuda.is_bf16_supported(including_emulation=False) else None
        cpu = getattr(torch, "cpu", None)
        native = any(getattr(cpu, f, lambda: False)() for f in ("_is_amx_tile_supported", "_is_avx512_bf16_supported"))
        return torch.bfloat16 if native else None
    return {"none": None, "bf16": torch.bfloat16, "fp16": torch.float16}[amp]


def set_fp32_precision(tf32: bool) -> None:
    """How CUDA runs float32 convolutions and matrix products: TF32 or IEEE float32 (process-wide)."""
    mode = "tf32" if tf32 else "ieee"
    torch.backends.cudnn.conv.fp32_precision = mode
    torch.backends.cuda.matmul.fp32_precision = mode


def precision_label(device: torch.device, amp_dtype: torch.dtype | None, tf32: bool) -> str:
    """What a run computes in, for its log: e.g. "bf16 autocast, float32 in IEEE" on a GPU."""
    amp = {None: "float32", torch.bfloat16: "bf16 autocast", torch.float16: "fp16 autocast + loss scaling"}[amp_dtype]
    if device.type != "cuda":
        return amp
    return f"{amp}, float32 convolutions/matmuls in {'TF32' if tf32 else 'IEEE float32'}"


class ChannelGroupNorm(nn.Module):
    """InstanceNorm2d(affine=False, track_running_stats=False) computed as group_norm with C groups:
    identical statistics (mean and biased variance per sample and channel, eps 1e-5), no parameters."""

    def __init__(self, eps: float = 1e-5):
        super().__init__()
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.group_norm(x, x.shape[1], eps=self.eps)
        nhwc = torch.channels_last
        if x.is_contiguous(memory_format=nhwc) and not y.is_contiguous(memory_format=nhwc):
            # CUDA's group_norm may return NCHW for an NHWC input, which would leave every layer after the
            # first norm in NCHW; the same values, laid out for the next convolution again (cyclegan.fast
            # auto times channels_last with this copy on the device and keeps it only where it pays).
            y = y.contiguous(memory_format=nhwc)
        return y


def swap_instance_norms(net: nn.Module) -> nn.Module:
    """Replace every parameter-free InstanceNorm2d of ``net`` by :class:`ChannelGroupNorm` (in place).
    The state dict is unchanged: those norms hold no parameters or buffers."""
    for name, child in list(net.named_children()):
        if isinstance(child, nn.InstanceNorm2d) and not child.affine and not child.track_running_stats:
            setattr(net, name, ChannelGroupNorm(child.eps))
        else:
            swap_instance_norms(child)
    return net


def _wide(x: torch.Tensor) -> torch.Tensor:
    """Half-precision (autocast) outputs to float32 for the losses; float32/64 unchanged."""
    return x.float() if x.dtype in (torch.bfloat16, torch.float16) else x


def lsgan(pred: torch.Tensor, real: bool) -> torch.Tensor:
    pred = _wide(pred)
    return F.mse_loss(pred, torch.full_like(pred, 1.0 if real else 0.0))


def l1(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.l1_loss(_wide(x), _wide(y))


def set_requires_grad(nets: list[nn.Module], flag: bool) -> None:
    for net in nets:
        for p in net.parameters():
            p.requires_grad_(flag)


class CycleGAN:
    def __init__(self, cfg: ModelConfig, comm: Comm, seed: int = 0, fast: FastConfig | None = None):
        self.cfg, self.comm, self.device = cfg, comm, comm.device
        self.fast = fast = fast or FastConfig()
        self.amp_dtype = resolve_amp(fast.amp, self.device)
        # The same seed on every rank gives the same initial weights; they are broadcast from rank 0 anyway.
        torch.manual_seed(seed)
        self.G_A = init_weights(ResnetGenerator(3, 3, cfg.ngf, cfg.n_blocks)).to(self.device)
        self.G_B = init_weights(ResnetGenerator(3, 3, cfg.ngf, cfg.n_blocks)).to(self.device)
        self.D_A = init_weights(NLayerDiscriminator(3, cfg.ndf)).to(self.device)
        self.D_B = init_weights(NLayerDiscriminator(3, cfg.ndf)).to(self.device)
        if fast.channels_last:  # NHWC activations only (see FastConfig): the parameters stay contiguous
            for net in self.nets.values():
                swap_instance_norms(net)
        if self.device.type == "cuda":
            set_fp32_precision(fast.tf32)
        self.precision = precision_label(self.device, self.amp_dtype, fast.tf32)
        betas = (cfg.beta1, 0.999)
        # fused=None lets torch pick its default (foreach on CUDA, the per-tensor loop on CPU): the reference.
        adam = {"lr": cfg.lr, "betas": betas, **({"fused": True} if fast.fused_adam else {})}
        opt_G = torch.optim.Adam(itertools.chain(self.G_A.parameters(), self.G_B.parameters()), **adam)
        opt_D = torch.optim.Adam(itertools.chain(self.D_A.parameters(), self.D_B.parameters()), **adam)
        self.opt_G = comm.wrap_optimizer(opt_G, {"G_A": self.G_A, "G_B": self.G_B})
        self.opt_D = comm.wrap_optimizer(opt_D, {"D_A": self.D_A, "D_B": self.D_B})
        # Each rank keeps its own pools (as each horovod process of the paper did).
        self.pool_A = ImagePool(cfg.pool_size, seed=hash_seed(seed, comm.rank, "pool_A"))
        self.pool_B = ImagePool(cfg.pool_size, seed=hash_seed(seed, comm.rank, "pool_B"))
        # fp16 needs loss scaling (its range is too small for some gradients); bf16 does not.
        self.scaler = torch.amp.GradScaler(self.device.type) if self.amp_dtype == torch.float16 else None
        self.fw = dict(self.nets)  # what step() calls: the nets or their compiled forms
        if fast.compile:
            self.fw = {name: torch.compile(net) for name, net in self.nets.items()}

    def autocast(self):
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """A batch on this model's device and memory format. A uint8 batch (the image cache's) is scaled
        to [-1, 1] after the copy, so a GPU receives a quarter of the bytes."""
        x = x.to(self.device, non_blocking=True)
        if x.dtype == torch.uint8:
            x = normalize(x)
        return self._layout(x)

    def _layout(self, x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(memory_format=torch.channels_last) if self.fast.channels_last else x

    def _update(self, loss: torch.Tensor, opt, params) -> None:
        """backward, allreduce-average, optimizer step (through the fp16 scaler when there is one; its
        scale is updated once per iteration, after both steps, in step())."""
        self.comm.begin_backward(params)  # the torch backend starts allreduces as gradients arrive
        if self.scaler is None:
            loss.backward()
            self.comm.average_gradients(params)
            opt.step()
            return
        self.scaler.scale(loss).backward()
        self.comm.average_gradients(params)  # an inf on any rank becomes inf everywhere: all skip alike
        if hasattr(opt, "synchronize"):  # horovod: average first, then unscale, step without averaging again
            opt.synchronize()
            self.scaler.unscale_(opt)
            with opt.skip_synchronize():
                self.scaler.step(opt)
        else:
            self.scaler.step(opt)

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
        G_A, G_B, D_A, D_B = (self.fw[k] for k in ("G_A", "G_B", "D_A", "D_B"))
        with self.autocast():
            fake_B = G_A(real_A)
            rec_A = G_B(fake_B)
            fake_A = G_B(real_B)
            rec_B = G_A(fake_A)

        # Generators, discriminators frozen.
        set_requires_grad([self.D_A, self.D_B], False)
        self.opt_G.zero_grad()  # set_to_none, the torch 2 default (horovod wraps it without the argument)
        with self.autocast():  # net outputs in the autocast dtype; the losses below in float32
            idt_out = (G_A(real_B), G_B(real_A)) if cfg.lambda_identity > 0 else None
            pred_A, pred_B = D_A(fake_B), D_B(fake_A)
        if idt_out is not None:
            idt_A = l1(idt_out[0], real_B) * cfg.lambda_cycle * cfg.lambda_identity
            idt_B = l1(idt_out[1], real_A) * cfg.lambda_cycle * cfg.lambda_identity
        else:
            idt_A = idt_B = torch.zeros((), device=self.device)
        loss_G_A = lsgan(pred_A, True)
        loss_G_B = lsgan(pred_B, True)
        cycle_A = l1(rec_A, real_A) * cfg.lambda_cycle
        cycle_B = l1(rec_B, real_B) * cfg.lambda_cycle
        self._update(
            loss_G_A + loss_G_B + cycle_A + cycle_B + idt_A + idt_B,
            self.opt_G,
            list(itertools.chain(self.G_A.parameters(), self.G_B.parameters())),
        )

        # Discriminators, on this step's fakes through the pools; the reference halves each D loss.
        # The pools keep float32 images whatever the autocast dtype (a checkpoint does not depend on it).
        set_requires_grad([self.D_A, self.D_B], True)
        self.opt_D.zero_grad()
        fake_B_seen = self._layout(self.pool_B.query(fake_B.detach().to(real_A.dtype)))
        fake_A_seen = self._layout(self.pool_A.query(fake_A.detach().to(real_B.dtype)))
        with self.autocast():
            preds = D_A(real_B), D_A(fake_B_seen), D_B(real_A), D_B(fake_A_seen)
        loss_D_A = (lsgan(preds[0], True) + lsgan(preds[1], False)) * 0.5
        loss_D_B = (lsgan(preds[2], True) + lsgan(preds[3], False)) * 0.5
        self._update(
            loss_D_A + loss_D_B, self.opt_D, list(itertools.chain(self.D_A.parameters(), self.D_B.parameters()))
        )
        if self.scaler is not None:
            # Once per iteration, after every optimizer that used this scale has stepped (torch's AMP
            # examples, "working with multiple models, losses, and optimizers"): an inf in either step
            # lowers the scale once, and growth counts iterations, not optimizer steps.
            self.scaler.update()

        losses = (loss_G_A, loss_G_B, loss_D_A, loss_D_B, cycle_A, cycle_B, idt_A, idt_B)
        return {name: v.detach() for name, v in zip(LOSS_NAMES, losses)}

    # --- checkpoint state ------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        return {
            "nets": {name: net.state_dict() for name, net in self.nets.items()},
            "optimizers": {"G": self.opt_G.state_dict(), "D": self.opt_D.state_dict()},
            "pools": {"A": self.pool_A.state_dict(), "B": self.pool_B.state_dict()},
            **({"scaler": self.scaler.state_dict()} if self.scaler is not None else {}),
        }

    def load_state_dict(self, state: dict[str, Any], pools: bool = True) -> None:
        for name, net in self.nets.items():
            net.load_state_dict(state["nets"][name])
        self.opt_G.load_state_dict(state["optimizers"]["G"])
        self.opt_D.load_state_dict(state["optimizers"]["D"])
        if self.scaler is not None and "scaler" in state:
            self.scaler.load_state_dict(state["scaler"])
        if pools:
            self.pool_A.load_state_dict(state["pools"]["A"], self.device)
            self.pool_B.load_state_dict(state["pools"]["B"], self.device)


def hash_seed(*parts: Any) -> int:
    """A stable 63-bit seed from several parts (Python's hash() of str is salted per process)."""
    import hashlib

    digest = hashlib.sha256(repr(parts).encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1
