"""Bad input to the data and generation stages, through the real command line (issue 24, items 2-4).

One table, one row per case: how the bad input is made, the command, and the exact text the one-line
error must hold. Every case must exit non-zero with one line on stderr (no traceback) and leave nothing
at the output path, not even a stage folder beside it.

    case                 bad input                                   stage
    absolute name        frame "/tmp/.../outside.png"                crop, boxes, align-images, generate
    ../ name             frame "../outside.png"                      crop
    name not a string    "name": 7                                   crop
    NaN / Infinity       "x1": NaN, "x2": Infinity (Python's json)   crop, boxes bdd100k
    box off the image    (500, 500, 600, 600) on a 40x30 image       crop (read: image size), boxes synthia
    zero-area box        x1 == x2                                    crop
    wrong types          string coordinate, labels an object, ...    crop
    missing key          box2d without y2                            crop
    unwritable output    --out in a folder we may not write          crop, boxes
"""

from __future__ import annotations

import errno
import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import BIN, run_cli
from PIL import Image

W, H = 40, 30
GOOD_BOX = {"x1": 5, "y1": 2, "x2": 15, "y2": 28}


def _label(box: object, category: str = "pedestrian") -> dict:
    return {"id": "0", "category": category, "box2d": box}


def _frame(name: object = "a.png", box: object = None, **extra) -> dict:
    return {"name": name, "attributes": {}, "labels": [_label(GOOD_BOX if box is None else box)], **extra}


def _image(path: Path, size=(W, H)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (90, 120, 150)).save(path)
    return path


class Case:
    """tmp, a workspace with images/a.png (40x30) and outside.png beside images/; ``labels`` writes the
    label file (text or JSON data) that the command reads."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.images = tmp / "images"
        _image(self.images / "a.png")
        _image(self.images / "b.png")
        self.outside = _image(tmp / "outside.png")
        self.labels_path = tmp / "labels.json"

    def labels(self, data) -> Path:
        self.labels_path.write_text(data if isinstance(data, str) else json.dumps(data))
        return self.labels_path

    def crop(self, data, out: Path | None = None) -> tuple[list, Path]:
        out = out or self.tmp / "out" / "crops"
        labels = self.labels(data)
        return ["crop", "--images", self.images, "--labels", labels, "--out", out, "--size", "16"], out


def _unwritable(tmp: Path) -> Path:
    """A folder this process may not create files in: a read-only folder (or, as root, who may write
    anywhere on an ordinary disk, /sys, where even root may not create files)."""
    if os.geteuid() != 0:
        ro = tmp / "readonly"
        ro.mkdir()
        ro.chmod(0o555)
        return ro
    try:
        fd, name = tempfile.mkstemp(dir="/sys")
    except OSError as exc:
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            return Path("/sys")
        raise
    os.close(fd)
    os.unlink(name)
    pytest.skip("no unwritable folder to test with (running as root and /sys is writable)")


def _crop_case(data_of: Callable[[Case], object], expected_of: Callable[[Case], str]):
    def build(c: Case):
        args, out = c.crop(data_of(c))
        return args, out, expected_of(c)

    return build


def _lab(c: Case) -> str:
    return str(c.labels_path)


RELATIVE = "expected a relative path inside its folder (no leading '/', no '..')"

CASES = {
    # item 2: names that leave their folder
    "crop: absolute frame name": _crop_case(
        lambda c: [_frame(str(c.outside))], lambda c: f"{_lab(c)}: frame 0: name {str(c.outside)!r}: {RELATIVE}"
    ),
    "crop: ../ frame name": _crop_case(
        lambda c: [_frame("../outside.png")], lambda c: f"{_lab(c)}: frame 0: name '../outside.png': {RELATIVE}"
    ),
    "crop: name not a string": _crop_case(
        lambda c: [_frame(7)], lambda c: f"{_lab(c)}: frame 0: name is 7 (int); expected a string"
    ),
    # item 3: non-finite and off-image boxes
    "crop: NaN coordinate": _crop_case(
        lambda c: (
            '[{"name": "a.png", "labels": [{"category": "pedestrian", '
            '"box2d": {"x1": NaN, "y1": 2, "x2": 15, "y2": 28}}]}]'
        ),
        lambda c: f"{_lab(c)}: frame 'a.png' label 0: box2d.x1 is nan; expected a finite number",
    ),
    "crop: Infinity coordinate": _crop_case(
        lambda c: (
            '[{"name": "a.png", "labels": [{"category": "pedestrian", '
            '"box2d": {"x1": 5, "y1": 2, "x2": Infinity, "y2": 28}}]}]'
        ),
        lambda c: f"{_lab(c)}: frame 'a.png' label 0: box2d.x2 is inf; expected a finite number",
    ),
    "crop: box outside the image": _crop_case(
        lambda c: [_frame(box={"x1": 500, "y1": 500, "x2": 600, "y2": 620})],
        lambda c: (
            f"{_lab(c)}: frame 'a.png': largest person: box (500, 500, 600, 620) lies outside the 40x30 "
            "image; expected pixel coordinates of that image (x in 0..40, y in 0..30)"
        ),
    ),
    "crop: box outside the recorded image size": _crop_case(
        lambda c: [_frame(box={"x1": 50, "y1": 2, "x2": 60, "y2": 28}, attributes={"width": W, "height": H})],
        lambda c: f"{_lab(c)}: frame 'a.png' label 0: box (50, 2, 60, 28) lies outside the 40x30 image",
    ),
    "crop: zero-area box": _crop_case(
        lambda c: [_frame(box={"x1": 5, "y1": 2, "x2": 5, "y2": 28})],
        lambda c: (
            f"{_lab(c)}: frame 'a.png' label 0: box (5, 2, 5, 28) has zero width or height; "
            "expected a box of positive area"
        ),
    ),
    # item 4: wrong types and missing keys
    "crop: string coordinate": _crop_case(
        lambda c: [_frame(box={**GOOD_BOX, "x1": "5"})],
        lambda c: f"{_lab(c)}: frame 'a.png' label 0: box2d.x1 is '5' (str); expected a number",
    ),
    "crop: boolean coordinate": _crop_case(
        lambda c: [_frame(box={**GOOD_BOX, "y2": True})],
        lambda c: f"{_lab(c)}: frame 'a.png' label 0: box2d.y2 is True (bool); expected a number",
    ),
    "crop: missing coordinate": _crop_case(
        lambda c: [_frame(box={"x1": 5, "y1": 2, "x2": 15})],
        lambda c: f"{_lab(c)}: frame 'a.png' label 0: box2d has no y2; expected numbers x1, y1, x2, y2",
    ),
    "crop: box2d a list": _crop_case(
        lambda c: [_frame(box=[5, 2, 15, 28])],
        lambda c: f"{_lab(c)}: frame 'a.png' label 0: 'box2d' is a list; expected an object with x1, y1, x2, y2",
    ),
    "crop: labels an object": _crop_case(
        lambda c: [{"name": "a.png", "labels": _label(GOOD_BOX)}],
        lambda c: f"{_lab(c)}: frame 'a.png': 'labels' is an object; expected a list of labels",
    ),
    "crop: label a string": _crop_case(
        lambda c: [{"name": "a.png", "labels": ["pedestrian"]}],
        lambda c: f"{_lab(c)}: frame 'a.png' label 0 is a string; expected an object with 'category' and 'box2d'",
    ),
    "crop: frame a list": _crop_case(
        lambda c: [["a.png", GOOD_BOX]], lambda c: f"{_lab(c)}: frame 0 is a list; expected an object with a 'name'"
    ),
    "crop: file an object": _crop_case(
        lambda c: {"frames": []},
        lambda c: f"{_lab(c)}: expected a JSON list of frames (BDD100K detection format), got an object",
    ),
    "crop: frame without name": _crop_case(lambda c: [{"labels": []}], lambda c: f"{_lab(c)}: frame 0 has no 'name'"),
    "crop: score a string": _crop_case(
        lambda c: [{"name": "a.png", "labels": [{**_label(GOOD_BOX), "score": "high"}]}],
        lambda c: f"{_lab(c)}: frame 'a.png' label 0: score is 'high' (str); expected a number",
    ),
    "crop: attributes a list": _crop_case(
        lambda c: [_frame(attributes=["clear"])],
        lambda c: f"{_lab(c)}: frame 'a.png': 'attributes' is a list; expected an object",
    ),
}


def _boxes_bdd(data, expected_of):
    def build(c: Case):
        raw = c.labels(data if isinstance(data, str) else data(c))
        out = c.tmp / "labels" / "bdd100k_train.json"
        return ["boxes", "bdd100k", "--labels", raw, "--out", out, "--label-format", "det20"], out, expected_of(c)

    return build


CASES |= {
    "boxes bdd100k: NaN coordinate": _boxes_bdd(
        '[{"name": "a.png", "labels": [{"category": "pedestrian", "box2d": {"x1": 1, "y1": NaN, "x2": 4, "y2": 9}}]}]',
        lambda c: f"{_lab(c)}: frame 'a.png' label 0: box2d.y1 is nan; expected a finite number",
    ),
    "boxes bdd100k: absolute frame name": _boxes_bdd(
        lambda c: [_frame(str(c.outside))], lambda c: f"{_lab(c)}: frame 0: name {str(c.outside)!r}: {RELATIVE}"
    ),
}


def _boxes_synthia_off_image(c: Case):
    """A hand-made SYNTHIA box file (boxes synthia --boxes) with a box left of and above the image."""
    root = c.tmp / "synthia"
    _image(root / "RGB" / "0000000.png")
    data = [{"name": "0000000.png", "labels": [_label({"x1": -30, "y1": -20, "x2": -10, "y2": -2}, "person")]}]
    out = c.tmp / "labels" / "synthia.json"
    args = ["boxes", "synthia", "--root", root, "--boxes", c.labels(data), "--out", out]
    return args, out, f"{_lab(c)}: frame '0000000.png' label 0: box (-30, -20, -10, -2) lies outside the image"


def _align_absolute(c: Case):
    out = c.tmp / "aligned"
    args = ["align-images", "--labels", c.labels([_frame(str(c.outside))]), "--images", c.images]
    return [*args, "--size", "8", "8", "--out", out], out, f"{_lab(c)}: frame 0: name {str(c.outside)!r}: {RELATIVE}"


def _generate_absolute(c: Case):
    ckpt = c.tmp / "1_net_G_A.pth"  # never read: the list is checked before the generator is loaded
    ckpt.write_bytes(b"")
    out = c.tmp / "generated" / "images"
    args = ["generate", "--checkpoint", ckpt, "--input", c.images, "--list", c.labels([_frame(str(c.outside))])]
    return (
        [*args, "--output", out, "--labels-out", c.tmp / "generated" / "labels.json", "--device", "cpu"],
        out,
        f"{_lab(c)}: frame 0: name {str(c.outside)!r}: {RELATIVE}",
    )


def _NOT_WRITABLE(out: Path) -> re.Pattern:
    """The error for ``out`` in an unwritable folder; the system's reason depends on the folder's kind."""
    reason = "(Permission denied|Operation not permitted|Read-only file system)"
    return re.compile(rf"{re.escape(str(out))}: {reason} \(not writable\); expected a writable folder with free space")


def _crop_unwritable(c: Case):
    args, out = c.crop([_frame()], out=_unwritable(c.tmp) / "cycleaug-test-crops")
    return args, out, _NOT_WRITABLE(out)


def _boxes_unwritable(c: Case):
    out = _unwritable(c.tmp) / "cycleaug-test-labels.json"
    args = ["boxes", "bdd100k", "--labels", c.labels([_frame()]), "--out", out, "--label-format", "det20"]
    return args, out, _NOT_WRITABLE(out)


def _boxes_out_is_a_folder(c: Case):
    out = c.tmp / "labels"
    out.mkdir()
    args = ["boxes", "bdd100k", "--labels", c.labels([_frame()]), "--out", out, "--label-format", "det20"]
    return args, out, f"{out}: Is a directory; expected a file name, not a folder (nothing written)"


def _crop_labels_folder(c: Case):
    args, out = c.crop([_frame()])
    c.labels_path.unlink()
    c.labels_path.mkdir()
    return args, out, f"{_lab(c)}: is a folder; expected a label file (BDD100K JSON)"


def _crop_labels_binary(c: Case):
    args, out = c.crop([_frame()])
    c.labels_path.write_bytes(b"\xff\xfe[\x00]")
    return args, out, f"{_lab(c)}: not a UTF-8 text file (invalid start byte at byte 0)"


CASES |= {
    "boxes: --out is a folder": _boxes_out_is_a_folder,
    "crop: --labels is a folder": _crop_labels_folder,
    "crop: --labels not text": _crop_labels_binary,
    "boxes synthia: hand-made box outside the image": _boxes_synthia_off_image,
    "align-images: absolute frame name": _align_absolute,
    "generate --list: absolute frame name": _generate_absolute,
    "crop: output folder not writable": _crop_unwritable,
    "boxes: output file not writable": _boxes_unwritable,
}


def _leftovers(out: Path) -> list[str]:
    """Anything of ``out``'s beside it and in it: the output itself or a stage folder / temporary file."""
    if not out.parent.is_dir():
        return []
    mine = [p for p in out.parent.iterdir() if p.name == out.name or p.name.startswith(f".{out.name}.")]
    return sorted([p.name for p in mine] + [f"{out.name}/{f.name}" for d in mine if d.is_dir() for f in d.iterdir()])


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_line_and_leaves_nothing(tmp_path, case):
    args, out, expected = CASES[case](Case(tmp_path))
    before = _leftovers(out)  # [] or, where the case made the output path a folder, that empty folder
    proc = run_cli(*args, check=False, timeout=120)
    err = proc.stderr.strip()
    assert proc.returncode != 0, f"{case}: exit 0\n{err}"
    assert "Traceback" not in err and len(err.splitlines()) == 1, f"{case}: not one line:\n{err}"
    assert err.startswith(f"cycleaug {args[0]}") and ": error: " in err, err
    found = expected.search(err) if isinstance(expected, re.Pattern) else expected in err
    assert found, f"{case}:\n  expected {expected!r}\n  in       {err!r}"
    assert _leftovers(out) == before, f"{case}: half-written output {_leftovers(out)}"
    # Nothing was written outside the workspace either (the absolute and ../ names).
    assert not (tmp_path / "out" / "crops").exists()


def test_full_disk_while_writing_labels_is_one_line(tmp_path):
    """A full disk (here: a file size limit, `ulimit -f`, which fails the write as ENOSPC would, with
    EFBIG) while `boxes` writes its labels: one line naming the output, and no half-written file."""
    c = Case(tmp_path)
    frames = [_frame(f"f{i:05d}.png") for i in range(3000)]  # ~300 KB of JSON, over the 64 KB limit
    out = tmp_path / "labels" / "big.json"
    argv = ["boxes", "bdd100k", "--labels", c.labels(frames), "--out", out, "--label-format", "det20"]
    # The labels are read before the limit bites: the limit is set for the writing process only.
    proc = subprocess.run(
        ["bash", "-c", 'ulimit -f 64 && exec "$@"', "bash", str(BIN / "cycleaug"), *map(str, argv)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    err = proc.stderr.strip()
    assert proc.returncode == 2 and len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert f"{out}: File too large (full disk or file size limit); expected a writable folder" in err, err
    assert _leftovers(out) == []


def test_nan_is_never_written_as_json(tmp_path):
    """write_frames refuses NaN and Infinity (Python's json would write the non-JSON `NaN`), naming the
    frame, and writes nothing."""
    from cycleaug.errors import CycleAugError
    from cycleaug.labels import Box, Frame, write_frames

    out = tmp_path / "l.json"
    with pytest.raises(CycleAugError, match=r"frame 'a.png' label 1: .* is not finite; expected finite numbers"):
        write_frames(out, [Frame("a.png", [Box(0, 0, 1, 1), Box(0, 0, float("nan"), 1)])])
    assert not out.exists() and list(tmp_path.iterdir()) == []


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-x", "-q"]))
