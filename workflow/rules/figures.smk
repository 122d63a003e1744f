# figures stage: the paper's Figs. 4-6 and Table 2 as PNG + PDF, each its own target, so that
#   snakemake results/figures/fig6_fid.pdf --forcerun fig6_fid
# redraws one figure from the data already there. Every figure goes into the HTML report
# (`snakemake --report results/report.html`, run by `make demo` at the end) with a caption that gives
# the paper's result and this run's (workflow/report/*.rst). Paths, options and findings:
# cycleaug/glue/figures.py.
from cycleaug.glue import figures as glue, common, paths


localrules:
    figures,
    verdict,
    scaling_model,
    fig4_scaling,
    fig5_samples,
    fig6_fid,
    table2_figure,


rule figures:
    input:
        common.figure_targets(config),


# Fig. 4's model curve (cycleaug.scaling_model): speed-ups relative to one 4-GPU node, so it is drawn
# when the smallest GPU count is 4, as in the paper.
rule scaling_model:
    output:
        paths.scaling_model_csv(config),
    log:
        "logs/figures/scaling_model.log",
    benchmark:
        "benchmarks/figures/scaling_model.tsv"
    params:
        backend=config["cyclegan"]["backend"],
        compression=config["cyclegan"]["compression"],
    shell:
        "cycleaug scaling-model --backend {params.backend} --compression {params.compression} "
        "--out {output:q} > {log:q} 2>&1"


rule fig4_scaling:
    input:
        logs=glue.train_logs(config),
        model=glue.scaling_model_inputs(config),
    output:
        **glue.figure_outputs(config, "fig4_scaling", "fig4.rst", "Fig. 4 scalability"),
    log:
        "logs/figures/fig4_scaling.log",
    benchmark:
        "benchmarks/figures/fig4_scaling.tsv"
    params:
        model=glue.model_option,
        paper=glue.paper_reference_option(config),
        findings=glue.fig4_findings,
    shell:
        "cycleaug figure fig4 --logs {input.logs:q} {params.model} {params.paper}"
        " --out {output.png:q} 2> {log:q}"


rule fig5_samples:
    input:
        samples=glue.fig5_sample_dirs(config),
        inputs=paths.crops(config, "synthia_heldout"),
        truth=glue.fig5_truth(config),
    output:
        **glue.figure_outputs(config, "fig5_samples", "fig5.rst", "Fig. 5 samples"),
    log:
        "logs/figures/fig5_samples.log",
    benchmark:
        "benchmarks/figures/fig5_samples.tsv"
    params:
        root=glue.samples_root,
        gpus=common.gpu_counts(config),
        epochs=config["generate"]["sample_epochs"],
        n_inputs=config["generate"]["n_samples"],
        truth=glue.truth_option,
    shell:
        "cycleaug figure fig5 --samples-root {params.root:q} --gpus {params.gpus}"
        " --epochs {params.epochs} --inputs-dir {input.inputs:q} --n-inputs {params.n_inputs} {params.truth}"
        " --out {output.png:q} 2> {log:q}"


rule fig6_fid:
    input:
        fid=paths.fid_csv(config),
        paired=common.paired_outputs(config),
    output:
        **glue.figure_outputs(config, "fig6_fid", "fig6.rst", "Fig. 6 FID"),
    log:
        "logs/figures/fig6_fid.log",
    benchmark:
        "benchmarks/figures/fig6_fid.tsv"
    params:
        paper=glue.paper_reference_option(config),
        findings=glue.fig6_findings,
        paired=glue.paired_option,
    shell:
        "cycleaug figure fig6 --fid {input.fid:q} {params.paired} {params.paper} --out {output.png:q} 2> {log:q}"


rule table2_figure:
    input:
        table=paths.table2_files(config)[0],
    output:
        **glue.figure_outputs(config, "table2", "table2.rst", "Table 2 detection"),
    log:
        "logs/figures/table2.log",
    benchmark:
        "benchmarks/figures/table2.tsv"
    params:
        findings=glue.table2_findings,
    shell:
        "cycleaug figure table2 --table {input.table:q} --out {output.png:q} 2> {log:q}"


# Claim by claim: does this run reproduce the paper? (cycleaug/verdict.py: the numbers, their intervals,
# and "reproduced", "not reproduced", "inconclusive" or "not testable here".)
rule verdict:
    input:
        logs=glue.train_logs(config),
        fid=paths.fid_csv(config),
        table=paths.table2_files(config)[0],
        contrasts=paths.contrasts(config),
        paired=common.paired_outputs(config),
    output:
        report(
            paths.verdict(config),
            caption="../report/verdict.rst",
            category="Verdict",
            labels={"verdict": "claim by claim"},
        ),
    log:
        "logs/figures/verdict.log",
    params:
        paired=glue.paired_option,
        summary=glue.verdict_summary,
    shell:
        "cycleaug verdict --logs {input.logs:q} --fid {input.fid:q} --table {input.table:q} {params.paired}"
        " --out {output:q} 2> {log:q}"
