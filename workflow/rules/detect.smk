# Detector stage (paper Step 2, Sec. 3.3 and 4.3): YOLOv3 fine-tuned as a 1-class person detector,
# one run per Table 2 condition, each its own rule so that `snakemake train_yolo_a_bdd` reruns one:
#   train_yolo_a_bdd          detector.n_real BDD100K images with a person (paper 500)
#   train_yolo_b_bdd_cg       + detector.n_synthetic raw SYNTHIA images (paper 1,017)
#   train_yolo_{c..}_gen{n}gpu  + the same SYNTHIA images translated by the CycleGAN of n GPUs
# The images are chosen once (select_detector_sets) and shared by every condition; all are
# evaluated on the same BDD100K validation images. Each run writes {RESULTS}/detector/{condition}/:
# metrics.json (best mAP@0.50 evaluation), best.weights / last.weights (darknet), best.pt / last.pt,
# eval_log.jsonl. A run stopped by the scheduler resumes from last.pt on retry.
# Paths and options come from cycleaug/yolo/rule_args.py.
from cycleaug.yolo import rule_args as yolo_args
from cycleaug.yolo.conditions import conditions

CONDITIONS = conditions(config)
SELECTION = yolo_args.selection_dir(RESULTS)


rule select_detector_sets:
    input:
        bdd=f"{DATA}/labels/bdd100k_train.json",
        val=f"{DATA}/labels/bdd100k_val.json",
        synthia=f"{DATA}/labels/synthia.json",
        bdd_images=f"{DATA}/raw/bdd100k/images",
        synthia_root=f"{DATA}/raw/synthia",
    output:
        real=f"{SELECTION}/real.json",
        synthetic=f"{SELECTION}/synthetic.json",
        val=f"{SELECTION}/val.json",
    log:
        "logs/detector/select_detector_sets.log",
    benchmark:
        "benchmarks/detector/select_detector_sets.tsv"
    conda:
        "../../envs/cycleaug.yaml"
    params:
        args=yolo_args.select_args(config),
    shell:
        "cycleaug select-detector-sets --bdd-labels {input.bdd} "
        "--bdd-images {input.bdd_images}/100k/train --synthia-labels {input.synthia} "
        "--synthia-images {input.synthia_root}/RGB --val-labels {input.val} "
        "--val-images {input.bdd_images}/100k/val "
        '--out "$(dirname {output.real})" {params.args} > {log} 2>&1'


for condition in CONDITIONS:

    rule:
        name:
            f"train_yolo_{condition.name}"
        input:
            **yolo_args.synthetic_inputs(config, condition),
            real=f"{SELECTION}/real.json",
            synthetic=f"{SELECTION}/synthetic.json",
            val=f"{SELECTION}/val.json",
            bdd_images=f"{DATA}/raw/bdd100k/images",
            pretrained=yolo_args.pretrained_weights(config),
        output:
            metrics=f"{RESULTS}/detector/{condition.name}/metrics.json",
            weights=f"{RESULTS}/detector/{condition.name}/best.weights",
            eval_log=f"{RESULTS}/detector/{condition.name}/eval_log.jsonl",
        log:
            f"logs/detector/train_yolo_{condition.name}.log",
        benchmark:
            f"benchmarks/detector/train_yolo_{condition.name}.tsv"
        conda:
            "../../envs/cycleaug.yaml"
        threads: yolo_args.train_threads(config)
        resources:
            gpu=1,
        params:
            train=yolo_args.train_set_options(config, condition),
            options=yolo_args.train_options(config),
        shell:
            "cycleaug train-yolo {params.train} --val-labels {input.val} "
            "--val-images {input.bdd_images}/100k/val "
            '--out "$(dirname {output.metrics})" {params.options} > {log} 2>&1'
