"""Translated SYNTHIA sets for the detector (paper Step 2, conditions (c)-(g) of Table 2).

The detector trains on the SYNTHIA images chosen by ``cycleaug select-detector-sets``
(``synthetic.json``, BDD100K JSON whose frame names are files of the raw SYNTHIA ``RGB`` folder).
For each CycleGAN run, its final G_A translates exactly those images at their native resolution
(``cycleaug.cyclegan.translate.translate`` pads each side to a multiple of 4 by reflection and crops
the output back), so every person box of the original image is still valid on the translated one,
and the labels file is written again with the translated images' names (the frame's relative path
with a .png suffix); that file is what the detector's conditions (c)-(g) train with:

    cycleaug generate --checkpoint results/cyclegan/4gpu/checkpoints/200_net_G_A.pth \\
        --input data/raw/synthia/RGB --list results/detector/selection/synthetic.json \\
        --output results/generated/4gpu/images --labels-out results/generated/4gpu/labels.json
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import torch
from PIL import Image

from cycleaug.atomic import atomic_dir
from cycleaug.cyclegan.data import IMAGE_SUFFIXES
from cycleaug.cyclegan.translate import translate
from cycleaug.errors import CycleAugError
from cycleaug.labels import Frame, png_name, read_frames, write_frames


def listed_inputs(list_file: str | os.PathLike, input_dir: str | os.PathLike) -> list[tuple[Frame, Path]]:
    """The frames of ``list_file`` (BDD100K JSON) with their images ``input_dir/<name>``, in the list's
    order. Every listed image must exist, and no two may share an output name."""
    input_dir = Path(input_dir)
    if not input_dir.is_dir():
        raise CycleAugError(f"--input {input_dir}: with --list, expected the folder the listed images are in")
    frames = read_frames(list_file)
    if not frames:
        raise CycleAugError(f"--list {list_file}: no frames; expected the images to translate")
    pairs, seen, missing = [], {}, []
    for frame in frames:
        path = input_dir / frame.name
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            raise CycleAugError(
                f"--list {list_file}: frame {frame.name!r} is not an image name ({', '.join(IMAGE_SUFFIXES)} expected)"
            )
        out = png_name(frame.name)
        if out in seen:
            raise CycleAugError(
                f"--list {list_file}: frames {seen[out]!r} and {frame.name!r} would both be written as {out}"
            )
        seen[out] = frame.name
        if not path.is_file():
            missing.append(frame.name)
        pairs.append((frame, path))
    if missing:
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        raise CycleAugError(
            f"--list {list_file}: {len(missing)} listed image(s) not in {input_dir}: {', '.join(missing[:3])}{more}"
        )
    return pairs


def _size(path: Path) -> tuple[int, int]:
    with Image.open(path) as im:
        return im.size


def translated_frames(pairs: list[tuple[Frame, Path]], out_dir: str | os.PathLike) -> list[Frame]:
    """The labels of the translated images: each frame's boxes unchanged, named after its output.

    The output must have the input's size (and the size the frame records, if it records one), which is
    what keeps the boxes valid; the frame's attributes are kept, with ``width``/``height`` set."""
    out_dir = Path(out_dir)
    frames = []
    for frame, src in pairs:
        out = out_dir / png_name(frame.name)
        w, h = _size(out)
        if (w, h) != _size(src):
            raise CycleAugError(
                f"{out}: {w}x{h} pixels, but its input {src} is {_size(src)[0]}x{_size(src)[1]}; "
                "the translation must keep the image size (boxes are in its pixels)"
            )
        want = frame.attributes.get("width"), frame.attributes.get("height")
        if None not in want and (int(want[0]), int(want[1])) != (w, h):
            raise CycleAugError(f"frame {frame.name!r} records a {want[0]}x{want[1]} image, but {src} is {w}x{h}")
        frames.append(Frame(png_name(frame.name), list(frame.boxes), {**frame.attributes, "width": w, "height": h}))
    return frames


@contextlib.contextmanager
def new_output_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Where to write a folder of outputs: a fresh temporary folder that replaces ``path`` whole when it is
    complete, so ``path`` holds the outputs of one run only (never epochs of two runs mixed), and stage
    folders of killed runs are removed on the next start (cycleaug.atomic.atomic_dir)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise CycleAugError(f"--output {path}: exists and is not a folder; expected a folder (replaced whole)")
    with atomic_dir(path) as tmp:
        yield tmp


def translate_listed(
    generator: torch.nn.Module,
    list_file: str | os.PathLike,
    input_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    labels_out: str | os.PathLike | None = None,
    batch_size: int = 8,
    progress: bool = True,
) -> list[Frame]:
    """Translate the images ``list_file`` names (from ``input_dir``) into ``out_dir`` and, with
    ``labels_out``, write their labels (same boxes, output names); returns those frames."""
    pairs = listed_inputs(list_file, input_dir)
    with new_output_dir(out_dir) as stage:
        translate(
            generator,
            [p for _, p in pairs],
            stage,
            batch_size=batch_size,
            progress=progress,
            names=[png_name(f.name) for f, _ in pairs],
        )
        frames = translated_frames(pairs, stage)
    if labels_out is not None:
        write_frames(labels_out, frames)
    return frames
