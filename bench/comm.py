"""Gradient communication per CycleGAN iteration, measured with 2 processes on this machine (Gloo):
the bytes allreduced (every G and D gradient, once per iteration), and how long allreducing them takes

- per tensor (one allreduce per parameter tensor, ~140 calls),
- in one flat buffer (what cycleaug's torch backend does after each backward),
- in 25 MiB buckets (torch DDP's default bucket size),
- in one flat fp16 buffer (half the bytes: gradient compression),
- with horovod (fusion buffer; Compression.none vs Compression.fp16), when horovod is importable,

and the overlap of communication with the backward pass: forward+backward of G_A and D_A then a flat
allreduce (no overlap) vs DistributedDataParallel (bucket allreduces start during backward), with and
without DDP's fp16_compress_hook; and the trainer's own CycleGAN step with cycleaug's torch backend,
its gradient buckets all-reduced during backward vs one flat buffer after backward (the headline).
Every group of variants is timed interleaved (cycleaug.timing), min/median/max per variant. Loopback Gloo on a shared 2-core CPU is not a network: the absolute
times only show the relative effect of each method.

    .venv/bin/python bench/comm.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import common  # noqa: E402

BUCKET = 25 * 2**20


def nets(ngf: int, n_blocks: int):
    import torch
    from cycleaug.cyclegan.networks import NLayerDiscriminator, ResnetGenerator, init_weights

    torch.manual_seed(0)
    return (
        init_weights(ResnetGenerator(3, 3, ngf, n_blocks)),
        init_weights(ResnetGenerator(3, 3, ngf, n_blocks)),
        init_weights(NLayerDiscriminator(3, ngf)),
        init_weights(NLayerDiscriminator(3, ngf)),
    )


def copy_back(buf, tensors) -> None:
    """Scatter a flat buffer back into the tensors it was concatenated from."""
    off = 0
    for t in tensors:
        t.copy_(buf[off : off + t.numel()].view_as(t))
        off += t.numel()


def worker_torch(cfg: dict) -> dict:
    import torch
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo",
        init_method=f"tcp://{os.environ['MASTER_ADDR']}:{os.environ['MASTER_PORT']}",
        rank=int(os.environ["RANK"]),
        world_size=int(os.environ["WORLD_SIZE"]),
    )
    n = dist.get_world_size()
    all_nets = nets(cfg["ngf"], cfg["n_blocks"])
    grads = [torch.randn_like(p) for net in all_nets for p in net.parameters()]
    nbytes = sum(g.numel() * 4 for g in grads)

    def per_tensor():
        for g in grads:
            dist.all_reduce(g)
            g.div_(n)

    def flat(dtype=torch.float32):
        buf = torch.cat([g.reshape(-1) for g in grads]).to(dtype)
        dist.all_reduce(buf)
        copy_back(buf.float().div_(n), grads)

    def buckets():
        group, size = [], 0
        for g in grads + [None]:
            if g is not None:
                group.append(g)
                size += g.numel() * 4
            if group and (g is None or size >= BUCKET):
                buf = torch.cat([x.reshape(-1) for x in group])
                dist.all_reduce(buf)
                copy_back(buf.div_(n), group)
                group, size = [], 0

    w, it, bar = cfg["warmup"], cfg["iters"], dist.barrier
    res = {"world_size": n, "parameters": nbytes // 4, "bytes_fp32": nbytes, "tensors": len(grads), "methods": {}}
    methods = {
        "per_tensor": (per_tensor, nbytes),
        "flat": (flat, nbytes),
        "buckets_25MiB": (buckets, nbytes),
        "flat_fp16": (lambda: flat(torch.float16), nbytes // 2),
    }
    times = common.interleaved({k: fn for k, (fn, _) in methods.items()}, w, it, bar)
    for name, (_, sent) in methods.items():
        res["methods"][name] = {"bytes": sent, **common.summary(times[name])}

    # Overlap with backward: G_A -> D_A on a small image, the gradients of both allreduced.
    from torch.distributed.algorithms.ddp_comm_hooks import default_hooks
    from torch.nn.parallel import DistributedDataParallel as DDP

    G, _, Dn, _ = all_nets
    model = torch.nn.Sequential(G, Dn)
    x = torch.rand(1, 3, cfg["overlap_size"], cfg["overlap_size"]) * 2 - 1

    def fwd_bwd(m):
        m.zero_grad(set_to_none=True)
        m(x).square().mean().backward()

    params = list(model.parameters())

    def no_overlap():
        fwd_bwd(model)
        buf = torch.cat([p.grad.reshape(-1) for p in params])
        dist.all_reduce(buf)

    ddp = DDP(model)
    ddp16 = DDP(torch.nn.Sequential(*nets(cfg["ngf"], cfg["n_blocks"])[::2]))
    ddp16.register_comm_hook(None, default_hooks.fp16_compress_hook)
    times = common.interleaved(
        {
            "compute_only": lambda: fwd_bwd(model),
            "backward_then_flat_allreduce": no_overlap,
            "ddp_overlapped": lambda: fwd_bwd(ddp),
            "ddp_overlapped_fp16_hook": lambda: fwd_bwd(ddp16),
        },
        w,
        it,
        bar,
    )
    res["overlap"] = {"image_size": cfg["overlap_size"], **{k: common.summary(v) for k, v in times.items()}}

    # The trainer's own step with cycleaug's torch backend: gradient buckets all-reduced during backward
    # (what training runs) vs one flat buffer after backward (the backend before, overlap=False).
    from cycleaug.cyclegan.distributed import DistEnv, TorchComm
    from cycleaug.cyclegan.model import CycleGAN
    from cycleaug.cyclegan.settings import ModelConfig

    env = DistEnv(dist.get_rank(), n, 0, "torchrun", os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]))
    mcfg = ModelConfig(ngf=cfg["ngf"], ndf=cfg["ngf"], n_blocks=cfg["n_blocks"])
    cpu = torch.device("cpu")
    models = {
        "overlapped": CycleGAN(mcfg, TorchComm(env, cpu), seed=0),
        "overlapped_4MiB_buckets": CycleGAN(mcfg, TorchComm(env, cpu, bucket_bytes=4 * 2**20), seed=0),
        "after_backward": CycleGAN(mcfg, TorchComm(env, cpu, overlap=False), seed=0),
    }
    g = torch.Generator().manual_seed(dist.get_rank())
    a, b = (torch.rand(1, 3, cfg["overlap_size"], cfg["overlap_size"], generator=g) * 2 - 1 for _ in range(2))
    times = common.interleaved({k: (lambda m=m: m.step(a, b)) for k, m in models.items()}, w, it, bar)
    res["cyclegan_step"] = {
        "image_size": cfg["overlap_size"],
        "buckets_last_backward": models["overlapped"].comm.last_backward,
        **{k: common.summary(v) for k, v in times.items()},
    }
    dist.destroy_process_group()
    return res


def worker_horovod(cfg: dict) -> dict:
    import horovod.torch as hvd
    import torch

    torch.set_num_threads(1)
    hvd.init()
    grads = [torch.randn_like(p) for net in nets(cfg["ngf"], cfg["n_blocks"]) for p in net.parameters()]
    nbytes = sum(g.numel() * 4 for g in grads)

    def allreduce(compression):
        handles = []
        for i, g in enumerate(grads):
            c, ctx = compression.compress(g)
            handles.append((hvd.allreduce_async_(c, op=hvd.Average, name=f"g{i}"), c, ctx, g))
        for h, c, ctx, g in handles:
            hvd.synchronize(h)
            g.copy_(compression.decompress(c, ctx))

    def barrier():
        hvd.allreduce(torch.zeros(1), name="barrier")

    res = {"world_size": hvd.size(), "bytes_fp32": nbytes, "methods": {}}
    comps = {"horovod_fused": hvd.Compression.none, "horovod_fused_fp16": hvd.Compression.fp16}
    for name, sent in (("horovod_fused", nbytes), ("horovod_fused_fp16", nbytes // 2)):
        res["methods"][name] = {"bytes": sent}
    times = common.interleaved(
        {k: (lambda c=c: allreduce(c)) for k, c in comps.items()}, cfg["warmup"], cfg["iters"], barrier
    )
    for name in comps:
        res["methods"][name].update(common.summary(times[name]))
    hvd.shutdown()
    return res


def launch(backend: str, cfg: dict, timeout: float) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        cmd = [
            sys.executable,
            "-m",
            "cycleaug.launch",
            "--nproc",
            "2",
            "--backend",
            backend,
            "--",
            sys.executable,
            str(HERE / "comm.py"),
            "--worker",
            backend,
            "--worker-out",
            str(out),
            "--worker-config",
            json.dumps(cfg),
        ]
        env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(common.ROOT / "workflow"))
        proc = subprocess.run(cmd, env=env, timeout=timeout, capture_output=True, text=True)
        if proc.returncode != 0 or not out.exists():
            return {"error": f"exit {proc.returncode}: {proc.stderr[-800:]}"}
        return json.loads(out.read_text())


def main(argv=None) -> int:
    p = common.parser(__doc__.split("\n\n")[0])
    p.add_argument("--worker", choices=["torch", "horovod"], help=argparse.SUPPRESS)
    p.add_argument("--worker-out", help=argparse.SUPPRESS)
    p.add_argument("--worker-config", help=argparse.SUPPRESS)
    p.add_argument("--no-horovod", action="store_true", help="skip the horovod measurement")
    args = p.parse_args(argv)
    if args.worker:
        cfg = json.loads(args.worker_config)
        res = worker_torch(cfg) if args.worker == "torch" else worker_horovod(cfg)
        rank = int(os.environ.get("RANK", os.environ.get("HOROVOD_RANK", "0")))
        if rank == 0:
            Path(args.worker_out).write_text(json.dumps(res))
        return 0

    cfg = (
        {"ngf": 8, "n_blocks": 1, "warmup": 1, "iters": 2, "overlap_size": 32}
        if args.quick
        else {"ngf": 64, "n_blocks": 9, "warmup": 1, "iters": 7, "overlap_size": 64}
    )
    res = launch("torch", cfg, timeout=900)
    hv = {"skipped": "--no-horovod"}
    if not args.no_horovod:
        try:
            import horovod.torch  # noqa: F401
        except ImportError as exc:
            hv = {"skipped": f"horovod not importable ({exc})"}
        else:
            hv = launch("horovod", cfg, timeout=900)
    rows = []
    for source in (res, hv):
        for name, m in source.get("methods", {}).items():
            rows.append(
                {
                    "method": name,
                    "MB": m["bytes"] / 1e6,
                    "median_s": m["median_s"],
                    "GB_per_s": m["bytes"] / m["median_s"] / 1e9,
                }
            )
    flat = res.get("methods", {}).get("flat", {}).get("median_s")
    for r in rows:
        r["vs_flat"] = flat / r["median_s"] if flat else None
    if rows:
        common.table(
            rows,
            ["method", "MB", "median_s", "GB_per_s", "vs_flat"],
            title=f"allreduce of one iteration's G+D gradients, 2 processes, Gloo "
            f"({res.get('parameters', 0):,} parameters, ngf {cfg['ngf']}); vs_flat = speed-up over one flat fp32 buffer",
        )
    if "overlap" in res:
        o = res["overlap"]
        orows = [{"method": k, "median_s": v["median_s"]} for k, v in o.items() if isinstance(v, dict)]
        common.table(
            orows,
            ["method", "median_s"],
            title=f"forward+backward of G_A and D_A at {o['image_size']} px plus gradient allreduce, 2 processes",
        )
    headline = {}
    if "cyclegan_step" in res:
        c = res["cyclegan_step"]
        common.table(
            [
                {"backend": k, **{x: c[k][x] for x in ("min_s", "median_s", "max_s")}}
                for k in ("after_backward", "overlapped", "overlapped_4MiB_buckets")
            ],
            ["backend", "min_s", "median_s", "max_s"],
            title=f"cycleaug's CycleGAN step at {c['image_size']} px, 2 processes, torch backend (Gloo): allreduce "
            f"after backward (one flat buffer) vs buckets during backward {c['buckets_last_backward']}",
        )
        headline = {
            "figure": "CycleGAN step, torch backend: after-backward allreduce / overlapped (2 Gloo processes)",
            "value": c["after_backward"]["median_s"] / c["overlapped"]["median_s"],
            "spread": f"{c['after_backward']['min_s'] / c['overlapped']['max_s']:.2f}-"
            f"{c['after_backward']['max_s'] / c['overlapped']['min_s']:.2f}",
            "target": 1.0,
            "note": f"{(res.get('bytes_fp32') or 0) / 1e6:.1f} MB per iteration",
        }
    common.write(
        "comm",
        {
            "config": cfg,
            "torch": res,
            "horovod": hv,
            "bytes_per_iteration_fp32": res.get("bytes_fp32"),
            "headline": headline,
        },
        args.out_dir,
    )
    return 0 if "error" not in res else 1


if __name__ == "__main__":
    sys.exit(main())
