"""The history of generated images the discriminators also learn from (Shrivastava et al. 2017),
with the reference's semantics (junyanz/pytorch-CycleGAN-and-pix2pix, util/image_pool.py): while the
pool holds fewer than ``size`` images, each new image is stored and returned; afterwards, with
probability 1/2 a random stored image is returned and replaced by the new one, otherwise the new
image is returned. Size 50 is the reference default (``--pool_size``); 0 disables it.

Unlike the reference (which uses the global ``random`` module) the pool owns its random generator,
so its state goes into the checkpoint and a resumed run draws exactly what an uninterrupted one would.
"""

from __future__ import annotations

import random
from typing import Any

import torch


class ImagePool:
    def __init__(self, size: int, seed: int = 0):
        self.size = size
        self.rng = random.Random(seed)
        self.images: list[torch.Tensor] = []

    def query(self, images: torch.Tensor) -> torch.Tensor:
        """Return a batch of the same shape as ``images`` (generated, detached), drawn as above."""
        if self.size == 0:
            return images
        out = []
        for image in images.detach():
            image = image.unsqueeze(0)
            if len(self.images) < self.size:
                self.images.append(image)
                out.append(image)
            elif self.rng.uniform(0, 1) > 0.5:
                i = self.rng.randint(0, self.size - 1)  # inclusive, as the reference
                out.append(self.images[i].clone())
                self.images[i] = image
            else:
                out.append(image)
        return torch.cat(out, 0)

    def state_dict(self) -> dict[str, Any]:
        # Plain tensors, lists and tuples only: checkpoints are read with weights_only=True. Contiguous:
        # the pooled images may be channels_last activations.
        return {"size": self.size, "images": [t.cpu().contiguous() for t in self.images], "rng": self.rng.getstate()}

    def load_state_dict(self, state: dict[str, Any], device: torch.device | str = "cpu") -> None:
        if state["size"] != self.size:
            raise ValueError(f"image pool size {state['size']} in checkpoint, {self.size} configured")
        self.images = [t.to(device) for t in state["images"]]
        self.rng.setstate(_as_tuple(state["rng"]))


def _as_tuple(x: Any) -> Any:
    """random.Random.setstate wants tuples all the way down; a serialiser may hand back lists."""
    return tuple(_as_tuple(v) for v in x) if isinstance(x, (list, tuple)) else x
