#!/usr/bin/env bash
# Trains the bAbI runs of experiments/babi/README.md.
# Usage: experiments/babi/run.sh RUNS_ROOT QUEUE [SEEDS]
#   QUEUE: memn2n_joint   MemN2N 3 hops PE LS RN, joint 1k (configs/memn2n_babi.py:tasks=0)
#          kvmemnn_joint  KV-MemNN BoW, joint 1k (configs/kvmemnn_babi.py:tasks=0)
#          memnn_joint    strongly supervised MemNN, joint 1k (configs/memnn_babi.py:tasks=0)
#          memn2n_single  MemN2N, one model per task, 1k (tasks 1..20)
#          memnn_single   MemNN, one model per task, 1k (tasks 1..20)
#   SEEDS: default "0 1 2 3 4 5 6 7 8 9" for joint, "0" for single.
# Each run resumes from its checkpoints when re-launched; a finished run
# (eval/test.json present) is skipped.
set -uo pipefail
cd "$(dirname "$0")/../.."
root=${1:?RUNS_ROOT}
queue=${2:?QUEUE}
py=${PYTHON:-.venv/bin/python}
run() {  # name config_arg seed
  local name=$1 arg=$2 seed=$3 dir="$root/$1/seed$3"
  local config=${name%_joint}; config=${config%_qa*}
  if [[ -f "$dir/eval/test.json" ]]; then return; fi
  mkdir -p "$dir"
  echo "$(date -u +%FT%TZ) start $name seed $seed" >> "$root/queue.log"
  "$py" -m memax.main --config="configs/${config}_babi.py:$arg" \
      --workdir="$dir" --config.seed="$seed" >> "$dir/train.log" 2>&1
  echo "$(date -u +%FT%TZ) end $name seed $seed rc=$?" >> "$root/queue.log"
}
case $queue in
  memn2n_joint|kvmemnn_joint|memnn_joint)
    for s in ${3:-0 1 2 3 4 5 6 7 8 9}; do run "$queue" tasks=0 "$s"; done ;;
  memn2n_single|memnn_single)
    model=${queue%_single}
    for s in ${3:-0}; do
      for t in $(seq 1 20); do run "${model}_qa$t" "tasks=$t" "$s"; done
    done ;;
  *) echo "unknown queue $queue" >&2; exit 2 ;;
esac
