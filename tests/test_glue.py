"""The config-to-command glue (cycleaug.glue) and the command line it feeds.

- every `cycleaug.commands` module is in the CLI's explicit table, and each rule file imports its glue
  from its own stage's module only, reading no global another rule file defines;
- `train-cyclegan`'s options are config.yaml's cyclegan keys: the command the workflow builds from the
  paper config parses back into exactly those values (defaults from the dataclasses, nothing dropped);
- horovodrun's parser hands that command to the processes whole (it used to read `--a` as `--autotune`).
"""

from __future__ import annotations

import pkgutil
import re
import shlex
import sys
from dataclasses import asdict

import pytest
import yaml
from conftest import ROOT
from cycleaug import commands
from cycleaug.cli import COMMANDS, get_args_parser
from cycleaug.config_check import check_config
from cycleaug.cyclegan.settings import FastConfig, ModelConfig, TrainConfig, fast_settings
from cycleaug.errors import CycleAugError
from cycleaug.glue import cyclegan as glue_cyclegan

RULES = ROOT / "workflow" / "rules"


def paper_config() -> dict:
    return yaml.safe_load((ROOT / "config.yaml").read_text())


def test_cli_table_lists_every_command_module():
    modules = {f"cycleaug.commands.{m.name}" for m in pkgutil.iter_modules(commands.__path__)}
    assert set(COMMANDS.values()) == modules
    assert all(name == path.rsplit(".", 1)[1].replace("_", "-") for name, path in COMMANDS.items())


# The glue modules a rule file may read besides its own stage's: the shared paths and target lists, and for
# the ablation the generate stage whose rules it reuses (`use rule ... as ablation_lr_*`).
SHARED_GLUE = {"paths", "common"}
ALSO = {"ablation": {"generate"}, "detect": set()}


def test_each_rule_file_takes_its_glue_from_its_own_stage_module():
    defined = {}
    for path in sorted(RULES.glob("*.smk")):
        text = path.read_text()
        if path.stem == "common":
            continue
        imports = re.findall(r"^from cycleaug\.glue import (.+)$", text, re.M)
        assert len(imports) == 1, (path.name, imports)
        modules = [m.strip() for m in imports[0].split(",")]
        assert modules[0] == f"{path.stem} as glue", (path.name, modules)
        assert set(modules[1:]) <= SHARED_GLUE | ALSO.get(path.stem, set()), (path.name, modules)
        others = re.findall(r"^from cycleaug\.(?!glue )(\S+) import", text, re.M)
        assert set(others) <= {"jobnames", "yolo.conditions", "yolo.table2", "acquire.sources"}, (path.name, others)
        defined[path.stem] = set(re.findall(r"^([A-Z_][A-Z0-9_]*) = ", text, re.M))
    for path in sorted(RULES.glob("*.smk")):
        text = path.read_text()
        for other, names in defined.items():
            if other != path.stem:
                used = {n for n in names if re.search(rf"\b{n}\b", text)}
                assert not used, f"{path.name} reads {used} defined in {other}.smk"


def test_every_rule_names_the_program_it_runs():
    for path in sorted(RULES.glob("*.smk")):
        for block in re.split(r"\n(?=\S|    rule:)", path.read_text()):
            if "shell:" in block:
                shell = block.split("shell:", 1)[1]
                program = re.search(r"\bcycleaug ([a-z0-9-]+)", shell)
                assert program and program.group(1) in COMMANDS, (path.name, shell[:200])


def test_train_options_are_the_config_keys_and_parse_back_to_their_values():
    config = paper_config()
    cg = config["cyclegan"]
    words = shlex.split(glue_cyclegan.train_options(config))
    flags = {w[2:].replace("-", "_") for w in words if w.startswith("--")}
    flags = {f[3:] if f.startswith("no_") else f for f in flags}
    # Every key of the cyclegan block is passed, by its own name (gpu_counts chooses the rules); fast: auto
    # as --fast-auto with the searched switches, and the switches it fixes.
    fast = fast_settings(cg["fast"])
    flags = {"auto" if f == "fast_auto" else f for f in flags}
    assert set(cg) - {"gpu_counts", "fast"} | set(fast) <= flags
    args = get_args_parser().parse_args(["train-cyclegan", "--domain-a", "A", "--domain-b", "B", "--out", "R", *words])
    assert (args.a_dir, args.b_dir, args.out_dir) == ("A", "B", "R")
    for key in asdict(ModelConfig()):
        assert getattr(args, key) == cg[key], key
    for key, value in asdict(FastConfig(**fast)).items():
        assert getattr(args, key) == (list(value) if isinstance(value, tuple) else value), key
    for key in set(cg) & set(TrainConfig.__dataclass_fields__) - {"save_epochs", "fast", "lr_reference_gpus"}:
        assert getattr(args, key) == cg[key], key
    # The lr rule's reference count: unset in the config means the smallest GPU count.
    assert "lr_reference_gpus" not in cg and args.lr_reference_gpus == min(cg["gpu_counts"]) == 4
    assert list(args.save_epochs) == [e for e in cg["save_epochs"] if e <= cg["n_epochs"] + cg["n_epochs_decay"]]
    assert args.seed == config["seed"]


def test_train_cyclegan_defaults_come_from_the_dataclasses():
    args = get_args_parser().parse_args(["train-cyclegan", "--domain-a", "A", "--domain-b", "B", "--out", "R"])
    for cls in (ModelConfig, FastConfig):
        assert {k: getattr(args, k) for k in asdict(cls())} == asdict(cls())
    assert args.n_epochs == TrainConfig.n_epochs and args.shard_scale == TrainConfig.shard_scale


def test_launcher_template_is_what_comes_before_the_command():
    config = {**paper_config(), "gpus_per_node": 8}
    config["launcher"] = "mpirun -np {n} -map-by ppr:{ppn}:node --host-count {nodes} {cmd} "
    assert glue_cyclegan.launcher(config, 64) == "mpirun -np 64 -map-by ppr:8:node --host-count 8"
    for bad in ("srun {cmd} {cmd}", "mpirun {cmd} --tail", "mpirun"):
        config["launcher"] = bad
        with pytest.raises(CycleAugError, match="expected {cmd} once, at the end"):
            glue_cyclegan.launcher(config, 4)
        with pytest.raises(CycleAugError, match="expected {cmd} once, at the end"):
            check_config(config)  # before any rule is built: one line from the Snakefile's config check


@pytest.mark.horovod
def test_horovodrun_passes_the_training_command_whole(monkeypatch):
    launch = pytest.importorskip("horovod.runner.launch", reason="horovod not installed (make horovod)")
    config = paper_config()
    command = [
        "cycleaug",
        "train-cyclegan",
        "--domain-a",
        "A",
        "--domain-b",
        "B",
        "--out",
        "R",
        *shlex.split(glue_cyclegan.train_options(config)),
    ]
    monkeypatch.setattr(sys, "argv", ["horovodrun", "-np", "2", "--gloo", *command])
    assert launch.parse_args().command == command
