"""Cropping speed: images/s of cycleaug.data.crop.crop_images (what ``cycleaug crop`` runs) with 1 and
2 worker processes on the same synthetic BDD-like set (1280x720 JPEGs, one to three person boxes each).

    .venv/bin/python bench/crop_speed.py [--n 200] [--quick]
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
import numpy as np  # noqa: E402


def make_set(root: Path, n: int, width: int, height: int) -> tuple[Path, Path]:
    from cycleaug.labels import Box, Frame, write_frames
    from PIL import Image

    rng = np.random.default_rng(0)
    images = root / "images"
    images.mkdir(parents=True)
    frames = []
    for i in range(n):
        low = rng.integers(0, 256, size=(9, 16, 3), dtype=np.uint8)
        im = Image.fromarray(low).resize((width, height), Image.Resampling.BILINEAR)
        arr = np.clip(np.asarray(im, dtype=np.int16) + rng.integers(-10, 11, size=(height, width, 3)), 0, 255)
        name = f"{i:05d}.jpg"
        Image.fromarray(arr.astype(np.uint8)).save(images / name, quality=90)
        boxes = []
        for _ in range(int(rng.integers(1, 4))):
            bw, bh = rng.uniform(0.01, 0.05) * width, rng.uniform(0.05, 0.2) * height
            x, y = rng.uniform(0, width - bw), rng.uniform(0, height - bh)
            boxes.append(Box(x, y, x + bw, y + bh))
        frames.append(Frame(name, boxes))
    labels = root / "labels.json"
    write_frames(labels, frames)
    return images, labels


def main(argv=None) -> int:
    p = common.parser(__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=200, help="images (default 200)")
    p.add_argument("--workers", default="1,2")
    p.add_argument("--repeats", type=int, default=5, help="timed runs per worker count, interleaved")
    args = p.parse_args(argv)
    width, height, size = 1280, 720, 256
    if args.quick:
        args.n, width, height, size, args.repeats = 8, 160, 90, 32, 1
    from cycleaug.data.crop import crop_images

    rows = []
    counts = [int(x) for x in args.workers.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        images, labels = make_set(Path(tmp), args.n, width, height)
        summaries: dict[int, dict] = {}
        calls = {w: 0 for w in counts}

        def crop(w: int):
            calls[w] += 1
            out = Path(tmp) / f"crops{w}_{calls[w]}"
            summaries[w] = crop_images(images, labels, out, size=size, workers=w)

        # Interleaved: 1 worker, 2 workers, 1, 2, ... over the whole set each time.
        times = common.interleaved({str(w): (lambda w=w: crop(w)) for w in counts}, 0, args.repeats)
        for w in counts:
            s = common.summary(times[str(w)])
            rows.append(
                {
                    "workers": w,
                    "images": summaries[w]["visited"],
                    "crops": summaries[w]["crops"],
                    **s,
                    "images_per_s": summaries[w]["visited"] / s["median_s"],
                }
            )
    for r in rows:
        r["vs_1_worker"] = r["images_per_s"] / rows[0]["images_per_s"]
    common.table(
        rows,
        ["workers", "images", "crops", "min_s", "median_s", "max_s", "images_per_s", "vs_1_worker"],
        title=f"crop {args.n} {width}x{height} JPEGs to {size}x{size} PNG ({args.repeats} interleaved runs each)",
    )
    common.write(
        "crop_speed",
        {
            "config": vars(args),
            "rows": rows,
            "headline": {
                "figure": f"crop images/s, {rows[-1]['workers']} workers / {rows[0]['workers']}",
                "value": rows[-1]["vs_1_worker"] if rows else None,
                "spread": f"{rows[0]['min_s'] / rows[-1]['max_s']:.2f}-{rows[0]['max_s'] / rows[-1]['min_s']:.2f}",
            },
        },
        args.out_dir,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
