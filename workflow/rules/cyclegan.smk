# CycleGAN stage (paper Step 1, Sec. 3.1-3.2): one data-parallel training run per process count in
# cyclegan.gpu_counts (paper: 4, 64, 128, 256, 512 GPUs), as rules train_cyclegan_{n}gpu, so that
# `snakemake train_cyclegan_4gpu` reruns just that one. Each writes {results_dir}/cyclegan/{n}gpu/:
# checkpoints/{e}_net_G_A.pth for the saved epochs (FID curve, Fig. 5) and train_log.jsonl (epoch
# timings for Fig. 4). A run stopped by the scheduler resumes from checkpoints/latest.pt on retry.
#
# Site settings come from the profile's config file: `launcher` (mpirun on a cluster, the local
# spawner otherwise) and `gpus_per_node`, from which nodes and processes per node follow. Options:
# cycleaug/glue/cyclegan.py (every config.cyclegan key, as the flag of the same name).
from cycleaug.glue import cyclegan as glue, common, paths

glue.carry_slurm_conf()

# The learning-rate ablation's own runs (`snakemake ablation_lr`, not part of `all`) are rules of this
# loop too, train_ablation_lr_{rule}_{n}gpu_seed{s} into {results_dir}/ablation/lr_{rule}/seed{s}/{n}gpu/.
for _run in glue.training_runs(config):

    rule:
        name:
            _run.name
        input:
            a=paths.crops(config, "synthia"),
            b=paths.crops(config, "bdd100k"),
        output:
            nets=common.run_nets(config, _run.folder),
            log=paths.run_log(_run.folder),
        log:
            _run.log,
        benchmark:
            _run.benchmark
        # Beside the detector's pretraining (priority 3): the CycleGAN, its translations and samples.
        priority: 2
        envmodules:
            *config["envmodules"],
        threads: _run.gpus
        resources:
            # nodes, processes per node, GPUs and the site's MPI request (PBS or Slurm).
            **glue.training_resources(config, _run.gpus),
            # Minutes, from the scaling model with a margin that grows per attempt (cycleaug/plan.py); a
            # run stopped at its walltime resumes on retry.
            runtime=glue.runtime(config, _run.gpus),
        params:
            launch=glue.launcher(config, _run.gpus),
            options=_run.options,
        shell:
            "{params.launch} cycleaug train-cyclegan --domain-a {input.a:q} --domain-b {input.b:q} "
            '--out "$(dirname {output.log:q})" {params.options} > {log:q} 2>&1'
