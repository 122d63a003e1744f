"""The catalogue of what the paper run reads from outside: BDD100K images and labels, SYNTHIA, the
darknet53 and FID Inception weights; for each, where to get it, its config key, and what it unpacks
into under ``data_dir``. ``check_sources`` says, before any job runs, what is neither on disk nor
fetchable.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

from cycleaug.acquire.archives import Limits, parse_ratio, parse_size


@dataclass(frozen=True)
class Source:
    name: str  # short name, used for rule names and logs
    key: str  # config key of the source (url, path, sha256, md5)
    spec: dict  # that config entry
    what: str  # what to download, by its official name
    where: str  # the official page or URL
    target: str  # what it becomes, relative to data_dir
    strip: int = 0  # leading folders dropped when unpacking
    expect: tuple[str, ...] = ()  # paths (relative to target) the unpacked archive must have
    limits: tuple[str, ...] = ()  # `cycleaug fetch` size-limit options from config acquire.* (non-default ones)

    @property
    def is_archive(self) -> bool:
        return self.target.startswith("raw/")

    def path(self, data_dir: str) -> str:
        """What the source becomes: the unpack folder of an archive, or the verified weights file."""
        return f"{data_dir}/{self.target}"

    def outputs(self, data_dir: str) -> list[str]:
        """The files an unpacked archive must provide (its ``expect`` paths under the unpack folder)."""
        return [f"{data_dir}/{self.target}/{e}" for e in self.expect]

    @property
    def archive(self) -> str:
        """Where the archive is, or is downloaded to: the configured ``path``."""
        return self.spec["path"]


BDD_PAGE = (
    "https://bdd-data.berkeley.edu/ (free account and login needed; the BDD100K docs also list the "
    "mirror https://dl.cv.ethz.ch/bdd100k/data/)"
)
SYNTHIA_PAGE = "http://synthia-dataset.net/downloads/"


def _bdd_sources(config: dict) -> list[Source]:
    bdd = config["data"]["bdd100k"]
    # Layouts and md5 sums: BDD100K documentation, "Data Download" (github.com/bdd100k/bdd100k,
    # doc/source/download.rst) and "Using Data" (doc.bdd100k.com/usage.html): the 100K Images zip
    # holds bdd100k/images/100k/{train,val,test}/, the 2018 "Labels" zip
    # bdd100k/labels/bdd100k_labels_images_{train,val}.json, "Detection 2020 Labels"
    # bdd100k/labels/det_20/det_{train,val}.json.
    images = Source(
        "bdd100k_images",
        "data.bdd100k.images",
        bdd["images"],
        'BDD100K "100K Images" (bdd100k_images_100k.zip, 5.3 GB, md5 5a0359c86a0b8713adab1eee9a3041cb)',
        BDD_PAGE,
        "raw/bdd100k/images",
        strip=2,
        expect=("100k/train", "100k/val"),
    )
    # The label files unpack straight into the folder the rule's outputs sit in (det_20 one level
    # deeper), so that folder is always the outputs' parent.
    if bdd.get("label_format", "legacy") == "det20":
        labels = Source(
            "bdd100k_labels",
            "data.bdd100k.labels",
            bdd["labels"],
            'BDD100K "Detection 2020 Labels" (bdd100k_det_20_labels_trainval.zip, 53 MB, '
            "md5 b86a3e1b7edbcad421b7dad2b3987c94)",
            BDD_PAGE,
            "raw/bdd100k/labels/det_20",
            strip=3,
            expect=("det_train.json", "det_val.json"),
        )
    else:
        labels = Source(
            "bdd100k_labels",
            "data.bdd100k.labels",
            bdd["labels"],
            'BDD100K "Labels" (2018 release, bdd100k_labels_release.zip, 107 MB, md5 e21be3e7d6a07ee439faf61e769667e4)',
            BDD_PAGE,
            "raw/bdd100k/labels",
            strip=2,
            expect=("bdd100k_labels_images_train.json", "bdd100k_labels_images_val.json"),
        )
    return [images, labels]


def _synthia_source(config: dict) -> Source:
    syn = config["data"]["synthia"]
    release = syn.get("release", "RAND-CITYSCAPES")
    # Every SYNTHIA archive has one top folder (RAND_CITYSCAPES/, SYNTHIA-SEQS-01-DAWN/, ...) with RGB/
    # and GT/ below it; --strip 1 puts RGB/ at data/raw/synthia/RGB. RAND-CITYSCAPES: RGB/, GT/LABELS/,
    # GT/COLOR/, Depth/ (e.g. VLTSeg's README: `unrar x SYNTHIA_RAND_CITYSCAPES.rar; mv RAND_CITYSCAPES synthia`).
    what = {
        "RAND-CITYSCAPES": "SYNTHIA-RAND-CITYSCAPES (CVPR16) (SYNTHIA_RAND_CITYSCAPES.rar, about 20 GB)",
        "RAND-CVPR16": "SYNTHIA-RAND (CVPR16) (SYNTHIA_RAND_CVPR16.rar)",
        "SEQS": "one SYNTHIA-SEQS sequence (e.g. SYNTHIA-SEQS-01-SUMMER.rar)",
    }[release]
    expect = ("RGB",) if release == "RAND-CVPR16" else ("RGB", "GT/LABELS")
    return Source(
        "synthia", "data.synthia.archive", syn["archive"], what, SYNTHIA_PAGE, "raw/synthia", strip=1, expect=expect
    )


def _weight_sources(config: dict) -> list[Source]:
    pre = config.get("pretrained") or {}
    out = []
    if "darknet53" in pre:
        out.append(
            Source(
                "darknet53",
                "pretrained.darknet53",
                pre["darknet53"],
                "darknet53.conv.74 (Darknet-53 ImageNet weights, first 74 layers; YOLOv3 paper set-up)",
                "https://pjreddie.com/media/files/darknet53.conv.74 (https://pjreddie.com/darknet/yolo/)",
                "pretrained/darknet53.conv.74",
            )
        )
    if "inception" in pre:
        # pytorch-fid's FID_WEIGHTS_URL (pytorch_fid/inception.py); 6726825d are the first hex digits
        # of the file's sha256 (torch.hub's naming convention, torch/hub.py HASH_REGEX).
        out.append(
            Source(
                "inception",
                "pretrained.inception",
                pre["inception"],
                "the FID Inception weights pt_inception-2015-12-05-6726825d.pth (pytorch-fid 0.3.0)",
                "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
                "pt_inception-2015-12-05-6726825d.pth",
                "pretrained/pt_inception-2015-12-05-6726825d.pth",
            )
        )
    return out


def limit_options(config: dict) -> tuple[str, ...]:
    """``--max-total``/``--max-member``/``--max-ratio`` for the values of config ``acquire`` that differ
    from :class:`Limits`' defaults (so the rules' commands, and Snakemake's params, stay as they are
    unless a limit is changed)."""
    acq = config.get("acquire") or {}
    default, args = Limits(), []
    for key, flag, parse, base in (
        ("max_total", "--max-total", parse_size, default.total),
        ("max_member", "--max-member", parse_size, default.member),
        ("max_ratio", "--max-ratio", parse_ratio, default.ratio),
    ):
        if acq.get(key) is not None and parse(acq[key], f"acquire.{key}") != base:
            args += [flag, str(acq[key])]
    return tuple(args)


def all_sources(config: dict) -> dict[str, Source]:
    """Every source the config describes, by name."""
    limits = limit_options(config)
    found = [*_bdd_sources(config), _synthia_source(config), *_weight_sources(config)]
    return {s.name: dataclasses.replace(s, limits=limits) if s.is_archive else s for s in found}


def required_sources(config: dict) -> list[Source]:
    """The sources this configuration will read: the data sets when data.source is ``real``, the
    darknet53 weights when detector.pretrained, the Inception weights when fid.weights is ``pretrained``."""
    sources = all_sources(config)
    names = []
    if config["data"]["source"] == "real":
        names += ["bdd100k_images", "bdd100k_labels", "synthia"]
    if (config.get("detector") or {}).get("pretrained"):
        names.append("darknet53")
    if (config.get("fid") or {}).get("weights") == "pretrained":
        names.append("inception")
    return [sources[n] for n in names if n in sources]


def target_path(config: dict, source: Source) -> Path:
    return Path(config["data_dir"]) / source.target


def check_sources(config: dict, root: str | os.PathLike | None = None) -> list[str]:
    """One message per needed file that can neither be found nor downloaded: what to download,
    from where, and where to put it. Empty when everything is there or has a URL.

    A source counts as present when its configured ``path`` exists, when a ``url`` is configured,
    or when what it unpacks into (``{data_dir}/raw/...``, ``{data_dir}/pretrained/...``) already
    exists. Relative paths are taken from ``root`` (default: the working directory).
    """
    root = Path(root) if root is not None else Path.cwd()
    messages = []
    for s in required_sources(config):
        spec = s.spec or {}
        path = spec.get("path")
        done = root / target_path(config, s)
        unpacked = all((done / e).exists() for e in s.expect) if s.is_archive else done.is_file()
        if spec.get("url") or (path and (root / path).is_file()) or unpacked:
            continue
        messages.append(
            f"{s.key}: {path} does not exist and {s.key}.url is not set. Download {s.what} from "
            f"{s.where} and put it at {path} (or set {s.key}.path to where it is, "
            f"or {s.key}.url to fetch it)."
        )
    return messages
