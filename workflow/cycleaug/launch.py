"""Start N local training processes (the laptop/demo counterpart of ``mpirun -np N``).

    python -m cycleaug.launch --nproc 2 [--backend torch|horovod] -- cycleaug train-cyclegan ...

- ``torch``: each child gets RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR=127.0.0.1 and a
  free MASTER_PORT (held by the launcher until the children end, see reserve_port), as torchrun would.
- ``horovod``: the launcher runs horovod's Gloo rendezvous server itself and gives each child the
  environment ``horovodrun --gloo -np N -H localhost:N`` would (horovod.runner.gloo_run's
  create_slot_env_vars / create_run_env_vars), so the children are our own processes: signals reach
  them directly (horovodrun forwards neither SIGUSR1 nor gives SIGTERM'd workers time to checkpoint).

SIGTERM, SIGUSR1 and SIGINT are forwarded to every child (the trainers then save and exit 75). If a
child fails, the others are sent SIGTERM (SIGKILL after a grace period). The exit status is that of
the first child that failed, 0 if all succeeded.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time

FORWARDED = (signal.SIGTERM, signal.SIGUSR1, signal.SIGINT)
GRACE_SECONDS = 60.0


def reserve_port() -> socket.socket:
    """A free port held (bound, not listening, SO_REUSEADDR) while the children run: the kernel hands
    it to no other bind, so a concurrent job cannot take it between our choice and rank 0's store; rank
    0's TCPStore (which binds with SO_REUSEADDR too) still can."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    return s


def torch_envs(n: int, port: int) -> list[dict[str, str]]:
    return [
        {
            "RANK": str(r),
            "WORLD_SIZE": str(n),
            "LOCAL_RANK": str(r),
            "LOCAL_WORLD_SIZE": str(n),
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(port),
        }
        for r in range(n)
    ]


def horovod_envs(n: int):
    """Per-child environments for horovod over Gloo on this host, and the rendezvous server to stop."""
    try:
        from horovod.runner.common.util.hosts import get_host_assignments, parse_hosts
        from horovod.runner.gloo_run import create_run_env_vars, create_slot_env_vars
        from horovod.runner.http.http_server import RendezvousServer
    except ImportError as exc:
        sys.exit(f"cycleaug.launch: --backend horovod needs horovod ({exc}); install it with `make horovod`")

    server = RendezvousServer(verbose=0)
    port = server.start()
    plan = get_host_assignments(parse_hosts(f"localhost:{n}"), n)
    server.init(plan)
    common = {k: str(v) for k, v in create_run_env_vars("127.0.0.1", ["lo"], port).items()}
    return [{**common, **create_slot_env_vars(slot)} for slot in plan], server


def launch(cmd: list[str], nproc: int, backend: str = "torch", port: int | None = None) -> int:
    server = reserved = None
    if backend == "horovod":
        envs, server = horovod_envs(nproc)
    else:
        if port is None:
            reserved = reserve_port()
            port = reserved.getsockname()[1]
        envs = torch_envs(nproc, port)
    base = dict(os.environ)
    # Split the thread budget (OMP_NUM_THREADS, which Snakemake sets to the job's threads, else the
    # cores) among the processes: N processes with that many OpenMP/MKL threads each oversubscribe
    # the cores, and their spinning threads then slow training down by an order of magnitude.
    budget = int(base.get("OMP_NUM_THREADS") or 0) or (os.cpu_count() or 1)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        base[var] = str(max(1, budget // nproc))
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "HOROVOD_RANK", "HOROVOD_SIZE"):
        base.pop(key, None)  # never inherit a rank from an enclosing launcher

    children: list[subprocess.Popen] = []

    def forward(signum, frame):
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in FORWARDED}
    try:
        for env in envs:
            children.append(subprocess.Popen(cmd, env={**base, **env}))
        return wait_all(children)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if server is not None:
            server.stop()
        if reserved is not None:
            reserved.close()


def wait_all(children: list[subprocess.Popen]) -> int:
    """Wait for every child; after the first failure stop the rest. Returns the first failure's status."""
    first_failure = 0
    killed_at = None
    while True:
        running = [c for c in children if c.poll() is None]
        failed = [c for c in children if c.returncode not in (None, 0)]
        if failed and not first_failure:
            rc = failed[0].returncode
            first_failure = rc if rc > 0 else 128 - rc  # killed by signal s: 128 + s, as a shell reports it
            for c in running:
                c.send_signal(signal.SIGTERM)
            killed_at = time.monotonic()
        if not running:
            return first_failure
        if killed_at is not None and time.monotonic() - killed_at > GRACE_SECONDS:
            for c in running:
                c.kill()
        time.sleep(0.05)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cycleaug.launch", description=__doc__.split("\n\n")[0])
    parser.add_argument("--nproc", type=int, required=True, help="number of processes")
    parser.add_argument("--backend", choices=["torch", "horovod"], default="torch")
    parser.add_argument("--master-port", type=int, default=None, help="torch: rendezvous port (default: a free one)")
    parser.add_argument("cmd", nargs=argparse.REMAINDER, help="-- then the command each process runs")
    args = parser.parse_args(argv)
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if not cmd:
        parser.error("no command given (put it after --)")
    if args.nproc < 1:
        parser.error(f"--nproc {args.nproc}: expected >= 1")
    return launch(cmd, args.nproc, args.backend, args.master_port)


if __name__ == "__main__":
    sys.exit(main())
