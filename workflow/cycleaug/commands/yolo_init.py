"""`cycleaug yolo-init`: a darknet .weights file with darknet's random initialisation for a cfg."""

HELP = "write darknet .weights with darknet random initialisation for a cfg (demo, tests)"


def add_arguments(parser) -> None:
    parser.add_argument("--cfg", required=True, help="darknet .cfg: a path or a shipped name")
    parser.add_argument("--out", required=True, help=".weights file to write")
    parser.add_argument("--seed", type=int, default=0, help="random seed")


def run(args) -> int:
    import torch

    from cycleaug.yolo.cfg import load_cfg
    from cycleaug.yolo.model import Darknet, init_darknet_
    from cycleaug.yolo.weights import save_darknet_weights, weights_nbytes

    cfg = load_cfg(args.cfg)
    model = init_darknet_(Darknet(cfg), torch.Generator().manual_seed(args.seed))
    save_darknet_weights(model, args.out)
    print(f"yolo-init: {cfg.path} -> {args.out} ({weights_nbytes(cfg):,} bytes)")
    return 0
