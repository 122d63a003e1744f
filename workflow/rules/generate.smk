# Generation and FID (paper Sec. 4.4, Figs. 5 and 6; Step 2's translated CG). Separate from training,
# so a figure's inputs can be regenerated without retraining. Generation runs on the GPU when there is
# one (batched, images of equal size together) and on the CPU otherwise.
#   samples                 G_A of every GPU count and saved epoch translates the held-out SYNTHIA
#                           crops -> {RESULTS}/samples/{n}gpu/epoch{e}/<crop>.png (Fig. 5, FID)
#   translate_detector_set  the final G_A of every GPU count translates the SYNTHIA images chosen for
#                           the detector at native size -> {RESULTS}/generated/{n}gpu/ (Table 2 (c)-(g))
#   fid                     FID of every sample set against the real BDD crops -> {RESULTS}/fid/fid.csv
# Paths and options come from cycleaug/generate_rules.py.
from cycleaug.generate_rules import (
    detector_selection,
    fid_csv,
    fid_options,
    fid_runs,
    fid_weights_file,
    generate_targets,
    generated_images,
    generated_labels,
    sample_dir,
    sample_dirs,
)

GENERATE_TARGETS = generate_targets(config, saved_epochs())


rule generate:
    input:
        GENERATE_TARGETS,


rule samples:
    input:
        net=f"{RESULTS}/cyclegan/{{gpus}}gpu/checkpoints/{{epoch}}_net_G_A.pth",
        crops=f"{DATA}/crops/synthia_heldout",
    output:
        directory(sample_dir(RESULTS, "{gpus}", "{epoch}")),
    log:
        "logs/generate/samples_{gpus}gpu_epoch{epoch}.log",
    benchmark:
        "benchmarks/generate/samples_{gpus}gpu_epoch{epoch}.tsv"
    conda:
        "../../envs/cycleaug.yaml"
    threads: 2
    resources:
        gpu=1,
    params:
        batch_size=config["generate"]["batch_size"],
    shell:
        "cycleaug generate --checkpoint {input.net} --input {input.crops} --output {output} "
        "--batch-size {params.batch_size} > {log} 2>&1"


# The last epoch's G_A (the model the paper's detector used), on the raw full-size SYNTHIA images.
rule translate_detector_set:
    input:
        net=f"{RESULTS}/cyclegan/{{gpus}}gpu/checkpoints/{last_epoch()}_net_G_A.pth",
        selection=detector_selection(RESULTS),
        synthia=f"{DATA}/raw/synthia",
    output:
        images=directory(generated_images(RESULTS, "{gpus}")),
        labels=generated_labels(RESULTS, "{gpus}"),
    log:
        "logs/generate/translate_detector_set_{gpus}gpu.log",
    benchmark:
        "benchmarks/generate/translate_detector_set_{gpus}gpu.tsv"
    conda:
        "../../envs/cycleaug.yaml"
    threads: 2
    resources:
        gpu=1,
    params:
        batch_size=config["generate"]["batch_size"],
    shell:
        "cycleaug generate --checkpoint {input.net} --input {input.synthia}/RGB "
        "--list {input.selection} --output {output.images} --labels-out {output.labels} "
        "--batch-size {params.batch_size} > {log} 2>&1"


# One FID per GPU count and saved epoch (Fig. 6), one network load; the real set's statistics are
# cached under {RESULTS}/fid/cache, keyed by the images' content.
rule fid:
    input:
        real=f"{DATA}/crops/bdd100k",
        samples=sample_dirs(config, saved_epochs()),
        weights=fid_weights_file(config),
    output:
        fid_csv(RESULTS),
    log:
        "logs/generate/fid.log",
    benchmark:
        "benchmarks/generate/fid.tsv"
    conda:
        "../../envs/cycleaug.yaml"
    threads: 2
    resources:
        gpu=1,
    params:
        runs=fid_runs(config, saved_epochs()),
        options=fid_options(config),
        cache=f"{RESULTS}/fid/cache",
    shell:
        "cycleaug fid-table --real {input.real} --runs {params.runs} --out {output} "
        "{params.options} --cache-dir {params.cache} > {log} 2>&1"
