# Shared helpers: config validation, output locations, and the target lists behind `rule all`.
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from cycleaug.acquire import check_sources
from cycleaug.config_check import check_config, schema_errors
from cycleaug.errors import CycleAugError

# Fail before any job runs: schema first (types, ranges, unknown keys), then rules across keys.
try:
    validate(config, "../schemas/config.schema.yaml")
    check_config(config)
except (WorkflowError, CycleAugError) as exc:
    problems = schema_errors(
        config, f"{workflow.basedir}/workflow/schemas/config.schema.yaml"
    )
    raise WorkflowError(
        "invalid config:\n  " + "\n  ".join(problems or [str(exc)])
    ) from None

# Data sets and weights that are neither on disk nor fetchable: say what to get, from where, to where.
missing_sources = check_sources(config)
if missing_sources:
    raise WorkflowError("missing inputs:\n  " + "\n  ".join(missing_sources))

DATA = config["data_dir"]
RESULTS = config["results_dir"]
GPU_COUNTS = config["cyclegan"]["gpu_counts"]


wildcard_constraints:
    gpus=r"\d+",
    epoch=r"\d+",
    split="train|val",


def last_epoch():
    return config["cyclegan"]["n_epochs"] + config["cyclegan"]["n_epochs_decay"]


def saved_epochs():
    """Epochs whose generator is kept: the configured ones within the run, and always the last."""
    return sorted(
        {e for e in config["cyclegan"]["save_epochs"] if e <= last_epoch()}
        | {last_epoch()}
    )


def data_targets():
    return [
        f"{DATA}/labels/bdd100k_train.json",
        f"{DATA}/labels/bdd100k_val.json",
        f"{DATA}/labels/synthia.json",
        f"{DATA}/crops/bdd100k",
        f"{DATA}/crops/synthia",
        f"{DATA}/crops/synthia_heldout",
    ]


def cyclegan_targets():
    return [
        f"{RESULTS}/cyclegan/{gpus}gpu/checkpoints/{epoch}_net_G_A.pth"
        for gpus in GPU_COUNTS
        for epoch in saved_epochs()
    ]


def detection_targets():
    return [f"{RESULTS}/tables/table2.{ext}" for ext in ("csv", "md", "tex")]


def all_outputs():
    """Everything the paper reports; the stage lists of generate.smk and figures.smk are read at call time."""
    return [
        *data_targets(),
        *cyclegan_targets(),
        *GENERATE_TARGETS,
        *detection_targets(),
        *FIGURE_TARGETS,
    ]


def report_configfiles():
    """The config files of this run, so the nested `snakemake --report` sees the same config."""
    return " ".join(str(path) for path in workflow.configfiles)
