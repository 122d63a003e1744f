"""`cycleaug select-detector-sets`: the images every detector condition trains and is evaluated on.

    cycleaug select-detector-sets --bdd-labels data/labels/bdd100k_train.json \\
        --bdd-images data/raw/bdd100k/images/100k/train \\
        --synthia-labels data/labels/synthia.json --synthia-images data/raw/synthia/RGB \\
        --val-labels data/labels/bdd100k_val.json --val-images data/raw/bdd100k/images/100k/val \\
        --n-real 500 --n-synthetic 1017 --seed 0 --out results/detector/sets

Writes ``real.json`` (n_real BDD100K training frames with at least one person), ``synthetic.json``
(n_synthetic SYNTHIA frames with at least one person), ``val.json`` (the evaluation frames: all,
or --n-eval of them) and, with --n-heldout, ``heldout.json`` (that many further BDD100K train frames,
none of them in real.json: the second split on which the best checkpoint is scored again, to show how
much of Table 2's best mAP is selection; the verdict scores the conditions on it), in BDD100K JSON with
each frame's image size in its attributes. On demo data two more disjoint BDD100K-train splits:
``pretrain.json`` (--n-pretrain frames with a person: the pool the demo's backbone is pretrained on, the
miniature of darknet53.conv.74) and ``tune.json`` (--n-tune frames: where the fine-tuning budget was
chosen, scored by no condition).
"""

HELP = "choose the real, synthetic and validation images shared by every detector condition (Table 2)"


def add_arguments(parser):
    parser.add_argument("--bdd-labels", required=True, help="normalised BDD100K train labels (JSON)")
    parser.add_argument("--bdd-images", required=True, help="folder of the BDD100K train images")
    parser.add_argument("--synthia-labels", required=True, help="normalised SYNTHIA person labels (JSON)")
    parser.add_argument("--synthia-images", required=True, help="folder of the raw SYNTHIA RGB images")
    parser.add_argument("--val-labels", help="normalised BDD100K val labels (JSON); writes val.json")
    parser.add_argument("--val-images", help="folder of the BDD100K val images (checked with --val-labels)")
    parser.add_argument("--n-real", type=int, required=True, help="BDD100K training images (paper: 500)")
    parser.add_argument("--n-synthetic", type=int, required=True, help="SYNTHIA images (paper: 1,017)")
    parser.add_argument(
        "--n-eval",
        "--n-val",
        dest="n_eval",
        type=int,
        default=None,
        help="validation images, drawn with --seed (config detector.n_eval; default: all)",
    )
    parser.add_argument(
        "--n-heldout",
        type=int,
        default=None,
        help="BDD100K train images outside real.json for heldout.json (config detector.n_heldout; default none)",
    )
    parser.add_argument(
        "--n-pretrain",
        type=int,
        default=None,
        help="BDD100K train images with a person outside every other split, for pretrain.json "
        "(config detector.pretrain.n_images; default none)",
    )
    parser.add_argument(
        "--n-tune",
        type=int,
        default=None,
        help="BDD100K train images outside every other split, for tune.json (config detector.n_tune; default none)",
    )
    parser.add_argument("--seed", type=int, default=0, help="selection seed")
    parser.add_argument("--out", required=True, help="output folder for real.json, synthetic.json, val.json")


def run(args) -> int:
    from pathlib import Path

    from cycleaug.errors import CycleAugError
    from cycleaug.labels import PERSON, Frame, read_frames, write_frames
    from cycleaug.yolo.conditions import (
        STREAM_REAL,
        STREAM_SYNTHETIC,
        STREAM_TUNE,
        select,
        select_heldout,
        select_pretrain,
        select_val,
    )
    from cycleaug.yolo.data import checked_boxes

    checks = [("--n-real", args.n_real), ("--n-synthetic", args.n_synthetic), ("--n-eval", args.n_eval)]
    splits = [("--n-heldout", args.n_heldout), ("--n-pretrain", args.n_pretrain), ("--n-tune", args.n_tune)]
    for flag, value in [*checks, *splits]:
        if value is not None and value < 1:
            raise CycleAugError(f"{flag} {value}: must be at least 1")
    if (args.val_labels is None) != (args.val_images is None):
        raise CycleAugError("--val-labels and --val-images go together")

    def with_size(frames, labels, images):
        out = []
        for f in frames:
            _, w, h = checked_boxes(f, Path(images) / f.name, labels)
            out.append(Frame(f.name, f.boxes, {**f.attributes, "width": w, "height": h}))
        return out

    bdd = read_frames(args.bdd_labels, categories={PERSON})
    real = select(bdd, args.n_real, args.seed, f"{args.bdd_labels}", STREAM_REAL)
    synthetic = select(
        read_frames(args.synthia_labels, categories={PERSON}),
        args.n_synthetic,
        args.seed,
        f"{args.synthia_labels}",
        STREAM_SYNTHETIC,
    )
    out = Path(args.out)
    sets = {
        "real.json": with_size(real, args.bdd_labels, args.bdd_images),
        "synthetic.json": with_size(synthetic, args.synthia_labels, args.synthia_images),
    }
    taken = list(real)
    if args.n_heldout:
        heldout = select_heldout(bdd, taken, args.n_heldout, args.seed)
        sets["heldout.json"] = with_size(heldout, args.bdd_labels, args.bdd_images)
        taken += heldout
    if args.n_tune:  # before the pretraining pool, which takes only images with a person
        tune = select_heldout(bdd, taken, args.n_tune, args.seed, STREAM_TUNE, "--n-tune")
        sets["tune.json"] = with_size(tune, args.bdd_labels, args.bdd_images)
        taken += tune
    if args.n_pretrain:
        pretrain = select_pretrain(bdd, taken, args.n_pretrain, args.seed)
        sets["pretrain.json"] = with_size(pretrain, args.bdd_labels, args.bdd_images)
    if args.val_labels:
        val = select_val(read_frames(args.val_labels, categories={PERSON}), args.n_eval, args.seed)
        sets["val.json"] = with_size(val, args.val_labels, args.val_images)
    for name, frames in sets.items():
        write_frames(out / name, frames)
        print(f"{out / name}: {len(frames)} images, {sum(len(f.boxes) for f in frames)} person boxes")
    return 0
