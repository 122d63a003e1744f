"""CycleGAN's ResNet generator and 70x70 PatchGAN discriminator, laid out module for module as in
Zhu et al.'s reference implementation (junyanz/pytorch-CycleGAN-and-pix2pix, models/networks.py:
ResnetGenerator, ResnetBlock, NLayerDiscriminator with norm="instance"), so that state-dict keys
(``model.1.weight``, ``model.10.conv_block.1.weight``, ...) and shapes are identical and the
reference's ``{epoch}_net_G_A.pth`` files load unchanged.

Facts taken from the reference (and the CycleGAN paper, Zhu et al. 2017, appendix 7.2):
- InstanceNorm2d with affine=False and no running statistics, so every conv before a norm carries
  a bias (the reference sets ``use_bias`` when the norm is InstanceNorm).
- Generator: c7s1-ngf, d2ngf, d4ngf, n x R4ngf, u2ngf, u1ngf, c7s1-3, tanh; 9 blocks at 256 px,
  6 at 128 px; no dropout for CycleGAN. ngf=64, 9 blocks: 11,378,179 parameters.
- Discriminator: C64 (no norm) - C128 - C256 - C512 (stride 1) - conv to 1 channel, 4x4 kernels,
  padding 1, LeakyReLU 0.2. ndf=64: 2,764,737 parameters.
- Weights N(0, 0.02), biases 0 (init_weights(init_type="normal", gain=0.02)).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from cycleaug.errors import CycleAugError


def _norm(channels: int) -> nn.InstanceNorm2d:
    return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)


class ResnetBlock(nn.Module):
    """x + [reflect-pad 1, conv 3x3, IN, ReLU, reflect-pad 1, conv 3x3, IN](x); indices 0..6 as in the reference."""

    def __init__(self, dim: int):
        super().__init__()
        self.conv_block = nn.Sequential(
            nn.ReflectionPad2d(1),
            nn.Conv2d(dim, dim, kernel_size=3, padding=0, bias=True),
            _norm(dim),
            nn.ReLU(True),
            nn.ReflectionPad2d(1),
            nn.Conv2d(dim, dim, kernel_size=3, padding=0, bias=True),
            _norm(dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


class ResnetGenerator(nn.Module):
    """Sequential ``model``: 0 pad, 1 conv7, 2 IN, 3 ReLU, 4-6 and 7-9 stride-2 convs, 10.. residual
    blocks, then two transposed convs (each with IN, ReLU), pad, conv7, tanh."""

    def __init__(self, input_nc: int = 3, output_nc: int = 3, ngf: int = 64, n_blocks: int = 9):
        super().__init__()
        if n_blocks < 0:
            raise ValueError(f"n_blocks={n_blocks}: expected >= 0")
        self.ngf, self.n_blocks = ngf, n_blocks
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(input_nc, ngf, kernel_size=7, padding=0, bias=True),
            _norm(ngf),
            nn.ReLU(True),
        ]
        for i in range(2):  # two down-samplings
            mult = 2**i
            layers += [
                nn.Conv2d(ngf * mult, ngf * mult * 2, kernel_size=3, stride=2, padding=1, bias=True),
                _norm(ngf * mult * 2),
                nn.ReLU(True),
            ]
        layers += [ResnetBlock(ngf * 4) for _ in range(n_blocks)]
        for i in range(2):  # two up-samplings
            mult = 2 ** (2 - i)
            layers += [
                nn.ConvTranspose2d(
                    ngf * mult, ngf * mult // 2, kernel_size=3, stride=2, padding=1, output_padding=1, bias=True
                ),
                _norm(ngf * mult // 2),
                nn.ReLU(True),
            ]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, kernel_size=7, padding=0), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class NLayerDiscriminator(nn.Module):
    """70x70 PatchGAN (n_layers=3): 0 conv, 1 LReLU, 2-4, 5-7 conv/IN/LReLU stride 2, 8-10 stride 1, 11 conv to 1."""

    def __init__(self, input_nc: int = 3, ndf: int = 64, n_layers: int = 3):
        super().__init__()
        layers: list[nn.Module] = [
            nn.Conv2d(input_nc, ndf, kernel_size=4, stride=2, padding=1),
            nn.LeakyReLU(0.2, True),
        ]
        mult = 1
        for n in range(1, n_layers + 1):
            prev, mult = mult, min(2**n, 8)
            stride = 2 if n < n_layers else 1  # the last feature layer keeps the resolution
            layers += [
                nn.Conv2d(ndf * prev, ndf * mult, kernel_size=4, stride=stride, padding=1, bias=True),
                _norm(ndf * mult),
                nn.LeakyReLU(0.2, True),
            ]
        layers += [nn.Conv2d(ndf * mult, 1, kernel_size=4, stride=1, padding=1)]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def init_weights(net: nn.Module, gain: float = 0.02) -> nn.Module:
    """Reference ``init_weights(init_type="normal")``: conv weights N(0, gain), biases 0."""
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return net


def count_parameters(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


# -------------------------------------------------------------------------------------------------
# Reference checkpoints


_STALE_NORM_KEYS = ("running_mean", "running_var", "num_batches_tracked")


def clean_state_dict(state: Mapping[str, torch.Tensor], net: nn.Module) -> dict[str, torch.Tensor]:
    """Drop what our modules do not have but old reference checkpoints carry: InstanceNorm running
    statistics from PyTorch < 0.4 (the reference's BaseModel.__patch_instance_norm_state_dict drops
    them too) and a ``module.`` prefix from DataParallel."""
    norms = {name for name, m in net.named_modules() if isinstance(m, nn.InstanceNorm2d)}
    out = {}
    for key, value in state.items():
        if key.startswith("module."):
            key = key[len("module.") :]
        owner, _, leaf = key.rpartition(".")
        if leaf in _STALE_NORM_KEYS and owner in norms:
            continue
        out[key] = value
    return out


def generator_shape(state: Mapping[str, torch.Tensor], source: object = None) -> dict[str, int]:
    """input_nc, output_nc, ngf and n_blocks of a ResnetGenerator state dict (ours or the reference's)."""
    where = f"{source}: " if source is not None else ""
    state = {k.removeprefix("module."): v for k, v in state.items()}
    first = state.get("model.1.weight")
    if not isinstance(first, torch.Tensor) or first.dim() != 4:
        raise CycleAugError(
            f"{where}no 4-d tensor 'model.1.weight': not a ResNet generator state dict "
            "(expected keys like model.1.weight, model.10.conv_block.1.weight)"
        )
    try:
        blocks = {int(k.split(".")[1]) for k in state if ".conv_block." in k}
        last = max(int(k.split(".")[1]) for k in state if k.startswith("model."))
        output_nc = state[f"model.{last}.weight"].shape[0]
    except (KeyError, ValueError, IndexError, AttributeError) as exc:
        raise CycleAugError(
            f"{where}not a ResNet generator state dict (keys model.<index>.weight expected; {exc!r})"
        ) from None
    return {"input_nc": first.shape[1], "output_nc": output_nc, "ngf": first.shape[0], "n_blocks": len(blocks)}


def _shape(t) -> str:
    return "x".join(map(str, t.shape)) if isinstance(t, torch.Tensor) else type(t).__name__


def check_state_dict(state: Mapping[str, torch.Tensor], net: nn.Module, source: object = None, what: str = "") -> None:
    """Raise CycleAugError with one line naming ``source`` and the first key that is missing, unexpected or
    of another shape (both shapes), before anything is loaded."""
    where = f"{source}: " if source is not None else ""
    what = f" ({what})" if what else ""
    own = net.state_dict()
    for key, mine in own.items():
        if key not in state:
            raise CycleAugError(f"{where}key {key} is missing; expected the state dict of {type(net).__name__}{what}")
        theirs = state[key]
        if not isinstance(theirs, torch.Tensor) or tuple(theirs.shape) != tuple(mine.shape):
            raise CycleAugError(
                f"{where}{key} has shape {_shape(theirs)}, expected {_shape(mine)} for {type(net).__name__}{what}"
            )
    extra = [k for k in state if k not in own]
    if extra:
        raise CycleAugError(f"{where}unexpected key {extra[0]} for {type(net).__name__}{what}")


def generator_from_state_dict(state: Mapping[str, torch.Tensor], source: object = None) -> ResnetGenerator:
    """Build a generator whose width and depth fit ``state`` and load it strictly; errors name ``source``
    (the file) and the first key that does not fit."""
    shape = generator_shape(state, source)
    net = ResnetGenerator(**shape)
    clean = clean_state_dict(state, net)
    check_state_dict(clean, net, source, f"ngf {shape['ngf']}, {shape['n_blocks']} residual blocks")
    net.load_state_dict(clean, strict=True)
    return net
