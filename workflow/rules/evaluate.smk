# Evaluation stage: Table 2 from every condition's best checkpoint (darknet `detector map` figures,
# evaluated during training on the BDD100K validation images, see detect.smk), as CSV, Markdown and
# LaTeX; at paper scale (figures.paper_reference) beside the paper's numbers with the difference.
from cycleaug.yolo.table2 import findings_param as table2_findings_from_metrics


rule table2:
    input:
        metrics=yolo_args.metrics_files(config),
    output:
        csv=report(
            f"{RESULTS}/tables/table2.csv",
            caption="../report/table2.rst",
            category="Table 2",
            labels={"table": "Table 2 detection", "format": "CSV"},
        ),
        md=report(
            f"{RESULTS}/tables/table2.md",
            caption="../report/table2.rst",
            category="Table 2",
            labels={"table": "Table 2 detection", "format": "Markdown"},
        ),
        tex=f"{RESULTS}/tables/table2.tex",
    log:
        "logs/evaluate/table2.log",
    benchmark:
        "benchmarks/evaluate/table2.tsv"
    localrule: True
    conda:
        "../../envs/cycleaug.yaml"
    params:
        options=yolo_args.table2_options(config),
        findings=table2_findings_from_metrics,
    shell:
        'cycleaug table2 {params.options} --out-dir "$(dirname {output.csv})" > {log} 2>&1'
