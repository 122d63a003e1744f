"""Numbers published in the paper, as data: the reference marks of Figs. 4 and 6 and the rows of Table 2.

Source: Nishikawa, Sato, Ozawa, "Distributed deep learning of CycleGAN for training-data
augmentation in person detection" (summarised in ``docs/paper.md``, sections "Scalability
(Fig. 4)", "Image quality (Sec. 4.4, Figs. 5 and 6)" and "Table 2"). Table 2: YOLOv3
person detectors fine-tuned on 500 BDD100K images (+ 1,017 SYNTHIA images), evaluated on BDD100K
with darknet's ``detector map`` at the checkpoint of best mAP@0.50. TP + FN = 10,773 persons.
"""

from __future__ import annotations

from dataclasses import dataclass

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


@dataclass(frozen=True)
class Table2Row:
    tag: str
    label: str
    synthetic_source: str  # "real", "raw" or "generated" (cycleaug.yolo.conditions)
    gpus: int | None
    TP: int
    FP: int
    FN: int
    precision: float
    recall: float
    F1: float
    mAP50: float  # percent, as printed in the paper


TABLE2 = (
    Table2Row("(a)", "BDD only", "real", None, 3930, 2920, 6843, 0.57, 0.36, 0.45, 34.34),
    Table2Row("(b)", "(a) + raw CG", "raw", None, 4086, 2643, 6687, 0.61, 0.38, 0.47, 39.45),
    Table2Row("(c)", "(a) + generated, 4 GPUs", "generated", 4, 4813, 4560, 5960, 0.51, 0.45, 0.48, 41.39),
    Table2Row("(d)", "(a) + generated, 64 GPUs", "generated", 64, 4403, 2625, 6370, 0.63, 0.41, 0.49, 41.84),
    Table2Row("(e)", "(a) + generated, 128 GPUs", "generated", 128, 4718, 3762, 6055, 0.56, 0.44, 0.49, 42.03),
    Table2Row("(f)", "(a) + generated, 256 GPUs", "generated", 256, 3996, 1938, 6777, 0.67, 0.37, 0.48, 41.40),
    Table2Row("(g)", "(a) + generated, 512 GPUs", "generated", 512, 4604, 3616, 6169, 0.56, 0.43, 0.48, 41.53),
)


def table2_row(synthetic_source: str, gpus: int | None) -> Table2Row | None:
    """The paper's row for a condition (matched by what it trains on, not by its letter)."""
    for row in TABLE2:
        if row.synthetic_source == synthetic_source and row.gpus == gpus:
            return row
    return None
