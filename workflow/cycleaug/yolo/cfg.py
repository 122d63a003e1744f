"""Darknet ``.cfg`` files: parse, check, and infer every layer's output shape.

The format is darknet's (AlexeyAB/darknet ``src/parser.c``, ``read_cfg`` / ``read_option``): a section
header ``[name]`` starts a layer (``[net]`` first, holding the input size and training settings), then
``key=value`` lines. darknet removes every whitespace character from a line before parsing it
(``strip`` in ``src/utils.c``), so ``anchors = 10,13,  16,30`` and ``anchors=10,13,16,30`` are the same;
lines that then start with ``#`` or ``;`` are comments. Layers are numbered from 0 in file order
(``[net]`` excluded); ``[route]`` and ``[shortcut]`` refer to layers by that number, or relative to
the current layer when negative.

Only what YOLOv3 and YOLOv3-tiny need is supported: ``[net]``, ``[convolutional]``, ``[shortcut]``,
``[route]``, ``[upsample]``, ``[maxpool]``, ``[yolo]``. Any other section or key is an error that
names the file and line (darknet itself silently ignores unknown keys: ``option_unused`` only prints
them), because a key we ignored would be a layer we build differently from darknet.

Usage::

    cfg = load_cfg("yolov3-person-608.cfg")      # a shipped cfg by name, or a path
    cfg.width, cfg.classes, cfg.layers[106]
    output_shapes(cfg, 416, 416)                 # (c, h, w) of every layer at another input size
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cycleaug.errors import CycleAugError

# Shipped cfg files (package data, see pyproject.toml [tool.setuptools.package-data]).
CFG_DIR = Path(__file__).resolve().parent.parent / "cfg"

# Activations of darknet (src/activations.c) that these layers may use; "leaky" is max(x, 0.1 x).
ACTIVATIONS = ("leaky", "linear", "relu", "logistic")


@dataclass(frozen=True)
class Net:
    """The ``[net]`` section: input size and the training settings darknet reads from it
    (defaults from ``parse_net_options`` in ``src/parser.c``)."""

    width: int
    height: int
    channels: int = 3
    batch: int = 1
    subdivisions: int = 1
    momentum: float = 0.9
    decay: float = 0.0001
    angle: float = 0.0
    saturation: float = 1.0
    exposure: float = 1.0
    hue: float = 0.0
    learning_rate: float = 0.001
    burn_in: int = 0
    max_batches: int = 0
    policy: str = "constant"
    steps: tuple[int, ...] = ()
    scales: tuple[float, ...] = ()
    line: int = 0


@dataclass(frozen=True)
class Conv:
    index: int
    line: int
    in_channels: int
    filters: int
    size: int
    stride: int
    padding: int
    batch_normalize: bool
    activation: str


@dataclass(frozen=True)
class Shortcut:
    index: int
    line: int
    source: int  # absolute layer index added to the previous layer's output
    activation: str


@dataclass(frozen=True)
class Route:
    index: int
    line: int
    sources: tuple[int, ...]  # absolute layer indices, concatenated along channels


@dataclass(frozen=True)
class Upsample:
    index: int
    line: int
    stride: int


@dataclass(frozen=True)
class Maxpool:
    index: int
    line: int
    size: int
    stride: int
    padding: int  # darknet's total padding (default size - 1), split as padding // 2 before, rest after


@dataclass(frozen=True)
class Yolo:
    index: int
    line: int
    mask: tuple[int, ...]
    anchors: tuple[tuple[float, float], ...]  # all anchors (w, h) in network-input pixels
    classes: int
    jitter: float = 0.2
    ignore_thresh: float = 0.5
    truth_thresh: float = 1.0
    random: bool = False
    max_boxes: int = 90
    # parser.c parse_yolo default since 2019-06-01; darknet scales mse box deltas by it from 2 Dec 2019.
    iou_normalizer: float = 0.75

    @property
    def masked_anchors(self) -> tuple[tuple[float, float], ...]:
        return tuple(self.anchors[m] for m in self.mask)

    @property
    def num_outputs(self) -> int:
        return len(self.mask) * (self.classes + 5)


Layer = Conv | Shortcut | Route | Upsample | Maxpool | Yolo


@dataclass(frozen=True)
class DarknetCfg:
    path: str
    net: Net
    layers: tuple[Layer, ...]
    channels: tuple[int, ...] = field(default=())  # output channels of each layer

    @property
    def width(self) -> int:
        return self.net.width

    @property
    def height(self) -> int:
        return self.net.height

    @property
    def yolo_layers(self) -> tuple[Yolo, ...]:
        return tuple(layer for layer in self.layers if isinstance(layer, Yolo))

    @property
    def conv_layers(self) -> tuple[Conv, ...]:
        return tuple(layer for layer in self.layers if isinstance(layer, Conv))

    @property
    def classes(self) -> int:
        return self.yolo_layers[-1].classes

    @property
    def stride(self) -> int:
        """Total down-sampling: the input size must be a multiple of it."""
        return _total_stride(self)


# ------------------------------------------------------------------------------------------------
# Reading the file into sections


@dataclass
class _Section:
    name: str
    line: int
    options: dict[str, tuple[str, int]] = field(default_factory=dict)  # key -> (value, line)


def _split_sections(text: str, source: str) -> list[_Section]:
    sections: list[_Section] = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = re.sub(r"\s+", "", raw)  # darknet's strip(): every whitespace character goes
        if not line or line[0] in "#;":
            continue
        if line[0] == "[":
            if not line.endswith("]"):
                raise CycleAugError(f"{source}:{lineno}: section header {raw.strip()!r} has no closing ']'")
            sections.append(_Section(line[1:-1], lineno))
            continue
        if "=" not in line:
            raise CycleAugError(f"{source}:{lineno}: expected key=value, got {raw.strip()!r}")
        if not sections:
            raise CycleAugError(f"{source}:{lineno}: {raw.strip()!r} comes before the first [section]")
        key, value = line.split("=", 1)
        if key in sections[-1].options:
            first = sections[-1].options[key][1]
            raise CycleAugError(
                f"{source}:{lineno}: key {key!r} repeats line {first} in the same [{sections[-1].name}]"
            )
        sections[-1].options[key] = (value, lineno)
    return sections


class _Options:
    """Typed access to one section's options; every key must be consumed or it is an error."""

    def __init__(self, section: _Section, source: str):
        self.section, self.source = section, source
        self.used: set[str] = set()

    def _get(self, key: str, default, convert: Callable, what: str):
        self.used.add(key)
        if key not in self.section.options:
            if default is _REQUIRED:
                raise CycleAugError(f"{self.source}:{self.section.line}: [{self.section.name}] needs {key}= ({what})")
            return default
        value, line = self.section.options[key]
        try:
            return convert(value)
        except (ValueError, IndexError):
            raise CycleAugError(f"{self.source}:{line}: {key}={value!r} is not {what}") from None

    def int(self, key, default=None):
        return self._get(key, default, _to_int, "an integer")

    def float(self, key, default=None):
        return self._get(key, default, float, "a number")

    def str(self, key, default=None):
        return self._get(key, default, str, "a word")

    def ints(self, key, default=None):
        return self._get(
            key, default, lambda v: tuple(_to_int(x) for x in v.split(",")), "a comma-separated list of integers"
        )

    def floats(self, key, default=None):
        return self._get(
            key, default, lambda v: tuple(float(x) for x in v.split(",")), "a comma-separated list of numbers"
        )

    def line_of(self, key: str) -> int:
        return self.section.options.get(key, ("", self.section.line))[1]

    def finish(self, allowed_unused: tuple[str, ...] = ()) -> None:
        for key, (_value, line) in self.section.options.items():
            if key not in self.used and key not in allowed_unused:
                raise CycleAugError(
                    f"{self.source}:{line}: key {key!r} is not supported in [{self.section.name}] "
                    f"(supported: {', '.join(sorted(self.used | set(allowed_unused)))})"
                )


_REQUIRED = object()


def _to_int(value: str) -> int:
    if not re.fullmatch(r"[+-]?\d+", value):
        raise ValueError(value)
    return int(value)


# ------------------------------------------------------------------------------------------------
# Sections -> typed layers


def _parse_net(opts: _Options) -> Net:
    net = Net(
        width=opts.int("width", _REQUIRED),
        height=opts.int("height", _REQUIRED),
        channels=opts.int("channels", Net.channels),
        batch=opts.int("batch", Net.batch),
        subdivisions=opts.int("subdivisions", Net.subdivisions),
        momentum=opts.float("momentum", Net.momentum),
        decay=opts.float("decay", Net.decay),
        angle=opts.float("angle", Net.angle),
        saturation=opts.float("saturation", Net.saturation),
        exposure=opts.float("exposure", Net.exposure),
        hue=opts.float("hue", Net.hue),
        learning_rate=opts.float("learning_rate", Net.learning_rate),
        burn_in=opts.int("burn_in", Net.burn_in),
        max_batches=opts.int("max_batches", Net.max_batches),
        policy=opts.str("policy", Net.policy),
        steps=opts.ints("steps", Net.steps),
        scales=opts.floats("scales", Net.scales),
        line=opts.section.line,
    )
    src = opts.source
    for key in ("width", "height", "channels", "batch", "subdivisions"):
        if getattr(net, key) <= 0:
            raise CycleAugError(f"{src}:{opts.line_of(key)}: {key} must be positive, got {getattr(net, key)}")
    if net.policy not in ("constant", "steps"):
        raise CycleAugError(
            f"{src}:{opts.line_of('policy')}: policy={net.policy} is not supported (supported: constant, steps)"
        )
    if net.policy == "steps" and len(net.steps) != len(net.scales):
        raise CycleAugError(
            f"{src}:{opts.line_of('scales')}: steps and scales need the same number of "
            f"entries, got {len(net.steps)} and {len(net.scales)}"
        )
    return net


def _activation(opts: _Options, default: str) -> str:
    act = opts.str("activation", default)
    if act not in ACTIVATIONS:
        raise CycleAugError(
            f"{opts.source}:{opts.line_of('activation')}: activation={act} is not supported "
            f"(supported: {', '.join(ACTIVATIONS)})"
        )
    return act


def _absolute(ref: int, index: int, opts: _Options, key: str) -> int:
    # parse_route / parse_shortcut in src/parser.c: a negative reference counts back from this layer.
    target = index + ref if ref < 0 else ref
    if not 0 <= target < index:
        raise CycleAugError(
            f"{opts.source}:{opts.line_of(key)}: {key}={ref} in layer {index} refers to layer "
            f"{target}; expected an earlier layer (0..{index - 1})"
        )
    return target


def _check_not_yolo(layers: list, target: int, opts: _Options, key: str) -> None:
    # Our [yolo] layers pass their input through untouched (decoding happens outside the network),
    # whereas darknet's output the activated values: reading one from a later layer would differ.
    if isinstance(layers[target], Yolo):
        raise CycleAugError(
            f"{opts.source}:{opts.line_of(key)}: {key} refers to [yolo] layer {target}; "
            "expected a layer that is not [yolo]"
        )


def parse_cfg_text(text: str, source: str = "<cfg>") -> DarknetCfg:
    """Parse the text of a darknet cfg; ``source`` names it in error messages."""
    sections = _split_sections(text, source)
    if not sections or sections[0].name not in ("net", "network"):
        where = f"{source}:{sections[0].line}" if sections else source
        raise CycleAugError(f"{where}: the first section must be [net]")
    opts = _Options(sections[0], source)
    net = _parse_net(opts)
    opts.finish()

    layers: list[Layer] = []
    channels: list[int] = []
    c_in = net.channels
    for index, section in enumerate(sections[1:]):
        opts = _Options(section, source)
        name = section.name
        if name in ("convolutional", "conv"):
            size = opts.int("size", 1)
            stride = opts.int("stride", 1)
            pad = opts.int("pad", 0)
            padding = opts.int("padding", 0)
            if pad:  # parse_convolutional: pad=1 means "same" padding, size/2
                padding = size // 2
            if size < 1 or stride < 1 or padding < 0:
                raise CycleAugError(
                    f"{source}:{section.line}: [convolutional] needs size >= 1, stride >= 1, "
                    f"padding >= 0; got size={size} stride={stride} padding={padding}"
                )
            layer = Conv(
                index,
                section.line,
                c_in,
                opts.int("filters", 1),
                size,
                stride,
                padding,
                bool(opts.int("batch_normalize", 0)),
                _activation(opts, "logistic"),
            )
            if layer.filters < 1:
                raise CycleAugError(f"{source}:{opts.line_of('filters')}: filters must be positive")
            c_out = layer.filters
        elif name == "shortcut":
            source_index = _absolute(opts.int("from", _REQUIRED), index, opts, "from")
            _check_not_yolo(layers, source_index, opts, "from")
            layer = Shortcut(index, section.line, source_index, _activation(opts, "linear"))
            if channels[source_index] != c_in:
                raise CycleAugError(
                    f"{source}:{opts.line_of('from')}: [shortcut] adds layer {source_index} "
                    f"({channels[source_index]} channels) to layer {index - 1} ({c_in} channels); "
                    "expected equal channel counts"
                )
            c_out = c_in
        elif name == "route":
            refs = opts.ints("layers", _REQUIRED)
            sources = tuple(_absolute(r, index, opts, "layers") for r in refs)
            for s in sources:
                _check_not_yolo(layers, s, opts, "layers")
            layer = Route(index, section.line, sources)
            c_out = sum(channels[s] for s in sources)
        elif name == "upsample":
            layer = Upsample(index, section.line, opts.int("stride", 2))
            if layer.stride < 1:
                raise CycleAugError(f"{source}:{opts.line_of('stride')}: [upsample] stride must be >= 1")
            c_out = c_in
        elif name in ("maxpool", "max"):
            stride = opts.int("stride", 1)
            size = opts.int("size", stride)  # parse_maxpool: size defaults to stride
            layer = Maxpool(index, section.line, size, stride, opts.int("padding", size - 1))
            if size < 1 or stride < 1 or layer.padding < 0:
                raise CycleAugError(f"{source}:{section.line}: [maxpool] needs size >= 1, stride >= 1, padding >= 0")
            c_out = c_in
        elif name == "yolo":
            classes = opts.int("classes", 20)
            num = opts.int("num", 1)
            mask = opts.ints("mask", None)
            anchor_values = opts.floats("anchors", ())
            if len(anchor_values) != 2 * num:
                raise CycleAugError(
                    f"{source}:{opts.line_of('anchors')}: anchors has {len(anchor_values)} numbers; "
                    f"expected 2 x num = {2 * num} (w,h pairs)"
                )
            anchors = tuple((anchor_values[2 * i], anchor_values[2 * i + 1]) for i in range(num))
            if mask is None:  # make_yolo_layer: no mask means every anchor
                mask = tuple(range(num))
            for m in mask:
                if not 0 <= m < num:
                    raise CycleAugError(
                        f"{source}:{opts.line_of('mask')}: mask entry {m} is not an anchor index (0..{num - 1})"
                    )
            layer = Yolo(
                index,
                section.line,
                mask,
                anchors,
                classes,
                jitter=opts.float("jitter", 0.2),
                ignore_thresh=opts.float("ignore_thresh", 0.5),
                truth_thresh=opts.float("truth_thresh", 1.0),
                random=bool(opts.int("random", 0)),
                max_boxes=opts.int("max", 90),
                iou_normalizer=opts.float("iou_normalizer", 0.75),
            )
            if classes < 1:
                raise CycleAugError(f"{source}:{opts.line_of('classes')}: classes must be positive")
            if c_in != layer.num_outputs:
                raise CycleAugError(
                    f"{source}:{section.line}: [yolo] with {len(mask)} masks and classes={classes} needs the layer "
                    f"before it to have filters={layer.num_outputs} ({len(mask)} x ({classes} + 5)); it has {c_in}"
                )
            c_out = c_in
        else:
            raise CycleAugError(
                f"{source}:{section.line}: section [{name}] is not supported (supported: [net], "
                "[convolutional], [shortcut], [route], [upsample], [maxpool], [yolo])"
            )
        opts.finish()
        layers.append(layer)
        channels.append(c_out)
        c_in = c_out

    yolos = [layer for layer in layers if isinstance(layer, Yolo)]
    if not yolos:
        raise CycleAugError(f"{source}: no [yolo] layer; expected a YOLOv3-style detector")
    if len({y.classes for y in yolos}) != 1:
        raise CycleAugError(
            f"{source}:{yolos[-1].line}: [yolo] layers disagree on classes ({sorted({y.classes for y in yolos})})"
        )
    cfg = DarknetCfg(source, net, tuple(layers), tuple(channels))
    output_shapes(cfg, net.width, net.height)  # spatial sizes must fit at the cfg's own input size
    return cfg


def resolve_cfg_path(name: str | os.PathLike) -> Path:
    """A path to an existing file, or the name of a cfg shipped in ``cycleaug/cfg/``."""
    path = Path(name)
    if path.is_file():
        return path
    shipped = CFG_DIR / path.name
    if path.parent == Path(".") and shipped.is_file():
        return shipped
    available = ", ".join(sorted(p.name for p in CFG_DIR.glob("*.cfg")))
    raise CycleAugError(f"{name}: cfg file not found (neither a file nor a shipped cfg: {available})")


def load_cfg(name: str | os.PathLike) -> DarknetCfg:
    """Parse a cfg file given by path or by the name of a shipped cfg."""
    path = resolve_cfg_path(name)
    return parse_cfg_text(path.read_text(), str(path))


# ------------------------------------------------------------------------------------------------
# Shapes


def _maxpool_out(n: int, layer: Maxpool) -> int:
    # make_maxpool_layer (src/maxpool_layer.c): out = (in + padding - size) / stride + 1
    return (n + layer.padding - layer.size) // layer.stride + 1


def output_shapes(cfg: DarknetCfg, width: int, height: int) -> list[tuple[int, int, int]]:
    """(channels, height, width) of every layer's output for an input of ``width`` x ``height``;
    an error if routes or shortcuts would join maps of different sizes at that input size."""
    shapes: list[tuple[int, int, int]] = []
    c, h, w = cfg.net.channels, height, width
    for layer, c_out in zip(cfg.layers, cfg.channels):
        if isinstance(layer, Conv):
            h = (h + 2 * layer.padding - layer.size) // layer.stride + 1
            w = (w + 2 * layer.padding - layer.size) // layer.stride + 1
        elif isinstance(layer, Maxpool):
            h, w = _maxpool_out(h, layer), _maxpool_out(w, layer)
        elif isinstance(layer, Upsample):
            h, w = h * layer.stride, w * layer.stride
        elif isinstance(layer, Shortcut):
            if shapes[layer.source][1:] != (h, w):
                raise CycleAugError(
                    f"{cfg.path}:{layer.line}: at input {width}x{height}, [shortcut] adds a {shapes[layer.source][2]}x"
                    f"{shapes[layer.source][1]} map to a {w}x{h} map; use an input size that is a multiple of "
                    f"{_total_stride(cfg)}"
                )
        elif isinstance(layer, Route):
            sizes = {shapes[s][1:] for s in layer.sources}
            if len(sizes) != 1:
                raise CycleAugError(
                    f"{cfg.path}:{layer.line}: at input {width}x{height}, [route] joins maps of different sizes "
                    f"{sorted(sizes)}; use an input size that is a multiple of {_total_stride(cfg)}"
                )
            h, w = sizes.pop()
        if h < 1 or w < 1:
            raise CycleAugError(
                f"{cfg.path}:{layer.line}: at input {width}x{height} layer {layer.index} has an empty output"
            )
        c = c_out
        shapes.append((c, h, w))
    return shapes


def _total_stride(cfg: DarknetCfg) -> int:
    """The largest down-sampling factor of any layer (32 for YOLOv3 and YOLOv3-tiny)."""
    factors: list[int] = []
    f = 1
    for layer in cfg.layers:
        if isinstance(layer, (Conv, Maxpool)):
            f *= layer.stride
        elif isinstance(layer, Upsample):
            f //= layer.stride
        elif isinstance(layer, Route):
            f = factors[layer.sources[0]]
        factors.append(max(f, 1))
    return max(factors)


# ------------------------------------------------------------------------------------------------
# Sizes without building a model


def conv_parameter_counts(layer: Conv) -> dict[str, int]:
    """Numbers of floats per part of one conv layer, in darknet's weights-file order."""
    n = layer.filters
    counts = {"bias": n}  # BN beta when batch_normalize, else the conv bias
    if layer.batch_normalize:
        counts.update(scales=n, rolling_mean=n, rolling_variance=n)
    counts["weights"] = n * layer.in_channels * layer.size * layer.size
    return counts


def count_parameters(cfg: DarknetCfg) -> int:
    """Trainable parameters: conv weights, BN gamma and beta, conv biases (running statistics excluded)."""
    total = 0
    for layer in cfg.conv_layers:
        counts = conv_parameter_counts(layer)
        total += counts["weights"] + counts["bias"] + counts.get("scales", 0)
    return total
