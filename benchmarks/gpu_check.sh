#!/bin/bash
# The GPU checks of memax in one call of the device tool (about 8 minutes
# on one GPU, written for its 10-minute limit): the JAX devices, a DNC
# training smoke test (runlocal: a few steps, checkpoint, final evaluation),
# the NTM beside an LSTM on copy (benchmarks/run.py, the ratio the project
# targets at <= 2x), the DNC train step beside an LSTM (benchmarks/dnc.py
# --part=step), and last, where time is left, DNC1's word-level bAbI step
# (--part=babi on en, for the hours a full reproduction would take).
#
# Each part writes <part>.log under $OUT (the device tool's folder that
# comes back; /tmp/gpu_check elsewhere) and a line "rc=<code> <part>" in
# summary.txt; a part that fails or runs out of time does not stop the
# others. The JSON lines of the benchmarks are in their logs.
#
# The device image has jax, flax, optax, chex and orbax, not ml_collections
# or tensorboardX: carry them as wheels, and the bAbI archive for the last
# part. Once, in the repository root (both folders are git-ignored):
#
#   python3 -m pip download --no-deps --only-binary=:all: \
#       --python-version 3.12 --implementation cp \
#       --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 \
#       -d .whl ml_collections==1.1.0 tensorboardX==2.6.5
#   mkdir -p .data && cp ../shared/data/babi/tasks_1-20_v1-2.tar.gz .data/
#
# then run `bash benchmarks/gpu_check.sh` with carry [".whl", ".data"] and
# timeout_s 590. On a machine with memax installed it needs neither.
# PARTS="devices smoke" runs some parts only (their names below).

set -u
OUT=$(mkdir -p "${OUT:-/tmp/gpu_check}" && cd "${OUT:-/tmp/gpu_check}" && pwd)
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 1
PY=${PY:-python3}
if [ -d .whl ] && ls .whl/*.whl > /dev/null 2>&1; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
      --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site:$ROOT
else
  export PYTHONPATH=$ROOT
fi
export PYTHONUNBUFFERED=1
if [ -f .data/tasks_1-20_v1-2.tar.gz ]; then
  export MEMAX_BABI_DIR=$ROOT/.data/tasks_1-20_v1-2.tar.gz
fi
: > "$OUT/summary.txt"

PARTS=${PARTS:-devices smoke ntm_lstm dnc_step dnc1_babi}

part() {  # part NAME SECONDS COMMAND...: runs it if NAME is in $PARTS.
  local name=$1 limit=$2
  shift 2
  case " $PARTS " in *" $name "*) ;; *) return 0 ;; esac
  echo "== $name (at most $limit s): $*"
  local start=$SECONDS
  timeout "$limit" "$@" > "$OUT/$name.log" 2>&1
  local rc=$?
  echo "rc=$rc $name $((SECONDS - start))s" | tee -a "$OUT/summary.txt"
  tail -n 4 "$OUT/$name.log"
}

part devices 60 "$PY" -c 'import jax; print(jax.__version__, jax.devices())'
part smoke 150 "$PY" -m memax.main --config=configs/dnc_copy.py:runlocal \
    --workdir="$(mktemp -d)/smoke"
part ntm_lstm 120 "$PY" benchmarks/run.py --tasks=copy --batch_sizes=1,32 \
    --repeats=5
part dnc_step 120 "$PY" benchmarks/dnc.py --part=step --batch_sizes=1,16 \
    --repeats=5
if [ -n "${MEMAX_BABI_DIR:-}" ]; then
  # What is left of 560 s (the tool's 600 less the wheels and the copy).
  left=$((560 - SECONDS))
  [ "$left" -lt 30 ] && left=30
  part dnc1_babi "$left" "$PY" benchmarks/dnc.py --part=babi --babi_set=en \
      --batch_sizes=16 --repeats=3 --steps_per_call=5
fi
echo "== summary"
cat "$OUT/summary.txt"
