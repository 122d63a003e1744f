# Data stage (paper Step 1): raw data sets -> normalised person boxes -> person-centred crops.
# The raw layout under {data_dir}/raw is the real releases' (bdd100k/images/100k/{train,val},
# bdd100k/labels/..., synthia/RGB, synthia/GT/LABELS); it comes from demo_data below
# (data.source: demo) or from the fetch_* rules of acquire.smk (data.source: real).
# Paths and options: cycleaug/glue/data.py.
from cycleaug.glue import data as glue, paths

if config["data"]["source"] == "demo":

    rule demo_data:
        output:
            images=directory(paths.bdd100k_images(config)),
            legacy=expand(
                paths.raw_bdd100k_labels(config, "legacy", "{split}"),
                split=["train", "val"],
            ),
            det20=expand(
                paths.raw_bdd100k_labels(config, "det20", "{split}"),
                split=["train", "val"],
            ),
            synthia=directory(paths.synthia_root(config)),
        log:
            "logs/data/demo_data.log",
        benchmark:
            "benchmarks/data/demo_data.tsv"
        threads: config["crop"]["workers"]
        params:
            options=glue.demo_data_options(config),
        shell:
            'cycleaug demo-data --out "$(dirname {output.synthia:q})" {params.options} '
            "--workers {threads} > {log:q} 2>&1"


rule boxes_bdd100k:
    input:
        labels=glue.bdd100k_label_file(config, "{split}"),
        images=paths.bdd100k_images(config),
    output:
        paths.labels(config, "bdd100k_{split}"),
    log:
        "logs/data/boxes_bdd100k_{split}.log",
    benchmark:
        "benchmarks/data/boxes_bdd100k_{split}.tsv"
    params:
        options=glue.bdd100k_box_options(config),
    shell:
        "cycleaug boxes bdd100k --labels {input.labels:q} --images {input.images:q}/100k/{wildcards.split} "
        "--out {output:q} {params.options} > {log:q} 2>&1"


rule boxes_synthia:
    input:
        root=paths.synthia_root(config),
        boxes=glue.synthia_override(config),
    output:
        paths.labels(config, "synthia"),
    log:
        "logs/data/boxes_synthia.log",
    benchmark:
        "benchmarks/data/boxes_synthia.tsv"
    threads: config["crop"]["workers"]
    params:
        options=glue.synthia_box_options(config),
    shell:
        "cycleaug boxes synthia --root {input.root:q} --out {output:q} {params.options} "
        "--workers {threads} > {log:q} 2>&1"


# BDD crops come from the train split; val stays untouched for the detector's evaluation.
rule crop_bdd100k:
    input:
        labels=paths.labels(config, "bdd100k_train"),
        images=paths.bdd100k_images(config),
    output:
        directory(paths.crops(config, "bdd100k")),
    log:
        "logs/data/crop_bdd100k.log",
    benchmark:
        "benchmarks/data/crop_bdd100k.tsv"
    # Seconds of work that everything after waits for: before the long jobs take the cores.
    priority: 3
    threads: config["crop"]["workers"]
    params:
        options=glue.crop_options(config, "bdd100k"),
    shell:
        "cycleaug crop --images {input.images:q}/100k/train --labels {input.labels:q} --out {output:q} "
        "{params.options} --workers {threads} > {log:q} 2>&1"


# SYNTHIA crops, with crop.n_heldout of them set aside (chosen with the seed) for the FID curve
# and the Fig. 5 samples, never seen by CycleGAN.
rule crop_synthia:
    input:
        labels=paths.labels(config, "synthia"),
        root=paths.synthia_root(config),
    output:
        crops=directory(paths.crops(config, "synthia")),
        heldout=directory(paths.crops(config, "synthia_heldout")),
    log:
        "logs/data/crop_synthia.log",
    benchmark:
        "benchmarks/data/crop_synthia.tsv"
    # Seconds of work that everything after waits for: before the long jobs take the cores.
    priority: 3
    threads: config["crop"]["workers"]
    params:
        options=glue.crop_options(config, "synthia"),
    shell:
        "cycleaug crop --images {input.root:q}/RGB --labels {input.labels:q} --out {output.crops:q} "
        "--holdout-out {output.heldout:q} {params.options} --workers {threads} > {log:q} 2>&1"
