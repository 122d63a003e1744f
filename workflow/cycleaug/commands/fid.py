"""`cycleaug fid DIR_A DIR_B`: the FID between two image directories, as pytorch-fid computes it.

    cycleaug fid data/crops/bdd100k results/samples/4gpu/epoch200 \
        --weights downloads/pt_inception-2015-12-05-6726825d.pth --cache-dir results/fid/cache --json fid.json
"""

from __future__ import annotations

import argparse
import sys

HELP = "FID between two image directories (pytorch-fid's network, weights from a local file)"


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """Options shared with `cycleaug fid-table`."""
    parser.add_argument(
        "--weights",
        default=None,
        metavar="FILE|random-init",
        help="FID Inception weights (pt_inception-2015-12-05-6726825d.pth, pytorch-fid's file), read locally, "
        "never downloaded; 'random-init' = fixed-seed random network (seed 0), values not comparable to "
        "published FID (default: $TORCH_HOME/hub/checkpoints/pt_inception-2015-12-05-6726825d.pth, "
        "where pytorch-fid caches it)",
    )
    parser.add_argument(
        "--dims",
        type=int,
        default=2048,
        choices=(64, 192, 768, 2048),
        help="feature dimension = Inception block, as pytorch-fid's --dims (pool3)",
    )
    parser.add_argument("--batch-size", type=int, default=50, help="images per forward pass")
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda or cuda:N")
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="image-decoding processes (default: 0 on CPU, min(8, cores) with CUDA)",
    )
    parser.add_argument(
        "--cache-dir",
        default=None,
        metavar="DIR",
        help="cache set statistics here as <content hash>.npz (keyed by the images' bytes, "
        "dims and weights); reused while the set is unchanged",
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dir_a", metavar="DIR_A", help="first image directory (e.g. the real crops)")
    parser.add_argument("dir_b", metavar="DIR_B", help="second image directory (e.g. generated crops)")
    add_common_arguments(parser)
    parser.add_argument(
        "--json",
        default=None,
        metavar="OUT",
        help="also write the value, set sizes, weights identity and warnings as JSON",
    )


def run(args: argparse.Namespace) -> int:
    from cycleaug.atomic import write_json
    from cycleaug.fid.table import compute_fid

    result = compute_fid(
        args.dir_a,
        args.dir_b,
        weights=args.weights,
        dims=args.dims,
        batch_size=args.batch_size,
        device=args.device,
        workers=args.workers,
        cache_dir=args.cache_dir,
    )
    for note in result.warnings:
        print(f"cycleaug fid: warning: {note}", file=sys.stderr)
    print(f"{result.label}: {result.fid:.4f}")
    if args.json:
        write_json(args.json, result.to_json())
    return 0
