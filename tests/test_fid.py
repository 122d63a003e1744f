"""FID: agrees with pytorch-fid run as its own program, the Frechet distance matches hand computations,
set statistics are cached by content, and missing weights fail with directions.

The weights used throughout are a random state dict of the FID Inception saved under pytorch-fid's file
name in a temporary ``TORCH_HOME/hub/checkpoints``: pytorch-fid loads that file instead of downloading,
and a socket guard in its process proves it never tries the network.
"""

from __future__ import annotations

import csv
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import run_cli
from cycleaug import cli
from cycleaug.errors import CycleAugError
from cycleaug.fid.features import compute_activations, list_images
from cycleaug.fid.statistics import FRECHET_EPS, frechet_distance, frechet_distance_details, kernel_inception_distance
from cycleaug.fid.table import Run, compute_fid
from cycleaug.fid.weights import (
    LABEL_RANDOM,
    RANDOM_INIT_SEED,
    WEIGHTS_FILENAME,
    WEIGHTS_URL,
    build_model,
    default_weights_path,
    load_weights,
    random_init_state_dict,
)
from PIL import Image

# Runs `python -m pytorch_fid ARGS` with every socket connection failing: a download attempt would
# crash it instead of silently succeeding or hanging.
PYTORCH_FID_NO_NETWORK = """
import runpy, socket, sys
def refuse(*args, **kwargs):
    raise OSError("pytorch-fid attempted network access")
socket.socket.connect = refuse
socket.create_connection = refuse
sys.argv = ["pytorch_fid", *sys.argv[1:]]
runpy.run_module("pytorch_fid", run_name="__main__", alter_sys=True)
"""


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def torch_home(tmp_path_factory) -> Path:
    """A TORCH_HOME whose hub cache holds a random FID Inception state dict under pytorch-fid's file name."""
    home = tmp_path_factory.mktemp("torch_home")
    checkpoints = home / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    torch.save(random_init_state_dict(seed=123), checkpoints / WEIGHTS_FILENAME)
    return home


@pytest.fixture(scope="module")
def weights_file(torch_home) -> Path:
    return torch_home / "hub" / "checkpoints" / WEIGHTS_FILENAME


def make_images(directory: Path, n: int, seed: int, size=(64, 64), brightness: int = 0, ext: str = "png") -> Path:
    """Blocky random colour images plus noise, so that images differ in structure, not only in noise."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    w, h = size
    for i in range(n):
        blocks = rng.integers(0, 256, size=(h // 8, w // 8, 3))
        img = np.kron(blocks, np.ones((8, 8, 1))) + rng.normal(brightness, 25, size=(h, w, 3))
        Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(directory / f"img_{i:03d}.{ext}")
    return directory


def pytorch_fid(torch_home: Path, dir_a: Path, dir_b: Path, dims: int) -> tuple[float, bool]:
    """FID printed by `python -m pytorch_fid`, and whether it took the eps fallback."""
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            PYTORCH_FID_NO_NETWORK,
            "--device",
            "cpu",
            "--num-workers",
            "0",
            "--dims",
            str(dims),
            str(dir_a),
            str(dir_b),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "TORCH_HOME": str(torch_home), "OMP_NUM_THREADS": "1"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("FID:")][-1]
    return float(line.split()[-1]), "singular product" in proc.stdout


def test_agrees_with_pytorch_fid_well_conditioned(tmp_path, torch_home, weights_file):
    """dims 64 with more images than dims: a full-rank covariance; our CLI as a separate process."""
    a = make_images(tmp_path / "a", 70, seed=1)
    b = make_images(tmp_path / "b", 68, seed=2, brightness=40)
    ref, ref_fallback = pytorch_fid(torch_home, a, b, dims=64)
    out = tmp_path / "fid.json"
    proc = run_cli("fid", a, b, "--dims", "64", "--weights", weights_file, "--device", "cpu", "--json", out)
    ours = json.loads(out.read_text())
    assert ours["fid"] == pytest.approx(ref, rel=1e-3)
    assert ours["eps_fallback"] is ref_fallback is False
    assert (ours["n_a"], ours["n_b"], ours["dims"], ours["weights"]) == (70, 68, 64, "real")
    assert proc.stdout.strip() == f"FID: {ours['fid']:.4f}"
    # 70 and 68 images > 64 dimensions: full-rank covariances, no small-set warning.
    assert "feature dimensions" not in (ours.get("warning") or "") and "rank-deficient" not in proc.stderr
    # pytorch-fid read the file we placed and downloaded nothing beside it
    assert sorted(p.name for p in weights_file.parent.iterdir()) == [WEIGHTS_FILENAME]


def test_agrees_with_pytorch_fid_rank_deficient(tmp_path, torch_home, weights_file):
    """Fewer images than feature dimensions (768-d, the third block; the default 2048 takes the same path
    at 20 times the sqrtm's cost): a rank-deficient covariance, where scipy's sqrtm may need the eps
    fallback; both implementations must take the same path."""
    a = make_images(tmp_path / "a", 10, seed=3)
    b = make_images(tmp_path / "b", 8, seed=4, brightness=40)
    ref, ref_fallback = pytorch_fid(torch_home, a, b, dims=768)
    result = compute_fid(a, b, weights=weights_file, dims=768, device="cpu")
    assert result.fid == pytest.approx(ref, rel=1e-3)
    assert result.eps_fallback is ref_fallback
    assert result.label == "FID" and len(result.warnings) == 2


def test_network_is_pytorch_fids(monkeypatch, torch_home, weights_file):
    """Bit-identical features to pytorch-fid's own InceptionV3 loading the same file (from TORCH_HOME)."""
    from pytorch_fid.inception import InceptionV3

    monkeypatch.setenv("TORCH_HOME", str(torch_home))
    monkeypatch.setattr(socket.socket, "connect", lambda *a: pytest.fail("network access attempted"))
    x = torch.rand(2, 3, 40, 56, generator=torch.Generator().manual_seed(0))
    state, weights = load_weights(weights_file)
    ours = build_model(state, 2048, "cpu")
    theirs = InceptionV3([3]).eval()
    with torch.no_grad():
        assert torch.equal(ours(x)[0], theirs(x)[0])
    assert weights.kind == "real" and weights.path == str(weights_file)
    # With no --weights, the file is looked up where pytorch-fid caches it.
    assert default_weights_path() == weights_file


# ---------------------------------------------------------------------------------------------
# Frechet distance against hand computations


def test_frechet_diagonal_covariances():
    """Diagonal covariances commute, so sqrtm(S1 S2) is the element-wise sqrt of the diagonal product."""
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    s1, s2 = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 0.25])
    expected = (1 + 0 + 4) + (1 + 4 + 9) + (4 + 1 + 0.25) - 2 * (2 + 2 + 1.5)
    assert frechet_distance(mu1, np.diag(s1), mu2, np.diag(s2)) == pytest.approx(expected, rel=1e-12)
    assert frechet_distance(mu1, np.diag(s1), mu1, np.diag(s1)) == pytest.approx(0.0, abs=1e-12)


def test_frechet_full_covariances_against_eigendecomposition():
    """Full covariances: Tr sqrt(S1 S2) = sum sqrt(eig(S1^1/2 S2 S1^1/2)), computed without sqrtm."""
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(50, 6)), rng.normal(size=(40, 6)) @ rng.normal(size=(6, 6)) + 0.5
    mu1, s1, mu2, s2 = x.mean(0), np.cov(x, rowvar=False), y.mean(0), np.cov(y, rowvar=False)
    w, v = np.linalg.eigh(s1)
    root1 = v @ np.diag(np.sqrt(w)) @ v.T
    tr_root = np.sqrt(np.linalg.eigvalsh(root1 @ s2 @ root1)).sum()
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * tr_root
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-9)


def test_frechet_eps_fallback_on_a_singular_product():
    """S1 S2 = [[0, 1], [0, 0]] has no square root (scipy returns inf): eps goes on both diagonals.
    Then (S1 + eps I)(S2 + eps I) = (1 + eps) [[eps, 1], [0, eps]], whose square root has trace
    2 sqrt(eps (1 + eps))."""
    eps = FRECHET_EPS
    s1, s2 = np.eye(2), np.array([[0.0, 1.0], [0.0, 0.0]])
    value, fallback = frechet_distance_details(np.zeros(2), s1, np.ones(2), s2)
    assert fallback
    assert value == pytest.approx(2 + 2 + 0 - 2 * 2 * np.sqrt(eps * (1 + eps)), rel=1e-9)
    # and no fallback where the product has a square root
    assert frechet_distance_details(np.zeros(2), s1, np.zeros(2), s1)[1] is False


def test_frechet_imaginary_component():
    """A negative eigenvalue gives an imaginary root: above 1e-3 on the diagonal it is an error,
    below it is dropped (sqrt(-1e-8) = 1e-4 i)."""
    with pytest.raises(CycleAugError, match="imaginary component of 1"):
        frechet_distance(np.zeros(2), np.eye(2), np.zeros(2), np.diag([1.0, -1.0]))
    value = frechet_distance(np.zeros(2), np.eye(2), np.zeros(2), np.diag([1.0, -1e-8]))
    assert value == pytest.approx(2 + (1 - 1e-8) - 2 * (1 + 0), abs=1e-12)


def test_frechet_bad_statistics():
    with pytest.raises(CycleAugError, match="shapes differ"):
        frechet_distance(np.zeros(2), np.eye(2), np.zeros(3), np.eye(3))
    with pytest.raises(CycleAugError, match="not finite"):
        frechet_distance(np.zeros(2), np.diag([np.nan, 1.0]), np.zeros(2), np.eye(2))


# ---------------------------------------------------------------------------------------------
# Cache, weights, table


@pytest.fixture
def count_extractions(monkeypatch):
    """Counts network passes over a set: cached statistics must not reach compute_activations."""
    calls = []
    real = compute_activations

    def counting(files, *args, **kwargs):
        calls.append(Path(files[0]).parent.name)
        return real(files, *args, **kwargs)

    monkeypatch.setattr("cycleaug.fid.statistics.compute_activations", counting)
    return calls


def test_cache_reused_and_invalidated(tmp_path, weights_file, count_extractions):
    a = make_images(tmp_path / "a", 5, seed=5)
    b = make_images(tmp_path / "b", 4, seed=6, brightness=30)
    cache = tmp_path / "cache"
    first = compute_fid(a, b, weights=weights_file, dims=64, device="cpu", cache_dir=cache)
    assert sorted(count_extractions) == ["a", "b"] and len(list(cache.glob("*.npz"))) == 2

    again = compute_fid(a, b, weights=weights_file, dims=64, device="cpu", cache_dir=cache)
    assert sorted(count_extractions) == ["a", "b"]  # no new network pass
    assert again.fid == first.fid

    # Same bytes, new mtime: still cached. New bytes in one image: that set is recomputed.
    os.utime(a / "img_000.png", (1, 1))
    compute_fid(a, b, weights=weights_file, dims=64, device="cpu", cache_dir=cache)
    assert sorted(count_extractions) == ["a", "b"]
    make_images(tmp_path / "new", 1, seed=99)
    os.replace(tmp_path / "new" / "img_000.png", a / "img_000.png")
    changed = compute_fid(a, b, weights=weights_file, dims=64, device="cpu", cache_dir=cache)
    assert sorted(count_extractions) == ["a", "a", "b"] and changed.fid != first.fid

    # An added image, other dims and other weights are other keys too.
    make_images(tmp_path / "extra", 1, seed=7)
    os.replace(tmp_path / "extra" / "img_000.png", a / "img_999.png")
    compute_fid(a, b, weights=weights_file, dims=192, device="cpu", cache_dir=cache)
    assert sorted(count_extractions) == ["a", "a", "a", "b", "b"]
    assert len(list(cache.glob("*.npz"))) == 5


def test_mixed_image_sizes_are_batched_like_single_images(tmp_path, weights_file):
    """pytorch-fid cannot batch images of different sizes; we resize each to 299 with the model's own
    interpolation first, which must give the features of the image passed alone."""
    d = make_images(tmp_path / "d", 3, seed=8)
    make_images(tmp_path / "odd", 1, seed=9, size=(48, 72), ext="jpg")
    os.replace(tmp_path / "odd" / "img_000.jpg", d / "odd.jpg")
    state, _ = load_weights(weights_file)
    model = build_model(state, 64, "cpu")
    files = list_images(d)
    batched = compute_activations(files, model, batch_size=4)
    alone = np.concatenate([compute_activations([f], model, batch_size=1) for f in files])
    np.testing.assert_allclose(batched, alone, rtol=1e-5, atol=1e-6)


def test_missing_weights_fail_early_with_directions(tmp_path, monkeypatch, capsys):
    missing = tmp_path / "downloads" / WEIGHTS_FILENAME
    # The image directories do not exist either: the weights are checked first.
    assert cli.main(["fid", str(tmp_path / "x"), str(tmp_path / "y"), "--weights", str(missing)]) == 2
    err = capsys.readouterr().err
    assert f"{missing}: FID Inception weights not found" in err
    assert WEIGHTS_URL in err and f"save it as {missing}" in err
    # The default is pytorch-fid's cache location under TORCH_HOME.
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th"))
    assert cli.main(["fid-table", "--real", "x", "--runs", "4:1:y", "--out", str(tmp_path / "f.csv")]) == 2
    assert str(tmp_path / "th" / "hub" / "checkpoints" / WEIGHTS_FILENAME) in capsys.readouterr().err


def test_fid_table_csv(tmp_path, count_extractions, capsys):
    """random-init weights, one real set computed once, rows sorted by (gpus, epoch)."""
    real = make_images(tmp_path / "real", 5, seed=10)
    e1 = make_images(tmp_path / "e1", 4, seed=11, brightness=60)
    e2 = make_images(tmp_path / "e2", 3, seed=12, brightness=20)
    out = tmp_path / "results" / "fid" / "fid.csv"
    cache = tmp_path / "cache"
    assert (
        cli.main(
            [
                "fid-table",
                "--real",
                str(real),
                "--runs",
                f"64:2:{e2}",
                f"4:2:{e2}",
                f"4:1:{e1}",
                "--out",
                str(out),
                "--weights",
                "random-init",
                "--dims",
                "64",
                "--cache-dir",
                str(cache),
            ]
        )
        == 0
    )
    with open(out, newline="") as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == [
            "gpus",
            "epoch",
            "fid",
            "kid",
            "kid_std",
            "kid_subset",
            "n_real",
            "n_fake",
            "weights",
            "dims",
        ]
        rows = list(reader)
    assert {r["dims"] for r in rows} == {"64"}
    assert [(r["gpus"], r["epoch"], r["n_real"], r["n_fake"], r["weights"]) for r in rows] == [
        ("4", "1", "5", "4", "random-init"),
        ("4", "2", "5", "3", "random-init"),
        ("64", "2", "5", "3", "random-init"),
    ]
    assert count_extractions == ["real", "e1", "e2", "e2"]  # the real set once; generated sets not cached
    assert len(list(cache.glob("*.npz"))) == 1
    err = capsys.readouterr().err
    assert err.count("5 images <= 64 feature dimensions") == 1
    assert "FID (random features, not comparable to published FID)" in err

    # Each row equals the pairwise FID, which reads the real set from the cache.
    pair = compute_fid(real, e1, weights="random-init", dims=64, device="cpu", cache_dir=cache)
    assert float(rows[0]["fid"]) == pair.fid and rows[1]["fid"] == rows[2]["fid"]
    # KID from the same features: the sets' own sizes bound the subsets; same generated set, same KID.
    assert [r["kid_subset"] for r in rows] == ["4", "3", "3"] and rows[1]["kid"] == rows[2]["kid"]
    assert all(np.isfinite(float(r["kid"])) and float(r["kid_std"]) >= 0 for r in rows)
    assert pair.label == LABEL_RANDOM and pair.to_json()["random_init_seed"] == RANDOM_INIT_SEED


def _kid_by_hand(x: np.ndarray, y: np.ndarray) -> float:
    """The unbiased MMD^2 of Binkowski et al. 2018 (Sec. 3), term by term."""
    d = x.shape[1]

    def k(a, b):
        return (float(np.dot(a, b)) / d + 1) ** 3

    m, n = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return xx + yy - 2 * xy


def test_kid_against_the_formula_by_hand():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(7, 4)), rng.normal(0.5, 1.2, size=(7, 4))
    # Subsets as large as both sets are permutations of them: every subset gives the full-set value.
    mean, std, m = kernel_inception_distance(x, y, subsets=5, subset_size=100)
    assert m == 7 and mean == pytest.approx(_kid_by_hand(x, y), rel=1e-10) and std < 1e-12
    # Smaller subsets: each subset's value is the by-hand value of those rows.
    mean, std, m = kernel_inception_distance(x, y, subsets=3, subset_size=4, seed=5)
    rng2 = np.random.default_rng(5)
    values = []
    for _ in range(3):
        xs, ys = x[rng2.choice(7, 4, replace=False)], y[rng2.choice(7, 4, replace=False)]
        values.append(_kid_by_hand(xs, ys))
    assert (mean, std, m) == (pytest.approx(np.mean(values), rel=1e-10), pytest.approx(np.std(values), rel=1e-8), 4)


def test_kid_is_unbiased_near_zero_for_one_distribution_and_positive_for_two():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(300, 16)), rng.normal(size=(300, 16))
    same, same_std, _ = kernel_inception_distance(a, b, subsets=50, subset_size=100)
    shifted, shifted_std, _ = kernel_inception_distance(a, b + 0.5, subsets=50, subset_size=100)
    assert abs(same) < 3 * same_std  # unbiased: can be negative, centred on 0
    assert shifted > 5 * shifted_std and shifted > 20 * abs(same)
    with pytest.raises(CycleAugError, match="at least 2"):
        kernel_inception_distance(a[:1], b)


def test_run_spec_parsing():
    assert Run.parse("128:200:results/samples/128gpu/epoch200") == Run(128, 200, "results/samples/128gpu/epoch200")
    assert Run.parse("4:1:C:/odd:dir").directory == "C:/odd:dir"
    for bad in ("4:results/x", "four:1:x", "4:1:"):
        with pytest.raises(CycleAugError, match="GPUS:EPOCH:DIR"):
            Run.parse(bad)


def test_too_few_images(tmp_path, weights_file):
    d = make_images(tmp_path / "one", 1, seed=13)
    with pytest.raises(CycleAugError, match="needs at least 2"):
        compute_fid(d, d, weights=weights_file, dims=64, device="cpu")
