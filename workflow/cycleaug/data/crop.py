"""Person-centred square crops, paper Step 1: "each image is cropped to 256x256 so that the largest
person's bounding box is at the centre of the crop" (FACTS.md, "Pipeline (Fig. 1)").

Rules, in order:
- An image is eligible when its largest person box (largest by area, width x height: the paper says
  "largest person" without a measure, and area ranks people by how much of the frame they fill) is at
  least ``min_height`` pixels tall.
- That box is clipped to the image (cycleaug.labels.check_box); one with nothing inside the image is an
  error naming the label file and the frame (it would crop background). Frame names must be relative
  paths inside the image folder (cycleaug.labels.relative_name), so no crop is read or written elsewhere.
- The ``size`` x ``size`` window is centred on that box's centre, rounded half up to whole pixels,
  then shifted inside the image where it crosses a border. Nothing is ever padded: an image smaller
  than the window is skipped with a message.
- Eligible images are visited in a random order drawn from ``seed``; the first ``holdout`` crops
  go to the held-out folder, the next ``max_images`` to the output folder. The result therefore
  depends only on the seed, never on the number of workers.
- An unreadable image is skipped and listed in ``skipped.csv`` and on stderr; the run fails when
  such failures exceed ``max_failure_fraction`` of the images visited.

Each output folder holds the crops as PNG plus ``manifest.csv``: crop file, source image, image size,
the person box (x1, y1, x2, y2, pixel coordinates of the source) and the crop window (x0, y0, x1, y1).
"""

from __future__ import annotations

import csv
import math
import os
import shutil
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cycleaug.atomic import atomic_dir
from cycleaug.errors import CycleAugError
from cycleaug.labels import Box, Frame, check_box, read_frames, relative_name
from cycleaug.progress import Progress

MANIFEST_FIELDS = [
    "crop", "source", "image_width", "image_height",
    "box_x1", "box_y1", "box_x2", "box_y2", "crop_x0", "crop_y0", "crop_x1", "crop_y1",
]


def largest_box(boxes: list[Box]) -> Box | None:
    """The box with the largest area; the first of equals (label order) wins."""
    best = None
    for b in boxes:
        if best is None or b.width * b.height > best.width * best.height:
            best = b
    return best


def crop_window(box: Box, width: int, height: int, size: int) -> tuple[int, int, int, int] | None:
    """The ``size`` x ``size`` window centred on ``box`` and shifted inside a ``width`` x ``height``
    image, as (x0, y0, x1, y1) with x1 = x0 + size; None when the image is smaller than the window."""
    if width < size or height < size:
        return None
    cx, cy = box.centre
    # Round half up (not Python's half-to-even round) so equal inputs always give the same pixel.
    x0 = math.floor(cx - size / 2 + 0.5)
    y0 = math.floor(cy - size / 2 + 0.5)
    x0 = min(max(x0, 0), width - size)
    y0 = min(max(y0, 0), height - size)
    return x0, y0, x0 + size, y0 + size


def crop_name(source: str) -> str:
    """Crop file name: the source's relative path flattened with '_' and given a .png suffix. A name that
    is not a relative path inside the image folder (absolute, ``..``) is refused (`relative_name`)."""
    return "_".join(relative_name(source).with_suffix(".png").parts)


@dataclass(frozen=True)
class Candidate:
    source: str
    box: Box


def eligible(frames: list[Frame], min_height: float) -> list[Candidate]:
    """Frames whose largest person box is at least ``min_height`` tall, sorted by name."""
    out = []
    for f in frames:
        box = largest_box(f.boxes)
        if box is not None and box.height >= min_height:
            out.append(Candidate(f.name, box))
    return sorted(out, key=lambda c: c.source)


def _crop_one(job: tuple[str, Candidate, int, str, str]) -> tuple[str, object]:
    """Worker: crop one image into ``stage``. Returns ("ok", (w, h, window, box)), ("small", message),
    ("error", reason) or ("bad box", message): a box outside its image (`check_box`) is a label error."""
    from PIL import Image  # noqa: PLC0415

    images_dir, cand, size, stage, labels = job
    path = Path(images_dir) / cand.source
    try:
        with Image.open(path) as im:
            im.load()  # decode now: a truncated or corrupt file fails here, not later
            w, h = im.size
            if w < size or h < size:
                return "small", f"image {w}x{h} is smaller than the {size}x{size} crop"
            try:
                box = check_box(cand.box, w, h, f"{labels}: frame {cand.source!r}: largest person")
            except CycleAugError as exc:
                return "bad box", str(exc)
            window = crop_window(box, w, h, size)
            crop = im.convert("RGB").crop(window)
    except FileNotFoundError:
        return "error", "image file not found"
    except Exception as exc:  # noqa: BLE001 -- any decoder failure means "unreadable image"
        return "error", f"unreadable image ({type(exc).__name__}: {exc})"
    crop.save(Path(stage) / crop_name(cand.source), format="PNG")
    return "ok", (w, h, window, box)


def _write_manifest(folder: Path, rows: list[dict]) -> None:
    with open(folder / "manifest.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=MANIFEST_FIELDS)
        writer.writeheader()
        writer.writerows(sorted(rows, key=lambda r: r["crop"]))


def _manifest_row(cand: Candidate, w: int, h: int, window, b: Box) -> dict:
    return dict(zip(MANIFEST_FIELDS, [crop_name(cand.source), cand.source, w, h, b.x1, b.y1, b.x2, b.y2, *window]))


def crop_images(
    images: str | os.PathLike,
    labels: str | os.PathLike,
    out: str | os.PathLike,
    size: int = 256,
    min_height: float = 0,
    max_images: int | None = None,
    seed: int = 0,
    holdout: int = 0,
    holdout_out: str | os.PathLike | None = None,
    workers: int = 1,
    max_failure_fraction: float = 0.01,
) -> dict:
    """Write the crops (see the module docstring); returns counts for the caller to report."""
    images, out = Path(images), Path(out)
    if not images.is_dir():
        raise CycleAugError(f"{images}: image folder not found")
    if holdout and holdout_out is None:
        raise CycleAugError("--holdout needs --holdout-out (the folder for the held-out crops)")
    if size < 1:
        raise CycleAugError(f"--size {size}: must be a positive number of pixels")
    frames = read_frames(labels)
    with_person = sum(1 for f in frames if f.boxes)
    cands = eligible(frames, min_height)
    dups = [n for n, k in Counter(crop_name(c.source) for c in cands).items() if k > 1]
    if dups:
        dup = dups[0]
        raise CycleAugError(f"{labels}: two frames map to the same crop file {dup!r} (duplicate frame names?)")
    order = np.random.default_rng(seed).permutation(len(cands))
    cands = [cands[i] for i in order]
    want = holdout + (max_images if max_images is not None else len(cands))

    kept: list[tuple[Candidate, int, int, tuple, Box]] = []
    skipped: list[tuple[str, str]] = []
    failures = visited = 0
    first_error = ""
    with atomic_dir(out) as stage:
        jobs = ((str(images), c, size, str(stage), str(labels)) for c in cands)
        with Progress(min(want, len(cands)), "crop", unit="img") as progress:
            pool = None
            try:
                if workers > 1:
                    import multiprocessing as mp  # noqa: PLC0415

                    pool = mp.Pool(workers)
                    results = pool.imap(_crop_one, jobs, chunksize=4)
                else:
                    results = map(_crop_one, jobs)
                for cand, (status, info) in zip(cands, results):
                    visited += 1
                    if status == "bad box":
                        raise CycleAugError(f"{info} (nothing written to {out})")
                    if status == "ok":
                        kept.append((cand, *info))
                        progress.update()
                    else:
                        if status == "error":
                            failures += 1
                            first_error = first_error or f"{cand.source}: {info}"
                        skipped.append((cand.source, info))
                        print(f"crop: skipped {cand.source}: {info}", file=sys.stderr)
                    if len(kept) >= want:
                        break
            finally:
                if pool is not None:
                    # Workers may have cropped images past the last one needed; stop them before
                    # removing their files below.
                    pool.terminate()
                    pool.join()
        keep_names = {crop_name(c.source) for c, *_ in kept}
        for p in stage.iterdir():
            if p.name not in keep_names:
                p.unlink()
        if visited and failures > max_failure_fraction * visited:
            raise CycleAugError(
                f"{images}: {failures} of {visited} images could not be read ({failures / visited:.1%} > "
                f"max failure fraction {max_failure_fraction:.1%}); first: {first_error}"
            )
        held, train = kept[:holdout], kept[holdout:]
        if not train:
            raise CycleAugError(
                f"{labels}: only {len(kept)} usable crops ({len(cands)} of {len(frames)} frames have a person box "
                f">= {min_height:g} px tall, {with_person} have any person), need more than --n-heldout {holdout}"
            )
        if len(kept) < want and max_images is not None:
            print(f"crop: only {len(kept)} usable crops, fewer than the {want} asked for", file=sys.stderr)
        if holdout_out is not None:
            with atomic_dir(holdout_out) as hstage:
                for cand, *_ in held:
                    name = crop_name(cand.source)
                    shutil.move(str(stage / name), str(hstage / name))
                _write_manifest(hstage, [_manifest_row(*k) for k in held])
        _write_manifest(stage, [_manifest_row(*k) for k in train])
        with open(stage / "skipped.csv", "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["source", "reason"])
            writer.writerows(skipped)
    summary = {
        "frames": len(frames), "with_person": with_person, "eligible": len(cands), "visited": visited,
        "crops": len(train), "heldout": len(held), "skipped": len(skipped), "failures": failures,
    }
    print(
        f"crop: {len(train)} crops -> {out}" + (f", {len(held)} held out -> {holdout_out}" if holdout_out else "")
        + f"; {len(cands)} of {len(frames)} frames have a person >= {min_height:g} px; {len(skipped)} skipped",
        file=sys.stderr,
    )
    return summary
