#!/usr/bin/env bash
# Trains a variant of a bAbI config (extra --config overrides) for README.md.
# Usage: experiments/babi/run_variant.sh RUNS_ROOT MODEL NAME "OVERRIDES" joint|single [SEEDS]
#   MODEL: memn2n | kvmemnn | memnn (configs/<MODEL>_babi.py)
#   NAME:  results go to RUNS_ROOT/<NAME>_joint/seed<s> or <NAME>_qa<t>/seed<s>
#   e.g.   run_variant.sh runs memn2n memn2n_lr5 "--config.optimizer.learning_rate=0.025" joint "0 1 2"
# Resumes from checkpoints; finished runs (eval/test.json) are skipped.
set -uo pipefail
cd "$(dirname "$0")/../.."
root=${1:?RUNS_ROOT}; model=${2:?MODEL}; name=${3:?NAME}; overrides=${4?OVERRIDES}
mode=${5:?joint|single}; seeds=${6:-0}
py=${PYTHON:-.venv/bin/python}
run() {  # dir config_arg seed
  local dir=$1 arg=$2 seed=$3
  if [[ -f "$dir/eval/test.json" ]]; then return; fi
  mkdir -p "$dir"
  echo "$(date -u +%FT%TZ) start $dir" >> "$root/queue.log"
  # shellcheck disable=SC2086
  "$py" -m memax.main --config="configs/${model}_babi.py:$arg" --workdir="$dir" \
      --config.seed="$seed" $overrides >> "$dir/train.log" 2>&1
  echo "$(date -u +%FT%TZ) end $dir rc=$?" >> "$root/queue.log"
}
for s in $seeds; do
  if [[ $mode == joint ]]; then
    run "$root/${name}_joint/seed$s" tasks=0 "$s"
  else
    for t in $(seq 1 20); do run "$root/${name}_qa$t/seed$s" "tasks=$t" "$s"; done
  fi
done
