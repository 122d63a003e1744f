"""Bad inputs of the training and checkpoint-reading commands, through the real command line: each row is
a case, how its input is made, and the exact text the one-line error must contain. Every case must exit
non-zero, print one line to stderr without a traceback, and leave the files it was given as they were
(nothing half-written beside them). The first row of each command runs the installed console script in a
process of its own; the others call the same ``cycleaug.cli.main`` in this process (``run_cli_here``),
which spares a torch import per row."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import run_cli, run_cli_here
from PIL import Image
from test_yolo_train import _train_cmd, draw_people_set, tiny_cfg

TINY_CYCLEGAN = ["--ngf", "4", "--ndf", "4", "--n-blocks", "1", "--load-size", "36", "--crop-size", "32"]
TINY_CYCLEGAN += ["--workers", "0", "--device", "cpu", "--n-epochs", "1", "--n-epochs-decay", "0"]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("inputs")
    rng = np.random.default_rng(0)
    for domain in ("a", "b"):
        (root / domain).mkdir()
        for i in range(3):
            Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(root / domain / f"{i}.png")
        (root / domain / "manifest.csv").write_text("crop,source\n")
    labels, images = draw_people_set(root / "set", 2, size=(64, 64))
    cfg = tiny_cfg(root / "tiny.cfg", max_batches=4, steps=(2, 3), batch=2)
    return {"root": root, "labels": labels, "images": images, "cfg": cfg}


def _zip_checkpoint(path: Path, obj) -> bytes:
    torch.save(obj, path)
    return path.read_bytes()


# How each broken file is made: (file name, writer of its bytes).
def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _yaml(path: Path) -> None:
    path.write_text("cyclegan:\n  lr: 0.0002\n  ngf: 64\n")


def _truncated(path: Path) -> None:
    data = _zip_checkpoint(path, {"format": "cycleaug.cyclegan/1", "w": torch.zeros(1000)})
    path.write_bytes(data[: len(data) // 2])


def _foreign_object(path: Path) -> None:
    torch.save({"args": argparse.Namespace(lr=1)}, path)


def _plain_dict(path: Path) -> None:
    torch.save({"weights": torch.zeros(3)}, path)


def _cyclegan(inputs, out: Path, make) -> list:
    (out / "checkpoints").mkdir(parents=True)
    make(out / "checkpoints" / "latest.pt")
    root = inputs["root"]
    return ["train-cyclegan", "--domain-a", root / "a", "--domain-b", root / "b", "--out", out, *TINY_CYCLEGAN]


def _yolo(inputs, out: Path, make) -> list:
    out.mkdir(parents=True)
    make(out / "last.pt")
    return _train_cmd(inputs["cfg"], inputs["labels"], inputs["images"], out)[1:]


def _yolo_with(extra: list):
    def build(inputs, out: Path, make) -> list:
        out.mkdir(parents=True)
        return [*_train_cmd(inputs["cfg"], inputs["labels"], inputs["images"], out)[1:], *extra]

    return build


def _yolo_pretrained_folder(inputs, out: Path, make) -> list:
    (out / "backbone").mkdir(parents=True)
    return [*_train_cmd(inputs["cfg"], inputs["labels"], inputs["images"], out)[1:], "--pretrained", out / "backbone"]


def _detect(inputs, out: Path, make) -> list:
    out.mkdir(parents=True)
    make(out / "weights.pt")
    return ["detect", "--cfg", inputs["cfg"], "--weights", out / "weights.pt", "--images", inputs["images"],
            "--out", out / "pred.json", "--device", "cpu"]  # fmt: skip


def _other_cfg_state_dict(path: Path) -> None:
    from cycleaug.yolo.cfg import load_cfg
    from cycleaug.yolo.model import Darknet

    torch.save(Darknet(load_cfg("yolov3-tiny-person.cfg")).state_dict(), path)


def _generate(inputs, out: Path, make) -> list:
    out.mkdir(parents=True)
    make(out / "G.pth")
    return ["generate", "--checkpoint", out / "G.pth", "--input", inputs["root"] / "a", "--output", out / "gen"]


def _bad_generator(path: Path) -> None:
    from cycleaug.cyclegan.networks import ResnetGenerator

    state = ResnetGenerator(ngf=4, n_blocks=1).state_dict()
    state["model.10.conv_block.5.weight"] = torch.zeros(16, 16, 3, 1)
    torch.save(state, path)


def _fid(inputs, out: Path, make) -> list:
    out.mkdir(parents=True)
    make(out / "inception.pth")
    root = inputs["root"]
    return ["fid", root / "a", root / "b", "--weights", out / "inception.pth", "--dims", "64", "--device", "cpu"]


def _cli_only(extra: list):
    def build(inputs, out: Path, make) -> list:
        out.mkdir(parents=True)
        root = inputs["root"]
        return ["train-cyclegan", "--domain-a", root / "a", "--domain-b", root / "b", "--out", out / "run",
                *TINY_CYCLEGAN, *extra]  # fmt: skip

    return build


CYCLEGAN = "expected a cycleaug CycleGAN checkpoint, format 'cycleaug.cyclegan/1'"
YOLO = "expected a train-yolo checkpoint (last.pt or best.pt of cycleaug train-yolo)"
CASES = [
    # (case, command, how the file is made, the text the error must contain: one string, or parts in order)
    ("cyclegan latest.pt empty", _cyclegan, _empty, f"checkpoints/latest.pt: empty file ({CYCLEGAN})"),
    ("cyclegan latest.pt YAML", _cyclegan, _yaml, f"checkpoints/latest.pt: not a PyTorch checkpoint ({CYCLEGAN})"),
    ("cyclegan latest.pt truncated", _cyclegan, _truncated, "checkpoints/latest.pt: truncated or damaged PyTorch file"),
    (
        "cyclegan latest.pt pickles code",
        _cyclegan,
        _foreign_object,
        "checkpoints/latest.pt: holds a Python object (argparse.Namespace) that a safe (weights_only) load refuses",
    ),
    (
        "cyclegan latest.pt foreign dict",
        _cyclegan,
        _plain_dict,
        "checkpoints/latest.pt: not a cycleaug CycleGAN checkpoint (format 'cycleaug.cyclegan/1' expected)",
    ),
    ("cyclegan --lr nan", _cli_only(["--lr", "nan"]), None, "--lr nan: expected a finite number"),
    (
        "cyclegan --lambda-cycle inf",
        _cli_only(["--lambda-cycle", "inf"]),
        None,
        "--lambda-cycle inf: expected a finite",
    ),
    # Bounds declared on the settings' fields (the schema states the same for the config keys).
    ("cyclegan --crop-size 30", _cli_only(["--crop-size", "30"]), None, "--crop-size 30: expected a multiple of 4"),
    ("cyclegan --beta1 1", _cli_only(["--beta1", "1"]), None, "--beta1 1.0: expected < 1"),
    ("yolo --img-size 100", _yolo_with(["--img-size", "100"]), None, "--img-size 100: expected a multiple of 32"),
    ("yolo last.pt empty", _yolo, _empty, f"last.pt: empty file ({YOLO})"),
    ("yolo last.pt YAML", _yolo, _yaml, f"last.pt: not a PyTorch checkpoint ({YOLO})"),
    ("yolo last.pt truncated", _yolo, _truncated, "last.pt: truncated or damaged PyTorch file ("),
    ("yolo last.pt pickles code", _yolo, _foreign_object, "last.pt: holds a Python object (argparse.Namespace)"),
    (
        "yolo last.pt foreign dict",
        _yolo,
        _plain_dict,
        f"last.pt: no model, optimizer, torch_rng, iteration, seen, history, best, avg_loss, elapsed; {YOLO}",
    ),
    (
        "yolo --pretrained a folder",
        _yolo_pretrained_folder,
        None,
        "backbone: cannot read (Is a directory; expected a darknet .weights file)",
    ),
    ("detect weights truncated", _detect, _truncated, "weights.pt: truncated or damaged PyTorch file ("),
    (
        "detect weights of another cfg",
        _detect,
        _other_cfg_state_dict,
        ("weights.pt: checkpoint does not fit ", "tiny.cfg: layers.0.conv.weight has shape 16x3x3x3, expected 8x3x3x3"),
    ),
    (
        "generate generator of the wrong shape",
        _generate,
        _bad_generator,
        "model.10.conv_block.5.weight has shape 16x16x3x1, expected 16x16x3x3 for ResnetGenerator",
    ),
    ("fid weights YAML", _fid, _yaml, "inception.pth: not a PyTorch checkpoint (expected the FID Inception state dict"),
    ("fid weights empty", _fid, _empty, "inception.pth: empty file (expected the FID Inception state dict"),
]


def _files(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``folder`` (but a run folder's lock) with its size and mtime."""
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != "lock"
    }


# One case of each command through the console script.
IN_A_PROCESS = {
    "cyclegan latest.pt empty",
    "yolo last.pt empty",
    "detect weights truncated",
    "generate generator of the wrong shape",
    "fid weights YAML",
}
assert IN_A_PROCESS <= {c[0] for c in CASES}


@pytest.mark.parametrize("case, command, make, message", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_and_writes_nothing(inputs, tmp_path, capfd, case, command, make, message):
    out = tmp_path / "out"
    args = command(inputs, out, make)
    before = _files(out)
    proc = run_cli(*args, check=False) if case in IN_A_PROCESS else run_cli_here(capfd, *args, check=False)
    assert proc.returncode != 0, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if ": error: " in line]
    assert len(errors) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert all(part in errors[0] for part in ((message,) if isinstance(message, str) else message)), errors[0]
    assert _files(out) == before, "files were written or changed"


def test_generator_errors_name_the_file(tmp_path):
    """cyclegan.networks names the file it was given and the first key that does not fit, both shapes."""
    from cycleaug.cyclegan.networks import ResnetGenerator, generator_from_state_dict
    from cycleaug.errors import CycleAugError

    state = ResnetGenerator(ngf=4, n_blocks=1).state_dict()
    state["model.10.conv_block.5.weight"] = torch.zeros(16, 16, 3, 1)
    with pytest.raises(CycleAugError) as err:
        generator_from_state_dict(state, source=tmp_path / "G.pth")
    assert str(err.value) == (
        f"{tmp_path / 'G.pth'}: model.10.conv_block.5.weight has shape 16x16x3x1, expected 16x16x3x3 for "
        "ResnetGenerator (ngf 4, 1 residual blocks)"
    )
    del state["model.10.conv_block.5.weight"]
    with pytest.raises(CycleAugError, match=r"G.pth: key model.10.conv_block.5.weight is missing"):
        generator_from_state_dict(state, source=tmp_path / "G.pth")
    with pytest.raises(CycleAugError, match=r"G.pth: no 4-d tensor 'model.1.weight'"):
        generator_from_state_dict({"x": torch.zeros(1)}, source=tmp_path / "G.pth")
