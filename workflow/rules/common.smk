# Shared by every stage: config validation and the results folder. The target lists behind
# `rule all` and the stage targets are cycleaug/glue/common.py's; each stage's rule file takes its
# options from its own glue module, cycleaug/glue/<stage>.py, and its paths from cycleaug/glue/paths.py.
import sys

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from cycleaug.acquire import check_sources
from cycleaug.config_check import check_config, schema_errors
from cycleaug.errors import CycleAugError
from cycleaug.glue import common as glue_common, paths

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
# A dry run (`-n`, `-np`), `--dag`, `--rulegraph` or `--lint` still shows the whole plan, with this list;
# a real run stops here, before anything starts or is submitted. (Stopping later, in onstart, would
# leave a cluster profile's sidecar waiting.)
MISSING_SOURCES = "\n  ".join(check_sources(config))
if MISSING_SOURCES:
    if glue_common.runs_jobs(sys.argv[1:]):
        raise WorkflowError(f"missing inputs:\n  {MISSING_SOURCES}")
    print(
        f"cycleaug: still to download (a real run stops here):\n  {MISSING_SOURCES}",
        file=sys.stderr,
    )

RESULTS = config["results_dir"]


wildcard_constraints:
    gpus=r"\d+",
    epoch=r"\d+",
    split="train|val",


def report_configfiles():
    """The config files of this run, so the nested `snakemake --report` sees the same config."""
    return " ".join(paths.quote(str(path)) for path in workflow.configfiles)
