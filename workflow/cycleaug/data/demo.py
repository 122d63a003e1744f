"""Demo data: small BDD100K-like and SYNTHIA-like sets in the real on-disk formats, so the real
readers (``cycleaug boxes``) are what the demo exercises.

    cycleaug demo-data --out data/raw --seed 0 --bdd-size 320 180 --synthia-size 320 190

Writes (the layout of the real releases):
- ``OUT/bdd100k/images/100k/{train,val}/<8 hex>-<8 hex>.jpg``, legacy labels
  ``OUT/bdd100k/labels/bdd100k_labels_images_{train,val}.json`` (person, rider, car, bike, traffic
  sign and light boxes; "drivable area" and "lane" poly2d labels; weather/scene/timeofday) and the
  same boxes as det_20 ``OUT/bdd100k/labels/det_20/det_{train,val}.json`` (Scalabel names). Every box
  is BDD100K's: tight around the object's visible pixels (see ``visible_boxes``), the very box
  ``cycleaug boxes synthia`` finds from the instance pixels of the same scene drawn as CG.
- ``OUT/synthia/RGB/0000000.png`` and ``OUT/synthia/GT/LABELS/0000000.png`` (16-bit, 3 channels:
  class id, instance id, 0; pedestrian = 10, RAND-CITYSCAPES classes, see ``synthia.py``).
- ``OUT/synthia/PAIRED/RGB/0000000.png``: the same scene rendered in the BDD-like style, a ground truth
  for the translation that no real data set has (never read by training; ``cycleaug paired-distance``
  compares G_A(CG) with it). Not part of the real SYNTHIA release.

Both domains share one scene model (road to a vanishing point, buildings, trees, signs, cars and
people of varied size, pose and clothing) and differ where CG differs from dash-cam photos:
SYNTHIA-like images are flat-shaded with hard (aliased) edges and saturated colours, stored
losslessly; BDD-like images get surface texture, uneven lighting, a colour cast and duller colours,
lens blur, sensor noise and JPEG compression. Each image draws from its own generator seeded with
(seed, domain, split, index), so the files do not depend on the number of workers.
"""

from __future__ import annotations

import colorsys
import json
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter
from scipy import ndimage

from cycleaug.atomic import atomic_dir, write_json
from cycleaug.data.pngio import write_png16
from cycleaug.errors import CycleAugError
from cycleaug.progress import Progress

# SYNTHIA RAND-CITYSCAPES class ids (synthia.CLASSES); the BDD-like renderer uses the same class map
# to decide which surfaces get which texture.
SKY, BUILDING, ROAD, SIDEWALK, VEGETATION, POLE, CAR = 1, 2, 3, 4, 6, 7, 8
SIGN, PEDESTRIAN, BICYCLE, LIGHT, RIDER, LANE = 9, 10, 11, 15, 17, 22
MARKER = ".cycleaug-demo.json"  # inside each generated data set: marks it as safe to replace
# Legacy BDD100K names -> det_20 (Scalabel) names, https://doc.bdd100k.com/format.html.
DET20_NAME = {"person": "pedestrian", "bike": "bicycle", "motor": "motorcycle"}


@dataclass
class Obj:
    """A drawable object: polygons/ellipses in draw order, a label category, and the class id."""

    category: str  # BDD legacy category ("person", "car", ...); "" for unlabelled scenery
    cls: int
    parts: list = field(default_factory=list)  # (kind, coords, rgb, cls) with kind "poly" | "ellipse"
    depth: float = 0.0  # bottom y: far objects (small y) are drawn first
    instance: int = 0

    def add(self, kind, coords, rgb, cls=None):
        self.parts.append(
            (kind, [float(c) for c in coords], tuple(int(v) for v in rgb), self.cls if cls is None else cls)
        )

    def bbox(self) -> tuple[float, float, float, float]:
        xs, ys = [], []
        for _kind, c, _, _ in self.parts:
            xs += c[0::2]
            ys += c[1::2]
        return min(xs), min(ys), max(xs), max(ys)


def _quad(x0, y0, x1, y1, width):
    """The four corners of a line segment drawn ``width`` thick."""
    dx, dy = x1 - x0, y1 - y0
    n = math.hypot(dx, dy) or 1.0
    ox, oy = -dy / n * width / 2, dx / n * width / 2
    return [x0 + ox, y0 + oy, x1 + ox, y1 + oy, x1 - ox, y1 - oy, x0 - ox, y0 - oy]


def _rect(x0, y0, x1, y1):
    return [x0, y0, x1, y0, x1, y1, x0, y1]


class Palette:
    """Colours of one domain: saturated for CG, dull for photos.

    Both domains take the same number of draws from the generator for every colour, so one scene seed
    gives the same geometry in either style (the paired ground truth, ``render_synthia``), and a
    photo colour is the CG colour's counterpart at the same quantiles of its own distribution."""

    def __init__(self, rng: np.random.Generator, cg: bool):
        self.rng, self.cg = rng, cg

    def hsv(self, h, s, v):
        r, g, b = colorsys.hsv_to_rgb(h % 1.0, min(max(s, 0), 1), min(max(v, 0), 1))
        return (round(r * 255), round(g * 255), round(b * 255))

    def pick(self, sat_cg=(0.65, 1.0), sat_photo=(0.05, 0.35), val=(0.35, 0.95), hue=None, u=None):
        """Three draws (hue, saturation, value); ``u``: a hue already drawn by the caller."""
        rng = self.rng
        h = (rng.random() if u is None else u) if hue is None else hue + rng.normal(0, 0.03)
        s = rng.uniform(*sat_cg) if self.cg else rng.uniform(*sat_photo)
        return self.hsv(h, s, rng.uniform(*val))

    def clothing(self):
        if self.cg:
            return self.pick(val=(0.45, 1.0))
        u = self.rng.random()  # the draw CG spends on the hue decides the kind of clothes
        if u < 0.6:  # street clothes are mostly dark and grey
            hue = (0.6, 0.08, 0.0, 0.62)[int(u / 0.6 * 4)]
            return self.hsv(hue, self.rng.uniform(0, 0.35), self.rng.uniform(0.08, 0.45))
        return self.pick(val=(0.2, 0.8), u=(u - 0.6) / 0.4)

    def skin(self):
        return self.hsv(self.rng.uniform(0.04, 0.09), self.rng.uniform(0.25, 0.6), self.rng.uniform(0.35, 0.95))


def make_person(rng, pal: Palette, x, feet, h, rider=False) -> list[Obj]:
    """A standing or walking person (feet at ``feet``, ``h`` pixels tall), or a rider on a bicycle."""
    objs = []
    if rider:
        bike = Obj("bike", BICYCLE, depth=feet)
        frame_rgb, r = pal.pick(val=(0.2, 0.7)), 0.17 * h
        for wx in (x - 0.3 * h, x + 0.3 * h):
            bike.add("ellipse", [wx - r, feet - 2 * r, wx + r, feet], (20, 20, 20))
            bike.add("ellipse", [wx - 0.7 * r, feet - 1.7 * r, wx + 0.7 * r, feet - 0.3 * r], pal.pick(val=(0.3, 0.6)))
        bike.add("poly", _quad(x - 0.3 * h, feet - r, x, feet - 0.45 * h, 0.03 * h), frame_rgb)
        bike.add("poly", _quad(x, feet - 0.45 * h, x + 0.3 * h, feet - r, 0.03 * h), frame_rgb)
        objs.append(bike)
        feet -= 0.12 * h  # sits higher; legs bent
    p = Obj("rider" if rider else "person", RIDER if rider else PEDESTRIAN, depth=feet + (0.12 * h if rider else 0))
    skin, hair = pal.skin(), pal.hsv(0.07, 0.5, rng.uniform(0.05, 0.35))
    shirt, trousers = pal.clothing(), pal.clothing()
    lean = rng.normal(0, 0.02) * h
    spread = (0.02 if rider else rng.uniform(0.0, 0.14)) * h
    r = 0.062 * h
    hx, hy = x + lean, feet - h + r
    ys, yh = feet - 0.83 * h, feet - 0.47 * h
    sw, hw = 0.115 * h, 0.085 * h
    for sx, fx in ((-1, x - spread), (1, x + spread * rng.uniform(0.3, 1.0))):  # legs, then shoes
        p.add("poly", _quad(x + sx * 0.045 * h, yh, fx, feet - 0.02 * h, 0.08 * h), trousers)
        p.add("ellipse", [fx - 0.05 * h, feet - 0.04 * h, fx + 0.05 * h, feet], pal.hsv(0.08, 0.3, 0.15))
    p.add("poly", [x + lean - sw, ys, x + lean + sw, ys, x + hw, yh + 0.02 * h, x - hw, yh + 0.02 * h], shirt)
    p.add("poly", _rect(hx - 0.03 * h, hy + 0.7 * r, hx + 0.03 * h, ys + 0.01 * h), skin)
    for side in (-1, 1):  # arms swing or hang
        theta = rng.uniform(-0.15, 0.55) if not rider else 0.9
        ax, ay = x + lean + side * (sw - 0.025 * h), ys + 0.02 * h
        ex, ey = ax + side * 0.36 * h * math.sin(theta), ay + 0.36 * h * math.cos(theta)
        p.add("poly", _quad(ax, ay, ex, ey, 0.058 * h), shirt)
        p.add("ellipse", [ex - 0.03 * h, ey - 0.03 * h, ex + 0.03 * h, ey + 0.03 * h], skin)
    p.add("ellipse", [hx - r, hy - r, hx + r, hy + r], skin)
    p.add("ellipse", [hx - 1.05 * r, hy - 1.12 * r, hx + 1.05 * r, hy + 0.05 * r], hair)
    objs.append(p)
    return objs


def make_car(rng, pal: Palette, x, bottom, ch, side_view: bool) -> Obj:
    cw = ch * (2.6 if side_view else 1.7)
    car = Obj("car", CAR, depth=bottom)
    u = 0.0 if pal.cg else rng.random()  # photo cars: half coloured, half black/grey/silver/white
    if u < 0.5:
        body = pal.pick(sat_photo=(0.0, 0.3), val=(0.15, 0.95), u=None if pal.cg else 2 * u)
    else:  # as many draws as a coloured car (the hue was u)
        rng.uniform(size=2)
        body = pal.hsv(0, 0, (0.1, 0.5, 0.75, 0.92)[int((u - 0.5) * 8)])
    glass = (40, 50, 70) if pal.cg else (35, 38, 42)
    x0, x1 = x - cw / 2, x + cw / 2
    car.add("poly", _rect(x0, bottom - 0.62 * ch, x1, bottom - 0.15 * ch), body)
    inset = 0.22 * cw if side_view else 0.12 * cw
    car.add(
        "poly",
        [
            x0 + inset,
            bottom - ch,
            x1 - inset,
            bottom - ch,
            x1 - 0.05 * cw,
            bottom - 0.6 * ch,
            x0 + 0.05 * cw,
            bottom - 0.6 * ch,
        ],
        body,
    )
    car.add(
        "poly",
        [
            x0 + inset + 0.04 * cw,
            bottom - 0.93 * ch,
            x1 - inset - 0.04 * cw,
            bottom - 0.93 * ch,
            x1 - 0.1 * cw,
            bottom - 0.64 * ch,
            x0 + 0.1 * cw,
            bottom - 0.64 * ch,
        ],
        glass,
    )
    if side_view:
        for wx in (x0 + 0.2 * cw, x1 - 0.2 * cw):
            car.add("ellipse", [wx - 0.2 * ch, bottom - 0.4 * ch, wx + 0.2 * ch, bottom], (15, 15, 15))
    else:
        for wx in (x0 + 0.04 * cw, x1 - 0.2 * cw):
            car.add("poly", _rect(wx, bottom - 0.2 * ch, wx + 0.16 * cw, bottom), (15, 15, 15))
        for lx in (x0 + 0.05 * cw, x1 - 0.17 * cw):
            car.add("poly", _rect(lx, bottom - 0.5 * ch, lx + 0.12 * cw, bottom - 0.4 * ch), (220, 30, 30))
    return car


def make_scene(rng: np.random.Generator, width: int, height: int, cg: bool):
    """Scenery (unlabelled, drawn first), objects (labelled, drawn far to near) and lane geometry."""
    W, H, pal = width, height, Palette(rng, cg)
    horizon = H * rng.uniform(0.36, 0.5)
    vx = W * rng.uniform(0.4, 0.6)
    below = H - horizon
    scenery: list[Obj] = []
    sky_top = pal.pick(sat_cg=(0.55, 0.75), sat_photo=(0.05, 0.3), val=(0.75, 1.0), hue=0.58)
    sky_bottom = pal.pick(sat_cg=(0.35, 0.5), sat_photo=(0.0, 0.15), val=(0.85, 1.0), hue=0.58)
    # Buildings on both sides, from the image edge toward the vanishing point.
    for side in (-1, 1):
        x = 0.0 if side < 0 else W
        while (x < vx - 0.08 * W) if side < 0 else (x > vx + 0.08 * W):
            bw = W * rng.uniform(0.08, 0.22)
            top = horizon - H * rng.uniform(0.08, 0.45)
            x_end = x - side * bw  # toward the vanishing point
            b = Obj("", BUILDING)
            b.add("poly", _rect(min(x, x_end), top, max(x, x_end), horizon + 0.04 * below), pal.pick(val=(0.4, 0.9)))
            win = (
                pal.pick(sat_cg=(0.3, 0.6), val=(0.15, 0.5), hue=0.6)
                if rng.random() < 0.7
                else pal.pick(val=(0.7, 0.95), hue=0.13)
            )
            cols, rows = rng.integers(2, 6), rng.integers(2, 8)
            x_lo, bh = min(x, x_end), horizon - top
            for i in range(cols):
                for j in range(rows):
                    wx0 = x_lo + bw * (i + 0.25) / cols
                    wy0 = top + bh * (j + 0.2) / (rows + 0.5)
                    b.add("poly", _rect(wx0, wy0, wx0 + 0.5 * bw / cols, wy0 + 0.45 * bh / (rows + 0.5)), win)
            scenery.append(b)
            x = x_end
    sidewalk = pal.pick(sat_cg=(0.25, 0.45), sat_photo=(0.0, 0.1), val=(0.55, 0.8), hue=0.08)
    ground = Obj("", SIDEWALK)
    ground.add("poly", _rect(-1, horizon, W + 1, H + 1), sidewalk)
    scenery.append(ground)
    road_rgb = pal.hsv(0.72, 0.25, rng.uniform(0.4, 0.55)) if cg else pal.hsv(0.6, 0.05, rng.uniform(0.22, 0.4))
    half = W * rng.uniform(0.55, 0.9)
    road_poly = [vx - 0.01 * W, horizon, vx + 0.01 * W, horizon, vx + half, H, vx - half, H]
    road = Obj("", ROAD)
    road.add("poly", road_poly, road_rgb)
    scenery.append(road)
    lane_rgb = (250, 250, 250) if cg else (200, 200, 190)
    lanes = Obj("", LANE)
    t = 0.0
    while t < 1.0:  # dashed centre line, dashes growing toward the camera
        t1 = min(1.0, t + 0.12 + 0.1 * t)
        lanes.add("poly", _quad(vx, horizon + t * below, vx, horizon + t1 * below, 0.003 * W + 0.012 * W * t), lane_rgb)
        t = t1 + 0.08 + 0.1 * t
    scenery.append(lanes)

    def road_half(y):  # road half-width at row y
        return 0.01 * W + (half - 0.01 * W) * (y - horizon) / below

    objs: list[Obj] = []
    # Trees, signs and lights on the sidewalk.
    for _ in range(rng.integers(0, 4)):
        bottom = horizon + below * rng.uniform(0.05, 0.6)
        s = bottom - horizon
        side = rng.choice([-1, 1])
        x = vx + side * (road_half(bottom) + s * rng.uniform(0.2, 1.0))
        kind = rng.choice(["tree", "sign", "light"])
        if kind == "tree":
            tree = Obj("", VEGETATION, depth=bottom)
            tree.add("poly", _rect(x - 0.04 * s, bottom - 1.5 * s, x + 0.04 * s, bottom), pal.hsv(0.08, 0.5, 0.3))
            tree.add(
                "ellipse",
                [x - 0.6 * s, bottom - 2.8 * s, x + 0.6 * s, bottom - 1.3 * s],
                pal.pick(sat_cg=(0.7, 0.9), sat_photo=(0.3, 0.5), val=(0.25, 0.6), hue=0.28),
            )
            objs.append(tree)
        else:
            pole = Obj("", POLE, depth=bottom)
            pole.add("poly", _rect(x - 0.025 * s, bottom - 1.9 * s, x + 0.025 * s, bottom), pal.hsv(0, 0, 0.45))
            objs.append(pole)
            if kind == "sign":
                sign = Obj("traffic sign", SIGN, depth=bottom + 1e-3)
                rgb = pal.pick(sat_photo=(0.4, 0.6), val=(0.5, 0.9), hue=rng.choice([0.0, 0.6]))
                corners = [x - 0.2 * s, bottom - 2.3 * s, x + 0.2 * s, bottom - 1.9 * s]
                if rng.random() < 0.5:  # round or rectangular panel
                    sign.add("ellipse", corners, rgb)
                else:
                    sign.add("poly", _rect(*corners), rgb)
                objs.append(sign)
            else:
                light = Obj("traffic light", LIGHT, depth=bottom + 1e-3)
                light.add("poly", _rect(x - 0.08 * s, bottom - 2.5 * s, x + 0.08 * s, bottom - 1.9 * s), (25, 25, 25))
                lamp = [(230, 30, 30), (240, 190, 20), (30, 220, 80)][rng.integers(0, 3)]
                cy = bottom - 2.4 * s + 0.2 * s * rng.integers(0, 3)
                light.add("ellipse", [x - 0.05 * s, cy - 0.05 * s, x + 0.05 * s, cy + 0.05 * s], lamp)
                objs.append(light)
    for _ in range(rng.integers(0, 4)):  # cars on the road
        bottom = horizon + below * rng.uniform(0.1, 0.9)
        s = bottom - horizon
        x = vx + rng.uniform(-0.8, 0.8) * road_half(bottom)
        objs.append(make_car(rng, pal, x, bottom, 0.75 * s, side_view=rng.random() < 0.3))
    # People: usually one near (large) person, plus a few farther away; some images have nobody.
    if rng.random() < 0.88:
        # Mostly a full figure that fits a crop of 0.36 x the image height (256 px of 720, the
        # paper's crop), sometimes one close enough to be cut off by it.
        h = H * (rng.uniform(0.14, 0.42) if rng.random() < 0.85 else rng.uniform(0.42, 0.7))
        feet = min(horizon + h / 1.1, H * 1.03)
        objs += make_person(rng, pal, W * rng.uniform(0.03, 0.97), feet, h, rider=rng.random() < 0.08)
        for _ in range(rng.integers(0, 4)):
            feet = horizon + below * rng.uniform(0.05, 0.7)
            x = W * rng.uniform(-0.05, 1.05)
            objs += make_person(
                rng, pal, x, feet, 1.1 * (feet - horizon) * rng.uniform(0.75, 1.1), rider=rng.random() < 0.1
            )
    objs.sort(key=lambda o: o.depth)
    for i, o in enumerate(o for o in objs if o.cls in (CAR, PEDESTRIAN, RIDER, BICYCLE)):
        o.instance = i + 1
    info = {"horizon": horizon, "vx": vx, "road": road_poly, "lanes": lanes, "sky": (sky_top, sky_bottom)}
    return scenery, objs, info


def rasterise(width, height, scenery, objs, info, cg: bool):
    """Draw the scene with hard edges: an RGB image, the class map and (for CG) the instance map."""
    W, H = width, height
    top, bottom = (np.array(c, np.float32) for c in info["sky"])
    ramp = np.linspace(0, 1, H, dtype=np.float32)[:, None, None] ** 0.7
    sky = np.broadcast_to(top, (H, 1, 3)) if cg else top * (1 - ramp) + bottom * ramp  # flat vs. graded sky
    rgb = Image.fromarray(np.round(sky).astype(np.uint8)).resize((W, H), Image.NEAREST)
    cls = Image.new("L", (W, H), SKY)
    inst = Image.new("L", (W, H), 0) if cg else None
    d_rgb, d_cls = ImageDraw.Draw(rgb), ImageDraw.Draw(cls)
    d_inst = ImageDraw.Draw(inst) if cg else None
    for o in [*scenery, *objs]:
        for kind, coords, colour, c in o.parts:
            for draw, fill in (
                (d_rgb, colour),
                (d_cls, c),
                (d_inst, o.instance if c in (PEDESTRIAN, CAR, RIDER, BICYCLE) else 0),
            ):
                if draw is None:
                    continue
                if kind == "poly":
                    draw.polygon(coords, fill=fill)
                else:
                    draw.ellipse(coords, fill=fill)
    return rgb, np.asarray(cls), (np.asarray(inst) if cg else None)


def _lowfreq(rng, height, width, cell):
    small = rng.standard_normal((height // cell + 2, width // cell + 2), dtype=np.float32)
    return np.asarray(Image.fromarray(small, mode="F").resize((width, height), Image.BILINEAR))


# Texture amplitude per class for the photo look (relative brightness variation).
_TEXTURE = {
    SKY: 0.02,
    BUILDING: 0.12,
    ROAD: 0.09,
    SIDEWALK: 0.1,
    VEGETATION: 0.25,
    CAR: 0.04,
    PEDESTRIAN: 0.07,
    RIDER: 0.07,
    POLE: 0.05,
    LANE: 0.08,
}


def photo_style(rng, rgb: Image.Image, cls: np.ndarray, timeofday: str, weather: str) -> Image.Image:
    """Texture, lighting, colour cast, blur and sensor noise on a hard-edged rendering."""
    W, H = rgb.size
    amp = np.zeros(256, np.float32)
    for c, a in _TEXTURE.items():
        amp[c] = a
    texture = 0.6 * _lowfreq(rng, H, W, max(4, W // 64)) + 0.8 * rng.standard_normal((H, W), dtype=np.float32)
    # Lighting: a gentle left-right and top-bottom ramp, vignetting, and the exposure of the time of day.
    x = np.linspace(-0.5, 0.5, W, dtype=np.float32)[None, :]
    y = np.linspace(-0.5, 0.5, H, dtype=np.float32)[:, None]
    light = (1.0 + rng.uniform(-0.25, 0.25) * x + rng.uniform(0.0, 0.2) * y) * (
        1.0 - rng.uniform(0.3, 0.8) * (x * x + y * y)
    )
    exposure = {
        "daytime": rng.uniform(0.85, 1.1),
        "dawn/dusk": rng.uniform(0.55, 0.75),
        "night": rng.uniform(0.3, 0.45),
    }
    factor = (1.0 + amp[cls] * texture) * light * np.float32(exposure[timeofday])
    # Duller colours (pull toward the pixel's grey) and a colour cast: one 3x3 colour matrix, applied by
    # Pillow to the flat rendering (it commutes with the per-pixel brightness factor above).
    keep = rng.uniform(0.55, 0.85)
    cast = np.array([rng.uniform(0.92, 1.1), rng.uniform(0.95, 1.05), rng.uniform(0.88, 1.06)])
    if timeofday == "dawn/dusk":
        cast *= np.array([1.1, 1.0, 0.85])
    mix = (np.full((3, 3), (1 - keep) / 3) + keep * np.eye(3)) * cast[:, None]  # row: output channel
    matrix = tuple(v for row in mix for v in (*row, 0.0))
    img = np.asarray(rgb.convert("RGB", matrix), dtype=np.float32) * factor[:, :, None]
    if weather in ("overcast", "rainy", "foggy"):  # haze: lower contrast
        img = img * 0.8 + 0.2 * float(img.mean())
    out = Image.fromarray(np.clip(img + 0.5, 0, 255).astype(np.uint8))
    radius = rng.uniform(0.6, 1.3) * max(0.6, 1.5 * W / 1280)
    blurred = np.asarray(out.filter(ImageFilter.GaussianBlur(radius)), dtype=np.float32)
    sigma = rng.uniform(3.0, 7.0) * (1.8 if timeofday == "night" else 1.0)  # grey levels
    noise = rng.standard_normal((H, W, 3), dtype=np.float32) * np.float32(sigma * 0.5)
    noise += rng.standard_normal((H, W, 1), dtype=np.float32) * np.float32(sigma)
    noise += blurred + 0.5
    return Image.fromarray(np.clip(noise, 0, 255).astype(np.uint8))


# Box convention, the same in both domains: BDD100K's. Its boxes were drawn in Scalabel
# (https://doc.bdd100k.com/format.html: labels "compatible with the labels generated by Scalabel") under
# Scalabel's "Bounding Box Annotation Technical Standard" (scalabel-doc, instructions/bbox.html and .rst,
# read in its copy github.com/computationalcore/scalabel-doc): "annotate the bounding box around the object
# as tight as possible and only annotate visible part of the object" ("occluded": "annotate all visible
# parts"; "truncated": the box "does not correspond to the full extent of the object", e.g. "a car extending
# outside the image"). So a box is the extent of the object's VISIBLE pixels (a person behind a car ends at
# the car's roof; no visible pixel, no box), not the amodal full extent. Coordinates are pixel edges
# (pixels 10..19 -> x1 = 10, x2 = 20), as ``synthia.boxes_from_instances`` gives for SYNTHIA-like persons
# (the same visible pixels), so both domains box a scene identically. Categories stay BDD100K's: a person
# on a bicycle is "rider" (not a person unless data.bdd100k.include_rider), as SYNTHIA's rider class 17 is
# not pedestrian (10).


def object_ids(width: int, height: int, objs: list[Obj]) -> np.ndarray:
    """Which labelled object each pixel shows: ``i + 1`` for ``objs[i]`` (0: scenery, or an unlabelled
    object such as a tree drawn over it), drawn in the scene's order, so nearer objects hide farther ones."""
    ids = Image.new("I", (width, height), 0)
    draw = ImageDraw.Draw(ids)
    for i, o in enumerate(objs):
        for kind, coords, _, _ in o.parts:
            fill = i + 1 if o.category else 0
            if kind == "poly":
                draw.polygon(coords, fill=fill)
            else:
                draw.ellipse(coords, fill=fill)
    return np.asarray(ids)


def _own_pixels(width: int, height: int, o: Obj) -> int:
    """Pixels inside the image that ``o`` covers when drawn alone (nothing in front of it)."""
    mask = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(mask)
    for kind, coords, _, _ in o.parts:
        (draw.polygon if kind == "poly" else draw.ellipse)(coords, fill=1)
    return int(np.count_nonzero(np.asarray(mask)))


def visible_boxes(objs: list[Obj], W: int, H: int) -> list[tuple[Obj, tuple[float, float, float, float], bool, bool]]:
    """(object, box, truncated, occluded) for every labelled object with a visible pixel, in ``objs``
    order: the box is the pixel-edge extent of its visible pixels (see the convention above);
    truncated: its drawn shape crosses the image border; occluded: a nearer object hides some of it."""
    ids = object_ids(W, H, objs)
    counts = np.bincount(ids.ravel(), minlength=len(objs) + 1)
    out = []
    for i, sl in enumerate(ndimage.find_objects(ids, max_label=len(objs))):
        o = objs[i]
        if sl is None or not o.category:
            continue  # outside the image or hidden behind nearer objects: nothing to box
        ys, xs = sl
        x1, y1, x2, y2 = o.bbox()
        truncated = x1 < 0 or y1 < 0 or x2 > W - 1 or y2 > H - 1
        occluded = bool(counts[i + 1] < _own_pixels(W, H, o))
        out.append((o, (float(xs.start), float(ys.start), float(xs.stop), float(ys.stop)), truncated, occluded))
    return out


def bdd_labels(objs, info, W, H) -> list[dict]:
    """Legacy BDD100K labels (without ids) for the labelled objects and the road."""
    labels = []
    for o, box, truncated, occluded in visible_boxes(objs, W, H):
        labels.append(
            {
                "category": o.category,
                "attributes": {"occluded": occluded, "truncated": truncated, "trafficLightColor": "none"},
                "manualShape": True,
                "manualAttributes": True,
                "box2d": dict(zip(("x1", "y1", "x2", "y2"), box)),
            }
        )
    road = [
        [round(min(max(info["road"][i], 0), W - 1), 6), round(min(info["road"][i + 1], H - 1), 6)]
        for i in range(0, 8, 2)
    ]
    labels.append(
        {
            "category": "drivable area",
            "attributes": {"areaType": "direct"},
            "manualShape": True,
            "manualAttributes": True,
            "poly2d": [{"vertices": road, "types": "LLLL", "closed": True}],
        }
    )
    for x_side in (0, 2):  # the road edges, as "road curb" lanes
        (x0, y0), (x1, y1) = road[x_side], road[3 - x_side]
        labels.append(
            {
                "category": "lane",
                "attributes": {"laneDirection": "parallel", "laneStyle": "solid", "laneType": "road curb"},
                "manualShape": True,
                "manualAttributes": True,
                "poly2d": [{"vertices": [[x0, y0], [x1, y1]], "types": "LL", "closed": False}],
            }
        )
    return labels


_WEATHER = (["clear", "overcast", "partly cloudy", "rainy"], [0.5, 0.2, 0.2, 0.1])
_SCENE = (["city street", "residential", "highway"], [0.6, 0.25, 0.15])
_TIME = (["daytime", "dawn/dusk", "night"], [0.7, 0.12, 0.18])


def _choice(rng, options):
    names, p = options
    return names[int(rng.choice(len(names), p=p))]


def bdd_scene(seed: int, split_code: int, index: int, width: int, height: int):
    """The frame attributes and scene of one BDD-like image, and its generator for the styling."""
    rng = np.random.default_rng([seed, 0xBDD, split_code, index])
    attributes = {"weather": _choice(rng, _WEATHER), "scene": _choice(rng, _SCENE), "timeofday": _choice(rng, _TIME)}
    return attributes, *make_scene(rng, width, height, cg=False), rng


def render_bdd(job) -> dict:
    """Worker: one BDD-like JPEG; returns its legacy frame (label ids are set by the caller)."""
    seed, split_code, index, name, (W, H), folder = job
    attributes, scenery, objs, info, rng = bdd_scene(seed, split_code, index, W, H)
    flat, cls, _ = rasterise(W, H, scenery, objs, info, cg=False)
    photo = photo_style(rng, flat, cls, attributes["timeofday"], attributes["weather"])
    photo.save(Path(folder) / name, format="JPEG", quality=int(rng.integers(70, 93)))
    return {"name": name, "attributes": attributes, "timestamp": 10000, "labels": bdd_labels(objs, info, W, H)}


def render_synthia(job) -> int:
    """Worker: one SYNTHIA-like RGB PNG, its 16-bit GT/LABELS PNG and the paired BDD-style rendering of
    the same scene (PAIRED/RGB; its own generator draws time of day and weather as the BDD-like images
    do, so the truths are distributed as the target domain is); returns the person count."""
    seed, index, (W, H), folder = job
    rng = np.random.default_rng([seed, 0x5A, 0, index])
    scenery, objs, info = make_scene(rng, W, H, cg=True)
    rgb, cls, inst = rasterise(W, H, scenery, objs, info, cg=True)
    name = f"{index:07d}.png"
    rgb.save(Path(folder) / "RGB" / name, format="PNG")
    gt = np.zeros((H, W, 3), np.uint16)
    gt[:, :, 0], gt[:, :, 1] = cls, inst
    write_png16(Path(folder) / "GT" / "LABELS" / name, gt)
    # The same seed in the photo style: same geometry (Palette takes as many draws in both domains),
    # colours drawn as the BDD-like images draw theirs.
    photo_scene = make_scene(np.random.default_rng([seed, 0x5A, 0, index]), W, H, cg=False)
    flat, cls, _ = rasterise(W, H, *photo_scene, cg=False)
    paired_rng = np.random.default_rng([seed, 0x5A, 1, index])
    weather, timeofday = _choice(paired_rng, _WEATHER), _choice(paired_rng, _TIME)
    photo = photo_style(paired_rng, flat, cls, timeofday, weather)
    photo.save(Path(folder) / "PAIRED" / "RGB" / name, format="PNG")
    return int(sum(o.cls == PEDESTRIAN for o in objs))


def bdd_names(seed: int, counts: list[int]) -> list[list[str]]:
    """Unique BDD100K-style names (``b1c66a42-6f7d68ca.jpg``) for each split, drawn from ``seed``."""
    rng = np.random.default_rng([seed, 0xBDD, 0xAA])
    seen, out = set(), []
    for n in counts:
        names = []
        while len(names) < n:
            a, b = rng.integers(0, 2**32, size=2, dtype=np.uint64)
            name = f"{int(a):08x}-{int(b):08x}.jpg"
            if name not in seen:
                seen.add(name)
                names.append(name)
        out.append(names)
    return out


def to_det20(frames: list[dict]) -> list[dict]:
    """The same boxes in det_20's shape: Scalabel category names, string ids, no poly2d labels,
    and no ``labels`` key on frames without objects (as in det_train.json)."""
    out = []
    for f in frames:
        labels = [
            {
                "id": str(lab["id"]),
                "attributes": {
                    "occluded": lab["attributes"]["occluded"],
                    "truncated": lab["attributes"]["truncated"],
                    "trafficLightColor": "NA",
                },
                "category": DET20_NAME.get(lab["category"], lab["category"]),
                "box2d": lab["box2d"],
            }
            for lab in f["labels"]
            if "box2d" in lab
        ]
        frame = {"name": f["name"], "attributes": f["attributes"], "timestamp": f["timestamp"]}
        if labels:
            frame["labels"] = labels
        out.append(frame)
    return out


def _check_replaceable(folder: Path) -> None:
    # Empty folder trees are fine (Snakemake creates output parents before the job runs).
    if folder.exists() and not (folder / MARKER).exists() and any(p.is_file() for p in folder.rglob("*")):
        raise CycleAugError(
            f"{folder}: exists and was not written by `cycleaug demo-data` (no {MARKER}); refusing to replace "
            "what may be a real data set. Remove it or choose another --out."
        )


def _run(func, jobs, workers, progress):
    if workers > 1:
        import multiprocessing as mp  # noqa: PLC0415

        with mp.Pool(workers) as pool:
            results = []
            for r in pool.imap(func, jobs, chunksize=4):
                results.append(r)
                progress.update()
            return results
    results = []
    for job in jobs:
        results.append(func(job))
        progress.update()
    return results


def write_demo(
    out: str | os.PathLike,
    seed: int = 0,
    n_bdd_train: int = 200,
    n_bdd_val: int = 60,
    n_synthia: int = 200,
    bdd_size: tuple[int, int] = (1280, 720),
    synthia_size: tuple[int, int] = (1280, 760),
    workers: int = 1,
) -> dict:
    """Write both demo data sets under ``out`` (each folder replaced whole); returns counts."""
    out = Path(out)
    bdd_dir, syn_dir = out / "bdd100k", out / "synthia"
    for folder in (bdd_dir, syn_dir):
        _check_replaceable(folder)
    start = time.perf_counter()
    params = {
        "seed": seed,
        "n_bdd_train": n_bdd_train,
        "n_bdd_val": n_bdd_val,
        "n_synthia": n_synthia,
        "bdd_size": list(bdd_size),
        "synthia_size": list(synthia_size),
    }
    splits = {"train": n_bdd_train, "val": n_bdd_val}
    names = dict(zip(splits, bdd_names(seed, list(splits.values()))))
    summary = {}
    with atomic_dir(bdd_dir) as bstage, atomic_dir(syn_dir) as sstage:
        jobs = []
        for code, split in enumerate(splits):
            folder = bstage / "images" / "100k" / split
            folder.mkdir(parents=True)
            jobs += [(seed, code, i, n, tuple(bdd_size), str(folder)) for i, n in enumerate(names[split])]
        (sstage / "RGB").mkdir()
        (sstage / "GT" / "LABELS").mkdir(parents=True)
        (sstage / "PAIRED" / "RGB").mkdir(parents=True)
        with Progress(len(jobs) + n_synthia, "demo-data", unit="img") as progress:
            frames = _run(render_bdd, jobs, workers, progress)
            persons = _run(
                render_synthia,
                [(seed, i, tuple(synthia_size), str(sstage)) for i in range(n_synthia)],
                workers,
                progress,
            )
        label_id = 0
        for f in frames:  # legacy ids count up through the file
            for lab in f["labels"]:
                lab["id"] = label_id
                label_id += 1
        start_i = 0
        for split, n in splits.items():
            split_frames = sorted(frames[start_i : start_i + n], key=lambda f: f["name"])
            start_i += n
            write_json(bstage / "labels" / f"bdd100k_labels_images_{split}.json", split_frames, indent=None)
            write_json(bstage / "labels" / "det_20" / f"det_{split}.json", to_det20(split_frames), indent=None)
            n_person = sum(lab["category"] == "person" for f in split_frames for lab in f["labels"])
            summary[f"bdd100k_{split}"] = {"images": n, "person_boxes": n_person}
        summary["synthia"] = {"images": n_synthia, "persons": int(sum(persons))}
        for stage in (bstage, sstage):
            (stage / MARKER).write_text(json.dumps(params, indent=1) + "\n")
    elapsed = time.perf_counter() - start
    print(
        f"demo-data: {n_bdd_train}+{n_bdd_val} BDD-like {bdd_size[0]}x{bdd_size[1]}, {n_synthia} SYNTHIA-like "
        f"{synthia_size[0]}x{synthia_size[1]} images -> {out} in {elapsed:.1f} s",
        file=sys.stderr,
    )
    return summary
