#!/usr/bin/env bash
# One short GPU check (<= 7 minutes): the device checks of every GPU job (no CPU fall-back, ranks that
# agree, NCCL), then the CycleGAN training-step benchmark on CUDA, baseline (fp32,
# NCHW, per-parameter Adam, PIL decoding every iteration) against what `cyclegan.fast: auto` chooses on
# this GPU (its search runs first and is reported), each switch alone, fp16 with a grad scaler, all
# interleaved in 3 whole runs; and torch.compile in a second, separately time-limited pass. Needs only python3
# with torch, numpy and Pillow (no install: PYTHONPATH=workflow).
#
#   OUT=/some/dir bash bench/gpu_check.sh                  # on the GPU machine, from the repo root
#   OUT=/tmp/x bash bench/gpu_check.sh --device cpu --quick # smoke test here
# Results: $OUT/cyclegan_step_cuda.json (+ _compile.json), $OUT/env.txt, $OUT/device_checks.log, $OUT/*.log.
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-bench/results}
mkdir -p "$OUT"
# python3 with torch (the GPU machine's), else this checkout's venv; PYTHON=... overrides.
if [ -z "${PYTHON:-}" ]; then
  PYTHON=python3
  if ! python3 -c "import torch" 2>/dev/null && [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; fi
fi
PY=$PYTHON
DEVICE=cuda
QUICK=()
while [ $# -gt 0 ]; do
  case "$1" in
    --device) DEVICE=$2; shift 2 ;;
    --quick) QUICK=(--quick); shift ;;
    *) echo "gpu_check.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
export PYTHONPATH="$PWD/workflow${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
{
  date; uname -a; command -v nvidia-smi >/dev/null && nvidia-smi
  "$PY" -c "import torch, numpy, PIL; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'available', torch.cuda.is_available()); print('numpy', numpy.__version__, 'PIL', PIL.__version__)"
} > "$OUT/env.txt" 2>&1
cat "$OUT/env.txt"
if [ "$DEVICE" = cuda ]; then
  # The device path of every GPU job (<= 1 minute): --device cuda resolves; with the GPUs hidden it stops
  # with one line; two ranks (when the node has 2 GPUs) agree through the store and allreduce over NCCL.
  {
    "$PY" -c "from cycleaug.runtime import resolve_device; print('resolve_device(cuda):', resolve_device('cuda'))"
    CUDA_VISIBLE_DEVICES= "$PY" -c "
from cycleaug.errors import CycleAugError
from cycleaug.runtime import resolve_device
try:
    print('FAIL: resolved', resolve_device('cuda', 0, 0), 'with every GPU hidden')
except CycleAugError as exc:
    print('hidden GPUs, as expected:', exc)"
    # channels_last through the norms (issue: group_norm may hand back NCHW on CUDA, undoing the layout).
    "$PY" -c "
import torch
from cycleaug.cyclegan.model import ChannelGroupNorm
x = torch.randn(1, 64, 64, 64, device='cuda').contiguous(memory_format=torch.channels_last)
for name, f in (('group_norm', ChannelGroupNorm()), ('instance_norm', torch.nn.InstanceNorm2d(64))):
    y = f(x)
    print(name, 'keeps channels_last:', y.is_contiguous(memory_format=torch.channels_last))"
    if [ "$("$PY" -c 'import torch; print(torch.cuda.device_count())')" -ge 2 ]; then
      "$PY" -c "from cycleaug.doctor import allreduce; print(allreduce('torch', 'cuda', timeout=120).line())"
    fi
  } > "$OUT/device_checks.log" 2>&1
  cat "$OUT/device_checks.log"
fi
NAME=cyclegan_step_$DEVICE
# Main pass: the auto choice and every switch alone, 3 runs x (3 warm-up + 20 timed steps), interleaved.
timeout 210 "$PY" bench/cyclegan_step.py --device "$DEVICE" --ablation --warmup 3 --iters 20 --runs 3 \
  --variants auto --name "$NAME" --out-dir "$OUT" "${QUICK[@]}" 2>&1 | tee "$OUT/$NAME.log"
rc1=${PIPESTATUS[0]}
rc2=0
if [ "$DEVICE" = cuda ]; then
  # torch.compile costs minutes of compilation: its own pass, so a timeout cannot lose the main result.
  timeout 120 "$PY" bench/cyclegan_step.py --device cuda --warmup 3 --iters 20 --runs 3 --loss-steps 2 \
    --variants auto,auto+compile --name "${NAME}_compile" --out-dir "$OUT" 2>&1 | tee "$OUT/${NAME}_compile.log"
  rc2=${PIPESTATUS[0]}
fi
echo "gpu_check: main pass exit $rc1, compile pass exit $rc2; results in $OUT"
exit "$rc1"
