# CycleGAN stage (paper Step 1, Sec. 3.1-3.2): one data-parallel training run per process count in
# cyclegan.gpu_counts (paper: 4, 64, 128, 256, 512 GPUs), as rules train_cyclegan_{n}gpu, so that
# `snakemake train_cyclegan_4gpu` reruns just that one. Each writes {results_dir}/cyclegan/{n}gpu/:
# checkpoints/{e}_net_G_A.pth for the saved epochs (FID curve, Fig. 5) and train_log.jsonl (epoch
# timings for Fig. 4). A run stopped by the scheduler resumes from checkpoints/latest.pt on retry.
#
# Site settings come from the profile's config file: `launcher` (mpirun on a cluster, the local
# spawner otherwise) and `gpus_per_node`, from which nodes and processes per node follow. Options:
# cycleaug/glue/cyclegan.py (every config.cyclegan key, as the flag of the same name).
from cycleaug.glue import cyclegan as glue

glue.carry_slurm_conf()

for _gpus in glue.gpu_counts(config):

    rule:
        name:
            f"train_cyclegan_{_gpus}gpu"
        input:
            a=glue.paths.crops(config, "synthia"),
            b=glue.paths.crops(config, "bdd100k"),
        output:
            nets=glue.nets(config, _gpus),
            log=glue.paths.train_log(config, _gpus),
        log:
            f"logs/cyclegan/train_{_gpus}gpu.log",
        benchmark:
            f"benchmarks/cyclegan/train_{_gpus}gpu.tsv"
        # Beside the detector's pretraining (priority 3): the CycleGAN, its translations and samples.
        priority: 2
        envmodules:
            *config["envmodules"],
        threads: _gpus
        resources:
            # nodes, processes per node, GPUs and the site's MPI request (PBS or Slurm).
            **glue.training_resources(config, _gpus),
            # Minutes, from the scaling model with a margin that grows per attempt (cycleaug/plan.py); a
            # run stopped at its walltime resumes on retry.
            runtime=glue.runtime(config, _gpus),
        params:
            launch=glue.launcher(config, _gpus)[0],
            launch_end=glue.launcher(config, _gpus)[1],
            options=glue.train_options(config),
        shell:
            "{params.launch} cycleaug train-cyclegan --domain-a {input.a:q} --domain-b {input.b:q} "
            '--out "$(dirname {output.log:q})" {params.options}{params.launch_end} > {log:q} 2>&1'
