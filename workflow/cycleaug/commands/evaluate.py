"""`cycleaug evaluate`: darknet's `detector map` figures (TP, FP, FN, precision, recall, F1, average IoU, AP, mAP)."""

HELP = (
    "darknet `detector map` figures (TP, FP, FN, P, R, F1, avg IoU, mAP) of BDD100K predictions, as JSON + PR-curve CSV"
)


def add_arguments(parser) -> None:
    parser.add_argument("--gt", required=True, help="ground-truth BDD100K label JSON (defines the image set)")
    parser.add_argument(
        "--pred", required=True, help="prediction JSON (frames with scored labels, e.g. from cycleaug detect)"
    )
    parser.add_argument(
        "--conf-thresh",
        type=float,
        default=0.25,
        help="score threshold for TP/FP/FN, precision, recall, F1, average IoU (darknet: 0.25)",
    )
    parser.add_argument("--iou-thresh", type=float, default=0.5, help="a match needs IoU strictly above this (0.5)")
    parser.add_argument("--out", default=None, help="write the figures as JSON here (keys: see cycleaug.yolo.evaluate)")
    parser.add_argument("--pr-curve", default=None, help="write the precision-recall curve as CSV here")
    parser.add_argument(
        "--categories",
        default="pedestrian",
        help="comma-separated categories, one per class, in class order (default: pedestrian)",
    )
    parser.add_argument(
        "--legacy-ap",
        action="store_true",
        help="AP as darknet before July 2020 (PR #6151): no area between recall 0 and the first detection",
    )


def run(args) -> int:
    from cycleaug.yolo.evaluate import run_evaluation

    run_evaluation(
        args.gt,
        args.pred,
        args.categories.split(","),
        args.conf_thresh,
        args.iou_thresh,
        legacy_ap=args.legacy_ap,
        out_json=args.out,
        pr_csv=args.pr_curve,
    )
    return 0
