"""The detector training conditions of Table 2 and the one image selection they share.

Paper (FACTS.md, "Detector"; Sec. 3.3, 4.3): (a) ``n_real`` BDD100K training images (500);
(b) (a) + ``n_synthetic`` raw SYNTHIA images with their person boxes (1,017); (c)-(g) (a) + the same
SYNTHIA images translated by the CycleGAN trained on 4, 64, 128, 256 and 512 GPUs. Evaluation on
BDD100K validation images only.

Condition names carry what they train on, so a rule name says it all: ``a_bdd``, ``b_bdd_cg``, then
one ``{letter}_gen{n}gpu`` per CycleGAN GPU count in increasing order, lettered from ``c``
(paper: ``c_gen4gpu``, ``d_gen64gpu``, ``e_gen128gpu``, ``f_gen256gpu``, ``g_gen512gpu``).

On demo data one more condition has no counterpart in the paper: the positive control
``{letter}_bdd_truth``, lettered after the last translated set ((h) in a run of five GPU counts): (a) +
the same selected SYNTHIA scenes drawn in the BDD-like style (the demo's paired truth,
``synthia/PAIRED/RGB``, cycleaug.data.demo) with the same boxes: a perfect translation. If it does not
beat raw CG, no translation can, and claim 2 cannot be tested in that regime (cycleaug.verdict).
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass

import numpy as np

from cycleaug.errors import CycleAugError
from cycleaug.labels import Frame

REAL = "real"  # BDD100K selection only
RAW = "raw"  # + raw SYNTHIA
GENERATED = "generated"  # + SYNTHIA translated by a CycleGAN
TRUTH = "truth"  # + the same SYNTHIA scenes drawn in the BDD-like style (demo data only)


@dataclass(frozen=True)
class Condition:
    name: str
    label: str  # the training set in Table 2's words, e.g. "(a) + raw CG"
    synthetic_source: str  # REAL (none), RAW, GENERATED or TRUTH
    gpus: int | None = None  # CycleGAN GPU count for GENERATED

    @property
    def letter(self) -> str:
        return self.name.split("_", 1)[0]

    @property
    def tag(self) -> str:
        return f"({self.letter})"

    @property
    def title(self) -> str:
        return f"{self.tag} {self.label}"


A = Condition("a_bdd", "BDD only", REAL)
B = Condition("b_bdd_cg", "(a) + raw CG", RAW)


def _generated(letter: str, gpus: int) -> Condition:
    count = "1 GPU" if gpus == 1 else f"{gpus} GPUs"
    return Condition(f"{letter}_gen{gpus}gpu", f"(a) + generated, {count}", GENERATED, gpus)


def _truth(letter: str) -> Condition:
    return Condition(f"{letter}_bdd_truth", "(a) + paired truth (perfect translation)", TRUTH)


def has_paired_truth(config: dict) -> bool:
    """Only the demo generator draws each CG scene a second time in the photo style."""
    return config["data"]["source"] == "demo"


def conditions(config: dict) -> list[Condition]:
    """Every condition for a (validated) workflow config, in Table 2's order: (a), (b), one translated set
    per GPU count, and on demo data the paired-truth control after them."""
    counts = sorted(config["cyclegan"]["gpu_counts"])
    letters = string.ascii_lowercase[2:]
    extra = 1 if has_paired_truth(config) else 0
    if len(counts) + extra > len(letters):
        raise CycleAugError(
            f"cyclegan.gpu_counts: {len(counts)} counts; at most {len(letters) - extra} conditions c..z"
        )
    out = [A, B] + [_generated(letter, n) for letter, n in zip(letters, counts)]
    return out + ([_truth(letters[len(counts)])] if extra else [])


_NAME = re.compile(r"^(?:(a)_bdd|(b)_bdd_cg|([c-z])_gen(\d+)gpu|([c-z])_bdd_truth)$")


def parse_condition(name: str) -> Condition:
    """The `Condition` a name stands for (``a_bdd``, ``b_bdd_cg``, ``{letter}_gen{n}gpu``,
    ``{letter}_bdd_truth``)."""
    m = _NAME.match(name)
    if not m:
        raise CycleAugError(
            f"condition {name!r}: expected a_bdd, b_bdd_cg, <letter>_gen<N>gpu (e.g. c_gen4gpu) or <letter>_bdd_truth"
        )
    if m.group(1):
        return A
    if m.group(2):
        return B
    if m.group(5):
        return _truth(m.group(5))
    return _generated(m.group(3), int(m.group(4)))


def frames_with_person(frames: list[Frame]) -> list[Frame]:
    return [f for f in frames if f.boxes]


def select(frames: list[Frame], n: int | None, seed: int, what: str, stream: int) -> list[Frame]:
    """``n`` frames with at least one person box, drawn without replacement by a generator seeded by
    (seed, stream) from the frames sorted by name, so the draw does not depend on file order; returned
    sorted by name. ``n=None`` keeps every eligible frame."""
    eligible = sorted(frames_with_person(frames), key=lambda f: f.name)
    names = [f.name for f in eligible]
    if len(set(names)) != len(names):
        raise CycleAugError(f"{what}: frame names repeat; every image must appear once")
    if n is None:
        return eligible
    if n > len(eligible):
        raise CycleAugError(
            f"{what}: {n} images with a person requested, only {len(eligible)} of {len(frames)} frames have one"
        )
    idx = np.random.default_rng([seed, stream]).choice(len(eligible), size=n, replace=False)
    return [eligible[i] for i in sorted(idx)]


def select_val(frames: list[Frame], n: int | None, seed: int) -> list[Frame]:
    """Evaluation frames: all of them, or ``n`` drawn with the seed (with or without persons, as the
    validation set is; images without a person still count their false positives)."""
    frames = sorted(frames, key=lambda f: f.name)
    if n is None or n >= len(frames):
        return frames
    idx = np.random.default_rng([seed, 3]).choice(len(frames), size=n, replace=False)
    return [frames[i] for i in sorted(idx)]


# Streams of the selection generator: one per set, so changing one count leaves the others alone.
STREAM_REAL, STREAM_SYNTHETIC, STREAM_HELDOUT, STREAM_PRETRAIN, STREAM_TUNE = 1, 2, 4, 5, 6


def select_heldout(
    frames: list[Frame],
    exclude: list[Frame],
    n: int,
    seed: int,
    stream: int = STREAM_HELDOUT,
    what: str = "--n-heldout",
) -> list[Frame]:
    """A second evaluation split for the selection-bias check: ``n`` frames (with or without persons, as a
    validation set) drawn with the seed from ``frames`` minus ``exclude`` (the detector's training
    images), sorted by name. Disjoint from the training images, and, drawn from BDD100K *train*, from the
    val set whose best mAP Table 2 reports."""
    taken = {f.name for f in exclude}
    pool = sorted((f for f in frames if f.name not in taken), key=lambda f: f.name)
    if n > len(pool):
        raise CycleAugError(
            f"{what} {n}: only {len(pool)} images are left besides the {len(taken)} images of the other splits"
        )
    idx = np.random.default_rng([seed, stream]).choice(len(pool), size=n, replace=False)
    return [pool[i] for i in sorted(idx)]


def select_pretrain(frames: list[Frame], exclude: list[Frame], n: int, seed: int) -> list[Frame]:
    """The demo's pretraining pool: ``n`` frames with a person from ``frames`` minus ``exclude`` (every
    image of the other splits), so the backbone every condition starts from has seen none of them."""
    taken = {f.name for f in exclude}
    return select([f for f in frames if f.name not in taken], n, seed, f"--n-pretrain {n}", STREAM_PRETRAIN)


def aligned_source(condition: Condition) -> str | None:
    """The name of a condition's synthetic set among the aligned ones: raw, truth, gen{n}gpu, or None (a)."""
    if condition.synthetic_source == RAW:
        return "raw"
    if condition.synthetic_source == TRUTH:
        return "truth"
    if condition.synthetic_source == GENERATED:
        return f"gen{condition.gpus}gpu"
    return None


def train_sets(
    condition: Condition,
    sets_dir: str,
    bdd_images: str,
    synthia_images: str,
    generated_dir: str,
    generated_labels: str,
    aligned_dir: str | None = None,
    truth_images: str | None = None,
) -> list[tuple[str, str]]:
    """``(labels, images)`` pairs a condition trains on: always ``real.json`` with the BDD100K images;
    plus ``synthetic.json`` with the raw SYNTHIA images (b), or the translated set of the CycleGAN of
    ``condition.gpus`` GPUs with its own labels file (``generated_dir`` and ``generated_labels`` with
    ``{gpus}`` filled in; c..): the selection's frames and boxes under the translated images' names.
    The paired-truth control trains on ``synthetic.json`` with ``truth_images`` (the same names, drawn in the
    photo style). With ``aligned_dir`` (``{source}`` in it), the synthetic set is its aligned copy
    (cycleaug.yolo.align)."""
    sets = [(f"{sets_dir}/real.json", bdd_images)]
    source = aligned_source(condition)
    if aligned_dir is not None and source is not None:
        root = aligned_dir.format(source=source)
        sets.append((f"{root}/labels.json", f"{root}/images"))
    elif condition.synthetic_source == RAW:
        sets.append((f"{sets_dir}/synthetic.json", synthia_images))
    elif condition.synthetic_source == GENERATED:
        sets.append((generated_labels.format(gpus=condition.gpus), generated_dir.format(gpus=condition.gpus)))
    elif condition.synthetic_source == TRUTH:
        if truth_images is None:
            raise CycleAugError(f"condition {condition.name}: needs the paired-truth images (demo data only)")
        sets.append((f"{sets_dir}/synthetic.json", truth_images))
    return sets
