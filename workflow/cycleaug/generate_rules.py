"""Paths and command-line options of the generation and FID rules (workflow/rules/generate.smk).

Kept here rather than in the .smk file so the rules file holds rules only (``snakemake --lint`` asks
for that) and so the lead's target lists and these config-to-CLI mappings can be unit-tested.
``epochs`` is always the list of saved epochs (``saved_epochs()`` of common.smk).
"""

from __future__ import annotations

from cycleaug.acquire import all_sources


def sample_dir(results: str, gpus: int | str, epoch: int | str) -> str:
    """Translated held-out crops of one model: the inputs of Fig. 5 and of one point of Fig. 6."""
    return f"{results}/samples/{gpus}gpu/epoch{epoch}"


def sample_dirs(config: dict, epochs: list[int]) -> list[str]:
    return [sample_dir(config["results_dir"], n, e) for n in config["cyclegan"]["gpu_counts"] for e in epochs]


def detector_selection(results: str) -> str:
    """The SYNTHIA images chosen for the detector (`cycleaug select-detector-sets --out
    {results}/detector/selection`), shared with detect.smk."""
    return f"{results}/detector/selection/synthetic.json"


def generated_images(results: str, gpus: int | str) -> str:
    return f"{results}/generated/{gpus}gpu/images"


def generated_labels(results: str, gpus: int | str) -> str:
    return f"{results}/generated/{gpus}gpu/labels.json"


def fid_csv(results: str) -> str:
    return f"{results}/fid/fid.csv"


def fid_runs(config: dict, epochs: list[int]) -> str:
    """``--runs`` of `cycleaug fid-table`: one ``GPUS:EPOCH:DIR`` per GPU count and saved epoch."""
    return " ".join(
        f"{n}:{e}:{sample_dir(config['results_dir'], n, e)}" for n in config["cyclegan"]["gpu_counts"] for e in epochs
    )


def fid_weights_file(config: dict) -> list[str]:
    """The FID Inception weights the fid rule reads: the verified copy the acquisition rules make
    (``SOURCES["inception"]``) for ``fid.weights: pretrained``, nothing for ``random-init``."""
    if config["fid"]["weights"] != "pretrained":
        return []
    return [all_sources(config)["inception"].path(config["data_dir"])]


def fid_options(config: dict) -> str:
    """``--weights``, ``--dims`` and ``--batch-size`` of `cycleaug fid-table` from config.fid."""
    fid = config["fid"]
    weights = fid_weights_file(config)
    return f"--weights {weights[0] if weights else 'random-init'} --dims {fid['dims']} --batch-size {fid['batch_size']}"


def generate_targets(config: dict, epochs: list[int]) -> list[str]:
    """Everything this stage makes: samples per GPU count and saved epoch, the translated detector
    sets with their labels, and the FID table."""
    results = config["results_dir"]
    counts = config["cyclegan"]["gpu_counts"]
    return [
        *sample_dirs(config, epochs),
        *(generated_images(results, n) for n in counts),
        *(generated_labels(results, n) for n in counts),
        fid_csv(results),
    ]
