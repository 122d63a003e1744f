"""Config validation messages that name the key, and checks across keys that a schema cannot express.

The Snakefile validates with ``snakemake.utils.validate`` against ``workflow/schemas/config.schema.yaml``;
when that fails, ``schema_errors`` lists every violation as ``crop.size: 'big' is not of type 'integer'``.
"""

from __future__ import annotations

import math
from pathlib import Path

import yaml
from jsonschema import Draft202012Validator

from cycleaug.cyclegan.settings import across_fields, schedule_epochs, with_defaults
from cycleaug.errors import CycleAugError


def _key(path) -> str:
    return ".".join(str(p) for p in path) or "(top level)"


def non_finite(config, path=()) -> list[str]:
    """Every number in ``config`` that is NaN or infinite (YAML's ``.nan``, ``.inf``), by key: JSON schema
    compares numbers but cannot say "finite", and ``.nan`` passes every comparison (``minimum`` included)."""
    if isinstance(config, dict):
        return [m for k, v in config.items() for m in non_finite(v, (*path, k))]
    if isinstance(config, (list, tuple)):
        return [m for i, v in enumerate(config) for m in non_finite(v, (*path, i))]
    if isinstance(config, float) and not math.isfinite(config):
        return [f"{_key(path)}: {config} is not a finite number"]
    return []


def schema_errors(config: dict, schema_path: str | Path) -> list[str]:
    """Every schema violation in ``config``, each naming its key and what was expected; non-finite
    numbers first."""
    schema = yaml.safe_load(Path(schema_path).read_text())
    messages = non_finite(config)
    for err in sorted(Draft202012Validator(schema).iter_errors(config), key=lambda e: list(map(str, e.path))):
        if err.validator == "additionalProperties":
            allowed = sorted(err.schema.get("properties", {}))
            extra = sorted(set(err.instance) - set(allowed))
            for name in extra:
                messages.append(f"{_key([*err.path, name])}: unknown key (valid keys here: {', '.join(allowed)})")
        elif err.validator == "enum":
            messages.append(f"{_key(err.path)}: {err.instance!r} is not one of {err.validator_value}")
        else:
            messages.append(f"{_key(err.path)}: {err.message}")
    return messages


def launcher_problem(template: str) -> str | None:
    """What is wrong with a ``launcher`` template: the training command ``{cmd}`` must stand once, at the
    end, because the rule names the command's log after it (cycleaug.glue.cyclegan.launcher)."""
    if template.count("{cmd}") != 1 or not template.rstrip().endswith("{cmd}"):
        return f"launcher {template!r}: expected {{cmd}} once, at the end (the options before it start the processes)"
    return None


def check_config(config: dict) -> None:
    """Raise CycleAugError naming the key when keys contradict each other, or a number is not finite."""
    bad = non_finite(config)
    if bad:
        raise CycleAugError("; ".join(bad))
    problem = launcher_problem(config["launcher"])
    if problem:
        raise CycleAugError(problem)
    cg = with_defaults(config["cyclegan"])
    for problem in across_fields(cg):
        raise CycleAugError(f"cyclegan.{problem}")
    total = schedule_epochs(cg)
    late = [e for e in cg["save_epochs"] if e > total]
    if late:
        raise CycleAugError(f"cyclegan.save_epochs: {late} lie beyond the last epoch ({total})")
    if config.get("slurm", {}).get("mpi") and 1 in cg["gpu_counts"]:
        # snakemake-executor-plugin-slurm refuses an MPI job of one task ("'tasks' must be greater than 1").
        raise CycleAugError("cyclegan.gpu_counts: 1 on a Slurm site (slurm.mpi): an MPI job needs at least 2 tasks")
    det = config["detector"]
    if det.get("pretrain") and det["pretrained"]:
        raise CycleAugError(
            "detector.pretrained and detector.pretrain: choose one start (darknet53.conv.74, or the backbone "
            "pretrained by the workflow on its own pool)"
        )
    if det.get("pretrain") and not det.get("n_tune"):
        raise CycleAugError("detector.pretrain: needs detector.n_tune (the split the pretraining is scored on)")
    kept = set(cg["save_epochs"]) | {total}
    missing = [e for e in config.get("generate", {}).get("sample_epochs", []) if e not in kept]
    if missing:
        raise CycleAugError(
            f"generate.sample_epochs: {missing} are not saved epochs (cyclegan.save_epochs or the last, {total})"
        )
