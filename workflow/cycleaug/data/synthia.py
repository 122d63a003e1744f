"""SYNTHIA person boxes from its label images (SYNTHIA ships segmentation only; the paper's authors
annotated boxes by hand, FACTS.md "Detector", so a hand-made box file overrides everything here).

On-disk formats (http://synthia-dataset.net/downloads/ and each release's README.txt):
- RAND-CITYSCAPES and SEQS: ``RGB/<name>.png`` and ``GT/LABELS/<name>.png``, a 16-bit PNG with 3
  channels: the first holds the class id, the second the instance id of dynamic objects (cars,
  pedestrians, ...), the third is unused. (OpenCV-based loaders read the class with
  ``cv2.imread(f, cv2.IMREAD_UNCHANGED)[:, :, -1]`` because OpenCV returns channels reversed.)
  SEQS nests images as ``RGB/Stereo_Left/Omni_F/000000.png``; frame names keep that relative path.
- RAND-CVPR16: semantic labels only, ``GTTXT/<stem>.txt`` with one whitespace-separated class id per
  pixel and one text line per image row (960x720 images). If ``GTTXT`` is absent a class-id PNG in
  ``GT/LABELS`` (first channel) is used instead.

Class ids (RAND-CITYSCAPES README; RAND-CVPR16 uses the first 12 with 11 = cyclist):
0 void, 1 sky, 2 building, 3 road, 4 sidewalk, 5 fence, 6 vegetation, 7 pole, 8 car,
9 traffic sign, 10 pedestrian, 11 bicycle, 12 motorcycle, 13 parking slot, 14 road work,
15 traffic light, 16 terrain, 17 rider, 18 truck, 19 bus, 20 train, 21 wall, 22 lane marking.

Boxes use pixel-edge coordinates: a person whose pixels span columns 10..19 gets x1 = 10, x2 = 20.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
from scipy import ndimage

from cycleaug.data.pngio import read_png
from cycleaug.errors import CycleAugError
from cycleaug.labels import PERSON, Box, Frame, read_frames
from cycleaug.progress import Progress

CLASSES = (
    "void", "sky", "building", "road", "sidewalk", "fence", "vegetation", "pole", "car",
    "traffic sign", "pedestrian", "bicycle", "motorcycle", "parking slot", "road work",
    "traffic light", "terrain", "rider", "truck", "bus", "train", "wall", "lane marking",
)
PEDESTRIAN = CLASSES.index("pedestrian")  # 10 in every SYNTHIA release
RELEASES = ("RAND-CITYSCAPES", "SEQS", "RAND-CVPR16")
INSTANCE_RELEASES = ("RAND-CITYSCAPES", "SEQS")
# 8-connectivity: an arm touching the torso only at a corner pixel is still the same person.
_EIGHT = np.ones((3, 3), dtype=bool)


def _slices_to_boxes(slices, min_box_area: float) -> list[Box]:
    boxes = []
    for sl in slices:
        if sl is None:
            continue
        ys, xs = sl
        box = Box(float(xs.start), float(ys.start), float(xs.stop), float(ys.stop), PERSON)
        if box.width * box.height >= min_box_area:
            boxes.append(box)
    return boxes


def boxes_from_semantic(classes: np.ndarray, min_box_area: float = 0) -> list[Box]:
    """One box per 8-connected component of pedestrian pixels (touching people merge into one box)."""
    components, _ = ndimage.label(classes == PEDESTRIAN, structure=_EIGHT)
    return _slices_to_boxes(ndimage.find_objects(components), min_box_area)


def boxes_from_instances(classes: np.ndarray, instances: np.ndarray, min_box_area: float = 0) -> list[Box]:
    """One box per instance id among pedestrian pixels, in increasing id order. Pedestrian pixels
    with instance id 0 (no instance) fall back to connected components."""
    ped = classes == PEDESTRIAN
    ids = np.where(ped, instances, 0).astype(np.int64)
    present = np.unique(ids[ped])
    present = present[present != 0]
    boxes = []
    if present.size:
        # Relabel ids to 1..k so find_objects does not allocate a slot per unused id up to 65535.
        relabelled = np.searchsorted(present, ids) + 1
        relabelled[ids == 0] = 0
        boxes += _slices_to_boxes(ndimage.find_objects(relabelled), min_box_area)
    orphans = ped & (instances == 0)
    if orphans.any():
        components, _ = ndimage.label(orphans, structure=_EIGHT)
        boxes += _slices_to_boxes(ndimage.find_objects(components), min_box_area)
    return boxes


def read_gttxt(path: str | os.PathLike) -> np.ndarray:
    """RAND-CVPR16 text labels: an (H, W) int array of class ids."""
    path = Path(path)
    try:
        rows = [line.split() for line in path.read_text().splitlines() if line.strip()]
        arr = np.array(rows, dtype=np.int32)
    except FileNotFoundError:
        raise CycleAugError(f"{path}: label file not found") from None
    except ValueError:
        raise CycleAugError(f"{path}: expected rows of whitespace-separated integer class ids, all of one length") from None
    if arr.ndim != 2:
        raise CycleAugError(f"{path}: expected a 2-D grid of class ids")
    return arr


def label_path(root: Path, image_name: str, release: str) -> Path:
    if release == "RAND-CVPR16" and (root / "GTTXT").is_dir():
        return (root / "GTTXT" / image_name).with_suffix(".txt")
    return root / "GT" / "LABELS" / image_name


def image_boxes(path: Path, release: str, min_box_area: float = 0) -> list[Box]:
    """Person boxes of one label file of ``release``."""
    if path.suffix == ".txt":
        return boxes_from_semantic(read_gttxt(path), min_box_area)
    labels = read_png(path)
    if release in INSTANCE_RELEASES:
        if labels.shape[2] < 2:
            raise CycleAugError(
                f"{path}: {release} label images need a class and an instance channel, found 1 channel "
                "(is the release set right? RAND-CVPR16 has semantic labels only)"
            )
        return boxes_from_instances(labels[:, :, 0], labels[:, :, 1], min_box_area)
    return boxes_from_semantic(labels[:, :, 0], min_box_area)


def list_images(root: Path) -> list[str]:
    """Image names relative to ``root/RGB`` (POSIX separators), sorted."""
    rgb = root / "RGB"
    if not rgb.is_dir():
        raise CycleAugError(f"{rgb}: SYNTHIA image folder not found (expected ROOT/RGB/*.png)")
    return sorted(p.relative_to(rgb).as_posix() for p in rgb.rglob("*.png"))


def _frame_job(job: tuple[str, str, str, float]) -> tuple[str, list[Box] | None]:
    root, name, release, min_box_area = job
    path = label_path(Path(root), name, release)
    if not path.exists():
        return name, None
    return name, image_boxes(path, release, min_box_area)


def override_frames(path: str | os.PathLike, names: list[str]) -> list[Frame]:
    """Hand-made boxes (BDD100K JSON, category "person" or "pedestrian") for the images in ``names``.
    Images absent from the file are left out rather than kept as person-free: they are unannotated."""
    present = set(names)
    frames, missing = [], []
    for f in read_frames(path, categories={"person", PERSON}):
        if f.name not in present:
            missing.append(f.name)
            continue
        boxes = [Box(b.x1, b.y1, b.x2, b.y2, PERSON) for b in f.boxes]
        frames.append(Frame(f.name, boxes, f.attributes))
    if missing:
        print(f"boxes: {len(missing)} frames of {path} have no image under RGB/ and are dropped "
              f"(first: {missing[0]})", file=sys.stderr)
    return sorted(frames, key=lambda fr: fr.name)


def synthia_frames(
    root: str | os.PathLike,
    release: str = "RAND-CITYSCAPES",
    boxes_override: str | os.PathLike | None = None,
    min_box_area: float = 100,
    workers: int = 1,
) -> list[Frame]:
    """One frame per image under ``root/RGB``, with person boxes from its label image."""
    if release not in RELEASES:
        raise CycleAugError(f"release {release!r}: expected one of {', '.join(RELEASES)}")
    root = Path(root)
    names = list_images(root)
    if not names:
        raise CycleAugError(f"{root / 'RGB'}: no .png images found")
    if boxes_override is not None:
        return override_frames(boxes_override, names)
    jobs = [(str(root), n, release, float(min_box_area)) for n in names]
    results = []
    with Progress(len(jobs), "boxes synthia", unit="img") as progress:
        if workers > 1:
            import multiprocessing as mp  # noqa: PLC0415

            with mp.Pool(workers) as pool:
                for r in pool.imap(_frame_job, jobs, chunksize=8):
                    results.append(r)
                    progress.update()
        else:
            for job in jobs:
                results.append(_frame_job(job))
                progress.update()
    no_label = [n for n, boxes in results if boxes is None]
    if no_label:
        print(f"boxes: {len(no_label)} images have no label file and are left out "
              f"(first: {label_path(root, no_label[0], release)})", file=sys.stderr)
    frames = [Frame(n, boxes) for n, boxes in results if boxes is not None]
    if not frames:
        raise CycleAugError(f"{root}: no image has a label file (looked for {label_path(root, names[0], release)})")
    return frames
