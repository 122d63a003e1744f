# Data stage (paper Step 1): raw data sets -> normalised person boxes -> person-centred crops.
# The raw layout under {DATA}/raw is the real releases' (bdd100k/images/100k/{train,val},
# bdd100k/labels/..., synthia/RGB, synthia/GT/LABELS); it comes from demo_data below
# (data.source: demo) or from the fetch_* rules of acquire.smk (data.source: real).
# Options are built from the config by cycleaug/data/rule_args.py.
from cycleaug.data import rule_args

if config["data"]["source"] == "demo":

    rule demo_data:
        output:
            images=directory(f"{DATA}/raw/bdd100k/images"),
            legacy=expand(
                rule_args.raw_bdd100k_labels(DATA, "legacy", "{split}"),
                split=["train", "val"],
            ),
            det20=expand(
                rule_args.raw_bdd100k_labels(DATA, "det20", "{split}"),
                split=["train", "val"],
            ),
            synthia=directory(f"{DATA}/raw/synthia"),
        log:
            "logs/data/demo_data.log",
        benchmark:
            "benchmarks/data/demo_data.tsv"
        conda:
            "../../envs/cycleaug.yaml"
        threads: config["crop"]["workers"]
        params:
            args=rule_args.demo_data_args(config),
        shell:
            'cycleaug demo-data --out "$(dirname {output.synthia})" {params.args} '
            "--workers {threads} > {log} 2>&1"


rule boxes_bdd100k:
    input:
        labels=rule_args.bdd100k_label_file(config, DATA, "{split}"),
        images=f"{DATA}/raw/bdd100k/images",
    output:
        f"{DATA}/labels/bdd100k_{{split}}.json",
    log:
        "logs/data/boxes_bdd100k_{split}.log",
    benchmark:
        "benchmarks/data/boxes_bdd100k_{split}.tsv"
    conda:
        "../../envs/cycleaug.yaml"
    params:
        args=rule_args.bdd100k_box_args(config),
    shell:
        "cycleaug boxes bdd100k --labels {input.labels} --images {input.images}/100k/{wildcards.split} "
        "--out {output} {params.args} > {log} 2>&1"


rule boxes_synthia:
    input:
        root=f"{DATA}/raw/synthia",
        boxes=rule_args.synthia_override(config),
    output:
        f"{DATA}/labels/synthia.json",
    log:
        "logs/data/boxes_synthia.log",
    benchmark:
        "benchmarks/data/boxes_synthia.tsv"
    conda:
        "../../envs/cycleaug.yaml"
    threads: config["crop"]["workers"]
    params:
        args=rule_args.synthia_box_args(config),
    shell:
        "cycleaug boxes synthia --root {input.root} --out {output} {params.args} "
        "--workers {threads} > {log} 2>&1"


# BDD crops come from the train split; val stays untouched for the detector's evaluation.
rule crop_bdd100k:
    input:
        labels=f"{DATA}/labels/bdd100k_train.json",
        images=f"{DATA}/raw/bdd100k/images",
    output:
        directory(f"{DATA}/crops/bdd100k"),
    log:
        "logs/data/crop_bdd100k.log",
    benchmark:
        "benchmarks/data/crop_bdd100k.tsv"
    conda:
        "../../envs/cycleaug.yaml"
    threads: config["crop"]["workers"]
    params:
        args=rule_args.crop_args(config, "bdd100k"),
    shell:
        "cycleaug crop --images {input.images}/100k/train --labels {input.labels} --out {output} "
        "{params.args} --workers {threads} > {log} 2>&1"


# SYNTHIA crops, with crop.n_heldout of them set aside (chosen with the seed) for the FID curve
# and the Fig. 5 samples, never seen by CycleGAN.
rule crop_synthia:
    input:
        labels=f"{DATA}/labels/synthia.json",
        root=f"{DATA}/raw/synthia",
    output:
        crops=directory(f"{DATA}/crops/synthia"),
        heldout=directory(f"{DATA}/crops/synthia_heldout"),
    log:
        "logs/data/crop_synthia.log",
    benchmark:
        "benchmarks/data/crop_synthia.tsv"
    conda:
        "../../envs/cycleaug.yaml"
    threads: config["crop"]["workers"]
    params:
        args=rule_args.crop_args(config, "synthia"),
    shell:
        "cycleaug crop --images {input.root}/RGB --labels {input.labels} --out {output.crops} "
        "--holdout-out {output.heldout} {params.args} --workers {threads} > {log} 2>&1"
