"""Detection evaluation speed: ``cycleaug evaluate``'s computation (darknet ``detector map`` semantics,
cycleaug.yolo.evaluate.evaluate_frames) vs pycocotools' COCOeval AP@0.5 (bbox, IoU thresholds [0.5]
only, so it does no work for the other nine), on the same synthetic set: 5,000 images, ~2 persons
each, 100 detections per image (jittered copies of the boxes and random boxes, random scores).

The two APs differ by definition and are not expected to agree: darknet pools all candidates with
score > 0.005, matches each to its best-IoU box (IoU strictly > 0.5, no fallback to a second box) and
integrates the running-max precision envelope over every unique recall; COCOeval matches greedily to
the best still-free box (IoU >= 0.5), keeps 100 detections per image, ignores crowd/area, and samples
the envelope at 101 recall points. Both values are printed; only the time is compared.

    .venv/bin/python bench/evaluate_speed.py [--quick]
"""

from __future__ import annotations

import contextlib
import io
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
import numpy as np  # noqa: E402


def synthetic(n_images: int, dets_per_image: int, seed: int = 0):
    from cycleaug.labels import Box, Frame

    rng = np.random.default_rng(seed)
    gt, pred = [], []
    for i in range(n_images):
        k = int(rng.integers(0, 5))
        boxes = []
        for _ in range(k):
            x, y = rng.uniform(0, 1200), rng.uniform(0, 650)
            w, h = rng.uniform(8, 80), rng.uniform(20, 200)
            boxes.append((x, y, min(x + w, 1280), min(y + h, 720)))
        dets = []
        for j in range(dets_per_image):
            if boxes and j < 3 * len(boxes):
                x1, y1, x2, y2 = boxes[j % len(boxes)]
                s = rng.normal(0, 0.08, 4) * (x2 - x1)
                d = (x1 + s[0], y1 + s[1], x2 + s[2], y2 + s[3])
            else:
                x, y = rng.uniform(0, 1200), rng.uniform(0, 650)
                d = (x, y, x + rng.uniform(8, 80), y + rng.uniform(20, 200))
            dets.append((*d, float(rng.uniform(0.006, 1.0))))
        name = f"{i:06d}.jpg"
        gt.append(Frame(name, [Box(*b) for b in boxes]))
        pred.append(Frame(name, [Box(*d[:4], score=d[4]) for d in dets]))
    return gt, pred


def coco_ap50(gt_frames, pred_frames) -> float:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    images = [{"id": i, "file_name": f.name, "width": 1280, "height": 720} for i, f in enumerate(gt_frames)]
    anns, k = [], 1
    for i, f in enumerate(gt_frames):
        for b in f.boxes:
            anns.append(
                {
                    "id": k,
                    "image_id": i,
                    "category_id": 1,
                    "iscrowd": 0,
                    "area": b.width * b.height,
                    "bbox": [b.x1, b.y1, b.width, b.height],
                }
            )
            k += 1
    dets = [
        {"image_id": i, "category_id": 1, "bbox": [b.x1, b.y1, b.width, b.height], "score": b.score}
        for i, f in enumerate(pred_frames)
        for b in f.boxes
    ]
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = {"images": images, "annotations": anns, "categories": [{"id": 1, "name": "person"}]}
        coco.createIndex()
        res = coco.loadRes(dets)
        ev = COCOeval(coco, res, "bbox")
        ev.params.iouThrs = np.array([0.5])
        ev.evaluate()
        ev.accumulate()
    prec = ev.eval["precision"][0, :, 0, 0, -1]  # IoU 0.5, all recall points, class, area all, maxDets 100
    return float(prec[prec > -1].mean()) if (prec > -1).any() else 0.0


def main(argv=None) -> int:
    p = common.parser(__doc__.split("\n\n")[0])
    p.add_argument("--images", type=int, default=5000)
    p.add_argument("--dets", type=int, default=100)
    p.add_argument("--repeats", type=int, default=5, help="timed runs of each, interleaved (median reported)")
    args = p.parse_args(argv)
    if args.quick:
        args.images, args.dets, args.repeats = 50, 10, 1
    from cycleaug.yolo.evaluate import evaluate_frames

    gt, pred = synthetic(args.images, args.dets)
    out = {}
    times = common.interleaved(
        {
            "ours": lambda: out.__setitem__("ours", evaluate_frames(gt, pred)),
            "coco": lambda: out.__setitem__("coco", coco_ap50(gt, pred)),
        },
        warmup=0 if args.quick else 1,
        iters=args.repeats,
    )
    ours, coco = times["ours"], times["coco"]
    rows = [
        {
            "tool": "cycleaug evaluate (darknet map)",
            "AP50": out["ours"].ap[0] if hasattr(out["ours"], "ap") else None,
            **common.summary(ours),
        },
        {"tool": "pycocotools COCOeval AP@0.5", "AP50": out["coco"], **common.summary(coco)},
    ]
    for r in rows:
        r["vs_pycocotools"] = rows[1]["median_s"] / r["median_s"]
    common.table(
        rows,
        ["tool", "AP50", "min_s", "median_s", "max_s", "vs_pycocotools"],
        title=f"evaluation of {args.images} images x {args.dets} detections (APs differ by definition)",
    )
    common.write(
        "evaluate_speed",
        {
            "config": vars(args),
            "rows": rows,
            "speedup": rows[0]["vs_pycocotools"],
            "target_speedup": 5.0,
            "note": "AP values differ by definition (see docstring)",
            "headline": {
                "figure": "evaluation speed, cycleaug / pycocotools (medians, interleaved)",
                "value": rows[0]["vs_pycocotools"],
                "spread": f"{rows[1]['min_s'] / rows[0]['max_s']:.2f}-{rows[1]['max_s'] / rows[0]['min_s']:.2f}",
                "target": 5.0,
            },
        },
        args.out_dir,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
