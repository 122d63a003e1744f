"""Where a run of n processes sits on the cluster: whole nodes of ``gpus_per_node`` GPUs, one process per
GPU, spread evenly over the nodes. The CycleGAN rules ask for these resources (cycleaug.glue.cyclegan)
and `cycleaug plan` prices them."""

from __future__ import annotations

import math


def nodes_for(config: dict, gpus: int) -> int:
    """Whole nodes for ``gpus`` processes (one per GPU): 4 GPUs at 8 per node -> 1, 64 -> 8."""
    return math.ceil(gpus / config["gpus_per_node"])


def ppn_for(config: dict, gpus: int) -> int:
    """Processes per node, spread evenly over nodes_for(gpus) nodes."""
    return math.ceil(gpus / nodes_for(config, gpus))
