# figures stage: the paper's Figs. 4-6 and Table 2 as PNG + PDF, each its own target, so that
#   snakemake results/figures/fig6_fid.pdf --forcerun fig6_fid
# redraws one figure from the data already there. Every figure goes into the HTML report
# (`snakemake --report results/report.html`, run by `make demo` at the end) with a caption that gives
# the paper's result and this run's (workflow/report/*.rst).
from cycleaug.figures.captions import (
    fig4_findings,
    fig6_findings,
    model_option,
    paper_reference_option,
    samples_root,
    scaling_model_wanted,
    table2_findings,
)

FIGURE_NAMES = ["fig4_scaling", "fig5_samples", "fig6_fid", "table2"]
FIGURE_TARGETS = expand(
    f"{RESULTS}/figures/{{name}}.{{ext}}", name=FIGURE_NAMES, ext=["png", "pdf"]
)
# Fig. 4's model curve (cycleaug.scaling_model): speed-ups relative to one 4-GPU node, so it is drawn
# when the smallest GPU count is 4, as in the paper.
SCALING_MODEL = f"{RESULTS}/scaling/model.csv"


localrules:
    figures,
    scaling_model,
    fig4_scaling,
    fig5_samples,
    fig6_fid,
    table2_figure,


rule figures:
    input:
        FIGURE_TARGETS,


rule scaling_model:
    output:
        SCALING_MODEL,
    log:
        "logs/figures/scaling_model.log",
    benchmark:
        "benchmarks/figures/scaling_model.tsv"
    conda:
        "../../envs/cycleaug.yaml"
    shell:
        "cycleaug scaling-model --out {output:q} > {log:q} 2>&1"


rule fig4_scaling:
    input:
        logs=expand(f"{RESULTS}/cyclegan/{{gpus}}gpu/train_log.jsonl", gpus=GPU_COUNTS),
        model=[SCALING_MODEL] if scaling_model_wanted(GPU_COUNTS) else [],
    output:
        png=report(
            f"{RESULTS}/figures/fig4_scaling.png",
            caption="../report/fig4.rst",
            category="Figures",
            labels={"figure": "Fig. 4 scalability", "format": "PNG"},
        ),
        pdf=report(
            f"{RESULTS}/figures/fig4_scaling.pdf",
            caption="../report/fig4.rst",
            category="Figures",
            labels={"figure": "Fig. 4 scalability", "format": "PDF"},
        ),
    log:
        "logs/figures/fig4_scaling.log",
    benchmark:
        "benchmarks/figures/fig4_scaling.tsv"
    conda:
        "../../envs/cycleaug.yaml"
    params:
        model=model_option,
        paper=paper_reference_option(config),
        findings=fig4_findings,
    shell:
        "cycleaug figure fig4 --logs {input.logs:q} {params.model} {params.paper}"
        " --out {output.png:q} 2> {log:q}"


rule fig5_samples:
    input:
        samples=expand(
            f"{RESULTS}/samples/{{gpus}}gpu/epoch{{epoch}}",
            gpus=GPU_COUNTS,
            epoch=config["generate"]["sample_epochs"],
        ),
        inputs=f"{DATA}/crops/synthia_heldout",
    output:
        png=report(
            f"{RESULTS}/figures/fig5_samples.png",
            caption="../report/fig5.rst",
            category="Figures",
            labels={"figure": "Fig. 5 samples", "format": "PNG"},
        ),
        pdf=report(
            f"{RESULTS}/figures/fig5_samples.pdf",
            caption="../report/fig5.rst",
            category="Figures",
            labels={"figure": "Fig. 5 samples", "format": "PDF"},
        ),
    log:
        "logs/figures/fig5_samples.log",
    benchmark:
        "benchmarks/figures/fig5_samples.tsv"
    conda:
        "../../envs/cycleaug.yaml"
    params:
        root=samples_root,
        gpus=GPU_COUNTS,
        epochs=config["generate"]["sample_epochs"],
        n_inputs=config["generate"]["n_samples"],
    shell:
        "cycleaug figure fig5 --samples-root {params.root:q} --gpus {params.gpus}"
        " --epochs {params.epochs} --inputs-dir {input.inputs:q} --n-inputs {params.n_inputs}"
        " --out {output.png:q} 2> {log:q}"


rule fig6_fid:
    input:
        fid=f"{RESULTS}/fid/fid.csv",
    output:
        png=report(
            f"{RESULTS}/figures/fig6_fid.png",
            caption="../report/fig6.rst",
            category="Figures",
            labels={"figure": "Fig. 6 FID", "format": "PNG"},
        ),
        pdf=report(
            f"{RESULTS}/figures/fig6_fid.pdf",
            caption="../report/fig6.rst",
            category="Figures",
            labels={"figure": "Fig. 6 FID", "format": "PDF"},
        ),
    log:
        "logs/figures/fig6_fid.log",
    benchmark:
        "benchmarks/figures/fig6_fid.tsv"
    conda:
        "../../envs/cycleaug.yaml"
    params:
        paper=paper_reference_option(config),
        findings=fig6_findings,
    shell:
        "cycleaug figure fig6 --fid {input.fid:q} {params.paper} --out {output.png:q} 2> {log:q}"


rule table2_figure:
    input:
        table=f"{RESULTS}/tables/table2.csv",
    output:
        png=report(
            f"{RESULTS}/figures/table2.png",
            caption="../report/table2.rst",
            category="Figures",
            labels={"figure": "Table 2 detection", "format": "PNG"},
        ),
        pdf=report(
            f"{RESULTS}/figures/table2.pdf",
            caption="../report/table2.rst",
            category="Figures",
            labels={"figure": "Table 2 detection", "format": "PDF"},
        ),
    log:
        "logs/figures/table2.log",
    benchmark:
        "benchmarks/figures/table2.tsv"
    conda:
        "../../envs/cycleaug.yaml"
    params:
        findings=table2_findings,
    shell:
        "cycleaug figure table2 --table {input.table:q} --out {output.png:q} 2> {log:q}"
