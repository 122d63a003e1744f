# Generation and FID (paper Sec. 4.4, Figs. 5 and 6; Step 2's translated CG). Separate from training,
# so a figure's inputs can be regenerated without retraining. Generation runs on the GPU when there is
# one (batched, images of equal size together) and on the CPU otherwise.
#   samples                 G_A of every saved epoch of one GPU count translates the held-out SYNTHIA
#                           crops -> {results_dir}/samples/{n}gpu/epoch{e}/<crop>.png (Fig. 5, FID)
#   translate_detector_set  the final G_A of every GPU count translates the SYNTHIA images chosen for
#                           the detector at native size -> {results_dir}/generated/{n}gpu/ (Table 2 (c)-(g))
#   fid                     FID of every sample set against the real BDD crops -> {results_dir}/fid/fid.csv
# Paths and options: cycleaug/glue/generate.py.
from cycleaug.glue import generate as glue, common, paths


rule generate:
    input:
        common.generate_targets(config),


# One job per GPU count translates with every saved epoch's generator (a few seconds each): one GPU job
# on a cluster instead of one per epoch (45 at paper scale), each with its own queue wait.
rule samples:
    input:
        nets=glue.saved_nets(config),
        crops=paths.crops(config, "synthia_heldout"),
    output:
        *(directory(d) for d in glue.saved_sample_dirs(config, "{gpus}")),
    log:
        "logs/generate/samples_{gpus}gpu.log",
    benchmark:
        "benchmarks/generate/samples_{gpus}gpu.tsv"
    threads: 2
    resources:
        gpu=1,
    params:
        pairs=glue.checkpoint_output_pairs,
        options=glue.generate_options(config),
    shell:
        "cycleaug generate {params.pairs} --input {input.crops:q} {params.options} > {log:q} 2>&1"


# The last epoch's G_A (the model the paper's detector used), on the raw full-size SYNTHIA images.
# One thread: a few seconds of work that can then start beside a running single-thread detector job,
# instead of leaving a core idle until two are free (the demo's 2-core schedule lost ~2.5 min that way).
rule translate_detector_set:
    input:
        net=glue.final_net(config, "{gpus}"),
        selection=glue.detector_selection(config),
        synthia=paths.synthia_root(config),
    output:
        images=directory(paths.generated_images(config, "{gpus}")),
        labels=paths.generated_labels(config, "{gpus}"),
    log:
        "logs/generate/translate_detector_set_{gpus}gpu.log",
    benchmark:
        "benchmarks/generate/translate_detector_set_{gpus}gpu.tsv"
    threads: 1
    resources:
        gpu=1,
    params:
        options=glue.generate_options(config),
    shell:
        "cycleaug generate --checkpoint {input.net:q} --input {input.synthia:q}/RGB "
        "--list {input.selection:q} --output {output.images:q} --labels-out {output.labels:q} "
        "{params.options} > {log:q} 2>&1"


# Demo data only: the distance of every sample set to the paired ground truth (the same scenes rendered
# in the BDD-like style by the demo generator), beside the untranslated crops' distance and that of a
# per-channel colour transfer from the CG training crops' statistics to the real crops'.
if config["data"]["source"] == "demo":

    rule paired_distance:
        input:
            synthia=paths.synthia_root(config),
            heldout=paths.crops(config, "synthia_heldout"),
            cg=paths.crops(config, "synthia"),
            real=paths.crops(config, "bdd100k"),
            samples=common.sample_dirs(config),
        output:
            paths.paired_csv(config),
        log:
            "logs/generate/paired_distance.log",
        benchmark:
            "benchmarks/generate/paired_distance.tsv"
        params:
            truth=paths.paired_truth(config),
            runs=glue.fid_runs(config),
        shell:
            "cycleaug paired-distance --truth {params.truth:q} --heldout {input.heldout:q} "
            "--cg {input.cg:q} --real {input.real:q} --runs {params.runs} --out {output:q} > {log:q} 2>&1"


# One FID per GPU count and saved epoch (Fig. 6), one network load; the real set's statistics are
# cached under {results_dir}/fid/cache, keyed by the images' content.
rule fid:
    input:
        real=paths.crops(config, "bdd100k"),
        samples=common.sample_dirs(config),
        weights=glue.fid_weights_file(config),
    output:
        paths.fid_csv(config),
    log:
        "logs/generate/fid.log",
    benchmark:
        "benchmarks/generate/fid.tsv"
    threads: 2
    resources:
        gpu=1,
        # Minutes: one CPU sqrtm per FID and the Inception features, with the training jobs' margin
        # (cycleaug/plan.py).
        runtime=glue.fid_runtime(config),
    params:
        runs=glue.fid_runs(config),
        options=glue.fid_options(config),
        cache=paths.fid_cache(config),
    shell:
        "cycleaug fid-table --real {input.real:q} --runs {params.runs} --out {output:q} "
        "{params.options} --cache-dir {params.cache:q} > {log:q} 2>&1"
