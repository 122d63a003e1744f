"""Darknet cfg parsing, layer shapes and parameter counts (YOLOv3 facts from issue 5 / darknet)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from cycleaug.errors import CycleAugError
from cycleaug.yolo.cfg import (
    CFG_DIR,
    Conv,
    Maxpool,
    Route,
    Shortcut,
    Upsample,
    count_parameters,
    load_cfg,
    output_shapes,
    parse_cfg_text,
)

torch.set_num_threads(1)

SMALL = """[net]
width=64
height=64
channels=3

[convolutional]
batch_normalize=1
filters=8
size=3
stride=2
pad=1
activation=leaky

[convolutional]
size=1
stride=1
pad=1
filters=18
activation=linear

[yolo]
mask = 0,1,2
anchors = 10,13,  16,30,  33,23
classes=1
num=3
"""


def test_small_cfg_parses_with_darknet_whitespace_and_comments():
    text = SMALL.replace("filters=8", "  filters = 8   # not a comment here, darknet strips spaces").replace(
        "  filters = 8   # not a comment here, darknet strips spaces", "filters = 8\n; a comment\n# another"
    )
    cfg = parse_cfg_text(text, "small.cfg")
    conv0, conv1, yolo = cfg.layers
    assert conv0 == Conv(0, 6, 3, 8, 3, 2, 1, True, "leaky")
    assert conv1.batch_normalize is False and conv1.padding == 0 and conv1.activation == "linear"
    assert yolo.mask == (0, 1, 2) and yolo.anchors == ((10, 13), (16, 30), (33, 23)) and yolo.classes == 1
    assert output_shapes(cfg, 64, 64) == [(8, 32, 32), (18, 32, 32), (18, 32, 32)]


@pytest.mark.parametrize(
    "change, line, words",
    [
        (
            (
                "[convolutional]\nbatch_normalize=1\nfilters=8",
                "[convolutional]\nbatch_normalize=1\ngroups=2\nfilters=8",
            ),
            8,
            "key 'groups' is not supported in [convolutional]",
        ),
        (("[yolo]", "[region]"), 21, "section [region] is not supported"),
        (("activation=leaky", "activation=swish"), 12, "activation=swish is not supported"),
        (("filters=18", "filters=17"), 21, "needs the layer before it to have filters=18"),
        (("size=3", "size=three"), 9, "size='three' is not an integer"),
        (("num=3", "num=4"), 23, "anchors has 6 numbers; expected 2 x num = 8"),
        (("mask = 0,1,2", "mask = 0,1,5"), 22, "mask entry 5 is not an anchor index"),
        (("width=64", "width=64\nwidth=32"), 3, "key 'width' repeats line 2"),
        (("channels=3", "channels=3\nbogus"), 5, "expected key=value"),
    ],
)
def test_cfg_errors_name_file_and_line(change, line, words):
    with pytest.raises(CycleAugError) as err:
        parse_cfg_text(SMALL.replace(*change, 1), "bad.cfg")
    assert f"bad.cfg:{line}:" in str(err.value)
    assert words in str(err.value)


def test_route_and_shortcut_references_are_checked():
    text = SMALL.replace("[yolo]", "[route]\nlayers = -1, 5\n\n[yolo]")
    with pytest.raises(CycleAugError, match=r"bad.cfg:22: layers=5 in layer 2 refers to layer 5"):
        parse_cfg_text(text, "bad.cfg")
    text = SMALL.replace("[convolutional]\nsize=1", "[shortcut]\nfrom=-1\nactivation=linear\n\n[convolutional]\nsize=1")
    # from=-1 of layer 1 is layer 0 itself: adding it to itself is allowed (same channels)
    assert isinstance(parse_cfg_text(text).layers[1], Shortcut)
    with pytest.raises(CycleAugError, match="first section must be"):
        parse_cfg_text("[convolutional]\nfilters=1\n", "x.cfg")
    with pytest.raises(CycleAugError, match="no \\[yolo\\] layer"):
        parse_cfg_text(SMALL.split("[yolo]")[0], "x.cfg")


def test_input_size_must_fit_the_network():
    cfg = load_cfg("yolov3-person-608.cfg")
    assert output_shapes(cfg, 416, 416)[-1] == (18, 52, 52)
    with pytest.raises(CycleAugError, match="multiple of 32"):
        output_shapes(cfg, 400, 400)


def test_yolov3_structure_matches_darknet():
    cfg = load_cfg("yolov3-person-608.cfg")
    assert len(cfg.layers) == 107 and (cfg.width, cfg.height) == (608, 608)
    assert sum(isinstance(layer, Conv) for layer in cfg.layers[:75]) == 52  # Darknet-53 without its classifier
    assert isinstance(cfg.layers[74], Shortcut)
    routes = [layer.sources for layer in cfg.layers if isinstance(layer, Route)]
    assert routes == [(79,), (85, 61), (91,), (97, 36)]
    assert all(u.stride == 2 for u in cfg.layers if isinstance(u, Upsample))
    anchors = ((10, 13), (16, 30), (33, 23), (30, 61), (62, 45), (59, 119), (116, 90), (156, 198), (373, 326))
    assert [y.mask for y in cfg.yolo_layers] == [(6, 7, 8), (3, 4, 5), (0, 1, 2)]
    assert all(y.anchors == anchors and y.classes == 1 for y in cfg.yolo_layers)
    assert [cfg.layers[y.index - 1].filters for y in cfg.yolo_layers] == [18, 18, 18]
    heads = [cfg.layers[y.index - 1] for y in cfg.yolo_layers]
    assert all(not h.batch_normalize and h.activation == "linear" and h.size == 1 for h in heads)
    assert all(c.activation == "leaky" for c in cfg.conv_layers if c.batch_normalize)
    # the paper's training settings (FACTS.md, Detector) and darknet's yolov3.cfg ones
    net = cfg.net
    assert (net.batch, net.subdivisions, net.max_batches, net.steps, net.scales) == (
        64,
        16,
        5000,
        (4000, 4500),
        (0.1, 0.1),
    )
    assert (net.learning_rate, net.burn_in, net.momentum, net.decay, net.policy) == (0.001, 1000, 0.9, 0.0005, "steps")
    assert (net.angle, net.saturation, net.exposure, net.hue) == (0, 1.5, 1.5, 0.1)
    y = cfg.yolo_layers[0]
    assert (y.jitter, y.ignore_thresh, y.truth_thresh, y.random) == (0.3, 0.7, 1.0, True)
    coco = load_cfg("yolov3.cfg")
    assert coco.classes == 80 and coco.net.max_batches == 500200 and coco.net.steps == (400000, 450000)


def test_parameter_counts_from_cfg_and_from_a_built_model():
    from cycleaug.yolo.model import Darknet

    person, coco = load_cfg("yolov3-person-608.cfg"), load_cfg("yolov3.cfg")
    assert count_parameters(person) == 61_523_734
    assert count_parameters(coco) == 61_949_149
    model = Darknet(person)
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == 61_523_734
    with torch.no_grad():
        heads = model.eval()(torch.rand(1, 3, 64, 64))
    assert [tuple(h.shape) for h in heads] == [(1, 18, 2, 2), (1, 18, 4, 4), (1, 18, 8, 8)]
    bn = model.layers[0].bn
    assert bn.eps == 1e-5 and bn.momentum == 0.01 and model.layers[0].act.negative_slope == 0.1
    assert model.layers[0].conv.bias is None and model.layers[81].conv.bias is not None


@pytest.mark.parametrize("name", sorted(p.name for p in CFG_DIR.glob("*.cfg")))
def test_shipped_cfgs_build_and_run(name):
    from cycleaug.yolo.model import Darknet

    cfg = load_cfg(name)
    # darknet input sizes are multiples of 32; the demo cfg's finest head is at stride 16
    assert 32 % cfg.stride == 0 and cfg.classes in (1, 80)
    if count_parameters(cfg) > 10_000_000:
        return  # the full YOLOv3s are built in the test above
    model = Darknet(cfg).eval()
    with torch.no_grad():
        heads = model(torch.rand(1, 3, 64, 96))
    assert [tuple(h.shape[2:]) for h in heads] == [output_shapes(cfg, 96, 64)[y.index][1:] for y in cfg.yolo_layers]


def _darknet_maxpool(x: np.ndarray, size: int, stride: int, padding: int) -> np.ndarray:
    """forward_maxpool_layer (src/maxpool_layer.c) as written there: loops, offsets -padding/2, invalid cells skipped."""
    c, h, w = x.shape
    out_h, out_w = (h + padding - size) // stride + 1, (w + padding - size) // stride + 1
    offset = -(padding // 2)
    out = np.full((c, out_h, out_w), -np.inf)
    for k in range(c):
        for i in range(out_h):
            for j in range(out_w):
                for n in range(size):
                    for m in range(size):
                        y, x_ = offset + i * stride + n, offset + j * stride + m
                        if 0 <= y < h and 0 <= x_ < w:
                            out[k, i, j] = max(out[k, i, j], x[k, y, x_])
    return out


@pytest.mark.parametrize(
    "size, stride, padding, hw",
    [(2, 2, 1, (6, 8)), (2, 1, 1, (5, 5)), (3, 2, 2, (7, 6)), (2, 2, 1, (5, 7)), (3, 1, 2, (4, 4))],
)
def test_maxpool_matches_darknet_loop(size, stride, padding, hw):
    from cycleaug.yolo.model import DarknetMaxPool

    x = np.random.default_rng(size + stride + hw[0]).normal(size=(2, *hw))
    ours = DarknetMaxPool(Maxpool(0, 1, size, stride, padding))(torch.from_numpy(x)[None])[0].numpy()
    np.testing.assert_array_equal(ours, _darknet_maxpool(x, size, stride, padding))


def test_demo_cfg_fits_the_demo_images():
    """yolov3-person-demo.cfg (the demo profile's detector): 320x192 input, heads at strides 16 and 8,
    six anchors sorted by area and split small -> stride 8, and the [net] schedule its comments give."""
    from cycleaug.yolo.schedule import hyper_from_cfg

    cfg = load_cfg("yolov3-person-demo.cfg")
    shapes = output_shapes(cfg, 320, 192)
    assert [shapes[y.index][1:] for y in cfg.yolo_layers] == [(12, 20), (24, 40)]  # strides 16, 8
    assert [y.mask for y in cfg.yolo_layers] == [(3, 4, 5), (0, 1, 2)]
    areas = [w * h for w, h in cfg.yolo_layers[0].anchors]
    assert areas == sorted(areas) and all(y.anchors == cfg.yolo_layers[0].anchors for y in cfg.yolo_layers)
    h = hyper_from_cfg(cfg.net)
    assert (h.width, h.height, h.batch, h.subdivisions, h.learning_rate, h.burn_in) == (320, 192, 4, 1, 0.01, 200)
    assert (h.max_batches, h.steps, h.scales) == (600, (400, 500), (0.1, 0.1))
    assert cfg.yolo_layers[-1].jitter == pytest.approx(0.1) and not cfg.yolo_layers[-1].random
