"""`cycleaug detect`: run a darknet-cfg YOLOv3 on images, write BDD100K/Scalabel prediction frames."""

HELP = "detect persons with a darknet-cfg YOLOv3, write BDD100K prediction JSON (darknet detector-map settings)"


def add_arguments(parser) -> None:
    parser.add_argument(
        "--cfg", required=True, help="darknet .cfg: a path or a shipped name (e.g. yolov3-person-608.cfg)"
    )
    parser.add_argument(
        "--weights",
        required=True,
        help="darknet .weights, or a PyTorch checkpoint of ours (state dict or {'model': ...})",
    )
    parser.add_argument("--images", required=True, help="image directory, or a text file with one image path per line")
    parser.add_argument("--out", required=True, help="prediction JSON to write (list of frames)")
    parser.add_argument(
        "--img-size",
        type=int,
        default=None,
        help="square network input size, a multiple of 32 (default: width/height of the cfg)",
    )
    parser.add_argument(
        "--conf-thresh",
        type=float,
        default=0.005,
        help="keep boxes with objectness and score above this (darknet detector map: 0.005)",
    )
    parser.add_argument(
        "--nms", type=float, default=0.45, help="per-class NMS: suppress IoU above this (darknet: 0.45)"
    )
    parser.add_argument("--batch-size", type=int, default=8, help="images per forward pass")
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:N")
    parser.add_argument("--workers", type=int, default=0, help="image-decoding worker processes")
    parser.add_argument(
        "--categories",
        default=None,
        help="comma-separated category name per class (default: pedestrian for a 1-class cfg)",
    )


def run(args) -> int:
    from cycleaug.errors import CycleAugError

    if args.batch_size < 1:
        raise CycleAugError(f"--batch-size {args.batch_size}: expected a positive integer")
    if args.img_size is not None and (args.img_size < 32 or args.img_size % 32):
        raise CycleAugError(f"--img-size {args.img_size}: expected a positive multiple of 32")

    from cycleaug.labels import write_frames
    from cycleaug.runtime import resolve_device
    from cycleaug.yolo.detect import build_model, detect_images, list_images

    device = resolve_device(args.device)
    model = build_model(args.cfg, args.weights, device)
    paths = list_images(args.images)
    categories = args.categories.split(",") if args.categories else None
    frames = detect_images(
        model, paths, args.img_size, args.conf_thresh, args.nms, args.batch_size, args.workers, categories
    )
    write_frames(args.out, frames)
    n = sum(len(f.boxes) for f in frames)
    print(f"detect: {len(frames)} images, {n} boxes -> {args.out}")
    return 0
