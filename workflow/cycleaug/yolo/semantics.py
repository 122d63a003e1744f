"""Which darknet the detector's training follows (``detector.darknet_semantics``).

The paper names no darknet version; its text describes the state "as of November 2019" (2019年11月現在),
so its YOLOv3 runs predate AlexeyAB/darknet's changes of 14 Nov 2019 - 2 Mar 2020. Both behaviours are
implemented; each is tested against a port of the reference C code (tests/test_yolo_semantics.py).

``mid-2019``: AlexeyAB/darknet src/yolo_layer.c as of b392621e (2019-10-19; the loss is unchanged from
2019-06-04) and src/detector.c as of c9129c20 (2019-06-22):
- an anchor's no-object delta is dropped when its best IoU with any truth exceeds ignore_thresh;
- a later truth on the same cell and anchor replaces an earlier one's box delta (``delta = ...``);
- mse box deltas are not scaled (iou_normalizer is parsed but unused for mse);
- multi-scale: every 10 iterations roundl(r * init / 32 + 1) * 32 with r = rand_scale(1.4), the first
  10 at the largest size;
- ``-map``: first evaluation not before max(burn_in, 400) (31dc6c86, 2019-05-06).

``early-2020``: src/yolo_layer.c as of 92e6e8ee (2020-03-15), src/detector.c as of c814d56e (2020-03-02):
- ignore only if also some class's sigmoid output at that anchor exceeds 0.25 (compare_yolo_class,
  ee370e76 2019-11-14, class probability alone from 10c40551 2019-11-18);
- box deltas of truths on the same cell and anchor add up (e7e85b35, 2019-11-15) and are then divided
  by the number of classes with a positive class delta there (averages_yolo_deltas, 6e5bdf12, 2019-11-16);
- mse box deltas x iou_normalizer (0.75 by default; defcf7e3, 2019-12-02);
- multi-scale: a draw with r < 1 that rounds above the initial size is clamped to it (a66bc8d6,
  2020-01-09), and resize steps after iteration max_batches - 100 use the largest size (c814d56e);
- ``-map``: the 400-iteration floor is gone (commented out in 4f70fc14, 2019-11-23).

pjreddie/darknet's yolo loss equals the mid-2019 one (it never took these changes), but not its training
loop: its multi-scale draws (rand() % 10 + 10) * 32, i.e. 320-608 px whatever the cfg's size, and uses 608
for the last 200 iterations (examples/detector.c), and it has no -map; neither version here follows that.
"""

from __future__ import annotations

MID_2019, EARLY_2020 = "mid-2019", "early-2020"
SEMANTICS = (MID_2019, EARLY_2020)
DEFAULT = MID_2019  # the paper's time


def check(semantics: str) -> str:
    from cycleaug.errors import CycleAugError

    if semantics not in SEMANTICS:
        raise CycleAugError(f"darknet semantics {semantics!r}: expected one of {', '.join(SEMANTICS)}")
    return semantics
