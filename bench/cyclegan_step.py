"""CycleGAN training throughput (images/s per process, batch 1, 256x256, ngf 64, 9 blocks): our step with
the fast-path switches against a plain baseline step, measured in the same run.

Baseline (how the reference trains, junyanz/pytorch-CycleGAN-and-pix2pix): every iteration decodes both
PNG crops with PIL, resizes them (bicubic) to 286, crops 256 and flips (cycleaug.cyclegan.data.load_image),
then one fp32 NCHW step with non-fused, non-foreach Adam (foreach=False, fused=False).

Variants (``--variants``, comma separated; ``--ablation`` adds each switch alone):
- ``ours``: the switches config.yaml turns on: cached uint8 crops, channels_last, amp auto (bf16 where
  the device runs it natively), fused Adam; on CUDA also cudnn.benchmark and pinned memory.
- ``cache``, ``channels_last``, ``bf16``, ``fp16``, ``fused_adam``, ``compile``: one switch each.
- ``ours+compile``: ours with torch.compile.

Loss check: the fast path's losses must stay within noise of fp32. Three short runs from the same
initial weights at a small size (``--loss-size``, ``--loss-ngf``): plain fp32, plain fp32 with another
data seed (the noise: what a different crop/flip/partner draw does to the losses), and ``ours``.
For each loss, mean over steps of |ours - plain| must not exceed mean |plain(seed 1) - plain|.

    .venv/bin/python bench/cyclegan_step.py              # CPU, full size, ~3 min on 2 cores
    .venv/bin/python bench/cyclegan_step.py --device cuda --ablation --warmup 5 --iters 20
"""

from __future__ import annotations

import sys
import tempfile
from dataclasses import asdict, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import yaml  # noqa: E402
from cycleaug.cyclegan.data import Item, UnalignedCrops, epoch_plan  # noqa: E402
from cycleaug.cyclegan.distributed import Comm, DistEnv  # noqa: E402
from cycleaug.cyclegan.model import LOSS_NAMES, CycleGAN  # noqa: E402
from cycleaug.cyclegan.settings import FastConfig, ModelConfig  # noqa: E402

# What config.yaml's cyclegan.fast turns on, read from the file (its keys are FastConfig's fields).
_CONFIGURED = FastConfig(**yaml.safe_load((common.ROOT / "config.yaml").read_text())["cyclegan"]["fast"])
OURS = dict(cache=_CONFIGURED.cache_images, fast=_CONFIGURED)
VARIANTS = {
    "baseline": dict(cache=False, fast=FastConfig(), plain_adam=True),
    "ours": OURS,
    "ours+compile": dict(OURS, fast=replace(OURS["fast"], compile=True)),
    "cache": dict(cache=True, fast=FastConfig()),
    "channels_last": dict(cache=False, fast=FastConfig(channels_last=True)),
    "bf16": dict(cache=False, fast=FastConfig(amp="bf16")),
    "fp16": dict(cache=False, fast=FastConfig(amp="fp16")),
    "bf16+channels_last": dict(cache=False, fast=FastConfig(channels_last=True, amp="bf16")),
    "fused_adam": dict(cache=False, fast=FastConfig(fused_adam=True)),
    "compile": dict(cache=False, fast=FastConfig(compile=True)),
}
ABLATION = ["cache", "channels_last", "bf16", "bf16+channels_last", "fused_adam"]
ABLATION_CUDA = ["fp16", "compile", "ours+compile"]


def make_crops(root: Path, n: int, size: int, seed: int) -> tuple[Path, Path]:
    """Folders A and B of ``n`` synthetic PNG crops each (common.synthetic_pngs)."""
    for side, offset in (("A", 0), ("B", 1)):
        common.synthetic_pngs(root / side, n, size, seed=2 * seed + offset)
    return root / "A", root / "B"


class Data:
    """The training data set (UnalignedCrops: PIL every iteration, or decoded once and cropped as uint8
    tensors) walked along one epoch plan, one pair per call."""

    def __init__(self, a_dir: Path, b_dir: Path, load_size: int, crop_size: int, cache: bool, seed: int):
        self.dataset = UnalignedCrops(a_dir, b_dir, load_size, crop_size, cache=cache)
        n_a, n_b = len(self.dataset.a_paths), len(self.dataset.b_paths)
        self.plan = epoch_plan(n_a, n_b, seed=seed, epoch=1, rank=0, world_size=1, scale=1000)
        self.i = 0
        if cache:  # fill the cache up front (in training it is full after the first epoch)
            for j in range(max(n_a, n_b)):
                self.dataset[Item(j % n_a, j % n_b, 0)]

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        item = self.plan[self.i % len(self.plan)]
        self.i += 1
        pair = self.dataset[item]
        return pair["A"].unsqueeze(0), pair["B"].unsqueeze(0)


def build(variant: dict, mcfg: ModelConfig, device: torch.device, seed: int = 0) -> CycleGAN:
    model = CycleGAN(mcfg, Comm(DistEnv(), device), seed=seed, fast=variant["fast"])
    if variant.get("plain_adam"):
        import itertools

        betas = (mcfg.beta1, 0.999)
        model.opt_G = torch.optim.Adam(
            itertools.chain(model.G_A.parameters(), model.G_B.parameters()),
            lr=mcfg.lr,
            betas=betas,
            foreach=False,
            fused=False,
        )
        model.opt_D = torch.optim.Adam(
            itertools.chain(model.D_A.parameters(), model.D_B.parameters()),
            lr=mcfg.lr,
            betas=betas,
            foreach=False,
            fused=False,
        )
    return model


def step_fn(model: CycleGAN, data: Data, variant: dict, device: torch.device):
    fast = variant is not VARIANTS["baseline"]

    def step():
        a, b = data.next()
        if device.type == "cuda" and fast:
            a, b = a.pin_memory(), b.pin_memory()
        return model.step(model.prepare(a), model.prepare(b))

    return step


def throughput(name: str, args, crops, device: torch.device) -> dict:
    variant = VARIANTS[name]
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = name != "baseline"
    mcfg = ModelConfig(ngf=args.ngf, ndf=args.ngf, n_blocks=args.n_blocks)
    model = build(variant, mcfg, device)
    data = Data(*crops, args.load_size, args.size, variant["cache"], seed=0)
    sync = torch.cuda.synchronize if device.type == "cuda" else None
    times = common.timeit(step_fn(model, data, variant, device), args.warmup, args.iters, sync)
    s = common.summary(times)
    fast: FastConfig = variant["fast"]
    return {
        "variant": name,
        "cache_images": variant["cache"],
        **asdict(fast),
        "amp_dtype": str(model.amp_dtype).replace("torch.", "") if model.amp_dtype else "float32",
        **s,
        "images_per_s": 1.0 / s["median_s"],
    }


def run_losses(variant: dict, crops, device, steps: int, size: int, ngf: int, data_seed: int) -> list[list[float]]:
    mcfg = ModelConfig(ngf=ngf, ndf=ngf, n_blocks=9)
    model = build(variant, mcfg, device, seed=0)
    data = Data(*crops, size + size // 8, size, variant["cache"], seed=data_seed)
    fn = step_fn(model, data, variant, device)
    return [[float(v) for v in fn().values()] for _ in range(steps)]


def loss_check(args, crops, device) -> dict:
    plain = run_losses(VARIANTS["baseline"], crops, device, args.loss_steps, args.loss_size, args.loss_ngf, 0)
    other = run_losses(VARIANTS["baseline"], crops, device, args.loss_steps, args.loss_size, args.loss_ngf, 1)
    ours = run_losses(OURS, crops, device, args.loss_steps, args.loss_size, args.loss_ngf, 0)
    p, o, f = (np.array(x) for x in (plain, other, ours))
    rows = []
    for k, name in enumerate(LOSS_NAMES):
        d_fast = float(np.abs(f[:, k] - p[:, k]).mean())
        d_noise = float(np.abs(o[:, k] - p[:, k]).mean())
        rows.append(
            {
                "loss": name,
                "plain_mean": float(p[:, k].mean()),
                "ours_mean": float(f[:, k].mean()),
                "mean_abs_diff_ours": d_fast,
                "mean_abs_diff_seed": d_noise,
                "within_noise": d_fast <= d_noise,
            }
        )
    return {
        "steps": args.loss_steps,
        "size": args.loss_size,
        "ngf": args.loss_ngf,
        "rows": rows,
        "all_within_noise": all(r["within_noise"] for r in rows),
        "plain": plain,
        "other_seed": other,
        "ours": ours,
    }


def main(argv=None) -> int:
    p = common.parser(__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--size", type=int, default=256, help="crop size (default 256)")
    p.add_argument("--ngf", type=int, default=64, help="generator/discriminator width (default 64)")
    p.add_argument("--n-blocks", type=int, default=9)
    p.add_argument("--warmup", type=int, default=1, help="untimed iterations per variant (default 1)")
    p.add_argument(
        "--iters", type=int, default=2, help="timed iterations per variant (default 2: a CPU step takes seconds)"
    )
    p.add_argument("--variants", default="baseline,ours")
    p.add_argument("--ablation", action="store_true", help="also each switch alone (CUDA adds fp16, compile)")
    p.add_argument("--loss-steps", type=int, default=25)
    p.add_argument("--loss-size", type=int, default=64)
    p.add_argument("--loss-ngf", type=int, default=16)
    p.add_argument("--name", default="cyclegan_step", help="result name (bench/results/<name>.json)")
    args = p.parse_args(argv)
    if args.quick:
        args.size, args.ngf, args.n_blocks, args.warmup, args.iters = 32, 4, 1, 0, 1
        args.loss_steps, args.loss_size, args.loss_ngf = 2, 32, 4
    args.load_size = args.size + args.size // 8 if args.size != 256 else 286  # the reference's 286 for 256
    device = torch.device(args.device)
    names = args.variants.split(",")
    if args.ablation:
        names += [n for n in ABLATION + (ABLATION_CUDA if device.type == "cuda" else []) if n not in names]
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        p.error(f"unknown variants {unknown}; known: {', '.join(VARIANTS)}")
    if "baseline" not in names:
        names.insert(0, "baseline")

    with tempfile.TemporaryDirectory() as tmp:
        crops = make_crops(Path(tmp) / "full", 4, args.size, seed=0)
        rows = []
        for name in names:
            try:
                rows.append(throughput(name, args, crops, device))
            except Exception as exc:  # e.g. torch.compile without a compiler: report, go on
                rows.append({"variant": name, "error": f"{type(exc).__name__}: {exc}"[:300]})
            print(f"  {name}: {rows[-1].get('images_per_s', rows[-1].get('error'))}", file=sys.stderr, flush=True)
        base = rows[0]["images_per_s"]
        for r in rows:
            if "images_per_s" in r:
                r["speedup"] = r["images_per_s"] / base
        common.table(
            rows,
            ["variant", "amp_dtype", "median_s", "images_per_s", "speedup", "error"],
            title=f"CycleGAN step, {args.size}x{args.size}, ngf {args.ngf}, {args.n_blocks} blocks, "
            f"batch 1, {args.device} ({args.warmup} warm-up + {args.iters} timed iterations)",
        )
        small = make_crops(Path(tmp) / "small", 8, args.loss_size, seed=1)
        losses = loss_check(args, small, device)
        common.table(
            losses["rows"],
            ["loss", "plain_mean", "ours_mean", "mean_abs_diff_ours", "mean_abs_diff_seed", "within_noise"],
            title=f"losses over {args.loss_steps} steps at {args.loss_size} px, ngf {args.loss_ngf}: "
            "ours vs plain fp32, against plain fp32 with another data seed",
        )
    ours = next((r for r in rows if r["variant"] == "ours"), {})
    common.write(
        args.name,
        {
            "config": vars(args),
            "rows": rows,
            "speedup_ours": ours.get("speedup"),
            "target_speedup": 2.0 if device.type == "cuda" else 1.3,
            "loss_check": losses,
        },
        args.out_dir,
        device=args.device,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
