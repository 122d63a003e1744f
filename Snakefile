# CycleAug: the study of Nishikawa, Sato and Ozawa (FACTS.md) as one workflow.
#
#   Step 1  data      BDD100K (real) and SYNTHIA (CG) -> person boxes -> 256 px person-centred crops
#           cyclegan  CycleGAN CG -> real, one distributed run per GPU count (Fig. 4)
#           generate  translated SYNTHIA sets, samples (Fig. 5) and FID per epoch (Fig. 6)
#   Step 2  detect    YOLOv3 person detector fine-tuned per condition (a)-(g)
#           evaluate  darknet `detector map` figures -> Table 2
#           figures   Figs. 4-6, Table 2 and the HTML report
#   Beyond  ablation  learning-rate scaling vs GPU count (`snakemake ablation_lr`, not part of `all`)
from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/acquire.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/cyclegan.smk"
include: "workflow/rules/generate.smk"
include: "workflow/rules/detect.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/ablation.smk"


rule all:
    default_target: True
    input:
        glue_common.all_outputs(config),


# Named targets, one per stage: `snakemake data`, `snakemake cyclegan`, ... (`fid`, `generate` and
# `figures` are rules of their stages).
rule data:
    input:
        glue_common.data_targets(config),


rule cyclegan:
    input:
        glue_common.cyclegan_targets(config),


rule detection:
    input:
        glue_common.detection_targets(config),


# The paper in one page: every figure and table with its caption (same as `snakemake --report`).
rule report:
    input:
        glue_common.all_outputs(config),
    output:
        f"{RESULTS}/report.html",
    log:
        "logs/report.log",
    localrule: True
    params:
        snakefile=workflow.main_snakefile,
        configfiles=report_configfiles(),
    shell:
        "snakemake -s {params.snakefile:q} --nolock --cores 1 --report {output:q} "
        "--configfiles {params.configfiles} > {log:q} 2>&1"
