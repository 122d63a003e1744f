"""The darknet network as a PyTorch module, layer for layer as darknet builds it from a cfg.

Per layer (AlexeyAB/darknet ``src/*_layer.c``):

- ``[convolutional]``: conv (no bias when ``batch_normalize=1``: the BN beta plays that role, as in
  darknet's ``biases`` array), then BN, then the activation. BN eps 1e-5 (darknet's cuDNN path,
  ``src/convolutional_kernels.cu``) and running averages updated as ``0.99 * old + 0.01 * batch``
  (``src/batchnorm_layer.c``), i.e. PyTorch momentum 0.01. ``leaky`` is max(x, 0.1 x).
- ``[shortcut]``: previous output + output of layer ``from``, then its activation (linear).
- ``[route]``: channel-wise concatenation of the listed layers' outputs.
- ``[upsample]``: nearest-neighbour, factor ``stride``.
- ``[maxpool]``: max over ``size`` x ``size`` windows, darknet's padding (``size - 1`` in total,
  ``padding // 2`` before the map, the rest after; padded cells never win).
- ``[yolo]``: no computation here. ``forward`` returns, for every ``[yolo]`` layer, its raw input of
  shape (batch, anchors x (5 + classes), H, W) in darknet's channel order (per anchor: tx, ty, tw,
  th, objectness, class logits); ``cycleaug.yolo.decode`` turns those into boxes and the training
  loss works on them directly.

Usage::

    model = Darknet(load_cfg("yolov3-person-608.cfg"))
    heads = model(images)            # images: (B, 3, H, W) RGB in [0, 1], H and W multiples of 32
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from cycleaug.yolo.cfg import Conv, DarknetCfg, Maxpool, Route, Shortcut, Upsample, Yolo

BN_EPS = 1e-5
BN_MOMENTUM = 0.01
LEAKY_SLOPE = 0.1


def activation_module(name: str) -> nn.Module:
    if name == "leaky":
        return nn.LeakyReLU(LEAKY_SLOPE)
    if name == "relu":
        return nn.ReLU()
    if name == "logistic":
        return nn.Sigmoid()
    return nn.Identity()


class ConvBlock(nn.Module):
    def __init__(self, spec: Conv):
        super().__init__()
        self.spec = spec
        self.conv = nn.Conv2d(
            spec.in_channels, spec.filters, spec.size, spec.stride, spec.padding, bias=not spec.batch_normalize
        )
        self.bn = nn.BatchNorm2d(spec.filters, eps=BN_EPS, momentum=BN_MOMENTUM) if spec.batch_normalize else None
        self.act = activation_module(spec.activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        if self.bn is not None:
            x = self.bn(x)
        return self.act(x)


class DarknetMaxPool(nn.Module):
    def __init__(self, spec: Maxpool):
        super().__init__()
        self.spec = spec

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.spec
        # forward_maxpool_layer: window starts at -padding/2 (C division); out = (in + padding - size)/stride + 1.
        before = s.padding // 2
        h, w = x.shape[-2:]
        out_h = (h + s.padding - s.size) // s.stride + 1
        out_w = (w + s.padding - s.size) // s.stride + 1
        after_h = max(0, (out_h - 1) * s.stride + s.size - before - h)
        after_w = max(0, (out_w - 1) * s.stride + s.size - before - w)
        if before or after_h or after_w:
            x = F.pad(x, (before, after_w, before, after_h), value=float("-inf"))
        return F.max_pool2d(x, s.size, s.stride)


class Upsample2d(nn.Module):
    def __init__(self, spec: Upsample):
        super().__init__()
        self.spec = spec

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=self.spec.stride, mode="nearest")


class Darknet(nn.Module):
    """A YOLOv3-family detector built from a parsed cfg; ``layers[i]`` is cfg layer ``i``."""

    def __init__(self, cfg: DarknetCfg):
        super().__init__()
        self.cfg = cfg
        modules = []
        for spec in cfg.layers:
            if isinstance(spec, Conv):
                modules.append(ConvBlock(spec))
            elif isinstance(spec, Maxpool):
                modules.append(DarknetMaxPool(spec))
            elif isinstance(spec, Upsample):
                modules.append(Upsample2d(spec))
            elif isinstance(spec, Shortcut):
                modules.append(activation_module(spec.activation))
            else:
                modules.append(nn.Identity())
        self.layers = nn.ModuleList(modules)
        # Only outputs that a later [route]/[shortcut] reads are kept during forward.
        self._keep = set()
        for spec in cfg.layers:
            if isinstance(spec, Route):
                self._keep.update(spec.sources)
            elif isinstance(spec, Shortcut):
                self._keep.add(spec.source)

    @property
    def yolo_layers(self) -> tuple[Yolo, ...]:
        return self.cfg.yolo_layers

    @property
    def num_classes(self) -> int:
        return self.cfg.classes

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        saved: dict[int, torch.Tensor] = {}
        heads: list[torch.Tensor] = []
        for i, (spec, module) in enumerate(zip(self.cfg.layers, self.layers)):
            if isinstance(spec, Shortcut):
                x = module(x + saved[spec.source])
            elif isinstance(spec, Route):
                x = saved[spec.sources[0]] if len(spec.sources) == 1 else torch.cat([saved[s] for s in spec.sources], 1)
            elif isinstance(spec, Yolo):
                heads.append(x)
            else:
                x = module(x)
            if i in self._keep:
                saved[i] = x
        return heads


def init_darknet_(model: Darknet, generator: torch.Generator | None = None) -> Darknet:
    """Darknet's initialisation (``make_convolutional_layer``, src/convolutional_layer.c): conv weights
    uniform in +-sqrt(2 / (size x size x in_channels)), biases 0, BN scale 1, running mean 0, variance 1."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, ConvBlock):
                spec = module.spec
                scale = math.sqrt(2.0 / (spec.size * spec.size * spec.in_channels))
                w = torch.rand(module.conv.weight.shape, generator=generator) * 2 - 1
                module.conv.weight.copy_(w * scale)
                if module.conv.bias is not None:
                    module.conv.bias.zero_()
                if module.bn is not None:
                    module.bn.weight.fill_(1.0)
                    module.bn.bias.zero_()
                    module.bn.running_mean.zero_()
                    module.bn.running_var.fill_(1.0)
    return model
