"""`cycleaug train-yolo`: fine-tune a darknet-cfg YOLOv3 person detector with darknet's recipe.

    cycleaug train-yolo --cfg yolov3-person-608.cfg \\
        --train results/detector/sets/real.json:data/raw/bdd100k/images/100k/train \\
        --val-labels results/detector/sets/val.json --val-images data/raw/bdd100k/images/100k/val \\
        --pretrained downloads/darknet53.conv.74 --out results/detector/a_bdd

See ``cycleaug.yolo.train`` for what it does and writes.
"""

HELP = "fine-tune YOLOv3 as darknet does (cfg hyper-parameters, augmentation, yolo loss), keep best mAP@0.50"


def add_arguments(parser) -> None:
    parser.add_argument(
        "--cfg",
        required=True,
        help="darknet .cfg: a path or a shipped name; [net] and [yolo] "
        "give batch, subdivisions, lr policy, momentum, decay, augmentation, anchors, thresholds",
    )
    parser.add_argument(
        "--train",
        action="append",
        required=True,
        metavar="LABELS.json:IMAGES_DIR",
        help="training frames (BDD100K JSON) and their image folder; repeat to add sets",
    )
    parser.add_argument("--val-labels", required=True, help="validation frames (BDD100K JSON)")
    parser.add_argument("--val-images", required=True, help="folder of the validation images")
    parser.add_argument("--out", required=True, help="output folder (resumes from OUT/last.pt when present)")
    from cycleaug.options import add_options
    from cycleaug.yolo.settings import TrainConfig

    add_options(parser, TrainConfig)


def run(args) -> int:
    from cycleaug.errors import CycleAugError
    from cycleaug.options import from_args
    from cycleaug.yolo.data import parse_set_spec
    from cycleaug.yolo.settings import TrainConfig
    from cycleaug.yolo.train import train

    # The bounds of each option are checked by train() (declared on the settings' fields).
    if (args.heldout_labels is None) != (args.heldout_images is None):
        raise CycleAugError("--heldout-labels and --heldout-images go together")
    tc = from_args(
        TrainConfig,
        args,
        cfg=args.cfg,
        train=[parse_set_spec(s) for s in args.train],
        val_labels=args.val_labels,
        val_images=args.val_images,
        out=args.out,
    )
    return train(tc)
