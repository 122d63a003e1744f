"""Generation for the detector and the FID curve: `cycleaug generate --list/--labels-out` and the rules
of workflow/rules/generate.smk.

A listed set is translated at native size (reflection padding to a multiple of 4, cropped back), so
every box stays valid and the labels file carries the same boxes under the output names. Pixels are
checked against an independent computation: numpy's reflection padding, the network, a crop.
"""

from __future__ import annotations

import csv
import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from conftest import BIN, ROOT, generate_here, kill_once_staged, run_snakemake, workflow_command
from cycleaug.cli import main as cli
from cycleaug.glue import common, paths
from cycleaug.glue import generate as glue_generate
from PIL import Image
from torch import nn

torch.set_num_threads(1)


# ---- a tiny generator in the reference's layout (junyanz/pytorch-CycleGAN-and-pix2pix,
# models/networks.py ResnetGenerator: one nn.Sequential `model`, norm "instance", no dropout) ---------


class _Block(nn.Module):
    def __init__(self, d: int):
        super().__init__()
        self.conv_block = nn.Sequential(
            nn.ReflectionPad2d(1),
            nn.Conv2d(d, d, 3),
            nn.InstanceNorm2d(d),
            nn.ReLU(True),
            nn.ReflectionPad2d(1),
            nn.Conv2d(d, d, 3),
            nn.InstanceNorm2d(d),
        )

    def forward(self, x):
        return x + self.conv_block(x)


class _Generator(nn.Module):
    def __init__(self, seq: list[nn.Module]):
        super().__init__()
        self.model = nn.Sequential(*seq)

    def forward(self, x):
        return self.model(x)


def reference_generator(ngf: int = 4, n_blocks: int = 1, seed: int = 0) -> nn.Module:
    g = ngf
    seq = [
        nn.ReflectionPad2d(3),
        nn.Conv2d(3, g, 7),
        nn.InstanceNorm2d(g),
        nn.ReLU(True),
        nn.Conv2d(g, 2 * g, 3, 2, 1),
        nn.InstanceNorm2d(2 * g),
        nn.ReLU(True),
        nn.Conv2d(2 * g, 4 * g, 3, 2, 1),
        nn.InstanceNorm2d(4 * g),
        nn.ReLU(True),
    ]
    seq += [_Block(4 * g) for _ in range(n_blocks)]
    seq += [
        nn.ConvTranspose2d(4 * g, 2 * g, 3, 2, 1, output_padding=1),
        nn.InstanceNorm2d(2 * g),
        nn.ReLU(True),
        nn.ConvTranspose2d(2 * g, g, 3, 2, 1, output_padding=1),
        nn.InstanceNorm2d(g),
        nn.ReLU(True),
        nn.ReflectionPad2d(3),
        nn.Conv2d(g, 3, 7),
        nn.Tanh(),
    ]
    net = _Generator(seq)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.2)
    return net


def save_checkpoint(path: Path, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(reference_generator(seed=seed).state_dict(), path)
    return path


def expected_translation(net: nn.Module, img: np.ndarray) -> np.ndarray:
    """G on the image reflect-padded (right/bottom) to multiples of 4, cropped back, as uint8."""
    h, w = img.shape[:2]
    x = (img.astype(np.float32) / 255 - 0.5) / 0.5
    x = np.pad(x.transpose(2, 0, 1), ((0, 0), (0, -h % 4), (0, -w % 4)), mode="reflect")
    with torch.no_grad():
        y = net(torch.from_numpy(x)[None])[0, :, :h, :w]
    return ((y + 1) / 2 * 255).round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()


def write_image(path: Path, width: int, height: int, seed: int) -> np.ndarray:
    """A smooth image (JPEG stays close to it) with noise; returns the pixels as read back."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    base = np.stack([xx * 255 / width, yy * 255 / height, (xx + yy) * 127 / (width + height)], -1)
    img = np.clip(base + rng.normal(0, 20, base.shape), 0, 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(img).save(path)
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def frame(name: str, w: int, h: int, boxes: list[tuple[float, float, float, float]]) -> dict:
    """A frame as select-detector-sets writes it (BDD100K detection JSON, image size in attributes)."""
    return {
        "name": name,
        "attributes": {"weather": "clear", "width": w, "height": h},
        "labels": [
            {"id": str(i), "category": "pedestrian", "box2d": {"x1": b[0], "y1": b[1], "x2": b[2], "y2": b[3]}}
            for i, b in enumerate(boxes)
        ],
    }


# ---- `cycleaug generate --list ... --labels-out ...` ---------------------------------------------


@pytest.fixture()
def listed_set(tmp_path):
    """SYNTHIA-like folder: 70x45 and 52x38 images (no side a multiple of 4), one JPEG, one unlisted."""
    src = tmp_path / "RGB"
    pixels = {
        "0000001.png": write_image(src / "0000001.png", 70, 45, 1),
        "0000002.png": write_image(src / "0000002.png", 52, 38, 2),
        "0000003.png": write_image(src / "0000003.png", 70, 45, 3),
        "0000004.jpg": write_image(src / "0000004.jpg", 70, 45, 4),
    }
    write_image(src / "0000005.png", 70, 45, 5)  # not listed: must not be translated
    frames = [
        frame("0000003.png", 70, 45, [(0.0, 0.0, 70.0, 45.0), (10.5, 4.25, 20.75, 40.0)]),
        frame("0000002.png", 52, 38, [(30.0, 2.0, 52.0, 38.0)]),
        frame("0000004.jpg", 70, 45, []),
        frame("0000001.png", 70, 45, [(1.0, 2.0, 3.0, 4.0)]),
    ]
    (tmp_path / "synthetic.json").write_text(json.dumps(frames, indent=1))
    return tmp_path, src, frames, pixels


def test_listed_set_keeps_sizes_boxes_and_pixels(listed_set):
    tmp_path, src, frames, pixels = listed_set
    ckpt = save_checkpoint(tmp_path / "200_net_G_A.pth")
    out, labels = tmp_path / "gen/images", tmp_path / "gen/labels.json"
    # Batch 2 over mixed sizes: the three 70x45 images go in batches of 2 and 1, the 52x38 one alone.
    options = ["--list", tmp_path / "synthetic.json", "--output", out, "--labels-out", labels]
    assert generate_here(ckpt, src, *options, "--batch-size", "2", "--device", "cpu") == 0

    # Exactly the listed images, as <stem>.png.
    assert sorted(p.name for p in out.iterdir()) == ["0000001.png", "0000002.png", "0000003.png", "0000004.png"]
    net = reference_generator(seed=0).eval()
    for name, img in pixels.items():
        with Image.open(out / f"{Path(name).stem}.png") as im:
            assert (im.size, im.mode) == ((img.shape[1], img.shape[0]), "RGB")
            got = np.asarray(im)
        diff = np.abs(got.astype(int) - expected_translation(net, img).astype(int))
        assert diff.max() <= 1, name  # float noise between batched and single passes may flip a rounding

    # Labels: the list's frames in its order, same boxes and attributes, names of the outputs.
    written = json.loads(labels.read_text())
    assert [f["name"] for f in written] == ["0000003.png", "0000002.png", "0000004.png", "0000001.png"]
    for new, old in zip(written, frames):
        assert new["attributes"] == old["attributes"]
        assert [(lab["category"], lab["box2d"]) for lab in new["labels"]] == [
            (lab["category"], lab["box2d"]) for lab in old["labels"]
        ]
        with Image.open(out / new["name"]) as im:
            w, h = im.size
        for lab in new["labels"]:
            b = lab["box2d"]
            assert 0 <= b["x1"] <= b["x2"] <= w and 0 <= b["y1"] <= b["y2"] <= h


def test_batched_equals_one_by_one(listed_set, tmp_path):
    _, src, _, _ = listed_set
    ckpt = save_checkpoint(tmp_path / "1_net_G_A.pth", seed=3)
    assert generate_here(ckpt, src, "--output", tmp_path / "b8", "--batch-size", "8", "--device", "cpu") == 0
    assert generate_here(ckpt, src, "--output", tmp_path / "b1", "--batch-size", "1", "--device", "cpu") == 0
    names = sorted(p.name for p in (tmp_path / "b1").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "b8").iterdir()) and len(names) == 5
    for name in names:
        a = np.asarray(Image.open(tmp_path / "b8" / name)).astype(int)
        b = np.asarray(Image.open(tmp_path / "b1" / name)).astype(int)
        assert np.abs(a - b).max() <= 1


def test_one_call_translates_with_every_checkpoint_as_separate_calls_would(listed_set, tmp_path, capsys):
    """The samples rule's form: --checkpoint/--output pairs (every saved epoch of a GPU count in one job)."""
    _, src, _, pixels = listed_set
    ckpts = [save_checkpoint(tmp_path / f"{e}_net_G_A.pth", seed=e) for e in (1, 2)]
    pairs = [
        a for e, ckpt in zip((1, 2), ckpts) for a in ("--checkpoint", str(ckpt), "--output", str(tmp_path / f"e{e}"))
    ]
    assert cli(["generate", *pairs, "--input", str(src), "--device", "cpu"]) == 0
    for e in (1, 2):
        net = reference_generator(seed=e).eval()
        for name, img in pixels.items():
            got = np.asarray(Image.open(tmp_path / f"e{e}" / f"{Path(name).stem}.png")).astype(int)
            assert np.abs(got - expected_translation(net, img).astype(int)).max() <= 1, (e, name)
    # The two generators differ, so the pairs were not mixed up.
    a, b = (np.asarray(Image.open(tmp_path / f"e{e}" / "0000001.png")).astype(int) for e in (1, 2))
    assert np.abs(a - b).max() > 1
    # An --output short: a clear error before anything is written.
    capsys.readouterr()
    assert cli(["generate", *pairs[:4], "--checkpoint", str(ckpts[1]), "--input", str(src)]) != 0
    assert "2 --checkpoint and 1 --output: expected one --output per --checkpoint" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("e")) == ["e1", "e2"]


def test_nested_frame_names_keep_their_folders(tmp_path):
    """SYNTHIA-SEQS frames are RGB/Stereo_Left/Omni_F/000000.png etc.: the same stem in every camera folder.
    The translated set keeps the relative paths (no collision), and its labels name those files."""
    src = tmp_path / "RGB"
    names = ["Stereo_Left/Omni_F/000000.png", "Stereo_Right/Omni_F/000000.png", "Stereo_Left/Omni_B/000001.png"]
    for i, name in enumerate(names):
        write_image(src / name, 36, 28, i)
    (tmp_path / "synthetic.json").write_text(json.dumps([frame(n, 36, 28, [(1.0, 2.0, 9.0, 20.0)]) for n in names]))
    ckpt = save_checkpoint(tmp_path / "200_net_G_A.pth")
    out, labels = tmp_path / "gen/images", tmp_path / "gen/labels.json"
    listed = ["--list", tmp_path / "synthetic.json"]
    assert generate_here(ckpt, src, *listed, "--output", out, "--labels-out", labels, "--device", "cpu") == 0
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*.png")) == sorted(names)
    written = json.loads(labels.read_text())
    assert [f["name"] for f in written] == names and all((out / f["name"]).is_file() for f in written)
    # The detector reads that labels file with the translated folder (condition (c)-(g)'s --train set).
    from cycleaug.yolo.data import load_samples

    assert len(load_samples(str(labels), str(out))) == 3
    # A frame name that would leave the output folder is refused before anything is written.
    (tmp_path / "evil.json").write_text(json.dumps([frame("../escape.png", 36, 28, [])]))
    write_image(tmp_path / "escape.png", 36, 28, 9)
    evil = ["--list", tmp_path / "evil.json", "--output", tmp_path / "gen2"]
    assert generate_here(ckpt, src, *evil, "--device", "cpu") != 0
    assert not (tmp_path / "gen2").exists()


def test_list_errors_leave_no_output(listed_set, capsys):
    tmp_path, src, frames, _ = listed_set
    ckpt = save_checkpoint(tmp_path / "2_net_G_A.pth")
    out = tmp_path / "out"

    def generate(list_frames, *extra):
        (tmp_path / "list.json").write_text(json.dumps(list_frames))
        return generate_here(ckpt, src, "--list", tmp_path / "list.json", "--output", out, "--device", "cpu", *extra)

    assert generate(frames + [frame("missing.png", 70, 45, [])]) == 2
    assert "1 listed image(s) not in" in capsys.readouterr().err and not out.exists()
    assert generate(frames + [frame("0000001.jpg", 70, 45, [])]) == 2  # same output name as 0000001.png
    assert "would both be written as 0000001.png" in capsys.readouterr().err
    # A failure after the first size group was written: the new folder must not appear half-filled.
    Image.fromarray(np.zeros((2, 2, 3), np.uint8)).save(src / "tiny.png")
    assert generate(frames + [frame("tiny.png", 2, 2, [])], "--labels-out", str(tmp_path / "l.json")) == 2
    assert "too small" in capsys.readouterr().err
    assert not out.exists() and not (tmp_path / "l.json").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out")] == []
    # A recorded size that differs from the image's is an error naming both.
    bad = [frame("0000001.png", 64, 45, [])]
    assert generate(bad, "--labels-out", str(tmp_path / "l.json")) == 2
    assert "records a 64x45 image" in capsys.readouterr().err and not (tmp_path / "l.json").exists()
    assert generate_here(ckpt, src, "--output", out, "--labels-out", tmp_path / "l.json") == 2
    assert "--labels-out: needs --list" in capsys.readouterr().err


def test_generate_into_an_existing_output_holds_one_run_only(listed_set, tmp_path):
    """`generate` into a folder that holds an earlier run's images (another epoch's generator, more
    inputs): the folder is replaced whole, so it never mixes the images of two runs (issue 24, item 6)."""
    _, src, _, pixels = listed_set
    out = tmp_path / "samples"
    first = save_checkpoint(tmp_path / "1_net_G_A.pth", seed=1)
    assert generate_here(first, src, "--output", out) == 0
    assert len(list(out.glob("*.png"))) == 5
    fewer = tmp_path / "fewer"
    fewer.mkdir()
    for name in ("0000001.png", "0000002.png"):
        (fewer / name).write_bytes((src / name).read_bytes())
    second = save_checkpoint(tmp_path / "2_net_G_A.pth", seed=2)
    assert generate_here(second, fewer, "--output", out) == 0
    assert sorted(p.name for p in out.iterdir()) == ["0000001.png", "0000002.png"]
    net = reference_generator(seed=2).eval()
    for name in ("0000001.png", "0000002.png"):
        got = np.asarray(Image.open(out / name)).astype(int)
        assert np.abs(got - expected_translation(net, pixels[name]).astype(int)).max() <= 1
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".samples")) == []


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_killed_generate_rerun_gives_the_uninterrupted_output(tmp_path):
    """SIGKILL once the stage folder holds translated images, then the same command again: the output
    equals an uninterrupted run's, file for file, and the killed run's stage folder is gone."""
    src = tmp_path / "crops"
    for i in range(60):
        write_image(src / f"{i:04d}.png", 96, 64, i)
    ckpt = save_checkpoint(tmp_path / "3_net_G_A.pth", seed=3)
    args = ["generate", "--checkpoint", str(ckpt), "--input", str(src), "--batch-size", "1", "--device", "cpu"]
    ref, out = tmp_path / "ref", tmp_path / "run" / "epoch3"
    assert cli([*args, "--output", str(ref)]) == 0
    kill_once_staged([str(BIN / "cycleaug"), *args, "--output", str(out)], out.parent, ".epoch3.stage")
    assert [p.name.split("-")[0] for p in out.parent.iterdir()] == [".epoch3.stage"]
    assert cli([*args, "--output", str(out)]) == 0
    assert _tree(out) == _tree(ref)
    assert [p.name for p in out.parent.iterdir()] == ["epoch3"]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu(listed_set):
    tmp_path, src, _, _ = listed_set
    ckpt = save_checkpoint(tmp_path / "2_net_G_A.pth", seed=4)
    for device in ("cpu", "cuda"):
        options = ["--list", tmp_path / "synthetic.json", "--output", tmp_path / device, "--device", device]
        assert generate_here(ckpt, src, *options) == 0
    for p in (tmp_path / "cpu").iterdir():
        diff = np.asarray(Image.open(p)).astype(int) - np.asarray(Image.open(tmp_path / "cuda" / p.name)).astype(int)
        assert np.abs(diff).max() <= 2


# ---- rules --------------------------------------------------------------------------------------


def demo_config(**sections) -> dict:
    from snakemake.utils import update_config

    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    update_config(config, yaml.safe_load((ROOT / "profiles/demo/demo.yaml").read_text()))
    update_config(config, sections)
    return config


def saved_epochs(config: dict) -> list[int]:
    """The configured save epochs within the run, and always the last (cyclegan.save_epochs' comment)."""
    cg = config["cyclegan"]
    last = cg["n_epochs"] + cg["n_epochs_decay"]
    return sorted({e for e in cg["save_epochs"] if e <= last} | {last})


# Two saved epochs whatever the demo trains, so that the expected strings can be written out.
TWO_EPOCHS = {"n_epochs": 1, "n_epochs_decay": 1, "save_epochs": [1, 2]}
TWO_SAMPLE_EPOCHS = {"sample_epochs": [1, 2]}  # Fig. 5 rows must be saved epochs


def test_rule_arguments():
    config = demo_config(cyclegan={"gpu_counts": [1, 2], **TWO_EPOCHS})
    assert glue_generate.fid_runs(config) == (
        "1:1:results/samples/1gpu/epoch1 1:2:results/samples/1gpu/epoch2 "
        "2:1:results/samples/2gpu/epoch1 2:2:results/samples/2gpu/epoch2"
    )
    dims, batch = config["fid"]["dims"], config["fid"]["batch_size"]
    assert glue_generate.fid_weights_file(config) == []
    device = config["device"]  # the demo's auto; config.yaml's cuda at paper scale
    assert glue_generate.fid_options(config) == (
        f"--weights random-init --dims {dims} --batch-size {batch} --device {device}"
    )
    assert (
        glue_generate.generate_options(config) == f"--batch-size {config['generate']['batch_size']} --device {device}"
    )
    paper = demo_config(cyclegan={"gpu_counts": [1, 2]}, fid={"weights": "pretrained"}, data_dir="d")
    assert glue_generate.fid_weights_file(paper) == ["d/pretrained/pt_inception-2015-12-05-6726825d.pth"]
    assert glue_generate.fid_options(paper).startswith("--weights d/pretrained/pt_inception-2015-12-05-6726825d.pth ")
    assert common.generate_targets(config) == [
        "results/samples/1gpu/epoch1",
        "results/samples/1gpu/epoch2",
        "results/samples/2gpu/epoch1",
        "results/samples/2gpu/epoch2",
        "results/generated/1gpu/images",
        "results/generated/2gpu/images",
        "results/generated/1gpu/labels.json",
        "results/generated/2gpu/labels.json",
        "results/fid/fid.csv",
        "results/fid/paired.csv",  # demo data: the paired-truth distances
    ]
    assert paths.paired_truth(config) == "data/raw/synthia/PAIRED/RGB"
    assert glue_generate.final_net(config, 2) == "results/cyclegan/2gpu/checkpoints/2_net_G_A.pth"


def job_counts(text: str) -> dict[str, int]:
    """The "Job stats" table of a dry run."""
    table = text.split("Job stats:", 1)[1].split("total", 1)[0]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M)}


def dry_run(tmp_path: Path, overrides: dict, *targets: str) -> str:
    over = tmp_path / "overrides.yaml"
    over.write_text(yaml.safe_dump(overrides))
    args = workflow_command(
        tmp_path, *targets, "-n", "-p", "--cores", "2", configfiles=(ROOT / "profiles/demo/demo.yaml", over)
    )
    proc = run_snakemake(*args)
    return proc.stdout + proc.stderr


def test_demo_dry_run_jobs(tmp_path):
    text = dry_run(tmp_path, {}, "generate")
    counts = job_counts(text)
    # One samples job per GPU count (all its saved epochs), one translated detector set per GPU count, one FID
    # table.
    config = demo_config()
    gpus, epochs = config["cyclegan"]["gpu_counts"], saved_epochs(config)
    assert len(gpus) >= 2 and len(epochs) >= 2
    assert {k: counts.get(k) for k in ("samples", "translate_detector_set", "fid", "generate")} == {
        "samples": len(gpus),
        "translate_detector_set": len(gpus),
        "fid": 1,
        "generate": 1,
    }
    assert all(counts[f"train_cyclegan_{n}gpu"] == 1 for n in gpus)
    runs = " ".join(f"{n}:{e}:results/samples/{n}gpu/epoch{e}" for n in gpus for e in epochs)
    assert (
        f"cycleaug fid-table --real data/crops/bdd100k --runs {runs} --out results/fid/fid.csv "
        f"--weights random-init --dims {config['fid']['dims']} --batch-size {config['fid']['batch_size']} "
        f"--device {config['device']} --cache-dir results/fid/cache"
    ) in text
    for n in gpus:
        assert (
            f"cycleaug generate --checkpoint results/cyclegan/{n}gpu/checkpoints/{epochs[-1]}_net_G_A.pth "
            f"--input data/raw/synthia/RGB --list results/detector/selection/synthetic.json "
            f"--output results/generated/{n}gpu/images --labels-out results/generated/{n}gpu/labels.json"
        ) in text
        pairs = " ".join(
            f"--checkpoint results/cyclegan/{n}gpu/checkpoints/{e}_net_G_A.pth --output results/samples/{n}gpu/epoch{e}"
            for e in epochs
        )
        assert f"cycleaug generate {pairs} --input data/crops/synthia_heldout " in text
    # Published weights: fetched first (acquire.smk), then passed to fid-table.
    text = dry_run(tmp_path, {"fid": {"weights": "pretrained"}}, "results/fid/fid.csv")
    assert job_counts(text)["fetch_inception"] == 1
    assert "--weights data/pretrained/pt_inception-2015-12-05-6726825d.pth" in text


def pngs(folder: Path) -> list[str]:
    """Image files of a directory() output (Snakemake adds a hidden .snakemake_timestamp)."""
    return sorted(p.name for p in folder.iterdir() if p.suffix == ".png")


@pytest.mark.slow
def test_generate_rules_run(tmp_path):
    """samples, translate_detector_set, fid and paired_distance for real on tiny inputs (upstream outputs
    put in place)."""
    rng = np.random.default_rng(0)
    for name, n in (("bdd100k", 6), ("synthia", 2), ("synthia_heldout", 3)):
        for i in range(n):
            write_image(tmp_path / f"data/crops/{name}/{name}_{i}.png", 32, 32, int(rng.integers(1 << 30)))
    # The held-out crops' manifest and the demo generator's paired truths they were cut from.
    truths = {}
    rows = ["crop,source,crop_x0,crop_y0,crop_x1,crop_y1"]
    for i in range(3):
        full = write_image(tmp_path / f"data/raw/synthia/PAIRED/RGB/src{i}.png", 70, 45, 100 + i)
        truths[f"synthia_heldout_{i}.png"] = full[3:35, 5 * i : 5 * i + 32]
        rows.append(f"synthia_heldout_{i}.png,src{i}.png,{5 * i},3,{5 * i + 32},35")
    (tmp_path / "data/crops/synthia_heldout/manifest.csv").write_text("\n".join(rows) + "\n")
    for e in (1, 2):
        save_checkpoint(tmp_path / f"results/cyclegan/1gpu/checkpoints/{e}_net_G_A.pth", seed=e)
    write_image(tmp_path / "data/raw/synthia/RGB/0000001.png", 70, 45, 1)
    write_image(tmp_path / "data/raw/synthia/RGB/0000002.png", 70, 45, 2)
    selection = tmp_path / "results/detector/selection/synthetic.json"
    selection.parent.mkdir(parents=True)
    selection.write_text(json.dumps([frame("0000002.png", 70, 45, [(5.0, 6.0, 30.0, 44.0)])]))
    over = tmp_path / "overrides.yaml"
    # One GPU count (each job is a process that imports torch); dims 64: the first Inception block only.
    over.write_text(
        yaml.safe_dump(
            {
                "cyclegan": {"gpu_counts": [1], **TWO_EPOCHS},
                "generate": TWO_SAMPLE_EPOCHS,
                "fid": {"dims": 64, "batch_size": 8},
            }
        )
    )
    rules = ["samples", "translate_detector_set", "fid", "paired_distance", "generate"]
    demo = ROOT / "profiles/demo/demo.yaml"
    args = workflow_command(tmp_path, "generate", "--cores", "2", "--allowed-rules", *rules, configfiles=(demo, over))
    run_snakemake(*args, env={"PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"})
    for e in (1, 2):
        assert pngs(tmp_path / f"results/samples/1gpu/epoch{e}") == [f"synthia_heldout_{i}.png" for i in range(3)]
    assert pngs(tmp_path / "results/generated/1gpu/images") == ["0000002.png"]
    labels = json.loads((tmp_path / "results/generated/1gpu/labels.json").read_text())
    assert labels[0]["name"] == "0000002.png" and labels[0]["labels"][0]["box2d"]["y2"] == 44.0
    with open(tmp_path / "results/fid/fid.csv") as f:
        rows = list(csv.DictReader(f))
    assert [(r["gpus"], r["epoch"], r["n_real"], r["n_fake"], r["weights"]) for r in rows] == [
        ("1", str(e), "6", "3", "random-init") for e in (1, 2)
    ]
    assert all(np.isfinite(float(r["fid"])) and float(r["fid"]) >= 0 for r in rows)
    # L1 of each epoch's translations to the truth windows, by hand; the colour-transfer baseline beside them.
    from cycleaug.paired import by_gpus, colour_baseline, read_paired

    paired = read_paired(tmp_path / "results/fid/paired.csv")
    assert colour_baseline(paired)["n"] == 3 and list(by_gpus(paired)) == [1]
    for r in by_gpus(paired)[1]:
        d = tmp_path / f"results/samples/1gpu/epoch{r['epoch']}"
        expected = [
            np.abs(np.asarray(Image.open(d / n).convert("RGB"), float) - t).mean() / 255 for n, t in truths.items()
        ]
        assert r["n"] == 3 and r["l1"] == pytest.approx(np.mean(expected))
    assert (tmp_path / "benchmarks/generate/fid.tsv").is_file()
