"""The claim-by-claim verdict (cycleaug.verdict): each decision rule on hand-made outputs whose answer is
known, and the command as the workflow runs it."""

from __future__ import annotations

import math

import pytest
from conftest import run_cli
from cycleaug import verdict
from cycleaug.paired import COLUMNS as PAIRED_COLUMNS
from test_figures import FID_HEADER, write_csv, write_train_log

TABLE_HEADER = ["condition", "label", "TP", "FP", "FN", "precision", "recall", "f1", "map50"] + [
    f"diff_vs_{x}{s}" for x in "ab" for s in ("", "_ci_low", "_ci_high")
]


def _logs(tmp_path, times: dict[int, float], **extra) -> list:
    for n, sec in times.items():
        write_train_log(tmp_path / f"{n}gpu/train_log.jsonl", n, [sec], **extra)
    return [tmp_path / f"{n}gpu/train_log.jsonl" for n in times]


def test_scaling_claim(tmp_path):
    # 8 GPUs at 7x of 1 GPU: efficiency 87.5% >= the paper's 93.8 / 128 = 73.3%.
    good = verdict.scaling_claim(_logs(tmp_path / "g", {1: 70.0, 8: 10.0}, device="cuda"))
    assert good.verdict == verdict.REPRODUCED and "7.00x (ideal 8x, efficiency 88%)" in good.this_run
    assert verdict.SCALING_EFFICIENCY == pytest.approx(93.8 / 128)
    bad = verdict.scaling_claim(_logs(tmp_path / "b", {1: 40.0, 8: 10.0}, device="cuda"))
    assert bad.verdict == verdict.NOT_REPRODUCED and "efficiency 50%" in bad.this_run
    # The demo: 8 CPU processes on 2 cores cannot say anything about scaling.
    cpu = verdict.scaling_claim(_logs(tmp_path / "c", {1: 70.0, 8: 10.0}, device="cpu", cpu_cores=2))
    assert cpu.verdict == verdict.NOT_TESTABLE and "8 processes share 2 CPU cores" in cpu.why


def _table(path, diffs: dict[str, tuple]):
    """diffs: condition letter -> ((vs a), (vs b)) intervals as (value, low, high) or None."""
    rows = []
    for letter, label in zip("abcd", ["BDD only", "(a) + raw CG", "(a) + generated, 1 GPU", "(a) + generated, 2 GPUs"]):
        vs_a, vs_b = diffs.get(letter, (None, None))
        cells = [(v if v is not None else "") for iv in (vs_a, vs_b) for v in (iv or (None, None, None))]
        rows.append([f"({letter})", label, 1, 1, 1, 0.5, 0.5, 0.5, 30.0] + cells)
    write_csv(path, TABLE_HEADER, rows)


def test_detector_claims(tmp_path):
    """2a: (b)-(g) against (a); 2b: (c)-(g) against (b), each judged by where its intervals lie."""
    up, down, zero = (3.0, 1.0, 5.0), (-3.0, -5.0, -1.0), (1.0, -1.0, 3.0)
    _table(tmp_path / "t.csv", {"a": (None, down), "b": (up, None), "c": (up, up), "d": (up, (2.0, 0.5, 4.0))})
    more, better = verdict.detector_claims(tmp_path / "t.csv")
    assert more.verdict == better.verdict == verdict.REPRODUCED
    assert "vs (a): (b) +3.00 [+1.00, +5.00], (c) +3.00" in more.this_run and "(a) 30.00, (b) 30.00" in more.this_run
    assert better.this_run == "vs (b): (c) +3.00 [+1.00, +5.00], (d) +2.00 [+0.50, +4.00] points"
    # The demo's case: CG costs against BDD alone, translated CG beats raw CG.
    _table(tmp_path / "t.csv", {"b": (down, None), "c": (down, up), "d": (zero, up)})
    more, better = verdict.detector_claims(tmp_path / "t.csv")
    assert more.verdict == verdict.NOT_REPRODUCED and "2 of 3 comparisons are negative" in more.why
    assert better.verdict == verdict.REPRODUCED
    # Intervals that include zero: no decision either way.
    _table(tmp_path / "t.csv", {"b": (up, None), "c": (up, zero), "d": (up, up)})
    assert verdict.detector_claims(tmp_path / "t.csv")[1].verdict == verdict.INCONCLUSIVE
    assert "1 of 2 comparisons are positive" in verdict.detector_claims(tmp_path / "t.csv")[1].why
    # A table without the bootstrap (no val predictions) cannot be judged.
    write_csv(tmp_path / "plain.csv", TABLE_HEADER[:9], [["(a)", "BDD only", 1, 1, 1, 0.5, 0.5, 0.5, 30.0]])
    assert {c.verdict for c in verdict.detector_claims(tmp_path / "plain.csv")} == {verdict.NOT_TESTABLE}


def _fid(path, kid_lo: float, kid_hi: float, std: float):
    rows = [
        [1, 2, 2.0, 200, 100, "random-init", 64, kid_lo, std],
        [8, 2, 2.5, 200, 100, "random-init", 64, kid_hi, std],
    ]
    rows += [[1, 1, 3.0, 200, 100, "random-init", 64, 0.5, std], [8, 1, 3.0, 200, 100, "random-init", 64, 0.5, std]]
    write_csv(path, FID_HEADER + ["dims", "kid", "kid_std"], rows)


def test_fid_claim_uses_the_last_epoch_and_the_kid_spread(tmp_path):
    spread = math.hypot(0.002, 0.002)  # 0.00283; twice that is 0.00566
    _fid(tmp_path / "f.csv", 0.010, 0.016, 0.002)
    c = verdict.fid_claim(tmp_path / "f.csv")
    assert c.verdict == verdict.REPRODUCED and f"({spread:.4f})" in c.why and "epoch 2" in c.this_run
    _fid(tmp_path / "f.csv", 0.010, 0.015, 0.002)  # +0.005 < 0.00566
    assert verdict.fid_claim(tmp_path / "f.csv").verdict == verdict.INCONCLUSIVE
    _fid(tmp_path / "f.csv", 0.016, 0.010, 0.002)
    assert verdict.fid_claim(tmp_path / "f.csv").verdict == verdict.NOT_REPRODUCED
    # On demo data the paired truth's SSIM of the last epoch is shown beside KID (not part of the rule).
    _paired(tmp_path / "p.csv", {1: (0.005, 0.02), 8: (0.001, 0.01)})
    with_paired = verdict.fid_claim(tmp_path / "f.csv", tmp_path / "p.csv")
    assert with_paired.verdict == verdict.NOT_REPRODUCED
    assert "paired truth: SSIM 0.500 [0.500, 0.500] at 1 vs 0.500 [0.500, 0.500] at 8" in with_paired.this_run


def _paired(path, gains: dict[int, tuple]):
    rows = []
    for gpus, (lo, hi) in gains.items():
        for epoch, l1 in ((1, 0.2), (3, 0.15)):
            row = dict.fromkeys(PAIRED_COLUMNS, 0.5)
            row |= {"gpus": gpus, "epoch": epoch, "n": 100, "l1": l1, "l1_input": 0.16}
            row |= {"l1_gain": (lo + hi) / 2, "l1_gain_ci_low": lo, "l1_gain_ci_high": hi}
            rows.append([row[c] for c in PAIRED_COLUMNS])
    write_csv(path, PAIRED_COLUMNS, rows)


def test_translation_check(tmp_path):
    _paired(tmp_path / "p.csv", {1: (0.005, 0.02), 8: (0.001, 0.01)})
    c = verdict.translation_check(tmp_path / "p.csv")
    assert c.verdict == verdict.REPRODUCED and "epoch 1 -> 3: L1 0.200 -> 0.150" in c.this_run
    _paired(tmp_path / "p.csv", {1: (0.005, 0.02), 8: (-0.01, 0.01)})
    assert verdict.translation_check(tmp_path / "p.csv").verdict == verdict.INCONCLUSIVE
    _paired(tmp_path / "p.csv", {1: (-0.02, -0.005), 8: (-0.01, 0.01)})
    assert verdict.translation_check(tmp_path / "p.csv").verdict == verdict.NOT_REPRODUCED


def test_verdict_command_writes_markdown(tmp_path):
    logs = _logs(tmp_path, {1: 70.0, 2: 40.0}, device="cpu", cpu_cores=2)
    _fid(tmp_path / "f.csv", 0.010, 0.016, 0.002)
    up = (3.0, 1.0, 5.0)
    _table(tmp_path / "t.csv", {"b": (up, None), "c": (up, up), "d": (up, up)})
    _paired(tmp_path / "p.csv", {1: (0.005, 0.02), 2: (0.001, 0.01)})
    out = tmp_path / "v" / "verdict.md"
    run_cli("verdict", "--logs", *logs, "--fid", tmp_path / "f.csv", "--table", tmp_path / "t.csv",
            "--paired", tmp_path / "p.csv", "--out", out)  # fmt: skip
    text = out.read_text()
    assert text.count("## ") == 5 and text.count("**reproduced**") == 5
    # 2 processes at 1.75x on 2 cores: efficiency 88%, within the cores.
    assert "1.75x (ideal 2x, efficiency 88%)" in text
    proc = run_cli("verdict", "--logs", *logs, "--fid", tmp_path / "missing.csv", "--table", tmp_path / "t.csv",
                   "--out", tmp_path / "w.md", check=False)  # fmt: skip
    assert proc.returncode != 0 and "missing.csv" in proc.stderr and not (tmp_path / "w.md").exists()
