"""`cycleaug table2`: the paper's Table 2 from each condition's ``metrics.json`` (``cycleaug train-yolo``).

    cycleaug table2 --metrics a_bdd=results/detector/a_bdd/metrics.json \\
        --metrics b_bdd_cg=results/detector/b_bdd_cg/metrics.json ... --out-dir results/tables [--paper-scale]

Writes ``table2.csv``, ``table2.md`` and ``table2.tex``, one row per condition in the order given.
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
    parser.add_argument("--out-dir", required=True, help="folder for table2.csv, table2.md, table2.tex")
    parser.add_argument(
        "--paper-scale",
        action="store_true",
        help="add the paper's numbers and our difference to each figure (full-scale runs only)",
    )


def run(args) -> int:
    from cycleaug.errors import CycleAugError
    from cycleaug.yolo.table2 import read_row, write_table2

    rows, seen = [], set()
    for spec in args.metrics:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            raise CycleAugError(f"--metrics {spec!r}: expected CONDITION=metrics.json")
        if name in seen:
            raise CycleAugError(f"--metrics {spec!r}: condition {name} given twice")
        seen.add(name)
        rows.append(read_row(name, path))
    for path in write_table2(rows, args.out_dir, args.paper_scale):
        print(f"table2: {path}")
    return 0
