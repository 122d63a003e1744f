"""`cycleaug boxes bdd100k|synthia`: one normalised person-box file (BDD100K JSON, category "pedestrian").

    cycleaug boxes bdd100k --labels data/raw/bdd100k/labels/bdd100k_labels_images_train.json \
        --images data/raw/bdd100k/images/100k/train --out data/labels/bdd100k_train.json
    cycleaug boxes synthia --root data/raw/synthia --release RAND-CITYSCAPES --out data/labels/synthia.json
"""

HELP = "person boxes from BDD100K labels or SYNTHIA label images, as one normalised BDD100K JSON file"


def add_arguments(parser):
    sub = parser.add_subparsers(dest="dataset", metavar="DATASET", required=True)
    bdd = sub.add_parser("bdd100k", help="BDD100K legacy or det_20 detection labels")
    bdd.add_argument("--labels", required=True, help="bdd100k_labels_images_{train,val}.json or det_{train,val}.json")
    bdd.add_argument("--out", required=True, help="normalised label file to write")
    bdd.add_argument(
        "--label-format",
        "--format",
        dest="label_format",
        choices=["legacy", "det20"],
        default="legacy",
        help="label release: legacy (category 'person') or det20 ('pedestrian')",
    )
    bdd.add_argument("--include-rider", action="store_true", help="count riders as persons")
    bdd.add_argument("--include-other-person", action="store_true", help="count det_20 'other person' as persons")
    bdd.add_argument("--images", help="image folder; frames whose image is missing there are dropped")

    syn = sub.add_parser("synthia", help="SYNTHIA label images (or a hand-made box file)")
    syn.add_argument("--root", required=True, help="release folder holding RGB/ and GT/LABELS/ (or GTTXT/)")
    syn.add_argument("--out", required=True, help="normalised label file to write")
    syn.add_argument(
        "--release",
        choices=["RAND-CITYSCAPES", "SEQS", "RAND-CVPR16"],
        default="RAND-CITYSCAPES",
        help="RAND-CITYSCAPES/SEQS: boxes per instance id; RAND-CVPR16: per connected component",
    )
    syn.add_argument("--boxes", help="hand-made person boxes in BDD100K JSON; replaces the label images")
    syn.add_argument(
        "--min-box-area",
        type=float,
        default=100,
        help="drop boxes derived from label images smaller than this many pixels",
    )
    syn.add_argument("--workers", type=int, default=1, help="processes decoding label images")


def run(args) -> int:
    import sys

    from cycleaug.labels import write_frames

    if args.dataset == "bdd100k":
        from cycleaug.data.bdd100k import read_bdd100k

        frames = read_bdd100k(
            args.labels, args.label_format, args.include_rider, args.include_other_person, args.images
        )
    else:
        from cycleaug.data.synthia import synthia_frames

        frames = synthia_frames(args.root, args.release, args.boxes, args.min_box_area, max(1, args.workers))
    write_frames(args.out, frames)
    n_boxes = sum(len(f.boxes) for f in frames)
    n_with = sum(1 for f in frames if f.boxes)
    print(
        f"boxes {args.dataset}: {len(frames)} frames, {n_with} with persons, {n_boxes} person boxes -> {args.out}",
        file=sys.stderr,
    )
    return 0
