"""A real single-node Slurm on this machine, for the Slurm profile's tests and for trying it by hand.

    python tools/local_slurm.py start DIR    # munged, slurmctld, slurmd; prints `export SLURM_CONF=...`
    python tools/local_slurm.py stop DIR     # stops the three daemons and waits for them

Debian's packages (slurmctld, slurmd, slurm-client 22.05, munge; `make test` installs them as root).
Everything lives in DIR: a munge key, socket and daemon of its own (the system's munged is left alone),
slurm.conf, gres.conf, spool and state folders, logs. Clients find the cluster through SLURM_CONF.

The node is this machine as `slurmd -C` describes it (CPUs, memory), with one partition `debug`
(the default), and 4 GPUs declared as a generic resource whose "device files" are plain files in DIR
(slurmd drops GPUs without files): the profile asks training jobs for `--gres=gpu:P`, which Slurm must
be able to grant; nothing uses a GPU.
No accounting (no slurmdbd): `sacct` has nothing to report, so the executor plugin is told to ask
`squeue` (`--slurm-status-command squeue`), which this cluster answers for MinJobAge (10 minutes)
after a job ends. The daemons run as root (the tests' user), in the foreground of their own
sessions, and `stop` ends them with SIGTERM.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

GPUS = 4  # GPUs declared on the node (no real ones): enough for the tests' --gres=gpu:P
DAEMONS = ("slurmd", "slurmctld", "munged")


class SlurmError(RuntimeError):
    pass


def _which(name: str) -> str:
    path = shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
    if not path:
        raise SlurmError(f"{name} is not installed (Debian: apt-get install slurmctld slurmd slurm-client munge)")
    return path


def _free_ports(n: int) -> list[int]:
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def _node() -> tuple[str, int, int]:
    """This machine's node name, CPUs and memory (MB) as slurmd itself reports them."""
    out = subprocess.run([_which("slurmd"), "-C"], capture_output=True, text=True, check=True).stdout
    fields = dict(re.findall(r"(\w+)=(\S+)", out.splitlines()[0]))
    # A little under what slurmd measured: a node reporting less than slurm.conf says is drained.
    return fields["NodeName"], int(fields["CPUs"]), int(int(fields["RealMemory"]) * 0.95)


def env(folder: Path) -> dict[str, str]:
    return {"SLURM_CONF": str(folder / "slurm.conf")}


def write_config(folder: Path) -> None:
    node, cpus, memory = _node()
    ctld_port, slurmd_port = _free_ports(2)
    folder.mkdir(parents=True, exist_ok=True)
    for sub in ("state", "spool", "munge"):
        (folder / sub).mkdir(exist_ok=True)
    (folder / "munge").chmod(0o700)
    (folder / "slurm.conf").write_text(
        f"""# Written by tools/local_slurm.py: a one-node cluster for tests.
ClusterName=cycleaug-test
SlurmctldHost={node}(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={folder}/munge/munge.socket
StateSaveLocation={folder}/state
SlurmdSpoolDir={folder}/spool
SlurmctldPidFile={folder}/slurmctld.pid
SlurmdPidFile={folder}/slurmd.pid
SlurmctldLogFile={folder}/slurmctld.log
SlurmdLogFile={folder}/slurmd.log
# No cgroups here (a container): processes are tracked by their parent ids.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
# slurmd registers the node as written below (2 CPUs without a socket layout), not as it measures it.
SlurmdParameters=config_overrides
# Jobs stay visible to squeue for 10 minutes after they end (no accounting: squeue is the status source).
MinJobAge=600
# Seconds between SIGTERM and SIGKILL when a job is cancelled or reaches its time limit.
KillWait=10
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
GresTypes=gpu
NodeName={node} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={memory} Gres=gpu:{GPUS} State=UNKNOWN
PartitionName=debug Nodes={node} Default=YES MaxTime=INFINITE State=UP
"""
    )
    # slurmd drops GPUs without device files; plain files stand in for /dev/nvidia0... (task/none
    # constrains no devices, and the jobs only read CUDA_VISIBLE_DEVICES).
    devices = folder / "dev"
    devices.mkdir(exist_ok=True)
    for i in range(GPUS):
        (devices / f"gpu{i}").touch()
    (folder / "gres.conf").write_text(f"NodeName={node} Name=gpu File={devices}/gpu[0-{GPUS - 1}]\n")
    key = folder / "munge" / "munge.key"
    if not key.exists():
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)


def _spawn(folder: Path, name: str, argv: list[str]) -> None:
    with open(folder / f"{name}.out", "ab") as log:  # the daemon keeps its own copy of the descriptor
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, **env(folder)},
        )
    (folder / f"{name}.daemon").write_text(str(proc.pid))


def _wait(what: str, ready, folder: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            logs = "".join(
                f"\n--- {p.name}\n" + p.read_text(errors="replace")[-1500:]
                for p in sorted(folder.glob("*.out")) + sorted(folder.glob("*.log"))
            )
            raise SlurmError(f"local Slurm in {folder}: {what} not ready after {timeout:.0f} s{logs}")
        time.sleep(0.2)


def _node_idle(folder: Path) -> bool:
    proc = subprocess.run(
        [_which("sinfo"), "-h", "-o", "%T"], capture_output=True, text=True, env={**os.environ, **env(folder)}
    )
    return proc.returncode == 0 and proc.stdout.strip() in ("idle", "mixed", "allocated")


def start(folder: Path) -> dict[str, str]:
    """Start munged, slurmctld and slurmd with a configuration in ``folder``; returns the clients' env."""
    folder = folder.resolve()
    write_config(folder)
    munge = folder / "munge"
    _spawn(
        folder,
        "munged",
        [
            _which("munged"),
            "--foreground",
            "--force",
            f"--key-file={munge}/munge.key",
            f"--socket={munge}/munge.socket",
            f"--pid-file={munge}/munged.pid",
            f"--log-file={munge}/munged.log",
            f"--seed-file={munge}/munged.seed",
        ],
    )
    _wait("munged", (munge / "munge.socket").exists, folder)
    _spawn(folder, "slurmctld", [_which("slurmctld"), "-D", "-i", "-f", str(folder / "slurm.conf")])
    _spawn(folder, "slurmd", [_which("slurmd"), "-D", "-f", str(folder / "slurm.conf")])
    _wait("the node", lambda: _node_idle(folder), folder)
    return env(folder)


def stop(folder: Path, timeout: float = 30) -> None:
    """SIGTERM to each daemon started in ``folder`` (slurmd first), then wait for it to end."""
    for name in DAEMONS:
        path = folder / f"{name}.daemon"
        if not path.exists():
            continue
        pid = int(path.read_text())
        _signal_group(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        # The whole session: slurmctld's slurmscriptd and any step left by slurmd go with it.
        _signal_group(pid, signal.SIGKILL)
        path.unlink()


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)  # each daemon leads its own session and process group (_spawn)
    except ProcessLookupError:
        pass


def _alive(pid: int) -> bool:
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)
        if waited == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie that is not our child: gone for our purposes.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("start", "stop"):
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    folder = Path(argv[1])
    try:
        if argv[0] == "start":
            for key, value in start(folder).items():
                print(f"export {key}={value}")
        else:
            stop(folder)
    except (SlurmError, subprocess.CalledProcessError) as exc:
        print(f"local_slurm.py: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
