"""`cycleaug yolo-partial`: the first layers of a darknet .weights file, as darknet's ``partial`` writes them.

    cycleaug yolo-partial --cfg yolov3-person-demo.cfg --weights results/detector/pretrain/last.weights \\
        --layers 10 --out results/detector/pretrain/backbone.conv.10

darknet's ``./darknet partial cfg weights out N`` (src/darknet.c, ``partial``) loads a network and saves
only layers 0..N-1: that is how ``darknet53.conv.74`` was cut from the ImageNet-trained Darknet-53.
The demo uses it the same way on a detector pretrained on a disjoint pool of BDD-like images, so every
Table 2 condition fine-tunes from a backbone rather than from random weights, as the paper's do.
``train-yolo --pretrained`` then loads the file's layers (found by its size) and initialises the rest.
"""

HELP = "write the first N layers of darknet .weights (darknet's partial), e.g. a pretrained backbone"


def add_arguments(parser) -> None:
    parser.add_argument("--cfg", required=True, help="darknet .cfg the weights belong to: a path or a shipped name")
    parser.add_argument("--weights", required=True, help="darknet .weights or a train-yolo checkpoint (.pt)")
    parser.add_argument("--layers", type=int, required=True, help="keep layers 0..N-1 (darknet53.conv.74: 75)")
    parser.add_argument("--out", required=True, help=".weights file to write")


def run(args) -> int:
    from cycleaug.errors import CycleAugError
    from cycleaug.yolo.cfg import load_cfg
    from cycleaug.yolo.model import Darknet
    from cycleaug.yolo.weights import load_weights, read_header, save_darknet_weights, weights_nbytes

    cfg = load_cfg(args.cfg)
    if not 1 <= args.layers < len(cfg.layers):
        raise CycleAugError(
            f"--layers {args.layers}: {cfg.path} has {len(cfg.layers)} layers; expected 1..{len(cfg.layers) - 1}"
        )
    model = Darknet(cfg)
    kind = load_weights(model, args.weights)
    seen = read_header(args.weights).seen if kind == "darknet" else 0
    save_darknet_weights(model, args.out, seen=seen, cutoff=args.layers)
    print(
        f"yolo-partial: layers 0-{args.layers - 1} of {args.weights} -> {args.out} "
        f"({weights_nbytes(cfg, args.layers):,} bytes)"
    )
    return 0
