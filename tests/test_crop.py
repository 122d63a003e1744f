"""Person-centred crops: window geometry, pixel content against numpy slicing of the source,
skipped and corrupt images, the failure fraction, held-out selection and determinism."""

from __future__ import annotations

import csv
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import BIN, kill_once_staged, run_cli
from cycleaug.data.crop import crop_images, crop_window, largest_box
from cycleaug.errors import CycleAugError
from cycleaug.labels import Box, Frame, write_frames
from PIL import Image


def test_window_is_centred_on_the_box():
    box = Box(40.0, 30.0, 60.0, 70.0)  # centre (50, 50)
    assert crop_window(box, 200, 100, 32) == (34, 34, 66, 66)
    x0, y0, x1, y1 = crop_window(Box(40.0, 30.0, 61.0, 71.0), 200, 100, 32)  # centre (50.5, 50.5)
    assert (x0 + x1) / 2 - 50.5 in (-0.5, 0.5) and (y0 + y1) / 2 - 50.5 in (-0.5, 0.5)


@pytest.mark.parametrize(
    "box, expected",
    [
        (Box(0, 0, 10, 10), (0, 0, 32, 32)),  # crosses left and top: shifted right and down
        (Box(190, 90, 200, 100), (168, 68, 200, 100)),  # crosses right and bottom: shifted left and up
        (Box(-5, 40, 3, 60), (0, 34, 32, 66)),  # box partly outside the image
    ],
)
def test_window_is_shifted_inside(box, expected):
    assert crop_window(box, 200, 100, 32) == expected


def test_window_exact_fit_and_too_small():
    assert crop_window(Box(0, 0, 4, 4), 32, 32, 32) == (0, 0, 32, 32)
    assert crop_window(Box(0, 0, 4, 4), 31, 64, 32) is None
    assert crop_window(Box(0, 0, 4, 4), 64, 31, 32) is None


def test_largest_box_is_by_area():
    tall = Box(0, 0, 2, 50)  # area 100, taller
    wide = Box(0, 0, 20, 10)  # area 200
    assert largest_box([tall, wide]) is wide
    assert largest_box([]) is None


def _scene(tmp_path: Path, n: int = 12, size=(80, 60)) -> tuple[Path, Path, dict]:
    """n random-noise images, each with a small and a large person box; returns folder, labels, arrays."""
    rng = np.random.default_rng(1)
    images = tmp_path / "images"
    images.mkdir()
    frames, arrays = [], {}
    for i in range(n):
        a = rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
        name = f"img{i:02d}.png"
        Image.fromarray(a).save(images / name)
        arrays[name] = a
        x, y = rng.uniform(0, size[0] - 10), rng.uniform(0, size[1] - 25)
        frames.append(Frame(name, [Box(1, 1, 4, 8), Box(x, y, x + 10, y + 25)]))
    frames.append(Frame("nobody.png", []))
    frames.append(Frame("short.png", [Box(0, 0, 5, 10)]))  # below min_height
    labels = tmp_path / "labels.json"
    write_frames(labels, frames)
    return images, labels, arrays


def _manifest(folder: Path) -> list[dict]:
    with open(folder / "manifest.csv") as f:
        return list(csv.DictReader(f))


def test_crops_match_source_pixels(tmp_path):
    images, labels, arrays = _scene(tmp_path)
    summary = crop_images(images, labels, tmp_path / "out", size=32, min_height=20)
    assert summary["crops"] == 12 and summary["eligible"] == 12 and summary["skipped"] == 0
    rows = _manifest(tmp_path / "out")
    assert len(rows) == 12
    for r in rows:
        x0, y0, x1, y1 = (int(r[k]) for k in ("crop_x0", "crop_y0", "crop_x1", "crop_y1"))
        crop = np.asarray(Image.open(tmp_path / "out" / r["crop"]))
        np.testing.assert_array_equal(crop, arrays[r["source"]][y0:y1, x0:x1])
        cx = (float(r["box_x1"]) + float(r["box_x2"])) / 2
        # Centred unless the border forced a shift.
        assert x1 - x0 == 32 and (abs((x0 + x1) / 2 - cx) <= 0.5 or x0 == 0 or x1 == 80)
        assert float(r["box_y2"]) - float(r["box_y1"]) == pytest.approx(25)  # the larger person was used
    assert (tmp_path / "out" / "skipped.csv").read_text().splitlines() == ["source,reason"]


def test_small_and_corrupt_images_are_skipped(tmp_path):
    images, labels, _ = _scene(tmp_path, n=10)
    Image.new("RGB", (20, 20)).save(images / "img03.png")  # smaller than the crop
    (images / "img05.png").write_bytes((images / "img05.png").read_bytes()[:200])  # truncated
    (images / "img07.png").unlink()  # missing
    with pytest.raises(CycleAugError, match="2 of 10 images could not be read"):
        crop_images(images, labels, tmp_path / "out", size=32, min_height=20, max_failure_fraction=0.1)
    assert not (tmp_path / "out").exists()  # nothing half-written
    summary = crop_images(images, labels, tmp_path / "out", size=32, min_height=20, max_failure_fraction=0.2)
    assert (summary["crops"], summary["skipped"], summary["failures"]) == (7, 3, 2)
    with open(tmp_path / "out" / "skipped.csv") as f:
        reasons = {r["source"]: r["reason"] for r in csv.DictReader(f)}
    assert set(reasons) == {"img03.png", "img05.png", "img07.png"}
    assert "smaller than the 32x32 crop" in reasons["img03.png"]
    assert "unreadable" in reasons["img05.png"] and "not found" in reasons["img07.png"]
    assert sorted(p.name for p in (tmp_path / "out").glob("*.png")) == sorted(
        r["crop"] for r in _manifest(tmp_path / "out")
    )


def test_holdout_max_images_and_determinism(tmp_path):
    images, labels, _ = _scene(tmp_path, n=12)

    def run(tag, seed, workers):
        out, held = tmp_path / f"out_{tag}", tmp_path / f"held_{tag}"
        crop_images(
            images,
            labels,
            out,
            size=32,
            min_height=20,
            max_images=5,
            seed=seed,
            holdout=3,
            holdout_out=held,
            workers=workers,
        )
        return (
            {r["source"] for r in _manifest(out)},
            {r["source"] for r in _manifest(held)},
            {p.name: p.read_bytes() for p in out.glob("*.png")},
        )

    train, held, files = run("a", 0, 1)
    assert len(train) == 5 and len(held) == 3 and not train & held
    assert len(files) == 5  # no stray crops from images visited past the last one needed
    assert run("b", 0, 2) == (train, held, files)  # same seed, more workers: same output
    other = run("c", 1, 1)
    assert (other[0], other[1]) != (train, held)


def test_too_few_crops_for_holdout(tmp_path):
    images, labels, _ = _scene(tmp_path, n=3)
    with pytest.raises(CycleAugError, match="need more than --n-heldout 3"):
        crop_images(images, labels, tmp_path / "out", size=32, min_height=20, holdout=3, holdout_out=tmp_path / "held")
    assert not (tmp_path / "out").exists() and not (tmp_path / "held").exists()


def test_crop_cli(tmp_path):
    images, labels, _ = _scene(tmp_path, n=6)
    run_cli(
        "crop",
        "--images",
        images,
        "--labels",
        labels,
        "--out",
        tmp_path / "out",
        "--size",
        "32",
        "--min-height",
        "20",
        "--holdout",
        "2",
        "--holdout-out",
        tmp_path / "held",
        "--workers",
        "2",
    )
    assert len(_manifest(tmp_path / "out")) == 4 and len(_manifest(tmp_path / "held")) == 2
    bad = run_cli("crop", "--images", tmp_path / "nope", "--labels", labels, "--out", tmp_path / "x", check=False)
    assert bad.returncode == 2 and "image folder not found" in bad.stderr


def test_partly_outside_box_is_clipped_and_an_outside_box_is_an_error(tmp_path):
    """Box validation (cycleaug.labels.check_box) against the image crop reads: a box partly outside is
    clipped (the manifest records the clipped box, the window centres on it); one wholly outside is an
    error naming the file and the frame, before anything is written (it would crop background)."""
    images = tmp_path / "images"
    images.mkdir()
    Image.new("RGB", (80, 60)).save(images / "a.png")
    labels = tmp_path / "labels.json"
    write_frames(labels, [Frame("a.png", [Box(-20, 10, 30, 50)])])
    crop_images(images, labels, tmp_path / "out", size=32)
    (row,) = _manifest(tmp_path / "out")
    assert [float(row[k]) for k in ("box_x1", "box_y1", "box_x2", "box_y2")] == [0, 10, 30, 50]
    assert (int(row["crop_x0"]), int(row["crop_y0"])) == (0, 14)  # centre (15, 30), shifted inside
    write_frames(labels, [Frame("a.png", [Box(90, 10, 120, 50)])])
    with pytest.raises(CycleAugError, match=r"labels.json: frame 'a.png': largest person: box \(90, 10, 120, 50\) "):
        crop_images(images, labels, tmp_path / "out2", size=32)
    assert not (tmp_path / "out2").exists()


def test_crop_name_stays_inside_the_output_folder():
    from cycleaug.data.crop import crop_name

    assert crop_name("Stereo_Left/Omni_F/000000.jpg") == "Stereo_Left_Omni_F_000000.png"
    for bad in ("/etc/passwd.png", "../x.png", "a/../../x.png", ""):
        with pytest.raises(CycleAugError, match="expected a relative path inside its folder"):
            crop_name(bad)


# ---- stage folders: killed runs, stale stages (issue 24, item 6) --------------------------------


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_next_start_removes_stale_stages_of_dead_runs_only(tmp_path):
    """Stage folders and temporaries are named .<output>.stage|tmp-<host>-<pid>-<random>: the next start
    removes those of this host whose process is gone, and leaves a live run's, another host's and
    anything else beside the output."""
    from cycleaug import atomic

    images, labels, _ = _scene(tmp_path, n=3)
    dead = subprocess.Popen(["true"])
    dead.wait()  # reaped: its pid names no process now
    host = atomic._HOST
    stale = tmp_path / f".crops.stage-{host}-{dead.pid}-abc12345"
    (stale / "sub").mkdir(parents=True)
    (stale / "sub" / "img00.png").write_bytes(b"half")
    stale_tmp = tmp_path / f".labels.json.tmp-{host}-{dead.pid}-abc12345.json"
    stale_tmp.write_text("[")
    keep = [
        tmp_path / f".crops.stage-{host}-{os.getppid()}-abc12345",  # a live process: another run
        tmp_path / f".crops.stage-otherhost-{dead.pid}-abc12345",  # another machine's: cannot tell
        tmp_path / ".crops.keep",
    ]
    for p in keep:
        p.mkdir()
    crop_images(images, labels, tmp_path / "crops", size=32, min_height=20)
    assert not stale.exists() and not stale_tmp.exists()
    assert all(p.exists() for p in keep)
    assert len(_manifest(tmp_path / "crops")) == 3


def test_killed_crop_rerun_gives_the_uninterrupted_output(tmp_path):
    """SIGKILL (the whole process group, as a scheduler does) once the stage folder holds crops, then the
    same command again: the output equals an uninterrupted run's, file for file, and the killed run's
    stage folder is gone."""
    images, labels, _ = _scene(tmp_path, n=240, size=(160, 120))
    args = [*("crop", "--images", images, "--labels", labels, "--size", "32", "--min-height", "20"), "--workers", "2"]
    args += ["--n-heldout", "5"]
    ref, out = tmp_path / "ref", tmp_path / "run"
    run_cli(*args, "--out", ref / "crops", "--holdout-out", ref / "held")
    argv = [str(BIN / "cycleaug"), *map(str, args), "--out", str(out / "crops"), "--holdout-out", str(out / "held")]
    kill_once_staged(argv, out, ".crops.stage", timeout=120)
    assert [p.name.split("-")[0] for p in out.iterdir()] == [".crops.stage"]  # the killed run's leftover
    run_cli(*args, "--out", out / "crops", "--holdout-out", out / "held")
    assert _tree(out / "crops") == _tree(ref / "crops") and _tree(out / "held") == _tree(ref / "held")
    assert sorted(p.name for p in out.iterdir()) == ["crops", "held"]
