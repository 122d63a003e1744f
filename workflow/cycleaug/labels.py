"""The one label format every stage reads and writes: BDD100K detection JSON.

Format (BDD100K, https://doc.bdd100k.com/format.html, "Detection"): a JSON list of frames
``{"name": str, "attributes": {...}, "labels": [{"id": str|int, "category": str, "attributes": {...},
"box2d": {"x1", "y1", "x2", "y2"}}]}`` with boxes in pixel coordinates of the original image.
Predictions use the same frames with a ``score`` per label (Scalabel's prediction format).
After normalisation the only category is ``pedestrian`` (det_20's name for a person).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from cycleaug.atomic import write_json
from cycleaug.errors import CycleAugError

PERSON = "pedestrian"


@dataclass(frozen=True)
class Box:
    x1: float
    y1: float
    x2: float
    y2: float
    category: str = PERSON
    score: float | None = None

    @property
    def width(self) -> float:
        return self.x2 - self.x1

    @property
    def height(self) -> float:
        return self.y2 - self.y1

    @property
    def centre(self) -> tuple[float, float]:
        return (self.x1 + self.x2) / 2.0, (self.y1 + self.y2) / 2.0


@dataclass
class Frame:
    name: str
    boxes: list[Box] = field(default_factory=list)
    attributes: dict = field(default_factory=dict)


def frame_to_json(frame: Frame) -> dict:
    labels = []
    for i, b in enumerate(frame.boxes):
        label = {
            "id": str(i),
            "category": b.category,
            "box2d": {"x1": b.x1, "y1": b.y1, "x2": b.x2, "y2": b.y2},
        }
        if b.score is not None:
            label["score"] = b.score
        labels.append(label)
    return {"name": frame.name, "attributes": frame.attributes, "labels": labels}


def write_frames(path: str | os.PathLike, frames: Iterable[Frame]) -> None:
    write_json(path, [frame_to_json(f) for f in frames], indent=None)


def read_frames(path: str | os.PathLike, categories: set[str] | None = None) -> list[Frame]:
    """Read BDD100K detection JSON (ours, legacy or det_20). Labels without ``box2d`` (lanes,
    drivable areas in the legacy files) are skipped; ``categories`` keeps only those names."""
    path = Path(path)
    try:
        with open(path) as f:
            data = json.load(f)
    except FileNotFoundError:
        raise CycleAugError(f"{path}: label file not found") from None
    except json.JSONDecodeError as exc:
        raise CycleAugError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, list):
        raise CycleAugError(
            f"{path}: expected a JSON list of frames (BDD100K detection format), got {type(data).__name__}"
        )
    frames = []
    for i, item in enumerate(data):
        if not isinstance(item, dict) or "name" not in item:
            raise CycleAugError(f"{path}: frame {i} has no 'name'")
        boxes = []
        for j, label in enumerate(item.get("labels") or []):
            box = label.get("box2d")
            if box is None:
                continue
            cat = label.get("category")
            if categories is not None and cat not in categories:
                continue
            try:
                x1, y1, x2, y2 = (float(box[k]) for k in ("x1", "y1", "x2", "y2"))
            except (KeyError, TypeError, ValueError):
                raise CycleAugError(
                    f"{path}: frame {item['name']!r} label {j}: box2d needs numeric x1, y1, x2, y2"
                ) from None
            if x2 < x1 or y2 < y1:
                raise CycleAugError(f"{path}: frame {item['name']!r} label {j}: box2d has x2 < x1 or y2 < y1")
            score = label.get("score")
            boxes.append(Box(x1, y1, x2, y2, cat, None if score is None else float(score)))
        frames.append(Frame(item["name"], boxes, item.get("attributes") or {}))
    return frames


def relative_name(name: str) -> PurePosixPath:
    """A frame or output name as a path inside its folder; one that would leave it (absolute, ``..``) or
    is empty is refused, so a label file can never make us write elsewhere."""
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise CycleAugError(f"name {name!r}: expected a relative path inside the output folder")
    return path


def png_name(frame_name: str) -> str:
    """The name of an image written for a frame: the frame's relative path with a .png suffix, so nested
    names (SYNTHIA-SEQS: ``Stereo_Left/Omni_F/000000.png``, the same stem in every camera folder) stay apart."""
    return str(relative_name(frame_name).with_suffix(".png"))
