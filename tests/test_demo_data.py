"""The demo generator: real on-disk formats, determinism, usable persons, and a CG-vs-photo gap
measured on the generated images."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import png
import pytest
import yaml
from conftest import ROOT, plain_iou, run_cli
from cycleaug.data.bdd100k import read_bdd100k
from cycleaug.data.crop import largest_box
from cycleaug.data.demo import (
    CAR,
    Obj,
    Palette,
    bdd_labels,
    bdd_names,
    bdd_scene,
    make_person,
    make_scene,
    rasterise,
    write_demo,
)
from cycleaug.data.pngio import read_png
from cycleaug.data.synthia import PEDESTRIAN, boxes_from_instances, synthia_frames
from cycleaug.errors import CycleAugError
from PIL import Image
from scipy import ndimage

SMALL = dict(n_bdd_train=8, n_bdd_val=3, n_synthia=8, bdd_size=(128, 72), synthia_size=(128, 76))


def _digest(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("demo") / "raw"
    write_demo(out, seed=0, **SMALL)
    return out


def test_layout_and_formats(demo):
    bdd = demo / "bdd100k"
    for split, n in (("train", 8), ("val", 3)):
        names = sorted(p.name for p in (bdd / "images/100k" / split).iterdir())
        assert len(names) == n and all(re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{8}\.jpg", x) for x in names)
        assert Image.open(bdd / "images/100k" / split / names[0]).format == "JPEG"
        legacy = json.loads((bdd / f"labels/bdd100k_labels_images_{split}.json").read_text())
        assert sorted(f["name"] for f in legacy) == names
        assert set(legacy[0]["attributes"]) == {"weather", "scene", "timeofday"}
        cats = {lab["category"] for f in legacy for lab in f["labels"]}
        assert {"person", "drivable area", "lane"} <= cats
        assert all(("box2d" in lab) != ("poly2d" in lab) for f in legacy for lab in f["labels"])
        det = json.loads((bdd / f"labels/det_20/det_{split}.json").read_text())
        assert "pedestrian" in {lab["category"] for f in det for lab in f.get("labels", [])}
        assert "person" not in {lab["category"] for f in det for lab in f.get("labels", [])}
        # Both releases give the same person boxes through the real reader.
        a = read_bdd100k(bdd / f"labels/bdd100k_labels_images_{split}.json", "legacy")
        b = read_bdd100k(bdd / f"labels/det_20/det_{split}.json", "det20")
        assert [(f.name, f.boxes) for f in a] == [(f.name, f.boxes) for f in b]
    syn = demo / "synthia"
    names = sorted(p.name for p in (syn / "RGB").iterdir())
    assert names == [f"{i:07d}.png" for i in range(8)]
    info = png.Reader(filename=str(syn / "GT/LABELS" / names[0])).read()[3]
    assert (info["bitdepth"], info["planes"]) == (16, 3)
    lab = read_png(syn / "GT/LABELS" / names[0])
    assert lab.shape == (76, 128, 3) and lab[:, :, 0].max() <= 22 and not lab[:, :, 2].any()


def test_synthia_boxes_match_instance_pixels(demo):
    """Boxes from the reader equal the extent of each pedestrian instance, found here per id."""
    frames = {f.name: f for f in synthia_frames(demo / "synthia", min_box_area=0)}
    for name, frame in frames.items():
        lab = read_png(demo / "synthia/GT/LABELS" / name)
        ped = lab[:, :, 0] == PEDESTRIAN
        expected = []
        for i in sorted(set(lab[:, :, 1][ped].tolist())):
            ys, xs = np.nonzero(ped & (lab[:, :, 1] == i))
            expected.append((xs.min(), ys.min(), xs.max() + 1, ys.max() + 1))
        assert [(b.x1, b.y1, b.x2, b.y2) for b in frame.boxes] == expected


def _visible_extents(cls: np.ndarray, inst: np.ndarray, objs, cls_id: int) -> list[tuple]:
    """Pixel-edge extent of each object's visible pixels (its class and instance id in the maps), in
    draw order; objects with no visible pixel have none."""
    out = []
    for o in objs:
        if o.cls != cls_id:
            continue
        ys, xs = np.nonzero((cls == cls_id) & (inst == o.instance))
        if xs.size:
            out.append((xs.min(), ys.min(), xs.max() + 1, ys.max() + 1))
    return out


def _person_boxes(labels: list[dict]) -> list[tuple]:
    return [tuple(lab["box2d"][k] for k in ("x1", "y1", "x2", "y2")) for lab in labels if lab["category"] == "person"]


def test_bdd_person_boxes_are_the_visible_extent(demo):
    """BDD100K's convention (demo.py's comment: Scalabel's instructions, "only annotate visible part of the
    object"): each person box is the extent of that person's visible pixels, found here from the instance
    map of the same scene (rasterised with instance ids), and every person with a visible pixel has one."""
    W, H = SMALL["bdd_size"]
    frames = json.loads((demo / "bdd100k/labels/bdd100k_labels_images_train.json").read_text())
    names = sorted(p.name for p in (demo / "bdd100k/images/100k/train").iterdir())
    assert sum(1 for f in frames if any(lab["category"] == "person" for lab in f["labels"])) >= 5
    for f in frames:
        _, scenery, objs, info, _ = bdd_scene(0, 0, _train_index(demo, f["name"]), W, H)
        _, cls, inst = rasterise(W, H, scenery, objs, info, cg=True)  # same geometry, with instance ids
        boxes = _person_boxes(f["labels"])
        assert boxes == _visible_extents(cls, inst, objs, PEDESTRIAN), f["name"]
        assert all(0 <= x1 < x2 <= W and 0 <= y1 < y2 <= H for x1, y1, x2, y2 in boxes)
    assert len(names) == len(frames)


def _demo_config() -> dict:
    from snakemake.utils import update_config

    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    update_config(config, yaml.safe_load((ROOT / "profiles/demo/demo.yaml").read_text()))
    return config


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_synthia_boxes_of_the_pipeline_equal_the_bdd_style_boxes_of_the_scene(tmp_path, seed):
    """One convention in both domains: the SYNTHIA-like person boxes `cycleaug boxes synthia` makes with
    the demo's settings (profiles/demo/demo.yaml) are, box for box (IoU 1.0), the BDD-like labels of the
    same scene drawn in the photo style, which is the paired truth PAIRED/RGB; and every CG person with
    a visible pixel has its box (far ones too: the demo keeps boxes of any size)."""
    W, H = 160, 95
    out = tmp_path / "raw"
    write_demo(out, seed=seed, n_bdd_train=1, n_bdd_val=1, n_synthia=12, bdd_size=(64, 36), synthia_size=(W, H))
    syn = _demo_config()["data"]["synthia"]
    frames = synthia_frames(out / "synthia", syn["release"], syn["boxes_override"], syn["min_box_area"])
    assert [f.name for f in frames] == [f"{i:07d}.png" for i in range(12)]
    n_boxes = 0
    for i, frame in enumerate(frames):
        scenery, objs, info = make_scene(np.random.default_rng([seed, 0x5A, 0, i]), W, H, cg=False)
        bdd_style = _person_boxes(bdd_labels(objs, info, W, H))
        pipeline = [(b.x1, b.y1, b.x2, b.y2) for b in frame.boxes]
        assert len(pipeline) == len(bdd_style), frame.name
        assert all(plain_iou(a, b) == 1.0 for a, b in zip(pipeline, bdd_style)), frame.name
        lab = read_png(out / "synthia/GT/LABELS" / frame.name)
        drawn = set(lab[:, :, 1][lab[:, :, 0] == PEDESTRIAN].tolist())
        visible = {o.instance for o in objs if o.cls == PEDESTRIAN} & drawn
        assert len(pipeline) == len(visible), frame.name
        n_boxes += len(pipeline)
    assert n_boxes >= 12


def test_occluded_and_truncated_persons_are_boxed_as_bdd100k_does():
    """A person half hidden behind a car is boxed down to the car's roof (visible part), flagged occluded;
    one cut by the image border is boxed inside the image, flagged truncated; one hidden entirely gets no
    box. The CG instance pixels give the SYNTHIA reader the same boxes."""
    W, H = 128, 80
    rng = np.random.default_rng(7)
    pal = Palette(rng, cg=False)
    (hidden_half,) = make_person(rng, pal, 40, 70, 50)
    (cut,) = make_person(rng, pal, 2, 60, 40)
    (hidden,) = make_person(rng, pal, 100, 50, 20)
    car = Obj("car", CAR)
    car.add("poly", [20, 45, 60, 45, 60, 79, 20, 79], (200, 0, 0))
    wall = Obj("car", CAR)  # a van in front of the third person
    wall.add("poly", [85, 20, 115, 20, 115, 60, 85, 60], (0, 0, 200))
    objs = [hidden_half, cut, hidden, car, wall]
    for i, o in enumerate(objs):
        o.instance = i + 1
    info = {"sky": ((90, 90, 200), (90, 90, 200)), "road": [60, 40, 68, 40, 127, 79, 0, 79]}
    labels = [lab for lab in bdd_labels(objs, info, W, H) if lab["category"] == "person"]
    _, cls, inst = rasterise(W, H, [], objs, info, cg=True)
    alone = {id(o): rasterise(W, H, [], [o], info, cg=True)[1] == PEDESTRIAN for o in (hidden_half, cut)}

    assert len(labels) == 2  # nothing of the third person is visible
    (b1, b2) = (lab["box2d"] for lab in labels)
    ys, xs = np.nonzero(alone[id(hidden_half)])
    assert ys.max() + 1 > 60  # its feet are behind the car ...
    assert b1["y2"] == 45 and b1["y1"] == ys.min()  # ... so the box ends at the car's roof
    top = alone[id(hidden_half)][:45]
    assert (b1["x1"], b1["x2"]) == (np.nonzero(top.any(0))[0].min(), np.nonzero(top.any(0))[0].max() + 1)
    assert labels[0]["attributes"] == {"occluded": True, "truncated": False, "trafficLightColor": "none"}
    assert b2["x1"] == 0 and cut.bbox()[0] < 0
    assert labels[1]["attributes"]["truncated"] and not labels[1]["attributes"]["occluded"]
    synthia = [(b.x1, b.y1, b.x2, b.y2) for b in boxes_from_instances(cls, inst)]
    assert synthia == [tuple(b[k] for k in ("x1", "y1", "x2", "y2")) for b in (b1, b2)]


def _train_index(demo: Path, name: str) -> int:
    """Images are rendered in the order of their generated names (bdd_names), not sorted order."""
    return bdd_names(0, [SMALL["n_bdd_train"], SMALL["n_bdd_val"]])[0].index(name)


def test_deterministic_and_seeded(tmp_path, demo):
    again = tmp_path / "again"
    write_demo(again, seed=0, workers=2, **SMALL)
    assert _digest(again) == _digest(demo)  # labels and images, whatever the worker count
    other = tmp_path / "other"
    write_demo(other, seed=1, **SMALL)
    label = "bdd100k/labels/bdd100k_labels_images_train.json"
    assert (other / label).read_bytes() != (demo / label).read_bytes()
    assert _digest(other / "synthia") != _digest(demo / "synthia")


def test_most_images_have_a_croppable_person(tmp_path):
    out = tmp_path / "raw"
    write_demo(out, seed=3, n_bdd_train=40, n_bdd_val=1, n_synthia=30, bdd_size=(96, 54), synthia_size=(96, 57))
    bdd = read_bdd100k(out / "bdd100k/labels/bdd100k_labels_images_train.json", "legacy")
    syn = synthia_frames(out / "synthia", min_box_area=0)
    for frames, h in ((bdd, 54), (syn, 57)):
        tall = [f for f in frames if f.boxes and largest_box(f.boxes).height >= 0.13 * h]
        empty = [f for f in frames if not f.boxes]
        assert len(tall) >= 0.6 * len(frames), len(tall)
        assert empty or len(frames) < 20  # some images have nobody


def _saturation(rgb: np.ndarray) -> float:
    rgb = rgb.astype(np.float64)
    mx, mn = rgb.max(axis=2), rgb.min(axis=2)
    return float(np.mean(np.where(mx > 0, (mx - mn) / np.maximum(mx, 1), 0)))


def _noise(rgb: np.ndarray) -> float:
    """Median absolute Laplacian of the grey image: ~0 on flat surfaces, large with sensor noise
    and texture; edges are too few to move the median."""
    grey = rgb.astype(np.float64).mean(axis=2)
    return float(np.median(np.abs(ndimage.laplace(grey))))


def test_domains_differ_like_cg_and_photos(tmp_path):
    out = tmp_path / "raw"
    write_demo(out, seed=5, n_bdd_train=10, n_bdd_val=1, n_synthia=10, bdd_size=(160, 90), synthia_size=(160, 95))
    bdd = [np.asarray(Image.open(p).convert("RGB")) for p in sorted((out / "bdd100k/images/100k/train").iterdir())]
    syn = [np.asarray(Image.open(p).convert("RGB")) for p in sorted((out / "synthia/RGB").iterdir())]
    sat_b, sat_s = np.mean([_saturation(a) for a in bdd]), np.mean([_saturation(a) for a in syn])
    noise_b, noise_s = np.mean([_noise(a) for a in bdd]), np.mean([_noise(a) for a in syn])
    assert sat_s > 1.5 * sat_b, (sat_s, sat_b)
    assert noise_s < 0.5 and noise_b > 3.0, (noise_s, noise_b)
    # CG keeps exact flat colours: few distinct colours; photos: thousands.
    assert np.mean([len(np.unique(a.reshape(-1, 3), axis=0)) for a in syn]) < 0.1 * np.mean(
        [len(np.unique(a.reshape(-1, 3), axis=0)) for a in bdd]
    )


def test_refuses_to_replace_real_data(tmp_path):
    (tmp_path / "raw/bdd100k/labels").mkdir(parents=True)
    (tmp_path / "raw/bdd100k/labels/bdd100k_labels_images_train.json").write_text("[]")
    with pytest.raises(CycleAugError, match="refusing to replace"):
        write_demo(tmp_path / "raw", **SMALL)
    assert (tmp_path / "raw/bdd100k/labels/bdd100k_labels_images_train.json").read_text() == "[]"


def test_demo_data_cli(tmp_path):
    run_cli(
        "demo-data",
        "--out",
        tmp_path / "raw",
        "--n-bdd-train",
        "2",
        "--n-bdd-val",
        "1",
        "--n-synthia",
        "2",
        "--bdd-size",
        "64",
        "48",
        "--synthia-size",
        "64",
        "50",
    )
    assert len(list((tmp_path / "raw/synthia/GT/LABELS").iterdir())) == 2
    bad = run_cli("demo-data", "--out", tmp_path / "x", "--bdd-size", "8", "8", check=False)
    assert bad.returncode == 2 and "--bdd-size" in bad.stderr


def test_paired_rendering_is_the_same_scene_in_the_photo_style(demo):
    """PAIRED/RGB: one per SYNTHIA-like image, same size. One scene seed drawn in either style gives the
    same geometry (identical class maps: the palettes take equally many draws) with the photo domain's
    colours, and the rendered pair shares its edges."""
    from cycleaug.data.demo import PEDESTRIAN as PED

    rgb_dir, paired_dir = demo / "synthia" / "RGB", demo / "synthia" / "PAIRED" / "RGB"
    assert sorted(p.name for p in paired_dir.iterdir()) == sorted(p.name for p in rgb_dir.iterdir())
    for name in sorted(p.name for p in rgb_dir.iterdir()):
        assert Image.open(paired_dir / name).size == Image.open(rgb_dir / name).size
    W, H = SMALL["synthia_size"]
    saturation = {True: [], False: []}
    for index in range(40):
        maps = {}
        for cg in (True, False):
            scenery, objs, info = make_scene(np.random.default_rng([0, 0x5A, 0, index]), W, H, cg=cg)
            maps[cg] = rasterise(W, H, scenery, objs, info, cg=cg)[1]
            saturation[cg] += [max(c) - min(c) for o in objs if o.cls == PED for _, _, c, _ in o.parts]
        assert np.array_equal(maps[True], maps[False]), index
    # Clothes and skin: CG saturated, photos dull (chroma in 0-255 units).
    assert np.mean(saturation[False]) < 0.5 * np.mean(saturation[True])

    def edges(img):
        grey = ndimage.gaussian_filter(np.asarray(Image.open(img).convert("L"), np.float64), 1)
        return np.hypot(ndimage.sobel(grey, 0), ndimage.sobel(grey, 1)).ravel()

    own = np.corrcoef(edges(rgb_dir / "0000003.png"), edges(paired_dir / "0000003.png"))[0, 1]
    other = np.corrcoef(edges(rgb_dir / "0000004.png"), edges(paired_dir / "0000003.png"))[0, 1]
    assert own > 0.3 and own > other + 0.2, (own, other)


# ---- paths with spaces in every rule's shell command (issue 24, item 8) ---------------------------


def _space_dirs(tmp_path: Path, **sections) -> tuple[Path, Path, Path]:
    """A config overlay whose data_dir and results_dir hold a space (and the demo data made small)."""
    data, results = tmp_path / "my data", tmp_path / "my results"
    over = tmp_path / "space.yaml"
    over.write_text(yaml.safe_dump({"data_dir": str(data), "results_dir": str(results), **sections}))
    return data, results, over


def _snakemake(tmp_path: Path, over: Path, *args: str):
    from conftest import run_snakemake

    return run_snakemake(
        "-s", ROOT / "Snakefile", "--directory", tmp_path,
        "--configfiles", ROOT / "config.yaml", ROOT / "profiles/demo/demo.yaml", over, "--cores", "2", *args,
    )  # fmt: skip


def _words(command: str) -> list[str]:
    """The shell words of a printed command, with those of each ``"$(dirname PATH)"`` inside it."""
    import shlex

    words = []
    for word in shlex.split(command):
        words.append(word)
        if m := re.fullmatch(r"\$\(dirname (.+)\)([^)]*)", word):  # "$(dirname PATH)" or "$(dirname PATH)/x"
            inner = shlex.split(m[1])
            assert len(inner) == 1, f"dirname of more than one word: {word!r} in {command}"
            words.append(inner[0])
    return words


def test_every_rule_command_keeps_paths_with_spaces_whole(tmp_path):
    """A dry run of the whole demo DAG (`snakemake -n -p`) with data_dir and results_dir holding a space:
    each printed shell command, split as the shell splits it, has every path as one word."""
    data, results, over = _space_dirs(tmp_path)
    proc = _snakemake(tmp_path, over, "-n", "-p")
    text = proc.stdout + proc.stderr
    prefix = "Shell command: "
    commands = [
        line[len(prefix) :] for line in text.splitlines() if line.startswith(prefix) and line != f"{prefix}None"
    ]
    programs = {ws[i + 1] for ws in map(_words, commands) for i, w in enumerate(ws[:-1]) if w == "cycleaug"}
    assert {"demo-data", "boxes", "crop", "train-cyclegan", "generate", "fid-table", "train-yolo", "table2"} <= programs
    assert len(commands) >= 20, text[-3000:]
    for command in commands:
        words = _words(command)
        for root in (str(data), str(results)):
            # Each mention of the folder in the command line is inside one word that holds the whole path.
            assert sum(w.count(root) for w in words if "$(dirname" not in w) == command.count(root.split("/")[-1]), (
                f"{root!r} split in: {command}"
            )
        assert not any(w.endswith("/my") or w.startswith(("data/", "results/")) for w in words), command


def test_first_data_rules_run_with_a_space_in_data_dir(tmp_path):
    """A real run of demo_data and the boxes rules into a data_dir with a space (small demo data)."""
    small = {"n_bdd_train": 6, "n_bdd_val": 2, "n_synthia": 4, "bdd_size": [96, 64], "synthia_size": [96, 68]}
    data, _, over = _space_dirs(tmp_path, data={"demo": small})
    targets = [data / "labels/bdd100k_train.json", data / "labels/synthia.json"]
    _snakemake(tmp_path, over, *map(str, targets))
    from cycleaug.labels import read_frames

    assert len(read_frames(targets[0])) == 6
    assert len(json.loads(targets[1].read_text())) == 4
    assert not (tmp_path / "my").exists()  # nothing went to a half of the path
