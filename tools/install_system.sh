#!/usr/bin/env bash
# The Debian packages the tests run for real instead of stand-ins (README, "Tests"):
#   openmpi-bin libopenmpi-dev   Open MPI 4.1: the profile's mpirun line, and horovod's MPI controller
#                                (tools/install_horovod.sh builds with MPI when mpicxx is here)
#   slurmctld slurmd slurm-client munge
#                                a one-node Slurm (tools/local_slurm.py) for profiles/slurm
#   environment-modules          `module load` in the jobs (profiles/abci's envmodules)
# Installed with apt-get when missing and this is root (CI and these machines); otherwise it says what
# is missing and the tests that need it skip, each naming the package.
set -euo pipefail

PACKAGES=(openmpi-bin libopenmpi-dev slurmctld slurmd slurm-client munge environment-modules)
missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "install_system.sh: not installed: ${missing[*]} (needs root and apt-get); the tests of the" \
         "real mpirun, horovod over MPI and Slurm will be skipped" >&2
    exit 0
fi
echo "install_system.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
# The tests start munged/slurmctld/slurmd of their own (tools/local_slurm.py); none of the system's is used.
apt-get install -y -q "${missing[@]}" >/dev/null
