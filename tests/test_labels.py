"""Label readers on hand-written samples of each real format: BDD100K legacy and det_20 JSON,
SYNTHIA RAND-CITYSCAPES/SEQS 16-bit label PNGs (including one encoded with every PNG row filter,
as libpng/OpenCV write them), RAND-CVPR16 text labels, and a hand-made override box file."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import numpy as np
import png
import pytest
from conftest import run_cli
from cycleaug.data.bdd100k import person_categories, read_bdd100k
from cycleaug.data.pngio import read_png, write_png16
from cycleaug.data.synthia import (
    PEDESTRIAN,
    boxes_from_instances,
    boxes_from_semantic,
    read_gttxt,
    synthia_frames,
)
from cycleaug.errors import CycleAugError
from cycleaug.glue import data as glue_data
from cycleaug.labels import Box, read_frames
from PIL import Image

# --- BDD100K ---------------------------------------------------------------------------------

# Shaped like bdd100k_labels_images_train.json (bdd100k_labels_release.zip): integer ids,
# manualShape/manualAttributes, poly2d for drivable area and lanes, a frame with no person.
LEGACY = [
    {
        "name": "b1c66a42-6f7d68ca.jpg",
        "attributes": {"weather": "overcast", "scene": "city street", "timeofday": "daytime"},
        "timestamp": 10000,
        "labels": [
            {
                "category": "traffic sign",
                "attributes": {"occluded": False, "truncated": False, "trafficLightColor": "none"},
                "manualShape": True,
                "manualAttributes": True,
                "box2d": {"x1": 1000.698742, "y1": 281.992415, "x2": 1040.626872, "y2": 326.91156},
                "id": 0,
            },
            {
                "category": "person",
                "attributes": {"occluded": True, "truncated": False, "trafficLightColor": "none"},
                "manualShape": True,
                "manualAttributes": True,
                "box2d": {"x1": 45.240919, "y1": 254.530367, "x2": 357.805838, "y2": 487.906215},
                "id": 1,
            },
            {
                "category": "rider",
                "attributes": {"occluded": False, "truncated": False, "trafficLightColor": "none"},
                "manualShape": True,
                "manualAttributes": True,
                "box2d": {"x1": 600.0, "y1": 300.5, "x2": 640.25, "y2": 420.0},
                "id": 2,
            },
            {
                "category": "drivable area",
                "attributes": {"areaType": "direct"},
                "manualShape": True,
                "manualAttributes": True,
                "poly2d": [
                    {
                        "vertices": [
                            [1280.195648, 626.372529],
                            [1280.195648, 371.830705],
                            [927.081254, 366.839689],
                            [872.180076, 427.979637],
                        ],
                        "types": "LLLC",
                        "closed": True,
                    }
                ],
                "id": 3,
            },
            {
                "category": "lane",
                "attributes": {"laneDirection": "parallel", "laneStyle": "solid", "laneType": "road curb"},
                "manualShape": True,
                "manualAttributes": True,
                "poly2d": [
                    {"vertices": [[503.674413, 373.137193], [357.797732, 374.672737]], "types": "LL", "closed": False}
                ],
                "id": 4,
            },
        ],
    },
    {
        "name": "b1c81faa-3df17267.jpg",
        "attributes": {"weather": "clear", "scene": "highway", "timeofday": "night"},
        "timestamp": 10000,
        "labels": [
            {
                "category": "car",
                "attributes": {"occluded": False, "truncated": True, "trafficLightColor": "none"},
                "manualShape": True,
                "manualAttributes": True,
                "box2d": {"x1": 0.0, "y1": 300.0, "x2": 200.0, "y2": 450.0},
                "id": 5,
            },
        ],
    },
]

# Shaped like det_20/det_train.json: Scalabel names, string ids, "other person", a frame without
# any "labels" key.
DET20 = [
    {
        "name": "b1c66a42-6f7d68ca.jpg",
        "attributes": {"weather": "overcast", "timeofday": "daytime", "scene": "city street"},
        "timestamp": 10000,
        "labels": [
            {
                "id": "0",
                "attributes": {"occluded": True, "truncated": False, "trafficLightColor": "NA"},
                "category": "pedestrian",
                "box2d": {"x1": 45.240919, "y1": 254.530367, "x2": 357.805838, "y2": 487.906215},
            },
            {
                "id": "1",
                "attributes": {"occluded": False, "truncated": False, "trafficLightColor": "NA"},
                "category": "other person",
                "box2d": {"x1": 10.0, "y1": 20.0, "x2": 30.0, "y2": 80.0},
            },
            {
                "id": "2",
                "attributes": {"occluded": False, "truncated": False, "trafficLightColor": "NA"},
                "category": "rider",
                "box2d": {"x1": 600.0, "y1": 300.5, "x2": 640.25, "y2": 420.0},
            },
            {
                "id": "3",
                "attributes": {"occluded": False, "truncated": False, "trafficLightColor": "G"},
                "category": "traffic light",
                "box2d": {"x1": 700.0, "y1": 100.0, "x2": 710.0, "y2": 130.0},
            },
        ],
    },
    {
        "name": "b1ca2e5d-84cf9134.jpg",
        "attributes": {"weather": "clear", "timeofday": "daytime", "scene": "residential"},
        "timestamp": 10000,
    },
]


def _write(path: Path, data) -> Path:
    path.write_text(json.dumps(data))
    return path


def test_legacy_person_boxes_normalised(tmp_path):
    frames = read_bdd100k(_write(tmp_path / "l.json", LEGACY), "legacy")
    assert [f.name for f in frames] == ["b1c66a42-6f7d68ca.jpg", "b1c81faa-3df17267.jpg"]
    assert frames[0].boxes == [Box(45.240919, 254.530367, 357.805838, 487.906215, "pedestrian")]
    assert frames[1].boxes == []  # kept: person-free frames matter for evaluation
    assert frames[0].attributes == {"weather": "overcast", "scene": "city street", "timeofday": "daytime"}
    with_rider = read_bdd100k(tmp_path / "l.json", "legacy", include_rider=True)
    assert [(b.x1, b.category) for b in with_rider[0].boxes] == [(45.240919, "pedestrian"), (600.0, "pedestrian")]


def test_det20_person_boxes_and_options(tmp_path):
    path = _write(tmp_path / "d.json", DET20)
    frames = read_bdd100k(path, "det20")
    assert [len(f.boxes) for f in frames] == [1, 0]
    assert frames[0].boxes[0] == Box(45.240919, 254.530367, 357.805838, 487.906215, "pedestrian")
    both = read_bdd100k(path, "det20", include_rider=True, include_other_person=True)
    assert sorted(b.x1 for b in both[0].boxes) == [10.0, 45.240919, 600.0]
    assert person_categories("legacy", include_other_person=True) == {"person"}


def test_wrong_format_is_named(tmp_path):
    with pytest.raises(CycleAugError, match="det20 label format"):
        read_bdd100k(_write(tmp_path / "d.json", DET20), "legacy")
    with pytest.raises(CycleAugError, match="legacy label format"):
        read_bdd100k(_write(tmp_path / "l.json", LEGACY), "det20")


def test_frames_without_image_are_dropped(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    Image.new("RGB", (8, 8)).save(images / "b1c81faa-3df17267.jpg")
    frames = read_bdd100k(_write(tmp_path / "l.json", LEGACY), "legacy", images_dir=images)
    assert [f.name for f in frames] == ["b1c81faa-3df17267.jpg"]


def test_boxes_bdd100k_cli(tmp_path):
    _write(tmp_path / "d.json", DET20)
    run_cli(
        "boxes",
        "bdd100k",
        "--labels",
        tmp_path / "d.json",
        "--label-format",
        "det20",
        "--include-other-person",
        "--out",
        tmp_path / "out.json",
    )
    raw = json.loads((tmp_path / "out.json").read_text())
    assert [lab["category"] for lab in raw[0]["labels"]] == ["pedestrian", "pedestrian"]
    assert raw[1]["labels"] == []
    bad = run_cli("boxes", "bdd100k", "--labels", tmp_path / "d.json", "--out", tmp_path / "x.json", check=False)
    assert bad.returncode == 2 and "det20" in bad.stderr
    assert not (tmp_path / "x.json").exists()


# --- PNG ---------------------------------------------------------------------------------------


def _png_all_filters(a: np.ndarray) -> bytes:
    """A 16-bit RGB PNG whose rows cycle through filter types 0-4 (None, Sub, Up, Average, Paeth;
    PNG spec section 9), written chunk by chunk as the spec lays it out."""
    h, w, c = a.shape
    raw = a.astype(">u2").view(np.uint8).reshape(h, w * c * 2).astype(np.int32)
    bpp = 2 * c
    left = np.zeros_like(raw)
    left[:, bpp:] = raw[:, :-bpp]
    up = np.zeros_like(raw)
    up[1:] = raw[:-1]
    upleft = np.zeros_like(raw)
    upleft[1:, bpp:] = raw[:-1, :-bpp]
    p = left + up - upleft
    pa, pb, pc = np.abs(p - left), np.abs(p - up), np.abs(p - upleft)
    paeth = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, up, upleft))
    filtered = [raw, raw - left, raw - up, raw - (left + up) // 2, raw - paeth]
    body = b"".join(bytes([i % 5]) + (filtered[i % 5][i] % 256).astype(np.uint8).tobytes() for i in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(body))
        + chunk(b"IEND", b"")
    )


def test_png_reader_all_filters_and_channels(tmp_path):
    rng = np.random.default_rng(0)
    a = rng.integers(0, 65536, size=(9, 11, 3), dtype=np.uint16)
    (tmp_path / "f.png").write_bytes(_png_all_filters(a))
    np.testing.assert_array_equal(read_png(tmp_path / "f.png"), a)
    # Pillow keeps only the high byte of 16-bit RGB: the reason pngio exists.
    assert np.asarray(Image.open(tmp_path / "f.png")).dtype == np.uint8
    for channels in (1, 2, 4):  # grey, grey+alpha, RGBA: written by pypng directly
        b = rng.integers(0, 65536, size=(5, 7, channels), dtype=np.uint16)
        with open(tmp_path / f"c{channels}.png", "wb") as f:
            png.Writer(7, 5, greyscale=channels < 3, alpha=channels in (2, 4), bitdepth=16).write(
                f, b.reshape(5, 7 * channels).tolist()
            )
        np.testing.assert_array_equal(read_png(tmp_path / f"c{channels}.png"), b)
        write_png16(tmp_path / f"w{channels}.png", b)
        assert png.Reader(filename=str(tmp_path / f"w{channels}.png")).read()[3]["bitdepth"] == 16
        np.testing.assert_array_equal(read_png(tmp_path / f"w{channels}.png"), b)
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    with pytest.raises(CycleAugError, match="bad.png"):
        read_png(tmp_path / "bad.png")


# --- SYNTHIA -----------------------------------------------------------------------------------


def _synthia_label(h=40, w=50) -> tuple[np.ndarray, list[Box]]:
    """Class and instance channels with three pedestrians (ids 300, 7, 1000, so 8-bit readers fail),
    a car, a rider, and a 3x3 pedestrian blob; plus the boxes expected from them (pixel edges)."""
    lab = np.zeros((h, w, 3), np.uint16)
    lab[:, :, 0] = 1  # sky
    lab[30:, :, 0] = 3  # road
    lab[5:25, 2:8, 0], lab[5:25, 2:8, 1] = PEDESTRIAN, 300
    lab[10:35, 20:24, 0], lab[10:35, 20:24, 1] = PEDESTRIAN, 7  # touches another instance:
    lab[12:30, 24:30, 0], lab[12:30, 24:30, 1] = PEDESTRIAN, 1000  # boxes stay separate
    lab[30:38, 35:48, 0], lab[30:38, 35:48, 1] = 8, 301  # car
    lab[2:12, 40:46, 0], lab[2:12, 40:46, 1] = 17, 302  # rider: not a pedestrian
    lab[36:39, 2:5, 0], lab[36:39, 2:5, 1] = PEDESTRIAN, 303  # 9 px: below min_box_area 10
    expected = [Box(20, 10, 24, 35), Box(2, 5, 8, 25), Box(24, 12, 30, 30)]  # by instance id 7, 300, 1000
    return lab, expected


def test_instance_boxes(tmp_path):
    lab, expected = _synthia_label()
    assert boxes_from_instances(lab[:, :, 0], lab[:, :, 1], min_box_area=10) == expected
    assert len(boxes_from_instances(lab[:, :, 0], lab[:, :, 1])) == 4  # with the tiny one
    # Semantic labels only: touching people merge into one component.
    assert boxes_from_semantic(lab[:, :, 0], min_box_area=10) == [Box(2, 5, 8, 25), Box(20, 10, 30, 35)]


def test_synthia_rand_cityscapes_and_seqs_layout(tmp_path):
    lab, expected = _synthia_label()
    for rel in ("0000000.png", "Stereo_Left/Omni_F/000003.png"):  # RAND-CITYSCAPES, SEQS
        (tmp_path / "RGB" / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (50, 40)).save(tmp_path / "RGB" / rel)
        (tmp_path / "GT/LABELS" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "GT/LABELS" / rel).write_bytes(_png_all_filters(lab))
    Image.new("RGB", (50, 40)).save(tmp_path / "RGB" / "0000009.png")  # no label file: left out
    frames = synthia_frames(tmp_path, "SEQS", min_box_area=10)
    assert [f.name for f in frames] == ["0000000.png", "Stereo_Left/Omni_F/000003.png"]
    assert all(f.boxes == expected for f in frames)
    out = tmp_path / "out.json"
    run_cli(
        "boxes",
        "synthia",
        "--root",
        tmp_path,
        "--release",
        "RAND-CITYSCAPES",
        "--min-box-area",
        "10",
        "--out",
        out,
        "--workers",
        "2",
    )
    assert [(f.name, f.boxes) for f in read_frames(out)] == [(f.name, f.boxes) for f in frames]


def test_synthia_single_channel_needs_semantic_release(tmp_path):
    lab, _ = _synthia_label()
    (tmp_path / "RGB").mkdir()
    (tmp_path / "GT/LABELS").mkdir(parents=True)
    Image.new("RGB", (50, 40)).save(tmp_path / "RGB" / "0000000.png")
    write_png16(tmp_path / "GT/LABELS/0000000.png", lab[:, :, :1])
    with pytest.raises(CycleAugError, match="instance channel"):
        synthia_frames(tmp_path, "RAND-CITYSCAPES")
    frames = synthia_frames(tmp_path, "RAND-CVPR16", min_box_area=10)
    assert frames[0].boxes == [Box(2, 5, 8, 25), Box(20, 10, 30, 35)]


def test_rand_cvpr16_text_labels(tmp_path):
    # GTTXT: one whitespace-separated class id per pixel, one line per row. Two people: one an
    # L shape joined only at a corner (8-connected: one box), one a single column.
    grid = [
        "1 1 1 1 1 1 1 1",
        "1 10 10 1 1 1 1 1",
        "1 10 10 1 1 1 10 1",
        "1 1 1 10 1 1 10 1",
        "3 3 3 10 3 3 10 3",
        "3 3 3 3 3 3 3 3",
    ]
    (tmp_path / "GTTXT").mkdir()
    (tmp_path / "RGB").mkdir()
    (tmp_path / "GTTXT" / "0000001.txt").write_text("\n".join(grid) + "\n")
    Image.new("RGB", (8, 6)).save(tmp_path / "RGB" / "0000001.png")
    np.testing.assert_array_equal(read_gttxt(tmp_path / "GTTXT" / "0000001.txt")[1], [1, 10, 10, 1, 1, 1, 1, 1])
    frames = synthia_frames(tmp_path, "RAND-CVPR16", min_box_area=0)
    assert frames[0].boxes == [Box(1, 1, 4, 5), Box(6, 2, 7, 5)]
    assert synthia_frames(tmp_path, "RAND-CVPR16", min_box_area=4)[0].boxes == [Box(1, 1, 4, 5)]
    (tmp_path / "GTTXT" / "0000001.txt").write_text("1 2\n3\n")
    with pytest.raises(CycleAugError, match="0000001.txt"):
        synthia_frames(tmp_path, "RAND-CVPR16")


def test_override_box_file(tmp_path):
    (tmp_path / "RGB").mkdir()
    for name in ("0000000.png", "0000001.png", "0000002.png"):
        Image.new("RGB", (8, 8)).save(tmp_path / "RGB" / name)
    override = [
        {
            "name": "0000001.png",
            "labels": [
                {"id": 0, "category": "person", "box2d": {"x1": 1, "y1": 2, "x2": 3, "y2": 4}},
                {"id": 1, "category": "car", "box2d": {"x1": 0, "y1": 0, "x2": 5, "y2": 5}},
            ],
        },
        {
            "name": "0000000.png",
            "labels": [{"id": 0, "category": "pedestrian", "box2d": {"x1": 0.5, "y1": 0.5, "x2": 1.5, "y2": 1.5}}],
        },
        {"name": "missing.png", "labels": []},
    ]
    path = _write(tmp_path / "boxes.json", override)
    # No GT folder at all: the override replaces the label images; tiny hand-made boxes are kept;
    # 0000002.png is unannotated and so left out.
    frames = synthia_frames(tmp_path, "RAND-CITYSCAPES", boxes_override=path, min_box_area=100)
    assert [(f.name, f.boxes) for f in frames] == [
        ("0000000.png", [Box(0.5, 0.5, 1.5, 1.5)]),
        ("0000001.png", [Box(1, 2, 3, 4)]),
    ]


def test_rule_options_follow_config():
    config = {
        "data_dir": "D",
        "seed": 3,
        "data": {
            "bdd100k": {"label_format": "det20", "include_rider": True, "include_other_person": False},
            "synthia": {"release": "SEQS", "min_box_area": 50, "boxes_override": "b.json"},
        },
        "crop": {
            "size": 256,
            "min_height": 64,
            "max_images": {"bdd100k": 4822, "synthia": None},
            "n_heldout": 100,
            "max_failure_fraction": 0.01,
        },
    }
    assert glue_data.bdd100k_label_file(config, "{split}") == "D/raw/bdd100k/labels/det_20/det_{split}.json"
    assert glue_data.bdd100k_box_options(config) == "--label-format det20 --include-rider"
    assert glue_data.synthia_box_options(config) == "--release SEQS --min-box-area 50 --boxes b.json"
    assert glue_data.synthia_override(config) == ["b.json"]
    assert "--max-images 4822" in glue_data.crop_options(config, "bdd100k")
    assert "--n-heldout" not in glue_data.crop_options(config, "bdd100k")
    syn = glue_data.crop_options(config, "synthia")
    assert "--max-images" not in syn and "--n-heldout 100" in syn and "--seed 3" in syn


def test_raw_bdd100k_zero_width_boxes_are_dropped_with_a_count(tmp_path, capsys):
    """The raw release has a few boxes with x1 = x2 (github.com/bdd100k/bdd100k issue 4): `boxes bdd100k`
    drops them with a count on stderr; every later reader of our labels refuses such a box."""
    data = json.loads(json.dumps(LEGACY))
    flat = {"category": "person", "box2d": {"x1": 0, "y1": 122.8, "x2": 0, "y2": 160.0}}
    data[0]["labels"].append(flat)
    path = _write(tmp_path / "l.json", data)
    frames = read_bdd100k(path, "legacy")
    assert frames[0].boxes == [Box(45.240919, 254.530367, 357.805838, 487.906215, "pedestrian")]
    assert "dropped 1 box(es) of zero width or height (first: frame 'b1c66a42-6f7d68ca.jpg' label" in (
        capsys.readouterr().err
    )
    with pytest.raises(
        CycleAugError, match=r"frame 'b1c66a42-6f7d68ca.jpg' label \d+: box \(0, 122.8, 0, 160\) has zero"
    ):
        read_frames(path)


def test_label_reader_checks_types_names_and_boxes(tmp_path):
    """read_frames, which every stage reads labels with: one error per kind of bad input, naming the file,
    the frame and the key (the full table, through the command line: tests/test_bad_input_data.py)."""

    def bad(data, match):
        path = _write(tmp_path / "bad.json", data)
        with pytest.raises(CycleAugError, match=match):
            read_frames(path)

    box = {"x1": 1, "y1": 2, "x2": 3, "y2": 4}
    bad([{"name": "/abs.jpg", "labels": []}], r"bad.json: frame 0: name '/abs.jpg': expected a relative path")
    bad([{"name": "a/../../b.jpg", "labels": []}], r"frame 0: name 'a/../../b.jpg': expected a relative path")
    bad([{"name": "a.jpg", "labels": [{"category": "person", "box2d": {**box, "x1": "1"}}]}], r"box2d.x1 is '1'")
    bad([{"name": "a.jpg", "labels": {"category": "person"}}], r"frame 'a.jpg': 'labels' is an object")
    bad([{"name": "a.jpg", "labels": [{"category": "person", "box2d": {**box, "y2": None}}]}], r"box2d.y2 is None")
    bad([{"name": "a.jpg", "labels": [{"category": 3, "box2d": box}]}], r"label 0: 'category' is 3 \(int\)")
    sized = {"name": "a.jpg", "attributes": {"width": 2, "height": 2}, "labels": [{"category": "person", "box2d": box}]}
    bad([sized], r"label 0: box \(1, 2, 3, 4\) lies outside the 2x2 image")
    # A prediction (scored) clipped flat at the border is kept: only labels must have an area.
    (tmp_path / "pred.json").write_text(
        json.dumps([{"name": "a.jpg", "labels": [{"category": "person", "box2d": {**box, "x2": 1}, "score": 0.5}]}])
    )
    assert len(read_frames(tmp_path / "pred.json")[0].boxes) == 1
