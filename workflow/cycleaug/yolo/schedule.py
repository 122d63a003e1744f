"""Darknet's learning-rate policy and SGD update, read from a cfg's ``[net]`` section.

Sources (AlexeyAB/darknet, the fork the paper trained with; pjreddie/darknet is identical here, and
neither changed these parts between 2019 and March 2020, so both darknet_semantics share them):

- ``src/parser.c`` ``parse_net_options``: defaults ``learning_rate`` 0.001, ``momentum`` 0.9,
  ``decay`` 0.0001, ``burn_in`` 0, ``power`` 4, ``policy`` constant; the cfg's ``batch`` is the
  images per update and ``subdivisions`` splits it into mini-batches (``net->batch /= subdivs``).
- ``src/network.c`` ``get_current_batch`` = seen / (batch x subdivisions), counted *after* the
  images of the update were seen, so the k-th update (k = 1, 2, ...) runs at ``get_current_rate(k)``:
  ``k < burn_in``: lr x (k / burn_in)^power, else the policy (``steps``: multiply by ``scales[i]``
  for every ``steps[i] <= k``).
- ``src/network.c`` ``update_network`` (``src/network_kernels.cu`` ``update_network_gpu`` on a GPU):
  ``update_batch = net.batch x subdivisions``, i.e. the cfg's ``batch`` (64 for yolov3.cfg);
  ``src/convolutional_layer.c`` ``update_convolutional_layer``::

      v_w += -decay * batch * w         # v holds the summed negative loss gradient of the batch
      w   += lr / batch * v_w;  v_w *= momentum
      b   += lr / batch * v_b;  v_b *= momentum   # biases and BN scales: no decay

  With u = -v / batch this is u = momentum * u + (g / batch + decay * w); w -= lr * u, i.e.
  exactly ``torch.optim.SGD(lr, momentum, dampening=0, weight_decay=decay)`` fed the gradient of
  the loss summed over the batch divided by ``batch``, with weight decay on conv weights only.
  The lr may change between updates in both forms because neither folds lr into the buffer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from cycleaug.errors import CycleAugError
from cycleaug.yolo.cfg import Net
from cycleaug.yolo.semantics import DEFAULT, EARLY_2020, MID_2019

POLICIES = ("constant", "step", "steps", "exp", "poly", "sig")


@dataclass(frozen=True)
class NetHyper:
    """The training keys of a darknet ``[net]`` section, with darknet's defaults: those of the cfg parser's
    ``Net`` where it reads the key, and here the keys it does not read."""

    batch: int = Net.batch
    subdivisions: int = Net.subdivisions
    width: int = 416
    height: int = 416
    learning_rate: float = Net.learning_rate
    momentum: float = Net.momentum
    decay: float = Net.decay
    burn_in: int = Net.burn_in
    power: float = 4.0
    policy: str = Net.policy
    steps: tuple[int, ...] = Net.steps
    scales: tuple[float, ...] = Net.scales
    step: int = 1
    scale: float = 1.0
    gamma: float = 1.0
    max_batches: int = Net.max_batches
    hue: float = Net.hue
    saturation: float = Net.saturation
    exposure: float = Net.exposure
    flip: int = 1

    @property
    def mini_batch(self) -> int:
        """Images per forward pass (darknet's ``net->batch`` after ``/= subdivisions``)."""
        return self.batch // self.subdivisions

    def rate(self, batch_num: int) -> float:
        """``get_current_rate`` for the update number ``batch_num`` (1 for the first update)."""
        lr = self.learning_rate
        if batch_num < self.burn_in:
            return lr * math.pow(batch_num / self.burn_in, self.power)
        if self.policy == "constant":
            return lr
        if self.policy == "step":
            return lr * math.pow(self.scale, batch_num // self.step)
        if self.policy == "steps":
            for step, scale in zip(self.steps, self.scales):
                if step > batch_num:
                    return lr
                lr *= scale
            return lr
        if self.policy == "exp":
            return lr * math.pow(self.gamma, batch_num)
        if self.policy == "poly":
            return lr * math.pow(1 - batch_num / self.max_batches, self.power)
        # sig
        return lr * (1.0 / (1.0 + math.exp(self.gamma * (batch_num - self.step))))

    def with_overrides(self, **kw) -> NetHyper:
        values = {k: getattr(self, k) for k in self.__dataclass_fields__}
        values.update({k: v for k, v in kw.items() if v is not None})
        hyper = NetHyper(**values)
        hyper.validate()
        return hyper

    def validate(self, where: str = "[net]") -> None:
        if self.batch < 1 or self.subdivisions < 1 or self.batch % self.subdivisions:
            raise CycleAugError(
                f"{where} batch={self.batch}, subdivisions={self.subdivisions}: batch must be a positive "
                "multiple of subdivisions (each update is subdivisions mini-batches of batch/subdivisions images)"
            )
        if self.policy not in POLICIES:
            raise CycleAugError(f"{where} policy={self.policy!r}: supported policies are {', '.join(POLICIES)}")
        if self.policy == "steps" and len(self.steps) != len(self.scales):
            raise CycleAugError(f"{where} steps={list(self.steps)} and scales={list(self.scales)} differ in length")
        if self.policy == "poly" and self.max_batches < 1:
            raise CycleAugError(f"{where} policy=poly needs max_batches")
        if self.width % 32 or self.height % 32:
            raise CycleAugError(f"{where} width={self.width}, height={self.height}: must be multiples of 32")


def hyper_from_cfg(net, where: str = "[net]") -> NetHyper:
    """`NetHyper` from a parsed cfg's ``[net]`` (``cycleaug.yolo.cfg.Net``); keys that parser does not
    know (``power``, ``flip``, ``step``, ``scale``, ``gamma``) keep darknet's defaults."""
    values = {k: getattr(net, k) for k in NetHyper.__dataclass_fields__ if hasattr(net, k)}
    values["steps"] = tuple(int(s) for s in values.get("steps", ()))
    values["scales"] = tuple(float(s) for s in values.get("scales", ()))
    values["policy"] = str(values.get("policy", "constant")).lower()
    hyper = NetHyper(**values)
    hyper.validate(where)
    return hyper


def default_max_batches(classes: int) -> int:
    """Darknet's rule of thumb for ``max_batches`` (AlexeyAB/darknet README, "How to train"):
    2000 x classes, but not less than 6000."""
    return max(6000, 2000 * classes)


def sgd_param_groups(model) -> list[dict]:
    """Conv weights get darknet's weight decay; biases and batch-norm scales/shifts do not."""
    decayed, plain = [], []
    for _name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (decayed if p.ndim == 4 else plain).append(p)
    return [{"params": decayed, "decayed": True}, {"params": plain, "decayed": False}]


def make_optimizer(model, hyper: NetHyper):
    """SGD equal to darknet's update when the loss is summed over a batch and divided by ``batch``."""
    import torch

    groups = sgd_param_groups(model)
    for g in groups:
        g["weight_decay"] = hyper.decay if g.pop("decayed") else 0.0
    return torch.optim.SGD(groups, lr=hyper.rate(1), momentum=hyper.momentum, dampening=0.0)


def set_rate(optimizer, lr: float) -> None:
    for g in optimizer.param_groups:
        g["lr"] = lr


# darknet's `detector train ... -map` (AlexeyAB/darknet src/detector.c, train_detector): after every
# update i (1-based),
#     calc_map_for_each = max(4 * train_images_num / (batch * subdivisions), 100)   # every 4 epochs
#     next_map_calc = max(iter_map + calc_map_for_each, burn_in, 400)
#     if (i >= next_map_calc || i == max_batches) { iter_map = i; mAP = validate_detector_map(...); }
# with iter_map the iteration of the last evaluation (the start iteration at first). The floor was 1000
# from 2019-03-02, 400 from 31dc6c86 (2019-05-06: mid-2019), and commented out in 4f70fc14 (2019-11-23:
# early-2020). burn_in is 1000 in the paper's cfg either way. 5,000 iterations on a few hundred images:
# 1000, 1100, ..., 5000 = 41 evaluations.
DARKNET_FIRST_MAP = {MID_2019: 400, EARLY_2020: 0}
DARKNET_MAP_EPOCHS = 4


def evaluation_iterations(
    eval_every: str | int, n_train: int, hyper: NetHyper, max_iter: int, semantics: str = DEFAULT
) -> list[int]:
    """The iterations at which training evaluates mAP: darknet's cadence (``eval_every`` "darknet", as the
    ``semantics``' darknet computes it), or every ``eval_every`` iterations; always the last. Counted from
    iteration 0 (an uninterrupted run), so a resumed run evaluates where the uninterrupted one would."""
    if str(eval_every) == "darknet":
        every = max(DARKNET_MAP_EPOCHS * n_train // hyper.batch, 100)
        out, last = [], 0
        while True:
            due = max(last + every, hyper.burn_in, DARKNET_FIRST_MAP[semantics])
            if due >= max_iter:
                break
            out.append(due)
            last = due
    else:
        try:
            every = int(eval_every)
        except ValueError:
            raise CycleAugError(f"--eval-every {eval_every!r}: expected darknet or a positive integer") from None
        if every < 1:
            raise CycleAugError(f"--eval-every {eval_every}: expected darknet or a positive integer")
        out = list(range(every, max_iter, every))
    return [*out, max_iter]
