"""CycleGAN training throughput (batch 1, 256x256, ngf 64, 9 blocks): the fast path `cyclegan.fast: auto`
chooses on this device against a plain baseline step, interleaved, in several whole runs.

Baseline (how the reference trains, junyanz/pytorch-CycleGAN-and-pix2pix): every iteration decodes both
PNG crops with PIL, resizes them (bicubic) to 286, crops 256 and flips (cycleaug.cyclegan.data.load_image),
then one fp32 NCHW step with non-fused, non-foreach Adam (foreach=False, fused=False).

Variants (``--variants``, comma separated; ``--ablation`` adds each switch alone):
- ``auto``: what config.yaml's ``fast: auto`` trains with here: the switch set
  cycleaug.cyclegan.autotune measures and chooses on this device at this size (the search runs first,
  without the cache, and is reported), with the image cache on.
- ``cache``, ``channels_last``, ``bf16``, ``fp16``, ``fused_adam``, ``compile``, ``bf16+channels_last``:
  one switch (or pair) each; ``auto+compile``: auto's choice with torch.compile.

Timing: every run builds fresh models and interleaves the variants (A B C A B C ..., cycleaug.timing)
after ``--warmup`` untimed steps each, ``--iters`` (>= 5) timed steps each; min/median/max per variant.
Each variant's speed-up is baseline median / variant median within a run, and the figure reported is
the median over ``--runs`` (>= 3) whole runs with its spread (min-max).

Loss check: the chosen set's losses must stay within noise of fp32 (autotune.LossCheck: from the same
initial weights at a small size, mean |auto - plain| per loss against mean |plain on other data - plain|).

    .venv/bin/python bench/cyclegan_step.py              # CPU, full size, ~6 min on 2 cores
    .venv/bin/python bench/cyclegan_step.py --device cuda --ablation --iters 20
"""

from __future__ import annotations

import statistics
import sys
import tempfile
from dataclasses import asdict, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
import torch  # noqa: E402
from cycleaug.cyclegan import autotune  # noqa: E402
from cycleaug.cyclegan.data import Item, UnalignedCrops, epoch_plan  # noqa: E402
from cycleaug.cyclegan.distributed import Comm, DistEnv  # noqa: E402
from cycleaug.cyclegan.model import CycleGAN, resolve_amp  # noqa: E402
from cycleaug.cyclegan.settings import FastConfig, ModelConfig, fast_settings  # noqa: E402

SINGLE = {
    "cache": dict(cache=True, fast=FastConfig()),
    "channels_last": dict(cache=False, fast=FastConfig(channels_last=True)),
    "bf16": dict(cache=False, fast=FastConfig(amp="bf16")),
    "fp16": dict(cache=False, fast=FastConfig(amp="fp16")),
    "bf16+channels_last": dict(cache=False, fast=FastConfig(channels_last=True, amp="bf16")),
    "fused_adam": dict(cache=False, fast=FastConfig(fused_adam=True)),
    "compile": dict(cache=False, fast=FastConfig(compile=True)),
}
BASELINE = dict(cache=False, fast=FastConfig(), plain_adam=True)
ABLATION = ["cache", "channels_last", "bf16", "bf16+channels_last", "fused_adam"]
ABLATION_CUDA = ["fp16", "compile", "auto+compile"]


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

        def per_parameter_adam(*nets):
            parameters = itertools.chain(*(net.parameters() for net in nets))
            return torch.optim.Adam(parameters, lr=mcfg.lr, betas=(mcfg.beta1, 0.999), foreach=False, fused=False)

        model.opt_G = per_parameter_adam(model.G_A, model.G_B)
        model.opt_D = per_parameter_adam(model.D_A, model.D_B)
    return model


def step_fn(model: CycleGAN, data: Data, variant: dict, device: torch.device):
    fast = not variant.get("plain_adam")

    def step():
        a, b = data.next()
        if device.type == "cuda" and fast:
            a, b = a.pin_memory(), b.pin_memory()
        return model.step(model.prepare(a), model.prepare(b))

    return step


def run_once(variants: dict[str, dict], args, crops, device: torch.device) -> dict[str, list[float]]:
    """One whole run: fresh models and data for every variant, steps interleaved across variants."""
    fns = {}
    for name, variant in variants.items():
        mcfg = ModelConfig(ngf=args.ngf, ndf=args.ngf, n_blocks=args.n_blocks)
        model = build(variant, mcfg, device)
        data = Data(*crops, args.load_size, args.size, variant["cache"], seed=0)
        fns[name] = step_fn(model, data, variant, device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    sync = torch.cuda.synchronize if device.type == "cuda" else None
    return common.interleaved(fns, args.warmup, args.iters, sync)


def main(argv=None) -> int:
    p = common.parser(__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--size", type=int, default=256, help="crop size (default 256)")
    p.add_argument("--ngf", type=int, default=64, help="generator/discriminator width (default 64)")
    p.add_argument("--n-blocks", type=int, default=9)
    p.add_argument("--warmup", type=int, default=1, help="untimed steps per variant and run (default 1)")
    p.add_argument("--iters", type=int, default=5, help="timed steps per variant and run (default 5)")
    p.add_argument("--runs", type=int, default=3, help="whole runs; the speed-up is their median (default 3)")
    p.add_argument("--variants", default="auto")
    p.add_argument("--ablation", action="store_true", help="also each switch alone (CUDA adds fp16, compile)")
    p.add_argument("--loss-steps", type=int, default=autotune.LOSS_STEPS)
    p.add_argument("--name", default="cyclegan_step", help="result name (bench/results/<name>.json)")
    args = p.parse_args(argv)
    if args.quick:
        args.size, args.ngf, args.n_blocks, args.warmup, args.iters, args.runs = 32, 4, 1, 0, 1, 1
        args.loss_steps = 2
    elif args.iters < 5 or args.runs < 3:
        p.error("--iters >= 5 and --runs >= 3: fewer samples do not replicate (use --quick for a smoke test)")
    args.load_size = args.size + args.size // 8 if args.size != 256 else 286  # the reference's 286 for 256
    device = torch.device(args.device)
    names = args.variants.split(",")
    if args.ablation:
        names += [n for n in ABLATION + (ABLATION_CUDA if device.type == "cuda" else []) if n not in names]
    known = {"auto", "auto+compile", *SINGLE}
    unknown = [n for n in names if n not in known]
    if unknown:
        p.error(f"unknown variants {unknown}; known: {', '.join(sorted(known))}")

    # What `fast: auto` chooses here, measured as a training run would (no cache: always measured anew).
    fast = FastConfig(**fast_settings("auto"))
    mcfg = ModelConfig(ngf=args.ngf, ndf=args.ngf, n_blocks=args.n_blocks)
    search = autotune.search(
        fast, mcfg, args.size, 1, device, loss_steps=args.loss_steps, log=lambda m: print(m, flush=True)
    )
    print(autotune.report(search), flush=True)
    chosen = replace(fast, **search["choice"], auto=())
    variants = {"baseline": BASELINE}
    for name in names:
        if name == "auto":
            variants[name] = dict(cache=True, fast=chosen)
        elif name == "auto+compile":
            variants[name] = dict(cache=True, fast=replace(chosen, compile=True))
        else:
            variants[name] = SINGLE[name]

    with tempfile.TemporaryDirectory() as tmp:
        crops = make_crops(Path(tmp) / "full", 4, args.size, seed=0)
        runs, errors = [], {}
        for r in range(args.runs):
            live = {k: v for k, v in variants.items() if k not in errors}
            try:
                runs.append(run_once(live, args, crops, device))
            except Exception as exc:  # e.g. torch.compile without a compiler: drop that variant, rerun
                bad = next((k for k in live if k != "baseline"), None)
                if bad is None or "compile" not in bad:
                    raise
                errors[bad] = f"{type(exc).__name__}: {exc}"[:300]
                runs.append(run_once({k: v for k, v in live.items() if k != bad}, args, crops, device))
            base = statistics.median(runs[-1]["baseline"])
            print(
                f"  run {r + 1}/{args.runs}: "
                + ", ".join(f"{k} {base / statistics.median(t):.2f}x" for k, t in runs[-1].items() if k != "baseline"),
                flush=True,
            )
    rows = []
    for name, variant in variants.items():
        if name in errors:
            rows.append({"variant": name, "error": errors[name]})
            continue
        times = [t for run in runs for t in run[name]]
        ratios = [statistics.median(run["baseline"]) / statistics.median(run[name]) for run in runs]
        amp = resolve_amp(variant["fast"].amp, device)
        rows.append(
            {
                "variant": name,
                "switches": autotune.label(variant["fast"]) + (" + image cache" if variant["cache"] else ""),
                "cache_images": variant["cache"],
                **{k: v for k, v in asdict(variant["fast"]).items() if k not in ("auto", "auto_cache")},
                "amp_dtype": str(amp).replace("torch.", "") if amp else "float32",
                **common.summary(times),
                "speedup": common.ratio_spread(ratios),
                "speedup_median": statistics.median(ratios),
                "speedup_range": f"{min(ratios):.2f}-{max(ratios):.2f}",
            }
        )
    common.table(
        rows,
        ["variant", "switches", "min_s", "median_s", "max_s", "speedup_median", "speedup_range", "error"],
        title=f"CycleGAN step, {args.size}x{args.size}, ngf {args.ngf}, {args.n_blocks} blocks, batch 1, "
        f"{args.device}: {args.runs} runs x ({args.warmup} warm-up + {args.iters} timed steps), variants "
        "interleaved; speed-up = baseline median / variant median per run, median and range over runs",
    )
    auto = next((r for r in rows if r["variant"] == "auto"), {})
    checked = next((c for c in search["candidates"] if c.get("chosen")), {})
    within = checked.get("losses_within_noise", True)  # the plain set needs no check
    target = 2.0 if device.type == "cuda" else 1.5
    common.write(
        args.name,
        {
            "config": vars(args),
            "search": search,
            "rows": rows,
            "headline": {
                "figure": f"training step speed-up, fast: auto ({search['label']}) / plain fp32 baseline",
                "value": auto.get("speedup_median"),
                "spread": auto.get("speedup_range"),
                "runs": args.runs,
                "target": target,
                "note": "losses within fp32 noise" if within else "LOSSES DIFFER",
            },
        },
        args.out_dir,
        device=args.device,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
