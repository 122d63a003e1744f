"""Table 2's conditions: names from the config, one shared image selection, the rules' options, and
the table itself (CSV read by the figure, Markdown, LaTeX, the paper's numbers beside ours)."""

from __future__ import annotations

import copy
import csv
import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import ROOT, run_cli
from cycleaug.errors import CycleAugError
from cycleaug.glue import detect as glue_detect
from cycleaug.paper import TABLE2
from cycleaug.yolo.conditions import GENERATED, RAW, REAL, TRUTH, conditions, parse_condition, train_sets
from PIL import Image


@pytest.fixture(scope="module")
def config() -> dict:
    return yaml.safe_load((ROOT / "config.yaml").read_text())


def test_condition_names_carry_the_gpu_count(config):
    names = [c.name for c in conditions(config)]
    assert names == ["a_bdd", "b_bdd_cg", "c_gen4gpu", "d_gen64gpu", "e_gen128gpu", "f_gen256gpu", "g_gen512gpu"]
    demo = copy.deepcopy(config)
    demo["cyclegan"]["gpu_counts"] = [2, 1]
    assert [c.name for c in conditions(demo)] == ["a_bdd", "b_bdd_cg", "c_gen1gpu", "d_gen2gpu"]
    assert [c.label for c in conditions(demo)][2:] == ["(a) + generated, 1 GPU", "(a) + generated, 2 GPUs"]
    for c in conditions(config):
        assert parse_condition(c.name) == c
    assert [c.synthetic_source for c in conditions(config)][:3] == [REAL, RAW, GENERATED]
    assert (
        parse_condition("e_gen128gpu").gpus == 128
        and parse_condition("e_gen128gpu").title == "(e) (a) + generated, 128 GPUs"
    )
    with pytest.raises(CycleAugError, match="c_gen4gpu"):
        parse_condition("c_generated")


def test_paired_truth_control_on_demo_data_only(config):
    """Demo data: the positive control is lettered after the translated sets and trains on the selection's
    CG frames and boxes with the photo-style images of the same scenes; real data has no such images."""
    demo = copy.deepcopy(config)
    demo["data"]["source"] = "demo"
    demo["cyclegan"]["gpu_counts"] = [1, 2, 4]
    names = [c.name for c in conditions(demo)]
    assert names == ["a_bdd", "b_bdd_cg", "c_gen1gpu", "d_gen2gpu", "e_gen4gpu", "f_bdd_truth"]
    truth = parse_condition("f_bdd_truth")
    assert truth == conditions(demo)[-1] and truth.synthetic_source == TRUTH and truth.tag == "(f)"
    assert "truth" not in "".join(c.name for c in conditions(config))
    assert train_sets(truth, "SEL", "BDD", "SYN", "G", "GL", None, "SYN/PAIRED/RGB")[1] == (
        "SEL/synthetic.json",
        "SYN/PAIRED/RGB",
    )
    assert train_sets(truth, "SEL", "BDD", "SYN", "G", "GL", "A/{source}")[1] == (
        "A/truth/labels.json",
        "A/truth/images",
    )
    assert glue_detect.train_set_options(demo, truth).split()[-1] == (
        "results/detector/aligned/truth/labels.json:results/detector/aligned/truth/images"
    )
    with pytest.raises(CycleAugError, match="paired-truth images"):
        train_sets(truth, "SEL", "BDD", "SYN", "G", "GL")


def test_every_condition_trains_on_the_same_selection(config):
    sets = {
        c.name: train_sets(c, "SEL", "BDD", "SYN", "R/generated/{gpus}gpu/images", "R/generated/{gpus}gpu/labels.json")
        for c in conditions(config)
    }
    assert all(s[0] == ("SEL/real.json", "BDD") for s in sets.values())
    assert len(sets["a_bdd"]) == 1
    assert sets["b_bdd_cg"][1] == ("SEL/synthetic.json", "SYN")
    # A translated set trains with its own labels file (the selection's frames under the output names).
    assert sets["e_gen128gpu"][1] == ("R/generated/128gpu/labels.json", "R/generated/128gpu/images")
    assert all(s[1][0].endswith("gpu/labels.json") for n, s in sets.items() if n not in ("a_bdd", "b_bdd_cg"))
    # Aligned (cycleaug.yolo.align): every synthetic set from its aligned copy, the real set unchanged.
    aligned = {
        c.name: train_sets(c, "SEL", "BDD", "SYN", "G/{gpus}/images", "G/{gpus}/labels.json", "A/{source}")
        for c in conditions(config)
    }
    assert aligned["a_bdd"] == sets["a_bdd"]
    assert aligned["b_bdd_cg"][1] == ("A/raw/labels.json", "A/raw/images")
    assert aligned["e_gen128gpu"][1] == ("A/gen128gpu/labels.json", "A/gen128gpu/images")


def test_rule_options_from_config(config):
    cfg = copy.deepcopy(config)
    cfg["detector"].update(batch=16, subdivisions=4, img_size=416, amp=True, pretrained=False, iterations=None)
    opts = glue_detect.train_options(cfg, 7).split()
    assert opts[opts.index("--seed") + 1] == "7"
    assert opts[opts.index("--batch") + 1] == "16" and opts[opts.index("--subdivisions") + 1] == "4"
    assert opts[opts.index("--img-size") + 1] == "416" and "--amp" in opts
    assert "--iterations" not in opts and "--pretrained" not in opts
    assert opts[opts.index("--cfg") + 1] == "yolov3-person-608.cfg"
    assert glue_detect.select_options(config).split() == ["--n-real", "500", "--n-synthetic", "1017", "--seed", "0"] + [
        "--n-heldout",
        "1000",
    ]
    assert glue_detect.train_set_options(config, parse_condition("d_gen64gpu")).split() == [
        "--train",
        "results/detector/selection/real.json:data/raw/bdd100k/images/100k/train",
        "--train",
        "results/detector/aligned/gen64gpu/labels.json:results/detector/aligned/gen64gpu/images",
    ]
    # detector.align none: the translated set as generation wrote it, with its own labels.
    plain = copy.deepcopy(config)
    plain["detector"]["align"]["mode"] = "none"
    assert glue_detect.train_set_options(plain, parse_condition("d_gen64gpu")).split()[-1] == (
        "results/generated/64gpu/labels.json:results/generated/64gpu/images"
    )


def _labelled_images(root: Path, n: int, size, seed: int, with_person_every: int = 2) -> tuple[Path, Path]:
    """``n`` frames; every ``with_person_every``-th has a person, the others only a car."""
    rng = np.random.default_rng(seed)
    images = root / "images"
    images.mkdir(parents=True)
    frames = []
    for i in range(n):
        name = f"{i:05d}.png"
        Image.new("RGB", size, tuple(int(v) for v in rng.integers(0, 255, 3))).save(images / name)
        cat = "pedestrian" if i % with_person_every == 0 else "car"
        frames.append(
            {"name": name, "labels": [{"id": "0", "category": cat, "box2d": {"x1": 2, "y1": 3, "x2": 12, "y2": 30}}]}
        )
    labels = root / "labels.json"
    labels.write_text(json.dumps(frames))
    return labels, images


def _select(tmp_path, out, seed=0, n_real=10, n_synthetic=6, check=True, *extra):
    bdd, bdd_images = tmp_path / "bdd" / "labels.json", tmp_path / "bdd" / "images"
    syn, syn_images = tmp_path / "syn" / "labels.json", tmp_path / "syn" / "images"
    val, val_images = tmp_path / "val" / "labels.json", tmp_path / "val" / "images"
    return run_cli(
        "select-detector-sets",
        "--bdd-labels",
        bdd,
        "--bdd-images",
        bdd_images,
        "--synthia-labels",
        syn,
        "--synthia-images",
        syn_images,
        "--val-labels",
        val,
        "--val-images",
        val_images,
        "--n-real",
        n_real,
        "--n-synthetic",
        n_synthetic,
        "--seed",
        seed,
        "--out",
        out,
        *extra,
        check=check,
    )


def test_heldout_split_is_disjoint_from_the_training_images(tmp_path):
    _labelled_images(tmp_path / "bdd", 40, (64, 36), 0)
    _labelled_images(tmp_path / "syn", 30, (64, 38), 1, with_person_every=3)
    _labelled_images(tmp_path / "val", 9, (64, 36), 2)
    _select(tmp_path, tmp_path / "h1", 0, 10, 6, True, "--n-heldout", "25")
    real = {f["name"] for f in json.loads((tmp_path / "h1" / "real.json").read_text())}
    held = json.loads((tmp_path / "h1" / "heldout.json").read_text())
    names = [f["name"] for f in held]
    assert len(names) == 25 and not real & set(names) and names == sorted(names)
    assert any(not f["labels"] for f in held)  # frames without a person too, as a validation split
    assert (held[0]["attributes"]["width"], held[0]["attributes"]["height"]) == (64, 36)
    # The other sets do not move when a held-out split is added (separate generator streams).
    _select(tmp_path, tmp_path / "h0")
    for name in ("real.json", "synthetic.json", "val.json"):
        assert (tmp_path / "h0" / name).read_bytes() == (tmp_path / "h1" / name).read_bytes()
    assert not (tmp_path / "h0" / "heldout.json").exists()
    too_many = _select(tmp_path, tmp_path / "h2", 0, 10, 6, False, "--n-heldout", "31")
    assert too_many.returncode == 2 and "--n-heldout 31: only 30 images are left" in too_many.stderr


def test_pretrain_and_tune_splits_are_disjoint_from_every_other(tmp_path):
    _labelled_images(tmp_path / "bdd", 60, (64, 36), 0)
    _labelled_images(tmp_path / "syn", 30, (64, 38), 1, with_person_every=3)
    _labelled_images(tmp_path / "val", 9, (64, 36), 2)
    _select(tmp_path, tmp_path / "p", 0, 10, 6, True, "--n-heldout", "15", "--n-tune", "12", "--n-pretrain", "9")
    split = {n: {f["name"] for f in json.loads((tmp_path / "p" / f"{n}.json").read_text())}
             for n in ("real", "heldout", "tune", "pretrain")}  # fmt: skip
    assert [len(split[n]) for n in ("real", "heldout", "tune", "pretrain")] == [10, 15, 12, 9]
    assert sum(len(v) for v in split.values()) == len(set().union(*split.values()))  # pairwise disjoint
    assert all(int(n[:5]) % 2 == 0 for n in split["pretrain"])  # only frames with a person
    # 30 person frames: 10 real, some held out or tuned; asking for more than are left names the split.
    short = _select(
        tmp_path, tmp_path / "q", 0, 10, 6, False, "--n-heldout", "15", "--n-tune", "12", "--n-pretrain", "25"
    )
    assert short.returncode == 2 and "--n-pretrain 25" in short.stderr


def test_select_detector_sets(tmp_path):
    _labelled_images(tmp_path / "bdd", 40, (64, 36), 0)
    _labelled_images(tmp_path / "syn", 30, (64, 38), 1, with_person_every=3)
    _labelled_images(tmp_path / "val", 9, (64, 36), 2)
    _select(tmp_path, tmp_path / "s1")
    _select(tmp_path, tmp_path / "s2")
    for name in ("real.json", "synthetic.json", "val.json"):
        assert (tmp_path / "s1" / name).read_bytes() == (tmp_path / "s2" / name).read_bytes()
    real = json.loads((tmp_path / "s1" / "real.json").read_text())
    synthetic = json.loads((tmp_path / "s1" / "synthetic.json").read_text())
    val = json.loads((tmp_path / "s1" / "val.json").read_text())
    assert len(real) == 10 and len(synthetic) == 6 and len(val) == 9  # val: all frames, persons or not
    assert all(f["labels"] and all(lab["category"] == "pedestrian" for lab in f["labels"]) for f in real + synthetic)
    assert {int(f["name"][:5]) % 2 for f in real} == {0} and {int(f["name"][:5]) % 3 for f in synthetic} == {0}
    assert (real[0]["attributes"]["width"], real[0]["attributes"]["height"]) == (64, 36)
    assert (synthetic[0]["attributes"]["width"], synthetic[0]["attributes"]["height"]) == (64, 38)
    assert [f["name"] for f in real] == sorted(f["name"] for f in real)
    _select(tmp_path, tmp_path / "s3", seed=1)
    assert json.loads((tmp_path / "s3" / "real.json").read_text()) != real
    too_many = _select(tmp_path, tmp_path / "s4", n_synthetic=11, check=False)
    assert too_many.returncode == 2 and "only 10 of 30 frames" in too_many.stderr


def test_selection_size_must_match_translated_images(tmp_path):
    """A translated image of another size than the one the boxes were drawn on is refused."""
    from cycleaug.yolo.data import load_samples

    _labelled_images(tmp_path / "bdd", 4, (64, 36), 0)
    _labelled_images(tmp_path / "syn", 4, (64, 38), 1)
    _labelled_images(tmp_path / "val", 2, (64, 36), 2)
    _select(tmp_path, tmp_path / "sel", n_real=2, n_synthetic=2)
    gen = tmp_path / "generated"
    gen.mkdir()
    for f in json.loads((tmp_path / "sel" / "synthetic.json").read_text()):
        Image.new("RGB", (32, 19)).save(gen / f["name"])
    with pytest.raises(CycleAugError, match="labelled on a 64x38 image"):
        load_samples(tmp_path / "sel" / "synthetic.json", gen)


def _metrics(path: Path, tp, fp, fn, map50, iteration) -> Path:
    p, r = tp / (tp + fp), tp / (tp + fn)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(
            {
                "iteration": iteration,
                "TP": tp,
                "FP": fp,
                "FN": fn,
                "precision": p,
                "recall": r,
                "F1": 2 * p * r / (p + r),
                "mAP50": map50,
                "loss": 1.0,
            }
        )
    )
    return path


def test_table2_files_and_paper_columns(tmp_path):
    from cycleaug.figures.table2 import read_table2

    a = _metrics(tmp_path / "a_bdd" / "metrics.json", 4000, 3000, 6773, 0.3512, 4500)
    c = _metrics(tmp_path / "c_gen4gpu" / "metrics.json", 4800, 4000, 5973, 0.4100, 5000)
    run_cli(
        "table2", "--metrics", f"a_bdd={a}", "--metrics", f"c_gen4gpu={c}", "--out-dir", tmp_path / "t", "--paper-scale"
    )
    with open(tmp_path / "t" / "table2.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["name"] for r in rows] == ["a_bdd", "c_gen4gpu"]
    assert rows[0]["condition"] == "(a)" and rows[1]["label"] == "(a) + generated, 4 GPUs"
    assert float(rows[0]["map50"]) == pytest.approx(35.12) and rows[0]["best_iteration"] == "4500"
    paper_a, paper_c = TABLE2[0], TABLE2[2]
    assert float(rows[0]["paper_map50"]) == paper_a.mAP50 == 34.34
    assert float(rows[1]["paper_TP"]) == paper_c.TP == 4813
    assert float(rows[0]["diff_map50"]) == pytest.approx(35.12 - 34.34)
    assert float(rows[1]["diff_FP"]) == 4000 - 4560
    md = (tmp_path / "t" / "table2.md").read_text()
    assert "| (a) | BDD only | 4000 (3930, +70) |" in md and "35.12 (34.34, +0.78)" in md
    tex = (tmp_path / "t" / "table2.tex").read_text()
    assert r"\begin{tabular}" in tex and "mAP@0.50 [\\%]" in tex
    columns, _ = read_table2(tmp_path / "t" / "table2.csv")  # what `cycleaug figure table2` reads
    assert "paper_map50" in columns and "best_iteration" in columns

    run_cli("table2", "--metrics", f"a_bdd={a}", "--out-dir", tmp_path / "plain")
    plain = (tmp_path / "plain" / "table2.csv").read_text().splitlines()
    assert plain[0] == "condition,label,TP,FP,FN,precision,recall,f1,map50,best_iteration,name"
    bad = run_cli("table2", "--metrics", f"x_bdd={a}", "--out-dir", tmp_path / "bad", check=False)
    assert bad.returncode == 2 and "x_bdd" in bad.stderr

    # With the selection-bias figures of train-yolo (last evaluation, best checkpoint on a held-out split).
    m = json.loads(a.read_text())
    m.update(last={"iteration": 5000, "mAP50": 0.3301}, heldout={"images": 1000, "mAP50": 0.3208})
    a.write_text(json.dumps(m))
    run_cli("table2", "--metrics", f"a_bdd={a}", "--out-dir", tmp_path / "sel")
    with open(tmp_path / "sel" / "table2.csv", newline="") as f:
        (row,) = list(csv.DictReader(f))
    assert float(row["last_map50"]) == pytest.approx(33.01) and float(row["heldout_map50"]) == pytest.approx(32.08)
    md = (tmp_path / "sel" / "table2.md").read_text()
    assert "| last mAP@0.50 [%] | best ckpt on held-out [%] |" in md and "| 35.12 | 4500 | 33.01 | 32.08 |" in md
    columns, _ = read_table2(tmp_path / "sel" / "table2.csv")
    assert {"last_map50", "heldout_map50"} <= set(columns)


def test_table2_with_repeated_seeds(tmp_path):
    """--seed-metrics (detector.seeds): mean, sample standard deviation and range of mAP@0.50 over a
    condition's runs, checked against numpy; a condition run once says so."""
    from cycleaug.figures.table2 import build_table2, read_table2

    a = _metrics(tmp_path / "a_bdd" / "metrics.json", 40, 30, 67, 0.20, 500)
    a1 = _metrics(tmp_path / "a_bdd" / "seed1" / "metrics.json", 41, 30, 66, 0.26, 500)
    a2 = _metrics(tmp_path / "a_bdd" / "seed2" / "metrics.json", 42, 30, 65, 0.17, 500)
    c = _metrics(tmp_path / "c_gen4gpu" / "metrics.json", 48, 40, 59, 0.31, 500)
    run_cli("table2", "--metrics", f"a_bdd={a}", "--metrics", f"c_gen4gpu={c}", "--seed-metrics", f"a_bdd={a1}",
            "--seed-metrics", f"a_bdd={a2}", "--out-dir", tmp_path / "t")  # fmt: skip
    with open(tmp_path / "t" / "table2.csv", newline="") as f:
        ra, rc = list(csv.DictReader(f))
    runs = np.array([20.0, 26.0, 17.0])
    assert int(ra["n_seeds"]) == 3 and float(ra["map50_seed_mean"]) == pytest.approx(runs.mean())
    assert float(ra["map50_seed_sd"]) == pytest.approx(runs.std(ddof=1), rel=1e-5)
    assert (float(ra["map50_seed_min"]), float(ra["map50_seed_max"])) == (17.0, 26.0)
    assert float(ra["map50"]) == pytest.approx(20.0)  # the first seed's run stays the table's number
    assert int(rc["n_seeds"]) == 1 and rc["map50_seed_sd"] == ""
    md = (tmp_path / "t" / "table2.md").read_text()
    assert f"| 21.00 ± {runs.std(ddof=1):.2f} (17.00–26.00, 3 runs) |" in md and "| 31.00 (1 run) |" in md
    assert r"$\pm$" in (tmp_path / "t" / "table2.tex").read_text()
    columns, rows = read_table2(tmp_path / "t" / "table2.csv")
    assert columns[-1] == "map50_seeds" and rows[0]["map50_seeds"] == f"21.00 ± {runs.std(ddof=1):.2f} (3)"
    build_table2(columns, rows)
    bad = run_cli("table2", "--metrics", f"a_bdd={a}", "--seed-metrics", f"b_bdd_cg={a1}", "--out-dir",
                  tmp_path / "bad", check=False)  # fmt: skip
    assert bad.returncode == 2 and "--seed-metrics 'b_bdd_cg=" in bad.stderr and not (tmp_path / "bad").exists()


def test_paper_table2_is_consistent():
    # FACTS.md: TP + FN = 10,773 persons in every row; F1 from the rounded P and R within rounding
    for row in TABLE2:
        assert row.TP + row.FN == 10773
        assert row.precision == pytest.approx(row.TP / (row.TP + row.FP), abs=0.006)
        assert row.recall == pytest.approx(row.TP / (row.TP + row.FN), abs=0.006)
