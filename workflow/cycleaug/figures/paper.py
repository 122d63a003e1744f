"""Numbers published in the paper (Nishikawa, Sato, Ozawa), drawn as reference marks at paper scale.

Source: shared/paper/FACTS.md, sections "Scalability result (Fig. 4)" and "Image quality (Figs. 5 and 6)".
"""

from __future__ import annotations

# Fig. 4: 1 node (4 GPUs) 68.77 h, 128 nodes (512 GPUs) 0.73 h -> 93.8x speed-up (ideal 128x, 73 %).
BASE_GPUS = 4
GPUS_PER_NODE = 4  # the former ABCI: 4 V100 per node
SCALING_GPUS = 512
SCALING_SPEEDUP = 93.8
HOURS_BASE = 68.77
HOURS_SCALED = 0.73

# Fig. 6: FID at epoch 200 per GPU count.
FID_EPOCH = 200
FID_AT_EPOCH = {4: 221.0, 256: 269.2, 512: 270.7}

# The GPU counts the paper ran (1, 16, 32, 64, 128 nodes).
GPU_COUNTS = (4, 64, 128, 256, 512)


def is_paper_scale(gpu_counts, data_source: str) -> bool:
    """True when a run is comparable to the paper's: real data and the paper's smallest and largest GPU count."""
    counts = set(gpu_counts)
    return data_source == "real" and BASE_GPUS in counts and SCALING_GPUS in counts
