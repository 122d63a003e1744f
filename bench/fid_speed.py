"""FID feature extraction speed: cycleaug.fid vs pytorch-fid (``python -m pytorch_fid``'s
``get_activations``) on the same N images, same batch size, same weights, in the same run.

No download happens: both read the same Inception state dict, written to a temporary
``$TORCH_HOME/hub/checkpoints/pt_inception-2015-12-05-6726825d.pth`` (pytorch-fid loads it from that
cache path; cycleaug from ``--weights``). By default it is cycleaug's fixed-seed ``random-init``
state (the speed does not depend on the values); the features of the two tools are compared too.

    .venv/bin/python bench/fid_speed.py [--n 500] [--quick]
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402


def main(argv=None) -> int:
    p = common.parser(__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=500, help="images (default 500, as the issue asks)")
    p.add_argument("--dims", type=int, default=2048)
    p.add_argument("--batch-size", type=int, default=50)
    p.add_argument("--size", type=int, default=256, help="image side (our crops: 256)")
    p.add_argument("--chunks", type=int, default=5, help="parts of the images, each timed for both tools in turn")
    args = p.parse_args(argv)
    if args.quick:
        args.n, args.dims, args.batch_size, args.size, args.chunks = 4, 64, 2, 64, 2
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["TORCH_HOME"] = str(Path(tmp) / "torch")  # before pytorch_fid resolves its cache dir
        import numpy as np
        import torch
        from cycleaug.fid.features import compute_activations
        from cycleaug.fid.weights import build_model, random_init_state_dict
        from pytorch_fid.fid_score import get_activations
        from pytorch_fid.inception import InceptionV3

        state = random_init_state_dict()
        weights = Path(tmp) / "torch" / "hub" / "checkpoints" / "pt_inception-2015-12-05-6726825d.pth"
        weights.parent.mkdir(parents=True)
        torch.save(state, weights)
        files = common.synthetic_pngs(Path(tmp) / "images", args.n, args.size)

        rows, feats = [], {}
        t = time.perf_counter()
        ours_model = build_model(state, args.dims, "cpu")
        load_ours = time.perf_counter() - t
        t = time.perf_counter()
        ref_model = InceptionV3([InceptionV3.BLOCK_INDEX_BY_DIM[args.dims]]).eval()
        load_ref = time.perf_counter() - t
        warm = files[: args.batch_size]  # one untimed batch each (oneDNN primitive creation, page cache)
        compute_activations(warm, ours_model, args.batch_size, "cpu", workers=0)
        get_activations([str(f) for f in warm], ref_model, args.batch_size, args.dims, "cpu", num_workers=0)
        # Interleaved: the images in --chunks parts, each part through cycleaug then pytorch-fid.
        step = -(-len(files) // args.chunks)
        parts = [files[i : i + step] for i in range(0, len(files), step)]
        done = {"cycleaug": [], "pytorch_fid": []}
        todo = iter(parts)
        current: list = []

        def ours():
            current[:] = [next(todo)]
            done["cycleaug"].append(compute_activations(current[0], ours_model, args.batch_size, "cpu", workers=0))

        def ref():
            paths = [str(f) for f in current[0]]
            done["pytorch_fid"].append(
                get_activations(paths, ref_model, args.batch_size, args.dims, "cpu", num_workers=0)
            )

        times = common.interleaved({"cycleaug": ours, "pytorch_fid": ref}, 0, len(parts))
        feats = {k: np.concatenate(v) for k, v in done.items()}
        rows.append({"tool": "cycleaug fid", "model_load_s": load_ours, "extract_s": sum(times["cycleaug"])})
        rows.append({"tool": "pytorch-fid", "model_load_s": load_ref, "extract_s": sum(times["pytorch_fid"])})
        part_ratios = [r / o for o, r in zip(times["cycleaug"], times["pytorch_fid"])]
        for r in rows:
            r["images_per_s"] = args.n / r["extract_s"]
        ratio = rows[0]["images_per_s"] / rows[1]["images_per_s"]
        for r in rows:
            r["vs_pytorch_fid"] = r["images_per_s"] / rows[1]["images_per_s"]
        diff = float(np.abs(feats["cycleaug"] - feats["pytorch_fid"]).max())
        common.table(
            rows,
            ["tool", "model_load_s", "extract_s", "images_per_s", "vs_pytorch_fid"],
            title=f"FID features of {args.n} {args.size}px PNGs, dims {args.dims}, batch {args.batch_size}, "
            f"CPU; max |feature difference| {diff:.3g}",
        )
    common.write(
        "fid_speed",
        {
            "config": vars(args),
            "rows": rows,
            "speedup": ratio,
            "target_speedup": 1.0,
            "part_speedups": part_ratios,
            "headline": {
                "figure": "FID features images/s, cycleaug / pytorch-fid (parts interleaved)",
                "value": ratio,
                "spread": f"{min(part_ratios):.2f}-{max(part_ratios):.2f}",
                "target": 1.0,
            },
            "max_abs_feature_difference": diff,
        },
        args.out_dir,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
