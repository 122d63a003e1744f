"""Glue of workflow/rules/acquire.smk: the config's sources (cycleaug.acquire.sources) and the
`cycleaug fetch` options of each."""

from __future__ import annotations

import shlex

from cycleaug.acquire.sources import Source, all_sources


def fetch_options(source: Source) -> str:
    """``--path`` (used if present), ``--url``, checksums."""
    spec = source.spec or {}
    args = ["--path", spec["path"]]
    for key in ("url", "sha256", "md5"):
        if spec.get(key):
            args += [f"--{key}", str(spec[key])]
    return shlex.join(args)


def layout_options(source: Source) -> str:
    """Unpacking options of an archive: ``--strip N --expect PATH ...`` and the size limits set in
    config ``acquire`` (``--max-total`` ...)."""
    args = ["--strip", str(source.strip)]
    for e in source.expect:
        args += ["--expect", e]
    return shlex.join([*args, *source.limits])


def weights_file(config: dict, name: str) -> str:
    """The verified copy of pretrained weights (``darknet53``, ``inception``) the rules read."""
    return all_sources(config)[name].path(config["data_dir"])
