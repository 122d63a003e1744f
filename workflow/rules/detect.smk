# Detector stage (paper Step 2, Sec. 3.3 and 4.3): YOLOv3 fine-tuned as a 1-class person detector,
# one run per Table 2 condition, each its own rule so that `snakemake train_yolo_a_bdd` reruns one:
#   train_yolo_a_bdd          detector.n_real BDD100K images with a person (paper 500)
#   train_yolo_b_bdd_cg       + detector.n_synthetic raw SYNTHIA images (paper 1,017)
#   train_yolo_{c..}_gen{n}gpu  + the same SYNTHIA images translated by the CycleGAN of n GPUs
# The images are chosen once (select_detector_sets) and shared by every condition; all are
# evaluated on the same BDD100K validation images. Each run writes {results_dir}/detector/{condition}/:
# metrics.json (best mAP@0.50 evaluation; the last evaluation's figures and, with detector.n_heldout,
# the best checkpoint's on held-out BDD100K train images), best.weights / last.weights (darknet),
# best.pt / last.pt, eval_log.jsonl. A run stopped by the scheduler resumes from last.pt on retry.
# Paths and options: cycleaug/glue/detect.py.
from cycleaug.glue import detect as glue, paths
from cycleaug.jobnames import seed_runs, train_yolo
from cycleaug.yolo.conditions import conditions


rule select_detector_sets:
    input:
        bdd=paths.labels(config, "bdd100k_train"),
        val=paths.labels(config, "bdd100k_val"),
        synthia=paths.labels(config, "synthia"),
        bdd_images=paths.bdd100k_images(config),
        synthia_root=paths.synthia_root(config),
    output:
        **glue.selection_outputs(config),
    log:
        "logs/detector/select_detector_sets.log",
    benchmark:
        "benchmarks/detector/select_detector_sets.tsv"
    priority: 3
    params:
        options=glue.select_options(config),
    shell:
        "cycleaug select-detector-sets --bdd-labels {input.bdd:q} "
        "--bdd-images {input.bdd_images:q}/100k/train --synthia-labels {input.synthia:q} "
        "--synthia-images {input.synthia_root:q}/RGB --val-labels {input.val:q} "
        "--val-images {input.bdd_images:q}/100k/val "
        '--out "$(dirname {output.real:q})" {params.options} > {log:q} 2>&1'


# The synthetic sets at the real images' size (paper: "画像サイズを揃えた上で"; cycleaug/yolo/align.py):
# raw = the selected SYNTHIA images (condition b), gen{n}gpu = their translation by the n-GPU CycleGAN,
# truth = the same scenes drawn in the BDD-like style (demo data: the positive control).
rule align_detector_set:
    input:
        unpack(glue.align_inputs(config)),
    output:
        directory(paths.aligned_dir(config, "{source}")),
    log:
        "logs/detector/align_detector_set_{source}.log",
    benchmark:
        "benchmarks/detector/align_detector_set_{source}.tsv"
    wildcard_constraints:
        source="raw|truth|gen[0-9]+gpu",
    params:
        images=glue.align_images_dir,
        options=glue.align_options(config),
    shell:
        "cycleaug align-images --labels {input.labels:q} --images {params.images:q} {params.options} "
        "--out {output:q} > {log:q} 2>&1"


# Demo data (detector.pretrain): the miniature of darknet53.conv.74. The detector is trained once on a pool
# of BDD-like images that no condition trains or is scored on, and its first layers (darknet's `partial`)
# are where every condition's fine-tuning starts, as the paper's start from the ImageNet backbone.
if config["detector"].get("pretrain"):

    rule pretrain_detector:
        input:
            pool=glue.selection_outputs(config)["pretrain"],
            tune=glue.selection_outputs(config)["tune"],
            bdd_images=paths.bdd100k_images(config),
        output:
            glue.backbone(config),
        log:
            "logs/detector/pretrain_detector.log",
        benchmark:
            "benchmarks/detector/pretrain_detector.tsv"
        # Every detector waits for it, and it and the detectors are the longest chain: it starts first,
        # the CycleGAN runs and what needs only them fill the other cores meanwhile.
        priority: 3
        threads: glue.train_threads(config)
        resources:
            gpu=1,
            runtime=glue.runtime(config, config["detector"]["pretrain"]["iterations"]),
        params:
            options=glue.pretrain_options(config),
            cfg=config["detector"]["cfg"],
            layers=config["detector"]["pretrain"]["layers"],
        shell:
            "cycleaug train-yolo --train {input.pool:q}:{input.bdd_images:q}/100k/train --val-labels {input.tune:q} "
            '--val-images {input.bdd_images:q}/100k/train --out "$(dirname {output:q})" {params.options} > {log:q} 2>&1 '
            '&& cycleaug yolo-partial --cfg {params.cfg:q} --weights "$(dirname {output:q})/last.weights" '
            "--layers {params.layers} --out {output:q} >> {log:q} 2>&1"


# detector.seeds repeats each condition: train_yolo_{condition}_seed{s} into {condition}/seed{s}/.
for condition in conditions(config):
    for seed, run in seed_runs(config):

        rule:
            name:
                train_yolo(condition.name, run)
            input:
                **glue.synthetic_inputs(config, condition),
                **glue.selection_outputs(config),
                bdd_images=paths.bdd100k_images(config),
                pretrained=glue.pretrained_weights(config),
            output:
                **glue.outputs(config, condition, run),
            log:
                f"logs/detector/{train_yolo(condition.name, run)}.log",
            benchmark:
                f"benchmarks/detector/{train_yolo(condition.name, run)}.tsv"
            threads: glue.train_threads(config)
            resources:
                gpu=1,
                runtime=glue.runtime(config),
            params:
                train=glue.train_set_options(config, condition),
                heldout=glue.heldout_option(config),
                options=glue.train_options(config, seed),
            shell:
                "cycleaug train-yolo {params.train} --val-labels {input.val:q} "
                "--val-images {input.bdd_images:q}/100k/val {params.heldout} "
                '--out "$(dirname {output.metrics:q})" {params.options} > {log:q} 2>&1'
