"""`cycleaug table2`: the paper's Table 2 from each condition's ``metrics.json`` (``cycleaug train-yolo``).

    cycleaug table2 --metrics a_bdd=results/detector/a_bdd/metrics.json \\
        --metrics b_bdd_cg=results/detector/b_bdd_cg/metrics.json ... --out-dir results/tables [--paper-scale]

Writes ``table2.csv``, ``table2.md`` and ``table2.tex``, one row per condition in the order given; with
``--heldout-predictions`` (every seed's run of every condition) also ``contrasts.csv``, the comparisons
the verdict judges claim 2 by (cycleaug.yolo.contrasts).
"""

HELP = "write Table 2 (TP, FP, FN, precision, recall, F1, mAP@0.50 per condition) as CSV, Markdown, LaTeX"


def add_arguments(parser) -> None:
    parser.add_argument(
        "--metrics",
        action="append",
        required=True,
        metavar="CONDITION=metrics.json",
        help="a condition (a_bdd, b_bdd_cg, c_gen4gpu, ...) and its metrics.json; repeat per row",
    )
    parser.add_argument(
        "--predictions",
        action="append",
        default=[],
        metavar="CONDITION=val_predictions.json",
        help="a condition's best-checkpoint detections on the val images (train-yolo writes them): with "
        "--val-labels, 95%% bootstrap intervals of mAP and of the paired differences to conditions (a) and (b)",
    )
    parser.add_argument(
        "--seed-metrics",
        action="append",
        default=[],
        metavar="CONDITION=metrics.json",
        help="the metrics.json of a repeat of a condition with another seed (detector.seeds): adds the "
        "mean, standard deviation and range of mAP@0.50 over the condition's runs; repeat per run",
    )
    parser.add_argument(
        "--heldout-predictions",
        action="append",
        default=[],
        metavar="CONDITION=heldout_predictions.json",
        help="a condition's best-checkpoint detections on the held-out split, once per seed in seed order: "
        "with --heldout-labels, each condition's held-out mAP (mean and sd over seeds, two-level bootstrap "
        "interval over seeds and images) and contrasts.csv, the claim-2 comparisons (cycleaug.yolo.contrasts)",
    )
    parser.add_argument("--heldout-labels", default=None, help="the held-out split's labels (heldout.json)")
    parser.add_argument("--val-labels", default=None, help="the val images' labels the predictions were scored on")
    parser.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples of the val images")
    parser.add_argument("--out-dir", required=True, help="folder for table2.csv, table2.md, table2.tex")
    parser.add_argument(
        "--paper-scale",
        action="store_true",
        help="add the paper's numbers and our difference to each figure (full-scale runs only)",
    )


def run(args) -> int:
    from cycleaug.errors import CycleAugError
    from cycleaug.yolo.table2 import REFERENCE_LETTERS, read_row, write_table2

    rows, seen = [], set()
    for spec in args.metrics:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            raise CycleAugError(f"--metrics {spec!r}: expected CONDITION=metrics.json")
        if name in seen:
            raise CycleAugError(f"--metrics {spec!r}: condition {name} given twice")
        seen.add(name)
        rows.append(read_row(name, path))
    by_name = {r.condition.name: r for r in rows}
    for spec in args.seed_metrics:
        name, sep, path = spec.partition("=")
        if not sep or name not in by_name:
            raise CycleAugError(
                f"--seed-metrics {spec!r}: expected CONDITION=metrics.json for a condition of --metrics"
            )
        by_name[name].seed_map50.append(read_row(name, path).values["mAP50"])
    if args.predictions:
        if not args.val_labels:
            raise CycleAugError("--predictions: needs --val-labels (the images they are scored on)")
        if args.resamples < 100:
            raise CycleAugError(f"--resamples {args.resamples}: expected at least 100 for a 95% interval")
        from cycleaug.labels import PERSON, read_frames
        from cycleaug.yolo.bootstrap import bootstrap_table

        preds = {}
        for spec in args.predictions:
            name, sep, path = spec.partition("=")
            if not sep or name not in seen:
                raise CycleAugError(f"--predictions {spec!r}: expected CONDITION=file for a condition of --metrics")
            preds[name] = read_frames(path)
        missing = seen - preds.keys()
        if missing:
            raise CycleAugError(f"--predictions: none for {', '.join(sorted(missing))}")
        gt = read_frames(args.val_labels, categories={PERSON})
        # The paper's comparisons: everything against BDD alone (a), the generated sets against raw CG (b).
        references = [r.condition.name for r in rows if r.condition.letter in REFERENCE_LETTERS]
        table = bootstrap_table(gt, preds, references=references, n=args.resamples)
        for row in rows:
            row.bootstrap = table[row.condition.name]
        print(
            f"table2: {args.resamples} bootstrap resamples of {len(gt)} val images, "
            f"differences to {', '.join(references)}"
        )
    if args.heldout_predictions:
        _heldout(args, rows, seen)
    for path in write_table2(rows, args.out_dir, args.paper_scale):
        print(f"table2: {path}")
    return 0


def _heldout(args, rows, seen) -> None:
    """Held-out mAP over seeds per row, and contrasts.csv (cycleaug.yolo.contrasts)."""
    from pathlib import Path

    import numpy as np

    from cycleaug.errors import CycleAugError
    from cycleaug.labels import PERSON, read_frames
    from cycleaug.yolo.bootstrap import interval, pool, weighted_ap
    from cycleaug.yolo.contrasts import condition_values, contrasts, write_contrasts

    if not args.heldout_labels:
        raise CycleAugError("--heldout-predictions: needs --heldout-labels (the images they are scored on)")
    preds: dict[str, list] = {}
    for spec in args.heldout_predictions:
        name, sep, path = spec.partition("=")
        if not sep or name not in seen:
            raise CycleAugError(f"--heldout-predictions {spec!r}: expected CONDITION=file for a condition of --metrics")
        preds.setdefault(name, []).append(read_frames(path))
    missing = seen - preds.keys()
    if missing:
        raise CycleAugError(f"--heldout-predictions: none for {', '.join(sorted(missing))}")
    gt = read_frames(args.heldout_labels, categories={PERSON})
    plain, resampled, n_seeds = condition_values(gt, preds, n=args.resamples)
    ones = np.ones(len(gt), dtype=np.int64)
    for row in rows:
        name = row.condition.name
        per_seed = [100 * weighted_ap(pool(gt, frames), ones) for frames in preds[name]]
        lo, hi = interval(resampled[name])
        row.heldout = {"mean": 100 * plain[name], "per_seed": per_seed, "ci": (100 * lo, 100 * hi)}
    items = contrasts([r.condition for r in rows], plain, resampled)
    out = Path(args.out_dir) / "contrasts.csv"
    write_contrasts(out, items, n_seeds)
    print(f"table2: held-out split: {len(gt)} images x {n_seeds} seeds, {args.resamples} two-level resamples; {out}")
