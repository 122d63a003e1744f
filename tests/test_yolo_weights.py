"""Darknet .weights: a hand-written file, round trips, the reference byte sizes, cutoff, refusals."""

from __future__ import annotations

import struct

import numpy as np
import pytest
import torch
from cycleaug.errors import CycleAugError
from cycleaug.yolo.cfg import load_cfg, parse_cfg_text
from cycleaug.yolo.model import Darknet, init_darknet_
from cycleaug.yolo.weights import load_darknet_weights, load_weights, read_header, save_darknet_weights, weights_nbytes

torch.set_num_threads(1)

TWO_CONVS = """[net]
width=32
height=32
channels=2

[convolutional]
batch_normalize=1
filters=3
size=3
stride=1
pad=1
activation=leaky

[convolutional]
size=1
stride=1
pad=1
filters=6
activation=linear

[yolo]
mask=0
anchors=4,4
classes=1
num=1
"""


def _random_model(cfg, seed=0):
    model = init_darknet_(Darknet(cfg), torch.Generator().manual_seed(seed))
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():  # non-trivial BN statistics and biases, so every array's position matters
        for name, t in model.state_dict().items():
            if t.dtype.is_floating_point and not name.endswith("conv.weight"):
                t.copy_(torch.rand(t.shape, generator=g) + 0.5)
    return model.eval()


def test_hand_written_file_lands_in_the_right_tensors(tmp_path):
    cfg = parse_cfg_text(TWO_CONVS, "two.cfg")
    # header 0.2.5 + 64-bit seen, then conv0: beta[3], gamma[3], mean[3], var[3], w[3,2,3,3]; conv1: bias[6], w[6,3,1,1]
    values = np.arange(4 * 3 + 3 * 2 * 9 + 6 + 6 * 3, dtype="<f4")
    path = tmp_path / "hand.weights"
    path.write_bytes(struct.pack("<3iQ", 0, 2, 5, 12345) + values.tobytes())
    model = Darknet(cfg)
    header = load_darknet_weights(model, path)
    assert (header.major, header.minor, header.revision, header.seen) == (0, 2, 5, 12345)
    c0, c1 = model.layers[0], model.layers[1]
    assert c0.bn.bias.tolist() == [0, 1, 2] and c0.bn.weight.tolist() == [3, 4, 5]
    assert c0.bn.running_mean.tolist() == [6, 7, 8] and c0.bn.running_var.tolist() == [9, 10, 11]
    assert c0.conv.weight[0, 0, 0].tolist() == [12, 13, 14] and c0.conv.weight[2, 1, 2, 2].item() == 12 + 53
    assert c1.conv.bias.tolist() == [66, 67, 68, 69, 70, 71]
    assert c1.conv.weight[:, :, 0, 0].flatten().tolist() == list(range(72, 90))
    # a darknet file with the old 32-bit `seen` (major*10 + minor < 2) has a 16-byte header
    old = tmp_path / "old.weights"
    old.write_bytes(struct.pack("<3iI", 0, 1, 0, 7) + values.tobytes())
    assert load_darknet_weights(Darknet(cfg), old).seen == 7
    # and what we write back is byte for byte the same file
    save_darknet_weights(model, tmp_path / "again.weights", seen=12345)
    assert (tmp_path / "again.weights").read_bytes() == path.read_bytes()


@pytest.mark.parametrize("name", ["yolov3-person-nano.cfg", "yolov3-tiny-person.cfg"])
def test_round_trip_gives_identical_outputs(tmp_path, name):
    cfg = load_cfg(name)
    model = _random_model(cfg)
    path = tmp_path / "w.weights"
    save_darknet_weights(model, path, seen=64 * 5000)
    assert path.stat().st_size == weights_nbytes(cfg)
    assert read_header(path).seen == 64 * 5000 and read_header(path).nbytes == 20
    loaded = Darknet(cfg).eval()
    load_darknet_weights(loaded, path)
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        for a, b in zip(model(x), loaded(x)):
            assert torch.equal(a, b)


def test_reference_sizes_from_cfg_and_from_our_writer(tmp_path):
    person, coco = load_cfg("yolov3-person-608.cfg"), load_cfg("yolov3.cfg")
    assert weights_nbytes(coco) == 248_007_048  # yolov3.weights as published
    assert weights_nbytes(person) == 246_305_388
    assert weights_nbytes(person, cutoff=75) == weights_nbytes(coco, cutoff=74) == 162_482_580  # darknet53.conv.74
    # our writer on a real 1-class YOLOv3, cut after layer 74 as darknet53.conv.74 is (the full file is
    # the same arithmetic, checked byte for byte on the small cfgs above)
    model = init_darknet_(Darknet(person), torch.Generator().manual_seed(0))
    backbone = tmp_path / "darknet53.conv.74"
    save_darknet_weights(model, backbone, cutoff=75)
    assert backbone.stat().st_size == 162_482_580
    # cutoff loading: layers 0-74 come from the file, the heads keep their own initialisation
    other = init_darknet_(Darknet(person), torch.Generator().manual_seed(1))
    head_before = other.layers[75].conv.weight.clone()
    load_darknet_weights(other, backbone, cutoff=75)
    assert torch.equal(other.layers[73].conv.weight, model.layers[73].conv.weight)
    assert torch.equal(other.layers[72].bn.running_var, model.layers[72].bn.running_var)
    assert torch.equal(other.layers[75].conv.weight, head_before)
    # loading the backbone file as a whole network is refused, and the message says which cutoff fits
    with pytest.raises(CycleAugError) as err:
        load_darknet_weights(other, backbone)
    assert "162,482,580 bytes, expected 246,305,388" in str(err.value)
    assert "matches cutoff 74..75" in str(err.value) and "Nothing was loaded" in str(err.value)


def test_truncated_or_mismatched_files_are_refused_untouched(tmp_path):
    cfg = load_cfg("yolov3-person-nano.cfg")
    path = tmp_path / "w.weights"
    save_darknet_weights(_random_model(cfg), path)
    data = path.read_bytes()
    (tmp_path / "short.weights").write_bytes(data[:-4])
    target = Darknet(cfg)
    before = {k: v.clone() for k, v in target.state_dict().items()}
    with pytest.raises(CycleAugError) as err:
        load_darknet_weights(target, tmp_path / "short.weights")
    msg = str(err.value)
    assert f"{len(data) - 4:,} bytes, expected {len(data):,}" in msg and "truncated" in msg
    assert all(torch.equal(before[k], v) for k, v in target.state_dict().items())
    # a weights file for a 2-class variant of the same network
    two = load_cfg("yolov3-person-nano.cfg")
    text = open(two.path).read().replace("classes=1", "classes=2").replace("filters=18", "filters=21")
    with pytest.raises(CycleAugError, match="written for a larger network"):
        load_darknet_weights(Darknet(cfg), _save(tmp_path / "two.weights", parse_cfg_text(text)))
    with pytest.raises(CycleAugError, match="too short"):
        (tmp_path / "tiny.weights").write_bytes(b"\0" * 8)
        load_darknet_weights(Darknet(cfg), tmp_path / "tiny.weights")
    with pytest.raises(CycleAugError, match="not found"):
        load_weights(Darknet(cfg), tmp_path / "missing.weights")


def _save(path, cfg):
    save_darknet_weights(Darknet(cfg), path)
    return path


def test_pytorch_checkpoints_are_accepted(tmp_path):
    cfg = load_cfg("yolov3-person-nano.cfg")
    model = _random_model(cfg, seed=3)
    torch.save({"model": model.state_dict(), "iteration": 7}, tmp_path / "ckpt.pt")
    torch.save(model.state_dict(), tmp_path / "bare.pt")
    for name in ("ckpt.pt", "bare.pt"):
        loaded = Darknet(cfg).eval()
        assert load_weights(loaded, tmp_path / name) == "torch"
        assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), model.state_dict().values()))
    tiny = Darknet(load_cfg("yolov3-tiny-person.cfg"))
    with pytest.raises(CycleAugError, match="does not fit"):
        load_weights(tiny, tmp_path / "bare.pt")
