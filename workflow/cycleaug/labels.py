"""The one label format every stage reads and writes: BDD100K detection JSON.

Format (BDD100K, https://doc.bdd100k.com/format.html, "Detection"): a JSON list of frames
``{"name": str, "attributes": {...}, "labels": [{"id": str|int, "category": str, "attributes": {...},
"box2d": {"x1", "y1", "x2", "y2"}}]}`` with boxes in pixel coordinates of the original image.
Predictions use the same frames with a ``score`` per label (Scalabel's prediction format).
After normalisation the only category is ``pedestrian`` (det_20's name for a person).
"""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
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
    """Write frames as BDD100K JSON; a NaN or infinite coordinate or score (which Python's json would
    write as the non-JSON ``NaN``) is refused with the frame named, and nothing is written."""
    frames = list(frames)
    for frame in frames:
        relative_name(frame.name, f"{path}: frame {frame.name!r}")
        for j, b in enumerate(frame.boxes):
            values = [b.x1, b.y1, b.x2, b.y2] + ([] if b.score is None else [b.score])
            if not all(math.isfinite(v) for v in values):
                raise CycleAugError(
                    f"{path}: frame {frame.name!r} label {j}: box ({b.x1}, {b.y1}, {b.x2}, {b.y2}) or score "
                    f"{b.score} is not finite; expected finite numbers (nothing written)"
                )
    write_json(path, [frame_to_json(f) for f in frames], indent=None, allow_nan=False)


def _number(value: object, where: str) -> float:
    """A JSON number that is finite: not a string, a bool, null, NaN or Infinity."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise CycleAugError(f"{where} is {value!r} ({type(value).__name__}); expected a number")
    value = float(value)
    if not math.isfinite(value):
        raise CycleAugError(f"{where} is {value}; expected a finite number")
    return value


def check_box(box: Box, width: float | None, height: float | None, where: str) -> Box:
    """The one box validation: ``box`` clipped to a ``width`` x ``height`` image (to x, y >= 0 only when the
    size is not known), which must leave a box of positive area: a box outside the image would crop or
    train on background. Returns the clipped box; ``where`` (file and frame) starts the message."""
    w, h = math.inf if width is None else width, math.inf if height is None else height
    x1, x2 = min(max(box.x1, 0.0), w), min(max(box.x2, 0.0), w)
    y1, y2 = min(max(box.y1, 0.0), h), min(max(box.y2, 0.0), h)
    coords = f"({box.x1:g}, {box.y1:g}, {box.x2:g}, {box.y2:g})"
    if not box.x2 > box.x1 or not box.y2 > box.y1:
        raise CycleAugError(f"{where}: box {coords} has zero width or height; expected a box of positive area")
    if x2 <= x1 or y2 <= y1:
        image = "image" if width is None or height is None else f"{width:g}x{height:g} image"
        raise CycleAugError(
            f"{where}: box {coords} lies outside the {image}; expected pixel coordinates of that image"
            + ("" if image == "image" else f" (x in 0..{width:g}, y in 0..{height:g})")
        )
    return replace(box, x1=x1, y1=y1, x2=x2, y2=y2)


def _image_size(attributes: dict, where: str) -> tuple[float, float] | None:
    """The ``width``/``height`` a frame records (select-detector-sets, generate, align-images), if any."""
    if attributes.get("width") is None or attributes.get("height") is None:
        return None
    w = _number(attributes["width"], f"{where}: attributes.width")
    h = _number(attributes["height"], f"{where}: attributes.height")
    if w <= 0 or h <= 0:
        raise CycleAugError(f"{where}: attributes record a {w:g}x{h:g} image; expected a positive width and height")
    return w, h


def _kind(value: object) -> str:
    return {dict: "an object", list: "a list", str: "a string"}.get(type(value), type(value).__name__)


def read_frames(
    path: str | os.PathLike, categories: set[str] | None = None, drop_degenerate: bool = False
) -> list[Frame]:
    """Read BDD100K detection JSON (ours, legacy or det_20). Labels without ``box2d`` (lanes,
    drivable areas in the legacy files) are skipped; ``categories`` keeps only those names.

    Everything is checked here, so that every stage gives the same one-line errors naming the file, the
    frame and the key: types (a list of objects, a string ``name``, a list of ``labels``, numeric
    ``box2d``), names that stay inside their folder (`relative_name`), finite coordinates and scores and,
    for labels (not scored predictions), boxes of positive area inside the image a frame records
    (`check_box`). ``drop_degenerate`` drops zero-area label boxes with a count on stderr instead (the
    raw BDD100K release has a few, e.g. x1 = x2 = 0: github.com/bdd100k/bdd100k issue 4)."""
    path = Path(path)
    try:
        with open(path) as f:
            data = json.load(f)
    except FileNotFoundError:
        raise CycleAugError(f"{path}: label file not found") from None
    except IsADirectoryError:
        raise CycleAugError(f"{path}: is a folder; expected a label file (BDD100K JSON)") from None
    except json.JSONDecodeError as exc:
        raise CycleAugError(f"{path}: not valid JSON ({exc})") from None
    except UnicodeDecodeError as exc:
        raise CycleAugError(f"{path}: not a UTF-8 text file ({exc.reason} at byte {exc.start})") from None
    if not isinstance(data, list):
        raise CycleAugError(f"{path}: expected a JSON list of frames (BDD100K detection format), got {_kind(data)}")
    frames, dropped = [], []
    for i, item in enumerate(data):
        if not isinstance(item, dict):
            raise CycleAugError(f"{path}: frame {i} is {_kind(item)}; expected an object with a 'name'")
        if "name" not in item:
            raise CycleAugError(f"{path}: frame {i} has no 'name'")
        name = item["name"]
        relative_name(name, f"{path}: frame {i}")
        where = f"{path}: frame {name!r}"
        attributes = item.get("attributes") or {}
        if not isinstance(attributes, dict):
            raise CycleAugError(f"{where}: 'attributes' is {_kind(attributes)}; expected an object")
        size = _image_size(attributes, where)
        labels = item.get("labels") or []
        if not isinstance(labels, list):
            raise CycleAugError(f"{where}: 'labels' is {_kind(labels)}; expected a list of labels")
        boxes = []
        for j, label in enumerate(labels):
            at = f"{where} label {j}"
            if not isinstance(label, dict):
                raise CycleAugError(f"{at} is {_kind(label)}; expected an object with 'category' and 'box2d'")
            box = label.get("box2d")
            if box is None:
                continue
            cat = label.get("category")
            if cat is not None and not isinstance(cat, str):
                raise CycleAugError(f"{at}: 'category' is {cat!r} ({type(cat).__name__}); expected a string")
            if categories is not None and cat not in categories:
                continue
            if not isinstance(box, dict):
                raise CycleAugError(f"{at}: 'box2d' is {_kind(box)}; expected an object with x1, y1, x2, y2")
            missing = [k for k in ("x1", "y1", "x2", "y2") if k not in box]
            if missing:
                raise CycleAugError(f"{at}: box2d has no {', '.join(missing)}; expected numbers x1, y1, x2, y2")
            x1, y1, x2, y2 = (_number(box[k], f"{at}: box2d.{k}") for k in ("x1", "y1", "x2", "y2"))
            if x2 < x1 or y2 < y1:
                raise CycleAugError(f"{at}: box2d has x2 < x1 or y2 < y1 ({x1:g}, {y1:g}, {x2:g}, {y2:g})")
            score = label.get("score")
            if score is not None:
                score = _number(score, f"{at}: score")
            b = Box(x1, y1, x2, y2, cat, score)
            if score is None:  # a label, not a prediction (a prediction clipped at the border may be flat)
                if drop_degenerate and (x2 == x1 or y2 == y1):
                    dropped.append(f"{name!r} label {j}")
                    continue
                check_box(b, *(size or (None, None)), at)
            boxes.append(b)
        frames.append(Frame(name, boxes, attributes))
    if dropped:
        print(
            f"{path}: dropped {len(dropped)} box(es) of zero width or height (first: frame {dropped[0]})",
            file=sys.stderr,
        )
    return frames


def relative_name(name: object, where: str = "") -> PurePosixPath:
    """A frame or output name as a path inside its folder; one that would leave it (absolute, ``..``), is
    empty or is not a string is refused, so a label file or manifest can never make us read or write
    elsewhere. ``where`` (e.g. ``"labels.json: frame 3"``) starts the message."""
    prefix = f"{where}: " if where else ""
    if not isinstance(name, str):
        raise CycleAugError(f"{prefix}name is {name!r} ({type(name).__name__}); expected a string")
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or not path.parts or "\0" in name:
        raise CycleAugError(
            f"{prefix}name {name!r}: expected a relative path inside its folder (no leading '/', no '..')"
        )
    return path


def png_name(frame_name: str) -> str:
    """The name of an image written for a frame: the frame's relative path with a .png suffix, so nested
    names (SYNTHIA-SEQS: ``Stereo_Left/Omni_F/000000.png``, the same stem in every camera folder) stay apart."""
    return str(relative_name(frame_name).with_suffix(".png"))
