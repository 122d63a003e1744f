# CycleAug: the study of Nishikawa, Sato and Ozawa (FACTS.md) as one workflow.
#
#   Step 1  data      BDD100K (real) and SYNTHIA (CG) -> person boxes -> 256 px person-centred crops
#           cyclegan  CycleGAN CG -> real, one distributed run per GPU count (Fig. 4)
#           generate  translated SYNTHIA sets, samples (Fig. 5) and FID per epoch (Fig. 6)
#   Step 2  detect    YOLOv3 person detector fine-tuned per condition (a)-(g)
#           evaluate  darknet `detector map` figures -> Table 2
#           figures   Figs. 4-6, Table 2 and the HTML report
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


rule all:
    input:
        all_outputs(),
    default_target: True
