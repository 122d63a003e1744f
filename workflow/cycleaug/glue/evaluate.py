"""Glue of workflow/rules/evaluate.smk: Table 2 from every condition's metrics."""

from __future__ import annotations

from cycleaug.glue import paths
from cycleaug.glue.figures import paper_reference
from cycleaug.jobnames import seed_runs
from cycleaug.yolo.conditions import conditions


def table2_options(config: dict) -> str:
    """``--metrics NAME=PATH`` and ``--predictions NAME=PATH`` per condition in Table 2's order (and
    ``--seed-metrics NAME=PATH`` per further detector.seeds run), the validation labels they were scored
    on (for the bootstrap intervals), and ``--paper-scale`` at paper scale (the same test as the figures'
    reference marks: ``figures.paper_reference``)."""
    q = paths.quote
    words = []
    for c in conditions(config):
        words.append(f"--metrics {q(f'{c.name}={paths.metrics(config, c.name)}')}")
        words.append(f"--predictions {q(f'{c.name}={val_predictions(config, c.name)}')}")
        words += [
            f"--seed-metrics {q(f'{c.name}={paths.metrics(config, c.name, run)}')}" for _, run in seed_runs(config)[1:]
        ]
    words.append(f"--val-labels {q(paths.selection_dir(config) + '/val.json')}")
    if config["detector"].get("n_heldout"):
        words += [
            f"--heldout-predictions {q(f'{c.name}={p}')}"
            for c in conditions(config)
            for p in heldout_predictions(config, c.name)
        ]
        words.append(f"--heldout-labels {q(paths.selection_dir(config) + '/heldout.json')}")
    return " ".join(words) + (" --paper-scale" if paper_reference(config) else "")


def heldout_predictions(config: dict, condition: str) -> list[str]:
    """Every seed's held-out detections of a condition, in seed order."""
    return [f"{paths.detector_dir(config, condition, run)}/heldout_predictions.json" for _, run in seed_runs(config)]


def val_predictions(config: dict, condition: str) -> str:
    return f"{paths.detector_dir(config, condition)}/val_predictions.json"


def prediction_files(config: dict) -> list[str]:
    files = [val_predictions(config, c.name) for c in conditions(config)] + [f"{paths.selection_dir(config)}/val.json"]
    if config["detector"].get("n_heldout"):
        files += [p for c in conditions(config) for p in heldout_predictions(config, c.name)]
        files.append(f"{paths.selection_dir(config)}/heldout.json")
    return files


def table2_outputs(config: dict) -> dict[str, str]:
    csv, md, tex = paths.table2_files(config)
    return {"csv": csv, "md": md, "tex": tex, "contrasts": paths.contrasts(config)}
