"""`cycleaug align-images`: bring a detector image set to the real images' size (see cycleaug.yolo.align).

    cycleaug align-images --labels results/detector/selection/synthetic.json --images data/raw/synthia/RGB \\
        --size 1280 720 --mode resize --out results/detector/aligned/raw

Writes ``OUT/images/<frame name>.png`` and ``OUT/labels.json`` (the frames with their boxes transformed,
named after the aligned images); the folder appears only complete.
"""

HELP = "resize (or centre-crop and resize) detector images to the real images' size, boxes with them"


def add_arguments(parser) -> None:
    from cycleaug.yolo.align import MODES

    parser.add_argument("--labels", required=True, help="the set's frames (BDD100K JSON)")
    parser.add_argument("--images", required=True, help="folder of the set's images")
    parser.add_argument("--size", type=int, nargs=2, required=True, metavar=("W", "H"), help="target size")
    parser.add_argument("--mode", choices=MODES, default="resize", help="see cycleaug.yolo.align")
    parser.add_argument("--out", required=True, help="output folder (images/ and labels.json)")


def run(args) -> int:
    from pathlib import Path

    from cycleaug.atomic import atomic_dir
    from cycleaug.errors import CycleAugError
    from cycleaug.labels import read_frames, write_frames
    from cycleaug.yolo.align import align_set

    frames = read_frames(args.labels)
    if not frames:
        raise CycleAugError(f"--labels {args.labels}: no frames")
    out = Path(args.out)
    if out.exists():
        raise CycleAugError(f"--out {out}: exists; remove it first (outputs are never written over in place)")
    with atomic_dir(out) as tmp:
        aligned = align_set(frames, args.images, tmp / "images", tuple(args.size), args.mode)
        write_frames(tmp / "labels.json", aligned)
    boxes = sum(len(f.boxes) for f in frames), sum(len(f.boxes) for f in aligned)
    print(
        f"{out}: {len(aligned)} images at {args.size[0]}x{args.size[1]} ({args.mode}), {boxes[1]} of {boxes[0]} boxes"
    )
    return 0
