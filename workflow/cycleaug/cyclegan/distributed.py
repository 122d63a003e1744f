"""Who am I in the job, and how do processes talk: launcher detection and the two backends.

One process per GPU (or per CPU worker in the demo). The launcher is read from the environment:
- mpirun (Open MPI: ``OMPI_COMM_WORLD_RANK/SIZE/LOCAL_RANK``; MPICH/Intel MPI: ``PMI_RANK/PMI_SIZE``),
  as on ABCI; torch.distributed then needs ``MASTER_ADDR``, which on PBS defaults to the first host
  of ``$PBS_NODEFILE`` (export it with ``mpirun -x MASTER_ADDR`` so remote ranks see the same one);
- horovod's Gloo launcher (``HOROVOD_RANK/HOROVOD_SIZE``, set by horovodrun or ``cycleaug.launch``);
- torchrun or ``cycleaug.launch`` (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``);
- Slurm's srun (a task of a job step: ``SLURM_STEP_ID``, ``SLURM_PROCID``, ``SLURM_STEP_NUM_TASKS``,
  ``SLURM_LOCALID``; the batch script has ``SLURM_PROCID`` 0 too, but no step); ``MASTER_ADDR``
  defaults to the step's first host (``scontrol show hostnames $SLURM_STEP_NODELIST``);
- otherwise a single process.

Backends (paper Sec. 3.2: gradients of every G and D update are averaged by allreduce; the learning
rate is not scaled with the number of processes):
- ``torch``: torch.distributed (NCCL on GPU, Gloo on CPU). The gradients are all-reduced in buckets of
  about 25 MiB (DDP's default size) *during* the backward pass: a hook on each parameter counts the
  gradients that have arrived, and a full bucket is flattened and its allreduce started asynchronously
  while autograd computes the next gradients; after backward the rest is sent and every bucket waited
  for, summed and divided by the world size. Buckets are started in a fixed order (reverse parameter
  order, the order backward produces them; a bucket that fills early waits for the ones before it), so
  every rank issues the same collectives in the same order, as DDP's reducer does. Not DDP itself:
  CycleGAN calls each generator three times per step and freezes the discriminators during the
  generators' backward, which DDP's once-per-forward bookkeeping does not allow.
- ``horovod``: horovod.torch, a ``DistributedOptimizer`` each for G and D with distinct parameter
  name prefixes (its gradient hooks also start each allreduce during backward); parameters (and a
  resumed optimizer state) are broadcast from rank 0.

``Comm.overlaps_backward`` and ``COMPRESSION_FACTOR`` state what each backend does, for the scaling
model (cycleaug.scaling_model.scenario), and tests/test_cyclegan_distributed.py measures it.
"""

from __future__ import annotations

import datetime
import json
import os
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import torch

from cycleaug.cyclegan.settings import BACKENDS, COMPRESSIONS
from cycleaug.errors import CycleAugError
from cycleaug.runtime import process_name, resolve_device

# Gradient compression for the allreduce: fp16 halves the bytes (bench/comm.py, bench/scaling_model.py).
# torch: the flat buffer is cast to float16 and pre-divided by the world size before the sum (as torch's
# DDP fp16_compress_hook does, so a sum over many ranks cannot overflow), then cast back; horovod:
# DistributedOptimizer(compression=hvd.Compression.fp16).
# Bytes sent per gradient byte (float32) with each compression.
COMPRESSION_FACTOR = {"none": 1.0, "fp16": 0.5}
DEFAULT_MASTER_PORT = 29500
BUCKET_BYTES = 25 * 2**20  # torch DDP's bucket_cap_mb default


@dataclass(frozen=True)
class DistEnv:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    launcher: str = "single"
    master_addr: str | None = None
    master_port: int = DEFAULT_MASTER_PORT


def _int(environ: Mapping[str, str], *names: str, default: int | None = None) -> int | None:
    for name in names:
        if environ.get(name, "") != "":
            try:
                return int(environ[name])
            except ValueError:
                raise CycleAugError(f"environment variable {name}={environ[name]!r}: expected an integer") from None
    return default


def pbs_master_addr(environ: Mapping[str, str]) -> str | None:
    """First host in ``$PBS_NODEFILE`` (PBS lists the job's hosts there, one line per slot)."""
    path = environ.get("PBS_NODEFILE")
    if not path or not os.path.isfile(path):
        return None
    with open(path) as f:
        for line in f:
            if line.strip():
                return line.strip()
    return None


def slurm_master_addr(environ: Mapping[str, str]) -> str | None:
    """The first host of the srun step: Slurm's own expansion of its compressed host list (``gpu[01-04]``);
    None where there is no step or scontrol cannot expand it (the torch backend then says MASTER_ADDR is
    missing; horovod does not need it)."""
    nodelist = environ.get("SLURM_STEP_NODELIST")
    if not nodelist:
        return None
    try:
        proc = subprocess.run(
            ["scontrol", "show", "hostnames", nodelist], capture_output=True, text=True, timeout=60, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    hosts = proc.stdout.split()
    return hosts[0] if hosts else None


def detect_env(environ: Mapping[str, str] | None = None) -> DistEnv:
    """Rank, world size and local rank from whichever launcher started this process."""
    environ = os.environ if environ is None else environ
    if "OMPI_COMM_WORLD_RANK" in environ:
        launcher = "mpirun"
        rank = _int(environ, "OMPI_COMM_WORLD_RANK")
        size = _int(environ, "OMPI_COMM_WORLD_SIZE")
        local = _int(environ, "OMPI_COMM_WORLD_LOCAL_RANK", default=0)
    elif "PMI_RANK" in environ:
        launcher = "mpirun"
        rank = _int(environ, "PMI_RANK")
        size = _int(environ, "PMI_SIZE")
        local = _int(environ, "MPI_LOCALRANKID", "PALS_LOCAL_RANKID", default=0)
    elif "HOROVOD_RANK" in environ:
        launcher = "horovodrun"
        rank = _int(environ, "HOROVOD_RANK")
        size = _int(environ, "HOROVOD_SIZE")
        local = _int(environ, "HOROVOD_LOCAL_RANK", default=0)
    elif "RANK" in environ and "WORLD_SIZE" in environ:
        launcher = "torchrun"
        rank = _int(environ, "RANK")
        size = _int(environ, "WORLD_SIZE")
        local = _int(environ, "LOCAL_RANK", default=0)
    elif "SLURM_STEP_ID" in environ and "SLURM_PROCID" in environ:
        launcher = "srun"
        rank = _int(environ, "SLURM_PROCID")
        size = _int(environ, "SLURM_STEP_NUM_TASKS", "SLURM_NTASKS")
        local = _int(environ, "SLURM_LOCALID", default=0)
    else:
        return DistEnv()
    if size is None or rank is None or not 0 <= rank < size:
        raise CycleAugError(f"{launcher} environment: rank {rank} of world size {size} is not valid")
    # From what the environment holds, not from the launcher's name: under srun --mpi=pmi2 the ranks come
    # from PMI_RANK, and the host from the step's node list. One process needs no rendezvous host.
    addr = environ.get("MASTER_ADDR") or pbs_master_addr(environ)
    addr = addr or (slurm_master_addr(environ) if size > 1 else None)
    port = _int(environ, "MASTER_PORT", default=DEFAULT_MASTER_PORT)
    return DistEnv(rank, size, local, launcher, addr, port)


def _named(prefix: str, net: torch.nn.Module) -> list[tuple[str, torch.nn.Parameter]]:
    return [(f"{prefix}.{n}", p) for n, p in net.named_parameters()]


class Comm:
    """A single process: every collective is the identity."""

    backend = "none"
    # Whether gradient allreduces start during the backward pass (for the scaling model).
    overlaps_backward = False

    def __init__(self, env: DistEnv, device: torch.device, compression: str = "none"):
        if compression not in COMPRESSIONS:
            raise CycleAugError(f"--compression {compression}: expected one of {', '.join(COMPRESSIONS)}")
        self.env, self.device, self.compression = env, device, compression

    @property
    def rank(self) -> int:
        return self.env.rank

    transport = "none"

    def describe(self) -> dict:
        """What every rank of one job must share (and the GPU it must not), for :func:`disagreements`."""
        gpu = ""
        if self.device.type == "cuda":
            gpu = str(torch.cuda.get_device_properties(self.device).uuid)
        return {
            "rank": self.env.rank,
            "host": process_name(),
            "device": self.device.type,
            "gpu": gpu,
            "backend": f"{self.backend}/{self.transport}",
            "compression": self.compression,
            "torch": torch.__version__,
        }

    @property
    def world_size(self) -> int:
        return self.env.world_size

    def wrap_optimizer(self, optimizer: torch.optim.Optimizer, nets: Mapping[str, torch.nn.Module]):
        return optimizer

    def begin_backward(self, params: list[torch.nn.Parameter]) -> None:
        """Called before the backward pass whose gradients of ``params`` average_gradients will average."""

    def average_gradients(self, params: Iterable[torch.nn.Parameter]) -> None:
        pass

    def broadcast(self, nets: Iterable[torch.nn.Module], optimizers: Iterable[torch.optim.Optimizer]) -> None:
        pass

    def broadcast_object(self, obj):
        """Rank 0's ``obj`` on every rank (picklable)."""
        return obj

    def sum_(self, tensor: torch.Tensor) -> torch.Tensor:
        return tensor

    def barrier(self) -> None:
        pass

    def close(self) -> None:
        pass


class _Buckets:
    """The gradient buckets of one parameter list, and the allreduces of one backward pass over them."""

    def __init__(self, params: list[torch.nn.Parameter], bucket_bytes: int):
        self.buckets: list[list[torch.nn.Parameter]] = []
        size = 0
        for p in reversed(params):  # backward produces the last layers' gradients first
            if not self.buckets or size >= bucket_bytes:
                self.buckets.append([])
                size = 0
            self.buckets[-1].append(p)
            size += p.numel() * p.element_size()
        self.bucket_of = {p: i for i, bucket in enumerate(self.buckets) for p in bucket}
        self.reset()

    def reset(self) -> None:
        self.arrived = [0] * len(self.buckets)
        self.works: list[tuple] = []  # (work, flat buffer, grads) per started bucket, in order
        self.started_in_backward = 0


class TorchComm(Comm):
    backend = "torch"
    overlaps_backward = True

    def __init__(
        self,
        env: DistEnv,
        device: torch.device,
        compression: str = "none",
        bucket_bytes: int = BUCKET_BYTES,
        overlap: bool = True,
    ):
        """``overlap=False``: the previous behaviour (one flat buffer after backward), for bench/comm.py."""
        super().__init__(env, device, compression)
        import torch.distributed as dist

        if not env.master_addr:
            raise CycleAugError(
                f"{env.launcher} with --backend torch: MASTER_ADDR is not set (and neither $PBS_NODEFILE nor an srun "
                "step's node list, expanded by scontrol, gave it); export it, e.g. mpirun -x MASTER_ADDR"
            )
        self.dist = dist
        self.bucket_bytes = bucket_bytes
        self.overlaps_backward = overlap
        self._plans: dict[tuple[int, ...], _Buckets] = {}
        self._active: _Buckets | None = None
        self._hooked: set[int] = set()
        self.last_backward: dict[str, int] = {}  # buckets, and how many started during backward
        if dist.is_initialized():  # joined already (a benchmark sharing the group)
            return
        timeout = datetime.timedelta(minutes=30)
        # The rendezvous store first, and every rank's device and settings compared through it: ranks that
        # picked different backends (NCCL and Gloo) would otherwise hang in their first collective.
        store = dist.TCPStore(env.master_addr, env.master_port, env.world_size, env.rank == 0, timeout=timeout)
        self.transport = "nccl" if device.type == "cuda" else "gloo"
        agree_through_store(store, self.describe(), env.rank, env.world_size)
        dist.init_process_group(
            backend=self.transport,
            store=store,
            rank=env.rank,
            world_size=env.world_size,
            timeout=timeout,
            # NCCL: bind the communicator to this rank's GPU now (no guessing from the current device later).
            **({"device_id": device} if device.type == "cuda" else {}),
        )

    def begin_backward(self, params: list[torch.nn.Parameter]) -> None:
        if not self.overlaps_backward:
            return
        params = [p for p in params if p.requires_grad]
        key = tuple(id(p) for p in params)
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = _Buckets(params, self.bucket_bytes)
        plan.reset()
        for p in params:
            if id(p) not in self._hooked:
                p.register_post_accumulate_grad_hook(self._gradient_ready)
                self._hooked.add(id(p))
        self._active = plan

    def _gradient_ready(self, p: torch.nn.Parameter) -> None:
        plan = self._active
        if plan is None or p not in plan.bucket_of:
            return
        plan.arrived[plan.bucket_of[p]] += 1
        # Start every full bucket whose predecessors have started: the same order on every rank.
        while len(plan.works) < len(plan.buckets) and plan.arrived[len(plan.works)] == len(
            plan.buckets[len(plan.works)]
        ):
            self._start(plan, len(plan.works))
            plan.started_in_backward += 1

    def _start(self, plan: _Buckets, i: int) -> None:
        grads = [p.grad for p in plan.buckets[i] if p.grad is not None]
        if not grads:
            plan.works.append((None, None, grads))
            return
        flat = torch.cat([g.reshape(-1) for g in grads])
        if self.compression == "fp16":
            # Pre-divided before the sum, as DDP's fp16_compress_hook: a sum over many ranks cannot overflow.
            flat = flat.to(torch.float16).div_(self.world_size)
        plan.works.append((self.dist.all_reduce(flat, async_op=True), flat, grads))

    def average_gradients(self, params: Iterable[torch.nn.Parameter]) -> None:
        plan, self._active = self._active, None
        if plan is None:  # no overlap: all gradients in one flat buffer, sent now
            plan = _Buckets([p for p in params if p.grad is not None], 1 << 62)
        while len(plan.works) < len(plan.buckets):  # the buckets backward has not filled (or started)
            self._start(plan, len(plan.works))
        for work, flat, grads in plan.works:
            if work is None:
                continue
            work.wait()
            if self.compression == "fp16":
                flat = flat.to(grads[0].dtype)
            else:
                flat.div_(self.world_size)
            offset = 0
            for g in grads:
                g.copy_(flat[offset : offset + g.numel()].view_as(g))
                offset += g.numel()
        self.last_backward = {"buckets": len(plan.buckets), "started_in_backward": plan.started_in_backward}

    def broadcast(self, nets, optimizers) -> None:
        # Every rank built the nets from the same seed and loaded the same checkpoint, so this only
        # guards against divergence; optimizer states come from that same file.
        for net in nets:
            for t in list(net.parameters()) + list(net.buffers()):
                self.dist.broadcast(t.data, src=0)

    def broadcast_object(self, obj):
        box = [obj]
        self.dist.broadcast_object_list(box, src=0, device=self.device if self.device.type == "cuda" else None)
        return box[0]

    def sum_(self, tensor: torch.Tensor) -> torch.Tensor:
        self.dist.all_reduce(tensor)
        return tensor

    def barrier(self) -> None:
        self.dist.barrier()

    def close(self) -> None:
        if self.dist.is_initialized():
            self.dist.destroy_process_group()


class HorovodComm(Comm):
    backend = "horovod"
    overlaps_backward = True  # DistributedOptimizer's hooks start each allreduce when its gradient is ready

    def __init__(self, env: DistEnv, device: torch.device, compression: str = "none"):
        super().__init__(env, device, compression)
        self.hvd = import_horovod()
        self.hvd.init()
        if self.hvd.size() != env.world_size or self.hvd.rank() != env.rank:
            raise CycleAugError(
                f"horovod sees rank {self.hvd.rank()} of {self.hvd.size()}, the launcher "
                f"environment says {env.rank} of {env.world_size}"
            )
        self.transport = "nccl" if self.hvd.nccl_built() and device.type == "cuda" else "cpu"
        # horovod's object collectives go through host memory, so they work whichever device each rank has.
        problems = disagreements(self.hvd.allgather_object(self.describe(), name="cycleaug.agree"))
        if problems:
            raise CycleAugError(f"ranks disagree: {problems}")

    def wrap_optimizer(self, optimizer, nets):
        named = [item for prefix, net in nets.items() for item in _named(prefix, net)]
        compression = self.hvd.Compression.fp16 if self.compression == "fp16" else self.hvd.Compression.none
        wrapped = self.hvd.DistributedOptimizer(
            optimizer, named_parameters=named, op=self.hvd.Average, compression=compression
        )
        self._optimizers = [*getattr(self, "_optimizers", []), wrapped]
        return wrapped

    def average_gradients(self, params) -> None:
        # The optimizer's step() waits for the allreduces; here, right after backward, only record how
        # many its hooks have already started (horovod's pending handles), for the overlap check.
        started = sum(len(getattr(opt, "_handles", {})) for opt in getattr(self, "_optimizers", []))
        self.last_backward = {"started_in_backward": started}

    def broadcast(self, nets, optimizers) -> None:
        for net in nets:
            self.hvd.broadcast_parameters(net.state_dict(), root_rank=0)
        for opt in optimizers:
            # horovod initialises an empty optimizer state with a zero-gradient step(), which would
            # advance Adam's step count and change its bias correction (the reference starts at
            # step 1); a fresh optimizer is identical on every rank anyway, so broadcast only a
            # resumed state.
            if opt.state:
                self.hvd.broadcast_optimizer_state(opt, root_rank=0)

    def broadcast_object(self, obj):
        return self.hvd.broadcast_object(obj, root_rank=0, name="cycleaug.object")

    def sum_(self, tensor: torch.Tensor) -> torch.Tensor:
        tensor.copy_(self.hvd.allreduce(tensor, op=self.hvd.Sum, name="cycleaug.stats"))
        return tensor

    def barrier(self) -> None:
        self.hvd.allreduce(torch.zeros(1), op=self.hvd.Sum, name="cycleaug.barrier")

    def close(self) -> None:
        self.hvd.shutdown()


def disagreements(ranks: list[dict]) -> str:
    """What the ranks' descriptions (Comm.describe) disagree on, as one line; "" when they agree. Device,
    backend, compression and torch version must be the same everywhere; no two ranks on a host may
    share a GPU."""
    problems = []
    first = ranks[0]
    for key in ("device", "backend", "compression", "torch"):
        other = next((r for r in ranks if r[key] != first[key]), None)
        if other is not None:
            problems.append(
                f"{key}: rank {first['rank']} on {first['host']} has {first[key]}, "
                f"rank {other['rank']} on {other['host']} has {other[key]}"
            )
    seen: dict[tuple[str, str], int] = {}
    for r in ranks:
        if r["gpu"]:
            key = (r["host"], r["gpu"])
            if key in seen:
                problems.append(f"ranks {seen[key]} and {r['rank']} on {r['host']} share GPU {r['gpu']}")
                break
            seen[key] = r["rank"]
    return "; ".join(problems)


def agree_through_store(store, mine: dict, rank: int, world_size: int) -> None:
    """Every rank posts its description; rank 0 compares them all and posts the verdict every rank waits
    for, so a job whose ranks disagree stops before its first collective, on every rank, with one line."""
    store.set(f"cycleaug/agree/{rank}", json.dumps(mine))
    if rank == 0:
        ranks = [json.loads(store.get(f"cycleaug/agree/{r}")) for r in range(world_size)]
        store.set("cycleaug/agree/verdict", disagreements(ranks))
    problems = store.get("cycleaug/agree/verdict").decode()
    store.set(f"cycleaug/agree/read/{rank}", "1")
    if rank == 0:  # rank 0 serves the store: it must not exit before every rank has read the verdict
        store.wait([f"cycleaug/agree/read/{r}" for r in range(world_size)])
    if problems:
        raise CycleAugError(f"ranks disagree: {problems}")


def import_horovod():
    try:
        import horovod.torch as hvd
    except ImportError as exc:
        raise CycleAugError(
            f"--backend horovod: cannot import horovod.torch ({exc}); install it with "
            "`make horovod` (CPU/Gloo) or see the README for NCCL builds"
        ) from None
    return hvd


def comm_class(backend: str) -> type[Comm]:
    """The class a multi-process run of ``backend`` uses."""
    if backend not in BACKENDS:
        raise CycleAugError(f"--backend {backend}: expected one of {', '.join(BACKENDS)}")
    return HorovodComm if backend == "horovod" else TorchComm


def setup(
    backend: str,
    device: str = "auto",
    environ: Mapping[str, str] | None = None,
    compression: str = "none",
    bucket_bytes: int = BUCKET_BYTES,
) -> Comm:
    """Detect the launcher, pick the device and join the process group of ``backend``."""
    if backend not in BACKENDS:
        raise CycleAugError(f"--backend {backend}: expected one of {', '.join(BACKENDS)}")
    env = detect_env(environ)
    dev = resolve_device(device, env.local_rank, env.rank if env.world_size > 1 else None)
    if backend == "horovod":
        return HorovodComm(env, dev, compression)
    if env.world_size == 1:
        return Comm(env, dev, compression)
    return TorchComm(env, dev, compression, bucket_bytes)
