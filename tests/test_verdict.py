"""The claim-by-claim verdict (cycleaug.verdict): each decision rule on hand-made outputs whose answer is
known, and the command as the workflow runs it."""

from __future__ import annotations

import math

import pytest
from conftest import run_cli
from cycleaug import verdict
from cycleaug.paired import COLUMNS as PAIRED_COLUMNS
from cycleaug.yolo.contrasts import COLUMNS as CONTRASTS_COLUMNS
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


def _table(path, contrasts: dict[str, tuple]):
    """A Table 2 and, beside it, contrasts.csv: name -> (estimate, low, high) in points (gap closed: a
    fraction); the single counts get Holm p-values of 0.01."""
    write_csv(path, TABLE_HEADER[:9], [["(a)", "BDD only", 1, 1, 1, 0.5, 0.5, 0.5, 30.0]])
    rows = []
    for name, (est, lo, hi) in contrasts.items():
        holm = 0.01 if name[0] in "cde" else ""
        rows.append([name, est, lo, hi, 0.5, 0.05, holm, 3])
    write_csv(path.with_name("contrasts.csv"), CONTRASTS_COLUMNS, rows)


def test_detector_claims(tmp_path):
    """2a: (b) - (a); 2b: the mean of (c)-(g) - (b), one comparison; each judged by where its interval
    over seeds and images lies, and only when the positive control (f, the paired truth) shows the
    regime can see a gain."""
    up, down, zero = (3.0, 1.0, 5.0), (-3.0, -5.0, -1.0), (1.0, -1.0, 3.0)
    t = tmp_path / "t.csv"
    control = {"f - a": up, "f - b": up}
    _table(t, {"b - a": up, **control, "gen - b": up, "gap closed": (0.6, 0.2, 1.1), "c - b": up, "d - b": zero})
    more, better = verdict.detector_claims(t)
    assert more.verdict == better.verdict == verdict.REPRODUCED
    assert more.this_run.startswith("held-out split, 3 seeds per condition: (b) - (a) +3.00 [+1.00, +5.00] points")
    assert "positive control (f) paired truth - (a): +3.00 [+1.00, +5.00]" in more.this_run
    assert (
        "gap closed +0.60 [+0.20, +1.10]" in better.this_run
        and "(d) +1.00 [-1.00, +3.00] (Holm p 0.01)" in better.this_run
    )
    # Below zero beyond the interval: no; an interval around zero: cannot tell, unless the gap closed's
    # upper bound shows the translations recover less than a quarter of the perfect translation's gain.
    _table(t, {"b - a": down, **control, "gen - b": down, "gap closed": (-0.5, -0.9, -0.1)})
    assert [c.verdict for c in verdict.detector_claims(t)] == [verdict.NOT_REPRODUCED] * 2
    _table(t, {"b - a": zero, **control, "gen - b": zero, "gap closed": (0.2, -0.3, 0.7)})
    assert [c.verdict for c in verdict.detector_claims(t)] == [verdict.INCONCLUSIVE] * 2
    _table(t, {"b - a": zero, **control, "gen - b": zero, "gap closed": (0.05, -0.1, 0.2)})
    better = verdict.detector_claims(t)[1]
    assert better.verdict == verdict.NOT_REPRODUCED and "recover at most 20%" in better.why
    # A failing control: the claim cannot be tested, whatever the translated sets did.
    _table(t, {"b - a": up, "f - a": zero, "f - b": zero, "gen - b": up, "gap closed": (0.6, 0.2, 1.1)})
    assert [c.verdict for c in verdict.detector_claims(t)] == [verdict.NOT_TESTABLE] * 2
    assert "below raw CG" not in verdict.detector_claims(t)[1].why
    # ... and a loss it can still show is reported beside the verdict, not judged.
    _table(t, {"b - a": up, "f - a": zero, "f - b": zero, "gen - b": down, "gap closed": (0.6, 0.2, 1.1)})
    better = verdict.detector_claims(t)[1]
    assert better.verdict == verdict.NOT_TESTABLE and "below raw CG beyond their 95% interval" in better.why
    # Paper scale: no control; judged directly, and said so.
    _table(t, {"b - a": up, "gen - b": up, "c - b": up})
    more, better = verdict.detector_claims(t)
    assert more.verdict == better.verdict == verdict.REPRODUCED and "no positive control" in better.why
    # No held-out split: no contrasts.csv, nothing to judge by.
    t.with_name("contrasts.csv").unlink()
    assert {c.verdict for c in verdict.detector_claims(t)} == {verdict.NOT_TESTABLE}


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


UP, ZERO, DOWN = (0.01, 0.005, 0.02), (0.0, -0.004, 0.004), (-0.01, -0.02, -0.005)


def _paired(path, gains: dict[int, tuple], ssim=UP, vs_colour=(UP, UP)):
    """A paired.csv: the colour-transfer row and, per GPU count, two epochs whose last has the L1 gain
    over the input (low, high) of ``gains``, the SSIM gain ``ssim`` and the (L1, SSIM) differences to the
    colour transfer ``vs_colour`` (intervals as (value, low, high); a dict gpus -> ... for one per count)."""

    def cells(key, iv):
        return {key: iv[0], f"{key}_ci_low": iv[1], f"{key}_ci_high": iv[2]}

    base = dict.fromkeys(PAIRED_COLUMNS, 0.5) | {"method": "colour_transfer", "n": 100, "l1": 0.14, "l1_input": 0.16}
    base |= {"gpus": "", "epoch": ""} | {c: "" for c in PAIRED_COLUMNS if "_vs_colour" in c}
    rows = [[base[c] for c in PAIRED_COLUMNS]]
    for gpus, (lo, hi) in gains.items():
        for epoch, l1 in ((1, 0.2), (3, 0.15)):
            row = dict.fromkeys(PAIRED_COLUMNS, 0.5)
            row |= {"method": "cyclegan", "gpus": gpus, "epoch": epoch, "n": 100, "l1": l1, "l1_input": 0.16}
            row |= cells("l1_gain", ((lo + hi) / 2, lo, hi))
            if epoch == 3:  # the first epoch's comparisons are all 0.5: only the last may count
                l1_vs, ssim_vs = vs_colour.get(gpus) if isinstance(vs_colour, dict) else vs_colour
                row |= cells("ssim_gain", ssim.get(gpus) if isinstance(ssim, dict) else ssim)
                row |= cells("l1_vs_colour", l1_vs) | cells("ssim_vs_colour", ssim_vs)
            rows.append([row[c] for c in PAIRED_COLUMNS])
    write_csv(path, PAIRED_COLUMNS, rows)


def test_translation_check(tmp_path):
    """Closer to the truth than the input in L1 and SSIM and than the colour transfer in both, at the last
    epoch of every count: reproduced; some counts: inconclusive; none: not reproduced."""
    p = tmp_path / "p.csv"
    _paired(p, {1: (0.005, 0.02), 8: (0.001, 0.01)})
    c = verdict.translation_check(p)
    assert c.verdict == verdict.REPRODUCED and "epoch 1 -> 3: L1 0.200 -> 0.150, SSIM 0.500 -> 0.500" in c.this_run
    assert "colour transfer (CIELAB mean/std of the CG crops matched to the real crops') L1 0.140" in c.this_run
    assert "gain over colour transfer L1 +0.010 [+0.005, +0.020]" in c.this_run
    assert "than its input and than the colour transfer in L1 and in SSIM" in c.why
    _paired(p, {1: (0.005, 0.02), 8: (-0.01, 0.01)})
    c = verdict.translation_check(p)
    assert c.verdict == verdict.INCONCLUSIVE and c.why.endswith("8: not closer than its input in L1")
    _paired(p, {1: (-0.02, -0.005), 8: (-0.01, 0.01)})
    assert verdict.translation_check(p).verdict == verdict.NOT_REPRODUCED


def test_translation_check_needs_ssim_too(tmp_path):
    """The review's case: closer than the input in L1 (and than the colour transfer), farther in SSIM."""
    _paired(tmp_path / "p.csv", {1: (0.005, 0.02), 8: (0.001, 0.01)}, ssim=DOWN)
    c = verdict.translation_check(tmp_path / "p.csv")
    assert c.verdict == verdict.NOT_REPRODUCED
    assert c.why == (
        "no count's last generator is closer to the truth than both its input and the colour transfer in L1 and "
        "in SSIM (95% intervals); 1: not closer than its input in SSIM; 8: not closer than its input in SSIM"
    )
    assert "colour statistics" not in c.why
    # One count that passes in SSIM too: only some counts pass.
    _paired(tmp_path / "p.csv", {1: (0.005, 0.02), 8: (0.001, 0.01)}, ssim={1: UP, 8: ZERO})
    c = verdict.translation_check(tmp_path / "p.csv")
    assert c.verdict == verdict.INCONCLUSIVE and c.why.startswith("1 of 2 counts' last generators are closer")


def test_translation_check_against_the_colour_transfer(tmp_path):
    """A generator closer than its input in both measures that is no closer than the colour transfer
    learned no more than colour statistics; one that beats it in L1 only is not enough either."""
    _paired(tmp_path / "p.csv", {1: (0.005, 0.02), 8: (0.001, 0.01)}, vs_colour=(ZERO, ZERO))
    c = verdict.translation_check(tmp_path / "p.csv")
    assert c.verdict == verdict.NOT_REPRODUCED
    assert c.why.startswith(
        "no count's last generator is closer to the truth than the colour transfer in L1 and in SSIM (95% "
        "intervals): the translation learned no more than colour statistics; "
    )
    assert "1: not closer than the colour transfer in L1 and SSIM" in c.why
    assert "gain over colour transfer L1 +0.000 [-0.004, +0.004], SSIM +0.000 [-0.004, +0.004]" in c.this_run
    # Better in L1, worse in SSIM than the colour transfer at one count; the other count beats it in both.
    _paired(tmp_path / "p.csv", {1: (0.005, 0.02), 8: (0.001, 0.01)}, vs_colour={1: (UP, UP), 8: (UP, DOWN)})
    c = verdict.translation_check(tmp_path / "p.csv")
    assert c.verdict == verdict.INCONCLUSIVE
    assert c.why == (
        "1 of 2 counts' last generators are closer to the truth than their input and than the colour transfer in "
        "L1 and in SSIM (95% intervals); 8: learned no more than colour statistics (not closer than the colour "
        "transfer in SSIM)"
    )
    # Neither count beats the colour transfer in SSIM, one is not closer than its input in L1 either.
    _paired(tmp_path / "p.csv", {1: (0.005, 0.02), 8: (-0.01, 0.01)}, vs_colour=(UP, ZERO))
    c = verdict.translation_check(tmp_path / "p.csv")
    assert c.verdict == verdict.NOT_REPRODUCED and "learned no more than colour statistics" in c.why
    assert "8: not closer than its input in L1, not closer than the colour transfer in SSIM" in c.why


def test_verdict_command_writes_markdown(tmp_path):
    logs = _logs(tmp_path, {1: 70.0, 2: 40.0}, device="cpu", cpu_cores=2)
    _fid(tmp_path / "f.csv", 0.010, 0.016, 0.002)
    up = (3.0, 1.0, 5.0)
    _table(tmp_path / "t.csv", {"b - a": up, "f - a": up, "f - b": up, "gen - b": up, "gap closed": (0.9, 0.5, 1.2)})
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
