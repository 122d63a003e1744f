#!/usr/bin/env bash
# Install horovod 0.28.1 with its PyTorch extension into the environment of PYTHON.
#
#   bash tools/install_horovod.sh .venv/bin/python          # cpu: Gloo + MPI (this machine, CI, tests)
#   bash tools/install_horovod.sh .venv/bin/python nccl     # GPU clusters: NCCL allreduce + MPI (README)
#
# Both builds include MPI (the paper's controller: ranks started by mpirun) when an MPI compiler
# wrapper (mpicxx, from openmpi-bin/libopenmpi-dev; `make test` installs them) is on PATH, and say so;
# HOROVOD_WITHOUT_MPI=1 builds without it. The cpu build always has Gloo too (horovodrun --gloo and
# cycleaug.launch's own rendezvous).
#
# Why a build at all: PyPI ships horovod only as an sdist, and 0.28.1 (the last release) compiles
# its PyTorch extension as C++14, while torch >= 2.1 headers need C++17 and recent torch (2.14 here:
# torch/csrc/api/include/torch/all.h says "C++20 or later ... is required") needs C++20.
# We take the sdist from PyPI and patch it:
#   CMakeLists.txt                 `set(CMAKE_CXX_STANDARD 14)` -> 17 (core library and gloo)
#   horovod/torch/CMakeLists.txt   `set(CMAKE_CXX_STANDARD 14)` -> 17, or 20 when the torch headers
#                                  demand it (the torch extension, which also compiles the core sources)
#   cpu:  cmake/Modules/FindPytorch.cmake reports a CPU-only torch: ours is a CUDA build and a CUDA
#         toolkit is installed, which would otherwise compile the extension with HAVE_CUDA/HAVE_GPU.
#   nccl: horovod/common/ops/cuda/CMakeLists.txt `set(CMAKE_CUDA_STANDARD 11)` -> 17 (CUDA 13's nvcc
#         has no C++11 dialect any more).
#
# The wheel is built once per machine and cached outside the repository in
#   ${XDG_CACHE_HOME:-$HOME/.cache}/cycleaug/horovod/<torch-version>-py<python-version>-<mode>/
# so a second `make test` only pip-installs it (seconds); a new machine (or a new torch) rebuilds
# (about 4-5 minutes on 2 cores). Finally it checks `import horovod.torch` and `horovodrun --check-build`.
# CYCLEAUG_HOROVOD_NO_INSTALL=1 builds and caches the wheel without installing it.
set -euo pipefail

HVD_VERSION=0.28.1
PY=${1:-.venv/bin/python}
MODE=${2:-cpu}
case "$MODE" in cpu|nccl) ;; *) echo "install_horovod.sh: mode '$MODE': expected cpu or nccl" >&2; exit 2;; esac
if ! "$PY" -c 'import torch' 2>/dev/null; then
    echo "install_horovod.sh: $PY: cannot import torch; give the python of the project's venv" >&2
    exit 2
fi
PY=$(cd "$(dirname "$PY")" && pwd)/$(basename "$PY")
BIN=$(dirname "$PY")

verify() {
    "$PY" -c 'import horovod, horovod.torch; print("horovod", horovod.__version__, "(torch extension OK)")'
    "$BIN/horovodrun" --check-build
    if [ "$MPI" = mpi ] && ! "$PY" -c 'import sys, horovod.torch as h; sys.exit(not h.mpi_built())'; then
        echo "install_horovod.sh: horovod was built without MPI although mpicxx is on PATH" >&2
        exit 1
    fi
}

# MPI too when an MPI compiler wrapper is here (horovod's setup finds MPI through `mpicxx -show`).
MPI=without-mpi
if [ "${HOROVOD_WITHOUT_MPI:-0}" != 1 ] && command -v mpicxx >/dev/null 2>&1; then
    MPI=mpi
elif [ "${HOROVOD_WITHOUT_MPI:-0}" != 1 ]; then
    echo "install_horovod.sh: no mpicxx on PATH: building horovod without MPI (Gloo only); install" \
         "openmpi-bin and libopenmpi-dev (Debian) for mpirun-launched horovod" >&2
fi

# Already there, of the right kind (cpu: Gloo without NCCL; nccl: with NCCL; MPI as found above)?
installed=$("$PY" -c 'import horovod, horovod.torch as h; print(horovod.__version__, "nccl" if h.nccl_built() else "cpu", "mpi" if h.mpi_built() else "without-mpi")' \
    2>/dev/null || true)
if [ "$installed" = "$HVD_VERSION $MODE $MPI" ] && [ "${CYCLEAUG_HOROVOD_NO_INSTALL:-0}" != 1 ]; then
    verify
    exit 0
fi

TORCH_VERSION=$("$PY" -c 'import torch; print(torch.__version__)')
PY_VERSION=$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/cycleaug/horovod/${TORCH_VERSION}-py${PY_VERSION}-${MODE}-${MPI}
wheel=$(ls "$CACHE"/horovod-"$HVD_VERSION"-*.whl 2>/dev/null | head -n 1 || true)

if [ -z "$wheel" ]; then
    echo "install_horovod.sh: building horovod $HVD_VERSION ($MODE, $MPI) against torch $TORCH_VERSION" \
         "(python $PY_VERSION); the wheel is cached in $CACHE" >&2
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT

    # cmake >= 3.13 is needed (setup.py checks); take pip's cmake when the system has none.
    if ! command -v cmake >/dev/null 2>&1; then
        "$PY" -m pip install --quiet cmake
    fi
    export PATH="$BIN:$PATH"
    "$PY" -m pip install --quiet packaging setuptools wheel

    "$PY" -m pip download --quiet --no-binary :all: --no-deps "horovod==$HVD_VERSION" -d "$work"
    tar -xzf "$work/horovod-$HVD_VERSION.tar.gz" -C "$work"
    src=$work/horovod-$HVD_VERSION

    torch_std=17
    if grep -q "C++20 or later" "$("$PY" -c 'import torch, os; print(os.path.dirname(torch.__file__))')/include/torch/csrc/api/include/torch/all.h" 2>/dev/null; then
        torch_std=20
    fi
    # Patch with Python so that a changed sdist fails loudly instead of building the wrong thing.
    "$PY" - "$src" "$torch_std" "$MODE" <<'EOF'
import pathlib, sys
src, torch_std, mode = pathlib.Path(sys.argv[1]), sys.argv[2], sys.argv[3]
patches = [
    ("CMakeLists.txt", "set(CMAKE_CXX_STANDARD 14)", "set(CMAKE_CXX_STANDARD 17)"),
    ("horovod/torch/CMakeLists.txt", "set(CMAKE_CXX_STANDARD 14)", f"set(CMAKE_CXX_STANDARD {torch_std})"),
]
if mode == "cpu":
    patches.append(("cmake/Modules/FindPytorch.cmake", 'string(TOUPPER "${Pytorch_CUDA}" Pytorch_CUDA)',
                    'string(TOUPPER "${Pytorch_CUDA}" Pytorch_CUDA)\n'
                    'set(Pytorch_CUDA FALSE)  # cycleaug: CPU-only (Gloo) build even with a CUDA torch'))
else:
    patches.append(("horovod/common/ops/cuda/CMakeLists.txt", "set(CMAKE_CUDA_STANDARD 11)",
                    "set(CMAKE_CUDA_STANDARD 17)"))
for name, old, new in patches:
    path = src / name
    text = path.read_text()
    if text.count(old) != 1:
        sys.exit(f"install_horovod.sh: {path}: expected exactly one '{old}'")
    path.write_text(text.replace(old, new))
    print(f"patched {name}")
EOF

    export HOROVOD_WITH_PYTORCH=1 HOROVOD_WITH_GLOO=1 HOROVOD_WITHOUT_TENSORFLOW=1 HOROVOD_WITHOUT_MXNET=1
    if [ "$MODE" = cpu ]; then
        # No GPU operations. CPU operations unset: horovod then uses MPI's under mpirun and Gloo's under
        # horovodrun --gloo / cycleaug.launch (HOROVOD_CPU_OPERATIONS=GLOO would make an mpirun job build
        # a Gloo context over MPI instead of the paper's MPI allreduce).
        unset HOROVOD_GPU HOROVOD_GPU_OPERATIONS HOROVOD_GPU_ALLREDUCE HOROVOD_GPU_ALLGATHER \
              HOROVOD_GPU_BROADCAST HOROVOD_GPU_ALLTOALL HOROVOD_GPU_REDUCESCATTER HOROVOD_CUDA_HOME \
              HOROVOD_CPU_OPERATIONS
    else
        # NCCL for GPU tensors, MPI (mpirun, as on ABCI) unless HOROVOD_WITHOUT_MPI=1 is given.
        # NCCL: the one torch's wheel brings along (nvidia-nccl), so that one process does not load two
        # different NCCLs; a site nccl module's $NCCL_HOME is ignored on purpose (HOROVOD_NCCL_HOME
        # overrides it, at your own risk). HOROVOD_BUILD_CUDA_CC_LIST (e.g. 90 for
        # H100/H200) limits the CUDA kernels to the GPUs in use and shortens the build.
        export HOROVOD_GPU_OPERATIONS=NCCL
        # One CUDA toolkit for all three finders (horovod's nvcc, CMake's CUDAToolkit, torch's
        # cpp_extension, which otherwise guesses from the nvcc on PATH).
        cuda=${HOROVOD_CUDA_HOME:-${CUDA_HOME:-}}
        if [ -n "$cuda" ]; then
            export HOROVOD_CUDA_HOME=$cuda CUDA_HOME=$cuda CUDAToolkit_ROOT=${CUDAToolkit_ROOT:-$cuda}
        fi
        if [ -z "${HOROVOD_NCCL_HOME:-}${HOROVOD_NCCL_INCLUDE:-}" ]; then
            nccl=$("$PY" -c 'import nvidia.nccl, os; print(os.path.dirname(nvidia.nccl.__file__) if nvidia.nccl.__file__ else list(nvidia.nccl.__path__)[0])')
            export HOROVOD_NCCL_INCLUDE=$nccl/include HOROVOD_NCCL_LIB=$nccl/lib HOROVOD_NCCL_LINK=SHARED
            [ -e "$nccl/lib/libnccl.so" ] || ln -s libnccl.so.2 "$nccl/lib/libnccl.so"
        fi
    fi
    if [ "$MPI" = mpi ]; then export HOROVOD_WITH_MPI=1; else export HOROVOD_WITHOUT_MPI=1; fi
    # gloo's third-party CMakeLists ask for an old cmake_minimum_required that cmake >= 4 refuses.
    export CMAKE_POLICY_VERSION_MINIMUM=3.5
    # setup.py runs `make -j8` unless MAKEFLAGS is set; use the cores we have.
    export MAKEFLAGS="-j$(nproc)"

    # --no-build-isolation: compile against the venv's torch, not a fresh one from PyPI.
    "$PY" -m pip wheel --no-build-isolation --no-deps -w "$work/wheelhouse" "$src"
    built=$(ls "$work"/wheelhouse/horovod-"$HVD_VERSION"-*.whl)
    mkdir -p "$CACHE"
    # Copy then rename: a killed build never leaves a half-written wheel in the cache.
    cp "$built" "$CACHE/.partial.whl"
    wheel=$CACHE/$(basename "$built")
    mv "$CACHE/.partial.whl" "$wheel"
fi

if [ "${CYCLEAUG_HOROVOD_NO_INSTALL:-0}" = 1 ]; then
    echo "install_horovod.sh: built $wheel (not installed)" >&2
    exit 0
fi
echo "install_horovod.sh: installing $wheel" >&2
"$PY" -m pip install --quiet --force-reinstall --no-deps "$wheel"
# Its dependencies (cloudpickle, cffi, psutil, pyyaml, packaging) from PyPI; torch is left as it is.
"$PY" -m pip install --quiet "$wheel"
verify
