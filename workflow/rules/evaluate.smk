# Evaluation stage: Table 2 from every condition's best checkpoint (darknet `detector map` figures,
# evaluated during training on the BDD100K validation images, see detect.smk), as CSV, Markdown and
# LaTeX; at paper scale (figures.paper_reference) beside the paper's numbers with the difference.
# Paths and options: cycleaug/glue/evaluate.py.
from cycleaug.glue import evaluate as glue, common
from cycleaug.yolo.table2 import findings_param


rule table2:
    input:
        metrics=common.metrics_files(config),
        predictions=glue.prediction_files(config),
    output:
        csv=report(
            glue.table2_outputs(config)["csv"],
            caption="../report/table2.rst",
            category="Table 2",
            labels={"table": "Table 2 detection", "format": "CSV"},
        ),
        md=report(
            glue.table2_outputs(config)["md"],
            caption="../report/table2.rst",
            category="Table 2",
            labels={"table": "Table 2 detection", "format": "Markdown"},
        ),
        tex=glue.table2_outputs(config)["tex"],
        contrasts=glue.table2_outputs(config)["contrasts"],
    log:
        "logs/evaluate/table2.log",
    benchmark:
        "benchmarks/evaluate/table2.tsv"
    localrule: True
    params:
        options=glue.table2_options(config),
        findings=findings_param,
    shell:
        'cycleaug table2 {params.options} --out-dir "$(dirname {output.csv:q})" > {log:q} 2>&1'
