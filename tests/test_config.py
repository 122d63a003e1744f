"""The config is validated before any job runs, and every error names the key at fault."""

from __future__ import annotations

import copy

import pytest
import yaml
from conftest import ROOT, run_snakemake
from cycleaug.config_check import check_config, schema_errors
from cycleaug.errors import CycleAugError

SCHEMA = ROOT / "workflow/schemas/config.schema.yaml"


@pytest.fixture(scope="module")
def config() -> dict:
    return yaml.safe_load((ROOT / "config.yaml").read_text())


def test_shipped_configs_are_valid(config):
    assert schema_errors(config, SCHEMA) == []
    check_config(config)
    demo = yaml.safe_load((ROOT / "profiles/demo/demo.yaml").read_text())
    from snakemake.utils import update_config

    merged = copy.deepcopy(config)
    update_config(merged, demo)
    assert schema_errors(merged, SCHEMA) == []
    check_config(merged)


def test_paper_values_in_config(config):
    # FACTS.md: 256 px crops, 100 + 100 epochs, lr 2e-4, batch 1, scale 4, GPU counts, YOLO at 608, 5,000 iterations.
    assert config["crop"]["size"] == 256
    assert config["crop"]["max_images"] == {"bdd100k": 4822, "synthia": 3163}
    cg = config["cyclegan"]
    assert (cg["n_epochs"], cg["n_epochs_decay"], cg["lr"], cg["batch_size"]) == (100, 100, 0.0002, 1)
    assert cg["gpu_counts"] == [4, 64, 128, 256, 512] and cg["shard_scale"] == 4
    assert (cg["lambda_cycle"], cg["lambda_identity"], cg["pool_size"]) == (10.0, 0.5, 50)
    assert config["detector"]["iterations"] == 5000
    assert (config["detector"]["n_real"], config["detector"]["n_synthetic"]) == (500, 1017)


@pytest.mark.parametrize(
    "path, value, expected",
    [
        (("crop", "size"), "big", "crop.size: 'big' is not of type 'integer'"),
        (("crop", "sizee"), 3, "crop.sizee: unknown key"),
        (("data", "source"), "fake", "data.source: 'fake' is not one of"),
        (("cyclegan", "lr"), -1.0, "cyclegan.lr:"),
        (("cyclegan", "gpu_counts"), [4, 4], "cyclegan.gpu_counts:"),
        (("fid", "dims"), 100, "fid.dims: 100 is not one of"),
        (("detector", "seeds"), [1, 1], "detector.seeds:"),
        (("detector", "seeds"), [], "detector.seeds:"),
        (("data", "bdd100k", "images", "sha256"), "xyz", "data.bdd100k.images.sha256:"),
    ],
)
def test_schema_error_names_the_key(config, path, value, expected):
    bad = copy.deepcopy(config)
    node = bad
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    errors = schema_errors(bad, SCHEMA)
    assert any(expected in e for e in errors), errors


@pytest.mark.parametrize(
    "path, text, shown",
    [
        (("cyclegan", "lr"), ".nan", "nan"),
        (("cyclegan", "lr"), ".inf", "inf"),
        (("cyclegan", "lambda_cycle"), ".inf", "inf"),
        (("cyclegan", "stop_before_walltime"), ".inf", "inf"),
        (("crop", "max_failure_fraction"), ".nan", "nan"),
        (("cyclegan", "shard_scale"), "-.inf", "-inf"),
    ],
)
def test_non_finite_numbers_are_refused_by_key(config, path, text, shown):
    """Issue 24: YAML's .nan and .inf pass JSON schema's comparisons; both checks name the key."""
    bad = copy.deepcopy(config)
    node = bad
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = yaml.safe_load(f"x: {text}")["x"]
    expected = f"{'.'.join(path)}: {shown} is not a finite number"
    assert expected in schema_errors(bad, SCHEMA)
    with pytest.raises(CycleAugError, match=expected):
        check_config(bad)


def test_cross_key_checks(config):
    bad = copy.deepcopy(config)
    bad["cyclegan"]["save_epochs"] = [1, 500]
    with pytest.raises(CycleAugError, match=r"cyclegan.save_epochs: \[500\]"):
        check_config(bad)
    bad = copy.deepcopy(config)
    bad["generate"]["sample_epochs"] = [7]
    with pytest.raises(CycleAugError, match="generate.sample_epochs"):
        check_config(bad)
    # The rules across one run's fields are the command's own (cycleaug.cyclegan.settings.across_fields).
    from cycleaug.cyclegan.settings import ModelConfig, TrainConfig, check

    bad = copy.deepcopy(config)
    bad["cyclegan"].update(crop_size=288, load_size=286)
    with pytest.raises(CycleAugError, match=r"cyclegan.crop_size \(288\) must not exceed load_size \(286\)"):
        check_config(bad)
    run = TrainConfig("a", "b", "o", model=ModelConfig(), crop_size=288, load_size=286, n_epochs=0, n_epochs_decay=0)
    assert check(run) == [
        "n_epochs + n_epochs_decay: must be at least 1 epoch in total",
        "crop_size (288) must not exceed load_size (286)",
    ]


def test_snakemake_refuses_bad_config_before_any_job(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("crop:\n  size: big\ncyclegan:\n  backend: mpi\n  lr: .nan\n")
    proc = run_snakemake(
        "--profile", "profiles/demo", "-n", "--configfile", "profiles/demo/demo.yaml", bad, check=False
    )
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "crop.size: 'big' is not of type 'integer'" in out
    assert "cyclegan.backend: 'mpi' is not one of" in out
    assert "cyclegan.lr: nan is not a finite number" in out


# ------------------------------------------------ one home per default, bound and choice: the dataclasses
def _schema_entry(schema: dict, entry: dict) -> dict:
    """A property's schema with its $ref resolved and a nullable oneOf reduced to its non-null branch."""
    if "$ref" in entry:
        entry = schema["$defs"][entry["$ref"].rsplit("/", 1)[1]]
    branches = [b for b in entry.get("oneOf", []) if b.get("type") != "null"]
    return _schema_entry(schema, branches[0]) if len(branches) == 1 and "oneOf" in entry else entry


def _sections():
    from cycleaug.cyclegan.settings import ModelConfig, TrainConfig
    from cycleaug.options import option_fields
    from cycleaug.yolo.settings import TrainConfig as YoloConfig

    return {
        "cyclegan": option_fields(ModelConfig) + option_fields(TrainConfig),
        "detector": option_fields(YoloConfig),
    }


def test_schema_states_the_settings_bounds_and_choices():
    """Each config key that is a command-line option has its bounds and choices on its dataclass field; the
    schema must say the same (it validates before any job runs, the field when the command runs)."""
    from cycleaug.options import BOUNDS

    schema = yaml.safe_load(SCHEMA.read_text())
    compared = 0
    for section, fields in _sections().items():
        properties = schema["properties"][section]["properties"]
        for f in fields:
            if f.name not in properties:
                continue
            entry = _schema_entry(schema, properties[f.name])
            assert {k: v for k, v in entry.items() if k in BOUNDS} == f.metadata["bounds"], (section, f.name)
            if "choices" in f.metadata:
                assert sorted(entry["enum"]) == sorted(f.metadata["choices"]), (section, f.name)
            compared += 1
    assert compared > 30
    # cyclegan.fast as a mapping: FastConfig's switches by their own names.
    from cycleaug.cyclegan.settings import FastConfig
    from cycleaug.options import option_fields

    fast = next(b for b in schema["properties"]["cyclegan"]["properties"]["fast"]["oneOf"] if b.get("type") == "object")
    switches = {f.name: f for f in option_fields(FastConfig) if isinstance(f.default, bool) or "choices" in f.metadata}
    assert set(fast["properties"]) == set(switches) | {"auto"}
    for name, f in switches.items():
        expected = {"type": "boolean"} if isinstance(f.default, bool) else {"enum": list(f.metadata["choices"])}
        assert {k: sorted(v) if k == "enum" else v for k, v in fast["properties"][name].items()} == {
            k: sorted(v) if k == "enum" else v for k, v in expected.items()
        }, name


def test_every_cyclegan_key_has_its_home_in_the_settings():
    """config.cyclegan keys are the settings' fields, but for the ones the workflow reads itself; config.yaml
    does not repeat the default of a key that does not decide the result (the fingerprint's left-out keys and
    the lr rule's reference and warm-up), but for the backend, the one the paper chose differently."""
    from cycleaug.cyclegan.train import LR_RULE, NOT_FINGERPRINTED
    from cycleaug.options import field_default

    schema = yaml.safe_load(SCHEMA.read_text())
    fields = {f.name: f for f in _sections()["cyclegan"]}
    workflow_keys = {"gpu_counts", "fast"}  # the rules per count; fast is FastConfig's, by its own names
    assert set(schema["properties"]["cyclegan"]["properties"]) - workflow_keys <= set(fields)
    operational = (set(NOT_FINGERPRINTED) | set(LR_RULE)) - {"backend", "lr_scaling"}
    cg = yaml.safe_load((ROOT / "config.yaml").read_text())["cyclegan"]
    repeated = {k for k, v in cg.items() if k in operational and v == field_default(fields[k])}
    assert repeated == set()


def test_the_job_names_are_the_rules_names():
    """cycleaug plan prices each job under the name of the rule that runs it (cycleaug.jobnames)."""
    import re

    from cycleaug import jobnames

    rules = "".join(p.read_text() for p in (ROOT / "workflow" / "rules").glob("*.smk"))
    for name in (jobnames.PRETRAIN_DETECTOR, jobnames.FID):
        assert re.search(rf"^\s*rule {name}:", rules, re.M), name


def test_the_fingerprint_takes_every_hyperparameter_but_those_left_out_on_purpose():
    from cycleaug.cyclegan.train import FINGERPRINT_MODEL, FINGERPRINT_RUN, LR_RULE, NOT_FINGERPRINTED

    fields = {f.name for f in _sections()["cyclegan"]}
    assert set(NOT_FINGERPRINTED) | set(LR_RULE) <= fields  # no stale name: each one leaves a field out
    assert set(FINGERPRINT_MODEL) | set(FINGERPRINT_RUN) == fields - set(NOT_FINGERPRINTED) - set(LR_RULE)
    # The keys of every run made so far: changing them would restart each (its latest.pt no longer matches).
    assert set(FINGERPRINT_MODEL) | set(FINGERPRINT_RUN) == {
        *("ngf", "ndf", "n_blocks", "lr", "beta1", "lambda_cycle", "lambda_identity", "pool_size"),
        *("load_size", "crop_size", "batch_size", "n_epochs", "n_epochs_decay", "shard_scale", "seed"),
        "compression",
    }


BOUND_CASES = [
    ("ngf", 0), ("ngf", 1), ("n_blocks", 0), ("lr", 0.0), ("lr", 1e-9), ("beta1", 1.0), ("beta1", 0.0),
    ("beta1", -0.1), ("crop_size", 30), ("crop_size", 12), ("crop_size", 32), ("load_size", 15),
    ("n_epochs", -1), ("n_epochs_decay", 0), ("shard_scale", 0.0), ("warmup_epochs", -0.5),
    ("lr_reference_gpus", 0), ("sync_every", -1), ("workers", 0), ("stop_before_walltime", -1.0),
    ("pool_size", -1), ("lambda_identity", -0.5),
]  # fmt: skip


@pytest.mark.parametrize(("key", "value"), BOUND_CASES)
def test_train_cyclegan_and_the_schema_agree_on_each_value(config, key, value):
    """The command's own check and the schema (an independent validator, jsonschema) accept and refuse the
    same values; a refusal names the flag and the value."""
    from cycleaug.cyclegan.settings import ModelConfig, TrainConfig, check

    model_keys = ModelConfig.__dataclass_fields__
    model = ModelConfig(**({key: value} if key in model_keys else {}))
    run = TrainConfig("a", "b", "o", model=model, **({} if key in model_keys else {key: value}))
    flag = "--" + key.replace("_", "-")
    problems = [p for p in check(run) if not p.startswith(("n_epochs + n_epochs_decay", "crop_size ("))]
    bad = copy.deepcopy(config)
    bad["cyclegan"][key] = value
    schema_says = [m for m in schema_errors(bad, SCHEMA) if m.startswith(f"cyclegan.{key}:")]
    assert bool(problems) == bool(schema_says), (problems, schema_says)
    assert all(p.startswith(f"{flag} {value}: expected ") for p in problems), problems
