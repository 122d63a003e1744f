"""BDD100K detection labels -> normalised person boxes (category "pedestrian").

Two releases of the same JSON shape, a list of frames ``{name, attributes: {weather, scene,
timeofday}, labels: [{id, category, attributes, box2d | poly2d}]}`` (https://doc.bdd100k.com/format.html):
- legacy ``bdd100k_labels_images_{train,val}.json`` (bdd100k_labels_release.zip): 10 box categories
  bike, bus, car, motor, person, rider, traffic light, traffic sign, train, truck, plus "drivable area"
  and "lane" labels that carry ``poly2d`` instead of ``box2d``; integer ids. A person is "person" (the
  paper's choice: "BDD labels: boxes with category person").
- det_20 ``det_20/det_{train,val}.json``: Scalabel names (pedestrian, rider, car, truck, bus, train,
  motorcycle, bicycle, traffic light, traffic sign) plus the unevaluated "other person", "other vehicle",
  "trailer"; string ids; frames without objects may lack ``labels``. A person is "pedestrian".
Riders ("rider" in both) and "other person" (det_20 only) count as persons only when asked.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from cycleaug.errors import CycleAugError
from cycleaug.labels import PERSON, Box, Frame, read_frames

FORMATS = ("legacy", "det20")
_PERSON = {"legacy": "person", "det20": "pedestrian"}


def person_categories(fmt: str, include_rider: bool = False, include_other_person: bool = False) -> set[str]:
    if fmt not in FORMATS:
        raise CycleAugError(f"label format {fmt!r}: expected one of {', '.join(FORMATS)}")
    cats = {_PERSON[fmt]}
    if include_rider:
        cats.add("rider")
    if include_other_person and fmt == "det20":  # the legacy release has no such category
        cats.add("other person")
    return cats


def read_bdd100k(
    path: str | os.PathLike,
    fmt: str = "legacy",
    include_rider: bool = False,
    include_other_person: bool = False,
    images_dir: str | os.PathLike | None = None,
) -> list[Frame]:
    """Frames of a BDD100K label file with only the person boxes, renamed to "pedestrian".

    Every frame is kept, with or without persons (the evaluation needs person-free images too),
    except, when ``images_dir`` is given, frames whose image file is not there.
    """
    cats = person_categories(fmt, include_rider, include_other_person)
    # The raw release has a few boxes of zero width (x1 = x2): dropped with a count, not fatal.
    all_frames = read_frames(path, drop_degenerate=True)
    seen = {b.category for f in all_frames for b in f.boxes}
    if not seen & cats:
        other = "det20" if fmt == "legacy" else "legacy"
        if _PERSON[other] in seen:
            raise CycleAugError(
                f"{path}: no box has category {sorted(cats)} but some have {_PERSON[other]!r}: this looks like "
                f"the {other} label format (set data.bdd100k.label_format / --label-format {other})"
            )
    frames = []
    for f in all_frames:
        boxes = [Box(b.x1, b.y1, b.x2, b.y2, PERSON) for b in f.boxes if b.category in cats]
        frames.append(Frame(f.name, boxes, f.attributes))
    if images_dir is not None:
        images_dir = Path(images_dir)
        if not images_dir.is_dir():
            raise CycleAugError(f"{images_dir}: image folder not found")
        present = {p.name for p in images_dir.iterdir()}
        missing = [f.name for f in frames if f.name not in present]
        if missing:
            print(f"boxes: {len(missing)} of {len(frames)} frames have no image in {images_dir} and are dropped "
                  f"(first: {missing[0]})", file=sys.stderr)
        frames = [f for f in frames if f.name in present]
    return frames
