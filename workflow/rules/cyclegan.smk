# CycleGAN stage (paper Step 1, Sec. 3.1-3.2): one data-parallel training run per process count in
# cyclegan.gpu_counts (paper: 4, 64, 128, 256, 512 GPUs), as rules train_cyclegan_{n}gpu, so that
# `snakemake train_cyclegan_4gpu` reruns just that one. Each writes {RESULTS}/cyclegan/{n}gpu/:
# checkpoints/{e}_net_G_A.pth for the saved epochs (FID curve, Fig. 5) and train_log.jsonl (epoch
# timings for Fig. 4). A run stopped by the scheduler resumes from checkpoints/latest.pt on retry.
#
# Site settings come from the profile's config file: `launcher` (mpirun on a cluster, the local
# spawner otherwise) and `gpus_per_node`, from which nodes and processes per node follow.
import math


def gpus_per_node():
    return config["gpus_per_node"]


def nodes_for(gpus):
    """Whole nodes for `gpus` processes (one per GPU): 4 GPUs at 8 per node -> 1, 64 -> 8."""
    return math.ceil(gpus / gpus_per_node())


def ppn_for(gpus):
    """Processes per node, spread evenly over nodes_for(gpus) nodes."""
    return math.ceil(gpus / nodes_for(gpus))


def cyclegan_dir(gpus):
    return f"{RESULTS}/cyclegan/{gpus}gpu"


def cyclegan_nets(gpus):
    return [
        f"{cyclegan_dir(gpus)}/checkpoints/{epoch}_net_G_A.pth"
        for epoch in saved_epochs()
    ]


def train_arguments():
    """`cycleaug train-cyclegan` options from config.cyclegan (same names, dashes for underscores)."""
    cg = config["cyclegan"]
    keys = [
        "backend",
        "ngf",
        "ndf",
        "n_blocks",
        "load_size",
        "crop_size",
        "n_epochs",
        "n_epochs_decay",
        "lr",
        "beta1",
        "batch_size",
        "lambda_cycle",
        "lambda_identity",
        "pool_size",
        "shard_scale",
        "checkpoint_every",
        "log_every",
        "workers",
        "compression",
    ]
    options = [f"--{key.replace('_', '-')} {cg[key]}" for key in keys]
    options.append(fast_arguments())
    options.append("--save-epochs " + " ".join(str(e) for e in saved_epochs()))
    options.append(f"--seed {config['seed']}")
    return " ".join(options)


def fast_arguments():
    """The speed switches of config.cyclegan.fast as train-cyclegan flags (--amp VALUE, --[no-]FLAG)."""
    fast = config["cyclegan"].get("fast", {})
    options = [f"--amp {fast.get('amp', 'none')}"]
    for key in ["channels_last", "fused_adam", "compile", "tf32", "cache_images"]:
        prefix = "" if fast.get(key, False) else "no-"
        options.append(f"--{prefix}{key.replace('_', '-')}")
    return " ".join(options)


def train_command(gpus):
    """The launcher template (config `launcher`) around one `cycleaug train-cyclegan` command."""
    cmd = (
        f"cycleaug train-cyclegan --a {DATA}/crops/synthia --b {DATA}/crops/bdd100k "
        f"--out {cyclegan_dir(gpus)} {train_arguments()}"
    )
    return config["launcher"].format(
        n=gpus,
        ppn=ppn_for(gpus),
        nodes=nodes_for(gpus),
        backend=config["cyclegan"]["backend"],
        cmd=cmd,
    )


for _gpus in GPU_COUNTS:

    rule:
        name:
            f"train_cyclegan_{_gpus}gpu"
        input:
            a=f"{DATA}/crops/synthia",
            b=f"{DATA}/crops/bdd100k",
        output:
            nets=cyclegan_nets(_gpus),
            log=f"{cyclegan_dir(_gpus)}/train_log.jsonl",
        log:
            f"logs/cyclegan/train_{_gpus}gpu.log",
        benchmark:
            f"benchmarks/cyclegan/train_{_gpus}gpu.tsv"
        conda:
            "../../envs/cycleaug.yaml"
        envmodules:
            *config["envmodules"],
        threads: _gpus
        resources:
            gpu=_gpus,
            nodes=nodes_for(_gpus),
            ppn=ppn_for(_gpus),
            # Minutes. Profiles override per site (set-resources); a run that hits it resumes on retry.
            runtime=24 * 60,
        params:
            cmd=train_command(_gpus),
        shell:
            "{params.cmd} > {log} 2>&1"
