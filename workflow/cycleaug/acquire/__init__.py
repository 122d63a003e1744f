"""Fetch, verify and unpack the data sets and weights of the paper run (BDD100K, SYNTHIA,
darknet53.conv.74, the FID Inception weights) with the standard library only.

    cycleaug fetch --url https://pjreddie.com/media/files/darknet53.conv.74 --out data/pretrained/darknet53.conv.74
    cycleaug fetch --path downloads/bdd100k_labels_release.zip --out downloads/bdd100k_labels_release.zip \\
        --md5 e21be3e7d6a07ee439faf61e769667e4 --extract-to data/raw/bdd100k/labels --strip 2

Guarantees, in order:
- a download resumes from ``OUT.part`` (HTTP ``Range``), retries a bounded number of times on
  connection errors, and is renamed to ``OUT`` only after its checksum matched; a wrong checksum
  deletes the ``.part`` and leaves nothing under ``OUT``;
- an archive is listed and checked before anything is written: a member that would land outside
  the target folder (``..``, an absolute path, a link pointing outside, a device file) refuses the
  whole archive;
- it is unpacked into a temporary folder beside the target and moved into place only when it was
  unpacked completely and has the expected layout;
- it unpacks to no more than its size limits (``Limits``: total, per member, compression ratio),
  checked from its listing first and on the bytes written;
- every bad input (a malformed checksum, a URL that is not http(s), an encrypted or self-contradicting
  archive) and every full, read-only or forbidden disk is one CycleAugError naming the path, and
  leaves nothing half-written.

The package has one module per concern: :mod:`~cycleaug.acquire.downloads` (download, verify,
fetch), :mod:`~cycleaug.acquire.archives` (safe extraction) and :mod:`~cycleaug.acquire.sources`
(the catalogue of sources the rules read).
"""

from cycleaug.acquire.archives import (
    ArchiveTooLargeError,
    Limits,
    UnsafeArchiveError,
    archive_kind,
    extract,
    parse_ratio,
    parse_size,
)
from cycleaug.acquire.downloads import ChecksumError, check_url, download, fetch, file_digests, verify
from cycleaug.acquire.sources import Source, all_sources, check_sources, required_sources, target_path

__all__ = [
    "ArchiveTooLargeError",
    "ChecksumError",
    "Limits",
    "Source",
    "UnsafeArchiveError",
    "all_sources",
    "archive_kind",
    "check_sources",
    "check_url",
    "download",
    "extract",
    "fetch",
    "file_digests",
    "parse_ratio",
    "parse_size",
    "required_sources",
    "target_path",
    "verify",
]
