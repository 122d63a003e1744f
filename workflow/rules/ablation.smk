# Beyond the paper: the learning-rate scaling ablation (`snakemake ablation_lr`; not part of `all`).
# Does lr x k (linear: n / n_ref, sqrt: sqrt(n / n_ref)) win back the quality the paper lost at many GPUs?
# The runs train in the CycleGAN stage (train_ablation_lr_{rule}_{n}gpu_seed{s}; a run that is another in
# effect is not trained again), for each seed of ablation.lr_scaling.seeds; here each gets the main runs'
# scoring, with the same rules (one table per rule and seed):
#   ablation_lr_samples   the held-out crops translated by every kept generator of an ablation run
#   ablation_lr_fid       FID/KID per GPU count and epoch
#   ablation_lr_paired    demo data: L1/SSIM to the paired truth
#   ablation_lr_figure    quality vs GPU count, one line per rule, and the verdict (cycleaug/ablation_lr.py)
# Paths and options: cycleaug/glue/ablation.py.
from cycleaug.glue import ablation as glue, generate, paths


wildcard_constraints:
    rule="|".join(glue.rules(config)),
    seed=r"\d+",


rule ablation_lr:
    input:
        glue.targets(config),


use rule samples as ablation_lr_samples with:
    input:
        nets=glue.own_nets(config),
        crops=paths.crops(config, "synthia_heldout"),
    output:
        *(directory(d) for d in glue.own_sample_dirs(config)),
    log:
        "logs/ablation/samples_lr_{rule}_{gpus}gpu_seed{seed}.log",
    benchmark:
        "benchmarks/ablation/samples_lr_{rule}_{gpus}gpu_seed{seed}.tsv"


use rule fid as ablation_lr_fid with:
    input:
        real=paths.crops(config, "bdd100k"),
        samples=glue.rule_samples(config),
        weights=generate.fid_weights_file(config),
    output:
        glue.table(config, "{rule}", "{seed}", "fid.csv"),
    log:
        "logs/ablation/fid_lr_{rule}_seed{seed}.log",
    benchmark:
        "benchmarks/ablation/fid_lr_{rule}_seed{seed}.tsv"
    params:
        runs=glue.fid_runs(config),
        options=generate.fid_options(config),
        cache=paths.fid_cache(config),


if config["data"]["source"] == "demo":

    use rule paired_distance as ablation_lr_paired with:
        input:
            synthia=paths.synthia_root(config),
            heldout=paths.crops(config, "synthia_heldout"),
            cg=paths.crops(config, "synthia"),
            real=paths.crops(config, "bdd100k"),
            samples=glue.rule_samples(config),
        output:
            glue.table(config, "{rule}", "{seed}", "paired.csv"),
        log:
            "logs/ablation/paired_lr_{rule}_seed{seed}.log",
        benchmark:
            "benchmarks/ablation/paired_lr_{rule}_seed{seed}.tsv"
        params:
            truth=paths.paired_truth(config),
            runs=glue.fid_runs(config),


rule ablation_lr_figure:
    input:
        **glue.figure_inputs(config),
    output:
        **glue.outputs(config),
        verdict=paths.ablation_lr_verdict(config),
    log:
        "logs/ablation/figure_lr.log",
    params:
        tables=glue.pairs,
        findings=glue.verdict_line,
    shell:
        "cycleaug ablation-lr {params.tables} --out {output.png:q} --verdict {output.verdict:q} 2> {log:q}"
